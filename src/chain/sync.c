/* Blocking helpers for simple programs: gun_get_sync and gun_put_sync wait on a condition
 * variable for the loop to answer. The waiter is shared by the calling thread and the
 * loop (two references), so a caller that times out can leave while the loop still
 * holds it. Both refuse to run on the loop thread, which would wait on itself. */
#include <string.h>

#include "chain.h"

typedef struct waiter {
    uv_mutex_t mu;
    uv_cond_t cv;
    int refs;
    int done;
    int status;  /* GUN_OK or an error code */
    int ismap;   /* 1: a map chain, 2: a chain below a map */
    char *json;  /* non-map: the value (NULL: not found) */
    gun__buf obj; /* map: {"key":value,...} in the node's key order; below a map: [...] */
    size_t nitems;
} waiter;

static waiter *waiter_new(int ismap)
{
    waiter *w = gun__calloc(1, sizeof *w);
    if (!w)
        return NULL;
    if (uv_mutex_init(&w->mu)) {
        gun__free(w);
        return NULL;
    }
    if (uv_cond_init(&w->cv)) {
        uv_mutex_destroy(&w->mu);
        gun__free(w);
        return NULL;
    }
    w->refs = 2; /* the caller and the loop */
    w->ismap = ismap;
    gun__buf_init(&w->obj);
    return w;
}

static void waiter_unref(waiter *w)
{
    uv_mutex_lock(&w->mu);
    int last = --w->refs == 0;
    uv_mutex_unlock(&w->mu);
    if (!last)
        return;
    uv_cond_destroy(&w->cv);
    uv_mutex_destroy(&w->mu);
    gun__free(w->json);
    gun__buf_free(&w->obj);
    gun__free(w);
}

/* Waits until done or timeout (ms; <= 0: no limit). Returns 1 when done. Lock held. */
static int waiter_wait(waiter *w, int timeout_ms)
{
    uint64_t end = timeout_ms > 0 ? gun__mono_ms() + (uint64_t)timeout_ms : 0;
    while (!w->done) {
        if (!end) {
            uv_cond_wait(&w->cv, &w->mu);
            continue;
        }
        uint64_t now = gun__mono_ms();
        if (now >= end)
            break;
        uv_cond_timedwait(&w->cv, &w->mu, (end - now) * 1000000ull);
    }
    return w->done;
}

static void finish(waiter *w, int status)
{
    w->status = status;
    w->done = 1;
    uv_cond_signal(&w->cv);
}

/* Loop thread: values of the once, then the end (status 1) or an error (< 0). */
static void get_hook(void *arg, const char *json, const char *key, int status)
{
    waiter *w = arg;
    uv_mutex_lock(&w->mu);
    if (status == 0 || (status == 1 && !w->ismap)) {
        if (w->ismap) {
            if (json && key) {
                gun__buf_addc(&w->obj, w->nitems++ ? ',' : w->ismap == 1 ? '{' : '[');
                if (w->ismap == 1) {
                    gun__json_write_str(&w->obj, key, strlen(key));
                    gun__buf_addc(&w->obj, ':');
                }
                gun__buf_adds(&w->obj, json);
            }
        } else if (json && !w->json) {
            w->json = gun__strndup(json, strlen(json));
            if (!w->json)
                w->obj.oom = 1;
        }
    }
    int final = status != 0;
    if (final && !w->done)
        finish(w, status < 0 ? status : w->obj.oom ? GUN_ENOMEM : GUN_OK);
    uv_mutex_unlock(&w->mu);
    if (final)
        waiter_unref(w);
}

int gun_get_sync(gun_chain *c, int timeout_ms, char **json_out)
{
    if (!c || !json_out || c->kind == GUN__CH_ROOT)
        return GUN_EINVAL;
    gun_t *g = c->g;
    if (gun__on_loop(g))
        return GUN_EDEADLK;
    waiter *w = waiter_new(c->kind == GUN__CH_MAP ? 1 : c->nmaps > 0 ? 2 : 0);
    if (!w)
        return GUN_ENOMEM;
    gun__op *op = gun__op_new(GUN__OP_ONCE, c);
    if (!op) {
        waiter_unref(w);
        waiter_unref(w);
        return GUN_ENOMEM;
    }
    op->hook = get_hook;
    op->hook_arg = w;
    op->gen = atomic_load(&c->off_gen);
    int rc = gun__post(g, op);
    if (rc != GUN_OK) {
        waiter_unref(w); /* the loop never saw it */
        waiter_unref(w);
        return rc;
    }
    uv_mutex_lock(&w->mu);
    if (!waiter_wait(w, timeout_ms)) {
        rc = GUN_ETIMEDOUT;
    } else if (w->status != GUN_OK) {
        rc = w->status;
    } else if (w->ismap) {
        if (!w->nitems) {
            rc = GUN_ENOTFOUND;
        } else {
            gun__buf_addc(&w->obj, w->ismap == 1 ? '}' : ']');
            rc = w->obj.oom ? GUN_ENOMEM : GUN_OK;
            if (rc == GUN_OK)
                *json_out = gun__buf_take(&w->obj);
        }
    } else if (!w->json) {
        rc = GUN_ENOTFOUND;
    } else {
        *json_out = w->json;
        w->json = NULL;
    }
    uv_mutex_unlock(&w->mu);
    waiter_unref(w);
    return rc;
}

static void put_ack(const gun_ack *ack, void *arg)
{
    waiter *w = arg;
    uv_mutex_lock(&w->mu);
    finish(w, ack->err);
    uv_mutex_unlock(&w->mu);
    waiter_unref(w);
}

int gun_put_sync(gun_chain *c, const char *json, int timeout_ms)
{
    gun__err e = {0};
    gun__putreq *p = NULL;
    if (!c || !json)
        return GUN_EINVAL;
    gun_t *g = c->g;
    if (gun__on_loop(g))
        return GUN_EDEADLK;
    int rc = gun__put_prepare(c, json, &p, &e);
    if (rc != GUN_OK)
        return rc;
    waiter *w = waiter_new(0);
    gun__op *op = w ? gun__op_new(GUN__OP_PUT, c) : NULL;
    if (!op) {
        if (w) {
            waiter_unref(w);
            waiter_unref(w);
        }
        gun__putreq_free(p);
        return GUN_ENOMEM;
    }
    op->put = p;
    op->ack_cb = put_ack;
    op->arg = w;
    rc = gun__post(g, op);
    if (rc != GUN_OK) {
        waiter_unref(w);
        waiter_unref(w);
        return rc;
    }
    uv_mutex_lock(&w->mu);
    rc = waiter_wait(w, timeout_ms) ? w->status : GUN_ETIMEDOUT;
    uv_mutex_unlock(&w->mu);
    waiter_unref(w);
    return rc;
}

/* Group commit: a store that wraps the real one.
 *
 * write() only queues the records in the open batch and in an overlay that every read
 * consults, so HAM and GETs see accepted writes at once. At the end of each loop turn the
 * open batch becomes one transaction of the inner store; with a store that allows it
 * (threaded), the transaction runs on a worker thread while the loop keeps serving, and the
 * next batch gathers meanwhile. When a batch is durable, on_durable reports its sequence
 * number: acks wait for that, never for less. */
#include <uv.h>

#include <stdlib.h>
#include <string.h>

#include "store.h"

typedef struct recvec recvec;

typedef struct rec {
    gun__store_rec r; /* views into mem: "soul\0key\0value", so mem is also its overlay key */
    uint64_t seq;     /* batch it belongs to */
    recvec *sv;       /* its soul's overlay list while it is the newest for its key, else NULL */
    size_t svi;       /* its index there: leaving the overlay costs no search */
    char mem[];
} rec;

struct recvec {
    rec **v;
    size_t n, cap;
};

/* A soul's overlay list; wb->souls borrows its key from soul[]. */
typedef struct soulvec {
    recvec v; /* first: a rec's sv points here */
    size_t soul_len;
    char soul[];
} soulvec;

struct gun__wb {
    gun__wb_cfg cfg;
    uv_loop_t *loop;
    gun__store *inner;
    gun__map *over;  /* "soul\0key" -> newest rec not yet durable; keys borrowed from
                        the recs (each record held a copy of its key here: a malloc and a
                        free per record written, docs/performance.md) */
    gun__map *souls; /* soul -> soulvec of the overlay's keys of that soul (keys borrowed) */
    recvec open, flight;
    gun__store_rec *wrecs; /* the in-flight batch as records for inner->write */
    size_t wrecs_cap;      /* kept between batches: a large free per batch cost a heap
                              consolidation each time (docs/performance.md) */
    uint64_t seq;          /* the open batch's number */
    uint64_t durable;      /* highest batch known durable */
    int busy;              /* a batch is in flight */
    int err;
    gun__err werr;
    uv_check_t check;
    uv_work_t work;
    int work_pending;   /* after_work_cb still to come */
    int done_inline;    /* drain already completed the in-flight batch */
    int work_finished;  /* set by the worker, under mu */
    uv_mutex_t mu;
    uv_cond_t cv;
    int check_closed;
    int closing;
    gun__buf key;
};

static int vec_push(recvec *v, rec *r)
{
    if (v->n == v->cap) {
        /* A soul's list usually holds a few keys; a batch, hundreds of records. */
        size_t ncap = v->cap ? v->cap * 2 : 8;
        rec **nv = gun__realloc(v->v, ncap * sizeof *nv);
        if (!nv)
            return GUN_ENOMEM;
        v->v = nv, v->cap = ncap;
    }
    v->v[v->n++] = r;
    return GUN_OK;
}

static const char *okey(gun__wb *wb, gun__str soul, gun__str key, size_t *len)
{
    gun__buf_reset(&wb->key);
    gun__buf_add(&wb->key, soul.p, soul.len);
    gun__buf_addc(&wb->key, 0);
    gun__buf_add(&wb->key, key.p, key.len);
    *len = wb->key.len;
    return wb->key.oom ? NULL : wb->key.p;
}

static rec *rec_new(const gun__store_rec *s, uint64_t seq)
{
    size_t tl = (s->val.t == GUN__V_STR || s->val.t == GUN__V_LINK) ? s->val.s.len : 0;
    rec *r = gun__malloc(sizeof *r + s->soul.len + s->key.len + tl + 3);
    if (!r)
        return NULL;
    char *p = r->mem;
    r->r = *s;
    r->seq = seq;
    r->sv = NULL;
    r->svi = 0;
    memcpy(p, s->soul.p, s->soul.len);
    p[s->soul.len] = 0;
    r->r.soul.p = p;
    p += s->soul.len + 1;
    if (s->key.len)
        memcpy(p, s->key.p, s->key.len);
    p[s->key.len] = 0;
    r->r.key.p = p;
    p += s->key.len + 1;
    if (tl)
        memcpy(p, s->val.s.p, tl);
    p[tl] = 0;
    r->r.val.s.p = (s->val.t == GUN__V_STR || s->val.t == GUN__V_LINK) ? p : NULL;
    return r;
}

/* Drops r from the overlay if it is still the newest for its key. */
static void overlay_forget(gun__wb *wb, rec *r)
{
    if (!gun__map_del_if(wb->over, r->mem, r->r.soul.len + 1 + r->r.key.len, r))
        return;
    recvec *sv = r->sv;
    if (!sv)
        return;
    rec *last = sv->v[--sv->n];
    sv->v[r->svi] = last;
    last->svi = r->svi;
    r->sv = NULL;
    if (!sv->n) {
        gun__map_del(wb->souls, r->r.soul.p, r->r.soul.len);
        gun__free(sv->v);
        gun__free((soulvec *)sv);
    }
}

/* ---- commit ---- */

static void commit_done(gun__wb *wb, int rc)
{
    recvec done = wb->flight;
    memset(&wb->flight, 0, sizeof wb->flight);
    wb->busy = 0;
    uint64_t seq = done.n ? done.v[0]->seq : 0;
    /* Durable or failed, these records leave the overlay: reads fall through to the inner
     * store, which has them (or, after a failure, still has what it had before). */
    for (size_t i = 0; i < done.n; i++) {
        overlay_forget(wb, done.v[i]);
        gun__free(done.v[i]);
    }
    gun__free(done.v);
    if (rc == GUN_OK && seq > wb->durable)
        wb->durable = seq;
    if (wb->cfg.on_durable && seq)
        wb->cfg.on_durable(wb->cfg.arg, seq, rc, rc ? wb->werr.msg : NULL);
}

static void work_cb(uv_work_t *w)
{
    gun__wb *wb = w->data;
    wb->err = wb->inner->ops->write(wb->inner->st, wb->wrecs, wb->flight.n, &wb->werr);
    uv_mutex_lock(&wb->mu);
    wb->work_finished = 1;
    uv_cond_signal(&wb->cv);
    uv_mutex_unlock(&wb->mu);
}

static void wb_destroy(gun__wb *wb)
{
    gun__free(wb->wrecs);
    uv_mutex_destroy(&wb->mu);
    uv_cond_destroy(&wb->cv);
    gun__free(wb);
}

static void start_commit(gun__wb *wb);

static void after_work_cb(uv_work_t *w, int status)
{
    gun__wb *wb = w->data;
    wb->work_pending = 0;
    if (wb->done_inline) {
        wb->done_inline = 0;
        if (wb->check_closed)
            wb_destroy(wb);
        return;
    }
    int rc = status ? GUN_EIO : wb->err;
    if (status)
        gun__fail(&wb->werr, GUN_EIO, "store: commit was cancelled");
    commit_done(wb, rc);
    if (wb->open.n && !wb->closing)
        start_commit(wb);
}

static void start_commit(gun__wb *wb)
{
    if (wb->busy || !wb->open.n)
        return;
    wb->flight = wb->open;
    memset(&wb->open, 0, sizeof wb->open);
    wb->seq++;
    wb->busy = 1;
    memset(&wb->werr, 0, sizeof wb->werr);
    if (wb->flight.n > wb->wrecs_cap) {
        gun__store_rec *nw = gun__realloc(wb->wrecs, wb->flight.n * sizeof *nw);
        if (nw) {
            wb->wrecs = nw;
            wb->wrecs_cap = wb->flight.n;
        }
    }
    if (wb->flight.n > wb->wrecs_cap) {
        gun__fail(&wb->werr, GUN_ENOMEM, "store: out of memory committing a batch");
        commit_done(wb, GUN_ENOMEM);
        return;
    }
    for (size_t i = 0; i < wb->flight.n; i++)
        wb->wrecs[i] = wb->flight.v[i]->r;
    wb->work_finished = 0;
    if (wb->cfg.threaded && !wb->closing &&
        uv_queue_work(wb->loop, &wb->work, work_cb, after_work_cb) == 0) {
        wb->work_pending = 1;
        return;
    }
    work_cb(&wb->work);
    commit_done(wb, wb->err);
}

static void check_cb(uv_check_t *h)
{
    gun__wb *wb = h->data;
    if (!wb->open.n) {
        uv_check_stop(h);
        return;
    }
    start_commit(wb);
}

/* ---- ops seen by the core and everyone else ---- */

static int wb_write(void *st, const gun__store_rec *recs, size_t n, gun__err *e)
{
    gun__wb *wb = st;
    if (wb->closing)
        return gun__fail(e, GUN_ECLOSED, "store: closing");
    for (size_t i = 0; i < n; i++) {
        if (!recs[i].soul.len || memchr(recs[i].soul.p, 0, recs[i].soul.len) ||
            (recs[i].key.len && memchr(recs[i].key.p, 0, recs[i].key.len)))
            return gun__fail(e, GUN_EINVAL, "store: soul or key with NUL, or empty soul");
    }
    /* Allocate everything first: all or nothing. */
    rec *few[16];
    rec **made = n <= 16 ? few : gun__malloc(n * sizeof *made);
    if (!made)
        return gun__fail(e, GUN_ENOMEM, "store: out of memory");
    size_t k = 0;
    for (; k < n; k++)
        if (!(made[k] = rec_new(&recs[k], wb->seq + 1)))
            break;
    if (k < n) {
        while (k)
            gun__free(made[--k]);
        if (made != few)
            gun__free(made);
        return gun__fail(e, GUN_ENOMEM, "store: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        rec *r = made[i];
        void *old = NULL;
        if (vec_push(&wb->open, r) ||
            gun__map_put(wb->over, r->mem, r->r.soul.len + 1 + r->r.key.len, r, &old)) {
            /* Out of memory half way: what is in the batch stays consistent (each record
             * is in it or not); report the failure. */
            for (size_t j = i + (wb->open.n && wb->open.v[wb->open.n - 1] == r ? 1 : 0); j < n;
                 j++)
                gun__free(made[j]);
            if (made != few)
                gun__free(made);
            return gun__fail(e, GUN_ENOMEM, "store: out of memory");
        }
        if (!old) {
            recvec *sv = gun__map_get(wb->souls, r->r.soul.p, r->r.soul.len);
            if (!sv) {
                soulvec *nv = gun__calloc(1, sizeof *nv + r->r.soul.len);
                if (nv) {
                    memcpy(nv->soul, r->r.soul.p, r->r.soul.len);
                    nv->soul_len = r->r.soul.len;
                    if (gun__map_put(wb->souls, nv->soul, nv->soul_len, &nv->v, NULL)) {
                        gun__free(nv);
                        nv = NULL;
                    }
                }
                sv = nv ? &nv->v : NULL;
            }
            if (sv && vec_push(sv, r) == GUN_OK) {
                r->sv = sv;
                r->svi = sv->n - 1;
            }
        } else {
            rec *o = old;
            if (o->sv) {
                o->sv->v[o->svi] = r;
                r->sv = o->sv;
                r->svi = o->svi;
                o->sv = NULL;
            }
        }
    }
    if (made != few)
        gun__free(made);
    if (!uv_is_active((uv_handle_t *)&wb->check))
        uv_check_start(&wb->check, check_cb);
    return GUN_OK;
}

static int wb_get_key(void *st, gun__str soul, gun__str key, gun__store_visit cb, void *arg)
{
    gun__wb *wb = st;
    size_t len;
    const char *k = okey(wb, soul, key, &len);
    rec *r = k ? gun__map_get(wb->over, k, len) : NULL;
    if (r) {
        cb(arg, r->r.soul, r->r.key, &r->r.val, r->r.state);
        return GUN_OK;
    }
    return wb->inner->ops->get_key(wb->inner->st, soul, key, cb, arg);
}

/* Merge-join of the overlay's keys of one soul with the inner scan, in scan order. */
typedef struct merge {
    rec **ov;
    size_t n, i;
    int reverse;
    gun__store_visit cb;
    void *arg;
    int stopped;
    size_t visited;
} merge;

static int scan_before(const merge *mg, gun__str a, gun__str b)
{
    int c = gun__utf16_cmp(a.p, a.len, b.p, b.len);
    return mg->reverse ? c > 0 : c < 0;
}

static int merge_visit(void *arg, gun__str soul, gun__str key, const gun__val *val, double state)
{
    merge *mg = arg;
    while (mg->i < mg->n && scan_before(mg, mg->ov[mg->i]->r.key, key)) {
        rec *r = mg->ov[mg->i++];
        mg->visited++;
        if (mg->cb(mg->arg, r->r.soul, r->r.key, &r->r.val, r->r.state))
            return mg->stopped = 1;
    }
    mg->visited++;
    if (mg->i < mg->n && gun__str_eq(mg->ov[mg->i]->r.key, key)) {
        rec *r = mg->ov[mg->i++];
        if (mg->cb(mg->arg, r->r.soul, r->r.key, &r->r.val, r->r.state))
            return mg->stopped = 1;
        return 0;
    }
    if (mg->cb(mg->arg, soul, key, val, state))
        return mg->stopped = 1;
    return 0;
}

static int cmp_rec(const void *a, const void *b)
{
    const rec *x = *(rec *const *)a, *y = *(rec *const *)b;
    return gun__utf16_cmp(x->r.key.p, x->r.key.len, y->r.key.p, y->r.key.len);
}

static int wb_get_node(void *st, gun__str soul, const gun__lex *lex, gun__store_visit cb,
                       void *arg)
{
    gun__wb *wb = st;
    recvec *sv = gun__map_get(wb->souls, soul.p, soul.len);
    if (!sv || !sv->n)
        return wb->inner->ops->get_node(wb->inner->st, soul, lex, cb, arg);
    merge mg;
    memset(&mg, 0, sizeof mg);
    mg.ov = gun__malloc(sv->n * sizeof *mg.ov);
    if (!mg.ov)
        return GUN_ENOMEM;
    for (size_t i = 0; i < sv->n; i++)
        if (gun__lex_match(lex, sv->v[i]->r.key))
            mg.ov[mg.n++] = sv->v[i];
    mg.reverse = lex && lex->reverse;
    qsort(mg.ov, mg.n, sizeof *mg.ov, cmp_rec);
    if (mg.reverse)
        for (size_t i = 0; i < mg.n / 2; i++) {
            rec *t = mg.ov[i];
            mg.ov[i] = mg.ov[mg.n - 1 - i];
            mg.ov[mg.n - 1 - i] = t;
        }
    mg.cb = cb;
    mg.arg = arg;
    int rc = wb->inner->ops->get_node(wb->inner->st, soul, lex, merge_visit, &mg);
    if (rc == GUN_ENOTFOUND)
        rc = GUN_OK;
    while (rc == GUN_OK && !mg.stopped && mg.i < mg.n) {
        rec *r = mg.ov[mg.i++];
        mg.visited++;
        if (cb(arg, r->r.soul, r->r.key, &r->r.val, r->r.state))
            break;
    }
    gun__free(mg.ov);
    if (rc == GUN_OK && !mg.visited)
        rc = GUN_ENOTFOUND;
    return rc;
}

typedef struct smerge {
    gun__str *ov;
    size_t n, i;
    int reverse;
    gun__soul_visit cb;
    void *arg;
    int stopped;
} smerge;

static int smerge_visit(void *arg, gun__str soul)
{
    smerge *sm = arg;
    for (;;) {
        if (sm->i >= sm->n)
            break;
        int c = gun__utf16_cmp(sm->ov[sm->i].p, sm->ov[sm->i].len, soul.p, soul.len);
        if (sm->reverse)
            c = -c;
        if (c > 0)
            break;
        gun__str s = sm->ov[sm->i++];
        if (c == 0)
            break; /* the inner store has it too: visit once, below */
        if (sm->cb(sm->arg, s))
            return sm->stopped = 1;
    }
    if (sm->cb(sm->arg, soul))
        return sm->stopped = 1;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    const gun__str *x = a, *y = b;
    return gun__utf16_cmp(x->p, x->len, y->p, y->len);
}

static int wb_souls(void *st, const gun__lex *lex, gun__soul_visit cb, void *arg)
{
    gun__wb *wb = st;
    size_t n = gun__map_count(wb->souls);
    if (!n)
        return wb->inner->ops->souls(wb->inner->st, lex, cb, arg);
    smerge sm;
    memset(&sm, 0, sizeof sm);
    sm.ov = gun__malloc(n * sizeof *sm.ov);
    if (!sm.ov)
        return GUN_ENOMEM;
    size_t it = 0;
    gun__map_ent *e;
    while ((e = gun__map_next(wb->souls, &it))) {
        gun__str s = {e->key, e->key_len};
        if (gun__lex_match(lex, s))
            sm.ov[sm.n++] = s;
    }
    qsort(sm.ov, sm.n, sizeof *sm.ov, cmp_str);
    sm.reverse = lex && lex->reverse;
    if (sm.reverse)
        for (size_t i = 0; i < sm.n / 2; i++) {
            gun__str t = sm.ov[i];
            sm.ov[i] = sm.ov[sm.n - 1 - i];
            sm.ov[sm.n - 1 - i] = t;
        }
    sm.cb = cb;
    sm.arg = arg;
    int rc = wb->inner->ops->souls(wb->inner->st, lex, smerge_visit, &sm);
    while (rc == GUN_OK && !sm.stopped && sm.i < sm.n)
        if (cb(arg, sm.ov[sm.i++]))
            break;
    gun__free(sm.ov);
    return rc;
}

static int wb_open(void **st, const gun__store_cfg *cfg, gun__err *e)
{
    (void)st, (void)cfg;
    return gun__fail(e, GUN_EINVAL, "store: the group-commit store is made by gun__wb_new");
}

static void wb_close(void *st) { (void)st; }

/* What the inner store holds: durable data only, the overlay is not counted. */
static void wb_stat(void *st, gun__store_stat *out)
{
    gun__wb *wb = st;
    out->souls = out->keys = out->bytes = -1;
    if (wb->inner->ops->stat)
        wb->inner->ops->stat(wb->inner->st, out);
}

static const gun__store_ops wb_ops = {
    GUN__STORE_OPS_VERSION, "group-commit", wb_open, wb_close, wb_get_key, wb_get_node,
    wb_souls, wb_write, wb_stat,
};

/* ---- public ---- */

int gun__wb_new(gun__wb **out, const gun__wb_cfg *cfg)
{
    if (!cfg || !cfg->loop || !cfg->inner)
        return GUN_EINVAL;
    gun__wb *wb = gun__calloc(1, sizeof *wb);
    if (!wb)
        return GUN_ENOMEM;
    wb->cfg = *cfg;
    wb->loop = cfg->loop;
    wb->inner = cfg->inner;
    wb->over = gun__map_new_borrowed();
    wb->souls = gun__map_new_borrowed();
    gun__buf_init(&wb->key);
    if (uv_mutex_init(&wb->mu)) {
        gun__map_free(wb->over, NULL);
        gun__map_free(wb->souls, NULL);
        gun__free(wb);
        return GUN_ENOMEM;
    }
    uv_cond_init(&wb->cv);
    if (!wb->over || !wb->souls) {
        gun__map_free(wb->over, NULL);
        gun__map_free(wb->souls, NULL);
        gun__free(wb);
        return GUN_ENOMEM;
    }
    wb->work.data = wb;
    uv_check_init(wb->loop, &wb->check);
    wb->check.data = wb;
    *out = wb;
    return GUN_OK;
}

void gun__wb_store(gun__wb *wb, gun__store *out)
{
    out->ops = &wb_ops;
    out->st = wb;
}

uint64_t gun__wb_ticket(const gun__wb *wb) { return wb->seq + 1; }

uint64_t gun__wb_durable(const gun__wb *wb) { return wb->durable; }

size_t gun__wb_pending(const gun__wb *wb) { return wb->open.n + wb->flight.n; }

uint64_t gun__wb_barrier(const gun__wb *wb)
{
    if (wb->open.n)
        return wb->seq + 1;
    if (wb->busy)
        return wb->seq;
    return 0;
}

int gun__wb_drain(gun__wb *wb)
{
    /* A batch in flight finishes on its worker; wait for it here (the loop cannot be run
     * from inside itself) and complete it now; after_work_cb will find it done. */
    if (wb->busy && wb->work_pending) {
        uv_mutex_lock(&wb->mu);
        while (!wb->work_finished)
            uv_cond_wait(&wb->cv, &wb->mu);
        uv_mutex_unlock(&wb->mu);
        wb->done_inline = 1;
        commit_done(wb, wb->err);
    }
    if (wb->open.n) {
        int threaded = wb->cfg.threaded;
        wb->cfg.threaded = 0; /* commit inline: we are closing */
        start_commit(wb);
        wb->cfg.threaded = threaded;
    }
    return GUN_OK;
}

static void check_closed(uv_handle_t *h)
{
    gun__wb *wb = h->data;
    wb->check_closed = 1;
    if (!wb->work_pending)
        wb_destroy(wb);
}

static void free_sv(void *v)
{
    recvec *sv = v;
    gun__free(sv->v);
    gun__free((soulvec *)sv);
}

void gun__wb_free(gun__wb *wb)
{
    if (!wb)
        return;
    wb->closing = 1;
    for (size_t i = 0; i < wb->open.n; i++)
        gun__free(wb->open.v[i]);
    gun__free(wb->open.v);
    gun__map_free(wb->over, NULL);
    gun__map_free(wb->souls, free_sv);
    gun__buf_free(&wb->key);
    uv_close((uv_handle_t *)&wb->check, check_closed);
}

/* The instance: options, the loop thread, the op queue that brings calls from other
 * threads onto the loop, the event queue that runs user callbacks, and gun_close.
 *
 * Every graph and listener structure is touched on the loop thread only. Calls made on
 * the loop thread run inline; calls from other threads are queued (qlock) and woken with
 * a uv_async_t. User callbacks are never called from inside an API call: they are queued
 * as events and delivered from the loop once the current work has returned, with no
 * library lock held. */
#include <stdio.h>
#include <string.h>

#include "chain.h"
#include "../relay/relay.h"

#define DISPATCH_BATCH 1024 /* events per loop turn before yielding to other handles */

void gun_opts_init(gun_opts *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->loop = NULL;
    o->state_drift_ms = 0;
    o->dedup_age_ms = 9000;
    o->dedup_max = 100000;
    o->max_frame_bytes = (size_t)8 << 20;
    o->max_json_depth = 64;
    o->once_wait_ms = 99;
    o->ack_timeout_ms = 9000;
    o->local_storage = 0;
    o->radisk = 0;
    o->storage_path = NULL;
    o->storage_nosync = 0;
    o->storage_max_bytes = 0;
    o->peers = NULL;
    o->npeers = 0;
    o->super_peer = 0;
    o->host = NULL;
    o->port = -1;
    o->tls_cert = NULL;
    o->tls_key = NULL;
    o->tls_insecure_peers = 0;
    o->max_queue_bytes = (size_t)4 << 20;
    o->max_connections = 10000;
    o->outbox_max_bytes = (size_t)16 << 20;
    o->max_connections_per_ip = 1000;
    o->max_node_keys = 50000;
    o->max_put_keys = 100000;
    o->max_subs_per_peer = 10000;
    o->max_subs = 1000000;
    o->msg_rate = 5000;
    o->msg_burst = 10000;
    o->max_get_reply_bytes = (size_t)1 << 20;
    o->message_predicate = NULL;
    o->predicate_arg = NULL;
    o->log = NULL;
    o->log_arg = NULL;
    o->log_level = GUN_LOG_WARN;
}

void gun__log(gun_t *g, gun_log_level lvl, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    if (!g->opts.log || lvl > g->opts.log_level)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    g->opts.log(lvl, msg, g->opts.log_arg);
}

int gun__on_loop(gun_t *g)
{
    uv_thread_t self = uv_thread_self();
    return uv_thread_equal(&self, &g->loop_tid);
}

/* ---- events ---- */

static void ev_free(gun__ev *ev)
{
    if (!ev)
        return;
    if (ev->l)
        gun__lis_unref(ev->l);
    gun__free(ev->json);
    gun__free(ev->key);
    gun__free(ev->err_text);
    gun__free(ev->ok_json);
    gun__free(ev->soul);
    gun__free(ev);
}

void gun__ev_push(gun_t *g, gun__ev *ev)
{
    ev->next = NULL;
    if (g->ev_tail)
        g->ev_tail->next = ev;
    else
        g->ev_head = ev;
    g->ev_tail = ev;
}

void gun__kick(gun_t *g)
{
    if (g->h && !g->stopping)
        uv_async_send(&g->h->async);
}

static char *dup0(const char *s) { return s ? gun__strndup(s, strlen(s)) : NULL; }

void gun__ack_event(gun_t *g, gun_ack_cb cb, void *arg, int err, const char *err_text,
                    const char *ok_json, const char *soul)
{
    if (!cb)
        return;
    gun__ev *ev = gun__calloc(1, sizeof *ev);
    if (!ev) {
        /* Out of memory: keep the promise of one call with the true result, even if it
         * has to run now. */
        gun_ack a = {err, err ? (err_text ? err_text : gun_strerror(err)) : NULL,
                     err ? NULL : "true", soul};
        cb(&a, arg);
        return;
    }
    ev->type = GUN__EV_ACK;
    ev->ack_cb = cb;
    ev->arg = arg;
    ev->err = err;
    /* Texts that cannot be copied fall back to the code's own text and "true" (deliver). */
    ev->err_text = dup0(err_text);
    ev->ok_json = dup0(ok_json);
    ev->soul = dup0(soul);
    gun__ev_push(g, ev);
    gun__kick(g);
}

static void deliver(gun_t *g, gun__ev *ev)
{
    switch (ev->type) {
    case GUN__EV_ACK: {
        gun_ack a;
        a.err = ev->err;
        a.err_text = ev->err ? (ev->err_text ? ev->err_text : gun_strerror(ev->err)) : NULL;
        a.ok_json = ev->err ? NULL : (ev->ok_json ? ev->ok_json : "true");
        a.soul = ev->soul;
        ev->ack_cb(&a, ev->arg);
        break;
    }
    case GUN__EV_DATA:
    case GUN__EV_FINAL:
        /* Internal receivers (sync waiters) still hear the end while closing. */
        if (!gun__lis_live(ev->l) || (g->stopping && !ev->l->hook))
            break;
        if (ev->l->hook)
            ev->l->hook(ev->l->hook_arg, ev->json, ev->key,
                        ev->type != GUN__EV_FINAL ? 0 : ev->l->oom ? GUN_ENOMEM : 1);
        else if (ev->type == GUN__EV_DATA)
            ev->l->cb(ev->json, ev->key, ev->l->arg);
        break;
    }
}

static void free_instance(gun_t *g);

/* Delivers queued events (bounded per turn). User code runs here, with no lock held. */
static void dispatch(gun_t *g)
{
    int n = 0;
    g->dispatching++;
    while (g->ev_head && (n < DISPATCH_BATCH || g->stopping)) {
        gun__ev *ev = g->ev_head;
        g->ev_head = ev->next;
        if (!g->ev_head)
            g->ev_tail = NULL;
        deliver(g, ev);
        ev_free(ev);
        n++;
    }
    g->dispatching--;
    if (g->dispatching)
        return;
    if (g->ev_head && !g->stopping)
        uv_async_send(&g->h->async);
    if (g->free_pending) {
        /* gun_close was called from a callback (caller's loop): finish it now. */
        while (g->ev_head) {
            gun__ev *ev = g->ev_head;
            g->ev_head = ev->next;
            deliver(g, ev);
            ev_free(ev);
        }
        g->ev_tail = NULL;
        free_instance(g);
    }
}

/* ---- ops ---- */

gun__op *gun__op_new(int type, gun_chain *c)
{
    gun__op *op = gun__calloc(1, sizeof *op);
    if (op) {
        op->type = type;
        op->c = c;
    }
    return op;
}

void gun__op_free(gun__op *op)
{
    if (!op)
        return;
    gun__putreq_free(op->put);
    gun__free(op->err_text);
    gun__free(op);
}

static void op_exec(gun_t *g, gun__op *op)
{
    switch (op->type) {
    case GUN__OP_PUT:
        gun__put_exec(g, op->put, op->ack_cb, op->arg);
        break;
    case GUN__OP_ACK:
        gun__ack_event(g, op->ack_cb, op->arg, op->err, op->err_text, NULL, NULL);
        break;
    case GUN__OP_ON:
    case GUN__OP_ONCE: {
        int rc = gun__lis_add(g, op->c, op->type == GUN__OP_ON ? GUN__LIS_ON : GUN__LIS_ONCE,
                              op->data_cb, op->arg, op->hook, op->hook_arg, op->gen);
        if (rc != GUN_OK) {
            gun__log(g, GUN_LOG_ERROR, "chain: listener on '%s' lost: %s", op->c->path,
                     gun_strerror(rc));
            if (op->hook) /* a blocked gun_get_sync must still wake up */
                op->hook(op->hook_arg, NULL, NULL, rc);
        }
        break;
    }
    case GUN__OP_OFF:
        gun__lis_off(g, op->c, op->gen);
        break;
    case GUN__OP_CALL:
        op->fn(g, op->arg);
        break;
    }
}

/* A queued op that will never run: its callback still gets its one call. */
static void op_cancel(gun_t *g, gun__op *op)
{
    switch (op->type) {
    case GUN__OP_PUT:
    case GUN__OP_ACK:
        gun__ack_event(g, op->ack_cb, op->arg, GUN_ECLOSED, gun_strerror(GUN_ECLOSED), NULL,
                       NULL);
        break;
    case GUN__OP_ON:
    case GUN__OP_ONCE:
        if (op->hook)
            op->hook(op->hook_arg, NULL, NULL, GUN_ECLOSED);
        break;
    case GUN__OP_CALL:
        if (op->fn)
            op->fn(NULL, op->arg);
        break;
    default:
        break;
    }
}

int gun__post(gun_t *g, gun__op *op)
{
    if (gun__on_loop(g)) {
        if (g->stopping) {
            gun__op_free(op);
            return GUN_ECLOSED;
        }
        op_exec(g, op);
        gun__op_free(op);
        gun__kick(g);
        return GUN_OK;
    }
    uv_mutex_lock(&g->qlock);
    if (g->closing) {
        uv_mutex_unlock(&g->qlock);
        gun__op_free(op);
        return GUN_ECLOSED;
    }
    op->next = NULL;
    if (g->q_tail)
        g->q_tail->next = op;
    else
        g->q_head = op;
    g->q_tail = op;
    /* Under qlock: teardown sets `closing` under it before closing the handle. */
    uv_async_send(&g->h->async);
    uv_mutex_unlock(&g->qlock);
    return GUN_OK;
}

static void teardown(gun_t *g);

static void on_async(uv_async_t *a)
{
    gun_t *g = a->data;
    if (!g)
        return;
    uv_mutex_lock(&g->qlock);
    gun__op *ops = g->q_head;
    int closing = g->closing;
    g->q_head = g->q_tail = NULL;
    uv_mutex_unlock(&g->qlock);
    while (ops) {
        gun__op *next = ops->next;
        if (g->stopping)
            op_cancel(g, ops);
        else
            op_exec(g, ops);
        gun__op_free(ops);
        ops = next;
    }
    if (g->nchanges || g->changes_oom)
        gun__notify(g); /* changes merged by someone else than gun__commit */
    if (closing && g->own && !g->stopping)
        teardown(g);
    dispatch(g);
}

/* ---- the core ---- */

static void on_change(void *arg, gun__str soul, gun__str key, const gun__val *val,
                      double state)
{
    gun_t *g = arg;
    if (g->mesh)
        gun__mesh_changed(g->mesh, soul, key, val, state);
    /* Only changes to watched souls reach listeners (gun__notify looks them up in watch);
     * a relay has no listeners and keeps no copies. */
    if (!gun__map_count(g->watch) || !gun__map_get(g->watch, soul.p, soul.len))
        return;
    if (g->nchanges == g->capchanges) {
        size_t ncap = g->capchanges ? g->capchanges * 2 : 16;
        gun__change *nc = gun__realloc(g->changes, ncap * sizeof *nc);
        if (!nc) {
            g->changes_oom = 1;
            return;
        }
        g->changes = nc;
        g->capchanges = ncap;
    }
    gun__change *c = &g->changes[g->nchanges];
    c->soul = gun__strndup(soul.p, soul.len);
    c->key = gun__strndup(key.p, key.len);
    if (!c->soul || !c->key) {
        gun__free(c->soul);
        gun__free(c->key);
        g->changes_oom = 1;
        return;
    }
    c->soul_len = soul.len;
    c->key_len = key.len;
    g->nchanges++;
}

double gun__state_tick(gun_t *g)
{
    uv_mutex_lock(&g->core_lock);
    double s = gun__clock_now(gun__core_clock(g->core));
    uv_mutex_unlock(&g->core_lock);
    return s;
}

double gun_state(gun_t *g)
{
    if (!g)
        return 0;
    return gun__state_tick(g);
}

static void on_due(uv_timer_t *t);

/* Arms the timer for the earliest future-state key (core lock held). */
static void arm_due(gun_t *g)
{
    int64_t due = gun__core_next_due(g->core);
    if (g->stopping || !g->h)
        return;
    if (due < 0)
        uv_timer_stop(&g->h->due);
    else
        uv_timer_start(&g->h->due, on_due, (uint64_t)(due > 2147483647 ? 2147483647 : due), 0);
}

static void on_due(uv_timer_t *t)
{
    gun_t *g = t->data;
    if (!g || g->stopping)
        return;
    int err = GUN_OK;
    uv_mutex_lock(&g->core_lock);
    gun__core_run_due(g->core, &err);
    if (err != GUN_OK) {
        /* The keys stay queued: try again later rather than spin. */
        gun__log(g, GUN_LOG_ERROR, "chain: deferred keys not merged: %s", gun_strerror(err));
        uv_timer_start(&g->h->due, on_due, 1000, 0);
    } else {
        arm_due(g);
    }
    uv_mutex_unlock(&g->core_lock);
    gun__notify(g);
    dispatch(g);
}

int gun__commit(gun_t *g, const gun__json *put, gun__err *e)
{
    gun__graph graph;
    int rc = gun__graph_from_put(put, &graph, e);
    if (rc != GUN_OK)
        return rc;
    uv_mutex_lock(&g->core_lock);
    rc = gun__core_put(g->core, &graph, NULL);
    arm_due(g);
    uv_mutex_unlock(&g->core_lock);
    gun__graph_free(&graph);
    if (rc != GUN_OK)
        gun__fail(e, rc, "store: write failed: %s", gun_strerror(rc));
    gun__notify(g);
    return rc;
}

/* ---- durability ---- */

typedef struct gun__lack {
    struct gun__lack *next;
    uint64_t seq;
    gun_ack_cb cb;
    void *arg;
    char *soul;
} gun__lack;

void gun__ack_durable(gun_t *g, gun_ack_cb cb, void *arg, const char *soul)
{
    uint64_t seq = g->wb ? gun__wb_barrier(g->wb) : 0;
    gun__lack *a = (seq && cb) ? gun__calloc(1, sizeof *a) : NULL;
    if (!a) {
        /* Nothing pending (or no memory to wait): the write is as durable as it gets. */
        if (seq && cb && gun__wb_drain(g->wb) != GUN_OK) {
            gun__ack_event(g, cb, arg, GUN_EIO, "store: commit failed", NULL, soul);
            return;
        }
        gun__ack_event(g, cb, arg, GUN_OK, NULL, "true", soul);
        return;
    }
    a->seq = seq;
    a->cb = cb;
    a->arg = arg;
    a->soul = soul ? gun__strndup(soul, strlen(soul)) : NULL;
    if (g->lacks_tail)
        g->lacks_tail->next = a;
    else
        g->lacks_head = a;
    g->lacks_tail = a;
}

static void on_durable(void *arg, uint64_t seq, int err, const char *err_text)
{
    gun_t *g = arg;
    g->store_failing = err != GUN_OK;
    if (err) {
        g->store_errors++;
        gun__log(g, GUN_LOG_ERROR, "store: commit failed: %s", err_text ? err_text : "");
    }
    if (g->mesh)
        gun__mesh_durable(g->mesh, seq, err, err_text);
    while (g->lacks_head && g->lacks_head->seq <= seq) {
        gun__lack *a = g->lacks_head;
        g->lacks_head = a->next;
        if (!g->lacks_head)
            g->lacks_tail = NULL;
        if (err)
            gun__ack_event(g, a->cb, a->arg, err, err_text ? err_text : gun_strerror(err), NULL,
                           a->soul);
        else
            gun__ack_event(g, a->cb, a->arg, GUN_OK, NULL, "true", a->soul);
        gun__free(a->soul);
        gun__free(a);
    }
}

/* ---- peers ---- */

/* The mesh merges through here: the core lock guards the clock gun_state reads. */
static int mesh_merge(void *arg, const gun__graph *graph, gun__merge_res *res)
{
    gun_t *g = arg;
    uv_mutex_lock(&g->core_lock);
    int rc = gun__core_put(g->core, graph, res);
    arm_due(g);
    uv_mutex_unlock(&g->core_lock);
    if (g->nchanges || g->changes_oom)
        gun__kick(g); /* listeners hear about it from on_async, outside the mesh's stack */
    return rc;
}

static void net_get_done(void *arg, const gun__mesh_reply *r)
{
    gun_t *g = arg;
    if (r->done && g->net_pending)
        g->net_pending--;
}

void gun__net_ask(gun_t *g, const char *soul, size_t len)
{
    if (!g->mesh || g->stopping)
        return;
    /* Once per soul: the mesh keeps the subscription and asks again on every reconnect;
     * listeners coming and going must not ask (and make once wait) again and again. */
    if (!g->asked && !(g->asked = gun__map_new()))
        return;
    if (gun__map_get(g->asked, soul, len) || gun__map_put(g->asked, soul, len, (void *)1, NULL))
        return;
    if (gun__mesh_get(g->mesh, (gun__str){soul, len}, NULL, net_get_done, g) == GUN_OK)
        g->net_pending++;
    /* net_get_done may already have run (no peer connected): it balanced the count. */
}

static int open_mesh(gun_t *g, const gun_opts *o)
{
    gun__mesh_cfg mc;
    gun__err e = {0};
    memset(&mc, 0, sizeof mc);
    mc.loop = g->loop;
    mc.core = g->core;
    mc.store = &g->store;
    mc.super_peer = o->super_peer;
    mc.host = o->host;
    mc.port = o->port;
    mc.tls_cert = o->tls_cert;
    mc.tls_key = o->tls_key;
    mc.tls_insecure_client = o->tls_insecure_peers;
    mc.peers = o->peers;
    mc.npeers = o->npeers;
    mc.lim = g->lim;
    mc.max_queue = o->max_queue_bytes;
    mc.max_conns = o->max_connections;
    mc.dedup_age_ms = o->dedup_age_ms;
    mc.dedup_max = o->dedup_max;
    mc.ack_timeout_ms = o->ack_timeout_ms;
    mc.outbox_max = o->outbox_max_bytes;
    mc.max_conns_per_ip = o->max_connections_per_ip;
    mc.max_node_keys = o->max_node_keys;
    mc.max_put_keys = o->max_put_keys;
    mc.max_subs_per_peer = o->max_subs_per_peer;
    mc.max_subs = o->max_subs;
    mc.msg_rate = o->msg_rate;
    mc.msg_burst = o->msg_burst;
    mc.max_get_reply = o->max_get_reply_bytes;
    mc.merge = mesh_merge;
    mc.merge_arg = g;
    mc.wb = g->wb;
    if (o->super_peer) {
        mc.http = gun__relay_http;
        mc.http_arg = g;
    }
    mc.predicate = o->message_predicate;
    mc.predicate_arg = o->predicate_arg;
    mc.log = o->log;
    mc.log_arg = o->log_arg;
    mc.log_level = o->log_level;
    mc.ws_remains = &g->ws_remains;
    int rc = gun__mesh_new(&g->mesh, &mc, &e);
    if (rc != GUN_OK)
        gun__log(g, GUN_LOG_ERROR, "%s", e.msg);
    return rc;
}

int gun_port(gun_t *g) { return g && g->mesh ? gun__mesh_port(g->mesh) : -1; }

size_t gun_peer_count(gun_t *g) { return g && g->mesh ? gun__mesh_peer_count(g->mesh) : 0; }

int gun_is_connected(gun_t *g) { return gun_peer_count(g) > 0; }

int gun_wait_connected(gun_t *g, int timeout_ms)
{
    if (!g)
        return GUN_EINVAL;
    if (gun__on_loop(g))
        return GUN_EDEADLK;
    uint64_t end = gun__mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        if (gun_peer_count(g) > 0)
            return GUN_OK;
        if (gun__mono_ms() >= end)
            return GUN_ETIMEDOUT;
        uv_sleep(5);
    }
}

/* ---- open / close ---- */

static void loop_main(void *arg)
{
    gun_t *g = arg;
    g->loop_tid = uv_thread_self();
    uv_sem_post(&g->started);
    uv_run(g->loop, UV_RUN_DEFAULT);
}

static void on_handle_closed(uv_handle_t *h)
{
    /* data points at the gun__uvh block for both handles (set at teardown). */
    gun__uvh *blk = (gun__uvh *)uv_handle_get_data(h);
    if (blk && --blk->open == 0)
        gun__free(blk);
}

static void free_instance(gun_t *g)
{
    while (g->ev_head) {
        gun__ev *ev = g->ev_head;
        g->ev_head = ev->next;
        ev_free(ev);
    }
    gun__lis_close_all(g);
    if (g->core)
        gun__core_free(g->core);
    gun__store_close(&g->inner);
    for (size_t i = 0; i < g->nchanges; i++) {
        gun__free(g->changes[i].soul);
        gun__free(g->changes[i].key);
    }
    gun__free(g->changes);
    gun__chains_free(g);
    gun__user_free(g->user);
    if (g->watch)
        gun__map_free(g->watch, NULL);
    gun__map_free(g->asked, NULL);
    uv_mutex_destroy(&g->qlock);
    uv_mutex_destroy(&g->chain_lock);
    uv_mutex_destroy(&g->core_lock);
    gun__free(g);
}

/* Loop thread: refuse new work, cancel queued work, stop listeners, close handles. */
static void teardown(gun_t *g)
{
    uv_mutex_lock(&g->qlock);
    g->closing = 1;
    gun__op *ops = g->q_head;
    g->q_head = g->q_tail = NULL;
    uv_mutex_unlock(&g->qlock);
    /* Writes accepted before gun_close are committed and acked (like a flush); queued
     * listeners and reads are cancelled. */
    while (ops) {
        gun__op *next = ops->next;
        if (ops->type == GUN__OP_PUT || ops->type == GUN__OP_ACK)
            op_exec(g, ops);
        else
            op_cancel(g, ops);
        gun__op_free(ops);
        ops = next;
    }
    /* Everything accepted is committed before peers and callers hear we are closing. */
    if (g->wb)
        gun__wb_drain(g->wb);
    if (g->mesh) {
        /* Pending put callbacks get GUN_ECLOSED; the loop closes the sockets' handles. */
        gun__mesh_free(g->mesh);
        g->mesh = NULL;
    }
    if (g->wb) {
        gun__wb_free(g->wb);
        g->wb = NULL;
    }
    g->stopping = 1;
    gun__lis_close_all(g);
    if (g->h) {
        gun__uvh *h = g->h;
        uv_handle_set_data((uv_handle_t *)&h->async, h);
        uv_handle_set_data((uv_handle_t *)&h->due, h);
        uv_close((uv_handle_t *)&h->async, on_handle_closed);
        uv_close((uv_handle_t *)&h->due, on_handle_closed);
        g->h = NULL;
    }
}

int gun_open(gun_t **out, const gun_opts *opts)
{
    gun_opts def;
    gun__err e = {0};
    int rc;
    if (!out)
        return GUN_EINVAL;
    if (!opts) {
        gun_opts_init(&def);
        opts = &def;
    }
    if (opts->max_frame_bytes == 0 || opts->max_json_depth == 0 ||
        opts->log_level < GUN_LOG_ERROR || opts->log_level > GUN_LOG_DEBUG ||
        opts->state_drift_ms != opts->state_drift_ms || (opts->npeers && !opts->peers))
        return GUN_EINVAL;

    gun_t *g = gun__calloc(1, sizeof *g);
    if (!g)
        return GUN_ENOMEM;
    g->opts = *opts;
    g->started_ms = gun__mono_ms();
    g->lim.max_bytes = opts->max_frame_bytes;
    g->lim.max_depth = opts->max_json_depth;
    if (uv_mutex_init(&g->qlock)) {
        gun__free(g);
        return GUN_ENOMEM;
    }
    if (uv_mutex_init(&g->chain_lock)) {
        uv_mutex_destroy(&g->qlock);
        gun__free(g);
        return GUN_ENOMEM;
    }
    if (uv_mutex_init(&g->core_lock)) {
        uv_mutex_destroy(&g->qlock);
        uv_mutex_destroy(&g->chain_lock);
        gun__free(g);
        return GUN_ENOMEM;
    }
    gun__store_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    const gun__store_ops *sops = &gun__store_mem_ops;
    if (opts->radisk || opts->local_storage) {
        sops = opts->radisk ? &gun__store_lmdb_ops : &gun__store_file_ops;
        cfg.path = opts->storage_path ? opts->storage_path : "./gun_data";
        cfg.nosync = opts->storage_nosync;
        cfg.max_bytes = opts->storage_max_bytes;
    }
    rc = gun__store_open(&g->inner, sops, &cfg, &e);
    if (rc != GUN_OK) {
        gun__log(g, GUN_LOG_ERROR, "%s", e.msg[0] ? e.msg : gun_strerror(rc));
        goto fail;
    }
    /* LMDB lets one writer run beside readers: its commits go to a worker thread. */
    g->store_threaded = sops == &gun__store_lmdb_ops;
    g->core = gun__core_new(&g->store, opts->state_drift_ms);
    g->watch = gun__map_new();
    if (!g->core || !g->watch || gun__user_new(&g->user) != GUN_OK) {
        rc = GUN_ENOMEM;
        goto fail;
    }
    gun__core_on_change(g->core, on_change, g);
    rc = gun__chain_root_new(g);
    if (rc != GUN_OK)
        goto fail;

    g->h = gun__calloc(1, sizeof *g->h);
    if (!g->h) {
        rc = GUN_ENOMEM;
        goto fail;
    }
    if (opts->loop) {
        g->loop = opts->loop;
        g->own = 0;
        g->loop_tid = uv_thread_self(); /* the caller's loop runs on the calling thread */
    } else {
        if (uv_loop_init(&g->own_loop)) {
            rc = GUN_EIO;
            goto fail;
        }
        g->loop = &g->own_loop;
        g->own = 1;
    }
    if (uv_async_init(g->loop, &g->h->async, on_async)) {
        rc = GUN_EIO;
        goto fail_loop;
    }
    g->h->open++;
    g->h->async.data = g;
    uv_timer_init(g->loop, &g->h->due);
    g->h->open++;
    g->h->due.data = g;

    /* Group commit: the core and everyone else read and write through it. */
    {
        gun__wb_cfg wc = {g->loop, &g->inner, g->store_threaded, on_durable, g};
        rc = gun__wb_new(&g->wb, &wc);
        if (rc != GUN_OK)
            goto fail_handles;
        gun__wb_store(g->wb, &g->store);
    }

    /* Sockets and listener are set up before the loop thread starts, so nothing touches
     * the loop from two threads. */
    if (opts->npeers || opts->port >= 0) {
        rc = open_mesh(g, opts);
        if (rc != GUN_OK)
            goto fail_handles;
    }

    if (g->own) {
        if (uv_sem_init(&g->started, 0)) {
            rc = GUN_ENOMEM;
            goto fail_handles;
        }
        if (uv_thread_create(&g->thread, loop_main, g)) {
            uv_sem_destroy(&g->started);
            rc = GUN_EIO;
            goto fail_handles;
        }
        uv_sem_wait(&g->started);
        uv_sem_destroy(&g->started);
    }
    *out = g;
    return GUN_OK;

fail_handles:
    teardown(g); /* closes the handles */
    if (g->own) {
        uv_run(g->loop, UV_RUN_DEFAULT);
        gun__ws_reap(g->ws_remains);
        uv_loop_close(g->loop);
    }
    free_instance(g);
    return rc;
fail_loop:
    if (g->own)
        uv_loop_close(g->loop);
fail:
    gun__free(g->h);
    g->h = NULL;
    free_instance(g);
    return rc;
}

int gun_close(gun_t *g)
{
    if (!g)
        return GUN_OK;
    if (g->own) {
        if (gun__on_loop(g))
            return GUN_EDEADLK;
        uv_mutex_lock(&g->qlock);
        if (g->closing) {
            uv_mutex_unlock(&g->qlock);
            return GUN_ECLOSED;
        }
        g->closing = 1;
        uv_async_send(&g->h->async);
        uv_mutex_unlock(&g->qlock);
        uv_thread_join(&g->thread);
        /* The loop thread has delivered the last callbacks and closed every handle, so
         * libwebsockets can now free the rest of its context. */
        gun__ws_reap(g->ws_remains);
        uv_loop_close(&g->own_loop);
        free_instance(g);
        return GUN_OK;
    }
    if (!gun__on_loop(g))
        return GUN_EINVAL; /* a caller's loop: gun_close belongs on the loop's thread */
    if (g->stopping)
        return GUN_ECLOSED;
    teardown(g);
    if (g->dispatching) {
        g->free_pending = 1;
        return GUN_OK;
    }
    /* Acks of committed puts and ECLOSED for the cancelled ones, then free. */
    g->dispatching++;
    while (g->ev_head) {
        gun__ev *ev = g->ev_head;
        g->ev_head = ev->next;
        deliver(g, ev);
        ev_free(ev);
    }
    g->ev_tail = NULL;
    g->dispatching--;
    free_instance(g);
    return GUN_OK;
}

/* The mesh: what a Gun peer does with messages (spec §3, §6.1).
 *
 * Every frame is parsed once; each message is deduplicated on `#` (and on `@`+`##` for
 * replies), then handled by kind: DAM control, a reply routed back along the peer it came
 * from, a put merged through HAM and acknowledged, or a get answered from the store and
 * forwarded. Relays (super peers) follow AXE: a peer that GETs a soul is subscribed to it and
 * receives every later change of it; puts are not broadcast.
 *
 * Everything we send is written with sorted keys, as node relays (YSON) do, and each
 * serialized message is one refcounted frame shared by all peers it goes to. */
#include <uv.h>

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "mesh.h"
#include "../sea/sea.h" /* the user-graph firewall (issue 5) */

#define HEARTBEAT_MS 20000
#define EXPIRE_MS 1000
#define SEEN_MAX 7 /* `><` lists at most 7 peers */
#define GET_ROUTE_TURN 3 /* AXE asks at most 3 of a soul's known peers per GET turn */

typedef struct peer peer;

/* A subscription (AXE): peer p asked for (or put) soul k, or key k+soul_len+1 of it. Each is
 * on two lists, its peer's and the mesh's, least recently asked first, so both caps evict
 * the oldest; idx is its place in its soul's sublist, so leaving costs no search. */
typedef struct subent subent;
enum { SUBS_ALL, SUBS_PEER }; /* the two lists */
struct subent {
    struct {
        subent *prev, *next;
    } l[2];
    peer *p;
    size_t idx;
    size_t soul_len, len;
    char k[];
};

struct peer {
    uint64_t serial;
    gun__conn *conn;
    char id[16];  /* our random id for an accepted peer */
    char pid[64]; /* their pid, from dam "?" */
    gun__map *subs; /* "soul" (whole node) or "soul\0key" -> its subent (key borrowed from it) */
    subent *sub_head, *sub_tail; /* least recently asked first */
    size_t nsubs;
    gun__buf batch; /* "[a,b" while batching; empty (often never allocated) until a second
                       message of the loop turn joins the first */
    int batching;
    /* Message rate (accepted peers): a token bucket, and the messages refused since it was
     * last full; `closing` once the peer is being dropped (the rest of its frame is not
     * read). */
    double tokens;
    uint64_t tokens_ms;
    uint32_t excess;
    int closing;
    peer *next, *prev;
};

/* One subscriber of a soul, in its soul's sublist. sub_drop takes it out before its peer is
 * freed (peer_free: unsubscribe_all), so p never dangles; the push loop reads it without a
 * by_serial look-up per subscriber per update (7.7% of a saturated fan-out's time went to
 * those look-ups). */
typedef struct sub {
    peer *p;
    const char *key; /* NULL: the whole node; else in e->k */
    size_t key_len;
    subent *e;
} sub;

typedef struct sublist {
    sub *v;
    size_t n, cap;
} sublist;

typedef enum req_kind { REQ_PUT, REQ_GET } req_kind;

typedef struct req req;
struct req {
    req_kind kind;
    char id[16];
    gun__mesh_reply_cb cb;
    void *arg;
    uint64_t deadline;
    size_t asked;   /* gets: peers asked */
    size_t answers; /* gets: replies seen (data or not found) */
    req *next, *prev; /* deadline order (all requests share one timeout) */
};

/* A write kept until some peer acknowledges it (offline-first). */
typedef struct outmsg outmsg;
struct outmsg {
    char id[16];
    gun__frame *frame;
    outmsg *next, *prev;
};

/* A put acknowledged once its batch is durable. */
typedef struct pack_ack {
    uint64_t serial; /* peer */
    uint64_t seq;
    struct pack_ack *next;
    size_t id_len;
    char id[];
} pack_ack;

struct gun__mesh {
    gun__mesh_cfg cfg;
    pack_ack *acks_head, *acks_tail; /* in seq order */
    uv_loop_t *loop;
    gun__ws *ws;
    gun__core *core;
    gun__store *store;
    gun__dedup *dup;
    gun__idgen ids; /* message ids: one per message sent, drawn in bulk */
    char pid[16];
    uint64_t next_serial;
    peer *peers;
    atomic_size_t open_peers; /* read from any thread (gun_peer_count) */
    gun__map *by_serial; /* 8-byte serial -> peer */
    gun__map *subs;      /* soul -> sublist */
    subent *sub_head, *sub_tail; /* every peer's subscriptions, least recently asked first */
    gun__map *reqs;      /* id -> req */
    req *req_head, *req_tail;
    gun__map *outbox_ids; /* id -> outmsg */
    outmsg *out_head, *out_tail;
    size_t outbox_bytes;
    gun__map *asked; /* remembered subscriptions: "soul" or "soul\0key" */
    gun__json *pend; /* changes not yet pushed: a put graph */
    uv_timer_t heartbeat, expire, reqtimer, pushtimer;
    uv_check_t flush; /* end of loop turn: batches go out */
    int closing;
    int handles; /* timers still closing */
    gun__mesh_stats st;
    gun__buf scratch;
    /* SEA firewall (issue 5): verification on libuv's workers; puts and everything their
     * peer sends after them wait here, in arrival order, for the verdict. */
    struct sea_ctx *sea;
    gun__map *sea_qs; /* 8-byte peer serial -> struct sea_q */
    struct getcont *conts; /* GET answers waiting for their asker's queue to drain */
    uv_timer_t conttimer;
};

static void mlog(gun__mesh *m, gun_log_level lvl, const char *fmt, ...) GUN__PRINTF(3, 4);
static void mlog(gun__mesh *m, gun_log_level lvl, const char *fmt, ...)
{
    if (!m->cfg.log || lvl > m->cfg.log_level)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    m->cfg.log(lvl, msg, m->cfg.log_arg);
}

/* ---- peers ---- */

static peer *peer_by_serial(gun__mesh *m, uint64_t serial)
{
    if (!serial)
        return NULL;
    return gun__map_get(m->by_serial, (const char *)&serial, sizeof serial);
}

static const char *peer_name(const peer *p)
{
    if (p->conn && p->conn->url)
        return p->conn->url;
    return p->pid[0] ? p->pid : p->id;
}

static int peer_open(const peer *p) { return p->conn && p->conn->open; }

static void sublist_free(void *v)
{
    sublist *l = v;
    gun__free(l->v);
    gun__free(l);
}

static void sub_append(subent **head, subent **tail, subent *e, int w)
{
    e->l[w].prev = *tail;
    e->l[w].next = NULL;
    if (*tail)
        (*tail)->l[w].next = e;
    else
        *head = e;
    *tail = e;
}

static void sub_unlink(subent **head, subent **tail, subent *e, int w)
{
    subent *prev = e->l[w].prev, *next = e->l[w].next;
    if (prev)
        prev->l[w].next = next;
    else
        *head = next;
    if (next)
        next->l[w].prev = prev;
    else
        *tail = prev;
}

/* Moves e to the end of both lists (asked again), or puts it there (new). */
static void sub_touch(gun__mesh *m, subent *e, int linked)
{
    peer *p = e->p;
    if (linked) {
        sub_unlink(&m->sub_head, &m->sub_tail, e, SUBS_ALL);
        sub_unlink(&p->sub_head, &p->sub_tail, e, SUBS_PEER);
    }
    sub_append(&m->sub_head, &m->sub_tail, e, SUBS_ALL);
    sub_append(&p->sub_head, &p->sub_tail, e, SUBS_PEER);
}

/* Ends one subscription: out of its soul's sublist, its peer's map and both lists. */
static void sub_drop(gun__mesh *m, subent *e)
{
    peer *p = e->p;
    sublist *l = gun__map_get(m->subs, e->k, e->soul_len);
    if (l && e->idx < l->n && l->v[e->idx].e == e) {
        l->v[e->idx] = l->v[--l->n];
        if (e->idx < l->n)
            l->v[e->idx].e->idx = e->idx;
        if (!l->n)
            sublist_free(gun__map_del(m->subs, e->k, e->soul_len));
    }
    gun__map_del(p->subs, e->k, e->len);
    sub_unlink(&m->sub_head, &m->sub_tail, e, SUBS_ALL);
    sub_unlink(&p->sub_head, &p->sub_tail, e, SUBS_PEER);
    p->nsubs--;
    m->st.subs--;
    gun__free(e);
}

/* Subscribes p to soul (whole when key is NULL). Asking again refreshes it; over the
 * peer's cap or the mesh's, the least recently asked subscription (the peer's own first)
 * ends: a peer, or all peers, can then hold only so many, and memory stays bounded. */
static void subscribe(gun__mesh *m, peer *p, gun__str soul, const gun__str *key)
{
    gun__buf *b = &m->scratch;
    gun__buf_reset(b);
    gun__buf_add(b, soul.p, soul.len);
    if (key) {
        gun__buf_addc(b, 0);
        gun__buf_add(b, key->p, key->len);
    }
    if (b->oom)
        return;
    subent *e = gun__map_get(p->subs, b->p, b->len);
    if (e) {
        sub_touch(m, e, 1);
        return;
    }
    if (m->cfg.max_subs_per_peer && p->nsubs >= m->cfg.max_subs_per_peer) {
        sub_drop(m, p->sub_head);
        m->st.subs_evicted++;
    } else if (m->cfg.max_subs && m->st.subs >= m->cfg.max_subs) {
        sub_drop(m, m->sub_head);
        m->st.subs_evicted++;
    }
    sublist *l = gun__map_get(m->subs, soul.p, soul.len);
    if (!l) {
        l = gun__calloc(1, sizeof *l);
        if (!l || gun__map_put(m->subs, soul.p, soul.len, l, NULL)) {
            gun__free(l);
            return;
        }
    }
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 4;
        sub *nv = gun__realloc(l->v, ncap * sizeof *nv);
        if (!nv)
            goto unused;
        l->v = nv, l->cap = ncap;
    }
    e = gun__malloc(sizeof *e + b->len);
    if (!e)
        goto unused;
    memcpy(e->k, b->p, b->len);
    e->p = p;
    e->soul_len = soul.len;
    e->len = b->len;
    if (gun__map_put(p->subs, e->k, e->len, e, NULL)) {
        gun__free(e);
        goto unused;
    }
    e->idx = l->n;
    l->v[l->n++] = (sub){p, key ? e->k + soul.len + 1 : NULL, key ? key->len : 0, e};
    sub_touch(m, e, 0);
    p->nsubs++;
    m->st.subs++;
    return;
unused:
    if (!l->n)
        sublist_free(gun__map_del(m->subs, soul.p, soul.len));
}

static void unsubscribe_all(gun__mesh *m, peer *p)
{
    while (p->sub_head)
        sub_drop(m, p->sub_head);
    /* An outgoing peer lives on for its reconnect: its table's slots go now, not then. */
    gun__map *fresh = gun__map_new_borrowed();
    if (fresh) {
        gun__map_free(p->subs, NULL);
        p->subs = fresh;
    }
}

static peer *peer_new(gun__mesh *m, gun__conn *c)
{
    peer *p = gun__calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->subs = gun__map_new_borrowed();
    p->serial = ++m->next_serial;
    if (!p->subs || gun__map_put(m->by_serial, (const char *)&p->serial, sizeof p->serial, p,
                                 NULL)) {
        gun__map_free(p->subs, NULL);
        gun__free(p);
        return NULL;
    }
    p->conn = c;
    c->user = p;
    gun__idgen_next(&m->ids, p->id, 9);
    p->next = m->peers;
    if (m->peers)
        m->peers->prev = p;
    m->peers = p;
    return p;
}

static void peer_free(gun__mesh *m, peer *p)
{
    gun__buf_free(&p->batch);
    unsubscribe_all(m, p);
    gun__map_free(p->subs, NULL);
    gun__map_del(m->by_serial, (const char *)&p->serial, sizeof p->serial);
    if (p->prev)
        p->prev->next = p->next;
    else
        m->peers = p->next;
    if (p->next)
        p->next->prev = p->prev;
    if (p->conn)
        p->conn->user = NULL;
    gun__free(p);
}

/* ---- sending ---- */

/* Serializes obj (sorted keys, as node relays) into a shared frame and tracks its id so
 * that our own messages bouncing back are dropped. */
static gun__frame *frame_of(gun__mesh *m, const gun__json *obj)
{
    gun__buf *b = &m->scratch;
    gun__buf_reset(b);
    gun__json_write(b, obj, GUN__JSON_SORTED);
    if (b->oom)
        return NULL;
    const gun__json *id = gun__json_obj_getc(obj, "#");
    if (id && id->t == GUN__J_STR)
        gun__dedup_track(m->dup, (gun__str){id->u.s.p, id->u.s.len}, gun__mono_ms());
    return gun__frame_new(b->p, b->len);
}

static void send_now(gun__mesh *m, peer *p, gun__frame *f)
{
    int rc = gun__conn_send(p->conn, f);
    if (rc == GUN_OK) {
        m->st.msgs_out++;
        m->st.bytes_out += f->len;
    } else if (rc == GUN_ETOOBIG) {
        /* The transport reports the overflow once and closes the connection. */
        m->st.slow_dropped++;
        p->closing = 1;
    }
}

/* Sends the peer's open batch as one `[a,b,...]` frame. */
static void flush_batch(gun__mesh *m, peer *p)
{
    gun__buf *b = &p->batch;
    p->batching = 0;
    if (b->len > 1 && peer_open(p) && !b->oom) {
        gun__buf_addc(b, ']');
        gun__frame *f = b->oom ? NULL : gun__frame_new(b->p, b->len);
        if (f) {
            send_now(m, p, f);
            gun__frame_unref(f);
        }
    }
    /* Keep a small buffer for the next batch; let a big one go. */
    if (b->cap > 65536)
        gun__buf_free(b);
    else
        gun__buf_reset(b);
}

static void flush_all_cb(uv_check_t *h)
{
    gun__mesh *m = h->data;
    uv_check_stop(h);
    for (peer *p = m->peers; p; p = p->next)
        if (p->batching)
            flush_batch(m, p);
}

/* Spec §3.10: the first message to a peer goes out at once and opens a batch; what
 * follows in the same loop turn is joined into one `[...]` frame, flushed early when it
 * would pass `pack` bytes. Fewer frames per peer under load; the same bytes otherwise. */
static void send_frame(gun__mesh *m, peer *p, gun__frame *f)
{
    if (!peer_open(p))
        return;
    if (p->batching) {
        /* An empty batch counts as its "[" (the frame's "]" is the + 1). */
        if ((p->batch.len ? p->batch.len : 1) + f->len + 1 <= m->cfg.pack) {
            gun__buf_addc(&p->batch, p->batch.len ? ',' : '[');
            gun__buf_add(&p->batch, f->data, f->len);
            if (!p->batch.oom)
                return;
        }
        flush_batch(m, p);
    }
    send_now(m, p, f);
    p->batching = 1;
    gun__buf_reset(&p->batch);
    if (!uv_is_active((uv_handle_t *)&m->flush))
        uv_check_start(&m->flush, flush_all_cb);
}

static void send_obj(gun__mesh *m, peer *p, const gun__json *obj)
{
    gun__frame *f = frame_of(m, obj);
    if (!f) {
        mlog(m, GUN_LOG_ERROR, "mesh: out of memory writing a message");
        return;
    }
    send_frame(m, p, f);
    gun__frame_unref(f);
}

static gun__json *new_msg(gun__mesh *m)
{
    gun__json *o = gun__json_obj();
    char id[16];
    if (!o || gun__idgen_next(&m->ids, id, 9) ||
        gun__json_obj_set(o, "#", 1, gun__json_str(id, 9))) {
        gun__json_free(o);
        return NULL;
    }
    return o;
}

static int set_str(gun__json *o, const char *k, const char *p, size_t len)
{
    return gun__json_obj_set(o, k, strlen(k), gun__json_str(p, len));
}

static void send_dam_error(gun__mesh *m, peer *p, const char *err)
{
    gun__json *o = new_msg(m);
    if (!o)
        return;
    if (!set_str(o, "dam", "!", 1) && !set_str(o, "err", err, strlen(err)))
        send_obj(m, p, o);
    gun__json_free(o);
}

/* {"#":new,"@":to,"ok":true} or {"#":new,"@":to,"err":text} */
/* Acks are most of what a relay under writes sends, so they are written as text directly,
 * the same bytes the tree writer makes for {"#","@","ok"|"err"} (keys already in order),
 * without building a tree per ack. */
static void send_ack(gun__mesh *m, peer *p, gun__str to, const char *err)
{
    char id[16];
    if (gun__idgen_next(&m->ids, id, 9))
        return;
    gun__buf *b = &m->scratch;
    gun__buf_reset(b);
    gun__buf_add(b, "{\"#\":\"", 6);
    gun__buf_add(b, id, 9);
    gun__buf_add(b, "\",\"@\":", 6);
    gun__json_write_str(b, to.p, to.len);
    if (err) {
        gun__buf_add(b, ",\"err\":", 7);
        gun__json_write_str(b, err, strlen(err));
    } else {
        gun__buf_add(b, ",\"ok\":true", 10);
    }
    gun__buf_addc(b, '}');
    gun__frame *f = b->oom ? NULL : gun__frame_new(b->p, b->len);
    if (!f) {
        mlog(m, GUN_LOG_ERROR, "mesh: out of memory writing a message");
        return;
    }
    gun__dedup_track(m->dup, (gun__str){id, 9}, gun__mono_ms());
    send_frame(m, p, f);
    gun__frame_unref(f);
}

/* ---- pushes (AXE): changes go to the peers subscribed to their soul or key ---- */

static void push_timer_cb(uv_timer_t *t);
static void flush_pushes(gun__mesh *m);

void gun__mesh_changed(gun__mesh *m, gun__str soul, gun__str key, const gun__val *val,
                       double state)
{
    if (m->closing || !gun__map_get(m->subs, soul.p, soul.len))
        return;
    gun__json *node = m->pend ? gun__json_obj_get(m->pend, soul.p, soul.len) : NULL;
    if (node && gun__json_obj_get(node, key.p, key.len)) {
        /* A second change of a key whose first change still waits (two puts of it in one
         * group commit): push the waiting one now rather than overwrite it, so subscribers
         * see every update, in order, as Gun.js forwards every put. */
        flush_pushes(m);
        node = NULL;
    }
    if (!m->pend && !(m->pend = gun__json_obj()))
        return;
    if (!node) {
        node = gun__json_obj();
        gun__json *meta = gun__json_obj();
        if (!node || !meta || set_str(meta, "#", soul.p, soul.len) ||
            gun__json_obj_set(meta, ">", 1, gun__json_obj()) ||
            gun__json_obj_set(node, "_", 1, meta)) {
            gun__json_free(node);
            return;
        }
        meta = NULL;
        if (gun__json_obj_set(m->pend, soul.p, soul.len, node))
            return;
    }
    gun__json *states = gun__json_obj_getc(gun__json_obj_getc(node, "_"), ">");
    gun__json *v = gun__val_to_json(val);
    if (!v || !states)
        return;
    gun__json_obj_set(states, key.p, key.len, gun__json_num(state));
    gun__json_obj_set(node, key.p, key.len, v);
    if (!uv_is_active((uv_handle_t *)&m->pushtimer))
        uv_timer_start(&m->pushtimer, push_timer_cb, 0, 0);
}

static gun__json *push_msg(gun__mesh *m, gun__json *graph)
{
    gun__json *o = new_msg(m);
    gun__json *ok = gun__json_obj();
    if (!o || !ok || gun__json_obj_set(ok, "@", 1, gun__json_num(2)) ||
        gun__json_obj_set(ok, "/", 1, gun__json_num((double)atomic_load(&m->open_peers))) ||
        gun__json_obj_set(o, "ok", 2, ok) || gun__json_obj_set(o, "put", 3, graph)) {
        if (!o)
            gun__json_free(graph);
        gun__json_free(o);
        return NULL;
    }
    return o;
}

static void flush_pushes(gun__mesh *m)
{
    gun__json *pend = m->pend;
    m->pend = NULL;
    if (!pend)
        return;
    for (size_t i = 0; i < pend->u.o.n; i++) {
        const gun__jmember *mem = &pend->u.o.m[i];
        sublist *l = gun__map_get(m->subs, mem->key, mem->key_len);
        if (!l)
            continue;
        /* Whole-node subscribers share one frame with every changed key of the soul. */
        gun__frame *whole = NULL;
        for (size_t j = 0; j < l->n; j++) {
            if (l->v[j].key)
                continue;
            peer *p = l->v[j].p;
            if (!peer_open(p))
                continue;
            if (!whole) {
                gun__json *g = gun__json_obj();
                if (!g || gun__json_obj_set(g, mem->key, mem->key_len,
                                            gun__json_clone(mem->val))) {
                    gun__json_free(g);
                    break;
                }
                gun__json *msg = push_msg(m, g);
                if (!msg)
                    break;
                whole = frame_of(m, msg);
                gun__json_free(msg);
                if (!whole)
                    break;
            }
            send_frame(m, p, whole);
            m->st.pushes++;
        }
        gun__frame_unref(whole);
        /* Key subscribers get only their key (if it changed), unless also whole. */
        const gun__json *node = mem->val;
        const gun__json *states = gun__json_obj_getc(gun__json_obj_getc(node, "_"), ">");
        for (size_t j = 0; j < l->n; j++) {
            sub *s = &l->v[j];
            if (!s->key)
                continue;
            peer *p = s->p;
            if (!peer_open(p) || gun__map_get(p->subs, mem->key, mem->key_len))
                continue;
            const gun__json *v = gun__json_obj_get(node, s->key, s->key_len);
            const gun__json *st = gun__json_obj_get(states, s->key, s->key_len);
            if (!v || !st)
                continue;
            gun__json *g = gun__json_obj(), *n = gun__json_obj(), *meta = gun__json_obj(),
                      *sts = gun__json_obj();
            if (!g || !n || !meta || !sts) {
                gun__json_free(g), gun__json_free(n), gun__json_free(meta), gun__json_free(sts);
                continue;
            }
            set_str(meta, "#", mem->key, mem->key_len);
            gun__json_obj_set(sts, s->key, s->key_len, gun__json_clone(st));
            gun__json_obj_set(meta, ">", 1, sts);
            gun__json_obj_set(n, "_", 1, meta);
            gun__json_obj_set(n, s->key, s->key_len, gun__json_clone(v));
            gun__json_obj_set(g, mem->key, mem->key_len, n);
            gun__json *msg = push_msg(m, g);
            if (msg) {
                send_obj(m, p, msg);
                m->st.pushes++;
                gun__json_free(msg);
            }
        }
    }
    gun__json_free(pend);
}

static void push_timer_cb(uv_timer_t *t) { flush_pushes(t->data); }

/* ---- GET: answer from the store, in chunks ----
 *
 * Gun.js answers a GET of a node in its memory in chunks of 9 keys: each chunk is a reply
 * with its own `#` and `##` and `"%":<the next chunk's #>`, and the asker simply merges each
 * one. We chunk by size instead (max_get_reply): a node that fits goes out as one reply, a
 * bigger one as several replies of Gun.js's shape. Keys are read from the store while the
 * chunks are written, so a reply never holds more than one chunk; when the asker's send
 * queue could not take another chunk, the walk stops and resumes at the next key once the
 * queue has drained (getcont), so a node of any size is served without tripping the
 * slow-peer cap and with bounded memory. */

typedef struct chunker {
    gun__mesh *m;
    uint64_t serial; /* the asker */
    gun__str soul;
    gun__str to;     /* the GET's `#` */
    int has_hash;    /* the GET's `##`: a chunk equal to it is not sent (spec §3.6) */
    int32_t hash;
    char id[16];     /* `#` of the chunk being built (the previous chunk's `%`) */
    gun__json *node, *states;
    size_t base, bytes, n, sent;
    double budget, used; /* lex: the `%` budget (store.js counting) */
    int stop_after_budget;
    int pausable; /* whole-node walks only: lex and key answers are small */
    int paused;
    gun__buf resume; /* the key a paused walk starts from */
    gun__buf tmp;
    int err;
} chunker;

/* A whole-node answer waiting for its asker's send queue to drain. */
typedef struct getcont {
    struct getcont *next;
    uint64_t serial;
    int has_hash;
    int32_t hash;
    char id[16];
    size_t soul_len, to_len, key_len;
    char data[]; /* soul, to, resume key */
} getcont;

static gun__json *new_node(gun__str soul, gun__json **states_out);

/* Can p's send queue take another chunk now? Leaves half the queue for everything else. */
static int chunk_room(const gun__mesh *m, const peer *p)
{
    if (!m->cfg.max_queue || !p->conn)
        return 1;
    uint64_t q = p->conn->queued_bytes + p->batch.len;
    return q == 0 || q + m->cfg.max_get_reply <= m->cfg.max_queue / 2;
}

/* Sends the chunk built so far; next_id links it to the one that follows (NULL: last).
 * The reply is written by hand around the text of its put graph, which is also what `##`
 * hashes, so the graph is written once (a hash walk and then the frame's walk over the
 * same tree were 5% and 11% of the relay under coldget). The envelope's keys come in the
 * order frame_of's sorted writer gives them: # ## % @ put. */
static void chunk_emit(chunker *c, const char *next_id)
{
    gun__mesh *m = c->m;
    gun__json *node = c->node;
    c->node = NULL;
    gun__buf *put = &c->tmp, *b = &m->scratch;
    gun__buf_reset(put);
    gun__buf_addc(put, '{');
    gun__json_write_str(put, c->soul.p, c->soul.len);
    gun__buf_addc(put, ':');
    gun__json_write(put, node, GUN__JSON_SORTED);
    gun__buf_addc(put, '}');
    gun__json_free(node);
    if (put->oom) {
        c->err = GUN_ENOMEM;
        return;
    }
    /* Its `#` is c->id: the id the previous chunk's `%` named (the first's is its own). */
    size_t idlen = strlen(c->id);
    int32_t h = gun__hash_utf16(put->p, put->len, 0);
    char num[16];
    gun__buf_reset(b);
    gun__buf_add(b, "{\"#\":", 5);
    gun__json_write_str(b, c->id, idlen);
    gun__buf_add(b, ",\"##\":", 6);
    gun__buf_add(b, num, (size_t)snprintf(num, sizeof num, "%d", (int)h));
    if (next_id) {
        gun__buf_add(b, ",\"%\":", 5);
        gun__json_write_str(b, next_id, strlen(next_id));
    }
    gun__buf_add(b, ",\"@\":", 5);
    gun__json_write_str(b, c->to.p, c->to.len);
    gun__buf_add(b, ",\"put\":", 7);
    gun__buf_add(b, put->p, put->len);
    gun__buf_addc(b, '}');
    gun__frame *f = b->oom ? NULL : gun__frame_new(b->p, b->len);
    if (!f) {
        c->err = GUN_ENOMEM;
        return;
    }
    gun__dedup_track(m->dup, (gun__str){c->id, idlen}, gun__mono_ms());
    peer *p = peer_by_serial(m, c->serial);
    if (p && !(c->has_hash && c->hash == h))
        send_frame(m, p, f);
    gun__frame_unref(f);
    if (next_id && !c->sent)
        m->st.get_replies_chunked++;
    if (next_id || c->sent)
        m->st.get_chunks++;
    c->sent++;
}

static int chunk_start(chunker *c)
{
    c->node = new_node(c->soul, &c->states);
    c->bytes = c->base;
    c->n = 0;
    if (!c->node)
        c->err = GUN_ENOMEM;
    return c->node ? GUN_OK : GUN_ENOMEM;
}

static int chunk_visit(void *arg, gun__str soul, gun__str key, const gun__val *val, double state)
{
    chunker *c = arg;
    gun__mesh *m = c->m;
    (void)soul;
    gun__json *v = gun__val_to_json(val);
    if (!v) {
        c->err = GUN_ENOMEM;
        return 1;
    }
    size_t cost = 0;
    if (m->cfg.max_get_reply) {
        /* The key is written twice (value and state), plus a state and punctuation. */
        gun__buf_reset(&c->tmp);
        gun__json_write_str(&c->tmp, key.p, key.len);
        size_t klen = c->tmp.len;
        gun__json_write(&c->tmp, v, GUN__JSON_SORTED);
        cost = 2 * klen + (c->tmp.len - klen) + 32;
        if (c->n && c->bytes + cost > m->cfg.max_get_reply) {
            char next[16];
            gun__idgen_next(&m->ids, next, 9);
            chunk_emit(c, next);
            memcpy(c->id, next, sizeof next);
            peer *p = peer_by_serial(m, c->serial);
            if (c->err || !p || !peer_open(p)) {
                gun__json_free(v);
                return 1;
            }
            if (c->pausable && !chunk_room(m, p)) {
                gun__buf_reset(&c->resume);
                gun__buf_add(&c->resume, key.p, key.len);
                c->paused = !c->resume.oom;
                c->err = c->resume.oom ? GUN_ENOMEM : 0;
                gun__json_free(v);
                return 1;
            }
            if (chunk_start(c)) {
                gun__json_free(v);
                return 1;
            }
        }
    }
    if (gun__json_obj_set(c->states, key.p, key.len, gun__json_num(state)) ||
        gun__json_obj_set(c->node, key.p, key.len, v)) {
        c->err = GUN_ENOMEM;
        return 1;
    }
    c->n++;
    c->bytes += cost;
    if (c->stop_after_budget) {
        /* store.js: count a value's string length, or 9 for a non-string; stop once
         * the count reaches the limit (after adding the item). */
        c->used += val->t == GUN__V_STR ? (double)gun__utf16_len(val->s.p, val->s.len) : 9;
        if (c->used >= c->budget)
            return 1;
    }
    return 0;
}

/* A lex object ({"*":..,">":..,"<":..,"=":..,"-":..}) into a gun__lex. Returns 0 if it
 * is not one. */
static int lex_from_json(const gun__json *j, gun__lex *lex)
{
    memset(lex, 0, sizeof *lex);
    if (!j || j->t != GUN__J_OBJ)
        return 0;
    const gun__json *t;
    if ((t = gun__json_obj_getc(j, "=")) && t->t == GUN__J_STR)
        lex->has_eq = 1, lex->eq = (gun__str){t->u.s.p, t->u.s.len};
    if ((t = gun__json_obj_getc(j, "*")) && t->t == GUN__J_STR)
        lex->has_prefix = 1, lex->prefix = (gun__str){t->u.s.p, t->u.s.len};
    if ((t = gun__json_obj_getc(j, ">")) && t->t == GUN__J_STR)
        lex->has_gte = 1, lex->gte = (gun__str){t->u.s.p, t->u.s.len};
    if ((t = gun__json_obj_getc(j, "<")) && t->t == GUN__J_STR)
        lex->has_lte = 1, lex->lte = (gun__str){t->u.s.p, t->u.s.len};
    if ((t = gun__json_obj_getc(j, "-")) && t->t != GUN__J_NULL &&
        !(t->t == GUN__J_BOOL && !t->u.b) && !(t->t == GUN__J_NUM && t->u.n == 0))
        lex->reverse = 1;
    return 1;
}

static gun__json *new_node(gun__str soul, gun__json **states_out)
{
    gun__json *node = gun__json_obj(), *meta = gun__json_obj(), *states = gun__json_obj();
    if (!node || !meta || !states || set_str(meta, "#", soul.p, soul.len) ||
        gun__json_obj_set(meta, ">", 1, states)) {
        gun__json_free(node), gun__json_free(meta);
        if (!meta)
            gun__json_free(states);
        return NULL;
    }
    if (gun__json_obj_set(node, "_", 1, meta)) {
        gun__json_free(node);
        return NULL;
    }
    *states_out = states;
    return node;
}

static void cont_timer_cb(uv_timer_t *t);

/* Runs (or resumes, from c->resume) a walk and sends what it finds. Returns the store's
 * error when nothing could be answered. */
static int chunk_walk(chunker *c, const gun__json *jk)
{
    gun__mesh *m = c->m;
    gun__str sv = {c->soul.p, c->soul.len};
    gun__buf_reset(&c->tmp);
    gun__json_write_str(&c->tmp, sv.p, sv.len);
    c->base = 2 * c->tmp.len + c->to.len + 96; /* the envelope around the keys */
    if (chunk_start(c))
        return GUN_ENOMEM;
    int rc;
    gun__lex lex;
    if (c->resume.len) {
        memset(&lex, 0, sizeof lex);
        lex.has_gte = 1;
        lex.gte = (gun__str){c->resume.p, c->resume.len};
        c->pausable = 1;
        rc = m->store->ops->get_node(m->store->st, sv, &lex, chunk_visit, c);
    } else if (jk && jk->t == GUN__J_STR && jk->u.s.len) {
        rc = m->store->ops->get_key(m->store->st, sv, (gun__str){jk->u.s.p, jk->u.s.len},
                                    chunk_visit, c);
    } else if (jk && lex_from_json(jk, &lex)) {
        c->stop_after_budget = 1;
        rc = m->store->ops->get_node(m->store->st, sv, &lex, chunk_visit, c);
    } else {
        c->pausable = 1;
        rc = m->store->ops->get_node(m->store->st, sv, NULL, chunk_visit, c);
    }
    if (c->err)
        rc = c->err;
    if (rc == GUN_ENOTFOUND)
        rc = GUN_OK;
    if (!rc && c->paused) {
        size_t need = sizeof(getcont) + c->soul.len + c->to.len + c->resume.len;
        getcont *g = gun__malloc(need);
        if (!g) {
            rc = GUN_ENOMEM;
        } else {
            g->serial = c->serial;
            g->has_hash = c->has_hash;
            g->hash = c->hash;
            memcpy(g->id, c->id, sizeof g->id);
            g->soul_len = c->soul.len, g->to_len = c->to.len, g->key_len = c->resume.len;
            memcpy(g->data, c->soul.p, c->soul.len);
            memcpy(g->data + c->soul.len, c->to.p, c->to.len);
            memcpy(g->data + c->soul.len + c->to.len, c->resume.p, c->resume.len);
            g->next = NULL;
            getcont **tail = &m->conts;
            while (*tail)
                tail = &(*tail)->next;
            *tail = g;
            if (!uv_is_active((uv_handle_t *)&m->conttimer))
                uv_timer_start(&m->conttimer, cont_timer_cb, 5, 5);
        }
    } else if (!rc && c->n) {
        chunk_emit(c, NULL);
        rc = c->err;
    } else if (!rc && !c->sent) {
        /* Not found: a reply without put, as Gun.js's `{'@': id}`. */
        peer *p = peer_by_serial(m, c->serial);
        gun__json *o = new_msg(m);
        if (!o || set_str(o, "@", c->to.p, c->to.len))
            rc = GUN_ENOMEM;
        else if (p)
            send_obj(m, p, o);
        gun__json_free(o);
    }
    gun__json_free(c->node);
    c->node = NULL;
    return rc;
}

static void chunker_init(chunker *c, gun__mesh *m, uint64_t serial)
{
    memset(c, 0, sizeof *c);
    c->m = m;
    c->serial = serial;
    c->budget = 1;
    gun__buf_init(&c->resume);
    gun__buf_init(&c->tmp);
}

static void chunker_done(chunker *c)
{
    gun__buf_free(&c->resume);
    gun__buf_free(&c->tmp);
}

/* Resumes paused answers whose asker has room again; drops those whose asker left. */
static void cont_timer_cb(uv_timer_t *t)
{
    gun__mesh *m = t->data;
    getcont *list = m->conts;
    m->conts = NULL;
    getcont **keep = &list;
    while (*keep) {
        getcont *g = *keep;
        peer *p = peer_by_serial(m, g->serial);
        if (p && peer_open(p) && !chunk_room(m, p)) {
            keep = &g->next;
            continue;
        }
        *keep = g->next;
        if (p && peer_open(p)) {
            chunker c;
            chunker_init(&c, m, g->serial);
            c.soul = (gun__str){g->data, g->soul_len};
            c.to = (gun__str){g->data + g->soul_len, g->to_len};
            c.has_hash = g->has_hash;
            c.hash = g->hash;
            memcpy(c.id, g->id, sizeof c.id);
            gun__buf_add(&c.resume, g->data + g->soul_len + g->to_len, g->key_len);
            int rc = c.resume.oom ? GUN_ENOMEM : chunk_walk(&c, NULL);
            if (rc)
                mlog(m, GUN_LOG_WARN, "mesh: rest of get %.*s not sent: %s", (int)g->to_len,
                     g->data + g->soul_len, gun_strerror(rc));
            chunker_done(&c);
        }
        gun__free(g);
    }
    /* Walks resumed above may have paused again (appended to m->conts): keep order. */
    *keep = m->conts;
    m->conts = list;
    if (!m->conts)
        uv_timer_stop(&m->conttimer);
}

/* ---- requests (client side) ---- */

static void req_unlink(gun__mesh *m, req *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        m->req_head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        m->req_tail = r->prev;
    gun__map_del(m->reqs, r->id, strlen(r->id));
}

static void req_finish(gun__mesh *m, req *r, gun__mesh_reply *rep)
{
    req_unlink(m, r);
    if (r->cb)
        r->cb(r->arg, rep);
    gun__free(r);
}

static void reqtimer_cb(uv_timer_t *t);

static void arm_reqtimer(gun__mesh *m)
{
    if (!m->req_head) {
        uv_timer_stop(&m->reqtimer);
        return;
    }
    uint64_t now = gun__mono_ms();
    uint64_t d = m->req_head->deadline > now ? m->req_head->deadline - now : 0;
    uv_timer_start(&m->reqtimer, reqtimer_cb, d, 0);
}

static void reqtimer_cb(uv_timer_t *t)
{
    gun__mesh *m = t->data;
    uint64_t now = gun__mono_ms();
    while (m->req_head && m->req_head->deadline <= now) {
        req *r = m->req_head;
        gun__mesh_reply rep = {0};
        if (r->kind == REQ_GET) {
            rep.done = 1; /* a get that ran out of time is simply done */
        } else {
            rep.err = GUN_ETIMEDOUT;
            rep.err_text = "Error: No ACK yet.";
        }
        req_finish(m, r, &rep);
    }
    arm_reqtimer(m);
}

static req *req_new(gun__mesh *m, req_kind kind, const char *id, gun__mesh_reply_cb cb, void *arg)
{
    req *r = gun__calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->kind = kind;
    snprintf(r->id, sizeof r->id, "%s", id);
    r->cb = cb;
    r->arg = arg;
    r->deadline = gun__mono_ms() + m->cfg.ack_timeout_ms;
    if (gun__map_put(m->reqs, r->id, strlen(r->id), r, NULL)) {
        gun__free(r);
        return NULL;
    }
    r->prev = m->req_tail;
    if (m->req_tail)
        m->req_tail->next = r;
    else
        m->req_head = r;
    m->req_tail = r;
    if (!uv_is_active((uv_handle_t *)&m->reqtimer))
        arm_reqtimer(m);
    return r;
}

static void outbox_drop(gun__mesh *m, outmsg *o)
{
    if (o->prev)
        o->prev->next = o->next;
    else
        m->out_head = o->next;
    if (o->next)
        o->next->prev = o->prev;
    else
        m->out_tail = o->prev;
    gun__map_del(m->outbox_ids, o->id, strlen(o->id));
    m->outbox_bytes -= o->frame->len;
    gun__frame_unref(o->frame);
    gun__free(o);
}

/* ---- incoming ---- */

static void handle_dam(gun__mesh *m, peer *p, const gun__msg *msg)
{
    if (gun__str_eqc(msg->dam, "!")) {
        const gun__json *err = msg->err;
        mlog(m, GUN_LOG_INFO, "mesh: peer %s says: %s", peer_name(p),
             err && err->t == GUN__J_STR ? err->u.s.p : "(no text)");
        return;
    }
    if (!gun__str_eqc(msg->dam, "?"))
        return; /* "hi" and the rest: tracked only, as in Gun.js */
    if (msg->pid.len && !p->pid[0]) {
        if (msg->pid.len >= sizeof p->pid)
            return;
        memcpy(p->pid, msg->pid.p, msg->pid.len);
        p->pid[msg->pid.len] = 0;
        if (!strcmp(p->pid, m->pid)) {
            mlog(m, GUN_LOG_INFO, "mesh: %s is ourselves, disconnecting", peer_name(p));
            gun__conn_close(p->conn, "self");
            return;
        }
        /* Two connections to the same node: keep the one dialed by the higher pid, so
         * both ends drop the same one. */
        for (peer *q = m->peers; q; q = q->next) {
            if (q == p || !peer_open(q) || strcmp(q->pid, p->pid))
                continue;
            int we_dialer_wins = strcmp(m->pid, p->pid) > 0;
            peer *drop = (p->conn->outgoing == we_dialer_wins) ? q : p;
            mlog(m, GUN_LOG_INFO, "mesh: duplicate connection to %s, closing one", p->pid);
            gun__conn_close(drop->conn, "duplicate");
            if (drop == p)
                return;
            break;
        }
    }
    if (msg->ack.len)
        return; /* a reply to our greeting */
    gun__json *o = new_msg(m);
    if (!o)
        return;
    if (!set_str(o, "dam", "?", 1) && !set_str(o, "pid", m->pid, strlen(m->pid)) &&
        !set_str(o, "@", msg->id.p, msg->id.len))
        send_obj(m, p, o);
    gun__json_free(o);
}

/* Merges a put graph; returns the merge error (validation or store). The change hook pushes
 * to subscribers. Sets *deferred when some key waits for its state. */
/* One stored key copied into a repair graph's node. */
static int repair_visit(void *arg, gun__str soul, gun__str key, const gun__val *val, double state)
{
    gun__json *node = arg;
    gun__json *states = gun__json_obj_getc(gun__json_obj_getc(node, "_"), ">");
    gun__json *v = gun__val_to_json(val);
    (void)soul;
    if (!v || gun__json_obj_set(states, key.p, key.len, gun__json_num(state)))
        gun__json_free(v);
    else
        gun__json_obj_set(node, key.p, key.len, v);
    return 0;
}

/* Read repair: the keys of a merge that lost because we hold a newer state, as a put
 * graph of what we hold (NULL when none). Sent back to the peer whose GET reply was stale,
 * it lets two relays that each took writes while apart converge on the next GET between
 * them; without it the older side keeps its value until that key is written again. */
static gun__json *repair_graph(gun__mesh *m, const gun__merge_res *res, size_t n)
{
    gun__json *g = NULL;
    for (size_t i = 0; i < n; i++) {
        if (res[i].result != GUN__HAM_OLD)
            continue;
        if (!g && !(g = gun__json_obj()))
            return NULL;
        gun__json *node = gun__json_obj_get(g, res[i].soul.p, res[i].soul.len);
        gun__json *states;
        if (!node) {
            node = new_node(res[i].soul, &states);
            if (!node || gun__json_obj_set(g, res[i].soul.p, res[i].soul.len, node)) {
                gun__json_free(g);
                return NULL;
            }
        }
        m->store->ops->get_key(m->store->st, res[i].soul, res[i].key, repair_visit, node);
    }
    return g;
}

static int merge_put(gun__mesh *m, const gun__json *put, gun__err *e, int *deferred,
                     gun__json **repair)
{
    gun__graph g;
    *deferred = 0;
    int rc = gun__graph_from_put(put, &g, e);
    if (rc)
        return rc;
    size_t nkeys = 0;
    for (size_t i = 0; i < g.n; i++)
        nkeys += g.nodes[i].n;
    gun__merge_res *res = gun__calloc(nkeys ? nkeys : 1, sizeof *res);
    if (!res) {
        gun__graph_free(&g);
        return gun__fail(e, GUN_ENOMEM, "out of memory");
    }
    rc = m->cfg.merge ? m->cfg.merge(m->cfg.merge_arg, &g, res) : gun__core_put(m->core, &g, res);
    if (rc) {
        gun__fail(e, rc, "storage error: %s", gun_strerror(rc));
    } else {
        for (size_t i = 0; i < nkeys; i++) {
            if (res[i].result == GUN__HAM_ACCEPT)
                m->st.put_keys_accepted++;
            else if (res[i].result == GUN__HAM_DEFER)
                m->st.put_keys_deferred++, *deferred = 1;
            else
                m->st.put_keys_ignored++;
        }
        if (repair)
            *repair = repair_graph(m, res, nkeys);
    }
    gun__free(res);
    gun__graph_free(&g);
    return rc;
}

static void subscribe_graph(gun__mesh *m, peer *p, const gun__json *put)
{
    if (!p || !put || put->t != GUN__J_OBJ)
        return;
    for (size_t i = 0; i < put->u.o.n; i++)
        subscribe(m, p, (gun__str){put->u.o.m[i].key, put->u.o.m[i].key_len}, NULL);
}

static void handle_reply(gun__mesh *m, peer *p, gun__msg *msg)
{
    gun__str to = msg->ack;
    int deferred;
    gun__err e;
    gun__json *repair = NULL;
    if (msg->put && merge_put(m, msg->put, &e, &deferred, m->cfg.super_peer ? &repair : NULL) &&
        e.code != GUN_ENOMEM)
        mlog(m, GUN_LOG_DEBUG, "mesh: reply from %s dropped: %s", peer_name(p), e.msg);
    if (repair) {
        gun__json *o = new_msg(m);
        if (o && !gun__json_obj_set(o, "put", 3, repair)) {
            send_obj(m, p, o);
            m->st.repairs++;
        } else if (!o) {
            gun__json_free(repair);
        }
        gun__json_free(o);
    }
    /* Our own request? */
    req *r = gun__map_get(m->reqs, to.p, to.len);
    if (r) {
        gun__mesh_reply rep = {0};
        rep.ok = msg->ok;
        rep.put = msg->put;
        if (msg->err) {
            rep.err = GUN_EIO;
            rep.err_text = msg->err->t == GUN__J_STR ? msg->err->u.s.p : "error";
        }
        if (r->kind == REQ_PUT) {
            outmsg *o = gun__map_get(m->outbox_ids, to.p, to.len);
            if (o && !msg->err)
                outbox_drop(m, o);
            req_finish(m, r, &rep);
        } else {
            if (msg->put) {
                /* acknowledge data we stored, as Gun.js peers do */
                send_ack(m, p, msg->id, NULL);
            }
            r->answers++;
            rep.done = r->answers >= r->asked;
            if (rep.done) {
                req_finish(m, r, &rep);
            } else if (r->cb) {
                r->cb(r->arg, &rep);
            }
        }
        return;
    }
    {
        /* An ack for a write of ours whose callback already timed out. */
        outmsg *o = gun__map_get(m->outbox_ids, to.p, to.len);
        if (o && !msg->err)
            outbox_drop(m, o);
    }
    /* Someone else's: route back along the peer the request came from. */
    peer *via = peer_by_serial(m, gun__dedup_via(m->dup, to, gun__mono_ms()));
    if (!via || via == p)
        return;
    if (msg->put) {
        subscribe_graph(m, via, msg->put);
        subscribe_graph(m, p, msg->put);
    }
    send_obj(m, via, msg->obj);
    m->st.acks_routed++;
}

/* Acks once every write queued so far is durable: the put's own keys, or, when it changed
 * nothing, the newer data that beat it. */
static void ack_when_durable(gun__mesh *m, peer *p, gun__str id)
{
    uint64_t seq = m->cfg.wb ? gun__wb_barrier(m->cfg.wb) : 0;
    if (!seq) {
        send_ack(m, p, id, NULL);
        return;
    }
    pack_ack *a = gun__malloc(sizeof *a + id.len + 1);
    if (!a) {
        mlog(m, GUN_LOG_ERROR, "mesh: out of memory: put %.*s will not be acknowledged",
             (int)id.len, id.p);
        return;
    }
    a->serial = p->serial;
    a->seq = seq;
    a->next = NULL;
    a->id_len = id.len;
    memcpy(a->id, id.p, id.len);
    a->id[id.len] = 0;
    if (m->acks_tail)
        m->acks_tail->next = a;
    else
        m->acks_head = a;
    m->acks_tail = a;
}

void gun__mesh_durable(gun__mesh *m, uint64_t seq, int err, const char *err_text)
{
    char text[300];
    if (err)
        snprintf(text, sizeof text, "Error: storage: %s", err_text ? err_text : gun_strerror(err));
    while (m->acks_head && m->acks_head->seq <= seq) {
        pack_ack *a = m->acks_head;
        m->acks_head = a->next;
        if (!m->acks_head)
            m->acks_tail = NULL;
        peer *p = peer_by_serial(m, a->serial);
        if (p && !m->closing)
            send_ack(m, p, (gun__str){a->id, a->id_len}, err ? text : NULL);
        gun__free(a);
    }
}

static void handle_put(gun__mesh *m, peer *p, gun__msg *msg)
{
    gun__err e;
    int deferred = 0;
    m->st.puts++;
    int rc = merge_put(m, msg->put, &e, &deferred, NULL);
    if (rc) {
        if (rc != GUN_ENOMEM && rc != GUN_EIO)
            m->st.bad_put++;
        mlog(m, GUN_LOG_DEBUG, "mesh: put %.*s from %s rejected: %s", (int)msg->id.len,
             msg->id.p, peer_name(p), e.msg);
        send_ack(m, p, msg->id, e.msg);
        return;
    }
    /* A put with a future state is applied when due; like Gun.js we do not ack it now. */
    if (!deferred)
        ack_when_durable(m, p, msg->id);
    if (!m->cfg.super_peer) {
        /* Not a relay: pass it on to the other peers (Gun.js's plain mesh broadcast). */
        gun__frame *f = NULL;
        for (peer *q = m->peers; q; q = q->next) {
            if (q == p || !peer_open(q))
                continue;
            if (!f && !(f = frame_of(m, msg->obj)))
                break;
            send_frame(m, q, f);
        }
        gun__frame_unref(f);
    }
}

/* Is peer q listed in the message's `><`? */
static int in_seen(const gun__str *seen, const peer *q)
{
    const char *names[3] = {q->conn && q->conn->url ? q->conn->url : NULL, q->pid[0] ? q->pid : NULL,
                            q->id};
    size_t len = seen->len < 99 ? seen->len : 99;
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && seen->p[j] != ',')
            j++;
        for (int k = 0; k < 3; k++)
            if (names[k] && strlen(names[k]) == j - i && !memcmp(names[k], seen->p + i, j - i))
                return 1;
        i = j + 1;
    }
    return 0;
}

static void forward_get(gun__mesh *m, peer *from, gun__msg *msg, gun__str soul)
{
    peer *to[64];
    size_t n = 0;
    sublist *l = gun__map_get(m->subs, soul.p, soul.len);
    if (l) {
        for (size_t i = 0; i < l->n && n < 64; i++) {
            peer *q = l->v[i].p;
            if (q == from || !peer_open(q) || in_seen(&msg->seen, q))
                continue;
            int dup = 0;
            for (size_t k = 0; k < n; k++)
                dup |= to[k] == q;
            if (!dup)
                to[n++] = q;
        }
        /* As AXE's first GET turn: a few of the soul's known peers, relays we dialed first
         * (they hold data; a browser that asked for the soul may not). Asking every
         * subscriber made each GET cost a message per subscriber: N clients reading one
         * soul cost N^2 messages (bench conns). Later AXE turns (every 25 ms until a reply's
         * `##` matches) are not made: ours answers from its own store first. */
        size_t front = 0;
        for (size_t k = 0; k < n; k++)
            if (to[k]->conn->outgoing) {
                peer *t = to[front];
                to[front++] = to[k];
                to[k] = t;
            }
        if (n > GET_ROUTE_TURN)
            n = GET_ROUTE_TURN;
    }
    if (!n) {
        for (peer *q = m->peers; q && n < 64; q = q->next)
            if (q != from && peer_open(q) && !in_seen(&msg->seen, q))
                to[n++] = q;
    }
    if (!n)
        return;
    gun__json *o = gun__json_clone(msg->obj);
    if (!o)
        return;
    if (n >= 2) {
        gun__buf names;
        gun__buf_init(&names);
        for (size_t k = 0; k < n && k < SEEN_MAX; k++) {
            if (k)
                gun__buf_addc(&names, ',');
            gun__buf_adds(&names, peer_name(to[k]));
        }
        if (!names.oom)
            set_str(o, "><", names.p, names.len);
        gun__buf_free(&names);
    }
    gun__frame *f = frame_of(m, o);
    gun__json_free(o);
    if (!f)
        return;
    for (size_t k = 0; k < n; k++)
        send_frame(m, to[k], f);
    gun__frame_unref(f);
    m->st.gets_forwarded++;
}

static void handle_get(gun__mesh *m, peer *p, gun__msg *msg)
{
    m->st.gets++;
    const gun__json *js = gun__json_obj_getc(msg->get, "#");
    const gun__json *jk = gun__json_obj_getc(msg->get, ".");
    if (!js || js->t != GUN__J_STR || !js->u.s.len)
        return; /* lex over souls and malformed gets: nothing to serve from here */
    gun__str soul = {js->u.s.p, js->u.s.len};
    if (jk && jk->t == GUN__J_STR && jk->u.s.len) {
        gun__str key = {jk->u.s.p, jk->u.s.len};
        subscribe(m, p, soul, &key);
    } else {
        subscribe(m, p, soul, NULL);
    }
    chunker c;
    chunker_init(&c, m, p->serial);
    c.soul = soul;
    c.to = msg->id;
    c.has_hash = msg->has_hash;
    c.hash = msg->hash;
    const gun__json *jp = gun__json_obj_getc(msg->get, "%");
    if (jp && jp->t == GUN__J_NUM && jp->u.n <= 100000)
        c.budget = jp->u.n;
    gun__idgen_next(&m->ids, c.id, 9);
    int rc = chunk_walk(&c, jk);
    chunker_done(&c);
    if (rc) {
        mlog(m, GUN_LOG_WARN, "mesh: get %.*s failed: %s", (int)soul.len, soul.p,
             gun_strerror(rc));
        send_ack(m, p, msg->id, "Error: storage read failed.");
        return;
    }
    forward_get(m, p, msg, soul);
}

static int predicate_ok(gun__mesh *m, const gun__msg *msg)
{
    if (!m->cfg.predicate)
        return 1;
    gun__buf b;
    gun__buf_init(&b);
    gun__json_write(&b, msg->obj, GUN__JSON_JS);
    int ok = b.oom ? 0 : m->cfg.predicate(b.p, m->cfg.predicate_arg);
    gun__buf_free(&b);
    if (!ok)
        m->st.predicate_dropped++;
    return ok;
}

/* max_node_keys / max_put_keys, counted on the wire object before any validation or merge
 * work. A put over a cap is refused whole, like an invalid one, with an err ack. */
static int put_keys_ok(gun__mesh *m, peer *p, const gun__msg *msg)
{
    const gun__json *put = msg->put;
    if (put->t != GUN__J_OBJ || (!m->cfg.max_node_keys && !m->cfg.max_put_keys))
        return 1;
    char why[200];
    size_t total = 0;
    why[0] = 0;
    for (size_t i = 0; i < put->u.o.n && !why[0]; i++) {
        const gun__json *node = put->u.o.m[i].val;
        if (!node || node->t != GUN__J_OBJ)
            continue;
        size_t k = node->u.o.n - (gun__json_obj_getc(node, "_") ? 1 : 0);
        total += k;
        if (m->cfg.max_node_keys && k > m->cfg.max_node_keys)
            snprintf(why, sizeof why, "Too many keys on '%.*s' (%zu > %u)!",
                     (int)(put->u.o.m[i].key_len > 64 ? 64 : put->u.o.m[i].key_len),
                     put->u.o.m[i].key, k, m->cfg.max_node_keys);
    }
    if (!why[0] && m->cfg.max_put_keys && total > m->cfg.max_put_keys)
        snprintf(why, sizeof why, "Too many keys in one put (%zu > %u)!", total,
                 m->cfg.max_put_keys);
    if (!why[0])
        return 1;
    m->st.too_many_keys++;
    mlog(m, GUN_LOG_DEBUG, "mesh: put %.*s from %s refused: %s", (int)msg->id.len, msg->id.p,
         peer_name(p), why);
    if (!msg->ack.len)
        send_ack(m, p, msg->id, why);
    return 0;
}

/* A message that passed every check: the predicate, dedup, then its handler. */
static void hear_accept(gun__mesh *m, peer *p, gun__msg *msg, gun__str ash, uint64_t now)
{
    if (!predicate_ok(m, msg)) {
        gun__dedup_track(m->dup, msg->id, now);
        return;
    }
    gun__dedup_track_via(m->dup, msg->id, p->serial, now);
    if (ash.len)
        gun__dedup_track(m->dup, ash, now);
    if (msg->ack.len)
        handle_reply(m, p, msg);
    else if (msg->put)
        handle_put(m, p, msg);
    else if (msg->get)
        handle_get(m, p, msg);
}

/* ---- SEA firewall (issue 5, src/sea/firewall.c), off the loop ----
 * Every key on a `~@`, pub, `#` or `<?N` soul is checked before anything is stored or
 * forwarded. The check (an ECDSA verify per signed key, ~100 us) runs on libuv's worker
 * threads so one peer's signed puts never stall the others. Per peer, order is kept: a put
 * being verified holds every later message of its peer (gets and acks too) in arrival
 * order; one job per peer runs at a time, different peers' jobs run in parallel. A refusal
 * stores and forwards nothing of the put, answers it with Gun.js's text (replies, and the
 * cases where Gun.js stays silent, get no answer) and is counted by kind. Held messages of
 * a peer that disconnects are dropped (it re-sends unacknowledged writes). */

#define SEA_HELD_MAX 10000 /* messages held per peer before new ones are refused */

/* Shared with jobs on worker threads: outlives the mesh until the last job is back. */
typedef struct sea_ctx {
    gun__mesh *m; /* NULL once the mesh is gone */
    gun__fw *fw;
    int refs;     /* the mesh + each running job (loop thread only) */
} sea_ctx;

typedef struct sea_job sea_job;

/* One peer's held messages, oldest first; the map entry goes when it empties. */
typedef struct sea_q {
    sea_job *head, *tail;
    size_t n;
} sea_q;

struct sea_job {
    uv_work_t work;
    sea_ctx *ctx;
    struct sea_job *next;
    uint64_t serial;  /* the peer */
    gun__msg msg;     /* owns msg.obj */
    char ash[256];
    size_t ash_len;
    double now_ms;    /* state clock at arrival, for `<?N` */
    int verify;       /* a put the firewall must see */
    int running, done;
    int want_lookup;  /* the worker met a write block list: decide again on the loop */
    int rc;
    size_t omitted;
    gun__fw_result fr;
};

static void sea_ctx_unref(sea_ctx *c)
{
    if (--c->refs)
        return;
    gun__fw_free(c->fw);
    gun__free(c);
}

static void sea_job_free(sea_job *j)
{
    gun__json_free(j->msg.obj);
    gun__free(j);
}

/* Worker threads must not read the store: the lookup only notes that a write block list
 * matters, and the loop decides that put again with the store at hand. */
static int sea_lookup_later(void *arg, gun__str soul, gun__str key, gun__json **out)
{
    (void)soul, (void)key;
    *(int *)arg = 1;
    *out = NULL;
    return GUN_OK;
}

static void sea_work(uv_work_t *w)
{
    sea_job *j = w->data;
    j->rc = gun__fw_check_put(j->ctx->fw, gun__json_obj_get(j->msg.obj, "put", 3), j->now_ms,
                              sea_lookup_later, &j->want_lookup, &j->fr, &j->omitted);
}

static void sea_refused(gun__mesh *m, peer *p, sea_job *j)
{
    gun__msg *msg = &j->msg;
    if (j->rc) {
        mlog(m, GUN_LOG_ERROR, "mesh: put from %s dropped: firewall: %s", peer_name(p),
             gun_strerror(j->rc));
        return;
    }
    switch (j->fr.kind) {
    case GUN__FW_ALIAS: m->st.fw_alias++; break;
    case GUN__FW_ACCOUNT: m->st.fw_account++; break;
    case GUN__FW_UNVERIFIED: m->st.fw_unverified++; break;
    case GUN__FW_UNCERTIFIED: m->st.fw_uncertified++; break;
    case GUN__FW_CERT: m->st.fw_cert++; break;
    case GUN__FW_CERT_DROP: m->st.fw_cert_dropped++; break;
    default: m->st.fw_hash++; break;
    }
    mlog(m, GUN_LOG_DEBUG, "mesh: put %.*s from %s refused by the firewall: %s",
         (int)msg->id.len, msg->id.p, peer_name(p), j->fr.why ? j->fr.why : "(silent)");
    if (j->fr.why && !msg->ack.len)
        send_ack(m, p, msg->id, j->fr.why);
}

static void sea_after(uv_work_t *w, int status);

/* Runs the held messages of peer `serial` from the front until one must wait for a worker. */
static void sea_pump(gun__mesh *m, uint64_t serial)
{
    sea_q *q = gun__map_get(m->sea_qs, (const char *)&serial, sizeof serial);
    sea_job *j;
    while (q && (j = q->head) && !j->running) {
        if (j->verify && !j->done) {
            j->running = 1;
            j->ctx->refs++;
            if (!uv_queue_work(m->loop, &j->work, sea_work, sea_after))
                return;
            j->ctx->refs--;
            j->running = 0;
            j->rc = GUN_ENOMEM; /* no worker: refused below, as an OOM would be */
            j->done = 1;
        }
        q->head = j->next;
        q->n--;
        peer *p = peer_by_serial(m, serial);
        if (p && !p->closing) {
            m->st.fw_omitted += j->omitted;
            if (j->verify && (j->rc || j->fr.kind != GUN__FW_PASS))
                sea_refused(m, p, j);
            else
                hear_accept(m, p, &j->msg, (gun__str){j->ash, j->ash_len}, gun__mono_ms());
        }
        sea_job_free(j);
        /* the handler may have closed the mesh; it is gone then only at the end of the turn,
         * but its map of queues is: look the queue up again */
        if (!m->sea_qs)
            return;
        q = gun__map_get(m->sea_qs, (const char *)&serial, sizeof serial);
    }
    if (q && !q->head) {
        gun__map_del(m->sea_qs, (const char *)&serial, sizeof serial);
        gun__free(q);
    }
}

static void sea_after(uv_work_t *w, int status)
{
    sea_job *j = w->data;
    sea_ctx *c = j->ctx;
    gun__mesh *m = c->m;
    j->running = 0;
    j->done = 1;
    if (!m) { /* the mesh closed meanwhile: the job was already unlinked */
        sea_job_free(j);
        sea_ctx_unref(c);
        return;
    }
    sea_ctx_unref(c);
    if (status)
        j->rc = GUN_ECLOSED;
    else if (!j->rc && j->fr.kind == GUN__FW_PASS && j->want_lookup && m->store)
        /* A certificate with a write block list: the verdict needs the store. Rare, and
         * the keys are cached now. */
        j->rc = gun__fw_check_put(c->fw, gun__json_obj_get(j->msg.obj, "put", 3), j->now_ms,
                                  gun__fw_store_lookup, m->store, &j->fr, &j->omitted);
    sea_pump(m, j->serial);
}

/* Does any soul of this put concern the firewall? */
static int sea_wanted(const gun__json *put)
{
    for (size_t i = 0; put && put->t == GUN__J_OBJ && i < put->u.o.n; i++)
        if (gun__fw_applies((gun__str){put->u.o.m[i].key, put->u.o.m[i].key_len}))
            return 1;
    return 0;
}

/* Holds msg (taking its object) when it needs the firewall or its peer has messages held
 * already; 1 when held or refused, 0 to go on at once. */
static int sea_hold(gun__mesh *m, peer *p, gun__msg *msg, gun__str ash, uint64_t now)
{
    sea_q *q = m->sea_qs ? gun__map_get(m->sea_qs, (const char *)&p->serial, sizeof p->serial)
                         : NULL;
    int verify = msg->put && sea_wanted(msg->put);
    if (!q && !verify)
        return 0;
    if (!m->sea) {
        sea_ctx *c = gun__calloc(1, sizeof *c);
        gun__map *qs = gun__map_new();
        if (!c || !qs || gun__fw_new(&c->fw, 0, 0)) {
            gun__free(c);
            gun__map_free(qs, NULL);
            mlog(m, GUN_LOG_ERROR, "mesh: message from %s dropped: firewall: out of memory",
                 peer_name(p));
            return 1;
        }
        c->m = m;
        c->refs = 1;
        m->sea = c;
        m->sea_qs = qs;
    }
    if (!q) {
        q = gun__calloc(1, sizeof *q);
        if (q && gun__map_put(m->sea_qs, (const char *)&p->serial, sizeof p->serial, q, NULL)) {
            gun__free(q);
            q = NULL;
        }
    }
    sea_job *j = q && q->n < SEA_HELD_MAX ? gun__calloc(1, sizeof *j) : NULL;
    if (!j) {
        m->st.fw_backlog++;
        mlog(m, GUN_LOG_WARN, "mesh: message from %s dropped: %zu already wait for the firewall",
             peer_name(p), q ? q->n : 0);
        if (q && !q->n) {
            gun__map_del(m->sea_qs, (const char *)&p->serial, sizeof p->serial);
            gun__free(q);
        }
        return 1;
    }
    j->work.data = j;
    j->ctx = m->sea;
    j->serial = p->serial;
    j->msg = *msg;
    msg->obj = NULL; /* the job owns it; the views stay valid */
    j->ash_len = ash.len < sizeof j->ash ? ash.len : 0;
    if (j->ash_len)
        memcpy(j->ash, ash.p, j->ash_len);
    j->now_ms = gun__now_ms();
    j->verify = verify;
    /* Seen from now on: a copy through another peer is not verified twice. */
    gun__dedup_track_via(m->dup, msg->id, p->serial, now);
    if (q->tail && q->n)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
    if (q->n++ == 0)
        sea_pump(m, p->serial);
    return 1;
}

static void sea_q_free(void *v)
{
    sea_q *q = v;
    while (q->head) {
        sea_job *j = q->head;
        q->head = j->next;
        if (!j->running) /* a running one is freed when its worker is back */
            sea_job_free(j);
    }
    gun__free(q);
}

/* The mesh is closing: held messages go, running jobs find ctx->m NULL when they return. */
static void sea_release(gun__mesh *m)
{
    gun__map_free(m->sea_qs, sea_q_free);
    m->sea_qs = NULL;
    if (m->sea) {
        m->sea->m = NULL;
        sea_ctx_unref(m->sea);
        m->sea = NULL;
    }
}
/* ---- end SEA firewall ---- */

static void hear_one(gun__mesh *m, peer *p, gun__msg *msg)
{
    uint64_t now = gun__mono_ms();
    char idbuf[16];
    if (!msg->id.len) {
        /* Gun.js gives an id to a message that has none. */
        gun__idgen_next(&m->ids, idbuf, 9);
        if (set_str(msg->obj, "#", idbuf, 9))
            return;
        gun__msg_bind(msg);
    }
    /* Our own greeting coming back: we dialed ourselves. Checked before dedup, which would
     * otherwise swallow it as a message we sent. */
    if (gun__str_eqc(msg->dam, "?") && gun__str_eqc(msg->pid, m->pid)) {
        mlog(m, GUN_LOG_INFO, "mesh: %s is ourselves, disconnecting", peer_name(p));
        gun__conn_close(p->conn, "self");
        return;
    }
    if (gun__dedup_check(m->dup, msg->id, now)) {
        m->st.dup_dropped++;
        return;
    }
    gun__str ash = {0};
    char ashbuf[256];
    if (msg->has_hash) {
        gun__str base = msg->ack.len ? msg->ack : (msg->get ? msg->id : (gun__str){0});
        if (base.len && base.len < 200) {
            int n = snprintf(ashbuf, sizeof ashbuf, "%.*s%d", (int)base.len, base.p, msg->hash);
            ash = (gun__str){ashbuf, (size_t)n};
            if (gun__dedup_check(m->dup, ash, now)) {
                m->st.dup_dropped++;
                return;
            }
        }
    }
    if (msg->dam.len) {
        gun__dedup_track(m->dup, msg->id, now);
        handle_dam(m, p, msg);
        return;
    }
    if (msg->put && !put_keys_ok(m, p, msg)) {
        gun__dedup_track_via(m->dup, msg->id, p->serial, now);
        return;
    }
    if (msg->put) {
        /* Validate before the predicate sees it. */
        gun__graph g;
        gun__err e;
        int rc = gun__graph_from_put(msg->put, &g, &e);
        gun__graph_free(&g);
        if (rc) {
            gun__dedup_track_via(m->dup, msg->id, p->serial, now);
            m->st.bad_put++;
            mlog(m, GUN_LOG_DEBUG, "mesh: invalid put from %s: %s", peer_name(p), e.msg);
            if (!msg->ack.len)
                send_ack(m, p, msg->id, e.msg);
            return;
        }
    }
    /* SEA firewall (issue 5): off the loop, per-peer order kept (sea_hold above) */
    if (sea_hold(m, p, msg, ash, now))
        return;
    hear_accept(m, p, msg, ash, now);
}

/* ---- transport callbacks ---- */

static void resend_state(gun__mesh *m, peer *p)
{
    /* Re-ask remembered subscriptions (non-relays, as Gun.js clients do on `hi`). */
    if (!m->cfg.super_peer) {
        size_t it = 0;
        gun__map_ent *e;
        while ((e = gun__map_next(m->asked, &it))) {
            size_t soul_len = strnlen(e->key, e->key_len);
            gun__json *o = new_msg(m), *get = gun__json_obj();
            if (!o || !get) {
                gun__json_free(o), gun__json_free(get);
                break;
            }
            set_str(get, "#", e->key, soul_len);
            if (soul_len < e->key_len)
                set_str(get, ".", e->key + soul_len + 1, e->key_len - soul_len - 1);
            gun__json_obj_set(o, "get", 3, get);
            send_obj(m, p, o);
            gun__json_free(o);
        }
    }
    /* Writes nobody has acknowledged yet: the offline outbox. */
    for (outmsg *o = m->out_head; o; o = o->next)
        send_frame(m, p, o->frame);
}

static void t_open(void *arg, gun__conn *c)
{
    gun__mesh *m = arg;
    peer *p = c->user;
    if (!p && !(p = peer_new(m, c))) {
        mlog(m, GUN_LOG_ERROR, "mesh: out of memory accepting %s", c->remote);
        gun__conn_close(c, "oom");
        return;
    }
    p->pid[0] = 0;
    p->closing = 0;
    p->tokens_ms = 0;
    p->excess = 0;
    m->open_peers++;
    m->st.conns_total++;
    mlog(m, GUN_LOG_INFO, "mesh: peer %s connected (%s)", c->remote,
         c->outgoing ? "outgoing" : "incoming");
    if (!c->outgoing) {
        /* The accepting side greets: {"#":id,"dam":"?","pid":pid} */
        gun__json *o = gun__json_obj();
        if (o && !set_str(o, "#", p->id, strlen(p->id)) && !set_str(o, "dam", "?", 1) &&
            !set_str(o, "pid", m->pid, strlen(m->pid)))
            send_obj(m, p, o);
        gun__json_free(o);
    }
    resend_state(m, p);
}

/* Takes one message's token from an accepted peer's bucket (msg_rate per second, msg_burst
 * deep). The first refused message of a flood gets a DAM error; a peer that keeps going
 * until msg_burst more were refused without letting the bucket fill up again is dropped.
 * Peers we dialed are not limited: the operator chose them. */
static int rate_take(gun__mesh *m, peer *p)
{
    if (!m->cfg.msg_rate || p->conn->outgoing)
        return 1;
    uint64_t now = gun__mono_ms();
    double burst = m->cfg.msg_burst ? m->cfg.msg_burst : m->cfg.msg_rate;
    if (!p->tokens_ms) {
        p->tokens = burst;
    } else if (now > p->tokens_ms) {
        p->tokens += (double)(now - p->tokens_ms) * m->cfg.msg_rate / 1000.0;
        if (p->tokens >= burst) {
            p->tokens = burst;
            p->excess = 0;
        }
    }
    p->tokens_ms = now;
    if (p->tokens >= 1) {
        p->tokens -= 1;
        return 1;
    }
    m->st.rate_limited++;
    if (++p->excess == 1) {
        mlog(m, GUN_LOG_WARN, "mesh: peer %s over %u messages/s: messages dropped",
             p->conn->remote, m->cfg.msg_rate);
        send_dam_error(m, p, "Too many messages!");
    } else if (p->excess >= burst && !p->closing) {
        mlog(m, GUN_LOG_WARN, "mesh: peer %s kept flooding after the error, disconnecting",
             p->conn->remote);
        m->st.rate_disconnects++;
        p->closing = 1;
        gun__conn_close(p->conn, "rate");
    }
    return 0;
}

static void t_frame(void *arg, gun__conn *c, const char *text, size_t len)
{
    gun__mesh *m = arg;
    peer *p = c->user;
    if (!p || p->closing)
        return;
    m->st.bytes_in += len;
    if (!len || (text[0] != '{' && text[0] != '['))
        return; /* Gun.js ignores anything else */
    gun__msg *msgs = NULL;
    size_t n = 0, skipped = 0;
    gun__err e;
    int rc = gun__frame_parse(text, len, &m->cfg.lim, &msgs, &n, &skipped, &e);
    if (rc) {
        /* Garbage costs a token like a message: a flood of it is a flood. */
        if (!rate_take(m, p))
            return;
        if (rc == GUN_ETOOBIG) {
            m->st.too_big++;
            send_dam_error(m, p, "Message too big!");
        } else {
            if (rc == GUN_EDEPTH)
                m->st.too_deep++;
            else
                m->st.bad_json++;
            mlog(m, GUN_LOG_DEBUG, "mesh: bad frame from %s: %s", c->remote, e.msg);
            send_dam_error(m, p, "DAM JSON parse error.");
        }
        return;
    }
    uint64_t serial = p->serial;
    for (size_t i = 0; i < n; i++) {
        /* A handler may close the peer; stop feeding it then. */
        if (!peer_by_serial(m, serial) || p->closing)
            break;
        if (!rate_take(m, p))
            continue;
        m->st.msgs_in++;
        hear_one(m, p, &msgs[i]);
    }
    gun__msgs_free(msgs, n);
}

static void t_refused(void *arg, int why)
{
    gun__mesh *m = arg;
    if (why == GUN__REFUSED_PER_IP)
        m->st.conns_refused_ip++;
    else
        m->st.conns_refused_max++;
}

static void t_oversize(void *arg, gun__conn *c, size_t len)
{
    gun__mesh *m = arg;
    peer *p = c->user;
    m->st.too_big++;
    mlog(m, GUN_LOG_WARN, "mesh: message of %zu bytes from %s over the %zu byte cap", len,
         c->remote, m->cfg.lim.max_bytes);
    if (p)
        send_dam_error(m, p, "Message too big!");
}

static void t_close(void *arg, gun__conn *c, const char *why)
{
    gun__mesh *m = arg;
    peer *p = c->user;
    if (!p)
        return;
    m->open_peers--;
    p->batching = 0;
    gun__buf_reset(&p->batch);
    mlog(m, GUN_LOG_INFO, "mesh: peer %s disconnected (%s)", c->remote, why);
    unsubscribe_all(m, p);
    /* Outgoing peers keep their peer object for the reconnect. */
    if (!c->outgoing || m->closing)
        peer_free(m, p);
}

static const gun__transport_cbs tcbs = {t_open, t_frame, t_oversize, t_close, t_refused};

/* ---- timers ---- */

static void heartbeat_cb(uv_timer_t *t)
{
    gun__mesh *m = t->data;
    gun__frame *f = gun__frame_new("[]", 2);
    if (!f)
        return;
    for (peer *p = m->peers; p; p = p->next)
        if (peer_open(p))
            send_now(m, p, f);
    gun__frame_unref(f);
}

static void expire_cb(uv_timer_t *t)
{
    gun__mesh *m = t->data;
    gun__dedup_expire(m->dup, gun__mono_ms());
}

/* ---- public ---- */

int gun__mesh_new(gun__mesh **out, const gun__mesh_cfg *cfg, gun__err *e)
{
    if (!cfg || !cfg->loop || !cfg->core || !cfg->store)
        return gun__fail(e, GUN_EINVAL, "mesh: loop, core and store are required");
    gun__mesh *m = gun__calloc(1, sizeof *m);
    if (!m)
        return gun__fail(e, GUN_ENOMEM, "mesh: out of memory");
    m->cfg = *cfg;
    m->cfg.peers = NULL;
    m->cfg.npeers = 0;
    if (!m->cfg.ack_timeout_ms)
        m->cfg.ack_timeout_ms = 9000;
    if (!m->cfg.lim.max_bytes)
        m->cfg.lim.max_bytes = 8u << 20;
    if (!m->cfg.lim.max_depth)
        m->cfg.lim.max_depth = 64;
    if (!m->cfg.pack)
        m->cfg.pack = 9000;
    if (!m->cfg.outbox_max)
        m->cfg.outbox_max = 16u << 20;
    m->loop = cfg->loop;
    m->core = cfg->core;
    m->store = cfg->store;
    gun__buf_init(&m->scratch);
    m->dup = gun__dedup_new(cfg->dedup_age_ms ? cfg->dedup_age_ms : 9000,
                            cfg->dedup_max ? cfg->dedup_max : 100000);
    m->by_serial = gun__map_new_borrowed(); /* keys: each peer's serial */
    m->subs = gun__map_new();
    m->reqs = gun__map_new();
    m->outbox_ids = gun__map_new();
    m->asked = gun__map_new();
    if (!m->dup || !m->by_serial || !m->subs || !m->reqs || !m->outbox_ids || !m->asked ||
        gun__random_id(m->pid, 9)) {
        gun__mesh_free(m);
        return gun__fail(e, GUN_ENOMEM, "mesh: out of memory");
    }
    uv_timer_init(m->loop, &m->heartbeat);
    uv_timer_init(m->loop, &m->expire);
    uv_timer_init(m->loop, &m->reqtimer);
    uv_timer_init(m->loop, &m->pushtimer);
    uv_check_init(m->loop, &m->flush);
    uv_timer_init(m->loop, &m->conttimer);
    m->conttimer.data = m;
    m->flush.data = m;
    m->heartbeat.data = m->expire.data = m->reqtimer.data = m->pushtimer.data = m;
    uv_unref((uv_handle_t *)&m->heartbeat);
    uv_unref((uv_handle_t *)&m->expire);
    uv_timer_start(&m->heartbeat, heartbeat_cb, HEARTBEAT_MS, HEARTBEAT_MS);
    uv_timer_start(&m->expire, expire_cb, EXPIRE_MS, EXPIRE_MS);

    gun__ws_cfg wc;
    memset(&wc, 0, sizeof wc);
    wc.loop = m->loop;
    wc.host = cfg->host;
    wc.port = cfg->port;
    wc.path = "/gun";
    wc.tls_cert = cfg->tls_cert;
    wc.tls_key = cfg->tls_key;
    wc.tls_insecure_client = cfg->tls_insecure_client;
    /* The transport joins fragments up to the frame cap; the parser checks it again. */
    wc.max_frame = m->cfg.lim.max_bytes;
    wc.max_queue = cfg->max_queue;
    wc.max_conns = cfg->max_conns;
    wc.max_conns_per_ip = cfg->max_conns_per_ip;
    wc.retry_max_ms = 2000;
    wc.http = cfg->http;
    wc.http_arg = cfg->http_arg;
    wc.log = cfg->log;
    wc.log_arg = cfg->log_arg;
    wc.log_level = cfg->log_level;
    int rc = gun__ws_new(&m->ws, &wc, &tcbs, m, e);
    if (rc) {
        gun__mesh_free(m);
        return rc;
    }
    for (size_t i = 0; i < cfg->npeers; i++) {
        gun__conn *c = NULL;
        rc = gun__ws_connect(m->ws, cfg->peers[i], &c);
        if (rc) {
            gun__fail(e, rc, "mesh: bad peer URL '%s'", cfg->peers[i]);
            gun__mesh_free(m);
            return rc;
        }
        if (!peer_new(m, c)) {
            gun__mesh_free(m);
            return gun__fail(e, GUN_ENOMEM, "mesh: out of memory");
        }
    }
    *out = m;
    return GUN_OK;
}

static void handle_closed(uv_handle_t *h)
{
    gun__mesh *m = h->data;
    if (--m->handles == 0)
        gun__free(m);
}

void gun__mesh_free(gun__mesh *m)
{
    if (!m)
        return;
    m->closing = 1;
    /* Pending callbacks learn that we are closing. */
    while (m->req_head) {
        gun__mesh_reply rep = {0};
        rep.err = GUN_ECLOSED;
        rep.done = 1;
        req_finish(m, m->req_head, &rep);
    }
    if (m->ws) {
        void *remains = gun__ws_free(m->ws); /* closes peers: t_close frees accepted ones */
        if (m->cfg.ws_remains)
            *m->cfg.ws_remains = remains;
    }
    while (m->peers)
        peer_free(m, m->peers);
    while (m->out_head)
        outbox_drop(m, m->out_head);
    while (m->acks_head) {
        pack_ack *a = m->acks_head;
        m->acks_head = a->next;
        gun__free(a);
    }
    gun__json_free(m->pend);
    m->pend = NULL;
    gun__dedup_free(m->dup);
    gun__map_free(m->by_serial, NULL);
    gun__map_free(m->subs, sublist_free);
    gun__map_free(m->reqs, NULL);
    gun__map_free(m->outbox_ids, NULL);
    gun__map_free(m->asked, NULL);
    gun__buf_free(&m->scratch);
    sea_release(m); /* SEA firewall (issue 5) */
    while (m->conts) {
        struct getcont *g = m->conts;
        m->conts = g->next;
        gun__free(g);
    }
    if (m->heartbeat.loop) {
        /* The timers live inside m: free it when the last one has closed. */
        m->handles = 6;
        uv_close((uv_handle_t *)&m->conttimer, handle_closed);
        uv_close((uv_handle_t *)&m->flush, handle_closed);
        uv_close((uv_handle_t *)&m->heartbeat, handle_closed);
        uv_close((uv_handle_t *)&m->expire, handle_closed);
        uv_close((uv_handle_t *)&m->reqtimer, handle_closed);
        uv_close((uv_handle_t *)&m->pushtimer, handle_closed);
    } else {
        gun__free(m);
    }
}

int gun__mesh_port(const gun__mesh *m) { return gun__ws_port(m->ws); }
size_t gun__mesh_peer_count(const gun__mesh *m) { return atomic_load(&m->open_peers); }
const char *gun__mesh_pid(const gun__mesh *m) { return m->pid; }
const gun__mesh_stats *gun__mesh_get_stats(const gun__mesh *m) { return &m->st; }

int gun__mesh_put(gun__mesh *m, const gun__json *put, gun__mesh_reply_cb cb, void *arg)
{
    gun__json *o = new_msg(m);
    if (!o)
        return GUN_ENOMEM;
    gun__json *ok = gun__json_obj();
    if (!ok || gun__json_obj_set(o, "put", 3, gun__json_clone(put)) ||
        gun__json_obj_set(ok, "@", 1, gun__json_num(8)) ||
        gun__json_obj_set(ok, "/", 1, gun__json_num((double)atomic_load(&m->open_peers))) ||
        gun__json_obj_set(o, "ok", 2, ok)) {
        if (!ok)
            gun__json_free(ok);
        gun__json_free(o);
        return GUN_ENOMEM;
    }
    const gun__json *jid = gun__json_obj_getc(o, "#");
    char id[16];
    snprintf(id, sizeof id, "%s", jid->u.s.p);
    gun__frame *f = frame_of(m, o);
    gun__json_free(o);
    if (!f)
        return GUN_ENOMEM;
    outmsg *om = gun__calloc(1, sizeof *om);
    if (!om || gun__map_put(m->outbox_ids, id, strlen(id), om, NULL)) {
        gun__free(om);
        gun__frame_unref(f);
        return GUN_ENOMEM;
    }
    snprintf(om->id, sizeof om->id, "%s", id);
    om->frame = f;
    om->prev = m->out_tail;
    if (m->out_tail)
        m->out_tail->next = om;
    else
        m->out_head = om;
    m->out_tail = om;
    m->outbox_bytes += f->len;
    while (m->outbox_bytes > m->cfg.outbox_max && m->out_head != om) {
        mlog(m, GUN_LOG_WARN,
             "mesh: offline outbox over %zu bytes: oldest unacknowledged write %s is no "
             "longer re-sent (it stays in the local store)",
             m->cfg.outbox_max, m->out_head->id);
        outbox_drop(m, m->out_head);
    }
    if (cb && !req_new(m, REQ_PUT, id, cb, arg)) {
        outbox_drop(m, om);
        return GUN_ENOMEM;
    }
    for (peer *p = m->peers; p; p = p->next)
        send_frame(m, p, f);
    return GUN_OK;
}

int gun__mesh_get(gun__mesh *m, gun__str soul, const gun__str *key, gun__mesh_reply_cb cb,
                  void *arg)
{
    gun__buf *b = &m->scratch;
    gun__buf_reset(b);
    gun__buf_add(b, soul.p, soul.len);
    if (key) {
        gun__buf_addc(b, 0);
        gun__buf_add(b, key->p, key->len);
    }
    if (b->oom || gun__map_put(m->asked, b->p, b->len, (void *)1, NULL))
        return GUN_ENOMEM;
    gun__json *o = new_msg(m), *get = gun__json_obj();
    if (!o || !get || set_str(get, "#", soul.p, soul.len) ||
        (key && set_str(get, ".", key->p, key->len)) || gun__json_obj_set(o, "get", 3, get)) {
        gun__json_free(o);
        return GUN_ENOMEM;
    }
    char id[16];
    snprintf(id, sizeof id, "%s", gun__json_obj_getc(o, "#")->u.s.p);
    gun__frame *f = frame_of(m, o);
    gun__json_free(o);
    if (!f)
        return GUN_ENOMEM;
    size_t asked = 0;
    for (peer *p = m->peers; p; p = p->next)
        if (peer_open(p))
            asked++;
    if (!asked) {
        gun__frame_unref(f);
        if (cb) {
            gun__mesh_reply rep = {0};
            rep.done = 1;
            cb(arg, &rep);
        }
        return GUN_OK;
    }
    if (cb) {
        req *r = req_new(m, REQ_GET, id, cb, arg);
        if (!r) {
            gun__frame_unref(f);
            return GUN_ENOMEM;
        }
        r->asked = asked;
    }
    for (peer *p = m->peers; p; p = p->next)
        send_frame(m, p, f);
    gun__frame_unref(f);
    return GUN_OK;
}

void gun__mesh_cancel(gun__mesh *m, void *arg)
{
    for (req *r = m->req_head; r; r = r->next)
        if (r->arg == arg)
            r->cb = NULL;
}

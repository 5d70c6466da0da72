/* WebSocket transport: libwebsockets on the instance's libuv loop (DESIGN.md).
 *
 * Each connection keeps a queue of refcounted frames capped in bytes; a peer that cannot keep
 * up is disconnected rather than buffered without bound. What is queued in a loop turn is
 * written at the next idle phase, straight to the socket while it takes it; only a full socket
 * waits for lws's WRITEABLE callback (see flush_dirty). Incoming fragments are joined up to
 * the frame cap; a larger message is discarded and reported (Gun.js answers "Message too
 * big!"). Outgoing peers redial with a short backoff capped near Gun.js's fixed ~2 s. */
#include <uv.h>
/* uv.h first: lws picks up its libuv glue from it. */
#include <libwebsockets.h>

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../transport.h"

_Static_assert(GUN__FRAME_PRE >= LWS_PRE, "frame headroom must cover LWS_PRE");

/* ---- frames ---- */

gun__frame *gun__frame_new(const char *text, size_t len)
{
    gun__frame *f = gun__malloc(sizeof *f + GUN__FRAME_PRE + len + 1);
    if (!f)
        return NULL;
    f->refs = 1;
    f->len = len;
    f->data = (char *)(f + 1) + GUN__FRAME_PRE;
    if (len)
        memcpy(f->data, text, len);
    f->data[len] = 0;
    return f;
}

void gun__frame_unref(gun__frame *f)
{
    if (f && --f->refs == 0)
        gun__free(f);
}

/* ---- connections ---- */

/* What only a peer we dial needs. Accepted connections, nearly all of a relay's, go without:
 * the timer alone is a third of a ws_conn (bench conns, docs/performance.md). */
typedef struct ws_dial {
    uv_timer_t retry_timer; /* data: the ws_conn */
    uint32_t retry_n;
} ws_dial;

typedef struct ws_conn ws_conn;
struct ws_conn {
    gun__conn c; /* first: a gun__conn * is a ws_conn * */
    gun__ws *w;
    struct lws *wsi;
    /* send queue: ring of frames */
    gun__frame **q;
    size_t qcap, qhead, qlen;
    /* receive reassembly */
    gun__buf rx;
    size_t rx_dropping; /* > 0 while discarding an oversize message: bytes seen so far */
    ws_dial *dial; /* outgoing peers only; freed with the conn once its timer has closed */
    int closing_for_good; /* gun__conn_close was called */
    size_t held; /* bytes of the last message lws keeps after a partial send(), counted in
                    c.queued_bytes until lws has sent them (max_queue bounds them too) */
    int peer_closing; /* the peer sent a close frame: lws answers it, we write no more */
    int dirty;        /* on w->dirty: frames queued, not yet written */
    ws_conn *next, *prev;   /* w->conns */
    ws_conn *dnext, *dprev; /* w->dirty */
};

struct gun__ws {
    gun__ws_cfg cfg;
    gun__transport_cbs cbs;
    void *arg;
    uv_loop_t *loop;
    struct lws_context *ctx;
    struct lws_vhost *vh;
    int port;
    size_t nconns;   /* every ws_conn, outgoing included */
    size_t accepted; /* accepted connections currently open */
    gun__map *per_ip; /* remote address -> accepted connections open from it (uintptr_t) */
    ws_conn *conns;
    ws_conn *dirty, *dirty_tail; /* connections with frames to write, oldest first */
    uv_idle_t *flush; /* runs flush_dirty; its own allocation, freed by its close callback */
    int freeing;
    char *path;
};

static const gun__transport_ops ws_ops;

static void wlog(gun__ws *w, gun_log_level lvl, const char *fmt, ...) GUN__PRINTF(3, 4);
static void wlog(gun__ws *w, gun_log_level lvl, const char *fmt, ...)
{
    if (!w->cfg.log || lvl > w->cfg.log_level)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    w->cfg.log(lvl, msg, w->cfg.log_arg);
}

static void link_conn(gun__ws *w, ws_conn *k)
{
    k->next = w->conns;
    k->prev = NULL;
    if (w->conns)
        w->conns->prev = k;
    w->conns = k;
    w->nconns++;
}

static void unlink_conn(gun__ws *w, ws_conn *k)
{
    if (k->prev)
        k->prev->next = k->next;
    else
        w->conns = k->next;
    if (k->next)
        k->next->prev = k->prev;
    w->nconns--;
}

static void queue_clear(ws_conn *k)
{
    while (k->qlen) {
        gun__frame_unref(k->q[k->qhead]);
        k->qhead = (k->qhead + 1) % k->qcap;
        k->qlen--;
    }
    k->qhead = 0;
    k->c.queued_bytes = 0;
    k->held = 0;
}

static void conn_free_now(ws_conn *k)
{
    queue_clear(k);
    gun__free(k->q);
    gun__buf_free(&k->rx);
    gun__free(k->c.url);
    gun__free(k->dial);
    gun__free(k);
}

static void timer_closed(uv_handle_t *h) { conn_free_now(h->data); }

static void undirty(gun__ws *w, ws_conn *k)
{
    if (!k->dirty)
        return;
    if (k->dprev)
        k->dprev->dnext = k->dnext;
    else
        w->dirty = k->dnext;
    if (k->dnext)
        k->dnext->dprev = k->dprev;
    else
        w->dirty_tail = k->dprev;
    k->dnext = k->dprev = NULL;
    k->dirty = 0;
}

static void conn_destroy(ws_conn *k)
{
    undirty(k->w, k);
    unlink_conn(k->w, k);
    if (k->dial) {
        uv_timer_stop(&k->dial->retry_timer);
        uv_close((uv_handle_t *)&k->dial->retry_timer, timer_closed);
    } else {
        conn_free_now(k);
    }
}

static void flush_dirty(uv_idle_t *h);

static void mark_dirty(ws_conn *k)
{
    gun__ws *w = k->w;
    if (k->dirty)
        return;
    k->dirty = 1;
    k->dnext = NULL;
    k->dprev = w->dirty_tail;
    if (w->dirty_tail)
        w->dirty_tail->dnext = k;
    else
        w->dirty = k;
    w->dirty_tail = k;
    if (!uv_is_active((uv_handle_t *)w->flush))
        uv_idle_start(w->flush, flush_dirty);
}

/* Drops a peer that does not read: its queue goes, and so does the socket at once. A close
 * through lws alone waits until lws's rest of a partly sent message is out, which a peer that
 * never reads again never lets happen: the connection, its descriptor and that rest stayed.
 * Linger 0 makes the close a reset (nothing left in the kernel for it either); the shutdown
 * makes the descriptor readable at EOF, and lws closes the connection on its own path. */
static void drop_stuck(ws_conn *k)
{
    queue_clear(k);
    int fd = lws_get_socket_fd(k->wsi);
    if (fd >= 0) {
        struct linger lg = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        shutdown(fd, SHUT_RDWR);
    }
    lws_set_timeout(k->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
}

static int ws_send(gun__conn *c, gun__frame *f)
{
    ws_conn *k = (ws_conn *)c;
    if (!c->open || !k->wsi)
        return GUN_ECLOSED;
    if (c->dropping || k->closing_for_good || k->peer_closing)
        return GUN_ECLOSED;
    if (k->w->cfg.max_queue && c->queued_bytes + f->len > k->w->cfg.max_queue) {
        wlog(k->w, GUN_LOG_WARN,
             "ws: peer %s too slow: send queue would pass %zu bytes, disconnecting", c->remote,
             k->w->cfg.max_queue);
        /* Close without waiting to drain: the queue is the problem. */
        c->dropping = 1;
        drop_stuck(k);
        return GUN_ETOOBIG;
    }
    if (k->qlen == k->qcap) {
        size_t ncap = k->qcap ? k->qcap * 2 : 8;
        gun__frame **nq = gun__malloc(ncap * sizeof *nq);
        if (!nq)
            return GUN_ENOMEM;
        for (size_t i = 0; i < k->qlen; i++)
            nq[i] = k->q[(k->qhead + i) % k->qcap];
        gun__free(k->q);
        k->q = nq;
        k->qcap = ncap;
        k->qhead = 0;
    }
    k->q[(k->qhead + k->qlen) % k->qcap] = gun__frame_ref(f);
    k->qlen++;
    c->queued_bytes += f->len;
    mark_dirty(k);
    return GUN_OK;
}

static void ws_close(gun__conn *c, const char *why)
{
    ws_conn *k = (ws_conn *)c;
    k->closing_for_good = 1;
    if (k->dial)
        uv_timer_stop(&k->dial->retry_timer);
    if (k->wsi) {
        queue_clear(k);
        lws_set_timeout(k->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
    } else if (c->outgoing) {
        /* Not connected right now: nothing for lws to close. */
        conn_destroy(k);
    }
    (void)why;
}

static const gun__transport_ops ws_ops = {1, "ws", ws_send, ws_close};

/* ---- outgoing peers ---- */

static int dial(ws_conn *k);

static void retry_cb(uv_timer_t *t)
{
    ws_conn *k = t->data;
    if (!k->closing_for_good && !k->w->freeing)
        dial(k);
}

static void schedule_retry(ws_conn *k)
{
    static const uint32_t table[] = {100, 250, 500, 1000, 2000};
    uint32_t n = k->dial->retry_n < 5 ? k->dial->retry_n : 4;
    uint32_t ms = table[n];
    if (k->w->cfg.retry_max_ms && ms > k->w->cfg.retry_max_ms)
        ms = k->w->cfg.retry_max_ms;
    k->dial->retry_n++;
    uv_timer_start(&k->dial->retry_timer, retry_cb, ms, 0);
}

static int dial(ws_conn *k)
{
    char buf[1024];
    const char *prot, *ads, *path;
    int port;
    snprintf(buf, sizeof buf, "%s", k->c.url);
    if (lws_parse_uri(buf, &prot, &ads, &port, &path))
        return GUN_EINVAL;
    int tls = !strcmp(prot, "wss") || !strcmp(prot, "https");
    char fullpath[1024];
    snprintf(fullpath, sizeof fullpath, "/%s", path);
    struct lws_client_connect_info i;
    memset(&i, 0, sizeof i);
    i.context = k->w->ctx;
    i.address = ads;
    i.port = port;
    i.path = fullpath;
    i.host = ads;
    i.origin = ads;
    i.ssl_connection = tls ? LCCSCF_USE_SSL : 0;
    if (tls && k->w->cfg.tls_insecure_client)
        i.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK;
    i.opaque_user_data = k;
    i.pwsi = &k->wsi;
    if (!lws_client_connect_via_info(&i)) {
        /* lws reports most failures through CLIENT_CONNECTION_ERROR; this is the rest. */
        k->wsi = NULL;
        schedule_retry(k);
    }
    return GUN_OK;
}

/* Gun.js peers are given as http(s)://host:port/gun; map to ws(s):// as Gun.js does. */
int gun__ws_connect(gun__ws *w, const char *url, gun__conn **out)
{
    const char *rest;
    int tls;
    if (!strncmp(url, "ws://", 5))
        rest = url + 5, tls = 0;
    else if (!strncmp(url, "wss://", 6))
        rest = url + 6, tls = 1;
    else if (!strncmp(url, "http://", 7))
        rest = url + 7, tls = 0;
    else if (!strncmp(url, "https://", 8))
        rest = url + 8, tls = 1;
    else
        return GUN_EINVAL;
    if (!*rest || strlen(url) > 900)
        return GUN_EINVAL;
    ws_conn *k = gun__calloc(1, sizeof *k);
    if (!k)
        return GUN_ENOMEM;
    k->w = w;
    k->c.ops = &ws_ops;
    k->c.outgoing = 1;
    gun__buf buf;
    gun__buf_init(&buf);
    gun__buf_printf(&buf, "%s://%s", tls ? "wss" : "ws", rest);
    k->c.url = gun__buf_take(&buf);
    k->dial = gun__calloc(1, sizeof *k->dial);
    if (!k->c.url || !k->dial) {
        gun__free(k->c.url);
        gun__free(k->dial);
        gun__free(k);
        return GUN_ENOMEM;
    }
    snprintf(k->c.remote, sizeof k->c.remote, "%s", k->c.url);
    uv_timer_init(w->loop, &k->dial->retry_timer);
    k->dial->retry_timer.data = k;
    link_conn(w, k);
    if (out)
        *out = &k->c;
    /* Dial from the loop, never from inside the caller's stack. */
    uv_timer_start(&k->dial->retry_timer, retry_cb, 0, 0);
    return GUN_OK;
}

/* ---- plain HTTP (health, stats, metrics, static files) ---- */

#define HTTP_MAGIC 0x68747470u

typedef struct http_resp {
    uint32_t magic; /* tells it apart from a ws_conn in the opaque pointer */
    gun__http_reply r;
    size_t sent;
} http_resp;

static void http_resp_free(http_resp *h)
{
    if (h->r.fd >= 0)
        close(h->r.fd);
    gun__buf_free(&h->r.body);
    gun__free(h->r.location);
    gun__free(h);
}

/* Ends one request; a keep-alive connection may carry the next. */
static int http_done(struct lws *wsi, http_resp *h)
{
    lws_set_opaque_user_data(wsi, NULL);
    http_resp_free(h);
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static const char *http_method(struct lws *wsi)
{
    /* Indexed by lws_http_get_uri_and_method's LWSHUMETH_* result. */
    static const char *const names[] = {"GET",    "POST",    "OPTIONS", "PUT",
                                        "PATCH",  "DELETE",  "CONNECT", "HEAD"};
    char *uri;
    int len;
    int m = lws_http_get_uri_and_method(wsi, &uri, &len);
    return m >= 0 && (size_t)m < sizeof names / sizeof names[0] ? names[m] : "GET";
}

static int add_header(struct lws *wsi, const char *name, const char *value, unsigned char **p,
                      unsigned char *end)
{
    return lws_add_http_header_by_name(wsi, (const unsigned char *)name,
                                       (const unsigned char *)value, (int)strlen(value), p, end);
}

static int http_request(gun__ws *w, struct lws *wsi, const char *uri)
{
    const char *method = http_method(wsi);
    http_resp *h = lws_get_opaque_user_data(wsi);
    if (h && h->magic == HTTP_MAGIC) {
        /* A keep-alive request that arrived before the last answer ended. */
        lws_set_opaque_user_data(wsi, NULL);
        http_resp_free(h);
    }
    h = gun__calloc(1, sizeof *h);
    if (!h)
        return -1;
    h->magic = HTTP_MAGIC;
    h->r.fd = -1;
    gun__buf_init(&h->r.body);
    h->r.ctype = "text/plain; charset=utf-8";
    int status = w->cfg.http ? w->cfg.http(w->cfg.http_arg, method, uri ? uri : "/", &h->r) : 0;
    if (!status) {
        status = HTTP_STATUS_NOT_FOUND;
        gun__buf_reset(&h->r.body);
        gun__buf_adds(&h->r.body, "not found\n");
        h->r.ctype = "text/plain; charset=utf-8";
    }
    if (h->r.body.oom) {
        http_resp_free(h);
        return -1;
    }
    lws_set_opaque_user_data(wsi, h);
    uint64_t len = h->r.fd >= 0 ? h->r.file_len : h->r.body.len;
    unsigned char hdr[LWS_PRE + 2048], *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof hdr - 1;
    if (lws_add_http_common_headers(wsi, (unsigned)status, h->r.ctype, (lws_filepos_t)len, &p, end) ||
        add_header(wsi, "access-control-allow-origin:", "*", &p, end) ||
        add_header(wsi, "x-content-type-options:", "nosniff", &p, end) ||
        (!h->r.cacheable && add_header(wsi, "cache-control:", "no-store", &p, end)) ||
        (h->r.location && add_header(wsi, "location:", h->r.location, &p, end)) ||
        (h->r.allow && add_header(wsi, "allow:", h->r.allow, &p, end)) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return 1;
    if (!strcmp(method, "HEAD") || !len)
        return http_done(wsi, h);
    lws_callback_on_writable(wsi);
    return 0;
}

/* One chunk per WRITEABLE: a large file never sits in memory, and a slow reader only holds
 * its file descriptor. */
static int http_body(struct lws *wsi)
{
    http_resp *h = lws_get_opaque_user_data(wsi);
    if (!h || h->magic != HTTP_MAGIC)
        return 0;
    uint64_t total = h->r.fd >= 0 ? h->r.file_len : h->r.body.len;
    uint64_t left = total - h->sent;
    size_t n = left > 16384 ? 16384 : (size_t)left;
    unsigned char *buf = gun__malloc(LWS_PRE + n);
    if (!buf)
        return -1;
    if (h->r.fd >= 0) {
        ssize_t got = read(h->r.fd, buf + LWS_PRE, n);
        if (got <= 0) {
            /* The file shrank under us: the promised length cannot be kept. */
            gun__free(buf);
            return -1;
        }
        n = (size_t)got;
    } else {
        memcpy(buf + LWS_PRE, h->r.body.p + h->sent, n);
    }
    int final = h->sent + n == total;
    int wr = lws_write(wsi, buf + LWS_PRE, n, final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP);
    gun__free(buf);
    if (wr < (int)n)
        return -1;
    h->sent += n;
    if (!final) {
        lws_callback_on_writable(wsi);
        return 0;
    }
    return http_done(wsi, h);
}

/* ---- connections per remote address ---- */

static size_t ip_count(gun__ws *w, const char *ip)
{
    return (size_t)(uintptr_t)gun__map_get(w->per_ip, ip, strlen(ip));
}

/* Adds d (+1 or -1) to ip's count; an address with none left leaves the map, so the map
 * holds only addresses with open connections. */
static void ip_add(gun__ws *w, const char *ip, int d)
{
    size_t n = ip_count(w, ip);
    n = d > 0 ? n + 1 : (n ? n - 1 : 0);
    if (!n)
        gun__map_del(w->per_ip, ip, strlen(ip));
    else if (gun__map_put(w->per_ip, ip, strlen(ip), (void *)(uintptr_t)n, NULL))
        wlog(w, GUN_LOG_ERROR, "ws: out of memory counting connections of %s", ip);
}

static void refuse(gun__ws *w, int why)
{
    if (w->cbs.on_refused)
        w->cbs.on_refused(w->arg, why);
}

/* ---- lws callback ---- */

static int uri_is_path(struct lws *wsi, const char *path)
{
    char uri[256];
    int n = lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI);
    if (n <= 0)
        return 0;
    char *q = strchr(uri, '?');
    if (q)
        *q = 0;
    return !strcmp(uri, path);
}

static void deliver(ws_conn *k, struct lws *wsi, const char *in, size_t len)
{
    gun__ws *w = k->w;
    int final = lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi);
    if (k->rx_dropping) {
        k->rx_dropping += len;
        if (final) {
            size_t total = k->rx_dropping;
            k->rx_dropping = 0;
            if (w->cbs.on_oversize)
                w->cbs.on_oversize(w->arg, &k->c, total);
        }
        return;
    }
    if (final && k->rx.len == 0) {
        if (len > w->cfg.max_frame) {
            if (w->cbs.on_oversize)
                w->cbs.on_oversize(w->arg, &k->c, len);
            return;
        }
        /* Common case: one fragment, no copy. */
        w->cbs.on_frame(w->arg, &k->c, in, len);
        return;
    }
    /* The frame header announces the rest of this frame: an oversize frame is refused at
     * its first chunk instead of being buffered up to the cap first. */
    if (k->rx.len + len + lws_remaining_packet_payload(wsi) > w->cfg.max_frame) {
        k->rx_dropping = k->rx.len + len;
        gun__buf_free(&k->rx);
        if (final) {
            size_t total = k->rx_dropping;
            k->rx_dropping = 0;
            if (w->cbs.on_oversize)
                w->cbs.on_oversize(w->arg, &k->c, total);
        }
        return;
    }
    gun__buf_add(&k->rx, in, len);
    if (k->rx.oom) {
        wlog(w, GUN_LOG_ERROR, "ws: out of memory joining a message from %s", k->c.remote);
        gun__buf_free(&k->rx);
        lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
        return;
    }
    if (final) {
        /* The callee may send or close, but the buffer is ours until it returns. */
        gun__buf msg = k->rx;
        gun__buf_init(&k->rx);
        w->cbs.on_frame(w->arg, &k->c, msg.p, msg.len);
        gun__buf_free(&msg);
    }
}

/* Frames waiting together (a subscriber behind on pushes, a burst of acks) leave as one
 * WebSocket message, the Gun batch "[a,b,...]" that Gun.js and we read as the messages one by
 * one (spec §3.10): one send() instead of one per frame, which was 40% of a saturated
 * fan-out's time. Bounded so that no peer gets a message bigger than this. */
#define COALESCE_MAX (64 * 1024)

/* The messages of frame f as batch members: an object as it is, an array without its
 * brackets (empty for "[]"). 0 if f is neither (never coalesced). */
static int batch_body(const gun__frame *f, const char **p, size_t *len)
{
    if (f->len >= 2 && f->data[0] == '{') {
        *p = f->data, *len = f->len;
        return 1;
    }
    if (f->len >= 2 && f->data[0] == '[' && f->data[f->len - 1] == ']') {
        *p = f->data + 1, *len = f->len - 2;
        return 1;
    }
    return 0;
}

/* A drained queue gives its ring back: an idle connection holds none (bench conns). */
static gun__frame *queue_pop(ws_conn *k)
{
    gun__frame *f = k->q[k->qhead];
    k->qhead = (k->qhead + 1) % k->qcap;
    k->qlen--;
    k->c.queued_bytes -= f->len;
    if (!k->qlen) {
        gun__free(k->q);
        k->q = NULL;
        k->qcap = k->qhead = 0;
    }
    return f;
}

static int write_one(ws_conn *k, struct lws *wsi)
{
    if (!k->qlen)
        return 0;
    /* How many of the waiting frames fit in one batch. */
    size_t n = 0, total = 2;
    while (n < k->qlen) {
        const char *p;
        size_t len;
        if (!batch_body(k->q[(k->qhead + n) % k->qcap], &p, &len) ||
            (n && total + len + 1 > COALESCE_MAX))
            break;
        total += len + 1;
        n++;
    }
    int rc;
    size_t msg_len;
    char *buf = n > 1 ? gun__malloc(GUN__FRAME_PRE + total) : NULL;
    if (buf) {
        char *o = buf + GUN__FRAME_PRE, *start = o;
        *o++ = '[';
        for (size_t i = 0; i < n; i++) {
            gun__frame *f = queue_pop(k);
            const char *p;
            size_t len;
            batch_body(f, &p, &len);
            if (len) {
                if (o > start + 1)
                    *o++ = ',';
                memcpy(o, p, len);
                o += len;
            }
            gun__frame_unref(f);
        }
        *o++ = ']';
        msg_len = (size_t)(o - start);
        rc = lws_write(wsi, (unsigned char *)start, msg_len, LWS_WRITE_TEXT);
        gun__free(buf);
    } else { /* one frame, or no memory to join them: as it is */
        gun__frame *f = queue_pop(k);
        msg_len = f->len;
        rc = lws_write(wsi, (unsigned char *)f->data, msg_len, LWS_WRITE_TEXT);
        gun__frame_unref(f);
    }
    if (rc < 0)
        return -1;
    if (lws_partial_buffered(wsi)) { /* lws has the rest: at most the whole message */
        k->held = msg_len;
        k->c.queued_bytes += msg_len;
    }
    return 0;
}

/* Writes the queue while the socket takes each write whole. What the socket did not take lws
 * keeps (lws_partial_buffered) and sends first on the next WRITEABLE, where the rest of the
 * queue follows; lws allows several writes in a row when this is checked after each. -1: the
 * connection is lost. */
static int write_queue(ws_conn *k, struct lws *wsi)
{
    for (;;) {
        if (lws_partial_buffered(wsi)) {
            lws_callback_on_writable(wsi); /* also to learn when lws's part is out */
            return 0;
        }
        if (k->held) {
            k->c.queued_bytes -= k->held;
            k->held = 0;
        }
        if (!k->qlen)
            return 0;
        if (write_one(k, wsi) < 0)
            return -1;
    }
}

/* Connections written per idle phase (cfg.flush_budget). A fan-out to thousands of subscribers would otherwise
 * be one long loop turn in which nothing is read: the writer's next updates (lws reads 1 kB of
 * a connection per turn) wait for the whole round, so each subscriber's write carries fewer of
 * them. With a budget the round spans several turns, oldest first, reads go on between, and a
 * subscriber's queue joins everything that came meanwhile into its next write. */
#define FLUSH_BUDGET 256

/* Idle phase (so the loop does not block while anything is queued): connections with frames
 * queued write them now, joined into one message, instead of asking lws for a WRITEABLE
 * callback. Waiting for WRITEABLE cost each write a loop turn and four epoll_ctl calls (libuv
 * stops and restarts the poll handle to add POLLOUT and again to drop it), a third of the
 * relay's time in a 200-subscriber fan-out (docs/performance.md). A socket that does not take
 * everything still waits for WRITEABLE. */
static void flush_dirty(uv_idle_t *h)
{
    gun__ws *w = h->data;
    ws_conn *k;
    for (uint32_t budget = w->cfg.flush_budget; budget > 0 && (k = w->dirty); budget--) {
        undirty(w, k);
        if (!k->wsi || !k->c.open || k->c.dropping || k->peer_closing)
            continue;
        if (write_queue(k, k->wsi) < 0) {
            /* lws marked the socket unusable: it closes the connection from its own loop. */
            queue_clear(k);
            lws_set_timeout(k->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
        }
    }
    if (!w->dirty)
        uv_idle_stop(h);
}

static void conn_down(ws_conn *k, const char *why)
{
    gun__ws *w = k->w;
    int was_open = k->c.open;
    k->c.open = 0;
    k->c.dropping = 0; /* an outgoing peer starts afresh when it redials */
    k->wsi = NULL;
    queue_clear(k);
    gun__buf_free(&k->rx);
    k->rx_dropping = 0;
    if (!k->c.outgoing) {
        w->accepted--;
        if (w->cfg.max_conns_per_ip)
            ip_add(w, k->c.remote, -1);
        if (was_open && w->cbs.on_close)
            w->cbs.on_close(w->arg, &k->c, why);
        conn_destroy(k);
        return;
    }
    if (was_open && w->cbs.on_close)
        w->cbs.on_close(w->arg, &k->c, why);
    if (k->closing_for_good || w->freeing)
        conn_destroy(k);
    else
        schedule_retry(k);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct lws_context *ctx = lws_get_context(wsi);
    gun__ws *w = lws_context_user(ctx);
    ws_conn *k = lws_get_opaque_user_data(wsi);
    (void)user;
    if (k && ((http_resp *)(void *)k)->magic == HTTP_MAGIC && reason != LWS_CALLBACK_HTTP_WRITEABLE &&
        reason != LWS_CALLBACK_CLOSED_HTTP && reason != LWS_CALLBACK_HTTP_DROP_PROTOCOL)
        k = NULL;

    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        if (!uri_is_path(wsi, w->path))
            return -1;
        if (w->cfg.max_conns && w->accepted >= w->cfg.max_conns) {
            wlog(w, GUN_LOG_WARN, "ws: connection refused: %zu connections (max-connections)",
                 w->accepted);
            refuse(w, GUN__REFUSED_MAX_CONNS);
            return -1;
        }
        if (w->cfg.max_conns_per_ip) {
            char ip[64];
            lws_get_peer_simple(wsi, ip, sizeof ip);
            if (ip_count(w, ip) >= w->cfg.max_conns_per_ip) {
                wlog(w, GUN_LOG_WARN,
                     "ws: connection from %s refused: %zu open from it (max-connections-per-ip)",
                     ip, ip_count(w, ip));
                refuse(w, GUN__REFUSED_PER_IP);
                return -1;
            }
        }
        return 0;

    case LWS_CALLBACK_ESTABLISHED: {
        k = gun__calloc(1, sizeof *k);
        if (!k)
            return -1;
        k->w = w;
        k->c.ops = &ws_ops;
        k->wsi = wsi;
        k->c.open = 1;
        lws_get_peer_simple(wsi, k->c.remote, sizeof k->c.remote);
        lws_set_opaque_user_data(wsi, k);
        link_conn(w, k);
        w->accepted++;
        if (w->cfg.max_conns_per_ip)
            ip_add(w, k->c.remote, +1);
        if (w->cbs.on_open)
            w->cbs.on_open(w->arg, &k->c);
        return 0;
    }

    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        if (!k)
            return -1;
        k->c.open = 1;
        if (k->dial)
            k->dial->retry_n = 0;
        if (w->cbs.on_open)
            w->cbs.on_open(w->arg, &k->c);
        return 0;

    case LWS_CALLBACK_RECEIVE:
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (k)
            deliver(k, wsi, in, len);
        return 0;

    case LWS_CALLBACK_SERVER_WRITEABLE:
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (k && k->wsi == wsi)
            return write_queue(k, wsi);
        return 0;

    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (k)
            k->peer_closing = 1;
        break;

    case LWS_CALLBACK_CLOSED:
        if (k) {
            lws_set_opaque_user_data(wsi, NULL);
            conn_down(k, "closed");
        }
        return 0;

    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (k && k->c.outgoing) {
            lws_set_opaque_user_data(wsi, NULL);
            if (reason == LWS_CALLBACK_CLIENT_CONNECTION_ERROR)
                wlog(w, GUN_LOG_DEBUG, "ws: dial %s failed: %s", k->c.url,
                     in ? (const char *)in : "connection error");
            if (k->c.open) {
                conn_down(k, reason == LWS_CALLBACK_CLIENT_CLOSED ? "closed" : "error");
            } else {
                k->wsi = NULL;
                if (k->closing_for_good || w->freeing)
                    conn_destroy(k);
                else
                    schedule_retry(k);
            }
        }
        return 0;

    case LWS_CALLBACK_HTTP:
        return http_request(w, wsi, (const char *)in);

    case LWS_CALLBACK_HTTP_WRITEABLE:
        return http_body(wsi);

    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        /* lws holds writes back while a request body (ignored here) is still arriving. */
        lws_callback_on_writable(wsi);
        return 0;

    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL: {
        http_resp *h = lws_get_opaque_user_data(wsi);
        if (h && h->magic == HTTP_MAGIC) {
            lws_set_opaque_user_data(wsi, NULL);
            http_resp_free(h);
        }
        break;
    }

    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* rx_buffer_size is lws's per-connection receive buffer (every open connection holds one)
 * and the most it reads or hands to one RECEIVE callback: 4096 cost ~3 kB more per idle
 * connection than 1024, 1024 ~0.5 kB more than 512 (bench conns, docs/performance.md). 512
 * holds a greeting, a GET, an ack or a small put whole; larger messages arrive in pieces and
 * are joined in ws_conn.rx (deliver). tx_packet_size must be set apart: at 0 lws caps each
 * send() at rx_buffer_size and sends the rest of the frame from later WRITEABLE turns, which
 * made a 64 KiB batch cost 128 syscalls and loop turns (coldget: 12 sends per reply frame
 * at 1024; fan-out: batched pushes trickled out 1 kB per turn). It caps one send(), it is not a buffer. What a send() leaves over, lws keeps (one
 * frame's rest at most: no WRITEABLE, so no further lws_write, until it is out); the frames
 * after it wait in our queue, under max_queue. */
#define TX_PACKET_MAX (1u << 20)
static const struct lws_protocols protocols[] = {
    {"gun", callback, 0, 512, 0, NULL, TX_PACKET_MAX},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* Can we bind host:port? Asked before lws gets the port, so that a taken port is a clean
 * error rather than a context without a listener. */
static int probe_port(const char *host, int port, gun__err *e)
{
    struct addrinfo hints, *ai = NULL;
    char ps[16];
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    snprintf(ps, sizeof ps, "%d", port);
    int gai = getaddrinfo(host, ps, &hints, &ai);
    if (gai)
        return gun__fail(e, GUN_EIO, "ws: cannot listen on %s:%d: %s", host ? host : "*", port,
                         gai_strerror(gai));
    int rc = GUN_OK;
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen))
            rc = gun__fail(e, GUN_EIO, "ws: cannot listen on %s:%d: %s", host ? host : "*", port,
                           strerror(errno));
        close(fd);
    }
    freeaddrinfo(ai);
    return rc;
}

/* Frees a gun__ws that gun__ws_new could not finish (no context, flush handle not started). */
static void ws_discard(gun__ws *w)
{
    gun__free(w->flush);
    gun__map_free(w->per_ip, NULL);
    gun__free(w->path);
    gun__free(w);
}

int gun__ws_new(gun__ws **out, const gun__ws_cfg *cfg, const gun__transport_cbs *cbs, void *arg,
                gun__err *e)
{
    if (!cfg || !cfg->loop || !cbs || !cbs->on_frame)
        return gun__fail(e, GUN_EINVAL, "ws: loop and frame callback are required");
    gun__ws *w = gun__calloc(1, sizeof *w);
    if (!w)
        return gun__fail(e, GUN_ENOMEM, "ws: out of memory");
    w->cfg = *cfg;
    w->cbs = *cbs;
    w->arg = arg;
    w->loop = cfg->loop;
    w->port = -1;
    if (!w->cfg.max_frame)
        w->cfg.max_frame = 8u << 20;
    if (!w->cfg.flush_budget)
        w->cfg.flush_budget = FLUSH_BUDGET;
    w->path = gun__strndup(cfg->path ? cfg->path : "/gun", strlen(cfg->path ? cfg->path : "/gun"));
    w->per_ip = gun__map_new();
    w->flush = gun__malloc(sizeof *w->flush); /* uv_idle_init'ed once the context is up */
    if (!w->path || !w->per_ip || !w->flush) {
        ws_discard(w);
        return gun__fail(e, GUN_ENOMEM, "ws: out of memory");
    }
    lws_set_log_level(LLL_ERR, NULL);
    if (cfg->port > 0) {
        int rc = probe_port(cfg->host, cfg->port, e);
        if (rc) {
            ws_discard(w);
            return rc;
        }
    }

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    void *loops[1] = {w->loop};
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_VALIDATE_UTF8 |
                   LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.foreign_loops = loops;
    info.port = cfg->port < 0 ? CONTEXT_PORT_NO_LISTEN : cfg->port;
    info.iface = cfg->host;
    info.protocols = protocols;
    info.user = w;
    info.ssl_cert_filepath = cfg->tls_cert;
    info.ssl_private_key_filepath = cfg->tls_key;
    w->ctx = lws_create_context(&info);
    if (!w->ctx) {
        int rc = gun__fail(e, GUN_EIO,
                           "ws: cannot start (listen on %s:%d failed, or TLS files unreadable)",
                           cfg->host ? cfg->host : "*", cfg->port);
        ws_discard(w);
        return rc;
    }
    w->vh = lws_get_vhost_by_name(w->ctx, "default");
    if (cfg->port >= 0 && w->vh)
        w->port = lws_get_vhost_listen_port(w->vh);
    if (cfg->port >= 0 && w->port <= 0) {
        /* lws logs a bind failure but still makes a context with no listener. Destroying a
         * context on a foreign loop before its handles ran can unload lws's uv plugin under
         * them, so this rare case (the port was taken between probe_port and here) leaks the
         * context instead of crashing. */
        int rc = gun__fail(e, GUN_EIO, "ws: cannot listen on %s:%d", cfg->host ? cfg->host : "*",
                           cfg->port);
        ws_discard(w);
        return rc;
    }
    uv_idle_init(w->loop, w->flush);
    w->flush->data = w;
    *out = w;
    return GUN_OK;
}

int gun__ws_port(const gun__ws *w) { return w->port; }

size_t gun__ws_conn_count(const gun__ws *w) { return w->nconns; }

static void flush_closed(uv_handle_t *h) { gun__free(h); }

void *gun__ws_free(gun__ws *w)
{
    if (!w)
        return NULL;
    w->freeing = 1;
    /* Outgoing peers that are not connected have no wsi for lws to close. */
    ws_conn *k = w->conns;
    while (k) {
        ws_conn *next = k->next;
        k->closing_for_good = 1;
        if (!k->wsi)
            conn_destroy(k);
        k = next;
    }
    /* Destroying the context closes every wsi (CLOSED callbacks free the rest). On a
     * foreign libuv loop this is only the first stage: lws frees the context when it is
     * called again after the loop has closed its handles (gun__ws_reap). */
    struct lws_context *ctx = w->ctx;
    lws_context_destroy(ctx);
    uv_close((uv_handle_t *)w->flush, flush_closed);
    gun__map_free(w->per_ip, NULL);
    gun__free(w->path);
    gun__free(w);
    return ctx;
}

void gun__ws_reap(void *remains)
{
    if (remains)
        lws_context_destroy(remains);
}

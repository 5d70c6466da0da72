/* loadgen: a wire-level load generator for Gun relays (ours and Gun.js alike).
 *
 * One thread, one epoll loop, a minimal RFC 6455 client of its own (masked text frames out;
 * unmasked frames in, 7/16/64-bit lengths, fragmentation, ping/pong, close). It speaks raw Gun
 * frames and reads replies with a small skipping JSON walker, so it does not depend on libgun.
 * The server's Sec-WebSocket-Accept is not verified (needs SHA-1; a benchmark trusts its relay).
 *
 * Scenarios (one per run; the result is one JSON line on stdout, progress on stderr):
 *   put     --conns W --outstanding K --seconds D [--echo]
 *           W connections each keep K puts of ~250-byte nodes in flight; acked puts/s, latency.
 *           --echo: against bench/echo, the echoed put counts as its ack.
 *   fanout  --subs S --rate R --seconds D
 *           S subscribers GET one soul; one writer puts it R times a second with a timestamp in
 *           the value; deliveries/s, end-to-end latency, which updates each subscriber missed,
 *           whether every subscriber reached the last.
 *   conns   --conns N --pid PID [--src-ips X]
 *           N connections greet (DAM), GET one soul and idle; VmRSS of PID before and after.
 *   coldget --phase write|read --nodes M [--conns W] [--outstanding K] [--ackfile F]
 *           write M nodes with acked puts / read them back (after the runner restarted the
 *           relay) and check every field.
 * Every result carries the generator's own CPU time (getrusage) and its share of wall time.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_FRAME (64u << 20) /* refuse larger inbound messages */

/* ---- small utilities ---------------------------------------------------------------------- */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* HAM state for a write made now: whole milliseconds, one in the past. A state even a fraction
 * of a millisecond ahead of the relay's clock is deferred by HAM (Gun.js and ours alike) and its
 * ack never comes within the run. */
static double wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1e3 + (double)(ts.tv_nsec / 1000000) - 1;
}

static void usage(void);

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q)
        die("out of memory (%zu bytes)", n);
    return q;
}

typedef struct {
    char *p;
    size_t len, cap, off; /* off: consumed prefix (send buffer) */
} buf_t;

static void buf_reserve(buf_t *b, size_t more)
{
    if (b->len + more <= b->cap)
        return;
    if (b->off) { /* compact first */
        memmove(b->p, b->p + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        if (b->len + more <= b->cap)
            return;
    }
    size_t c = b->cap ? b->cap : 4096;
    while (c < b->len + more)
        c *= 2;
    b->p = xrealloc(b->p, c);
    b->cap = c;
}

/* Latency samples in microseconds; percentiles by sorting at the end. */
typedef struct {
    uint32_t *v;
    size_t n, cap;
} samples_t;

static void sample_add(samples_t *s, uint64_t ns)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 65536;
        s->v = xrealloc(s->v, s->cap * sizeof *s->v);
    }
    uint64_t us = ns / 1000;
    s->v[s->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_ms(samples_t *s, double p)
{
    if (!s->n)
        return -1;
    size_t i = (size_t)(p * (double)(s->n - 1) + 0.5);
    return s->v[i] / 1000.0;
}

/* ---- JSON skipping walker ----------------------------------------------------------------- */

static const char *ws_skip(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

/* Returns the end of the value starting at p, or NULL if malformed/truncated. */
static const char *skip_value(const char *p, const char *e)
{
    p = ws_skip(p, e);
    if (p >= e)
        return NULL;
    if (*p == '"') {
        for (p++; p < e; p++) {
            if (*p == '\\')
                p++;
            else if (*p == '"')
                return p + 1;
        }
        return NULL;
    }
    if (*p == '{' || *p == '[') {
        int depth = 0;
        for (; p < e; p++) {
            if (*p == '"') {
                const char *q = skip_value(p, e);
                if (!q)
                    return NULL;
                p = q - 1;
            } else if (*p == '{' || *p == '[') {
                depth++;
            } else if (*p == '}' || *p == ']') {
                if (--depth == 0)
                    return p + 1;
            }
        }
        return NULL;
    }
    while (p < e && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n')
        p++;
    return p;
}

/* The top-level fields of one Gun message that the scenarios look at. */
typedef struct {
    const char *at; /* "@" string contents */
    size_t at_len;
    const char *id; /* "#" string contents */
    size_t id_len;
    const char *dam; /* "dam" string contents: "?" greeting, "mob" (Gun.js AXE: too many peers) */
    size_t dam_len;
    int has_err, has_put;
    const char *put, *put_end;
} gmsg_t;

static void parse_msg(const char *p, const char *e, gmsg_t *m)
{
    memset(m, 0, sizeof *m);
    p = ws_skip(p, e);
    if (p >= e || *p != '{')
        return;
    p++;
    for (;;) {
        p = ws_skip(p, e);
        if (p >= e || *p == '}' || *p != '"')
            return;
        const char *k = p + 1, *ke = skip_value(p, e);
        if (!ke)
            return;
        size_t klen = (size_t)(ke - 1 - k);
        p = ws_skip(ke, e);
        if (p >= e || *p != ':')
            return;
        const char *v = ws_skip(p + 1, e), *ve = skip_value(v, e);
        if (!ve)
            return;
        if (klen == 1 && *k == '@' && *v == '"') {
            m->at = v + 1;
            m->at_len = (size_t)(ve - v - 2);
        } else if (klen == 1 && *k == '#' && *v == '"') {
            m->id = v + 1;
            m->id_len = (size_t)(ve - v - 2);
        } else if (klen == 3 && !memcmp(k, "dam", 3) && *v == '"') {
            m->dam = v + 1;
            m->dam_len = (size_t)(ve - v - 2);
        } else if (klen == 3 && !memcmp(k, "err", 3)) {
            m->has_err = !(ve - v == 4 && !memcmp(v, "null", 4));
        } else if (klen == 3 && !memcmp(k, "put", 3)) {
            m->has_put = 1;
            m->put = v;
            m->put_end = ve;
        }
        p = ws_skip(ve, e);
        if (p < e && *p == ',')
            p++;
    }
}

typedef struct conn conn_t;
typedef void (*on_gmsg_fn)(conn_t *c, gmsg_t *m);

/* Calls fn for each Gun message of a frame: one object, or a batch array of them. */
static void each_msg(conn_t *c, const char *p, size_t n, on_gmsg_fn fn)
{
    const char *e = p + n, *q = ws_skip(p, e);
    int batch = q < e && *q == '[';
    if (batch)
        q++;
    while (q < e) {
        q = ws_skip(q, e);
        if (q >= e || *q == ']')
            break;
        const char *ve = skip_value(q, e);
        if (!ve)
            break;
        gmsg_t m;
        parse_msg(q, ve, &m);
        fn(c, &m);
        q = ws_skip(ve, e);
        if (q < e && *q == ',')
            q++;
        if (!batch)
            break;
    }
}

/* ---- connections and the RFC 6455 client -------------------------------------------------- */

enum { ST_CONNECTING, ST_HANDSHAKE, ST_OPEN, ST_CLOSED };

typedef void (*on_msg_fn)(conn_t *c, const char *p, size_t n);
typedef void (*on_open_fn)(conn_t *c);

struct conn {
    int fd, state, idx;
    buf_t in, out, msg; /* msg: reassembly of fragmented messages */
    int want_out;
    on_msg_fn on_msg;
    /* scenario state */
    uint64_t *slot_t; /* put: send time per outstanding slot */
    uint64_t seq;
    long long last_seen; /* fanout: newest update seq seen */
    uint8_t *seen;       /* fanout: bitmap of update seqs seen */
    int got_reply, got_hi;
    int settled; /* opened or failed: no longer counted in g_pending */
    long long next_i, end_i; /* coldget: the range of nodes this connection still sends */
    int inflight;
};

static int g_ep;
static struct sockaddr_storage g_addr;
static socklen_t g_addrlen;
static char g_host[256], g_path[256];
static int g_port;
static uint32_t g_rng = 2463534242u;
static long long g_bytes_in, g_bytes_out, g_frames_in, g_proto_err, g_closed, g_connect_err;
static on_open_fn g_on_open;
static int g_pending; /* connections still connecting or upgrading */
static int g_src_ips = 1; /* bind outgoing sockets to 127.0.0.1 .. 127.0.0.N (more ports) */
static char g_tag[8];     /* per-run suffix of message ids: relays drop ids they saw recently */

static uint32_t rng(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 17;
    g_rng ^= g_rng << 5;
    return g_rng;
}

static void ep_mod(conn_t *c, int out)
{
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
    c->want_out = out;
    epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void conn_flush(conn_t *c)
{
    while (c->out.off < c->out.len) {
        ssize_t n = send(c->fd, c->out.p + c->out.off, c->out.len - c->out.off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break;
            c->state = ST_CLOSED;
            return;
        }
        c->out.off += (size_t)n;
        g_bytes_out += n;
    }
    if (c->out.off == c->out.len)
        c->out.off = c->out.len = 0;
    int pend = c->out.len > 0 || c->state == ST_CONNECTING;
    if (pend != c->want_out)
        ep_mod(c, pend);
}

/* Queues one masked frame; the caller flushes (or the loop does on EPOLLOUT). */
static void ws_queue(conn_t *c, int opcode, const char *p, size_t n)
{
    buf_reserve(&c->out, n + 14);
    unsigned char *h = (unsigned char *)c->out.p + c->out.len;
    size_t hl = 2;
    h[0] = (unsigned char)(0x80 | opcode);
    if (n < 126) {
        h[1] = (unsigned char)(0x80 | n);
    } else if (n < 65536) {
        h[1] = 0x80 | 126;
        h[2] = (unsigned char)(n >> 8);
        h[3] = (unsigned char)n;
        hl = 4;
    } else {
        h[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
        hl = 10;
    }
    uint32_t mk = rng();
    unsigned char m[4];
    memcpy(m, &mk, 4);
    memcpy(h + hl, m, 4);
    hl += 4;
    unsigned char *d = h + hl;
    /* eight bytes at a time: masking is most of the generator's own cost at high rates */
    uint64_t m8 = (uint64_t)mk << 32 | mk;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x;
        memcpy(&x, p + i, 8);
        x ^= m8;
        memcpy(d + i, &x, 8);
    }
    for (; i < n; i++)
        d[i] = (unsigned char)p[i] ^ m[i & 3];
    c->out.len += hl + n;
}

static void ws_send_text(conn_t *c, const char *p, size_t n)
{
    ws_queue(c, 1, p, n);
    conn_flush(c);
}

static void ws_deliver(conn_t *c, const char *p, size_t n)
{
    g_frames_in++;
    if (c->on_msg)
        c->on_msg(c, p, n);
}

/* Parses as many whole frames as the input buffer holds. */
static void ws_parse(conn_t *c)
{
    for (;;) {
        const unsigned char *h = (const unsigned char *)c->in.p + c->in.off;
        size_t avail = c->in.len - c->in.off;
        if (avail < 2)
            break;
        int fin = h[0] & 0x80, op = h[0] & 0x0f, masked = h[1] & 0x80;
        uint64_t len = h[1] & 0x7f;
        size_t hl = 2;
        if (len == 126) {
            if (avail < 4)
                break;
            len = ((uint64_t)h[2] << 8) | h[3];
            hl = 4;
        } else if (len == 127) {
            if (avail < 10)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = (len << 8) | h[2 + i];
            hl = 10;
        }
        if (masked)
            hl += 4;
        if (len > MAX_FRAME) {
            g_proto_err++;
            c->state = ST_CLOSED;
            return;
        }
        if (avail < hl + len)
            break;
        char *d = (char *)h + hl;
        if (masked) { /* servers must not mask; tolerate it anyway */
            const unsigned char *mk = h + hl - 4;
            for (uint64_t i = 0; i < len; i++)
                d[i] ^= (char)mk[i & 3];
        }
        c->in.off += hl + (size_t)len;
        if (op == 8) {
            c->state = ST_CLOSED;
            return;
        } else if (op == 9) {
            ws_queue(c, 10, d, (size_t)len);
            conn_flush(c);
        } else if (op == 10) {
            /* pong: nothing */
        } else if (op == 0 || op == 1 || op == 2) {
            if (op != 0 && c->msg.len) {
                g_proto_err++; /* new message inside a fragmented one */
                c->msg.len = 0;
            }
            if (fin && op != 0) {
                ws_deliver(c, d, (size_t)len);
            } else {
                buf_reserve(&c->msg, (size_t)len);
                memcpy(c->msg.p + c->msg.len, d, (size_t)len);
                c->msg.len += (size_t)len;
                if (fin) {
                    ws_deliver(c, c->msg.p, c->msg.len);
                    c->msg.len = 0;
                }
            }
        } else {
            g_proto_err++;
        }
    }
    if (c->in.off == c->in.len)
        c->in.off = c->in.len = 0;
}

static void conn_settled(conn_t *c)
{
    if (!c->settled) {
        c->settled = 1;
        g_pending--;
    }
}

static void conn_send_handshake(conn_t *c)
{
    unsigned char key[16];
    for (int i = 0; i < 16; i++)
        key[i] = (unsigned char)rng();
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char k64[25];
    int j = 0;
    for (int i = 0; i < 15; i += 3) {
        uint32_t v = (uint32_t)key[i] << 16 | (uint32_t)key[i + 1] << 8 | key[i + 2];
        k64[j++] = b64[v >> 18 & 63];
        k64[j++] = b64[v >> 12 & 63];
        k64[j++] = b64[v >> 6 & 63];
        k64[j++] = b64[v & 63];
    }
    uint32_t v = (uint32_t)key[15] << 16;
    k64[j++] = b64[v >> 18 & 63];
    k64[j++] = b64[v >> 12 & 63];
    k64[j++] = '=';
    k64[j++] = '=';
    k64[j] = 0;
    char req[768];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     g_path, g_host, g_port, k64);
    buf_reserve(&c->out, (size_t)n);
    memcpy(c->out.p + c->out.len, req, (size_t)n);
    c->out.len += (size_t)n;
    c->state = ST_HANDSHAKE;
    conn_flush(c);
}

static void conn_on_read(conn_t *c)
{
    for (;;) {
        buf_reserve(&c->in, 65536);
        size_t room = c->in.cap - c->in.len;
        ssize_t n = recv(c->fd, c->in.p + c->in.len, room, 0);
        if (n == 0) {
            c->state = ST_CLOSED;
            return;
        }
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR)
                c->state = ST_CLOSED;
            break;
        }
        g_bytes_in += n;
        c->in.len += (size_t)n;
        if (c->state == ST_HANDSHAKE) {
            char *e = memmem(c->in.p + c->in.off, c->in.len - c->in.off, "\r\n\r\n", 4);
            if (!e)
                continue;
            if (c->in.len - c->in.off < 12 || memcmp(c->in.p + c->in.off + 9, "101", 3)) {
                fprintf(stderr, "loadgen: upgrade refused: %.*s\n", (int)(e - c->in.p), c->in.p);
                c->state = ST_CLOSED;
                return;
            }
            c->in.off = (size_t)(e + 4 - c->in.p);
            c->state = ST_OPEN;
            conn_settled(c);
            if (g_on_open)
                g_on_open(c);
        }
        if (c->state == ST_OPEN)
            ws_parse(c);
        if (c->state == ST_CLOSED)
            return;
        /* A short read emptied the socket: epoll is level-triggered and reports the next data,
         * so the recv that would only say EAGAIN is skipped (one syscall in two per event in a
         * fan-out, where each event is one small push). */
        if ((size_t)n < room)
            return;
    }
}

static conn_t *conn_open(int idx, on_msg_fn on_msg)
{
    conn_t *c = calloc(1, sizeof *c);
    if (!c)
        die("out of memory");
    c->idx = idx;
    c->on_msg = on_msg;
    c->last_seen = -1;
    g_pending++;
    c->fd = socket(g_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        die("socket (connection %d): %s", idx, strerror(errno));
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (g_src_ips > 1 && g_addr.ss_family == AF_INET) {
        /* One source address gives ~28k ephemeral ports per destination; the port is picked at
         * connect() time (IP_BIND_ADDRESS_NO_PORT), so each 127.0.0.x adds a full range. */
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)(idx % g_src_ips));
        setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(c->fd, (struct sockaddr *)&src, sizeof src) < 0)
            die("bind 127.0.0.%d: %s", 1 + idx % g_src_ips, strerror(errno));
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    c->want_out = 1;
    epoll_ctl(g_ep, EPOLL_CTL_ADD, c->fd, &ev);
    if (connect(c->fd, (struct sockaddr *)&g_addr, g_addrlen) < 0 && errno != EINPROGRESS) {
        if (g_connect_err++ < 5)
            fprintf(stderr, "loadgen: connect (connection %d): %s\n", idx, strerror(errno));
        c->state = ST_CLOSED;
        g_closed++;
        conn_settled(c);
        epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, NULL);
        return c;
    }
    c->state = ST_CONNECTING;
    return c;
}

static void on_event(conn_t *c, uint32_t evs)
{
    if (c->state == ST_CLOSED)
        return;
    if (c->state == ST_CONNECTING && (evs & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err) {
            if (g_connect_err++ < 5)
                fprintf(stderr, "loadgen: connect: %s\n", strerror(err));
            c->state = ST_CLOSED;
        } else {
            conn_send_handshake(c);
        }
    } else if (evs & EPOLLOUT) {
        conn_flush(c);
    }
    if (c->state != ST_CLOSED && (evs & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        conn_on_read(c);
    if (c->state == ST_CLOSED) {
        g_closed++;
        conn_settled(c);
        epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, NULL);
    }
}

/* Runs the loop until deadline (monotonic ns) or until stop() returns true; tick() runs at least
 * every tick_ms. */
static void loop_until(uint64_t deadline, int (*stop)(void), void (*tick)(void), int tick_ms)
{
    struct epoll_event evs[256];
    for (;;) {
        uint64_t t = now_ns();
        if (t >= deadline || (stop && stop()))
            return;
        int to = (int)((deadline - t) / 1000000) + 1;
        if (tick && to > tick_ms)
            to = tick_ms;
        int n = epoll_wait(g_ep, evs, 256, to);
        for (int i = 0; i < n; i++)
            on_event(evs[i].data.ptr, evs[i].events);
        if (tick)
            tick();
    }
}

static conn_t **g_conns;
static int g_nconns;

static int all_open(void)
{
    for (int i = 0; i < g_nconns; i++)
        if (g_conns[i]->state != ST_OPEN && g_conns[i]->state != ST_CLOSED)
            return 0;
    return 1;
}

static int count_state(int st)
{
    int n = 0;
    for (int i = 0; i < g_nconns; i++)
        n += g_conns[i]->state == st;
    return n;
}

/* Opens n connections; dies unless every one opens, or returns how many did when tolerant. */
static int few_pending(void) { return g_pending < 128; }

static int open_all_x(int n, on_msg_fn on_msg, int tolerant)
{
    g_conns = calloc((size_t)n, sizeof *g_conns);
    g_nconns = 0;
    /* At most 128 handshakes in flight: a burst larger than the relay's accept backlog (Node's
     * is 511) loses SYNs, and their retransmits take seconds. Gives up after 10 s without a
     * connection finishing. */
    uint64_t last = now_ns();
    int done_before = 0;
    for (int i = 0; i < n;) {
        while (i < n && few_pending()) {
            g_conns[g_nconns++] = conn_open(i++, on_msg);
        }
        loop_until(now_ns() + 1000000000ull, few_pending, NULL, 1);
        int done = g_nconns - g_pending;
        if (done != done_before)
            done_before = done, last = now_ns();
        else if (now_ns() - last > 10000000000ull)
            break;
    }
    loop_until(now_ns() + 10000000000ull, all_open, NULL, 50);
    int open = count_state(ST_OPEN);
    fprintf(stderr, "loadgen: %d/%d connections open\n", open, n);
    if (open < n && !tolerant)
        die("only %d of %d connections opened", open, n);
    return open;
}

static void open_all(int n, on_msg_fn on_msg) { open_all_x(n, on_msg, 0); }

/* ---- results ------------------------------------------------------------------------------ */

static struct rusage g_ru0;
static uint64_t g_t0;
static char g_json[4096];
static size_t g_jl;

static void jadd(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_jl += (size_t)vsnprintf(g_json + g_jl, sizeof g_json - g_jl, fmt, ap);
    va_end(ap);
}

static double tv_s(struct timeval a) { return (double)a.tv_sec + (double)a.tv_usec / 1e6; }

static void finish(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = tv_s(ru.ru_utime) - tv_s(g_ru0.ru_utime) + tv_s(ru.ru_stime) - tv_s(g_ru0.ru_stime);
    double wall = (double)(now_ns() - g_t0) / 1e9;
    jadd(",\"loadgen_cpu_s\":%.3f,\"loadgen_wall_s\":%.3f,\"loadgen_cpu_share\":%.3f", cpu, wall,
         wall > 0 ? cpu / wall : 0);
    jadd(",\"bytes_in\":%lld,\"bytes_out\":%lld,\"frames_in\":%lld,\"proto_errors\":%lld,"
         "\"closed\":%lld,\"connect_errors\":%lld}",
         g_bytes_in, g_bytes_out, g_frames_in, g_proto_err, g_closed, g_connect_err);
    puts(g_json);
    fflush(stdout);
}

/* ---- scenario: put ------------------------------------------------------------------------ */

static int p_outstanding = 256;
static int g_echo; /* --echo: the server is bench/echo, not a relay */
static int g_measuring;
static long long p_sent, p_acked, p_errs, p_unknown;
static samples_t g_lat;
static char g_pad[160];

static void put_send(conn_t *c, int slot)
{
    char msg[512];
    unsigned long long seq = c->seq++;
    double st = wall_ms();
    /* ~250-byte node: soul, state vector for four fields, and their values. */
    int n = snprintf(msg, sizeof msg,
                     "{\"#\":\"c%ds%dn%llu-%s\",\"put\":{\"b/c%d/%llu\":{\"_\":{\"#\":\"b/c%d/%llu\",\">\":"
                     "{\"name\":%.3f,\"n\":%.3f,\"slot\":%.3f,\"pad\":%.3f}},\"name\":\"node %llu\","
                     "\"n\":%llu,\"slot\":%d,\"pad\":\"%s\"}}}",
                     c->idx, slot, seq, g_tag, c->idx, seq, c->idx, seq, st, st, st, st, seq, seq, slot,
                     g_pad);
    c->slot_t[slot] = now_ns();
    ws_queue(c, 1, msg, (size_t)n);
    p_sent++;
}

static void put_on_one(conn_t *c, gmsg_t *mp)
{
    gmsg_t m = *mp;
    if (g_echo && m.has_put) { /* echo server: our own frame back counts as the ack */
        m.at = m.id;
        m.at_len = m.id_len;
    }
    int cidx, slot;
    unsigned long long seq;
    char idbuf[64];
    if (m.at && m.at_len < sizeof idbuf) {
        memcpy(idbuf, m.at, m.at_len);
        idbuf[m.at_len] = 0;
        if (sscanf(idbuf, "c%ds%dn%llu", &cidx, &slot, &seq) == 3 && cidx == c->idx && slot >= 0 &&
            slot < p_outstanding && c->slot_t[slot]) {
            uint64_t t = now_ns();
            if (g_measuring) {
                if (m.has_err)
                    p_errs++;
                else
                    p_acked++;
                sample_add(&g_lat, t - c->slot_t[slot]);
            }
            c->slot_t[slot] = 0;
            if (g_measuring)
                put_send(c, slot);
        } else if (!m.has_put) {
            p_unknown++;
        }
    }
}

static void put_on_msg(conn_t *c, const char *p, size_t n)
{
    each_msg(c, p, n, put_on_one);
    if (c->out.len)
        conn_flush(c);
}

static int run_put(int conns, int k, double secs)
{
    p_outstanding = k;
    memset(g_pad, 'x', 100);
    open_all(conns, put_on_msg);
    for (int i = 0; i < conns; i++)
        g_conns[i]->slot_t = calloc((size_t)k, sizeof(uint64_t));
    loop_until(now_ns() + 300000000ull, NULL, NULL, 50); /* greetings */
    g_t0 = now_ns();
    getrusage(RUSAGE_SELF, &g_ru0);
    g_measuring = 1;
    for (int i = 0; i < conns; i++) {
        for (int s = 0; s < k; s++)
            put_send(g_conns[i], s);
        conn_flush(g_conns[i]);
    }
    uint64_t start = now_ns();
    loop_until(start + (uint64_t)(secs * 1e9), NULL, NULL, 100);
    double el = (double)(now_ns() - start) / 1e9;
    g_measuring = 0;
    long long inflight = 0;
    for (int i = 0; i < conns; i++)
        for (int s = 0; s < k; s++)
            inflight += g_conns[i]->slot_t[s] != 0;
    qsort(g_lat.v, g_lat.n, sizeof *g_lat.v, cmp_u32);
    jadd("{\"scenario\":\"put\",\"conns\":%d,\"outstanding\":%d,\"seconds\":%.3f,\"sent\":%lld,"
         "\"acked\":%lld,\"err_acks\":%lld,\"unacked_at_end\":%lld,\"acked_per_s\":%.1f,"
         "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f",
         conns, k, el, p_sent, p_acked, p_errs, inflight, (double)p_acked / el, pct_ms(&g_lat, 0.5),
         pct_ms(&g_lat, 0.99), pct_ms(&g_lat, 1.0));
    finish();
    return 0;
}

/* ---- scenario: fanout --------------------------------------------------------------------- */

static const char *FSOUL = "bench/fanout";
static long long f_deliv, f_dups, f_final = -1;
static int f_replies;
static conn_t *f_writer;
static long long f_cap; /* bits per subscriber's seen map */

static long long f_wacks, f_werrs; /* the writer's acks for its updates */
/* Per update: latency (µs, + 1; 0: not seen) of the first and of the last subscriber to see
 * it. The first is what one push costs end to end; last − first is the time to go round every
 * subscriber (the relay's sends and the generator's reads, both serial). */
static uint32_t *f_first, *f_last;

/* "SEQ:NS" at p, bounded by e. sscanf took strlen of the rest of the receive buffer for every
 * message: quadratic in a batch frame, 36% of the generator's time under saturation. */
static int parse_seq_ns(const char *p, const char *e, long long *seq, unsigned long long *ns)
{
    unsigned long long a = 0, b = 0;
    const char *q = p;
    while (q < e && *q >= '0' && *q <= '9')
        a = a * 10 + (unsigned)(*q++ - '0');
    if (q == p || q >= e || *q++ != ':')
        return 0;
    const char *r = q;
    while (q < e && *q >= '0' && *q <= '9')
        b = b * 10 + (unsigned)(*q++ - '0');
    if (q == r || q >= e || *q != '"')
        return 0;
    *seq = (long long)a;
    *ns = b;
    return 1;
}

static void fan_on_one(conn_t *c, gmsg_t *mp)
{
    gmsg_t m = *mp;
    if (c == f_writer) {
        if (m.at && m.at_len > 1 && m.at[0] == 'u') {
            if (m.has_err) {
                f_werrs++;
                fprintf(stderr, "loadgen: fanout: error ack for update %.*s\n", (int)m.at_len, m.at);
            } else {
                f_wacks++;
            }
        }
        return;
    }
    if (m.at && m.at_len > 1 && m.at[0] == 'g' && !c->got_reply) {
        c->got_reply = 1;
        f_replies++;
    }
    if (m.has_put) {
        /* the value is "SEQ:MONO_NS" under key "ts" */
        const char *v = memmem(m.put, (size_t)(m.put_end - m.put), "\"ts\":\"", 6);
        long long seq;
        unsigned long long sent;
        if (v && parse_seq_ns(v + 6, m.put_end, &seq, &sent)) {
            if (c->seen && seq < f_cap)
                c->seen[seq >> 3] |= (uint8_t)(1u << (seq & 7));
            if (seq > c->last_seen) {
                c->last_seen = seq;
                if (g_measuring) {
                    uint64_t lat = now_ns() - sent, us = lat / 1000 + 1;
                    f_deliv++;
                    sample_add(&g_lat, lat);
                    if (us >= UINT32_MAX)
                        us = UINT32_MAX;
                    if (seq < f_cap && (!f_first[seq] || us < f_first[seq]))
                        f_first[seq] = (uint32_t)us;
                    if (seq < f_cap && us > f_last[seq])
                        f_last[seq] = (uint32_t)us;
                }
            } else {
                f_dups++;
            }
        }
    }
}

static void fan_on_msg(conn_t *c, const char *p, size_t n)
{
    each_msg(c, p, n, fan_on_one);
}

static int f_subs;
static int subs_ready(void) { return f_replies >= f_subs; }

static int f_all_final(void)
{
    if (f_wacks + f_werrs < f_final + 1)
        return 0;
    for (int i = 0; i < g_nconns; i++)
        if (g_conns[i] != f_writer && g_conns[i]->last_seen != f_final)
            return 0;
    return 1;
}

static int run_fanout(int subs, double rate, double secs)
{
    f_subs = subs;
    open_all(subs + 1, fan_on_msg);
    f_writer = g_conns[subs];
    f_cap = (long long)(rate * secs) + 64;
    for (int i = 0; i < subs; i++)
        g_conns[i]->seen = calloc((size_t)(f_cap / 8 + 1), 1);
    f_first = calloc((size_t)f_cap, sizeof *f_first);
    f_last = calloc((size_t)f_cap, sizeof *f_last);
    if (!f_first || !f_last)
        die("out of memory");
    char msg[512];
    /* seed the soul so GETs have something to answer, then subscribe */
    int n = snprintf(msg, sizeof msg,
                     "{\"#\":\"seed-%s\",\"put\":{\"%s\":{\"_\":{\"#\":\"%s\",\">\":{\"ts\":%.3f}},\"ts\":\"-1:0\"}}}",
                     g_tag, FSOUL, FSOUL, wall_ms());
    ws_send_text(f_writer, msg, (size_t)n);
    loop_until(now_ns() + 300000000ull, NULL, NULL, 50);
    for (int i = 0; i < subs; i++) {
        n = snprintf(msg, sizeof msg, "{\"#\":\"g%d-%s\",\"get\":{\"#\":\"%s\"}}", i, g_tag, FSOUL);
        ws_send_text(g_conns[i], msg, (size_t)n);
    }
    loop_until(now_ns() + 10000000000ull, subs_ready, NULL, 50);
    fprintf(stderr, "loadgen: %d/%d subscribers answered their GET\n", f_replies, subs);
    loop_until(now_ns() + 200000000ull, NULL, NULL, 50);
    g_t0 = now_ns();
    getrusage(RUSAGE_SELF, &g_ru0);
    g_measuring = 1;
    uint64_t start = now_ns(), period = (uint64_t)(1e9 / rate), next = start,
             end = start + (uint64_t)(secs * 1e9);
    long long seq = 0;
    double last_state = 0;
    while (next < end) {
        uint64_t t = now_ns();
        if (t >= next) {
            double st = wall_ms();
            if (st <= last_state)
                /* Several updates in one millisecond (rate > 1000/s, or catching up after
                 * a stall): a thousandth of a ms apart, so that they stay in the past. A whole
                 * ms each ran states ahead of the clock, and HAM defers those (no ack). */
                st = last_state + 0.001;
            last_state = st;
            n = snprintf(msg, sizeof msg,
                         "{\"#\":\"u%lld-%s\",\"put\":{\"%s\":{\"_\":{\"#\":\"%s\",\">\":{\"ts\":%.3f}},"
                         "\"ts\":\"%lld:%llu\"}}}",
                         seq, g_tag, FSOUL, FSOUL, st, seq, (unsigned long long)now_ns());
            ws_send_text(f_writer, msg, (size_t)n);
            f_final = seq++;
            next += period;
            continue;
        }
        uint64_t until = next < end ? next : end;
        struct epoll_event evs[256];
        /* Rounded up: with less than 1 ms to go a 0 ms timeout spun epoll_wait (2.8 calls per
         * delivery at 200 x 100/s), CPU taken from the relay on a 2-core box. Waking up to 1 ms
         * late moves that update's send, not its measured latency (stamped at send). */
        int to = (int)((until - t + 999999) / 1000000);
        int k = epoll_wait(g_ep, evs, 256, to);
        for (int i = 0; i < k; i++)
            on_event(evs[i].data.ptr, evs[i].events);
    }
    uint64_t wend = now_ns();
    /* The rate counts what arrived while the writer ran: under saturation the drain after it
     * (up to 5 s of backlog) would otherwise be divided by the writer's time alone. */
    long long deliv_window = f_deliv;
    loop_until(wend + 5000000000ull, f_all_final, NULL, 20); /* drain */
    double el = (double)(wend - start) / 1e9, drain = (double)(now_ns() - wend) / 1e9;
    g_measuring = 0;
    int reached = 0;
    for (int i = 0; i < subs; i++)
        reached += g_conns[i]->last_seen == f_final;
    /* Which updates were missed, and by how many subscribers: a loss at the start or the end of
     * the run points at the harness (subscription not yet live, drain too short), a loss in the
     * middle at the relay. */
    long long missed_total = 0, seqs_missed = 0, seqs_missed_all = 0;
    char missed[512];
    size_t ml = 0;
    missed[0] = 0;
    for (long long q = 0; q < seq && q < f_cap; q++) {
        int miss = 0;
        for (int i = 0; i < subs; i++)
            miss += !(g_conns[i]->seen[q >> 3] & (1u << (q & 7)));
        if (!miss)
            continue;
        missed_total += miss;
        seqs_missed_all += miss == subs;
        if (seqs_missed++ < 16 && ml < sizeof missed - 40)
            ml += (size_t)snprintf(missed + ml, sizeof missed - ml, "%s[%lld,%d]", ml ? "," : "", q, miss);
    }
    int subs_missing_some = 0;
    for (int i = 0; i < subs; i++) {
        for (long long q = 0; q < seq && q < f_cap; q++)
            if (!(g_conns[i]->seen[q >> 3] & (1u << (q & 7)))) {
                subs_missing_some++;
                break;
            }
    }
    qsort(g_lat.v, g_lat.n, sizeof *g_lat.v, cmp_u32);
    samples_t first = {0}, last = {0};
    for (long long q = 0; q < seq && q < f_cap; q++)
        if (f_first[q]) {
            sample_add(&first, (uint64_t)(f_first[q] - 1) * 1000);
            sample_add(&last, (uint64_t)(f_last[q] - 1) * 1000);
        }
    qsort(first.v, first.n, sizeof *first.v, cmp_u32);
    qsort(last.v, last.n, sizeof *last.v, cmp_u32);
    long long expected = (long long)subs * seq;
    jadd("{\"scenario\":\"fanout\",\"subs\":%d,\"rate\":%.1f,\"seconds\":%.3f,\"updates\":%lld,"
         "\"expected_deliveries\":%lld,\"deliveries\":%lld,\"duplicates_or_stale\":%lld,"
         "\"offered_per_s\":%.1f,\"deliveries_in_window\":%lld,\"deliveries_per_s\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,"
         "\"first_sub_p50_ms\":%.3f,\"first_sub_p99_ms\":%.3f,\"last_sub_p50_ms\":%.3f,\"last_sub_p99_ms\":%.3f,"
         "\"subs_at_final\":%d,\"subs_not_final\":%d,\"all_final\":%s,\"drain_s\":%.3f,"
         "\"updates_never_seen\":%lld,\"seqs_missed_by_some\":%lld,\"seqs_missed_by_all\":%lld,\"subs_missing_some\":%d,"
         "\"missed_seqs\":[%s],\"writer_acks\":%lld,\"writer_err_acks\":%lld",
         subs, rate, el, seq, expected, f_deliv, f_dups, (double)expected / el, deliv_window,
         (double)deliv_window / el, pct_ms(&g_lat, 0.5),
         pct_ms(&g_lat, 0.99), pct_ms(&g_lat, 1.0), pct_ms(&first, 0.5), pct_ms(&first, 0.99),
         pct_ms(&last, 0.5), pct_ms(&last, 0.99), reached, subs - reached,
         reached == subs ? "true" : "false", drain, missed_total, seqs_missed, seqs_missed_all, subs_missing_some, missed, f_wacks, f_werrs);
    finish();
    return 0;
}

/* ---- scenario: conns ---------------------------------------------------------------------- */

static long rss_kib(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long v = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            v = strtol(line + 6, NULL, 10);
    fclose(f);
    return v;
}

/* Each connection greets like a Gun.js peer (DAM `?` with a pid, and answers the relay's own
 * greeting), then GETs one seeded soul and stays idle. RSS is read once every GET is answered
 * and the relay has had two seconds to settle. */
static int k_replies, k_his, k_mobs;
static const char *KSOUL = "bench/conns";

static void conns_on_open(conn_t *c)
{
    char msg[160];
    int n = snprintf(msg, sizeof msg, "{\"#\":\"h%d-%s\",\"dam\":\"?\",\"pid\":\"lg%d%s\"}", c->idx,
                     g_tag, c->idx, g_tag);
    ws_send_text(c, msg, (size_t)n);
}

static void conns_on_one(conn_t *c, gmsg_t *mp)
{
    gmsg_t m = *mp;
    if (m.dam && m.dam_len == 3 && !memcmp(m.dam, "mob", 3)) {
        k_mobs++; /* Gun.js's AXE sheds peers above its `mob` limit (9,900 by default) */
    } else if (m.dam && !m.at && m.id) { /* the relay's greeting: answer it as Gun.js does */
        char msg[160];
        int k = snprintf(msg, sizeof msg, "{\"dam\":\"?\",\"pid\":\"lg%d%s\",\"@\":\"%.*s\"}", c->idx,
                         g_tag, (int)(m.id_len < 64 ? m.id_len : 64), m.id);
        ws_send_text(c, msg, (size_t)k);
        if (!c->got_hi) {
            c->got_hi = 1;
            k_his++;
        }
    } else if (m.at && m.at_len > 1 && m.at[0] == 'q' && !c->got_reply) {
        c->got_reply = 1;
        k_replies++;
    } else if (m.at && m.at_len > 1 && m.at[0] == 's') {
        c->got_reply = 1; /* the seed's ack (connection 0) */
    }
}

static void conns_on_msg(conn_t *c, const char *p, size_t n)
{
    each_msg(c, p, n, conns_on_one);
}

static int k_open;
static int conns_answered(void) { return k_replies >= k_open; }
static int seed_acked(void) { return g_conns[0]->got_reply; }

static int run_conns(int n, int pid)
{
    g_t0 = now_ns();
    getrusage(RUSAGE_SELF, &g_ru0);
    long before = rss_kib(pid);
    g_on_open = conns_on_open;
    uint64_t t_open = now_ns();
    k_open = open_all_x(n, conns_on_msg, 1);
    double open_s = (double)(now_ns() - t_open) / 1e9;
    char msg[256];
    int len;
    if (g_conns[0]->state == ST_OPEN) {
        len = snprintf(msg, sizeof msg,
                       "{\"#\":\"s-%s\",\"put\":{\"%s\":{\"_\":{\"#\":\"%s\",\">\":{\"v\":%.3f}},\"v\":\"idle\"}}}",
                       g_tag, KSOUL, KSOUL, wall_ms());
        ws_send_text(g_conns[0], msg, (size_t)len);
        loop_until(now_ns() + 5000000000ull, seed_acked, NULL, 20);
        g_conns[0]->got_reply = 0;
    }
    for (int i = 0; i < g_nconns; i++) {
        if (g_conns[i]->state != ST_OPEN)
            continue;
        len = snprintf(msg, sizeof msg, "{\"#\":\"q%d-%s\",\"get\":{\"#\":\"%s\"}}", i, g_tag, KSOUL);
        ws_send_text(g_conns[i], msg, (size_t)len);
        if ((i & 255) == 255)
            loop_until(now_ns() + 1000000, NULL, NULL, 1);
    }
    loop_until(now_ns() + 60000000000ull, conns_answered, NULL, 50);
    loop_until(now_ns() + 2000000000ull, NULL, NULL, 100); /* let the relay settle */
    long after = rss_kib(pid);
    int open = count_state(ST_OPEN);
    fprintf(stderr, "loadgen: %d open, %d greeted by the relay, %d GETs answered\n", open, k_his, k_replies);
    jadd("{\"scenario\":\"conns\",\"conns\":%d,\"open\":%d,\"relay_greetings\":%d,\"gets_answered\":%d,"
         "\"open_s\":%.3f,\"told_to_leave_mob\":%d,\"src_ips\":%d,\"rss_before_kib\":%ld,\"rss_after_kib\":%ld,"
         "\"rss_per_conn_bytes\":%.0f",
         n, open, k_his, k_replies, open_s, k_mobs, g_src_ips, before, after,
         open ? (double)(after - before) * 1024.0 / open : 0.0);
    finish();
    return 0;
}

/* ---- scenario: coldget -------------------------------------------------------------------- *
 * Two phases, one loadgen run each; the runner restarts the relay on the same data directory
 * between them. write: M nodes (bench/cold/I, four fields whose values follow from I) with K
 * puts outstanding per connection; the acked ones go to --ackfile as a bitmap. read: GET each
 * node with K outstanding per connection and check every field; a node is ok, partial (some
 * fields missing), wrong (a field with another value) or missing (no fields or no answer). */

enum { CF_NAME = 1, CF_N = 2, CF_H = 4, CF_PAD = 8, CF_ALL = 15, CF_WRONG = 16, CF_REPLIED = 32 };
static long long c_nodes;
static uint8_t *c_state;     /* per node: CF_* bits */
static uint8_t *c_acked;     /* bitmap: write acked */
static uint64_t *c_sent_t;   /* per node: send time (0 = not outstanding) */
static long long c_done, c_acks, c_errs, c_replies;
static int c_read, c_k;
static long long *c_list; /* the retry pass: node numbers to ask again (NULL: 0..M-1) */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

static void cold_send(conn_t *c)
{
    while (c->inflight < c_k && c->next_i < c->end_i) {
        long long i = c_list ? c_list[c->next_i] : c->next_i;
        c->next_i++;
        char msg[600];
        int n;
        if (c_read) {
            n = snprintf(msg, sizeof msg, "{\"#\":\"r%lld-%s\",\"get\":{\"#\":\"bench/cold/%lld\"}}", i, g_tag, i);
        } else {
            double st = wall_ms();
            n = snprintf(msg, sizeof msg,
                         "{\"#\":\"w%lld-%s\",\"put\":{\"bench/cold/%lld\":{\"_\":{\"#\":\"bench/cold/%lld\","
                         "\">\":{\"name\":%.3f,\"n\":%.3f,\"h\":%.3f,\"pad\":%.3f}},\"name\":\"cold %lld\","
                         "\"n\":%lld,\"h\":\"%016llx\",\"pad\":\"%s\"}}}",
                         i, g_tag, i, i, st, st, st, st, i, i, (unsigned long long)mix64((uint64_t)i), g_pad);
        }
        ws_queue(c, 1, msg, (size_t)n);
        c_sent_t[i] = now_ns();
        c->inflight++;
    }
    conn_flush(c);
}

/* Checks the fields of one node object in a GET reply against what the write phase put. */
static void cold_check(long long i, const char *p, const char *e)
{
    p = ws_skip(p, e);
    if (p >= e || *p != '{')
        return;
    p++;
    char want[200];
    for (;;) {
        p = ws_skip(p, e);
        if (p >= e || *p != '"')
            return;
        const char *k = p + 1, *ke = skip_value(p, e);
        if (!ke)
            return;
        size_t kl = (size_t)(ke - 1 - k);
        p = ws_skip(ke, e);
        if (p >= e || *p != ':')
            return;
        const char *v = ws_skip(p + 1, e), *ve = skip_value(v, e);
        if (!ve)
            return;
        int bit = 0, wl = 0;
        if (kl == 4 && !memcmp(k, "name", 4))
            bit = CF_NAME, wl = snprintf(want, sizeof want, "\"cold %lld\"", i);
        else if (kl == 1 && *k == 'n')
            bit = CF_N, wl = snprintf(want, sizeof want, "%lld", i);
        else if (kl == 1 && *k == 'h')
            bit = CF_H, wl = snprintf(want, sizeof want, "\"%016llx\"", (unsigned long long)mix64((uint64_t)i));
        else if (kl == 3 && !memcmp(k, "pad", 3))
            bit = CF_PAD, wl = snprintf(want, sizeof want, "\"%s\"", g_pad);
        if (bit) {
            if (ve - v == wl && !memcmp(v, want, (size_t)wl)) {
                c_state[i] |= (uint8_t)bit;
            } else {
                static int shown;
                if (shown++ < 5)
                    fprintf(stderr, "loadgen: coldget: node %lld field %.*s is %.*s, not %s\n", i, (int)kl, k,
                            (int)(ve - v > 120 ? 120 : ve - v), v, want);
                c_state[i] |= CF_WRONG;
            }
        }
        p = ws_skip(ve, e);
        if (p < e && *p == ',')
            p++;
    }
}

static void cold_on_one(conn_t *c, gmsg_t *mp)
{
    gmsg_t m = *mp;
    long long i;
    char idbuf[64];
    if (m.at && m.at_len < sizeof idbuf) {
        memcpy(idbuf, m.at, m.at_len);
        idbuf[m.at_len] = 0;
        if (sscanf(idbuf + 1, "%lld", &i) == 1 && i >= 0 && i < c_nodes &&
            idbuf[0] == (c_read ? 'r' : 'w')) {
            if (c_read && m.has_put) {
                /* put: {"bench/cold/I": {node}} — look inside the node with our soul */
                char soul[48];
                int sl = snprintf(soul, sizeof soul, "\"bench/cold/%lld\"", i);
                const char *s = memmem(m.put, (size_t)(m.put_end - m.put), soul, (size_t)sl);
                if (s) {
                    s = ws_skip(s + sl, m.put_end);
                    if (s < m.put_end && *s == ':')
                        cold_check(i, s + 1, m.put_end);
                }
            }
            if (c_sent_t[i]) { /* first answer */
                sample_add(&g_lat, now_ns() - c_sent_t[i]);
                c_sent_t[i] = 0;
                c->inflight--;
                c_done++;
                if (c_read) {
                    c_replies++;
                    c_state[i] |= CF_REPLIED;
                } else if (m.has_err) {
                    c_errs++;
                } else {
                    c_acks++;
                    c_acked[i >> 3] |= (uint8_t)(1u << (i & 7));
                }
                cold_send(c);
            }
        }
    }
}

static void cold_on_msg(conn_t *c, const char *p, size_t n)
{
    each_msg(c, p, n, cold_on_one);
}

static long long c_last_done, c_target;
static uint64_t c_last_progress;
static int cold_finished(void)
{
    if (c_done >= c_target)
        return 1;
    if (c_done != c_last_done) {
        c_last_done = c_done;
        c_last_progress = now_ns();
    }
    return now_ns() - c_last_progress > 10000000000ull; /* 10 s without an answer */
}

/* Sends `count` requests (nodes 0..count-1, or c_list[0..count-1]) spread over the
 * connections, K outstanding on each, and runs until all are answered or answers stop. */
static void cold_pass(int conns, long long count)
{
    c_done = c_last_done = 0;
    c_target = count;
    for (int i = 0; i < conns; i++) {
        g_conns[i]->next_i = count * i / conns;
        g_conns[i]->end_i = count * (i + 1) / conns;
        cold_send(g_conns[i]);
    }
    c_last_progress = now_ns();
    loop_until(UINT64_MAX, cold_finished, NULL, 100);
}

static int run_coldget(int conns, int k, long long nodes, const char *phase, const char *ackfile)
{
    c_nodes = nodes;
    c_k = k;
    c_read = !strcmp(phase, "read");
    if (!c_read && strcmp(phase, "write"))
        usage();
    memset(g_pad, 'x', 100);
    c_state = calloc((size_t)nodes, 1);
    c_acked = calloc((size_t)nodes / 8 + 1, 1);
    c_sent_t = calloc((size_t)nodes, sizeof *c_sent_t);
    if (!c_state || !c_acked || !c_sent_t)
        die("out of memory");
    open_all(conns, cold_on_msg);
    loop_until(now_ns() + 300000000ull, NULL, NULL, 50); /* greetings */
    g_t0 = now_ns();
    getrusage(RUSAGE_SELF, &g_ru0);
    cold_pass(conns, nodes);
    double el = (double)(now_ns() - g_t0) / 1e9;
    qsort(g_lat.v, g_lat.n, sizeof *g_lat.v, cmp_u32);
    if (!c_read) {
        if (ackfile) {
            FILE *f = fopen(ackfile, "wb");
            if (!f || fwrite(c_acked, 1, (size_t)nodes / 8 + 1, f) != (size_t)nodes / 8 + 1 || fclose(f))
                die("cannot write %s", ackfile);
        }
        jadd("{\"scenario\":\"coldget\",\"phase\":\"write\",\"nodes\":%lld,\"conns\":%d,\"outstanding\":%d,"
             "\"seconds\":%.3f,\"acked\":%lld,\"err_acks\":%lld,\"unanswered\":%lld,\"acked_per_s\":%.1f,"
             "\"p50_ms\":%.3f,\"p99_ms\":%.3f",
             nodes, conns, k, el, c_acks, c_errs, nodes - c_done, (double)c_acks / el,
             pct_ms(&g_lat, 0.5), pct_ms(&g_lat, 0.99));
        finish();
        return 0;
    }
    loop_until(now_ns() + 300000000ull, NULL, NULL, 50); /* late chunks of a split reply */
    double p50 = pct_ms(&g_lat, 0.5), p99 = pct_ms(&g_lat, 0.99);
    long long replies = c_replies;
    /* Ask once more for every node that was not whole: fields that come only now mean a slow or
     * split first reply, not lost data. The verdict below is over both answers. */
    long long nretry = 0, retry_ok = 0;
    c_list = calloc((size_t)nodes, sizeof *c_list);
    for (long long i = 0; i < nodes; i++)
        if ((c_state[i] & (CF_ALL | CF_WRONG)) != CF_ALL) {
            if (nretry < 5)
                fprintf(stderr, "loadgen: coldget: node %lld not whole on first read (state bits 0x%x)\n", i,
                        c_state[i]);
            c_list[nretry++] = i; /* fields seen now are kept: the verdict is the union */
        }
    if (nretry) {
        cold_pass(conns, nretry);
        loop_until(now_ns() + 300000000ull, NULL, NULL, 50);
        for (long long j = 0; j < nretry; j++)
            retry_ok += (c_state[c_list[j]] & (CF_ALL | CF_WRONG)) == CF_ALL;
    }
    int have_acks = 0;
    if (ackfile) {
        FILE *f = fopen(ackfile, "rb");
        if (f) {
            have_acks = fread(c_acked, 1, (size_t)nodes / 8 + 1, f) == (size_t)nodes / 8 + 1;
            fclose(f);
        }
    }
    long long ok = 0, missing = 0, partial = 0, wrong = 0, noreply = 0, lost_acked = 0;
    for (long long i = 0; i < nodes; i++) {
        uint8_t st = c_state[i];
        int good = 0;
        if (st & CF_WRONG)
            wrong++;
        else if ((st & CF_ALL) == CF_ALL)
            ok++, good = 1;
        else if (st & CF_ALL)
            partial++;
        else
            missing++;
        noreply += !(st & CF_REPLIED);
        if (!good && have_acks && (c_acked[i >> 3] & (1u << (i & 7))))
            lost_acked++;
    }
    jadd("{\"scenario\":\"coldget\",\"phase\":\"read\",\"nodes\":%lld,\"conns\":%d,\"outstanding\":%d,"
         "\"seconds\":%.3f,\"answered\":%lld,\"gets_per_s\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
         "\"ok\":%lld,\"missing\":%lld,\"partial\":%lld,\"wrong\":%lld,\"no_reply\":%lld,"
         "\"acked_not_read_back\":%lld,\"retried\":%lld,\"whole_on_retry\":%lld",
         nodes, conns, k, el, replies, (double)replies / el, p50, p99, ok, missing, partial, wrong, noreply, have_acks ? lost_acked : -1, nretry,
         retry_ok);
    finish();
    return 0;
}

/* ---- main --------------------------------------------------------------------------------- */

static void usage(void)
{
    fputs("usage: loadgen --url ws://HOST:PORT/gun SCENARIO [options]\n"
          "  put     [--conns 16] [--outstanding 256] [--seconds 10] [--echo]\n"
          "  fanout  [--subs 200] [--rate 100] [--seconds 10]\n"
          "  conns   [--conns 1000] --pid PID [--src-ips N]\n"
          "  coldget --phase write|read [--nodes 20000] [--conns 4] [--outstanding 64] [--ackfile F]\n"
          "--echo: the server is bench/echo (its echo of a put counts as the ack).\n"
          "--src-ips N: spread connections over source addresses 127.0.0.1..N (more than ~28k\n"
          "  connections to one address:port need it; conns picks it itself above 25,000).\n"
          "Prints one JSON line with the result and loadgen's own CPU time.\n",
          stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    const char *url = NULL, *scen = NULL, *phase = NULL, *ackfile = NULL;
    int conns = -1, k = -1, subs = 200, pid = 0;
    long long nodes = 20000;
    double secs = 10, rate = 100;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--url") && v)
            url = argv[++i];
        else if (!strcmp(a, "--conns") && v)
            conns = atoi(argv[++i]);
        else if (!strcmp(a, "--outstanding") && v)
            k = atoi(argv[++i]);
        else if (!strcmp(a, "--seconds") && v)
            secs = atof(argv[++i]);
        else if (!strcmp(a, "--subs") && v)
            subs = atoi(argv[++i]);
        else if (!strcmp(a, "--rate") && v)
            rate = atof(argv[++i]);
        else if (!strcmp(a, "--pid") && v)
            pid = atoi(argv[++i]);
        else if (!strcmp(a, "--nodes") && v)
            nodes = atoll(argv[++i]);
        else if (!strcmp(a, "--phase") && v)
            phase = argv[++i];
        else if (!strcmp(a, "--ackfile") && v)
            ackfile = argv[++i];
        else if (!strcmp(a, "--src-ips") && v)
            g_src_ips = atoi(argv[++i]);
        else if (!strcmp(a, "--echo"))
            g_echo = 1;
        else if (a[0] != '-' && !scen)
            scen = a;
        else
            usage();
    }
    if (!url || !scen || strncmp(url, "ws://", 5) || conns == 0 || k == 0 || nodes <= 0 ||
        g_src_ips < 1 || g_src_ips > 250 || secs <= 0 || rate <= 0 || subs <= 0)
        usage();
    const char *hp = url + 5, *sl = strchr(hp, '/'), *co = memchr(hp, ':', sl ? (size_t)(sl - hp) : strlen(hp));
    if (!co)
        die("url needs an explicit port");
    snprintf(g_host, sizeof g_host, "%.*s", (int)(co - hp), hp);
    g_port = atoi(co + 1);
    snprintf(g_path, sizeof g_path, "%s", sl ? sl : "/");
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", g_port);
    if (getaddrinfo(g_host, ps, &hints, &ai))
        die("cannot resolve %s", g_host);
    memcpy(&g_addr, ai->ai_addr, ai->ai_addrlen);
    g_addrlen = ai->ai_addrlen;
    freeaddrinfo(ai);

    /* Every connection is one descriptor: take the hard limit, and say so if N will not fit. */
    struct rlimit rl;
    if (!getrlimit(RLIMIT_NOFILE, &rl)) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
        int want = (conns > 0 ? conns : 0) + 16;
        if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)want > rl.rlim_cur)
            fprintf(stderr, "loadgen: RLIMIT_NOFILE is %llu (hard limit): fewer than %d connections will open\n",
                    (unsigned long long)rl.rlim_cur, want - 16);
    }
    g_ep = epoll_create1(EPOLL_CLOEXEC);
    g_rng ^= (uint32_t)now_ns() ^ (uint32_t)getpid() << 16;
    static const char b36[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    for (int i = 0; i < 6; i++)
        g_tag[i] = b36[rng() % 36];

    if (!strcmp(scen, "put"))
        return run_put(conns > 0 ? conns : 16, k > 0 ? k : 256, secs);
    if (!strcmp(scen, "fanout"))
        return run_fanout(subs, rate, secs);
    if (!strcmp(scen, "conns")) {
        if (!pid)
            usage();
        int n = conns > 0 ? conns : 1000;
        if (g_src_ips == 1 && n > 25000 && g_addr.ss_family == AF_INET)
            g_src_ips = (n + 24999) / 25000;
        return run_conns(n, pid);
    }
    if (!strcmp(scen, "coldget")) {
        if (!phase)
            usage();
        return run_coldget(conns > 0 ? conns : 4, k > 0 ? k : 64, nodes, phase, ackfile);
    }
    usage();
}

/* transport/ws: a server and clients on one loop, over loopback. */
#include <uv.h>

#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "transport/transport.h"

typedef struct side {
    int opens, closes, frames, oversize;
    char last[256];
    size_t last_len;
    gun__conn *conn;
    int echo;
} side;

static void s_open(void *arg, gun__conn *c)
{
    side *s = arg;
    s->opens++;
    s->conn = c;
}
static void s_frame(void *arg, gun__conn *c, const char *t, size_t n)
{
    side *s = arg;
    s->frames++;
    s->last_len = n;
    memcpy(s->last, t, n < sizeof s->last ? n : sizeof s->last - 1);
    s->last[n < sizeof s->last ? n : sizeof s->last - 1] = 0;
    if (s->echo) {
        gun__frame *f = gun__frame_new(t, n);
        gun__conn_send(c, f);
        gun__frame_unref(f);
    }
}
static void s_over(void *arg, gun__conn *c, size_t n)
{
    side *s = arg;
    s->oversize++;
    s->last_len = n;
}
static void s_close(void *arg, gun__conn *c, const char *why)
{
    side *s = arg;
    s->closes++;
    if (s->conn == c)
        s->conn = NULL;
}
static const gun__transport_cbs cbs = {s_open, s_frame, s_over, s_close, NULL};

static void run_until(uv_loop_t *loop, int *flag, int want, int ms)
{
    uint64_t end = gun__mono_ms() + (uint64_t)ms;
    while (*flag < want && gun__mono_ms() < end)
        uv_run(loop, UV_RUN_ONCE);
}

static uv_timer_t tick;
static void tick_cb(uv_timer_t *t) { (void)t; }

static gun__ws *mk_with(uv_loop_t *loop, int port, const gun__transport_cbs *cb, void *arg,
                        size_t max_frame, size_t max_queue, uint32_t flush_budget)
{
    gun__ws_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.loop = loop;
    cfg.host = "127.0.0.1";
    cfg.port = port;
    cfg.path = "/gun";
    cfg.max_frame = max_frame;
    cfg.max_queue = max_queue;
    cfg.flush_budget = flush_budget;
    gun__ws *w = NULL;
    gun__err e;
    cr_assert_eq(gun__ws_new(&w, &cfg, cb, arg, &e), GUN_OK, "%s", e.msg);
    return w;
}

static gun__ws *mk(uv_loop_t *loop, int port, side *s, size_t max_frame, size_t max_queue)
{
    return mk_with(loop, port, &cbs, s, max_frame, max_queue, 0);
}

static gun__ws *mk_budget(uv_loop_t *loop, int port, side *s, size_t max_frame,
                          size_t max_queue, uint32_t flush_budget)
{
    return mk_with(loop, port, &cbs, s, max_frame, max_queue, flush_budget);
}

/* Client c dials server s; returns the client's connection once it is open. */
static gun__conn *dial_open(uv_loop_t *loop, gun__ws *c, side *cli, gun__ws *s)
{
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/gun", gun__ws_port(s));
    gun__conn *conn;
    cr_assert_eq(gun__ws_connect(c, url, &conn), GUN_OK);
    run_until(loop, &cli->opens, 1, 5000);
    cr_assert_eq(cli->opens, 1);
    return conn;
}

/* As gun__ws_free asks: free, run the loop until lws's handles have closed, then reap. */
static void finish(uv_loop_t *loop, gun__ws *a, gun__ws *b)
{
    void *ra = gun__ws_free(a), *rb = gun__ws_free(b);
    uv_timer_stop(&tick);
    uv_close((uv_handle_t *)&tick, NULL);
    for (int i = 0; i < 50 && uv_run(loop, UV_RUN_NOWAIT); i++)
        ;
    gun__ws_reap(ra);
    gun__ws_reap(rb);
    cr_expect_eq(uv_loop_close(loop), 0);
}

Test(ws, echo_round_trip_and_reconnect_state, .timeout = 20)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    uv_timer_init(&loop, &tick);
    uv_timer_start(&tick, tick_cb, 10, 10); /* keeps UV_RUN_ONCE from blocking forever */
    side srv = {.echo = 1}, cli = {0};
    gun__ws *s = mk(&loop, 0, &srv, 1 << 20, 1 << 20);
    int port = gun__ws_port(s);
    cr_assert_gt(port, 0);
    gun__ws *c = mk(&loop, -1, &cli, 1 << 20, 1 << 20);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/gun", port); /* Gun.js style peer URL */
    gun__conn *conn;
    cr_assert_eq(gun__ws_connect(c, url, &conn), GUN_OK);
    run_until(&loop, &cli.opens, 1, 5000);
    cr_assert_eq(cli.opens, 1);
    cr_assert(conn->outgoing && conn->open);
    gun__frame *f = gun__frame_new("{\"#\":\"abc\"}", 11);
    cr_assert_eq(gun__conn_send(conn, f), GUN_OK);
    gun__frame_unref(f);
    run_until(&loop, &cli.frames, 1, 5000);
    cr_expect_str_eq(cli.last, "{\"#\":\"abc\"}");
    cr_expect_eq(srv.frames, 1);
    finish(&loop, c, s);
}

Test(ws, wrong_path_is_refused_and_client_retries, .timeout = 20)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    uv_timer_init(&loop, &tick);
    uv_timer_start(&tick, tick_cb, 10, 10);
    side srv = {0}, cli = {0};
    gun__ws *s = mk(&loop, 0, &srv, 1 << 20, 1 << 20);
    gun__ws *c = mk(&loop, -1, &cli, 1 << 20, 1 << 20);
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/nope", gun__ws_port(s));
    cr_assert_eq(gun__ws_connect(c, url, NULL), GUN_OK);
    int never = 0;
    run_until(&loop, &never, 1, 600);
    cr_expect_eq(cli.opens, 0);
    cr_expect_eq(srv.opens, 0);
    cr_expect_eq(gun__ws_connect(c, "ftp://x/gun", NULL), GUN_EINVAL);
    finish(&loop, c, s);
}

Test(ws, oversize_message_is_reported_not_delivered, .timeout = 20)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    uv_timer_init(&loop, &tick);
    uv_timer_start(&tick, tick_cb, 10, 10);
    side srv = {0}, cli = {0};
    gun__ws *s = mk(&loop, 0, &srv, 1000, 1 << 20);
    gun__ws *c = mk(&loop, -1, &cli, 1 << 20, 1 << 20);
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/gun", gun__ws_port(s));
    gun__conn *conn;
    cr_assert_eq(gun__ws_connect(c, url, &conn), GUN_OK);
    run_until(&loop, &cli.opens, 1, 5000);
    char big[20000];
    memset(big, 'x', sizeof big);
    gun__frame *f = gun__frame_new(big, sizeof big);
    gun__conn_send(conn, f);
    gun__frame_unref(f);
    f = gun__frame_new("[]", 2);
    gun__conn_send(conn, f);
    gun__frame_unref(f);
    run_until(&loop, &srv.frames, 1, 5000);
    cr_expect_eq(srv.oversize, 1);
    cr_expect_eq(srv.frames, 1);
    cr_expect_str_eq(srv.last, "[]");
    finish(&loop, c, s);
}

/* lws hands over at most its rx buffer (512 bytes) per callback: bigger messages arrive in
 * pieces and must reach on_frame whole, byte for byte, in order with small ones. */
typedef struct whole {
    side s; /* first: the other callbacks take a whole * as a side * */
    int bad;
    size_t lens[4];
} whole;

static void w_frame(void *arg, gun__conn *c, const char *t, size_t n)
{
    (void)c;
    whole *k = arg;
    for (size_t i = 0; i < n; i++)
        if (t[i] != (char)('a' + (i * 7 + n) % 26))
            k->bad++;
    if (k->s.frames < 4)
        k->lens[k->s.frames] = n;
    k->s.frames++;
}

static gun__frame *pattern(size_t n)
{
    char *b = gun__malloc(n);
    cr_assert_not_null(b);
    for (size_t i = 0; i < n; i++)
        b[i] = (char)('a' + (i * 7 + n) % 26);
    gun__frame *f = gun__frame_new(b, n);
    gun__free(b);
    return f;
}

Test(ws, messages_bigger_than_the_rx_buffer_arrive_whole, .timeout = 20)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    uv_timer_init(&loop, &tick);
    uv_timer_start(&tick, tick_cb, 10, 10);
    whole got;
    memset(&got, 0, sizeof got);
    gun__transport_cbs wcbs = cbs;
    wcbs.on_frame = w_frame;
    gun__ws *s = mk_with(&loop, 0, &wcbs, &got, 1 << 20, 1 << 20, 0);
    side cli = {0};
    gun__ws *c = mk(&loop, -1, &cli, 1 << 20, 1 << 20);
    gun__conn *conn = dial_open(&loop, c, &cli, s);
    /* One at a time, so that each leaves as its own message (not one batch) and the send
     * queue drains and refills between them. */
    const size_t sizes[4] = {200000, 513, 512, 100};
    for (int i = 0; i < 4; i++) {
        gun__frame *f = pattern(sizes[i]);
        cr_assert_eq(gun__conn_send(conn, f), GUN_OK);
        gun__frame_unref(f);
        run_until(&loop, &got.s.frames, i + 1, 5000);
    }
    cr_expect_eq(got.s.frames, 4);
    cr_expect_eq(got.bad, 0);
    for (int i = 0; i < 4; i++)
        cr_expect_eq(got.lens[i], sizes[i], "message %d: %zu bytes, sent %zu", i, got.lens[i],
                     sizes[i]);
    finish(&loop, c, s);
}

Test(ws, send_queue_cap_disconnects_slow_peer, .timeout = 20)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    uv_timer_init(&loop, &tick);
    uv_timer_start(&tick, tick_cb, 10, 10);
    side srv = {0}, cli = {0};
    gun__ws *s = mk(&loop, 0, &srv, 1 << 20, 4096);
    gun__ws *c = mk(&loop, -1, &cli, 1 << 20, 1 << 20);
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/gun", gun__ws_port(s));
    cr_assert_eq(gun__ws_connect(c, url, NULL), GUN_OK);
    run_until(&loop, &srv.opens, 1, 5000);
    cr_assert_not_null(srv.conn);
    char chunk[1000];
    memset(chunk, 'y', sizeof chunk);
    gun__frame *f = gun__frame_new(chunk, sizeof chunk);
    int rc = GUN_OK, sent = 0;
    /* Queue without running the loop: the cap trips at 4 KB. */
    for (int i = 0; i < 10 && rc == GUN_OK; i++, sent++)
        rc = gun__conn_send(srv.conn, f);
    gun__frame_unref(f);
    cr_expect_eq(rc, GUN_ETOOBIG);
    cr_expect_eq(sent, 5);
    run_until(&loop, &srv.closes, 1, 5000);
    cr_expect_eq(srv.closes, 1);
    finish(&loop, c, s);
}

/* Frames queued before the socket is writable leave as one Gun batch: objects as they are,
 * arrays flattened, "[]" dropped; in order, and never over the 64 KiB batch bound. */
typedef struct collect {
    side s;
    gun__buf all; /* every message's members, comma-joined */
    int batches;
} collect;

static void c_frame(void *arg, gun__conn *c, const char *t, size_t n)
{
    (void)c;
    collect *k = arg;
    k->s.frames++;
    cr_assert(n <= 64 * 1024 + 2, "a batch of %zu bytes", n);
    const char *p = t;
    size_t len = n;
    if (n >= 2 && t[0] == '[') {
        k->batches++;
        p = t + 1, len = n - 2;
    }
    if (!len)
        return;
    if (k->all.len)
        gun__buf_addc(&k->all, ',');
    gun__buf_add(&k->all, p, len);
}

Test(ws, queued_frames_leave_as_one_batch, .timeout = 20)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    uv_timer_init(&loop, &tick);
    uv_timer_start(&tick, tick_cb, 10, 10);
    collect srv;
    memset(&srv, 0, sizeof srv);
    gun__buf_init(&srv.all);
    gun__transport_cbs ccbs = cbs;
    ccbs.on_frame = c_frame;
    gun__ws *s = mk_with(&loop, 0, &ccbs, &srv, 1 << 20, 8 << 20, 0);
    side cli = {0};
    gun__ws *c = mk(&loop, -1, &cli, 1 << 20, 8 << 20);
    gun__conn *conn = dial_open(&loop, c, &cli, s);

    /* 1,000 frames (~60 kB, 1,099 messages) queued in one go: some arrays, one empty. */
    gun__buf want;
    gun__buf_init(&want);
    char text[128];
    int sent = 0;
    for (int i = 0; i < 1000; i++) {
        int n;
        if (i % 10 == 3)
            n = snprintf(text, sizeof text, "[{\"#\":\"a%d\"},{\"#\":\"b%d\"}]", i, i);
        else if (i == 500)
            n = snprintf(text, sizeof text, "[]");
        else
            n = snprintf(text, sizeof text, "{\"#\":\"m%d\",\"pad\":\"%040d\"}", i, i);
        gun__frame *f = gun__frame_new(text, (size_t)n);
        cr_assert_eq(gun__conn_send(conn, f), GUN_OK);
        gun__frame_unref(f);
        sent++;
        const char *p = text;
        size_t len = (size_t)n;
        if (text[0] == '[')
            p++, len -= 2;
        if (len) {
            if (want.len)
                gun__buf_addc(&want, ',');
            gun__buf_add(&want, p, len);
        }
    }
    uint64_t end = gun__mono_ms() + 10000;
    while (srv.all.len < want.len && gun__mono_ms() < end)
        uv_run(&loop, UV_RUN_ONCE);
    cr_assert_eq(srv.all.len, want.len);
    cr_expect(memcmp(srv.all.p, want.p, want.len) == 0, "messages out of order or changed");
    cr_expect(srv.s.frames < sent / 10, "%d WebSocket messages for %d frames", srv.s.frames, sent);
    cr_expect(srv.batches >= 1);
    gun__buf_free(&want);
    gun__buf_free(&srv.all);
    finish(&loop, c, s);
}

/* A raw client: the frames the server writes are read straight off the socket, without running
 * the loop, so what one loop turn put on the wire can be seen. */
static int raw_connect(uv_loop_t *loop, int port, side *srv)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    char req[256];
    int n = snprintf(req, sizeof req,
                     "GET /gun HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     port);
    cr_assert_eq(send(fd, req, (size_t)n, 0), n);
    run_until(loop, &srv->opens, 1, 5000);
    cr_assert_eq(srv->opens, 1);
    /* the 101 response ends the headers; nothing else is sent before our frame */
    char resp[1024];
    size_t got = 0;
    while (got < 4 || memcmp(resp + got - 4, "\r\n\r\n", 4)) {
        cr_assert_eq(recv(fd, resp + got, 1, 0), 1);
        got++;
        cr_assert(got < sizeof resp);
    }
    cr_assert(!memcmp(resp, "HTTP/1.1 101", 12));
    return fd;
}

/* Reads what is on the socket now (waiting at most ms for more); returns the byte count. */
static size_t raw_read(int fd, char *buf, size_t cap, int ms)
{
    size_t got = 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (got < cap && poll(&p, 1, ms) == 1) {
        ssize_t n = recv(fd, buf + got, cap - got, MSG_DONTWAIT);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got;
}

/* What is queued in a loop turn is written in that turn, all of it: a 12 kB frame once took a
 * loop turn per kilobyte (lws cut writes at the 1 kB rx buffer size), each waiting for a
 * WRITEABLE callback; and frames queued together leave as one batch in one turn. */
Test(ws, queued_frames_are_written_whole_in_one_loop_turn, .timeout = 20)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    uv_timer_init(&loop, &tick);
    uv_timer_start(&tick, tick_cb, 10, 10);
    side srv = {0};
    gun__ws *s = mk(&loop, 0, &srv, 1 << 20, 1 << 20);
    int fd = raw_connect(&loop, gun__ws_port(s), &srv);

    static char big[12000], got[13000];
    big[0] = '{';
    memset(big + 1, ' ', sizeof big - 2);
    big[sizeof big - 1] = '}';
    gun__frame *f = gun__frame_new(big, sizeof big);
    cr_assert_eq(gun__conn_send(srv.conn, f), GUN_OK);
    gun__frame_unref(f);
    cr_expect_eq(srv.conn->queued_bytes, sizeof big); /* queued, not yet written */
    uv_run(&loop, UV_RUN_NOWAIT);
    cr_expect_eq(srv.conn->queued_bytes, 0);
    size_t n = raw_read(fd, got, sizeof got, 200);
    cr_assert_eq(n, 4 + sizeof big, "%zu bytes on the wire after one loop turn", n);
    cr_expect_eq((unsigned char)got[0], 0x81); /* FIN, text */
    cr_expect_eq((unsigned char)got[1], 126);
    cr_expect_eq(((unsigned char)got[2] << 8 | (unsigned char)got[3]), (int)sizeof big);
    cr_expect(!memcmp(got + 4, big, sizeof big));

    /* Two frames queued in one turn: one message "[a,b]", in that one turn. */
    f = gun__frame_new("{\"#\":\"a\"}", 9);
    gun__conn_send(srv.conn, f);
    gun__frame_unref(f);
    f = gun__frame_new("{\"#\":\"b\"}", 9);
    gun__conn_send(srv.conn, f);
    gun__frame_unref(f);
    uv_run(&loop, UV_RUN_NOWAIT);
    n = raw_read(fd, got, sizeof got, 200);
    cr_assert_eq(n, 2 + 21, "%zu bytes", n);
    cr_expect(!memcmp(got + 2, "[{\"#\":\"a\"},{\"#\":\"b\"}]", 21));

    close(fd);
    run_until(&loop, &srv.closes, 1, 5000);
    finish(&loop, s, NULL);
}

/* One loop turn writes at most flush_budget connections, those that queued first; the rest go
 * in the next turn (a fan-out round over thousands of subscribers spans several turns, so
 * reads go on in between). */
Test(ws, a_loop_turn_writes_the_oldest_connections_up_to_the_budget, .timeout = 20)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    uv_timer_init(&loop, &tick);
    uv_timer_start(&tick, tick_cb, 10, 10);
    side srv = {0};
    gun__ws *s = mk_budget(&loop, 0, &srv, 1 << 20, 1 << 20, 2);
    int fd[3];
    gun__conn *conn[3];
    for (int i = 0; i < 3; i++) {
        srv.opens = 0;
        fd[i] = raw_connect(&loop, gun__ws_port(s), &srv);
        conn[i] = srv.conn;
    }
    /* queued in the order 2, 0, 1 */
    static const int order[3] = {2, 0, 1};
    for (int i = 0; i < 3; i++) {
        gun__frame *f = gun__frame_new("{}", 2);
        cr_assert_eq(gun__conn_send(conn[order[i]], f), GUN_OK);
        gun__frame_unref(f);
    }
    char got[16];
    uv_run(&loop, UV_RUN_NOWAIT);
    cr_expect_eq(raw_read(fd[2], got, sizeof got, 100), 4, "first queued, first written");
    cr_expect_eq(raw_read(fd[0], got, sizeof got, 100), 4);
    cr_expect_eq(raw_read(fd[1], got, sizeof got, 50), 0, "over the budget: waits a turn");
    cr_expect_eq(conn[1]->queued_bytes, 2);
    uv_run(&loop, UV_RUN_NOWAIT);
    cr_expect_eq(raw_read(fd[1], got, sizeof got, 100), 4);
    cr_expect(!memcmp(got, "\x81\x02{}", 4));

    srv.closes = 0;
    for (int i = 0; i < 3; i++)
        close(fd[i]);
    run_until(&loop, &srv.closes, 3, 5000);
    finish(&loop, s, NULL);
}

/* A send() the socket takes only in part leaves the rest of the message with lws; until lws
 * has sent it, it counts in queued_bytes, so max_queue bounds it as it bounds our queue (a
 * peer that stops reading cannot make lws hold message after message outside the cap). */
Test(ws, bytes_lws_keeps_after_a_partial_send_count_against_the_queue, .timeout = 30)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    uv_timer_init(&loop, &tick);
    uv_timer_start(&tick, tick_cb, 10, 10);
    side srv = {0};
    gun__ws *s = mk(&loop, 0, &srv, 1 << 20, 8u << 20);
    int fd = raw_connect(&loop, gun__ws_port(s), &srv); /* never reads from here on */
    /* 6 MiB: more than loopback's socket buffers take from a peer that does not read */
    gun__frame *big = pattern(6u << 20);
    cr_assert_eq(gun__conn_send(srv.conn, big), GUN_OK);
    gun__frame_unref(big);
    for (int i = 0; i < 20; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    cr_expect_gt(srv.conn->queued_bytes, 2u << 20, "lws's rest of the message is counted (%zu)",
                 srv.conn->queued_bytes);
    /* 3 MiB more would pass the 8 MiB cap only with lws's part counted */
    gun__frame *more = pattern(3u << 20);
    cr_expect_eq(gun__conn_send(srv.conn, more), GUN_ETOOBIG);
    gun__frame_unref(more);
    run_until(&loop, &srv.closes, 1, 15000);
    cr_expect_eq(srv.closes, 1, "the slow peer is dropped");
    close(fd);
    finish(&loop, s, NULL);
}

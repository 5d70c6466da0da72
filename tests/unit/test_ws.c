/* transport/ws: a server and clients on one loop, over loopback. */
#include <uv.h>

#include <criterion/criterion.h>
#include <string.h>

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
                        size_t max_frame, size_t max_queue)
{
    gun__ws_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.loop = loop;
    cfg.host = "127.0.0.1";
    cfg.port = port;
    cfg.path = "/gun";
    cfg.max_frame = max_frame;
    cfg.max_queue = max_queue;
    gun__ws *w = NULL;
    gun__err e;
    cr_assert_eq(gun__ws_new(&w, &cfg, cb, arg, &e), GUN_OK, "%s", e.msg);
    return w;
}

static gun__ws *mk(uv_loop_t *loop, int port, side *s, size_t max_frame, size_t max_queue)
{
    return mk_with(loop, port, &cbs, s, max_frame, max_queue);
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
    gun__ws *s = mk_with(&loop, 0, &wcbs, &got, 1 << 20, 1 << 20);
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
    gun__ws *s = mk_with(&loop, 0, &ccbs, &srv, 1 << 20, 8 << 20);
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

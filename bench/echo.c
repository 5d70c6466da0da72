/* echo: a bare libwebsockets echo server, the ceiling for any relay on this stack (issue 7).
 *
 * Listens the way our relay does (src/transport/ws/ws.c): lws on a libuv loop the program
 * owns, the same context options (LIBUV, VALIDATE_UTF8), the same rx_buffer_size, path /gun,
 * port 0 on the given host. Each text message is sent back unchanged; like the relay it keeps a
 * per-connection queue because lws allows one lws_write per WRITEABLE callback. No parsing, no
 * storage: what is left is the WebSocket and TCP cost that every relay on lws pays.
 *
 *   echo [--host 127.0.0.1] [--port 0]     prints "echo listening on ws://HOST:PORT/gun"
 * SIGTERM or SIGINT stop it. */
#define _GNU_SOURCE
#include <uv.h>
/* uv.h first: lws picks up its libuv glue from it. */
#include <libwebsockets.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MSG (8u << 20) /* the relay's default frame cap */
#define MAX_QUEUE (4u << 20) /* bytes queued per connection before it is dropped as too slow */

typedef struct msg {
    struct msg *next;
    size_t len;
    unsigned char data[]; /* LWS_PRE headroom, then the payload */
} msg;

typedef struct {
    msg *head, *tail;
    size_t queued;
    unsigned char *rx; /* reassembly of a fragmented message */
    size_t rx_len, rx_cap;
} conn;

static void queue_free(conn *c)
{
    while (c->head) {
        msg *m = c->head;
        c->head = m->next;
        free(m);
    }
    c->tail = NULL;
    c->queued = 0;
    free(c->rx);
    c->rx = NULL;
    c->rx_len = c->rx_cap = 0;
}

static int enqueue(struct lws *wsi, conn *c, const void *p, size_t n)
{
    if (c->queued + n > MAX_QUEUE)
        return -1;
    msg *m = malloc(sizeof *m + LWS_PRE + n);
    if (!m)
        return -1;
    m->next = NULL;
    m->len = n;
    memcpy(m->data + LWS_PRE, p, n);
    if (c->tail)
        c->tail->next = m;
    else
        c->head = m;
    c->tail = m;
    c->queued += n;
    lws_callback_on_writable(wsi);
    return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    conn *c = user;
    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        memset(c, 0, sizeof *c);
        return 0;
    case LWS_CALLBACK_RECEIVE: {
        int final = lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi);
        if (final && !c->rx_len)
            return enqueue(wsi, c, in, len);
        if (c->rx_len + len > MAX_MSG)
            return -1;
        if (c->rx_len + len > c->rx_cap) {
            size_t cap = c->rx_cap ? c->rx_cap : 4096;
            while (cap < c->rx_len + len)
                cap *= 2;
            unsigned char *r = realloc(c->rx, cap);
            if (!r)
                return -1;
            c->rx = r;
            c->rx_cap = cap;
        }
        memcpy(c->rx + c->rx_len, in, len);
        c->rx_len += len;
        if (final) {
            int rc = enqueue(wsi, c, c->rx, c->rx_len);
            c->rx_len = 0;
            return rc;
        }
        return 0;
    }
    case LWS_CALLBACK_SERVER_WRITEABLE: {
        msg *m = c->head;
        if (!m)
            return 0;
        c->head = m->next;
        if (!c->head)
            c->tail = NULL;
        c->queued -= m->len;
        int n = lws_write(wsi, m->data + LWS_PRE, m->len, LWS_WRITE_TEXT);
        free(m);
        if (n < 0)
            return -1;
        if (c->head)
            lws_callback_on_writable(wsi);
        return 0;
    }
    case LWS_CALLBACK_CLOSED:
        queue_free(c);
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* Same rx_buffer_size as the relay's "gun" protocol. */
static const struct lws_protocols protocols[] = {
    {"gun", callback, sizeof(conn), 4096, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void on_signal(uv_signal_t *s, int signum)
{
    (void)signum;
    uv_stop(s->loop);
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    int port = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--host") && i + 1 < argc) {
            host = argv[++i];
        } else if (!strcmp(argv[i], "--port") && i + 1 < argc) {
            port = atoi(argv[++i]);
        } else {
            fputs("usage: echo [--host 127.0.0.1] [--port 0]\n", stderr);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    lws_set_log_level(LLL_ERR, NULL);
    uv_loop_t loop;
    uv_loop_init(&loop);
    uv_signal_t sigs[2];
    uv_signal_init(&loop, &sigs[0]);
    uv_signal_init(&loop, &sigs[1]);
    uv_signal_start(&sigs[0], on_signal, SIGTERM);
    uv_signal_start(&sigs[1], on_signal, SIGINT);

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    void *loops[1] = {&loop};
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_VALIDATE_UTF8;
    info.foreign_loops = loops;
    info.port = port;
    info.iface = host;
    info.protocols = protocols;
    struct lws_context *ctx = lws_create_context(&info);
    if (!ctx) {
        fprintf(stderr, "echo: cannot listen on %s:%d\n", host, port);
        return 1;
    }
    struct lws_vhost *vh = lws_get_vhost_by_name(ctx, "default");
    printf("echo listening on ws://%s:%d/gun\n", host, vh ? lws_get_vhost_listen_port(vh) : -1);
    fflush(stdout);
    uv_run(&loop, UV_RUN_DEFAULT);
    /* The process ends here; lws's teardown on a foreign loop is not worth its ordering rules
     * for a benchmark tool. */
    return 0;
}

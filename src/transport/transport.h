/* transport: moves text frames between this node and its peers. The mesh sees connections
 * and frames only; nothing here knows about graphs. Backends (ws today; rtc and mcast later)
 * fill a gun__transport_ops table. Everything runs on the instance's loop thread. */
#ifndef GUN_TRANSPORT_H
#define GUN_TRANSPORT_H

#include "../util/util.h"

/* Headroom before a frame's bytes: libwebsockets writes its header there (LWS_PRE). */
#define GUN__FRAME_PRE 32

/* One serialized message, shared by every peer it goes to (refcounted, loop thread only). */
typedef struct gun__frame {
    uint32_t refs;
    size_t len;
    char *data; /* len bytes + NUL, with GUN__FRAME_PRE writable bytes before it */
} gun__frame;

/* A frame holding a copy of text (refs = 1). NULL on OOM. */
gun__frame *gun__frame_new(const char *text, size_t len);
static inline gun__frame *gun__frame_ref(gun__frame *f)
{
    f->refs++;
    return f;
}
void gun__frame_unref(gun__frame *f);

typedef struct gun__conn gun__conn;
struct gun__transport_ops;

/* Why a backend refused an incoming connection (on_refused). */
enum { GUN__REFUSED_MAX_CONNS = 1, GUN__REFUSED_PER_IP = 2 };

/* What a backend tells its user (the mesh). `why` is lent for the call. */
typedef struct gun__transport_cbs {
    /* A connection is up (an accepted peer, or an outgoing one that (re)connected). */
    void (*on_open)(void *arg, gun__conn *c);
    /* One whole message (fragments already joined), lent for the call. */
    void (*on_frame)(void *arg, gun__conn *c, const char *text, size_t len);
    /* A message larger than the frame cap arrived; its bytes were discarded. */
    void (*on_oversize)(void *arg, gun__conn *c, size_t len);
    /* The connection is down. For an accepted peer the conn is freed after this returns;
     * an outgoing one stays and retries unless it was closed by gun__conn_close. */
    void (*on_close)(void *arg, gun__conn *c, const char *why);
    /* An incoming connection was refused before it opened (GUN__REFUSED_*). May be NULL. */
    void (*on_refused)(void *arg, int why);
} gun__transport_cbs;

typedef struct gun__transport_ops {
    int version;
    const char *name;
    /* Queues f (takes a reference). GUN_ETOOBIG when the peer's send queue would pass its
     * byte cap: the connection is then closed (a slow peer is dropped, never buffered without
     * bound) and later sends get GUN_ECLOSED, so the drop is reported once. GUN_ECLOSED when
     * not connected. */
    int (*send)(gun__conn *c, gun__frame *f);
    /* Closes for good (an outgoing peer stops retrying). on_close follows. */
    void (*close)(gun__conn *c, const char *why);
} gun__transport_ops;

/* The part of a connection every backend shares. */
struct gun__conn {
    const gun__transport_ops *ops;
    void *user;      /* the mesh's peer */
    int outgoing;    /* 1: we dialed `url` */
    int open;        /* 1 while connected */
    char *url;       /* outgoing only, owned */
    char remote[64]; /* peer address for logs */
    uint64_t queued_bytes;
    int dropping;    /* closing because its send queue overflowed: sends are refused */
};

static inline int gun__conn_send(gun__conn *c, gun__frame *f) { return c->ops->send(c, f); }
static inline void gun__conn_close(gun__conn *c, const char *why) { c->ops->close(c, why); }

/* ---- WebSocket backend (libwebsockets on the libuv loop) ---- */
typedef struct gun__ws gun__ws;

/* The answer to a plain HTTP request, filled by the hook. The transport adds
 * Access-Control-Allow-Origin: * to every answer, as Gun.js's server does. */
typedef struct gun__http_reply {
    gun__buf body;        /* the body, unless fd >= 0 */
    const char *ctype;    /* Content-Type (static storage) */
    int fd;               /* -1, or an open file whose next file_len bytes are the body, read
                             in chunks as the socket drains; the transport closes it */
    uint64_t file_len;
    int cacheable;        /* 0: Cache-Control: no-store (live counters) */
    char *location;       /* Location header, gun__malloc'd (the transport frees it), or NULL */
    const char *allow;    /* Allow header of a 405 (static storage), or NULL */
} gun__http_reply;

/* Plain HTTP on the listening port (not a WebSocket upgrade): fills *r (fd = -1, body
 * empty on entry) and returns the status; 0 means "not mine" (404). `method` ("GET",
 * "HEAD", "POST", ...) and `path` (percent-decoded by lws, no query) are lent. Loop thread. */
typedef int (*gun__http_cb)(void *arg, const char *method, const char *path, gun__http_reply *r);

typedef struct gun__ws_cfg {
    void *loop;               /* uv_loop_t *, required */
    const char *host;         /* listen address; NULL = all */
    int port;                 /* -1: no server; 0: any free port */
    const char *path;         /* WebSocket path, "/gun" */
    const char *tls_cert;     /* server TLS when both are set */
    const char *tls_key;
    int tls_insecure_client;  /* accept self-signed certificates when dialing wss:// (tests) */
    size_t max_frame;         /* largest incoming message */
    size_t max_queue;         /* per-connection send queue bytes */
    uint32_t max_conns;       /* accepted connections at once; 0 = no cap */
    uint32_t max_conns_per_ip; /* accepted connections from one address at once; 0 = no cap */
    uint32_t retry_max_ms;    /* reconnect backoff cap (Gun.js retries every ~2 s) */
    uint32_t flush_budget;    /* connections written per loop turn, oldest first; 0 = 256 */
    gun__http_cb http;        /* NULL: every plain HTTP request is 404 */
    void *http_arg;
    gun_log_cb log;
    void *log_arg;
    gun_log_level log_level;
} gun__ws_cfg;

int gun__ws_new(gun__ws **out, const gun__ws_cfg *cfg, const gun__transport_cbs *cbs, void *arg,
                gun__err *e);
/* The bound port (after port 0), or -1 without a server. */
int gun__ws_port(const gun__ws *w);
/* Dials url (ws://, wss://, http://, https:// — http(s) as Gun.js maps them) and keeps the
 * peer connected, retrying with backoff. *out (may be NULL) is the persistent connection. */
int gun__ws_connect(gun__ws *w, const char *url, gun__conn **out);
/* Closes every connection and the listener and frees w. libwebsockets closes its libuv
 * handles asynchronously: the loop must then run until they are closed, and only then can
 * gun__ws_reap free what is left of the context (returned here; NULL when nothing is). */
void *gun__ws_free(gun__ws *w);
/* Second stage of gun__ws_free, after the loop has run its close callbacks. NULL: no-op. */
void gun__ws_reap(void *remains);
size_t gun__ws_conn_count(const gun__ws *w);

#endif

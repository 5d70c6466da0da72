/* gun relay: a Gun super peer on one port (WebSocket path /gun), the drop-in for
 * `node examples/http.js`. Every option is a flag and an environment variable (the table
 * below); flags win. The Gun.js relay's own variables keep their names (PORT, PEERS,
 * HTTPS_KEY, HTTPS_CERT, RAD=false) so its deployments carry over. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "../../src/wire/wire.h"
#include "cli.h"
#include "gun.h"

/* Seconds between SIGTERM and a forced exit when closing hangs (a store that stopped
 * answering): systemd's default stop timeout is 90 s, so the relay gives up well before. */
#define RELAY_STOP_SECONDS 10
#define RELAY_TRIM_SECONDS 30

static const char relay_usage[] =
    "usage: gun relay [options]\n"
    "\n"
    "Runs a Gun relay (super peer). Gun.js apps connect to ws://HOST:PORT/gun.\n"
    "Every option can also come from the environment variable shown; flags win.\n"
    "\n"
    "options:\n"
    "  --host ADDR          listen address (GUN_HOST, default 0.0.0.0)\n"
    "  --port N             port (PORT, default 8765); 0 picks a free port\n"
    "  --data DIR           data directory (GUN_DATA, default ./radata; give an absolute\n"
    "                       path in services)\n"
    "  --store KIND         lmdb | file | memory (GUN_STORE, default lmdb; RAD=false: memory)\n"
    "  --peers URL[,URL]    other relays to connect to and keep (PEERS)\n"
    "  --web DIR            serve the static files of DIR on the same port (GUN_WEB):\n"
    "                       index.html for unknown paths, no listings, nothing outside DIR\n"
    "  --tls-cert FILE      serve wss:// and https:// with this certificate (HTTPS_CERT)\n"
    "  --tls-key FILE       and this key (HTTPS_KEY)\n"
    "  --tls-insecure-peers accept self-signed certificates of wss:// peers (testing)\n"
    "  --max-connections N  accepted connections at once; 0: no cap (GUN_MAX_CONNECTIONS,\n"
    "                       default 10000)\n"
    "  --max-frame BYTES    largest message taken from a peer; bigger ones are refused\n"
    "                       (GUN_MAX_FRAME, default 8M; K, M, G suffixes are KiB, MiB, GiB)\n"
    "  --max-depth N        deepest JSON nesting taken from a peer (GUN_MAX_DEPTH, 64)\n"
    "  --max-node-keys N    keys of one node in one put; 0: no cap (GUN_MAX_NODE_KEYS,\n"
    "                       50000)\n"
    "  --max-put-keys N     keys of all nodes in one put; 0: no cap (GUN_MAX_PUT_KEYS,\n"
    "                       100000)\n"
    "  --max-subs-per-peer N  souls or keys one peer is subscribed to (pushed); past it\n"
    "                       the least recently asked ends; 0: no cap (GUN_MAX_SUBS_PER_PEER,\n"
    "                       10000)\n"
    "  --max-subs N         subscriptions over all peers; 0: no cap (GUN_MAX_SUBS, 1000000)\n"
    "  --max-connections-per-ip N  connections from one address; 0: no cap\n"
    "                       (GUN_MAX_CONNECTIONS_PER_IP, 1000)\n"
    "  --msg-rate N         messages per second from one connected peer; 0: no limit\n"
    "                       (GUN_MSG_RATE, 5000). Excess gets a DAM error, then a close\n"
    "  --msg-burst N        messages a peer may send at once, and the excess that closes\n"
    "                       it (GUN_MSG_BURST, 10000)\n"
    "  --max-queue BYTES    send queue per peer; a slower peer is dropped (GUN_MAX_QUEUE, 4M)\n"
    "  --max-get-reply BYTES  bigger GET answers go out in chunks (GUN_MAX_GET_REPLY, 1M)\n"
    "  --max-data BYTES     cap the LMDB data file; writes past it are refused with an\n"
    "                       error ack (GUN_MAX_DATA, default: no cap)\n"
    "  --nosync             do not fsync commits: a crash of the relay loses nothing, an\n"
    "                       OS crash or power loss may lose the last writes (GUN_NOSYNC=1)\n"
    "  --log-level LEVEL    error | warn | info | debug (GUN_LOG_LEVEL, default info)\n"
    "  --log-json           one JSON object per log line (GUN_LOG_JSON=1)\n"
    "  --log-file PATH      append the log to PATH instead of stderr; SIGHUP reopens it\n"
    "                       (for logrotate) (GUN_LOG_FILE)\n"
    "  --quiet              same as --log-level warn\n"
    "  -h, --help           this text\n"
    "\n"
    "Prints 'gun relay listening on ws://HOST:PORT/gun' on stdout when ready. SIGTERM or\n"
    "SIGINT: stop taking connections, commit what was accepted, close the peers and exit 0\n"
    "(a second signal, or a close that takes over 10 s, exits 1 at once).\n"
    "Exit codes: 0 stopped cleanly, 2 usage, 3 cannot listen or open the store.\n";

/* ---- options ---- */

typedef struct relay_cfg {
    const char *host, *data, *store, *cert, *key, *web, *log_file;
    char *peers; /* owned: split in place */
    long port;
    int nosync, insecure, log_json, quiet;
    gun_log_level log_level;
    unsigned long long max_data, max_frame, max_conns;
    gun_opts lim; /* the peer limits (issue 8), library defaults unless set */
} relay_cfg;

/* Options and the environment variables that stand for them. Plain kinds are stored at
 * `off` in relay_cfg; OPT_OTHER ones are checked by name in apply(). */
typedef enum { OPT_STR, OPT_SWITCH, OPT_SIZE, OPT_OTHER } opt_kind;

typedef struct relay_opt {
    const char *flag, *env;
    opt_kind kind;
    size_t off;
    unsigned long long min, max; /* OPT_SIZE */
} relay_opt;

#define CFG(field) offsetof(relay_cfg, field)

static const relay_opt relay_opts[] = {
    {"--host", "GUN_HOST", OPT_STR, CFG(host), 0, 0},
    {"--port", "PORT", OPT_OTHER, 0, 0, 0},
    {"--data", "GUN_DATA", OPT_STR, CFG(data), 0, 0},
    {"--store", "GUN_STORE", OPT_OTHER, 0, 0, 0},
    {"--peers", "PEERS", OPT_OTHER, 0, 0, 0},
    {"--web", "GUN_WEB", OPT_STR, CFG(web), 0, 0},
    {"--tls-cert", "HTTPS_CERT", OPT_STR, CFG(cert), 0, 0},
    {"--tls-key", "HTTPS_KEY", OPT_STR, CFG(key), 0, 0},
    {"--tls-insecure-peers", NULL, OPT_SWITCH, CFG(insecure), 0, 0},
    {"--max-connections", "GUN_MAX_CONNECTIONS", OPT_SIZE, CFG(max_conns), 0, UINT32_MAX},
    /* Below 1 KiB not even a handshake fits; above 1 GiB one peer could pin it all. */
    {"--max-frame", "GUN_MAX_FRAME", OPT_SIZE, CFG(max_frame), 1024, 1ull << 30},
    {"--max-data", "GUN_MAX_DATA", OPT_SIZE, CFG(max_data), 0, SIZE_MAX},
    {"--max-depth", "GUN_MAX_DEPTH", OPT_OTHER, 0, 0, 0},
    {"--max-node-keys", "GUN_MAX_NODE_KEYS", OPT_OTHER, 0, 0, 0},
    {"--max-put-keys", "GUN_MAX_PUT_KEYS", OPT_OTHER, 0, 0, 0},
    {"--max-subs-per-peer", "GUN_MAX_SUBS_PER_PEER", OPT_OTHER, 0, 0, 0},
    {"--max-subs", "GUN_MAX_SUBS", OPT_OTHER, 0, 0, 0},
    {"--max-connections-per-ip", "GUN_MAX_CONNECTIONS_PER_IP", OPT_OTHER, 0, 0, 0},
    {"--msg-rate", "GUN_MSG_RATE", OPT_OTHER, 0, 0, 0},
    {"--msg-burst", "GUN_MSG_BURST", OPT_OTHER, 0, 0, 0},
    {"--max-queue", "GUN_MAX_QUEUE", OPT_OTHER, 0, 0, 0},
    {"--max-get-reply", "GUN_MAX_GET_REPLY", OPT_OTHER, 0, 0, 0},
    {"--nosync", "GUN_NOSYNC", OPT_SWITCH, CFG(nosync), 0, 0},
    {"--log-level", "GUN_LOG_LEVEL", OPT_OTHER, 0, 0, 0},
    {"--log-json", "GUN_LOG_JSON", OPT_SWITCH, CFG(log_json), 0, 0},
    {"--log-file", "GUN_LOG_FILE", OPT_STR, CFG(log_file), 0, 0},
    {"--quiet", NULL, OPT_SWITCH, CFG(quiet), 0, 0},
};

/* A byte count or a count with an optional K/M/G (binary) suffix, up to max. */
static int parse_size(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end;
    errno = 0;
    if (*s < '0' || *s > '9')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    unsigned shift = 0;
    if (*end == 'k' || *end == 'K')
        shift = 10, end++;
    else if (*end == 'm' || *end == 'M')
        shift = 20, end++;
    else if (*end == 'g' || *end == 'G')
        shift = 30, end++;
    if (errno || *end || v > (max >> shift))
        return -1;
    *out = v << shift;
    return 0;
}

static int parse_level(const char *s, gun_log_level *out)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, names[i])) {
            *out = (gun_log_level)i;
            return 0;
        }
    return -1;
}

/* Switch values from the environment: 1/true/yes or 0/false/no. */
static int parse_switch(const char *s, int *out)
{
    if (!strcmp(s, "1") || !strcmp(s, "true") || !strcmp(s, "yes"))
        return *out = 1, 0;
    if (!strcmp(s, "0") || !strcmp(s, "false") || !strcmp(s, "no"))
        return *out = 0, 0;
    return -1;
}

/* The peer limits: counts up to UINT32_MAX, byte sizes with K/M/G. The depth must be at
 * least 1 (0 would refuse every message); the others take 0 for "no cap". */
static int apply_limit(gun_opts *l, const char *f, const char *v)
{
    unsigned long long n;
    int bytes = !strcmp(f, "--max-queue") || !strcmp(f, "--max-get-reply");
    if (parse_size(v, bytes ? SIZE_MAX : UINT32_MAX, &n))
        return -1;
    if (!strcmp(f, "--max-depth"))
        return n ? (l->max_json_depth = (uint32_t)n, 0) : -1;
    if (!strcmp(f, "--max-node-keys"))
        l->max_node_keys = (uint32_t)n;
    else if (!strcmp(f, "--max-put-keys"))
        l->max_put_keys = (uint32_t)n;
    else if (!strcmp(f, "--max-subs-per-peer"))
        l->max_subs_per_peer = (uint32_t)n;
    else if (!strcmp(f, "--max-subs"))
        l->max_subs = (uint32_t)n;
    else if (!strcmp(f, "--max-connections-per-ip"))
        l->max_connections_per_ip = (uint32_t)n;
    else if (!strcmp(f, "--msg-rate"))
        l->msg_rate = (uint32_t)n;
    else if (!strcmp(f, "--msg-burst"))
        l->msg_burst = (uint32_t)n;
    else if (!strcmp(f, "--max-queue"))
        l->max_queue_bytes = (size_t)n;
    else if (!strcmp(f, "--max-get-reply"))
        l->max_get_reply_bytes = (size_t)n;
    else
        return -1;
    return 0;
}

/* Applies one option; `from` names where it came from for the error message. */
static int apply(relay_cfg *c, const relay_opt *o, const char *v, const char *from)
{
    const char *f = o->flag;
    char *field = (char *)c + o->off;
    int on = 1;
    switch (o->kind) {
    case OPT_STR:
        *(const char **)(void *)field = v;
        return 0;
    case OPT_SWITCH:
        /* A flag is given bare; its environment variable says yes or no. */
        if (v && parse_switch(v, &on))
            goto bad;
        *(int *)(void *)field = on;
        return 0;
    case OPT_SIZE: {
        unsigned long long n;
        if (parse_size(v, o->max, &n) || n < o->min)
            goto bad;
        *(unsigned long long *)(void *)field = n;
        return 0;
    }
    case OPT_OTHER:
        break;
    }
    if (!strcmp(f, "--port")) {
        char *end;
        errno = 0;
        c->port = strtol(v, &end, 10);
        if (errno || *end || !*v || c->port < 0 || c->port > 65535)
            goto bad;
    } else if (!strcmp(f, "--store")) {
        if (strcmp(v, "memory") && strcmp(v, "lmdb") && strcmp(v, "file"))
            goto bad;
        c->store = v;
    } else if (!strcmp(f, "--peers")) {
        free(c->peers);
        if (!(c->peers = strdup(v))) {
            fprintf(stderr, "gun relay: out of memory\n");
            return GUN_CLI_USAGE;
        }
    } else if (!strcmp(f, "--log-level")) {
        if (parse_level(v, &c->log_level))
            goto bad;
    } else if (apply_limit(&c->lim, f, v)) {
        goto bad;
    }
    return 0;
bad:
    fprintf(stderr, "gun relay: bad value '%s' for %s (see 'gun relay --help')\n", v, from);
    return GUN_CLI_USAGE;
}

/* Environment first, then flags over it. Returns 0, -1 after --help, or a GUN_CLI_* code. */
static int configure(relay_cfg *c, int argc, char **argv)
{
    const size_t nopts = sizeof relay_opts / sizeof relay_opts[0];
    const char *env;
    if ((env = getenv("RAD")) && !strcmp(env, "false"))
        c->store = "memory";
    for (size_t k = 0; k < nopts; k++) {
        const relay_opt *o = &relay_opts[k];
        int rc;
        if (o->env && (env = getenv(o->env)) && *env && (rc = apply(c, o, env, o->env)))
            return rc;
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(relay_usage, stdout);
            return -1;
        }
        const relay_opt *o = NULL;
        for (size_t k = 0; k < nopts && !o; k++)
            if (!strcmp(a, relay_opts[k].flag))
                o = &relay_opts[k];
        if (!o) {
            fprintf(stderr, "gun relay: unknown option '%s'\n%s", a, relay_usage);
            return GUN_CLI_USAGE;
        }
        int value = o->kind != OPT_SWITCH;
        if (value && i + 1 >= argc) {
            fprintf(stderr, "gun relay: %s needs a value\n", a);
            return GUN_CLI_USAGE;
        }
        int rc = apply(c, o, value ? argv[++i] : NULL, a);
        if (rc)
            return rc;
    }
    if (c->quiet && c->log_level > GUN_LOG_WARN)
        c->log_level = GUN_LOG_WARN;
    if ((c->cert && !c->key) || (c->key && !c->cert)) {
        fprintf(stderr, "gun relay: --tls-cert and --tls-key go together\n");
        return GUN_CLI_USAGE;
    }
    struct stat st;
    if (c->web && (stat(c->web, &st) || !S_ISDIR(st.st_mode))) {
        fprintf(stderr, "gun relay: --web %s is not a directory\n", c->web);
        return GUN_CLI_USAGE;
    }
    return 0;
}

/* Splits a comma-separated list in place. */
static size_t split_peers(char *list, const char **out, size_t max)
{
    size_t n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok && n < max; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        if (*tok)
            out[n++] = tok;
    }
    return n;
}

/* ---- log ---- */

/* The relay's log: the library's lines and its own, plain or JSON, to stderr or a file
 * that SIGHUP reopens. The library logs from its loop thread while the signal thread may
 * reopen, hence the lock. */
typedef struct relay_log {
    pthread_mutex_t lock;
    FILE *f;
    const char *path; /* NULL: stderr */
    int json;
    gun_log_level level;
} relay_log;

static void log_line(relay_log *lg, gun_log_level level, const char *msg)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    if (level > lg->level)
        return;
    struct timeval tv;
    struct tm tm;
    char ts[40];
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
    gun__buf b;
    gun__buf_init(&b);
    if (lg->json) {
        /* Messages may quote peer bytes: the JSON writer escapes controls and replaces
         * invalid UTF-8, so every line stays one valid object. */
        gun__buf_printf(&b, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":", ts, names[level]);
        gun__json_write_str(&b, msg, strlen(msg));
        gun__buf_adds(&b, "}\n");
    } else {
        gun__buf_printf(&b, "%s %s %s\n", ts, names[level], msg);
    }
    pthread_mutex_lock(&lg->lock);
    if (!b.oom) {
        fwrite(b.p, 1, b.len, lg->f);
        fflush(lg->f);
    }
    pthread_mutex_unlock(&lg->lock);
    gun__buf_free(&b);
}

static void relay_log_cb(gun_log_level level, const char *msg, void *arg)
{
    log_line(arg, level, msg);
}

static void logf_(relay_log *lg, gun_log_level level, const char *fmt, ...) GUN__PRINTF(3, 4);
static void logf_(relay_log *lg, gun_log_level level, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_line(lg, level, msg);
}

/* Opens (or, after logrotate moved it, reopens) the log file. On failure the current
 * destination stays. */
static int log_open(relay_log *lg)
{
    if (!lg->path)
        return 0;
    FILE *f = fopen(lg->path, "ae");
    if (!f) {
        logf_(lg, GUN_LOG_ERROR, "relay: cannot open log file %s: %s", lg->path, strerror(errno));
        return -1;
    }
    pthread_mutex_lock(&lg->lock);
    FILE *old = lg->f;
    lg->f = f;
    pthread_mutex_unlock(&lg->lock);
    if (old != stderr)
        fclose(old);
    return 0;
}

/* ---- stopping ---- */

typedef struct stopper {
    relay_log *lg;
    sigset_t set;
    atomic_int done; /* gun_close returned */
} stopper;

/* Runs while gun_close commits and closes: the stop bound, a second signal, and SIGHUP
 * still reopening the log. Ends the process itself when it has to. It waits in short
 * slices and returns once `done` is set: cancelling a thread blocked in sigtimedwait
 * would be simpler, but cancellation does not mix with the sanitizers' thread teardown. */
static void *stop_watch(void *arg)
{
    stopper *s = arg;
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += RELAY_STOP_SECONDS;
    while (!atomic_load(&s->done)) {
        struct timespec now, slice = {0, 50 * 1000000L};
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec > end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
            break;
        int sig = sigtimedwait(&s->set, NULL, &slice);
        if (sig == SIGHUP) {
            log_open(s->lg);
        } else if (sig == SIGINT || sig == SIGTERM) {
            logf_(s->lg, GUN_LOG_WARN, "relay: second %s while stopping, exiting now",
                  sig == SIGINT ? "SIGINT" : "SIGTERM");
            _exit(1);
        }
    }
    if (atomic_load(&s->done))
        return NULL;
    logf_(s->lg, GUN_LOG_ERROR, "relay: not stopped after %d s, exiting now", RELAY_STOP_SECONDS);
    _exit(1);
}

/* ---- the command ---- */

int gun_cli_relay(int argc, char **argv)
{
    relay_cfg c;
    memset(&c, 0, sizeof c);
    c.data = "./radata";
    c.port = 8765;
    c.log_level = GUN_LOG_INFO;
    c.max_frame = 8u << 20;
    c.max_conns = 10000;
    gun_opts_init(&c.lim);
    int rc = configure(&c, argc, argv);
    if (rc) {
        free(c.peers);
        return rc < 0 ? GUN_CLI_OK : rc;
    }
    const char *peers[64];
    size_t npeers = c.peers ? split_peers(c.peers, peers, 64) : 0;

    relay_log lg = {.f = stderr, .path = c.log_file, .json = c.log_json, .level = c.log_level};
    pthread_mutex_init(&lg.lock, NULL);
    if (log_open(&lg)) {
        free(c.peers);
        return GUN_CLI_USAGE;
    }

    /* Signals are taken by this thread with sigwait; block them before the loop thread
     * starts so it inherits the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    gun_opts o;
    gun_opts_init(&o);
    o.super_peer = 1;
    if (!c.store || !strcmp(c.store, "lmdb"))
        o.radisk = 1;
    else if (!strcmp(c.store, "file"))
        o.local_storage = 1;
    o.storage_path = c.data;
    o.storage_nosync = c.nosync;
    o.tls_insecure_peers = c.insecure;
    o.storage_max_bytes = (size_t)c.max_data;
    o.host = c.host;
    o.port = (int)c.port;
    o.peers = peers;
    o.npeers = npeers;
    o.tls_cert = c.cert;
    o.tls_key = c.key;
    o.web_root = c.web;
    o.max_connections = (uint32_t)c.max_conns;
    o.max_frame_bytes = (size_t)c.max_frame;
    o.max_json_depth = c.lim.max_json_depth;
    o.max_node_keys = c.lim.max_node_keys;
    o.max_put_keys = c.lim.max_put_keys;
    o.max_connections_per_ip = c.lim.max_connections_per_ip;
    o.max_subs_per_peer = c.lim.max_subs_per_peer;
    o.max_subs = c.lim.max_subs;
    o.msg_rate = c.lim.msg_rate;
    o.msg_burst = c.lim.msg_burst;
    o.max_queue_bytes = c.lim.max_queue_bytes;
    o.max_get_reply_bytes = c.lim.max_get_reply_bytes;
    o.log = relay_log_cb;
    o.log_arg = &lg;
    o.log_level = c.log_level;
    gun_t *g = NULL;
    rc = gun_open(&g, &o);
    if (rc) {
        logf_(&lg, GUN_LOG_ERROR, "relay: cannot start: %s", gun_strerror(rc));
        if (lg.f != stderr)
            fprintf(stderr, "gun relay: cannot start: %s (see %s)\n", gun_strerror(rc), lg.path);
        free(c.peers);
        return GUN_CLI_NETWORK;
    }
    printf("gun relay listening on %s://%s:%d/gun\n", c.cert ? "wss" : "ws",
           c.host ? c.host : "0.0.0.0", gun_port(g));
    fflush(stdout);
    logf_(&lg, GUN_LOG_INFO, "relay: listening on port %d (store %s%s%s%s%s)", gun_port(g),
          c.store ? c.store : "lmdb", o.radisk || o.local_storage ? " in " : "",
          o.radisk || o.local_storage ? c.data : "", c.web ? ", web files from " : "",
          c.web ? c.web : "");

    int sig = 0;
    for (;;) {
        /* Between signals, every RELAY_TRIM_SECONDS: glibc keeps freed heap pages, so the
         * peak of a burst (a flood, a big batch) would stay resident through fragmentation;
         * trimming gives them back and leaves RSS to what is in use. */
        struct timespec trim = {RELAY_TRIM_SECONDS, 0};
        sig = sigtimedwait(&set, NULL, &trim);
        if (sig < 0) {
#ifdef __GLIBC__
            if (errno == EAGAIN)
                malloc_trim(0);
#endif
            continue;
        }
        if (sig != SIGHUP)
            break;
        if (log_open(&lg) == 0 && lg.path)
            logf_(&lg, GUN_LOG_INFO, "relay: SIGHUP, log file reopened");
    }
    logf_(&lg, GUN_LOG_INFO, "relay: %s, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    stopper s = {&lg, set, 0};
    pthread_t watch;
    int watching = pthread_create(&watch, NULL, stop_watch, &s) == 0;
    gun_close(g);
    atomic_store(&s.done, 1);
    if (watching)
        pthread_join(watch, NULL);
    logf_(&lg, GUN_LOG_INFO, "relay: stopped");
    if (lg.f != stderr)
        fclose(lg.f);
    pthread_mutex_destroy(&lg.lock);
    free(c.peers);
    return 0;
}

/* c_peer: a Gun peer built on the public gun.h API only, driven line by line from stdin by
 * tests/interop/15-c-library-peer.test.js. It is what an application linking libgun does,
 * so the tests prove the library (not the relay CLI) interoperates with Gun.js.
 *
 *   c_peer [--peer URL]... [--port N] [--host H] [--super] [--ack-timeout MS]
 *          [--once-wait MS] [--drop MARKER] [--log error|warn|info|debug]
 *
 * --port N listens (0: any free port), --super makes the instance a relay (super_peer),
 * --drop installs a message_predicate that drops every incoming message whose JSON text
 * contains MARKER. Log lines go to stderr.
 *
 * Commands (one a line; the n-th command, counting from 1, tags every line it causes):
 *   put <path> <json>        ack line when the write is acknowledged (by a peer, with peers)
 *   set <path> <json>        same, for gun_set
 *   once <path>              one "once" line (data null when not found)
 *   on <path>                an "on" line for every change until "off <path>"
 *   off <path>
 *   get <path> <ms>          gun_get_sync
 *   wait-connected <ms>      gun_wait_connected
 *   peers                    gun_peer_count / gun_is_connected
 *   dropped                  how many messages the predicate dropped
 *   sleep <ms>
 *   quit                     gun_close and exit (end of input does the same)
 * A path is keys joined by '/': the first is the soul (gun_get), each further key a
 * gun_chain_get, and a "*" key is gun_map.
 *
 * Output: one JSON object a line on stdout, flushed at once. Data from the library is JSON
 * text already and is embedded as is. First line {"ev":"ready","port":P} (gun_port), last
 * {"ev":"bye","rc":R} (gun_close). Then, tagged "n": "ack" (err, err_text, ok, soul),
 * "once"/"on" (path, key, data), "get" (rc, data), "connected" (rc, peers), "peers",
 * "dropped", "off", and "error" (a command the library refused: rc and its text). A message
 * the predicate drops prints {"ev":"drop","msg":...} from the loop thread. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gun.h"

/* Lines come from the main thread and from callbacks on the loop thread. */
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct out {
    char *p;
    size_t len, cap;
} out;

static void out_mem(out *o, const char *s, size_t n)
{
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap < o->len + n + 1)
            cap *= 2;
        char *p = realloc(o->p, cap);
        if (!p) {
            fprintf(stderr, "c_peer: out of memory\n");
            exit(2);
        }
        o->p = p;
        o->cap = cap;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = 0;
}

static void out_raw(out *o, const char *s) { out_mem(o, s, strlen(s)); }

static void out_fmt(out *o, const char *fmt, long long v)
{
    char b[64];
    snprintf(b, sizeof b, fmt, v);
    out_raw(o, b);
}

/* A JSON string (or null). Bytes >= 0x80 pass through: the library hands out UTF-8. */
static void out_str(out *o, const char *s)
{
    if (!s) {
        out_raw(o, "null");
        return;
    }
    out_raw(o, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char b[8];
        if (c == '"' || c == '\\') {
            b[0] = '\\';
            b[1] = (char)c;
            out_mem(o, b, 2);
        } else if (c < 0x20) {
            snprintf(b, sizeof b, "\\u%04x", c);
            out_raw(o, b);
        } else {
            out_mem(o, (const char *)&c, 1);
        }
    }
    out_raw(o, "\"");
}

/* Starts {"ev":EV,"n":N */
static void out_begin(out *o, const char *ev, int n)
{
    out_raw(o, "{\"ev\":");
    out_str(o, ev);
    if (n > 0)
        out_fmt(o, ",\"n\":%lld", n);
}

static void out_end(out *o)
{
    out_raw(o, "}\n");
    pthread_mutex_lock(&out_lock);
    fwrite(o->p, 1, o->len, stdout);
    fflush(stdout);
    pthread_mutex_unlock(&out_lock);
    free(o->p);
    memset(o, 0, sizeof *o);
}

static void say_error(int n, const char *what, int rc)
{
    out o = {0};
    out_begin(&o, "error", n);
    out_raw(&o, ",\"error\":");
    out_str(&o, what);
    out_fmt(&o, ",\"rc\":%lld", rc);
    out_raw(&o, ",\"text\":");
    out_str(&o, gun_strerror(rc));
    out_end(&o);
}

/* ---- callbacks (loop thread) ---- */

/* One per once/on command; freed after gun_close, when no callback can run any more. */
typedef struct sub {
    struct sub *next;
    int n;
    const char *ev;
    char path[];
} sub;

static sub *subs;

static void on_data(const char *json, const char *key, void *arg)
{
    const sub *s = arg;
    out o = {0};
    out_begin(&o, s->ev, s->n);
    out_raw(&o, ",\"path\":");
    out_str(&o, s->path);
    out_raw(&o, ",\"key\":");
    out_str(&o, key);
    out_raw(&o, ",\"data\":");
    out_raw(&o, json ? json : "null");
    out_end(&o);
}

static void on_ack(const gun_ack *ack, void *arg)
{
    out o = {0};
    out_begin(&o, "ack", (int)(intptr_t)arg);
    out_fmt(&o, ",\"err\":%lld", ack->err);
    out_raw(&o, ",\"err_text\":");
    out_str(&o, ack->err_text);
    out_raw(&o, ",\"ok\":");
    out_raw(&o, ack->ok_json ? ack->ok_json : "null");
    out_raw(&o, ",\"soul\":");
    out_str(&o, ack->soul);
    out_end(&o);
}

typedef struct dropper {
    const char *marker;
    pthread_mutex_t lock;
    long count;
} dropper;

static int predicate(const char *msg_json, void *arg)
{
    dropper *d = arg;
    if (!strstr(msg_json, d->marker))
        return 1;
    pthread_mutex_lock(&d->lock);
    d->count++;
    pthread_mutex_unlock(&d->lock);
    out o = {0};
    out_begin(&o, "drop", 0);
    out_raw(&o, ",\"msg\":");
    out_raw(&o, msg_json);
    out_end(&o);
    return 0;
}

static void on_log(gun_log_level level, const char *msg, void *arg)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    fprintf(stderr, "c_peer[%s]: %s\n", names[level & 3], msg);
}

/* ---- commands (main thread) ---- */

/* Resolves a path such as "list/<star>/title" to a chain; the path is left unchanged. */
static int resolve(gun_t *g, const char *path, gun_chain **out_c)
{
    gun_chain *c = NULL;
    const char *p = path;
    char key[1024];
    if (!*path)
        return GUN_EINVAL;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len >= sizeof key)
            return GUN_EINVAL;
        memcpy(key, p, len);
        key[len] = 0;
        int rc;
        if (!c)
            rc = gun_get(g, key, &c);
        else if (!strcmp(key, "*"))
            rc = gun_map(c, &c);
        else
            rc = gun_chain_get(c, key, &c);
        if (rc != GUN_OK)
            return rc;
        if (!slash)
            break;
        p = slash + 1;
    }
    *out_c = c;
    return GUN_OK;
}

/* Splits off the next space-separated word: returns it (NUL-terminated in place) and moves
 * *rest past the following spaces. */
static char *word(char **rest)
{
    char *s = *rest;
    while (*s == ' ' || *s == '\t')
        s++;
    char *w = s;
    while (*s && *s != ' ' && *s != '\t')
        s++;
    if (*s)
        *s++ = 0;
    while (*s == ' ' || *s == '\t')
        s++;
    *rest = s;
    return w;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

/* Runs one command; returns 1 on quit. */
static int command(gun_t *g, dropper *d, int n, char *line)
{
    char *rest = line;
    char *cmd = word(&rest);
    gun_chain *c = NULL;
    int rc;
    out o = {0};

    if (!strcmp(cmd, "quit"))
        return 1;
    if (!strcmp(cmd, "sleep")) {
        sleep_ms(strtol(rest, NULL, 10));
        return 0;
    }
    if (!strcmp(cmd, "wait-connected")) {
        rc = gun_wait_connected(g, (int)strtol(rest, NULL, 10));
        out_begin(&o, "connected", n);
        out_fmt(&o, ",\"rc\":%lld", rc);
        out_fmt(&o, ",\"peers\":%lld", (long long)gun_peer_count(g));
        out_end(&o);
        return 0;
    }
    if (!strcmp(cmd, "peers")) {
        out_begin(&o, "peers", n);
        out_fmt(&o, ",\"count\":%lld", (long long)gun_peer_count(g));
        out_fmt(&o, ",\"connected\":%lld", gun_is_connected(g));
        out_end(&o);
        return 0;
    }
    if (!strcmp(cmd, "dropped")) {
        pthread_mutex_lock(&d->lock);
        long count = d->count;
        pthread_mutex_unlock(&d->lock);
        out_begin(&o, "dropped", n);
        out_fmt(&o, ",\"count\":%lld", count);
        out_end(&o);
        return 0;
    }

    char *path = word(&rest);
    int needs_path = !strcmp(cmd, "put") || !strcmp(cmd, "set") || !strcmp(cmd, "once") ||
                     !strcmp(cmd, "on") || !strcmp(cmd, "off") || !strcmp(cmd, "get");
    if (!needs_path) {
        say_error(n, "unknown command", GUN_EINVAL);
        return 0;
    }
    if ((rc = resolve(g, path, &c)) != GUN_OK) {
        say_error(n, "bad path", rc);
        return 0;
    }
    if (!strcmp(cmd, "put") || !strcmp(cmd, "set")) {
        /* The JSON is the rest of the line; a bad one is for the library to refuse. */
        rc = !strcmp(cmd, "put") ? gun_put(c, rest, on_ack, (void *)(intptr_t)n)
                           : gun_set(c, rest, on_ack, (void *)(intptr_t)n, NULL);
        if (rc != GUN_OK)
            say_error(n, cmd, rc);
    } else if (!strcmp(cmd, "once") || !strcmp(cmd, "on")) {
        sub *s = malloc(sizeof *s + strlen(path) + 1);
        if (!s) {
            say_error(n, cmd, GUN_ENOMEM);
            return 0;
        }
        s->n = n;
        int is_once = !strcmp(cmd, "once");
        s->ev = is_once ? "once" : "on";
        strcpy(s->path, path);
        s->next = subs;
        subs = s;
        rc = is_once ? gun_once(c, on_data, s) : gun_on(c, on_data, s);
        if (rc != GUN_OK)
            say_error(n, cmd, rc);
    } else if (!strcmp(cmd, "off")) {
        rc = gun_off(c);
        out_begin(&o, "off", n);
        out_fmt(&o, ",\"rc\":%lld", rc);
        out_end(&o);
    } else { /* get */
        char *json = NULL;
        rc = gun_get_sync(c, (int)strtol(rest, NULL, 10), &json);
        out_begin(&o, "get", n);
        out_fmt(&o, ",\"rc\":%lld", rc);
        out_raw(&o, ",\"data\":");
        out_raw(&o, json ? json : "null");
        out_end(&o);
        gun_free(json);
    }
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: c_peer [--peer URL]... [--port N] [--host H] [--super] "
                    "[--ack-timeout MS] [--once-wait MS] [--drop MARKER] [--log LEVEL]\n");
}

int main(int argc, char **argv)
{
    const char *peers[32];
    size_t npeers = 0;
    dropper d = {.marker = NULL, .lock = PTHREAD_MUTEX_INITIALIZER, .count = 0};
    gun_opts opts;
    gun_opts_init(&opts);

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--super")) {
            opts.super_peer = 1;
            continue;
        }
        if (!v) {
            usage();
            return 2;
        }
        i++;
        if (!strcmp(a, "--peer") && npeers < sizeof peers / sizeof *peers) {
            peers[npeers++] = v;
        } else if (!strcmp(a, "--port")) {
            opts.port = (int)strtol(v, NULL, 10);
        } else if (!strcmp(a, "--host")) {
            opts.host = v;
        } else if (!strcmp(a, "--ack-timeout")) {
            opts.ack_timeout_ms = (uint32_t)strtoul(v, NULL, 10);
        } else if (!strcmp(a, "--once-wait")) {
            opts.once_wait_ms = (uint32_t)strtoul(v, NULL, 10);
        } else if (!strcmp(a, "--drop")) {
            d.marker = v;
        } else if (!strcmp(a, "--log")) {
            opts.log = on_log;
            opts.log_level = !strcmp(v, "debug") ? GUN_LOG_DEBUG
                             : !strcmp(v, "info") ? GUN_LOG_INFO
                             : !strcmp(v, "warn") ? GUN_LOG_WARN
                                                  : GUN_LOG_ERROR;
        } else {
            usage();
            return 2;
        }
    }
    opts.peers = peers;
    opts.npeers = npeers;
    if (d.marker) {
        opts.message_predicate = predicate;
        opts.predicate_arg = &d;
    }

    gun_t *g;
    int rc = gun_open(&g, &opts);
    if (rc != GUN_OK) {
        say_error(0, "gun_open", rc);
        return 1;
    }
    out o = {0};
    out_begin(&o, "ready", 0);
    out_fmt(&o, ",\"port\":%lld", gun_port(g));
    out_end(&o);

    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int n = 0;
    while ((len = getline(&line, &cap, stdin)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        if (!len)
            continue;
        if (command(g, &d, ++n, line))
            break;
    }
    free(line);

    rc = gun_close(g);
    while (subs) {
        sub *s = subs;
        subs = s->next;
        free(s);
    }
    out_begin(&o, "bye", 0);
    out_fmt(&o, ",\"rc\":%lld", rc);
    out_end(&o);
    return rc == GUN_OK ? 0 : 1;
}

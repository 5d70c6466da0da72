/* gun put / get / watch / keygen / stats: the library as a command-line client.
 *
 * PATH is `soul` or `soul.key.key...`: dots separate keys; `\.` is a literal dot and `\\` a
 * backslash (quote PATH in the shell: 'a\.b.c' is key "c" of soul "a.b"). */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "gun.h"

typedef struct target {
    const char *url;  /* peer URL, or NULL */
    const char *data; /* local data directory, or NULL */
    const char *store;
    int timeout_ms;
    const char *path;
    const char *json;
} target;

static void log_quiet(gun_log_level level, const char *msg, void *arg)
{
    (void)arg;
    if (level <= GUN_LOG_WARN)
        fprintf(stderr, "gun: %s\n", msg);
}

/* Splits PATH into the chain; returns GUN_OK or prints why. */
static int walk(gun_t *g, const char *path, gun_chain **out)
{
    char *buf = malloc(strlen(path) + 1);
    if (!buf)
        return GUN_ENOMEM;
    gun_chain *c = NULL;
    const char *p = path;
    int rc = GUN_OK, first = 1;
    while (rc == GUN_OK) {
        size_t n = 0;
        while (*p && *p != '.') {
            if (*p == '\\' && (p[1] == '.' || p[1] == '\\'))
                p++;
            buf[n++] = *p++;
        }
        buf[n] = 0;
        if (!n) {
            rc = GUN_EBADKEY;
            break;
        }
        rc = first ? gun_get(g, buf, &c) : gun_chain_get(c, buf, &c);
        first = 0;
        if (!*p)
            break;
        p++;
    }
    free(buf);
    if (rc == GUN_OK)
        *out = c;
    else
        fprintf(stderr, "gun: bad PATH '%s': %s\n", path, gun_strerror(rc));
    return rc;
}

static int open_target(const target *t, gun_t **g)
{
    gun_opts o;
    gun_opts_init(&o);
    const char *peers[1];
    o.log = log_quiet;
    o.log_level = GUN_LOG_WARN;
    o.ack_timeout_ms = (uint32_t)t->timeout_ms;
    o.once_wait_ms = 99;
    if (t->url) {
        peers[0] = t->url;
        o.peers = peers;
        o.npeers = 1;
    } else {
        o.storage_path = t->data;
        if (!t->store || !strcmp(t->store, "lmdb"))
            o.radisk = 1;
        else if (!strcmp(t->store, "file"))
            o.local_storage = 1;
    }
    int rc = gun_open(g, &o);
    if (rc) {
        fprintf(stderr, "gun: cannot open %s: %s\n", t->url ? t->url : t->data, gun_strerror(rc));
        return t->url ? GUN_CLI_NETWORK : GUN_CLI_NOTFOUND;
    }
    if (t->url && gun_wait_connected(*g, t->timeout_ms) != GUN_OK) {
        fprintf(stderr, "gun: no connection to %s within %d ms\n", t->url, t->timeout_ms);
        gun_close(*g);
        return GUN_CLI_NETWORK;
    }
    return GUN_CLI_OK;
}

/* [URL | --data DIR [--store KIND]] PATH [JSON] [--timeout MS] */
static int parse(int argc, char **argv, target *t, int want_json, const char *usage)
{
    memset(t, 0, sizeof *t);
    t->timeout_ms = 5000;
    int pos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return -1;
        } else if (!strcmp(a, "--data") && i + 1 < argc) {
            t->data = argv[++i];
        } else if (!strcmp(a, "--store") && i + 1 < argc) {
            t->store = argv[++i];
        } else if (!strcmp(a, "--timeout") && i + 1 < argc) {
            t->timeout_ms = atoi(argv[++i]);
        } else if (a[0] == '-' && a[1] == '-') {
            fprintf(stderr, "gun: unknown option '%s'\n%s", a, usage);
            return GUN_CLI_USAGE;
        } else if (!t->data && pos == 0 && !t->url) {
            t->url = a, pos++;
        } else if (!t->path) {
            t->path = a;
        } else if (want_json && !t->json) {
            t->json = a;
        } else {
            fprintf(stderr, "gun: unexpected argument '%s'\n%s", a, usage);
            return GUN_CLI_USAGE;
        }
    }
    if (t->url && t->data) {
        fprintf(stderr, "gun: give a URL or --data, not both\n%s", usage);
        return GUN_CLI_USAGE;
    }
    if (t->store && (!t->data || (strcmp(t->store, "lmdb") && strcmp(t->store, "file")))) {
        fprintf(stderr, "gun: --store is lmdb or file, with --data\n%s", usage);
        return GUN_CLI_USAGE;
    }
    if ((!t->url && !t->data) || !t->path || (want_json && !t->json) || t->timeout_ms <= 0) {
        fputs(usage, stderr);
        return GUN_CLI_USAGE;
    }
    return 0;
}

#define PATH_HELP                                                                            \
    "PATH is soul or soul.key.key...: dots separate keys, '\\.' is a literal dot and '\\\\' a\n" \
    "backslash. Quote PATH in the shell: 'a\\.b.c' is key c of soul a.b.\n"                     \
    "--timeout MS bounds the connection and the answer (default 5000).\n"
#define TARGET_HELP                                                                          \
    "URL is a relay's peer URL (http://host:8765/gun); --data DIR works on a data directory\n"    \
    "directly, without a network (--store picks its kind, default lmdb).\n"

static const char put_usage[] =
    "usage: gun put URL|--data DIR [--store lmdb|file] PATH JSON [--timeout MS]\n"
    "Writes JSON (an object, or a value under a key) at PATH.\n" PATH_HELP TARGET_HELP
    "exit codes: 0 acknowledged (durable), 1 timeout, 2 usage (also JSON that is malformed\n"
    "or cannot be stored), 3 network, 4 rejected by the relay or the store\n";

int gun_cli_put(int argc, char **argv)
{
    target t;
    int rc = parse(argc, argv, &t, 1, put_usage);
    if (rc)
        return rc < 0 ? 0 : rc;
    gun_t *g;
    if ((rc = open_target(&t, &g)))
        return rc;
    gun_chain *c;
    if (walk(g, t.path, &c)) {
        gun_close(g);
        return GUN_CLI_USAGE;
    }
    int err = gun_put_sync(c, t.json, t.timeout_ms + 1000);
    gun_close(g);
    if (err == GUN_OK)
        return GUN_CLI_OK;
    fprintf(stderr, "gun put: %s\n", gun_strerror(err));
    if (err == GUN_ETIMEDOUT)
        return GUN_CLI_NOTFOUND;
    /* Refused before anything was sent: the JSON argument itself is wrong. */
    if (err == GUN_EJSON || err == GUN_EDEPTH || err == GUN_ETOOBIG || err == GUN_EROOTDATA ||
        err == GUN_EBADVALUE || err == GUN_EBADKEY || err == GUN_EBADSOUL)
        return GUN_CLI_USAGE;
    return GUN_CLI_REJECTED;
}

static const char get_usage[] =
    "usage: gun get URL|--data DIR [--store lmdb|file] PATH [--timeout MS]\n"
    "Prints the value at PATH as JSON (a node as an object, links as {\"#\":soul}).\n" PATH_HELP TARGET_HELP
    "exit codes: 0 found, 1 not found or timeout, 2 usage, 3 network\n";

int gun_cli_get(int argc, char **argv)
{
    target t;
    int rc = parse(argc, argv, &t, 0, get_usage);
    if (rc)
        return rc < 0 ? 0 : rc;
    gun_t *g;
    if ((rc = open_target(&t, &g)))
        return rc;
    gun_chain *c;
    if (walk(g, t.path, &c)) {
        gun_close(g);
        return GUN_CLI_USAGE;
    }
    char *json = NULL;
    int err = gun_get_sync(c, t.timeout_ms, &json);
    if (err == GUN_OK) {
        printf("%s\n", json);
        gun_free(json);
    }
    gun_close(g);
    if (err == GUN_OK)
        return GUN_CLI_OK;
    if (err != GUN_ENOTFOUND)
        fprintf(stderr, "gun get: %s\n", gun_strerror(err));
    return GUN_CLI_NOTFOUND;
}

static void print_change(const char *json, const char *key, void *arg)
{
    (void)key, (void)arg;
    if (json) {
        printf("%s\n", json);
        fflush(stdout);
    }
}

static const char watch_usage[] =
    "usage: gun watch URL PATH [--timeout MS]\n"
    "Prints the value at PATH, then every change, one JSON line each, until SIGINT or\n"
    "SIGTERM (then exits 0).\n" PATH_HELP
    "exit codes: 0 interrupted, 2 usage, 3 network\n";

int gun_cli_watch(int argc, char **argv)
{
    target t;
    int rc = parse(argc, argv, &t, 0, watch_usage);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (!t.url) {
        fputs(watch_usage, stderr);
        return GUN_CLI_USAGE;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    gun_t *g;
    if ((rc = open_target(&t, &g)))
        return rc;
    gun_chain *c;
    if (walk(g, t.path, &c) || gun_on(c, print_change, NULL)) {
        gun_close(g);
        return GUN_CLI_USAGE;
    }
    int sig;
    while (sigwait(&set, &sig) != 0)
        ;
    gun_close(g);
    return GUN_CLI_OK;
}

static int is_help(int argc, char **argv)
{
    return argc == 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"));
}

static const char keygen_usage[] =
    "usage: gun keygen\n"
    "Prints a new SEA key pair as JSON: {\"pub\",\"priv\",\"epub\",\"epriv\"}, the shape\n"
    "Gun.js's SEA.pair() gives. Keep priv and epriv secret.\n"
    "exit codes: 0 ok, 2 usage, 4 the crypto library failed\n";

int gun_cli_keygen(int argc, char **argv)
{
    if (argc > 0) {
        int help = is_help(argc, argv);
        fputs(keygen_usage, help ? stdout : stderr);
        return help ? GUN_CLI_OK : GUN_CLI_USAGE;
    }
    gun_sea_pair pair;
    char *json = NULL;
    int rc = gun_sea_pair_generate(&pair);
    if (!rc)
        rc = gun_sea_pair_to_json(&pair, &json);
    gun_sea_pair_wipe(&pair);
    if (rc) {
        fprintf(stderr, "gun keygen: %s\n", gun_strerror(rc));
        return GUN_CLI_REJECTED;
    }
    printf("%s\n", json);
    gun_sea_free(json);
    return GUN_CLI_OK;
}

static const char stats_usage[] =
    "usage: gun stats URL\n"
    "Prints a relay's counters (its /stats), one per line. URL is its peer URL\n"
    "(http://host:8765/gun) or just http://host:port; plain http only.\n"
    "exit codes: 0 ok, 2 usage, 3 network or an unexpected answer\n";

/* A plain HTTP/1.0 GET of /stats: one request, read to the end. */
int gun_cli_stats(int argc, char **argv)
{
    if (argc != 1 || is_help(argc, argv)) {
        int help = is_help(argc, argv);
        fputs(stats_usage, help ? stdout : stderr);
        return help ? GUN_CLI_OK : GUN_CLI_USAGE;
    }
    char host[256], port[16] = "8765";
    const char *u = argv[0];
    const char *h = strstr(u, "://");
    h = h ? h + 3 : u;
    size_t n = strcspn(h, ":/");
    if (!n || n >= sizeof host) {
        fprintf(stderr, "gun stats: bad URL '%s'\n", u);
        return GUN_CLI_USAGE;
    }
    memcpy(host, h, n);
    host[n] = 0;
    if (h[n] == ':') {
        size_t m = strcspn(h + n + 1, "/");
        if (!m || m >= sizeof port) {
            fprintf(stderr, "gun stats: bad URL '%s'\n", u);
            return GUN_CLI_USAGE;
        }
        memcpy(port, h + n + 1, m);
        port[m] = 0;
    }
    if (!strncmp(u, "https://", 8) || !strncmp(u, "wss://", 6)) {
        fprintf(stderr, "gun stats: TLS URLs are not supported by this command\n");
        return GUN_CLI_USAGE;
    }
    struct addrinfo hints = {0}, *ai;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &ai)) {
        fprintf(stderr, "gun stats: cannot resolve %s\n", host);
        return GUN_CLI_NETWORK;
    }
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen)) {
        fprintf(stderr, "gun stats: cannot connect to %s:%s: %s\n", host, port, strerror(errno));
        freeaddrinfo(ai);
        if (fd >= 0)
            close(fd);
        return GUN_CLI_NETWORK;
    }
    freeaddrinfo(ai);
    char req[512];
    int len = snprintf(req, sizeof req, "GET /stats HTTP/1.0\r\nHost: %s\r\n\r\n", host);
    if (write(fd, req, (size_t)len) != len) {
        close(fd);
        return GUN_CLI_NETWORK;
    }
    char *resp = NULL;
    size_t rl = 0, cap = 0;
    for (;;) {
        if (rl + 4096 > cap) {
            char *nr = realloc(resp, cap = cap ? cap * 2 : 8192);
            if (!nr)
                break;
            resp = nr;
        }
        ssize_t r = read(fd, resp + rl, cap - rl - 1);
        if (r <= 0)
            break;
        rl += (size_t)r;
    }
    close(fd);
    if (!resp) {
        fprintf(stderr, "gun stats: empty response\n");
        return GUN_CLI_NETWORK;
    }
    resp[rl] = 0;
    char *body = strstr(resp, "\r\n\r\n");
    if (strncmp(resp, "HTTP/1.", 7) || !body || atoi(resp + 9) != 200) {
        fprintf(stderr, "gun stats: unexpected answer from %s:%s\n", host, port);
        free(resp);
        return GUN_CLI_NETWORK;
    }
    /* Pretty-print the flat JSON object: one "key": value per line. */
    body += 4;
    int depth = 0, instr = 0;
    for (char *p = body; *p; p++) {
        char ch = *p;
        if (instr) {
            putchar(ch);
            if (ch == '\\' && p[1])
                putchar(*++p);
            else if (ch == '"')
                instr = 0;
            continue;
        }
        if (ch == '"') {
            instr = 1;
            putchar(ch);
        } else if (ch == '{') {
            depth++;
            fputs("{\n  ", stdout);
        } else if (ch == '}') {
            depth--;
            fputs("\n}", stdout);
        } else if (ch == ',' && depth == 1) {
            fputs(",\n  ", stdout);
        } else if (ch == ':' && depth == 1) {
            fputs(": ", stdout);
        } else if (ch != '\n' && ch != '\r') {
            putchar(ch);
        }
    }
    putchar('\n');
    free(resp);
    return GUN_CLI_OK;
}

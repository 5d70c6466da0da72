/* gun relay: a Gun super peer on one port (WebSocket path /gun), the drop-in for
 * `node examples/http.js`. Flags win over the environment variables the Gun.js relay reads
 * (PORT, PEERS, HTTPS_KEY, HTTPS_CERT, RAD=false). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "gun.h"

static const char relay_usage[] =
    "usage: gun relay [options]\n"
    "\n"
    "Runs a Gun relay (super peer). Gun.js apps connect to ws://HOST:PORT/gun.\n"
    "\n"
    "options:\n"
    "  --host ADDR          listen address (default 0.0.0.0)\n"
    "  --port N             port (default 8765, env PORT); 0 picks a free port\n"
    "  --data DIR           data directory (default ./radata)\n"
    "  --store KIND         lmdb | file | memory (default lmdb; env RAD=false: memory)\n"
    "  --peers URL[,URL]    other relays to connect to and keep (env PEERS)\n"
    "  --tls-cert FILE      serve wss:// with this certificate (env HTTPS_CERT)\n"
    "  --tls-key FILE       and this key (env HTTPS_KEY)\n"
    "  --tls-insecure-peers accept self-signed certificates of wss:// peers (testing)\n"
    "  --max-data BYTES     cap the LMDB data file; writes past it are refused with an\n"
    "                       error ack (default: no cap)\n"
    "  --nosync             do not fsync commits: a crash of the relay loses nothing, an\n"
    "                       OS crash or power loss may lose the last writes\n"
    "  --quiet              log only warnings and errors\n"
    "  -h, --help           this text\n"
    "\n"
    "Prints 'gun relay listening on ws://HOST:PORT/gun' when ready; SIGTERM or SIGINT\n"
    "stop it cleanly.\n";

static void log_stderr(gun_log_level level, const char *msg, void *arg)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    (void)arg;
    time_t t = time(NULL);
    struct tm tm;
    char ts[32];
    gmtime_r(&t, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(stderr, "%s %s %s\n", ts, names[level], msg);
}

/* Splits a comma-separated list in place. */
static size_t split_peers(char *list, const char **out, size_t max)
{
    size_t n = 0;
    for (char *tok = strtok(list, ","); tok && n < max; tok = strtok(NULL, ",")) {
        while (*tok == ' ')
            tok++;
        if (*tok)
            out[n++] = tok;
    }
    return n;
}

int gun_cli_relay(int argc, char **argv)
{
    const char *host = NULL, *data = "./radata", *store = NULL, *cert = NULL, *key = NULL;
    char *peers_arg = NULL;
    long port = 8765;
    int quiet = 0, nosync = 0, insecure = 0;
    unsigned long long max_data = 0;
    const char *env;
    if ((env = getenv("PORT")) && *env)
        port = strtol(env, NULL, 10);
    if ((env = getenv("PEERS")) && *env)
        peers_arg = strdup(env);
    if ((env = getenv("HTTPS_CERT")) && *env)
        cert = env;
    if ((env = getenv("HTTPS_KEY")) && *env)
        key = env;
    if ((env = getenv("RAD")) && !strcmp(env, "false"))
        store = "memory";

    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_VALUE()                                                           \
    do {                                                                       \
        if (!v) {                                                              \
            fprintf(stderr, "gun relay: %s needs a value\n", a);             \
            return GUN_CLI_USAGE;                                              \
        }                                                                      \
        i++;                                                                   \
    } while (0)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(relay_usage, stdout);
            return 0;
        } else if (!strcmp(a, "--host")) {
            NEED_VALUE();
            host = v;
        } else if (!strcmp(a, "--port")) {
            NEED_VALUE();
            char *end;
            errno = 0;
            port = strtol(v, &end, 10);
            if (errno || *end || port < 0 || port > 65535) {
                fprintf(stderr, "gun relay: bad port '%s'\n", v);
                return GUN_CLI_USAGE;
            }
        } else if (!strcmp(a, "--data")) {
            NEED_VALUE();
            data = v;
        } else if (!strcmp(a, "--store")) {
            NEED_VALUE();
            store = v;
        } else if (!strcmp(a, "--peers")) {
            NEED_VALUE();
            free(peers_arg);
            peers_arg = strdup(v);
        } else if (!strcmp(a, "--tls-cert")) {
            NEED_VALUE();
            cert = v;
        } else if (!strcmp(a, "--tls-key")) {
            NEED_VALUE();
            key = v;
        } else if (!strcmp(a, "--max-data")) {
            NEED_VALUE();
            char *end;
            errno = 0;
            max_data = strtoull(v, &end, 10);
            if (errno || *end) {
                fprintf(stderr, "gun relay: bad --max-data '%s' (bytes)\n", v);
                return GUN_CLI_USAGE;
            }
        } else if (!strcmp(a, "--tls-insecure-peers")) {
            insecure = 1;
        } else if (!strcmp(a, "--nosync")) {
            nosync = 1;
        } else if (!strcmp(a, "--quiet")) {
            quiet = 1;
        } else {
            fprintf(stderr, "gun relay: unknown option '%s'\n%s", a, relay_usage);
            return GUN_CLI_USAGE;
        }
#undef NEED_VALUE
    }
    if ((cert && !key) || (key && !cert)) {
        fprintf(stderr, "gun relay: --tls-cert and --tls-key go together\n");
        return GUN_CLI_USAGE;
    }
    if (store && strcmp(store, "memory") && strcmp(store, "lmdb") && strcmp(store, "file")) {
        fprintf(stderr, "gun relay: --store must be lmdb, file or memory\n");
        return GUN_CLI_USAGE;
    }
    const char *peers[64];
    size_t npeers = peers_arg ? split_peers(peers_arg, peers, 64) : 0;

    /* Signals are taken by this thread with sigwait; block them before the loop thread
     * starts so it inherits the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    gun_opts o;
    gun_opts_init(&o);
    o.super_peer = 1;
    if (!store || !strcmp(store, "lmdb"))
        o.radisk = 1;
    else if (!strcmp(store, "file"))
        o.local_storage = 1;
    o.storage_path = data;
    o.storage_nosync = nosync;
    o.tls_insecure_peers = insecure;
    o.storage_max_bytes = (size_t)max_data;
    o.host = host;
    o.port = (int)port;
    o.peers = peers;
    o.npeers = npeers;
    o.tls_cert = cert;
    o.tls_key = key;
    o.log = log_stderr;
    o.log_level = quiet ? GUN_LOG_WARN : GUN_LOG_INFO;
    gun_t *g = NULL;
    int rc = gun_open(&g, &o);
    if (rc) {
        fprintf(stderr, "gun relay: cannot start: %s (see the log above)\n", gun_strerror(rc));
        free(peers_arg);
        return GUN_CLI_NETWORK;
    }
    printf("gun relay listening on %s://%s:%d/gun\n", cert ? "wss" : "ws",
           host ? host : "0.0.0.0", gun_port(g));
    fflush(stdout);

    int sig = 0;
    while (sigwait(&set, &sig) != 0)
        ;
    fprintf(stderr, "gun relay: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    gun_close(g);
    free(peers_arg);
    return 0;
}

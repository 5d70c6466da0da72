/* sea_user_peer: a C program that is a Gun user, on the public gun.h API only, driven line
 * by line from stdin by tests/interop/22-sea-users.test.js.
 *
 *   sea_user_peer [--peer URL]... [--timeout MS]
 *
 * Commands (one a line, words split on single spaces; the last argument takes the rest of
 * the line). Every command prints exactly one JSON line on stdout, {"ev":<command>,"rc":R,
 * ...}, where R is the gun_err code:
 *   create <alias> <pass>          "pub"
 *   auth <alias> <pass>            "pub"
 *   authpair <pair json>           "pub"
 *   leave | is                     "pub" (is)
 *   put <path> <json>              "err_text" (path: soul/key/...; a first element "~" is
 *                                  the logged-in user's graph, gun_user)
 *   certput <path> <cert> <json>   gun_put_cert, "err_text"
 *   get <path>                     gun_get_sync, "data" (JSON as the library gives it)
 *   certify <certificants> <policy>  gun_sea_certify by the logged-in user, "cert"
 *   encrypt <their epub> <text>    secret + encrypt for another user, "data" (SEA{...})
 *   decrypt <their epub> <SEA{..}> secret + decrypt, "data"
 *   quit
 * Waits are bounded by --timeout (default 20000 ms). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gun.h"

#define MAX_PEERS 8

static void put_str(const char *s)
{
    if (!s) {
        fputs("null", stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

/* {"ev":ev,"rc":rc then the caller's members, then "}\n". */
static void begin(const char *ev, int rc)
{
    fputs("{\"ev\":", stdout);
    put_str(ev);
    printf(",\"rc\":%d", rc);
}

static void end(void)
{
    fputs("}\n", stdout);
    fflush(stdout);
}

static void member_str(const char *k, const char *v)
{
    printf(",\"%s\":", k);
    put_str(v);
}

static void member_json(const char *k, const char *v)
{
    printf(",\"%s\":%s", k, v ? v : "null");
}

/* A put's ack, waited for on the main thread. */
typedef struct ackw {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, err;
    char text[512];
} ackw;

static void on_ack(const gun_ack *a, void *arg)
{
    ackw *w = arg;
    pthread_mutex_lock(&w->mu);
    w->err = a->err;
    snprintf(w->text, sizeof w->text, "%s", a->err_text ? a->err_text : "");
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* The chain for "soul/key/..." ("~" first: the user's graph). */
static int chain_of(gun_t *g, char *path, gun_chain **out)
{
    char *save = NULL, *tok = strtok_r(path, "/", &save);
    if (!tok)
        return GUN_EINVAL;
    int rc = strcmp(tok, "~") == 0 ? gun_user(g, out) : gun_get(g, tok, out);
    while (!rc && (tok = strtok_r(NULL, "/", &save)))
        rc = gun_chain_get(*out, tok, out);
    return rc;
}

/* Splits off the next word; returns the rest of the line (never NULL). */
static char *word(char **line)
{
    char *w = *line, *sp = strchr(w, ' ');
    if (sp) {
        *sp = 0;
        *line = sp + 1;
    } else {
        *line = w + strlen(w);
    }
    return w;
}

static void do_put(gun_t *g, char *args, int with_cert, int timeout)
{
    gun_chain *c = NULL;
    char *path = word(&args), *cert = with_cert ? word(&args) : NULL;
    ackw w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, ""};
    int rc = chain_of(g, path, &c);
    if (!rc)
        rc = cert ? gun_put_cert(c, args, cert, on_ack, &w) : gun_put(c, args, on_ack, &w);
    if (!rc) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += timeout / 1000;
        pthread_mutex_lock(&w.mu);
        while (!w.done && pthread_cond_timedwait(&w.cv, &w.mu, &ts) == 0)
            ;
        rc = w.done ? w.err : GUN_ETIMEDOUT;
        pthread_mutex_unlock(&w.mu);
    }
    begin(with_cert ? "certput" : "put", rc);
    member_str("err_text", w.done && w.err ? w.text : NULL);
    end();
}

/* secret with their epub, then encrypt or decrypt `text` with it. */
static void do_crypt(gun_t *g, char *args, int enc)
{
    char *epub = word(&args), secret[44], *out = NULL;
    gun_sea_pair me;
    int rc = gun_user_pair(g, &me);
    if (!rc)
        rc = gun_sea_secret(epub, &me, secret);
    gun_sea_pair_wipe(&me);
    if (!rc)
        rc = enc ? gun_sea_encrypt(args, secret, 0, &out) : gun_sea_decrypt(args, secret, &out);
    memset(secret, 0, sizeof secret);
    begin(enc ? "encrypt" : "decrypt", rc);
    if (enc)
        member_str("data", out);
    else
        member_json("data", out);
    end();
    gun_sea_free(out);
}

int main(int argc, char **argv)
{
    const char *peers[MAX_PEERS];
    size_t np = 0;
    int timeout = 20000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--peer") && i + 1 < argc && np < MAX_PEERS)
            peers[np++] = argv[++i];
        else if (!strcmp(argv[i], "--timeout") && i + 1 < argc)
            timeout = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: sea_user_peer [--peer URL]... [--timeout MS]\n");
            return 2;
        }
    }
    gun_opts o;
    gun_opts_init(&o);
    o.peers = peers;
    o.npeers = np;
    o.ack_timeout_ms = (uint32_t)timeout;
    gun_t *g = NULL;
    int rc = gun_open(&g, &o);
    if (rc) {
        fprintf(stderr, "sea_user_peer: gun_open: %s\n", gun_strerror(rc));
        return 1;
    }
    if (np && gun_wait_connected(g, timeout) != GUN_OK)
        fprintf(stderr, "sea_user_peer: no peer connected yet\n");
    begin("ready", 0);
    end();
    char line[65536];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\r\n")] = 0;
        char *args = line, *cmd = word(&args), pub[88] = "";
        if (!strcmp(cmd, "quit"))
            break;
        if (!strcmp(cmd, "create")) {
            char *alias = word(&args);
            rc = gun_user_create(g, alias, args, timeout, pub);
        } else if (!strcmp(cmd, "auth")) {
            char *alias = word(&args);
            rc = gun_user_auth(g, alias, args, timeout);
            gun_user_is(g, pub);
        } else if (!strcmp(cmd, "authpair")) {
            gun_sea_pair p;
            rc = gun_sea_pair_from_json(args, &p);
            if (!rc)
                rc = gun_user_auth_pair(g, &p);
            gun_sea_pair_wipe(&p);
            gun_user_is(g, pub);
        } else if (!strcmp(cmd, "leave")) {
            rc = gun_user_leave(g);
        } else if (!strcmp(cmd, "is")) {
            rc = gun_user_is(g, pub);
        } else if (!strcmp(cmd, "put") || !strcmp(cmd, "certput")) {
            do_put(g, args, cmd[0] == 'c', timeout);
            continue;
        } else if (!strcmp(cmd, "get")) {
            gun_chain *c = NULL;
            char *data = NULL;
            rc = chain_of(g, args, &c);
            if (!rc)
                rc = gun_get_sync(c, timeout, &data);
            begin("get", rc);
            member_json("data", data);
            end();
            gun_free(data);
            continue;
        } else if (!strcmp(cmd, "certify")) {
            char *who = word(&args), *cert = NULL;
            gun_sea_pair me;
            rc = gun_user_pair(g, &me);
            if (!rc)
                rc = gun_sea_certify(who, args, &me, 0, NULL, &cert);
            gun_sea_pair_wipe(&me);
            begin("certify", rc);
            member_str("cert", cert);
            end();
            gun_sea_free(cert);
            continue;
        } else if (!strcmp(cmd, "encrypt") || !strcmp(cmd, "decrypt")) {
            do_crypt(g, args, cmd[0] == 'e');
            continue;
        } else {
            rc = GUN_EINVAL;
        }
        begin(cmd, rc);
        member_str("pub", pub[0] ? pub : NULL);
        end();
    }
    rc = gun_close(g);
    begin("bye", rc);
    end();
    return 0;
}

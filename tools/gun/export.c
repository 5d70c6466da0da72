/* gun export / gun import: the whole graph with states as one JSON object, the shape Gun.js
 * uses for a graph: {soul: {"_":{"#":soul,">":{key:state}}, key: value}}.
 *
 * export streams: souls are listed 1000 at a time (a lex range from the last one seen) and
 * each node is written as soon as it is read, so memory is one node plus 1000 souls.
 * import reads the top-level object member by member: a small tokenizer finds each member's
 * byte range, and only that slice is parsed. Limits: one node's JSON text may be at most
 * IMPORT_MAX_NODE bytes; the top level must be an object. Each node is validated as a put
 * of its own (gun__graph_from_put); valid nodes are merged with HAM against the store in
 * batches of up to 1000 nodes, one transaction each. An invalid node is skipped and
 * reported (exit 4); a syntax error stops the import there (exit 4): batches already
 * committed hold only valid nodes, merged by HAM, so the store stays consistent. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/core/core.h"
#include "../../src/store/store.h"
#include "cli.h"
#include "gun.h"

#define SOUL_BATCH 1000
#define IMPORT_BATCH_NODES 1000
#define IMPORT_BATCH_KEYS 100000
#define IMPORT_MAX_NODE (64u * 1024u * 1024u)
/* HAM without deferral: a dump's future states are data to keep as they are, not clock
 * skew to wait out, so the merge runs with a clock far in the future. */
#define IMPORT_DRIFT 1e300

int gun_cli_open_store(struct gun__store *s, const char *kind, const char *dir,
                       const char *cmd)
{
    const gun__store_ops *ops = NULL;
    if (!kind || !strcmp(kind, "lmdb"))
        ops = &gun__store_lmdb_ops;
    else if (!strcmp(kind, "file"))
        ops = &gun__store_file_ops;
    if (!ops) {
        fprintf(stderr, "gun %s: --store must be lmdb or file\n", cmd);
        return GUN_CLI_USAGE;
    }
    gun__store_cfg cfg = {0};
    cfg.path = dir;
    gun__err e = {0};
    int rc = gun__store_open(s, ops, &cfg, &e);
    if (rc != GUN_OK) {
        fprintf(stderr, "gun %s: cannot open %s store in '%s': %s\n", cmd, ops->name, dir,
                e.msg[0] ? e.msg : gun_strerror(rc));
        return GUN_CLI_NOTFOUND;
    }
    return GUN_CLI_OK;
}

/* Common flags: --data DIR, --store KIND. Returns -1 when i was consumed, else a CLI code. */
static int parse_flags(int argc, char **argv, const char *cmd, const char *usage,
                       const char **data, const char **store, const char **pos)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return -2;
        } else if (!strcmp(a, "--data") || !strcmp(a, "--store")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "gun %s: %s needs a value\n", cmd, a);
                return GUN_CLI_USAGE;
            }
            *(a[2] == 'd' ? data : store) = argv[++i];
        } else if (a[0] != '-' && pos && !*pos) {
            *pos = a;
        } else {
            fprintf(stderr, "gun %s: unknown option '%s'\n%s", cmd, a, usage);
            return GUN_CLI_USAGE;
        }
    }
    if (!*data) {
        fprintf(stderr, "gun %s: --data DIR is required\n%s", cmd, usage);
        return GUN_CLI_USAGE;
    }
    return -1;
}

/* ---- export ---- */
static const char export_usage[] =
    "usage: gun export --data DIR [--store lmdb|file] > graph.json\n"
    "\n"
    "Writes the whole graph with its states to stdout as one JSON object\n"
    "{soul: {\"_\":{\"#\":soul,\">\":{key:state}}, key: value}}, one node per line.\n"
    "Streams: memory stays small whatever the size of the store. Stop the relay that\n"
    "uses DIR first. A summary goes to stderr.\n"
    "exit codes: 0 ok, 1 store error, 2 usage\n";

typedef struct exp_ctx {
    gun__store *s;
    FILE *out;
    gun__buf st, vals, line;
    char *souls[SOUL_BATCH];
    size_t nsouls;
    gun__buf last;
    int have_last;
    size_t nodes, keys, skipped;
    unsigned long long bytes;
    int oom;
} exp_ctx;

static int exp_soul(void *arg, gun__str soul)
{
    exp_ctx *x = arg;
    if (x->have_last && soul.len == x->last.len && !memcmp(soul.p, x->last.p, soul.len))
        return 0;
    if (!(x->souls[x->nsouls] = gun__strndup(soul.p, soul.len))) {
        x->oom = 1;
        return 1;
    }
    return ++x->nsouls == SOUL_BATCH;
}

static int exp_key(void *arg, gun__str soul, gun__str key, const gun__val *val, double state)
{
    exp_ctx *x = arg;
    if (key.len == 1 && key.p[0] == '_') {
        x->skipped++; /* would collide with the meta member */
        return 0;
    }
    if (x->st.len)
        gun__buf_addc(&x->st, ',');
    gun__json_write_str(&x->st, key.p, key.len);
    gun__buf_addc(&x->st, ':');
    gun__json_write_num(&x->st, state);
    gun__buf_addc(&x->vals, ',');
    gun__json_write_str(&x->vals, key.p, key.len);
    gun__buf_addc(&x->vals, ':');
    gun__val_write(&x->vals, val);
    x->keys++;
    return 0;
}

int gun_cli_export(int argc, char **argv)
{
    const char *data = NULL, *store = NULL;
    int rc = parse_flags(argc, argv, "export", export_usage, &data, &store, NULL);
    if (rc != -1)
        return rc == -2 ? GUN_CLI_OK : rc;
    gun__store s;
    if ((rc = gun_cli_open_store(&s, store, data, "export")) != GUN_CLI_OK)
        return rc;
    exp_ctx x;
    memset(&x, 0, sizeof x);
    x.s = &s;
    x.out = stdout;
    gun__buf_init(&x.st);
    gun__buf_init(&x.vals);
    gun__buf_init(&x.line);
    gun__buf_init(&x.last);
    int tty = isatty(2);
    int err = 0;
    if (fputs("{", x.out) == EOF)
        err = 1;
    x.bytes = 1;
    for (;;) {
        gun__lex lex = {0};
        if (x.have_last) {
            lex.has_gte = 1;
            lex.gte = (gun__str){x.last.p, x.last.len};
        }
        x.nsouls = 0;
        int r = s.ops->souls(s.st, x.have_last ? &lex : NULL, exp_soul, &x);
        if (x.oom || (r != GUN_OK && r != GUN_ENOTFOUND && x.nsouls < SOUL_BATCH)) {
            fprintf(stderr, "gun export: listing souls failed: %s\n",
                    gun_strerror(x.oom ? GUN_ENOMEM : r));
            err = 1;
        }
        for (size_t i = 0; i < x.nsouls && !err; i++) {
            gun__str soul = gun__str_c(x.souls[i]);
            gun__buf_reset(&x.st);
            gun__buf_reset(&x.vals);
            r = s.ops->get_node(s.st, soul, NULL, exp_key, &x);
            if (r == GUN_ENOTFOUND || (r == GUN_OK && !x.vals.len))
                continue;
            if (r != GUN_OK || x.st.oom || x.vals.oom) {
                fprintf(stderr, "gun export: reading '%s' failed: %s\n", x.souls[i],
                        gun_strerror(r != GUN_OK ? r : GUN_ENOMEM));
                err = 1;
                break;
            }
            gun__buf_reset(&x.line);
            gun__buf_adds(&x.line, x.nodes ? ",\n" : "\n");
            gun__json_write_str(&x.line, soul.p, soul.len);
            gun__buf_adds(&x.line, ":{\"_\":{\"#\":");
            gun__json_write_str(&x.line, soul.p, soul.len);
            gun__buf_adds(&x.line, ",\">\":{");
            if (x.line.oom ||
                fwrite(x.line.p, 1, x.line.len, x.out) != x.line.len ||
                fwrite(x.st.p, 1, x.st.len, x.out) != x.st.len ||
                fputs("}}", x.out) == EOF ||
                fwrite(x.vals.p, 1, x.vals.len, x.out) != x.vals.len || fputs("}", x.out) == EOF) {
                fprintf(stderr, "gun export: write failed: %s\n", strerror(errno));
                err = 1;
                break;
            }
            x.bytes += x.line.len + x.st.len + 2 + x.vals.len + 1;
            x.nodes++;
            if (tty && x.nodes % 1000 == 0)
                fprintf(stderr, "\rgun export: %zu souls, %zu keys, %llu bytes", x.nodes, x.keys,
                        x.bytes);
        }
        size_t got = x.nsouls;
        if (got) {
            gun__buf_reset(&x.last);
            gun__buf_adds(&x.last, x.souls[got - 1]);
            x.have_last = !x.last.oom;
            if (x.last.oom)
                err = 1;
        }
        for (size_t i = 0; i < got; i++)
            gun__free(x.souls[i]);
        if (err || got < SOUL_BATCH)
            break;
    }
    if (!err && (fputs(x.nodes ? "\n}\n" : "}\n", x.out) == EOF || fflush(x.out) == EOF)) {
        fprintf(stderr, "gun export: write failed: %s\n", strerror(errno));
        err = 1;
    }
    x.bytes += x.nodes ? 3 : 2;
    if (tty)
        fputs("\r", stderr);
    fprintf(stderr, "gun export: %zu souls, %zu keys, %llu bytes%s\n", x.nodes, x.keys, x.bytes,
            err ? " (incomplete: see above)" : "");
    if (x.skipped)
        fprintf(stderr, "gun export: %zu keys named \"_\" left out\n", x.skipped);
    gun__buf_free(&x.st);
    gun__buf_free(&x.vals);
    gun__buf_free(&x.line);
    gun__buf_free(&x.last);
    gun__store_close(&s);
    return err ? GUN_CLI_NOTFOUND : GUN_CLI_OK;
}

/* ---- import ---- */
static const char import_usage[] =
    "usage: gun import --data DIR [--store lmdb|file] < graph.json\n"
    "\n"
    "Merges a graph (the format 'gun export' writes) into the store with HAM: a key is\n"
    "written only when its state wins over what is there. Each node is validated on its\n"
    "own; invalid nodes are reported and skipped. Nodes are read one at a time (each at\n"
    "most 64 MiB of JSON) and committed 1000 per transaction. Stop the relay that uses\n"
    "DIR first.\n"
    "exit codes: 0 ok, 1 store error, 2 usage, 4 some data rejected\n";

typedef struct imp_node {
    gun__json *put;
    gun__graph g;
} imp_node;

typedef struct imp_ctx {
    gun__store s;
    gun__core *core;
    imp_node batch[IMPORT_BATCH_NODES];
    size_t nb, bkeys;
    size_t nodes, accepted, ignored, future, rejected;
    int store_err;
} imp_ctx;

static void imp_free_batch(imp_ctx *x)
{
    for (size_t i = 0; i < x->nb; i++) {
        gun__graph_free(&x->batch[i].g);
        gun__json_free(x->batch[i].put);
    }
    x->nb = 0;
    x->bkeys = 0;
}

static int imp_flush(imp_ctx *x)
{
    if (!x->nb)
        return GUN_OK;
    size_t nn = 0;
    for (size_t i = 0; i < x->nb; i++)
        nn += x->batch[i].g.n;
    gun__graph all = {0};
    all.nodes = gun__calloc(nn ? nn : 1, sizeof *all.nodes);
    gun__merge_res *res = gun__calloc(x->bkeys ? x->bkeys : 1, sizeof *res);
    int rc = GUN_ENOMEM;
    if (all.nodes && res) {
        for (size_t i = 0; i < x->nb; i++)
            for (size_t j = 0; j < x->batch[i].g.n; j++)
                all.nodes[all.n++] = x->batch[i].g.nodes[j];
        all.keys = x->bkeys;
        rc = gun__core_put(x->core, &all, res);
    }
    if (rc == GUN_OK) {
        for (size_t i = 0; i < all.keys; i++) {
            if (res[i].result == GUN__HAM_ACCEPT)
                x->accepted++;
            else if (res[i].result == GUN__HAM_OLD || res[i].result == GUN__HAM_SAME)
                x->ignored++;
            else
                x->future++;
        }
    }
    gun__free(all.nodes);
    gun__free(res);
    imp_free_batch(x);
    return rc;
}

static void imp_reject(imp_ctx *x, const char *soul, size_t off, const char *why)
{
    x->rejected++;
    if (x->rejected <= 20)
        fprintf(stderr, "gun import: node %s%s%s(at byte %zu) rejected: %s\n", soul ? "'" : "",
                soul ? soul : "", soul ? "' " : "", off, why);
    else if (x->rejected == 21)
        fprintf(stderr, "gun import: more rejected nodes not listed\n");
}

/* One member: text[ks..ke) is the key literal, text[vs..ve) the value. */
static int imp_member(imp_ctx *x, const char *text, size_t ks, size_t ke, size_t vs, size_t ve,
                      size_t off)
{
    gun__buf m;
    gun__buf_init(&m);
    gun__buf_addc(&m, '{');
    gun__buf_add(&m, text + ks, ke - ks);
    gun__buf_addc(&m, ':');
    gun__buf_add(&m, text + vs, ve - vs);
    gun__buf_addc(&m, '}');
    if (m.oom) {
        gun__buf_free(&m);
        return GUN_ENOMEM;
    }
    gun__limits lim = {IMPORT_MAX_NODE + 16, 64};
    gun__json *put = NULL;
    gun__err e = {0};
    int rc = gun__json_parse(m.p, m.len, &lim, &put, &e);
    gun__buf_free(&m);
    if (rc == GUN_ENOMEM)
        return rc;
    if (rc != GUN_OK) {
        imp_reject(x, NULL, off, e.msg[0] ? e.msg : gun_strerror(rc));
        return GUN_OK;
    }
    const char *soul = put->t == GUN__J_OBJ && put->u.o.n ? put->u.o.m[0].key : NULL;
    gun__graph g = {0};
    rc = gun__graph_from_put(put, &g, &e);
    if (rc == GUN_ENOMEM) {
        gun__json_free(put);
        return rc;
    }
    if (rc == GUN_OK && g.n == 0) {
        rc = GUN_ENONODE;
        gun__fail(&e, rc, "not a node");
    }
    if (rc != GUN_OK) {
        imp_reject(x, soul, off, e.msg[0] ? e.msg : gun_strerror(rc));
        gun__graph_free(&g);
        gun__json_free(put);
        return GUN_OK;
    }
    if (x->nb == IMPORT_BATCH_NODES || x->bkeys + g.keys > IMPORT_BATCH_KEYS) {
        if ((rc = imp_flush(x)) != GUN_OK) {
            gun__graph_free(&g);
            gun__json_free(put);
            return rc;
        }
    }
    x->batch[x->nb].put = put;
    x->batch[x->nb].g = g;
    x->nb++;
    x->bkeys += g.keys;
    x->nodes++;
    return GUN_OK;
}

/* The tokenizer. Scans text[*pos..len) for one JSON value (strings, nesting), without
 * checking it: gun__json_parse does that on the slice. 1: found (end in *pos), 0: needs
 * more input, -1: syntax error. */
static int scan_value(const char *t, size_t len, size_t *pos)
{
    size_t i = *pos;
    int depth = 0, in_str = 0;
    if (i >= len)
        return 0;
    char c0 = t[i];
    if (c0 != '"' && c0 != '{' && c0 != '[') {
        while (i < len && !strchr(",}] \t\r\n", t[i]))
            i++;
        if (i == len)
            return 0;
        if (i == *pos)
            return -1;
        *pos = i;
        return 1;
    }
    for (; i < len; i++) {
        char c = t[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"') {
                in_str = 0;
                if (depth == 0) {
                    *pos = i + 1;
                    return 1;
                }
            }
            continue;
        }
        if (c == '"')
            in_str = 1;
        else if (c == '{' || c == '[')
            depth++;
        else if (c == '}' || c == ']') {
            if (--depth == 0) {
                *pos = i + 1;
                return 1;
            }
            if (depth < 0)
                return -1;
        }
    }
    return 0;
}

static size_t skip_ws(const char *t, size_t len, size_t i)
{
    while (i < len && (t[i] == ' ' || t[i] == '\t' || t[i] == '\r' || t[i] == '\n'))
        i++;
    return i;
}

/* Reads at least `want` more bytes (or to EOF). 0 at EOF with nothing read. */
static size_t fill(gun__buf *b, FILE *in, size_t want, int *ioerr)
{
    size_t got = 0;
    while (got < want) {
        if (gun__buf_reserve(b, 65536) != GUN_OK)
            return got;
        size_t r = fread(b->p + b->len, 1, b->cap - b->len - 1, in);
        if (r == 0) {
            if (ferror(in))
                *ioerr = 1;
            break;
        }
        b->len += r;
        b->p[b->len] = 0;
        got += r;
    }
    return got;
}

int gun_cli_import(int argc, char **argv)
{
    const char *data = NULL, *store = NULL;
    int rc = parse_flags(argc, argv, "import", import_usage, &data, &store, NULL);
    if (rc != -1)
        return rc == -2 ? GUN_CLI_OK : rc;
    imp_ctx *x = gun__calloc(1, sizeof *x);
    if (!x) {
        fprintf(stderr, "gun import: out of memory\n");
        return GUN_CLI_NOTFOUND;
    }
    if ((rc = gun_cli_open_store(&x->s, store, data, "import")) != GUN_CLI_OK) {
        gun__free(x);
        return rc;
    }
    x->core = gun__core_new(&x->s, IMPORT_DRIFT);
    if (!x->core) {
        fprintf(stderr, "gun import: out of memory\n");
        gun__store_close(&x->s);
        gun__free(x);
        return GUN_CLI_NOTFOUND;
    }
    gun__core_set_defer_max(x->core, 0);
    int tty = isatty(2);
    gun__buf b;
    gun__buf_init(&b);
    int ioerr = 0, eof = 0, fatal = 0, syntax = 0;
    size_t consumed = 0; /* bytes dropped from the front of b so far (for offsets) */
    size_t pos = 0;
    enum { OPEN, MEMBER, AFTER, DONE } ph = OPEN;
    const char *why = NULL;
    while (ph != DONE && !fatal && !syntax) {
        /* Ensure progress: parse what is buffered, read more when it needs more. */
        int need = 0;
        pos = skip_ws(b.p, b.len, pos);
        if (pos >= b.len) {
            need = 1;
        } else if (ph == OPEN) {
            if (b.p[pos] != '{') {
                syntax = 1;
                why = "the input is not a JSON object";
                break;
            }
            pos++;
            ph = MEMBER;
            pos = skip_ws(b.p, b.len, pos);
            if (pos < b.len && b.p[pos] == '}') {
                pos++;
                ph = DONE;
            }
            continue;
        } else if (ph == AFTER) {
            if (b.p[pos] == ',') {
                pos++;
                ph = MEMBER;
            } else if (b.p[pos] == '}') {
                pos++;
                ph = DONE;
            } else {
                syntax = 1;
                why = "expected ',' or '}' after a node";
            }
            continue;
        } else { /* MEMBER */
            size_t ks = pos, i = pos;
            if (b.p[ks] != '"') {
                syntax = 1;
                why = "expected a soul (a string)";
                break;
            }
            int r = scan_value(b.p, b.len, &i);
            size_t ke = i, vs = 0, ve = 0;
            if (r == 1) {
                i = skip_ws(b.p, b.len, i);
                if (i >= b.len)
                    r = 0;
                else if (b.p[i] != ':')
                    r = -1;
                else {
                    vs = i = skip_ws(b.p, b.len, i + 1);
                    r = scan_value(b.p, b.len, &i);
                    ve = i;
                }
            }
            if (r < 0) {
                syntax = 1;
                why = "malformed member";
                break;
            }
            if (r == 0) {
                if (b.len - ks > IMPORT_MAX_NODE) {
                    syntax = 1;
                    why = "a node is larger than 64 MiB";
                    break;
                }
                need = 1;
            } else {
                int m = imp_member(x, b.p, ks, ke, vs, ve, consumed + ks);
                if (m != GUN_OK) {
                    fatal = m;
                    break;
                }
                pos = ve;
                ph = AFTER;
                /* Drop what is done so the buffer holds one node at most. */
                memmove(b.p, b.p + pos, b.len - pos);
                b.len -= pos;
                b.p[b.len] = 0;
                consumed += pos;
                pos = 0;
                if (tty && x->nodes % 1000 == 0 && x->nodes)
                    fprintf(stderr, "\rgun import: %zu nodes", x->nodes);
                continue;
            }
        }
        if (need) {
            if (eof) {
                syntax = 1;
                why = "unexpected end of input";
                break;
            }
            size_t want = b.len > 65536 ? b.len : 65536;
            if (fill(&b, stdin, want, &ioerr) == 0) {
                if (b.oom) {
                    fatal = GUN_ENOMEM;
                    break;
                }
                eof = 1;
            }
        }
    }
    if (ph == DONE && !fatal) {
        pos = skip_ws(b.p, b.len, pos);
        while (pos >= b.len && !eof && !ioerr) {
            gun__buf_reset(&b);
            pos = 0;
            if (fill(&b, stdin, 65536, &ioerr) == 0)
                eof = 1;
            pos = skip_ws(b.p, b.len, pos);
        }
        if (pos < b.len) {
            syntax = 1;
            why = "text after the end of the object";
        }
    }
    if (!fatal && (rc = imp_flush(x)) != GUN_OK)
        fatal = rc;
    imp_free_batch(x);
    if (tty)
        fputs("\r", stderr);
    int code = GUN_CLI_OK;
    if (ioerr) {
        fprintf(stderr, "gun import: reading stdin failed: %s\n", strerror(errno));
        code = GUN_CLI_NOTFOUND;
    } else if (fatal) {
        fprintf(stderr, "gun import: store error: %s\n", gun_strerror(fatal));
        code = GUN_CLI_NOTFOUND;
    } else if (syntax) {
        fprintf(stderr, "gun import: invalid JSON at byte %zu: %s; stopped there\n",
                consumed + pos, why);
        code = GUN_CLI_REJECTED;
    } else if (x->rejected) {
        code = GUN_CLI_REJECTED;
    }
    fprintf(stderr,
            "gun import: %zu nodes, %zu keys accepted, %zu ignored (older or same state), "
            "%zu nodes rejected%s\n",
            x->nodes, x->accepted, x->ignored + x->future, x->rejected,
            code == GUN_CLI_OK ? "" : " (see above)");
    gun__buf_free(&b);
    gun__core_free(x->core);
    gun__store_close(&x->s);
    gun__free(x);
    return code;
}

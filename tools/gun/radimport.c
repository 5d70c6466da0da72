/* gun rad-import: a Gun.js radata/ folder into our store, every key with its state, merged
 * with HAM (so running it twice, or into a store that has newer data, is safe). Files are
 * read one at a time (src/store/rad.c); records are merged in batches of RAD_BATCH, one
 * transaction each. */
#include <stdio.h>
#include <string.h>

#include "../../src/core/core.h"
#include "../../src/store/rad.h"
#include "../../src/store/store.h"
#include "cli.h"
#include "gun.h"

#define RAD_BATCH 5000
#define RAD_DRIFT 1e300 /* HAM without deferral of future states: see export.c */

static const char radimport_usage[] =
    "usage: gun rad-import RADATA_DIR --data DIR [--store lmdb|file]\n"
    "\n"
    "Imports a Gun.js radata/ folder (RAD files, JSON radix trees or the older line\n"
    "format) with every key's state, merged with HAM into the store in DIR. The folder\n"
    "is only read; stop the Gun.js relay that writes it first.\n"
    "exit codes: 0 ok, 1 store error, 2 usage, 4 some files or records could not be read\n";

typedef struct rrec {
    size_t soul, soul_len, key, key_len, s; /* offsets into the arena */
    gun__val v;
    double state;
} rrec;

typedef struct ri_ctx {
    gun__store s;
    gun__core *core;
    gun__buf arena;
    rrec *recs;
    size_t n;
    size_t accepted, ignored, underscore;
} ri_ctx;

static int ri_flush(ri_ctx *x)
{
    if (!x->n)
        return GUN_OK;
    gun__field *f = gun__calloc(x->n, sizeof *f);
    gun__node *nodes = gun__calloc(x->n, sizeof *nodes);
    gun__merge_res *res = gun__calloc(x->n, sizeof *res);
    int rc = GUN_ENOMEM;
    if (f && nodes && res) {
        gun__graph g = {nodes, 0, x->n};
        const char *a = x->arena.p;
        for (size_t i = 0; i < x->n; i++) {
            rrec *r = &x->recs[i];
            gun__str soul = {a + r->soul, r->soul_len};
            f[i].key = (gun__str){a + r->key, r->key_len};
            f[i].val = r->v;
            if (r->v.t == GUN__V_STR || r->v.t == GUN__V_LINK)
                f[i].val.s.p = a + r->s;
            f[i].state = r->state;
            if (!g.n || !gun__str_eq(nodes[g.n - 1].soul, soul)) {
                nodes[g.n].soul = soul;
                nodes[g.n].f = &f[i];
                g.n++;
            }
            nodes[g.n - 1].n++;
        }
        rc = gun__core_put(x->core, &g, res);
        if (rc == GUN_OK)
            for (size_t i = 0; i < x->n; i++) {
                if (res[i].result == GUN__HAM_ACCEPT)
                    x->accepted++;
                else
                    x->ignored++;
            }
    }
    gun__free(f);
    gun__free(nodes);
    gun__free(res);
    x->n = 0;
    gun__buf_reset(&x->arena);
    return rc;
}

static int ri_rec(void *arg, gun__str soul, gun__str key, const gun__val *val, double state)
{
    ri_ctx *x = arg;
    if (key.len == 1 && key.p[0] == '_') {
        x->underscore++; /* the meta member's name: not a key Gun.js can hold */
        return GUN_OK;
    }
    rrec *r = &x->recs[x->n];
    r->soul = x->arena.len;
    r->soul_len = soul.len;
    gun__buf_add(&x->arena, soul.p, soul.len);
    r->key = x->arena.len;
    r->key_len = key.len;
    gun__buf_add(&x->arena, key.p, key.len);
    r->v = *val;
    r->v.s.p = NULL;
    r->s = x->arena.len;
    if (val->t == GUN__V_STR || val->t == GUN__V_LINK)
        gun__buf_add(&x->arena, val->s.p, val->s.len);
    r->state = state;
    if (x->arena.oom)
        return GUN_ENOMEM;
    if (++x->n == RAD_BATCH || x->arena.len > (8u << 20))
        return ri_flush(x);
    return GUN_OK;
}

static void ri_warn(void *arg, const char *file, const char *why)
{
    (void)arg;
    fprintf(stderr, "gun rad-import: skipped file '%s': %s\n", file, why);
}

int gun_cli_rad_import(int argc, char **argv)
{
    const char *data = NULL, *store = NULL, *src = NULL;
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(radimport_usage, stdout);
            return GUN_CLI_OK;
        }
    int rc = GUN_CLI_USAGE;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if ((!strcmp(a, "--data") || !strcmp(a, "--store")) && i + 1 < argc) {
            *(a[2] == 'd' ? &data : &store) = argv[++i];
        } else if (a[0] != '-' && !src) {
            src = a;
        } else {
            fprintf(stderr, "gun rad-import: bad argument '%s'\n%s", a, radimport_usage);
            return GUN_CLI_USAGE;
        }
    }
    if (!src || !data) {
        fprintf(stderr, "gun rad-import: RADATA_DIR and --data DIR are required\n%s",
                radimport_usage);
        return GUN_CLI_USAGE;
    }
    ri_ctx *x = gun__calloc(1, sizeof *x);
    rrec *recs = gun__calloc(RAD_BATCH, sizeof *recs);
    if (!x || !recs) {
        gun__free(x);
        gun__free(recs);
        fprintf(stderr, "gun rad-import: out of memory\n");
        return GUN_CLI_NOTFOUND;
    }
    x->recs = recs;
    gun__buf_init(&x->arena);
    if ((rc = gun_cli_open_store(&x->s, store, data, "rad-import")) != GUN_CLI_OK) {
        gun__free(recs);
        gun__free(x);
        return rc;
    }
    x->core = gun__core_new(&x->s, RAD_DRIFT);
    int code = GUN_CLI_OK;
    gun__rad_stats st = {0};
    if (!x->core) {
        fprintf(stderr, "gun rad-import: out of memory\n");
        code = GUN_CLI_NOTFOUND;
    } else {
        gun__core_set_defer_max(x->core, 0);
        gun__err e = {0};
        rc = gun__rad_read_dir(src, ri_rec, ri_warn, x, &st, &e);
        if (rc == GUN_OK)
            rc = ri_flush(x);
        if (rc != GUN_OK) {
            fprintf(stderr, "gun rad-import: %s\n", e.msg[0] ? e.msg : gun_strerror(rc));
            code = GUN_CLI_NOTFOUND;
        } else if (st.files_bad || st.bad_records) {
            code = GUN_CLI_REJECTED;
        }
    }
    fprintf(stderr,
            "gun rad-import: %zu files (%zu unreadable), %zu records, %zu keys accepted, "
            "%zu ignored (older or same state), %zu bad records%s\n",
            st.files, st.files_bad, st.records - x->underscore, x->accepted, x->ignored,
            st.bad_records + x->underscore, code == GUN_CLI_NOTFOUND ? " (stopped: see above)" : "");
    if (x->core)
        gun__core_free(x->core);
    gun__store_close(&x->s);
    gun__buf_free(&x->arena);
    gun__free(recs);
    gun__free(x);
    return code;
}

/* The file store: the shared conformance suite, then reopening, file names for awkward
 * and long souls, a randomized comparison against the memory store, crash recovery
 * (crafted states and SIGKILL at random moments), locking, permission errors, a full
 * disk, corrupt files. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "store_conformance.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

/* ---- a fresh directory per test ---- */

static char ft_base[64];
static char ft_dir[96];

static int ft_rm1(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
    (void)sb, (void)flag, (void)f;
    remove(p);
    return 0;
}

static void ft_rmrf(const char *p) { nftw(p, ft_rm1, 16, FTW_DEPTH | FTW_PHYS); }

static void ft_setup(gun__store_cfg *cfg)
{
    snprintf(ft_base, sizeof ft_base, "/tmp/gun-file-XXXXXX");
    cr_assert(mkdtemp(ft_base), "mkdtemp: %s", strerror(errno));
    snprintf(ft_dir, sizeof ft_dir, "%s/a/data", ft_base); /* open must create it */
    cfg->path = ft_dir;
}

static void ft_teardown(gun__store_cfg *cfg)
{
    (void)cfg;
    ft_rmrf(ft_base);
}

GUN_STORE_CONFORMANCE(store_file, &gun__store_file_ops, ft_setup, ft_teardown, 1)

/* ---- helpers ---- */

static int ft_open(gun__store *s, const gun__store_cfg *cfg, gun__err *e)
{
    memset(e, 0, sizeof *e);
    return gun__store_open(s, &gun__store_file_ops, cfg, e);
}

static char *ft_path(const char *dir, const char *name)
{
    char *p = NULL;
    cr_assert(asprintf(&p, "%s/%s", dir, name) > 0);
    return p;
}

static gun__str ft_s(const char *c) { return gun__str_c(c); }

static char *ft_long(size_t n, char fill, const char *tail)
{
    size_t tl = strlen(tail);
    char *p = malloc(n + tl + 1);
    cr_assert(p);
    memset(p, fill, n);
    memcpy(p + n, tail, tl + 1);
    return p;
}

/* Names in dir/nodes, sorted, joined by ' '. */
static char *ft_ls(const char *dir)
{
    char *nodes = ft_path(dir, "nodes");
    DIR *d = opendir(nodes);
    cr_assert(d, "%s: %s", nodes, strerror(errno));
    char *names[4096];
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && n < 4096)
            names[n++] = strdup(de->d_name);
    closedir(d);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (strcmp(names[j], names[i]) < 0) {
                char *t = names[i];
                names[i] = names[j];
                names[j] = t;
            }
    gun__buf b;
    gun__buf_init(&b);
    for (int i = 0; i < n; i++) {
        gun__buf_printf(&b, "%s%s", i ? " " : "", names[i]);
        free(names[i]);
    }
    char *out = gsc_dup(b.p ? b.p : "", b.len);
    gun__buf_free(&b);
    free(nodes);
    return out;
}

static void ft_copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    cr_assert(a && b, "copy %s -> %s", from, to);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0)
        cr_assert_eq(fwrite(buf, 1, n, b), n);
    fclose(a);
    fclose(b);
}

Test(store_file, ops_table)
{
    cr_expect_eq(gun__store_file_ops.version, GUN__STORE_OPS_VERSION);
    cr_expect_str_eq(gun__store_file_ops.name, "file");
}

Test(store_file, reopen_persists_everything)
{
    gsc x;
    gsc_begin(&x, &gun__store_file_ops, ft_setup, ft_teardown);
    gsc_t_put_get(&x);
    gsc_lex_keys(&x);
    char *big = ft_long(300000, 'q', "end");
    gun__val bv = {GUN__V_STR, 0, 0, ft_s(big)};
    cr_assert_eq(gsc_write1(&x, "big", "v", bv, 5), GUN_OK);
    cr_assert_eq(gsc_write1(&x, "n", "neg zero", gsc_vnum(-0.0), -0.0), GUN_OK);
    char *before = gsc_dump(&x);
    gun__store_close(&x.s);
    gsc_open(&x);
    char *after = gsc_dump(&x);
    cr_expect_str_eq(after, before);
    cr_assert_eq(gsc_write1(&x, "z", "k", gsc_vstr("late"), 9), GUN_OK);
    gun__store_close(&x.s);
    gsc_open(&x);
    gsc_list l = {0};
    cr_expect_eq(gsc_key(&x, "z", "k", &l), GUN_OK);
    cr_expect_eq(gsc_key(&x, "n", "neg zero", &l), GUN_OK);
    cr_assert_eq(l.n, 2);
    cr_expect(gsc_bits_eq(l.r[1].state, -0.0));
    cr_expect(gsc_bits_eq(l.r[1].val.n, -0.0));
    gsc_list_free(&l);
    free(before), free(after), free(big);
    gsc_end(&x);
}

/* The node file format, byte for byte (header, soul, one record, index, footer with its
 * check): a change here breaks existing stores, so it must be deliberate. */
Test(store_file, node_file_format_is_pinned)
{
    gsc x;
    gsc_begin(&x, &gun__store_file_ops, ft_setup, ft_teardown);
    cr_assert_eq(gsc_write1(&x, "pin", "k", gsc_vstr("v"), 1.5), GUN_OK);
    static const unsigned char want[] =
        "GUNN\x01\0\0\0"                      /* magic, version 1 */
        "\x03\0\0\0\x01\0\0\0"                /* soul length 3, 1 record */
        "pin"                                   /* the soul */
        "\x01\0\0\0\x01\0\0\0"                /* key length 1, value length 1 */
        "\0\0\0\0\0\0\xF8\x3F"                /* state 1.5 */
        "\x04kv"                                /* string, key, value */
        "\x13\0\0\0\0\0\0\0"                  /* index: the record at 19 */
        "\x26\0\0\0\0\0\0\0"                  /* footer: index at 38 */
        "\x94\x87\xAC\x16\x94\x70\x19\x6A"        /* check */
        "GUNE";
    char *f = ft_path(x.cfg.path, "nodes/pin");
    FILE *fp = fopen(f, "rb");
    cr_assert(fp);
    unsigned char got[256];
    size_t n = fread(got, 1, sizeof got, fp);
    fclose(fp);
    cr_assert_eq(n, sizeof want - 1);
    cr_expect_eq(memcmp(got, want, n), 0, "node file bytes changed");
    free(f);
    gsc_end(&x);
}

/* Souls that are awkward as file names: path separators, dots, upper case (distinct on
 * case-insensitive file systems), percent signs, non-ASCII, and souls too long for a
 * name (hashed, the soul kept inside the file). */
Test(store_file, file_names_for_any_soul)
{
    gsc x;
    gsc_begin(&x, &gun__store_file_ops, ft_setup, ft_teardown);
    char *l1 = ft_long(300, 'L', ""), *l2 = ft_long(300, 'L', "2"), *l3 = ft_long(3000, 'L', "");
    const char *souls[] = {"a/b", "..", ".", "A", "a", "%41", "~x", "\xF0\x9F\x98\x80", "-_",
                           l1, l2, l3};
    enum { NS = sizeof souls / sizeof souls[0] };
    gun__store_rec recs[NS];
    for (int i = 0; i < NS; i++)
        recs[i] = (gun__store_rec){ft_s(souls[i]), ft_s("k"), gsc_vnum(i), i};
    gun__err e = {0};
    cr_assert_eq(x.s.ops->write(x.s.st, recs, NS, &e), GUN_OK, "%s", e.msg);
    char *ls = ft_ls(x.cfg.path);
    /* Escaped names, three hashed ones, no temporary files, no journal left. */
    cr_expect(strstr(ls, "%2E%2E ") && strstr(ls, "%2E ") && strstr(ls, "%41 ") &&
                  strstr(ls, "%2541 ") && strstr(ls, "a%2Fb ") && strstr(ls, "%7Ex ") &&
                  strstr(ls, "%F0%9F%98%80 ") && strstr(ls, "-_ "),
              "%s", ls);
    int hashed = 0;
    for (const char *p = ls; (p = strchr(p, '~')) != NULL; p++)
        hashed++;
    cr_expect_eq(hashed, 3, "%s", ls);
    cr_expect(!strstr(ls, ".t") && !strstr(ls, ".journal"), "%s", ls);
    free(ls);
    for (int round = 0; round < 2; round++) {
        gsc_list l = {0};
        cr_assert_eq(x.s.ops->souls(x.s.st, NULL, gsc_visit_soul, &l), GUN_OK);
        cr_assert_eq(l.n, NS);
        gsc_list_free(&l);
        for (int i = 0; i < NS; i++) {
            cr_assert_eq(gsc_key(&x, souls[i], "k", &l), GUN_OK, "soul %d", i);
            cr_expect_eq(l.r[l.n - 1].val.n, i);
            cr_expect_str_eq(l.r[l.n - 1].soul, souls[i]);
        }
        gsc_list_free(&l);
        gun__store_close(&x.s); /* the same from the names read back at open */
        gsc_open(&x);
    }
    /* Writing again to a hashed soul updates the same file. */
    cr_assert_eq(gsc_write1(&x, l3, "k2", gsc_vnum(7), 7), GUN_OK);
    gsc_list l = {0};
    cr_assert_eq(gsc_node(&x, l3, NULL, &l), GUN_OK);
    cr_expect_eq(l.n, 2);
    gsc_list_free(&l);
    free(l1), free(l2), free(l3);
    gsc_end(&x);
}

Test(store_file, refuses_malformed_text)
{
    gsc x;
    gsc_begin(&x, &gun__store_file_ops, ft_setup, ft_teardown);
    cr_assert_eq(gsc_write1(&x, "keep", "k", gsc_vstr("v"), 1), GUN_OK);
    char *before = gsc_dump(&x);
    const char *bad[] = {"\xFF", "a\xC3", "\xC0\x80", "\xED\xA0\xBD\xED\xB8\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gun__store_rec recs[2] = {{ft_s("keep"), ft_s("k"), gsc_vstr("changed"), 2},
                                  {ft_s("s"), ft_s(bad[i]), gsc_vstr("v"), 1}};
        gun__err e = {0};
        cr_expect_eq(x.s.ops->write(x.s.st, recs, 2, &e), GUN_EINVAL, "key %zu", i);
        recs[1].soul = ft_s(bad[i]), recs[1].key = ft_s("k");
        cr_expect_eq(x.s.ops->write(x.s.st, recs, 2, &e), GUN_EINVAL, "soul %zu", i);
    }
    char *after = gsc_dump(&x);
    cr_expect_str_eq(after, before);
    free(before), free(after);
    gsc_end(&x);
}

/* A node that outgrows the in-memory cache of node files must not be served stale. */
Test(store_file, node_grows_past_the_cache)
{
    gsc x;
    gsc_begin(&x, &gun__store_file_ops, ft_setup, ft_teardown);
    cr_assert_eq(gsc_write1(&x, "n", "a", gsc_vstr("small"), 1), GUN_OK);
    gsc_list l = {0};
    cr_assert_eq(gsc_node(&x, "n", NULL, &l), GUN_OK); /* cached now */
    gsc_list_free(&l);
    size_t n = 9u << 20; /* over the 8 MiB a single cached node may take */
    char *big = malloc(n + 1);
    cr_assert(big);
    memset(big, 'z', n);
    big[n] = 0;
    gun__val v = {GUN__V_STR, 0, 0, {big, n}};
    cr_assert_eq(gsc_write1(&x, "n", "b", v, 2), GUN_OK);
    cr_assert_eq(gsc_node(&x, "n", NULL, &l), GUN_OK);
    cr_assert_eq(l.n, 2);
    cr_expect_eq(l.r[1].val.s.len, n);
    gsc_list_free(&l);
    cr_assert_eq(gsc_write1(&x, "n", "a", gsc_vstr("changed"), 3), GUN_OK);
    cr_assert_eq(gsc_key(&x, "n", "a", &l), GUN_OK);
    cr_expect_str_eq(l.r[0].val.s.p, "changed");
    gsc_list_free(&l);
    free(big);
    gsc_end(&x);
}

/* ---- randomized comparison with the memory store ---- */

typedef struct ft_rng {
    uint64_t s;
} ft_rng;

static uint32_t ft_rand(ft_rng *r, uint32_t n)
{
    r->s ^= r->s << 13, r->s ^= r->s >> 7, r->s ^= r->s << 17;
    return (uint32_t)(r->s % n);
}

static void ft_rand_str(ft_rng *r, gun__buf *b)
{
    static const uint32_t cps[] = {'a', 'b', '/', '.', 'A', 0xE9, 0xD83D, 0xDC00, 0xE000,
                                   0xFFFD, 0xFFFF, 0x1F600, 0x10FFFF};
    gun__buf_reset(b);
    if (ft_rand(r, 8) == 0) /* now and then too long for a file name */
        for (int i = 0; i < 220; i++)
            gun__buf_addc(b, 'p');
    uint32_t n = 1 + ft_rand(r, 3), prev = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t cp = cps[ft_rand(r, sizeof cps / sizeof cps[0])];
        if (prev == 0xD83D && cp == 0xDC00)
            cp = 'b'; /* two halves in a row would spell a pair: not canonical */
        gun__buf_add_cp(b, cp);
        prev = cp;
    }
    cr_assert(!b->oom);
}

typedef struct ft_pool {
    char *p[64];
    size_t len[64];
    int n;
} ft_pool;

static char *ft_query_node(gun__store *s, gun__str soul, const gun__lex *lex, int *rc)
{
    gsc_list l = {0};
    *rc = s->ops->get_node(s->st, soul, lex, gsc_visit, &l);
    gun__buf b;
    gun__buf_init(&b);
    for (size_t i = 0; i < l.n; i++) {
        uint64_t bits;
        memcpy(&bits, &l.r[i].state, sizeof bits);
        gun__buf_add(&b, l.r[i].key, l.r[i].klen);
        gun__buf_addc(&b, '=');
        gun__val_write(&b, &l.r[i].val);
        gun__buf_printf(&b, "@%016llx\n", (unsigned long long)bits);
    }
    gsc_list_free(&l);
    char *out = gsc_dup(b.p ? b.p : "", b.len);
    gun__buf_free(&b);
    return out;
}

static char *ft_query_souls(gun__store *s, const gun__lex *lex)
{
    gsc_list l = {0};
    cr_assert_eq(s->ops->souls(s->st, lex, gsc_visit_soul, &l), GUN_OK);
    gun__buf b;
    gun__buf_init(&b);
    for (size_t i = 0; i < l.n; i++) {
        gun__buf_add(&b, l.r[i].soul, l.r[i].slen);
        gun__buf_addc(&b, '\n');
    }
    gsc_list_free(&l);
    char *out = gsc_dup(b.p ? b.p : "", b.len);
    gun__buf_free(&b);
    return out;
}

static void ft_rand_lex(ft_rng *r, gun__lex *lex, const ft_pool *pool, gun__buf *tmp)
{
    memset(lex, 0, sizeof *lex);
    lex->reverse = (int)ft_rand(r, 2);
    for (int which = 0; which < 4; which++) {
        if (ft_rand(r, 3))
            continue;
        gun__str v;
        if (ft_rand(r, 2) && pool->n) {
            int i = (int)ft_rand(r, (uint32_t)pool->n);
            v.p = pool->p[i], v.len = pool->len[i];
            if (which == 1 && v.len && ft_rand(r, 2)) {
                size_t cut = ft_rand(r, (uint32_t)v.len);
                while (cut && ((unsigned char)v.p[cut] & 0xC0) == 0x80)
                    cut--;
                v.len = cut;
            }
        } else {
            ft_rand_str(r, &tmp[which]);
            v.p = tmp[which].p, v.len = tmp[which].len;
        }
        switch (which) {
        case 0: lex->has_eq = 1, lex->eq = v; break;
        case 1: lex->has_prefix = 1, lex->prefix = v; break;
        case 2: lex->has_gte = 1, lex->gte = v; break;
        default: lex->has_lte = 1, lex->lte = v; break;
        }
    }
}

Test(store_file, matches_memory_store_randomized, .timeout = 120)
{
    gsc x;
    gsc_begin(&x, &gun__store_file_ops, ft_setup, ft_teardown);
    gun__store mem;
    gun__err e = {0};
    cr_assert_eq(gun__store_open(&mem, &gun__store_mem_ops, NULL, &e), GUN_OK);
    ft_rng r = {0x2545F4914F6CDD1DULL};
    ft_pool souls = {0}, keys = {0};
    gun__buf b, tmp[4];
    gun__buf_init(&b);
    for (int i = 0; i < 4; i++)
        gun__buf_init(&tmp[i]);
    for (int i = 0; i < 12; i++) {
        ft_rand_str(&r, &b);
        souls.p[souls.n] = gsc_dup(b.p, b.len);
        souls.len[souls.n++] = b.len;
    }
    for (int i = 0; i < 48; i++) {
        ft_rand_str(&r, &b);
        keys.p[keys.n] = gsc_dup(b.p, b.len);
        keys.len[keys.n++] = b.len;
    }
    gun__store_rec recs[16];
    for (int round = 0; round < 200; round++) {
        size_t n = 1 + ft_rand(&r, 16);
        for (size_t i = 0; i < n; i++) {
            int si = (int)ft_rand(&r, (uint32_t)souls.n), ki = (int)ft_rand(&r, (uint32_t)keys.n);
            recs[i].soul = (gun__str){souls.p[si], souls.len[si]};
            recs[i].key = (gun__str){keys.p[ki], keys.len[ki]};
            recs[i].state = (double)round + ft_rand(&r, 1000) / 7.0;
            memset(&recs[i].val, 0, sizeof recs[i].val);
            switch (ft_rand(&r, 4)) {
            case 0: recs[i].val.t = GUN__V_NULL; break;
            case 1: recs[i].val.t = GUN__V_NUM, recs[i].val.n = recs[i].state / 3; break;
            case 2: recs[i].val.t = GUN__V_STR, recs[i].val.s = recs[i].key; break;
            default: recs[i].val.t = GUN__V_LINK, recs[i].val.s = recs[i].soul; break;
            }
        }
        cr_assert_eq(x.s.ops->write(x.s.st, recs, n, &e), GUN_OK, "%s", e.msg);
        cr_assert_eq(mem.ops->write(mem.st, recs, n, &e), GUN_OK, "%s", e.msg);
        for (int q = 0; q < 6; q++) {
            gun__lex lex;
            ft_rand_lex(&r, &lex, q < 4 ? &keys : &souls, tmp);
            if (q < 4) {
                int si = (int)ft_rand(&r, (uint32_t)souls.n);
                gun__str soul = {souls.p[si], souls.len[si]};
                int rc1, rc2;
                char *a = ft_query_node(&x.s, soul, q ? &lex : NULL, &rc1);
                char *m = ft_query_node(&mem, soul, q ? &lex : NULL, &rc2);
                cr_assert_eq(rc1, rc2, "round %d", round);
                cr_assert_str_eq(a, m, "round %d query %d", round, q);
                free(a), free(m);
            } else {
                char *a = ft_query_souls(&x.s, &lex);
                char *m = ft_query_souls(&mem, &lex);
                cr_assert_str_eq(a, m, "round %d souls query", round);
                free(a), free(m);
            }
        }
        if (round % 50 == 49) {
            gun__store_close(&x.s);
            gsc_open(&x);
        }
    }
    char *d1 = gsc_dump(&x);
    gsc x2 = x;
    x2.s = mem;
    char *d2 = gsc_dump(&x2);
    cr_expect_str_eq(d1, d2);
    free(d1), free(d2);
    for (int i = 0; i < souls.n; i++)
        free(souls.p[i]);
    for (int i = 0; i < keys.n; i++)
        free(keys.p[i]);
    gun__buf_free(&b);
    for (int i = 0; i < 4; i++)
        gun__buf_free(&tmp[i]);
    gun__store_close(&mem);
    gsc_end(&x);
}

/* Lex bounds and lookups with bytes that are not WTF-8 (a local caller can pass them):
 * no crash, no overflow of a seek key, and exactly what gun__lex_match selects, in
 * order. (The memory store is no reference here: for such bounds gun__utf16_cmp is not
 * UTF-16 order, so gun__lex_below/above stop being monotone.) */
static char *ft_brute(gsc *x, gun__str soul, const gun__lex *lex)
{
    gsc_list all = {0};
    gun__buf b;
    gun__buf_init(&b);
    if (x->s.ops->get_node(x->s.st, soul, NULL, gsc_visit, &all) == GUN_OK)
        for (size_t k = 0; k < all.n; k++) {
            size_t i = lex->reverse ? all.n - 1 - k : k;
            if (!gun__lex_match(lex, (gun__str){all.r[i].key, all.r[i].klen}))
                continue;
            uint64_t bits;
            memcpy(&bits, &all.r[i].state, sizeof bits);
            gun__buf_add(&b, all.r[i].key, all.r[i].klen);
            gun__buf_addc(&b, '=');
            gun__val_write(&b, &all.r[i].val);
            gun__buf_printf(&b, "@%016llx\n", (unsigned long long)bits);
        }
    gsc_list_free(&all);
    char *out = gsc_dup(b.p ? b.p : "", b.len);
    gun__buf_free(&b);
    return out;
}

Test(store_file, malformed_bounds_are_safe)
{
    gsc x;
    gsc_begin(&x, &gun__store_file_ops, ft_setup, ft_teardown);
    gun__err e = {0};
    char *lk = ft_long(600, 'k', "x");
    const char *keys[] = {"a", "b", "\xC3\xA9", "\xC5\x99", "\xF0\x9F\x98\x80", "\xEF\xBF\xBF", lk};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        gun__store_rec r = {ft_s("n"), ft_s(keys[i]), gsc_vnum((double)i), 1};
        cr_assert_eq(x.s.ops->write(x.s.st, &r, 1, &e), GUN_OK);
        r.soul = ft_s(keys[i]);
        cr_assert_eq(x.s.ops->write(x.s.st, &r, 1, &e), GUN_OK);
    }
    char *cont = ft_long(700, (char)0x80, ""); /* 700 continuation bytes */
    char *lcont = ft_long(480, 'k', "");
    lcont = realloc(lcont, 480 + 700 + 1);
    memcpy(lcont + 480, cont, 701);
    const char *bad[] = {cont, lcont, "a\xFF", "\xC3", "\xF0\x9F", "\xED\xA0\xBD\xED\xB8\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        for (int w = 0; w < 8; w++) {
            gun__lex lex = {0};
            lex.reverse = w & 1;
            switch (w >> 1) {
            case 0: lex.has_eq = 1, lex.eq = ft_s(bad[i]); break;
            case 1: lex.has_prefix = 1, lex.prefix = ft_s(bad[i]); break;
            case 2: lex.has_gte = 1, lex.gte = ft_s(bad[i]); break;
            default: lex.has_lte = 1, lex.lte = ft_s(bad[i]); break;
            }
            int rc;
            char *a = ft_query_node(&x.s, ft_s("n"), &lex, &rc);
            char *m = ft_brute(&x, ft_s("n"), &lex);
            cr_expect_eq(rc, GUN_OK);
            cr_expect_str_eq(a, m, "bound %zu way %d", i, w);
            free(a), free(m);
            /* Souls: the same selection over the soul names. */
            a = ft_query_souls(&x.s, &lex);
            gsc_list all = {0};
            cr_assert_eq(x.s.ops->souls(x.s.st, NULL, gsc_visit_soul, &all), GUN_OK);
            gun__buf want;
            gun__buf_init(&want);
            for (size_t k = 0; k < all.n; k++) {
                size_t j = lex.reverse ? all.n - 1 - k : k;
                if (gun__lex_match(&lex, (gun__str){all.r[j].soul, all.r[j].slen})) {
                    gun__buf_add(&want, all.r[j].soul, all.r[j].slen);
                    gun__buf_addc(&want, '\n');
                }
            }
            cr_expect_str_eq(a, want.p ? want.p : "", "souls: bound %zu way %d", i, w);
            gun__buf_free(&want);
            gsc_list_free(&all);
            free(a);
        }
    gsc_list l = {0};
    cr_expect_eq(gsc_key(&x, "n", lcont, &l), GUN_ENOTFOUND);
    cr_expect_eq(gsc_key(&x, lcont, "k", &l), GUN_ENOTFOUND);
    cr_expect_eq(gsc_node(&x, lcont, NULL, &l), GUN_ENOTFOUND);
    gsc_list_free(&l);
    free(lk), free(cont), free(lcont);
    gsc_end(&x);
}

/* ---- crash recovery ---- */

/* Builds the states a crash can leave: the store before a two-soul write ("old"), and
 * the node files that write produces ("new" a and b). */
typedef struct ft_crash {
    gun__store_cfg cfg;
    char *old_dump, *new_dump;
    char *na, *nb; /* copies of the new node files */
} ft_crash;

static const gun__store_rec *ft_batch(void)
{
    static gun__store_rec recs[3];
    recs[0] = (gun__store_rec){ft_s("a"), ft_s("k"), gsc_vstr("new a"), 2};
    recs[1] = (gun__store_rec){ft_s("b"), ft_s("k"), gsc_vstr("new b"), 2};
    recs[2] = (gun__store_rec){ft_s("a"), ft_s("j"), gsc_vnum(2), 2};
    return recs;
}

static void ft_crash_begin(ft_crash *c)
{
    memset(c, 0, sizeof *c);
    ft_setup(&c->cfg);
    gsc x = {0};
    x.ops = &gun__store_file_ops;
    x.cfg = c->cfg;
    gsc_open(&x);
    cr_assert_eq(gsc_write1(&x, "a", "k", gsc_vstr("old a"), 1), GUN_OK);
    cr_assert_eq(gsc_write1(&x, "b", "k", gsc_vstr("old b"), 1), GUN_OK);
    c->old_dump = gsc_dump(&x);
    char *fa = ft_path(c->cfg.path, "nodes/a"), *fb = ft_path(c->cfg.path, "nodes/b");
    char *sa = ft_path(ft_base, "old-a"), *sb = ft_path(ft_base, "old-b");
    ft_copy_file(fa, sa);
    ft_copy_file(fb, sb);
    gun__err e = {0};
    cr_assert_eq(x.s.ops->write(x.s.st, ft_batch(), 3, &e), GUN_OK, "%s", e.msg);
    c->new_dump = gsc_dump(&x);
    gun__store_close(&x.s);
    c->na = ft_path(ft_base, "new-a");
    c->nb = ft_path(ft_base, "new-b");
    ft_copy_file(fa, c->na);
    ft_copy_file(fb, c->nb);
    /* Back to the old state on disk. */
    ft_copy_file(sa, fa);
    ft_copy_file(sb, fb);
    free(fa), free(fb), free(sa), free(sb);
}

static void ft_crash_end(ft_crash *c)
{
    free(c->old_dump), free(c->new_dump), free(c->na), free(c->nb);
    ft_teardown(&c->cfg);
}

/* The journal a two-soul write leaves at its commit point (the check is SipHash-1-3 of
 * the lines under the store's fixed key). */
static void ft_write_journal(const ft_crash *c, const char *body, int corrupt)
{
    static const uint64_t k[2] = {0x6c696267756e2d66ULL, 0x696c652d73746f72ULL};
    char *j = ft_path(c->cfg.path, "nodes/.journal");
    FILE *f = fopen(j, "wb");
    cr_assert(f);
    uint64_t h = gun__hash64(body, strlen(body), k) ^ (corrupt ? 1 : 0);
    fprintf(f, "%send 2 %016llx\n", body, (unsigned long long)h);
    fclose(f);
    free(j);
}

static char *ft_reopen_dump(ft_crash *c, int *rc, gun__err *e)
{
    gun__store s;
    *rc = ft_open(&s, &c->cfg, e);
    if (*rc != GUN_OK)
        return NULL;
    gsc x = {.s = s};
    char *d = gsc_dump(&x);
    gun__store_close(&s);
    return d;
}

Test(store_file, crash_before_commit_keeps_old_state)
{
    ft_crash c;
    ft_crash_begin(&c);
    /* Temporary files written and fsynced, no journal yet. */
    char *ta = ft_path(c.cfg.path, "nodes/.t7.0"), *tb = ft_path(c.cfg.path, "nodes/.t7.1");
    ft_copy_file(c.na, ta);
    ft_copy_file(c.nb, tb);
    int rc;
    gun__err e;
    char *d = ft_reopen_dump(&c, &rc, &e);
    cr_assert_eq(rc, GUN_OK, "%s", e.msg);
    cr_expect_str_eq(d, c.old_dump);
    char *ls = ft_ls(c.cfg.path);
    cr_expect_str_eq(ls, "a b"); /* temporary files removed */
    free(d), free(ls), free(ta), free(tb);
    ft_crash_end(&c);
}

Test(store_file, crash_after_commit_finishes_the_write)
{
    ft_crash c;
    ft_crash_begin(&c);
    for (int done = 0; done < 3; done++) {
        /* Journal durable; none, one, or both renames done before the crash. */
        char *ta = ft_path(c.cfg.path, "nodes/.t7.0"), *tb = ft_path(c.cfg.path, "nodes/.t7.1");
        char *fa = ft_path(c.cfg.path, "nodes/a"), *fb = ft_path(c.cfg.path, "nodes/b");
        ft_copy_file(c.na, done >= 1 ? fa : ta);
        ft_copy_file(c.nb, done >= 2 ? fb : tb);
        ft_write_journal(&c, ".t7.0 a\n.t7.1 b\n", 0);
        int rc;
        gun__err e;
        char *d = ft_reopen_dump(&c, &rc, &e);
        cr_assert_eq(rc, GUN_OK, "%s", e.msg);
        cr_expect_str_eq(d, c.new_dump, "renames done before the crash: %d", done);
        char *ls = ft_ls(c.cfg.path);
        cr_expect_str_eq(ls, "a b"); /* journal and temporary files gone */
        free(d), free(ls);
        /* Back to old for the next round. */
        char *sa = ft_path(ft_base, "old-a"), *sb = ft_path(ft_base, "old-b");
        ft_copy_file(sa, fa);
        ft_copy_file(sb, fb);
        free(ta), free(tb), free(fa), free(fb), free(sa), free(sb);
    }
    ft_crash_end(&c);
}

Test(store_file, corrupt_journal_is_a_clear_error)
{
    ft_crash c;
    ft_crash_begin(&c);
    char *ta = ft_path(c.cfg.path, "nodes/.t7.0"), *tb = ft_path(c.cfg.path, "nodes/.t7.1");
    ft_copy_file(c.na, ta);
    ft_copy_file(c.nb, tb);
    ft_write_journal(&c, ".t7.0 a\n.t7.1 b\n", 1);
    int rc;
    gun__err e;
    char *d = ft_reopen_dump(&c, &rc, &e);
    cr_expect_eq(rc, GUN_EIO);
    cr_expect(strstr(e.msg, ".journal is corrupt") && strstr(e.msg, c.cfg.path), "%s", e.msg);
    free(d), free(ta), free(tb);
    ft_crash_end(&c);
}

/* A writer killed with SIGKILL at random moments: every batch writes the same number to
 * three souls, so after any crash the three must agree (all or nothing), and the number
 * must be at least the last one the writer saw acknowledged. */
static void ft_kill_writer(const gun__store_cfg *cfg, int rounds)
{
    unsigned seed = (unsigned)time(NULL);
    srand(seed);
    long floor = 0;
    for (int round = 0; round < rounds; round++) {
        int fd[2];
        cr_assert_eq(pipe(fd), 0);
        pid_t pid = fork();
        cr_assert(pid >= 0);
        if (pid == 0) {
            close(fd[0]);
            gun__store s;
            gun__err e;
            if (ft_open(&s, cfg, &e) != GUN_OK)
                _exit(2);
            for (long b = floor + 1;; b++) {
                char v[32];
                snprintf(v, sizeof v, "%ld", b);
                gun__store_rec recs[3] = {{ft_s("x"), ft_s("n"), gsc_vstr(v), (double)b},
                                          {ft_s("y"), ft_s("n"), gsc_vstr(v), (double)b},
                                          {ft_s("z"), ft_s("n"), gsc_vstr(v), (double)b}};
                if (s.ops->write(s.st, recs, 3, &e) != GUN_OK)
                    _exit(3);
                if (write(fd[1], &b, sizeof b) != sizeof b)
                    _exit(4);
            }
        }
        close(fd[1]);
        usleep(2000 + (useconds_t)(rand() % 40000));
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        cr_assert(WIFSIGNALED(status), "writer exited by itself (status %d), seed %u", status,
                  seed);
        long b, acked = floor;
        while (read(fd[0], &b, sizeof b) == sizeof b)
            acked = b;
        close(fd[0]);
        gun__store s;
        gun__err e;
        cr_assert_eq(ft_open(&s, cfg, &e), GUN_OK, "reopen after kill: %s (seed %u)", e.msg, seed);
        char got[3][32] = {"", "", ""};
        const char *souls[3] = {"x", "y", "z"};
        for (int i = 0; i < 3; i++) {
            gsc_list l = {0};
            if (s.ops->get_key(s.st, ft_s(souls[i]), ft_s("n"), gsc_visit, &l) == GUN_OK)
                snprintf(got[i], sizeof got[i], "%s", l.r[0].val.s.p);
            gsc_list_free(&l);
        }
        gun__store_close(&s);
        cr_assert_str_eq(got[0], got[1], "round %d: x and y differ (seed %u)", round, seed);
        cr_assert_str_eq(got[0], got[2], "round %d: x and z differ (seed %u)", round, seed);
        long now = got[0][0] ? strtol(got[0], NULL, 10) : 0;
        cr_assert(now >= acked, "round %d: acknowledged %ld but read back %ld (seed %u)", round,
                  acked, now, seed);
        floor = now;
    }
    cr_expect(floor > 0, "no write ever completed");
}

Test(store_file, sigkill_at_random_moments, .timeout = 120)
{
    gun__store_cfg cfg = {0};
    ft_setup(&cfg);
    ft_kill_writer(&cfg, 12);
    char *ls = ft_ls(cfg.path);
    cr_expect_str_eq(ls, "x y z");
    free(ls);
    ft_teardown(&cfg);
}

/* ---- locking ---- */

Test(store_file, second_open_is_refused_clearly)
{
    gsc x;
    gsc_begin(&x, &gun__store_file_ops, ft_setup, ft_teardown);
    gun__store s;
    gun__err e;
    cr_expect_eq(ft_open(&s, &x.cfg, &e), GUN_EIO); /* same process */
    cr_expect(strstr(e.msg, "in use"), "%s", e.msg);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        gun__err ce;
        int rc = ft_open(&s, &x.cfg, &ce);
        _exit(rc == GUN_EIO && strstr(ce.msg, "in use by another process") ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "other process was not refused");
    /* Once closed, it opens. */
    gun__store_close(&x.s);
    cr_expect_eq(ft_open(&x.s, &x.cfg, &e), GUN_OK, "%s", e.msg);
    gsc_end(&x);
}

/* ---- permission denied ---- */

typedef int (*ft_try_fn)(const char *path, gun__err *e);

static int ft_try_open(const char *path, gun__err *e)
{
    gun__store s;
    gun__store_cfg cfg = {0};
    cfg.path = path;
    int rc = ft_open(&s, &cfg, e);
    if (rc == GUN_OK)
        gun__store_close(&s);
    return rc;
}

/* As root the child first becomes nobody: root ignores mode bits. */
static int ft_as_other_user(ft_try_fn fn, const char *path, gun__err *e)
{
    int fd[2];
    cr_assert_eq(pipe(fd), 0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        close(fd[0]);
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
            _exit(3);
        gun__err ce = {0};
        int rc = fn(path, &ce);
        if (write(fd[1], &rc, sizeof rc) != sizeof rc ||
            write(fd[1], ce.msg, sizeof ce.msg) != sizeof ce.msg)
            _exit(4);
        _exit(0);
    }
    close(fd[1]);
    int rc = 1;
    cr_assert_eq(read(fd[0], &rc, sizeof rc), (ssize_t)sizeof rc, "child could not run");
    cr_assert_eq(read(fd[0], e->msg, sizeof e->msg), (ssize_t)sizeof e->msg);
    close(fd[0]);
    int status;
    waitpid(pid, &status, 0);
    return rc;
}

static int ft_try_write(const char *path, gun__err *e)
{
    gun__store s;
    gun__store_cfg cfg = {0};
    cfg.path = path;
    int rc = ft_open(&s, &cfg, e);
    if (rc != GUN_OK)
        return 100 + rc;
    gun__store_rec r = {ft_s("new"), ft_s("k"), gsc_vnum(1), 1};
    rc = s.ops->write(s.st, &r, 1, e);
    gun__store_close(&s);
    return rc;
}

Test(store_file, permission_denied_is_clear)
{
    gun__store_cfg cfg = {0};
    ft_setup(&cfg);
    cr_assert_eq(chmod(ft_base, 0755), 0);
    char *ro = ft_path(ft_base, "ro");
    cr_assert_eq(mkdir(ro, 0555), 0);
    char *sub = ft_path(ro, "data");
    gun__err e = {0};
    cr_expect_eq(ft_as_other_user(ft_try_open, sub, &e), GUN_EIO);
    cr_expect(strstr(e.msg, "Permission denied") && strstr(e.msg, sub), "%s", e.msg);
    /* An existing store whose files the user may not write. */
    char *st = ft_path(ft_base, "st");
    cfg.path = st;
    gun__store s;
    cr_assert_eq(ft_open(&s, &cfg, &e), GUN_OK, "%s", e.msg);
    gun__store_close(&s);
    char *nodes = ft_path(st, "nodes"), *lock = ft_path(st, "LOCK");
    cr_assert_eq(chmod(st, 0555), 0);
    cr_assert_eq(chmod(nodes, 0555), 0);
    cr_assert_eq(chmod(lock, 0444), 0);
    memset(&e, 0, sizeof e);
    cr_expect_eq(ft_as_other_user(ft_try_open, st, &e), GUN_EIO);
    cr_expect(strstr(e.msg, "Permission denied") && strstr(e.msg, st), "%s", e.msg);
    /* LOCK writable but nodes/ not: open works, the write fails cleanly. */
    cr_assert_eq(chmod(lock, 0666), 0);
    memset(&e, 0, sizeof e);
    cr_expect_eq(ft_as_other_user(ft_try_write, st, &e), GUN_EIO);
    cr_expect(strstr(e.msg, "Permission denied") && strstr(e.msg, "nothing was written"), "%s",
              e.msg);
    chmod(st, 0755), chmod(nodes, 0755), chmod(ro, 0755);
    free(ro), free(sub), free(st), free(nodes), free(lock);
    ft_teardown(&cfg);
}

Test(store_file, path_under_a_regular_file)
{
    gun__store_cfg cfg = {0};
    ft_setup(&cfg);
    char *file = ft_path(ft_base, "file");
    FILE *fp = fopen(file, "w");
    cr_assert(fp);
    fclose(fp);
    char *sub = ft_path(file, "data");
    cfg.path = sub;
    gun__store s;
    gun__err e;
    cr_expect_eq(ft_open(&s, &cfg, &e), GUN_EIO);
    cr_expect(strstr(e.msg, "Not a directory") && strstr(e.msg, sub), "%s", e.msg);
    free(file), free(sub);
    ft_teardown(&cfg);
}

Test(store_file, refuses_a_foreign_directory)
{
    gun__store_cfg cfg = {0};
    ft_setup(&cfg);
    cfg.path = ft_base;
    char *f = ft_path(ft_base, "data.mdb");
    FILE *fp = fopen(f, "w");
    cr_assert(fp);
    fclose(fp);
    gun__store s;
    gun__err e;
    cr_expect_eq(ft_open(&s, &cfg, &e), GUN_EINVAL);
    cr_expect(strstr(e.msg, "not empty") && strstr(e.msg, "data.mdb"), "%s", e.msg);
    free(f);
    ft_teardown(&cfg);
}

/* ---- a full disk ---- */

static int ft_fill(gun__store *s, const char *why, int max_batches)
{
    static char val[2000];
    memset(val, 'v', sizeof val - 1);
    gun__store_rec recs[100];
    char keys[100][16], souls[100][16];
    for (int b = 0; b < max_batches; b++) {
        for (int i = 0; i < 100; i++) {
            /* 100 records over 4 souls: each batch is a multi-soul (journaled) write */
            snprintf(souls[i], sizeof souls[i], "f%04d-%d", b, i % 4);
            snprintf(keys[i], sizeof keys[i], "k%03d", i);
            recs[i] = (gun__store_rec){ft_s(souls[i]), ft_s(keys[i]), gsc_vstr(val), b};
        }
        gun__err e = {0};
        int rc = s->ops->write(s->st, recs, 100, &e);
        if (rc != GUN_OK) {
            cr_expect_eq(rc, GUN_EIO, "%s", e.msg);
            cr_expect(strstr(e.msg, why) && strstr(e.msg, "nothing was written"), "message: %s",
                      e.msg);
            return b;
        }
    }
    return -1;
}

static void ft_check_fill(gun__store *s, int batches)
{
    gsc_list l = {0};
    for (int b = 0; b <= batches; b++)
        for (int k = 0; k < 4; k++) {
            char soul[32];
            snprintf(soul, sizeof soul, "f%04d-%d", b, k);
            int rc = s->ops->get_node(s->st, ft_s(soul), NULL, gsc_visit, &l);
            if (b < batches) {
                cr_assert_eq(rc, GUN_OK, "%s", soul);
                cr_assert_eq(l.n, 25, "%s has %zu", soul, l.n);
            } else {
                cr_assert_eq(rc, GUN_ENOTFOUND, "the failed batch left %s", soul);
            }
            gsc_list_free(&l);
        }
}

static void ft_no_leftovers(const char *dir)
{
    char *ls = ft_ls(dir);
    cr_expect(!strstr(ls, ".t") && !strstr(ls, ".journal"), "left behind: %s", ls);
    free(ls);
}

Test(store_file, file_size_limit_fails_cleanly_and_keeps_data)
{
    gun__store_cfg cfg = {0};
    ft_setup(&cfg);
    gun__store s;
    gun__err e;
    cr_assert_eq(ft_open(&s, &cfg, &e), GUN_OK, "%s", e.msg);
    /* Fill one node so that rewriting it crosses the limit. */
    signal(SIGXFSZ, SIG_IGN);
    static char val[4000];
    memset(val, 'w', sizeof val - 1);
    struct rlimit old, lim;
    cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 256 << 10;
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int n;
    for (n = 0; n < 1000; n++) {
        char key[16];
        snprintf(key, sizeof key, "k%04d", n);
        gun__store_rec r[2] = {{ft_s("grow"), ft_s(key), gsc_vstr(val), n},
                               {ft_s("side"), ft_s(key), gsc_vnum(n), n}};
        int rc = s.ops->write(s.st, r, 2, &e);
        if (rc != GUN_OK) {
            cr_expect_eq(rc, GUN_EIO);
            cr_expect(strstr(e.msg, "file size limit") && strstr(e.msg, "nothing was written"),
                      "%s", e.msg);
            break;
        }
    }
    cr_assert(n > 20 && n < 1000, "n = %d", n);
    ft_no_leftovers(cfg.path);
    gsc_list l = {0};
    cr_assert_eq(s.ops->get_node(s.st, ft_s("grow"), NULL, gsc_visit, &l), GUN_OK);
    cr_expect_eq(l.n, (size_t)n);
    gsc_list_free(&l);
    cr_assert_eq(s.ops->get_node(s.st, ft_s("side"), NULL, gsc_visit, &l), GUN_OK);
    cr_expect_eq(l.n, (size_t)n, "the other soul of the failed batch changed");
    gsc_list_free(&l);
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    gun__store_close(&s);
    cr_assert_eq(ft_open(&s, &cfg, &e), GUN_OK, "%s", e.msg);
    cr_assert_eq(s.ops->get_node(s.st, ft_s("grow"), NULL, gsc_visit, &l), GUN_OK);
    cr_expect_eq(l.n, (size_t)n);
    gsc_list_free(&l);
    gun__store_close(&s);
    ft_teardown(&cfg);
}

/* A real ENOSPC on a 2 MiB tmpfs in a private mount namespace (needs CAP_SYS_ADMIN). */
Test(store_file, disk_full_on_small_tmpfs)
{
    gun__store_cfg cfg = {0};
    ft_setup(&cfg);
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        int err = errno;
        ft_teardown(&cfg);
        cr_skip_test("cannot make a private mount namespace (%s): ENOSPC is covered by the "
                     "file size limit test only", strerror(err));
    }
    char *mnt = ft_path(ft_base, "mnt");
    cr_assert_eq(mkdir(mnt, 0755), 0);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=2m") != 0) {
        int err = errno;
        free(mnt);
        ft_teardown(&cfg);
        cr_skip_test("cannot mount a tmpfs: %s", strerror(err));
    }
    char *dir = ft_path(mnt, "data");
    cfg.path = dir;
    gun__store s;
    gun__err e;
    cr_assert_eq(ft_open(&s, &cfg, &e), GUN_OK, "%s", e.msg);
    int n = ft_fill(&s, "disk full", 1000);
    cr_assert(n > 3, "only %d batches", n);
    ft_check_fill(&s, n);
    ft_no_leftovers(dir);
    gun__store_close(&s);
    cr_assert_eq(ft_open(&s, &cfg, &e), GUN_OK, "%s", e.msg);
    ft_check_fill(&s, n);
    gun__store_close(&s);
    umount(mnt);
    free(mnt), free(dir);
    ft_teardown(&cfg);
}

/* ---- corrupt files ---- */

static void ft_make_store(gun__store_cfg *cfg)
{
    ft_setup(cfg);
    gun__store s;
    gun__err e;
    cr_assert_eq(ft_open(&s, cfg, &e), GUN_OK, "%s", e.msg);
    gsc x = {.s = s};
    for (int i = 0; i < 20; i++) {
        char soul[16];
        snprintf(soul, sizeof soul, "s%02d", i);
        cr_assert_eq(gsc_write1(&x, soul, "k", gsc_vstr("some value text"), i), GUN_OK);
        cr_assert_eq(gsc_write1(&x, soul, "j", gsc_vnum(i), i), GUN_OK);
    }
    gun__store_close(&s);
}

static void ft_flip(const char *dir, const char *name, off_t off)
{
    char *f = ft_path(dir, name);
    int fd = open(f, O_RDWR);
    cr_assert(fd >= 0, "%s", f);
    unsigned char c;
    cr_assert_eq(pread(fd, &c, 1, off), 1);
    c ^= 0x10;
    cr_assert_eq(pwrite(fd, &c, 1, off), 1);
    close(fd);
    free(f);
}

Test(store_file, corrupt_node_file_is_a_clear_error)
{
    gun__store_cfg cfg = {0};
    ft_make_store(&cfg);
    ft_flip(cfg.path, "nodes/s07", 30); /* one bit inside a record */
    gun__store s;
    gun__err e;
    cr_assert_eq(ft_open(&s, &cfg, &e), GUN_OK, "%s", e.msg);
    gsc_list l = {0};
    cr_expect_eq(s.ops->get_node(s.st, ft_s("s07"), NULL, gsc_visit, &l), GUN_EIO);
    cr_expect_eq(s.ops->get_key(s.st, ft_s("s07"), ft_s("k"), gsc_visit, &l), GUN_EIO);
    cr_expect_eq(l.n, 0);
    /* Other souls are fine. */
    cr_expect_eq(s.ops->get_node(s.st, ft_s("s08"), NULL, gsc_visit, &l), GUN_OK);
    gsc_list_free(&l);
    /* A write to the damaged soul is refused, naming the file; nothing else changes. */
    gun__store_rec r[2] = {{ft_s("s08"), ft_s("k"), gsc_vstr("x"), 99},
                           {ft_s("s07"), ft_s("k"), gsc_vstr("x"), 99}};
    cr_expect_eq(s.ops->write(s.st, r, 2, &e), GUN_EIO);
    cr_expect(strstr(e.msg, "s07") && strstr(e.msg, "checksum"), "%s", e.msg);
    cr_assert_eq(s.ops->get_key(s.st, ft_s("s08"), ft_s("k"), gsc_visit, &l), GUN_OK);
    cr_expect_str_eq(l.r[0].val.s.p, "some value text");
    gsc_list_free(&l);
    gun__store_close(&s);
    ft_no_leftovers(cfg.path);
    ft_teardown(&cfg);
}

Test(store_file, truncated_and_garbage_node_files)
{
    gun__store_cfg cfg = {0};
    ft_make_store(&cfg);
    char *f3 = ft_path(cfg.path, "nodes/s03"), *f4 = ft_path(cfg.path, "nodes/s04");
    cr_assert_eq(truncate(f3, 21), 0);
    FILE *fp = fopen(f4, "wb");
    cr_assert(fp);
    /* Garbage with a valid-looking header and footer magic and huge lengths. */
    unsigned char junk[64];
    memset(junk, 0xFF, sizeof junk);
    memcpy(junk, "GUNN\x01\0\0\0", 8);
    memcpy(junk + 60, "GUNE", 4);
    fwrite(junk, 1, sizeof junk, fp);
    fclose(fp);
    gun__store s;
    gun__err e;
    cr_assert_eq(ft_open(&s, &cfg, &e), GUN_OK, "%s", e.msg);
    gsc_list l = {0};
    cr_expect_eq(s.ops->get_node(s.st, ft_s("s03"), NULL, gsc_visit, &l), GUN_EIO);
    cr_expect_eq(s.ops->get_node(s.st, ft_s("s04"), NULL, gsc_visit, &l), GUN_EIO);
    cr_expect_eq(s.ops->get_key(s.st, ft_s("s04"), ft_s("k"), gsc_visit, &l), GUN_EIO);
    cr_expect_eq(gsc_write1(&(gsc){.s = s}, "s03", "k", gsc_vnum(1), 1), GUN_EIO);
    cr_expect_eq(s.ops->get_node(s.st, ft_s("s05"), NULL, gsc_visit, &l), GUN_OK);
    cr_expect_eq(l.n, 2);
    gsc_list_free(&l);
    gun__store_close(&s);
    free(f3), free(f4);
    ft_teardown(&cfg);
}

Test(store_file, stray_files_and_bad_format_are_clear_errors)
{
    gun__store_cfg cfg = {0};
    ft_make_store(&cfg);
    char *stray = ft_path(cfg.path, "nodes/notes.txt");
    FILE *fp = fopen(stray, "w");
    cr_assert(fp);
    fclose(fp);
    gun__store s;
    gun__err e;
    cr_expect_eq(ft_open(&s, &cfg, &e), GUN_EIO);
    cr_expect(strstr(e.msg, "notes.txt"), "%s", e.msg);
    cr_assert_eq(unlink(stray), 0);
    char *fmt = ft_path(cfg.path, "FORMAT");
    fp = fopen(fmt, "w");
    cr_assert(fp);
    fputs("gun-store-file 9\n", fp);
    fclose(fp);
    cr_expect_eq(ft_open(&s, &cfg, &e), GUN_EIO);
    cr_expect(strstr(e.msg, "FORMAT"), "%s", e.msg);
    cr_assert_eq(unlink(fmt), 0); /* FORMAT gone but nodes hold files: refused too */
    cr_expect_eq(ft_open(&s, &cfg, &e), GUN_EIO);
    cr_expect(strstr(e.msg, "FORMAT is missing"), "%s", e.msg);
    free(stray), free(fmt);
    ft_teardown(&cfg);
}

Test(store_file, nosync_mode_works)
{
    gun__store_cfg cfg = {0};
    ft_setup(&cfg);
    cfg.nosync = 1;
    gsc x = {0};
    x.ops = &gun__store_file_ops;
    x.cfg = cfg;
    gsc_open(&x);
    gsc_lex_keys(&x);
    char *before = gsc_dump(&x);
    gun__store_close(&x.s);
    x.cfg.nosync = 0;
    gsc_open(&x);
    char *after = gsc_dump(&x);
    cr_expect_str_eq(after, before);
    free(before), free(after);
    gun__store_close(&x.s);
    ft_teardown(&cfg);
}

/* ---- threads: a writer thread and a reading thread at once ---- */

typedef struct ft_thr {
    gun__store *s;
    atomic_int stop;
    long batches;
    int err;
} ft_thr;

static void *ft_writer(void *arg)
{
    ft_thr *t = arg;
    static char big[20000];
    memset(big, 'b', sizeof big - 1);
    for (long b = 1; !t->stop && b <= 400; b++) {
        char v[32], keys[10][8], side[32];
        snprintf(v, sizeof v, "%ld", b);
        snprintf(side, sizeof side, "side%05ld", b);
        gun__store_rec recs[11];
        for (int i = 0; i < 10; i++) {
            snprintf(keys[i], sizeof keys[i], "k%d", i);
            recs[i] = (gun__store_rec){gun__str_c("t"), gun__str_c(keys[i]), gsc_vstr(v), (double)b};
        }
        recs[10] = (gun__store_rec){gun__str_c(side), gun__str_c("big"), gsc_vstr(big), 1};
        gun__err e = {0};
        if (t->s->ops->write(t->s->st, recs, 11, &e) != GUN_OK) {
            t->err = 1;
            break;
        }
        t->batches = b;
    }
    t->stop = 1;
    return NULL;
}

/* Every read sees one whole batch: the ten keys of "t" always agree. */
Test(store_file, reads_while_another_thread_writes, .timeout = 120)
{
    gun__store_cfg cfg = {0};
    ft_setup(&cfg);
    gun__store s;
    gun__err e;
    cr_assert_eq(ft_open(&s, &cfg, &e), GUN_OK, "%s", e.msg);
    ft_thr t = {.s = &s};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, ft_writer, &t), 0);
    long reads = 0;
    while (!t.stop) {
        gsc_list l = {0};
        int rc = s.ops->get_node(s.st, gun__str_c("t"), NULL, gsc_visit, &l);
        if (rc == GUN_OK) {
            cr_assert_eq(l.n, 10);
            for (size_t i = 1; i < l.n; i++)
                cr_assert_str_eq(l.r[i].val.s.p, l.r[0].val.s.p, "torn read");
            reads++;
        } else {
            cr_assert_eq(rc, GUN_ENOTFOUND);
        }
        gsc_list_free(&l);
        gsc_list souls = {0};
        gun__lex lex = {0};
        lex.has_prefix = 1, lex.prefix = gun__str_c("side");
        lex.reverse = 1;
        cr_assert_eq(s.ops->souls(s.st, &lex, gsc_visit_soul, &souls), GUN_OK);
        if (souls.n)
            cr_assert_eq(s.ops->get_key(s.st, gun__str_c(souls.r[0].soul), gun__str_c("big"),
                                        gsc_visit, &l), GUN_OK);
        gsc_list_free(&l);
        gsc_list_free(&souls);
    }
    pthread_join(th, NULL);
    cr_assert(!t.err, "writer failed");
    cr_expect_eq(t.batches, 400);
    cr_expect(reads > 0);
    gsc_list l = {0};
    cr_assert_eq(s.ops->get_key(s.st, gun__str_c("t"), gun__str_c("k3"), gsc_visit, &l), GUN_OK);
    cr_expect_str_eq(l.r[0].val.s.p, "400");
    gsc_list_free(&l);
    gun__store_close(&s);
    ft_teardown(&cfg);
}

/* ---- a quick benchmark (skipped unless GUN_STORE_BENCH is set) ----
 * GUN_STORE_BENCH=1 unit_tests --filter 'store_file/bench' --verbose
 * Durable batches of 100 records (10 souls x 10 keys, 32-byte strings, souls spread
 * over the key space), then random point reads of those records. */
static double ft_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int ft_count(void *arg, gun__str soul, gun__str key, const gun__val *val, double state)
{
    (void)soul, (void)key, (void)state;
    *(size_t *)arg += val->s.len;
    return 0;
}

Test(store_file, bench, .timeout = 600)
{
    if (!getenv("GUN_STORE_BENCH"))
        cr_skip_test("set GUN_STORE_BENCH=1 to run");
    gun__store_cfg cfg = {0};
    ft_setup(&cfg);
    gun__store s;
    gun__err e;
    cr_assert_eq(ft_open(&s, &cfg, &e), GUN_OK, "%s", e.msg);
    int batches = atoi(getenv("GUN_STORE_BENCH")) > 1 ? atoi(getenv("GUN_STORE_BENCH")) : 300;
    static char souls[100][24], keys[10][8], val[33];
    memset(val, 'v', 32);
    for (int k = 0; k < 10; k++)
        snprintf(keys[k], sizeof keys[k], "key%d", k);
    gun__store_rec recs[100];
    uint64_t rng = 88172645463325252ULL;
    double t0 = ft_now();
    for (int b = 0; b < batches; b++) {
        for (int i = 0; i < 10; i++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            snprintf(souls[i], sizeof souls[i], "s%010llu", (unsigned long long)(rng % 10000000000ULL));
        }
        for (int i = 0; i < 100; i++)
            recs[i] = (gun__store_rec){gun__str_c(souls[i / 10]), gun__str_c(keys[i % 10]),
                                        gsc_vstr(val), (double)b};
        cr_assert_eq(s.ops->write(s.st, recs, 100, &e), GUN_OK, "%s", e.msg);
    }
    double tw = ft_now() - t0;
    int gets = 200000;
    size_t bytes = 0;
    t0 = ft_now();
    /* The souls written, regenerated in order, one key each, pass after pass. */
    int done = 0;
    while (done < gets) {
        uint64_t r2 = 88172645463325252ULL;
        for (int b = 0; b < batches && done < gets; b++)
            for (int i = 0; i < 10 && done < gets; i++) {
                r2 ^= r2 << 13, r2 ^= r2 >> 7, r2 ^= r2 << 17;
                char soul[24];
                snprintf(soul, sizeof soul, "s%010llu", (unsigned long long)(r2 % 10000000000ULL));
                int rc = s.ops->get_key(s.st, gun__str_c(soul), gun__str_c(keys[done % 10]),
                                        ft_count, &bytes);
                cr_assert_eq(rc, GUN_OK, "%s", soul);
                done++;
            }
    }
    double tg = ft_now() - t0;
    cr_assert_eq(bytes, (size_t)gets * 32);
    /* Cold: reopened, one get per soul written (each soul read once). */
    gun__store_close(&s);
    cr_assert_eq(ft_open(&s, &cfg, &e), GUN_OK, "%s", e.msg);
    int cold = batches * 10;
    uint64_t r3 = 88172645463325252ULL;
    t0 = ft_now();
    for (int i = 0; i < cold; i++) {
        r3 ^= r3 << 13, r3 ^= r3 >> 7, r3 ^= r3 << 17;
        char soul[24];
        snprintf(soul, sizeof soul, "s%010llu", (unsigned long long)(r3 % 10000000000ULL));
        cr_assert_eq(s.ops->get_key(s.st, gun__str_c(soul), gun__str_c("key3"), ft_count, &bytes),
                     GUN_OK);
    }
    double tc = ft_now() - t0;
    cr_log_info("%s: %d durable batches of 100 records in %.2f s: %.0f batches/s (%.0f records/s); "
                "%d point gets in %.2f s: %.0f gets/s",
                s.ops->name, batches, tw, batches / tw, batches * 100 / tw, gets, tg, gets / tg);
    fprintf(stderr, "%s: %.0f durable batches/s (100 records), %.0f point gets/s, %.0f cold gets/s\n",
            s.ops->name, batches / tw, gets / tg, cold / tc);
    gun__store_close(&s);
    ft_teardown(&cfg);
}

/* The LMDB store: the shared conformance suite, then what only a persistent store must
 * show: reopening, long keys past LMDB's key limit, a randomized comparison against the
 * memory store, two processes, permission errors, a full disk, corrupt files. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "store_conformance.h"

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

static char lt_base[64];
static char lt_dir[96];

static int lt_rm1(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
    (void)sb, (void)flag, (void)f;
    remove(p);
    return 0;
}

static void lt_rmrf(const char *p) { nftw(p, lt_rm1, 16, FTW_DEPTH | FTW_PHYS); }

static void lt_setup(gun__store_cfg *cfg)
{
    snprintf(lt_base, sizeof lt_base, "/tmp/gun-lmdb-XXXXXX");
    cr_assert(mkdtemp(lt_base), "mkdtemp: %s", strerror(errno));
    /* Not created yet: open must make it (mkdir -p). */
    snprintf(lt_dir, sizeof lt_dir, "%s/a/data", lt_base);
    cfg->path = lt_dir;
}

static void lt_teardown(gun__store_cfg *cfg)
{
    (void)cfg;
    lt_rmrf(lt_base);
}

GUN_STORE_CONFORMANCE(store_lmdb, &gun__store_lmdb_ops, lt_setup, lt_teardown, 1)

/* ---- helpers ---- */

static int lt_open(gun__store *s, const gun__store_cfg *cfg, gun__err *e)
{
    memset(e, 0, sizeof *e);
    return gun__store_open(s, &gun__store_lmdb_ops, cfg, e);
}

static char *lt_path(const char *dir, const char *name)
{
    char *p = NULL;
    cr_assert(asprintf(&p, "%s/%s", dir, name) > 0);
    return p;
}

static gun__str lt_s(const char *c) { return gun__str_c(c); }

/* A string of n bytes: `fill` repeated, then tail. */
static char *lt_long(size_t n, char fill, const char *tail)
{
    size_t tl = strlen(tail);
    char *p = malloc(n + tl + 1);
    cr_assert(p);
    memset(p, fill, n);
    memcpy(p + n, tail, tl + 1);
    return p;
}

Test(store_lmdb, ops_table)
{
    cr_expect_eq(gun__store_lmdb_ops.version, GUN__STORE_OPS_VERSION);
    cr_expect_str_eq(gun__store_lmdb_ops.name, "lmdb");
}

/* The long-entry hash is part of the on-disk format: gun__hash64 must not change. */
Test(store_lmdb, persisted_hash_is_pinned)
{
    static const uint64_t k[2] = {0x6c696267756e2d6cULL, 0x6d64622d6c6f6e67ULL};
    cr_expect_eq(gun__hash64("soul\0key", 8, k), gun__hash64("soul\0key", 8, k));
    uint64_t h = gun__hash64("abc", 3, k);
    /* SipHash-1-3 of "abc" under the key above. If this fails, gun__hash64 changed and
     * existing LMDB stores with long keys would no longer find them: keep the old
     * function for the store (or bump its format) instead of editing the value here. */
    cr_expect_eq(h, 0xb03a181b15eac897ULL, "hash is %016llx", (unsigned long long)h);
}

Test(store_lmdb, needs_a_path)
{
    gun__store_cfg cfg = {0};
    gun__store s;
    gun__err e;
    cr_expect_eq(lt_open(&s, &cfg, &e), GUN_EINVAL);
    cr_expect(strstr(e.msg, "no data directory"), "%s", e.msg);
}

Test(store_lmdb, reopen_persists_everything)
{
    gsc x;
    gsc_begin(&x, &gun__store_lmdb_ops, lt_setup, lt_teardown);
    gsc_t_put_get(&x);
    gsc_lex_keys(&x);
    char *big = lt_long(300000, 'q', "end");
    gun__val bv = {GUN__V_STR, 0, 0, lt_s(big)};
    cr_assert_eq(gsc_write1(&x, "big", "v", bv, 5), GUN_OK);
    char *lk = lt_long(600, 'k', "\xF0\x9F\x98\x80");
    cr_assert_eq(gsc_write1(&x, "n", lk, gsc_vnum(-0.0), -0.0), GUN_OK);
    char *before = gsc_dump(&x);
    gun__store_close(&x.s);
    gsc_open(&x);
    char *after = gsc_dump(&x);
    cr_expect_str_eq(after, before);
    /* And a second time after another write on the reopened store. */
    cr_assert_eq(gsc_write1(&x, "z", "k", gsc_vstr("late"), 9), GUN_OK);
    gun__store_close(&x.s);
    gsc_open(&x);
    gsc_list l = {0};
    cr_expect_eq(gsc_key(&x, "z", "k", &l), GUN_OK);
    cr_expect_eq(gsc_key(&x, "n", lk, &l), GUN_OK);
    cr_assert_eq(l.n, 2);
    cr_expect(gsc_bits_eq(l.r[1].state, -0.0));
    cr_expect(gsc_bits_eq(l.r[1].val.n, -0.0));
    gsc_list_free(&l);
    free(before);
    free(after);
    free(big);
    free(lk);
    gsc_end(&x);
}

/* Keys and souls past LMDB's 511-byte key limit: kept whole, ordered exactly (also when
 * they differ only after the cut, and by astral versus U+E000..U+FFFF there). */
Test(store_lmdb, long_keys_and_souls, .timeout = 60)
{
    gsc x;
    gsc_begin(&x, &gun__store_lmdb_ops, lt_setup, lt_teardown);
    /* Keys share 520 bytes, far past the 480-byte cut; tails sort in UTF-16 order. */
    const char *tails[] = {"\xEF\xBF\xBF", "\xF0\x9F\x98\x80", "\xEE\x80\x80", "a", "",
                           ("\xF0\x9F\x98\x80" "b"), "b", "\xED\xA0\x80"};
    const char *order = "4 3 6 7 1 5 2 0"; /* "", a, b, U+D800, U+1F600, U+1F600 b, U+E000, U+FFFF */
    enum { NT = sizeof tails / sizeof tails[0] };
    char *keys[NT];
    for (int i = 0; i < NT; i++) {
        keys[i] = lt_long(520, 'k', tails[i]);
        cr_assert_eq(gsc_write1(&x, "s", keys[i], gsc_vnum(i), i + 1), GUN_OK);
    }
    /* Short keys around them: below, equal to the shared prefix, above. */
    cr_assert_eq(gsc_write1(&x, "s", "a", gsc_vnum(100), 1), GUN_OK);
    cr_assert_eq(gsc_write1(&x, "s", "l", gsc_vnum(101), 1), GUN_OK);
    char *kk = lt_long(300, 'k', "");
    cr_assert_eq(gsc_write1(&x, "s", kk, gsc_vnum(102), 1), GUN_OK);

    gsc_list l = {0};
    cr_assert_eq(gsc_node(&x, "s", NULL, &l), GUN_OK);
    cr_assert_eq(l.n, NT + 3);
    cr_expect_str_eq(l.r[0].key, "a");
    cr_expect_str_eq(l.r[1].key, kk);
    char got[64] = "";
    for (int i = 2; i < NT + 2; i++) {
        for (int j = 0; j < NT; j++)
            if (!strcmp(l.r[i].key, keys[j])) {
                snprintf(got + strlen(got), sizeof got - strlen(got), "%s%d", i > 2 ? " " : "", j);
                cr_expect_eq(l.r[i].val.n, j);
                cr_expect_eq(l.r[i].state, j + 1);
            }
    }
    cr_expect_str_eq(got, order);
    cr_expect_str_eq(l.r[NT + 2].key, "l");
    gsc_list_free(&l);

    /* Reverse, and a range whose bounds are long too. */
    gun__lex lex = {0};
    lex.has_gte = 1, lex.gte = lt_s(keys[7]); /* ...U+D800 */
    lex.has_lte = 1, lex.lte = lt_s(keys[2]); /* ...U+E000 */
    lex.reverse = 1;
    cr_assert_eq(gsc_node(&x, "s", &lex, &l), GUN_OK);
    cr_assert_eq(l.n, 4);
    cr_expect_str_eq(l.r[0].key, keys[2]);
    cr_expect_str_eq(l.r[1].key, keys[5]);
    cr_expect_str_eq(l.r[2].key, keys[1]);
    cr_expect_str_eq(l.r[3].key, keys[7]);
    gsc_list_free(&l);
    /* A prefix that ends inside the astral tail (lone high surrogate U+D83D). */
    char *pre = lt_long(520, 'k', "\xED\xA0\xBD");
    memset(&lex, 0, sizeof lex);
    lex.has_prefix = 1, lex.prefix = lt_s(pre);
    cr_assert_eq(gsc_node(&x, "s", &lex, &l), GUN_OK);
    cr_assert_eq(l.n, 2);
    cr_expect_str_eq(l.r[0].key, keys[1]);
    cr_expect_str_eq(l.r[1].key, keys[5]);
    gsc_list_free(&l);

    /* Point reads, overwrite in place, and not-found for a long key that differs late. */
    for (int i = 0; i < NT; i++) {
        cr_assert_eq(gsc_key(&x, "s", keys[i], &l), GUN_OK);
        cr_expect_eq(l.r[l.n - 1].val.n, i);
    }
    gsc_list_free(&l);
    cr_assert_eq(gsc_write1(&x, "s", keys[3], gsc_vstr("new"), 50), GUN_OK);
    cr_assert_eq(gsc_key(&x, "s", keys[3], &l), GUN_OK);
    cr_expect_str_eq(l.r[0].val.s.p, "new");
    cr_expect_eq(l.r[0].state, 50);
    gsc_list_free(&l);
    char *nokey = lt_long(520, 'k', "zz");
    cr_expect_eq(gsc_key(&x, "s", nokey, &l), GUN_ENOTFOUND);
    cr_assert_eq(gsc_node(&x, "s", NULL, &l), GUN_OK);
    cr_expect_eq(l.n, NT + 3);
    gsc_list_free(&l);

    /* Long souls: one 490 bytes (cut inside the soul), its 500-byte extension, and a
     * 700-byte one; listing order, whole-node reads and one-key reads. */
    char *s1 = lt_long(490, 'S', ""), *s2 = lt_long(490, 'S', "0123456789"),
         *s3 = lt_long(700, 'S', "");
    cr_assert_eq(gsc_write1(&x, s2, "k", gsc_vnum(2), 1), GUN_OK);
    cr_assert_eq(gsc_write1(&x, s3, "k", gsc_vnum(3), 1), GUN_OK);
    cr_assert_eq(gsc_write1(&x, s1, "k2", gsc_vnum(12), 1), GUN_OK);
    cr_assert_eq(gsc_write1(&x, s1, "k1", gsc_vnum(11), 1), GUN_OK);
    cr_assert_eq(x.s.ops->souls(x.s.st, NULL, gsc_visit_soul, &l), GUN_OK);
    cr_assert_eq(l.n, 4);
    cr_expect_str_eq(l.r[0].soul, s1);
    cr_expect_str_eq(l.r[1].soul, s2);
    cr_expect_str_eq(l.r[2].soul, s3);
    cr_expect_str_eq(l.r[3].soul, "s");
    gsc_list_free(&l);
    memset(&lex, 0, sizeof lex);
    lex.reverse = 1;
    cr_assert_eq(x.s.ops->souls(x.s.st, &lex, gsc_visit_soul, &l), GUN_OK);
    cr_assert_eq(l.n, 4);
    cr_expect_str_eq(l.r[0].soul, "s");
    cr_expect_str_eq(l.r[1].soul, s3);
    cr_expect_str_eq(l.r[2].soul, s2);
    cr_expect_str_eq(l.r[3].soul, s1);
    gsc_list_free(&l);
    cr_assert_eq(gsc_node(&x, s1, NULL, &l), GUN_OK);
    cr_assert_eq(l.n, 2);
    cr_expect_str_eq(l.r[0].key, "k1");
    cr_expect_str_eq(l.r[1].key, "k2");
    cr_expect_str_eq(l.r[0].soul, s1);
    gsc_list_free(&l);
    cr_expect_eq(gsc_key(&x, s2, "k", &l), GUN_OK);
    cr_expect_eq(gsc_key(&x, s1, "k", &l), GUN_ENOTFOUND);
    gsc_list_free(&l);

    /* All of it survives a reopen. */
    char *before = gsc_dump(&x);
    gun__store_close(&x.s);
    gsc_open(&x);
    char *after = gsc_dump(&x);
    cr_expect_str_eq(after, before);
    free(before), free(after);
    for (int i = 0; i < NT; i++)
        free(keys[i]);
    free(kk), free(pre), free(nokey), free(s1), free(s2), free(s3);
    gsc_end(&x);
}

/* Souls and keys must be canonical WTF-8 (the ordering of long entries relies on it):
 * others are refused before anything is written. */
Test(store_lmdb, refuses_malformed_text)
{
    gsc x;
    gsc_begin(&x, &gun__store_lmdb_ops, lt_setup, lt_teardown);
    cr_assert_eq(gsc_write1(&x, "keep", "k", gsc_vstr("v"), 1), GUN_OK);
    char *before = gsc_dump(&x);
    const char *bad[] = {"\xFF", "a\xC3", "\xC0\x80", "\xED\xA0\xBD\xED\xB8\x80" /* pair as halves */,
                         "\xF4\x90\x80\x80" /* > U+10FFFF */};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gun__store_rec recs[2] = {{lt_s("keep"), lt_s("k"), gsc_vstr("changed"), 2},
                                  {lt_s("s"), lt_s(bad[i]), gsc_vstr("v"), 1}};
        gun__err e = {0};
        cr_expect_eq(x.s.ops->write(x.s.st, recs, 2, &e), GUN_EINVAL, "key %zu", i);
        recs[1].soul = lt_s(bad[i]), recs[1].key = lt_s("k");
        cr_expect_eq(x.s.ops->write(x.s.st, recs, 2, &e), GUN_EINVAL, "soul %zu", i);
        cr_expect(strstr(e.msg, "WTF-8"), "%s", e.msg);
    }
    char *after = gsc_dump(&x);
    cr_expect_str_eq(after, before);
    free(before), free(after);
    gsc_end(&x);
}

/* A visitor may read the store it is walking (a nested read transaction). */
static int lt_nested_visit(void *arg, gun__str soul, gun__str key, const gun__val *val,
                           double state)
{
    gsc *x = arg;
    gsc_list l = {0};
    cr_assert_eq(x->s.ops->get_key(x->s.st, soul, key, gsc_visit, &l), GUN_OK);
    cr_assert_eq(l.n, 1);
    cr_expect(gsc_val_same(&l.r[0].val, val));
    cr_expect(gsc_bits_eq(l.r[0].state, state));
    gsc_list_free(&l);
    return 0;
}

Test(store_lmdb, visitor_may_read)
{
    gsc x;
    gsc_begin(&x, &gun__store_lmdb_ops, lt_setup, lt_teardown);
    gsc_lex_keys(&x);
    cr_assert_eq(x.s.ops->get_node(x.s.st, lt_s("n"), NULL, lt_nested_visit, &x), GUN_OK);
    gsc_end(&x);
}

/* ---- randomized comparison with the memory store ---- */

typedef struct lt_rng {
    uint64_t s;
} lt_rng;

static uint32_t lt_rand(lt_rng *r, uint32_t n)
{
    r->s ^= r->s << 13, r->s ^= r->s >> 7, r->s ^= r->s << 17;
    return (uint32_t)(r->s % n);
}

/* Strings near the 480-byte cut, from code points whose UTF-8 and UTF-16 orders differ. */
static void lt_rand_str(lt_rng *r, gun__buf *b, int soul)
{
    static const uint32_t cps[] = {'a', 'b', 0xE9, 0xD83D /* lone high */, 0xDC00 /* lone low */,
                                   0xE000, 0xFFFD, 0xFFFF, 0x1F600, 0x10000, 0x10FFFF};
    gun__buf_reset(b);
    uint32_t mode = lt_rand(r, 4);
    if (mode == 1) { /* long: cut lands among the random tail */
        size_t n = 470 + lt_rand(r, 12);
        for (size_t i = 0; i < n; i++)
            gun__buf_addc(b, 'p');
    } else if (mode == 2 && soul) {
        gun__buf_adds(b, "~soul/");
    }
    uint32_t tail = 1 + lt_rand(r, mode == 1 ? 8 : 3);
    uint32_t prev = 0;
    for (uint32_t i = 0; i < tail; i++) {
        uint32_t cp = cps[lt_rand(r, sizeof cps / sizeof cps[0])];
        if (prev == 0xD83D && cp == 0xDC00)
            cp = 'b'; /* two halves in a row would spell a pair: not canonical WTF-8 */
        gun__buf_add_cp(b, cp);
        prev = cp;
    }
    cr_assert(!b->oom);
}

typedef struct lt_pool {
    char *p[64];
    size_t len[64];
    int n;
} lt_pool;

static void lt_pool_add(lt_pool *pl, const gun__buf *b)
{
    cr_assert(pl->n < 64);
    pl->p[pl->n] = gsc_dup(b->p, b->len);
    pl->len[pl->n++] = b->len;
}

static char *lt_query_node(gun__store *s, gun__str soul, const gun__lex *lex, int *rc)
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

static char *lt_query_souls(gun__store *s, const gun__lex *lex)
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

static void lt_rand_lex(lt_rng *r, gun__lex *lex, const lt_pool *pool, gun__buf *tmp)
{
    memset(lex, 0, sizeof *lex);
    lex->reverse = (int)lt_rand(r, 2);
    for (int which = 0; which < 4; which++) {
        if (lt_rand(r, 3))
            continue;
        gun__str v;
        if (lt_rand(r, 2) && pool->n) { /* an existing string, or a prefix of one */
            int i = (int)lt_rand(r, (uint32_t)pool->n);
            v.p = pool->p[i], v.len = pool->len[i];
            if (which == 1 && v.len && lt_rand(r, 2)) {
                size_t cut = lt_rand(r, (uint32_t)v.len);
                /* may end inside a code point: fine for a prefix, but keep it WTF-8 */
                while (cut && ((unsigned char)v.p[cut] & 0xC0) == 0x80)
                    cut--;
                v.len = cut;
            }
        } else {
            lt_rand_str(r, &tmp[which], 0);
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

Test(store_lmdb, matches_memory_store_randomized, .timeout = 120)
{
    gsc x;
    gsc_begin(&x, &gun__store_lmdb_ops, lt_setup, lt_teardown);
    gun__store mem;
    gun__err e = {0};
    cr_assert_eq(gun__store_open(&mem, &gun__store_mem_ops, NULL, &e), GUN_OK);
    lt_rng r = {0x9E3779B97F4A7C15ULL};
    lt_pool souls = {0}, keys = {0};
    gun__buf b, tmp[4];
    gun__buf_init(&b);
    for (int i = 0; i < 4; i++)
        gun__buf_init(&tmp[i]);
    for (int i = 0; i < 12; i++) {
        lt_rand_str(&r, &b, 1);
        lt_pool_add(&souls, &b);
    }
    for (int i = 0; i < 48; i++) {
        lt_rand_str(&r, &b, 0);
        lt_pool_add(&keys, &b);
    }
    gun__store_rec recs[16];
    for (int round = 0; round < 300; round++) {
        size_t n = 1 + lt_rand(&r, 16);
        for (size_t i = 0; i < n; i++) {
            int si = (int)lt_rand(&r, (uint32_t)souls.n), ki = (int)lt_rand(&r, (uint32_t)keys.n);
            recs[i].soul = (gun__str){souls.p[si], souls.len[si]};
            recs[i].key = (gun__str){keys.p[ki], keys.len[ki]};
            recs[i].state = (double)round + lt_rand(&r, 1000) / 7.0;
            memset(&recs[i].val, 0, sizeof recs[i].val);
            switch (lt_rand(&r, 4)) {
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
            lt_rand_lex(&r, &lex, q < 4 ? &keys : &souls, tmp);
            if (q < 4) {
                int si = (int)lt_rand(&r, (uint32_t)souls.n);
                gun__str soul = {souls.p[si], souls.len[si]};
                int rc1, rc2;
                char *a = lt_query_node(&x.s, soul, q ? &lex : NULL, &rc1);
                char *m = lt_query_node(&mem, soul, q ? &lex : NULL, &rc2);
                cr_assert_eq(rc1, rc2, "round %d", round);
                cr_assert_str_eq(a, m, "round %d query %d", round, q);
                free(a), free(m);
            } else {
                char *a = lt_query_souls(&x.s, &lex);
                char *m = lt_query_souls(&mem, &lex);
                cr_assert_str_eq(a, m, "round %d souls query", round);
                free(a), free(m);
            }
        }
        if (round % 100 == 99) { /* and the same after a reopen */
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

/* The 480-byte cut lands at every offset inside every width of code point: keys that
 * agree up to the cut and then hold astral, U+E000..U+FFFF, BMP or lone surrogate
 * characters must still come out in UTF-16 order (checked against the memory store). */
Test(store_lmdb, cut_inside_code_points, .timeout = 60)
{
    gsc x;
    gsc_begin(&x, &gun__store_lmdb_ops, lt_setup, lt_teardown);
    gun__store mem;
    gun__err e = {0};
    cr_assert_eq(gun__store_open(&mem, &gun__store_mem_ops, NULL, &e), GUN_OK);
    static const char *cs[] = {"a", "\xC3\xA9", "\xED\xA0\x80", "\xEE\x80\x80",
                               "\xEF\xBF\xBF", "\xF0\x90\x80\x80", "\xF0\x9F\x98\x80",
                               "\xF4\x8F\xBF\xBF", ""};
    enum { NC = sizeof cs / sizeof cs[0] };
    const char *soul = "cut";
    char *keys[5 * NC * 2];
    int nk = 0;
    for (int o = 0; o < 5; o++)
        for (int c = 0; c < NC; c++)
            for (int t = 0; t < 2; t++) {
                /* soul, 0x00, then the key: the cut (480) falls o bytes before c. */
                size_t fill = 480 - strlen(soul) - 1 - (size_t)o;
                char *k = lt_long(fill, 'k', cs[c]);
                if (t) {
                    size_t kl = strlen(k);
                    k = realloc(k, kl + 3);
                    memcpy(k + kl, "zz", 3);
                }
                keys[nk++] = k;
            }
    for (int i = 0; i < nk; i++) {
        gun__store_rec r = {lt_s(soul), lt_s(keys[i]), gsc_vnum(i), i};
        cr_assert_eq(x.s.ops->write(x.s.st, &r, 1, &e), GUN_OK, "%s", e.msg);
        cr_assert_eq(mem.ops->write(mem.st, &r, 1, &e), GUN_OK);
    }
    int rc1, rc2;
    char *a = lt_query_node(&x.s, lt_s(soul), NULL, &rc1);
    char *m = lt_query_node(&mem, lt_s(soul), NULL, &rc2);
    cr_expect_str_eq(a, m);
    free(a), free(m);
    /* Every key as an eq, a gte and an lte bound, both directions. */
    for (int i = 0; i < nk; i++)
        for (int w = 0; w < 6; w++) {
            gun__lex lex = {0};
            lex.reverse = w & 1;
            if (w < 2)
                lex.has_eq = 1, lex.eq = lt_s(keys[i]);
            else if (w < 4)
                lex.has_gte = 1, lex.gte = lt_s(keys[i]);
            else
                lex.has_lte = 1, lex.lte = lt_s(keys[i]);
            a = lt_query_node(&x.s, lt_s(soul), &lex, &rc1);
            m = lt_query_node(&mem, lt_s(soul), &lex, &rc2);
            cr_assert_str_eq(a, m, "key %d bound %d", i, w);
            free(a), free(m);
        }
    for (int i = 0; i < nk; i++) {
        gsc_list l = {0};
        cr_assert_eq(gsc_key(&x, soul, keys[i], &l), GUN_OK);
        cr_expect_eq(l.r[0].val.n, i);
        gsc_list_free(&l);
        free(keys[i]);
    }
    gun__store_close(&mem);
    gsc_end(&x);
}

/* A writer killed with SIGKILL at random moments: every batch writes the same number to
 * three souls, so after any crash the three must agree (all or nothing), and the number
 * must be at least the last one the writer saw acknowledged. */
static void lt_kill_writer(const gun__store_cfg *cfg, int rounds)
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
            if (lt_open(&s, cfg, &e) != GUN_OK)
                _exit(2);
            for (long b = floor + 1;; b++) {
                char v[32];
                snprintf(v, sizeof v, "%ld", b);
                gun__store_rec recs[3] = {{lt_s("x"), lt_s("n"), gsc_vstr(v), (double)b},
                                          {lt_s("y"), lt_s("n"), gsc_vstr(v), (double)b},
                                          {lt_s("z"), lt_s("n"), gsc_vstr(v), (double)b}};
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
        cr_assert_eq(lt_open(&s, cfg, &e), GUN_OK, "reopen after kill: %s (seed %u)", e.msg, seed);
        char got[3][32] = {"", "", ""};
        const char *souls[3] = {"x", "y", "z"};
        for (int i = 0; i < 3; i++) {
            gsc_list l = {0};
            if (s.ops->get_key(s.st, lt_s(souls[i]), lt_s("n"), gsc_visit, &l) == GUN_OK)
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

Test(store_lmdb, sigkill_at_random_moments, .timeout = 120)
{
    gun__store_cfg cfg = {0};
    lt_setup(&cfg);
    lt_kill_writer(&cfg, 12);
    lt_teardown(&cfg);
}

/* Lex bounds and lookups with bytes that are not WTF-8 (a local caller can pass them):
 * no crash, no overflow of a seek key, and exactly what gun__lex_match selects, in
 * order. (The memory store is no reference here: for such bounds gun__utf16_cmp is not
 * UTF-16 order, so gun__lex_below/above stop being monotone.) */
static char *lt_brute(gsc *x, gun__str soul, const gun__lex *lex)
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

Test(store_lmdb, malformed_bounds_are_safe)
{
    gsc x;
    gsc_begin(&x, &gun__store_lmdb_ops, lt_setup, lt_teardown);
    gun__err e = {0};
    char *lk = lt_long(600, 'k', "x");
    const char *keys[] = {"a", "b", "\xC3\xA9", "\xC5\x99", "\xF0\x9F\x98\x80", "\xEF\xBF\xBF", lk};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        gun__store_rec r = {lt_s("n"), lt_s(keys[i]), gsc_vnum((double)i), 1};
        cr_assert_eq(x.s.ops->write(x.s.st, &r, 1, &e), GUN_OK);
        r.soul = lt_s(keys[i]);
        cr_assert_eq(x.s.ops->write(x.s.st, &r, 1, &e), GUN_OK);
    }
    char *cont = lt_long(700, (char)0x80, ""); /* 700 continuation bytes */
    char *lcont = lt_long(480, 'k', "");
    lcont = realloc(lcont, 480 + 700 + 1);
    memcpy(lcont + 480, cont, 701);
    const char *bad[] = {cont, lcont, "a\xFF", "\xC3", "\xF0\x9F", "\xED\xA0\xBD\xED\xB8\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        for (int w = 0; w < 8; w++) {
            gun__lex lex = {0};
            lex.reverse = w & 1;
            switch (w >> 1) {
            case 0: lex.has_eq = 1, lex.eq = lt_s(bad[i]); break;
            case 1: lex.has_prefix = 1, lex.prefix = lt_s(bad[i]); break;
            case 2: lex.has_gte = 1, lex.gte = lt_s(bad[i]); break;
            default: lex.has_lte = 1, lex.lte = lt_s(bad[i]); break;
            }
            int rc;
            char *a = lt_query_node(&x.s, lt_s("n"), &lex, &rc);
            char *m = lt_brute(&x, lt_s("n"), &lex);
            cr_expect_eq(rc, GUN_OK);
            cr_expect_str_eq(a, m, "bound %zu way %d", i, w);
            free(a), free(m);
            /* Souls: the same selection over the soul names. */
            a = lt_query_souls(&x.s, &lex);
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

/* ---- two processes ---- */

Test(store_lmdb, two_processes_share_a_directory)
{
    gsc x;
    gsc_begin(&x, &gun__store_lmdb_ops, lt_setup, lt_teardown);
    cr_assert_eq(gsc_write1(&x, "parent", "k", gsc_vnum(1), 1), GUN_OK);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        gun__store s;
        gun__err e;
        int ok = lt_open(&s, &x.cfg, &e) == GUN_OK;
        gsc_list l = {0};
        ok = ok && s.ops->get_key(s.st, lt_s("parent"), lt_s("k"), gsc_visit, &l) == GUN_OK;
        gun__store_rec r = {lt_s("child"), lt_s("k"), gsc_vstr("hi"), 2};
        ok = ok && s.ops->write(s.st, &r, 1, &e) == GUN_OK;
        if (ok)
            gun__store_close(&s);
        _exit(ok ? 0 : 1);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed");
    /* The parent's open handle sees the child's committed write. */
    gsc_list l = {0};
    cr_assert_eq(gsc_key(&x, "child", "k", &l), GUN_OK);
    cr_expect_str_eq(l.r[0].val.s.p, "hi");
    gsc_list_free(&l);
    gsc_end(&x);
}

/* ---- permission denied ---- */

/* Runs fn in a child; as root the child first becomes nobody, since root ignores mode
 * bits. The child reports rc and message through a pipe. */
typedef int (*lt_try_fn)(const char *path, gun__err *e);

static int lt_try_open(const char *path, gun__err *e)
{
    gun__store s;
    gun__store_cfg cfg = {0};
    cfg.path = path;
    int rc = lt_open(&s, &cfg, e);
    if (rc == GUN_OK)
        gun__store_close(&s);
    return rc;
}

static int lt_as_other_user(lt_try_fn fn, const char *path, gun__err *e)
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

Test(store_lmdb, permission_denied_is_clear)
{
    gun__store_cfg cfg = {0};
    lt_setup(&cfg);
    cr_assert_eq(chmod(lt_base, 0755), 0);
    /* 1. The directory cannot be created: its parent is read-only (and not ours). */
    char *ro = lt_path(lt_base, "ro");
    cr_assert_eq(mkdir(ro, 0555), 0);
    char *sub = lt_path(ro, "data");
    gun__err e = {0};
    cr_expect_eq(lt_as_other_user(lt_try_open, sub, &e), GUN_EIO);
    cr_expect(strstr(e.msg, "Permission denied") && strstr(e.msg, sub), "%s", e.msg);
    /* 2. An existing store in a directory the user may not write. */
    char *st = lt_path(lt_base, "st");
    cfg.path = st;
    gun__store s;
    cr_assert_eq(lt_open(&s, &cfg, &e), GUN_OK, "%s", e.msg);
    gun__store_close(&s);
    cr_assert_eq(chmod(st, 0555), 0);
    char *f = lt_path(st, "data.mdb");
    cr_assert_eq(chmod(f, 0444), 0);
    memset(&e, 0, sizeof e);
    cr_expect_eq(lt_as_other_user(lt_try_open, st, &e), GUN_EIO);
    cr_expect(strstr(e.msg, "permission denied") && strstr(e.msg, st), "%s", e.msg);
    chmod(st, 0755);
    chmod(ro, 0755);
    free(ro), free(sub), free(st), free(f);
    lt_teardown(&cfg);
}

Test(store_lmdb, path_under_a_regular_file)
{
    gun__store_cfg cfg = {0};
    lt_setup(&cfg);
    char *file = lt_path(lt_base, "file");
    FILE *fp = fopen(file, "w");
    cr_assert(fp);
    fclose(fp);
    char *sub = lt_path(file, "data");
    cfg.path = sub;
    gun__store s;
    gun__err e;
    cr_expect_eq(lt_open(&s, &cfg, &e), GUN_EIO);
    cr_expect(strstr(e.msg, "Not a directory") && strstr(e.msg, sub), "%s", e.msg);
    cfg.path = file;
    cr_expect_eq(lt_open(&s, &cfg, &e), GUN_EIO);
    cr_expect(strstr(e.msg, "not a directory"), "%s", e.msg);
    free(file), free(sub);
    lt_teardown(&cfg);
}

Test(store_lmdb, refuses_a_foreign_directory)
{
    gun__store_cfg cfg = {0};
    lt_setup(&cfg);
    cfg.path = lt_base;
    char *f = lt_path(lt_base, "!");
    FILE *fp = fopen(f, "w");
    cr_assert(fp);
    fclose(fp);
    gun__store s;
    gun__err e;
    cr_expect_eq(lt_open(&s, &cfg, &e), GUN_EINVAL);
    cr_expect(strstr(e.msg, "not empty") && strstr(e.msg, "'!'"), "%s", e.msg);
    free(f);
    lt_teardown(&cfg);
}

/* ---- a full disk ---- */

/* Fills the store with batches of 100 records until a write fails; returns how many
 * batches went in and checks the failure is a clean GUN_EIO. */
static int lt_fill(gun__store *s, const char *why, int max_batches)
{
    static char val[2000];
    memset(val, 'v', sizeof val - 1);
    gun__store_rec recs[100];
    char keys[100][16];
    for (int b = 0; b < max_batches; b++) {
        char soul[32];
        snprintf(soul, sizeof soul, "fill%06d", b);
        for (int i = 0; i < 100; i++) {
            snprintf(keys[i], sizeof keys[i], "k%03d", i);
            recs[i] = (gun__store_rec){lt_s(soul), lt_s(keys[i]), gsc_vstr(val), b};
        }
        gun__err e = {0};
        int rc = s->ops->write(s->st, recs, 100, &e);
        if (rc != GUN_OK) {
            cr_expect_eq(rc, GUN_EIO, "%s", e.msg);
            cr_expect(strstr(e.msg, why), "message: %s", e.msg);
            cr_expect(strstr(e.msg, "nothing was written"), "message: %s", e.msg);
            return b;
        }
    }
    return -1;
}

static void lt_check_fill(gun__store *s, int batches)
{
    gsc_list l = {0};
    for (int b = 0; b < batches; b++) {
        char soul[32];
        snprintf(soul, sizeof soul, "fill%06d", b);
        cr_assert_eq(s->ops->get_node(s->st, lt_s(soul), NULL, gsc_visit, &l), GUN_OK, "%s",
                     soul);
        cr_assert_eq(l.n, 100, "%s has %zu", soul, l.n);
        gsc_list_free(&l);
    }
    char soul[32];
    snprintf(soul, sizeof soul, "fill%06d", batches);
    cr_expect_eq(s->ops->get_node(s->st, lt_s(soul), NULL, gsc_visit, &l), GUN_ENOTFOUND,
                 "the failed batch left records");
    gsc_list_free(&l);
}

Test(store_lmdb, map_full_fails_cleanly_and_keeps_data)
{
    gun__store_cfg cfg = {0};
    lt_setup(&cfg);
    cfg.max_bytes = 8 << 20; /* starts at 4 MiB (about 10 batches), grows once, is full */
    gun__store s;
    gun__err e;
    cr_assert_eq(lt_open(&s, &cfg, &e), GUN_OK, "%s", e.msg);
    int n = lt_fill(&s, "database full", 1000);
    cr_assert(n > 12, "only %d batches fit", n); /* so the map did grow past 4 MiB */
    lt_check_fill(&s, n);
    /* A reopen with a larger cap takes more. */
    gun__store_close(&s);
    cfg.max_bytes = 64 << 20;
    cr_assert_eq(lt_open(&s, &cfg, &e), GUN_OK, "%s", e.msg);
    lt_check_fill(&s, n);
    cr_expect_eq(gsc_write1(&(gsc){.s = s}, "after", "k", gsc_vnum(1), 1), GUN_OK);
    gun__store_close(&s);
    lt_teardown(&cfg);
}

/* A file size limit (RLIMIT_FSIZE) makes the kernel refuse to grow the data file: the
 * same path as a full disk, with EFBIG instead of ENOSPC. */
Test(store_lmdb, file_size_limit_fails_cleanly_and_keeps_data)
{
    gun__store_cfg cfg = {0};
    lt_setup(&cfg);
    gun__store s;
    gun__err e;
    cr_assert_eq(lt_open(&s, &cfg, &e), GUN_OK, "%s", e.msg);
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit old, lim;
    cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 3 << 20;
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int n = lt_fill(&s, "file size limit", 1000);
    cr_assert(n > 5, "only %d batches", n);
    lt_check_fill(&s, n);
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    gsc x = {.s = s};
    cr_expect_eq(gsc_write1(&x, "after", "k", gsc_vnum(1), 1), GUN_OK);
    gun__store_close(&s);
    cr_assert_eq(lt_open(&s, &cfg, &e), GUN_OK, "%s", e.msg);
    lt_check_fill(&s, n);
    gun__store_close(&s);
    lt_teardown(&cfg);
}

/* A real ENOSPC: a 2 MiB tmpfs in a private mount namespace (needs CAP_SYS_ADMIN; the
 * mount disappears with this test's process). */
Test(store_lmdb, disk_full_on_small_tmpfs)
{
    gun__store_cfg cfg = {0};
    lt_setup(&cfg);
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        int err = errno;
        lt_teardown(&cfg);
        cr_skip_test("cannot make a private mount namespace (%s): ENOSPC is covered by the "
                     "file size limit test only", strerror(err));
    }
    char *mnt = lt_path(lt_base, "mnt");
    cr_assert_eq(mkdir(mnt, 0755), 0);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=2m") != 0) {
        int err = errno;
        free(mnt);
        lt_teardown(&cfg);
        cr_skip_test("cannot mount a tmpfs: %s", strerror(err));
    }
    char *dir = lt_path(mnt, "data");
    cfg.path = dir;
    gun__store s;
    gun__err e;
    cr_assert_eq(lt_open(&s, &cfg, &e), GUN_OK, "%s", e.msg);
    int n = lt_fill(&s, "disk full", 1000);
    cr_assert(n > 3, "only %d batches", n);
    lt_check_fill(&s, n);
    gun__store_close(&s);
    cr_assert_eq(lt_open(&s, &cfg, &e), GUN_OK, "%s", e.msg);
    lt_check_fill(&s, n);
    gun__store_close(&s);
    umount(mnt);
    free(mnt), free(dir);
    lt_teardown(&cfg);
}

/* ---- corrupt files ---- */

static void lt_make_store(gun__store_cfg *cfg)
{
    lt_setup(cfg);
    gun__store s;
    gun__err e;
    cr_assert_eq(lt_open(&s, cfg, &e), GUN_OK, "%s", e.msg);
    gsc x = {.s = s};
    for (int i = 0; i < 50; i++) {
        char soul[16];
        snprintf(soul, sizeof soul, "s%02d", i);
        cr_assert_eq(gsc_write1(&x, soul, "k", gsc_vstr("some value text"), i), GUN_OK);
    }
    gun__store_close(&s);
}

static void lt_poke(const char *dir, off_t off, const void *p, size_t n)
{
    char *f = lt_path(dir, "data.mdb");
    int fd = open(f, O_WRONLY);
    cr_assert(fd >= 0);
    cr_assert_eq(pwrite(fd, p, n, off), (ssize_t)n);
    close(fd);
    free(f);
}

Test(store_lmdb, corrupt_header_is_a_clear_error)
{
    gun__store_cfg cfg = {0};
    lt_make_store(&cfg);
    char junk[8192];
    memset(junk, 0x5A, sizeof junk);
    lt_poke(cfg.path, 0, junk, sizeof junk); /* both meta pages */
    gun__store s;
    gun__err e;
    cr_expect_eq(lt_open(&s, &cfg, &e), GUN_EIO);
    cr_expect(strstr(e.msg, cfg.path) && strstr(e.msg, "not an LMDB file"), "%s", e.msg);
    lt_teardown(&cfg);
}

Test(store_lmdb, truncated_file_is_a_clear_error)
{
    gun__store_cfg cfg = {0};
    lt_make_store(&cfg);
    char *f = lt_path(cfg.path, "data.mdb");
    struct stat sb;
    cr_assert_eq(stat(f, &sb), 0);
    cr_assert(sb.st_size > 3 * 4096);
    cr_assert_eq(truncate(f, 3 * 4096), 0);
    gun__store s;
    gun__err e;
    cr_expect_eq(lt_open(&s, &cfg, &e), GUN_EIO);
    cr_expect(strstr(e.msg, "truncated"), "%s", e.msg);
    free(f);
    lt_teardown(&cfg);
}

Test(store_lmdb, zeroed_data_pages_are_a_clear_error)
{
    gun__store_cfg cfg = {0};
    lt_make_store(&cfg);
    char *f = lt_path(cfg.path, "data.mdb");
    struct stat sb;
    cr_assert_eq(stat(f, &sb), 0);
    size_t n = (size_t)sb.st_size - 2 * 4096;
    char *zero = calloc(1, n);
    cr_assert(zero);
    lt_poke(cfg.path, 2 * 4096, zero, n); /* every page after the two meta pages */
    gun__store s;
    gun__err e;
    int rc = lt_open(&s, &cfg, &e);
    cr_expect_eq(rc, GUN_EIO);
    cr_expect(strstr(e.msg, "corrupt"), "%s", e.msg);
    if (rc == GUN_OK)
        gun__store_close(&s);
    free(zero), free(f);
    lt_teardown(&cfg);
}

Test(store_lmdb, nosync_mode_works)
{
    gun__store_cfg cfg = {0};
    lt_setup(&cfg);
    cfg.nosync = 1;
    gsc x = {0};
    x.ops = &gun__store_lmdb_ops;
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
    lt_teardown(&cfg);
}

/* ---- threads: a writer thread and a reading thread at once ---- */

typedef struct lt_thr {
    gun__store *s;
    atomic_int stop;
    long batches;
    int err;
} lt_thr;

static void *lt_writer(void *arg)
{
    lt_thr *t = arg;
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
Test(store_lmdb, reads_while_another_thread_writes, .timeout = 120)
{
    gun__store_cfg cfg = {0};
    lt_setup(&cfg);
    cfg.max_bytes = 256 << 20; /* starts at 4 MiB: the map grows (remaps) under readers */
    gun__store s;
    gun__err e;
    cr_assert_eq(lt_open(&s, &cfg, &e), GUN_OK, "%s", e.msg);
    lt_thr t = {.s = &s};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, lt_writer, &t), 0);
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
    lt_teardown(&cfg);
}

/* ---- a quick benchmark (skipped unless GUN_STORE_BENCH is set) ----
 * GUN_STORE_BENCH=1 unit_tests --filter 'store_lmdb/bench' --verbose
 * Durable batches of 100 records (10 souls x 10 keys, 32-byte strings, souls spread
 * over the key space), then random point reads of those records. */
static double lt_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int lt_count(void *arg, gun__str soul, gun__str key, const gun__val *val, double state)
{
    (void)soul, (void)key, (void)state;
    *(size_t *)arg += val->s.len;
    return 0;
}

Test(store_lmdb, bench, .timeout = 600)
{
    if (!getenv("GUN_STORE_BENCH"))
        cr_skip_test("set GUN_STORE_BENCH=1 to run");
    gun__store_cfg cfg = {0};
    lt_setup(&cfg);
    gun__store s;
    gun__err e;
    cr_assert_eq(lt_open(&s, &cfg, &e), GUN_OK, "%s", e.msg);
    int batches = atoi(getenv("GUN_STORE_BENCH")) > 1 ? atoi(getenv("GUN_STORE_BENCH")) : 300;
    static char souls[100][24], keys[10][8], val[33];
    memset(val, 'v', 32);
    for (int k = 0; k < 10; k++)
        snprintf(keys[k], sizeof keys[k], "key%d", k);
    gun__store_rec recs[100];
    uint64_t rng = 88172645463325252ULL;
    double t0 = lt_now();
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
    double tw = lt_now() - t0;
    int gets = 200000;
    size_t bytes = 0;
    t0 = lt_now();
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
                                        lt_count, &bytes);
                cr_assert_eq(rc, GUN_OK, "%s", soul);
                done++;
            }
    }
    double tg = lt_now() - t0;
    cr_assert_eq(bytes, (size_t)gets * 32);
    /* Cold: reopened, one get per soul written (each soul read once). */
    gun__store_close(&s);
    cr_assert_eq(lt_open(&s, &cfg, &e), GUN_OK, "%s", e.msg);
    int cold = batches * 10;
    uint64_t r3 = 88172645463325252ULL;
    t0 = lt_now();
    for (int i = 0; i < cold; i++) {
        r3 ^= r3 << 13, r3 ^= r3 >> 7, r3 ^= r3 << 17;
        char soul[24];
        snprintf(soul, sizeof soul, "s%010llu", (unsigned long long)(r3 % 10000000000ULL));
        cr_assert_eq(s.ops->get_key(s.st, gun__str_c(soul), gun__str_c("key3"), lt_count, &bytes),
                     GUN_OK);
    }
    double tc = lt_now() - t0;
    cr_log_info("%s: %d durable batches of 100 records in %.2f s: %.0f batches/s (%.0f records/s); "
                "%d point gets in %.2f s: %.0f gets/s",
                s.ops->name, batches, tw, batches / tw, batches * 100 / tw, gets, tg, gets / tg);
    fprintf(stderr, "%s: %.0f durable batches/s (100 records), %.0f point gets/s, %.0f cold gets/s\n",
            s.ops->name, batches / tw, gets / tg, cold / tc);
    gun__store_close(&s);
    lt_teardown(&cfg);
}

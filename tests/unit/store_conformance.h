/* The store conformance suite: every backend must pass it unchanged.
 *
 * Use it from one test file per backend:
 *
 *     #include "store_conformance.h"
 *     static void setup(gun__store_cfg *cfg) { ... make a fresh, empty data dir ... }
 *     static void teardown(gun__store_cfg *cfg) { ... remove it ... }
 *     GUN_STORE_CONFORMANCE(store_lmdb, &gun__store_lmdb_ops, setup, teardown, 1)
 *
 * setup/teardown may be NULL (the memory store needs no path). The last argument says
 * whether the backend persists: then data must survive close and open on the same cfg.
 * Criterion runs each test in its own process, so a test may replace the allocator.
 *
 * Expectations checked (store.h is the contract): whole-node and one-key reads; keys and
 * souls in UTF-16 code-unit order (astral characters sort below U+E000..U+FFFF, unlike
 * UTF-8 byte order); lex eq, prefix (JS startsWith, UTF-16), gte/lte inclusive and their
 * combinations, forward and reverse; visitors can stop a walk; values and states come
 * back bit for bit; 10,000-key nodes and 1 MB values; not-found answers; one write call
 * is all or nothing (a refused record, and every single failed allocation). */
#ifndef GUN_TEST_STORE_CONFORMANCE_H
#define GUN_TEST_STORE_CONFORMANCE_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

typedef void (*gsc_cfg_fn)(gun__store_cfg *cfg);

typedef struct gsc {
    const gun__store_ops *ops;
    gun__store_cfg cfg;
    gun__store s;
    gsc_cfg_fn teardown;
} gsc;

/* One visited record, copied. */
typedef struct gsc_rec {
    char *soul, *key;
    size_t slen, klen;
    gun__val val;
    double state;
} gsc_rec;

typedef struct gsc_list {
    gsc_rec *r;
    size_t n, cap;
    size_t stop_after; /* 0: never stop */
} gsc_list;

static inline void gsc_open(gsc *x)
{
    gun__err e = {0};
    int rc = gun__store_open(&x->s, x->ops, &x->cfg, &e);
    cr_assert_eq(rc, GUN_OK, "open %s: %d %s", x->ops->name, rc, e.msg);
}

static inline void gsc_begin(gsc *x, const gun__store_ops *ops, gsc_cfg_fn setup,
                             gsc_cfg_fn teardown)
{
    memset(x, 0, sizeof *x);
    x->ops = ops;
    x->teardown = teardown;
    if (setup)
        setup(&x->cfg);
    gsc_open(x);
}

static inline void gsc_end(gsc *x)
{
    gun__store_close(&x->s);
    if (x->teardown)
        x->teardown(&x->cfg);
}

static inline void gsc_list_free(gsc_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->r[i].soul);
        free(l->r[i].key);
        gun__val_clear(&l->r[i].val);
    }
    free(l->r);
    memset(l, 0, sizeof *l);
}

static inline char *gsc_dup(const char *p, size_t n)
{
    char *s = malloc(n + 1);
    cr_assert(s);
    if (n)
        memcpy(s, p, n);
    s[n] = 0;
    return s;
}

static inline int gsc_visit(void *arg, gun__str soul, gun__str key, const gun__val *val,
                            double state)
{
    gsc_list *l = arg;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->r = realloc(l->r, l->cap * sizeof *l->r);
        cr_assert(l->r);
    }
    gsc_rec *r = &l->r[l->n++];
    r->soul = gsc_dup(soul.p, soul.len);
    r->slen = soul.len;
    r->key = gsc_dup(key.p, key.len);
    r->klen = key.len;
    cr_assert_eq(gun__val_copy(&r->val, val), GUN_OK);
    r->state = state;
    return l->stop_after && l->n >= l->stop_after;
}

static inline int gsc_visit_soul(void *arg, gun__str soul)
{
    gun__val v = {0};
    return gsc_visit(arg, soul, (gun__str){"", 0}, &v, 0);
}

static inline gun__str gsc_s(const char *c) { return gun__str_c(c); }

static inline gun__val gsc_vstr(const char *c)
{
    gun__val v = {GUN__V_STR, 0, 0, gun__str_c(c)};
    return v;
}
static inline gun__val gsc_vnum(double n)
{
    gun__val v = {GUN__V_NUM, 0, n, {0}};
    return v;
}

static inline int gsc_write1(gsc *x, const char *soul, const char *key, gun__val v, double st)
{
    gun__store_rec r = {gsc_s(soul), gsc_s(key), v, st};
    gun__err e = {0};
    return x->s.ops->write(x->s.st, &r, 1, &e);
}

static inline int gsc_node(gsc *x, const char *soul, const gun__lex *lex, gsc_list *out)
{
    return x->s.ops->get_node(x->s.st, gsc_s(soul), lex, gsc_visit, out);
}

static inline int gsc_key(gsc *x, const char *soul, const char *key, gsc_list *out)
{
    return x->s.ops->get_key(x->s.st, gsc_s(soul), gsc_s(key), gsc_visit, out);
}

/* The keys of out, joined by '|', for compact expectations. */
static inline char *gsc_keys(const gsc_list *l, int souls)
{
    size_t len = 1;
    for (size_t i = 0; i < l->n; i++)
        len += (souls ? l->r[i].slen : l->r[i].klen) + 1;
    char *s = calloc(1, len);
    cr_assert(s);
    for (size_t i = 0; i < l->n; i++) {
        if (i)
            strcat(s, "|");
        strcat(s, souls ? l->r[i].soul : l->r[i].key);
    }
    return s;
}

static inline void gsc_expect_keys(gsc *x, const char *soul, const gun__lex *lex,
                                   const char *want)
{
    gsc_list l = {0};
    int rc = gsc_node(x, soul, lex, &l);
    cr_assert_eq(rc, GUN_OK, "get_node %s: %d", soul, rc);
    char *got = gsc_keys(&l, 0);
    cr_expect_str_eq(got, want, "lex on %s", soul);
    free(got);
    gsc_list_free(&l);
}

static inline int gsc_bits_eq(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

static inline int gsc_val_same(const gun__val *a, const gun__val *b)
{
    if (a->t != b->t)
        return 0;
    switch (a->t) {
    case GUN__V_NULL: return 1;
    case GUN__V_BOOL: return !a->b == !b->b;
    case GUN__V_NUM: return gsc_bits_eq(a->n, b->n);
    default:
        return a->s.len == b->s.len && (a->s.len == 0 || memcmp(a->s.p, b->s.p, a->s.len) == 0);
    }
}

/* A compact, comparable dump of everything in the store (souls, keys, value texts,
 * state bits), to prove a failed write changed nothing. */
static inline char *gsc_dump(gsc *x)
{
    gsc_list souls = {0};
    cr_assert_eq(x->s.ops->souls(x->s.st, NULL, gsc_visit_soul, &souls), GUN_OK);
    gun__buf b;
    gun__buf_init(&b);
    for (size_t i = 0; i < souls.n; i++) {
        gsc_list l = {0};
        cr_assert_eq(x->s.ops->get_node(x->s.st, (gun__str){souls.r[i].soul, souls.r[i].slen},
                                        NULL, gsc_visit, &l),
                     GUN_OK);
        for (size_t j = 0; j < l.n; j++) {
            uint64_t bits;
            memcpy(&bits, &l.r[j].state, sizeof bits);
            gun__buf_printf(&b, "%s.%s=", l.r[j].soul, l.r[j].key);
            gun__val_write(&b, &l.r[j].val);
            gun__buf_printf(&b, "@%016llx\n", (unsigned long long)bits);
        }
        gsc_list_free(&l);
    }
    gsc_list_free(&souls);
    cr_assert(!b.oom);
    char *s = gsc_dup(b.p ? b.p : "", b.len);
    gun__buf_free(&b);
    return s;
}

/* ---- the tests ---- */

static inline void gsc_t_not_found(gsc *x)
{
    gsc_list l = {0};
    cr_expect_eq(gsc_key(x, "nope", "k", &l), GUN_ENOTFOUND);
    cr_expect_eq(gsc_node(x, "nope", NULL, &l), GUN_ENOTFOUND);
    cr_expect_eq(x->s.ops->souls(x->s.st, NULL, gsc_visit_soul, &l), GUN_OK);
    cr_expect_eq(l.n, 0);
    cr_assert_eq(gsc_write1(x, "a", "k", gsc_vstr("v"), 1), GUN_OK);
    cr_expect_eq(gsc_key(x, "a", "other", &l), GUN_ENOTFOUND);
    cr_expect_eq(gsc_key(x, "b", "k", &l), GUN_ENOTFOUND);
    cr_expect_eq(gsc_node(x, "b", NULL, &l), GUN_ENOTFOUND);
    cr_expect_eq(gsc_node(x, "", NULL, &l), GUN_ENOTFOUND);
    cr_expect_eq(l.n, 0);
    /* A lex that matches nothing on an existing node is not "not found". */
    gun__lex lex = {0};
    lex.has_prefix = 1;
    lex.prefix = gsc_s("zz");
    cr_expect_eq(gsc_node(x, "a", &lex, &l), GUN_OK);
    cr_expect_eq(l.n, 0);
    gsc_list_free(&l);
}

static inline void gsc_t_put_get(gsc *x)
{
    gun__val link = {GUN__V_LINK, 0, 0, gsc_s("alice/car")};
    gun__val tru = {GUN__V_BOOL, 1, 0, {0}}, fal = {GUN__V_BOOL, 0, 0, {0}};
    gun__val nul = {GUN__V_NULL, 0, 0, {0}};
    gun__store_rec recs[] = {
        {gsc_s("alice"), gsc_s("name"), gsc_vstr("Alice"), 1700000000000},
        {gsc_s("alice"), gsc_s("age"), gsc_vnum(42), 1700000000001},
        {gsc_s("alice"), gsc_s("car"), link, 1700000000002},
        {gsc_s("alice"), gsc_s("ok"), tru, 3},
        {gsc_s("alice"), gsc_s("no"), fal, 4},
        {gsc_s("alice"), gsc_s("gone"), nul, 5},
        {gsc_s("alice/car"), gsc_s("color"), gsc_vstr("blue"), 6},
    };
    size_t n = sizeof recs / sizeof recs[0];
    gun__err e = {0};
    cr_assert_eq(x->s.ops->write(x->s.st, recs, n, &e), GUN_OK, "%s", e.msg);

    gsc_list l = {0};
    cr_assert_eq(gsc_node(x, "alice", NULL, &l), GUN_OK);
    char *keys = gsc_keys(&l, 0);
    cr_expect_str_eq(keys, "age|car|gone|name|no|ok");
    free(keys);
    for (size_t i = 0; i < l.n; i++) {
        cr_expect_str_eq(l.r[i].soul, "alice");
        size_t j;
        for (j = 0; j < n; j++)
            if (!strcmp(recs[j].key.p, l.r[i].key) && !strcmp(recs[j].soul.p, "alice"))
                break;
        cr_assert(j < n);
        cr_expect(gsc_val_same(&l.r[i].val, &recs[j].val), "value of %s", l.r[i].key);
        cr_expect(gsc_bits_eq(l.r[i].state, recs[j].state), "state of %s", l.r[i].key);
    }
    gsc_list_free(&l);

    for (size_t j = 0; j < n; j++) {
        cr_assert_eq(x->s.ops->get_key(x->s.st, recs[j].soul, recs[j].key, gsc_visit, &l),
                     GUN_OK);
        cr_assert_eq(l.n, 1);
        cr_expect(gsc_val_same(&l.r[0].val, &recs[j].val));
        cr_expect(gsc_bits_eq(l.r[0].state, recs[j].state));
        cr_expect_str_eq(l.r[0].key, recs[j].key.p);
        gsc_list_free(&l);
    }
}

static inline void gsc_t_overwrite(gsc *x)
{
    cr_assert_eq(gsc_write1(x, "s", "k", gsc_vstr("first, a long string value"), 1), GUN_OK);
    gun__val nul = {GUN__V_NULL, 0, 0, {0}};
    cr_assert_eq(gsc_write1(x, "s", "k", nul, 2), GUN_OK);
    cr_assert_eq(gsc_write1(x, "s", "j", gsc_vnum(1), 3), GUN_OK);
    gsc_list l = {0};
    cr_assert_eq(gsc_node(x, "s", NULL, &l), GUN_OK);
    cr_assert_eq(l.n, 2);
    cr_expect_str_eq(l.r[1].key, "k");
    cr_expect_eq(l.r[1].val.t, GUN__V_NULL);
    cr_expect_eq(l.r[1].state, 2);
    gsc_list_free(&l);
    /* A later record of the same batch wins. */
    gun__store_rec recs[] = {
        {gsc_s("s"), gsc_s("k"), gsc_vstr("x"), 10},
        {gsc_s("t"), gsc_s("k"), gsc_vstr("t1"), 10},
        {gsc_s("s"), gsc_s("k"), gsc_vstr("y"), 11},
        {gsc_s("t"), gsc_s("k"), gsc_vstr("t2"), 12},
    };
    gun__err e = {0};
    cr_assert_eq(x->s.ops->write(x->s.st, recs, 4, &e), GUN_OK);
    cr_assert_eq(gsc_key(x, "s", "k", &l), GUN_OK);
    cr_assert_eq(gsc_key(x, "t", "k", &l), GUN_OK);
    cr_expect_str_eq(l.r[0].val.s.p, "y");
    cr_expect_eq(l.r[0].state, 11);
    cr_expect_str_eq(l.r[1].val.s.p, "t2");
    cr_expect_eq(l.r[1].state, 12);
    gsc_list_free(&l);
    cr_assert_eq(gsc_node(x, "t", NULL, &l), GUN_OK);
    cr_expect_eq(l.n, 1);
    gsc_list_free(&l);
}

static inline void gsc_t_bits(gsc *x)
{
    double states[] = {1700000000000.001, -0.0, 0.0, 5e-324, -5e-324, 0.1 + 0.2, -1e300,
                       1.7976931348623157e308, 1795355861810 + 1.0 / 999, 2.2250738585072014e-308};
    double nums[] = {-0.0, 5e-324, 1e21, 123456789.123456789, -1.5, 4503599627370497.0,
                     0.1 + 0.2, 1.7976931348623157e308, -2.2250738585072009e-308, 1e-7};
    char key[16];
    size_t ns = sizeof states / sizeof states[0];
    for (size_t i = 0; i < ns; i++) {
        snprintf(key, sizeof key, "k%02zu", i);
        cr_assert_eq(gsc_write1(x, "bits", key, gsc_vnum(nums[i]), states[i]), GUN_OK);
    }
    /* Strings with NUL bytes, quotes, controls, astral and lone surrogates (WTF-8). */
    static const char odd[] = "a\0b\"\\\n\x01\xF0\x9F\x98\x80\xED\xA0\x80z";
    gun__val v = {GUN__V_STR, 0, 0, {odd, sizeof odd - 1}};
    cr_assert_eq(gsc_write1(x, "bits", "odd", v, 7), GUN_OK);
    gun__val empty = {GUN__V_STR, 0, 0, {"", 0}};
    cr_assert_eq(gsc_write1(x, "bits", "empty", empty, 8), GUN_OK);

    gsc_list l = {0};
    for (size_t i = 0; i < ns; i++) {
        snprintf(key, sizeof key, "k%02zu", i);
        cr_assert_eq(gsc_key(x, "bits", key, &l), GUN_OK);
        cr_assert_eq(l.n, i + 1);
        cr_expect(gsc_bits_eq(l.r[i].state, states[i]), "state %zu: %.17g", i, l.r[i].state);
        cr_expect_eq(l.r[i].val.t, GUN__V_NUM);
        cr_expect(gsc_bits_eq(l.r[i].val.n, nums[i]), "number %zu", i);
    }
    gsc_list_free(&l);
    cr_assert_eq(gsc_key(x, "bits", "odd", &l), GUN_OK);
    cr_expect(gsc_val_same(&l.r[0].val, &v));
    gsc_list_free(&l);
    cr_assert_eq(gsc_key(x, "bits", "empty", &l), GUN_OK);
    cr_expect_eq(l.r[0].val.t, GUN__V_STR);
    cr_expect_eq(l.r[0].val.s.len, 0);
    gsc_list_free(&l);
}

static inline void gsc_lex_keys(gsc *x)
{
    const char *keys[] = {"c", "ab", "a", "abc", "b", "ba", "abd", "b!"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        cr_assert_eq(gsc_write1(x, "n", keys[i], gsc_vnum((double)i), 1), GUN_OK);
}

static inline void gsc_t_lex(gsc *x)
{
    gsc_lex_keys(x);
    gun__lex lex;
    gsc_expect_keys(x, "n", NULL, "a|ab|abc|abd|b|b!|ba|c");

    memset(&lex, 0, sizeof lex);
    gsc_expect_keys(x, "n", &lex, "a|ab|abc|abd|b|b!|ba|c");
    lex.reverse = 1;
    gsc_expect_keys(x, "n", &lex, "c|ba|b!|b|abd|abc|ab|a");

    memset(&lex, 0, sizeof lex);
    lex.has_eq = 1, lex.eq = gsc_s("ab");
    gsc_expect_keys(x, "n", &lex, "ab");
    lex.reverse = 1;
    gsc_expect_keys(x, "n", &lex, "ab");
    lex.eq = gsc_s("abz");
    gsc_expect_keys(x, "n", &lex, "");

    memset(&lex, 0, sizeof lex);
    lex.has_prefix = 1, lex.prefix = gsc_s("ab");
    gsc_expect_keys(x, "n", &lex, "ab|abc|abd");
    lex.reverse = 1;
    gsc_expect_keys(x, "n", &lex, "abd|abc|ab");
    lex.prefix = gsc_s("b");
    gsc_expect_keys(x, "n", &lex, "ba|b!|b");
    lex.reverse = 0;
    gsc_expect_keys(x, "n", &lex, "b|b!|ba");
    lex.prefix = gsc_s("");
    gsc_expect_keys(x, "n", &lex, "a|ab|abc|abd|b|b!|ba|c");
    lex.prefix = gsc_s("d");
    gsc_expect_keys(x, "n", &lex, "");

    memset(&lex, 0, sizeof lex);
    lex.has_gte = 1, lex.gte = gsc_s("ab");
    lex.has_lte = 1, lex.lte = gsc_s("b!");
    gsc_expect_keys(x, "n", &lex, "ab|abc|abd|b|b!");
    lex.reverse = 1;
    gsc_expect_keys(x, "n", &lex, "b!|b|abd|abc|ab");
    lex.gte = gsc_s("aa"), lex.lte = gsc_s("abcd"); /* bounds that are not keys */
    gsc_expect_keys(x, "n", &lex, "abc|ab");
    lex.gte = gsc_s("b"), lex.lte = gsc_s("a"); /* empty range */
    gsc_expect_keys(x, "n", &lex, "");

    memset(&lex, 0, sizeof lex);
    lex.has_gte = 1, lex.gte = gsc_s("b");
    gsc_expect_keys(x, "n", &lex, "b|b!|ba|c");
    lex.reverse = 1;
    gsc_expect_keys(x, "n", &lex, "c|ba|b!|b");

    memset(&lex, 0, sizeof lex);
    lex.has_lte = 1, lex.lte = gsc_s("ab");
    gsc_expect_keys(x, "n", &lex, "a|ab");
    lex.reverse = 1;
    gsc_expect_keys(x, "n", &lex, "ab|a");

    /* Conditions combine: all must hold. */
    memset(&lex, 0, sizeof lex);
    lex.has_prefix = 1, lex.prefix = gsc_s("ab");
    lex.has_gte = 1, lex.gte = gsc_s("abc");
    gsc_expect_keys(x, "n", &lex, "abc|abd");
    lex.has_lte = 1, lex.lte = gsc_s("abc");
    gsc_expect_keys(x, "n", &lex, "abc");
    lex.reverse = 1;
    gsc_expect_keys(x, "n", &lex, "abc");
}

static inline void gsc_t_visit_stop(gsc *x)
{
    gsc_lex_keys(x);
    gsc_list l = {0};
    l.stop_after = 3;
    cr_assert_eq(gsc_node(x, "n", NULL, &l), GUN_OK);
    char *k = gsc_keys(&l, 0);
    cr_expect_str_eq(k, "a|ab|abc");
    free(k);
    gsc_list_free(&l);
    gun__lex lex = {0};
    lex.reverse = 1;
    l.stop_after = 2;
    cr_assert_eq(gsc_node(x, "n", &lex, &l), GUN_OK);
    k = gsc_keys(&l, 0);
    cr_expect_str_eq(k, "c|ba");
    free(k);
    gsc_list_free(&l);
}

static inline void gsc_t_souls(gsc *x)
{
    const char *souls[] = {"bob", "alice", "alice/car", "~pub", "carol", "al", "Zed"};
    for (size_t i = 0; i < sizeof souls / sizeof souls[0]; i++)
        cr_assert_eq(gsc_write1(x, souls[i], "k", gsc_vnum(1), 1), GUN_OK);
    gsc_list l = {0};
    cr_assert_eq(x->s.ops->souls(x->s.st, NULL, gsc_visit_soul, &l), GUN_OK);
    char *got = gsc_keys(&l, 1);
    cr_expect_str_eq(got, "Zed|al|alice|alice/car|bob|carol|~pub");
    free(got);
    gsc_list_free(&l);

    gun__lex lex = {0};
    lex.has_prefix = 1, lex.prefix = gsc_s("al");
    lex.reverse = 1;
    cr_assert_eq(x->s.ops->souls(x->s.st, &lex, gsc_visit_soul, &l), GUN_OK);
    got = gsc_keys(&l, 1);
    cr_expect_str_eq(got, "alice/car|alice|al");
    free(got);
    gsc_list_free(&l);

    memset(&lex, 0, sizeof lex);
    lex.has_gte = 1, lex.gte = gsc_s("alice");
    lex.has_lte = 1, lex.lte = gsc_s("bob");
    cr_assert_eq(x->s.ops->souls(x->s.st, &lex, gsc_visit_soul, &l), GUN_OK);
    got = gsc_keys(&l, 1);
    cr_expect_str_eq(got, "alice|alice/car|bob");
    free(got);
    gsc_list_free(&l);

    memset(&lex, 0, sizeof lex);
    lex.has_eq = 1, lex.eq = gsc_s("carol");
    cr_assert_eq(x->s.ops->souls(x->s.st, &lex, gsc_visit_soul, &l), GUN_OK);
    cr_expect_eq(l.n, 1);
    gsc_list_free(&l);
}

static inline void gsc_t_many_souls(gsc *x)
{
    /* 5,000 souls in one write, in scrambled order. */
    enum { N = 5000 };
    static char names[N][16];
    gun__store_rec *recs = calloc(N, sizeof *recs);
    cr_assert(recs);
    for (int i = 0; i < N; i++) {
        /* 7919 is prime and does not divide N: i -> i*7919 % N scrambles 0..N-1. */
        snprintf(names[i], sizeof names[i], "soul%05d", (i * 7919) % N);
        recs[i] = (gun__store_rec){gsc_s(names[i]), gsc_s("k"), gsc_vnum(i), i};
    }
    gun__err e = {0};
    cr_assert_eq(x->s.ops->write(x->s.st, recs, N, &e), GUN_OK, "%s", e.msg);
    free(recs);
    gsc_list l = {0};
    cr_assert_eq(x->s.ops->souls(x->s.st, NULL, gsc_visit_soul, &l), GUN_OK);
    cr_assert_eq(l.n, N);
    for (int i = 0; i < N; i++) {
        char want[16];
        snprintf(want, sizeof want, "soul%05d", i);
        cr_assert_str_eq(l.r[i].soul, want);
    }
    gsc_list_free(&l);
    gun__lex lex = {0};
    lex.has_prefix = 1, lex.prefix = gsc_s("soul012");
    cr_assert_eq(x->s.ops->souls(x->s.st, &lex, gsc_visit_soul, &l), GUN_OK);
    cr_expect_eq(l.n, 100);
    cr_expect_str_eq(l.r[0].soul, "soul01200");
    cr_expect_str_eq(l.r[99].soul, "soul01299");
    gsc_list_free(&l);
}

/* U+0061 < U+00E9 < U+D800 (lone) < U+1F600 (D83D DE00) < U+DBFF (lone) < U+DC00 (lone)
 * < U+E000 < U+FFFD < U+FFFF in UTF-16 order. UTF-8/WTF-8 byte order would put U+1F600
 * (F0 ..) after U+FFFF (EF BF BF). */
static inline void gsc_t_unicode(gsc *x)
{
    static const char *k[] = {
        "\xEF\xBF\xBF",         /* U+FFFF */
        "\xF0\x9F\x98\x80",     /* U+1F600 */
        "\xEE\x80\x80",         /* U+E000 */
        "a",                    /* U+0061 */
        "\xED\xA0\x80",         /* lone U+D800 */
        "\xC3\xA9",             /* U+00E9 */
        "\xED\xAF\xBF",         /* lone U+DBFF */
        "\xEF\xBF\xBD",         /* U+FFFD */
        "\xED\xB0\x80",         /* lone U+DC00 */
        "\xF0\x9F\x98\x80x",    /* U+1F600 x */
        "\xF4\x8F\xBF\xBF",     /* U+10FFFF (DBFF DFFF) */
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        cr_assert_eq(gsc_write1(x, "u", k[i], gsc_vnum((double)i), 1), GUN_OK);
    const char *want = "a|\xC3\xA9|\xED\xA0\x80|\xF0\x9F\x98\x80|\xF0\x9F\x98\x80x|"
                       "\xED\xAF\xBF|\xF4\x8F\xBF\xBF|\xED\xB0\x80|\xEE\x80\x80|\xEF\xBF\xBD|"
                       "\xEF\xBF\xBF";
    gsc_expect_keys(x, "u", NULL, want);

    gun__lex lex = {0};
    /* Range from U+E000 to U+FFFF excludes the astral keys. */
    lex.has_gte = 1, lex.gte = gsc_s("\xEE\x80\x80");
    lex.has_lte = 1, lex.lte = gsc_s("\xEF\xBF\xBF");
    gsc_expect_keys(x, "u", &lex, "\xEE\x80\x80|\xEF\xBF\xBD|\xEF\xBF\xBF");
    /* Range from U+D800 to U+DBFF holds the astral keys starting D83D. */
    lex.gte = gsc_s("\xED\xA0\x80"), lex.lte = gsc_s("\xED\xAF\xBF");
    gsc_expect_keys(x, "u", &lex,
                    "\xED\xA0\x80|\xF0\x9F\x98\x80|\xF0\x9F\x98\x80x|\xED\xAF\xBF");
    /* JS: "😀x".startsWith("\uD83D") is true: a prefix may end inside a pair. */
    memset(&lex, 0, sizeof lex);
    lex.has_prefix = 1, lex.prefix = gsc_s("\xED\xA0\xBD"); /* lone U+D83D */
    gsc_expect_keys(x, "u", &lex, "\xF0\x9F\x98\x80|\xF0\x9F\x98\x80x");
    lex.reverse = 1;
    gsc_expect_keys(x, "u", &lex, "\xF0\x9F\x98\x80x|\xF0\x9F\x98\x80");
    lex.reverse = 0;
    lex.prefix = gsc_s("\xF0\x9F\x98\x80");
    gsc_expect_keys(x, "u", &lex, "\xF0\x9F\x98\x80|\xF0\x9F\x98\x80x");
    /* Souls order the same way. */
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        cr_assert_eq(gsc_write1(x, k[i], "k", gsc_vnum((double)i), 1), GUN_OK);
    gsc_list l = {0};
    cr_assert_eq(x->s.ops->souls(x->s.st, NULL, gsc_visit_soul, &l), GUN_OK);
    char *got = gsc_keys(&l, 1);
    /* soul "u" sorts between "a" and U+00E9 */
    cr_expect_str_eq(got, "a|u|\xC3\xA9|\xED\xA0\x80|\xF0\x9F\x98\x80|\xF0\x9F\x98\x80x|"
                          "\xED\xAF\xBF|\xF4\x8F\xBF\xBF|\xED\xB0\x80|\xEE\x80\x80|"
                          "\xEF\xBF\xBD|\xEF\xBF\xBF");
    free(got);
    gsc_list_free(&l);
}

static inline void gsc_t_large_node(gsc *x)
{
    enum { N = 10000 };
    static char names[N][16];
    gun__store_rec *recs = calloc(N, sizeof *recs);
    cr_assert(recs);
    for (int i = 0; i < N; i++) {
        /* 7919 is prime and does not divide N: a scrambled permutation of 0..N-1. */
        int k = (int)(((long)i * 7919) % N);
        snprintf(names[i], sizeof names[i], "key%05d", k);
        recs[i] = (gun__store_rec){gsc_s("big"), gsc_s(names[i]), gsc_vnum(k), 1000.0 + k};
    }
    gun__err e = {0};
    /* Half in one write, the rest one record per write: both paths build the node. */
    cr_assert_eq(x->s.ops->write(x->s.st, recs, N / 2, &e), GUN_OK, "%s", e.msg);
    for (int i = N / 2; i < N; i++)
        cr_assert_eq(x->s.ops->write(x->s.st, &recs[i], 1, &e), GUN_OK);
    free(recs);
    gsc_list l = {0};
    cr_assert_eq(gsc_node(x, "big", NULL, &l), GUN_OK);
    cr_assert_eq(l.n, N);
    for (int i = 0; i < N; i++) {
        char want[16];
        snprintf(want, sizeof want, "key%05d", i);
        cr_assert_str_eq(l.r[i].key, want);
        cr_assert_eq(l.r[i].val.n, i);
        cr_assert_eq(l.r[i].state, 1000.0 + i);
    }
    gsc_list_free(&l);
    gun__lex lex = {0};
    lex.has_gte = 1, lex.gte = gsc_s("key04990");
    lex.has_lte = 1, lex.lte = gsc_s("key05009");
    lex.reverse = 1;
    cr_assert_eq(gsc_node(x, "big", &lex, &l), GUN_OK);
    cr_assert_eq(l.n, 20);
    cr_expect_str_eq(l.r[0].key, "key05009");
    cr_expect_str_eq(l.r[19].key, "key04990");
    gsc_list_free(&l);
    cr_assert_eq(gsc_key(x, "big", "key09999", &l), GUN_OK);
    cr_expect_eq(l.r[0].val.n, 9999);
    gsc_list_free(&l);
}

static inline void gsc_t_large_value(gsc *x)
{
    size_t n = 1 << 20;
    char *big = malloc(n + 1);
    cr_assert(big);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)('a' + i % 26);
    big[n] = 0;
    gun__val v = {GUN__V_STR, 0, 0, {big, n}};
    cr_assert_eq(gsc_write1(x, "big", "v", v, 1), GUN_OK);
    gsc_list l = {0};
    cr_assert_eq(gsc_key(x, "big", "v", &l), GUN_OK);
    cr_assert_eq(l.r[0].val.s.len, n);
    cr_expect_eq(memcmp(l.r[0].val.s.p, big, n), 0);
    gsc_list_free(&l);
    free(big);
}

static inline void gsc_t_atomic_refused(gsc *x)
{
    cr_assert_eq(gsc_write1(x, "keep", "k", gsc_vstr("v"), 1), GUN_OK);
    char *before = gsc_dump(x);
    static const char nul_soul[] = "a\0b";
    gun__store_rec recs[] = {
        {gsc_s("keep"), gsc_s("k"), gsc_vstr("changed"), 2},
        {gsc_s("new"), gsc_s("k"), gsc_vstr("v"), 1},
        {gsc_s(""), gsc_s("k"), gsc_vstr("v"), 1},
    };
    gun__err e = {0};
    cr_expect_eq(x->s.ops->write(x->s.st, recs, 3, &e), GUN_EINVAL);
    recs[2].soul = (gun__str){nul_soul, 3};
    cr_expect_eq(x->s.ops->write(x->s.st, recs, 3, &e), GUN_EINVAL);
    char *after = gsc_dump(x);
    cr_expect_str_eq(after, before);
    free(before);
    free(after);
}

static int gsc_fail_at = -1;
static void *gsc_fmalloc(size_t n) { return gsc_fail_at-- == 0 ? NULL : malloc(n); }
static void *gsc_frealloc(void *p, size_t n) { return gsc_fail_at-- == 0 ? NULL : realloc(p, n); }
static void *gsc_fcalloc(size_t a, size_t b) { return gsc_fail_at-- == 0 ? NULL : calloc(a, b); }

/* Fails the 1st, 2nd, ... allocation of a mixed write until it succeeds; every failure
 * must leave the store exactly as it was. */
static inline void gsc_t_atomic_oom(gsc *x)
{
    cr_assert_eq(gsc_write1(x, "old", "a", gsc_vstr("1"), 1), GUN_OK);
    cr_assert_eq(gsc_write1(x, "old", "b", gsc_vstr("2"), 1), GUN_OK);
    char *before = gsc_dump(x);
    gun__val link = {GUN__V_LINK, 0, 0, gsc_s("old")};
    gun__store_rec recs[] = {
        {gsc_s("old"), gsc_s("a"), gsc_vstr("changed a"), 2},
        {gsc_s("old"), gsc_s("c"), gsc_vstr("new c"), 2},
        {gsc_s("new1"), gsc_s("x"), link, 2},
        {gsc_s("new1"), gsc_s("y"), gsc_vnum(3), 2},
        {gsc_s("new2"), gsc_s("x"), gsc_vstr("n2"), 2},
        {gsc_s("new1"), gsc_s("x"), gsc_vstr("again"), 3},
    };
    int ok = 0;
    for (int nth = 0; nth < 10000 && !ok; nth++) {
        gun__err e = {0};
        gun_replace_allocator(gsc_fmalloc, gsc_frealloc, gsc_fcalloc, free);
        gsc_fail_at = nth;
        int rc = x->s.ops->write(x->s.st, recs, sizeof recs / sizeof recs[0], &e);
        gsc_fail_at = -1;
        gun_replace_allocator(NULL, NULL, NULL, NULL);
        if (rc == GUN_OK) {
            ok = 1;
            break;
        }
        cr_assert_eq(rc, GUN_ENOMEM, "allocation %d: rc %d", nth, rc);
        char *now = gsc_dump(x);
        cr_assert_str_eq(now, before, "allocation %d failed but the store changed", nth);
        free(now);
    }
    cr_assert(ok);
    free(before);
    gsc_list l = {0};
    cr_assert_eq(gsc_node(x, "old", NULL, &l), GUN_OK);
    char *k = gsc_keys(&l, 0);
    cr_expect_str_eq(k, "a|b|c");
    free(k);
    cr_expect_str_eq(l.r[0].val.s.p, "changed a");
    gsc_list_free(&l);
    cr_assert_eq(gsc_key(x, "new1", "x", &l), GUN_OK);
    cr_expect_str_eq(l.r[0].val.s.p, "again");
    cr_expect_eq(l.r[0].state, 3);
    gsc_list_free(&l);
}

static inline void gsc_t_reopen(gsc *x, int persistent)
{
    if (!persistent)
        cr_skip_test("%s does not persist", x->ops->name);
    cr_assert_eq(gsc_write1(x, "p", "k", gsc_vnum(1700000000000.001), 1700000000000.001), GUN_OK);
    char *before = gsc_dump(x);
    gun__store_close(&x->s);
    gsc_open(x);
    char *after = gsc_dump(x);
    cr_expect_str_eq(after, before);
    free(before);
    free(after);
}

/* stat: what a store reports (it may say -1, "cannot tell cheaply") is exact, and survives
 * overwrites (same keys) and reopening. */
static inline void gsc_t_stat(gsc *x, int persistent)
{
    if (!x->ops->stat)
        cr_skip_test("%s has no stat", x->ops->name);
    gun__store_stat st;
    x->ops->stat(x->s.st, &st);
    cr_expect(st.souls <= 0 && st.keys <= 0, "empty store: %lld souls %lld keys",
              (long long)st.souls, (long long)st.keys);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 2; j++) {
            char soul[8], key[8];
            snprintf(soul, sizeof soul, "s%d", i);
            snprintf(key, sizeof key, "k%d", j);
            cr_assert_eq(gsc_write1(x, soul, key, gsc_vnum(j), 1), GUN_OK);
            cr_assert_eq(gsc_write1(x, soul, key, gsc_vnum(j + 1), 2), GUN_OK); /* same key */
        }
    for (int round = 0; round < (persistent ? 2 : 1); round++) {
        if (round) {
            gun__store_close(&x->s);
            gsc_open(x);
        }
        x->ops->stat(x->s.st, &st);
        cr_expect(st.souls == -1 || st.souls == 3, "souls %lld", (long long)st.souls);
        cr_expect(st.keys == -1 || st.keys == 6, "keys %lld", (long long)st.keys);
        cr_expect(st.bytes == -1 || st.bytes > 0, "bytes %lld", (long long)st.bytes);
        cr_expect(st.souls >= 0 || st.keys >= 0, "%s tells nothing", x->ops->name);
    }
}

#define GSC__TEST(suite, name, ops, setup, teardown, body)                                  \
    Test(suite, name)                                                                       \
    {                                                                                       \
        gsc x;                                                                              \
        gsc_begin(&x, ops, setup, teardown);                                                \
        body;                                                                               \
        gsc_end(&x);                                                                        \
    }

#define GUN_STORE_CONFORMANCE(suite, ops, setup, teardown, persistent)                       \
    GSC__TEST(suite, not_found, ops, setup, teardown, gsc_t_not_found(&x))                  \
    GSC__TEST(suite, put_get_node_and_key, ops, setup, teardown, gsc_t_put_get(&x))         \
    GSC__TEST(suite, overwrite_and_batch_order, ops, setup, teardown, gsc_t_overwrite(&x))  \
    GSC__TEST(suite, values_and_states_bit_for_bit, ops, setup, teardown, gsc_t_bits(&x))   \
    GSC__TEST(suite, lex_ranges_prefixes_reverse, ops, setup, teardown, gsc_t_lex(&x))      \
    GSC__TEST(suite, visitor_stops_walk, ops, setup, teardown, gsc_t_visit_stop(&x))        \
    GSC__TEST(suite, soul_listing, ops, setup, teardown, gsc_t_souls(&x))                   \
    GSC__TEST(suite, many_souls_ordered, ops, setup, teardown, gsc_t_many_souls(&x))        \
    GSC__TEST(suite, unicode_utf16_order, ops, setup, teardown, gsc_t_unicode(&x))          \
    GSC__TEST(suite, large_node_10000_keys, ops, setup, teardown, gsc_t_large_node(&x))     \
    GSC__TEST(suite, large_value_1mb, ops, setup, teardown, gsc_t_large_value(&x))          \
    GSC__TEST(suite, atomic_batch_refused_record, ops, setup, teardown,                     \
              gsc_t_atomic_refused(&x))                                                     \
    GSC__TEST(suite, atomic_batch_every_oom, ops, setup, teardown, gsc_t_atomic_oom(&x))    \
    GSC__TEST(suite, survives_reopen, ops, setup, teardown, gsc_t_reopen(&x, persistent))  \
    GSC__TEST(suite, stat_counts, ops, setup, teardown, gsc_t_stat(&x, persistent))

#endif

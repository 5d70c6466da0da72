/* The memory store against the shared store conformance suite. */
#include "store_conformance.h"

GUN_STORE_CONFORMANCE(store_mem, &gun__store_mem_ops, NULL, NULL, 0)

Test(store_mem, ops_table_is_versioned)
{
    cr_expect_eq(gun__store_mem_ops.version, GUN__STORE_OPS_VERSION);
    cr_expect_str_eq(gun__store_mem_ops.name, "mem");
    gun__store_ops bad = gun__store_mem_ops;
    bad.version = GUN__STORE_OPS_VERSION + 1;
    gun__store s;
    gun__err e = {0};
    cr_expect_eq(gun__store_open(&s, &bad, NULL, &e), GUN_EINVAL);
    cr_expect_eq(e.code, GUN_EINVAL);
}

Test(store_mem, open_fails_cleanly_on_oom)
{
    for (int nth = 0; nth < 2; nth++) {
        gun_replace_allocator(gsc_fmalloc, gsc_frealloc, gsc_fcalloc, free);
        gsc_fail_at = nth;
        gun__store s;
        gun__err e = {0};
        int rc = gun__store_open(&s, &gun__store_mem_ops, NULL, &e);
        gsc_fail_at = -1;
        gun_replace_allocator(NULL, NULL, NULL, NULL);
        cr_expect_eq(rc, GUN_ENOMEM, "allocation %d", nth);
    }
}

Test(store_mem, lex_match_rules)
{
    gun__lex lex = {0};
    cr_expect(gun__lex_match(NULL, gsc_s("x")));
    cr_expect(gun__lex_match(&lex, gsc_s("x")));
    lex.has_prefix = 1, lex.prefix = gsc_s("ab");
    cr_expect(gun__lex_match(&lex, gsc_s("ab")));
    cr_expect(gun__lex_match(&lex, gsc_s("abc")));
    cr_expect(!gun__lex_match(&lex, gsc_s("a")));
    cr_expect(!gun__lex_match(&lex, gsc_s("b")));
    /* startsWith over UTF-16 units: a lone high surrogate prefixes its astral pair. */
    cr_expect(gun__lex_has_prefix(gsc_s("\xF0\x9F\x98\x80"), gsc_s("\xED\xA0\xBD")));
    cr_expect(!gun__lex_has_prefix(gsc_s("\xF0\x9F\x98\x80"), gsc_s("\xED\xA0\xBE")));
    cr_expect(!gun__lex_has_prefix(gsc_s("\xF0\x9F"), gsc_s("\xED\xA0\xBD\xED\xB8\x80x")));
    memset(&lex, 0, sizeof lex);
    lex.has_gte = 1, lex.gte = gsc_s("b");
    lex.has_lte = 1, lex.lte = gsc_s("d");
    cr_expect(gun__lex_match(&lex, gsc_s("b")));
    cr_expect(gun__lex_match(&lex, gsc_s("d")));
    cr_expect(!gun__lex_match(&lex, gsc_s("d!")));
    cr_expect(!gun__lex_match(&lex, gsc_s("a")));
    cr_expect(gun__lex_below(&lex, gsc_s("a")) && !gun__lex_above(&lex, gsc_s("a")));
    cr_expect(gun__lex_above(&lex, gsc_s("e")) && !gun__lex_below(&lex, gsc_s("e")));
    memset(&lex, 0, sizeof lex);
    lex.has_eq = 1, lex.eq = gsc_s("k");
    cr_expect(gun__lex_match(&lex, gsc_s("k")));
    cr_expect(!gun__lex_match(&lex, gsc_s("k2")));
    cr_expect(gun__lex_above(&lex, gsc_s("k2")));
}

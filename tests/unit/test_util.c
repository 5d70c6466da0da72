/* util: buffers, UTF-16 views, hashing, ids, errors. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "util/util.h"

Test(util, strerror_covers_every_code)
{
#define CHECK(name, val, text) cr_expect_str_eq(gun_strerror(val), text);
    GUN_ERR_MAP(CHECK)
#undef CHECK
    cr_expect_str_eq(gun_strerror(-9999), "unknown error");
    cr_expect_str_eq(gun_strerror(GUN_OK), "success");
}

Test(util, version_matches_header)
{
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", GUN_VERSION_MAJOR, GUN_VERSION_MINOR,
             GUN_VERSION_PATCH);
    cr_expect_str_eq(gun_version(), want);
}

Test(util, buf_grows_and_takes)
{
    gun__buf b;
    gun__buf_init(&b);
    for (int i = 0; i < 1000; i++)
        gun__buf_printf(&b, "%d,", i);
    cr_assert(!b.oom);
    cr_expect_eq(strncmp(b.p, "0,1,2,", 6), 0);
    cr_expect_eq(b.p[b.len], 0);
    size_t len = b.len;
    char *s = gun__buf_take(&b);
    cr_expect_eq(strlen(s), len);
    cr_expect_eq(b.p, NULL);
    gun__free(s);
    /* a long printf takes the slow path */
    char big[600];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    gun__buf_printf(&b, "<%s>", big);
    cr_expect_eq(b.len, 601);
    gun__buf_free(&b);
}

static int fail_after = -1;
static void *fail_malloc(size_t n) { return fail_after-- == 0 ? NULL : malloc(n); }
static void *fail_realloc(void *p, size_t n) { return fail_after-- == 0 ? NULL : realloc(p, n); }
static void *fail_calloc(size_t a, size_t b) { return fail_after-- == 0 ? NULL : calloc(a, b); }

Test(util, buf_oom_is_sticky)
{
    cr_assert_eq(gun_replace_allocator(fail_malloc, fail_realloc, fail_calloc, free), GUN_OK);
    fail_after = 0;
    gun__buf b;
    gun__buf_init(&b);
    gun__buf_adds(&b, "hello");
    gun__buf_adds(&b, "world");
    cr_expect(b.oom);
    cr_expect_eq(gun__buf_take(&b), NULL);
    cr_assert_eq(gun_replace_allocator(NULL, NULL, NULL, NULL), GUN_OK);
    cr_expect_eq(gun_replace_allocator(malloc, NULL, NULL, NULL), GUN_EINVAL);
}

Test(util, utf16_order_differs_from_bytes_above_bmp)
{
    const char *astral = "\xF0\x9F\x98\x80"; /* U+1F600: units D83D DE00 */
    const char *pua = "\xEE\x80\x80";         /* U+E000 */
    /* bytes: F0 > EE, so astral sorts after; UTF-16: D83D < E000, so astral sorts first */
    cr_expect_gt(memcmp(astral, pua, 3), 0);
    cr_expect_lt(gun__utf16_cmp(astral, 4, pua, 3), 0);
    cr_expect_gt(gun__utf16_cmp(pua, 3, astral, 4), 0);
    cr_expect_eq(gun__utf16_cmp("abc", 3, "abc", 3), 0);
    cr_expect_lt(gun__utf16_cmp("ab", 2, "abc", 3), 0);
    cr_expect_gt(gun__utf16_cmp("b", 1, "abc", 3), 0);
    /* shared prefix ending inside a multibyte char */
    cr_expect_lt(gun__utf16_cmp("x\xC3\xA9", 3, "x\xC3\xAA", 3), 0);
    cr_expect_eq(gun__utf16_len(astral, 4), 2);
    cr_expect_eq(gun__utf16_len("a\xC3\xA9", 3), 2);
}

Test(util, lone_surrogates_are_code_units)
{
    const char *lone = "\xED\xA0\x80"; /* U+D800 in WTF-8 */
    uint32_t cp = 0;
    cr_expect_eq(gun__wtf8_decode(lone, 3, &cp), 3);
    cr_expect_eq(cp, 0xD800);
    cr_expect_eq(gun__utf16_len(lone, 3), 1);
    cr_expect_eq(gun__hash_utf16(lone, 3, 0), 0xD800);
    gun__buf b;
    gun__buf_init(&b);
    gun__buf_add_cp(&b, 0xDC00);
    gun__buf_add_cp(&b, 0x1F600);
    cr_expect_eq(b.len, 7);
    cr_expect_eq(gun__utf16_len(b.p, b.len), 3);
    gun__buf_free(&b);
}

Test(util, java_hashcode)
{
    /* "hello".hashCode() == 99162322 in Java; "" is 0 */
    cr_expect_eq(gun__hash_utf16("hello", 5, 0), 99162322);
    cr_expect_eq(gun__hash_utf16("", 0, 0), 0);
    /* slices seeded with the previous value give the one-pass result */
    int32_t one = gun__hash_utf16("helloworld", 10, 0);
    cr_expect_eq(gun__hash_utf16("world", 5, gun__hash_utf16("hello", 5, 0)), one);
    /* overflow wraps to a negative int32 like JS |0 */
    cr_expect_lt(gun__hash_utf16("the quick brown fox jumps", 25, 0), 0);
}

Test(util, random_ids_use_gun_alphabet)
{
    cr_expect_eq(strlen(gun__id_alphabet), 61);
    cr_expect_eq(strchr(gun__id_alphabet, 'Y'), NULL);
    int seen[256] = {0};
    for (int k = 0; k < 2000; k++) {
        char id[10];
        cr_assert_eq(gun__random_id(id, 9), GUN_OK);
        cr_assert_eq(strlen(id), 9);
        for (int i = 0; i < 9; i++) {
            cr_assert_neq(strchr(gun__id_alphabet, id[i]), NULL);
            seen[(unsigned char)id[i]]++;
        }
    }
    /* 18,000 draws over 61 symbols: every symbol shows up */
    for (int i = 0; i < 61; i++)
        cr_expect_gt(seen[(unsigned char)gun__id_alphabet[i]], 0);
}

Test(util, fail_formats_message)
{
    gun__err e;
    cr_expect_eq(gun__fail(&e, GUN_EBADKEY, "bad key '%s'", "x"), GUN_EBADKEY);
    cr_expect_eq(e.code, GUN_EBADKEY);
    cr_expect_str_eq(e.msg, "bad key 'x'");
    cr_expect_eq(gun__fail(NULL, GUN_EIO, "ignored"), GUN_EIO);
}

Test(util, utf16_cmp_prefix_cases)
{
    /* "é" (C3 A9) against a lone C3 byte (U+FFFD for a decoder): E9 < FFFD */
    cr_expect_lt(gun__utf16_cmp("\xC3\xA9", 2, "\xC3", 1), 0);
    cr_expect_gt(gun__utf16_cmp("\xC3", 1, "\xC3\xA9", 2), 0);
    /* whole code points: the shorter sorts first */
    cr_expect_lt(gun__utf16_cmp("a\xC3\xA9", 3, "a\xC3\xA9x", 4), 0);
    cr_expect_eq(gun__utf16_cmp("a\xC3\xA9", 3, "a\xC3\xA9", 3), 0);
    cr_expect_lt(gun__utf16_cmp("", 0, "a", 1), 0);
}

/* core values: JSON conversion (Gun.valid), JSON.stringify text, the HAM tie-break
 * comparison, equality, copies. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

static gun__json *parse(const char *text)
{
    gun__json *j = NULL;
    gun__err e = {0};
    gun__limits lim = {1 << 20, 64};
    int rc = gun__json_parse(text, strlen(text), &lim, &j, &e);
    cr_assert_eq(rc, GUN_OK, "parse %s: %s", text, e.msg);
    return j;
}

static int from_text(const char *text, gun__val *v)
{
    gun__json *j = parse(text);
    int rc = gun__val_from_json(j, v);
    /* v views into j: copy before freeing */
    if (rc == GUN_OK)
        cr_assert_eq(gun__val_copy(v, v), GUN_OK);
    gun__json_free(j);
    return rc;
}

static char *text_of(const gun__val *v)
{
    gun__buf b;
    gun__buf_init(&b);
    gun__val_write(&b, v);
    cr_assert(!b.oom);
    return gun__buf_take(&b);
}

Test(value, valid_types_from_json)
{
    gun__val v;
    cr_assert_eq(from_text("null", &v), GUN_OK);
    cr_expect_eq(v.t, GUN__V_NULL);
    cr_assert_eq(from_text("true", &v), GUN_OK);
    cr_expect(v.t == GUN__V_BOOL && v.b == 1);
    cr_assert_eq(from_text("false", &v), GUN_OK);
    cr_expect(v.t == GUN__V_BOOL && v.b == 0);
    cr_assert_eq(from_text("-12.5", &v), GUN_OK);
    cr_expect(v.t == GUN__V_NUM && v.n == -12.5);
    cr_assert_eq(from_text("\"hi\"", &v), GUN_OK);
    cr_expect(v.t == GUN__V_STR && v.s.len == 2 && !memcmp(v.s.p, "hi", 2));
    gun__val_clear(&v);
    cr_assert_eq(from_text("\"\"", &v), GUN_OK);
    cr_expect(v.t == GUN__V_STR && v.s.len == 0);
    gun__val_clear(&v);
    cr_assert_eq(from_text("{\"#\":\"alice/car\"}", &v), GUN_OK);
    cr_expect(v.t == GUN__V_LINK && v.s.len == 9 && !memcmp(v.s.p, "alice/car", 9));
    gun__val_clear(&v);
}

Test(value, invalid_values_rejected)
{
    const char *bad[] = {
        "[]", "[1,2]", "{}", "{\"x\":\"y\"}", "{\"#\":\"a\",\"b\":1}", "{\"#\":1}",
        "{\"#\":null}", "{\"#\":{\"#\":\"a\"}}",
        "{\"#\":\"\"}", /* Gun.valid ends in `&& v["#"]`: the empty soul is falsy */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gun__val v;
        cr_expect_eq(from_text(bad[i], &v), GUN_EBADVALUE, "%s", bad[i]);
    }
    /* Non-finite numbers cannot come from JSON but can from the API. */
    double nf[] = {NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < 3; i++) {
        gun__json *j = gun__json_num(nf[i]);
        gun__val v;
        cr_expect_eq(gun__val_from_json(j, &v), GUN_EBADVALUE);
        gun__json_free(j);
    }
    gun__val v;
    cr_expect_eq(gun__val_from_json(NULL, &v), GUN_EBADVALUE); /* undefined */
}

Test(value, write_is_json_stringify)
{
    struct {
        const char *in, *out;
    } t[] = {
        {"null", "null"},
        {"true", "true"},
        {"false", "false"},
        {"-0", "0"},
        {"1e21", "1e+21"},
        {"123456789012345680000", "123456789012345680000"},
        {"0.000001", "0.000001"},
        {"1e-7", "1e-7"},
        {"1700000000000.001", "1700000000000.001"},
        {"\"a\\\"b\\\\c\\n\\u0001\\u001f\\u007f\"", "\"a\\\"b\\\\c\\n\\u0001\\u001f\x7f\""},
        {"\"\\ud83d\\ude00 \\u00e9\"", "\"\xF0\x9F\x98\x80 \xC3\xA9\""},
        {"\"/\"", "\"/\""},
        {"{\"#\":\"s\\\"q\"}", "{\"#\":\"s\\\"q\"}"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        gun__val v;
        cr_assert_eq(from_text(t[i].in, &v), GUN_OK, "%s", t[i].in);
        char *s = text_of(&v);
        cr_expect_str_eq(s, t[i].out, "JSON.stringify(%s)", t[i].in);
        gun__free(s);
        gun__val_clear(&v);
    }
}

Test(value, to_json_round_trip)
{
    const char *in[] = {"null", "true", "false", "3.25", "\"x\\u0000y\"", "{\"#\":\"a\"}"};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        gun__val v, w;
        cr_assert_eq(from_text(in[i], &v), GUN_OK);
        gun__json *j = gun__val_to_json(&v);
        cr_assert(j);
        cr_assert_eq(gun__val_from_json(j, &w), GUN_OK);
        cr_expect(gun__val_eq(&v, &w), "%s", in[i]);
        gun__json_free(j);
        gun__val_clear(&v);
    }
}

static int sgn(int x) { return (x > 0) - (x < 0); }

static gun__val S(const char *p) { return (gun__val){GUN__V_STR, 0, 0, gun__str_c(p)}; }
static gun__val N(double n) { return (gun__val){GUN__V_NUM, 0, n, {0}}; }
static gun__val L(const char *p) { return (gun__val){GUN__V_LINK, 0, 0, gun__str_c(p)}; }
static const gun__val NUL = {GUN__V_NULL, 0, 0, {0}};
static const gun__val T = {GUN__V_BOOL, 1, 0, {0}};
static const gun__val F = {GUN__V_BOOL, 0, 0, {0}};

Test(value, cmp_orders_json_texts_as_js)
{
    struct {
        gun__val a, b;
        int want; /* sign of JSON.stringify(a) vs JSON.stringify(b) in JS */
    } t[] = {
        /* across types: '"' < '-' < digits < f < n < t < { */
        {S("zzz"), N(-1), -1},
        {N(-1), N(0), -1},
        {N(9), F, -1},
        {F, NUL, -1},
        {NUL, T, -1},
        {T, L("a"), -1},
        {S("~~~"), L(""), -1},
        /* numbers compare as text */
        {N(10), N(9), -1},
        {N(-1), N(1), -1},
        {N(-10), N(-9), -1},
        {N(1e21), N(2), -1},
        {N(1.5), N(1), 1},
        {N(0), N(-0.0), 0},
        {N(100), N(1e2), 0},
        /* strings: escapes and the closing quote take part */
        {S("ab"), S("ab!"), 1},  /* '"' (0x22) > '!' (0x21) */
        {S("ab"), S("ab "), 1},
        {S("ab"), S("ab#"), -1},
        {S("ab"), S("abc"), -1},
        {S("a\n"), S("a!"), 1},  /* "\\n": '\\' 0x5C > '!' */
        {S("a\""), S("a#"), 1},  /* "\\\"": '\\' > '#' */
        {S("a\""), S("a]"), -1}, /* '\\' 0x5C < ']' 0x5D */
        {S("a\x01"), S("a\\"), 1}, /* "\\u0001" vs "\\\\": 'u' 0x75 > '\\' 0x5C */
        {S("\xEE\x80\x80"), S("\xF0\x9F\x98\x80"), 1}, /* U+E000 > U+1F600 (D83D) */
        {S("\xEF\xBF\xBF"), S("\xF0\x9F\x98\x80"), 1}, /* U+FFFF > U+1F600 */
        {S("\xED\xA0\x80"), S("\x7f"), -1}, /* lone U+D800 is written "\\ud800" */
        {S("\xED\xA0\x80"), S("\\"), 1},    /* "\\ud800" vs "\\\\": 'u' > '\\' */
        {S("Alice"), S("Al"), 1},
        {S("Zed"), S("Alice"), 1},
        {S(""), S(" "), 1}, /* "\"\"" vs "\" \"": '"' > ' ' */
        {L("b"), L("a"), 1},
        {L("a"), L("a"), 0},
        {L("ab"), L("ab!"), 1},
        {T, T, 0},
        {F, F, 0},
        {NUL, NUL, 0},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        cr_expect_eq(sgn(gun__val_cmp(&t[i].a, &t[i].b)), t[i].want, "case %zu", i);
        cr_expect_eq(sgn(gun__val_cmp(&t[i].b, &t[i].a)), -t[i].want, "case %zu reversed", i);
    }
}

/* A random value from pieces that make the comparison interesting. */
static const char *pieces[] = {
    "a", "b", " ", "!", "\"", "\\", "\n", "\x01", "\x1f", "#", "]", "u", "~", "\x7f",
    "\xC3\xA9", "\xEE\x80\x80", "\xEF\xBF\xBF", "\xEF\xBF\xBD", "\xF0\x9F\x98\x80",
    "\xF4\x8F\xBF\xBF", "\xED\xA0\x80", "\xED\xA0\xBD", "\xED\xB8\x80", "\xED\xAF\xBF", "0",
    "\x80", "\xFF", "\xF0\x9F", /* not WTF-8: only API callers can make these */
};

static void rand_str(char *out, size_t cap, unsigned *seed)
{
    size_t n = (size_t)(rand_r(seed) % 5), len = 0;
    out[0] = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = pieces[rand_r(seed) % (sizeof pieces / sizeof pieces[0])];
        size_t pl = strlen(p);
        if (len + pl + 1 > cap)
            break;
        memcpy(out + len, p, pl + 1);
        len += pl;
    }
}

static gun__val rand_val(char *buf, size_t cap, unsigned *seed)
{
    static const double nums[] = {0, -0.0, 1, -1, 9, 10, 1e21, 1.5, -1.5, 5e-324, 1e-7,
                                  123456789012, 0.1, 100, 2, -2, 1e-6, 1700000000000.001};
    switch (rand_r(seed) % 6) {
    case 0: return NUL;
    case 1: return rand_r(seed) % 2 ? T : F;
    case 2: return N(nums[rand_r(seed) % (sizeof nums / sizeof nums[0])]);
    case 3:
        rand_str(buf, cap, seed);
        return S(buf);
    case 4:
        rand_str(buf, cap, seed);
        if (!buf[0])
            strcpy(buf, "x");
        return L(buf);
    default:
        rand_str(buf, cap, seed);
        return S(buf);
    }
}

/* The fast paths must agree with writing both texts and comparing them. */
Test(value, cmp_agrees_with_written_texts)
{
    unsigned seed = 12345;
    for (int i = 0; i < 50000; i++) {
        char ba[64], bb[64];
        gun__val a = rand_val(ba, sizeof ba, &seed), b = rand_val(bb, sizeof bb, &seed);
        char *ta = text_of(&a), *tb = text_of(&b);
        int want = sgn(gun__utf16_cmp(ta, strlen(ta), tb, strlen(tb)));
        int got = sgn(gun__val_cmp(&a, &b));
        cr_assert_eq(got, want, "%s vs %s", ta, tb);
        gun__free(ta);
        gun__free(tb);
    }
}

static int no_mem = 0;
static void *nm_malloc(size_t n) { return no_mem ? NULL : malloc(n); }
static void *nm_realloc(void *p, size_t n) { return no_mem ? NULL : realloc(p, n); }
static void *nm_calloc(size_t a, size_t b) { return no_mem ? NULL : calloc(a, b); }

/* With no memory at all the comparison still answers exactly (its escape-aware
 * iterator takes over from the writer). */
Test(value, cmp_without_memory)
{
    unsigned seed = 777;
    int escaped = 0;
    for (int i = 0; i < 20000; i++) {
        char ba[64], bb[64];
        gun__val a = rand_val(ba, sizeof ba, &seed), b = rand_val(bb, sizeof bb, &seed);
        char *ta = text_of(&a), *tb = text_of(&b);
        int want = sgn(gun__utf16_cmp(ta, strlen(ta), tb, strlen(tb)));
        escaped += strchr(ta, '\\') != NULL;
        gun_replace_allocator(nm_malloc, nm_realloc, nm_calloc, free);
        no_mem = 1;
        int got = sgn(gun__val_cmp(&a, &b));
        no_mem = 0;
        gun_replace_allocator(NULL, NULL, NULL, NULL);
        cr_assert_eq(got, want, "%s vs %s", ta, tb);
        gun__free(ta);
        gun__free(tb);
    }
    cr_expect_gt(escaped, 1000); /* the slow path really ran */
}

Test(value, eq_as_gun)
{
    gun__val a = N(0), b = N(-0.0);
    cr_expect(gun__val_eq(&a, &b)); /* 0 === -0 */
    a = L("x"), b = L("x");
    cr_expect(gun__val_eq(&a, &b));
    a = L("x"), b = S("x");
    cr_expect(!gun__val_eq(&a, &b));
    a = S("x"), b = S("x");
    cr_expect(gun__val_eq(&a, &b));
    a = S("x"), b = S("y");
    cr_expect(!gun__val_eq(&a, &b));
    cr_expect(gun__val_eq(&T, &T));
    cr_expect(!gun__val_eq(&T, &F));
    cr_expect(!gun__val_eq(&NUL, &F));
}

Test(value, copy_owns_memory)
{
    char src[] = "hello";
    gun__val v = {GUN__V_STR, 0, 0, {src, 5}}, c;
    cr_assert_eq(gun__val_copy(&c, &v), GUN_OK);
    src[0] = 'j';
    cr_expect_eq(memcmp(c.s.p, "hello", 6), 0); /* NUL-terminated copy */
    gun__val_clear(&c);
    cr_expect_eq(c.t, GUN__V_NULL);
    gun__val n = N(5e-324), d;
    cr_assert_eq(gun__val_copy(&d, &n), GUN_OK);
    cr_expect_eq(memcmp(&d.n, &n.n, sizeof n.n), 0);
    gun__val_clear(&d);
    /* OOM leaves dst untouched */
    gun__val keep = N(7);
    gun_replace_allocator(nm_malloc, nm_realloc, nm_calloc, free);
    no_mem = 1;
    int rc = gun__val_copy(&keep, &v);
    no_mem = 0;
    gun_replace_allocator(NULL, NULL, NULL, NULL);
    cr_expect_eq(rc, GUN_ENOMEM);
    cr_expect(keep.t == GUN__V_NUM && keep.n == 7);
}

/* wire/json: number formatting, escaping, key order, parsing rules, caps, lone surrogates,
 * the object index and allocation failure. Expected texts come from Node 20 (V8). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire/wire.h"

/* ---- helpers ---- */

static char *write_json(const gun__json *j, gun__jmode mode)
{
    gun__buf b;
    gun__buf_init(&b);
    gun__json_write(&b, j, mode);
    cr_assert(!b.oom);
    return gun__buf_take(&b);
}

/* Parses text (must succeed) and writes it back in mode. */
static char *rt(const char *text, gun__jmode mode)
{
    gun__json *j;
    gun__err e = {0};
    int rc = gun__json_parse(text, strlen(text), NULL, &j, &e);
    cr_assert_eq(rc, GUN_OK, "parse %s: %d %s", text, rc, e.msg);
    char *s = write_json(j, mode);
    gun__json_free(j);
    return s;
}

static void expect_rt(const char *in, gun__jmode mode, const char *want)
{
    char *got = rt(in, mode);
    cr_expect_str_eq(got, want, "in: %s", in);
    gun__free(got);
}

static int parse_rc(const char *text, size_t len, const gun__limits *lim)
{
    gun__json *j = NULL;
    gun__err e = {0};
    int rc = gun__json_parse(text, len, lim, &j, &e);
    if (rc == GUN_OK)
        gun__json_free(j);
    else
        cr_expect(e.code == rc && e.msg[0], "error detail set for %.40s", text);
    return rc;
}

static char *num(double v)
{
    static char s[40];
    size_t n = gun__num_to_str(v, s);
    cr_assert_eq(n, strlen(s));
    return s;
}

/* ---- numbers ---- */

static const struct {
    double v;
    const char *js;
} vectors[] = {
    {0.0, "0"},
    {-0.0, "0"},
    {1.0000000000000000, "1"},
    {-1.0000000000000000, "-1"},
    {4.9406564584124654e-324, "5e-324"},
    {-4.9406564584124654e-324, "-5e-324"},
    {1.7976931348623157e+308, "1.7976931348623157e+308"},
    {-1.7976931348623157e+308, "-1.7976931348623157e+308"},
    {2.2250738585072014e-308, "2.2250738585072014e-308"},
    {2.2250738585072009e-308, "2.225073858507201e-308"},
    {0.10000000000000001, "0.1"},
    {0.20000000000000001, "0.2"},
    {0.30000000000000004, "0.30000000000000004"},
    {0.33333333333333331, "0.3333333333333333"},
    {0.66666666666666663, "0.6666666666666666"},
    {1.0000000000000000e+21, "1e+21"},
    {9.9999999999999995e-8, "1e-7"},
    {9.9999999999999995e-7, "0.000001"},
    {9.9999999999999995e-7, "0.000001"},
    {0.0000012345000000000000, "0.0000012345"},
    {1.2345000000000001e-7, "1.2345e-7"},
    {1.2300000000000001e+22, "1.23e+22"},
    {1.2300000000000000e+21, "1.23e+21"},
    {1.0000000000000000e+20, "100000000000000000000"},
    {1.0000000000000000e+22, "1e+22"},
    {9.9999999999999987e+20, "999999999999999900000"},
    {9.9999999999999987e+20, "999999999999999900000"},
    {1.2345678901234568e+20, "123456789012345680000"},
    {1.2345678901234567e+19, "12345678901234567000"},
    {9007199254740992.0, "9007199254740992"},
    {9007199254740994.0, "9007199254740994"},
    {9.2233720368547758e+18, "9223372036854776000"},
    {1.8446744073709552e+19, "18446744073709552000"},
    {4.9406564584124654e-324, "5e-324"},
    {2.2250738585072014e-308, "2.2250738585072014e-308"},
    {1.1125369292536007e-308, "1.1125369292536007e-308"},
    {8.9884656743115795e+307, "8.98846567431158e+307"},
    {9.5367431640625000e-7, "9.5367431640625e-7"},
    {1.1529215046068470e+18, "1152921504606847000"},
    {1700000000000.0000, "1700000000000"},
    {1700000000000.0010, "1700000000000.001"},
    {1700000000000.5000, "1700000000000.5"},
    {1795355861810.0010, "1795355861810.001"},
    {1795355861810.0020, "1795355861810.002"},
    {1795355863810.0010, "1795355863810.001"},
    {1700000000000.0010, "1700000000000.001"},
    {1700000000000.0020, "1700000000000.002"},
    {1700000000000.9990, "1700000000000.999"},
    {1.5000000000000000, "1.5"},
    {100.00000000000000, "100"},
    {1000000000000000.0, "1000000000000000"},
    {10000000000000000, "10000000000000000"},
    {1.0000000000000000e+17, "100000000000000000"},
    {0.000010000000000000001, "0.00001"},
    {0.000015000000000000000, "0.000015"},
    {4.3499999999999996, "4.35"},
    {0.00012300000000000001, "0.000123"},
    {123.45600000000000, "123.456"},
    {-1.2345600000000000e-8, "-1.23456e-8"},
    {9007199254740992.0, "9007199254740992"},
    {4.9999999999999998e-7, "5e-7"},
    {0.0000050000000000000004, "0.000005"},
    {1.1000000000000000e+21, "1.1e+21"},
    {3.1415926535897931, "3.141592653589793"},
    {2.7182818284590451, "2.718281828459045"},
    {2.2204460492503131e-16, "2.220446049250313e-16"},
    {9007199254740991.0, "9007199254740991"},
    {-9007199254740991.0, "-9007199254740991"},
    {4.9406564584124654e-324, "5e-324"},
    {9.9999999999999992e+22, "1e+23"},
    {8.4099999999999995e+21, "8.41e+21"},
    {1.4821969375237396e-323, "1.5e-323"},
    {0.79999999999999993, "0.7999999999999999"},
    {9.8813129168249309e-324, "1e-323"},
    {9.5367431640625000e-7, "9.5367431640625e-7"},
    {5.9604644775390625e-8, "5.960464477539063e-8"},
    {1.0000000000000001e+301, "1e+301"},
    {6.9999999999999996e-10, "7e-10"},
    {1234567.1234567000, "1234567.1234567"},
    {9.9999999999999995e-8, "1e-7"},
    {4294967295.0000000, "4294967295"},
    {4294967296.0000000, "4294967296"},
};

Test(json_num, fixed_vectors_match_v8)
{
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++)
        cr_expect_str_eq(num(vectors[i].v), vectors[i].js, "vector %zu", i);
}

Test(json_num, layout_edges)
{
    cr_expect_str_eq(num(1e21), "1e+21");
    cr_expect_str_eq(num(1e-7), "1e-7");
    cr_expect_str_eq(num(0.000001), "0.000001");
    cr_expect_str_eq(num(123e18), "123000000000000000000");
    cr_expect_str_eq(num(123e20), "1.23e+22"); /* 1.23e22 >= 1e21: exponent form */
    cr_expect_str_eq(num(-0.0), "0");
    cr_expect_str_eq(num(5e-324), "5e-324");
    cr_expect_str_eq(num(1.7976931348623157e308), "1.7976931348623157e+308");
    cr_expect_str_eq(num(0.1), "0.1");
    cr_expect_str_eq(num(123456789012345680000.0), "123456789012345680000");
    cr_expect_str_eq(num(1700000000000.001), "1700000000000.001");
    cr_expect_str_eq(num(NAN), "NaN");
    cr_expect_str_eq(num(INFINITY), "Infinity");
    cr_expect_str_eq(num(-INFINITY), "-Infinity");
}

Test(json_num, json_writes_null_for_non_finite)
{
    gun__buf b;
    gun__buf_init(&b);
    gun__json_write_num(&b, NAN);
    gun__buf_addc(&b, ',');
    gun__json_write_num(&b, INFINITY);
    gun__buf_addc(&b, ',');
    gun__json_write_num(&b, -INFINITY);
    gun__buf_addc(&b, ',');
    gun__json_write_num(&b, -0.0);
    cr_expect_str_eq(b.p, "null,null,null,0");
    gun__buf_free(&b);
}

/* Gun states t + n/999 (what Gun.state() gives within one millisecond) print exactly, i.e.
 * shortest and read back. 1700000000000 + 1/999 is 1700000000000.001 as a double. */
Test(json_num, gun_states)
{
    char want[64];
    for (int n = 0; n < 999; n++) {
        double t = 1700000000000.0 + n / 999.0;
        const char *s = num(t);
        cr_assert_eq(strtod(s, NULL), t, "%s", s);
        snprintf(want, sizeof want, "%.3f", t);
        /* three decimals always identify these; trailing zeros are dropped */
        size_t l = strlen(want);
        while (want[l - 1] == '0')
            want[--l] = 0;
        if (want[l - 1] == '.')
            want[--l] = 0;
        if (strtod(want, NULL) == t && strlen(want) <= strlen(s))
            cr_expect_str_eq(s, want);
    }
}

/* The definition, by brute force: d has the fewest significant digits k such that it reads
 * back, and among k-digit decimals it is the closest (the correctly rounded one) unless only
 * a neighbour reads back. Checks digits only; layout is checked by the vectors. */
static void sig_digits(const char *s, char *dig, int *exp10)
{
    /* parse our own output: [-]digits[.digits][e±x] */
    int k = 0, point = -1, lead = 1, e = 0;
    const char *p = s;
    if (*p == '-')
        p++;
    int pos = 0, firstsig = -1;
    for (; *p && *p != 'e'; p++) {
        if (*p == '.') {
            point = pos;
            continue;
        }
        if (lead && *p == '0') {
            pos++;
            continue;
        }
        if (firstsig < 0)
            firstsig = pos;
        lead = 0;
        dig[k++] = *p;
        pos++;
    }
    if (*p == 'e')
        e = atoi(p + 1);
    if (point < 0)
        point = pos;
    while (k > 1 && dig[k - 1] == '0')
        k--;
    dig[k] = 0;
    *exp10 = point - firstsig - 1 + e; /* value = d.ddd * 10^exp10 */
}

static void check_shortest(double v)
{
    const char *s = num(v);
    cr_assert_eq(strtod(s, NULL), v, "%a printed as %s does not read back", v, s);
    char dig[32], ref[64], alt[64];
    int e10;
    sig_digits(s, dig, &e10);
    int k = (int)strlen(dig);
    if (k > 1) { /* nothing with k-1 digits reads back */
        double a = fabs(v);
        snprintf(ref, sizeof ref, "%.*e", k - 2, a);
        cr_assert_neq(strtod(ref, NULL), a, "%a: %s is shorter than %s", v, ref, s);
        /* nor the decimal one unit above it (the interval can be lopsided at powers of 2) */
        char *ep = strchr(ref, 'e');
        long long m = 0;
        int ndig = 0;
        for (char *q = ref; q < ep; q++)
            if (*q >= '0' && *q <= '9')
                m = m * 10 + (*q - '0'), ndig++;
        snprintf(alt, sizeof alt, "%llde%d", m + 1, atoi(ep + 1) - (ndig - 1));
        cr_assert_neq(strtod(alt, NULL), a, "%a: %s is shorter than %s", v, alt, s);
    }
    snprintf(ref, sizeof ref, "%.*e", k - 1, fabs(v));
    if (strtod(ref, NULL) == fabs(v)) { /* then the closest must be the one chosen */
        char rdig[32];
        int re;
        sig_digits(ref, rdig, &re);
        cr_assert_str_eq(dig, rdig, "%a: %s, closest is %s", v, s, ref);
        cr_assert_eq(e10, re, "%a: %s vs %s", v, s, ref);
    }
}

Test(json_num, shortest_and_closest_on_random_doubles, .timeout = 60)
{
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double v;
        switch (i % 5) {
        case 0: /* any bit pattern (mostly the slow path) */
            memcpy(&v, &x, sizeof v);
            if (!isfinite(v) || v == 0)
                continue;
            break;
        case 1: /* Gun states with fractions */
            v = 1700000000000.0 + (double)(x % 100000000000ull) + (double)(x >> 54) / 999.0;
            break;
        case 2: /* uniform in [0, 1) */
            v = (double)(x >> 11) / 9007199254740992.0;
            if (v == 0)
                continue;
            break;
        case 3: /* the exact path's range, all exponents */
            v = ldexp((double)((x >> 11) | 1), (int)(x % 80) - 90);
            break;
        default: /* subnormals */
            x &= (1ull << 52) - 1;
            memcpy(&v, &x, sizeof v);
            if (v == 0)
                continue;
        }
        check_shortest(v);
        check_shortest(-v);
    }
}

Test(json_num, powers_of_two_everywhere)
{
    for (int e = -1074; e <= 1023; e++)
        check_shortest(ldexp(1.0, e));
}

Test(json_num, integers_are_plain_below_1e21)
{
    char want[32];
    for (double v = 1; v < 1e21; v *= 3) {
        double r = floor(v);
        snprintf(want, sizeof want, "%.0f", r);
        if (r < 9007199254740992.0)
            cr_expect_str_eq(num(r), want);
        else
            cr_expect_eq(strlen(num(r)), strlen(want), "%s vs %s", num(r), want);
    }
}

/* ---- strings ---- */

static char *wstr(const char *p, size_t len)
{
    gun__buf b;
    gun__buf_init(&b);
    gun__json_write_str(&b, p, len);
    return gun__buf_take(&b);
}

static void expect_str(const char *p, size_t len, const char *want)
{
    char *got = wstr(p, len);
    cr_expect_str_eq(got, want);
    gun__free(got);
}

Test(json_str, control_chars_as_v8)
{
    /* JSON.stringify of each char 0x00..0x1f */
    static const char *want[32] = {
        "\"\\u0000\"", "\"\\u0001\"", "\"\\u0002\"", "\"\\u0003\"", "\"\\u0004\"", "\"\\u0005\"",
        "\"\\u0006\"", "\"\\u0007\"", "\"\\b\"",     "\"\\t\"",     "\"\\n\"",     "\"\\u000b\"",
        "\"\\f\"",     "\"\\r\"",     "\"\\u000e\"", "\"\\u000f\"", "\"\\u0010\"", "\"\\u0011\"",
        "\"\\u0012\"", "\"\\u0013\"", "\"\\u0014\"", "\"\\u0015\"", "\"\\u0016\"", "\"\\u0017\"",
        "\"\\u0018\"", "\"\\u0019\"", "\"\\u001a\"", "\"\\u001b\"", "\"\\u001c\"", "\"\\u001d\"",
        "\"\\u001e\"", "\"\\u001f\""};
    for (int c = 0; c < 32; c++) {
        char ch = (char)c;
        expect_str(&ch, 1, want[c]);
    }
}

Test(json_str, only_quote_backslash_and_controls_escaped)
{
    expect_str("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
    expect_str("/</script>", 10, "\"/</script>\"");
    expect_str("\x7f", 1, "\"\x7f\"");
    expect_str("é€😀", strlen("é€😀"), "\"é€😀\"");
    expect_str("\u2028\u2029", 6, "\"\u2028\u2029\"");
    expect_str("", 0, "\"\"");
    expect_str("a\0b", 3, "\"a\\u0000b\"");
}

Test(json_str, lone_surrogates_as_lowercase_escapes)
{
    expect_str("\xED\xA0\x80", 3, "\"\\ud800\"");
    expect_str("\xED\xBF\xBF", 3, "\"\\udfff\"");
    expect_str("x\xED\xB0\x80y\xED\xAF\xBF", 8, "\"x\\udc00y\\udbff\"");
    /* a low before a high is two lone ones */
    expect_str("\xED\xB0\x80\xED\xA0\x80", 6, "\"\\udc00\\ud800\"");
    /* a high then a low stored as separate WTF-8 halves is one JS character */
    expect_str("\xED\xA0\xBD\xED\xB8\x80", 6, "\"😀\"");
}

Test(json_str, malformed_bytes_become_replacement_chars)
{
    expect_str("a\xFF" "b", 3, "\"a\xEF\xBF\xBD" "b\"");
    expect_str("\xC3", 1, "\"\xEF\xBF\xBD\"");
    expect_str("\xC0\xAF", 2, "\"\xEF\xBF\xBD\xEF\xBF\xBD\"");
}

/* ---- key order ---- */

Test(json_order, js_mode_integer_keys_first)
{
    expect_rt("{\"b\":1,\"2\":2,\"a\":3,\"1\":4}", GUN__JSON_JS, "{\"1\":4,\"2\":2,\"b\":1,\"a\":3}");
    /* only canonical uint32 below 2^32-1 count as indices */
    expect_rt("{\"z\":0,\"4294967295\":1,\"4294967294\":2,\"01\":3,\"-1\":4,\"1.5\":5,\"10\":6,"
              "\"9\":7,\"0\":8,\"\":9,\" 1\":10}",
              GUN__JSON_JS,
              "{\"0\":8,\"9\":7,\"10\":6,\"4294967294\":2,\"z\":0,\"4294967295\":1,\"01\":3,"
              "\"-1\":4,\"1.5\":5,\"\":9,\" 1\":10}");
    expect_rt("[{\"b\":{\"3\":1,\"x\":2,\"1\":3},\"0\":[]}]", GUN__JSON_JS,
              "[{\"0\":[],\"b\":{\"1\":3,\"3\":1,\"x\":2}}]");
}

Test(json_order, sorted_mode_utf16_order_every_level)
{
    expect_rt("{\"b\":1,\"2\":2,\"a\":3,\"10\":4,\"_\":{\"z\":1,\"#\":2,\">\":3}}", GUN__JSON_SORTED,
              "{\"10\":4,\"2\":2,\"_\":{\"#\":2,\">\":3,\"z\":1},\"a\":3,\"b\":1}");
    expect_rt("[{\"y\":1,\"x\":[{\"d\":1,\"c\":2}]}]", GUN__JSON_SORTED,
              "[{\"x\":[{\"c\":2,\"d\":1}],\"y\":1}]");
    /* U+1F600 (UTF-16 D83D..) sorts before U+FF5E although its UTF-8 is larger */
    expect_rt("{\"\uFF5E\":1,\"\U0001F600\":2,\"a\":3,\"\\ud800\":4}", GUN__JSON_SORTED,
              "{\"a\":3,\"\\ud800\":4,\"\U0001F600\":2,\"\uFF5E\":1}");
}

Test(json_order, large_objects_sort)
{
    gun__json *o = gun__json_obj();
    char k[16];
    for (int i = 999; i >= 0; i--) {
        int n = snprintf(k, sizeof k, "%d", i * 7919 % 1000);
        cr_assert_eq(gun__json_obj_set(o, k, (size_t)n, gun__json_num(i)), GUN_OK);
        n = snprintf(k, sizeof k, "k%d", i * 7919 % 1000);
        cr_assert_eq(gun__json_obj_set(o, k, (size_t)n, gun__json_num(i)), GUN_OK);
    }
    char *js = write_json(o, GUN__JSON_JS), *so = write_json(o, GUN__JSON_SORTED);
    /* JS: 0..999 ascending first */
    cr_expect(strncmp(js, "{\"0\":", 5) == 0);
    cr_expect(strstr(js, "\"998\":") < strstr(js, "\"999\":"));
    cr_expect(strstr(js, "\"999\":") < strstr(js, "\"k"));
    /* SORTED: "10" < "100" < "11" */
    cr_expect(strstr(so, "\"10\":") < strstr(so, "\"100\":"));
    cr_expect(strstr(so, "\"100\":") < strstr(so, "\"11\":"));
    gun__free(js);
    gun__free(so);
    gun__json_free(o);
}

/* ---- parsing ---- */

Test(json_parse, duplicate_keys_last_wins_first_position)
{
    expect_rt("{\"a\":1,\"b\":2,\"a\":3}", GUN__JSON_JS, "{\"a\":3,\"b\":2}");
    expect_rt("{\"a\":{\"x\":1},\"b\":2,\"a\":[3]}", GUN__JSON_JS, "{\"a\":[3],\"b\":2}");
    /* the built-in parser (reached through a lone surrogate) agrees */
    expect_rt("{\"a\":1,\"b\":\"\\ud800\",\"a\":3}", GUN__JSON_JS, "{\"a\":3,\"b\":\"\\ud800\"}");
}

Test(json_parse, numbers_are_doubles)
{
    expect_rt("[-0,0,1E+2,12345678901234567890,1e-400,0.1e1,-1.5e-10,1700000000000.001]",
              GUN__JSON_JS,
              "[0,0,100,12345678901234567000,0,1,-1.5e-10,1700000000000.001]");
    gun__json *j;
    cr_assert_eq(gun__json_parse("-0", 2, NULL, &j, NULL), GUN_OK);
    cr_expect(j->t == GUN__J_NUM && j->u.n == 0 && signbit(j->u.n));
    gun__json_free(j);
}

Test(json_parse, nul_in_strings_kept_in_keys_refused)
{
    gun__json *j;
    cr_assert_eq(gun__json_parse("\"a\\u0000b\"", 10, NULL, &j, NULL), GUN_OK);
    cr_expect_eq(j->u.s.len, 3);
    cr_expect(memcmp(j->u.s.p, "a\0b", 3) == 0);
    gun__json_free(j);
    cr_expect_eq(parse_rc("{\"a\\u0000\":1}", 13, NULL), GUN_EJSON);
    cr_expect_eq(parse_rc("{\"a\\u0000\":\"\\ud800\"}", 21, NULL), GUN_EJSON);
}

static const char *bad_texts[] = {
    "", " ", "{", "}", "[1,]", "[,1]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "{'a':1}", "01", "-01",
    "1.", ".5", "1e", "1e+", "-", "+1", "0x10", "NaN", "Infinity", "-Infinity", "1e400",
    "-1e400", "tru", "nul", "True", "[1 2]", "{} {}", "1 x", "\"\xff\"", "\"\xc0\xaf\"",
    "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\x01\"", "\"\t\"", "\"\\a\"", "\"\\x41\"",
    "\"\\u12\"", "\"\\u12g4\"", "\"abc", "\xef\xbb\xbf{}", "[\"\\ud800\",]", "/*c*/1",
    "\"\\ud800", "[1]\x00", "\x00"};

Test(json_parse, rejects_what_json_parse_rejects)
{
    for (size_t i = 0; i < sizeof bad_texts / sizeof bad_texts[0]; i++) {
        const char *t = bad_texts[i];
        size_t len = strlen(t);
        if (i >= sizeof bad_texts / sizeof bad_texts[0] - 2)
            len++; /* the two texts with a raw NUL */
        cr_expect_eq(parse_rc(t, len, NULL), GUN_EJSON, "accepted: %s", t);
        gun__json *j = NULL;
        cr_expect_neq(gun__json_parse_jansson(t, len, NULL, &j, NULL), GUN_OK,
                      "reference accepted: %s", t);
        gun__json_free(j);
    }
}

/* The parser's own number path (exact fast path for short decimals, strtod for the rest)
 * gives bit for bit the double the reference (jansson's strtod) gives, on tokens around
 * every boundary of the fast path: 15-17 digits, 2^53, 10^22, exponents, signs, zeros. */
Test(json_parse, numbers_bit_exact_with_the_reference)
{
    static const char *fixed[] = {
        "0", "-0", "0.0", "-0.0", "9007199254740991", "9007199254740992", "9007199254740993",
        "900719925474099.1", "0.1", "0.2", "0.3", "1700000000000.123", "1700000000000.1234",
        "123456789012345.6", "1.7976931348623157e308", "5e-324", "2.2250738585072014e-308",
        "0.0000000000000000000001", "0.00000000000000000000001", "1e22", "1e23", "123e-22",
        "4.35", "8.41", "2.675", "1.005", "0.000001", "1234567890.0987654321", "-1.5e-3"};
    char tok[64];
    for (int i = 0; i < (int)(sizeof fixed / sizeof fixed[0]) + 20000; i++) {
        if (i < (int)(sizeof fixed / sizeof fixed[0])) {
            snprintf(tok, sizeof tok, "%s", fixed[i]);
        } else {
            /* deterministic pseudo-random: up to 18 integer digits, up to 22 fraction digits */
            unsigned long long r = (unsigned long long)i * 6364136223846793005ull + 1442695040888963407ull;
            int idig = 1 + (int)(r % 18), fdig = (int)((r >> 8) % 23);
            int o = 0;
            if ((r >> 20) & 1)
                tok[o++] = '-';
            for (int d = 0; d < idig; d++, r = r * 6364136223846793005ull + 1)
                tok[o++] = (char)('0' + (d == 0 && idig > 1 ? 1 + (r >> 33) % 9 : (r >> 33) % 10));
            if (fdig) {
                tok[o++] = '.';
                for (int d = 0; d < fdig; d++, r = r * 6364136223846793005ull + 1)
                    tok[o++] = (char)('0' + (r >> 33) % 10);
            }
            tok[o] = 0;
        }
        gun__json *a = NULL, *b = NULL;
        cr_assert_eq(gun__json_parse(tok, strlen(tok), NULL, &a, NULL), GUN_OK, "%s", tok);
        cr_assert_eq(gun__json_parse_jansson(tok, strlen(tok), NULL, &b, NULL), GUN_OK, "%s", tok);
        cr_expect(memcmp(&a->u.n, &b->u.n, sizeof(double)) == 0, "%s: %.17g vs %.17g", tok,
                  a->u.n, b->u.n);
        gun__json_free(a);
        gun__json_free(b);
    }
}

/* A raw NUL byte is never JSON; jansson alone takes "5\0" for "5". */
Test(json_parse, raw_nul_bytes_refused)
{
    static const struct {
        const char *t;
        size_t len;
    } cases[] = {{"5\0", 2}, {"-5\0", 3}, {"1.5\0", 4}, {"true\0", 5}, {"null\0", 5},
                 {"5e1\0", 4}, {"[1]\0", 4}, {"\"a\0\"", 4}, {"{\"a\":\0}", 7}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_expect_eq(parse_rc(cases[i].t, cases[i].len, NULL), GUN_EJSON, "case %zu", i);
        gun__json *j = NULL;
        cr_expect_eq(gun__json_parse_builtin(cases[i].t, cases[i].len, NULL, &j, NULL, NULL),
                     GUN_EJSON, "case %zu", i);
        gun__json_free(j);
    }
}

Test(json_parse, error_detail_names_the_byte)
{
    gun__json *j;
    gun__err e = {0};
    cr_assert_eq(gun__json_parse("[1,\n2,\n{]", 9, NULL, &j, &e), GUN_EJSON);
    /* 0-based, as JSON.parse says "at position 8" */
    cr_expect(strstr(e.msg, "byte 8") != NULL, "%s", e.msg);
    cr_assert_eq(gun__json_parse("[1,\"\\ud800\",x]", 15, NULL, &j, &e), GUN_EJSON);
    cr_expect(strstr(e.msg, "byte") != NULL, "%s", e.msg);
}

Test(json_parse, whitespace_and_scalars)
{
    expect_rt(" \t\r\n{ \"a\" : [ 1 , true , false , null , \"\" ] } \n", GUN__JSON_JS,
              "{\"a\":[1,true,false,null,\"\"]}");
    expect_rt("\"\\/\\b\\f\\n\\r\\t\\\"\\\\\\u00e9\\u20AC\"", GUN__JSON_JS,
              "\"/\\b\\f\\n\\r\\t\\\"\\\\é€\"");
}

/* ---- lone surrogates ---- */

static void expect_str_bytes(const char *text, const char *bytes, size_t n)
{
    gun__json *j;
    gun__err e = {0};
    cr_assert_eq(gun__json_parse(text, strlen(text), NULL, &j, &e), GUN_OK, "%s: %s", text, e.msg);
    cr_assert_eq(j->t, GUN__J_STR);
    cr_expect_eq(j->u.s.len, n, "%s", text);
    cr_expect(memcmp(j->u.s.p, bytes, n) == 0, "%s", text);
    gun__json_free(j);
}

Test(json_surrogates, parse_to_wtf8)
{
    expect_str_bytes("\"\\ud800\"", "\xED\xA0\x80", 3);
    expect_str_bytes("\"\\uDFFF\"", "\xED\xBF\xBF", 3);
    expect_str_bytes("\"\\udc00\\ud800\"", "\xED\xB0\x80\xED\xA0\x80", 6);
    expect_str_bytes("\"\\ud83d\\ude00\"", "\xF0\x9F\x98\x80", 4);      /* a pair: jansson */
    expect_str_bytes("\"\\ud83d\\ude00\\ud83d\"", "\xF0\x9F\x98\x80\xED\xA0\xBD", 7);
    expect_str_bytes("\"a\\ud83dx\"", "a\xED\xA0\xBDx", 5);
    expect_str_bytes("\"\\ud800\\u0041\"", "\xED\xA0\x80" "A", 4);
}

Test(json_surrogates, round_trip_in_keys_and_values)
{
    const char *t = "{\"\\udc00k\":[\"\\ud800\",{\"\\ud83d\":\"\\ude00x\"}],\"n\":1.5}";
    expect_rt(t, GUN__JSON_JS, t);
}

Test(json_surrogates, builtin_parser_matches_jansson)
{
    /* texts jansson accepts: the built-in parser must build the same tree */
    static const char *texts[] = {
        "{\"b\":1,\"a\":[1,2,{\"c\":null}],\"b\":\"x\\n\\u00e9\\ud83d\\ude00\"}",
        "[0.1,-0,1e300,5e-324,123456789012345678901234567890,\"\\/\",true,false]",
        "\"a\\u0000b\"", "{}", "[]", "  7  "};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        gun__json *a, *b;
        int lone = 1;
        cr_assert_eq(gun__json_parse(texts[i], strlen(texts[i]), NULL, &a, NULL), GUN_OK);
        cr_assert_eq(gun__json_parse_builtin(texts[i], strlen(texts[i]), NULL, &b, &lone, NULL),
                     GUN_OK);
        cr_expect_eq(lone, 0);
        char *sa = write_json(a, GUN__JSON_JS), *sb = write_json(b, GUN__JSON_JS);
        cr_expect_str_eq(sa, sb);
        gun__free(sa);
        gun__free(sb);
        gun__json_free(a);
        gun__json_free(b);
    }
}

/* ---- caps ---- */

Test(json_caps, too_big_before_parsing)
{
    gun__limits lim = {10, 64};
    cr_expect_eq(parse_rc("[1,2,3,4,5]", 11, &lim), GUN_ETOOBIG);
    cr_expect_eq(parse_rc("[1,2,3,45]", 10, &lim), GUN_OK);
    /* garbage past the cap is not even looked at */
    cr_expect_eq(parse_rc("{{{{{{{{{{{", 11, &lim), GUN_ETOOBIG);
}

static char *nest(int depth, const char *inner)
{
    size_t il = strlen(inner);
    char *s = malloc((size_t)depth * 2 + il + 1);
    memset(s, '[', (size_t)depth);
    memcpy(s + depth, inner, il);
    memset(s + depth + il, ']', (size_t)depth);
    s[depth * 2 + il] = 0;
    return s;
}

Test(json_caps, depth)
{
    gun__limits lim = {0, 3};
    cr_expect_eq(parse_rc("[[[1]]]", 7, &lim), GUN_OK);
    cr_expect_eq(parse_rc("[[[[1]]]]", 9, &lim), GUN_EDEPTH);
    cr_expect_eq(parse_rc("[{\"a\":[{}]}]", 12, &lim), GUN_EDEPTH);
    cr_expect_eq(parse_rc("[[[1]],[[2]],{\"a\":{}}]", 22, &lim), GUN_OK);
    /* brackets inside strings, also after escaped quotes, do not count */
    const char *s = "[\"[[[[\\\"[[[[\\\\\",[[\"{{{{\"]]]";
    cr_expect_eq(parse_rc(s, strlen(s), &lim), GUN_OK);
    /* broken nesting is caught before the parser sees the broken syntax */
    cr_expect_eq(parse_rc("[[[[[", 5, &lim), GUN_EDEPTH);
    gun__json *j;
    cr_expect_eq(gun__json_parse_builtin("[[[[1]]]]", 9, &lim, &j, NULL, NULL), GUN_EDEPTH);
}

Test(json_caps, depth_ceiling_without_stack_overflow)
{
    gun__limits lim = {0, 1000000};
    char *ok = nest(GUN__JSON_DEPTH_CEIL, "1"), *deep = nest(GUN__JSON_DEPTH_CEIL + 1, "");
    cr_expect_eq(parse_rc(ok, strlen(ok), &lim), GUN_OK);
    cr_expect_eq(parse_rc(deep, strlen(deep), &lim), GUN_EDEPTH);
    char *huge = nest(200000, "");
    cr_expect_eq(parse_rc(huge, strlen(huge), &lim), GUN_EDEPTH);
    /* the built-in parser at the ceiling (forced by a lone surrogate) */
    char *ok2 = nest(GUN__JSON_DEPTH_CEIL, "\"\\ud800\"");
    gun__json *j;
    cr_expect_eq(gun__json_parse(ok2, strlen(ok2), &lim, &j, NULL), GUN_OK);
    char *w = write_json(j, GUN__JSON_SORTED);
    cr_expect_str_eq(w, ok2);
    gun__free(w);
    gun__json_free(j);
    free(ok), free(deep), free(huge), free(ok2);
}

/* ---- tree ---- */

Test(json_tree, obj_set_get_del_with_index)
{
    gun__json *o = gun__json_obj();
    char k[32];
    enum { N = 5000 };
    for (int i = 0; i < N; i++) {
        int n = snprintf(k, sizeof k, "key-%d", i);
        cr_assert_eq(gun__json_obj_set(o, k, (size_t)n, gun__json_num(i)), GUN_OK);
    }
    for (int i = 0; i < N; i += 2) { /* replace in place */
        int n = snprintf(k, sizeof k, "key-%d", i);
        cr_assert_eq(gun__json_obj_set(o, k, (size_t)n, gun__json_str("x", 1)), GUN_OK);
    }
    cr_expect_eq(o->u.o.n, N);
    cr_expect_str_eq(o->u.o.m[0].key, "key-0");
    cr_expect_eq(o->u.o.m[0].val->t, GUN__J_STR);
    for (int i = 0; i < N; i += 3) {
        int n = snprintf(k, sizeof k, "key-%d", i);
        cr_expect_eq(gun__json_obj_del(o, k, (size_t)n), 1);
        cr_expect_eq(gun__json_obj_del(o, k, (size_t)n), 0);
    }
    for (int i = 0; i < N; i++) {
        int n = snprintf(k, sizeof k, "key-%d", i);
        gun__json *v = gun__json_obj_get(o, k, (size_t)n);
        if (i % 3 == 0)
            cr_expect_null(v, "%s", k);
        else if (i % 2 == 0)
            cr_expect(v && v->t == GUN__J_STR, "%s", k);
        else
            cr_expect(v && v->t == GUN__J_NUM && v->u.n == i, "%s", k);
    }
    /* insertion order survives deletes */
    for (size_t i = 1; i < o->u.o.n; i++)
        cr_expect_lt(atoi(o->u.o.m[i - 1].key + 4), atoi(o->u.o.m[i].key + 4));
    cr_expect_null(gun__json_obj_getc(o, "nope"));
    cr_expect_null(gun__json_obj_getc(gun__json_obj_getc(o, "key-1"), "x")); /* not an object */
    gun__json *c = gun__json_clone(o);
    char *a = write_json(o, GUN__JSON_JS), *b = write_json(c, GUN__JSON_JS);
    cr_expect_str_eq(a, b);
    cr_expect_not_null(gun__json_obj_getc(c, "key-4999"));
    gun__free(a), gun__free(b);
    gun__json_free(c);
    gun__json_free(o);
}

Test(json_tree, keys_with_nul_bytes_are_distinct)
{
    gun__json *o = gun__json_obj();
    cr_assert_eq(gun__json_obj_set(o, "a\0b", 3, gun__json_num(1)), GUN_OK);
    cr_assert_eq(gun__json_obj_set(o, "a", 1, gun__json_num(2)), GUN_OK);
    cr_expect_eq(gun__json_obj_get(o, "a\0b", 3)->u.n, 1);
    cr_expect_eq(gun__json_obj_get(o, "a", 1)->u.n, 2);
    gun__json_free(o);
}

Test(json_tree, misuse_is_refused)
{
    gun__json *a = gun__json_arr();
    cr_expect_eq(gun__json_obj_set(a, "k", 1, gun__json_null()), GUN_EINVAL);
    cr_expect_eq(gun__json_arr_push(NULL, gun__json_null()), GUN_EINVAL);
    cr_expect_eq(gun__json_obj_del(a, "k", 1), 0);
    char *s = write_json(NULL, GUN__JSON_JS);
    cr_expect_str_eq(s, "null");
    gun__free(s);
    gun__json_free(a);
    gun__json_free(NULL);
}

/* ---- allocation failure ---- */

static long fail_at = -1, calls, live;
static void *f_malloc(size_t n)
{
    if (fail_at >= 0 && calls++ >= fail_at)
        return NULL;
    live++;
    return malloc(n);
}
static void *f_calloc(size_t n, size_t s)
{
    if (fail_at >= 0 && calls++ >= fail_at)
        return NULL;
    live++;
    return calloc(n, s);
}
static void *f_realloc(void *p, size_t n)
{
    if (fail_at >= 0 && calls++ >= fail_at)
        return NULL;
    if (!p)
        live++;
    return realloc(p, n);
}
static void f_free(void *p)
{
    if (p)
        live--;
    free(p);
}

/* Every allocation of a parse and a write fails in turn: each run must report GUN_ENOMEM
 * (or the buffer's oom flag) and leave nothing allocated. */
static void oom_sweep(const char *text)
{
    cr_assert_eq(gun_replace_allocator(f_malloc, f_realloc, f_calloc, f_free), GUN_OK);
    long n;
    for (n = 0;; n++) {
        fail_at = n, calls = 0, live = 0;
        gun__json *j = NULL;
        gun__err e = {0};
        int rc = gun__json_parse(text, strlen(text), NULL, &j, &e);
        if (rc == GUN_OK) {
            gun__buf b;
            gun__buf_init(&b);
            gun__json_write(&b, j, GUN__JSON_SORTED);
            gun__json *c = gun__json_clone(j);
            int done = !b.oom && c;
            gun__buf_free(&b);
            gun__json_free(c);
            gun__json_free(j);
            cr_assert_eq(live, 0, "leak after %ld allocations", n);
            if (done)
                break;
            continue;
        }
        cr_assert_eq(rc, GUN_ENOMEM, "fail at %ld: %d %s", n, rc, e.msg);
        cr_assert_eq(live, 0, "leak after %ld allocations", n);
    }
    fail_at = -1;
    cr_expect_gt(n, 3);
    gun_replace_allocator(NULL, NULL, NULL, NULL);
}

Test(json_oom, parse_clone_write_every_failure_point)
{
    oom_sweep("{\"b\":[1,{\"x\":\"y\"},\"z\"],\"a\":{\"_\":{\"#\":\"a\",\">\":{\"k\":1}},\"k\":2}}");
}

Test(json_oom, builtin_parser_every_failure_point)
{
    oom_sweep("{\"b\":[1,{\"x\":\"\\ud800\"},\"z\"],\"a\":{\"q\":1,\"q\":2,\"r\":\"\\udc00\"}}");
}

/* HAM decisions (spec §2.2), including the tie-break on equal states. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/core.h"

static gun__val S(const char *p) { return (gun__val){GUN__V_STR, 0, 0, gun__str_c(p)}; }
static gun__val N(double n) { return (gun__val){GUN__V_NUM, 0, n, {0}}; }
static gun__val L(const char *p) { return (gun__val){GUN__V_LINK, 0, 0, gun__str_c(p)}; }
static const gun__val NUL = {GUN__V_NULL, 0, 0, {0}};
static const gun__val T = {GUN__V_BOOL, 1, 0, {0}};
static const gun__val F = {GUN__V_BOOL, 0, 0, {0}};

static const double NOW = 1800000000000.0;

/* The worked example of spec §2.2, observed on a Gun.js relay. */
Test(ham, worked_example)
{
    gun__val alice = S("Alice");
    double was = 1700000000000;
    gun__val in = S("OLD");
    cr_expect_eq(gun__ham_decide(NOW, 1600000000000, &in, 1, was, &alice), GUN__HAM_OLD);
    in = S("Al");
    cr_expect_eq(gun__ham_decide(NOW, was, &in, 1, was, &alice), GUN__HAM_SAME);
    in = S("Zed");
    cr_expect_eq(gun__ham_decide(NOW, was, &in, 1, was, &alice), GUN__HAM_ACCEPT);
    /* null for a new key: a tombstone, accepted */
    cr_expect_eq(gun__ham_decide(NOW, 1700000000001, &NUL, 0, 0, NULL), GUN__HAM_ACCEPT);
    in = S("future");
    cr_expect_eq(gun__ham_decide(NOW, NOW + 3000, &in, 1, was, &alice), GUN__HAM_DEFER);
    /* an identical value is "same" */
    cr_expect_eq(gun__ham_decide(NOW, was, &alice, 1, was, &alice), GUN__HAM_SAME);
}

Test(ham, state_decides_before_value)
{
    gun__val lo = S(""), hi = L("zzz");
    cr_expect_eq(gun__ham_decide(NOW, 2, &lo, 1, 1, &hi), GUN__HAM_ACCEPT);
    cr_expect_eq(gun__ham_decide(NOW, 1, &hi, 1, 2, &lo), GUN__HAM_OLD);
    cr_expect_eq(gun__ham_decide(NOW, 1.0000001, &lo, 1, 1, &hi), GUN__HAM_ACCEPT);
    /* negative and zero states are ordinary numbers */
    cr_expect_eq(gun__ham_decide(NOW, -5, &lo, 1, -6, &hi), GUN__HAM_ACCEPT);
    cr_expect_eq(gun__ham_decide(NOW, 0, &lo, 0, 0, NULL), GUN__HAM_ACCEPT);
    cr_expect_eq(gun__ham_decide(NOW, -0.0, &lo, 1, 0, &lo), GUN__HAM_SAME);
}

Test(ham, future_boundary)
{
    gun__val v = S("x");
    cr_expect_eq(gun__ham_decide(NOW, NOW, &v, 0, 0, NULL), GUN__HAM_ACCEPT);
    cr_expect_eq(gun__ham_decide(NOW, NOW + 0.001, &v, 0, 0, NULL), GUN__HAM_DEFER);
    /* the future check comes first, even against a newer current state */
    cr_expect_eq(gun__ham_decide(NOW, NOW + 1, &v, 1, NOW + 5, &v), GUN__HAM_DEFER);
}

/* On an equal state: link > true > null > false > numbers > strings. */
Test(ham, equal_state_type_order)
{
    gun__val order[] = {S("\xF4\x8F\xBF\xBF~~~"), N(-1), N(1e21), N(9), F, NUL, T, L("a")};
    size_t n = sizeof order / sizeof order[0];
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            gun__ham want = j > i ? GUN__HAM_ACCEPT : GUN__HAM_SAME;
            cr_expect_eq(gun__ham_decide(NOW, 5, &order[j], 1, 5, &order[i]), want,
                         "incoming %zu over current %zu", j, i);
        }
    }
}

Test(ham, equal_state_text_order)
{
    struct {
        gun__val cur, in;
        gun__ham want;
    } t[] = {
        {N(10), N(9), GUN__HAM_ACCEPT},  /* "9" > "10" */
        {N(9), N(10), GUN__HAM_SAME},
        {N(1), N(-1), GUN__HAM_SAME},    /* "-1" < "1" */
        {N(-1), N(1), GUN__HAM_ACCEPT},
        {N(0), N(-0.0), GUN__HAM_SAME},  /* both "0" */
        {N(2), N(1e21), GUN__HAM_SAME},  /* "1e+21" < "2" */
        {S("ab!"), S("ab"), GUN__HAM_ACCEPT}, /* "\"ab\"" > "\"ab!\"" */
        {S("ab"), S("ab!"), GUN__HAM_SAME},
        {S("a!"), S("a\n"), GUN__HAM_ACCEPT}, /* "\\n" escapes: '\\' > '!' */
        {L("a"), L("a"), GUN__HAM_SAME},  /* Gun.js: different objects, equal texts */
        {L("a"), L("b"), GUN__HAM_ACCEPT},
        {L("b"), L("a"), GUN__HAM_SAME},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        cr_expect_eq(gun__ham_decide(NOW, 7, &t[i].in, 1, 7, &t[i].cur), t[i].want, "case %zu",
                     i);
}

/* JS compares UTF-16 code units: U+E000..U+FFFF sort above astral characters (whose
 * first unit is a surrogate, D800..DBFF), the reverse of UTF-8 byte order. */
Test(ham, unicode_utf16_not_utf8)
{
    gun__val pua = S("\xEE\x80\x80"), smile = S("\xF0\x9F\x98\x80");
    cr_expect_gt(memcmp("\xF0", "\xEE", 1), 0); /* byte order says smile > pua */
    cr_expect_eq(gun__ham_decide(NOW, 7, &pua, 1, 7, &smile), GUN__HAM_ACCEPT);
    cr_expect_eq(gun__ham_decide(NOW, 7, &smile, 1, 7, &pua), GUN__HAM_SAME);
    gun__val ffff = S("\xEF\xBF\xBF"), top = S("\xF4\x8F\xBF\xBF");
    cr_expect_eq(gun__ham_decide(NOW, 7, &ffff, 1, 7, &top), GUN__HAM_ACCEPT);
    cr_expect_eq(gun__ham_decide(NOW, 7, &top, 1, 7, &ffff), GUN__HAM_SAME);
    /* a lone surrogate is written "\ud800": its '\\' (0x5C) beats 'a' (0x61)? no: 0x5C < 0x61 */
    gun__val lone = S("\xED\xA0\x80"), a = S("a");
    cr_expect_eq(gun__ham_decide(NOW, 7, &a, 1, 7, &lone), GUN__HAM_ACCEPT);
    cr_expect_eq(gun__ham_decide(NOW, 7, &lone, 1, 7, &a), GUN__HAM_SAME);
}

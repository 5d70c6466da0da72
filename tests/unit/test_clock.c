/* The state clock (spec §2.1). */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "core/core.h"

static void expect_text(double v, const char *want)
{
    char s[32];
    gun__num_to_str(v, s);
    cr_expect_str_eq(s, want);
}

Test(clock, same_ms_adds_n_over_999)
{
    gun__clock c;
    gun__clock_init(&c, 0);
    cr_expect(isinf(c.last) && c.last < 0);
    double t = 1795355861810;
    cr_expect_eq(gun__clock_next(&c, t), t);
    double s1 = gun__clock_next(&c, t), s2 = gun__clock_next(&c, t);
    cr_expect_eq(s1, t + 1 / 999.0);
    cr_expect_eq(s2, t + 2 / 999.0);
    /* As captured from Gun.js [cap3]: ...810.001, ...810.002 */
    expect_text(s1, "1795355861810.001");
    expect_text(s2, "1795355861810.002");
    /* a new ms resets N */
    cr_expect_eq(gun__clock_next(&c, t + 1), t + 1);
    cr_expect_eq(c.n, 0);
}

Test(clock, spills_past_999_like_gun)
{
    gun__clock c;
    gun__clock_init(&c, 0);
    double t = 1700000000000;
    double s = gun__clock_next(&c, t);
    for (int i = 1; i <= 1500; i++) {
        double n = gun__clock_next(&c, t);
        cr_assert_eq(n, t + i / 999.0);
        cr_assert_gt(n, s);
        s = n;
    }
    /* last (t + 1500/999) is not below t + 1, so N keeps counting, as in Gun.js */
    cr_expect_eq(gun__clock_next(&c, t + 1), t + 1 + 1501 / 999.0);
    cr_expect_eq(gun__clock_next(&c, t + 2), t + 2 + 1502 / 999.0);
    /* once the wall clock passes last (about t + 3.5), N resets */
    cr_expect_eq(gun__clock_next(&c, t + 4), t + 4);
    cr_expect_eq(c.n, 0);
}

Test(clock, drift)
{
    gun__clock c;
    gun__clock_init(&c, 5000);
    cr_expect_eq(gun__clock_next(&c, 1000), 6000);
    cr_expect_eq(gun__clock_next(&c, 1000), 6000 + 1 / 999.0);
    /* Gun.js compares the drifted `last` with the undrifted t and would keep counting
     * N here (6001 + 2/999); comparing with t + drift resets it. */
    cr_expect_eq(gun__clock_next(&c, 1001), 6001);
    gun__clock_init(&c, -500);
    cr_expect_eq(gun__clock_next(&c, 1000), 500);
    /* Gun.js would return 500 again here. */
    cr_expect_eq(gun__clock_next(&c, 1000), 500 + 1 / 999.0);
}

Test(clock, never_goes_back)
{
    gun__clock c;
    gun__clock_init(&c, 0);
    double a = gun__clock_next(&c, 2000);
    double b = gun__clock_next(&c, 1000); /* wall clock stepped back 1 s */
    double d = gun__clock_next(&c, 1000);
    cr_expect_gt(b, a);
    cr_expect_gt(d, b);
    cr_expect_eq(gun__clock_next(&c, 2001), 2001);
    /* huge states where 1/999 is below one ulp still move up */
    gun__clock_init(&c, 0);
    double big = 1e300;
    double x = gun__clock_next(&c, big), y = gun__clock_next(&c, big);
    cr_expect_gt(y, x);
}

Test(clock, strictly_increasing_over_a_million_calls)
{
    gun__clock c;
    gun__clock_init(&c, 0);
    double prev = gun__clock_now(&c);
    double wall0 = gun__now_ms();
    cr_expect(fabs(prev - wall0) < 1000);
    for (int i = 0; i < 1000000; i++) {
        double s = gun__clock_now(&c);
        if (!(s > prev))
            cr_assert_fail("call %d: %.17g after %.17g", i, s, prev);
        prev = s;
    }
}

/* Message-id dedup (spec §3.3): window, refresh on re-sighting, cap, expiry. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"

static gun__str S(const char *p) { return gun__str_c(p); }

Test(dedup, window)
{
    gun__dedup *d = gun__dedup_new(9000, 0);
    cr_assert(d);
    cr_expect_eq(gun__dedup_check(d, S("a"), 0), 0);
    cr_expect_eq(gun__dedup_count(d), 0); /* check does not track */
    cr_assert_eq(gun__dedup_track(d, S("a"), 1000), GUN_OK);
    cr_expect_eq(gun__dedup_check(d, S("a"), 1000), 1);
    cr_expect_eq(gun__dedup_check(d, S("b"), 1000), 0);
    cr_expect_eq(gun__dedup_count(d), 1);
    gun__dedup_free(d);
    d = gun__dedup_new(9000, 0);
    gun__dedup_track(d, S("a"), 1000);
    cr_expect_eq(gun__dedup_check(d, S("a"), 9999), 1);
    gun__dedup_free(d);
    d = gun__dedup_new(9000, 0);
    gun__dedup_track(d, S("a"), 1000);
    cr_expect_eq(gun__dedup_check(d, S("a"), 10000), 0); /* now - was >= age */
    cr_expect_eq(gun__dedup_count(d), 0);
    gun__dedup_free(d);
}

Test(dedup, resighting_restarts_window)
{
    gun__dedup *d = gun__dedup_new(9000, 0);
    gun__dedup_track(d, S("m"), 0);
    cr_expect_eq(gun__dedup_check(d, S("m"), 8000), 1);
    cr_expect_eq(gun__dedup_check(d, S("m"), 16000), 1); /* 8 s after the re-sighting */
    cr_expect_eq(gun__dedup_check(d, S("m"), 24999), 1);
    cr_expect_eq(gun__dedup_check(d, S("m"), 33998), 1);
    cr_expect_eq(gun__dedup_check(d, S("m"), 42998), 0); /* exactly 9 s: gone */
    /* track refreshes too */
    gun__dedup_track(d, S("n"), 0);
    gun__dedup_track(d, S("n"), 5000);
    cr_expect_eq(gun__dedup_count(d), 1);
    cr_expect_eq(gun__dedup_expire(d, 13000), 1);
    cr_expect_eq(gun__dedup_check(d, S("n"), 13000), 1);
    gun__dedup_free(d);
}

Test(dedup, expire_drops_old_sightings_only)
{
    gun__dedup *d = gun__dedup_new(1000, 0);
    char id[16];
    for (int i = 0; i < 100; i++) {
        snprintf(id, sizeof id, "id%d", i);
        cr_assert_eq(gun__dedup_track(d, S(id), (uint64_t)i * 10), GUN_OK);
    }
    gun__dedup_check(d, S("id0"), 500); /* refreshed: now the newest but one... */
    cr_expect_eq(gun__dedup_expire(d, 999), 100);
    /* at 1495, entries tracked at <= 495 have expired, except id0 (seen at 500) */
    cr_expect_eq(gun__dedup_expire(d, 1495), 100 - 50 + 1);
    cr_expect_eq(gun__dedup_check(d, S("id0"), 1495), 1);
    cr_expect_eq(gun__dedup_check(d, S("id49"), 1495), 0);
    cr_expect_eq(gun__dedup_check(d, S("id50"), 1495), 1);
    cr_expect_eq(gun__dedup_expire(d, 100000), 0);
    gun__dedup_free(d);
}

Test(dedup, cap_evicts_oldest_sighting)
{
    gun__dedup *d = gun__dedup_new(9000, 3);
    gun__dedup_track(d, S("a"), 1);
    gun__dedup_track(d, S("b"), 2);
    gun__dedup_track(d, S("c"), 3);
    cr_expect_eq(gun__dedup_check(d, S("a"), 4), 1); /* a is now the newest */
    gun__dedup_track(d, S("d"), 5);                  /* evicts b */
    cr_expect_eq(gun__dedup_count(d), 3);
    cr_expect_eq(gun__dedup_check(d, S("b"), 6), 0);
    cr_expect_eq(gun__dedup_check(d, S("c"), 7), 1);
    cr_expect_eq(gun__dedup_check(d, S("a"), 8), 1);
    cr_expect_eq(gun__dedup_check(d, S("d"), 9), 1);
    gun__dedup_track(d, S("e"), 10); /* evicts c (seen at 7), the oldest now */
    cr_expect_eq(gun__dedup_check(d, S("c"), 11), 0);
    cr_expect_eq(gun__dedup_count(d), 3);
    gun__dedup_free(d);
}

Test(dedup, many_ids_and_binary_ids)
{
    gun__dedup *d = gun__dedup_new(9000, 0);
    char id[16];
    for (int i = 0; i < 200000; i++) {
        snprintf(id, sizeof id, "%09d", i);
        cr_assert_eq(gun__dedup_track(d, S(id), 1), GUN_OK);
    }
    cr_expect_eq(gun__dedup_count(d), 200000);
    for (int i = 0; i < 200000; i += 997) {
        snprintf(id, sizeof id, "%09d", i);
        cr_assert_eq(gun__dedup_check(d, S(id), 2), 1);
        snprintf(id, sizeof id, "x%08d", i);
        cr_assert_eq(gun__dedup_check(d, S(id), 2), 0);
    }
    /* ids are byte strings: NUL inside and the empty id are distinct ids */
    gun__str a = {"a\0b", 3}, b = {"a\0c", 3}, e = {"", 0};
    gun__dedup_track(d, a, 3);
    cr_expect_eq(gun__dedup_check(d, a, 3), 1);
    cr_expect_eq(gun__dedup_check(d, b, 3), 0);
    cr_expect_eq(gun__dedup_check(d, e, 3), 0);
    gun__dedup_track(d, e, 3);
    cr_expect_eq(gun__dedup_check(d, e, 3), 1);
    /* at 9002 only ids seen at 3 remain (the checks at 2 refreshed others to 2) */
    cr_expect_eq(gun__dedup_expire(d, 9001), 2 + 201);
    cr_expect_eq(gun__dedup_expire(d, 9002), 2);
    gun__dedup_free(d);
}

static int fail_at = -1;
static void *f_malloc(size_t n) { return fail_at-- == 0 ? NULL : malloc(n); }
static void *f_realloc(void *p, size_t n) { return fail_at-- == 0 ? NULL : realloc(p, n); }
static void *f_calloc(size_t a, size_t b) { return fail_at-- == 0 ? NULL : calloc(a, b); }

Test(dedup, oom)
{
    gun_replace_allocator(f_malloc, f_realloc, f_calloc, free);
    fail_at = 0;
    cr_expect_eq(gun__dedup_new(9000, 0), NULL);
    fail_at = 1;
    cr_expect_eq(gun__dedup_new(9000, 0), NULL);
    fail_at = -1;
    gun__dedup *d = gun__dedup_new(9000, 0);
    cr_assert(d);
    fail_at = 0;
    cr_expect_eq(gun__dedup_track(d, S("x"), 1), GUN_ENOMEM);
    cr_expect_eq(gun__dedup_count(d), 0);
    cr_expect_eq(gun__dedup_check(d, S("x"), 1), 0);
    /* a failed table growth leaves the table working */
    char id[16];
    for (int i = 0; i < 64; i++) {
        snprintf(id, sizeof id, "%d", i);
        cr_assert_eq(gun__dedup_track(d, S(id), 1), GUN_OK);
    }
    fail_at = 1; /* the entry allocation succeeds, the growth fails */
    cr_expect_eq(gun__dedup_track(d, S("65"), 1), GUN_OK);
    fail_at = -1;
    gun_replace_allocator(NULL, NULL, NULL, NULL);
    for (int i = 0; i < 64; i++) {
        snprintf(id, sizeof id, "%d", i);
        cr_expect_eq(gun__dedup_check(d, S(id), 2), 1);
    }
    cr_expect_eq(gun__dedup_check(d, S("65"), 2), 1);
    gun__dedup_free(d);
}

Test(dedup, via_routes_replies)
{
    gun__dedup *d = gun__dedup_new(9000, 0);
    cr_expect_eq(gun__dedup_via(d, S("q"), 0), 0);
    cr_assert_eq(gun__dedup_track_via(d, S("q"), 7, 100), GUN_OK);
    cr_expect_eq(gun__dedup_via(d, S("q"), 200), 7);
    /* the first via stays; plain tracks and checks keep it */
    gun__dedup_track_via(d, S("q"), 9, 300);
    gun__dedup_track(d, S("q"), 400);
    cr_expect_eq(gun__dedup_check(d, S("q"), 500), 1);
    cr_expect_eq(gun__dedup_via(d, S("q"), 600), 7);
    /* via does not refresh: 9 s after the last sighting (500) it is gone */
    cr_expect_eq(gun__dedup_via(d, S("q"), 9499), 7);
    cr_expect_eq(gun__dedup_via(d, S("q"), 9500), 0);
    cr_expect_eq(gun__dedup_check(d, S("q"), 9499), 1); /* still there: via did not refresh */
    /* an id first tracked without a via (our own message) takes the first one given */
    gun__dedup_track(d, S("own"), 1000);
    cr_expect_eq(gun__dedup_via(d, S("own"), 1000), 0);
    gun__dedup_track_via(d, S("own"), 3, 1001);
    cr_expect_eq(gun__dedup_via(d, S("own"), 1002), 3);
    /* after the window a new sighting records a new route */
    gun__dedup_track_via(d, S("own"), 4, 20000);
    cr_expect_eq(gun__dedup_via(d, S("own"), 20001), 4);
    gun__dedup_free(d);
}

/* Sightings keep the low 32 bits of the clock: the window is right across a wrap of them,
 * and a clock read earlier than the sighting still does not expire it. */
Test(dedup, window_across_a_32_bit_wrap)
{
    gun__dedup *d = gun__dedup_new(9000, 0);
    uint64_t t = (1ull << 32) - 4000; /* 4 s before the low bits wrap */
    cr_assert_eq(gun__dedup_track(d, S("w"), t), GUN_OK);
    cr_expect_eq(gun__dedup_check(d, S("w"), t + 8999), 1);
    cr_expect_eq(gun__dedup_expire(d, t + 8999 + 8999), 1);
    cr_expect_eq(gun__dedup_check(d, S("w"), t + 8999 + 9000), 0);
    gun__dedup_track(d, S("x"), t);
    cr_expect_eq(gun__dedup_check(d, S("x"), t - 1000), 1);
    cr_expect_eq(gun__dedup_expire(d, t - 1000), 1);
    gun__dedup_free(d);
}

/* util/map: the hash map against a brute-force model under random churn. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "util/util.h"

Test(map, churn_matches_model)
{
    enum { N = 2000 };
    static int present[N];
    memset(present, 0, sizeof present);
    gun__map *m = gun__map_new();
    cr_assert_not_null(m);
    uint32_t x = 12345;
    for (int step = 0; step < 200000; step++) {
        x = x * 1103515245u + 12345u;
        int k = (int)((x >> 8) % N);
        char key[16];
        int len = snprintf(key, sizeof key, "k%d", k);
        if ((x >> 4) & 1) {
            void *old = (void *)1;
            cr_assert_eq(gun__map_put(m, key, (size_t)len, (void *)(intptr_t)(k + 1), &old),
                         GUN_OK);
            cr_assert_eq(old, present[k] ? (void *)(intptr_t)(k + 1) : NULL);
            present[k] = 1;
        } else {
            void *v = gun__map_del(m, key, (size_t)len);
            cr_assert_eq(v, present[k] ? (void *)(intptr_t)(k + 1) : NULL);
            present[k] = 0;
        }
    }
    size_t count = 0;
    for (int k = 0; k < N; k++) {
        char key[16];
        int len = snprintf(key, sizeof key, "k%d", k);
        void *v = gun__map_get(m, key, (size_t)len);
        cr_assert_eq(v, present[k] ? (void *)(intptr_t)(k + 1) : NULL, "key %d", k);
        count += (size_t)present[k];
    }
    cr_expect_eq(gun__map_count(m), count);
    size_t it = 0, seen = 0;
    while (gun__map_next(m, &it))
        seen++;
    cr_expect_eq(seen, count);
    gun__map_free(m, NULL);
}

Test(map, keys_with_nul_bytes)
{
    gun__map *m = gun__map_new();
    cr_assert_eq(gun__map_put(m, "a\0b", 3, (void *)1, NULL), GUN_OK);
    cr_assert_eq(gun__map_put(m, "a\0c", 3, (void *)2, NULL), GUN_OK);
    cr_expect_eq(gun__map_get(m, "a\0b", 3), (void *)1);
    cr_expect_eq(gun__map_get(m, "a\0c", 3), (void *)2);
    cr_expect_eq(gun__map_get(m, "a", 1), NULL);
    gun__map_free(m, NULL);
}

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

/* A borrowed-key map keeps the caller's pointers: no copy (the entry's key is the very
 * pointer given), a replacing put takes the new owner's pointer, and neither del nor free
 * frees keys (ASan would report the double free or the leak). */
Test(map, borrowed_keys_are_the_callers)
{
    gun__map *m = gun__map_new_borrowed();
    cr_assert_not_null(m);
    enum { N = 300 };
    static char a[N][12], b[N][12];
    for (int i = 0; i < N; i++) {
        int len = snprintf(a[i], sizeof a[i], "s%d", i);
        memcpy(b[i], a[i], (size_t)len + 1);
        cr_assert_eq(gun__map_put(m, a[i], (size_t)len, a[i], NULL), GUN_OK);
    }
    /* the same bytes from another owner replace the value and the key pointer */
    for (int i = 0; i < N; i += 2) {
        void *old = NULL;
        cr_assert_eq(gun__map_put(m, b[i], strlen(b[i]), b[i], &old), GUN_OK);
        cr_assert_eq(old, a[i]);
    }
    size_t it = 0, seen = 0;
    gun__map_ent *e;
    while ((e = gun__map_next(m, &it))) {
        cr_expect_eq(e->key, (char *)e->val, "the key is the owner's own bytes");
        seen++;
    }
    cr_expect_eq(seen, N);
    for (int i = 0; i < N; i += 3)
        cr_expect_eq(gun__map_del(m, a[i], strlen(a[i])), i % 2 ? (void *)a[i] : (void *)b[i]);
    cr_expect_eq(gun__map_count(m), N - (N + 2) / 3);
    gun__map_free(m, NULL);
}

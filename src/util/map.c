/* Open-addressing hash map with linear probing and backward-shift deletion (no tombstones,
 * so lookups stay short under churn), SipHash-seeded per map. Keys are copied, or borrowed
 * from the caller (gun__map_new_borrowed); values belong to the caller. */
#include <string.h>

#include "util.h"

struct gun__map {
    gun__map_ent *slots; /* key == NULL: empty */
    size_t cap;          /* power of two */
    size_t n;
    uint64_t key[2];     /* hash seed: keys often come from peers */
    int borrowed;        /* keys are the caller's: neither copied nor freed */
};

gun__map *gun__map_new(void)
{
    gun__map *m = gun__calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->cap = 2; /* many maps stay tiny (a peer's subscriptions, often one): grow on demand */
    gun__hash_seed(m->key);
    m->slots = gun__calloc(m->cap, sizeof *m->slots);
    if (!m->slots) {
        gun__free(m);
        return NULL;
    }
    return m;
}

gun__map *gun__map_new_borrowed(void)
{
    gun__map *m = gun__map_new();
    if (m)
        m->borrowed = 1;
    return m;
}

void gun__map_free(gun__map *m, void (*free_val)(void *))
{
    if (!m)
        return;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key) {
            if (free_val)
                free_val(m->slots[i].val);
            if (!m->borrowed)
                gun__free(m->slots[i].key);
        }
    gun__free(m->slots);
    gun__free(m);
}

static size_t find(const gun__map *m, const char *key, size_t len, uint64_t h)
{
    size_t mask = m->cap - 1, i = h & mask;
    for (;;) {
        const gun__map_ent *e = &m->slots[i];
        if (!e->key)
            return i;
        if (e->hash == h && e->key_len == len && !memcmp(e->key, key, len))
            return i;
        i = (i + 1) & mask;
    }
}

static int grow(gun__map *m)
{
    size_t ncap = m->cap * 2;
    gun__map_ent *ns = gun__calloc(ncap, sizeof *ns);
    if (!ns)
        return GUN_ENOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        gun__map_ent *e = &m->slots[i];
        if (!e->key)
            continue;
        size_t j = e->hash & (ncap - 1);
        while (ns[j].key)
            j = (j + 1) & (ncap - 1);
        ns[j] = *e;
    }
    gun__free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return GUN_OK;
}

void *gun__map_get(const gun__map *m, const char *key, size_t len)
{
    const gun__map_ent *e = &m->slots[find(m, key, len, gun__hash64(key, len, m->key))];
    return e->key ? e->val : NULL;
}

int gun__map_put(gun__map *m, const char *key, size_t len, void *val, void **old)
{
    uint64_t h = gun__hash64(key, len, m->key);
    size_t i = find(m, key, len, h);
    gun__map_ent *e = &m->slots[i];
    if (e->key) {
        if (old)
            *old = e->val;
        e->val = val;
        if (m->borrowed) /* the same bytes; the old owner of them may go */
            e->key = (char *)key;
        return GUN_OK;
    }
    if (old)
        *old = NULL;
    if ((m->n + 1) * 4 > m->cap * 3) { /* keep load under 3/4 */
        if (grow(m))
            return GUN_ENOMEM;
        i = find(m, key, len, h);
        e = &m->slots[i];
    }
    char *k = m->borrowed ? (char *)key : gun__strndup(key, len);
    if (!k)
        return GUN_ENOMEM;
    e->key = k;
    e->key_len = len;
    e->val = val;
    e->hash = h;
    m->n++;
    return GUN_OK;
}

static void *remove_at(gun__map *m, size_t i)
{
    size_t mask = m->cap - 1;
    gun__map_ent *e = &m->slots[i];
    void *val = e->val;
    if (!m->borrowed)
        gun__free(e->key);
    e->key = NULL;
    m->n--;
    /* Backward-shift: pull later entries of the run into the hole when that keeps them
     * reachable from their home slot. */
    size_t hole = i, j = i;
    for (;;) {
        j = (j + 1) & mask;
        gun__map_ent *x = &m->slots[j];
        if (!x->key)
            break;
        size_t home = x->hash & mask;
        /* x may move to hole if hole lies cyclically in [home, j). */
        int movable = hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
        if (movable) {
            m->slots[hole] = *x;
            x->key = NULL;
            hole = j;
        }
    }
    return val;
}

void *gun__map_del(gun__map *m, const char *key, size_t len)
{
    size_t i = find(m, key, len, gun__hash64(key, len, m->key));
    return m->slots[i].key ? remove_at(m, i) : NULL;
}

int gun__map_del_if(gun__map *m, const char *key, size_t len, const void *val)
{
    size_t i = find(m, key, len, gun__hash64(key, len, m->key));
    if (!m->slots[i].key || m->slots[i].val != val)
        return 0;
    remove_at(m, i);
    return 1;
}

size_t gun__map_count(const gun__map *m) { return m->n; }

gun__map_ent *gun__map_next(const gun__map *m, size_t *it)
{
    while (*it < m->cap) {
        gun__map_ent *e = &m->slots[(*it)++];
        if (e->key)
            return e;
    }
    return NULL;
}

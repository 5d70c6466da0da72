/* The JSON tree: constructors, object members, clone, free.
 *
 * Objects keep their members in insertion order in one array. Small objects are searched
 * linearly; from GUN__JOBJ_INDEX_MIN slots on, the same allocation also carries an
 * open-addressing index (uint32 slots after the member array), so lookups and duplicate-key
 * checks stay O(1) on peer-sized objects and a frame with 100k keys cannot turn a parse or a
 * validation pass quadratic. The index hash is seeded with the member array's address: the
 * heap layout differs per process (ASLR), which keeps peers from precomputing collisions
 * without any process-wide seed. */
#include <string.h>

#include "wire.h"

#define INDEX_MIN 16u /* member capacity from which an index is kept */

static gun__json *node(gun__jtype t)
{
    gun__json *j = gun__calloc(1, sizeof *j);
    if (j)
        j->t = t;
    return j;
}

gun__json *gun__json_null(void) { return node(GUN__J_NULL); }

gun__json *gun__json_bool(int b)
{
    gun__json *j = node(GUN__J_BOOL);
    if (j)
        j->u.b = b != 0;
    return j;
}

gun__json *gun__json_num(double n)
{
    gun__json *j = node(GUN__J_NUM);
    if (j)
        j->u.n = n;
    return j;
}

gun__json *gun__json_str(const char *p, size_t len)
{
    gun__json *j = node(GUN__J_STR);
    if (!j)
        return NULL;
    j->u.s.p = gun__strndup(len ? p : "", len);
    if (!j->u.s.p) {
        gun__free(j);
        return NULL;
    }
    j->u.s.len = len;
    return j;
}

gun__json *gun__json_arr(void) { return node(GUN__J_ARR); }
gun__json *gun__json_obj(void) { return node(GUN__J_OBJ); }

void gun__json_free(gun__json *j)
{
    if (!j)
        return;
    switch (j->t) {
    case GUN__J_STR:
        gun__free(j->u.s.p);
        break;
    case GUN__J_ARR:
        for (size_t i = 0; i < j->u.a.n; i++)
            gun__json_free(j->u.a.v[i]);
        gun__free(j->u.a.v);
        break;
    case GUN__J_OBJ:
        for (size_t i = 0; i < j->u.o.n; i++) {
            gun__free(j->u.o.m[i].key);
            gun__json_free(j->u.o.m[i].val);
        }
        gun__free(j->u.o.m);
        break;
    default:
        break;
    }
    gun__free(j);
}

/* ---- object index ---- */

static uint64_t mix(uint64_t h)
{
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 29;
    return h;
}

static uint64_t key_hash(const char *p, size_t n, uint64_t seed)
{
    uint64_t h = mix(seed ^ (n * 0x9e3779b97f4a7c15ull));
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = mix(h ^ w) * 0x94d049bb133111ebull;
        p += 8, n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    return mix(mix(h ^ w) + n);
}

static int has_index(size_t cap) { return cap >= INDEX_MIN && cap <= UINT32_MAX / 4; }

/* The index lives after the member array: 2 * cap slots, each 0 (empty) or member + 1. */
static uint32_t *index_of(const gun__json *o)
{
    return (uint32_t *)(void *)(o->u.o.m + o->u.o.cap);
}

static size_t alloc_size(size_t cap)
{
    size_t sz = cap * sizeof(gun__jmember);
    if (has_index(cap))
        sz += 2 * cap * sizeof(uint32_t);
    return sz;
}

static void index_insert(gun__json *o, size_t i)
{
    size_t mask = 2 * o->u.o.cap - 1;
    uint32_t *slot = index_of(o);
    const gun__jmember *m = &o->u.o.m[i];
    size_t h = (size_t)key_hash(m->key, m->key_len, (uintptr_t)o->u.o.m) & mask;
    while (slot[h])
        h = (h + 1) & mask;
    slot[h] = (uint32_t)i + 1;
}

static void index_rebuild(gun__json *o)
{
    if (!has_index(o->u.o.cap))
        return;
    memset(index_of(o), 0, 2 * o->u.o.cap * sizeof(uint32_t));
    for (size_t i = 0; i < o->u.o.n; i++)
        index_insert(o, i);
}

/* Member position of key, or -1. */
static ptrdiff_t find(const gun__json *o, const char *key, size_t len)
{
    const gun__jmember *m = o->u.o.m;
    if (!has_index(o->u.o.cap)) {
        for (size_t i = 0; i < o->u.o.n; i++)
            if (m[i].key_len == len && memcmp(m[i].key, key, len) == 0)
                return (ptrdiff_t)i;
        return -1;
    }
    size_t mask = 2 * o->u.o.cap - 1;
    const uint32_t *slot = index_of(o);
    size_t h = (size_t)key_hash(key, len, (uintptr_t)m) & mask;
    for (; slot[h]; h = (h + 1) & mask) {
        const gun__jmember *c = &m[slot[h] - 1];
        if (c->key_len == len && memcmp(c->key, key, len) == 0)
            return (ptrdiff_t)(slot[h] - 1);
    }
    return -1;
}

/* Room for one more member. Capacities are powers of two so the index mask works. */
static int obj_grow(gun__json *o)
{
    if (o->u.o.n < o->u.o.cap)
        return GUN_OK;
    size_t cap = o->u.o.cap ? o->u.o.cap * 2 : 4;
    if (cap > SIZE_MAX / (sizeof(gun__jmember) + 2 * sizeof(uint32_t)))
        return GUN_ENOMEM;
    /* realloc would move the index with the members but at the wrong offset; the index is
     * rebuilt anyway (its seed is the new address), so a fresh block is as cheap. */
    gun__jmember *m = gun__malloc(alloc_size(cap));
    if (!m)
        return GUN_ENOMEM;
    if (o->u.o.n)
        memcpy(m, o->u.o.m, o->u.o.n * sizeof *m);
    gun__free(o->u.o.m);
    o->u.o.m = m;
    o->u.o.cap = cap;
    index_rebuild(o);
    return GUN_OK;
}

/* Appends a member the caller knows is new (parsers after their own duplicate handling).
 * Takes key (owned, NUL-terminated) and v; frees both on failure. */
int gun__json_obj_append(gun__json *obj, char *key, size_t key_len, gun__json *v)
{
    if (obj_grow(obj)) {
        gun__free(key);
        gun__json_free(v);
        return GUN_ENOMEM;
    }
    size_t i = obj->u.o.n++;
    obj->u.o.m[i].key = key;
    obj->u.o.m[i].key_len = key_len;
    obj->u.o.m[i].val = v;
    if (has_index(obj->u.o.cap))
        index_insert(obj, i);
    return GUN_OK;
}

int gun__json_obj_set(gun__json *obj, const char *key, size_t key_len, gun__json *v)
{
    if (!obj || obj->t != GUN__J_OBJ || !v || !key) {
        gun__json_free(v);
        return GUN_EINVAL;
    }
    ptrdiff_t i = find(obj, key, key_len);
    if (i >= 0) {
        gun__json_free(obj->u.o.m[i].val);
        obj->u.o.m[i].val = v;
        return GUN_OK;
    }
    char *k = gun__strndup(key, key_len);
    if (!k) {
        gun__json_free(v);
        return GUN_ENOMEM;
    }
    return gun__json_obj_append(obj, k, key_len, v);
}

gun__json *gun__json_obj_get(const gun__json *obj, const char *key, size_t key_len)
{
    if (!obj || obj->t != GUN__J_OBJ || !key)
        return NULL;
    ptrdiff_t i = find(obj, key, key_len);
    return i < 0 ? NULL : obj->u.o.m[i].val;
}

gun__json *gun__json_obj_getc(const gun__json *obj, const char *key)
{
    return key ? gun__json_obj_get(obj, key, strlen(key)) : NULL;
}

int gun__json_obj_del(gun__json *obj, const char *key, size_t key_len)
{
    if (!obj || obj->t != GUN__J_OBJ || !key)
        return 0;
    ptrdiff_t i = find(obj, key, key_len);
    if (i < 0)
        return 0;
    gun__jmember *m = obj->u.o.m;
    gun__free(m[i].key);
    gun__json_free(m[i].val);
    memmove(m + i, m + i + 1, (obj->u.o.n - (size_t)i - 1) * sizeof *m);
    obj->u.o.n--;
    index_rebuild(obj); /* positions after i moved; deletes are rare, O(n) is fine */
    return 1;
}

int gun__json_arr_push(gun__json *arr, gun__json *v)
{
    if (!arr || arr->t != GUN__J_ARR || !v) {
        gun__json_free(v);
        return GUN_EINVAL;
    }
    if (arr->u.a.n == arr->u.a.cap) {
        size_t cap = arr->u.a.cap ? arr->u.a.cap * 2 : 4;
        gun__json **nv = cap <= SIZE_MAX / sizeof *nv
                             ? gun__realloc(arr->u.a.v, cap * sizeof *nv)
                             : NULL;
        if (!nv) {
            gun__json_free(v);
            return GUN_ENOMEM;
        }
        arr->u.a.v = nv;
        arr->u.a.cap = cap;
    }
    arr->u.a.v[arr->u.a.n++] = v;
    return GUN_OK;
}

gun__json *gun__json_clone(const gun__json *j)
{
    if (!j)
        return NULL;
    switch (j->t) {
    case GUN__J_NULL:
        return gun__json_null();
    case GUN__J_BOOL:
        return gun__json_bool(j->u.b);
    case GUN__J_NUM:
        return gun__json_num(j->u.n);
    case GUN__J_STR:
        return gun__json_str(j->u.s.p, j->u.s.len);
    case GUN__J_ARR: {
        gun__json *a = gun__json_arr();
        for (size_t i = 0; a && i < j->u.a.n; i++) {
            gun__json *c = gun__json_clone(j->u.a.v[i]);
            if (!c || gun__json_arr_push(a, c)) {
                gun__json_free(a);
                return NULL;
            }
        }
        return a;
    }
    case GUN__J_OBJ: {
        gun__json *o = gun__json_obj();
        for (size_t i = 0; o && i < j->u.o.n; i++) {
            const gun__jmember *m = &j->u.o.m[i];
            gun__json *c = gun__json_clone(m->val);
            char *k = c ? gun__strndup(m->key, m->key_len) : NULL;
            if (!k) {
                gun__json_free(c);
                gun__json_free(o);
                return NULL;
            }
            if (gun__json_obj_append(o, k, m->key_len, c)) {
                gun__json_free(o);
                return NULL;
            }
        }
        return o;
    }
    }
    return NULL;
}

/* The merge engine: HAM for every key of a put against the store, one store write for
 * everything accepted, change callbacks after the write, and a queue of future keys that
 * the owner drains with gun__core_run_due when gun__core_next_due says so. Gun.js arms a
 * setTimeout per future key; here the owner arms one timer for the earliest. */
#include "core.h"

#include "../store/store.h"

#include <math.h>
#include <string.h>

/* A deferred key: one allocation holding the entry, soul, key and value text. */
typedef struct dkey {
    double state;
    uint64_t seq; /* arrival order: equal states merge in the order they came */
    gun__str soul, key;
    gun__val val;
    char mem[];
} dkey;

struct gun__core {
    gun__store *store;
    gun__clock clock;
    gun__change_cb cb;
    void *cb_arg;
    dkey **heap; /* min-heap on (state, seq) */
    size_t nheap, capheap;
    size_t defer_max;
    uint64_t seq;
    uint64_t hkey[2];
};

gun__core *gun__core_new(struct gun__store *store, double drift)
{
    if (!store)
        return NULL;
    gun__core *c = gun__calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->store = store;
    gun__clock_init(&c->clock, drift);
    c->defer_max = GUN__CORE_DEFER_MAX;
    gun__hash_seed(c->hkey);
    return c;
}

void gun__core_free(gun__core *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nheap; i++)
        gun__free(c->heap[i]);
    gun__free(c->heap);
    gun__free(c);
}

gun__clock *gun__core_clock(gun__core *c) { return &c->clock; }

void gun__core_on_change(gun__core *c, gun__change_cb cb, void *arg)
{
    c->cb = cb;
    c->cb_arg = arg;
}

void gun__core_set_defer_max(gun__core *c, size_t max) { c->defer_max = max; }

size_t gun__core_deferred(const gun__core *c) { return c->nheap; }

/* ---- the deferral heap ---- */

static int dk_less(const dkey *a, const dkey *b)
{
    return a->state < b->state || (a->state == b->state && a->seq < b->seq);
}

static int heap_reserve(gun__core *c, size_t extra)
{
    if (c->nheap + extra <= c->capheap)
        return GUN_OK;
    size_t cap = c->capheap ? c->capheap : 16;
    while (cap < c->nheap + extra)
        cap *= 2;
    if (cap > SIZE_MAX / sizeof *c->heap)
        return GUN_ENOMEM;
    dkey **h = gun__realloc(c->heap, cap * sizeof *h);
    if (!h)
        return GUN_ENOMEM;
    c->heap = h;
    c->capheap = cap;
    return GUN_OK;
}

/* Capacity must have been reserved. */
static void heap_push(gun__core *c, dkey *d)
{
    size_t i = c->nheap++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!dk_less(d, c->heap[up]))
            break;
        c->heap[i] = c->heap[up];
        i = up;
    }
    c->heap[i] = d;
}

static dkey *heap_pop(gun__core *c)
{
    dkey *top = c->heap[0];
    dkey *last = c->heap[--c->nheap];
    size_t i = 0, n = c->nheap;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const dkey *mv = last;
        if (l < n && dk_less(c->heap[l], mv))
            m = l, mv = c->heap[l];
        if (r < n && dk_less(c->heap[r], mv))
            m = r;
        if (m == i)
            break;
        c->heap[i] = c->heap[m];
        i = m;
    }
    if (n)
        c->heap[i] = last;
    return top;
}

static dkey *dkey_new(gun__core *c, gun__str soul, gun__str key, const gun__val *v,
                      double state)
{
    size_t tl = (v->t == GUN__V_STR || v->t == GUN__V_LINK) ? v->s.len : 0;
    if (soul.len > SIZE_MAX / 4 || key.len > SIZE_MAX / 4 || tl > SIZE_MAX / 4)
        return NULL;
    dkey *d = gun__malloc(sizeof *d + soul.len + key.len + tl + 3);
    if (!d)
        return NULL;
    char *p = d->mem;
    if (soul.len)
        memcpy(p, soul.p, soul.len);
    p[soul.len] = 0;
    d->soul = (gun__str){p, soul.len};
    p += soul.len + 1;
    if (key.len)
        memcpy(p, key.p, key.len);
    p[key.len] = 0;
    d->key = (gun__str){p, key.len};
    p += key.len + 1;
    d->val = *v;
    if (tl)
        memcpy(p, v->s.p, tl);
    p[tl] = 0;
    if (v->t == GUN__V_STR || v->t == GUN__V_LINK)
        d->val.s = (gun__str){p, tl};
    else
        d->val.s = (gun__str){NULL, 0};
    d->state = state;
    d->seq = c->seq++;
    return d;
}

/* ---- merging ---- */

/* One key to merge: views valid for the whole merge. */
typedef struct item {
    gun__str soul, key;
    const gun__val *val;
    double state;
    dkey *own; /* run_due: the queue entry this came from (re-queued as is if deferred) */
} item;

typedef struct decide_ctx {
    double now;
    const item *it;
    gun__ham res;
} decide_ctx;

static int decide_cb(void *arg, gun__str soul, gun__str key, const gun__val *val, double state)
{
    (void)soul, (void)key;
    decide_ctx *d = arg;
    d->res = gun__ham_decide(d->now, d->it->state, d->it->val, 1, state, val);
    return 1;
}

static int stop_cb(void *arg, gun__str soul, gun__str key, const gun__val *val, double state)
{
    (void)arg, (void)soul, (void)key, (void)val, (void)state;
    return 1;
}

/* Does the store hold no key of soul? One probe (a node read stopped at its first key), asked
 * when a put brings several keys of a soul: most puts create nodes, and a node the store does
 * not have needs no lookup per key. 1: none, 0: some, <0: error. */
static int soul_is_new(const gun__store *st, gun__str soul)
{
    int g = st->ops->get_node(st->st, soul, NULL, stop_cb, NULL);
    return g == GUN_ENOTFOUND ? 1 : g == GUN_OK ? 0 : g; /* errors are negative */
}

static uint64_t item_hash(const gun__core *c, gun__str soul, gun__str key)
{
    uint64_t k2[2] = {c->hkey[0] ^ gun__hash64(soul.p ? soul.p : "", soul.len, c->hkey),
                      c->hkey[1]};
    return gun__hash64(key.p ? key.p : "", key.len, k2);
}

/* Runs HAM for items[0..n) in order, as if one by one: a key already accepted earlier in
 * the batch is judged against that value, not the store's. Writes the accepted values in
 * one store write, queues the deferred ones, then reports changes. dec[i] gets each
 * outcome. Returns the number accepted in *acc. On error nothing is changed, except that
 * the clock may have advanced. */
static int merge(gun__core *c, item *items, size_t n, gun__ham *dec, size_t *acc)
{
    *acc = 0;
    if (!n)
        return GUN_OK;
    size_t tsize = 8;
    while (tsize < 2 * n)
        tsize *= 2;
    if (n > SIZE_MAX / 4 / (sizeof(gun__store_rec) + sizeof(dkey *)) ||
        tsize > SIZE_MAX / 4 / sizeof(size_t))
        return GUN_ENOMEM;
    /* One block: the records to write, the overlay table (record index + 1, 0 = empty),
     * and the deferred copies. */
    size_t bytes = n * sizeof(gun__store_rec) + tsize * sizeof(size_t) + n * sizeof(dkey *);
    char *blk = gun__malloc(bytes);
    if (!blk)
        return GUN_ENOMEM;
    gun__store_rec *recs = (gun__store_rec *)blk;
    size_t *tab = (size_t *)(blk + n * sizeof(gun__store_rec));
    dkey **dk = (dkey **)(blk + n * sizeof(gun__store_rec) + tsize * sizeof(size_t));
    memset(tab, 0, tsize * sizeof(size_t));
    memset(dk, 0, n * sizeof(dkey *));
    size_t nrec = 0, ndefer_new = 0;
    int rc = GUN_OK;
    const gun__store *st = c->store;
    gun__str probed = {NULL, 0}; /* the soul soul_is_new was last asked about */
    int fresh = 0;

    for (size_t i = 0; i < n; i++) {
        item *it = &items[i];
        double now = gun__clock_now(&c->clock); /* Gun.js takes State() per key */
        size_t slot = (size_t)item_hash(c, it->soul, it->key) & (tsize - 1);
        size_t ri = 0;
        while (tab[slot]) {
            gun__store_rec *r = &recs[tab[slot] - 1];
            if (gun__str_eq(r->soul, it->soul) && gun__str_eq(r->key, it->key)) {
                ri = tab[slot];
                break;
            }
            slot = (slot + 1) & (tsize - 1);
        }
        if (ri) {
            gun__store_rec *r = &recs[ri - 1];
            dec[i] = gun__ham_decide(now, it->state, it->val, 1, r->state, &r->val);
        } else {
            if (!probed.p || !gun__str_eq(probed, it->soul)) {
                probed = it->soul;
                fresh = 0;
                if (i + 1 < n && gun__str_eq(items[i + 1].soul, it->soul)) {
                    fresh = soul_is_new(st, it->soul);
                    if (fresh < 0) {
                        rc = fresh;
                        goto out;
                    }
                }
            }
            decide_ctx d = {now, it, GUN__HAM_ACCEPT};
            int g = fresh ? GUN_ENOTFOUND
                          : st->ops->get_key(st->st, it->soul, it->key, decide_cb, &d);
            if (g == GUN_ENOTFOUND)
                dec[i] = gun__ham_decide(now, it->state, it->val, 0, 0, NULL);
            else if (g == GUN_OK)
                dec[i] = d.res;
            else {
                rc = g;
                goto out;
            }
        }
        if (dec[i] == GUN__HAM_ACCEPT) {
            if (ri) {
                recs[ri - 1].val = *it->val;
                recs[ri - 1].state = it->state;
            } else {
                recs[nrec] = (gun__store_rec){it->soul, it->key, *it->val, it->state};
                tab[slot] = ++nrec;
            }
        } else if (dec[i] == GUN__HAM_DEFER) {
            if (it->own) {
                dk[i] = it->own; /* back into the queue as it is */
            } else if (c->nheap + ndefer_new >= c->defer_max) {
                dec[i] = GUN__HAM_DROPPED;
            } else {
                dk[i] = dkey_new(c, it->soul, it->key, it->val, it->state);
                if (!dk[i]) {
                    rc = GUN_ENOMEM;
                    goto out;
                }
                ndefer_new++;
            }
        }
    }
    {
        size_t ndefer = 0;
        for (size_t i = 0; i < n; i++)
            ndefer += dk[i] != NULL;
        if ((rc = heap_reserve(c, ndefer)) != GUN_OK)
            goto out;
    }
    if (nrec) {
        gun__err e = {0};
        rc = st->ops->write(st->st, recs, nrec, &e);
        if (rc != GUN_OK)
            goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (dk[i])
            heap_push(c, dk[i]);
    for (size_t i = 0; i < n; i++) {
        if (dec[i] != GUN__HAM_ACCEPT)
            continue;
        ++*acc;
        if (c->cb)
            c->cb(c->cb_arg, items[i].soul, items[i].key, items[i].val, items[i].state);
    }
    gun__free(blk);
    return GUN_OK;

out:
    for (size_t i = 0; i < n; i++)
        if (dk[i] && dk[i] != items[i].own)
            gun__free(dk[i]);
    gun__free(blk);
    return rc;
}

int gun__core_put(gun__core *c, const gun__graph *g, gun__merge_res *res)
{
    size_t n = 0;
    for (size_t i = 0; i < g->n; i++)
        n += g->nodes[i].n;
    if (!n)
        return GUN_OK;
    if (n > SIZE_MAX / (sizeof(item) + sizeof(gun__ham)))
        return GUN_ENOMEM;
    item *items = gun__malloc(n * (sizeof(item) + sizeof(gun__ham)));
    if (!items)
        return GUN_ENOMEM;
    gun__ham *dec = (gun__ham *)(items + n);
    size_t k = 0;
    for (size_t i = 0; i < g->n; i++) {
        const gun__node *nd = &g->nodes[i];
        for (size_t j = 0; j < nd->n; j++, k++) {
            const gun__field *f = &nd->f[j];
            items[k] = (item){nd->soul, f->key, &f->val, f->state, NULL};
        }
    }
    size_t acc;
    /* The callbacks inside merge may re-enter the core; items and dec are ours alone. */
    int rc = merge(c, items, n, dec, &acc);
    if (rc == GUN_OK && res)
        for (size_t i = 0; i < n; i++)
            res[i] = (gun__merge_res){items[i].soul, items[i].key, dec[i], items[i].state};
    gun__free(items);
    return rc;
}

int64_t gun__core_next_due(const gun__core *c)
{
    if (!c->nheap)
        return -1;
    double wait = ceil(c->heap[0]->state - c->clock.drift - gun__now_ms());
    if (!(wait > 0))
        return 0;
    if (wait >= 9.2e18)
        return INT64_MAX;
    return (int64_t)wait;
}

size_t gun__core_run_due(gun__core *c, int *err)
{
    if (err)
        *err = GUN_OK;
    double now = gun__now_ms();
    size_t n = 0;
    /* Take every due entry (its state is no later than the wall clock plus drift, so HAM
     * will not defer it again unless the clock moved back). */
    size_t cap = 0;
    dkey **due = NULL;
    while (c->nheap && c->heap[0]->state - c->clock.drift <= now) {
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            dkey **d2 = nc <= SIZE_MAX / sizeof *d2 ? gun__realloc(due, nc * sizeof *d2) : NULL;
            if (!d2) {
                for (size_t i = 0; i < n; i++)
                    heap_push(c, due[i]); /* the slots they left are still reserved */
                gun__free(due);
                if (err)
                    *err = GUN_ENOMEM;
                return 0;
            }
            due = d2;
            cap = nc;
        }
        due[n++] = heap_pop(c);
    }
    if (!n)
        return 0;
    item *items = n <= SIZE_MAX / (sizeof(item) + sizeof(gun__ham))
                      ? gun__malloc(n * (sizeof(item) + sizeof(gun__ham)))
                      : NULL;
    size_t acc = 0;
    int rc = GUN_ENOMEM;
    if (items) {
        gun__ham *dec = (gun__ham *)(items + n);
        for (size_t i = 0; i < n; i++)
            items[i] = (item){due[i]->soul, due[i]->key, &due[i]->val, due[i]->state, due[i]};
        rc = merge(c, items, n, dec, &acc);
        if (rc == GUN_OK) {
            /* Deferred again went back into the heap; the rest are done. */
            for (size_t i = 0; i < n; i++)
                if (dec[i] != GUN__HAM_DEFER)
                    gun__free(due[i]);
        }
        gun__free(items);
    }
    if (rc != GUN_OK) {
        for (size_t i = 0; i < n; i++)
            heap_push(c, due[i]);
        acc = 0;
        if (err)
            *err = rc;
    }
    gun__free(due);
    return acc;
}

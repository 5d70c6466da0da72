/* The memory store: the whole graph in RAM, nothing persisted.
 *
 * Layout: a seeded hash table soul -> node for O(1) lookups, plus an AVL tree of souls
 * for ordered listing; each node holds its keys in an AVL tree. Both trees order by
 * UTF-16 code units (gun__utf16_cmp), so whole-node reads, lex ranges and soul listings
 * are in-order walks that seek to the start of the range.
 *
 * Costs, for s souls and k keys in a node, m keys visited:
 *   get_key             O(1) + O(log k)
 *   get_node, lex       O(log k + m)
 *   souls, lex          O(log s + m)
 *   write, per record   O(1) amortized + O(log k) (+ O(log s) for a new soul)
 * Gun never deletes a key (null is a value), so the trees only ever grow and need no
 * delete path. A 10,000-key node is a tree of height <= 19.
 *
 * Not thread-safe: the owner serializes calls (one loop thread). */
#include "../store.h"

#include <string.h>

typedef struct avl {
    struct avl *l, *r;
    int h;
    const char *k; /* key bytes (NUL-terminated) */
    size_t klen;
} avl;

typedef struct mkey {
    avl a; /* first: an avl * is an mkey * */
    double state;
    gun__val val; /* owned copy */
    char k[];
} mkey;

typedef struct msoul {
    avl a; /* first: an avl * is an msoul * */
    struct msoul *hnext;
    uint64_t h;
    int intree; /* in the souls tree (has had a key written) */
    avl *keys;
    size_t nkeys;
    char s[];
} msoul;

typedef struct mem {
    msoul **tab;
    size_t nb; /* power of two */
    size_t n;
    size_t nsouls, nkeys; /* souls with keys, keys in all */
    avl *souls;
    uint64_t hkey[2];
} mem;

#define MIN_BUCKETS 64
#define MAX_DEPTH 96 /* an AVL tree of height 96 would need more nodes than memory holds */

/* ---- AVL (insert only) ---- */

static int height(const avl *t) { return t ? t->h : 0; }

static void fix(avl *t)
{
    int hl = height(t->l), hr = height(t->r);
    t->h = (hl > hr ? hl : hr) + 1;
}

static avl *rot_right(avl *t)
{
    avl *l = t->l;
    t->l = l->r;
    l->r = t;
    fix(t);
    fix(l);
    return l;
}

static avl *rot_left(avl *t)
{
    avl *r = t->r;
    t->r = r->l;
    r->l = t;
    fix(t);
    fix(r);
    return r;
}

static avl *balance(avl *t)
{
    fix(t);
    int bf = height(t->l) - height(t->r);
    if (bf > 1) {
        if (height(t->l->l) < height(t->l->r))
            t->l = rot_left(t->l);
        return rot_right(t);
    }
    if (bf < -1) {
        if (height(t->r->r) < height(t->r->l))
            t->r = rot_right(t->r);
        return rot_left(t);
    }
    return t;
}

static int kcmp(const char *a, size_t alen, const avl *b)
{
    return gun__utf16_cmp(a, alen, b->k, b->klen);
}

/* x must not be in t yet. Recursion depth is the tree height. */
static avl *avl_insert(avl *t, avl *x)
{
    if (!t) {
        x->l = x->r = NULL;
        x->h = 1;
        return x;
    }
    if (kcmp(x->k, x->klen, t) < 0)
        t->l = avl_insert(t->l, x);
    else
        t->r = avl_insert(t->r, x);
    return balance(t);
}

static avl *avl_find(avl *t, const char *k, size_t klen)
{
    while (t) {
        int c = kcmp(k, klen, t);
        if (c == 0)
            return t;
        t = c < 0 ? t->l : t->r;
    }
    return NULL;
}

typedef int (*avl_visit)(avl *x, void *arg);

/* Visits the nodes matching lex in order (or reverse order): seeks to the range's first
 * node, walks until the first node past it. Returns 1 if the visitor stopped the walk. */
static int avl_walk(avl *root, const gun__lex *lex, avl_visit cb, void *arg)
{
    avl *stack[MAX_DEPTH];
    int sp = 0;
    int rev = lex && lex->reverse;
    avl *t = root;
    while (t) {
        gun__str k = {t->k, t->klen};
        if (!rev ? gun__lex_below(lex, k) : gun__lex_above(lex, k)) {
            t = rev ? t->l : t->r;
        } else {
            GUN_ASSERT(sp < MAX_DEPTH);
            stack[sp++] = t;
            t = rev ? t->r : t->l;
        }
    }
    while (sp) {
        avl *x = stack[--sp];
        gun__str k = {x->k, x->klen};
        if (!rev ? gun__lex_above(lex, k) : gun__lex_below(lex, k))
            break;
        if (gun__lex_match(lex, k) && cb(x, arg))
            return 1;
        for (t = rev ? x->l : x->r; t; t = rev ? t->r : t->l) {
            GUN_ASSERT(sp < MAX_DEPTH);
            stack[sp++] = t;
        }
    }
    return 0;
}

static void free_keys(avl *t)
{
    /* Iterative post-order would need a stack too; the height is small, recurse. */
    if (!t)
        return;
    free_keys(t->l);
    free_keys(t->r);
    mkey *k = (mkey *)t;
    gun__val_clear(&k->val);
    gun__free(k);
}

/* ---- souls hash ---- */

static msoul **soul_slot(mem *m, const char *s, size_t len, uint64_t h)
{
    msoul **pp = &m->tab[h & (m->nb - 1)];
    while (*pp) {
        msoul *x = *pp;
        if (x->h == h && x->a.klen == len && memcmp(x->s, s, len) == 0)
            return pp;
        pp = &x->hnext;
    }
    return pp;
}

static msoul *soul_find(mem *m, gun__str soul)
{
    if (!soul.len)
        return NULL;
    uint64_t h = gun__hash64(soul.p, soul.len, m->hkey);
    return *soul_slot(m, soul.p, soul.len, h);
}

static void soul_unhash(mem *m, msoul *x)
{
    msoul **pp = &m->tab[x->h & (m->nb - 1)];
    while (*pp != x)
        pp = &(*pp)->hnext;
    *pp = x->hnext;
    m->n--;
}

/* Optional: on OOM chains get longer, nothing else changes. */
static void grow(mem *m)
{
    size_t nb = m->nb * 2;
    msoul **tab = gun__calloc(nb, sizeof *tab);
    if (!tab)
        return;
    for (size_t i = 0; i < m->nb; i++) {
        msoul *x = m->tab[i];
        while (x) {
            msoul *nx = x->hnext;
            x->hnext = tab[x->h & (nb - 1)];
            tab[x->h & (nb - 1)] = x;
            x = nx;
        }
    }
    gun__free(m->tab);
    m->tab = tab;
    m->nb = nb;
}

/* ---- ops ---- */

static int mem_open(void **st, const gun__store_cfg *cfg, gun__err *e)
{
    (void)cfg;
    mem *m = gun__calloc(1, sizeof *m);
    if (!m)
        return gun__fail(e, GUN_ENOMEM, "store mem: out of memory");
    m->tab = gun__calloc(MIN_BUCKETS, sizeof *m->tab);
    if (!m->tab) {
        gun__free(m);
        return gun__fail(e, GUN_ENOMEM, "store mem: out of memory");
    }
    m->nb = MIN_BUCKETS;
    gun__hash_seed(m->hkey);
    *st = m;
    return GUN_OK;
}

static void mem_close(void *st)
{
    mem *m = st;
    if (!m)
        return;
    for (size_t i = 0; i < m->nb; i++) {
        msoul *x = m->tab[i];
        while (x) {
            msoul *nx = x->hnext;
            free_keys(x->keys);
            gun__free(x);
            x = nx;
        }
    }
    gun__free(m->tab);
    gun__free(m);
}

static int mem_get_key(void *st, gun__str soul, gun__str key, gun__store_visit cb, void *arg)
{
    mem *m = st;
    msoul *s = soul_find(m, soul);
    if (!s || !s->nkeys)
        return GUN_ENOTFOUND;
    mkey *k = (mkey *)avl_find(s->keys, key.p ? key.p : "", key.len);
    if (!k)
        return GUN_ENOTFOUND;
    gun__str sv = {s->s, s->a.klen}, kv = {k->k, k->a.klen};
    cb(arg, sv, kv, &k->val, k->state);
    return GUN_OK;
}

typedef struct node_walk {
    gun__str soul;
    gun__store_visit cb;
    void *arg;
} node_walk;

static int visit_key(avl *x, void *arg)
{
    node_walk *w = arg;
    mkey *k = (mkey *)x;
    gun__str kv = {k->k, k->a.klen};
    return w->cb(w->arg, w->soul, kv, &k->val, k->state);
}

static int mem_get_node(void *st, gun__str soul, const gun__lex *lex, gun__store_visit cb,
                        void *arg)
{
    mem *m = st;
    msoul *s = soul_find(m, soul);
    if (!s || !s->nkeys)
        return GUN_ENOTFOUND;
    node_walk w = {{s->s, s->a.klen}, cb, arg};
    avl_walk(s->keys, lex, visit_key, &w);
    return GUN_OK;
}

typedef struct soul_walk {
    gun__soul_visit cb;
    void *arg;
} soul_walk;

static int visit_soul(avl *x, void *arg)
{
    soul_walk *w = arg;
    gun__str sv = {x->k, x->klen};
    return w->cb(w->arg, sv);
}

static int mem_souls(void *st, const gun__lex *lex, gun__soul_visit cb, void *arg)
{
    mem *m = st;
    soul_walk w = {cb, arg};
    avl_walk(m->souls, lex, visit_soul, &w);
    return GUN_OK;
}

/* What phase 1 of a write allocates for one record, so phase 2 cannot fail. */
typedef struct prep {
    gun__val v;     /* the value copy */
    mkey *k;        /* a new key entry, if the key did not exist */
    msoul *created; /* a soul this record added to the hash, if it did not exist */
} prep;

static void prep_undo(mem *m, prep *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        gun__val_clear(&p[i].v);
        gun__free(p[i].k);
        if (p[i].created) {
            soul_unhash(m, p[i].created);
            gun__free(p[i].created);
        }
    }
}

static int mem_write(void *st, const gun__store_rec *recs, size_t n, gun__err *e)
{
    mem *m = st;
    if (!n)
        return GUN_OK;
    for (size_t i = 0; i < n; i++) {
        const gun__store_rec *r = &recs[i];
        if (!r->soul.len || memchr(r->soul.p, 0, r->soul.len))
            return gun__fail(e, GUN_EINVAL, "store mem: record %zu: empty soul or NUL in soul",
                             i);
        if (r->key.len && (!r->key.p || memchr(r->key.p, 0, r->key.len)))
            return gun__fail(e, GUN_EINVAL, "store mem: record %zu: NUL in key", i);
        if ((r->val.t == GUN__V_STR || r->val.t == GUN__V_LINK) && r->val.s.len && !r->val.s.p)
            return gun__fail(e, GUN_EINVAL, "store mem: record %zu: value without text", i);
        if (r->val.t > GUN__V_LINK)
            return gun__fail(e, GUN_EINVAL, "store mem: record %zu: bad value type", i);
    }
    if (n > SIZE_MAX / sizeof(prep))
        return gun__fail(e, GUN_ENOMEM, "store mem: out of memory");
    prep *p = gun__calloc(n, sizeof *p);
    if (!p)
        return gun__fail(e, GUN_ENOMEM, "store mem: out of memory");

    /* Phase 1: allocate everything. New souls go into the hash at once (with no keys,
     * invisible to readers, which need nkeys > 0) so that later records of the batch
     * find them; on failure they are taken out again. */
    size_t i;
    for (i = 0; i < n; i++) {
        const gun__store_rec *r = &recs[i];
        if (gun__val_copy(&p[i].v, &r->val) != GUN_OK)
            goto oom;
        uint64_t h = gun__hash64(r->soul.p, r->soul.len, m->hkey);
        msoul **pp = soul_slot(m, r->soul.p, r->soul.len, h);
        msoul *s = *pp;
        if (!s) {
            s = gun__calloc(1, sizeof *s + r->soul.len + 1);
            if (!s)
                goto oom;
            memcpy(s->s, r->soul.p, r->soul.len);
            s->a.k = s->s;
            s->a.klen = r->soul.len;
            s->h = h;
            *pp = s;
            m->n++;
            p[i].created = s;
        }
        const char *kp = r->key.p ? r->key.p : "";
        if (!avl_find(s->keys, kp, r->key.len)) {
            mkey *k = gun__calloc(1, sizeof *k + r->key.len + 1);
            if (!k)
                goto oom;
            if (r->key.len)
                memcpy(k->k, kp, r->key.len);
            k->a.k = k->k;
            k->a.klen = r->key.len;
            p[i].k = k;
        }
    }
    if (m->n > m->nb)
        grow(m);

    /* Phase 2: apply; nothing here allocates. */
    for (i = 0; i < n; i++) {
        const gun__store_rec *r = &recs[i];
        msoul *s = soul_find(m, r->soul);
        GUN_ASSERT(s);
        if (!s->intree) {
            m->souls = avl_insert(m->souls, &s->a);
            s->intree = 1;
            m->nsouls++;
        }
        mkey *k = (mkey *)avl_find(s->keys, r->key.p ? r->key.p : "", r->key.len);
        if (k) {
            gun__free(p[i].k); /* an earlier record of this batch made it */
            gun__val_clear(&k->val);
        } else {
            k = p[i].k;
            GUN_ASSERT(k);
            s->keys = avl_insert(s->keys, &k->a);
            s->nkeys++;
            m->nkeys++;
        }
        k->val = p[i].v;
        k->state = r->state;
    }
    gun__free(p);
    return GUN_OK;

oom:
    prep_undo(m, p, i + 1);
    gun__free(p);
    return gun__fail(e, GUN_ENOMEM, "store mem: out of memory");
}

static void mem_stat(void *st, gun__store_stat *out)
{
    mem *m = st;
    out->souls = (int64_t)m->nsouls;
    out->keys = (int64_t)m->nkeys;
    out->bytes = -1; /* nothing on disk */
}

const gun__store_ops gun__store_mem_ops = {
    .version = GUN__STORE_OPS_VERSION,
    .name = "mem",
    .open = mem_open,
    .close = mem_close,
    .get_key = mem_get_key,
    .get_node = mem_get_node,
    .souls = mem_souls,
    .write = mem_write,
    .stat = mem_stat,
};

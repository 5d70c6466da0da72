/* Chains: the instance's cache of paths from the root. The same path always gives the same
 * pointer; chains live until gun_close. Creation may happen on any thread (chain_lock);
 * the fields a chain is born with never change afterwards, so reading them needs no lock. */
#include <string.h>

#include "chain.h"

static gun_chain *chain_new(gun_t *g, gun_chain *parent, const char *key, size_t len,
                            int kind)
{
    gun_chain *c = gun__calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->g = g;
    c->parent = parent;
    c->kind = kind;
    c->depth = parent ? parent->depth + 1 : 0;
    c->nmaps = (parent ? parent->nmaps : 0) + (kind == GUN__CH_MAP);
    atomic_init(&c->off_gen, 0);
    if (kind == GUN__CH_ROOT) {
        c->path = gun__strndup("", 0);
        if (!c->path) {
            gun__free(c);
            return NULL;
        }
        return c;
    }
    c->key = gun__strndup(key, len);
    c->key_len = len;
    gun__buf b;
    gun__buf_init(&b);
    if (parent->kind != GUN__CH_ROOT) {
        gun__buf_adds(&b, parent->path);
        gun__buf_addc(&b, '/');
    }
    gun__buf_add(&b, key, len);
    if (!c->key || b.oom || !b.p) {
        gun__buf_free(&b);
        gun__free(c->key);
        gun__free(c);
        return NULL;
    }
    c->path = gun__buf_take(&b);
    return c;
}

static void chain_free(gun_chain *c)
{
    if (c->kids)
        gun__map_free(c->kids, NULL);
    gun__free(c->key);
    gun__free(c->path);
    gun__free(c);
}

int gun__chain_root_new(gun_t *g)
{
    g->root = chain_new(g, NULL, NULL, 0, GUN__CH_ROOT);
    if (!g->root)
        return GUN_ENOMEM;
    g->chains = g->root;
    return GUN_OK;
}

void gun__chains_free(gun_t *g)
{
    gun_chain *c = g->chains;
    while (c) {
        gun_chain *next = c->all_next;
        chain_free(c);
        c = next;
    }
    g->chains = NULL;
    g->root = NULL;
}

int gun__chain_child(gun_chain *c, const char *key, size_t len, int kind, gun_chain **out)
{
    gun_t *g = c->g;
    gun_chain *k;
    int rc = GUN_OK;
    uv_mutex_lock(&g->chain_lock);
    if (kind == GUN__CH_MAP) {
        k = c->map;
        if (!k) {
            k = chain_new(g, c, "*", 1, GUN__CH_MAP);
            if (!k) {
                rc = GUN_ENOMEM;
                goto out;
            }
            c->map = k;
            k->all_next = g->chains;
            g->chains = k;
        }
        *out = k;
        goto out;
    }
    if (!c->kids && !(c->kids = gun__map_new())) {
        rc = GUN_ENOMEM;
        goto out;
    }
    k = gun__map_get(c->kids, key, len);
    if (!k) {
        k = chain_new(g, c, key, len, kind);
        if (!k) {
            rc = GUN_ENOMEM;
            goto out;
        }
        if (gun__map_put(c->kids, key, len, k, NULL) != GUN_OK) {
            chain_free(k);
            rc = GUN_ENOMEM;
            goto out;
        }
        k->all_next = g->chains;
        g->chains = k;
    }
    *out = k;
out:
    uv_mutex_unlock(&g->chain_lock);
    return rc;
}

/* Text that can become a JSON string: UTF-8 (lone surrogates allowed, as in JS strings). */
static int valid_text(const char *s, size_t len)
{
    uint32_t cp;
    for (size_t i = 0; i < len;) {
        size_t n = gun__wtf8_decode(s + i, len - i, &cp);
        if (!n)
            return 0;
        i += n;
    }
    return 1;
}

int gun_get(gun_t *g, const char *soul, gun_chain **out)
{
    if (!g || !soul || !out)
        return GUN_EINVAL;
    size_t len = strlen(soul);
    if (!len || !valid_text(soul, len))
        return GUN_EBADSOUL; /* Gun.js: "0 length key!" */
    return gun__chain_child(g->root, soul, len, GUN__CH_SOUL, out);
}

int gun_chain_get(gun_chain *c, const char *key, gun_chain **out)
{
    if (!c || !key || !out)
        return GUN_EINVAL;
    if (c->kind == GUN__CH_ROOT)
        return gun_get(c->g, key, out);
    size_t len = strlen(key);
    if (!len || !valid_text(key, len))
        return GUN_EBADKEY; /* Gun.js: "0 length key!" */
    return gun__chain_child(c, key, len, GUN__CH_KEY, out);
}

gun_chain *gun_root(gun_t *g) { return g ? g->root : NULL; }

int gun_back(gun_chain *c, int n, gun_chain **out)
{
    if (!c || !out)
        return GUN_EINVAL;
    if (n < 0) {
        *out = c->g->root;
        return GUN_OK;
    }
    if (n > c->depth)
        return GUN_ENOTFOUND;
    gun_chain *p = c;
    while (n-- > 0)
        p = p->parent;
    *out = p;
    return GUN_OK;
}

const char *gun_chain_path(const gun_chain *c) { return c ? c->path : NULL; }

int gun_map(gun_chain *c, gun_chain **out)
{
    if (!c || !out)
        return GUN_EINVAL;
    if (c->kind == GUN__CH_ROOT)
        return GUN_EINVAL; /* the root has souls, not items */
    if (c->nmaps)
        return GUN_ENOTSUP; /* map().map(): one map level per path */
    return gun__chain_child(c, "*", 1, GUN__CH_MAP, out);
}

/* on / once / map / off: turning store changes into callbacks (spec §7).
 *
 * A listener resolves its chain against the store: from the soul, each key step reads a
 * link (a path dependency); the last step gives the value (the final dependency: the key,
 * or every key of the node it links to). Map chains resolve the path to a node and then
 * one item per key of that node. Every dependency is a watch record in a per-soul bucket,
 * so a change costs the watchers of that soul only; a map's item is re-resolved alone
 * when its key or its linked node changes.
 *
 * A resolution fires when its value changed (a final dependency was hit) or when a change
 * of the path moved it somewhere else (a link was switched); a path rewrite that ends at
 * the same place does not fire. Values are snapshot as JSON when the change is seen and
 * delivered in order from the event queue. */
#include <string.h>

#include "chain.h"

/* ---- watch index ---- */

static gun__wbucket *bucket(gun_t *g, const char *soul, size_t len, int create)
{
    gun__wbucket *b = gun__map_get(g->watch, soul, len);
    if (b || !create)
        return b;
    b = gun__calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->soul = gun__strndup(soul, len);
    b->len = len;
    if (!b->soul || gun__map_put(g->watch, soul, len, b, NULL) != GUN_OK) {
        gun__free(b->soul);
        gun__free(b);
        return NULL;
    }
    gun__net_ask(g, soul, len); /* first listener of this soul: ask the peers too */
    return b;
}

static int watch_add(gun_t *g, gun__lis *l, gun__item *it, const char *soul, size_t sl,
                     const char *key, size_t kl, int final, int enumw)
{
    gun__watch *w = gun__calloc(1, sizeof *w);
    if (!w)
        return GUN_ENOMEM;
    if (key) {
        w->key = gun__strndup(key, kl);
        if (!w->key) {
            gun__free(w);
            return GUN_ENOMEM;
        }
        w->key_len = kl;
    }
    gun__wbucket *b = bucket(g, soul, sl, 1);
    if (!b) {
        gun__free(w->key);
        gun__free(w);
        return GUN_ENOMEM;
    }
    w->b = b;
    w->l = l;
    w->it = it;
    w->final = final;
    w->enumw = enumw;
    w->snext = b->head;
    if (b->head)
        b->head->sprev = w;
    b->head = w;
    w->onext = it->w;
    it->w = w;
    return GUN_OK;
}

static void watches_clear(gun_t *g, gun__item *it)
{
    gun__watch *w = it->w;
    while (w) {
        gun__watch *next = w->onext;
        gun__wbucket *b = w->b;
        if (w->sprev)
            w->sprev->snext = w->snext;
        else
            b->head = w->snext;
        if (w->snext)
            w->snext->sprev = w->sprev;
        if (!b->head) {
            gun__map_del(g->watch, b->soul, b->len);
            gun__free(b->soul);
            gun__free(b);
        }
        gun__free(w->key);
        gun__free(w);
        w = next;
    }
    it->w = NULL;
}

static void item_clear(gun_t *g, gun__item *it)
{
    watches_clear(g, it);
    gun__free(it->key);
    gun__free(it->ident);
    it->key = NULL;
    it->ident = NULL;
}

static void item_free(gun_t *g, gun__item *it)
{
    item_clear(g, it);
    gun__free(it);
}

/* ---- store reads ---- */

typedef struct valread {
    gun__val v;
    int found;
    int oom;
} valread;

static int val_visit(void *arg, gun__str soul, gun__str key, const gun__val *val, double st)
{
    valread *r = arg;
    (void)key;
    (void)st;
    /* SEA: a signed user-graph value reads as its plain value (sea.js's put['=']). */
    int plain = gun__sea_unpack(soul, val, &r->v);
    if (plain < 0 || (!plain && gun__val_copy(&r->v, val) != GUN_OK))
        r->oom = 1;
    else
        r->found = 1;
    return 1;
}

static int read_val(gun_t *g, const char *soul, size_t sl, const char *key, size_t kl,
                    valread *r)
{
    memset(r, 0, sizeof *r);
    g->store.ops->get_key(g->store.st, (gun__str){soul, sl}, (gun__str){key, kl}, val_visit,
                          r);
    return r->found;
}

typedef struct nodeb {
    gun__json *node;
    gun__json *states;
    int oom;
    int n;
} nodeb;

static int node_visit(void *arg, gun__str soul, gun__str key, const gun__val *val,
                      double state)
{
    nodeb *nb = arg;
    gun__val pv;
    int plain = gun__sea_unpack(soul, val, &pv); /* SEA: as in val_visit */
    gun__json *v = plain < 0 ? NULL : gun__val_to_json(plain ? &pv : val);
    if (plain > 0)
        gun__val_clear(&pv);
    gun__json *s = gun__json_num(state);
    if (!v || !s) {
        gun__json_free(v);
        gun__json_free(s);
        nb->oom = 1;
        return 1;
    }
    if (gun__json_obj_set(nb->states, key.p, key.len, s) != GUN_OK) {
        gun__json_free(v); /* obj_set freed s */
        nb->oom = 1;
        return 1;
    }
    if (gun__json_obj_set(nb->node, key.p, key.len, v) != GUN_OK) {
        nb->oom = 1;
        return 1;
    }
    nb->n++;
    return 0;
}

char *gun__node_json(gun_t *g, gun__str soul, int *oom)
{
    nodeb nb = {0};
    gun__json *meta = gun__json_obj(), *ss = gun__json_str(soul.p, soul.len);
    nb.node = gun__json_obj();
    nb.states = gun__json_obj();
    if (!meta || !ss || !nb.node || !nb.states) {
        gun__json_free(meta);
        gun__json_free(ss);
        gun__json_free(nb.node);
        gun__json_free(nb.states);
        *oom = 1;
        return NULL;
    }
    /* {"_":{"#":soul,">":{...}}, key: value, ...}: Gun's node as JSON.stringify prints it. */
    if (gun__json_obj_set(meta, "#", 1, ss) != GUN_OK) {
        gun__json_free(meta);
        gun__json_free(nb.node);
        gun__json_free(nb.states);
        *oom = 1;
        return NULL;
    }
    if (gun__json_obj_set(meta, ">", 1, nb.states) != GUN_OK) {
        gun__json_free(meta);
        gun__json_free(nb.node);
        *oom = 1;
        return NULL;
    }
    if (gun__json_obj_set(nb.node, "_", 1, meta) != GUN_OK) {
        gun__json_free(nb.node);
        *oom = 1;
        return NULL;
    }
    g->store.ops->get_node(g->store.st, soul, NULL, node_visit, &nb);
    char *out = NULL;
    if (nb.oom) {
        *oom = 1;
    } else if (nb.n) {
        gun__buf b;
        gun__buf_init(&b);
        gun__json_write(&b, nb.node, GUN__JSON_JS);
        if (b.oom)
            *oom = 1;
        else
            out = gun__buf_take(&b);
        gun__buf_free(&b);
    }
    gun__json_free(nb.node);
    return out;
}

typedef struct keyvec {
    char **k;
    size_t *len;
    size_t n, cap;
    int oom;
} keyvec;

static int key_visit(void *arg, gun__str soul, gun__str key, const gun__val *val, double st)
{
    keyvec *kv = arg;
    (void)soul;
    (void)val;
    (void)st;
    if (kv->n == kv->cap) {
        size_t ncap = kv->cap ? kv->cap * 2 : 16;
        char **nk = gun__realloc(kv->k, ncap * sizeof *nk);
        if (!nk) {
            kv->oom = 1;
            return 1;
        }
        kv->k = nk;
        size_t *nl = gun__realloc(kv->len, ncap * sizeof *nl);
        if (!nl) {
            kv->oom = 1;
            return 1;
        }
        kv->len = nl;
        kv->cap = ncap;
    }
    kv->k[kv->n] = gun__strndup(key.p, key.len);
    if (!kv->k[kv->n]) {
        kv->oom = 1;
        return 1;
    }
    kv->len[kv->n++] = key.len;
    return 0;
}

static void keyvec_free(keyvec *kv)
{
    for (size_t i = 0; i < kv->n; i++)
        gun__free(kv->k[i]);
    gun__free(kv->k);
    gun__free(kv->len);
    memset(kv, 0, sizeof *kv);
}

/* ---- resolution ---- */

enum { P_DEAD = 0, P_NODE, P_KEY };

typedef struct rpos {
    int kind;
    char *soul;
    size_t sl;
    char *key; /* P_KEY */
    size_t kl;
} rpos;

typedef struct rctx {
    gun_t *g;
    gun__lis *l;
    gun__item *it;
    const char *skip_soul; /* a map item: (enum soul, item key) is watched by the map */
    size_t skip_sl;
    const char *skip_key;
    size_t skip_kl;
    int oom;
} rctx;

static void pos_clear(rpos *p)
{
    gun__free(p->soul);
    gun__free(p->key);
    memset(p, 0, sizeof *p);
}

static int pos_set(rpos *p, int kind, const char *soul, size_t sl, const char *key, size_t kl)
{
    char *s = gun__strndup(soul, sl), *k = key ? gun__strndup(key, kl) : NULL;
    if (!s || (key && !k)) {
        gun__free(s);
        gun__free(k);
        return GUN_ENOMEM;
    }
    pos_clear(p);
    p->kind = kind;
    p->soul = s;
    p->sl = sl;
    p->key = k;
    p->kl = kl;
    return GUN_OK;
}

static void watch(rctx *r, const char *soul, size_t sl, const char *key, size_t kl, int final)
{
    if (key && r->skip_soul && sl == r->skip_sl && kl == r->skip_kl &&
        !memcmp(soul, r->skip_soul, sl) && !memcmp(key, r->skip_key, kl))
        return;
    if (watch_add(r->g, r->l, r->it, soul, sl, key, kl, final, 0) != GUN_OK)
        r->oom = 1;
}

/* Reads through P_KEY (soul.key must be a link) so the position is a node: *soul_out. */
static int pos_link(rctx *r, const rpos *p, char **soul_out, size_t *sl_out)
{
    valread vr;
    *soul_out = NULL;
    if (p->kind == P_NODE) {
        *soul_out = gun__strndup(p->soul, p->sl);
        *sl_out = p->sl;
        if (!*soul_out)
            r->oom = 1;
        return *soul_out != NULL;
    }
    if (p->kind != P_KEY)
        return 0;
    watch(r, p->soul, p->sl, p->key, p->kl, 0);
    if (!read_val(r->g, p->soul, p->sl, p->key, p->kl, &vr)) {
        if (vr.oom)
            r->oom = 1;
        return 0;
    }
    int ok = 0;
    if (vr.v.t == GUN__V_LINK) {
        *soul_out = gun__strndup(vr.v.s.p, vr.v.s.len);
        *sl_out = vr.v.s.len;
        ok = *soul_out != NULL;
        if (!ok)
            r->oom = 1;
    }
    gun__val_clear(&vr.v);
    return ok;
}

/* One key step. */
static void step_key(rctx *r, rpos *p, const char *k, size_t kl)
{
    char *s;
    size_t sl;
    if (p->kind == P_DEAD)
        return;
    if (!pos_link(r, p, &s, &sl)) {
        pos_clear(p);
        return;
    }
    if (pos_set(p, P_KEY, s, sl, k, kl) != GUN_OK) {
        r->oom = 1;
        pos_clear(p);
    }
    gun__free(s);
}

/* Where a resolution ended, as bytes: kind, soul, NUL, key. */
static char *pos_ident(const rpos *p, size_t *len)
{
    gun__buf b;
    gun__buf_init(&b);
    gun__buf_addc(&b, (char)('0' + p->kind));
    if (p->soul)
        gun__buf_add(&b, p->soul, p->sl);
    gun__buf_addc(&b, '\0');
    if (p->key)
        gun__buf_add(&b, p->key, p->kl);
    if (b.oom) {
        gun__buf_free(&b);
        return NULL;
    }
    *len = b.len;
    return gun__buf_take(&b);
}

/* The value at a position as callback JSON, or NULL (absent). *prim: a primitive. */
static char *pos_value(rctx *r, const rpos *p, int *prim)
{
    int oom = 0;
    char *out = NULL;
    *prim = 0;
    if (p->kind == P_NODE) {
        watch(r, p->soul, p->sl, NULL, 0, 1);
        out = gun__node_json(r->g, (gun__str){p->soul, p->sl}, &oom);
    } else if (p->kind == P_KEY) {
        valread vr;
        watch(r, p->soul, p->sl, p->key, p->kl, 1);
        if (read_val(r->g, p->soul, p->sl, p->key, p->kl, &vr)) {
            if (vr.v.t == GUN__V_LINK) {
                watch(r, vr.v.s.p, vr.v.s.len, NULL, 0, 1);
                out = gun__node_json(r->g, vr.v.s, &oom);
            } else {
                gun__buf b;
                gun__buf_init(&b);
                gun__val_write(&b, &vr.v);
                oom = b.oom;
                out = oom ? NULL : gun__buf_take(&b);
                gun__buf_free(&b);
                *prim = 1;
            }
            gun__val_clear(&vr.v);
        } else if (vr.oom) {
            oom = 1;
        }
    }
    if (oom)
        r->oom = 1;
    return out;
}

/* The chain's steps below the root: st[0] is the soul chain. */
static gun_chain **steps_of(gun_chain *c, int *n, int *map_at)
{
    *n = c->depth;
    *map_at = -1;
    gun_chain **st = gun__malloc((size_t)*n * sizeof *st);
    if (!st)
        return NULL;
    gun_chain *p = c;
    for (int i = *n - 1; i >= 0; i--) {
        st[i] = p;
        if (p->kind == GUN__CH_MAP)
            *map_at = i;
        p = p->parent;
    }
    return st;
}

/* ---- events ---- */

static void push_data(gun_t *g, gun__lis *l, char *json, const char *key, size_t kl, int type)
{
    gun__ev *ev;
    char *k = key ? gun__strndup(key, kl) : NULL;
    if (type == GUN__EV_FINAL && l->final_ev) {
        /* A waiter's end always arrives, after its values: it was allocated up front. */
        ev = l->final_ev;
        l->final_ev = NULL;
        if (key && !k)
            l->oom = 1;
    } else {
        ev = gun__calloc(1, sizeof *ev);
        if (!ev || (key && !k)) {
            gun__free(ev);
            gun__free(k);
            gun__free(json);
            gun__log(g, GUN_LOG_ERROR, "chain: out of memory, a callback of '%s' was dropped",
                     l->c->path);
            if (l->hook)
                l->oom = 1; /* its end reports the loss */
            return;
        }
    }
    ev->type = type;
    ev->l = l;
    l->refs++;
    ev->json = json;
    ev->key = k;
    gun__ev_push(g, ev);
    gun__kick(g);
}

/* The key a callback gets: the item's key for map chains, else the chain's last key. */
static void cb_key(gun__lis *l, gun__item *it, const char **k, size_t *kl)
{
    if (it != &l->base && l->c->kind == GUN__CH_MAP) {
        *k = it->key;
        *kl = it->key_len;
    } else {
        *k = l->c->key;
        *kl = l->c->key_len;
    }
}

/* Resolves steps [from, n) starting at *p for resolution `it`, then the value. Updates
 * it->ident; returns the value JSON (or NULL) and whether the place moved. */
static char *resolve_tail(gun__item *it, rctx *r, rpos *p, gun_chain **st, int from, int n,
                          int *moved, int *prim)
{
    for (int i = from; i < n; i++)
        step_key(r, p, st[i]->key, st[i]->key_len);
    size_t il = 0;
    char *ident = pos_ident(p, &il);
    if (!ident)
        r->oom = 1;
    *moved = !it->ident || !ident || il != it->ident_len || memcmp(ident, it->ident, il);
    gun__free(it->ident);
    it->ident = ident;
    it->ident_len = ident ? il : 0;
    return pos_value(r, p, prim);
}

/* Non-map chains: resolves the whole path into l->base; returns the value or NULL. */
static char *resolve_single(gun_t *g, gun__lis *l, int *moved, int *prim)
{
    int n, map_at;
    rctx r = {g, l, &l->base, NULL, 0, NULL, 0, 0};
    rpos p = {0};
    char *v = NULL;
    gun_chain **st = steps_of(l->c, &n, &map_at);
    *moved = *prim = 0;
    watches_clear(g, &l->base);
    if (st && pos_set(&p, P_NODE, st[0]->key, st[0]->key_len, NULL, 0) == GUN_OK)
        v = resolve_tail(&l->base, &r, &p, st, 1, n, moved, prim);
    else
        r.oom = 1;
    pos_clear(&p);
    gun__free(st);
    if (r.oom)
        gun__log(g, GUN_LOG_ERROR, "chain: out of memory resolving '%s'", l->c->path);
    return v;
}

/* Re-resolves a map item (its key is in the enumerated node l->enum_soul). */
static char *resolve_item(gun_t *g, gun__lis *l, gun__item *it, gun_chain **st, int n,
                          int map_at, int *moved, int *prim)
{
    rctx r = {g, l, it, l->enum_soul, l->enum_len, it->key, it->key_len, 0};
    rpos p = {0};
    watches_clear(g, it);
    char *v = NULL;
    if (pos_set(&p, P_KEY, l->enum_soul, l->enum_len, it->key, it->key_len) != GUN_OK) {
        r.oom = 1;
        *moved = 0;
        *prim = 0;
    } else {
        v = resolve_tail(it, &r, &p, st, map_at + 1, n, moved, prim);
    }
    pos_clear(&p);
    if (r.oom)
        gun__log(g, GUN_LOG_ERROR, "chain: out of memory resolving '%s'", l->c->path);
    return v;
}

static void items_clear(gun_t *g, gun__lis *l)
{
    if (!l->items)
        return;
    size_t it = 0;
    gun__map_ent *e;
    while ((e = gun__map_next(l->items, &it)))
        item_free(g, e->val);
    gun__map_free(l->items, NULL);
    l->items = NULL;
    l->ndirty = 0;
}

static gun__item *item_get(gun__lis *l, const char *key, size_t kl, int create)
{
    gun__item *it = l->items ? gun__map_get(l->items, key, kl) : NULL;
    if (it || !create)
        return it;
    if (!l->items && !(l->items = gun__map_new()))
        return NULL;
    it = gun__calloc(1, sizeof *it);
    if (!it)
        return NULL;
    it->key = gun__strndup(key, kl);
    it->key_len = kl;
    if (!it->key || gun__map_put(l->items, key, kl, it, NULL) != GUN_OK) {
        gun__free(it->key);
        gun__free(it);
        return NULL;
    }
    return it;
}

static void fire_items(gun_t *g, gun__lis *l, gun_chain **st, int n, int map_at, int once);

/* Resolves the listener's path (and, for maps, its items). fire: deliver what resolves
 * (on), else only record. Returns whether the value is a present primitive (non-map). */
static int resolve_base(gun_t *g, gun__lis *l, int fire, int force)
{
    int n, map_at, prim = 0, moved = 0;
    if (!l->ismap) {
        char *v = resolve_single(g, l, &moved, &prim);
        if (v && fire && (force || moved))
            push_data(g, l, v, l->c->key, l->c->key_len, GUN__EV_DATA);
        else
            gun__free(v);
        return prim && v;
    }
    gun_chain **st = steps_of(l->c, &n, &map_at);
    if (!st) {
        gun__log(g, GUN_LOG_ERROR, "chain: out of memory resolving '%s'", l->c->path);
        return 0;
    }
    rctx r = {g, l, &l->base, NULL, 0, NULL, 0, 0};
    rpos p = {0};
    watches_clear(g, &l->base);
    /* The path up to the map, then the node whose keys are the items. */
    if (pos_set(&p, P_NODE, st[0]->key, st[0]->key_len, NULL, 0) != GUN_OK)
        r.oom = 1;
    for (int i = 1; i < map_at; i++)
        step_key(&r, &p, st[i]->key, st[i]->key_len);
    char *es = NULL;
    size_t el = 0;
    int has = p.kind != P_DEAD && pos_link(&r, &p, &es, &el);
    int same = has && l->enum_soul && el == l->enum_len && !memcmp(es, l->enum_soul, el);
    if (has && watch_add(g, l, &l->base, es, el, NULL, 0, 0, 1) != GUN_OK)
        r.oom = 1;
    if (!same || force) {
        items_clear(g, l);
        gun__free(l->enum_soul);
        l->enum_soul = has ? es : NULL;
        l->enum_len = has ? el : 0;
        es = NULL;
        if (has)
            fire_items(g, l, st, n, map_at, fire ? 0 : -1);
    }
    gun__free(es);
    pos_clear(&p);
    gun__free(st);
    if (r.oom)
        gun__log(g, GUN_LOG_ERROR, "chain: out of memory resolving '%s'", l->c->path);
    return 0;
}

/* Builds (or refreshes) every item of the enumerated node in the node's key order.
 * mode: 0 fire present values (on), -1 only record, 1 once: fire the items not fired yet. */
static void fire_items(gun_t *g, gun__lis *l, gun_chain **st, int n, int map_at, int mode)
{
    keyvec kv = {0};
    g->store.ops->get_node(g->store.st, (gun__str){l->enum_soul, l->enum_len}, NULL, key_visit,
                           &kv);
    if (kv.oom)
        gun__log(g, GUN_LOG_ERROR, "chain: out of memory listing '%s'", l->c->path);
    for (size_t i = 0; i < kv.n; i++) {
        gun__item *it = item_get(l, kv.k[i], kv.len[i], 1);
        if (!it) {
            gun__log(g, GUN_LOG_ERROR, "chain: out of memory listing '%s'", l->c->path);
            break;
        }
        int moved, prim;
        char *v = resolve_item(g, l, it, st, n, map_at, &moved, &prim);
        if (v && (mode == 0 || (mode == 1 && !it->fired))) {
            const char *k;
            size_t kl;
            it->fired = 1;
            cb_key(l, it, &k, &kl);
            push_data(g, l, v, k, kl, GUN__EV_DATA);
        } else {
            gun__free(v);
        }
    }
    keyvec_free(&kv);
}

/* ---- listener lifecycle ---- */

int gun__lis_live(gun__lis *l)
{
    if (l->dead)
        return 0;
    if (l->hook)
        return 1;
    return l->gen == atomic_load(&l->c->off_gen);
}

static void lis_destroy(gun__lis *l)
{
    gun__free(l->final_ev);
    gun__free(l->dirty_items);
    gun__free(l);
}

void gun__lis_unref(gun__lis *l)
{
    if (--l->refs == 0)
        lis_destroy(l);
}

static void timer_closed(uv_handle_t *h) { gun__free(h); }

/* Takes l out of every structure; queued events keep it alive until delivered. */
static void lis_remove(gun_t *g, gun__lis *l)
{
    if (l->done)
        return;
    l->done = 1;
    if (l->timer) {
        uv_timer_stop(l->timer);
        l->timer->data = NULL;
        uv_close((uv_handle_t *)l->timer, timer_closed);
        l->timer = NULL;
    }
    watches_clear(g, &l->base);
    items_clear(g, l);
    gun__free(l->base.ident);
    l->base.ident = NULL;
    gun__free(l->enum_soul);
    l->enum_soul = NULL;
    if (l->cprev)
        l->cprev->cnext = l->cnext;
    else
        l->c->lis = l->cnext;
    if (l->cnext)
        l->cnext->cprev = l->cprev;
    if (l->gprev)
        l->gprev->gnext = l->gnext;
    else
        g->lis = l->gnext;
    if (l->gnext)
        l->gnext->gprev = l->gprev;
    l->cnext = l->cprev = l->gnext = l->gprev = NULL;
    gun__lis_unref(l);
}

/* A once settles: deliver and finish (non-map), or deliver the new items (map). */
static void once_fire(gun_t *g, gun__lis *l)
{
    if (!l->ismap) {
        int moved, prim;
        char *v = resolve_single(g, l, &moved, &prim);
        push_data(g, l, v, l->c->key, l->c->key_len, l->hook ? GUN__EV_FINAL : GUN__EV_DATA);
        lis_remove(g, l);
        return;
    }
    /* Map: refresh the path, then every item not delivered yet. */
    resolve_base(g, l, 0, 0);
    if (l->enum_soul) {
        int n, map_at;
        gun_chain **st = steps_of(l->c, &n, &map_at);
        if (st)
            fire_items(g, l, st, n, map_at, 1);
        gun__free(st);
    }
    if (l->hook) { /* gun_get_sync: one pass, then done */
        push_data(g, l, NULL, NULL, 0, GUN__EV_FINAL);
        lis_remove(g, l);
    }
}

static void on_once_timer(uv_timer_t *t)
{
    gun__lis *l = t->data;
    if (!l || l->done)
        return;
    gun_t *g = l->g;
    /* Resolve again first: data that arrived may lead to a node nobody has asked peers
     * for yet (a link), which asks now. Then, while peers still owe answers, wait for them,
     * at most the ack timeout (Gun.js waits for every peer's reply or not-found). */
    if (g->mesh)
        resolve_base(g, l, 0, 0);
    if (g->net_pending && gun__mono_ms() - l->once_start < g->opts.ack_timeout_ms) {
        uv_timer_start(l->timer, on_once_timer, g->opts.once_wait_ms, 0);
        return;
    }
    l->once_start = 0;
    once_fire(g, l);
}

static void once_arm(gun_t *g, gun__lis *l)
{
    uint64_t now = gun__mono_ms(), wait = g->opts.once_wait_ms;
    if (!l->timer)
        return;
    if (!l->once_start) {
        l->once_start = now;
    } else if (now - l->once_start >= 10 * wait) {
        return; /* keeps changing: settle no later than 10 waits after the first */
    }
    uv_timer_start(l->timer, on_once_timer, wait, 0);
}

int gun__lis_add(gun_t *g, gun_chain *c, int kind, gun_data_cb cb, void *arg,
                 gun__lis_hook hook, void *hook_arg, unsigned gen)
{
    if (!hook && gen != atomic_load(&c->off_gen))
        return GUN_OK; /* gun_off on this chain came after the call */
    gun__lis *l = gun__calloc(1, sizeof *l);
    if (!l)
        return GUN_ENOMEM;
    l->g = g;
    l->c = c;
    l->kind = kind;
    l->cb = cb;
    l->arg = arg;
    l->hook = hook;
    l->hook_arg = hook_arg;
    l->gen = gen;
    l->refs = 1;
    l->ismap = c->nmaps > 0;
    if (hook && !(l->final_ev = gun__calloc(1, sizeof *l->final_ev))) {
        gun__free(l);
        return GUN_ENOMEM;
    }
    if (kind == GUN__LIS_ONCE) {
        l->timer = gun__malloc(sizeof *l->timer);
        if (!l->timer) {
            gun__free(l->final_ev);
            gun__free(l);
            return GUN_ENOMEM;
        }
        uv_timer_init(g->loop, l->timer);
        l->timer->data = l;
    }
    l->cnext = c->lis;
    if (c->lis)
        c->lis->cprev = l;
    c->lis = l;
    l->gnext = g->lis;
    if (g->lis)
        g->lis->gprev = l;
    g->lis = l;

    int prim = resolve_base(g, l, kind == GUN__LIS_ON, 1);
    if (kind == GUN__LIS_ONCE) {
        if (prim && !l->ismap)
            once_fire(g, l); /* Gun.js: a primitive is there, no need to wait */
        else
            once_arm(g, l);
    }
    return GUN_OK;
}

void gun__lis_off(gun_t *g, gun_chain *c, unsigned gen)
{
    (void)gen; /* every listener older than the newest gun_off is dead */
    gun__lis *l = c->lis;
    while (l) {
        gun__lis *next = l->cnext;
        if (!l->hook && l->gen != atomic_load(&c->off_gen)) {
            l->dead = 1;
            lis_remove(g, l);
        }
        l = next;
    }
}

void gun__lis_close_all(gun_t *g)
{
    while (g->lis) {
        gun__lis *l = g->lis;
        l->dead = 1;
        if (l->hook)
            l->hook(l->hook_arg, NULL, NULL, GUN_ECLOSED);
        lis_remove(g, l);
    }
}

/* ---- change notification ---- */

static void mark(gun_t *g, gun__lis *l, gun__item *it, int final, gun__lis **dirty)
{
    if (l->dirty_epoch != g->epoch) {
        l->dirty_epoch = g->epoch;
        l->ndirty = 0;
        l->dnext = *dirty;
        *dirty = l;
    }
    if (it->dirty != g->epoch) {
        it->dirty = g->epoch;
        it->final_hit = 0;
        if (l->ndirty == l->capdirty) {
            size_t ncap = l->capdirty ? l->capdirty * 2 : 8;
            gun__item **nd = gun__realloc(l->dirty_items, ncap * sizeof *nd);
            if (!nd) {
                gun__log(g, GUN_LOG_ERROR, "chain: out of memory, a change of '%s' is lost",
                         l->c->path);
                return;
            }
            l->dirty_items = nd;
            l->capdirty = ncap;
        }
        l->dirty_items[l->ndirty++] = it;
    }
    if (final)
        it->final_hit = 1;
}

static void process(gun_t *g, gun__lis *l)
{
    if (l->done)
        return;
    if (l->kind == GUN__LIS_ONCE) {
        once_arm(g, l); /* data moved: settle again */
        return;
    }
    /* A change of the path re-resolves everything; else each touched item alone. */
    for (size_t i = 0; i < l->ndirty; i++)
        if (l->dirty_items[i] == &l->base) {
            if (!l->ismap) {
                int moved, prim;
                char *v = resolve_single(g, l, &moved, &prim);
                if (v && (moved || l->base.final_hit))
                    push_data(g, l, v, l->c->key, l->c->key_len, GUN__EV_DATA);
                else
                    gun__free(v);
            } else {
                resolve_base(g, l, 1, 0);
            }
            return;
        }
    if (!l->ismap)
        return;
    int n, map_at;
    gun_chain **st = steps_of(l->c, &n, &map_at);
    if (!st)
        return;
    for (size_t i = 0; i < l->ndirty; i++) {
        gun__item *it = l->dirty_items[i];
        int moved, prim;
        char *v = resolve_item(g, l, it, st, n, map_at, &moved, &prim);
        if (v && (moved || it->final_hit)) {
            const char *k;
            size_t kl;
            cb_key(l, it, &k, &kl);
            push_data(g, l, v, k, kl, GUN__EV_DATA);
        } else {
            gun__free(v);
        }
    }
    gun__free(st);
}

void gun__notify(gun_t *g)
{
    gun__lis *dirty = NULL;
    if (g->changes_oom) {
        /* Some changes were not recorded: re-resolve every listener. */
        gun__log(g, GUN_LOG_ERROR, "chain: out of memory tracking changes; refreshing all");
        g->changes_oom = 0;
        g->epoch++;
        for (gun__lis *l = g->lis; l; l = l->gnext)
            mark(g, l, &l->base, 1, &dirty);
    } else {
        if (!g->nchanges)
            return;
        g->epoch++;
    }
    for (size_t i = 0; i < g->nchanges; i++) {
        gun__change *ch = &g->changes[i];
        gun__wbucket *b = gun__map_get(g->watch, ch->soul, ch->soul_len);
        for (gun__watch *w = b ? b->head : NULL; w; w = w->snext) {
            if (w->l->done)
                continue;
            if (w->enumw) {
                gun__item *it = item_get(w->l, ch->key, ch->key_len, 1);
                if (!it) {
                    gun__log(g, GUN_LOG_ERROR, "chain: out of memory, item '%s' of '%s' lost",
                             ch->key, w->l->c->path);
                    continue;
                }
                /* The item's value is this key unless the chain goes further. */
                mark(g, w->l, it, w->l->c->kind == GUN__CH_MAP, &dirty);
                continue;
            }
            if (w->key && (w->key_len != ch->key_len || memcmp(w->key, ch->key, ch->key_len)))
                continue;
            mark(g, w->l, w->it, w->final, &dirty);
        }
    }
    for (size_t i = 0; i < g->nchanges; i++) {
        gun__free(g->changes[i].soul);
        gun__free(g->changes[i].key);
    }
    g->nchanges = 0;
    /* Listeners are processed in the order they were marked (reversed list): restore it. */
    gun__lis *ord = NULL;
    while (dirty) {
        gun__lis *next = dirty->dnext;
        dirty->dnext = ord;
        ord = dirty;
        dirty = next;
    }
    for (gun__lis *l = ord; l; l = l->dnext) {
        l->refs++; /* processing may remove it */
        process(g, l);
    }
    while (ord) {
        gun__lis *next = ord->dnext;
        gun__lis_unref(ord);
        ord = next;
    }
}

/* ---- public ---- */

static int subscribe(gun_chain *c, int type, gun_data_cb cb, void *arg)
{
    if (!c || !cb)
        return GUN_EINVAL;
    if (c->kind == GUN__CH_ROOT)
        return GUN_EINVAL; /* listen on a soul: gun_get first */
    gun__op *op = gun__op_new(type, c);
    if (!op)
        return GUN_ENOMEM;
    op->data_cb = cb;
    op->arg = arg;
    op->gen = atomic_load(&c->off_gen);
    return gun__post(c->g, op);
}

int gun_on(gun_chain *c, gun_data_cb cb, void *arg) { return subscribe(c, GUN__OP_ON, cb, arg); }

int gun_once(gun_chain *c, gun_data_cb cb, void *arg)
{
    return subscribe(c, GUN__OP_ONCE, cb, arg);
}

int gun_off(gun_chain *c)
{
    if (!c)
        return GUN_EINVAL;
    gun__op *op = gun__op_new(GUN__OP_OFF, c);
    if (!op)
        return GUN_ENOMEM;
    /* From now on every listener made before this call is dead, wherever it runs. */
    op->gen = atomic_fetch_add(&c->off_gen, 1) + 1;
    return gun__post(c->g, op);
}

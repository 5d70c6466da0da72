/* put and set: Gun.chain.put's split of an object into nodes (spec §1.3) and set's uuid
 * items (§1.4).
 *
 * Two halves. Preparing (any thread) parses the JSON, wraps data put below a soul the way
 * Gun does (gun.get('a').get('b').put(x) is gun.get('a').put({b: x})), and checks it in
 * Gun's walk order so that error texts match Gun.js, quirks included: keys are walked in
 * ascending JS string order, depth first, and the path in "Invalid data: Array at a.b.c"
 * lists every key walked so far, not only the failing key's ancestors. Executing (loop
 * thread) picks every node's soul, builds one wire-form put graph with one state, and
 * commits it through the same validation and merge path network puts take. */
#include <stdlib.h>
#include <string.h>

#include "chain.h"

#define ROOT_DATA_TEXT "Data at root of graph must be a node (an object)."
#define EMPTY_KEY_TEXT "0 length key!"

void gun__putreq_free(gun__putreq *p)
{
    if (!p)
        return;
    gun__json_free(p->data);
    gun__json_free(p->item);
    gun__free(p->top_soul);
    gun__free(p->item_soul);
    gun__free(p->set_key);
    gun__free(p->cert);
    gun__free(p);
}

/* ---- helpers ---- */

static int is_valid_value(const gun__json *j)
{
    gun__val v;
    return gun__val_from_json(j, &v) == GUN_OK;
}

/* `(d._||'')['#']` when it is a non-empty string. */
static const gun__json *meta_soul(const gun__json *obj)
{
    const gun__json *m = gun__json_obj_get(obj, "_", 1);
    const gun__json *s = m && m->t == GUN__J_OBJ ? gun__json_obj_get(m, "#", 1) : NULL;
    return s && s->t == GUN__J_STR && s->u.s.len ? s : NULL;
}

static int member_cmp(const void *a, const void *b)
{
    const gun__jmember *x = *(const gun__jmember *const *)a;
    const gun__jmember *y = *(const gun__jmember *const *)b;
    return gun__utf16_cmp(x->key, x->key_len, y->key, y->key_len);
}

/* The members of obj in Object.keys(d).sort() order. NULL with *n = 0 for {}. */
static int sorted_members(const gun__json *obj, gun__jmember ***out, size_t *n)
{
    *n = obj->u.o.n;
    *out = NULL;
    if (!*n)
        return GUN_OK;
    gun__jmember **v = gun__malloc(*n * sizeof *v);
    if (!v)
        return GUN_ENOMEM;
    for (size_t i = 0; i < *n; i++)
        v[i] = &obj->u.o.m[i];
    qsort(v, *n, sizeof *v, member_cmp);
    *out = v;
    return GUN_OK;
}

/* ---- validation in Gun's walk order ---- */

typedef struct walk {
    gun__buf path; /* every key walked so far, '.'-joined */
    const char *prefix;
    gun__err *e;
} walk;

static void path_push(walk *w, const char *k, size_t len)
{
    if (w->path.len)
        gun__buf_addc(&w->path, '.');
    gun__buf_add(&w->path, k, len);
}

static int bad_data(walk *w, const char *type)
{
    if (w->path.oom)
        return gun__fail(w->e, GUN_ENOMEM, "out of memory");
    return gun__fail(w->e, GUN_EBADVALUE, "Invalid data: %s at %s.%.*s", type, w->prefix,
                     (int)(w->path.len > 200 ? 200 : w->path.len), w->path.p ? w->path.p : "");
}

static int walk_node(walk *w, const gun__json *obj)
{
    gun__jmember **ms;
    size_t n;
    int rc = sorted_members(obj, &ms, &n);
    if (rc != GUN_OK)
        return gun__fail(w->e, rc, "out of memory");
    for (size_t i = 0; i < n && rc == GUN_OK; i++) {
        const gun__jmember *m = ms[i];
        if (m->key_len == 0) {
            /* Gun.js takes the value for a node and never finishes the put. */
            rc = gun__fail(w->e, GUN_EBADKEY, EMPTY_KEY_TEXT);
            break;
        }
        path_push(w, m->key, m->key_len);
        if (is_valid_value(m->val))
            continue;
        if (m->val->t != GUN__J_OBJ) {
            /* From JSON only arrays get here (and nothing else is reachable: NaN,
             * Infinity and undefined have no JSON form). */
            rc = bad_data(w, m->val->t == GUN__J_ARR ? "Array" : "number");
            break;
        }
        if (m->key_len == 1 && m->key[0] == '_')
            continue; /* meta: only its "#" is used, never written as data */
        rc = walk_node(w, m->val);
    }
    gun__free(ms);
    return rc;
}

/* Checks data put at a soul (after wrapping). */
static int validate(const char *prefix, const gun__json *d, gun__err *e)
{
    walk w;
    gun__buf_init(&w.path);
    w.prefix = prefix;
    w.e = e;
    int rc;
    if (d->t == GUN__J_ARR)
        rc = bad_data(&w, "Array");
    else if (d->t != GUN__J_OBJ || is_valid_value(d))
        rc = gun__fail(e, GUN_EROOTDATA, ROOT_DATA_TEXT);
    else
        rc = walk_node(&w, d);
    gun__buf_free(&w.path);
    return rc;
}

/* ---- preparing ---- */

/* Keys of c below its soul, outermost first; the soul chain is *top. */
static int chain_keys(gun_chain *c, gun_chain **top, gun_chain ***keys, size_t *n)
{
    *n = c->depth - 1;
    *keys = NULL;
    if (*n) {
        *keys = gun__malloc(*n * sizeof **keys);
        if (!*keys)
            return GUN_ENOMEM;
    }
    gun_chain *p = c;
    for (size_t i = *n; i > 0; i--) {
        (*keys)[i - 1] = p;
        p = p->parent;
    }
    *top = p;
    return GUN_OK;
}

/* {k1: {k2: ... {kn: leaf}}}; takes leaf (freed on failure). */
static gun__json *wrap(gun_chain **keys, size_t n, const char *last, size_t last_len,
                       gun__json *leaf)
{
    gun__json *cur = leaf;
    if (last) {
        gun__json *o = gun__json_obj();
        if (!o || gun__json_obj_set(o, last, last_len, cur) != GUN_OK) {
            if (!o)
                gun__json_free(cur);
            gun__json_free(o);
            return NULL;
        }
        cur = o;
    }
    for (size_t i = n; i > 0; i--) {
        gun__json *o = gun__json_obj();
        if (!o) {
            gun__json_free(cur);
            return NULL;
        }
        if (gun__json_obj_set(o, keys[i - 1]->key, keys[i - 1]->key_len, cur) != GUN_OK) {
            gun__json_free(o);
            return NULL;
        }
        cur = o;
    }
    return cur;
}

static int parse(gun_t *g, const char *json, gun__json **out, gun__err *e)
{
    size_t len = strlen(json);
    return gun__json_parse(json, len, &g->lim, out, e);
}

static int check_chain(gun_chain *c)
{
    if (c->kind == GUN__CH_MAP || c->nmaps)
        return GUN_ENOTSUP; /* map().put(): write through every item, not supported */
    return GUN_OK;
}

int gun__uuid(gun_t *g, size_t n, char *out, size_t cap)
{
    char num[64];
    size_t len = gun__num_to_radix(gun__state_tick(g), 36, num, sizeof num);
    size_t j = 0;
    int dot = 0;
    if (!len || len + n + 1 > cap)
        return GUN_EINVAL;
    for (size_t i = 0; i < len; i++) {
        if (num[i] == '.' && !dot) { /* .replace('.','') drops the first one */
            dot = 1;
            continue;
        }
        out[j++] = num[i];
    }
    out[j] = '\0';
    return gun__random_id(out + j, n);
}

int gun__put_prepare(gun_chain *c, const char *json, gun__putreq **out, gun__err *e)
{
    gun_t *g = c->g;
    gun__json *d = NULL;
    gun_chain **keys = NULL, *top = NULL;
    size_t nkeys = 0;
    int rc = check_chain(c);
    if (rc != GUN_OK)
        return gun__fail(e, rc, "put on a map chain is not supported");
    rc = parse(g, json, &d, e);
    if (rc != GUN_OK)
        return rc;
    gun__putreq *p = gun__calloc(1, sizeof *p);
    if (!p) {
        gun__json_free(d);
        return gun__fail(e, GUN_ENOMEM, "out of memory");
    }
    p->c = c;
    if (c->kind == GUN__CH_ROOT) {
        /* gun.put(obj): a node at obj._['#'], or at a new uuid. */
        const gun__json *ms = d->t == GUN__J_OBJ ? meta_soul(d) : NULL;
        char id[96];
        if (ms)
            p->top_soul = gun__strndup(ms->u.s.p, ms->u.s.len);
        else if ((rc = gun__uuid(g, 12, id, sizeof id)) == GUN_OK)
            p->top_soul = gun__strndup(id, strlen(id));
        if (rc != GUN_OK || !p->top_soul) {
            gun__putreq_free(p);
            gun__json_free(d);
            return gun__fail(e, rc ? rc : GUN_ENOMEM, "out of memory");
        }
        p->data = d;
    } else {
        rc = chain_keys(c, &top, &keys, &nkeys);
        p->top_soul = rc == GUN_OK ? gun__strndup(top->key, top->key_len) : NULL;
        p->data = p->top_soul ? wrap(keys, nkeys, NULL, 0, d) : (gun__json_free(d), NULL);
        gun__free(keys);
        if (!p->data) {
            gun__putreq_free(p);
            return gun__fail(e, GUN_ENOMEM, "out of memory");
        }
    }
    rc = validate(p->top_soul, p->data, e);
    if (rc != GUN_OK) {
        gun__putreq_free(p);
        return rc;
    }
    *out = p;
    return GUN_OK;
}

int gun__set_prepare(gun_chain *c, const char *json, gun__putreq **out, gun__err *e)
{
    gun_t *g = c->g;
    gun__json *d = NULL;
    gun_chain **keys = NULL, *top = NULL;
    size_t nkeys = 0;
    char id[96];
    if (c->kind == GUN__CH_ROOT)
        return gun__fail(e, GUN_EINVAL, "set on the root: use gun_put on the root");
    int rc = check_chain(c);
    if (rc != GUN_OK)
        return gun__fail(e, rc, "set on a map chain is not supported");
    rc = parse(g, json, &d, e);
    if (rc != GUN_OK)
        return rc;
    gun__putreq *p = gun__calloc(1, sizeof *p);
    if (!p) {
        gun__json_free(d);
        return gun__fail(e, GUN_ENOMEM, "out of memory");
    }
    p->c = c;
    gun__json *leaf = NULL;
    const gun__json *ms = d->t == GUN__J_OBJ ? meta_soul(d) : NULL;
    gun__val v;
    if (ms || (d->t == GUN__J_OBJ && gun__val_from_json(d, &v) == GUN_OK)) {
        /* A node with a soul, or a link: only the link is written, keyed by its soul. */
        const char *s = ms ? ms->u.s.p : v.s.p;
        size_t sl = ms ? ms->u.s.len : v.s.len;
        p->set_key = gun__strndup(s, sl);
        p->item_soul = gun__strndup(s, sl);
        gun__json *ss = gun__json_str(s, sl);
        leaf = gun__json_obj();
        if (!leaf || !ss || gun__json_obj_set(leaf, "#", 1, ss) != GUN_OK) {
            if (leaf)
                ss = NULL; /* obj_set freed it */
            gun__json_free(ss);
            gun__json_free(leaf);
            leaf = NULL;
        }
        gun__json_free(d);
    } else if (d->t == GUN__J_OBJ) {
        /* A plain object: its own node at a new uuid, linked under key = that uuid. */
        rc = gun__uuid(g, 12, id, sizeof id);
        if (rc != GUN_OK) {
            gun__json_free(d);
            gun__putreq_free(p);
            return gun__fail(e, rc, "uuid failed");
        }
        p->item_soul = gun__strndup(id, strlen(id));
        p->set_key = gun__strndup(id, strlen(id));
        p->item = d;
        rc = p->item_soul ? validate(p->item_soul, p->item, e) : GUN_ENOMEM;
        if (rc != GUN_OK) {
            gun__putreq_free(p);
            return rc == GUN_ENOMEM ? gun__fail(e, rc, "out of memory") : rc;
        }
        gun__json *ss = gun__json_str(id, strlen(id));
        leaf = gun__json_obj();
        if (!leaf || !ss || gun__json_obj_set(leaf, "#", 1, ss) != GUN_OK) {
            if (leaf)
                ss = NULL;
            gun__json_free(ss);
            gun__json_free(leaf);
            leaf = NULL;
        }
    } else {
        /* A primitive (or an array, which fails below as in Gun.js): put at a new key
         * made by uuid(7). */
        rc = gun__uuid(g, 7, id, sizeof id);
        if (rc != GUN_OK) {
            gun__json_free(d);
            gun__putreq_free(p);
            return gun__fail(e, rc, "uuid failed");
        }
        p->set_key = gun__strndup(id, strlen(id));
        leaf = d;
    }
    if (!leaf || !p->set_key) {
        gun__json_free(leaf);
        gun__putreq_free(p);
        return gun__fail(e, GUN_ENOMEM, "out of memory");
    }
    rc = chain_keys(c, &top, &keys, &nkeys);
    p->top_soul = rc == GUN_OK ? gun__strndup(top->key, top->key_len) : NULL;
    p->data = p->top_soul ? wrap(keys, nkeys, p->set_key, strlen(p->set_key), leaf)
                          : (gun__json_free(leaf), NULL);
    gun__free(keys);
    if (!p->data) {
        gun__putreq_free(p);
        return gun__fail(e, GUN_ENOMEM, "out of memory");
    }
    rc = validate(p->top_soul, p->data, e);
    if (rc != GUN_OK) {
        gun__putreq_free(p);
        return rc;
    }
    *out = p;
    return GUN_OK;
}

/* ---- executing (loop thread) ---- */

typedef struct split {
    gun_t *g;
    gun__json *graph; /* soul -> node */
    double state;
    const gun__json *target; /* the object whose node soul the ack reports */
    char *target_soul;
    int oom;
} split;

static int link_visit(void *arg, gun__str soul, gun__str key, const gun__val *val,
                      double state)
{
    char **out = arg;
    (void)soul;
    (void)key;
    (void)state;
    if (val->t == GUN__V_LINK)
        *out = gun__strndup(val->s.p, val->s.len);
    return 1;
}

/* The soul that soul.key links to in the store, or NULL (a copy). */
static char *store_link(gun_t *g, const char *soul, size_t soul_len, const char *key,
                        size_t key_len)
{
    char *out = NULL;
    g->store.ops->get_key(g->store.st, (gun__str){soul, soul_len}, (gun__str){key, key_len},
                          link_visit, &out);
    return out;
}

/* graph[soul], created as {"_":{"#":soul,">":{}}} when new. */
static gun__json *graph_node(split *s, const char *soul, size_t len)
{
    gun__json *n = gun__json_obj_get(s->graph, soul, len);
    if (n)
        return n;
    n = gun__json_obj();
    gun__json *meta = gun__json_obj();
    gun__json *st = gun__json_obj();
    gun__json *ss = gun__json_str(soul, len);
    if (!n || !meta || !st || !ss) {
        gun__json_free(n);
        gun__json_free(meta);
        gun__json_free(st);
        gun__json_free(ss);
        return NULL;
    }
    if (gun__json_obj_set(meta, "#", 1, ss) != GUN_OK) {
        gun__json_free(st);
        gun__json_free(meta);
        gun__json_free(n);
        return NULL;
    }
    if (gun__json_obj_set(meta, ">", 1, st) != GUN_OK) {
        gun__json_free(meta);
        gun__json_free(n);
        return NULL;
    }
    if (gun__json_obj_set(n, "_", 1, meta) != GUN_OK) {
        gun__json_free(n);
        return NULL;
    }
    if (gun__json_obj_set(s->graph, soul, len, n) != GUN_OK)
        return NULL;
    return n;
}

static int node_set(split *s, gun__json *node, const char *k, size_t kl, gun__json *v)
{
    gun__json *st = gun__json_obj_get(gun__json_obj_get(node, "_", 1), ">", 1);
    gun__json *num = gun__json_num(s->state);
    if (!v || !num || !st) {
        gun__json_free(v);
        gun__json_free(num);
        return GUN_ENOMEM;
    }
    if (gun__json_obj_set(st, k, kl, num) != GUN_OK) {
        gun__json_free(v);
        return GUN_ENOMEM;
    }
    return gun__json_obj_set(node, k, kl, v);
}

static gun__json *link_json(const char *soul, size_t len)
{
    gun__json *o = gun__json_obj(), *ss = gun__json_str(soul, len);
    if (!o || !ss) {
        gun__json_free(o);
        gun__json_free(ss);
        return NULL;
    }
    if (gun__json_obj_set(o, "#", 1, ss) != GUN_OK) {
        gun__json_free(o);
        return NULL;
    }
    return o;
}

/* Writes obj as a node. chain_soul: what the chain at this position resolves to in the
 * store (NULL when unknown); path: the path name built from the nearest known soul.
 * The node's soul: obj._['#'], else chain_soul, else path (Gun's resolve order). */
static int split_node(split *s, const char *chain_soul, const char *path, const gun__json *obj,
                      char **soul_out)
{
    const gun__json *ms = meta_soul(obj);
    const char *soul = ms ? ms->u.s.p : chain_soul ? chain_soul : path;
    size_t soul_len = ms ? ms->u.s.len : strlen(soul);
    gun__jmember **mv;
    size_t n;
    int rc;
    char *my_soul = gun__strndup(soul, soul_len);
    if (!my_soul)
        return GUN_ENOMEM;
    if (obj == s->target && !s->target_soul)
        s->target_soul = gun__strndup(soul, soul_len);
    gun__json *node = graph_node(s, soul, soul_len);
    if (!node || (rc = sorted_members(obj, &mv, &n)) != GUN_OK) {
        gun__free(my_soul);
        return GUN_ENOMEM;
    }
    for (size_t i = 0; i < n && rc == GUN_OK; i++) {
        const gun__jmember *m = mv[i];
        if ((m->key_len == 1 && m->key[0] == '_') || m->key_len == 0)
            continue;
        if (is_valid_value(m->val)) {
            rc = node_set(s, node, m->key, m->key_len, gun__json_clone(m->val));
            continue;
        }
        /* A nested object: reuse the soul the key already links to, else a path soul. */
        char *child_chain =
            chain_soul ? store_link(s->g, chain_soul, strlen(chain_soul), m->key, m->key_len)
                       : NULL;
        gun__buf cp;
        gun__buf_init(&cp);
        if (child_chain) {
            gun__buf_adds(&cp, child_chain);
        } else {
            gun__buf_adds(&cp, path);
            gun__buf_addc(&cp, '/');
            gun__buf_add(&cp, m->key, m->key_len);
        }
        char *child_soul = NULL;
        if (cp.oom)
            rc = GUN_ENOMEM;
        else
            rc = split_node(s, child_chain, cp.p, m->val, &child_soul);
        if (rc == GUN_OK)
            rc = node_set(s, node, m->key, m->key_len,
                          link_json(child_soul, strlen(child_soul)));
        gun__free(child_soul);
        gun__free(child_chain);
        gun__buf_free(&cp);
    }
    gun__free(mv);
    if (rc != GUN_OK) {
        gun__free(my_soul);
        return rc;
    }
    *soul_out = my_soul;
    return GUN_OK;
}

/* The innermost object of a wrapped put that holds the written data: the data itself
 * when it is an object, else the wrapper that holds the primitive. */
static const gun__json *find_target(const gun__json *d, size_t depth)
{
    while (depth-- > 0 && d && d->t == GUN__J_OBJ && d->u.o.n == 1) {
        const gun__json *v = d->u.o.m[0].val;
        if (!v || v->t != GUN__J_OBJ || is_valid_value(v))
            return d;
        d = v;
    }
    return d;
}

typedef struct netack {
    gun_t *g;
    gun_ack_cb cb;
    void *arg;
    char *soul;
} netack;

static void net_put_done(void *arg, const gun__mesh_reply *r)
{
    netack *n = arg;
    char *ok = NULL;
    if (!r->err && r->ok) {
        gun__buf b;
        gun__buf_init(&b);
        gun__json_write(&b, r->ok, GUN__JSON_JS);
        ok = gun__buf_take(&b);
    }
    gun__ack_event(n->g, n->cb, n->arg, r->err, r->err ? r->err_text : NULL,
                   r->err ? NULL : (ok ? ok : "true"), n->soul);
    gun__free(ok);
    gun__free(n->soul);
    gun__free(n);
}

static int net_put(gun_t *g, const gun__json *graph, gun_ack_cb cb, void *arg, const char *soul)
{
    netack *n = NULL;
    if (cb) {
        n = gun__calloc(1, sizeof *n);
        if (!n)
            return GUN_ENOMEM;
        n->g = g;
        n->cb = cb;
        n->arg = arg;
        n->soul = soul ? gun__strndup(soul, strlen(soul)) : NULL;
    }
    int rc = gun__mesh_put(g->mesh, graph, n ? net_put_done : NULL, n);
    if (rc != GUN_OK && n) {
        gun__free(n->soul);
        gun__free(n);
    }
    return rc;
}

void gun__put_exec(gun_t *g, gun__putreq *p, gun_ack_cb cb, void *arg)
{
    split s = {0};
    gun__err e = {0};
    int rc = GUN_OK;
    char *soul = NULL;
    s.g = g;
    s.graph = gun__json_obj();
    if (!s.graph) {
        gun__ack_event(g, cb, arg, GUN_ENOMEM, "out of memory", NULL, NULL);
        return;
    }
    s.state = gun__state_tick(g);
    if (p->item) {
        rc = split_node(&s, p->item_soul, p->item_soul, p->item, &soul);
        gun__free(soul);
        soul = NULL;
    }
    /* The chain's depth below its soul (root puts have none). */
    size_t below = p->c->kind == GUN__CH_ROOT ? 0 : (size_t)(p->c->depth - 1);
    if (p->set_key)
        below++;
    s.target = find_target(p->data, below);
    if (rc == GUN_OK)
        rc = split_node(&s, p->top_soul, p->top_soul, p->data, &soul);
    gun__free(soul);
    if (rc != GUN_OK) {
        gun__ack_event(g, cb, arg, rc, gun_strerror(rc), NULL, NULL);
        goto out;
    }
    /* SEA (src/sea/user.c): the logged-in user's keys are signed here, with the put's one
     * state; writes into user graphs that are not ours must pass the relay's rules. */
    rc = gun__user_sign(g, s.graph, p->cert, &e);
    if (rc != GUN_OK) {
        gun__ack_event(g, cb, arg, rc, e.msg[0] ? e.msg : gun_strerror(rc), NULL, NULL);
        goto out;
    }
    if (g->trace_put)
        g->trace_put(g->trace_arg, s.graph);
    rc = gun__commit(g, s.graph, &e);
    if (rc != GUN_OK) {
        gun__log(g, GUN_LOG_ERROR, "chain: put at '%s' failed: %s", p->c->path, e.msg);
        gun__ack_event(g, cb, arg, rc, e.msg[0] ? e.msg : gun_strerror(rc), NULL, NULL);
        goto out;
    }
    if (g->mesh && g->opts.npeers) {
        /* With peers, the ack is theirs (or a timeout): Gun.js semantics. The write stays
         * in the mesh's outbox until a peer has it, even past the timeout. */
        rc = net_put(g, s.graph, cb, arg, p->item_soul ? p->item_soul : s.target_soul);
        if (rc == GUN_OK)
            goto out;
        gun__log(g, GUN_LOG_ERROR, "chain: put at '%s' not sent: %s", p->c->path,
                 gun_strerror(rc));
    }
    gun__ack_durable(g, cb, arg, p->item_soul ? p->item_soul : s.target_soul);
out:
    gun__free(s.target_soul);
    gun__json_free(s.graph);
}

/* ---- public ---- */

static int put_common(gun_chain *c, const char *json, gun_ack_cb cb, void *arg, int set,
                      gun_chain **item_out, const char *cert)
{
    gun__err e = {0};
    gun__putreq *p = NULL;
    if (!c || !json || (set && c->kind == GUN__CH_ROOT))
        return GUN_EINVAL;
    gun_t *g = c->g;
    int rc = set ? gun__set_prepare(c, json, &p, &e) : gun__put_prepare(c, json, &p, &e);
    gun__op *op;
    if (rc != GUN_OK) {
        /* The callback hears about bad data too (Gun.js's ack {err}), on the loop. */
        if (rc == GUN_ENOMEM)
            return rc;
        if (cb) {
            if (!(op = gun__op_new(GUN__OP_ACK, c)))
                return GUN_ENOMEM;
            op->ack_cb = cb;
            op->arg = arg;
            op->err = rc;
            op->err_text = gun__strndup(e.msg, strlen(e.msg));
            if (gun__post(g, op) != GUN_OK)
                return GUN_ECLOSED;
        }
        return rc;
    }
    if (set && item_out) {
        int r2 = gun__chain_child(c, p->set_key, strlen(p->set_key), GUN__CH_KEY, item_out);
        if (r2 != GUN_OK) {
            gun__putreq_free(p);
            return r2;
        }
    }
    if (cert && !(p->cert = gun__strndup(cert, strlen(cert)))) {
        gun__putreq_free(p);
        return GUN_ENOMEM;
    }
    op = gun__op_new(GUN__OP_PUT, c);
    if (!op) {
        gun__putreq_free(p);
        return GUN_ENOMEM;
    }
    op->put = p;
    op->ack_cb = cb;
    op->arg = arg;
    return gun__post(g, op);
}

int gun_put(gun_chain *c, const char *json, gun_ack_cb cb, void *arg)
{
    return put_common(c, json, cb, arg, 0, NULL, NULL);
}

int gun_put_cert(gun_chain *c, const char *json, const char *cert, gun_ack_cb cb, void *arg)
{
    if (!cert)
        return GUN_EINVAL;
    return put_common(c, json, cb, arg, 0, NULL, cert);
}

int gun_set(gun_chain *c, const char *json, gun_ack_cb cb, void *arg, gun_chain **item_out)
{
    return put_common(c, json, cb, arg, 1, item_out, NULL);
}

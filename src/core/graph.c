/* Validation of a wire `put` (spec §1.1, §3.9), following Gun.js's put() in src/root.js:
 * the same checks in the same order with the same detail texts, except that one error
 * rejects the whole put here. Gun.js merges every key it walked before the bad one, and
 * loses the error when the bad key is the last key of the last soul. */
#include "core.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* JS truthiness of a JSON value (NaN cannot come out of JSON). */
static int truthy(const gun__json *j)
{
    if (!j)
        return 0;
    switch (j->t) {
    case GUN__J_NULL: return 0;
    case GUN__J_BOOL: return j->u.b != 0;
    case GUN__J_NUM: return j->u.n != 0 && !isnan(j->u.n);
    case GUN__J_STR: return j->u.s.len != 0;
    default: return 1;
    }
}

/* typeof, as Gun.js's "bad <typeof>" detail prints it. */
static const char *js_typeof(const gun__json *j)
{
    if (!j)
        return "undefined";
    switch (j->t) {
    case GUN__J_NULL: return "object";
    case GUN__J_BOOL: return "boolean";
    case GUN__J_NUM: return "number";
    case GUN__J_STR: return "string";
    default: return "object";
    }
}

/* Names are cut to fit e->msg: Gun.js cuts to 9 chars, we keep up to 80 bytes. */
#define CUT 80
static int clip(size_t len) { return len > CUT ? CUT : (int)len; }
static const char *ell(size_t len) { return len > CUT ? "..." : ""; }

static int soul_fail(gun__err *e, int code, gun__str soul, const char *what)
{
    return gun__fail(e, code, "Invalid graph! '%.*s%s' %s", clip(soul.len), soul.p,
                     ell(soul.len), what);
}

static int key_fail(gun__err *e, int code, gun__str soul, gun__str key, const char *what)
{
    return gun__fail(e, code, "Invalid graph! '%.*s%s' on '%.*s%s' %s", clip(key.len), key.p,
                     ell(key.len), clip(soul.len), soul.p, ell(soul.len), what);
}

void gun__graph_free(gun__graph *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->n; i++)
        gun__free(g->nodes[i].f);
    gun__free(g->nodes);
    memset(g, 0, sizeof *g);
}

static int node_from_json(gun__str soul, const gun__json *node, gun__node *out, gun__err *e)
{
    if (soul.len == 0)
        return gun__fail(e, GUN_EBADSOUL, "Invalid graph! empty soul.");
    if (memchr(soul.p, 0, soul.len))
        return soul_fail(e, GUN_EBADSOUL, soul, "soul has a NUL byte.");
    if (!truthy(node))
        return soul_fail(e, GUN_ENONODE, soul, "no node.");
    if (node->t != GUN__J_OBJ)
        return soul_fail(e, GUN_ENOMETA, soul, "no meta.");
    const gun__json *meta = gun__json_obj_get(node, "_", 1);
    if (!truthy(meta))
        return soul_fail(e, GUN_ENOMETA, soul, "no meta.");
    const gun__json *ms = meta->t == GUN__J_OBJ ? gun__json_obj_get(meta, "#", 1) : NULL;
    if (!ms || ms->t != GUN__J_STR || ms->u.s.len != soul.len ||
        memcmp(ms->u.s.p, soul.p, soul.len) != 0)
        return soul_fail(e, GUN_ESOULNOTSAME, soul, "soul not same.");
    const gun__json *states = gun__json_obj_get(meta, ">", 1);
    if (!truthy(states))
        return soul_fail(e, GUN_ENOSTATE, soul, "no state.");
    /* Gun.js indexes any truthy ">" (a string or array yields states by position); only
     * an object can carry a state per key. */
    if (states->t != GUN__J_OBJ)
        return soul_fail(e, GUN_ENOSTATE, soul, "no state (\">\" is not an object).");

    size_t n = node->u.o.n;
    out->soul = soul;
    out->n = 0;
    out->f = n ? gun__calloc(n, sizeof *out->f) : NULL;
    if (n && !out->f)
        return gun__fail(e, GUN_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const gun__jmember *m = &node->u.o.m[i];
        gun__str key = {m->key, m->key_len};
        if (key.len == 1 && key.p[0] == '_')
            continue;
        if (key.len == 0)
            continue; /* Gun.js's `while(... (key = kl[i++]))` steps over "" */
        if (memchr(key.p, 0, key.len))
            return key_fail(e, GUN_EBADKEY, soul, key, "key has a NUL byte.");
        const gun__json *st = gun__json_obj_get(states, key.p, key.len);
        if (!st)
            return key_fail(e, GUN_ENOSTATE, soul, key, "no state.");
        /* Gun.js only rejects an undefined state and would merge e.g. a null state,
         * keeping the value without any state; a state must be a number here. */
        if (st->t != GUN__J_NUM)
            return key_fail(e, GUN_ENOSTATE, soul, key, "no state (not a number).");
        if (!isfinite(st->u.n))
            return key_fail(e, GUN_ESTATE, soul, key, "state is not finite.");
        gun__field *f = &out->f[out->n];
        f->key = key;
        f->state = st->u.n;
        if (gun__val_from_json(m->val, &f->val) != GUN_OK) {
            char what[32];
            snprintf(what, sizeof what, "bad %s.", js_typeof(m->val));
            return key_fail(e, GUN_EBADVALUE, soul, key, what);
        }
        out->n++;
    }
    return GUN_OK;
}

int gun__graph_from_put(const gun__json *put, gun__graph *g, gun__err *e)
{
    memset(g, 0, sizeof *g);
    if (!put || put->t != GUN__J_OBJ)
        return gun__fail(e, GUN_ENONODE, "Invalid graph! put is not an object.");
    /* `if(put['#'] && put['.']){ return }` in Gun.js: the old one-key form, ignored. */
    if (truthy(gun__json_obj_get(put, "#", 1)) && truthy(gun__json_obj_get(put, ".", 1)))
        return GUN_OK;
    size_t n = put->u.o.n;
    if (!n)
        return GUN_OK;
    g->nodes = gun__calloc(n, sizeof *g->nodes);
    if (!g->nodes)
        return gun__fail(e, GUN_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const gun__jmember *m = &put->u.o.m[i];
        gun__str soul = {m->key, m->key_len};
        int rc = node_from_json(soul, m->val, &g->nodes[i], e);
        g->n = i + 1; /* so gun__graph_free releases this node's fields too */
        if (rc != GUN_OK) {
            gun__graph_free(g);
            return rc;
        }
        g->keys += g->nodes[i].n;
    }
    return GUN_OK;
}

/* SEA.certify and the certificate check of sea.js's firewall (index.js check.pub), with the
 * LEX matcher it uses (String.match from gun.js). sea.js reads certificates through plain JS
 * property access, so a malformed certificate often throws inside a callback that swallows
 * the error: the write is then neither stored nor answered. GUN__CERT_DROP reports exactly
 * those cases, so the firewall can count them and do better than silence if it chooses. */
#include <math.h>
#include <string.h>

#include "sea.h"

/* ---- JS helpers over gun__json ---- */

static const gun__json *get(const gun__json *o, const char *k)
{
    return gun__json_obj_getc(o, k); /* NULL (undefined) unless o is an object */
}

/* a || b, JS style: a when truthy, else b (which may be undefined). */
static const gun__json *or2(const gun__json *a, const gun__json *b)
{
    return gun__sea_truthy(a) ? a : b;
}

static int is_str(const gun__json *v, const char *s)
{
    return v && v->t == GUN__J_STR && gun__str_eqc((gun__str){v->u.s.p, v->u.s.len}, s);
}

/* x.indexOf('*') > -1 for a string (substring) or an array (an element === '*'). -1 when
 * x has no indexOf (sea.js would throw). */
static int has_star(const gun__json *x)
{
    if (x->t == GUN__J_STR)
        return memchr(x->u.s.p, '*', x->u.s.len) != NULL;
    if (x->t == GUN__J_ARR) {
        for (size_t i = 0; i < x->u.a.n; i++)
            if (is_str(x->u.a.v[i], "*"))
                return 1;
        return 0;
    }
    return -1;
}

/* UTF-16 code units of a WTF-8 string, one at a time. */
typedef struct units {
    const char *p;
    size_t len, i;
    uint32_t pend;
} units;

static int unit_next(units *u, uint32_t *out)
{
    if (u->pend) {
        *out = u->pend, u->pend = 0;
        return 1;
    }
    if (u->i >= u->len)
        return 0;
    uint32_t cp;
    size_t n = gun__wtf8_decode(u->p + u->i, u->len - u->i, &cp);
    if (!n)
        cp = 0xFFFD, n = 1;
    u->i += n;
    if (cp >= 0x10000) {
        cp -= 0x10000;
        u->pend = 0xDC00 + (cp & 0x3FF);
        cp = 0xD800 + (cp >> 10);
    }
    *out = cp;
    return 1;
}

/* t.slice(0, pre.length) === pre */
static int utf16_prefix(const char *t, size_t tl, const char *pre, size_t pl)
{
    units a = {t, tl, 0, 0}, b = {pre, pl, 0, 0};
    uint32_t x, y;
    while (unit_next(&b, &y))
        if (!unit_next(&a, &x) || x != y)
            return 0;
    return 1;
}

/* JS t >= v (ge) or t <= v for a string t and any value v. */
static int js_rel(const char *t, size_t tl, const gun__json *v, int ge)
{
    if (!v)
        return 0; /* undefined -> NaN */
    int c;
    if (v->t == GUN__J_STR) {
        c = gun__utf16_cmp(t, tl, v->u.s.p, v->u.s.len);
    } else if (v->t == GUN__J_OBJ || v->t == GUN__J_ARR) {
        /* ToPrimitive gives a string: compare as strings. */
        gun__buf b;
        gun__buf_init(&b);
        gun__sea_js_string(&b, v);
        if (b.oom) {
            gun__buf_free(&b);
            return 0;
        }
        c = gun__utf16_cmp(t, tl, b.p ? b.p : "", b.len);
        gun__buf_free(&b);
    } else {
        double x = gun__sea_str_to_number(t, tl);
        double y = v->t == GUN__J_NUM ? v->u.n : v->t == GUN__J_BOOL ? v->u.b : 0;
        if (isnan(x) || isnan(y))
            return 0;
        c = x < y ? -1 : x > y;
    }
    return ge ? c >= 0 : c <= 0;
}

int gun__sea_lex_match(const char *t, size_t tl, const gun__json *o)
{
    const gun__json *eq, *star, *gt, *lt;
    if (o && o->t == GUN__J_STR) {
        eq = o, star = gt = lt = NULL;
    } else {
        eq = get(o, "="), star = get(o, "*"), gt = get(o, ">"), lt = get(o, "<");
    }
    const gun__json *tmp = or2(eq, or2(star, or2(gt, lt)));
    if (tmp && tmp->t == GUN__J_STR && tmp->u.s.len == tl && memcmp(tmp->u.s.p, t, tl) == 0)
        return 1;
    if (eq)
        return 0;
    tmp = or2(star, gt);
    /* t.slice(0, (tmp||'').length) === tmp: a string prefix, or tmp === '' */
    if (tmp && tmp->t == GUN__J_STR && utf16_prefix(t, tl, tmp->u.s.p, tmp->u.s.len))
        return 1;
    if (star)
        return 0;
    if (gt && lt)
        return js_rel(t, tl, gt, 1) && js_rel(t, tl, lt, 0);
    if (gt && js_rel(t, tl, gt, 1))
        return 1;
    if (lt && js_rel(t, tl, lt, 0))
        return 1;
    return 0;
}

/* ---- certify ---- */

static gun__json *jclone(const gun__json *v) { return v ? gun__json_clone(v) : NULL; }

/* sea.js's certificants normalisation: '*', a pub, or a list of pubs. NULL with *err set
 * to 1 for "No certificant found.", 2 when sea.js would throw, 3 when out of memory. */
static gun__json *certificants_of(const gun__json *cs, int *err)
{
    *err = 1;
    if (!gun__sea_truthy(cs))
        return NULL;
    gun__json *r = NULL;
    *err = 3;
    if ((cs->t == GUN__J_STR || cs->t == GUN__J_ARR) && has_star(cs) == 1)
        return gun__json_str("*", 1);
    if (cs->t == GUN__J_STR)
        return jclone(cs);
    *err = 1;
    if (cs->t == GUN__J_ARR) {
        if (cs->u.a.n == 1 && gun__sea_truthy(cs->u.a.v[0])) {
            const gun__json *c0 = cs->u.a.v[0], *pub = get(c0, "pub");
            if (gun__sea_truthy(pub))
                r = jclone(pub);
            else if (c0->t == GUN__J_STR)
                r = jclone(c0);
            else
                return NULL;
            *err = r ? 1 : 3;
            return r;
        }
        gun__json *data = gun__json_arr();
        if (!data) {
            *err = 3;
            return NULL;
        }
        for (size_t i = 0; i < cs->u.a.n; i++) {
            const gun__json *c = cs->u.a.v[i];
            if (c->t == GUN__J_NULL) { /* null.pub throws */
                gun__json_free(data);
                *err = 2;
                return NULL;
            }
            const gun__json *pub = c->t == GUN__J_STR ? c : get(c, "pub");
            if ((c->t == GUN__J_STR || gun__sea_truthy(pub)) &&
                gun__json_arr_push(data, jclone(pub))) {
                gun__json_free(data);
                *err = 3;
                return NULL;
            }
        }
        if (data->u.a.n)
            return data;
        gun__json_free(data);
        return NULL;
    }
    if (cs->t == GUN__J_OBJ && gun__sea_truthy(get(cs, "pub"))) {
        r = jclone(get(cs, "pub"));
        *err = r ? 1 : 3;
        return r;
    }
    return NULL;
}

/* A policy or block field sea.js takes: a string, or something with a truthy '#'. */
static int block_like(const gun__json *v)
{
    return gun__sea_truthy(v) && (v->t == GUN__J_STR || gun__sea_truthy(get(v, "#")));
}

int gun__sea_certify(const gun__json *certificants, const gun__json *policy,
                     const gun_sea_pair *authority, double expiry, const gun__json *block,
                     gun__buf *out, gun__err *e)
{
    int cerr;
    gun__json *c = certificants_of(certificants, &cerr);
    if (!c)
        return cerr == 3   ? gun__fail(e, GUN_ENOMEM, "sea: out of memory")
               : cerr == 2 ? gun__fail(e, GUN_EINVAL, "sea: certificants list holds null")
                           : gun__fail(e, GUN_EINVAL, "No certificant found.");
    gun__json empty_obj = {.t = GUN__J_OBJ};
    if (!policy)
        policy = &empty_obj; /* policy = {} */
    if (policy->t == GUN__J_NULL) {
        gun__json_free(c);
        return gun__fail(e, GUN_EINVAL, "sea: policy is null"); /* null["+"] throws */
    }
    const gun__json *rp = gun__sea_truthy(get(policy, "read")) ? get(policy, "read") : NULL;
    const gun__json *wp = get(policy, "write");
    if (!gun__sea_truthy(wp)) {
        wp = NULL;
        static const char *const lexk[] = {"+", "#", ".", "=", "*", ">", "<"};
        int lexy = policy->t == GUN__J_STR || policy->t == GUN__J_ARR;
        for (size_t i = 0; !lexy && i < sizeof lexk / sizeof *lexk; i++)
            lexy = gun__sea_truthy(get(policy, lexk[i]));
        if (lexy)
            wp = policy;
    }
    if (!block || !gun__sea_truthy(block))
        block = &empty_obj;
    const gun__json *rb = block_like(get(block, "read")) ? get(block, "read") : NULL;
    const gun__json *wb = block->t == GUN__J_STR              ? block
                          : block_like(get(block, "write")) ? get(block, "write")
                                                            : NULL;
    if (!gun__sea_truthy(rp) && !gun__sea_truthy(wp)) {
        gun__json_free(c);
        return gun__fail(e, GUN_EINVAL, "No policy found.");
    }
    /* {c, e?, r?, w?, rb?, wb?} in this order; sea.js signs JSON.parse of its JSON text,
     * which the sorted writer hashes and the JS writer reproduces. */
    gun__json *m = gun__json_obj();
    int rc = m ? gun__json_obj_set(m, "c", 1, c) : (gun__json_free(c), GUN_ENOMEM);
    if (!rc && expiry != 0 && !isnan(expiry))
        rc = gun__json_obj_set(m, "e", 1, gun__json_num(expiry));
    if (!rc && gun__sea_truthy(rp))
        rc = gun__json_obj_set(m, "r", 1, jclone(rp));
    if (!rc && gun__sea_truthy(wp))
        rc = gun__json_obj_set(m, "w", 1, jclone(wp));
    if (!rc && rb)
        rc = gun__json_obj_set(m, "rb", 2, jclone(rb));
    if (!rc && wb)
        rc = gun__json_obj_set(m, "wb", 2, jclone(wb));
    char sig[GUN__SEA_SIG_B64 + 1];
    if (rc)
        rc = gun__fail(e, GUN_ENOMEM, "sea: out of memory");
    else
        rc = gun__sea_sign_m(m, authority->priv, strnlen(authority->priv, sizeof authority->priv),
                             0, sig, e);
    if (!rc) {
        /* 'SEA' + JSON.stringify({m, s}): certify uses plain JSON.stringify, not YSON. */
        gun__buf_adds(out, "SEA{\"m\":");
        gun__json_write(out, m, GUN__JSON_JS);
        gun__buf_adds(out, ",\"s\":");
        gun__json_write_str(out, sig, strlen(sig));
        gun__buf_addc(out, '}');
        if (out->oom)
            rc = gun__fail(e, GUN_ENOMEM, "sea: out of memory");
    }
    gun__json_free(m);
    return rc;
}

/* ---- the firewall's certificate check ---- */

void gun__sea_cert_result_free(gun__sea_cert_result *res)
{
    if (!res)
        return;
    gun__free(res->why);
    gun__free(res->block_soul);
    gun__free(res->block_key);
    memset(res, 0, sizeof *res);
}

/* Finds needle in hay (byte substring; UTF-8 substrings and UTF-16 substrings agree for
 * well-formed text). */
static int contains(const char *hay, size_t hl, const char *nd, size_t nl)
{
    if (!nl)
        return 1;
    for (size_t i = 0; i + nl <= hl; i++)
        if (memcmp(hay + i, nd, nl) == 0)
            return 1;
    return 0;
}

int gun__sea_cert_check(const gun__json *cert, const char *owner_pub, size_t owner_len,
                        const char *certificant, size_t cert_len, const char *soul,
                        size_t soul_len, const char *key, size_t key_len, double state,
                        unsigned flags, gun__sea_cert_result *res)
{
    memset(res, 0, sizeof *res);
    res->verdict = GUN__CERT_DROP;
    if (!gun__sea_truthy(get(cert, "m")) || !gun__sea_truthy(get(cert, "s")) || !cert_len ||
        !owner_len)
        return GUN_OK;
    gun__json *data = NULL;
    int rc = gun__sea_verify_value(cert, owner_pub, owner_len, flags, &data, NULL);
    if (rc == GUN_ENOMEM)
        return rc;
    if (rc || data->t == GUN__J_NULL) { /* unverified: no callback; null.e throws */
        gun__json_free(data);
        return GUN_OK;
    }
    const gun__json *e = get(data, "e"), *c = get(data, "c"), *w = get(data, "w");
    if (e && gun__sea_truthy(&(gun__json){.t = GUN__J_NUM, .u.n = state}) &&
        state > gun__sea_parse_float(e)) {
        gun__json_free(data);
        res->verdict = GUN__CERT_EXPIRED;
        res->why = gun__strndup("Certificate expired.", 20);
        return res->why ? GUN_OK : GUN_ENOMEM;
    }
    if (!gun__sea_truthy(c) || !gun__sea_truthy(w)) {
        gun__json_free(data);
        return GUN_OK;
    }
    int listed = c->t == GUN__J_STR && c->u.s.len == cert_len &&
                 memcmp(c->u.s.p, certificant, cert_len) == 0;
    if (!listed && has_star(c) != 1) { /* not listed, or c.indexOf throws */
        gun__json_free(data);
        return GUN_OK;
    }
    const char *slash = memchr(soul, '/', soul_len);
    const char *path = slash ? slash + 1 : "";
    size_t path_len = slash ? soul_len - (size_t)(slash + 1 - soul) : 0;
    gun__buf full;
    gun__buf_init(&full);
    if (path_len) {
        gun__buf_add(&full, path, path_len);
        gun__buf_addc(&full, '/');
    }
    gun__buf_add(&full, key, key_len);
    if (full.oom) {
        gun__json_free(data);
        gun__buf_free(&full);
        return GUN_ENOMEM;
    }
    size_t nw = w->t == GUN__J_ARR ? w->u.a.n : (w->t == GUN__J_OBJ || w->t == GUN__J_STR);
    rc = GUN_OK;
    res->verdict = GUN__CERT_NO_PATH;
    for (size_t i = 0; i < nw; i++) {
        const gun__json *lex = w->t == GUN__J_ARR ? w->u.a.v[i] : w;
        if (lex->t == GUN__J_NULL) { /* null['#'] throws */
            res->verdict = GUN__CERT_DROP;
            break;
        }
        const gun__json *ls = get(lex, "#"), *lk = get(lex, ".");
        int hit = (gun__sea_lex_match(path, path_len, ls) && gun__sea_lex_match(key, key_len, lk)) ||
                  (!gun__sea_truthy(lk) && gun__sea_lex_match(path, path_len, ls)) ||
                  (!gun__sea_truthy(ls) && gun__sea_lex_match(key, key_len, lk)) ||
                  gun__sea_lex_match(full.p, full.len, or2(ls, lex));
        if (!hit)
            continue;
        const gun__json *plus = get(lex, "+");
        if (gun__sea_truthy(plus)) {
            int star = has_star(plus);
            if (star < 0) { /* lex['+'].indexOf throws */
                res->verdict = GUN__CERT_DROP;
                break;
            }
            if (star && path_len && !contains(path, path_len, certificant, cert_len) &&
                !contains(key, key_len, certificant, cert_len)) {
                gun__buf why;
                gun__buf_init(&why);
                gun__buf_adds(&why, "Path \"");
                gun__buf_add(&why, path, path_len);
                gun__buf_adds(&why, "\" or key \"");
                gun__buf_add(&why, key, key_len);
                gun__buf_adds(&why, "\" must contain string \"");
                gun__buf_add(&why, certificant, cert_len);
                gun__buf_adds(&why, "\".");
                res->why = gun__buf_take(&why);
                rc = res->why ? GUN_OK : GUN_ENOMEM;
                res->verdict = GUN__CERT_MUST_HAVE;
                break;
            }
        }
        const gun__json *wb = get(data, "wb");
        if (block_like(wb)) {
            /* root.get(wb).get(certificant), where a string not starting with '~' is a
             * key under the owner's ~pub node and an object is a {'#': soul} link. */
            res->verdict = GUN__CERT_BLOCK;
            if (wb->t == GUN__J_STR && wb->u.s.p[0] != '~') {
                gun__buf s;
                gun__buf_init(&s);
                gun__buf_addc(&s, '~');
                gun__buf_add(&s, owner_pub, owner_len);
                res->block_soul = gun__buf_take(&s);
                res->block_key = gun__strndup(wb->u.s.p, wb->u.s.len);
                if (!res->block_key)
                    rc = GUN_ENOMEM;
            } else {
                const gun__json *soulv = wb->t == GUN__J_STR ? wb : get(wb, "#");
                gun__buf s;
                gun__buf_init(&s);
                gun__sea_js_string(&s, soulv);
                res->block_soul = gun__buf_take(&s);
            }
            if (!res->block_soul)
                rc = GUN_ENOMEM;
        } else {
            res->verdict = GUN__CERT_OK;
        }
        break;
    }
    if (!rc && res->verdict == GUN__CERT_NO_PATH && !(res->why = gun__strndup(
                                                         "Certificate verification fail.", 30)))
        rc = GUN_ENOMEM;
    gun__json_free(data);
    gun__buf_free(&full);
    if (rc)
        gun__sea_cert_result_free(res);
    return rc;
}

/* ---- public API ---- */

/* JSON text, or when it is not JSON the text itself as a string (a bare pub, "*", "inbox"). */
static int value_of(const char *text, gun__json **out)
{
    if (!text) {
        *out = NULL;
        return GUN_OK;
    }
    size_t n = strlen(text);
    static const gun__limits lim = {SIZE_MAX, GUN__JSON_DEPTH_CEIL};
    int rc = gun__json_parse(text, n, &lim, out, NULL);
    if (rc == GUN_EJSON || rc == GUN_EDEPTH) {
        *out = gun__json_str(text, n);
        rc = *out ? GUN_OK : GUN_ENOMEM;
    }
    return rc;
}

int gun_sea_certify(const char *certificants, const char *policy, const gun_sea_pair *authority,
                    double expiry, const char *block, char **out)
{
    if (out)
        *out = NULL;
    if (!certificants || !policy || !authority || !out)
        return GUN_EINVAL;
    gun__json *c = NULL, *p = NULL, *b = NULL;
    gun__buf o;
    gun__buf_init(&o);
    int rc = value_of(certificants, &c);
    if (!rc)
        rc = value_of(policy, &p);
    if (!rc)
        rc = value_of(block, &b);
    if (!rc)
        rc = gun__sea_certify(c, p, authority, expiry, b, &o, NULL);
    gun__json_free(c);
    gun__json_free(p);
    gun__json_free(b);
    if (!rc && o.oom)
        rc = GUN_ENOMEM;
    if (rc) {
        gun__buf_free(&o);
        return rc;
    }
    *out = gun__buf_take(&o);
    return *out ? GUN_OK : GUN_ENOMEM;
}

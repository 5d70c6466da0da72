/* sea_oracle: our SEA behind a line protocol, for tests/interop/20-sea.test.js to compare
 * with Gun.js SEA in Node.
 *
 * Each input line is a JSON array [cmd, args...]; each output line is {"ok":<result>} or
 * {"err":<code>,"text":"<gun_strerror>"}. Strings travel as JSON, so lone surrogates survive.
 *   ["pair"]                                        -> {pub,priv,epub,epriv}
 *   ["sign", data, pair, flags]                     -> "SEA{...}"
 *   ["verify", data, pub, flags]                    -> the value SEA.verify returns
 *   ["encrypt", data, key, flags]                   -> "SEA{...}"
 *   ["decrypt", data, key]                          -> the value SEA.decrypt returns
 *   ["work", data, salt|null, {iterations,length,hash,name,hex}]
 *   ["secret", their_epub, pair]                    -> 43-char secret
 *   ["certify", certificants, policy, pair, expiry, block|null]  (values, passed as JSON)
 *   ["sign_put", soul, key, value, state, pair, cert|null]        -> wire string
 *   ["verify_put", soul, key, wire, state, pub, flags]            -> value
 *   ["soul_pub", soul]                              -> pub or null
 *   ["cert_check", cert, owner_pub, certificant, soul, key, state]
 *        -> {verdict, why, block_soul, block_key}
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sea/sea.h"

static const char *s_arg(const gun__json *a, size_t i)
{
    if (a->u.a.n <= i || a->u.a.v[i]->t != GUN__J_STR)
        return NULL;
    return a->u.a.v[i]->u.s.p;
}

static const gun__json *arg(const gun__json *a, size_t i)
{
    return a->u.a.n > i ? a->u.a.v[i] : NULL;
}

static double n_arg(const gun__json *a, size_t i)
{
    const gun__json *v = arg(a, i);
    return v && v->t == GUN__J_NUM ? v->u.n : 0;
}

static int pair_arg(const gun__json *a, size_t i, gun_sea_pair *p)
{
    const gun__json *v = arg(a, i);
    if (!v)
        return GUN_EINVAL;
    gun__buf b;
    gun__buf_init(&b);
    gun__json_write(&b, v, GUN__JSON_JS);
    int rc = gun_sea_pair_from_json(b.p, p);
    gun__buf_free(&b);
    return rc;
}

/* JSON text of an argument, for the API calls that take JSON. */
static char *json_arg(const gun__json *a, size_t i)
{
    const gun__json *v = arg(a, i);
    if (!v || v->t == GUN__J_NULL)
        return NULL;
    gun__buf b;
    gun__buf_init(&b);
    gun__json_write(&b, v, GUN__JSON_JS);
    return gun__buf_take(&b);
}

static void reply_err(gun__buf *o, int rc)
{
    gun__buf_printf(o, "{\"err\":%d,\"text\":", rc);
    gun__json_write_str(o, gun_strerror(rc), strlen(gun_strerror(rc)));
    gun__buf_addc(o, '}');
}

/* {"ok":"<s>"} or, with raw, {"ok":<s>} (s being JSON already). */
static void reply(gun__buf *o, int rc, char *s, int raw)
{
    if (rc) {
        reply_err(o, rc);
    } else {
        gun__buf_adds(o, "{\"ok\":");
        if (raw)
            gun__buf_adds(o, s);
        else
            gun__json_write_str(o, s, strlen(s));
        gun__buf_addc(o, '}');
    }
    gun_sea_free(s);
}

static void run(const gun__json *a, gun__buf *o)
{
    const char *cmd = s_arg(a, 0);
    char *out = NULL;
    gun_sea_pair p;
    int rc;
    if (!cmd) {
        reply_err(o, GUN_EINVAL);
    } else if (!strcmp(cmd, "pair")) {
        rc = gun_sea_pair_generate(&p);
        if (!rc)
            rc = gun_sea_pair_to_json(&p, &out);
        reply(o, rc, out, 1);
    } else if (!strcmp(cmd, "sign")) {
        rc = pair_arg(a, 2, &p);
        if (!rc)
            rc = gun_sea_sign(s_arg(a, 1), &p, (unsigned)n_arg(a, 3), &out);
        reply(o, rc, out, 0);
    } else if (!strcmp(cmd, "verify")) {
        rc = gun_sea_verify(s_arg(a, 1), s_arg(a, 2), (unsigned)n_arg(a, 3), &out);
        reply(o, rc, out, 1);
    } else if (!strcmp(cmd, "encrypt")) {
        rc = gun_sea_encrypt(s_arg(a, 1), s_arg(a, 2), (unsigned)n_arg(a, 3), &out);
        reply(o, rc, out, 0);
    } else if (!strcmp(cmd, "decrypt")) {
        rc = gun_sea_decrypt(s_arg(a, 1), s_arg(a, 2), &out);
        reply(o, rc, out, 1);
    } else if (!strcmp(cmd, "work")) {
        const gun__json *op = arg(a, 3);
        const gun__json *it = gun__json_obj_getc(op, "iterations"), *ln = gun__json_obj_getc(op, "length"),
                        *hs = gun__json_obj_getc(op, "hash"), *nm = gun__json_obj_getc(op, "name"),
                        *hx = gun__json_obj_getc(op, "hex");
        gun_sea_work_opts w = {
            .iterations = it && it->t == GUN__J_NUM ? (uint32_t)it->u.n : 0,
            .length = ln && ln->t == GUN__J_NUM ? (uint32_t)ln->u.n : 0,
            .hash = hs && hs->t == GUN__J_STR ? hs->u.s.p : NULL,
            .name = nm && nm->t == GUN__J_STR ? nm->u.s.p : NULL,
            .hex = hx && hx->t == GUN__J_BOOL && hx->u.b,
        };
        rc = gun_sea_work(s_arg(a, 1), s_arg(a, 2), &w, &out);
        reply(o, rc, out, 0);
    } else if (!strcmp(cmd, "secret")) {
        char sec[44];
        rc = pair_arg(a, 2, &p);
        if (!rc)
            rc = gun_sea_secret(s_arg(a, 1), &p, sec);
        reply(o, rc, rc ? NULL : gun__strndup(sec, strlen(sec)), 0);
    } else if (!strcmp(cmd, "certify")) {
        char *c = json_arg(a, 1), *pol = json_arg(a, 2), *blk = json_arg(a, 5);
        rc = pair_arg(a, 3, &p);
        if (!rc)
            rc = gun_sea_certify(c ? c : "null", pol ? pol : "null", &p, n_arg(a, 4), blk, &out);
        gun__free(c);
        gun__free(pol);
        gun__free(blk);
        reply(o, rc, out, 0);
    } else if (!strcmp(cmd, "sign_put")) {
        char *val = json_arg(a, 3);
        rc = pair_arg(a, 5, &p);
        if (!rc)
            rc = gun_sea_sign_put(s_arg(a, 1), s_arg(a, 2), val ? val : "null", n_arg(a, 4), &p,
                                  s_arg(a, 6), &out);
        gun__free(val);
        reply(o, rc, out, 0);
    } else if (!strcmp(cmd, "verify_put")) {
        rc = gun_sea_verify_put(s_arg(a, 1), s_arg(a, 2), s_arg(a, 3), n_arg(a, 4), s_arg(a, 5),
                                (unsigned)n_arg(a, 6), &out);
        reply(o, rc, out, 1);
    } else if (!strcmp(cmd, "soul_pub")) {
        rc = gun_sea_soul_pub(s_arg(a, 1), &out);
        if (rc == GUN_ENOTFOUND)
            reply(o, 0, gun__strndup("null", 4), 1);
        else
            reply(o, rc, out, 0);
    } else if (!strcmp(cmd, "cert_check")) {
        const char *owner = s_arg(a, 2), *who = s_arg(a, 3), *soul = s_arg(a, 4), *key = s_arg(a, 5);
        gun__json *cert = NULL;
        gun__sea_cert_result r;
        static const char *const names[] = {"ok", "block", "drop", "expired", "no_path", "must_have"};
        rc = owner && who && soul && key && arg(a, 1) ? GUN_OK : GUN_EINVAL;
        if (!rc && arg(a, 1)->t == GUN__J_STR)
            rc = gun__sea_parse(arg(a, 1)->u.s.p, arg(a, 1)->u.s.len, &cert, NULL);
        if (!rc)
            rc = gun__sea_cert_check(cert ? cert : arg(a, 1), owner, strlen(owner), who, strlen(who),
                                     soul, strlen(soul), key, strlen(key), n_arg(a, 6),
                                     GUN_SEA_LEGACY, &r);
        gun__json_free(cert);
        if (rc) {
            reply_err(o, rc);
        } else {
            gun__buf_printf(o, "{\"ok\":{\"verdict\":\"%s\",\"why\":", names[r.verdict]);
            if (r.why)
                gun__json_write_str(o, r.why, strlen(r.why));
            else
                gun__buf_adds(o, "null");
            gun__buf_adds(o, ",\"block_soul\":");
            if (r.block_soul)
                gun__json_write_str(o, r.block_soul, strlen(r.block_soul));
            else
                gun__buf_adds(o, "null");
            gun__buf_adds(o, ",\"block_key\":");
            if (r.block_key)
                gun__json_write_str(o, r.block_key, strlen(r.block_key));
            else
                gun__buf_adds(o, "null");
            gun__buf_adds(o, "}}");
            gun__sea_cert_result_free(&r);
        }
    } else {
        reply_err(o, GUN_ENOTSUP);
    }
    gun_sea_pair_wipe(&p);
}

int main(void)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    static const gun__limits lim = {1u << 26, 256};
    while ((n = getline(&line, &cap, stdin)) > 0) {
        gun__json *a = NULL;
        gun__buf o;
        gun__buf_init(&o);
        if (gun__json_parse(line, (size_t)n, &lim, &a, NULL) || a->t != GUN__J_ARR)
            reply_err(&o, GUN_EJSON);
        else
            run(a, &o);
        gun__json_free(a);
        gun__buf_addc(&o, '\n');
        fwrite(o.p, 1, o.len, stdout);
        fflush(stdout);
        gun__buf_free(&o);
    }
    free(line);
    return 0;
}

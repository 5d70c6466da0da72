/* The relay's user-graph firewall: sea.js's `check` (index.js, run on every key of every
 * put before it is stored or forwarded), spec 5.9. Order and texts follow sea.js:
 *
 *   soul contains `<?N`   state older than N seconds: omitted silently (then the rest runs)
 *   soul `~@`             value a link to "~@"+key    Data must exist! / Alias not same!
 *   soul `~@...`          value a link to key         Alias must exist! / Alias not same!
 *   pub soul (SEA.opt.pub), key `pub` on `~<pub>`: value === pub     Account not same!
 *   pub soul, other keys  signed by the owner, or by '*' with a certificate '+'
 *                         Unverified data. / Certificate ... / Certificant X blocked.
 *   soul contains `#`     key's text after its last '#' is base64 (or hex) SHA-256 of the value
 *                         Data hash not same as hash!
 *
 * One deliberate difference (docs/sea.md 11): sea.js verifies against `raw['*'] || pub` and
 * checks a certificate only when '+' has m and s, so a value signed by anyone, naming
 * themselves in '*' and carrying no certificate, lands in anyone's graph. We require a valid
 * certificate whenever '*' is present and is not the owner's pub ("Unverified data."), and a
 * '*' that is not a string is refused (sea.js would read `.pub` of an object). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <uv.h>

#include "../core/core.h"
#include "../store/store.h"
#include "sea.h"

typedef struct fw_key {
    char pub[GUN__SEA_PUB_LEN + 1];
    size_t len;
    EVP_PKEY *pk;
    uint64_t used;
} fw_key;

/* The relay verifies on libuv's worker threads (several at once), so the cache is behind a
 * lock and every key handed out carries its own reference: an eviction by one thread never
 * frees a key another is verifying with. */
struct gun__fw {
    uv_mutex_t mu; /* keys, n, tick, loads, hits */
    fw_key *keys;
    size_t n, cap;
    uint64_t tick, loads, hits;
    unsigned flags;
};

int gun__fw_new(gun__fw **out, size_t cache, unsigned flags)
{
    *out = NULL;
    gun__fw *fw = gun__calloc(1, sizeof *fw);
    if (!fw)
        return GUN_ENOMEM;
    fw->cap = cache ? cache : 64;
    fw->keys = gun__calloc(fw->cap, sizeof *fw->keys);
    if (!fw->keys || uv_mutex_init(&fw->mu)) {
        gun__free(fw->keys);
        gun__free(fw);
        return GUN_ENOMEM;
    }
    fw->flags = flags;
    *out = fw;
    return GUN_OK;
}

void gun__fw_free(gun__fw *fw)
{
    if (!fw)
        return;
    for (size_t i = 0; i < fw->n; i++)
        EVP_PKEY_free(fw->keys[i].pk);
    uv_mutex_destroy(&fw->mu);
    gun__free(fw->keys);
    gun__free(fw);
}

void gun__fw_cache_stats(const gun__fw *fw, uint64_t *loads, uint64_t *hits)
{
    uv_mutex_lock((uv_mutex_t *)&fw->mu);
    *loads = fw->loads;
    *hits = fw->hits;
    uv_mutex_unlock((uv_mutex_t *)&fw->mu);
}

/* The cached key for pub with a new reference, or NULL. Lock held. */
static EVP_PKEY *key_find(gun__fw *fw, const char *pub, size_t len)
{
    for (size_t i = 0; len == GUN__SEA_PUB_LEN && i < fw->n; i++) {
        if (fw->keys[i].len == len && memcmp(fw->keys[i].pub, pub, len) == 0) {
            if (!EVP_PKEY_up_ref(fw->keys[i].pk))
                return NULL;
            fw->keys[i].used = ++fw->tick;
            fw->hits++;
            return fw->keys[i].pk;
        }
    }
    return NULL;
}

/* The imported key for pub in *pk, the caller's reference (EVP_PKEY_free it), or the
 * error. Keys that do not load are not cached (they cost a failed parse, no EC math). Only
 * well-formed 87-char pubs are cached. The import runs outside the lock: two threads may
 * both load a new key, and the second keeps the first's. */
static int key_get(gun__fw *fw, const char *pub, size_t len, EVP_PKEY **pk)
{
    uv_mutex_lock(&fw->mu);
    *pk = key_find(fw, pub, len);
    uv_mutex_unlock(&fw->mu);
    if (*pk)
        return GUN_OK;
    gun__err e;
    int rc = gun__sea_pub_load(pub, len, pk, &e);
    if (rc)
        return rc;
    uv_mutex_lock(&fw->mu);
    fw->loads++;
    if (len != GUN__SEA_PUB_LEN) {
        uv_mutex_unlock(&fw->mu);
        return GUN_OK;
    }
    EVP_PKEY *had = key_find(fw, pub, len);
    if (had || !EVP_PKEY_up_ref(*pk)) {
        uv_mutex_unlock(&fw->mu);
        if (had) {
            EVP_PKEY_free(*pk);
            *pk = had;
        }
        return GUN_OK;
    }
    size_t slot = fw->n;
    if (fw->n < fw->cap) {
        fw->n++;
    } else {
        slot = 0;
        for (size_t i = 1; i < fw->n; i++)
            if (fw->keys[i].used < fw->keys[slot].used)
                slot = i;
        EVP_PKEY_free(fw->keys[slot].pk);
    }
    memcpy(fw->keys[slot].pub, pub, len);
    fw->keys[slot].pub[len] = 0;
    fw->keys[slot].len = len;
    fw->keys[slot].pk = *pk; /* the cache's reference, taken above */
    fw->keys[slot].used = ++fw->tick;
    uv_mutex_unlock(&fw->mu);
    return GUN_OK;
}

static int set(gun__fw_result *res, gun__fw_kind kind, const char *why)
{
    res->kind = kind;
    res->why = why;
    return GUN_OK;
}

static int str_has(gun__str s, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= s.len; i++)
        if (memcmp(s.p + i, needle, n) == 0)
            return 1;
    return 0;
}

/* Gun.valid(v) as a string: the soul of a link, else NULL. */
static const gun__json *link_of(const gun__json *v)
{
    if (!v || v->t != GUN__J_OBJ || v->u.o.n != 1)
        return NULL;
    const gun__json *s = gun__json_obj_getc(v, "#");
    return s && s->t == GUN__J_STR && s->u.s.len ? s : NULL;
}

int gun__fw_applies(gun__str soul)
{
    if (soul.len >= 2 && soul.p[0] == '~' && soul.p[1] == '@')
        return 1;
    if (str_has(soul, "<?") || memchr(soul.p, '#', soul.len))
        return 1;
    gun__buf b;
    gun__buf_init(&b);
    int r = gun__sea_soul_pub(soul.p, soul.len, &b);
    gun__buf_free(&b);
    return r;
}

/* JS parseInt(t, 16) of a 2-char substring, then String.fromCharCode: -1 when the char
 * would not fit btoa (sea.js then throws and answers nothing; we reject), 0 for NaN. */
static int hex_pair(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r' ||
                     p[i] == '\v' || p[i] == '\f'))
        i++;
    int neg = 0;
    if (i < n && (p[i] == '+' || p[i] == '-'))
        neg = p[i++] == '-';
    int v = 0, digits = 0;
    for (; i < n; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            break;
        v = v * 16 + d, digits++;
    }
    if (!digits)
        return 0;                       /* NaN -> "\0" */
    if (neg && v)
        return -1;                      /* 0xFFxx: btoa throws */
    return v;
}

/* sea.js check.hash: SEA.work(val, {name:'SHA-256'}) against the key's last '#' part,
 * as base64 or as hex turned into base64 by its hexToBase64. */
static int hash_ok(gun__str key, const gun__json *val)
{
    const char *t = key.p;
    for (size_t i = key.len; i > 0; i--)
        if (key.p[i - 1] == '#') {
            t = key.p + i;
            break;
        }
    size_t tlen = (size_t)(key.p + key.len - t);
    gun__buf text;
    gun__buf_init(&text);
    gun__sea_text(&text, val, 0);
    unsigned char h[32];
    int rc = text.oom ? GUN_ENOMEM : gun__sea_sha256(text.p ? text.p : "", text.len, h);
    gun__buf_free(&text);
    if (rc)
        return rc < 0 ? rc : -1;
    char b64[45];
    size_t n = gun__sea_b64_to(b64, h, 32, 0);
    if (tlen == n && memcmp(t, b64, n) == 0)
        return 1;
    /* hexToBase64: chars at i-1..i for odd i; a trailing odd char is ignored */
    if (tlen / 2 != 32)
        return 0;
    unsigned char raw[32];
    for (size_t i = 0; i < 32; i++) {
        int c = hex_pair(t + 2 * i, 2);
        if (c < 0)
            return 0;
        raw[i] = (unsigned char)c;
    }
    return memcmp(raw, h, 32) == 0;
}

/* S.parse(val) || {}: a string is parsed (SEA{ prefix dropped), anything else is itself.
 * *tmp gets what must be freed. NULL means "{}". */
static int raw_of(const gun__json *val, const gun__json **raw, gun__json **tmp)
{
    *tmp = NULL;
    *raw = val;
    if (val && val->t == GUN__J_STR) {
        gun__err e;
        int rc = gun__sea_parse(val->u.s.p, val->u.s.len, tmp, &e);
        if (rc == GUN_ENOMEM)
            return rc;
        *raw = rc ? NULL : *tmp;
    }
    if (!gun__sea_truthy(*raw))
        *raw = NULL;
    return GUN_OK;
}

/* The value sea.js's chain would hand `once` for a stored key: a signed value unpacked
 * (its ':'), anything else as is. The store holds only what the firewall let in. */
static gun__json *lookup_val(gun__fw_lookup lookup, void *arg, gun__str soul, gun__str key)
{
    gun__json *v = NULL;
    if (lookup(arg, soul, key, &v) || !v)
        return NULL;
    if (v->t == GUN__J_STR) {
        gun__json *p = NULL;
        gun__err e;
        if (!gun__sea_parse(v->u.s.p, v->u.s.len, &p, &e) && p) {
            gun__json *inner = gun__json_obj_getc(p, ":");
            if (inner && gun__json_obj_getc(p, "~")) {
                gun__json *c = gun__json_clone(inner);
                gun__json_free(p);
                gun__json_free(v);
                return c;
            }
        }
        gun__json_free(p);
    }
    return v;
}

/* root.get(block_soul)[.get(block_key)].get(certificant): 1 when the value is 1 or true. */
static int blocked(const gun__sea_cert_result *cr, const char *writer, size_t wlen,
                   gun__fw_lookup lookup, void *arg)
{
    if (!lookup || !cr->block_soul)
        return 0;
    gun__str soul = {cr->block_soul, strlen(cr->block_soul)};
    gun__json *via = NULL;
    if (cr->block_key) {
        via = lookup_val(lookup, arg, soul, (gun__str){cr->block_key, strlen(cr->block_key)});
        const gun__json *l = link_of(via);
        if (!l) {
            gun__json_free(via);
            return 0;
        }
        soul = (gun__str){l->u.s.p, l->u.s.len};
    }
    gun__json *v = lookup_val(lookup, arg, soul, (gun__str){writer, wlen});
    int r = v && ((v->t == GUN__J_NUM && v->u.n == 1) || (v->t == GUN__J_BOOL && v->u.b));
    gun__json_free(v);
    gun__json_free(via);
    return r;
}

static int check_pub(gun__fw *fw, gun__str soul, gun__str key, const gun__json *val,
                     double state, const char *pub, size_t pub_len, gun__fw_lookup lookup,
                     void *arg, gun__fw_result *res)
{
    /* key `pub` on the account node itself: the plain pub, unsigned */
    if (key.len == 3 && memcmp(key.p, "pub", 3) == 0 && soul.len == pub_len + 1 &&
        soul.p[0] == '~' && memcmp(soul.p + 1, pub, pub_len) == 0) {
        if (val && val->t == GUN__J_STR && val->u.s.len == pub_len &&
            memcmp(val->u.s.p, pub, pub_len) == 0)
            return set(res, GUN__FW_PASS, NULL);
        return set(res, GUN__FW_ACCOUNT, "Account not same!");
    }
    const gun__json *raw;
    gun__json *tmp;
    int rc = raw_of(val, &raw, &tmp);
    if (rc)
        return rc;
    const gun__json *star = raw ? gun__json_obj_getc(raw, "*") : NULL;
    const gun__json *plus = raw ? gun__json_obj_getc(raw, "+") : NULL;
    int star_set = gun__sea_truthy(star);
    int has_cert = gun__sea_truthy(plus) && gun__sea_truthy(gun__json_obj_getc(plus, "m")) &&
                   gun__sea_truthy(gun__json_obj_getc(plus, "s"));
    const char *signer = pub;
    size_t signer_len = pub_len;
    if (star_set) {
        if (star->t != GUN__J_STR) {
            rc = set(res, GUN__FW_UNCERTIFIED, "Unverified data.");
            goto out;
        }
        int owner = star->u.s.len == pub_len && memcmp(star->u.s.p, pub, pub_len) == 0;
        if (!owner && !has_cert) { /* the Gun.js hole: refuse */
            rc = set(res, GUN__FW_UNCERTIFIED, "Unverified data.");
            goto out;
        }
        signer = star->u.s.p, signer_len = star->u.s.len;
    }
    EVP_PKEY *pk = NULL;
    rc = key_get(fw, signer, signer_len, &pk);
    if (rc == GUN_ENOMEM)
        goto out;
    if (!rc) {
        gun__err e;
        rc = gun__sea_verify_put_pk(soul.p, soul.len, key.p, key.len, raw ? raw : val, state, pk,
                                    fw->flags, NULL, &e);
        EVP_PKEY_free(pk);
        if (rc == GUN_ENOMEM)
            goto out;
    }
    if (rc) {
        rc = set(res, GUN__FW_UNVERIFIED, "Unverified data.");
        goto out;
    }
    if (!(has_cert && star_set)) {
        rc = set(res, GUN__FW_PASS, NULL);
        goto out;
    }
    gun__sea_cert_result cr;
    rc = gun__sea_cert_check(plus, pub, pub_len, star->u.s.p, star->u.s.len, soul.p, soul.len,
                             key.p, key.len, state, fw->flags, &cr);
    if (rc)
        goto out;
    switch (cr.verdict) {
    case GUN__CERT_OK:
        set(res, GUN__FW_PASS, NULL);
        break;
    case GUN__CERT_BLOCK:
        if (blocked(&cr, star->u.s.p, star->u.s.len, lookup, arg)) {
            snprintf(res->text, sizeof res->text, "Certificant %.*s blocked.",
                     (int)(star->u.s.len < 200 ? star->u.s.len : 200), star->u.s.p);
            set(res, GUN__FW_CERT, res->text);
        } else {
            set(res, GUN__FW_PASS, NULL);
        }
        break;
    case GUN__CERT_DROP:
        set(res, GUN__FW_CERT_DROP, NULL);
        break;
    default:
        snprintf(res->text, sizeof res->text, "%s", cr.why ? cr.why : "Certificate verification fail.");
        set(res, GUN__FW_CERT, res->text);
        break;
    }
    gun__sea_cert_result_free(&cr);
out:
    gun__json_free(tmp);
    return rc;
}

int gun__fw_check_key(gun__fw *fw, gun__str soul, gun__str key, const gun__json *val,
                      double state, double now_ms, gun__fw_lookup lookup, void *arg,
                      gun__fw_result *res)
{
    memset(res, 0, sizeof *res);
    if (!soul.len || !key.len)
        return set(res, GUN__FW_PASS, NULL);
    /* 'a~pub.key/b<?9': parseFloat(soul.split('<?')[1] || '') */
    for (size_t i = 0; i + 2 <= soul.len; i++) {
        if (soul.p[i] != '<' || soul.p[i + 1] != '?')
            continue;
        const char *t = soul.p + i + 2, *end = soul.p + soul.len;
        for (const char *q = t; q + 2 <= end; q++)
            if (q[0] == '<' && q[1] == '?') {
                end = q;
                break;
            }
        gun__json s = {.t = GUN__J_STR};
        s.u.s.p = (char *)t;
        s.u.s.len = (size_t)(end - t);
        double n = gun__sea_parse_float(&s);
        if (n != 0 && !isnan(n) && state < now_ms - n * 1000)
            return set(res, GUN__FW_OMIT, NULL);
        break;
    }
    if (soul.len == 2 && soul.p[0] == '~' && soul.p[1] == '@') {
        if (!gun__sea_truthy(val))
            return set(res, GUN__FW_ALIAS, "Data must exist!");
        const gun__json *l = link_of(val);
        if (l && l->u.s.len == key.len + 2 && memcmp(l->u.s.p, "~@", 2) == 0 &&
            memcmp(l->u.s.p + 2, key.p, key.len) == 0)
            return set(res, GUN__FW_PASS, NULL);
        return set(res, GUN__FW_ALIAS, "Alias not same!");
    }
    if (soul.len >= 2 && soul.p[0] == '~' && soul.p[1] == '@') {
        if (!gun__sea_truthy(val))
            return set(res, GUN__FW_ALIAS, "Alias must exist!");
        const gun__json *l = link_of(val);
        if (l && l->u.s.len == key.len && memcmp(l->u.s.p, key.p, key.len) == 0)
            return set(res, GUN__FW_PASS, NULL);
        return set(res, GUN__FW_ALIAS, "Alias not same!");
    }
    gun__buf pub;
    gun__buf_init(&pub);
    if (gun__sea_soul_pub(soul.p, soul.len, &pub)) {
        int rc = pub.oom ? GUN_ENOMEM
                         : check_pub(fw, soul, key, val, state, pub.p, pub.len, lookup, arg, res);
        gun__buf_free(&pub);
        return rc;
    }
    gun__buf_free(&pub);
    if (memchr(soul.p, '#', soul.len)) {
        int ok = hash_ok(key, val);
        if (ok == GUN_ENOMEM)
            return ok;
        return ok == 1 ? set(res, GUN__FW_PASS, NULL)
                       : set(res, GUN__FW_HASH, "Data hash not same as hash!");
    }
    return set(res, GUN__FW_PASS, NULL);
}

int gun__fw_check_put(gun__fw *fw, gun__json *put, double now_ms, gun__fw_lookup lookup,
                      void *arg, gun__fw_result *res, size_t *omitted)
{
    memset(res, 0, sizeof *res);
    if (omitted)
        *omitted = 0;
    if (!put || put->t != GUN__J_OBJ)
        return GUN_OK;
    for (size_t i = 0; i < put->u.o.n; i++) {
        gun__str soul = {put->u.o.m[i].key, put->u.o.m[i].key_len};
        gun__json *node = put->u.o.m[i].val;
        if (!node || node->t != GUN__J_OBJ || !gun__fw_applies(soul))
            continue;
        const gun__json *st = gun__json_obj_getc(gun__json_obj_getc(node, "_"), ">");
        for (size_t k = 0; k < node->u.o.n;) {
            gun__str key = {node->u.o.m[k].key, node->u.o.m[k].key_len};
            if (!key.len || (key.len == 1 && key.p[0] == '_')) {
                k++;
                continue;
            }
            const gun__json *sj = gun__json_obj_get(st, key.p, key.len);
            double state = sj && sj->t == GUN__J_NUM ? sj->u.n : NAN;
            int rc = gun__fw_check_key(fw, soul, key, node->u.o.m[k].val, state, now_ms, lookup,
                                       arg, res);
            if (rc)
                return rc;
            if (res->kind == GUN__FW_OMIT) {
                gun__json_obj_del(node, key.p, key.len);
                if (omitted)
                    ++*omitted;
                continue;
            }
            if (res->kind != GUN__FW_PASS)
                return GUN_OK;
            k++;
        }
    }
    res->kind = GUN__FW_PASS;
    res->why = NULL;
    return GUN_OK;
}

/* ---- the store-backed lookup ---- */

static int lookup_visit(void *arg, gun__str soul, gun__str key, const gun__val *val,
                        double state)
{
    (void)soul, (void)key, (void)state;
    gun__json **out = arg;
    gun__json_free(*out);
    *out = gun__val_to_json(val);
    return 1;
}

int gun__fw_store_lookup(void *arg, gun__str soul, gun__str key, gun__json **out)
{
    gun__store *s = arg;
    *out = NULL;
    int rc = s->ops->get_key(s->st, soul, key, lookup_visit, out);
    return rc == GUN_ENOTFOUND ? GUN_OK : rc;
}

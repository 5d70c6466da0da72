/* SEA.sign / SEA.verify, signed graph values (spec 5.10) and SEA.opt.pub.
 *
 * What gets signed (sea.js sign.js + sha256.js): h = SHA-256(TextEncoder(text)), text being
 * m itself when m is a string, else the JSON of m (a node relay's YSON sorts keys at every
 * level). WebCrypto's ECDSA with SHA-256 then hashes h again, so the signature is
 * ECDSA-P256 over SHA-256(h), carried as base64 of the raw r||s (64 bytes). */
#include <math.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>

#include "sea.h"

/* SEA parses whatever it is handed, however deep or long; only memory bounds it. */
static const gun__limits parse_lim = {SIZE_MAX, GUN__JSON_DEPTH_CEIL};

int gun__sea_parse(const char *p, size_t len, gun__json **out, gun__err *e)
{
    if (len >= 4 && memcmp(p, "SEA{", 4) == 0)
        p += 3, len -= 3;
    int rc = gun__json_parse(p, len, &parse_lim, out, NULL);
    if (rc == GUN_OK)
        return GUN_OK;
    if (rc == GUN_ENOMEM)
        return gun__fail(e, rc, "sea: out of memory parsing");
    /* Not JSON (or deeper than we parse): JSON.parse threw, the text stays a string. */
    *out = gun__json_str(p, len);
    return *out ? GUN_OK : gun__fail(e, GUN_ENOMEM, "sea: out of memory");
}

void gun__sea_text(gun__buf *b, const gun__json *m, unsigned flags)
{
    if (m->t == GUN__J_STR)
        gun__sea_utf8(b, m->u.s.p, m->u.s.len);
    else /* the writer's output is already well-formed UTF-8 */
        gun__json_write(b, m, (flags & GUN_SEA_BROWSER) ? GUN__JSON_JS : GUN__JSON_SORTED);
}

static int text_hash(const gun__json *m, unsigned flags, unsigned char h[32], gun__err *e)
{
    gun__buf b;
    gun__buf_init(&b);
    gun__sea_text(&b, m, flags);
    int rc = b.oom ? gun__fail(e, GUN_ENOMEM, "sea: out of memory") : gun__sea_sha256(b.p, b.len, h);
    gun__buf_free(&b);
    return rc;
}

/* ---- ECDSA on a 32-byte digest, raw r||s ---- */

static int ecdsa_sign(EVP_PKEY *pk, const unsigned char h[32], unsigned char rs[64], gun__err *e)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char der[80];
    size_t dlen = sizeof der;
    ECDSA_SIG *sig = NULL;
    int rc = GUN_OK;
    const unsigned char *q = der;
    if (!md || EVP_DigestSignInit_ex(md, NULL, "SHA256", NULL, NULL, pk, NULL) != 1 ||
        EVP_DigestSign(md, der, &dlen, h, 32) != 1 || !(sig = d2i_ECDSA_SIG(NULL, &q, (long)dlen)) ||
        BN_bn2binpad(ECDSA_SIG_get0_r(sig), rs, 32) != 32 ||
        BN_bn2binpad(ECDSA_SIG_get0_s(sig), rs + 32, 32) != 32)
        rc = gun__fail(e, GUN_ECRYPTO, "sea: ECDSA signing failed");
    ECDSA_SIG_free(sig);
    EVP_MD_CTX_free(md);
    ERR_clear_error();
    return rc;
}

/* 1 when rs signs h for pk; 0 otherwise (including r or s out of range); -1 out of memory;
 * -2 when OpenSSL refuses the key for verifying. */
static int ecdsa_verify(EVP_PKEY *pk, const unsigned char h[32], const unsigned char rs[64])
{
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(rs, 32, NULL), *s = BN_bin2bn(rs + 32, 32, NULL);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char *der = NULL;
    int ok = -1;
    if (sig && r && s && md && ECDSA_SIG_set0(sig, r, s)) {
        r = s = NULL; /* owned by sig now */
        int dlen = i2d_ECDSA_SIG(sig, &der);
        if (dlen > 0)
            ok = EVP_DigestVerifyInit_ex(md, NULL, "SHA256", NULL, NULL, pk, NULL) == 1
                     ? EVP_DigestVerify(md, der, (size_t)dlen, h, 32) == 1
                     : -2;
    }
    OPENSSL_free(der);
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    EVP_MD_CTX_free(md);
    ERR_clear_error();
    return ok;
}

int gun__sea_sign_m(const gun__json *m, const char *priv, size_t priv_len, unsigned flags,
                    char sig[GUN__SEA_SIG_B64 + 1], gun__err *e)
{
    unsigned char h[32], rs[64];
    EVP_PKEY *pk = NULL;
    int rc = text_hash(m, flags, h, e);
    if (!rc)
        rc = gun__sea_priv_load(priv, priv_len, &pk, NULL, e);
    if (!rc)
        rc = ecdsa_sign(pk, h, rs, e);
    if (!rc)
        sig[gun__sea_b64_to(sig, rs, sizeof rs, 0)] = 0;
    EVP_PKEY_free(pk);
    return rc;
}

/* The signature bytes as sea.js's main path reads them: atob(s), which must give 64. */
static int sig_b64(const gun__json *s, unsigned char rs[64])
{
    size_t n;
    if (!s || s->t != GUN__J_STR)
        return 0; /* Gun.js also takes arrays of byte values here; nothing writes them */
    return gun__sea_atob(s->u.s.p, s->u.s.len, rs, 64, &n) == 0 && n == 64;
}

/* sea.js's fall_verify: the hash of String(parse(m)) (old, buggy code kept for old data),
 * with the signature as base64 or else as a string of 64 chars taken as bytes. */
static int legacy(EVP_PKEY *pk, const gun__json *m, const gun__json *s, gun__err *e)
{
    gun__json *pm = NULL;
    gun__buf t, u;
    unsigned char h[32], rs[64];
    int rc = GUN_OK, ok = 0;
    gun__buf_init(&t);
    gun__buf_init(&u);
    if (m->t == GUN__J_STR)
        rc = gun__sea_parse(m->u.s.p, m->u.s.len, &pm, e);
    if (rc)
        return rc;
    gun__sea_js_string(&t, pm ? pm : m);
    gun__sea_utf8(&u, t.p ? t.p : "", t.len);
    if (t.oom || u.oom) {
        rc = gun__fail(e, GUN_ENOMEM, "sea: out of memory");
        goto done;
    }
    gun__sea_sha256(u.p, u.len, h);
    if (sig_b64(s, rs))
        ok = ecdsa_verify(pk, h, rs);
    if (ok == 0 && s && s->t == GUN__J_STR && gun__utf16_len(s->u.s.p, s->u.s.len) == 64) {
        /* Buffer.from(s, 'utf8') in SEA's shim: one element per UTF-16 unit, then
         * Uint8Array keeps the low byte of each. */
        size_t i = 0, k = 0;
        while (i < s->u.s.len && k < 64) {
            uint32_t cp;
            size_t n = gun__wtf8_decode(s->u.s.p + i, s->u.s.len - i, &cp);
            if (!n)
                cp = 0xFFFD, n = 1;
            i += n;
            if (cp >= 0x10000) {
                cp -= 0x10000;
                rs[k++] = (unsigned char)(0xD800 + (cp >> 10));
                if (k < 64)
                    rs[k++] = (unsigned char)(0xDC00 + (cp & 0x3FF));
            } else {
                rs[k++] = (unsigned char)cp;
            }
        }
        ok = ecdsa_verify(pk, h, rs);
    }
    if (ok == -2)
        rc = gun__fail(e, GUN_ECRYPTO, "sea: OpenSSL cannot verify with this key");
    else if (ok < 0)
        rc = gun__fail(e, GUN_ENOMEM, "sea: out of memory verifying");
    else if (!ok)
        rc = gun__fail(e, GUN_EVERIFY, "sea: signature does not verify (legacy forms too)");
done:
    gun__json_free(pm);
    gun__buf_free(&t);
    gun__buf_free(&u);
    return rc;
}

int gun__sea_verify_m_pk(const gun__json *m, const gun__json *s, EVP_PKEY *pk, unsigned flags,
                         gun__err *e)
{
    if (!m)
        return gun__fail(e, GUN_EVERIFY, "sea: nothing signed (no m)");
    unsigned char rs[64], h[32];
    int ok = 0, rc = GUN_OK;
    if (sig_b64(s, rs)) {
        rc = text_hash(m, flags & ~GUN_SEA_BROWSER, h, e);
        if (!rc)
            ok = ecdsa_verify(pk, h, rs);
        if (!rc && ok == 0 && (flags & GUN_SEA_BROWSER) && m->t != GUN__J_STR) {
            /* A browser hashes JSON.stringify's order; only objects can differ. */
            unsigned char h2[32];
            rc = text_hash(m, GUN_SEA_BROWSER, h2, e);
            if (!rc && memcmp(h, h2, 32) != 0)
                ok = ecdsa_verify(pk, h2, rs);
        }
    }
    if (!rc && ok == -2)
        rc = gun__fail(e, GUN_ECRYPTO, "sea: OpenSSL cannot verify with this key");
    if (!rc && ok < 0)
        rc = gun__fail(e, GUN_ENOMEM, "sea: out of memory verifying");
    if (!rc && !ok) {
        if (flags & GUN_SEA_LEGACY)
            rc = legacy(pk, m, s, e);
        else if (!s || s->t != GUN__J_STR)
            rc = gun__fail(e, GUN_EVERIFY, "sea: signature is not a string");
        else if (!sig_b64(s, rs))
            rc = gun__fail(e, GUN_EVERIFY, "sea: signature is not base64 of 64 bytes");
        else
            rc = gun__fail(e, GUN_EVERIFY, "sea: signature does not verify");
    }
    return rc;
}

int gun__sea_verify_m(const gun__json *m, const gun__json *s, const char *pub, size_t pub_len,
                      unsigned flags, gun__err *e)
{
    if (!m)
        return gun__fail(e, GUN_EVERIFY, "sea: nothing signed (no m)");
    EVP_PKEY *pk = NULL;
    int rc = gun__sea_pub_load(pub, pub_len, &pk, e);
    if (!rc)
        rc = gun__sea_verify_m_pk(m, s, pk, flags, e);
    EVP_PKEY_free(pk);
    return rc;
}

int gun__sea_verify_value(const gun__json *data, const char *pub, size_t pub_len, unsigned flags,
                          gun__json **out, gun__err *e)
{
    gun__json *parsed = NULL;
    int rc = GUN_OK;
    *out = NULL;
    if (data->t == GUN__J_STR) {
        rc = gun__sea_parse(data->u.s.p, data->u.s.len, &parsed, e);
        if (rc)
            return rc;
        data = parsed;
    }
    const gun__json *m = gun__json_obj_getc(data, "m"); /* NULL unless an object */
    rc = gun__sea_verify_m(m, gun__json_obj_getc(data, "s"), pub, pub_len, flags, e);
    if (!rc) {
        /* SEA.verify returns parse(m). */
        if (m->t == GUN__J_STR)
            rc = gun__sea_parse(m->u.s.p, m->u.s.len, out, e);
        else if (!(*out = gun__json_clone(m)))
            rc = gun__fail(e, GUN_ENOMEM, "sea: out of memory");
    }
    gun__json_free(parsed);
    return rc;
}

/* Appends "SEA" + JSON(v) (or only the JSON with GUN_SEA_RAW). */
static void envelope(gun__buf *out, const gun__json *v, unsigned flags)
{
    if (!(flags & GUN_SEA_RAW))
        gun__buf_add(out, "SEA", 3);
    gun__json_write(out, v, (flags & GUN_SEA_BROWSER) ? GUN__JSON_JS : GUN__JSON_SORTED);
}

int gun__sea_sign(const char *data, size_t len, const gun_sea_pair *pair, unsigned flags,
                  gun__buf *out, gun__err *e)
{
    gun__json *json = NULL, *r = NULL, *got = NULL;
    int rc = gun__sea_parse(data, len, &json, e);
    if (rc)
        return rc;
    /* Already signed by this pair? sea.js hands it back (re-serialized) instead. */
    int looks_signed =
        (json->t == GUN__J_STR && json->u.s.len >= 4 && memcmp(json->u.s.p, "SEA{", 4) == 0) ||
        (gun__sea_truthy(gun__json_obj_getc(json, "s")) &&
         gun__sea_truthy(gun__json_obj_getc(json, "m")));
    if (looks_signed &&
        gun__sea_verify_value(json, pair->pub, strnlen(pair->pub, sizeof pair->pub), flags, &got,
                              NULL) == GUN_OK) {
        gun__json_free(got);
        if (json->t == GUN__J_STR) {
            gun__json *again = NULL;
            rc = gun__sea_parse(json->u.s.p, json->u.s.len, &again, e);
            gun__json_free(json);
            json = again;
        }
        if (!rc)
            envelope(out, json, flags);
        goto done;
    }
    char sig[GUN__SEA_SIG_B64 + 1];
    rc = gun__sea_sign_m(json, pair->priv, strnlen(pair->priv, sizeof pair->priv), flags, sig, e);
    if (rc)
        goto done;
    r = gun__json_obj();
    if (!r) {
        rc = gun__fail(e, GUN_ENOMEM, "sea: out of memory");
        goto done;
    }
    rc = gun__json_obj_set(r, "m", 1, json); /* takes json, even on failure */
    json = NULL;
    if (rc) {
        rc = gun__fail(e, GUN_ENOMEM, "sea: out of memory");
        goto done;
    }
    if (gun__json_obj_set(r, "s", 1, gun__json_str(sig, strlen(sig)))) {
        rc = gun__fail(e, GUN_ENOMEM, "sea: out of memory");
        goto done;
    }
    envelope(out, r, flags);
done:
    if (!rc && out->oom)
        rc = gun__fail(e, GUN_ENOMEM, "sea: out of memory");
    gun__json_free(json);
    gun__json_free(r);
    return rc;
}

/* ---- signed graph values ---- */

/* m = {"#":soul,".":key,":":val,">":state}, the object SEA.opt.pack builds (val copied). */
static gun__json *put_m(const char *soul, size_t soul_len, const char *key, size_t key_len,
                        const gun__json *val, double state)
{
    gun__json *m = gun__json_obj();
    if (m && (gun__json_obj_set(m, "#", 1, gun__json_str(soul, soul_len)) ||
              gun__json_obj_set(m, ".", 1, gun__json_str(key, key_len)) ||
              gun__json_obj_set(m, ":", 1, gun__json_clone(val)) ||
              gun__json_obj_set(m, ">", 1, gun__json_num(state)))) {
        gun__json_free(m);
        return NULL;
    }
    return m;
}

int gun__sea_sign_put(const char *soul, size_t soul_len, const char *key, size_t key_len,
                      const gun__json *val, double state, const gun_sea_pair *pair,
                      const gun__json *cert, gun__buf *out, gun__err *e)
{
    if (!isfinite(state))
        return gun__fail(e, GUN_EINVAL, "sea: state is not a finite number");
    gun__json *m = put_m(soul, soul_len, key, key_len, val, state);
    if (!m)
        return gun__fail(e, GUN_ENOMEM, "sea: out of memory");
    char sig[GUN__SEA_SIG_B64 + 1];
    int rc = gun__sea_sign_m(m, pair->priv, strnlen(pair->priv, sizeof pair->priv), 0, sig, e);
    gun__json_free(m);
    if (rc)
        return rc;
    /* {":":val,"~":sig}, with a certificate {"*":writer,"+":cert,":":val,"~":sig}: the
     * keys as YSON sorts them ('*' < '+' < ':' < '~'). */
    gun__buf_addc(out, '{');
    if (cert) {
        gun__buf_adds(out, "\"*\":");
        gun__json_write_str(out, pair->pub, strnlen(pair->pub, sizeof pair->pub));
        gun__buf_adds(out, ",\"+\":");
        gun__json_write(out, cert, GUN__JSON_SORTED);
        gun__buf_addc(out, ',');
    }
    gun__buf_adds(out, "\":\":");
    gun__json_write(out, val, GUN__JSON_SORTED);
    gun__buf_adds(out, ",\"~\":");
    gun__json_write_str(out, sig, strlen(sig));
    gun__buf_addc(out, '}');
    return out->oom ? gun__fail(e, GUN_ENOMEM, "sea: out of memory") : GUN_OK;
}

int gun__sea_verify_put_pk(const char *soul, size_t soul_len, const char *key, size_t key_len,
                           const gun__json *wire, double state, EVP_PKEY *pk, unsigned flags,
                           gun__json **val_out, gun__err *e)
{
    if (val_out)
        *val_out = NULL;
    /* SEA.opt.pack packs only when soul, key and state are truthy and the value parses to
     * something with ':' and a truthy '~'; anything else reaches SEA.verify unpacked and
     * fails there. */
    const gun__json *v = gun__json_obj_getc(wire, ":"), *s = gun__json_obj_getc(wire, "~");
    if (!soul_len || !key_len || !(state != 0 && !isnan(state)))
        return gun__fail(e, GUN_EVERIFY, "sea: empty soul or key, or state 0/NaN");
    if (!v || !gun__sea_truthy(s))
        return gun__fail(e, GUN_EVERIFY, "sea: value is not a signed value");
    gun__json *m = put_m(soul, soul_len, key, key_len, v, state);
    if (!m)
        return gun__fail(e, GUN_ENOMEM, "sea: out of memory");
    int rc = gun__sea_verify_m_pk(m, s, pk, flags, e);
    gun__json_free(m);
    if (!rc && val_out && !(*val_out = gun__json_clone(v)))
        rc = gun__fail(e, GUN_ENOMEM, "sea: out of memory");
    return rc;
}

int gun__sea_verify_put(const char *soul, size_t soul_len, const char *key, size_t key_len,
                        const gun__json *wire, double state, const char *pub, size_t pub_len,
                        unsigned flags, gun__json **val_out, gun__err *e)
{
    if (val_out)
        *val_out = NULL;
    EVP_PKEY *pk = NULL;
    int rc = gun__sea_pub_load(pub, pub_len, &pk, e);
    if (!rc)
        rc = gun__sea_verify_put_pk(soul, soul_len, key, key_len, wire, state, pk, flags, val_out,
                                    e);
    EVP_PKEY_free(pk);
    return rc;
}

/* ---- SEA.opt.pub ---- */

static int pub_char(uint32_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
}

int gun__sea_soul_pub(const char *soul, size_t len, gun__buf *out)
{
    /* s = soul.split('~')[1] */
    const char *t = memchr(soul, '~', len);
    if (!t)
        return 0;
    t++;
    const char *end = soul + len, *t2 = memchr(t, '~', (size_t)(end - t));
    if (t2)
        end = t2;
    if (t == end)
        return 0;
    /* s.split(/[^\w_-]/).slice(0, 2), over UTF-16 units: an astral character is two
     * separators, so the part after it starts empty. */
    const char *p = t, *part0_end = NULL, *part1 = NULL, *part1_end = NULL;
    while (p < end) {
        uint32_t cp;
        size_t n = gun__wtf8_decode(p, (size_t)(end - p), &cp);
        if (!n)
            cp = 0xFFFD, n = 1;
        if (!pub_char(cp)) {
            if (!part0_end) {
                part0_end = p;
                part1 = p + n;
                if (cp >= 0x10000) { /* the second unit ends part 1 at once */
                    part1_end = part1 = p;
                    break;
                }
            } else {
                part1_end = p;
                break;
            }
        }
        p += n;
    }
    if (!part0_end)
        return 0;
    if (!part1_end)
        part1_end = end;
    if (part1_end < part1)
        part1_end = part1;
    /* sea.js then refuses a first part starting with '@'; '@' is itself a separator, so
     * that test never fires (and "~@x" gives ".x"): kept as sea.js has it. */
    gun__buf_add(out, t, (size_t)(part0_end - t));
    gun__buf_addc(out, '.');
    gun__buf_add(out, part1, (size_t)(part1_end - part1));
    return 1;
}

/* ---- public API ---- */

int gun_sea_sign(const char *data, const gun_sea_pair *pair, unsigned flags, char **out)
{
    if (out)
        *out = NULL;
    if (!data || !pair || !out)
        return GUN_EINVAL;
    gun__buf b;
    gun__buf_init(&b);
    return gun__sea_give(&b, gun__sea_sign(data, strlen(data), pair, flags, &b, NULL), out);
}

/* JSON of a value for the caller, as JSON.stringify would print what Gun.js returns. */
static int json_out(gun__json *v, int rc, char **out)
{
    gun__buf b;
    gun__buf_init(&b);
    if (!rc)
        gun__json_write(&b, v, GUN__JSON_JS);
    gun__json_free(v);
    return gun__sea_give(&b, rc, out);
}

int gun_sea_verify(const char *data, const char *pub, unsigned flags, char **json_out_)
{
    if (json_out_)
        *json_out_ = NULL;
    if (!data || !pub || !json_out_)
        return GUN_EINVAL;
    gun__json *d = gun__json_str(data, strlen(data)), *v = NULL;
    if (!d)
        return GUN_ENOMEM;
    int rc = gun__sea_verify_value(d, pub, strlen(pub), flags, &v, NULL);
    gun__json_free(d);
    return json_out(v, rc, json_out_);
}

int gun_sea_sign_put(const char *soul, const char *key, const char *value_json, double state,
                     const gun_sea_pair *pair, const char *cert, char **out)
{
    if (out)
        *out = NULL;
    if (!soul || !key || !value_json || !pair || !out)
        return GUN_EINVAL;
    gun__json *v = NULL, *c = NULL;
    int rc = gun__json_parse(value_json, strlen(value_json), &parse_lim, &v, NULL);
    if (!rc && cert) {
        rc = gun__sea_parse(cert, strlen(cert), &c, NULL);
        if (!rc && !(gun__sea_truthy(gun__json_obj_getc(c, "m")) &&
                     gun__sea_truthy(gun__json_obj_getc(c, "s"))))
            rc = GUN_EINVAL;
    }
    gun__buf b;
    gun__buf_init(&b);
    if (!rc)
        rc = gun__sea_sign_put(soul, strlen(soul), key, strlen(key), v, state, pair, c, &b, NULL);
    gun__json_free(v);
    gun__json_free(c);
    return gun__sea_give(&b, rc, out);
}

int gun_sea_verify_put(const char *soul, const char *key, const char *signed_value, double state,
                       const char *pub, unsigned flags, char **value_json_out)
{
    if (value_json_out)
        *value_json_out = NULL;
    if (!soul || !key || !signed_value || !pub || !value_json_out)
        return GUN_EINVAL;
    gun__json *w = NULL, *v = NULL;
    int rc = gun__json_parse(signed_value, strlen(signed_value), &parse_lim, &w, NULL);
    if (rc == GUN_EJSON)
        rc = GUN_EVERIFY; /* not a signed value at all */
    if (!rc)
        rc = gun__sea_verify_put(soul, strlen(soul), key, strlen(key), w, state, pub,
                                 strlen(pub), flags, &v, NULL);
    gun__json_free(w);
    return json_out(v, rc, value_json_out);
}

int gun_sea_soul_pub(const char *soul, char **pub_out)
{
    if (pub_out)
        *pub_out = NULL;
    if (!soul || !pub_out)
        return GUN_EINVAL;
    gun__buf b;
    gun__buf_init(&b);
    int found = gun__sea_soul_pub(soul, strlen(soul), &b);
    if (!found) {
        gun__buf_free(&b);
        return GUN_ENOTFOUND;
    }
    return gun__sea_give(&b, GUN_OK, pub_out);
}

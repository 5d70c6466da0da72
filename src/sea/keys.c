/* P-256 keys in SEA's string forms: pub = base64url(x) "." base64url(y), priv = base64url(d)
 * (the JWK x, y, d fields WebCrypto exports), for both the ECDSA pair and the ECDH pair. */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/params.h>

#include "sea.h"

/* The order n of P-256, big-endian: a private scalar must be in [1, n-1]. */
static const unsigned char p256_n[32] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51};

static int crypto_fail(gun__err *e, const char *what)
{
    unsigned long ec = ERR_get_error();
    int oom = ERR_GET_REASON(ec) == ERR_R_MALLOC_FAILURE;
    ERR_clear_error();
    if (oom)
        return gun__fail(e, GUN_ENOMEM, "sea: out of memory in %s", what);
    return gun__fail(e, GUN_ECRYPTO, "sea: OpenSSL failed in %s", what);
}

void gun__sea_pub_str(const unsigned char xy[64], char out[88])
{
    size_t n = gun__sea_b64_to(out, xy, 32, 1);
    out[n++] = '.';
    n += gun__sea_b64_to(out + n, xy + 32, 32, 1);
    out[n] = 0;
}

static int fromdata(EVP_PKEY **out, int selection, OSSL_PARAM *params, gun__err *e)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    int rc = GUN_OK;
    *out = NULL;
    if (!ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, out, selection, params) <= 0) {
        /* With a well-formed point this fails only for points off the curve. */
        EVP_PKEY_free(*out);
        *out = NULL;
        ERR_clear_error();
        rc = ctx ? gun__fail(e, GUN_EKEY, "sea: public key is not a P-256 point")
                 : crypto_fail(e, "EVP_PKEY_CTX_new");
    }
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

int gun__sea_pub_load(const char *pub, size_t len, EVP_PKEY **out, gun__err *e)
{
    *out = NULL;
    const char *dot = memchr(pub, '.', len);
    if (!dot)
        return gun__fail(e, GUN_EKEY, "sea: public key has no '.'");
    const char *y = dot + 1, *end = pub + len;
    const char *dot2 = memchr(y, '.', (size_t)(end - y));
    unsigned char oct[65];
    oct[0] = 4; /* uncompressed point */
    if (gun__sea_jwk32(pub, (size_t)(dot - pub), oct + 1) ||
        gun__sea_jwk32(y, (size_t)((dot2 ? dot2 : end) - y), oct + 33))
        return gun__fail(e, GUN_EKEY, "sea: public key coordinates are not 43 base64url chars");
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, oct, sizeof oct),
        OSSL_PARAM_construct_end()};
    int rc = fromdata(out, EVP_PKEY_PUBLIC_KEY, params, e);
    if (rc)
        return rc;
    EVP_PKEY_CTX *chk = EVP_PKEY_CTX_new_from_pkey(NULL, *out, NULL);
    if (!chk)
        rc = crypto_fail(e, "EVP_PKEY_CTX_new_from_pkey");
    else if (EVP_PKEY_public_check_quick(chk) != 1)
        rc = gun__fail(e, GUN_EKEY, "sea: public key is not a valid P-256 point");
    EVP_PKEY_CTX_free(chk);
    ERR_clear_error();
    if (rc) {
        EVP_PKEY_free(*out);
        *out = NULL;
    }
    return rc;
}

/* Scalar d (big-endian) in [1, n-1]; branch-free over the bytes of d. */
static int scalar_ok(const unsigned char d[32])
{
    unsigned lt = 0, gt = 0, nz = 0;
    for (int i = 0; i < 32; i++) {
        unsigned a = d[i], b = p256_n[i];
        unsigned undecided = ~(lt | gt) & 1;
        lt |= undecided & ((a - b) >> 8 & 1);
        gt |= undecided & ((b - a) >> 8 & 1);
        nz |= a;
    }
    return lt && nz;
}

int gun__sea_priv_load(const char *priv, size_t len, EVP_PKEY **out, unsigned char xy[64],
                       gun__err *e)
{
    unsigned char d[32], oct[65];
    int rc = GUN_OK;
    BIGNUM *bn = NULL;
    EC_GROUP *g = NULL;
    EC_POINT *pt = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    *out = NULL;
    if (gun__sea_jwk32(priv, len, d)) {
        rc = gun__fail(e, GUN_EKEY, "sea: private key is not 43 base64url chars");
        goto done;
    }
    if (!scalar_ok(d)) {
        rc = gun__fail(e, GUN_EKEY, "sea: private key is 0 or not below the curve order");
        goto done;
    }
    bn = BN_secure_new();
    g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    pt = g ? EC_POINT_new(g) : NULL;
    if (!bn || !pt || !BN_bin2bn(d, 32, bn) || !EC_POINT_mul(g, pt, bn, NULL, NULL, NULL) ||
        EC_POINT_point2oct(g, pt, POINT_CONVERSION_UNCOMPRESSED, oct, sizeof oct, NULL) !=
            sizeof oct) {
        rc = crypto_fail(e, "deriving the public point");
        goto done;
    }
    bld = OSSL_PARAM_BLD_new();
    if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, oct, sizeof oct) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, bn) ||
        !(params = OSSL_PARAM_BLD_to_param(bld))) {
        rc = crypto_fail(e, "OSSL_PARAM_BLD");
        goto done;
    }
    rc = fromdata(out, EVP_PKEY_KEYPAIR, params, e);
    if (rc == GUN_EKEY) /* our own point: a failure here is OpenSSL's, not the input's */
        rc = gun__fail(e, GUN_ECRYPTO, "sea: OpenSSL refused a private key");
    if (!rc && xy)
        memcpy(xy, oct + 1, 64);
done:
    OPENSSL_cleanse(d, sizeof d);
    BN_clear_free(bn);
    EC_POINT_free(pt);
    EC_GROUP_free(g);
    if (params) { /* OSSL_PARAM_clear_free is 3.2+: wipe the scalar's copy by hand */
        OSSL_PARAM *pp = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_PRIV_KEY);
        if (pp && pp->data)
            OPENSSL_cleanse(pp->data, pp->data_size);
        OSSL_PARAM_free(params);
    }
    OSSL_PARAM_BLD_free(bld);
    ERR_clear_error();
    return rc;
}

/* One fresh P-256 key as (pub string, priv string). */
static int keygen(char pub[88], char priv[44], gun__err *e)
{
    EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    BIGNUM *d = NULL;
    unsigned char oct[65], db[32];
    size_t olen = 0;
    int rc = GUN_OK;
    if (!pk || !EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_PUB_KEY, oct, sizeof oct,
                                                &olen) ||
        olen != sizeof oct || oct[0] != 4 ||
        !EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_PRIV_KEY, &d) ||
        BN_bn2binpad(d, db, sizeof db) != sizeof db) {
        rc = crypto_fail(e, "key generation");
    } else {
        gun__sea_pub_str(oct + 1, pub);
        priv[gun__sea_b64_to(priv, db, sizeof db, 1)] = 0;
    }
    OPENSSL_cleanse(db, sizeof db);
    BN_clear_free(d);
    EVP_PKEY_free(pk);
    ERR_clear_error();
    return rc;
}

int gun_sea_pair_generate(gun_sea_pair *out)
{
    if (!out)
        return GUN_EINVAL;
    int rc = keygen(out->pub, out->priv, NULL);
    if (!rc)
        rc = keygen(out->epub, out->epriv, NULL);
    if (rc)
        gun_sea_pair_wipe(out);
    return rc;
}

void gun_sea_pair_wipe(gun_sea_pair *pair)
{
    if (pair)
        OPENSSL_cleanse(pair, sizeof *pair);
}

void gun_sea_free(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        gun__free(s);
    }
}

/* Copies field `name` of obj (a string of exactly want chars) into dst. */
static int take(const gun__json *obj, const char *name, char *dst, size_t want)
{
    const gun__json *v = gun__json_obj_getc(obj, name);
    if (!v || v->t != GUN__J_STR || v->u.s.len != want)
        return GUN_EKEY;
    memcpy(dst, v->u.s.p, want);
    dst[want] = 0;
    return GUN_OK;
}

/* The private key must produce the public key the pair names. */
static int matches(const char *priv, const char *pub)
{
    EVP_PKEY *pk = NULL;
    unsigned char xy[64];
    char derived[88];
    if (gun__sea_priv_load(priv, GUN__SEA_PRIV_LEN, &pk, xy, NULL))
        return 0;
    EVP_PKEY_free(pk);
    gun__sea_pub_str(xy, derived);
    return CRYPTO_memcmp(derived, pub, GUN__SEA_PUB_LEN) == 0;
}

int gun_sea_pair_from_json(const char *json, gun_sea_pair *out)
{
    if (!json || !out)
        return GUN_EINVAL;
    gun__json *j = NULL;
    gun__limits lim = {0, 0};
    int rc = gun__json_parse(json, strlen(json), &lim, &j, NULL);
    if (rc)
        return rc;
    if (j->t != GUN__J_OBJ)
        rc = GUN_EJSON;
    else if (take(j, "pub", out->pub, GUN__SEA_PUB_LEN) ||
             take(j, "priv", out->priv, GUN__SEA_PRIV_LEN) ||
             take(j, "epub", out->epub, GUN__SEA_PUB_LEN) ||
             take(j, "epriv", out->epriv, GUN__SEA_PRIV_LEN) || !matches(out->priv, out->pub) ||
             !matches(out->epriv, out->epub))
        rc = GUN_EKEY;
    gun__sea_json_wipe(j); /* the parsed tree held the private keys too */
    if (rc)
        gun_sea_pair_wipe(out);
    return rc;
}

int gun_sea_pair_to_json(const gun_sea_pair *pair, char **json_out)
{
    if (json_out)
        *json_out = NULL;
    if (!pair || !json_out)
        return GUN_EINVAL;
    gun__buf b;
    gun__buf_init(&b);
    /* Exactly the size needed, so the text holding private keys is never reallocated. */
    gun__buf_reserve(&b, 2 * GUN__SEA_PUB_LEN + 2 * GUN__SEA_PRIV_LEN + 48);
    const char *parts[] = {"{\"pub\":\"", pair->pub, "\",\"priv\":\"", pair->priv,
                           "\",\"epub\":\"", pair->epub, "\",\"epriv\":\"", pair->epriv, "\"}"};
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
        gun__buf_add(&b, parts[i], strnlen(parts[i], GUN__SEA_PUB_LEN));
    if (b.oom) {
        gun__sea_buf_wipe(&b);
        return GUN_ENOMEM;
    }
    *json_out = gun__buf_take(&b);
    return GUN_OK;
}

/* SEA.encrypt / SEA.decrypt (AES-256-GCM), SEA.work (PBKDF2 and the SHA name mode) and
 * SEA.secret (ECDH).
 *
 * The AES key (aeskey.js): SHA-256(TextEncoder(passphrase + salt.toString('utf8'))), where
 * SEA's toString('utf8') maps each salt byte to one char U+0000..U+00FF, so salt bytes of
 * 0x80 and above become two bytes of UTF-8 before hashing. The IV is 15 bytes, which GCM
 * turns into its counter block through GHASH; OpenSSL does the same once told the length. */
#include <limits.h>
#include <math.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "sea.h"

#define SALT_LEN 9
#define IV_LEN 15
#define TAG_LEN 16
#define IV_MAX 128 /* OpenSSL 3's GCM refuses longer IVs; WebCrypto would take them */

int gun__sea_sha256(const void *p, size_t n, unsigned char out[32])
{
    unsigned int len = 0;
    if (EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) != 1 || len != 32) {
        ERR_clear_error();
        return GUN_ECRYPTO;
    }
    return GUN_OK;
}

/* SHA-256 of text that may hold secrets; the text buffer is wiped and freed. */
static int hash_wipe(gun__buf *t, unsigned char key[32], gun__err *e)
{
    int rc = t->oom ? gun__fail(e, GUN_ENOMEM, "sea: out of memory")
                    : gun__sea_sha256(t->p ? t->p : "", t->len, key);
    gun__sea_buf_wipe(t);
    return rc;
}

/* aeskey.js with salt bytes (the base64 form). */
static int aes_key(const char *pass, size_t pass_len, const unsigned char *salt, size_t salt_len,
                   unsigned char key[32], gun__err *e)
{
    gun__buf t;
    gun__buf_init(&t);
    /* Reserved up front so the passphrase is never left behind by a realloc. */
    gun__buf_reserve(&t, pass_len * 3 / 2 + 4 + salt_len * 2);
    gun__sea_utf8(&t, pass, pass_len);
    gun__sea_latin1(&t, salt, salt_len);
    return hash_wipe(&t, key, e);
}

/* aeskey.js in sea.js's 'utf8' fallback: the salt is the s text itself. */
static int aes_key_text(const char *pass, size_t pass_len, const char *salt, size_t salt_len,
                        unsigned char key[32], gun__err *e)
{
    gun__buf cat, t;
    gun__buf_init(&cat);
    gun__buf_init(&t);
    gun__buf_reserve(&cat, pass_len + salt_len);
    gun__buf_add(&cat, pass, pass_len);
    gun__buf_add(&cat, salt, salt_len);
    gun__buf_reserve(&t, (pass_len + salt_len) * 3 / 2 + 4);
    if (!cat.oom) /* JS concatenates first: split surrogate halves join */
        gun__sea_utf8(&t, cat.p, cat.len);
    else
        t.oom = 1;
    gun__sea_buf_wipe(&cat);
    return hash_wipe(&t, key, e);
}

/* AES-256-GCM. enc: out = ct || tag (in_len + 16 bytes). dec: in = ct || tag, out gets
 * in_len - 16 bytes; returns GUN_EDECRYPT when the tag does not match. */
static int gcm(int enc, const unsigned char key[32], const unsigned char *iv, size_t iv_len,
               const unsigned char *in, size_t in_len, unsigned char *out, gun__err *e)
{
    if (iv_len == 0 || iv_len > IV_MAX || in_len > INT_MAX - TAG_LEN || (!enc && in_len < TAG_LEN))
        return gun__fail(e, GUN_EDECRYPT, "sea: IV of %zu bytes or ciphertext of %zu", iv_len,
                         in_len);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int rc = GUN_OK, n = 0, fin = 0;
    size_t body = enc ? in_len : in_len - TAG_LEN;
    if (!c || EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, (int)iv_len, NULL) != 1 ||
        EVP_CipherInit_ex(c, NULL, NULL, key, iv, enc) != 1) {
        rc = gun__fail(e, GUN_ECRYPTO, "sea: AES-GCM setup failed");
        goto done;
    }
    if (body && EVP_CipherUpdate(c, out, &n, in, (int)body) != 1) {
        rc = gun__fail(e, GUN_ECRYPTO, "sea: AES-GCM failed");
        goto done;
    }
    if (!enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, (void *)(in + body)) != 1) {
        rc = gun__fail(e, GUN_ECRYPTO, "sea: AES-GCM tag");
        goto done;
    }
    if (EVP_CipherFinal_ex(c, out + n, &fin) != 1) {
        rc = enc ? gun__fail(e, GUN_ECRYPTO, "sea: AES-GCM failed")
                 : gun__fail(e, GUN_EDECRYPT, "sea: wrong key or damaged ciphertext");
        goto done;
    }
    if (enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, out + body) != 1)
        rc = gun__fail(e, GUN_ECRYPTO, "sea: AES-GCM tag");
done:
    EVP_CIPHER_CTX_free(c);
    ERR_clear_error();
    return rc;
}

int gun__sea_encrypt(const char *p, size_t len, const char *key, size_t key_len, unsigned flags,
                     gun__buf *out, gun__err *e)
{
    if (!key_len) /* sea.js: "No encryption key." */
        return gun__fail(e, GUN_EINVAL, "sea: empty encryption key");
    unsigned char salt[SALT_LEN], iv[IV_LEN], aes[32];
    gun__buf msg;
    unsigned char *ct = NULL;
    int rc;
    gun__buf_init(&msg);
    if (gun__random(salt, sizeof salt) || gun__random(iv, sizeof iv))
        return gun__fail(e, GUN_EIO, "sea: no randomness");
    rc = aes_key(key, key_len, salt, sizeof salt, aes, e);
    if (rc)
        goto done;
    gun__buf_reserve(&msg, len + len / 2 + 4);
    gun__sea_utf8(&msg, p, len);
    if (msg.oom || !(ct = gun__malloc(msg.len + TAG_LEN))) {
        rc = gun__fail(e, GUN_ENOMEM, "sea: out of memory");
        goto done;
    }
    rc = gcm(1, aes, iv, sizeof iv, (const unsigned char *)(msg.p ? msg.p : ""), msg.len, ct, e);
    if (rc)
        goto done;
    /* {ct, iv, s}: sea.js's literal order, which is also the sorted order. */
    if (!(flags & GUN_SEA_RAW))
        gun__buf_add(out, "SEA", 3);
    gun__buf_adds(out, "{\"ct\":\"");
    gun__sea_b64(out, ct, msg.len + TAG_LEN, 0);
    gun__buf_adds(out, "\",\"iv\":\"");
    gun__sea_b64(out, iv, sizeof iv, 0);
    gun__buf_adds(out, "\",\"s\":\"");
    gun__sea_b64(out, salt, sizeof salt, 0);
    gun__buf_adds(out, "\"}");
    if (out->oom)
        rc = gun__fail(e, GUN_ENOMEM, "sea: out of memory");
done:
    OPENSSL_cleanse(aes, sizeof aes);
    gun__sea_buf_wipe(&msg);
    gun__free(ct);
    return rc;
}

/* A field as bytes: base64 (main) or the low byte of each UTF-16 unit ('utf8' fallback).
 * *out is gun__malloc'd. 0, -1 (not decodable), or GUN_ENOMEM. */
static int field_bytes(const gun__json *f, int utf8, unsigned char **out, size_t *n)
{
    *out = NULL;
    if (!f || f->t != GUN__J_STR)
        return -1;
    size_t cap = f->u.s.len + 1;
    unsigned char *b = gun__malloc(cap);
    if (!b)
        return GUN_ENOMEM;
    if (!utf8) {
        if (gun__sea_atob(f->u.s.p, f->u.s.len, b, cap, n)) {
            gun__free(b);
            return -1;
        }
    } else {
        size_t i = 0, k = 0;
        while (i < f->u.s.len) {
            uint32_t cp;
            size_t used = gun__wtf8_decode(f->u.s.p + i, f->u.s.len - i, &cp);
            if (!used)
                cp = 0xFFFD, used = 1;
            i += used;
            if (cp >= 0x10000) {
                cp -= 0x10000;
                b[k++] = (unsigned char)(0xD800 + (cp >> 10));
                b[k++] = (unsigned char)(0xDC00 + (cp & 0x3FF));
            } else {
                b[k++] = (unsigned char)cp;
            }
        }
        *n = k;
    }
    *out = b;
    return 0;
}

/* One decryption attempt; GUN_EDECRYPT when this form does not decrypt. */
static int try_decrypt(const gun__json *env, int utf8, const char *key, size_t key_len,
                       gun__buf *plain, gun__err *e)
{
    const gun__json *fs = gun__json_obj_getc(env, "s"), *fiv = gun__json_obj_getc(env, "iv"),
                    *fct = gun__json_obj_getc(env, "ct");
    unsigned char *salt = NULL, *iv = NULL, *ct = NULL, *pt = NULL, aes[32];
    size_t sn = 0, ivn = 0, ctn = 0;
    int rc = field_bytes(fs, utf8, &salt, &sn);
    if (!rc)
        rc = field_bytes(fiv, utf8, &iv, &ivn);
    if (!rc)
        rc = field_bytes(fct, utf8, &ct, &ctn);
    if (rc) {
        rc = rc == GUN_ENOMEM ? gun__fail(e, rc, "sea: out of memory")
                              : gun__fail(e, GUN_EDECRYPT, "sea: ct, iv or s missing or not base64");
        goto done;
    }
    rc = utf8 ? aes_key_text(key, key_len, fs->u.s.p, fs->u.s.len, aes, e)
              : aes_key(key, key_len, salt, sn, aes, e);
    if (rc)
        goto done;
    if (!(pt = gun__malloc(ctn + 1))) {
        rc = gun__fail(e, GUN_ENOMEM, "sea: out of memory");
        goto done;
    }
    rc = gcm(0, aes, iv, ivn, ct, ctn, pt, e);
    if (!rc) {
        gun__buf_reserve(plain, (ctn - TAG_LEN) * 3 + 4); /* no realloc holding plaintext */
        gun__sea_utf8_decode(plain, pt, ctn - TAG_LEN);
        if (plain->oom)
            rc = gun__fail(e, GUN_ENOMEM, "sea: out of memory");
    }
done:
    OPENSSL_cleanse(aes, sizeof aes);
    if (pt) {
        OPENSSL_cleanse(pt, ctn + 1);
        gun__free(pt);
    }
    gun__free(salt);
    gun__free(iv);
    gun__free(ct);
    return rc;
}

int gun__sea_decrypt(const gun__json *data, const char *key, size_t key_len, gun__buf *plain,
                     gun__err *e)
{
    if (!key_len) /* sea.js: "No decryption key." */
        return gun__fail(e, GUN_EINVAL, "sea: empty decryption key");
    gun__json *parsed = NULL;
    if (data->t == GUN__J_STR) {
        int rc = gun__sea_parse(data->u.s.p, data->u.s.len, &parsed, e);
        if (rc)
            return rc;
        data = parsed;
    }
    int rc = try_decrypt(data, 0, key, key_len, plain, e);
    if (rc == GUN_EDECRYPT) /* sea.js retries with opt.encode = 'utf8' for old data */
        rc = try_decrypt(data, 1, key, key_len, plain, e);
    gun__json_free(parsed);
    return rc;
}

/* WebCrypto digest names sea.js may pass. */
static const EVP_MD *digest(const char *name)
{
    if (!name || !strcasecmp(name, "SHA-256"))
        return EVP_sha256();
    if (!strcasecmp(name, "SHA-1"))
        return EVP_sha1();
    if (!strcasecmp(name, "SHA-384"))
        return EVP_sha384();
    if (!strcasecmp(name, "SHA-512"))
        return EVP_sha512();
    return NULL;
}

static void encode(gun__buf *out, const unsigned char *p, size_t n, int hex)
{
    static const char hx[] = "0123456789abcdef";
    if (!hex) {
        gun__sea_b64(out, p, n, 0);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        gun__buf_addc(out, hx[p[i] >> 4]);
        gun__buf_addc(out, hx[p[i] & 15]);
    }
}

int gun__sea_work(const char *p, size_t len, const char *salt, size_t salt_len,
                  const gun_sea_work_opts *o, gun__buf *out, gun__err *e)
{
    static const gun_sea_work_opts defaults = {0, 0, NULL, NULL, 0};
    if (!o)
        o = &defaults;
    gun__buf pass, sb;
    unsigned char *dk = NULL;
    size_t dk_len = 0;
    int rc = GUN_OK;
    gun__buf_init(&pass);
    gun__buf_init(&sb);
    gun__buf_reserve(&pass, len + len / 2 + 4);
    gun__sea_utf8(&pass, p, len);
    if (pass.oom) {
        rc = gun__fail(e, GUN_ENOMEM, "sea: out of memory");
        goto done;
    }
    if (o->name && !strncasecmp(o->name, "sha", 3)) {
        /* Content addressing: the plain digest of the data, salt ignored. */
        const EVP_MD *md = digest(o->name);
        unsigned char h[EVP_MAX_MD_SIZE];
        unsigned int hl = 0;
        if (!md)
            rc = gun__fail(e, GUN_EINVAL, "sea: unknown digest %s", o->name);
        else if (EVP_Digest(pass.p ? pass.p : "", pass.len, h, &hl, md, NULL) != 1)
            rc = gun__fail(e, GUN_ECRYPTO, "sea: digest failed");
        else
            encode(out, h, hl, o->hex);
        goto done;
    }
    if (o->name && strcasecmp(o->name, "PBKDF2")) {
        rc = gun__fail(e, GUN_EINVAL, "sea: unknown work algorithm %s", o->name);
        goto done;
    }
    const EVP_MD *md = digest(o->hash);
    uint32_t iter = o->iterations ? o->iterations : 100000;
    uint32_t bits = o->length ? o->length : 512;
    if (!md || iter > INT_MAX || bits % 8 || bits > (1u << 24)) {
        rc = gun__fail(e, GUN_EINVAL, "sea: bad PBKDF2 hash, iterations or length");
        goto done;
    }
    if (salt && salt_len) {
        gun__sea_utf8(&sb, salt, salt_len);
    } else {
        /* sea.js: 9 random bytes, TextEncoder'd through SEA's latin1 toString. */
        unsigned char r[SALT_LEN];
        if (gun__random(r, sizeof r)) {
            rc = gun__fail(e, GUN_EIO, "sea: no randomness");
            goto done;
        }
        gun__sea_latin1(&sb, r, sizeof r);
    }
    dk_len = bits / 8;
    if (sb.oom || !(dk = gun__malloc(dk_len))) {
        rc = gun__fail(e, GUN_ENOMEM, "sea: out of memory");
        goto done;
    }
    if (PKCS5_PBKDF2_HMAC(pass.p ? pass.p : "", (int)pass.len,
                          (const unsigned char *)(sb.p ? sb.p : ""), (int)sb.len, (int)iter, md,
                          (int)dk_len, dk) != 1) {
        rc = gun__fail(e, GUN_ECRYPTO, "sea: PBKDF2 failed");
        goto done;
    }
    encode(out, dk, dk_len, o->hex);
done:
    if (!rc && out->oom)
        rc = gun__fail(e, GUN_ENOMEM, "sea: out of memory");
    if (dk) {
        OPENSSL_cleanse(dk, dk_len);
        gun__free(dk);
    }
    gun__sea_buf_wipe(&pass);
    gun__buf_free(&sb);
    ERR_clear_error();
    return rc;
}

int gun__sea_secret(const char *their_epub, size_t their_len, const char *epriv,
                    size_t epriv_len, char out[44], gun__err *e)
{
    EVP_PKEY *mine = NULL, *peer = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    unsigned char x[32];
    size_t xl = sizeof x;
    int rc = gun__sea_pub_load(their_epub, their_len, &peer, e);
    if (!rc)
        rc = gun__sea_priv_load(epriv, epriv_len, &mine, NULL, e);
    if (rc)
        goto done;
    if (!(ctx = EVP_PKEY_CTX_new_from_pkey(NULL, mine, NULL)) || EVP_PKEY_derive_init(ctx) != 1 ||
        EVP_PKEY_derive_set_peer(ctx, peer) != 1 || EVP_PKEY_derive(ctx, x, &xl) != 1 ||
        xl != sizeof x) {
        rc = gun__fail(e, GUN_ECRYPTO, "sea: ECDH failed");
        goto done;
    }
    out[gun__sea_b64_to(out, x, sizeof x, 1)] = 0;
done:
    OPENSSL_cleanse(x, sizeof x);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(mine);
    EVP_PKEY_free(peer);
    ERR_clear_error();
    return rc;
}

/* ---- public API ---- */

int gun_sea_encrypt(const char *data, const char *key, unsigned flags, char **out)
{
    if (out)
        *out = NULL;
    if (!data || !key || !out)
        return GUN_EINVAL;
    gun__buf b;
    gun__buf_init(&b);
    int rc = gun__sea_encrypt(data, strlen(data), key, strlen(key), flags, &b, NULL);
    return gun__sea_give(&b, rc, out);
}

int gun_sea_decrypt(const char *data, const char *key, char **json_out)
{
    if (json_out)
        *json_out = NULL;
    if (!data || !key || !json_out)
        return GUN_EINVAL;
    gun__json *d = gun__json_str(data, strlen(data)), *v = NULL;
    gun__buf plain, b;
    gun__buf_init(&plain);
    gun__buf_init(&b);
    if (!d)
        return GUN_ENOMEM;
    int rc = gun__sea_decrypt(d, key, strlen(key), &plain, NULL);
    gun__json_free(d);
    /* SEA.decrypt returns parse(plaintext); the caller gets its JSON. */
    size_t plain_len = plain.len;
    if (!rc)
        rc = gun__sea_parse(plain.p ? plain.p : "", plain.len, &v, NULL);
    gun__sea_buf_wipe(&plain);
    if (!rc) {
        /* JSON is at most 6 bytes per plaintext byte ("\u00xx"): no realloc leaves copies. */
        gun__buf_reserve(&b, plain_len * 6 + 16);
        gun__json_write(&b, v, GUN__JSON_JS);
    }
    gun__sea_json_wipe(v);
    return gun__sea_give(&b, rc, json_out);
}

int gun_sea_work(const char *data, const char *salt, const gun_sea_work_opts *opts, char **out)
{
    if (out)
        *out = NULL;
    if (!data || !out)
        return GUN_EINVAL;
    gun__buf b;
    gun__buf_init(&b);
    int rc = gun__sea_work(data, strlen(data), salt, salt ? strlen(salt) : 0, opts, &b, NULL);
    return gun__sea_give(&b, rc, out);
}

int gun_sea_secret(const char *their_epub, const gun_sea_pair *mine, char out[44])
{
    if (out)
        out[0] = 0;
    if (!their_epub || !mine || !out)
        return GUN_EINVAL;
    int rc = gun__sea_secret(their_epub, strlen(their_epub), mine->epriv,
                             strnlen(mine->epriv, sizeof mine->epriv), out, NULL);
    if (rc)
        out[0] = 0;
    return rc;
}

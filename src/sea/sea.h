/* sea: Gun.js SEA (Security, Encryption, Authorization) in C on OpenSSL 3 libcrypto,
 * byte-compatible with gun@0.2020.1241 sea.js as a node relay runs it (YSON loaded: objects
 * are stringified with sorted keys). docs/sea.md lists every place where sea.js and the spec
 * disagree and every deliberate difference.
 *
 * Layers, bottom up:
 *   codec.c  base64 (btoa / WHATWG forgiving atob / JWK base64url), JS TextEncoder and
 *            TextDecoder, latin1, String(v), parseFloat
 *   keys.c   P-256 keys: pair generation, pub/priv strings <-> OpenSSL keys, pair JSON
 *   sign.c   SEA.opt.parse, sign, verify (+ sea.js's legacy fallback), signed graph
 *            values (spec 5.10), SEA.opt.pub
 *   crypt.c  encrypt, decrypt, work (PBKDF2 and the SHA name mode), secret (ECDH)
 *   cert.c   certify, the certificate check the relay firewall runs, String.match (LEX)
 *
 * Every function is pure (no global mutable state, no instance), safe on any thread.
 * Secrets (private scalars, AES keys, passphrase+salt, plaintext, PBKDF2 output) live in
 * stack arrays or exact-size heap blocks and are wiped with OPENSSL_cleanse before release. */
#ifndef GUN_SEA_H
#define GUN_SEA_H

#include "../core/core.h"
#include "../wire/wire.h"

/* The public SEA API is in gun.h. */

#include <openssl/evp.h>

#define GUN__SEA_PUB_LEN 87  /* 43 "." 43 */
#define GUN__SEA_PRIV_LEN 43 /* base64url of 32 bytes, no padding */
#define GUN__SEA_SIG_B64 88  /* base64 of the 64-byte r||s, with padding */

/* ---- codec.c ---- */

/* base64 of n bytes: standard alphabet with '=' padding (btoa) or, with url set, the JWK
 * alphabet (-_) without padding. */
void gun__sea_b64(gun__buf *b, const unsigned char *p, size_t n, int url);
/* The same into out (room for (n + 2) / 3 * 4 chars); returns the length, no NUL. */
size_t gun__sea_b64_to(char *out, const unsigned char *p, size_t n, int url);
/* WHATWG forgiving-base64 decode, what Node's atob (and so sea.js) accepts: ASCII whitespace
 * removed, at most two '=' only at the end of a length-multiple-of-4 text, length % 4 != 1,
 * leftover bits ignored. Writes at most cap bytes; *n gets the decoded length. Returns 0,
 * -1 for text that is not base64, -2 when the result would exceed cap. */
int gun__sea_atob(const char *p, size_t len, unsigned char *out, size_t cap, size_t *n);
/* One 32-byte JWK coordinate or scalar as sea.js's WebCrypto shim reads it: spaces, tabs,
 * CR and LF removed, then exactly 43 base64url characters; leftover bits ignored.
 * 0 or -1. */
int gun__sea_jwk32(const char *p, size_t len, unsigned char out[32]);
/* Appends TextEncoder().encode(s) for a WTF-8 string: UTF-8 with each lone surrogate (and
 * each malformed byte) as U+FFFD and halves of a pair stored apart joined. */
void gun__sea_utf8(gun__buf *b, const char *p, size_t len);
/* Appends the UTF-8 of bytes read as latin1 (each byte one char U+0000..U+00FF). */
void gun__sea_latin1(gun__buf *b, const unsigned char *p, size_t n);
/* Appends new TextDecoder('utf-8').decode(bytes): a leading BOM dropped, each maximal
 * malformed subpart replaced by U+FFFD (WHATWG). The result is valid UTF-8. */
void gun__sea_utf8_decode(gun__buf *b, const unsigned char *p, size_t n);
/* Appends String(v) as JS gives it ("[object Object]", arrays joined with ","). */
void gun__sea_js_string(gun__buf *b, const gun__json *v);
/* JS truthiness of a value (NULL = undefined). */
int gun__sea_truthy(const gun__json *v);
/* JS parseFloat(v) for a number or a string; NaN for anything else. */
double gun__sea_parse_float(const gun__json *v);
/* gun__buf_free after wiping the used bytes (OPENSSL_cleanse). */
void gun__sea_buf_wipe(gun__buf *b);
/* Ends a public gun_sea_* call that built its result in b: on success (rc GUN_OK and no
 * allocation failed in b) *out takes b's text; otherwise b is wiped and the error returned. */
int gun__sea_give(gun__buf *b, int rc, char **out);
/* gun__json_free after wiping every string and key in the tree. */
void gun__sea_json_wipe(gun__json *j);
/* JS ToNumber of a string (StringToNumber): trimmed, "" -> 0, decimal, 0x/0o/0b, Infinity;
 * NaN otherwise. */
double gun__sea_str_to_number(const char *p, size_t len);

/* ---- keys.c ---- */

/* A public key string (pub or epub) as sea.js's S.jwk reads it: split on '.', the first two
 * parts are x and y (later parts ignored), each a gun__sea_jwk32. Returns a checked P-256
 * key (on the curve, not infinity) in *out (EVP_PKEY_free it) or GUN_EKEY / GUN_ENOMEM /
 * GUN_ECRYPTO. */
int gun__sea_pub_load(const char *pub, size_t len, EVP_PKEY **out, gun__err *e);
/* A private scalar string (priv or epriv): 43 base64url chars, 0 < d < n. *out gets the
 * whole key pair; xy (may be NULL) the public point x||y. */
int gun__sea_priv_load(const char *priv, size_t len, EVP_PKEY **out, unsigned char xy[64],
                       gun__err *e);
/* Writes the pub string "x.y" (87 chars + NUL) of a point. */
void gun__sea_pub_str(const unsigned char xy[64], char out[88]);

/* ---- sign.c ---- */

/* SEA.opt.parse(t): "SEA{" loses its "SEA"; then the JSON value if the text is JSON,
 * else the (possibly shortened) text as a string value. Never fails on bad input:
 * only GUN_ENOMEM, or GUN_EDEPTH for JSON nested deeper than GUN__JSON_DEPTH_CEIL. */
int gun__sea_parse(const char *p, size_t len, gun__json **out, gun__err *e);
/* The text sea.js hashes for m (sha256.js): a string as is, anything else stringified
 * (sorted keys; JSON.stringify order with GUN_SEA_BROWSER), then TextEncoder'd. */
void gun__sea_text(gun__buf *b, const gun__json *m, unsigned flags);
/* sig = base64(ECDSA-P256-SHA256(priv, SHA-256(text(m)))) into sig (89 bytes, NUL-ended). */
int gun__sea_sign_m(const gun__json *m, const char *priv, size_t priv_len, unsigned flags,
                    char sig[GUN__SEA_SIG_B64 + 1], gun__err *e);
/* Checks that s signs m for pub, as SEA.verify does (its main path; with GUN_SEA_BROWSER
 * also the JSON.stringify-order text; with GUN_SEA_LEGACY also fall_verify). GUN_OK,
 * GUN_EVERIFY, GUN_EKEY (pub unusable), GUN_ENOMEM, GUN_ECRYPTO. */
int gun__sea_verify_m(const gun__json *m, const gun__json *s, const char *pub, size_t pub_len,
                      unsigned flags, gun__err *e);
/* The same with a key already loaded by gun__sea_pub_load. Importing and checking a key
 * costs about as much as the ECDSA verify itself, so the relay firewall keeps loaded keys
 * per instance (keyed by pub string) and calls the _pk variants. An EVP_PKEY may be used
 * for verifying from several threads at once. */
int gun__sea_verify_m_pk(const gun__json *m, const gun__json *s, EVP_PKEY *pk, unsigned flags,
                         gun__err *e);
/* SEA.verify(data, pub) for an already parsed value (a string is parsed first): *out gets
 * parse(m), the value SEA.verify returns. */
int gun__sea_verify_value(const gun__json *data, const char *pub, size_t pub_len, unsigned flags,
                          gun__json **out, gun__err *e);
/* SEA.sign(data, pair): data as text (parsed like SEA.opt.parse). *out gets "SEA{...}" (or the
 * object without "SEA" with GUN_SEA_RAW). */
int gun__sea_sign(const char *data, size_t len, const gun_sea_pair *pair, unsigned flags,
                  gun__buf *out, gun__err *e);
/* Spec 5.10. Signs `val` for soul/key/state: appends the wire value text
 * {":":val,"~":sig}, or with a certificate (cert: its parsed {m,s}, writer_pub: the signer)
 * {"*":writer,"+":cert,":":val,"~":sig} (node's sorted order). */
int gun__sea_sign_put(const char *soul, size_t soul_len, const char *key, size_t key_len,
                      const gun__json *val, double state, const gun_sea_pair *pair,
                      const gun__json *cert, gun__buf *out, gun__err *e);
/* Checks a signed wire value (the parsed object {":":v,"~":sig,...}) for soul/key/state
 * against pub, rebuilding m = {"#":soul,".":key,":":v,">":state} like SEA.opt.pack.
 * *val_out (may be NULL) gets a copy of v. GUN_EVERIFY when the object is not a signed
 * value, the state is 0 (sea.js cannot verify those) or the signature fails. */
int gun__sea_verify_put(const char *soul, size_t soul_len, const char *key, size_t key_len,
                        const gun__json *wire, double state, const char *pub, size_t pub_len,
                        unsigned flags, gun__json **val_out, gun__err *e);
int gun__sea_verify_put_pk(const char *soul, size_t soul_len, const char *key, size_t key_len,
                           const gun__json *wire, double state, EVP_PKEY *pk, unsigned flags,
                           gun__json **val_out, gun__err *e);
/* SEA.opt.pub(soul): the text after the first '~', split on [^A-Za-z0-9_-]; the first two
 * parts joined by '.'. Appends it and returns 1, or 0 when the soul names no pub. */
int gun__sea_soul_pub(const char *soul, size_t len, gun__buf *out);

/* ---- crypt.c ---- */

/* SEA.encrypt(text, key): key is the passphrase (a pair's epriv for a pair). Appends
 * "SEA{"ct":..,"iv":..,"s":..}" (no "SEA" with GUN_SEA_RAW). GUN_EINVAL for an empty key. */
int gun__sea_encrypt(const char *p, size_t len, const char *key, size_t key_len, unsigned flags,
                     gun__buf *out, gun__err *e);
/* SEA.decrypt(data, key): appends the plaintext (UTF-8 decoded as TextDecoder does) to
 * plain (wipe it with gun__sea_buf_wipe). data is the envelope (string with or without
 * "SEA", or an object). GUN_EDECRYPT for anything that does not decrypt. */
int gun__sea_decrypt(const gun__json *data, const char *key, size_t key_len, gun__buf *plain,
                     gun__err *e);
/* SEA.work(data, salt, opts): appends the encoded result. salt NULL or empty: 9 random
 * bytes, as sea.js does (the result is then not reproducible). */
int gun__sea_work(const char *p, size_t len, const char *salt, size_t salt_len,
                  const gun_sea_work_opts *o, gun__buf *out, gun__err *e);
/* SEA.secret: ECDH of my epriv with their epub; out = base64url(x), 43 chars + NUL. */
int gun__sea_secret(const char *their_epub, size_t their_len, const char *epriv,
                    size_t epriv_len, char out[44], gun__err *e);
/* SHA-256 of bytes. */
int gun__sea_sha256(const void *p, size_t n, unsigned char out[32]);

/* ---- cert.c ---- */

/* SEA.certify: certificants, policy and block as parsed JSON (block may be NULL), expiry in
 * ms (0 or NaN: none). Appends "SEA{"m":{..},"s":..}". GUN_EINVAL with e->msg "No
 * certificant found." / "No policy found." as sea.js logs. */
int gun__sea_certify(const gun__json *certificants, const gun__json *policy,
                     const gun_sea_pair *authority, double expiry, const gun__json *block,
                     gun__buf *out, gun__err *e);

/* What the relay firewall must do with a write that carries a certificate ('+') signed
 * for soul/key by writer ('*'), as sea.js's check.pub decides it. */
typedef enum gun__sea_cert_verdict {
    GUN__CERT_OK = 0,    /* the write is allowed */
    GUN__CERT_BLOCK,     /* allowed unless the owner's graph blocks the writer: read
                            block_soul (then block_key, when set) then key `certificant`;
                            a value of 1 or true means "Certificant X blocked." */
    GUN__CERT_DROP,      /* sea.js neither stores nor answers (bad certificate signature,
                            certificant not listed, malformed certificate) */
    GUN__CERT_EXPIRED,   /* ack err "Certificate expired." */
    GUN__CERT_NO_PATH,   /* ack err "Certificate verification fail." */
    GUN__CERT_MUST_HAVE  /* ack err text in why: Path "p" or key "k" must contain string "c". */
} gun__sea_cert_verdict;

typedef struct gun__sea_cert_result {
    gun__sea_cert_verdict verdict;
    char *why;        /* the ack's err text (owned; NULL for OK/BLOCK/DROP) */
    char *block_soul; /* GUN__CERT_BLOCK: where the write block list lives (owned) */
    char *block_key;  /* ... and the key under it, or NULL (owned) */
} gun__sea_cert_result;

/* Runs sea.js's certificate check: cert is the parsed certificate ({m,s}), owner_pub the
 * pub of the graph (from the soul), certificant the writer's pub, state the put's state,
 * flags as for gun__sea_verify_m (sea.js verifies certificates with its legacy fallback).
 * Free res with gun__sea_cert_result_free. Returns GUN_OK (the verdict says what to do) or
 * GUN_ENOMEM. */
int gun__sea_cert_check(const gun__json *cert, const char *owner_pub, size_t owner_len,
                        const char *certificant, size_t cert_len, const char *soul,
                        size_t soul_len, const char *key, size_t key_len, double state,
                        unsigned flags, gun__sea_cert_result *res);
void gun__sea_cert_result_free(gun__sea_cert_result *res);
/* Gun's String.match(t, o) (LEX): o a string (exact) or {"=","*",">","<"}. */
int gun__sea_lex_match(const char *t, size_t tlen, const gun__json *o);


/* ---- firewall.c: the relay's user-graph firewall (spec 5.9, sea.js `check`) ---- */

/* What the firewall decided for one key (or, from gun__fw_check_put, for a whole put). */
typedef enum gun__fw_kind {
    GUN__FW_PASS = 0,     /* store and forward */
    GUN__FW_OMIT,         /* `<?N` soul, data older than N s: drop this key silently */
    GUN__FW_ALIAS,        /* "Data must exist!" / "Alias must exist!" / "Alias not same!" */
    GUN__FW_ACCOUNT,      /* "Account not same!" */
    GUN__FW_UNVERIFIED,   /* "Unverified data." (bad or missing signature) */
    GUN__FW_UNCERTIFIED,  /* "Unverified data.": '*' names a writer other than the owner
                             without a certificate (Gun.js accepts these: docs/sea.md 11) */
    GUN__FW_CERT,         /* "Certificate expired." / "... verification fail." / "Path ..." /
                             "Certificant X blocked." */
    GUN__FW_CERT_DROP,    /* bad certificate: Gun.js neither stores nor answers (why NULL) */
    GUN__FW_HASH          /* "Data hash not same as hash!" */
} gun__fw_kind;

typedef struct gun__fw_result {
    gun__fw_kind kind;
    const char *why; /* the ack's err text (static or in text[]); NULL: no answer */
    char text[256];  /* room for the texts that name a pub, path or key (cut to fit) */
} gun__fw_result;

/* Reads one stored value for the certificate write block list: *out gets a new JSON value
 * (the caller frees it) or NULL when absent. Returns GUN_OK or an error (treated as absent). */
typedef int (*gun__fw_lookup)(void *arg, gun__str soul, gun__str key, gun__json **out);
/* A gun__fw_lookup over a store: arg is a gun__store *. */
int gun__fw_store_lookup(void *arg, gun__str soul, gun__str key, gun__json **out);

/* One firewall: a small LRU of imported public keys. gun__fw_check_key/_put may run on
 * several threads at once (the cache is locked); verification runs on the caller's thread
 * (about 100 us per signed key), so the relay calls it from libuv's worker threads. The
 * lookup must be safe on the thread that calls. */
typedef struct gun__fw gun__fw;
/* cache: keys kept (0: 64). flags: as for gun__sea_verify_m (0: node relay defaults).
 * GUN_OK or GUN_ENOMEM. */
int gun__fw_new(gun__fw **out, size_t cache, unsigned flags);
void gun__fw_free(gun__fw *fw);
/* Checks one key of soul at state with its wire value val (as in the put), now_ms the
 * current state clock (for `<?N`). lookup may be NULL (block lists then never block).
 * Returns GUN_OK (res says what to do) or GUN_ENOMEM. */
int gun__fw_check_key(gun__fw *fw, gun__str soul, gun__str key, const gun__json *val,
                      double state, double now_ms, gun__fw_lookup lookup, void *arg,
                      gun__fw_result *res);
/* Does the firewall look at this soul at all (`~@...`, a pub soul, `#`, `<?`)? */
int gun__fw_applies(gun__str soul);
/* Every key of every node of a validated wire put: the first rejection stops and is
 * returned in res (nothing of the put may be stored or forwarded). Keys to omit (`<?N`) are
 * deleted from put (its `_` states stay) and counted in *omitted (may be NULL).
 * Returns GUN_OK or GUN_ENOMEM. */
int gun__fw_check_put(gun__fw *fw, gun__json *put, double now_ms, gun__fw_lookup lookup,
                      void *arg, gun__fw_result *res, size_t *omitted);
/* Keys loaded into the cache and cache hits so far (tests, stats). */
void gun__fw_cache_stats(const gun__fw *fw, uint64_t *loads, uint64_t *hits);

/* ---- user.c: gun.user() on an instance (gun.h "SEA users") ---- */

typedef struct gun__user gun__user;
int gun__user_new(gun__user **out);
void gun__user_free(gun__user *u);
/* Loop thread, before a local put graph is committed: signs every key the logged-in user
 * writes into its own graph (and, with cert, into another's), then holds the rest to the
 * firewall's rules. GUN_OK, or an error with Gun.js's text in e (GUN_EVERIFY: refused). */
int gun__user_sign(gun_t *g, gun__json *graph, const char *cert, gun__err *e);
/* The plain value of a signed user-graph value (SEA.opt.unpack), for readers: 1 with *out
 * an owned copy (gun__val_clear it), 0 when in is not a signed value of a pub soul,
 * GUN_ENOMEM. The store holds only values that passed the firewall or our own signing. */
int gun__sea_unpack(gun__str soul, const gun__val *in, gun__val *out);

#endif

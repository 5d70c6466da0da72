/*
 * libgun — Gun's realtime, decentralized, offline-first graph sync engine in C11.
 *
 * One public header. Every handle is opaque; every function returns an int from the
 * gun_err enum (GUN_OK == 0, errors < 0) unless stated; gun_strerror() names it.
 *
 * Threading: one libuv loop per gun_t. gun_open() starts a loop thread unless the
 * caller passes its own loop in gun_opts.loop (then the caller runs that loop).
 * Every function here is safe to call from any thread. Callbacks always run on the
 * loop thread, with no library lock held, and may call back into the API.
 * Blocking helpers (*_sync, gun_wait_*) refuse to run on the loop thread (GUN_EDEADLK).
 *
 * Data crosses the API as JSON text (UTF-8). Strings handed to callbacks are lent
 * for the duration of the callback only: copy what you keep.
 */
#ifndef GUN_H
#define GUN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GUN_VERSION_MAJOR 0
#define GUN_VERSION_MINOR 1
#define GUN_VERSION_PATCH 0

#if defined(GUN_BUILDING) && defined(__GNUC__)
#define GUN_API __attribute__((visibility("default")))
#else
#define GUN_API
#endif

/* Error codes. Values are frozen once released: append, never renumber. */
#define GUN_ERR_MAP(X)                                                                   \
    X(OK, 0, "success")                                                                  \
    X(EINVAL, -1, "invalid argument")                                                    \
    X(ENOMEM, -2, "out of memory")                                                       \
    X(ETIMEDOUT, -3, "timed out")                                                        \
    X(EDEADLK, -4, "blocking call made on the loop thread")                              \
    X(ECLOSED, -5, "instance is closed or closing")                                      \
    X(ENOTFOUND, -6, "not found")                                                        \
    X(EJSON, -7, "malformed JSON")                                                       \
    X(ETOOBIG, -8, "input exceeds the configured size cap")                              \
    X(EDEPTH, -9, "JSON nested deeper than the configured cap")                          \
    X(ENOTMSG, -10, "frame is not a message object or a batch of them")                  \
    X(ENONODE, -11, "invalid graph: no node")                                            \
    X(ENOMETA, -12, "invalid graph: no meta")                                            \
    X(ESOULNOTSAME, -13, "invalid graph: soul not same")                                 \
    X(ENOSTATE, -14, "invalid graph: no state")                                          \
    X(EBADVALUE, -15, "invalid data: value is not null, boolean, finite number, string " \
                      "or link")                                                         \
    X(EBADSOUL, -16, "invalid soul")                                                     \
    X(EBADKEY, -17, "invalid key")                                                       \
    X(EROOTDATA, -18, "data at root of graph must be a node (an object)")                \
    X(EIO, -19, "I/O error")                                                             \
    X(ESTATE, -20, "invalid state")                                                      \
    X(ENOTSUP, -21, "not supported by this build or configuration")                      \
    X(EVERIFY, -22, "signature does not verify")                                         \
    X(EDECRYPT, -23, "could not decrypt (wrong key or damaged data)")                    \
    X(EKEY, -24, "malformed or invalid SEA key")                                         \
    X(ECRYPTO, -25, "cryptographic library failure")                                     \
    X(EAUTH, -26, "wrong user or password")                                              \
    X(EEXIST, -27, "user already created")

typedef enum gun_err {
#define GUN__ERR_ENUM(name, val, text) GUN_##name = val,
    GUN_ERR_MAP(GUN__ERR_ENUM)
#undef GUN__ERR_ENUM
} gun_err;

/* The fixed English text of an error code; "unknown error" for codes not in the table.
 * Never NULL, static storage. Thread: any. */
GUN_API const char *gun_strerror(int err);

/* "MAJOR.MINOR.PATCH", static storage. */
GUN_API const char *gun_version(void);

/* Process-wide allocator, like uv_replace_allocator: set it before any gun_open, never
 * while an instance is open. NULL restores malloc/realloc/calloc/free. The library never
 * aborts on allocation failure; it returns GUN_ENOMEM. */
GUN_API int gun_replace_allocator(void *(*malloc_fn)(size_t), void *(*realloc_fn)(void *, size_t),
                                  void *(*calloc_fn)(size_t, size_t), void (*free_fn)(void *));

/* Frees memory the library handed to the caller (gun_get_sync's text, ...). */
GUN_API void gun_free(void *p);

/* ------------------------------------------------------------------------------------ */
/* Logging */

typedef enum gun_log_level {
    GUN_LOG_ERROR = 0,
    GUN_LOG_WARN = 1,
    GUN_LOG_INFO = 2,
    GUN_LOG_DEBUG = 3
} gun_log_level;

/* `msg` is lent for the call. Runs on whichever thread logged (usually the loop). */
typedef void (*gun_log_cb)(gun_log_level level, const char *msg, void *arg);

/* ------------------------------------------------------------------------------------ */
/* Options (the Rust port's GunOptions, in C). */

typedef struct gun_opts {
    /* Loop to run on (a uv_loop_t *). NULL: the instance starts and owns its own loop thread.
     * With a caller's loop, call gun_open and gun_close on the thread that runs that loop. */
    void *loop;
    /* Milliseconds added to the wall clock for states (Gun.state.drift). Default 0. */
    double state_drift_ms;
    /* Message-id dedup window (ms, default 9000) and cap on remembered ids (default 100000;
     * the oldest are forgotten first when full). */
    uint32_t dedup_age_ms;
    uint32_t dedup_max;
    /* Caps checked before parsing work is done: frame bytes (default 8 MiB) and JSON nesting
     * depth (default 64). They also bound JSON handed to gun_put. */
    size_t max_frame_bytes;
    uint32_t max_json_depth;
    /* once(): ms to wait for data to settle (Gun.js opt.wait, default 99). */
    uint32_t once_wait_ms;
    /* put callbacks: ms before an unacknowledged put reports GUN_ETIMEDOUT (default 9000). */
    uint32_t ack_timeout_ms;
    /* Storage (the Rust port's localStorage / storage_path / radisk). Memory only unless
     * one of the two switches is on. Writes are acknowledged only once durable. */
    int local_storage;        /* persist in a directory of files (the file store) */
    int radisk;               /* persist in LMDB (the relay's default); wins over local_storage */
    const char *storage_path; /* the data directory (created if missing); NULL: "./gun_data" */
    int storage_nosync;       /* skip fsync: survives a process crash, not an OS crash or power
                                 loss (a documented trade-off; default 0) */
    size_t storage_max_bytes; /* LMDB: cap on the data file; writes past it fail (and their
                                 puts get an error ack) without harming what is stored. 0: none */
    /* Networking (the Rust port's peers / super_peer / port). */
    const char *const *peers; /* URLs to connect to and keep connected (ws://, wss://, or
                                 Gun.js style http(s)://host:port/gun); copied */
    size_t npeers;
    int super_peer;            /* relay behaviour (AXE): subscriptions, GET forwarding */
    const char *host;          /* listen address; NULL = all interfaces */
    int port;                  /* -1 (default): do not listen; 0: any free port (gun_port) */
    const char *tls_cert;      /* listen with TLS (wss://) when both are set */
    const char *tls_key;
    int tls_insecure_peers;    /* accept self-signed certificates of wss:// peers (tests) */
    size_t max_queue_bytes;    /* per-peer send queue cap; a slower peer is dropped (4 MiB) */
    uint32_t max_connections;  /* accepted connections at once (default 10000; 0 = no cap) */
    const char *web_root;      /* super peer: serve this directory's static files on the
                                  listening port (index.html fallback, no listings, nothing
                                  outside it). Lent: must stay valid until gun_close. NULL */
    size_t outbox_max_bytes;   /* unacknowledged writes kept for peers while offline (16 MiB) */
    /* Limits on what peers send (0 = no cap). A put over a key cap is refused whole with an
     * err ack; excess messages get a DAM error, then the connection is closed. */
    uint32_t max_connections_per_ip; /* accepted connections from one address (1000) */
    uint32_t max_node_keys;          /* keys of one node in one put (50000) */
    uint32_t max_put_keys;           /* keys over all nodes of one put (100000) */
    uint32_t msg_rate;               /* messages per second per accepted peer (5000) */
    uint32_t msg_burst;              /* token bucket size; also the excess that disconnects
                                        (10000) */
    size_t max_get_reply_bytes;      /* a GET answer bigger than this goes out in chunks
                                        linked by "%", as Gun.js chunks big nodes (1 MiB) */
    /* Super peer: subscriptions (souls or keys a peer asked for or wrote, which it is then
     * pushed) held per peer and in all. Gun.js has no "unsubscribe", so a peer's set only
     * grows until it leaves; past a cap the least recently asked one ends (a later GET of it
     * subscribes again). */
    uint32_t max_subs_per_peer;      /* (10000) */
    uint32_t max_subs;               /* over all peers (1000000) */
    /* Sees every incoming message (its JSON text, lent) after parsing and validation;
     * return nonzero to accept, 0 to drop it (counted, never processed or forwarded).
     * Runs on the loop thread. */
    int (*message_predicate)(const char *msg_json, void *arg);
    void *predicate_arg;
    /* Logging; NULL is silent. The library never writes to stdout. */
    gun_log_cb log;
    void *log_arg;
    gun_log_level log_level;
} gun_opts;

/* Fills `o` with the defaults above. Always call it before setting fields. */
GUN_API void gun_opts_init(gun_opts *o);

/* ------------------------------------------------------------------------------------ */
/* Instance */

typedef struct gun_s gun_t;
typedef struct gun_chain_s gun_chain;

/* Opens an instance: its graph in memory or in a store (opts.radisk / local_storage), its
 * peers and listener (opts.peers, opts.port). `opts` may be NULL (defaults) and is copied.
 * On success *out owns the instance until gun_close. Errors: GUN_EINVAL, GUN_ENOMEM, GUN_EIO
 * (the loop thread, the store or the listener could not start; the log says why). */
GUN_API int gun_open(gun_t **out, const gun_opts *opts);

/* Stops the loop thread (if owned), cancels pending callbacks (put callbacks get
 * GUN_ECLOSED), and frees the instance and every chain it handed out. Must not be called
 * from the loop thread of an owned loop (GUN_EDEADLK); with a caller loop, call it on the
 * loop thread and keep running the loop until it returns no more handles. NULL is a no-op.
 * Writes accepted before the call are committed and acked before it returns; queued
 * listeners are dropped and blocked gun_get_sync calls return GUN_ECLOSED. No other thread
 * may call into `g` once gun_close has been called. Errors: GUN_EDEADLK, GUN_EINVAL (a
 * caller's loop, from another thread), GUN_ECLOSED (already closing). */
GUN_API int gun_close(gun_t *g);

/* The instance's state clock (Gun.state): ms since the epoch plus drift; calls in the same
 * millisecond return t + n/999, so values are strictly increasing. Thread: any. */
GUN_API double gun_state(gun_t *g);

/* The port the instance listens on (after port 0), or -1 when it does not listen. */
GUN_API int gun_port(gun_t *g);

/* Peers whose connection is open now. Thread: any. */
GUN_API size_t gun_peer_count(gun_t *g);

/* 1 when at least one peer is connected. */
GUN_API int gun_is_connected(gun_t *g);

/* Blocks until a peer is connected or timeout_ms passes: GUN_OK or GUN_ETIMEDOUT
 * (GUN_EDEADLK on the loop thread). */
GUN_API int gun_wait_connected(gun_t *g, int timeout_ms);

/* ------------------------------------------------------------------------------------ */
/* Chains. A chain is a path from the root: gun_get(g, "soul") then gun_chain_get(c, "key").
 * Chains are owned by the instance (the same path gives the same chain) and live until
 * gun_close: never free them. */

/* Chain for soul `soul` (non-empty UTF-8, no NUL). Errors: GUN_EINVAL, GUN_EBADSOUL, GUN_ENOMEM. */
GUN_API int gun_get(gun_t *g, const char *soul, gun_chain **out);

/* Chain for property `key` below `c` (non-empty). Same errors as gun_get (GUN_EBADKEY). */
GUN_API int gun_chain_get(gun_chain *c, const char *key, gun_chain **out);

/* The root chain (gun.back(-1)); gun_get(g, s) == gun_chain_get(gun_root(g), s). */
GUN_API gun_chain *gun_root(gun_t *g);

/* Walks up: n = 1 is the parent, n < 0 the root. Errors: GUN_ENOTFOUND when n is larger than
 * the chain's depth (*out is left alone). */
GUN_API int gun_back(gun_chain *c, int n, gun_chain **out);

/* The chain's path from the root joined with '/' (e.g. "user/alice/name"); static for the
 * chain's lifetime. Map chains end in "/" followed by "*". */
GUN_API const char *gun_chain_path(const gun_chain *c);

/* Result of a write, lent to the callback. */
typedef struct gun_ack {
    int err;              /* GUN_OK or an error code */
    const char *err_text; /* Gun.js's words for the error, e.g. "Invalid data: Array at bob.arr";
                             NULL when err == GUN_OK */
    const char *ok_json;  /* JSON of the ack's `ok` (e.g. "true"); NULL on error */
    const char *soul;     /* soul written (for gun_set: the new item's soul) */
} gun_ack;

/* Runs on the loop thread; `ack` is lent for the call. */
typedef void (*gun_ack_cb)(const gun_ack *ack, void *arg);

/* Writes `json` (a JSON text, copied) at the chain: an object is merged into the node, nested
 * objects become their own nodes with path souls (bob/car/wheels) linked from their parent,
 * and one state is used for every key of the put. A primitive is written as the value of the
 * chain's last key. Local listeners fire before any ack. `cb` (may be NULL) is called once:
 * with GUN_OK after the write is committed locally, or with the error.
 * As in Gun.js: a key that already links to a node keeps that node (its soul is reused);
 * `_["#"]` in an object names its node; on the root chain the object becomes a node at
 * `_["#"]` or at a new uuid. ok_json is "true" once the local store has merged the put
 * (keys that lose HAM to a newer local state are not written). cb is not called when the
 * call returns GUN_EINVAL, GUN_ECLOSED or GUN_ENOMEM. GUN_ENOTSUP: a put below a map.
 * Returns GUN_OK when the write was accepted; on invalid data returns the error code (and, if
 * cb is given, also calls it with Gun.js's error text) and writes nothing.
 * Errors: GUN_EJSON, GUN_ETOOBIG, GUN_EDEPTH, GUN_EBADVALUE (arrays, NaN, ...),
 * GUN_EROOTDATA (a primitive put on a soul), GUN_EBADKEY, GUN_ECLOSED, GUN_ENOMEM. */
GUN_API int gun_put(gun_chain *c, const char *json, gun_ack_cb cb, void *arg);

/* Adds `json` to the set at the chain (Gun's set): an object becomes a node with a new uuid
 * soul (state in base 36 + 12 random chars), and the chain's node gets key = that soul,
 * value = a link to it. A link ({"#":soul}) is added as is. *item_out (may be NULL) receives
 * the item's chain. Errors as gun_put. An object with _["#"] is linked under that soul; a
 * primitive is put under a new uuid(7) key (Gun.js). The item and its link are one commit
 * with one state (Gun.js sends two puts). ack->soul: the item's soul (for a primitive: the
 * node holding it). GUN_EINVAL on the root chain. */
GUN_API int gun_set(gun_chain *c, const char *json, gun_ack_cb cb, void *arg, gun_chain **item_out);

/* Data callback: `json` is the value at the chain as JSON text (a node is an object with its
 * "_" meta, links to child nodes are left as {"#":soul}), or NULL for not found (once only).
 * `key` is the chain's last key (for map chains: the item's key). Both lent for the call. */
typedef void (*gun_data_cb)(const char *json, const char *key, void *arg);

/* Subscribes: `cb` fires with the current value if there is one, then on every change of the
 * value (for a node: any of its own keys). Stays until gun_off on this chain. */
GUN_API int gun_on(gun_chain *c, gun_data_cb cb, void *arg);

/* Fires `cb` once with the value once it has settled (opts.once_wait_ms after the last data),
 * or with NULL if nothing is found. A primitive fires without waiting (Gun.js); changes
 * while settling restart the wait, up to 10 waits in all. On a map chain: once per item,
 * including items added later (Gun.js), until gun_off; never NULL there. */
GUN_API int gun_once(gun_chain *c, gun_data_cb cb, void *arg);

/* The map chain of `c`: gun_on/gun_once on it fire once per item of the node at `c`
 * (following links to child nodes), including items added later (gun_on). Items deleted
 * with null are reported as "null". Chains below a map (gun_chain_get on it) resolve per
 * item. One map per path: the map of a map chain is GUN_ENOTSUP. */
GUN_API int gun_map(gun_chain *c, gun_chain **out);

/* Removes every listener of this chain (not of parents or children). Their callbacks stop
 * when gun_off returns, except one the loop is starting or running at that moment. Unlike
 * Gun.js it does not drop the soul from the graph. */
GUN_API int gun_off(gun_chain *c);

/* Blocking read: the value's JSON as gun_once would give it, in *json_out (free with
 * gun_free), or GUN_ENOTFOUND. Errors: GUN_EDEADLK on the loop thread, GUN_ETIMEDOUT.
 * timeout_ms <= 0 waits without limit. On a map chain: {"key": value, ...} of the items
 * present; below a map: [value, ...] (GUN_ENOTFOUND when none). GUN_ECLOSED if the instance
 * closes meanwhile. */
GUN_API int gun_get_sync(gun_chain *c, int timeout_ms, char **json_out);

/* Blocking write: gun_put and wait for its callback. Returns the ack's error code.
 * timeout_ms <= 0 waits without limit. */
GUN_API int gun_put_sync(gun_chain *c, const char *json, int timeout_ms);

/* ------------------------------------------------------------------------------------ */
/* SEA: Gun.js's keys, signatures, encryption and proof of work, byte-compatible with
 * gun@0.2020.1241 as a node relay runs it (objects are stringified with sorted keys).
 *
 * Plain functions: no instance, safe on any thread, no callbacks, nothing global. They never
 * touch the network; gun_sea_work runs PBKDF2 on the calling thread (about 0.1 s at the
 * default 100000 rounds), so keep it off a loop thread.
 * Strings passed in are UTF-8, NUL-terminated, and stay the caller's. A char ** result is
 * the caller's on GUN_OK: release it with gun_sea_free (wipes, then frees; use it for
 * anything secret) or gun_free. On any error *out is NULL.
 * Results named "value" are the JSON text of what Gun.js returns, as JSON.stringify prints
 * it: verifying a signed "hello" gives "\"hello\"" (quoted), a signed object its JSON.
 * Malformed input never crashes or aborts: it gives an error code. docs/sea.md lists where
 * we knowingly differ from sea.js (we parse JSON strictly, as sea.js does in a browser). */

#define GUN_HAVE_SEA_API 1

/* A key pair as SEA.pair() makes it: two P-256 keys, as JWK coordinates. Fixed size, no
 * allocation; gun_sea_pair_wipe it when done. */
typedef struct gun_sea_pair {
    char pub[88];   /* ECDSA public key (signing): base64url(x) "." base64url(y), 87 chars */
    char priv[44];  /* ECDSA private scalar d, base64url without padding, 43 chars */
    char epub[88];  /* ECDH public key (encryption), same format as pub */
    char epriv[44]; /* ECDH private scalar, same format as priv */
} gun_sea_pair;

/* Flags. */
#define GUN_SEA_RAW 0x1u     /* sign, encrypt: the object's JSON without the "SEA" prefix */
#define GUN_SEA_BROWSER 0x2u /* sign: stringify objects in JSON.stringify order, as SEA in a
                                browser does; verify: also accept signatures made that way */
#define GUN_SEA_LEGACY 0x4u  /* verify: also accept sea.js's fallback for pre-2020 data. Unsafe:
                                one signature of the text "[object Object]" then verifies every
                                object for that key (docs/sea.md); off unless you need old data */

/* Fills *out with a new pair from OpenSSL's CSPRNG. Errors: GUN_EINVAL, GUN_ECRYPTO. */
GUN_API int gun_sea_pair_generate(gun_sea_pair *out);

/* Reads a pair from Gun.js's JSON {"pub","priv","epub","epriv"} (other keys ignored) and
 * checks that each public key belongs to its private key. `json` stays the caller's.
 * Errors: GUN_EINVAL, GUN_EJSON, GUN_EKEY (missing, malformed or mismatched keys),
 * GUN_ENOMEM. On error *out is zeroed. */
GUN_API int gun_sea_pair_from_json(const char *json, gun_sea_pair *out);

/* The pair as {"pub":..,"priv":..,"epub":..,"epriv":..} in *json_out (holds private keys:
 * gun_sea_free it). Errors: GUN_EINVAL, GUN_ENOMEM. */
GUN_API int gun_sea_pair_to_json(const gun_sea_pair *pair, char **json_out);

/* Overwrites the pair with zeros (not optimized away). NULL is a no-op. */
GUN_API void gun_sea_pair_wipe(gun_sea_pair *pair);

/* Wipes a string a gun_sea_* function returned, then frees it. NULL is a no-op. */
GUN_API void gun_sea_free(char *s);

/* SEA.sign(data, pair): data is taken as Gun.js takes a string (text that is JSON becomes
 * that value, "SEA{...}" loses its prefix). *out = "SEA{"m":<value>,"s":"<base64 r||s>"}";
 * the signature covers SHA-256(SHA-256(text)), text being a string m itself or the sorted
 * JSON of any other m. Data already signed by this pair comes back as it is. Uses
 * pair->pub and pair->priv. Errors: GUN_EINVAL, GUN_EKEY, GUN_ENOMEM, GUN_ECRYPTO. */
GUN_API int gun_sea_sign(const char *data, const gun_sea_pair *pair, unsigned flags, char **out);

/* SEA.verify(data, pub): data is "SEA{...}" or {"m":..,"s":..}; pub a pub string. On GUN_OK
 * *json_out is the value of m (a string m that holds JSON becomes that JSON's value, as in
 * Gun.js). Errors: GUN_EINVAL, GUN_EVERIFY (bad or missing signature, not a signed
 * envelope), GUN_EKEY (pub unusable), GUN_ENOMEM, GUN_ECRYPTO. */
GUN_API int gun_sea_verify(const char *data, const char *pub, unsigned flags, char **json_out);

/* SEA.encrypt(data, key): AES-256-GCM under SHA-256(key + latin1(9 random salt bytes)),
 * 15-byte random IV. key is a passphrase; to encrypt for a pair pass pair->epriv, and for
 * another user the result of gun_sea_secret. data is encrypted as given (to encrypt a
 * value, pass its JSON). *out = "SEA{"ct":..,"iv":..,"s":..}".
 * Errors: GUN_EINVAL (also for an empty key, as in Gun.js), GUN_EIO (no randomness),
 * GUN_ENOMEM, GUN_ECRYPTO. */
GUN_API int gun_sea_encrypt(const char *data, const char *key, unsigned flags, char **out);

/* SEA.decrypt(data, key): *json_out is the plaintext's value (plaintext that is JSON becomes
 * that value; other text comes back as a JSON string). Holds the secret: gun_sea_free it.
 * Errors: GUN_EINVAL, GUN_EDECRYPT (wrong key, damaged or malformed data), GUN_ENOMEM. */
GUN_API int gun_sea_decrypt(const char *data, const char *key, char **json_out);

/* Options for gun_sea_work (SEA.work's opt); NULL or zeroed fields mean the defaults. */
typedef struct gun_sea_work_opts {
    uint32_t iterations; /* PBKDF2 rounds; 0 = 100000 */
    uint32_t length;     /* output length in bits, a multiple of 8; 0 = 512 */
    const char *hash;    /* PBKDF2 HMAC hash: NULL = "SHA-256"; "SHA-1", "SHA-384", "SHA-512" */
    const char *name;    /* NULL = "PBKDF2"; a name starting with "sha" (any case), e.g.
                            "SHA-256": the plain digest of data, salt ignored (content
                            addressing, the `#` souls) */
    int hex;             /* nonzero: hex output instead of base64 (opt.encode = 'hex') */
} gun_sea_work_opts;

/* SEA.work(data, salt, opts): PBKDF2-HMAC over UTF-8 data and salt, base64 (or hex) in
 * *out. Gun.js passes a pair's epub as the salt when given a pair. A NULL or empty salt
 * means 9 random bytes, as in Gun.js (the result then cannot be reproduced). opts may be
 * NULL. The result is key material when it is a password proof: gun_sea_free it.
 * Errors: GUN_EINVAL (unknown name or hash, bad length), GUN_EIO, GUN_ENOMEM, GUN_ECRYPTO. */
GUN_API int gun_sea_work(const char *data, const char *salt, const gun_sea_work_opts *opts,
                         char **out);

/* SEA.secret(their_epub, mine): ECDH between mine->epriv and their epub; out gets the shared
 * x-coordinate as base64url, 43 chars and a NUL (a passphrase for gun_sea_encrypt that both
 * sides compute). Secret: wipe out when done. Errors: GUN_EINVAL, GUN_EKEY, GUN_ECRYPTO. */
GUN_API int gun_sea_secret(const char *their_epub, const gun_sea_pair *mine, char out[44]);

/* SEA.certify(certificants, policy, authority, {expiry, block}): a certificate letting
 * `certificants` write where `policy` says into the authority's graph. certificants,
 * policy and block are JSON text, or plain text taken as a JSON string (a bare pub, "*",
 * "inbox"): certificants "*", a pub, {"pub":..} or an array of these; policy a string, a
 * LEX object ({"#":..,".":..,"*":..,"+":"*"}), an array of them or {"read":..,"write":..};
 * block NULL, a soul string or {"read":..,"write":..}. expiry: ms since the epoch, 0 for
 * none. *out = "SEA{"m":{"c":..,"e":..,"w":..},"s":..}".
 * Errors: GUN_EINVAL (no certificant or no policy found, as Gun.js logs), GUN_EKEY,
 * GUN_ENOMEM, GUN_ECRYPTO. */
GUN_API int gun_sea_certify(const char *certificants, const char *policy,
                            const gun_sea_pair *authority, double expiry, const char *block,
                            char **out);

/* A value signed for a user's graph (spec 5.10), as Gun.js writes it for key `key` of soul
 * `soul` at `state`: *out = {":":<value>,"~":"<sig>"} (JSON text; on the wire it travels as
 * a JSON string), the signature covering {"#":soul,".":key,":":value,">":state}.
 * value_json is the JSON of the value (null, boolean, number, string or a {"#":soul} link).
 * With `cert` (a gun_sea_certify result, NULL for none), for writing into another user's
 * graph: {"*":<pair->pub>,"+":<cert>,":":..,"~":..}. Errors: GUN_EINVAL (bad cert, state
 * not finite), GUN_EJSON, GUN_EKEY, GUN_ENOMEM, GUN_ECRYPTO. */
GUN_API int gun_sea_sign_put(const char *soul, const char *key, const char *value_json,
                             double state, const gun_sea_pair *pair, const char *cert,
                             char **out);

/* Checks a signed graph value (the string gun_sea_sign_put makes) for soul, key and state
 * against pub, and gives the plain value's JSON in *value_json_out. pub is the soul's pub
 * (gun_sea_soul_pub), or the "*" writer of a certified value: checking the certificate
 * itself is the relay's job. Errors: GUN_EINVAL, GUN_EVERIFY (not a signed value, signed
 * for another soul, key, state or value, by another key; state 0), GUN_EKEY, GUN_ENOMEM. */
GUN_API int gun_sea_verify_put(const char *soul, const char *key, const char *signed_value,
                               double state, const char *pub, unsigned flags,
                               char **value_json_out);

/* SEA.opt.pub(soul): the pub a soul belongs to ("~<pub>" and "~<pub>/path" souls), in
 * *pub_out. Errors: GUN_EINVAL, GUN_ENOTFOUND (no pub in that soul), GUN_ENOMEM. */
GUN_API int gun_sea_soul_pub(const char *soul, char **pub_out);

/* ------------------------------------------------------------------------------------ */
/* SEA users: Gun.js's gun.user() (create, auth, leave, is) on an instance, wire-compatible
 * with gun@0.2020.1241: an account made here can be logged into by Gun.js and the reverse.
 *
 * One user per instance. While a user is logged in, every key the instance writes (gun_put,
 * gun_set) into a soul of that user's graph ("~<pub>" and "~<pub>/..." souls) is signed as
 * Gun.js signs it (spec 5.10), except "pub" on "~<pub>", which stays plain. Writes into
 * another user's graph need a certificate (gun_put_cert); other writes into user graphs,
 * "~@" alias lists and "#" content-addressed souls must pass the rules a relay enforces, or
 * the put callback gets GUN_EVERIFY with Gun.js's text ("Unverified data.", ...).
 * Reads (gun_on, gun_once, gun_get_sync) give the plain value of a signed one, as Gun.js's
 * chain does; signatures stay in the store and on the wire.
 *
 * create and auth block the calling thread (they read and write through peers and run
 * PBKDF2, about 0.1 s per try): GUN_EDEADLK on the loop thread; timeout_ms bounds each read
 * and write (<= 0: no limit). Calls of one instance are serialised. Strings passed in stay
 * the caller's. Every function is safe on any thread. */

/* user.create(alias, pass): writes the account "~<pub>" {pub, alias, epub, auth} (auth holds
 * the private keys encrypted with PBKDF2(pass, a random 64-char salt)) and the alias list
 * "~@<alias>" linking to it, then stays logged in as the new user (Gun.js sets user.is in
 * create too). pub_out gets the new pub (87 chars + NUL). Errors: GUN_EINVAL (no alias, or
 * a password shorter than 8 characters: Gun.js's "Password too short!"), GUN_EEXIST (the
 * alias already has an account: "User already created!"), GUN_EDEADLK, GUN_ETIMEDOUT, the
 * errors of gun_put_sync (with peers: their ack), GUN_ENOMEM, GUN_ECRYPTO. */
GUN_API int gun_user_create(gun_t *g, const char *alias, const char *pass, int timeout_ms,
                            char pub_out[88]);

/* user.auth(alias, pass): reads "~@<alias>", tries each account it lists (work + decrypt of
 * its auth) and logs in with the first that opens; the keys must belong together. Errors:
 * GUN_EAUTH ("Wrong user or password."), GUN_EINVAL, GUN_EDEADLK, GUN_ETIMEDOUT,
 * GUN_ENOMEM, GUN_ECLOSED. */
GUN_API int gun_user_auth(gun_t *g, const char *alias, const char *pass, int timeout_ms);

/* user.auth(pair): logs in with a pair (copied; the caller still wipes its own). Does not
 * block. Errors: GUN_EINVAL, GUN_EKEY (a public key does not match its private key). */
GUN_API int gun_user_auth_pair(gun_t *g, const gun_sea_pair *pair);

/* user.leave(): forgets the pair (wiped). Later writes are no longer signed. */
GUN_API int gun_user_leave(gun_t *g);

/* user.is.pub: the logged-in pub in pub_out (87 chars + NUL). GUN_ENOTFOUND when nobody is
 * logged in (pub_out is then ""). */
GUN_API int gun_user_is(gun_t *g, char pub_out[88]);

/* A copy of the logged-in pair (for gun_sea_secret, gun_sea_sign, ...): gun_sea_pair_wipe
 * it when done. GUN_ENOTFOUND when nobody is logged in. */
GUN_API int gun_user_pair(gun_t *g, gun_sea_pair *out);

/* The chain of the logged-in user's graph, "~<pub>" (gun.user() after auth); owned by the
 * instance like every chain. GUN_ENOTFOUND when nobody is logged in. */
GUN_API int gun_user(gun_t *g, gun_chain **out);

/* gun_put with a certificate (Gun.js put(data, cb, {opt: {cert}})): the logged-in user
 * writes into another user's graph; each key is signed by the writer and carries the
 * certificate (cert: a gun_sea_certify result, copied) and the writer's pub. Errors as
 * gun_put (GUN_EINVAL for a NULL cert). The callback gets GUN_EINVAL for a cert that is
 * not {m,s}, and GUN_EVERIFY with Gun.js's text when the certificate does not allow the
 * write ("Certificate expired.", "Certificate verification fail.", ...). */
GUN_API int gun_put_cert(gun_chain *c, const char *json, const char *cert, gun_ack_cb cb,
                         void *arg);

#ifdef __cplusplus
}
#endif

#endif /* GUN_H */

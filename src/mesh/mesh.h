/* mesh: peers, the DAM handshake, dedup and `@` routing, subscriptions and pushes, GET
 * answering and forwarding, `><`, heartbeats, and the client side (requests with acks,
 * offline outbox, re-subscription). Runs on the instance's loop thread only. */
#ifndef GUN_MESH_H
#define GUN_MESH_H

#include "../core/core.h"
#include "../store/store.h"
#include "../transport/transport.h"

typedef struct gun__mesh gun__mesh;

/* Sees every incoming message after parsing and validation (the message's JSON text, lent);
 * returns nonzero to accept. */
typedef int (*gun__mesh_predicate)(const char *msg_json, void *arg);

typedef struct gun__mesh_cfg {
    void *loop; /* uv_loop_t * */
    gun__core *core;
    gun__store *store;
    int super_peer;     /* relay behaviour: AXE subscriptions, GET forwarding, no re-GET */
    const char *host;   /* listen address (NULL: all) */
    int port;           /* -1: do not listen; 0: any free port */
    const char *tls_cert, *tls_key;
    int tls_insecure_client;
    const char *const *peers; /* URLs to dial and keep */
    size_t npeers;
    gun__limits lim;          /* frame cap and JSON depth */
    size_t max_queue;         /* per-peer send queue bytes */
    uint32_t max_conns;
    uint32_t max_conns_per_ip; /* accepted connections from one address; 0: no cap */
    uint32_t max_node_keys, max_put_keys; /* keys in one put, per node and in all; 0: no cap */
    uint32_t msg_rate, msg_burst; /* per accepted peer: messages/s and bucket; 0: no limit */
    size_t max_get_reply;     /* GET answers bigger than this are chunked; 0: never */
    uint32_t max_subs_per_peer, max_subs; /* subscriptions held, per peer and in all; over
                                             either the least recently asked ends; 0: no cap */
    uint32_t dedup_age_ms, dedup_max;
    uint32_t ack_timeout_ms;  /* client requests */
    size_t outbox_max;        /* bytes of unacknowledged writes kept for peers (offline) */
    size_t pack;              /* batch frame size (Gun.js opt.pack, 9000) */
    /* Merges a validated graph for the mesh (the owner's locking around gun__core_put);
     * NULL: gun__core_put directly. */
    int (*merge)(void *arg, const gun__graph *g, gun__merge_res *res);
    void *merge_arg;
    /* Group commit in front of the store: put acks wait until what they wrote (and
     * anything before it) is durable. NULL: ack at once. */
    gun__wb *wb;
    gun__http_cb http; /* plain HTTP on the listening port (relay endpoints) */
    void *http_arg;
    gun__mesh_predicate predicate;
    void *predicate_arg;
    gun_log_cb log;
    void *log_arg;
    gun_log_level log_level;
    void **ws_remains; /* where gun__mesh_free leaves the transport's remains (also when
                          gun__mesh_new fails half way) */
} gun__mesh_cfg;

int gun__mesh_new(gun__mesh **out, const gun__mesh_cfg *cfg, gun__err *e);
/* Closes every peer and the listener; pending requests get GUN_ECLOSED. The loop must then
 * run until the handles have closed (the mesh's memory goes with the last one); after that
 * the transport's remains, left in *cfg.ws_remains, go to gun__ws_reap (see gun__ws_free). */
void gun__mesh_free(gun__mesh *m);
int gun__mesh_port(const gun__mesh *m);
/* Peers whose connection is open. Thread: any. */
size_t gun__mesh_peer_count(const gun__mesh *m);
const char *gun__mesh_pid(const gun__mesh *m);

/* Counters (for /stats). */
typedef struct gun__mesh_stats {
    uint64_t conns_total, msgs_in, msgs_out, bytes_in, bytes_out;
    uint64_t dup_dropped, bad_json, too_big, bad_put, predicate_dropped;
    uint64_t puts, put_keys_accepted, put_keys_ignored, put_keys_deferred;
    uint64_t gets, gets_forwarded, acks_routed, pushes;
    /* SEA firewall (issue 5): puts refused by kind (gun__fw_kind), keys omitted by `<?N` */
    uint64_t fw_alias, fw_account, fw_unverified, fw_uncertified, fw_cert, fw_cert_dropped;
    uint64_t fw_hash, fw_omitted;
    uint64_t fw_backlog; /* messages refused: too many of their peer wait for the firewall */
    /* limits (issue 8) */
    uint64_t too_deep, too_many_keys, conns_refused_max, conns_refused_ip;
    uint64_t rate_limited, rate_disconnects, slow_dropped, get_replies_chunked, get_chunks;
    uint64_t repairs; /* puts sent back to a peer whose GET reply was older than our data */
    uint64_t subs;          /* subscriptions held now (a gauge) */
    uint64_t subs_evicted;  /* subscriptions ended by max_subs_per_peer / max_subs */
} gun__mesh_stats;
const gun__mesh_stats *gun__mesh_get_stats(const gun__mesh *m);

/* The instance reports every accepted change here (from any origin: peers, local puts,
 * deferred merges); subscribers get them in one push per soul at the end of the loop turn. */
void gun__mesh_changed(gun__mesh *m, gun__str soul, gun__str key, const gun__val *val,
                       double state);

/* The owner forwards the group commit's reports here: acks waiting for batch <= seq go
 * out, `ok` or the storage error. */
void gun__mesh_durable(gun__mesh *m, uint64_t seq, int err, const char *err_text);

/* ---- client side ---- */

/* One answer to a request, lent for the call: reply = NULL on timeout (err GUN_ETIMEDOUT)
 * or when the mesh closes (GUN_ECLOSED). For a put: the ack's ok / err. For a get: called
 * for every reply (put merged into the core already) and once more with done = 1 when every
 * peer asked has answered or the timeout ran out. */
typedef struct gun__mesh_reply {
    int err;
    const char *err_text;   /* peer's err text, if any */
    const gun__json *ok;    /* ack's ok */
    const gun__json *put;   /* get reply data */
    int done;
} gun__mesh_reply;
typedef void (*gun__mesh_reply_cb)(void *arg, const gun__mesh_reply *r);

/* Sends a put graph (a wire `put` object, copied) to the peers, or keeps it in the outbox
 * until one connects. cb (may be NULL) gets the first ack or the timeout. The write stays in
 * the outbox until some peer acknowledges it, even after a timeout. */
int gun__mesh_put(gun__mesh *m, const gun__json *put, gun__mesh_reply_cb cb, void *arg);

/* Asks the peers for soul (and key when key != NULL) and remembers the subscription so it is
 * asked again on every (re)connect. cb may be NULL. Returns GUN_OK even with no peer (cb then
 * gets done at once). */
int gun__mesh_get(gun__mesh *m, gun__str soul, const gun__str *key, gun__mesh_reply_cb cb,
                  void *arg);

/* Cancels callbacks for arg (a chain going away). */
void gun__mesh_cancel(gun__mesh *m, void *arg);

#endif

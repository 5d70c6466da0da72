/* chain: the instance (gun_t), its loop thread and op queue, and the chain API of gun.h:
 * get/put/set/on/once/map/back/off. Splits objects into nodes the way Gun.chain.put does
 * and turns store changes into listener callbacks. Internal to src/chain. */
#ifndef GUN_CHAIN_H
#define GUN_CHAIN_H

#include <stdatomic.h>
#include <uv.h>

#include "../core/core.h"
#include "../mesh/mesh.h"
#include "../sea/sea.h"
#include "../store/store.h"
#include "../util/util.h"
#include "../wire/wire.h"
#include "gun.h"

/* ---- chains ---- */
enum { GUN__CH_ROOT = 0, GUN__CH_SOUL = 1, GUN__CH_KEY = 2, GUN__CH_MAP = 3 };

struct gun_chain_s {
    gun_t *g;
    gun_chain *parent;
    int kind;
    int depth;   /* root 0, soul 1, then one per step */
    int nmaps;   /* map steps on the path, this one included */
    char *key;   /* soul (depth 1), key, or "*" (map); NULL for the root */
    size_t key_len;
    char *path;  /* '/'-joined, static for the chain's life */
    gun__map *kids;     /* key -> child chain; guarded by g->chain_lock */
    gun_chain *map;     /* the map chain of this one; guarded by g->chain_lock */
    gun_chain *all_next; /* every chain of the instance, for gun_close */
    /* gun_off bumps this at once (from any thread); a listener made before the bump is
     * dead from then on, even while its removal is still queued to the loop. */
    atomic_uint off_gen;
    struct gun__lis *lis; /* listeners of this chain (loop thread only) */
};

/* ---- listeners (loop thread only) ---- */
typedef struct gun__watch gun__watch;
typedef struct gun__wbucket gun__wbucket;
typedef struct gun__item gun__item;
typedef struct gun__lis gun__lis;

/* One dependency of a resolution: (soul, key) or (soul, any key). Linked into the
 * instance's per-soul bucket and into its owner's list. */
struct gun__watch {
    gun__watch *snext, *sprev; /* in the soul bucket */
    gun__watch *onext;         /* in the owner's list */
    gun__wbucket *b;
    char *key; /* NULL: any key of the soul */
    size_t key_len;
    gun__lis *l;
    gun__item *it; /* the resolution it belongs to (&l->base or a map item) */
    int final;     /* the value depends on it (else only the path to it does) */
    int enumw;     /* a map's enumerated node: a change of key k is item k's change */
};

struct gun__wbucket {
    char *soul;
    size_t len;
    gun__watch *head;
};

/* A map listener's item: one key of the enumerated node. */
struct gun__item {
    char *key;
    size_t key_len;
    gun__watch *w;
    char *ident; /* where the last resolution ended (soul and key), to spot moves */
    size_t ident_len;
    unsigned dirty; /* epoch it was marked in */
    int final_hit;  /* this epoch: a change of the value itself, not only of the path */
    int fired;      /* once: delivered */
};

/* Kinds of listeners. */
enum { GUN__LIS_ON = 0, GUN__LIS_ONCE = 1 };

/* Internal receiver (gun_get_sync) used instead of a user callback: status 0 = a value
 * (json NULL: not found), 1 = done, < 0 = an error code, also final. Runs on the loop. */
typedef void (*gun__lis_hook)(void *hook_arg, const char *json, const char *key, int status);

struct gun__lis {
    gun_t *g;
    gun_chain *c;
    int kind;
    gun_data_cb cb;
    void *arg;
    gun__lis_hook hook; /* when set: gets the values instead of cb; gun_off spares it */
    void *hook_arg;
    unsigned gen; /* c->off_gen when the call was made */
    int refs;     /* the instance's list + every queued event */
    int dead;
    int ismap;
    int done; /* a once that has fired: out of every list, queued events still delivered */
    int oom;  /* hook: a value was lost to OOM; the end reports GUN_ENOMEM */
    struct gun__ev *final_ev; /* hook: its end event, allocated up front so it cannot fail */
    gun__item base; /* the listener's own resolution (non-map), or the map's path */
    char *enum_soul; /* map: the node whose keys are the items; NULL if unresolved */
    size_t enum_len;
    gun__map *items; /* map: key -> gun__item */
    unsigned dirty_epoch;
    gun__item **dirty_items; /* map: items marked in this epoch */
    size_t ndirty, capdirty;
    /* once */
    uv_timer_t *timer;
    uint64_t once_start; /* mono ms of registration (caps the settling) */
    int once_done;
    gun__lis *cnext, *cprev; /* chain's list */
    gun__lis *gnext, *gprev; /* instance's list */
    gun__lis *dnext;         /* dirty list of one epoch */
};

/* ---- ops posted to the loop and events delivered on it ---- */
enum {
    GUN__OP_PUT = 1, /* data committed on the loop */
    GUN__OP_ACK,     /* only deliver an ack (invalid data) */
    GUN__OP_ON,
    GUN__OP_ONCE,
    GUN__OP_OFF,
    GUN__OP_CALL, /* run fn(arg) on the loop */
};

typedef struct gun__putreq gun__putreq;

typedef struct gun__op {
    struct gun__op *next;
    int type;
    gun_chain *c;
    gun__putreq *put;
    gun_ack_cb ack_cb;
    void *arg;
    int err;
    char *err_text;
    gun_data_cb data_cb;
    gun__lis_hook hook;
    void *hook_arg;
    unsigned gen;
    void (*fn)(gun_t *g, void *arg);
} gun__op;

enum { GUN__EV_DATA = 1, GUN__EV_ACK, GUN__EV_FINAL };

typedef struct gun__ev {
    struct gun__ev *next;
    int type;
    gun__lis *l; /* DATA / FINAL (holds a ref) */
    char *json;  /* owned; NULL = not found */
    char *key;   /* owned */
    gun_ack_cb ack_cb;
    void *arg;
    int err;
    char *err_text; /* owned */
    char *ok_json;  /* owned */
    char *soul;     /* owned */
} gun__ev;

/* A key accepted by the core, kept until listeners have been told. */
typedef struct gun__change {
    char *soul;
    size_t soul_len;
    char *key;
    size_t key_len;
} gun__change;

/* uv handles live apart from gun_t so that, with a caller's loop, their close callbacks
 * can run after gun_close has freed the instance. */
typedef struct gun__uvh {
    uv_async_t async;
    uv_timer_t due;
    int open; /* handles not closed yet; the block is freed when it drops to 0 */
} gun__uvh;

struct gun_s {
    gun_opts opts;
    gun__limits lim;
    uv_loop_t *loop;
    uv_loop_t own_loop;
    int own; /* the instance runs its own loop thread */
    void *ws_remains; /* libwebsockets' context, freed once the loop has closed its handles;
                         on a caller's loop it is not (gun_close returns before that) */
    uv_thread_t thread;
    uv_thread_t loop_tid;
    uv_sem_t started;
    gun__uvh *h;

    uv_mutex_t qlock; /* ops queue and `closing` */
    gun__op *q_head, *q_tail;
    int closing;

    uv_mutex_t chain_lock; /* the chain cache */
    gun_chain *root;
    gun_chain *chains; /* every chain */

    uv_mutex_t core_lock; /* the core and its clock (gun_state runs on any thread) */
    gun__store store;
    gun__core *core;
    gun__change *changes; /* collected during one core put */
    size_t nchanges, capchanges;
    int changes_oom;

    gun__mesh *mesh;    /* peers, when opts ask for any (loop thread only) */
    gun__store inner;   /* the real store */
    gun__wb *wb;        /* group commit in front of it: g->store is its face */
    int store_threaded; /* inner commits may run on a worker thread */
    uint64_t started_ms;   /* mono clock at open */
    uint64_t store_errors; /* failed commits */
    int store_failing;     /* the last commit failed */
    struct gun__lack *lacks_head, *lacks_tail; /* local put acks waiting for durability */
    size_t net_pending; /* GETs sent to peers and not answered yet */
    gun__map *asked;    /* souls already asked of the peers */
    gun__map *watch; /* soul -> gun__wbucket */
    gun__lis *lis;   /* every live listener */
    unsigned epoch;

    gun__ev *ev_head, *ev_tail;
    int dispatching;
    int stopping;     /* loop side: teardown started */
    int free_pending; /* gun_close ran inside a callback: free after dispatch */

    /* Test instrumentation (tests/interop/split_oracle.c): sees every put graph the chain
     * API builds, on the loop thread, before it is committed. */
    void (*trace_put)(void *arg, const gun__json *put);
    void *trace_arg;

    struct gun__user *user; /* SEA: the logged-in user (src/sea/user.c) */
};

/* gun.c */
int gun__on_loop(gun_t *g);
/* Queues an op for the loop (takes it); runs it inline on the loop thread. Returns
 * GUN_ECLOSED (and frees the op) when the instance is closing. */
int gun__post(gun_t *g, gun__op *op);
gun__op *gun__op_new(int type, gun_chain *c);
void gun__op_free(gun__op *op);
/* Events, delivered in order from the loop after the current work returns. */
void gun__ev_push(gun_t *g, gun__ev *ev);
void gun__kick(gun_t *g);
void gun__ack_event(gun_t *g, gun_ack_cb cb, void *arg, int err, const char *err_text,
                    const char *ok_json, const char *soul);
void gun__log(gun_t *g, gun_log_level lvl, const char *fmt, ...) GUN__PRINTF(3, 4);
/* The state clock under its lock. */
double gun__state_tick(gun_t *g);
/* Runs a validated put graph through the core and tells listeners. */
int gun__commit(gun_t *g, const gun__json *put, gun__err *e);

/* chain.c */
int gun__chain_root_new(gun_t *g);
void gun__chains_free(gun_t *g);
int gun__chain_child(gun_chain *c, const char *key, size_t len, int kind, gun_chain **out);

/* put.c */
struct gun__putreq {
    gun_chain *c;     /* chain written (for set: the set's chain) */
    char *top_soul;   /* soul the (wrapped) data is put at */
    gun__json *data;  /* owned: the value put at c (for set: the link or primitive) */
    gun__json *item;  /* set: the item object put at its own soul (owned), or NULL */
    char *item_soul;  /* set: the uuid soul of item */
    char *set_key;    /* set: the key under c */
    char *cert;       /* SEA certificate for writing into another user's graph, or NULL */
};
/* Parses and validates like Gun.chain.put; fills *out or the error (code and Gun.js's
 * text). Runs on any thread. */
int gun__put_prepare(gun_chain *c, const char *json, gun__putreq **out, gun__err *e);
int gun__set_prepare(gun_chain *c, const char *json, gun__putreq **out, gun__err *e);
void gun__putreq_free(gun__putreq *p);
/* Loop thread: splits, commits, and reports through cb. */
void gun__put_exec(gun_t *g, gun__putreq *p, gun_ack_cb cb, void *arg);
/* Gun's uuid: state base 36 without the point + n random chars. out holds >= 64. */
int gun__uuid(gun_t *g, size_t n, char *out, size_t cap);

/* radix.c */
/* Number.prototype.toString(radix) as V8 prints it; returns the length or 0 if cap is
 * too small. */
size_t gun__num_to_radix(double v, int radix, char *out, size_t cap);

/* gun.c: acks a local put once everything it wrote is durable (GUN_OK now if it is). */
void gun__ack_durable(gun_t *g, gun_ack_cb cb, void *arg, const char *soul);

/* gun.c: asks the peers for a soul the first time a listener needs it. */
void gun__net_ask(gun_t *g, const char *soul, size_t len);

/* listen.c */
int gun__lis_add(gun_t *g, gun_chain *c, int kind, gun_data_cb cb, void *arg,
                 gun__lis_hook hook, void *hook_arg, unsigned gen);
void gun__lis_off(gun_t *g, gun_chain *c, unsigned gen);
/* After a core put or due run: tell listeners about g->changes, then clear them. */
void gun__notify(gun_t *g);
/* Data event delivery: false when the listener is dead or off. */
int gun__lis_live(gun__lis *l);
void gun__lis_unref(gun__lis *l);
void gun__lis_close_all(gun_t *g);
/* JSON of the node soul (with "_" meta) or NULL when it has no keys. */
char *gun__node_json(gun_t *g, gun__str soul, int *oom);

#endif

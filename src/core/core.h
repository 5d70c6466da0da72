/* core: graph values and validation, the state clock, HAM, dedup, and the merge engine
 * that runs every put against a store. Nothing here knows about sockets or threads. */
#ifndef GUN_CORE_H
#define GUN_CORE_H

#include "../util/util.h"
#include "../wire/wire.h"

/* ---- values (spec §1.2) ---- */
typedef enum gun__vtype {
    GUN__V_NULL,
    GUN__V_BOOL,
    GUN__V_NUM,
    GUN__V_STR,
    GUN__V_LINK /* s = the linked soul */
} gun__vtype;

typedef struct gun__val {
    gun__vtype t;
    int b;
    double n;
    gun__str s; /* STR text or LINK soul; a view (owner documented where produced) */
} gun__val;

/* Converts a JSON value to a graph value (views into j). Errors: GUN_EBADVALUE for arrays,
 * objects that are not exactly {"#": non-empty string}, and non-finite numbers. As in
 * Gun.valid, {"#":""} is not a link (the empty soul is falsy in JS), so it is invalid. */
int gun__val_from_json(const gun__json *j, gun__val *out);
/* New JSON value (copies strings). NULL on OOM. */
gun__json *gun__val_to_json(const gun__val *v);
/* JSON.stringify(v) (JS mode: a link is {"#":"soul"}). */
void gun__val_write(gun__buf *b, const gun__val *v);
/* Compares JSON.stringify(a) with JSON.stringify(b) as JS strings (UTF-16 code units).
 * Allocation-free except for strings that need JSON escaping; on OOM there it falls back
 * to an exact allocation-free comparison, so it never fails. */
int gun__val_cmp(const gun__val *a, const gun__val *b);
/* a === b as Gun compares: same type and content; 0 === -0. Links compare by soul: Gun.js
 * compares link objects by reference, which is never true for values from two messages,
 * but then falls to JSON.stringify(a) <= JSON.stringify(b), which is the same outcome. */
int gun__val_eq(const gun__val *a, const gun__val *b);
/* Deep copy into owned memory: s.p becomes a fresh NUL-terminated allocation (even for
 * ""); free with gun__val_clear. Returns GUN_OK or GUN_ENOMEM (dst untouched then). */
int gun__val_copy(gun__val *dst, const gun__val *src);
void gun__val_clear(gun__val *v);

/* ---- validated graphs (spec §1.1, §3.9) ---- */
typedef struct gun__field {
    gun__str key; /* views into the put JSON */
    gun__val val;
    double state;
} gun__field;

typedef struct gun__node {
    gun__str soul;
    gun__field *f;
    size_t n;
} gun__node;

typedef struct gun__graph {
    gun__node *nodes;
    size_t n;
    size_t keys; /* total fields over all nodes: the size gun__core_put's `res` needs */
} gun__graph;

/* Validates a wire `put` object and builds views into it (put must outlive g).
 * The whole put is rejected on the first error; nothing of it may be merged. Checks, in
 * Gun.js's order (souls, then keys, in the put's insertion order):
 *  - put is not an object: GUN_ENONODE. A put with truthy "#" and "." members is the
 *    old single-key form, which Gun.js ignores: GUN_OK with an empty graph.
 *  - soul "" or containing NUL: GUN_EBADSOUL (Gun.js silently stops at an empty soul).
 *  - node falsy (null, false, 0, ""): GUN_ENONODE "no node."; any other non-object node:
 *    GUN_ENOMETA (Gun.js reads node._ as undefined).
 *  - "_" falsy or missing: GUN_ENOMETA "no meta."; "_" a non-object or "_"["#"] !== soul:
 *    GUN_ESOULNOTSAME "soul not same.".
 *  - "_"[">"] falsy or missing: GUN_ENOSTATE "no state."; a non-object: GUN_ENOSTATE.
 *  - per key (skipping "_"): key "" is skipped, as Gun.js's loop skips it; a key with NUL:
 *    GUN_EBADKEY; state missing or not a number: GUN_ENOSTATE "no state."; a number
 *    that is not finite: GUN_ESTATE; invalid value: GUN_EBADVALUE "bad <typeof>".
 * e->msg follows Gun.js's text with names in full (cut to fit):
 * "Invalid graph! 'age' on 'alice' no state." */
int gun__graph_from_put(const gun__json *put, gun__graph *g, gun__err *e);
void gun__graph_free(gun__graph *g);

/* ---- state clock (spec §2.1) ---- */
typedef struct gun__clock {
    double last;  /* -Infinity initially */
    double n;
    double drift; /* ms added to every state */
} gun__clock;

void gun__clock_init(gun__clock *c, double drift);
/* Gun.state() given the wall time t (integer ms): strictly increasing, even when t goes
 * back. Equal to Gun.js for drift 0; with a drift Gun.js compares `last` (drifted) with
 * the undrifted t, so a positive drift makes N grow forever and a negative one repeats
 * states; here the comparison uses t + drift. */
double gun__clock_next(gun__clock *c, double t);
/* gun__clock_next(c, gun__now_ms()). */
double gun__clock_now(gun__clock *c);

/* ---- HAM (spec §2.2) ---- */
typedef enum gun__ham {
    GUN__HAM_ACCEPT = 0,   /* newer, or equal state and greater JSON text */
    GUN__HAM_OLD = 1,      /* state < current state: ignored */
    GUN__HAM_SAME = 2,     /* equal state and equal-or-lesser JSON text: ignored */
    GUN__HAM_DEFER = 3,    /* state > now: merge again when due */
    GUN__HAM_DROPPED = 4   /* state > now but the deferral queue is full: dropped (only
                              gun__core_put reports this; gun__ham_decide never does) */
} gun__ham;

/* Decides one incoming (state, value) against the current one. have_cur = 0 when the key
 * is unknown (was = -Infinity). `now` is the local machine state (gun__clock_now). */
gun__ham gun__ham_decide(double now, double in_state, const gun__val *in, int have_cur,
                         double cur_state, const gun__val *cur);

/* ---- dedup (spec §3.3) ---- */
typedef struct gun__dedup gun__dedup;

/* age_ms: the window (9000); max: cap on entries (0 = no cap), the entry sighted longest
 * ago is evicted first. Check and track are O(1): a seeded hash table (peers choose the
 * ids) plus a list ordered by last sighting. NULL on OOM. */
gun__dedup *gun__dedup_new(uint32_t age_ms, uint32_t max);
void gun__dedup_free(gun__dedup *d);
/* dup.check: 1 if id was seen within the window (and refreshes it: a re-sighting restarts
 * the window), else 0. An id whose window has passed is forgotten here even if
 * gun__dedup_expire has not run yet (Gun.js keeps it until its drop timer fires). */
int gun__dedup_check(gun__dedup *d, gun__str id, uint64_t now_ms);
/* dup.track: records (or refreshes) id. Returns GUN_OK or GUN_ENOMEM. */
int gun__dedup_track(gun__dedup *d, gun__str id, uint64_t now_ms);
/* dup.track plus dup.s[id].via: records the peer a message came from (an opaque serial,
 * 0 = this node) so replies can be routed back along it. A later track of the same id keeps
 * the first via (the first nonzero one: gun__dedup_track records none); a sighting after
 * the window has passed starts afresh. */
int gun__dedup_track_via(gun__dedup *d, gun__str id, uint64_t via, uint64_t now_ms);
/* The via recorded for id, or 0 when unknown or expired. Does not refresh the entry. */
uint64_t gun__dedup_via(const gun__dedup *d, gun__str id, uint64_t now_ms);
/* Forgets ids older than the window; returns how many remain. */
size_t gun__dedup_expire(gun__dedup *d, uint64_t now_ms);
size_t gun__dedup_count(const gun__dedup *d);

/* ---- merge engine ---- */
struct gun__store;

/* Outcome of one key of a put. */
typedef struct gun__merge_res {
    gun__str soul, key;
    gun__ham result;
    double state;
} gun__merge_res;

/* Called for every accepted key after it is written (views lent for the call). */
typedef void (*gun__change_cb)(void *arg, gun__str soul, gun__str key, const gun__val *val,
                               double state);

typedef struct gun__core gun__core;

/* The store is lent: it must outlive the core. NULL on OOM. */
gun__core *gun__core_new(struct gun__store *store, double drift);
void gun__core_free(gun__core *c); /* frees the deferral queue too */
gun__clock *gun__core_clock(gun__core *c);
void gun__core_on_change(gun__core *c, gun__change_cb cb, void *arg);
/* Cap on deferred (future) keys held at once; default GUN__CORE_DEFER_MAX. Gun.js arms one
 * timer per future key without bound; a peer sending far-future states must not be able
 * to grow memory without bound here. */
#define GUN__CORE_DEFER_MAX 100000
void gun__core_set_defer_max(gun__core *c, size_t max);
size_t gun__core_deferred(const gun__core *c); /* keys waiting in the queue */

/* Merges a validated graph: HAM per key against the store, writes every accepted key in
 * one store write call (one transaction), then calls the change callback for each
 * accepted key in graph order. The result equals merging the keys one by one in graph
 * order: a key that appears twice is judged the second time against the first if that
 * was accepted, only the final value is written, and both acceptances are reported.
 * Future keys are copied into the core's deferral queue (GUN__HAM_DEFER), or dropped when
 * it is full (GUN__HAM_DROPPED). `res` (may be NULL) receives one entry per key in graph
 * order (views into g); it must hold g->keys entries.
 * The callback may call back into the core (it runs after the write, on the caller's
 * thread). Returns GUN_OK, or the store's error or GUN_ENOMEM: then nothing was written,
 * nothing queued, no callback ran and `res` is unspecified. */
int gun__core_put(gun__core *c, const gun__graph *g, gun__merge_res *res);
/* Ms until the earliest deferred key is due (from the wall clock; 0 when already due), or
 * -1 when none. May exceed a timer's range: clamp (Gun.js re-checks after 2^31-1 ms). */
int64_t gun__core_next_due(const gun__core *c);
/* Merges every deferred key that is due now (HAM runs again for them, against the store
 * as it is now), in due order, in one store write. Returns how many keys were accepted.
 * On a store error or OOM the due keys stay queued and 0 is returned (`err`, may be NULL,
 * gets the code; GUN_OK otherwise). */
size_t gun__core_run_due(gun__core *c, int *err);


#endif

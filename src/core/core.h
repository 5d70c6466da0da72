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
 * objects that are not exactly {"#": non-empty string}, and non-finite numbers. */
int gun__val_from_json(const gun__json *j, gun__val *out);
/* New JSON value (copies strings). NULL on OOM. */
gun__json *gun__val_to_json(const gun__val *v);
/* JSON.stringify(v) (JS mode: a link is {"#":"soul"}). */
void gun__val_write(gun__buf *b, const gun__val *v);
/* Compares JSON.stringify(a) with JSON.stringify(b) as JS strings (UTF-16 code units). */
int gun__val_cmp(const gun__val *a, const gun__val *b);
int gun__val_eq(const gun__val *a, const gun__val *b); /* a === b as Gun compares (links by soul) */
/* Deep copy into owned memory: s.p becomes a fresh allocation; free with gun__val_clear. */
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
} gun__graph;

/* Validates a wire `put` object and builds views into it (put must outlive g).
 * Rules, in Gun.js's order per soul: node is an object (GUN_ENONODE "no node"), has "_"
 * object (GUN_ENOMETA), _["#"] equals the soul (GUN_ESOULNOTSAME), _[">"] is an object
 * (GUN_ENOSTATE), every key but "_" has a finite number state (GUN_ENOSTATE), every value is
 * valid (GUN_EBADVALUE). Souls must be non-empty without NUL (GUN_EBADSOUL); keys must not
 * contain NUL (GUN_EBADKEY). e->msg names soul and key, e.g.
 * "Invalid graph! no state on 'alice'.'age'". */
int gun__graph_from_put(const gun__json *put, gun__graph *g, gun__err *e);
void gun__graph_free(gun__graph *g);

/* ---- state clock (spec §2.1) ---- */
typedef struct gun__clock {
    double last;  /* -Infinity initially */
    double n;
    double drift; /* ms added to every state */
} gun__clock;

void gun__clock_init(gun__clock *c, double drift);
/* Gun.state() given the wall time t (integer ms): strictly increasing. */
double gun__clock_next(gun__clock *c, double t);
/* gun__clock_next(c, gun__now_ms()). */
double gun__clock_now(gun__clock *c);

/* ---- HAM (spec §2.2) ---- */
typedef enum gun__ham {
    GUN__HAM_ACCEPT = 0,   /* newer, or equal state and greater JSON text */
    GUN__HAM_OLD = 1,      /* state < current state: ignored */
    GUN__HAM_SAME = 2,     /* equal state and equal-or-lesser JSON text: ignored */
    GUN__HAM_DEFER = 3     /* state > now: merge again when due */
} gun__ham;

/* Decides one incoming (state, value) against the current one. have_cur = 0 when the key
 * is unknown (was = -Infinity). `now` is the local machine state (gun__clock_now). */
gun__ham gun__ham_decide(double now, double in_state, const gun__val *in, int have_cur,
                         double cur_state, const gun__val *cur);

/* ---- dedup (spec §3.3) ---- */
typedef struct gun__dedup gun__dedup;

/* age_ms: the window (9000); max: cap on entries, the oldest sighting is evicted first. */
gun__dedup *gun__dedup_new(uint32_t age_ms, uint32_t max);
void gun__dedup_free(gun__dedup *d);
/* dup.check: 1 if id was seen within the window (and refreshes it: a re-sighting restarts
 * the window), else 0. */
int gun__dedup_check(gun__dedup *d, gun__str id, uint64_t now_ms);
/* dup.track: records (or refreshes) id. Returns GUN_OK or GUN_ENOMEM. */
int gun__dedup_track(gun__dedup *d, gun__str id, uint64_t now_ms);
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

/* Called for every accepted key after it is written (value lent for the call). */
typedef void (*gun__change_cb)(void *arg, gun__str soul, gun__str key, const gun__val *val,
                               double state);

typedef struct gun__core gun__core;

gun__core *gun__core_new(struct gun__store *store, double drift);
void gun__core_free(gun__core *c);
gun__clock *gun__core_clock(gun__core *c);
void gun__core_on_change(gun__core *c, gun__change_cb cb, void *arg);

/* Merges a validated graph: HAM per key against the store, writes every accepted key in
 * one store transaction, then reports each change. Future keys are copied into the
 * core's deferral queue. `res` (may be NULL) receives one entry per key in graph order
 * (views into g); it must hold the graph's total key count.
 * Returns GUN_OK or the store's / GUN_ENOMEM error (nothing is reported as accepted then). */
int gun__core_put(gun__core *c, const gun__graph *g, gun__merge_res *res);
/* Ms until the earliest deferred key is due (from the wall clock), or -1 when none. */
int64_t gun__core_next_due(const gun__core *c);
/* Merges every deferred key that is due now (HAM runs again for them). Returns how many
 * were merged. */
size_t gun__core_run_due(gun__core *c);

#endif

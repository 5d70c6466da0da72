/* store: the graph's storage behind one small ops table. Backends: mem (here), lmdb and
 * file (storage issue). The core never #ifdefs on a backend. */
#ifndef GUN_STORE_H
#define GUN_STORE_H

#include "../core/core.h"

#define GUN__STORE_OPS_VERSION 1

/* A lex range over keys or souls (spec §3.5). Unset parts are len 0 with has_* = 0.
 * Order is UTF-16 code-unit order (JS string order) in every backend. */
typedef struct gun__lex {
    int has_eq, has_prefix, has_gte, has_lte;
    gun__str eq, prefix, gte, lte;
    int reverse;
} gun__lex;

/* One record to write. */
typedef struct gun__store_rec {
    gun__str soul, key;
    gun__val val;
    double state;
} gun__store_rec;

/* Visitors get views lent for the call; return nonzero to stop the walk. A visitor must
 * not write to the store it is walking. */
typedef int (*gun__store_visit)(void *arg, gun__str soul, gun__str key, const gun__val *val,
                                double state);
typedef int (*gun__soul_visit)(void *arg, gun__str soul);

typedef struct gun__store_cfg {
    const char *path; /* data directory; NULL for mem */
    /* Persistent stores: skip fsync. A process crash (SIGKILL) still loses no returned
     * write; an OS crash or power loss may lose recent ones (lmdb: MDB_NOSYNC, which may
     * also corrupt the database then). 0 (default): durable on return. */
    int nosync;
    /* lmdb: cap on the data file (its map size), in bytes; a write that needs more
     * fails with GUN_EIO and changes nothing. 0: no cap (the map grows on demand). */
    size_t max_bytes;
} gun__store_cfg;

typedef struct gun__store_stat {
    int64_t souls; /* nodes with at least one key */
    int64_t keys;  /* soul/key records */
    int64_t bytes; /* space the data takes on disk (LMDB: pages in use) */
} gun__store_stat;

typedef struct gun__store_ops {
    int version; /* GUN__STORE_OPS_VERSION */
    const char *name;
    int (*open)(void **st, const gun__store_cfg *cfg, gun__err *e);
    void (*close)(void *st);
    /* One key: calls cb once if present. Returns GUN_OK or GUN_ENOTFOUND. */
    int (*get_key)(void *st, gun__str soul, gun__str key, gun__store_visit cb, void *arg);
    /* A node's keys in order, filtered by lex (NULL: all). GUN_ENOTFOUND if the soul has no
     * keys at all. */
    int (*get_node)(void *st, gun__str soul, const gun__lex *lex, gun__store_visit cb,
                    void *arg);
    /* Souls in order, filtered by lex (NULL: all). */
    int (*souls)(void *st, const gun__lex *lex, gun__soul_visit cb, void *arg);
    /* Writes all records in one transaction: all or nothing; durable on return for
     * persistent backends. Records are applied in order (a later record for the same
     * soul and key wins). The store copies what it keeps. A record with an empty soul, a
     * NUL byte in soul or key, or a STR/LINK value without text is refused with
     * GUN_EINVAL before anything is written; other errors: GUN_ENOMEM, GUN_EIO. */
    int (*write)(void *st, const gun__store_rec *recs, size_t n, gun__err *e);
    /* What the store holds now, for /stats: cheap (no scan), any thread. Optional (NULL);
     * a figure the store cannot give cheaply is -1. */
    void (*stat)(void *st, gun__store_stat *out);
} gun__store_ops;

typedef struct gun__store {
    const gun__store_ops *ops;
    void *st;
} gun__store;

extern const gun__store_ops gun__store_mem_ops;
extern const gun__store_ops gun__store_lmdb_ops;
extern const gun__store_ops gun__store_file_ops;

/* The checks every persistent store makes on record i before writing anything: a soul that
 * is non-empty without NUL, a key without NUL, both canonical WTF-8 (the order and the
 * on-disk bytes depend on it), a known value type, text where the type needs it. GUN_OK or
 * GUN_EINVAL, the message naming the store (`tag`) and the record. */
int gun__store_rec_check(const gun__store_rec *r, size_t i, const char *tag, gun__err *e);
/* mkdir -p for a store's data directory, each directory it creates made durable in its
 * parent (fsync); then checks that path is a directory. GUN_OK, GUN_ENOMEM or GUN_EIO with
 * a message naming the store (`tag`) and the component that failed. */
int gun__store_mkdir_p(const char *path, const char *tag, gun__err *e);
/* fsyncs a directory so that entries just made in it survive a power loss; 0 or errno. */
int gun__store_fsync_dir(const char *dir);

int gun__store_open(gun__store *s, const gun__store_ops *ops, const gun__store_cfg *cfg,
                    gun__err *e);
void gun__store_close(gun__store *s);

/* Does key match the lex? (used by backends that filter in memory) All conditions that
 * are set must hold; a NULL lex matches everything. Prefix is JS startsWith (UTF-16). */
int gun__lex_match(const gun__lex *lex, gun__str key);
/* JS key.startsWith(prefix) over WTF-8 text. */
int gun__lex_has_prefix(gun__str key, gun__str prefix);
/* For ordered scans: is key below every key the lex can match (so a forward scan has not
 * reached the range yet), or above them all (a forward scan is past it)? Both are
 * monotone in UTF-16 order, so a scan can seek to the first non-below key and stop at
 * the first above one. */
int gun__lex_below(const gun__lex *lex, gun__str key);
int gun__lex_above(const gun__lex *lex, gun__str key);


/* ---- group commit (wb.c): a store in front of the real one ---- */
typedef struct gun__wb gun__wb;

/* A batch is durable (err == GUN_OK) or failed; every write queued with ticket <= seq is
 * settled. err_text is lent for the call. Loop thread. */
typedef void (*gun__wb_durable_cb)(void *arg, uint64_t seq, int err, const char *err_text);

typedef struct gun__wb_cfg {
    void *loop;         /* uv_loop_t * */
    gun__store *inner;  /* the real store; not owned */
    int threaded;       /* inner writes may run on a worker while the loop reads (lmdb) */
    gun__wb_durable_cb on_durable;
    void *arg;
} gun__wb_cfg;

int gun__wb_new(gun__wb **out, const gun__wb_cfg *cfg);
/* The store to hand to the core: reads see every queued write, write() queues. */
void gun__wb_store(gun__wb *wb, gun__store *out);
/* The batch the next write joins; compare with on_durable's seq. */
uint64_t gun__wb_ticket(const gun__wb *wb);
uint64_t gun__wb_durable(const gun__wb *wb);
/* 0 when nothing is pending; else the batch number whose durability settles everything
 * queued so far. */
uint64_t gun__wb_barrier(const gun__wb *wb);
/* Records queued and not yet durable. */
size_t gun__wb_pending(const gun__wb *wb);
/* Commits everything queued before returning (blocking the loop thread): for close. */
int gun__wb_drain(gun__wb *wb);
/* After drain. Closes its handle: the loop must run once more to release the memory. */
void gun__wb_free(gun__wb *wb);


/* ---- little-endian fields and double bits, for the persistent stores' record formats ---- */
#include <string.h>
static inline void gun__put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static inline uint64_t gun__get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}
static inline void gun__put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static inline uint32_t gun__get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t gun__dbits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}
static inline double gun__bitsd(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

#endif

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
} gun__store_cfg;

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
} gun__store_ops;

typedef struct gun__store {
    const gun__store_ops *ops;
    void *st;
} gun__store;

extern const gun__store_ops gun__store_mem_ops;

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

#endif

/* The LMDB store: the default persistent backend (data directory cfg->path holding
 * LMDB's data.mdb and lock.mdb).
 *
 * Layout (format 1; docs/storage.md has the full argument):
 *   named DB "meta": "format" -> "1"
 *   named DB "recs": one entry per (soul, key), ordered by lm_cmp
 *     key   = flag byte + text
 *             flag 0 ("short"): text = soul 0x00 key, whole, when it is at most LM_P bytes
 *             flag 1 ("long"):  text = the shortest code-point-aligned prefix of
 *                               soul 0x00 key that is >= LM_P bytes, then an 8-byte hash
 *             (flag 2 only in seek keys: sorts after every long entry with its text)
 *     value = state (8 bytes, IEEE-754 bits, little-endian) + type byte + payload;
 *             long entries add the whole soul 0x00 key (u32 length, bytes, 0x00) after
 *             the type byte, which has 0x80 set.
 * lm_cmp orders texts by UTF-16 code units (JS string order), then by flag, then by the
 * hash bytes. 0x00 cannot occur in a soul or key and is the smallest code unit, so
 * comparing "soul 0x00 key" texts orders by soul, then by key, as JS would.
 *
 * Why two forms: LMDB keys are at most 511 bytes. Short entries (all but pathological
 * ones) are ordered exactly by their key. Long entries that share a text form a "group"
 * whose members LMDB orders by hash; scans buffer one group at a time and sort it by the
 * full text kept in the values. Point lookups of long entries probe hash, hash+1, ...
 * (nothing is ever deleted, so open addressing needs no tombstones). That ordering
 * argument needs every soul and key to be canonical WTF-8 (one byte string per UTF-16
 * string), so the store refuses others with GUN_EINVAL; JSON parsing yields only those.
 *
 * Reads run in a read transaction (cached: reset and renewed per call) and lend views
 * into LMDB's map; they never load more than one record, or one group, at a time.
 * Writes run in one write transaction committed with LMDB's default (synchronous) flags.
 *
 * Threads: reads may run on one or more threads while a write runs on another (group
 * commit does its transaction on a worker while the loop keeps reading). Writes must be
 * serialized by the caller. The only thing a write can do that readers must not see
 * half-done is remapping (growing the map): it waits for readers on `rw`. */
#include "../store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define LM_P 480         /* longest text stored whole (short form) */
#define LM_KEYMAX 512    /* 1 + LM_P + 3 + 8 < 511 (LMDB's key limit) */
#define LM_PROBES 64     /* hash probes before giving up (only crafted collisions get far) */
#define LM_FORMAT "1"
#define LM_MIN_MAP (1u << 20)

enum { T_NULL, T_FALSE, T_TRUE, T_NUM, T_STR, T_LINK, T_LONG = 0x80 };

/* Persisted: the long-entry hash is gun__hash64 (SipHash-1-3) under this fixed key.
 * Changing either changes the on-disk format (test_store_lmdb pins a value). */
static const uint64_t lm_hkey[2] = {0x6c696267756e2d6cULL, 0x6d64622d6c6f6e67ULL};

typedef struct lm {
    MDB_env *env;
    MDB_dbi recs;
    pthread_mutex_t mu;  /* guards rtxn, rtxn_busy */
    pthread_rwlock_t rw; /* read ops hold it shared; remapping holds it exclusive */
    int locks;           /* mu and rw were initialized */
    MDB_txn *rtxn;       /* cached read transaction, reset between calls */
    int rtxn_busy;
    size_t mapsize, mapmax; /* mapmax 0: grow without a cap */
    int nosync;
    char *path;
} lm;

/* ---- small helpers ---- */


static int is_cont(unsigned char c) { return (c & 0xC0) == 0x80; }

/* Refuses a directory that holds something else (a Gun.js radata folder, a file store,
 * a home directory given by mistake) instead of creating a store beside it. */
static int check_foreign(const char *path, gun__err *e)
{
    DIR *d = opendir(path);
    if (!d)
        return gun__fail(e, GUN_EIO, "store lmdb: cannot read data directory '%s': %s", path,
                         strerror(errno));
    struct dirent *de;
    int found_data = 0;
    char other[64] = "";
    while ((de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        if (!strcmp(n, "data.mdb"))
            found_data = 1;
        else if (n[0] != '.' && strcmp(n, "lock.mdb") && strcmp(n, "lost+found") && !other[0])
            snprintf(other, sizeof other, "%.60s", n);
    }
    closedir(d);
    if (!found_data && other[0])
        return gun__fail(e, GUN_EINVAL,
                         "store lmdb: '%s' is not empty and holds no LMDB store (found '%s'); "
                         "give a new or empty directory",
                         path, other);
    return GUN_OK;
}

static const char *lm_why(int mrc)
{
    switch (mrc) {
    case MDB_MAP_FULL: return "database full (map size limit reached)";
    case ENOSPC: return "no space left on device (disk full)";
    case EFBIG: return "file too large (file size limit reached)";
    case EACCES: return "permission denied";
    case EROFS: return "read-only file system";
    case EIO: return "input/output error";
    case MDB_INVALID: return "not an LMDB file, or its header is corrupt";
    case MDB_CORRUPTED: return "database is corrupt";
    case MDB_PAGE_NOTFOUND: return "database is corrupt (page not found)";
    case MDB_VERSION_MISMATCH: return "written by an incompatible LMDB version";
    case MDB_PANIC: return "LMDB hit a fatal error earlier; reopen the store";
    default: return mdb_strerror(mrc);
    }
}

/* LMDB reports a short write (what a full disk or a file size limit give) as EIO: say
 * which of the two is likely. */
static void io_hint(const lm *s, char *h, size_t cap)
{
    h[0] = 0;
    struct statvfs v;
    if (statvfs(s->path, &v) == 0) {
        unsigned long long avail = (unsigned long long)v.f_bavail * v.f_frsize;
        if (avail < (16ull << 20)) {
            snprintf(h, cap, " (the file system has %llu KiB free: disk full?)", avail >> 10);
            return;
        }
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        snprintf(h, cap, " (the process file size limit is %llu KiB)",
                 (unsigned long long)rl.rlim_cur >> 10);
}

static int lm_fail(const lm *s, gun__err *e, int mrc, const char *what)
{
    int code = mrc == ENOMEM ? GUN_ENOMEM : GUN_EIO;
    if (mrc == MDB_MAP_FULL)
        return gun__fail(e, code, "store lmdb: %s: %s: database full (map size %zu MiB reached)",
                         s->path, what, s->mapsize >> 20);
    char hint[96] = "";
    if (mrc == EIO)
        io_hint(s, hint, sizeof hint);
    return gun__fail(e, code, "store lmdb: %s: %s: %s%s", s->path, what, lm_why(mrc), hint);
}

/* ---- keys ---- */

/* The comparator: text by UTF-16 units, then flag, then hash bytes. Tolerates malformed
 * keys (it must not crash on a corrupt page): a missing flag reads as short. */
static int lm_cmp(const MDB_val *a, const MDB_val *b)
{
    const unsigned char *pa = a->mv_data, *pb = b->mv_data;
    size_t la = a->mv_size, lb = b->mv_size;
    int fa = la ? pa[0] : 0, fb = lb ? pb[0] : 0;
    size_t ta = la ? la - 1 : 0, tb = lb ? lb - 1 : 0;
    if (fa == 1 && ta >= 8)
        ta -= 8;
    if (fb == 1 && tb >= 8)
        tb -= 8;
    int c = gun__utf16_cmp((const char *)pa + (la ? 1 : 0), ta, (const char *)pb + (lb ? 1 : 0), tb);
    if (c)
        return c;
    if (fa != fb)
        return fa < fb ? -1 : 1;
    if (fa == 1) {
        size_t ha = la - 1 - ta, hb = lb - 1 - tb;
        int h = memcmp(pa + 1 + ta, pb + 1 + tb, ha < hb ? ha : hb);
        if (h)
            return h;
        return ha < hb ? -1 : ha > hb;
    }
    return 0;
}

/* Length of the long-form text of composite c (len > LM_P): the shortest prefix of at
 * least LM_P bytes that ends where a code point starts. */
static size_t lm_cut(const char *c, size_t len)
{
    size_t i = LM_P;
    /* Canonical text has at most 3 continuation bytes in a row; the cap keeps a key
     * built from anything else inside LM_KEYMAX. */
    while (i < len && i < LM_P + 3 && is_cont((unsigned char)c[i]))
        i++;
    return i;
}

/* The LMDB key for composite c: short form, or long form with hash h (probe applied). */
static size_t lm_key(unsigned char *k, const char *c, size_t len, uint64_t h)
{
    if (len <= LM_P) {
        k[0] = 0;
        memcpy(k + 1, c, len);
        return 1 + len;
    }
    size_t t = lm_cut(c, len);
    k[0] = 1;
    memcpy(k + 1, c, t);
    for (int i = 0; i < 8; i++) /* big-endian: memcmp order is numeric order */
        k[1 + t + i] = (unsigned char)(h >> (56 - 8 * i));
    return 1 + t + 8;
}

/* Seek keys. lo: every entry whose composite is >= c sorts at or after it. hi: every
 * entry whose composite is < c sorts before it. For long c the seek lands on the edge of
 * c's group, which the scanner buffers whole and filters exactly. */
static size_t lm_key_lo(unsigned char *k, const char *c, size_t len)
{
    return lm_key(k, c, len, 0);
}

static size_t lm_key_hi(unsigned char *k, const char *c, size_t len)
{
    if (len <= LM_P)
        return lm_key(k, c, len, 0);
    size_t t = lm_cut(c, len);
    k[0] = 2;
    memcpy(k + 1, c, t);
    return 1 + t;
}

/* soul 0x00 key, in buf (stack) when it fits, else in *heap. NULL on OOM. */
static const char *composite(gun__str soul, gun__str key, char *buf, size_t cap, char **heap,
                             size_t *len)
{
    *heap = NULL;
    *len = soul.len + 1 + key.len;
    char *p = buf;
    if (*len > cap) {
        p = *heap = gun__malloc(*len);
        if (!p)
            return NULL;
    }
    memcpy(p, soul.p, soul.len);
    p[soul.len] = 0;
    if (key.len)
        memcpy(p + soul.len + 1, key.p, key.len);
    return p;
}

/* ---- values ---- */

typedef struct lm_rec {
    gun__str soul, key;
    gun__val val;
    double state;
} lm_rec;

/* Decodes a value (and, for long entries, the whole composite). -1 if malformed. */
static int lm_decode(const MDB_val *v, int lng, lm_rec *r, gun__str *whole)
{
    const unsigned char *p = v->mv_data;
    size_t n = v->mv_size;
    if (n < 9)
        return -1;
    r->state = gun__bitsd(gun__get64(p));
    int t = p[8];
    if (!!(t & T_LONG) != lng)
        return -1;
    t &= ~T_LONG;
    p += 9, n -= 9;
    if (lng) {
        if (n < 4)
            return -1;
        uint32_t fl = gun__get32(p);
        p += 4, n -= 4;
        if (fl >= n || p[fl] != 0)
            return -1;
        whole->p = (const char *)p;
        whole->len = fl;
        p += fl + 1, n -= fl + 1;
    }
    memset(&r->val, 0, sizeof r->val);
    switch (t) {
    case T_NULL: r->val.t = GUN__V_NULL; return n == 0 ? 0 : -1;
    case T_FALSE: r->val.t = GUN__V_BOOL; return n == 0 ? 0 : -1;
    case T_TRUE: r->val.t = GUN__V_BOOL, r->val.b = 1; return n == 0 ? 0 : -1;
    case T_NUM:
        if (n != 8)
            return -1;
        r->val.t = GUN__V_NUM;
        r->val.n = gun__bitsd(gun__get64(p));
        return 0;
    case T_STR:
    case T_LINK:
        r->val.t = t == T_STR ? GUN__V_STR : GUN__V_LINK;
        r->val.s.p = (const char *)p;
        r->val.s.len = n;
        return 0;
    default: return -1;
    }
}

/* Splits a composite at its first 0x00. -1 if it has none. */
static int split(const char *c, size_t len, lm_rec *r)
{
    const char *z = memchr(c, 0, len);
    if (!z)
        return -1;
    r->soul.p = c;
    r->soul.len = (size_t)(z - c);
    r->key.p = z + 1;
    r->key.len = len - r->soul.len - 1;
    return 0;
}

/* Decodes the entry (k, v) into r. For long entries the composite comes from the value. */
static int lm_entry(const MDB_val *k, const MDB_val *v, lm_rec *r)
{
    const unsigned char *kp = k->mv_data;
    if (!k->mv_size || kp[0] > 1)
        return -1;
    gun__str whole;
    if (kp[0] == 0) {
        whole.p = (const char *)kp + 1;
        whole.len = k->mv_size - 1;
        if (lm_decode(v, 0, r, &whole) != 0)
            return -1;
    } else if (lm_decode(v, 1, r, &whole) != 0) {
        return -1;
    }
    return split(whole.p, whole.len, r);
}

static size_t val_payload(const gun__val *v)
{
    switch (v->t) {
    case GUN__V_NUM: return 8;
    case GUN__V_STR:
    case GUN__V_LINK: return v->s.len;
    default: return 0;
    }
}

static void val_put(unsigned char *p, const gun__val *v, double state, const char *whole,
                    size_t wlen)
{
    gun__put64(p, gun__dbits(state));
    int t;
    switch (v->t) {
    case GUN__V_NULL: t = T_NULL; break;
    case GUN__V_BOOL: t = v->b ? T_TRUE : T_FALSE; break;
    case GUN__V_NUM: t = T_NUM; break;
    case GUN__V_STR: t = T_STR; break;
    default: t = T_LINK; break;
    }
    p[8] = (unsigned char)(t | (whole ? T_LONG : 0));
    p += 9;
    if (whole) {
        gun__put32(p, (uint32_t)wlen);
        memcpy(p + 4, whole, wlen);
        p[4 + wlen] = 0;
        p += 4 + wlen + 1;
    }
    if (v->t == GUN__V_NUM)
        gun__put64(p, gun__dbits(v->n));
    else if ((v->t == GUN__V_STR || v->t == GUN__V_LINK) && v->s.len)
        memcpy(p, v->s.p, v->s.len);
}

/* ---- transactions ---- */

/* Drops the cached read transaction (remapping needs none open). Caller holds rw
 * exclusive, so no read is using it. */
static void rtxn_drop(lm *s)
{
    pthread_mutex_lock(&s->mu);
    if (s->rtxn && !s->rtxn_busy) {
        mdb_txn_abort(s->rtxn);
        s->rtxn = NULL;
    }
    pthread_mutex_unlock(&s->mu);
}

/* Sets the map size (0: adopt what another process grew the file to). Waits for every
 * read of this process to finish: they hold pointers into the old map. */
static int remap(lm *s, size_t size)
{
    /* Bounded wait: a write made from inside a read's visitor (the contract forbids it)
     * would otherwise wait for itself forever. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    if (pthread_rwlock_timedwrlock(&s->rw, &until) != 0)
        return EBUSY;
    rtxn_drop(s);
    int rc = mdb_env_set_mapsize(s->env, size);
    if (rc == 0) {
        MDB_envinfo info;
        if (mdb_env_info(s->env, &info) == 0)
            s->mapsize = info.me_mapsize;
    }
    pthread_rwlock_unlock(&s->rw);
    return rc;
}

/* Starts a read: takes rw shared (released by rend) and a read transaction, the cached
 * one when it is free. */
static int rbegin(lm *s, MDB_txn **t)
{
    for (int tries = 0;; tries++) {
        pthread_rwlock_rdlock(&s->rw);
        pthread_mutex_lock(&s->mu);
        int rc, cached = 0;
        if (s->rtxn && !s->rtxn_busy) {
            s->rtxn_busy = cached = 1;
            *t = s->rtxn;
        }
        pthread_mutex_unlock(&s->mu);
        if (cached) {
            rc = mdb_txn_renew(*t);
            if (rc == 0)
                return 0;
            pthread_mutex_lock(&s->mu);
            mdb_txn_abort(s->rtxn);
            s->rtxn = NULL;
            s->rtxn_busy = 0;
            pthread_mutex_unlock(&s->mu);
        } else {
            rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, t);
            if (rc == 0) {
                pthread_mutex_lock(&s->mu);
                if (!s->rtxn) { /* becomes the cached one */
                    s->rtxn = *t;
                    s->rtxn_busy = 1;
                }
                pthread_mutex_unlock(&s->mu);
                return 0;
            }
        }
        pthread_rwlock_unlock(&s->rw);
        /* Another process grew the map: adopt its size, unless this thread is inside a
         * read already (a visitor reading): then it would wait for itself. */
        if (rc != MDB_MAP_RESIZED || tries >= 3)
            return rc;
        pthread_mutex_lock(&s->mu);
        int nested = s->rtxn_busy;
        pthread_mutex_unlock(&s->mu);
        if (nested || remap(s, 0) != 0)
            return rc;
    }
}

static void rend(lm *s, MDB_txn *t)
{
    pthread_mutex_lock(&s->mu);
    if (t == s->rtxn) {
        mdb_txn_reset(t);
        s->rtxn_busy = 0;
    } else {
        mdb_txn_abort(t);
    }
    pthread_mutex_unlock(&s->mu);
    pthread_rwlock_unlock(&s->rw);
}

/* ---- scanning ---- */

typedef struct grp {
    gun__str whole;
    MDB_val k, v;
} grp;

typedef struct lm_it {
    MDB_cursor *cur;
    int rev;
    int mrc; /* 0: (k, v) is the next entry; MDB_NOTFOUND: none; else an error */
    MDB_val k, v;
    gun__buf bound; /* forward: composites < bound are skipped; reverse: >= bound */
    int bounded;    /* 0: a reverse walk from the very end */
    grp *g;
    size_t gn, gcap, gi;
    int err; /* GUN_* of a failure */
} lm_it;

static int grp_cmp(const void *a, const void *b)
{
    const grp *x = a, *y = b;
    return gun__utf16_cmp(x->whole.p, x->whole.len, y->whole.p, y->whole.len);
}

static void it_step(lm_it *it)
{
    it->mrc = mdb_cursor_get(it->cur, &it->k, &it->v, it->rev ? MDB_PREV : MDB_NEXT);
}

/* Positions the walk: forward, records whose composite is >= the concatenated parts, in
 * ascending order; reverse, records whose composite is < it, in descending order. A
 * reverse walk with no parts starts at the end. Returns GUN_OK or GUN_ENOMEM. */
static int it_seek(lm_it *it, const gun__str *parts, int nparts, int rev)
{
    it->rev = rev;
    it->bounded = !rev || nparts > 0;
    it->gn = it->gi = 0;
    gun__buf_reset(&it->bound);
    for (int i = 0; i < nparts; i++)
        gun__buf_add(&it->bound, parts[i].p ? parts[i].p : "", parts[i].len);
    if (it->bound.oom)
        return it->err = GUN_ENOMEM;
    if (rev && !nparts) {
        it->mrc = mdb_cursor_get(it->cur, &it->k, &it->v, MDB_LAST);
        return GUN_OK;
    }
    unsigned char kb[LM_KEYMAX];
    const char *c = it->bound.p ? it->bound.p : "";
    MDB_val k = {rev ? lm_key_hi(kb, c, it->bound.len) : lm_key_lo(kb, c, it->bound.len), kb};
    it->k = k;
    it->mrc = mdb_cursor_get(it->cur, &it->k, &it->v, MDB_SET_RANGE);
    if (rev && (it->mrc == 0 || it->mrc == MDB_NOTFOUND))
        it->mrc = mdb_cursor_get(it->cur, &it->k, &it->v,
                                 it->mrc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
    /* MDB_PREV/MDB_LAST on an empty database or before the first entry: not found. */
    return GUN_OK;
}

/* Next record: 1 and *r, 0 at the end, -1 on error (it->err set). */
static int it_next(lm_it *it, lm_rec *r)
{
    for (;;) {
        while (it->gi < it->gn) {
            grp *x = &it->g[it->rev ? it->gn - 1 - it->gi : it->gi];
            it->gi++;
            if (it->bounded) {
                int c = gun__utf16_cmp(x->whole.p, x->whole.len, it->bound.p ? it->bound.p : "",
                               it->bound.len);
                if (it->rev ? c >= 0 : c < 0)
                    continue;
            }
            if (lm_entry(&x->k, &x->v, r) != 0)
                return it->err = GUN_EIO, -1;
            return 1;
        }
        if (it->mrc == MDB_NOTFOUND)
            return 0;
        if (it->mrc)
            return it->err = GUN_EIO, -1;
        const unsigned char *kp = it->k.mv_data;
        if (!it->k.mv_size || kp[0] > 1)
            return it->err = GUN_EIO, -1;
        if (kp[0] == 0) {
            if (lm_entry(&it->k, &it->v, r) != 0)
                return it->err = GUN_EIO, -1;
            it_step(it);
            return 1;
        }
        /* A group: every long entry with this text, sorted by whole composite. */
        MDB_val first = it->k;
        if (first.mv_size < 9)
            return it->err = GUN_EIO, -1;
        it->gn = it->gi = 0;
        do {
            if (it->gn == it->gcap) {
                size_t cap = it->gcap ? it->gcap * 2 : 16;
                grp *g = cap < SIZE_MAX / sizeof *g ? gun__realloc(it->g, cap * sizeof *g) : NULL;
                if (!g)
                    return it->err = GUN_ENOMEM, -1;
                it->g = g;
                it->gcap = cap;
            }
            grp *x = &it->g[it->gn++];
            x->k = it->k;
            x->v = it->v;
            lm_rec tmp;
            if (lm_decode(&it->v, 1, &tmp, &x->whole) != 0)
                return it->err = GUN_EIO, -1;
            it_step(it);
        } while (it->mrc == 0 && it->k.mv_size && ((unsigned char *)it->k.mv_data)[0] == 1 &&
                 it->k.mv_size >= 9 &&
                 gun__utf16_cmp((const char *)first.mv_data + 1, first.mv_size - 9,
                        (const char *)it->k.mv_data + 1, it->k.mv_size - 9) == 0);
        qsort(it->g, it->gn, sizeof *it->g, grp_cmp);
    }
}

static void it_free(lm_it *it)
{
    gun__buf_free(&it->bound);
    gun__free(it->g);
    if (it->cur)
        mdb_cursor_close(it->cur);
}

/* ---- lex bounds ---- */

/* Are the lex's strings canonical WTF-8? Seeks and early stops need them: the ordering
 * argument for seek keys does, and gun__lex_below/above are monotone only for
 * well-formed bounds. With other strings (only a local caller can pass them) a walk
 * covers the whole node, or every soul, and gun__lex_match alone decides. */
static int lex_seekable(const gun__lex *lex)
{
    if (!lex)
        return 1;
    const gun__str *c[4] = {lex->has_eq ? &lex->eq : NULL, lex->has_prefix ? &lex->prefix : NULL,
                            lex->has_gte ? &lex->gte : NULL, lex->has_lte ? &lex->lte : NULL};
    for (int i = 0; i < 4; i++)
        if (c[i] && c[i]->len && (!c[i]->p || !gun__wtf8_canonical(c[i]->p, c[i]->len)))
            return 0;
    return 1;
}

/* The largest lower bound the lex sets (eq, prefix, gte), or "" . */
static gun__str lex_lo(const gun__lex *lex)
{
    gun__str lo = {"", 0};
    if (!lex)
        return lo;
    const gun__str *c[3] = {lex->has_eq ? &lex->eq : NULL, lex->has_prefix ? &lex->prefix : NULL,
                            lex->has_gte ? &lex->gte : NULL};
    for (int i = 0; i < 3; i++)
        if (c[i] && gun__utf16_cmp(c[i]->p ? c[i]->p : "", c[i]->len, lo.p, lo.len) > 0)
            lo = *c[i];
    return lo;
}

/* The smallest string above every string that starts with p (in UTF-16 order): p with
 * trailing U+FFFF units dropped and its last unit incremented. 0 if there is none. */
static int prefix_next(gun__str p, gun__buf *out)
{
    size_t n = 0, i = 0;
    uint32_t pend = 0;
    while (i < p.len || pend) {
        gun__utf16_next(p.p, p.len, &i, &pend);
        n++;
    }
    if (!n)
        return 0;
    uint16_t small[64];
    uint16_t *u = n <= 64 ? small : gun__malloc(n * sizeof *u);
    if (!u)
        return -1;
    i = 0, pend = 0;
    for (size_t j = 0; j < n; j++)
        u[j] = (uint16_t)gun__utf16_next(p.p, p.len, &i, &pend);
    while (n && u[n - 1] == 0xFFFF)
        n--;
    if (n) {
        u[n - 1]++;
        for (size_t j = 0; j < n; j++) {
            uint32_t cp = u[j];
            if (cp >= 0xD800 && cp <= 0xDBFF && j + 1 < n && u[j + 1] >= 0xDC00 &&
                u[j + 1] <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (u[j + 1] - 0xDC00);
                j++;
            }
            gun__buf_add_cp(out, cp);
        }
    }
    if (u != small)
        gun__free(u);
    if (out->oom)
        return -1;
    return n ? 1 : 0;
}

/* The exclusive upper bound for a reverse walk: records wanted are < prefix + *hi. `sep`
 * is what follows a matched string in a composite (0x00 after a key, 0x01 bounds a
 * soul's records). Returns 1 with the bound in *hi, 0 if there is none, -1 on OOM. */
static int lex_hi(const gun__lex *lex, char sep, gun__buf *hi)
{
    int have = 0;
    gun__buf_reset(hi);
    if (!lex)
        return 0;
    const gun__str *c[2] = {lex->has_eq ? &lex->eq : NULL, lex->has_lte ? &lex->lte : NULL};
    gun__str best = {0};
    for (int i = 0; i < 2; i++)
        if (c[i] && (!have || gun__utf16_cmp(c[i]->p ? c[i]->p : "", c[i]->len, best.p, best.len) < 0)) {
            best = *c[i];
            best.p = best.p ? best.p : "";
            have = 1;
        }
    if (have) {
        gun__buf_add(hi, best.p, best.len);
        gun__buf_addc(hi, sep);
    }
    if (lex->has_prefix) {
        gun__buf pn;
        gun__buf_init(&pn);
        int r = prefix_next(lex->prefix, &pn);
        if (r < 0) {
            gun__buf_free(&pn);
            return -1;
        }
        if (r > 0 && (!have || gun__utf16_cmp(pn.p, pn.len, hi->p, hi->len) < 0)) {
            gun__buf_reset(hi);
            gun__buf_add(hi, pn.p, pn.len);
            have = 1;
        }
        gun__buf_free(&pn);
    }
    return hi->oom ? -1 : have;
}

/* ---- ops ---- */

static void lm_close(void *st)
{
    lm *s = st;
    if (!s)
        return;
    if (s->rtxn)
        mdb_txn_abort(s->rtxn);
    if (s->env) {
        if (s->nosync)
            mdb_env_sync(s->env, 1); /* best effort: nosync promised no more */
        mdb_env_close(s->env);
    }
    if (s->locks) {
        pthread_mutex_destroy(&s->mu);
        pthread_rwlock_destroy(&s->rw);
    }
    gun__free(s->path);
    gun__free(s);
}

/* LMDB 0.9 does not notice a data file cut short (a copy interrupted, a full disk while
 * copying) and would fault on the missing pages: refuse it at open. */
static int check_size(lm *s, gun__err *e)
{
    MDB_envinfo info;
    MDB_stat st;
    if (mdb_env_info(s->env, &info) != 0 || mdb_env_stat(s->env, &st) != 0)
        return gun__fail(e, GUN_EIO, "store lmdb: %s: cannot read environment info", s->path);
    size_t plen = strlen(s->path) + sizeof "/data.mdb";
    char *f = gun__malloc(plen);
    if (!f)
        return gun__fail(e, GUN_ENOMEM, "store lmdb: out of memory");
    snprintf(f, plen, "%s/data.mdb", s->path);
    struct stat sb;
    int rc = stat(f, &sb);
    int err = errno;
    gun__free(f);
    if (rc != 0)
        return gun__fail(e, GUN_EIO, "store lmdb: %s/data.mdb: %s", s->path, strerror(err));
    unsigned long long need = ((unsigned long long)info.me_last_pgno + 1) * st.ms_psize;
    if ((unsigned long long)sb.st_size < need)
        return gun__fail(e, GUN_EIO,
                         "store lmdb: %s/data.mdb is truncated (%lld bytes, its header "
                         "says at least %llu): the file is damaged",
                         s->path, (long long)sb.st_size, need);
    return GUN_OK;
}

/* Opens the two named databases, installs the comparator, checks or writes the format. */
static int open_dbs(lm *s, gun__err *e)
{
    MDB_txn *t;
    int rc = mdb_txn_begin(s->env, NULL, 0, &t);
    if (rc)
        return lm_fail(s, e, rc, "cannot begin the opening transaction");
    MDB_dbi meta;
    rc = mdb_dbi_open(t, "meta", MDB_CREATE, &meta);
    if (!rc)
        rc = mdb_dbi_open(t, "recs", MDB_CREATE, &s->recs);
    if (!rc)
        rc = mdb_set_compare(t, s->recs, lm_cmp);
    if (rc) {
        mdb_txn_abort(t);
        if (rc == MDB_INCOMPATIBLE)
            return gun__fail(e, GUN_EIO, "store lmdb: %s: the database was not written by "
                                         "libgun (incompatible layout)", s->path);
        return lm_fail(s, e, rc, "cannot open the record database");
    }
    MDB_val k = {6, "format"}, v;
    rc = mdb_get(t, meta, &k, &v);
    if (rc == MDB_NOTFOUND) {
        MDB_stat st;
        rc = mdb_stat(t, s->recs, &st);
        if (!rc && st.ms_entries) {
            mdb_txn_abort(t);
            return gun__fail(e, GUN_EIO, "store lmdb: %s: records without a format marker: "
                                         "not a libgun store", s->path);
        }
        MDB_val fv = {sizeof LM_FORMAT - 1, LM_FORMAT};
        if (!rc)
            rc = mdb_put(t, meta, &k, &fv, 0);
    } else if (rc == 0) {
        if (v.mv_size != sizeof LM_FORMAT - 1 || memcmp(v.mv_data, LM_FORMAT, v.mv_size)) {
            int n = v.mv_size < 16 ? (int)v.mv_size : 16;
            mdb_txn_abort(t);
            return gun__fail(e, GUN_EIO, "store lmdb: %s: store format '%.*s', this build "
                                         "reads format " LM_FORMAT, s->path, n,
                             (const char *)v.mv_data);
        }
    }
    if (rc) {
        mdb_txn_abort(t);
        return lm_fail(s, e, rc, "cannot check the store format");
    }
    rc = mdb_txn_commit(t);
    if (rc)
        return lm_fail(s, e, rc, "cannot commit the opening transaction");
    return GUN_OK;
}

static int lm_open(void **out, const gun__store_cfg *cfg, gun__err *e)
{
    if (!cfg->path || !cfg->path[0])
        return gun__fail(e, GUN_EINVAL, "store lmdb: no data directory given");
    int rc = gun__store_mkdir_p(cfg->path, "lmdb", e);
    if (rc)
        return rc;
    if ((rc = check_foreign(cfg->path, e)) != GUN_OK)
        return rc;
    lm *s = gun__calloc(1, sizeof *s);
    if (!s || !(s->path = gun__strndup(cfg->path, strlen(cfg->path)))) {
        gun__free(s);
        return gun__fail(e, GUN_ENOMEM, "store lmdb: out of memory");
    }
    if (pthread_mutex_init(&s->mu, NULL) != 0) {
        gun__free(s->path);
        gun__free(s);
        return gun__fail(e, GUN_ENOMEM, "store lmdb: cannot create a lock");
    }
    if (pthread_rwlock_init(&s->rw, NULL) != 0) {
        pthread_mutex_destroy(&s->mu);
        gun__free(s->path);
        gun__free(s);
        return gun__fail(e, GUN_ENOMEM, "store lmdb: cannot create a lock");
    }
    s->locks = 1;
    s->nosync = cfg->nosync;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (page < 4096)
        page = 4096;
    if (cfg->max_bytes) {
        /* Start small and grow on MDB_MAP_FULL up to the cap (LMDB raises the start to
         * what an existing file needs). */
        size_t m = cfg->max_bytes < LM_MIN_MAP ? LM_MIN_MAP : cfg->max_bytes;
        s->mapmax = (m + page - 1) / page * page;
        s->mapsize = s->mapmax < ((size_t)4 << 20) ? s->mapmax : (size_t)4 << 20;
    } else {
        /* Address space only: the file grows as data is written. */
        s->mapsize = sizeof(size_t) >= 8 ? (size_t)1 << 40 : (size_t)1 << 29;
    }
    for (;;) {
        int mrc = mdb_env_create(&s->env);
        if (!mrc)
            mrc = mdb_env_set_maxdbs(s->env, 2);
        if (!mrc)
            mrc = mdb_env_set_mapsize(s->env, s->mapsize);
        if (!mrc)
            mrc = mdb_env_open(s->env, s->path, MDB_NOTLS | (cfg->nosync ? MDB_NOSYNC : 0),
                               0644);
        if (!mrc)
            break;
        if (s->env)
            mdb_env_close(s->env);
        s->env = NULL;
        /* Not that much address space (ulimit -v, 32-bit): try smaller, grow later. */
        if (mrc == ENOMEM && !s->mapmax && s->mapsize > ((size_t)64 << 20)) {
            s->mapsize /= 4;
            continue;
        }
        if (mrc == EAGAIN || mrc == EWOULDBLOCK)
            rc = gun__fail(e, GUN_EIO, "store lmdb: %s: locked by another process", s->path);
        else
            rc = lm_fail(s, e, mrc, "cannot open");
        lm_close(s);
        return rc;
    }
    /* LMDB fsyncs its files but not the directory that names them. */
    int derr = gun__store_fsync_dir(s->path);
    if (derr) {
        rc = gun__fail(e, GUN_EIO, "store lmdb: %s: cannot sync the directory: %s", s->path,
                       strerror(derr));
        lm_close(s);
        return rc;
    }
    MDB_envinfo info;
    if (mdb_env_info(s->env, &info) == 0)
        s->mapsize = info.me_mapsize;
    /* Reader slots of processes that died (SIGKILL) would keep old pages from reuse. */
    int dead = 0;
    (void)mdb_reader_check(s->env, &dead);
    if (mdb_env_get_maxkeysize(s->env) < LM_KEYMAX - 1 - 8) {
        rc = gun__fail(e, GUN_EIO, "store lmdb: liblmdb allows keys of %d bytes, need %d",
                       mdb_env_get_maxkeysize(s->env), LM_KEYMAX - 1 - 8);
        lm_close(s);
        return rc;
    }
    if ((rc = check_size(s, e)) != GUN_OK || (rc = open_dbs(s, e)) != GUN_OK) {
        lm_close(s);
        return rc;
    }
    *out = s;
    return GUN_OK;
}

static int soul_ok(gun__str soul)
{
    return soul.len && soul.p && !memchr(soul.p, 0, soul.len);
}

/* Finds a long entry: 0 with *v (and the key used in k/klen) if present; MDB_NOTFOUND
 * with k/klen set to the free slot where it would go; else an LMDB error. */
static int find_long(MDB_txn *t, MDB_dbi dbi, const char *c, size_t len, unsigned char *k,
                     size_t *klen, MDB_val *v)
{
    uint64_t h = gun__hash64(c, len, lm_hkey);
    for (int i = 0; i < LM_PROBES; i++) {
        *klen = lm_key(k, c, len, h + (uint64_t)i);
        MDB_val kv = {*klen, k};
        int rc = mdb_get(t, dbi, &kv, v);
        if (rc)
            return rc;
        lm_rec r;
        gun__str whole;
        if (lm_decode(v, 1, &r, &whole) != 0)
            return MDB_CORRUPTED;
        if (whole.len == len && memcmp(whole.p, c, len) == 0)
            return 0;
    }
    return MDB_KEYEXIST; /* probe chain exhausted */
}

static int lm_get_key(void *st, gun__str soul, gun__str key, gun__store_visit cb, void *arg)
{
    lm *s = st;
    if (!soul_ok(soul) || (key.len && (!key.p || memchr(key.p, 0, key.len))) ||
        !gun__wtf8_canonical(soul.p, soul.len) || (key.len && !gun__wtf8_canonical(key.p, key.len)))
        return GUN_ENOTFOUND; /* never stored */
    char sbuf[LM_KEYMAX], *heap;
    size_t len;
    const char *c = composite(soul, key, sbuf, sizeof sbuf, &heap, &len);
    if (!c)
        return GUN_ENOMEM;
    MDB_txn *t;
    int rc = rbegin(s, &t);
    if (rc) {
        gun__free(heap);
        return rc == ENOMEM ? GUN_ENOMEM : GUN_EIO;
    }
    unsigned char kb[LM_KEYMAX];
    MDB_val v;
    if (len <= LM_P) {
        MDB_val k = {lm_key(kb, c, len, 0), kb};
        rc = mdb_get(t, s->recs, &k, &v);
    } else {
        size_t klen;
        rc = find_long(t, s->recs, c, len, kb, &klen, &v);
        if (rc == MDB_KEYEXIST)
            rc = MDB_NOTFOUND;
    }
    int out;
    if (rc == MDB_NOTFOUND) {
        out = GUN_ENOTFOUND;
    } else if (rc) {
        out = GUN_EIO;
    } else {
        lm_rec r;
        gun__str whole;
        if (lm_decode(&v, len > LM_P, &r, &whole) != 0) {
            out = GUN_EIO;
        } else {
            /* The stored bytes equal the caller's (canonical WTF-8): lend the caller's. */
            cb(arg, soul, key, &r.val, r.state);
            out = GUN_OK;
        }
    }
    rend(s, t);
    gun__free(heap);
    return out;
}

static int lm_get_node(void *st, gun__str soul, const gun__lex *lex, gun__store_visit cb,
                       void *arg)
{
    lm *s = st;
    if (!soul_ok(soul) || !gun__wtf8_canonical(soul.p, soul.len))
        return GUN_ENOTFOUND; /* never stored */
    MDB_txn *t;
    int rc = rbegin(s, &t);
    if (rc)
        return rc == ENOMEM ? GUN_ENOMEM : GUN_EIO;
    int seek = lex_seekable(lex);
    lm_it it = {0};
    gun__buf hi;
    gun__buf_init(&hi);
    gun__buf_init(&it.bound);
    int out = GUN_OK;
    if (mdb_cursor_open(t, s->recs, &it.cur) != 0) {
        it.cur = NULL;
        out = GUN_EIO;
        goto done;
    }
    lm_rec r;
    gun__str zero = {"", 1}; /* the 0x00 between soul and key */
    gun__str parts[3] = {soul, zero, {"", 0}};
    /* Exists at all? Its first record is the first at or after soul 0x00. */
    if (it_seek(&it, parts, 2, 0) != GUN_OK) {
        out = it.err;
        goto done;
    }
    int n = it_next(&it, &r);
    if (n < 0) {
        out = it.err;
        goto done;
    }
    if (n == 0 || !gun__str_eq(r.soul, soul)) {
        out = GUN_ENOTFOUND;
        goto done;
    }
    int rev = lex && lex->reverse;
    if (!rev) {
        parts[2] = seek ? lex_lo(lex) : (gun__str){"", 0};
        if (parts[2].len && it_seek(&it, parts, 3, 0) != GUN_OK) {
            out = it.err;
            goto done;
        }
        /* else: already at the node's first record, r holds it */
        if (parts[2].len)
            n = it_next(&it, &r);
    } else {
        int h = seek ? lex_hi(lex, 0, &hi) : 0;
        if (h < 0) {
            out = GUN_ENOMEM;
            goto done;
        }
        gun__str one = {"\x01", 1};
        if (h) {
            parts[2].p = hi.p, parts[2].len = hi.len;
            rc = it_seek(&it, parts, 3, 1);
        } else {
            gun__str sp[2] = {soul, one};
            rc = it_seek(&it, sp, 2, 1);
        }
        if (rc != GUN_OK) {
            out = it.err;
            goto done;
        }
        n = it_next(&it, &r);
    }
    for (; n > 0; n = it_next(&it, &r)) {
        if (!gun__str_eq(r.soul, soul))
            break;
        if (seek && (!rev ? gun__lex_above(lex, r.key) : gun__lex_below(lex, r.key)))
            break;
        if (gun__lex_match(lex, r.key) && cb(arg, r.soul, r.key, &r.val, r.state))
            break;
    }
    if (n < 0)
        out = it.err;
done:
    it_free(&it);
    gun__buf_free(&hi);
    rend(s, t);
    return out;
}

static int lm_souls(void *st, const gun__lex *lex, gun__soul_visit cb, void *arg)
{
    lm *s = st;
    MDB_txn *t;
    int rc = rbegin(s, &t);
    if (rc)
        return rc == ENOMEM ? GUN_ENOMEM : GUN_EIO;
    lm_it it = {0};
    gun__buf hi, cur;
    gun__buf_init(&hi);
    gun__buf_init(&cur);
    gun__buf_init(&it.bound);
    int out = GUN_OK, n;
    int rev = lex && lex->reverse;
    lm_rec r;
    gun__str one = {"\x01", 1};
    if (mdb_cursor_open(t, s->recs, &it.cur) != 0) {
        it.cur = NULL;
        out = GUN_EIO;
        goto done;
    }
    int seek = lex_seekable(lex);
    if (!rev) {
        gun__str lo = seek ? lex_lo(lex) : (gun__str){"", 0};
        rc = it_seek(&it, &lo, 1, 0);
    } else {
        int h = seek ? lex_hi(lex, 1, &hi) : 0;
        if (h < 0) {
            out = GUN_ENOMEM;
            goto done;
        }
        gun__str b = {hi.p, hi.len};
        rc = it_seek(&it, &b, h ? 1 : 0, 1);
    }
    if (rc != GUN_OK) {
        out = it.err;
        goto done;
    }
    while ((n = it_next(&it, &r)) > 0) {
        if (seek && (!rev ? gun__lex_above(lex, r.soul) : gun__lex_below(lex, r.soul)))
            break;
        if (gun__lex_match(lex, r.soul) && cb(arg, r.soul))
            break;
        /* Jump over the rest of this soul's records: forward to the first composite
         * >= soul 0x01, backward to the last one < soul. The soul is copied first: the
         * seek reuses the buffers its view may point into. */
        gun__buf_reset(&cur);
        gun__buf_add(&cur, r.soul.p, r.soul.len);
        if (cur.oom) {
            out = GUN_ENOMEM;
            goto done;
        }
        gun__str sp[2] = {{cur.p, cur.len}, one};
        if (it_seek(&it, sp, rev ? 1 : 2, rev) != GUN_OK) {
            out = it.err;
            goto done;
        }
    }
    if (n < 0)
        out = it.err;
done:
    it_free(&it);
    gun__buf_free(&hi);
    gun__buf_free(&cur);
    rend(s, t);
    return out;
}

static int rec_check(const gun__store_rec *r, size_t i, gun__err *e)
{
    int rc = gun__store_rec_check(r, i, "lmdb", e);
    if (rc)
        return rc;
    /* LMDB holds at most 4 GiB - 1 per value (state, type, long composite, payload). */
    size_t most = 0xFFFFFFFFu - 32;
    if (val_payload(&r->val) > most || r->soul.len + r->key.len > most - val_payload(&r->val))
        return gun__fail(e, GUN_EINVAL, "store lmdb: record %zu: value too large", i);
    return GUN_OK;
}

/* Puts one record in write transaction t. Returns GUN_OK, GUN_ENOMEM, or GUN_EIO with
 * the LMDB code in *mrc. */
static int put_rec(lm *s, MDB_txn *t, const gun__store_rec *r, int *mrc)
{
    *mrc = 0;
    char sbuf[LM_KEYMAX], *heap;
    size_t len;
    const char *c = composite(r->soul, r->key, sbuf, sizeof sbuf, &heap, &len);
    if (!c)
        return GUN_ENOMEM;
    unsigned char kb[LM_KEYMAX];
    size_t klen, vlen = 9 + val_payload(&r->val);
    int lng = len > LM_P;
    int rc = 0;
    if (!lng) {
        klen = lm_key(kb, c, len, 0);
    } else {
        MDB_val old;
        rc = find_long(t, s->recs, c, len, kb, &klen, &old);
        if (rc == MDB_KEYEXIST) {
            gun__free(heap);
            *mrc = MDB_KEYEXIST;
            return GUN_EIO;
        }
        if (rc && rc != MDB_NOTFOUND) {
            gun__free(heap);
            *mrc = rc;
            return GUN_EIO;
        }
        vlen += 4 + len + 1;
    }
    MDB_val k = {klen, kb}, v = {vlen, NULL};
    rc = mdb_put(t, s->recs, &k, &v, MDB_RESERVE);
    if (rc == 0)
        val_put(v.mv_data, &r->val, r->state, lng ? c : NULL, len);
    gun__free(heap);
    *mrc = rc;
    return rc == 0 ? GUN_OK : rc == ENOMEM ? GUN_ENOMEM : GUN_EIO;
}

/* Doubles the map after MDB_MAP_FULL, up to the configured cap. 1 if it grew. */
static int grow(lm *s)
{
    if (s->mapmax && s->mapsize >= s->mapmax)
        return 0;
    size_t want = s->mapsize > SIZE_MAX / 2 ? SIZE_MAX : s->mapsize * 2;
    if (s->mapmax && want > s->mapmax)
        want = s->mapmax;
    return remap(s, want) == 0;
}

static int lm_write(void *st, const gun__store_rec *recs, size_t n, gun__err *e)
{
    lm *s = st;
    for (size_t i = 0; i < n; i++) {
        int rc = rec_check(&recs[i], i, e);
        if (rc)
            return rc;
    }
    if (!n)
        return GUN_OK;
    for (int tries = 0;; tries++) {
        MDB_txn *t;
        int mrc = mdb_txn_begin(s->env, NULL, 0, &t);
        if (mrc == MDB_MAP_RESIZED && tries < 8 && remap(s, 0) == 0)
            continue;
        if (mrc)
            return lm_fail(s, e, mrc, "cannot begin a write");
        int rc = GUN_OK;
        size_t i;
        for (i = 0; i < n && rc == GUN_OK; i++)
            rc = put_rec(s, t, &recs[i], &mrc);
        if (rc == GUN_OK) {
            mrc = mdb_txn_commit(t); /* frees t, on failure too */
            if (mrc == 0)
                return GUN_OK;
            rc = mrc == ENOMEM ? GUN_ENOMEM : GUN_EIO;
        } else {
            mdb_txn_abort(t);
        }
        if (rc == GUN_ENOMEM && mrc != ENOMEM)
            return gun__fail(e, GUN_ENOMEM, "store lmdb: out of memory");
        if (mrc == MDB_MAP_FULL && tries < 64 && grow(s))
            continue;
        if (mrc == MDB_KEYEXIST)
            return gun__fail(e, GUN_EIO, "store lmdb: %s: record %zu: too many hash "
                                         "collisions among long keys", s->path, i - 1);
        return lm_fail(s, e, mrc, "write failed, nothing was written");
    }
}

static void lm_stat(void *st, gun__store_stat *out)
{
    lm *s = st;
    out->souls = out->keys = out->bytes = -1; /* souls: one record per key, not counted */
    MDB_txn *t;
    if (rbegin(s, &t))
        return;
    MDB_stat ms;
    if (mdb_stat(t, s->recs, &ms) == 0)
        out->keys = (int64_t)ms.ms_entries;
    MDB_envinfo info;
    MDB_stat es;
    if (mdb_env_info(s->env, &info) == 0 && mdb_env_stat(s->env, &es) == 0)
        out->bytes = (int64_t)(info.me_last_pgno + 1) * es.ms_psize;
    rend(s, t);
}

const gun__store_ops gun__store_lmdb_ops = {
    .version = GUN__STORE_OPS_VERSION,
    .name = "lmdb",
    .open = lm_open,
    .close = lm_close,
    .get_key = lm_get_key,
    .get_node = lm_get_node,
    .souls = lm_souls,
    .write = lm_write,
    .stat = lm_stat,
};

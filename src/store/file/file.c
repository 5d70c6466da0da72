/* The file store: a directory of plain files, one per soul (the Rust port's LocalStorage
 * row). Simple and inspectable; the LMDB store is the fast default.
 *
 * Layout (format 1; docs/storage.md has the crash argument):
 *   DIR/FORMAT            "gun-store-file 1\n"
 *   DIR/LOCK              flock()ed while a process has the store open
 *   DIR/nodes/NAME        one file per soul: its records sorted by key in UTF-16 order
 *   DIR/nodes/.journal    only between the commit and the end of a multi-soul write
 *   DIR/nodes/.tG.I       temporary files of write number G
 * NAME is the soul with every byte outside [a-z0-9_-] written as %XX (so names are
 * distinct even on case-insensitive file systems), or, when that is longer than 200
 * bytes, "~" and 16 hex digits of a hash of the soul (".N" added on a collision); every
 * file holds its soul, so names never need decoding for hashed souls.
 *
 * Node file: header "GUNN", version 1, 3 zero bytes, soul length (u32), record count
 * (u32), the soul; records (key length u32, value length u32, state 8 bytes, type byte,
 * key, value); an index of record offsets (u64 each) for binary search; a footer: index
 * offset (u64), a 64-bit check of every byte before it (fs_check), "GUNE".
 * All integers little-endian; the state and numbers are IEEE-754 bits.
 *
 * A write builds the new file of every soul it touches (old records merged with new) in
 * temporary files, fsyncs them, then commits: one soul by rename() and a directory fsync;
 * several souls by writing and fsyncing .journal (the list of renames) and fsyncing the
 * directory -- the commit point -- then doing the renames, fsyncing the directory and
 * deleting the journal. Opening the store replays a journal left by a crash and deletes
 * every temporary file, so a reader sees each write whole or not at all.
 *
 * Costs: a write rewrites each touched node whole (O(node size)); a read loads and checks
 * one node file (O(node size)) unless it is cached (FS_CACHE_BYTES of recently written or
 * read nodes); the sorted list of souls lives in memory (O(total soul bytes)), built at
 * open from the file names.
 *
 * Threads: any call from any thread; one recursive mutex serializes them (a visitor may
 * read the store it walks). A write holds it through its fsyncs, so reads wait. */
#include "../store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define FS_FORMAT "gun-store-file 1\n"
#define FS_NAME_MAX 200 /* escaped names longer than this are hashed */
#define FS_HDR 16
#define FS_REC 17
#define FS_FOOT 20
#define FS_PROBES 1000

enum { T_NULL, T_FALSE, T_TRUE, T_NUM, T_STR, T_LINK };

/* Persisted: hashed file names of long souls and the journal check use gun__hash64
 * (SipHash-1-3) under this fixed key; node files use fs_check below. */
static const uint64_t fs_hkey[2] = {0x6c696267756e2d66ULL, 0x696c652d73746f72ULL};

typedef struct fsoul {
    char *hname; /* hashed file name, or NULL: the escaped soul */
    char *cbuf;  /* cached node file (checked), or NULL */
    size_t csize;
    struct fsoul *lprev, *lnext; /* LRU list of cached nodes */
    size_t len;
    char s[]; /* the soul, NUL-terminated */
} fsoul;

typedef struct fs {
    int root, dfd, lockfd; /* DIR, DIR/nodes, DIR/LOCK */
    int nosync;
    int broken; /* a write failed after its commit point: reopen to finish it */
    uint64_t gen;
    fsoul **v; /* souls in UTF-16 order */
    size_t n;
    fsoul *lru_head, *lru_tail;
    size_t cbytes;
    int busy; /* walks in progress: cached buffers are lent, nothing may be evicted */
    pthread_mutex_t mu; /* recursive: visitors may read */
    int mu_ok;
    char *path;
} fs;

/* Node files this process wrote or checked stay in memory up to this many bytes: the
 * store holds the directory's lock, so no one else changes them. */
#define FS_CACHE_BYTES ((size_t)32 << 20)
#define FS_CACHE_ONE (FS_CACHE_BYTES / 4)




/* The node file check: a 64-bit hash in the shape of xxHash64 (four lanes of 8-byte
 * words, then the tail), several GB/s, so reads can afford to verify whole files. It
 * catches damage, not forgery. Persisted: test_store_file pins a value. */
#define P1 0x9E3779B185EBCA87ULL
#define P2 0xC2B2AE3D27D4EB4FULL
#define P3 0x165667B19E3779F9ULL
#define P4 0x85EBCA77C2B2AE63ULL
#define P5 0x27D4EB2F165667C5ULL

static uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static uint64_t ld64(const unsigned char *p)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
#else
    return gun__get64(p);
#endif
}

static uint64_t ck_round(uint64_t acc, uint64_t w)
{
    return rotl64(acc + w * P2, 31) * P1;
}

static uint64_t ck_merge(uint64_t h, uint64_t v)
{
    return (h ^ ck_round(0, v)) * P1 + P4;
}

static uint64_t fs_check(const void *data, size_t len)
{
    const unsigned char *p = data, *end = p + len;
    uint64_t h;
    if (len >= 32) {
        uint64_t v1 = P1 + P2, v2 = P2, v3 = 0, v4 = 0 - P1;
        do {
            v1 = ck_round(v1, ld64(p));
            v2 = ck_round(v2, ld64(p + 8));
            v3 = ck_round(v3, ld64(p + 16));
            v4 = ck_round(v4, ld64(p + 24));
            p += 32;
        } while (end - p >= 32);
        h = rotl64(v1, 1) + rotl64(v2, 7) + rotl64(v3, 12) + rotl64(v4, 18);
        h = ck_merge(ck_merge(ck_merge(ck_merge(h, v1), v2), v3), v4);
    } else {
        h = P5;
    }
    h += (uint64_t)len;
    for (; end - p >= 8; p += 8)
        h = rotl64(h ^ ck_round(0, ld64(p)), 27) * P1 + P4;
    for (; p < end; p++)
        h = rotl64(h ^ (*p * P5), 11) * P1;
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    h *= P3;
    return h ^ (h >> 32);
}


static int fs_fail(const fs *s, gun__err *e, int err, const char *what, const char *name)
{
    const char *why = err == ENOSPC ? "no space left on device (disk full)"
                      : err == EFBIG ? "file too large (file size limit reached)"
                                     : strerror(err);
    return gun__fail(e, err == ENOMEM ? GUN_ENOMEM : GUN_EIO, "store file: %s: %s%s%s: %s",
                     s->path, what, name ? " " : "", name ? name : "", why);
}

/* ---- names ---- */

static int name_plain(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* The escaped name of a soul into out (FS_NAME_MAX + 1 bytes); 0 if it is too long. */
static size_t name_escape(const char *s, size_t len, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o + 3 > FS_NAME_MAX)
            return 0;
        if (name_plain(c)) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = 0;
    return o;
}

/* The file name of a soul (escaped or hashed). */
static const char *soul_name(const fsoul *x, char *buf)
{
    if (x->hname)
        return x->hname;
    name_escape(x->s, x->len, buf);
    return buf;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes an escaped name; -1 unless it is exactly what name_escape writes. */
static int name_unescape(const char *name, gun__buf *out)
{
    gun__buf_reset(out);
    for (size_t i = 0; name[i]; i++) {
        unsigned char c = (unsigned char)name[i];
        if (name_plain(c)) {
            gun__buf_addc(out, (char)c);
        } else if (c == '%') {
            int h = hexval(name[i + 1]), l = h < 0 ? -1 : hexval(name[i + 2]);
            if (h < 0 || l < 0 || name_plain((unsigned char)(h * 16 + l)))
                return -1;
            gun__buf_addc(out, (char)(h * 16 + l));
            i += 2;
        } else {
            return -1;
        }
    }
    return out->oom ? -2 : 0;
}

/* ---- the soul index ---- */

/* Index of the first soul >= (s, len) in UTF-16 order. */
static size_t soul_lower(const fs *st, const char *s, size_t len)
{
    size_t lo = 0, hi = st->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (gun__utf16_cmp(st->v[mid]->s, st->v[mid]->len, s, len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static fsoul *soul_find(const fs *st, gun__str soul)
{
    size_t i = soul_lower(st, soul.p, soul.len);
    if (i < st->n && st->v[i]->len == soul.len && !memcmp(st->v[i]->s, soul.p, soul.len))
        return st->v[i];
    return NULL;
}

static fsoul *soul_new(const char *s, size_t len, const char *hname)
{
    fsoul *x = gun__calloc(1, sizeof *x + len + 1);
    if (!x)
        return NULL;
    memcpy(x->s, s, len);
    x->len = len;
    if (hname && !(x->hname = gun__strndup(hname, strlen(hname)))) {
        gun__free(x);
        return NULL;
    }
    return x;
}

static void soul_free(fsoul *x)
{
    if (x) {
        gun__free(x->hname);
        gun__free(x->cbuf);
        gun__free(x);
    }
}

/* ---- the node cache (an LRU list through the souls) ---- */

static void cache_unlink(fs *s, fsoul *x)
{
    if (x->lprev)
        x->lprev->lnext = x->lnext;
    else
        s->lru_head = x->lnext;
    if (x->lnext)
        x->lnext->lprev = x->lprev;
    else
        s->lru_tail = x->lprev;
    x->lprev = x->lnext = NULL;
}

static void cache_front(fs *s, fsoul *x)
{
    x->lprev = NULL;
    x->lnext = s->lru_head;
    if (s->lru_head)
        s->lru_head->lprev = x;
    s->lru_head = x;
    if (!s->lru_tail)
        s->lru_tail = x;
}

static void cache_drop(fs *s, fsoul *x)
{
    if (!x->cbuf)
        return;
    cache_unlink(s, x);
    gun__free(x->cbuf);
    x->cbuf = NULL;
    s->cbytes -= x->csize;
    x->csize = 0;
}

/* Takes buf (a checked node file) as x's cached copy. Never while a walk is lent one. */
static void cache_put(fs *s, fsoul *x, char *buf, size_t size)
{
    GUN_ASSERT(!s->busy);
    cache_drop(s, x);
    if (size > FS_CACHE_ONE) {
        gun__free(buf);
        return;
    }
    while (s->lru_tail && s->cbytes + size > FS_CACHE_BYTES)
        cache_drop(s, s->lru_tail);
    x->cbuf = buf;
    x->csize = size;
    s->cbytes += size;
    cache_front(s, x);
}

static int soul_ptr_cmp(const void *a, const void *b)
{
    const fsoul *x = *(fsoul *const *)a, *y = *(fsoul *const *)b;
    return gun__utf16_cmp(x->s, x->len, y->s, y->len);
}

/* ---- files ---- */

/* Creates a file (O_EXCL), writes it whole and starts its writeback; *fd stays open for
 * file_finish. 0 or an errno (the file is closed and removed then). */
static int file_start(int dfd, const char *name, const void *p, size_t len, int sync, int *fd)
{
    *fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (*fd < 0)
        return errno;
    const char *c = p;
    int err = 0;
    while (len) {
        ssize_t w = write(*fd, c, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            err = errno;
            break;
        }
        if (w == 0) {
            err = EIO;
            break;
        }
        c += w;
        len -= (size_t)w;
    }
#ifdef SYNC_FILE_RANGE_WRITE
    /* Let the disk work on this file while the next ones are written (a hint). */
    if (!err && sync)
        (void)sync_file_range(*fd, 0, 0, SYNC_FILE_RANGE_WRITE);
#endif
    if (err) {
        close(*fd);
        *fd = -1;
        unlinkat(dfd, name, 0);
    }
    return err;
}

/* fsync (unless nosync) and close. 0 or an errno; the fd is closed either way. */
static int file_finish(int fd, int sync)
{
    int err = 0;
    if (sync && fsync(fd) != 0)
        err = errno;
    if (close(fd) != 0 && !err)
        err = errno;
    return err;
}

/* Writes a whole file durably (unless nosync). 0 or an errno (the file is removed). */
static int write_file(const fs *s, int dfd, const char *name, const void *p, size_t len)
{
    int fd;
    int err = file_start(dfd, name, p, len, !s->nosync, &fd);
    if (!err && (err = file_finish(fd, !s->nosync)) != 0)
        unlinkat(dfd, name, 0);
    return err;
}

static int sync_dir(const fs *s, int dfd)
{
    if (s->nosync)
        return 0;
    return fsync(dfd) == 0 ? 0 : errno;
}

/* Reads a whole file into a new buffer. 0 or an errno. */
static int read_file(int dfd, const char *name, char **out, size_t *len)
{
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int err = errno;
        close(fd);
        return err;
    }
    if (sb.st_size < 0 || (unsigned long long)sb.st_size >= SIZE_MAX / 2) {
        close(fd);
        return EFBIG;
    }
    size_t n = (size_t)sb.st_size;
    char *b = gun__malloc(n + 1);
    if (!b) {
        close(fd);
        return ENOMEM;
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, b + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int err = r < 0 ? errno : EIO; /* shrank while reading */
            gun__free(b);
            close(fd);
            return err;
        }
        got += (size_t)r;
    }
    close(fd);
    b[n] = 0;
    *out = b;
    *len = n;
    return 0;
}

/* A directory stream over an open directory fd. The duplicate shares the file offset
 * with fd, so rewind: an earlier listing left it at the end. */
static DIR *opendir_at(int fd)
{
    int d2 = dup(fd);
    if (d2 < 0)
        return NULL;
    DIR *d = fdopendir(d2);
    if (!d) {
        close(d2);
        return NULL;
    }
    rewinddir(d);
    return d;
}

/* ---- node files ---- */

typedef struct fnode {
    char *buf;
    size_t size;
    gun__str soul;
    uint32_t n;
    size_t ioff;  /* index offset */
    int borrowed; /* buf is the cache's */
} fnode;

typedef struct frec {
    gun__str key;
    gun__val val;
    double state;
    size_t off, len; /* raw record bytes */
} frec;

/* Checks the node file in nd->buf (the checksum only when `verify`) and fills nd.
 * NULL, or what is wrong. */
static const char *node_parse(const fsoul *x, fnode *nd, int verify)
{
    const unsigned char *p = (const unsigned char *)nd->buf;
    size_t z = nd->size;
    const char *bad = NULL;
    if (z < FS_HDR + FS_FOOT || memcmp(p, "GUNN", 4) || memcmp(p + z - 4, "GUNE", 4))
        bad = "not a node file, or cut short";
    else if (p[4] != 1)
        bad = "unknown node file version";
    else if (verify && gun__get64(p + z - 12) != fs_check(p, z - 12))
        bad = "checksum mismatch";
    if (!bad) {
        uint32_t sl = gun__get32(p + 8);
        nd->n = gun__get32(p + 12);
        uint64_t io = gun__get64(p + z - FS_FOOT);
        if (sl > z || FS_HDR + (uint64_t)sl > io || io > z - FS_FOOT ||
            (z - FS_FOOT - io) / 8 != nd->n || (z - FS_FOOT - io) % 8)
            bad = "bad header or index";
        else if (sl != x->len || memcmp(p + FS_HDR, x->s, sl))
            bad = "holds another soul";
        nd->soul.p = nd->buf + FS_HDR;
        nd->soul.len = sl;
        nd->ioff = (size_t)io;
    }
    return bad;
}

/* The node file of soul x: the cached copy, or read and checked (and cached unless a
 * walk is in progress). GUN_OK, GUN_ENOMEM, or GUN_EIO. */
static int node_get(fs *s, fsoul *x, fnode *nd, gun__err *e)
{
    memset(nd, 0, sizeof *nd);
    if (x->cbuf) {
        nd->buf = x->cbuf;
        nd->size = x->csize;
        nd->borrowed = 1;
        if (node_parse(x, nd, 0) == NULL) {
            cache_unlink(s, x);
            cache_front(s, x);
            return GUN_OK;
        }
        memset(nd, 0, sizeof *nd); /* cannot happen: it was checked; read it again */
        if (!s->busy)
            cache_drop(s, x);
    }
    char nb[FS_NAME_MAX + 1];
    const char *name = soul_name(x, nb);
    int err = read_file(s->dfd, name, &nd->buf, &nd->size);
    if (err)
        return fs_fail(s, e, err, "cannot read node file", name);
    const char *bad = node_parse(x, nd, 1);
    if (bad) {
        gun__free(nd->buf);
        nd->buf = NULL;
        return gun__fail(e, GUN_EIO, "store file: %s: node file %s is corrupt (%s)", s->path,
                         name, bad);
    }
    if (!s->busy && !x->cbuf && nd->size <= FS_CACHE_ONE) {
        cache_put(s, x, nd->buf, nd->size);
        nd->borrowed = 1;
    }
    return GUN_OK;
}

static void node_free(fnode *nd)
{
    if (!nd->borrowed)
        gun__free(nd->buf);
    nd->buf = NULL;
}

/* Record i, checked against the file's bounds. -1 if malformed. */
static int node_rec(const fnode *nd, uint32_t i, frec *r)
{
    const unsigned char *p = (const unsigned char *)nd->buf;
    uint64_t off = gun__get64(p + nd->ioff + 8 * (size_t)i);
    size_t start = FS_HDR + nd->soul.len;
    if (off < start || off > nd->ioff || nd->ioff - off < FS_REC)
        return -1;
    uint32_t kl = gun__get32(p + off), vl = gun__get32(p + off + 4);
    if ((uint64_t)kl + vl > nd->ioff - off - FS_REC)
        return -1;
    r->off = (size_t)off;
    r->len = FS_REC + (size_t)kl + vl;
    r->state = gun__bitsd(gun__get64(p + off + 8));
    r->key.p = nd->buf + off + FS_REC;
    r->key.len = kl;
    const char *v = r->key.p + kl;
    memset(&r->val, 0, sizeof r->val);
    switch (p[off + 16]) {
    case T_NULL: r->val.t = GUN__V_NULL; return vl ? -1 : 0;
    case T_FALSE: r->val.t = GUN__V_BOOL; return vl ? -1 : 0;
    case T_TRUE: r->val.t = GUN__V_BOOL, r->val.b = 1; return vl ? -1 : 0;
    case T_NUM:
        if (vl != 8)
            return -1;
        r->val.t = GUN__V_NUM;
        r->val.n = gun__bitsd(gun__get64((const unsigned char *)v));
        return 0;
    case T_STR:
    case T_LINK:
        r->val.t = p[off + 16] == T_STR ? GUN__V_STR : GUN__V_LINK;
        r->val.s.p = v;
        r->val.s.len = vl;
        return 0;
    default: return -1;
    }
}

static int node_corrupt(const fs *s, const fsoul *x, gun__err *e)
{
    char nb[FS_NAME_MAX + 1];
    return gun__fail(e, GUN_EIO, "store file: %s: node file %s is corrupt (bad record)",
                     s->path, soul_name(x, nb));
}

/* ---- open / close ---- */

static void fs_close(void *st)
{
    fs *s = st;
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        soul_free(s->v[i]);
    gun__free(s->v);
    if (s->dfd >= 0)
        close(s->dfd);
    if (s->root >= 0)
        close(s->root);
    if (s->lockfd >= 0)
        close(s->lockfd); /* releases the flock */
    if (s->mu_ok)
        pthread_mutex_destroy(&s->mu);
    gun__free(s->path);
    gun__free(s);
}

/* First use of an empty directory: nodes/ then FORMAT (the marker goes last). */
static int fs_init(fs *s, gun__err *e)
{
    DIR *d = opendir_at(s->root);
    if (!d)
        return fs_fail(s, e, errno, "cannot list", NULL);
    struct dirent *de;
    char other[64] = "";
    while ((de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        if (n[0] != '.' && strcmp(n, "LOCK") && strcmp(n, "nodes") && strcmp(n, "lost+found"))
            snprintf(other, sizeof other, "%.60s", n);
    }
    closedir(d);
    if (other[0])
        return gun__fail(e, GUN_EINVAL,
                         "store file: '%s' is not empty and holds no file store (found '%s'); "
                         "give a new or empty directory",
                         s->path, other);
    if (mkdirat(s->root, "nodes", 0755) != 0 && errno != EEXIST)
        return fs_fail(s, e, errno, "cannot create", "nodes/");
    int dfd = openat(s->root, "nodes", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return fs_fail(s, e, errno, "cannot open", "nodes/");
    d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return fs_fail(s, e, errno, "cannot list", "nodes/");
    }
    int any = 0;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            any = 1;
    closedir(d);
    if (any)
        return gun__fail(e, GUN_EIO, "store file: %s: FORMAT is missing but nodes/ holds "
                                     "files: not a libgun file store, or damaged", s->path);
    unlinkat(s->root, ".FORMAT.tmp", 0);
    int err = write_file(s, s->root, ".FORMAT.tmp", FS_FORMAT, sizeof FS_FORMAT - 1);
    if (!err && renameat(s->root, ".FORMAT.tmp", s->root, "FORMAT") != 0)
        err = errno;
    if (!err)
        err = sync_dir(s, s->root);
    if (err)
        return fs_fail(s, e, err, "cannot create", "FORMAT");
    return GUN_OK;
}

/* Parses the journal: pairs of "temp final" lines, then "end N CHECK". -1 if malformed. */
static int journal_parse(char *j, size_t len, char ***pairs, size_t *np)
{
    *pairs = NULL;
    *np = 0;
    const char *endl = NULL;
    for (size_t i = len; i > 0; i--) /* the last line */
        if (i < len && j[i - 1] == '\n') {
            endl = j + i;
            break;
        }
    if (!endl || len < 8 || j[len - 1] != '\n' || strncmp(endl, "end ", 4))
        return -1;
    unsigned long long n, check;
    if (sscanf(endl, "end %llu %llx", &n, &check) != 2)
        return -1;
    size_t body = (size_t)(endl - j);
    if (check != gun__hash64(j, body, fs_hkey) || n > body / 4)
        return -1;
    char **v = gun__calloc(n ? 2 * n : 1, sizeof *v);
    if (!v)
        return -2;
    char *p = j;
    for (size_t i = 0; i < n; i++) {
        char *sp = memchr(p, ' ', (size_t)(endl - p)), *nl = sp ? memchr(sp, '\n', (size_t)(endl - sp)) : NULL;
        if (!sp || !nl) {
            gun__free(v);
            return -1;
        }
        *sp = 0;
        *nl = 0;
        v[2 * i] = p;
        v[2 * i + 1] = sp + 1;
        if (p[0] != '.' || !v[2 * i + 1][0] || v[2 * i + 1][0] == '.' || strchr(v[2 * i + 1], '/') ||
            strchr(p, '/')) {
            gun__free(v);
            return -1;
        }
        p = nl + 1;
    }
    if (p != endl) {
        gun__free(v);
        return -1;
    }
    *pairs = v;
    *np = n;
    return 0;
}

/* Finishes a write that reached its commit point before a crash, then removes every
 * temporary file (writes that never committed). */
static int fs_recover(fs *s, gun__err *e)
{
    char *j = NULL;
    size_t jl = 0;
    int err = read_file(s->dfd, ".journal", &j, &jl);
    if (err && err != ENOENT)
        return fs_fail(s, e, err, "cannot read", "nodes/.journal");
    if (!err) {
        char **pairs;
        size_t np;
        int rc = journal_parse(j, jl, &pairs, &np);
        if (rc == -2) {
            gun__free(j);
            return gun__fail(e, GUN_ENOMEM, "store file: out of memory");
        }
        if (rc < 0) {
            gun__free(j);
            return gun__fail(e, GUN_EIO, "store file: %s: nodes/.journal is corrupt: the last "
                                         "write cannot be finished; move the file away to "
                                         "drop that write", s->path);
        }
        for (size_t i = 0; i < np && !err; i++)
            if (renameat(s->dfd, pairs[2 * i], s->dfd, pairs[2 * i + 1]) != 0 && errno != ENOENT)
                err = errno; /* ENOENT: renamed before the crash */
        gun__free(pairs);
        gun__free(j);
        if (!err)
            err = sync_dir(s, s->dfd);
        if (!err && unlinkat(s->dfd, ".journal", 0) != 0)
            err = errno;
        if (err)
            return fs_fail(s, e, err, "cannot finish the interrupted write in", "nodes/");
    }
    DIR *d = opendir_at(s->dfd);
    if (!d)
        return fs_fail(s, e, errno, "cannot list", "nodes/");
    struct dirent *de;
    int removed = 0;
    while ((de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        if (n[0] == '.' && (n[1] == 't' || !strcmp(n, ".journal.tmp"))) {
            if (unlinkat(s->dfd, n, 0) != 0) {
                err = errno;
                closedir(d);
                return fs_fail(s, e, err, "cannot remove the temporary file", n);
            }
            removed = 1;
        }
    }
    closedir(d);
    if (removed && (err = sync_dir(s, s->dfd)) != 0)
        return fs_fail(s, e, err, "cannot sync", "nodes/");
    return GUN_OK;
}

/* Builds the sorted soul list from the file names. */
static int fs_scan(fs *s, gun__err *e)
{
    DIR *d = opendir_at(s->dfd);
    if (!d)
        return fs_fail(s, e, errno, "cannot list", "nodes/");
    size_t cap = 0;
    gun__buf b;
    gun__buf_init(&b);
    struct dirent *de;
    int rc = GUN_OK;
    while (rc == GUN_OK && (de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        if (n[0] == '.')
            continue;
        fsoul *x = NULL;
        if (n[0] == '~') {
            /* A hashed name: the soul is in the file's header. */
            int fd = openat(s->dfd, n, O_RDONLY | O_CLOEXEC);
            unsigned char h[FS_HDR];
            if (fd < 0) {
                rc = fs_fail(s, e, errno, "cannot read node file", n);
                break;
            }
            ssize_t r = pread(fd, h, sizeof h, 0);
            uint32_t sl = r == (ssize_t)sizeof h ? gun__get32(h + 8) : 0;
            gun__buf_reset(&b);
            if (r == (ssize_t)sizeof h && !memcmp(h, "GUNN", 4) && sl && sl < (1u << 30) &&
                gun__buf_reserve(&b, sl) == GUN_OK &&
                pread(fd, b.p, sl, FS_HDR) == (ssize_t)sl)
                b.len = sl;
            close(fd);
            if (b.oom) {
                rc = gun__fail(e, GUN_ENOMEM, "store file: out of memory");
                break;
            }
            if (!b.len || memchr(b.p, 0, b.len) || !gun__wtf8_canonical(b.p, b.len)) {
                rc = gun__fail(e, GUN_EIO, "store file: %s: node file %s is corrupt (bad "
                                           "header)", s->path, n);
                break;
            }
            x = soul_new(b.p, b.len, n);
        } else {
            int u = name_unescape(n, &b);
            if (u == -2) {
                rc = gun__fail(e, GUN_ENOMEM, "store file: out of memory");
                break;
            }
            if (u < 0 || !b.len || memchr(b.p, 0, b.len) || !gun__wtf8_canonical(b.p, b.len)) {
                rc = gun__fail(e, GUN_EIO, "store file: %s: unexpected file nodes/%s (not "
                                           "a node file name); move it away", s->path, n);
                break;
            }
            x = soul_new(b.p, b.len, NULL);
        }
        if (!x) {
            rc = gun__fail(e, GUN_ENOMEM, "store file: out of memory");
            break;
        }
        if (s->n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            fsoul **v = nc < SIZE_MAX / sizeof *v ? gun__realloc(s->v, nc * sizeof *v) : NULL;
            if (!v) {
                soul_free(x);
                rc = gun__fail(e, GUN_ENOMEM, "store file: out of memory");
                break;
            }
            s->v = v;
            cap = nc;
        }
        s->v[s->n++] = x;
    }
    closedir(d);
    gun__buf_free(&b);
    if (rc == GUN_OK && s->n)
        qsort(s->v, s->n, sizeof *s->v, soul_ptr_cmp);
    return rc;
}

static int fs_open(void **out, const gun__store_cfg *cfg, gun__err *e)
{
    if (!cfg->path || !cfg->path[0])
        return gun__fail(e, GUN_EINVAL, "store file: no data directory given");
    int rc = gun__store_mkdir_p(cfg->path, "file", e);
    if (rc)
        return rc;
    fs *s = gun__calloc(1, sizeof *s);
    if (!s || !(s->path = gun__strndup(cfg->path, strlen(cfg->path)))) {
        gun__free(s);
        return gun__fail(e, GUN_ENOMEM, "store file: out of memory");
    }
    s->root = s->dfd = s->lockfd = -1;
    s->nosync = cfg->nosync;
    pthread_mutexattr_t ma;
    if (pthread_mutexattr_init(&ma) != 0) {
        rc = gun__fail(e, GUN_ENOMEM, "store file: cannot create a lock");
        goto fail;
    }
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    s->mu_ok = pthread_mutex_init(&s->mu, &ma) == 0;
    pthread_mutexattr_destroy(&ma);
    if (!s->mu_ok) {
        rc = gun__fail(e, GUN_ENOMEM, "store file: cannot create a lock");
        goto fail;
    }
    s->root = open(s->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->root < 0) {
        rc = fs_fail(s, e, errno, "cannot open the data directory", NULL);
        goto fail;
    }
    s->lockfd = openat(s->root, "LOCK", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (s->lockfd < 0) {
        rc = fs_fail(s, e, errno, "cannot open", "LOCK");
        goto fail;
    }
    if (flock(s->lockfd, LOCK_EX | LOCK_NB) != 0) {
        rc = errno == EWOULDBLOCK
                 ? gun__fail(e, GUN_EIO, "store file: %s is in use by another process (or "
                                         "already open in this one)", s->path)
                 : fs_fail(s, e, errno, "cannot lock", "LOCK");
        goto fail;
    }
    char *fmt = NULL;
    size_t flen = 0;
    int err = read_file(s->root, "FORMAT", &fmt, &flen);
    if (err == ENOENT) {
        if ((rc = fs_init(s, e)) != GUN_OK)
            goto fail;
    } else if (err) {
        rc = fs_fail(s, e, err, "cannot read", "FORMAT");
        goto fail;
    } else {
        int same = flen == sizeof FS_FORMAT - 1 && !memcmp(fmt, FS_FORMAT, flen);
        gun__free(fmt);
        if (!same) {
            rc = gun__fail(e, GUN_EIO, "store file: %s/FORMAT is not '%.*s': another format or "
                                       "a damaged store", s->path, (int)sizeof FS_FORMAT - 2, FS_FORMAT);
            goto fail;
        }
    }
    s->dfd = openat(s->root, "nodes", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dfd < 0) {
        rc = fs_fail(s, e, errno, "cannot open", "nodes/");
        goto fail;
    }
    if ((rc = fs_recover(s, e)) != GUN_OK || (rc = fs_scan(s, e)) != GUN_OK)
        goto fail;
    *out = s;
    return GUN_OK;
fail:
    fs_close(s);
    return rc;
}

/* ---- reads ---- */

/* Are the lex's strings canonical WTF-8? The binary searches and early stops rely on
 * gun__lex_below/above being monotone, which holds only for well-formed bounds; with
 * other strings (only a local caller can pass them) a walk covers everything and
 * gun__lex_match alone decides. */
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

static int soul_ok(gun__str soul)
{
    return soul.len && soul.p && !memchr(soul.p, 0, soul.len);
}

/* Index of the first record whose key is >= key (UTF-16). */
static int node_lower(const fnode *nd, gun__str key, uint32_t *at)
{
    uint32_t lo = 0, hi = nd->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        frec r;
        if (node_rec(nd, mid, &r) != 0)
            return -1;
        if (gun__utf16_cmp(r.key.p, r.key.len, key.p ? key.p : "", key.len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *at = lo;
    return 0;
}

static int fs_get_key_locked(void *st, gun__str soul, gun__str key, gun__store_visit cb, void *arg)
{
    fs *s = st;
    if (s->broken)
        return GUN_EIO;
    if (!soul_ok(soul))
        return GUN_ENOTFOUND;
    fsoul *x = soul_find(s, soul);
    if (!x)
        return GUN_ENOTFOUND;
    fnode nd;
    int rc = node_get(s, x, &nd, NULL);
    if (rc)
        return rc;
    uint32_t i;
    frec r;
    rc = GUN_ENOTFOUND;
    if (node_lower(&nd, key, &i) != 0)
        rc = GUN_EIO;
    else if (i < nd.n) {
        if (node_rec(&nd, i, &r) != 0)
            rc = GUN_EIO;
        else if (r.key.len == key.len && (!key.len || !memcmp(r.key.p, key.p, key.len))) {
            s->busy++;
            cb(arg, nd.soul, r.key, &r.val, r.state);
            s->busy--;
            rc = GUN_OK;
        }
    }
    node_free(&nd);
    return rc;
}

/* Index of the first record for which pred(lex, key) is false (pred monotone: true on a
 * prefix of the records). */
static int node_search(const fnode *nd, const gun__lex *lex, int (*pred)(const gun__lex *, gun__str),
                       int negate, uint32_t *at)
{
    uint32_t lo = 0, hi = nd->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        frec r;
        if (node_rec(nd, mid, &r) != 0)
            return -1;
        if (!!pred(lex, r.key) != negate)
            lo = mid + 1;
        else
            hi = mid;
    }
    *at = lo;
    return 0;
}

static int fs_get_node_locked(void *st, gun__str soul, const gun__lex *lex, gun__store_visit cb,
                       void *arg)
{
    fs *s = st;
    if (s->broken)
        return GUN_EIO;
    if (!soul_ok(soul))
        return GUN_ENOTFOUND;
    fsoul *x = soul_find(s, soul);
    if (!x)
        return GUN_ENOTFOUND;
    fnode nd;
    int rc = node_get(s, x, &nd, NULL);
    if (rc)
        return rc;
    int rev = lex && lex->reverse, seek = lex_seekable(lex);
    uint32_t i = rev ? nd.n : 0;
    /* Forward: from the first record not below the range. Reverse: down from the record
     * before the first one above it. Both predicates hold on a prefix of the records. */
    if (seek && (!rev ? node_search(&nd, lex, gun__lex_below, 0, &i)
                      : node_search(&nd, lex, gun__lex_above, 1, &i)) != 0) {
        node_free(&nd);
        return GUN_EIO;
    }
    rc = GUN_OK;
    s->busy++;
    for (;;) {
        if (!rev ? i >= nd.n : i == 0)
            break;
        frec r;
        if (node_rec(&nd, rev ? i - 1 : i, &r) != 0) {
            rc = GUN_EIO;
            break;
        }
        i = rev ? i - 1 : i + 1;
        if (seek && (!rev ? gun__lex_above(lex, r.key) : gun__lex_below(lex, r.key)))
            break;
        if (gun__lex_match(lex, r.key) && cb(arg, nd.soul, r.key, &r.val, r.state))
            break;
    }
    s->busy--;
    node_free(&nd);
    return rc;
}

static int fs_souls_locked(void *st, const gun__lex *lex, gun__soul_visit cb, void *arg)
{
    fs *s = st;
    if (s->broken)
        return GUN_EIO;
    int rev = lex && lex->reverse, seek = lex_seekable(lex);
    /* Same walk over the in-memory soul list. */
    size_t lo = 0, hi = seek ? s->n : 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        gun__str k = {s->v[mid]->s, s->v[mid]->len};
        if (!rev ? gun__lex_below(lex, k) : !gun__lex_above(lex, k))
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t i = seek ? lo : rev ? s->n : 0;
    for (;;) {
        if (!rev ? i >= s->n : i == 0)
            break;
        fsoul *x = s->v[rev ? i - 1 : i];
        i = rev ? i - 1 : i + 1;
        gun__str k = {x->s, x->len};
        if (seek && (!rev ? gun__lex_above(lex, k) : gun__lex_below(lex, k)))
            break;
        if (gun__lex_match(lex, k) && cb(arg, k))
            break;
    }
    return GUN_OK;
}

/* ---- writes ---- */

static int rec_check(const gun__store_rec *r, size_t i, gun__err *e)
{
    int rc = gun__store_rec_check(r, i, "file", e);
    if (rc)
        return rc;
    if (r->soul.len > 0xFFFFFFF0u || r->key.len > 0xFFFFFFF0u ||
        ((r->val.t == GUN__V_STR || r->val.t == GUN__V_LINK) && r->val.s.len > 0xFFFFFFF0u))
        return gun__fail(e, GUN_EINVAL, "store file: record %zu: soul, key or value over 4 GiB",
                         i);
    return GUN_OK;
}

static int rec_ptr_cmp(const void *a, const void *b)
{
    const gun__store_rec *x = *(const gun__store_rec *const *)a,
                         *y = *(const gun__store_rec *const *)b;
    int c = gun__utf16_cmp(x->soul.p, x->soul.len, y->soul.p, y->soul.len);
    if (!c)
        c = gun__utf16_cmp(x->key.p ? x->key.p : "", x->key.len, y->key.p ? y->key.p : "", y->key.len);
    if (!c) /* same soul and key: batch order (the array is contiguous) */
        c = x < y ? -1 : x > y;
    return c;
}

static void emit_new(gun__buf *b, const gun__store_rec *r)
{
    unsigned char h[FS_REC];
    uint32_t vl = 0;
    int t;
    switch (r->val.t) {
    case GUN__V_NULL: t = T_NULL; break;
    case GUN__V_BOOL: t = r->val.b ? T_TRUE : T_FALSE; break;
    case GUN__V_NUM: t = T_NUM, vl = 8; break;
    case GUN__V_STR: t = T_STR, vl = (uint32_t)r->val.s.len; break;
    default: t = T_LINK, vl = (uint32_t)r->val.s.len; break;
    }
    gun__put32(h, (uint32_t)r->key.len);
    gun__put32(h + 4, vl);
    gun__put64(h + 8, gun__dbits(r->state));
    h[16] = (unsigned char)t;
    gun__buf_add(b, h, sizeof h);
    gun__buf_add(b, r->key.p ? r->key.p : "", r->key.len);
    if (t == T_NUM) {
        unsigned char n[8];
        gun__put64(n, gun__dbits(r->val.n));
        gun__buf_add(b, n, 8);
    } else if (vl) {
        gun__buf_add(b, r->val.s.p, vl);
    }
}

/* Builds the new file of one soul: its old records (nd, may be NULL) merged with the
 * batch's records for it (recs[0..n), sorted by key, later duplicates last). Old records
 * between two new keys are copied as one run of bytes. 0, or -1 (a bad old record), -2
 * (too many records), -3 (out of memory). */
static int node_build(gun__buf *b, gun__str soul, const fnode *nd, const gun__store_rec **recs,
                      size_t n)
{
    gun__buf offs; /* u64 offsets */
    gun__buf_init(&offs);
    unsigned char h[FS_HDR] = {'G', 'U', 'N', 'N', 1, 0, 0, 0};
    gun__put32(h + 8, (uint32_t)soul.len);
    gun__buf_add(b, h, sizeof h);
    gun__buf_add(b, soul.p, soul.len);
    uint32_t oi = 0, on = nd ? nd->n : 0;
    size_t ni = 0;
    uint64_t count = 0;
    int rc = 0;
    unsigned char o[8];
    while (!rc && (oi < on || ni < n)) {
        /* Of the batch's records with one key, the last wins. */
        while (ni + 1 < n && gun__utf16_cmp(recs[ni]->key.p ? recs[ni]->key.p : "", recs[ni]->key.len,
                                    recs[ni + 1]->key.p ? recs[ni + 1]->key.p : "",
                                    recs[ni + 1]->key.len) == 0)
            ni++;
        /* The old records below the next new key: [oi, stop). */
        uint32_t stop = on;
        if (ni < n) {
            uint32_t lo = oi, hi = on;
            while (lo < hi) {
                uint32_t mid = lo + (hi - lo) / 2;
                frec r;
                if (node_rec(nd, mid, &r) != 0) {
                    rc = -1;
                    break;
                }
                if (gun__utf16_cmp(r.key.p, r.key.len, recs[ni]->key.p ? recs[ni]->key.p : "",
                           recs[ni]->key.len) < 0)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            stop = lo;
        }
        if (!rc && stop > oi) {
            frec first, last;
            if (node_rec(nd, oi, &first) != 0 || node_rec(nd, stop - 1, &last) != 0 ||
                last.off < first.off) {
                rc = -1;
                break;
            }
            size_t base = b->len;
            gun__buf_add(b, nd->buf + first.off, last.off + last.len - first.off);
            const unsigned char *ix = (const unsigned char *)nd->buf + nd->ioff;
            for (uint32_t k = oi; k < stop; k++) {
                uint64_t off = gun__get64(ix + 8 * (size_t)k);
                if (off < first.off || off > last.off) {
                    rc = -1;
                    break;
                }
                gun__put64(o, base + (off - first.off));
                gun__buf_add(&offs, o, 8);
            }
            count += stop - oi;
            oi = stop;
        }
        if (!rc && ni < n) {
            if (oi < on) { /* the new record replaces an old one with its key */
                frec r;
                if (node_rec(nd, oi, &r) != 0) {
                    rc = -1;
                    break;
                }
                if (gun__utf16_cmp(r.key.p, r.key.len, recs[ni]->key.p ? recs[ni]->key.p : "",
                           recs[ni]->key.len) == 0)
                    oi++;
            }
            gun__put64(o, b->len);
            gun__buf_add(&offs, o, 8);
            emit_new(b, recs[ni]);
            ni++;
            count++;
        }
    }
    if (!rc && count > UINT32_MAX)
        rc = -2;
    if (!rc && !b->oom && !offs.oom) {
        unsigned char f[FS_FOOT];
        gun__put32((unsigned char *)b->p + 12, (uint32_t)count);
        uint64_t io = b->len;
        gun__buf_add(b, offs.p, offs.len);
        gun__put64(f, io);
        gun__buf_add(b, f, 8);
        if (!b->oom) {
            gun__put64(f + 8, fs_check(b->p, b->len));
            memcpy(f + 16, "GUNE", 4);
            gun__buf_add(b, f + 8, 12);
        }
    }
    int oom = b->oom || offs.oom;
    gun__buf_free(&offs);
    return rc ? rc : oom ? -3 : 0;
}

/* One soul's part of a write. */
typedef struct part {
    const gun__store_rec **recs; /* into the sorted array */
    size_t n;
    fsoul *old;     /* the existing soul, or NULL */
    fsoul *created; /* a new soul entry, owned until it joins the index */
    fsoul *x;       /* old or created: whose cache entry the new file replaces */
    char *nbuf;     /* the new file, kept for the cache (or NULL) */
    size_t nsize;
    int fd;         /* open temp file awaiting fsync, or -1 */
    char tmp[48];
    char name[FS_NAME_MAX + 1];
    int made; /* the temp file exists */
} part;

#define FS_WINDOW 64 /* temp files written ahead of their fsync */

/* fsyncs and closes the temp files still open. 0 or the first errno (index in *bad). */
static int window_finish(const fs *s, part *p, size_t np, size_t *bad)
{
    int first = 0;
    for (size_t k = 0; k < np; k++)
        if (p[k].fd >= 0) {
            int err = file_finish(p[k].fd, !s->nosync);
            p[k].fd = -1;
            if (err && !first) {
                first = err;
                *bad = k;
            }
        }
    return first;
}

/* A free hashed name for a new long soul (none of the files, none of this batch's). */
static int hashed_name(const fs *s, const char *soul, size_t len, const part *parts, size_t np,
                       char *out)
{
    uint64_t h = gun__hash64(soul, len, fs_hkey);
    for (int k = 0; k < FS_PROBES; k++) {
        if (k)
            snprintf(out, FS_NAME_MAX + 1, "~%016llx.%d", (unsigned long long)h, k);
        else
            snprintf(out, FS_NAME_MAX + 1, "~%016llx", (unsigned long long)h);
        struct stat sb;
        int taken = fstatat(s->dfd, out, &sb, AT_SYMLINK_NOFOLLOW) == 0;
        for (size_t i = 0; i < np && !taken; i++)
            taken = !strcmp(parts[i].name, out);
        if (!taken)
            return 0;
    }
    return -1;
}

static void parts_undo(const fs *s, part *p, size_t np)
{
    for (size_t i = 0; i < np; i++) {
        if (p[i].fd >= 0)
            close(p[i].fd);
        p[i].fd = -1;
        if (p[i].made)
            unlinkat(s->dfd, p[i].tmp, 0);
        soul_free(p[i].created);
        p[i].made = 0;
        p[i].created = NULL;
    }
}

/* Writes the journal of a multi-soul write and makes it durable: the commit point. */
static int journal_commit(fs *s, const part *p, size_t np, gun__err *e)
{
    gun__buf j;
    gun__buf_init(&j);
    for (size_t i = 0; i < np; i++)
        gun__buf_printf(&j, "%s %s\n", p[i].tmp, p[i].name);
    if (j.oom) {
        gun__buf_free(&j);
        return gun__fail(e, GUN_ENOMEM, "store file: out of memory");
    }
    uint64_t check = gun__hash64(j.p, j.len, fs_hkey);
    gun__buf_printf(&j, "end %zu %016llx\n", np, (unsigned long long)check);
    if (j.oom) {
        gun__buf_free(&j);
        return gun__fail(e, GUN_ENOMEM, "store file: out of memory");
    }
    unlinkat(s->dfd, ".journal.tmp", 0);
    int err = write_file(s, s->dfd, ".journal.tmp", j.p, j.len);
    gun__buf_free(&j);
    if (err)
        return fs_fail(s, e, err, "write failed, nothing was written: cannot write",
                       "nodes/.journal.tmp");
    if (renameat(s->dfd, ".journal.tmp", s->dfd, ".journal") != 0) {
        err = errno;
        unlinkat(s->dfd, ".journal.tmp", 0);
        return fs_fail(s, e, err, "write failed, nothing was written: cannot rename",
                       "nodes/.journal");
    }
    return GUN_OK;
}

static int fs_write_locked(void *st, const gun__store_rec *recs, size_t n, gun__err *e)
{
    fs *s = st;
    for (size_t i = 0; i < n; i++) {
        int rc = rec_check(&recs[i], i, e);
        if (rc)
            return rc;
    }
    if (!n)
        return GUN_OK;
    if (s->busy) /* the contract forbids it; refusing keeps lent buffers alive */
        return gun__fail(e, GUN_EINVAL, "store file: write from inside a read's visitor");
    if (s->broken)
        return gun__fail(e, GUN_EIO, "store file: %s: an earlier write failed after its "
                                     "commit point; reopen the store to finish it", s->path);
    if (n > SIZE_MAX / sizeof(part))
        return gun__fail(e, GUN_ENOMEM, "store file: out of memory");
    const gun__store_rec **sorted = gun__malloc(n * sizeof *sorted);
    part *parts = gun__calloc(n, sizeof *parts);
    fsoul **nv = NULL;
    gun__buf b;
    gun__buf_init(&b);
    size_t np = 0, created = 0, open_fds = 0, kept = 0;
    int rc = GUN_OK;
    if (!sorted || !parts) {
        rc = gun__fail(e, GUN_ENOMEM, "store file: out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        sorted[i] = &recs[i];
    qsort(sorted, n, sizeof *sorted, rec_ptr_cmp);
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && sorted[j]->soul.len == sorted[i]->soul.len &&
               !memcmp(sorted[j]->soul.p, sorted[i]->soul.p, sorted[i]->soul.len))
            j++;
        parts[np].recs = &sorted[i];
        parts[np].n = j - i;
        parts[np].fd = -1;
        np++;
        i = j;
    }
    s->gen++;
    /* Phase 1: every touched node's new file, written and fsynced as a temp file. */
    for (size_t k = 0; k < np; k++) {
        part *p = &parts[k];
        gun__str soul = p->recs[0]->soul;
        p->old = soul_find(s, soul);
        if (p->old) {
            char nb[FS_NAME_MAX + 1];
            snprintf(p->name, sizeof p->name, "%s", soul_name(p->old, nb));
        } else if (!name_escape(soul.p, soul.len, p->name) &&
                   hashed_name(s, soul.p, soul.len, parts, k, p->name) != 0) {
            rc = gun__fail(e, GUN_EIO, "store file: %s: no free file name for a long soul",
                           s->path);
            goto out;
        }
        if (!p->old) {
            p->created = soul_new(soul.p, soul.len, p->name[0] == '~' ? p->name : NULL);
            if (!p->created) {
                rc = gun__fail(e, GUN_ENOMEM, "store file: out of memory");
                goto out;
            }
            created++;
        }
        p->x = p->old ? p->old : p->created;
        fnode nd;
        if (p->old && (rc = node_get(s, p->old, &nd, e)) != GUN_OK)
            goto out;
        gun__buf_reset(&b);
        int br = node_build(&b, soul, p->old ? &nd : NULL, p->recs, p->n);
        if (p->old)
            node_free(&nd);
        if (br == -1) {
            rc = node_corrupt(s, p->old, e);
            goto out;
        }
        if (br == -2) {
            rc = gun__fail(e, GUN_EINVAL, "store file: %s: a node over 2^32 records", s->path);
            goto out;
        }
        if (br) {
            rc = gun__fail(e, GUN_ENOMEM, "store file: out of memory");
            goto out;
        }
        snprintf(p->tmp, sizeof p->tmp, ".t%llu.%zu", (unsigned long long)s->gen, k);
        int err = file_start(s->dfd, p->tmp, b.p, b.len, !s->nosync, &p->fd);
        if (err) {
            rc = fs_fail(s, e, err, "write failed, nothing was written: cannot write a "
                                    "temporary file for", p->name);
            goto out;
        }
        p->made = 1;
        if (++open_fds == FS_WINDOW) {
            size_t bad = 0;
            open_fds = 0;
            if ((err = window_finish(s, parts, k + 1, &bad)) != 0) {
                rc = fs_fail(s, e, err, "write failed, nothing was written: cannot write a "
                                        "temporary file for", parts[bad].name);
                goto out;
            }
        }
        /* Keep the new file for the cache, within its budget. */
        if (b.len <= FS_CACHE_ONE && kept + b.len <= FS_CACHE_BYTES) {
            kept += b.len;
            p->nsize = b.len;
            p->nbuf = gun__buf_take(&b);
        }
    }
    gun__buf_free(&b);
    {
        size_t bad = 0;
        int err = window_finish(s, parts, np, &bad);
        if (err) {
            rc = fs_fail(s, e, err, "write failed, nothing was written: cannot write a "
                                    "temporary file for", parts[bad].name);
            goto out;
        }
    }
    /* The new index, ready before the commit so nothing after it can fail. */
    if (created) {
        if (s->n + created > SIZE_MAX / sizeof *nv ||
            !(nv = gun__malloc((s->n + created) * sizeof *nv))) {
            rc = gun__fail(e, GUN_ENOMEM, "store file: out of memory");
            goto out;
        }
    }
    /* Phase 2: commit. Several souls: the journal is the commit point. */
    if (np > 1 && (rc = journal_commit(s, parts, np, e)) != GUN_OK)
        goto out;
    int err = 0;
    if (np > 1)
        err = sync_dir(s, s->dfd); /* makes the journal and the temp files' names durable */
    int renamed_all = 1;
    for (size_t k = 0; k < np; k++) {
        if (renameat(s->dfd, parts[k].tmp, s->dfd, parts[k].name) != 0) {
            if (!err)
                err = errno;
            renamed_all = 0;
            if (np == 1)
                break;
        } else {
            parts[k].made = 0;
        }
    }
    if (np == 1 && !renamed_all) { /* one soul: the rename is the commit point */
        rc = fs_fail(s, e, err, "write failed, nothing was written: cannot rename into",
                     parts[0].name);
        goto out;
    }
    int serr = sync_dir(s, s->dfd);
    if (!err)
        err = serr;
    if (np > 1 && renamed_all && !serr && unlinkat(s->dfd, ".journal", 0) != 0 && !err)
        err = errno;
    if (!renamed_all || (np > 1 && serr))
        s->broken = 1; /* the journal stays: the next open finishes this write */
    /* Phase 3 (cannot fail): the new souls join the index (a merge of two sorted lists),
     * the new files replace the cached ones. */
    if (created) {
        fsoul **add = (fsoul **)sorted; /* reuse: n >= created */
        size_t a = 0;
        for (size_t k = 0; k < np; k++)
            if (parts[k].created) {
                add[a++] = parts[k].created;
                parts[k].created = NULL;
            }
        qsort(add, a, sizeof *add, soul_ptr_cmp);
        size_t i = 0, j = 0, o = 0;
        while (i < s->n || j < a)
            nv[o++] = j >= a || (i < s->n && soul_ptr_cmp(&s->v[i], &add[j]) < 0) ? s->v[i++]
                                                                                : add[j++];
        gun__free(s->v);
        s->v = nv;
        s->n = o;
        nv = NULL;
    }
    for (size_t k = 0; k < np; k++) {
        if (parts[k].nbuf && !s->broken)
            cache_put(s, parts[k].x, parts[k].nbuf, parts[k].nsize);
        else {
            cache_drop(s, parts[k].x);
            gun__free(parts[k].nbuf);
        }
        parts[k].nbuf = NULL;
    }
    if (err)
        rc = fs_fail(s, e, err, s->broken ? "write committed but not finished (reopen the store)"
                                          : "write applied but may not be durable",
                     NULL);
out:
    if (parts) {
        if (rc != GUN_OK && !s->broken)
            parts_undo(s, parts, np);
        for (size_t k = 0; k < np; k++) {
            soul_free(parts[k].created);
            gun__free(parts[k].nbuf);
        }
    }
    gun__buf_free(&b);
    gun__free(nv);
    gun__free(parts);
    gun__free(sorted);
    return rc;
}

static int fs_get_key(void *st, gun__str soul, gun__str key, gun__store_visit cb, void *arg)
{
    fs *s = st;
    pthread_mutex_lock(&s->mu);
    int rc = fs_get_key_locked(st, soul, key, cb, arg);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int fs_get_node(void *st, gun__str soul, const gun__lex *lex, gun__store_visit cb,
                       void *arg)
{
    fs *s = st;
    pthread_mutex_lock(&s->mu);
    int rc = fs_get_node_locked(st, soul, lex, cb, arg);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int fs_souls(void *st, const gun__lex *lex, gun__soul_visit cb, void *arg)
{
    fs *s = st;
    pthread_mutex_lock(&s->mu);
    int rc = fs_souls_locked(st, lex, cb, arg);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int fs_write(void *st, const gun__store_rec *recs, size_t n, gun__err *e)
{
    fs *s = st;
    pthread_mutex_lock(&s->mu);
    int rc = fs_write_locked(st, recs, n, e);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* Souls are listed in memory; keys and sizes would need every node file read. */
static void fs_stat(void *st, gun__store_stat *out)
{
    fs *s = st;
    pthread_mutex_lock(&s->mu);
    out->souls = (int64_t)s->n;
    pthread_mutex_unlock(&s->mu);
    out->keys = out->bytes = -1;
}

const gun__store_ops gun__store_file_ops = {
    .version = GUN__STORE_OPS_VERSION,
    .name = "file",
    .open = fs_open,
    .close = fs_close,
    .get_key = fs_get_key,
    .get_node = fs_get_node,
    .souls = fs_souls,
    .write = fs_write,
    .stat = fs_stat,
};

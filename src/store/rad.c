/* rad: Gun.js RAD folder reader (see rad.h). Mirrors lib/radisk.js (p.radec, p.split,
 * Radisk.decode) and lib/store.js (each: new {":",">"} values and old encoded strings). */
#include "rad.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ESC '\x1b'
#define US '\x1f'

typedef struct rctx {
    gun__rad_rec_cb cb;
    void *arg;
    gun__rad_stats *st;
} rctx;

/* Splits a full record key and reports it. */
static int emit(rctx *c, const char *k, size_t klen, const gun__val *v, double state)
{
    const char *first = memchr(k, ESC, klen);
    if (!first || first == k || !isfinite(state)) {
        c->st->bad_records++;
        return GUN_OK;
    }
    const char *last = k + klen - 1;
    while (*last != ESC)
        last--;
    gun__str soul = {k, (size_t)(first - k)};
    gun__str key = {last + 1, (size_t)(k + klen - last - 1)};
    if (key.len == 0 || memchr(key.p, 0, key.len) || memchr(soul.p, 0, soul.len)) {
        c->st->bad_records++;
        return GUN_OK;
    }
    c->st->records++;
    return c->cb(c->arg, soul, key, v, state);
}

/* ---- Radisk.decode ---- */
typedef enum { D_UNDEF, D_STR, D_LINK, D_NUM, D_TRUE, D_FALSE, D_NULL } dkind;
typedef struct dval {
    dkind k;
    gun__str s;
    double n;
} dval;

/* Radisk.decode(t, o, sep): *used = o.i. Returns 0 when t does not start with sep. */
static int rad_decode(const char *t, size_t len, char sep, dval *out, size_t *used)
{
    memset(out, 0, sizeof *out);
    if (!len || t[0] != sep)
        return 0;
    size_t n = 0, i = 0;
    while (i + 1 < len && t[i + 1] == sep) {
        i++;
        n++;
    }
    i++; /* first byte after the run: the type */
    n++;
    size_t c = i; /* JS: c = n (run length) */
    char p = c < len ? t[c] : 0;
    size_t pos = c;
    while (n-- > 0) {
        const char *q = pos + 1 < len ? memchr(t + pos + 1, sep, len - pos - 1) : NULL;
        if (!q) {
            pos = len;
            break;
        }
        pos = (size_t)(q - t);
    }
    size_t ds = c + 1 < len ? c + 1 : len;
    size_t de = pos > ds ? pos : ds;
    *used = pos + 1 <= len ? pos + 1 : len;
    gun__str d = {t + ds, de - ds};
    switch (p) {
    case '"':
        out->k = D_STR;
        out->s = d;
        break;
    case '#':
        out->k = D_LINK;
        out->s = d;
        break;
    case '+':
        if (!d.len) {
            out->k = D_TRUE;
        } else {
            char nb[64];
            size_t m = d.len < sizeof nb - 1 ? d.len : sizeof nb - 1;
            memcpy(nb, d.p, m);
            nb[m] = 0;
            char *end;
            out->n = strtod(nb, &end);
            out->k = end == nb ? D_UNDEF : D_NUM; /* parseFloat("x") is NaN */
        }
        break;
    case ' ':
        out->k = D_NULL;
        break;
    case '-':
        out->k = D_FALSE;
        break;
    default:
        out->k = D_UNDEF;
    }
    return 1;
}

/* An old store value: enc(val) ">" enc(state), separator ESC (store.js each()). */
static int old_value(rctx *c, const char *k, size_t klen, gun__str s)
{
    const char *gt = NULL;
    for (size_t i = s.len; i-- > 0;)
        if (s.p[i] == '>') {
            gt = s.p + i;
            break;
        }
    dval v, st;
    size_t used;
    if (!gt || !rad_decode(gt + 1, (size_t)(s.p + s.len - gt - 1), ESC, &st, &used) ||
        st.k != D_NUM || !rad_decode(s.p, (size_t)(gt - s.p), ESC, &v, &used)) {
        c->st->bad_records++;
        return GUN_OK;
    }
    gun__val gv = {0};
    switch (v.k) {
    case D_STR: gv.t = GUN__V_STR; gv.s = v.s; break;
    case D_LINK: gv.t = GUN__V_LINK; gv.s = v.s; break;
    case D_NUM: gv.t = GUN__V_NUM; gv.n = v.n; break;
    case D_TRUE: gv.t = GUN__V_BOOL; gv.b = 1; break;
    case D_FALSE: gv.t = GUN__V_BOOL; gv.b = 0; break;
    case D_NULL: gv.t = GUN__V_NULL; break;
    default:
        c->st->bad_records++;
        return GUN_OK;
    }
    if ((gv.t == GUN__V_NUM && !isfinite(gv.n)) || (gv.t == GUN__V_LINK && !gv.s.len)) {
        c->st->bad_records++;
        return GUN_OK;
    }
    return emit(c, k, klen, &gv, st.n);
}

/* A leaf of the tree (or a legacy line's value). */
static int leaf(rctx *c, const char *k, size_t klen, const gun__json *j)
{
    if (j->t == GUN__J_STR)
        return old_value(c, k, klen, (gun__str){j->u.s.p, j->u.s.len});
    const gun__json *v = gun__json_obj_getc(j, ":"), *s = gun__json_obj_getc(j, ">");
    gun__val gv;
    if (!v || !s || s->t != GUN__J_NUM || gun__val_from_json(v, &gv) != GUN_OK) {
        c->st->bad_records++;
        return GUN_OK;
    }
    return emit(c, k, klen, &gv, s->u.n);
}

/* Depth is bounded by the parser's depth cap. */
static int walk(rctx *c, const gun__json *node, gun__buf *k)
{
    for (size_t i = 0; i < node->u.o.n; i++) {
        const gun__jmember *m = &node->u.o.m[i];
        size_t keep = k->len;
        int rc = GUN_OK;
        if (m->key_len == 0) {
            rc = leaf(c, k->p ? k->p : "", k->len, m->val);
        } else if (m->val->t == GUN__J_OBJ) {
            gun__buf_add(k, m->key, m->key_len);
            if (k->oom)
                return GUN_ENOMEM;
            rc = walk(c, m->val, k);
        } else {
            c->st->bad_records++;
        }
        k->len = keep;
        if (rc != GUN_OK)
            return rc;
    }
    return GUN_OK;
}

/* ---- legacy line format (p.radec / p.split) ---- */
typedef struct lsplit {
    gun__str a; /* text before the separator run: "", "#", ":", "=", "\n" */
    dval v;
    const char *rest;
    size_t rest_len;
} lsplit;

static int lsplit_do(const char *t, size_t len, lsplit *o)
{
    if (!t || !len)
        return 0;
    const char *q = memchr(t, US, len);
    if (!q)
        return 0;
    size_t i = (size_t)(q - t), used = 0;
    o->a = (gun__str){t, i};
    rad_decode(t + i, len - i, US, &o->v, &used);
    o->rest = t + i + used;
    o->rest_len = len - i - used;
    return 1;
}

static int is_a(const lsplit *s, char ch) { return s->a.len == 1 && s->a.p[0] == ch; }

static int legacy(rctx *c, const char *text, size_t len, gun__err *e)
{
    lsplit t;
    if (!lsplit_do(text, len, &t) || t.v.k != D_NUM || t.v.n != 0)
        return gun__fail(e, GUN_EJSON, "rad: neither a JSON radix tree nor RAD text");
    gun__str *pre = NULL;
    size_t npre = 0, cap = 0;
    gun__buf k;
    gun__buf_init(&k);
    int rc = GUN_OK, have = 1;
    while (have) {
        size_t i = t.v.k == D_NUM && t.v.n > 0 ? (t.v.n < 1e9 ? (size_t)t.v.n : (size_t)1e9) : 0;
        int has_k = 0, has_v = 0;
        dval v = {0};
        lsplit u;
        if (!lsplit_do(t.rest, t.rest_len, &u))
            break;
        if (is_a(&u, '#')) {
            if (i < npre)
                npre = i;
            if (i <= npre) {
                if (u.v.k != D_STR) {
                    c->st->bad_records++;
                } else {
                    if (npre == cap) {
                        size_t nc = cap ? cap * 2 : 16;
                        gun__str *np = gun__realloc(pre, nc * sizeof *np);
                        if (!np) {
                            rc = GUN_ENOMEM;
                            break;
                        }
                        pre = np;
                        cap = nc;
                    }
                    pre[npre++] = u.v.s;
                }
            }
            has_k = u.v.k == D_STR;
        }
        t = u;
        if (!lsplit_do(t.rest, t.rest_len, &u))
            break;
        t = u;
        if (is_a(&t, '\n'))
            continue; /* a key without a value: t holds the next line's prefix length */
        if (is_a(&t, '=') || is_a(&t, ':')) {
            v = t.v;
            has_v = v.k != D_UNDEF;
        }
        if (has_k && has_v) {
            k.len = 0;
            for (size_t j = 0; j < npre; j++)
                gun__buf_add(&k, pre[j].p, pre[j].len);
            if (k.oom) {
                rc = GUN_ENOMEM;
                break;
            }
            if (v.k == D_STR)
                rc = old_value(c, k.p ? k.p : "", k.len, v.s);
            else
                c->st->bad_records++; /* store.js skips non-string old values */
            if (rc != GUN_OK)
                break;
        }
        have = lsplit_do(t.rest, t.rest_len, &t);
    }
    gun__free(pre);
    gun__buf_free(&k);
    return rc;
}

int gun__rad_parse(const char *text, size_t len, gun__rad_rec_cb cb, void *arg,
                   gun__rad_stats *st, gun__err *e)
{
    gun__rad_stats dummy = {0};
    rctx c = {cb, arg, st ? st : &dummy};
    gun__limits lim = {GUN__RAD_MAX_FILE, GUN__JSON_DEPTH_CEIL};
    gun__json *j = NULL;
    gun__err pe = {0};
    int rc = gun__json_parse(text, len, &lim, &j, &pe);
    if (rc == GUN_ENOMEM)
        return gun__fail(e, rc, "rad: out of memory parsing %zu bytes", len);
    if (rc == GUN_OK && j->t == GUN__J_OBJ) {
        gun__buf k;
        gun__buf_init(&k);
        rc = walk(&c, j, &k);
        gun__buf_free(&k);
        gun__json_free(j);
        if (rc == GUN_ENOMEM)
            gun__fail(e, rc, "rad: out of memory");
        return rc;
    }
    gun__json_free(j);
    /* Gun.js falls back to the line format when JSON.parse fails. */
    rc = legacy(&c, text, len, e);
    if (rc == GUN_EJSON && pe.msg[0])
        gun__fail(e, rc, "rad: not RAD text, and not JSON (%s)", pe.msg);
    return rc;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int skip_name(const char *n)
{
    size_t l = strlen(n);
    return n[0] == '.' || !strcmp(n, "%1C") || !strcmp(n, "%1c") ||
           (l >= 4 && !strcmp(n + l - 4, ".tmp"));
}

/* Reads one file (capped) into a fresh buffer. */
static int read_file(int dfd, const char *name, char **out, size_t *len, char *why, size_t wl)
{
    *out = NULL;
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        snprintf(why, wl, "cannot open: %s", strerror(errno));
        return GUN_EIO;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        snprintf(why, wl, "not a regular file");
        return GUN_EINVAL;
    }
    if ((uint64_t)sb.st_size > GUN__RAD_MAX_FILE) {
        close(fd);
        snprintf(why, wl, "too big (%lld bytes > %u)", (long long)sb.st_size, GUN__RAD_MAX_FILE);
        return GUN_ETOOBIG;
    }
    size_t cap = (size_t)sb.st_size, n = 0;
    char *p = gun__malloc(cap + 1);
    if (!p) {
        close(fd);
        return GUN_ENOMEM;
    }
    while (n < cap) {
        ssize_t r = read(fd, p + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break; /* shrank meanwhile: parse what is there */
        n += (size_t)r;
    }
    close(fd);
    p[n] = 0;
    *out = p;
    *len = n;
    return GUN_OK;
}

int gun__rad_read_dir(const char *dir, gun__rad_rec_cb cb, gun__rad_warn_cb warn, void *arg,
                      gun__rad_stats *st, gun__err *e)
{
    gun__rad_stats dummy = {0};
    if (!st)
        st = &dummy;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return gun__fail(e, GUN_EIO, "rad: cannot open directory '%s': %s", dir,
                         strerror(errno));
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return gun__fail(e, GUN_EIO, "rad: cannot list '%s': %s", dir, strerror(errno));
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = GUN_OK;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (skip_name(de->d_name))
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            char **nn = gun__realloc(names, nc * sizeof *nn);
            if (!nn) {
                rc = GUN_ENOMEM;
                break;
            }
            names = nn;
            cap = nc;
        }
        if (!(names[n] = gun__strndup(de->d_name, strlen(de->d_name)))) {
            rc = GUN_ENOMEM;
            break;
        }
        n++;
    }
    if (rc == GUN_OK && n)
        qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; rc == GUN_OK && i < n; i++) {
        char why[300];
        char *text;
        size_t len;
        int r = read_file(dirfd(d), names[i], &text, &len, why, sizeof why);
        if (r == GUN_ENOMEM) {
            rc = r;
            break;
        }
        if (r != GUN_OK) {
            if (r != GUN_EINVAL) { /* not a regular file: quietly not a data file */
                st->files_bad++;
                if (warn)
                    warn(arg, names[i], why);
            }
            continue;
        }
        gun__err pe = {0};
        r = gun__rad_parse(text, len, cb, arg, st, &pe);
        gun__free(text);
        if (r == GUN_EJSON) {
            st->files_bad++;
            if (warn)
                warn(arg, names[i], pe.msg);
        } else if (r != GUN_OK) {
            rc = r;
            if (e && !e->msg[0])
                gun__fail(e, r, "%s", pe.msg[0] ? pe.msg : "rad: walk stopped");
        } else {
            st->files++;
        }
    }
    for (size_t i = 0; i < n; i++)
        gun__free(names[i]);
    gun__free(names);
    closedir(d);
    if (rc == GUN_ENOMEM)
        gun__fail(e, rc, "rad: out of memory");
    return rc;
}

/* Strings, buffers, allocation, error detail, UTF-16 views, randomness, clocks. */
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* ---- allocation ---- */

/* The one piece of process-wide state, as in libuv: set before any instance opens. */
static struct {
    void *(*m)(size_t);
    void *(*r)(void *, size_t);
    void *(*c)(size_t, size_t);
    void (*f)(void *);
} alloc = {malloc, realloc, calloc, free};

int gun_replace_allocator(void *(*malloc_fn)(size_t), void *(*realloc_fn)(void *, size_t),
                          void *(*calloc_fn)(size_t, size_t), void (*free_fn)(void *))
{
    if (!malloc_fn && !realloc_fn && !calloc_fn && !free_fn) {
        alloc.m = malloc, alloc.r = realloc, alloc.c = calloc, alloc.f = free;
        return GUN_OK;
    }
    if (!malloc_fn || !realloc_fn || !calloc_fn || !free_fn)
        return GUN_EINVAL;
    alloc.m = malloc_fn, alloc.r = realloc_fn, alloc.c = calloc_fn, alloc.f = free_fn;
    return GUN_OK;
}

void *gun__malloc(size_t n) { return alloc.m(n ? n : 1); }
void *gun__calloc(size_t n, size_t sz) { return alloc.c(n ? n : 1, sz ? sz : 1); }
void *gun__realloc(void *p, size_t n) { return alloc.r(p, n ? n : 1); }
void gun__free(void *p)
{
    if (p)
        alloc.f(p);
}
void gun_free(void *p) { gun__free(p); }

char *gun__strndup(const char *p, size_t len)
{
    char *s = gun__malloc(len + 1);
    if (!s)
        return NULL;
    if (len)
        memcpy(s, p, len);
    s[len] = 0;
    return s;
}

/* ---- errors and version ---- */

const char *gun_strerror(int err)
{
    switch (err) {
#define GUN__ERR_CASE(name, val, text) \
    case val: return text;
        GUN_ERR_MAP(GUN__ERR_CASE)
#undef GUN__ERR_CASE
    }
    return "unknown error";
}

#define GUN__XSTR(x) #x
#define GUN__VSTR(a, b, c) GUN__XSTR(a) "." GUN__XSTR(b) "." GUN__XSTR(c)
const char *gun_version(void)
{
    return GUN__VSTR(GUN_VERSION_MAJOR, GUN_VERSION_MINOR, GUN_VERSION_PATCH);
}

int gun__fail(gun__err *e, int code, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        e->code = code;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* ---- strings ---- */

gun__str gun__str_c(const char *cstr)
{
    gun__str s = {cstr, cstr ? strlen(cstr) : 0};
    return s;
}

int gun__str_eq(gun__str a, gun__str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

int gun__str_eqc(gun__str a, const char *cstr) { return gun__str_eq(a, gun__str_c(cstr)); }

/* ---- buffers ---- */

void gun__buf_init(gun__buf *b) { memset(b, 0, sizeof *b); }

void gun__buf_free(gun__buf *b)
{
    gun__free(b->p);
    memset(b, 0, sizeof *b);
}

void gun__buf_reset(gun__buf *b)
{
    b->len = 0;
    b->oom = 0;
    if (b->cap)
        b->p[0] = 0;
}

int gun__buf_reserve(gun__buf *b, size_t extra)
{
    if (b->oom)
        return GUN_ENOMEM;
    if (extra >= SIZE_MAX - b->len - 1) {
        b->oom = 1;
        return GUN_ENOMEM;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return GUN_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = gun__realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return GUN_ENOMEM;
    }
    b->p = p;
    b->cap = cap;
    return GUN_OK;
}

void gun__buf_add(gun__buf *b, const void *p, size_t len)
{
    if (gun__buf_reserve(b, len))
        return;
    if (len)
        memcpy(b->p + b->len, p, len);
    b->len += len;
    b->p[b->len] = 0;
}

void gun__buf_addc(gun__buf *b, char c)
{
    if (b->len + 1 < b->cap && !b->oom) {
        b->p[b->len++] = c;
        b->p[b->len] = 0;
        return;
    }
    gun__buf_add(b, &c, 1);
}

void gun__buf_adds(gun__buf *b, const char *cstr) { gun__buf_add(b, cstr, strlen(cstr)); }

void gun__buf_printf(gun__buf *b, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) {
        va_end(ap2);
        return;
    }
    if ((size_t)n < sizeof tmp) {
        gun__buf_add(b, tmp, (size_t)n);
    } else if (gun__buf_reserve(b, (size_t)n) == GUN_OK) {
        vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap2);
        b->len += (size_t)n;
    }
    va_end(ap2);
}

char *gun__buf_take(gun__buf *b)
{
    if (b->oom) {
        gun__buf_free(b);
        return NULL;
    }
    if (!b->p && gun__buf_reserve(b, 0))
        return NULL;
    char *p = b->p;
    memset(b, 0, sizeof *b);
    return p;
}

/* ---- WTF-8 / UTF-16 ---- */

size_t gun__wtf8_decode(const char *s, size_t len, uint32_t *cp)
{
    const unsigned char *p = (const unsigned char *)s;
    if (!len)
        return 0;
    unsigned c = p[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t n;
    uint32_t v, min;
    if ((c & 0xE0) == 0xC0)
        n = 2, v = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0)
        n = 3, v = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0)
        n = 4, v = c & 0x07, min = 0x10000;
    else
        return 0;
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (p[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF)
        return 0;
    *cp = v;
    return n;
}

/* Next UTF-16 code unit of a WTF-8 string; `pend` carries the low surrogate of an astral
 * code point between calls. Malformed bytes count as U+FFFD, as a decoder would give JS. */
uint32_t gun__utf16_next(const char *p, size_t len, size_t *i, uint32_t *pend)
{
    if (*pend) {
        uint32_t u = *pend;
        *pend = 0;
        return u;
    }
    uint32_t cp;
    size_t n = gun__wtf8_decode(p + *i, len - *i, &cp);
    if (!n) {
        *i += 1;
        return 0xFFFD;
    }
    *i += n;
    if (cp >= 0x10000) {
        cp -= 0x10000;
        *pend = 0xDC00 + (cp & 0x3FF);
        return 0xD800 + (cp >> 10);
    }
    return cp;
}

static int is_cont(unsigned char c) { return (c & 0xC0) == 0x80; }

int gun__utf16_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t m = alen < blen ? alen : blen, i = 0;
    while (i < m && a[i] == b[i])
        i++;
    if (i == alen && i == blen)
        return 0;
    /* Two ASCII bytes: both start a one-unit code point (the usual case). */
    if (i < alen && i < blen && (unsigned char)a[i] < 0x80 && (unsigned char)b[i] < 0x80)
        return (unsigned char)a[i] < (unsigned char)b[i] ? -1 : 1;
    /* Back to the start of the code point either side stopped in; never past either end. */
    while (i > 0 && ((i < alen && is_cont((unsigned char)a[i])) ||
                     (i < blen && is_cont((unsigned char)b[i]))))
        i--;
    size_t j = i;
    uint32_t pa = 0, pb = 0;
    while ((i < alen || pa) && (j < blen || pb)) {
        uint32_t ua = gun__utf16_next(a, alen, &i, &pa), ub = gun__utf16_next(b, blen, &j, &pb);
        if (ua != ub)
            return ua < ub ? -1 : 1;
    }
    return (int)(i < alen || pa) - (int)(j < blen || pb);
}

int gun__wtf8_canonical(const char *p, size_t len)
{
    int prev_high = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = gun__wtf8_decode(p + i, len - i, &cp);
        if (!n)
            return 0;
        if (prev_high && cp >= 0xDC00 && cp <= 0xDFFF)
            return 0;
        prev_high = cp >= 0xD800 && cp <= 0xDBFF;
        i += n;
    }
    return 1;
}

size_t gun__utf16_len(const char *p, size_t len)
{
    size_t i = 0, n = 0;
    while (i < len) {
        uint32_t cp;
        size_t k = gun__wtf8_decode(p + i, len - i, &cp);
        if (!k) {
            i++, n++;
            continue;
        }
        i += k;
        n += cp >= 0x10000 ? 2 : 1;
    }
    return n;
}

int32_t gun__hash_utf16(const char *p, size_t len, int32_t seed)
{
    uint32_t c = (uint32_t)seed; /* unsigned arithmetic wraps like JS's |0 */
    size_t i = 0;
    uint32_t pend = 0;
    while (i < len || pend) {
        uint32_t u = gun__utf16_next(p, len, &i, &pend);
        c = (c << 5) - c + u;
    }
    return (int32_t)c;
}

void gun__buf_add_cp(gun__buf *b, uint32_t cp)
{
    char t[4];
    size_t n;
    if (cp < 0x80)
        t[0] = (char)cp, n = 1;
    else if (cp < 0x800)
        t[0] = (char)(0xC0 | (cp >> 6)), t[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
    else if (cp < 0x10000)
        t[0] = (char)(0xE0 | (cp >> 12)), t[1] = (char)(0x80 | ((cp >> 6) & 0x3F)),
        t[2] = (char)(0x80 | (cp & 0x3F)), n = 3;
    else
        t[0] = (char)(0xF0 | (cp >> 18)), t[1] = (char)(0x80 | ((cp >> 12) & 0x3F)),
        t[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), t[3] = (char)(0x80 | (cp & 0x3F)), n = 4;
    gun__buf_add(b, t, n);
}

/* ---- randomness ---- */

const char gun__id_alphabet[62] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXZabcdefghijklmnopqrstuvwxyz";

int gun__random(void *out, size_t n)
{
    unsigned char *p = out;
    while (n) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return GUN_EIO;
        }
        p += r;
        n -= (size_t)r;
    }
    return GUN_OK;
}

/* n id chars from pool[*used..*have), refilled from the CSPRNG as it runs out. */
static int ids_from(unsigned char *pool, size_t cap, size_t *used, size_t *have, char *out,
                    size_t n)
{
    size_t k = 0;
    while (k < n) {
        if (*used == *have) {
            if (gun__random(pool, cap))
                return GUN_EIO;
            *have = cap, *used = 0;
        }
        unsigned v = pool[(*used)++];
        /* 244 = 4 * 61: reject the tail so every char is equally likely. */
        if (v < 244)
            out[k++] = gun__id_alphabet[v % 61];
    }
    out[n] = 0;
    return GUN_OK;
}

int gun__idgen_next(gun__idgen *g, char *out, size_t n)
{
    return ids_from(g->pool, sizeof g->pool, &g->used, &g->have, out, n);
}

int gun__random_id(char *out, size_t n)
{
    unsigned char pool[64];
    size_t used = 0, have = 0;
    return ids_from(pool, sizeof pool, &used, &have, out, n);
}

/* ---- clocks ---- */

double gun__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

uint64_t gun__mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

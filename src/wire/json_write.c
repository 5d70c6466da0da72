/* gun__json -> JSON text, byte for byte as V8 writes it, and the `##` hash over that text.
 *
 * One walker feeds either a buffer or a running Java String.hashCode, so `##` needs no copy
 * of the text and cannot fail: when the scratch array for sorting keys cannot be allocated,
 * the hash walk picks keys in order by selection instead (slow, allocation-free). The
 * buffer walk marks the buffer oom instead, like every other failed append. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

typedef struct jw {
    gun__buf *b; /* NULL: hashing */
    uint32_t h;  /* running hash, unsigned so it wraps like JS's |0 */
    gun__jmode mode;
} jw;

/* Appends go through these two on every token, so the common case (room left) is inlined
 * here rather than a call into util per character; gun__buf's fields are public for this. */
static inline void out(jw *w, const char *p, size_t n)
{
    gun__buf *b = w->b;
    if (b) {
        if (!b->oom && n < b->cap - b->len) {
            memcpy(b->p + b->len, p, n);
            b->len += n;
            b->p[b->len] = 0;
        } else {
            gun__buf_add(b, p, n);
        }
        return;
    }
    size_t i = 0;
    uint32_t h = w->h;
    while (i < n && (unsigned char)p[i] < 0x80)
        h = (h << 5) - h + (unsigned char)p[i++];
    if (i < n) /* the writer only splits text at code point boundaries */
        h = (uint32_t)gun__hash_utf16(p + i, n - i, (int32_t)h);
    w->h = h;
}

static inline void outc(jw *w, char c)
{
    gun__buf *b = w->b;
    if (b) {
        if (!b->oom && b->len + 1 < b->cap) {
            b->p[b->len++] = c;
            b->p[b->len] = 0;
        } else {
            gun__buf_addc(b, c);
        }
    } else
        w->h = (w->h << 5) - w->h + (unsigned char)c;
}

/* ---- strings ---- */

static const char hexd[] = "0123456789abcdef";

static void str_body(jw *w, const char *p, size_t len)
{
    size_t i = 0, run = 0;
    while (i < len) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++;
            continue;
        }
        char esc[16];
        size_t en = 0, used = 1;
        if (c < 0x80) {
            esc[en++] = '\\';
            switch (c) {
            case '"': esc[en++] = '"'; break;
            case '\\': esc[en++] = '\\'; break;
            case '\b': esc[en++] = 'b'; break;
            case '\f': esc[en++] = 'f'; break;
            case '\n': esc[en++] = 'n'; break;
            case '\r': esc[en++] = 'r'; break;
            case '\t': esc[en++] = 't'; break;
            default:
                memcpy(esc + en, "u00", 3), en += 3;
                esc[en++] = hexd[c >> 4];
                esc[en++] = hexd[c & 15];
            }
        } else {
            uint32_t cp, lo;
            size_t n = gun__wtf8_decode(p + i, len - i, &cp);
            if (n && (cp < 0xD800 || cp > 0xDFFF)) {
                i += n; /* ordinary non-ASCII: written as is */
                continue;
            }
            if (!n) {
                /* Not WTF-8 (only our API callers can produce this): a decoder would have
                 * given JS U+FFFD for the byte, so write that. */
                memcpy(esc, "\xEF\xBF\xBD", 3), en = 3;
            } else if (cp <= 0xDBFF && gun__wtf8_decode(p + i + 3, len - i - 3, &lo) == 3 &&
                       lo >= 0xDC00 && lo <= 0xDFFF) {
                /* Two halves stored apart still make one character in JS. */
                uint32_t u = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                esc[0] = (char)(0xF0 | (u >> 18));
                esc[1] = (char)(0x80 | ((u >> 12) & 0x3F));
                esc[2] = (char)(0x80 | ((u >> 6) & 0x3F));
                esc[3] = (char)(0x80 | (u & 0x3F));
                en = 4, used = 6;
            } else {
                /* A lone surrogate: well-formed JSON.stringify writes it as a \ud800-style escape. */
                memcpy(esc, "\\u", 2), en = 2;
                for (int s = 12; s >= 0; s -= 4)
                    esc[en++] = hexd[(cp >> s) & 15];
                used = 3;
            }
        }
        if (i > run)
            out(w, p + run, i - run);
        out(w, esc, en);
        i += used;
        run = i;
    }
    if (i > run)
        out(w, p + run, i - run);
}

static void str(jw *w, const char *p, size_t len)
{
    outc(w, '"');
    str_body(w, p, len);
    outc(w, '"');
}

void gun__json_write_str(gun__buf *b, const char *p, size_t len)
{
    jw w = {b, 0, GUN__JSON_JS};
    str(&w, p, len);
}

/* ---- key order ---- */

/* A canonical array index ("0".."4294967294"): V8 lists these first, in numeric order. */
static int key_index(const char *k, size_t n, uint64_t *v)
{
    if (n == 0 || n > 10 || k[0] < '0' || k[0] > '9' || (k[0] == '0' && n > 1))
        return 0;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (k[i] < '0' || k[i] > '9')
            return 0;
        x = x * 10 + (uint64_t)(k[i] - '0');
    }
    if (x >= 4294967295ull)
        return 0;
    *v = x;
    return 1;
}

typedef struct ord {
    const gun__jmember *m;
    uint64_t ival; /* JS mode: the index value, or 2^32 + position for other keys */
} ord;

static ord make_ord(const gun__jmember *m, size_t pos)
{
    ord o = {m, 0};
    if (!key_index(m->key, m->key_len, &o.ival))
        o.ival = (1ull << 32) + pos;
    return o;
}

static int cmp_js(const void *a, const void *b)
{
    uint64_t x = ((const ord *)a)->ival, y = ((const ord *)b)->ival;
    return x < y ? -1 : x > y;
}

static int cmp_sorted(const void *a, const void *b)
{
    const gun__jmember *x = ((const ord *)a)->m, *y = ((const ord *)b)->m;
    return gun__utf16_cmp(x->key, x->key_len, y->key, y->key_len);
}

static void value(jw *w, const gun__json *j);

static void member(jw *w, const gun__jmember *m, int first)
{
    if (!first)
        outc(w, ',');
    str(w, m->key, m->key_len);
    outc(w, ':');
    value(w, m->val);
}

/* Keys are unique, so both orders are total and stability does not matter. */
static void object(jw *w, const gun__json *j)
{
    const gun__jmember *m = j->u.o.m;
    size_t n = j->u.o.n;
    int (*cmp)(const void *, const void *) = w->mode == GUN__JSON_SORTED ? cmp_sorted : cmp_js;
    int in_order = 1;
    if (w->mode == GUN__JSON_SORTED) {
        for (size_t i = 1; i < n && in_order; i++)
            in_order = gun__utf16_cmp(m[i - 1].key, m[i - 1].key_len, m[i].key, m[i].key_len) < 0;
    } else {
        uint64_t v;
        for (size_t i = 0; i < n && in_order; i++)
            in_order = !key_index(m[i].key, m[i].key_len, &v);
    }
    outc(w, '{');
    if (in_order) {
        for (size_t i = 0; i < n; i++)
            member(w, &m[i], i == 0);
        outc(w, '}');
        return;
    }
    ord stack[32], *o = n <= 32 ? stack : gun__malloc(n * sizeof *o);
    if (o) {
        for (size_t i = 0; i < n; i++)
            o[i] = make_ord(&m[i], i);
        qsort(o, n, sizeof *o, cmp);
        for (size_t i = 0; i < n; i++)
            member(w, o[i].m, i == 0);
        if (o != stack)
            gun__free(o);
    } else if (w->b) {
        w->b->oom = 1;
        return;
    } else {
        /* Hashing must not fail: pick each next key by a scan. */
        ord last = {0};
        for (size_t k = 0; k < n; k++) {
            ord best = {0};
            for (size_t i = 0; i < n; i++) {
                ord c = make_ord(&m[i], i);
                if ((k == 0 || cmp(&c, &last) > 0) && (!best.m || cmp(&c, &best) < 0))
                    best = c;
            }
            member(w, best.m, k == 0);
            last = best;
        }
    }
    outc(w, '}');
}

/* Recursion depth is the tree's depth: bounded by GUN__JSON_DEPTH_CEIL for parsed trees. */
static void value(jw *w, const gun__json *j)
{
    if (!j) {
        out(w, "null", 4);
        return;
    }
    switch (j->t) {
    case GUN__J_NULL:
        out(w, "null", 4);
        break;
    case GUN__J_BOOL:
        if (j->u.b)
            out(w, "true", 4);
        else
            out(w, "false", 5);
        break;
    case GUN__J_NUM: {
        char tmp[32];
        if (isfinite(j->u.n))
            out(w, tmp, gun__num_to_str(j->u.n, tmp));
        else
            out(w, "null", 4);
        break;
    }
    case GUN__J_STR:
        str(w, j->u.s.p, j->u.s.len);
        break;
    case GUN__J_ARR:
        outc(w, '[');
        for (size_t i = 0; i < j->u.a.n; i++) {
            if (i)
                outc(w, ',');
            value(w, j->u.a.v[i]);
        }
        outc(w, ']');
        break;
    case GUN__J_OBJ:
        object(w, j);
        break;
    }
}

void gun__json_write(gun__buf *b, const gun__json *j, gun__jmode mode)
{
    jw w = {b, 0, mode};
    value(&w, j);
}

int32_t gun__put_hash(const gun__json *put)
{
    if (!put)
        return 0;
    jw w = {NULL, 0, GUN__JSON_SORTED};
    value(&w, put);
    return (int32_t)w.h;
}

/* The byte and text conversions sea.js gets from its environment: btoa/atob (Node's, which
 * follow WHATWG forgiving-base64), the JWK base64url reader of its WebCrypto shim,
 * TextEncoder/TextDecoder, and the JS coercions (String(v), truthiness, parseFloat) its
 * certificate code leans on. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "sea.h"

/* ---- base64 ---- */

static const char b64std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t gun__sea_b64_to(char *out, const unsigned char *p, size_t n, int url)
{
    const char *a = url ? b64url : b64std;
    char *o = out;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *o++ = a[v >> 18], *o++ = a[(v >> 12) & 63], *o++ = a[(v >> 6) & 63], *o++ = a[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        *o++ = a[v >> 18], *o++ = a[(v >> 12) & 63];
        if (!url)
            *o++ = '=', *o++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        *o++ = a[v >> 18], *o++ = a[(v >> 12) & 63], *o++ = a[(v >> 6) & 63];
        if (!url)
            *o++ = '=';
    }
    return (size_t)(o - out);
}

void gun__sea_b64(gun__buf *b, const unsigned char *p, size_t n, int url)
{
    if (gun__buf_reserve(b, (n + 2) / 3 * 4))
        return;
    b->len += gun__sea_b64_to(b->p + b->len, p, n, url);
    b->p[b->len] = 0;
}

/* 0..63, or -1 for a character outside the alphabet. */
static int b64val(unsigned char c, int url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

static int ascii_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

int gun__sea_atob(const char *p, size_t len, unsigned char *out, size_t cap, size_t *n)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t sig = 0, last = 0, prev = 0; /* significant chars; positions of the last two */
    for (size_t i = 0; i < len; i++) {
        if (ascii_ws(s[i]))
            continue;
        sig++;
        prev = last;
        last = i;
    }
    size_t eq = 0;
    if (sig % 4 == 0 && sig) {
        if (s[last] == '=')
            eq = (sig >= 2 && s[prev] == '=') ? 2 : 1;
    }
    size_t keep = sig - eq;
    if (keep % 4 == 1)
        return -1;
    size_t bytes = keep / 4 * 3 + (keep % 4 ? keep % 4 - 1 : 0);
    if (bytes > cap)
        return -2;
    uint32_t acc = 0;
    size_t bits = 0, used = 0, o = 0;
    for (size_t i = 0; i < len && used < keep; i++) {
        if (ascii_ws(s[i]))
            continue;
        int v = b64val(s[i], 0);
        if (v < 0)
            return -1; /* includes '=' before the end */
        used++;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    *n = o;
    return 0;
}

int gun__sea_jwk32(const char *p, size_t len, unsigned char out[32])
{
    char c[43];
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r')
            continue;
        if (k == sizeof c || b64val(ch, 1) < 0)
            return -1;
        c[k++] = (char)ch;
    }
    if (k != sizeof c)
        return -1;
    uint32_t acc = 0;
    size_t bits = 0, o = 0;
    for (size_t i = 0; i < k; i++) {
        acc = acc << 6 | (uint32_t)b64val((unsigned char)c[i], 1);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    return o == 32 ? 0 : -1;
}

/* ---- text ---- */

void gun__sea_utf8(gun__buf *b, const char *p, size_t len)
{
    size_t i = 0, run = 0;
    while (i < len) {
        if ((unsigned char)p[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp, lo;
        size_t n = gun__wtf8_decode(p + i, len - i, &cp);
        if (n && (cp < 0xD800 || cp > 0xDFFF)) {
            i += n;
            continue;
        }
        gun__buf_add(b, p + run, i - run);
        if (n && cp <= 0xDBFF && gun__wtf8_decode(p + i + 3, len - i - 3, &lo) == 3 &&
            lo >= 0xDC00 && lo <= 0xDFFF) {
            gun__buf_add_cp(b, 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00));
            i += 6;
        } else {
            gun__buf_add_cp(b, 0xFFFD);
            i += n ? n : 1;
        }
        run = i;
    }
    gun__buf_add(b, p + run, i - run);
}

void gun__sea_latin1(gun__buf *b, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        gun__buf_add_cp(b, p[i]);
}

void gun__sea_utf8_decode(gun__buf *b, const unsigned char *p, size_t n)
{
    uint32_t cp = 0;
    unsigned need = 0, seen = 0;
    unsigned char lower = 0x80, upper = 0xBF;
    int first = 1;
#define EMIT(c)                                                                             \
    do {                                                                                    \
        uint32_t c_ = (c);                                                                  \
        if (!(first && c_ == 0xFEFF))                                                       \
            gun__buf_add_cp(b, c_);                                                         \
        first = 0;                                                                          \
    } while (0)
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        if (!need) {
            i++;
            if (c < 0x80) {
                EMIT(c);
            } else if (c >= 0xC2 && c <= 0xDF) {
                need = 1, cp = c & 0x1F;
            } else if (c >= 0xE0 && c <= 0xEF) {
                if (c == 0xE0)
                    lower = 0xA0;
                if (c == 0xED)
                    upper = 0x9F;
                need = 2, cp = c & 0x0F;
            } else if (c >= 0xF0 && c <= 0xF4) {
                if (c == 0xF0)
                    lower = 0x90;
                if (c == 0xF4)
                    upper = 0x8F;
                need = 3, cp = c & 0x07;
            } else {
                EMIT(0xFFFD);
            }
            continue;
        }
        if (c < lower || c > upper) {
            /* The malformed subpart ends before c; c is read again as a lead byte. */
            need = seen = 0, cp = 0, lower = 0x80, upper = 0xBF;
            EMIT(0xFFFD);
            continue;
        }
        i++;
        lower = 0x80, upper = 0xBF;
        cp = cp << 6 | (c & 0x3F);
        if (++seen == need) {
            EMIT(cp);
            need = seen = 0, cp = 0;
        }
    }
    if (need)
        EMIT(0xFFFD);
#undef EMIT
}

/* ---- JS coercions ---- */

static void js_num(gun__buf *b, double n)
{
    if (isnan(n))
        gun__buf_adds(b, "NaN");
    else if (isinf(n))
        gun__buf_adds(b, n < 0 ? "-Infinity" : "Infinity");
    else
        gun__json_write_num(b, n);
}

/* Array.prototype.join: null elements become "", others String(). Depth is the tree's. */
void gun__sea_js_string(gun__buf *b, const gun__json *v)
{
    if (!v) {
        gun__buf_adds(b, "undefined");
        return;
    }
    switch (v->t) {
    case GUN__J_NULL: gun__buf_adds(b, "null"); break;
    case GUN__J_BOOL: gun__buf_adds(b, v->u.b ? "true" : "false"); break;
    case GUN__J_NUM: js_num(b, v->u.n); break;
    case GUN__J_STR: gun__buf_add(b, v->u.s.p, v->u.s.len); break;
    case GUN__J_OBJ: gun__buf_adds(b, "[object Object]"); break;
    case GUN__J_ARR:
        for (size_t i = 0; i < v->u.a.n; i++) {
            if (i)
                gun__buf_addc(b, ',');
            if (v->u.a.v[i]->t != GUN__J_NULL)
                gun__sea_js_string(b, v->u.a.v[i]);
        }
        break;
    }
}

int gun__sea_truthy(const gun__json *v)
{
    if (!v)
        return 0;
    switch (v->t) {
    case GUN__J_NULL: return 0;
    case GUN__J_BOOL: return v->u.b;
    case GUN__J_NUM: return v->u.n != 0 && !isnan(v->u.n);
    case GUN__J_STR: return v->u.s.len > 0;
    default: return 1;
    }
}

/* StrWhiteSpaceChar: WhiteSpace and LineTerminator. */
static int js_space(uint32_t c)
{
    return c == 9 || c == 10 || c == 11 || c == 12 || c == 13 || c == 32 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000 || c == 0xFEFF;
}

double gun__sea_parse_float(const gun__json *v)
{
    if (!v)
        return NAN;
    if (v->t == GUN__J_NUM)
        return v->u.n;
    if (v->t != GUN__J_STR)
        return NAN; /* String(obj) is never numeric; arrays could be, sea.js never has them */
    const char *s = v->u.s.p, *end = s + v->u.s.len;
    while (s < end) {
        uint32_t cp;
        size_t k = gun__wtf8_decode(s, (size_t)(end - s), &cp);
        if (!k || !js_space(cp))
            break;
        s += k;
    }
    const char *q = s;
    int neg = 0;
    if (q < end && (*q == '+' || *q == '-'))
        neg = *q++ == '-';
    if ((size_t)(end - q) >= 8 && memcmp(q, "Infinity", 8) == 0)
        return neg ? -INFINITY : INFINITY;
    /* Longest StrDecimalLiteral prefix: digits [. digits] [e[+-]digits] or . digits [...] */
    const char *d = q;
    size_t ip = 0, fp = 0;
    while (d < end && *d >= '0' && *d <= '9')
        d++, ip++;
    if (d < end && *d == '.') {
        const char *f = d + 1;
        while (f < end && *f >= '0' && *f <= '9')
            f++, fp++;
        if (ip || fp)
            d = f;
    }
    if (!ip && !fp)
        return NAN;
    if (d < end && (*d == 'e' || *d == 'E')) {
        const char *x = d + 1;
        if (x < end && (*x == '+' || *x == '-'))
            x++;
        const char *xd = x;
        while (x < end && *x >= '0' && *x <= '9')
            x++;
        if (x > xd)
            d = x;
    }
    /* Rewritten as digits and an exponent ("12.5e3" -> "125e2") so that no decimal point
     * reaches strtod and LC_NUMERIC cannot change the result. */
    size_t n = (size_t)(d - q);
    char tmp[96], *buf = n + 32 <= sizeof tmp ? tmp : gun__malloc(n + 32);
    if (!buf)
        return NAN;
    size_t o = 0;
    long long frac = 0, ex = 0;
    const char *c = q;
    while (c < d && *c >= '0' && *c <= '9')
        buf[o++] = *c++;
    if (c < d && *c == '.')
        for (c++; c < d && *c >= '0' && *c <= '9'; c++)
            buf[o++] = *c, frac++;
    if (!o)
        buf[o++] = '0';
    if (c < d && (*c == 'e' || *c == 'E')) {
        c++;
        int eneg = *c == '-';
        if (*c == '-' || *c == '+')
            c++;
        for (; c < d; c++)
            if (ex < 1000000000000000LL)
                ex = ex * 10 + (*c - '0');
        if (eneg)
            ex = -ex;
    }
    snprintf(buf + o, 32, "e%lld", ex - frac);
    double r = strtod(buf, NULL);
    if (buf != tmp)
        gun__free(buf);
    return neg ? -r : r;
}

void gun__sea_buf_wipe(gun__buf *b)
{
    if (b->p && b->cap)
        OPENSSL_cleanse(b->p, b->cap);
    gun__buf_free(b);
}

int gun__sea_give(gun__buf *b, int rc, char **out)
{
    if (!rc && b->oom)
        rc = GUN_ENOMEM;
    if (rc) {
        gun__sea_buf_wipe(b);
        return rc;
    }
    *out = gun__buf_take(b);
    return *out ? GUN_OK : GUN_ENOMEM;
}

static void wipe_tree(gun__json *j)
{
    if (!j)
        return;
    switch (j->t) {
    case GUN__J_STR:
        if (j->u.s.len)
            OPENSSL_cleanse(j->u.s.p, j->u.s.len);
        break;
    case GUN__J_ARR:
        for (size_t i = 0; i < j->u.a.n; i++)
            wipe_tree(j->u.a.v[i]);
        break;
    case GUN__J_OBJ:
        for (size_t i = 0; i < j->u.o.n; i++) {
            if (j->u.o.m[i].key_len)
                OPENSSL_cleanse(j->u.o.m[i].key, j->u.o.m[i].key_len);
            wipe_tree(j->u.o.m[i].val);
        }
        break;
    default:
        break;
    }
}

void gun__sea_json_wipe(gun__json *j)
{
    wipe_tree(j);
    gun__json_free(j);
}

static int radix_digit(char c, int radix)
{
    int v = c >= '0' && c <= '9' ? c - '0'
            : c >= 'a' && c <= 'z' ? c - 'a' + 10
            : c >= 'A' && c <= 'Z' ? c - 'A' + 10
                                   : 99;
    return v < radix ? v : -1;
}

double gun__sea_str_to_number(const char *p, size_t len)
{
    const char *s = p, *end = p + len;
    uint32_t cp;
    size_t k;
    while (s < end && (k = gun__wtf8_decode(s, (size_t)(end - s), &cp)) && js_space(cp))
        s += k;
    while (end > s) { /* trailing space: step back over one code point at a time */
        const char *q = end - 1;
        while (q > s && ((unsigned char)*q & 0xC0) == 0x80)
            q--;
        if (!(k = gun__wtf8_decode(q, (size_t)(end - q), &cp)) || !js_space(cp))
            break;
        end = q;
    }
    if (s == end)
        return 0;
    size_t n = (size_t)(end - s);
    if (n > 2 && s[0] == '0' && s[1] && strchr("xXoObB", s[1])) {
        int radix = (s[1] | 0x20) == 'x' ? 16 : (s[1] | 0x20) == 'o' ? 8 : 2;
        double v = 0;
        for (const char *q = s + 2; q < end; q++) {
            int d = radix_digit(*q, radix);
            if (d < 0)
                return NAN;
            v = v * radix + d;
        }
        return v;
    }
    gun__json tmp;
    tmp.t = GUN__J_STR;
    tmp.u.s.p = (char *)s;
    tmp.u.s.len = n;
    /* parseFloat reads the longest numeric prefix; ToNumber needs all of it numeric. */
    const char *q = s;
    if (*q == '+' || *q == '-')
        q++;
    if ((size_t)(end - q) == 8 && memcmp(q, "Infinity", 8) == 0)
        return gun__sea_parse_float(&tmp);
    int digits = 0;
    while (q < end && *q >= '0' && *q <= '9')
        q++, digits = 1;
    if (q < end && *q == '.')
        for (q++; q < end && *q >= '0' && *q <= '9'; q++)
            digits = 1;
    if (!digits)
        return NAN;
    if (q < end && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < end && (*q == '+' || *q == '-'))
            q++;
        if (q == end || *q < '0' || *q > '9')
            return NAN;
        while (q < end && *q >= '0' && *q <= '9')
            q++;
    }
    return q == end ? gun__sea_parse_float(&tmp) : NAN;
}

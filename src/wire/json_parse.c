/* JSON text -> gun__json.
 *
 * Caps first: the length, then one O(n) byte scan for nesting depth, both before any
 * allocation. Then the built-in strict parser builds our tree in one pass: jansson's rules
 * (RFC 8259, UTF-8 validated, numbers as doubles) plus the lone surrogate escapes
 * ("\ud800") that JSON.parse accepts and Gun.js relays pass on, kept as WTF-8.
 *
 * jansson stays as the reference (gun__json_parse_jansson): the unit tests and the fuzz
 * target fuzz_json_roundtrip check that both accept the same texts and build the same trees.
 * It was the parser until profiling showed it plus the copy of its tree into ours taking
 * 2.3x the built-in parser's time on put frames (docs/performance.md). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>

#include "wire.h"

#define DEFAULT_MAX_BYTES (8u << 20)
#define DEFAULT_MAX_DEPTH 64u

void gun__limits_get(const gun__limits *lim, size_t *max_bytes, uint32_t *max_depth)
{
    *max_bytes = lim && lim->max_bytes ? lim->max_bytes : DEFAULT_MAX_BYTES;
    *max_depth = lim && lim->max_depth ? lim->max_depth : DEFAULT_MAX_DEPTH;
    if (*max_depth > GUN__JSON_DEPTH_CEIL)
        *max_depth = GUN__JSON_DEPTH_CEIL;
}

/* Deepest [ / { nesting outside strings; stops at the first byte past `cap`. Unbalanced or
 * otherwise broken text is the parser's business, not this scan's. */
static int depth_scan(const char *p, size_t n, uint32_t cap, gun__err *e)
{
    uint32_t d = 0;
    size_t i = 0;
    while (i < n) {
        char c = p[i++];
        if (c == '"') {
            while (i < n && p[i] != '"')
                i += p[i] == '\\' ? 2 : 1;
            i++;
        } else if (c == '[' || c == '{') {
            if (++d > cap)
                return gun__fail(e, GUN_EDEPTH, "json: nested deeper than %u (byte %zu)",
                                 (unsigned)cap, i - 1);
        } else if ((c == ']' || c == '}') && d) {
            d--;
        }
    }
    return GUN_OK;
}

/* ---- jansson ---- */

/* jansson allocates through our wrapper too, so a failing allocator reaches it. The
 * wrappers look the allocator up on every call, so gun_replace_allocator keeps working. */
/* jansson reports some allocation failures as syntax errors ("string or '}' expected"), so
 * the wrapper notes failures for the parse running on this thread. */
static _Thread_local int jalloc_failed;
static void *jalloc(size_t n)
{
    void *p = gun__malloc(n);
    if (!p)
        jalloc_failed = 1;
    return p;
}
static void jfree(void *p) { gun__free(p); }
static void jansson_setup(void) { json_set_alloc_funcs(jalloc, jfree); }
static once_flag jansson_once = ONCE_FLAG_INIT;

static gun__json *from_jansson(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_NULL:
        return gun__json_null();
    case JSON_TRUE:
        return gun__json_bool(1);
    case JSON_FALSE:
        return gun__json_bool(0);
    case JSON_REAL:
        return gun__json_num(json_real_value(v));
    case JSON_INTEGER: /* not produced with JSON_DECODE_INT_AS_REAL; kept for safety */
        return gun__json_num((double)json_integer_value(v));
    case JSON_STRING:
        return gun__json_str(json_string_value(v), json_string_length(v));
    case JSON_ARRAY: {
        gun__json *a = gun__json_arr();
        size_t n = json_array_size(v);
        if (a && n) {
            a->u.a.v = gun__malloc(n * sizeof *a->u.a.v);
            if (!a->u.a.v) {
                gun__free(a);
                return NULL;
            }
            a->u.a.cap = n;
        }
        for (size_t i = 0; a && i < n; i++) {
            gun__json *c = from_jansson(json_array_get(v, i));
            if (!c) {
                gun__json_free(a);
                return NULL;
            }
            a->u.a.v[a->u.a.n++] = c;
        }
        return a;
    }
    case JSON_OBJECT: {
        gun__json *o = gun__json_obj();
        const char *key;
        size_t klen;
        json_t *val;
        /* jansson iterates in insertion order and has already applied last-wins to
         * duplicate keys (keeping the first position), as JSON.parse does. */
        json_object_keylen_foreach((json_t *)v, key, klen, val)
        {
            if (!o)
                break;
            gun__json *c = from_jansson(val);
            char *k = c ? gun__strndup(key, klen) : NULL;
            if (!k) {
                gun__json_free(c);
                gun__json_free(o);
                return NULL;
            }
            if (gun__json_obj_append(o, k, klen, c)) {
                gun__json_free(o);
                return NULL;
            }
        }
        return o;
    }
    }
    return NULL;
}

/* ---- the built-in parser ---- */

typedef struct sp {
    const char *p, *end, *start;
    int lone; /* met a lone surrogate escape */
    gun__buf tmp;
    gun__err *e;
    int err;
} sp;

static gun__json *sp_fail(sp *s, int code, const char *what)
{
    if (!s->err)
        s->err = gun__fail(s->e, code, "json: %s (byte %zu)", what, (size_t)(s->p - s->start));
    return NULL;
}

static void sp_ws(sp *s)
{
    while (s->p < s->end &&
           (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int hex4(const char *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return 0;
    }
    *out = v;
    return 1;
}

/* Strict UTF-8: no overlongs, no encoded surrogates, nothing above U+10FFFF. Returns the
 * sequence length or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    if (c < 0x80)
        return 1;
    size_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return len;
}

/* Parses the string at s->p (on the opening quote) into s->tmp. */
static int sp_string(sp *s)
{
    gun__buf_reset(&s->tmp);
    s->p++;
    for (;;) {
        const char *run = s->p;
        while (s->p < s->end && *s->p != '"' && *s->p != '\\' &&
               (unsigned char)*s->p >= 0x20 && (unsigned char)*s->p < 0x80)
            s->p++;
        gun__buf_add(&s->tmp, run, (size_t)(s->p - run));
        if (s->p >= s->end)
            return sp_fail(s, GUN_EJSON, "unterminated string"), -1;
        unsigned char c = (unsigned char)*s->p;
        if (c == '"') {
            s->p++;
            break;
        }
        if (c < 0x20)
            return sp_fail(s, GUN_EJSON, "control character in string"), -1;
        if (c >= 0x80) {
            size_t n = utf8_len((const unsigned char *)s->p, (size_t)(s->end - s->p));
            if (!n)
                return sp_fail(s, GUN_EJSON, "invalid UTF-8"), -1;
            gun__buf_add(&s->tmp, s->p, n);
            s->p += n;
            continue;
        }
        /* an escape */
        if (s->end - s->p < 2)
            return sp_fail(s, GUN_EJSON, "unterminated string"), -1;
        char x = s->p[1];
        const char *simple = strchr("\"\\/bfnrt", x);
        if (x && simple) {
            static const char to[] = "\"\\/\b\f\n\r\t";
            gun__buf_addc(&s->tmp, to[simple - "\"\\/bfnrt"]);
            s->p += 2;
            continue;
        }
        uint32_t u, lo;
        if (x != 'u' || s->end - s->p < 6 || !hex4(s->p + 2, &u))
            return sp_fail(s, GUN_EJSON, "invalid escape"), -1;
        s->p += 6;
        if (u >= 0xD800 && u <= 0xDBFF && s->end - s->p >= 6 && s->p[0] == '\\' &&
            s->p[1] == 'u' && hex4(s->p + 2, &lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
            s->p += 6;
            u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
        } else if (u >= 0xD800 && u <= 0xDFFF) {
            s->lone = 1;
        }
        gun__buf_add_cp(&s->tmp, u);
    }
    if (s->tmp.oom)
        return sp_fail(s, GUN_ENOMEM, "out of memory"), -1;
    return 0;
}

/* Clinger's fast path: a mantissa below 2^53 and a power of ten up to 10^22 are both exact
 * doubles, so one IEEE multiplication or division gives the correctly rounded value, the
 * same double strtod gives. Most numbers on the wire (states, counters) take this path;
 * strtod is several times slower. Returns 0 when the token needs strtod. */
static int fast_decimal(const char *p, const char *end, double *out)
{
    static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    int neg = *p == '-';
    p += neg;
    uint64_t m = 0;
    int e10 = 0;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        m = m * 10 + (uint64_t)(*p - '0');
        if (m >= (uint64_t)1 << 53)
            return 0;
    }
    if (p < end && *p == '.') {
        for (p++; p < end && *p >= '0' && *p <= '9'; p++, e10--) {
            m = m * 10 + (uint64_t)(*p - '0');
            if (m >= (uint64_t)1 << 53)
                return 0;
        }
    }
    if (p < end) { /* an exponent: rare on the wire, left to strtod */
        return 0;
    }
    if (e10 < -22)
        return 0;
    double v = e10 < 0 ? (double)m / pow10[-e10] : (double)m;
    *out = neg ? -v : v;
    return 1;
}

/* The number token b..end (already checked against the JSON grammar) as strtod reads it,
 * rewritten as integer digits and an exponent ("12.5e3" -> "125e2") so that no decimal point
 * reaches strtod and LC_NUMERIC cannot change the result. Returns 1, 0 on overflow (jansson
 * refuses it too; JSON.parse would give Infinity), -1 when out of memory. */
static int c_strtod(const char *b, const char *end, double *out)
{
    if (fast_decimal(b, end, out))
        return 1;
    size_t n = (size_t)(end - b);
    char stack[96], *buf = n + 32 <= sizeof stack ? stack : gun__malloc(n + 32);
    if (!buf)
        return -1;
    size_t o = 0;
    int64_t frac = 0, ex = 0;
    const char *p = b;
    if (*p == '-')
        buf[o++] = *p++;
    while (p < end && *p >= '0' && *p <= '9')
        buf[o++] = *p++;
    if (p < end && *p == '.') {
        p++;
        while (p < end && *p >= '0' && *p <= '9')
            buf[o++] = *p++, frac++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        int neg = *p == '-';
        if (*p == '-' || *p == '+')
            p++;
        /* Saturate: past 10^15 the value is 0 or infinite whatever the digits are. */
        while (p < end && *p >= '0' && *p <= '9') {
            if (ex < 1000000000000000)
                ex = ex * 10 + (*p - '0');
            p++;
        }
        if (neg)
            ex = -ex;
    }
    snprintf(buf + o, 32, "e%lld", (long long)(ex - frac));
    double v = strtod(buf, NULL);
    if (buf != stack)
        gun__free(buf);
    *out = v;
    return isfinite(v) ? 1 : 0;
}

static gun__json *sp_number(sp *s)
{
    const char *b = s->p;
    if (s->p < s->end && *s->p == '-')
        s->p++;
    if (s->p >= s->end || *s->p < '0' || *s->p > '9')
        return sp_fail(s, GUN_EJSON, "invalid token");
    if (*s->p == '0') {
        s->p++;
        if (s->p < s->end && *s->p >= '0' && *s->p <= '9')
            return sp_fail(s, GUN_EJSON, "leading zero");
    } else {
        while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
            s->p++;
    }
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (s->p >= s->end || *s->p < '0' || *s->p > '9')
            return sp_fail(s, GUN_EJSON, "invalid number");
        while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
            s->p++;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (s->p >= s->end || *s->p < '0' || *s->p > '9')
            return sp_fail(s, GUN_EJSON, "invalid number");
        while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
            s->p++;
    }
    double v;
    int ok = c_strtod(b, s->p, &v);
    if (ok < 0)
        return sp_fail(s, GUN_ENOMEM, "out of memory");
    if (!ok) /* jansson refuses overflow too; JSON.parse would give Infinity */
        return sp_fail(s, GUN_EJSON, "real number overflow");
    gun__json *j = gun__json_num(v);
    return j ? j : sp_fail(s, GUN_ENOMEM, "out of memory");
}

static gun__json *sp_literal(sp *s, const char *word, gun__json *(*make)(void))
{
    size_t n = strlen(word);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return sp_fail(s, GUN_EJSON, "invalid token");
    s->p += n;
    gun__json *j = make();
    return j ? j : sp_fail(s, GUN_ENOMEM, "out of memory");
}

static gun__json *make_true(void) { return gun__json_bool(1); }
static gun__json *make_false(void) { return gun__json_bool(0); }

/* Recursion is bounded by the depth scan (at most GUN__JSON_DEPTH_CEIL levels). */
static gun__json *sp_value(sp *s)
{
    sp_ws(s);
    if (s->p >= s->end)
        return sp_fail(s, GUN_EJSON, "unexpected end of input");
    switch (*s->p) {
    case '{': {
        gun__json *o = gun__json_obj();
        if (!o)
            return sp_fail(s, GUN_ENOMEM, "out of memory");
        s->p++;
        sp_ws(s);
        if (s->p < s->end && *s->p == '}') {
            s->p++;
            return o;
        }
        for (;;) {
            sp_ws(s);
            if (s->p >= s->end || *s->p != '"') {
                gun__json_free(o);
                return sp_fail(s, GUN_EJSON, "string or '}' expected");
            }
            if (sp_string(s)) {
                gun__json_free(o);
                return NULL;
            }
            if (memchr(s->tmp.p, 0, s->tmp.len)) {
                gun__json_free(o);
                return sp_fail(s, GUN_EJSON, "NUL byte in object key not supported");
            }
            size_t klen = s->tmp.len;
            char *key = gun__strndup(s->tmp.p ? s->tmp.p : "", klen);
            if (!key) {
                gun__json_free(o);
                return sp_fail(s, GUN_ENOMEM, "out of memory");
            }
            sp_ws(s);
            if (s->p >= s->end || *s->p != ':') {
                gun__free(key);
                gun__json_free(o);
                return sp_fail(s, GUN_EJSON, "':' expected");
            }
            s->p++;
            gun__json *v = sp_value(s);
            if (!v) {
                gun__free(key);
                gun__json_free(o);
                return NULL;
            }
            /* JSON.parse: a repeated key replaces the value and keeps the first position. */
            int rc;
            if (gun__json_obj_get(o, key, klen)) {
                rc = gun__json_obj_set(o, key, klen, v); /* no allocation: cannot fail */
                gun__free(key);
            } else {
                rc = gun__json_obj_append(o, key, klen, v); /* frees key and v on failure */
            }
            if (rc) {
                gun__json_free(o);
                return sp_fail(s, GUN_ENOMEM, "out of memory");
            }
            sp_ws(s);
            if (s->p < s->end && *s->p == ',') {
                s->p++;
                continue;
            }
            if (s->p < s->end && *s->p == '}') {
                s->p++;
                return o;
            }
            gun__json_free(o);
            return sp_fail(s, GUN_EJSON, "',' or '}' expected");
        }
    }
    case '[': {
        gun__json *a = gun__json_arr();
        if (!a)
            return sp_fail(s, GUN_ENOMEM, "out of memory");
        s->p++;
        sp_ws(s);
        if (s->p < s->end && *s->p == ']') {
            s->p++;
            return a;
        }
        for (;;) {
            gun__json *v = sp_value(s);
            if (!v) {
                gun__json_free(a);
                return NULL;
            }
            if (gun__json_arr_push(a, v)) {
                gun__json_free(a);
                return sp_fail(s, GUN_ENOMEM, "out of memory");
            }
            sp_ws(s);
            if (s->p < s->end && *s->p == ',') {
                s->p++;
                continue;
            }
            if (s->p < s->end && *s->p == ']') {
                s->p++;
                return a;
            }
            gun__json_free(a);
            return sp_fail(s, GUN_EJSON, "',' or ']' expected");
        }
    }
    case '"': {
        if (sp_string(s))
            return NULL;
        gun__json *j = gun__json_str(s->tmp.p ? s->tmp.p : "", s->tmp.len);
        return j ? j : sp_fail(s, GUN_ENOMEM, "out of memory");
    }
    case 't':
        return sp_literal(s, "true", make_true);
    case 'f':
        return sp_literal(s, "false", make_false);
    case 'n':
        return sp_literal(s, "null", gun__json_null);
    default:
        return sp_number(s);
    }
}

int gun__json_parse_builtin(const char *text, size_t len, const gun__limits *lim,
                            gun__json **out, int *lone, gun__err *e)
{
    size_t max_bytes;
    uint32_t max_depth;
    gun__limits_get(lim, &max_bytes, &max_depth);
    *out = NULL;
    if (lone)
        *lone = 0;
    if (len > max_bytes)
        return gun__fail(e, GUN_ETOOBIG, "json: %zu bytes > cap %zu", len, max_bytes);
    int rc = depth_scan(text, len, max_depth, e);
    if (rc)
        return rc;
    sp s = {text, text + len, text, 0, {0}, e, 0};
    gun__json *j = sp_value(&s);
    if (j) {
        sp_ws(&s);
        if (s.p != s.end) {
            gun__json_free(j);
            j = sp_fail(&s, GUN_EJSON, "end of input expected");
        }
    }
    gun__buf_free(&s.tmp);
    if (!j)
        return s.err ? s.err : gun__fail(e, GUN_EJSON, "json: parse error");
    if (lone)
        *lone = s.lone;
    *out = j;
    return GUN_OK;
}

static int has_surrogate_escape(const char *p, size_t n)
{
    for (const char *q = p, *end = p + n; (q = memchr(q, '\\', (size_t)(end - q))) != NULL;
         q++) {
        if (end - q >= 3 && q[1] == 'u' && (q[2] == 'd' || q[2] == 'D'))
            return 1;
    }
    return 0;
}

int gun__json_parse(const char *text, size_t len, const gun__limits *lim, gun__json **out,
                    gun__err *e)
{
    return gun__json_parse_builtin(text, len, lim, out, NULL, e);
}

int gun__json_parse_jansson(const char *text, size_t len, const gun__limits *lim,
                            gun__json **out, gun__err *e)
{
    size_t max_bytes;
    uint32_t max_depth;
    gun__limits_get(lim, &max_bytes, &max_depth);
    *out = NULL;
    if (len > max_bytes)
        return gun__fail(e, GUN_ETOOBIG, "json: %zu bytes > cap %zu", len, max_bytes);
    int rc = depth_scan(text, len, max_depth, e);
    if (rc)
        return rc;
    /* A raw NUL is never valid JSON, but jansson takes "5\0" for "5" (found by
     * fuzz_json_roundtrip). */
    const char *nul = memchr(text, 0, len);
    if (nul)
        return gun__fail(e, GUN_EJSON, "json: NUL byte in text (byte %zu)", (size_t)(nul - text));

    call_once(&jansson_once, jansson_setup);
    json_error_t je;
    jalloc_failed = 0;
    json_t *jt = json_loadb(text, len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL,
                            &je);
    if (!jt) {
        if (jalloc_failed || json_error_code(&je) == json_error_out_of_memory)
            return gun__fail(e, GUN_ENOMEM, "json: out of memory");
        if (has_surrogate_escape(text, len)) {
            gun__json *j;
            gun__err e2 = {0};
            int lone;
            rc = gun__json_parse_builtin(text, len, lim, &j, &lone, &e2);
            if (rc == GUN_OK && lone) {
                *out = j;
                return GUN_OK;
            }
            gun__json_free(j);
            if (rc) { /* the real fault: jansson may only have seen the lone surrogate */
                if (e)
                    *e = e2;
                return rc;
            }
        }
        return gun__fail(e, GUN_EJSON, "json: %s (byte %d)", je.text, je.position);
    }
    gun__json *j = from_jansson(jt);
    json_decref(jt);
    if (!j)
        return gun__fail(e, GUN_ENOMEM, "json: out of memory");
    *out = j;
    return GUN_OK;
}

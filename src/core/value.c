/* Graph values (spec §1.2): conversion from/to JSON, JSON.stringify text, the tie-break
 * comparison HAM uses, copies. */
#include "core.h"

#include <math.h>
#include <string.h>

int gun__val_from_json(const gun__json *j, gun__val *out)
{
    memset(out, 0, sizeof *out);
    if (!j)
        return GUN_EBADVALUE; /* undefined */
    switch (j->t) {
    case GUN__J_NULL:
        out->t = GUN__V_NULL;
        return GUN_OK;
    case GUN__J_BOOL:
        out->t = GUN__V_BOOL;
        out->b = j->u.b ? 1 : 0;
        return GUN_OK;
    case GUN__J_NUM:
        if (!isfinite(j->u.n))
            return GUN_EBADVALUE;
        out->t = GUN__V_NUM;
        out->n = j->u.n;
        return GUN_OK;
    case GUN__J_STR:
        out->t = GUN__V_STR;
        out->s.p = j->u.s.p;
        out->s.len = j->u.s.len;
        return GUN_OK;
    case GUN__J_OBJ: {
        /* Gun.valid: "string" == typeof v["#"] && Object.keys(v).length === 1 && v["#"];
         * the last term makes the empty soul invalid. */
        if (j->u.o.n != 1)
            return GUN_EBADVALUE;
        const gun__jmember *m = &j->u.o.m[0];
        if (m->key_len != 1 || m->key[0] != '#' || !m->val || m->val->t != GUN__J_STR ||
            m->val->u.s.len == 0)
            return GUN_EBADVALUE;
        out->t = GUN__V_LINK;
        out->s.p = m->val->u.s.p;
        out->s.len = m->val->u.s.len;
        return GUN_OK;
    }
    case GUN__J_ARR:
    default:
        return GUN_EBADVALUE;
    }
}

gun__json *gun__val_to_json(const gun__val *v)
{
    switch (v->t) {
    case GUN__V_NULL:
        return gun__json_null();
    case GUN__V_BOOL:
        return gun__json_bool(v->b);
    case GUN__V_NUM:
        return gun__json_num(v->n);
    case GUN__V_STR:
        return gun__json_str(v->s.p ? v->s.p : "", v->s.len);
    case GUN__V_LINK: {
        gun__json *o = gun__json_obj();
        if (!o)
            return NULL;
        gun__json *s = gun__json_str(v->s.p ? v->s.p : "", v->s.len);
        if (!s || gun__json_obj_set(o, "#", 1, s) != GUN_OK) {
            gun__json_free(o);
            return NULL;
        }
        return o;
    }
    }
    return NULL;
}

void gun__val_write(gun__buf *b, const gun__val *v)
{
    switch (v->t) {
    case GUN__V_NULL:
        gun__buf_add(b, "null", 4);
        break;
    case GUN__V_BOOL:
        if (v->b)
            gun__buf_add(b, "true", 4);
        else
            gun__buf_add(b, "false", 5);
        break;
    case GUN__V_NUM:
        gun__json_write_num(b, v->n);
        break;
    case GUN__V_STR:
        gun__json_write_str(b, v->s.p ? v->s.p : "", v->s.len);
        break;
    case GUN__V_LINK:
        gun__buf_add(b, "{\"#\":", 5);
        gun__json_write_str(b, v->s.p ? v->s.p : "", v->s.len);
        gun__buf_addc(b, '}');
        break;
    }
}

/* The first character of JSON.stringify(v) decides between types: '"' 0x22 (string)
 * < '-' 0x2D and digits (number) < 'f' < 'n' < 't' < '{' (link). Numbers need their text. */
static int type_rank(gun__vtype t, int b)
{
    switch (t) {
    case GUN__V_STR: return 0;
    case GUN__V_NUM: return 1;
    case GUN__V_BOOL: return b ? 4 : 2;
    case GUN__V_NULL: return 3;
    case GUN__V_LINK: return 5;
    }
    return 6;
}

/* Can s take the fast path: nothing JSON.stringify escapes (controls, '"', '\\'), no
 * surrogates (lone ones are escaped; halves stored apart are rejoined by the writer) and
 * nothing malformed (written as U+FFFD)? Then the text is '"' + s + '"' byte for byte. */
static int needs_escape(const char *p, size_t len)
{
    const unsigned char *s = (const unsigned char *)p;
    for (size_t i = 0; i < len;) {
        unsigned c = s[i];
        if (c < 0x80) {
            if (c < 0x20 || c == '"' || c == '\\')
                return 1;
            i++;
            continue;
        }
        uint32_t cp;
        size_t n = gun__wtf8_decode(p + i, len - i, &cp);
        if (!n || (cp >= 0xD800 && cp <= 0xDFFF))
            return 1;
        i += n;
    }
    return 0;
}

/* Compares "a" with "b" (both quoted, neither needing escapes) as JS strings. JSON string
 * texts are prefix-free, so the texts compare as the contents do, except where one content
 * is a proper prefix of the other: then the closing quote (0x22) meets the longer one's
 * next unit, which is below the quote only for ' ' and '!'. */
static int cmp_plain_quoted(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t m = alen < blen ? alen : blen;
    if (m == 0 || memcmp(a, b, m) == 0) {
        if (alen == blen)
            return 0;
        /* One is a byte prefix of the other; both end on code point boundaries (WTF-8),
         * so it is a UTF-16 prefix too. */
        unsigned char next = (unsigned char)(alen < blen ? b[m] : a[m]);
        int shorter_is_less = next > '"';
        int r = shorter_is_less ? -1 : 1;
        return alen < blen ? r : -r;
    }
    int r = gun__utf16_cmp(a, alen, b, blen);
    return r < 0 ? -1 : r > 0;
}

/* One UTF-16 code unit of JSON.stringify(s) at a time, without building the text: the
 * fallback when escaping is needed and no memory is left. Mirrors wire's writer. */
typedef struct esc_iter {
    const char *p;
    size_t len, i;
    char pend[6]; /* queued ASCII units of an escape sequence */
    int npend, ipend;
    uint32_t low; /* queued low surrogate of an astral code point */
    int state;    /* 0: opening quote not sent, 1: body, 2: closing sent */
} esc_iter;

static const char hexd[] = "0123456789abcdef";

/* Returns the next unit or -1 at the end. */
static int32_t esc_next(esc_iter *it)
{
    if (it->ipend < it->npend)
        return (unsigned char)it->pend[it->ipend++];
    if (it->low) {
        uint32_t u = it->low;
        it->low = 0;
        return (int32_t)u;
    }
    if (it->state == 0) {
        it->state = 1;
        return '"';
    }
    if (it->state == 2)
        return -1;
    if (it->i >= it->len) {
        it->state = 2;
        return '"';
    }
    uint32_t cp, lo;
    size_t n = gun__wtf8_decode(it->p + it->i, it->len - it->i, &cp);
    if (!n) {
        it->i++;
        cp = 0xFFFD; /* as the writer: a byte that is not WTF-8 reads as U+FFFD */
    } else {
        it->i += n;
    }
    if (cp >= 0xD800 && cp <= 0xDBFF &&
        gun__wtf8_decode(it->p + it->i, it->len - it->i, &lo) == 3 && lo >= 0xDC00 &&
        lo <= 0xDFFF) {
        /* halves stored apart are one character in JS: not escaped */
        it->i += 3;
        it->low = lo;
        return (int32_t)cp;
    }
    it->npend = it->ipend = 0;
    if (cp == '"' || cp == '\\') {
        it->pend[0] = (char)cp;
        it->npend = 1;
        return '\\';
    }
    if (cp < 0x20 || (cp >= 0xD800 && cp <= 0xDFFF)) {
        char c = 0;
        switch (cp) {
        case '\b': c = 'b'; break;
        case '\f': c = 'f'; break;
        case '\n': c = 'n'; break;
        case '\r': c = 'r'; break;
        case '\t': c = 't'; break;
        }
        if (c) {
            it->pend[0] = c;
            it->npend = 1;
        } else {
            it->pend[0] = 'u';
            it->pend[1] = hexd[(cp >> 12) & 15];
            it->pend[2] = hexd[(cp >> 8) & 15];
            it->pend[3] = hexd[(cp >> 4) & 15];
            it->pend[4] = hexd[cp & 15];
            it->npend = 5;
        }
        return '\\';
    }
    if (cp >= 0x10000) {
        cp -= 0x10000;
        it->low = 0xDC00 + (cp & 0x3FF);
        return (int32_t)(0xD800 + (cp >> 10));
    }
    return (int32_t)cp;
}

static int cmp_escaped_iter(const gun__str *a, const gun__str *b)
{
    esc_iter x = {a->p ? a->p : "", a->len, 0, {0}, 0, 0, 0, 0};
    esc_iter y = {b->p ? b->p : "", b->len, 0, {0}, 0, 0, 0, 0};
    for (;;) {
        int32_t u = esc_next(&x), v = esc_next(&y);
        if (u != v)
            return u < v ? -1 : 1; /* -1 (end) sorts first */
        if (u < 0)
            return 0;
    }
}

static int cmp_str_text(const gun__str *a, const gun__str *b)
{
    const char *ap = a->p ? a->p : "", *bp = b->p ? b->p : "";
    if (!needs_escape(ap, a->len) && !needs_escape(bp, b->len))
        return cmp_plain_quoted(ap, a->len, bp, b->len);
    /* Rare path: let wire's writer produce the exact texts. */
    gun__buf x, y;
    gun__buf_init(&x);
    gun__buf_init(&y);
    gun__json_write_str(&x, ap, a->len);
    gun__json_write_str(&y, bp, b->len);
    int r;
    if (x.oom || y.oom || !x.p || !y.p)
        r = cmp_escaped_iter(a, b);
    else
        r = gun__utf16_cmp(x.p, x.len, y.p, y.len);
    gun__buf_free(&x);
    gun__buf_free(&y);
    return r < 0 ? -1 : r > 0;
}

int gun__val_cmp(const gun__val *a, const gun__val *b)
{
    int ra = type_rank(a->t, a->b), rb = type_rank(b->t, b->b);
    if (ra != rb)
        return ra < rb ? -1 : 1;
    switch (a->t) {
    case GUN__V_NULL:
    case GUN__V_BOOL:
        return 0;
    case GUN__V_NUM: {
        char x[32], y[32];
        size_t xl = gun__num_to_str(a->n, x), yl = gun__num_to_str(b->n, y);
        size_t m = xl < yl ? xl : yl;
        int r = memcmp(x, y, m); /* ASCII: bytes are code units */
        if (r)
            return r < 0 ? -1 : 1;
        return xl < yl ? -1 : xl > yl;
    }
    case GUN__V_STR:
    case GUN__V_LINK:
        /* {"#":<soul>} texts share the prefix and differ inside the (prefix-free) string
         * text, so links compare as their souls' string texts. */
        return cmp_str_text(&a->s, &b->s);
    }
    return 0;
}

int gun__val_eq(const gun__val *a, const gun__val *b)
{
    if (a->t != b->t)
        return 0;
    switch (a->t) {
    case GUN__V_NULL:
        return 1;
    case GUN__V_BOOL:
        return !a->b == !b->b;
    case GUN__V_NUM:
        return a->n == b->n;
    case GUN__V_STR:
    case GUN__V_LINK:
        return a->s.len == b->s.len && (a->s.len == 0 || memcmp(a->s.p, b->s.p, a->s.len) == 0);
    }
    return 0;
}

int gun__val_copy(gun__val *dst, const gun__val *src)
{
    gun__val v = *src;
    if (src->t == GUN__V_STR || src->t == GUN__V_LINK) {
        char *p = gun__strndup(src->s.p ? src->s.p : "", src->s.len);
        if (!p)
            return GUN_ENOMEM;
        v.s.p = p;
    } else {
        v.s.p = NULL;
        v.s.len = 0;
    }
    *dst = v;
    return GUN_OK;
}

void gun__val_clear(gun__val *v)
{
    if (v->t == GUN__V_STR || v->t == GUN__V_LINK)
        gun__free((void *)v->s.p);
    memset(v, 0, sizeof *v);
    v->t = GUN__V_NULL;
}

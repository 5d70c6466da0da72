/* wire: JSON in (jansson) -> our own tree and message views; JS-exact JSON out; `##`.
 * jansson types never leave this module. Nothing here keeps state between calls: every
 * function is safe from any thread on distinct trees. Decisions: docs/wire.md. */
#ifndef GUN_WIRE_H
#define GUN_WIRE_H

#include "../util/util.h"

typedef enum gun__jtype {
    GUN__J_NULL,
    GUN__J_BOOL,
    GUN__J_NUM,
    GUN__J_STR,
    GUN__J_ARR,
    GUN__J_OBJ
} gun__jtype;

typedef struct gun__json gun__json;

typedef struct gun__jmember {
    char *key; /* owned, WTF-8, NUL-terminated (keys with NUL are rejected at parse) */
    size_t key_len;
    gun__json *val; /* owned */
} gun__jmember;

/* A JSON value. Objects keep insertion order; setting an existing key replaces the value
 * in place (JS semantics: last duplicate wins, first position kept). Read members through
 * u.o.m / u.o.n freely, but change objects only through the calls below: objects of 16+
 * members keep a hash index in the same block as u.o.m. Lookups are O(1) on average. */
struct gun__json {
    gun__jtype t;
    union {
        int b;
        double n;
        struct {
            char *p; /* owned, WTF-8, NUL-terminated (may contain NUL: use len) */
            size_t len;
        } s;
        struct {
            gun__json **v;
            size_t n, cap;
        } a;
        struct {
            gun__jmember *m;
            size_t n, cap;
        } o;
    } u;
};

gun__json *gun__json_null(void);
gun__json *gun__json_bool(int b);
gun__json *gun__json_num(double n);
gun__json *gun__json_str(const char *p, size_t len); /* copies */
gun__json *gun__json_arr(void);
gun__json *gun__json_obj(void);
void gun__json_free(gun__json *j);
gun__json *gun__json_clone(const gun__json *j);
/* Both take ownership of v (freed on failure too). GUN_OK, GUN_ENOMEM, GUN_EINVAL (wrong
 * container type or NULL v). obj_set copies the key. */
int gun__json_arr_push(gun__json *arr, gun__json *v);
int gun__json_obj_set(gun__json *obj, const char *key, size_t key_len, gun__json *v);
/* NULL when absent or when obj is not an object. */
gun__json *gun__json_obj_get(const gun__json *obj, const char *key, size_t key_len);
gun__json *gun__json_obj_getc(const gun__json *obj, const char *key);
/* 1 if removed, 0 if absent; keeps the order of the others; O(n). */
int gun__json_obj_del(gun__json *obj, const char *key, size_t key_len);
/* Appends a member known to be absent: takes key (gun__malloc'd, NUL-terminated, key_len
 * bytes) and v, frees both on failure. For parsers and builders that already guarantee
 * unique keys; obj_set is the general call. GUN_OK / GUN_ENOMEM. */
int gun__json_obj_append(gun__json *obj, char *key, size_t key_len, gun__json *v);

/* Limits checked before allocation. A NULL gun__limits, or a 0 field, means the gun_opts
 * defaults (8 MiB, depth 64). */
typedef struct gun__limits {
    size_t max_bytes;   /* input text length cap */
    uint32_t max_depth; /* nesting depth cap ([[1]] has depth 2) */
} gun__limits;

/* Hard ceiling on max_depth (larger caps are clamped): jansson's own parser stops at 2048
 * levels counting the innermost scalar, and the tree walks recurse once per level. */
#define GUN__JSON_DEPTH_CEIL 2047u
/* The effective caps of lim (defaults filled in, depth clamped to the ceiling). */
void gun__limits_get(const gun__limits *lim, size_t *max_bytes, uint32_t *max_depth);

/* Parses one JSON text (any value at the top). text is lent for the call; on success *out
 * is a new tree the caller frees. Accepts what JSON.parse accepts, with three exceptions:
 * NUL in a key, numbers beyond the double range (JSON.parse: Infinity), nesting past the
 * caps. Lone surrogate escapes are kept as WTF-8. Numbers are doubles (JS).
 * Errors (in e, with byte offset): GUN_ETOOBIG, GUN_EDEPTH (both from a byte scan before
 * anything is allocated), GUN_EJSON (syntax, bad UTF-8, raw NUL byte, NUL in a key, number
 * overflow), GUN_ENOMEM. */
int gun__json_parse(const char *text, size_t len, const gun__limits *lim, gun__json **out,
                    gun__err *e);

/* The parser behind gun__json_parse: strict (RFC 8259, strict UTF-8, no NUL in keys,
 * overflowing numbers refused), lone surrogate escapes kept as WTF-8 and reported in *lone
 * (may be NULL). One pass straight into our tree: jansson plus a copy of its tree into ours
 * cost 2.3x the time and twice the allocations (docs/performance.md). */
int gun__json_parse_builtin(const char *text, size_t len, const gun__limits *lim,
                            gun__json **out, int *lone, gun__err *e);

/* The reference parser for the differential tests (unit tests, fuzz_json_roundtrip): jansson,
 * with the built-in parser only for texts jansson refuses that hold a lone surrogate. The
 * built-in parser must accept exactly these texts and build the same trees. */
int gun__json_parse_jansson(const char *text, size_t len, const gun__limits *lim,
                            gun__json **out, gun__err *e);

/* Writer modes. */
typedef enum gun__jmode {
    GUN__JSON_JS = 0,    /* JSON.stringify byte for byte: integer-like keys (canonical uint32
                            below 2^32-1) first ascending, then insertion order */
    GUN__JSON_SORTED = 1 /* keys sorted by UTF-16 code units at every level: what node relays
                            (YSON) emit and what `##` and SEA hash */
} gun__jmode;

/* Appends j (NULL writes null) to b; a failed allocation sets b->oom, as every append does.
 * Strings are WTF-8; bytes that are not (only API callers can make such strings) are
 * written as U+FFFD, as a decoder would have handed them to JS. Recursion follows the tree's
 * depth: trees deeper than GUN__JSON_DEPTH_CEIL must not be built by hand. */
void gun__json_write(gun__buf *b, const gun__json *j, gun__jmode mode);
/* Number::toString: shortest round-trip digits, ECMAScript layout; -0 -> "0";
 * NaN/Infinity -> "null" (as JSON.stringify). */
void gun__json_write_num(gun__buf *b, double n);
/* A JSON string literal with JS escaping ("\"", "\\", \b\f\n\r\t, other controls and lone
 * surrogates as \u001f / \ud800 escapes; nothing else escaped). */
void gun__json_write_str(gun__buf *b, const char *p, size_t len);
/* Writes n into out (>= 32 bytes, NUL-terminated) as Number::toString, so "NaN",
 * "Infinity" and "-Infinity" for those; returns the length. About 20-100 ns for values
 * Gun sees (integers, states), about 5 us for extreme exponents (docs/wire.md). */
size_t gun__num_to_str(double n, char *out);

/* `##`: Java hashCode of the sorted JSON of a put graph, computed while walking the tree
 * (no text is built). Never fails: without memory for sorting a large object it picks keys
 * by scanning instead. NULL gives 0. */
int32_t gun__put_hash(const gun__json *put);

/* A message: views into its JSON object, which owns all memory. */
typedef struct gun__msg {
    gun__json *obj;      /* the whole message object (owned) */
    gun__str id;         /* '#'; empty if absent */
    gun__str ack;        /* '@' */
    gun__str dam;        /* 'dam' */
    gun__str pid;        /* 'pid' */
    gun__str seen;       /* '><' */
    const gun__json *put; /* NULL if absent */
    const gun__json *get;
    const gun__json *ok;
    const gun__json *err;
    const gun__json *pct; /* '%' */
    int has_hash;
    int32_t hash; /* '##' */
} gun__msg;

/* Parses a frame: one message object or a batch array ("[]" is a heartbeat: *n = 0). As in
 * Gun.js, the first byte decides: '{' or '[', anything else (leading space too) is
 * GUN_ENOTMSG without parsing. Items of a batch that are not objects are skipped and counted
 * in *skipped (may be NULL); Gun.js would re-parse a string item as a frame, we do not.
 * '##' is bound only when it is an integer in int32 range.
 * Field type errors (e.g. '#' not a string) leave that view empty; the raw object keeps
 * the value. On success *msgs is an array of *n messages: free with gun__msgs_free.
 * Errors: as gun__json_parse, plus GUN_ENOTMSG for a frame that is neither. */
int gun__frame_parse(const char *text, size_t len, const gun__limits *lim, gun__msg **msgs,
                     size_t *n, size_t *skipped, gun__err *e);
/* Fills the views of m from m->obj (already set). */
void gun__msg_bind(gun__msg *m);
void gun__msgs_free(gun__msg *msgs, size_t n);

#endif

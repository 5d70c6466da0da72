/* wire: JSON in (jansson) -> our own tree and message views; JS-exact JSON out; `##`.
 * jansson types never leave this module. */
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
 * in place (JS semantics: last duplicate wins, first position kept). */
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
/* Takes ownership of v (freed on failure too). */
int gun__json_arr_push(gun__json *arr, gun__json *v);
int gun__json_obj_set(gun__json *obj, const char *key, size_t key_len, gun__json *v);
/* NULL when absent or when obj is not an object. */
gun__json *gun__json_obj_get(const gun__json *obj, const char *key, size_t key_len);
gun__json *gun__json_obj_getc(const gun__json *obj, const char *key);
int gun__json_obj_del(gun__json *obj, const char *key, size_t key_len); /* 1 if removed */

/* Limits checked before allocation. */
typedef struct gun__limits {
    size_t max_bytes;   /* input text length cap */
    uint32_t max_depth; /* nesting depth cap ([[1]] has depth 2) */
} gun__limits;

/* Parses one JSON text. Errors (in e, with byte offset): GUN_ETOOBIG, GUN_EDEPTH (both
 * checked by a byte scan before jansson runs), GUN_EJSON (syntax, bad UTF-8, NUL in a key),
 * GUN_ENOMEM. Numbers are doubles (JS). */
int gun__json_parse(const char *text, size_t len, const gun__limits *lim, gun__json **out,
                    gun__err *e);

/* Writer modes. */
typedef enum gun__jmode {
    GUN__JSON_JS = 0,    /* JSON.stringify byte for byte: integer-like keys (canonical uint32
                            below 2^32-1) first ascending, then insertion order */
    GUN__JSON_SORTED = 1 /* keys sorted by UTF-16 code units at every level: what node relays
                            (YSON) emit and what `##` and SEA hash */
} gun__jmode;

void gun__json_write(gun__buf *b, const gun__json *j, gun__jmode mode);
/* Number::toString: shortest round-trip digits, ECMAScript layout; -0 -> "0";
 * NaN/Infinity -> "null" (as JSON.stringify). */
void gun__json_write_num(gun__buf *b, double n);
/* A JSON string literal with JS escaping ("\"", "\\", \b\f\n\r\t, other controls and lone
 * surrogates as \u00xx / \udxxx; nothing else escaped). */
void gun__json_write_str(gun__buf *b, const char *p, size_t len);
/* Writes n into out (>= 32 bytes) as Number::toString; returns the length. */
size_t gun__num_to_str(double n, char *out);

/* `##`: Java hashCode of the sorted JSON of a put graph. */
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

/* Parses a frame: one message object or a batch array ("[]" is a heartbeat: *n = 0).
 * Items of a batch that are not objects are skipped and counted in *skipped (may be NULL).
 * Field type errors (e.g. '#' not a string) leave that view empty; the raw object keeps
 * the value. On success *msgs is an array of *n messages: free with gun__msgs_free.
 * Errors: as gun__json_parse, plus GUN_ENOTMSG for a frame that is neither. */
int gun__frame_parse(const char *text, size_t len, const gun__limits *lim, gun__msg **msgs,
                     size_t *n, size_t *skipped, gun__err *e);
/* Fills the views of m from m->obj (already set). */
void gun__msg_bind(gun__msg *m);
void gun__msgs_free(gun__msg *msgs, size_t n);

#endif

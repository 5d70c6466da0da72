/* Internal utilities shared by every module: strings, growable buffers, allocation,
 * error detail, UTF-16 helpers. Nothing here knows about graphs or sockets. */
#ifndef GUN_UTIL_H
#define GUN_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "gun.h"

#if defined(__GNUC__)
#define GUN__PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define GUN__PRINTF(a, b)
#endif

#ifdef NDEBUG
#define GUN_ASSERT(x) ((void)0)
#else
#include <assert.h>
#define GUN_ASSERT(x) assert(x)
#endif

/* A length-carrying byte view. Strings inside the library are WTF-8: UTF-8 that may also
 * hold lone surrogates (U+D800..U+DFFF as 3-byte sequences), so that every JS string,
 * including ones JSON.stringify writes as a "\ud800"-style escape, survives a round trip. */
typedef struct gun__str {
    const char *p;
    size_t len;
} gun__str;

#define GUN__STR(lit) ((gun__str){(lit), sizeof(lit) - 1})
gun__str gun__str_c(const char *cstr); /* view of a NUL-terminated string; NULL -> {0} */
int gun__str_eq(gun__str a, gun__str b);
int gun__str_eqc(gun__str a, const char *cstr);

/* Allocation: every allocation goes through these so tests can fail the Nth one. */
void *gun__malloc(size_t n);
void *gun__calloc(size_t n, size_t sz);
void *gun__realloc(void *p, size_t n);
void gun__free(void *p);
char *gun__strndup(const char *p, size_t len); /* NUL-terminated copy */

/* Growable byte buffer. Appends after an allocation failure are no-ops and `oom` stays
 * set, so a writer can append freely and check once at the end. Contents are kept
 * NUL-terminated when cap > 0. */
typedef struct gun__buf {
    char *p;
    size_t len;
    size_t cap;
    int oom;
} gun__buf;

void gun__buf_init(gun__buf *b);
void gun__buf_free(gun__buf *b);
void gun__buf_reset(gun__buf *b); /* len = 0, keeps capacity, clears oom */
int gun__buf_reserve(gun__buf *b, size_t extra);
void gun__buf_add(gun__buf *b, const void *p, size_t len);
void gun__buf_addc(gun__buf *b, char c);
void gun__buf_adds(gun__buf *b, const char *cstr);
void gun__buf_printf(gun__buf *b, const char *fmt, ...) GUN__PRINTF(2, 3);
char *gun__buf_take(gun__buf *b); /* hands the NUL-terminated text to the caller, resets b */

/* Error detail for internal calls: the code plus a sentence naming what was wrong
 * (soul, key, byte offset). Functions that take a gun__err * fill it on failure;
 * passing NULL is allowed. */
typedef struct gun__err {
    int code;
    char msg[256];
} gun__err;

int gun__fail(gun__err *e, int code, const char *fmt, ...) GUN__PRINTF(3, 4); /* returns code */

/* UTF-16 view of WTF-8 text. */
/* Decodes the code point at p (len bytes left) into *cp, returns bytes used, 0 on a
 * malformed sequence. Surrogate code points (lone surrogates) are accepted. */
size_t gun__wtf8_decode(const char *p, size_t len, uint32_t *cp);
/* Compares two WTF-8 strings in UTF-16 code-unit order, as JS compares strings.
 * Returns <0, 0, >0. This differs from byte order only for code points above U+FFFF
 * against U+E000..U+FFFF. */
int gun__utf16_cmp(const char *a, size_t alen, const char *b, size_t blen);
/* The next UTF-16 code unit at *i (advanced); *pend carries the low half of an astral code
 * point between calls (start it at 0). Malformed bytes give U+FFFD. */
uint32_t gun__utf16_next(const char *p, size_t len, size_t *i, uint32_t *pend);
/* 1 when p is well-formed WTF-8 in canonical form (no surrogate pair spelled as two 3-byte
 * halves): what JSON parsing produces for every JS string. */
int gun__wtf8_canonical(const char *p, size_t len);
/* Number of UTF-16 code units in a WTF-8 string (JS `.length`). */
size_t gun__utf16_len(const char *p, size_t len);
/* Java String.hashCode over the UTF-16 code units of p, continuing from `seed` (0 to start):
 * c = ((c << 5) - c + unit) | 0. Gun's `##` and String.hash. */
int32_t gun__hash_utf16(const char *p, size_t len, int32_t seed);
/* Appends the WTF-8 encoding of code point cp (0..0x10FFFF, surrogates allowed). */
void gun__buf_add_cp(gun__buf *b, uint32_t cp);

/* CSPRNG bytes (getrandom); returns GUN_OK or GUN_EIO. */
int gun__random(void *out, size_t n);
/* n chars of Gun's 61-char alphabet (String.random: no 'Y'), uniform, NUL-terminated
 * (out must hold n+1). Message ids use n = 9. */
int gun__random_id(char *out, size_t n);

/* A buffer of CSPRNG bytes for ids made in bulk (one getrandom per 4 KiB instead of one per
 * id: a relay makes an id per message it sends). Owned by one thread, no locking; zero it to
 * start. */
typedef struct gun__idgen {
    unsigned char pool[4096];
    size_t used, have;
} gun__idgen;
/* As gun__random_id, drawing from g. */
int gun__idgen_next(gun__idgen *g, char *out, size_t n);
extern const char gun__id_alphabet[62]; /* 61 chars + NUL; read-only */

/* Wall clock in ms since the epoch (integer ms, as Date.now()). */
double gun__now_ms(void);
/* Monotonic clock in ms, for timeouts. */
uint64_t gun__mono_ms(void);


/* Seeded 64-bit hash (SipHash-1-3) for tables keyed by peer-chosen strings: crafted
 * collisions cannot turn them into lists. */
uint64_t gun__hash64(const void *p, size_t len, const uint64_t key[2]);
/* Fills key with random bits (a fixed key if the system has no randomness). */
void gun__hash_seed(uint64_t key[2]);

/* ---- string-keyed hash map (keys copied, values are the caller's) ---- */
typedef struct gun__map gun__map;
typedef struct gun__map_ent {
    char *key; /* owned, NUL-terminated (may contain NUL: use key_len); borrowed maps: the
                  caller's, not terminated */
    size_t key_len;
    void *val;
    uint64_t hash;
} gun__map_ent;

gun__map *gun__map_new(void);
/* A map that borrows its keys: put keeps the caller's pointer (a put that replaces a value
 * takes the new pointer too), and the key's bytes must stay valid, unchanged, while it is
 * in the map. Saves a copy per entry where the value already holds its key. */
gun__map *gun__map_new_borrowed(void);
/* Frees the map; calls free_val on each value when given. */
void gun__map_free(gun__map *m, void (*free_val)(void *));
void *gun__map_get(const gun__map *m, const char *key, size_t len);
/* Inserts or replaces; the old value (if any) goes to *old (may be NULL). GUN_OK / GUN_ENOMEM. */
int gun__map_put(gun__map *m, const char *key, size_t len, void *val, void **old);
/* Removes key; returns its value or NULL. */
void *gun__map_del(gun__map *m, const char *key, size_t len);
/* Removes key only if its value is val (one lookup instead of get + del); 1 if removed. */
int gun__map_del_if(gun__map *m, const char *key, size_t len, const void *val);
size_t gun__map_count(const gun__map *m);
/* Iteration: *it starts at 0; returns NULL at the end. The map must not change meanwhile. */
gun__map_ent *gun__map_next(const gun__map *m, size_t *it);

#endif

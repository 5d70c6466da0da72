/* libFuzzer target: parse -> write -> parse -> write gives identical text in both modes, and
 * the two parsers agree: the reference (jansson, with the built-in parser only for lone
 * surrogates, which jansson refuses) and gun__json_parse (the built-in parser) accept the
 * same texts and build the same trees. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire/wire.h"

static const gun__limits lim = {1u << 20, 64};
/* Our output may be longer than the input ("1e20" -> "100000000000000000000"). */
static const gun__limits relim = {(size_t)1 << 30, 64};

static char *dump(const gun__json *j, gun__jmode mode, size_t *len)
{
    gun__buf b;
    gun__buf_init(&b);
    gun__json_write(&b, j, mode);
    *len = b.len;
    return gun__buf_take(&b); /* NULL when out of memory */
}

static void roundtrip(const gun__json *j, gun__jmode mode)
{
    size_t l1, l2;
    char *t1 = dump(j, mode, &l1);
    if (!t1)
        return;
    gun__json *j2;
    gun__err e;
    int rc = gun__json_parse(t1, l1, &relim, &j2, &e);
    if (rc == GUN_ENOMEM) {
        gun__free(t1);
        return;
    }
    if (rc != GUN_OK) /* our own output must parse */
        abort();
    char *t2 = dump(j2, mode, &l2);
    if (t2 && (l1 != l2 || memcmp(t1, t2, l1) != 0))
        abort();
    gun__free(t1);
    gun__free(t2);
    gun__json_free(j2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    gun__json *a = NULL, *b = NULL;
    int lone = 0;
    int ra = gun__json_parse_jansson(text, size, &lim, &a, NULL);
    int rb = gun__json_parse_builtin(text, size, &lim, &b, &lone, NULL);
    if (ra == GUN_ENOMEM || rb == GUN_ENOMEM)
        goto out;
    if ((ra == GUN_OK) != (rb == GUN_OK))
        abort(); /* one parser accepts what the other refuses */
    if (ra != GUN_OK && ra != rb && !(ra == GUN_EJSON && rb == GUN_EJSON))
        abort();
    if (ra == GUN_OK) {
        size_t la, lb;
        char *ta = dump(a, GUN__JSON_JS, &la), *tb = dump(b, GUN__JSON_JS, &lb);
        if (ta && tb && (la != lb || memcmp(ta, tb, la) != 0))
            abort(); /* different trees */
        gun__free(ta);
        gun__free(tb);
        roundtrip(a, GUN__JSON_JS);
        roundtrip(a, GUN__JSON_SORTED);
    }
out:
    gun__json_free(a);
    gun__json_free(b);
    return 0;
}

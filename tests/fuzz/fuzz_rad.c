/* libFuzzer target: one RAD file's bytes through gun__rad_parse (JSON radix tree or the
 * legacy line format). Looks for crashes, leaks and sanitizer reports; every record
 * handed out must be a valid soul/key/value. Seeds in tests/fuzz/corpus/rad. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/rad.h"

static int check(void *arg, gun__str soul, gun__str key, const gun__val *val, double state)
{
    (void)arg;
    if (!soul.len || !key.len || memchr(soul.p, 0x1b, soul.len) || !isfinite(state))
        abort();
    if ((val->t == GUN__V_LINK && !val->s.len) || (val->t == GUN__V_NUM && !isfinite(val->n)))
        abort();
    return GUN_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gun__rad_stats st = {0};
    gun__err e = {0};
    int rc = gun__rad_parse((const char *)data, size, check, NULL, &st, &e);
    if (rc != GUN_OK && rc != GUN_EJSON && rc != GUN_ENOMEM)
        abort();
    return 0;
}

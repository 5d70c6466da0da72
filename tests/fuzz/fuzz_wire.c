/* libFuzzer target: a frame from the network through gun__frame_parse, then every message
 * back out in both writer modes and `##` of its put. Looks for crashes, leaks, sanitizer
 * reports and oversized output; seeds in tests/fuzz/corpus/wire. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const gun__limits lim = {1u << 20, 64};
    gun__msg *m;
    size_t n, skipped;
    gun__err e;
    int rc = gun__frame_parse((const char *)data, size, &lim, &m, &n, &skipped, &e);
    if (rc != GUN_OK) {
        if (rc != GUN_EJSON && rc != GUN_ETOOBIG && rc != GUN_EDEPTH && rc != GUN_ENOTMSG &&
            rc != GUN_ENOMEM)
            abort();
        if (e.code != rc)
            abort();
        return 0;
    }
    gun__buf b;
    gun__buf_init(&b);
    for (size_t i = 0; i < n; i++) {
        if (!m[i].obj || m[i].obj->t != GUN__J_OBJ)
            abort();
        gun__buf_reset(&b);
        gun__json_write(&b, m[i].obj, GUN__JSON_JS);
        size_t js_len = b.len;
        gun__buf_reset(&b);
        gun__json_write(&b, m[i].obj, GUN__JSON_SORTED);
        /* the two modes differ only in key order */
        if (!b.oom && b.len != js_len)
            abort();
        if (m[i].put && gun__put_hash(m[i].put) != gun__put_hash(m[i].put))
            abort();
        /* views point into the object */
        if (m[i].id.len && !gun__json_obj_getc(m[i].obj, "#"))
            abort();
    }
    gun__buf_free(&b);
    gun__msgs_free(m, n);
    return 0;
}

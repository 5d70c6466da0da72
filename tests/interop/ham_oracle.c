/* ham_oracle: our side of the HAM differential test against Gun.js (02-ham.test.js).
 *
 * Reads lines on stdin. Each line is a JSON array of cases; a case is
 * [current_put_or_null, incoming_put], the same put graphs the test feeds to Gun.js, each
 * holding one soul with one key, a fresh soul per case. Both go through our full path:
 * gun__graph_from_put, then gun__core_put against one memory store. For every input line
 * it prints one line with a letter per case, the outcome of the incoming put:
 *   A accepted, O old (older state), S same (equal state, text not greater),
 *   D deferred (future), P dropped (queue full),
 *   E the incoming put was rejected by validation, X the current put was not accepted
 *   (a broken case), ! a line that is not a JSON array of cases.
 * Exit status 0 unless stdin or memory fails. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "store/store.h"

static char merge_one(gun__core *core, const gun__json *put)
{
    gun__graph g;
    gun__err e = {0};
    if (gun__graph_from_put(put, &g, &e) != GUN_OK)
        return 'E';
    if (g.keys != 1) {
        gun__graph_free(&g);
        return 'E';
    }
    gun__merge_res r;
    int rc = gun__core_put(core, &g, &r);
    gun__graph_free(&g);
    if (rc != GUN_OK) {
        fprintf(stderr, "ham_oracle: merge failed: %s\n", gun_strerror(rc));
        exit(2);
    }
    static const char letters[] = "AOSDP";
    return letters[r.result];
}

int main(void)
{
    gun__store store;
    gun__err e = {0};
    if (gun__store_open(&store, &gun__store_mem_ops, NULL, &e) != GUN_OK) {
        fprintf(stderr, "ham_oracle: %s\n", e.msg);
        return 2;
    }
    gun__core *core = gun__core_new(&store, 0);
    if (!core)
        return 2;
    gun__limits lim = {1u << 30, 64};
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    gun__buf out;
    gun__buf_init(&out);
    while ((len = getline(&line, &cap, stdin)) > 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        if (!len)
            continue;
        gun__json *j = NULL;
        gun__buf_reset(&out);
        if (gun__json_parse(line, (size_t)len, &lim, &j, &e) != GUN_OK || j->t != GUN__J_ARR) {
            fprintf(stderr, "ham_oracle: bad line: %s\n", e.msg);
            gun__buf_addc(&out, '!');
        } else {
            for (size_t i = 0; i < j->u.a.n; i++) {
                const gun__json *c = j->u.a.v[i];
                if (c->t != GUN__J_ARR || c->u.a.n != 2) {
                    gun__buf_addc(&out, '!');
                    continue;
                }
                const gun__json *cur = c->u.a.v[0], *in = c->u.a.v[1];
                if (cur->t != GUN__J_NULL && merge_one(core, cur) != 'A') {
                    gun__buf_addc(&out, 'X');
                    continue;
                }
                gun__buf_addc(&out, merge_one(core, in));
            }
        }
        gun__json_free(j);
        gun__buf_addc(&out, '\n');
        if (out.oom || fwrite(out.p, 1, out.len, stdout) != out.len)
            return 2;
        fflush(stdout);
    }
    free(line);
    gun__buf_free(&out);
    gun__core_free(core);
    gun__store_close(&store);
    return 0;
}

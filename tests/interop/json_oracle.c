/* Oracle for tests/interop/01-json-writer.test.js and 03-hash.test.js: our JSON parser,
 * writer, number formatter and `##`, one command per stdin line, one answer per stdout line.
 *
 *   js <json>        -> ok <our JSON.stringify of it>     (parse, then write in JS mode)
 *   sorted <json>    -> ok <keys sorted at every level>   (SORTED mode, what `##` hashes)
 *   hash <json>      -> ok <gun__put_hash as a decimal int32>
 *   num <hex> ...    -> ok <Number::toString> ...          (IEEE bits as 16 hex digits)
 *
 * Failures answer "err <code> <detail>". JSON texts never hold a raw newline, and lone
 * surrogates travel as \udxxx escapes, which our parser keeps (WTF-8). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire/wire.h"

static const gun__limits lim = {(size_t)1 << 30, GUN__JSON_DEPTH_CEIL};

static void answer_json(gun__buf *out, const char *text, size_t len, const char *cmd)
{
    gun__json *j;
    gun__err e = {0};
    int rc = gun__json_parse(text, len, &lim, &j, &e);
    if (rc) {
        gun__buf_printf(out, "err %d %s", rc, e.msg);
        return;
    }
    gun__buf_adds(out, "ok ");
    if (strcmp(cmd, "hash") == 0)
        gun__buf_printf(out, "%d", (int)gun__put_hash(j));
    else
        gun__json_write(out, j, strcmp(cmd, "js") == 0 ? GUN__JSON_JS : GUN__JSON_SORTED);
    gun__json_free(j);
}

static void answer_num(gun__buf *out, char *args)
{
    gun__buf_adds(out, "ok");
    for (char *tok = strtok(args, " "); tok; tok = strtok(NULL, " ")) {
        uint64_t bits = strtoull(tok, NULL, 16);
        double v;
        char s[32];
        memcpy(&v, &bits, sizeof v);
        gun__buf_addc(out, ' ');
        gun__buf_add(out, s, gun__num_to_str(v, s));
    }
}

int main(void)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    gun__buf out;
    gun__buf_init(&out);
    while ((n = getline(&line, &cap, stdin)) > 0) {
        if (line[n - 1] == '\n')
            line[--n] = 0;
        char *sp = strchr(line, ' ');
        const char *arg = sp ? sp + 1 : "";
        if (sp)
            *sp = 0;
        gun__buf_reset(&out);
        if (!strcmp(line, "js") || !strcmp(line, "sorted") || !strcmp(line, "hash"))
            answer_json(&out, arg, (size_t)(line + n - arg), line);
        else if (!strcmp(line, "num"))
            answer_num(&out, (char *)arg);
        else
            gun__buf_printf(&out, "err %d unknown command %s", GUN_EINVAL, line);
        if (out.oom) {
            fprintf(stderr, "json_oracle: out of memory\n");
            return 1;
        }
        gun__buf_addc(&out, '\n');
        fwrite(out.p, 1, out.len, stdout);
    }
    free(line);
    gun__buf_free(&out);
    return 0;
}

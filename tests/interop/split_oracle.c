/* Oracle for tests/interop/04-split.test.js: runs our chain API on inputs the Node test
 * also gives to Gun.js, and prints what we produce, one JSON line per input.
 *
 *   split_oracle split   stdin: {"op":"put"|"set","soul":S,"path":[k...],"data":D} per line
 *                        stdout: {"graph":<put graph, sorted keys>|null,"code":n,"err":text|null,
 *                                 "soul":<ack soul>|null,"item":<set's item key>|null}
 *                        One instance for the whole run, so earlier puts shape later ones
 *                        (existing links are reused), as in the Node test's single Gun.
 *   split_oracle radix   stdin: one number per line; stdout: its toString(36)
 *   split_oracle uuid N  stdout: N lines {"before":s0,"after":s1,"soul":item soul of a set}
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain/chain.h"

typedef struct capture {
    uv_sem_t done;
    gun__buf graph;
    int code;
    char err[512];
    char soul[512];
    int has_soul;
} capture;

static void on_trace(void *arg, const gun__json *put)
{
    capture *c = arg;
    gun__buf_reset(&c->graph);
    gun__json_write(&c->graph, put, GUN__JSON_SORTED);
}

static void on_ack(const gun_ack *a, void *arg)
{
    capture *c = arg;
    c->code = a->err;
    snprintf(c->err, sizeof c->err, "%s", a->err_text ? a->err_text : "");
    c->has_soul = a->soul != NULL;
    snprintf(c->soul, sizeof c->soul, "%s", a->soul ? a->soul : "");
    uv_sem_post(&c->done);
}

static char *read_line(FILE *f)
{
    gun__buf b;
    int ch;
    gun__buf_init(&b);
    while ((ch = fgetc(f)) != EOF && ch != '\n')
        gun__buf_addc(&b, (char)ch);
    if (ch == EOF && b.len == 0) {
        gun__buf_free(&b);
        return NULL;
    }
    gun__buf_addc(&b, '\0');
    return gun__buf_take(&b);
}

static int run_split(void)
{
    gun_t *g;
    capture cap;
    gun__limits lim = {64u << 20, 512};
    if (gun_open(&g, NULL) != GUN_OK)
        return 2;
    memset(&cap, 0, sizeof cap);
    gun__buf_init(&cap.graph);
    uv_sem_init(&cap.done, 0);
    /* Set before any put: read on the loop thread, which sees it via the op queue's lock. */
    g->trace_arg = &cap;
    g->trace_put = on_trace;

    char *line;
    while ((line = read_line(stdin))) {
        gun__json *in = NULL;
        gun__err e = {0};
        if (!*line) {
            free(line);
            continue;
        }
        if (gun__json_parse(line, strlen(line), &lim, &in, &e) != GUN_OK) {
            fprintf(stderr, "split_oracle: bad input line: %s\n", e.msg);
            return 2;
        }
        const gun__json *op = gun__json_obj_getc(in, "op");
        const gun__json *soul = gun__json_obj_getc(in, "soul");
        const gun__json *path = gun__json_obj_getc(in, "path");
        const gun__json *data = gun__json_obj_getc(in, "data");
        gun_chain *c = NULL, *item = NULL;
        int rc = soul && soul->t == GUN__J_STR ? gun_get(g, soul->u.s.p, &c) : GUN_EINVAL;
        for (size_t i = 0; rc == GUN_OK && path && path->t == GUN__J_ARR && i < path->u.a.n; i++)
            rc = gun_chain_get(c, path->u.a.v[i]->u.s.p, &c);
        gun__buf djs;
        gun__buf_init(&djs);
        gun__json_write(&djs, data, GUN__JSON_JS);
        gun__buf_reset(&cap.graph);
        cap.code = 0;
        cap.err[0] = 0;
        cap.has_soul = 0;
        if (rc == GUN_OK) {
            int is_set = op && op->t == GUN__J_STR && !strcmp(op->u.s.p, "set");
            item = NULL;
            rc = is_set ? gun_set(c, djs.p, on_ack, &cap, &item) : gun_put(c, djs.p, on_ack, &cap);
            /* Errors are reported through the callback too; wait for it either way. */
            uv_sem_wait(&cap.done);
        }
        gun__buf out;
        gun__buf_init(&out);
        gun__buf_adds(&out, "{\"graph\":");
        gun__buf_adds(&out, cap.graph.len && cap.code == GUN_OK ? cap.graph.p : "null");
        gun__buf_printf(&out, ",\"code\":%d,\"err\":", rc != GUN_OK ? rc : cap.code);
        if (cap.err[0])
            gun__json_write_str(&out, cap.err, strlen(cap.err));
        else
            gun__buf_adds(&out, "null");
        gun__buf_adds(&out, ",\"soul\":");
        if (cap.has_soul)
            gun__json_write_str(&out, cap.soul, strlen(cap.soul));
        else
            gun__buf_adds(&out, "null");
        gun__buf_adds(&out, ",\"item\":");
        if (item)
            gun__json_write_str(&out, item->key, item->key_len);
        else
            gun__buf_adds(&out, "null");
        gun__buf_adds(&out, "}\n");
        fwrite(out.p, 1, out.len, stdout);
        fflush(stdout);
        gun__buf_free(&out);
        gun__buf_free(&djs);
        gun__json_free(in);
        free(line);
    }
    gun_close(g);
    gun__buf_free(&cap.graph);
    uv_sem_destroy(&cap.done);
    return 0;
}

static int run_radix(void)
{
    char *line;
    while ((line = read_line(stdin))) {
        char out[2300];
        if (*line) {
            double v = strtod(line, NULL);
            size_t n = gun__num_to_radix(v, 36, out, sizeof out);
            printf("%s\n", n ? out : "?");
        }
        free(line);
    }
    return 0;
}

static int run_uuid(long n)
{
    gun_t *g;
    gun_chain *c;
    if (gun_open(&g, NULL) != GUN_OK || gun_get(g, "list", &c) != GUN_OK)
        return 2;
    for (long i = 0; i < n; i++) {
        gun_chain *item;
        double before = gun_state(g);
        int rc = gun_set(c, "{\"i\":1}", NULL, NULL, &item);
        double after = gun_state(g);
        if (rc != GUN_OK)
            return 3;
        gun__buf b;
        gun__buf_init(&b);
        gun__buf_adds(&b, "{\"before\":");
        gun__json_write_num(&b, before);
        gun__buf_adds(&b, ",\"after\":");
        gun__json_write_num(&b, after);
        gun__buf_adds(&b, ",\"soul\":");
        /* The item chain is list/<soul>. */
        const char *path = gun_chain_path(item);
        gun__json_write_str(&b, path + 5, strlen(path + 5));
        gun__buf_adds(&b, "}\n");
        fwrite(b.p, 1, b.len, stdout);
        gun__buf_free(&b);
    }
    gun_close(g);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "split"))
        return run_split();
    if (argc >= 2 && !strcmp(argv[1], "radix"))
        return run_radix();
    if (argc >= 3 && !strcmp(argv[1], "uuid"))
        return run_uuid(strtol(argv[2], NULL, 10));
    fprintf(stderr, "usage: split_oracle split|radix|uuid N\n");
    return 2;
}

/* wire: frames and messages, the captured Gun.js traffic in shared/spec/frames, and `##`. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire/wire.h"

static char *write_json(const gun__json *j, gun__jmode mode)
{
    gun__buf b;
    gun__buf_init(&b);
    gun__json_write(&b, j, mode);
    cr_assert(!b.oom);
    return gun__buf_take(&b);
}

static int frame(const char *text, gun__msg **m, size_t *n, size_t *skipped)
{
    gun__err e = {0};
    int rc = gun__frame_parse(text, strlen(text), NULL, m, n, skipped, &e);
    if (rc)
        cr_expect(e.code == rc && e.msg[0]);
    return rc;
}

/* ---- messages ---- */

Test(wire_frame, single_message_views)
{
    gun__msg *m;
    size_t n, sk;
    cr_assert_eq(frame("{\"#\":\"abc\",\"@\":\"q\",\"dam\":\"?\",\"pid\":\"P1\",\"><\":\"a,b\","
                       "\"put\":{\"s\":{}},\"get\":{\"#\":\"s\"},\"ok\":{\"@\":9,\"/\":1},"
                       "\"err\":\"bad\",\"%\":\"next\",\"##\":-1391914276}",
                       &m, &n, &sk),
                 GUN_OK);
    cr_assert_eq(n, 1);
    cr_expect_eq(sk, 0);
    cr_expect(gun__str_eqc(m[0].id, "abc"));
    cr_expect(gun__str_eqc(m[0].ack, "q"));
    cr_expect(gun__str_eqc(m[0].dam, "?"));
    cr_expect(gun__str_eqc(m[0].pid, "P1"));
    cr_expect(gun__str_eqc(m[0].seen, "a,b"));
    cr_expect(m[0].put && m[0].put->t == GUN__J_OBJ);
    cr_expect(m[0].get && gun__json_obj_getc(m[0].get, "#"));
    cr_expect(m[0].ok && m[0].ok->t == GUN__J_OBJ);
    cr_expect(m[0].err && m[0].err->t == GUN__J_STR);
    cr_expect(m[0].pct && m[0].pct->t == GUN__J_STR);
    cr_expect(m[0].has_hash);
    cr_expect_eq(m[0].hash, -1391914276);
    gun__msgs_free(m, n);
}

Test(wire_frame, wrong_field_types_leave_views_empty)
{
    gun__msg *m;
    size_t n;
    cr_assert_eq(frame("{\"#\":5,\"@\":null,\"dam\":[],\"pid\":{},\"><\":true,\"ok\":0}", &m, &n,
                       NULL),
                 GUN_OK);
    cr_expect(m[0].id.p == NULL && m[0].id.len == 0);
    cr_expect(m[0].ack.len == 0 && m[0].dam.len == 0 && m[0].pid.len == 0 && m[0].seen.len == 0);
    cr_expect_null(m[0].put);
    cr_expect(m[0].ok && m[0].ok->t == GUN__J_NUM); /* any type: 0 is localStorage's ack */
    cr_expect_not_null(gun__json_obj_getc(m[0].obj, "#")); /* the raw value stays */
    gun__msgs_free(m, n);
}

Test(wire_frame, hash_only_when_int32)
{
    static const struct {
        const char *text;
        int has;
        int32_t h;
    } cases[] = {
        {"{\"##\":0}", 1, 0},
        {"{\"##\":2147483647}", 1, 2147483647},
        {"{\"##\":-2147483648}", 1, INT32_MIN},
        {"{\"##\":2147483648}", 0, 0},
        {"{\"##\":-2147483649}", 0, 0},
        {"{\"##\":1.5}", 0, 0},
        {"{\"##\":\"123\"}", 0, 0},
        {"{\"##\":null}", 0, 0},
        {"{\"##\":1e3}", 1, 1000},
        {"{}", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gun__msg *m;
        size_t n;
        cr_assert_eq(frame(cases[i].text, &m, &n, NULL), GUN_OK);
        cr_expect_eq(m[0].has_hash, cases[i].has, "%s", cases[i].text);
        cr_expect_eq(m[0].hash, cases[i].h, "%s", cases[i].text);
        gun__msgs_free(m, n);
    }
}

Test(wire_frame, batches)
{
    gun__msg *m;
    size_t n, sk;
    cr_assert_eq(frame("[]", &m, &n, &sk), GUN_OK);
    cr_expect_eq(n, 0);
    cr_expect_eq(sk, 0);
    gun__msgs_free(m, n);

    cr_assert_eq(frame("[1,{\"#\":\"a\"},\"{\\\"#\\\":\\\"x\\\"}\",[],null,{\"#\":\"b\",\"put\":{}}]",
                       &m, &n, &sk),
                 GUN_OK);
    cr_assert_eq(n, 2);
    cr_expect_eq(sk, 4);
    cr_expect(gun__str_eqc(m[0].id, "a"));
    cr_expect(gun__str_eqc(m[1].id, "b"));
    cr_expect_not_null(m[1].put);
    gun__msgs_free(m, n);

    cr_assert_eq(frame("[1,2]", &m, &n, NULL), GUN_OK); /* skipped may be NULL */
    cr_expect_eq(n, 0);
    gun__msgs_free(m, n);
}

Test(wire_frame, not_messages)
{
    gun__msg *m;
    size_t n;
    static const char *texts[] = {"\"str\"", "123", "null", "true", " {}", "\n[]", ""};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        cr_expect_eq(frame(texts[i], &m, &n, NULL), GUN_ENOTMSG, "%s", texts[i]);
        cr_expect_null(m);
        cr_expect_eq(n, 0);
    }
    cr_expect_eq(frame("{not json", &m, &n, NULL), GUN_EJSON);
    cr_expect_eq(frame("[{}", &m, &n, NULL), GUN_EJSON);
}

Test(wire_frame, caps)
{
    gun__msg *m;
    size_t n;
    gun__limits lim = {32, 3};
    gun__err e = {0};
    const char *big = "{\"#\":\"0123456789012345678901234\"}";
    cr_expect_eq(gun__frame_parse(big, strlen(big), &lim, &m, &n, NULL, &e), GUN_ETOOBIG);
    cr_expect(strstr(e.msg, "cap") != NULL, "%s", e.msg);
    /* too big is reported before anything else, even for garbage */
    cr_expect_eq(gun__frame_parse("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 40, &lim, &m, &n,
                                  NULL, NULL),
                 GUN_ETOOBIG);
    cr_expect_eq(gun__frame_parse("[{\"a\":{\"b\":[1]}}]", 17, &lim, &m, &n, NULL, NULL),
                 GUN_EDEPTH);
    cr_expect_eq(gun__frame_parse("[{\"a\":{\"b\":1}}]", 15, &lim, &m, &n, NULL, NULL), GUN_OK);
    cr_expect_eq(n, 1);
    gun__msgs_free(m, n);
}

Test(wire_frame, lone_surrogates_reach_messages)
{
    gun__msg *m;
    size_t n;
    cr_assert_eq(frame("{\"#\":\"\\ud800x\",\"put\":{\"s\":{\"k\":\"\\udfff\"}}}", &m, &n, NULL),
                 GUN_OK);
    cr_expect_eq(m[0].id.len, 4);
    cr_expect(memcmp(m[0].id.p, "\xED\xA0\x80x", 4) == 0);
    char *s = write_json(m[0].obj, GUN__JSON_JS);
    cr_expect_str_eq(s, "{\"#\":\"\\ud800x\",\"put\":{\"s\":{\"k\":\"\\udfff\"}}}");
    gun__free(s);
    gun__msgs_free(m, n);
}

/* ---- `##` ---- */

/* Get replies captured from a Gun.js relay (shared/spec/frames/01-raw-relay-put-get-ham.txt):
 * the relay computed each `##` itself. Kept here so the check never depends on that path. */
static const char *relay_replies[] = {
    "{\"#\":\"tL3Rv6DW9\",\"##\":352731843,\"@\":\"get1\",\"FOO\":1,\"put\":{\"alice\":{\"_\":{\"#\":"
    "\"alice\",\">\":{\"age\":1700000000000,\"car\":1700000000000,\"name\":1700000000000}},\"age\":"
    "30,\"car\":{\"#\":\"alice/car\"},\"name\":\"Alice\"}}}",
    "{\"#\":\"QHV5b66Ma\",\"##\":-1391914276,\"@\":\"get2\",\"FOO\":1,\"put\":{\"alice\":{\"_\":{\"#\":"
    "\"alice\",\">\":{\"name\":1700000000000}},\"name\":\"Alice\"}}}",
    "{\"#\":\"BZGyR4sIR\",\"##\":1592520355,\"@\":\"get8\",\"FOO\":1,\"put\":{\"alice\":{\"_\":{\"#\":"
    "\"alice\",\">\":{\"name\":1700000000000}},\"name\":\"Zed\"}}}",
    "{\"#\":\"2hcJFvPZI\",\"##\":1321904499,\"@\":\"b1\",\"FOO\":1,\"put\":{\"alice\":{\"_\":{\"#\":"
    "\"alice\",\">\":{\"age\":1700000000000}},\"age\":30}}}",
    "[{\"#\":\"h9klII8oZ\",\"##\":1609512518,\"@\":\"b2\",\"FOO\":1,\"put\":{\"alice/car\":{\"_\":{"
    "\"#\":\"alice/car\",\">\":{\"color\":1700000000000.5}},\"color\":\"red\"}}}]",
    "{\"#\":\"x5sJqZn1i\",\"##\":1609512518,\"@\":\"get9\",\"FOO\":1,\"put\":{\"alice/car\":{\"_\":{"
    "\"#\":\"alice/car\",\">\":{\"color\":1700000000000.5}},\"color\":\"red\"}}}",
    "{\"#\":\"S5SJkzZox\",\"##\":281693820,\"@\":\"get10\",\"FOO\":1,\"put\":{\"alice\":{\"_\":{\"#\":"
    "\"alice\",\">\":{\"age\":1700000000001}},\"age\":null}}}",
    "{\"#\":\"NiLNDNyAh\",\"##\":968156479,\"@\":\"get11\",\"FOO\":1,\"put\":{\"alice\":{\"_\":{\"#\":"
    "\"alice\",\">\":{\"age\":1700000000001,\"car\":1700000000000,\"name\":1700000000000}},\"age\":"
    "null,\"car\":{\"#\":\"alice/car\"},\"name\":\"Zed\"}}}",
    "{\"#\":\"d754qHx7u\",\"##\":1668578048,\"@\":\"get13\",\"FOO\":1,\"put\":{\"fut\":{\"_\":{\"#\":"
    "\"fut\",\">\":{\"k\":1795355816931}},\"k\":\"future\"}}}",
};

Test(wire_hash, relay_captures)
{
    for (size_t i = 0; i < sizeof relay_replies / sizeof relay_replies[0]; i++) {
        gun__msg *m;
        size_t n;
        cr_assert_eq(frame(relay_replies[i], &m, &n, NULL), GUN_OK);
        cr_assert_eq(n, 1);
        cr_assert(m[0].has_hash && m[0].put);
        cr_expect_eq(gun__put_hash(m[0].put), m[0].hash, "reply %zu", i);
        gun__msgs_free(m, n);
    }
}

/* The hash walks the sorted text without building it: same as hashing the written text. */
Test(wire_hash, equals_hash_of_sorted_text)
{
    const char *t = "{\"b\":{\"_\":{\">\":{\"\\ud800\":1.5,\"x\":2},\"#\":\"b\"},\"x\":\"\\n\\u0001é😀\","
                    "\"\\ud800\":null},\"a\":{\"2\":[1,{\"z\":1,\"y\":2}],\"10\":true}}";
    gun__json *j;
    cr_assert_eq(gun__json_parse(t, strlen(t), NULL, &j, NULL), GUN_OK);
    char *s = write_json(j, GUN__JSON_SORTED);
    cr_expect_eq(gun__put_hash(j), gun__hash_utf16(s, strlen(s), 0));
    cr_expect_neq(gun__put_hash(j), 0);
    gun__free(s);
    gun__json_free(j);
    cr_expect_eq(gun__put_hash(NULL), 0);
}

/* Allocation failure cannot make `##` wrong: the sort falls back to an in-place scan. */
static int fail_all;
static void *f_malloc(size_t n) { return fail_all ? NULL : malloc(n); }
static void *f_calloc(size_t n, size_t s) { return fail_all ? NULL : calloc(n, s); }
static void *f_realloc(void *p, size_t n) { return fail_all ? NULL : realloc(p, n); }

Test(wire_hash, no_allocation_needed)
{
    gun__json *o = gun__json_obj();
    char k[16];
    for (int i = 0; i < 300; i++) { /* large enough to need the heap for sorting */
        int n = snprintf(k, sizeof k, "k%d", (i * 37) % 300);
        cr_assert_eq(gun__json_obj_set(o, k, (size_t)n, gun__json_num(i)), GUN_OK);
    }
    int32_t want = gun__put_hash(o);
    char *s = write_json(o, GUN__JSON_SORTED);
    cr_expect_eq(want, gun__hash_utf16(s, strlen(s), 0));
    gun__free(s);
    cr_assert_eq(gun_replace_allocator(f_malloc, f_realloc, f_calloc, free), GUN_OK);
    fail_all = 1;
    cr_expect_eq(gun__put_hash(o), want);
    gun__buf b;
    gun__buf_init(&b);
    gun__json_write(&b, o, GUN__JSON_SORTED);
    cr_expect(b.oom); /* the buffer writer reports it instead */
    fail_all = 0;
    gun_replace_allocator(NULL, NULL, NULL, NULL);
    gun__buf_free(&b);
    gun__json_free(o);
}

/* ---- captured traffic ---- */

static FILE *open_frames(const char *name, char *path, size_t cap)
{
    const char *dirs[3] = {getenv("GUN_SPEC_FRAMES"), NULL, "/work/shared/spec/frames"};
    char here[512];
    /* beside the checkout: <root>/tests/unit/this.c -> <root>/../shared/spec/frames */
    snprintf(here, sizeof here, "%s", __FILE__);
    char *cut = strstr(here, "tests/unit/test_wire.c");
    if (cut) {
        strcpy(cut, "../shared/spec/frames");
        dirs[1] = here;
    }
    for (int i = 0; i < 3; i++) {
        if (!dirs[i])
            continue;
        snprintf(path, cap, "%s/%s", dirs[i], name);
        FILE *f = fopen(path, "r");
        if (f)
            return f;
    }
    return NULL;
}

/* The frame of a capture line, e.g. "821ms R>C {...}", "58833 c1 C>R {...}", "SEND {...}". */
static const char *line_frame(const char *line, char *dir, size_t dcap)
{
    if (strncmp(line, "SEND ", 5) == 0) {
        snprintf(dir, dcap, "R>C");
        return line + 5;
    }
    const char *p = line;
    for (int tok = 0; tok < 3 && *p; tok++) {
        const char *end = strchr(p, ' ');
        if (!end)
            return NULL;
        const char *gt = memchr(p, '>', (size_t)(end - p));
        if (gt && gt > p && gt + 1 < end) {
            snprintf(dir, dcap, "%.*s", (int)(end - p), p);
            return end + 1;
        }
        p = end + 1;
    }
    return NULL;
}

typedef struct stats {
    int frames, bad, msgs, hashes, relay_sorted;
} stats;

static void check_file(const char *name, stats *st)
{
    char path[1024];
    FILE *f = open_frames(name, path, sizeof path);
    cr_assert_not_null(f, "shared/spec/frames/%s not found (set GUN_SPEC_FRAMES)", name);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        char dir[32];
        const char *fr = line_frame(line, dir, sizeof dir);
        if (!fr)
            continue;
        size_t flen = strlen(fr);
        st->frames++;
        gun__msg *m;
        size_t n, sk;
        gun__err e = {0};
        int rc = gun__frame_parse(fr, flen, NULL, &m, &n, &sk, &e);
        if (rc) {
            /* the captures hold one deliberate "{not json" and lines cut at ~300 chars */
            cr_expect_eq(rc, GUN_EJSON, "%s: %s", name, fr);
            cr_expect(strcmp(fr, "{not json") == 0 || (flen > 250 && fr[flen - 1] != '}' &&
                                                       fr[flen - 1] != ']'),
                      "%s: unexpected failure %s on %.80s", name, e.msg, fr);
            st->bad++;
            continue;
        }
        cr_expect_eq(sk, 0);
        st->msgs += (int)n;
        for (size_t i = 0; i < n; i++) {
            char *js = write_json(m[i].obj, GUN__JSON_JS), *so = write_json(m[i].obj,
                                                                            GUN__JSON_SORTED);
            cr_expect(strstr(fr, js) != NULL, "%s: JS mode changed %.200s into %.200s", name, fr,
                      js);
            /* node relays write sorted keys (YSON) */
            if (strcmp(dir, "R>C") == 0) {
                cr_expect(strstr(fr, so) != NULL, "%s: sorted %.200s", name, so);
                st->relay_sorted++;
            }
            if (m[i].has_hash && m[i].put) {
                cr_expect_eq(gun__put_hash(m[i].put), m[i].hash, "%s: %.120s", name, js);
                st->hashes++;
            }
            gun__free(js);
            gun__free(so);
        }
        /* the whole frame, batches included, comes back byte for byte */
        gun__json *whole;
        cr_assert_eq(gun__json_parse(fr, flen, NULL, &whole, NULL), GUN_OK);
        char *js = write_json(whole, GUN__JSON_JS);
        cr_expect_str_eq(js, fr, "%s", name);
        gun__free(js);
        gun__json_free(whole);
        gun__msgs_free(m, n);
    }
    free(line);
    fclose(f);
}

Test(wire_captures, every_frame_parses_round_trips_and_hashes)
{
    static const struct {
        const char *name;
        int bad, hashes;
    } files[] = {
        {"01-raw-relay-put-get-ham.txt", 1, 9},
        {"02-raw-relay-lex-cold-disk.txt", 0, 6},
        {"03-gun-client-via-proxy-put-set-user.txt", 0, 4},
        {"04-sea-rejections.txt", 0, 1},
        {"05-relay-to-relay-get.txt", 0, 4},
        {"07-chunked-get-reply.txt", 0, 0},
        {"08-get-reply-chunking.txt", 5, 2},
    };
    stats all = {0};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        stats st = {0};
        check_file(files[i].name, &st);
        cr_expect_eq(st.bad, files[i].bad, "%s: %d unparseable", files[i].name, st.bad);
        cr_expect_eq(st.hashes, files[i].hashes, "%s: %d hashes", files[i].name, st.hashes);
        cr_expect_gt(st.frames, 0, "%s", files[i].name);
        all.frames += st.frames, all.msgs += st.msgs, all.relay_sorted += st.relay_sorted;
    }
    cr_expect_geq(all.frames, 140);
    cr_expect_geq(all.relay_sorted, 60);
}

/* The radisk files (06) hold plain JSON, one per line after "== file: NAME". */
Test(wire_captures, radisk_files_round_trip)
{
    char path[1024];
    FILE *f = open_frames("06-radisk-files.txt", path, sizeof path);
    cr_assert_not_null(f);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int n = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        while (len && line[len - 1] == '\n')
            line[--len] = 0;
        if (line[0] != '{')
            continue;
        gun__json *j;
        gun__err e = {0};
        cr_assert_eq(gun__json_parse(line, (size_t)len, NULL, &j, &e), GUN_OK, "%s", e.msg);
        char *s = write_json(j, GUN__JSON_JS);
        cr_expect_str_eq(s, line);
        gun__free(s);
        gun__json_free(j);
        n++;
    }
    cr_expect_eq(n, 2);
    free(line);
    fclose(f);
}

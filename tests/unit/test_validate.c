/* Validation of wire puts (spec §3.9): each rule, its error code and message. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"

static gun__json *parse(const char *text)
{
    gun__json *j = NULL;
    gun__err e = {0};
    gun__limits lim = {1 << 20, 64};
    int rc = gun__json_parse(text, strlen(text), &lim, &j, &e);
    cr_assert_eq(rc, GUN_OK, "parse %s: %s", text, e.msg);
    return j;
}

static void expect_reject(const char *text, int code, const char *msg)
{
    gun__json *put = parse(text);
    gun__graph g;
    gun__err e = {0};
    int rc = gun__graph_from_put(put, &g, &e);
    cr_expect_eq(rc, code, "%s: got %d (%s)", text, rc, e.msg);
    cr_expect_eq(e.code, code, "%s", text);
    cr_expect_str_eq(e.msg, msg, "%s", text);
    cr_expect_eq(g.n, 0);
    cr_expect_eq(g.nodes, NULL);
    gun__json_free(put);
}

#define NODE_OK "\"_\":{\"#\":\"a\",\">\":{\"x\":1}},\"x\":1"

Test(validate, no_node)
{
    expect_reject("{\"a\":null}", GUN_ENONODE, "Invalid graph! 'a' no node.");
    expect_reject("{\"a\":false}", GUN_ENONODE, "Invalid graph! 'a' no node.");
    expect_reject("{\"a\":0}", GUN_ENONODE, "Invalid graph! 'a' no node.");
    expect_reject("{\"a\":\"\"}", GUN_ENONODE, "Invalid graph! 'a' no node.");
    /* Souls are checked in order: the first bad one is reported. */
    expect_reject("{\"a\":{" NODE_OK "},\"b\":null,\"c\":0}", GUN_ENONODE,
                  "Invalid graph! 'b' no node.");
}

Test(validate, no_meta)
{
    /* Truthy non-objects: Gun.js reads node._ as undefined. */
    expect_reject("{\"a\":5}", GUN_ENOMETA, "Invalid graph! 'a' no meta.");
    expect_reject("{\"a\":\"str\"}", GUN_ENOMETA, "Invalid graph! 'a' no meta.");
    expect_reject("{\"a\":[1]}", GUN_ENOMETA, "Invalid graph! 'a' no meta.");
    expect_reject("{\"a\":{\"x\":1}}", GUN_ENOMETA, "Invalid graph! 'a' no meta.");
    expect_reject("{\"a\":{\"_\":null,\"x\":1}}", GUN_ENOMETA, "Invalid graph! 'a' no meta.");
    expect_reject("{\"a\":{\"_\":0}}", GUN_ENOMETA, "Invalid graph! 'a' no meta.");
}

Test(validate, soul_not_same)
{
    expect_reject("{\"a\":{\"_\":{\"#\":\"b\",\">\":{}}}}", GUN_ESOULNOTSAME,
                  "Invalid graph! 'a' soul not same.");
    expect_reject("{\"a\":{\"_\":{\">\":{}}}}", GUN_ESOULNOTSAME,
                  "Invalid graph! 'a' soul not same.");
    expect_reject("{\"a\":{\"_\":{\"#\":{\"#\":\"a\"},\">\":{}}}}", GUN_ESOULNOTSAME,
                  "Invalid graph! 'a' soul not same.");
    /* A truthy non-object "_" has no "#": Gun.js says "soul not same". */
    expect_reject("{\"a\":{\"_\":1}}", GUN_ESOULNOTSAME, "Invalid graph! 'a' soul not same.");
    expect_reject("{\"a\":{\"_\":\"a\"}}", GUN_ESOULNOTSAME, "Invalid graph! 'a' soul not same.");
    /* Souls compare exactly (no case folding, no normalization). */
    expect_reject("{\"\\u00e9\":{\"_\":{\"#\":\"e\\u0301\",\">\":{}}}}", GUN_ESOULNOTSAME,
                  "Invalid graph! '\xC3\xA9' soul not same.");
}

Test(validate, no_state)
{
    expect_reject("{\"a\":{\"_\":{\"#\":\"a\"},\"x\":1}}", GUN_ENOSTATE,
                  "Invalid graph! 'a' no state.");
    /* Even with no keys: Gun.js checks ">" before looking at keys. */
    expect_reject("{\"a\":{\"_\":{\"#\":\"a\"}}}", GUN_ENOSTATE, "Invalid graph! 'a' no state.");
    expect_reject("{\"a\":{\"_\":{\"#\":\"a\",\">\":0}}}", GUN_ENOSTATE,
                  "Invalid graph! 'a' no state.");
    expect_reject("{\"a\":{\"_\":{\"#\":\"a\",\">\":5},\"x\":1}}", GUN_ENOSTATE,
                  "Invalid graph! 'a' no state (\">\" is not an object).");
    expect_reject("{\"a\":{\"_\":{\"#\":\"a\",\">\":[1]},\"0\":1}}", GUN_ENOSTATE,
                  "Invalid graph! 'a' no state (\">\" is not an object).");
    expect_reject("{\"a\":{\"_\":{\"#\":\"a\",\">\":{\"x\":1}},\"x\":1,\"y\":2}}", GUN_ENOSTATE,
                  "Invalid graph! 'y' on 'a' no state.");
    /* Gun.js would merge a null or string state (it only rejects undefined). */
    expect_reject("{\"a\":{\"_\":{\"#\":\"a\",\">\":{\"x\":null}},\"x\":1}}", GUN_ENOSTATE,
                  "Invalid graph! 'x' on 'a' no state (not a number).");
    expect_reject("{\"a\":{\"_\":{\"#\":\"a\",\">\":{\"x\":\"1\"}},\"x\":1}}", GUN_ENOSTATE,
                  "Invalid graph! 'x' on 'a' no state (not a number).");
}

Test(validate, bad_value)
{
    expect_reject("{\"a\":{\"_\":{\"#\":\"a\",\">\":{\"x\":1}},\"x\":[1,2]}}", GUN_EBADVALUE,
                  "Invalid graph! 'x' on 'a' bad object.");
    expect_reject("{\"a\":{\"_\":{\"#\":\"a\",\">\":{\"x\":1}},\"x\":{\"y\":1}}}", GUN_EBADVALUE,
                  "Invalid graph! 'x' on 'a' bad object.");
    expect_reject("{\"a\":{\"_\":{\"#\":\"a\",\">\":{\"x\":1}},\"x\":{\"#\":\"\"}}}",
                  GUN_EBADVALUE, "Invalid graph! 'x' on 'a' bad object.");
    expect_reject("{\"a\":{\"_\":{\"#\":\"a\",\">\":{\"x\":1}},\"x\":{\"#\":\"b\",\">\":1}}}",
                  GUN_EBADVALUE, "Invalid graph! 'x' on 'a' bad object.");
    /* The state is checked before the value, key by key in order. */
    expect_reject("{\"a\":{\"_\":{\"#\":\"a\",\">\":{\"y\":1}},\"x\":[1],\"y\":[2]}}",
                  GUN_ENOSTATE, "Invalid graph! 'x' on 'a' no state.");
    expect_reject("{\"a\":{\"_\":{\"#\":\"a\",\">\":{\"x\":1,\"y\":1}},\"x\":1,\"y\":[2]}}",
                  GUN_EBADVALUE, "Invalid graph! 'y' on 'a' bad object.");
}

Test(validate, non_finite_values_and_states)
{
    /* JSON cannot carry these; a tree built by hand can. */
    gun__json *put = parse("{\"a\":{\"_\":{\"#\":\"a\",\">\":{\"x\":1}},\"x\":1}}");
    gun__json *node = gun__json_obj_get(put, "a", 1);
    gun__json *states = gun__json_obj_get(gun__json_obj_get(node, "_", 1), ">", 1);
    gun__graph g;
    gun__err e = {0};
    cr_assert_eq(gun__json_obj_set(states, "x", 1, gun__json_num(INFINITY)), GUN_OK);
    cr_expect_eq(gun__graph_from_put(put, &g, &e), GUN_ESTATE);
    cr_expect_str_eq(e.msg, "Invalid graph! 'x' on 'a' state is not finite.");
    cr_assert_eq(gun__json_obj_set(states, "x", 1, gun__json_num(NAN)), GUN_OK);
    cr_expect_eq(gun__graph_from_put(put, &g, &e), GUN_ESTATE);
    cr_assert_eq(gun__json_obj_set(states, "x", 1, gun__json_num(1)), GUN_OK);
    cr_assert_eq(gun__json_obj_set(node, "x", 1, gun__json_num(-INFINITY)), GUN_OK);
    cr_expect_eq(gun__graph_from_put(put, &g, &e), GUN_EBADVALUE);
    cr_expect_str_eq(e.msg, "Invalid graph! 'x' on 'a' bad number.");
    gun__json_free(put);
}

Test(validate, bad_soul_and_key)
{
    expect_reject("{\"\":{\"_\":{\"#\":\"\",\">\":{\"x\":1}},\"x\":1}}", GUN_EBADSOUL,
                  "Invalid graph! empty soul.");
    /* NUL in souls and keys: the parser refuses them in keys, so build by hand. */
    gun__json *put = gun__json_obj();
    gun__json *node = parse("{\"_\":{\">\":{\"x\":1}},\"x\":1}");
    gun__json_obj_set(gun__json_obj_get(node, "_", 1), "#", 1, gun__json_str("a\0b", 3));
    cr_assert_eq(gun__json_obj_set(put, "a\0b", 3, node), GUN_OK);
    gun__graph g;
    gun__err e = {0};
    cr_expect_eq(gun__graph_from_put(put, &g, &e), GUN_EBADSOUL);
    cr_expect_eq(strncmp(e.msg, "Invalid graph! 'a", 17), 0, "%s", e.msg);
    gun__json_free(put);

    put = gun__json_obj();
    node = parse("{\"_\":{\"#\":\"a\",\">\":{}}}");
    gun__json_obj_set(gun__json_obj_get(gun__json_obj_get(node, "_", 1), ">", 1), "k\0", 2,
                      gun__json_num(1));
    gun__json_obj_set(node, "k\0", 2, gun__json_num(1));
    gun__json_obj_set(put, "a", 1, node);
    cr_expect_eq(gun__graph_from_put(put, &g, &e), GUN_EBADKEY);
    cr_expect_str_eq(e.msg, "Invalid graph! 'k' on 'a' key has a NUL byte.");
    gun__json_free(put);
}

Test(validate, put_not_an_object)
{
    const char *bad[] = {"null", "5", "\"a\"", "[]", "[{\"_\":{\"#\":\"0\",\">\":{}}}]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_reject(bad[i], GUN_ENONODE, "Invalid graph! put is not an object.");
}

Test(validate, long_names_are_cut)
{
    char text[600], soul[201];
    memset(soul, 's', 200);
    soul[200] = 0;
    snprintf(text, sizeof text, "{\"%s\":null}", soul);
    gun__json *put = parse(text);
    gun__graph g;
    gun__err e = {0};
    cr_expect_eq(gun__graph_from_put(put, &g, &e), GUN_ENONODE);
    char want[200];
    snprintf(want, sizeof want, "Invalid graph! '%.80s...' no node.", soul);
    cr_expect_str_eq(e.msg, want);
    gun__json_free(put);
}

Test(validate, accepts_and_builds_views)
{
    const char *text =
        "{\"alice\":{\"_\":{\">\":{\"name\":1700000000000.001,\"car\":2,\"gone\":3,\"ok\":4,"
        "\"n\":5,\"extra\":6},\"#\":\"alice\"},\"name\":\"Alice\",\"car\":{\"#\":\"alice/car\"},"
        "\"gone\":null,\"ok\":true,\"n\":-1.5},"
        "\"alice/car\":{\"_\":{\"#\":\"alice/car\",\">\":{\"color\":7}},\"color\":\"blue\"},"
        "\"empty\":{\"_\":{\"#\":\"empty\",\">\":{}}}}";
    gun__json *put = parse(text);
    gun__graph g;
    gun__err e = {0};
    cr_assert_eq(gun__graph_from_put(put, &g, &e), GUN_OK, "%s", e.msg);
    cr_assert_eq(g.n, 3);
    cr_expect_eq(g.keys, 6);
    cr_expect(gun__str_eqc(g.nodes[0].soul, "alice"));
    cr_assert_eq(g.nodes[0].n, 5);
    const gun__field *f = g.nodes[0].f;
    cr_expect(gun__str_eqc(f[0].key, "name"));
    cr_expect_eq(f[0].state, 1700000000000.001);
    cr_expect(f[0].val.t == GUN__V_STR && gun__str_eqc(f[0].val.s, "Alice"));
    cr_expect(f[1].val.t == GUN__V_LINK && gun__str_eqc(f[1].val.s, "alice/car"));
    cr_expect_eq(f[2].val.t, GUN__V_NULL);
    cr_expect(f[3].val.t == GUN__V_BOOL && f[3].val.b);
    cr_expect(f[4].val.t == GUN__V_NUM && f[4].val.n == -1.5 && f[4].state == 5);
    cr_expect(gun__str_eqc(g.nodes[1].soul, "alice/car"));
    cr_expect_eq(g.nodes[1].n, 1);
    cr_expect_eq(g.nodes[2].n, 0);
    /* views point into the JSON */
    const gun__json *name = gun__json_obj_get(gun__json_obj_get(put, "alice", 5), "name", 4);
    cr_expect_eq(f[0].val.s.p, name->u.s.p);
    gun__graph_free(&g);
    gun__json_free(put);
}

Test(validate, empty_key_skipped_as_gun)
{
    /* Gun.js's key loop stops at "" (falsy) and resumes after it: that key is neither
     * merged nor validated. */
    gun__json *put = parse("{\"c\":{\"_\":{\"#\":\"c\",\">\":{\"x\":1,\"z\":1}},"
                           "\"x\":1,\"\":[5],\"z\":2}}");
    gun__graph g;
    gun__err e = {0};
    cr_assert_eq(gun__graph_from_put(put, &g, &e), GUN_OK, "%s", e.msg);
    cr_assert_eq(g.keys, 2);
    cr_expect(gun__str_eqc(g.nodes[0].f[0].key, "x"));
    cr_expect(gun__str_eqc(g.nodes[0].f[1].key, "z"));
    gun__graph_free(&g);
    gun__json_free(put);
}

Test(validate, old_single_key_form_ignored)
{
    gun__json *put = parse("{\"#\":\"a\",\".\":\"k\",\":\":1,\">\":1}");
    gun__graph g;
    gun__err e = {0};
    cr_expect_eq(gun__graph_from_put(put, &g, &e), GUN_OK);
    cr_expect_eq(g.n, 0);
    cr_expect_eq(g.keys, 0);
    gun__graph_free(&g);
    gun__json_free(put);
    /* Only when both are truthy: otherwise "#" is an ordinary (here invalid) soul. */
    expect_reject("{\"#\":\"a\",\".\":\"\"}", GUN_ENOMETA, "Invalid graph! '#' no meta.");
    put = parse("{}");
    cr_expect_eq(gun__graph_from_put(put, &g, &e), GUN_OK);
    cr_expect_eq(g.n, 0);
    gun__json_free(put);
}

static int fail_at = -1;
static void *f_malloc(size_t n) { return fail_at-- == 0 ? NULL : malloc(n); }
static void *f_realloc(void *p, size_t n) { return fail_at-- == 0 ? NULL : realloc(p, n); }
static void *f_calloc(size_t a, size_t b) { return fail_at-- == 0 ? NULL : calloc(a, b); }

Test(validate, oom_is_reported)
{
    gun__json *put = parse("{\"a\":{" NODE_OK "},\"b\":{\"_\":{\"#\":\"b\",\">\":{\"y\":1}},"
                           "\"y\":2}}");
    int ok = 0;
    for (int nth = 0; nth < 20 && !ok; nth++) {
        gun__graph g;
        gun__err e = {0};
        gun_replace_allocator(f_malloc, f_realloc, f_calloc, free);
        fail_at = nth;
        int rc = gun__graph_from_put(put, &g, &e);
        fail_at = -1;
        gun_replace_allocator(NULL, NULL, NULL, NULL);
        if (rc == GUN_OK) {
            ok = 1;
            cr_expect_eq(g.keys, 2);
            gun__graph_free(&g);
        } else {
            cr_expect_eq(rc, GUN_ENOMEM);
            cr_expect_eq(g.n, 0);
        }
    }
    cr_expect(ok);
    gun__json_free(put);
}

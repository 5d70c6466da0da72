/* The merge engine: HAM against the store, one write per put, change callbacks,
 * sequential semantics for repeated keys, deferral of future states. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "store/store.h"

/* ---- fixtures ---- */

typedef struct change {
    char soul[64], key[64];
    char text[128]; /* JSON of the value */
    double state;
} change;

typedef struct fx {
    gun__store store;
    gun__core *core;
    change ch[64];
    size_t nch;
    /* a store wrapper that can fail writes and counts them */
    int fail_write;
    int writes;
    size_t last_write_n;
} fx;

static fx F;

static const gun__store_ops *real_ops;

static int w_write(void *st, const gun__store_rec *recs, size_t n, gun__err *e)
{
    F.writes++;
    F.last_write_n = n;
    if (F.fail_write)
        return gun__fail(e, GUN_EIO, "test: write refused");
    return real_ops->write(st, recs, n, e);
}

static int fail_get;
static int w_get_key(void *st, gun__str soul, gun__str key, gun__store_visit cb, void *arg)
{
    if (fail_get)
        return GUN_EIO;
    return real_ops->get_key(st, soul, key, cb, arg);
}

static gun__store_ops wrapped;

static void on_change(void *arg, gun__str soul, gun__str key, const gun__val *val, double state)
{
    fx *f = arg;
    cr_assert_lt(f->nch, 64);
    change *c = &f->ch[f->nch++];
    snprintf(c->soul, sizeof c->soul, "%.*s", (int)soul.len, soul.p);
    snprintf(c->key, sizeof c->key, "%.*s", (int)key.len, key.p);
    gun__buf b;
    gun__buf_init(&b);
    gun__val_write(&b, val);
    snprintf(c->text, sizeof c->text, "%s", b.p ? b.p : "");
    gun__buf_free(&b);
    c->state = state;
}

static void setup(void)
{
    memset(&F, 0, sizeof F);
    real_ops = &gun__store_mem_ops;
    wrapped = gun__store_mem_ops;
    wrapped.write = w_write;
    wrapped.get_key = w_get_key;
    fail_get = 0;
    gun__err e = {0};
    cr_assert_eq(gun__store_open(&F.store, &wrapped, NULL, &e), GUN_OK);
    F.core = gun__core_new(&F.store, 0);
    cr_assert(F.core);
    gun__core_on_change(F.core, on_change, &F);
}

static void drop_last(void);

static void teardown(void)
{
    drop_last();
    gun__core_free(F.core);
    gun__store_close(&F.store);
}

TestSuite(core, .init = setup, .fini = teardown);

static gun__json *parse(const char *text)
{
    gun__json *j = NULL;
    gun__err e = {0};
    gun__limits lim = {1 << 20, 64};
    cr_assert_eq(gun__json_parse(text, strlen(text), &lim, &j, &e), GUN_OK, "%s", e.msg);
    return j;
}

/* The last put's JSON and graph stay alive until the next put_text (res views them). */
static gun__json *last_json;
static gun__graph last_graph;

static void drop_last(void)
{
    gun__graph_free(&last_graph);
    gun__json_free(last_json);
    last_json = NULL;
}

/* Validates and merges a put given as JSON; res gets g.keys entries. */
static int put_text(const char *text, gun__merge_res *res, size_t *nres)
{
    drop_last();
    last_json = parse(text);
    gun__err e = {0};
    cr_assert_eq(gun__graph_from_put(last_json, &last_graph, &e), GUN_OK, "%s", e.msg);
    gun__merge_res tmp[64];
    cr_assert_leq(last_graph.keys, 64);
    int rc = gun__core_put(F.core, &last_graph, res ? res : tmp);
    if (nres)
        *nres = last_graph.keys;
    return rc;
}

/* One key as a put message with the given state and JSON value. */
static int put1(const char *soul, const char *key, double state, const char *val, gun__ham *out)
{
    char text[512], st[32];
    gun__num_to_str(state, st);
    snprintf(text, sizeof text, "{\"%s\":{\"_\":{\"#\":\"%s\",\">\":{\"%s\":%s}},\"%s\":%s}}",
             soul, soul, key, st, key, val);
    gun__merge_res r[1];
    int rc = put_text(text, r, NULL);
    if (rc == GUN_OK && out)
        *out = r[0].result;
    return rc;
}

typedef struct got {
    int found;
    char text[256];
    double state;
} got;

static int got_cb(void *arg, gun__str soul, gun__str key, const gun__val *val, double state)
{
    got *g = arg;
    g->found = 1;
    gun__buf b;
    gun__buf_init(&b);
    gun__val_write(&b, val);
    snprintf(g->text, sizeof g->text, "%s", b.p ? b.p : "");
    gun__buf_free(&b);
    g->state = state;
    return 0;
}

static got get(const char *soul, const char *key)
{
    got g = {0};
    real_ops->get_key(F.store.st, gun__str_c(soul), gun__str_c(key), got_cb, &g);
    return g;
}

static double now_ms(void) { return gun__now_ms(); }

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- tests ---- */

Test(core, merges_new_keys_in_one_write)
{
    gun__merge_res r[8];
    size_t n;
    cr_assert_eq(put_text("{\"alice\":{\"_\":{\"#\":\"alice\",\">\":{\"name\":1700000000000,"
                          "\"age\":1700000000000.001}},\"name\":\"Alice\",\"age\":30},"
                          "\"bob\":{\"_\":{\"#\":\"bob\",\">\":{\"pet\":5}},"
                          "\"pet\":{\"#\":\"cat\"}}}",
                          r, &n),
                 GUN_OK);
    cr_assert_eq(n, 3);
    for (size_t i = 0; i < n; i++)
        cr_expect_eq(r[i].result, GUN__HAM_ACCEPT);
    cr_expect(gun__str_eqc(r[0].soul, "alice") && gun__str_eqc(r[0].key, "name"));
    cr_expect(gun__str_eqc(r[2].soul, "bob") && gun__str_eqc(r[2].key, "pet"));
    cr_expect_eq(r[1].state, 1700000000000.001);
    cr_expect_eq(F.writes, 1);
    cr_expect_eq(F.last_write_n, 3);
    got g = get("alice", "age");
    cr_expect(g.found);
    cr_expect_str_eq(g.text, "30");
    cr_expect_eq(g.state, 1700000000000.001);
    g = get("bob", "pet");
    cr_expect_str_eq(g.text, "{\"#\":\"cat\"}");
    /* callbacks after the write, in graph order */
    cr_assert_eq(F.nch, 3);
    cr_expect_str_eq(F.ch[0].key, "name");
    cr_expect_str_eq(F.ch[0].text, "\"Alice\"");
    cr_expect_str_eq(F.ch[1].key, "age");
    cr_expect_str_eq(F.ch[2].soul, "bob");
    cr_expect_eq(F.ch[2].state, 5);
}

Test(core, ham_against_the_store)
{
    gun__ham h;
    cr_assert_eq(put1("alice", "name", 1700000000000, "\"Alice\"", &h), GUN_OK);
    cr_expect_eq(h, GUN__HAM_ACCEPT);
    F.nch = 0;
    F.writes = 0;
    /* the worked example of spec §2.2 */
    cr_assert_eq(put1("alice", "name", 1600000000000, "\"OLD\"", &h), GUN_OK);
    cr_expect_eq(h, GUN__HAM_OLD);
    cr_assert_eq(put1("alice", "name", 1700000000000, "\"Al\"", &h), GUN_OK);
    cr_expect_eq(h, GUN__HAM_SAME);
    cr_assert_eq(put1("alice", "name", 1700000000000, "\"Alice\"", &h), GUN_OK);
    cr_expect_eq(h, GUN__HAM_SAME);
    cr_expect_eq(F.writes, 0); /* nothing accepted: no write at all */
    cr_expect_eq(F.nch, 0);
    cr_expect_str_eq(get("alice", "name").text, "\"Alice\"");
    cr_assert_eq(put1("alice", "name", 1700000000000, "\"Zed\"", &h), GUN_OK);
    cr_expect_eq(h, GUN__HAM_ACCEPT);
    cr_expect_str_eq(get("alice", "name").text, "\"Zed\"");
    cr_assert_eq(put1("alice", "age", 1700000000001, "null", &h), GUN_OK);
    cr_expect_eq(h, GUN__HAM_ACCEPT);
    got g = get("alice", "age");
    cr_expect(g.found);
    cr_expect_str_eq(g.text, "null");
    cr_expect_eq(F.nch, 2);
    cr_expect_eq(F.writes, 2);
}

Test(core, mixed_results_in_one_put)
{
    put1("n", "a", 10, "1", NULL);
    put1("n", "b", 10, "1", NULL);
    F.nch = 0;
    F.writes = 0;
    gun__merge_res r[4];
    size_t n;
    double fut = now_ms() + 60000;
    char text[512];
    snprintf(text, sizeof text,
             "{\"n\":{\"_\":{\"#\":\"n\",\">\":{\"a\":9,\"b\":11,\"c\":1,\"d\":%.0f}},"
             "\"a\":2,\"b\":0,\"c\":\"new\",\"d\":\"later\"}}",
             fut);
    cr_assert_eq(put_text(text, r, &n), GUN_OK);
    cr_assert_eq(n, 4);
    cr_expect_eq(r[0].result, GUN__HAM_OLD);
    cr_expect_eq(r[1].result, GUN__HAM_ACCEPT);
    cr_expect_eq(r[2].result, GUN__HAM_ACCEPT);
    cr_expect_eq(r[3].result, GUN__HAM_DEFER);
    cr_expect_eq(F.writes, 1);
    cr_expect_eq(F.last_write_n, 2);
    cr_expect_eq(F.nch, 2);
    cr_expect_str_eq(F.ch[0].key, "b");
    cr_expect_str_eq(F.ch[1].key, "c");
    cr_expect(!get("n", "d").found);
    cr_expect_eq(gun__core_deferred(F.core), 1);
    int64_t due = gun__core_next_due(F.core);
    cr_expect(due > 55000 && due <= 60000, "due in %lld ms", (long long)due);
}

Test(core, deferred_key_merges_when_due)
{
    gun__ham h;
    double st = now_ms() + 60;
    cr_assert_eq(put1("f", "k", st, "\"future\"", &h), GUN_OK);
    cr_expect_eq(h, GUN__HAM_DEFER);
    cr_expect_eq(F.nch, 0);
    cr_expect(!get("f", "k").found);
    int64_t due = gun__core_next_due(F.core);
    cr_expect(due > 0 && due <= 61, "due %lld", (long long)due);
    int err = -1;
    cr_expect_eq(gun__core_run_due(F.core, &err), 0); /* not yet */
    cr_expect_eq(err, GUN_OK);
    cr_expect_eq(gun__core_deferred(F.core), 1);
    sleep_ms((int)due + 2);
    cr_expect_eq(gun__core_next_due(F.core), 0);
    cr_expect_eq(gun__core_run_due(F.core, &err), 1);
    cr_expect_eq(err, GUN_OK);
    got g = get("f", "k");
    cr_expect(g.found);
    cr_expect_str_eq(g.text, "\"future\"");
    cr_expect_eq(g.state, st);
    cr_assert_eq(F.nch, 1);
    cr_expect_str_eq(F.ch[0].text, "\"future\"");
    cr_expect_eq(F.ch[0].state, st);
    cr_expect_eq(gun__core_next_due(F.core), -1);
    cr_expect_eq(gun__core_deferred(F.core), 0);
}

Test(core, deferred_keys_run_in_state_order_and_face_ham_again)
{
    double t = now_ms();
    gun__ham h;
    /* two future values for one key, the later state first */
    put1("f", "k", t + 40, "\"second\"", &h);
    cr_expect_eq(h, GUN__HAM_DEFER);
    put1("f", "k", t + 30, "\"first\"", &h);
    cr_expect_eq(h, GUN__HAM_DEFER);
    /* a future value that will lose the tie against what arrives meanwhile */
    put1("f", "tie", t + 30, "\"a\"", &h);
    cr_expect_eq(h, GUN__HAM_DEFER);
    put1("f", "late", t + 5000, "1", &h);
    sleep_ms(45);
    put1("f", "tie", t + 30, "\"z\"", &h); /* now in the past: accepted directly */
    cr_expect_eq(h, GUN__HAM_ACCEPT);
    F.nch = 0;
    F.writes = 0;
    cr_expect_eq(gun__core_run_due(F.core, NULL), 2);
    cr_expect_eq(F.writes, 1); /* one write for everything due */
    cr_expect_eq(F.last_write_n, 1); /* "first" was superseded by "second" in the batch */
    cr_assert_eq(F.nch, 2);
    cr_expect_str_eq(F.ch[0].text, "\"first\"");
    cr_expect_str_eq(F.ch[1].text, "\"second\"");
    got g = get("f", "k");
    cr_expect_str_eq(g.text, "\"second\"");
    cr_expect_eq(g.state, t + 40);
    cr_expect_str_eq(get("f", "tie").text, "\"z\"");
    cr_expect_eq(gun__core_deferred(F.core), 1); /* "late" */
}

/* A graph built by hand may name one key several times: the result must equal merging
 * the entries one by one. */
Test(core, repeated_key_is_sequential)
{
    gun__field f1[] = {
        {GUN__STR("x"), {GUN__V_STR, 0, 0, GUN__STR("a")}, 100},
        {GUN__STR("x"), {GUN__V_STR, 0, 0, GUN__STR("b")}, 100}, /* wins the tie */
        {GUN__STR("x"), {GUN__V_STR, 0, 0, GUN__STR("a")}, 100}, /* loses it */
        {GUN__STR("x"), {GUN__V_STR, 0, 0, GUN__STR("old")}, 50},
    };
    gun__field f2[] = {
        {GUN__STR("x"), {GUN__V_NUM, 0, 7, {0}}, 200},
        {GUN__STR("y"), {GUN__V_NULL, 0, 0, {0}}, 1},
    };
    gun__node nodes[] = {{GUN__STR("s"), f1, 4}, {GUN__STR("s"), f2, 2}};
    gun__graph g = {nodes, 2, 6};
    gun__merge_res r[6];
    cr_assert_eq(gun__core_put(F.core, &g, r), GUN_OK);
    gun__ham want[] = {GUN__HAM_ACCEPT, GUN__HAM_ACCEPT, GUN__HAM_SAME,
                       GUN__HAM_OLD,    GUN__HAM_ACCEPT, GUN__HAM_ACCEPT};
    for (int i = 0; i < 6; i++)
        cr_expect_eq(r[i].result, want[i], "entry %d", i);
    cr_expect_eq(F.writes, 1);
    cr_expect_eq(F.last_write_n, 2); /* s.x once, s.y */
    got x = get("s", "x");
    cr_expect_str_eq(x.text, "7");
    cr_expect_eq(x.state, 200);
    cr_assert_eq(F.nch, 4);
    cr_expect_str_eq(F.ch[0].text, "\"a\"");
    cr_expect_str_eq(F.ch[1].text, "\"b\"");
    cr_expect_str_eq(F.ch[2].text, "7");
    cr_expect_str_eq(F.ch[3].key, "y");

    /* The same entries merged one at a time give the same store and outcomes. */
    teardown();
    setup();
    gun__field *all[] = {&f1[0], &f1[1], &f1[2], &f1[3], &f2[0], &f2[1]};
    for (int i = 0; i < 6; i++) {
        gun__node one = {GUN__STR("s"), all[i], 1};
        gun__graph g1 = {&one, 1, 1};
        cr_assert_eq(gun__core_put(F.core, &g1, &r[i]), GUN_OK);
        cr_expect_eq(r[i].result, want[i], "entry %d alone", i);
    }
    cr_expect_str_eq(get("s", "x").text, "7");
}

Test(core, store_failure_changes_nothing)
{
    put1("a", "k", 1, "\"v\"", NULL);
    F.nch = 0;
    F.fail_write = 1;
    double fut = now_ms() + 60000;
    char text[256];
    snprintf(text, sizeof text,
             "{\"a\":{\"_\":{\"#\":\"a\",\">\":{\"k\":2,\"f\":%.0f}},\"k\":\"new\",\"f\":1}}", fut);
    cr_expect_eq(put_text(text, NULL, NULL), GUN_EIO);
    cr_expect_eq(F.nch, 0);
    cr_expect_eq(gun__core_deferred(F.core), 0);
    cr_expect_str_eq(get("a", "k").text, "\"v\"");
    F.fail_write = 0;
    fail_get = 1;
    cr_expect_eq(put_text(text, NULL, NULL), GUN_EIO);
    fail_get = 0;
    cr_expect_eq(gun__core_deferred(F.core), 0);
    cr_expect_eq(put_text(text, NULL, NULL), GUN_OK);
    cr_expect_str_eq(get("a", "k").text, "\"new\"");
    cr_expect_eq(gun__core_deferred(F.core), 1);
}

Test(core, run_due_failure_keeps_keys_queued)
{
    gun__ham h;
    double st = now_ms() + 20;
    put1("d", "k", st, "1", &h);
    cr_expect_eq(h, GUN__HAM_DEFER);
    sleep_ms(25);
    F.fail_write = 1;
    int err = 0;
    cr_expect_eq(gun__core_run_due(F.core, &err), 0);
    cr_expect_eq(err, GUN_EIO);
    cr_expect_eq(gun__core_deferred(F.core), 1);
    cr_expect_eq(F.nch, 0);
    F.fail_write = 0;
    cr_expect_eq(gun__core_run_due(F.core, &err), 1);
    cr_expect_eq(err, GUN_OK);
    cr_expect_eq(get("d", "k").state, st);
}

Test(core, deferral_queue_is_capped)
{
    gun__core_set_defer_max(F.core, 2);
    double fut = now_ms() + 60000;
    char text[256];
    snprintf(text, sizeof text,
             "{\"c\":{\"_\":{\"#\":\"c\",\">\":{\"a\":%.0f,\"b\":%.0f,\"c\":%.0f,\"d\":1}},"
             "\"a\":1,\"b\":2,\"c\":3,\"d\":4}}",
             fut, fut, fut);
    gun__merge_res r[4];
    cr_assert_eq(put_text(text, r, NULL), GUN_OK);
    cr_expect_eq(r[0].result, GUN__HAM_DEFER);
    cr_expect_eq(r[1].result, GUN__HAM_DEFER);
    cr_expect_eq(r[2].result, GUN__HAM_DROPPED);
    cr_expect_eq(r[3].result, GUN__HAM_ACCEPT);
    cr_expect_eq(gun__core_deferred(F.core), 2);
}

Test(core, near_now_states_are_not_deferred)
{
    gun__ham h;
    cr_assert_eq(put1("n", "k", now_ms() - 1, "1", &h), GUN_OK);
    cr_expect_eq(h, GUN__HAM_ACCEPT);
    cr_assert_eq(put1("n", "j", now_ms(), "1", &h), GUN_OK);
    cr_expect_eq(h, GUN__HAM_ACCEPT);
    /* the local clock's own next state is never in the future */
    double s = gun__clock_now(gun__core_clock(F.core));
    cr_assert_eq(put1("n", "i", s, "1", &h), GUN_OK);
    cr_expect_eq(h, GUN__HAM_ACCEPT);
}

Test(core, drift_moves_now)
{
    /* A peer whose clock runs 10 s ahead: with drift +10000 its states are not future. */
    gun__core_clock(F.core)->drift = 10000;
    gun__ham h;
    cr_assert_eq(put1("d", "k", now_ms() + 5000, "1", &h), GUN_OK);
    cr_expect_eq(h, GUN__HAM_ACCEPT);
    cr_assert_eq(put1("d", "j", now_ms() + 10300, "1", &h), GUN_OK);
    cr_expect_eq(h, GUN__HAM_DEFER);
    int64_t due = gun__core_next_due(F.core);
    cr_expect(due > 200 && due <= 300, "due %lld", (long long)due);
}

static int reenter_depth;
static void reenter_cb(void *arg, gun__str soul, gun__str key, const gun__val *val, double st)
{
    on_change(arg, soul, key, val, st);
    if (reenter_depth++ == 0) {
        /* a listener that writes back into the graph from its callback */
        gun__field f = {GUN__STR("mirror"), *val, st};
        gun__node n = {GUN__STR("m"), &f, 1};
        gun__graph g = {&n, 1, 1};
        gun__merge_res r;
        cr_assert_eq(gun__core_put(F.core, &g, &r), GUN_OK);
        cr_expect_eq(r.result, GUN__HAM_ACCEPT);
    }
}

Test(core, callbacks_may_reenter)
{
    reenter_depth = 0;
    gun__core_on_change(F.core, reenter_cb, &F);
    cr_assert_eq(put_text("{\"a\":{\"_\":{\"#\":\"a\",\">\":{\"x\":1,\"y\":1}},"
                          "\"x\":\"v\",\"y\":2}}",
                          NULL, NULL),
                 GUN_OK);
    cr_expect_eq(F.nch, 3); /* x, mirror (nested), y */
    cr_expect_str_eq(F.ch[0].key, "x");
    cr_expect_str_eq(F.ch[1].key, "mirror");
    cr_expect_str_eq(F.ch[2].key, "y");
    cr_expect_str_eq(get("m", "mirror").text, "\"v\"");
}

static int fail_at = -1;
static void *f_malloc(size_t n) { return fail_at-- == 0 ? NULL : malloc(n); }
static void *f_realloc(void *p, size_t n) { return fail_at-- == 0 ? NULL : realloc(p, n); }
static void *f_calloc(size_t a, size_t b) { return fail_at-- == 0 ? NULL : calloc(a, b); }

static char *dump(void)
{
    static char buf[4096];
    buf[0] = 0;
    const char *keys[][2] = {{"o", "a"}, {"o", "b"}, {"o", "c"}, {"p", "x"}, {"q", "y"}};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        got g = get(keys[i][0], keys[i][1]);
        char line[300];
        snprintf(line, sizeof line, "%s.%s=%s@%.17g;", keys[i][0], keys[i][1],
                 g.found ? g.text : "-", g.state);
        strcat(buf, line);
    }
    return buf;
}

/* Every single failed allocation inside a put leaves store, queue and callbacks alone. */
Test(core, oom_anywhere_changes_nothing)
{
    put1("o", "a", 1, "\"old\"", NULL);
    char before[4096];
    strcpy(before, dump());
    F.nch = 0;
    double fut = now_ms() + 60000;
    char text[512];
    snprintf(text, sizeof text,
             "{\"o\":{\"_\":{\"#\":\"o\",\">\":{\"a\":2,\"b\":2,\"c\":%.0f}},"
             "\"a\":\"new a\",\"b\":{\"#\":\"p\"},\"c\":\"future\"},"
             "\"p\":{\"_\":{\"#\":\"p\",\">\":{\"x\":3}},\"x\":\"px\"}}",
             fut);
    gun__json *j = parse(text);
    gun__graph g;
    gun__err e = {0};
    cr_assert_eq(gun__graph_from_put(j, &g, &e), GUN_OK);
    int ok = 0;
    for (int nth = 0; nth < 1000 && !ok; nth++) {
        gun__merge_res r[4];
        gun_replace_allocator(f_malloc, f_realloc, f_calloc, free);
        fail_at = nth;
        int rc = gun__core_put(F.core, &g, r);
        fail_at = -1;
        gun_replace_allocator(NULL, NULL, NULL, NULL);
        if (rc == GUN_OK) {
            ok = 1;
            break;
        }
        cr_assert_eq(rc, GUN_ENOMEM, "allocation %d: %d", nth, rc);
        cr_assert_str_eq(dump(), before, "allocation %d", nth);
        cr_assert_eq(F.nch, 0);
        cr_assert_eq(gun__core_deferred(F.core), 0);
    }
    cr_assert(ok);
    cr_expect_eq(F.nch, 3);
    cr_expect_eq(gun__core_deferred(F.core), 1);
    cr_expect_str_eq(get("o", "a").text, "\"new a\"");
    cr_expect_str_eq(get("p", "x").text, "\"px\"");
    gun__graph_free(&g);
    gun__json_free(j);
}

Test(core, empty_graph_and_new_core_errors)
{
    gun__graph g = {0};
    cr_expect_eq(gun__core_put(F.core, &g, NULL), GUN_OK);
    cr_expect_eq(F.writes, 0);
    cr_expect_eq(gun__core_next_due(F.core), -1);
    cr_expect_eq(gun__core_run_due(F.core, NULL), 0);
    cr_expect_eq(gun__core_new(NULL, 0), NULL);
    gun_replace_allocator(f_malloc, f_realloc, f_calloc, free);
    fail_at = 0;
    gun__core *c = gun__core_new(&F.store, 0);
    fail_at = -1;
    gun_replace_allocator(NULL, NULL, NULL, NULL);
    cr_expect_eq(c, NULL);
}

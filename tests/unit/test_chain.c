/* The instance and the chain API (gun.h): put/get, splitting, errors and their Gun.js
 * texts, on/once/map/off, set, back, threads, close with work in flight, sync helpers,
 * a caller-owned loop. Values come back as JSON text and are checked by parsing them. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "chain/chain.h"

/* ---- helpers ---- */

static gun_t *open_default(void)
{
    gun_t *g = NULL;
    cr_assert_eq(gun_open(&g, NULL), GUN_OK);
    cr_assert_not_null(g);
    return g;
}

static gun_chain *path(gun_t *g, const char *soul, ...)
{
    gun_chain *c;
    va_list ap;
    cr_assert_eq(gun_get(g, soul, &c), GUN_OK);
    va_start(ap, soul);
    const char *k;
    while ((k = va_arg(ap, const char *)))
        cr_assert_eq(gun_chain_get(c, k, &c), GUN_OK, "key %s", k);
    va_end(ap);
    return c;
}
#define P(g, ...) path(g, __VA_ARGS__, (const char *)NULL)

static gun__json *parse(const char *json)
{
    gun__json *j = NULL;
    cr_assert_not_null(json);
    cr_assert_eq(gun__json_parse(json, strlen(json), NULL, &j, NULL), GUN_OK, "bad JSON: %s", json);
    return j;
}

/* Reads the value at c and parses it (asserts found). */
static gun__json *read_json(gun_chain *c)
{
    char *s = NULL;
    int rc = gun_get_sync(c, 5000, &s);
    cr_assert_eq(rc, GUN_OK, "get_sync %s: %s", gun_chain_path(c), gun_strerror(rc));
    gun__json *j = parse(s);
    gun_free(s);
    return j;
}

static void expect_str(const gun__json *obj, const char *key, const char *want)
{
    const gun__json *v = gun__json_obj_getc(obj, key);
    cr_assert_not_null(v, "missing key %s", key);
    cr_assert_eq(v->t, GUN__J_STR, "key %s not a string", key);
    cr_assert_str_eq(v->u.s.p, want);
}

static void expect_num(const gun__json *obj, const char *key, double want)
{
    const gun__json *v = gun__json_obj_getc(obj, key);
    cr_assert_not_null(v, "missing key %s", key);
    cr_assert_eq(v->t, GUN__J_NUM);
    cr_assert_eq(v->u.n, want);
}

static void expect_link(const gun__json *obj, const char *key, const char *soul)
{
    const gun__json *v = gun__json_obj_getc(obj, key);
    cr_assert_not_null(v, "missing key %s", key);
    cr_assert_eq(v->t, GUN__J_OBJ);
    cr_assert_eq(v->u.o.n, 1, "link %s has extra keys", key);
    expect_str(v, "#", soul);
}

static const char *meta_soul(const gun__json *node)
{
    const gun__json *m = gun__json_obj_getc(node, "_");
    cr_assert_not_null(m, "node without _");
    const gun__json *s = gun__json_obj_getc(m, "#");
    cr_assert_not_null(s);
    return s->u.s.p;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Collects data callbacks (they run on the loop thread). */
typedef struct coll {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n, nulls;
    char *json[512];
    char *key[512];
    pthread_t thread;
    int other_thread; /* a callback ran on a thread other than the first one's */
} coll;

static void coll_init(coll *c)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
}

static void coll_free(coll *c)
{
    for (int i = 0; i < c->n && i < 512; i++) {
        free(c->json[i]);
        free(c->key[i]);
    }
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
}

static void coll_cb(const char *json, const char *key, void *arg)
{
    coll *c = arg;
    pthread_mutex_lock(&c->mu);
    if (c->n == 0)
        c->thread = pthread_self();
    else if (!pthread_equal(c->thread, pthread_self()))
        c->other_thread = 1;
    if (c->n < 512) {
        c->json[c->n] = json ? strdup(json) : NULL;
        c->key[c->n] = key ? strdup(key) : NULL;
    }
    if (!json)
        c->nulls++;
    c->n++;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* Waits until at least n callbacks came (or ms passed); returns the count. */
static int coll_wait(coll *c, int n, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&c->mu);
    while (c->n < n)
        if (pthread_cond_timedwait(&c->cv, &c->mu, &ts))
            break;
    int got = c->n;
    pthread_mutex_unlock(&c->mu);
    return got;
}

static int coll_count(coll *c)
{
    pthread_mutex_lock(&c->mu);
    int n = c->n;
    pthread_mutex_unlock(&c->mu);
    return n;
}

/* Collects acks. */
typedef struct acks {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n, ok, closed, other;
    int bad; /* an ack broke the gun_ack contract (checked on the test thread) */
    int last_err;
    char last_text[256];
    char last_soul[256];
} acks;

static void acks_init(acks *a)
{
    memset(a, 0, sizeof *a);
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
}

static void acks_free(acks *a)
{
    cr_assert_eq(a->bad, 0, "acks with err/err_text/ok_json out of step");
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
}

static void ack_cb(const gun_ack *ack, void *arg)
{
    acks *a = arg;
    pthread_mutex_lock(&a->mu);
    a->n++;
    if (ack->err == GUN_OK) {
        a->ok++;
        if (ack->err_text || !ack->ok_json)
            a->bad++;
    } else {
        if (ack->err == GUN_ECLOSED)
            a->closed++;
        else
            a->other++;
        if (!ack->err_text || ack->ok_json)
            a->bad++;
    }
    a->last_err = ack->err;
    snprintf(a->last_text, sizeof a->last_text, "%s", ack->err_text ? ack->err_text : "");
    snprintf(a->last_soul, sizeof a->last_soul, "%s", ack->soul ? ack->soul : "");
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

static int acks_wait(acks *a, int n, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000 + 1;
    pthread_mutex_lock(&a->mu);
    while (a->n < n)
        if (pthread_cond_timedwait(&a->cv, &a->mu, &ts))
            break;
    int got = a->n;
    pthread_mutex_unlock(&a->mu);
    return got;
}

/* ---- options, instance, chains ---- */

Test(chain, opts_defaults)
{
    gun_opts o;
    memset(&o, 0xab, sizeof o);
    gun_opts_init(&o);
    cr_assert_null(o.loop);
    cr_assert_eq(o.state_drift_ms, 0);
    cr_assert_eq(o.dedup_age_ms, 9000);
    cr_assert_eq(o.dedup_max, 100000);
    cr_assert_eq(o.max_frame_bytes, (size_t)8 << 20);
    cr_assert_eq(o.max_json_depth, 64);
    cr_assert_eq(o.once_wait_ms, 99);
    cr_assert_eq(o.ack_timeout_ms, 9000);
    cr_assert_null(o.log);
    cr_assert_eq(o.port, -1, "no listening by default");
    cr_assert_eq(o.npeers, 0);
    cr_assert_eq(o.max_queue_bytes, (size_t)4 << 20);
    cr_assert_eq(o.max_connections, 10000);
    cr_assert_eq(o.outbox_max_bytes, (size_t)16 << 20);
}

Test(chain, open_close_and_bad_opts)
{
    gun_t *g = NULL;
    gun_opts o;
    cr_assert_eq(gun_open(NULL, NULL), GUN_EINVAL);
    gun_opts_init(&o);
    o.max_frame_bytes = 0;
    cr_assert_eq(gun_open(&g, &o), GUN_EINVAL);
    cr_assert_null(g);
    cr_assert_eq(gun_close(NULL), GUN_OK);
    g = open_default();
    cr_assert_eq(gun_close(g), GUN_OK);
}

Test(chain, state_clock)
{
    gun_opts o;
    gun_t *g;
    gun_opts_init(&o);
    o.state_drift_ms = 1e6;
    cr_assert_eq(gun_open(&g, &o), GUN_OK);
    double wall = gun__now_ms();
    double prev = gun_state(g);
    cr_assert_geq(prev, wall + 1e6 - 1);
    cr_assert_lt(prev, wall + 1e6 + 5000);
    for (int i = 0; i < 5000; i++) {
        double s = gun_state(g);
        cr_assert_gt(s, prev);
        prev = s;
    }
    gun_close(g);
}

Test(chain, chains_are_cached_and_validated)
{
    gun_t *g = open_default();
    gun_chain *a, *b, *k1, *k2, *m1, *m2, *x;
    cr_assert_eq(gun_get(g, "bob", &a), GUN_OK);
    cr_assert_eq(gun_get(g, "bob", &b), GUN_OK);
    cr_assert_eq(a, b);
    cr_assert_eq(gun_chain_get(gun_root(g), "bob", &b), GUN_OK);
    cr_assert_eq(a, b, "gun_get(g, s) == gun_chain_get(gun_root(g), s)");
    cr_assert_eq(gun_chain_get(a, "car", &k1), GUN_OK);
    cr_assert_eq(gun_chain_get(a, "car", &k2), GUN_OK);
    cr_assert_eq(k1, k2);
    cr_assert_str_eq(gun_chain_path(k1), "bob/car");
    cr_assert_str_eq(gun_chain_path(a), "bob");
    cr_assert_str_eq(gun_chain_path(gun_root(g)), "");

    x = (gun_chain *)0x1;
    cr_assert_eq(gun_get(g, "", &x), GUN_EBADSOUL);
    cr_assert_eq(gun_chain_get(a, "", &x), GUN_EBADKEY);
    cr_assert_eq(gun_get(g, NULL, &x), GUN_EINVAL);
    cr_assert_eq(gun_get(g, "\xff\xfe", &x), GUN_EBADSOUL, "not UTF-8");
    cr_assert_eq(gun_chain_get(a, "a\xc3", &x), GUN_EBADKEY, "truncated UTF-8");
    cr_assert_eq(gun_get(NULL, "s", &x), GUN_EINVAL);
    cr_assert_eq(x, (gun_chain *)0x1, "out left alone on error");
    cr_assert_eq(gun_chain_get(a, "\xed\xa0\x80", &x), GUN_OK, "a lone surrogate is a JS string");

    cr_assert_eq(gun_map(a, &m1), GUN_OK);
    cr_assert_eq(gun_map(a, &m2), GUN_OK);
    cr_assert_eq(m1, m2);
    cr_assert_str_eq(gun_chain_path(m1), "bob/*");
    cr_assert_eq(gun_map(m1, &x), GUN_ENOTSUP);
    cr_assert_eq(gun_map(gun_root(g), &x), GUN_EINVAL);
    cr_assert_eq(gun_chain_get(m1, "name", &x), GUN_OK);
    cr_assert_str_eq(gun_chain_path(x), "bob/*/name");
    gun_close(g);
}

Test(chain, back)
{
    gun_t *g = open_default();
    gun_chain *c = P(g, "user", "alice", "name"), *o;
    cr_assert_eq(gun_back(c, 1, &o), GUN_OK);
    cr_assert_eq(o, P(g, "user", "alice"));
    cr_assert_eq(gun_back(c, 2, &o), GUN_OK);
    cr_assert_eq(o, P(g, "user"));
    cr_assert_eq(gun_back(c, 3, &o), GUN_OK);
    cr_assert_eq(o, gun_root(g));
    cr_assert_eq(gun_back(c, -1, &o), GUN_OK);
    cr_assert_eq(o, gun_root(g));
    cr_assert_eq(gun_back(c, 0, &o), GUN_OK);
    cr_assert_eq(o, c);
    o = NULL;
    cr_assert_eq(gun_back(c, 4, &o), GUN_ENOTFOUND);
    cr_assert_null(o);
    cr_assert_eq(gun_back(gun_root(g), 1, &o), GUN_ENOTFOUND);
    gun_close(g);
}

/* ---- put / get ---- */

Test(chain, nested_put_round_trip)
{
    gun_t *g = open_default();
    gun_chain *bob = P(g, "bob");
    cr_assert_eq(gun_put_sync(bob,
                              "{\"name\":\"Bob\",\"age\":42,\"ok\":true,\"gone\":null,"
                              "\"car\":{\"color\":\"blue\",\"wheels\":{\"count\":4,\"size\":17.5}}}",
                              5000),
                 GUN_OK);
    gun__json *n = read_json(bob);
    cr_assert_str_eq(meta_soul(n), "bob");
    expect_str(n, "name", "Bob");
    expect_num(n, "age", 42);
    cr_assert_eq(gun__json_obj_getc(n, "ok")->t, GUN__J_BOOL);
    cr_assert_eq(gun__json_obj_getc(n, "gone")->t, GUN__J_NULL);
    expect_link(n, "car", "bob/car");
    /* one state for every key of the put, in every node */
    const gun__json *st = gun__json_obj_getc(gun__json_obj_getc(n, "_"), ">");
    double s0 = gun__json_obj_getc(st, "name")->u.n;
    cr_assert_eq(gun__json_obj_getc(st, "car")->u.n, s0);
    gun__json_free(n);

    n = read_json(P(g, "bob", "car"));
    cr_assert_str_eq(meta_soul(n), "bob/car");
    expect_str(n, "color", "blue");
    expect_link(n, "wheels", "bob/car/wheels");
    gun__json_free(n);

    n = read_json(P(g, "bob", "car", "wheels"));
    cr_assert_str_eq(meta_soul(n), "bob/car/wheels");
    expect_num(n, "count", 4);
    st = gun__json_obj_getc(gun__json_obj_getc(n, "_"), ">");
    cr_assert_eq(gun__json_obj_getc(st, "count")->u.n, s0);
    gun__json_free(n);

    /* the same nodes by soul */
    n = read_json(P(g, "bob/car/wheels"));
    expect_num(n, "size", 17.5);
    gun__json_free(n);

    char *s = NULL;
    cr_assert_eq(gun_get_sync(P(g, "bob", "car", "wheels", "count"), 5000, &s), GUN_OK);
    cr_assert_str_eq(s, "4");
    gun_free(s);
    cr_assert_eq(gun_get_sync(P(g, "bob", "name"), 5000, &s), GUN_OK);
    cr_assert_str_eq(s, "\"Bob\"");
    gun_free(s);
    cr_assert_eq(gun_get_sync(P(g, "bob", "nope"), 5000, &s), GUN_ENOTFOUND);
    cr_assert_eq(gun_get_sync(P(g, "nobody"), 5000, &s), GUN_ENOTFOUND);
    gun_close(g);
}

Test(chain, primitive_at_key_and_path_souls)
{
    gun_t *g = open_default();
    acks a;
    acks_init(&a);
    /* The Rust port's basic example: "Alice" at user/alice. */
    cr_assert_eq(gun_put(P(g, "user", "alice"), "\"Alice\"", ack_cb, &a), GUN_OK);
    cr_assert_eq(acks_wait(&a, 1, 5000), 1);
    cr_assert_eq(a.last_err, GUN_OK);
    cr_assert_str_eq(a.last_soul, "user");
    gun__json *n = read_json(P(g, "user"));
    expect_str(n, "alice", "Alice");
    gun__json_free(n);

    /* Two keys below the soul: the middle one becomes a path soul linked from above. */
    cr_assert_eq(gun_put_sync(P(g, "a", "b", "c"), "\"x\"", 5000), GUN_OK);
    n = read_json(P(g, "a"));
    expect_link(n, "b", "a/b");
    gun__json_free(n);
    n = read_json(P(g, "a/b"));
    expect_str(n, "c", "x");
    gun__json_free(n);

    /* An existing link is followed, not replaced. */
    cr_assert_eq(gun_put_sync(P(g, "c2"), "{\"b\":{\"#\":\"zz\"}}", 5000), GUN_OK);
    cr_assert_eq(gun_put_sync(P(g, "c2", "b", "c"), "\"y\"", 5000), GUN_OK);
    cr_assert_eq(gun_put_sync(P(g, "c2", "b", "d"), "{\"e\":1}", 5000), GUN_OK);
    n = read_json(P(g, "zz"));
    expect_str(n, "c", "y");
    expect_link(n, "d", "zz/d");
    gun__json_free(n);
    n = read_json(P(g, "c2", "b", "d"));
    cr_assert_str_eq(meta_soul(n), "zz/d");
    gun__json_free(n);

    /* A key holding a primitive becomes a path soul link when an object is put there. */
    cr_assert_eq(gun_put_sync(P(g, "b2"), "{\"car\":5}", 5000), GUN_OK);
    cr_assert_eq(gun_put_sync(P(g, "b2"), "{\"car\":{\"color\":\"red\"}}", 5000), GUN_OK);
    n = read_json(P(g, "b2"));
    expect_link(n, "car", "b2/car");
    gun__json_free(n);

    /* _["#"] in the data names the node. */
    cr_assert_eq(gun_put_sync(P(g, "m"), "{\"x\":{\"_\":{\"#\":\"custom\"},\"y\":1}}", 5000), GUN_OK);
    n = read_json(P(g, "m"));
    expect_link(n, "x", "custom");
    cr_assert_null(gun__json_obj_getc(n, "_x"));
    gun__json_free(n);
    n = read_json(P(g, "custom"));
    expect_num(n, "y", 1);
    gun__json_free(n);

    /* A put on the root makes a node at a new uuid (or at _["#"]). */
    a.n = 0;
    cr_assert_eq(gun_put(gun_root(g), "{\"r\":1}", ack_cb, &a), GUN_OK);
    cr_assert_eq(acks_wait(&a, 1, 5000), 1);
    cr_assert_eq(a.last_err, GUN_OK);
    cr_assert_eq(strlen(a.last_soul), 20, "uuid %s", a.last_soul);
    n = read_json(P(g, a.last_soul));
    expect_num(n, "r", 1);
    gun__json_free(n);
    acks_free(&a);
    gun_close(g);
}

Test(chain, null_deletes)
{
    gun_t *g = open_default();
    char *s;
    cr_assert_eq(gun_put_sync(P(g, "bob"), "{\"name\":\"Bob\",\"age\":3}", 5000), GUN_OK);
    cr_assert_eq(gun_put_sync(P(g, "bob", "name"), "null", 5000), GUN_OK);
    cr_assert_eq(gun_get_sync(P(g, "bob", "name"), 5000, &s), GUN_OK);
    cr_assert_str_eq(s, "null");
    gun_free(s);
    gun__json *n = read_json(P(g, "bob"));
    cr_assert_eq(gun__json_obj_getc(n, "name")->t, GUN__J_NULL);
    expect_num(n, "age", 3);
    gun__json_free(n);
    gun_close(g);
}

static void expect_put_error(gun_t *g, gun_chain *c, const char *json, int code, const char *text)
{
    acks a;
    acks_init(&a);
    cr_assert_eq(gun_put(c, json, ack_cb, &a), code, "put %s", json);
    cr_assert_eq(acks_wait(&a, 1, 5000), 1, "cb called once for %s", json);
    cr_assert_eq(a.last_err, code);
    if (text)
        cr_assert_str_eq(a.last_text, text);
    sleep_ms(20);
    cr_assert_eq(a.n, 1);
    acks_free(&a);
    cr_assert_eq(gun_put(c, json, NULL, NULL), code, "without cb too");
    cr_assert_eq(gun_put_sync(c, json, 5000), code);
    (void)g;
}

Test(chain, invalid_data_errors_and_texts)
{
    gun_opts o;
    gun_t *g;
    char *s;
    gun_opts_init(&o);
    o.max_json_depth = 6;
    o.max_frame_bytes = 4096;
    cr_assert_eq(gun_open(&g, &o), GUN_OK);
    gun_chain *bob = P(g, "bob");
    /* Gun.js's texts, from node_modules/gun/gun.js put(): the path lists every key walked
     * so far in sorted order, not just the failing key's ancestors. */
    expect_put_error(g, bob, "{\"arr\":[1,2]}", GUN_EBADVALUE, "Invalid data: Array at bob.arr");
    expect_put_error(g, bob, "[1,2]", GUN_EBADVALUE, "Invalid data: Array at bob.");
    expect_put_error(g, bob, "{\"b\":1,\"a\":[1]}", GUN_EBADVALUE, "Invalid data: Array at bob.a");
    expect_put_error(g, bob, "{\"b\":{\"c\":{\"x\":[1]}},\"a\":1}", GUN_EBADVALUE,
                     "Invalid data: Array at bob.a.b.c.x");
    expect_put_error(g, P(g, "bob", "q", "r"), "{\"x\":[]}", GUN_EBADVALUE,
                     "Invalid data: Array at bob.q.r.x");
    expect_put_error(g, P(g, "bob", "k"), "[1]", GUN_EBADVALUE, "Invalid data: Array at bob.k");
    const char *root_text = "Data at root of graph must be a node (an object).";
    expect_put_error(g, bob, "\"str\"", GUN_EROOTDATA, root_text);
    expect_put_error(g, bob, "5", GUN_EROOTDATA, root_text);
    expect_put_error(g, bob, "null", GUN_EROOTDATA, root_text);
    expect_put_error(g, bob, "{\"#\":\"other\"}", GUN_EROOTDATA, root_text);
    expect_put_error(g, bob, "{\"a\":{\"\":1}}", GUN_EBADKEY, "0 length key!");
    expect_put_error(g, bob, "{\"a\":", GUN_EJSON, NULL);
    expect_put_error(g, bob, "{\"a\":NaN}", GUN_EJSON, NULL);
    expect_put_error(g, bob, "{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{}}}}}}}", GUN_EDEPTH, NULL);
    char big[5000];
    memset(big, ' ', sizeof big - 1);
    big[0] = '{';
    big[sizeof big - 2] = '}';
    big[sizeof big - 1] = 0;
    expect_put_error(g, bob, big, GUN_ETOOBIG, NULL);
    /* nothing of any of them was written */
    cr_assert_eq(gun_get_sync(bob, 5000, &s), GUN_ENOTFOUND);
    cr_assert_eq(gun_get_sync(P(g, "bob", "k"), 5000, &s), GUN_ENOTFOUND);
    cr_assert_eq(gun_put(NULL, "{}", NULL, NULL), GUN_EINVAL);
    cr_assert_eq(gun_put(bob, NULL, NULL, NULL), GUN_EINVAL);
    gun_chain *m;
    gun_map(bob, &m);
    cr_assert_eq(gun_put(m, "{\"a\":1}", NULL, NULL), GUN_ENOTSUP);
    gun_close(g);
}

Test(chain, callback_json_key_order)
{
    gun_t *g = open_default();
    cr_assert_eq(gun_put_sync(P(g, "o"), "{\"b\":1,\"a\":2,\"10\":3,\"2\":4}", 5000), GUN_OK);
    char *s = NULL;
    cr_assert_eq(gun_get_sync(P(g, "o"), 5000, &s), GUN_OK);
    /* JSON.stringify of Gun's node: integer-like keys first, then "_", then the rest. */
    const char *k2 = strstr(s, "\"2\":4"), *k10 = strstr(s, "\"10\":3"), *meta = strstr(s, "\"_\":{"),
               *ka = strstr(s, "\"a\":2,"), *kb = strstr(s, "\"b\":1}");
    cr_assert(k2 && k10 && meta && ka && kb, "%s", s);
    cr_assert(k2 < k10 && k10 < meta && meta < ka && ka < kb, "%s", s);
    const char *want_meta = "\"_\":{\"#\":\"o\",\">\":{\"2\":";
    cr_assert_eq(strncmp(meta, want_meta, strlen(want_meta)), 0, "%s", s);
    gun_free(s);
    gun_close(g);
}

/* ---- on / once / map / off ---- */

Test(chain, on_fires_on_every_change)
{
    gun_t *g = open_default();
    coll node, key, other;
    coll_init(&node);
    coll_init(&key);
    coll_init(&other);
    gun_chain *bob = P(g, "bob"), *n = P(g, "bob", "n");
    cr_assert_eq(gun_on(bob, coll_cb, &node), GUN_OK);
    cr_assert_eq(gun_on(n, coll_cb, &key), GUN_OK);
    cr_assert_eq(gun_on(P(g, "bob", "other"), coll_cb, &other), GUN_OK);
    char buf[64];
    for (int i = 0; i < 100; i++) {
        snprintf(buf, sizeof buf, "%d", i);
        cr_assert_eq(gun_put(n, buf, NULL, NULL), GUN_OK);
    }
    cr_assert_eq(coll_wait(&key, 100, 5000), 100);
    cr_assert_eq(coll_wait(&node, 100, 5000), 100);
    sleep_ms(50);
    cr_assert_eq(coll_count(&key), 100);
    cr_assert_eq(coll_count(&node), 100);
    for (int i = 0; i < 100; i++) {
        snprintf(buf, sizeof buf, "%d", i);
        cr_assert_str_eq(key.json[i], buf, "in order");
        cr_assert_str_eq(key.key[i], "n");
        cr_assert_str_eq(node.key[i], "bob");
    }
    gun__json *last = parse(node.json[99]);
    expect_num(last, "n", 99);
    gun__json_free(last);
    cr_assert_eq(coll_count(&other), 0, "another key's listener stays quiet");
    cr_assert_eq(node.other_thread, 0, "callbacks on one thread");
    cr_assert(!pthread_equal(node.thread, pthread_self()), "callbacks on the loop thread");

    /* A late subscriber gets the current value at once. */
    coll late;
    coll_init(&late);
    gun_on(n, coll_cb, &late);
    cr_assert_eq(coll_wait(&late, 1, 5000), 1);
    cr_assert_str_eq(late.json[0], "99");
    gun_close(g);
    coll_free(&node);
    coll_free(&key);
    coll_free(&other);
    coll_free(&late);
}

Test(chain, on_deeper_changes_and_link_switches)
{
    gun_t *g = open_default();
    coll bob, pet;
    coll_init(&bob);
    coll_init(&pet);
    cr_assert_eq(gun_put_sync(P(g, "bob"), "{\"name\":\"Bob\",\"car\":{\"color\":\"blue\"}}", 5000), GUN_OK);
    cr_assert_eq(gun_put_sync(P(g, "cat1"), "{\"says\":\"meow\"}", 5000), GUN_OK);
    cr_assert_eq(gun_put_sync(P(g, "dog1"), "{\"says\":\"woof\"}", 5000), GUN_OK);
    cr_assert_eq(gun_put_sync(P(g, "bob", "pet"), "{\"#\":\"cat1\"}", 5000), GUN_OK);
    gun_on(P(g, "bob"), coll_cb, &bob);
    gun_on(P(g, "bob", "pet"), coll_cb, &pet);
    cr_assert_eq(coll_wait(&bob, 1, 5000), 1);
    cr_assert_eq(coll_wait(&pet, 1, 5000), 1);
    gun__json *j = parse(pet.json[0]);
    cr_assert_str_eq(meta_soul(j), "cat1", "a link is followed to the node's data");
    expect_str(j, "says", "meow");
    gun__json_free(j);

    /* A change of the child node by its soul does not fire the parent. */
    cr_assert_eq(gun_put_sync(P(g, "bob/car"), "{\"color\":\"red\"}", 5000), GUN_OK);
    cr_assert_eq(gun_put_sync(P(g, "cat1"), "{\"age\":2}", 5000), GUN_OK);
    cr_assert_eq(coll_wait(&pet, 2, 5000), 2, "the linked node's change fires the key chain");
    sleep_ms(50);
    cr_assert_eq(coll_count(&bob), 1, "deeper changes do not fire the parent");
    j = parse(pet.json[1]);
    expect_num(j, "age", 2);
    gun__json_free(j);

    /* Switching the link re-resolves; the old node no longer fires. */
    cr_assert_eq(gun_put_sync(P(g, "bob", "pet"), "{\"#\":\"dog1\"}", 5000), GUN_OK);
    cr_assert_eq(coll_wait(&pet, 3, 5000), 3);
    j = parse(pet.json[2]);
    cr_assert_str_eq(meta_soul(j), "dog1");
    gun__json_free(j);
    cr_assert_eq(coll_wait(&bob, 2, 5000), 2, "bob's own key changed");
    cr_assert_eq(gun_put_sync(P(g, "cat1"), "{\"age\":3}", 5000), GUN_OK);
    cr_assert_eq(gun_put_sync(P(g, "dog1"), "{\"age\":5}", 5000), GUN_OK);
    cr_assert_eq(coll_wait(&pet, 4, 5000), 4);
    sleep_ms(50);
    cr_assert_eq(coll_count(&pet), 4, "cat1 no longer watched");
    j = parse(pet.json[3]);
    cr_assert_str_eq(meta_soul(j), "dog1");
    gun__json_free(j);

    /* A path through a link: bob.pet.says follows whichever node pet links to. */
    coll says;
    coll_init(&says);
    gun_on(P(g, "bob", "pet", "says"), coll_cb, &says);
    cr_assert_eq(coll_wait(&says, 1, 5000), 1);
    cr_assert_str_eq(says.json[0], "\"woof\"");
    cr_assert_eq(gun_put_sync(P(g, "bob", "pet"), "{\"#\":\"cat1\"}", 5000), GUN_OK);
    cr_assert_eq(coll_wait(&says, 2, 5000), 2);
    cr_assert_str_eq(says.json[1], "\"meow\"");
    cr_assert_eq(gun_put_sync(P(g, "cat1"), "{\"age\":4}", 5000), GUN_OK);
    sleep_ms(50);
    cr_assert_eq(coll_count(&says), 2, "another key of the node does not fire");
    gun_close(g);
    coll_free(&bob);
    coll_free(&pet);
    coll_free(&says);
}

Test(chain, once_fires_once)
{
    gun_opts o;
    gun_t *g;
    gun_opts_init(&o);
    o.once_wait_ms = 30;
    cr_assert_eq(gun_open(&g, &o), GUN_OK);
    coll node, prim, missing;
    coll_init(&node);
    coll_init(&prim);
    coll_init(&missing);
    cr_assert_eq(gun_put_sync(P(g, "bob"), "{\"name\":\"Bob\"}", 5000), GUN_OK);
    uint64_t t0 = gun__mono_ms();
    gun_once(P(g, "bob"), coll_cb, &node);
    gun_once(P(g, "bob", "name"), coll_cb, &prim);
    gun_once(P(g, "nobody"), coll_cb, &missing);
    cr_assert_eq(coll_wait(&prim, 1, 5000), 1);
    cr_assert_eq(coll_wait(&node, 1, 5000), 1);
    cr_assert_geq(gun__mono_ms() - t0, 25, "a node settles for once_wait_ms");
    cr_assert_eq(coll_wait(&missing, 1, 5000), 1);
    cr_assert_null(missing.json[0], "not found: NULL");
    cr_assert_str_eq(missing.key[0], "nobody");
    cr_assert_str_eq(prim.json[0], "\"Bob\"");
    for (int i = 0; i < 5; i++)
        cr_assert_eq(gun_put_sync(P(g, "bob", "name"), "\"Robert\"", 5000), GUN_OK);
    sleep_ms(150);
    cr_assert_eq(coll_count(&node), 1);
    cr_assert_eq(coll_count(&prim), 1);
    cr_assert_eq(coll_count(&missing), 1);
    gun_close(g);
    coll_free(&node);
    coll_free(&prim);
    coll_free(&missing);
}

Test(chain, map_sees_every_item_including_later_ones)
{
    gun_opts o;
    gun_t *g;
    gun_opts_init(&o);
    o.once_wait_ms = 20;
    cr_assert_eq(gun_open(&g, &o), GUN_OK);
    gun_chain *list = P(g, "list"), *m, *items[5];
    coll on, once;
    coll_init(&on);
    coll_init(&once);
    for (int i = 0; i < 3; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, "{\"i\":%d}", i);
        cr_assert_eq(gun_set(list, buf, NULL, NULL, &items[i]), GUN_OK);
    }
    cr_assert_eq(gun_put_sync(P(g, "list", "plain"), "\"text\"", 5000), GUN_OK);
    cr_assert_eq(gun_map(list, &m), GUN_OK);
    gun_on(m, coll_cb, &on);
    gun_once(m, coll_cb, &once);
    cr_assert_eq(coll_wait(&on, 4, 5000), 4);
    cr_assert_eq(coll_wait(&once, 4, 5000), 4);
    int plain = 0;
    for (int i = 0; i < 4; i++) {
        if (!strcmp(on.key[i], "plain")) {
            cr_assert_str_eq(on.json[i], "\"text\"");
            plain++;
            continue;
        }
        gun__json *j = parse(on.json[i]);
        cr_assert_str_eq(meta_soul(j), on.key[i], "item key is its soul, data followed");
        gun__json_free(j);
    }
    cr_assert_eq(plain, 1);

    /* later items */
    cr_assert_eq(gun_set(list, "{\"i\":3}", NULL, NULL, &items[3]), GUN_OK);
    cr_assert_eq(gun_set(list, "{\"i\":4}", NULL, NULL, &items[4]), GUN_OK);
    cr_assert_eq(coll_wait(&on, 6, 5000), 6);
    cr_assert_eq(coll_wait(&once, 6, 5000), 6, "map once fires for new items too (Gun.js)");
    /* a change inside one item fires that item only; once does not fire again */
    cr_assert_eq(gun_put_sync(items[1], "{\"extra\":true}", 5000), GUN_OK);
    cr_assert_eq(coll_wait(&on, 7, 5000), 7);
    gun__json *j = parse(on.json[6]);
    expect_num(j, "i", 1);
    cr_assert_not_null(gun__json_obj_getc(j, "extra"));
    gun__json_free(j);
    /* an item deleted with null is reported as null */
    cr_assert_eq(gun_put_sync(P(g, "list", "plain"), "null", 5000), GUN_OK);
    cr_assert_eq(coll_wait(&on, 8, 5000), 8);
    cr_assert_str_eq(on.json[7], "null");
    cr_assert_str_eq(on.key[7], "plain");
    sleep_ms(100);
    cr_assert_eq(coll_count(&once), 6);
    cr_assert_eq(coll_count(&on), 8);

    /* below a map: one property of every item */
    coll prop;
    coll_init(&prop);
    gun_chain *mi;
    cr_assert_eq(gun_chain_get(m, "i", &mi), GUN_OK);
    gun_on(mi, coll_cb, &prop);
    cr_assert_eq(coll_wait(&prop, 5, 5000), 5);
    cr_assert_str_eq(prop.key[0], "i");
    cr_assert_eq(gun_put_sync(P(g, "list", "k"), "{\"i\":42}", 5000), GUN_OK);
    cr_assert_eq(coll_wait(&prop, 6, 5000), 6);
    cr_assert_str_eq(prop.json[5], "42");

    /* the whole map at once, and one property of every item */
    char *s;
    cr_assert_eq(gun_get_sync(m, 5000, &s), GUN_OK);
    gun__json *all = parse(s);
    cr_assert_eq(all->t, GUN__J_OBJ);
    cr_assert_eq(all->u.o.n, 7);
    cr_assert_not_null(gun__json_obj_getc(all, "plain"));
    gun__json_free(all);
    gun_free(s);
    cr_assert_eq(gun_get_sync(mi, 5000, &s), GUN_OK);
    all = parse(s);
    cr_assert_eq(all->t, GUN__J_ARR);
    cr_assert_eq(all->u.a.n, 6, "%s", s);
    gun__json_free(all);
    gun_free(s);
    gun_close(g);
    coll_free(&on);
    coll_free(&once);
    coll_free(&prop);
}

Test(chain, off_stops_delivery)
{
    gun_t *g = open_default();
    coll a, b, c;
    coll_init(&a);
    coll_init(&b);
    coll_init(&c);
    gun_chain *x = P(g, "x"), *y = P(g, "y");
    gun_on(x, coll_cb, &a);
    gun_on(y, coll_cb, &b);
    cr_assert_eq(gun_put_sync(x, "{\"v\":1}", 5000), GUN_OK);
    cr_assert_eq(coll_wait(&a, 1, 5000), 1);
    cr_assert_eq(gun_off(x), GUN_OK);
    for (int i = 0; i < 20; i++) {
        cr_assert_eq(gun_put_sync(x, "{\"v\":2}", 5000), GUN_OK);
        cr_assert_eq(gun_put_sync(y, "{\"v\":2}", 5000), GUN_OK);
    }
    cr_assert_eq(coll_wait(&b, 20, 5000), 20, "another chain keeps its listener");
    sleep_ms(50);
    cr_assert_eq(coll_count(&a), 1, "no delivery after gun_off returned");
    /* a listener added after off works */
    gun_on(x, coll_cb, &c);
    cr_assert_eq(coll_wait(&c, 1, 5000), 1);
    cr_assert_eq(gun_put_sync(x, "{\"v\":3}", 5000), GUN_OK);
    cr_assert_eq(coll_wait(&c, 2, 5000), 2);
    cr_assert_eq(coll_count(&a), 1);
    gun_close(g);
    coll_free(&a);
    coll_free(&b);
    coll_free(&c);
}

static int uuid_shape(const char *s, size_t rand_len)
{
    size_t n = strlen(s);
    if (n < rand_len + 8)
        return 0;
    for (size_t i = 0; i < n - rand_len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z')))
            return 0;
    for (size_t i = n - rand_len; i < n; i++)
        if (!strchr(gun__id_alphabet, s[i]) || s[i] == 'Y')
            return 0;
    return 1;
}

Test(chain, set_creates_uuid_items)
{
    gun_t *g = open_default();
    gun_chain *list = P(g, "list"), *item;
    acks a;
    acks_init(&a);
    double before = gun_state(g);
    cr_assert_eq(gun_set(list, "{\"title\":\"item1\"}", ack_cb, &a, &item), GUN_OK);
    cr_assert_eq(acks_wait(&a, 1, 5000), 1);
    cr_assert_eq(a.last_err, GUN_OK);
    const char *soul = item->key;
    cr_assert(uuid_shape(soul, 12), "uuid %s", soul);
    cr_assert_str_eq(a.last_soul, soul);
    double after = gun_state(g);
    char ms36[9];
    memcpy(ms36, soul, 8);
    ms36[8] = 0;
    double ms = (double)strtoll(ms36, NULL, 36);
    cr_assert(ms >= floor(before) && ms <= after, "%s: %s is not a state in [%f, %f]", soul, ms36,
              before, after);
    gun__json *n = read_json(list);
    expect_link(n, soul, soul);
    gun__json_free(n);
    n = read_json(item);
    cr_assert_str_eq(meta_soul(n), soul);
    expect_str(n, "title", "item1");
    gun__json_free(n);

    /* a link, and a node with a soul, are added as links under their soul */
    cr_assert_eq(gun_set(list, "{\"#\":\"other\"}", NULL, NULL, &item), GUN_OK);
    cr_assert_str_eq(gun_chain_path(item), "list/other");
    cr_assert_eq(gun_set(list, "{\"_\":{\"#\":\"third\"},\"x\":1}", NULL, NULL, &item), GUN_OK);
    cr_assert_str_eq(gun_chain_path(item), "list/third");
    /* a primitive goes under a uuid(7) key */
    cr_assert_eq(gun_set(list, "\"prim\"", NULL, NULL, &item), GUN_OK);
    cr_assert(uuid_shape(item->key, 7), "uuid7 %s", item->key);
    n = read_json(list);
    expect_link(n, "other", "other");
    expect_link(n, "third", "third");
    expect_str(n, item->key, "prim");
    gun__json_free(n);
    /* invalid items */
    cr_assert_eq(gun_set(list, "{\"a\":[1]}", NULL, NULL, NULL), GUN_EBADVALUE);
    cr_assert_eq(gun_set(gun_root(g), "{\"a\":1}", NULL, NULL, NULL), GUN_EINVAL);
    acks_free(&a);
    gun_close(g);
}

Test(chain, radix36_matches_v8)
{
    /* From node 20: (x).toString(36). */
    static const struct {
        double v;
        const char *s;
    } cases[] = {
        {1795355861810.001, "mwrwiwxe.01a"}, {1795355861810, "mwrwiwxe"},
        {1795358177711.0051, "mwrxwjvz.06n"}, {0.5, "0.i"},
        {1.0 / 3, "0.c"}, {1795355861810.999, "mwrwiwxe.zyq"},
        {1e21, "5v1j4f4ds7c000"}, {9007199254740994.0, "2gosa7pa2gy"},
        {123.456, "3f.gez4w97ry"}, {35, "z"}, {0, "0"}, {-1.5, "-1.i"},
    };
    char out[2300];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_assert_gt(gun__num_to_radix(cases[i].v, 36, out, sizeof out), 0);
        cr_assert_str_eq(out, cases[i].s, "%.17g", cases[i].v);
    }
    cr_assert_eq(gun__num_to_radix(1.5, 36, out, 3), 0, "too small a buffer");
}

/* ---- threads, close, sync ---- */

typedef struct worker {
    gun_t *g;
    int id;
    acks *a;
    int accepted;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    char soul[32], buf[64];
    snprintf(soul, sizeof soul, "w%d", w->id);
    gun_chain *c;
    if (gun_get(w->g, soul, &c) != GUN_OK)
        return NULL;
    for (int i = 0; i < 200; i++) {
        gun_chain *k;
        snprintf(buf, sizeof buf, "k%d", i % 10);
        gun_chain_get(c, buf, &k); /* chains made concurrently */
        snprintf(buf, sizeof buf, "{\"n\":%d}", i);
        if (gun_put(c, buf, ack_cb, w->a) == GUN_OK)
            w->accepted++;
    }
    return NULL;
}

Test(chain, calls_from_other_threads)
{
    gun_t *g = open_default();
    acks a;
    acks_init(&a);
    pthread_t t[4];
    worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){g, i, &a, 0};
        pthread_create(&t[i], NULL, worker_main, &w[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(acks_wait(&a, 800, 10000), 800);
    cr_assert_eq(a.ok, 800);
    for (int i = 0; i < 4; i++) {
        char soul[32];
        snprintf(soul, sizeof soul, "w%d", i);
        gun__json *n = read_json(P(g, soul));
        expect_num(n, "n", 199);
        gun__json_free(n);
        gun_chain *k0 = P(g, soul, "k0"), *k0b;
        gun_chain_get(P(g, soul), "k0", &k0b);
        cr_assert_eq(k0, k0b);
    }
    gun_close(g);
    acks_free(&a);
}

typedef struct closer {
    gun_t *g;
    acks *a;
    int accepted;
    uv_sem_t posted;
} closer;

static void *putter_main(void *arg)
{
    closer *c = arg;
    gun_chain *ch;
    if (gun_get(c->g, "racer", &ch) == GUN_OK)
        for (int i = 0; i < 2000; i++)
            if (gun_put(ch, "{\"v\":1}", ack_cb, c->a) == GUN_OK)
                c->accepted++;
    uv_sem_post(&c->posted);
    return NULL;
}

Test(chain, close_with_pending_callbacks)
{
    acks a;
    acks_init(&a);
    gun_t *g = open_default();
    gun_chain *c = P(g, "bob");
    coll on;
    coll_init(&on);
    gun_on(c, coll_cb, &on);
    gun_once(P(g, "never"), coll_cb, &on); /* still waiting when closed */
    int accepted = 0;
    for (int i = 0; i < 500; i++)
        if (gun_put(c, "{\"v\":1}", ack_cb, &a) == GUN_OK)
            accepted++;
    cr_assert_eq(accepted, 500);
    cr_assert_eq(gun_close(g), GUN_OK);
    /* every accepted put got exactly one callback, before gun_close returned */
    cr_assert_eq(a.n, 500, "acks %d", a.n);
    cr_assert_eq(a.ok + a.closed, 500);
    acks_free(&a);
    coll_free(&on);
}

Test(chain, close_from_another_thread_with_queued_puts)
{
    /* Puts queued by one thread, gun_close from another while they are in flight: each
     * accepted put gets exactly one callback (its result, or GUN_ECLOSED) before
     * gun_close returns. (Calls must not race with gun_close itself: the instance is
     * gone when it returns.) */
    for (int round = 0; round < 5; round++) {
        acks a;
        acks_init(&a);
        gun_t *g = open_default();
        closer c = {.g = g, .a = &a};
        uv_sem_init(&c.posted, 0);
        pthread_t t;
        pthread_create(&t, NULL, putter_main, &c);
        uv_sem_wait(&c.posted);
        cr_assert_eq(gun_close(g), GUN_OK);
        pthread_join(t, NULL);
        cr_assert_eq(c.accepted, 2000);
        cr_assert_eq(a.n, c.accepted, "round %d: %d acks for %d accepted puts", round, a.n,
                     c.accepted);
        uv_sem_destroy(&c.posted);
        acks_free(&a);
    }
}

typedef struct reentry {
    gun_chain *c, *other;
    gun_t *g;
    int get_rc, put_rc, close_rc, put_async_rc;
    int done;
} reentry;

static void reentry_cb(const char *json, const char *key, void *arg)
{
    reentry *r = arg;
    char *s = NULL;
    if (r->done++)
        return;
    r->get_rc = gun_get_sync(r->c, 1000, &s);
    r->put_rc = gun_put_sync(r->c, "{\"x\":2}", 1000);
    r->close_rc = gun_close(r->g);
    /* the API itself may be used from a callback */
    r->put_async_rc = gun_put(r->other, "{\"from\":\"callback\"}", NULL, NULL);
}

Test(chain, sync_helpers)
{
    gun_opts o;
    gun_t *g;
    char *s = NULL;
    gun_opts_init(&o);
    o.once_wait_ms = 10;
    cr_assert_eq(gun_open(&g, &o), GUN_OK);
    gun_chain *c = P(g, "s");
    cr_assert_eq(gun_get_sync(c, 2000, &s), GUN_ENOTFOUND);
    cr_assert_null(s);
    cr_assert_eq(gun_put_sync(c, "{\"x\":1}", 2000), GUN_OK);
    cr_assert_eq(gun_put_sync(c, "[1]", 2000), GUN_EBADVALUE);
    cr_assert_eq(gun_get_sync(NULL, 2000, &s), GUN_EINVAL);
    cr_assert_eq(gun_get_sync(gun_root(g), 2000, &s), GUN_EINVAL);

    reentry r = {c, P(g, "other"), g, 0, 0, 0, 0, 0};
    gun_on(c, reentry_cb, &r);
    cr_assert_eq(gun_put_sync(c, "{\"x\":3}", 2000), GUN_OK);
    char *o2 = NULL;
    cr_assert_eq(gun_get_sync(P(g, "other", "from"), 2000, &o2), GUN_OK);
    cr_assert_str_eq(o2, "\"callback\"");
    gun_free(o2);
    cr_assert_eq(r.get_rc, GUN_EDEADLK);
    cr_assert_eq(r.put_rc, GUN_EDEADLK);
    cr_assert_eq(r.close_rc, GUN_EDEADLK);
    cr_assert_eq(r.put_async_rc, GUN_OK);
    gun_close(g);
}

Test(chain, sync_timeout_then_close)
{
    gun_opts o;
    gun_t *g;
    char *s = NULL;
    gun_opts_init(&o);
    o.once_wait_ms = 3000; /* the once outlives the caller's patience */
    cr_assert_eq(gun_open(&g, &o), GUN_OK);
    uint64_t t0 = gun__mono_ms();
    cr_assert_eq(gun_get_sync(P(g, "slow"), 50, &s), GUN_ETIMEDOUT);
    cr_assert_lt(gun__mono_ms() - t0, 1000);
    cr_assert_null(s);
    cr_assert_eq(gun_close(g), GUN_OK); /* releases the waiter the loop still held */
}

typedef struct waiter_arg {
    gun_t *g;
    int rc;
} waiter_arg;

static void *blocked_get(void *arg)
{
    waiter_arg *w = arg;
    gun_chain *c;
    char *s = NULL;
    gun_get(w->g, "slow", &c);
    w->rc = gun_get_sync(c, 0, &s); /* no time limit: only close can end it */
    return NULL;
}

Test(chain, close_wakes_blocked_sync_get)
{
    gun_opts o;
    gun_t *g;
    gun_opts_init(&o);
    o.once_wait_ms = 60000;
    cr_assert_eq(gun_open(&g, &o), GUN_OK);
    waiter_arg w = {g, 1};
    pthread_t t;
    pthread_create(&t, NULL, blocked_get, &w);
    sleep_ms(100);
    cr_assert_eq(gun_close(g), GUN_OK);
    pthread_join(t, NULL);
    cr_assert_eq(w.rc, GUN_ECLOSED);
}

/* ---- a loop the caller runs ---- */

typedef struct own {
    int data, acked;
    uv_loop_t *loop;
} own;

static void own_data(const char *json, const char *key, void *arg) { ((own *)arg)->data++; }
static void own_ack(const gun_ack *a, void *arg)
{
    cr_assert_eq(a->err, GUN_OK);
    ((own *)arg)->acked++;
}

Test(chain, caller_loop)
{
    uv_loop_t loop;
    gun_opts o;
    gun_t *g;
    own st = {0, 0, &loop};
    cr_assert_eq(uv_loop_init(&loop), 0);
    gun_opts_init(&o);
    o.loop = &loop;
    o.once_wait_ms = 5;
    cr_assert_eq(gun_open(&g, &o), GUN_OK);
    gun_chain *c = P(g, "bob");
    cr_assert_eq(gun_on(c, own_data, &st), GUN_OK);
    cr_assert_eq(gun_put(c, "{\"a\":1}", own_ack, &st), GUN_OK);
    cr_assert_eq(st.acked, 0, "callbacks wait for the loop");
    cr_assert_eq(gun_get_sync(c, 100, &(char *){NULL}), GUN_EDEADLK);
    for (int i = 0; i < 100 && st.acked == 0; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    cr_assert_eq(st.acked, 1);
    cr_assert_eq(st.data, 1);
    gun_once(c, own_data, &st);
    while (st.data < 2)
        uv_run(&loop, UV_RUN_ONCE);
    cr_assert_eq(gun_put(c, "{\"a\":2}", own_ack, &st), GUN_OK);
    cr_assert_eq(gun_close(g), GUN_OK); /* the committed put's ack is delivered */
    cr_assert_eq(st.acked, 2);
    uv_run(&loop, UV_RUN_DEFAULT); /* lets the handles close */
    cr_assert_eq(uv_loop_close(&loop), 0, "every handle closed");
}

typedef struct closing_cb {
    gun_t *g;
    int rc, calls, acks;
} closing_cb;

static void close_in_cb(const char *json, const char *key, void *arg)
{
    closing_cb *c = arg;
    if (c->calls++ == 0)
        c->rc = gun_close(c->g); /* caller's loop: allowed on its thread, even here */
}

static void count_ack(const gun_ack *a, void *arg) { ((closing_cb *)arg)->acks++; }

Test(chain, caller_loop_close_from_callback)
{
    uv_loop_t loop;
    gun_opts o;
    gun_t *g;
    closing_cb st = {0};
    cr_assert_eq(uv_loop_init(&loop), 0);
    gun_opts_init(&o);
    o.loop = &loop;
    o.once_wait_ms = 10000; /* still pending at close */
    cr_assert_eq(gun_open(&g, &o), GUN_OK);
    st.g = g;
    gun_chain *c = P(g, "bob");
    gun_once(P(g, "pending"), close_in_cb, &st);
    gun_on(c, close_in_cb, &st);
    gun_on(c, close_in_cb, &st); /* its event is queued behind the one that closes */
    cr_assert_eq(gun_put(c, "{\"a\":1}", count_ack, &st), GUN_OK);
    uv_run(&loop, UV_RUN_DEFAULT); /* ends when the instance's handles are closed */
    cr_assert_eq(st.rc, GUN_OK);
    cr_assert_eq(st.calls, 1, "no data callbacks after close");
    cr_assert_eq(st.acks, 1, "the committed put is still acked");
    cr_assert_eq(uv_loop_close(&loop), 0);
}

/* ---- out of memory: fail the Nth allocation anywhere in a session ---- */

static atomic_long oom_count, oom_target;
static void *oom_malloc(size_t n)
{
    return atomic_fetch_add(&oom_count, 1) + 1 == atomic_load(&oom_target) ? NULL : malloc(n);
}
static void *oom_calloc(size_t n, size_t sz)
{
    return atomic_fetch_add(&oom_count, 1) + 1 == atomic_load(&oom_target) ? NULL : calloc(n, sz);
}
static void *oom_realloc(void *p, size_t n)
{
    return atomic_fetch_add(&oom_count, 1) + 1 == atomic_load(&oom_target) ? NULL
                                                                            : realloc(p, n);
}

static int allowed(int rc, const int *ok, int n)
{
    for (int i = 0; i < n; i++)
        if (rc == ok[i])
            return 1;
    return 0;
}

/* One session touching every path; returns the number of allocations it made. */
static long oom_session(long target)
{
    static const int put_ok[] = {GUN_OK, GUN_ENOMEM};
    static const int get_ok[] = {GUN_OK, GUN_ENOMEM, GUN_ENOTFOUND, GUN_ETIMEDOUT};
    gun_opts o;
    gun_t *g = NULL;
    gun_chain *bob = NULL, *car = NULL, *list = NULL, *m = NULL;
    acks a;
    coll on;
    char *s = NULL;
    int accepted = 0, rc;
    acks_init(&a);
    coll_init(&on);
    gun_opts_init(&o);
    o.once_wait_ms = 1;
    atomic_store(&oom_count, 0);
    atomic_store(&oom_target, target);
    rc = gun_open(&g, &o);
    if (rc != GUN_OK) {
        cr_assert(rc == GUN_ENOMEM || rc == GUN_EIO, "open: %d", rc);
        goto out;
    }
    if (gun_get(g, "bob", &bob) == GUN_OK) {
        rc = gun_on(bob, coll_cb, &on);
        cr_assert(allowed(rc, put_ok, 2), "on: %d", rc);
        rc = gun_put(bob, "{\"name\":\"Bob\",\"car\":{\"color\":\"red\",\"w\":{\"n\":4}}}", ack_cb, &a);
        cr_assert(allowed(rc, put_ok, 2), "put: %d", rc);
        accepted += rc == GUN_OK;
        if (gun_chain_get(bob, "car", &car) == GUN_OK) {
            rc = gun_get_sync(car, 300, &s);
            cr_assert(allowed(rc, get_ok, 4), "get_sync: %d", rc);
            gun_free(s);
            s = NULL;
            rc = gun_put_sync(car, "{\"color\":\"blue\"}", 300);
            cr_assert(allowed(rc, get_ok, 4), "put_sync: %d", rc);
        }
    }
    if (gun_get(g, "list", &list) == GUN_OK && gun_map(list, &m) == GUN_OK) {
        gun_on(m, coll_cb, &on);
        gun_once(m, coll_cb, &on);
        rc = gun_set(list, "{\"i\":1}", ack_cb, &a, NULL);
        cr_assert(allowed(rc, put_ok, 2), "set: %d", rc);
        accepted += rc == GUN_OK;
        rc = gun_set(list, "\"x\"", ack_cb, &a, NULL);
        accepted += rc == GUN_OK;
        rc = gun_get_sync(m, 300, &s);
        cr_assert(allowed(rc, get_ok, 4), "get_sync map: %d", rc);
        gun_free(s);
        gun_off(m);
    }
    cr_assert_eq(gun_close(g), GUN_OK);
    cr_assert_eq(a.n, accepted, "target %ld: %d acks for %d accepted writes", target, a.n, accepted);
out:
    atomic_store(&oom_target, 0);
    long used = atomic_load(&oom_count);
    acks_free(&a);
    coll_free(&on);
    return used;
}

Test(chain, out_of_memory_anywhere, .timeout = 600)
{
    cr_assert_eq(gun_replace_allocator(oom_malloc, oom_realloc, oom_calloc, free), GUN_OK);
    long total = oom_session(0); /* count the allocations of a clean session */
    cr_assert_gt(total, 100);
    /* Sessions vary a little (timing); sweep past the clean count. */
    for (long t = 1; t <= total + 50; t++)
        oom_session(t);
    gun_replace_allocator(NULL, NULL, NULL, NULL);
}

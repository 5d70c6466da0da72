/* store/wb: group commit in front of a store. Reads through it must always equal reads of a
 * store that took every write at once, whatever the commit points; durability is reported
 * per batch, in order. */
#include <uv.h>

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "store/store.h"

typedef struct durlog {
    uint64_t seqs[4096];
    int errs[4096];
    size_t n;
} durlog;

static void on_durable(void *arg, uint64_t seq, int err, const char *text)
{
    durlog *d = arg;
    (void)text;
    if (d->n < 4096) {
        d->seqs[d->n] = seq;
        d->errs[d->n] = err;
        d->n++;
    }
}

typedef struct dump {
    gun__buf b;
} dump;

static int dump_visit(void *arg, gun__str soul, gun__str key, const gun__val *v, double st)
{
    dump *d = arg;
    gun__buf_printf(&d->b, "%.*s|%.*s|%d|", (int)soul.len, soul.p, (int)key.len, key.p, v->t);
    gun__val_write(&d->b, v);
    gun__buf_printf(&d->b, "|%.17g\n", st);
    return 0;
}

static int dump_soul(void *arg, gun__str soul)
{
    dump *d = arg;
    gun__buf_printf(&d->b, "%.*s\n", (int)soul.len, soul.p);
    return 0;
}

static char *read_all(gun__store *s, int nsouls)
{
    dump d;
    gun__buf_init(&d.b);
    char soul[16];
    for (int i = 0; i < nsouls; i++) {
        snprintf(soul, sizeof soul, "s%d", i);
        int rc = s->ops->get_node(s->st, gun__str_c(soul), NULL, dump_visit, &d);
        gun__buf_printf(&d.b, "rc=%d\n", rc);
        gun__lex lex = {0};
        lex.has_gte = 1, lex.gte = GUN__STR("k3");
        lex.has_lte = 1, lex.lte = GUN__STR("k7");
        lex.reverse = i & 1;
        rc = s->ops->get_node(s->st, gun__str_c(soul), &lex, dump_visit, &d);
        gun__buf_printf(&d.b, "lex rc=%d\n", rc);
        rc = s->ops->get_key(s->st, gun__str_c(soul), GUN__STR("k5"), dump_visit, &d);
        gun__buf_printf(&d.b, "key rc=%d\n", rc);
    }
    s->ops->souls(s->st, NULL, dump_soul, &d);
    return gun__buf_take(&d.b);
}

Test(store_wb, reads_equal_a_direct_store_at_every_step)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    gun__store inner, direct, front;
    gun__err e;
    cr_assert_eq(gun__store_open(&inner, &gun__store_mem_ops, NULL, &e), GUN_OK);
    cr_assert_eq(gun__store_open(&direct, &gun__store_mem_ops, NULL, &e), GUN_OK);
    durlog dl = {0};
    gun__wb_cfg cfg = {&loop, &inner, 0, on_durable, &dl};
    gun__wb *wb;
    cr_assert_eq(gun__wb_new(&wb, &cfg), GUN_OK);
    gun__wb_store(wb, &front);

    uint32_t x = 7;
    for (int step = 0; step < 3000; step++) {
        x = x * 1103515245u + 12345u;
        char soul[16], key[16], text[32];
        snprintf(soul, sizeof soul, "s%u", (x >> 8) % 6);
        snprintf(key, sizeof key, "k%u", (x >> 12) % 10);
        snprintf(text, sizeof text, "v%d", step);
        gun__store_rec r;
        memset(&r, 0, sizeof r);
        r.soul = gun__str_c(soul);
        r.key = gun__str_c(key);
        r.val.t = (x >> 20) % 5 == 0 ? GUN__V_NULL : GUN__V_STR;
        r.val.s = gun__str_c(text);
        r.state = 1700000000000.0 + step / 999.0;
        cr_assert_eq(front.ops->write(front.st, &r, 1, &e), GUN_OK);
        cr_assert_eq(direct.ops->write(direct.st, &r, 1, &e), GUN_OK);
        if ((x >> 24) % 7 == 0)
            uv_run(&loop, UV_RUN_NOWAIT); /* a commit point */
        if (step % 97 == 0) {
            char *a = read_all(&front, 6), *b = read_all(&direct, 6);
            cr_assert_str_eq(a, b, "step %d", step);
            gun__free(a), gun__free(b);
        }
    }
    cr_assert_eq(gun__wb_drain(wb), GUN_OK);
    cr_expect_eq(gun__wb_pending(wb), 0);
    /* everything reached the inner store */
    char *a = read_all(&inner, 6), *b = read_all(&direct, 6);
    cr_expect_str_eq(a, b);
    gun__free(a), gun__free(b);
    /* batches became durable in order, each once */
    cr_assert_gt(dl.n, 10);
    for (size_t i = 0; i < dl.n; i++) {
        cr_expect_eq(dl.errs[i], GUN_OK);
        if (i)
            cr_expect_eq(dl.seqs[i], dl.seqs[i - 1] + 1);
    }
    cr_expect_eq(gun__wb_durable(wb), dl.seqs[dl.n - 1]);
    gun__wb_free(wb);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_expect_eq(uv_loop_close(&loop), 0);
    gun__store_close(&inner);
    gun__store_close(&direct);
}

/* A store whose writes fail: the batch is reported failed and reads fall back to what the
 * inner store had. */
static int failing_write(void *st, const gun__store_rec *r, size_t n, gun__err *e)
{
    (void)st, (void)r, (void)n;
    return gun__fail(e, GUN_EIO, "disk full (test)");
}

Test(store_wb, failed_commit_is_reported_and_rolled_back)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    gun__store inner, front;
    gun__err e;
    cr_assert_eq(gun__store_open(&inner, &gun__store_mem_ops, NULL, &e), GUN_OK);
    gun__store_ops ops = *inner.ops;
    ops.write = failing_write;
    gun__store broken = {&ops, inner.st};
    durlog dl = {0};
    gun__wb_cfg cfg = {&loop, &broken, 0, on_durable, &dl};
    gun__wb *wb;
    cr_assert_eq(gun__wb_new(&wb, &cfg), GUN_OK);
    gun__wb_store(wb, &front);
    gun__store_rec r;
    memset(&r, 0, sizeof r);
    r.soul = GUN__STR("a");
    r.key = GUN__STR("b");
    r.val.t = GUN__V_NUM;
    r.val.n = 1;
    r.state = 1;
    uint64_t ticket = gun__wb_ticket(wb);
    cr_assert_eq(front.ops->write(front.st, &r, 1, &e), GUN_OK);
    dump d;
    gun__buf_init(&d.b);
    cr_expect_eq(front.ops->get_key(front.st, r.soul, r.key, dump_visit, &d), GUN_OK);
    uv_run(&loop, UV_RUN_NOWAIT);
    cr_assert_eq(dl.n, 1);
    cr_expect_eq(dl.seqs[0], ticket);
    cr_expect_eq(dl.errs[0], GUN_EIO);
    cr_expect_eq(gun__wb_durable(wb), 0);
    cr_expect_eq(front.ops->get_key(front.st, r.soul, r.key, dump_visit, &d), GUN_ENOTFOUND);
    gun__buf_free(&d.b);
    gun__wb_free(wb);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    gun__store_close(&inner);
}

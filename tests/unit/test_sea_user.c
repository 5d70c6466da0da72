/* SEA users on an instance (src/sea/user.c): the account record user.create writes, login
 * by password and by pair, signing of the user's writes (checked against the raw store),
 * plain values on read, certificates, refusals with Gun.js's texts, and accounts whose keys
 * do not belong together. Offline instances: the interop test 22 covers peers. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>

#include "chain/chain.h"

#define T 10000

static gun_t *open_g(void)
{
    gun_t *g = NULL;
    cr_assert_eq(gun_open(&g, NULL), GUN_OK);
    return g;
}

static gun_chain *chain(gun_t *g, const char *soul, const char *key)
{
    gun_chain *c = NULL;
    cr_assert_eq(gun_get(g, soul, &c), GUN_OK);
    if (key)
        cr_assert_eq(gun_chain_get(c, key, &c), GUN_OK);
    return c;
}

static gun__json *parse(const char *s)
{
    gun__json *j = NULL;
    cr_assert_eq(gun__json_parse(s, strlen(s), NULL, &j, NULL), GUN_OK, "%s", s);
    return j;
}

static char *soul_of(const char *pub)
{
    static __thread char s[96];
    snprintf(s, sizeof s, "~%s", pub);
    return s;
}

/* ---- the raw store (what peers receive), read while the loop is idle ---- */

typedef struct raw {
    char *text; /* the stored value as JSON */
    double state;
} raw;

static int raw_visit(void *arg, gun__str soul, gun__str key, const gun__val *val, double st)
{
    raw *r = arg;
    (void)soul, (void)key;
    gun__buf b;
    gun__buf_init(&b);
    gun__val_write(&b, val);
    r->text = gun__buf_take(&b);
    r->state = st;
    return 1;
}

static raw raw_get(gun_t *g, const char *soul, const char *key)
{
    raw r = {0};
    g->store.ops->get_key(g->store.st, (gun__str){soul, strlen(soul)},
                          (gun__str){key, strlen(key)}, raw_visit, &r);
    cr_assert_not_null(r.text, "%s.%s not stored", soul, key);
    return r;
}

/* The stored value must be signed by pub for soul/key/state and hold `plain`. */
static void expect_signed(gun_t *g, const char *soul, const char *key, const char *pub,
                          const char *plain)
{
    raw r = raw_get(g, soul, key);
    gun__json *s = parse(r.text);
    cr_assert_eq(s->t, GUN__J_STR, "%s.%s stored unsigned: %s", soul, key, r.text);
    char *v = NULL;
    cr_assert_eq(gun_sea_verify_put(soul, key, s->u.s.p, r.state, pub, 0, &v), GUN_OK,
                 "%s.%s: %s", soul, key, s->u.s.p);
    cr_assert_str_eq(v, plain);
    gun_sea_free(v);
    gun__json_free(s);
    gun__free(r.text);
}

/* ---- put acks with their text ---- */

typedef struct ackw {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, err;
    char text[256];
} ackw;

static void on_ack(const gun_ack *a, void *arg)
{
    ackw *w = arg;
    pthread_mutex_lock(&w->mu);
    w->err = a->err;
    snprintf(w->text, sizeof w->text, "%s", a->err_text ? a->err_text : "");
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* gun_put (or gun_put_cert) and its ack; *text gets the err text. */
static int put_wait(gun_chain *c, const char *json, const char *cert, char text[256])
{
    ackw w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, ""};
    int rc = cert ? gun_put_cert(c, json, cert, on_ack, &w) : gun_put(c, json, on_ack, &w);
    cr_assert_eq(rc, GUN_OK, "%s", gun_strerror(rc));
    pthread_mutex_lock(&w.mu);
    while (!w.done)
        pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    if (text)
        memcpy(text, w.text, sizeof w.text);
    return w.err;
}

static char *get_str(gun_chain *c)
{
    char *s = NULL;
    int rc = gun_get_sync(c, T, &s);
    cr_assert_eq(rc, GUN_OK, "%s: %s", gun_chain_path(c), gun_strerror(rc));
    return s;
}

TestSuite(sea_user, .timeout = 120);

Test(sea_user, create_writes_the_account_record_user_create_writes)
{
    gun_t *g = open_g();
    char pub[88];
    cr_assert_eq(gun_user_create(g, "alice", "correct horse", T, pub), GUN_OK);
    char is[88];
    cr_assert_eq(gun_user_is(g, is), GUN_OK);
    cr_assert_str_eq(is, pub);
    const char *S = soul_of(pub);
    /* pub plain; alias, epub and auth signed for their soul, key and state */
    raw rp = raw_get(g, S, "pub");
    gun__json *pj = parse(rp.text);
    cr_assert_eq(pj->t, GUN__J_STR);
    cr_assert_str_eq(pj->u.s.p, pub);
    gun__json_free(pj);
    gun__free(rp.text);
    expect_signed(g, S, "alias", pub, "\"alice\"");
    gun_sea_pair me;
    cr_assert_eq(gun_user_pair(g, &me), GUN_OK);
    char want_epub[100];
    snprintf(want_epub, sizeof want_epub, "\"%s\"", me.epub);
    expect_signed(g, S, "epub", pub, want_epub);
    /* auth: {"ek":{ct,iv,s},"s":<64 chars>}; ek opens with PBKDF2(pass, s) to our keys */
    char *auth = get_str(chain(g, S, "auth"));
    gun__json *aj = parse(auth), *a = parse(aj->u.s.p);
    cr_assert_eq(a->u.o.n, 2);
    cr_assert_str_eq(a->u.o.m[0].key, "ek");
    cr_assert_str_eq(a->u.o.m[1].key, "s");
    const gun__json *salt = gun__json_obj_getc(a, "s");
    cr_assert_eq(salt->u.s.len, 64);
    char *proof = NULL, *ek = NULL, *half = NULL;
    cr_assert_eq(gun_sea_work("correct horse", salt->u.s.p, NULL, &proof), GUN_OK);
    gun__buf b;
    gun__buf_init(&b);
    gun__json_write(&b, gun__json_obj_getc(a, "ek"), GUN__JSON_JS);
    ek = gun__buf_take(&b);
    cr_assert_eq(gun_sea_decrypt(ek, proof, &half), GUN_OK);
    gun__json *h = parse(half);
    cr_assert_str_eq(gun__json_obj_getc(h, "priv")->u.s.p, me.priv);
    cr_assert_str_eq(gun__json_obj_getc(h, "epriv")->u.s.p, me.epriv);
    /* the alias list links to the account */
    char *list = get_str(chain(g, "~@alice", NULL));
    gun__json *l = parse(list);
    const gun__json *link = gun__json_obj_getc(gun__json_obj_getc(l, S), "#");
    cr_assert_not_null(link, "%s", list);
    cr_assert_str_eq(link->u.s.p, S);
    gun_sea_pair_wipe(&me);
    gun__json_free(h), gun__json_free(l), gun__json_free(a), gun__json_free(aj);
    gun_free(list), gun_free(auth), gun__free(ek);
    gun_sea_free(proof), gun_sea_free(half);
    gun_close(g);
}

Test(sea_user, create_refuses_taken_alias_and_short_password)
{
    gun_t *g = open_g();
    char pub[88];
    cr_assert_eq(gun_user_create(g, "bob", "1234567", T, pub), GUN_EINVAL);
    cr_assert_str_eq(pub, "");
    cr_assert_eq(gun_user_is(g, pub), GUN_ENOTFOUND);
    /* 8 UTF-16 units: four astral characters are enough, as in JS */
    cr_assert_eq(gun_user_create(g, "bob", "\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80"
                                           "\xF0\x9F\x98\x80", T, pub), GUN_OK);
    cr_assert_eq(gun_user_create(g, "bob", "another password", T, pub), GUN_EEXIST);
    cr_assert_eq(gun_user_create(g, "", "another password", T, pub), GUN_EINVAL);
    cr_assert_eq(gun_user_create(NULL, "x", "another password", T, pub), GUN_EINVAL);
    gun_close(g);
}

Test(sea_user, auth_by_password_and_by_pair)
{
    gun_t *g = open_g();
    char pub[88], is[88];
    cr_assert_eq(gun_user_create(g, "carol", "carol's password", T, pub), GUN_OK);
    gun_sea_pair pair;
    cr_assert_eq(gun_user_pair(g, &pair), GUN_OK);
    cr_assert_eq(gun_user_leave(g), GUN_OK);
    cr_assert_eq(gun_user_is(g, is), GUN_ENOTFOUND);
    gun_sea_pair none;
    cr_assert_eq(gun_user_pair(g, &none), GUN_ENOTFOUND);
    cr_assert_eq(gun_user_auth(g, "carol", "wrong password", T), GUN_EAUTH);
    cr_assert_eq(gun_user_auth(g, "nobody", "carol's password", T), GUN_EAUTH);
    cr_assert_eq(gun_user_is(g, is), GUN_ENOTFOUND);
    cr_assert_eq(gun_user_auth(g, "carol", "carol's password", T), GUN_OK);
    cr_assert_eq(gun_user_is(g, is), GUN_OK);
    cr_assert_str_eq(is, pub);
    gun_sea_pair got;
    cr_assert_eq(gun_user_pair(g, &got), GUN_OK);
    cr_assert_eq(memcmp(&got, &pair, sizeof got), 0, "the pair from the account is the pair made");
    /* by pair: a pair whose halves belong together; a spliced one is refused */
    gun_user_leave(g);
    gun_sea_pair other, spliced;
    cr_assert_eq(gun_sea_pair_generate(&other), GUN_OK);
    spliced = pair;
    memcpy(spliced.priv, other.priv, sizeof spliced.priv);
    cr_assert_eq(gun_user_auth_pair(g, &spliced), GUN_EKEY);
    cr_assert_eq(gun_user_is(g, is), GUN_ENOTFOUND);
    cr_assert_eq(gun_user_auth_pair(g, &other), GUN_OK);
    cr_assert_eq(gun_user_is(g, is), GUN_OK);
    cr_assert_str_eq(is, other.pub);
    gun_sea_pair_wipe(&pair), gun_sea_pair_wipe(&got), gun_sea_pair_wipe(&other);
    gun_sea_pair_wipe(&spliced);
    gun_close(g);
}

Test(sea_user, writes_are_signed_and_read_back_plain)
{
    gun_t *g = open_g();
    char pub[88];
    cr_assert_eq(gun_user_create(g, "dave", "dave's password", T, pub), GUN_OK);
    gun_chain *u;
    cr_assert_eq(gun_user(g, &u), GUN_OK);
    cr_assert_str_eq(gun_chain_path(u), soul_of(pub));
    gun_chain *says, *profile, *name;
    cr_assert_eq(gun_chain_get(u, "says", &says), GUN_OK);
    cr_assert_eq(gun_put_sync(says, "\"hello\"", T), GUN_OK);
    cr_assert_eq(gun_chain_get(u, "profile", &profile), GUN_OK);
    cr_assert_eq(gun_put_sync(profile, "{\"name\":\"Dave\",\"n\":1.5,\"ok\":true,\"no\":null}", T),
                 GUN_OK);
    const char *S = soul_of(pub);
    char nested[128];
    snprintf(nested, sizeof nested, "%s/profile", S);
    expect_signed(g, S, "says", pub, "\"hello\"");
    char link[160];
    snprintf(link, sizeof link, "{\"#\":\"%s\"}", nested);
    expect_signed(g, S, "profile", pub, link); /* a signed link */
    expect_signed(g, nested, "name", pub, "\"Dave\"");
    expect_signed(g, nested, "n", pub, "1.5");
    expect_signed(g, nested, "ok", pub, "true");
    expect_signed(g, nested, "no", pub, "null");
    /* readers get plain values, through the signed link too */
    char *s = get_str(says);
    cr_assert_str_eq(s, "\"hello\"");
    gun_free(s);
    cr_assert_eq(gun_chain_get(profile, "name", &name), GUN_OK);
    s = get_str(name);
    cr_assert_str_eq(s, "\"Dave\"");
    gun_free(s);
    s = get_str(profile);
    gun__json *p = parse(s);
    cr_assert_eq(gun__json_obj_getc(p, "n")->u.n, 1.5);
    cr_assert_eq(gun__json_obj_getc(p, "no")->t, GUN__J_NULL);
    gun__json_free(p);
    gun_free(s);
    /* a set under the user's graph: the item link is signed too */
    gun_chain *list, *item;
    cr_assert_eq(gun_chain_get(u, "list", &list), GUN_OK);
    cr_assert_eq(gun_set(list, "{\"x\":1}", NULL, NULL, &item), GUN_OK);
    s = get_str(item);
    cr_assert_eq(gun__json_obj_getc(p = parse(s), "x")->u.n, 1);
    gun__json_free(p);
    gun_free(s);
    gun_close(g);
}

Test(sea_user, writes_into_user_graphs_that_are_not_ours_are_refused)
{
    gun_t *g = open_g();
    char pub[88], text[256];
    cr_assert_eq(gun_user_create(g, "erin", "erin's password", T, pub), GUN_OK);
    const char *S = soul_of(pub);
    gun_user_leave(g);
    /* logged out: nothing may be written into erin's graph */
    cr_assert_eq(put_wait(chain(g, S, "says"), "\"forged\"", NULL, text), GUN_EVERIFY);
    cr_assert_str_eq(text, "Unverified data.");
    /* logged in as someone else: neither */
    cr_assert_eq(gun_user_create(g, "frank", "frank's password", T, pub), GUN_OK);
    cr_assert_eq(put_wait(chain(g, S, "says"), "\"forged\"", NULL, text), GUN_EVERIFY);
    cr_assert_str_eq(text, "Unverified data.");
    /* the account's pub cannot change, alias lists must link to themselves */
    char body[200];
    snprintf(body, sizeof body, "{\"pub\":\"%s\"}", pub);
    cr_assert_eq(put_wait(chain(g, S, NULL), body, NULL, text), GUN_EVERIFY);
    cr_assert_str_eq(text, "Account not same!");
    cr_assert_eq(put_wait(chain(g, "~@erin", NULL), "{\"~x.y\":{\"#\":\"~other.key\"}}", NULL, text),
                 GUN_EVERIFY);
    cr_assert_str_eq(text, "Alias not same!");
    cr_assert_eq(put_wait(chain(g, "#", "nothash"), "\"v\"", NULL, text), GUN_EVERIFY);
    cr_assert_str_eq(text, "Data hash not same as hash!");
    /* erin's value is untouched */
    gun_chain *c = chain(g, S, "alias");
    char *s = get_str(c);
    cr_assert_str_eq(s, "\"erin\"");
    gun_free(s);
    /* plain souls are not affected */
    cr_assert_eq(put_wait(chain(g, "plain", "k"), "\"v\"", NULL, text), GUN_OK);
    gun_close(g);
}

Test(sea_user, certificates_let_another_user_write)
{
    gun_t *g = open_g();
    char owner[88], writer[88], text[256];
    cr_assert_eq(gun_user_create(g, "gina", "gina's password", T, owner), GUN_OK);
    gun_sea_pair gp;
    cr_assert_eq(gun_user_pair(g, &gp), GUN_OK);
    cr_assert_eq(gun_user_create(g, "hank", "hank's password", T, writer), GUN_OK);
    char *cert = NULL;
    cr_assert_eq(gun_sea_certify(writer, "inbox", &gp, 0, NULL, &cert), GUN_OK);
    const char *S = soul_of(owner);
    cr_assert_eq(put_wait(chain(g, S, "inbox"), "\"hi gina\"", cert, text), GUN_OK, "%s", text);
    /* stored as {"*":writer,"+":cert,":":v,"~":sig}, signed by the writer */
    raw r = raw_get(g, S, "inbox");
    gun__json *s = parse(r.text), *w = parse(s->u.s.p);
    cr_assert_str_eq(gun__json_obj_getc(w, "*")->u.s.p, writer);
    cr_assert_not_null(gun__json_obj_getc(gun__json_obj_getc(w, "+"), "m"));
    char *v = NULL;
    cr_assert_eq(gun_sea_verify_put(S, "inbox", s->u.s.p, r.state, writer, 0, &v), GUN_OK);
    cr_assert_str_eq(v, "\"hi gina\"");
    gun_sea_free(v);
    gun__json_free(w), gun__json_free(s), gun__free(r.text);
    char *got = get_str(chain(g, S, "inbox"));
    cr_assert_str_eq(got, "\"hi gina\"");
    gun_free(got);
    /* outside the certificate's policy, or a certificate that is not one */
    cr_assert_eq(put_wait(chain(g, S, "profile"), "\"x\"", cert, text), GUN_EVERIFY);
    cr_assert_str_eq(text, "Certificate verification fail.");
    cr_assert_eq(put_wait(chain(g, S, "inbox"), "\"x\"", "{\"m\":1}", text), GUN_EINVAL);
    cr_assert_eq(gun_put_cert(chain(g, S, "inbox"), "\"x\"", NULL, NULL, NULL), GUN_EINVAL);
    /* an expired certificate */
    char *old = NULL;
    cr_assert_eq(gun_sea_certify(writer, "inbox", &gp, 1000, NULL, &old), GUN_OK);
    cr_assert_eq(put_wait(chain(g, S, "inbox"), "\"late\"", old, text), GUN_EVERIFY);
    cr_assert_str_eq(text, "Certificate expired.");
    gun_sea_free(old), gun_sea_free(cert);
    gun_sea_pair_wipe(&gp);
    gun_close(g);
}

Test(sea_user, an_alias_pointing_at_a_record_with_foreign_keys_does_not_log_in)
{
    /* mallory copies ivy's encrypted keys into an account of his own and lists it under
     * the alias "ivy2": the password opens it, but the keys are not mallory's pub. */
    gun_t *g = open_g();
    char ivy[88], mal[88];
    cr_assert_eq(gun_user_create(g, "ivy", "ivy's password", T, ivy), GUN_OK);
    char *auth = get_str(chain(g, soul_of(ivy), "auth"));
    cr_assert_eq(gun_user_create(g, "mallory", "mallory's password", T, mal), GUN_OK);
    gun_chain *m;
    cr_assert_eq(gun_user(g, &m), GUN_OK);
    char body[4096];
    snprintf(body, sizeof body, "{\"auth\":%s}", auth);
    cr_assert_eq(gun_put_sync(m, body, T), GUN_OK);
    char link[256];
    snprintf(link, sizeof link, "{\"%s\":{\"#\":\"%s\"}}", soul_of(mal), soul_of(mal));
    cr_assert_eq(gun_put_sync(chain(g, "~@ivy2", NULL), link, T), GUN_OK);
    gun_user_leave(g);
    cr_assert_eq(gun_user_auth(g, "ivy2", "ivy's password", T), GUN_EAUTH);
    cr_assert_eq(gun_user_auth(g, "ivy", "ivy's password", T), GUN_OK);
    gun_free(auth);
    gun_close(g);
}

Test(sea_user, unpack_only_touches_signed_values_of_pub_souls)
{
    gun__val in = {.t = GUN__V_STR}, out;
    const char *signed_v = "{\":\":\"x\",\"~\":\"sig\"}";
    in.s = (gun__str){signed_v, strlen(signed_v)};
    const char *pubsoul = "~abc.def/x";
    cr_assert_eq(gun__sea_unpack((gun__str){pubsoul, strlen(pubsoul)}, &in, &out), 1);
    cr_assert_eq(out.t, GUN__V_STR);
    cr_assert_eq(out.s.len, 1);
    gun__val_clear(&out);
    cr_assert_eq(gun__sea_unpack((gun__str){"plain", 5}, &in, &out), 0);
    cr_assert_eq(gun__sea_unpack((gun__str){"~@alias", 7}, &in, &out), 0);
    const char *nosig = "{\":\":\"x\"}", *bad = "{\":\":\"x\",\"~\"";
    in.s = (gun__str){nosig, strlen(nosig)};
    cr_assert_eq(gun__sea_unpack((gun__str){pubsoul, strlen(pubsoul)}, &in, &out), 0);
    in.s = (gun__str){bad, strlen(bad)};
    cr_assert_eq(gun__sea_unpack((gun__str){pubsoul, strlen(pubsoul)}, &in, &out), 0);
    /* a signed link reads as a link */
    const char *sl = "{\":\":{\"#\":\"~abc.def/p\"},\"~\":\"s\"}";
    in.s = (gun__str){sl, strlen(sl)};
    cr_assert_eq(gun__sea_unpack((gun__str){pubsoul, strlen(pubsoul)}, &in, &out), 1);
    cr_assert_eq(out.t, GUN__V_LINK);
    gun__val_clear(&out);
}

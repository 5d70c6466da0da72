/* The relay's user-graph firewall (src/sea/firewall.c): each rule of spec 5.9 with Gun.js's
 * text, the certificate verdicts, the block list lookup, `<?N`, the key cache, and the
 * deliberate refusal of a foreign '*' without a certificate (docs/sea.md 11). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sea/sea.h"

static gun_sea_pair alice, bob;
static gun__fw *fw;

static void setup(void)
{
    cr_assert_eq(gun_sea_pair_generate(&alice), GUN_OK);
    cr_assert_eq(gun_sea_pair_generate(&bob), GUN_OK);
    cr_assert_eq(gun__fw_new(&fw, 2, 0), GUN_OK);
}

static void teardown(void)
{
    gun__fw_free(fw);
}

TestSuite(firewall, .init = setup, .fini = teardown);

static gun__json *js(const char *text)
{
    gun__json *j = NULL;
    gun__err e;
    cr_assert_eq(gun__json_parse(text, strlen(text), NULL, &j, &e), GUN_OK, "%s", text);
    return j;
}

static gun__str S(const char *s)
{
    return (gun__str){s, strlen(s)};
}

/* Checks one key; returns the kind and copies the text into why (or ""). */
static gun__fw_kind check(const char *soul, const char *key, const gun__json *val, double state,
                          char why[256])
{
    gun__fw_result r;
    cr_assert_eq(gun__fw_check_key(fw, S(soul), S(key), val, state, 1e12, NULL, NULL, &r),
                 GUN_OK);
    snprintf(why, 256, "%s", r.why ? r.why : "");
    return r.kind;
}

/* The wire value of val signed by pair for soul/key/state (with cert/writer when cert). */
static gun__json *signed_val(const char *soul, const char *key, const char *val, double state,
                             const gun_sea_pair *pair, const gun__json *cert)
{
    gun__json *v = js(val);
    gun__buf b;
    gun__buf_init(&b);
    gun__err e;
    cr_assert_eq(gun__sea_sign_put(soul, strlen(soul), key, strlen(key), v, state, pair, cert, &b,
                                   &e),
                 GUN_OK);
    gun__json *s = gun__json_str(b.p, b.len);
    gun__buf_free(&b);
    gun__json_free(v);
    return s;
}

static char *owner_soul(const gun_sea_pair *p, const char *suffix)
{
    static char buf[2][256];
    static int i;
    char *o = buf[i++ & 1];
    snprintf(o, 256, "~%s%s", p->pub, suffix);
    return o;
}

Test(firewall, alias_list)
{
    char why[256];
    gun__json *ok = js("{\"#\":\"~@alice\"}"), *bad = js("{\"#\":\"~@eve\"}");
    gun__json *nul = js("null"), *str = js("\"~@alice\"");
    cr_expect_eq(check("~@", "alice", ok, 1, why), GUN__FW_PASS);
    cr_expect_eq(check("~@", "alice", bad, 1, why), GUN__FW_ALIAS);
    cr_expect_str_eq(why, "Alias not same!");
    cr_expect_eq(check("~@", "alice", nul, 1, why), GUN__FW_ALIAS);
    cr_expect_str_eq(why, "Data must exist!");
    cr_expect_eq(check("~@", "alice", str, 1, why), GUN__FW_ALIAS);
    cr_expect_str_eq(why, "Alias not same!");
    gun__json_free(ok), gun__json_free(bad), gun__json_free(nul), gun__json_free(str);
}

Test(firewall, alias_pubs)
{
    char why[256];
    char link[200];
    snprintf(link, sizeof link, "{\"#\":\"~%s\"}", alice.pub);
    gun__json *ok = js(link), *nul = js("false"), *other = js("{\"#\":\"~other.key\"}");
    char key[100];
    snprintf(key, sizeof key, "~%s", alice.pub);
    cr_expect_eq(check("~@alice", key, ok, 1, why), GUN__FW_PASS);
    cr_expect_eq(check("~@alice", key, other, 1, why), GUN__FW_ALIAS);
    cr_expect_str_eq(why, "Alias not same!");
    cr_expect_eq(check("~@alice", "~evil.key", other, 1, why), GUN__FW_ALIAS);
    cr_expect_str_eq(why, "Alias not same!");
    cr_expect_eq(check("~@alice", key, nul, 1, why), GUN__FW_ALIAS);
    cr_expect_str_eq(why, "Alias must exist!");
    gun__json_free(ok), gun__json_free(nul), gun__json_free(other);
}

Test(firewall, account_pub)
{
    char why[256];
    gun__json *ok = gun__json_str(alice.pub, strlen(alice.pub));
    gun__json *bad = js("\"notthepub\"");
    cr_expect_eq(check(owner_soul(&alice, ""), "pub", ok, 1, why), GUN__FW_PASS);
    cr_expect_eq(check(owner_soul(&alice, ""), "pub", bad, 1, why), GUN__FW_ACCOUNT);
    cr_expect_str_eq(why, "Account not same!");
    /* `pub` under a nested soul is ordinary data: it must be signed */
    cr_expect_eq(check(owner_soul(&alice, "/x"), "pub", ok, 1, why), GUN__FW_UNVERIFIED);
    cr_expect_str_eq(why, "Unverified data.");
    gun__json_free(ok), gun__json_free(bad);
}

Test(firewall, signed_values)
{
    char why[256], soul[128];
    snprintf(soul, sizeof soul, "%s", owner_soul(&alice, ""));
    double st = 1700000000000.5;
    gun__json *v = signed_val(soul, "says", "\"hello\"", st, &alice, NULL);
    cr_expect_eq(check(soul, "says", v, st, why), GUN__FW_PASS);
    /* tampered state, key replay, soul replay */
    cr_expect_eq(check(soul, "says", v, st + 1, why), GUN__FW_UNVERIFIED);
    cr_expect_str_eq(why, "Unverified data.");
    cr_expect_eq(check(soul, "other", v, st, why), GUN__FW_UNVERIFIED);
    cr_expect_eq(check(owner_soul(&alice, "/p"), "says", v, st, why), GUN__FW_UNVERIFIED);
    /* another user's graph: signed by alice, put on bob's */
    cr_expect_eq(check(owner_soul(&bob, ""), "says", v, st, why), GUN__FW_UNVERIFIED);
    /* tampered value */
    char text[400];
    snprintf(text, sizeof text, "%s", v->u.s.p);
    char *h = strstr(text, "hello");
    h[0] = 'j';
    gun__json *t = gun__json_str(text, strlen(text));
    cr_expect_eq(check(soul, "says", t, st, why), GUN__FW_UNVERIFIED);
    /* unsigned, non-JSON, truncated signature, wrong signature length, state 0 */
    gun__json *plain = js("\"x\""), *link = js("{\"#\":\"abc\"}"), *num = js("5");
    cr_expect_eq(check(soul, "evil", plain, st, why), GUN__FW_UNVERIFIED);
    cr_expect_eq(check(soul, "evil", link, st, why), GUN__FW_UNVERIFIED);
    cr_expect_eq(check(soul, "evil", num, st, why), GUN__FW_UNVERIFIED);
    gun__json *nj = js("\"{\\\":\\\":\\\"hello\\\",\\\"~\\\":\\\"abc\"");
    cr_expect_eq(check(soul, "says", nj, st, why), GUN__FW_UNVERIFIED);
    snprintf(text, sizeof text, "%s", v->u.s.p);
    char *sig = strstr(text, "\"~\":\"") + 5;
    memcpy(sig + 40, "\"}", 3); /* truncated base64 */
    gun__json *tr = gun__json_str(text, strlen(text));
    cr_expect_eq(check(soul, "says", tr, st, why), GUN__FW_UNVERIFIED);
    cr_expect_eq(check(soul, "says", v, 0, why), GUN__FW_UNVERIFIED);
    /* signed by bob on alice's graph, naming nobody */
    gun__json *vb = signed_val(soul, "says", "\"hello\"", st, &bob, NULL);
    cr_expect_eq(check(soul, "says", vb, st, why), GUN__FW_UNVERIFIED);
    /* a signed link */
    char lk[200];
    snprintf(lk, sizeof lk, "{\"#\":\"%s/profile\"}", soul);
    gun__json *sl = signed_val(soul, "profile", lk, st, &alice, NULL);
    cr_expect_eq(check(soul, "profile", sl, st, why), GUN__FW_PASS);
    gun__json *items[] = {v, t, plain, link, num, nj, tr, vb, sl};
    for (size_t i = 0; i < sizeof items / sizeof *items; i++)
        gun__json_free(items[i]);
}

/* Gun.js takes a value naming any writer in '*' without a certificate (docs/sea.md 11). */
Test(firewall, foreign_writer_needs_certificate)
{
    char why[256];
    const char *soul = owner_soul(&alice, "");
    double st = 1700000000000;
    gun__json *v = signed_val(soul, "k", "\"bob was here\"", st, &bob, NULL);
    gun__buf b;
    gun__buf_init(&b);
    gun__buf_printf(&b, "{\"*\":\"%s\",%s", bob.pub, v->u.s.p + 1);
    gun__json *w = gun__json_str(b.p, b.len);
    cr_expect_eq(check(soul, "k", w, st, why), GUN__FW_UNCERTIFIED);
    cr_expect_str_eq(why, "Unverified data.");
    /* '*' = the owner is the owner's own signature */
    gun__json *va = signed_val(soul, "k", "\"mine\"", st, &alice, NULL);
    gun__buf_reset(&b);
    gun__buf_printf(&b, "{\"*\":\"%s\",%s", alice.pub, va->u.s.p + 1);
    gun__json *wa = gun__json_str(b.p, b.len);
    cr_expect_eq(check(soul, "k", wa, st, why), GUN__FW_PASS);
    /* '*' not a string */
    gun__buf_reset(&b);
    gun__buf_printf(&b, "{\"*\":{\"pub\":\"%s\"},%s", bob.pub, v->u.s.p + 1);
    gun__json *wo = gun__json_str(b.p, b.len);
    cr_expect_eq(check(soul, "k", wo, st, why), GUN__FW_UNCERTIFIED);
    gun__buf_free(&b);
    gun__json_free(v), gun__json_free(w), gun__json_free(va), gun__json_free(wa);
    gun__json_free(wo);
}

static gun__json *certify(const char *who, const char *policy, double expiry, const char *block)
{
    gun__json *c = js(who), *p = js(policy), *bl = block ? js(block) : NULL;
    gun__buf out;
    gun__buf_init(&out);
    gun__err e;
    cr_assert_eq(gun__sea_certify(c, p, &alice, expiry, bl, &out, &e), GUN_OK);
    gun__json *cert = NULL;
    cr_assert_eq(gun__sea_parse(out.p, out.len, &cert, &e), GUN_OK);
    gun__buf_free(&out);
    gun__json_free(c), gun__json_free(p), gun__json_free(bl);
    return cert;
}

/* Blocks bob through ~alice.blocklist -> {"#":"blk"}, blk.<bob> = signed-looking true. */
static int lookup(void *arg, gun__str soul, gun__str key, gun__json **out)
{
    (void)arg;
    *out = NULL;
    if (soul.len == 88 && key.len == 9 && memcmp(key.p, "blocklist", 9) == 0)
        *out = js("{\"#\":\"blk\"}");
    else if (soul.len == 3 && memcmp(soul.p, "blk", 3) == 0 && key.len == strlen(bob.pub) &&
             memcmp(key.p, bob.pub, key.len) == 0)
        *out = js("\"{\\\":\\\":true,\\\"~\\\":\\\"sig\\\"}\"");
    return GUN_OK;
}

Test(firewall, certificates)
{
    char why[256];
    const char *soul = owner_soul(&alice, "");
    double st = 1700000000000;
    char who[120];
    snprintf(who, sizeof who, "\"%s\"", bob.pub);
    struct {
        gun__json *cert;
        const char *key;
        gun__fw_kind kind;
        const char *why;
    } cases[] = {
        {certify("\"*\"", "\"k\"", 0, NULL), "k", GUN__FW_PASS, ""},
        {certify(who, "{\".\":\"k\"}", 0, NULL), "k", GUN__FW_PASS, ""},
        {certify(who, "\"k\"", 1, NULL), "k", GUN__FW_CERT, "Certificate expired."},
        {certify(who, "\"other\"", 0, NULL), "k", GUN__FW_CERT, "Certificate verification fail."},
        {certify("\"*\"", "\"k\"", 0, "\"blocklist\""), "k", GUN__FW_CERT, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        gun__json *v = signed_val(soul, cases[i].key, "\"hi\"", st, &bob, cases[i].cert);
        gun__fw_result r;
        cr_assert_eq(gun__fw_check_key(fw, S(soul), S(cases[i].key), v, st, 1e12, lookup, NULL,
                                       &r),
                     GUN_OK);
        cr_expect_eq(r.kind, cases[i].kind, "case %zu: %d %s", i, r.kind, r.why ? r.why : "");
        if (cases[i].why)
            cr_expect_str_eq(r.why ? r.why : "", cases[i].why, "case %zu", i);
        else {
            snprintf(why, sizeof why, "Certificant %s blocked.", bob.pub);
            cr_expect_str_eq(r.why ? r.why : "", why, "case %zu", i);
        }
        gun__json_free(v);
    }
    /* the same block list does not block alice's own certificate for a stranger */
    gun_sea_pair carol;
    gun_sea_pair_generate(&carol);
    gun__json *v = signed_val(soul, "k", "\"hi\"", st, &carol, cases[4].cert);
    gun__fw_result r;
    gun__fw_check_key(fw, S(soul), S("k"), v, st, 1e12, lookup, NULL, &r);
    cr_expect_eq(r.kind, GUN__FW_PASS);
    gun__json_free(v);
    /* a certificate by someone else than the owner: Gun.js drops it without an answer */
    gun__json *fake = NULL;
    {
        gun__json *c = js("\"*\""), *p = js("\"k\"");
        gun__buf out;
        gun__buf_init(&out);
        gun__err e;
        cr_assert_eq(gun__sea_certify(c, p, &bob, 0, NULL, &out, &e), GUN_OK);
        gun__sea_parse(out.p, out.len, &fake, &e);
        gun__buf_free(&out);
        gun__json_free(c), gun__json_free(p);
    }
    v = signed_val(soul, "k", "\"hi\"", st, &bob, fake);
    cr_expect_eq(check(soul, "k", v, st, why), GUN__FW_CERT_DROP);
    cr_expect_str_eq(why, "");
    gun__json_free(v);
    gun__json_free(fake);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        gun__json_free(cases[i].cert);
}

Test(firewall, content_hash)
{
    char why[256];
    gun__json *v = js("\"hello\"");
    unsigned char h[32];
    gun__sea_sha256("hello", 5, h);
    char b64[45];
    b64[gun__sea_b64_to(b64, h, 32, 0)] = 0;
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", h[i]);
    char key[100];
    cr_expect_eq(check("#", b64, v, 1, why), GUN__FW_PASS);
    snprintf(key, sizeof key, "prefix#%s", b64);
    cr_expect_eq(check("#", key, v, 1, why), GUN__FW_PASS);
    cr_expect_eq(check("#", hex, v, 1, why), GUN__FW_PASS);
    cr_expect_eq(check("#", "bogus", v, 1, why), GUN__FW_HASH);
    cr_expect_str_eq(why, "Data hash not same as hash!");
    cr_expect_eq(check("a#b", "bogus", v, 1, why), GUN__FW_HASH);
    /* a non-string value hashes its JSON */
    gun__json *n = js("5");
    gun__sea_sha256("5", 1, h);
    b64[gun__sea_b64_to(b64, h, 32, 0)] = 0;
    cr_expect_eq(check("#", b64, n, 1, why), GUN__FW_PASS);
    gun__json_free(v), gun__json_free(n);
}

Test(firewall, forget_old)
{
    gun__json *v = js("\"x\"");
    gun__fw_result r;
    double now = 1700000000000;
    gun__fw_check_key(fw, S("a<?9"), S("k"), v, now - 10000, now, NULL, NULL, &r);
    cr_expect_eq(r.kind, GUN__FW_OMIT);
    gun__fw_check_key(fw, S("a<?9"), S("k"), v, now - 1000, now, NULL, NULL, &r);
    cr_expect_eq(r.kind, GUN__FW_PASS);
    gun__fw_check_key(fw, S("a<?x"), S("k"), v, 1, now, NULL, NULL, &r);
    cr_expect_eq(r.kind, GUN__FW_PASS);
    /* not omitted on a pub soul: then it must still be signed */
    char soul[200];
    snprintf(soul, sizeof soul, "~%s/b<?9", alice.pub);
    gun__fw_check_key(fw, S(soul), S("k"), v, now, now, NULL, NULL, &r);
    cr_expect_eq(r.kind, GUN__FW_UNVERIFIED);
    gun__json_free(v);
}

Test(firewall, other_souls_pass)
{
    char why[256];
    gun__json *v = js("\"x\"");
    cr_expect_eq(check("plain", "k", v, 1, why), GUN__FW_PASS);
    cr_expect(!gun__fw_applies(S("plain")));
    cr_expect(gun__fw_applies(S("~@a")));
    cr_expect(gun__fw_applies(S("#")));
    cr_expect(gun__fw_applies(S("x<?5")));
    cr_expect(gun__fw_applies(S(owner_soul(&alice, "/a"))));
    gun__json_free(v);
}

Test(firewall, whole_put_and_omit)
{
    double now = 1700000000000;
    const char *soul = owner_soul(&alice, "");
    gun__json *v = signed_val(soul, "says", "\"hello\"", now, &alice, NULL);
    gun__buf b;
    gun__buf_init(&b);
    gun__buf_printf(&b,
                    "{\"old<?1\":{\"_\":{\"#\":\"old<?1\",\">\":{\"a\":1,\"b\":%.17g}},\"a\":1,\"b\":2},"
                    "\"%s\":{\"_\":{\"#\":\"%s\",\">\":{\"says\":%.17g}},\"says\":",
                    now, soul, soul, now);
    gun__json_write_str(&b, v->u.s.p, v->u.s.len);
    gun__buf_adds(&b, "}}");
    gun__json *put = js(b.p);
    gun__fw_result r;
    size_t omitted;
    cr_assert_eq(gun__fw_check_put(fw, put, now, NULL, NULL, &r, &omitted), GUN_OK);
    cr_expect_eq(r.kind, GUN__FW_PASS);
    cr_expect_eq(omitted, 1);
    gun__json *n = gun__json_obj_getc(put, "old<?1");
    cr_expect_null(gun__json_obj_getc(n, "a"));
    cr_expect_not_null(gun__json_obj_getc(n, "b"));
    /* one bad key refuses the whole put */
    gun__json *node = gun__json_obj_get(put, soul, strlen(soul));
    gun__json_obj_set(node, "says", 4, gun__json_str("x", 1));
    cr_assert_eq(gun__fw_check_put(fw, put, now, NULL, NULL, &r, &omitted), GUN_OK);
    cr_expect_eq(r.kind, GUN__FW_UNVERIFIED);
    cr_expect_str_eq(r.why, "Unverified data.");
    gun__buf_free(&b);
    gun__json_free(put), gun__json_free(v);
}

Test(firewall, key_cache_lru)
{
    char why[256];
    double st = 1700000000000;
    gun_sea_pair carol;
    gun_sea_pair_generate(&carol);
    const gun_sea_pair *who[] = {&alice, &bob, &alice, &carol, &alice, &bob};
    for (size_t i = 0; i < 6; i++) {
        const char *soul = owner_soul(who[i], "");
        gun__json *v = signed_val(soul, "k", "1", st, who[i], NULL);
        cr_expect_eq(check(soul, "k", v, st, why), GUN__FW_PASS);
        gun__json_free(v);
    }
    uint64_t loads, hits;
    gun__fw_cache_stats(fw, &loads, &hits);
    /* cache of 2: alice, bob, alice(hit), carol (evicts bob), alice(hit), bob (load) */
    cr_expect_eq(loads, 4);
    cr_expect_eq(hits, 2);
}

/* SEA users in C: two users, alice and bob, each on their own instance, sync through a
 * relay. Alice creates her account, writes signed data into her graph, and sends bob a
 * message only he can read (ECDH secret + AES-GCM), as Gun.js apps do with SEA.secret and
 * SEA.encrypt. Any Gun.js client can log into these accounts and read the same data.
 *
 *   sea_user [RELAY_URL]     without a URL, a relay runs inside this process
 *
 * Exit status 0 when bob read alice's profile and decrypted her message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "gun.h"

#define T 15000 /* ms: each read and write through the relay */

static int fail(const char *what, int rc)
{
    fprintf(stderr, "sea_user: %s: %s\n", what, gun_strerror(rc));
    return 1;
}

static gun_t *open_peer(const char *url)
{
    const char *peers[] = {url};
    gun_opts o;
    gun_opts_init(&o);
    o.peers = peers;
    o.npeers = 1;
    gun_t *g = NULL;
    if (gun_open(&g, &o) != GUN_OK || gun_wait_connected(g, T) != GUN_OK)
        return NULL;
    return g;
}

/* The string at soul/key (a JSON string value) into out; 0 on success. */
static int read_string(gun_t *g, const char *soul, const char *key, char *out, size_t cap)
{
    gun_chain *c;
    char *json = NULL;
    int rc = gun_get(g, soul, &c);
    if (!rc)
        rc = gun_chain_get(c, key, &c);
    if (!rc)
        rc = gun_get_sync(c, T, &json);
    if (rc)
        return rc;
    json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
    rc = json_is_string(v) && strlen(json_string_value(v)) < cap ? GUN_OK : GUN_EJSON;
    if (!rc)
        strcpy(out, json_string_value(v));
    json_decref(v);
    gun_free(json);
    return rc;
}

int main(int argc, char **argv)
{
    char url[128], alias[64], bob_alias[64], soul[128];
    gun_t *relay = NULL;
    if (argc > 1) {
        snprintf(url, sizeof url, "%s", argv[1]);
    } else {
        gun_opts o;
        gun_opts_init(&o);
        o.super_peer = 1;
        o.port = 0;
        o.host = "127.0.0.1";
        if (gun_open(&relay, &o) != GUN_OK)
            return fail("relay", GUN_EIO);
        snprintf(url, sizeof url, "ws://127.0.0.1:%d/gun", gun_port(relay));
    }
    gun_t *a = open_peer(url), *b = open_peer(url);
    if (!a || !b)
        return fail("connect", GUN_ETIMEDOUT);
    srand((unsigned)time(NULL));
    snprintf(alias, sizeof alias, "alice-%d", rand());
    snprintf(bob_alias, sizeof bob_alias, "bob-%d", rand());

    /* 1. Accounts: gun.user().create(alias, pass); both stay logged in. */
    char alice_pub[88], bob_pub[88];
    int rc = gun_user_create(a, alias, "alice's long password", T, alice_pub);
    if (rc)
        return fail("create alice", rc);
    if ((rc = gun_user_create(b, bob_alias, "bob's long password", T, bob_pub)))
        return fail("create bob", rc);
    printf("alice is ~%s\n", alice_pub);

    /* 2. Signed data: every key alice writes under her graph is signed for her pub. */
    gun_chain *me, *profile;
    gun_user(a, &me);
    gun_chain_get(me, "profile", &profile);
    if ((rc = gun_put_sync(profile, "{\"name\":\"Alice\",\"city\":\"Lisbon\"}", T)))
        return fail("put profile", rc);

    /* bob reads it back as plain values (the relay checked every signature) */
    char name[64];
    snprintf(soul, sizeof soul, "~%s/profile", alice_pub);
    if ((rc = read_string(b, soul, "name", name, sizeof name)))
        return fail("bob reads alice's name", rc);
    printf("bob reads alice's name: %s\n", name);

    /* 3. A message for bob: secret(bob's epub, alice's pair), then encrypt with it. */
    char bob_epub[88], secret[44], *box = NULL;
    snprintf(soul, sizeof soul, "~%s", bob_pub);
    if ((rc = read_string(a, soul, "epub", bob_epub, sizeof bob_epub)))
        return fail("bob's epub", rc);
    gun_sea_pair pair;
    gun_user_pair(a, &pair);
    rc = gun_sea_secret(bob_epub, &pair, secret);
    gun_sea_pair_wipe(&pair);
    if (!rc)
        rc = gun_sea_encrypt("meet me at the harbour at noon", secret, 0, &box);
    memset(secret, 0, sizeof secret);
    if (rc)
        return fail("encrypt", rc);
    json_t *js = json_string(box);
    char *quoted = json_dumps(js, JSON_ENCODE_ANY);
    json_decref(js);
    gun_chain *out;
    gun_chain_get(me, "for_bob", &out);
    rc = gun_put_sync(out, quoted, T); /* signed like any of alice's values */
    free(quoted);
    gun_sea_free(box);
    if (rc)
        return fail("put message", rc);

    /* bob: the same secret from alice's epub and his own pair opens it */
    char alice_epub[88], sealed[1024], *plain = NULL;
    snprintf(soul, sizeof soul, "~%s", alice_pub);
    if ((rc = read_string(b, soul, "epub", alice_epub, sizeof alice_epub)) ||
        (rc = read_string(b, soul, "for_bob", sealed, sizeof sealed)))
        return fail("bob reads the message", rc);
    gun_user_pair(b, &pair);
    rc = gun_sea_secret(alice_epub, &pair, secret);
    gun_sea_pair_wipe(&pair);
    if (!rc)
        rc = gun_sea_decrypt(sealed, secret, &plain);
    memset(secret, 0, sizeof secret);
    if (rc)
        return fail("decrypt", rc);
    printf("bob decrypts: %s\n", plain); /* JSON: "meet me at the harbour at noon" */
    gun_sea_free(plain);

    gun_close(a);
    gun_close(b);
    gun_close(relay);
    return 0;
}

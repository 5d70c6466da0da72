/* The Rust port's basic example in C: open an instance, write "Alice" at user/alice, read
 * it back once, and close.
 *
 *   gun.get("user").get("alice").put("Alice")   ->  node "user" gets alice: "Alice"
 *   gun.get("user").get("alice").once(...)      ->  "Alice"
 *
 * As in Gun.js, a primitive is stored as a key of the node above it: "user" is a node
 * (a soul) and "alice" one of its keys. Callbacks run on the instance's loop thread, so
 * this program waits for them with a semaphore. */
#include <stdio.h>
#include <stdlib.h>

#include <uv.h>

#include "gun.h"

typedef struct done {
    uv_sem_t sem;
    int err;
} done;

static void on_ack(const gun_ack *ack, void *arg)
{
    done *d = arg;
    d->err = ack->err;
    if (ack->err)
        fprintf(stderr, "put failed: %s\n", ack->err_text);
    else
        printf("put ok (node %s)\n", ack->soul);
    uv_sem_post(&d->sem);
}

static void on_once(const char *json, const char *key, void *arg)
{
    done *d = arg;
    /* json and key are lent for the call: copy them to keep them. */
    printf("User: %s = %s\n", key, json ? json : "(not found)");
    uv_sem_post(&d->sem);
}

int main(void)
{
    gun_t *gun;
    gun_chain *user, *alice;
    done d = {.err = 0};
    int rc;

    if ((rc = gun_open(&gun, NULL)) != GUN_OK) {
        fprintf(stderr, "gun_open: %s\n", gun_strerror(rc));
        return 1;
    }
    uv_sem_init(&d.sem, 0);
    if ((rc = gun_get(gun, "user", &user)) != GUN_OK ||
        (rc = gun_chain_get(user, "alice", &alice)) != GUN_OK) {
        fprintf(stderr, "chain: %s\n", gun_strerror(rc));
        gun_close(gun);
        return 1;
    }

    /* Data is JSON text: the string "Alice" is "\"Alice\"". */
    rc = gun_put(alice, "\"Alice\"", on_ack, &d);
    if (rc != GUN_OK) {
        fprintf(stderr, "gun_put: %s\n", gun_strerror(rc));
        gun_close(gun);
        return 1;
    }
    uv_sem_wait(&d.sem);

    gun_once(alice, on_once, &d);
    uv_sem_wait(&d.sem);

    /* The node itself, with Gun's "_" meta (soul and per-key states). */
    char *json = NULL;
    if (gun_get_sync(user, 2000, &json) == GUN_OK) {
        printf("Node user: %s\n", json);
        gun_free(json);
    }

    gun_close(gun);
    uv_sem_destroy(&d.sem);
    return d.err ? 1 : 0;
}

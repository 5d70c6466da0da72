/* The Rust port's two_clients example in C: two peers sync through one relay in real time.
 *
 *   two_clients [RELAY_URL]        default http://127.0.0.1:8765/gun
 *
 * Start a relay first (`gun relay`, or Gun.js's `node examples/http.js`). Then:
 *   1. Client 2 subscribes (gun_on) to a fresh node; client 1 writes a message there.
 *   2. The other way round: client 1 subscribes, client 2 writes.
 *   3. Client 1 writes five messages in a row; client 2 prints each as it arrives.
 * Each step waits at most a few seconds. The exit status is 0 when every message arrived
 * and every write was acknowledged by the relay, 1 otherwise.
 *
 * Callbacks run on each instance's loop thread, so what they see is handed to main()
 * under a mutex. Data arrives as JSON text; this example reads it with jansson (any JSON
 * parser will do). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "gun.h"

#define MESSAGES 5

typedef struct shared {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int got_from_client1; /* step 1 */
    int got_from_client2; /* step 2 */
    int counts_seen;      /* step 3: bit i set when message i arrived */
    int updates;          /* step 3: on() calls that carried a count */
    int acks, ack_errors;
} shared;

static shared S = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0, 0};

/* The wall-clock time ms from now, for pthread_cond_timedwait. */
static struct timespec deadline(int ms)
{
    struct timespec end;
    clock_gettime(CLOCK_REALTIME, &end);
    end.tv_sec += ms / 1000;
    end.tv_nsec += (ms % 1000) * 1000000L;
    if (end.tv_nsec >= 1000000000L) {
        end.tv_sec++;
        end.tv_nsec -= 1000000000L;
    }
    return end;
}

/* Waits until every bit of `want` is set in *flag (a field of S), at most ms; returns 1 if
 * they are. */
static int wait_for(const int *flag, int want, int ms)
{
    struct timespec end = deadline(ms);
    pthread_mutex_lock(&S.lock);
    while ((*flag & want) != want && pthread_cond_timedwait(&S.cond, &S.lock, &end) == 0)
        ;
    int ok = (*flag & want) == want;
    pthread_mutex_unlock(&S.lock);
    return ok;
}

static void on_ack(const gun_ack *ack, void *arg)
{
    const char *who = arg;
    pthread_mutex_lock(&S.lock);
    S.acks++;
    if (ack->err)
        S.ack_errors++;
    pthread_cond_broadcast(&S.cond);
    pthread_mutex_unlock(&S.lock);
    if (ack->err)
        printf("[%s] write failed: %s\n", who, ack->err_text);
    else
        printf("[%s] relay acknowledged the write to %s\n", who, ack->soul);
    fflush(stdout);
}

/* Steps 1 and 2: `arg` names the listening client; the node is {source, message, ...}. */
static void on_message(const char *json, const char *key, void *arg)
{
    const char *who = arg;
    json_t *node = json ? json_loads(json, JSON_DECODE_INT_AS_REAL, NULL) : NULL;
    const char *source = json_string_value(json_object_get(node, "source"));
    const char *message = json_string_value(json_object_get(node, "message"));
    if (source && message) {
        printf("[%s] Received data: source=%s, message=%s\n", who, source, message);
        pthread_mutex_lock(&S.lock);
        if (!strcmp(source, "client1") && !strcmp(who, "Client 2"))
            S.got_from_client1 = 1;
        if (!strcmp(source, "client2") && !strcmp(who, "Client 1"))
            S.got_from_client2 = 1;
        pthread_cond_broadcast(&S.cond);
        pthread_mutex_unlock(&S.lock);
        fflush(stdout);
    }
    json_decref(node);
}

/* Step 3: every update of the node, printed as it comes. */
static void on_count(const char *json, const char *key, void *arg)
{
    json_t *node = json ? json_loads(json, JSON_DECODE_INT_AS_REAL, NULL) : NULL;
    json_t *count = json_object_get(node, "count");
    const char *message = json_string_value(json_object_get(node, "message"));
    if (json_is_number(count)) {
        int c = (int)json_number_value(count);
        pthread_mutex_lock(&S.lock);
        S.updates++;
        if (c >= 1 && c <= MESSAGES)
            S.counts_seen |= 1 << (c - 1);
        int n = S.updates;
        pthread_cond_broadcast(&S.cond);
        pthread_mutex_unlock(&S.lock);
        printf("[Client 2] Received message #%d (count: %d, message=%s)\n", n, c,
               message ? message : "?");
        fflush(stdout);
    }
    json_decref(node);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The chain for soul `key`, or NULL (printed) on error. */
static gun_chain *node(gun_t *g, const char *key)
{
    gun_chain *c;
    int rc = gun_get(g, key, &c);
    if (rc != GUN_OK) {
        fprintf(stderr, "gun_get(%s): %s\n", key, gun_strerror(rc));
        return NULL;
    }
    return c;
}

static int open_client(gun_t **g, const char *name, const char *url)
{
    const char *peers[] = {url};
    gun_opts o;
    gun_opts_init(&o);
    o.peers = peers;
    o.npeers = 1;
    o.ack_timeout_ms = 5000;
    int rc = gun_open(g, &o);
    if (rc != GUN_OK) {
        fprintf(stderr, "[%s] gun_open: %s\n", name, gun_strerror(rc));
        return rc;
    }
    printf("[%s] Instance created, connecting to %s\n", name, url);
    rc = gun_wait_connected(*g, 5000);
    printf("[%s] Connected peers: %zu\n", name, gun_peer_count(*g));
    fflush(stdout);
    if (rc != GUN_OK)
        fprintf(stderr, "[%s] no connection to the relay: %s\n", name, gun_strerror(rc));
    return rc;
}

/* gun_put, then wait for its callback (which prints the relay's ack or the error). A write
 * that never reaches the callback shows as a missing ack at the end. */
static void put_and_wait(gun_chain *c, const char *json, const char *who)
{
    fflush(stdout);
    pthread_mutex_lock(&S.lock);
    int before = S.acks;
    pthread_mutex_unlock(&S.lock);
    int rc = gun_put(c, json, on_ack, (void *)who);
    if (rc != GUN_OK) {
        fprintf(stderr, "[%s] gun_put: %s\n", who, gun_strerror(rc));
        return;
    }
    /* The put callback has its own timeout (ack_timeout_ms); this bound is a safety net. */
    struct timespec end = deadline(8000);
    pthread_mutex_lock(&S.lock);
    while (S.acks == before && pthread_cond_timedwait(&S.cond, &S.lock, &end) == 0)
        ;
    pthread_mutex_unlock(&S.lock);
}

/* `who` subscribes to `key` on its instance `g`; NULL (printed) on error. */
static gun_chain *subscribe(gun_t *g, const char *key, gun_data_cb cb, const char *who)
{
    gun_chain *c = node(g, key);
    if (!c)
        return NULL;
    int rc = gun_on(c, cb, (void *)who);
    if (rc != GUN_OK) {
        fprintf(stderr, "[%s] gun_on: %s\n", who, gun_strerror(rc));
        return NULL;
    }
    printf("[%s] Subscribed to updates\n", who);
    fflush(stdout);
    sleep_ms(300); /* let the subscription reach the relay before the first write */
    return c;
}

int main(int argc, char **argv)
{
    const char *url = argc > 1 ? argv[1] : "http://127.0.0.1:8765/gun";
    gun_t *c1 = NULL, *c2 = NULL;
    gun_chain *w;
    char key[64], key2[96], key3[96], json[256];
    int ok = 0;

    printf("=== Two Client Relay Test ===\n");
    if (open_client(&c1, "Client 1", url) != GUN_OK ||
        open_client(&c2, "Client 2", url) != GUN_OK)
        goto out;

    long long ts = (long long)gun_state(c1);
    snprintf(key, sizeof key, "two_clients_test_%lld", ts);
    snprintf(key2, sizeof key2, "%s_bidirectional", key);
    snprintf(key3, sizeof key3, "%s_multiple", key);
    printf("\n=== Using test key: %s ===\n\n", key);

    /* 1. Client 2 listens, client 1 writes. */
    if (!subscribe(c2, key, on_message, "Client 2") || !(w = node(c1, key)))
        goto out;
    snprintf(json, sizeof json,
             "{\"source\":\"client1\",\"message\":\"Hello from Client 1!\",\"timestamp\":%lld}",
             ts);
    printf("[Client 1] Sending data...\n");
    put_and_wait(w, json, "Client 1");
    int got1 = wait_for(&S.got_from_client1, 1, 5000);
    printf(got1 ? "[Client 2] Received message from Client 1!\n"
                : "Client 2 did not receive data within 5 s\n");

    /* 2. The other way round. */
    printf("\n=== Testing bidirectional communication ===\n\n");
    if (!subscribe(c1, key2, on_message, "Client 1") || !(w = node(c2, key2)))
        goto out;
    snprintf(json, sizeof json,
             "{\"source\":\"client2\",\"message\":\"Hello back from Client 2!\","
             "\"timestamp\":%lld}",
             ts);
    printf("[Client 2] Sending data back to Client 1...\n");
    put_and_wait(w, json, "Client 2");
    int got2 = wait_for(&S.got_from_client2, 1, 5000);
    printf(got2 ? "[Client 1] Received message from Client 2!\n"
                : "Client 1 did not receive data within 5 s\n");

    /* 3. Several messages, printed by client 2 as they arrive. */
    printf("\n=== Testing multiple messages ===\n\n");
    if (!subscribe(c2, key3, on_count, "Client 2") || !(w = node(c1, key3)))
        goto out;
    for (int i = 1; i <= MESSAGES; i++) {
        snprintf(json, sizeof json,
                 "{\"source\":\"client1\",\"count\":%d,\"message\":\"Message number %d\"}", i, i);
        printf("[Client 1] Sending message %d...\n", i);
        put_and_wait(w, json, "Client 1");
        sleep_ms(150);
    }
    int all = wait_for(&S.counts_seen, (1 << MESSAGES) - 1, 5000);
    pthread_mutex_lock(&S.lock);
    int seen = 0;
    for (int i = 0; i < MESSAGES; i++)
        seen += (S.counts_seen >> i) & 1;
    int ack_errors = S.ack_errors, acks = S.acks;
    pthread_mutex_unlock(&S.lock);
    printf("\n[Client 2] Received %d of %d messages\n", seen, MESSAGES);
    int acked = !ack_errors && acks == MESSAGES + 2;
    if (!acked)
        printf("Writes acknowledged: %d of %d (%d failed)\n", acks - ack_errors, MESSAGES + 2,
               ack_errors);
    ok = got1 && got2 && all && acked;

    printf("\n=== Test Complete ===\n");
    printf("Client 1 connected peers: %zu\n", gun_peer_count(c1));
    printf("Client 2 connected peers: %zu\n", gun_peer_count(c2));
out:
    printf("%s\n", ok ? "SUCCESS: both clients synced through the relay"
                      : "FAILED: see the lines above");
    fflush(stdout);
    gun_close(c1);
    gun_close(c2);
    return ok ? 0 : 1;
}

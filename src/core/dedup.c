/* Message-id dedup (spec §3.3, src/dup.js): an id is "seen" for age ms after its last
 * sighting. A seeded hash table finds ids in O(1); an intrusive list kept in order of
 * last sighting (a refresh moves the entry to the tail) makes expiry and the cap's
 * eviction pop from the head in O(1) each.
 *
 * An entry is one allocation kept small: a relay tracks every message id of the last 9 s
 * (six per connection that greets and GETs), and 40 bytes of header put a 9-16 byte id in a
 * 64-byte malloc chunk where 56 took 80 (bench conns, docs/performance.md). So the hash is
 * not stored (recomputed on a removal or a resize) and the time is kept in 32 bits. */
#include "core.h"

#include <string.h>

typedef struct dlink {
    struct dlink *prev, *next; /* sighting order, oldest first */
} dlink;

typedef struct dent {
    dlink l;            /* first: a dlink * of an entry is its dent * */
    struct dent *hnext; /* bucket chain */
    uint64_t via; /* the peer it first came from (opaque serial), 0 = none recorded */
    uint32_t was; /* last sighting, ms, low 32 bits (see expired) */
    uint32_t len;
    char id[];
} dent;

struct gun__dedup {
    uint32_t age, max;
    dent **tab;
    size_t nb; /* buckets, a power of two */
    size_t n;
    dlink head; /* list sentinel: head.next is the oldest */
    uint64_t key[2];
};

#define MIN_BUCKETS 64

gun__dedup *gun__dedup_new(uint32_t age_ms, uint32_t max)
{
    gun__dedup *d = gun__calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->tab = gun__calloc(MIN_BUCKETS, sizeof *d->tab);
    if (!d->tab) {
        gun__free(d);
        return NULL;
    }
    d->nb = MIN_BUCKETS;
    d->age = age_ms;
    d->max = max;
    d->head.next = d->head.prev = &d->head;
    gun__hash_seed(d->key);
    return d;
}

void gun__dedup_free(gun__dedup *d)
{
    if (!d)
        return;
    dlink *x = d->head.next;
    while (x != &d->head) {
        dlink *nx = x->next;
        gun__free((dent *)x);
        x = nx;
    }
    gun__free(d->tab);
    gun__free(d);
}

static void list_unlink(dent *e)
{
    dlink *x = &e->l;
    x->prev->next = x->next;
    x->next->prev = x->prev;
}

static void list_append(gun__dedup *d, dent *e)
{
    dlink *x = &e->l;
    x->prev = d->head.prev;
    x->next = &d->head;
    d->head.prev->next = x;
    d->head.prev = x;
}

static dent *oldest(gun__dedup *d)
{
    return d->head.next == &d->head ? NULL : (dent *)d->head.next;
}

static uint64_t hash_of(const gun__dedup *d, const char *p, size_t len)
{
    return gun__hash64(p ? p : "", len, d->key);
}

static dent **find_slot(const gun__dedup *d, gun__str id, uint64_t h)
{
    dent **pp = &d->tab[h & (d->nb - 1)];
    while (*pp) {
        dent *x = *pp;
        if (x->len == id.len && (id.len == 0 || memcmp(x->id, id.p, id.len) == 0))
            return pp;
        pp = &x->hnext;
    }
    return pp;
}

static void remove_entry(gun__dedup *d, dent *x)
{
    dent **pp = &d->tab[hash_of(d, x->id, x->len) & (d->nb - 1)];
    while (*pp != x)
        pp = &(*pp)->hnext;
    *pp = x->hnext;
    list_unlink(x);
    d->n--;
    gun__free(x);
}

/* The difference of the low 32 bits, signed: right while sightings are less than 24 days
 * apart (expiry runs every second), and a clock read earlier than the sighting is, as
 * before, not past it. */
static int expired(const gun__dedup *d, const dent *x, uint64_t now)
{
    int32_t since = (int32_t)((uint32_t)now - x->was);
    return since >= 0 && (uint32_t)since >= d->age;
}

/* Doubling is optional: when it cannot allocate, chains just get longer. */
static void grow(gun__dedup *d)
{
    size_t nb = d->nb * 2;
    dent **tab = gun__calloc(nb, sizeof *tab);
    if (!tab)
        return;
    for (size_t i = 0; i < d->nb; i++) {
        dent *x = d->tab[i];
        while (x) {
            dent *nx = x->hnext;
            uint64_t h = hash_of(d, x->id, x->len);
            x->hnext = tab[h & (nb - 1)];
            tab[h & (nb - 1)] = x;
            x = nx;
        }
    }
    gun__free(d->tab);
    d->tab = tab;
    d->nb = nb;
}

int gun__dedup_check(gun__dedup *d, gun__str id, uint64_t now_ms)
{
    uint64_t h = hash_of(d, id.p, id.len);
    dent *x = *find_slot(d, id, h);
    if (!x)
        return 0;
    if (expired(d, x, now_ms)) {
        remove_entry(d, x);
        return 0;
    }
    x->was = (uint32_t)now_ms; /* dup.check re-tracks: each sighting restarts the window */
    list_unlink(x);
    list_append(d, x);
    return 1;
}

int gun__dedup_track(gun__dedup *d, gun__str id, uint64_t now_ms)
{
    return gun__dedup_track_via(d, id, 0, now_ms);
}

int gun__dedup_track_via(gun__dedup *d, gun__str id, uint64_t via, uint64_t now_ms)
{
    uint64_t h = hash_of(d, id.p, id.len);
    dent **pp = find_slot(d, id, h);
    if (*pp) {
        dent *x = *pp;
        if (expired(d, x, now_ms))
            x->via = 0; /* a new sighting after the window: an old route means nothing */
        x->was = (uint32_t)now_ms;
        if (!x->via)
            x->via = via; /* Gun.js sets dup.s[id].via once, on the first hearing */
        list_unlink(x);
        list_append(d, x);
        return GUN_OK;
    }
    if (id.len > UINT32_MAX)
        return GUN_ENOMEM;
    dent *x = gun__malloc(sizeof *x + id.len);
    if (!x)
        return GUN_ENOMEM;
    x->was = (uint32_t)now_ms;
    x->via = via;
    x->len = (uint32_t)id.len;
    if (id.len)
        memcpy(x->id, id.p, id.len);
    x->hnext = NULL;
    *pp = x; /* pp is the chain's tail: find_slot ran to the end */
    list_append(d, x);
    d->n++;
    if (d->max && d->n > d->max)
        remove_entry(d, oldest(d));
    if (d->n > d->nb)
        grow(d);
    return GUN_OK;
}

uint64_t gun__dedup_via(const gun__dedup *d, gun__str id, uint64_t now_ms)
{
    uint64_t h = hash_of(d, id.p, id.len);
    const dent *x = *find_slot(d, id, h);
    return x && !expired(d, x, now_ms) ? x->via : 0;
}

size_t gun__dedup_expire(gun__dedup *d, uint64_t now_ms)
{
    dent *x;
    while ((x = oldest(d)) && expired(d, x, now_ms))
        remove_entry(d, x);
    return d->n;
}

size_t gun__dedup_count(const gun__dedup *d) { return d->n; }

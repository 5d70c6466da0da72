/* sea users: Gun.js's gun.user() on the chain API (sea.js create.js, auth.js, and the
 * signing half of index.js check.pub).
 *
 * One user per instance, as one gun.user() per Gun root. The account record follows
 * user.create byte for byte: `~<pub>` holds pub (plain), alias, epub and auth (each signed
 * for its soul, key and state, spec 5.10), auth being the text {"ek":<encrypted
 * {epriv,priv}>,"s":<64-char salt>} with the key from PBKDF2(password, salt); `~@<alias>`
 * links to `~<pub>`. Logging in reads those back, so a Gun.js client and this library can
 * log into each other's accounts.
 *
 * Threads: create and auth block their caller (reads and writes go through the loop with
 * gun_get_sync / gun_put_sync; PBKDF2 runs on the caller's thread, never on the loop).
 * gun__user_sign and gun__sea_unpack run on the loop thread. The pair is guarded by
 * u->mu; create/auth of one instance are serialised by u->op. */
#include <string.h>

#include <openssl/crypto.h>

#include "../chain/chain.h"
#include "sea.h"

#define SALT_LEN 64 /* String.random(64) in user.create */
#define MIN_PASS 8  /* "Password too short!" below 8 UTF-16 units */

struct gun__user {
    uv_mutex_t mu; /* pair, in, alias */
    uv_mutex_t op; /* one create/auth at a time */
    int in;
    gun_sea_pair pair;
    gun__fw *fw; /* loop thread only: checks local writes into user graphs */
};

int gun__user_new(gun__user **out)
{
    *out = NULL;
    gun__user *u = gun__calloc(1, sizeof *u);
    if (!u)
        return GUN_ENOMEM;
    if (uv_mutex_init(&u->mu)) {
        gun__free(u);
        return GUN_ENOMEM;
    }
    if (uv_mutex_init(&u->op)) {
        uv_mutex_destroy(&u->mu);
        gun__free(u);
        return GUN_ENOMEM;
    }
    *out = u;
    return GUN_OK;
}

void gun__user_free(gun__user *u)
{
    if (!u)
        return;
    gun_sea_pair_wipe(&u->pair);
    gun__fw_free(u->fw);
    uv_mutex_destroy(&u->mu);
    uv_mutex_destroy(&u->op);
    gun__free(u);
}

/* Copies the logged-in pair into *out (wipe it after use); 0 when nobody is logged in. */
static int pair_get(gun__user *u, gun_sea_pair *out)
{
    uv_mutex_lock(&u->mu);
    int in = u->in;
    if (in)
        *out = u->pair;
    uv_mutex_unlock(&u->mu);
    return in;
}

static void pair_set(gun__user *u, const gun_sea_pair *p)
{
    uv_mutex_lock(&u->mu);
    gun_sea_pair_wipe(&u->pair);
    if (p)
        u->pair = *p;
    u->in = p != NULL;
    uv_mutex_unlock(&u->mu);
}

/* ---- reads: the plain value of a signed one ---- */

static int is_alias_soul(gun__str soul)
{
    return soul.len >= 2 && soul.p[0] == '~' && soul.p[1] == '@';
}

int gun__sea_unpack(gun__str soul, const gun__val *in, gun__val *out)
{
    /* Cheap tests first: this runs for every value a listener reads. */
    if (in->t != GUN__V_STR || in->s.len < 8 || in->s.p[0] != '{' ||
        !memchr(soul.p, '~', soul.len) || is_alias_soul(soul))
        return 0;
    gun__buf pub;
    gun__buf_init(&pub);
    int owned = gun__sea_soul_pub(soul.p, soul.len, &pub);
    int oom = pub.oom;
    gun__buf_free(&pub);
    if (oom)
        return GUN_ENOMEM;
    if (!owned)
        return 0;
    gun__json *w = NULL;
    gun__err e;
    int rc = gun__sea_parse(in->s.p, in->s.len, &w, &e);
    if (rc == GUN_ENOMEM)
        return rc;
    const gun__json *v = rc ? NULL : gun__json_obj_getc(w, ":");
    gun__val plain;
    int r = 0;
    if (v && gun__json_obj_getc(w, "~") && gun__val_from_json(v, &plain) == GUN_OK)
        r = gun__val_copy(out, &plain) == GUN_OK ? 1 : GUN_ENOMEM;
    gun__json_free(w);
    return r;
}

/* ---- writes: sign what the logged-in user writes into a user graph ---- */

/* A value that already carries a signature (sea.js keeps those when they verify). */
static int looks_signed(const gun__json *v)
{
    if (!v || v->t != GUN__J_STR || !v->u.s.len || v->u.s.p[0] != '{')
        return 0;
    gun__json *w = NULL;
    gun__err e;
    int r = gun__sea_parse(v->u.s.p, v->u.s.len, &w, &e) == GUN_OK &&
            gun__json_obj_getc(w, ":") && gun__json_obj_getc(w, "~");
    gun__json_free(w);
    return r;
}

static int fw_refuse(gun__fw_result *fr, gun__err *e)
{
    /* A certificate Gun.js would drop without a word still owes our caller one answer. */
    return gun__fail(e, GUN_EVERIFY, "%s", fr->why ? fr->why : "Certificate verification fail.");
}

int gun__user_sign(gun_t *g, gun__json *graph, const char *cert, gun__err *e)
{
    gun__user *u = g->user;
    gun_sea_pair me;
    gun__json *cj = NULL;
    int in = pair_get(u, &me), rc = GUN_OK;
    if (cert) {
        /* S.parse(opt.cert), kept only when it has m and s (check.pub) */
        rc = gun__sea_parse(cert, strlen(cert), &cj, e);
        if (!rc && !(gun__sea_truthy(gun__json_obj_getc(cj, "m")) &&
                     gun__sea_truthy(gun__json_obj_getc(cj, "s"))))
            rc = gun__fail(e, GUN_EINVAL, "not a certificate");
        if (rc)
            goto out;
    }
    if (!u->fw && (rc = gun__fw_new(&u->fw, 0, 0)) != GUN_OK)
        goto out;
    gun__buf pub, sig;
    gun__buf_init(&pub);
    gun__buf_init(&sig);
    for (size_t i = 0; i < graph->u.o.n && !rc; i++) {
        gun__str soul = {graph->u.o.m[i].key, graph->u.o.m[i].key_len};
        gun__json *node = graph->u.o.m[i].val;
        if (!gun__fw_applies(soul))
            continue;
        gun__buf_reset(&pub);
        int owned = !is_alias_soul(soul) && gun__sea_soul_pub(soul.p, soul.len, &pub);
        if (pub.oom) {
            rc = GUN_ENOMEM;
            break;
        }
        int mine = owned && in && pub.len == strlen(me.pub) && memcmp(pub.p, me.pub, pub.len) == 0;
        /* check.pub signs for the owner, and for anyone else only with a certificate */
        int sign = owned && in && (mine || cj);
        int account = soul.len == pub.len + 1 && owned; /* `~<pub>` itself: its pub is plain */
        const gun__json *st = gun__json_obj_getc(gun__json_obj_getc(node, "_"), ">");
        for (size_t k = 0; k < node->u.o.n && !rc; k++) {
            gun__jmember *m = &node->u.o.m[k];
            gun__str key = {m->key, m->key_len};
            if (!key.len || (key.len == 1 && key.p[0] == '_'))
                continue;
            const gun__json *sj = gun__json_obj_get(st, key.p, key.len);
            double state = sj && sj->t == GUN__J_NUM ? sj->u.n : 0;
            int plain_pub = account && key.len == 3 && memcmp(key.p, "pub", 3) == 0;
            if (sign && !plain_pub && !looks_signed(m->val)) {
                gun__buf_reset(&sig);
                rc = gun__sea_sign_put(soul.p, soul.len, key.p, key.len, m->val, state, &me,
                                       mine ? NULL : cj, &sig, e);
                gun__json *s = rc ? NULL : gun__json_str(sig.p, sig.len);
                if (!rc && !s)
                    rc = GUN_ENOMEM;
                if (rc)
                    break;
                gun__json_free(m->val);
                m->val = s;
                if (mine)
                    continue; /* just signed with our own key: nothing to check */
            }
            /* Everything else meets the rules a relay applies (and Gun.js applies to local
             * writes): foreign graphs, aliases, content hashes, values signed elsewhere. */
            gun__fw_result fr;
            rc = gun__fw_check_key(u->fw, soul, key, m->val, state, gun__now_ms(),
                                   gun__fw_store_lookup, &g->store, &fr);
            if (!rc && fr.kind != GUN__FW_PASS && fr.kind != GUN__FW_OMIT)
                rc = fw_refuse(&fr, e);
        }
    }
    gun__sea_buf_wipe(&sig);
    gun__buf_free(&pub);
out:
    if (rc == GUN_ENOMEM)
        gun__fail(e, rc, "out of memory");
    gun__json_free(cj);
    gun_sea_pair_wipe(&me);
    return rc;
}

/* ---- public ---- */

/* JS string length (UTF-16 units) of UTF-8 text. */
static size_t js_len(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p & 0xC0) != 0x80)
            n++;
        if (*p >= 0xF0)
            n++; /* an astral character is two UTF-16 units */
    }
    return n;
}

static int soul_chain(gun_t *g, const char *prefix, const char *name, gun_chain **out)
{
    gun__buf b;
    gun__buf_init(&b);
    gun__buf_adds(&b, prefix);
    gun__buf_adds(&b, name);
    int rc = b.oom ? GUN_ENOMEM : gun_get(g, b.p, out);
    gun__buf_free(&b);
    return rc;
}

/* Appends a JSON string member "k":"v" (v may be any UTF-8) with a leading comma. */
static void add_member(gun__buf *b, const char *k, const char *v, int comma)
{
    if (comma)
        gun__buf_addc(b, ',');
    gun__json_write_str(b, k, strlen(k));
    gun__buf_addc(b, ':');
    gun__json_write_str(b, v, strlen(v));
}

/* The `auth` text of a new account: {"ek":<SEA.encrypt({priv,epriv}, proof, raw)>,"s":salt}.
 * The private keys are stringified sorted (epriv, priv), as YSON does on node. */
static int make_auth(const gun_sea_pair *pair, const char *pass, gun__buf *auth, gun__err *e)
{
    char salt[SALT_LEN + 1];
    gun__buf keys, proof, ek;
    gun__buf_init(&keys);
    gun__buf_init(&proof);
    gun__buf_init(&ek);
    int rc = gun__random_id(salt, SALT_LEN) ? gun__fail(e, GUN_EIO, "no randomness") : GUN_OK;
    if (!rc)
        rc = gun__sea_work(pass, strlen(pass), salt, SALT_LEN, NULL, &proof, e);
    if (!rc) {
        gun__buf_reserve(&keys, 2 * GUN__SEA_PRIV_LEN + 32); /* no realloc copies of keys */
        gun__buf_addc(&keys, '{');
        add_member(&keys, "epriv", pair->epriv, 0);
        add_member(&keys, "priv", pair->priv, 1);
        gun__buf_addc(&keys, '}');
        rc = keys.oom || proof.oom ? GUN_ENOMEM
                                   : gun__sea_encrypt(keys.p, keys.len, proof.p, proof.len,
                                                      GUN_SEA_RAW, &ek, e);
    }
    if (!rc) {
        gun__buf_adds(auth, "{\"ek\":");
        gun__buf_add(auth, ek.p, ek.len);
        gun__buf_adds(auth, ",\"s\":\"");
        gun__buf_add(auth, salt, SALT_LEN);
        gun__buf_adds(auth, "\"}");
        rc = auth->oom ? GUN_ENOMEM : GUN_OK;
    }
    gun__sea_buf_wipe(&keys);
    gun__sea_buf_wipe(&proof);
    gun__buf_free(&ek);
    return rc;
}

static int create_locked(gun_t *g, const char *alias, const char *pass, int timeout_ms,
                         char pub_out[88])
{
    gun_chain *ac, *uc;
    char *found = NULL;
    int rc = soul_chain(g, "~@", alias, &ac);
    if (rc)
        return rc;
    /* user.create: root.get('~@'+alias).once(...) and refuse when it exists */
    rc = gun_get_sync(ac, timeout_ms, &found);
    gun_free(found);
    if (rc == GUN_OK)
        return GUN_EEXIST;
    if (rc != GUN_ENOTFOUND)
        return rc;
    gun_sea_pair pair;
    gun__buf auth, rec, link;
    gun__buf_init(&auth);
    gun__buf_init(&rec);
    gun__buf_init(&link);
    gun__err e = {0};
    rc = gun_sea_pair_generate(&pair);
    if (!rc)
        rc = make_auth(&pair, pass, &auth, &e);
    if (!rc) {
        gun__buf_addc(&rec, '{');
        add_member(&rec, "pub", pair.pub, 0);
        add_member(&rec, "alias", alias, 1);
        add_member(&rec, "epub", pair.epub, 1);
        add_member(&rec, "auth", auth.p, 1);
        gun__buf_addc(&rec, '}');
        gun__buf_adds(&link, "{\"~");
        gun__buf_adds(&link, pair.pub);
        gun__buf_adds(&link, "\":{\"#\":\"~");
        gun__buf_adds(&link, pair.pub);
        gun__buf_adds(&link, "\"}}");
        rc = rec.oom || link.oom ? GUN_ENOMEM : soul_chain(g, "~", pair.pub, &uc);
    }
    if (!rc) {
        /* As in act.c, the new pair signs from here on: the record's keys are signed by
         * the put hook like any write of the logged-in user. */
        pair_set(g->user, &pair);
        rc = gun_put_sync(uc, rec.p, timeout_ms);
        if (!rc)
            rc = gun_put_sync(ac, link.p, timeout_ms);
        if (rc)
            pair_set(g->user, NULL);
    }
    if (!rc)
        memcpy(pub_out, pair.pub, sizeof pair.pub);
    gun_sea_pair_wipe(&pair);
    gun__buf_free(&auth); /* only ciphertext and salt */
    gun__buf_free(&rec);
    gun__buf_free(&link);
    return rc;
}

int gun_user_create(gun_t *g, const char *alias, const char *pass, int timeout_ms,
                    char pub_out[88])
{
    if (pub_out)
        pub_out[0] = 0;
    if (!g || !alias || !*alias || !pass || !pub_out)
        return GUN_EINVAL;
    if (js_len(pass) < MIN_PASS)
        return GUN_EINVAL; /* "Password too short!" */
    if (gun__on_loop(g))
        return GUN_EDEADLK;
    uv_mutex_lock(&g->user->op);
    int rc = create_locked(g, alias, pass, timeout_ms, pub_out);
    uv_mutex_unlock(&g->user->op);
    return rc;
}

/* Tries one account node (its JSON as a listener reads it: signed values already plain)
 * for pass: work(pass, auth.s), decrypt(auth.ek), and a pair whose keys belong together. */
static int try_account(const char *pub, const char *node_json, const char *pass,
                       gun_sea_pair *out)
{
    gun__json *node = NULL, *auth = NULL;
    gun__buf proof, half, pj;
    gun__buf_init(&proof);
    gun__buf_init(&half);
    gun__buf_init(&pj);
    gun__err e;
    int rc = gun__sea_parse(node_json, strlen(node_json), &node, &e);
    const gun__json *a = rc ? NULL : gun__json_obj_getc(node, "auth");
    const gun__json *epub = rc ? NULL : gun__json_obj_getc(node, "epub");
    if (rc == GUN_ENOMEM)
        goto out;
    rc = GUN_EAUTH;
    if (!a || a->t != GUN__J_STR || !epub || epub->t != GUN__J_STR)
        goto out;
    if (gun__sea_parse(a->u.s.p, a->u.s.len, &auth, &e) == GUN_ENOMEM) {
        rc = GUN_ENOMEM;
        goto out;
    }
    const gun__json *ek = gun__json_obj_getc(auth, "ek");
    const gun__json *salt = gun__json_obj_getc(auth, "s");
    if (!ek || !salt || salt->t != GUN__J_STR)
        goto out;
    int r = gun__sea_work(pass, strlen(pass), salt->u.s.p, salt->u.s.len, NULL, &proof, &e);
    if (!r && !proof.oom)
        r = gun__sea_decrypt(ek, proof.p, proof.len, &half, &e);
    if (r == GUN_ENOMEM || proof.oom) {
        rc = GUN_ENOMEM;
        goto out;
    }
    if (r || half.oom)
        goto out;
    /* {"epriv","priv"} from the account, pub from the soul, epub from the record; the
     * consistency check refuses a record whose keys were swapped for someone else's. */
    gun__json *hj = NULL;
    if (gun__sea_parse(half.p, half.len, &hj, &e) == GUN_OK) {
        const gun__json *priv = gun__json_obj_getc(hj, "priv");
        const gun__json *epriv = gun__json_obj_getc(hj, "epriv");
        if (priv && epriv && priv->t == GUN__J_STR && epriv->t == GUN__J_STR) {
            gun__buf_reserve(&pj, 2 * 88 + 2 * 44 + 64);
            gun__buf_addc(&pj, '{');
            add_member(&pj, "pub", pub, 0);
            add_member(&pj, "epub", epub->u.s.p, 1);
            add_member(&pj, "priv", priv->u.s.p, 1);
            add_member(&pj, "epriv", epriv->u.s.p, 1);
            gun__buf_addc(&pj, '}');
            rc = pj.oom ? GUN_ENOMEM
                        : gun_sea_pair_from_json(pj.p, out) == GUN_OK ? GUN_OK : GUN_EAUTH;
        }
    }
    gun__sea_json_wipe(hj);
out:
    gun__sea_buf_wipe(&proof);
    gun__sea_buf_wipe(&half);
    gun__sea_buf_wipe(&pj);
    gun__json_free(auth);
    gun__json_free(node);
    return rc;
}

static int auth_locked(gun_t *g, const char *alias, const char *pass, int timeout_ms)
{
    gun_chain *ac;
    char *list = NULL;
    int rc = soul_chain(g, "~@", alias, &ac);
    if (!rc)
        rc = gun_get_sync(ac, timeout_ms, &list);
    if (rc == GUN_ENOTFOUND)
        return GUN_EAUTH; /* "Wrong user or password." */
    if (rc)
        return rc;
    gun__json *l = NULL;
    gun__err e;
    rc = gun__sea_parse(list, strlen(list), &l, &e);
    gun_free(list);
    if (rc)
        return rc == GUN_ENOMEM ? rc : GUN_EAUTH;
    /* Every account the alias lists, in order, until one opens with this password. */
    rc = GUN_EAUTH;
    for (size_t i = 0; l->t == GUN__J_OBJ && i < l->u.o.n && rc == GUN_EAUTH; i++) {
        const gun__json *lk = gun__json_obj_getc(l->u.o.m[i].val, "#");
        if (l->u.o.m[i].key_len == 1 && l->u.o.m[i].key[0] == '_')
            continue;
        if (!lk || lk->t != GUN__J_STR || !lk->u.s.len)
            continue;
        gun__buf pub;
        gun__buf_init(&pub);
        char *node = NULL;
        gun_chain *uc;
        int r = gun__sea_soul_pub(lk->u.s.p, lk->u.s.len, &pub) ? GUN_OK : GUN_ENOTFOUND;
        if (!r)
            r = pub.oom ? GUN_ENOMEM : gun_get(g, lk->u.s.p, &uc);
        if (!r)
            r = gun_get_sync(uc, timeout_ms, &node);
        if (!r) {
            gun_sea_pair pair;
            r = try_account(pub.p, node, pass, &pair);
            if (!r)
                pair_set(g->user, &pair);
            gun_sea_pair_wipe(&pair);
        }
        gun_free(node);
        gun__buf_free(&pub);
        if (r == GUN_OK || r == GUN_ENOMEM || r == GUN_ECLOSED)
            rc = r;
    }
    gun__json_free(l);
    return rc;
}

int gun_user_auth(gun_t *g, const char *alias, const char *pass, int timeout_ms)
{
    if (!g || !alias || !*alias || !pass)
        return GUN_EINVAL;
    if (gun__on_loop(g))
        return GUN_EDEADLK;
    uv_mutex_lock(&g->user->op);
    int rc = auth_locked(g, alias, pass, timeout_ms);
    uv_mutex_unlock(&g->user->op);
    return rc;
}

int gun_user_auth_pair(gun_t *g, const gun_sea_pair *pair)
{
    if (!g || !pair)
        return GUN_EINVAL;
    /* Refuse pairs whose halves do not belong together: they would sign for one key and
     * decrypt with another. The JSON round trip is the existing check. */
    char *j = NULL;
    gun_sea_pair chk;
    int rc = gun_sea_pair_to_json(pair, &j);
    if (!rc)
        rc = gun_sea_pair_from_json(j, &chk);
    gun_sea_free(j);
    if (!rc)
        pair_set(g->user, &chk);
    gun_sea_pair_wipe(&chk);
    return rc;
}

int gun_user_leave(gun_t *g)
{
    if (!g)
        return GUN_EINVAL;
    pair_set(g->user, NULL);
    return GUN_OK;
}

int gun_user_is(gun_t *g, char pub_out[88])
{
    if (pub_out)
        pub_out[0] = 0;
    if (!g || !pub_out)
        return GUN_EINVAL;
    gun_sea_pair p;
    int in = pair_get(g->user, &p);
    if (in)
        memcpy(pub_out, p.pub, sizeof p.pub);
    gun_sea_pair_wipe(&p);
    return in ? GUN_OK : GUN_ENOTFOUND;
}

int gun_user_pair(gun_t *g, gun_sea_pair *out)
{
    if (!g || !out)
        return GUN_EINVAL;
    memset(out, 0, sizeof *out);
    return pair_get(g->user, out) ? GUN_OK : GUN_ENOTFOUND;
}

int gun_user(gun_t *g, gun_chain **out)
{
    char pub[88];
    if (!out)
        return GUN_EINVAL;
    int rc = gun_user_is(g, pub);
    return rc ? rc : soul_chain(g, "~", pub, out);
}

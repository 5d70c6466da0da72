/* Frames -> messages. A frame is one message object or a batch array of them (Gun.js looks
 * at the first character only: '{' or '['). Messages are views into their own object. */
#include <math.h>
#include <string.h>

#include "wire.h"

static gun__str str_field(const gun__json *obj, const char *key)
{
    const gun__json *v = gun__json_obj_getc(obj, key);
    gun__str s = {0};
    if (v && v->t == GUN__J_STR)
        s.p = v->u.s.p, s.len = v->u.s.len;
    return s;
}

void gun__msg_bind(gun__msg *m)
{
    const gun__json *o = m->obj;
    m->id = str_field(o, "#");
    m->ack = str_field(o, "@");
    m->dam = str_field(o, "dam");
    m->pid = str_field(o, "pid");
    m->seen = str_field(o, "><");
    m->put = gun__json_obj_getc(o, "put");
    m->get = gun__json_obj_getc(o, "get");
    m->ok = gun__json_obj_getc(o, "ok");
    m->err = gun__json_obj_getc(o, "err");
    m->pct = gun__json_obj_getc(o, "%");
    const gun__json *h = gun__json_obj_getc(o, "##");
    /* String.hash gives a signed 32-bit integer; anything else is not a hash we made. */
    m->has_hash = h && h->t == GUN__J_NUM && h->u.n >= -2147483648.0 &&
                  h->u.n <= 2147483647.0 && h->u.n == floor(h->u.n);
    m->hash = m->has_hash ? (int32_t)h->u.n : 0;
}

int gun__frame_parse(const char *text, size_t len, const gun__limits *lim, gun__msg **msgs,
                     size_t *n, size_t *skipped, gun__err *e)
{
    *msgs = NULL;
    *n = 0;
    if (skipped)
        *skipped = 0;
    size_t max_bytes;
    uint32_t max_depth;
    gun__limits_get(lim, &max_bytes, &max_depth);
    if (len > max_bytes)
        return gun__fail(e, GUN_ETOOBIG, "wire: frame of %zu bytes > cap %zu", len, max_bytes);
    if (!len || (text[0] != '{' && text[0] != '['))
        return gun__fail(e, GUN_ENOTMSG, "wire: frame starts with neither '{' nor '['");
    gun__json *j;
    int rc = gun__json_parse(text, len, lim, &j, e);
    if (rc)
        return rc;
    if (j->t == GUN__J_OBJ) {
        gun__msg *m = gun__calloc(1, sizeof *m);
        if (!m) {
            gun__json_free(j);
            return gun__fail(e, GUN_ENOMEM, "wire: out of memory");
        }
        m->obj = j;
        gun__msg_bind(m);
        *msgs = m;
        *n = 1;
        return GUN_OK;
    }
    /* A batch: move each object item out of the array into its own message. */
    size_t cnt = 0, bad = 0;
    for (size_t i = 0; i < j->u.a.n; i++)
        cnt += j->u.a.v[i]->t == GUN__J_OBJ;
    bad = j->u.a.n - cnt;
    gun__msg *m = NULL;
    if (cnt) {
        m = gun__calloc(cnt, sizeof *m);
        if (!m) {
            gun__json_free(j);
            return gun__fail(e, GUN_ENOMEM, "wire: out of memory");
        }
        size_t k = 0;
        for (size_t i = 0; i < j->u.a.n; i++) {
            if (j->u.a.v[i]->t != GUN__J_OBJ)
                continue;
            m[k].obj = j->u.a.v[i];
            j->u.a.v[i] = NULL;
            gun__msg_bind(&m[k++]);
        }
    }
    gun__json_free(j);
    *msgs = m;
    *n = cnt;
    if (skipped)
        *skipped = bad;
    return GUN_OK;
}

void gun__msgs_free(gun__msg *msgs, size_t n)
{
    if (!msgs)
        return;
    for (size_t i = 0; i < n; i++)
        gun__json_free(msgs[i].obj);
    gun__free(msgs);
}

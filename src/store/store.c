/* Store handles, the lex matcher and the record checks every backend shares. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int gun__store_open(gun__store *s, const gun__store_ops *ops, const gun__store_cfg *cfg,
                    gun__err *e)
{
    memset(s, 0, sizeof *s);
    if (!ops || ops->version != GUN__STORE_OPS_VERSION)
        return gun__fail(e, GUN_EINVAL, "store: ops table version %d, want %d",
                         ops ? ops->version : -1, GUN__STORE_OPS_VERSION);
    gun__store_cfg none = {0};
    void *st = NULL;
    int rc = ops->open(&st, cfg ? cfg : &none, e);
    if (rc != GUN_OK)
        return rc;
    s->ops = ops;
    s->st = st;
    return GUN_OK;
}

void gun__store_close(gun__store *s)
{
    if (s && s->ops) {
        s->ops->close(s->st);
        s->ops = NULL;
        s->st = NULL;
    }
}

/* Next UTF-16 code unit of WTF-8 text (malformed bytes as U+FFFD, as gun__utf16_cmp). */
static uint32_t unit_next(const char *p, size_t len, size_t *i, uint32_t *low)
{
    if (*low) {
        uint32_t u = *low;
        *low = 0;
        return u;
    }
    uint32_t cp;
    size_t n = gun__wtf8_decode(p + *i, len - *i, &cp);
    if (!n) {
        *i += 1;
        return 0xFFFD;
    }
    *i += n;
    if (cp >= 0x10000) {
        cp -= 0x10000;
        *low = 0xDC00 + (cp & 0x3FF);
        return 0xD800 + (cp >> 10);
    }
    return cp;
}

int gun__lex_has_prefix(gun__str key, gun__str prefix)
{
    if (prefix.len <= key.len && (prefix.len == 0 || memcmp(key.p, prefix.p, prefix.len) == 0))
        return 1;
    /* Not a byte prefix, yet JS's startsWith can still hold: a prefix ending in a lone
     * high surrogate matches the first half of an astral character in key. */
    size_t i = 0, j = 0;
    uint32_t li = 0, lj = 0;
    while (j < prefix.len || lj) {
        if (i >= key.len && !li)
            return 0;
        if (unit_next(prefix.p, prefix.len, &j, &lj) != unit_next(key.p, key.len, &i, &li))
            return 0;
    }
    return 1;
}

int gun__lex_match(const gun__lex *lex, gun__str key)
{
    if (!lex)
        return 1;
    if (lex->has_eq && !gun__str_eq(key, lex->eq))
        return 0;
    if (lex->has_prefix && !gun__lex_has_prefix(key, lex->prefix))
        return 0;
    if (lex->has_gte && gun__utf16_cmp(key.p, key.len, lex->gte.p, lex->gte.len) < 0)
        return 0;
    if (lex->has_lte && gun__utf16_cmp(key.p, key.len, lex->lte.p, lex->lte.len) > 0)
        return 0;
    return 1;
}

int gun__lex_below(const gun__lex *lex, gun__str key)
{
    if (!lex)
        return 0;
    if (lex->has_eq && gun__utf16_cmp(key.p, key.len, lex->eq.p, lex->eq.len) < 0)
        return 1;
    if (lex->has_prefix && gun__utf16_cmp(key.p, key.len, lex->prefix.p, lex->prefix.len) < 0)
        return 1;
    if (lex->has_gte && gun__utf16_cmp(key.p, key.len, lex->gte.p, lex->gte.len) < 0)
        return 1;
    return 0;
}

int gun__lex_above(const gun__lex *lex, gun__str key)
{
    if (!lex)
        return 0;
    if (lex->has_eq && gun__utf16_cmp(key.p, key.len, lex->eq.p, lex->eq.len) > 0)
        return 1;
    if (lex->has_prefix && gun__utf16_cmp(key.p, key.len, lex->prefix.p, lex->prefix.len) > 0 &&
        !gun__lex_has_prefix(key, lex->prefix))
        return 1;
    if (lex->has_lte && gun__utf16_cmp(key.p, key.len, lex->lte.p, lex->lte.len) > 0)
        return 1;
    return 0;
}

int gun__store_rec_check(const gun__store_rec *r, size_t i, const char *tag, gun__err *e)
{
    if (!r->soul.len || !r->soul.p || memchr(r->soul.p, 0, r->soul.len))
        return gun__fail(e, GUN_EINVAL, "store %s: record %zu: empty soul or NUL in soul", tag, i);
    if (r->key.len && (!r->key.p || memchr(r->key.p, 0, r->key.len)))
        return gun__fail(e, GUN_EINVAL, "store %s: record %zu: NUL in key", tag, i);
    if (!gun__wtf8_canonical(r->soul.p, r->soul.len) ||
        (r->key.len && !gun__wtf8_canonical(r->key.p, r->key.len)))
        return gun__fail(e, GUN_EINVAL,
                         "store %s: record %zu: soul or key is not valid UTF-8/WTF-8", tag, i);
    if (r->val.t > GUN__V_LINK)
        return gun__fail(e, GUN_EINVAL, "store %s: record %zu: bad value type", tag, i);
    if ((r->val.t == GUN__V_STR || r->val.t == GUN__V_LINK) && r->val.s.len && !r->val.s.p)
        return gun__fail(e, GUN_EINVAL, "store %s: record %zu: value without text", tag, i);
    return GUN_OK;
}

/* fsyncs a directory, so that entries just created in it survive a power loss. */
int gun__store_fsync_dir(const char *dir)
{
    int fd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    int err = fsync(fd) == 0 ? 0 : errno;
    close(fd);
    return err;
}

/* mkdir -p. Errors name the directory and the component that failed. */
int gun__store_mkdir_p(const char *path, const char *tag, gun__err *e)
{
    size_t len = strlen(path);
    char *p = gun__strndup(path, len);
    if (!p)
        return gun__fail(e, GUN_ENOMEM, "store %s: out of memory", tag);
    for (size_t i = 1; i <= len; i++) {
        if (i < len && p[i] != '/')
            continue;
        if (p[i - 1] == '/')
            continue;
        char c = p[i];
        p[i] = 0;
        int made = mkdir(p, 0755) == 0;
        if (!made && errno != EEXIST) {
            int err = errno;
            int rc = gun__fail(e, GUN_EIO, "store %s: cannot create data directory '%s' (at '%s'): %s",
                               tag, path, p, strerror(err));
            gun__free(p);
            return rc;
        }
        if (made) { /* the new directory's name lives in its parent */
            char *slash = strrchr(p, '/');
            int err = 0;
            if (slash) {
                char keep = slash[1];
                slash[1] = 0;
                err = gun__store_fsync_dir(p);
                slash[1] = keep;
            } else {
                err = gun__store_fsync_dir(".");
            }
            if (err) {
                int rc = gun__fail(e, GUN_EIO, "store %s: cannot sync the parent of '%s': %s",
                                   tag, p, strerror(err));
                gun__free(p);
                return rc;
            }
        }
        p[i] = c;
    }
    gun__free(p);
    struct stat sb;
    if (stat(path, &sb) != 0)
        return gun__fail(e, GUN_EIO, "store %s: data directory '%s': %s", tag, path,
                         strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return gun__fail(e, GUN_EIO, "store %s: data directory '%s' is not a directory", tag,
                         path);
    return GUN_OK;
}

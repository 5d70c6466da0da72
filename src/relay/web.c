/* gun relay --web DIR: the static files of a web app on the relay's port, replacing what
 * Gun.js's `Gun.serve(dir)` does for `examples/http.js` without its holes: Gun.js strips
 * runs of dots and then joins the URL onto the folder, lists directories under /gun/ and
 * serves its own package folder there. Here every request is either a regular file that
 * really lies inside DIR, root's index.html, or an error. lws has already percent-decoded
 * the path and collapsed `..` segments; the checks below do not rely on that, and nothing
 * is decoded a second time (a literal "%2e" stays a file name). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "relay.h"

/* Longest URL path taken; the Location header of a redirect must fit the transport's
 * header buffer. */
#define WEB_MAX_PATH 1024

typedef struct ctype_ext {
    const char *ext, *type;
} ctype_ext;

static const ctype_ext ctypes[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"webmanifest", "application/manifest+json"},
    {"txt", "text/plain; charset=utf-8"},
    {"md", "text/markdown; charset=utf-8"},
    {"csv", "text/csv; charset=utf-8"},
    {"xml", "application/xml"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"avif", "image/avif"},
    {"ico", "image/vnd.microsoft.icon"},
    {"wasm", "application/wasm"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"ttf", "font/ttf"},
    {"otf", "font/otf"},
    {"pdf", "application/pdf"},
    {"mp3", "audio/mpeg"},
    {"ogg", "audio/ogg"},
    {"wav", "audio/wav"},
    {"mp4", "video/mp4"},
    {"webm", "video/webm"},
    {"zip", "application/zip"},
    {"gz", "application/gzip"},
};

static const char *content_type(const char *name)
{
    const char *slash = strrchr(name, '/');
    const char *dot = strrchr(slash ? slash : name, '.');
    if (dot && dot[1]) {
        for (size_t i = 0; i < sizeof ctypes / sizeof ctypes[0]; i++)
            if (!strcasecmp(dot + 1, ctypes[i].ext))
                return ctypes[i].type;
    }
    return "application/octet-stream";
}

static int answer(gun__http_reply *r, int status, const char *text)
{
    r->ctype = "text/plain; charset=utf-8";
    gun__buf_adds(&r->body, text);
    return status;
}

/* 1 when path may name something inside the root: absolute, bounded, no control bytes or
 * backslashes, no empty, "." or ".." segments, and no dot-files but .well-known (keeps
 * .git, .env and editor droppings of a web folder private). */
static int path_ok(const char *path)
{
    size_t n = strlen(path);
    if (path[0] != '/' || n > WEB_MAX_PATH)
        return 0;
    for (const char *p = path; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch < 0x20 || ch == 0x7f || ch == '\\')
            return 0;
    }
    for (const char *seg = path + 1; *seg;) {
        size_t len = strcspn(seg, "/");
        if (seg[len] == '/' && len == 0)
            return 0; /* "//" */
        if (len && seg[0] == '.' && !(len == 11 && !strncmp(seg, ".well-known", 11)))
            return 0;
        seg += len;
        if (*seg == '/')
            seg++;
    }
    return 1;
}

/* 1 when the open file fd lies in the directory real (a realpath): asked of the kernel
 * about the file actually opened, so no symlink swapped in after a check can escape.
 * Without /proc (it is Linux's view of the fd) nothing is served: refusing is the safe
 * failure. */
static int inside(int fd, const char *real)
{
    char link[64], target[PATH_MAX + 1];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, PATH_MAX);
    if (n <= 0)
        return 0;
    target[n] = 0;
    size_t rl = strlen(real);
    if (rl == 1) /* the root is "/" */
        return target[0] == '/';
    return !strncmp(target, real, rl) && target[rl] == '/';
}

enum { OPEN_FILE, OPEN_MISSING, OPEN_DIR, OPEN_REFUSED };

/* Opens root + rel as a regular file inside real. O_NONBLOCK keeps a FIFO planted in the
 * folder from blocking the loop on open. */
static int open_in(const char *root, const char *real, const char *rel, int *fd, struct stat *st)
{
    char full[PATH_MAX];
    if ((size_t)snprintf(full, sizeof full, "%s%s", root, rel) >= sizeof full)
        return OPEN_REFUSED;
    *fd = open(full, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (*fd < 0)
        return errno == ENOENT || errno == ENOTDIR || errno == ENAMETOOLONG ? OPEN_MISSING
                                                                              : OPEN_REFUSED;
    int kind = OPEN_REFUSED;
    if (fstat(*fd, st) == 0 && inside(*fd, real))
        kind = S_ISREG(st->st_mode) ? OPEN_FILE : S_ISDIR(st->st_mode) ? OPEN_DIR : OPEN_REFUSED;
    if (kind != OPEN_FILE) {
        close(*fd);
        *fd = -1;
    }
    return kind;
}

static int serve_fd(gun__http_reply *r, int fd, const struct stat *st, const char *name)
{
    r->fd = fd;
    r->file_len = (uint64_t)st->st_size;
    r->ctype = content_type(name);
    r->cacheable = 1;
    return 200;
}

int gun__relay_web(const char *root, const char *method, const char *path, gun__http_reply *r)
{
    if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
        r->allow = "GET, HEAD";
        return answer(r, 405, "method not allowed\n");
    }
    if (!path_ok(path))
        return answer(r, 400, "bad path\n");
    char real[PATH_MAX];
    if (!realpath(root, real))
        return answer(r, 500, "web folder unavailable\n");

    char rel[WEB_MAX_PATH + sizeof "/index.html"];
    size_t n = strlen(path);
    memcpy(rel, path, n + 1);
    if (rel[n - 1] == '/')
        memcpy(rel + n, "index.html", sizeof "index.html");
    int fd = -1;
    struct stat st;
    int kind = open_in(root, real, rel, &fd, &st);
    if (kind == OPEN_FILE)
        return serve_fd(r, fd, &st, rel);
    if (kind == OPEN_REFUSED)
        return answer(r, 403, "forbidden\n");
    if (kind == OPEN_DIR && path[n - 1] != '/') {
        /* "/docs" → "/docs/" so that the page's relative links resolve inside it; a
         * directory without index.html falls through to the app's index, never a listing. */
        memcpy(rel + n, "/index.html", sizeof "/index.html");
        kind = open_in(root, real, rel, &fd, &st);
        if (kind == OPEN_FILE) {
            close(fd);
            r->location = gun__malloc(n + 2);
            if (!r->location)
                return answer(r, 500, "out of memory\n");
            memcpy(r->location, path, n);
            memcpy(r->location + n, "/", 2);
            return answer(r, 301, "moved\n");
        }
    }
    kind = open_in(root, real, "/index.html", &fd, &st);
    if (kind == OPEN_FILE)
        return serve_fd(r, fd, &st, "index.html");
    return answer(r, 404, "not found\n");
}

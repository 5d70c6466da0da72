/* relay: what `gun relay` adds to a peer — the HTTP endpoints on the same port. */
#ifndef GUN_RELAY_H
#define GUN_RELAY_H

#include "../transport/transport.h"

struct gun_s;

/* GET /health, /stats, /metrics, then static files when the instance has a web_root
 * (gun__http_cb shape; arg is the instance). */
int gun__relay_http(void *arg, const char *method, const char *path, gun__http_reply *r);

/* A static file of the directory `root` (lent) for GET or HEAD of `path` (percent-decoded,
 * no query): the file itself, DIR/index.html for a directory, a 301 to "path/" for a
 * directory named without its slash, or root's index.html for a path that names no file
 * (single-page apps route on the client). Refused, never served: `..` and `.` segments,
 * backslashes, control bytes, dot-files other than .well-known, and anything that resolves
 * outside root (symlinks included), checked on the opened file itself so a swapped
 * symlink cannot race the check. No directory listings. Returns the status. */
int gun__relay_web(const char *root, const char *method, const char *path, gun__http_reply *r);

#endif

/* relay: what `gun relay` adds to a peer — the HTTP endpoints on the same port. */
#ifndef GUN_RELAY_H
#define GUN_RELAY_H

#include "../util/util.h"

struct gun_s;

/* GET /health, /stats, /metrics (gun__http_cb shape; arg is the instance). */
int gun__relay_http(void *arg, const char *method, const char *path, gun__buf *body,
                    const char **ctype);

#endif

/* The relay's HTTP endpoints, served on the WebSocket port:
 *   /health  200 {"ok":true} while the loop runs and the store commits; 503 otherwise
 *   /stats   counters as JSON
 *   /metrics the same counters in Prometheus text exposition format
 * and, with gun_opts.web_root, static files for every other path (web.c). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../chain/chain.h"
#include "relay.h"

static double rss_bytes(void)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
        rss = 0;
    fclose(f);
    return (double)rss * (double)sysconf(_SC_PAGESIZE);
}

typedef struct metric {
    const char *name, *help, *type;
    double v;
} metric;

static size_t collect(gun_t *g, metric *out, size_t max)
{
    const gun__mesh_stats *st = g->mesh ? gun__mesh_get_stats(g->mesh) : NULL;
    gun__mesh_stats zero;
    memset(&zero, 0, sizeof zero);
    if (!st)
        st = &zero;
    size_t n = 0;
#define M(nm, hp, ty, val)                                                                   \
    do {                                                                                     \
        if (n < max)                                                                         \
            out[n++] = (metric){nm, hp, ty, (double)(val)};                                  \
    } while (0)
    M("uptime_seconds", "seconds since the relay started", "gauge",
      (double)(gun__mono_ms() - g->started_ms) / 1000.0);
    M("connections", "open peer connections", "gauge", g->mesh ? gun__mesh_peer_count(g->mesh) : 0);
    M("connections_total", "connections accepted or dialed since start", "counter", st->conns_total);
    M("messages_in_total", "messages received", "counter", st->msgs_in);
    M("messages_out_total", "frames sent", "counter", st->msgs_out);
    M("bytes_in_total", "bytes received", "counter", st->bytes_in);
    M("bytes_out_total", "bytes sent", "counter", st->bytes_out);
    M("puts_total", "put messages handled", "counter", st->puts);
    M("put_keys_accepted_total", "keys accepted by HAM", "counter", st->put_keys_accepted);
    M("put_keys_ignored_total", "keys ignored by HAM (older or equal)", "counter", st->put_keys_ignored);
    M("put_keys_deferred_total", "keys with a future state, merged when due", "counter",
      st->put_keys_deferred);
    M("puts_rejected_invalid_total", "puts rejected: invalid graph", "counter", st->bad_put);
    M("frames_rejected_json_total", "frames rejected: malformed JSON", "counter", st->bad_json);
    M("frames_rejected_too_big_total", "frames rejected: over the size cap", "counter", st->too_big);
    M("messages_dropped_duplicate_total", "messages dropped as already seen", "counter",
      st->dup_dropped);
    M("messages_dropped_predicate_total", "messages dropped by the message predicate", "counter",
      st->predicate_dropped);
    M("puts_rejected_sea_alias_total", "puts refused by the SEA firewall: alias rules", "counter",
      st->fw_alias);
    M("puts_rejected_sea_account_total", "puts refused by the SEA firewall: account pub", "counter",
      st->fw_account);
    M("puts_rejected_sea_unverified_total", "puts refused by the SEA firewall: bad signature",
      "counter", st->fw_unverified);
    M("puts_rejected_sea_uncertified_total",
      "puts refused by the SEA firewall: foreign writer without certificate", "counter",
      st->fw_uncertified);
    M("puts_rejected_sea_certificate_total", "puts refused by the SEA firewall: certificate",
      "counter", st->fw_cert + st->fw_cert_dropped);
    M("puts_rejected_sea_hash_total", "puts refused by the SEA firewall: content hash", "counter",
      st->fw_hash);
    M("messages_refused_sea_backlog_total",
      "messages refused: too many of their peer's messages wait for the SEA firewall", "counter",
      st->fw_backlog);
    M("put_keys_omitted_expired_total", "keys omitted on <?N souls (too old)", "counter",
      st->fw_omitted);
    M("frames_rejected_depth_total", "frames rejected: JSON nested deeper than the cap", "counter",
      st->too_deep);
    M("puts_rejected_keys_total", "puts refused: more keys than max-node-keys / max-put-keys",
      "counter", st->too_many_keys);
    M("connections_refused_max_total", "connections refused: max-connections reached", "counter",
      st->conns_refused_max);
    M("connections_refused_per_ip_total", "connections refused: max-connections-per-ip reached",
      "counter", st->conns_refused_ip);
    M("messages_dropped_rate_total", "messages dropped: peer over its message rate", "counter",
      st->rate_limited);
    M("peers_dropped_rate_total", "peers disconnected for flooding past the rate limit", "counter",
      st->rate_disconnects);
    M("peers_dropped_slow_total", "peers disconnected: send queue over max-queue-bytes", "counter",
      st->slow_dropped);
    M("get_replies_chunked_total", "GET answers split over max-get-reply-bytes", "counter",
      st->get_replies_chunked);
    M("get_reply_chunks_total", "chunks sent for split GET answers", "counter", st->get_chunks);
    M("repairs_total", "newer data sent back to a peer whose GET reply was stale", "counter",
      st->repairs);
    M("subscriptions", "subscriptions held (souls or keys peers asked for or wrote)", "gauge",
      st->subs);
    M("subscriptions_evicted_total",
      "subscriptions ended by max-subs-per-peer / max-subs (least recently asked first)", "counter",
      st->subs_evicted);
    M("gets_total", "get messages served", "counter", st->gets);
    M("gets_forwarded_total", "gets forwarded to other peers", "counter", st->gets_forwarded);
    M("acks_routed_total", "replies routed to the peer that asked", "counter", st->acks_routed);
    M("pushes_total", "changes pushed to subscribers", "counter", st->pushes);
    M("writes_pending", "accepted writes not yet durable", "gauge", g->wb ? gun__wb_pending(g->wb) : 0);
    M("writes_durable_batches_total", "store commits completed", "counter",
      g->wb ? gun__wb_durable(g->wb) : 0);
    M("store_errors_total", "store commits that failed", "counter", g->store_errors);
    M("rss_bytes", "resident memory", "gauge", rss_bytes());
    /* Durable contents, as far as the store can tell without a scan (-1: it cannot). */
    gun__store_stat ss = {-1, -1, -1};
    if (g->store.ops && g->store.ops->stat)
        g->store.ops->stat(g->store.st, &ss);
    if (ss.souls >= 0)
        M("store_souls", "nodes in the store (durable)", "gauge", ss.souls);
    if (ss.keys >= 0)
        M("store_keys", "soul/key records in the store (durable)", "gauge", ss.keys);
    if (ss.bytes >= 0)
        M("store_bytes", "disk space the store's data takes", "gauge", ss.bytes);
#undef M
    return n;
}

int gun__relay_http(void *arg, const char *method, const char *path, gun__http_reply *r)
{
    gun_t *g = arg;
    int endpoint = !strcmp(path, "/health") || !strcmp(path, "/stats") || !strcmp(path, "/metrics");
    if (!endpoint)
        return g->opts.web_root ? gun__relay_web(g->opts.web_root, method, path, r) : 0;
    if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
        r->allow = "GET, HEAD";
        gun__buf_adds(&r->body, "method not allowed\n");
        return 405;
    }
    gun__buf *body = &r->body;
    const char **ctype = &r->ctype;
    metric ms[64];
    if (!strcmp(path, "/health")) {
        *ctype = "application/json";
        /* Unhealthy when the last commit failed. */
        int ok = !g->store_failing;
        gun__buf_adds(body, ok ? "{\"ok\":true}" : "{\"ok\":false,\"err\":\"store commit failing\"}");
        return ok ? 200 : 503;
    }
    if (!strcmp(path, "/stats")) {
        size_t n = collect(g, ms, sizeof ms / sizeof ms[0]);
        *ctype = "application/json";
        gun__buf_printf(body, "{\"version\":\"%s\",\"pid\":\"%s\"", gun_version(),
                        g->mesh ? gun__mesh_pid(g->mesh) : "");
        for (size_t i = 0; i < n; i++) {
            gun__buf_printf(body, ",\"%s\":", ms[i].name);
            gun__json_write_num(body, ms[i].v);
        }
        gun__buf_adds(body, "}\n");
        return 200;
    }
    if (!strcmp(path, "/metrics")) {
        size_t n = collect(g, ms, sizeof ms / sizeof ms[0]);
        *ctype = "text/plain; version=0.0.4; charset=utf-8";
        gun__buf_printf(body, "# HELP gun_info libgun version\n# TYPE gun_info gauge\n"
                              "gun_info{version=\"%s\"} 1\n", gun_version());
        for (size_t i = 0; i < n; i++) {
            gun__buf_printf(body, "# HELP gun_%s %s\n# TYPE gun_%s %s\ngun_%s ", ms[i].name,
                            ms[i].help, ms[i].name, ms[i].type, ms[i].name);
            gun__json_write_num(body, ms[i].v);
            gun__buf_addc(body, '\n');
        }
        return 200;
    }
    return 0;
}

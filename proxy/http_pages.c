/* SPDX-License-Identifier: MIT */
/*
 * http_pages.c -- the pages a person or a probe reads: /status, one HTML
 * page that refreshes itself every 5 s (backends with their state, queue,
 * latency, counters, last error and cached blocks; listeners; clients),
 * and /healthz (200 "ok" when every backend is up, else 503 naming the
 * ones that are not). Inline CSS only: no script, nothing fetched. Every
 * string from the configuration or the network is HTML-escaped (a backend
 * type's part of its card, backend_ops.status_html, too). It reads the
 * live objects and changes nothing; /metrics is http_metrics.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "http.h"
#include "listener.h"
#include "server.h"
#include "session.h"
#include "stats.h"

static const char http_css[] =
    "*{box-sizing:border-box}"
    "body{margin:0;font:14px/1.4 system-ui,'DejaVu Sans',sans-serif;"
    "background:#f3f5f8;color:#1d2430}"
    "header{background:#1d2430;color:#fff;padding:14px 24px;display:flex;"
    "align-items:baseline;gap:16px;flex-wrap:wrap}"
    "header h1{margin:0;font-size:20px}"
    "header .sub{color:#aeb7c6}"
    "main{padding:16px 24px}"
    "h2{font-size:16px;margin:22px 0 8px}"
    ".tiles{display:flex;gap:10px;flex-wrap:wrap}"
    ".tile{background:#fff;border-radius:6px;padding:8px 14px;"
    "box-shadow:0 1px 2px #0002;min-width:110px}"
    ".tile b{display:block;font-size:20px;font-variant-numeric:tabular-nums}"
    ".tile span{color:#5b6575;font-size:12px}"
    ".cards{display:grid;grid-template-columns:repeat(auto-fill,"
    "minmax(560px,1fr));gap:14px}"
    ".card{background:#fff;border-radius:6px;box-shadow:0 1px 2px #0002;"
    "border-left:6px solid #8a94a6;padding:10px 16px}"
    ".card.up{border-color:#1f9d55}.card.down{border-color:#d64545}"
    ".card.connecting{border-color:#e0a100}"
    ".card h3{display:inline;font-size:17px;margin:0 8px 0 0}"
    ".pill{display:inline-block;border-radius:10px;padding:0 9px;"
    "font-size:12px;font-weight:600;color:#fff;background:#8a94a6;"
    "margin-right:6px}"
    ".pill.up{background:#1f9d55}.pill.down{background:#d64545}"
    ".pill.connecting{background:#e0a100}"
    ".pill.type{background:#e4e8ef;color:#1d2430}"
    ".since{color:#5b6575;font-size:12px}"
    ".where{float:right;color:#5b6575;font-size:12px;margin-top:4px}"
    ".nums{display:grid;grid-template-columns:repeat(4,1fr);gap:6px 12px;"
    "margin:10px 0}"
    ".nums div span{display:block;color:#5b6575;font-size:12px;"
    "white-space:nowrap}"
    ".nums div b{font-variant-numeric:tabular-nums}"
    ".err{background:#fdecec;color:#8a1c1c;border-radius:4px;"
    "padding:4px 8px;margin:6px 0}"
    ".ok{color:#5b6575;margin:6px 0}"
    "table{border-collapse:collapse;background:#fff;width:100%;"
    "font-variant-numeric:tabular-nums}"
    "th,td{text-align:left;padding:4px 10px;border-bottom:1px solid #e4e8ef}"
    "th{background:#e9edf3;font-weight:600;font-size:12px;color:#3b4556}"
    "td.n,th.n{text-align:right}"
    ".card table{margin-top:4px;font-size:13px}"
    "details summary{cursor:pointer;color:#3b4556;margin:4px 0}"
    ".more{color:#5b6575;font-style:italic}"
    "footer{color:#5b6575;padding:8px 24px 24px;font-size:12px}";

/* "3 s", "4 min 12 s", "2 h 5 min", "3 d 4 h" for <ms>. */
static void
http_fmt_span(struct http_buf *b, uint64_t ms)
{
    uint64_t s = ms / 1000;

    if (s < 60) {
        http_buf_printf(b, "%llu s", (unsigned long long)s);
    } else if (s < 3600) {
        http_buf_printf(b, "%llu min %llu s", (unsigned long long)s / 60,
                        (unsigned long long)s % 60);
    } else if (s < 86400) {
        http_buf_printf(b, "%llu h %llu min", (unsigned long long)s / 3600,
                        (unsigned long long)s % 3600 / 60);
    } else {
        http_buf_printf(b, "%llu d %llu h", (unsigned long long)s / 86400,
                        (unsigned long long)s % 86400 / 3600);
    }
}

/* A latency in ms, as "0.8 ms", "12 ms", "1.25 s", or "-" for none. */
static void
http_fmt_ms(struct http_buf *b, double ms)
{
    static const uint64_t bounds[] = STATS_HIST_BOUNDS;
    double top = (double)bounds[ARRAY_SIZE(bounds) - 1];

    if (ms < 0) {
        http_buf_puts(b, "-");
    } else if (ms >= top) {
        http_buf_printf(b, "&gt;%.0f s", top / 1000);
    } else if (ms < 10) {
        http_buf_printf(b, "%.1f ms", ms);
    } else if (ms < 1000) {
        http_buf_printf(b, "%.0f ms", ms);
    } else {
        http_buf_printf(b, "%.2f s", ms / 1000);
    }
}

/*
 * Estimate the <q> quantile (0..1) of <h> in ms by linear interpolation
 * inside the bucket that holds it, as Prometheus' histogram_quantile()
 * does. Returns -1 for an empty histogram, and the last finite bound if
 * the quantile lies in the +Inf bucket.
 */
double
http_hist_quantile(const struct stats_hist *h, double q)
{
    static const uint64_t bounds[] = STATS_HIST_BOUNDS;
    double rank = q * (double)h->count, cum = 0, lo = 0;

    if (h->count == 0) {
        return -1;
    }
    for (size_t i = 0; i < ARRAY_SIZE(bounds); i++) {
        double n = (double)h->bucket[i];

        if (n > 0 && cum + n >= rank) {
            return lo + ((double)bounds[i] - lo) * (rank - cum) / n;
        }
        cum += n;
        lo = (double)bounds[i];
    }
    return lo;
}

/* One labelled number in a backend card. */
static void
http_num(struct http_buf *b, const char *label, unsigned long long v)
{
    http_buf_printf(b, "<div><span>%s</span><b>%llu</b></div>", label, v);
}

/* The numbers of <be>: queue, in flight, latency, counters. */
static void
http_backend_nums(struct http_buf *b, const struct backend *be)
{
    const struct stats_backend *st = &be->st;

    http_buf_printf(b, "<div class=\"nums\"><div><span>queue</span><b>%u / "
                    "%u</b></div><div><span>in flight</span><b>%u / %u</b>"
                    "</div><div><span>latency p50 / p90</span><b>",
                    be->sched.queued, be->cfg.queue_depth, be->n_inflight,
                    be->cfg.max_inflight);
    http_fmt_ms(b, http_hist_quantile(&be->wire_time, 0.5));
    http_buf_puts(b, " / ");
    http_fmt_ms(b, http_hist_quantile(&be->wire_time, 0.9));
    http_buf_puts(b, "</b></div><div><span>queue wait p90</span><b>");
    http_fmt_ms(b, http_hist_quantile(&be->queue_wait, 0.9));
    http_buf_puts(b, "</b></div>");
    http_num(b, "requests", st->requests);
    http_num(b, "responses", st->responses);
    http_num(b, "timeouts", st->timeouts);
    http_num(b, "device exceptions", st->device_exceptions);
    http_buf_printf(b, "<div><span>given 06 / 0A / 0B</span><b>%llu / "
                    "%llu / %llu</b></div>", (unsigned long long)st->ex_busy,
                    (unsigned long long)st->ex_down,
                    (unsigned long long)st->ex_timeout);
    http_num(b, "coalesced", st->coalesced);
    http_num(b, "cache hits", st->cache_hits);
    http_num(b, "cache misses", st->cache_misses);
    http_buf_puts(b, "</div>");
}

/* One cached block, as cache_walk() reports it. */
struct http_block {
    uint8_t  unit, table;
    uint16_t base;
    unsigned valid;
    uint64_t oldest_ms, newest_ms;
};

/* Blocks of one backend, gathered to be sorted. */
struct http_blocks {
    struct http_block *v;
    size_t             n, cap;
};

static void
http_block_cb(void *ctx, uint8_t unit, uint8_t table, uint16_t base,
              unsigned valid, uint64_t oldest_ms, uint64_t newest_ms)
{
    struct http_blocks *bl = ctx;

    if (bl->n < bl->cap) {
        bl->v[bl->n++] = (struct http_block){unit, table, base, valid,
                                             oldest_ms, newest_ms};
    }
}

static int
http_block_cmp(const void *a, const void *b)
{
    const struct http_block *x = a, *y = b;
    long kx = (long)x->unit << 24 | (long)x->table << 16 | x->base;
    long ky = (long)y->unit << 24 | (long)y->table << 16 | y->base;

    return (kx > ky) - (kx < ky);
}

static const char *
http_table_name(uint8_t table, char *buf, size_t size)
{
    switch (table) {
    case 1:
        return "coils";
    case 2:
        return "discrete";
    case 3:
        return "holding";
    case 4:
        return "input";
    case 0x16:
        return "meter";
    default:
        snprintf(buf, size, "0x%02x", table);
        return buf;
    }
}

/* One row of the cache table. */
static void
http_block_row(struct http_buf *b, const struct http_block *k, uint64_t now)
{
    char name[8];

    http_buf_printf(b, "<tr><td class=\"n\">%u</td><td>%s</td><td>%u-%u"
                    "</td><td class=\"n\">%u</td><td class=\"n\">%.1f s"
                    "</td><td class=\"n\">%.1f s</td></tr>",
                    k->unit, http_table_name(k->table, name, sizeof(name)),
                    k->base, k->base + CACHE_CHUNK - 1, k->valid,
                    (double)(now - MB_MIN(now, k->oldest_ms)) / 1000,
                    (double)(now - MB_MIN(now, k->newest_ms)) / 1000);
}

/* The cached blocks of <be>, sorted, at most HTTP_STATUS_BLOCKS rows.
 * One temporary array per page: HTTP is not the hot path. */
static void
http_backend_cache(struct http_buf *b, const struct backend *be, uint64_t now)
{
    struct http_blocks bl = {NULL, 0, be->cache.chunks};

    if (bl.cap == 0) {
        return;
    }
    bl.v = xcalloc(bl.cap, sizeof(*bl.v));
    cache_walk(&be->cache, http_block_cb, &bl);
    qsort(bl.v, bl.n, sizeof(*bl.v), http_block_cmp);
    http_buf_printf(b, "<details open><summary>cache: %zu blocks</summary>"
                    "<table><tr><th class=\"n\">unit</th><th>table</th>"
                    "<th>registers</th><th class=\"n\">held</th>"
                    "<th class=\"n\">oldest</th><th class=\"n\">newest</th>"
                    "</tr>", bl.n);
    for (size_t i = 0; i < bl.n && i < HTTP_STATUS_BLOCKS; i++) {
        http_block_row(b, &bl.v[i], now);
    }
    if (bl.n > HTTP_STATUS_BLOCKS) {
        http_buf_printf(b, "<tr><td colspan=\"6\" class=\"more\">%zu more"
                        "</td></tr>", bl.n - HTTP_STATUS_BLOCKS);
    }
    http_buf_puts(b, "</table></details>");
    free(bl.v);
}

/* The card of one backend. */
static void
http_backend_card(struct http_buf *b, const struct backend *be, uint64_t now)
{
    const char *state = backend_state(be);

    http_buf_printf(b, "<article class=\"card %s\"><h3>", state);
    http_buf_html(b, be->cfg.name);
    http_buf_puts(b, "</h3><span class=\"pill type\">");
    http_buf_html(b, be->cfg.type);
    http_buf_printf(b, "</span><span class=\"pill %s\">%s</span>", state,
                    state);
    if (be->ops->status_html != NULL) {
        be->ops->status_html(be, b);    /* where its device is */
    }
    poller_status_html(be, b);          /* its own reads, if any */
    if (be->up) {
        http_buf_puts(b, "<span class=\"since\">for ");
        http_fmt_span(b, now - MB_MIN(now, be->up_since_ms));
        http_buf_puts(b, "</span>");
    }
    http_backend_nums(b, be);
    if (be->last_error_ms != 0) {
        http_buf_printf(b, "<p class=\"%s\">last error: ",
                        be->up ? "ok" : "err");
        http_buf_html(b, be->last_error);
        http_buf_printf(b, ", %llu s ago</p>",
                        (unsigned long long)(now - MB_MIN(now,
                                             be->last_error_ms)) / 1000);
    }
    http_backend_cache(b, be, now);
    http_buf_puts(b, "</article>");
}

/* One summary tile. */
static void
http_tile(struct http_buf *b, const char *label, unsigned long long v)
{
    http_buf_printf(b, "<div class=\"tile\"><b>%llu</b><span>%s</span>"
                    "</div>", v, label);
}

/* The header and the proxy-wide tiles. */
static void
http_status_head(struct http_buf *b, struct server *srv)
{
    unsigned up = 0;
    char when[32] = "";
    time_t t = time(NULL);
    struct tm tm;

    for (unsigned i = 0; i < srv->cfg->n_backends; i++) {
        up += srv->backends[i]->up;
    }
    if (localtime_r(&t, &tm) != NULL) {
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
    }
    http_buf_printf(b, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
                    "<meta charset=\"utf-8\">"
                    "<meta http-equiv=\"refresh\" content=\"5\">"
                    "<title>modbus-mux: %u/%u up</title><style>%s</style>"
                    "</head><body><header><h1>modbus-mux</h1><span "
                    "class=\"sub\">version %s &middot; %s%s &middot; "
                    "refreshes every 5 s</span></header><main>"
                    "<div class=\"tiles\">",
                    up, srv->cfg->n_backends, http_css, MUX_VERSION, when,
                    srv->stopping ? " &middot; shutting down" : "");
    http_buf_printf(b, "<div class=\"tile\"><b>%u / %u</b><span>backends "
                    "up</span></div>", up, srv->cfg->n_backends);
    http_tile(b, "clients connected", srv->n_sessions);
    http_tile(b, "clients accepted", stats_srv.clients_accepted);
    http_tile(b, "requests", stats_srv.requests);
    http_tile(b, "replies", stats_srv.replies);
    http_tile(b, "0x0A: no route", stats_srv.ex_no_route);
    http_tile(b, "malformed", stats_srv.ex_bad_request);
    http_buf_puts(b, "</div>");
}

/* The listeners table: each with its section ([server] listen or a
 * [listener NAME]) and front-end type. */
static void
http_status_listeners(struct http_buf *b, struct server *srv)
{
    http_buf_puts(b, "<h2>Listeners</h2><table><tr><th>listener</th>"
                     "<th>type</th><th>address</th><th>backend</th>"
                     "<th class=\"n\">clients now</th><th class=\"n\">"
                     "accepted</th><th class=\"n\">refused</th>"
                     "<th class=\"n\">requests</th><th class=\"n\">"
                     "answered</th><th class=\"n\">from cache</th>"
                     "<th class=\"n\">silent</th><th class=\"n\">"
                     "fanned out</th><th class=\"n\">ignored</th></tr>");
    for (unsigned i = 0; i < srv->n_listeners; i++) {
        const struct listener *l = srv->listeners[i];

        http_buf_puts(b, "<tr><td>");
        if (l->section[0] != '\0') {
            http_buf_html(b, l->section);
        } else {
            http_buf_puts(b, "[server]");
        }
        http_buf_puts(b, "</td><td>");
        http_buf_html(b, l->fe->type);
        http_buf_puts(b, "</td><td>");
        http_buf_html(b, l->name);
        http_buf_puts(b, "</td><td>");
        http_buf_html(b, l->cfg != NULL && l->cfg->backend[0] != '\0'
                             ? l->cfg->backend : "[route]");
        http_buf_printf(b, "</td><td class=\"n\">%u</td><td class=\"n\">%llu"
                        "</td><td class=\"n\">%llu</td>", l->connected,
                        (unsigned long long)l->accepted,
                        (unsigned long long)l->refused);
        http_buf_printf(b, "<td class=\"n\">%llu</td><td class=\"n\">%llu"
                        "</td><td class=\"n\">%llu</td><td class=\"n\">%llu"
                        "</td><td class=\"n\">%llu</td><td class=\"n\">%llu"
                        "</td></tr>", (unsigned long long)l->requests,
                        (unsigned long long)l->answered,
                        (unsigned long long)l->answered_local,
                        (unsigned long long)l->silent,
                        (unsigned long long)l->fanned_out,
                        (unsigned long long)l->ignored);
    }
    http_buf_puts(b, "</table>");
}

/* The clients table, at most HTTP_STATUS_CLIENTS rows. */
static void
http_status_clients(struct http_buf *b, struct server *srv, uint64_t now)
{
    const struct session *s;
    unsigned n = 0;

    http_buf_printf(b, "<h2>Clients (%u)</h2><table><tr><th>id</th><th>"
                    "peer</th><th>listener</th><th>connected for</th>"
                    "<th class=\"n\">"
                    "requests</th><th class=\"n\">replies</th><th "
                    "class=\"n\">pending</th></tr>", srv->n_sessions);
    TAILQ_FOREACH(s, &srv->sessions, link) {
        if (n++ == HTTP_STATUS_CLIENTS) {
            break;
        }
        http_buf_printf(b, "<tr><td>S#%llu</td><td>",
                        (unsigned long long)s->id);
        http_buf_html(b, s->peer);
        http_buf_puts(b, "</td><td>");
        if (s->listener == NULL || s->listener->section[0] == '\0') {
            http_buf_puts(b, "[server]");
        } else {
            http_buf_html(b, s->listener->section);
            http_buf_puts(b, " (");
            http_buf_html(b, s->listener->fe->type);
            http_buf_puts(b, ")");
        }
        http_buf_puts(b, "</td><td>");
        http_fmt_span(b, now - MB_MIN(now, s->connected_ms));
        http_buf_printf(b, "</td><td class=\"n\">%llu</td><td class=\"n\">"
                        "%llu</td><td class=\"n\">%u</td></tr>",
                        (unsigned long long)s->n_requests,
                        (unsigned long long)s->n_replies, s->pending);
    }
    if (srv->n_sessions > HTTP_STATUS_CLIENTS) {
        http_buf_printf(b, "<tr><td colspan=\"7\" class=\"more\">%u more"
                        "</td></tr>", srv->n_sessions - HTTP_STATUS_CLIENTS);
    } else if (srv->n_sessions == 0) {
        http_buf_puts(b, "<tr><td colspan=\"7\" class=\"more\">no client "
                         "connected</td></tr>");
    }
    http_buf_puts(b, "</table>");
}

/*
 * The /status page of <srv> into <b>. Returns 200.
 */
int
http_page_status(struct http_buf *b, struct server *srv)
{
    uint64_t now = uv_now(srv->loop);

    http_status_head(b, srv);
    http_buf_printf(b, "<h2>Backends (%u)</h2><div class=\"cards\">",
                    srv->cfg->n_backends);
    for (unsigned i = 0; i < srv->cfg->n_backends; i++) {
        http_backend_card(b, srv->backends[i], now);
    }
    http_buf_puts(b, "</div>");
    http_status_clients(b, srv, now);
    http_status_listeners(b, srv);
    http_buf_puts(b, "</main><footer>modbus-mux &middot; /metrics for "
                     "Prometheus &middot; /healthz for probes</footer>"
                     "</body></html>\n");
    return 200;
}

/*
 * The /healthz answer of <srv> into <b>: "ok" and 200 when every backend
 * is up, else one line per backend that is not (name, state, last error)
 * and 503; 503 too while shutting down.
 */
int
http_page_healthz(struct http_buf *b, struct server *srv)
{
    uint64_t now = uv_now(srv->loop);
    int status = 200;

    if (srv->stopping) {
        http_buf_puts(b, "shutting down\n");
        status = 503;
    }
    for (unsigned i = 0; i < srv->cfg->n_backends; i++) {
        const struct backend *be = srv->backends[i];
        char why[160];

        if (be->up && be->ops->healthy != NULL &&
            !be->ops->healthy(be, why, sizeof(why))) {
            status = 503;
            http_buf_printf(b, "backend %s: up, but %s\n", be->cfg.name, why);
            continue;
        }
        if (be->up) {
            continue;
        }
        status = 503;
        http_buf_printf(b, "backend %s: %s", be->cfg.name, backend_state(be));
        if (be->last_error_ms != 0) {
            http_buf_printf(b, ": %s, %llu s ago", be->last_error,
                            (unsigned long long)(now - MB_MIN(now,
                                                 be->last_error_ms)) / 1000);
        }
        http_buf_puts(b, "\n");
    }
    if (status == 200) {
        http_buf_puts(b, "ok\n");
    }
    return status;
}

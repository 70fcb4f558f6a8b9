/* SPDX-License-Identifier: MIT */
/*
 * http_metrics.c -- /metrics in the Prometheus text format 0.0.4: every
 * counter of the X-macro lists in stats.h (names and HELP generated from
 * them), the exceptions the proxy gave by code, the backends' gauges
 * (up, state, queue, in flight, cached blocks), the queue-wait and
 * wire-time histograms in seconds, and the listeners'. Each family is
 * written whole (HELP, TYPE, then every sample) as the format requires.
 * It reads the live objects and changes nothing.
 *
 * Names: modbus_mux_<server counter>_total,
 * modbus_mux_backend_<backend counter>_total{backend,type},
 * modbus_mux_backend_exceptions_total{backend,type,code},
 * modbus_mux_backend_{up,state,queued,queue_limit,inflight,cache_blocks,
 * nodes_online},
 * modbus_mux_backend_{queue_wait,wire_time}_seconds (histograms),
 * modbus_mux_listener_{clients,accepted_total,refused_total,requests_total,
 * answered_total,answered_local_total,silent_total,fanned_out_total,
 * ignored_total,send_dropped_total}{listen} for [server] listen,
 * {listener,listen} for a [listener NAME] section,
 * modbus_mux_clients, modbus_mux_http_connections, modbus_mux_build_info.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "http.h"
#include "listener.h"
#include "server.h"
#include "stats.h"

/* One counter of a stats struct, from the X-macro lists. */
struct http_counter {
    const char *name;
    const char *help;
    size_t      off;               /* of its uint64_t in the struct */
};

#define HTTP_SRV_COUNTER(f, d) {#f, d, offsetof(struct stats_server, f)},
#define HTTP_BE_COUNTER(f, d) {#f, d, offsetof(struct stats_backend, f)},

static const struct http_counter http_srv_counters[] = {
    STATS_SERVER(HTTP_SRV_COUNTER)
};
static const struct http_counter http_be_counters[] = {
    STATS_BACKEND(HTTP_BE_COUNTER)
};

/* The states backend_state() reports, one gauge each. */
static const char *const http_states[] = {
    "up", "down", "connecting", "stopped",
};

/* "# HELP" and "# TYPE" of one family. */
static void
http_prom_family(struct http_buf *b, const char *name, const char *help,
                 const char *type)
{
    http_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
                    type);
}

/* A label value, escaped as the format wants (\\, \", \n). */
static void
http_prom_value(struct http_buf *b, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\' || *s == '"') {
            http_buf_add(b, "\\", 1);
            http_buf_add(b, s, 1);
        } else if (*s == '\n') {
            http_buf_puts(b, "\\n");
        } else {
            http_buf_add(b, s, 1);
        }
    }
}

/* "name{backend="x",type="t"" of <be>: the caller closes the braces,
 * after more labels if it has some. */
static void
http_prom_be(struct http_buf *b, const char *name, const struct backend *be)
{
    http_buf_printf(b, "%s{backend=\"", name);
    http_prom_value(b, be->cfg.name);
    http_buf_puts(b, "\",type=\"");
    http_prom_value(b, be->cfg.type);
    http_buf_puts(b, "\"");
}

/* A whole family of one value per backend, taken by <get>. */
static void
http_prom_per_backend(struct http_buf *b, struct server *srv,
                      const char *name, const char *help, const char *type,
                      uint64_t (*get)(const struct backend *be))
{
    http_prom_family(b, name, help, type);
    for (unsigned i = 0; i < srv->cfg->n_backends; i++) {
        http_prom_be(b, name, srv->backends[i]);
        http_buf_printf(b, "} %llu\n",
                        (unsigned long long)get(srv->backends[i]));
    }
}

static uint64_t
http_get_up(const struct backend *be)
{
    return be->up;
}

static uint64_t
http_get_queued(const struct backend *be)
{
    return be->sched.queued;
}

static uint64_t
http_get_queue_limit(const struct backend *be)
{
    return be->cfg.queue_depth;
}

static uint64_t
http_get_inflight(const struct backend *be)
{
    return be->n_inflight;
}

static uint64_t
http_get_cache_blocks(const struct backend *be)
{
    return be->cache.chunks;
}

static uint64_t
http_get_nodes_online(const struct backend *be)
{
    return be->nodes_online;
}

/* Every STATS_BACKEND counter, one family each. */
static void
http_prom_be_counters(struct http_buf *b, struct server *srv)
{
    char name[96];

    for (size_t k = 0; k < ARRAY_SIZE(http_be_counters); k++) {
        const struct http_counter *c = &http_be_counters[k];

        snprintf(name, sizeof(name), "modbus_mux_backend_%s_total", c->name);
        http_prom_family(b, name, c->help, "counter");
        for (unsigned i = 0; i < srv->cfg->n_backends; i++) {
            const struct backend *be = srv->backends[i];
            uint64_t v;

            memcpy(&v, (const char *)&be->st + c->off, sizeof(v));
            http_prom_be(b, name, be);
            http_buf_printf(b, "} %llu\n", (unsigned long long)v);
        }
    }
}

/* The exceptions the proxy itself gave for each backend, by code. */
static void
http_prom_be_exceptions(struct http_buf *b, struct server *srv)
{
    static const char name[] = "modbus_mux_backend_exceptions_total";

    http_prom_family(b, name, "exceptions the proxy answered for the "
                              "backend, by code (0x06 queue full, 0x0A "
                              "down, 0x0B no answer in time)", "counter");
    for (unsigned i = 0; i < srv->cfg->n_backends; i++) {
        const struct backend *be = srv->backends[i];
        const struct {
            const char *code;
            uint64_t    n;
        } ex[] = {
            {"0x06", be->st.ex_busy},
            {"0x0A", be->st.ex_down},
            {"0x0B", be->st.ex_timeout},
        };

        for (size_t k = 0; k < ARRAY_SIZE(ex); k++) {
            http_prom_be(b, name, be);
            http_buf_printf(b, ",code=\"%s\"} %llu\n", ex[k].code,
                            (unsigned long long)ex[k].n);
        }
    }
}

/* One gauge per state and backend: 1 for the state it is in. */
static void
http_prom_be_state(struct http_buf *b, struct server *srv)
{
    static const char name[] = "modbus_mux_backend_state";

    http_prom_family(b, name, "1 for the state the backend is in (up, "
                              "down, connecting, stopped), else 0", "gauge");
    for (unsigned i = 0; i < srv->cfg->n_backends; i++) {
        const struct backend *be = srv->backends[i];
        const char *now = backend_state(be);

        for (size_t k = 0; k < ARRAY_SIZE(http_states); k++) {
            http_prom_be(b, name, be);
            http_buf_printf(b, ",state=\"%s\"} %d\n", http_states[k],
                            strcmp(now, http_states[k]) == 0);
        }
    }
}

/* The samples of histogram <h> of <be>, in seconds, cumulative. */
static void
http_prom_hist(struct http_buf *b, const char *name, const struct backend *be,
               const struct stats_hist *h)
{
    static const uint64_t bounds[] = STATS_HIST_BOUNDS;
    char sample[96];
    uint64_t cum = 0;

    _Static_assert(ARRAY_SIZE(bounds) + 1 == STATS_HIST_N,
                   "one bucket per bound, plus +Inf");
    snprintf(sample, sizeof(sample), "%s_bucket", name);
    for (size_t k = 0; k < STATS_HIST_N; k++) {
        cum += h->bucket[k];
        http_prom_be(b, sample, be);
        if (k < ARRAY_SIZE(bounds)) {
            http_buf_printf(b, ",le=\"%g\"} %llu\n",
                            (double)bounds[k] / 1000,
                            (unsigned long long)cum);
        } else {
            http_buf_printf(b, ",le=\"+Inf\"} %llu\n",
                            (unsigned long long)cum);
        }
    }
    snprintf(sample, sizeof(sample), "%s_sum", name);
    http_prom_be(b, sample, be);
    http_buf_printf(b, "} %.3f\n", (double)h->sum_ms / 1000);
    snprintf(sample, sizeof(sample), "%s_count", name);
    http_prom_be(b, sample, be);
    http_buf_printf(b, "} %llu\n", (unsigned long long)h->count);
}

/* The two latency histograms of every backend. */
static void
http_prom_be_hists(struct http_buf *b, struct server *srv)
{
    static const char wait[] = "modbus_mux_backend_queue_wait_seconds";
    static const char wire[] = "modbus_mux_backend_wire_time_seconds";

    http_prom_family(b, wait, "time from a request's arrival to its first "
                              "transmission", "histogram");
    for (unsigned i = 0; i < srv->cfg->n_backends; i++) {
        http_prom_hist(b, wait, srv->backends[i],
                       &srv->backends[i]->queue_wait);
    }
    http_prom_family(b, wire, "time from a transmission to its answer",
                     "histogram");
    for (unsigned i = 0; i < srv->cfg->n_backends; i++) {
        http_prom_hist(b, wire, srv->backends[i],
                       &srv->backends[i]->wire_time);
    }
}

/* Every family about the backends. */
static void
http_prom_backends(struct http_buf *b, struct server *srv)
{
    http_prom_be_counters(b, srv);
    http_prom_be_exceptions(b, srv);
    http_prom_per_backend(b, srv, "modbus_mux_backend_up",
                          "1 if the link to the device is ready, else 0",
                          "gauge", http_get_up);
    http_prom_be_state(b, srv);
    http_prom_per_backend(b, srv, "modbus_mux_backend_queued",
                          "requests waiting in the queue", "gauge",
                          http_get_queued);
    http_prom_per_backend(b, srv, "modbus_mux_backend_queue_limit",
                          "queue_depth: more waiting get 0x06", "gauge",
                          http_get_queue_limit);
    http_prom_per_backend(b, srv, "modbus_mux_backend_inflight",
                          "requests on the wire", "gauge",
                          http_get_inflight);
    http_prom_per_backend(b, srv, "modbus_mux_backend_cache_blocks",
                          "64-register blocks held in the register cache",
                          "gauge", http_get_cache_blocks);
    http_prom_per_backend(b, srv, "modbus_mux_backend_nodes_online",
                          "devices heard from lately, on a bus only "
                          "listened to (tigo: optimizers)", "gauge",
                          http_get_nodes_online);
    http_prom_be_hists(b, srv);
}

/* One value of a listener. */
struct http_listener_value {
    const char *name;           /* modbus_mux_listener_<name> */
    const char *help;
    const char *type;           /* "gauge" or "counter" */
    size_t      off;            /* of a uint64_t in struct listener; */
    bool        connected;      /* or its clients now */
};

#define LV(f, h) {"" #f "_total", h, "counter", offsetof(struct listener, f), \
                  false}

static const struct http_listener_value http_listener_values[] = {
    {"clients", "client connections open on the listener", "gauge", 0, true},
    {"accepted_total", "client connections accepted on the listener",
     "counter", offsetof(struct listener, accepted), false},
    {"refused_total", "client connections closed at accept (max_clients)",
     "counter", offsetof(struct listener, refused), false},
    LV(requests, "requests its clients sent"),
    LV(answered, "answers written to its clients"),
    LV(answered_local, "answers made without the device (the cache, the "
                       "write rules)"),
    LV(silent, "requests its protocol answers with silence (a GivEnergy "
               "dongle's: no device, no answer, a failure)"),
    LV(fanned_out, "device frames copied to its clients (GivEnergy "
                   "fan-out)"),
    LV(ignored, "client frames its protocol ignores (bad CRC, a function "
                "nobody answers)"),
    LV(send_dropped, "frames of its own not sent to a client that does not "
                     "read"),
};

/* One family of one value per listener. */
static void
http_prom_listener(struct http_buf *b, struct server *srv,
                   const struct http_listener_value *lv)
{
    char name[80];

    snprintf(name, sizeof(name), "modbus_mux_listener_%s", lv->name);
    http_prom_family(b, name, lv->help, lv->type);
    for (unsigned i = 0; i < srv->n_listeners; i++) {
        const struct listener *l = srv->listeners[i];
        uint64_t v = l->connected;

        if (!lv->connected) {
            memcpy(&v, (const char *)l + lv->off, sizeof(v));
        }
        /* [server] listen keeps the series it had before sections. */
        http_buf_printf(b, "%s{", name);
        if (l->section[0] != '\0') {
            http_buf_puts(b, "listener=\"");
            http_prom_value(b, l->section);
            http_buf_puts(b, "\",");
        }
        http_buf_puts(b, "listen=\"");
        http_prom_value(b, l->name);
        http_buf_printf(b, "\"} %llu\n", (unsigned long long)v);
    }
}

/* The proxy-wide families. */
static void
http_prom_server(struct http_buf *b, struct server *srv)
{
    char name[96];

    http_prom_family(b, "modbus_mux_build_info", "the running version",
                     "gauge");
    http_buf_printf(b, "modbus_mux_build_info{version=\"%s\"} 1\n",
                    MUX_VERSION);
    for (size_t k = 0; k < ARRAY_SIZE(http_srv_counters); k++) {
        const struct http_counter *c = &http_srv_counters[k];
        uint64_t v;

        memcpy(&v, (const char *)&stats_srv + c->off, sizeof(v));
        snprintf(name, sizeof(name), "modbus_mux_%s_total", c->name);
        http_prom_family(b, name, c->help, "counter");
        http_buf_printf(b, "%s %llu\n", name, (unsigned long long)v);
    }
    http_prom_family(b, "modbus_mux_clients", "client connections open",
                     "gauge");
    http_buf_printf(b, "modbus_mux_clients %u\n", srv->n_sessions);
    http_prom_family(b, "modbus_mux_http_connections",
                     "HTTP connections open, this one included", "gauge");
    http_buf_printf(b, "modbus_mux_http_connections %u\n",
                    srv->http != NULL ? srv->http->n_clients : 0);
}

/*
 * The /metrics page of <srv> into <b>. Returns 200.
 */
int
http_page_metrics(struct http_buf *b, struct server *srv)
{
    http_prom_server(b, srv);
    for (size_t i = 0; i < ARRAY_SIZE(http_listener_values); i++) {
        http_prom_listener(b, srv, &http_listener_values[i]);
    }
    http_prom_backends(b, srv);
    return 200;
}

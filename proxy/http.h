/* SPDX-License-Identifier: MIT */
/*
 * http.h -- the HTTP endpoint ([server] http_listen): /metrics in the
 * Prometheus text format, /status as one self-refreshing HTML page,
 * /healthz for probes. It runs on the proxy's loop and reads the live
 * objects (backends, sessions, listeners, counters) when a page is asked
 * for; it never changes them.
 *
 * Three layers, so that the byte-level part can be fuzzed without a
 * socket:
 *   http.c          the listening socket and the connections (libuv):
 *                   limits, idle timer, writes, closing;
 *   http_conn.c     one connection's requests: the http_parser callbacks,
 *                   routing, the response head; no libuv calls;
 *   http_pages.c    /status and /healthz; http_metrics.c: /metrics.
 * HTTP is not the hot path: a response is built in a growable buffer and
 * copied into one allocation for its write.
 */
#ifndef MUX_HTTP_H
#define MUX_HTTP_H

#include <http_parser.h>
#include <stdarg.h>
#include <uv.h>

#include "core.h"
#include "log.h"
#include "stats.h"

#define HTTP_MAX_CONNS     32      /* more close the idlest to make room */
#define HTTP_IDLE_MS       10000   /* no request begun for this: close */
#define HTTP_REQUEST_MS    3000    /* a request begun and not complete
                                      after this: close (slowloris) */
#define HTTP_LINGER_MS     2000    /* after our last response: wait this
                                      long for the client to close */
#define HTTP_MAX_REQUESTS  100     /* per connection, then close */
#define HTTP_MAX_HEAD      8192    /* request line + headers, else 431 */
#define HTTP_MAX_BODY      8192    /* a body we read and ignore, else 413 */
#define HTTP_MAX_URL       512     /* longer: 414 */
#define HTTP_STATUS_CLIENTS  200   /* client rows on /status */
#define HTTP_STATUS_BLOCKS   50    /* cache rows per backend on /status */

/* A growable byte buffer (the response body being built). */
struct http_buf {
    char   *data;                  /* owned; NUL-terminated when len > 0 */
    size_t  len;
    size_t  cap;
};

struct http_client;
struct http_conn;

/* Hands a finished response, <head> then <body>, to the transport, which
 * copies both (the buffers stay the connection's). */
typedef void (*http_send_fn)(struct http_conn *c, const char *head,
                             size_t head_len, const char *body,
                             size_t body_len);

/* The protocol state of one HTTP connection. */
struct http_conn {
    http_parser     parser;        /* parser.data = this */
    struct server  *srv;           /* borrowed: outlives connections */
    http_send_fn    send;          /* the transport's writer */
    uint64_t        id;            /* log id, "H#3" */
    char            peer[56];      /* "10.0.0.5:51234" */
    char            url[HTTP_MAX_URL + 1]; /* the request target so far */
    size_t          url_len;
    bool            url_long;      /* it did not fit: 414 */
    int             fail_status;   /* set by a callback that gave up */
    uint64_t        body_len;      /* body bytes of this request */
    unsigned        n_requests;    /* answered on this connection */
    bool            in_request;    /* a request has begun, not ended */
    bool            waiting;       /* a response is on its way: parse
                                      nothing until http_conn_written() */
    bool            done;          /* answer nothing more: close once
                                      what is queued is written */
    struct http_buf body;          /* the response being built */
};

/* The endpoint: its listening socket and its connections. */
struct http {
    uv_tcp_t                     tcp;      /* freed in the close callback */
    struct server               *srv;      /* borrowed */
    char                         name[72]; /* the address actually bound */
    TAILQ_HEAD(, http_client)    clients;  /* open connections */
    unsigned                     n_clients;
    uint64_t                     next_id;
    uint64_t                     refused;  /* closed at accept */
    struct log_limit             refusals;  /* their log lines */
    struct log_limit             evictions; /* closed to make room */
};

#define hlog(level, c, fmt, ...)                                    \
    LOG(level, "H#%llu %s: " fmt, (unsigned long long)(c)->id,      \
        (c)->peer, ##__VA_ARGS__)

/* http.c: the endpoint */
int http_open(struct server *srv) MB_MUSTCHECK;
void http_close(struct server *srv);

/* What http_conn_feed() wants next. */
enum http_feed {
    HTTP_FEED_MORE,                /* every byte parsed: read more */
    HTTP_FEED_WAIT,                /* a response went out: stop reading;
                                      after http_conn_written(), feed the
                                      bytes it did not use again */
    HTTP_FEED_DONE,                /* close once what was sent is written */
};

/* http_conn.c: one connection's requests */
void http_conn_init(struct http_conn *c, struct server *srv,
                    http_send_fn send, uint64_t id, const char *peer);
enum http_feed http_conn_feed(struct http_conn *c, const char *data,
                              size_t len, size_t *used);
void http_conn_written(struct http_conn *c);
void http_conn_free(struct http_conn *c);

void http_buf_reset(struct http_buf *b);
void http_buf_free(struct http_buf *b);
void http_buf_add(struct http_buf *b, const char *s, size_t n);
void http_buf_puts(struct http_buf *b, const char *s);
void http_buf_printf(struct http_buf *b, const char *fmt, ...)
    MB_PRINTF(2, 3);
void http_buf_html(struct http_buf *b, const char *s);

/* http_pages.c, http_metrics.c: the pages, into <b> */
int http_page_status(struct http_buf *b, struct server *srv);
int http_page_healthz(struct http_buf *b, struct server *srv);
int http_page_metrics(struct http_buf *b, struct server *srv);
double http_hist_quantile(const struct stats_hist *h, double q);

#endif /* MUX_HTTP_H */

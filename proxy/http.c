/* SPDX-License-Identifier: MIT */
/*
 * http.c -- the HTTP endpoint's sockets: binds [server] http_listen,
 * keeps at most HTTP_MAX_CONNS connections (a new one closes the one idle
 * longest, or is closed at accept if every one is being answered), reads
 * into the server's shared read buffer and feeds http_conn.c, writes each
 * response with uv_write() from one allocation freed in the write callback
 * (one response per connection at a time: reading waits until it is
 * written), closes a connection after HTTP_IDLE_MS without a request or
 * HTTP_REQUEST_MS after a request began and is not complete, and closes
 * every handle in http_close(). The requests themselves (parsing,
 * routing, pages) are http_conn.c's and the pages'.
 */
#include <stdio.h>
#include <string.h>

#include "acl.h"
#include "http.h"
#include "server.h"

/* One HTTP connection: its socket, its idle timer, its protocol state. */
struct http_client {
    struct http_conn           conn;      /* the requests on it */
    uv_tcp_t                   tcp;
    uv_timer_t                 idle;      /* HTTP_IDLE_MS per request */
    uv_shutdown_t              shutdown;  /* done: close after the writes */
    TAILQ_ENTRY(http_client)   link;      /* http->clients */
    struct http               *http;      /* NULL once http_close() ran */
    unsigned                   handles;   /* not closed yet; 0: free */
    unsigned                   writes;    /* responses not written yet */
    uint64_t                   write_ms;  /* uv_now() of the last send */
    uint64_t                   active_ms; /* of the last progress: the
                                             connect, a response written */
    char                      *rest;      /* read past the request being
                                             answered: parsed once its
                                             response is written */
    size_t                     rest_off, rest_len;
    bool                       reading;
    bool                       deadline;  /* the timer runs HTTP_REQUEST_MS
                                             for the request begun */
    bool                       shutting;  /* shutdown requested */
    bool                       closing;
};

/* One response on its way out: one allocation, freed when written. */
struct http_write {
    uv_write_t          req;
    struct http_client *cl;
    char                data[];
};

static void
http_client_closed_cb(uv_handle_t *h)
{
    struct http_client *cl = h->data;

    if (--cl->handles == 0) {
        http_conn_free(&cl->conn);
        free(cl->rest);
        free(cl);
    }
}

/* Close <cl> now; queued writes are cancelled. Logs <why> at <level>. */
static void
http_client_close(struct http_client *cl, int level, const char *why)
{
    if (cl->closing) {
        return;
    }
    cl->closing = true;
    hlog(level, &cl->conn, "%s", why);
    if (cl->http != NULL) {
        TAILQ_REMOVE(&cl->http->clients, cl, link);
        cl->http->n_clients--;
        cl->http = NULL;
    }
    uv_close((uv_handle_t *)&cl->tcp, http_client_closed_cb);
    uv_close((uv_handle_t *)&cl->idle, http_client_closed_cb);
}

static void
http_idle_cb(uv_timer_t *t)
{
    struct http_client *cl = t->data;

    http_client_close(cl, LOG_DEBUG,
                      cl->shutting ? "closed" : "idle: closing");
}

static void
http_deadline_cb(uv_timer_t *t)
{
    char why[64];

    snprintf(why, sizeof(why), "request not complete within %u ms: closing",
             HTTP_REQUEST_MS);
    http_client_close(t->data, LOG_DEBUG, why);
}

static void
http_shutdown_cb(uv_shutdown_t *req, int status)
{
    struct http_client *cl = req->data;

    if (status < 0) {
        http_client_close(cl, LOG_DEBUG, "closed");
        return;
    }
    /* Wait a little for the client's end (reading and dropping what it
     * still sends): closing with unread bytes would reset the connection
     * and could destroy the last response before the client reads it. */
    uv_timer_start(&cl->idle, http_idle_cb, HTTP_LINGER_MS, 0);
}

/* The connection is done: send FIN once the writes are out, then close
 * when the client closes too (or after HTTP_LINGER_MS). */
static void
http_client_finish(struct http_client *cl)
{
    if (cl->shutting || cl->closing) {
        return;
    }
    cl->shutting = true;
    cl->shutdown.data = cl;
    if (uv_shutdown(&cl->shutdown, (uv_stream_t *)&cl->tcp,
                    http_shutdown_cb) != 0) {
        http_client_close(cl, LOG_DEBUG, "closed");
    }
}

static void http_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void http_read_cb(uv_stream_t *stream, ssize_t nread,
                         const uv_buf_t *buf);

static void
http_client_read(struct http_client *cl, bool on)
{
    if (on && !cl->reading) {
        uv_read_start((uv_stream_t *)&cl->tcp, http_alloc_cb, http_read_cb);
    } else if (!on && cl->reading) {
        uv_read_stop((uv_stream_t *)&cl->tcp);
    }
    cl->reading = on;
}

/*
 * Feed <len> bytes at <data> (read now, or cl->rest) to <cl>'s requests.
 * Back-pressure: once a request is answered, reading stops and what
 * follows it waits in cl->rest until the response is written, so a client
 * that pipelines and never reads holds one response, not one per request.
 */
static void
http_client_input(struct http_client *cl, const char *data, size_t len)
{
    enum http_feed rc;
    size_t used;

    rc = http_conn_feed(&cl->conn, data, len, &used);
    if (cl->closing) {
        return;
    }
    if (cl->rest != NULL && data == cl->rest + cl->rest_off) {
        cl->rest_off += used;
    } else if (rc == HTTP_FEED_WAIT && used < len) {
        ASSERT(cl->rest == NULL);
        cl->rest = xmalloc(len - used);
        memcpy(cl->rest, data + used, len - used);
        cl->rest_off = 0;
        cl->rest_len = len - used;
    }
    if (cl->rest != NULL &&
        (cl->rest_off == cl->rest_len || rc == HTTP_FEED_DONE)) {
        free(cl->rest);
        cl->rest = NULL;
        cl->rest_off = cl->rest_len = 0;
    }
    if (rc == HTTP_FEED_DONE) {
        http_client_finish(cl);
    } else if (cl->conn.in_request && !cl->deadline) {
        /* A request has begun: it gets HTTP_REQUEST_MS from now, however
         * slowly its bytes trickle in. */
        cl->deadline = true;
        uv_timer_start(&cl->idle, http_deadline_cb, HTTP_REQUEST_MS, 0);
    }
    /* Reading on while done too: the client's end of the connection
     * closes it. */
    http_client_read(cl, rc != HTTP_FEED_WAIT);
}

static void
http_write_cb(uv_write_t *req, int status)
{
    struct http_write *w = container_of(req, struct http_write, req);
    struct http_client *cl = w->cl;

    free(w);
    cl->writes--;
    if (status < 0 && status != UV_ECANCELED) {
        http_client_close(cl, LOG_DEBUG, uv_strerror(status));
        return;
    }
    if (cl->writes == 0 && !cl->closing) {
        cl->active_ms = uv_now(cl->conn.srv->loop);
    }
    if (cl->closing || cl->shutting || cl->writes > 0 ||
        !cl->conn.waiting) {
        return;
    }
    /* Written: the next pipelined request, if any, may be answered. */
    http_conn_written(&cl->conn);
    if (cl->rest != NULL) {
        http_client_input(cl, cl->rest + cl->rest_off,
                          cl->rest_len - cl->rest_off);
    } else {
        http_client_read(cl, true);
    }
}

/* http_send_fn of a real connection: one copy, one uv_write(). */
static void
http_client_send(struct http_conn *c, const char *head, size_t head_len,
                 const char *body, size_t body_len)
{
    struct http_client *cl = container_of(c, struct http_client, conn);
    struct http_write *w;
    uv_buf_t buf;
    int rc;

    if (cl->closing || cl->shutting) {
        return;
    }
    w = xmalloc(sizeof(*w) + head_len + body_len);
    w->cl = cl;
    memcpy(w->data, head, head_len);
    if (body_len > 0) {
        memcpy(w->data + head_len, body, body_len);
    }
    buf = uv_buf_init(w->data, (unsigned)(head_len + body_len));
    rc = uv_write(&w->req, (uv_stream_t *)&cl->tcp, &buf, 1, http_write_cb);
    if (rc != 0) {
        free(w);
        http_client_close(cl, LOG_DEBUG, uv_strerror(rc));
        return;
    }
    cl->writes++;
    cl->write_ms = uv_now(cl->conn.srv->loop);
    cl->deadline = false;
    uv_timer_start(&cl->idle, http_idle_cb, HTTP_IDLE_MS, 0);
}

static void
http_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct http_client *cl = h->data;

    /* The server's read buffer: each read is parsed before the next. */
    *buf = uv_buf_init((char *)cl->conn.srv->rbuf, SERVER_RBUF);
}

static void
http_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct http_client *cl = stream->data;

    if (nread == UV_EOF) {
        http_client_close(cl, LOG_DEBUG, cl->shutting ? "closed"
                                         : "closed by the client");
    } else if (nread < 0) {
        http_client_close(cl, LOG_DEBUG, uv_strerror((int)nread));
    } else if (nread > 0) {
        http_client_input(cl, buf->base, (size_t)nread);
    }
}

/* Over HTTP_MAX_CONNS: close at once, logged at most once a second. */
static void
http_refuse(struct http *h, struct http_client *cl)
{
    unsigned n = log_limit(&h->refusals, uv_now(h->srv->loop));

    h->refused++;
    if (n > 0) {
        log_warn("http: %u connections open: refused %u more",
                 HTTP_MAX_CONNS, n);
    }
    cl->closing = true;
    uv_close((uv_handle_t *)&cl->tcp, http_client_closed_cb);
}

/*
 * All HTTP_MAX_CONNS are open: close the one that has waited longest
 * without progress and is not in the middle of being answered (its
 * response, if any, left less than HTTP_REQUEST_MS ago), so that idle and
 * half-sent connections cannot lock a health check out. Returns false if
 * every one is busy.
 */
static bool
http_make_room(struct http *h)
{
    uint64_t now = uv_now(h->srv->loop);
    struct http_client *cl, *victim = NULL;
    unsigned n;

    TAILQ_FOREACH(cl, &h->clients, link) {
        if (cl->writes > 0 && now - cl->write_ms < HTTP_REQUEST_MS) {
            continue;
        }
        if (victim == NULL || cl->active_ms < victim->active_ms) {
            victim = cl;
        }
    }
    if (victim == NULL) {
        return false;
    }
    n = log_limit(&h->evictions, now);
    if (n > 0) {
        log_warn("http: %u connections open: closed %u idle or unfinished "
                 "to make room", HTTP_MAX_CONNS, n);
    }
    http_client_close(victim, LOG_DEBUG, "closed to make room");
    return true;
}

/* Start reading a connection accepted as <cl>. */
static void
http_client_start(struct http *h, struct http_client *cl)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    char peer[64] = "?";

    if (uv_tcp_getpeername(&cl->tcp, (struct sockaddr *)&ss, &len) == 0) {
        acl_addr_name((struct sockaddr *)&ss, peer, sizeof(peer));
    }
    http_conn_init(&cl->conn, h->srv, http_client_send, ++h->next_id, peer);
    uv_timer_init(h->srv->loop, &cl->idle);
    cl->idle.data = cl;
    cl->handles++;
    cl->http = h;
    cl->active_ms = uv_now(h->srv->loop);
    TAILQ_INSERT_TAIL(&h->clients, cl, link);
    h->n_clients++;
    hlog(LOG_DEBUG, &cl->conn, "connected");
    uv_tcp_nodelay(&cl->tcp, 1);
    http_client_read(cl, true);
    uv_timer_start(&cl->idle, http_idle_cb, HTTP_IDLE_MS, 0);
}

static void
http_connection_cb(uv_stream_t *server, int status)
{
    struct http *h = server->data;
    struct http_client *cl;

    if (status < 0) {
        log_warn("http: accept: %s", uv_strerror(status));
        return;
    }
    cl = xcalloc(1, sizeof(*cl));
    uv_tcp_init(h->srv->loop, &cl->tcp);
    cl->tcp.data = cl;
    cl->handles = 1;
    if (uv_accept(server, (uv_stream_t *)&cl->tcp) != 0) {
        cl->closing = true;
        uv_close((uv_handle_t *)&cl->tcp, http_client_closed_cb);
        return;
    }
    if (h->n_clients >= HTTP_MAX_CONNS && !http_make_room(h)) {
        http_refuse(h, cl);
        return;
    }
    http_client_start(h, cl);
}

static void
http_closed_cb(uv_handle_t *handle)
{
    free(handle->data);
}

/* The name of the address <h> is bound to, from the socket. */
static void
http_bound_name(struct http *h)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);

    if (uv_tcp_getsockname(&h->tcp, (struct sockaddr *)&ss, &len) == 0) {
        acl_addr_name((struct sockaddr *)&ss, h->name, sizeof(h->name));
    }
}

/*
 * Serve HTTP for <srv> on [server] http_listen, if it is set (else do
 * nothing). Returns 0, or a negative UV_E* code if the address cannot be
 * bound (logged; start-up fails, as for the Modbus listeners).
 */
int
http_open(struct server *srv)
{
    const struct cfg_listen *cl = &srv->cfg->server.http;
    unsigned flags = cl->addr.ss_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0;
    struct http *h;
    int rc;

    if (cl->addr.ss_family == AF_UNSPEC) {
        return 0;
    }
    h = xcalloc(1, sizeof(*h));
    h->srv = srv;
    TAILQ_INIT(&h->clients);
    snprintf(h->name, sizeof(h->name), "%s", cl->text);
    uv_tcp_init(srv->loop, &h->tcp);
    h->tcp.data = h;
    rc = uv_tcp_bind(&h->tcp, (const struct sockaddr *)&cl->addr, flags);
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)&h->tcp, 64, http_connection_cb);
    }
    if (rc != 0) {
        log_error("http: cannot listen on %s: %s", cl->text,
                  uv_strerror(rc));
        uv_close((uv_handle_t *)&h->tcp, http_closed_cb);
        return rc;
    }
    http_bound_name(h);
    srv->http = h;
    log_info("http: serving /status, /metrics and /healthz on %s", h->name);
    return 0;
}

/*
 * Close the endpoint of <srv>: the listening socket and every connection
 * (unwritten responses are dropped). Everything is freed in close
 * callbacks, so uv_run() returns once they have run. No-op without one.
 */
void
http_close(struct server *srv)
{
    struct http *h = srv->http;
    struct http_client *cl;

    if (h == NULL) {
        return;
    }
    srv->http = NULL;
    while ((cl = TAILQ_FIRST(&h->clients)) != NULL) {
        http_client_close(cl, LOG_DEBUG, "shutting down");
    }
    uv_close((uv_handle_t *)&h->tcp, http_closed_cb);
}

/* SPDX-License-Identifier: MIT */
/*
 * tcp.c -- the Modbus TCP backend: one libuv connection to a device (a
 * Sigenergy plant, an RS485 gateway in TCP mode, anything that speaks
 * MBAP), with transaction ids of our own.
 *
 * It owns the socket, name resolution, the connect timeout and MBAP
 * framing of responses. The core (backend.c) owns the queue, pacing,
 * attempt timeouts, retries and the reconnect policy: this file reports
 * what happens on the link and never decides what to do about it.
 *
 * Response matching: by transaction id (the id we chose, never a
 * client's), or with check_tid = no, for devices that echo a wrong one, by
 * unit and function code against the single request on the wire. An
 * answer that matches nothing is late (its attempt already timed out) and
 * is dropped and counted, never given to another request.
 */
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "log.h"
#include "mbap.h"
#include "pdu.h"

#define TCP_RBUF 4096

/* One connection attempt; freed in its close callback. */
struct tcp_conn {
    uv_tcp_t        handle;
    uv_connect_t    creq;
    struct tcp_be  *t;              /* NULL once detached (closing) */
    struct mbap_rx  rx;             /* partial response between reads */
    uint8_t         rbuf[TCP_RBUF];
};

/* A write the kernel did not take at once: a copy, freed by its callback. */
struct tcp_wreq {
    uv_write_t       w;
    struct tcp_conn *conn;
    size_t           len;
    uint8_t          data[MB_ADU_MAX];
};

/* The backend's state (be->priv). */
struct tcp_be {
    struct backend    *be;
    struct tcp_conn   *conn;        /* current connection, or NULL */
    uv_getaddrinfo_t   gai;
    bool               resolving;
    bool               stopped;
    uv_timer_t         connect_timer;
    uint16_t           next_tid;
};

static void
conn_close_cb(uv_handle_t *h)
{
    free(container_of((uv_tcp_t *)h, struct tcp_conn, handle));
}

/* Forget the current connection and close it. */
static void
tcp_detach(struct tcp_be *t)
{
    struct tcp_conn *conn = t->conn;

    uv_timer_stop(&t->connect_timer);
    if (conn == NULL) {
        return;
    }
    t->conn = NULL;
    conn->t = NULL;
    uv_close((uv_handle_t *)&conn->handle, conn_close_cb);
}

/* The established link broke: close it and tell the core. */
static void
tcp_lost(struct tcp_be *t, const char *why)
{
    tcp_detach(t);
    backend_conn_lost(t->be, why);
}

static void
tcp_failed(struct tcp_be *t, const char *why)
{
    tcp_detach(t);
    backend_conn_failed(t->be, why);
}

/* True if the response head <pdu> can answer <r> (check_tid = no). */
static bool
tcp_plausible(const struct req *r, const struct mbap *hdr, const uint8_t *pdu)
{
    return hdr->unit == r->be_unit && (pdu[0] & 0x7F) == req_fc(r);
}

/* One response frame from the device. Returns 1 if the link went away. */
static int
tcp_frame_cb(void *ctx, const struct mbap *hdr, const uint8_t *pdu,
             size_t len)
{
    struct tcp_conn *conn = ctx;
    struct tcp_be *t = conn->t;
    struct backend *be = t->be;
    struct req *r;

    r = be->cfg.check_tid ? backend_match_tid(be, hdr->tid)
                          : backend_match_oldest(be);
    if (r != NULL && !be->cfg.check_tid && !tcp_plausible(r, hdr, pdu)) {
        r = NULL;
    }
    if (r == NULL) {
        be->st.late_responses++;
        blog(LOG_DEBUG, be, "dropping late or unknown response tid %u unit "
             "%u fc 0x%02X", hdr->tid, hdr->unit, pdu[0]);
        return 0;
    }
    if (hdr->unit != r->be_unit ||
        !pdu_check_response(req_pdu(r), r->pdu_len, pdu, len)) {
        be->st.bad_responses++;
        rlog(LOG_WARN, r, "bad response (unit %u, fc 0x%02X, %zu bytes)",
             hdr->unit, pdu[0], len);
        backend_attempt_failed(be, r, "bad response");
    } else {
        req_set_response(r, pdu, len);
        backend_done(be, r);
    }
    return t->conn == conn ? 0 : 1;
}

static void
tcp_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct tcp_conn *conn = container_of((uv_tcp_t *)h, struct tcp_conn,
                                         handle);

    (void)suggested;
    *buf = uv_buf_init((char *)conn->rbuf, sizeof(conn->rbuf));
}

static void
tcp_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct tcp_conn *conn = container_of((uv_tcp_t *)s, struct tcp_conn,
                                         handle);
    struct tcp_be *t = conn->t;
    struct mbap bad;
    char why[96];
    int rc;

    if (t == NULL || nread == 0) {
        return;
    }
    if (nread < 0) {
        tcp_lost(t, nread == UV_EOF ? "closed by the device"
                                    : uv_strerror((int)nread));
        return;
    }
    if (log_enabled(LOG_TRACE)) {
        snprintf(why, sizeof(why), "B:%s: rx", t->be->cfg.name);
        log_hexdump(why, (const uint8_t *)buf->base, (size_t)nread);
    }
    rc = mbap_rx_feed(&conn->rx, (const uint8_t *)buf->base, (size_t)nread,
                      tcp_frame_cb, conn, &bad);
    if (rc < 0 && conn->t == t) {
        snprintf(why, sizeof(why), "%s (protocol %u, length %u)",
                 mbap_strerror(rc), bad.proto, bad.len);
        tcp_lost(t, why);
    }
}

static void
tcp_write_cb(uv_write_t *w, int status)
{
    struct tcp_wreq *wr = container_of(w, struct tcp_wreq, w);
    struct tcp_be *t = wr->conn->t;

    if (status < 0 && status != UV_ECANCELED && t != NULL) {
        tcp_lost(t, uv_strerror(status));
    }
    free(wr);
}

/* Send <len> bytes; what the kernel does not take at once is copied. */
static int
tcp_send(struct tcp_conn *conn, const uint8_t *data, size_t len)
{
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    struct tcp_wreq *wr;
    int rc = uv_try_write((uv_stream_t *)&conn->handle, &b, 1);

    if (rc == (int)len) {
        return 0;
    }
    if (rc < 0 && rc != UV_EAGAIN) {
        return rc;
    }
    if (rc < 0) {
        rc = 0;
    }
    wr = xmalloc(sizeof(*wr));
    wr->conn = conn;
    wr->len = len - (size_t)rc;
    memcpy(wr->data, data + rc, wr->len);
    b = uv_buf_init((char *)wr->data, (unsigned)wr->len);
    rc = uv_write(&wr->w, (uv_stream_t *)&conn->handle, &b, 1, tcp_write_cb);
    if (rc < 0) {
        free(wr);
    }
    return rc;
}

/*
 * Put INFLIGHT request <r> on the wire with a transaction id of ours.
 * Takes ownership: the response, a timeout or a lost link finishes it.
 */
static void
tcp_transmit(struct backend *be, struct req *r)
{
    struct tcp_be *t = be->priv;
    uint8_t *adu = req_pdu(r) - MB_MBAP_HDR;
    int rc;

    ASSERT(t->conn != NULL);
    r->be_tid = t->next_tid++;
    mbap_put_header(adu, r->be_tid, r->be_unit, r->pdu_len);
    if (log_enabled(LOG_TRACE)) {
        char prefix[48];

        snprintf(prefix, sizeof(prefix), "B:%s: tx", be->cfg.name);
        log_hexdump(prefix, adu, MB_MBAP_HDR + r->pdu_len);
    }
    rc = tcp_send(t->conn, adu, MB_MBAP_HDR + r->pdu_len);
    if (rc < 0) {
        tcp_lost(t, uv_strerror(rc));
        return;
    }
    if (r->be_unit == 0) {
        backend_broadcast_sent(be, r);
        return;
    }
    backend_attempt_start(be, r);
}

static void
tcp_connect_cb(uv_connect_t *creq, int status)
{
    struct tcp_conn *conn = container_of(creq, struct tcp_conn, creq);
    struct tcp_be *t = conn->t;
    int rc;

    if (t == NULL) {
        return;                 /* timed out or stopped: already closing */
    }
    uv_timer_stop(&t->connect_timer);
    if (status < 0) {
        tcp_failed(t, uv_strerror(status));
        return;
    }
    uv_tcp_nodelay(&conn->handle, 1);
    uv_tcp_keepalive(&conn->handle, 1, 60);
    rc = uv_read_start((uv_stream_t *)&conn->handle, tcp_alloc_cb,
                       tcp_read_cb);
    if (rc < 0) {
        tcp_failed(t, uv_strerror(rc));
        return;
    }
    backend_connected(t->be);
}

static void
tcp_connect_timeout_cb(uv_timer_t *timer)
{
    struct tcp_be *t = timer->data;

    tcp_failed(t, "connect timeout");
}

static void
tcp_resolved_cb(uv_getaddrinfo_t *gai, int status, struct addrinfo *ai)
{
    struct tcp_be *t = container_of(gai, struct tcp_be, gai);
    struct tcp_conn *conn;
    char why[320];
    int rc;

    t->resolving = false;
    if (t->stopped) {
        uv_freeaddrinfo(ai);
        return;
    }
    if (status < 0) {
        snprintf(why, sizeof(why), "cannot resolve %s: %s", t->be->cfg.host,
                 uv_strerror(status));
        backend_conn_failed(t->be, why);
        return;
    }
    conn = xcalloc(1, sizeof(*conn));
    conn->t = t;
    mbap_rx_init(&conn->rx);
    uv_tcp_init(t->be->loop, &conn->handle);
    t->conn = conn;
    rc = uv_tcp_connect(&conn->creq, &conn->handle, ai->ai_addr,
                        tcp_connect_cb);
    uv_freeaddrinfo(ai);
    if (rc < 0) {
        tcp_failed(t, uv_strerror(rc));
        return;
    }
    uv_timer_start(&t->connect_timer, tcp_connect_timeout_cb,
                   t->be->cfg.connect_timeout_ms, 0);
}

/*
 * One connection attempt: resolve the host (off the loop, in libuv's
 * pool), then connect within connect_timeout_ms.
 */
static void
tcp_start(struct backend *be)
{
    struct tcp_be *t = be->priv;
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM};
    char port[8];
    int rc;

    if (t->resolving || t->conn != NULL || t->stopped) {
        return;
    }
    snprintf(port, sizeof(port), "%u", be->cfg.port);
    rc = uv_getaddrinfo(be->loop, &t->gai, tcp_resolved_cb, be->cfg.host,
                        port, &hints);
    if (rc < 0) {
        backend_conn_failed(be, uv_strerror(rc));
        return;
    }
    t->resolving = true;
}

static int
tcp_create(struct backend *be)
{
    struct tcp_be *t = xcalloc(1, sizeof(*t));

    t->be = be;
    t->next_tid = 1;
    uv_timer_init(be->loop, &t->connect_timer);
    t->connect_timer.data = t;
    be->priv = t;
    return 0;
}

static void
tcp_timer_closed_cb(uv_handle_t *h)
{
    struct tcp_be *t = h->data;

    t->be->open_handles--;
}

/* Close everything; the core fails what was on the wire. */
static void
tcp_stop(struct backend *be)
{
    struct tcp_be *t = be->priv;

    t->stopped = true;
    if (t->resolving) {
        uv_cancel((uv_req_t *)&t->gai);
    }
    tcp_detach(t);
    be->up = false;
    be->open_handles++;
    uv_close((uv_handle_t *)&t->connect_timer, tcp_timer_closed_cb);
}

static void
tcp_destroy(struct backend *be)
{
    free(be->priv);
    be->priv = NULL;
}

const struct backend_ops be_tcp_ops = {
    .type = "tcp",
    .create = tcp_create,
    .start = tcp_start,
    .transmit = tcp_transmit,
    .stop = tcp_stop,
    .destroy = tcp_destroy,
};

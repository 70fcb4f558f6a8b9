/* SPDX-License-Identifier: MIT */
/*
 * tcplink.c -- a device's TCP connection (see tcplink.h).
 *
 * Each attempt gets a fresh struct tcplink_conn, freed in its close
 * callback, so a new attempt can start while the old handle is still
 * closing. Callbacks of a connection that has been detached (lost, timed
 * out, stopped) find conn->link == NULL and do nothing.
 *
 * Writes: uv_try_write() first, which on loopback and LANs takes a whole
 * Modbus frame at once; what the kernel does not take is copied into a
 * small write request of our own, so that no request buffer has to outlive
 * its request.
 *
 * A device that stops reading must not make us queue without end (a
 * dongle flooding heartbeats would have every echo queued), nor receive,
 * when it wakes up, writes whose clients were told 0x0B long ago. So:
 * - the bytes waiting here are capped (TCPLINK_QUEUE_MIN, or what
 *   max_inflight full frames take if that is more); past the cap the link
 *   is dropped as "the device does not read";
 * - an attempt that times out while bytes we sent have still not left
 *   (here, or unsent in the kernel: a shut window) resets the link: the
 *   device is not taking what we send, and what it has not taken must
 *   never reach it after the clients were told 0x0B;
 * - a link dropped with bytes unsent is closed with a reset (SO_LINGER 0),
 *   which discards them in the kernel, instead of a close that would
 *   still deliver them.
 * Bytes the device's TCP has acknowledged are its own: a write that timed
 * out after that "may have been written" (the meaning of 0x0B).
 */
#include <linux/sockios.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "backend.h"
#include "http.h"
#include "log.h"
#include "tcplink.h"

#define TCPLINK_RBUF 4096
#define TCPLINK_WMAX 512            /* one send: a frame, a heartbeat echo */
#define TCPLINK_QUEUE_MIN 4096      /* bytes waiting here before a drop */

#define TL(f) offsetof(struct tcplink_cfg, f)

/* The keys of a link, in every type that includes them (a type may list
 * port before them with its own default). */
const struct cfg_key tcplink_keys[] = {
    {"host", CFG_STR, TL(host), CFG_HOST_MAX, NULL, 0, 0, NULL, NULL},
    {"port", CFG_UINT, TL(port), 0, "502", 1, 65535, NULL, NULL},
    {"connect_timeout_ms", CFG_UINT, TL(connect_timeout_ms), 0, "3000",
     10, 600000, NULL, NULL},
    CFG_KEYS_END
};

/* One connection attempt. */
struct tcplink_conn {
    uv_tcp_t        handle;
    uv_connect_t    creq;
    struct tcplink *link;              /* NULL once detached */
    uint8_t         rbuf[TCPLINK_RBUF];
};

/* Bytes the kernel did not take at once (sized to them). */
struct tcplink_wreq {
    uv_write_t           w;
    struct tcplink_conn *conn;
    uint8_t              data[];
};

static void
conn_close_cb(uv_handle_t *h)
{
    free(container_of((uv_tcp_t *)h, struct tcplink_conn, handle));
}

/*
 * The bytes sent on <l> that have not left yet: queued here, or in the
 * kernel and not sent (a full window). 0 without a connection.
 */
size_t
tcplink_unsent(const struct tcplink *l)
{
    uv_os_fd_t fd;
    size_t n;
    int k = 0;

    if (l->conn == NULL) {
        return 0;
    }
    n = uv_stream_get_write_queue_size((const uv_stream_t *)&l->conn->handle);
    if (uv_fileno((const uv_handle_t *)&l->conn->handle, &fd) == 0 &&
        ioctl(fd, SIOCOUTQNSD, &k) == 0 && k > 0) {
        n += (size_t)k;
    }
    return n;
}

/* Close <l>'s connection; with bytes still unsent, by a reset, so that the
 * kernel throws them away rather than deliver them later. */
static void
tcplink_detach(struct tcplink *l)
{
    struct tcplink_conn *conn = l->conn;

    uv_timer_stop(&l->connect_timer);
    if (conn == NULL) {
        return;
    }
    if (tcplink_unsent(l) == 0 ||
        uv_tcp_close_reset(&conn->handle, conn_close_cb) != 0) {
        uv_close((uv_handle_t *)&conn->handle, conn_close_cb);
    }
    l->conn = NULL;
    conn->link = NULL;
}

/*
 * The established link of <l> broke (<why>): close it and tell the core,
 * which retries or fails what was on the wire and reconnects. A link
 * already dropped (its callbacks may still be running) is left alone.
 */
void
tcplink_lost(struct tcplink *l, const char *why)
{
    if (l->conn == NULL) {
        return;
    }
    tcplink_detach(l);
    backend_conn_lost(l->be, why);
}

/*
 * An attempt on <l> timed out. If bytes we sent have not left yet (see
 * tcplink_unsent()), the device is not reading: reset the link, so that
 * they never reach it, and return true (the core has failed what was on
 * the wire and reconnects). Otherwise return false: the device took the
 * request and may still answer it late.
 */
bool
tcplink_reset_if_unsent(struct tcplink *l)
{
    size_t n = tcplink_unsent(l);
    char why[128];

    if (n == 0) {
        return false;
    }
    l->be->st.unsent_resets++;
    snprintf(why, sizeof(why), "timeout with %zu bytes not yet taken by the "
             "device: reset, so that they never reach it", n);
    tcplink_lost(l, why);
    return true;
}

static void
tcplink_failed(struct tcplink *l, const char *why)
{
    tcplink_detach(l);
    backend_conn_failed(l->be, why);
}

static void
tcplink_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct tcplink_conn *conn = container_of((uv_tcp_t *)h,
                                             struct tcplink_conn, handle);

    (void)suggested;
    *buf = uv_buf_init((char *)conn->rbuf, sizeof(conn->rbuf));
}

static void
tcplink_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct tcplink_conn *conn = container_of((uv_tcp_t *)s,
                                             struct tcplink_conn, handle);
    struct tcplink *l = conn->link;
    char prefix[48];

    if (l == NULL || nread == 0) {
        return;
    }
    if (nread < 0) {
        tcplink_lost(l, nread == UV_EOF ? "closed by the device"
                                        : uv_strerror((int)nread));
        return;
    }
    if (log_enabled(LOG_TRACE)) {
        snprintf(prefix, sizeof(prefix), "B:%s: rx", l->be->cfg.name);
        log_hexdump(prefix, (const uint8_t *)buf->base, (size_t)nread);
    }
    l->on_data(l, (const uint8_t *)buf->base, (size_t)nread);
}

static void
tcplink_write_cb(uv_write_t *w, int status)
{
    struct tcplink_wreq *wr = container_of(w, struct tcplink_wreq, w);
    struct tcplink *l = wr->conn->link;

    if (status < 0 && status != UV_ECANCELED && l != NULL) {
        tcplink_lost(l, uv_strerror(status));
    }
    free(wr);
}

/* How many bytes may wait here: TCPLINK_QUEUE_MIN, or the frames that
 * max_inflight lets the core put on the wire at once, if more. */
static size_t
tcplink_queue_cap(const struct tcplink *l)
{
    return MB_MAX((size_t)TCPLINK_QUEUE_MIN,
                  (size_t)l->be->cfg.max_inflight * TCPLINK_WMAX);
}

/*
 * Send <len> (at most 512) bytes of <data> on <l>'s connection; <data> may
 * be reused as soon as this returns. Returns 0 or a negative UV_E* code
 * (the caller reports the link lost). If the bytes already waiting for the
 * device plus these would pass the cap, the link is dropped here ("the
 * device does not read") and UV_ENOBUFS returned.
 */
int
tcplink_send(struct tcplink *l, const uint8_t *data, size_t len)
{
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    struct tcplink_wreq *wr;
    size_t queued;
    char why[128];
    int rc;

    if (l->conn == NULL) {
        return UV_ENOTCONN;
    }
    ASSERT(len <= TCPLINK_WMAX);
    if (log_enabled(LOG_TRACE)) {
        char prefix[48];

        snprintf(prefix, sizeof(prefix), "B:%s: tx", l->be->cfg.name);
        log_hexdump(prefix, data, len);
    }
    rc = uv_try_write((uv_stream_t *)&l->conn->handle, &b, 1);
    if (rc == (int)len) {
        return 0;
    }
    if (rc < 0 && rc != UV_EAGAIN) {
        return rc;
    }
    rc = rc < 0 ? 0 : rc;
    queued = uv_stream_get_write_queue_size((uv_stream_t *)&l->conn->handle);
    if (queued + len - (size_t)rc > tcplink_queue_cap(l)) {
        l->be->st.link_overflows++;
        snprintf(why, sizeof(why), "the device does not read: %zu bytes "
                 "waiting, the cap is %zu", queued + len - (size_t)rc,
                 tcplink_queue_cap(l));
        tcplink_lost(l, why);
        return UV_ENOBUFS;
    }
    wr = xmalloc(sizeof(*wr) + len - (size_t)rc);
    wr->conn = l->conn;
    memcpy(wr->data, data + rc, len - (size_t)rc);
    b = uv_buf_init((char *)wr->data, (unsigned)(len - (size_t)rc));
    rc = uv_write(&wr->w, (uv_stream_t *)&l->conn->handle, &b, 1,
                  tcplink_write_cb);
    if (rc < 0) {
        free(wr);
    }
    return rc;
}

static void
tcplink_connect_cb(uv_connect_t *creq, int status)
{
    struct tcplink_conn *conn = container_of(creq, struct tcplink_conn, creq);
    struct tcplink *l = conn->link;
    int rc;

    if (l == NULL) {
        return;                 /* timed out or stopped: already closing */
    }
    uv_timer_stop(&l->connect_timer);
    if (status < 0) {
        tcplink_failed(l, uv_strerror(status));
        return;
    }
    uv_tcp_nodelay(&conn->handle, 1);
    uv_tcp_keepalive(&conn->handle, 1, 60);
    rc = uv_read_start((uv_stream_t *)&conn->handle, tcplink_alloc_cb,
                       tcplink_read_cb);
    if (rc < 0) {
        tcplink_failed(l, uv_strerror(rc));
        return;
    }
    l->generation++;
    l->on_up(l);
    backend_connected(l->be);
}

static void
tcplink_timeout_cb(uv_timer_t *timer)
{
    tcplink_failed(timer->data, "connect timeout");
}

static void tcplink_connect_to(struct tcplink *l, int status,
                               struct addrinfo *ai);

static void
tcplink_resolved_cb(uv_getaddrinfo_t *gai, int status, struct addrinfo *ai)
{
    struct tcplink *l = container_of(gai, struct tcplink, gai);

    l->resolving = false;
    if (!l->stopped) {
        tcplink_connect_to(l, status, ai);
    }
    uv_freeaddrinfo(ai);
    backend_handle_closed(l->be);   /* may free the backend: last */
}

/* The host resolved (or not, <status>): connect to its first address. */
static void
tcplink_connect_to(struct tcplink *l, int status, struct addrinfo *ai)
{
    struct tcplink_conn *conn;
    char why[320];
    int rc;

    if (status < 0) {
        snprintf(why, sizeof(why), "cannot resolve %s: %s", l->cfg->host,
                 uv_strerror(status));
        backend_conn_failed(l->be, why);
        return;
    }
    conn = xcalloc(1, sizeof(*conn));
    conn->link = l;
    uv_tcp_init(l->be->loop, &conn->handle);
    l->conn = conn;
    rc = uv_tcp_connect(&conn->creq, &conn->handle, ai->ai_addr,
                        tcplink_connect_cb);
    if (rc < 0) {
        tcplink_failed(l, uv_strerror(rc));
        return;
    }
    uv_timer_start(&l->connect_timer, tcplink_timeout_cb,
                   l->cfg->connect_timeout_ms, 0);
}

/*
 * Set up <l> for backend <be>, to the device <cfg> names (borrowed: in
 * be->cfg); <on_up> and <on_data> are the backend's framing. No I/O yet.
 */
void
tcplink_init(struct tcplink *l, struct backend *be,
             const struct tcplink_cfg *cfg, tcplink_up_fn on_up,
             tcplink_data_fn on_data)
{
    memset(l, 0, sizeof(*l));
    l->be = be;
    l->cfg = cfg;
    l->on_up = on_up;
    l->on_data = on_data;
    uv_timer_init(be->loop, &l->connect_timer);
    l->connect_timer.data = l;
}

/*
 * One connection attempt: resolve the host in libuv's pool, then connect
 * within connect_timeout_ms. The outcome goes to the core.
 */
void
tcplink_connect(struct tcplink *l)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM};
    char port[8];
    int rc;

    if (l->resolving || l->conn != NULL || l->stopped) {
        return;
    }
    snprintf(port, sizeof(port), "%u", l->cfg->port);
    rc = uv_getaddrinfo(l->be->loop, &l->gai, tcplink_resolved_cb,
                        l->cfg->host, port, &hints);
    if (rc < 0) {
        backend_conn_failed(l->be, uv_strerror(rc));
        return;
    }
    l->resolving = true;
    backend_handle_opened(l->be);   /* <l> must outlive the lookup */
}

static void
tcplink_timer_closed_cb(uv_handle_t *h)
{
    struct tcplink *l = h->data;

    backend_handle_closed(l->be);
}

/*
 * Close <l> for good, without telling the core (it is stopping the
 * backend). The memory of <l> must live until the loop has run the close
 * callbacks and any pending resolution.
 */
void
tcplink_stop(struct tcplink *l)
{
    l->stopped = true;
    if (l->resolving) {
        uv_cancel((uv_req_t *)&l->gai);
    }
    tcplink_detach(l);
    backend_handle_opened(l->be);
    uv_close((uv_handle_t *)&l->connect_timer, tcplink_timer_closed_cb);
}

/*
 * True if links with settings <a> and <b> reach the same device the same
 * way, so that a reload may keep the connection.
 */
bool
tcplink_same_cfg(const struct tcplink_cfg *a, const struct tcplink_cfg *b)
{
    return strcmp(a->host, b->host) == 0 && a->port == b->port &&
           a->connect_timeout_ms == b->connect_timeout_ms;
}

/*
 * Where the device of a link with settings <c> is, for its backend's card
 * on /status: "host:port".
 */
void
tcplink_status_html(const struct tcplink_cfg *c, struct http_buf *b)
{
    http_buf_puts(b, "<span class=\"where\">");
    http_buf_html(b, c->host);
    http_buf_printf(b, ":%u", c->port);
    http_buf_puts(b, "</span>");
}

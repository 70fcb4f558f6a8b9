/* SPDX-License-Identifier: MIT */
/*
 * rtu_tcp.c -- Modbus RTU frames (with CRC) over a TCP connection to a
 * serial device server ("transparent" mode of a USR, Waveshare or Moxa
 * box): the bus behind it is still RS485, so everything is paced and
 * serialized exactly as for a local port, on libuv instead of a thread.
 *
 * RTU frames carry no transaction id: the one request on the wire is
 * the only candidate, and bytes that come while nothing is on the wire are
 * late answers or noise, dropped and counted. rtu_rx resynchronises past
 * garbage and echoes; a frame of unknown length, or one that stops short,
 * is judged after byte_timeout_ms of silence.
 */
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "log.h"
#include "pdu.h"
#include "rtu_rx.h"
#include "tcplink.h"

/* The backend's state (be->priv). */
struct rtu_tcp_be {
    struct tcplink link;
    struct rtu_rx  rx;           /* the response being collected */
    uint64_t       req_id;       /* the request rx is for, 0 if none */
    uv_timer_t     byte_timer;   /* byte_timeout_ms of silence */
};

/* The request rx is collecting for, if it is still on the wire. */
static struct req *
rtu_tcp_current(struct rtu_tcp_be *t)
{
    struct req *r = backend_match_oldest(t->link.be);

    return r != NULL && t->req_id != 0 && r->id == t->req_id ? r : NULL;
}

static void
rtu_tcp_answer(struct rtu_tcp_be *t, struct req *r)
{
    struct backend *be = t->link.be;
    size_t len;
    const uint8_t *pdu = rtu_rx_pdu(&t->rx, &len);

    be->st.stray_bytes += t->rx.dropped;
    t->req_id = 0;
    uv_timer_stop(&t->byte_timer);
    req_set_response(r, pdu, len);
    backend_done(be, r);
}

static void
rtu_tcp_byte_timer_cb(uv_timer_t *timer)
{
    struct rtu_tcp_be *t = timer->data;
    struct backend *be = t->link.be;
    struct req *r = rtu_tcp_current(t);
    enum rtu_verdict v;

    if (r == NULL) {
        return;
    }
    v = rtu_rx_settle(&t->rx);
    if (v == RTU_OK) {
        rtu_tcp_answer(t, r);
        return;
    }
    if (t->rx.len == 0) {
        return;                 /* only garbage so far: keep waiting */
    }
    be->st.bad_responses++;
    be->st.stray_bytes += t->rx.dropped + t->rx.len;
    t->req_id = 0;
    rlog(LOG_WARN, r, "bad response: %s", v == RTU_NEED_MORE
         ? "truncated response" : rtu_verdict_str(v));
    backend_attempt_failed(be, r, "bad response");
}

static void
rtu_tcp_up(struct tcplink *l)
{
    struct rtu_tcp_be *t = container_of(l, struct rtu_tcp_be, link);

    t->req_id = 0;
}

static void
rtu_tcp_data(struct tcplink *l, const uint8_t *data, size_t len)
{
    struct rtu_tcp_be *t = container_of(l, struct rtu_tcp_be, link);
    struct backend *be = l->be;
    struct req *r = rtu_tcp_current(t);

    if (r == NULL) {
        be->st.stray_bytes += len;
        blog(LOG_DEBUG, be, "dropping %zu bytes: nothing on the wire", len);
        return;
    }
    if (rtu_rx_push(&t->rx, data, len)) {
        rtu_tcp_answer(t, r);
        return;
    }
    uv_timer_start(&t->byte_timer, rtu_tcp_byte_timer_cb,
                   be->cfg.byte_timeout_ms, 0);
}

/*
 * Put INFLIGHT request <r> on the wire as an RTU frame. Takes ownership:
 * the response, a timeout or a lost link finishes it.
 */
static void
rtu_tcp_transmit(struct backend *be, struct req *r)
{
    struct rtu_tcp_be *t = be->priv;
    uint8_t frame[RTU_FRAME_MAX];
    size_t n = rtu_frame_encode(frame, r->be_unit, req_pdu(r), r->pdu_len);
    int rc;

    rtu_rx_start(&t->rx, r->be_unit, req_pdu(r), r->pdu_len);
    t->req_id = r->id;
    uv_timer_stop(&t->byte_timer);
    rc = tcplink_send(&t->link, frame, n);
    if (rc < 0) {
        t->req_id = 0;
        tcplink_lost(&t->link, uv_strerror(rc));
        return;
    }
    if (r->be_unit == 0) {
        t->req_id = 0;
        backend_broadcast_sent(be, r);
        return;
    }
    backend_attempt_start(be, r);
}

/* No transaction ids: a late answer must come while nothing is on the
 * wire, where it is dropped as stray (see backend_quiet()). */
static void
rtu_tcp_attempt_timeout(struct backend *be, struct req *r)
{
    struct rtu_tcp_be *t = be->priv;

    t->req_id = 0;
    uv_timer_stop(&t->byte_timer);
    if (tcplink_reset_if_unsent(&t->link)) {
        return;                 /* the device was not reading (tcplink.c) */
    }
    backend_quiet(be, be->cfg.timeout_ms);
    backend_attempt_failed(be, r, "timeout");
}

static void
rtu_tcp_start(struct backend *be)
{
    struct rtu_tcp_be *t = be->priv;

    tcplink_connect(&t->link);
}

static int
rtu_tcp_create(struct backend *be)
{
    struct rtu_tcp_be *t = xcalloc(1, sizeof(*t));

    tcplink_init(&t->link, be, rtu_tcp_up, rtu_tcp_data);
    uv_timer_init(be->loop, &t->byte_timer);
    t->byte_timer.data = t;
    be->priv = t;
    return 0;
}

static void
rtu_tcp_timer_closed_cb(uv_handle_t *h)
{
    struct rtu_tcp_be *t = h->data;

    backend_handle_closed(t->link.be);
}

static void
rtu_tcp_stop(struct backend *be)
{
    struct rtu_tcp_be *t = be->priv;

    tcplink_stop(&t->link);
    be->up = false;
    t->req_id = 0;
    be->open_handles++;
    uv_close((uv_handle_t *)&t->byte_timer, rtu_tcp_timer_closed_cb);
}

static void
rtu_tcp_destroy(struct backend *be)
{
    free(be->priv);
    be->priv = NULL;
}

const struct backend_ops be_rtu_tcp_ops = {
    .type = "rtu_tcp",
    .create = rtu_tcp_create,
    .start = rtu_tcp_start,
    .transmit = rtu_tcp_transmit,
    .stop = rtu_tcp_stop,
    .attempt_timeout = rtu_tcp_attempt_timeout,
    .destroy = rtu_tcp_destroy,
};

/* SPDX-License-Identifier: MIT */
/*
 * rtu_tcp.c -- Modbus RTU frames (with CRC) over a TCP connection to a
 * serial device server ("transparent" mode of a USR, Waveshare or Moxa
 * box): the bus behind it is still RS485, so everything is paced and
 * serialized exactly as for a local port, on libuv instead of a thread.
 *
 * RTU frames carry no transaction id: the one request on the wire is
 * the only candidate, and bytes that come while nothing is on the wire are
 * copies of its answer, late answers or noise, dropped and counted; the
 * line is kept quiet for settle_ms after each answer (timeout_ms after a
 * timeout) so that they come then. rtu_rx resynchronises past garbage and,
 * with echo = yes, echoes; a frame of unknown length, or one that stops
 * short, is judged after byte_timeout_ms of silence.
 *
 * Its keys: the link's (tcplink_keys), byte_timeout_ms (500 by default: a
 * network hop adds jitter), echo, settle_ms, and broadcast_delay_ms (100
 * by default, as on a local bus).
 */
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "log.h"
#include "pdu.h"
#include "rtu_rx.h"
#include "tcplink.h"

/* The settings of an rtu_tcp backend (be->cfg.own). */
struct rtu_tcp_cfg {
    struct tcplink_cfg link;     /* the serial device server */
    unsigned byte_timeout_ms;    /* silence that ends a frame */
    bool     echo;               /* the line hears our requests */
    unsigned settle_ms;          /* quiet after each answer */
};

CFG_OWN_FITS(struct rtu_tcp_cfg);

#define RT(f) CFG_OWN(struct rtu_tcp_cfg, f)

static const struct cfg_key rtu_tcp_keys[] = {
    {"broadcast_delay_ms", CFG_UINT, CFG_BE(broadcast_delay_ms), 0, "100", 0,
     60000, NULL, NULL},
    {"byte_timeout_ms", CFG_UINT, RT(byte_timeout_ms), 0, "500", 1, 10000,
     NULL, NULL},
    {"echo", CFG_BOOL, RT(echo), 0, "no", 0, 0, NULL, NULL},
    {"settle_ms", CFG_UINT, RT(settle_ms), 0, "50", 0, 60000, NULL, NULL},
    CFG_KEYS_AT(tcplink_keys, RT(link)),
    CFG_KEYS_END
};

/* The backend's state (be->priv). */
struct rtu_tcp_be {
    struct tcplink link;
    struct rtu_rx  rx;           /* the response being collected, then
                                    what else comes for its request */
    uint64_t       req_id;       /* the request rx is for, 0 once it is
                                    answered or given up */
    bool           answered;     /* it was answered: what comes is a copy */
    uv_timer_t     byte_timer;   /* byte_timeout_ms of silence */
};

static const struct rtu_tcp_cfg *
rtu_tcp_cfg(const struct backend *be)
{
    return cfg_own(&be->cfg);
}

/* The request rx is collecting for, if it is still on the wire. */
static struct req *
rtu_tcp_current(struct rtu_tcp_be *t)
{
    struct req *r = backend_match_oldest(t->link.be);

    return r != NULL && t->req_id != 0 && r->id == t->req_id ? r : NULL;
}

/* Bytes dropped by rx so far go to stray_bytes. */
static void
rtu_tcp_count_stray(struct rtu_tcp_be *t)
{
    t->link.be->st.stray_bytes += rtu_rx_take_dropped(&t->rx);
}

/* <n> whole responses came for a request no longer on the wire: copies of
 * its answer, or a late answer after its timeout. */
static void
rtu_tcp_count_late(struct rtu_tcp_be *t, unsigned n)
{
    struct backend *be = t->link.be;

    if (n == 0) {
        return;
    }
    if (t->answered) {
        be->st.duplicates += n;
    } else {
        be->st.late_responses += n;
    }
    blog(LOG_DEBUG, be, "dropping %u %s", n, t->answered
         ? "copies of the last answer" : "late answers");
}

/* <len> bytes while nothing is on the wire: drained and counted. */
static void
rtu_tcp_drain(struct rtu_tcp_be *t, const uint8_t *data, size_t len)
{
    rtu_tcp_count_late(t, rtu_rx_drain(&t->rx, data, len));
    rtu_tcp_count_stray(t);
}

/* rx holds the answer of <r>: complete it, and keep the line quiet for
 * settle_ms, in which what else comes is drained (see rtu_tcp_drain()). */
static void
rtu_tcp_answer(struct rtu_tcp_be *t, struct req *r)
{
    struct backend *be = t->link.be;
    size_t len;
    const uint8_t *pdu = rtu_rx_pdu(&t->rx, &len);

    rtu_tcp_count_stray(t);
    t->req_id = 0;
    t->answered = true;
    uv_timer_stop(&t->byte_timer);
    req_set_response(r, pdu, len);
    rtu_rx_next(&t->rx);
    backend_quiet(be, rtu_tcp_cfg(be)->settle_ms);
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
        backend_hold(be);
        rtu_tcp_answer(t, r);
        rtu_tcp_drain(t, NULL, 0);
        backend_release_hold(be);
        return;
    }
    if (t->rx.len == 0 && t->rx.why == RTU_OK) {
        rtu_tcp_count_stray(t);
        return;                 /* nothing, or only the echo: keep waiting */
    }
    be->st.bad_responses++;
    rtu_rx_discard(&t->rx);
    rtu_tcp_count_stray(t);
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
    t->answered = false;
    rtu_rx_discard(&t->rx);
    rtu_tcp_count_stray(t);
}

static void
rtu_tcp_data(struct tcplink *l, const uint8_t *data, size_t len)
{
    struct rtu_tcp_be *t = container_of(l, struct rtu_tcp_be, link);
    struct backend *be = l->be;
    struct req *r = rtu_tcp_current(t);
    size_t rest;

    /* Whatever follows the answer in these bytes is read as what it is
     * (a copy, noise) before the next request goes out. */
    backend_hold(be);
    if (r == NULL) {
        rtu_tcp_drain(t, data, len);
    } else if (rtu_rx_push(&t->rx, data, len)) {
        rest = t->rx.unread;
        rtu_tcp_answer(t, r);
        rtu_tcp_drain(t, data + len - rest, rest);
    } else {
        uv_timer_start(&t->byte_timer, rtu_tcp_byte_timer_cb,
                       rtu_tcp_cfg(be)->byte_timeout_ms, 0);
    }
    backend_release_hold(be);
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

    /* The quiet line is over: what it brought is judged now. */
    rtu_tcp_count_late(t, rtu_rx_drain_end(&t->rx));
    rtu_tcp_count_stray(t);
    rtu_rx_start(&t->rx, r->be_unit, req_pdu(r), r->pdu_len,
                 rtu_tcp_cfg(be)->echo);
    t->req_id = r->id;
    t->answered = false;
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
 * wire, where it is drained and counted (see backend_quiet()). */
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

    tcplink_init(&t->link, be, &rtu_tcp_cfg(be)->link, rtu_tcp_up,
                 rtu_tcp_data);
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
    t->req_id = 0;
    rtu_rx_discard(&t->rx);
    rtu_tcp_count_stray(t);
    backend_handle_opened(be);
    uv_close((uv_handle_t *)&t->byte_timer, rtu_tcp_timer_closed_cb);
}

static void
rtu_tcp_destroy(struct backend *be)
{
    free(be->priv);
    be->priv = NULL;
}

/* The link stays if the device server does; the framing settings are read
 * as each request goes. */
static bool
rtu_tcp_same_link(const struct cfg_backend *old, const struct cfg_backend *c)
{
    const struct rtu_tcp_cfg *a = cfg_own(old), *b = cfg_own(c);

    return tcplink_same_cfg(&a->link, &b->link);
}

static void
rtu_tcp_status_html(const struct backend *be, struct http_buf *b)
{
    tcplink_status_html(&rtu_tcp_cfg(be)->link, b);
}

const struct backend_ops be_rtu_tcp_ops = {
    .type = "rtu_tcp",
    .keys = rtu_tcp_keys,
    .same_link = rtu_tcp_same_link,
    .status_html = rtu_tcp_status_html,
    .create = rtu_tcp_create,
    .start = rtu_tcp_start,
    .transmit = rtu_tcp_transmit,
    .stop = rtu_tcp_stop,
    .attempt_timeout = rtu_tcp_attempt_timeout,
    .destroy = rtu_tcp_destroy,
};

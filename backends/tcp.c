/* SPDX-License-Identifier: MIT */
/*
 * tcp.c -- the Modbus TCP backend: MBAP framing over a tcplink to a device
 * (a Sigenergy plant, an RS485 gateway in TCP mode, anything that speaks
 * MBAP), with transaction ids of our own.
 *
 * It owns the framing of responses and their matching to requests. The
 * link (tcplink.c) owns the socket; the core (backend.c) owns the queue,
 * pacing, attempt timeouts, retries and the reconnect policy.
 *
 * Response matching: by transaction id (the id we chose, never a
 * client's), or with check_tid = no, for devices that echo a wrong one, by
 * unit and function code against the single request on the wire. An
 * answer that matches nothing is late (its attempt already timed out) or
 * a copy of the last answer, and is dropped and counted, never given to
 * another request. Without ids that needs two things: every frame of a
 * read is matched before the next request goes out (backend_hold()), and
 * the line stays quiet for settle_ms after each answer, so that a copy
 * sent later comes while nothing is asked.
 *
 * Its keys: the link's (tcplink_keys), check_tid and settle_ms, and
 * max_inflight up to 256 (a device may take requests pipelined).
 */
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "log.h"
#include "mbap.h"
#include "pdu.h"
#include "tcplink.h"

/* The settings of a tcp backend (be->cfg.own). */
struct tcp_cfg {
    struct tcplink_cfg link;     /* host, port, connect_timeout_ms */
    bool     check_tid;          /* match responses on transaction id */
    unsigned settle_ms;          /* quiet after each answer (check_tid =
                                    no) */
};

CFG_OWN_FITS(struct tcp_cfg);

static const struct cfg_key tcp_keys[] = {
    {"max_inflight", CFG_UINT, CFG_BE(max_inflight), 0, "1", 1, 256, NULL,
     NULL},
    {"broadcast_delay_ms", CFG_UINT, CFG_BE(broadcast_delay_ms), 0, "0", 0,
     60000, NULL, NULL},
    {"check_tid", CFG_BOOL, CFG_OWN(struct tcp_cfg, check_tid), 0, "yes",
     0, 0, NULL, NULL},
    {"settle_ms", CFG_UINT, CFG_OWN(struct tcp_cfg, settle_ms), 0, "50", 0,
     60000, NULL, NULL},
    CFG_KEYS_AT(tcplink_keys, CFG_OWN(struct tcp_cfg, link)),
    CFG_KEYS_END
};

/* The backend's state (be->priv). */
struct tcp_be {
    struct tcplink  link;
    struct mbap_rx  rx;             /* partial response between reads */
    uint16_t        next_tid;
    struct mbap     last;           /* the last answer's header and */
    uint8_t         last_fc;        /* function code, to know its copies */
};

static void tcp_forget(struct tcp_be *t, const char *why);

static const struct tcp_cfg *
tcp_cfg(const struct backend *be)
{
    return cfg_own(&be->cfg);
}

/* True if the response head <pdu> can answer <r> (check_tid = no). */
static bool
tcp_plausible(const struct req *r, const struct mbap *hdr, const uint8_t *pdu)
{
    return hdr->unit == r->be_unit && (pdu[0] & 0x7F) == req_fc(r);
}

/* A response that answers nothing on the wire: a copy of the last answer
 * (the same transaction id, or without ids the same unit and function), or
 * a late or unknown one. Dropped and counted. */
static void
tcp_unmatched(struct tcp_be *t, const struct mbap *hdr, const uint8_t *pdu)
{
    struct backend *be = t->link.be;
    bool copy = t->last_fc != 0 && (pdu[0] & 0x7F) == (t->last_fc & 0x7F) &&
                hdr->unit == t->last.unit &&
                (!tcp_cfg(be)->check_tid || hdr->tid == t->last.tid);

    if (copy) {
        be->st.duplicates++;
    } else {
        be->st.late_responses++;
    }
    blog(LOG_DEBUG, be, "dropping %s response tid %u unit %u fc 0x%02X",
         copy ? "a copy of the last" : "late or unknown", hdr->tid,
         hdr->unit, pdu[0]);
}

/* One response frame from the device. Returns 1 if the link went away. */
static int
tcp_frame_cb(void *ctx, const struct mbap *hdr, const uint8_t *pdu,
             size_t len)
{
    struct tcp_be *t = ctx;
    struct backend *be = t->link.be;
    const struct tcp_cfg *c = tcp_cfg(be);
    uint64_t gen = t->link.generation;
    struct req *r;

    r = c->check_tid ? backend_match_tid(be, hdr->tid)
                     : backend_match_oldest(be);
    if (r != NULL && !c->check_tid && !tcp_plausible(r, hdr, pdu)) {
        r = NULL;
    }
    if (r == NULL) {
        tcp_unmatched(t, hdr, pdu);
        return 0;
    }
    if (hdr->unit != r->be_unit ||
        !pdu_check_response(req_pdu(r), r->pdu_len, pdu, len)) {
        be->st.bad_responses++;
        rlog(LOG_WARN, r, "bad response (unit %u, fc 0x%02X, %zu bytes)",
             hdr->unit, pdu[0], len);
        if (c->check_tid) {
            backend_attempt_failed(be, r, "bad response");
        } else {
            tcp_forget(t, "bad response");
        }
    } else {
        t->last = *hdr;
        t->last_fc = pdu[0];
        req_set_response(r, pdu, len);
        if (!c->check_tid) {
            backend_quiet(be, c->settle_ms);
        }
        backend_done(be, r);
    }
    /* A completion may transmit, and a failed transmit drops the link. */
    return t->link.conn != NULL && t->link.generation == gen ? 0 : 1;
}

/*
 * Without transaction ids, a late answer to a failed attempt would look
 * like the answer to the next request: drop the link, and every answer
 * still on its way with it. The core reconnects (at once, if the link had
 * worked) and retries the read.
 */
static void
tcp_forget(struct tcp_be *t, const char *why)
{
    char msg[128];

    snprintf(msg, sizeof(msg), "%s with check_tid = no: reconnecting so that "
             "no late answer is mistaken for the next one", why);
    tcplink_lost(&t->link, msg);
}

/* A timeout with bytes still unsent resets the link (tcplink.c says
 * why); otherwise the device has the request and may answer it late. */
static void
tcp_attempt_timeout(struct backend *be, struct req *r)
{
    struct tcp_be *t = be->priv;

    if (tcplink_reset_if_unsent(&t->link)) {
        return;
    }
    if (tcp_cfg(be)->check_tid) {
        backend_attempt_failed(be, r, "timeout");
    } else {
        tcp_forget(t, "timeout");
    }
}

static void
tcp_up(struct tcplink *l)
{
    struct tcp_be *t = container_of(l, struct tcp_be, link);

    mbap_rx_init(&t->rx);
    t->last_fc = 0;
}

static void
tcp_data(struct tcplink *l, const uint8_t *data, size_t len)
{
    struct tcp_be *t = container_of(l, struct tcp_be, link);
    struct mbap bad;
    char why[96];
    int rc;

    /* Every frame of this read is matched before anything is sent. */
    backend_hold(l->be);
    rc = mbap_rx_feed(&t->rx, data, len, tcp_frame_cb, t, &bad);
    if (rc < 0) {
        snprintf(why, sizeof(why), "%s (protocol %u, length %u)",
                 mbap_strerror(rc), bad.proto, bad.len);
        tcplink_lost(l, why);
    }
    backend_release_hold(l->be);
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

    r->be_tid = t->next_tid++;
    mbap_put_header(adu, r->be_tid, r->be_unit, r->pdu_len);
    rc = tcplink_send(&t->link, adu, MB_MBAP_HDR + r->pdu_len);
    if (rc < 0) {
        tcplink_lost(&t->link, uv_strerror(rc));
        return;
    }
    if (r->be_unit == 0) {
        backend_broadcast_sent(be, r);
        return;
    }
    backend_attempt_start(be, r);
}

static void
tcp_start(struct backend *be)
{
    struct tcp_be *t = be->priv;

    tcplink_connect(&t->link);
}

static int
tcp_create(struct backend *be)
{
    struct tcp_be *t = xcalloc(1, sizeof(*t));

    tcplink_init(&t->link, be, &tcp_cfg(be)->link, tcp_up, tcp_data);
    t->next_tid = 1;
    be->priv = t;
    return 0;
}

/* Close everything; the core fails what was on the wire. */
static void
tcp_stop(struct backend *be)
{
    struct tcp_be *t = be->priv;

    tcplink_stop(&t->link);
}

static void
tcp_destroy(struct backend *be)
{
    free(be->priv);
    be->priv = NULL;
}

/* Without transaction ids, one request at a time. */
static bool
tcp_check_cfg(const struct cfg_backend *c, char *why, size_t size)
{
    const struct tcp_cfg *t = cfg_own(c);

    if (!t->check_tid && c->max_inflight != 1) {
        snprintf(why, size, "check_tid: \"no\" needs max_inflight = 1 "
                 "(responses could not be told apart)");
        return false;
    }
    return true;
}

/* The link stays if the device and the way responses are matched do. */
static bool
tcp_same_link(const struct cfg_backend *old, const struct cfg_backend *c)
{
    const struct tcp_cfg *a = cfg_own(old), *b = cfg_own(c);

    return tcplink_same_cfg(&a->link, &b->link) &&
           a->check_tid == b->check_tid &&
           old->max_inflight == c->max_inflight;
}

static void
tcp_status_html(const struct backend *be, struct http_buf *b)
{
    tcplink_status_html(&tcp_cfg(be)->link, b);
}

const struct backend_ops be_tcp_ops = {
    .type = "tcp",
    .keys = tcp_keys,
    .check_cfg = tcp_check_cfg,
    .same_link = tcp_same_link,
    .status_html = tcp_status_html,
    .create = tcp_create,
    .start = tcp_start,
    .transmit = tcp_transmit,
    .stop = tcp_stop,
    .attempt_timeout = tcp_attempt_timeout,
    .destroy = tcp_destroy,
};

/* SPDX-License-Identifier: MIT */
/*
 * fe_modbus.c -- the "modbus" front end: Modbus TCP clients (MBAP framing,
 * Modbus Messaging on TCP/IP Implementation Guide V1.0b, section 3.1.3),
 * the type that [server] listen opens and [listener] sections get by
 * default.
 *
 * In: the MBAP reassembler of mbap.c cuts the stream into frames (partial
 * frames across reads, several frames in one read); each becomes a request
 * with the client's transaction id and unit id. A header with a protocol
 * id other than 0 or a length outside 2..254 cannot be resynchronised: the
 * connection is closed with the header in the reason.
 * Out: the 7-byte MBAP header is written in front of the response PDU, in
 * place in req->out, so an answer goes out without a copy.
 *
 * Pure: no libuv call, no allocation. The per-connection state is one
 * partial frame (struct mbap_rx, 268 bytes), as the session held before
 * front ends were types.
 */
#include <stdio.h>

#include "frontend.h"
#include "mbap.h"
#include "req.h"

/* The state of one connection. */
struct fe_modbus {
    struct mbap_rx rx;                 /* the partial frame between reads */
};

static void
fe_modbus_open(struct fe_conn *c)
{
    struct fe_modbus *m = c->state;

    mbap_rx_init(&m->rx);
}

/* mbap_rx_feed's frame callback: one whole frame, handed on as a request. */
static int
fe_modbus_frame_cb(void *ctx, const struct mbap *hdr, const uint8_t *pdu,
                   size_t len)
{
    struct fe_conn *c = ctx;
    struct fe_request rq = {
        .tid = hdr->tid,
        .unit = hdr->unit,
        .pdu = pdu,
        .pdu_len = len,
    };

    return c->host->request(c, &rq);
}

static int
fe_modbus_feed(struct fe_conn *c, const uint8_t *data, size_t len,
               char *why, size_t why_size)
{
    struct fe_modbus *m = c->state;
    struct mbap bad;
    int rc = mbap_rx_feed(&m->rx, data, len, fe_modbus_frame_cb, c, &bad);

    if (rc == MBAP_BAD_PROTO) {
        snprintf(why, why_size, "%s %u (length %u, tid %u)",
                 mbap_strerror(rc), bad.proto, bad.len, bad.tid);
    } else if (rc < 0) {
        snprintf(why, why_size, "%s %u (protocol id %u, tid %u)",
                 mbap_strerror(rc), bad.len, bad.proto, bad.tid);
    }
    return rc;
}

static size_t
fe_modbus_partial(const struct fe_conn *c)
{
    const struct fe_modbus *m = c->state;

    return m->rx.len;
}

static size_t
fe_modbus_encode_reply(struct fe_conn *c, struct req *r, const uint8_t **out)
{
    mbap_put_header(r->out, r->tid, r->unit, r->rsp_len);
    *out = r->out;
    return MB_MBAP_HDR + r->rsp_len;
}

const struct frontend_ops fe_modbus_ops = {
    .type = "modbus",
    .state_size = sizeof(struct fe_modbus),
    .request_min = MB_FRAME_MIN,
    .open = fe_modbus_open,
    .feed = fe_modbus_feed,
    .partial = fe_modbus_partial,
    .encode_reply = fe_modbus_encode_reply,
};

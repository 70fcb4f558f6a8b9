/* SPDX-License-Identifier: MIT */
/*
 * rtu_rx.c -- one RTU response out of a byte stream (see rtu_rx.h).
 *
 * rtu_frame_find() does the resynchronisation: it skips garbage and an
 * echo of our request and tells where a response could still start, so
 * the buffer only ever holds a candidate. A frame of known length completes
 * as soon as its last byte arrives; a function code without a length rule
 * completes when the line falls silent (rtu_rx_settle).
 */
#include <string.h>

#include "rtu_rx.h"

/*
 * Start collecting the answer of request <req> (<req_len> bytes, borrowed
 * until the attempt ends) to <unit>; bytes held so far are forgotten.
 */
void
rtu_rx_start(struct rtu_rx *rx, uint8_t unit, const uint8_t *req,
             size_t req_len)
{
    rx->unit = unit;
    rx->req = req;
    rx->req_len = req_len;
    rx->len = 0;
    rx->dropped = 0;
    rx->why = RTU_OK;
    rx->off = 0;
    rx->flen = 0;
}

/* Drop the first <n> bytes: they cannot start the response. The first
 * time, keep why (a frame with a bad CRC says more than "garbage"). */
static void
rtu_rx_drop(struct rtu_rx *rx, size_t n)
{
    size_t flen;

    if (n == 0) {
        return;
    }
    if (rx->why == RTU_OK) {
        rx->why = rtu_frame_check(rx->unit, rx->req, rx->req_len, rx->buf,
                                  rx->len, &flen);
        if (rx->why >= 0) {
            rx->why = RTU_BAD_LENGTH;
        }
    }
    memmove(rx->buf, rx->buf + n, rx->len - n);
    rx->len -= n;
    rx->dropped += n;
}

/*
 * Add <len> received bytes. Returns true once a whole valid response is
 * there (rtu_rx_pdu() gives it); bytes after it are stray and ignored.
 */
bool
rtu_rx_push(struct rtu_rx *rx, const uint8_t *data, size_t len)
{
    while (len > 0) {
        size_t n = len < sizeof(rx->buf) - rx->len ? len : sizeof(rx->buf) - rx->len;
        size_t off = 0, flen = 0;

        memcpy(rx->buf + rx->len, data, n);
        rx->len += n;
        data += n;
        len -= n;
        if (rtu_frame_find(rx->unit, rx->req, rx->req_len, rx->buf, rx->len,
                           &off, &flen) == 1) {
            rx->off = off;
            rx->flen = flen;
            return true;
        }
        rtu_rx_drop(rx, off);
        if (rx->len == sizeof(rx->buf)) {
            rtu_rx_drop(rx, 1);     /* a candidate that never ends */
        }
    }
    return false;
}

/*
 * The line is silent (byte_timeout_ms passed since the last byte): judge
 * what is held. Returns RTU_OK if a response is there (a frame of unknown
 * length is taken whole, its CRC being right), RTU_NEED_MORE when nothing
 * or only part of a frame came, or why the bytes are not a response.
 */
enum rtu_verdict
rtu_rx_settle(struct rtu_rx *rx)
{
    size_t flen = 0;
    enum rtu_verdict v;

    if (rx->flen > 0) {
        return RTU_OK;
    }
    if (rx->len == 0) {
        return rx->why != RTU_OK ? rx->why : RTU_NEED_MORE;
    }
    v = rtu_frame_check(rx->unit, rx->req, rx->req_len, rx->buf, rx->len,
                        &flen);
    if (v == RTU_UNKNOWN_LEN) {
        rx->off = 0;
        rx->flen = flen;
        return RTU_OK;
    }
    if (v == RTU_NEED_MORE && rx->why != RTU_OK) {
        return rx->why;         /* a bad frame, then the start of another */
    }
    return v == RTU_OK ? RTU_BAD_LENGTH : v;
}

/*
 * The response PDU (function code onwards, no CRC) once rtu_rx_push()
 * returned true or rtu_rx_settle() RTU_OK; its length in <len>.
 */
const uint8_t *
rtu_rx_pdu(const struct rtu_rx *rx, size_t *len)
{
    *len = rx->flen - 3;
    return rx->buf + rx->off + 1;
}

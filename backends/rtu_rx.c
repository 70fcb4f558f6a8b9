/* SPDX-License-Identifier: MIT */
/*
 * rtu_rx.c -- one RTU response out of a byte stream (see rtu_rx.h).
 *
 * rtu_frame_find() does the resynchronisation: it skips garbage and, on a
 * line that echoes, the echo of our request, and tells where a response
 * could still start, so the buffer only ever holds a candidate. A frame of
 * known length completes as soon as its last byte arrives; a function code
 * without a length rule, and bytes that may be the echo or an answer that
 * repeats the request, complete when the line falls silent
 * (rtu_rx_settle).
 *
 * Every byte pushed is, in the end, either the response or counted in
 * dropped: the callers add dropped to the backend's stray_bytes.
 */
#include <string.h>

#include "rtu_rx.h"

/*
 * Start collecting the answer of request <req> (<req_len> bytes, copied)
 * to <unit>, on a line that echoes our requests if <echo>; bytes held so
 * far are forgotten (count them first: rtu_rx_drain_end()).
 */
void
rtu_rx_start(struct rtu_rx *rx, uint8_t unit, const uint8_t *req,
             size_t req_len, bool echo)
{
    rx->unit = unit;
    rx->echo = echo;
    rx->req_len = req_len < sizeof(rx->req) ? req_len : sizeof(rx->req);
    memcpy(rx->req, req, rx->req_len);
    rx->req_n = 0;
    if (echo && req_len >= 1 && req_len + 3 <= RTU_FRAME_MAX) {
        rx->req_n = rtu_frame_encode(rx->req_frame, unit, req, req_len);
    }
    rx->len = 0;
    rx->dropped = 0;
    rx->unread = 0;
    rx->why = RTU_OK;
    rx->off = 0;
    rx->flen = 0;
}

/* True when the <n> bytes at <p> start with the whole echo of the
 * request. */
static bool
starts_with_echo(const struct rtu_rx *rx, const uint8_t *p, size_t n)
{
    return rx->req_n > 0 && n >= rx->req_n &&
           memcmp(p, rx->req_frame, rx->req_n) == 0;
}

/* Drop the first <n> bytes: they cannot start the response. The first
 * time, keep why (a frame with a bad CRC says more than "garbage"); the
 * echo of our request says nothing about the device. */
static void
rtu_rx_drop(struct rtu_rx *rx, size_t n)
{
    size_t flen, skip = 0;

    if (n == 0) {
        return;
    }
    if (starts_with_echo(rx, rx->buf, n)) {
        skip = rx->req_n;
    }
    if (rx->why == RTU_OK && n > skip) {
        rx->why = rtu_frame_check(rx->unit, rx->req, rx->req_len,
                                  rx->buf + skip, rx->len - skip, &flen);
        if (rx->why >= 0) {
            rx->why = RTU_BAD_LENGTH;
        }
    }
    memmove(rx->buf, rx->buf + n, rx->len - n);
    rx->len -= n;
    rx->dropped += n;
}

/* Look for the response in what is held: true if it is there (then at
 * the start of buf: the bytes before it are dropped), else drop what
 * cannot start it. */
static bool
rtu_rx_find(struct rtu_rx *rx)
{
    size_t off = 0, flen = 0;

    if (rtu_frame_find(rx->unit, rx->req, rx->req_len, rx->echo, rx->buf,
                       rx->len, &off, &flen) == 1) {
        memmove(rx->buf, rx->buf + off, rx->len - off);
        rx->len -= off;
        rx->dropped += off;
        rx->off = 0;
        rx->flen = flen;
        return true;
    }
    rtu_rx_drop(rx, off);
    return false;
}

/*
 * Add <len> received bytes. Returns true once a whole valid response is
 * there (rtu_rx_pdu() gives it); rx->unread then says how many of the
 * last bytes of <data> were not taken in: they come after the response
 * (rtu_rx_drain() counts them).
 */
bool
rtu_rx_push(struct rtu_rx *rx, const uint8_t *data, size_t len)
{
    while (len > 0) {
        size_t room = sizeof(rx->buf) - rx->len;
        size_t n = len < room ? len : room;

        memcpy(rx->buf + rx->len, data, n);
        rx->len += n;
        data += n;
        len -= n;
        if (rtu_rx_find(rx)) {
            rx->unread = len;
            return true;
        }
        if (rx->len == sizeof(rx->buf)) {
            rtu_rx_drop(rx, 1);     /* a candidate that never ends */
        }
    }
    rx->unread = 0;
    return false;
}

/*
 * The line is silent (byte_timeout_ms passed since the last byte): judge
 * what is held. Returns RTU_OK if a response is there (a frame of unknown
 * length is taken whole, its CRC being right; so is an answer that looks
 * like the echo of the request, on a line that echoes), RTU_NEED_MORE when
 * nothing, only the echo, or only part of a frame came, or why the bytes
 * are not a response.
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
    if (v == RTU_OK || v == RTU_UNKNOWN_LEN) {
        rx->off = 0;
        rx->flen = flen;
        return RTU_OK;
    }
    if (starts_with_echo(rx, rx->buf, rx->len)) {
        /* The echo, and no answer after it (yet): what follows it is
         * judged on its own. */
        rtu_rx_drop(rx, rx->req_n);
        return rtu_rx_find(rx) ? RTU_OK : rtu_rx_settle(rx);
    }
    if (v == RTU_NEED_MORE && rx->why != RTU_OK) {
        return rx->why;         /* a bad frame, then the start of another */
    }
    return v;
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

/*
 * The response found has been taken: forget it, keep the bytes after it
 * and go on collecting for the same request (what comes now is a copy, or
 * noise). Returns true if another whole response is in the bytes kept.
 */
bool
rtu_rx_next(struct rtu_rx *rx)
{
    size_t end = rx->off + rx->flen;

    memmove(rx->buf, rx->buf + end, rx->len - end);
    rx->len -= end;
    rx->off = 0;
    rx->flen = 0;
    rx->why = RTU_OK;
    return rtu_rx_find(rx);
}

/*
 * <len> bytes came after the request <rx> collects for was answered or
 * given up: count the whole responses to it among them (copies, or a late
 * answer) and take them, with everything else, as dropped. A response held
 * already (rtu_rx_next() found one) counts too. Returns how many there
 * were.
 */
unsigned
rtu_rx_drain(struct rtu_rx *rx, const uint8_t *data, size_t len)
{
    unsigned n = 0;

    for (;;) {
        while (rx->flen > 0) {
            n++;
            rx->dropped += rx->flen;
            rtu_rx_next(rx);
        }
        if (len == 0 || !rtu_rx_push(rx, data, len)) {
            return n;
        }
        data += len - rx->unread;
        len = rx->unread;
    }
}

/*
 * The line was kept quiet after the request <rx> collected for, and the
 * next one is about to go: judge what is still held (a copy of unknown
 * length ends at this silence) and drop it all. Returns the number of
 * responses among it, 0 or 1.
 */
unsigned
rtu_rx_drain_end(struct rtu_rx *rx)
{
    unsigned n = rtu_rx_drain(rx, NULL, 0);

    if (rx->len > 0 && rtu_rx_settle(rx) == RTU_OK) {
        n++;
    }
    rtu_rx_discard(rx);
    return n;
}

/* Drop everything held (a bad response, given up). */
void
rtu_rx_discard(struct rtu_rx *rx)
{
    rx->dropped += rx->len;
    rx->len = 0;
    rx->off = 0;
    rx->flen = 0;
}

/* The bytes dropped since the last call, for the stray_bytes counter. */
size_t
rtu_rx_take_dropped(struct rtu_rx *rx)
{
    size_t n = rx->dropped;

    rx->dropped = 0;
    return n;
}

/* SPDX-License-Identifier: MIT */
/*
 * mbap.c -- Modbus TCP framing. mbap_decode() checks one header; the
 * reassembler (struct mbap_rx) carries an incomplete frame from one read to
 * the next, so callers can hand it whatever the socket returned: half a
 * header, one frame, or fifty pipelined frames at once.
 *
 * It owns no memory and never calls libuv; the fuzz target in
 * tests/fuzz/fuzz_mbap.c drives it directly.
 */
#include <string.h>

#include "mbap.h"

#define MBAP_LEN_MIN 2       /* unit + function code */
#define MBAP_LEN_MAX 254     /* unit + 253-byte PDU */

static uint16_t
get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/*
 * Decode the MBAP header at <buf> (<len> bytes available) into <hdr>.
 * <hdr> is filled as soon as 7 bytes are there, even when the header is bad,
 * so that the caller can log what it saw. Returns MBAP_OK when the whole
 * frame (6 + hdr->len bytes) is in <buf>, MBAP_NEED_MORE when it is not yet,
 * or MBAP_BAD_PROTO / MBAP_BAD_LEN for a header that can never be valid.
 */
enum mbap_status
mbap_decode(const uint8_t *buf, size_t len, struct mbap *hdr)
{
    if (len < MB_MBAP_HDR) {
        return MBAP_NEED_MORE;
    }
    hdr->tid = get16(buf);
    hdr->proto = get16(buf + 2);
    hdr->len = get16(buf + 4);
    hdr->unit = buf[6];
    if (hdr->proto != 0) {
        return MBAP_BAD_PROTO;
    }
    if (hdr->len < MBAP_LEN_MIN || hdr->len > MBAP_LEN_MAX) {
        return MBAP_BAD_LEN;
    }
    return len >= (size_t)6 + hdr->len ? MBAP_OK : MBAP_NEED_MORE;
}

/*
 * Write a 7-byte MBAP header for a PDU of <pdu_len> bytes to <out>.
 */
void
mbap_put_header(uint8_t *out, uint16_t tid, uint8_t unit, size_t pdu_len)
{
    out[0] = (uint8_t)(tid >> 8);
    out[1] = (uint8_t)tid;
    out[2] = 0;
    out[3] = 0;
    out[4] = (uint8_t)((pdu_len + 1) >> 8);
    out[5] = (uint8_t)(pdu_len + 1);
    out[6] = unit;
}

/*
 * Build a whole ADU (header + <pdu>) in <out>, which must hold
 * MB_MBAP_HDR + <pdu_len> bytes; <pdu_len> is 1..MB_PDU_MAX.
 * Returns the ADU length.
 */
size_t
mbap_encode(uint8_t *out, uint16_t tid, uint8_t unit, const uint8_t *pdu,
            size_t pdu_len)
{
    mbap_put_header(out, tid, unit, pdu_len);
    memmove(out + MB_MBAP_HDR, pdu, pdu_len);
    return MB_MBAP_HDR + pdu_len;
}

/*
 * Text for a negative mbap_status, for the log line that closes a client.
 */
const char *
mbap_strerror(int status)
{
    switch (status) {
    case MBAP_BAD_PROTO:
        return "bad MBAP protocol id";
    case MBAP_BAD_LEN:
        return "bad MBAP length";
    default:
        return "bad MBAP frame";
    }
}

/*
 * Reset <rx> to hold nothing.
 */
void
mbap_rx_init(struct mbap_rx *rx)
{
    rx->len = 0;
}

/* Top up the held partial frame from <*data>; returns MBAP_OK once it is
 * whole, MBAP_NEED_MORE when the input ran out, or a negative status. */
static int
mbap_rx_complete(struct mbap_rx *rx, const uint8_t **data, size_t *len,
                 struct mbap *hdr)
{
    for (;;) {
        int st = mbap_decode(rx->buf, rx->len, hdr);
        size_t want, n;

        if (st != MBAP_NEED_MORE) {
            return st;
        }
        if (*len == 0) {
            return MBAP_NEED_MORE;
        }
        want = rx->len < MB_MBAP_HDR ? MB_MBAP_HDR : (size_t)6 + hdr->len;
        n = want - rx->len;
        if (n > *len) {
            n = *len;
        }
        memcpy(rx->buf + rx->len, *data, n);
        rx->len += n;
        *data += n;
        *len -= n;
    }
}

/*
 * Feed <len> bytes of stream <data> to <rx>. <fn> is called with <ctx> for
 * every whole frame, in order; a trailing partial frame is kept for the next
 * call. Returns 0 when everything was consumed; a negative mbap_status when
 * a header is malformed (the header seen is copied to <bad>, and the stream
 * cannot be resynchronised: close the connection); or the first non-zero
 * value <fn> returned, after which the rest of <data> is discarded.
 */
int
mbap_rx_feed(struct mbap_rx *rx, const uint8_t *data, size_t len,
             mbap_frame_fn fn, void *ctx, struct mbap *bad)
{
    struct mbap hdr;
    int st, rc;

    if (rx->len > 0) {
        st = mbap_rx_complete(rx, &data, &len, &hdr);
        if (st == MBAP_NEED_MORE) {
            return 0;
        }
        if (st < 0) {
            *bad = hdr;
            return st;
        }
        rx->len = 0;
        rc = fn(ctx, &hdr, rx->buf + MB_MBAP_HDR, (size_t)hdr.len - 1);
        if (rc != 0) {
            return rc;
        }
    }
    while (len > 0) {
        st = mbap_decode(data, len, &hdr);
        if (st < 0) {
            *bad = hdr;
            return st;
        }
        if (st == MBAP_NEED_MORE) {
            memcpy(rx->buf, data, len);
            rx->len = len;
            return 0;
        }
        rc = fn(ctx, &hdr, data + MB_MBAP_HDR, (size_t)hdr.len - 1);
        if (rc != 0) {
            return rc;
        }
        data += (size_t)6 + hdr.len;
        len -= (size_t)6 + hdr.len;
    }
    return 0;
}

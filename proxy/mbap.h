/* SPDX-License-Identifier: MIT */
/*
 * mbap.h -- Modbus TCP (MBAP) framing: a pure codec and a reassembler that
 * turns an arbitrary byte stream (partial frames, several frames per read)
 * into whole frames. No libuv, no allocation.
 */
#ifndef MUX_MBAP_H
#define MUX_MBAP_H

#include <stddef.h>
#include <stdint.h>

#define MB_MBAP_HDR   7      /* tid(2) proto(2) len(2) unit(1) */
#define MB_PDU_MAX    253    /* function code + data */
#define MB_ADU_MAX    (MB_MBAP_HDR + MB_PDU_MAX)   /* 260 */
#define MB_FRAME_MIN  (MB_MBAP_HDR + 1)            /* a bare function code */

/* One decoded MBAP header. */
struct mbap {
    uint16_t tid;            /* transaction id */
    uint16_t proto;          /* protocol id, 0 for Modbus */
    uint16_t len;            /* bytes after the length field: unit + PDU */
    uint8_t  unit;           /* unit identifier */
};

enum mbap_status {
    MBAP_OK = 0,             /* a whole frame is there */
    MBAP_NEED_MORE = 1,      /* not enough bytes yet */
    MBAP_BAD_PROTO = -1,     /* protocol id != 0 */
    MBAP_BAD_LEN = -2,       /* length field < 2 or > 254 */
};

/* A frame reassembler: holds at most one partial frame between reads. */
struct mbap_rx {
    size_t  len;                     /* bytes held in buf */
    uint8_t buf[MB_ADU_MAX];         /* the start of an incomplete frame */
};

/* Called once per whole frame; <pdu> is valid only during the call.
 * Returning non-zero stops the feed (mbap_rx_feed returns that value). */
typedef int (*mbap_frame_fn)(void *ctx, const struct mbap *hdr,
                             const uint8_t *pdu, size_t pdu_len);

enum mbap_status mbap_decode(const uint8_t *buf, size_t len, struct mbap *hdr);
size_t mbap_encode(uint8_t *out, uint16_t tid, uint8_t unit,
                   const uint8_t *pdu, size_t pdu_len);
void mbap_put_header(uint8_t *out, uint16_t tid, uint8_t unit, size_t pdu_len);
const char *mbap_strerror(int status);

void mbap_rx_init(struct mbap_rx *rx);
int mbap_rx_feed(struct mbap_rx *rx, const uint8_t *data, size_t len,
                 mbap_frame_fn fn, void *ctx, struct mbap *bad);

#endif /* MUX_MBAP_H */

/* SPDX-License-Identifier: MIT */
/*
 * rtu_rx.h -- collecting one RTU response from a byte stream: bytes are
 * pushed as they arrive (from a serial port on a bus worker, or from a TCP
 * stream on the loop), garbage and echoes of the request are skipped, and
 * when the line falls silent what is there is judged. Pure: the callers own
 * the clocks (response timeout, byte_timeout_ms).
 */
#ifndef MUX_RTU_RX_H
#define MUX_RTU_RX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rtu_frame.h"

#define RTU_RX_MAX (2 * RTU_FRAME_MAX)

/* The response being collected for one request. */
struct rtu_rx {
    uint8_t        unit;          /* unit asked */
    const uint8_t *req;           /* request PDU; borrowed for the attempt */
    size_t         req_len;
    size_t         len;           /* bytes in buf */
    size_t         dropped;       /* garbage bytes skipped so far */
    enum rtu_verdict why;         /* why the first skipped bytes were not
                                     a response (RTU_OK: none skipped) */
    size_t         off, flen;     /* the frame, once found */
    uint8_t        buf[RTU_RX_MAX];
};

void rtu_rx_start(struct rtu_rx *rx, uint8_t unit, const uint8_t *req,
                  size_t req_len);
bool rtu_rx_push(struct rtu_rx *rx, const uint8_t *data, size_t len);
enum rtu_verdict rtu_rx_settle(struct rtu_rx *rx);
const uint8_t *rtu_rx_pdu(const struct rtu_rx *rx, size_t *len);

#endif /* MUX_RTU_RX_H */

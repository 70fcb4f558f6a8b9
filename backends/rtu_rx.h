/* SPDX-License-Identifier: MIT */
/*
 * rtu_rx.h -- collecting one RTU response from a byte stream: bytes are
 * pushed as they arrive (from a serial port on a bus worker, or from a TCP
 * stream on the loop), garbage and, on a line that hears itself, echoes of
 * the request are skipped, and when the line falls silent what is there is
 * judged. Once the response is taken, the same collector counts what else
 * comes for that request (a device or gateway that sends its answer twice,
 * an answer after its timeout) until the next request starts it afresh.
 * Pure: the callers own the clocks (response timeout, byte_timeout_ms).
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
    bool           echo;          /* the line echoes our requests */
    uint8_t        req[RTU_FRAME_MAX]; /* request PDU (a copy) */
    size_t         req_len;
    uint8_t        req_frame[RTU_FRAME_MAX]; /* its frame, with echo */
    size_t         req_n;         /* its length; 0 without echo */
    size_t         len;           /* bytes in buf */
    size_t         dropped;       /* bytes that were not the response (noise,
                                     echoes, copies): the caller counts and
                                     clears them */
    size_t         unread;        /* after rtu_rx_push() found the response:
                                     pushed bytes it did not take in */
    enum rtu_verdict why;         /* why the first skipped bytes were not
                                     a response (RTU_OK: none skipped, or
                                     only an echo) */
    size_t         off, flen;     /* the frame, once found */
    uint8_t        buf[RTU_RX_MAX];
};

void rtu_rx_start(struct rtu_rx *rx, uint8_t unit, const uint8_t *req,
                  size_t req_len, bool echo);
bool rtu_rx_push(struct rtu_rx *rx, const uint8_t *data, size_t len);
enum rtu_verdict rtu_rx_settle(struct rtu_rx *rx);
const uint8_t *rtu_rx_pdu(const struct rtu_rx *rx, size_t *len);
bool rtu_rx_next(struct rtu_rx *rx);
unsigned rtu_rx_drain(struct rtu_rx *rx, const uint8_t *data, size_t len);
unsigned rtu_rx_drain_end(struct rtu_rx *rx);
void rtu_rx_discard(struct rtu_rx *rx);
size_t rtu_rx_take_dropped(struct rtu_rx *rx);

#endif /* MUX_RTU_RX_H */

/* SPDX-License-Identifier: MIT */
/*
 * rtu_frame.h -- Modbus RTU framing, our own: building a request frame
 * (its CRC-16/Modbus is proxy/crc16.c's), knowing from the request how
 * long its response must be, checking a received frame, and finding a
 * response in a byte stream that may start with garbage or, on a line
 * that hears itself (RS485 adapters and serial servers that echo), with
 * the echo of our own request. Pure:
 * no libuv, no libmodbus, no allocation. Used by the rtu and rtu_tcp
 * backends and the fuzz target.
 *
 * A frame is: unit (1) + PDU (1..253) + CRC (2, low byte first).
 */
#ifndef MUX_RTU_FRAME_H
#define MUX_RTU_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RTU_FRAME_MIN 5     /* the shortest response: an exception */
#define RTU_FRAME_MAX 256   /* unit + 253-byte PDU + CRC */

/* What rtu_frame_check() thinks of the bytes received so far. */
enum rtu_verdict {
    RTU_OK = 0,            /* a whole, valid response of *frame_len bytes */
    RTU_NEED_MORE = 1,     /* a valid prefix: wait for more bytes */
    RTU_UNKNOWN_LEN = 2,   /* function code of unknown length: the frame
                              ends at silence (byte_timeout_ms); the CRC
                              of all bytes so far is valid */
    RTU_BAD_CRC = -1,      /* right length, wrong CRC */
    RTU_BAD_UNIT = -2,     /* another unit answered */
    RTU_BAD_FUNCTION = -3, /* neither fc nor fc | 0x80 */
    RTU_BAD_LENGTH = -4,   /* byte count or echo does not fit the request,
                              or no length rule and over RTU_FRAME_MAX */
};

size_t rtu_frame_encode(uint8_t *out, uint8_t unit, const uint8_t *pdu,
                        size_t pdu_len);
int rtu_frame_expected(const uint8_t *req_pdu, size_t req_len,
                       const uint8_t *rx, size_t rx_len);
enum rtu_verdict rtu_frame_check(uint8_t unit, const uint8_t *req_pdu,
                                 size_t req_len, const uint8_t *rx,
                                 size_t rx_len, size_t *frame_len);
int rtu_frame_find(uint8_t unit, const uint8_t *req_pdu, size_t req_len,
                   bool echo, const uint8_t *buf, size_t len, size_t *off,
                   size_t *frame_len);
const char *rtu_verdict_str(enum rtu_verdict v);

#endif /* MUX_RTU_FRAME_H */

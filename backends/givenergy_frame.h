/* SPDX-License-Identifier: MIT */
/*
 * givenergy_frame.h -- the GivEnergy data adapter ("dongle", TCP 8899)
 * framing: building requests byte for byte, parsing every frame kind the
 * dongle sends, a stream deframer that resynchronises on the 59 59 00 01
 * marker, and the substituted-block guard. Pure: no libuv, no allocation.
 * The facts are in docs/givenergy.md (section numbers below
 * refer to it).
 */
#ifndef MUX_GIVENERGY_FRAME_H
#define MUX_GIVENERGY_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GIV_SERIAL_LEN   10
#define GIV_REQ_LEN      34     /* every request: read or write single */
#define GIV_HEARTBEAT_LEN 19
#define GIV_LEN_MAX      300    /* LEN field; longer is garbage (1.1) */
#define GIV_FRAME_MAX    (6 + GIV_LEN_MAX)
#define GIV_REGS_MAX     60     /* registers per read (6) */
#define GIV_RX_MAX       (2 * GIV_FRAME_MAX)
#define GIV_ANSWER_MAX   (44 + 2 * GIV_REGS_MAX) /* giv_build_answer() */

/* What a frame is. 0 (no name) is a transparent frame with a valid CRC
 * whose inner fc has no known shape (e.g. 0x39, 1.7): always GIV_IGNORE,
 * with only uid, fid, adapter_serial, device and fc set. */
enum giv_kind {
    GIV_HEARTBEAT = 1,     /* outer fid 0x01: echo it (1.6) */
    GIV_READ_RESPONSE,     /* inner fc 3, 4 or 0x16 with values (1.3, 1.7) */
    GIV_WRITE_RESPONSE,    /* inner fc 6: register and value echoed (1.4) */
    GIV_ERROR_RESPONSE,    /* inner fc | 0x80: no values, no code (1.5);
                              0x86 too (an error, as DEWET has it) */
    GIV_NULL_RESPONSE,     /* inner fc 0, all zero, check 0000 (1.7) */
    GIV_LAN_CONFIG,        /* ASCII ",ip,mask,gw" broadcast (1.7) */
    GIV_REQUEST,           /* a 34-byte read/write request (another master) */
};

/* The verdict on one whole frame. */
enum giv_verdict {
    GIV_OK = 0,            /* valid; use it */
    GIV_IGNORE = 1,        /* valid framing, but never data: null response,
                              LAN config, substituted block (5.4),
                              unknown inner fc (kind 0) */
    GIV_BAD_CRC = -1,      /* CRC-16/Modbus over [26, len-2) does not match */
    GIV_BAD_LENGTH = -2,   /* the 8-byte field != len - 26, sizes wrong */
    GIV_BAD_HEADER = -3,   /* tid, pid, LEN, uid or fid wrong */
};

/* One parsed frame. Pointers borrow from the frame bytes. */
struct giv_frame {
    enum giv_kind  kind;
    uint8_t        uid;                /* 0x00 (cloud/app) or 0x01 */
    uint8_t        fid;                /* 0x01 heartbeat, 0x02 transparent */
    const uint8_t *adapter_serial;     /* 10 bytes */
    uint8_t        adapter_type;       /* heartbeats: the TT byte */
    uint8_t        device;             /* slave address, e.g. 0x11, 0x32 */
    uint8_t        fc;                 /* inner fc as sent (0x80 = error) */
    const uint8_t *inverter_serial;    /* 10 bytes, responses only */
    uint16_t       base;               /* reads; the register for fc 6 */
    uint16_t       count;              /* reads; the value for fc 6 */
    const uint8_t *values;             /* count big-endian registers */
};

/* A stream deframer: holds at most an incomplete frame between reads. */
struct giv_rx {
    size_t   len;                      /* bytes held */
    uint64_t skipped;                  /* bytes dropped, ever, outside any
                                          GIV_OK/GIV_IGNORE frame */
    uint8_t  buf[GIV_RX_MAX];
};

/* Called for every whole candidate frame with its verdict (<f> is never
 * NULL; it is filled when the verdict is GIV_OK or GIV_IGNORE, and holds
 * what was read before the failed check otherwise). Frame and <f> are
 * borrowed for the call; the callback must not feed or reset the rx. */
typedef void (*giv_frame_fn)(void *ctx, const uint8_t *frame, size_t len,
                             enum giv_verdict v, const struct giv_frame *f);

size_t giv_build_read(uint8_t *out, const uint8_t serial[GIV_SERIAL_LEN],
                      uint8_t device, uint8_t fc, uint16_t base,
                      uint16_t count);
size_t giv_build_write(uint8_t *out, const uint8_t serial[GIV_SERIAL_LEN],
                       uint8_t device, uint16_t reg, uint16_t value);
size_t giv_build_answer(uint8_t *out, const uint8_t adapter[GIV_SERIAL_LEN],
                        uint8_t device, uint8_t fc,
                        const uint8_t serial[GIV_SERIAL_LEN], uint16_t a,
                        uint16_t b, const uint8_t *values, size_t n);
size_t giv_build_heartbeat(uint8_t *out,
                           const uint8_t adapter[GIV_SERIAL_LEN],
                           uint8_t type);
enum giv_verdict giv_parse(const uint8_t *frame, size_t len,
                           struct giv_frame *out);
bool giv_suspicious(const struct giv_frame *f);
void giv_rx_init(struct giv_rx *rx);
void giv_rx_feed(struct giv_rx *rx, const uint8_t *data, size_t len,
                 giv_frame_fn fn, void *ctx);
const char *giv_verdict_str(enum giv_verdict v);

#endif /* MUX_GIVENERGY_FRAME_H */

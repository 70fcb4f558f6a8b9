/* SPDX-License-Identifier: MIT */
/*
 * tigo_wire.h -- the encoder side of the Tigo TAP <-> CCA RS485 bus, for
 * the bus simulator (tigo_bus.c) only: the link layer (preambles, 7E 07 /
 * 7E 08, the seven escapes, CRC-16 with its non-standard init) and the
 * payloads the simulator puts on the bus (receive requests and responses,
 * PV packets, power and topology reports, node table pages, identity,
 * version), plus the barcode of a long address. Written from the public
 * protocol write-up (willglynn/taptap docs/protocol.md, as summarised with
 * its test vectors in docs/tigo.md), not from the proxy's own codec
 * (backends/tigo_frame.c), so that a codec bug cannot hide itself.
 */
#ifndef MUX_TIGO_WIRE_H
#define MUX_TIGO_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TW_BODY_MAX 256         /* address + type + payload + CRC */
#define TW_PAYLOAD_MAX (TW_BODY_MAX - 6)
#define TW_WIRE_MAX (3 + 2 + 2 * TW_BODY_MAX + 2) /* preamble .. 7E 08 */
#define TW_LONG_LEN 8           /* EUI-64 long address */
#define TW_PV_HDR 7             /* type, node, short address, DSN, length */
#define TW_TOPOLOGY_LEN 23      /* topology report data */
#define TW_TABLE_ENTRY 10       /* node table entry: long address, node */
#define TW_BARCODE_MAX 16

/* Gateway frame types. */
enum tw_type {
    TW_VERSION_REQUEST = 0x000A,
    TW_VERSION_RESPONSE = 0x000B,
    TW_ENUM_START = 0x0014,
    TW_IDENTIFY_REQUEST = 0x003A,
    TW_IDENTIFY_RESPONSE = 0x003B,
    TW_RECEIVE_REQUEST = 0x0148,
    TW_RECEIVE_RESPONSE = 0x0149,
    TW_PING_REQUEST = 0x0B00,
    TW_PING_RESPONSE = 0x0B01,
    TW_COMMAND_REQUEST = 0x0B0F,
    TW_COMMAND_RESPONSE = 0x0B10,
};

/* PV application packet types. */
enum tw_pv {
    TW_PV_STRING_REQUEST = 0x06,
    TW_PV_STRING_RESPONSE = 0x07,
    TW_PV_TOPOLOGY = 0x09,
    TW_PV_TABLE_REQUEST = 0x26,
    TW_PV_TABLE_RESPONSE = 0x27,
    TW_PV_POWER = 0x31,
};

/* A frame as it goes on the wire, preamble to 7E 08. */
struct tw_frame {
    uint8_t b[TW_WIRE_MAX];
    size_t n;
    unsigned escapes;           /* escape sequences in it */
};

/* A payload being built. */
struct tw_buf {
    uint8_t b[TW_PAYLOAD_MAX];
    size_t n;
};

/* The fields of a power report, raw as sent (12-bit values masked). */
struct tw_power {
    uint16_t vin, vout, iin;    /* 12 bit: x0.05 V, x0.1 V, x0.005 A */
    uint16_t temp;              /* 12 bit two's complement, x0.1 C */
    uint8_t duty;               /* 255 = 100 % */
    uint8_t unknown[3];
    uint16_t slot;              /* slot counter at measurement */
    uint8_t rssi;
    uint8_t extra[2];           /* bytes 13-14 of a 14- or 15-byte report */
};

/* A receive response's status word and the fields it announces. */
struct tw_status {
    uint16_t status;            /* bits 0-4 clear: field present */
    uint8_t rx_used, tx_free;
    uint16_t packet;            /* full, or only its low byte (bit 4) */
    uint16_t slot;              /* the gateway's slot counter */
};

uint16_t tw_crc(const uint8_t *p, size_t n);
size_t tw_escape(const uint8_t *in, size_t n, uint8_t *out,
                 unsigned *escapes);
void tw_frame_build(struct tw_frame *f, uint16_t gw, bool from_gw,
                    uint16_t type, const uint8_t *payload, size_t len);

void tw_put8(struct tw_buf *b, unsigned v);
void tw_put16(struct tw_buf *b, unsigned v);
void tw_put(struct tw_buf *b, const void *p, size_t n);
void tw_receive_request(struct tw_buf *b, uint16_t packet);
void tw_status(struct tw_buf *b, const struct tw_status *st);
void tw_pv(struct tw_buf *b, uint8_t type, uint16_t node, uint16_t short_addr,
           uint8_t dsn, const uint8_t *data, size_t len);
size_t tw_power(uint8_t *out, const struct tw_power *p, size_t len);
void tw_topology(uint8_t out[TW_TOPOLOGY_LEN], uint16_t short_addr,
                 uint16_t node, uint16_t next_hop,
                 const uint8_t long_addr[TW_LONG_LEN], uint8_t rssi,
                 const uint8_t tail[6]);
void tw_command_request(struct tw_buf *b, uint8_t pv_type, uint8_t seq);
void tw_command_response(struct tw_buf *b, uint8_t tx_free, uint8_t pv_type,
                         uint8_t seq);
void tw_identity(struct tw_buf *b, const uint8_t long_addr[TW_LONG_LEN],
                 uint16_t gw);
size_t tw_barcode(const uint8_t a[TW_LONG_LEN], char out[TW_BARCODE_MAX]);
int16_t tw_temp_dc(uint16_t raw);

int tw_self_test(FILE *out);

#endif /* MUX_TIGO_WIRE_H */

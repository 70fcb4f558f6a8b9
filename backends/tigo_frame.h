/* SPDX-License-Identifier: MIT */
/*
 * tigo_frame.h -- the Tigo TAP <-> CCA RS485 bus, as far as a listener that
 * never transmits needs it (docs/tigo.md; section numbers below refer to
 * it): the gateway link layer (preambles, 7E 07 / 7E 08 delimiters, the
 * seven escapes, CRC-16 with its non-standard init, runts, giants, noise),
 * gateway frames (address, type, payload), receive responses (0x0149: the
 * status word masked to bits 0-4, the optional fields, the slot counter,
 * the PV packets in them), power reports (PV 0x31, 13 bytes or more),
 * topology reports (PV 0x09), command responses (0x0B10) carrying node
 * table pages (PV 0x27), identify (0x003B/0x0039) and version (0x000B)
 * responses, and the barcode of a long address. Pure: no libuv, no
 * allocation, never reads outside the buffers it is given.
 */
#ifndef MUX_TIGO_FRAME_H
#define MUX_TIGO_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TIGO_BODY_MAX   256     /* unescaped body longer: a giant (1.2) */
#define TIGO_BODY_MIN   6       /* address, type, CRC: shorter is a runt */
#define TIGO_LONG_LEN   8       /* a long address (EUI-64) */
#define TIGO_BARCODE_MAX 16     /* "4-A2346FZ" and its NUL, with room */
#define TIGO_REPORT_MIN 13      /* a power report's decoded part (2.6) */

/* Gateway frame types (2.2). */
enum tigo_type {
    TIGO_RECEIVE_REQUEST = 0x0148,
    TIGO_RECEIVE_RESPONSE = 0x0149,
    TIGO_COMMAND_REQUEST = 0x0B0F,
    TIGO_COMMAND_RESPONSE = 0x0B10,
    TIGO_ENUM_RESPONSE = 0x0039,
    TIGO_IDENTIFY_RESPONSE = 0x003B,
    TIGO_VERSION_RESPONSE = 0x000B,
};

/* PV application packet types (2.5). */
enum tigo_pv_type {
    TIGO_PV_TOPOLOGY = 0x09,
    TIGO_PV_NODE_TABLE = 0x27,
    TIGO_PV_POWER = 0x31,
};

/* The deframer's counters: every byte fed is idle (00 or FF outside a
 * frame), part of a body counted in frames, crc_errors, runts or giants,
 * counted in noise (alone, or with the body it cut short), or still held
 * (the open body, a pending 7E). */
struct tigo_link_stats {
    uint64_t frames;        /* bodies delivered with a good CRC */
    uint64_t crc_errors;    /* bodies whose CRC failed */
    uint64_t runts;         /* bodies under TIGO_BODY_MIN bytes */
    uint64_t giants;        /* bodies over TIGO_BODY_MAX bytes (dropped
                               at the first byte over) */
    uint64_t noise;         /* one per byte outside frames other than the
                               idle 00 and FF, per 7E not followed by 07,
                               and per body abandoned for an unknown
                               escape or a new 7E 07 (not a giant's) */
};

/* A stream deframer (1.2): idle/preamble bytes, 7E 07 starts a body, 7E 08
 * ends it, 7E 00..06 are the escaped data bytes. At most one unescaped
 * body is held between calls. */
struct tigo_rx {
    struct tigo_link_stats st;
    bool     in_frame;
    bool     escape;        /* the last byte was 7E */
    bool     giant;         /* the body ran over: drop until 7E 08 */
    size_t   len;           /* unescaped body bytes held */
    uint8_t  body[TIGO_BODY_MAX];
};

/* One gateway frame with a good CRC. <payload> borrows from the body. */
struct tigo_frame {
    uint16_t       address;    /* raw: bit 15 set = from gateway */
    uint16_t       gateway;    /* address & 0x7FFF */
    bool           from_gateway;
    uint16_t       type;
    const uint8_t *payload;
    size_t         payload_len;
};

/* Called for every body with a good CRC. Borrowed for the call. */
typedef void (*tigo_frame_fn)(void *ctx, const struct tigo_frame *f);

void tigo_rx_init(struct tigo_rx *rx);
void tigo_rx_feed(struct tigo_rx *rx, const uint8_t *data, size_t len,
                  tigo_frame_fn fn, void *ctx);
uint16_t tigo_crc16(const uint8_t *p, size_t n);
/* Escape <n> bytes of <in> into <out> (2 * n bytes at most, no overlap);
 * returns the escaped length. For tests' frames and the fuzz target. */
size_t tigo_escape(const uint8_t *in, size_t n, uint8_t *out);

/* A receive response's payload (2.3): the fields bits 0-4 of the status
 * word say are present, the slot counter, then the PV packets. */
struct tigo_receive {
    uint16_t       status;         /* as sent (bits 5-15 vary: ignored) */
    bool           has_rx_used, has_tx_free, pkt_full;
    uint8_t        rx_used, tx_free;
    uint16_t       packet;         /* full, or low byte only (pkt_full
                                      false) */
    uint16_t       slot;           /* the gateway's slot counter */
    const uint8_t *packets;        /* the PV packets, to the end */
    size_t         packets_len;
};

/* One PV packet of a receive response (2.4). */
struct tigo_pv {
    uint8_t        type;
    uint16_t       node;           /* PV node id */
    uint16_t       short_addr;
    uint8_t        dsn;
    const uint8_t *data;
    size_t         len;
};

/* A power report (2.6): raw fields, and the exact integer scalings of the
 * register map (docs/tigo.md, 4.4). */
struct tigo_power {
    uint16_t vin_raw, vout_raw, iin_raw, temp_raw;  /* 12-bit */
    uint8_t  duty;
    uint8_t  unknown[3];
    uint16_t slot;                 /* slot counter at measurement */
    uint8_t  rssi;
    size_t   extra_len;            /* bytes after the 13th (kept raw) */
    const uint8_t *extra;
    /* scaled */
    uint16_t vin_cv;               /* 0.01 V: raw x 5 */
    uint16_t vout_cv;              /* 0.01 V: raw x 10 */
    uint16_t iin_ma;               /* mA: raw x 5 */
    int16_t  temp_dc;              /* 0.1 C: raw sign-extended from 12 bits */
    uint32_t pin_dw;               /* 0.1 W: vin_raw x iin_raw / 400 */
};

/* A topology report (2.8): 23 bytes or more. */
struct tigo_topology {
    uint16_t short_addr, node, next_hop;
    uint8_t  long_addr[TIGO_LONG_LEN];
    uint8_t  rssi;
};

/* One entry of a node table page (2.8). */
struct tigo_node_entry {
    uint8_t  long_addr[TIGO_LONG_LEN];
    uint16_t node;
};

/* A command response's payload (2.3): PV type, sequence, data. */
struct tigo_command {
    uint8_t        tx_free;
    uint8_t        pv_type;
    uint8_t        seq;
    const uint8_t *data;
    size_t         len;
};

bool tigo_parse_receive(const uint8_t *p, size_t n, struct tigo_receive *out);
/* The PV packet at *<off> of <r>'s packets: true and *<off> past it, or
 * false at the end or for a packet that runs past it (the rest is not
 * read). */
bool tigo_next_pv(const struct tigo_receive *r, size_t *off,
                  struct tigo_pv *out);
bool tigo_parse_power(const uint8_t *p, size_t n, struct tigo_power *out);
bool tigo_parse_topology(const uint8_t *p, size_t n,
                         struct tigo_topology *out);
bool tigo_parse_command(const uint8_t *p, size_t n, struct tigo_command *out);
/* A node table page (PV 0x27 data): start index, entry count (0 ends the
 * walk), entries; *<count> entries of at most <max> stored in <out>
 * (those the data holds). False if the data is shorter than its header. */
bool tigo_parse_node_table(const uint8_t *p, size_t n, uint16_t *start,
                           uint16_t *count, struct tigo_node_entry *out,
                           size_t max, size_t *stored);
/* Identify or enumeration response: long address and gateway address. */
bool tigo_parse_identity(const uint8_t *p, size_t n,
                         uint8_t long_addr[TIGO_LONG_LEN], uint16_t *gw);
/* The barcode of long address <a> (2.8): "4-A2346FZ". Returns its
 * length; 0, and "", for an address without Tigo's 04:C0:5B prefix. */
size_t tigo_barcode(const uint8_t a[TIGO_LONG_LEN],
                    char out[TIGO_BARCODE_MAX]);

#endif /* MUX_TIGO_FRAME_H */

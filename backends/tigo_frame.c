/* SPDX-License-Identifier: MIT */
/*
 * tigo_frame.c -- the Tigo TAP <-> CCA RS485 bus, decoded for a listener
 * that never transmits: a stream deframer that finds gateway frames in
 * whatever the serial port or the TCP bridge delivers (idle preambles,
 * noise, collisions, runts, giants and a start in the middle of a frame
 * included), the CRC-16 that seals them, and parsers for the few payloads
 * a monitor needs: receive responses and the PV packets in them, power
 * and topology reports, node table pages inside command responses, the
 * gateway's identity, and the barcode printed for a long address.
 *
 * It owns no memory, never calls libuv and never reads outside the
 * buffers it is given, whatever their content: backends/tigo.c feeds it
 * the bus and keeps the node table, and tests/fuzz/fuzz_tigo.c drives it
 * directly. Deduplication, the slot-counter clock, node state and the
 * register map are the backend's business, not this file's. Section
 * numbers refer to docs/tigo.md.
 *
 * The CRC (1.4) is the reflected CCITT polynomial 0x8408 with the
 * register initialised to 0x8408 and no final xor; it covers address,
 * type and payload and is sent low byte first, escaped like the rest of
 * the body. It is computed bit by bit: the bus carries under 4 kB/s.
 */
#include <string.h>

#include "tigo_frame.h"

#define TIGO_ESC        0x7E    /* escape, and first byte of a delimiter */
#define TIGO_SOF        0x07    /* 7E 07: start of frame (1.2) */
#define TIGO_EOF        0x08    /* 7E 08: end of frame */
#define TIGO_ESC_CODES  7       /* 7E 00 .. 7E 06 stand for data bytes */
#define TIGO_CRC_POLY   0x8408  /* reflected 0x1021 (1.4) */
#define TIGO_CRC_INIT   0x8408
#define TIGO_HDR_LEN    4       /* address, type */
#define TIGO_PV_HDR     7       /* type, node, short, DSN, length (2.4) */
#define TIGO_STATUS_MASK 0x001F /* bits 0-4; the rest varies (2.3, 4.3) */
#define TIGO_TOPOLOGY_MIN 23    /* (2.8) */
#define TIGO_COMMAND_HDR 5      /* unknown, tx free, unknown, type, seq */
#define TIGO_NODE_HDR   4       /* start index, entry count (2.8) */
#define TIGO_NODE_ENTRY 10      /* long address, node id */
#define TIGO_IDENTITY_LEN 10    /* long address, gateway id (2.8) */

/* The data byte each escape code 7E 00 .. 7E 06 stands for (1.2). */
static const uint8_t tigo_unescaped[TIGO_ESC_CODES] = {
    0x7E, 0x24, 0x23, 0x25, 0xA4, 0xA3, 0xA5,
};

/* The digits of a barcode's check character (2.8). */
static const char tigo_check_digits[] = "GHJKLMNPRSTVWXYZ";
static const char tigo_hex_digits[] = "0123456789ABCDEF";

/* The big-endian 16-bit value at <p>. */
static uint16_t
get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* The two 12-bit values packed in the 3 bytes at <p> as AA AB BB (2.6). */
static void
get12x2(const uint8_t *p, uint16_t *a, uint16_t *b)
{
    *a = (uint16_t)(p[0] << 4 | p[1] >> 4);
    *b = (uint16_t)((p[1] & 0x0F) << 8 | p[2]);
}

/*
 * Return the bus CRC (1.4) of the <n> bytes at <p> (<p> may be NULL when
 * <n> is 0: 0x8408). A frame's CRC covers its address, type and payload,
 * not itself.
 */
uint16_t
tigo_crc16(const uint8_t *p, size_t n)
{
    uint16_t crc = TIGO_CRC_INIT;

    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int bit = 0; bit < 8; bit++) {
            crc = (crc & 1) ? (uint16_t)(crc >> 1 ^ TIGO_CRC_POLY)
                            : (uint16_t)(crc >> 1);
        }
    }
    return crc;
}

/* The escape code for data byte <c>, or -1 when it is sent as it is. */
static int
escape_code(uint8_t c)
{
    for (int i = 0; i < TIGO_ESC_CODES; i++) {
        if (tigo_unescaped[i] == c) {
            return i;
        }
    }
    return -1;
}

/*
 * Escape the <n> bytes at <in> into <out> (1.2): 7E 23 24 25 A3 A4 A5
 * become two bytes each, 7E and their code; every other byte is copied.
 * <out> must hold 2 * <n> bytes and must not overlap <in>. The delimiters
 * are the caller's: a frame on the wire is a preamble, 7E 07, the escaped
 * body (address, type, payload, CRC low byte first) and 7E 08. Returns the
 * escaped length.
 */
size_t
tigo_escape(const uint8_t *in, size_t n, uint8_t *out)
{
    size_t len = 0;

    for (size_t i = 0; i < n; i++) {
        int code = escape_code(in[i]);

        if (code < 0) {
            out[len++] = in[i];
        } else {
            out[len++] = TIGO_ESC;
            out[len++] = (uint8_t)code;
        }
    }
    return len;
}

/*
 * Make <rx> an empty deframer, outside any frame, its counters at 0.
 */
void
tigo_rx_init(struct tigo_rx *rx)
{
    memset(&rx->st, 0, sizeof(rx->st));
    rx->in_frame = false;
    rx->escape = false;
    rx->giant = false;
    rx->len = 0;
}

/* The body <rx> holds is complete (7E 08): count it, and hand it to <fn>
 * when its CRC is good. */
static void
rx_end(struct tigo_rx *rx, tigo_frame_fn fn, void *ctx)
{
    struct tigo_frame f;
    size_t n = rx->len;

    rx->in_frame = false;
    rx->len = 0;
    if (rx->giant) {
        rx->giant = false;  /* counted when it ran over */
        return;
    }
    if (n < TIGO_BODY_MIN) {
        rx->st.runts++;
        return;
    }
    if (tigo_crc16(rx->body, n - 2) !=
        (uint16_t)(rx->body[n - 2] | rx->body[n - 1] << 8)) {
        rx->st.crc_errors++;
        return;
    }
    rx->st.frames++;
    f.address = get16(rx->body);
    f.gateway = f.address & 0x7FFF;
    f.from_gateway = (f.address & 0x8000) != 0;
    f.type = get16(rx->body + 2);
    f.payload = rx->body + TIGO_HDR_LEN;
    f.payload_len = n - TIGO_BODY_MIN;
    if (fn != NULL) {
        fn(ctx, &f);
    }
}

/* Append data byte <c> to the body; past TIGO_BODY_MAX the body is a
 * giant, counted now and dropped up to its end (1.2). */
static void
rx_push(struct tigo_rx *rx, uint8_t c)
{
    if (rx->giant) {
        return;
    }
    if (rx->len == TIGO_BODY_MAX) {
        rx->st.giants++;
        rx->giant = true;
        rx->len = 0;
        return;
    }
    rx->body[rx->len++] = c;
}

/* Byte <c> outside a frame: idle, a possible start, or noise. */
static void
rx_outside(struct tigo_rx *rx, uint8_t c)
{
    if (rx->escape) {
        rx->escape = false;
        if (c == TIGO_SOF) {
            rx->in_frame = true;
            rx->len = 0;
            return;
        }
        /* A 7E that starts nothing. <c> may still be idle or a 7E. */
        rx->st.noise++;
    }
    if (c == TIGO_ESC) {
        rx->escape = true;
    } else if (c != 0x00 && c != 0xFF) {
        rx->st.noise++;
    }
}

/* Byte <c> after a 7E inside a frame (1.2). */
static void
rx_escaped(struct tigo_rx *rx, uint8_t c, tigo_frame_fn fn, void *ctx)
{
    if (c == TIGO_EOF) {
        rx_end(rx, fn, ctx);
    } else if (c == TIGO_SOF) {
        /* A frame whose end was lost (a collision): start again. A giant
         * was counted already. */
        if (!rx->giant) {
            rx->st.noise++;
        }
        rx->giant = false;
        rx->len = 0;
    } else if (c < TIGO_ESC_CODES) {
        rx_push(rx, tigo_unescaped[c]);
    } else if (!rx->giant) {
        /* An unknown code: the frame is lost. <c> itself may be idle, a
         * 7E that starts the next frame, or noise. */
        rx->st.noise++;
        rx->in_frame = false;
        rx->len = 0;
        rx_outside(rx, c);
    }
    /* A giant drops unknown codes with the rest of its bytes. */
}

/*
 * Feed the <len> bytes at <data> (any cut of the bus stream, any size) to
 * <rx>, and call <fn>(<ctx>, frame) for every body with a good CRC, in
 * stream order (<fn> may be NULL). The frame and its payload are borrowed
 * from <rx> for the call. Outside frames, 00 and FF are idle; 7E 07 opens
 * a body; every other byte, and a 7E not followed by 07, counts one
 * noise. Inside, 7E 00 .. 7E 06 are data bytes, 7E 08 closes the body
 * (a runt under TIGO_BODY_MIN bytes, a CRC error, or a frame), 7E 07
 * abandons it and opens the next (one noise), any other code abandons it
 * (one noise) and its second byte is read again as outside a frame. The
 * byte that takes a body over TIGO_BODY_MAX counts a giant, and the rest
 * is dropped up to 7E 08 or 7E 07. At most the one open body and a
 * pending 7E are held between calls; the result never depends on how the
 * stream is cut (1.2, 4.3).
 * IMPORTANT: <fn> must not feed or reset <rx>.
 */
void
tigo_rx_feed(struct tigo_rx *rx, const uint8_t *data, size_t len,
             tigo_frame_fn fn, void *ctx)
{
    for (size_t i = 0; i < len; i++) {
        uint8_t c = data[i];

        if (!rx->in_frame) {
            rx_outside(rx, c);
        } else if (rx->escape) {
            rx->escape = false;
            rx_escaped(rx, c, fn, ctx);
        } else if (c == TIGO_ESC) {
            rx->escape = true;
        } else {
            rx_push(rx, c);
        }
    }
}

/*
 * Parse the <n>-byte payload <p> of a receive response (2.3) into <out>:
 * the status word, the fields its bits 0-4 say are present (0 = present:
 * rx buffers used, tx buffers free, two unknown words, the high byte of
 * the packet number), the low byte of the packet number, the slot
 * counter, then the PV packets to the end (<out->packets> borrows from
 * <p>; read them with tigo_next_pv()). Bits 5-15 of the status vary with
 * the firmware and are ignored (4.3). Returns false, <out> partly
 * filled, when <p> is shorter than the fields it announces.
 */
bool
tigo_parse_receive(const uint8_t *p, size_t n, struct tigo_receive *out)
{
    size_t off = 2, need;
    uint16_t bits;

    *out = (struct tigo_receive){0};
    if (n < 2) {
        return false;
    }
    out->status = get16(p);
    bits = out->status & TIGO_STATUS_MASK;
    out->has_rx_used = !(bits & 0x01);
    out->has_tx_free = !(bits & 0x02);
    out->pkt_full = !(bits & 0x10);
    need = off + out->has_rx_used + out->has_tx_free +
           (bits & 0x04 ? 0 : 2) + (bits & 0x08 ? 0 : 2) +
           (out->pkt_full ? 2 : 1) + 2;
    if (n < need) {
        return false;
    }
    if (out->has_rx_used) {
        out->rx_used = p[off++];
    }
    if (out->has_tx_free) {
        out->tx_free = p[off++];
    }
    off += (bits & 0x04 ? 0 : 2) + (bits & 0x08 ? 0 : 2);
    if (out->pkt_full) {
        out->packet = get16(p + off);
        off += 2;
    } else {
        out->packet = p[off++];
    }
    out->slot = get16(p + off);
    off += 2;
    out->packets = p + off;
    out->packets_len = n - off;
    return true;
}

/*
 * Read the PV packet at offset *<off> of <r>'s packets (2.4) into <out>
 * and move *<off> past it: type, PV node id, short address, DSN, then the
 * data length byte (at offset 6) and that many data bytes (<out->data>
 * borrows from the payload). Returns false at the end of the packets, or
 * when the header or the data would run past it: the rest is not read,
 * *<off> is left as it was.
 */
bool
tigo_next_pv(const struct tigo_receive *r, size_t *off, struct tigo_pv *out)
{
    const uint8_t *p;
    size_t left, len;

    if (*off >= r->packets_len) {
        return false;
    }
    p = r->packets + *off;
    left = r->packets_len - *off;
    if (left < TIGO_PV_HDR) {
        return false;
    }
    len = p[6];
    if (left - TIGO_PV_HDR < len) {
        return false;
    }
    out->type = p[0];
    out->node = get16(p + 1);
    out->short_addr = get16(p + 3);
    out->dsn = p[5];
    out->data = p + TIGO_PV_HDR;
    out->len = len;
    *off += TIGO_PV_HDR + len;
    return true;
}

/*
 * Parse the <n> data bytes <p> of a power report (PV 0x31, 2.6) into
 * <out>: the first TIGO_REPORT_MIN bytes are decoded, any more (14- and
 * 15-byte reports of newer firmware) are kept raw in <out->extra> (a
 * borrow of <p>, at p + 13). The scaled values are the register map's
 * exact integer ones (4.4): Vin x 5 and Iin x 5 (0.01 V, mA), Vout x 10
 * (0.01 V), the temperature sign-extended from 12 bits (0.1 C), input
 * power Vin x Iin / 400 truncated (0.1 W; at most 41,922). Returns false
 * for fewer than 13 bytes.
 */
bool
tigo_parse_power(const uint8_t *p, size_t n, struct tigo_power *out)
{
    *out = (struct tigo_power){0};
    if (n < TIGO_REPORT_MIN) {
        return false;
    }
    get12x2(p, &out->vin_raw, &out->vout_raw);
    out->duty = p[3];
    get12x2(p + 4, &out->iin_raw, &out->temp_raw);
    memcpy(out->unknown, p + 7, sizeof(out->unknown));
    out->slot = get16(p + 10);
    out->rssi = p[12];
    out->extra = p + TIGO_REPORT_MIN;
    out->extra_len = n - TIGO_REPORT_MIN;
    out->vin_cv = (uint16_t)(out->vin_raw * 5);
    out->vout_cv = (uint16_t)(out->vout_raw * 10);
    out->iin_ma = (uint16_t)(out->iin_raw * 5);
    /* Bit 11 is the sign: 0x800..0xFFF are -2048..-1. */
    out->temp_dc = (int16_t)((int)out->temp_raw -
                             (out->temp_raw & 0x800 ? 0x1000 : 0));
    out->pin_dw = (uint32_t)out->vin_raw * out->iin_raw / 400;
    return true;
}

/*
 * Parse the <n> data bytes <p> of a topology report (PV 0x09, 2.8) into
 * <out>: short address, PV node id, next hop, 2 unknown bytes, the long
 * address, RSSI and 6 unknown bytes. Longer reports are read the same.
 * Returns false for fewer than 23 bytes.
 */
bool
tigo_parse_topology(const uint8_t *p, size_t n, struct tigo_topology *out)
{
    *out = (struct tigo_topology){0};
    if (n < TIGO_TOPOLOGY_MIN) {
        return false;
    }
    out->short_addr = get16(p);
    out->node = get16(p + 2);
    out->next_hop = get16(p + 4);
    memcpy(out->long_addr, p + 8, TIGO_LONG_LEN);
    out->rssi = p[16];
    return true;
}

/*
 * Parse the <n>-byte payload <p> of a command response (0x0B10, 2.3) into
 * <out>: an unknown byte, tx buffers free, an unknown byte, the PV packet
 * type and the sequence number, then the data to the end (<out->data>
 * borrows from <p>; a node table page for PV type 0x27). A command
 * request (0x0B0F) reads the same, its tx_free then being an unknown 00.
 * Returns false for fewer than 5 bytes.
 */
bool
tigo_parse_command(const uint8_t *p, size_t n, struct tigo_command *out)
{
    *out = (struct tigo_command){0};
    if (n < TIGO_COMMAND_HDR) {
        return false;
    }
    out->tx_free = p[1];
    out->pv_type = p[3];
    out->seq = p[4];
    out->data = p + TIGO_COMMAND_HDR;
    out->len = n - TIGO_COMMAND_HDR;
    return true;
}

/*
 * Parse the <n>-byte node table page <p> (PV 0x27 data, 2.8): the start
 * index into *<start>, the entry count into *<count> (0: the last page),
 * then each 10-byte entry, long address and PV node id, into <out>: the
 * first min(count, max, entries the data holds) of them, that number in
 * *<stored>. A page truncated before its count is not an error. Returns
 * false, with *<start>, *<count> and *<stored> 0, for fewer than 4 bytes.
 */
bool
tigo_parse_node_table(const uint8_t *p, size_t n, uint16_t *start,
                      uint16_t *count, struct tigo_node_entry *out,
                      size_t max, size_t *stored)
{
    size_t k;

    *start = 0;
    *count = 0;
    *stored = 0;
    if (n < TIGO_NODE_HDR) {
        return false;
    }
    *start = get16(p);
    *count = get16(p + 2);
    k = (n - TIGO_NODE_HDR) / TIGO_NODE_ENTRY;
    if (k > *count) {
        k = *count;
    }
    if (k > max) {
        k = max;
    }
    for (size_t i = 0; i < k; i++) {
        const uint8_t *e = p + TIGO_NODE_HDR + i * TIGO_NODE_ENTRY;

        memcpy(out[i].long_addr, e, TIGO_LONG_LEN);
        out[i].node = get16(e + TIGO_LONG_LEN);
    }
    *stored = k;
    return true;
}

/*
 * Parse the <n>-byte payload <p> of an identify (0x003B) or enumeration
 * (0x0039) response (2.8): the gateway's long address into <long_addr>
 * and its gateway id into *<gw>. Bytes after the first 10 are ignored.
 * Returns false, nothing written, for fewer than 10 bytes.
 */
bool
tigo_parse_identity(const uint8_t *p, size_t n,
                    uint8_t long_addr[TIGO_LONG_LEN], uint16_t *gw)
{
    if (n < TIGO_IDENTITY_LEN) {
        return false;
    }
    memcpy(long_addr, p, TIGO_LONG_LEN);
    *gw = get16(p + TIGO_LONG_LEN);
    return true;
}

/* The barcode check (2.8): CRC-4, polynomial x^4 + x + 1 (0x3), register
 * initialised to 0x2, over the 8 address bytes, most significant bit
 * first; an index into tigo_check_digits. */
static unsigned
barcode_crc4(const uint8_t a[TIGO_LONG_LEN])
{
    unsigned crc = 0x2;

    for (int i = 0; i < TIGO_LONG_LEN; i++) {
        for (int bit = 7; bit >= 0; bit--) {
            unsigned top = (crc >> 3 & 1) ^ (unsigned)(a[i] >> bit & 1);

            crc = (crc << 1 & 0x0F) ^ (top ? 0x3 : 0);
        }
    }
    return crc;
}

/*
 * Write to <out> the barcode printed on the unit with long address <a>
 * (2.8), NUL-terminated: the high nibble of byte 3, '-', the 9 nibbles
 * after it in hex without their leading zeros (none left when all 9 are
 * 0, as in the reference), then the check character; "4-9A57A2L" for
 * 04:C0:5B:40:00:9A:57:A2. Only Tigo addresses (04:C0:5B first) have a
 * barcode: for any other, <out> is "". Returns the length, 0 or 3..12.
 */
size_t
tigo_barcode(const uint8_t a[TIGO_LONG_LEN], char out[TIGO_BARCODE_MAX])
{
    size_t len = 0;
    bool leading = true;

    out[0] = '\0';
    if (a[0] != 0x04 || a[1] != 0xC0 || a[2] != 0x5B) {
        return 0;
    }
    out[len++] = tigo_hex_digits[a[3] >> 4];
    out[len++] = '-';
    for (int i = 7; i < 2 * TIGO_LONG_LEN; i++) {
        unsigned nib = (i & 1) ? (unsigned)(a[i / 2] & 0x0F)
                               : (unsigned)(a[i / 2] >> 4);

        if (leading && nib == 0) {
            continue;
        }
        leading = false;
        out[len++] = tigo_hex_digits[nib];
    }
    out[len++] = tigo_check_digits[barcode_crc4(a)];
    out[len] = '\0';
    return len;
}

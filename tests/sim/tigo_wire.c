/* SPDX-License-Identifier: MIT */
/*
 * tigo_wire.c -- see tigo_wire.h. Layouts after willglynn/taptap
 * docs/protocol.md (gateway link, transport and PV layers), the node table
 * page's start index after litinoveweedle/taptap
 * src/pv/application/node_table.rs, the barcode after willglynn/taptap
 * src/barcode.rs; the vectors of tw_self_test() are those of docs/tigo.md
 * section 3 (T1-T24), each with its source there.
 */
#include <string.h>

#include "tigo_wire.h"

#define TW_CRC_POLY 0x8408      /* 0x1021 reflected */
#define TW_CRC_INIT 0x8408      /* not 0xFFFF: init 0x1021 reflected */
#define TW_ESC 0x7E

/* The data bytes that are escaped, by escape code (7E 00 .. 7E 06). */
static const uint8_t tw_escaped[] = { 0x7E, 0x24, 0x23, 0x25,
                                      0xA4, 0xA3, 0xA5 };

/*
 * The link CRC of <n> bytes at <p>: CRC-16 with poly 0x1021, reflected in
 * and out, init 0x1021 (reveng notation; 0x8408 in the shift register), no
 * final XOR. Computed bit by bit: no table copied from anywhere.
 */
uint16_t
tw_crc(const uint8_t *p, size_t n)
{
    uint16_t crc = TW_CRC_INIT;

    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int bit = 0; bit < 8; bit++) {
            crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ TW_CRC_POLY) : crc >> 1;
        }
    }
    return crc;
}

/*
 * Escape <n> bytes of <in> into <out> (room for 2 * <n>); adds the number
 * of escape sequences to *<escapes> if it is not NULL. Returns the length
 * written.
 */
size_t
tw_escape(const uint8_t *in, size_t n, uint8_t *out, unsigned *escapes)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        const uint8_t *e = memchr(tw_escaped, in[i], sizeof(tw_escaped));

        if (e == NULL) {
            out[o++] = in[i];
            continue;
        }
        out[o++] = TW_ESC;
        out[o++] = (uint8_t)(e - tw_escaped);
        if (escapes != NULL) {
            (*escapes)++;
        }
    }
    return o;
}

/*
 * Build in <f> the frame of <type> with <len> bytes of <payload> (at most
 * TW_PAYLOAD_MAX) between the controller and gateway <gw>: from the
 * gateway (<from_gw>) with preamble FF and bit 15 of the address set, to
 * it with preamble 00 FF FF. The CRC covers address, type and payload, goes
 * little-endian, and is escaped like the rest.
 */
void
tw_frame_build(struct tw_frame *f, uint16_t gw, bool from_gw, uint16_t type,
               const uint8_t *payload, size_t len)
{
    uint8_t body[TW_BODY_MAX];
    uint16_t addr = (uint16_t)(from_gw ? gw | 0x8000 : gw & 0x7FFF);
    uint16_t crc;
    size_t n = 0;

    body[n++] = (uint8_t)(addr >> 8);
    body[n++] = (uint8_t)addr;
    body[n++] = (uint8_t)(type >> 8);
    body[n++] = (uint8_t)type;
    memcpy(body + n, payload, len);
    n += len;
    crc = tw_crc(body, n);
    body[n++] = (uint8_t)crc;
    body[n++] = (uint8_t)(crc >> 8);
    f->n = 0;
    f->escapes = 0;
    if (!from_gw) {
        f->b[f->n++] = 0x00;
        f->b[f->n++] = 0xFF;
    }
    f->b[f->n++] = 0xFF;
    f->b[f->n++] = TW_ESC;
    f->b[f->n++] = 0x07;
    f->n += tw_escape(body, n, f->b + f->n, &f->escapes);
    f->b[f->n++] = TW_ESC;
    f->b[f->n++] = 0x08;
}

/* Append byte <v> to <b>; the caller keeps within TW_PAYLOAD_MAX. */
void
tw_put8(struct tw_buf *b, unsigned v)
{
    b->b[b->n++] = (uint8_t)v;
}

/* Append <v> big-endian. */
void
tw_put16(struct tw_buf *b, unsigned v)
{
    tw_put8(b, v >> 8);
    tw_put8(b, v);
}

/* Append <n> bytes of <p>. */
void
tw_put(struct tw_buf *b, const void *p, size_t n)
{
    memcpy(b->b + b->n, p, n);
    b->n += n;
}

/* A receive request's payload: 00 01, packet number, 04. */
void
tw_receive_request(struct tw_buf *b, uint16_t packet)
{
    tw_put16(b, 0x0001);
    tw_put16(b, packet);
    tw_put8(b, 0x04);
}

/*
 * The head of a receive response's payload: the status word, the fields
 * whose bit (0-4) is clear -- rx buffers used, tx buffers free, unknown A
 * (00 01), unknown B (02 00), the packet number in full or its low byte --
 * and the slot counter. The PV packets follow.
 */
void
tw_status(struct tw_buf *b, const struct tw_status *st)
{
    tw_put16(b, st->status);
    if (!(st->status & 0x01)) {
        tw_put8(b, st->rx_used);
    }
    if (!(st->status & 0x02)) {
        tw_put8(b, st->tx_free);
    }
    if (!(st->status & 0x04)) {
        tw_put16(b, 0x0001);
    }
    if (!(st->status & 0x08)) {
        tw_put16(b, 0x0200);
    }
    if (!(st->status & 0x10)) {
        tw_put16(b, st->packet);
    } else {
        tw_put8(b, st->packet & 0xFF);
    }
    tw_put16(b, st->slot);
}

/* Append a PV packet: type, node id, short address, DSN, length, data. */
void
tw_pv(struct tw_buf *b, uint8_t type, uint16_t node, uint16_t short_addr,
      uint8_t dsn, const uint8_t *data, size_t len)
{
    tw_put8(b, type);
    tw_put16(b, node);
    tw_put16(b, short_addr);
    tw_put8(b, dsn);
    tw_put8(b, len);
    tw_put(b, data, len);
}

/* Two 12-bit values a, b packed as AA AB BB. */
static void
tw_u12_pair(uint8_t *out, uint16_t a, uint16_t b)
{
    a &= 0xFFF;
    b &= 0xFFF;
    out[0] = (uint8_t)(a >> 4);
    out[1] = (uint8_t)((a & 0x0F) << 4 | b >> 8);
    out[2] = (uint8_t)b;
}

/*
 * The data of power report <p> in <len> bytes (13, 14 or 15): Vin/Vout,
 * duty, Iin/temperature, 3 unknown bytes, slot counter, RSSI, then the
 * extra bytes of newer firmware. Returns <len>.
 */
size_t
tw_power(uint8_t *out, const struct tw_power *p, size_t len)
{
    tw_u12_pair(out, p->vin, p->vout);
    out[3] = p->duty;
    tw_u12_pair(out + 4, p->iin, p->temp);
    memcpy(out + 7, p->unknown, 3);
    out[10] = (uint8_t)(p->slot >> 8);
    out[11] = (uint8_t)p->slot;
    out[12] = p->rssi;
    memcpy(out + 13, p->extra, len - 13);
    return len;
}

/*
 * The data of a topology report (PV 0x09): short address, node id, next
 * hop, unknown 00 02, long address, RSSI, 6 unknown bytes <tail>.
 */
void
tw_topology(uint8_t out[TW_TOPOLOGY_LEN], uint16_t short_addr, uint16_t node,
            uint16_t next_hop, const uint8_t long_addr[TW_LONG_LEN],
            uint8_t rssi, const uint8_t tail[6])
{
    const uint16_t v[] = { short_addr, node, next_hop, 0x0002 };

    for (int i = 0; i < 4; i++) {
        out[2 * i] = (uint8_t)(v[i] >> 8);
        out[2 * i + 1] = (uint8_t)v[i];
    }
    memcpy(out + 8, long_addr, TW_LONG_LEN);
    out[16] = rssi;
    memcpy(out + 17, tail, 6);
}

/* The head of a command request's payload: 00 00 00, PV type, sequence. */
void
tw_command_request(struct tw_buf *b, uint8_t pv_type, uint8_t seq)
{
    tw_put8(b, 0);
    tw_put16(b, 0);
    tw_put8(b, pv_type);
    tw_put8(b, seq);
}

/* The head of a command response's payload: 00, tx buffers free, 00, PV
 * type, sequence. */
void
tw_command_response(struct tw_buf *b, uint8_t tx_free, uint8_t pv_type,
                    uint8_t seq)
{
    tw_put8(b, 0);
    tw_put8(b, tx_free);
    tw_put8(b, 0);
    tw_put8(b, pv_type);
    tw_put8(b, seq);
}

/* An identify (or enumeration) response's payload: long address, gateway
 * address. */
void
tw_identity(struct tw_buf *b, const uint8_t long_addr[TW_LONG_LEN],
            uint16_t gw)
{
    tw_put(b, long_addr, TW_LONG_LEN);
    tw_put16(b, gw);
}

/*
 * The barcode printed on the unit with long address <a>: the high nibble of
 * byte 3, '-', the 9 nibbles after it without leading zeros, and a check
 * character: CRC-4 (poly 0x3, init 0x2, MSB first) over all 8 bytes, in
 * the alphabet GHJKLMNPRSTVWXYZ. Returns its length.
 */
size_t
tw_barcode(const uint8_t a[TW_LONG_LEN], char out[TW_BARCODE_MAX])
{
    static const char alphabet[] = "GHJKLMNPRSTVWXYZ";
    unsigned crc = 0x2;
    size_t n = 0;
    bool lead = true;

    for (int i = 0; i < TW_LONG_LEN; i++) {
        for (int bit = 7; bit >= 0; bit--) {
            unsigned top = (crc >> 3) & 1;

            crc = (crc << 1) & 0xF;
            if (top ^ ((a[i] >> bit) & 1u)) {
                crc ^= 0x3;
            }
        }
    }
    out[n++] = "0123456789ABCDEF"[a[3] >> 4];
    out[n++] = '-';
    for (int k = 7; k < 16; k++) {
        unsigned nib = (a[k / 2] >> (k % 2 ? 0 : 4)) & 0xF;

        if (nib == 0 && lead && k < 15) {
            continue;
        }
        lead = false;
        out[n++] = "0123456789ABCDEF"[nib];
    }
    out[n++] = alphabet[crc];
    out[n] = '\0';
    return n;
}

/* A 12-bit temperature, sign-extended, in 0.1 C. */
int16_t
tw_temp_dc(uint16_t raw)
{
    raw &= 0xFFF;
    return (int16_t)(raw >= 0x800 ? (int)raw - 0x1000 : (int)raw);
}

/* ---- self-test against the vectors of docs/tigo.md section 3 ---- */

/* "FF 7E 07 ..." into <out>; returns the byte count. */
static size_t
tw_hex(const char *s, uint8_t *out, size_t max)
{
    size_t n = 0;
    unsigned v;
    int used;

    while (n < max && sscanf(s, " %2x%n", &v, &used) == 1) {
        out[n++] = (uint8_t)v;
        s += used;
    }
    return n;
}

/* Compare <n> bytes at <got> with hex <want>; print PASS or FAIL for
 * <name>. Returns 1 on a failure. */
static int
tw_check(FILE *out, const char *name, const uint8_t *got, size_t n,
         const char *want)
{
    uint8_t w[TW_WIRE_MAX];
    size_t wn = tw_hex(want, w, sizeof(w));

    if (wn == n && memcmp(w, got, n) == 0) {
        fprintf(out, "PASS %s\n", name);
        return 0;
    }
    fprintf(out, "FAIL %s\n  got ", name);
    for (size_t i = 0; i < n; i++) {
        fprintf(out, " %02X", got[i]);
    }
    fprintf(out, "\n  want %s\n", want);
    return 1;
}

static int
tw_check_frame(FILE *out, const char *name, uint16_t gw, bool from_gw,
               uint16_t type, const struct tw_buf *b, const char *want)
{
    struct tw_frame f;

    tw_frame_build(&f, gw, from_gw, type, b->b, b->n);
    return tw_check(out, name, f.b, f.n, want);
}

static int
tw_check_crc(FILE *out, const char *name, const char *data, uint16_t want)
{
    uint8_t d[64];
    uint16_t crc = tw_crc(d, tw_hex(data, d, sizeof(d)));

    fprintf(out, "%s %s", crc == want ? "PASS" : "FAIL", name);
    if (crc != want) {
        fprintf(out, "\n  got %04X want %04X", crc, want);
    }
    fputc('\n', out);
    return crc != want;
}

/* T1-T4: CRC and escaping. */
static int
tw_test_link(FILE *out)
{
    uint8_t raw[16], esc[32];
    size_t n = tw_hex("7E A3 A4 A5 23 24 25 61 62 63 64 65 66", raw,
                      sizeof(raw));
    int fails = 0;

    fails += tw_check_crc(out, "T1", "92 01 01 49 00 FF 7C DB C2", 0x85A3);
    fails += tw_check_crc(out, "T1 (92)", "92", 0x3B57);
    fails += tw_check_crc(out, "T2", "12 01 01 48 00 01 18 82 04", 0x5DCF);
    fails += tw_check_crc(out, "T3", "31 32 33 34 35 36 37 38 39", 0x837F);
    n = tw_escape(raw, n, esc, NULL);
    fails += tw_check(out, "T4", esc, n,
                      "7E 00 7E 05 7E 04 7E 06 7E 02 7E 01 7E 03 61 62 63 "
                      "64 65 66");
    return fails;
}

/* T5-T7: a minimal receive response, two receive requests. */
static int
tw_test_receive(FILE *out)
{
    struct tw_status st = { .status = 0x00FF, .packet = 0x7C,
                            .slot = 0xDBC2 };
    struct tw_buf b = { .n = 0 };
    int fails = 0;

    tw_status(&b, &st);
    fails += tw_check_frame(out, "T5", 0x1201, true, TW_RECEIVE_RESPONSE, &b,
                            "FF 7E 07 92 01 01 49 00 FF 7C DB C2 7E 05 85 "
                            "7E 08");
    b.n = 0;
    tw_receive_request(&b, 0x1883);
    fails += tw_check_frame(out, "T6", 0x1201, false, TW_RECEIVE_REQUEST, &b,
                            "00 FF FF 7E 07 12 01 01 48 00 01 18 83 04 17 "
                            "44 7E 08");
    b.n = 0;
    tw_receive_request(&b, 0x1884);
    fails += tw_check_frame(out, "T7", 0x1201, false, TW_RECEIVE_REQUEST, &b,
                            "00 FF FF 7E 07 12 01 01 48 00 01 18 84 04 1F "
                            "09 7E 08");
    return fails;
}

/* Append a power report packet with the given fields. */
static void
tw_add_report(struct tw_buf *b, uint16_t node, uint16_t sa, uint8_t dsn,
              const struct tw_power *p, size_t len)
{
    uint8_t d[15];

    tw_pv(b, TW_PV_POWER, node, sa, dsn, d, tw_power(d, p, len));
}

/* T10 and T11: receive responses with power reports, from their fields. */
static int
tw_test_reports(FILE *out)
{
    static const struct tw_power t10[] = {
        { 905, 450, 1233, 230, 255, { 0x92, 0, 0x64 }, 0xDF40, 178, { 2, 0 } },
        { 902, 448, 1247, 230, 255, { 0x92, 0, 0x64 }, 0xE0D0, 178, { 2, 0 } },
        { 909, 452, 1248, 230, 255, { 0x92, 0, 0x64 }, 0xE0D0, 172, { 2, 0 } },
        { 911, 453, 1234, 230, 255, { 0x92, 0, 0x64 }, 0xDF40, 172, { 2, 0 } },
    };
    static const struct tw_power t11[] = {
        { 696, 346, 78, 170, 255, { 0x10, 0, 0x64 }, 0x1900, 131, { 0 } },
        { 697, 347, 75, 170, 255, { 0x10, 0, 0x64 }, 0x1A90, 131, { 0 } },
    };
    struct tw_status st = { .status = 0x81FE, .rx_used = 4, .packet = 0xCA,
                            .slot = 0xE0DB };
    struct tw_buf b = { .n = 0 };
    int fails = 0;

    tw_status(&b, &st);
    for (int i = 0; i < 4; i++) {
        tw_add_report(&b, i < 2 ? 12 : 7, i < 2 ? 0x5A : 0x18, i < 2 ? 0 : 8,
                      &t10[i], 15);
    }
    fails += tw_check_frame(out, "T10", 0x1201, true, TW_RECEIVE_RESPONSE, &b,
        "FF 7E 07 92 01 01 49 81 FE 04 CA E0 DB 31 00 0C 00 5A 00 0F 38 91 C2 "
        "FF 4D 10 E6 92 00 64 DF 40 B2 02 00 31 00 0C 00 5A 00 0F 38 61 C0 FF "
        "4D F0 E6 92 00 64 E0 D0 B2 02 00 31 00 07 00 18 08 0F 38 D1 C4 FF 4E "
        "00 E6 92 00 64 E0 D0 AC 02 00 31 00 07 00 18 08 0F 38 F1 C5 FF 4D 20 "
        "E6 92 00 64 DF 40 AC 02 00 2B FB 7E 08");
    st = (struct tw_status){ .status = 0x01E0, .rx_used = 2, .tx_free = 14,
                             .packet = 0xFA1B, .slot = 0x1B20 };
    b.n = 0;
    tw_status(&b, &st);
    for (int i = 0; i < 2; i++) {
        tw_add_report(&b, 7, 0x0D, 0x24, &t11[i], 14);
    }
    fails += tw_check_frame(out, "T11", 0x1201, true, TW_RECEIVE_RESPONSE, &b,
        "FF 7E 07 92 01 01 49 01 E0 02 0E 00 01 02 00 FA 1B 1B 20 31 00 07 00 "
        "0D 7E 01 0E 2B 81 5A FF 04 E0 AA 10 00 64 19 00 83 00 31 00 07 00 0D "
        "7E 01 0E 2B 91 5B FF 04 B0 AA 10 00 64 1A 90 83 00 8A 4F 7E 08");
    return fails;
}

/* T12-T16: receive response payloads and power report data. */
static int
tw_test_payloads(FILE *out)
{
    static const struct tw_power t12 = { 629, 22, 126, 150, 23,
        { 0x93, 0, 0x64 }, 0xD450, 116, { 0, 0 } };
    static const struct tw_power t13 = { 700, 347, 1426, 180, 255,
        { 0x92, 0, 0x64 }, 0xCFA0, 116, { 0, 0 } };
    static const struct tw_power t14 = { 694, 344, 50, 344, 255,
        { 0x81, 0, 0x6E }, 0x8FA0, 126, { 0 } };
    static const struct tw_power t15 = { 791, 393, 10, 140, 255,
        { 0x10, 0, 0x68 }, 0x20D0, 114, { 3, 0 } };
    struct tw_power t16 = { 613, 302, 555, 268, 255, { 0, 0, 0 }, 0x44D2,
                            132, { 0 } };
    struct tw_status st = { .status = 0x011E, .rx_used = 2, .packet = 0x4A,
                            .slot = 0xD457 };
    struct tw_buf b = { .n = 0 };
    uint8_t d[15];
    int fails = 0;

    tw_status(&b, &st);
    tw_add_report(&b, 27, 0x0D, 0x90, &t12, 15);
    fails += tw_check(out, "T12", b.b, b.n,
                      "01 1E 02 4A D4 57 31 00 1B 00 0D 90 0F 27 50 16 17 07 "
                      "E0 96 93 00 64 D4 50 74 00 00");
    st = (struct tw_status){ .status = 0x01FF, .packet = 0xEA,
                             .slot = 0xD242 };
    b.n = 0;
    tw_status(&b, &st);
    tw_add_report(&b, 22, 0x70, 0x66, &t13, 15);
    fails += tw_check(out, "T13", b.b, b.n,
                      "01 FF EA D2 42 31 00 16 00 70 66 0F 2B C1 5B FF 59 20 "
                      "B4 92 00 64 CF A0 74 00 00");
    fails += tw_check(out, "T14", d, tw_power(d, &t14, 13),
                      "2B 61 58 FF 03 21 58 81 00 6E 8F A0 7E");
    fails += tw_check(out, "T15", d, tw_power(d, &t15, 15),
                      "31 71 89 FF 00 A0 8C 10 00 68 20 D0 72 03 00");
    fails += tw_check(out, "T16a", d, tw_power(d, &t16, 13),
                      "26 51 2E FF 22 B1 0C 00 00 00 44 D2 84");
    t16.temp = (uint16_t)(-1 & 0xFFF);
    fails += tw_check(out, "T16b", d, tw_power(d, &t16, 13),
                      "26 51 2E FF 22 BF FF 00 00 00 44 D2 84");
    if (tw_temp_dc(t16.temp) != -1 || tw_temp_dc(268) != 268) {
        fprintf(out, "FAIL T16 sign extension\n");
        fails++;
    }
    return fails;
}

/* T17-T19: node table page, topology report, barcodes. */
static int
tw_test_addresses(FILE *out)
{
    static const uint8_t a17[2][8] = {
        { 0x04, 0xC0, 0x5B, 0x40, 0x00, 0xA2, 0x34, 0x6F },
        { 0x04, 0xC0, 0x5B, 0x40, 0x00, 0xA2, 0x34, 0x71 },
    };
    static const uint8_t a18[8] = { 0x04, 0xC0, 0x5B, 0x40,
                                    0x00, 0x9A, 0x57, 0xBB };
    static const uint8_t tail18[6] = { 0x01, 0xE9, 0xE1, 0x08, 0x95, 0x27 };
    static const struct { uint8_t a[8]; const char *code; } t19[] = {
        { { 0x04, 0xC0, 0x5B, 0x40, 0x00, 0x9A, 0x57, 0xA2 }, "4-9A57A2L" },
        { { 0x04, 0xC0, 0x5B, 0x40, 0x00, 0x79, 0xAC, 0x16 }, "4-79AC16V" },
        { { 0x04, 0xC0, 0x5B, 0x40, 0x00, 0x79, 0xAB, 0x99 }, "4-79AB99W" },
        { { 0x04, 0xC0, 0x5B, 0x40, 0x00, 0xA2, 0x34, 0x6F }, "4-A2346FZ" },
        { { 0x04, 0xC0, 0x5B, 0x40, 0x00, 0x9A, 0x57, 0xBB }, "4-9A57BBS" },
    };
    struct tw_buf b = { .n = 0 };
    uint8_t d[TW_TOPOLOGY_LEN];
    char code[TW_BARCODE_MAX];
    int fails = 0;

    tw_put16(&b, 2);
    tw_put16(&b, 12);
    for (int i = 0; i < 2; i++) {
        tw_put(&b, a17[i], 8);
        tw_put16(&b, (unsigned)(2 + i));
    }
    fails += tw_check(out, "T17", b.b, b.n,
                      "00 02 00 0C 04 C0 5B 40 00 A2 34 6F 00 02 04 C0 5B 40 "
                      "00 A2 34 71 00 03");
    tw_topology(d, 0x0002, 0x0058, 0x0001, a18, 159, tail18);
    fails += tw_check(out, "T18", d, sizeof(d),
                      "00 02 00 58 00 01 00 02 04 C0 5B 40 00 9A 57 BB 9F 01 "
                      "E9 E1 08 95 27");
    for (size_t i = 0; i < sizeof(t19) / sizeof(t19[0]); i++) {
        bool ok;

        tw_barcode(t19[i].a, code);
        ok = strcmp(code, t19[i].code) == 0;
        fprintf(out, "%s T19 %s", ok ? "PASS" : "FAIL", t19[i].code);
        if (!ok) {
            fprintf(out, "\n  got %s", code);
        }
        fputc('\n', out);
        fails += !ok;
    }
    return fails;
}

/* T20-T24: identify, version, enumeration start, command, ping. */
static int
tw_test_gateway(FILE *out)
{
    static const uint8_t gw_long[8] = { 0x04, 0xC0, 0x5B, 0x30,
                                        0x00, 0x02, 0xBE, 0x16 };
    static const char version[] = "Mgate Version G8.59\rJul  6 2020\r"
                                  "16:51:51\rGW-H158.4.3S0.12\r";
    static const uint8_t enum_start[] = { 0x37, 0x24, 0x92, 0x66, 0x12,
                                          0x35 };
    struct tw_buf b = { .n = 0 };
    int fails = 0;

    tw_identity(&b, gw_long, 0x1201);
    fails += tw_check_frame(out, "T20", 0x1201, true, TW_IDENTIFY_RESPONSE, &b,
        "FF 7E 07 92 01 00 3B 04 C0 5B 30 00 02 BE 16 12 01 E6 A6 7E 08");
    b.n = 0;
    tw_put(&b, version, sizeof(version) - 1);
    fails += tw_check_frame(out, "T21", 0x1201, true, TW_VERSION_RESPONSE, &b,
        "FF 7E 07 92 01 00 0B 4D 67 61 74 65 20 56 65 72 73 69 6F 6E 20 47 38 "
        "2E 35 39 0D 4A 75 6C 20 20 36 20 32 30 32 30 0D 31 36 3A 35 31 3A 35 "
        "31 0D 47 57 2D 48 31 35 38 2E 34 2E 33 53 30 2E 31 32 0D 8A E2 7E 08");
    b.n = 0;
    tw_put(&b, enum_start, sizeof(enum_start));
    fails += tw_check_frame(out, "T22", 0x0000, false, TW_ENUM_START, &b,
        "00 FF FF 7E 07 00 00 00 14 37 7E 01 92 66 12 35 06 1A 7E 08");
    b.n = 0;
    tw_command_request(&b, TW_PV_STRING_REQUEST, 0x66);
    tw_put16(&b, 0x0009);
    tw_put(&b, "^00Info\r", 8);
    fails += tw_check_frame(out, "T23 request", 0x1201, false,
        TW_COMMAND_REQUEST, &b,
        "00 FF FF 7E 07 12 01 0B 0F 00 00 00 06 66 00 09 5E 30 30 49 6E 66 6F "
        "0D 3F 8C 7E 08");
    b.n = 0;
    tw_command_response(&b, 13, TW_PV_STRING_RESPONSE, 0x66);
    fails += tw_check_frame(out, "T23 response", 0x1201, true,
        TW_COMMAND_RESPONSE, &b,
        "FF 7E 07 92 01 0B 10 00 0D 00 07 66 75 77 7E 08");
    b.n = 0;
    tw_put8(&b, 0x01);
    fails += tw_check_frame(out, "T24 request", 0x1201, false,
        TW_PING_REQUEST, &b, "00 FF FF 7E 07 12 01 0B 00 01 FE 83 7E 08");
    fails += tw_check_frame(out, "T24 response", 0x1201, true,
        TW_PING_RESPONSE, &b, "FF 7E 07 92 01 0B 01 01 73 10 7E 08");
    return fails;
}

/*
 * Encode every vector of docs/tigo.md section 3 that is something the
 * simulator sends (T8 and T9 are decoder cases) from its fields, compare
 * byte for byte, and print one "PASS <name>" or "FAIL <name>" line (with
 * what differs) each on <out>. Returns the number of failures.
 */
int
tw_self_test(FILE *out)
{
    int fails = tw_test_link(out) + tw_test_receive(out) +
                tw_test_reports(out) + tw_test_payloads(out) +
                tw_test_addresses(out) + tw_test_gateway(out);

    fprintf(out, "%s: %d failed\n", fails == 0 ? "PASS" : "FAIL", fails);
    return fails;
}

/* SPDX-License-Identifier: MIT */
/*
 * fuzz_tigo.c -- libFuzzer target for the Tigo TAP bus codec
 * (backends/tigo_frame.c): the deframer and the decoders of receive
 * responses, PV packets and their payloads.
 *
 * Input: a control byte C, N chunk-length bytes (N = C & 7), then the
 * data (at most STREAM_MAX bytes).
 *   C & 0x08 clear: the data is the bus stream, as it is.
 *   C & 0x08 set:   the data is a list of bodies, each a length byte L
 *                   and L bytes (the last one cut by the end); the target
 *                   seals each with its CRC, escapes it with tigo_escape()
 *                   and sends it as a TAP (FF) or the CCA (00 FF FF)
 *                   would. Bodies of 4..254 bytes must come out whole, in
 *                   order; shorter ones are runts, 255 a giant.
 * The stream is fed to one tigo_rx in one call and to another in chunks of
 * those lengths (cycling; 0 is an empty read; with none, or all 0, byte by
 * byte). A model below, written from the rules in tigo_frame.h and not
 * from tigo_frame.c, reads the whole stream at once with look-ahead and
 * says which frames must come out and what each counter must be. Checked:
 * - both feeds and the model deliver the same frames (address, type,
 *   payload) and end with the same counters and the same held state (in a
 *   frame or not, a pending 7E, the body held); so every byte is idle, in
 *   a counted body, counted as noise, or held, exactly as the header says,
 *   however the stream is cut;
 * - after every chunk, at most one body is held, and none outside a frame
 *   or in a giant;
 * - every frame: gateway = address & 0x7FFF, from_gateway = bit 15, a
 *   payload inside the body, a CRC the target computes bit by bit itself;
 * - every parser, on each frame's payload and on the raw data too:
 *   tigo_parse_receive() accepts exactly when the fields the status bits
 *   0-4 announce fit, its packets end where the payload ends; the PV walk
 *   (tigo_next_pv) reads each packet's length at byte 6, stays inside,
 *   and stops exactly where a header or a packet would run past the end;
 *   on each PV packet and the raw data, tigo_parse_power() (>= 13 bytes:
 *   12-bit raw values, scaled values in range and equal to the raw times
 *   their units, Pin <= 41,922, the temperature the 12-bit two's
 *   complement, the tail kept), tigo_parse_topology() (>= 23),
 *   tigo_parse_command() (>= 5) then tigo_parse_node_table() on its data
 *   (start before count, entries that the data holds and no more than
 *   count or room), tigo_parse_identity() (>= 10), and tigo_barcode() of
 *   every long address (0, or 3..12 characters of the right alphabet);
 * - tigo_escape() never leaves 23-25, A3-A5 raw, nor a 7E not followed by
 *   a code 00-06.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tigo_frame.h"

#define STREAM_MAX 4096
/* A sealed stream: each input byte of a body at most 2 wire bytes, plus
 * preamble, delimiters and CRC per body (a body of 0 costs 1 input byte
 * and 3 + 2 + 4 + 2 wire bytes). */
#define WIRE_MAX   (11 * STREAM_MAX + 16)
/* The shortest frame is 10 wire bytes; a sealed 4-byte body costs 5. */
#define MAX_FRAMES (STREAM_MAX / 5 + 1)
#define NODE_ROOM  8

#define CHECK(c)                                                               \
    do {                                                                       \
        if (!(c)) {                                                            \
            fprintf(stderr, "fuzz_tigo: check failed: %s (line %d)\n", #c,     \
                    __LINE__);                                                 \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* One frame with a good CRC. */
struct rec {
    uint16_t address, type;
    size_t   len;
    uint8_t  payload[TIGO_BODY_MAX];
};

/* What a feed (or the model) ended with. */
struct run {
    size_t                 n;
    struct rec             r[MAX_FRAMES];
    struct tigo_link_stats st;
    bool                   in_frame, escape;
    size_t                 held;
    uint8_t                body[TIGO_BODY_MAX];
};

static struct run whole, chunked, model;
static uint8_t wire[WIRE_MAX];

/* ---------------------------------------------------------------------- */
/* The target's own CRC and escapes */

/* The bus CRC (docs/tigo.md 1.4), one bit at a time, written from the
 * Rocksoft parameters: poly 0x1021 reflected, init 0x1021 reflected. */
static uint16_t
crc_bitwise(const uint8_t *p, size_t n)
{
    uint16_t crc = 0x8408;

    for (size_t i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            bool mix = ((crc ^ (unsigned)(p[i] >> bit)) & 1) != 0;

            crc >>= 1;
            if (mix) {
                crc ^= 0x8408;
            }
        }
    }
    return crc;
}

/* The data byte of escape code <code> 0..6 (1.2). */
static uint8_t
unescape(uint8_t code)
{
    static const uint8_t map[7] = {0x7E, 0x24, 0x23, 0x25,
                                   0xA4, 0xA3, 0xA5};

    return map[code];
}

/* ---------------------------------------------------------------------- */
/* The model */

/* The model's verdict on a complete body of <n> bytes: a runt, a CRC
 * error, or a frame. */
static void
model_add(struct run *m, const uint8_t *body, size_t n)
{
    struct rec *r;

    if (n < TIGO_BODY_MIN) {
        m->st.runts++;
        return;
    }
    if (crc_bitwise(body, n - 2) != (body[n - 2] | body[n - 1] << 8)) {
        m->st.crc_errors++;
        return;
    }
    m->st.frames++;
    CHECK(m->n < MAX_FRAMES);
    r = &m->r[m->n++];
    r->address = (uint16_t)(body[0] << 8 | body[1]);
    r->type = (uint16_t)(body[2] << 8 | body[3]);
    r->len = n - TIGO_BODY_MIN;
    memcpy(r->payload, body + 4, r->len);
}

/*
 * Read a body from <w>[*i] on (after its 7E 07) to its end; returns false
 * when the stream ends first (the body is then held), true when the body
 * ended and the reading goes on outside frames at *i.
 */
static bool
model_body(struct run *m, const uint8_t *w, size_t n, size_t *i)
{
    size_t len = 0;
    bool over = false;

    while (*i < n) {
        uint8_t c = w[(*i)++], d;

        if (c == 0x7E) {
            if (*i == n) {
                m->escape = true;
                break;
            }
            d = w[(*i)++];
            if (d == 0x08) {
                if (!over) {
                    model_add(m, m->body, len);
                }
                return true;
            }
            if (d == 0x07) {
                m->st.noise += !over;
                len = 0;
                over = false;
                continue;
            }
            if (d > 0x06) {
                if (over) {
                    continue;
                }
                m->st.noise++;
                (*i)--;                 /* <d> is read again outside */
                return true;
            }
            c = unescape(d);
        }
        if (over) {
            continue;
        }
        if (len == TIGO_BODY_MAX) {
            m->st.giants++;
            over = true;
            len = 0;
            continue;
        }
        m->body[len++] = c;
    }
    m->in_frame = true;
    m->held = len;
    return false;
}

/* The frames and counters tigo_frame.h promises for the stream <w>. */
static void
model_run(struct run *m, const uint8_t *w, size_t n)
{
    size_t i = 0;

    memset(&m->st, 0, sizeof(m->st));
    m->n = 0;
    m->in_frame = false;
    m->escape = false;
    m->held = 0;
    while (i < n) {
        uint8_t c = w[i++];

        if (c == 0x00 || c == 0xFF) {
            continue;
        }
        if (c != 0x7E) {
            m->st.noise++;
            continue;
        }
        if (i == n) {
            m->escape = true;
            return;
        }
        if (w[i] != 0x07) {
            m->st.noise++;              /* the next byte on its own */
            continue;
        }
        i++;
        if (!model_body(m, w, n, &i)) {
            return;
        }
    }
}

/* ---------------------------------------------------------------------- */
/* Parsers */

/* True when [p, p + n) lies inside [buf, buf + len). */
static bool
inside(const uint8_t *p, size_t n, const uint8_t *buf, size_t len)
{
    return p >= buf && n <= len && (size_t)(p - buf) <= len - n;
}

/* The barcode of <a>: "" without Tigo's prefix, else the high nibble of
 * byte 3, '-', hex digits without a leading zero, a check character. */
static void
check_barcode(const uint8_t a[TIGO_LONG_LEN])
{
    char bc[TIGO_BARCODE_MAX];
    size_t n;
    bool tigo = a[0] == 0x04 && a[1] == 0xC0 && a[2] == 0x5B;

    memset(bc, 'x', sizeof(bc));
    n = tigo_barcode(a, bc);
    CHECK(strlen(bc) == n);
    if (!tigo) {
        CHECK(n == 0);
        return;
    }
    CHECK(n >= 3 && n <= 12);
    CHECK(bc[1] == '-');
    CHECK(strchr("GHJKLMNPRSTVWXYZ", bc[n - 1]) != NULL);
    CHECK(bc[2] != '0' || n == 3);  /* no leading zero */
    for (size_t i = 0; i < n - 1; i++) {
        if (i != 1) {
            CHECK(strchr("0123456789ABCDEF", bc[i]) != NULL);
        }
    }
    CHECK(bc[0] == "0123456789ABCDEF"[a[3] >> 4]);
}

/* A power report read from the <n> bytes at <p>, or refused under 13. */
static void
check_power(const uint8_t *p, size_t n)
{
    struct tigo_power pw;
    int temp;

    if (!tigo_parse_power(p, n, &pw)) {
        CHECK(n < TIGO_REPORT_MIN);
        return;
    }
    CHECK(n >= TIGO_REPORT_MIN);
    CHECK(pw.vin_raw <= 0xFFF && pw.vout_raw <= 0xFFF);
    CHECK(pw.iin_raw <= 0xFFF && pw.temp_raw <= 0xFFF);
    CHECK(pw.vin_raw == (p[0] << 4 | p[1] >> 4));
    CHECK(pw.temp_raw == ((p[5] & 0x0F) << 8 | p[6]));
    CHECK(pw.duty == p[3] && pw.rssi == p[12]);
    CHECK(pw.slot == (p[10] << 8 | p[11]));
    CHECK(memcmp(pw.unknown, p + 7, 3) == 0);
    CHECK(pw.vin_cv == pw.vin_raw * 5 && pw.vin_cv <= 20475);
    CHECK(pw.vout_cv == pw.vout_raw * 10 && pw.vout_cv <= 40950);
    CHECK(pw.iin_ma == pw.iin_raw * 5 && pw.iin_ma <= 20475);
    CHECK(pw.pin_dw == (uint32_t)pw.vin_raw * pw.iin_raw / 400);
    CHECK(pw.pin_dw <= 41922);
    temp = pw.temp_raw < 0x800 ? pw.temp_raw : pw.temp_raw - 0x1000;
    CHECK(pw.temp_dc == temp);
    CHECK(pw.temp_dc >= -2048 && pw.temp_dc <= 2047);
    CHECK(pw.extra == p + TIGO_REPORT_MIN);
    CHECK(pw.extra_len == n - TIGO_REPORT_MIN);
}

/* A node table page read from the <n> bytes at <p>, with room for
 * n % 9 entries. */
static void
check_node_table(const uint8_t *p, size_t n)
{
    struct tigo_node_entry e[NODE_ROOM];
    uint16_t start, count;
    size_t stored, room = n % (NODE_ROOM + 1);

    if (!tigo_parse_node_table(p, n, &start, &count, e, room, &stored)) {
        CHECK(n < 4 && stored == 0);
        return;
    }
    CHECK(n >= 4);
    CHECK(start == (p[0] << 8 | p[1]) && count == (p[2] << 8 | p[3]));
    CHECK(stored <= count && stored <= room && stored <= (n - 4) / 10);
    CHECK(stored == count || stored == room || stored == (n - 4) / 10);
    for (size_t i = 0; i < stored; i++) {
        const uint8_t *q = p + 4 + 10 * i;

        CHECK(memcmp(e[i].long_addr, q, TIGO_LONG_LEN) == 0);
        CHECK(e[i].node == (q[8] << 8 | q[9]));
        check_barcode(e[i].long_addr);
    }
}

/* Every payload parser but the receive response on the <n> bytes <p>. */
static void
check_data(const uint8_t *p, size_t n)
{
    struct tigo_topology t;
    struct tigo_command c;
    uint8_t addr[TIGO_LONG_LEN];
    uint16_t gw;

    check_power(p, n);
    if (tigo_parse_topology(p, n, &t)) {
        CHECK(n >= 23);
        CHECK(t.node == (p[2] << 8 | p[3]) && t.rssi == p[16]);
        CHECK(memcmp(t.long_addr, p + 8, TIGO_LONG_LEN) == 0);
        check_barcode(t.long_addr);
    } else {
        CHECK(n < 23);
    }
    if (tigo_parse_command(p, n, &c)) {
        CHECK(n >= 5 && c.pv_type == p[3] && c.seq == p[4]);
        CHECK(c.data == p + 5 && c.len == n - 5);
        check_node_table(c.data, c.len);
    } else {
        CHECK(n < 5);
    }
    check_node_table(p, n);
    if (tigo_parse_identity(p, n, addr, &gw)) {
        CHECK(n >= 10 && gw == (p[8] << 8 | p[9]));
        check_barcode(addr);
    } else {
        CHECK(n < 10);
    }
}

/* The size of the fields before the slot counter that status <s>
 * announces (2.3). */
static size_t
status_fields(uint16_t s)
{
    return (s & 1 ? 0 : 1) + (s & 2 ? 0 : 1) + (s & 4 ? 0 : 2) +
           (s & 8 ? 0 : 2) + (s & 0x10 ? 1 : 2);
}

/* A receive response's payload, its PV packets and their data. */
static void
check_receive(const uint8_t *p, size_t n)
{
    struct tigo_receive r;
    struct tigo_pv pv;
    size_t off = 0, need;

    if (!tigo_parse_receive(p, n, &r)) {
        CHECK(n < 2 || n < 2 + status_fields(p[0] << 8 | p[1]) + 2);
        return;
    }
    need = 2 + status_fields(r.status) + 2;
    CHECK(n >= need);
    CHECK(r.status == (p[0] << 8 | p[1]));
    CHECK(r.packets == p + need && r.packets_len == n - need);
    CHECK(r.slot == (p[need - 2] << 8 | p[need - 1]));
    CHECK(r.pkt_full == !(r.status & 0x10));
    CHECK(r.pkt_full || r.packet <= 0xFF);
    while (tigo_next_pv(&r, &off, &pv)) {
        const uint8_t *h = pv.data - 7;

        CHECK(inside(h, 7 + pv.len, r.packets, r.packets_len));
        CHECK(pv.len == h[6] && pv.type == h[0]);
        CHECK(pv.node == (h[1] << 8 | h[2]) && pv.dsn == h[5]);
        CHECK((size_t)(h - r.packets) + 7 + pv.len == off);
        check_data(pv.data, pv.len);
    }
    /* It stops at the end, or where the next packet would not fit. */
    CHECK(off <= r.packets_len);
    CHECK(off == r.packets_len || r.packets_len - off < 7 ||
          r.packets[off + 6] > r.packets_len - off - 7);
}

/* ---------------------------------------------------------------------- */
/* Feeds */

/* Record a delivered frame in the run <ctx>; check its fields and CRC,
 * and (for the whole feed only) run every parser on its payload. */
static void
frame_cb(void *ctx, const struct tigo_frame *f)
{
    struct run *run = ctx;
    struct rec *r;
    uint8_t body[TIGO_BODY_MAX];

    CHECK(f->gateway == (f->address & 0x7FFF));
    CHECK(f->from_gateway == ((f->address & 0x8000) != 0));
    CHECK(f->payload_len <= TIGO_BODY_MAX - TIGO_BODY_MIN);
    body[0] = (uint8_t)(f->address >> 8);
    body[1] = (uint8_t)f->address;
    body[2] = (uint8_t)(f->type >> 8);
    body[3] = (uint8_t)f->type;
    memcpy(body + 4, f->payload, f->payload_len);
    CHECK(crc_bitwise(body, 4 + f->payload_len) ==
          tigo_crc16(body, 4 + f->payload_len));
    CHECK(run->n < MAX_FRAMES);
    r = &run->r[run->n++];
    r->address = f->address;
    r->type = f->type;
    r->len = f->payload_len;
    memcpy(r->payload, f->payload, f->payload_len);
    if (run == &whole) {
        check_receive(f->payload, f->payload_len);
        check_data(f->payload, f->payload_len);
    }
}

/* At most one body is held, and only inside a frame that is not a
 * giant. */
static void
check_held(const struct tigo_rx *rx)
{
    CHECK(rx->len <= TIGO_BODY_MAX);
    CHECK(rx->in_frame || (rx->len == 0 && !rx->giant));
    CHECK(!rx->giant || rx->len == 0);
}

/* Copy what <rx> ended with into <run>. */
static void
end_run(struct run *run, const struct tigo_rx *rx)
{
    run->st = rx->st;
    run->in_frame = rx->in_frame;
    run->escape = rx->escape;
    run->held = rx->len;
    memcpy(run->body, rx->body, rx->len);
}

/* Two runs delivered the same frames and ended the same way. */
static void
same_runs(const struct run *a, const struct run *b)
{
    CHECK(a->n == b->n);
    for (size_t i = 0; i < a->n; i++) {
        CHECK(a->r[i].address == b->r[i].address);
        CHECK(a->r[i].type == b->r[i].type);
        CHECK(a->r[i].len == b->r[i].len);
        CHECK(memcmp(a->r[i].payload, b->r[i].payload, a->r[i].len) == 0);
    }
    CHECK(a->st.frames == b->st.frames && a->st.frames == a->n);
    CHECK(a->st.crc_errors == b->st.crc_errors);
    CHECK(a->st.runts == b->st.runts);
    CHECK(a->st.giants == b->st.giants);
    CHECK(a->st.noise == b->st.noise);
    CHECK(a->in_frame == b->in_frame && a->escape == b->escape);
    CHECK(a->held == b->held);
    CHECK(memcmp(a->body, b->body, a->held) == 0);
}

/* tigo_escape() of the <n> bytes at <p> into <out>: no byte that needs an
 * escape is left, every 7E is followed by a code 00..06, and the output
 * reads back to <p>. Returns its length. */
static size_t
escape_checked(const uint8_t *p, size_t n, uint8_t *out)
{
    size_t len = tigo_escape(p, n, out), j = 0;

    CHECK(len >= n && len <= 2 * n);
    for (size_t i = 0; i < len; i++) {
        uint8_t c = out[i];

        CHECK(!(c >= 0x23 && c <= 0x25) && !(c >= 0xA3 && c <= 0xA5));
        if (c == 0x7E) {
            CHECK(i + 1 < len && out[i + 1] <= 0x06);
            c = unescape(out[++i]);
        }
        CHECK(j < n && c == p[j]);
        j++;
    }
    CHECK(j == n);
    return len;
}

/* Build in <wire> the stream of the sealed bodies in <data>; returns its
 * length, and in <expect> the frames that must come out of it. */
static size_t
seal(const uint8_t *data, size_t len, struct run *expect)
{
    size_t pos = 0, w = 0, k = 0;

    memset(&expect->st, 0, sizeof(expect->st));
    expect->n = 0;
    while (pos < len) {
        size_t n = data[pos++];
        uint8_t body[256 + 2];
        uint16_t crc;

        if (n > len - pos) {
            n = len - pos;
        }
        memcpy(body, data + pos, n);
        pos += n;
        crc = crc_bitwise(body, n);
        body[n] = (uint8_t)crc;
        body[n + 1] = (uint8_t)(crc >> 8);
        if (k++ % 2 == 0) {
            memcpy(wire + w, "\xFF\x7E\x07", 3);
            w += 3;
        } else {
            memcpy(wire + w, "\x00\xFF\xFF\x7E\x07", 5);
            w += 5;
        }
        w += escape_checked(body, n + 2, wire + w);
        wire[w++] = 0x7E;
        wire[w++] = 0x08;
        if (n + 2 < TIGO_BODY_MIN) {
            expect->st.runts++;
        } else if (n + 2 > TIGO_BODY_MAX) {
            expect->st.giants++;
        } else {
            model_add(expect, body, n + 2);
        }
    }
    expect->in_frame = false;
    expect->escape = false;
    expect->held = 0;
    return w;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct tigo_rx rx1, rx2;
    static struct run sealed;
    const uint8_t *lens, *in;
    size_t n_lens, len, wlen, pos = 0, k = 0;
    bool any_len = false;

    if (size < 1) {
        return 0;
    }
    n_lens = data[0] & 7u;
    if (size < 1 + n_lens || size - 1 - n_lens > STREAM_MAX) {
        return 0;
    }
    lens = data + 1;
    in = data + 1 + n_lens;
    len = size - 1 - n_lens;
    for (size_t i = 0; i < n_lens; i++) {
        any_len = any_len || lens[i] != 0;
    }

    /* The raw data, as a payload and as PV data. */
    check_receive(in, len);
    check_data(in, len);

    if (data[0] & 0x08) {
        wlen = seal(in, len, &sealed);
    } else {
        memcpy(wire, in, len);
        wlen = len;
    }

    /* Whole: one call. */
    whole.n = 0;
    tigo_rx_init(&rx1);
    tigo_rx_feed(&rx1, wire, wlen, frame_cb, &whole);
    check_held(&rx1);
    end_run(&whole, &rx1);

    /* Chunked: lengths cycle; with none given (or all 0), byte by byte. */
    chunked.n = 0;
    tigo_rx_init(&rx2);
    while (pos < wlen) {
        size_t n = any_len ? lens[k++ % n_lens] : 1;

        if (n > wlen - pos) {
            n = wlen - pos;
        }
        tigo_rx_feed(&rx2, wire + pos, n, frame_cb, &chunked);
        check_held(&rx2);
        pos += n;
    }
    end_run(&chunked, &rx2);

    model_run(&model, wire, wlen);
    same_runs(&whole, &chunked);
    same_runs(&whole, &model);
    if (data[0] & 0x08) {
        same_runs(&whole, &sealed);
    }
    return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * test_tigo_frame.c -- the Tigo TAP bus codec of backends/tigo_frame.c.
 *
 * Every vector of docs/tigo.md section 3 (tests/fixtures/tigo_vectors.hex):
 * the CRC of T1-T3, the escaping of T4, the frames T5-T8, T10, T11 and
 * T20-T24 fed whole, byte by byte, cut at every point and in random
 * pieces, alone and back to back with preambles between, and the
 * payloads T9, T12-T18 and barcodes T19, each decoded to the values the
 * page gives. Then the deframer's counters on noise, runts, a giant, bad
 * CRCs, an unknown escape, a stream that starts mid-frame and a 7E 07
 * inside a body; tigo_escape() through the deframer; a PV packet that runs
 * past its payload; the 12-bit temperature and the input power scaling.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "tigo_frame.h"

#define STREAM_MAX 4096
#define LOG_MAX    64

/* ---------------------------------------------------------------------- */
/* Vectors */

static struct fixture fx[FIXTURE_MAX];
static size_t n_fx;

/* The vector named <name> ("T10", "T16b"). */
static const struct fixture *
vec(const char *name)
{
    if (n_fx == 0) {
        n_fx = fixture_load("tigo_vectors.hex", fx, FIXTURE_MAX);
    }
    for (size_t i = 0; i < n_fx; i++) {
        if (strcmp(fx[i].kind, name) == 0) {
            return &fx[i];
        }
    }
    cr_assert_fail("no vector %s in tigo_vectors.hex", name);
    return NULL;
}

/* Parse the hex bytes of <s> into <out>; returns their number. */
static size_t
hex(const char *s, uint8_t *out)
{
    size_t n = 0;
    char *end;

    for (;;) {
        unsigned long v = strtoul(s, &end, 16);

        if (end == s) {
            return n;
        }
        out[n++] = (uint8_t)v;
        s = end;
    }
}

/* ---------------------------------------------------------------------- */
/* Streams and what the deframer delivers */

struct bytes {
    uint8_t b[STREAM_MAX];
    size_t  len;
};

static void
append(struct bytes *s, const uint8_t *p, size_t n)
{
    cr_assert_leq(s->len + n, sizeof(s->b), "test stream too long");
    memcpy(s->b + s->len, p, n);
    s->len += n;
}

static void
append_hex(struct bytes *s, const char *h)
{
    uint8_t b[STREAM_MAX];

    append(s, b, hex(h, b));
}

/* Append a frame as a TAP sends it: FF, 7E 07, <body> (<n> bytes) and
 * its CRC escaped, 7E 08. */
static void
append_frame(struct bytes *s, const uint8_t *body, size_t n)
{
    uint8_t raw[TIGO_BODY_MAX + 8], esc[2 * sizeof(raw)];
    uint16_t crc = tigo_crc16(body, n);

    cr_assert_leq(n + 2, sizeof(raw));
    memcpy(raw, body, n);
    raw[n] = (uint8_t)crc;
    raw[n + 1] = (uint8_t)(crc >> 8);
    append_hex(s, "FF 7E 07");
    append(s, esc, tigo_escape(raw, n + 2, esc));
    append_hex(s, "7E 08");
}

struct rec {
    struct tigo_frame f;
    uint8_t           payload[TIGO_BODY_MAX];
};

struct log {
    size_t     n;
    struct rec r[LOG_MAX];
};

static struct log log_a, log_b;
static struct tigo_rx rx_a, rx_b;
static struct bytes stream;

static void
record_cb(void *ctx, const struct tigo_frame *f)
{
    struct log *lg = ctx;
    struct rec *r;

    cr_assert_lt(lg->n, LOG_MAX, "too many frames");
    cr_assert_leq(f->payload_len, TIGO_BODY_MAX - TIGO_BODY_MIN);
    cr_assert_eq(f->gateway, f->address & 0x7FFF);
    cr_assert_eq(f->from_gateway, (f->address & 0x8000) != 0);
    r = &lg->r[lg->n++];
    r->f = *f;
    memcpy(r->payload, f->payload, f->payload_len);
    r->f.payload = r->payload;
}

/* The deframer holds at most one body, and only while inside a frame. */
static void
check_held(const struct tigo_rx *rx)
{
    cr_assert_leq(rx->len, TIGO_BODY_MAX);
    if (!rx->in_frame || rx->giant) {
        cr_assert_eq(rx->len, 0);
    }
}

static void
feed_whole(struct tigo_rx *rx, const struct bytes *s, struct log *lg)
{
    memset(lg, 0, sizeof(*lg));
    tigo_rx_init(rx);
    tigo_rx_feed(rx, s->b, s->len, record_cb, lg);
    check_held(rx);
}

static void
feed_bytewise(struct tigo_rx *rx, const struct bytes *s, struct log *lg)
{
    memset(lg, 0, sizeof(*lg));
    tigo_rx_init(rx);
    for (size_t i = 0; i < s->len; i++) {
        tigo_rx_feed(rx, s->b + i, 1, record_cb, lg);
        check_held(rx);
    }
}

/* Feed in two pieces, cut before byte <cut>. */
static void
feed_cut(struct tigo_rx *rx, const struct bytes *s, struct log *lg,
         size_t cut)
{
    memset(lg, 0, sizeof(*lg));
    tigo_rx_init(rx);
    tigo_rx_feed(rx, s->b, cut, record_cb, lg);
    check_held(rx);
    tigo_rx_feed(rx, s->b + cut, s->len - cut, record_cb, lg);
    check_held(rx);
}

static uint32_t
xorshift(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* Feed in pieces of 0..<max> - 1 bytes (0: an empty read). */
static void
feed_random(struct tigo_rx *rx, const struct bytes *s, struct log *lg,
            uint32_t seed, size_t max)
{
    size_t pos = 0;

    memset(lg, 0, sizeof(*lg));
    tigo_rx_init(rx);
    while (pos < s->len) {
        size_t n = xorshift(&seed) % max;

        if (n > s->len - pos) {
            n = s->len - pos;
        }
        tigo_rx_feed(rx, s->b + pos, n, record_cb, lg);
        check_held(rx);
        pos += n;
    }
}

static void
same_logs(const struct log *a, const struct log *b, const char *what)
{
    cr_assert_eq(a->n, b->n, "%s: %zu frames vs %zu", what, a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        const struct tigo_frame *x = &a->r[i].f, *y = &b->r[i].f;

        cr_assert_eq(x->address, y->address, "%s: frame %zu", what, i);
        cr_assert_eq(x->type, y->type, "%s: frame %zu", what, i);
        cr_assert_eq(x->payload_len, y->payload_len, "%s: frame %zu", what,
                     i);
        cr_assert_eq(memcmp(x->payload, y->payload, x->payload_len), 0,
                     "%s: frame %zu payload", what, i);
    }
}

static void
same_stats(const struct tigo_rx *a, const struct tigo_rx *b,
           const char *what)
{
    cr_assert_eq(a->st.frames, b->st.frames, "%s: frames", what);
    cr_assert_eq(a->st.crc_errors, b->st.crc_errors, "%s: crc", what);
    cr_assert_eq(a->st.runts, b->st.runts, "%s: runts", what);
    cr_assert_eq(a->st.giants, b->st.giants, "%s: giants", what);
    cr_assert_eq(a->st.noise, b->st.noise, "%s: noise", what);
    cr_assert_eq(a->in_frame, b->in_frame, "%s: in frame", what);
    cr_assert_eq(a->escape, b->escape, "%s: escape", what);
    cr_assert_eq(a->len, b->len, "%s: held", what);
}

/* Feed <s> whole into rx_a/log_a, then every other way into rx_b/log_b:
 * byte by byte, cut at every point (up to <every_cut> bytes long), in 50
 * random splits. Each must give what the whole feed gave. */
static void
feed_every_way(const struct bytes *s, size_t every_cut)
{
    feed_whole(&rx_a, s, &log_a);
    feed_bytewise(&rx_b, s, &log_b);
    same_logs(&log_a, &log_b, "byte by byte");
    same_stats(&rx_a, &rx_b, "byte by byte");
    if (s->len <= every_cut) {
        for (size_t cut = 0; cut <= s->len; cut++) {
            feed_cut(&rx_b, s, &log_b, cut);
            same_logs(&log_a, &log_b, "two pieces");
            same_stats(&rx_a, &rx_b, "two pieces");
        }
    }
    for (uint32_t seed = 1; seed <= 50; seed++) {
        size_t max = 2 + seed % 40;

        feed_random(&rx_b, s, &log_b, seed * 2654435761u, max);
        same_logs(&log_a, &log_b, "random split");
        same_stats(&rx_a, &rx_b, "random split");
    }
}

static void
expect_stats(const struct tigo_rx *rx, uint64_t frames, uint64_t crc,
             uint64_t runts, uint64_t giants, uint64_t noise)
{
    cr_expect_eq(rx->st.frames, frames, "frames %llu, want %llu",
                 (unsigned long long)rx->st.frames,
                 (unsigned long long)frames);
    cr_expect_eq(rx->st.crc_errors, crc, "crc errors %llu, want %llu",
                 (unsigned long long)rx->st.crc_errors,
                 (unsigned long long)crc);
    cr_expect_eq(rx->st.runts, runts, "runts %llu, want %llu",
                 (unsigned long long)rx->st.runts,
                 (unsigned long long)runts);
    cr_expect_eq(rx->st.giants, giants, "giants %llu, want %llu",
                 (unsigned long long)rx->st.giants,
                 (unsigned long long)giants);
    cr_expect_eq(rx->st.noise, noise, "noise %llu, want %llu",
                 (unsigned long long)rx->st.noise,
                 (unsigned long long)noise);
}

/* Frame <i> of <lg> has <address>, <type> and the payload <payload_hex>. */
static void
is_frame(const struct log *lg, size_t i, uint16_t address, uint16_t type,
         const char *payload_hex)
{
    uint8_t want[TIGO_BODY_MAX];
    size_t n = hex(payload_hex, want);
    const struct tigo_frame *f;

    cr_assert_lt(i, lg->n, "frame %zu missing", i);
    f = &lg->r[i].f;
    cr_assert_eq(f->address, address, "frame %zu: address %04X", i,
                 f->address);
    cr_assert_eq(f->type, type, "frame %zu: type %04X", i, f->type);
    cr_assert_eq(f->payload_len, n, "frame %zu: payload %zu bytes", i,
                 f->payload_len);
    cr_assert_eq(memcmp(f->payload, want, n), 0, "frame %zu: payload", i);
}

/* ---------------------------------------------------------------------- */
/* CRC and escaping (T1-T4) */

Test(tigo_crc, vectors)
{
    cr_assert_eq(tigo_crc16(NULL, 0), 0x8408);
    cr_assert_eq(tigo_crc16(vec("T1")->a, 1), 0x3B57);
    cr_assert_eq(tigo_crc16(vec("T1")->a, 2), 0x3788);
    cr_assert_eq(tigo_crc16(vec("T1")->a, vec("T1")->a_len), 0x85A3);
    cr_assert_eq(tigo_crc16(vec("T2")->a, vec("T2")->a_len), 0x5DCF);
    /* The check value over "123456789" (1.4). */
    cr_assert_eq(tigo_crc16(vec("T3")->a, vec("T3")->a_len), 0x837F);
}

Test(tigo_escape, t4)
{
    const struct fixture *t4 = vec("T4");
    uint8_t out[2 * FIXTURE_BYTES];
    size_t n = tigo_escape(t4->a, t4->a_len, out);

    cr_assert_eq(n, t4->b_len);
    cr_assert_eq(memcmp(out, t4->b, n), 0);
}

/* Every byte value, escaped with tigo_escape(), comes back out of the
 * deframer: a body holding 00..FF in 4 frames, and T4's raw bytes. */
Test(tigo_escape, round_trip_through_the_deframer)
{
    uint8_t body[4][4 + 64];

    stream.len = 0;
    for (int k = 0; k < 4; k++) {
        body[k][0] = 0x92;
        body[k][1] = 0x01;
        body[k][2] = 0x7E;   /* the type too: 7E A5 */
        body[k][3] = 0xA5;
        for (int i = 0; i < 64; i++) {
            body[k][4 + i] = (uint8_t)(64 * k + i);
        }
        append_frame(&stream, body[k], sizeof(body[k]));
    }
    append_frame(&stream, vec("T4")->a, vec("T4")->a_len);
    feed_every_way(&stream, 0);
    expect_stats(&rx_a, 5, 0, 0, 0, 0);
    for (int k = 0; k < 4; k++) {
        cr_assert_eq(log_a.r[k].f.address, 0x9201);
        cr_assert_eq(log_a.r[k].f.type, 0x7EA5);
        cr_assert_eq(log_a.r[k].f.payload_len, 64);
        cr_assert_eq(memcmp(log_a.r[k].payload, body[k] + 4, 64), 0);
    }
    /* 7E A3 A4 A5 23 24 25 61 .. 66: address 7EA3, type A4A5. */
    is_frame(&log_a, 4, 0x7EA3, 0xA4A5, "23 24 25 61 62 63 64 65 66");
}

/* ---------------------------------------------------------------------- */
/* Frames (T5-T8, T10, T11, T20-T24) */

struct frame_case {
    const char *name;
    bool        response;    /* the part after '>' */
    uint16_t    address, type;
    const char *payload;     /* NULL: only its length is checked */
    size_t      payload_len;
    uint16_t    crc;         /* 0: not given by the page */
};

static const struct frame_case frame_cases[] = {
    {"T5", false, 0x9201, 0x0149, "00 FF 7C DB C2", 5, 0x85A3},
    {"T6", false, 0x1201, 0x0148, "00 01 18 83 04", 5, 0x4417},
    {"T7", false, 0x1201, 0x0148, "00 01 18 84 04", 5, 0x091F},
    {"T8", false, 0x9201, 0x0149,
     "00 FE 01 83 5A DE 07 00 0A 01 14 63 3A", 13, 0x2679},
    {"T10", false, 0x9201, 0x0149, NULL, 6 + 4 * 22, 0xFB2B},
    {"T11", false, 0x9201, 0x0149, NULL, 12 + 2 * 21, 0x4F8A},
    {"T20", false, 0x9201, 0x003B, "04 C0 5B 30 00 02 BE 16 12 01", 10,
     0xA6E6},
    {"T21", false, 0x9201, 0x000B, NULL, 58, 0xE28A},
    {"T22", false, 0x0000, 0x0014, "37 24 92 66 12 35", 6, 0x1A06},
    {"T23", false, 0x1201, 0x0B0F,
     "00 00 00 06 66 00 09 5E 30 30 49 6E 66 6F 0D", 15, 0},
    {"T23", true, 0x9201, 0x0B10, "00 0D 00 07 66", 5, 0},
    {"T24", false, 0x1201, 0x0B00, "01", 1, 0},
    {"T24", true, 0x9201, 0x0B01, "01", 1, 0},
};
#define N_FRAME_CASES (sizeof(frame_cases) / sizeof(frame_cases[0]))

static void
append_case(struct bytes *s, const struct frame_case *c)
{
    const struct fixture *v = vec(c->name);

    if (c->response) {
        append(s, v->b, v->b_len);
    } else {
        append(s, v->a, v->a_len);
    }
}

/* <r> is the frame of case <c>. */
static void
is_case(const struct rec *r, const struct frame_case *c)
{
    const struct tigo_frame *f = &r->f;
    uint8_t want[TIGO_BODY_MAX];

    cr_assert_eq(f->address, c->address, "%s: address %04X", c->name,
                 f->address);
    cr_assert_eq(f->gateway, c->address & 0x7FFF, "%s", c->name);
    cr_assert_eq(f->from_gateway, (c->address & 0x8000) != 0, "%s",
                 c->name);
    cr_assert_eq(f->type, c->type, "%s: type %04X", c->name, f->type);
    cr_assert_eq(f->payload_len, c->payload_len, "%s: %zu bytes", c->name,
                 f->payload_len);
    if (c->payload != NULL) {
        cr_assert_eq(hex(c->payload, want), c->payload_len, "%s", c->name);
        cr_assert_eq(memcmp(f->payload, want, c->payload_len), 0,
                     "%s: payload", c->name);
    }
}

Test(tigo_frames, each_alone_every_way)
{
    for (size_t i = 0; i < N_FRAME_CASES; i++) {
        const struct frame_case *c = &frame_cases[i];

        stream.len = 0;
        append_case(&stream, c);
        feed_every_way(&stream, STREAM_MAX);
        cr_assert_eq(log_a.n, 1, "%s: %zu frames", c->name, log_a.n);
        is_case(&log_a.r[0], c);
        expect_stats(&rx_a, 1, 0, 0, 0, 0);
        cr_assert(!rx_a.in_frame && !rx_a.escape && rx_a.len == 0);
    }
}

/* The CRCs the page gives for the frames are the ones on the wire. */
Test(tigo_frames, crcs_as_given)
{
    for (size_t i = 0; i < N_FRAME_CASES; i++) {
        const struct frame_case *c = &frame_cases[i];
        uint8_t body[TIGO_BODY_MAX];
        const struct tigo_frame *f;

        if (c->crc == 0) {
            continue;
        }
        stream.len = 0;
        append_case(&stream, c);
        feed_whole(&rx_a, &stream, &log_a);
        cr_assert_eq(log_a.n, 1, "%s", c->name);
        f = &log_a.r[0].f;
        body[0] = (uint8_t)(f->address >> 8);
        body[1] = (uint8_t)f->address;
        body[2] = (uint8_t)(f->type >> 8);
        body[3] = (uint8_t)f->type;
        memcpy(body + 4, f->payload, f->payload_len);
        cr_assert_eq(tigo_crc16(body, 4 + f->payload_len), c->crc,
                     "%s: CRC %04X", c->name,
                     tigo_crc16(body, 4 + f->payload_len));
    }
}

/* Every frame vector back to back, with extra preambles and idle bytes
 * between some of them, three times over: 39 frames however cut. */
Test(tigo_frames, back_to_back_every_way)
{
    stream.len = 0;
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < N_FRAME_CASES; i++) {
            append_case(&stream, &frame_cases[i]);
            if ((i + round) % 3 == 0) {
                append_hex(&stream, "00 FF FF FF 00");
            }
        }
    }
    feed_every_way(&stream, 0);
    cr_assert_eq(log_a.n, 3 * N_FRAME_CASES);
    for (size_t i = 0; i < log_a.n; i++) {
        is_case(&log_a.r[i], &frame_cases[i % N_FRAME_CASES]);
    }
    expect_stats(&rx_a, 3 * N_FRAME_CASES, 0, 0, 0, 0);
}

/* The frame is handed over the moment its 7E 08 is in, not later. */
Test(tigo_frames, delivered_at_the_end_delimiter)
{
    const struct fixture *t5 = vec("T5");

    memset(&log_a, 0, sizeof(log_a));
    tigo_rx_init(&rx_a);
    tigo_rx_feed(&rx_a, t5->a, t5->a_len - 1, record_cb, &log_a);
    cr_assert_eq(log_a.n, 0);
    cr_assert(rx_a.in_frame && rx_a.escape);
    tigo_rx_feed(&rx_a, t5->a + t5->a_len - 1, 1, record_cb, &log_a);
    cr_assert_eq(log_a.n, 1);
    /* A NULL callback only counts. */
    tigo_rx_feed(&rx_a, t5->a, t5->a_len, NULL, NULL);
    cr_assert_eq(rx_a.st.frames, 2);
}

/* ---------------------------------------------------------------------- */
/* Receive responses and PV packets (T5, T8, T9, T10-T13) */

/* The payload of the frame vector <name>, through the deframer. */
static const struct rec *
payload_of(const char *name)
{
    stream.len = 0;
    append(&stream, vec(name)->a, vec(name)->a_len);
    feed_whole(&rx_a, &stream, &log_a);
    cr_assert_eq(log_a.n, 1, "%s", name);
    return &log_a.r[0];
}

static void
parse_receive_ok(const uint8_t *p, size_t n, struct tigo_receive *r)
{
    cr_assert(tigo_parse_receive(p, n, r));
    cr_assert(r->packets >= p && r->packets + r->packets_len == p + n);
}

Test(tigo_receive, t5_minimal)
{
    const struct rec *rec = payload_of("T5");
    struct tigo_receive r;
    struct tigo_pv pv;
    size_t off = 0;

    parse_receive_ok(rec->f.payload, rec->f.payload_len, &r);
    cr_assert_eq(r.status, 0x00FF);
    cr_assert(!r.has_rx_used && !r.has_tx_free && !r.pkt_full);
    cr_assert_eq(r.packet, 0x7C);
    cr_assert_eq(r.slot, 0xDBC2);  /* epoch 3, slot 7106 (2.7) */
    cr_assert_eq(r.slot >> 14, 3);
    cr_assert_eq(r.slot & 0x3FFF, 7106);
    cr_assert_eq(r.packets_len, 0);
    cr_assert_not(tigo_next_pv(&r, &off, &pv));
}

/* T8: the PV header says 58 data bytes, none follow: the iterator stops
 * and leaves the offset. */
Test(tigo_receive, t8_packet_past_the_payload)
{
    const struct rec *rec = payload_of("T8");
    struct tigo_receive r;
    struct tigo_pv pv;
    size_t off = 0;

    parse_receive_ok(rec->f.payload, rec->f.payload_len, &r);
    cr_assert_eq(r.status, 0x00FE);
    cr_assert(r.has_rx_used && !r.has_tx_free && !r.pkt_full);
    cr_assert_eq(r.rx_used, 1);
    cr_assert_eq(r.packet, 0x83);
    cr_assert_eq(r.slot, 0x5ADE);
    cr_assert_eq(r.packets_len, 7);
    cr_assert_eq(r.packets[0], 0x07);              /* string response */
    cr_assert_eq(r.packets[6], 0x3A);
    cr_assert_not(tigo_next_pv(&r, &off, &pv));
    cr_assert_eq(off, 0);
}

/* A good packet, then one that runs past the end: one, then stop. */
Test(tigo_receive, iterator_stops_at_a_long_packet)
{
    uint8_t p[64];
    size_t n = hex("00 FF 03 21 31 "
                   "31 00 07 00 18 08 02 AA BB "       /* 2 data bytes */
                   "31 00 07 00 18 08 05 01 02 03 04", /* 4 of 5 */
                   p);
    struct tigo_receive r;
    struct tigo_pv pv;
    size_t off = 0;

    parse_receive_ok(p, n, &r);
    cr_assert(tigo_next_pv(&r, &off, &pv));
    cr_assert_eq(pv.len, 2);
    cr_assert_eq(pv.data, p + 12);
    cr_assert_eq(off, 9);
    cr_assert_not(tigo_next_pv(&r, &off, &pv));
    cr_assert_eq(off, 9);
    /* A header cut short stops it as well. */
    r.packets_len = 9 + 6;
    cr_assert_not(tigo_next_pv(&r, &off, &pv));
    /* The last byte of a packet exactly at the end. */
    r.packets_len = 9 + 7 + 5;
    n = 5 + 9 + 7 + 5;
    p[n - 1] = 0x05;
    cr_assert(tigo_next_pv(&r, &off, &pv));
    cr_assert_eq(pv.len, 5);
    cr_assert_eq(off, r.packets_len);
    cr_assert_not(tigo_next_pv(&r, &off, &pv));
}

struct status_case {
    const char *name;
    uint16_t    status;
    bool        has_rx, has_tx, full;
    uint8_t     rx, tx;
    uint16_t    packet, slot;
};

Test(tigo_receive, t9_status_words)
{
    static const struct status_case cases[] = {
        {"T9a", 0x00E0, true, true, true, 4, 14, 0x40FB, 0x211B},
        {"T9b", 0x00FE, true, false, false, 2, 0, 0xFF, 0x2122},
        {"T9c", 0x00EE, true, false, true, 0, 0, 0x4101, 0x2127},
        {"T9d", 0x00FF, false, false, false, 0, 0, 0x03, 0x2131},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct status_case *c = &cases[i];
        const struct fixture *v = vec(c->name);
        struct tigo_receive r;

        parse_receive_ok(v->a, v->a_len, &r);
        cr_assert_eq(r.status, c->status, "%s", c->name);
        cr_assert_eq(r.has_rx_used, c->has_rx, "%s", c->name);
        cr_assert_eq(r.has_tx_free, c->has_tx, "%s", c->name);
        cr_assert_eq(r.pkt_full, c->full, "%s", c->name);
        cr_assert_eq(r.rx_used, c->rx, "%s", c->name);
        cr_assert_eq(r.tx_free, c->tx, "%s", c->name);
        cr_assert_eq(r.packet, c->packet, "%s", c->name);
        cr_assert_eq(r.slot, c->slot, "%s", c->name);
        cr_assert_eq(r.packets_len, 0, "%s", c->name);
        /* One byte less and the fields do not fit. */
        cr_assert_not(tigo_parse_receive(v->a, v->a_len - 1, &r), "%s",
                      c->name);
    }
}

/* Bits 5-15 never change the layout (4.3): T9a's fields under every
 * upper byte and bits 5-7 seen in the field, and all of them set. */
Test(tigo_receive, status_upper_bits_ignored)
{
    static const uint16_t upper[] = {0x0000, 0x0100, 0x4100, 0x8100,
                                     0xC100, 0x00E0, 0xFFE0, 0x01A0};
    uint8_t p[16];

    for (size_t i = 0; i < sizeof(upper) / sizeof(upper[0]); i++) {
        struct tigo_receive r;
        size_t n = hex("00 E0 04 0E 00 01 02 00 40 FB 21 1B", p);

        p[0] = (uint8_t)(upper[i] >> 8);
        p[1] = (uint8_t)upper[i];
        parse_receive_ok(p, n, &r);
        cr_assert_eq(r.status, upper[i]);
        cr_assert(r.has_rx_used && r.has_tx_free && r.pkt_full);
        cr_assert_eq(r.packet, 0x40FB);
        cr_assert_eq(r.slot, 0x211B);
    }
}

Test(tigo_receive, too_short)
{
    uint8_t p[4] = {0x00, 0xFF, 0x03, 0x21};
    struct tigo_receive r;

    cr_assert_not(tigo_parse_receive(p, 0, &r));
    cr_assert_not(tigo_parse_receive(p, 1, &r));
    cr_assert_not(tigo_parse_receive(p, 4, &r));
}

/* One power report as the page gives it. */
struct power_want {
    uint16_t vin_cv, vout_cv;
    uint8_t  duty;
    uint16_t iin_ma;
    int16_t  temp_dc;
    uint8_t  unknown[3];
    uint16_t slot;
    uint8_t  rssi;
    size_t   extra_len;
    uint8_t  extra[2];
};

static void
is_power(const uint8_t *p, size_t n, const struct power_want *w,
         const char *what)
{
    struct tigo_power pw;

    cr_assert(tigo_parse_power(p, n, &pw), "%s", what);
    cr_expect_eq(pw.vin_cv, w->vin_cv, "%s: Vin %u", what, pw.vin_cv);
    cr_expect_eq(pw.vout_cv, w->vout_cv, "%s: Vout %u", what, pw.vout_cv);
    cr_expect_eq(pw.duty, w->duty, "%s: duty %u", what, pw.duty);
    cr_expect_eq(pw.iin_ma, w->iin_ma, "%s: Iin %u", what, pw.iin_ma);
    cr_expect_eq(pw.temp_dc, w->temp_dc, "%s: temp %d", what, pw.temp_dc);
    cr_expect_eq(memcmp(pw.unknown, w->unknown, 3), 0, "%s: unknown",
                 what);
    cr_expect_eq(pw.slot, w->slot, "%s: slot %04X", what, pw.slot);
    cr_expect_eq(pw.rssi, w->rssi, "%s: RSSI %u", what, pw.rssi);
    cr_expect_eq(pw.extra_len, w->extra_len, "%s: extra %zu", what,
                 pw.extra_len);
    cr_expect_eq(pw.extra, p + TIGO_REPORT_MIN, "%s", what);
    cr_expect_eq(memcmp(pw.extra, w->extra, w->extra_len), 0, "%s: extra",
                 what);
    /* The scaled values are the raw ones times the register units. */
    cr_expect_eq(pw.vin_cv, pw.vin_raw * 5, "%s", what);
    cr_expect_eq(pw.vout_cv, pw.vout_raw * 10, "%s", what);
    cr_expect_eq(pw.iin_ma, pw.iin_raw * 5, "%s", what);
    cr_expect_eq(pw.pin_dw, (uint32_t)pw.vin_raw * pw.iin_raw / 400, "%s",
                 what);
}

static void
is_pv(const struct tigo_pv *pv, uint8_t type, uint16_t node,
      uint16_t short_addr, uint8_t dsn, size_t len)
{
    cr_assert_eq(pv->type, type);
    cr_assert_eq(pv->node, node, "node %u", pv->node);
    cr_assert_eq(pv->short_addr, short_addr, "short %04X", pv->short_addr);
    cr_assert_eq(pv->dsn, dsn, "DSN %02X", pv->dsn);
    cr_assert_eq(pv->len, len, "len %zu", pv->len);
}

/* T10: CCA FW 4.0.1-ct, status 0x81FE, four 15-byte reports. */
Test(tigo_receive, t10_four_15_byte_reports)
{
    static const struct power_want want[4] = {
        {4525, 4500, 255, 6165, 230, {0x92, 0x00, 0x64}, 0xDF40, 178, 2,
         {0x02, 0x00}},
        {4510, 4480, 255, 6235, 230, {0x92, 0x00, 0x64}, 0xE0D0, 178, 2,
         {0x02, 0x00}},
        {4545, 4520, 255, 6240, 230, {0x92, 0x00, 0x64}, 0xE0D0, 172, 2,
         {0x02, 0x00}},
        {4555, 4530, 255, 6170, 230, {0x92, 0x00, 0x64}, 0xDF40, 172, 2,
         {0x02, 0x00}},
    };
    static const uint16_t node[4] = {12, 12, 7, 7};
    static const uint16_t short_addr[4] = {0x005A, 0x005A, 0x0018, 0x0018};
    static const uint8_t dsn[4] = {0x00, 0x00, 0x08, 0x08};
    const struct rec *rec = payload_of("T10");
    struct tigo_receive r;
    struct tigo_power pw;
    struct tigo_pv pv;
    size_t off = 0, k = 0;

    parse_receive_ok(rec->f.payload, rec->f.payload_len, &r);
    cr_assert_eq(r.status, 0x81FE);
    cr_assert(r.has_rx_used && !r.has_tx_free && !r.pkt_full);
    cr_assert_eq(r.rx_used, 4);
    cr_assert_eq(r.packet, 0xCA);
    cr_assert_eq(r.slot, 0xE0DB);
    while (tigo_next_pv(&r, &off, &pv)) {
        char what[16];

        cr_assert_lt(k, 4);
        is_pv(&pv, TIGO_PV_POWER, node[k], short_addr[k], dsn[k], 15);
        snprintf(what, sizeof(what), "T10 #%zu", k + 1);
        is_power(pv.data, pv.len, &want[k], what);
        k++;
    }
    cr_assert_eq(k, 4);
    cr_assert_eq(off, r.packets_len);
    /* Report 1: 905 x 1233 / 400 = 2789.66: 278.9 W, truncated. */
    cr_assert(tigo_parse_power(r.packets + 7, 15, &pw));
    cr_assert_eq(pw.vin_raw, 905);
    cr_assert_eq(pw.iin_raw, 1233);
    cr_assert_eq(pw.pin_dw, 2789);
}

/* T11: full status 0x01E0, two 14-byte reports whose DSN 24 was escaped
 * on the wire. */
Test(tigo_receive, t11_full_status_14_byte_reports)
{
    static const struct power_want want[2] = {
        {3480, 3460, 255, 390, 170, {0x10, 0x00, 0x64}, 0x1900, 131, 1,
         {0x00}},
        {3485, 3470, 255, 375, 170, {0x10, 0x00, 0x64}, 0x1A90, 131, 1,
         {0x00}},
    };
    const struct rec *rec = payload_of("T11");
    struct tigo_receive r;
    struct tigo_pv pv;
    size_t off = 0, k = 0;

    parse_receive_ok(rec->f.payload, rec->f.payload_len, &r);
    cr_assert_eq(r.status, 0x01E0);
    cr_assert(r.has_rx_used && r.has_tx_free && r.pkt_full);
    cr_assert_eq(r.rx_used, 2);
    cr_assert_eq(r.tx_free, 14);
    cr_assert_eq(r.packet, 0xFA1B);
    cr_assert_eq(r.slot, 0x1B20);
    while (tigo_next_pv(&r, &off, &pv)) {
        cr_assert_lt(k, 2);
        is_pv(&pv, TIGO_PV_POWER, 7, 0x000D, 0x24, 14);
        is_power(pv.data, pv.len, &want[k], k == 0 ? "T11 #1" : "T11 #2");
        k++;
    }
    cr_assert_eq(k, 2);
}

/* T12 (H-firmware, status bits 5-7 clear) and T13 (G-firmware). */
Test(tigo_receive, t12_t13_firmware_variants)
{
    static const struct power_want w12 = {
        3145, 220, 23, 630, 150, {0x93, 0x00, 0x64}, 0xD450, 116, 2,
        {0x00, 0x00}};
    static const struct power_want w13 = {
        3500, 3470, 255, 7130, 180, {0x92, 0x00, 0x64}, 0xCFA0, 116, 2,
        {0x00, 0x00}};
    const struct fixture *t12 = vec("T12"), *t13 = vec("T13");
    struct tigo_receive r;
    struct tigo_pv pv;
    size_t off = 0;

    parse_receive_ok(t12->a, t12->a_len, &r);
    cr_assert_eq(r.status, 0x011E);
    cr_assert(r.has_rx_used && !r.has_tx_free && !r.pkt_full);
    cr_assert_eq(r.rx_used, 2);
    cr_assert_eq(r.packet, 0x4A);
    cr_assert_eq(r.slot, 0xD457);
    cr_assert(tigo_next_pv(&r, &off, &pv));
    is_pv(&pv, TIGO_PV_POWER, 27, 0x000D, 0x90, 15);
    is_power(pv.data, pv.len, &w12, "T12");
    cr_assert_not(tigo_next_pv(&r, &off, &pv));

    off = 0;
    parse_receive_ok(t13->a, t13->a_len, &r);
    cr_assert_eq(r.status, 0x01FF);
    cr_assert(!r.has_rx_used && !r.has_tx_free && !r.pkt_full);
    cr_assert_eq(r.packet, 0xEA);
    cr_assert_eq(r.slot, 0xD242);
    cr_assert(tigo_next_pv(&r, &off, &pv));
    is_pv(&pv, TIGO_PV_POWER, 22, 0x0070, 0x66, 15);
    is_power(pv.data, pv.len, &w13, "T13");
    cr_assert_not(tigo_next_pv(&r, &off, &pv));
}

/* ---------------------------------------------------------------------- */
/* Power reports (T14-T16) */

Test(tigo_power, t14_13_bytes)
{
    static const struct power_want w = {
        3470, 3440, 255, 250, 344, {0x81, 0x00, 0x6E}, 0x8FA0, 126, 0, {0}};
    const struct fixture *v = vec("T14");
    struct tigo_power pw;

    is_power(v->a, v->a_len, &w, "T14");
    cr_assert(tigo_parse_power(v->a, v->a_len, &pw));
    /* 2B 61 58 -> 0x2B6, 0x158 (2.6); 0.25 A, not the doc's 0.025. */
    cr_assert_eq(pw.vin_raw, 0x2B6);
    cr_assert_eq(pw.vout_raw, 0x158);
    cr_assert_eq(pw.iin_raw, 50);
    cr_assert_eq(pw.temp_raw, 0x158);
    cr_assert_eq(pw.pin_dw, 86);      /* 34.7 V x 0.25 A = 8.675 W */
}

Test(tigo_power, t15_15_bytes)
{
    static const struct power_want w = {
        3955, 3930, 255, 50, 140, {0x10, 0x00, 0x68}, 0x20D0, 114, 2,
        {0x03, 0x00}};

    is_power(vec("T15")->a, vec("T15")->a_len, &w, "T15");
}

Test(tigo_power, t16_negative_temperature)
{
    static const struct power_want a = {
        3065, 3020, 255, 2775, 268, {0x00, 0x00, 0x00}, 0x44D2, 132, 0, {0}};
    struct power_want b = a;

    b.temp_dc = -1;
    is_power(vec("T16a")->a, vec("T16a")->a_len, &a, "T16a");
    is_power(vec("T16b")->a, vec("T16b")->a_len, &b, "T16b");
}

/* Any length from 13 on: the first 13 decoded, the rest kept. */
Test(tigo_power, any_length_from_13)
{
    uint8_t p[64];
    struct tigo_power pw, first;

    memcpy(p, vec("T14")->a, 13);
    for (size_t i = 13; i < sizeof(p); i++) {
        p[i] = (uint8_t)(0xC0 + i);
    }
    cr_assert(tigo_parse_power(p, 13, &first));
    for (size_t n = 0; n < 13; n++) {
        cr_assert_not(tigo_parse_power(p, n, &pw), "%zu bytes", n);
    }
    for (size_t n = 13; n <= sizeof(p); n++) {
        cr_assert(tigo_parse_power(p, n, &pw), "%zu bytes", n);
        cr_assert_eq(pw.extra_len, n - 13);
        cr_assert_eq(pw.extra, p + 13);
        cr_assert_eq(pw.vin_cv, first.vin_cv);
        cr_assert_eq(pw.rssi, first.rssi);
        cr_assert_eq(pw.slot, first.slot);
    }
}

/* The temperature is 12 bits, two's complement (2.6). */
Test(tigo_power, temperature_sign_extension)
{
    static const struct {
        uint16_t raw;
        int16_t  dc;
    } cases[] = {
        {0x000, 0},     {0x001, 1},     {0x158, 344},  {0x7FF, 2047},
        {0x800, -2048}, {0x801, -2047}, {0xF9C, -100}, {0xFFF, -1},
    };
    uint8_t p[13];

    memcpy(p, vec("T16a")->a, 13);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tigo_power pw;

        p[5] = (uint8_t)((p[5] & 0xF0) | cases[i].raw >> 8);
        p[6] = (uint8_t)cases[i].raw;
        cr_assert(tigo_parse_power(p, 13, &pw));
        cr_assert_eq(pw.temp_raw, cases[i].raw);
        cr_assert_eq(pw.temp_dc, cases[i].dc, "raw %03X: %d", cases[i].raw,
                     pw.temp_dc);
        /* The nibble it shares with Iin is not disturbed. */
        cr_assert_eq(pw.iin_raw, 555);
    }
}

/* Vin x Iin / 400 in 0.1 W, truncated; the largest fits in 16 bits. */
Test(tigo_power, input_power_scaling)
{
    static const struct {
        const char *hex;
        uint16_t    vin_cv, vout_cv, iin_ma;
        uint32_t    pin_dw;
    } cases[] = {
        /* 0 V, 0 A */
        {"00 00 00 00 00 00 00 00 00 00 00 00 00", 0, 0, 0, 0},
        /* raw 1 x 1: 0.05 V x 0.005 A = 0.25 mW: 0 */
        {"00 10 00 00 00 10 00 00 00 00 00 00 00", 5, 0, 5, 0},
        /* raw 20 x 20 = 400: 1 V x 0.1 A = 0.1 W */
        {"01 40 00 00 01 40 00 00 00 00 00 00 00", 100, 0, 100, 1},
        /* T16: 613 x 555 / 400 = 850.5: 85.0 W */
        {"26 51 2E FF 22 B1 0C 00 00 00 44 D2 84", 3065, 3020, 2775, 850},
        /* every raw field at 0xFFF */
        /* every raw field at 0xFFF: 4095 x 4095 / 400 = 41922.6 */
        {"FF FF FF FF FF FF FF 00 00 00 00 00 00", 20475, 40950, 20475,
         41922},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t p[13];
        struct tigo_power pw;

        cr_assert_eq(hex(cases[i].hex, p), 13);
        cr_assert(tigo_parse_power(p, 13, &pw));
        cr_assert_eq(pw.vin_cv, cases[i].vin_cv, "case %zu", i);
        cr_assert_eq(pw.vout_cv, cases[i].vout_cv, "case %zu", i);
        cr_assert_eq(pw.iin_ma, cases[i].iin_ma, "case %zu", i);
        cr_assert_eq(pw.pin_dw, cases[i].pin_dw, "case %zu: %u", i,
                     pw.pin_dw);
    }
}

/* ---------------------------------------------------------------------- */
/* Node table, topology, identity, version, commands (T17-T24) */

Test(tigo_node_table, t17_start_before_count)
{
    const struct fixture *v = vec("T17");
    struct tigo_node_entry e[16];
    uint16_t start, count;
    size_t stored;
    static const uint8_t a0[8] = {0x04, 0xC0, 0x5B, 0x40,
                                  0x00, 0xA2, 0x34, 0x6F};
    static const uint8_t a1[8] = {0x04, 0xC0, 0x5B, 0x40,
                                  0x00, 0xA2, 0x34, 0x71};
    char bc[TIGO_BARCODE_MAX];

    cr_assert(tigo_parse_node_table(v->a, v->a_len, &start, &count, e, 16,
                                    &stored));
    cr_assert_eq(start, 2);
    cr_assert_eq(count, 12);
    cr_assert_eq(stored, 2);    /* the page is cut after two entries */
    cr_assert_eq(memcmp(e[0].long_addr, a0, 8), 0);
    cr_assert_eq(e[0].node, 2);
    cr_assert_eq(memcmp(e[1].long_addr, a1, 8), 0);
    cr_assert_eq(e[1].node, 3);
    cr_assert_eq(tigo_barcode(e[0].long_addr, bc), 9);
    cr_assert_str_eq(bc, "4-A2346FZ");
    cr_assert_eq(tigo_barcode(e[1].long_addr, bc), 9);
    cr_assert_str_eq(bc, "4-A23471V");
    /* Room for one only. */
    cr_assert(tigo_parse_node_table(v->a, v->a_len, &start, &count, e, 1,
                                    &stored));
    cr_assert_eq(stored, 1);
    cr_assert_eq(e[0].node, 2);
}

Test(tigo_node_table, counts_and_short_pages)
{
    uint8_t p[64];
    struct tigo_node_entry e[4];
    uint16_t start, count;
    size_t stored, n;

    /* The last page of a walk: count 0. */
    n = hex("00 20 00 00", p);
    cr_assert(tigo_parse_node_table(p, n, &start, &count, e, 4, &stored));
    cr_assert_eq(start, 0x20);
    cr_assert_eq(count, 0);
    cr_assert_eq(stored, 0);
    /* Count 1 but two entries in the data: only one is stored. */
    n = hex("00 05 00 01 04 C0 5B 40 00 00 00 01 00 09 "
            "04 C0 5B 40 00 00 00 02 00 0A",
            p);
    cr_assert(tigo_parse_node_table(p, n, &start, &count, e, 4, &stored));
    cr_assert_eq(stored, 1);
    cr_assert_eq(e[0].node, 9);
    /* An entry cut short is not read. */
    cr_assert(
        tigo_parse_node_table(p, 4 + 9, &start, &count, e, 4, &stored));
    cr_assert_eq(count, 1);
    cr_assert_eq(stored, 0);
    /* Shorter than its header. */
    cr_assert_not(tigo_parse_node_table(p, 3, &start, &count, e, 4,
                                        &stored));
    cr_assert_eq(stored, 0);
}

Test(tigo_topology, t18)
{
    const struct fixture *v = vec("T18");
    struct tigo_topology t;
    static const uint8_t addr[8] = {0x04, 0xC0, 0x5B, 0x40,
                                    0x00, 0x9A, 0x57, 0xBB};
    char bc[TIGO_BARCODE_MAX];

    cr_assert_eq(v->a_len, 23);
    cr_assert(tigo_parse_topology(v->a, v->a_len, &t));
    cr_assert_eq(t.short_addr, 0x0002);
    cr_assert_eq(t.node, 0x0058);
    cr_assert_eq(t.next_hop, 0x0001);
    cr_assert_eq(memcmp(t.long_addr, addr, 8), 0);
    cr_assert_eq(t.rssi, 159);
    cr_assert_eq(tigo_barcode(t.long_addr, bc), 9);
    cr_assert_str_eq(bc, "4-9A57BBS");
    cr_assert_not(tigo_parse_topology(v->a, 22, &t));
}

Test(tigo_barcode, t19)
{
    char bc[TIGO_BARCODE_MAX];

    cr_assert_eq(tigo_barcode(vec("T19a")->a, bc), 9);
    cr_assert_str_eq(bc, "4-9A57A2L");
    cr_assert_eq(tigo_barcode(vec("T19b")->a, bc), 9);
    cr_assert_str_eq(bc, "4-79AC16V");
    cr_assert_eq(tigo_barcode(vec("T19c")->a, bc), 9);
    cr_assert_str_eq(bc, "4-79AB99W");
}

Test(tigo_barcode, zeros_widths_and_prefix)
{
    static const uint8_t full[8] = {0x04, 0xC0, 0x5B, 0xFF,
                                    0xFF, 0xFF, 0xFF, 0xFF};
    static const uint8_t zeros[8] = {0x04, 0xC0, 0x5B, 0x30, 0, 0, 0, 0};
    static const uint8_t one[8] = {0x04, 0xC0, 0x5B, 0x40, 0, 0, 0, 1};
    static const uint8_t inner[8] = {0x04, 0xC0, 0x5B, 0x40,
                                     0x00, 0x10, 0x00, 0x10};
    static const uint8_t other[8] = {0x00, 0x11, 0x22, 0x33,
                                     0x44, 0x55, 0x66, 0x77};
    char bc[TIGO_BARCODE_MAX];

    cr_assert_eq(tigo_barcode(full, bc), 12);
    cr_assert_eq(strncmp(bc, "F-FFFFFFFFF", 11), 0, "%s", bc);
    cr_assert_eq(tigo_barcode(zeros, bc), 3, "%s", bc);
    cr_assert_eq(strncmp(bc, "3-", 2), 0, "%s", bc);
    cr_assert_eq(tigo_barcode(one, bc), 4, "%s", bc);
    cr_assert_eq(strncmp(bc, "4-1", 3), 0, "%s", bc);
    /* Zeros inside the number stay. */
    cr_assert_eq(tigo_barcode(inner, bc), 9, "%s", bc);
    cr_assert_eq(strncmp(bc, "4-100010", 8), 0, "%s", bc);
    cr_assert_neq(strchr("GHJKLMNPRSTVWXYZ", bc[8]), NULL);
    cr_assert_eq(bc[9], '\0');
    cr_assert_eq(tigo_barcode(other, bc), 0);
    cr_assert_str_eq(bc, "");
}

Test(tigo_identity, t20)
{
    const struct rec *rec = payload_of("T20");
    uint8_t addr[TIGO_LONG_LEN];
    static const uint8_t want[8] = {0x04, 0xC0, 0x5B, 0x30,
                                    0x00, 0x02, 0xBE, 0x16};
    uint16_t gw = 0;

    cr_assert_eq(rec->f.type, TIGO_IDENTIFY_RESPONSE);
    cr_assert(tigo_parse_identity(rec->f.payload, rec->f.payload_len, addr,
                                  &gw));
    cr_assert_eq(memcmp(addr, want, 8), 0);
    cr_assert_eq(gw, 0x1201);
    cr_assert_eq(gw, rec->f.gateway);
    cr_assert_not(tigo_parse_identity(rec->f.payload, 9, addr, &gw));
}

Test(tigo_identity, t21_version_string)
{
    static const char want[] =
        "Mgate Version G8.59\rJul  6 2020\r16:51:51\rGW-H158.4.3S0.12\r";
    const struct rec *rec = payload_of("T21");

    cr_assert_eq(rec->f.type, TIGO_VERSION_RESPONSE);
    cr_assert_eq(rec->f.payload_len, strlen(want));
    cr_assert_eq(memcmp(rec->f.payload, want, strlen(want)), 0);
}

Test(tigo_command, t23_request_and_response)
{
    const struct fixture *v = vec("T23");
    struct tigo_command c;
    uint8_t want[16];
    size_t n = hex("00 09 5E 30 30 49 6E 66 6F 0D", want);

    stream.len = 0;
    append(&stream, v->a, v->a_len);
    append(&stream, v->b, v->b_len);
    feed_whole(&rx_a, &stream, &log_a);
    cr_assert_eq(log_a.n, 2);
    cr_assert_eq(log_a.r[0].f.type, TIGO_COMMAND_REQUEST);
    cr_assert(tigo_parse_command(log_a.r[0].f.payload,
                                 log_a.r[0].f.payload_len, &c));
    cr_assert_eq(c.pv_type, 0x06);
    cr_assert_eq(c.seq, 0x66);
    cr_assert_eq(c.len, n);
    cr_assert_eq(memcmp(c.data, want, n), 0);
    cr_assert_eq(log_a.r[1].f.type, TIGO_COMMAND_RESPONSE);
    cr_assert(tigo_parse_command(log_a.r[1].f.payload,
                                 log_a.r[1].f.payload_len, &c));
    cr_assert_eq(c.tx_free, 13);
    cr_assert_eq(c.pv_type, 0x07);
    cr_assert_eq(c.seq, 0x66);
    cr_assert_eq(c.len, 0);
    cr_assert_not(tigo_parse_command(log_a.r[1].f.payload, 4, &c));
}

/* A node table page inside a command response, as the CCA's walk has it
 * (2.8): 0B10, PV type 0x27, T17's page as data. */
Test(tigo_command, node_table_page_in_a_response)
{
    uint8_t body[64];
    size_t n = hex("92 01 0B 10 00 0D 00 27 42", body);
    struct tigo_command c;
    struct tigo_node_entry e[4];
    uint16_t start, count;
    size_t stored;

    memcpy(body + n, vec("T17")->a, vec("T17")->a_len);
    n += vec("T17")->a_len;
    stream.len = 0;
    append_frame(&stream, body, n);
    feed_every_way(&stream, STREAM_MAX);
    cr_assert_eq(log_a.n, 1);
    cr_assert(tigo_parse_command(log_a.r[0].f.payload,
                                 log_a.r[0].f.payload_len, &c));
    cr_assert_eq(c.pv_type, TIGO_PV_NODE_TABLE);
    cr_assert_eq(c.seq, 0x42);
    cr_assert(tigo_parse_node_table(c.data, c.len, &start, &count, e, 4,
                                    &stored));
    cr_assert_eq(start, 2);
    cr_assert_eq(count, 12);
    cr_assert_eq(stored, 2);
    cr_assert_eq(e[1].node, 3);
}

/* ---------------------------------------------------------------------- */
/* The deframer's counters (1.2, 4.3) */

/* Bytes between frames other than 00/FF count one noise each. */
Test(tigo_link, noise_between_frames)
{
    stream.len = 0;
    append_hex(&stream, "EE EE EE 00 FF");
    append(&stream, vec("T6")->a, vec("T6")->a_len);
    append_hex(&stream, "01");
    append(&stream, vec("T5")->a, vec("T5")->a_len);
    append_hex(&stream, "23 45 67 89 AB CD EF 00 FF 00");
    append(&stream, vec("T7")->a, vec("T7")->a_len);
    feed_every_way(&stream, STREAM_MAX);
    expect_stats(&rx_a, 3, 0, 0, 0, 3 + 1 + 7);
    is_frame(&log_a, 0, 0x1201, 0x0148, "00 01 18 83 04");
    is_frame(&log_a, 2, 0x1201, 0x0148, "00 01 18 84 04");
}

/* A 7E not followed by 07 is noise; the byte after it is read again. */
Test(tigo_link, lone_escapes_outside)
{
    stream.len = 0;
    append_hex(&stream, "7E 08 7E FF 7E 00 7E 7E 07 12 01 01 48 00 01 18 "
                        "83 04 17 44 7E 08 7E");
    feed_every_way(&stream, STREAM_MAX);
    /* 7E 08: 2; 7E FF: 1; 7E 00: 1; 7E (7E 07 ...): 1. The last 7E is
     * held: it may start a frame. */
    expect_stats(&rx_a, 1, 0, 0, 0, 5);
    cr_assert(rx_a.escape && !rx_a.in_frame);
    is_frame(&log_a, 0, 0x1201, 0x0148, "00 01 18 83 04");
}

/* The runts of the reference's receiver tests, then the shortest frame. */
Test(tigo_link, runts)
{
    stream.len = 0;
    append_hex(&stream,
               "FF 7E 07 7E 08 FF 7E 07 00 7E 08 FF 7E 07 00 00 7E 08 "
               "FF 7E 07 00 00 00 7E 08 FF 7E 07 00 00 00 00 00 7E 08 "
               "FF 7E 07 00 01 00 00 89 D0 7E 08");
    feed_every_way(&stream, STREAM_MAX);
    expect_stats(&rx_a, 1, 0, 5, 0, 0);
    is_frame(&log_a, 0, 0x0001, 0x0000, "");
    cr_assert_eq(tigo_crc16((const uint8_t *)"\x00\x01\x00\x00", 4),
                 0xD089);
}

/* Bodies of 256 bytes pass; 257 is a giant, dropped to its 7E 08 and
 * counted once; the frame after it is intact. */
Test(tigo_link, giant)
{
    uint8_t body[TIGO_BODY_MAX + 1];

    for (size_t i = 0; i < sizeof(body); i++) {
        body[i] = (uint8_t)(i * 7);
    }
    body[0] = 0x92;
    body[1] = 0x01;
    stream.len = 0;
    append_frame(&stream, body, TIGO_BODY_MAX - 2);     /* 256 with CRC */
    append_frame(&stream, body, TIGO_BODY_MAX - 1);     /* 257 */
    append(&stream, vec("T5")->a, vec("T5")->a_len);
    /* The reference's giant: 1000 zeros; an escape inside is dropped. */
    append_hex(&stream, "00 FF FF 7E 07 12 01");
    for (int i = 0; i < 1000; i++) {
        append_hex(&stream, i == 500 ? "7E 09" : "00");
    }
    append_hex(&stream, "7E 08");
    append(&stream, vec("T6")->a, vec("T6")->a_len);
    feed_every_way(&stream, 0);
    expect_stats(&rx_a, 3, 0, 0, 2, 0);
    cr_assert_eq(log_a.r[0].f.payload_len, TIGO_BODY_MAX - TIGO_BODY_MIN);
    cr_assert_eq(memcmp(log_a.r[0].payload, body + 4,
                        TIGO_BODY_MAX - TIGO_BODY_MIN),
                 0);
    is_frame(&log_a, 1, 0x9201, 0x0149, "00 FF 7C DB C2");
    is_frame(&log_a, 2, 0x1201, 0x0148, "00 01 18 83 04");
}

/* The giant is counted at its 257th byte, and nothing is held. */
Test(tigo_link, giant_counted_at_the_first_byte_over)
{
    uint8_t zeros[TIGO_BODY_MAX + 1] = {0};

    tigo_rx_init(&rx_a);
    tigo_rx_feed(&rx_a, (const uint8_t *)"\x7E\x07", 2, NULL, NULL);
    tigo_rx_feed(&rx_a, zeros, TIGO_BODY_MAX, NULL, NULL);
    cr_assert_eq(rx_a.st.giants, 0);
    cr_assert_eq(rx_a.len, TIGO_BODY_MAX);
    tigo_rx_feed(&rx_a, zeros, 1, NULL, NULL);
    cr_assert_eq(rx_a.st.giants, 1);
    cr_assert_eq(rx_a.len, 0);
    cr_assert(rx_a.giant && rx_a.in_frame);
    /* 7E 07 ends the giant too, and opens a body: no more counts. */
    tigo_rx_feed(&rx_a, (const uint8_t *)"\x7E\x07", 2, NULL, NULL);
    cr_assert(!rx_a.giant && rx_a.in_frame);
    expect_stats(&rx_a, 0, 0, 0, 1, 0);
}

/* Bad CRCs, one in the CRC and one in the payload, between good frames. */
Test(tigo_link, bad_crcs)
{
    uint8_t bad[32];
    size_t n;

    stream.len = 0;
    append(&stream, vec("T6")->a, vec("T6")->a_len);
    n = hex("FF 7E 07 92 01 01 49 00 FE 01 83 5A DE 07 00 0A 01 14 63 3A "
            "79 25 7E 08",
            bad); /* T8, CRC 0x2579 */
    append(&stream, bad, n);
    append(&stream, vec("T7")->a, vec("T7")->a_len);
    n = hex("00 FF FF 7E 07 12 01 01 48 00 01 18 84 04 1E 09 7E 08",
            bad); /* T7, CRC 0x091E */
    append(&stream, bad, n);
    append(&stream, vec("T5")->a, vec("T5")->a_len);
    /* T5 with a flipped payload bit. */
    n = hex("FF 7E 07 92 01 01 49 00 FF 7D DB C2 7E 05 85 7E 08", bad);
    append(&stream, bad, n);
    feed_every_way(&stream, STREAM_MAX);
    expect_stats(&rx_a, 3, 3, 0, 0, 0);
    is_frame(&log_a, 0, 0x1201, 0x0148, "00 01 18 83 04");
    is_frame(&log_a, 1, 0x1201, 0x0148, "00 01 18 84 04");
    is_frame(&log_a, 2, 0x9201, 0x0149, "00 FF 7C DB C2");
}

/* An escape code over 08 inside a frame loses it (one noise); the next
 * frame is read. 7E 7E 07: the second 7E opens the next frame. */
Test(tigo_link, unknown_escape)
{
    stream.len = 0;
    append_hex(&stream, "00 FF FF 7E 07 12 01 01 48 00 7E 09 18 83 04 17 "
                        "44 7E 08");
    append(&stream, vec("T7")->a, vec("T7")->a_len);
    append_hex(&stream, "FF 7E 07 92 01 01 7E 7E 07 92 01 01 49 00 FF 7C "
                        "DB C2 7E 05 85 7E 08");
    feed_every_way(&stream, STREAM_MAX);
    /* First: 7E 09 aborts (1), 09 is then outside (1), so are 18 83 04
     * 17 44 (5) and 7E 08 (2). Second: 7E 7E aborts (1), the second 7E
     * then opens T5. */
    expect_stats(&rx_a, 2, 0, 0, 0, 1 + 1 + 5 + 2 + 1);
    is_frame(&log_a, 0, 0x1201, 0x0148, "00 01 18 84 04");
    is_frame(&log_a, 1, 0x9201, 0x0149, "00 FF 7C DB C2");
}

/* The listener starts in the middle of T8, then T5 follows: the tail is
 * noise, T5 is read. Then a start inside T5's escaped CRC. */
Test(tigo_link, start_mid_frame)
{
    const struct fixture *t8 = vec("T8"), *t5 = vec("T5");

    stream.len = 0;
    /* From T8's byte 10: 83 5A DE 07 00 0A 01 14 63 3A 79 26 7E 08: 11
     * bytes of noise (00 is idle), 7E 08 two more. */
    append(&stream, t8->a + 10, t8->a_len - 10);
    append(&stream, t5->a, t5->a_len);
    feed_every_way(&stream, STREAM_MAX);
    expect_stats(&rx_a, 1, 0, 0, 0, 13);
    is_frame(&log_a, 0, 0x9201, 0x0149, "00 FF 7C DB C2");

    /* From T5's 7E 05: 7E 05 (2), 85 (1), 7E 08 (2). */
    stream.len = 0;
    append(&stream, t5->a + 12, t5->a_len - 12);
    append(&stream, t5->a, t5->a_len);
    feed_every_way(&stream, STREAM_MAX);
    expect_stats(&rx_a, 1, 0, 0, 0, 5);

    /* From the 05 after T5's 7E: 05 (1), 85 (1), 7E 08 (2). */
    stream.len = 0;
    append(&stream, t5->a + 13, t5->a_len - 13);
    append(&stream, t5->a, t5->a_len);
    feed_every_way(&stream, STREAM_MAX);
    expect_stats(&rx_a, 1, 0, 0, 0, 4);
}

/* A frame whose 7E 08 was lost to a collision: the next 7E 07 starts
 * again (one noise for the lost body), the next frame is read, even
 * with the preamble of the next one inside the lost body. */
Test(tigo_link, start_inside_a_body)
{
    const struct fixture *t6 = vec("T6"), *t7 = vec("T7");

    stream.len = 0;
    append(&stream, t6->a, 10);  /* 00 FF FF 7E 07 12 01 01 48 00 */
    append(&stream, t7->a, t7->a_len);
    append(&stream, vec("T10")->a, 40);
    append(&stream, vec("T11")->a, vec("T11")->a_len);
    feed_every_way(&stream, STREAM_MAX);
    expect_stats(&rx_a, 2, 0, 0, 0, 2);
    is_frame(&log_a, 0, 0x1201, 0x0148, "00 01 18 84 04");
    cr_assert_eq(log_a.r[1].f.type, TIGO_RECEIVE_RESPONSE);
    cr_assert_eq(log_a.r[1].f.payload_len, 54);
}

/* A body cut in a burst of noise ends up in exactly one counter: a mixed
 * stream, counted the same however it is cut. */
Test(tigo_link, mixed_stream_every_way)
{
    stream.len = 0;
    for (int round = 0; round < 2; round++) {
        append_hex(&stream, "13 37 FF");
        append(&stream, vec("T10")->a, vec("T10")->a_len);
        append_hex(&stream, "FF 7E 07 00 7E 08");               /* runt */
        append(&stream, vec("T11")->a, 30);                     /* cut */
        append_hex(&stream, "7E 0A");                /* abort + noise */
        append(&stream, vec("T21")->a, vec("T21")->a_len);
        append_hex(&stream, "FF 7E 07 92 01 00 0B 41 42 7E 08"); /* CRC */
        append(&stream, vec("T22")->a, vec("T22")->a_len);
    }
    feed_every_way(&stream, 0);
    /* Per round: 13 37, the abort, 0A. */
    expect_stats(&rx_a, 6, 2, 2, 0, 2 * (2 + 1 + 1));
    cr_assert_eq(log_a.r[0].f.payload_len, 94);
    cr_assert_eq(log_a.r[1].f.type, TIGO_VERSION_RESPONSE);
    is_frame(&log_a, 2, 0x0000, 0x0014, "37 24 92 66 12 35");
}

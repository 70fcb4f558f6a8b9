/* SPDX-License-Identifier: MIT */
/*
 * test_rtu_frame.c -- the Modbus RTU codec of backends/rtu_frame.c.
 *
 * The RTU frames of docs/devices.md come from
 * tests/fixtures/rtu_vectors.hex: every CRC must check, every response must
 * pass rtu_frame_check() against its request, and the EV charger's request
 * damaged by OCR must fail its CRC. Then, table by table: the CRC of
 * well-known frames, encode round trips, the length rule of every function
 * code and of exceptions, RTU_NEED_MORE at every prefix of a valid
 * response, each rejection (unit, function, byte count, echo, CRC, every
 * byte flipped), function codes without a length rule, and
 * rtu_frame_find() on streams with garbage, echoes, another unit's answer,
 * split and truncated responses; answers that repeat the request or begin
 * like it, on lines with and without echo; and the collector (rtu_rx):
 * every byte it is given is the response or counted as dropped, copies of
 * the answer and late answers are counted.
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "crc16.h"
#include "pdu.h"
#include "fixture.h"
#include "rtu_frame.h"
#include "rtu_rx.h"

#define BUF_MAX 1024        /* room for a stream of several frames */

/* Bytes in a table: a PDU or a frame, and its length. */
struct bytes {
    uint8_t b[BUF_MAX];
    size_t  len;
};

/* A struct bytes from a list of byte values. */
#define B(...) {{__VA_ARGS__}, sizeof((uint8_t[]){__VA_ARGS__})}

/* Every verdict, for loops over them. */
static const enum rtu_verdict all_verdicts[] = {
    RTU_OK, RTU_NEED_MORE, RTU_UNKNOWN_LEN, RTU_BAD_CRC,
    RTU_BAD_UNIT, RTU_BAD_FUNCTION, RTU_BAD_LENGTH,
};

/* ---------------------------------------------------------------------- */
/* Helpers */

/* The frame of <pdu> for <unit>. */
static struct bytes
frame(uint8_t unit, const struct bytes *pdu)
{
    struct bytes f = {{0}, 0};

    f.len = rtu_frame_encode(f.b, unit, pdu->b, pdu->len);
    return f;
}

/* Append the <n> bytes at <p> to <s>. */
static void
append(struct bytes *s, const uint8_t *p, size_t n)
{
    cr_assert_leq(s->len + n, sizeof(s->b), "test stream too long");
    memcpy(s->b + s->len, p, n);
    s->len += n;
}

/* A read request (FC 1..4, 23 with a one-register write) of <qty>. */
static struct bytes
read_req(uint8_t fc, unsigned addr, unsigned qty)
{
    struct bytes p = {{fc, (uint8_t)(addr >> 8), (uint8_t)addr,
                       (uint8_t)(qty >> 8), (uint8_t)qty}, 5};

    if (fc == MB_FC_READ_WRITE) {
        static const uint8_t w[] = {0x00, 0x10, 0x00, 0x01, 0x02, 0x12, 0x34};

        memcpy(p.b + 5, w, sizeof(w));
        p.len += sizeof(w);
    }
    return p;
}

/* The normal response PDU to read request <req>: the right byte count and
 * data bytes counting up. */
static struct bytes
read_rsp(const struct bytes *req)
{
    unsigned qty = pdu_get16(req->b + 3);
    unsigned n = pdu_is_read(req->b[0]) && req->b[0] <= MB_FC_READ_DISCRETE
                     ? (qty + 7) / 8
                     : qty * 2;
    struct bytes p = {{req->b[0], (uint8_t)n}, 2 + n};

    for (unsigned i = 0; i < n; i++) {
        p.b[2 + i] = (uint8_t)(i * 7 + 1);
    }
    return p;
}

/* True if the last two of the <len> bytes at <f> are their CRC: the frame
 * CRC has the property that the CRC of a whole valid frame is 0. */
static bool
crc_closes(const uint8_t *f, size_t len)
{
    return len >= 3 && crc16_modbus(f, len) == 0;
}

static enum rtu_verdict
check(uint8_t unit, const struct bytes *req, const uint8_t *rx, size_t len,
      size_t *flen)
{
    return rtu_frame_check(unit, req->b, req->len, rx, len, flen);
}

/* ---------------------------------------------------------------------- */
/* The frames of docs/devices.md, from tests/fixtures/rtu_vectors.hex */

/* The request frame of an "rsp" line: head <h> (fc, address, quantity)
 * completed with zero data for FC 15/16, for unit <unit>. */
static struct bytes
complete_request(uint8_t unit, const uint8_t *h, size_t h_len)
{
    struct bytes pdu = {{0}, h_len};

    cr_assert_eq(h_len, 5, "rsp head must be fc, address, quantity");
    memcpy(pdu.b, h, h_len);
    if (h[0] == MB_FC_WRITE_COILS || h[0] == MB_FC_WRITE_REGISTERS) {
        unsigned qty = pdu_get16(h + 3);
        unsigned bc = h[0] == MB_FC_WRITE_COILS ? (qty + 7) / 8 : qty * 2;

        pdu.b[5] = (uint8_t)bc;
        pdu.len = 6 + bc;
    }
    return frame(unit, &pdu);
}

/* <rsp> must answer request frame <req>: CRC, length rule, check, find. */
static void
check_pair(int line, const uint8_t *req, size_t req_len, const uint8_t *rsp,
           size_t rsp_len)
{
    const uint8_t *pdu = req + 1;
    size_t pdu_len = req_len - 3, flen = 0, off = 99;
    struct bytes s = {{0}, 0};
    bool self;

    cr_assert(crc_closes(req, req_len), "line %d: request CRC", line);
    cr_assert(crc_closes(rsp, rsp_len), "line %d: response CRC", line);
    cr_assert_eq(pdu_check_request(pdu, pdu_len), MB_EX_NONE,
                 "line %d: request refused", line);
    cr_assert_eq(rtu_frame_expected(pdu, pdu_len, rsp, rsp_len),
                 (int)rsp_len, "line %d: expected length", line);
    cr_assert_eq(rtu_frame_check(req[0], pdu, pdu_len, rsp, rsp_len, &flen),
                 RTU_OK, "line %d: check", line);
    cr_assert_eq(flen, rsp_len, "line %d: frame length", line);

    /* Behind the echo of its request, on a line that echoes: the echo is
     * skipped. When the normal answer is the echo itself (FC 6), the
     * answer after it is kept for the silence after it to confirm. */
    self = rsp_len == req_len && memcmp(rsp, req, req_len) == 0;
    append(&s, req, req_len);
    append(&s, rsp, rsp_len);
    cr_assert_eq(rtu_frame_find(req[0], pdu, pdu_len, true, s.b, s.len, &off,
                                &flen), self ? 0 : 1, "line %d: find", line);
    cr_assert_eq(off, req_len, "line %d: off %zu", line, off);
    cr_assert_eq(flen, self ? 0 : rsp_len, "line %d: find length", line);
    /* Alone, without echo, it is found where it is. */
    cr_assert_eq(rtu_frame_find(req[0], pdu, pdu_len, false, rsp, rsp_len,
                                &off, &flen), 1, "line %d: find alone", line);
    cr_assert_eq(off, 0, "line %d", line);
    cr_assert_eq(flen, rsp_len, "line %d", line);
}

Test(rtu_fixtures, devices_md)
{
    static struct fixture fx[FIXTURE_MAX];
    size_t n = fixture_load("rtu_vectors.hex", fx, FIXTURE_MAX);
    size_t n_pair = 0, n_bad = 0;

    cr_assert_geq(n, 13, "only %zu fixtures", n);
    for (size_t i = 0; i < n; i++) {
        struct fixture *f = &fx[i];

        if (strcmp(f->kind, "frame") == 0) {
            cr_assert(crc_closes(f->a, f->a_len), "line %d: CRC", f->line);
            cr_assert_eq(pdu_check_request(f->a + 1, f->a_len - 3),
                         MB_EX_NONE, "line %d: request refused", f->line);
        } else if (strcmp(f->kind, "bad-crc") == 0) {
            cr_assert_not(crc_closes(f->a, f->a_len), "line %d", f->line);
            n_bad++;
        } else if (strcmp(f->kind, "pair") == 0) {
            check_pair(f->line, f->a, f->a_len, f->b, f->b_len);
            n_pair++;
        } else if (strcmp(f->kind, "rsp") == 0) {
            struct bytes req = complete_request(f->b[0], f->a, f->a_len);

            check_pair(f->line, req.b, req.len, f->b, f->b_len);
            n_pair++;
        } else {
            cr_assert_fail("line %d: kind %s", f->line, f->kind);
        }
    }
    cr_assert_eq(n_pair, 10);
    cr_assert_eq(n_bad, 1);
}

/* The damaged request, fed as a response to the request it should have
 * been: never accepted. */
Test(rtu_fixtures, ocr_damaged_request_rejected)
{
    static const struct bytes bad = B(0x01, 0x10, 0x30, 0x02, 0x00, 0x05,
                                      0x0A, 0x00, 0x00, 0x00, 0x00, 0x1E,
                                      0x00, 0x00, 0x00, 0x01, 0x78, 0x2C);
    static const struct bytes req = B(0x10, 0x30, 0x02, 0x00, 0x05);
    size_t flen = 0, off = 0;

    cr_assert_neq(crc16_modbus(bad.b, bad.len - 2),
                  (uint16_t)(bad.b[bad.len - 2] | bad.b[bad.len - 1] << 8));
    /* Its first 8 bytes are a response's length: the CRC there is wrong. */
    cr_assert_eq(check(0x01, &req, bad.b, bad.len, &flen), RTU_BAD_CRC);
    cr_assert_eq(rtu_frame_find(0x01, req.b, req.len, false, bad.b, bad.len,
                                &off, &flen), 0);
}

/* ---------------------------------------------------------------------- */
/* crc16_modbus (proxy/crc16.c), as the RTU frames use it */

Test(crc16_modbus, known_values)
{
    static const struct {
        const char  *name;
        struct bytes data;
        uint16_t     crc;
    } c[] = {
        /* The CRC-16/MODBUS catalogue check value. */
        {"\"123456789\"", B('1', '2', '3', '4', '5', '6', '7', '8', '9'),
         0x4B37},
        {"one zero byte", B(0x00), 0x40BF},
        {"one 0xFF byte", B(0xFF), 0x00FF},
        /* Modbus over serial line spec, read holding registers example. */
        {"11 03 00 6B 00 03", B(0x11, 0x03, 0x00, 0x6B, 0x00, 0x03), 0x8776},
        {"01 03 00 00 00 0A", B(0x01, 0x03, 0x00, 0x00, 0x00, 0x0A), 0xCDC5},
        {"01 03 00 00 00 01", B(0x01, 0x03, 0x00, 0x00, 0x00, 0x01), 0x0A84},
        {"01 04 00 00 00 01", B(0x01, 0x04, 0x00, 0x00, 0x00, 0x01), 0xCA31},
        {"01 06 00 01 00 03", B(0x01, 0x06, 0x00, 0x01, 0x00, 0x03), 0x0B98},
        {"11 01 00 13 00 25", B(0x11, 0x01, 0x00, 0x13, 0x00, 0x25), 0x840E},
        {"devices.md 01 03 10 01 00 01",
         B(0x01, 0x03, 0x10, 0x01, 0x00, 0x01), 0x0AD1},
        {"devices.md 01 83 02", B(0x01, 0x83, 0x02), 0xF1C0},
    };

    cr_assert_eq(crc16_modbus(NULL, 0), 0xFFFF, "init value");
    for (size_t i = 0; i < ARRAY_SIZE(c); i++) {
        uint16_t got = crc16_modbus(c[i].data.b, c[i].data.len);

        cr_assert_eq(got, c[i].crc, "%s: got 0x%04X, expected 0x%04X",
                     c[i].name, got, c[i].crc);
    }
}

/* ---------------------------------------------------------------------- */
/* rtu_frame_encode */

Test(rtu_frame_encode, round_trip)
{
    static const struct {
        uint8_t      unit;
        struct bytes pdu, frame;
    } c[] = {
        {0x01, B(0x03, 0x10, 0x01, 0x00, 0x01),
         B(0x01, 0x03, 0x10, 0x01, 0x00, 0x01, 0xD1, 0x0A)},
        {0x11, B(0x03, 0x00, 0x6B, 0x00, 0x03),
         B(0x11, 0x03, 0x00, 0x6B, 0x00, 0x03, 0x76, 0x87)},
        {0x01, B(0x86, 0x04), B(0x01, 0x86, 0x04, 0x43, 0xA3)},
        {0x01, B(0x10, 0x30, 0x00, 0x00, 0x04, 0x08, 0x07, 0xE1, 0x01, 0x01,
                 0x00, 0x00, 0x00, 0x00),
         B(0x01, 0x10, 0x30, 0x00, 0x00, 0x04, 0x08, 0x07, 0xE1, 0x01, 0x01,
           0x00, 0x00, 0x00, 0x00, 0x7B, 0x73)},
        {0x01, B(0x10, 0x30, 0x1F, 0x00, 0x79),
         B(0x01, 0x10, 0x30, 0x1F, 0x00, 0x79, 0x3F, 0x2D)},
    };

    for (size_t i = 0; i < ARRAY_SIZE(c); i++) {
        uint8_t out[RTU_FRAME_MAX + 1];
        size_t n;

        memset(out, 0xEE, sizeof(out));
        n = rtu_frame_encode(out, c[i].unit, c[i].pdu.b, c[i].pdu.len);
        cr_assert_eq(n, c[i].pdu.len + 3, "case %zu: length", i);
        cr_assert_arr_eq(out, c[i].frame.b, n, "case %zu: bytes", i);
        cr_assert_eq(out[n], 0xEE, "case %zu: wrote past the frame", i);
        cr_assert(crc_closes(out, n), "case %zu", i);
    }
}

/* The largest PDU, and the PDU already in place in the output buffer. */
Test(rtu_frame_encode, max_and_in_place)
{
    uint8_t pdu[253], out[RTU_FRAME_MAX], inplace[RTU_FRAME_MAX];

    for (size_t i = 0; i < sizeof(pdu); i++) {
        pdu[i] = (uint8_t)(i * 13);
    }
    cr_assert_eq(rtu_frame_encode(out, 0xF7, pdu, sizeof(pdu)),
                 RTU_FRAME_MAX);
    cr_assert_eq(out[0], 0xF7);
    cr_assert_arr_eq(out + 1, pdu, sizeof(pdu));
    cr_assert(crc_closes(out, RTU_FRAME_MAX));

    memcpy(inplace, pdu, sizeof(pdu));
    cr_assert_eq(rtu_frame_encode(inplace, 0xF7, inplace, sizeof(pdu)),
                 RTU_FRAME_MAX);
    cr_assert_arr_eq(inplace, out, RTU_FRAME_MAX);
}

/* ---------------------------------------------------------------------- */
/* rtu_frame_expected: the length rule of every function code */

Test(rtu_frame_expected, every_function_code)
{
    static const struct {
        const char  *name;
        struct bytes req;
        int          len;
    } c[] = {
        {"fc1 1 coil", B(0x01, 0x00, 0x00, 0x00, 0x01), 6},
        {"fc1 8 coils", B(0x01, 0x00, 0x00, 0x00, 0x08), 6},
        {"fc1 9 coils", B(0x01, 0x00, 0x00, 0x00, 0x09), 7},
        {"fc1 37 coils", B(0x01, 0x00, 0x13, 0x00, 0x25), 10},
        {"fc1 2000 coils", B(0x01, 0x00, 0x00, 0x07, 0xD0), 255},
        {"fc2 22 inputs", B(0x02, 0x00, 0xC4, 0x00, 0x16), 8},
        {"fc2 2000 inputs", B(0x02, 0x00, 0x00, 0x07, 0xD0), 255},
        {"fc3 1 register", B(0x03, 0x10, 0x01, 0x00, 0x01), 7},
        {"fc3 24 registers", B(0x03, 0xE0, 0x00, 0x00, 0x18), 53},
        {"fc3 125 registers", B(0x03, 0x00, 0x00, 0x00, 0x7D), 255},
        {"fc4 10 registers", B(0x04, 0x75, 0x30, 0x00, 0x0A), 25},
        {"fc4 125 registers", B(0x04, 0x00, 0x00, 0x00, 0x7D), 255},
        {"fc5", B(0x05, 0x00, 0xAC, 0xFF, 0x00), 8},
        {"fc6", B(0x06, 0x51, 0x01, 0x00, 0x01), 8},
        {"fc15", B(0x0F, 0x00, 0x13, 0x00, 0x0A, 0x02, 0xCD, 0x01), 8},
        {"fc16", B(0x10, 0x30, 0x00, 0x00, 0x04, 0x08, 0x07, 0xE1, 0x01, 0x01,
                   0x00, 0x00, 0x00, 0x00), 8},
        {"fc22", B(0x16, 0x00, 0x04, 0x00, 0xF2, 0x00, 0x25), 10},
        {"fc23 read 6 write 3",
         B(0x17, 0x00, 0x03, 0x00, 0x06, 0x00, 0x0E, 0x00, 0x03, 0x06, 0x00,
           0xFF, 0x00, 0xFF, 0x00, 0xFF), 17},
        {"fc 0x2B", B(0x2B, 0x0E, 0x01, 0x00), -1},
        {"fc 0x08", B(0x08, 0x00, 0x00, 0xA5, 0x37), -1},
        {"fc 0x07", B(0x07), -1},
        {"fc 0x11", B(0x11), -1},
        {"fc 0x14", B(0x14, 0x0E, 0x06, 0x00, 0x04, 0x00, 0x01, 0x00, 0x02),
         -1},
        {"fc 0x41", B(0x41, 0x01, 0x02, 0x03), -1},
    };

    for (size_t i = 0; i < ARRAY_SIZE(c); i++) {
        const struct bytes *req = &c[i].req;
        uint8_t ok[2] = {0x01, req->b[0]};
        uint8_t ex[2] = {0x01, (uint8_t)(req->b[0] | MB_EX_FLAG)};

        cr_assert_eq(pdu_check_request(req->b, req->len), MB_EX_NONE,
                     "%s: request refused", c[i].name);
        cr_assert_eq(rtu_frame_expected(req->b, req->len, ok, 0), 0,
                     "%s: 0 bytes", c[i].name);
        cr_assert_eq(rtu_frame_expected(req->b, req->len, ok, 1), 0,
                     "%s: 1 byte", c[i].name);
        cr_assert_eq(rtu_frame_expected(req->b, req->len, ok, 2), c[i].len,
                     "%s: got %d", c[i].name,
                     rtu_frame_expected(req->b, req->len, ok, 2));
        /* Every exception is 5 bytes, whatever the function code. */
        cr_assert_eq(rtu_frame_expected(req->b, req->len, ex, 2), 5,
                     "%s: exception", c[i].name);
    }
}

/* The length comes from the request, never from the byte count byte. */
Test(rtu_frame_expected, ignores_the_byte_count)
{
    static const struct bytes req = B(0x03, 0x10, 0x01, 0x00, 0x01);
    uint8_t rx[] = {0x01, 0x03, 0x00};

    for (unsigned bc = 0; bc < 256; bc++) {
        rx[2] = (uint8_t)bc;
        cr_assert_eq(rtu_frame_expected(req.b, req.len, rx, sizeof(rx)), 7);
    }
}

/* ---------------------------------------------------------------------- */
/* rtu_frame_check: valid responses */

/* One request and a valid response PDU for it. */
struct rsp_case {
    const char  *name;
    struct bytes req, rsp;
};

static const struct rsp_case valid_cases[] = {
    {"fc1 10 coils", B(0x01, 0x00, 0x13, 0x00, 0x0A),
     B(0x01, 0x02, 0xCD, 0x01)},
    {"fc2 22 inputs", B(0x02, 0x00, 0xC4, 0x00, 0x16),
     B(0x02, 0x03, 0xAC, 0xDB, 0x35)},
    {"fc3 1 register", B(0x03, 0x10, 0x01, 0x00, 0x01),
     B(0x03, 0x02, 0x08, 0xFC)},
    {"fc3 Sigenergy", B(0x03, 0x77, 0x4C, 0x00, 0x02),
     B(0x03, 0x04, 0x00, 0x00, 0x61, 0xA8)},
    {"fc4 1 register", B(0x04, 0x00, 0x00, 0x00, 0x01),
     B(0x04, 0x02, 0x12, 0x34)},
    {"fc5 echo", B(0x05, 0x00, 0xAC, 0xFF, 0x00),
     B(0x05, 0x00, 0xAC, 0xFF, 0x00)},
    {"fc6 echo", B(0x06, 0x51, 0x01, 0x00, 0x01),
     B(0x06, 0x51, 0x01, 0x00, 0x01)},
    {"fc15", B(0x0F, 0x00, 0x13, 0x00, 0x0A, 0x02, 0xCD, 0x01),
     B(0x0F, 0x00, 0x13, 0x00, 0x0A)},
    {"fc16", B(0x10, 0x9C, 0x41, 0x00, 0x02, 0x04, 0x00, 0x00, 0x61, 0xA8),
     B(0x10, 0x9C, 0x41, 0x00, 0x02)},
    {"fc22 echo", B(0x16, 0x00, 0x04, 0x00, 0xF2, 0x00, 0x25),
     B(0x16, 0x00, 0x04, 0x00, 0xF2, 0x00, 0x25)},
    {"fc23", B(0x17, 0x00, 0x03, 0x00, 0x06, 0x00, 0x0E, 0x00, 0x03, 0x06,
               0x00, 0xFF, 0x00, 0xFF, 0x00, 0xFF),
     B(0x17, 0x0C, 0x00, 0xFE, 0x0A, 0xCD, 0x00, 0x01, 0x00, 0x03, 0x00,
       0x0D, 0x00, 0xFF)},
    {"fc3 exception", B(0x03, 0x10, 0x01, 0x00, 0x01), B(0x83, 0x02)},
    {"fc16 exception", B(0x10, 0x9C, 0x41, 0x00, 0x02, 0x04, 0x00, 0x00,
                         0x61, 0xA8), B(0x90, 0x02)},
    {"fc22 exception", B(0x16, 0x00, 0x04, 0x00, 0xF2, 0x00, 0x25),
     B(0x96, 0x03)},
    {"fc 0x2B exception", B(0x2B, 0x0E, 0x01, 0x00), B(0xAB, 0x01)},
};

/* NEED_MORE at every prefix, OK when whole, OK with bytes behind it. */
static void
check_valid(const char *name, uint8_t unit, const struct bytes *req,
            const struct bytes *rsp)
{
    struct bytes f = frame(unit, rsp);
    size_t flen;

    for (size_t n = 0; n < f.len; n++) {
        flen = 12345;
        cr_assert_eq(check(unit, req, f.b, n, &flen), RTU_NEED_MORE,
                     "%s: prefix of %zu bytes", name, n);
        cr_assert_eq(flen, 12345, "%s: frame_len written", name);
        cr_assert_eq(rtu_frame_expected(req->b, req->len, f.b, n),
                     n < 2 ? 0 : (int)f.len, "%s: expected at %zu", name, n);
    }
    cr_assert_eq(check(unit, req, f.b, f.len, &flen), RTU_OK, "%s", name);
    cr_assert_eq(flen, f.len, "%s: frame_len", name);
    f.b[f.len] = unit;
    f.b[f.len + 1] = 0x55;
    cr_assert_eq(check(unit, req, f.b, f.len + 2, &flen), RTU_OK,
                 "%s: with trailing bytes", name);
    cr_assert_eq(flen, f.len, "%s: frame_len with trailing bytes", name);
}

Test(rtu_frame_check, valid_at_every_prefix)
{
    static const uint8_t units[] = {0x01, 0x00, 0xF7, 0xFF};

    for (size_t i = 0; i < ARRAY_SIZE(valid_cases); i++) {
        for (size_t u = 0; u < ARRAY_SIZE(units); u++) {
            check_valid(valid_cases[i].name, units[u], &valid_cases[i].req,
                        &valid_cases[i].rsp);
        }
    }
}

/* Every quantity of every read, answered with the right byte count. */
Test(rtu_frame_check, every_read_quantity)
{
    static const struct {
        uint8_t  fc;
        unsigned max;
    } reads[] = {
        {MB_FC_READ_COILS, 2000}, {MB_FC_READ_DISCRETE, 2000},
        {MB_FC_READ_HOLDING, 125}, {MB_FC_READ_INPUT, 125},
        {MB_FC_READ_WRITE, 125},
    };

    for (size_t i = 0; i < ARRAY_SIZE(reads); i++) {
        for (unsigned qty = 1; qty <= reads[i].max; qty++) {
            struct bytes req = read_req(reads[i].fc, 0x0100, qty);
            struct bytes rsp = read_rsp(&req);
            struct bytes f = frame(0x01, &rsp);
            size_t flen = 0;

            cr_assert_eq(pdu_check_request(req.b, req.len), MB_EX_NONE);
            cr_assert_leq(f.len, RTU_FRAME_MAX);
            cr_assert_eq(rtu_frame_expected(req.b, req.len, f.b, f.len),
                         (int)f.len, "fc %u qty %u", reads[i].fc, qty);
            cr_assert_eq(check(0x01, &req, f.b, f.len, &flen), RTU_OK,
                         "fc %u qty %u", reads[i].fc, qty);
            cr_assert_eq(flen, f.len);
        }
    }
}

/* The EV charger's exceptions: 0x83/0x84/0x86/0x90 with codes 1-4. */
Test(rtu_frame_check, exceptions)
{
    static const struct bytes reqs[] = {
        B(0x03, 0x06, 0x27, 0x00, 0x01), B(0x04, 0x00, 0x1D, 0x00, 0x01),
        B(0x06, 0x06, 0x27, 0x00, 0x01),
        B(0x10, 0x06, 0x27, 0x00, 0x01, 0x02, 0x00, 0x01),
    };

    for (size_t i = 0; i < ARRAY_SIZE(reqs); i++) {
        uint8_t fc = reqs[i].b[0];

        for (uint8_t code = 1; code <= 4; code++) {
            struct bytes ex = B((uint8_t)(fc | 0x80), code);
            struct bytes other = B((uint8_t)((fc ^ 0x07) | 0x80), code);
            struct bytes f = frame(0x01, &ex), g = frame(0x01, &other);
            size_t flen = 0;

            check_valid("exception", 0x01, &reqs[i], &ex);
            cr_assert_eq(f.len, 5);
            cr_assert_eq(check(0x01, &reqs[i], f.b, f.len, &flen), RTU_OK);
            cr_assert_eq(flen, 5);
            /* The exception of another function code is no answer. */
            cr_assert_eq(check(0x01, &reqs[i], g.b, g.len, &flen),
                         RTU_BAD_FUNCTION, "fc 0x%02X", fc);
        }
    }
}

/* ---------------------------------------------------------------------- */
/* rtu_frame_check: rejections */

/* A frame judged against a request with the verdict expected; the frame is
 * given whole, with its CRC (so a bad CRC can be written out). */
struct bad_case {
    const char      *name;
    uint8_t          unit;
    struct bytes     req, rx;
    enum rtu_verdict v;
};

static const struct bad_case bad_cases[] = {
    /* Another unit: seen at the first byte. */
    {"unit 2 answers", 0x01, B(0x03, 0x10, 0x01, 0x00, 0x01),
     B(0x02, 0x03, 0x02, 0x08, 0xFC, 0x00, 0x00), RTU_BAD_UNIT},
    {"unit byte only", 0x01, B(0x03, 0x10, 0x01, 0x00, 0x01), B(0x02),
     RTU_BAD_UNIT},
    {"unit 0 is not 1", 0x01, B(0x06, 0x51, 0x01, 0x00, 0x01),
     B(0x00, 0x06), RTU_BAD_UNIT},
    /* Another function code, or the exception of another one. */
    {"fc4 for fc3", 0x01, B(0x03, 0x10, 0x01, 0x00, 0x01), B(0x01, 0x04),
     RTU_BAD_FUNCTION},
    {"0x84 for fc3", 0x01, B(0x03, 0x10, 0x01, 0x00, 0x01),
     B(0x01, 0x84, 0x02, 0x00, 0x00), RTU_BAD_FUNCTION},
    {"0x83 for fc6", 0x01, B(0x06, 0x51, 0x01, 0x00, 0x01),
     B(0x01, 0x83, 0x04), RTU_BAD_FUNCTION},
    {"fc 0x2C for 0x2B", 0x01, B(0x2B, 0x0E, 0x01, 0x00), B(0x01, 0x2C),
     RTU_BAD_FUNCTION},
    /* A wrong byte count is seen at once, with 3 bytes. */
    {"fc3 byte count 4 for 1 register", 0x01,
     B(0x03, 0x10, 0x01, 0x00, 0x01), B(0x01, 0x03, 0x04), RTU_BAD_LENGTH},
    {"fc3 byte count 0", 0x01, B(0x03, 0x10, 0x01, 0x00, 0x01),
     B(0x01, 0x03, 0x00), RTU_BAD_LENGTH},
    {"fc3 byte count 1 for 1 register", 0x01,
     B(0x03, 0x10, 0x01, 0x00, 0x01), B(0x01, 0x03, 0x01, 0x08, 0x00, 0x00),
     RTU_BAD_LENGTH},
    {"fc1 byte count 1 for 10 coils", 0x01, B(0x01, 0x00, 0x13, 0x00, 0x0A),
     B(0x01, 0x01, 0x01, 0xCD), RTU_BAD_LENGTH},
    {"fc2 byte count 4 for 22 inputs", 0x01,
     B(0x02, 0x00, 0xC4, 0x00, 0x16), B(0x01, 0x02, 0x04), RTU_BAD_LENGTH},
    {"fc4 byte count 2 for 10 registers", 0x01,
     B(0x04, 0x75, 0x30, 0x00, 0x0A), B(0x01, 0x04, 0x02, 0x00, 0x01),
     RTU_BAD_LENGTH},
    {"fc23 byte count of the write", 0x01,
     B(0x17, 0x00, 0x03, 0x00, 0x06, 0x00, 0x0E, 0x00, 0x03, 0x06, 0x00,
       0xFF, 0x00, 0xFF, 0x00, 0xFF), B(0x01, 0x17, 0x06), RTU_BAD_LENGTH},
    /* Echoes that name something else, with a valid CRC. */
    {"fc16 echo of another address", 0x01,
     B(0x10, 0x30, 0x00, 0x00, 0x04, 0x08, 0x07, 0xE1, 0x01, 0x01, 0x00, 0x00,
       0x00, 0x00), B(0x01, 0x10, 0x30, 0x01, 0x00, 0x04, 0x9F, 0x0A),
     RTU_BAD_LENGTH},
    {"fc16 echo of another quantity", 0x01,
     B(0x10, 0x30, 0x00, 0x00, 0x04, 0x08, 0x07, 0xE1, 0x01, 0x01, 0x00, 0x00,
       0x00, 0x00), B(0x01, 0x10, 0x30, 0x00, 0x00, 0x05, 0x0F, 0x0A),
     RTU_BAD_LENGTH},
    {"fc6 echo of another address", 0x01, B(0x06, 0x51, 0x01, 0x00, 0x01),
     B(0x01, 0x06, 0x51, 0x02, 0x00, 0x01, 0xF9, 0x36), RTU_BAD_LENGTH},
    /* Right length, wrong CRC. */
    {"fc3 CRC bytes swapped", 0x01, B(0x03, 0x10, 0x01, 0x00, 0x01),
     B(0x01, 0x03, 0x02, 0x08, 0xFC, 0xC5, 0xBF), RTU_BAD_CRC},
    {"fc6 exception CRC off by one", 0x01, B(0x06, 0x51, 0x01, 0x00, 0x01),
     B(0x01, 0x86, 0x04, 0x43, 0xA4), RTU_BAD_CRC},
    {"fc16 answer CRC zero", 0x01,
     B(0x10, 0x30, 0x00, 0x00, 0x04, 0x08, 0x07, 0xE1, 0x01, 0x01, 0x00, 0x00,
       0x00, 0x00), B(0x01, 0x10, 0x30, 0x00, 0x00, 0x04, 0x00, 0x00),
     RTU_BAD_CRC},
    /* Requests pdu_check_request() refuses: never read past them, never
     * wait for an answer no frame can hold. */
    {"fc3 126 registers", 0x01, B(0x03, 0x00, 0x00, 0x00, 0x7E),
     B(0x01, 0x03), RTU_BAD_LENGTH},
    {"fc1 0xFFFF coils", 0x01, B(0x01, 0x00, 0x00, 0xFF, 0xFF),
     B(0x01, 0x01, 0xFF), RTU_BAD_LENGTH},
    {"fc3 request without quantity", 0x01, B(0x03, 0x00, 0x00),
     B(0x01, 0x03, 0x02, 0x00, 0x00), RTU_NEED_MORE},
    {"empty request", 0x01, {{0}, 0}, B(0x01, 0x03), RTU_BAD_FUNCTION},
    /* No length rule, no CRC closing after more than a frame. */
    {"fc 0x2B past RTU_FRAME_MAX", 0x01, B(0x2B, 0x0E, 0x01, 0x00),
     {{0x01, 0x2B}, RTU_FRAME_MAX + 1}, RTU_BAD_LENGTH},
};

Test(rtu_frame_check, rejections)
{
    for (size_t i = 0; i < ARRAY_SIZE(bad_cases); i++) {
        const struct bad_case *c = &bad_cases[i];
        size_t flen = 12345;
        enum rtu_verdict v = check(c->unit, &c->req, c->rx.b, c->rx.len,
                                   &flen);

        cr_assert_eq(v, c->v, "%s: got %d (%s), expected %d (%s)", c->name,
                     v, rtu_verdict_str(v), c->v, rtu_verdict_str(c->v));
        cr_assert_eq(flen, 12345, "%s: frame_len written", c->name);
    }
}

/* The echo cases of the table above really have a valid CRC, so they are
 * rejected by pdu_check_response(), not by the CRC. */
Test(rtu_frame_check, bad_echoes_have_valid_crc)
{
    for (size_t i = 0; i < ARRAY_SIZE(bad_cases); i++) {
        const struct bad_case *c = &bad_cases[i];

        if (strstr(c->name, "echo of") != NULL) {
            cr_assert(crc_closes(c->rx.b, c->rx.len), "%s", c->name);
        }
    }
}

/* A wrong byte count is final: more bytes never make it right. */
Test(rtu_frame_check, wrong_byte_count_at_every_length)
{
    static const struct bytes req = B(0x03, 0x77, 0x4C, 0x00, 0x02);
    struct bytes rsp = B(0x03, 0x02, 0x00, 0x00), f = frame(0x01, &rsp);
    size_t flen;

    for (size_t n = 3; n <= f.len; n++) {
        cr_assert_eq(check(0x01, &req, f.b, n, &flen), RTU_BAD_LENGTH,
                     "%zu bytes", n);
    }
}

/* Flip each byte, then each bit, of valid frames: never RTU_OK; a change
 * in the CRC alone is RTU_BAD_CRC. */
Test(rtu_frame_check, every_byte_flipped)
{
    for (size_t i = 0; i < ARRAY_SIZE(valid_cases); i++) {
        const struct rsp_case *c = &valid_cases[i];
        struct bytes good = frame(0x01, &c->rsp);

        for (size_t pos = 0; pos < good.len; pos++) {
            for (unsigned mask = 0; mask <= 8; mask++) {
                struct bytes f = good;
                uint8_t x = mask == 8 ? 0xFF : (uint8_t)(1u << mask);
                size_t flen = 0;
                enum rtu_verdict v;

                f.b[pos] ^= x;
                v = check(0x01, &c->req, f.b, f.len, &flen);
                cr_assert_neq(v, RTU_OK, "%s: byte %zu ^ 0x%02X accepted",
                              c->name, pos, x);
                if (pos >= good.len - 2) {
                    cr_assert_eq(v, RTU_BAD_CRC, "%s: CRC byte %zu ^ 0x%02X",
                                 c->name, pos, x);
                }
                if (pos == 0) {
                    cr_assert_eq(v, RTU_BAD_UNIT, "%s", c->name);
                }
            }
        }
    }
}

/* ---------------------------------------------------------------------- */
/* rtu_frame_check: function codes without a length rule */

Test(rtu_frame_check, unknown_length)
{
    static const struct {
        const char  *name;
        struct bytes req, rsp;
    } c[] = {
        {"fc 0x2B MEI", B(0x2B, 0x0E, 0x01, 0x00),
         B(0x2B, 0x0E, 0x01, 0x01, 0x00, 0x00, 0x03, 0x00, 0x05, 'T', 'i',
           'g', 'o', ' ', 0x01, 0x03, 'E', 'V', 'C', 0x02, 0x04, 'V', '2',
           '.', '8')},
        {"fc 0x08 echo", B(0x08, 0x00, 0x00, 0xA5, 0x37),
         B(0x08, 0x00, 0x00, 0xA5, 0x37)},
        {"fc 0x11 report id", B(0x11), B(0x11, 0x02, 0x01, 0xFF)},
        {"fc 0x07 no data", B(0x07), B(0x07)},
    };

    for (size_t i = 0; i < ARRAY_SIZE(c); i++) {
        struct bytes f = frame(0x01, &c[i].rsp);
        size_t flen;

        for (size_t n = 0; n <= f.len; n++) {
            enum rtu_verdict v;
            bool closes = n >= 4 && crc_closes(f.b, n);

            flen = 0;
            v = check(0x01, &c[i].req, f.b, n, &flen);
            cr_assert_eq(rtu_frame_expected(c[i].req.b, c[i].req.len, f.b,
                                            n), n < 2 ? 0 : -1);
            cr_assert_eq(v, closes ? RTU_UNKNOWN_LEN : RTU_NEED_MORE,
                         "%s: %zu bytes: %s", c[i].name, n,
                         rtu_verdict_str(v));
            cr_assert_eq(flen, closes ? n : 0, "%s: %zu bytes", c[i].name, n);
        }
        cr_assert(crc_closes(f.b, f.len));
        /* Garbage after it: the CRC no longer closes, wait for silence. */
        f.b[f.len] = 0x55;
        cr_assert_eq(check(0x01, &c[i].req, f.b, f.len + 1, &flen),
                     RTU_NEED_MORE, "%s", c[i].name);
        /* But a 0x00 after a valid frame keeps the CRC closed (the CRC
         * register is 0 after a whole frame, and a zero byte leaves it
         * there): without a length rule, only the silence on the line can
         * tell where such a frame ends. */
        f.b[f.len] = 0x00;
        cr_assert_eq(check(0x01, &c[i].req, f.b, f.len + 1, &flen),
                     RTU_UNKNOWN_LEN, "%s", c[i].name);
        cr_assert_eq(flen, f.len + 1);
        /* Its exception has a length: 5. */
        {
            struct bytes ex = B((uint8_t)(c[i].req.b[0] | 0x80), 0x01);
            struct bytes g = frame(0x01, &ex);

            cr_assert_eq(check(0x01, &c[i].req, g.b, g.len, &flen), RTU_OK);
            cr_assert_eq(flen, 5);
        }
    }
}

/* Up to RTU_FRAME_MAX bytes the CRC may still close; past it, never. */
Test(rtu_frame_check, unknown_length_limit)
{
    static const struct bytes req = B(0x41, 0x00);
    struct bytes pdu = {{0x41}, RTU_FRAME_MAX - 3}, f;
    uint8_t big[RTU_FRAME_MAX + 3];
    size_t flen = 0;

    f = frame(0x01, &pdu);
    cr_assert_eq(f.len, RTU_FRAME_MAX);
    cr_assert_eq(check(0x01, &req, f.b, f.len, &flen), RTU_UNKNOWN_LEN);
    cr_assert_eq(flen, RTU_FRAME_MAX);

    memset(big, 0, sizeof(big));
    big[0] = 0x01;
    big[1] = 0x41;
    rtu_frame_encode(big, 0x01, big + 1, RTU_FRAME_MAX - 2);
    cr_assert(crc_closes(big, RTU_FRAME_MAX + 1));
    cr_assert_eq(check(0x01, &req, big, RTU_FRAME_MAX + 1, &flen),
                 RTU_BAD_LENGTH);
}

/* ---------------------------------------------------------------------- */
/* rtu_verdict_str */

Test(rtu_verdict_str, every_verdict)
{
    for (size_t i = 0; i < ARRAY_SIZE(all_verdicts); i++) {
        const char *s = rtu_verdict_str(all_verdicts[i]);

        cr_assert_not_null(s);
        cr_assert_gt(strlen(s), 0);
        for (size_t j = 0; j < i; j++) {
            cr_assert_str_neq(s, rtu_verdict_str(all_verdicts[j]));
        }
    }
    cr_assert_str_eq(rtu_verdict_str(RTU_BAD_CRC), "bad CRC");
    cr_assert_not_null(rtu_verdict_str((enum rtu_verdict)42));
}

/* ---------------------------------------------------------------------- */
/* rtu_frame_find */

/* Call rtu_frame_find() on <s> for unit 1 and request <req>, on a line
 * that echoes if <echo>. */
static int
find_echo(const struct bytes *req, bool echo, const struct bytes *s,
          size_t len, size_t *off, size_t *flen)
{
    *off = 99999;
    *flen = 99999;
    return rtu_frame_find(0x01, req->b, req->len, echo, s->b, len, off, flen);
}

/* The same on a line that echoes (most streams below hold an echo). */
static int
find(const struct bytes *req, const struct bytes *s, size_t len, size_t *off,
     size_t *flen)
{
    return find_echo(req, true, s, len, off, flen);
}

static const struct bytes read1 = B(0x03, 0x10, 0x01, 0x00, 0x01);
static const struct bytes read1_rsp = B(0x03, 0x02, 0x08, 0xFC);

Test(rtu_frame_find, empty)
{
    struct bytes s = {{0}, 0};
    size_t off, flen;

    cr_assert_eq(find(&read1, &s, 0, &off, &flen), 0);
    cr_assert_eq(off, 0);
    cr_assert_eq(flen, 0);
}

Test(rtu_frame_find, response_alone)
{
    struct bytes s = frame(0x01, &read1_rsp);
    size_t off, flen;

    cr_assert_eq(find(&read1, &s, s.len, &off, &flen), 1);
    cr_assert_eq(off, 0);
    cr_assert_eq(flen, 7);
}

/* Garbage before the response, including bytes that look like our unit
 * and function code, and a frame of ours with a bad CRC. */
Test(rtu_frame_find, garbage_before)
{
    static const uint8_t garbage[][12] = {
        {0x00},
        {0xFF, 0xFF, 0x00},
        {0x01, 0x03, 0x02, 0x08, 0xFC, 0xBF, 0xC6},   /* bad CRC */
        {0x01, 0x03, 0x04, 0x01, 0x03},               /* bad byte count */
        {0x01, 0x01, 0x01, 0x83, 0x01},
        {0x03, 0x02, 0x08, 0xFC, 0xBF, 0xC5},         /* a tail */
    };
    static const size_t glen[] = {1, 3, 7, 5, 5, 6};
    struct bytes rsp = frame(0x01, &read1_rsp);

    for (size_t i = 0; i < ARRAY_SIZE(garbage); i++) {
        struct bytes s = {{0}, 0};
        size_t off, flen;

        append(&s, garbage[i], glen[i]);
        append(&s, rsp.b, rsp.len);
        cr_assert_eq(find(&read1, &s, s.len, &off, &flen), 1, "case %zu", i);
        cr_assert_eq(off, glen[i], "case %zu: off %zu", i, off);
        cr_assert_eq(flen, rsp.len);
        cr_assert_arr_eq(s.b + off, rsp.b, flen);
    }
}

/* The echo of a read request, then its response. */
Test(rtu_frame_find, echo_of_read_request)
{
    static const struct bytes reqs[] = {
        B(0x03, 0x10, 0x01, 0x00, 0x01),
        /* Its address high byte is the answer's byte count: the echo
         * starts like the answer. */
        B(0x03, 0x02, 0x00, 0x00, 0x01),
        B(0x03, 0xE0, 0x00, 0x00, 0x18),
        B(0x01, 0x00, 0x13, 0x00, 0x25),
        B(0x04, 0x75, 0x30, 0x00, 0x0A),
    };

    for (size_t i = 0; i < ARRAY_SIZE(reqs); i++) {
        struct bytes req = frame(0x01, &reqs[i]);
        struct bytes pdu = read_rsp(&reqs[i]), rsp = frame(0x01, &pdu);
        struct bytes s = {{0}, 0};
        size_t off, flen;

        append(&s, req.b, req.len);
        append(&s, rsp.b, rsp.len);
        cr_assert_eq(find(&reqs[i], &s, s.len, &off, &flen), 1, "case %zu",
                     i);
        cr_assert_eq(off, req.len, "case %zu: off %zu", i, off);
        cr_assert_eq(flen, rsp.len);
        /* The echo alone, whole or in part: nothing to take, nothing to
         * drop but the whole echo. */
        for (size_t n = 0; n <= req.len; n++) {
            cr_assert_eq(find(&reqs[i], &s, n, &off, &flen), 0);
            cr_assert_eq(off, n == req.len ? n : 0, "case %zu, %zu bytes",
                         i, n);
        }
    }
}

/* FC 6 (and FC 5, 22) answer with the echo. Without echo the first copy
 * is the answer. With echo, a copy followed by more bytes was the echo,
 * and the copy with nothing after it is kept for the silence to confirm
 * (rtu_rx_settle()), so that an exception after the echo is not lost. */
Test(rtu_frame_find, echo_is_the_answer)
{
    static const struct bytes reqs[] = {
        B(0x06, 0x51, 0x01, 0x00, 0x01),
        B(0x05, 0x00, 0xAC, 0xFF, 0x00),
        B(0x16, 0x00, 0x04, 0x00, 0xF2, 0x00, 0x25),
    };

    for (size_t i = 0; i < ARRAY_SIZE(reqs); i++) {
        struct bytes f = frame(0x01, &reqs[i]);
        struct bytes s = {{0}, 0};
        size_t off, flen;

        append(&s, f.b, f.len);
        append(&s, f.b, f.len);
        cr_assert_eq(find_echo(&reqs[i], false, &s, s.len, &off, &flen), 1);
        cr_assert_eq(off, 0);
        cr_assert_eq(flen, f.len);
        cr_assert_eq(find(&reqs[i], &s, s.len, &off, &flen), 0);
        cr_assert_eq(off, f.len);
        cr_assert_eq(flen, 0);
        cr_assert_eq(find(&reqs[i], &s, f.len, &off, &flen), 0);
        cr_assert_eq(off, 0);
    }
}

/* FC 16: the echo of the whole request, then the short answer. */
Test(rtu_frame_find, echo_of_write_multiple)
{
    static const struct bytes req = B(0x10, 0x30, 0x00, 0x00, 0x04, 0x08,
                                      0x07, 0xE1, 0x01, 0x01, 0x00, 0x00,
                                      0x00, 0x00);
    static const struct bytes ans = B(0x10, 0x30, 0x00, 0x00, 0x04);
    struct bytes rf = frame(0x01, &req), af = frame(0x01, &ans);
    struct bytes s = {{0}, 0};
    size_t off, flen;

    append(&s, rf.b, rf.len);
    append(&s, af.b, af.len);
    cr_assert_eq(find(&req, &s, s.len, &off, &flen), 1);
    cr_assert_eq(off, rf.len);
    cr_assert_eq(flen, 8);
    cr_assert_arr_eq(s.b + off, af.b, af.len);
}

/* The response arrives in two pieces, split at every point. */
Test(rtu_frame_find, split_response)
{
    struct bytes rsp = frame(0x01, &read1_rsp);

    for (size_t cut = 0; cut < rsp.len; cut++) {
        size_t off, flen;

        cr_assert_eq(find(&read1, &rsp, cut, &off, &flen), 0, "cut %zu", cut);
        cr_assert_eq(off, 0, "cut %zu: off %zu", cut, off);
        cr_assert_eq(find(&read1, &rsp, rsp.len, &off, &flen), 1);
        cr_assert_eq(off, 0);
        cr_assert_eq(flen, rsp.len);
    }
}

/* Another unit's response first (to a request of another master on the
 * bus, or one that timed out), then ours. */
Test(rtu_frame_find, other_unit_first)
{
    struct bytes theirs = frame(0x02, &read1_rsp);
    struct bytes ours = frame(0x01, &read1_rsp);
    struct bytes s = {{0}, 0};
    size_t off, flen;

    append(&s, theirs.b, theirs.len);
    append(&s, ours.b, ours.len);
    cr_assert_eq(find(&read1, &s, s.len, &off, &flen), 1);
    cr_assert_eq(off, theirs.len);
    cr_assert_eq(flen, ours.len);
    /* Theirs alone is all garbage. */
    cr_assert_eq(find(&read1, &s, theirs.len, &off, &flen), 0);
    cr_assert_eq(off, theirs.len);
}

/* A stream of garbage, another unit's answer, the echo, and ours, cut at
 * every length: until ours is whole nothing is found and what may be
 * dropped never reaches into it; once whole it is found where it is. */
Test(rtu_frame_find, truncated_at_every_length)
{
    static const uint8_t junk[] = {0xFF, 0x01, 0x00, 0x01, 0x03};
    struct bytes s = {{0}, 0}, theirs = frame(0x07, &read1_rsp);
    struct bytes echo = frame(0x01, &read1), ours = frame(0x01, &read1_rsp);
    size_t start, end;

    append(&s, junk, sizeof(junk));
    append(&s, theirs.b, theirs.len);
    append(&s, echo.b, echo.len);
    start = s.len;
    append(&s, ours.b, ours.len);
    end = s.len;
    append(&s, junk, sizeof(junk));

    for (size_t n = 0; n <= s.len; n++) {
        size_t off, flen;
        int found = find(&read1, &s, n, &off, &flen);

        cr_assert_leq(off, n, "%zu bytes", n);
        if (n < end) {
            cr_assert_eq(found, 0, "%zu bytes", n);
            cr_assert_leq(off, n < start ? n : start, "%zu bytes: off %zu",
                          n, off);
            cr_assert_eq(flen, 0);
        } else {
            cr_assert_eq(found, 1, "%zu bytes", n);
            cr_assert_eq(off, start, "%zu bytes", n);
            cr_assert_eq(flen, ours.len);
        }
    }
}

/* The same stream fed in chunks of every size, the way a backend does it:
 * append, find, drop what is before off. The response comes out whole. */
Test(rtu_frame_find, fed_in_chunks)
{
    static const uint8_t junk[] = {0x01, 0x03, 0x02, 0x11, 0x01};
    struct bytes s = {{0}, 0}, echo = frame(0x01, &read1);
    struct bytes ours = frame(0x01, &read1_rsp);

    append(&s, junk, sizeof(junk));
    append(&s, echo.b, echo.len);
    append(&s, ours.b, ours.len);

    for (size_t chunk = 1; chunk <= s.len; chunk++) {
        struct bytes held = {{0}, 0};
        size_t pos = 0, off = 0, flen = 0;
        int found = 0;

        while (!found && pos < s.len) {
            size_t n = MB_MIN(chunk, s.len - pos);

            append(&held, s.b + pos, n);
            pos += n;
            found = find(&read1, &held, held.len, &off, &flen);
            if (!found) {
                memmove(held.b, held.b + off, held.len - off);
                held.len -= off;
            }
        }
        cr_assert_eq(found, 1, "chunk %zu", chunk);
        cr_assert_eq(flen, ours.len, "chunk %zu", chunk);
        cr_assert_arr_eq(held.b + off, ours.b, ours.len, "chunk %zu", chunk);
    }
}

/* No length rule: nothing is ever "found"; the candidate offset and, once
 * the CRC closes, the frame length are given for the caller's silence
 * timer. The echo is skipped. */
Test(rtu_frame_find, unknown_length)
{
    static const struct bytes req = B(0x2B, 0x0E, 0x01, 0x00);
    static const struct bytes ans = B(0x2B, 0x0E, 0x01, 0x01, 0x00, 0x00,
                                      0x01, 0x00, 0x03, 'E', 'V', 'C');
    struct bytes echo = frame(0x01, &req), af = frame(0x01, &ans);
    struct bytes s = {{0}, 0};
    size_t off, flen;

    s.b[0] = 0x99;
    s.len = 1;
    append(&s, echo.b, echo.len);
    append(&s, af.b, af.len);
    cr_assert_eq(find(&req, &s, s.len, &off, &flen), 0);
    cr_assert_eq(off, 1 + echo.len);
    cr_assert_eq(flen, af.len);
    /* Half the answer: the start is known, the end is not. */
    cr_assert_eq(find(&req, &s, s.len - 4, &off, &flen), 0);
    cr_assert_eq(off, 1 + echo.len);
    cr_assert_eq(flen, 0);
}

/* An exception after the echo of a read. */
Test(rtu_frame_find, exception_after_echo)
{
    static const struct bytes ex = B(0x83, 0x02);
    struct bytes echo = frame(0x01, &read1), ef = frame(0x01, &ex);
    struct bytes s = {{0}, 0};
    size_t off, flen;

    append(&s, echo.b, echo.len);
    append(&s, ef.b, ef.len);
    cr_assert_eq(find(&read1, &s, s.len, &off, &flen), 1);
    cr_assert_eq(off, echo.len);
    cr_assert_eq(flen, 5);
}

/* Long garbage of our unit byte and function code: linear, no false hit. */
Test(rtu_frame_find, long_garbage)
{
    struct bytes s = {{0}, 0}, ours = frame(0x01, &read1_rsp);
    size_t off, flen;

    for (size_t i = 0; i < 900; i++) {
        s.b[i] = (i & 1) ? 0x03 : 0x01;
    }
    s.len = 900;
    cr_assert_eq(find(&read1, &s, s.len, &off, &flen), 0);
    /* Only the last "01 03" may still start the response. */
    cr_assert_eq(off, s.len - 2, "off %zu", off);
    append(&s, ours.b, ours.len);
    cr_assert_eq(find(&read1, &s, s.len, &off, &flen), 1);
    cr_assert_eq(off, 900);
}

/* A write whose data holds its own answer frame: while its echo is still
 * arriving, the answer in its tail is not taken (once the echo is whole,
 * it is skipped as one piece: the answer must not depend on the cut). */
Test(rtu_frame_find, answer_inside_the_echo)
{
    static const struct bytes req = B(0x10, 0x30, 0x00, 0x00, 0x04, 0x08,
                                      0x01, 0x10, 0x30, 0x00, 0x00, 0x04,
                                      0xCE, 0xCA);
    static const struct bytes ans = B(0x10, 0x30, 0x00, 0x00, 0x04);
    struct bytes echo = frame(0x01, &req), af = frame(0x01, &ans);
    struct bytes s = {{0}, 0};
    size_t off, flen;

    cr_assert_arr_eq(echo.b + 7, af.b, af.len, "the data is the answer");
    append(&s, echo.b, echo.len);
    append(&s, af.b, af.len);
    for (size_t n = 1; n < echo.len; n++) {
        cr_assert_eq(find(&req, &s, n, &off, &flen), 0, "%zu bytes", n);
        cr_assert_eq(off, 0, "%zu bytes", n);
    }
    cr_assert_eq(find(&req, &s, echo.len, &off, &flen), 0);
    cr_assert_eq(off, echo.len);
    cr_assert_eq(find(&req, &s, s.len, &off, &flen), 1);
    cr_assert_eq(off, echo.len);
    cr_assert_eq(flen, af.len);
}

/* ---------------------------------------------------------------------- */
/* Answers that repeat the request, or begin like it (issue 10, item 6) */

/* A request and the device's normal answer to it. */
struct repeat {
    const char  *what;
    struct bytes req;       /* PDU */
    struct bytes ans;       /* PDU */
};

static const struct repeat repeats[] = {
    /* identical to the request, no length rule */
    {"FC 8 return query data", B(0x08, 0x00, 0x00, 0x12, 0x34),
     B(0x08, 0x00, 0x00, 0x12, 0x34)},
    {"FC 21 write file record", B(0x15, 0x0B, 0x06, 0x00, 0x04, 0x00, 0x07,
     0x00, 0x02, 0xAB, 0xCD, 0x01, 0x02), B(0x15, 0x0B, 0x06, 0x00, 0x04,
     0x00, 0x07, 0x00, 0x02, 0xAB, 0xCD, 0x01, 0x02)},
    /* 01 10 08 10 00 01 02 6c: the answer's CRC is the request's next two
     * bytes, so the whole answer begins the request frame */
    {"FC 16 of 0x6C00 at 2064", B(0x10, 0x08, 0x10, 0x00, 0x01, 0x02, 0x6C,
     0x00), B(0x10, 0x08, 0x10, 0x00, 0x01)},
    /* 01 0f 10 01 00 04 01 08: likewise */
    {"FC 15 of 4 coils at 4097", B(0x0F, 0x10, 0x01, 0x00, 0x04, 0x01, 0x08),
     B(0x0F, 0x10, 0x01, 0x00, 0x04)},
    /* 01 03 04 00 00 02 c5 3b 00: the request frame and one more byte */
    {"FC 3 of 2 at 1024 holding 0x0000 0x02C5", B(0x03, 0x04, 0x00, 0x00,
     0x02), B(0x03, 0x04, 0x00, 0x00, 0x02, 0xC5)},
};

/* Collect <s> (<n> bytes) for unit 1 and <req> in chunks of <chunk>, then
 * let the line fall silent. Returns the verdict; the PDU in <pdu>. */
static enum rtu_verdict
collect(const struct bytes *req, bool echo, const uint8_t *s, size_t n,
        size_t chunk, struct bytes *pdu, size_t *dropped)
{
    static struct rtu_rx rx;
    const uint8_t *p;
    enum rtu_verdict v = RTU_NEED_MORE;
    bool done = false;

    rtu_rx_start(&rx, 0x01, req->b, req->len, echo);
    for (size_t pos = 0; pos < n && !done; pos += chunk) {
        done = rtu_rx_push(&rx, s + pos, MB_MIN(chunk, n - pos));
    }
    v = done ? RTU_OK : rtu_rx_settle(&rx);
    pdu->len = 0;
    if (v == RTU_OK) {
        p = rtu_rx_pdu(&rx, &pdu->len);
        memcpy(pdu->b, p, pdu->len);
    }
    *dropped = rtu_rx_take_dropped(&rx);
    return v;
}

/* Without echo: the answer is the answer, whatever it looks like. */
Test(rtu_repeat, answers_without_echo)
{
    for (size_t i = 0; i < ARRAY_SIZE(repeats); i++) {
        const struct repeat *c = &repeats[i];
        struct bytes af = frame(0x01, &c->ans), pdu;
        size_t off, flen, dropped;
        int found = find_echo(&c->req, false, &af, af.len, &off, &flen);
        bool known = c->req.b[0] != 0x08 && c->req.b[0] != 0x15;

        cr_assert_eq(found, known ? 1 : 0, "%s", c->what);
        cr_assert_eq(off, 0, "%s", c->what);
        cr_assert_eq(flen, af.len, "%s: a length rule, or silence", c->what);
        for (size_t chunk = 1; chunk <= af.len; chunk++) {
            cr_assert_eq(collect(&c->req, false, af.b, af.len, chunk, &pdu,
                                 &dropped), RTU_OK, "%s", c->what);
            cr_assert_eq(pdu.len, c->ans.len, "%s", c->what);
            cr_assert_arr_eq(pdu.b, c->ans.b, pdu.len, "%s", c->what);
            cr_assert_eq(dropped, 0, "%s", c->what);
        }
    }
}

/* With echo, on a line that does not echo after all: the answer alone is
 * never rejected (taken once the line is silent, or at once for the read
 * that repeats the request and goes on). */
Test(rtu_repeat, answers_alone_with_echo)
{
    for (size_t i = 0; i < ARRAY_SIZE(repeats); i++) {
        const struct repeat *c = &repeats[i];
        struct bytes af = frame(0x01, &c->ans), pdu;
        size_t dropped;

        for (size_t chunk = 1; chunk <= af.len; chunk++) {
            cr_assert_eq(collect(&c->req, true, af.b, af.len, chunk, &pdu,
                                 &dropped), RTU_OK, "%s, chunk %zu", c->what,
                         chunk);
            cr_assert_arr_eq(pdu.b, c->ans.b, c->ans.len, "%s", c->what);
            cr_assert_eq(pdu.len, c->ans.len, "%s", c->what);
            cr_assert_eq(dropped, 0, "%s", c->what);
        }
    }
}

/* With echo, on a line that echoes: the echo is skipped and counted, the
 * answer after it taken, however the stream is cut. */
Test(rtu_repeat, answers_after_the_echo)
{
    for (size_t i = 0; i < ARRAY_SIZE(repeats); i++) {
        const struct repeat *c = &repeats[i];
        struct bytes rf = frame(0x01, &c->req), af = frame(0x01, &c->ans);
        struct bytes s = {{0}, 0}, pdu;
        size_t dropped;

        append(&s, rf.b, rf.len);
        append(&s, af.b, af.len);
        for (size_t chunk = 1; chunk <= s.len; chunk++) {
            cr_assert_eq(collect(&c->req, true, s.b, s.len, chunk, &pdu,
                                 &dropped), RTU_OK, "%s, chunk %zu", c->what,
                         chunk);
            cr_assert_eq(pdu.len, c->ans.len, "%s", c->what);
            cr_assert_arr_eq(pdu.b, c->ans.b, pdu.len, "%s", c->what);
            cr_assert_eq(dropped, rf.len, "%s: the echo counted", c->what);
        }
    }
}

/* With echo, the echo and then silence: no answer, and nothing to blame
 * on the device but its silence (why stays RTU_OK). */
Test(rtu_repeat, echo_then_silence)
{
    static struct rtu_rx rx;
    struct bytes rf = frame(0x01, &read1);

    rtu_rx_start(&rx, 0x01, read1.b, read1.len, true);
    cr_assert_not(rtu_rx_push(&rx, rf.b, rf.len));
    cr_assert_eq(rtu_rx_settle(&rx), RTU_NEED_MORE);
    cr_assert_eq(rx.len, 0);
    cr_assert_eq(rx.why, RTU_OK);
    cr_assert_eq(rtu_rx_take_dropped(&rx), rf.len);
    /* the read that repeats the request: its echo alone is not taken */
    rtu_rx_start(&rx, 0x01, repeats[4].req.b, repeats[4].req.len, true);
    rf = frame(0x01, &repeats[4].req);
    cr_assert_not(rtu_rx_push(&rx, rf.b, rf.len));
    cr_assert_eq(rtu_rx_settle(&rx), RTU_NEED_MORE);
    cr_assert_eq(rx.why, RTU_OK);
}

/* ---------------------------------------------------------------------- */
/* rtu_rx: every byte is the answer or dropped; copies are counted */

/* Noise and another unit's answer before ours, in one push: dropped. */
Test(rtu_rx, bytes_before_the_answer_are_dropped)
{
    static struct rtu_rx rx;
    static const uint8_t junk[] = {0xFF, 0x01, 0x00};
    struct bytes s = {{0}, 0}, theirs = frame(0x07, &read1_rsp);
    struct bytes ours = frame(0x01, &read1_rsp), echo = frame(0x01, &read1);

    append(&s, junk, sizeof(junk));
    append(&s, theirs.b, theirs.len);
    append(&s, echo.b, echo.len);
    append(&s, ours.b, ours.len);
    for (int e = 0; e < 2; e++) {
        rtu_rx_start(&rx, 0x01, read1.b, read1.len, e == 1);
        cr_assert(rtu_rx_push(&rx, s.b, s.len));
        cr_assert_eq(rtu_rx_take_dropped(&rx), s.len - ours.len);
        cr_assert_eq(rx.unread, 0);
    }
}

/* The answer twice in one read: the copy is counted, not lost. */
Test(rtu_rx, copy_in_the_same_read)
{
    static struct rtu_rx rx;
    struct bytes s = {{0}, 0}, ours = frame(0x01, &read1_rsp);
    size_t len;
    const uint8_t *pdu;

    append(&s, ours.b, ours.len);
    append(&s, ours.b, ours.len);
    append(&s, (const uint8_t[]){0x55}, 1);
    rtu_rx_start(&rx, 0x01, read1.b, read1.len, false);
    cr_assert(rtu_rx_push(&rx, s.b, s.len));
    pdu = rtu_rx_pdu(&rx, &len);
    cr_assert_eq(len, read1_rsp.len);
    cr_assert_arr_eq(pdu, read1_rsp.b, len);
    cr_assert_eq(rtu_rx_take_dropped(&rx), 0);
    cr_assert(rtu_rx_next(&rx), "the copy is held whole");
    cr_assert_eq(rtu_rx_drain(&rx, NULL, 0), 1);
    cr_assert_eq(rtu_rx_drain_end(&rx), 0);
    cr_assert_eq(rtu_rx_take_dropped(&rx), ours.len + 1);
}

/* Copies that come later, byte by byte or at once, and one of unknown
 * length that only the next request's start ends. */
Test(rtu_rx, copies_drained_later)
{
    static struct rtu_rx rx;
    static const struct bytes diag = B(0x08, 0x00, 0x00, 0xAB, 0xCD);
    struct bytes ours = frame(0x01, &read1_rsp), df = frame(0x01, &diag);
    unsigned n = 0;

    rtu_rx_start(&rx, 0x01, read1.b, read1.len, false);
    cr_assert(rtu_rx_push(&rx, ours.b, ours.len));
    cr_assert_not(rtu_rx_next(&rx));
    for (size_t i = 0; i < ours.len; i++) {
        n += rtu_rx_drain(&rx, ours.b + i, 1);
    }
    n += rtu_rx_drain(&rx, ours.b, ours.len);
    cr_assert_eq(n, 2);
    cr_assert_eq(rtu_rx_drain_end(&rx), 0);
    cr_assert_eq(rtu_rx_take_dropped(&rx), 2 * ours.len);

    rtu_rx_start(&rx, 0x01, diag.b, diag.len, false);
    cr_assert_not(rtu_rx_push(&rx, df.b, df.len));
    cr_assert_eq(rtu_rx_settle(&rx), RTU_OK);
    cr_assert_not(rtu_rx_next(&rx));
    cr_assert_eq(rtu_rx_drain(&rx, df.b, df.len), 0, "no end yet");
    cr_assert_eq(rtu_rx_drain_end(&rx), 1);
    cr_assert_eq(rtu_rx_take_dropped(&rx), df.len);
}

/* A bad CRC: the bytes are dropped with the reason; discard counts what
 * is still held. */
Test(rtu_rx, bad_crc_and_discard)
{
    static struct rtu_rx rx;
    struct bytes bad = frame(0x01, &read1_rsp);

    bad.b[bad.len - 1] ^= 0xFF;
    rtu_rx_start(&rx, 0x01, read1.b, read1.len, false);
    cr_assert_not(rtu_rx_push(&rx, bad.b, bad.len));
    cr_assert_eq(rtu_rx_settle(&rx), RTU_BAD_CRC);
    cr_assert_eq(rx.len, 0);
    cr_assert_eq(rtu_rx_take_dropped(&rx), bad.len);
    cr_assert_not(rtu_rx_push(&rx, bad.b, 3));
    rtu_rx_discard(&rx);
    cr_assert_eq(rtu_rx_take_dropped(&rx), 3);
}

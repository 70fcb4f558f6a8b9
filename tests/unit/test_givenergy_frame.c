/* SPDX-License-Identifier: MIT */
/*
 * test_givenergy_frame.c -- the GivEnergy dongle codec of
 * backends/givenergy_frame.c.
 *
 * The 56 captured frames of docs/givenergy.md section 4
 * come from tests/fixtures/givenergy_vectors.tsv (row n is vector
 * Vnn). The expected verdict of each is derived from
 * the TSV's own `kind` and `check` columns, and every vector must get
 * exactly that verdict and kind (tests/support/giv_vectors.c loads them).
 * Every captured request must come out of giv_build_read()/
 * giv_build_write() byte for byte. Then: fields of a few frames,
 * header/length/CRC rejections of mutated frames, the 0x86 and unknown-fc
 * policies and the substituted-block guard. The deframer is tested in
 * test_givenergy_rx.c.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc16.h"
#include "giv_vectors.h"

/* ---------------------------------------------------------------------- */
/* Helpers */

/* Recompute the CRC of the <len>-byte frame <f> over [26, len - 2). */
static void
reseal(uint8_t *f, size_t len)
{
    uint16_t crc = crc16_modbus(f + 26, len - 28);

    f[len - 2] = (uint8_t)crc;
    f[len - 1] = (uint8_t)(crc >> 8);
}

/* Set LEN and the 8-byte field of the <len>-byte frame <f> to fit. */
static void
set_lengths(uint8_t *f, size_t len)
{
    f[4] = (uint8_t)((len - 6) >> 8);
    f[5] = (uint8_t)(len - 6);
    memset(f + 18, 0, 8);
    f[24] = (uint8_t)((len - 26) >> 8);
    f[25] = (uint8_t)(len - 26);
}

static enum giv_verdict
parse(const uint8_t *f, size_t len, struct giv_frame *out)
{
    return giv_parse(f, len, out);
}

/* A read response of 60 registers, all 0, at <base>, CRC sealed. */
static size_t
block60(uint8_t *f, uint16_t base)
{
    size_t len = 44 + 2 * 60;

    memcpy(f, vec(2)->b, 42);
    memset(f + 42, 0, 2 * 60 + 2);
    f[38] = (uint8_t)(base >> 8);
    f[39] = (uint8_t)base;
    reseal(f, len);
    return len;
}

static void
set_value(uint8_t *f, size_t i, uint16_t v)
{
    f[42 + 2 * i] = (uint8_t)(v >> 8);
    f[43 + 2 * i] = (uint8_t)v;
}

/* ---------------------------------------------------------------------- */
/* The captured vectors */

Test(giv_vectors, table_is_what_the_doc_says)
{
    size_t n_ok = 0, n_ignore = 0, n_crc = 0, n_length = 0;

    load_vectors();
    cr_assert_eq(n_vecs, VEC_COUNT, "%zu vectors", n_vecs);
    for (size_t i = 0; i < n_vecs; i++) {
        const struct vec *v = &vecs[i];

        cr_assert_geq(v->len, GIV_HEARTBEAT_LEN, "V%02d", v->num);
        cr_assert_eq(v->len, 6 + (size_t)(v->b[4] << 8 | v->b[5]),
                     "V%02d: LEN", v->num);
        n_ok += v->want == GIV_OK;
        n_ignore += v->want == GIV_IGNORE;
        n_crc += v->want == GIV_BAD_CRC;
        n_length += v->want == GIV_BAD_LENGTH;
    }
    /* givenergy.md 4: 43 transparent frames verify (V38 among them, with
     * its wrong length field), 7 fail, 6 heartbeats. */
    cr_assert_eq(n_ok, 42 + 6);
    cr_assert_eq(n_ignore, 3);  /* V34, V56 null; V54 LAN config */
    cr_assert_eq(n_crc, 4);     /* V22, V23, V24, V55 */
    cr_assert_eq(n_length, 1);  /* V38 */
}

Test(giv_vectors, every_vector_gets_its_verdict)
{
    load_vectors();
    for (size_t i = 0; i < n_vecs; i++) {
        const struct vec *v = &vecs[i];
        struct giv_frame f;
        enum giv_verdict got = parse(v->b, v->len, &f);

        cr_expect_eq(got, v->want, "V%02d %s: %s, want %s", v->num, v->kind,
                     giv_verdict_str(got), giv_verdict_str(v->want));
        if (got < 0 || got != v->want) {
            continue;
        }
        cr_expect_eq(f.kind, v->want_kind, "V%02d %s: kind %d", v->num,
                     v->kind, f.kind);
        cr_expect_eq(f.uid, v->b[6], "V%02d", v->num);
        cr_expect_eq(f.fid, v->b[7], "V%02d", v->num);
        cr_expect_eq(f.adapter_serial, v->b + 8, "V%02d", v->num);
    }
}

/* The wire and calculated CRCs the TSV gives, in wire order. */
Test(giv_vectors, crc_matches_check_column)
{
    load_vectors();
    for (size_t i = 0; i < n_vecs; i++) {
        const struct vec *v = &vecs[i];
        char wire[8], calc[8], want[40];
        uint16_t crc;

        if (v->b[7] != 0x02) {
            continue;
        }
        crc = crc16_modbus(v->b + 26, v->len - 28);
        snprintf(calc, sizeof(calc), "%02x%02x", crc & 0xFF, crc >> 8);
        snprintf(wire, sizeof(wire), "%02x%02x", v->b[v->len - 2],
                 v->b[v->len - 1]);
        if (strstr(v->check, "crc_ok") != NULL) {
            cr_expect_str_eq(wire, calc, "V%02d", v->num);
            continue;
        }
        snprintf(want, sizeof(want), "CRC_FAIL(wire=%s,calc=%s)", wire, calc);
        cr_expect(strstr(v->check, want) != NULL, "V%02d: %s not in %s",
                  v->num, want, v->check);
    }
}

Test(giv_vectors, crc16_check_value)
{
    cr_assert_eq(crc16_modbus((const uint8_t *)"123456789", 9), 0x4B37);
    cr_assert_eq(crc16_modbus(NULL, 0), 0xFFFF);
}

/* ---------------------------------------------------------------------- */
/* Building requests */

/* Every captured request with a valid CRC, rebuilt from its own fields.
 * Requests from the cloud and the app carry uid 0x00 where we always send
 * 0x01: for those, byte 6 is the one byte not compared. */
Test(giv_build, every_captured_request)
{
    size_t n = 0, n_uid0 = 0;

    load_vectors();
    for (size_t i = 0; i < n_vecs; i++) {
        const struct vec *v = &vecs[i];
        uint8_t out[GIV_REQ_LEN + 1];
        uint16_t a, b;
        size_t len;

        if (v->want != GIV_OK || v->want_kind != GIV_REQUEST ||
            v->b[7] != 0x02) {
            continue;
        }
        a = (uint16_t)(v->b[28] << 8 | v->b[29]);
        b = (uint16_t)(v->b[30] << 8 | v->b[31]);
        out[GIV_REQ_LEN] = 0xEE;
        if (v->b[27] == 6) {
            len = giv_build_write(out, v->b + 8, v->b[26], a, b);
        } else {
            len = giv_build_read(out, v->b + 8, v->b[26], v->b[27], a, b);
        }
        cr_assert_eq(len, GIV_REQ_LEN, "V%02d", v->num);
        cr_assert_eq(out[GIV_REQ_LEN], 0xEE, "V%02d: wrote past 34", v->num);
        cr_assert_eq(out[6], 0x01, "V%02d: our uid", v->num);
        if (v->b[6] == 0x00) {
            n_uid0++;
            out[6] = 0x00; /* the one byte that differs, see above */
        }
        cr_expect_eq(memcmp(out, v->b, GIV_REQ_LEN), 0, "V%02d differs",
                     v->num);
        n++;
    }
    /* V01 V03 V05 V07 V09 V11 V35 V36 V41-V44; uid 0: V13 V15 V17 V19
     * V27 V30-V33. */
    cr_assert_eq(n, 21);
    cr_assert_eq(n_uid0, 9);
}

/* The same requests from literal arguments, as the backend will call. */
Test(giv_build, from_arguments)
{
    static const struct {
        int         num;
        const char *serial;
        uint8_t     device, fc;
        uint16_t    a, b;
    } t[] = {
        {1, "**********", 0x31, 0x04, 0, 60},
        {3, "**********", 0x31, 0x04, 180, 60},
        {5, "**********", 0x31, 0x03, 0, 60},
        {7, "**********", 0x31, 0x03, 60, 60},
        {9, "**********", 0x31, 0x03, 120, 60},
        {11, "**********", 0x32, 0x04, 60, 60},
        {35, "AB1234G567", 0x32, 0x04, 16, 6},
        {36, "AB1234G567", 0x32, 0x06, 20, 1},
        {41, "AB1234G000", 0x11, 0x04, 0, 60},
        {42, "AB1234G000", 0x11, 0x04, 1360, 54},
        {43, "AB1234G000", 0x11, 0x03, 1120, 5},
        {44, "AB1234G000", 0x01, 0x04, 60, 30},
        {13, "WG2303G286", 0x11, 0x06, 20, 0},      /* uid 0 */
        {27, "WF2125G316", 0x11, 0x03, 0, 60},      /* uid 0 */
        {30, "WF2125G316", 0x01, 0x16, 60, 60},     /* uid 0 */
    };

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        const struct vec *v = vec(t[i].num);
        const uint8_t *serial = (const uint8_t *)t[i].serial;
        uint8_t out[GIV_REQ_LEN];
        size_t len = t[i].fc == 6
                         ? giv_build_write(out, serial, t[i].device, t[i].a,
                                           t[i].b)
                         : giv_build_read(out, serial, t[i].device, t[i].fc,
                                          t[i].a, t[i].b);

        cr_assert_eq(len, v->len, "V%02d", v->num);
        /* uid-0 captures: everything but byte 6, our uid. */
        cr_assert_eq(memcmp(out, v->b, 6), 0, "V%02d", v->num);
        cr_assert_eq(out[6], 0x01, "V%02d", v->num);
        cr_assert_eq(memcmp(out + 7, v->b + 7, len - 7), 0, "V%02d",
                     v->num);
    }
}

/* V22 carries DEWET's legacy CRC (fc..count, high byte first): ours is
 * the real one, 75cb, and the rest is the same. */
Test(giv_build, v22_gets_the_real_crc)
{
    const struct vec *v = vec(22);
    uint8_t out[GIV_REQ_LEN];

    giv_build_read(out, v->b + 8, 0x32, 0x04, 0, 6);
    cr_assert_eq(memcmp(out, v->b, 32), 0);
    cr_assert_eq(out[32], 0x75);
    cr_assert_eq(out[33], 0xcb);
}

Test(giv_build, parses_back)
{
    const uint8_t *serial = (const uint8_t *)"**********";
    uint8_t out[GIV_REQ_LEN];
    struct giv_frame f;

    giv_build_read(out, serial, 0x70, 0x16, 65535, 61);
    cr_assert_eq(parse(out, sizeof(out), &f), GIV_OK);
    cr_assert_eq(f.kind, GIV_REQUEST);
    cr_assert_eq(f.device, 0x70);
    cr_assert_eq(f.fc, 0x16);
    cr_assert_eq(f.base, 65535);
    cr_assert_eq(f.count, 61);
    cr_assert_null(f.inverter_serial);
    cr_assert_null(f.values);
    giv_build_write(out, serial, 0x11, 163, 0xABCD);
    cr_assert_eq(parse(out, sizeof(out), &f), GIV_OK);
    cr_assert_eq(f.kind, GIV_REQUEST);
    cr_assert_eq(f.fc, 6);
    cr_assert_eq(f.base, 163);
    cr_assert_eq(f.count, 0xABCD);
}

/* ---------------------------------------------------------------------- */
/* Fields */

Test(giv_fields, v02_read_response)
{
    const struct vec *v = vec(2);
    struct giv_frame f;

    cr_assert_eq(parse(v->b, v->len, &f), GIV_OK);
    cr_assert_eq(f.kind, GIV_READ_RESPONSE);
    cr_assert_eq(f.uid, 0x01);
    cr_assert_eq(f.fid, 0x02);
    cr_assert_eq(memcmp(f.adapter_serial, "WG2303G286", 10), 0);
    cr_assert_eq(f.device, 0x31);
    cr_assert_eq(f.fc, 0x04);
    cr_assert_eq(memcmp(f.inverter_serial, "EA2303G286", 10), 0);
    cr_assert_eq(f.base, 0);
    cr_assert_eq(f.count, 60);
    cr_assert_eq(f.values, v->b + 42);
    cr_assert_eq(f.values[0] << 8 | f.values[1], 0x0001);
    cr_assert_eq(f.values[2] << 8 | f.values[3], 0x1197);
    cr_assert_not(giv_suspicious(&f));
}

Test(giv_fields, v14_write_echo)
{
    const struct vec *v = vec(14);
    struct giv_frame f;

    cr_assert_eq(parse(v->b, v->len, &f), GIV_OK);
    cr_assert_eq(f.kind, GIV_WRITE_RESPONSE);
    cr_assert_eq(f.device, 0x11);
    cr_assert_eq(f.fc, 0x06);
    cr_assert_eq(memcmp(f.inverter_serial, "EA2303G286", 10), 0);
    cr_assert_eq(f.base, 20);    /* HR20 */
    cr_assert_eq(f.count, 0);    /* = 0 */
    cr_assert_null(f.values);
}

Test(giv_fields, v50_error)
{
    const struct vec *v = vec(50);
    struct giv_frame f;

    cr_assert_eq(parse(v->b, v->len, &f), GIV_OK);
    cr_assert_eq(f.kind, GIV_ERROR_RESPONSE);
    cr_assert_eq(f.device, 0x11);
    cr_assert_eq(f.fc, 0x83);
    cr_assert_eq(f.base, 1100);
    cr_assert_eq(f.count, 60);
    cr_assert_null(f.values);
}

Test(giv_fields, v51_error_count_zero)
{
    const struct vec *v = vec(51);
    struct giv_frame f;

    cr_assert_eq(parse(v->b, v->len, &f), GIV_OK);
    cr_assert_eq(f.kind, GIV_ERROR_RESPONSE);
    cr_assert_eq(f.fc, 0x84);
    cr_assert_eq(f.base, 180);
    cr_assert_eq(f.count, 0);
}

Test(giv_fields, v26_heartbeat)
{
    const struct vec *v = vec(26);
    struct giv_frame f;

    cr_assert_eq(parse(v->b, v->len, &f), GIV_OK);
    cr_assert_eq(f.kind, GIV_HEARTBEAT);
    cr_assert_eq(f.fid, 0x01);
    cr_assert_eq(memcmp(f.adapter_serial, "WF2125G316", 10), 0);
    cr_assert_eq(f.adapter_type, 0x01);
    cr_assert_null(f.inverter_serial);
}

Test(giv_fields, v13_cloud_write_request)
{
    const struct vec *v = vec(13);
    struct giv_frame f;

    cr_assert_eq(parse(v->b, v->len, &f), GIV_OK);
    cr_assert_eq(f.kind, GIV_REQUEST);
    cr_assert_eq(f.uid, 0x00);
    cr_assert_eq(f.device, 0x11);
    cr_assert_eq(f.fc, 6);
    cr_assert_eq(f.base, 20);
    cr_assert_eq(f.count, 0);
    cr_assert_null(f.inverter_serial);
}

Test(giv_fields, short_reads_and_meter)
{
    struct giv_frame f;

    cr_assert_eq(parse(vec(46)->b, vec(46)->len, &f), GIV_OK);
    cr_assert_eq(f.count, 1);
    cr_assert_eq(f.values[0] << 8 | f.values[1], 0x8001);
    cr_assert_eq(parse(vec(45)->b, vec(45)->len, &f), GIV_OK);
    cr_assert_eq(f.base, 60);
    cr_assert_eq(f.count, 30);
    cr_assert_eq(parse(vec(53)->b, vec(53)->len, &f), GIV_OK);
    cr_assert_eq(f.fc, 0x16);
    cr_assert_eq(f.device, 0x02);
    cr_assert_eq(f.count, 60);
}

Test(giv_fields, ignored_kinds)
{
    struct giv_frame f;

    cr_assert_eq(parse(vec(54)->b, vec(54)->len, &f), GIV_IGNORE);
    cr_assert_eq(f.kind, GIV_LAN_CONFIG);
    cr_assert_eq(memcmp(f.adapter_serial, "WO0000G000", 10), 0);
    cr_assert_eq(parse(vec(34)->b, vec(34)->len, &f), GIV_IGNORE);
    cr_assert_eq(f.kind, GIV_NULL_RESPONSE);
    cr_assert_eq(f.device, 0x32);
    cr_assert_eq(parse(vec(56)->b, vec(56)->len, &f), GIV_IGNORE);
    cr_assert_eq(f.kind, GIV_NULL_RESPONSE);
    cr_assert_eq(f.device, 0x33);
}

/* ---------------------------------------------------------------------- */
/* Rejections and policies, on mutated vectors */

Test(giv_parse, bad_headers)
{
    static const struct {
        int    num;
        size_t at;
        uint8_t value;
    } t[] = {
        {26, 0, 0x58}, {26, 1, 0x00}, {26, 2, 0x01}, {26, 3, 0x00},
        {26, 6, 0x02}, {26, 6, 0xFF}, {26, 7, 0x00}, {26, 7, 0x03},
        {14, 5, 0x27}, {14, 4, 0x01}, {2, 7, 0x82},
    };
    uint8_t b[GIV_FRAME_MAX + 8];
    struct giv_frame f;

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        const struct vec *v = vec(t[i].num);

        memcpy(b, v->b, v->len);
        b[t[i].at] = t[i].value;
        cr_expect_eq(parse(b, v->len, &f), GIV_BAD_HEADER, "case %zu", i);
    }
    /* Fewer bytes than LEN says, or more. */
    cr_assert_eq(parse(vec(14)->b, vec(14)->len - 1, &f), GIV_BAD_HEADER);
    memcpy(b, vec(14)->b, vec(14)->len);
    b[vec(14)->len] = 0;
    cr_assert_eq(parse(b, vec(14)->len + 1, &f), GIV_BAD_HEADER);
    /* Shorter than a header. */
    for (size_t len = 0; len < 8; len++) {
        cr_assert_eq(parse(vec(26)->b, len, &f), GIV_BAD_HEADER);
    }
    /* LEN 301: one more than the dongle ever sends. */
    memset(b, 0, sizeof(b));
    memcpy(b, vec(2)->b, 26);
    set_lengths(b, 307);
    cr_assert_eq(parse(b, 307, &f), GIV_BAD_HEADER);
    set_lengths(b, 306);
    cr_assert_neq(parse(b, 306, &f), GIV_BAD_HEADER);
}

Test(giv_parse, bad_lengths)
{
    uint8_t b[GIV_FRAME_MAX];
    struct giv_frame f;
    size_t len;

    /* A heartbeat with one more byte. */
    memcpy(b, vec(26)->b, 19);
    b[19] = 0;
    b[5] = 14;
    cr_assert_eq(parse(b, 20, &f), GIV_BAD_LENGTH);
    /* A transparent frame too short to hold an inner fc. */
    memcpy(b, vec(1)->b, 27);
    set_lengths(b, 27);
    cr_assert_eq(parse(b, 27, &f), GIV_BAD_LENGTH);
    /* The 8-byte field off by one; or its high bytes set. */
    memcpy(b, vec(14)->b, 44);
    b[25] = 0x13;
    cr_assert_eq(parse(b, 44, &f), GIV_BAD_LENGTH);
    b[25] = 0x12;
    b[18] = 0x01;
    cr_assert_eq(parse(b, 44, &f), GIV_BAD_LENGTH);
    /* A write echo or an error frame with two more bytes. */
    memcpy(b, vec(14)->b, 44);
    b[44] = 0;
    b[45] = 0;
    set_lengths(b, 46);
    reseal(b, 46);
    cr_assert_eq(parse(b, 46, &f), GIV_BAD_LENGTH);
    memcpy(b, vec(50)->b, 44);
    b[44] = 0;
    b[45] = 0;
    set_lengths(b, 46);
    reseal(b, 46);
    cr_assert_eq(parse(b, 46, &f), GIV_BAD_LENGTH);
    /* A read response whose count does not fit its size, 0 or 61. */
    len = block60(b, 0);
    b[41] = 59;
    reseal(b, len);
    cr_assert_eq(parse(b, len, &f), GIV_BAD_LENGTH);
    memcpy(b, vec(46)->b, 46);
    b[41] = 0;
    reseal(b, 46);
    cr_assert_eq(parse(b, 46, &f), GIV_BAD_LENGTH);
    memset(b, 0, sizeof(b));
    memcpy(b, vec(2)->b, 42);
    b[41] = 61;
    set_lengths(b, 44 + 2 * 61);
    reseal(b, 44 + 2 * 61);
    cr_assert_eq(parse(b, 44 + 2 * 61, &f), GIV_BAD_LENGTH);
    /* A read response too short for serial, base and count. */
    memcpy(b, vec(2)->b, 40);
    set_lengths(b, 40);
    reseal(b, 40);
    cr_assert_eq(parse(b, 40, &f), GIV_BAD_LENGTH);
}

/* Every byte of V02 changed: under the CRC it is a bad CRC, in the
 * 8-byte field a bad length, in the adapter serial (outside the CRC, 2)
 * still valid. */
Test(giv_parse, every_byte_changed)
{
    const struct vec *v = vec(2);
    static const uint8_t masks[] = {0x01, 0x80, 0xFF, 0x5A};
    uint8_t b[GIV_FRAME_MAX];
    struct giv_frame f;

    for (size_t i = 8; i < v->len; i++) {
        for (size_t m = 0; m < sizeof(masks); m++) {
            enum giv_verdict want = i < 18   ? GIV_OK
                                    : i < 26 ? GIV_BAD_LENGTH
                                             : GIV_BAD_CRC;

            memcpy(b, v->b, v->len);
            b[i] ^= masks[m];
            cr_expect_eq(parse(b, v->len, &f), want, "byte %zu ^ %02x", i,
                         masks[m]);
        }
    }
}

/* fc 0x86 is an error frame, not GivTCP's "Gen1 BPM write success". */
Test(giv_parse, fc_0x86_is_an_error)
{
    uint8_t b[44];
    struct giv_frame f;

    memcpy(b, vec(14)->b, 44);
    b[27] = 0x86;
    reseal(b, 44);
    cr_assert_eq(parse(b, 44, &f), GIV_OK);
    cr_assert_eq(f.kind, GIV_ERROR_RESPONSE);
    cr_assert_eq(f.fc, 0x86);
    cr_assert_eq(f.base, 20);
}

/* A valid frame whose inner fc has no known shape is ignored, kind 0. */
Test(giv_parse, unknown_fc_ignored)
{
    static const uint8_t fcs[] = {0x00, 0x01, 0x10, 0x39, 0x7F};
    uint8_t b[GIV_FRAME_MAX];
    struct giv_frame f;

    for (size_t i = 0; i < sizeof(fcs); i++) {
        memcpy(b, vec(2)->b, vec(2)->len);
        b[27] = fcs[i];
        reseal(b, vec(2)->len);
        cr_expect_eq(parse(b, vec(2)->len, &f), GIV_IGNORE, "fc %02x",
                     fcs[i]);
        cr_expect_eq(f.kind, 0, "fc %02x", fcs[i]);
        cr_expect_eq(f.fc, fcs[i]);
        cr_expect_eq(f.device, 0x31);
        memcpy(b, vec(1)->b, 34);
        b[27] = fcs[i];
        reseal(b, 34);
        cr_expect_eq(parse(b, 34, &f), GIV_IGNORE, "request fc %02x",
                     fcs[i]);
        cr_expect_eq(f.kind, 0);
    }
    /* A request-sized error frame is no request either. */
    memcpy(b, vec(1)->b, 34);
    b[27] = 0x84;
    reseal(b, 34);
    cr_assert_eq(parse(b, 34, &f), GIV_IGNORE);
}

/* A null response must be all zero with check 0000; otherwise the CRC
 * decides. */
Test(giv_parse, null_response_strict)
{
    uint8_t b[GIV_FRAME_MAX];
    struct giv_frame f;
    size_t len = vec(34)->len;

    memcpy(b, vec(34)->b, len);
    b[len - 1] = 0x01;
    cr_assert_eq(parse(b, len, &f), GIV_BAD_CRC);
    memcpy(b, vec(34)->b, len);
    b[100] = 0x01;
    cr_assert_eq(parse(b, len, &f), GIV_BAD_CRC);
    /* fc 0, all zero, with its real CRC: valid, but no known shape. */
    memcpy(b, vec(34)->b, len);
    reseal(b, len);
    cr_assert_eq(parse(b, len, &f), GIV_IGNORE);
    cr_assert_eq(f.kind, 0);
}

/* The LAN-config text, with the ',' at byte 25 (V54) or at 26. */
Test(giv_parse, lan_config_shapes)
{
    static const char csv[] = ",192.168.1.100,255.255.255.0,192.168.1.1\r\n";
    uint8_t b[GIV_FRAME_MAX];
    struct giv_frame f;
    size_t len = 26 + (sizeof(csv) - 1) + 2;

    /* As the brief reads 1.7: 8-byte field = length, text from 26. */
    memcpy(b, vec(54)->b, 26);
    memcpy(b + 26, csv, sizeof(csv) - 1);
    b[len - 2] = 0x12;
    b[len - 1] = 0x34;
    set_lengths(b, len);
    cr_assert_eq(parse(b, len, &f), GIV_IGNORE);
    cr_assert_eq(f.kind, GIV_LAN_CONFIG);
    /* As DEWET reads it: the field's last byte is the ',' (0x2c), even
     * when the text is not 44 bytes long. */
    memcpy(b + 26, csv + 1, sizeof(csv) - 2);
    len--;
    set_lengths(b, len);
    b[25] = ',';
    cr_assert_eq(parse(b, len, &f), GIV_IGNORE);
    cr_assert_eq(f.kind, GIV_LAN_CONFIG);
    /* Not text: not a LAN config, and the CRC fails. */
    memcpy(b, vec(54)->b, vec(54)->len);
    b[40] = 0x00;
    cr_assert_eq(parse(b, vec(54)->len, &f), GIV_BAD_CRC);
    /* No CRLF at the end. */
    memcpy(b, vec(54)->b, vec(54)->len);
    b[vec(54)->len - 3] = ' ';
    cr_assert_eq(parse(b, vec(54)->len, &f), GIV_BAD_CRC);
}

/* ---------------------------------------------------------------------- */
/* The substituted block (5.4) */

static const struct {
    size_t   index;
    uint16_t value;
} substituted[] = {
    {28, 0x4C32}, {30, 0xA119}, {31, 0x34EA}, {32, 0xE77F}, {33, 0xD475},
    {35, 0x4500}, {40, 0xB619}, {41, 0xC0A8}, {43, 0xC0A8}, {46, 0xC5E9},
    {50, 0x503C}, {51, 0x8018}, {52, 0x43E0}, {53, 0xF6CE}, {56, 0x080A},
    {58, 0xFCC1}, {59, 0x661E},
};

/* A 60-register block at <base> holding the first <n> substituted values
 * from <from> on. */
static size_t
substituted_block(uint8_t *b, uint16_t base, size_t from, size_t n)
{
    size_t len = block60(b, base);

    for (size_t i = from; i < from + n; i++) {
        set_value(b, substituted[i].index, substituted[i].value);
    }
    reseal(b, len);
    return len;
}

Test(giv_suspicious, six_matches_is_suspicious)
{
    uint8_t b[GIV_FRAME_MAX];
    struct giv_frame f;
    size_t len;

    for (size_t from = 0; from + 6 <= 17; from++) {
        len = substituted_block(b, 0, from, 6);
        cr_assert_eq(parse(b, len, &f), GIV_IGNORE, "from %zu", from);
        cr_assert_eq(f.kind, GIV_READ_RESPONSE);
        cr_assert(giv_suspicious(&f));
    }
    len = substituted_block(b, 120, 0, 17);
    cr_assert_eq(parse(b, len, &f), GIV_IGNORE);
}

Test(giv_suspicious, five_matches_is_not)
{
    uint8_t b[GIV_FRAME_MAX];
    struct giv_frame f;
    size_t len;

    for (size_t from = 0; from + 5 <= 17; from++) {
        len = substituted_block(b, 0, from, 5);
        cr_assert_eq(parse(b, len, &f), GIV_OK, "from %zu", from);
        cr_assert_not(giv_suspicious(&f));
    }
    /* The other value at 40 and 50 counts too. */
    len = substituted_block(b, 0, 0, 4);
    set_value(b, 40, 0xE4F9);
    set_value(b, 50, 0x60EF);
    reseal(b, len);
    cr_assert_eq(parse(b, len, &f), GIV_IGNORE);
}

Test(giv_suspicious, only_aligned_60_blocks)
{
    uint8_t b[GIV_FRAME_MAX];
    struct giv_frame f;
    size_t len = substituted_block(b, 1, 0, 17);

    cr_assert_eq(parse(b, len, &f), GIV_OK);
    cr_assert_not(giv_suspicious(&f));
    f.base = 0;
    cr_assert(giv_suspicious(&f));
    f.count = 59;
    cr_assert_not(giv_suspicious(&f));
    f.count = 60;
    f.kind = GIV_WRITE_RESPONSE;
    cr_assert_not(giv_suspicious(&f));
}

Test(giv_misc, verdict_strings)
{
    cr_assert_str_eq(giv_verdict_str(GIV_OK), "ok");
    cr_assert_str_eq(giv_verdict_str(GIV_IGNORE), "ignored");
    cr_assert_str_eq(giv_verdict_str(GIV_BAD_CRC), "bad CRC");
    cr_assert_str_eq(giv_verdict_str(GIV_BAD_LENGTH), "bad length");
    cr_assert_str_eq(giv_verdict_str(GIV_BAD_HEADER), "bad header");
    cr_assert_str_eq(giv_verdict_str((enum giv_verdict)42),
                     "bad GivEnergy verdict");
}

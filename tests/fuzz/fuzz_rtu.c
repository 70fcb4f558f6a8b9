/* SPDX-License-Identifier: MIT */
/*
 * fuzz_rtu.c -- libFuzzer target for the Modbus RTU codec
 * (backends/rtu_frame.c, with the PDU rules of proxy/pdu.c).
 *
 * Input: unit byte U, chunk byte C, one byte N, then a request PDU of N
 * bytes, then the received byte stream (the rest, at most STREAM_MAX
 * bytes). The high bit of C says whether the line echoes. Only requests
 * that pdu_check_request() accepts are used, as the backends only ever send
 * those.
 *
 * rtu_frame_expected() and rtu_frame_check() run on every prefix of the
 * stream, each prefix copied to the end of a heap block so that ASan sees
 * any read past it. Invariants:
 * - RTU_OK holds exactly when the bytes are unit U, a frame of the
 *   expected length (<= the prefix, <= RTU_FRAME_MAX) with a valid CRC
 *   that pdu_check_response() accepts; *frame_len is that length;
 * - RTU_UNKNOWN_LEN only without a length rule, with a valid CRC over the
 *   whole prefix of 4..RTU_FRAME_MAX bytes;
 * - a final verdict (RTU_OK or any RTU_BAD_*) never changes as bytes are
 *   added; RTU_NEED_MORE only before the expected length is there.
 * rtu_frame_find() runs on the whole stream: off <= len, a found frame
 * lies inside the stream and passes rtu_frame_check(); the offset it
 * leaves is a possible start (or, on a line that echoes, where bytes
 * begin like the request frame). Then the stream is fed to it in chunks
 * of C % 64 + 1 bytes the way a backend does (append, find, drop what lies
 * before off): the result must be the same frame at the same place.
 * The collector (rtu_rx) fed the same chunks finds the same response, and
 * accounts for every byte: once the response is taken and the rest
 * drained, every other byte pushed is counted as dropped, exactly once.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc16.h"
#include "pdu.h"
#include "rtu_frame.h"
#include "rtu_rx.h"

#define PDU_MAX 253
#define STREAM_MAX 768 /* three maximum frames and some garbage */

#define CHECK(c)                                                               \
    do {                                                                       \
        if (!(c)) {                                                            \
            fprintf(stderr, "fuzz_rtu: check failed: %s (line %d)\n", #c,      \
                    __LINE__);                                                 \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* A heap copy of exactly <len> bytes (at least 1 byte allocated). */
static uint8_t *
dup_exact(const uint8_t *p, size_t len)
{
    uint8_t *q = malloc(len ? len : 1);

    CHECK(q != NULL);
    if (len > 0) {
        memcpy(q, p, len);
    }
    return q;
}

static bool
crc_ok(const uint8_t *f, size_t len)
{
    uint16_t crc;

    if (len < 3) {
        return false;
    }
    crc = crc16_modbus(f, len - 2);
    return f[len - 2] == (crc & 0xFF) && f[len - 1] == crc >> 8;
}

static bool
is_final(enum rtu_verdict v)
{
    return v != RTU_NEED_MORE && v != RTU_UNKNOWN_LEN;
}

static bool
is_verdict(enum rtu_verdict v)
{
    switch (v) {
    case RTU_OK:
    case RTU_NEED_MORE:
    case RTU_UNKNOWN_LEN:
    case RTU_BAD_CRC:
    case RTU_BAD_UNIT:
    case RTU_BAD_FUNCTION:
    case RTU_BAD_LENGTH:
        return true;
    default:
        return false;
    }
}

/* What rtu_frame_check() must say RTU_OK to, from the definitions. */
static bool
oracle_ok(uint8_t unit, const uint8_t *req, size_t req_len, const uint8_t *rx,
          size_t k, int want)
{
    return k >= 2 && rx[0] == unit && want >= 5 && k >= (size_t)want &&
           (size_t)want <= RTU_FRAME_MAX && crc_ok(rx, (size_t)want) &&
           pdu_check_response(req, req_len, rx + 1, (size_t)want - 3);
}

/* Every prefix of <rx> (<len> bytes) through expected() and check(). */
static void
check_prefixes(uint8_t unit, const uint8_t *req, size_t req_len,
               const uint8_t *rx, size_t len)
{
    uint8_t *blk = malloc(len ? len : 1);
    enum rtu_verdict prev = RTU_NEED_MORE;
    size_t prev_len = 0;

    CHECK(blk != NULL);
    for (size_t k = 0; k <= len; k++) {
        /* End-aligned: a read past the k bytes leaves the block. */
        uint8_t *p = blk + (len - k);
        size_t flen = 0xDEAD;
        enum rtu_verdict v;
        int want;

        memcpy(p, rx, k);
        want = rtu_frame_expected(req, req_len, p, k);
        v = rtu_frame_check(unit, req, req_len, p, k, &flen);
        CHECK(is_verdict(v));
        CHECK(rtu_verdict_str(v) != NULL);
        CHECK(k < 2 ? want == 0 : (want == -1 || want >= 5));
        CHECK((v == RTU_OK) == oracle_ok(unit, req, req_len, p, k, want));
        if (v == RTU_OK) {
            CHECK((int)flen == want && flen <= k && flen <= RTU_FRAME_MAX);
            CHECK(crc_ok(p, flen));
        } else if (v == RTU_UNKNOWN_LEN) {
            CHECK(want == -1 && flen == k && k >= 4 && k <= RTU_FRAME_MAX);
            CHECK(crc_ok(p, k));
        } else {
            CHECK(flen == 0xDEAD);
        }
        if (v == RTU_NEED_MORE && want > 0) {
            CHECK(k < (size_t)want);
        }
        if (is_final(prev)) {
            CHECK(v == prev);
            CHECK(v != RTU_OK || flen == prev_len);
        }
        prev = v;
        prev_len = flen;
    }
    free(blk);
}

/* rtu_frame_find() on <len> bytes at <buf>, from an exact heap copy. */
static int
find_exact(uint8_t unit, const uint8_t *req, size_t req_len, bool echo,
           const uint8_t *buf, size_t len, size_t *off, size_t *flen)
{
    uint8_t *copy = dup_exact(buf, len);
    int r;

    *off = 0xDEAD;
    *flen = 0xDEAD;
    r = rtu_frame_find(unit, req, req_len, echo, copy, len, off, flen);
    CHECK(r == 0 || r == 1);
    CHECK(*off <= len);
    if (r == 1) {
        size_t clen = 0;

        CHECK(*flen >= RTU_FRAME_MIN && *off + *flen <= len);
        CHECK(rtu_frame_check(unit, req, req_len, copy + *off, len - *off,
                              &clen) == RTU_OK);
        CHECK(clen == *flen);
    } else if (*off < len) {
        size_t clen = 0;
        enum rtu_verdict v =
            rtu_frame_check(unit, req, req_len, copy + *off, len - *off, &clen);
        uint8_t rf[RTU_FRAME_MAX];
        size_t rn = rtu_frame_encode(rf, unit, req, req_len);
        size_t k = len - *off < rn ? len - *off : rn;
        bool like = echo && memcmp(copy + *off, rf, k) == 0;

        CHECK(v == RTU_NEED_MORE || v == RTU_UNKNOWN_LEN || like);
        CHECK(*flen == (v == RTU_UNKNOWN_LEN && !like ? len - *off : 0));
    } else {
        CHECK(*flen == 0);
    }
    free(copy);
    return r;
}

/* The collector the backends use (rtu_rx), fed in <chunk>-byte reads
 * into its bounded buffer: it finds a response exactly when find() on the
 * whole stream does, and what it returns or settles on checks out. Then,
 * as a backend does, the rest of the stream is drained as copies: every
 * byte but the response's ends up counted as dropped, once. */
static void
check_collector(uint8_t unit, const uint8_t *req, size_t req_len, bool echo,
                const uint8_t *rx, size_t len, size_t chunk, bool found)
{
    static struct rtu_rx col;
    size_t pos = 0, plen = 0, dropped = 0, taken = 0, rest;
    bool done = false;
    const uint8_t *pdu;

    rtu_rx_start(&col, unit, req, req_len, echo);
    while (!done && pos < len) {
        size_t n = len - pos < chunk ? len - pos : chunk;

        done = rtu_rx_push(&col, rx + pos, n);
        pos += n;
        CHECK(col.len <= sizeof(col.buf));
        CHECK(col.unread <= n);
    }
    if (len <= RTU_RX_MAX) {
        CHECK(done == found);
    }
    rest = done ? col.unread : 0;
    if (done || rtu_rx_settle(&col) == RTU_OK) {
        pdu = rtu_rx_pdu(&col, &plen);
        CHECK(plen >= 1 && plen <= 253);
        CHECK(pdu >= col.buf && pdu + plen + 2 <= col.buf + col.len);
        CHECK(crc_ok(pdu - 1, plen + 3));
        CHECK(pdu[-1] == unit);
        taken = plen + 3;
        dropped += rtu_rx_take_dropped(&col);
        rtu_rx_next(&col);
    }
    /* The bytes not taken in yet, then the rest of the stream. */
    rtu_rx_drain(&col, rx + pos - rest, rest);
    while (pos < len) {
        size_t n = len - pos < chunk ? len - pos : chunk;

        rtu_rx_drain(&col, rx + pos, n);
        pos += n;
    }
    rtu_rx_drain_end(&col);
    dropped += rtu_rx_take_dropped(&col);
    CHECK(col.len == 0);
    CHECK(dropped + taken == len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t unit, frame[RTU_FRAME_MAX], *req, *held;
    size_t req_len, len, chunk, off, flen, c_off, c_flen, dropped, hl, pos;
    const uint8_t *rx;
    bool echo;
    int r, c_r;

    if (size < 3) {
        return 0;
    }
    unit = data[0];
    chunk = data[1] % 64 + 1;
    echo = (data[1] & 0x80) != 0;
    req_len = data[2];
    if (req_len < 1 || req_len > PDU_MAX || req_len > size - 3) {
        return 0;
    }
    rx = data + 3 + req_len;
    len = size - 3 - req_len;
    if (len > STREAM_MAX) {
        return 0;
    }
    req = dup_exact(data + 3, req_len);
    if (pdu_check_request(req, req_len) != MB_EX_NONE) {
        free(req);
        return 0;
    }

    CHECK(rtu_frame_encode(frame, unit, req, req_len) == req_len + 3);
    CHECK(frame[0] == unit && memcmp(frame + 1, req, req_len) == 0);
    CHECK(crc_ok(frame, req_len + 3));

    check_prefixes(unit, req, req_len, rx, len);
    r = find_exact(unit, req, req_len, echo, rx, len, &off, &flen);

    /* The backend's loop, in chunks. */
    held = malloc(len ? len : 1);
    CHECK(held != NULL);
    hl = 0;
    pos = 0;
    dropped = 0;
    c_r = 0;
    c_off = 0;
    c_flen = 0;
    do {
        size_t n = len - pos < chunk ? len - pos : chunk;

        memcpy(held + hl, rx + pos, n);
        hl += n;
        pos += n;
        c_r = find_exact(unit, req, req_len, echo, held, hl, &c_off, &c_flen);
        if (c_r == 0) {
            memmove(held, held + c_off, hl - c_off);
            hl -= c_off;
            dropped += c_off;
            c_off = 0;
        }
    } while (c_r == 0 && pos < len);
    CHECK(c_r == r);
    CHECK(dropped + c_off == off);
    CHECK(c_flen == flen);
    free(held);
    check_collector(unit, req, req_len, echo, rx, len, chunk, r == 1);
    free(req);
    return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * fuzz_giv.c -- libFuzzer target for the GivEnergy dongle codec
 * (backends/givenergy_frame.c).
 *
 * Input: one control byte, then N chunk-length bytes (N = control & 7),
 * then the byte stream (at most STREAM_MAX bytes). The stream is fed to
 * one giv_rx in chunks of those lengths (cycling; 0 is an empty read; with
 * none, or all 0, byte by byte) and to a second giv_rx in one call. Both
 * must deliver the same sequence of (verdict, frame length, frame bytes),
 * end with the same skipped count and hold the same bytes: how the socket
 * cuts the stream must never matter. Every delivered frame must:
 * - be 19..GIV_FRAME_MAX bytes of the stream itself, later in the stream
 *   than the frame before it;
 * - get from giv_parse() the verdict it was delivered with (a GIV_OK frame
 *   re-parses to GIV_OK, with the same kind);
 * - when GIV_OK or GIV_IGNORE, have every pointer of its giv_frame inside
 *   the frame, and a read response's values before its CRC.
 * After every feed, every byte fed is in a GIV_OK/GIV_IGNORE frame, in
 * rx->skipped or held, and less than GIV_FRAME_MAX bytes are held: the
 * stream's last ones. Requests built from the first 16 stream bytes must
 * parse back to GIV_OK GIV_REQUEST with the same fields.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "givenergy_frame.h"

#define STREAM_MAX 4096
/* Each callback drops at least 4 bytes or consumes a frame. */
#define MAX_FRAMES (STREAM_MAX / 4 + 1)

#define CHECK(c)                                                               \
    do {                                                                       \
        if (!(c)) {                                                            \
            fprintf(stderr, "fuzz_giv: check failed: %s (line %d)\n", #c,      \
                    __LINE__);                                                 \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* One delivered frame. */
struct rec {
    enum giv_verdict v;
    size_t           len;
    uint8_t          b[GIV_FRAME_MAX];
};

/* Callback state for one of the two feeds. */
struct run {
    const uint8_t *stream;    /* the whole stream */
    size_t         stream_len;
    size_t         next;      /* where the next frame may start */
    uint64_t       used;      /* bytes in GIV_OK and GIV_IGNORE frames */
    size_t         n;
    struct rec     r[MAX_FRAMES];
};

static struct run chunked, whole;

/* True when [p, p + n) lies inside [frame, frame + len). */
static bool
inside(const uint8_t *p, size_t n, const uint8_t *frame, size_t len)
{
    return p >= frame && n <= len && (size_t)(p - frame) <= len - n;
}

/* The pointers of <f>, parsed from <frame>, stay inside it. */
static void
check_frame(const uint8_t *frame, size_t len, const struct giv_frame *f)
{
    CHECK(f->adapter_serial == NULL ||
          inside(f->adapter_serial, GIV_SERIAL_LEN, frame, len));
    CHECK(f->inverter_serial == NULL ||
          inside(f->inverter_serial, GIV_SERIAL_LEN, frame, len));
    if (f->kind == GIV_READ_RESPONSE) {
        CHECK(f->count >= 1 && f->count <= GIV_REGS_MAX);
        CHECK(f->values != NULL);
        CHECK(inside(f->values, 2 * (size_t)f->count + 2, frame, len));
        CHECK(f->values + 2 * (size_t)f->count + 2 == frame + len);
    } else {
        CHECK(f->values == NULL);
    }
    if (f->kind == GIV_HEARTBEAT) {
        CHECK(len == GIV_HEARTBEAT_LEN);
    }
}

/* Find the <len> bytes at <frame> in the stream at or after r->next. */
static void
check_in_stream(struct run *r, const uint8_t *frame, size_t len)
{
    for (size_t off = r->next; off + len <= r->stream_len; off++) {
        if (memcmp(r->stream + off, frame, len) == 0) {
            r->next = off + 1;
            return;
        }
    }
    CHECK(!"frame not in the stream");
}

static void
frame_cb(void *ctx, const uint8_t *frame, size_t len, enum giv_verdict v,
         const struct giv_frame *f)
{
    struct run *r = ctx;
    struct giv_frame again;

    CHECK(f != NULL);
    CHECK(len >= GIV_HEARTBEAT_LEN && len <= GIV_FRAME_MAX);
    CHECK(v == GIV_OK || v == GIV_IGNORE || v == GIV_BAD_CRC ||
          v == GIV_BAD_LENGTH || v == GIV_BAD_HEADER);
    CHECK(giv_parse(frame, len, &again) == v);
    if (v >= 0) {
        CHECK(again.kind == f->kind);
        check_frame(frame, len, f);
        r->used += len;
    }
    if (v == GIV_OK) {
        CHECK(f->kind >= GIV_HEARTBEAT && f->kind <= GIV_REQUEST);
    }
    check_in_stream(r, frame, len);
    CHECK(r->n < MAX_FRAMES);
    r->r[r->n].v = v;
    r->r[r->n].len = len;
    memcpy(r->r[r->n].b, frame, len);
    r->n++;
}

/* After <fed> bytes: every byte is used, skipped or held; the held ones
 * are the last ones fed, and fewer than a frame. */
static void
check_rx(const struct run *r, const struct giv_rx *rx, size_t fed)
{
    CHECK(r->used + rx->skipped + rx->len == fed);
    CHECK(rx->len < GIV_FRAME_MAX);
    CHECK(memcmp(rx->buf, r->stream + fed - rx->len, rx->len) == 0);
}

/* Requests built from the 16 bytes at <p> parse back to themselves. */
static void
check_build(const uint8_t *p)
{
    static const uint8_t read_fcs[] = {0x03, 0x04, 0x16};
    uint8_t out[GIV_REQ_LEN];
    struct giv_frame f;
    uint8_t fc = read_fcs[p[11] % 3];
    uint16_t a = (uint16_t)(p[12] << 8 | p[13]);
    uint16_t b = (uint16_t)(p[14] << 8 | p[15]);

    CHECK(giv_build_read(out, p, p[10], fc, a, b) == GIV_REQ_LEN);
    CHECK(giv_parse(out, GIV_REQ_LEN, &f) == GIV_OK);
    CHECK(f.kind == GIV_REQUEST && f.uid == 0x01 && f.fid == 0x02);
    CHECK(f.device == p[10] && f.fc == fc && f.base == a && f.count == b);
    CHECK(memcmp(f.adapter_serial, p, GIV_SERIAL_LEN) == 0);
    CHECK(giv_build_write(out, p, p[10], a, b) == GIV_REQ_LEN);
    CHECK(giv_parse(out, GIV_REQ_LEN, &f) == GIV_OK);
    CHECK(f.kind == GIV_REQUEST && f.fc == 6 && f.base == a && f.count == b);
}

static void
run_reset(struct run *r, const uint8_t *stream, size_t len)
{
    r->stream = stream;
    r->stream_len = len;
    r->next = 0;
    r->used = 0;
    r->n = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct giv_rx rx1, rx2;
    const uint8_t *lens, *stream;
    size_t n_lens, len, pos = 0, k = 0;
    bool any_len = false;

    if (size < 1) {
        return 0;
    }
    n_lens = data[0] & 7u;
    if (size < 1 + n_lens || size - 1 - n_lens > STREAM_MAX) {
        return 0;
    }
    lens = data + 1;
    stream = data + 1 + n_lens;
    len = size - 1 - n_lens;
    for (size_t i = 0; i < n_lens; i++) {
        any_len = any_len || lens[i] != 0;
    }
    if (len >= 16) {
        check_build(stream);
    }

    /* Chunked: lengths cycle; with none given (or all 0), byte by byte. */
    run_reset(&chunked, stream, len);
    giv_rx_init(&rx1);
    while (pos < len) {
        size_t n = any_len ? lens[k++ % n_lens] : 1;

        if (n > len - pos) {
            n = len - pos;
        }
        giv_rx_feed(&rx1, stream + pos, n, frame_cb, &chunked);
        pos += n;
        check_rx(&chunked, &rx1, pos);
    }

    /* Whole: one call. */
    run_reset(&whole, stream, len);
    giv_rx_init(&rx2);
    giv_rx_feed(&rx2, stream, len, frame_cb, &whole);
    check_rx(&whole, &rx2, len);

    CHECK(chunked.n == whole.n);
    for (size_t i = 0; i < whole.n; i++) {
        CHECK(chunked.r[i].v == whole.r[i].v);
        CHECK(chunked.r[i].len == whole.r[i].len);
        CHECK(memcmp(chunked.r[i].b, whole.r[i].b, whole.r[i].len) == 0);
    }
    CHECK(rx1.skipped == rx2.skipped);
    CHECK(rx1.len == rx2.len);
    CHECK(memcmp(rx1.buf, rx2.buf, rx2.len) == 0);
    return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * test_givenergy_rx.c -- the GivEnergy deframer (giv_rx of
 * backends/givenergy_frame.c) on the 56 captured vectors of
 * tests/fixtures/givenergy_vectors.tsv fed whole, byte by byte and in
 * random splits, and on garbage, spliced frames, corrupt markers and
 * impossible headers. Every byte fed must end in a delivered frame, the
 * skipped count or the held tail; however a stream is cut, the same
 * frames come out with the verdicts giv_parse() gives them.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "giv_vectors.h"

#define STREAM_MAX  8192       /* every vector, one after the other */
#define LOG_MAX     160

/* ---------------------------------------------------------------------- */
/* Streams */

/* Bytes: a frame or a stream. */
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
append_vec(struct bytes *s, int num)
{
    append(s, vec(num)->b, vec(num)->len);
}

/* ---------------------------------------------------------------------- */
/* What the deframer delivered */

struct rec {
    enum giv_verdict v;
    enum giv_kind    kind;
    size_t           len;
    uint8_t          b[GIV_FRAME_MAX];
};

struct log {
    size_t     n;
    uint64_t   used;          /* bytes of GIV_OK and GIV_IGNORE frames */
    struct rec r[LOG_MAX];
};

static struct log log_a, log_b;

static void
record_cb(void *ctx, const uint8_t *frame, size_t len, enum giv_verdict v,
          const struct giv_frame *f)
{
    struct log *lg = ctx;
    struct giv_frame again;

    cr_assert_not_null(f);
    cr_assert_leq(len, GIV_FRAME_MAX);
    cr_assert_eq(giv_parse(frame, len, &again), v, "verdict not giv_parse's");
    cr_assert_lt(lg->n, LOG_MAX, "too many frames");
    lg->r[lg->n].v = v;
    lg->r[lg->n].kind = v >= 0 ? f->kind : 0;
    lg->r[lg->n].len = len;
    memcpy(lg->r[lg->n].b, frame, len);
    lg->n++;
    if (v >= 0) {
        lg->used += len;
    }
}

/* Every byte fed is in a delivered frame, skipped, or held. */
static void
check_accounting(const struct giv_rx *rx, const struct log *lg, size_t fed)
{
    cr_assert_eq(lg->used + rx->skipped + rx->len, fed,
                 "used %llu + skipped %llu + held %zu != fed %zu",
                 (unsigned long long)lg->used,
                 (unsigned long long)rx->skipped, rx->len, fed);
    cr_assert_lt(rx->len, GIV_FRAME_MAX);
}

static void
feed_whole(struct giv_rx *rx, const struct bytes *s, struct log *lg)
{
    memset(lg, 0, sizeof(*lg));
    giv_rx_init(rx);
    giv_rx_feed(rx, s->b, s->len, record_cb, lg);
    check_accounting(rx, lg, s->len);
}

static void
feed_bytewise(struct giv_rx *rx, const struct bytes *s, struct log *lg)
{
    memset(lg, 0, sizeof(*lg));
    giv_rx_init(rx);
    for (size_t i = 0; i < s->len; i++) {
        giv_rx_feed(rx, s->b + i, 1, record_cb, lg);
        check_accounting(rx, lg, i + 1);
    }
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
feed_random(struct giv_rx *rx, const struct bytes *s, struct log *lg,
            uint32_t seed, size_t max)
{
    size_t pos = 0;

    memset(lg, 0, sizeof(*lg));
    giv_rx_init(rx);
    while (pos < s->len) {
        size_t n = xorshift(&seed) % max;

        if (n > s->len - pos) {
            n = s->len - pos;
        }
        giv_rx_feed(rx, s->b + pos, n, record_cb, lg);
        pos += n;
        check_accounting(rx, lg, pos);
    }
}

static void
same_logs(const struct log *a, const struct log *b, const char *what)
{
    cr_assert_eq(a->n, b->n, "%s: %zu frames vs %zu", what, a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        cr_assert_eq(a->r[i].v, b->r[i].v, "%s: frame %zu verdict", what, i);
        cr_assert_eq(a->r[i].len, b->r[i].len, "%s: frame %zu len", what, i);
        cr_assert_eq(memcmp(a->r[i].b, b->r[i].b, a->r[i].len), 0,
                     "%s: frame %zu bytes", what, i);
    }
}

static void
is_vec(const struct rec *r, int num, enum giv_verdict v)
{
    cr_assert_eq(r->v, v, "V%02d: verdict %d", num, r->v);
    cr_assert_eq(r->len, vec(num)->len, "V%02d: length", num);
    cr_assert_eq(memcmp(r->b, vec(num)->b, r->len), 0, "V%02d: bytes", num);
}

/* ---------------------------------------------------------------------- */
/* The deframer */

static struct giv_rx rx_a, rx_b;
static struct bytes stream;

Test(giv_rx, each_vector_alone)
{
    load_vectors();
    for (size_t i = 0; i < n_vecs; i++) {
        const struct vec *v = &vecs[i];

        stream.len = 0;
        append(&stream, v->b, v->len);
        feed_whole(&rx_a, &stream, &log_a);
        cr_assert_eq(log_a.n, 1, "V%02d: %zu frames", v->num, log_a.n);
        is_vec(&log_a.r[0], v->num, v->want);
        if (v->want >= 0) {
            cr_assert_eq(log_a.r[0].kind, v->want_kind, "V%02d", v->num);
            cr_assert_eq(rx_a.skipped, 0, "V%02d", v->num);
        }
        cr_assert_eq(rx_a.len, 0, "V%02d", v->num);
        feed_bytewise(&rx_b, &stream, &log_b);
        same_logs(&log_a, &log_b, "byte by byte");
    }
}

/* All 56 vectors back to back: 56 frames with their verdicts, however the
 * stream is cut. */
Test(giv_rx, all_vectors_any_split)
{
    load_vectors();
    stream.len = 0;
    for (size_t i = 0; i < n_vecs; i++) {
        append(&stream, vecs[i].b, vecs[i].len);
    }
    feed_whole(&rx_a, &stream, &log_a);
    cr_assert_eq(log_a.n, n_vecs);
    for (size_t i = 0; i < n_vecs; i++) {
        is_vec(&log_a.r[i], vecs[i].num, vecs[i].want);
    }
    feed_bytewise(&rx_b, &stream, &log_b);
    same_logs(&log_a, &log_b, "byte by byte");
    for (uint32_t seed = 1; seed <= 200; seed++) {
        size_t max = seed % 4 == 0 ? 700 : 2 + seed % 64;

        feed_random(&rx_b, &stream, &log_b, seed * 2654435761u, max);
        same_logs(&log_a, &log_b, "random split");
    }
}

Test(giv_rx, garbage_before_a_frame)
{
    static const uint8_t junk[] = {0x00, 0x59, 0x59, 0x00, 0x02, 0x59,
                                   0xFF, 0x59, 0x59, 0x12, 0x59};

    stream.len = 0;
    append(&stream, junk, sizeof(junk));
    append_vec(&stream, 14);
    feed_whole(&rx_a, &stream, &log_a);
    cr_assert_eq(log_a.n, 1);
    is_vec(&log_a.r[0], 14, GIV_OK);
    cr_assert_eq(rx_a.skipped, sizeof(junk));
}

Test(giv_rx, two_frames_in_one_read)
{
    stream.len = 0;
    append_vec(&stream, 26);
    append_vec(&stream, 2);
    feed_whole(&rx_a, &stream, &log_a);
    cr_assert_eq(log_a.n, 2);
    is_vec(&log_a.r[0], 26, GIV_OK);
    cr_assert_eq(log_a.r[0].kind, GIV_HEARTBEAT);
    is_vec(&log_a.r[1], 2, GIV_OK);
    cr_assert_eq(rx_a.skipped, 0);
    cr_assert_eq(rx_a.len, 0);
}

/* 5.4: a frame cut after 30 bytes, the next one right behind it. The cut
 * frame takes 164 bytes of the stream and fails; the search resumes
 * inside it and finds V04. */
Test(giv_rx, spliced_frame)
{
    stream.len = 0;
    append(&stream, vec(2)->b, 30);
    append_vec(&stream, 4);
    feed_whole(&rx_a, &stream, &log_a);
    cr_assert_eq(log_a.n, 2);
    cr_assert_eq(log_a.r[0].len, 164);
    cr_assert_lt(log_a.r[0].v, 0);
    is_vec(&log_a.r[1], 4, GIV_OK);
    cr_assert_eq(rx_a.skipped, 30);
    cr_assert_eq(rx_a.len, 0);
    feed_bytewise(&rx_b, &stream, &log_b);
    same_logs(&log_a, &log_b, "byte by byte");
}

/* A bad frame followed directly by a good one: both are delivered. */
Test(giv_rx, bad_frame_then_good)
{
    stream.len = 0;
    append_vec(&stream, 22);
    append_vec(&stream, 1);
    append_vec(&stream, 38);
    append_vec(&stream, 50);
    feed_whole(&rx_a, &stream, &log_a);
    cr_assert_eq(log_a.n, 4);
    is_vec(&log_a.r[0], 22, GIV_BAD_CRC);
    is_vec(&log_a.r[1], 1, GIV_OK);
    is_vec(&log_a.r[2], 38, GIV_BAD_LENGTH);
    is_vec(&log_a.r[3], 50, GIV_OK);
}

/* A marker with a plausible header, and another marker 10 bytes on: the
 * first is corrupt and skipped without a verdict. */
Test(giv_rx, marker_less_than_18_before_a_frame)
{
    static const uint8_t junk[] = {0x59, 0x59, 0x00, 0x01, 0x00, 0x1c,
                                   0x01, 0x02, 0x41, 0x42};

    stream.len = 0;
    append(&stream, junk, sizeof(junk));
    append_vec(&stream, 14);
    feed_whole(&rx_a, &stream, &log_a);
    cr_assert_eq(log_a.n, 1);
    is_vec(&log_a.r[0], 14, GIV_OK);
    cr_assert_eq(rx_a.skipped, sizeof(junk));
    feed_bytewise(&rx_b, &stream, &log_b);
    same_logs(&log_a, &log_b, "byte by byte");
    /* 18 bytes on is far enough: the first marker is a (bad) frame. */
    stream.len = 0;
    append(&stream, junk, sizeof(junk));
    append(&stream, junk + 2, 8);
    append_vec(&stream, 14);
    feed_whole(&rx_a, &stream, &log_a);
    cr_assert_eq(log_a.n, 2);
    cr_assert_eq(log_a.r[0].len, 34);
    is_vec(&log_a.r[1], 14, GIV_OK);
}

/* Headers no frame has are dropped 4 bytes at a time, without a verdict. */
Test(giv_rx, impossible_headers)
{
    static const uint8_t bad[][8] = {
        {0x59, 0x59, 0x00, 0x01, 0xFF, 0xFF, 0x01, 0x02}, /* LEN 65535 */
        {0x59, 0x59, 0x00, 0x01, 0x01, 0x2D, 0x01, 0x02}, /* LEN 301 */
        {0x59, 0x59, 0x00, 0x01, 0x00, 0x0C, 0x01, 0x01}, /* LEN 12 */
        {0x59, 0x59, 0x00, 0x01, 0x00, 0x0D, 0x02, 0x01}, /* uid 2 */
        {0x59, 0x59, 0x00, 0x01, 0x00, 0x0D, 0x01, 0x03}, /* fid 3 */
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        stream.len = 0;
        append(&stream, bad[i], 8);
        append_vec(&stream, 26);
        feed_whole(&rx_a, &stream, &log_a);
        cr_assert_eq(log_a.n, 1, "case %zu", i);
        is_vec(&log_a.r[0], 26, GIV_OK);
        cr_assert_eq(rx_a.skipped, 8);
    }
}

/* A heartbeat must be answered within 5 s: it is delivered with its 19th
 * byte, not when more data comes. */
Test(giv_rx, heartbeat_delivered_at_once)
{
    const struct vec *v = vec(26);

    memset(&log_a, 0, sizeof(log_a));
    giv_rx_init(&rx_a);
    giv_rx_feed(&rx_a, v->b, 18, record_cb, &log_a);
    cr_assert_eq(log_a.n, 0);
    cr_assert_eq(rx_a.len, 18);
    giv_rx_feed(&rx_a, v->b + 18, 1, record_cb, &log_a);
    cr_assert_eq(log_a.n, 1);
    is_vec(&log_a.r[0], 26, GIV_OK);
    cr_assert_eq(rx_a.len, 0);
}

/* Only markers inside the candidate's own bytes make it corrupt: a
 * heartbeat whose last bytes and the next byte look like a marker 16 bytes
 * on is still delivered, at its 19th byte, however the stream is cut. */
Test(giv_rx, heartbeat_ending_like_a_marker)
{
    static const uint8_t after[] = {0x01, 0x00, 0x33};
    uint8_t hb[GIV_HEARTBEAT_LEN];

    memcpy(hb, vec(26)->b, sizeof(hb));
    hb[16] = 0x59;
    hb[17] = 0x59;
    hb[18] = 0x00;
    stream.len = 0;
    append(&stream, hb, sizeof(hb));
    append(&stream, after, sizeof(after));
    feed_whole(&rx_a, &stream, &log_a);
    cr_assert_eq(log_a.n, 1);
    cr_assert_eq(log_a.r[0].v, GIV_OK);
    cr_assert_eq(log_a.r[0].kind, GIV_HEARTBEAT);
    cr_assert_eq(memcmp(log_a.r[0].b, hb, sizeof(hb)), 0);
    feed_bytewise(&rx_b, &stream, &log_b);
    same_logs(&log_a, &log_b, "byte by byte");
}

/* What may start a frame is kept; what cannot is dropped. */
Test(giv_rx, partial_frames_kept)
{
    static const uint8_t tail[] = {0x33, 0x59, 0x59, 0x00};
    const struct vec *v = vec(2);

    memset(&log_a, 0, sizeof(log_a));
    giv_rx_init(&rx_a);
    giv_rx_feed(&rx_a, tail, sizeof(tail), record_cb, &log_a);
    cr_assert_eq(rx_a.len, 3);
    cr_assert_eq(rx_a.skipped, 1);
    giv_rx_feed(&rx_a, v->b + 3, 97, record_cb, &log_a);
    cr_assert_eq(log_a.n, 0);
    cr_assert_eq(rx_a.len, 100);
    giv_rx_feed(&rx_a, NULL, 0, record_cb, &log_a);
    cr_assert_eq(rx_a.len, 100);
    giv_rx_feed(&rx_a, v->b + 100, v->len - 100, record_cb, &log_a);
    cr_assert_eq(log_a.n, 1);
    is_vec(&log_a.r[0], 2, GIV_OK);
    cr_assert_eq(rx_a.len, 0);
    cr_assert_eq(rx_a.skipped, 1);
}

/* More garbage than the buffer holds, in one read, then a frame. */
Test(giv_rx, long_garbage)
{
    stream.len = 0;
    for (size_t i = 0; i < 3 * GIV_RX_MAX; i++) {
        uint8_t c = (uint8_t)(i % 3 == 0 ? 0x59 : i);

        append(&stream, &c, 1);
    }
    append_vec(&stream, 49);
    feed_whole(&rx_a, &stream, &log_a);
    cr_assert_eq(log_a.n, 1);
    is_vec(&log_a.r[0], 49, GIV_OK);
    cr_assert_eq(rx_a.skipped, 3 * GIV_RX_MAX);
}

/* SPDX-License-Identifier: MIT */
/*
 * test_mbap.c -- the MBAP codec and the stream reassembler (proxy/mbap.c).
 *
 * mbap_decode() is checked against a table of raw headers (every status,
 * the length bounds 0, 1, 2, 254, 255 and 0xFFFF, and the header fields it
 * fills), mbap_encode() by exact bytes and a decode round trip. The
 * reassembler is fed the same byte streams cut up in every way a socket
 * could deliver them: whole, pipelined, split at every position, split
 * three ways, byte by byte, a maximum-size frame, a bad header after good
 * frames, and a callback that asks it to stop. Every delivered frame is
 * compared with the frames the stream was built from.
 */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core.h"
#include "mbap.h"

/* ---------------------------------------------------------------------- */
/* A frame collector used as the reassembler's callback context. */

#define MAX_FRAMES 128

/* One frame as the callback saw it. */
struct seen {
    struct mbap hdr;                 /* header passed to the callback */
    size_t      pdu_len;             /* PDU length passed */
    uint8_t     pdu[MB_PDU_MAX];     /* copy of the PDU bytes */
};

/* What the callback collected. */
struct sink {
    size_t      n;                   /* frames seen */
    size_t      stop_at;             /* return stop_rc at this frame (1..) */
    int         stop_rc;             /* what to return then */
    struct seen f[MAX_FRAMES];
};

static int
collect_cb(void *ctx, const struct mbap *hdr, const uint8_t *pdu,
           size_t pdu_len)
{
    struct sink *s = ctx;

    cr_assert_lt(s->n, MAX_FRAMES, "too many frames");
    cr_assert_geq(pdu_len, 1);
    cr_assert_leq(pdu_len, MB_PDU_MAX);
    s->f[s->n].hdr = *hdr;
    s->f[s->n].pdu_len = pdu_len;
    memcpy(s->f[s->n].pdu, pdu, pdu_len);
    s->n++;
    return s->n == s->stop_at ? s->stop_rc : 0;
}

/* A test stream: frames laid end to end. */
struct stream {
    size_t  len;                     /* bytes in buf */
    size_t  n;                       /* frames */
    uint16_t tid[MAX_FRAMES];
    uint8_t  unit[MAX_FRAMES];
    size_t   pdu_len[MAX_FRAMES];
    size_t   off[MAX_FRAMES];        /* where each frame starts in buf */
    uint8_t  buf[MAX_FRAMES * MB_ADU_MAX];
};

/* Append a frame with a PDU of <pdu_len> bytes: function code <fc>, then
 * a pattern that depends on <seed> so frames differ in content. */
static void
stream_add(struct stream *st, uint16_t tid, uint8_t unit, uint8_t fc,
           size_t pdu_len, unsigned seed)
{
    uint8_t pdu[MB_PDU_MAX];

    cr_assert_lt(st->n, MAX_FRAMES);
    pdu[0] = fc;
    for (size_t i = 1; i < pdu_len; i++) {
        pdu[i] = (uint8_t)(seed * 31u + i * 7u);
    }
    st->tid[st->n] = tid;
    st->unit[st->n] = unit;
    st->pdu_len[st->n] = pdu_len;
    st->off[st->n] = st->len;
    st->len += mbap_encode(st->buf + st->len, tid, unit, pdu, pdu_len);
    st->n++;
}

/* Assert that <s> holds exactly the frames of <st>, in order. */
static void
check_frames(const struct sink *s, const struct stream *st, const char *what)
{
    cr_assert_eq(s->n, st->n, "%s: %zu frames delivered, expected %zu",
                 what, s->n, st->n);
    for (size_t i = 0; i < st->n; i++) {
        const struct seen *f = &s->f[i];

        cr_assert_eq(f->hdr.tid, st->tid[i], "%s: frame %zu tid", what, i);
        cr_assert_eq(f->hdr.proto, 0, "%s: frame %zu proto", what, i);
        cr_assert_eq(f->hdr.unit, st->unit[i], "%s: frame %zu unit", what, i);
        cr_assert_eq(f->hdr.len, st->pdu_len[i] + 1, "%s: frame %zu len",
                     what, i);
        cr_assert_eq(f->pdu_len, st->pdu_len[i], "%s: frame %zu pdu_len",
                     what, i);
        cr_assert_arr_eq(f->pdu, st->buf + st->off[i] + MB_MBAP_HDR,
                         f->pdu_len, "%s: frame %zu bytes", what, i);
    }
}

/* Feed <st> to a fresh reassembler in chunks ending at the <n_cuts>
 * ascending positions <cuts>, then the rest; check every frame arrives. */
static void
feed_cut(const struct stream *st, const size_t *cuts, size_t n_cuts,
         const char *what)
{
    static struct sink s;
    struct mbap_rx rx;
    struct mbap bad;
    size_t from = 0;

    memset(&s, 0, sizeof(s));
    mbap_rx_init(&rx);
    for (size_t i = 0; i <= n_cuts; i++) {
        size_t to = i < n_cuts ? cuts[i] : st->len;
        int rc = mbap_rx_feed(&rx, st->buf + from, to - from, collect_cb, &s,
                              &bad);

        cr_assert_eq(rc, 0, "%s: feed %zu returned %d", what, i, rc);
        from = to;
    }
    cr_assert_eq(rx.len, 0, "%s: %zu bytes left over", what, rx.len);
    check_frames(&s, st, what);
}

/* ---------------------------------------------------------------------- */
/* mbap_decode */

/* One raw header and what decoding it must give. */
struct decode_case {
    const char *name;
    uint8_t     buf[16];
    size_t      len;                 /* bytes offered to mbap_decode */
    int         status;
    bool        filled;              /* header fields must be set */
    uint16_t    tid, proto, hlen;
    uint8_t     unit;
};

static const struct decode_case decode_cases[] = {
    {"empty", {0}, 0, MBAP_NEED_MORE, false, 0, 0, 0, 0},
    {"1 byte", {0x00}, 1, MBAP_NEED_MORE, false, 0, 0, 0, 0},
    {"6 bytes", {0x00, 0x01, 0x00, 0x00, 0x00, 0x06}, 6, MBAP_NEED_MORE,
     false, 0, 0, 0, 0},
    {"header only, len 2",
     {0x12, 0x34, 0x00, 0x00, 0x00, 0x02, 0x11}, 7, MBAP_NEED_MORE, true,
     0x1234, 0, 2, 0x11},
    {"len 2, whole (bare function code)",
     {0x12, 0x34, 0x00, 0x00, 0x00, 0x02, 0x11, 0x2B}, 8, MBAP_OK, true,
     0x1234, 0, 2, 0x11},
    {"Sigenergy read, whole",
     {0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x77, 0x4C, 0x00, 0x02},
     12, MBAP_OK, true, 1, 0, 6, 1},
    {"Sigenergy read, one byte short",
     {0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x77, 0x4C, 0x00, 0x02},
     11, MBAP_NEED_MORE, true, 1, 0, 6, 1},
    {"Sigenergy read, extra bytes after",
     {0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x77, 0x4C, 0x00, 0x02,
      0xAA, 0xBB},
     14, MBAP_OK, true, 1, 0, 6, 1},
    {"len 0", {0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0x05}, 7, MBAP_BAD_LEN,
     true, 0xFFFF, 0, 0, 5},
    {"len 1", {0x00, 0x07, 0x00, 0x00, 0x00, 0x01, 0x05, 0x03}, 8,
     MBAP_BAD_LEN, true, 7, 0, 1, 5},
    {"len 254, header only", {0x00, 0x07, 0x00, 0x00, 0x00, 0xFE, 0xFF}, 7,
     MBAP_NEED_MORE, true, 7, 0, 254, 0xFF},
    {"len 255", {0x00, 0x07, 0x00, 0x00, 0x00, 0xFF, 0x00}, 7, MBAP_BAD_LEN,
     true, 7, 0, 255, 0},
    {"len 256", {0x00, 0x07, 0x00, 0x00, 0x01, 0x00, 0x00}, 7, MBAP_BAD_LEN,
     true, 7, 0, 256, 0},
    {"len 0xFFFF", {0x00, 0x07, 0x00, 0x00, 0xFF, 0xFF, 0x00}, 7,
     MBAP_BAD_LEN, true, 7, 0, 0xFFFF, 0},
    {"proto 1", {0x00, 0x08, 0x00, 0x01, 0x00, 0x06, 0x01, 0x03, 0x00, 0x00,
                 0x00, 0x01}, 12, MBAP_BAD_PROTO, true, 8, 1, 6, 1},
    {"proto 0x0100", {0x00, 0x08, 0x01, 0x00, 0x00, 0x06, 0x01}, 7,
     MBAP_BAD_PROTO, true, 8, 0x100, 6, 1},
    {"proto checked before len", {0x00, 0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0x09},
     7, MBAP_BAD_PROTO, true, 8, 0xFFFF, 0xFFFF, 9},
    {"HTTP request line", {'G', 'E', 'T', ' ', '/', ' ', 'H'}, 7,
     MBAP_BAD_PROTO, true, 0x4745, 0x5420, 0x2F20, 'H'},
};

Test(mbap_decode, table)
{
    for (size_t i = 0; i < ARRAY_SIZE(decode_cases); i++) {
        const struct decode_case *c = &decode_cases[i];
        struct mbap hdr = {0xAAAA, 0xBBBB, 0xCCCC, 0xDD};
        int st = mbap_decode(c->buf, c->len, &hdr);

        cr_assert_eq(st, c->status, "%s: status %d, expected %d", c->name, st,
                     c->status);
        if (!c->filled) {
            cr_assert_eq(hdr.tid, 0xAAAA, "%s: header touched", c->name);
            continue;
        }
        cr_assert_eq(hdr.tid, c->tid, "%s: tid %#x", c->name, hdr.tid);
        cr_assert_eq(hdr.proto, c->proto, "%s: proto %#x", c->name,
                     hdr.proto);
        cr_assert_eq(hdr.len, c->hlen, "%s: len %u", c->name, hdr.len);
        cr_assert_eq(hdr.unit, c->unit, "%s: unit %u", c->name, hdr.unit);
    }
}

Test(mbap_decode, max_frame_len_254)
{
    uint8_t buf[MB_ADU_MAX + 1] = {0x00, 0x09, 0x00, 0x00, 0x00, 0xFE, 0x01,
                                   0x03};
    struct mbap hdr;

    cr_assert_eq(mbap_decode(buf, MB_ADU_MAX - 1, &hdr), MBAP_NEED_MORE);
    cr_assert_eq(mbap_decode(buf, MB_ADU_MAX, &hdr), MBAP_OK);
    cr_assert_eq(mbap_decode(buf, MB_ADU_MAX + 1, &hdr), MBAP_OK);
    cr_assert_eq(hdr.len, 254);
}

Test(mbap_decode, every_length_field)
{
    uint8_t buf[7] = {0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01};
    struct mbap hdr;

    for (unsigned len = 0; len <= 0xFFFF; len++) {
        int want = len < 2 || len > 254 ? MBAP_BAD_LEN : MBAP_NEED_MORE;

        buf[4] = (uint8_t)(len >> 8);
        buf[5] = (uint8_t)len;
        cr_assert_eq(mbap_decode(buf, sizeof(buf), &hdr), want, "len %u",
                     len);
        cr_assert_eq(hdr.len, len);
    }
}

Test(mbap_decode, strerror)
{
    cr_assert_str_eq(mbap_strerror(MBAP_BAD_PROTO), "bad MBAP protocol id");
    cr_assert_str_eq(mbap_strerror(MBAP_BAD_LEN), "bad MBAP length");
    cr_assert_str_eq(mbap_strerror(-99), "bad MBAP frame");
}

/* ---------------------------------------------------------------------- */
/* mbap_encode, mbap_put_header */

Test(mbap_encode, sigenergy_bytes)
{
    static const uint8_t pdu[] = {0x03, 0x77, 0x4C, 0x00, 0x02};
    static const uint8_t want[] = {0x12, 0x34, 0x00, 0x00, 0x00, 0x06, 0x01,
                                   0x03, 0x77, 0x4C, 0x00, 0x02};
    uint8_t out[MB_ADU_MAX];

    memset(out, 0xEE, sizeof(out));
    cr_assert_eq(mbap_encode(out, 0x1234, 0x01, pdu, sizeof(pdu)),
                 sizeof(want));
    cr_assert_arr_eq(out, want, sizeof(want));
    cr_assert_eq(out[sizeof(want)], 0xEE, "wrote past the ADU");
}

Test(mbap_encode, put_header)
{
    static const uint8_t want[] = {0xFF, 0xFE, 0x00, 0x00, 0x00, 0xFE, 0xF7};
    uint8_t out[8];

    memset(out, 0xEE, sizeof(out));
    mbap_put_header(out, 0xFFFE, 0xF7, MB_PDU_MAX);
    cr_assert_arr_eq(out, want, sizeof(want));
    cr_assert_eq(out[7], 0xEE, "wrote past the header");
}

Test(mbap_encode, round_trip_every_pdu_len)
{
    static const uint16_t tids[] = {0, 1, 0x00FF, 0x0100, 0x5959, 0xFFFF};
    static const uint8_t units[] = {0, 1, 17, 247, 255};
    uint8_t pdu[MB_PDU_MAX], out[MB_ADU_MAX];
    struct mbap hdr;

    for (size_t len = 1; len <= MB_PDU_MAX; len++) {
        for (size_t i = 0; i < len; i++) {
            pdu[i] = (uint8_t)(len + i);
        }
        for (size_t t = 0; t < ARRAY_SIZE(tids); t++) {
            uint8_t unit = units[(len + t) % ARRAY_SIZE(units)];
            size_t n = mbap_encode(out, tids[t], unit, pdu, len);

            cr_assert_eq(n, MB_MBAP_HDR + len);
            cr_assert_eq(mbap_decode(out, n, &hdr), MBAP_OK, "len %zu", len);
            cr_assert_eq(hdr.tid, tids[t]);
            cr_assert_eq(hdr.proto, 0);
            cr_assert_eq(hdr.len, len + 1);
            cr_assert_eq(hdr.unit, unit);
            cr_assert_arr_eq(out + MB_MBAP_HDR, pdu, len);
            cr_assert_eq(mbap_decode(out, n - 1, &hdr), MBAP_NEED_MORE);
        }
    }
}

Test(mbap_encode, in_place)
{
    /* A PDU built in place after the header room is left where it is. */
    uint8_t buf[MB_ADU_MAX] = {0};
    static const uint8_t pdu[] = {0x06, 0x00, 0x01, 0x12, 0x34};
    struct mbap hdr;

    memcpy(buf + MB_MBAP_HDR, pdu, sizeof(pdu));
    cr_assert_eq(mbap_encode(buf, 9, 3, buf + MB_MBAP_HDR, sizeof(pdu)), 12);
    cr_assert_eq(mbap_decode(buf, 12, &hdr), MBAP_OK);
    cr_assert_arr_eq(buf + MB_MBAP_HDR, pdu, sizeof(pdu));
}

/* ---------------------------------------------------------------------- */
/* mbap_rx_feed: delivery of whole frames */

Test(mbap_rx, init_holds_nothing)
{
    struct mbap_rx rx;

    memset(&rx, 0x5A, sizeof(rx));
    mbap_rx_init(&rx);
    cr_assert_eq(rx.len, 0);
}

Test(mbap_rx, empty_feed)
{
    struct sink s = {0};
    struct mbap_rx rx;
    struct mbap bad;

    mbap_rx_init(&rx);
    cr_assert_eq(mbap_rx_feed(&rx, NULL, 0, collect_cb, &s, &bad), 0);
    cr_assert_eq(s.n, 0);
    cr_assert_eq(rx.len, 0);
}

Test(mbap_rx, one_frame)
{
    static const uint8_t adu[] = {0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x01,
                                  0x03, 0x77, 0x4C, 0x00, 0x02};
    static const uint8_t pdu[] = {0x03, 0x77, 0x4C, 0x00, 0x02};
    static struct sink s;
    struct mbap_rx rx;
    struct mbap bad;

    mbap_rx_init(&rx);
    cr_assert_eq(mbap_rx_feed(&rx, adu, sizeof(adu), collect_cb, &s, &bad),
                 0);
    cr_assert_eq(s.n, 1);
    cr_assert_eq(s.f[0].hdr.tid, 1);
    cr_assert_eq(s.f[0].hdr.unit, 1);
    cr_assert_eq(s.f[0].hdr.len, 6);
    cr_assert_eq(s.f[0].pdu_len, sizeof(pdu));
    cr_assert_arr_eq(s.f[0].pdu, pdu, sizeof(pdu));
    cr_assert_eq(rx.len, 0);
}

Test(mbap_rx, two_frames_one_buffer)
{
    static struct stream st;
    static const size_t none[1];

    stream_add(&st, 0x0001, 1, 0x03, 5, 1);
    stream_add(&st, 0x0002, 2, 0x10, 10, 2);
    feed_cut(&st, none, 0, "two frames");
}

Test(mbap_rx, fifty_pipelined)
{
    static struct stream st;
    static const size_t none[1];

    for (unsigned i = 0; i < 50; i++) {
        stream_add(&st, (uint16_t)(1000 + i), (uint8_t)(i * 5),
                   (uint8_t)(1 + i % 6), 1 + (i * 37) % MB_PDU_MAX, i);
    }
    cr_assert_eq(st.n, 50);
    feed_cut(&st, none, 0, "50 pipelined");
}

Test(mbap_rx, fifty_pipelined_in_odd_chunks)
{
    static struct stream st;
    size_t cuts[MAX_FRAMES * 4], n = 0;

    for (unsigned i = 0; i < 50; i++) {
        stream_add(&st, (uint16_t)i, 17, 0x04, 5 + i % 3, i);
    }
    /* Chunks of 13 bytes: never aligned on a frame boundary for long. */
    for (size_t at = 13; at < st.len; at += 13) {
        cuts[n++] = at;
    }
    feed_cut(&st, cuts, n, "50 in 13-byte chunks");
}

/* ---------------------------------------------------------------------- */
/* mbap_rx_feed: splits */

/* Three frames of different sizes, the middle one of maximum size. */
static void
three_frames(struct stream *st)
{
    stream_add(st, 0x0101, 1, 0x03, 5, 1);
    stream_add(st, 0x0202, 2, 0x17, MB_PDU_MAX, 2);
    stream_add(st, 0x0303, 3, 0x2B, 1, 3);
}

Test(mbap_rx, single_frame_split_everywhere)
{
    static struct stream st;
    char what[64];

    stream_add(&st, 0x4242, 0x11, 0x10, 10, 7);
    for (size_t cut = 1; cut < st.len; cut++) {
        snprintf(what, sizeof(what), "split at %zu", cut);
        feed_cut(&st, &cut, 1, what);
    }
}

Test(mbap_rx, split_inside_header)
{
    static struct stream st;
    static const size_t cuts[][2] = {{1, 2}, {3, 6}, {6, 7}, {2, 5}, {4, 7}};

    stream_add(&st, 0xBEEF, 0x7F, 0x06, 5, 3);
    for (size_t i = 0; i < ARRAY_SIZE(cuts); i++) {
        feed_cut(&st, cuts[i], 2, "split inside the header");
    }
}

Test(mbap_rx, stream_split_everywhere)
{
    static struct stream st;
    char what[64];

    three_frames(&st);
    for (size_t cut = 1; cut < st.len; cut++) {
        snprintf(what, sizeof(what), "split at %zu", cut);
        feed_cut(&st, &cut, 1, what);
    }
}

Test(mbap_rx, max_frame_split_everywhere)
{
    static struct stream st;
    char what[64];

    stream_add(&st, 0xFFFF, 0xFF, 0x10, MB_PDU_MAX, 9);
    cr_assert_eq(st.len, MB_ADU_MAX);
    for (size_t cut = 1; cut < st.len; cut++) {
        snprintf(what, sizeof(what), "max frame split at %zu", cut);
        feed_cut(&st, &cut, 1, what);
    }
}

Test(mbap_rx, three_way_splits, .timeout = 30)
{
    static struct stream st;
    size_t cuts[2];

    three_frames(&st);
    for (cuts[0] = 1; cuts[0] < st.len; cuts[0]++) {
        for (cuts[1] = cuts[0] + 1; cuts[1] < st.len; cuts[1]++) {
            feed_cut(&st, cuts, 2, "three-way split");
        }
    }
}

Test(mbap_rx, byte_by_byte)
{
    static struct stream st;
    static size_t cuts[MAX_FRAMES * MB_ADU_MAX];

    three_frames(&st);
    stream_add(&st, 0x0404, 4, 0x01, 5, 4);
    for (size_t i = 1; i < st.len; i++) {
        cuts[i - 1] = i;
    }
    feed_cut(&st, cuts, st.len - 1, "byte by byte");
}

Test(mbap_rx, partial_frame_kept_across_calls)
{
    static struct stream st;
    static struct sink s;
    struct mbap_rx rx;
    struct mbap bad;

    stream_add(&st, 0x0001, 1, 0x03, 5, 1);
    stream_add(&st, 0x0002, 2, 0x03, 5, 2);
    mbap_rx_init(&rx);
    /* Frame 1 and the first 5 bytes of frame 2 (inside its header). */
    cr_assert_eq(mbap_rx_feed(&rx, st.buf, 12 + 5, collect_cb, &s, &bad), 0);
    cr_assert_eq(s.n, 1);
    cr_assert_eq(rx.len, 5);
    cr_assert_arr_eq(rx.buf, st.buf + 12, 5);
    /* An empty read changes nothing. */
    cr_assert_eq(mbap_rx_feed(&rx, st.buf, 0, collect_cb, &s, &bad), 0);
    cr_assert_eq(rx.len, 5);
    /* Two more bytes: header complete, PDU still missing. */
    cr_assert_eq(mbap_rx_feed(&rx, st.buf + 17, 2, collect_cb, &s, &bad), 0);
    cr_assert_eq(s.n, 1);
    cr_assert_eq(rx.len, 7);
    cr_assert_arr_eq(rx.buf, st.buf + 12, 7);
    /* The rest. */
    cr_assert_eq(mbap_rx_feed(&rx, st.buf + 19, 5, collect_cb, &s, &bad), 0);
    cr_assert_eq(rx.len, 0);
    check_frames(&s, &st, "kept across calls");
}

Test(mbap_rx, held_frame_then_more_frames_same_call)
{
    /* The call that completes a held frame goes on to the frames after it
     * and keeps the partial one at the end. */
    static struct stream st;
    static struct sink s;
    struct mbap_rx rx;
    struct mbap bad;
    size_t tail;

    for (unsigned i = 0; i < 4; i++) {
        stream_add(&st, (uint16_t)i, 9, 0x03, 5, i);
    }
    mbap_rx_init(&rx);
    cr_assert_eq(mbap_rx_feed(&rx, st.buf, 10, collect_cb, &s, &bad), 0);
    cr_assert_eq(s.n, 0);
    tail = st.len - 3;
    cr_assert_eq(mbap_rx_feed(&rx, st.buf + 10, tail - 10, collect_cb, &s,
                              &bad), 0);
    cr_assert_eq(s.n, 3);
    cr_assert_eq(rx.len, 9);
    cr_assert_eq(mbap_rx_feed(&rx, st.buf + tail, 3, collect_cb, &s, &bad),
                 0);
    check_frames(&s, &st, "held then more");
}

/* ---------------------------------------------------------------------- */
/* mbap_rx_feed: errors and stopping */

/* A bad header after good frames, fed in one buffer and in every split:
 * the good frames come first, then the error with <bad> filled. */
struct bad_case {
    const char *name;
    uint8_t     hdr[7];
    int         status;
    uint16_t    tid, proto, len;
    uint8_t     unit;
};

static const struct bad_case bad_cases[] = {
    {"proto 1", {0x00, 0x63, 0x00, 0x01, 0x00, 0x06, 0x05}, MBAP_BAD_PROTO,
     0x63, 1, 6, 5},
    {"len 0", {0x00, 0x64, 0x00, 0x00, 0x00, 0x00, 0x06}, MBAP_BAD_LEN,
     0x64, 0, 0, 6},
    {"len 1", {0x00, 0x65, 0x00, 0x00, 0x00, 0x01, 0x07}, MBAP_BAD_LEN,
     0x65, 0, 1, 7},
    {"len 255", {0x00, 0x66, 0x00, 0x00, 0x00, 0xFF, 0x08}, MBAP_BAD_LEN,
     0x66, 0, 255, 8},
    {"len 0xFFFF", {0x00, 0x67, 0x00, 0x00, 0xFF, 0xFF, 0x09}, MBAP_BAD_LEN,
     0x67, 0, 0xFFFF, 9},
};

Test(mbap_rx, bad_header_after_good_frames)
{
    static struct stream st;
    static struct sink s;
    struct mbap_rx rx;
    struct mbap bad;
    size_t good_len;

    stream_add(&st, 0x0001, 1, 0x03, 5, 1);
    stream_add(&st, 0x0002, 2, 0x06, 5, 2);
    good_len = st.len;
    for (size_t i = 0; i < ARRAY_SIZE(bad_cases); i++) {
        const struct bad_case *c = &bad_cases[i];

        for (size_t cut = 0; cut < good_len + 7; cut++) {
            int rc = 0;

            memcpy(st.buf + good_len, c->hdr, 7);
            memset(&s, 0, sizeof(s));
            memset(&bad, 0, sizeof(bad));
            mbap_rx_init(&rx);
            if (cut > 0) {
                rc = mbap_rx_feed(&rx, st.buf, cut, collect_cb, &s, &bad);
                cr_assert_eq(rc, 0, "%s, cut %zu: first feed %d", c->name,
                             cut, rc);
            }
            rc = mbap_rx_feed(&rx, st.buf + cut, good_len + 7 - cut,
                              collect_cb, &s, &bad);
            cr_assert_eq(rc, c->status, "%s, cut %zu: %d", c->name, cut, rc);
            check_frames(&s, &st, c->name);
            cr_assert_eq(bad.tid, c->tid, "%s: bad.tid", c->name);
            cr_assert_eq(bad.proto, c->proto, "%s: bad.proto", c->name);
            cr_assert_eq(bad.len, c->len, "%s: bad.len", c->name);
            cr_assert_eq(bad.unit, c->unit, "%s: bad.unit", c->name);
        }
    }
}

Test(mbap_rx, bad_header_first)
{
    static const uint8_t buf[] = {0x00, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01,
                                  0x03, 0x00, 0x00, 0x00, 0x01};
    struct sink s = {0};
    struct mbap_rx rx;
    struct mbap bad = {0};

    mbap_rx_init(&rx);
    cr_assert_eq(mbap_rx_feed(&rx, buf, sizeof(buf), collect_cb, &s, &bad),
                 MBAP_BAD_LEN);
    cr_assert_eq(s.n, 0);
    cr_assert_eq(bad.len, 256);
}

Test(mbap_rx, callback_stop)
{
    /* Returning non-zero from frame 2 of 4: that value comes back and
     * frames 3 and 4 are never delivered. */
    static struct stream st;
    static struct sink s;
    struct mbap_rx rx;
    struct mbap bad;

    for (unsigned i = 0; i < 4; i++) {
        stream_add(&st, (uint16_t)i, 1, 0x03, 5, i);
    }
    s.stop_at = 2;
    s.stop_rc = 42;
    mbap_rx_init(&rx);
    cr_assert_eq(mbap_rx_feed(&rx, st.buf, st.len, collect_cb, &s, &bad), 42);
    cr_assert_eq(s.n, 2);
    cr_assert_eq(s.f[1].hdr.tid, 1);
}

Test(mbap_rx, callback_stop_negative)
{
    static struct stream st;
    static struct sink s;
    struct mbap_rx rx;
    struct mbap bad;

    stream_add(&st, 7, 1, 0x03, 5, 1);
    stream_add(&st, 8, 1, 0x03, 5, 2);
    s.stop_at = 1;
    s.stop_rc = -1000;
    mbap_rx_init(&rx);
    cr_assert_eq(mbap_rx_feed(&rx, st.buf, st.len, collect_cb, &s, &bad),
                 -1000);
    cr_assert_eq(s.n, 1);
}

Test(mbap_rx, callback_stop_on_held_frame)
{
    /* The frame completed from the held bytes can stop the feed too; the
     * frames after it in the same buffer are not delivered. */
    static struct stream st;
    static struct sink s;
    struct mbap_rx rx;
    struct mbap bad;

    for (unsigned i = 0; i < 3; i++) {
        stream_add(&st, (uint16_t)i, 1, 0x03, 5, i);
    }
    s.stop_at = 1;
    s.stop_rc = 5;
    mbap_rx_init(&rx);
    cr_assert_eq(mbap_rx_feed(&rx, st.buf, 4, collect_cb, &s, &bad), 0);
    cr_assert_eq(s.n, 0);
    cr_assert_eq(mbap_rx_feed(&rx, st.buf + 4, st.len - 4, collect_cb, &s,
                              &bad), 5);
    cr_assert_eq(s.n, 1);
    cr_assert_eq(s.f[0].hdr.tid, 0);
}

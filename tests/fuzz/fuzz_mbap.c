/* SPDX-License-Identifier: MIT */
/*
 * fuzz_mbap.c -- libFuzzer target for the MBAP reassembler (proxy/mbap.c).
 *
 * Input: one control byte, then N chunk-length bytes (N = control & 7),
 * then the byte stream. The stream is fed to one mbap_rx in chunks of those
 * lengths (cycling; 0 is an empty read) and, separately, to a second
 * mbap_rx in one call. Both must deliver the same frames and end with the
 * same status, the same bad header and the same held bytes; that is, how a
 * socket splits the stream must never matter. Every delivered frame is also
 * checked against the stream itself (header and PDU bytes at the running
 * offset, pdu_len 1..253). When control & 0x80, the callback returns 7 at
 * frame ((control >> 3) & 15) + 1, and both feeds must stop there.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mbap.h"

#define MAX_STREAM 8192
#define MAX_FRAMES (MAX_STREAM / MB_FRAME_MIN + 1)
#define STOP_RC    7

/* One delivered frame. */
struct frame {
    size_t      off;          /* where it starts in the stream */
    struct mbap hdr;
};

/* Callback state for one of the two feeds. */
struct run {
    const uint8_t *stream;    /* the whole stream */
    size_t         fed;       /* bytes handed to mbap_rx_feed so far */
    size_t         off;       /* where the next frame must start */
    size_t         stop_at;   /* 0, or return STOP_RC at this frame */
    size_t         n;
    struct frame   f[MAX_FRAMES];
};

static struct run chunked, whole;

#define CHECK(c)                                                        \
    do {                                                                \
        if (!(c)) {                                                     \
            fprintf(stderr, "fuzz_mbap: check failed: %s (line %d)\n",  \
                    #c, __LINE__);                                      \
            abort();                                                    \
        }                                                               \
    } while (0)

static int
frame_cb(void *ctx, const struct mbap *hdr, const uint8_t *pdu,
         size_t pdu_len)
{
    struct run *r = ctx;
    struct mbap again;

    CHECK(pdu_len >= 1 && pdu_len <= MB_PDU_MAX);
    CHECK(hdr->proto == 0);
    CHECK(hdr->len == pdu_len + 1);
    CHECK(r->off + MB_MBAP_HDR + pdu_len <= r->fed);
    /* The frame is exactly the stream's bytes at the running offset. */
    CHECK(mbap_decode(r->stream + r->off, r->fed - r->off, &again) ==
          MBAP_OK);
    CHECK(again.tid == hdr->tid && again.unit == hdr->unit &&
          again.len == hdr->len);
    CHECK(memcmp(pdu, r->stream + r->off + MB_MBAP_HDR, pdu_len) == 0);
    CHECK(r->n < MAX_FRAMES);
    r->f[r->n].off = r->off;
    r->f[r->n].hdr = *hdr;
    r->n++;
    r->off += MB_MBAP_HDR + pdu_len;
    return r->n == r->stop_at ? STOP_RC : 0;
}

/* After a feed ended with <rc>, check <rx> and <bad> against the stream. */
static void
check_end(const struct run *r, const struct mbap_rx *rx, int rc,
          const struct mbap *bad)
{
    struct mbap hdr;

    if (rc == STOP_RC) {
        CHECK(r->n == r->stop_at);
        return;
    }
    CHECK(rc == 0 || rc == MBAP_BAD_PROTO || rc == MBAP_BAD_LEN);
    CHECK(r->n != r->stop_at || r->stop_at == 0);
    if (rc < 0) {
        /* The bad header is the one where the next frame would start. */
        CHECK(mbap_decode(r->stream + r->off, r->fed - r->off, &hdr) == rc);
        CHECK(hdr.tid == bad->tid && hdr.proto == bad->proto &&
              hdr.len == bad->len && hdr.unit == bad->unit);
        return;
    }
    /* Everything after the last frame is held, and nothing else. */
    CHECK(rx->len == r->fed - r->off);
    CHECK(rx->len <= MB_ADU_MAX);
    CHECK(memcmp(rx->buf, r->stream + r->off, rx->len) == 0);
    CHECK(mbap_decode(rx->buf, rx->len, &hdr) == MBAP_NEED_MORE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct mbap_rx rx1, rx2;
    struct mbap bad1 = {0}, bad2 = {0};
    const uint8_t *lens, *stream;
    size_t n_lens, len, pos = 0, k = 0;
    bool any_len = false;
    int rc1 = 0, rc2;

    if (size < 1) {
        return 0;
    }
    n_lens = data[0] & 7u;
    if (size < 1 + n_lens || size - 1 - n_lens > MAX_STREAM) {
        return 0;
    }
    lens = data + 1;
    stream = data + 1 + n_lens;
    len = size - 1 - n_lens;
    for (size_t i = 0; i < n_lens; i++) {
        any_len = any_len || lens[i] != 0;
    }

    memset(&chunked, 0, sizeof(chunked));
    memset(&whole, 0, sizeof(whole));
    chunked.stream = whole.stream = stream;
    if (data[0] & 0x80u) {
        chunked.stop_at = whole.stop_at = ((data[0] >> 3) & 15u) + 1;
    }

    /* Chunked: lengths cycle; with none given (or all 0), byte by byte. */
    mbap_rx_init(&rx1);
    while (pos < len || (pos == len && k == 0)) {
        size_t n = any_len ? lens[k % n_lens] : 1;

        if (n > len - pos) {
            n = len - pos;
        }
        chunked.fed = pos + n;
        rc1 = mbap_rx_feed(&rx1, stream + pos, n, frame_cb, &chunked, &bad1);
        pos += n;
        k++;
        if (rc1 != 0 || (pos == len && n == 0)) {
            break;
        }
    }

    /* Whole: one call. */
    mbap_rx_init(&rx2);
    whole.fed = len;
    rc2 = mbap_rx_feed(&rx2, stream, len, frame_cb, &whole, &bad2);

    check_end(&chunked, &rx1, rc1, &bad1);
    check_end(&whole, &rx2, rc2, &bad2);
    CHECK(rc1 == rc2);
    CHECK(chunked.n == whole.n);
    for (size_t i = 0; i < whole.n; i++) {
        CHECK(chunked.f[i].off == whole.f[i].off);
        CHECK(chunked.f[i].hdr.tid == whole.f[i].hdr.tid);
        CHECK(chunked.f[i].hdr.unit == whole.f[i].hdr.unit);
        CHECK(chunked.f[i].hdr.len == whole.f[i].hdr.len);
    }
    if (rc2 < 0) {
        CHECK(bad1.tid == bad2.tid && bad1.proto == bad2.proto &&
              bad1.len == bad2.len && bad1.unit == bad2.unit);
    } else if (rc2 == 0) {
        CHECK(rx1.len == rx2.len);
        CHECK(memcmp(rx1.buf, rx2.buf, rx2.len) == 0);
    }
    return 0;
}

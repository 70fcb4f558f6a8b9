/* SPDX-License-Identifier: MIT */
/*
 * fuzz_fe_giv.c -- libFuzzer target for the "givenergy" front end
 * (proxy/fe_givenergy.c), driven through its vtable as the session drives
 * it, over a fake host: the request parser (feed, partial), the answers
 * (encode_reply), the fan-out (device_frame) and the heartbeats (tick).
 *
 * Input: a control byte C, a byte P, N chunk-length bytes (N = C & 7),
 * then the client's byte stream (at most STREAM_MAX bytes).
 *   C & 0x08  fanout = no            C & 0x10  the backend knows no serial
 *   C >> 5 & 3  heartbeat_s          C & 0x80  host->request returns 1 at
 *                                              request (P >> 4) + 1
 *   P seeds the choices below (which requests are answered, how, when a
 *   send fails, which slice of the stream is offered as a device frame).
 *
 * Connection A gets the stream in chunks of those lengths (cycling; 0 is
 * an empty read; with none, or all 0, byte by byte). After each chunk it
 * is offered, as frames of the dongle, every frame a deframer of its own
 * found in the chunk and one slice of the stream; some of its outstanding
 * requests are answered (reads with values from the stream or a wrong
 * length, write echoes, the device's exception, the proxy's own and the
 * write rules'); and it ticks 0.6 s on. Connection B gets the stream in
 * one call. A model runs giv_rx over the stream and says, from the
 * frames' own bytes, which requests the spec in fe_givenergy.c's header
 * makes of it (each read of 1..60 registers and each write, in order;
 * everything else ignored; a bad frame or garbage closes). Checked:
 * - every request: tid 0, unit = device, PDU of 5 bytes, function 3, 4, 6
 *   or 0x44, reads of 1..60 registers; A's and B's requests are a prefix
 *   of the model's; a feed that returns 0 has made all of them, with as
 *   many frames ignored as the model ignores; a stream without bad frames
 *   or garbage returns 0 (or stops where the host says); one with a bad
 *   header or length, or garbage, closes (< 0, "not a GivEnergy frame...")
 *   or stops first;
 * - partial() is what the model's deframer holds;
 * - encode_reply: exactly the answers the spec gives, 44 + 2n bytes in
 *   r->out, their CRC right (computed here, bit by bit), parsed back to
 *   the request's device, fc, base and count, the stub's serials and the
 *   values; silence (0) for the rest;
 * - device_frame: sends (the same bytes) exactly the valid read, write and
 *   error frames whose shape no outstanding request of A has, when fanout
 *   is on;
 * - tick: a heartbeat, with the stub's serial and type, every heartbeat_s.
 *
 * backends/givenergy.c is not compiled in: giv_backend_identity() is the
 * stub below, with a fixed adapter serial and a serial per device (devices
 * whose address is 0 or 3 mod 7 are unknown).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "frontend.h"
#include "givenergy.h"
#include "givenergy_frame.h"
#include "pdu.h"
#include "req.h"

#define STREAM_MAX  4096
#define MAX_RQ      (STREAM_MAX / GIV_REQ_LEN + 1)
#define MAX_FRAMES  (STREAM_MAX / 4 + 1)
#define FE_PENDING  64        /* fe_givenergy.c's FE_GIV_PENDING */
#define STOP_RC     1
#define SEND_FAIL   (-32)     /* UV_EPIPE on Linux */

#define CHECK(c)                                                               \
    do {                                                                       \
        if (!(c)) {                                                            \
            fprintf(stderr, "fuzz_fe_giv: check failed: %s (line %d)\n", #c,   \
                    __LINE__);                                                 \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* ---------------------------------------------------------------------- */
/* The backend stub */

static const uint8_t adapter_serial[GIV_SERIAL_LEN] = "WJ2414G000";
#define ADAPTER_TYPE 0x01

/* What host->backend returns: any non-NULL address will do. */
static int fake_backend;
static bool identity_known;

static bool
device_known(uint8_t dev)
{
    return dev % 7 != 0 && dev % 7 != 3;
}

static void
device_serial(uint8_t dev, uint8_t out[GIV_SERIAL_LEN])
{
    memcpy(out, "SA0000G0", 8);
    out[8] = (uint8_t)('A' + (dev >> 4));
    out[9] = (uint8_t)('A' + (dev & 15));
}

bool
giv_backend_identity(const struct backend *be, uint8_t device,
                     struct giv_identity *out)
{
    CHECK(be == (const struct backend *)&fake_backend);
    if (!identity_known) {
        return false;
    }
    memcpy(out->adapter_serial, adapter_serial, GIV_SERIAL_LEN);
    out->adapter_type = ADAPTER_TYPE;
    out->device_known = device_known(device);
    device_serial(device, out->device_serial);
    return true;
}

/* CRC-16/Modbus, bit by bit: not proxy/crc16.c's table. */
static uint16_t
crc_modbus(const uint8_t *p, size_t n)
{
    uint16_t crc = 0xFFFF;

    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++) {
            crc = (crc & 1) ? (uint16_t)(crc >> 1 ^ 0xA001)
                            : (uint16_t)(crc >> 1);
        }
    }
    return crc;
}

static uint16_t
get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
xorshift(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* ---------------------------------------------------------------------- */
/* The fake host */

/* One request handed to the host: its unit and PDU. */
struct rq {
    uint8_t unit;
    uint8_t pdu[5];
    bool    done;             /* answered (encode_reply called) */
};

/* One connection and what its host saw. */
struct tconn {
    struct fe_conn c;
    unsigned       stop_at;   /* request returns STOP_RC at this one */
    int            send_rc;
    size_t         n;
    struct rq      rq[MAX_RQ];
    size_t         n_ignored;
    size_t         n_sent;
    const uint8_t *sent;      /* the last bytes sent, borrowed */
    size_t         sent_len;
};

static struct cfg_listener settings;
static struct tconn conn_a, conn_b;

static struct tconn *
tconn_of(const struct fe_conn *c)
{
    return (struct tconn *)((const char *)c - offsetof(struct tconn, c));
}

static int
host_request(struct fe_conn *c, const struct fe_request *rq)
{
    struct tconn *t = tconn_of(c);
    uint8_t fc;
    uint16_t count;

    CHECK(rq->tid == 0);
    CHECK(rq->pdu != NULL && rq->pdu_len == 5);
    fc = rq->pdu[0];
    count = get16(rq->pdu + 3);
    CHECK(fc == 3 || fc == 4 || fc == 6 || fc == GIV_PDU_METER);
    CHECK(fc == 6 || (count >= 1 && count <= GIV_REGS_MAX));
    CHECK(t->n < MAX_RQ);
    t->rq[t->n].unit = rq->unit;
    memcpy(t->rq[t->n].pdu, rq->pdu, 5);
    t->rq[t->n].done = false;
    t->n++;
    return t->n == t->stop_at ? STOP_RC : 0;
}

static int
host_send(struct fe_conn *c, const uint8_t *data, size_t len)
{
    struct tconn *t = tconn_of(c);

    CHECK(data != NULL && len > 0 && len <= GIV_FRAME_MAX);
    t->n_sent++;
    t->sent = data;
    t->sent_len = len;
    return t->send_rc;
}

static void
host_ignored(struct fe_conn *c, const char *what)
{
    CHECK(what != NULL && what[0] != '\0');
    tconn_of(c)->n_ignored++;
}

static const struct cfg_listener *
host_settings(const struct fe_conn *c)
{
    (void)c;
    return &settings;
}

static struct backend *
host_backend(const struct fe_conn *c)
{
    (void)c;
    return (struct backend *)&fake_backend;
}

static const struct fe_host host = {
    .request = host_request,
    .send = host_send,
    .ignored = host_ignored,
    .settings = host_settings,
    .backend = host_backend,
};

static void
conn_open(struct tconn *t, unsigned stop_at)
{
    static uint8_t state_a[4096], state_b[4096];
    const struct frontend_ops *ops = &fe_givenergy_ops;
    uint8_t *state = t == &conn_a ? state_a : state_b;

    CHECK(ops->state_size <= sizeof(state_a));
    memset(t, 0, sizeof(*t));
    memset(state, 0, ops->state_size);
    t->c.ops = ops;
    t->c.host = &host;
    t->c.state = state;
    t->stop_at = stop_at;
    if (ops->open != NULL) {
        ops->open(&t->c);
    }
}

/* Set the givenergy key <name> of <settings> to <v>, through the type's
 * key table (its struct is private to fe_givenergy.c). */
static void
set_key(const char *name, unsigned v)
{
    for (const struct cfg_key *k = fe_givenergy_ops.keys; k->name != NULL;
         k++) {
        if (strcmp(k->name, name) == 0) {
            char *p = (char *)&settings + k->off;

            if (k->kind == CFG_BOOL) {
                *(bool *)p = v != 0;
            } else {
                CHECK(k->kind == CFG_UINT);
                *(unsigned *)p = v;
            }
            return;
        }
    }
    CHECK(!"no such key");
}

/* ---------------------------------------------------------------------- */
/* The model */

/* What the spec makes of a stream. */
struct model {
    size_t   n;
    struct rq rq[MAX_RQ];
    size_t   n_ignored;       /* frames host->ignored must be told of */
    size_t   n_crc;           /* frames with a bad CRC */
    size_t   n_bad;           /* other bad frames: they close */
    bool     closed;          /* a bad frame seen: nothing after counts */
};

static void
model_cb(void *ctx, const uint8_t *frame, size_t len, enum giv_verdict v,
         const struct giv_frame *f)
{
    struct model *m = ctx;
    uint8_t fc;
    uint16_t count;

    (void)f;
    if (m->closed) {
        return;
    }
    if (v == GIV_BAD_CRC) {
        m->n_crc++;
        m->n_ignored++;
        return;
    }
    if (v < 0) {
        m->n_bad++;
        m->closed = true;
        return;
    }
    /* From the frame's bytes (docs/givenergy.md 1.2), not from <f>. */
    if (v == GIV_IGNORE || frame[7] == 0x01) {
        m->n_ignored += v == GIV_IGNORE;
        return;                   /* a heartbeat (answer): taken */
    }
    if (len != GIV_REQ_LEN) {
        m->n_ignored++;           /* a response sent by a client */
        return;
    }
    fc = frame[27];
    count = get16(frame + 30);
    if (fc != 6 && (count < 1 || count > GIV_REGS_MAX)) {
        m->n_ignored++;
        return;
    }
    CHECK(fc == 3 || fc == 4 || fc == 0x16 || fc == 6);
    CHECK(m->n < MAX_RQ);
    m->rq[m->n].unit = frame[26];
    m->rq[m->n].pdu[0] = fc == 0x16 ? GIV_PDU_METER : fc;
    memcpy(m->rq[m->n].pdu + 1, frame + 28, 4);
    m->n++;
}

/* The requests of <t> are the first of the model's. */
static void
check_prefix(const struct tconn *t, const struct model *m)
{
    CHECK(t->n <= m->n);
    for (size_t i = 0; i < t->n; i++) {
        CHECK(t->rq[i].unit == m->rq[i].unit);
        CHECK(memcmp(t->rq[i].pdu, m->rq[i].pdu, 5) == 0);
    }
}

/* How a feed of the whole stream by <t> ended (<rc>, <why>), against the
 * model: the spec's outcomes. */
static void
check_outcome(const struct tconn *t, int rc, const char *why,
              const struct model *m, uint64_t skipped)
{
    check_prefix(t, m);
    if (rc == 0) {
        CHECK(t->n == m->n && m->n_bad == 0);
        CHECK(t->n_ignored == m->n_ignored);
        CHECK(t->stop_at == 0 || t->n < t->stop_at);
    } else if (rc > 0) {
        CHECK(rc == STOP_RC && t->n == t->stop_at);
    } else {
        CHECK(strncmp(why, "not a GivEnergy frame", 21) == 0);
        CHECK(m->n_bad > 0 || m->n_crc > 0 || skipped > 0);
    }
    /* No garbage, no bad frame: never closed. A stream with bad-CRC
     * frames is left out here: the deframer counts their bytes as
     * skipped, and the model cannot tell them from garbage (that a bad
     * CRC alone is ignored is test_fe_givenergy.c's
     * ignores_the_legacy_crc_request). */
    if (skipped == 0 && m->n_bad == 0 && m->n_crc == 0) {
        CHECK(rc >= 0);
    }
    /* Garbage or a bad frame: closed, or stopped before. */
    if (m->n_bad > 0 || (skipped > 0 && m->n_crc == 0)) {
        CHECK(rc != 0);
    }
}

/* ---------------------------------------------------------------------- */
/* Answers, fan-out, heartbeats on connection A */

/* A request's shape, as the dongle's frames carry it. */
static void
shape(const struct rq *q, uint8_t *dev, uint8_t *fc, uint16_t *a,
      uint16_t *b)
{
    *dev = q->unit;
    *fc = q->pdu[0] == GIV_PDU_METER ? 0x16 : q->pdu[0];
    *a = get16(q->pdu + 1);
    *b = get16(q->pdu + 3);
}

/* A request of A not yet answered has the shape of dongle frame <f>. */
static bool
outstanding(const struct giv_frame *f)
{
    for (size_t i = 0; i < conn_a.n; i++) {
        uint8_t dev, fc;
        uint16_t a, b;

        if (conn_a.rq[i].done) {
            continue;
        }
        shape(&conn_a.rq[i], &dev, &fc, &a, &b);
        if (dev == f->device && fc == (f->fc & 0x7F) && a == f->base &&
            (b == f->count || f->kind == GIV_ERROR_RESPONSE)) {
            return true;
        }
    }
    return false;
}

/* More than FE_PENDING requests of A were outstanding at once: it no
 * longer knows every shape (fe_givenergy.c says so). */
static bool overflowed;

static void
count_outstanding(void)
{
    size_t n = 0;

    for (size_t i = 0; i < conn_a.n; i++) {
        n += !conn_a.rq[i].done;
    }
    overflowed = overflowed || n > FE_PENDING;
}

/* Offer the <len> bytes at <data> to A as a frame of the dongle: only
 * valid answers are sent, with fanout on, those of a shape A waits for
 * never (beyond FE_PENDING outstanding: not always). */
static void
offer(const uint8_t *data, size_t len, bool fanout)
{
    struct fe_conn *c = &conn_a.c;
    size_t before = conn_a.n_sent;
    struct giv_frame f;
    bool valid, sent, tried;

    valid = fanout && giv_parse(data, len, &f) == GIV_OK &&
            (f.kind == GIV_READ_RESPONSE || f.kind == GIV_WRITE_RESPONSE ||
             f.kind == GIV_ERROR_RESPONSE);
    sent = c->ops->device_frame(c, data, len);
    CHECK(conn_a.n_sent - before <= 1);
    tried = conn_a.n_sent != before;
    CHECK(!tried || valid);
    CHECK(sent == (tried && conn_a.send_rc == 0));
    if (tried) {
        CHECK(conn_a.sent_len == len &&
              memcmp(conn_a.sent, data, len) == 0);
        CHECK(overflowed || !outstanding(&f));
    } else if (valid) {
        CHECK(outstanding(&f));
    }
}

/* giv_rx_feed's callback on A's chunks: each frame offered at once. */
static void
chunk_cb(void *ctx, const uint8_t *frame, size_t len, enum giv_verdict v,
         const struct giv_frame *f)
{
    const bool *fanout = ctx;

    (void)v;
    (void)f;
    offer(frame, len, *fanout);
}

/* Answer request <i> of A in a DONE request with response <kind> (0-3 a
 * good answer, 4 a read of the wrong length, 5 the device's exception, 6
 * the proxy's own, 7 the write rules' refusal), values from <vals>, and
 * check what encode_reply makes of it. */
static void
answer(size_t i, unsigned kind, const uint8_t *vals, size_t vals_len)
{
    static struct req r;
    struct fe_conn *c = &conn_a.c;
    struct rq *q = &conn_a.rq[i];
    const uint8_t *out = NULL;
    uint8_t dev, fc, want_fc = 0, serial[GIV_SERIAL_LEN], *p;
    uint16_t a, b, crc;
    size_t n = 0, len, want = 0;
    struct giv_frame f;
    bool exc = kind >= 5;

    shape(q, &dev, &fc, &a, &b);
    memset(&r, 0, sizeof(r));
    r.unit = q->unit;
    r.state = REQ_DONE;
    memcpy(req_pdu(&r), q->pdu, 5);
    r.pdu_len = 5;
    p = req_rsp(&r);
    if (exc) {
        r.rsp_len = pdu_exception(p, q->pdu[0], 0x02);
        r.failed = kind >= 6;
        r.refused = kind == 7;
    } else if (fc == 6) {
        memcpy(p, q->pdu, 5);
        r.rsp_len = 5;
    } else {
        n = kind == 4 ? (b + 1 + vals_len) % (GIV_REGS_MAX + 1) : b;
        p[0] = q->pdu[0];
        p[1] = (uint8_t)(2 * n);
        for (size_t j = 0; j < 2 * n; j++) {
            p[2 + j] = vals_len > 0 ? vals[j % vals_len] : (uint8_t)j;
        }
        r.rsp_len = 2 + 2 * n;
    }
    /* what the spec answers */
    if (identity_known && device_known(dev)) {
        if (exc) {
            if (!r.failed || (r.refused && fc == 6)) {
                want = 44;
                want_fc = fc | 0x80;
            }
        } else if (fc == 6) {
            want = 44;
            want_fc = 6;
        } else if (n == b) {
            want = 44 + 2 * n;
            want_fc = fc;
        }
    }
    q->done = true;
    len = c->ops->encode_reply(c, &r, &out);
    CHECK(len == want);
    if (len == 0) {
        return;
    }
    CHECK(out == r.out);
    CHECK(len <= sizeof(r.out) && len <= GIV_ANSWER_MAX);
    crc = crc_modbus(out + 26, len - 28);     /* low byte first */
    CHECK(out[len - 2] == (crc & 0xFF) && out[len - 1] == crc >> 8);
    /* a read of the substituted block parses as ignored: still the
     * dongle's bytes */
    switch (giv_parse(out, len, &f)) {
    case GIV_OK:
        break;
    case GIV_IGNORE:
        CHECK(f.kind == GIV_READ_RESPONSE && giv_suspicious(&f));
        break;
    default:
        CHECK(!"encode_reply made a bad frame");
    }
    CHECK(f.uid == 0x01 && f.fid == 0x02);
    CHECK(memcmp(f.adapter_serial, adapter_serial, GIV_SERIAL_LEN) == 0);
    device_serial(dev, serial);
    CHECK(memcmp(f.inverter_serial, serial, GIV_SERIAL_LEN) == 0);
    CHECK(f.device == dev && f.fc == want_fc && f.base == a && f.count == b);
    for (size_t j = 0; j + 44 < len; j++) {
        CHECK(out[42 + j] == (vals_len > 0 ? vals[j % vals_len] : (uint8_t)j));
    }
}

/* Tick A at <now_ms>; a heartbeat is due when <due>. */
static void
tick(uint64_t now_ms, bool due)
{
    struct fe_conn *c = &conn_a.c;
    size_t before = conn_a.n_sent;
    struct giv_frame f;

    conn_a.send_rc = 0;
    c->ops->tick(c, now_ms);
    CHECK(conn_a.n_sent == before + (due ? 1 : 0));
    if (due) {
        CHECK(conn_a.sent_len == GIV_HEARTBEAT_LEN);
        CHECK(giv_parse(conn_a.sent, conn_a.sent_len, &f) == GIV_OK);
        CHECK(f.kind == GIV_HEARTBEAT && f.adapter_type == ADAPTER_TYPE);
        CHECK(memcmp(f.adapter_serial, adapter_serial, GIV_SERIAL_LEN) ==
              0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct model m;
    static struct giv_rx rx_m, rx_a;
    const uint8_t *lens, *stream;
    size_t n_lens, len, pos = 0, k = 0;
    bool any_len = false, fanout, due;
    unsigned stop_at = 0, hb_s;
    uint64_t now = 0, hb_last = 0;
    uint32_t x;
    char why_a[128] = "", why_b[128] = "";
    int rc_a = 0, rc_b;

    if (size < 2) {
        return 0;
    }
    n_lens = data[0] & 7u;
    if (size < 2 + n_lens || size - 2 - n_lens > STREAM_MAX) {
        return 0;
    }
    lens = data + 2;
    stream = data + 2 + n_lens;
    len = size - 2 - n_lens;
    for (size_t i = 0; i < n_lens; i++) {
        any_len = any_len || lens[i] != 0;
    }
    fanout = !(data[0] & 0x08u);
    identity_known = !(data[0] & 0x10u);
    hb_s = (data[0] >> 5) & 3u;
    if (data[0] & 0x80u) {
        stop_at = (data[1] >> 4) + 1u;
    }
    x = 0x9E3779B9u ^ data[1] ^ (uint32_t)len << 8;
    memset(&settings, 0, sizeof(settings));
    set_key("fanout", fanout);
    set_key("heartbeat_s", hb_s);
    overflowed = false;

    /* The model, over the whole stream. */
    memset(&m, 0, sizeof(m));
    giv_rx_init(&rx_m);
    giv_rx_feed(&rx_m, stream, len, model_cb, &m);

    /* B: the whole stream in one call. */
    conn_open(&conn_b, stop_at);
    rc_b = conn_b.c.ops->feed(&conn_b.c, stream, len, why_b, sizeof(why_b));
    check_outcome(&conn_b, rc_b, why_b, &m, rx_m.skipped);
    if (rc_b == 0) {
        CHECK(conn_b.c.ops->partial(&conn_b.c) == rx_m.len);
    }

    /* A: in chunks, with answers, fan-out and ticks between them. */
    conn_open(&conn_a, stop_at);
    giv_rx_init(&rx_a);
    tick(now, false);
    while (pos < len) {
        size_t n = any_len ? lens[k++ % n_lens] : 1;

        n = n > len - pos ? len - pos : n;
        rc_a = conn_a.c.ops->feed(&conn_a.c, stream + pos, n, why_a,
                                  sizeof(why_a));
        pos += n;
        check_prefix(&conn_a, &m);
        if (rc_a != 0) {
            break;
        }
        count_outstanding();

        /* the dongle's frames: this chunk's, then a slice */
        conn_a.send_rc = xorshift(&x) % 8 == 0 ? SEND_FAIL : 0;
        giv_rx_feed(&rx_a, stream + pos - n, n, chunk_cb, &fanout);
        CHECK(conn_a.c.ops->partial(&conn_a.c) == rx_a.len);
        if (len > 0) {
            size_t off = xorshift(&x) % len;
            size_t sl = xorshift(&x) % (GIV_FRAME_MAX + 1);

            sl = sl > len - off ? len - off : sl;
            offer(stream + off, sl, fanout);
        }

        /* answers */
        for (unsigned j = xorshift(&x) % 4; j > 0; j--) {
            size_t i = conn_a.n > 0 ? xorshift(&x) % conn_a.n : 0;
            size_t voff = len > 0 ? xorshift(&x) % len : 0;

            if (i < conn_a.n && !conn_a.rq[i].done) {
                answer(i, xorshift(&x) % 8, stream + voff, len - voff);
            }
        }

        /* a heartbeat every hb_s seconds, counted from the first tick */
        now += 600;
        due = hb_s > 0 && identity_known && now - hb_last >= hb_s * 1000ull;
        tick(now, due);
        hb_last = due ? now : hb_last;
    }
    check_outcome(&conn_a, rc_a, why_a, &m, rx_m.skipped);
    /* Whatever is left is answered. */
    for (size_t i = 0; i < conn_a.n; i++) {
        if (!conn_a.rq[i].done) {
            answer(i, xorshift(&x) % 8, stream, len);
        }
    }
    /* B took the stream whole without a fault: so did A, in pieces */
    if (rc_b == 0) {
        CHECK(rc_a == 0 && conn_a.n == conn_b.n);
    }
    return 0;
}

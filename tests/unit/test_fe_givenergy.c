/* SPDX-License-Identifier: MIT */
/*
 * test_fe_givenergy.c -- the "givenergy" front end (proxy/fe_givenergy.c)
 * through its vtable alone, as the session drives it, and the answer and
 * heartbeat builders it uses (giv_build_answer(), giv_build_heartbeat() of
 * backends/givenergy_frame.c), on the captured frames of
 * tests/fixtures/givenergy_vectors.tsv (docs/givenergy.md section 4).
 *
 * A connection is an fe_conn whose fake host records what the front end
 * hands it: requests, ignored frames, bytes sent, and answers with the
 * listener settings of a config loaded from text. Its backend() is always
 * NULL: the answers built from a live backend's serials are the business
 * of the integration tests.
 *
 * feed() must turn every captured request (reads at 0x11, 0x31, 0x32 and
 * 0x01, the meter product reads, writes, the cloud's uid 0x00 ones, every
 * kind of placeholder serial) into exactly one request of the core, however
 * the stream is cut; ignore what a dongle ignores and keep the connection;
 * close it on bytes that are no frame. giv_build_answer() must rebuild
 * every captured answer byte for byte, also in place. device_frame() must
 * copy the dongle's answers to a client, except those of a shape the client
 * waits for.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "core.h"
#include "frontend.h"
#include "giv_vectors.h"
#include "givenergy.h"
#include "pdu.h"
#include "req.h"

#define MAX_SEEN    64
#define WHY_LEN     120
#define STREAM_MAX  4096

/* ---------------------------------------------------------------------- */
/* A connection and its fake host */

/* What the front end handed its host. */
struct sink {
    unsigned stop_at;                  /* request returns 1 at this one */
    int      send_rc;                  /* what send returns */
    const struct cfg_listener *lc;     /* what settings returns */
    unsigned n;                        /* requests */
    struct {
        uint16_t tid;
        uint8_t  unit;
        size_t   pdu_len;
        uint8_t  pdu[MB_PDU_MAX];
    } rq[MAX_SEEN];
    unsigned n_ignored;
    char     ignored[MAX_SEEN][64];
    unsigned n_sent;
    size_t   sent_len;                 /* of the last bytes sent */
    uint8_t  sent[GIV_FRAME_MAX];
};

struct tconn {
    struct fe_conn c;
    struct sink    k;
};

static struct sink *
sink_of(const struct fe_conn *c)
{
    return &container_of(c, struct tconn, c)->k;
}

static int
sink_request(struct fe_conn *c, const struct fe_request *rq)
{
    struct sink *k = sink_of(c);

    cr_assert_lt(k->n, MAX_SEEN);
    cr_assert(rq->pdu_len >= 1 && rq->pdu_len <= MB_PDU_MAX);
    k->rq[k->n].tid = rq->tid;
    k->rq[k->n].unit = rq->unit;
    k->rq[k->n].pdu_len = rq->pdu_len;
    memcpy(k->rq[k->n].pdu, rq->pdu, rq->pdu_len);
    k->n++;
    return k->n == k->stop_at ? 1 : 0;
}

static int
sink_send(struct fe_conn *c, const uint8_t *data, size_t len)
{
    struct sink *k = sink_of(c);

    cr_assert_leq(len, sizeof(k->sent));
    k->n_sent++;
    k->sent_len = len;
    memcpy(k->sent, data, len);
    return k->send_rc;
}

static void
sink_ignored(struct fe_conn *c, const char *what)
{
    struct sink *k = sink_of(c);

    cr_assert_not_null(what);
    cr_assert_lt(k->n_ignored, MAX_SEEN);
    snprintf(k->ignored[k->n_ignored++], sizeof(k->ignored[0]), "%s", what);
}

static const struct cfg_listener *
sink_settings(const struct fe_conn *c)
{
    return sink_of(c)->lc;
}

static struct backend *
sink_backend(const struct fe_conn *c)
{
    (void)c;
    return NULL;
}

static const struct fe_host sink_host = {
    .request = sink_request,
    .send = sink_send,
    .ignored = sink_ignored,
    .settings = sink_settings,
    .backend = sink_backend,
};

/* Open <t> as a connection of the givenergy type, as session_new_type()
 * sets one up. */
static struct fe_conn *
conn_open(struct tconn *t)
{
    const struct frontend_ops *ops = frontend_find("givenergy");

    cr_assert_eq(ops, &fe_givenergy_ops);
    memset(t, 0, sizeof(*t));
    t->c.ops = ops;
    t->c.host = &sink_host;
    t->c.state = calloc(1, ops->state_size);
    cr_assert_not_null(t->c.state);
    if (ops->open != NULL) {
        ops->open(&t->c);
    }
    return &t->c;
}

static void
conn_close(struct fe_conn *c)
{
    if (c->ops->close != NULL) {
        c->ops->close(c);
    }
    free(c->state);
}

static int
feed(struct fe_conn *c, const uint8_t *data, size_t len, char *why)
{
    return c->ops->feed(c, data, len, why, WHY_LEN);
}

static int
feed_vec(struct fe_conn *c, int num, char *why)
{
    return feed(c, vec(num)->b, vec(num)->len, why);
}

/* ---------------------------------------------------------------------- */
/* The captured requests */

/* A request vector with a valid CRC and the request it must become. */
struct want_rq {
    int      num;                      /* Vnn */
    uint8_t  unit;                     /* the device address */
    uint8_t  fc;                       /* PDU function: 3, 4, 6, 0x44 */
    uint16_t a, b;                     /* base and count; register, value */
};

/* Every *_request vector whose CRC verifies (docs/givenergy.md 4). */
static const struct want_rq want_rqs[] = {
    {1, 0x31, 4, 0, 60},               /* GivTCP, serial '**********' */
    {3, 0x31, 4, 180, 60},
    {5, 0x31, 3, 0, 60},
    {7, 0x31, 3, 60, 60},
    {9, 0x31, 3, 120, 60},
    {11, 0x32, 4, 60, 60},             /* battery BMS page */
    {13, 0x11, 6, 20, 0},              /* the cloud: uid 0x00, real serial */
    {15, 0x11, 6, 27, 1},
    {17, 0x11, 6, 94, 0x06A4},
    {19, 0x11, 6, 116, 100},
    {27, 0x11, 3, 0, 60},              /* app/cloud, uid 0x00 */
    {30, 0x01, GIV_PDU_METER, 60, 60}, /* meter product reads, fc 0x16 */
    {31, 0x02, GIV_PDU_METER, 60, 60},
    {32, 0x03, GIV_PDU_METER, 60, 60},
    {33, 0x04, GIV_PDU_METER, 60, 60},
    {35, 0x32, 4, 16, 6},              /* library default 'AB1234G567' */
    {36, 0x32, 6, 20, 1},
    {41, 0x11, 4, 0, 60},              /* givenergy-modbus 'AB1234G000' */
    {42, 0x11, 4, 1360, 54},           /* non-60 count, unaligned base */
    {43, 0x11, 3, 1120, 5},
    {44, 0x01, 4, 60, 30},             /* meter at 0x01 */
};

/* Request <i> of <k> is the one <w> must become. */
static void
check_rq(const struct sink *k, unsigned i, const struct want_rq *w)
{
    const uint8_t pdu[5] = {w->fc, (uint8_t)(w->a >> 8), (uint8_t)w->a,
                            (uint8_t)(w->b >> 8), (uint8_t)w->b};

    cr_assert_lt(i, k->n, "V%02d: no request %u", w->num, i);
    cr_assert_eq(k->rq[i].tid, 0, "V%02d: tid", w->num);
    cr_assert_eq(k->rq[i].unit, w->unit, "V%02d: unit 0x%02X", w->num,
                 k->rq[i].unit);
    cr_assert_eq(k->rq[i].pdu_len, 5, "V%02d: PDU length", w->num);
    cr_assert_eq(memcmp(k->rq[i].pdu, pdu, 5), 0,
                 "V%02d: PDU %02X %02X%02X %02X%02X", w->num,
                 k->rq[i].pdu[0], k->rq[i].pdu[1], k->rq[i].pdu[2],
                 k->rq[i].pdu[3], k->rq[i].pdu[4]);
}

/* Every request vector of want_rqs, back to back. */
static size_t
all_requests(uint8_t *s)
{
    size_t len = 0;

    for (size_t i = 0; i < ARRAY_SIZE(want_rqs); i++) {
        const struct vec *v = vec(want_rqs[i].num);

        memcpy(s + len, v->b, v->len);
        len += v->len;
    }
    return len;
}

static void
check_all_requests(const struct sink *k)
{
    cr_assert_eq(k->n, ARRAY_SIZE(want_rqs), "%u requests", k->n);
    for (unsigned i = 0; i < k->n; i++) {
        check_rq(k, i, &want_rqs[i]);
    }
    cr_assert_eq(k->n_ignored, 0, "ignored: %s", k->ignored[0]);
    cr_assert_eq(k->n_sent, 0);
}

static uint32_t
xorshift(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

Test(fe_giv, vtable)
{
    const struct frontend_ops *ops = &fe_givenergy_ops;

    cr_assert_str_eq(ops->type, "givenergy");
    cr_assert_eq(ops->request_min, GIV_REQ_LEN, "every request: 34 bytes");
    cr_assert_eq(ops->state_size % 8, 0);
    cr_assert_not_null(ops->keys);
    cr_assert_not_null(ops->check_cfg);
    cr_assert_not_null(ops->feed);
    cr_assert_not_null(ops->partial);
    cr_assert_not_null(ops->encode_reply);
    cr_assert_not_null(ops->device_frame);
    cr_assert_not_null(ops->tick);
}

/* The table is every captured request with a good CRC (not the
 * heartbeat_request ones: the dongle's heartbeats), no more. */
Test(fe_giv, table_has_every_request_vector)
{
    size_t found = 0;

    load_vectors();
    for (size_t i = 0; i < n_vecs; i++) {
        const struct vec *v = &vecs[i];
        bool listed = false;

        for (size_t j = 0; j < ARRAY_SIZE(want_rqs); j++) {
            listed = listed || want_rqs[j].num == v->num;
        }
        if (v->want == GIV_OK && v->want_kind == GIV_REQUEST) {
            cr_assert(listed, "V%02d (%s) not in want_rqs", v->num, v->kind);
            found++;
        } else {
            cr_assert_not(listed, "V%02d (%s) is no good request", v->num,
                          v->kind);
        }
    }
    cr_assert_eq(found, ARRAY_SIZE(want_rqs));
}

Test(fe_giv, each_request_alone)
{
    for (size_t i = 0; i < ARRAY_SIZE(want_rqs); i++) {
        struct tconn t;
        struct fe_conn *c = conn_open(&t);
        char why[WHY_LEN] = "";

        cr_assert_eq(feed_vec(c, want_rqs[i].num, why), 0, "V%02d: %s",
                     want_rqs[i].num, why);
        cr_assert_eq(t.k.n, 1, "V%02d: one request", want_rqs[i].num);
        check_rq(&t.k, 0, &want_rqs[i]);
        cr_assert_eq(t.k.n_ignored, 0);
        cr_assert_eq(t.k.n_sent, 0);
        cr_assert_eq(c->ops->partial(c), 0);
        conn_close(c);
    }
}

Test(fe_giv, every_request_in_one_feed)
{
    static uint8_t s[STREAM_MAX];
    size_t len = all_requests(s);
    struct tconn t;
    struct fe_conn *c = conn_open(&t);
    char why[WHY_LEN] = "";

    cr_assert_eq(feed(c, s, len, why), 0, "%s", why);
    check_all_requests(&t.k);
    cr_assert_eq(c->ops->partial(c), 0);
    conn_close(c);
}

/* Byte by byte: a request goes with its 34th byte; partial() counts the
 * bytes of the one not yet whole. */
Test(fe_giv, every_request_byte_by_byte)
{
    static uint8_t s[STREAM_MAX];
    size_t len = all_requests(s);
    struct tconn t;
    struct fe_conn *c = conn_open(&t);
    char why[WHY_LEN] = "";

    for (size_t i = 0; i < len; i++) {
        cr_assert_eq(feed(c, s + i, 1, why), 0, "byte %zu: %s", i, why);
        cr_assert_eq(t.k.n, (i + 1) / GIV_REQ_LEN, "after byte %zu", i);
        cr_assert_eq(c->ops->partial(c), (i + 1) % GIV_REQ_LEN,
                     "after byte %zu", i);
    }
    check_all_requests(&t.k);
    conn_close(c);
}

/* Every cut of three requests in two reads. */
Test(fe_giv, every_cut_in_two)
{
    const int nums[] = {13, 30, 42};
    uint8_t s[3 * GIV_REQ_LEN];

    for (size_t i = 0; i < 3; i++) {
        memcpy(s + i * GIV_REQ_LEN, vec(nums[i])->b, GIV_REQ_LEN);
    }
    for (size_t cut = 0; cut <= sizeof(s); cut++) {
        struct tconn t;
        struct fe_conn *c = conn_open(&t);
        char why[WHY_LEN] = "";

        cr_assert_eq(feed(c, s, cut, why), 0, "cut %zu: %s", cut, why);
        cr_assert_eq(t.k.n, cut / GIV_REQ_LEN, "cut %zu", cut);
        cr_assert_eq(c->ops->partial(c), cut % GIV_REQ_LEN, "cut %zu", cut);
        cr_assert_eq(feed(c, s + cut, sizeof(s) - cut, why), 0, "%s", why);
        cr_assert_eq(t.k.n, 3, "cut %zu", cut);
        check_rq(&t.k, 0, &want_rqs[6]);
        check_rq(&t.k, 1, &want_rqs[11]);
        check_rq(&t.k, 2, &want_rqs[18]);
        cr_assert_eq(c->ops->partial(c), 0);
        conn_close(c);
    }
}

/* Random pieces of 0..99 bytes (0: an empty read), 200 ways. */
Test(fe_giv, every_request_random_splits)
{
    static uint8_t s[STREAM_MAX];
    size_t len = all_requests(s);

    for (uint32_t seed = 1; seed <= 200; seed++) {
        struct tconn t;
        struct fe_conn *c = conn_open(&t);
        char why[WHY_LEN] = "";
        uint32_t x = seed * 2654435761u;
        size_t pos = 0;

        while (pos < len) {
            size_t n = xorshift(&x) % 100;

            n = n > len - pos ? len - pos : n;
            cr_assert_eq(feed(c, s + pos, n, why), 0, "seed %u: %s", seed,
                         why);
            pos += n;
            cr_assert_eq(t.k.n, pos / GIV_REQ_LEN, "seed %u", seed);
            cr_assert_eq(c->ops->partial(c), pos % GIV_REQ_LEN);
        }
        check_all_requests(&t.k);
        conn_close(c);
    }
}

/* ---------------------------------------------------------------------- */
/* What is ignored, what closes */

/* A request built as a client would send it, uid 0x01, serial
 * 'AB1234G567'; <fc> and the two fields as given. */
static void
client_request(uint8_t out[GIV_REQ_LEN], uint8_t device, uint8_t fc,
               uint16_t a, uint16_t b)
{
    cr_assert_eq(giv_build_read(out, (const uint8_t *)"AB1234G567", device,
                                fc, a, b), GIV_REQ_LEN);
}

/* Frame <f> (<len> bytes) then V41, fed in one call and byte by byte:
 * the frame is ignored (<n_ignored> calls of host->ignored, the last
 * containing <what>), V41 goes on as a request, the connection stays. */
static void
check_ignored(const uint8_t *f, size_t len, unsigned n_ignored,
              const char *what, const char *name)
{
    static uint8_t s[STREAM_MAX];

    memcpy(s, f, len);
    memcpy(s + len, vec(41)->b, vec(41)->len);
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        struct tconn t;
        struct fe_conn *c = conn_open(&t);
        char why[WHY_LEN] = "";
        size_t total = len + vec(41)->len;

        if (bytewise) {
            for (size_t i = 0; i < total; i++) {
                cr_assert_eq(feed(c, s + i, 1, why), 0, "%s, byte %zu: "
                             "closed: %s", name, i, why);
            }
        } else {
            cr_assert_eq(feed(c, s, total, why), 0, "%s: closed: %s", name,
                         why);
        }
        cr_assert_eq(t.k.n_ignored, n_ignored, "%s: ignored %u times",
                     name, t.k.n_ignored);
        if (n_ignored > 0) {
            cr_assert_not_null(strstr(t.k.ignored[n_ignored - 1], what),
                               "%s: ignored as \"%s\"", name,
                               t.k.ignored[n_ignored - 1]);
        }
        cr_assert_eq(t.k.n, 1, "%s: no request of its own", name);
        check_rq(&t.k, 0, &want_rqs[17]);
        cr_assert_eq(t.k.n_sent, 0, "%s: nothing sent", name);
        cr_assert_eq(c->ops->partial(c), 0);
        conn_close(c);
    }
}

/*
 * A request with a bad CRC is ignored, as the AIO ignores it, and the
 * connection stays. (It was once closed: the deframer counts a bad
 * frame's bytes in rx.skipped, which the front end took for garbage.)
 */
Test(fe_giv, ignores_the_legacy_crc_request)
{
    cr_assert_eq(vec(22)->want, GIV_BAD_CRC);
    check_ignored(vec(22)->b, vec(22)->len, 1, "bad CRC", "V22");
}

/* A read of 0 or of 61 registers, whatever the function: the dongle does
 * not pass it on (docs/givenergy.md 6). A write of value 0 is a request
 * (V13). */
Test(fe_giv, ignores_reads_of_0_or_61_registers)
{
    const uint8_t fcs[] = {3, 4, 0x16};
    const uint16_t counts[] = {0, 61, 120, 0xFFFF};
    uint8_t f[GIV_REQ_LEN];
    char name[32];

    for (size_t i = 0; i < ARRAY_SIZE(fcs); i++) {
        for (size_t j = 0; j < ARRAY_SIZE(counts); j++) {
            snprintf(name, sizeof(name), "fc %u count %u", fcs[i],
                     counts[j]);
            client_request(f, 0x11, fcs[i], 0, counts[j]);
            check_ignored(f, sizeof(f), 1, "registers", name);
        }
    }
}

/* A valid frame with an inner function no device answers. */
Test(fe_giv, ignores_unknown_functions)
{
    const uint8_t fcs[] = {0x01, 0x02, 0x05, 0x10, 0x17, 0x39, 0x44, 0x83};
    uint8_t f[GIV_REQ_LEN];
    char name[32], what[32];

    for (size_t i = 0; i < ARRAY_SIZE(fcs); i++) {
        snprintf(name, sizeof(name), "fc 0x%02X", fcs[i]);
        snprintf(what, sizeof(what), "0x%02X", fcs[i]);
        client_request(f, 0x11, fcs[i], 0, 60);
        check_ignored(f, sizeof(f), 1, what, name);
    }
}

/* A client's answers to heartbeats (its own placeholder serial, V40, or
 * an echo, V29, V37) are taken without a word: no request, not counted as
 * ignored. */
Test(fe_giv, takes_heartbeat_answers_silently)
{
    const int nums[] = {29, 37, 40, 25};
    char name[8];

    for (size_t i = 0; i < ARRAY_SIZE(nums); i++) {
        snprintf(name, sizeof(name), "V%02d", nums[i]);
        check_ignored(vec(nums[i])->b, vec(nums[i])->len, 0, "", name);
    }
}

/* Answers sent by a client (a dongle's frames, not requests), and the
 * frames the deframer keeps but are never data, are ignored. */
Test(fe_giv, ignores_responses_from_a_client)
{
    static const struct {
        int         num;
        const char *what;
    } cases[] = {
        {2, "kind"},  {14, "kind"}, {46, "kind"}, {50, "kind"},
        {51, "kind"}, {53, "kind"}, {48, "kind"},
        {34, "0x00"},                  /* null response */
        {54, ""},                      /* LAN-config broadcast */
    };
    char name[8];

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        snprintf(name, sizeof(name), "V%02d", cases[i].num);
        check_ignored(vec(cases[i].num)->b, vec(cases[i].num)->len, 1,
                      cases[i].what, name);
    }
}

/* Bytes <s> after V41: V41 goes on, then feed() fails with a reason that
 * contains <want>; fed whole and byte by byte. */
static void
check_closes(const uint8_t *bad, size_t len, const char *want,
             const char *name)
{
    static uint8_t s[STREAM_MAX];
    size_t total = vec(41)->len + len;

    memcpy(s, vec(41)->b, vec(41)->len);
    memcpy(s + vec(41)->len, bad, len);
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        struct tconn t;
        struct fe_conn *c = conn_open(&t);
        char why[WHY_LEN] = "";
        int rc = 0;

        if (bytewise) {
            for (size_t i = 0; i < total && rc == 0; i++) {
                rc = feed(c, s + i, 1, why);
            }
        } else {
            rc = feed(c, s, total, why);
        }
        cr_assert_lt(rc, 0, "%s: not closed", name);
        cr_assert_not_null(strstr(why, "not a GivEnergy frame"),
                           "%s: why \"%s\"", name, why);
        cr_assert_not_null(strstr(why, want), "%s: why \"%s\"", name, why);
        cr_assert_eq(t.k.n, 1, "%s: the request before it", name);
        check_rq(&t.k, 0, &want_rqs[17]);
        cr_assert_eq(t.k.n_sent, 0);
        conn_close(c);
    }
}

Test(fe_giv, closes_on_garbage)
{
    static const char text[] = "GET / HTTP/1.1\r\nHost: dongle\r\n\r\n";
    static const uint8_t mbap[] = {0x00, 0x01, 0x00, 0x00, 0x00, 0x06,
                                   0x11, 0x03, 0x00, 0x00, 0x00, 0x3C};

    check_closes((const uint8_t *)text, sizeof(text) - 1,
                 "without a 59 59 00 01 header", "HTTP");
    check_closes(mbap, sizeof(mbap), "without a 59 59 00 01 header",
                 "Modbus TCP");
}

/*
 * Garbage, then a request, in one read: nothing after the garbage is
 * taken, exactly as when the same bytes come in two reads or byte by
 * byte; how the socket cuts the stream does not matter. (The request was
 * once handed on, a write made, before the connection closed.)
 */
Test(fe_giv, nothing_after_garbage_in_the_same_read)
{
    static const char text[] = "GET / HTTP/1.1\r\n";
    uint8_t s[sizeof(text) - 1 + GIV_REQ_LEN];
    struct tconn t;
    struct fe_conn *c = conn_open(&t);
    char why[WHY_LEN] = "";

    memcpy(s, text, sizeof(text) - 1);
    memcpy(s + sizeof(text) - 1, vec(13)->b, GIV_REQ_LEN);
    cr_assert_lt(feed(c, s, sizeof(s), why), 0);
    cr_assert_eq(t.k.n, 0, "the write after the garbage was handed on");
    conn_close(c);
}

/* A marker, then a header no dongle sends, or a frame whose sizes do not
 * add up. */
Test(fe_giv, closes_on_a_bad_header_or_length)
{
    uint8_t f[GIV_REQ_LEN + 8];

    /* LEN 0xFFFF */
    memcpy(f, vec(41)->b, GIV_REQ_LEN);
    f[4] = 0xFF;
    f[5] = 0xFF;
    check_closes(f, GIV_REQ_LEN, "", "LEN 0xFFFF");
    /* LEN 12, under the heartbeat's */
    memcpy(f, vec(41)->b, GIV_REQ_LEN);
    f[5] = 12;
    check_closes(f, GIV_REQ_LEN, "", "LEN 12");
    /* uid 0x05 */
    memcpy(f, vec(41)->b, GIV_REQ_LEN);
    f[6] = 0x05;
    check_closes(f, GIV_REQ_LEN, "", "uid 5");
    /* fid 0x03 */
    memcpy(f, vec(41)->b, GIV_REQ_LEN);
    f[7] = 0x03;
    check_closes(f, GIV_REQ_LEN, "", "fid 3");
    /* the 8-byte field is not the bytes after it (V38: 0x8A for 18) */
    check_closes(vec(38)->b, vec(38)->len, "bad length", "V38");
    /* a request with the heartbeat's fid: 34 bytes, not 19 */
    memcpy(f, vec(41)->b, GIV_REQ_LEN);
    f[7] = 0x01;
    check_closes(f, GIV_REQ_LEN, "bad length", "fid 1, 34 bytes");
    /* a request whose LEN says 8 bytes more than the field does */
    memcpy(f, vec(41)->b, GIV_REQ_LEN);
    memset(f + GIV_REQ_LEN, 0, 8);
    f[5] = GIV_REQ_LEN + 8 - 6;
    check_closes(f, GIV_REQ_LEN + 8, "bad length", "LEN + 8");
}

/* host->request's non-zero value stops the feed there: the session is
 * closing. */
Test(fe_giv, stops_when_the_session_closes)
{
    static uint8_t s[STREAM_MAX];
    size_t len = all_requests(s);
    struct tconn t;
    struct fe_conn *c = conn_open(&t);
    char why[WHY_LEN] = "";

    t.k.stop_at = 3;
    cr_assert_eq(feed(c, s, len, why), 1);
    cr_assert_eq(t.k.n, 3, "nothing after the third");
    cr_assert_eq(t.k.n_ignored, 0);
    conn_close(c);

    /* the frame that stopped it is the last of a read */
    c = conn_open(&t);
    t.k.stop_at = 1;
    cr_assert_eq(feed(c, s, GIV_REQ_LEN, why), 1);
    cr_assert_eq(t.k.n, 1);
    conn_close(c);

    /* garbage after it in the same read: still the session's value, and
     * nothing is ignored after it */
    c = conn_open(&t);
    t.k.stop_at = 1;
    memcpy(s + GIV_REQ_LEN, "garbage!", 8);
    memcpy(s + GIV_REQ_LEN + 8, vec(22)->b, vec(22)->len);
    cr_assert_eq(feed(c, s, GIV_REQ_LEN + 8 + vec(22)->len, why), 1);
    cr_assert_eq(t.k.n, 1);
    cr_assert_eq(t.k.n_ignored, 0);
    conn_close(c);
}

/* partial(): the bytes of a frame not yet whole, from its first byte. */
Test(fe_giv, partial_is_the_unfinished_frame)
{
    const struct vec *hb = vec(40);
    struct tconn t;
    struct fe_conn *c = conn_open(&t);
    char why[WHY_LEN] = "";

    cr_assert_eq(c->ops->partial(c), 0, "a new connection");
    cr_assert_eq(feed(c, vec(1)->b, 1, why), 0);
    cr_assert_eq(c->ops->partial(c), 1, "one byte of a marker");
    cr_assert_eq(feed(c, vec(1)->b + 1, 20, why), 0);
    cr_assert_eq(c->ops->partial(c), 21);
    cr_assert_eq(feed(c, vec(1)->b + 21, 13, why), 0);
    cr_assert_eq(c->ops->partial(c), 0, "whole");
    cr_assert_eq(t.k.n, 1);
    /* a heartbeat answer, then 30 bytes of a request */
    cr_assert_eq(feed(c, hb->b, hb->len, why), 0);
    cr_assert_eq(feed(c, vec(5)->b, 30, why), 0);
    cr_assert_eq(c->ops->partial(c), 30);
    cr_assert_eq(feed(c, vec(5)->b + 30, 4, why), 0);
    cr_assert_eq(c->ops->partial(c), 0);
    cr_assert_eq(t.k.n, 2);
    conn_close(c);
}

/* ---------------------------------------------------------------------- */
/* Answers */

/* A DONE request for PDU <pdu> of unit <unit> with response <rsp>. */
static struct req *
done_req(uint8_t unit, const uint8_t pdu[5], const uint8_t *rsp,
         size_t rsp_len)
{
    struct req *r = xcalloc(1, sizeof(*r));

    r->unit = unit;
    r->state = REQ_DONE;
    memcpy(req_pdu(r), pdu, 5);
    r->pdu_len = 5;
    req_set_response(r, rsp, rsp_len);
    return r;
}

/* The count (the value of a write) of request <i> of <k>. */
static int
rq_count(const struct sink *k, unsigned i)
{
    return k->rq[i].pdu[3] << 8 | k->rq[i].pdu[4];
}

/* The DONE request of request <i> of <k>, answered with <n> registers of
 * 0x1234 (a read), an echo (a write), or exception 2 when <n> < 0. */
static struct req *
done_of(const struct sink *k, unsigned i, int n)
{
    uint8_t rsp[2 + 2 * GIV_REGS_MAX];
    size_t len;

    cr_assert_lt(i, k->n);
    if (n < 0) {
        len = pdu_exception(rsp, k->rq[i].pdu[0], 0x02);
    } else if (k->rq[i].pdu[0] == 6) {     /* <n>: its value */
        memcpy(rsp, k->rq[i].pdu, 5);
        len = 5;
    } else {
        rsp[0] = k->rq[i].pdu[0];
        rsp[1] = (uint8_t)(2 * n);
        for (int j = 0; j < n; j++) {
            rsp[2 + 2 * j] = 0x12;
            rsp[3 + 2 * j] = 0x34;
        }
        len = 2 + 2 * (size_t)n;
    }
    return done_req(k->rq[i].unit, k->rq[i].pdu, rsp, len);
}

/* Without a running givenergy backend there are no serials to put in an
 * answer: every answer is silence, reads, writes, errors and refusals
 * alike. */
Test(fe_giv, encode_reply_without_a_backend_is_silence)
{
    static uint8_t s[STREAM_MAX];
    size_t len = all_requests(s);
    struct tconn t;
    struct fe_conn *c = conn_open(&t);
    char why[WHY_LEN] = "";

    cr_assert_eq(feed(c, s, len, why), 0);
    cr_assert_eq(t.k.n, ARRAY_SIZE(want_rqs));
    for (unsigned i = 0; i < t.k.n; i++) {
        struct req *ok = done_of(&t.k, i, rq_count(&t.k, i));
        struct req *ex = done_of(&t.k, i, -1);
        const uint8_t *out = NULL;

        cr_assert_eq(c->ops->encode_reply(c, ok, &out), 0, "V%02d",
                     want_rqs[i].num);
        ex->failed = true;
        ex->refused = true;
        cr_assert_eq(c->ops->encode_reply(c, ex, &out), 0, "V%02d",
                     want_rqs[i].num);
        cr_assert_null(out, "nothing to write");
        free(ok);
        free(ex);
    }
    cr_assert_eq(t.k.n_sent, 0);
    conn_close(c);
}

/* The fields of captured answer <v>, read at the offsets of
 * docs/givenergy.md 1.3 to 1.5, and the frame giv_build_answer() makes of
 * them with the values first copied to <out> + <at> (or from the
 * capture itself when <at> < 0). */
static size_t
rebuild(const struct vec *v, uint8_t *out, size_t out_size, long at)
{
    const uint8_t *b = v->b;
    size_t n = (v->len - 44) / 2;
    const uint8_t *values = b + 42;

    cr_assert_geq(v->len, 44);
    cr_assert_eq(v->len % 2, 0, "V%02d", v->num);
    memset(out, 0xEE, out_size);
    if (at >= 0) {
        cr_assert_leq((size_t)at + 2 * n, out_size);
        memcpy(out + at, values, 2 * n);
        values = out + at;
    }
    return giv_build_answer(out, b + 8, b[26], b[27], b + 28,
                            (uint16_t)(b[38] << 8 | b[39]),
                            (uint16_t)(b[40] << 8 | b[41]), values, n);
}

/* Every captured answer whose CRC verifies: read answers of fc 3, 4 and
 * 0x16 (60 registers, and 30, 1 and 5: V45 to V47), write echoes (V14,
 * V16, V18, V20: the 8-byte field 0x12), error frames (V50 to V52: fc |
 * 0x80, count echoed or 0). */
Test(fe_giv, build_answer_reproduces_every_captured_answer)
{
    const long places[] = {-1, 0, 9, 41, 42, 43, 50};
    const int must[] = {2, 14, 16, 45, 46, 47, 50, 51, 52, 53};
    size_t n_rebuilt = 0;
    bool seen[VEC_MAX + 1] = {false};

    load_vectors();
    for (size_t i = 0; i < n_vecs; i++) {
        const struct vec *v = &vecs[i];

        if (v->want != GIV_OK || (v->want_kind != GIV_READ_RESPONSE &&
                                  v->want_kind != GIV_WRITE_RESPONSE &&
                                  v->want_kind != GIV_ERROR_RESPONSE)) {
            continue;
        }
        /* <at>: where the values sit first; 9 is where fe_givenergy.c
         * has them (req_rsp(r) + 2); 0 and 41 overlap the header */
        for (size_t j = 0; j < ARRAY_SIZE(places); j++) {
            uint8_t out[GIV_ANSWER_MAX + 64];
            size_t len = rebuild(v, out, sizeof(out), places[j]);

            cr_assert_eq(len, v->len, "V%02d at %ld: %zu bytes", v->num,
                         places[j], len);
            cr_assert_eq(memcmp(out, v->b, len), 0, "V%02d at %ld: bytes",
                         v->num, places[j]);
        }
        seen[v->num] = true;
        n_rebuilt++;
    }
    for (size_t i = 0; i < ARRAY_SIZE(must); i++) {
        cr_assert(seen[must[i]], "V%02d not rebuilt", must[i]);
    }
    cr_assert_eq(n_rebuilt, 21, "%zu answers", n_rebuilt);
}

/* In place as fe_givenergy.c builds it: a response PDU at req_rsp(r),
 * its values at r->out + 9, the frame over it from r->out. */
Test(fe_giv, build_answer_in_a_request)
{
    const int nums[] = {2, 12, 45, 46, 47, 53};

    for (size_t i = 0; i < ARRAY_SIZE(nums); i++) {
        const struct vec *v = vec(nums[i]);
        const uint8_t *b = v->b;
        size_t n = (v->len - 44) / 2;
        struct req *r = xcalloc(1, sizeof(*r));
        uint8_t rsp[2 + 2 * GIV_REGS_MAX];
        size_t len;

        rsp[0] = b[27];
        rsp[1] = (uint8_t)(2 * n);
        memcpy(rsp + 2, b + 42, 2 * n);
        req_set_response(r, rsp, 2 + 2 * n);
        cr_assert_eq(req_rsp(r) + 2, r->out + 9);
        len = giv_build_answer(r->out, b + 8, b[26], b[27], b + 28,
                               (uint16_t)(b[38] << 8 | b[39]),
                               (uint16_t)(b[40] << 8 | b[41]),
                               req_rsp(r) + 2, n);
        cr_assert_leq(len, sizeof(r->out));
        cr_assert_eq(len, v->len, "V%02d", v->num);
        cr_assert_eq(memcmp(r->out, b, len), 0, "V%02d", v->num);
        free(r);
    }
}

/* The dongle's heartbeats (V25, V26, V39), and the clients' echoes of
 * them, which have the same layout (V29, V37, V40). */
Test(fe_giv, build_heartbeat_reproduces_the_captured_ones)
{
    const int nums[] = {25, 26, 39, 29, 37, 40};

    for (size_t i = 0; i < ARRAY_SIZE(nums); i++) {
        const struct vec *v = vec(nums[i]);
        uint8_t out[GIV_HEARTBEAT_LEN + 8];

        cr_assert_eq(v->len, GIV_HEARTBEAT_LEN);
        memset(out, 0xEE, sizeof(out));
        cr_assert_eq(giv_build_heartbeat(out, v->b + 8, v->b[18]),
                     GIV_HEARTBEAT_LEN);
        cr_assert_eq(memcmp(out, v->b, GIV_HEARTBEAT_LEN), 0, "V%02d",
                     v->num);
        cr_assert_eq(out[GIV_HEARTBEAT_LEN], 0xEE, "V%02d: past the end",
                     v->num);
    }
}

/* ---------------------------------------------------------------------- */
/* Fan-out */

static struct cfg_errors errs;

/* A givenergy listener "dongle" in front of [backend giv], with
 * <fanout_line> (e.g. "fanout = no\n", or ""). */
static struct cfg *
load_listener(const char *fanout_line, const struct cfg_listener **l)
{
    char text[512];
    struct cfg *cfg;

    snprintf(text, sizeof(text),
             "[server]\nlisten = none\n"
             "[listener dongle]\ntype = givenergy\n"
             "listen = 127.0.0.1:8899\nbackend = giv\n%s"
             "[backend giv]\ntype = givenergy\nhost = 192.168.1.40\n",
             fanout_line);
    cfg = cfg_load_string("t.ini", text, &errs);
    cr_assert_not_null(cfg, "%s", errs.n > 0 ? errs.msg[0] : "?");
    *l = cfg_listener_find(cfg, "dongle");
    cr_assert_not_null(*l);
    cr_assert_str_eq((*l)->type, "givenergy");
    return cfg;
}

/* device_frame(<num>) sends it, the same bytes, or sends nothing. */
static void
offer(struct fe_conn *c, int num, bool sent)
{
    struct sink *k = sink_of(c);
    unsigned before = k->n_sent;
    const struct vec *v = vec(num);

    cr_assert_eq(c->ops->device_frame(c, v->b, v->len), sent,
                 "V%02d: %s", num, sent ? "not sent" : "sent");
    cr_assert_eq(k->n_sent, before + (sent ? 1 : 0), "V%02d", num);
    if (sent) {
        cr_assert_eq(k->sent_len, v->len, "V%02d", num);
        cr_assert_eq(memcmp(k->sent, v->b, v->len), 0, "V%02d: bytes", num);
    }
}

/* The dongle's answers with a good CRC: read (fc 3, 4, 0x16; 60, 30, 1,
 * 5 registers), write echoes, error frames, the cloud's copies. */
static const int fanned[] = {2,  4,  6,  8,  10, 12, 14, 16, 18, 20, 21,
                             28, 45, 46, 47, 48, 49, 50, 51, 52, 53};

Test(fe_giv, fanout_sends_every_answer)
{
    const struct cfg_listener *l;
    struct cfg *cfg = load_listener("", &l);
    struct tconn t;
    struct fe_conn *c = conn_open(&t);

    t.k.lc = l;
    for (size_t i = 0; i < ARRAY_SIZE(fanned); i++) {
        offer(c, fanned[i], true);
    }
    cr_assert_eq(t.k.n, 0, "never a request");
    conn_close(c);
    cfg_free(cfg);
}

Test(fe_giv, fanout_no_sends_nothing)
{
    const struct cfg_listener *l;
    struct cfg *cfg = load_listener("fanout = no\n", &l);
    struct tconn t;
    struct fe_conn *c = conn_open(&t);

    t.k.lc = l;
    for (size_t i = 0; i < ARRAY_SIZE(fanned); i++) {
        offer(c, fanned[i], false);
    }
    /* the listener's section gone (a reload): nothing either */
    t.k.lc = NULL;
    offer(c, 2, false);
    conn_close(c);
    cfg_free(cfg);
}

/* Heartbeats, requests, frames with a bad CRC and those the guards drop
 * are never copied. */
Test(fe_giv, fanout_never_sends_heartbeats_requests_or_junk)
{
    const int never[] = {25, 26, 39, 29, 40, /* heartbeats */
                         1,  13, 27, 30, 42, /* requests */
                         22, 23, 24,         /* bad CRC */
                         34, 54, 55, 56, 38};
    const struct cfg_listener *l;
    struct cfg *cfg = load_listener("fanout = yes\n", &l);
    struct tconn t;
    struct fe_conn *c = conn_open(&t);
    uint8_t vals[2 * GIV_REGS_MAX] = {0}, f[GIV_ANSWER_MAX];
    static const struct {
        uint8_t  index;
        uint16_t v;
    } subst[] = {{28, 0x4C32}, {30, 0xA119}, {31, 0x34EA},
                 {32, 0xE77F}, {33, 0xD475}, {35, 0x4500}};
    size_t len;

    t.k.lc = l;
    for (size_t i = 0; i < ARRAY_SIZE(never); i++) {
        offer(c, never[i], false);
    }
    /* the substituted block (docs/givenergy.md 5.4): 6 of its values */
    for (size_t i = 0; i < ARRAY_SIZE(subst); i++) {
        vals[2 * subst[i].index] = (uint8_t)(subst[i].v >> 8);
        vals[2 * subst[i].index + 1] = (uint8_t)subst[i].v;
    }
    len = giv_build_answer(f, vec(12)->b + 8, 0x32, 4, vec(12)->b + 28, 0,
                           60, vals, 60);
    cr_assert_not(c->ops->device_frame(c, f, len), "substituted block");
    /* and a truncated answer */
    cr_assert_not(c->ops->device_frame(c, vec(2)->b, vec(2)->len - 1));
    cr_assert_eq(t.k.n_sent, 0);
    cr_assert_eq(t.k.n, 0);
    conn_close(c);
    cfg_free(cfg);
}

/* A send that fails is no copy sent. */
Test(fe_giv, fanout_send_error)
{
    const struct cfg_listener *l;
    struct cfg *cfg = load_listener("", &l);
    struct tconn t;
    struct fe_conn *c = conn_open(&t);

    t.k.lc = l;
    t.k.send_rc = -32;  /* UV_EPIPE on Linux */
    cr_assert_not(c->ops->device_frame(c, vec(2)->b, vec(2)->len));
    cr_assert_eq(t.k.n_sent, 1, "it was tried");
    conn_close(c);
    cfg_free(cfg);
}

/* A frame of the shape of a request the client has outstanding is not
 * copied (its answer carries it), until encode_reply() has answered it.
 * Error frames match on device, function and base: V51 echoes count 0. */
Test(fe_giv, fanout_skips_what_the_client_waits_for)
{
    static const struct {
        int rq, rsp;                   /* request vector, its answer */
        int other;                     /* an answer of another shape */
    } cases[] = {
        {1, 2, 4},                     /* IR 0 @0x31; IR 180 */
        {5, 6, 8},                     /* HR 0 @0x31; HR 60 */
        {11, 12, 2},                   /* IR 60 @0x32; IR 0 @0x31 */
        {13, 14, 16},                  /* write HR20=0 @0x11; HR27=1 */
        {44, 45, 53},                  /* IR 60,30 @0x01; meter @0x02 */
        {31, 53, 45},                  /* meter 60,60 @0x02 (fc 0x16) */
        {3, 51, 50},                   /* IR 180 @0x31: error, count 0 */
        {27, 28, 21},                  /* HR 0 @0x11; HR 0 @0x31 */
    };
    const struct cfg_listener *l;
    struct cfg *cfg = load_listener("", &l);

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct tconn t;
        struct fe_conn *c = conn_open(&t);
        char why[WHY_LEN] = "";
        const uint8_t *out = NULL;
        struct req *r;

        t.k.lc = l;
        cr_assert_eq(feed_vec(c, cases[i].rq, why), 0);
        cr_assert_eq(t.k.n, 1, "V%02d", cases[i].rq);
        offer(c, cases[i].rsp, false);
        offer(c, cases[i].rsp, false);
        offer(c, cases[i].other, true);
        r = done_of(&t.k, 0, rq_count(&t.k, 0));
        cr_assert_eq(c->ops->encode_reply(c, r, &out), 0);
        free(r);
        offer(c, cases[i].rsp, true);
        offer(c, cases[i].other, true);
        conn_close(c);
    }
    cfg_free(cfg);
}

/* An answer held for several requests of the same shape stays held until
 * the last is answered; an exception answer releases it too. */
Test(fe_giv, fanout_two_requests_of_one_shape)
{
    const struct cfg_listener *l;
    struct cfg *cfg = load_listener("", &l);
    struct tconn t;
    struct fe_conn *c = conn_open(&t);
    char why[WHY_LEN] = "";
    const uint8_t *out = NULL;
    struct req *r;

    t.k.lc = l;
    cr_assert_eq(feed_vec(c, 1, why), 0);
    cr_assert_eq(feed_vec(c, 1, why), 0);
    cr_assert_eq(t.k.n, 2);
    offer(c, 2, false);
    r = done_of(&t.k, 0, -1);
    r->failed = true;
    cr_assert_eq(c->ops->encode_reply(c, r, &out), 0);
    free(r);
    offer(c, 2, false);
    r = done_of(&t.k, 1, 60);
    cr_assert_eq(c->ops->encode_reply(c, r, &out), 0);
    free(r);
    offer(c, 2, true);
    conn_close(c);
    cfg_free(cfg);
}

/* Without a backend there is no heartbeat to send, however long it has
 * been. */
Test(fe_giv, tick_without_a_backend_sends_nothing)
{
    const struct cfg_listener *l;
    struct cfg *cfg = load_listener("heartbeat_s = 1\n", &l);
    struct tconn t;
    struct fe_conn *c = conn_open(&t);

    t.k.lc = l;
    for (uint64_t ms = 1000; ms <= 10000; ms += 1000) {
        c->ops->tick(c, ms);
    }
    cr_assert_eq(t.k.n_sent, 0);
    conn_close(c);
    cfg_free(cfg);
}

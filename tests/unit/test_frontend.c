/* SPDX-License-Identifier: MIT */
/*
 * test_frontend.c -- the front-end registry (proxy/frontend.c) and the
 * "modbus" front end (proxy/fe_modbus.c) through its vtable alone, as the
 * session drives it: no loop, no socket. A connection is an fe_conn
 * whose host collects the requests feed() hands on.
 *
 * feed() must hand on pipelined frames in order with the client's
 * transaction id, unit and PDU; hold a partial frame across calls (and
 * report its bytes through partial(), which the frame deadline reads);
 * stop where the session says it is closing; and refuse a malformed
 * header with the reason the session logs. encode_reply() must put the
 * MBAP header in front of the response PDU in place, in the request.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "core.h"
#include "frontend.h"
#include "mbap.h"
#include "pdu.h"
#include "req.h"

#define MAX_SEEN 16

/* What the request callback collected. */
struct sink {
    unsigned n;
    unsigned stop_at;                 /* return 1 at this request (1..) */
    struct {
        uint16_t tid;
        uint8_t  unit;
        size_t   pdu_len;
        uint8_t  pdu[MB_PDU_MAX];
    } rq[MAX_SEEN];
};

/* A connection and the sink its requests go to. */
struct tconn {
    struct fe_conn c;
    struct sink   *k;
};

static int
sink_request(struct fe_conn *c, const struct fe_request *rq)
{
    struct sink *k = container_of(c, struct tconn, c)->k;

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
    cr_assert_fail("the modbus front end never writes on its own");
    return 0;
}

static const struct fe_host sink_host = {
    .request = sink_request,
    .send = sink_send,
};

/* Open connection <t> of the modbus type onto sink <k>, as
 * session_new_type() sets one up. */
static struct fe_conn *
conn_open(struct tconn *t, struct sink *k)
{
    const struct frontend_ops *ops = frontend_find("modbus");

    cr_assert_not_null(ops);
    t->k = k;
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
    return c->ops->feed(c, data, len, why, 120);
}

/* Read holding registers: tid 0x0102 unit 1, tid 0x0103 unit 17, and a
 * write single register tid 0xBEEF unit 0xF7, end to end. */
static const uint8_t three[] = {
    0x01, 0x02, 0, 0, 0, 6, 0x01, 0x03, 0x00, 0x10, 0x00, 0x02,
    0x01, 0x03, 0, 0, 0, 6, 0x11, 0x03, 0x30, 0x00, 0x00, 0x7D,
    0xBE, 0xEF, 0, 0, 0, 6, 0xF7, 0x06, 0x00, 0x28, 0x00, 0x09,
};

/* The three requests of <three>, in order. */
static void
check_three(const struct sink *k)
{
    static const uint8_t pdu2[] = {0x06, 0x00, 0x28, 0x00, 0x09};

    cr_assert_eq(k->n, 3);
    cr_assert_eq(k->rq[0].tid, 0x0102);
    cr_assert_eq(k->rq[0].unit, 1);
    cr_assert_eq(k->rq[0].pdu_len, 5);
    cr_assert_eq(memcmp(k->rq[0].pdu, three + 7, 5), 0);
    cr_assert_eq(k->rq[1].tid, 0x0103);
    cr_assert_eq(k->rq[1].unit, 17);
    cr_assert_eq(memcmp(k->rq[1].pdu, three + 19, 5), 0);
    cr_assert_eq(k->rq[2].tid, 0xBEEF);
    cr_assert_eq(k->rq[2].unit, 0xF7);
    cr_assert_eq(k->rq[2].pdu_len, sizeof(pdu2));
    cr_assert_eq(memcmp(k->rq[2].pdu, pdu2, sizeof(pdu2)), 0);
}

Test(frontend, registry)
{
    const struct frontend_ops *ops = frontend_find(FRONTEND_DEFAULT);
    char names[64];

    cr_assert_not_null(ops, "the default type is built in");
    cr_assert_str_eq(ops->type, "modbus");
    cr_assert_eq(ops, &fe_modbus_ops);
    cr_assert_eq(frontend_find("givenergy"), &fe_givenergy_ops);
    cr_assert_null(frontend_find("tigo"));
    cr_assert_null(frontend_find("MODBUS"));
    cr_assert_null(frontend_find(""));
    cr_assert_eq(frontend_type_names(names, sizeof(names)), 17);
    cr_assert_str_eq(names, "modbus, givenergy");
    cr_assert_eq(frontend_type_names(names, 4), 17, "the length it needs");
    cr_assert_str_eq(names, "mod", "truncated");
    cr_assert_not_null(ops->feed);
    cr_assert_not_null(ops->partial);
    cr_assert_not_null(ops->encode_reply);
    cr_assert_eq(ops->request_min, MB_FRAME_MIN, "a bare function code");
}

Test(frontend, modbus_pipelined_frames_in_one_read)
{
    struct sink k = {0};
    struct tconn t;
    struct fe_conn *c = conn_open(&t, &k);
    char why[120] = "";

    cr_assert_eq(feed(c, three, sizeof(three), why), 0);
    check_three(&k);
    cr_assert_eq(c->ops->partial(c), 0, "nothing held");
    conn_close(c);
}

/* Every cut of the stream in two reads: the first part's whole frames go
 * at once, the rest is held (and counted by partial()) until completed. */
Test(frontend, modbus_partial_frame_across_reads)
{
    for (size_t cut = 0; cut <= sizeof(three); cut++) {
        struct sink k = {0};
        struct tconn t;
        struct fe_conn *c = conn_open(&t, &k);
        char why[120] = "";

        cr_assert_eq(feed(c, three, cut, why), 0, "cut %zu", cut);
        cr_assert_eq(k.n, cut / 12, "cut %zu: whole frames only", cut);
        cr_assert_eq(c->ops->partial(c), cut % 12, "cut %zu: held", cut);
        cr_assert_eq(feed(c, three + cut, sizeof(three) - cut, why), 0);
        check_three(&k);
        cr_assert_eq(c->ops->partial(c), 0);
        conn_close(c);
    }
}

Test(frontend, modbus_byte_by_byte)
{
    struct sink k = {0};
    struct tconn t;
    struct fe_conn *c = conn_open(&t, &k);
    char why[120] = "";

    for (size_t i = 0; i < sizeof(three); i++) {
        cr_assert_eq(feed(c, three + i, 1, why), 0);
        cr_assert_eq(c->ops->partial(c), (i + 1) % 12, "after byte %zu", i);
    }
    check_three(&k);
    conn_close(c);
}

/* The session returns non-zero once it is closing: the feed stops there
 * and the frames after it are never handed on. */
Test(frontend, modbus_stops_when_the_session_closes)
{
    struct sink k = {.stop_at = 2};
    struct tconn t;
    struct fe_conn *c = conn_open(&t, &k);
    char why[120] = "";

    cr_assert_eq(feed(c, three, sizeof(three), why), 1);
    cr_assert_eq(k.n, 2);
    conn_close(c);
}

/* A malformed header after good frames: those are handed on, then the
 * feed fails with the reason the session logs before closing. */
Test(frontend, modbus_malformed_headers)
{
    static const struct {
        uint8_t     hdr[7];
        const char *why;
    } bad[] = {
        {{0x00, 0x07, 0x12, 0x34, 0x00, 0x06, 0x01},
         "bad MBAP protocol id 4660 (length 6, tid 7)"},
        {{0x00, 0x07, 0x00, 0x00, 0x01, 0x2C, 0x01},
         "bad MBAP length 300 (protocol id 0, tid 7)"},
        {{0x00, 0x08, 0x00, 0x00, 0x00, 0x01, 0x01},
         "bad MBAP length 1 (protocol id 0, tid 8)"},
    };

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct sink k = {0};
        struct tconn t;
        struct fe_conn *c = conn_open(&t, &k);
        uint8_t buf[sizeof(three) + 12];
        char why[120] = "";

        memcpy(buf, three, 24);
        memcpy(buf + 24, bad[i].hdr, 7);
        memset(buf + 31, 0, sizeof(buf) - 31);
        cr_assert_lt(feed(c, buf, sizeof(buf), why), 0, "case %zu", i);
        cr_assert_eq(k.n, 2, "case %zu: the good frames before it", i);
        cr_assert_str_eq(why, bad[i].why);
        conn_close(c);
    }
}

Test(frontend, modbus_encode_reply_in_place)
{
    static const uint8_t rsp[] = {0x03, 0x04, 0x00, 0x2A, 0x01, 0x00};
    static const uint8_t want[] = {0x12, 0x34, 0x00, 0x00, 0x00, 0x07, 0x11,
                                   0x03, 0x04, 0x00, 0x2A, 0x01, 0x00};
    struct sink k = {0};
    struct tconn t;
    struct fe_conn *c = conn_open(&t, &k);
    struct req *r = xcalloc(1, sizeof(*r));
    const uint8_t *out = NULL;
    size_t len;

    r->tid = 0x1234;
    r->unit = 17;
    req_set_response(r, rsp, sizeof(rsp));
    len = c->ops->encode_reply(c, r, &out);
    cr_assert_eq(len, sizeof(want));
    cr_assert_eq(out, r->out, "in the request, no copy");
    cr_assert_eq(memcmp(out, want, sizeof(want)), 0);
    cr_assert_eq(memcmp(req_rsp(r), rsp, sizeof(rsp)), 0, "PDU untouched");

    /* an exception answer, the largest tid, unit 0 */
    r->tid = 0xFFFF;
    r->unit = 0;
    r->rsp_len = pdu_exception(req_rsp(r), 0x06, 0x0B);
    len = c->ops->encode_reply(c, r, &out);
    cr_assert_eq(len, 9);
    cr_assert_eq(memcmp(out, "\xFF\xFF\x00\x00\x00\x03\x00\x86\x0B", 9),
                 0);
    free(r);
    conn_close(c);
}

/* SPDX-License-Identifier: MIT */
/*
 * fake_backend.c -- the scripted device of fake_backend.h and the server
 * around it. The device changes the core's state only through backend.h,
 * as a real type does; the server is the real one (server_init(),
 * server_start(), server_shutdown(), server_free()).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "cfg.h"
#include "fake_backend.h"
#include "pdu.h"
#include "session.h"

struct fake_device fake;

/* Note transmission <r>; the index of its record. */
static unsigned
fake_note(const struct req *r)
{
    cr_assert_lt(fake.n_tx, FAKE_MAX_TX);
    fake.tx[fake.n_tx] = (struct fake_tx){
        .fc = req_fc(r),
        .addr = pdu_get16(req_pdu(r) + 1),
        .step = r->step,
        .local = r->local,
        .ns = uv_hrtime(),
    };
    return fake.n_tx++;
}

/*
 * Answer the oldest request on the wire of <be>: the registers of an FC 3
 * read hold their own address; anything else is echoed (5 bytes, as FC 6
 * is).
 */
void
fake_answer(struct backend *be)
{
    struct req *r = backend_match_oldest(be);
    uint8_t rsp[MB_PDU_MAX];
    const uint8_t *q = req_pdu(r);
    unsigned n = pdu_get16(q + 3);

    if (req_fc(r) == MB_FC_READ_HOLDING) {
        rsp[0] = MB_FC_READ_HOLDING;
        rsp[1] = (uint8_t)(n * 2);
        for (unsigned i = 0; i < n; i++) {
            rsp[2 + 2 * i] = (uint8_t)((pdu_get16(q + 1) + i) >> 8);
            rsp[3 + 2 * i] = (uint8_t)(pdu_get16(q + 1) + i);
        }
        req_set_response(r, rsp, 2 + n * 2);
    } else {
        req_set_response(r, q, 5);
    }
    fake.tx[fake.n_tx - 1].done_ns = uv_hrtime();
    backend_done(be, r);
}

static void
fake_timer_cb(uv_timer_t *t)
{
    fake_answer(t->data);
}

/* FAKE_STEPS: see fake_backend.h. */
static void
fake_steps(struct backend *be, struct req *r)
{
    const uint8_t *q = req_pdu(r);
    uint8_t rsp[MB_PDU_MAX] = {0};
    unsigned n = pdu_get16(q + 3);

    if (req_fc(r) == MB_FC_READ_HOLDING && r->step == 0) {
        r->step = 1;
        backend_continue(be, r);
        return;
    }
    if (req_fc(r) == MB_FC_READ_HOLDING) {
        rsp[0] = MB_FC_READ_HOLDING;
        rsp[1] = (uint8_t)(2 * n);
        r->local = true;
        req_set_response(r, rsp, 2 + 2 * n);
    } else if (req_fc(r) == MB_FC_WRITE_REGISTERS) {
        if (++r->step < n) {
            backend_continue(be, r);
            return;
        }
        req_set_response(r, q, 5);
    } else {
        req_set_response(r, q, 5);
    }
    backend_done(be, r);
}

static void
fake_transmit(struct backend *be, struct req *r)
{
    fake_note(r);
    if (r->be_unit == 0) {
        backend_broadcast_sent(be, r);
        return;
    }
    switch (fake.mode) {
    case FAKE_NOW:
        fake_answer(be);
        break;
    case FAKE_LATER:
        uv_timer_start(&fake.timer, fake_timer_cb, fake.delay_ms, 0);
        break;
    case FAKE_LOSE_FIRST:
        if (r->attempts == 1) {
            backend_attempt_start(be, r);
        } else {
            fake_answer(be);
        }
        break;
    case FAKE_STEPS:
        fake_steps(be, r);
        break;
    default:
        backend_attempt_start(be, r);
        break;
    }
}

static int
fake_create(struct backend *be)
{
    be->priv = &fake;
    fake.be = be;
    uv_timer_init(be->loop, &fake.timer);
    fake.timer.data = be;
    return 0;
}

static void
fake_start(struct backend *be)
{
    if (fake.mode == FAKE_REFUSE) {
        backend_conn_failed(be, "refused by the script");
    } else {
        backend_connected(be);
    }
}

static void
fake_closed_cb(uv_handle_t *h)
{
    backend_handle_closed(h->data);
}

static void
fake_stop(struct backend *be)
{
    backend_handle_opened(be);
    uv_close((uv_handle_t *)&fake.timer, fake_closed_cb);
}

static void
fake_destroy(struct backend *be)
{
    be->priv = NULL;
}

const struct backend_ops fake_backend_ops = {
    .type = "fake",
    .create = fake_create,
    .start = fake_start,
    .transmit = fake_transmit,
    .stop = fake_stop,
    .destroy = fake_destroy,
};

/*
 * Run a server on <loop> from configuration <ini> whose backends are all
 * the scripted device, in <mode> (answers after 5 ms in FAKE_LATER). The
 * ini's backends are written as tcp ones (cfg.c checks the keys of the
 * built-in types): each is made a "fake" here, and server_init() finds it
 * through the registry.
 */
void
fake_server_start(struct server *srv, uv_loop_t *loop, enum fake_mode mode,
                  const char *ini)
{
    struct cfg_errors errs;
    struct cfg *cfg;

    memset(&fake, 0, sizeof(fake));
    fake.mode = mode;
    fake.delay_ms = 5;
    backend_register(&fake_backend_ops);
    cfg = cfg_load_string("test.ini", ini, &errs);
    cr_assert_not_null(cfg, "%s", errs.msg[0]);
    for (unsigned i = 0; i < cfg->n_backends; i++) {
        snprintf(cfg->backends[i].type, sizeof(cfg->backends[i].type), "%s",
                 fake_backend_ops.type);
    }
    cr_assert_eq(uv_loop_init(loop), 0);
    cr_assert_eq(server_init(srv, loop, cfg), 0);
    cr_assert_eq(server_start(srv), 0);
}

/*
 * A client of <srv>: a session on one end of a socketpair, the test on the
 * other (returned, non-blocking); a priority client if <prio>.
 */
int
fake_client(struct server *srv, bool prio)
{
    struct session *s;
    int sv[2];

    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    s = session_new(srv);
    cr_assert_eq(uv_tcp_open(&s->tcp, sv[0]), 0);
    session_start(s);
    s->priority = prio;
    return sv[1];
}

/*
 * Shut <srv> down (every client closed now), run <loop> until every
 * handle has closed, free the server, and check that nothing was left
 * open.
 */
void
fake_server_stop(struct server *srv, uv_loop_t *loop)
{
    server_shutdown(srv, true);
    uv_run(loop, UV_RUN_DEFAULT);
    server_free(srv);
    cr_assert_eq(uv_loop_close(loop), 0, "a handle was left open");
}

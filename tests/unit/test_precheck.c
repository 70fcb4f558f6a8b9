/* SPDX-License-Identifier: MIT */
/*
 * test_precheck.c -- write_if_changed: a write that goes out first as a
 * read of its registers (policy.c) and then, if the values differ, as
 * itself. The pre-read may take several device transactions (a GivEnergy
 * read that falls back from a refused block to the registers asked for
 * sets req->step) or be answered from the cache (req->local): none of that
 * may carry over to the write. Driven on a real libuv loop with a scripted
 * backend, whose transmit() records what each transmission looked like.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend.h"
#include "cfg.h"
#include "mbap.h"
#include "pdu.h"
#include "server.h"
#include "session.h"
#include "stats.h"

#define MAX_TX 16

/* One transmission, as the backend saw it. */
struct tx {
    uint8_t  fc;
    uint16_t step;
    bool     local;
};

/* The scripted device: a pre-read takes two transactions (the first one
 * only moves req->step on, as a refused block does) and the second is
 * answered "from the cache" (req->local) with zeros; writes are echoed. */
static struct fake {
    unsigned   n_tx;
    struct tx  tx[MAX_TX];
} fk;

static uv_loop_t loop;
static struct server srv;
static struct backend *bes[1];

static void
fake_transmit(struct backend *be, struct req *r)
{
    const uint8_t *q = req_pdu(r);
    uint8_t rsp[MB_PDU_MAX] = {0};
    unsigned n = pdu_get16(q + 3);

    cr_assert_lt(fk.n_tx, MAX_TX);
    fk.tx[fk.n_tx++] = (struct tx){req_fc(r), r->step, r->local};
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
        /* registers from <step> on: one per transaction, as split writes */
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

static int
fake_create(struct backend *be)
{
    be->priv = &fk;
    return 0;
}

static void
fake_start(struct backend *be)
{
    backend_connected(be);
}

static void
fake_stop(struct backend *be)
{
}

static void
fake_destroy(struct backend *be)
{
    be->priv = NULL;
}

static const struct backend_ops fake_ops = {
    .type = "fake",
    .create = fake_create,
    .start = fake_start,
    .transmit = fake_transmit,
    .stop = fake_stop,
    .destroy = fake_destroy,
};

static void
setup(void)
{
    static const char ini[] =
        "[server]\nlisten = 127.0.0.1:0\n"
        "[backend dev]\ntype = tcp\nhost = x\nwrite_if_changed = yes\n"
        "min_spacing_ms = 0\n[route]\n1 = dev\n";
    struct cfg_errors errs;
    struct cfg *cfg;

    log_level = LOG_WARN;
    memset(&fk, 0, sizeof(fk));
    memset(&stats_srv, 0, sizeof(stats_srv));
    cfg = cfg_load_string("test.ini", ini, &errs);
    cr_assert_not_null(cfg, "%s", errs.msg[0]);
    cr_assert_eq(uv_loop_init(&loop), 0);
    memset(&srv, 0, offsetof(struct server, rbuf));
    srv.loop = &loop;
    srv.cfg = cfg;
    TAILQ_INIT(&srv.sessions);
    TAILQ_INIT(&srv.ending);
    uv_timer_init(&loop, &srv.end_timer);
    srv.end_timer.data = &srv;
    router_init(&srv.router);
    router_add(&srv.router, &cfg->routes[0]);
    bes[0] = backend_new(&srv, &loop, &fake_ops, &cfg->backends[0],
                         cfg->server.request_timeout_ms);
    srv.backends = bes;
    backend_start(bes[0]);
}

static void
teardown(void)
{
    struct session *s;

    while ((s = TAILQ_FIRST(&srv.sessions)) != NULL) {
        session_close(s, LOG_DEBUG, "test over");
    }
    backend_stop(bes[0]);
    uv_close((uv_handle_t *)&srv.end_timer, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    backend_free(bes[0]);
    cfg_free(srv.cfg);
    cr_assert_eq(uv_loop_close(&loop), 0, "a handle was left open");
}

TestSuite(precheck, .init = setup, .fini = teardown, .timeout = 10);

/* A client session on a socketpair; the test holds the other end. */
static int
client(void)
{
    int sv[2];
    struct session *s;

    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    s = session_new(&srv);
    cr_assert_eq(uv_tcp_open(&s->tcp, sv[0]), 0);
    session_start(s);
    return sv[1];
}

/* Send <len> bytes of request <q>, run the loop until the reply is in
 * <f>; returns its length. */
static ssize_t
exchange(int fd, const uint8_t *q, size_t len, uint8_t *f, size_t size)
{
    uint64_t end = uv_hrtime() + 5000000000ull;
    ssize_t n = -1;

    cr_assert_eq(write(fd, q, len), (ssize_t)len);
    while (n <= 0 && uv_hrtime() < end) {
        uv_run(&loop, UV_RUN_NOWAIT);
        n = read(fd, f, size);
    }
    return n;
}

Test(precheck, a_write_after_a_two_step_pre_read_starts_at_its_first_register)
{
    /* FC 16, register 1990 := 0x1234 */
    static const uint8_t q[] = {0, 1, 0, 0, 0, 9, 1, 16, 0x07, 0xC6, 0, 1, 2,
                                0x12, 0x34};
    uint8_t f[64];
    int fd = client();

    cr_assert_eq(exchange(fd, q, sizeof(q), f, sizeof(f)), 12);
    cr_assert_eq(memcmp(f + 7, q + 7, 5), 0, "the write's echo");
    cr_assert_eq(fk.n_tx, 3, "pre-read, its second step, the write");
    cr_assert_eq(fk.tx[2].fc, 16);
    cr_assert_eq(fk.tx[2].step, 0, "the write began at register %u of 1",
                 fk.tx[2].step);
    cr_assert_not(fk.tx[2].local, "the pre-read's cache answer stuck");
    close(fd);
}

Test(precheck, a_split_write_after_a_two_step_pre_read_writes_every_register)
{
    /* FC 16, registers 1990 and 1991 */
    static const uint8_t q[] = {0, 2, 0, 0, 0, 11, 1, 16, 0x07, 0xC6, 0, 2, 4,
                                0x11, 0x11, 0x22, 0x22};
    uint8_t f[64];
    int fd = client();

    cr_assert_eq(exchange(fd, q, sizeof(q), f, sizeof(f)), 12);
    cr_assert_eq(fk.n_tx, 4, "pre-read in two steps, then two registers, "
                 "not %u transmissions", fk.n_tx);
    cr_assert_eq(fk.tx[2].step, 0);
    cr_assert_eq(fk.tx[3].step, 1);
    close(fd);
}

Test(precheck, fc6_after_a_pre_read_answered_from_the_cache_owes_its_pause)
{
    /* FC 6, register 7 := 1 */
    static const uint8_t q[] = {0, 3, 0, 0, 0, 6, 1, 6, 0, 7, 0, 1};
    uint8_t f[64];
    int fd = client();

    cr_assert_eq(exchange(fd, q, sizeof(q), f, sizeof(f)), 12);
    cr_assert_eq(fk.n_tx, 3);
    cr_assert_eq(fk.tx[2].fc, 6);
    cr_assert_not(fk.tx[2].local, "the write would be paced as a cache hit");
    close(fd);
}

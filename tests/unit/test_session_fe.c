/* SPDX-License-Identifier: MIT */
/*
 * test_session_fe.c -- the session (proxy/session.c) driven through a
 * front-end type of the test's own, on a real loop and a socketpair: what
 * a later type (a GivEnergy-framed listener, TLS) relies on without
 * touching the session. The type's state is allocated with the session
 * and opened and closed once; its requests reach the core; an answer it
 * encodes to no bytes is freed as answered and writes nothing; bytes it
 * sends on its own reach the client in order with the answers; input it
 * cannot read closes the connection with its reason.
 *
 * The "script" type reads one command byte at a time: 'q' asks a read of
 * unit 9, which has no route (answered at once with 0x0A, so no backend
 * is needed); 'h' sends "hi" on its own; 'x' is unreadable. Its answers
 * are one byte, the exception code, except that with <silent> set they
 * are nothing.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cfg.h"
#include "fake_backend.h"
#include "log.h"
#include "server.h"
#include "session.h"
#include "stats.h"

/* What the script type saw, for the assertions. */
static struct {
    unsigned opened, closed;     /* open() and close() calls */
    bool     silent;             /* answers are no bytes */
} sc;

/* Per-connection state: proves it is allocated, zeroed and kept. */
struct script_state {
    uint32_t magic;
    unsigned requests;
    uint8_t  last[8];
};

static void
script_open(struct fe_conn *c)
{
    struct script_state *st = c->state;

    cr_assert_eq(st->magic, 0, "zeroed");
    st->magic = 0x5C121;
    sc.opened++;
}

static int
script_feed(struct fe_conn *c, const uint8_t *data, size_t len, char *why,
            size_t why_size)
{
    static const uint8_t pdu[] = {0x03, 0x00, 0x10, 0x00, 0x01};
    struct script_state *st = c->state;

    cr_assert_eq(st->magic, 0x5C121);
    for (size_t i = 0; i < len; i++) {
        struct fe_request rq = {.tid = (uint16_t)st->requests, .unit = 9,
                                .pdu = pdu, .pdu_len = sizeof(pdu)};
        int rc;

        switch (data[i]) {
        case 'q':
            st->requests++;
            rc = c->host->request(c, &rq);
            if (rc != 0) {
                return rc;
            }
            break;
        case 'h':
            cr_assert_eq(c->host->send(c, (const uint8_t *)"hi", 2), 0);
            break;
        default:
            snprintf(why, why_size, "script: bad command 0x%02X", data[i]);
            return -1;
        }
    }
    return 0;
}

static size_t
script_partial(const struct fe_conn *c)
{
    return 0;
}

static size_t
script_encode_reply(struct fe_conn *c, struct req *r, const uint8_t **out)
{
    if (sc.silent) {
        return 0;
    }
    r->out[0] = req_rsp(r)[1];          /* the exception code */
    *out = r->out;
    return 1;
}

static void
script_close(struct fe_conn *c)
{
    struct script_state *st = c->state;

    cr_assert_eq(st->magic, 0x5C121);
    sc.closed++;
}

static const struct frontend_ops script_ops = {
    .type = "script",
    .state_size = sizeof(struct script_state),
    .request_min = 1,
    .open = script_open,
    .feed = script_feed,
    .partial = script_partial,
    .encode_reply = script_encode_reply,
    .close = script_close,
};

static uv_loop_t loop;
static struct server srv;

/* A real server (tests/support/fake_backend.c) with one backend, "dev",
 * and a route for unit 1; the script's requests go to other units. */
static void
setup(void)
{
    log_level = LOG_ERROR;
    memset(&sc, 0, sizeof(sc));
    memset(&stats_srv, 0, sizeof(stats_srv));
    fake_server_start(&srv, &loop, FAKE_NOW, "[server]\nlisten = "
                      "127.0.0.1:0\n[backend dev]\ntype = tcp\nhost = x\n"
                      "[route]\n1 = dev\n");
}

static void
teardown(void)
{
    fake_server_stop(&srv, &loop);
    cr_assert_eq(sc.opened, sc.closed, "every state closed once");
}

TestSuite(session_fe, .init = setup, .fini = teardown, .timeout = 10);

/* A client of the script type on a socketpair; the test holds the other
 * end. */
static int
client(struct session **out)
{
    int sv[2];
    struct session *s;

    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    s = session_new_type(&srv, &script_ops);
    cr_assert_eq(uv_tcp_open(&s->tcp, sv[0]), 0);
    session_start(s);
    *out = s;
    return sv[1];
}

/* Send <cmds>, run the loop until <want> bytes came back (or 2 s), and
 * return how many did, into <buf>. */
static size_t
exchange(int fd, const char *cmds, uint8_t *buf, size_t want)
{
    uint64_t end = uv_hrtime() + 2000000000ull;
    size_t got = 0;

    cr_assert_eq(write(fd, cmds, strlen(cmds)), (ssize_t)strlen(cmds));
    while (got < want && uv_hrtime() < end) {
        ssize_t n;

        uv_run(&loop, UV_RUN_NOWAIT);
        n = read(fd, buf + got, want - got);
        if (n > 0) {
            got += (size_t)n;
        }
    }
    uv_run(&loop, UV_RUN_NOWAIT);
    return got;
}

Test(session_fe, requests_answers_and_own_bytes_in_order)
{
    struct session *s;
    int fd = client(&s);
    uint8_t buf[16];

    cr_assert_eq(sc.opened, 1);
    cr_assert_eq(exchange(fd, "qhq", buf, 4), 4);
    cr_assert_eq(memcmp(buf, "\x0Ahi\x0A", 4), 0, "answer, own, answer");
    cr_assert_eq(stats_srv.requests, 2);
    cr_assert_eq(stats_srv.replies, 2);
    cr_assert_eq(stats_srv.ex_no_route, 2, "through the core's router");
    cr_assert_eq(s->pending, 0);
    close(fd);
}

Test(session_fe, an_answer_of_no_bytes_is_answered_all_the_same)
{
    struct session *s;
    int fd = client(&s);
    uint8_t buf[16];

    sc.silent = true;
    cr_assert_eq(exchange(fd, "qqh", buf, 2), 2);
    cr_assert_eq(memcmp(buf, "hi", 2), 0, "only the type's own bytes");
    cr_assert_eq(stats_srv.requests, 2);
    cr_assert_eq(stats_srv.replies, 2, "silence is the answer");
    cr_assert_eq(stats_srv.replies_dropped, 0);
    cr_assert_eq(s->pending, 0, "freed: the client may ask again");
    cr_assert_eq(s->n_replies, 2);
    close(fd);
}

Test(session_fe, unreadable_input_closes_with_the_reason)
{
    struct session *s;
    int fd = client(&s);
    uint8_t buf[16];

    cr_assert_eq(exchange(fd, "qx", buf, 1), 1, "the answer before it");
    cr_assert_eq(buf[0], 0x0A);
    cr_assert(TAILQ_EMPTY(&srv.sessions), "closed");
    cr_assert_eq(stats_srv.clients_closed_bad, 1);
    uv_run(&loop, UV_RUN_NOWAIT);
    cr_assert_eq(sc.closed, 1, "the state closed with the session");
    cr_assert_eq(read(fd, buf, sizeof(buf)), 0, "EOF for the client");
    close(fd);
}

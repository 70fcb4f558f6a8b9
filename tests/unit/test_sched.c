/* SPDX-License-Identifier: MIT */
/*
 * test_sched.c -- the scheduler and the request lifecycle, driven end to
 * end on a real libuv loop: a real server (server_init(), which finds the
 * device's type through the registry), clients that are real sessions on
 * socketpairs, and the scripted device of tests/support/fake_backend.c
 * (reply now, reply later, never reply, lose the first attempt, refuse to
 * connect). Checks fairness between
 * clients, pacing, deadlines, retries, coalescing, the queue limit, the
 * down state, and that every request is answered exactly once or counted
 * as dropped when its client has gone.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend.h"
#include "fake_backend.h"
#include "mbap.h"
#include "pdu.h"
#include "server.h"
#include "stats.h"

static uv_loop_t loop;
static struct server srv;

/* The server around one scripted backend "dev" configured by <be_keys>;
 * units 1 and 2 route to its units 1 and 0 (broadcast). */
static void
setup(enum fake_mode mode, const char *server_keys, const char *be_keys)
{
    char ini[1024];

    log_level = LOG_WARN;
    memset(&stats_srv, 0, sizeof(stats_srv));
    snprintf(ini, sizeof(ini), "[server]\nlisten = 127.0.0.1:0\n%s\n"
             "[backend dev]\ntype = tcp\nhost = x\n%s\n[route]\n1 = dev\n"
             "2 = dev:0\n", server_keys, be_keys);
    fake_server_start(&srv, &loop, mode, ini);
}

/* The backend "dev". */
static struct backend *
dev(void)
{
    return srv.backends[0];
}

/* A client, a priority one if <prio>; the test's end of it. */
static int
client_prio(bool prio)
{
    return fake_client(&srv, prio);
}

static int
client(void)
{
    return client_prio(false);
}

static void
send_req(int fd, uint16_t tid, uint8_t unit, uint8_t fc, uint16_t addr,
         uint16_t val)
{
    uint8_t f[12] = {tid >> 8, tid & 0xFF, 0, 0, 0, 6, unit, fc,
                     addr >> 8, addr & 0xFF, val >> 8, val & 0xFF};

    cr_assert_eq(write(fd, f, sizeof(f)), (ssize_t)sizeof(f));
}

/* Answers seen by one client, by transaction id. */
struct seen {
    unsigned count[256];          /* answers per tid (tids < 256) */
    uint8_t  fc[256];             /* function code of the answer */
    uint8_t  ex[256];             /* exception code, if any */
    uint16_t first[256];          /* first register value */
    unsigned total;
};

static void
collect(int fd, struct seen *sn)
{
    uint8_t buf[8192];
    ssize_t n = read(fd, buf, sizeof(buf));
    size_t off = 0;
    struct mbap h;

    if (n <= 0) {
        return;
    }
    while (off < (size_t)n &&
           mbap_decode(buf + off, (size_t)n - off, &h) == MBAP_OK) {
        const uint8_t *pdu = buf + off + MB_MBAP_HDR;

        cr_assert_lt(h.tid, 256);
        sn->count[h.tid]++;
        sn->fc[h.tid] = pdu[0];
        sn->ex[h.tid] = (pdu[0] & 0x80) ? pdu[1] : 0;
        sn->first[h.tid] = pdu[0] == 3 ? pdu_get16(pdu + 2) : 0;
        sn->total++;
        off += 6 + h.len;
    }
    cr_assert_eq(off, (size_t)n, "whole frames only");
}

/* Run the loop until <fds> have seen <want> answers in all, or 5 s. */
static void
run_until(int *fds, struct seen *sns, int n, unsigned want)
{
    uint64_t end = uv_hrtime() + 5000000000ull;
    unsigned got;

    do {
        uv_run(&loop, UV_RUN_NOWAIT);
        got = 0;
        for (int i = 0; i < n; i++) {
            collect(fds[i], &sns[i]);
            got += sns[i].total;
        }
        if (got < want) {
            uv_sleep(1);
        }
    } while (got < want && uv_hrtime() < end);
    cr_assert_eq(got, want, "answers: %u of %u", got, want);
}

static void
teardown(void)
{
    fake_server_stop(&srv, &loop);
    cr_assert_eq(stats_srv.requests,
                 stats_srv.replies + stats_srv.replies_dropped,
                 "every request answered or dropped exactly once");
}

TestSuite(sched, .timeout = 20);

Test(sched, one_request_is_not_starved_by_fifty_pipelined)
{
    int fd[2];
    struct seen sn[2] = {0};
    unsigned pos = 0;

    log_level = LOG_WARN;
    setup(FAKE_LATER, "", "queue_depth = 100");
    fd[0] = client();
    fd[1] = client();
    for (uint16_t i = 0; i < 50; i++) {
        send_req(fd[0], i, 1, 3, i, 1);
    }
    uv_run(&loop, UV_RUN_NOWAIT);
    send_req(fd[1], 7, 1, 3, 1000, 1);
    run_until(fd, sn, 2, 51);
    while (fake.tx[pos].addr != 1000) {
        pos++;
    }
    /* Round-robin: at most one of the 50 went before it besides the one
     * already on the wire. */
    cr_assert_leq(pos, 2, "the single request went out %u-th", pos + 1);
    cr_assert_eq(sn[1].count[7], 1);
    cr_assert_eq(sn[1].first[7], 1000);
    for (int i = 0; i < 50; i++) {
        cr_assert_eq(sn[0].count[i], 1);
        cr_assert_eq(sn[0].first[i], i);
    }
    teardown();
}

Test(sched, min_spacing_runs_from_the_end_of_the_response)
{
    int fd;
    struct seen sn = {0};

    setup(FAKE_LATER, "", "min_spacing_ms = 40");
    fd = client();
    for (uint16_t i = 0; i < 5; i++) {
        send_req(fd, i, 1, 3, i, 1);
    }
    run_until(&fd, &sn, 1, 5);
    cr_assert_eq(fake.n_tx, 5);
    for (unsigned i = 1; i < fake.n_tx; i++) {
        uint64_t gap = fake.tx[i].ns - fake.tx[i - 1].done_ns;

        cr_assert_geq(gap, 40000000ull, "gap %u: %llu ns", i,
                      (unsigned long long)gap);
    }
    teardown();
}

Test(sched, deadline_gives_0x0B_to_queued_and_in_flight)
{
    int fd;
    struct seen sn = {0};
    uint64_t t0 = uv_hrtime(), dt;

    setup(FAKE_SILENT, "request_timeout_ms = 150",
          "timeout_ms = 10000\nretries = 0");
    fd = client();
    for (uint16_t i = 0; i < 4; i++) {
        send_req(fd, i, 1, 3, i, 1);
    }
    run_until(&fd, &sn, 1, 4);
    dt = uv_hrtime() - t0;
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(sn.count[i], 1);
        cr_assert_eq(sn.ex[i], MB_EX_GW_TARGET);
    }
    cr_assert_eq(fake.n_tx, 1, "the others never reached the wire");
    cr_assert_geq(dt, 140000000ull);
    cr_assert_lt(dt, 2000000000ull, "attempt cut to the deadline");
    teardown();
}

Test(sched, reads_retry_writes_do_not)
{
    int fd;
    struct seen sn = {0};

    setup(FAKE_LOSE_FIRST, "", "timeout_ms = 20\nretries = 1");
    fd = client();
    send_req(fd, 1, 1, 3, 10, 2);
    run_until(&fd, &sn, 1, 1);
    cr_assert_eq(sn.fc[1], 3);
    cr_assert_eq(sn.first[1], 10);
    cr_assert_eq(fake.n_tx, 2);
    send_req(fd, 2, 1, 6, 10, 99);
    run_until(&fd, &sn, 1, 2);
    cr_assert_eq(sn.ex[2], MB_EX_GW_TARGET);
    cr_assert_eq(fake.n_tx, 3, "the write went out once");
    cr_assert_eq(dev()->st.retries, 1);
    teardown();
}

Test(sched, identical_reads_share_one_transaction)
{
    int fd[5];
    struct seen sn[5] = {0};

    setup(FAKE_LATER, "", "");
    fake.delay_ms = 30;
    for (int i = 0; i < 5; i++) {
        fd[i] = client();
        send_req(fd[i], (uint16_t)(10 + i), 1, 3, 500, 4);
    }
    uv_run(&loop, UV_RUN_NOWAIT);            /* all five reads parsed */
    send_req(fd[0], 20, 1, 6, 500, 1);      /* a write is never merged */
    send_req(fd[1], 21, 1, 6, 500, 1);
    run_until(fd, sn, 5, 7);
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(sn[i].count[10 + i], 1, "own tid back");
        cr_assert_eq(sn[i].first[10 + i], 500);
    }
    cr_assert_eq(fake.n_tx, 3, "one read, two writes");
    cr_assert_eq(dev()->st.coalesced, 4);
    teardown();
}

Test(sched, client_gone_with_work_queued_attached_and_in_flight)
{
    int fd[2];
    struct seen sn[2] = {0};

    signal(SIGPIPE, SIG_IGN);
    setup(FAKE_LATER, "", "");
    fake.delay_ms = 20;
    fd[0] = client();
    fd[1] = client();
    for (uint16_t i = 0; i < 10; i++) {
        send_req(fd[0], i, 1, 3, i, 1);        /* 1 on the wire, 9 queued */
    }
    uv_run(&loop, UV_RUN_NOWAIT);
    send_req(fd[1], 0, 1, 3, 0, 1);            /* attached to the wire */
    send_req(fd[1], 5, 1, 3, 5, 1);            /* attached to a queued one */
    uv_run(&loop, UV_RUN_NOWAIT);
    /* An end of input may be a half-close that still wants its answers:
     * the client is known to be gone when the first one bounces, by which
     * time its next read has gone out. */
    close(fd[0]);
    run_until(&fd[1], &sn[1], 1, 2);
    cr_assert_eq(sn[1].first[0], 0);
    cr_assert_eq(sn[1].first[5], 5, "took over from the queued lead");
    cr_assert_eq(fake.n_tx, 3, "the other queued reads were dropped");
    cr_assert_eq(stats_srv.replies, 2);
    teardown();
    cr_assert_eq(stats_srv.replies_dropped, 10);
}

Test(sched, full_queue_gives_0x06)
{
    int fd;
    struct seen sn = {0};

    setup(FAKE_LATER, "", "queue_depth = 3");
    fd = client();
    for (uint16_t i = 0; i < 8; i++) {
        send_req(fd, i, 1, 3, i, 1);
    }
    run_until(&fd, &sn, 1, 8);
    cr_assert_eq(fake.n_tx, 4, "one on the wire, three queued");
    for (int i = 4; i < 8; i++) {
        cr_assert_eq(sn.ex[i], MB_EX_BUSY);
    }
    teardown();
}

Test(sched, down_backend_fails_fast_and_broadcast_is_acknowledged)
{
    int fd;
    struct seen sn = {0};

    setup(FAKE_REFUSE, "", "");
    fd = client();
    send_req(fd, 1, 1, 3, 0, 1);
    run_until(&fd, &sn, 1, 1);
    cr_assert_eq(sn.ex[1], MB_EX_GW_PATH);
    cr_assert_eq(fake.n_tx, 0);
    teardown();

    setup(FAKE_NOW, "", "");
    fd = client();
    send_req(fd, 2, 2, 6, 7, 42);              /* unit 2 -> dev:0 */
    send_req(fd, 3, 2, 3, 7, 1);
    run_until(&fd, &sn, 1, 3);
    cr_assert_eq(sn.fc[2], 6, "the write echo");
    cr_assert_eq(sn.ex[3], MB_EX_ILLEGAL_FUNCTION, "nobody answers a read");
    teardown();
}

Test(sched, timeout_override_lengthens_the_attempt_and_the_deadline)
{
    int fd;
    struct seen sn = {0};
    uint64_t t0 = uv_hrtime(), t_short, t_long;

    setup(FAKE_SILENT, "request_timeout_ms = 100",
          "timeout_ms = 30\nretries = 0\ntimeout_override = 0x3002-0x3010:300");
    fd = client();
    send_req(fd, 1, 1, 3, 0x1000, 1);
    run_until(&fd, &sn, 1, 1);
    t_short = uv_hrtime() - t0;
    send_req(fd, 2, 1, 3, 0x3000, 4);          /* 0x3000..0x3003 overlaps */
    run_until(&fd, &sn, 1, 2);
    t_long = uv_hrtime() - t0 - t_short;
    cr_assert_eq(sn.ex[1], MB_EX_GW_TARGET);
    cr_assert_eq(sn.ex[2], MB_EX_GW_TARGET);
    cr_assert_lt(t_short, 250000000ull, "30 ms attempt: %llu ns",
                 (unsigned long long)t_short);
    cr_assert_geq(t_long, 290000000ull, "300 ms attempt, past the 100 ms "
                  "request deadline: %llu ns", (unsigned long long)t_long);
    teardown();
}

Test(sched, broadcast_is_followed_by_its_delay)
{
    int fd;
    struct seen sn = {0};

    setup(FAKE_NOW, "", "min_spacing_ms = 10\nbroadcast_delay_ms = 80");
    fd = client();
    send_req(fd, 1, 2, 6, 7, 42);              /* unit 2 -> dev:0 */
    send_req(fd, 2, 1, 3, 7, 1);
    send_req(fd, 3, 1, 3, 8, 1);
    run_until(&fd, &sn, 1, 3);
    cr_assert_eq(fake.n_tx, 3);
    cr_assert_geq(fake.tx[1].ns - fake.tx[0].ns, 80000000ull,
                  "silence after the broadcast");
    cr_assert_geq(fake.tx[2].ns - fake.tx[1].ns, 10000000ull);
    cr_assert_lt(fake.tx[2].ns - fake.tx[1].ns, 80000000ull,
                 "only min_spacing_ms after a normal response");
    teardown();
}

Test(sched, a_read_after_a_write_is_not_answered_from_before_it)
{
    int fd[2];
    struct seen sn[2] = {0};

    setup(FAKE_LATER, "", "");
    fake.delay_ms = 20;
    fd[0] = client();
    fd[1] = client();
    send_req(fd[0], 1, 1, 3, 10, 1);         /* read, goes on the wire */
    uv_run(&loop, UV_RUN_NOWAIT);
    send_req(fd[1], 2, 1, 6, 10, 99);        /* write */
    send_req(fd[1], 3, 1, 3, 10, 1);         /* read again: must not share */
    run_until(fd, sn, 2, 3);
    cr_assert_eq(fake.n_tx, 3, "the second read waited for the write");
    cr_assert_eq(dev()->st.coalesced, 0);
    teardown();
}

Test(sched, late_comers_keep_their_own_deadline)
{
    int fd[2];
    struct seen sn[2] = {0};

    /* The lead goes silent on the wire; a follower arrives 100 ms later.
     * At the lead's deadline the follower still has 100 ms: it gets an
     * attempt of its own, not the lead's 0x0B. */
    setup(FAKE_SILENT, "request_timeout_ms = 200",
          "timeout_ms = 1000\nretries = 1");
    fd[0] = client();
    fd[1] = client();
    send_req(fd[0], 1, 1, 3, 10, 1);
    run_until(fd, sn, 2, 0);
    uv_sleep(100);
    send_req(fd[1], 2, 1, 3, 10, 1);
    run_until(fd, sn, 2, 2);
    cr_assert_eq(sn[0].ex[1], MB_EX_GW_TARGET);
    cr_assert_eq(sn[1].ex[2], MB_EX_GW_TARGET);
    cr_assert_eq(fake.n_tx, 2, "the follower was sent on its own");
    teardown();
}

Test(sched, a_fresher_attempt_does_not_delay_an_older_deadline)
{
    int fd[2];
    struct seen sn[2] = {0};
    uint64_t t0;

    /* Client 0 pipelines two reads; the first times out at 100 ms and is
     * retried behind client 1's read, whose attempt would end later. The
     * retried read must still fail by its own deadline. */
    setup(FAKE_SILENT, "request_timeout_ms = 300",
          "timeout_ms = 100\nretries = 3");
    fd[0] = client();
    fd[1] = client();
    t0 = uv_hrtime();
    send_req(fd[0], 1, 1, 3, 10, 1);
    send_req(fd[1], 2, 1, 3, 20, 1);
    run_until(fd, sn, 2, 2);
    cr_assert_lt(uv_hrtime() - t0, 450000000ull, "0x0B by the deadline");
    teardown();
}

Test(sched, client_reset_while_its_queued_lead_is_failed_by_a_lost_link)
{
    int fd[2];
    struct seen sn = {0};

    /* A queued lead and its follower from one client; the client resets
     * (not yet seen); the link drops before it ever answered, so the
     * queue is failed with 0x0A: the follower's reply fails to write,
     * which closes the client while its lead is being completed.
     * Found in review; it used to abort. */
    signal(SIGPIPE, SIG_IGN);
    setup(FAKE_SILENT, "", "timeout_ms = 4000\nretries = 0");
    fd[0] = client();                        /* keeps the wire busy */
    fd[1] = client();
    send_req(fd[0], 1, 1, 3, 1, 1);
    uv_run(&loop, UV_RUN_NOWAIT);
    send_req(fd[1], 2, 1, 3, 50, 1);         /* queued lead */
    send_req(fd[1], 3, 1, 3, 50, 1);         /* its follower, same client */
    uv_run(&loop, UV_RUN_NOWAIT);
    cr_assert_eq(dev()->st.coalesced, 1);
    close(fd[1]);
    backend_conn_lost(dev(), "device closed");
    run_until(&fd[0], &sn, 1, 1);
    teardown();
}

Test(sched, reads_within_the_ttl_never_reach_the_device)
{
    int fd;
    struct seen sn = {0};

    setup(FAKE_NOW, "", "cache_ttl_ms = 60000");
    fd = client();
    send_req(fd, 1, 1, 3, 100, 10);
    run_until(&fd, &sn, 1, 1);
    send_req(fd, 2, 1, 3, 102, 4);             /* inside what came */
    send_req(fd, 3, 1, 3, 105, 10);            /* partly outside */
    run_until(&fd, &sn, 1, 3);
    cr_assert_eq(fake.n_tx, 2, "only the read past the cached range went out");
    cr_assert_eq(sn.first[2], 102);
    cr_assert_eq(sn.first[3], 105);
    cr_assert_eq(dev()->st.cache_hits, 1);
    send_req(fd, 4, 1, 6, 103, 7);             /* a write invalidates 103 */
    send_req(fd, 5, 1, 3, 102, 4);
    run_until(&fd, &sn, 1, 5);
    cr_assert_eq(fake.n_tx, 4, "the read after the write went to the device");
    teardown();
}

Test(sched, stale_values_rather_than_0x0B_when_allowed)
{
    int fd;
    struct seen sn = {0};

    setup(FAKE_LOSE_FIRST, "", "timeout_ms = 20\nretries = 1\n"
          "serve_stale_ms = 60000");
    fd = client();
    send_req(fd, 1, 1, 3, 7, 2);               /* lost once, then answered */
    run_until(&fd, &sn, 1, 1);
    fake.mode = FAKE_SILENT;
    send_req(fd, 2, 1, 3, 7, 2);               /* the device is gone */
    run_until(&fd, &sn, 1, 2);
    cr_assert_eq(sn.fc[2], 3, "answered, not 0x0B");
    cr_assert_eq(sn.first[2], 7);
    cr_assert_eq(dev()->st.stale_served, 1);
    send_req(fd, 3, 1, 3, 9, 2);               /* never seen: 0x0B */
    run_until(&fd, &sn, 1, 3);
    cr_assert_eq(sn.ex[3], MB_EX_GW_TARGET);
    teardown();
}

Test(sched, priority_goes_first_but_never_starves_the_others)
{
    int fd[2];
    struct seen sn[2] = {0};
    unsigned normal_at = 0, prio_before = 0;

    setup(FAKE_NOW, "", "queue_depth = 100");
    fd[0] = client();                  /* the dashboard */
    fd[1] = client_prio(true);         /* the controller */
    fake.mode = FAKE_SILENT;             /* hold the queue while it fills */
    send_req(fd[0], 99, 1, 3, 999, 1);
    uv_run(&loop, UV_RUN_NOWAIT);
    for (uint16_t i = 0; i < 3; i++) {
        send_req(fd[0], i, 1, 3, i, 1);
    }
    for (uint16_t i = 0; i < 20; i++) {
        send_req(fd[1], (uint16_t)(100 + i), 1, 3, (uint16_t)(500 + i), 1);
    }
    uv_run(&loop, UV_RUN_NOWAIT);
    fake.mode = FAKE_NOW;
    fake_answer(dev());               /* let the first one go */
    run_until(fd, sn, 2, 24);
    for (unsigned i = 1; i < fake.n_tx; i++) {
        if (fake.tx[i].addr < 3 && normal_at == 0) {
            normal_at = i;
        }
        if (fake.tx[i].addr >= 500 && normal_at == 0) {
            prio_before++;
        }
    }
    cr_assert_eq(prio_before, SCHED_PRIO_BURST, "priority first, %u of it",
                 prio_before);
    cr_assert_eq(normal_at, SCHED_PRIO_BURST + 1, "then the dashboard's "
                 "turn, not after all 20");
    teardown();
}

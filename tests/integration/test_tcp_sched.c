/* SPDX-License-Identifier: MIT */
/*
 * test_tcp_sched.c -- scheduling seen from the device: min_spacing_ms is
 * never violated however hard clients push, identical reads share one
 * transaction, reads are retried and writes never are, and devices that
 * echo a wrong transaction id work with check_tid = no.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "sim_map.h"

#define HEAD "[server]\nlisten = 127.0.0.1:0\nlog_level = debug\n"

TestSuite(tcp_sched, .fini = h_cleanup, .timeout = 60);

struct hammer {
    int      port;
    int      index;
    uint64_t until_ms;
    unsigned good, bad;
    pthread_barrier_t *go;
};

/* Read as fast as answers come until <until_ms>. */
static void *
hammer_run(void *arg)
{
    struct hammer *h = arg;
    int fd = h_connect(h->port);
    uint16_t v[2];

    if (h->go != NULL) {
        pthread_barrier_wait(h->go);
    }
    do {
        uint16_t addr = (uint16_t)(h->index * 10);

        if (fd >= 0 && h_read(fd, 1, 3, addr, 2, v, 10000) == 0 &&
            h_check_regs(1, 3, addr, 2, v)) {
            h->good++;
        } else {
            h->bad++;
        }
    } while (h_now_ms() < h->until_ms);
    close(fd);
    return NULL;
}

static unsigned
hammer(int port, int n, int ms, unsigned *bad)
{
    pthread_t th[16];
    struct hammer h[16];
    unsigned good = 0;

    *bad = 0;
    for (int i = 0; i < n; i++) {
        h[i] = (struct hammer){.port = port, .index = i,
                               .until_ms = h_now_ms() + (uint64_t)ms};
        pthread_create(&th[i], NULL, hammer_run, &h[i]);
    }
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        good += h[i].good;
        *bad += h[i].bad;
    }
    return good;
}

Test(tcp_sched, ten_clients_never_break_min_spacing)
{
    struct sim s;
    struct mux m;
    unsigned good, bad;

    cr_assert_eq(h_sim_start(&s, "--units 1 --min-gap-ms 200"), 0);
    cr_assert_eq(h_mux_start(&m, "[server]\nlisten = 127.0.0.1:0\n"
                 "request_timeout_ms = 10000\n[backend dev]\ntype = tcp\n"
                 "host = 127.0.0.1\nport = %d\nmin_spacing_ms = 200\n"
                 "[route]\n1 = dev\n", s.port), 0);
    good = hammer(m.port, 10, 2500, &bad);
    cr_assert_eq(bad, 0);
    cr_assert(good >= 8, "only %u answers in 2.5 s", good);
    cr_assert_eq(h_sim_stat(&s, "early"), 0, "a request came < 200 ms "
                 "after a response");
    cr_assert(h_sim_stat(&s, "min_gap_us") >= 200000, "min gap %ld us",
              h_sim_stat(&s, "min_gap_us"));
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

Test(tcp_sched, identical_reads_share_one_transaction)
{
    struct sim s;
    struct mux m;
    pthread_t th[10];
    struct hammer h[10];
    pthread_barrier_t go;
    unsigned good = 0;

    cr_assert_eq(h_sim_start(&s, "--units 1 --delay-ms 300"), 0);
    cr_assert_eq(h_mux_start(&m, HEAD "[backend dev]\ntype = tcp\nhost = "
                 "127.0.0.1\nport = %d\n[route]\n1 = dev\n", s.port), 0);
    pthread_barrier_init(&go, NULL, 10);
    for (int i = 0; i < 10; i++) {
        /* index 0 for all: every client reads the same two registers */
        h[i] = (struct hammer){.port = m.port, .index = 0, .go = &go};
        pthread_create(&th[i], NULL, hammer_run, &h[i]);
    }
    for (int i = 0; i < 10; i++) {
        pthread_join(th[i], NULL);
        good += h[i].good;
    }
    cr_assert_eq(good, 10);
    cr_assert(h_sim_stat(&s, "requests") <= 3, "%ld transactions for 10 "
              "identical reads", h_sim_stat(&s, "requests"));
    cr_assert_eq(h_mux_stop(&m), 0);
    cr_assert(h_file_contains(m.p.err, "coalesced="));
    h_proc_stop(&s.p, SIGTERM, 5000);
}

Test(tcp_sched, reads_are_retried_writes_never)
{
    struct sim s;
    struct mux m;
    uint16_t v[1];
    int fd;

    /* Every second request is lost: each read needs its retry. */
    cr_assert_eq(h_sim_start(&s, "--units 1 --drop-every 2"), 0);
    cr_assert_eq(h_mux_start(&m, HEAD "[backend dev]\ntype = tcp\nhost = "
                 "127.0.0.1\nport = %d\ntimeout_ms = 200\nretries = 1\n"
                 "[route]\n1 = dev\n", s.port), 0);
    fd = h_connect(m.port);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(h_read(fd, 1, 3, (uint16_t)i, 1, v, 3000), 0);
        cr_assert(h_check_regs(1, 3, (uint16_t)i, 1, v));
    }
    cr_assert_eq(h_sim_stat(&s, "requests"), 7, "1 + 2 + 2 + 2");
    /* Request 8 is dropped: a write that got no answer is not repeated. */
    cr_assert_eq(h_write1(fd, 1, 50, 77, 3000), 0x0B);
    cr_assert_eq(h_sim_stat(&s, "requests"), 8);
    cr_assert_eq(h_read(fd, 1, 3, 50, 1, v, 3000), 0);
    cr_assert_eq(v[0], sim_holding(1, 50), "the lost write did nothing");
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

Test(tcp_sched, wrong_tid_devices_need_check_tid_no)
{
    struct sim a, b;
    struct mux m;
    uint16_t v[1];
    int fd;

    cr_assert_eq(h_sim_start(&a, "--units 1 --wrong-tid"), 0);
    cr_assert_eq(h_sim_start(&b, "--units 1 --wrong-tid"), 0);
    cr_assert_eq(h_mux_start(&m, HEAD "[backend loose]\ntype = tcp\nhost = "
                 "127.0.0.1\nport = %d\ncheck_tid = no\n[backend strict]\n"
                 "type = tcp\nhost = 127.0.0.1\nport = %d\ntimeout_ms = 200\n"
                 "retries = 0\n[route]\n1 = loose\n2 = strict:1\n", a.port,
                 b.port), 0);
    fd = h_connect(m.port);
    cr_assert_eq(h_read(fd, 1, 3, 3, 1, v, 3000), 0);
    cr_assert(h_check_regs(1, 3, 3, 1, v));
    cr_assert_eq(h_read(fd, 2, 3, 3, 1, v, 3000), 0x0B,
                 "a wrong tid is never taken for an answer");
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    cr_assert(h_file_contains(m.p.err, "late_responses=1"));
    h_proc_stop(&a.p, SIGTERM, 5000);
    h_proc_stop(&b.p, SIGTERM, 5000);
}

Test(tcp_sched, without_tids_a_late_answer_never_reaches_the_next_request)
{
    struct sim s;
    struct mux m;
    uint8_t f[300];
    int fd;

    /* Every answer comes 300 ms late with a wrong tid; attempts give up
     * after 200 ms. Read A times out; read B (same shape, other register)
     * goes out next. A's late answer must not be taken for B's. */
    cr_assert_eq(h_sim_start(&s, "--units 1 --wrong-tid --delay-ms 300"), 0);
    cr_assert_eq(h_mux_start(&m, HEAD "[backend dev]\ntype = tcp\nhost = "
                 "127.0.0.1\nport = %d\ncheck_tid = no\ntimeout_ms = 200\n"
                 "retries = 0\n[route]\n1 = dev\n", s.port), 0);
    cr_assert(h_wait_file(m.p.err, "B:dev: connected", 5000, NULL, 0));
    fd = h_connect(m.port);
    cr_assert_eq(h_send_read(fd, 1, 1, 3, 100, 1), 0);
    cr_assert_eq(h_send_read(fd, 2, 1, 3, 200, 1), 0);
    for (int i = 0; i < 2; i++) {
        int n = h_recv_frame(fd, f, sizeof(f), 5000);

        cr_assert(n == 11 || n == 9, "an answer or an exception: %d", n);
        if (f[7] == 3) {
            int tid = f[1];
            unsigned want = sim_holding(1, tid == 1 ? 100 : 200);

            cr_assert_eq((unsigned)(f[9] << 8 | f[10]), want,
                         "tid %d got another request's answer", tid);
        }
    }
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

/* SPDX-License-Identifier: MIT */
/*
 * test_poll.c -- the backend's own reads (poll, poll_learn) through the
 * real modbus-mux in front of the Modbus TCP simulator: a configured range
 * is kept fresh while no client asks, so a client's read of it is answered
 * from the cache; polling stops once nobody has read the range for
 * poll_idle_s and starts again at the next client read; a range clients
 * read is learned and polled at their rate; the simulator's request log
 * shows a poll never goes before a client's queued request.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define INI "[server]\nlisten = 127.0.0.1:0\nlog_level = debug\n" \
            "request_timeout_ms = 10000\n" \
            "[backend dev]\ntype = tcp\nhost = 127.0.0.1\nport = %d\n" \
            "cache_ttl_ms = 1000\n%s" \
            "[route]\n1 = dev:1\n"

TestSuite(poll, .fini = h_cleanup, .timeout = 60);

/* The simulator's request count once it has not changed for <quiet_ms>
 * (within <timeout_ms>), or -1. */
static long
settled(struct sim *s, int quiet_ms, int timeout_ms)
{
    uint64_t end = h_now_ms() + (uint64_t)timeout_ms, since = h_now_ms();
    long last = h_sim_stat(s, "requests");

    while (h_now_ms() < end) {
        long now = h_sim_stat(s, "requests");

        if (now != last) {
            last = now;
            since = h_now_ms();
        } else if (h_now_ms() - since >= (uint64_t)quiet_ms) {
            return last;
        }
        h_sleep_ms(20);
    }
    return -1;
}

/* Wait until the simulator has seen at least <n> requests. */
static bool
wait_requests(struct sim *s, long n, int timeout_ms)
{
    uint64_t end = h_now_ms() + (uint64_t)timeout_ms;

    while (h_now_ms() < end) {
        if (h_sim_stat(s, "requests") >= n) {
            return true;
        }
        h_sleep_ms(20);
    }
    return false;
}

Test(poll, a_polled_range_is_fresh_for_clients_and_polling_stops_when_idle)
{
    struct sim s;
    struct mux m;
    uint16_t v[10];
    long before, quiet;
    int fd;

    cr_assert_eq(h_sim_start(&s, ""), 0);
    cr_assert_eq(h_mux_start(&m, INI, s.port,
                             "poll = 1:holding:0-9@300\npoll_idle_s = 2\n"),
                 0);
    /* nobody asks: the range is read every 300 ms all the same */
    cr_assert(wait_requests(&s, 3, 5000), "no polls: %ld requests",
              h_sim_stat(&s, "requests"));
    fd = h_connect(m.port);
    before = h_sim_stat(&s, "requests");
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(h_read(fd, 1, 3, 0, 10, v, 5000), 0);
        cr_assert(h_check_regs(1, 3, 0, 10, v));
        h_sleep_ms(100);
    }
    /* five client reads, and only the polls went to the device (one every
     * 300 ms at most, give or take one at the edges) */
    cr_assert_leq(h_sim_stat(&s, "requests") - before, 4,
                  "%ld device reads for 5 client reads in 0.5 s",
                  h_sim_stat(&s, "requests") - before);
    /* 2 s after the last client read, polling stops */
    quiet = settled(&s, 1000, 8000);
    cr_assert_geq(quiet, 0, "polling never stopped");
    /* a client's read starts it again */
    cr_assert_eq(h_read(fd, 1, 3, 2, 3, v, 5000), 0);
    cr_assert(wait_requests(&s, quiet + 3, 5000), "no polls again");
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    cr_assert_geq(h_mux_backend_stat(&m, "dev", "cache_hits"), 3);
    cr_assert_geq(h_mux_backend_stat(&m, "dev", "polls"), 5);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

Test(poll, a_range_clients_read_is_learned)
{
    struct sim s;
    struct mux m;
    uint16_t v[5];
    long after;
    int fd;

    cr_assert_eq(h_sim_start(&s, ""), 0);
    cr_assert_eq(h_mux_start(&m, INI, s.port,
                             "poll_learn = yes\npoll_idle_s = 3\n"), 0);
    fd = h_connect(m.port);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(h_read(fd, 1, 4, 100, 5, v, 5000), 0);
        cr_assert(h_check_regs(1, 4, 100, 5, v));
        h_sleep_ms(400);
    }
    after = h_sim_stat(&s, "requests");
    /* the client has stopped; the backend keeps the range fresh at its
     * rate (about every 400 ms) until poll_idle_s */
    cr_assert(wait_requests(&s, after + 2, 3000),
              "not polled after the client stopped: %ld -> %ld", after,
              h_sim_stat(&s, "requests"));
    cr_assert_geq(settled(&s, 1000, 8000), 0, "polling never stopped");
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    cr_assert_geq(h_mux_backend_stat(&m, "dev", "polls"), 2);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

Test(poll, a_client_goes_before_a_poll)
{
    struct sim s;
    struct mux m;
    uint16_t v[2];
    int fd;
    char log[600];
    FILE *f;
    char line[256];
    int client_seen = 0, n = 0;

    snprintf(log, sizeof(log), "%s/dev.log", h_dir());
    {
        char args[700];

        snprintf(args, sizeof(args), "--delay-ms 150 --log %s", log);
        cr_assert_eq(h_sim_start(&s, args), 0);
    }
    /* polls due all the time; a slow device keeps a queue */
    cr_assert_eq(h_mux_start(&m, INI, s.port,
                             "poll = 1:input:1000-1009@100, "
                             "1:input:2000-2009@100, 1:input:3000-3009@100\n"
                             "poll_idle_s = 0\n"), 0);
    cr_assert(wait_requests(&s, 3, 5000));
    fd = h_connect(m.port);
    for (int i = 0; i < 3; i++) {
        uint64_t t0 = h_now_ms();

        cr_assert_eq(h_read(fd, 1, 3, (uint16_t)(10 + 10 * i), 2, v, 5000),
                     0);
        /* at most the read on the wire, then ours: 2 x 150 ms and the
         * loopback, never three polls queued before it */
        cr_assert_lt(h_now_ms() - t0, 450, "a client read waited %llu ms",
                     (unsigned long long)(h_now_ms() - t0));
    }
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
    f = fopen(log, "r");
    cr_assert_not_null(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        n++;
        client_seen += strstr(line, " 3 10 2") != NULL ||
                       strstr(line, " 3 20 2") != NULL ||
                       strstr(line, " 3 30 2") != NULL;
    }
    fclose(f);
    cr_assert_eq(client_seen, 3, "%d of %d lines", client_seen, n);
}

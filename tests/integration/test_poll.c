/* SPDX-License-Identifier: MIT */
/*
 * test_poll.c -- the backend's own reads (poll, poll_learn) through the
 * real modbus-mux in front of the Modbus TCP simulator: a configured range
 * is kept fresh while no client asks, so a client's read of it is answered
 * from the cache; polling stops once nobody has read the range for
 * poll_idle_s and starts again at the next client read; a range clients
 * read is learned and polled at their rate; the proxy's log shows a poll
 * never goes before a client's queued request.
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
    uint64_t t0;
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
    t0 = h_now_ms();
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(h_read(fd, 1, 3, 0, 10, v, 5000), 0);
        cr_assert(h_check_regs(1, 3, 0, 10, v));
        h_sleep_ms(100);
    }
    /* five client reads, and only the polls went to the device (one every
     * 300 ms, give or take one at each edge) */
    cr_assert_leq(h_sim_stat(&s, "requests") - before,
                  (long)((h_now_ms() - t0) / 300 + 2),
                  "%ld device reads for 5 client reads in %llu ms",
                  h_sim_stat(&s, "requests") - before,
                  (unsigned long long)(h_now_ms() - t0));
    /* 2 s after the last client read, polling stops */
    quiet = settled(&s, 1000, 8000);
    cr_assert_geq(quiet, 0, "polling never stopped");
    /* a client's read starts it again */
    cr_assert_eq(h_read(fd, 1, 3, 2, 3, v, 5000), 0);
    cr_assert(wait_requests(&s, quiet + 3, 5000), "no polls again");
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    cr_assert_geq(h_mux_backend_stat(&m, "dev", "cache_hits"), 5);
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

/* In the proxy's log <path>: every request of client S#1 that was queued
 * is the next one transmitted (nothing of the backend's own, "S#0", goes
 * before it). Returns how many were checked, or -1 at the first one
 * overtaken. */
static int
clients_go_first(const char *path)
{
    char line[512], want[32] = "";
    FILE *f = fopen(path, "r");
    int checked = 0;

    cr_assert_not_null(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        char *r = strstr(line, " R#");

        if (r == NULL) {
            continue;
        }
        if (strstr(line, " S#1 ") != NULL && strstr(line, ": queued") != NULL) {
            sscanf(r + 1, "%31s", want);
        } else if (want[0] != '\0' && strstr(line, ": transmit") != NULL) {
            char id[32];

            sscanf(r + 1, "%31s", id);
            if (strcmp(id, want) != 0) {
                fclose(f);
                return -1;
            }
            checked++;
            want[0] = '\0';
        }
    }
    fclose(f);
    return checked;
}

Test(poll, a_client_goes_before_a_poll)
{
    struct sim s;
    struct mux m;
    uint16_t v[2];
    int fd, checked;

    /* a slow device, and polls due all the time: a queue of them */
    cr_assert_eq(h_sim_start(&s, "--delay-ms 100"), 0);
    cr_assert_eq(h_mux_start(&m, INI, s.port,
                             "poll = 1:input:1000-1009@100, "
                             "1:input:2000-2009@100, 1:input:3000-3009@100\n"
                             "poll_idle_s = 0\n"), 0);
    cr_assert(wait_requests(&s, 3, 5000));
    fd = h_connect(m.port);
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(h_read(fd, 1, 3, (uint16_t)(10 + 10 * i), 2, v, 5000),
                     0);
        cr_assert(h_check_regs(1, 3, (uint16_t)(10 + 10 * i), 2, v));
    }
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
    checked = clients_go_first(m.p.err);
    cr_assert_geq(checked, 1, "a poll was sent before a client's queued "
                  "read (%d)", checked);
}

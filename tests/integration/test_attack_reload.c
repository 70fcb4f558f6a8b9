/* SPDX-License-Identifier: MIT */
/*
 * test_attack_reload.c -- reloads in a row while a replaced RS485 bus is
 * still closing (issue 10, item 7). The old bus's worker is in the middle
 * of a 3 s transaction, so it holds the serial port for seconds after the
 * first reload; meanwhile the second and third reloads replace, or remove
 * and add back, its pending replacement. The proxy must not crash (ASan
 * runs these too), the newest backend must serve, and the serial port
 * must never be open twice: no replacement starts before the old bus has
 * logged "closed: its replacement starts", and only one ever starts.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "sim_map.h"

TestSuite(attack_reload, .fini = h_cleanup, .timeout = 120);

/* The proxy's file: bus "a" on <link> with <timeout_ms> (a different one
 * makes a reload replace the bus), or without it when <timeout_ms> is 0;
 * backend "b" (a TCP device that is not there) keeps a route either way. */
static void
bus_ini(char *out, size_t size, const char *link, int timeout_ms, int dead)
{
    int n = snprintf(out, size, "[server]\nlisten = 127.0.0.1:0\nlog_level "
                     "= debug\nrequest_timeout_ms = 10000\n[backend b]\n"
                     "type = tcp\nhost = 127.0.0.1\nport = %d\n", dead);

    if (timeout_ms == 0) {
        snprintf(out + n, size - (size_t)n, "[route]\n2 = b\n");
        return;
    }
    snprintf(out + n, size - (size_t)n, "[backend a]\ntype = rtu\ndevice = "
             "%s\ntimeout_ms = %d\nretries = 0\n[route]\n1 = a\n2 = b\n",
             link, timeout_ms);
}

/* Rewrite the proxy's file, SIGHUP it, wait for the <n>-th "reloaded". */
static void
reload(struct mux *m, const char *text, int n)
{
    cr_assert_eq(h_write_file(m->ini, text), 0);
    kill(m->p.pid, SIGHUP);
    cr_assert(h_wait_lines(m->p.err, "reloaded ", n, 10000),
              "no reload #%d in %s", n, m->p.err);
}

/* The line number of the <n>-th line of <path> holding <needle>, or -1. */
static int
line_of(const char *path, const char *needle, int n)
{
    char line[2048];
    int no = 0, seen = 0;
    FILE *f = fopen(path, "r");

    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        no++;
        if (strstr(line, needle) != NULL && ++seen == n) {
            fclose(f);
            return no;
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return -1;
}

/*
 * Start the bus (3 s per answer) and the proxy, put a read on the wire,
 * then reload with each of <timeouts> in turn (0: the bus removed) while
 * the first bus is still waiting for that answer. Then the newest bus
 * must serve, after the old one closed, and be the only one started.
 */
static void
reload_while_busy(const int *timeouts, int n)
{
    struct rtu_sim s;
    struct mux m;
    char ini[1024], want[64];
    uint16_t v[2];
    int fd, busy, closed, started, dead = h_free_port();

    cr_assert_eq(h_rtu_start(&s, "--unit 1:generic --delay-ms 3000"), 0);
    bus_ini(ini, sizeof(ini), s.link, 5000, dead);
    cr_assert_eq(h_mux_start(&m, "%s", ini), 0);
    cr_assert(h_wait_file(m.p.err, "B:a: connected", 5000, NULL, 0));

    busy = h_connect(m.port);
    cr_assert_eq(h_send_read(busy, 7, 1, 3, 100, 2), 0);
    cr_assert(h_wait_stat(s.stats, "requests", 1, 5000),
              "the read never reached the bus");
    for (int i = 0; i < n; i++) {
        bus_ini(ini, sizeof(ini), s.link, timeouts[i], dead);
        reload(&m, ini, i + 1);
    }

    /* The old bus gets its answer and closes; the newest takes over. */
    cr_assert(h_wait_stat(s.stats, "replies", 1, 10000));
    fd = h_connect(m.port);
    cr_assert_eq(h_read(fd, 1, 3, 200, 2, v, 10000), 0, "the newest serves");
    cr_assert(h_check_regs(1, 3, 200, 2, v));
    close(fd);
    close(busy);
    cr_assert(h_proc_alive(&m.p), "the proxy died");
    cr_assert(!h_file_contains(m.p.err, "AddressSanitizer"));

    /* The serial port was never open twice: one replacement started, and
     * only after the old bus had closed. */
    cr_assert_eq(h_count_lines(m.p.err, "B:a: connected"), 2);
    cr_assert_eq(h_count_lines(m.p.err, "B:a: rtu backend"), 2,
                 "only the first and the newest bus ever started");
    closed = line_of(m.p.err, "closed: its replacement starts", 1);
    started = line_of(m.p.err, "B:a: rtu backend", 2);
    cr_assert(closed > 0 && started > closed, "the replacement started at "
              "line %d, the old bus closed at %d", started, closed);
    snprintf(want, sizeof(want), "timeout_ms=%d retries", timeouts[n - 1]);
    cr_assert_eq(line_of(m.p.err, want, 1), started,
                 "the newest is the one that started");
    cr_assert_eq(h_mux_stop(&m), 0, "and a clean exit");
    h_proc_stop(&s.p, SIGTERM, 5000);
}

Test(attack_reload, replaced_twice_while_the_old_bus_is_busy)
{
    static const int t[] = {5001, 5002};

    reload_while_busy(t, 2);
}

Test(attack_reload, replaced_three_times_while_the_old_bus_is_busy)
{
    static const int t[] = {5001, 5002, 5003};

    reload_while_busy(t, 3);
}

Test(attack_reload, replaced_removed_and_added_back_while_busy)
{
    static const int t[] = {5001, 0, 5003};

    reload_while_busy(t, 3);
}

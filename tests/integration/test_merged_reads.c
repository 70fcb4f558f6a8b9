/* SPDX-License-Identifier: MIT */
/*
 * test_merged_reads.c -- merged reads (merge_reads) through the real
 * modbus-mux in front of the Modbus TCP simulator on a paced link
 * (min_spacing_ms): reads queued together go as one device read and every client gets its
 * own registers with its own transaction id; a device with an undefined
 * register in the middle of a merged range (tcp_slave --hole) refuses
 * it, and no client sees that 0x02: the reads go one by one, the hole is
 * learned and the next merge stops at it, while a client that asks for
 * the hole itself gets its own 0x02; a read queued behind a write of its
 * client is never carried before that write.
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
            "min_spacing_ms = 200\nmerge_reads = %s\n%s" \
            "[route]\n1 = dev:1\n"

TestSuite(merge, .fini = h_cleanup, .timeout = 60);

/* The proxy with merge_reads <merge>, its link to the simulator up (so
 * that the first read goes out alone, at once, and the others queue
 * behind it). */
static void
start_mux(struct mux *m, int port, const char *merge)
{
    cr_assert_eq(h_mux_start(m, INI, port, merge, ""), 0);
    cr_assert(h_wait_file(m->p.err, "B:dev: connected", 5000, NULL, 0));
}

/* <n> reads of unit 1 (holding registers) pipelined on <fd>, then every
 * answer checked against the simulator's image; the exception codes in
 * <ex> (0 for good values). */
static void
pipelined(int fd, const uint16_t (*r)[2], int n, uint16_t tid0, int *ex)
{
    struct h_expect e[32];
    char why[160];

    cr_assert_leq(n, 32);
    for (int i = 0; i < n; i++) {
        e[i] = (struct h_expect){.tid = (uint16_t)(tid0 + i), .unit = 1,
                                 .fc = 3, .dev = 1, .addr = r[i][0],
                                 .count = r[i][1]};
    }
    cr_assert_eq(h_send_expected(fd, e, n), 0);
    for (int i = 0; i < n; i++) {
        int rc = h_recv_expected(fd, e, n, 8000, why, sizeof(why));

        cr_assert_geq(rc, 0, "answer %d: %s", i, why);
        ex[i] = rc;
    }
}

Test(merge, reads_queued_together_go_as_one_device_read)
{
    static const uint16_t r[][2] = {
        {0, 2}, {10, 2}, {40, 4}, {100, 2}, {20, 1}, {70, 5}, {118, 2},
        {300, 2},                               /* too far: alone */
    };
    struct sim s;
    struct mux m;
    int fd, ex[8];

    cr_assert_eq(h_sim_start(&s, ""), 0);
    start_mux(&m, s.port, "yes");
    fd = h_connect(m.port);
    cr_assert_geq(fd, 0);
    pipelined(fd, r, 8, 100, ex);
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(ex[i], 0, "read %d: exception 0x%02X", i, ex[i]);
    }
    /* the first goes at once, the next carries 6 others, 300 alone */
    cr_assert_eq(h_sim_stat(&s, "requests"), 3, "%ld device reads",
                 h_sim_stat(&s, "requests"));
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    cr_assert_eq(h_mux_backend_stat(&m, "dev", "merged_reads"), 1);
    cr_assert_eq(h_mux_backend_stat(&m, "dev", "merged_requests"), 5);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

Test(merge, without_merge_reads_each_read_goes_alone)
{
    static const uint16_t r[][2] = {{0, 2}, {10, 2}, {40, 4}, {100, 2}};
    struct sim s;
    struct mux m;
    int fd, ex[4];

    cr_assert_eq(h_sim_start(&s, ""), 0);
    start_mux(&m, s.port, "no");
    fd = h_connect(m.port);
    pipelined(fd, r, 4, 1, ex);
    cr_assert_eq(h_sim_stat(&s, "requests"), 4);
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

Test(merge, a_hole_is_learned_and_no_client_sees_its_0x02)
{
    static const uint16_t r[][2] = {{0, 2}, {10, 2}, {20, 2}, {40, 2}};
    static const uint16_t own[][2] = {{29, 2}};
    struct sim s;
    struct mux m;
    int fd, ex[4];

    /* register 30 is undefined */
    cr_assert_eq(h_sim_start(&s, "--hole 30-30"), 0);
    start_mux(&m, s.port, "yes");
    fd = h_connect(m.port);
    pipelined(fd, r, 4, 1, ex);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(ex[i], 0, "read %d: 0x%02X, a neighbour's", i, ex[i]);
    }
    cr_assert_eq(h_sim_stat(&s, "hole_refused"), 1, "the merged read");
    /* the same again: the merge stops at the hole, which is not read */
    pipelined(fd, r, 4, 11, ex);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(ex[i], 0, "again, read %d: 0x%02X", i, ex[i]);
    }
    cr_assert_eq(h_sim_stat(&s, "hole_refused"), 1, "not asked again");
    /* a client that asks for register 30 itself gets the device's 0x02 */
    pipelined(fd, own, 1, 21, ex);
    cr_assert_eq(ex[0], 0x02);
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    cr_assert_geq(h_mux_backend_stat(&m, "dev", "holes_learned"), 1);
    cr_assert_eq(h_mux_backend_stat(&m, "dev", "merge_undone"), 1);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

Test(merge, a_read_behind_a_write_sees_it)
{
    uint8_t buf[300];
    struct sim s;
    struct mux m;
    int fd, n;
    uint16_t v;

    cr_assert_eq(h_sim_start(&s, ""), 0);
    start_mux(&m, s.port, "yes");
    fd = h_connect(m.port);
    /* read 0+2, write HR 5 := 0x4242, read 4+2: the last one must not ride
     * on a merged read sent before the write */
    cr_assert_eq(h_send_read(fd, 1, 1, 3, 0, 2), 0);
    cr_assert_eq(h_send_read(fd, 2, 1, 3, 8, 2), 0);
    cr_assert_eq(h_send_write1(fd, 3, 1, 5, 0x4242), 0);
    cr_assert_eq(h_send_read(fd, 4, 1, 3, 4, 2), 0);
    for (int i = 0; i < 4; i++) {
        n = h_recv_frame(fd, buf, sizeof(buf), 8000);
        cr_assert_gt(n, 0, "answer %d", i);
        if (buf[1] == 4) {
            cr_assert_eq(buf[7], 3);
            v = (uint16_t)(buf[11] << 8 | buf[12]);
            cr_assert_eq(v, 0x4242, "read after the write: 0x%04X", v);
        }
    }
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

Test(merge, a_read_sent_after_another_clients_write_sees_it)
{
    uint8_t buf[300];
    struct sim s;
    struct mux m;
    int a, b, c, d, n;

    cr_assert_eq(h_sim_start(&s, "--delay-ms 100"), 0);
    start_mux(&m, s.port, "yes");
    a = h_connect(m.port);
    d = h_connect(m.port);
    b = h_connect(m.port);
    c = h_connect(m.port);
    /* A's read goes out; D's read waits (before the write); B writes HR 5;
     * C reads 4+2 after the write. D's read must not carry C's, which
     * would then go before B's write. */
    cr_assert_eq(h_send_read(a, 1, 1, 3, 100, 2), 0);
    h_sleep_ms(30);
    cr_assert_eq(h_send_read(d, 1, 1, 3, 0, 2), 0);
    h_sleep_ms(30);
    cr_assert_eq(h_send_write1(b, 1, 1, 5, 0x4242), 0);
    h_sleep_ms(30);
    cr_assert_eq(h_send_read(c, 1, 1, 3, 4, 2), 0);
    n = h_recv_frame(c, buf, sizeof(buf), 8000);
    cr_assert_gt(n, 0);
    cr_assert_eq(buf[7], 3);
    cr_assert_eq((uint16_t)(buf[11] << 8 | buf[12]), 0x4242,
                 "C read 0x%04X, from before B's write",
                 (uint16_t)(buf[11] << 8 | buf[12]));
    close(a);
    close(b);
    close(c);
    close(d);
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

/* SPDX-License-Identifier: MIT */
/*
 * test_attack_client.c -- what one client may do to the others, or to
 * itself (issue 10, items 12 to 16): trickle a frame that never ends while
 * every slot is taken, half-close its socket with requests outstanding,
 * pipeline identical reads and expect the answers in the order it asked,
 * send a bad protocol id; and the trace log of the answers sent back.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "sim_map.h"

#define HEAD "[server]\nlisten = 127.0.0.1:0\nlog_level = debug\n"
#define DEV  "[backend dev]\ntype = tcp\nhost = 127.0.0.1\nport = %d\n"

TestSuite(client_attack, .fini = h_cleanup, .timeout = 90);

/* --- 15. what the log says ----------------------------------------------- */

Test(client_attack, a_bad_protocol_id_is_logged_as_the_protocol_id)
{
    static const uint8_t bad[12] = {0, 1, 0x12, 0x34, 0, 6, 1, 3, 0, 0, 0, 1};
    struct sim s;
    struct mux m;
    int fd;

    cr_assert_eq(h_sim_start(&s, "--units 1"), 0);
    cr_assert_eq(h_mux_start(&m, HEAD DEV "[route]\n1 = dev\n", s.port), 0);
    fd = h_connect(m.port);
    cr_assert_eq(h_send(fd, bad, sizeof(bad)), 0);
    cr_assert(h_wait_closed(fd, 3000));
    cr_assert(h_wait_file(m.p.err, "bad MBAP protocol id 4660 (length 6, "
                          "tid 1)", 3000, NULL, 0), "see %s", m.p.err);
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

Test(client_attack, trace_dumps_the_answers_sent_to_clients)
{
    struct sim s;
    struct mux m;
    char want[64];
    uint8_t f[300];
    unsigned v = sim_holding(1, 2);
    int fd;

    cr_assert_eq(h_sim_start(&s, "--units 1"), 0);
    cr_assert_eq(h_mux_start(&m, "[server]\nlisten = 127.0.0.1:0\n"
                 "log_level = trace\n" DEV "[route]\n1 = dev\n", s.port), 0);
    fd = h_connect(m.port);
    cr_assert_eq(h_send_read(fd, 77, 1, 3, 2, 1), 0);
    cr_assert_eq(h_recv_frame(fd, f, sizeof(f), 3000), 11);
    snprintf(want, sizeof(want), "rsp [4] 03 02 %02x %02x", v >> 8, v & 0xFF);
    cr_assert(h_wait_file(m.p.err, "reply tid 77", 3000, NULL, 0));
    cr_assert(h_wait_file(m.p.err, want, 3000, NULL, 0), "no \"%s\" in %s",
              want, m.p.err);
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

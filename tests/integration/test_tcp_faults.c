/* SPDX-License-Identifier: MIT */
/*
 * test_tcp_faults.c -- what goes wrong around the proxy, and that only the
 * party at fault notices: a device that dies and comes back, a device that
 * is down (fail fast), clients that leave with work queued and on the
 * wire, malformed frames, max_clients, idle clients, and SIGTERM while a
 * request is on the wire.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "sim_map.h"

#define HEAD "[server]\nlisten = 127.0.0.1:0\nlog_level = debug\n"
#define DEV  "[backend dev]\ntype = tcp\nhost = 127.0.0.1\nport = %d\n"

TestSuite(tcp_faults, .fini = h_cleanup, .timeout = 60);

Test(tcp_faults, device_restart_is_recovered_without_restarting_the_proxy)
{
    struct sim s;
    struct mux m;
    uint16_t v[1];
    uint64_t end;
    int fd, port, rc = -1, failed = 0;

    cr_assert_eq(h_sim_start(&s, "--units 1"), 0);
    port = s.port;
    cr_assert_eq(h_mux_start(&m, HEAD DEV "timeout_ms = 300\n[route]\n"
                 "1 = dev\n", port), 0);
    fd = h_connect(m.port);
    cr_assert_eq(h_read(fd, 1, 3, 1, 1, v, 3000), 0);
    h_proc_stop(&s.p, SIGKILL, 5000);
    for (int i = 0; i < 5; i++) {
        rc = h_read(fd, 1, 3, 1, 1, v, 3000);
        failed += rc == 0x0A || rc == 0x0B;
    }
    cr_assert_eq(failed, 5, "the dead device answers nothing");
    cr_assert_eq(h_sim_start_port(&s, port, "--units 1"), 0);
    end = h_now_ms() + 15000;
    do {
        rc = h_read(fd, 1, 3, 1, 1, v, 3000);
    } while (rc != 0 && h_now_ms() < end);
    cr_assert_eq(rc, 0, "back within the back-off");
    cr_assert(h_check_regs(1, 3, 1, 1, v));
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    cr_assert(h_file_contains(m.p.err, "B:dev: connection lost"));
    h_proc_stop(&s.p, SIGTERM, 5000);
}

Test(tcp_faults, down_backend_fails_fast_with_0x0A)
{
    struct sim s;
    struct mux m;
    uint16_t v[1];
    uint64_t t0;
    int fd, port;

    cr_assert_eq(h_sim_start(&s, "--units 1"), 0);
    port = s.port;
    h_proc_stop(&s.p, SIGTERM, 5000);       /* a port nobody listens on */
    cr_assert_eq(h_mux_start(&m, "[server]\nlisten = 127.0.0.1:0\n"
                 "request_timeout_ms = 5000\n" DEV "[route]\n1 = dev\n",
                 port), 0);
    cr_assert(h_wait_file(m.p.err, "connect failed", 5000, NULL, 0));
    fd = h_connect(m.port);
    t0 = h_now_ms();
    cr_assert_eq(h_read(fd, 1, 3, 1, 1, v, 3000), 0x0A);
    cr_assert(h_now_ms() - t0 < 1000, "not waiting for the deadline");
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
}

Test(tcp_faults, client_leaving_with_requests_queued_and_on_the_wire)
{
    struct sim s;
    struct mux m;
    uint16_t v[1];
    uint8_t f[300];
    int a, b, c;

    cr_assert_eq(h_sim_start(&s, "--units 1 --delay-ms 200"), 0);
    cr_assert_eq(h_mux_start(&m, HEAD DEV "[route]\n1 = dev\n", s.port), 0);
    a = h_connect(m.port);
    b = h_connect(m.port);
    /* a: 20 reads, the first goes on the wire; b attaches to a's second. */
    for (int i = 0; i < 20; i++) {
        h_send_read(a, (uint16_t)i, 1, 3, (uint16_t)i, 1);
    }
    cr_assert(h_wait_file(m.p.err, "transmit", 3000, NULL, 0));
    cr_assert_eq(h_send_read(b, 77, 1, 3, 1, 1), 0);
    cr_assert(h_wait_file(m.p.err, "attached to", 3000, NULL, 0));
    /* It leaves with a reset: a plain close is an end of input, which may
     * be a half-close still owed its answers (test_attack_client.c). */
    setsockopt(a, SOL_SOCKET, SO_LINGER, &(struct linger){1, 0},
               sizeof(struct linger));
    close(a);
    /* 1 on the wire (orphaned) + 19 queued (dropped) */
    cr_assert(h_wait_file(m.p.err, "reset by peer (20 requests", 3000,
                          NULL, 0));
    cr_assert_eq(h_recv_frame(b, f, sizeof(f), 3000), 11);
    cr_assert_eq(f[1], 77);
    cr_assert_eq(f[7], 3, "b's read survived a's leaving");
    cr_assert_eq((f[9] << 8 | f[10]), sim_holding(1, 1));
    c = h_connect(m.port);
    cr_assert_eq(h_read(c, 1, 3, 9, 1, v, 3000), 0);
    close(b);
    close(c);
    cr_assert_eq(h_mux_stop(&m), 0, "clean exit (and no leak under ASan)");
    cr_assert(h_sim_stat(&s, "requests") <= 3, "queued reads were dropped, "
              "not sent: %ld", h_sim_stat(&s, "requests"));
    h_proc_stop(&s.p, SIGTERM, 5000);
}

Test(tcp_faults, malformed_frame_closes_only_its_own_connection)
{
    struct sim s;
    struct mux m;
    uint16_t v[1];
    uint8_t bad_proto[12] = {0, 1, 0, 1, 0, 6, 1, 3, 0, 0, 0, 1};
    uint8_t bad_len[8] = {0, 1, 0, 0, 0x01, 0x00, 1, 3};
    int good, a, b;

    cr_assert_eq(h_sim_start(&s, "--units 1"), 0);
    cr_assert_eq(h_mux_start(&m, HEAD DEV "[route]\n1 = dev\n", s.port), 0);
    good = h_connect(m.port);
    cr_assert_eq(h_read(good, 1, 3, 2, 1, v, 3000), 0);
    a = h_connect(m.port);
    b = h_connect(m.port);
    cr_assert_eq(h_send(a, bad_proto, sizeof(bad_proto)), 0);
    cr_assert_eq(h_send(b, bad_len, sizeof(bad_len)), 0);
    cr_assert(h_wait_closed(a, 3000));
    cr_assert(h_wait_closed(b, 3000));
    cr_assert_eq(h_read(good, 1, 3, 2, 1, v, 3000), 0);
    cr_assert(h_check_regs(1, 3, 2, 1, v));
    cr_assert(h_file_contains(m.p.err, "bad MBAP protocol id"));
    cr_assert(h_file_contains(m.p.err, "bad MBAP length 256"));
    close(a);
    close(b);
    close(good);
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

Test(tcp_faults, connections_over_max_clients_are_closed)
{
    struct sim s;
    struct mux m;
    uint16_t v[1];
    int a, b, c;

    cr_assert_eq(h_sim_start(&s, "--units 1"), 0);
    cr_assert_eq(h_mux_start(&m, "[server]\nlisten = 127.0.0.1:0\n"
                 "max_clients = 2\n" DEV "[route]\n1 = dev\n", s.port), 0);
    a = h_connect(m.port);
    b = h_connect(m.port);
    cr_assert_eq(h_read(a, 1, 3, 0, 1, v, 3000), 0);
    cr_assert_eq(h_read(b, 1, 3, 0, 1, v, 3000), 0);
    c = h_connect(m.port);
    cr_assert(h_wait_closed(c, 3000));
    cr_assert(h_file_contains(m.p.err, "max_clients (2) reached"));
    cr_assert_eq(h_read(a, 1, 3, 0, 1, v, 3000), 0, "the others stay");
    close(a);
    close(b);
    close(c);
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

Test(tcp_faults, idle_clients_are_closed)
{
    struct sim s;
    struct mux m;
    uint64_t t0, dt;
    int fd;

    cr_assert_eq(h_sim_start(&s, "--units 1"), 0);
    cr_assert_eq(h_mux_start(&m, "[server]\nlisten = 127.0.0.1:0\n"
                 "idle_timeout_s = 1\n" DEV "[route]\n1 = dev\n", s.port), 0);
    t0 = h_now_ms();
    fd = h_connect(m.port);
    cr_assert(h_wait_closed(fd, 5000));
    dt = h_now_ms() - t0;
    cr_assert(dt >= 900, "closed after %llu ms", (unsigned long long)dt);
    cr_assert(h_file_contains(m.p.err, "idle for 1 s"));
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

Test(tcp_faults, sigterm_lets_the_request_on_the_wire_finish)
{
    struct sim s;
    struct mux m;
    uint8_t f[300];
    int fd;

    cr_assert_eq(h_sim_start(&s, "--units 1 --delay-ms 500"), 0);
    cr_assert_eq(h_mux_start(&m, HEAD DEV "[route]\n1 = dev\n", s.port), 0);
    fd = h_connect(m.port);
    cr_assert_eq(h_send_read(fd, 5, 1, 3, 4, 1), 0);
    cr_assert(h_wait_file(m.p.err, "transmit", 3000, NULL, 0));
    kill(m.p.pid, SIGTERM);
    cr_assert_eq(h_recv_frame(fd, f, sizeof(f), 3000), 11);
    cr_assert_eq(f[7], 3);
    cr_assert_eq((f[9] << 8 | f[10]), sim_holding(1, 4));
    cr_assert(h_wait_closed(fd, 3000), "then the client is let go");
    cr_assert_eq(h_proc_stop(&m.p, 0, 5000), 0, "exit 0");
    cr_assert(h_file_contains(m.p.err, "shutting down"));
    close(fd);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

/* SPDX-License-Identifier: MIT */
/*
 * test_rtu.c -- the real modbus-mux in front of an RS485 bus simulated on
 * a pty (tests/sim/rtu_slave: an EV charger and a PV inverter), and in
 * front of the same bus behind socat as a serial device server (rtu_tcp).
 * Pacing as the bus sees it, CRC errors retried, a silent unit costing
 * only its own clients, split responses and the byte timeout, broadcast
 * silence, per-range timeouts, echoes, and the device vanishing.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "sim_map.h"

#define SRV "[server]\nlisten = 127.0.0.1:0\nlog_level = debug\n" \
            "request_timeout_ms = %d\n"
#define BUS "[backend bus]\ntype = rtu\ndevice = %s\n"
#define UNITS "--unit 1:evcharger --unit 2:pvinverter"

TestSuite(rtu, .fini = h_cleanup, .timeout = 90);

struct poller {
    int      port;
    int      index;
    unsigned good;
};

/* One client, one read: odd clients ask the PV inverter, even ones the
 * EV charger, each its own register. */
static void *
poller_run(void *arg)
{
    struct poller *p = arg;
    int fd = h_connect(p->port);
    uint8_t unit = p->index % 2 ? 2 : 1;
    uint16_t addr = (uint16_t)((unit == 1 ? 0x0600 : 0x1001) + p->index);
    uint16_t v[2];

    if (fd >= 0 && h_read(fd, unit, 3, addr, 2, v, 20000) == 0 &&
        h_check_regs(unit, 3, addr, 2, v)) {
        p->good++;
    }
    close(fd);
    return NULL;
}

Test(rtu, ten_clients_two_units_one_second_apart)
{
    struct rtu_sim s;
    struct mux m;
    pthread_t th[10];
    struct poller p[10];
    unsigned good = 0;

    cr_assert_eq(h_rtu_start(&s, UNITS " --min-gap-ms 1000"), 0);
    cr_assert_eq(h_mux_start(&m, SRV BUS "min_spacing_ms = 1000\n"
                 "[route]\n1-2 = bus\n", 15000, s.link), 0);
    cr_assert(h_wait_file(m.p.err, "B:bus: connected", 5000, NULL, 0));
    for (int i = 0; i < 10; i++) {
        p[i] = (struct poller){.port = m.port, .index = i};
        pthread_create(&th[i], NULL, poller_run, &p[i]);
    }
    for (int i = 0; i < 10; i++) {
        pthread_join(th[i], NULL);
        good += p[i].good;
    }
    cr_assert_eq(good, 10);
    cr_assert_eq(h_rtu_stat(&s, "requests"), 10);
    cr_assert_eq(h_rtu_stat(&s, "early"), 0, "a request < 1000 ms after a "
                 "response");
    cr_assert(h_rtu_stat(&s, "min_gap_us") >= 1000000);
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

Test(rtu, corrupted_crc_is_retried_and_answered)
{
    struct rtu_sim s;
    struct mux m;
    uint16_t v[2];
    int fd;

    cr_assert_eq(h_rtu_start(&s, UNITS " --corrupt-crc 1:1"), 0);
    cr_assert_eq(h_mux_start(&m, SRV BUS "retries = 1\n[route]\n1-2 = bus\n",
                 5000, s.link), 0);
    fd = h_connect(m.port);
    cr_assert_eq(h_read(fd, 1, 4, 0x0010, 2, v, 5000), 0);
    cr_assert(h_check_regs(1, 4, 0x0010, 2, v));
    cr_assert_eq(h_rtu_stat(&s, "corrupted"), 1);
    cr_assert_eq(h_rtu_stat(&s, "requests"), 2, "the read was sent again");
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    cr_assert(h_file_contains(m.p.err, "bad response: bad CRC"));
    h_proc_stop(&s.p, SIGTERM, 5000);
}

Test(rtu, silent_unit_costs_only_its_own_clients)
{
    struct rtu_sim s;
    struct mux m;
    uint16_t v[1];
    uint8_t f[300];
    uint64_t t0, dt;
    int a, b;

    cr_assert_eq(h_rtu_start(&s, UNITS " --silent 2"), 0);
    cr_assert_eq(h_mux_start(&m, SRV BUS "timeout_ms = 300\nretries = 1\n"
                 "[route]\n1-2 = bus\n", 2000, s.link), 0);
    a = h_connect(m.port);
    b = h_connect(m.port);
    t0 = h_now_ms();
    cr_assert_eq(h_send_read(a, 1, 2, 3, 0x1001, 1), 0);
    cr_assert_eq(h_read(b, 1, 3, 0x0601, 1, v, 5000), 0, "unit 1 served");
    cr_assert(h_check_regs(1, 3, 0x0601, 1, v));
    cr_assert_eq(h_recv_frame(a, f, sizeof(f), 5000), 9);
    cr_assert_eq(f[7], 0x83);
    cr_assert_eq(f[8], 0x0B, "the silent unit's client gets 0x0B");
    dt = h_now_ms() - t0;
    cr_assert(dt < 2000 + 1500, "within the deadline: %llu ms",
              (unsigned long long)dt);
    close(a);
    close(b);
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

Test(rtu, split_response_and_the_byte_timeout)
{
    struct rtu_sim s1, s2;
    struct mux m;
    uint16_t v[4];
    int fd;

    /* 40 ms inside the frame: under byte_timeout_ms = 150, one frame. */
    cr_assert_eq(h_rtu_start(&s1, UNITS " --split 1:4:40"), 0);
    /* 400 ms: the frame ends at the pause and is truncated. */
    cr_assert_eq(h_rtu_start(&s2, UNITS " --split 1:4:400"), 0);
    cr_assert_eq(h_mux_start(&m, SRV BUS "byte_timeout_ms = 150\n"
                 "[backend far]\ntype = rtu\ndevice = %s\nbyte_timeout_ms = "
                 "150\nretries = 0\n[route]\n1 = bus\n11 = far:1\n", 5000,
                 s1.link, s2.link), 0);
    fd = h_connect(m.port);
    cr_assert_eq(h_read(fd, 1, 3, 0x0600, 4, v, 5000), 0);
    cr_assert(h_check_regs(1, 3, 0x0600, 4, v));
    cr_assert_eq(h_read(fd, 11, 3, 0x0600, 4, v, 5000), 0x0B);
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    cr_assert(h_file_contains(m.p.err, "truncated response"));
    h_proc_stop(&s1.p, SIGTERM, 5000);
    h_proc_stop(&s2.p, SIGTERM, 5000);
}

Test(rtu, broadcast_is_acknowledged_then_the_bus_stays_quiet)
{
    struct rtu_sim s;
    struct mux m;
    uint16_t v[1];
    int fd;

    /* The simulator dates the end of a broadcast by when it read the
     * bytes, later than they arrived when the machine is busy: 50 ms of
     * slack under the 300 ms the proxy keeps. */
    cr_assert_eq(h_rtu_start(&s, UNITS " --min-gap-ms 250"), 0);
    cr_assert_eq(h_mux_start(&m, SRV BUS "broadcast_delay_ms = 300\n"
                 "[route]\n1-2 = bus\n9 = bus:0\n", 5000, s.link), 0);
    fd = h_connect(m.port);
    cr_assert_eq(h_write1(fd, 9, 0x5101, 4242, 3000), 0, "acknowledged");
    cr_assert_eq(h_read(fd, 2, 3, 0x5101, 1, v, 3000), 0);
    cr_assert_eq(v[0], 4242, "the inverter took the broadcast");
    cr_assert_eq(h_rtu_stat(&s, "broadcasts"), 1);
    cr_assert_eq(h_rtu_stat(&s, "early"), 0, "silence after it");
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

Test(rtu, timeout_override_for_a_register_range)
{
    struct rtu_sim s;
    struct mux m;
    uint16_t v[1];
    int fd;

    /* The device takes 400 ms; only 0x3000-0x3010 may take that long. */
    cr_assert_eq(h_rtu_start(&s, UNITS " --delay-ms 400"), 0);
    cr_assert_eq(h_mux_start(&m, SRV BUS "timeout_ms = 200\nretries = 0\n"
                 "timeout_override = 0x3000-0x3010:2000\n[route]\n"
                 "1-2 = bus\n", 1500, s.link), 0);
    fd = h_connect(m.port);
    cr_assert_eq(h_read(fd, 2, 3, 0x3002, 1, v, 5000), 0);
    cr_assert(h_check_regs(2, 3, 0x3002, 1, v));
    cr_assert_eq(h_read(fd, 2, 3, 0x1001, 1, v, 5000), 0x0B);
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

Test(rtu, device_vanishes_and_comes_back)
{
    struct rtu_sim s;
    struct mux m;
    uint16_t v[1];
    uint64_t end;
    int fd, rc;

    cr_assert_eq(h_rtu_start(&s, UNITS), 0);
    cr_assert_eq(h_mux_start(&m, SRV BUS "timeout_ms = 300\n[route]\n"
                 "1-2 = bus\n", 3000, s.link), 0);
    fd = h_connect(m.port);
    cr_assert_eq(h_read(fd, 1, 3, 0x0600, 1, v, 3000), 0);
    kill(s.p.pid, SIGUSR1);                         /* unplugged */
    end = h_now_ms() + 5000;
    while (h_rtu_stat(&s, "vanished") != 1 && h_now_ms() < end) {
        usleep(5000);
    }
    cr_assert_eq(h_rtu_stat(&s, "vanished"), 1);
    /* An idle port does not notice; the next request does. */
    rc = h_read(fd, 1, 3, 0x0600, 1, v, 5000);
    cr_assert(rc == 0x0A || rc == 0x0B, "down: got %d", rc);
    cr_assert(h_wait_file(m.p.err, "B:bus: connection lost", 5000, NULL, 0));
    cr_assert(h_wait_file(m.p.err, "connect failed (cannot open", 5000, NULL,
                          0));
    kill(s.p.pid, SIGUSR1);                         /* plugged back in */
    end = h_now_ms() + 15000;
    do {
        rc = h_read(fd, 1, 3, 0x0600, 1, v, 3000);
    } while (rc != 0 && h_now_ms() < end);
    cr_assert_eq(rc, 0, "the bus came back without a restart");
    cr_assert(h_check_regs(1, 3, 0x0600, 1, v));
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    cr_assert(h_file_contains(m.p.err, "B:bus: up again"));
    h_proc_stop(&s.p, SIGTERM, 5000);
}

Test(rtu, rs485_mode_refused_by_the_driver_is_logged)
{
    struct rtu_sim s;
    struct mux m;
    uint16_t v[1];
    int fd;

    cr_assert_eq(h_rtu_start(&s, UNITS), 0);
    cr_assert_eq(h_mux_start(&m, SRV BUS "rs485 = yes\n[route]\n1-2 = bus\n",
                 3000, s.link), 0);
    cr_assert(h_wait_file(m.p.err, "cannot be put in kernel RS485 mode",
                          5000, NULL, 0));
    fd = h_connect(m.port);
    cr_assert_eq(h_read(fd, 1, 3, 0x0600, 1, v, 3000), 0, "works anyway");
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

Test(rtu, rtu_over_tcp_through_a_serial_server_with_echo_and_noise)
{
    struct rtu_sim s;
    struct proc gw;
    struct mux m;
    uint16_t v[2];
    int fd, port;

    cr_assert_eq(h_rtu_start(&s, UNITS " --echo --garbage-before 3"), 0);
    port = h_serial_server(&gw, s.link);
    cr_assert(port > 0, "socat listens");
    cr_assert_eq(h_mux_start(&m, SRV "[backend gw]\ntype = rtu_tcp\nhost = "
                 "127.0.0.1\nport = %d\n[route]\n1-2 = gw\n", 5000, port), 0);
    cr_assert(h_wait_file(m.p.err, "B:gw: connected", 5000, NULL, 0));
    fd = h_connect(m.port);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(h_read(fd, 2, 3, (uint16_t)(0x1001 + i), 2, v, 5000), 0);
        cr_assert(h_check_regs(2, 3, (uint16_t)(0x1001 + i), 2, v));
    }
    cr_assert_eq(h_read(fd, 1, 4, 0x0002, 2, v, 5000), 0);
    cr_assert(h_check_regs(1, 4, 0x0002, 2, v));
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    cr_assert(!h_file_contains(m.p.err, "stray_bytes=0 "),
              "echoes and noise were skipped and counted");
    h_proc_stop(&gw, SIGTERM, 3000);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

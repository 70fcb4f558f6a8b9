/* SPDX-License-Identifier: MIT */
/*
 * test_tcp_basic.c -- the real modbus-mux against the TCP simulator:
 * correct values to many pipelining clients, unit rewriting both ways,
 * each proxy exception provoked (0x0A, 0x0B, 0x06, 0x01, 0x03), device
 * exceptions passed through, broadcast, IPv6, --check-config.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "sim_map.h"

#define HEAD "[server]\nlisten = 127.0.0.1:0\nlog_level = debug\n"

TestSuite(tcp_basic, .fini = h_cleanup, .timeout = 60);

struct piper {
    int      port;
    int      index;
    unsigned good;
};

/* One client: 10 reads written at once, answers checked by tid. */
static void *
piper_run(void *arg)
{
    struct piper *p = arg;
    int fd = h_connect(p->port);
    uint8_t f[300];

    if (fd < 0) {
        return NULL;
    }
    for (int i = 0; i < 10; i++) {
        h_send_read(fd, (uint16_t)(p->index * 100 + i), 1, 3,
                    (uint16_t)(p->index * 20 + i), 4);
    }
    for (int i = 0; i < 10; i++) {
        uint16_t vals[4];
        int n = h_recv_frame(fd, f, sizeof(f), 10000);
        int tid = f[0] << 8 | f[1];
        int k = tid - p->index * 100;

        if (n != 17 || k < 0 || k >= 10 || f[6] != 1 || f[7] != 3 ||
            f[8] != 8) {
            break;
        }
        for (int j = 0; j < 4; j++) {
            vals[j] = (uint16_t)(f[9 + 2 * j] << 8 | f[10 + 2 * j]);
        }
        if (h_check_regs(1, 3, (uint16_t)(p->index * 20 + k), 4, vals)) {
            p->good++;
        }
    }
    close(fd);
    return NULL;
}

Test(tcp_basic, twenty_pipelining_clients_get_their_own_answers)
{
    struct sim s;
    struct mux m;
    pthread_t th[20];
    struct piper p[20];
    unsigned good = 0;

    cr_assert_eq(h_sim_start(&s, "--units 1"), 0);
    cr_assert_eq(h_mux_start(&m, HEAD "[backend dev]\ntype = tcp\nhost = "
                 "127.0.0.1\nport = %d\nqueue_depth = 1000\n[route]\n"
                 "1 = dev\n", s.port), 0);
    for (int i = 0; i < 20; i++) {
        p[i] = (struct piper){.port = m.port, .index = i};
        pthread_create(&th[i], NULL, piper_run, &p[i]);
    }
    for (int i = 0; i < 20; i++) {
        pthread_join(th[i], NULL);
        good += p[i].good;
    }
    cr_assert_eq(good, 200, "%u of 200 answers right", good);
    cr_assert_eq(h_sim_stat(&s, "requests"), 200);
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

Test(tcp_basic, unit_ids_are_rewritten_both_ways)
{
    struct sim s;
    struct mux m;
    uint16_t v[3];
    int fd;

    cr_assert_eq(h_sim_start(&s, "--units 1-3,247"), 0);
    cr_assert_eq(h_mux_start(&m, HEAD "[backend plant]\ntype = tcp\nhost = "
                 "127.0.0.1\nport = %d\n[route]\n7 = plant:247\n"
                 "0x0A-0x0C = plant:1-3\n20 = plant\n", s.port), 0);
    fd = h_connect(m.port);
    cr_assert(fd >= 0);
    /* h_read() checks that the reply carries the client's unit id. */
    cr_assert_eq(h_read(fd, 7, 3, 5, 3, v, 3000), 0);
    cr_assert(h_check_regs(247, 3, 5, 3, v), "unit 7 -> 247");
    cr_assert_eq(h_read(fd, 11, 4, 100, 2, v, 3000), 0);
    cr_assert(h_check_regs(2, 4, 100, 2, v), "unit 11 -> 2 (range)");
    cr_assert_eq(h_read(fd, 12, 1, 3, 3, v, 3000), 0);
    cr_assert(h_check_regs(3, 1, 3, 3, v), "unit 12 -> 3, coils");
    /* "20 = plant" keeps the unit: the simulator does not serve 20. */
    cr_assert_eq(h_read(fd, 20, 3, 0, 1, v, 3000), 0x0B);
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

Test(tcp_basic, proxy_exceptions_and_device_exceptions)
{
    struct sim s;
    struct mux m;
    uint16_t v[2];
    uint8_t bad_qty[12] = {0, 9, 0, 0, 0, 6, 1, 3, 0, 0, 0, 200};
    uint8_t f[300];
    int fd;

    cr_assert_eq(h_sim_start(&s, "--units 1 --map-size 100"), 0);
    cr_assert_eq(h_mux_start(&m, HEAD "[backend dev]\ntype = tcp\nhost = "
                 "127.0.0.1\nport = %d\n[route]\n1 = dev\n", s.port), 0);
    fd = h_connect(m.port);
    cr_assert_eq(h_read(fd, 99, 3, 0, 1, v, 3000), 0x0A, "unrouted");
    cr_assert_eq(h_read(fd, 1, 3, 200, 1, v, 3000), 0x02, "device's own");
    cr_assert_eq(h_send(fd, bad_qty, sizeof(bad_qty)), 0);
    cr_assert_eq(h_recv_frame(fd, f, sizeof(f), 3000), 9);
    cr_assert_eq(f[7], 0x83);
    cr_assert_eq(f[8], 0x03, "125 registers at most");
    cr_assert_eq(h_sim_stat(&s, "requests"), 1, "only the good one sent");
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

Test(tcp_basic, silent_device_gives_0x0B_within_the_deadline)
{
    struct sim s;
    struct mux m;
    uint16_t v[1];
    uint64_t t0, dt;
    int fd;

    cr_assert_eq(h_sim_start(&s, "--units 1 --drop-every 1"), 0);
    cr_assert_eq(h_mux_start(&m, "[server]\nlisten = 127.0.0.1:0\n"
                 "request_timeout_ms = 1500\n[backend dev]\ntype = tcp\n"
                 "host = 127.0.0.1\nport = %d\ntimeout_ms = 200\n"
                 "retries = 2\n[route]\n1 = dev\n", s.port), 0);
    fd = h_connect(m.port);
    t0 = h_now_ms();
    cr_assert_eq(h_read(fd, 1, 3, 0, 1, v, 5000), 0x0B);
    dt = h_now_ms() - t0;
    cr_assert(dt >= 590, "three attempts of 200 ms, got %llu ms",
              (unsigned long long)dt);
    cr_assert(dt < 1500 + 1000, "within the deadline, got %llu ms",
              (unsigned long long)dt);
    cr_assert_eq(h_sim_stat(&s, "requests"), 3, "1 + 2 retries");
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

Test(tcp_basic, full_queue_gives_0x06)
{
    struct sim s;
    struct mux m;
    uint8_t f[300];
    int fd, busy = 0, good = 0;

    cr_assert_eq(h_sim_start(&s, "--units 1 --delay-ms 300"), 0);
    cr_assert_eq(h_mux_start(&m, HEAD "[backend dev]\ntype = tcp\nhost = "
                 "127.0.0.1\nport = %d\nqueue_depth = 2\n[route]\n"
                 "1 = dev\n", s.port), 0);
    cr_assert(h_wait_file(m.p.err, "B:dev: connected", 5000, NULL, 0));
    fd = h_connect(m.port);
    /* One goes on the wire, two wait, three find the queue full. */
    for (int i = 0; i < 6; i++) {
        h_send_read(fd, (uint16_t)i, 1, 3, (uint16_t)(i * 10), 1);
    }
    for (int i = 0; i < 6; i++) {
        cr_assert(h_recv_frame(fd, f, sizeof(f), 5000) > 8);
        busy += f[7] == 0x83 && f[8] == 0x06;
        good += f[7] == 0x03;
    }
    cr_assert_eq(busy, 3);
    cr_assert_eq(good, 3);
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

Test(tcp_basic, broadcast_write_is_acknowledged_and_reaches_every_unit)
{
    struct sim s;
    struct mux m;
    uint16_t v[1];
    int fd;

    cr_assert_eq(h_sim_start(&s, "--units 1,2"), 0);
    cr_assert_eq(h_mux_start(&m, HEAD "[backend dev]\ntype = tcp\nhost = "
                 "127.0.0.1\nport = %d\n[route]\n5 = dev:0\n1-2 = dev\n",
                 s.port), 0);
    fd = h_connect(m.port);
    cr_assert_eq(h_write1(fd, 5, 10, 1234, 3000), 0, "echo at once");
    cr_assert_eq(h_read(fd, 1, 3, 10, 1, v, 3000), 0);
    cr_assert_eq(v[0], 1234);
    cr_assert_eq(h_read(fd, 2, 3, 10, 1, v, 3000), 0);
    cr_assert_eq(v[0], 1234);
    cr_assert_eq(h_read(fd, 5, 3, 10, 1, v, 3000), 0x01, "nobody answers");
    cr_assert_eq(h_sim_stat(&s, "broadcasts"), 1);
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

Test(tcp_basic, listens_on_ipv6)
{
    struct sim s;
    struct mux m;
    uint16_t v[1];
    int fd;

    cr_assert_eq(h_sim_start(&s, "--units 1"), 0);
    cr_assert_eq(h_mux_start(&m, "[server]\nlisten = [::1]:0\n[backend dev]\n"
                 "type = tcp\nhost = 127.0.0.1\nport = %d\n[route]\n"
                 "1 = dev\n", s.port), 0);
    fd = h_connect6(m.port);
    cr_assert(fd >= 0);
    cr_assert_eq(h_read(fd, 1, 3, 7, 1, v, 3000), 0);
    cr_assert(h_check_regs(1, 3, 7, 1, v));
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

Test(tcp_basic, check_config_reports_file_and_line)
{
    char path[600], cmd[1400];
    FILE *f;
    int st;

    snprintf(path, sizeof(path), "%s/bad.ini", h_dir());
    f = fopen(path, "w");
    fputs("[server]\nlisten = 127.0.0.1:0\nmax_clients = lots\n"
          "[backend a]\ntype = tcp\nhost = x\n[route]\n1 = b\n", f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "%s --check-config -c %s 2>%s.err", MUX_BIN,
             path, path);
    st = system(cmd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1);
    snprintf(cmd, sizeof(cmd), "%s.err", path);
    cr_assert(h_file_contains(cmd, "bad.ini:3: [server] max_clients: "
                              "invalid value \"lots\""));
    cr_assert(h_file_contains(cmd, "bad.ini:8: [route] 1: unknown backend"));
}

/* SPDX-License-Identifier: MIT */
/*
 * test_safety.c -- write safety and access control, seen at the device:
 * read_only, deny_write, write_if_changed (a repeated write of the same
 * value never reaches the device), min_write_interval_ms, clients outside
 * allow closed before a byte of Modbus, read_only_clients, and priority
 * clients overtaking a queue of polls.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "sim_map.h"

#define HEAD "[server]\nlisten = 127.0.0.1:0\nlog_level = debug\n"
#define DEV  "[backend dev]\ntype = tcp\nhost = 127.0.0.1\nport = %d\n"

TestSuite(safety, .fini = h_cleanup, .timeout = 60);

/* Bytes the peer sends on <fd> before closing it; -1 if it stays open. */
static long
bytes_until_closed(int fd, int timeout_ms)
{
    uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
    uint8_t b[256];
    long total = 0;

    while (h_now_ms() < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ssize_t n;

        if (poll(&p, 1, 50) <= 0) {
            continue;
        }
        n = recv(fd, b, sizeof(b), 0);
        if (n <= 0) {
            return total;
        }
        total += n;
    }
    return -1;
}

static int
start(struct sim *s, struct mux *m, char *log, size_t log_size,
      const char *server_keys, const char *be_keys)
{
    char args[700];

    snprintf(log, log_size, "%s/sim-%d.log", h_dir(), getpid());
    snprintf(args, sizeof(args), "--units 1 --log %s", log);
    if (h_sim_start(s, args) != 0) {
        return -1;
    }
    if (h_mux_start(m, HEAD "%s\n" DEV "%s\n[route]\n1 = dev\n", server_keys,
                    s->port, be_keys) != 0) {
        return -1;
    }
    return h_wait_file(m->p.err, "B:dev: connected", 5000, NULL, 0) ? 0 : -1;
}

static void
stop(struct sim *s, struct mux *m)
{
    cr_assert_eq(h_mux_stop(m), 0);
    h_proc_stop(&s->p, SIGTERM, 5000);
}

Test(safety, read_only_and_deny_write)
{
    struct sim s1, s2;
    struct mux m1, m2;
    char log1[512], log2[512];
    uint16_t v[1];
    int fd;

    cr_assert_eq(start(&s1, &m1, log1, sizeof(log1), "", "read_only = yes"),
                 0);
    fd = h_connect(m1.port);
    cr_assert_eq(h_write1(fd, 1, 10, 5, 3000), 0x01);
    cr_assert_eq(h_read(fd, 1, 3, 10, 1, v, 3000), 0, "reads still work");
    close(fd);
    stop(&s1, &m1);
    cr_assert_eq(h_sim_count_fc(log1, 6), 0, "nothing written");

    cr_assert_eq(start(&s2, &m2, log2, sizeof(log2), "",
                       "deny_write = 0x0640, 0x3000-0x30C2"), 0);
    fd = h_connect(m2.port);
    cr_assert_eq(h_write1(fd, 1, 0x0640, 5, 3000), 0x02, "EEPROM address");
    cr_assert_eq(h_write1(fd, 1, 0x3005, 5, 3000), 0x02, "firmware range");
    cr_assert_eq(h_write1(fd, 1, 0x0641, 5, 3000), 0, "next to it: fine");
    close(fd);
    stop(&s2, &m2);
    cr_assert_eq(h_sim_count_fc(log2, 6), 1);
    cr_assert(h_file_contains(m2.p.err, "write refused (0x02): deny_write"));
}

Test(safety, a_repeated_write_of_the_same_value_never_reaches_the_device)
{
    struct sim s;
    struct mux m;
    char log[512];
    uint16_t v[1];
    int fd;

    cr_assert_eq(start(&s, &m, log, sizeof(log), "",
                       "write_if_changed = yes"), 0);
    fd = h_connect(m.port);
    cr_assert_eq(h_write1(fd, 1, 20, 777, 3000), 0, "a new value: written");
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(h_write1(fd, 1, 20, 777, 3000), 0, "acknowledged");
    }
    cr_assert_eq(h_write1(fd, 1, 20, 778, 3000), 0, "changed: written");
    cr_assert_eq(h_read(fd, 1, 3, 20, 1, v, 3000), 0);
    cr_assert_eq(v[0], 778);
    close(fd);
    stop(&s, &m);
    cr_assert_eq(h_sim_count_fc(log, 6), 2, "only the two changes were "
                 "written");
    cr_assert(h_file_contains(m.p.err, "writes_skipped=5"));
}

Test(safety, min_write_interval_per_register)
{
    struct sim s;
    struct mux m;
    char log[512];
    uint64_t t0;
    int fd, rc;

    cr_assert_eq(start(&s, &m, log, sizeof(log), "",
                       "min_write_interval_ms = 400"), 0);
    fd = h_connect(m.port);
    t0 = h_now_ms();
    cr_assert_eq(h_write1(fd, 1, 30, 1, 3000), 0);
    cr_assert_eq(h_write1(fd, 1, 30, 2, 3000), 0x06, "too soon");
    cr_assert_eq(h_write1(fd, 1, 31, 2, 3000), 0, "another register");
    do {
        rc = h_write1(fd, 1, 30, 3, 3000);
    } while (rc == 0x06 && h_now_ms() < t0 + 3000);
    cr_assert_eq(rc, 0);
    cr_assert(h_now_ms() - t0 >= 400, "not before the interval");
    close(fd);
    stop(&s, &m);
    cr_assert_eq(h_sim_count_fc(log, 6), 3);
}

Test(safety, clients_outside_allow_never_get_a_byte)
{
    struct sim s;
    struct mux m;
    char log[512];
    uint16_t v[1];
    int ok, bad;

    cr_assert_eq(start(&s, &m, log, sizeof(log),
                       "allow = 127.0.0.1, 10.0.0.0/8", ""), 0);
    bad = h_connect_from(m.port, "127.0.0.3");
    cr_assert(bad >= 0);
    h_send_read(bad, 1, 1, 3, 0, 1);
    cr_assert_eq(bytes_until_closed(bad, 3000), 0, "closed, not a byte");
    ok = h_connect_from(m.port, "127.0.0.1");
    cr_assert_eq(h_read(ok, 1, 3, 0, 1, v, 3000), 0);
    close(bad);
    close(ok);
    stop(&s, &m);
    cr_assert_eq(h_sim_count_fc(log, 3), 1, "only the allowed client's read");
    cr_assert(h_file_contains(m.p.err, "clients_denied=1"));
}

Test(safety, read_only_clients_cannot_write_others_can)
{
    struct sim s;
    struct mux m;
    char log[512];
    uint16_t v[1];
    int dash, ctl;

    cr_assert_eq(start(&s, &m, log, sizeof(log),
                       "read_only_clients = 127.0.0.2/32", ""), 0);
    dash = h_connect_from(m.port, "127.0.0.2");
    ctl = h_connect_from(m.port, "127.0.0.1");
    cr_assert_eq(h_write1(dash, 1, 40, 9, 3000), 0x01, "the dashboard");
    cr_assert_eq(h_read(dash, 1, 3, 40, 1, v, 3000), 0, "may read");
    cr_assert_eq(h_write1(ctl, 1, 40, 9, 3000), 0, "the controller");
    close(dash);
    close(ctl);
    stop(&s, &m);
    cr_assert_eq(h_sim_count_fc(log, 6), 1);
}

/* Where the first write went out among all requests, -1 if none. */
static int
write_position(const char *log, int *total)
{
    FILE *lf = fopen(log, "r");
    char line[256];
    int pos = 0, fc, at = -1;

    if (lf == NULL) {
        return -1;
    }
    while (fgets(line, sizeof(line), lf) != NULL) {
        if (sscanf(line, "%*s %*d %*d %d", &fc) == 1) {
            if (fc == 6 && at < 0) {
                at = pos;
            }
            pos++;
        }
    }
    fclose(lf);
    *total = pos;
    return at;
}

/* Ten dashboards with three polls each queued; then the controller
 * writes. Round-robin alone would put the write ~11th. */
static int
write_behind_polls(const char *server_keys, int *total)
{
    struct sim s;
    struct mux m;
    char log[512], args[600];
    uint8_t f[300];
    int dash[10], ctl;

    snprintf(log, sizeof(log), "%s/prio-%d.log", h_dir(), (int)h_now_ms());
    snprintf(args, sizeof(args), "--units 1 --delay-ms 20 --log %s", log);
    cr_assert_eq(h_sim_start(&s, args), 0);
    cr_assert_eq(h_mux_start(&m, HEAD "%s\n" DEV "queue_depth = 100\n"
                 "[route]\n1 = dev\n", server_keys, s.port), 0);
    cr_assert(h_wait_file(m.p.err, "B:dev: connected", 5000, NULL, 0));
    for (int c = 0; c < 10; c++) {
        dash[c] = h_connect_from(m.port, "127.0.0.1");
        for (int i = 0; i < 3; i++) {
            h_send_read(dash[c], (uint16_t)i, 1, 3, (uint16_t)(c * 10 + i), 1);
        }
    }
    cr_assert(h_wait_file(m.p.err, "queued (29 waiting)", 3000, NULL, 0));
    ctl = h_connect_from(m.port, "127.0.0.2");
    cr_assert_eq(h_write1(ctl, 1, 50, 1, 5000), 0);
    for (int c = 0; c < 10; c++) {
        for (int i = 0; i < 3; i++) {
            cr_assert(h_recv_frame(dash[c], f, sizeof(f), 5000) > 0);
        }
        close(dash[c]);
    }
    close(ctl);
    stop(&s, &m);
    return write_position(log, total);
}

Test(safety, priority_writes_overtake_a_queue_of_polls)
{
    int total, plain = write_behind_polls("", &total);
    int prio = write_behind_polls("priority_clients = 127.0.0.2", &total);

    cr_assert_eq(total, 31);
    cr_assert(plain >= 8, "without priority, the write waits its turn "
              "(went out %d-th)", plain + 1);
    cr_assert(prio >= 0 && prio <= 2, "with priority, it went out %d-th of "
              "%d", prio + 1, total);
}

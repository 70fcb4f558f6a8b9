/* SPDX-License-Identifier: MIT */
/*
 * test_attack_policy.c -- the write rules under attack, seen at the device
 * (issue 10, items 3 and 4).
 *
 * Function codes the rules cannot judge (FC 8 restart and listen-only,
 * FC 21 write file record, user-defined codes) must never reach a backend
 * protected by read_only, read_only_clients, deny_write,
 * min_write_interval_ms or write_if_changed, unless allow_functions names
 * them; the other reads (FC 7, 8 return query data, 11, 12, 17, 20, 24,
 * 43/14) still do. deny_write and min_write_interval_ms judge the write
 * part of FC 23 and FC 22; write_if_changed judges FC 5, 15, 22 and 23.
 * A broadcast write (backend unit 0) invalidates the cache of every unit
 * and counts as a write to each of them.
 *
 * What reached the device is read from the simulator's request log
 * (tests/sim/README.md: "<t_us> <conn#> <unit> <fc> <addr> <count> ...").
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "sim_map.h"

#define HEAD "[server]\nlisten = 127.0.0.1:0\nlog_level = debug\n"
#define DEV  "[backend dev]\ntype = tcp\nhost = 127.0.0.1\nport = %d\n"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

TestSuite(attack_policy, .fini = h_cleanup, .timeout = 60);

/* Lines of the simulator's log for <unit> (-1: any) with function <fc>,
 * and (addr >= 0) that address. */
static int
sim_count(const char *log, int unit, int fc, int addr)
{
    FILE *f = fopen(log, "r");
    char line[256];
    int n = 0, u, got, a;

    if (f == NULL) {
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        int k = sscanf(line, "%*s %*d %d %d %d", &u, &got, &a);

        if (k >= 2 && got == fc && (unit < 0 || u == unit) &&
            (addr < 0 || (k == 3 && a == addr))) {
            n++;
        }
    }
    fclose(f);
    return n;
}

/* Start a simulator serving <units> and the proxy with [server] keys
 * <srv>, [backend dev] keys <be> and [route] <routes>. */
static void
start(struct sim *s, struct mux *m, char *log, size_t log_size,
      const char *units, const char *srv, const char *be, const char *routes)
{
    static int seq;
    char args[700];

    snprintf(log, log_size, "%s/policy-%d-%d.log", h_dir(), getpid(), seq++);
    snprintf(args, sizeof(args), "--units %s --log %s", units, log);
    cr_assert_eq(h_sim_start(s, args), 0);
    cr_assert_eq(h_mux_start(m, HEAD "%s\n" DEV "%s\n[route]\n%s\n", srv,
                             s->port, be, routes), 0);
    cr_assert(h_wait_file(m->p.err, "B:dev: connected", 5000, NULL, 0));
}

static void
stop(struct sim *s, struct mux *m)
{
    cr_assert_eq(h_mux_stop(m), 0);
    h_proc_stop(&s->p, SIGTERM, 5000);
}

/* Send request <pdu> (<len> bytes) to <unit>; the answer's PDU goes to
 * <rsp>. Returns its length, -1 on a broken or missing answer. */
static int
xfer(int fd, uint8_t unit, const uint8_t *pdu, size_t len, uint8_t *rsp,
     size_t size)
{
    static uint16_t tid = 0x4000;
    uint8_t q[300], f[300];
    int n;

    tid++;
    q[0] = (uint8_t)(tid >> 8);
    q[1] = (uint8_t)tid;
    q[2] = q[3] = 0;
    q[4] = (uint8_t)((len + 1) >> 8);
    q[5] = (uint8_t)(len + 1);
    q[6] = unit;
    memcpy(q + 7, pdu, len);
    if (h_send(fd, q, len + 7) != 0) {
        return -1;
    }
    n = h_recv_frame(fd, f, sizeof(f), 5000);
    if (n < 9 || (f[0] << 8 | f[1]) != tid || f[6] != unit ||
        (size_t)(n - 7) > size) {
        return -1;
    }
    memcpy(rsp, f + 7, (size_t)(n - 7));
    return n - 7;
}

/* The exception code the answer to <pdu> carries; 0 for a normal answer,
 * -1 for none. */
static int
exception_of(int fd, uint8_t unit, const uint8_t *pdu, size_t len)
{
    uint8_t rsp[260];
    int n = xfer(fd, unit, pdu, len, rsp, sizeof(rsp));

    if (n < 1) {
        return -1;
    }
    return rsp[0] == (pdu[0] | 0x80) && n == 2 ? rsp[1] : 0;
}

#define PDU(...) (const uint8_t[]){__VA_ARGS__}, \
                 sizeof((const uint8_t[]){__VA_ARGS__})

/* Requests that change the device and that no rule can judge. */
static const struct {
    const char   *what;
    uint8_t       pdu[16];
    size_t        len;
} unjudged[] = {
    {"FC 8/1 restart communications", {8, 0, 1, 0, 0}, 5},
    {"FC 8/4 force listen only mode", {8, 0, 4, 0, 0}, 5},
    {"FC 8/10 clear counters", {8, 0, 10, 0, 0}, 5},
    {"FC 21 write file record", {21, 9, 6, 0, 4, 0, 1, 0, 1, 0x12, 0x34}, 11},
    {"FC 65 user-defined", {65, 1, 2, 3}, 4},
    {"FC 100 user-defined", {100, 0xFF}, 2},
    {"FC 110 user-defined", {110}, 1},
    {"FC 43/13 CANopen general reference", {43, 13, 0, 0, 0, 0}, 6},
    {"FC 20 with a reference type other than 6", {20, 7, 7, 0, 4, 0, 1, 0,
                                                  1}, 9},
};

/* Every request of unjudged[] gets 0x01 from the proxy and never reaches
 * the device of a backend with <be> keys (or a client of <srv>'s
 * read_only_clients). */
static void
unjudged_refused(const char *srv, const char *be)
{
    struct sim s;
    struct mux m;
    char log[512];
    int fd;

    start(&s, &m, log, sizeof(log), "1", srv, be, "1 = dev");
    fd = h_connect(m.port);
    for (size_t i = 0; i < N_OF(unjudged); i++) {
        cr_expect_eq(exception_of(fd, 1, unjudged[i].pdu, unjudged[i].len),
                     0x01, "%s: %s is answered 0x01", be, unjudged[i].what);
    }
    close(fd);
    stop(&s, &m);
    for (size_t i = 0; i < N_OF(unjudged); i++) {
        cr_expect_eq(sim_count(log, -1, unjudged[i].pdu[0], -1), 0,
                     "[%s] %s: %s reached the device", srv, be,
                     unjudged[i].what);
    }
}

Test(attack_policy, deny_write_stops_what_it_cannot_judge)
{
    unjudged_refused("", "deny_write = 0x0640");
}

Test(attack_policy, min_write_interval_stops_what_it_cannot_judge)
{
    unjudged_refused("", "min_write_interval_ms = 1000");
}

Test(attack_policy, write_if_changed_stops_what_it_cannot_judge)
{
    unjudged_refused("", "write_if_changed = yes");
}

Test(attack_policy, read_only_stops_what_it_cannot_judge)
{
    unjudged_refused("", "read_only = yes");
    unjudged_refused("read_only_clients = 127.0.0.1", "");
}

/* Requests that only read: every rule lets them through. */
static const struct {
    const char   *what;
    uint8_t       pdu[16];
    size_t        len;
} reads[] = {
    {"FC 7 read exception status", {7}, 1},
    {"FC 8/0 return query data", {8, 0, 0, 0xA5, 0x37}, 5},
    {"FC 8/11 return bus message count", {8, 0, 11, 0, 0}, 5},
    {"FC 11 get comm event counter", {11}, 1},
    {"FC 12 get comm event log", {12}, 1},
    {"FC 17 report server id", {17}, 1},
    {"FC 20 read file record", {20, 7, 6, 0, 4, 0, 1, 0, 2}, 9},
    {"FC 24 read FIFO queue", {24, 0x04, 0xDE}, 3},
    {"FC 43/14 read device identification", {43, 14, 1, 0}, 4},
};

Test(attack_policy, reads_pass_every_rule)
{
    struct sim s;
    struct mux m;
    char log[512];
    int fd;

    start(&s, &m, log, sizeof(log), "1", "", "read_only = yes\n"
          "deny_write = 0-65535\nmin_write_interval_ms = 1000\n"
          "write_if_changed = yes", "1 = dev");
    fd = h_connect(m.port);
    for (size_t i = 0; i < N_OF(reads); i++) {
        /* The simulator (libmodbus) answers most of them 0x01 itself. */
        cr_expect_neq(exception_of(fd, 1, reads[i].pdu, reads[i].len), -1,
                      "%s answered", reads[i].what);
    }
    close(fd);
    stop(&s, &m);
    for (size_t i = 0; i < N_OF(reads); i++) {
        cr_expect_eq(sim_count(log, 1, reads[i].pdu[0], -1),
                     reads[i].pdu[0] == 8 ? 2 : 1,
                     "%s reached the device", reads[i].what);
    }
}

Test(attack_policy, allow_functions_lets_the_named_codes_through)
{
    struct sim s;
    struct mux m;
    char log[512];
    int fd;

    start(&s, &m, log, sizeof(log), "1", "",
          "deny_write = 0x0640\nallow_functions = 8, 0x64-101", "1 = dev");
    fd = h_connect(m.port);
    cr_assert_neq(exception_of(fd, 1, PDU(8, 0, 1, 0, 0)), -1);
    cr_assert_neq(exception_of(fd, 1, PDU(100, 0xFF)), -1);
    cr_assert_neq(exception_of(fd, 1, PDU(101)), -1);
    cr_assert_eq(exception_of(fd, 1, PDU(21, 9, 6, 0, 4, 0, 1, 0, 1, 0x12,
                                         0x34)), 0x01);
    cr_assert_eq(exception_of(fd, 1, PDU(102)), 0x01);
    close(fd);
    stop(&s, &m);
    cr_assert_eq(sim_count(log, 1, 8, -1), 1, "FC 8 is allowed");
    cr_assert_eq(sim_count(log, 1, 100, -1), 1, "FC 100 is allowed");
    cr_assert_eq(sim_count(log, 1, 101, -1), 1, "FC 101 is allowed");
    cr_assert_eq(sim_count(log, 1, 21, -1), 0, "FC 21 is not");
    cr_assert_eq(sim_count(log, 1, 102, -1), 0, "FC 102 is not");
    cr_assert(h_file_contains(m.p.err, "write refused (0x01): the write "
                              "rules cannot judge this function and "
                              "allow_functions does not name it (FC 21)"));
}

Test(attack_policy, no_rule_no_change)
{
    struct sim s;
    struct mux m;
    char log[512];
    int fd;

    start(&s, &m, log, sizeof(log), "1", "", "", "1 = dev");
    fd = h_connect(m.port);
    for (size_t i = 0; i < N_OF(unjudged); i++) {
        cr_expect_neq(exception_of(fd, 1, unjudged[i].pdu, unjudged[i].len),
                      -1);
    }
    close(fd);
    stop(&s, &m);
    cr_assert_eq(sim_count(log, 1, 21, -1), 1,
                 "an unprotected backend carries any function, as before");
}

/* FC 23: read <rn> registers at <ra>, write <wv> (one register) at <wa>. */
#define FC23(ra, rn, wa, wv) PDU(23, (ra) >> 8, (ra) & 0xFF, 0, (rn), \
                                 (wa) >> 8, (wa) & 0xFF, 0, 1, 2, \
                                 (wv) >> 8, (wv) & 0xFF)
/* FC 22 at <a>: and mask <and>, or mask <or>. */
#define FC22(a, and, or) PDU(22, (a) >> 8, (a) & 0xFF, (and) >> 8, \
                             (and) & 0xFF, (or) >> 8, (or) & 0xFF)

Test(attack_policy, deny_write_judges_the_write_part)
{
    struct sim s;
    struct mux m;
    char log[512];
    int fd;

    start(&s, &m, log, sizeof(log), "1", "", "deny_write = 100-109",
          "1 = dev");
    fd = h_connect(m.port);
    cr_assert_eq(exception_of(fd, 1, FC23(100, 5, 200, 7)), 0,
                 "reading a protected range is no write into it");
    cr_assert_eq(exception_of(fd, 1, FC23(200, 1, 105, 7)), 0x02);
    cr_assert_eq(exception_of(fd, 1, FC22(109, 0, 7)), 0x02);
    cr_assert_eq(exception_of(fd, 1, FC22(110, 0, 7)), 0);
    close(fd);
    stop(&s, &m);
    cr_assert_eq(sim_count(log, 1, 23, -1), 1);
    cr_assert_eq(sim_count(log, 1, 22, -1), 1);
}

Test(attack_policy, min_write_interval_judges_the_write_part)
{
    struct sim s;
    struct mux m;
    char log[512];
    uint16_t v[1];
    int fd;

    start(&s, &m, log, sizeof(log), "1", "", "min_write_interval_ms = 20000",
          "1 = dev");
    fd = h_connect(m.port);
    cr_assert_eq(exception_of(fd, 1, FC23(400, 2, 300, 7)), 0);
    cr_assert_eq(h_write1(fd, 1, 300, 8, 3000), 0x06, "300 was written");
    cr_assert_eq(h_write1(fd, 1, 400, 8, 3000), 0, "400 was only read");
    cr_assert_eq(h_write1(fd, 1, 350, 8, 3000), 0, "350 was untouched");
    cr_assert_eq(exception_of(fd, 1, FC22(500, 0, 1)), 0);
    cr_assert_eq(exception_of(fd, 1, FC22(500, 0, 2)), 0x06);
    cr_assert_eq(h_write1(fd, 1, 500, 3, 3000), 0x06);
    cr_assert_eq(exception_of(fd, 1, FC23(600, 1, 401, 1)), 0);
    cr_assert_eq(exception_of(fd, 1, FC23(600, 1, 400, 1)), 0x06);
    cr_assert_eq(h_read(fd, 1, 3, 500, 1, v, 3000), 0);
    cr_assert_eq(v[0], 1);
    close(fd);
    stop(&s, &m);
}

/* Read <n> coils of unit 1 from <a> through the proxy into <bits>. */
static void
coils(int fd, uint16_t a, uint16_t n, uint16_t *bits)
{
    cr_assert_eq(h_read(fd, 1, 1, a, n, bits, 3000), 0);
}

Test(attack_policy, write_if_changed_judges_coils_masks_and_fc23)
{
    struct sim s;
    struct mux m;
    char log[512];
    uint16_t b[10], v[2];
    uint8_t rsp[64];
    uint8_t on = sim_coil(1, 10) ? 0x00 : 0xFF;   /* the other value */
    int fd, n;

    start(&s, &m, log, sizeof(log), "1", "", "write_if_changed = yes",
          "1 = dev");
    fd = h_connect(m.port);
    /* FC 5: the second write of the same value stays home. */
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(exception_of(fd, 1, PDU(5, 0, 10, on, 0)), 0);
    }
    coils(fd, 10, 1, b);
    cr_assert_eq(b[0], on ? 1 : 0);
    /* FC 15: ten coils set to their complement, twice. */
    for (int i = 0; i < 2; i++) {
        uint8_t lo = 0, hi = 0;

        for (unsigned k = 0; k < 10; k++) {
            if (!sim_coil(1, 20 + k)) {
                *(k < 8 ? &lo : &hi) |= (uint8_t)(1u << (k % 8));
            }
        }
        /* Padding bits past the quantity must not count. */
        cr_assert_eq(exception_of(fd, 1, PDU(15, 0, 20, 0, 10, 2, lo,
                                             (uint8_t)(hi | (i ? 0xF0 : 0)))),
                     0);
    }
    coils(fd, 20, 10, b);
    for (unsigned k = 0; k < 10; k++) {
        cr_assert_eq(b[k], !sim_coil(1, 20 + k), "coil %u", 20 + k);
    }
    /* FC 22: set register 40 to 0x1234 with a mask write, twice; a mask
     * that changes nothing is never sent. */
    cr_assert_eq(exception_of(fd, 1, FC22(40, 0, 0x1234)), 0);
    cr_assert_eq(exception_of(fd, 1, FC22(40, 0, 0x1234)), 0);
    cr_assert_eq(exception_of(fd, 1, FC22(40, 0xFF00, 0x0034)), 0);
    cr_assert_eq(h_read(fd, 1, 3, 40, 1, v, 3000), 0);
    cr_assert_eq(v[0], 0x1234);
    /* FC 23: the same write twice; the second is a plain read of the
     * read part, answered as FC 23. */
    for (int i = 0; i < 2; i++) {
        n = xfer(fd, 1, FC23(60, 2, 50, 0x4321), rsp, sizeof(rsp));
        cr_assert_eq(n, 6, "FC 23 answer %d", i);
        cr_assert_eq(rsp[0], 23);
        cr_assert_eq(rsp[1], 4);
        cr_assert_eq(rsp[2] << 8 | rsp[3], sim_holding(1, 60));
        cr_assert_eq(rsp[4] << 8 | rsp[5], sim_holding(1, 61));
    }
    cr_assert_eq(h_read(fd, 1, 3, 50, 1, v, 3000), 0);
    cr_assert_eq(v[0], 0x4321);
    close(fd);
    stop(&s, &m);
    cr_assert_eq(sim_count(log, 1, 5, -1), 1, "FC 5 written once");
    cr_assert_eq(sim_count(log, 1, 15, -1), 1, "FC 15 written once");
    cr_assert_eq(sim_count(log, 1, 22, -1), 1, "FC 22 written once");
    cr_assert_eq(sim_count(log, 1, 23, -1), 1, "FC 23 written once");
    cr_assert(h_file_contains(m.p.err, "writes_skipped=6"));
}

/* --- item 4: broadcasts ------------------------------------------------- */

#define BCAST_ROUTES "1 = dev:1\n2 = dev:2\n100 = dev:0"

Test(attack_policy, a_broadcast_invalidates_every_units_cache)
{
    struct sim s;
    struct mux m;
    char log[512];
    uint16_t v[1];
    int fd;

    start(&s, &m, log, sizeof(log), "1,2", "", "cache_ttl_ms = 60000",
          BCAST_ROUTES);
    fd = h_connect(m.port);
    cr_assert_eq(h_read(fd, 1, 3, 70, 1, v, 3000), 0);
    cr_assert_eq(v[0], sim_holding(1, 70));
    cr_assert_eq(h_read(fd, 2, 3, 70, 1, v, 3000), 0);
    cr_assert_eq(h_write1(fd, 100, 70, 0x4242, 3000), 0, "broadcast");
    cr_assert_eq(h_read(fd, 1, 3, 70, 1, v, 3000), 0);
    cr_assert_eq(v[0], 0x4242, "unit 1 after the broadcast: 0x%04X", v[0]);
    cr_assert_eq(h_read(fd, 2, 3, 70, 1, v, 3000), 0);
    cr_assert_eq(v[0], 0x4242, "unit 2 after the broadcast: 0x%04X", v[0]);
    close(fd);
    stop(&s, &m);
    cr_assert_eq(h_sim_stat(&s, "broadcasts"), 1);
}

Test(attack_policy, a_read_answered_before_the_broadcast_leaves_no_old_value)
{
    struct sim s;
    struct mux m;
    char log[512];
    uint8_t f[300];
    uint16_t v[1];
    int fd, n;

    start(&s, &m, log, sizeof(log), "1,2 --delay-ms 100", "",
          "cache_ttl_ms = 60000", BCAST_ROUTES);
    fd = h_connect(m.port);
    /* The broadcast queues behind the read, which the device holds for
     * 100 ms: its old value reaches the cache after the broadcast was
     * submitted, before it is sent. */
    cr_assert_eq(h_send_read(fd, 1, 1, 3, 75, 1), 0);
    cr_assert_eq(h_send_write1(fd, 2, 100, 75, 0x4343), 0);
    /* Both answers, in any order (the broadcast is echoed once sent). */
    n = h_recv_frame(fd, f, sizeof(f), 5000);
    n += h_recv_frame(fd, f, sizeof(f), 5000);
    cr_assert_eq(n, 11 + 12);
    cr_assert_eq(h_read(fd, 1, 3, 75, 1, v, 3000), 0);
    cr_assert_eq(v[0], 0x4343, "unit 1 after the broadcast: 0x%04X", v[0]);
    close(fd);
    stop(&s, &m);
}

Test(attack_policy, a_broadcast_then_the_old_value_is_written)
{
    struct sim s;
    struct mux m;
    char log[512];
    uint16_t v[1];
    int fd;

    start(&s, &m, log, sizeof(log), "1,2", "",
          "cache_ttl_ms = 60000\nwrite_if_changed = yes", BCAST_ROUTES);
    fd = h_connect(m.port);
    cr_assert_eq(h_read(fd, 1, 3, 80, 1, v, 3000), 0);
    cr_assert_eq(h_write1(fd, 100, 80, 0x5555, 3000), 0, "broadcast");
    cr_assert_eq(h_write1(fd, 1, 80, sim_holding(1, 80), 3000), 0,
                 "the old value back");
    cr_assert_eq(h_read(fd, 1, 3, 80, 1, v, 3000), 0);
    cr_assert_eq(v[0], sim_holding(1, 80));
    close(fd);
    stop(&s, &m);
    cr_assert_eq(sim_count(log, 1, 6, 80), 1, "the write reached unit 1");
}

Test(attack_policy, a_broadcast_counts_as_a_write_to_every_unit)
{
    struct sim s;
    struct mux m;
    char log[512];
    int fd;

    start(&s, &m, log, sizeof(log), "1,2", "", "min_write_interval_ms = 20000",
          BCAST_ROUTES);
    fd = h_connect(m.port);
    cr_assert_eq(h_write1(fd, 100, 90, 1, 3000), 0, "broadcast");
    cr_assert_eq(h_write1(fd, 1, 90, 2, 3000), 0x06, "unit 1 was written");
    cr_assert_eq(h_write1(fd, 2, 90, 2, 3000), 0x06, "unit 2 was written");
    cr_assert_eq(h_write1(fd, 1, 91, 2, 3000), 0, "91 was not");
    cr_assert_eq(h_write1(fd, 100, 91, 3, 3000), 0x06,
                 "a broadcast writes unit 1's 91 too");
    cr_assert_eq(h_write1(fd, 100, 92, 3, 3000), 0);
    close(fd);
    stop(&s, &m);
    cr_assert_eq(sim_count(log, 0, 6, -1), 2, "two broadcasts sent");
    cr_assert_eq(sim_count(log, 1, 6, -1), 1);
    cr_assert_eq(sim_count(log, 2, 6, -1), 0);
}

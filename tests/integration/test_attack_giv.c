/* SPDX-License-Identifier: MIT */
/*
 * test_attack_giv.c -- GivEnergy attacks of issue 10 against the real
 * modbus-mux and the dongle simulator (tests/sim/giv_dongle): a
 * write_if_changed write whose pre-read the dongle refuses as a 60-register
 * block must write the registers the client named and no other (item 1),
 * and answers pushed for every device and base must not fill the memory:
 * only routed devices are cached, within a budget (item 9).
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "sim_map.h"

#define SRV "[server]\nlisten = 127.0.0.1:0\nlog_level = debug\n" \
            "request_timeout_ms = 8000\n"
#define GIV "[backend giv]\ntype = givenergy\nhost = 127.0.0.1\nport = %d\n" \
            "min_spacing_ms = 20\n"
#define DONGLE "--plain-image --delay-ms 20 --seed 7"
#define INV 0x11                  /* the inverter, routed as unit 1 */

TestSuite(attack_giv, .fini = h_cleanup, .timeout = 120);

/* Start the dongle with <sim_args> (its request log in <log>) and the proxy
 * with <keys> in the backend section and <routes>. */
static void
start(struct sim *s, struct mux *m, char *log, size_t log_size,
      const char *sim_args, const char *keys, const char *routes)
{
    static int seq;
    char args[512];

    snprintf(log, log_size, "%s/dongle-%d.log", h_dir(), seq++);
    snprintf(args, sizeof(args), DONGLE " --log %s %s", log, sim_args);
    cr_assert_eq(h_sim_start_bin(s, SIM_GIV, 0, args), 0);
    cr_assert_eq(h_mux_start(m, SRV GIV "%s\n[route]\n%s\n", s->port, keys,
                             routes), 0);
    cr_assert(h_wait_file(m->p.err, "B:giv: connected", 5000, NULL, 0));
}

static void
stop(struct sim *s, struct mux *m)
{
    cr_assert_eq(h_mux_stop(m), 0);
    h_proc_stop(&s->p, SIGTERM, 5000);
}

/* FC 6 writes the dongle received: all of them, or those of register
 * <reg> := <value> (<reg> < 0: any). Its log line is
 * "<t_us> <conn#> <device> <fc> <base> <count>", an fc 6 carrying the
 * register and the value. */
static int
dongle_writes(const char *log, int reg, int value)
{
    char want[64];

    if (reg < 0) {
        snprintf(want, sizeof(want), " %u 6 ", INV);
    } else {
        snprintf(want, sizeof(want), " %u 6 %d %d\n", INV, reg, value);
    }
    return h_count_lines(log, want);
}

/* FC 16 of <n> registers from <addr> to unit 1; returns the reply's length
 * (12 for the echo) and leaves it in <f>. */
static int
write_multiple(int fd, uint16_t addr, const uint16_t *vals, unsigned n,
               uint8_t *f, size_t f_size)
{
    uint8_t q[13 + 2 * 4] = {0, 42, 0, 0, 0, (uint8_t)(7 + 2 * n), 1, 16,
                             addr >> 8, addr & 0xFF, 0, (uint8_t)n,
                             (uint8_t)(2 * n)};

    cr_assert_leq(n, 4);
    for (unsigned i = 0; i < n; i++) {
        q[13 + 2 * i] = (uint8_t)(vals[i] >> 8);
        q[14 + 2 * i] = (uint8_t)vals[i];
    }
    cr_assert_eq(h_send(fd, q, 13 + 2 * n), 0);
    return h_recv_frame(fd, f, f_size, 10000);
}

/*
 * Item 1: the pre-read of register 1990 asks for the block 1980-2039,
 * which runs past the end of the simulated map (2000 registers): the
 * dongle answers with an error frame and the read continues with 1990
 * alone. The write that follows must write 1990, not 1991.
 */
Test(attack_giv, write_if_changed_after_a_refused_block_writes_its_register)
{
    struct sim s;
    struct mux m;
    char log[512];
    uint16_t val = 0x1234, v[2];
    uint8_t f[300];
    int fd;

    start(&s, &m, log, sizeof(log), "",
          "write_if_changed = yes\ncache_ttl_ms = 0", "1 = giv:0x11");
    fd = h_connect(m.port);
    cr_assert_eq(write_multiple(fd, 1990, &val, 1, f, sizeof(f)), 12,
                 "the write's echo");
    cr_assert_eq(f[7], 16);
    cr_assert_eq(dongle_writes(log, 1991, 0), 0,
                 "register 1991, which no client named, was written");
    cr_assert_eq(dongle_writes(log, 1990, 0x1234), 1, "1990 := 0x1234 once");
    cr_assert_eq(dongle_writes(log, -1, 0), 1, "one write in all");
    cr_assert_eq(h_read(fd, 1, 3, 1990, 2, v, 10000), 0);
    cr_assert_eq(v[0], 0x1234);
    cr_assert_eq(v[1], sim_holding(INV, 1991), "1991 untouched");
    close(fd);
    stop(&s, &m);
}

/* The same with split_writes and two registers: both are written, each
 * once, in order. */
Test(attack_giv, split_write_after_a_refused_block_writes_both_registers)
{
    struct sim s;
    struct mux m;
    char log[512];
    uint16_t vals[2] = {0x1111, 0x2222}, v[2];
    uint8_t f[300];
    int fd;

    start(&s, &m, log, sizeof(log), "",
          "write_if_changed = yes\nsplit_writes = yes\ncache_ttl_ms = 0",
          "1 = giv:0x11");
    fd = h_connect(m.port);
    cr_assert_eq(write_multiple(fd, 1990, vals, 2, f, sizeof(f)), 12);
    cr_assert_eq(f[7], 16);
    cr_assert_eq(dongle_writes(log, 1990, 0x1111), 1, "the first register");
    cr_assert_eq(dongle_writes(log, 1991, 0x2222), 1, "the second register");
    cr_assert_eq(dongle_writes(log, -1, 0), 2, "nothing else");
    cr_assert_eq(h_read(fd, 1, 3, 1990, 2, v, 10000), 0);
    cr_assert_eq(v[0], 0x1111);
    cr_assert_eq(v[1], 0x2222);
    close(fd);
    stop(&s, &m);
}

#define PUSHES 50000

/*
 * Item 9: the dongle pushes 50,000 answers nobody asked for: every device
 * address, both tables, bases all over the map (some 47,000 chunks of 64
 * registers, 30 MB, if all were kept). Only the 40 routed devices may be
 * cached, and they alone would take 7,360 chunks: past the budget, the
 * oldest go. The inverter's and the battery's last pushed blocks (one of
 * them at the inverter's alias 0x31) must still answer reads without the
 * dongle.
 */
Test(attack_giv, pushed_frames_for_every_device_stay_within_a_budget)
{
    struct sim s;
    struct mux m;
    char log[512], args[64];
    uint16_t v[60];
    long rss0, rss1, asked;
    int fd;

    h_asan_small_quarantine();
    snprintf(args, sizeof(args), "--push %d", PUSHES);
    start(&s, &m, log, sizeof(log), args, "cache_ttl_ms = 600000",
          "1 = giv:0x11\n2 = giv:0x32\n3-40 = giv:0x40-0x65");
    rss0 = h_proc_kb(m.p.pid, "VmRSS");
    cr_assert(h_wait_stat(s.stats, "pushed", PUSHES, 60000), "pushed: %ld",
              h_sim_stat(&s, "pushed"));
    fd = h_connect(m.port);
    /* A write always goes to the dongle: its echo comes after every pushed
     * frame, so once it is here the proxy has taken them all in. */
    cr_assert_eq(h_write1(fd, 1, 1999, sim_holding(INV, 1999), 20000), 0);
    rss1 = h_proc_kb(m.p.pid, "VmRSS");
    asked = h_sim_stat(&s, "requests");
    cr_assert_eq(h_read(fd, 1, 4, 0, 60, v, 10000), 0);
    cr_assert(h_check_regs(INV, 4, 0, 60, v));
    cr_assert_eq(h_read(fd, 1, 3, 0, 60, v, 10000), 0);
    cr_assert(h_check_regs(INV, 3, 0, 60, v), "pushed at the alias 0x31");
    cr_assert_eq(h_read(fd, 2, 4, 60, 60, v, 10000), 0);
    cr_assert(h_check_regs(0x32, 4, 60, 60, v));
    cr_assert_eq(h_sim_stat(&s, "requests"), asked,
                 "the routed devices' last pushed blocks came from the "
                 "cache (%ld requests more)", h_sim_stat(&s, "requests") -
                 asked);
    close(fd);
    stop(&s, &m);
    cr_log_info("RSS %ld kB -> %ld kB after %d pushed frames", rss0, rss1,
                PUSHES);
    cr_assert_lt(rss1 - rss0, 12 * 1024, "RSS grew %ld kB with %d pushed "
                 "frames", rss1 - rss0, PUSHES);
    cr_assert_gt(h_mux_backend_stat(&m, "giv", "fanout_unrouted"), 0);
    cr_assert_gt(h_mux_backend_stat(&m, "giv", "cache_evictions"), 0);
}

/* SPDX-License-Identifier: MIT */
/*
 * test_tigo.c -- the real modbus-mux's tigo backend in front of the Tigo
 * bus simulator (tests/sim/tigo_bus) on a pty: 20 optimizers behind two
 * TAPs, with 13-, 14- and 15-byte reports and the firmware 4 status word.
 * A Modbus client reads the header and every node block and gets exactly
 * the values the simulator last sent (its truth file); every write gets
 * 0x01, a read past the last slot 0x02; the bus stays silent from our
 * side (the simulator counts every byte written toward it); a restart of
 * the proxy, while the controller reboots and gives the optimizers new
 * node ids, keeps every panel in its slot (state_file).
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define NODES 20
#define INI "[server]\nlisten = 127.0.0.1:0\nlog_level = debug\n" \
            "[backend roof]\ntype = tigo\ndevice = %s\nstate_file = %s\n" \
            "[route]\n30 = roof:1\n"

TestSuite(tigo, .fini = h_cleanup, .timeout = 90);

/* What the truth file says of one node. */
struct truth {
    unsigned gw, node;
    char     lng[32], code[32];
    long     reports;
    unsigned vin, vout, iin, pin, duty, rssi;
    int      temp;
};

static int
read_truth(const char *path, struct truth *t, int max)
{
    char line[512];
    FILE *f = fopen(path, "r");
    int n = 0;

    if (f == NULL) {
        return 0;
    }
    while (n < max && fgets(line, sizeof(line), f) != NULL) {
        unsigned vr, vo, ir, tr, slot;
        struct truth *x = &t[n];

        if (sscanf(line, "node 0x%x %u %31s %31s %ld %u %u %u %u %u %u 0x%x "
                   "%u %u %u %d %u", &x->gw, &x->node, x->lng, x->code,
                   &x->reports, &vr, &vo, &ir, &tr, &x->duty, &x->rssi, &slot,
                   &x->vin, &x->vout, &x->iin, &x->temp, &x->pin) == 17) {
            n++;
        }
    }
    fclose(f);
    return n;
}

static bool
truth_held(const char *path)
{
    return h_file_contains(path, "held 1");
}

static void
start_bus(struct sim *s, char *link, size_t link_size, const char *truth,
          const char *extra)
{
    char buf[2048], *argv[40];
    int n = 0;

    snprintf(link, link_size, "%s/tigo-bus", h_dir());
    snprintf(s->stats, sizeof(s->stats), "%s/tigo-bus.stats", h_dir());
    snprintf(buf, sizeof(buf), "--link %s --stats %s --truth %s --gateways 2 "
             "--nodes %d --report-ms 400 --report-len mix --fw4 --cold 2 "
             "--renumber %s", link, s->stats, truth, NODES, extra);
    argv[n++] = SIM_TIGO;
    for (char *t = strtok(buf, " "); t != NULL && n < 39;
         t = strtok(NULL, " ")) {
        argv[n++] = t;
    }
    argv[n] = NULL;
    cr_assert_eq(h_proc_start(&s->p, "tigo", argv), 0);
    cr_assert(h_wait_file(s->p.out, "LINK ", 5000, NULL, 0));
}

/* Registers of the map through the proxy, in reads of 125 at most. */
static void
read_map(int fd, uint16_t addr, unsigned n, uint16_t *v)
{
    for (unsigned done = 0; done < n;) {
        unsigned k = n - done < 125 ? n - done : 125;

        cr_assert_eq(h_read(fd, 30, 4, (uint16_t)(addr + done), (uint16_t)k,
                            v + done, 5000), 0, "read %u+%u", addr + done, k);
        done += k;
    }
}

/* The slot whose block holds (gw, node), or -1. */
static int
slot_of(const uint16_t *blocks, unsigned slots, unsigned gw, unsigned node)
{
    for (unsigned s = 0; s < slots; s++) {
        const uint16_t *b = blocks + 16 * s;

        if ((b[0] & 1) && b[1] == gw && b[2] == node) {
            return (int)s;
        }
    }
    return -1;
}

static void
long_hex(const uint16_t *b, char *out)
{
    snprintf(out, 17, "%04X%04X%04X%04X", b[3], b[4], b[5], b[6]);
}

/* Wait until the map has every node reported, each with its long address
 * (<min_reports> reports at least), then hold the simulator's reports
 * and wait until what it sent has all arrived (its truth "held 1"). */
static void
settle(struct sim *s, const char *truth, int fd, uint16_t *hdr,
       unsigned min_reports)
{
    uint64_t end = h_now_ms() + 30000;
    int got = 0;

    while (h_now_ms() < end) {
        uint16_t blocks[16 * NODES];

        read_map(fd, 0x100, 16 * NODES, blocks);
        got = 0;
        for (unsigned i = 0; i < NODES; i++) {
            got += (blocks[16 * i] & 0x7) == 0x7 &&
                   blocks[16 * i + 15] >= min_reports;
        }
        if (got == NODES) {
            break;
        }
        h_sleep_ms(100);
    }
    cr_assert_eq(got, NODES, "%d nodes reported with long addresses", got);
    kill(s->p.pid, SIGUSR2);            /* hold the reports */
    while (h_now_ms() < end && !truth_held(truth)) {
        h_sleep_ms(50);
    }
    cr_assert(truth_held(truth), "the simulator never held");
    h_sleep_ms(300);                    /* the last bytes through the pty */
    read_map(fd, 0, 13, hdr);
}

Test(tigo, every_register_is_what_the_bus_said_and_slots_survive_a_restart)
{
    struct sim s;
    struct mux m;
    char link[512], truth[512], state[512], lng[20];
    struct truth t[NODES];
    uint16_t hdr[13], blocks[16 * NODES], v[17];
    char slot_long[NODES][20];
    int fd, n;

    snprintf(truth, sizeof(truth), "%s/tigo.truth", h_dir());
    snprintf(state, sizeof(state), "%s/roof.tigo", h_dir());
    start_bus(&s, link, sizeof(link), truth, "");
    cr_assert_eq(h_mux_start(&m, INI, link, state), 0);
    fd = h_connect(m.port);
    cr_assert_geq(fd, 0);
    settle(&s, truth, fd, hdr, 2);

    /* the header */
    cr_assert_eq(hdr[0], 1, "map version");
    cr_assert_eq(hdr[1], NODES, "nodes known");
    cr_assert_eq(hdr[2], NODES, "nodes online");
    cr_assert_lt(hdr[3], 5, "seconds since the last frame");
    cr_assert_gt((uint32_t)hdr[4] << 16 | hdr[5], 100, "frames");
    cr_assert_eq(hdr[12], 2, "gateways");

    /* every node block against the truth */
    read_map(fd, 0x100, 16 * NODES, blocks);
    n = read_truth(truth, t, NODES);
    cr_assert_eq(n, NODES, "%d nodes in the truth file", n);
    {
        uint32_t power = 0;

        for (int i = 0; i < n; i++) {
            int sl = slot_of(blocks, NODES, t[i].gw, t[i].node);
            const uint16_t *b;

            cr_assert_geq(sl, 0, "node 0x%04X/%u has no slot", t[i].gw,
                          t[i].node);
            b = blocks + 16 * sl;
            long_hex(b, lng);
            cr_assert_str_eq(lng, t[i].lng, "slot %d long address", sl);
            cr_assert_eq(b[0] & 0x7, 0x7, "slot %d flags 0x%x", sl, b[0]);
            cr_assert_eq(b[7], t[i].vin, "slot %d Vin", sl);
            cr_assert_eq(b[8], t[i].vout, "slot %d Vout", sl);
            cr_assert_eq(b[9], t[i].iin, "slot %d Iin", sl);
            cr_assert_eq(b[10], t[i].pin, "slot %d Pin", sl);
            cr_assert_eq((int16_t)b[11], t[i].temp, "slot %d temp", sl);
            cr_assert_eq(b[12], t[i].duty, "slot %d duty", sl);
            cr_assert_eq(b[13], t[i].rssi, "slot %d RSSI", sl);
            cr_assert_eq(b[15], (uint16_t)t[i].reports, "slot %d reports: %u "
                         "of %ld", sl, b[15], t[i].reports);
            power += b[10];
            snprintf(slot_long[sl], sizeof(slot_long[sl]), "%s", lng);
        }
        cr_assert_eq((uint32_t)hdr[10] << 16 | hdr[11], power,
                     "total power");
    }

    /* writes, and past the end */
    cr_assert_eq(h_write1(fd, 30, 0x100, 1, 5000), 0x01);
    cr_assert_eq(h_read(fd, 30, 4, 0x100 + 16 * 999, 17, v, 5000), 0x02);
    cr_assert_eq(h_read(fd, 30, 3, 0x100 + 16 * 999, 16, v, 5000), 0,
                 "FC 3 reads the same map");
    close(fd);

    /* the restart: the proxy stops (state_file written), the controller
     * reboots and renumbers the nodes, the proxy starts again */
    cr_assert_eq(h_mux_stop(&m), 0);
    cr_assert(h_file_contains(state, "# modbus-mux tigo state 1"));
    kill(s.p.pid, SIGUSR2);             /* reports again */
    kill(s.p.pid, SIGUSR1);             /* a CCA reboot: new node ids */
    cr_assert(h_wait_stat(s.stats, "reboots", 1, 5000));
    cr_assert_eq(h_mux_start(&m, INI, link, state), 0);
    fd = h_connect(m.port);
    settle(&s, truth, fd, hdr, 1);
    read_map(fd, 0x100, 16 * NODES, blocks);
    for (unsigned sl = 0; sl < NODES; sl++) {
        long_hex(blocks + 16 * sl, lng);
        cr_assert_str_eq(lng, slot_long[sl], "slot %u moved to another "
                         "panel", sl);
    }
    n = read_truth(truth, t, NODES);
    for (int i = 0; i < n; i++) {
        int sl = slot_of(blocks, NODES, t[i].gw, t[i].node);

        cr_assert_geq(sl, 0, "renumbered node 0x%04X/%u", t[i].gw,
                      t[i].node);
        cr_assert_str_eq(slot_long[sl], t[i].lng);
        cr_assert_eq(blocks[16 * sl + 7], t[i].vin);
    }
    cr_assert_eq(hdr[1], NODES, "no extra slot after the renumbering");
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    cr_assert_eq(h_proc_stop(&s.p, SIGTERM, 5000), 0);
    cr_assert_eq(h_sim_stat(&s, "bytes_written_to_us"), 0,
                 "the proxy wrote to the bus");
}

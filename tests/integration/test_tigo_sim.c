/* SPDX-License-Identifier: MIT */
/*
 * test_tigo_sim.c -- the Tigo bus simulator (tests/sim/tigo_bus) on its
 * own, no proxy: its encoder reproduces the vectors of docs/tigo.md
 * (--self-test); on a pty and on TCP, what a listener reads is frames with
 * good CRCs and valid escapes; on TCP with noise, collisions and
 * retransmissions, the power reports a listener decodes (duplicates
 * dropped) are exactly what the truth file says; and bytes written toward
 * the simulator are counted, which a receive-only listener keeps at 0.
 * The deframer here is a small one of the test's own, not the proxy's
 * codec (backends/tigo_frame.c), so that each checks the other.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define READ_MS 2000
#define MAX_SEEN 64             /* nodes a test follows */

TestSuite(tigo_sim, .fini = h_cleanup, .timeout = 30);

/* What a listener keeps of one node's power reports. */
struct seen {
    uint16_t gw, node;
    unsigned vin, vout, iin, temp, duty, rssi, slot;
    long reports;               /* distinct: retransmissions dropped */
};

/* The test's own deframer and decoder. */
struct rx {
    int state;                  /* 0 idle, 1 idle 7E, 2 body, 3 body 7E */
    uint8_t body[512];
    size_t len;
    bool raw_bad;               /* a byte that must be escaped came raw */
    long good, bad_crc, noise, raw_forbidden, aborted;
    struct seen seen[MAX_SEEN];
    int nseen;
};

static uint16_t
crc16(const uint8_t *p, size_t n)
{
    uint16_t crc = 0x8408;

    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++) {
            crc = crc & 1 ? (uint16_t)((crc >> 1) ^ 0x8408) : crc >> 1;
        }
    }
    return crc;
}

static struct seen *
seen_get(struct rx *r, uint16_t gw, uint16_t node)
{
    for (int i = 0; i < r->nseen; i++) {
        if (r->seen[i].gw == gw && r->seen[i].node == node) {
            return &r->seen[i];
        }
    }
    cr_assert_lt(r->nseen, MAX_SEEN);
    r->seen[r->nseen] = (struct seen){ .gw = gw, .node = node };
    return &r->seen[r->nseen++];
}

/* A power report of <node> on <gw>: a retransmission repeats the slot. */
static void
rx_power(struct rx *r, uint16_t gw, uint16_t node, const uint8_t *d)
{
    struct seen *s = seen_get(r, gw, node);
    unsigned slot = (unsigned)(d[10] << 8 | d[11]);

    if (s->reports > 0 && s->slot == slot) {
        return;
    }
    s->vin = (unsigned)(d[0] << 4 | d[1] >> 4);
    s->vout = (unsigned)((d[1] & 0xF) << 8 | d[2]);
    s->duty = d[3];
    s->iin = (unsigned)(d[4] << 4 | d[5] >> 4);
    s->temp = (unsigned)((d[5] & 0xF) << 8 | d[6]);
    s->slot = slot;
    s->rssi = d[12];
    s->reports++;
}

/* A receive response's payload: skip the fields bits 0-4 announce, the
 * slot counter, then walk the PV packets. */
static void
rx_response(struct rx *r, uint16_t gw, const uint8_t *p, size_t n)
{
    static const size_t field[5] = { 1, 1, 2, 2, 2 };
    unsigned st = (unsigned)(p[0] << 8 | p[1]);
    size_t i = 2;

    for (int b = 0; b < 5; b++) {
        i += st & (1u << b) ? (b == 4 ? 1 : 0) : field[b];
    }
    i += 2;
    while (i + 7 <= n) {
        size_t len = p[i + 6];

        cr_assert_leq(i + 7 + len, n, "PV packet runs past the frame");
        if (p[i] == 0x31) {
            cr_assert_geq(len, 13);
            rx_power(r, gw, (uint16_t)(p[i + 1] << 8 | p[i + 2]), p + i + 7);
        }
        i += 7 + len;
    }
    cr_assert_eq(i, n, "receive response not made of whole PV packets");
}

static void
rx_frame(struct rx *r)
{
    const uint8_t *b = r->body;

    if (r->len < 6 || crc16(b, r->len - 2) != (b[r->len - 2] |
                                               b[r->len - 1] << 8)) {
        r->bad_crc++;
        return;
    }
    r->good++;
    r->raw_forbidden += r->raw_bad;
    if ((b[0] & 0x80) && b[2] == 0x01 && b[3] == 0x49) {
        rx_response(r, (uint16_t)((b[0] << 8 | b[1]) & 0x7FFF), b + 4,
                    r->len - 6);
    }
}

static void
rx_feed(struct rx *r, const uint8_t *p, size_t n)
{
    static const uint8_t esc[7] = { 0x7E, 0x24, 0x23, 0x25,
                                    0xA4, 0xA3, 0xA5 };

    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];

        if (r->state == 0) {
            r->state = c == 0x7E ? 1 : 0;
            r->noise += c != 0x00 && c != 0xFF && c != 0x7E;
        } else if (r->state == 1) {
            r->state = c == 0x07 ? 2 : 0;
            r->noise += c == 0x07 ? 0 : 2;
            r->len = 0;
            r->raw_bad = false;
        } else if (r->state == 2 && c == 0x7E) {
            r->state = 3;
        } else if (r->state == 2) {
            r->raw_bad |= memchr(esc + 1, c, 6) != NULL;
            if (r->len < sizeof(r->body)) {
                r->body[r->len++] = c;
            }
        } else if (c <= 0x06) {
            if (r->len < sizeof(r->body)) {
                r->body[r->len++] = esc[c];
            }
            r->state = 2;
        } else {
            r->state = 0;
            if (c == 0x08) {
                rx_frame(r);
            } else {
                r->aborted++;
            }
        }
    }
}

/* Read <fd> for <ms> (-1: to end of file) into <r>. */
static void
read_bus(int fd, struct rx *r, int ms)
{
    uint64_t end = h_now_ms() + (uint64_t)(ms < 0 ? 10000 : ms);
    uint8_t buf[4096];

    while (h_now_ms() < end) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        ssize_t n;

        if (poll(&p, 1, 50) <= 0) {
            continue;
        }
        n = read(fd, buf, sizeof(buf));
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            continue;
        }
        if (n <= 0) {
            cr_assert(ms < 0, "the bus ended early");
            return;
        }
        rx_feed(r, buf, (size_t)n);
    }
    cr_assert(ms >= 0, "no end of file");
}

/* Start tigo_bus on a pty at a path of the scratch directory. */
static void
start_pty(struct sim *s, char *link, size_t link_size, const char *args)
{
    static int seq;
    char buf[1024], *argv[32];
    int n = 0;

    snprintf(link, link_size, "%s/tigo-%d", h_dir(), seq);
    snprintf(s->stats, sizeof(s->stats), "%s/tigo-%d.stats", h_dir(), seq++);
    snprintf(buf, sizeof(buf), "--link %s --stats %s %s", link, s->stats,
             args);
    argv[n++] = SIM_TIGO;
    for (char *t = strtok(buf, " "); t != NULL && n < 31;
         t = strtok(NULL, " ")) {
        argv[n++] = t;
    }
    argv[n] = NULL;
    cr_assert_eq(h_proc_start(&s->p, "tigo", argv), 0);
    cr_assert(h_wait_file(s->p.out, "LINK ", 5000, NULL, 0));
}

Test(tigo_sim, self_test_vectors)
{
    struct proc p;
    char *argv[] = { SIM_TIGO, "--self-test", NULL };

    cr_assert_eq(h_proc_start(&p, "tigo-self", argv), 0);
    cr_assert_eq(h_proc_stop(&p, 0, 5000), 0, "self-test failed: see %s",
                 p.out);
    cr_assert(h_file_contains(p.out, "PASS T5"));
    cr_assert(h_file_contains(p.out, "PASS T6"));
    cr_assert(h_file_contains(p.out, "PASS T20"));
    cr_assert(!h_file_contains(p.out, "FAIL"));
}

/* A listener on the pty for 2 s: frames with good CRCs, nothing else,
 * and nothing written toward the bus. */
Test(tigo_sim, pty_frames)
{
    struct sim s;
    struct rx r = { .state = 0 };
    char link[512];
    int fd;
    long frames;

    start_pty(&s, link, sizeof(link),
              "--gateways 2 --nodes 10 --report-ms 500 --report-len mix");
    fd = open(link, O_RDONLY | O_NOCTTY | O_NONBLOCK);
    cr_assert_geq(fd, 0);
    read_bus(fd, &r, READ_MS);
    close(fd);
    cr_assert_eq(h_proc_stop(&s.p, SIGTERM, 5000), 0);
    frames = h_sim_stat(&s, "frames");
    /* 25 polls a second per gateway: request and response each. */
    cr_assert_geq(r.good, 100, "%ld good frames", r.good);
    cr_assert_leq(r.good, frames);
    cr_assert_eq(r.bad_crc + r.noise + r.aborted + r.raw_forbidden, 0,
                 "crc %ld noise %ld aborted %ld raw %ld", r.bad_crc,
                 r.noise, r.aborted, r.raw_forbidden);
    cr_assert_geq(r.nseen, 10, "reports of %d nodes", r.nseen);
    cr_assert_gt(h_sim_stat(&s, "escapes"), 0);
    cr_assert_eq(h_sim_stat(&s, "bytes_written_to_us"), 0);
}

/* The truth file's node line for (<gw>, <node>) into <t>; false if none. */
static bool
truth_node(const char *path, struct seen *t)
{
    char line[512];
    FILE *f = fopen(path, "r");
    bool found = false;

    cr_assert_not_null(f);
    while (!found && fgets(line, sizeof(line), f) != NULL) {
        unsigned gw, node;
        char lng[32], code[32];

        found = sscanf(line, "node 0x%x %u %31s %31s %ld %u %u %u %u %u %u "
                       "0x%x", &gw, &node, lng, code, &t->reports, &t->vin,
                       &t->vout, &t->iin, &t->temp, &t->duty, &t->rssi,
                       &t->slot) == 12 && gw == t->gw && node == t->node;
    }
    fclose(f);
    return found;
}

static bool
same(const struct seen *a, const struct seen *b)
{
    return a->vin == b->vin && a->vout == b->vout && a->iin == b->iin &&
           a->temp == b->temp && a->duty == b->duty && a->rssi == b->rssi &&
           a->slot == b->slot && a->reports == b->reports;
}

/* On TCP with noise, collisions and retransmissions, from the first byte
 * (--start-on-connect) to the end: every garble and noise byte accounted
 * for, and each node's last report and report count as the truth says. */
Test(tigo_sim, tcp_truth)
{
    struct sim s;
    struct rx r = { .state = 0 };
    char args[1024], truth[512];
    int fd;

    snprintf(truth, sizeof(truth), "%s/tigo.truth", h_dir());
    snprintf(args, sizeof(args),
             "--start-on-connect --gateways 3 --nodes 12 --report-ms 200 "
             "--report-len mix --noise 10 --collide 10 --retransmit 10 "
             "--cold 2 --monitor-only 2 --fw4 --truth %s", truth);
    cr_assert_eq(h_sim_start_bin(&s, SIM_TIGO, 0, args), 0);
    fd = h_connect(s.port);
    cr_assert_geq(fd, 0);
    read_bus(fd, &r, READ_MS);
    kill(s.p.pid, SIGTERM);
    read_bus(fd, &r, -1);
    close(fd);
    cr_assert_eq(h_proc_stop(&s.p, SIGTERM, 5000), 0);
    cr_assert_eq(r.good, h_sim_stat(&s, "frames"));
    cr_assert_eq(r.bad_crc, h_sim_stat(&s, "collisions"));
    cr_assert_eq(r.noise, h_sim_stat(&s, "noise_bytes"));
    cr_assert_eq(r.aborted + r.raw_forbidden, 0);
    cr_assert_gt(h_sim_stat(&s, "retransmissions"), 0);
    cr_assert_eq(r.nseen, 12);
    for (int i = 0; i < r.nseen; i++) {
        struct seen t = { .gw = r.seen[i].gw, .node = r.seen[i].node };

        cr_assert(truth_node(truth, &t), "node %u missing", t.node);
        cr_assert(same(&t, &r.seen[i]),
                  "node %04x/%u: reports %ld/%ld vin %u/%u slot %x/%x",
                  t.gw, t.node, r.seen[i].reports, t.reports,
                  r.seen[i].vin, t.vin, r.seen[i].slot, t.slot);
    }
    cr_assert_eq(h_sim_stat(&s, "bytes_written_to_us"), 0);
    cr_assert_eq(h_sim_stat(&s, "connections"), 1);
}

/* Bytes written toward the bus are counted, on the pty and on TCP. */
Test(tigo_sim, writes_counted)
{
    struct sim s, t;
    char link[512];
    int fd;

    start_pty(&s, link, sizeof(link), "--nodes 2");
    fd = open(link, O_WRONLY | O_NOCTTY);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "abc", 3), 3);
    close(fd);
    cr_assert(h_wait_stat(s.stats, "bytes_written_to_us", 3, 5000));
    cr_assert_eq(h_proc_stop(&s.p, SIGTERM, 5000), 0);
    cr_assert_eq(h_sim_stat(&s, "bytes_written_to_us"), 3);

    cr_assert_eq(h_sim_start_bin(&t, SIM_TIGO, 0, "--nodes 2"), 0);
    fd = h_connect(t.port);
    cr_assert_geq(fd, 0);
    cr_assert_eq(send(fd, "hello", 5, MSG_NOSIGNAL), 5);
    cr_assert(h_wait_stat(t.stats, "bytes_written_to_us", 5, 5000));
    cr_assert(h_wait_stat(t.stats, "clients", 1, 5000));
    close(fd);
    cr_assert_eq(h_proc_stop(&t.p, SIGTERM, 5000), 0);
    cr_assert_eq(h_sim_stat(&t, "bytes_written_to_us"), 5);
}

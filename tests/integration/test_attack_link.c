/* SPDX-License-Identifier: MIT */
/*
 * test_attack_link.c -- devices that stop reading their socket, from issue
 * 10, against the real modbus-mux: a Modbus TCP device whose task hangs
 * (tests/sim/tcp_slave --stall-after) must neither grow the proxy's memory
 * nor, when it wakes up, receive the writes whose clients were already
 * told 0x0B (item 2); a GivEnergy dongle that floods heartbeats and never
 * reads the echoes (tests/sim/giv_dongle --flood-heartbeats) must cost a
 * dropped and reopened link, not gigabytes (item 8).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

TestSuite(attack_link, .fini = h_cleanup, .timeout = 120);

/* A client keeping up to WRITER_DEPTH writes outstanding, each FC 16 of
 * WRITER_REGS registers (213-byte frames: a few seconds of them are more
 * than the kernel buffers for a link), until told to stop; then it
 * collects the answers still owed. */
#define WRITER_DEPTH 100
#define WRITER_REGS 100

struct writer {
    int         port;
    unsigned    index;
    atomic_bool stop;
    unsigned    sent, ok, gw_target, other;
    pthread_t   th;
};

/* Reply frame <f>, counted. */
static void
writer_count(struct writer *w, const uint8_t *f)
{
    if (f[7] == 16) {
        w->ok++;
    } else if (f[7] == 0x90 && f[8] == 0x0B) {
        w->gw_target++;
    } else {
        w->other++;
    }
}

/* Send write number <k> of <w> on <fd>: its own registers, its number as
 * the values. Returns 0 or -1. */
static int
writer_send(struct writer *w, int fd, unsigned k)
{
    uint8_t q[13 + 2 * WRITER_REGS];
    uint16_t addr = (uint16_t)(w->index * 16000 + k % 150 * WRITER_REGS);

    q[0] = (uint8_t)(k >> 8);
    q[1] = (uint8_t)k;
    q[2] = q[3] = 0;
    q[4] = 0;
    q[5] = 7 + 2 * WRITER_REGS;
    q[6] = 1;
    q[7] = 16;
    q[8] = (uint8_t)(addr >> 8);
    q[9] = (uint8_t)addr;
    q[10] = 0;
    q[11] = WRITER_REGS;
    q[12] = 2 * WRITER_REGS;
    for (unsigned i = 0; i < WRITER_REGS; i++) {
        q[13 + 2 * i] = (uint8_t)(k >> 8);
        q[14 + 2 * i] = (uint8_t)k;
    }
    return h_send(fd, q, sizeof(q));
}

static void *
writer_run(void *arg)
{
    struct writer *w = arg;
    int fd = h_connect(w->port);
    uint8_t f[300];
    uint64_t end;
    int n;

    if (fd < 0) {
        return NULL;
    }
    while (!atomic_load(&w->stop)) {
        while (w->sent - (w->ok + w->gw_target + w->other) < WRITER_DEPTH) {
            if (writer_send(w, fd, w->sent) != 0) {
                close(fd);
                return NULL;
            }
            w->sent++;
        }
        n = h_recv_frame(fd, f, sizeof(f), 200);
        if (n == -2) {
            break;
        }
        if (n >= 9) {
            writer_count(w, f);
        }
    }
    /* every write still out gets its answer within request_timeout_ms */
    end = h_now_ms() + 10000;
    while (w->ok + w->gw_target + w->other < w->sent && h_now_ms() < end) {
        n = h_recv_frame(fd, f, sizeof(f), 1000);
        if (n == -2) {
            break;
        }
        if (n >= 9) {
            writer_count(w, f);
        }
    }
    close(fd);
    return NULL;
}

#define WRITERS 4
#define RSS_LIMIT_KB (16 * 1024)     /* growth that fails the test */

/*
 * Item 2: the device answers three requests, then its task hangs: it no
 * longer reads that connection (a small receive buffer, as on a device,
 * fills at once). Four clients keep 100 writes each outstanding; every
 * attempt times out after 20 ms. Without a limit the proxy queued what the
 * kernel would not take, for ever, and when the device woke up it received
 * all of those writes, already answered 0x0B. Now the link is reset at the
 * first timeout that finds bytes still unsent, and the writes go on over a
 * new connection.
 */
Test(attack_link, a_device_that_stops_reading_gets_no_stale_writes)
{
    struct writer w[WRITERS];
    struct sim s;
    struct mux m;
    long rss0, rss, peak = 0, late;
    unsigned gw = 0, ok = 0, other = 0, sent = 0;
    uint64_t end;

    h_asan_small_quarantine();
    cr_assert_eq(h_sim_start(&s, "--stall-after 3 --rcvbuf 4096"), 0);
    cr_assert_eq(h_mux_start(&m, "[server]\nlisten = 127.0.0.1:0\n"
                             "request_timeout_ms = 2000\n"
                             "[backend dev]\ntype = tcp\nhost = 127.0.0.1\n"
                             "port = %d\nmin_spacing_ms = 0\ntimeout_ms = 20\n"
                             "retries = 0\nmax_inflight = 256\n"
                             "queue_depth = 1024\n[route]\n1 = dev\n",
                             s.port), 0);
    cr_assert(h_wait_file(m.p.err, "B:dev: connected", 5000, NULL, 0));
    rss0 = h_proc_kb(m.p.pid, "VmRSS");
    for (unsigned i = 0; i < WRITERS; i++) {
        w[i] = (struct writer){.port = m.port, .index = i};
        pthread_create(&w[i].th, NULL, writer_run, &w[i]);
    }
    /* 4 s of it, or less if the memory runs away */
    end = h_now_ms() + 4000;
    while (h_now_ms() < end && peak - rss0 < RSS_LIMIT_KB) {
        rss = h_proc_kb(m.p.pid, "VmRSS");
        peak = rss > peak ? rss : peak;
        h_sleep_ms(50);
    }
    for (unsigned i = 0; i < WRITERS; i++) {
        atomic_store(&w[i].stop, true);
    }
    for (unsigned i = 0; i < WRITERS; i++) {
        pthread_join(w[i].th, NULL);
        sent += w[i].sent;
        ok += w[i].ok;
        gw += w[i].gw_target;
        other += w[i].other;
    }
    cr_log_info("RSS %ld kB -> peak %ld kB; %u writes: %u ok, %u 0x0B, "
                "%u other", rss0, peak, sent, ok, gw, other);
    cr_assert_eq(h_sim_stat(&s, "stalled"), 1, "the device stalled");
    cr_assert_eq(ok + gw + other, sent, "every write was answered");
    cr_assert_gt(gw, 0, "writes timed out on the stalled link");
    /* Every client has its answer: the device wakes up. What waited in its
     * own socket buffer its TCP had taken before the timeouts; anything
     * that arrives after that was still held by the proxy. */
    kill(s.p.pid, SIGUSR2);
    cr_assert(h_wait_stat(s.stats, "backlog_done", 1, 10000),
              "the device read what waited for it");
    /* and then whatever still comes, until 500 ms pass without any */
    end = h_now_ms() + 30000;
    late = h_sim_stat(&s, "late_requests");
    while (h_wait_stat(s.stats, "late_requests", late + 1, 500) &&
           h_now_ms() < end) {
        late = h_sim_stat(&s, "late_requests");
    }
    cr_log_info("backlog %ld bytes, %ld writes arrived after it",
                h_sim_stat(&s, "backlog_bytes"), late);
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
    cr_assert_eq(late, 0, "%ld writes answered 0x0B reached the device after "
                 "it woke up", late);
    cr_assert_lt(peak - rss0, 8 * 1024, "RSS grew %ld kB", peak - rss0);
    cr_assert_gt(ok, 3, "the writes went on over a new connection");
    cr_assert(h_file_contains(m.p.err, "not yet taken by the device"));
}

/*
 * Item 8: a dongle sends heartbeats as fast as its socket takes them and
 * never reads the echoes. The link must be dropped once a few KiB wait,
 * logged and counted, and reopened (after the back-off: 0.5 s, 1 s, ...).
 */
Test(attack_link, a_heartbeat_flood_drops_the_link_not_the_memory)
{
    struct sim s;
    struct mux m;
    long rss0, rss, peak = 0;
    uint64_t end;

    h_asan_small_quarantine();
    cr_assert_eq(h_sim_start_bin(&s, SIM_GIV, 0,
                                 "--plain-image --flood-heartbeats"), 0);
    cr_assert_eq(h_mux_start(&m, "[server]\nlisten = 127.0.0.1:0\n"
                             "[backend giv]\ntype = givenergy\n"
                             "host = 127.0.0.1\nport = %d\n"
                             "[route]\n1 = giv:0x11\n", s.port), 0);
    rss0 = h_proc_kb(m.p.pid, "VmRSS");
    end = h_now_ms() + 15000;
    while (h_now_ms() < end && peak - rss0 < RSS_LIMIT_KB &&
           h_sim_stat(&s, "connections") < 3) {
        rss = h_proc_kb(m.p.pid, "VmRSS");
        peak = rss > peak ? rss : peak;
        h_sleep_ms(20);
    }
    cr_log_info("RSS %ld kB -> peak %ld kB; %ld heartbeat bytes flooded, "
                "%ld connections", rss0, peak,
                h_sim_stat(&s, "flood_bytes"), h_sim_stat(&s, "connections"));
    cr_assert_lt(peak - rss0, RSS_LIMIT_KB, "RSS grew %ld kB", peak - rss0);
    cr_assert_geq(h_sim_stat(&s, "connections"), 3,
                  "dropped and reopened, twice");
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
    cr_assert(h_count_lines(m.p.err, "B:giv: connection lost: the device "
                            "does not read") >= 2);
    cr_assert_geq(h_mux_backend_stat(&m, "giv", "link_overflows"), 2);
}

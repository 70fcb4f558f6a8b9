/* SPDX-License-Identifier: MIT */
/*
 * test_givenergy.c -- the real modbus-mux in front of the GivEnergy dongle
 * simulator (tests/sim/giv_dongle): plain Modbus reads of any range served
 * from 60-register blocks, heartbeats answered for a minute under load,
 * the cache keeping reads within the TTL off the dongle, the cloud's
 * fanned-out polls turning reads into hits, writes, corrupted frames that
 * never reach a client, and the dongle rebooting.
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
#define GIV "[backend giv]\ntype = givenergy\nhost = 127.0.0.1\nport = %d\n" \
            "min_spacing_ms = 20\n"
#define ROUTES "[route]\n1 = giv:0x11\n2 = giv:0x32\n"
#define DONGLE "--plain-image --delay-ms 20 --heartbeat-ms 2000 --seed 7"

TestSuite(givenergy, .fini = h_cleanup, .timeout = 120);

static int
start(struct sim *s, struct mux *m, const char *sim_args,
      const char *extra_keys)
{
    char args[512];

    snprintf(args, sizeof(args), DONGLE " %s", sim_args ? sim_args : "");
    if (h_sim_start_bin(s, SIM_GIV, 0, args) != 0) {
        return -1;
    }
    if (h_mux_start(m, SRV GIV "%s\n" ROUTES, 8000, s->port,
                    extra_keys ? extra_keys : "") != 0) {
        return -1;
    }
    return h_wait_file(m->p.err, "B:giv: connected", 5000, NULL, 0) ? 0 : -1;
}

static void
stop(struct sim *s, struct mux *m)
{
    cr_assert_eq(h_mux_stop(m), 0);
    h_proc_stop(&s->p, SIGTERM, 5000);
}

/* Read <n> registers through the proxy and check them by formula. */
static bool
read_ok(int fd, uint8_t unit, uint8_t fc, uint16_t addr, uint16_t n)
{
    uint16_t v[125];
    uint8_t dev = unit == 1 ? 0x11 : 0x32;

    return h_read(fd, unit, fc, addr, n, v, 10000) == 0 &&
           h_check_regs(dev, fc, addr, n, v);
}

struct reader {
    int      port;
    int      index;
    unsigned good, bad;
};

/* Assorted ranges: aligned, unaligned, across block boundaries, 1..125. */
static void *
reader_run(void *arg)
{
    static const struct {
        uint16_t addr, n;
    } ranges[] = {
        {0, 60}, {60, 60}, {0, 1}, {59, 2}, {100, 125}, {7, 33},
        {119, 1}, {170, 40}, {300, 125}, {1900, 99}, {61, 58}, {240, 60},
    };
    struct reader *r = arg;
    int fd = h_connect(r->port);

    for (size_t i = 0; i < (sizeof(ranges) / sizeof(ranges[0])); i++) {
        size_t k = (i + (size_t)r->index) % (sizeof(ranges) / sizeof(ranges[0]));
        uint8_t fc = (i + (size_t)r->index) % 2 ? 4 : 3;

        if (fd >= 0 && read_ok(fd, 1, fc, ranges[k].addr, ranges[k].n)) {
            r->good++;
        } else {
            r->bad++;
        }
    }
    close(fd);
    return NULL;
}

Test(givenergy, twenty_clients_read_assorted_ranges)
{
    struct sim s;
    struct mux m;
    pthread_t th[20];
    struct reader r[20];
    unsigned good = 0, bad = 0;

    cr_assert_eq(start(&s, &m, NULL, NULL), 0);
    for (int i = 0; i < 20; i++) {
        r[i] = (struct reader){.port = m.port, .index = i};
        pthread_create(&th[i], NULL, reader_run, &r[i]);
    }
    for (int i = 0; i < 20; i++) {
        pthread_join(th[i], NULL);
        good += r[i].good;
        bad += r[i].bad;
    }
    cr_assert_eq(bad, 0, "%u wrong or failed of %u", bad, good + bad);
    /* 2 tables x the blocks the ranges touch, each fetched once within
     * the 5 s TTL, not once per client */
    cr_assert(h_sim_stat(&s, "requests") <= 40, "%ld dongle requests",
              h_sim_stat(&s, "requests"));
    stop(&s, &m);
}

Test(givenergy, reads_within_the_ttl_never_reach_the_dongle)
{
    struct sim s;
    struct mux m;
    long before;
    int fd;

    cr_assert_eq(start(&s, &m, NULL, "cache_ttl_ms = 60000"), 0);
    fd = h_connect(m.port);
    cr_assert(read_ok(fd, 1, 4, 0, 60));
    before = h_sim_stat(&s, "requests");
    cr_assert_eq(before, 1);
    for (int i = 0; i < 50; i++) {
        cr_assert(read_ok(fd, 1, 4, (uint16_t)(i % 50), 10));
    }
    cr_assert_eq(h_sim_stat(&s, "requests"), before, "all from the cache");
    close(fd);
    stop(&s, &m);
    cr_assert(h_file_contains(m.p.err, "cache_hits=50"));
}

Test(givenergy, the_clouds_polls_fill_the_cache)
{
    struct sim s;
    struct mux m;
    uint64_t end;
    int fd;

    /* The simulated cloud polls IR(0,60)@0x11, HR(0,60)@0x11 and
     * IR(60,60)@0x32 every 300 ms; the dongle copies the answers to us. */
    cr_assert_eq(start(&s, &m, "--cloud-ms 300", "cache_ttl_ms = 60000"), 0);
    end = h_now_ms() + 5000;
    while (h_sim_stat(&s, "responses") < 3 && h_now_ms() < end) {
        usleep(20000);          /* the three banks polled and answered */
    }
    cr_assert(h_sim_stat(&s, "responses") >= 3);
    fd = h_connect(m.port);
    cr_assert(read_ok(fd, 1, 4, 10, 20));
    cr_assert(read_ok(fd, 1, 3, 0, 60));
    cr_assert(read_ok(fd, 2, 4, 60, 60));
    cr_assert_eq(h_sim_stat(&s, "requests"), 0, "we never asked the dongle");
    close(fd);
    stop(&s, &m);
}

Test(givenergy, writes_go_once_invalidate_and_read_back)
{
    struct sim s;
    struct mux m;
    uint16_t v[2];
    uint8_t multi[17] = {0, 9, 0, 0, 0, 11, 1, 16, 0, 20, 0, 2, 4,
                         0, 1, 0, 2};
    uint8_t f[300];
    int fd;

    cr_assert_eq(start(&s, &m, NULL, "cache_ttl_ms = 60000"), 0);
    fd = h_connect(m.port);
    cr_assert(read_ok(fd, 1, 3, 0, 60));                 /* cached */
    cr_assert_eq(h_write1(fd, 1, 20, 4321, 5000), 0);
    cr_assert_eq(h_sim_stat(&s, "writes"), 1);
    cr_assert_eq(h_read(fd, 1, 3, 20, 1, v, 5000), 0);
    cr_assert_eq(v[0], 4321, "read back after the write, not the cache");
    /* FC 16 of two registers: refused without split_writes */
    cr_assert_eq(h_send(fd, multi, sizeof(multi)), 0);
    cr_assert_eq(h_recv_frame(fd, f, sizeof(f), 5000), 9);
    cr_assert_eq(f[7], 0x90);
    cr_assert_eq(f[8], 0x01);
    cr_assert_eq(h_sim_stat(&s, "writes"), 1, "nothing written");
    close(fd);
    stop(&s, &m);
}

Test(givenergy, split_writes_and_error_frames)
{
    struct sim s;
    struct mux m;
    uint16_t v[2];
    uint8_t multi[17] = {0, 9, 0, 0, 0, 11, 1, 16, 0, 30, 0, 2, 4,
                         0x12, 0x34, 0x56, 0x78};
    uint8_t f[300];
    int fd;

    cr_assert_eq(start(&s, &m, NULL, "split_writes = yes"), 0);
    fd = h_connect(m.port);
    cr_assert_eq(h_send(fd, multi, sizeof(multi)), 0);
    cr_assert_eq(h_recv_frame(fd, f, sizeof(f), 5000), 12);
    cr_assert_eq(f[7], 16);
    cr_assert_eq(h_sim_stat(&s, "writes"), 2, "one by one");
    cr_assert_eq(h_read(fd, 1, 3, 30, 2, v, 5000), 0);
    cr_assert_eq(v[0], 0x1234);
    cr_assert_eq(v[1], 0x5678);
    cr_assert_eq(h_read(fd, 1, 3, 2100, 1, v, 5000), 0x02,
                 "an error frame becomes 0x02");
    cr_assert_eq(h_read(fd, 1, 1, 0, 8, v, 5000), 0x01, "no coils here");
    close(fd);
    stop(&s, &m);
}

Test(givenergy, corrupted_frames_never_reach_a_client)
{
    struct sim s;
    struct mux m;
    unsigned good = 0;
    int fd, rc;
    uint16_t v[60];

    cr_assert_eq(start(&s, &m, "--corrupt-zero-tail 20 --corrupt-crc 20 "
                       "--corrupt-splice 10 --null-every 200 "
                       "--lan-config-ms 300 --substitute 50",
                       "cache_ttl_ms = 0\nretries = 3\ntimeout_ms = 500"), 0);
    fd = h_connect(m.port);
    for (int i = 0; i < 30; i++) {
        rc = h_read(fd, 2, 4, 0, 60, v, 10000);
        cr_assert(rc == 0 || rc == 0x0B, "read %d: %d", i, rc);
        if (rc == 0) {
            cr_assert(h_check_regs(0x32, 4, 0, 60, v), "wrong values, read %d",
                      i);
            good++;
        }
    }
    cr_assert(good >= 15, "only %u of 30 reads got through", good);
    cr_assert(h_sim_stat(&s, "corrupted") > 0);
    close(fd);
    stop(&s, &m);
    cr_assert(!h_file_contains(m.p.err, "guard_drops=0 "));
}

Test(givenergy, the_dongle_rebooting_is_survived)
{
    struct sim s;
    struct mux m;
    uint64_t end;
    int fd;
    bool ok = false;

    cr_assert_eq(start(&s, &m, "--reboot-ms 1000", "cache_ttl_ms = 0"), 0);
    fd = h_connect(m.port);
    cr_assert(read_ok(fd, 1, 4, 0, 10));
    kill(s.p.pid, SIGUSR1);
    cr_assert(h_wait_file(m.p.err, "B:giv: connection lost", 5000, NULL, 0));
    end = h_now_ms() + 20000;
    while (!ok && h_now_ms() < end) {
        ok = read_ok(fd, 1, 4, 0, 10);
    }
    cr_assert(ok, "reads work again without a restart");
    close(fd);
    stop(&s, &m);
}

struct hammer {
    int      port;
    uint64_t until_ms;
    unsigned good, bad;
};

static void *
hammer_run(void *arg)
{
    struct hammer *h = arg;
    int fd = h_connect(h->port);

    while (h_now_ms() < h->until_ms) {
        if (fd >= 0 && read_ok(fd, 1, 4, 0, 60)) {
            h->good++;
        } else {
            h->bad++;
        }
    }
    close(fd);
    return NULL;
}

Test(givenergy, heartbeats_answered_for_a_minute_of_load, .timeout = 150)
{
    struct sim s;
    struct mux m;
    pthread_t th[10];
    struct hammer h[10];
    unsigned good = 0, bad = 0;

    cr_assert_eq(start(&s, &m, NULL, "cache_ttl_ms = 0"), 0);
    for (int i = 0; i < 10; i++) {
        h[i] = (struct hammer){.port = m.port,
                               .until_ms = h_now_ms() + 60000};
        pthread_create(&th[i], NULL, hammer_run, &h[i]);
    }
    for (int i = 0; i < 10; i++) {
        pthread_join(th[i], NULL);
        good += h[i].good;
        bad += h[i].bad;
    }
    cr_assert_eq(bad, 0);
    cr_assert(good > 100, "%u reads", good);
    cr_assert(h_sim_stat(&s, "heartbeats_sent") >= 25);
    /* the last one may be on its way as the run ends */
    cr_assert(h_sim_stat(&s, "heartbeats_answered") >=
              h_sim_stat(&s, "heartbeats_sent") - 1);
    cr_assert(h_sim_stat(&s, "heartbeat_max_reply_ms") < 5000);
    cr_assert_eq(h_sim_stat(&s, "heartbeat_drops"), 0);
    cr_assert_eq(h_sim_stat(&s, "connections"), 1, "the link never dropped");
    stop(&s, &m);
}

Test(givenergy, a_silent_dongle_gives_0x0B_and_keepalive_keeps_it_busy)
{
    struct sim s;
    struct mux m;
    uint16_t v[1];
    uint64_t t0, end;
    int fd;

    /* Every request is lost: a read costs 2 attempts of 300 ms and the
     * retry delay, then 0x0B. With nobody asking, keepalive_ms still sends
     * something every 400 ms or so. */
    cr_assert_eq(start(&s, &m, "--lose 100", "timeout_ms = 300\nretries = 1\n"
                       "keepalive_ms = 400\ncache_ttl_ms = 0"), 0);
    fd = h_connect(m.port);
    t0 = h_now_ms();
    cr_assert_eq(h_read(fd, 1, 4, 0, 10, v, 10000), 0x0B);
    cr_assert(h_now_ms() - t0 >= 600, "two attempts");
    end = h_now_ms() + 5000;
    while (h_sim_stat(&s, "requests") < 5 && h_now_ms() < end) {
        usleep(50000);
    }
    cr_assert(h_sim_stat(&s, "requests") >= 5, "keepalive reads: %ld",
              h_sim_stat(&s, "requests") - 2);
    close(fd);
    stop(&s, &m);
    cr_assert(h_file_contains(m.p.err, "keepalive read sent"));
}

/* SPDX-License-Identifier: MIT */
/*
 * test_giv_listener.c -- the real modbus-mux's GivEnergy listener
 * ([listener] type = givenergy) in front of the dongle simulator
 * (tests/sim/giv_dongle), driven by the GivEnergy client simulator
 * (tests/sim/giv_client, GivTCP's habits: banks refreshed in rounds,
 * requests 0.25 s apart with several in flight, answers matched by
 * shape) and by Modbus TCP clients at once:
 * - three GivEnergy clients and five Modbus clients: every answer right
 *   (values, serials, CRC), one connection at the dongle, no bank read
 *   from it twice within the cache TTL, the cloud's polls copied to every
 *   GivEnergy client;
 * - an absent device gets silence, once asked and then at once;
 * - a write reaches the dongle once, is read back by its writer and seen
 *   by the other clients;
 * - a write refused by the write rules gets the dongle's error frame and
 *   never reaches the dongle;
 * - a client that vanishes mid-request leaves nothing behind;
 * - bytes that are no frame close that one connection.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define ADAPTER  "WG2303G286"
#define INVERTER "EA2303G286"
#define TTL_MS   4000

#define DONGLE "--delay-ms 20 --heartbeat-ms 1000 --cloud-ms 700 --seed 5"
#define CLIENT "--interval-ms 1000 --gap-ms 250 --timeout-ms 3000 " \
               "--expect-adapter " ADAPTER " --expect-inverter " INVERTER

/* The proxy: the Modbus listener routes units 1 and 2 to the inverter and
 * the battery; the GivEnergy listener gives its clients the dongle's
 * addresses. */
#define INI "[server]\nlisten = 127.0.0.1:0\nlog_level = debug\n" \
            "request_timeout_ms = 8000\n%s\n" \
            "[backend giv]\ntype = givenergy\nhost = 127.0.0.1\n" \
            "port = %d\nmin_spacing_ms = 20\ncache_ttl_ms = %d\n%s\n" \
            "[listener dongle]\ntype = givenergy\n" \
            "listen = 127.0.0.1:%d\nbackend = giv\n%s\n" \
            "[route]\n1 = giv:0x11\n2 = giv:0x32\n"

TestSuite(giv_listener, .fini = h_cleanup, .timeout = 120);

/* A giv_client run: the harness starts it and reads its stats. */
static void
client_start(struct h_giv_client *c, int port, const char *args)
{
    cr_assert_eq(h_giv_client_start(c, port, args, true), 0,
                 "giv_client did not start");
}

static int
client_wait(struct h_giv_client *c)
{
    return h_proc_stop(&c->p, 0, 60000);
}

static long
kv(const struct h_giv_client *c, const char *key)
{
    return h_kv(c->stats, key);
}

/* Nothing wrong in what <c> received, everything it asked answered. */
static void
assert_clean(const struct h_giv_client *c, const char *who)
{
    char why[96];

    cr_assert(h_giv_client_clean(c, why, sizeof(why)), "%s: %s", who, why);
}

struct setup {
    struct sim s;
    struct mux m;
    int        gport;          /* the GivEnergy listener */
    char       log[512];       /* the dongle's request log */
};

/* The dongle simulator (with <dongle> options) and the proxy with
 * <server>, <backend> and <listener> keys added to their sections. */
static void
setup(struct setup *t, const char *dongle, const char *server,
      const char *backend, const char *listener)
{
    static int seq;
    char args[1024];

    snprintf(t->log, sizeof(t->log), "%s/dongle-%d.log", h_dir(), seq++);
    snprintf(args, sizeof(args), DONGLE " --log %s %s", t->log, dongle);
    cr_assert_eq(h_sim_start_bin(&t->s, SIM_GIV, 0, args), 0);
    t->gport = h_free_port();
    cr_assert_eq(h_mux_start(&t->m, INI, server, t->s.port, TTL_MS, backend,
                             t->gport, listener), 0);
    cr_assert(h_wait_file(t->m.p.err, "B:giv: connected", 5000, NULL, 0));
    cr_assert(h_wait_file(t->m.p.err, "listener dongle: givenergy, "
                          "listening", 5000, NULL, 0));
}

static void
teardown(struct setup *t)
{
    cr_assert_eq(h_mux_stop(&t->m), 0);
    h_proc_stop(&t->s.p, SIGTERM, 5000);
}

/* --- the dongle's request log -------------------------------------------- */

struct logged {
    long long t_us;
    unsigned dev, fc, base, count;
};

static int
read_log(const char *path, struct logged *v, int max)
{
    FILE *f = fopen(path, "r");
    unsigned long conn;
    int n = 0;

    while (f != NULL && n < max &&
           fscanf(f, "%lld %lu %u %u %u %u", &v[n].t_us, &conn, &v[n].dev,
                  &v[n].fc, &v[n].base, &v[n].count) == 6) {
        n++;
    }
    if (f != NULL) {
        fclose(f);
    }
    return n;
}

/* The shortest time between two reads of one bank, in ms (a large value
 * if no bank was read twice). */
static long long
min_bank_gap_ms(const struct logged *v, int n)
{
    long long best = 1000000;

    for (int i = 0; i < n; i++) {
        for (int j = i + 1; j < n; j++) {
            if (v[i].fc != 6 && v[i].dev == v[j].dev && v[i].fc == v[j].fc &&
                v[i].base == v[j].base) {
                long long gap = (v[j].t_us - v[i].t_us) / 1000;

                best = gap < best ? gap : best;
                break;          /* the next read of it; later ones too */
            }
        }
    }
    return best;
}

/* --- Modbus clients ------------------------------------------------------ */

struct mreader {
    int      port;
    int      index;
    unsigned good, bad;
};

/* A Modbus client reading the inverter's banks for 8 s, values checked
 * against the dongle's image. */
static void *
mreader_run(void *arg)
{
    static const struct {
        uint8_t  fc;
        uint16_t addr, n;
    } reads[] = {
        {4, 0, 60}, {3, 0, 60}, {3, 60, 60}, {4, 10, 4}, {3, 120, 60},
        {4, 180, 60},
    };
    struct mreader *r = arg;
    int fd = h_connect(r->port);
    uint64_t end = h_now_ms() + 8000;
    uint16_t v[125];

    for (unsigned i = (unsigned)r->index; h_now_ms() < end; i++) {
        unsigned k = i % (sizeof(reads) / sizeof(reads[0]));

        if (fd >= 0 &&
            h_read(fd, 1, reads[k].fc, reads[k].addr, reads[k].n, v,
                   8000) == 0 &&
            h_check_regs(0x11, reads[k].fc, reads[k].addr, reads[k].n, v)) {
            r->good++;
        } else {
            r->bad++;
        }
        h_sleep_ms(200);
    }
    close(fd);
    return NULL;
}

/* --- the tests ----------------------------------------------------------- */

Test(giv_listener, three_givenergy_and_five_modbus_clients_share_one_dongle)
{
    struct setup t;
    struct h_giv_client g[3];
    pthread_t th[5];
    struct mreader r[5];
    struct logged v[2000];
    unsigned good = 0, bad = 0;
    int n;

    setup(&t, "--plain-image", "", "", "");
    for (int i = 0; i < 3; i++) {
        client_start(&g[i], t.gport, CLIENT " --plain-image --duration-s 8 "
                     "--banks 11:4:0:60,11:4:180:60,11:3:0:60,11:3:60:60,"
                     "11:3:120:60,32:4:60:60");
    }
    for (int i = 0; i < 5; i++) {
        r[i] = (struct mreader){.port = t.m.port, .index = i};
        pthread_create(&th[i], NULL, mreader_run, &r[i]);
    }
    for (int i = 0; i < 5; i++) {
        pthread_join(th[i], NULL);
        good += r[i].good;
        bad += r[i].bad;
    }
    for (int i = 0; i < 3; i++) {
        char who[16];

        snprintf(who, sizeof(who), "giv client %d", i);
        cr_assert_eq(client_wait(&g[i]), 0, "%s exited badly", who);
        assert_clean(&g[i], who);
        /* 8 s of rounds of 6 banks, 0.25 s apart */
        cr_assert_geq(kv(&g[i], "sent"), 18, "%s sent %ld", who,
                      kv(&g[i], "sent"));
        cr_assert_gt(kv(&g[i], "fanout"), 0, "%s: no cloud poll copied",
                     who);
    }
    cr_assert_eq(bad, 0, "Modbus clients: %u wrong or failed of %u", bad,
                 good + bad);
    cr_assert_gt(good, 50);
    cr_assert_eq(h_sim_stat(&t.s, "connections"), 1,
                 "the dongle saw %ld connections",
                 h_sim_stat(&t.s, "connections"));
    n = read_log(t.log, v, 2000);
    cr_assert_gt(n, 0);
    /* Each bank: read again only once the cached copy is older than the
     * TTL (the time it arrived, give or take the 20 ms the dongle takes
     * and the pacing of the queue), never per client. */
    cr_assert_geq(min_bank_gap_ms(v, n), TTL_MS - 300,
                  "a bank read twice within %lld ms", min_bank_gap_ms(v, n));
    /* 6 GivEnergy banks + 1 more for Modbus in 8 s, TTL 4 s: about 3
     * reads each at most, not 3 clients x 8 rounds */
    cr_assert_leq(n, 7 * 4, "%d dongle requests", n);
    teardown(&t);
}

Test(giv_listener, an_absent_device_gets_silence)
{
    struct setup t;
    struct h_giv_client c;
    uint64_t t0;

    setup(&t, "", "", "timeout_ms = 800\n", "");
    /* 0x11 answers first (the backend then knows the dongle works); 0x40
     * never does: the first probe waits for timeout_ms, the second not */
    client_start(&c, t.gport, CLIENT " --rounds 2 --timeout-ms 2500 "
                 "--banks 11:4:0:60,40:3:0:60,40:4:0:60");
    t0 = h_now_ms();
    cr_assert_eq(client_wait(&c), 0);
    cr_assert_eq(kv(&c, "sent"), 6);
    cr_assert_eq(kv(&c, "answered"), 2, "0x11 twice");
    cr_assert_eq(kv(&c, "timeouts"), 4, "silence for 0x40, every time");
    cr_assert_eq(kv(&c, "errors"), 0, "no error frame invented");
    cr_assert_eq(kv(&c, "foreign_error"), 0);
    cr_assert_eq(kv(&c, "mismatches"), 0);
    cr_assert(h_now_ms() - t0 < 30000);
    /* the dongle was asked once for 0x40, no retry, not again */
    cr_assert_eq(h_count_lines(t.log, " 64 3 0 60") +
                     h_count_lines(t.log, " 64 4 0 60"), 1,
                 "0x40 asked %d times", h_count_lines(t.log, " 64 3 0 60") +
                     h_count_lines(t.log, " 64 4 0 60"));
    cr_assert(h_file_contains(t.m.p.err, "device 0x40 does not answer"));
    teardown(&t);
}

Test(giv_listener, a_write_reaches_the_dongle_once_and_every_client_sees_it)
{
    struct setup t;
    struct h_giv_client a, b;
    uint16_t val;
    int fd;

    setup(&t, "--plain-image", "", "", "");
    client_start(&b, t.gport, CLIENT " --plain-image --rounds 4 "
                 "--banks 11:3:0:60");
    client_start(&a, t.gport, CLIENT " --plain-image --rounds 3 "
                 "--banks 11:3:0:60 --write 11:20:77 --read-back");
    cr_assert_eq(client_wait(&a), 0);
    cr_assert_eq(client_wait(&b), 0);
    assert_clean(&a, "writer");
    assert_clean(&b, "reader");
    cr_assert_eq(kv(&a, "write_ok"), 1);
    cr_assert_eq(kv(&a, "readback_ok"), 1);
    cr_assert_eq(kv(&a, "foreign_echo"), 0, "its own echo, once");
    /* the other GivEnergy client got the echo (fan-out) and, with its
     * image updated, no mismatch in its later reads */
    cr_assert_eq(kv(&b, "foreign_echo"), 1);
    cr_assert_eq(h_sim_stat(&t.s, "writes"), 1);
    /* a Modbus client reads it back too */
    fd = h_connect(t.m.port);
    cr_assert_eq(h_read(fd, 1, 3, 20, 1, &val, 8000), 0);
    cr_assert_eq(val, 77);
    close(fd);
    teardown(&t);
}

Test(giv_listener, a_write_the_rules_refuse_gets_the_dongles_error_frame)
{
    struct setup t;
    struct h_giv_client c;

    setup(&t, "--plain-image", "", "deny_write = 20\n", "");
    client_start(&c, t.gport, CLIENT " --plain-image --rounds 2 "
                 "--banks 11:3:0:60 --write 11:20:5 --write 11:21:6");
    cr_assert_eq(client_wait(&c), 0);
    cr_assert_eq(kv(&c, "write_error"), 1, "HR 20 refused with a frame");
    cr_assert_eq(kv(&c, "write_ok"), 1, "HR 21 written");
    cr_assert_eq(kv(&c, "write_timeout"), 0);
    cr_assert_eq(kv(&c, "mismatches"), 0);
    cr_assert_eq(h_sim_stat(&t.s, "writes"), 1, "only HR 21 at the dongle");
    cr_assert_eq(h_count_lines(t.log, " 17 6 20 "), 0);
    teardown(&t);
}

Test(giv_listener, a_client_that_vanishes_leaves_nothing_behind)
{
    struct setup t;
    struct h_giv_client gone, c;
    char why[160];

    setup(&t, "--plain-image --delay-ms 400", "", "", "");
    client_start(&gone, t.gport, "--vanish-after 4 --gap-ms 0 "
                 "--banks 11:4:0:60,11:4:180:60,11:3:0:60,11:3:60:60");
    cr_assert_eq(client_wait(&gone), 0);
    cr_assert_eq(kv(&gone, "pending"), 4, "gone before its answers");
    /* the others are served as if nothing happened */
    client_start(&c, t.gport, CLIENT " --plain-image --rounds 2 "
                 "--banks 11:4:0:60,11:3:60:60");
    cr_assert_eq(client_wait(&c), 0);
    assert_clean(&c, "the next client");
    cr_assert_eq(h_mux_stop(&t.m), 0);
    /* every request of the vanished client ended: answered or dropped
     * (the ASan build checks that nothing leaked) */
    cr_assert(h_mux_counters_balance(&t.m, why, sizeof(why)), "%s", why);
    cr_assert_gt(h_mux_stat(&t.m, "replies_dropped"), 0);
    h_proc_stop(&t.s.p, SIGTERM, 5000);
}

Test(giv_listener, bytes_that_are_no_frame_close_that_connection_only)
{
    struct setup t;
    struct h_giv_client c;
    int fd;
    static const char junk[] = "GET / HTTP/1.0\r\n\r\n";

    setup(&t, "--plain-image", "", "", "");
    client_start(&c, t.gport, CLIENT " --plain-image --rounds 3 "
                 "--banks 11:4:0:60");
    fd = h_connect(t.gport);
    cr_assert_geq(fd, 0);
    cr_assert_eq(h_send(fd, (const uint8_t *)junk, sizeof(junk) - 1), 0);
    cr_assert(h_wait_closed(fd, 5000), "the junk connection stays open");
    close(fd);
    cr_assert(h_wait_file(t.m.p.err, "not a GivEnergy frame", 5000, NULL,
                          0));
    cr_assert_eq(client_wait(&c), 0);
    assert_clean(&c, "the other client");
    teardown(&t);
}

/* A connection to the listener at <port> that reads next to nothing: its
 * receive buffer is as small as the kernel allows. */
static int
connect_small(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0), rcv = 1024;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv,
                             sizeof(rcv)) != 0 ||
        connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        return -1;
    }
    return fd;
}

/* The value of the first sample of <name> in /metrics page <page>. */
static long
metric(const char *page, const char *name)
{
    const char *p = page;

    while ((p = strstr(p, name)) != NULL) {
        if (p == page || p[-1] == '\n') {
            const char *sp = strchr(p, ' ');

            return sp != NULL ? strtol(sp + 1, NULL, 10) : -1;
        }
        p += strlen(name);
    }
    return -1;
}

/*
 * A GivEnergy client that never reads, while the dongle sends 30,000
 * frames nobody asked for (each copied to every client): what waits for it
 * stays bounded (64 KiB; the rest is dropped and counted), the proxy's
 * memory does not grow with the frames, and a client that reads gets
 * every copy the dongle sent meanwhile.
 */
Test(giv_listener, a_client_that_never_reads_leaves_memory_bounded)
{
    static char page[65536];
    struct sim s;
    struct mux m;
    struct h_giv_client c;
    int dport = h_free_port(), gport = h_free_port(), hport, fd;
    long rss0, rss1;

    h_asan_small_quarantine();
    /* the proxy first, the dongle not there yet: the clients connect
     * before it pushes anything */
    cr_assert_eq(h_mux_start(&m, INI, "http_listen = 127.0.0.1:0", dport,
                             TTL_MS, "", gport, ""), 0);
    hport = h_mux_http_port(&m, 5000);
    cr_assert_gt(hport, 0);
    fd = connect_small(gport);
    cr_assert_geq(fd, 0);
    client_start(&c, gport, "--banks none --duration-s 60 --no-check");
    rss0 = h_proc_kb(m.p.pid, "VmRSS");
    cr_assert_eq(h_sim_start_bin(&s, SIM_GIV, dport, "--plain-image "
                                 "--push 30000 --heartbeat-ms 60000"), 0);
    cr_assert(h_wait_stat(s.stats, "pushed", 30000, 60000), "pushed: %ld",
              h_sim_stat(&s, "pushed"));
    /* the reading client has them all */
    {
        uint64_t end = h_now_ms() + 20000;

        while (h_now_ms() < end && h_kv(c.stats, "fanout") < 30000) {
            kill(c.p.pid, SIGUSR1);     /* write the stats */
            h_sleep_ms(200);
        }
    }
    rss1 = h_proc_kb(m.p.pid, "VmRSS");
    cr_assert_geq(h_http_get(hport, "/metrics", page, sizeof(page)), 0);
    cr_assert_gt(metric(page, "modbus_mux_listener_send_dropped_total"
                        "{listener=\"dongle\""), 0,
                 "nothing dropped for the client that does not read");
    kill(c.p.pid, SIGTERM);
    cr_assert_eq(client_wait(&c), 0);
    cr_assert_geq(h_kv(c.stats, "fanout"), 30000, "the reading client got "
                  "%ld of 30000", h_kv(c.stats, "fanout"));
    cr_assert_eq(h_kv(c.stats, "mismatches"), 0);
    cr_log_info("RSS %ld kB -> %ld kB after 30000 frames fanned out",
                rss0, rss1);
    cr_assert_lt(rss1 - rss0, 8 * 1024, "RSS grew %ld kB", rss1 - rss0);
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

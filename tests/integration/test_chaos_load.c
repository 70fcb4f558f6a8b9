/* SPDX-License-Identifier: MIT */
/*
 * test_chaos_load.c -- the load half of the fault tests (test_chaos.c has
 * the devices): 1000 garbage connections and 100 slowloris clients while
 * well-behaved clients poll (their latency within 2x of a calm run), 50
 * clients leaving with requests queued and on the wire, and reloads every
 * 200 ms under polling clients. In each: every reply checked against the
 * request that asked, no connection dropped that should not be, a clean
 * exit (no crash, no leak under ASan) and counters that balance.
 */
/*
 * test_chaos.c -- the real modbus-mux under faults, each provoked at the
 * simulator or by a misbehaving client: a TCP device SIGKILLed while a
 * write is on the wire and reads are queued, then restarted on its port; a
 * GivEnergy dongle frozen (SIGSTOP) mid-request then thawed, one that
 * loses every third request, and two that answer only garbage (bad CRC,
 * zero-filled tails) while the cloud's fanned-out polls try to fill the
 * cache; an RS485 bus that vanishes while a write is on the wire; a TCP
 * device that accepts and reads but never answers, next to backends that
 * keep being served; a thousand connections sending bad MBAP headers and
 * a hundred slowloris clients while five well-behaved clients poll, their
 * latency compared with a calm run; fifty clients leaving with requests
 * queued and on the wire; ten reloads under load.
 *
 * In every test: every reply a client gets is checked (its transaction id,
 * its unit, and the register values sim_map.h gives for that very
 * request), nobody waits past the deadline, the proxy exits 0 on SIGTERM
 * (so no crash, and no leak under ASan), and its counters balance: every
 * request it counted was answered, or its answer dropped because the
 * client had gone. Pacing and speed belong to tests/bench; the latency
 * comparison here is relative (attacked vs calm, same proxy, same run).
 *
 * Four of these found bugs, since fixed: a serial bus replaced by a
 * reload although its section only moved, a replaced bus handing a late
 * answer to the new bus's first request, and serial devices (local or
 * behind a serial server) whose late answer was taken for the next
 * request.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
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

#include "chaos.h"
#include "harness.h"
#include "sim_map.h"

TestSuite(chaos_load, .fini = h_cleanup, .timeout = 60);

/* --- 5. garbage and slowloris while good clients poll ---------------------- */

#define N_GARBAGE 1000
#define N_SLOW    100
#define N_GOOD    5
#define LAT_CAP   20000

enum phase { CALM, ATTACK, AFTER, DONE };

/* A well-behaved client: one read every 10 ms, each checked; the latency
 * of those that began and ended in one phase is kept for that phase. */
struct good {
    int         port, index;
    atomic_int *phase;
    uint32_t    lat[2][LAT_CAP];   /* µs, CALM and ATTACK */
    unsigned    n[2];              /* samples in lat[] */
    atomic_uint polls;
    unsigned    bad;               /* answers that were not right */
    char        why[128];          /* the last of them */
};

static void *
good_run(void *arg)
{
    struct good *g = arg;
    int fd = h_connect(g->port), ph;
    uint64_t next = h_now_us();
    uint16_t tid = 0;

    while ((ph = atomic_load(g->phase)) != DONE) {
        struct h_expect e = {.tid = ++tid, .unit = 1, .fc = 3, .dev = 1,
                             .addr = (uint16_t)(g->index * 100 + tid % 50),
                             .count = 4};
        uint64_t t0 = h_now_us(), dt;
        int rc = fd < 0 ? -1 : h_send_expected(fd, &e, 1);

        if (rc == 0) {
            rc = h_recv_expected(fd, &e, 1, 5000, g->why, sizeof(g->why));
        }
        dt = h_now_us() - t0;
        if (rc != 0) {
            g->bad++;
            if (rc < 0) {
                break;
            }
        } else if (ph < AFTER && atomic_load(g->phase) == ph &&
                   g->n[ph] < LAT_CAP) {
            g->lat[ph][g->n[ph]++] = (uint32_t)dt;
        }
        atomic_fetch_add(&g->polls, 1);
        next += 10000;
        t0 = h_now_us();
        if (next > t0) {
            usleep((useconds_t)(next - t0));
        } else {
            next = t0;
        }
    }
    close(fd);
    return NULL;
}

/* Slowloris clients trickling a valid request, one byte a second to
 * each, while the attack lasts. */
struct trickle {
    int        *fd;
    int         n;
    atomic_int *phase;
    unsigned    bytes;         /* sent to each */
};

static void *
trickle_run(void *arg)
{
    static const uint8_t frame[12] = {0, 1, 0, 0, 0, 6, 1, 3, 0, 0, 0, 1};
    struct trickle *t = arg;
    uint64_t next = h_now_ms();

    while (atomic_load(t->phase) == ATTACK) {
        if (h_now_ms() >= next && t->bytes < sizeof(frame)) {
            for (int i = 0; i < t->n; i++) {
                send(t->fd[i], &frame[t->bytes], 1, MSG_NOSIGNAL);
            }
            t->bytes++;
            next += 1000;
        }
        h_sleep_ms(10);
    }
    return NULL;
}

/* xorshift32: the same garbage in every run. */
static uint32_t
rnd(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* Garbage number <i> into <b> (80 bytes at least): random bytes with a bad
 * protocol id, an MBAP length too short or too long, or a good read
 * followed by a bad header. Returns its length. */
static size_t
garbage(int i, uint8_t *b, uint32_t *seed)
{
    static const uint8_t good_read[12] = {0, 9, 0, 0, 0, 6, 1, 3, 0, 5, 0, 1};
    size_t n = 7 + rnd(seed) % 58, at = 0;

    for (size_t k = 0; k < n + 12; k++) {
        b[k] = (uint8_t)rnd(seed);
    }
    switch (i % 4) {
    case 0:                                 /* random, bad protocol id */
        b[2] |= 0x01;
        break;
    case 1:                                 /* length 0 or 1 */
        b[2] = b[3] = b[4] = 0;
        b[5] = (uint8_t)(i % 2);
        break;
    case 2:                                 /* length 255..65535 */
        b[2] = b[3] = 0;
        b[4] = (uint8_t)(1 + rnd(seed) % 255);
        break;
    default:                                /* a good read, then garbage */
        memcpy(b, good_read, sizeof(good_read));
        at = sizeof(good_read);
        b[at + 3] |= 0x80;
        break;
    }
    return at + n;
}

/* Send its garbage on each of the <n> connections <fd>, then wait until
 * the proxy has closed every one. Returns how many are still open; the
 * bytes that came back (answers to the good reads) go to <*answered>. */
static int
send_garbage_and_wait_closed(const int *fd, int n, int *answered)
{
    struct pollfd *pf = calloc((size_t)n, sizeof(*pf));
    uint32_t seed = 2463534242u;
    uint64_t end = h_now_ms() + 15000;
    int open = n;

    cr_assert_not_null(pf);
    for (int i = 0; i < n; i++) {
        uint8_t b[128];

        cr_assert_eq(h_send(fd[i], b, garbage(i, b, &seed)), 0);
        pf[i] = (struct pollfd){.fd = fd[i], .events = POLLIN};
    }
    while (open > 0 && h_now_ms() < end) {
        if (poll(pf, (nfds_t)n, 50) <= 0) {
            continue;
        }
        for (int i = 0; i < n; i++) {
            uint8_t b[512];
            ssize_t r;

            if (pf[i].fd < 0 || pf[i].revents == 0) {
                continue;
            }
            r = recv(pf[i].fd, b, sizeof(b), MSG_DONTWAIT);
            if (r > 0) {
                *answered += (int)r;
            } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                pf[i].fd = -1;
                open--;
            }
        }
    }
    free(pf);
    return open;
}

static int
cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

/* Phase <ph>'s latencies of all <g> clients, sorted; their number goes to
 * <*n>. The caller frees them. */
static uint32_t *
phase_latencies(const struct good *g, int ph, size_t *n)
{
    uint32_t *all = calloc((size_t)N_GOOD * LAT_CAP, sizeof(*all));

    cr_assert_not_null(all);
    *n = 0;
    for (int i = 0; i < N_GOOD; i++) {
        memcpy(all + *n, g[i].lat[ph], g[i].n[ph] * sizeof(*all));
        *n += g[i].n[ph];
    }
    qsort(all, *n, sizeof(*all), cmp_u32);
    return all;
}

/* Percentile <p> of the <n> sorted samples <v> (µs), in ms. */
static double
pct_ms(const uint32_t *v, size_t n, double p)
{
    return n == 0 ? 0 : v[(size_t)((double)(n - 1) * p)] / 1000.0;
}

/* Median latency of the good clients <g> calm and attacked, logged; the
 * attacked one must stay within twice the calm one plus 2 ms. */
static void
assert_latency(const struct good *g)
{
    size_t nc, na;
    uint32_t *calm = phase_latencies(g, CALM, &nc);
    uint32_t *att = phase_latencies(g, ATTACK, &na);
    double mc = pct_ms(calm, nc, 0.5), ma = pct_ms(att, na, 0.5);

    cr_log_info("well-behaved latency, median (p90, p99): calm %.3f ms "
                "(%.3f, %.3f) over %zu polls; attacked %.3f ms (%.3f, "
                "%.3f) over %zu polls", mc, pct_ms(calm, nc, 0.9),
                pct_ms(calm, nc, 0.99), nc, ma, pct_ms(att, na, 0.9),
                pct_ms(att, na, 0.99), na);
    cr_assert(nc >= 500 && na >= 100, "%zu calm and %zu attacked polls", nc,
              na);
    cr_assert(ma <= 2 * mc + 2.0, "attacked median %.3f ms > 2 x %.3f ms + "
              "2 ms", ma, mc);
    free(calm);
    free(att);
}

Test(chaos_load, garbage_and_slowloris_while_good_clients_poll)
{
    struct sim s;
    struct mux m;
    struct good *g = calloc(N_GOOD, sizeof(*g));
    struct trickle tr;
    pthread_t th[N_GOOD], trth;
    atomic_int phase;
    int *bad = calloc(N_GARBAGE, sizeof(int)), slow[N_SLOW];
    uint64_t t_attack;
    int fd0, fd_peak, fd_after, open_bad, answered = 0;
    long lim = h_raise_nofile();

    cr_assert(g != NULL && bad != NULL);
    cr_assert(lim >= N_GARBAGE + N_SLOW + 100, "RLIMIT_NOFILE %ld", lim);
    atomic_init(&phase, CALM);
    cr_assert_eq(h_sim_start(&s, "--units 1"), 0);
    cr_assert_eq(h_mux_start(&m, "[server]\nlisten = 127.0.0.1:0\n"
                 "max_clients = 2000\nrequest_timeout_ms = 5000\n" TCP
                 "[route]\n1 = dev\n", "dev", s.port), 0);
    cr_assert(h_wait_file(m.p.err, "B:dev: connected", 5000, NULL, 0));
    for (int i = 0; i < N_GOOD; i++) {
        g[i].port = m.port;
        g[i].index = i;
        g[i].phase = &phase;
        pthread_create(&th[i], NULL, good_run, &g[i]);
    }
    /* Calm: 150 polls each, at 100 a second. */
    for (int i = 0; i < N_GOOD; i++) {
        uint64_t end = h_now_ms() + 20000;

        while (atomic_load(&g[i].polls) < 150 && h_now_ms() < end) {
            h_sleep_ms(10);
        }
        cr_assert(atomic_load(&g[i].polls) >= 150, "client %d: %s", i,
                  g[i].why);
    }
    fd0 = h_fd_count(m.p.pid);

    /* The attack: 100 slowloris clients, half stuck in a header, half
     * trickling a request; 1000 more connections, all held at once, then
     * each sends its garbage and must be closed. */
    atomic_store(&phase, ATTACK);
    t_attack = h_now_ms();
    for (int i = 0; i < N_SLOW; i++) {
        slow[i] = h_connect(m.port);
        cr_assert(slow[i] >= 0, "slowloris %d: %s", i, strerror(errno));
        if (i < N_SLOW / 2) {
            cr_assert_eq(h_send(slow[i], (const uint8_t[]){0x12, 0x34, 0, 0,
                                                           0}, 5), 0);
        }
    }
    tr = (struct trickle){.fd = slow + N_SLOW / 2, .n = N_SLOW / 2,
                          .phase = &phase};
    pthread_create(&trth, NULL, trickle_run, &tr);
    for (int i = 0; i < N_GARBAGE; i++) {
        bad[i] = h_connect(m.port);
        cr_assert(bad[i] >= 0, "garbage %d: %s", i, strerror(errno));
    }
    fd_peak = h_wait_fd_count(m.p.pid, fd0 + N_SLOW + N_GARBAGE, 1 << 20,
                              10000);
    cr_assert(fd_peak >= fd0 + N_SLOW + N_GARBAGE, "the proxy holds %d fds",
              fd_peak);
    open_bad = send_garbage_and_wait_closed(bad, N_GARBAGE, &answered);
    cr_assert_eq(open_bad, 0, "%d garbage connections left open", open_bad);
    while (h_now_ms() < t_attack + 3000) {  /* three bytes of trickle */
        h_sleep_ms(10);
    }

    /* Over: the slowloris clients leave; the proxy's fds come back. */
    atomic_store(&phase, AFTER);
    pthread_join(trth, NULL);
    for (int i = 0; i < N_SLOW; i++) {
        close(slow[i]);
    }
    for (int i = 0; i < N_GARBAGE; i++) {
        close(bad[i]);
    }
    fd_after = h_wait_fd_count(m.p.pid, 0, fd0 + 2, 10000);
    cr_log_info("attack over after %llu ms; proxy fds: %d calm, %d peak, "
                "%d after; %u trickled bytes each; %d bytes answered to the "
                "garbage clients' good reads",
                (unsigned long long)(h_now_ms() - t_attack), fd0, fd_peak,
                fd_after, tr.bytes, answered);
    cr_assert(fd_after <= fd0 + 2, "fds back near the baseline: %d, "
              "baseline %d", fd_after, fd0);
    atomic_store(&phase, DONE);
    for (int i = 0; i < N_GOOD; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(g[i].bad, 0, "good client %d: %u bad answers (%s)", i,
                     g[i].bad, g[i].why);
    }
    assert_latency(g);
    stop_mux(&m);
    cr_log_info("clients_closed_bad=%ld, %d \"bad MBAP\" lines",
                h_mux_stat(&m, "clients_closed_bad"),
                h_count_lines(m.p.err, "bad MBAP"));
    cr_assert(h_mux_stat(&m, "clients_closed_bad") >= N_GARBAGE);
    cr_assert(h_count_lines(m.p.err, "bad MBAP") >= N_GARBAGE);
    cr_assert_eq(h_mux_stat(&m, "clients_refused"), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
    free(g);
    free(bad);
}

/* --- 6. many clients leaving with requests queued and on the wire ---------- */

#define N_DOOMED 50
#define PIPE     20

/* A client that must get every one of its 60 reads right while the others
 * leave: 12 rounds of 5 pipelined reads, overlapping theirs. */
struct observer {
    int      port;
    unsigned good, failed;
    char     why[128];         /* the last failure */
};

static void *
observer_run(void *arg)
{
    struct observer *o = arg;
    int fd = h_connect(o->port);

    for (int round = 0; round < 12 && fd >= 0; round++) {
        struct h_expect e[5];

        for (int k = 0; k < 5; k++) {
            e[k] = (struct h_expect){
                .tid = (uint16_t)(round * 5 + k + 1), .unit = 1, .fc = 3,
                .dev = 1, .addr = (uint16_t)((round * 5 + k) * 5 % 64),
                .count = 2};
        }
        if (h_send_expected(fd, e, 5) != 0) {
            break;
        }
        for (int k = 0; k < 5; k++) {
            if (h_recv_expected(fd, e, 5, 10000 + MARGIN_MS, o->why,
                                sizeof(o->why)) == 0) {
                o->good++;
            } else {
                o->failed++;
            }
        }
    }
    close(fd);
    return NULL;
}

/* Client <c> leaves now: a plain close, a reset, or a half-close (the
 * proxy then closes; *half is set and the fd kept to see that). */
static void
leave(int c, int *fd, bool *half)
{
    struct linger l = {1, 0};

    switch (c % 3) {
    case 0:
        close(*fd);
        *fd = -1;
        break;
    case 1:
        setsockopt(*fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
        close(*fd);
        *fd = -1;
        break;
    default:
        shutdown(*fd, SHUT_WR);
        *half = true;
        break;
    }
}

/*
 * The <N_DOOMED> clients <fd> with the requests <e> outstanding leave at
 * their moments <at_ms> after now; until then every answer they get is
 * read and must be right. Returns how many answers came.
 */
static unsigned
leave_at_random(int *fd, struct h_expect e[][PIPE], const int *at_ms)
{
    bool half[N_DOOMED] = {false};
    uint64_t t0 = h_now_ms(), end = t0 + 15000;
    unsigned answers = 0;
    int left = N_DOOMED;

    while (left > 0 && h_now_ms() < end) {
        struct pollfd p[N_DOOMED];
        int map[N_DOOMED], n = 0, now = (int)(h_now_ms() - t0);

        for (int c = 0; c < N_DOOMED; c++) {
            if (fd[c] >= 0 && !half[c] && at_ms[c] <= now) {
                leave(c, &fd[c], &half[c]);
                left -= fd[c] < 0;
            }
            if (fd[c] >= 0) {
                p[n] = (struct pollfd){.fd = fd[c], .events = POLLIN};
                map[n++] = c;
            }
        }
        if (n == 0 || poll(p, (nfds_t)n, 10) <= 0) {
            continue;
        }
        for (int i = 0; i < n; i++) {
            int c = map[i], rc;
            char why[128];
            uint8_t b;

            if (p[i].revents == 0) {
                continue;
            }
            if (recv(fd[c], &b, 1, MSG_PEEK | MSG_DONTWAIT) <= 0) {
                cr_assert(half[c], "client %d was closed by the proxy", c);
                close(fd[c]);
                fd[c] = -1;
                left--;
                continue;
            }
            rc = h_recv_expected(fd[c], e[c], PIPE, 1000, why, sizeof(why));
            cr_assert_eq(rc, 0, "client %d: %d (%s)", c, rc, why);
            answers++;
        }
    }
    cr_assert_eq(left, 0, "%d clients were never let go", left);
    return answers;
}

Test(chaos_load, fifty_clients_leave_with_requests_queued_and_on_the_wire)
{
    static struct h_expect e[N_DOOMED][PIPE];
    struct sim s;
    struct mux m;
    struct observer o = {0};
    pthread_t th;
    int fd[N_DOOMED], at_ms[N_DOOMED], fd0, fd_after;
    unsigned seed = 42, answers;
    long sim_requests;

    cr_assert_eq(h_sim_start(&s, "--units 1 --delay-ms 20"), 0);
    cr_assert_eq(h_mux_start(&m, SRV TCP "max_inflight = 4\n"
                 "timeout_ms = 3000\nqueue_depth = 5000\n[route]\n1 = dev\n",
                 10000, "dev", s.port), 0);
    cr_assert(h_wait_file(m.p.err, "B:dev: connected", 5000, NULL, 0));
    fd0 = h_fd_count(m.p.pid);
    /* 50 clients x 20 pipelined reads of overlapping ranges (so that many
     * share a transaction), against a device that takes 20 ms each. */
    for (int c = 0; c < N_DOOMED; c++) {
        fd[c] = h_connect(m.port);
        cr_assert(fd[c] >= 0);
        for (int k = 0; k < PIPE; k++) {
            e[c][k] = (struct h_expect){
                .tid = (uint16_t)(k + 1), .unit = 1, .fc = 3, .dev = 1,
                .addr = (uint16_t)((c * 7 + k * 3) % 64), .count = 2};
        }
        at_ms[c] = rand_r(&seed) % 1500;
    }
    for (int c = 0; c < N_DOOMED; c++) {
        cr_assert_eq(h_send_expected(fd[c], e[c], PIPE), 0);
    }
    o.port = m.port;
    pthread_create(&th, NULL, observer_run, &o);
    answers = leave_at_random(fd, e, at_ms);
    pthread_join(th, NULL);
    cr_assert_eq(o.failed, 0, "the observer: %s", o.why);
    cr_assert_eq(o.good, 60);
    fd_after = h_wait_fd_count(m.p.pid, 0, fd0, 5000);
    cr_assert_eq(fd_after, fd0, "every session gone: %d fds, %d before",
                 fd_after, fd0);
    sim_requests = h_sim_stat(&s, "requests");
    stop_mux(&m);
    cr_log_info("%d clients x %d reads: %u answered before they left; the "
                "device saw %ld requests; replies_dropped=%ld; %d in-flight "
                "answers swallowed", N_DOOMED, PIPE, answers, sim_requests,
                h_mux_stat(&m, "replies_dropped"),
                h_count_lines(m.p.err, "client gone, reply dropped"));
    cr_assert(sim_requests < N_DOOMED * PIPE / 2, "queued reads of clients "
              "that left were sent anyway: %ld", sim_requests);
    cr_assert(h_mux_stat(&m, "replies_dropped") > 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

/* --- 7. reloads under load ------------------------------------------------- */

/* What a reload test's files are made of. */
struct ini_args {
    bool        move_bus;      /* odd variants move the bus's section */
    int         pa, pb;        /* ports of the TCP simulators a and b */
    const char *link;          /* the serial bus */
};

/* Variant <i> of the reload test's file: the same links every time, other
 * settings, a backend (c) and its route that come and go. The serial bus
 * comes first after [server]; with move_bus, odd variants add a line to
 * [server], which moves the bus's (unchanged) section down. */
static void
reload_ini(char *buf, size_t n, int i, const struct ini_args *a)
{
    char c[128] = "", route[32] = "";

    if (i % 2) {
        snprintf(c, sizeof(c), "[backend c]\ntype = tcp\nhost = 127.0.0.1\n"
                 "port = %d\n", a->pb);
        snprintf(route, sizeof(route), "9 = c:1\n");
    }
    snprintf(buf, n, "[server]\nlisten = 127.0.0.1:0\nlog_level = info\n"
             "request_timeout_ms = %d\nclient_max_pending = %d\n%s"
             "[backend bus]\ntype = rtu\ndevice = %s\nmin_spacing_ms = 0\n"
             "timeout_ms = 1000\n"
             "[backend a]\ntype = tcp\nhost = 127.0.0.1\nport = %d\n"
             "min_spacing_ms = %d\ntimeout_ms = %d\ncache_ttl_ms = %d\n"
             "[backend b]\ntype = tcp\nhost = 127.0.0.1\nport = %d\n"
             "retries = %d\nqueue_depth = %d\n%s"
             "[route]\n1 = a\n2 = b:1\n3 = b:2\n4 = bus:1\n%s",
             3000 + 500 * (i % 2), 128 - 32 * (i % 2),
             a->move_bus && i % 2 ? "idle_timeout_s = 0\n" : "", a->link,
             a->pa, i % 3, 1000 + 100 * (i % 2), i % 2 ? 0 : 20, a->pb,
             1 + i % 2, 64 + i, c, route);
}

/* Variant <i> of a file with one serial bus whose timeout_ms changes at
 * each reload (so the bus is replaced, legitimately). */
static void
bus_ini(char *buf, size_t n, int i, const struct ini_args *a)
{
    snprintf(buf, n, "[server]\nlisten = 127.0.0.1:0\nlog_level = info\n"
             "request_timeout_ms = 3000\n[backend bus]\ntype = rtu\n"
             "device = %s\nmin_spacing_ms = 0\ntimeout_ms = %d\n"
             "retries = 0\n[route]\n1 = bus\n", a->link, 300 + 20 * (i % 2));
}

typedef void ini_fn(char *buf, size_t n, int i, const struct ini_args *a);

/* Wait until each of the <n> pollers <p> has <more> good polls after
 * <base>, or has given up. */
static void
wait_polls(struct h_poller *p, int n, const unsigned *base, unsigned more)
{
    uint64_t end = h_now_ms() + 10000;

    for (int i = 0; i < n; i++) {
        while (atomic_load(&p[i].good) < base[i] + more &&
               !atomic_load(&p[i].done) && h_now_ms() < end) {
            h_sleep_ms(5);
        }
    }
}

/* <n> SIGHUPs into the proxy <m>, one every <every_ms>, each with the
 * next variant <make> makes of the file. */
static void
reload_n_times(struct mux *m, int n, unsigned every_ms, ini_fn *make,
               const struct ini_args *a)
{
    char ini[2048];
    uint64_t t0 = h_now_ms();

    for (int i = 1; i <= n; i++) {
        while (h_now_ms() < t0 + every_ms * (unsigned)i) {
            h_sleep_ms(2);
        }
        make(ini, sizeof(ini), i, a);
        cr_assert_eq(h_write_file(m->ini, ini), 0);
        kill(m->p.pid, SIGHUP);
        cr_assert(h_wait_lines(m->p.err, "info reloaded ", i, 3000),
                  "reload %d", i);
    }
    cr_log_info("%d reloads in %llu ms", n,
                (unsigned long long)(h_now_ms() - t0));
}

/* Stop the <n> pollers <p> and log what each saw. */
static void
stop_pollers(struct h_poller *p, int n)
{
    for (int i = 0; i < n; i++) {
        h_poller_stop(&p[i]);
        cr_log_info("poller %d (unit %u): %u polls, %u failed%s%s, slowest "
                    "%u ms", i, p[i].unit, atomic_load(&p[i].good),
                    p[i].failed, p[i].failed ? ", the last: " : "",
                    p[i].failed ? p[i].why : "", p[i].max_ms);
    }
}

/*
 * Ten polling clients on two TCP backends and a serial bus; ten reloads,
 * one every 200 ms, each with a compatible change (settings of a and b,
 * request_timeout_ms, client_max_pending, backend c and its route added
 * or removed; with <move_bus>, a [server] line that moves the bus's
 * section). No poll may fail, no connection drop, no kept backend go.
 */
static void
reload_under_load(bool move_bus)
{
    static const struct {
        uint8_t unit, dev;
    } target[4] = {{1, 1}, {2, 1}, {3, 2}, {4, 1}};
    struct sim a, b;
    struct rtu_sim bus;
    struct mux m;
    struct h_poller p[10];
    struct ini_args args = {.move_bus = move_bus};
    char ini[2048];
    unsigned base[10] = {0};

    cr_assert_eq(h_sim_start(&a, "--units 1"), 0);
    cr_assert_eq(h_sim_start(&b, "--units 1,2"), 0);
    cr_assert_eq(h_rtu_start(&bus, "--unit 1:generic"), 0);
    args.pa = a.port;
    args.pb = b.port;
    args.link = bus.link;
    reload_ini(ini, sizeof(ini), 0, &args);
    cr_assert_eq(h_mux_start(&m, "%s", ini), 0);
    cr_assert(h_wait_file(m.p.err, "B:a: connected", 5000, NULL, 0));
    cr_assert(h_wait_file(m.p.err, "B:b: connected", 5000, NULL, 0));
    cr_assert(h_wait_file(m.p.err, "B:bus: connected", 5000, NULL, 0));
    for (int i = 0; i < 10; i++) {
        p[i] = (struct h_poller){.port = m.port,
                                 .unit = target[i % 4].unit,
                                 .dev = target[i % 4].dev,
                                 .addr = (uint16_t)(i * 20),
                                 .tid0 = (uint16_t)(i * 5000), .pace_ms = 2};
        cr_assert_eq(h_poller_start(&p[i]), 0);
    }
    wait_polls(p, 10, base, 5);
    reload_n_times(&m, 10, 200, reload_ini, &args);
    for (int i = 0; i < 10; i++) {
        base[i] = atomic_load(&p[i].good);
    }
    wait_polls(p, 10, base, 3);             /* after the last reload too */
    stop_pollers(p, 10);
    cr_assert_eq(h_count_lines(m.p.err, "reload refused"), 0);
    cr_assert_eq(h_count_lines(m.p.err, "B:c: removed by the reload"), 5);
    cr_assert_eq(h_count_lines(m.p.err, "B:a: removed by the reload"), 0);
    cr_assert_eq(h_count_lines(m.p.err, "B:b: removed by the reload"), 0);
    cr_assert_eq(h_count_lines(m.p.err, "B:bus: removed by the reload"), 0,
                 "the bus's section never changed, yet it was replaced %d "
                 "times", h_count_lines(m.p.err, "B:bus: removed by the "
                                        "reload"));
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(p[i].failed, 0, "poller %d (unit %u) failed: %s", i,
                     p[i].unit, p[i].why);
        cr_assert(atomic_load(&p[i].good) >= 8, "poller %d: %u polls", i,
                  atomic_load(&p[i].good));
    }
    stop_mux(&m);
    cr_assert_eq(h_mux_stat(&m, "clients_accepted"), 10, "no client had to "
                 "reconnect");
    cr_assert_eq(h_sim_stat(&a, "connections"), 1, "a kept its link");
    h_proc_stop(&a.p, SIGTERM, 5000);
    h_proc_stop(&b.p, SIGTERM, 5000);
    h_proc_stop(&bus.p, SIGTERM, 5000);
}

Test(chaos_load, ten_reloads_every_200_ms_under_ten_polling_clients)
{
    reload_under_load(false);
}

Test(chaos_load, reload_keeps_a_serial_bus_whose_section_only_moved)
{
    reload_under_load(true);
}

#define RELOADS_BUS 20

Test(chaos_load, replacing_a_busy_serial_bus_never_mixes_up_answers)
{
    struct rtu_sim bus;
    struct mux m;
    struct h_poller p[3];
    struct ini_args args = {0};
    char ini[1024];
    unsigned base[3] = {0};

    cr_assert_eq(h_rtu_start(&bus, "--unit 1:generic --delay-ms 150"), 0);
    args.link = bus.link;
    bus_ini(ini, sizeof(ini), 0, &args);
    cr_assert_eq(h_mux_start(&m, "%s", ini), 0);
    cr_assert(h_wait_file(m.p.err, "B:bus: connected", 5000, NULL, 0));
    for (int i = 0; i < 3; i++) {
        p[i] = (struct h_poller){.port = m.port, .unit = 1, .dev = 1,
                                 .addr = (uint16_t)(i * 100),
                                 .tid0 = (uint16_t)(i * 5000), .pace_ms = 5};
        cr_assert_eq(h_poller_start(&p[i]), 0);
    }
    wait_polls(p, 3, base, 3);
    reload_n_times(&m, RELOADS_BUS, 200, bus_ini, &args);
    for (int i = 0; i < 3; i++) {
        base[i] = atomic_load(&p[i].good);
    }
    wait_polls(p, 3, base, 2);              /* the last bus works */
    stop_pollers(p, 3);
    cr_assert_eq(h_count_lines(m.p.err, "B:bus: replaced by the reload"),
                 RELOADS_BUS);
    for (int i = 0; i < 3; i++) {
        /* 0x0A and 0x0B are the documented price of replacing a bus */
        cr_assert_eq(p[i].failed, p[i].exceptions, "poller %d: %s", i,
                     p[i].why);
        cr_assert(atomic_load(&p[i].good) >= base[i] + 2, "poller %d: no "
                  "answer from the last bus", i);
    }
    stop_mux(&m);
    h_proc_stop(&bus.p, SIGTERM, 5000);
}

/* SPDX-License-Identifier: MIT */
/*
 * harness_client.c -- the integration tests' client side (see harness.h):
 * connecting (IPv4, IPv6, from a chosen source address), Modbus TCP
 * requests sent and their replies read and checked against the
 * simulators' register formula (sim_map.h), pipelined batches, a listener
 * that never answers (blackhole) and a polling thread.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "sim_map.h"

static uint16_t h_tid = 1;

static int
h_connect_addr(const struct sockaddr *sa, socklen_t len)
{
    int fd = socket(sa->sa_family, SOCK_STREAM, 0);
    int one = 1;

    if (fd < 0) {
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, sa, len) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/*
 * A blocking TCP connection to 127.0.0.1:<port>, or -1.
 */
int
h_connect(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port)};

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return h_connect_addr((struct sockaddr *)&a, sizeof(a));
}

/*
 * A blocking TCP connection to 127.0.0.1:<port> from address <src> (any
 * of 127.0.0.0/8 works on Linux), or -1.
 */
int
h_connect_from(int port, const char *src)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port)};
    struct sockaddr_in b = {.sin_family = AF_INET};
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || inet_pton(AF_INET, src, &b.sin_addr) != 1 ||
        bind(fd, (struct sockaddr *)&b, sizeof(b)) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/*
 * A blocking TCP connection to [::1]:<port>, or -1.
 */
int
h_connect6(int port)
{
    struct sockaddr_in6 a = {.sin6_family = AF_INET6,
                             .sin6_port = htons((uint16_t)port)};

    a.sin6_addr = in6addr_loopback;
    return h_connect_addr((struct sockaddr *)&a, sizeof(a));
}

/*
 * Send <len> bytes on <fd>. Returns 0 or -1.
 */
int
h_send(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

        if (n <= 0) {
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/*
 * Send one read request (FC 1..4) as an MBAP frame. Returns 0 or -1.
 */
int
h_send_read(int fd, uint16_t tid, uint8_t unit, uint8_t fc, uint16_t addr,
            uint16_t count)
{
    uint8_t f[12] = {tid >> 8, tid & 0xFF, 0, 0, 0, 6, unit, fc,
                     addr >> 8, addr & 0xFF, count >> 8, count & 0xFF};

    return h_send(fd, f, sizeof(f));
}

static int
h_recv_n(int fd, uint8_t *buf, size_t n, uint64_t end)
{
    size_t got = 0;

    while (got < n) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int64_t left = (int64_t)(end - h_now_ms());
        ssize_t r;

        if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
            return -1;
        }
        r = recv(fd, buf + got, n - got, 0);
        if (r <= 0) {
            return -2;
        }
        got += (size_t)r;
    }
    return 0;
}

/*
 * Receive one whole MBAP frame into <buf> within <timeout_ms>. Returns its
 * length, -1 on timeout, -2 if the peer closed.
 */
int
h_recv_frame(int fd, uint8_t *buf, size_t size, int timeout_ms)
{
    uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
    size_t len;
    int rc = h_recv_n(fd, buf, 6, end);

    if (rc < 0) {
        return rc;
    }
    len = (size_t)(buf[4] << 8 | buf[5]);
    if (len + 6 > size) {
        return -1;
    }
    rc = h_recv_n(fd, buf + 6, len, end);
    return rc < 0 ? rc : (int)(len + 6);
}

/*
 * True if the peer closes <fd> within <timeout_ms>.
 */
bool
h_wait_closed(int fd, int timeout_ms)
{
    uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
    uint8_t b[512];

    while (h_now_ms() < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ssize_t r;

        if (poll(&p, 1, 50) <= 0) {
            continue;
        }
        r = recv(fd, b, sizeof(b), 0);
        if (r <= 0) {
            return true;
        }
    }
    return false;
}

/*
 * Read <count> registers or bits of <unit> with <fc> at <addr> on <fd>,
 * checking that the reply carries our transaction id and unit. Values go
 * to <vals> (bits one per element). Returns 0, the exception code, or -1.
 */
int
h_read(int fd, uint8_t unit, uint8_t fc, uint16_t addr, uint16_t count,
       uint16_t *vals, int timeout_ms)
{
    uint16_t tid = h_tid++;
    uint8_t f[300];
    int n;

    if (h_send_read(fd, tid, unit, fc, addr, count) != 0) {
        return -1;
    }
    n = h_recv_frame(fd, f, sizeof(f), timeout_ms);
    if (n < 9 || (f[0] << 8 | f[1]) != tid || f[6] != unit) {
        return -1;
    }
    if (f[7] == (fc | 0x80)) {
        return f[8];
    }
    if (f[7] != fc) {
        return -1;
    }
    for (unsigned i = 0; i < count; i++) {
        vals[i] = fc <= 2 ? (f[9 + i / 8] >> (i % 8)) & 1
                          : (uint16_t)(f[9 + 2 * i] << 8 | f[10 + 2 * i]);
    }
    return 0;
}

/*
 * Write holding register <addr> of <unit> (FC 6). Returns 0 when the
 * echo is right, the exception code, or -1.
 */
int
h_write1(int fd, uint8_t unit, uint16_t addr, uint16_t value, int timeout_ms)
{
    uint16_t tid = h_tid++;
    uint8_t q[12] = {tid >> 8, tid & 0xFF, 0, 0, 0, 6, unit, 6,
                     addr >> 8, addr & 0xFF, value >> 8, value & 0xFF};
    uint8_t f[300];
    int n;

    if (h_send(fd, q, sizeof(q)) != 0) {
        return -1;
    }
    n = h_recv_frame(fd, f, sizeof(f), timeout_ms);
    if (n < 9 || (f[0] << 8 | f[1]) != tid || f[6] != unit) {
        return -1;
    }
    if (f[7] == 0x86) {
        return f[8];
    }
    return n == 12 && memcmp(f + 7, q + 7, 5) == 0 ? 0 : -1;
}

/*
 * True if <vals> are what the simulators hold for <unit> (sim_map.h).
 */
bool
h_check_regs(uint8_t unit, uint8_t fc, uint16_t addr, uint16_t count,
             const uint16_t *vals)
{
    for (unsigned i = 0; i < count; i++) {
        unsigned a = addr + i;
        uint16_t want = fc == 1   ? sim_coil(unit, a)
                        : fc == 2 ? sim_discrete(unit, a)
                        : fc == 3 ? sim_holding(unit, a)
                                  : sim_input(unit, a);

        if (vals[i] != want) {
            return false;
        }
    }
    return true;
}

/*
 * h_read() with the caller's transaction id <tid>, for tests that poll from
 * several threads (h_read's own counter is not shared safely). The reply
 * must carry <tid>, <unit> and <fc> (or fc | 0x80) and, for a normal
 * answer, exactly <count> values, stored in <vals>. Returns 0, the
 * exception code, -1 on timeout, -2 if the peer closed, -3 for a frame
 * that is not the answer to this request.
 */
int
h_read_tid(int fd, uint16_t tid, uint8_t unit, uint8_t fc, uint16_t addr,
           uint16_t count, uint16_t *vals, int timeout_ms)
{
    uint8_t f[300];
    unsigned bytes = fc <= 2 ? (count + 7u) / 8u : 2u * count;
    int n;

    if (h_send_read(fd, tid, unit, fc, addr, count) != 0) {
        return -2;
    }
    n = h_recv_frame(fd, f, sizeof(f), timeout_ms);
    if (n < 0) {
        return n;
    }
    if (n < 9 || (f[0] << 8 | f[1]) != tid || f[2] != 0 || f[3] != 0 ||
        f[6] != unit) {
        return -3;
    }
    if (f[7] == (fc | 0x80)) {
        return n == 9 ? f[8] : -3;
    }
    if (f[7] != fc || f[8] != bytes || n != 9 + (int)bytes) {
        return -3;
    }
    for (unsigned i = 0; i < count; i++) {
        vals[i] = fc <= 2 ? (f[9 + i / 8] >> (i % 8)) & 1
                          : (uint16_t)(f[9 + 2 * i] << 8 | f[10 + 2 * i]);
    }
    return 0;
}

/*
 * Mark <fd> close-on-exec, so that processes started later (a restarted
 * simulator) do not hold a copy of it. Returns <fd>.
 */
int
h_cloexec(int fd)
{
    if (fd >= 0) {
        fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    return fd;
}

/*
 * Send a FC 6 write of <value> to holding register <addr> of <unit> with
 * transaction id <tid>, without waiting for the answer. Returns 0 or -1.
 */
int
h_send_write1(int fd, uint16_t tid, uint8_t unit, uint16_t addr,
              uint16_t value)
{
    uint8_t q[12] = {tid >> 8, tid & 0xFF, 0, 0, 0, 6, unit, 6,
                     addr >> 8, addr & 0xFF, value >> 8, value & 0xFF};

    return h_send(fd, q, sizeof(q));
}

/*
 * Send the <n> reads of <e> on <fd>, back to back (pipelined). Returns 0
 * or -1.
 */
int
h_send_expected(int fd, const struct h_expect *e, int n)
{
    for (int i = 0; i < n; i++) {
        if (h_send_read(fd, e[i].tid, e[i].unit, e[i].fc, e[i].addr,
                        e[i].count) != 0) {
            return -1;
        }
    }
    return 0;
}

/*
 * The <count> values sim_map.h gives for <fc> at <addr> of <unit> (bits
 * one per element), into <vals>.
 */
void
h_sim_values(uint8_t unit, uint8_t fc, uint16_t addr, uint16_t count,
             uint16_t *vals)
{
    for (unsigned i = 0; i < count; i++) {
        unsigned a = addr + i;

        vals[i] = fc == 1   ? sim_coil(unit, a)
                  : fc == 2 ? sim_discrete(unit, a)
                  : fc == 3 ? sim_holding(unit, a)
                            : sim_input(unit, a);
    }
}

/*
 * Receive one answer on <fd> within <timeout_ms> and match it by
 * transaction id to one of the <n> requests of <e> not answered yet
 * (marking it). It must carry that request's unit and function and, if it
 * is not an exception, exactly the values sim_map.h gives for that range
 * of its device. Returns 0 for correct values, the exception code, or -1
 * (nothing in time, the peer closed, or a wrong frame), with the reason in
 * <why>.
 */
int
h_recv_expected(int fd, struct h_expect *e, int n, int timeout_ms, char *why,
                size_t why_size)
{
    uint8_t f[300];
    uint16_t v[2000];
    int len = h_recv_frame(fd, f, sizeof(f), timeout_ms);
    int tid;

    if (len < 9) {
        snprintf(why, why_size, "no answer (%s)",
                 len == -2 ? "closed" : "timeout or bad frame");
        return -1;
    }
    tid = f[0] << 8 | f[1];
    for (int i = 0; i < n; i++) {
        struct h_expect *x = &e[i];
        unsigned bytes = x->fc <= 2 ? (x->count + 7u) / 8u : 2u * x->count;

        if (x->tid != tid || x->got) {
            continue;
        }
        x->got = true;
        if (f[2] != 0 || f[3] != 0 || f[6] != x->unit) {
            snprintf(why, why_size, "tid %d: unit %u, wanted %u", tid, f[6],
                     x->unit);
            return -1;
        }
        if (f[7] == (x->fc | 0x80) && len == 9) {
            snprintf(why, why_size, "tid %d: exception 0x%02X", tid, f[8]);
            return f[8];
        }
        if (f[7] != x->fc || f[8] != bytes || len != 9 + (int)bytes) {
            snprintf(why, why_size, "tid %d: fc %u, %u bytes", tid, f[7],
                     f[8]);
            return -1;
        }
        for (unsigned k = 0; k < x->count; k++) {
            v[k] = x->fc <= 2 ? (f[9 + k / 8] >> (k % 8)) & 1
                              : (uint16_t)(f[9 + 2 * k] << 8 | f[10 + 2 * k]);
        }
        if (!h_check_regs(x->dev, x->fc, x->addr, x->count, v)) {
            uint16_t want[1];

            h_sim_values(x->dev, x->fc, x->addr, 1, want);
            snprintf(why, why_size, "tid %d: wrong values for fc %u, %u at "
                     "%u: the first is %u, not %u", tid, x->fc, x->count,
                     x->addr, v[0], want[0]);
            return -1;
        }
        return 0;
    }
    snprintf(why, why_size, "tid %d was not asked, or answered twice", tid);
    return -1;
}

/* A listening socket whose thread accepts and reads, never writing. */
struct h_blackhole {
    int         lfd;           /* listening, 127.0.0.1 */
    atomic_bool stop;          /* set by h_blackhole_stop() */
    atomic_long bytes;         /* read from every connection */
    pthread_t   th;
};

static void *
h_blackhole_run(void *arg)
{
    struct h_blackhole *b = arg;
    struct pollfd p[16];
    int n = 1;
    uint8_t buf[4096];

    p[0] = (struct pollfd){.fd = b->lfd, .events = POLLIN};
    while (!atomic_load(&b->stop)) {
        if (poll(p, (nfds_t)n, 50) <= 0) {
            continue;
        }
        if ((p[0].revents & POLLIN) && n < 16) {
            int fd = h_cloexec(accept(b->lfd, NULL, NULL));

            if (fd >= 0) {
                p[n++] = (struct pollfd){.fd = fd, .events = POLLIN};
            }
        }
        for (int i = 1; i < n; i++) {
            ssize_t got;

            if (p[i].revents == 0) {
                continue;
            }
            got = recv(p[i].fd, buf, sizeof(buf), 0);
            if (got > 0) {
                atomic_fetch_add(&b->bytes, (long)got);
            } else {
                close(p[i].fd);
                p[i--] = p[--n];
            }
        }
    }
    for (int i = 0; i < n; i++) {
        close(p[i].fd);
    }
    return NULL;
}

/*
 * Start a device on 127.0.0.1 that accepts connections (up to 15) and
 * reads whatever comes, never writing a byte. Its port goes to <port>.
 * Returns it, or NULL.
 */
struct h_blackhole *
h_blackhole_start(int *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    struct h_blackhole *b = calloc(1, sizeof(*b));

    if (b == NULL) {
        return NULL;
    }
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    b->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (b->lfd < 0 || bind(b->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(b->lfd, 16) != 0 ||
        getsockname(b->lfd, (struct sockaddr *)&a, &len) != 0) {
        if (b->lfd >= 0) {
            close(b->lfd);
        }
        free(b);
        return NULL;
    }
    *port = ntohs(a.sin_port);
    atomic_init(&b->stop, false);
    atomic_init(&b->bytes, 0);
    if (pthread_create(&b->th, NULL, h_blackhole_run, b) != 0) {
        close(b->lfd);
        free(b);
        return NULL;
    }
    return b;
}

/*
 * Stop and free blackhole <b> (closing its connections). Returns how many
 * bytes it read in all.
 */
long
h_blackhole_stop(struct h_blackhole *b)
{
    long bytes;

    atomic_store(&b->stop, true);
    pthread_join(b->th, NULL);
    bytes = atomic_load(&b->bytes);
    free(b);
    return bytes;
}

static void *
h_poller_run(void *arg)
{
    struct h_poller *p = arg;
    int fd = h_connect(p->port);
    uint16_t tid = p->tid0;

    while (!atomic_load(&p->stop)) {
        struct h_expect e = {.tid = tid++, .unit = p->unit, .fc = 3,
                             .dev = p->dev,
                             .addr = (uint16_t)(p->addr + tid % 16),
                             .count = 3};
        uint64_t t0 = h_now_ms();
        int rc = fd < 0 ? -1 : h_send_expected(fd, &e, 1);
        unsigned dt;

        if (rc == 0) {
            rc = h_recv_expected(fd, &e, 1, 5000, p->why, sizeof(p->why));
        } else {
            snprintf(p->why, sizeof(p->why), "cannot send");
        }
        dt = (unsigned)(h_now_ms() - t0);
        p->max_ms = dt > p->max_ms ? dt : p->max_ms;
        if (rc != 0) {
            p->failed++;
            p->exceptions += rc > 0;
            if (rc < 0) {
                break;          /* the connection is gone or out of step */
            }
        } else {
            atomic_fetch_add(&p->good, 1);
        }
        h_sleep_ms(p->pace_ms);
    }
    if (fd >= 0) {
        close(fd);
    }
    atomic_store(&p->done, true);
    return NULL;
}

/*
 * Start poller <p>, whose port, unit, dev, addr, tid0 and pace_ms are set
 * (the rest zero): a thread with one connection to the proxy that reads 3
 * holding registers near <addr> of <unit> (values of <dev>), each answer
 * checked, until h_poller_stop(). Returns 0 or -1.
 */
int
h_poller_start(struct h_poller *p)
{
    atomic_init(&p->stop, false);
    atomic_init(&p->done, false);
    atomic_init(&p->good, 0);
    return pthread_create(&p->th, NULL, h_poller_run, p) == 0 ? 0 : -1;
}

/*
 * Stop poller <p> and wait for its thread. Returns how many polls failed.
 */
unsigned
h_poller_stop(struct h_poller *p)
{
    atomic_store(&p->stop, true);
    pthread_join(p->th, NULL);
    return p->failed;
}

/*
 * Start giv_client against 127.0.0.1:<port> with <args> (space-separated)
 * and its stats file in c->stats; with <wait_connected>, until it says
 * CONNECTED. Returns 0 or -1.
 */
int
h_giv_client_start(struct h_giv_client *c, int port, const char *args,
                   bool wait_connected)
{
    static int seq;
    char buf[1024], *argv[48];
    int n = 0;

    snprintf(c->stats, sizeof(c->stats), "%s/giv-client-%d.stats", h_dir(),
             seq++);
    snprintf(buf, sizeof(buf), "--port %d --stats %s %s", port, c->stats,
             args);
    argv[n++] = SIM_GIV_CLIENT;
    for (char *t = strtok(buf, " "); t != NULL && n < 47;
         t = strtok(NULL, " ")) {
        argv[n++] = t;
    }
    argv[n] = NULL;
    if (h_proc_start(&c->p, "giv_client", argv) != 0) {
        return -1;
    }
    if (wait_connected &&
        !h_wait_file(c->p.out, "CONNECTED", 5000, NULL, 0)) {
        return -1;
    }
    return 0;
}

/*
 * The value of <key> in the key=value file <path>, or -1.
 */
long
h_kv(const char *path, const char *key)
{
    char line[256];
    size_t n = strlen(key);
    FILE *f = fopen(path, "r");
    long v = -1;

    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, key, n) == 0 && line[n] == '=') {
            v = strtol(line + n + 1, NULL, 10);
            break;
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return v;
}

/*
 * True if giv_client run <c> (ended, or its stats written) sent requests,
 * had every one answered, and received nothing wrong: no timeout, error
 * frame, bad CRC, skipped byte, wrong value or serial, malformed or
 * unknown frame, or request still pending. Else the first problem in
 * <why>.
 */
bool
h_giv_client_clean(const struct h_giv_client *c, char *why, size_t why_size)
{
    static const char *const zero[] = {
        "timeouts", "errors", "bad_crc", "skipped", "mismatches",
        "bad_serial", "malformed", "other", "pending", "foreign_error",
    };
    long sent = h_kv(c->stats, "sent"), answered = h_kv(c->stats, "answered");

    if (sent <= 0 || answered != sent) {
        snprintf(why, why_size, "%ld of %ld answered", answered, sent);
        return false;
    }
    for (size_t i = 0; i < sizeof(zero) / sizeof(zero[0]); i++) {
        long v = h_kv(c->stats, zero[i]);

        if (v != 0) {
            snprintf(why, why_size, "%s=%ld", zero[i], v);
            return false;
        }
    }
    return true;
}

/*
 * The whole answer to GET <path> on the HTTP endpoint at 127.0.0.1:<port>
 * (the proxy closes it), into <buf> of <size> bytes, NUL-terminated.
 * Returns its length, or -1 (no connection, nothing within 5 s, or too
 * long).
 */
int
h_http_get(int port, const char *path, char *buf, size_t size)
{
    int fd = h_connect(port);
    size_t len = 0;
    char req[256];

    if (fd < 0) {
        return -1;
    }
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\nConnection: "
             "close\r\n\r\n", path);
    if (h_send(fd, (const uint8_t *)req, strlen(req)) != 0) {
        close(fd);
        return -1;
    }
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ssize_t n;

        if (poll(&p, 1, 5000) <= 0) {
            close(fd);
            return -1;
        }
        n = recv(fd, buf + len, size - len - 1, 0);
        if (n <= 0) {
            break;
        }
        len += (size_t)n;
        if (len >= size - 1) {
            close(fd);
            return -1;
        }
    }
    buf[len] = '\0';
    close(fd);
    return (int)len;
}

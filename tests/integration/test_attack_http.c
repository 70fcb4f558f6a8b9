/* SPDX-License-Identifier: MIT */
/*
 * test_attack_http.c -- the HTTP endpoint under a hostile LAN (issue 10,
 * items 10 and 11), against the real modbus-mux:
 *   - clients that pipeline 100 requests for a large /status page and never
 *     read: the proxy renders only as fast as they read (its peak RSS stays
 *     bounded), a Modbus client is served meanwhile, and a client that does
 *     read gets every response;
 *   - slowloris: 40 half-sent requests, and one trickled a byte at a time,
 *     lock nobody out of /healthz, and each is closed a few seconds after
 *     its first byte.
 */
#define _GNU_SOURCE                 /* memmem */
#include <criterion/criterion.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

TestSuite(attack_http, .fini = h_cleanup, .timeout = 180);

#define REQ_STATUS "GET /status HTTP/1.1\r\nHost: t\r\n\r\n"
#define REQ_HEALTH "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"

/* Receive on <fd> until <n> responses (heads ending "\r\n\r\n" with their
 * Content-Length bodies) have come, or <timeout_ms>; returns how many
 * came. <last_close> says whether the last one said Connection: close. */
static int
recv_responses(int fd, int n, int timeout_ms, bool *last_close)
{
    static char buf[4 << 20];
    uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
    size_t len = 0;
    int got = 0;

    while (got < n) {
        char *eoh = memmem(buf, len, "\r\n\r\n", 4);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int64_t left = (int64_t)(end - h_now_ms());
        ssize_t r;

        if (eoh != NULL) {
            size_t hlen = (size_t)(eoh + 4 - buf), blen = 0;
            char *cl;

            *eoh = '\0';
            cl = strstr(buf, "\r\nContent-Length: ");
            if (cl != NULL) {
                blen = strtoul(cl + 18, NULL, 10);
            }
            if (len >= hlen + blen) {
                *last_close = strstr(buf, "\r\nConnection: close") != NULL;
                memmove(buf, buf + hlen + blen, len - hlen - blen);
                len -= hlen + blen;
                got++;
                continue;
            }
            *eoh = '\r';
        }
        if (left <= 0 || poll(&p, 1, (int)left) <= 0 || len == sizeof(buf)) {
            break;
        }
        r = recv(fd, buf + len, sizeof(buf) - len, 0);
        if (r <= 0) {
            break;
        }
        len += (size_t)r;
    }
    return got;
}

/* GET /healthz on a fresh connection: its status, or -1 if the connection
 * was closed or nothing came within <timeout_ms>. */
static int
healthz(int port, int timeout_ms)
{
    char buf[1024];
    size_t len = 0;
    uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
    int fd = h_connect(port), status = -1;

    if (fd < 0 || h_send(fd, (const uint8_t *)REQ_HEALTH,
                         strlen(REQ_HEALTH)) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    while (len < sizeof(buf) - 1 && memchr(buf, '\n', len) == NULL) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int64_t left = (int64_t)(end - h_now_ms());
        ssize_t r;

        if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
            break;
        }
        r = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
        if (r <= 0) {
            break;
        }
        len += (size_t)r;
    }
    buf[len] = '\0';
    if (sscanf(buf, "HTTP/1.1 %d", &status) != 1) {
        status = -1;
    }
    close(fd);
    return status;
}

/* Start the simulator and the proxy: backend "dev" on it (routed to unit
 * 1) and <extra> idle backends on a port nobody listens on, which make
 * /status large. Returns the HTTP port (bound to port 0: no other test can
 * take it first). */
static int
start_pair(struct sim *s, struct mux *m, int extra)
{
    size_t size = 512 + (size_t)extra * 96, n;
    char *ini = malloc(size);
    int hport, dead = h_free_port();

    cr_assert_eq(h_sim_start(s, "--units 1"), 0);
    n = (size_t)snprintf(ini, size, "[server]\nlisten = 127.0.0.1:0\n"
                         "http_listen = 127.0.0.1:0\n[backend dev]\n"
                         "type = tcp\nhost = 127.0.0.1\nport = %d\n"
                         "[route]\n1 = dev\n", s->port);
    for (int i = 0; i < extra; i++) {
        n += (size_t)snprintf(ini + n, size - n, "[backend idle%d]\ntype = "
                              "tcp\nhost = 127.0.0.1\nport = %d\n", i, dead);
    }
    cr_assert_eq(h_mux_start(m, "%s", ini), 0);
    free(ini);
    hport = h_mux_http_port(m, 10000);
    cr_assert(hport > 0, "no \"http: serving\" line in %s", m->p.err);
    cr_assert(h_wait_file(m->p.err, "B:dev: connected", 10000, NULL, 0));
    return hport;
}

Test(attack_http, pipelining_clients_that_never_read_get_back_pressure)
{
    enum { CONNS = 8, REQS = 100 };
    static char reqs[REQS * sizeof(REQ_STATUS)];
    struct h_poller p = {0};
    struct sim s;
    struct mux m;
    int hport = start_pair(&s, &m, 1000), fd[CONNS], got;
    long rss0, hwm;
    unsigned good;
    bool last_close = false;
    size_t n = 0;

    /* One /status first, so that the baseline holds what one render
     * needs. */
    fd[0] = h_connect(hport);
    cr_assert_eq(h_send(fd[0], (const uint8_t *)REQ_STATUS,
                        strlen(REQ_STATUS)), 0);
    cr_assert_eq(recv_responses(fd[0], 1, 10000, &last_close), 1);
    close(fd[0]);
    rss0 = h_proc_kb(m.p.pid, "VmRSS");
    cr_assert(rss0 > 0);

    p.port = m.port;
    p.unit = p.dev = 1;
    p.addr = 10;
    p.pace_ms = 5;
    cr_assert_eq(h_poller_start(&p), 0);
    for (int i = 0; i < REQS; i++) {
        memcpy(reqs + n, REQ_STATUS, strlen(REQ_STATUS));
        n += strlen(REQ_STATUS);
    }
    for (int i = 0; i < CONNS; i++) {
        fd[i] = h_connect(hport);
        cr_assert(fd[i] >= 0);
        cr_assert_eq(h_send(fd[i], (const uint8_t *)reqs, n), 0);
    }
    /* Everything sent so far has been read once a later client is
     * answered (503: the idle backends are down), and the Modbus client
     * has gone on polling. */
    cr_assert_eq(healthz(hport, 30000), 503);
    good = atomic_load(&p.good);
    for (uint64_t end = h_now_ms() + 10000;
         atomic_load(&p.good) < good + 20 && h_now_ms() < end;) {
        h_sleep_ms(10);
    }
    hwm = h_proc_kb(m.p.pid, "VmHWM");
    cr_assert_eq(h_poller_stop(&p), 0, "Modbus polls failed: %s", p.why);
    cr_log_info("RSS %ld kB before, peak %ld kB under attack; slowest "
                "Modbus answer %u ms", rss0, hwm, p.max_ms);
    cr_assert(hwm - rss0 < 96 * 1024, "RSS %ld kB -> %ld kB: responses were "
              "rendered for clients that do not read", rss0, hwm);
    cr_assert(p.max_ms < 1500, "a Modbus answer took %u ms", p.max_ms);

    /* A client that reads after all gets every response, in order. */
    got = recv_responses(fd[0], REQS, 60000, &last_close);
    cr_assert_eq(got, REQS, "%d of %d responses", got, REQS);
    cr_assert(last_close, "the 100th says Connection: close");
    cr_assert(h_wait_closed(fd[0], 5000));
    for (int i = 0; i < CONNS; i++) {
        close(fd[i]);
    }
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

Test(attack_http, half_sent_requests_lock_nobody_out)
{
    enum { SLOW = 40 };
    static const char half[] = "GET /status HTTP/1.1\r\nHost: t\r\n";
    struct sim s;
    struct mux m;
    int hport = start_pair(&s, &m, 0), fd[SLOW], trickle, st = -1;
    uint64_t t0, t_sent, waited, last = 0;

    for (int i = 0; i < SLOW; i++) {
        fd[i] = h_connect(hport);
        cr_assert(fd[i] >= 0);
        cr_assert_eq(h_send(fd[i], (const uint8_t *)half, strlen(half)), 0);
    }
    t_sent = h_now_ms();

    /* A health check gets its answer now, not when the attack gives up. */
    t0 = h_now_ms();
    while (h_now_ms() - t0 < 20000 && (st = healthz(hport, 2000)) != 200) {
        h_sleep_ms(50);
    }
    waited = h_now_ms() - t0;
    cr_log_info("/healthz answered %d after %llu ms behind %d half-sent "
                "requests", st, (unsigned long long)waited, SLOW);
    cr_assert_eq(st, 200);
    cr_assert(waited < 2000, "/healthz waited %llu ms",
              (unsigned long long)waited);

    /* Each half-sent request is closed a few seconds after it began. */
    for (int i = 0; i < SLOW; i++) {
        cr_assert(h_wait_closed(fd[i], 10000), "connection %d still open", i);
        close(fd[i]);
        last = h_now_ms() - t_sent;
    }
    cr_assert(last >= 2500 && last < 8000, "the last half-sent request was "
              "closed after %llu ms", (unsigned long long)last);

    /* Bytes trickling in do not extend a request's deadline. */
    trickle = h_connect(hport);
    t0 = h_now_ms();
    for (size_t i = 0; i < strlen(half); i++) {
        struct pollfd p = {.fd = trickle, .events = POLLIN};

        if (send(trickle, half + i, 1, MSG_NOSIGNAL) != 1 ||
            poll(&p, 1, 250) != 0) {
            break;
        }
    }
    cr_assert(h_wait_closed(trickle, 10000), "the trickler is still open");
    waited = h_now_ms() - t0;
    cr_assert(waited >= 2500 && waited < 6000, "the trickler was closed "
              "after %llu ms", (unsigned long long)waited);
    close(trickle);
    cr_assert_eq(healthz(hport, 5000), 200);
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

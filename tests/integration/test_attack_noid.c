/* SPDX-License-Identifier: MIT */
/*
 * test_attack_noid.c -- links without transaction ids under attack: a
 * Modbus TCP device with check_tid = no, an RS485 bus (rtu) and the same
 * bus behind a serial device server (rtu_tcp), each sending every answer
 * twice; answers that repeat the request or begin like it (FC 8
 * sub-function 0, FC 21, FC 15 and FC 16 echoes whose CRC repeats the
 * request's next bytes, a read whose data repeat the request frame), on a
 * quiet line and on one that hears itself; what the counters and the trace
 * log tell about the bytes on a bus.
 *
 * Each client reads registers of its own, so the values sim_map.h gives
 * for them tell whose answer it got: an answer handed to another request
 * shows as wrong values, not only as a counter.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "sim_map.h"

#define SRV "[server]\nlisten = 127.0.0.1:0\nlog_level = %s\n" \
            "request_timeout_ms = 3000\n"
#define N_CLIENTS 6

TestSuite(attack_noid, .fini = h_cleanup, .timeout = 120);

/* One client: <n> reads of 2 holding registers of unit 1, each at an
 * address no other read uses. */
struct noid_client {
    int      port;
    int      index;
    int      n;
    unsigned good, wrong, exceptions, lost;
    char     why[160];
};

static void *
noid_client_run(void *arg)
{
    struct noid_client *c = arg;
    int fd = h_connect(c->port);
    uint16_t v[2];

    for (int k = 0; k < c->n && fd >= 0; k++) {
        uint16_t addr = (uint16_t)(c->index * 1000 + k * 2);
        int rc = h_read_tid(fd, (uint16_t)(k + 1), 1, 3, addr, 2, v, 5000);

        if (rc == 0 && h_check_regs(1, 3, addr, 2, v)) {
            c->good++;
        } else if (rc == 0) {
            c->wrong++;
            snprintf(c->why, sizeof(c->why), "read of %u got %u, %u", addr,
                     v[0], v[1]);
        } else if (rc > 0) {
            c->exceptions++;
        } else {
            c->lost++;
            break;              /* out of step: the connection is useless */
        }
    }
    if (fd >= 0) {
        close(fd);
    }
    return NULL;
}

/* N_CLIENTS clients at once, <n> reads each, through the proxy on <port>.
 * Returns the number of wrong answers; logs the counts under <what>. */
static unsigned
noid_run(int port, int n, const char *what, unsigned *good)
{
    pthread_t th[N_CLIENTS];
    struct noid_client c[N_CLIENTS];
    unsigned wrong = 0, exc = 0, lost = 0;
    const char *why = "";

    *good = 0;
    for (int i = 0; i < N_CLIENTS; i++) {
        c[i] = (struct noid_client){.port = port, .index = i + 1, .n = n};
        pthread_create(&th[i], NULL, noid_client_run, &c[i]);
    }
    for (int i = 0; i < N_CLIENTS; i++) {
        pthread_join(th[i], NULL);
        *good += c[i].good;
        wrong += c[i].wrong;
        exc += c[i].exceptions;
        lost += c[i].lost;
        why = c[i].wrong > 0 ? c[i].why : why;
    }
    cr_log_info("%s: %u of %d answers wrong, %u right, %u exceptions, %u "
                "lost %s", what, wrong, N_CLIENTS * n, *good, exc, lost, why);
    return wrong;
}

/* --- 5: every answer twice ------------------------------------------------ */

/* A Modbus TCP device (or gateway) that sends each answer twice, both in
 * one segment: the proxy must read the second as what it is before the
 * next request goes out. settle_ms = 0 leaves that to the parsing alone. */
Test(attack_noid, tcp_without_tids_answer_twice_in_one_segment)
{
    struct sim s;
    struct mux m;
    unsigned good;

    cr_assert_eq(h_sim_start(&s, "--units 1 --duplicate-ms 0"), 0);
    cr_assert_eq(h_mux_start(&m, SRV "[backend dev]\ntype = tcp\nhost = "
                 "127.0.0.1\nport = %d\ncheck_tid = no\nmin_spacing_ms = 0\n"
                 "settle_ms = 0\n[route]\n1 = dev\n", "info", s.port), 0);
    cr_assert(h_wait_file(m.p.err, "B:dev: connected", 5000, NULL, 0));
    cr_assert_eq(noid_run(m.port, 50, "tcp, check_tid = no, copy in the "
                          "same segment", &good), 0,
                 "answers handed to another client's request");
    cr_assert_eq(good, N_CLIENTS * 50);
    cr_assert_eq(h_mux_stop(&m), 0);
    cr_assert_eq(h_mux_backend_stat(&m, "dev", "duplicates"),
                 h_sim_stat(&s, "duplicates"), "every copy dropped and "
                 "counted");
    h_proc_stop(&s.p, SIGTERM, 5000);
}

/* The copy 30 ms after the answer, min_spacing_ms = 0: only a quiet line
 * after each answer (settle_ms) lets it come while nothing is asked. The
 * tests give settle_ms 150, not its default 50: a loaded machine (ASan,
 * another test) can delay the copy well past 50 ms, which would make the
 * test about the machine's load, not about the mechanism. */
Test(attack_noid, tcp_without_tids_answer_twice_30ms_apart)
{
    struct sim s;
    struct mux m;
    unsigned good;
    long dups;

    cr_assert_eq(h_sim_start(&s, "--units 1 --duplicate-ms 30"), 0);
    cr_assert_eq(h_mux_start(&m, SRV "[backend dev]\ntype = tcp\nhost = "
                 "127.0.0.1\nport = %d\ncheck_tid = no\nmin_spacing_ms = 0\n"
                 "settle_ms = 150\n[route]\n1 = dev\n", "info", s.port), 0);
    cr_assert(h_wait_file(m.p.err, "B:dev: connected", 5000, NULL, 0));
    cr_assert_eq(noid_run(m.port, 10, "tcp, check_tid = no, copy 30 ms "
                          "later", &good), 0,
                 "answers handed to another client's request");
    cr_assert_eq(good, N_CLIENTS * 10);
    cr_assert_eq(h_mux_stop(&m), 0);
    dups = h_mux_backend_stat(&m, "dev", "duplicates");
    cr_assert(dups >= N_CLIENTS * 10 - 1, "copies counted: %ld", dups);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

Test(attack_noid, rtu_answer_twice_30ms_apart)
{
    struct rtu_sim s;
    struct mux m;
    unsigned good;
    long dups;

    cr_assert_eq(h_rtu_start(&s, "--unit 1:generic --duplicate-ms 30"), 0);
    cr_assert_eq(h_mux_start(&m, SRV "[backend bus]\ntype = rtu\ndevice = "
                 "%s\nmin_spacing_ms = 0\nsettle_ms = 150\n[route]\n"
                 "1 = bus\n", "info", s.link), 0);
    cr_assert(h_wait_file(m.p.err, "B:bus: connected", 10000, NULL, 0));
    cr_assert_eq(noid_run(m.port, 10, "rtu, copy 30 ms later", &good), 0,
                 "answers handed to another client's request");
    cr_assert_eq(good, N_CLIENTS * 10);
    cr_assert_eq(h_mux_stop(&m), 0);
    /* The last copy comes after the last request: nobody drains it. */
    dups = h_mux_backend_stat(&m, "bus", "duplicates");
    cr_assert(dups >= N_CLIENTS * 10 - 1, "copies counted: %ld", dups);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

Test(attack_noid, rtu_tcp_answer_twice_30ms_apart)
{
    struct rtu_sim s;
    struct proc gw;
    struct mux m;
    unsigned good;
    long dups;
    int port;

    cr_assert_eq(h_rtu_start(&s, "--unit 1:generic --duplicate-ms 30"), 0);
    port = h_serial_server(&gw, s.link);
    cr_assert_eq(h_mux_start(&m, SRV "[backend gw]\ntype = rtu_tcp\nhost = "
                 "127.0.0.1\nport = %d\nmin_spacing_ms = 0\nsettle_ms = 150\n"
                 "[route]\n1 = gw\n", "info", port), 0);
    cr_assert(h_wait_file(m.p.err, "B:gw: connected", 10000, NULL, 0));
    cr_assert_eq(noid_run(m.port, 10, "rtu_tcp, copy 30 ms later", &good),
                 0, "answers handed to another client's request");
    cr_assert_eq(good, N_CLIENTS * 10);
    cr_assert_eq(h_mux_stop(&m), 0);
    dups = h_mux_backend_stat(&m, "gw", "duplicates");
    cr_assert(dups >= N_CLIENTS * 10 - 1, "copies counted: %ld", dups);
    h_proc_stop(&gw, SIGTERM, 3000);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

/* Both copies at once on a bus behind a serial server: they come in one
 * TCP read, the second after the end of the first frame. */
Test(attack_noid, rtu_tcp_answer_twice_at_once)
{
    struct rtu_sim s;
    struct proc gw;
    struct mux m;
    unsigned good;
    int port;

    cr_assert_eq(h_rtu_start(&s, "--unit 1:generic --duplicate-ms 0"), 0);
    port = h_serial_server(&gw, s.link);
    cr_assert_eq(h_mux_start(&m, SRV "[backend gw]\ntype = rtu_tcp\nhost = "
                 "127.0.0.1\nport = %d\nmin_spacing_ms = 0\nsettle_ms = 0\n"
                 "[route]\n1 = gw\n", "info", port), 0);
    cr_assert(h_wait_file(m.p.err, "B:gw: connected", 10000, NULL, 0));
    cr_assert_eq(noid_run(m.port, 30, "rtu_tcp, copy at once", &good), 0,
                 "answers handed to another client's request");
    cr_assert_eq(good, N_CLIENTS * 30);
    cr_assert_eq(h_mux_stop(&m), 0);
    /* Each copy was read with its answer: counted, not just lost. */
    cr_assert_eq(h_mux_backend_stat(&m, "gw", "duplicates"),
                 h_rtu_stat(&s, "duplicates"));
    cr_assert_eq(h_mux_backend_stat(&m, "gw", "stray_bytes"),
                 h_rtu_stat(&s, "duplicates") * 9, "9 bytes a copy");
    h_proc_stop(&gw, SIGTERM, 3000);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

/* --- 6: answers that repeat the request, or begin like it ----------------- */

/* Send <pdu> (<len> bytes) to unit 1 on <fd> and receive the answer's PDU
 * into <rsp>. Returns its length, or -1. */
static int
transact(int fd, uint16_t tid, const uint8_t *pdu, size_t len, uint8_t *rsp)
{
    uint8_t q[300], f[300];
    int n;

    q[0] = (uint8_t)(tid >> 8);
    q[1] = (uint8_t)tid;
    q[2] = q[3] = 0;
    q[4] = (uint8_t)((len + 1) >> 8);
    q[5] = (uint8_t)(len + 1);
    q[6] = 1;
    memcpy(q + 7, pdu, len);
    if (h_send(fd, q, 7 + len) != 0) {
        return -1;
    }
    n = h_recv_frame(fd, f, sizeof(f), 5000);
    if (n < 9 || (f[0] << 8 | f[1]) != tid) {
        return -1;
    }
    memcpy(rsp, f + 7, (size_t)n - 7);
    return n - 7;
}

/* What the device answers to each of the requests below. */
struct repeat_case {
    const char *what;
    uint8_t     req[32];
    size_t      req_len;
    uint8_t     rsp[32];
    size_t      rsp_len;
};

static const struct repeat_case repeat_cases[] = {
    {"FC 8 return query data", {8, 0, 0, 0x12, 0x34}, 5,
     {8, 0, 0, 0x12, 0x34}, 5},
    {"FC 21 write file record", {21, 11, 6, 0, 4, 0, 7, 0, 2, 0xAB, 0xCD,
     0x01, 0x02}, 13, {21, 11, 6, 0, 4, 0, 7, 0, 2, 0xAB, 0xCD, 0x01, 0x02},
     13},
    /* frame 01 10 08 10 00 01 02 6c 00 ..: the answer's CRC is 02 6c */
    {"FC 16 of 0x6C00 at 2064", {16, 0x08, 0x10, 0, 1, 2, 0x6C, 0x00}, 8,
     {16, 0x08, 0x10, 0, 1}, 5},
    /* frame 01 0f 10 01 00 04 01 08 ..: the answer's CRC is 01 08 */
    {"FC 15 of 4 coils at 4097", {15, 0x10, 0x01, 0, 4, 1, 0x08}, 7,
     {15, 0x10, 0x01, 0, 4}, 5},
    {"FC 16 of 0x0000 0x02C5 at 1024", {16, 0x04, 0x00, 0, 2, 4, 0, 0, 0x02,
     0xC5}, 10, {16, 0x04, 0x00, 0, 2}, 5},
    /* frame 01 03 04 00 00 02 c5 3b; answer 01 03 04 00 00 02 c5 3b 00 */
    {"FC 3 of 2 at 1024 holding 0x0000 0x02C5", {3, 0x04, 0x00, 0, 2}, 5,
     {3, 4, 0, 0, 0x02, 0xC5}, 6},
};

/* Every repeat_case through the proxy on <port>: the device's answer each
 * time. */
static void
repeat_cases_run(int port, const char *line)
{
    int fd = h_connect(port);
    uint8_t rsp[300];

    cr_assert(fd >= 0);
    for (size_t i = 0; i < sizeof(repeat_cases) / sizeof(repeat_cases[0]);
         i++) {
        const struct repeat_case *c = &repeat_cases[i];
        int n = transact(fd, (uint16_t)(i + 1), c->req, c->req_len, rsp);

        cr_assert(n > 0, "%s, %s: no answer", line, c->what);
        cr_assert(n == (int)c->rsp_len && memcmp(rsp, c->rsp, c->rsp_len) == 0,
                  "%s, %s: got fc 0x%02X (%d bytes), code 0x%02X", line,
                  c->what, rsp[0], n, n > 1 ? rsp[1] : 0);
    }
    close(fd);
}

/* A bus that does not hear itself (echo = no, the default). */
Test(attack_noid, rtu_answers_that_repeat_the_request)
{
    struct rtu_sim s;
    struct mux m;

    cr_assert_eq(h_rtu_start(&s, "--unit 1:generic"), 0);
    cr_assert_eq(h_mux_start(&m, SRV "[backend bus]\ntype = rtu\ndevice = "
                 "%s\nretries = 0\n[route]\n1 = bus\n", "info", s.link), 0);
    cr_assert(h_wait_file(m.p.err, "B:bus: connected", 10000, NULL, 0));
    repeat_cases_run(m.port, "rtu, no echo");
    cr_assert_eq(h_mux_stop(&m), 0);
    cr_assert_eq(h_mux_backend_stat(&m, "bus", "ex_timeout"), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

/* echo = yes on a line that hears itself, and on one that does not: the
 * device's answer either way. */
Test(attack_noid, rtu_echo_yes_answers_that_repeat_the_request)
{
    struct rtu_sim s, quiet;
    struct mux m;

    cr_assert_eq(h_rtu_start(&s, "--unit 1:generic --echo"), 0);
    cr_assert_eq(h_rtu_start(&quiet, "--unit 1:generic"), 0);
    cr_assert_eq(h_mux_start(&m, SRV "[backend bus]\ntype = rtu\ndevice = "
                 "%s\necho = yes\nretries = 0\n[backend quiet]\ntype = rtu\n"
                 "device = %s\necho = yes\nretries = 0\n[route]\n1 = bus\n"
                 "2 = quiet:1\n", "info", s.link, quiet.link), 0);
    cr_assert(h_wait_file(m.p.err, "B:bus: connected", 10000, NULL, 0));
    cr_assert(h_wait_file(m.p.err, "B:quiet: connected", 5000, NULL, 0));
    repeat_cases_run(m.port, "rtu, echo");
    /* unit 2 is the same device on a line without echo */
    {
        int fd = h_connect(m.port);
        uint8_t q[12] = {0, 9, 0, 0, 0, 6, 2, 8, 0, 0, 0x12, 0x34};
        uint8_t f[300];

        cr_assert_eq(h_send(fd, q, sizeof(q)), 0);
        cr_assert_eq(h_recv_frame(fd, f, sizeof(f), 5000), 12);
        cr_assert_eq(memcmp(f + 7, q + 7, 5), 0, "FC 8 answered");
        close(fd);
    }
    cr_assert_eq(h_mux_stop(&m), 0);
    cr_assert_eq(h_mux_backend_stat(&m, "bus", "ex_timeout"), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
    h_proc_stop(&quiet.p, SIGTERM, 5000);
}

Test(attack_noid, rtu_tcp_echo_yes_answers_that_repeat_the_request)
{
    struct rtu_sim s;
    struct proc gw;
    struct mux m;
    int port;

    cr_assert_eq(h_rtu_start(&s, "--unit 1:generic --echo"), 0);
    port = h_serial_server(&gw, s.link);
    cr_assert_eq(h_mux_start(&m, SRV "[backend gw]\ntype = rtu_tcp\nhost = "
                 "127.0.0.1\nport = %d\necho = yes\nretries = 0\n[route]\n"
                 "1 = gw\n", "info", port), 0);
    cr_assert(h_wait_file(m.p.err, "B:gw: connected", 10000, NULL, 0));
    repeat_cases_run(m.port, "rtu_tcp, echo");
    cr_assert_eq(h_mux_stop(&m), 0);
    cr_assert_eq(h_mux_backend_stat(&m, "gw", "ex_timeout"), 0);
    h_proc_stop(&gw, SIGTERM, 3000);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

/* --- 15: counters and the trace log --------------------------------------- */

/* A bad CRC on a bus behind a serial server is a bad response, judged
 * when the line falls silent, not a timeout a second later. */
Test(attack_noid, rtu_tcp_bad_crc_is_a_bad_response)
{
    struct rtu_sim s;
    struct proc gw;
    struct mux m;
    uint16_t v[2];
    uint64_t t0;
    int fd, port, rc;

    cr_assert_eq(h_rtu_start(&s, "--unit 1:generic --corrupt-crc 1:1"), 0);
    port = h_serial_server(&gw, s.link);
    cr_assert_eq(h_mux_start(&m, SRV "[backend gw]\ntype = rtu_tcp\nhost = "
                 "127.0.0.1\nport = %d\ntimeout_ms = 2000\nretries = 0\n"
                 "byte_timeout_ms = 100\n[route]\n1 = gw\n", "info", port), 0);
    cr_assert(h_wait_file(m.p.err, "B:gw: connected", 10000, NULL, 0));
    fd = h_connect(m.port);
    t0 = h_now_ms();
    rc = h_read(fd, 1, 3, 10, 2, v, 5000);
    cr_assert_eq(rc, 0x0B, "a write would not be retried either: %d", rc);
    cr_log_info("bad CRC answered with 0x0B after %llu ms",
                (unsigned long long)(h_now_ms() - t0));
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    cr_assert_eq(h_mux_backend_stat(&m, "gw", "bad_responses"), 1);
    cr_assert_eq(h_mux_backend_stat(&m, "gw", "timeouts"), 0);
    cr_assert(h_file_contains(m.p.err, "bad response: bad CRC"));
    h_proc_stop(&gw, SIGTERM, 3000);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

/* Bytes skipped before a good answer (noise, the echo) are stray bytes:
 * 3 of noise and the 8-byte echo of each read. */
static void
stray_bytes_counted(const char *type_keys, bool gateway)
{
    struct rtu_sim s;
    struct proc gw;
    struct mux m;
    uint16_t v[2];
    int fd, port = 0;

    cr_assert_eq(h_rtu_start(&s, "--unit 1:generic --echo "
                 "--garbage-before 3"), 0);
    if (gateway) {
        port = h_serial_server(&gw, s.link);
        cr_assert_eq(h_mux_start(&m, SRV "[backend bus]\n%s%d\necho = yes\n"
                     "[route]\n1 = bus\n", "info", type_keys, port), 0);
    } else {
        cr_assert_eq(h_mux_start(&m, SRV "[backend bus]\n%s%s\necho = yes\n"
                     "[route]\n1 = bus\n", "info", type_keys, s.link), 0);
    }
    cr_assert(h_wait_file(m.p.err, "B:bus: connected", 10000, NULL, 0));
    fd = h_connect(m.port);
    for (int i = 0; i < 20; i++) {
        cr_assert_eq(h_read(fd, 1, 3, (uint16_t)(100 + i), 2, v, 5000), 0);
        cr_assert(h_check_regs(1, 3, (uint16_t)(100 + i), 2, v));
    }
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    cr_assert_eq(h_mux_backend_stat(&m, "bus", "stray_bytes"), 20 * (8 + 3));
    if (gateway) {
        h_proc_stop(&gw, SIGTERM, 3000);
    }
    h_proc_stop(&s.p, SIGTERM, 5000);
}

Test(attack_noid, rtu_stray_bytes_before_a_good_answer)
{
    stray_bytes_counted("type = rtu\ndevice = ", false);
}

Test(attack_noid, rtu_tcp_stray_bytes_before_a_good_answer)
{
    stray_bytes_counted("type = rtu_tcp\nhost = 127.0.0.1\nport = ", true);
}

/* log_level = trace dumps the bytes on the bus both ways, the echo and
 * the noise included. */
Test(attack_noid, trace_dumps_the_bus_bytes)
{
    struct rtu_sim s, s2;
    struct proc gw;
    struct mux m;
    uint16_t v[2];
    int fd, port;

    cr_assert_eq(h_rtu_start(&s, "--unit 1:generic --echo"), 0);
    cr_assert_eq(h_rtu_start(&s2, "--unit 1:generic"), 0);
    port = h_serial_server(&gw, s2.link);
    cr_assert_eq(h_mux_start(&m, SRV "[backend bus]\ntype = rtu\ndevice = "
                 "%s\necho = yes\n[backend gw]\ntype = rtu_tcp\nhost = "
                 "127.0.0.1\nport = %d\n[route]\n1 = bus\n2 = gw:1\n",
                 "trace", s.link, port), 0);
    cr_assert(h_wait_file(m.p.err, "B:bus: connected", 10000, NULL, 0));
    cr_assert(h_wait_file(m.p.err, "B:gw: connected", 10000, NULL, 0));
    fd = h_connect(m.port);
    /* 01 03 00 0a 00 02 e4 09: read 2 at 10 */
    cr_assert_eq(h_read(fd, 1, 3, 10, 2, v, 5000), 0);
    cr_assert_eq(h_read(fd, 2, 3, 10, 2, v, 5000), 0);
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    cr_assert(h_file_contains(m.p.err, "B:bus: tx [8] 01 03 00 0a 00 02 e4 "
                              "09"), "rtu: what was sent");
    /* the echo, then 01 03 04 03 f2 03 f3 + CRC (1010, 1011) */
    cr_assert(h_file_contains(m.p.err, "B:bus: rx [17] 01 03 00 0a 00 02 e4 "
                              "09 01 03 04 03 f2 03 f3"),
              "rtu: what came back, echo included");
    cr_assert(h_file_contains(m.p.err, "B:gw: tx [8] 01 03 00 0a 00 02 e4 "
                              "09"), "rtu_tcp: what was sent");
    cr_assert(h_file_contains(m.p.err, "B:gw: rx [9] 01 03 04 03 f2 03 f3"),
              "rtu_tcp: what came back");
    h_proc_stop(&gw, SIGTERM, 3000);
    h_proc_stop(&s.p, SIGTERM, 5000);
    h_proc_stop(&s2.p, SIGTERM, 5000);
}

/* --- the two keys --------------------------------------------------------- */

/* echo and settle_ms: checked like their neighbours, file:line first. */
Test(attack_noid, echo_and_settle_ms_are_checked)
{
    char ini[600], log[600], cmd[1400];
    static const char *const want[] = {
        "noid.ini:5: [backend a] settle_ms: invalid value \"70000\" "
        "(expected 0..60000)",
        "noid.ini:6: [backend a] echo: not a key of type tcp",
        "noid.ini:10: [backend b] echo: invalid value \"maybe\" (expected "
        "yes or no)",
    };

    snprintf(ini, sizeof(ini), "%s/noid.ini", h_dir());
    snprintf(log, sizeof(log), "%s/noid.log", h_dir());
    cr_assert_eq(h_write_file(ini, "[server]\n[backend a]\ntype = tcp\n"
                 "host = x\nsettle_ms = 70000\necho = yes\n[backend b]\n"
                 "type = rtu\ndevice = /dev/null\necho = maybe\n[route]\n"
                 "1 = a\n2 = b\n"), 0);
    snprintf(cmd, sizeof(cmd), "cd %s && %s --check-config -c noid.ini "
             ">/dev/null 2>%s", h_dir(), MUX_BIN, log);
    cr_assert_neq(system(cmd), 0);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        cr_assert(h_file_contains(log, want[i]), "missing: %s", want[i]);
    }
    cr_assert_eq(h_write_file(ini, "[server]\n[backend b]\ntype = rtu_tcp\n"
                 "host = x\necho = yes\nsettle_ms = 0\n[route]\n1 = b\n"), 0);
    cr_assert_eq(system(cmd), 0, "valid: see %s", log);
}

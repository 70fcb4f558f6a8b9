/* SPDX-License-Identifier: MIT */
/*
 * test_attack_client.c -- what one client may do to the others, or to
 * itself (issue 10, items 12 to 16): trickle a frame that never ends while
 * every slot is taken, half-close its socket with requests outstanding,
 * pipeline identical reads and expect the answers in the order it asked,
 * send a bad protocol id; and the trace log of the answers sent back.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "sim_map.h"

#define HEAD "[server]\nlisten = 127.0.0.1:0\nlog_level = debug\n"
#define DEV  "[backend dev]\ntype = tcp\nhost = 127.0.0.1\nport = %d\n"

/* SESSION_FRAME_MS in proxy/session.h: how long a started frame may take. */
#define FRAME_MS 5000

TestSuite(client_attack, .fini = h_cleanup, .timeout = 90);

/* --- 12. a frame trickled a byte at a time ------------------------------- */

#define N_TRICKLE 50

struct trickler {
    int        *fd;
    int         n;
    atomic_bool stop;
};

/* A header announcing a 254-byte PDU, then its bytes, one every 500 ms to
 * each connection: the frame would take 130 s to finish. */
static void *
trickle_run(void *arg)
{
    static const uint8_t head[7] = {0, 1, 0, 0, 0, 254, 1};
    struct trickler *t = arg;
    unsigned sent = 0;

    while (!atomic_load(&t->stop)) {
        uint8_t b = sent < sizeof(head) ? head[sent] : 3;

        for (int i = 0; i < t->n; i++) {
            send(t->fd[i], &b, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        sent++;
        for (int k = 0; k < 50 && !atomic_load(&t->stop); k++) {
            h_sleep_ms(10);
        }
    }
    return NULL;
}

Test(client_attack, a_trickled_frame_is_closed_at_its_deadline)
{
    struct sim s;
    struct mux m;
    struct trickler t = {.n = N_TRICKLE};
    int fd[N_TRICKLE], c, open = 0;
    pthread_t th;
    uint64_t t0, dt;
    uint16_t v[1];

    cr_assert_eq(h_sim_start(&s, "--units 1"), 0);
    /* idle_timeout_s is on: a byte every 500 ms keeps a client from ever
     * being idle, which is the hole. */
    cr_assert_eq(h_mux_start(&m, HEAD "max_clients = %d\nidle_timeout_s = 2\n"
                 DEV "[route]\n1 = dev\n", N_TRICKLE, s.port), 0);
    for (int i = 0; i < N_TRICKLE; i++) {
        fd[i] = h_connect(m.port);
        cr_assert(fd[i] >= 0);
    }
    t.fd = fd;
    t0 = h_now_ms();
    pthread_create(&th, NULL, trickle_run, &t);
    /* Every slot is taken: a legitimate client is turned away. */
    cr_assert(h_wait_file(m.p.err, "connected (50 clients)", 5000, NULL, 0));
    c = h_connect(m.port);
    cr_assert(h_wait_closed(c, 3000), "refused at max_clients");
    close(c);
    for (int i = 0; i < N_TRICKLE; i++) {
        uint64_t end = t0 + FRAME_MS + 15000, now = h_now_ms();

        if (!h_wait_closed(fd[i], now < end ? (int)(end - now) : 0)) {
            open++;
        }
    }
    dt = h_now_ms() - t0;
    atomic_store(&t.stop, true);
    pthread_join(th, NULL);
    cr_assert_eq(open, 0, "%d of %d trickling clients still connected after "
                 "%llu ms", open, N_TRICKLE, (unsigned long long)dt);
    cr_assert(dt >= FRAME_MS - 100, "closed after %llu ms, before the frame "
              "deadline", (unsigned long long)dt);
    cr_assert(h_file_contains(m.p.err, "frame unfinished after"));
    /* The slots are free again. */
    c = h_connect(m.port);
    cr_assert_eq(h_read(c, 1, 3, 2, 1, v, 3000), 0, "a client gets in");
    cr_assert(h_check_regs(1, 3, 2, 1, v));
    close(c);
    for (int i = 0; i < N_TRICKLE; i++) {
        close(fd[i]);
    }
    cr_assert_eq(h_mux_stop(&m), 0);
    cr_assert_eq(h_mux_stat(&m, "clients_closed_slow"), N_TRICKLE);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

/* A frame in two pieces a second apart is served; a client whose reading
 * is paused (client_max_pending reached, the device slow) with half a
 * frame read is not the one that is slow, and keeps its connection past
 * the frame deadline. */
Test(client_attack, a_slow_device_never_makes_a_client_too_slow)
{
    struct sim slow, fast;
    struct mux m;
    /* A read of unit 1 (the slow device), then half a read of unit 2. */
    uint8_t two[12 + 12] = {0, 1, 0, 0, 0, 6, 1, 3, 0, 2, 0, 1,
                            0, 2, 0, 0, 0, 6, 2, 3, 0, 3, 0, 1};
    uint8_t f[300];
    uint64_t t0;
    int fd;

    cr_assert_eq(h_sim_start(&slow, "--units 1 --delay-ms 6000"), 0);
    cr_assert_eq(h_sim_start(&fast, "--units 1"), 0);
    cr_assert_eq(h_mux_start(&m, HEAD "client_max_pending = 1\n"
                 "request_timeout_ms = 20000\n"
                 "[backend slow]\ntype = tcp\nhost = 127.0.0.1\nport = %d\n"
                 "timeout_ms = 15000\n"
                 "[backend fast]\ntype = tcp\nhost = 127.0.0.1\nport = %d\n"
                 "[route]\n1 = slow\n2 = fast:1\n", slow.port, fast.port), 0);
    fd = h_connect(m.port);
    cr_assert_eq(h_send(fd, two, 6), 0);
    h_sleep_ms(1000);
    cr_assert_eq(h_send(fd, two + 6, 6 + 5), 0);
    t0 = h_now_ms();
    cr_assert_eq(h_recv_frame(fd, f, sizeof(f), 15000), 11,
                 "the read sent in two pieces is answered");
    cr_assert(h_now_ms() - t0 >= FRAME_MS, "the device took its 6 s");
    cr_assert_eq(f[1], 1);
    cr_assert_eq(h_send(fd, two + 12 + 5, 12 - 5), 0);
    cr_assert_eq(h_recv_frame(fd, f, sizeof(f), 5000), 11,
                 "the half frame held while paused was not held against it");
    cr_assert_eq(f[1], 2);
    cr_assert_eq((f[9] << 8 | f[10]), sim_holding(1, 3));
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    cr_assert_eq(h_mux_stat(&m, "clients_closed_slow"), 0);
    h_proc_stop(&slow.p, SIGTERM, 5000);
    h_proc_stop(&fast.p, SIGTERM, 5000);
}

/* --- 14. a client that half-closes --------------------------------------- */

Test(client_attack, a_half_closed_client_gets_every_answer)
{
    struct sim s;
    struct mux m;
    uint8_t f[300];
    int fd;

    cr_assert_eq(h_sim_start(&s, "--units 1 --delay-ms 200"), 0);
    cr_assert_eq(h_mux_start(&m, HEAD DEV "[route]\n1 = dev\n", s.port), 0);
    fd = h_connect(m.port);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(h_send_read(fd, (uint16_t)(10 + i), 1, 3,
                                 (uint16_t)(5 + i), 1), 0);
    }
    cr_assert_eq(shutdown(fd, SHUT_WR), 0);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(h_recv_frame(fd, f, sizeof(f), 5000), 11,
                     "answer %d of 3 after the client's end of input", i + 1);
        cr_assert_eq(f[1], 10 + i);
        cr_assert_eq((f[9] << 8 | f[10]), sim_holding(1, 5 + (unsigned)i));
    }
    cr_assert(h_wait_closed(fd, 3000), "closed once all was written");
    cr_assert(h_wait_file(m.p.err, "closed by the client", 3000, NULL, 0));
    cr_assert_not(h_file_contains(m.p.err, "reply dropped"));
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

/* The issue's own command, printf REQUEST | socat -t2 - TCP:HOST:PORT, with
 * more time to wait for the answer on a loaded machine. */
Test(client_attack, socat_with_its_input_at_end_gets_the_answer)
{
    static const uint8_t req[12] = {0, 7, 0, 0, 0, 6, 1, 3, 0, 4, 0, 1};
    struct sim s;
    struct mux m;
    char in[512], out[512], cmd[2048];
    uint8_t f[64];
    FILE *fp;
    size_t n;

    cr_assert_eq(h_sim_start(&s, "--units 1 --delay-ms 100"), 0);
    cr_assert_eq(h_mux_start(&m, HEAD DEV "[route]\n1 = dev\n", s.port), 0);
    snprintf(in, sizeof(in), "%s/socat.in", h_dir());
    snprintf(out, sizeof(out), "%s/socat.out", h_dir());
    fp = fopen(in, "wb");
    cr_assert_not_null(fp);
    cr_assert_eq(fwrite(req, 1, sizeof(req), fp), sizeof(req));
    fclose(fp);
    snprintf(cmd, sizeof(cmd), "socat -t5 - TCP:127.0.0.1:%d < '%s' > '%s'",
             m.port, in, out);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    fp = fopen(out, "rb");
    cr_assert_not_null(fp);
    n = fread(f, 1, sizeof(f), fp);
    fclose(fp);
    cr_assert_eq(n, 11, "socat got %zu bytes", n);
    cr_assert_eq(f[1], 7);
    cr_assert_eq(f[7], 3);
    cr_assert_eq((f[9] << 8 | f[10]), sim_holding(1, 4));
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

/* --- 16. the order of answers on one connection -------------------------- */

/* Receive <n> answers on <fd> and put their transaction ids in <tids>. */
static void
recv_tids(int fd, uint16_t *tids, int n, int timeout_ms)
{
    uint8_t f[300];

    for (int i = 0; i < n; i++) {
        cr_assert_gt(h_recv_frame(fd, f, sizeof(f), timeout_ms), 8,
                     "answer %d of %d", i + 1, n);
        tids[i] = (uint16_t)(f[0] << 8 | f[1]);
    }
}

Test(client_attack, identical_reads_are_answered_in_the_order_asked)
{
    struct sim s;
    struct mux m;
    uint16_t tid[3];
    int fd;

    cr_assert_eq(h_sim_start(&s, "--units 1 --delay-ms 100"), 0);
    cr_assert_eq(h_mux_start(&m, HEAD DEV "[route]\n1 = dev\n", s.port), 0);
    fd = h_connect(m.port);
    /* A, B, A: the second A rides on the first (one transaction). */
    cr_assert_eq(h_send_read(fd, 1, 1, 3, 10, 2), 0);
    cr_assert_eq(h_send_read(fd, 2, 1, 3, 20, 2), 0);
    cr_assert_eq(h_send_read(fd, 3, 1, 3, 10, 2), 0);
    recv_tids(fd, tid, 3, 5000);
    cr_assert(tid[0] == 1 && tid[1] == 2 && tid[2] == 3,
              "answers came as tids %u, %u, %u", tid[0], tid[1], tid[2]);
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    cr_assert(h_mux_backend_stat(&m, "dev", "coalesced") >= 1,
              "the reads were still shared");
    h_proc_stop(&s.p, SIGTERM, 5000);
}

Test(client_attack, a_cache_hit_waits_for_the_read_asked_before_it)
{
    struct sim s;
    struct mux m;
    uint16_t tid[3], v[2];
    int fd;

    cr_assert_eq(h_sim_start(&s, "--units 1 --delay-ms 200"), 0);
    cr_assert_eq(h_mux_start(&m, HEAD DEV "cache_ttl_ms = 60000\n"
                 "[route]\n1 = dev\n", s.port), 0);
    fd = h_connect(m.port);
    cr_assert_eq(h_read(fd, 1, 3, 10, 2, v, 3000), 0, "fills the cache");
    cr_assert_eq(h_send_read(fd, 101, 1, 3, 30, 2), 0);    /* to the device */
    cr_assert_eq(h_send_read(fd, 102, 1, 3, 10, 2), 0);    /* a cache hit */
    cr_assert_eq(h_send_read(fd, 103, 1, 3, 11, 1), 0);    /* another */
    recv_tids(fd, tid, 3, 5000);
    cr_assert(tid[0] == 101 && tid[1] == 102 && tid[2] == 103,
              "answers came as tids %u, %u, %u", tid[0], tid[1], tid[2]);
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    cr_assert(h_mux_backend_stat(&m, "dev", "cache_hits") >= 2);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

/* A held answer completes exactly once: dropped with a client that resets,
 * written in order when the proxy drains on SIGTERM. */
Test(client_attack, held_answers_are_dropped_or_written_exactly_once)
{
    struct sim s;
    struct mux m;
    uint16_t tid[2], v[2];
    char why[160];
    int a, b;

    cr_assert_eq(h_sim_start(&s, "--units 1 --delay-ms 300"), 0);
    cr_assert_eq(h_mux_start(&m, HEAD DEV "cache_ttl_ms = 60000\n"
                 "[route]\n1 = dev\n", s.port), 0);
    a = h_connect(m.port);
    b = h_connect(m.port);
    cr_assert_eq(h_read(a, 1, 3, 10, 2, v, 3000), 0, "fills the cache");
    cr_assert_eq(h_send_read(a, 1, 1, 3, 30, 2), 0);    /* to the device */
    cr_assert_eq(h_send_read(a, 2, 1, 3, 10, 2), 0);    /* held behind it */
    cr_assert(h_wait_lines(m.p.err, "answer held for", 1, 3000));
    setsockopt(a, SOL_SOCKET, SO_LINGER, &(struct linger){1, 0},
               sizeof(struct linger));
    close(a);
    cr_assert_eq(h_send_read(b, 3, 1, 3, 40, 2), 0);
    cr_assert_eq(h_send_read(b, 4, 1, 3, 10, 2), 0);
    cr_assert(h_wait_lines(m.p.err, "answer held for", 2, 3000));
    kill(m.p.pid, SIGTERM);
    recv_tids(b, tid, 2, 5000);
    cr_assert(tid[0] == 3 && tid[1] == 4, "answers came as tids %u, %u",
              tid[0], tid[1]);
    cr_assert(h_wait_closed(b, 5000), "closed once drained");
    close(b);
    /* Signal 0: it stops by itself, and a second SIGTERM could land
     * after its handler is gone. */
    cr_assert_eq(h_proc_stop(&m.p, 0, 15000), 0, "clean exit (and no leak "
                 "under ASan)");
    cr_assert(h_mux_counters_balance(&m, why, sizeof(why)), "%s", why);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

/* Order is per backend: a client pipelining to two still gets the fast
 * one's answer first. */
Test(client_attack, a_slow_backend_does_not_hold_up_a_fast_one)
{
    struct sim slow, fast;
    struct mux m;
    uint8_t f[300];
    uint64_t t0, dt;
    int fd;

    cr_assert_eq(h_sim_start(&slow, "--units 1 --delay-ms 1500"), 0);
    cr_assert_eq(h_sim_start(&fast, "--units 1"), 0);
    cr_assert_eq(h_mux_start(&m, HEAD
                 "[backend slow]\ntype = tcp\nhost = 127.0.0.1\nport = %d\n"
                 "timeout_ms = 4000\n"
                 "[backend fast]\ntype = tcp\nhost = 127.0.0.1\nport = %d\n"
                 "[route]\n1 = slow\n2 = fast:1\n", slow.port, fast.port), 0);
    fd = h_connect(m.port);
    t0 = h_now_ms();
    cr_assert_eq(h_send_read(fd, 1, 1, 3, 10, 1), 0);
    cr_assert_eq(h_send_read(fd, 2, 2, 3, 10, 1), 0);
    cr_assert_eq(h_recv_frame(fd, f, sizeof(f), 5000), 11);
    dt = h_now_ms() - t0;
    cr_assert_eq(f[1], 2, "the fast backend's answer first");
    cr_assert(dt < 1400, "after %llu ms", (unsigned long long)dt);
    cr_assert_eq(h_recv_frame(fd, f, sizeof(f), 5000), 11);
    cr_assert_eq(f[1], 1);
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&slow.p, SIGTERM, 5000);
    h_proc_stop(&fast.p, SIGTERM, 5000);
}

/* --- 15. what the log says ----------------------------------------------- */

Test(client_attack, a_bad_protocol_id_is_logged_as_the_protocol_id)
{
    static const uint8_t bad[12] = {0, 1, 0x12, 0x34, 0, 6, 1, 3, 0, 0, 0, 1};
    struct sim s;
    struct mux m;
    int fd;

    cr_assert_eq(h_sim_start(&s, "--units 1"), 0);
    cr_assert_eq(h_mux_start(&m, HEAD DEV "[route]\n1 = dev\n", s.port), 0);
    fd = h_connect(m.port);
    cr_assert_eq(h_send(fd, bad, sizeof(bad)), 0);
    cr_assert(h_wait_closed(fd, 3000));
    cr_assert(h_wait_file(m.p.err, "bad MBAP protocol id 4660 (length 6, "
                          "tid 1)", 3000, NULL, 0), "see %s", m.p.err);
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

Test(client_attack, trace_dumps_the_answers_sent_to_clients)
{
    struct sim s;
    struct mux m;
    char want[64];
    uint8_t f[300];
    unsigned v = sim_holding(1, 2);
    int fd;

    cr_assert_eq(h_sim_start(&s, "--units 1"), 0);
    cr_assert_eq(h_mux_start(&m, "[server]\nlisten = 127.0.0.1:0\n"
                 "log_level = trace\n" DEV "[route]\n1 = dev\n", s.port), 0);
    fd = h_connect(m.port);
    cr_assert_eq(h_send_read(fd, 77, 1, 3, 2, 1), 0);
    cr_assert_eq(h_recv_frame(fd, f, sizeof(f), 3000), 11);
    snprintf(want, sizeof(want), "rsp [4] 03 02 %02x %02x", v >> 8, v & 0xFF);
    cr_assert(h_wait_file(m.p.err, "reply tid 77", 3000, NULL, 0));
    cr_assert(h_wait_file(m.p.err, want, 3000, NULL, 0), "no \"%s\" in %s",
              want, m.p.err);
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

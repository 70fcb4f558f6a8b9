/* SPDX-License-Identifier: MIT */
/*
 * test_listeners.c -- [listener NAME] sections on the real binary, against
 * the tcp simulator: each listener admits clients by its own allow, marks
 * them by its own read_only_clients (a write through a read-only listener
 * gets 0x01, through another it reaches the device), and refuses over its
 * own max_clients while [server] max_clients caps them all. /metrics names
 * each listener's series and /status shows its type. A reload adds and
 * removes a listener and changes a kept one's rules, which apply to the
 * clients already connected to it.
 */
#include <criterion/criterion.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define DEV "[backend dev]\ntype = tcp\nhost = 127.0.0.1\nport = %d\n" \
            "[route]\n1 = dev\n"

TestSuite(listeners, .fini = h_cleanup, .timeout = 60);

/* The simulator, logging each request to <log>. */
static void
sim_start(struct sim *s, char *log, size_t log_size)
{
    char args[700];

    snprintf(log, log_size, "%s/sim-%d-%llu.log", h_dir(), getpid(),
             (unsigned long long)h_now_ms());
    snprintf(args, sizeof(args), "--units 1 --log %s", log);
    cr_assert_eq(h_sim_start(s, args), 0);
}

/* Wait until the proxy listens on 127.0.0.1:<port> (its log says so). */
static void
wait_listening(const struct mux *m, int port)
{
    char needle[64];

    snprintf(needle, sizeof(needle), "listening on 127.0.0.1:%d", port);
    cr_assert(h_wait_file(m->p.err, needle, 5000, NULL, 0), "no \"%s\"",
              needle);
}

/* The whole answer to GET <path> on the HTTP endpoint at <port>, into
 * <buf>. */
static void
http_get(int port, const char *path, char *buf, size_t size)
{
    cr_assert_geq(h_http_get(port, path, buf, size), 0, "GET %s failed",
                  path);
}

/* Rewrite the proxy's file, SIGHUP it, wait for the <n>-th "reloaded". */
static void
reload(struct mux *m, const char *text, int n)
{
    cr_assert_eq(h_write_file(m->ini, text), 0);
    kill(m->p.pid, SIGHUP);
    cr_assert(h_wait_lines(m->p.err, "reloaded", n, 10000),
              "no reload #%d in the log", n);
}

Test(listeners, access_rules_per_listener)
{
    static char page[64 * 1024];
    int ro_port = h_free_port(), rw_port = h_free_port();
    int hport = h_free_port();
    struct sim s;
    struct mux m;
    char log[512], want[160];
    uint16_t v[1];
    int ro, ro2, rw, bad, plain;

    sim_start(&s, log, sizeof(log));
    cr_assert_eq(h_mux_start(&m, "[server]\nlisten = 127.0.0.1:0\n"
                             "log_level = debug\nhttp_listen = 127.0.0.1:%d\n"
                             "[listener ro]\nlisten = 127.0.0.1:%d\n"
                             "read_only_clients = 127.0.0.0/8\n"
                             "[listener rw]\ntype = modbus\n"
                             "listen = 127.0.0.1:%d\nallow = 127.0.0.1\n"
                             DEV, hport, ro_port, rw_port, s.port), 0);
    wait_listening(&m, rw_port);
    cr_assert(h_wait_file(m.p.err, "B:dev: connected", 5000, NULL, 0));

    ro = h_connect_from(ro_port, "127.0.0.1");
    cr_assert_eq(h_write1(ro, 1, 40, 9, 3000), 0x01, "read-only listener");
    cr_assert_eq(h_read(ro, 1, 3, 40, 1, v, 3000), 0, "reads pass");
    ro2 = h_connect_from(ro_port, "127.0.0.2");
    cr_assert_eq(h_read(ro2, 1, 3, 40, 1, v, 3000), 0,
                 "no allow of its own: [server]'s, which lets everyone in");
    rw = h_connect_from(rw_port, "127.0.0.1");
    cr_assert_eq(h_write1(rw, 1, 40, 9, 3000), 0, "the other listener");
    bad = h_connect_from(rw_port, "127.0.0.2");
    cr_assert(bad >= 0);
    cr_assert(h_wait_closed(bad, 3000), "not in rw's allow: closed");
    close(bad);
    plain = h_connect(m.port);
    cr_assert_eq(h_write1(plain, 1, 41, 7, 3000), 0, "[server] listen");
    cr_assert_eq(h_sim_count_fc(log, 6), 2, "two writes reached the device");

    http_get(hport, "/metrics", page, sizeof(page));
    snprintf(want, sizeof(want), "modbus_mux_listener_clients{listener="
             "\"ro\",listen=\"127.0.0.1:%d\"} 2\n", ro_port);
    cr_assert(strstr(page, want) != NULL, "no %s in:\n%s", want, page);
    snprintf(want, sizeof(want), "modbus_mux_listener_accepted_total{"
             "listener=\"rw\",listen=\"127.0.0.1:%d\"} 1\n", rw_port);
    cr_assert(strstr(page, want) != NULL, "no %s", want);
    snprintf(want, sizeof(want), "modbus_mux_listener_clients{listen="
             "\"127.0.0.1:%d\"} 1\n", m.port);
    cr_assert(strstr(page, want) != NULL, "[server] listen as before: %s",
              want);
    http_get(hport, "/status", page, sizeof(page));
    cr_assert(strstr(page, "<td>ro</td><td>modbus</td>") != NULL);
    cr_assert(strstr(page, "<td>[server]</td><td>modbus</td>") != NULL);

    close(ro);
    close(ro2);
    close(rw);
    close(plain);
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
    cr_assert(h_file_contains(m.p.err, "clients_denied=1"));
}

Test(listeners, max_clients_per_listener_and_in_all)
{
    int few_port = h_free_port();
    struct sim s;
    struct mux m;
    char log[512];
    uint16_t v[1];
    int few[3], srv[3], again = -1;

    sim_start(&s, log, sizeof(log));
    cr_assert_eq(h_mux_start(&m, "[server]\nlisten = 127.0.0.1:0\n"
                             "max_clients = 4\n[listener few]\n"
                             "listen = 127.0.0.1:%d\nmax_clients = 2\n" DEV,
                             few_port, s.port), 0);
    wait_listening(&m, few_port);
    for (int i = 0; i < 2; i++) {
        few[i] = h_connect(few_port);
        cr_assert_eq(h_read(few[i], 1, 3, 0, 1, v, 3000), 0, "few #%d", i);
    }
    few[2] = h_connect(few_port);
    cr_assert(few[2] >= 0);
    cr_assert(h_wait_closed(few[2], 3000), "a third on few: refused");
    cr_assert(h_wait_file(m.p.err, "listener few: its max_clients (2) "
                          "reached", 3000, NULL, 0));

    /* [server] listen is not limited by few's max_clients, only by the
     * proxy's 4 in all */
    for (int i = 0; i < 2; i++) {
        srv[i] = h_connect(m.port);
        cr_assert_eq(h_read(srv[i], 1, 3, 0, 1, v, 3000), 0, "srv #%d", i);
    }
    srv[2] = h_connect(m.port);
    cr_assert(h_wait_closed(srv[2], 3000), "a fifth client: refused");
    cr_assert(h_wait_file(m.p.err, "max_clients (4) reached", 3000, NULL, 0));

    /* a place freed on few is few's again */
    close(few[0]);
    for (int tries = 0; tries < 100 && again < 0; tries++) {
        again = h_connect(few_port);
        if (h_read(again, 1, 3, 0, 1, v, 1000) != 0) {
            close(again);
            again = -1;
            h_sleep_ms(20);
        }
    }
    cr_assert(again >= 0, "few took a client again");
    close(again);
    close(few[1]);
    close(few[2]);
    for (int i = 0; i < 3; i++) {
        close(srv[i]);
    }
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

Test(listeners, reload_adds_removes_and_changes_listeners)
{
    int pa = h_free_port(), pb = h_free_port();
    struct sim s;
    struct mux m;
    char log[512], v1[1024], v2[1024], v3[1024], needle[96];
    uint16_t v[1];
    int a1, a2, b;

    sim_start(&s, log, sizeof(log));
    snprintf(v1, sizeof(v1), "[server]\nlisten = 127.0.0.1:0\nlog_level = "
             "debug\n[listener a]\nlisten = 127.0.0.1:%d\nread_only_clients "
             "= 127.0.0.1\n" DEV, pa, s.port);
    cr_assert_eq(h_mux_start(&m, "%s", v1), 0);
    wait_listening(&m, pa);
    cr_assert(h_wait_file(m.p.err, "B:dev: connected", 5000, NULL, 0));
    a1 = h_connect_from(pa, "127.0.0.1");
    a2 = h_connect_from(pa, "127.0.0.2");
    cr_assert_eq(h_write1(a1, 1, 50, 1, 3000), 0x01, "127.0.0.1: read-only");
    cr_assert_eq(h_write1(a2, 1, 50, 2, 3000), 0, "127.0.0.2 may write");

    /* a's rules change, b is added */
    snprintf(v2, sizeof(v2), "[server]\nlisten = 127.0.0.1:0\nlog_level = "
             "debug\n[listener a]\nlisten = 127.0.0.1:%d\nread_only_clients "
             "= 127.0.0.2\n[listener b]\nlisten = 127.0.0.1:%d\n"
             "read_only_clients = 0.0.0.0/0\n" DEV, pa, pb, s.port);
    /* [server] listen = 127.0.0.1:0 is kept too: by its text */
    reload(&m, v2, 1);
    wait_listening(&m, pb);
    cr_assert_eq(h_write1(a1, 1, 50, 3, 3000), 0, "a's new rules, at once");
    cr_assert_eq(h_write1(a2, 1, 50, 4, 3000), 0x01, "a's new rules, at once");
    b = h_connect_from(pb, "127.0.0.1");
    cr_assert_eq(h_write1(b, 1, 50, 5, 3000), 0x01, "b is read-only");
    snprintf(needle, sizeof(needle), "no longer listening on 127.0.0.1:%d",
             pa);
    cr_assert_not(h_file_contains(m.p.err, needle), "a was kept");
    snprintf(needle, sizeof(needle), "listening on 127.0.0.1:%d", pa);
    cr_assert_eq(h_count_lines(m.p.err, needle), 1, "a opened once");

    /* b is removed; a lets in 127.0.0.1 only, read_only_clients default */
    snprintf(v3, sizeof(v3), "[server]\nlisten = 127.0.0.1:0\nlog_level = "
             "debug\n[listener a]\nlisten = 127.0.0.1:%d\nallow = 127.0.0.1"
             "\n" DEV, pa, s.port);
    reload(&m, v3, 2);
    snprintf(needle, sizeof(needle), "no longer listening on 127.0.0.1:%d",
             pb);
    cr_assert(h_wait_file(m.p.err, needle, 3000, NULL, 0));
    cr_assert_lt(h_connect(pb), 0, "b's port is closed");
    cr_assert(h_wait_closed(a2, 3000), "127.0.0.2 no longer in a's allow");
    cr_assert(h_file_contains(m.p.err, "no longer in allow: closing"));
    cr_assert_eq(h_write1(a1, 1, 50, 6, 3000), 0, "a1 stays, may write");
    cr_assert_eq(h_read(b, 1, 3, 50, 1, v, 3000), 0,
                 "b's client stays connected");
    cr_assert_eq(h_write1(b, 1, 50, 7, 3000), 0x01,
                 "with the rules it had: b's section is gone");

    close(a1);
    close(a2);
    close(b);
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
    cr_assert_eq(h_sim_count_fc(log, 6), 3, "the writes let through");
}

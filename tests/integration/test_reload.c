/* SPDX-License-Identifier: MIT */
/*
 * test_reload.c -- live reload on SIGHUP under load: a route added, a
 * backend removed, a broken file refused. A client polls all along on one
 * connection: it is never dropped and none of its requests is lost; the
 * backend that stays keeps its connection and its cache.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "sim_map.h"

TestSuite(reload, .fini = h_cleanup, .timeout = 60);

struct poller {
    int         port;
    atomic_bool stop;
    unsigned    good, failed;
};

static void *
poller_run(void *arg)
{
    struct poller *p = arg;
    int fd = h_connect(p->port);
    uint16_t v[2];

    while (!atomic_load(&p->stop)) {
        if (fd >= 0 && h_read(fd, 1, 3, 100, 2, v, 5000) == 0 &&
            h_check_regs(1, 3, 100, 2, v)) {
            p->good++;
        } else {
            p->failed++;
        }
    }
    close(fd);
    return NULL;
}

static void
write_ini(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

/* Rewrite the proxy's file, SIGHUP it, wait for the <n>-th outcome. */
static void
reload(struct mux *m, const char *text, const char *outcome, int n)
{
    char needle[64];

    write_ini(m->ini, text);
    kill(m->p.pid, SIGHUP);
    snprintf(needle, sizeof(needle), "%s", outcome);
    for (int i = 0; i < 500; i++) {             /* 10 s: a loaded machine */
        FILE *f = fopen(m->p.err, "r");
        char line[1024];
        int seen = 0;

        while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
            seen += strstr(line, needle) != NULL;
        }
        if (f != NULL) {
            fclose(f);
        }
        if (seen >= n) {
            return;
        }
        usleep(20000);
    }
    cr_assert_fail("no \"%s\" (#%d) in the log", outcome, n);
}

Test(reload, routes_backends_and_a_broken_file_under_load)
{
    struct sim a, b;
    struct mux m;
    struct poller p = {0};
    pthread_t th;
    char v1[1024], v2[1100], v3[1024];
    uint16_t v[3];
    long before;
    int fd;

    cr_assert_eq(h_sim_start(&a, "--units 1"), 0);
    cr_assert_eq(h_sim_start(&b, "--units 1"), 0);
    snprintf(v1, sizeof(v1), "[server]\nlisten = 127.0.0.1:0\nlog_level = "
             "debug\n[backend a]\ntype = tcp\nhost = 127.0.0.1\nport = %d\n"
             "cache_ttl_ms = 60000\n[backend b]\ntype = tcp\nhost = "
             "127.0.0.1\nport = %d\n[route]\n1 = a\n3 = b:1\n", a.port,
             b.port);
    cr_assert_eq(h_mux_start(&m, "%s", v1), 0);
    cr_assert(h_wait_file(m.p.err, "B:b: connected", 5000, NULL, 0));
    p.port = m.port;
    pthread_create(&th, NULL, poller_run, &p);
    fd = h_connect(m.port);
    cr_assert_eq(h_read(fd, 1, 3, 5, 3, v, 3000), 0, "now in a's cache");
    cr_assert_eq(h_read(fd, 2, 3, 5, 1, v, 3000), 0x0A, "no route yet");
    cr_assert_eq(h_read(fd, 3, 3, 5, 1, v, 3000), 0);

    /* a route added */
    snprintf(v2, sizeof(v2), "%s2 = a:1\n", v1);
    reload(&m, v2, "reloaded", 1);
    cr_assert_eq(h_read(fd, 2, 3, 7, 1, v, 3000), 0, "the new route");
    cr_assert(h_check_regs(1, 3, 7, 1, v));

    /* backend b removed, with its route */
    snprintf(v3, sizeof(v3), "[server]\nlisten = 127.0.0.1:0\nlog_level = "
             "debug\n[backend a]\ntype = tcp\nhost = 127.0.0.1\nport = %d\n"
             "cache_ttl_ms = 60000\n[route]\n1 = a\n2 = a:1\n", a.port);
    reload(&m, v3, "reloaded", 2);
    cr_assert(h_wait_file(m.p.err, "B:b: removed by the reload", 3000, NULL,
                          0));
    cr_assert_eq(h_read(fd, 3, 3, 5, 1, v, 3000), 0x0A, "b is gone");

    /* a broken file is refused; the running configuration stays */
    reload(&m, "[server]\nlisten = 127.0.0.1:0\nmax_clients = lots\n",
           "reload refused: still running", 1);
    cr_assert(h_file_contains(m.p.err, "reload refused: "));
    cr_assert(h_file_contains(m.p.err, ".ini:3: [server] max_clients"));
    cr_assert_eq(h_read(fd, 2, 3, 7, 1, v, 3000), 0, "still served");

    /* a new backend, started by the reload */
    snprintf(v2, sizeof(v2), "[server]\nlisten = 127.0.0.1:0\nlog_level = "
             "debug\n[backend a]\ntype = tcp\nhost = 127.0.0.1\nport = %d\n"
             "cache_ttl_ms = 60000\n[backend c]\ntype = tcp\nhost = "
             "127.0.0.1\nport = %d\n[route]\n1 = a\n2 = a:1\n4 = c:1\n",
             a.port, b.port);
    reload(&m, v2, "reloaded", 3);
    cr_assert(h_wait_file(m.p.err, "B:c: connected", 5000, NULL, 0));
    cr_assert_eq(h_read(fd, 4, 3, 9, 1, v, 3000), 0, "the new backend");
    cr_assert(h_check_regs(1, 3, 9, 1, v));

    /* a kept its connection and its cache through all of it */
    before = h_sim_stat(&a, "requests");
    cr_assert_eq(h_read(fd, 1, 3, 5, 3, v, 3000), 0);
    cr_assert(h_check_regs(1, 3, 5, 3, v));
    cr_assert_eq(h_sim_stat(&a, "requests"), before, "from the cache");
    cr_assert_eq(h_sim_stat(&a, "connections"), 1, "one connection to a");

    atomic_store(&p.stop, true);
    pthread_join(th, NULL);
    cr_assert(p.good > 10, "%u polls", p.good);
    cr_assert_eq(p.failed, 0, "no poll lost or refused during reloads");
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0, "and a clean exit");
    h_proc_stop(&a.p, SIGTERM, 5000);
    h_proc_stop(&b.p, SIGTERM, 5000);
}

Test(reload, listen_addresses_come_and_go)
{
    struct sim a;
    struct mux m;
    char v1[512], v2[600];
    uint16_t v[1];
    int q = h_free_port(), fd, old;

    cr_assert_eq(h_sim_start(&a, "--units 1"), 0);
    snprintf(v1, sizeof(v1), "[server]\nlisten = 127.0.0.1:0\n[backend a]\n"
             "type = tcp\nhost = 127.0.0.1\nport = %d\n[route]\n1 = a\n",
             a.port);
    cr_assert_eq(h_mux_start(&m, "%s", v1), 0);
    old = h_connect(m.port);
    cr_assert(h_connect(q) < 0, "nothing on %d yet", q);
    snprintf(v2, sizeof(v2), "[server]\nlisten = 127.0.0.1:0, 127.0.0.1:%d\n"
             "[backend a]\ntype = tcp\nhost = 127.0.0.1\nport = %d\n[route]\n"
             "1 = a\n", q, a.port);
    reload(&m, v2, "reloaded", 1);
    fd = h_connect(q);
    cr_assert(fd >= 0, "listening on the new address");
    cr_assert_eq(h_read(fd, 1, 3, 3, 1, v, 3000), 0);
    close(fd);
    reload(&m, v1, "reloaded", 2);
    cr_assert(h_wait_file(m.p.err, "no longer listening on 127.0.0.1:", 3000,
                          NULL, 0));
    cr_assert_eq(h_read(old, 1, 3, 3, 1, v, 3000), 0, "kept its client");
    close(old);
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&a.p, SIGTERM, 5000);
}

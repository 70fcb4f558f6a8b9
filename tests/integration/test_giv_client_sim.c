/* SPDX-License-Identifier: MIT */
/*
 * test_giv_client_sim.c -- the GivEnergy client simulator
 * (tests/sim/giv_client) against the dongle simulator (tests/sim/giv_dongle)
 * directly, no proxy: two clients at once with the cloud polling, every
 * request answered, every value right (a write by one of them included,
 * read back by it and seen by the other through the fanned-out echo),
 * fan-out and heartbeats counted; and a client that vanishes mid-request.
 * The proxy's own GivEnergy listener is tested elsewhere with the same
 * simulator.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define DONGLE "--delay-ms 20 --heartbeat-ms 1000 --cloud-ms 300 --seed 3"
#define CLIENT "--rounds 4 --interval-ms 1000 --gap-ms 50 --timeout-ms 3000 " \
               "--expect-adapter WG2303G286 --expect-inverter EA2303G286"

TestSuite(giv_client, .fini = h_cleanup, .timeout = 60);

/* A giv_client run: the harness starts it and reads its stats. */
static void
client_start(struct h_giv_client *c, int port, const char *args)
{
    cr_assert_eq(h_giv_client_start(c, port, args, false), 0,
                 "giv_client did not start");
}

static int
client_wait(struct h_giv_client *c)
{
    return h_proc_stop(&c->p, 0, 20000);
}

static long
kv(const struct h_giv_client *c, const char *key)
{
    return h_kv(c->stats, key);
}

/* What every client of a healthy dongle must see. */
static void
assert_clean(const struct h_giv_client *c, const char *who)
{
    char why[96];

    cr_assert(h_giv_client_clean(c, why, sizeof(why)), "%s: %s", who, why);
    cr_assert_eq(kv(c, "rounds"), 4, "%s", who);
    cr_assert_gt(kv(c, "fanout"), 0, "%s saw no fan-out", who);
    /* it ran 3 s at least; the dongle sends one every second */
    cr_assert_geq(kv(c, "heartbeats"), 2, "%s: %ld heartbeats", who,
                  kv(c, "heartbeats"));
}

Test(giv_client, two_clients_against_the_dongle)
{
    struct sim s;
    struct h_giv_client a, b;

    cr_assert_eq(h_sim_start_bin(&s, SIM_GIV, 0, DONGLE), 0);
    client_start(&a, s.port, CLIENT " --write 11:20:77 --read-back");
    client_start(&b, s.port, CLIENT " --banks 11:4:0:60,11:4:180:60,"
                 "11:3:0:60,11:3:60:60,11:3:120:60,32:4:60:60,1:4:60:30");
    cr_assert_eq(client_wait(&a), 0);
    cr_assert_eq(client_wait(&b), 0);
    assert_clean(&a, "A");
    assert_clean(&b, "B");
    cr_assert_eq(kv(&a, "write_ok"), 1);
    cr_assert_eq(kv(&a, "readback_ok"), 1);
    cr_assert_eq(kv(&a, "foreign_echo"), 0);
    /* B never wrote: the echo of A's write reached it and its image */
    cr_assert_eq(kv(&b, "foreign_echo"), 1);
    cr_assert_eq(kv(&b, "write_ok"), 0);
    cr_assert_eq(h_sim_stat(&s, "writes"), 1);
    cr_assert_gt(h_sim_stat(&s, "cloud_polls"), 0);
    cr_assert_eq(h_sim_stat(&s, "heartbeat_drops"), 0);
    cr_assert_eq(h_proc_stop(&s.p, SIGTERM, 5000), 0);
}

Test(giv_client, a_client_that_vanishes_resets_the_connection)
{
    struct sim s;
    struct h_giv_client c;

    cr_assert_eq(h_sim_start_bin(&s, SIM_GIV, 0, "--delay-ms 500"), 0);
    client_start(&c, s.port, "--vanish-after 2 --gap-ms 0");
    cr_assert_eq(client_wait(&c), 0);
    cr_assert_eq(kv(&c, "sent"), 2);
    cr_assert_eq(kv(&c, "pending"), 2, "gone before its answers");
    cr_assert(h_wait_file(s.p.err, "Connection reset by peer", 5000, NULL, 0),
              "the dongle saw an RST, not a FIN");
    cr_assert_eq(h_proc_stop(&s.p, SIGTERM, 5000), 0);
}

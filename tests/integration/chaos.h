/* SPDX-License-Identifier: MIT */
/*
 * chaos.h -- what the fault tests (test_chaos.c, devices; test_chaos_load.c,
 * load) share: the config fragments and the check every test ends with.
 */
#ifndef MUX_CHAOS_H
#define MUX_CHAOS_H

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "harness.h"

#define SRV    "[server]\nlisten = 127.0.0.1:0\nlog_level = debug\n" \
               "request_timeout_ms = %d\n"
#define TCP    "[backend %s]\ntype = tcp\nhost = 127.0.0.1\nport = %d\n"
#define GIV    "[backend %s]\ntype = givenergy\nhost = 127.0.0.1\n" \
               "port = %d\nmin_spacing_ms = 20\ntimeout_ms = 300\n" \
               "retries = %d\n"
#define DONGLE "--plain-image --delay-ms 20 --seed 7"

/* Slack on top of a deadline for a loaded machine (ASan, two tests at
 * once). */
#define MARGIN_MS 2000

/* Stop the proxy and check what every test shares: exit 0 (no crash;
 * under ASan, no leak) and counters that balance. */
static inline void
stop_mux(struct mux *m)
{
    char why[160];

    cr_assert_eq(h_mux_stop(m), 0, "the proxy's exit status (a crash, or a "
                 "leak under ASan): see %s", m->p.err);
    cr_assert(h_mux_counters_balance(m, why, sizeof(why)),
              "counters do not balance: %s", why);
    cr_log_info("counters: %s", why);
}

#endif /* MUX_CHAOS_H */

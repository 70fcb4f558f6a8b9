/* SPDX-License-Identifier: MIT */
/*
 * sim_util.h -- what the three simulators share: their messages, number
 * arguments, the clock, and the signal set-up that lets ppoll() be woken
 * by SIGTERM, SIGINT and SIGUSR1 without a signal ever cutting a frame.
 */
#ifndef MUX_SIM_UTIL_H
#define MUX_SIM_UTIL_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

/* "<program>: <message>\n" on stderr (program_invocation_short_name). */
__attribute__((format(printf, 1, 2))) void sim_note(const char *fmt, ...);

/* Decimal <s> within [min, max] into *out; false if it is not one. */
bool sim_parse_long(const char *s, long min, long max, long *out);

/* CLOCK_MONOTONIC in microseconds. */
int64_t sim_now_us(void);

/* Install <handler> for SIGTERM, SIGINT and SIGUSR1 and block them;
 * *waitmask gets the mask to wait with (ppoll), where they are open.
 * SIGPIPE is ignored. */
void sim_signals_init(void (*handler)(int), sigset_t *waitmask);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * tigo_cca.h -- the traffic of the Tigo bus simulator (tigo_bus.c): a CCA
 * that enumerates its TAPs and polls them, TAPs that answer with what
 * their optimizers ("nodes") sent, the nodes with their values, and the
 * truth file saying what each node last sent. It produces bytes through a
 * callback and never reads any: the pty, the TCP clients, the loop and
 * the signals are tigo_bus.c's. Times are CLOCK_MONOTONIC microseconds
 * (sim_now_us()).
 */
#ifndef MUX_TIGO_CCA_H
#define MUX_TIGO_CCA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CCA_MAX_GATEWAYS 16
#define CCA_MAX_NODES 1000      /* --nodes plus --nodes-later */
#define CCA_REPLEN_MIX 0        /* report_len: 13, 14, 15 by node */

/* What the command line says about the traffic (README.md). */
struct cca_opts {
    long gateways, nodes, nodes_later, later_ms;
    long seed, poll_ms, report_ms, table_ms;
    long report_len;            /* 13..15, or CCA_REPLEN_MIX */
    long monitor_only, cold, reboot_ms;
    long slot_start;            /* -1: from seed */
    double retransmit, noise, collide; /* percent */
    int fw4, hfw, renumber;     /* flags (ints: getopt_long sets them) */
    const char *truth_path;     /* NULL: no truth file */
};

/* The traffic's counters, in the stats file's order (README.md). */
#define CCA_STATS(X)                                                     \
    X(frames) X(requests) X(responses) X(power_reports)                 \
    X(topology_reports) X(table_pages) X(table_walks) X(identifies)     \
    X(versions) X(enumerations) X(retransmissions) X(collisions)        \
    X(noise_bytes) X(escapes) X(status_full) X(reports_13) X(reports_14) \
    X(reports_15) X(negative_temps) X(reboots) X(nodes) X(queue_drops)  \
    X(held)

struct cca_stats {
#define CCA_STAT_FIELD(name) int64_t name;
    CCA_STATS(CCA_STAT_FIELD)
#undef CCA_STAT_FIELD
};

/* Takes <n> bytes for the bus; <p> is borrowed for the call. */
typedef void (*cca_out_fn)(void *ctx, const uint8_t *p, size_t n);

struct cca;

struct cca *cca_new(const struct cca_opts *o, cca_out_fn out, void *ctx,
                    int64_t now);
void cca_free(struct cca *c);
void cca_start(struct cca *c, int64_t now);
bool cca_started(const struct cca *c);
void cca_reboot(struct cca *c, int64_t now);
void cca_hold(struct cca *c);
void cca_run(struct cca *c, int64_t now);
int64_t cca_next_us(const struct cca *c, int64_t now);
void cca_truth_write(struct cca *c);
const struct cca_stats *cca_stats(const struct cca *c);

#endif /* MUX_TIGO_CCA_H */

/* SPDX-License-Identifier: MIT */
/*
 * lg_hist.h -- loadgen's latency histogram: a fixed array, nothing
 * allocated per value, quantiles within 0.2 %.
 */
#ifndef LG_HIST_H
#define LG_HIST_H

#include <stdint.h>

/* Histogram: exact 1 us buckets below 1024 us, then 512 buckets per octave
 * (under 0.2 % error) up to 2^64 us, so no value is ever clamped. */
#define HIST_SUB_BITS     9u
#define HIST_SUB          (1u << HIST_SUB_BITS)
#define HIST_LINEAR       (2u * HIST_SUB)
#define HIST_OCTAVES      (64u - HIST_SUB_BITS - 1u)
#define HIST_BUCKETS      (HIST_LINEAR + HIST_OCTAVES * HIST_SUB)

struct hist {
    uint64_t n;
    uint64_t sum;
    uint64_t max;
    uint64_t bucket[HIST_BUCKETS];
};

/* Count value <v> (microseconds for loadgen). */
void hist_add(struct hist *h, uint64_t v);

/* Value at quantile <per10k>/10000: the upper edge of the bucket holding
 * that rank, never above the exact maximum; 0 when empty. */
uint64_t hist_quantile(const struct hist *h, uint64_t per10k);

#endif /* LG_HIST_H */

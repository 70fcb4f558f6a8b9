/* SPDX-License-Identifier: MIT */
/*
 * lg_hist.c -- loadgen's log-linear latency histogram (see lg_hist.h).
 */
#include "lg_hist.h"

static uint32_t
hist_index(uint64_t v)
{
    unsigned m;

    if (v < HIST_LINEAR) {
        return (uint32_t)v;
    }
    m = 63u - (unsigned)__builtin_clzll(v);
    return HIST_LINEAR + (m - HIST_SUB_BITS - 1u) * HIST_SUB +
           (uint32_t)((v >> (m - HIST_SUB_BITS)) - HIST_SUB);
}

/* The largest value that falls into bucket <i>. */
static uint64_t
hist_upper(uint32_t i)
{
    uint32_t j, m, top;

    if (i < HIST_LINEAR) {
        return i;
    }
    j = i - HIST_LINEAR;
    m = j / HIST_SUB + HIST_SUB_BITS + 1u;
    top = HIST_SUB + j % HIST_SUB;
    return (((uint64_t)top + 1u) << (m - HIST_SUB_BITS)) - 1u;
}

void
hist_add(struct hist *h, uint64_t v)
{
    h->bucket[hist_index(v)]++;
    h->n++;
    h->sum += v;
    if (v > h->max) {
        h->max = v;
    }
}

/* Value at quantile <per10k>/10000: the upper edge of the bucket holding that
 * rank, never above the exact maximum. */
uint64_t
hist_quantile(const struct hist *h, uint64_t per10k)
{
    uint64_t rank, seen = 0;
    uint32_t i;

    if (h->n == 0) {
        return 0;
    }
    rank = (h->n * per10k + 9999u) / 10000u;
    if (rank == 0) {
        rank = 1;
    }
    for (i = 0; i < HIST_BUCKETS; i++) {
        seen += h->bucket[i];
        if (seen >= rank) {
            break;
        }
    }
    return hist_upper(i) < h->max ? hist_upper(i) : h->max;
}

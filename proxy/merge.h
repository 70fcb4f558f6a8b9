/* SPDX-License-Identifier: MIT */
/*
 * merge.h -- the merge planner (merge_reads): which queued reads of one
 * unit and table one device read can carry, and the registers a device
 * refused in a merged read (holes), so that the next merge stops at them.
 * Pure: no libuv, no allocation; backend.c applies the plan.
 */
#ifndef MUX_MERGE_H
#define MUX_MERGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MERGE_HOLES_MAX 64    /* per backend; the oldest goes first */

/* The range one device read covers: [lo, hi). */
struct merge_plan {
    uint32_t lo, hi;
    unsigned gap;             /* units (registers or bits) a range may lie
                                 from the covering range */
    unsigned max;             /* units one read may carry */
};

/* Addresses that broke a merged read of (unit, table), kept until
 * reload: [lo, hi) each. */
struct merge_hole {
    uint8_t  unit, fc;
    uint32_t lo, hi;
};

struct merge_holes {
    struct merge_hole h[MERGE_HOLES_MAX];
    unsigned n, next;         /* held; where the next one goes when full */
    uint64_t learned;         /* holes learned, ever */
};

void merge_start(struct merge_plan *p, uint16_t lo, uint16_t n,
                 unsigned gap, unsigned max);
bool merge_try(struct merge_plan *p, const struct merge_holes *h,
               uint8_t unit, uint8_t fc, uint16_t lo, uint16_t n);
unsigned merge_learn(struct merge_holes *h, uint8_t unit, uint8_t fc,
                     uint32_t lo, uint32_t hi, const uint16_t (*ranges)[2],
                     unsigned n_ranges);
size_t merge_slice(const uint8_t *wide, uint32_t wlo, uint8_t fc, uint16_t lo,
                   uint16_t n, uint8_t *out);
bool merge_hole_in(const struct merge_holes *h, uint8_t unit, uint8_t fc,
                   uint32_t lo, uint32_t hi);

#endif /* MUX_MERGE_H */

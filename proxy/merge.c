/* SPDX-License-Identifier: MIT */
/*
 * merge.c -- the merge planner. On a paced link the pause between
 * transactions dwarfs the bus time of a few more registers, so reads of
 * one unit and table that lie close together are carried by one device
 * read of the range that covers them (merge_reads). A range joins the plan
 * if it lies within <gap> units of the covering range, the covering range
 * stays within <max> units, and it does not grow over a hole: addresses a
 * device refused in an earlier merged read. Units are registers (FC 3, 4)
 * or bits (FC 1, 2); the caller scales gap and max.
 *
 * Holes: a device answers 0x02 for a range that holds an undefined
 * register. When a merged read gets an exception, the registers it
 * carried that no client asked for are the suspects: merge_learn() keeps
 * each gap between the requested ranges as a hole, and no later merge
 * grows over it. (If the requested ranges touch, there is no gap: one of
 * them is at fault, and each is retried alone.)
 *
 * Pure: no libuv, no allocation.
 */
#include <string.h>

#include "merge.h"

#define MERGE_MIN(a, b) ((a) < (b) ? (a) : (b))
#define MERGE_MAX(a, b) ((a) > (b) ? (a) : (b))

/*
 * Start plan <p> with the range <lo>, <n> units (the read about to go), a
 * <gap> and a <max> as the backend's settings give them.
 */
void
merge_start(struct merge_plan *p, uint16_t lo, uint16_t n, unsigned gap,
            unsigned max)
{
    p->lo = lo;
    p->hi = (uint32_t)lo + n;
    p->gap = gap;
    p->max = max;
}

/*
 * True if hole list <h> has a hole of (<unit>, <fc>) that meets [lo, hi).
 */
bool
merge_hole_in(const struct merge_holes *h, uint8_t unit, uint8_t fc,
              uint32_t lo, uint32_t hi)
{
    for (unsigned i = 0; i < h->n; i++) {
        const struct merge_hole *x = &h->h[i];

        if (x->unit == unit && x->fc == fc && x->lo < hi && lo < x->hi) {
            return true;
        }
    }
    return false;
}

/*
 * Add the range <lo>, <n> units of (<unit>, <fc>) to plan <p> if it fits:
 * within p->gap of the covering range, the result within p->max, and no
 * hole of <h> in what the covering range would grow by (besides the range
 * itself, which its client asked for). Returns true if it was added.
 */
bool
merge_try(struct merge_plan *p, const struct merge_holes *h, uint8_t unit,
          uint8_t fc, uint16_t lo, uint16_t n)
{
    uint32_t a = lo, b = (uint32_t)lo + n;
    uint32_t nlo = MERGE_MIN(p->lo, a), nhi = MERGE_MAX(p->hi, b);

    if (n == 0 || nhi - nlo > p->max) {
        return false;
    }
    if ((a >= p->hi && a - p->hi > p->gap) ||
        (b <= p->lo && p->lo - b > p->gap)) {
        return false;
    }
    /* The registers it grows by that nobody asked for: between the range
     * and the covering one, on one side. */
    if (a > p->hi && merge_hole_in(h, unit, fc, p->hi, a)) {
        return false;
    }
    if (b < p->lo && merge_hole_in(h, unit, fc, b, p->lo)) {
        return false;
    }
    p->lo = nlo;
    p->hi = nhi;
    return true;
}

/* Keep hole [lo, hi) of (unit, fc) in <h>, the oldest giving way. */
static void
hole_add(struct merge_holes *h, uint8_t unit, uint8_t fc, uint32_t lo,
         uint32_t hi)
{
    struct merge_hole *x;

    if (merge_hole_in(h, unit, fc, lo, hi)) {
        return;                 /* known (a part of it, at least) */
    }
    if (h->n < MERGE_HOLES_MAX) {
        x = &h->h[h->n++];
    } else {
        x = &h->h[h->next];
        h->next = (h->next + 1) % MERGE_HOLES_MAX;
    }
    x->unit = unit;
    x->fc = fc;
    x->lo = lo;
    x->hi = hi;
    h->learned++;
}

/*
 * A merged read of [lo, hi) of (<unit>, <fc>) got an exception: keep, as
 * holes, the parts of it outside the <n_ranges> requested ranges
 * (<ranges>[i] = {start, count}). Returns how many holes were kept.
 */
unsigned
merge_learn(struct merge_holes *h, uint8_t unit, uint8_t fc, uint32_t lo,
            uint32_t hi, const uint16_t (*ranges)[2], unsigned n_ranges)
{
    uint64_t before = h->learned;
    uint32_t at = lo;

    /* Walk [lo, hi): at is the first address no range has covered yet. */
    while (at < hi) {
        uint32_t next_start = hi, covered_to = at;
        bool inside = false;

        for (unsigned i = 0; i < n_ranges; i++) {
            uint32_t a = ranges[i][0], b = a + ranges[i][1];

            if (a <= at && at < b) {
                inside = true;
                covered_to = MERGE_MAX(covered_to, b);
            } else if (a > at) {
                next_start = MERGE_MIN(next_start, a);
            }
        }
        if (inside) {
            at = covered_to;
        } else {
            hole_add(h, unit, fc, at, next_start);
            at = next_start;
        }
    }
    return (unsigned)(h->learned - before);
}

/*
 * The response to a read of <n> units from <lo> (function <fc>: 1, 2 bits;
 * 3, 4 registers), cut from the response <wide> to a read of the same
 * table from <wlo> that covers it, into <out> (2 + 250 bytes at most):
 * function, byte count, data. <out> must not overlap <wide>. Returns its
 * length.
 */
size_t
merge_slice(const uint8_t *wide, uint32_t wlo, uint8_t fc, uint16_t lo,
            uint16_t n, uint8_t *out)
{
    uint32_t off = lo - wlo;
    size_t bytes;

    out[0] = fc;
    if (fc <= 2) {
        bytes = (n + 7u) / 8;
        memset(out + 2, 0, bytes);
        for (uint32_t i = 0; i < n; i++) {
            uint32_t b = off + i;

            if ((wide[2 + b / 8] >> (b % 8)) & 1) {
                out[2 + i / 8] |= (uint8_t)(1u << (i % 8));
            }
        }
    } else {
        bytes = 2u * n;
        memcpy(out + 2, wide + 2 + 2 * off, bytes);
    }
    out[1] = (uint8_t)bytes;
    return 2 + bytes;
}

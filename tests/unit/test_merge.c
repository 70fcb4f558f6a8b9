/* SPDX-License-Identifier: MIT */
/*
 * test_merge.c -- the merge planner (proxy/merge.c): ranges within the gap
 * join the covering read, the limit holds, holes stop a merge from growing
 * over them (but not a range a client asked for), what a failed merged
 * read teaches (the gaps between the requested ranges), and the hole list
 * stays bounded.
 */
#include <criterion/criterion.h>

#include <string.h>

#include "merge.h"

static struct merge_holes none, holes;

Test(merge, ranges_within_the_gap_join)
{
    struct merge_plan p;

    merge_start(&p, 100, 2, 125, 125);
    cr_assert(merge_try(&p, &none, 1, 3, 110, 2), "10 on the right");
    cr_assert(merge_try(&p, &none, 1, 3, 90, 4), "6 on the left");
    cr_assert(merge_try(&p, &none, 1, 3, 100, 2), "the same range");
    cr_assert(merge_try(&p, &none, 1, 3, 95, 20), "overlapping");
    cr_assert_eq(p.lo, 90);
    cr_assert_eq(p.hi, 115);
}

Test(merge, the_gap_and_the_limit)
{
    struct merge_plan p;

    merge_start(&p, 100, 2, 10, 125);
    cr_assert_not(merge_try(&p, &none, 1, 3, 113, 2), "11 away");
    cr_assert(merge_try(&p, &none, 1, 3, 112, 2), "10 away");
    cr_assert_not(merge_try(&p, &none, 1, 3, 86, 2), "12 away on the left");
    merge_start(&p, 0, 100, 1000, 125);
    cr_assert(merge_try(&p, &none, 1, 3, 100, 25), "exactly 125");
    cr_assert_not(merge_try(&p, &none, 1, 3, 125, 1), "126");
    cr_assert_eq(p.hi - p.lo, 125);
    merge_start(&p, 65530, 6, 125, 125);
    cr_assert(merge_try(&p, &none, 1, 3, 65500, 10), "near the top");
    cr_assert_eq(p.hi, 65536);
}

Test(merge, holes_stop_a_merge_but_not_a_range_asked_for)
{
    struct merge_plan p;
    static const uint16_t asked[][2] = {{100, 2}, {110, 2}};

    cr_assert_eq(merge_learn(&holes, 1, 3, 100, 112, asked, 2), 1);
    cr_assert(merge_hole_in(&holes, 1, 3, 102, 110));
    cr_assert_not(merge_hole_in(&holes, 1, 3, 100, 102));
    cr_assert_not(merge_hole_in(&holes, 1, 4, 102, 110), "another table");
    cr_assert_not(merge_hole_in(&holes, 2, 3, 102, 110), "another unit");
    merge_start(&p, 100, 2, 125, 125);
    cr_assert_not(merge_try(&p, &holes, 1, 3, 110, 2), "over the hole");
    cr_assert(merge_try(&p, &holes, 1, 4, 110, 2), "other table: fine");
    merge_start(&p, 110, 2, 125, 125);
    cr_assert_not(merge_try(&p, &holes, 1, 3, 100, 2), "from the right");
    cr_assert(merge_try(&p, &holes, 1, 3, 112, 3), "away from it");
    /* a client asking for the hole itself is its own business */
    merge_start(&p, 104, 2, 125, 125);
    cr_assert(merge_try(&p, &holes, 1, 3, 103, 1), "adjacent, inside it");
}

Test(merge, what_a_failed_merge_teaches)
{
    static const uint16_t touching[][2] = {{0, 10}, {10, 10}};
    static const uint16_t three[][2] = {{50, 1}, {0, 2}, {20, 5}};
    struct merge_holes h;

    memset(&h, 0, sizeof(h));
    cr_assert_eq(merge_learn(&h, 1, 3, 0, 20, touching, 2), 0,
                 "no gap: one of them is at fault");
    cr_assert_eq(merge_learn(&h, 1, 3, 0, 51, three, 3), 2);
    cr_assert_eq(h.h[0].lo, 2);
    cr_assert_eq(h.h[0].hi, 20);
    cr_assert_eq(h.h[1].lo, 25);
    cr_assert_eq(h.h[1].hi, 50);
    cr_assert_eq(merge_learn(&h, 1, 3, 0, 51, three, 3), 0, "known");
}

Test(merge, the_hole_list_is_bounded)
{
    struct merge_holes h;
    uint16_t r[2][2];

    memset(&h, 0, sizeof(h));
    for (unsigned i = 0; i < 3 * MERGE_HOLES_MAX; i++) {
        r[0][0] = (uint16_t)(10 * i);
        r[0][1] = 1;
        r[1][0] = (uint16_t)(10 * i + 5);
        r[1][1] = 1;
        cr_assert_eq(merge_learn(&h, 1, 3, 10 * i, 10 * i + 6,
                                 (const uint16_t (*)[2])r, 2), 1);
    }
    cr_assert_eq(h.n, MERGE_HOLES_MAX);
    cr_assert_eq(h.learned, 3 * MERGE_HOLES_MAX);
    cr_assert(merge_hole_in(&h, 1, 3, 10 * (3 * MERGE_HOLES_MAX - 1) + 1,
                            10 * (3 * MERGE_HOLES_MAX - 1) + 5), "newest");
    cr_assert_not(merge_hole_in(&h, 1, 3, 1, 5), "the oldest went");
}

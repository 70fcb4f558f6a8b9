/* SPDX-License-Identifier: MIT */
/*
 * test_log.c -- the rate limits of proxy/log.c: log_limit() (a flood: the
 * first event, then one line a second with the count held back) and
 * log_limit_nth() (a streak of failures: the 1st, 2nd, 4th, 8th...).
 */
#include <criterion/criterion.h>

#include "log.h"

Test(log_limit, first_at_once_then_once_a_second_with_the_count)
{
    struct log_limit l = {0};

    cr_assert_eq(log_limit(&l, 0), 1, "the first is logged, even at 0 ms");
    cr_assert_eq(log_limit(&l, 1), 0);
    cr_assert_eq(log_limit(&l, 500), 0);
    cr_assert_eq(log_limit(&l, 999), 0);
    cr_assert_eq(log_limit(&l, 1000), 4, "three held back and this one");
    cr_assert_eq(log_limit(&l, 1001), 0);
    cr_assert_eq(log_limit(&l, 5000), 2, "after a pause: at once");
    cr_assert_eq(log_limit(&l, 5000), 0);
}

Test(log_limit, nth_failure_at_powers_of_two)
{
    for (unsigned n = 1; n <= 4096; n++) {
        bool pow2 = n == 1 || n == 2 || n == 4 || n == 8 || n == 16 ||
                    n == 32 || n == 64 || n == 128 || n == 256 ||
                    n == 512 || n == 1024 || n == 2048 || n == 4096;

        cr_assert_eq(log_limit_nth(n), pow2, "failure %u", n);
    }
}

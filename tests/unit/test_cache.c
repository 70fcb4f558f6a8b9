/* SPDX-License-Identifier: MIT */
/*
 * test_cache.c -- the register cache: values and their ages per register,
 * chunk boundaries, freshness as "every register asked for", tables kept
 * apart, invalidation by writes (on one unit, or on every unit for a
 * broadcast), the newest write on any unit, a budget of chunks with the
 * least recently stored one reused past it.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "cache.h"

static struct cache c;

static void
setup(void)
{
    cache_init(&c);
}

static void
teardown(void)
{
    cache_clear(&c);
}

TestSuite(cache, .init = setup, .fini = teardown);

/* <n> big-endian registers whose values are their addresses + <bias>. */
static void
regs(uint8_t *out, uint16_t addr, uint16_t n, uint16_t bias)
{
    for (uint16_t i = 0; i < n; i++) {
        out[2 * i] = (uint8_t)((addr + i + bias) >> 8);
        out[2 * i + 1] = (uint8_t)(addr + i + bias);
    }
}

Test(cache, a_block_comes_back_across_chunk_boundaries)
{
    uint8_t in[250], out[250], want[250];

    regs(in, 40, 125, 0);
    cache_store(&c, 0x11, 4, 40, 125, in, 1000);
    cr_assert(cache_get(&c, 0x11, 4, 40, 125, 1000, out));
    cr_assert_eq(memcmp(in, out, 250), 0);
    cr_assert(cache_get(&c, 0x11, 4, 100, 10, 1, out), "a part of it");
    regs(want, 100, 10, 0);
    cr_assert_eq(memcmp(out, want, 20), 0);
    cr_assert_eq(c.chunks, 3, "40..164 spans chunks 0, 64 and 128");
}

Test(cache, every_register_must_be_there_and_fresh)
{
    uint8_t in[120], out[120];

    regs(in, 0, 60, 0);
    cache_store(&c, 0x11, 3, 0, 30, in, 1000);
    cache_store(&c, 0x11, 3, 30, 30, in + 60, 2000);
    cr_assert(cache_get(&c, 0x11, 3, 0, 60, 1000, out));
    cr_assert_not(cache_get(&c, 0x11, 3, 0, 60, 1001, out), "0..29 older");
    cr_assert(cache_get(&c, 0x11, 3, 30, 30, 2000, out));
    cr_assert_not(cache_get(&c, 0x11, 3, 0, 61, 1, out), "61 never came");
    cr_assert_not(cache_fresh(&c, 0x11, 3, 500, 1, 1), "nothing there");
}

Test(cache, units_and_tables_are_kept_apart)
{
    uint8_t a[20], b[20], out[20];

    regs(a, 0, 10, 0);
    regs(b, 0, 10, 500);
    cache_store(&c, 0x11, 3, 0, 10, a, 10);
    cache_store(&c, 0x11, 4, 0, 10, b, 10);
    cache_store(&c, 0x32, 4, 0, 10, a, 10);
    cr_assert(cache_get(&c, 0x11, 4, 0, 10, 1, out));
    cr_assert_eq(memcmp(out, b, 20), 0, "input, not holding");
    cr_assert(cache_get(&c, 0x32, 4, 0, 10, 1, out));
    cr_assert_eq(memcmp(out, a, 20), 0);
    cr_assert_not(cache_fresh(&c, 0x31, 3, 0, 1, 1), "unit 0x31 unseen");
}

Test(cache, a_write_invalidates_only_its_registers)
{
    uint8_t in[120], out[120];

    regs(in, 0, 60, 0);
    cache_store(&c, 0x11, 3, 0, 60, in, 5);
    cache_invalidate(&c, 0x11, 3, 20, 2);
    cr_assert_not(cache_fresh(&c, 0x11, 3, 0, 60, 1));
    cr_assert(cache_fresh(&c, 0x11, 3, 0, 20, 1));
    cr_assert(cache_fresh(&c, 0x11, 3, 22, 38, 1));
    cr_assert_not(cache_fresh(&c, 0x11, 3, 21, 1, 1));
    cache_store(&c, 0x11, 3, 20, 2, in + 40, 9);
    cr_assert(cache_get(&c, 0x11, 3, 0, 60, 5, out), "back once stored");
    cache_invalidate(&c, 0x11, 3, 1000, 5);      /* never stored: no-op */
}

Test(cache, the_top_of_the_address_space)
{
    uint8_t in[8], out[8];

    regs(in, 0xFFFC, 4, 0);
    cache_store(&c, 1, 3, 0xFFFC, 4, in, 7);
    cr_assert(cache_get(&c, 1, 3, 0xFFFC, 4, 7, out));
    cr_assert_eq(memcmp(in, out, 8), 0);
    cr_assert_not(cache_fresh(&c, 1, 3, 0xFFFC, 5, 7), "past 0xFFFF");
}

Test(cache, a_broadcast_invalidates_every_unit)
{
    uint8_t in[200], out[200];

    regs(in, 0, 100, 0);
    for (uint8_t u = 1; u <= 3; u++) {
        cache_store(&c, u, 3, 50, 100, in, 5);
        cache_store(&c, u, 4, 50, 100, in, 5);
    }
    cache_invalidate_all(&c, 3, 60, 70);        /* 60..129, two chunks */
    for (uint8_t u = 1; u <= 3; u++) {
        cr_assert(cache_fresh(&c, u, 3, 50, 10, 1), "unit %u below", u);
        cr_assert(cache_fresh(&c, u, 3, 130, 20, 1), "unit %u above", u);
        cr_assert_not(cache_fresh(&c, u, 3, 60, 1, 1), "unit %u 60", u);
        cr_assert_not(cache_fresh(&c, u, 3, 127, 3, 1), "unit %u 129", u);
        cr_assert_not(cache_fresh(&c, u, 3, 128, 1, 1), "unit %u 128", u);
        cr_assert(cache_get(&c, u, 4, 50, 100, 1, out), "unit %u FC 4", u);
    }
    cache_invalidate_all(&c, 3, 0xFFF0, 0x20);  /* past 0xFFFF: clipped */
}

Test(cache, the_newest_write_of_any_unit)
{
    uint8_t in[8] = {0};

    cr_assert_eq(cache_newest_all(&c, 0, 10, 5), 0, "empty");
    cache_store(&c, 1, 0, 10, 1, in, 100);
    cache_store(&c, 7, 0, 14, 1, in, 300);
    cache_store(&c, 7, 1, 12, 1, in, 900);      /* another table */
    cache_store(&c, 2, 0, 64, 1, in, 500);      /* next chunk */
    cr_assert_eq(cache_newest_all(&c, 0, 10, 5), 300);
    cr_assert_eq(cache_newest_all(&c, 0, 10, 4), 100);
    cr_assert_eq(cache_newest_all(&c, 0, 11, 3), 0);
    cr_assert_eq(cache_newest_all(&c, 0, 0, 65), 500);
    cr_assert_eq(cache_newest_all(&c, 1, 0, 100), 900);
}

/* One register at chunk <n> (address 64 n) of unit 1, table 3. */
static unsigned
store_chunk(unsigned n, uint64_t now)
{
    uint8_t v[2] = {0, (uint8_t)n};

    return cache_store(&c, 1, 3, (uint16_t)(n * CACHE_CHUNK), 1, v, now);
}

Test(cache, a_budget_evicts_the_chunk_stored_into_least_recently)
{
    uint8_t out[2];

    cache_set_budget(&c, 4);
    for (unsigned n = 0; n < 4; n++) {
        cr_assert_eq(store_chunk(n, 10 + n), 0, "room for 4");
    }
    cr_assert_eq(store_chunk(0, 20), 0, "chunk 0 again: the newest now");
    cr_assert_eq(store_chunk(4, 21), 1, "a fifth evicts one");
    cr_assert_eq(c.chunks, 4);
    cr_assert_not(cache_fresh(&c, 1, 3, 64, 1, 1), "chunk 1 was the oldest");
    for (unsigned n = 0; n <= 4; n++) {
        cr_assert(n == 1 || cache_fresh(&c, 1, 3, (uint16_t)(n * 64), 1, 1),
                  "chunk %u kept", n);
    }
    cr_assert(cache_get(&c, 1, 3, 4 * 64, 1, 21, out));
    cr_assert_eq(out[1], 4, "the reused memory holds the new value only");
    cr_assert_not(cache_fresh(&c, 1, 3, 4 * 64 + 1, 1, 1),
                  "nothing of the evicted chunk's values survives");
    cr_assert_eq(store_chunk(5, 22), 1, "then chunk 2");
    cr_assert_not(cache_fresh(&c, 1, 3, 128, 1, 1));
}

Test(cache, a_store_never_evicts_its_own_chunks)
{
    uint8_t in[250], out[250];

    cache_set_budget(&c, CACHE_BUDGET_MIN);
    for (unsigned n = 0; n < 10; n++) {
        regs(in, (uint16_t)(n * 1000 + 40), 125, 0);
        cache_store(&c, 2, 4, (uint16_t)(n * 1000 + 40), 125, in, 5 + n);
        cr_assert(cache_get(&c, 2, 4, (uint16_t)(n * 1000 + 40), 125, 1, out),
                  "store %u: 125 registers over 3 chunks", n);
        cr_assert_eq(memcmp(in, out, 250), 0);
        cr_assert_leq(c.chunks, CACHE_BUDGET_MIN);
    }
}

Test(cache, without_a_budget_nothing_is_evicted)
{
    for (unsigned n = 0; n < 1000; n++) {
        cr_assert_eq(store_chunk(n, 1 + n), 0);
    }
    cr_assert_eq(c.chunks, 1000);
    cache_clear(&c);
    cr_assert_eq(c.chunks, 0);
    cr_assert_eq(store_chunk(1, 5), 0, "usable after a clear");
}

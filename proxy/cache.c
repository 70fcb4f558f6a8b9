/* SPDX-License-Identifier: MIT */
/*
 * cache.c -- registers by (unit, table, address), in chunks of 64 that
 * are allocated the first time one of their registers is stored and kept
 * until the backend goes, or, with a budget, until the budget is reached
 * and a new chunk takes the memory of the one stored into least recently
 * (a dongle can push answers for every device and base: what it sends is
 * not bounded by any device's map).
 *
 * Each register has its own arrival time, because a block fanned out by
 * the dongle and a single register written by a client age differently.
 * Time 0 means "no value" (never stored, or invalidated by a write).
 * The table is the function code that reads it (3 holding, 4 input, 0x16
 * GivEnergy meter product): the Sigenergy document swaps the names of 3 and
 * 4, so the key is the code, never the address alone.
 */
#include <string.h>

#include "cache.h"
#include "core.h"

/* 64 registers of one (unit, table). */
struct cache_chunk {
    struct cache_chunk *next;            /* bucket chain */
    TAILQ_ENTRY(cache_chunk) lru;        /* cache->lru */
    uint8_t             unit, table;
    uint16_t            base;            /* first address, a multiple of 64 */
    uint16_t            val[CACHE_CHUNK];
    uint64_t            t_ms[CACHE_CHUNK]; /* arrival; 0 = no value */
};

static unsigned
cache_hash(uint8_t unit, uint8_t table, uint16_t base)
{
    return (unit * 31u + table * 7u + (base / CACHE_CHUNK) * 2654435761u) %
           CACHE_BUCKETS;
}

static struct cache_chunk *
cache_chunk(const struct cache *c, uint8_t unit, uint8_t table,
            uint16_t addr)
{
    uint16_t base = (uint16_t)(addr - addr % CACHE_CHUNK);
    struct cache_chunk *k = c->buckets[cache_hash(unit, table, base)];

    while (k != NULL && (k->unit != unit || k->table != table ||
                         k->base != base)) {
        k = k->next;
    }
    return k;
}

/* Take the least recently stored chunk out of <c>, for reuse. */
static struct cache_chunk *
cache_evict(struct cache *c)
{
    struct cache_chunk *k = TAILQ_FIRST(&c->lru), **p;

    p = &c->buckets[cache_hash(k->unit, k->table, k->base)];
    while (*p != k) {
        p = &(*p)->next;
    }
    *p = k->next;
    TAILQ_REMOVE(&c->lru, k, lru);
    memset(k, 0, sizeof(*k));
    return k;
}

/* The chunk of <addr>, made if need be (at the budget, from the least
 * recently stored one: <*evicted> counts those), as the most recently
 * stored. */
static struct cache_chunk *
cache_chunk_add(struct cache *c, uint8_t unit, uint8_t table, uint16_t addr,
                unsigned *evicted)
{
    uint16_t base = (uint16_t)(addr - addr % CACHE_CHUNK);
    unsigned h = cache_hash(unit, table, base);
    struct cache_chunk *k = cache_chunk(c, unit, table, addr);

    if (k != NULL) {
        TAILQ_REMOVE(&c->lru, k, lru);
        TAILQ_INSERT_TAIL(&c->lru, k, lru);
        return k;
    }
    if (c->budget > 0 && c->chunks >= c->budget) {
        k = cache_evict(c);
        (*evicted)++;
    } else {
        k = xcalloc(1, sizeof(*k));
        c->chunks++;
    }
    k->unit = unit;
    k->table = table;
    k->base = base;
    k->next = c->buckets[h];
    c->buckets[h] = k;
    TAILQ_INSERT_TAIL(&c->lru, k, lru);
    return k;
}

/*
 * Make <c> empty, without a budget.
 */
void
cache_init(struct cache *c)
{
    memset(c, 0, sizeof(*c));
    TAILQ_INIT(&c->lru);
}

/*
 * Bound <c> to <chunks> chunks of 64 registers (0: no limit; else at least
 * CACHE_BUDGET_MIN); past it, a new chunk reuses the one least recently
 * stored into.
 */
void
cache_set_budget(struct cache *c, size_t chunks)
{
    ASSERT(chunks == 0 || chunks >= CACHE_BUDGET_MIN);
    ASSERT(c->chunks == 0);
    c->budget = chunks;
}

/*
 * Free every chunk of <c>; it is empty afterwards, its budget kept.
 */
void
cache_clear(struct cache *c)
{
    size_t budget = c->budget;
    struct cache_chunk *k, *next;

    for (k = TAILQ_FIRST(&c->lru); k != NULL; k = next) {
        next = TAILQ_NEXT(k, lru);
        free(k);
    }
    cache_init(c);
    c->budget = budget;
}

/*
 * Store <count> registers of <unit>/<table> from <addr>, big-endian in
 * <be_values>, as arrived at <now_ms> (which must not be 0); at most 125
 * if <c> has a budget, so that its own chunks are never the ones evicted.
 * Returns how many chunks of other registers were evicted to make room.
 */
unsigned
cache_store(struct cache *c, uint8_t unit, uint8_t table, uint16_t addr,
            uint16_t count, const uint8_t *be_values, uint64_t now_ms)
{
    struct cache_chunk *k = NULL;
    unsigned evicted = 0;

    ASSERT(c->budget == 0 || count <= 125);
    for (uint32_t i = 0; i < count && addr + i <= 0xFFFF; i++) {
        uint16_t a = (uint16_t)(addr + i);

        if (k == NULL || a % CACHE_CHUNK == 0) {
            k = cache_chunk_add(c, unit, table, a, &evicted);
        }
        k->val[a % CACHE_CHUNK] = (uint16_t)(be_values[2 * i] << 8 |
                                             be_values[2 * i + 1]);
        k->t_ms[a % CACHE_CHUNK] = now_ms;
    }
    return evicted;
}

/*
 * True if every one of the <count> registers from <addr> has a value that
 * arrived at or after <since_ms>.
 */
bool
cache_fresh(const struct cache *c, uint8_t unit, uint8_t table,
            uint16_t addr, uint16_t count, uint64_t since_ms)
{
    const struct cache_chunk *k = NULL;

    for (uint32_t i = 0; i < count; i++) {
        uint32_t a = addr + i;

        if (a > 0xFFFF) {
            return false;
        }
        if (k == NULL || a % CACHE_CHUNK == 0) {
            k = cache_chunk(c, unit, table, (uint16_t)a);
        }
        if (k == NULL || k->t_ms[a % CACHE_CHUNK] == 0 ||
            k->t_ms[a % CACHE_CHUNK] < since_ms) {
            return false;
        }
    }
    return true;
}

/*
 * If every one of the <count> registers from <addr> arrived at or after
 * <since_ms>, copy them big-endian to <be_values> and return true.
 */
bool
cache_get(const struct cache *c, uint8_t unit, uint8_t table, uint16_t addr,
          uint16_t count, uint64_t since_ms, uint8_t *be_values)
{
    const struct cache_chunk *k = NULL;

    if (!cache_fresh(c, unit, table, addr, count, since_ms)) {
        return false;
    }
    for (uint32_t i = 0; i < count; i++) {
        uint16_t a = (uint16_t)(addr + i);

        if (k == NULL || a % CACHE_CHUNK == 0) {
            k = cache_chunk(c, unit, table, a);
        }
        be_values[2 * i] = (uint8_t)(k->val[a % CACHE_CHUNK] >> 8);
        be_values[2 * i + 1] = (uint8_t)k->val[a % CACHE_CHUNK];
    }
    return true;
}

/*
 * The latest arrival time among the <count> registers from <addr>, 0 if
 * none has a value.
 */
uint64_t
cache_newest(const struct cache *c, uint8_t unit, uint8_t table,
             uint16_t addr, uint32_t count)
{
    const struct cache_chunk *k = NULL;
    uint64_t newest = 0;

    for (uint32_t i = 0; i < count && addr + i <= 0xFFFF; i++) {
        uint16_t a = (uint16_t)(addr + i);

        if (k == NULL || a % CACHE_CHUNK == 0) {
            k = cache_chunk(c, unit, table, a);
        }
        if (k != NULL && k->t_ms[a % CACHE_CHUNK] > newest) {
            newest = k->t_ms[a % CACHE_CHUNK];
        }
    }
    return newest;
}

/*
 * Forget the <count> registers of <unit>/<table> from <addr> (a write is
 * changing them).
 */
void
cache_invalidate(struct cache *c, uint8_t unit, uint8_t table, uint16_t addr,
                 uint16_t count)
{
    struct cache_chunk *k = NULL;

    for (uint32_t i = 0; i < count && addr + i <= 0xFFFF; i++) {
        uint16_t a = (uint16_t)(addr + i);

        if (k == NULL || a % CACHE_CHUNK == 0) {
            k = cache_chunk(c, unit, table, a);
        }
        if (k != NULL) {
            k->t_ms[a % CACHE_CHUNK] = 0;
        }
    }
}

/* Registers <addr>..<end - 1> of chunk <k>, as indices into it: <*i>
 * to <*n>; false if the chunk holds none of them. */
static bool
cache_overlap(const struct cache_chunk *k, uint16_t addr, uint32_t end,
              unsigned *i, unsigned *n)
{
    uint32_t lo = MB_MAX((uint32_t)addr, (uint32_t)k->base);
    uint32_t hi = MB_MIN(end, (uint32_t)k->base + CACHE_CHUNK);

    *i = (unsigned)(lo - k->base);
    *n = (unsigned)(hi - k->base);
    return lo < hi;
}

/*
 * Forget the <count> registers of <table> from <addr> on every unit (a
 * broadcast write is changing them on every device).
 */
void
cache_invalidate_all(struct cache *c, uint8_t table, uint16_t addr,
                     uint32_t count)
{
    uint32_t end = MB_MIN((uint32_t)addr + count, 0x10000u);
    unsigned i, n;

    for (size_t b = 0; b < CACHE_BUCKETS; b++) {
        for (struct cache_chunk *k = c->buckets[b]; k; k = k->next) {
            if (k->table != table || !cache_overlap(k, addr, end, &i, &n)) {
                continue;
            }
            for (; i < n; i++) {
                k->t_ms[i] = 0;
            }
        }
    }
}

/*
 * The latest arrival time among the <count> registers of <table> from
 * <addr>, on any unit; 0 if none has a value.
 */
uint64_t
cache_newest_all(const struct cache *c, uint8_t table, uint16_t addr,
                 uint32_t count)
{
    uint32_t end = MB_MIN((uint32_t)addr + count, 0x10000u);
    uint64_t newest = 0;
    unsigned i, n;

    for (size_t b = 0; b < CACHE_BUCKETS; b++) {
        for (const struct cache_chunk *k = c->buckets[b]; k; k = k->next) {
            if (k->table != table || !cache_overlap(k, addr, end, &i, &n)) {
                continue;
            }
            for (; i < n; i++) {
                newest = MB_MAX(newest, k->t_ms[i]);
            }
        }
    }
    return newest;
}

/*
 * Call <fn> with <ctx> for every chunk of <c> that holds a value, in no
 * particular order (at most the budget, if it has one).
 */
void
cache_walk(const struct cache *c, cache_walk_fn fn, void *ctx)
{
    for (size_t i = 0; i < CACHE_BUCKETS; i++) {
        for (const struct cache_chunk *k = c->buckets[i]; k; k = k->next) {
            uint64_t lo = UINT64_MAX, hi = 0;
            unsigned n = 0;

            for (size_t j = 0; j < CACHE_CHUNK; j++) {
                if (k->t_ms[j] != 0) {
                    n++;
                    lo = MB_MIN(lo, k->t_ms[j]);
                    hi = MB_MAX(hi, k->t_ms[j]);
                }
            }
            if (n > 0) {
                fn(ctx, k->unit, k->table, k->base, n, lo, hi);
            }
        }
    }
}

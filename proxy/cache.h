/* SPDX-License-Identifier: MIT */
/*
 * cache.h -- the register cache of one backend: every register of every
 * (device, table) it has seen, with the time its value arrived. A read is
 * answered from it only if every register it asks for is fresh enough.
 * Sparse (64-register chunks, made on first use), optionally bounded (a
 * budget of chunks, the least recently stored one reused past it), and
 * pure: no libuv; the caller passes the clock.
 */
#ifndef MUX_CACHE_H
#define MUX_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#define CACHE_CHUNK   64
#define CACHE_BUCKETS 256
#define CACHE_BUDGET_MIN 4      /* a store of 125 registers spans 3 chunks */

struct cache_chunk;

/* One backend's registers. */
struct cache {
    struct cache_chunk *buckets[CACHE_BUCKETS];
    TAILQ_HEAD(cache_lru, cache_chunk) lru;  /* least recently stored first */
    size_t              chunks;          /* allocated, for the status page */
    size_t              budget;          /* most chunks; 0 = no limit */
};

void cache_init(struct cache *c);
void cache_set_budget(struct cache *c, size_t chunks);
void cache_clear(struct cache *c);
unsigned cache_store(struct cache *c, uint8_t unit, uint8_t table,
                     uint16_t addr, uint16_t count, const uint8_t *be_values,
                     uint64_t now_ms);
bool cache_get(const struct cache *c, uint8_t unit, uint8_t table,
               uint16_t addr, uint16_t count, uint64_t since_ms,
               uint8_t *be_values);
bool cache_fresh(const struct cache *c, uint8_t unit, uint8_t table,
                 uint16_t addr, uint16_t count, uint64_t since_ms);
void cache_invalidate(struct cache *c, uint8_t unit, uint8_t table,
                      uint16_t addr, uint16_t count);
uint64_t cache_newest(const struct cache *c, uint8_t unit, uint8_t table,
                      uint16_t addr, uint32_t count);
void cache_invalidate_all(struct cache *c, uint8_t table, uint16_t addr,
                          uint32_t count);
uint64_t cache_newest_all(const struct cache *c, uint8_t table,
                          uint16_t addr, uint32_t count);

/* One chunk, for the status page: its registers with a value, and the
 * oldest and newest arrival among them. */
typedef void (*cache_walk_fn)(void *ctx, uint8_t unit, uint8_t table,
                              uint16_t base, unsigned valid,
                              uint64_t oldest_ms, uint64_t newest_ms);
void cache_walk(const struct cache *c, cache_walk_fn fn, void *ctx);

#endif /* MUX_CACHE_H */

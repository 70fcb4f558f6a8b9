/* SPDX-License-Identifier: MIT */
/*
 * router.h -- client unit id -> (backend index, backend unit id). A table
 * of 256 entries built once from the [route] section; lookups are O(1).
 * Pure: the config module uses the parsers, the session the table.
 */
#ifndef MUX_ROUTER_H
#define MUX_ROUTER_H

#include <stdbool.h>
#include <stdint.h>

#include "core.h"

#define ROUTER_NONE (-1)

/* One parsed route line: client units [lo, hi] go to backend units
 * [be_lo, be_lo + hi - lo]. */
struct route {
    unsigned lo, hi;          /* client unit range, inclusive */
    unsigned be_lo;           /* first backend unit */
    int      backend;         /* index into the backend table */
};

/* The lookup table. */
struct router {
    int16_t backend[256];     /* backend index per client unit, or NONE */
    uint8_t be_unit[256];     /* unit id on that backend */
};

int router_parse_units(const char *s, unsigned *lo, unsigned *hi) MB_MUSTCHECK;
int router_parse_target(const char *s, char *name, size_t name_size,
                        bool *has_units, unsigned *lo, unsigned *hi) MB_MUSTCHECK;
void router_init(struct router *r);
void router_add(struct router *r, const struct route *route);
bool router_lookup(const struct router *r, uint8_t unit, int *backend,
                   uint8_t *be_unit);

#endif /* MUX_ROUTER_H */

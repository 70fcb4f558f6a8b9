/* SPDX-License-Identifier: MIT */
/*
 * router.c -- parsing of unit specs ("17", "0x11", "10-19", "0x10-0x1F")
 * and route targets ("bus1", "bus1:3", "bus1:1-10"), and the 256-entry
 * lookup table. Overlap and length checks are the config module's, which
 * knows the line numbers.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "router.h"

/* One unit id, decimal or 0x-hex, 0..255; <*end> is left after it. */
static int
parse_unit(const char *s, const char **end, unsigned *out)
{
    char *e;
    unsigned long v;

    while (isspace((unsigned char)*s)) {
        s++;
    }
    if (!isdigit((unsigned char)*s)) {
        return -EINVAL;
    }
    errno = 0;
    e = (char *)s;
    /* Base 0 would read "010" as octal 8: decimal unless it says 0x. */
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        v = isxdigit((unsigned char)s[2]) ? strtoul(s + 2, &e, 16) : 256;
    } else {
        v = strtoul(s, &e, 10);
    }
    if (errno != 0 || e == s || v > 255) {
        return -EINVAL;
    }
    while (isspace((unsigned char)*e)) {
        e++;
    }
    *end = e;
    *out = (unsigned)v;
    return 0;
}

/*
 * Parse unit spec <s>: one unit or a range "lo-hi", decimal or hex, each
 * 0..255, lo <= hi. Stores the range in <lo>/<hi>. Returns 0 or -EINVAL.
 */
int
router_parse_units(const char *s, unsigned *lo, unsigned *hi)
{
    const char *p;

    if (parse_unit(s, &p, lo) != 0) {
        return -EINVAL;
    }
    if (*p == '\0') {
        *hi = *lo;
        return 0;
    }
    if (*p != '-' || parse_unit(p + 1, &p, hi) != 0 || *p != '\0' ||
        *hi < *lo) {
        return -EINVAL;
    }
    return 0;
}

/*
 * Parse route target <s>: "name" or "name:units". Copies the backend name
 * into <name> (<name_size> bytes); sets <has_units> and, when set, the
 * range in <lo>/<hi>. Returns 0 or -EINVAL.
 */
int
router_parse_target(const char *s, char *name, size_t name_size,
                    bool *has_units, unsigned *lo, unsigned *hi)
{
    const char *colon = strchr(s, ':');
    size_t n = colon ? (size_t)(colon - s) : strlen(s);

    while (n > 0 && isspace((unsigned char)s[n - 1])) {
        n--;
    }
    if (n == 0 || n >= name_size) {
        return -EINVAL;
    }
    memcpy(name, s, n);
    name[n] = '\0';
    *has_units = colon != NULL;
    if (colon == NULL) {
        return 0;
    }
    return router_parse_units(colon + 1, lo, hi);
}

/*
 * Make <r> route nothing.
 */
void
router_init(struct router *r)
{
    for (int i = 0; i < 256; i++) {
        r->backend[i] = ROUTER_NONE;
        r->be_unit[i] = 0;
    }
}

/*
 * Add <route> to <r>. The caller has checked that it fits in 0..255 and
 * does not overlap another.
 */
void
router_add(struct router *r, const struct route *route)
{
    for (unsigned u = route->lo; u <= route->hi; u++) {
        r->backend[u] = (int16_t)route->backend;
        r->be_unit[u] = (uint8_t)(route->be_lo + (u - route->lo));
    }
}

/*
 * Look up client <unit>. On a hit stores the backend index in <backend>
 * and the unit id to use on it in <be_unit>, and returns true.
 */
bool
router_lookup(const struct router *r, uint8_t unit, int *backend,
              uint8_t *be_unit)
{
    if (r->backend[unit] == ROUTER_NONE) {
        return false;
    }
    *backend = r->backend[unit];
    *be_unit = r->be_unit[unit];
    return true;
}

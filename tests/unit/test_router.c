/* SPDX-License-Identifier: MIT */
/*
 * test_router.c -- unit specs, route targets and the lookup table of
 * proxy/router.c.
 *
 * router_parse_units() and router_parse_target() are run over tables of
 * good and bad strings (decimal, 0x hex, ranges, white space, every way a
 * range can be malformed, names at and past the size limit). The table
 * tests build routers the way cfg.c does and look every unit up: range
 * rewriting (client 10-19 -> backend 1-10), unrouted units, units 0 and
 * 255, and a route covering all 256 units.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core.h"
#include "router.h"

/* ---------------------------------------------------------------------- */
/* router_parse_units */

/* A unit spec and what it must parse to (rc 0) or -EINVAL. */
struct units_case {
    const char *s;
    int         rc;
    unsigned    lo, hi;
};

static const struct units_case units_cases[] = {
    {"17", 0, 17, 17},
    {"0x11", 0, 17, 17},
    {"0X11", 0, 17, 17},
    {"0xff", 0, 255, 255},
    {"10-19", 0, 10, 19},
    {"0x10-0x1F", 0, 16, 31},
    {"0x10-31", 0, 16, 31},
    {" 5 ", 0, 5, 5},
    {"\t5", 0, 5, 5},
    {"0", 0, 0, 0},
    {"255", 0, 255, 255},
    {"0-255", 0, 0, 255},
    {"5-5", 0, 5, 5},
    {"247", 0, 247, 247},
    {"", -EINVAL, 0, 0},
    {" ", -EINVAL, 0, 0},
    {"x", -EINVAL, 0, 0},
    {"256", -EINVAL, 0, 0},
    {"1000", -EINVAL, 0, 0},
    {"99999999999999999999999", -EINVAL, 0, 0},
    {"19-10", -EINVAL, 0, 0},
    {"1-", -EINVAL, 0, 0},
    {"-1", -EINVAL, 0, 0},
    {"-", -EINVAL, 0, 0},
    {"1-2-3", -EINVAL, 0, 0},
    {"0x100", -EINVAL, 0, 0},
    {"0x", -EINVAL, 0, 0},
    {"1x", -EINVAL, 0, 0},
    {"17abc", -EINVAL, 0, 0},
    {"1,2", -EINVAL, 0, 0},
    {"1 2", -EINVAL, 0, 0},
    {"1-256", -EINVAL, 0, 0},
    {"+5", -EINVAL, 0, 0},
    {"1.5", -EINVAL, 0, 0},
    {"1..5", -EINVAL, 0, 0},
    {"1-x", -EINVAL, 0, 0},
};

Test(router_parse_units, table)
{
    for (size_t i = 0; i < ARRAY_SIZE(units_cases); i++) {
        const struct units_case *c = &units_cases[i];
        unsigned lo = 999, hi = 999;
        int rc = router_parse_units(c->s, &lo, &hi);

        cr_assert_eq(rc, c->rc, "\"%s\": rc %d, expected %d", c->s, rc,
                     c->rc);
        if (c->rc == 0) {
            cr_assert_eq(lo, c->lo, "\"%s\": lo %u", c->s, lo);
            cr_assert_eq(hi, c->hi, "\"%s\": hi %u", c->s, hi);
        }
    }
}

Test(router_parse_units, every_unit_decimal_and_hex)
{
    char s[16];

    for (unsigned u = 0; u < 256; u++) {
        unsigned lo, hi;

        snprintf(s, sizeof(s), "%u", u);
        cr_assert_eq(router_parse_units(s, &lo, &hi), 0, "%s", s);
        cr_assert_eq(lo, u);
        cr_assert_eq(hi, u);
        snprintf(s, sizeof(s), "0x%02X", u);
        cr_assert_eq(router_parse_units(s, &lo, &hi), 0, "%s", s);
        cr_assert_eq(lo, u);
        snprintf(s, sizeof(s), "%u-255", u);
        cr_assert_eq(router_parse_units(s, &lo, &hi), 0, "%s", s);
        cr_assert_eq(lo, u);
        cr_assert_eq(hi, 255);
    }
}

/* The header promises "decimal or 0x-hex": a leading zero must not switch
 * to octal (a user writing 010 means unit 10, or gets an error). */
Test(router_parse_units, leading_zero_is_not_octal)
{
    static const struct {
        const char *s;
        unsigned    lo, hi;
    } c[] = {
        {"010", 10, 10},
        {"017", 17, 17},
        {"010-019", 10, 19},
        {"08", 8, 8},
    };

    for (size_t i = 0; i < ARRAY_SIZE(c); i++) {
        unsigned lo = 999, hi = 999;
        int rc = router_parse_units(c[i].s, &lo, &hi);

        cr_assert(rc != 0 || (lo == c[i].lo && hi == c[i].hi),
                  "\"%s\" parsed as %u-%u (octal?), expected %u-%u or an "
                  "error", c[i].s, lo, hi, c[i].lo, c[i].hi);
    }
}

/* ---------------------------------------------------------------------- */
/* router_parse_target */

/* A target and what it must parse to. */
struct target_case {
    const char *s;
    int         rc;
    const char *name;
    bool        has_units;
    unsigned    lo, hi;
};

static const struct target_case target_cases[] = {
    {"bus1", 0, "bus1", false, 0, 0},
    {"bus1:3", 0, "bus1", true, 3, 3},
    {"bus1:1-10", 0, "bus1", true, 1, 10},
    {"giv:0x32", 0, "giv", true, 50, 50},
    {"giv:0x11", 0, "giv", true, 17, 17},
    {"sigen:247", 0, "sigen", true, 247, 247},
    {"a", 0, "a", false, 0, 0},
    {"my-bus_2:0", 0, "my-bus_2", true, 0, 0},
    {"bus1 : 3", 0, "bus1", true, 3, 3},
    {"bus1:0x10-0x1F", 0, "bus1", true, 16, 31},
    {":3", -EINVAL, NULL, false, 0, 0},
    {"", -EINVAL, NULL, false, 0, 0},
    {":", -EINVAL, NULL, false, 0, 0},
    {"bus1:", -EINVAL, NULL, false, 0, 0},
    {"bus1:x", -EINVAL, NULL, false, 0, 0},
    {"bus1:256", -EINVAL, NULL, false, 0, 0},
    {"bus1:10-1", -EINVAL, NULL, false, 0, 0},
    {"bus1:1-", -EINVAL, NULL, false, 0, 0},
    {"bus1:3:4", -EINVAL, NULL, false, 0, 0},
    {"bus1:1-2-3", -EINVAL, NULL, false, 0, 0},
};

Test(router_parse_target, table)
{
    for (size_t i = 0; i < ARRAY_SIZE(target_cases); i++) {
        const struct target_case *c = &target_cases[i];
        char name[32];
        bool has_units = !c->has_units;
        unsigned lo = 999, hi = 999;
        int rc = router_parse_target(c->s, name, sizeof(name), &has_units,
                                     &lo, &hi);

        cr_assert_eq(rc, c->rc, "\"%s\": rc %d, expected %d", c->s, rc,
                     c->rc);
        if (c->rc != 0) {
            continue;
        }
        cr_assert_str_eq(name, c->name, "\"%s\": name", c->s);
        cr_assert_eq(has_units, c->has_units, "\"%s\": has_units", c->s);
        if (c->has_units) {
            cr_assert_eq(lo, c->lo, "\"%s\": lo %u", c->s, lo);
            cr_assert_eq(hi, c->hi, "\"%s\": hi %u", c->s, hi);
        }
    }
}

Test(router_parse_target, name_size_limit)
{
    char s[64], name[8];
    bool has_units;
    unsigned lo, hi;

    /* 7 characters fit an 8-byte buffer, 8 do not. */
    cr_assert_eq(router_parse_target("abcdefg", name, sizeof(name),
                                     &has_units, &lo, &hi), 0);
    cr_assert_str_eq(name, "abcdefg");
    cr_assert_eq(router_parse_target("abcdefg:5", name, sizeof(name),
                                     &has_units, &lo, &hi), 0);
    cr_assert_str_eq(name, "abcdefg");
    cr_assert_eq(router_parse_target("abcdefgh", name, sizeof(name),
                                     &has_units, &lo, &hi), -EINVAL);
    cr_assert_eq(router_parse_target("abcdefgh:5", name, sizeof(name),
                                     &has_units, &lo, &hi), -EINVAL);
    memset(s, 'n', 40);
    s[40] = '\0';
    cr_assert_eq(router_parse_target(s, name, sizeof(name), &has_units, &lo,
                                     &hi), -EINVAL);
}

Test(router_parse_target, name_too_long_for_cfg)
{
    char s[64], name[32];
    bool has_units;
    unsigned lo, hi;

    memset(s, 'b', 31);
    strcpy(s + 31, ":1");
    cr_assert_eq(router_parse_target(s, name, sizeof(name), &has_units, &lo,
                                     &hi), 0);
    cr_assert_eq(strlen(name), 31);
    memset(s, 'b', 32);
    strcpy(s + 32, ":1");
    cr_assert_eq(router_parse_target(s, name, sizeof(name), &has_units, &lo,
                                     &hi), -EINVAL);
}

/* ---------------------------------------------------------------------- */
/* router_init, router_add, router_lookup */

Test(router_table, empty_routes_nothing)
{
    struct router r;
    int be;
    uint8_t bu;

    memset(&r, 0x5A, sizeof(r));
    router_init(&r);
    for (unsigned u = 0; u < 256; u++) {
        cr_assert_not(router_lookup(&r, (uint8_t)u, &be, &bu), "unit %u", u);
    }
}

Test(router_table, range_rewrite)
{
    /* 10-19 = bus1:1-10 with bus1 at index 2. */
    const struct route route = {10, 19, 1, 2};
    struct router r;

    router_init(&r);
    router_add(&r, &route);
    for (unsigned u = 0; u < 256; u++) {
        int be = -7;
        uint8_t bu = 0;
        bool hit = router_lookup(&r, (uint8_t)u, &be, &bu);

        if (u < 10 || u > 19) {
            cr_assert_not(hit, "unit %u routed", u);
            continue;
        }
        cr_assert(hit, "unit %u not routed", u);
        cr_assert_eq(be, 2, "unit %u backend %d", u, be);
        cr_assert_eq(bu, u - 9, "unit %u -> be unit %u", u, bu);
    }
}

Test(router_table, sigenergy_unit_15)
{
    const struct route route = {10, 19, 1, 0};
    struct router r;
    int be = -1;
    uint8_t bu = 0;

    router_init(&r);
    router_add(&r, &route);
    cr_assert(router_lookup(&r, 15, &be, &bu));
    cr_assert_eq(be, 0);
    cr_assert_eq(bu, 6);
}

Test(router_table, design_example)
{
    /* The [route] section of DESIGN.md, backends sigen=0 bus1=1 giv=2. */
    static const struct route routes[] = {
        {1, 1, 0x32, 2}, {2, 2, 0x11, 2}, {10, 19, 1, 1}, {20, 20, 247, 0},
        {21, 21, 1, 0},
    };
    static const struct {
        uint8_t unit;
        bool    hit;
        int     be;
        uint8_t be_unit;
    } look[] = {
        {0, false, 0, 0}, {1, true, 2, 0x32}, {2, true, 2, 0x11},
        {3, false, 0, 0}, {9, false, 0, 0}, {10, true, 1, 1},
        {15, true, 1, 6}, {19, true, 1, 10}, {20, true, 0, 247},
        {21, true, 0, 1}, {22, false, 0, 0}, {255, false, 0, 0},
    };
    struct router r;

    router_init(&r);
    for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
        router_add(&r, &routes[i]);
    }
    for (size_t i = 0; i < ARRAY_SIZE(look); i++) {
        int be = -1;
        uint8_t bu = 0;

        cr_assert_eq(router_lookup(&r, look[i].unit, &be, &bu), look[i].hit,
                     "unit %u", look[i].unit);
        if (look[i].hit) {
            cr_assert_eq(be, look[i].be, "unit %u backend", look[i].unit);
            cr_assert_eq(bu, look[i].be_unit, "unit %u be unit",
                         look[i].unit);
        }
    }
}

Test(router_table, units_0_and_255)
{
    static const struct route routes[] = {
        {0, 0, 0, 3}, {255, 255, 247, 4},
    };
    struct router r;
    int be = -1;
    uint8_t bu = 1;

    router_init(&r);
    router_add(&r, &routes[0]);
    router_add(&r, &routes[1]);
    cr_assert(router_lookup(&r, 0, &be, &bu));
    cr_assert_eq(be, 3);
    cr_assert_eq(bu, 0);
    cr_assert(router_lookup(&r, 255, &be, &bu));
    cr_assert_eq(be, 4);
    cr_assert_eq(bu, 247);
    cr_assert_not(router_lookup(&r, 1, &be, &bu));
    cr_assert_not(router_lookup(&r, 254, &be, &bu));
}

Test(router_table, all_256_units)
{
    /* 0-255 onto itself, and a shifted range ending at backend unit 255. */
    const struct route all = {0, 255, 0, 1};
    const struct route top = {0, 55, 200, 9};
    struct router r;

    router_init(&r);
    router_add(&r, &all);
    for (unsigned u = 0; u < 256; u++) {
        int be = -1;
        uint8_t bu = 0;

        cr_assert(router_lookup(&r, (uint8_t)u, &be, &bu), "unit %u", u);
        cr_assert_eq(be, 1);
        cr_assert_eq(bu, u);
    }
    router_init(&r);
    router_add(&r, &top);
    for (unsigned u = 0; u <= 55; u++) {
        int be = -1;
        uint8_t bu = 0;

        cr_assert(router_lookup(&r, (uint8_t)u, &be, &bu), "unit %u", u);
        cr_assert_eq(be, 9);
        cr_assert_eq(bu, 200 + u);
    }
    cr_assert_not(router_lookup(&r, 56, &(int){0}, &(uint8_t){0}));
}

Test(router_table, init_clears_previous_routes)
{
    const struct route route = {5, 6, 5, 0};
    struct router r;
    int be;
    uint8_t bu;

    router_init(&r);
    router_add(&r, &route);
    cr_assert(router_lookup(&r, 5, &be, &bu));
    router_init(&r);
    cr_assert_not(router_lookup(&r, 5, &be, &bu));
    cr_assert_not(router_lookup(&r, 6, &be, &bu));
}

Test(router_table, backend_index_above_255)
{
    /* The table stores int16_t: backend indexes are not truncated to a
     * byte. */
    const struct route route = {7, 7, 7, 300};
    struct router r;
    int be = -1;
    uint8_t bu = 0;

    router_init(&r);
    router_add(&r, &route);
    cr_assert(router_lookup(&r, 7, &be, &bu));
    cr_assert_eq(be, 300);
}

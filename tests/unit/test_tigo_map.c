/* SPDX-License-Identifier: MIT */
/*
 * test_tigo_map.c -- the Tigo node table and register map
 * (backends/tigo_map.c): slots in the order nodes are heard, pinned to
 * the long address once known and kept across a restart through the
 * state file text, repeats of a report dropped, the header and node
 * blocks of the map (docs/tigo.md, section 5), zeros for a slot no node
 * holds, 0x02 past the last slot.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "tigo_map.h"

static struct tigo_map m, m2;
static const struct tigo_bus_counts bus = {
    .frames = 0x12345, .crc_errors = 7, .bad = 0x10002,
};

#define STALE 120000

/* A report of the scaled values the vector T10 (first report) gives. */
static struct tigo_power
report(uint16_t slot)
{
    struct tigo_power p;

    memset(&p, 0, sizeof(p));
    p.vin_cv = 4525;            /* 45.25 V */
    p.vout_cv = 4500;           /* 45.0 V */
    p.iin_ma = 6165;            /* 6.165 A */
    p.temp_dc = 230;            /* 23.0 C */
    p.duty = 255;
    p.rssi = 178;
    p.pin_dw = 2789;            /* 905 x 1233 / 400 = 278.9 W */
    p.slot = slot;
    return p;
}

static const uint8_t L1[8] = {0x04, 0xC0, 0x5B, 0x40, 0x00, 0xA2, 0x34, 0x6F};
static const uint8_t L2[8] = {0x04, 0xC0, 0x5B, 0x40, 0x00, 0xA2, 0x34, 0x71};

static void
setup(void)
{
    tigo_map_init(&m);
    tigo_map_init(&m2);
}

TestSuite(tigo_map, .init = setup);

Test(tigo_map, slots_in_the_order_nodes_are_heard)
{
    struct tigo_power p = report(0xDF40);

    cr_assert(tigo_map_power(&m, 0x1201, 12, &p, 1000));
    cr_assert(tigo_map_power(&m, 0x1201, 7, &p, 1000));
    cr_assert(tigo_map_power(&m, 0x1202, 12, &p, 1000), "ids per gateway");
    cr_assert_eq(tigo_map_find(&m, 0x1201, 12), 0);
    cr_assert_eq(tigo_map_find(&m, 0x1201, 7), 1);
    cr_assert_eq(tigo_map_find(&m, 0x1202, 12), 2);
    cr_assert_eq(m.n_used, 3);
    cr_assert(m.dirty);
}

Test(tigo_map, a_repeated_report_is_dropped)
{
    struct tigo_power a = report(0xDF40), b = report(0xE0D0);

    cr_assert(tigo_map_power(&m, 0x1201, 12, &a, 1000));
    cr_assert(tigo_map_power(&m, 0x1201, 12, &b, 1000));
    /* the gateway retransmits the response: both again */
    cr_assert_not(tigo_map_power(&m, 0x1201, 12, &a, 1100));
    cr_assert_not(tigo_map_power(&m, 0x1201, 12, &b, 1100));
    cr_assert_eq(m.duplicates, 2);
    cr_assert_eq(m.nodes[0].reports, 2);
    /* the same slot counter from another node is no repeat */
    cr_assert(tigo_map_power(&m, 0x1201, 7, &a, 1100));
}

Test(tigo_map, the_header_and_a_node_block)
{
    struct tigo_power p = report(0xDF40);
    uint16_t v[TIGO_HEADER_REGS], n[TIGO_NODE_REGS];

    tigo_map_frame(&m, 0x1201, 5000);
    tigo_map_frame(&m, 0, 5000);        /* the controller's: no gateway */
    tigo_map_frame(&m, 0x1202, 5000);
    cr_assert(tigo_map_power(&m, 0x1201, 12, &p, 5000));
    tigo_map_learn(&m, 0x1201, 12, L1);
    cr_assert_eq(tigo_map_read(&m, &bus, 8500, STALE, 0, TIGO_HEADER_REGS,
                               v), 0);
    cr_assert_eq(v[0], 1, "map version");
    cr_assert_eq(v[1], 1, "nodes known");
    cr_assert_eq(v[2], 1, "nodes online");
    cr_assert_eq(v[3], 3, "seconds since the last frame");
    cr_assert(v[4] == 0x0001 && v[5] == 0x2345, "frames, u32");
    cr_assert(v[6] == 0 && v[7] == 7, "CRC errors");
    cr_assert(v[8] == 1 && v[9] == 2, "noise, runts, giants");
    cr_assert(v[10] == 0 && v[11] == 2789, "power of online nodes");
    cr_assert_eq(v[12], 2, "gateways");
    cr_assert_eq(tigo_map_read(&m, &bus, 8500, STALE, TIGO_NODE_BASE,
                               TIGO_NODE_REGS, n), 0);
    cr_assert_eq(n[0], TIGO_F_SEEN | TIGO_F_ONLINE | TIGO_F_BARCODE);
    cr_assert_eq(n[1], 0x1201);
    cr_assert_eq(n[2], 12);
    cr_assert(n[3] == 0x04C0 && n[4] == 0x5B40 && n[5] == 0x00A2 &&
              n[6] == 0x346F, "long address, big-endian");
    cr_assert_eq(n[7], 4525);
    cr_assert_eq(n[8], 4500);
    cr_assert_eq(n[9], 6165);
    cr_assert_eq(n[10], 2789);
    cr_assert_eq(n[11], 230);
    cr_assert_eq(n[12], 255);
    cr_assert_eq(n[13], 178);
    cr_assert_eq(n[14], 3, "seconds since its report");
    cr_assert_eq(n[15], 1, "reports");
}

Test(tigo_map, never_heard_stale_and_negative)
{
    struct tigo_power p = report(1);
    uint16_t v[4], n[TIGO_NODE_REGS];

    cr_assert_eq(tigo_map_read(&m, &bus, 10, STALE, 0, 4, v), 0);
    cr_assert_eq(v[3], 0xFFFF, "no frame ever");
    p.temp_dc = -1;
    p.vout_cv = 0;              /* a monitor-only unit */
    cr_assert(tigo_map_power(&m, 0x1201, 3, &p, 1000));
    cr_assert_eq(tigo_map_read(&m, &bus, 1000 + STALE + 1000, STALE,
                               TIGO_NODE_BASE, TIGO_NODE_REGS, n), 0);
    cr_assert_eq(n[0], TIGO_F_SEEN | TIGO_F_MONITOR, "no longer online");
    cr_assert_eq((int16_t)n[11], -1, "-0.1 C");
    cr_assert_eq(n[14], (STALE + 1000) / 1000);
    cr_assert_eq(tigo_map_online(&m, 1000 + STALE + 1000, STALE), 0);
}

Test(tigo_map, empty_slots_are_zero_and_the_end_is_0x02)
{
    uint16_t v[125];

    memset(v, 0xAA, sizeof(v));
    cr_assert_eq(tigo_map_read(&m, &bus, 10, STALE, TIGO_NODE_BASE + 16 * 5,
                               125, v), 0);
    for (int i = 0; i < 125; i++) {
        cr_assert_eq(v[i], 0, "register %d", i);
    }
    cr_assert_eq(tigo_map_read(&m, &bus, 10, STALE, TIGO_MAP_END - 16, 16,
                               v), 0, "the last slot");
    cr_assert_eq(tigo_map_read(&m, &bus, 10, STALE, TIGO_MAP_END - 16, 17,
                               v), 0x02, "one past it");
    cr_assert_eq(tigo_map_read(&m, &bus, 10, STALE, 0xFF00, 10, v), 0x02);
    /* the header's unused registers read as zeros */
    cr_assert_eq(tigo_map_read(&m, &bus, 10, STALE, 13, 100, v), 0);
    cr_assert_eq(v[0], 0);
}

Test(tigo_map, a_slot_is_pinned_to_its_long_address_across_a_restart)
{
    struct tigo_power p = report(10);
    static char text[TIGO_SLOTS * 64];
    char why[160];
    size_t n;

    cr_assert(tigo_map_power(&m, 0x1201, 12, &p, 1000));
    cr_assert(tigo_map_power(&m, 0x1201, 7, &p, 1000));
    tigo_map_learn(&m, 0x1201, 7, L2);
    tigo_map_learn(&m, 0x1201, 12, L1);
    n = tigo_map_save(&m, text, sizeof(text));
    cr_assert_gt(n, 0);
    cr_assert_not(m.dirty);
    cr_assert(strstr(text, "0 0x1201 12 04C05B400A2346F") == NULL);
    cr_assert_not_null(strstr(text, "0 0x1201 12 04C05B4000A2346F\n"));
    cr_assert_not_null(strstr(text, "1 0x1201 7 04C05B4000A23471\n"));

    /* The restart: the controller enumerated again and gave node 12's
     * panel id 9, and 7's panel id 12; a new panel is heard first. */
    cr_assert_eq(tigo_map_load(&m2, text, why, sizeof(why)), 0, "%s", why);
    cr_assert_eq(m2.n_used, 2);
    p.slot = 99;
    cr_assert(tigo_map_power(&m2, 0x1201, 30, &p, 2000));
    cr_assert_eq(tigo_map_find(&m2, 0x1201, 30), 2, "a new slot");
    cr_assert(tigo_map_power(&m2, 0x1201, 9, &p, 2000));
    cr_assert_eq(tigo_map_find(&m2, 0x1201, 9), 3, "provisional");
    tigo_map_learn(&m2, 0x1201, 9, L1);
    cr_assert_eq(tigo_map_find(&m2, 0x1201, 9), 0, "back to L1's slot");
    cr_assert_not(m2.nodes[3].used, "the provisional slot is free");
    cr_assert_eq(m2.nodes[0].reports, 1, "its report came along");
    tigo_map_learn(&m2, 0x1201, 12, L2);
    cr_assert_eq(tigo_map_find(&m2, 0x1201, 12), 1, "L2 keeps slot 1");
    cr_assert_eq(m2.n_used, 3);
}

Test(tigo_map, ids_given_to_another_panel_leave_the_old_pin)
{
    struct tigo_power p = report(10);

    cr_assert(tigo_map_power(&m, 0x1201, 12, &p, 1000));
    tigo_map_learn(&m, 0x1201, 12, L1);
    /* the controller now says node 12 is L2 */
    tigo_map_learn(&m, 0x1201, 12, L2);
    cr_assert_eq(tigo_map_find(&m, 0x1201, 12), 1, "L2 gets a slot");
    cr_assert(m.nodes[0].used && m.nodes[0].long_known &&
              memcmp(m.nodes[0].long_addr, L1, 8) == 0, "slot 0 is L1's");
    cr_assert_eq(m.nodes[0].node, 0, "without the ids");
}

Test(tigo_map, a_bad_state_file_is_refused_whole)
{
    char why[160];

    cr_assert_eq(tigo_map_load(&m, "# c\n0 0x1201 12 04C05B4000A2346F\n"
                               "1 0x1201 zz -\n", why, sizeof(why)), -1);
    cr_assert_not_null(strstr(why, "line 3"), "%s", why);
    cr_assert_eq(m.n_used, 0);
    cr_assert_eq(tigo_map_load(&m, "5 0x1 1 -\n5 0x1 2 -\n", why,
                               sizeof(why)), -1);
    cr_assert_not_null(strstr(why, "slot 5 twice"), "%s", why);
    cr_assert_eq(tigo_map_load(&m, "1000 0x1 1 -\n", why, sizeof(why)), -1);
    cr_assert_eq(tigo_map_load(&m, "1 0x1 1 04C05B\n", why, sizeof(why)),
                 -1);
    cr_assert_eq(tigo_map_load(&m, "", why, sizeof(why)), 0);
}

Test(tigo_map, every_slot_held)
{
    struct tigo_power p = report(1);

    for (unsigned i = 0; i < TIGO_SLOTS; i++) {
        cr_assert(tigo_map_power(&m, 0x1201, (uint16_t)(i + 2), &p, 10));
    }
    cr_assert_not(tigo_map_power(&m, 0x1201, 5000, &p, 10));
    cr_assert_eq(m.full, 1);
}

/* SPDX-License-Identifier: MIT */
/*
 * tigo_map.h -- what a receive-only Tigo backend knows of the optimizers it
 * hears (their ids, long addresses, last power report) and the Modbus
 * register map it serves from that (docs/tigo.md, 4.4): a header at
 * 0x0000 and one 16-register block per slot at 0x0100 + 16 x slot. Slots
 * are given in the order nodes are first heard and pinned to the long
 * address once it is known; the assignment is kept in a state file so that
 * a SCADA register never moves to another panel. Pure: no libuv, no
 * allocation; the clock and the bus counters are passed in.
 */
#ifndef MUX_TIGO_MAP_H
#define MUX_TIGO_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tigo_frame.h"

#define TIGO_MAP_VERSION   1
#define TIGO_SLOTS         1000     /* node blocks; reads past them: 0x02 */
#define TIGO_NODE_BASE     0x0100   /* the first node block */
#define TIGO_NODE_REGS     16       /* registers per node block */
#define TIGO_HEADER_REGS   13       /* registers of the header in use */
#define TIGO_GATEWAYS_MAX  32
#define TIGO_DEDUPE        8        /* report slot counters remembered per
                                       node, against retransmissions */
#define TIGO_MAP_END       (TIGO_NODE_BASE + TIGO_SLOTS * TIGO_NODE_REGS)

/* Flags of a node block (register +0). */
#define TIGO_F_SEEN     0x0001      /* a power report came */
#define TIGO_F_ONLINE   0x0002      /* one came within stale_after */
#define TIGO_F_BARCODE  0x0004      /* its long address is known */
#define TIGO_F_MONITOR  0x0008      /* a monitor-only unit: Vout ~ 0 */

/* One slot: a panel's optimizer. */
struct tigo_node {
    bool     used;                  /* the slot is held */
    bool     long_known;
    uint16_t gateway, node;         /* its ids now (0: not heard yet) */
    uint8_t  long_addr[TIGO_LONG_LEN];
    uint64_t last_ms;               /* clock of its last report; 0 never */
    uint32_t reports;               /* power reports taken */
    uint16_t vin_cv, vout_cv, iin_ma, pin_dw;
    int16_t  temp_dc;
    uint8_t  duty, rssi;
    uint16_t recent[TIGO_DEDUPE];   /* report slot counters, newest at
                                       recent_pos - 1 */
    unsigned n_recent, recent_pos;
};

/* The bus counters the header shows (the deframer's). */
struct tigo_bus_counts {
    uint64_t frames, crc_errors, bad;   /* bad: noise, runts, giants */
};

struct tigo_map {
    struct tigo_node nodes[TIGO_SLOTS];
    unsigned n_used;                 /* slots held */
    uint16_t gateways[TIGO_GATEWAYS_MAX];
    unsigned n_gateways;
    uint64_t last_frame_ms;          /* clock of the last valid frame; 0 */
    uint64_t duplicates;             /* power reports dropped as repeats */
    uint64_t full;                   /* nodes heard with every slot held */
    bool     dirty;                  /* the slot assignment changed since
                                        tigo_map_save() */
};

void tigo_map_init(struct tigo_map *m);
void tigo_map_frame(struct tigo_map *m, uint16_t gateway, uint64_t now_ms);
bool tigo_map_power(struct tigo_map *m, uint16_t gateway, uint16_t node,
                    const struct tigo_power *p, uint64_t now_ms);
void tigo_map_learn(struct tigo_map *m, uint16_t gateway, uint16_t node,
                    const uint8_t long_addr[TIGO_LONG_LEN]);
int tigo_map_find(const struct tigo_map *m, uint16_t gateway, uint16_t node);
unsigned tigo_map_online(const struct tigo_map *m, uint64_t now_ms,
                         uint64_t stale_ms);
uint16_t tigo_map_flags(const struct tigo_node *n, uint64_t now_ms,
                        uint64_t stale_ms);
uint8_t tigo_map_read(const struct tigo_map *m,
                      const struct tigo_bus_counts *bus, uint64_t now_ms,
                      uint64_t stale_ms, uint16_t addr, uint16_t count,
                      uint16_t *out);
size_t tigo_map_save(struct tigo_map *m, char *buf, size_t size);
int tigo_map_load(struct tigo_map *m, const char *text, char *why,
                  size_t why_size);

#endif /* MUX_TIGO_MAP_H */

/* SPDX-License-Identifier: MIT */
/*
 * tigo_map.c -- the optimizers a Tigo backend hears, and the input
 * registers it serves (docs/tigo.md, 4.4).
 *
 * Slots: a node (gateway id, node id) gets the next free slot the first
 * time it is heard. Once its long address is known (a node table page or
 * a topology report, seldom: about once a day, 2.8) the slot is pinned to
 * it: if another slot already holds that long address (the state file of
 * an earlier run), the node moves there and its provisional slot is freed,
 * so a panel keeps the registers it had. Node ids are per gateway and may
 * change; the long address does not.
 *
 * Values are exact integer scalings of the raw fields (4.4), computed by
 * tigo_frame.c. A report whose slot counter the node sent recently is a
 * retransmission (2.3) and is dropped.
 *
 * Pure: the clock (ms, any origin but never 0) and the bus counters come
 * from the caller; the state file's text is read and written by it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tigo_map.h"

#define STATE_MAGIC "# modbus-mux tigo state 1"

/*
 * Make <m> empty: no node, no gateway, nothing heard.
 */
void
tigo_map_init(struct tigo_map *m)
{
    memset(m, 0, sizeof(*m));
}

/*
 * A valid frame came at <now_ms>, from gateway <gateway> (0: from the
 * controller, or no gateway named).
 */
void
tigo_map_frame(struct tigo_map *m, uint16_t gateway, uint64_t now_ms)
{
    m->last_frame_ms = now_ms;
    if (gateway == 0) {
        return;
    }
    for (unsigned i = 0; i < m->n_gateways; i++) {
        if (m->gateways[i] == gateway) {
            return;
        }
    }
    if (m->n_gateways < TIGO_GATEWAYS_MAX) {
        m->gateways[m->n_gateways++] = gateway;
    }
}

/*
 * The slot of node <node> of gateway <gateway>, or -1.
 */
int
tigo_map_find(const struct tigo_map *m, uint16_t gateway, uint16_t node)
{
    for (unsigned i = 0; i < TIGO_SLOTS; i++) {
        const struct tigo_node *n = &m->nodes[i];

        if (n->used && n->gateway == gateway && n->node == node) {
            return (int)i;
        }
    }
    return -1;
}

static int
find_long(const struct tigo_map *m, const uint8_t a[TIGO_LONG_LEN])
{
    for (unsigned i = 0; i < TIGO_SLOTS; i++) {
        const struct tigo_node *n = &m->nodes[i];

        if (n->used && n->long_known &&
            memcmp(n->long_addr, a, TIGO_LONG_LEN) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* A new slot for (gateway, node): the first free one; -1 if all held. */
static int
take_slot(struct tigo_map *m, uint16_t gateway, uint16_t node)
{
    for (unsigned i = 0; i < TIGO_SLOTS; i++) {
        struct tigo_node *n = &m->nodes[i];

        if (!n->used) {
            memset(n, 0, sizeof(*n));
            n->used = true;
            n->gateway = gateway;
            n->node = node;
            m->n_used++;
            m->dirty = true;
            return (int)i;
        }
    }
    m->full++;
    return -1;
}

static void
free_slot(struct tigo_map *m, int i)
{
    memset(&m->nodes[i], 0, sizeof(m->nodes[i]));
    m->n_used--;
    m->dirty = true;
}

/* Was a report of slot counter <slot> taken from <n> lately? Remember it
 * if not. */
static bool
seen_report(struct tigo_node *n, uint16_t slot)
{
    for (unsigned i = 0; i < n->n_recent; i++) {
        if (n->recent[i] == slot) {
            return true;
        }
    }
    n->recent[n->recent_pos] = slot;
    n->recent_pos = (n->recent_pos + 1) % TIGO_DEDUPE;
    if (n->n_recent < TIGO_DEDUPE) {
        n->n_recent++;
    }
    return false;
}

/*
 * Power report <p> of node <node> of gateway <gateway>, heard at <now_ms>.
 * Returns false if it was dropped: a repeat, or no slot free.
 */
bool
tigo_map_power(struct tigo_map *m, uint16_t gateway, uint16_t node,
               const struct tigo_power *p, uint64_t now_ms)
{
    int i = tigo_map_find(m, gateway, node);
    struct tigo_node *n;

    if (i < 0) {
        i = take_slot(m, gateway, node);
        if (i < 0) {
            return false;
        }
    }
    n = &m->nodes[i];
    if (seen_report(n, p->slot)) {
        m->duplicates++;
        return false;
    }
    n->last_ms = now_ms;
    n->reports++;
    n->vin_cv = p->vin_cv;
    n->vout_cv = p->vout_cv;
    n->iin_ma = p->iin_ma;
    n->pin_dw = p->pin_dw > 0xFFFF ? 0xFFFF : (uint16_t)p->pin_dw;
    n->temp_dc = p->temp_dc;
    n->duty = p->duty;
    n->rssi = p->rssi;
    return true;
}

/*
 * Node <node> of gateway <gateway> has long address <long_addr> (a node
 * table page, a topology report). Pins its slot to it; if the address has
 * a slot already (an earlier run's), the node moves there with what it
 * reported meanwhile, and its provisional slot is freed. A slot pinned to
 * another address that had these ids keeps its pin and loses the ids (the
 * controller gave them to another panel).
 */
void
tigo_map_learn(struct tigo_map *m, uint16_t gateway, uint16_t node,
               const uint8_t long_addr[TIGO_LONG_LEN])
{
    int have = find_long(m, long_addr);
    int cur = tigo_map_find(m, gateway, node);
    struct tigo_node *n;

    if (cur >= 0 && m->nodes[cur].long_known &&
        memcmp(m->nodes[cur].long_addr, long_addr, TIGO_LONG_LEN) != 0) {
        m->nodes[cur].gateway = 0;
        m->nodes[cur].node = 0;
        m->dirty = true;
        cur = -1;
    }
    if (have >= 0 && cur == have) {
        return;                         /* known already */
    }
    if (have >= 0) {
        n = &m->nodes[have];
        if (cur >= 0) {
            const struct tigo_node *c = &m->nodes[cur];

            if (c->last_ms != 0) {      /* its reports so far */
                n->last_ms = c->last_ms;
                n->reports += c->reports;
                n->vin_cv = c->vin_cv;
                n->vout_cv = c->vout_cv;
                n->iin_ma = c->iin_ma;
                n->pin_dw = c->pin_dw;
                n->temp_dc = c->temp_dc;
                n->duty = c->duty;
                n->rssi = c->rssi;
                memcpy(n->recent, c->recent, sizeof(n->recent));
                n->n_recent = c->n_recent;
                n->recent_pos = c->recent_pos;
            }
            free_slot(m, cur);
        }
        n->gateway = gateway;
        n->node = node;
        m->dirty = true;
        return;
    }
    if (cur < 0) {
        cur = take_slot(m, gateway, node);
        if (cur < 0) {
            return;
        }
    }
    n = &m->nodes[cur];
    memcpy(n->long_addr, long_addr, TIGO_LONG_LEN);
    n->long_known = true;
    m->dirty = true;
}

/*
 * The flags register of node <n> at <now_ms>.
 */
uint16_t
tigo_map_flags(const struct tigo_node *n, uint64_t now_ms, uint64_t stale_ms)
{
    uint16_t f = 0;

    if (n->last_ms != 0) {
        f |= TIGO_F_SEEN;
        if (now_ms - n->last_ms <= stale_ms) {
            f |= TIGO_F_ONLINE;
        }
        /* RAR's rule for TS4-A-S units: Vout about 0, Vin over 1 V (2.6) */
        if (n->vout_cv == 0 && n->vin_cv > 100) {
            f |= TIGO_F_MONITOR;
        }
    }
    if (n->long_known) {
        f |= TIGO_F_BARCODE;
    }
    return f;
}

/*
 * Nodes with a report within <stale_ms> of <now_ms>.
 */
unsigned
tigo_map_online(const struct tigo_map *m, uint64_t now_ms, uint64_t stale_ms)
{
    unsigned k = 0;

    for (unsigned i = 0; i < TIGO_SLOTS; i++) {
        k += m->nodes[i].used &&
             (tigo_map_flags(&m->nodes[i], now_ms, stale_ms) & TIGO_F_ONLINE);
    }
    return k;
}

static uint16_t
age_s(uint64_t since_ms, uint64_t now_ms)
{
    uint64_t s;

    if (since_ms == 0) {
        return 0xFFFF;
    }
    s = (now_ms - since_ms) / 1000;
    return s >= 0xFFFF ? 0xFFFE : (uint16_t)s;
}

/* Register <a> (< TIGO_NODE_BASE) of the header. */
static uint16_t
header_reg(const struct tigo_map *m, const struct tigo_bus_counts *bus,
           uint64_t now_ms, uint64_t stale_ms, unsigned a, uint32_t power)
{
    switch (a) {
    case 0:  return TIGO_MAP_VERSION;
    case 1:  return (uint16_t)m->n_used;
    case 2:  return (uint16_t)tigo_map_online(m, now_ms, stale_ms);
    case 3:  return age_s(m->last_frame_ms, now_ms);
    case 4:  return (uint16_t)(bus->frames >> 16);
    case 5:  return (uint16_t)bus->frames;
    case 6:  return (uint16_t)(bus->crc_errors >> 16);
    case 7:  return (uint16_t)bus->crc_errors;
    case 8:  return (uint16_t)(bus->bad >> 16);
    case 9:  return (uint16_t)bus->bad;
    case 10: return (uint16_t)(power >> 16);
    case 11: return (uint16_t)power;
    case 12: return (uint16_t)m->n_gateways;
    default: return 0;
    }
}

/* Register <k> (0..15) of node <n>'s block. */
static uint16_t
node_reg(const struct tigo_node *n, uint64_t now_ms, uint64_t stale_ms,
         unsigned k)
{
    if (!n->used) {
        return 0;                       /* no node holds the slot */
    }
    switch (k) {
    case 0:  return tigo_map_flags(n, now_ms, stale_ms);
    case 1:  return n->gateway;
    case 2:  return n->node;
    case 3: case 4: case 5: case 6:
        return n->long_known
                   ? (uint16_t)(n->long_addr[2 * (k - 3)] << 8 |
                                n->long_addr[2 * (k - 3) + 1])
                   : 0;
    case 7:  return n->vin_cv;
    case 8:  return n->vout_cv;
    case 9:  return n->iin_ma;
    case 10: return n->pin_dw;
    case 11: return (uint16_t)n->temp_dc;
    case 12: return n->duty;
    case 13: return n->rssi;
    case 14: return age_s(n->last_ms, now_ms);
    default: return (uint16_t)n->reports;
    }
}

/*
 * Registers <addr>..<addr + count - 1> of the map into <out>, at
 * <now_ms>, nodes online if heard within <stale_ms>. Returns 0, or 0x02
 * (illegal data address) for a range that runs past the last slot.
 */
uint8_t
tigo_map_read(const struct tigo_map *m, const struct tigo_bus_counts *bus,
              uint64_t now_ms, uint64_t stale_ms, uint16_t addr,
              uint16_t count, uint16_t *out)
{
    uint32_t power = 0;

    if ((uint32_t)addr + count > TIGO_MAP_END) {
        return 0x02;
    }
    if (addr < TIGO_NODE_BASE) {
        for (unsigned i = 0; i < TIGO_SLOTS; i++) {
            const struct tigo_node *n = &m->nodes[i];

            if (n->used &&
                (tigo_map_flags(n, now_ms, stale_ms) & TIGO_F_ONLINE)) {
                power += n->pin_dw;
            }
        }
    }
    for (unsigned i = 0; i < count; i++) {
        unsigned a = addr + i;

        if (a < TIGO_NODE_BASE) {
            out[i] = header_reg(m, bus, now_ms, stale_ms, a, power);
        } else {
            unsigned s = (a - TIGO_NODE_BASE) / TIGO_NODE_REGS;

            out[i] = node_reg(&m->nodes[s], now_ms, stale_ms,
                              (a - TIGO_NODE_BASE) % TIGO_NODE_REGS);
        }
    }
    return 0;
}

/*
 * The slot assignment of <m> as the state file's text, into <buf> of
 * <size> bytes (TIGO_SLOTS lines of at most 64 bytes fit in 65536).
 * Clears m->dirty. Returns the length, or 0 if <buf> is too small.
 */
size_t
tigo_map_save(struct tigo_map *m, char *buf, size_t size)
{
    size_t n = 0;
    int w;

    w = snprintf(buf, size, "%s\n# slot gateway node long-address\n",
                 STATE_MAGIC);
    if (w < 0 || (size_t)w >= size) {
        return 0;
    }
    n = (size_t)w;
    for (unsigned i = 0; i < TIGO_SLOTS; i++) {
        const struct tigo_node *d = &m->nodes[i];
        char la[2 * TIGO_LONG_LEN + 1] = "-";

        if (!d->used) {
            continue;
        }
        if (d->long_known) {
            for (unsigned k = 0; k < TIGO_LONG_LEN; k++) {
                snprintf(la + 2 * k, 3, "%02X", d->long_addr[k]);
            }
        }
        w = snprintf(buf + n, size - n, "%u 0x%04X %u %s\n", i, d->gateway,
                     d->node, la);
        if (w < 0 || (size_t)w >= size - n) {
            return 0;
        }
        n += (size_t)w;
    }
    m->dirty = false;
    return n;
}

static int
hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* "04C05B400079AC16" or "-" into <a>; false if neither. */
static bool
parse_long(const char *s, uint8_t a[TIGO_LONG_LEN], bool *known)
{
    if (strcmp(s, "-") == 0) {
        *known = false;
        return true;
    }
    if (strlen(s) != 2 * TIGO_LONG_LEN) {
        return false;
    }
    for (unsigned k = 0; k < TIGO_LONG_LEN; k++) {
        int hi = hexval(s[2 * k]), lo = hexval(s[2 * k + 1]);

        if (hi < 0 || lo < 0) {
            return false;
        }
        a[k] = (uint8_t)(hi << 4 | lo);
    }
    *known = true;
    return true;
}

/*
 * Fill empty map <m> from state file text <text> (NUL-terminated).
 * Returns 0, or -1 with "line N: what is wrong" in <why> (nothing is kept
 * then).
 */
int
tigo_map_load(struct tigo_map *m, const char *text, char *why,
              size_t why_size)
{
    const char *p = text;
    unsigned line = 0;

    while (*p != '\0') {
        const char *e = strchr(p, '\n');
        size_t len = e != NULL ? (size_t)(e - p) : strlen(p);
        char l[128], la[64];
        unsigned slot, gw, node;
        struct tigo_node *n;
        bool known;

        line++;
        if (len >= sizeof(l)) {
            snprintf(why, why_size, "line %u: too long", line);
            goto bad;
        }
        memcpy(l, p, len);
        l[len] = '\0';
        p += len + (e != NULL);
        if (l[0] == '#' || l[0] == '\0') {
            continue;
        }
        if (sscanf(l, "%u %x %u %63s", &slot, &gw, &node, la) != 4 ||
            slot >= TIGO_SLOTS || gw > 0x7FFF || node > 0xFFFF ||
            !parse_long(la, m->nodes[slot].long_addr, &known)) {
            snprintf(why, why_size, "line %u: expected \"SLOT GATEWAY NODE "
                     "LONG-ADDRESS\" (slot 0..%d, gateway 0x0..0x7FFF, long "
                     "address 16 hex digits or -)", line, TIGO_SLOTS - 1);
            goto bad;
        }
        n = &m->nodes[slot];
        if (n->used) {
            snprintf(why, why_size, "line %u: slot %u twice", line, slot);
            goto bad;
        }
        n->used = true;
        n->long_known = known;
        n->gateway = (uint16_t)gw;
        n->node = (uint16_t)node;
        m->n_used++;
    }
    m->dirty = false;
    return 0;
bad:
    tigo_map_init(m);
    return -1;
}

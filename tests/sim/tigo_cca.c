/* SPDX-License-Identifier: MIT */
/*
 * tigo_cca.c -- see tigo_cca.h. The CCA polls each TAP every --poll-ms
 * (the TAPs in turn, evenly spaced); a TAP answers with the PV packets it
 * holds, as many as fit in one frame. Each node measures at the start of
 * every report period, in sync with the others, and transmits at its own
 * phase in it, so several reports often share a response. Layouts, status
 * words and firmware variants follow docs/tigo.md; the encoding is
 * tigo_wire.c's.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_util.h"
#include "tigo_cca.h"
#include "tigo_wire.h"

#define QUEUE_MAX 256           /* PV packets a TAP holds for the CCA */
#define PAGE_ENTRIES 12         /* node table entries per page */
#define GW_FIRST 0x1201         /* enumerated gateway ids count from it */
#define NODE_FIRST 2            /* 0 is broadcast, 1 the gateway */
#define SLOT_US 5000            /* one slot: 5 ms */
#define SLOTS_EPOCH 12000       /* low 14 bits count 0..11999 */
#define SLOTS_WRAP (4 * SLOTS_EPOCH)
#define FULL_STATUS_EVERY 16    /* responses between full 00 E0 status */
#define TX_FREE 14              /* the TAP's tx buffers free */
#define STATUS_HEAD_MAX 12      /* status word, every field, slot counter */
#define RESYNC_US 1000000       /* behind schedule this long: skip ahead */
#define NOISE_MAX 8             /* noise bytes in one burst */

/* An optimizer. Its truth fields are what it last sent intact. */
struct node {
    bool joined;              /* on the bus (--nodes-later: not yet) */
    int gw;                   /* index of its gateway */
    uint16_t id;              /* PV node id, per gateway */
    uint16_t short_addr;      /* 802.15.4 short address */
    uint8_t long_addr[TW_LONG_LEN];
    char barcode[TW_BARCODE_MAX];
    uint8_t dsn;              /* next data sequence number */
    bool monitor;             /* --monitor-only: Vout 0 */
    bool cold;                /* --cold: sub-zero temperatures */
    size_t len;               /* power report length, 13..15 */
    int64_t phase_us;         /* transmit offset in the report period */
    int64_t period;           /* last period reported, -1: none */
    unsigned base_v, base_i, base_t, base_rssi, sun_phase;
    struct tw_power last;     /* truth: last report delivered */
    uint64_t reports;         /* truth: reports delivered */
};

/* A PV packet a TAP holds until the CCA polls it. */
struct item {
    uint8_t b[TW_PV_HDR + TW_TOPOLOGY_LEN];
    uint8_t n;
    int node;                 /* index of its node */
    bool power;               /* a power report: p is its content */
    struct tw_power p;
};

/* A TAP. */
struct gateway {
    uint16_t id;
    uint8_t long_addr[TW_LONG_LEN];
    uint16_t packet;          /* receive packet number */
    uint64_t responses;       /* distinct responses sent */
    bool enumerated;          /* identified since the last boot */
    int table_next;           /* next page's start index, -1: no walk */
    struct item q[QUEUE_MAX]; /* ring */
    int qhead, qlen;
};

/* The CCA, its TAPs and their nodes. */
struct cca {
    struct cca_opts o;
    struct cca_stats st;
    cca_out_fn out;           /* where the bytes go */
    void *out_ctx;
    struct gateway gw[CCA_MAX_GATEWAYS];
    struct node nodes[CCA_MAX_NODES];
    int ninitial, ntotal;     /* --nodes, --nodes + --nodes-later */
    uint64_t rng;             /* splitmix64 state for the traffic */
    int64_t t0_us;            /* origin of slots and report periods */
    int64_t slot0;            /* absolute slot count at t0 */
    bool booted;              /* the CCA runs */
    int64_t boot_at_us;       /* then it boots, -1: not scheduled */
    int64_t next_tick_us;     /* next poll */
    int cursor;               /* gateway polled next */
    int64_t later_at_us;      /* --nodes-later join then, -1: done */
    int64_t table_at_us;      /* next periodic node table walk */
    bool hold;                /* SIGUSR2: nodes stop reporting */
    bool reversed;            /* --renumber: ids reversed now */
    uint8_t seq;              /* command sequence number */
    char *truth_tmp;          /* truth_path.tmp */
    struct item taken[QUEUE_MAX]; /* poll_gateway()'s response */
    int table_idx[CCA_MAX_NODES]; /* table_page()'s sorted nodes */
};

static void
bus_put(struct cca *c, const uint8_t *p, size_t n)
{
    c->out(c->out_ctx, p, n);
}

/* splitmix64 */
static uint64_t
mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t
rnd(struct cca *c)
{
    return mix64(c->rng += 0x9E3779B97F4A7C15ull);
}

/* True with <pct> percent probability. */
static bool
chance(struct cca *c, double pct)
{
    return pct > 0 && (double)(rnd(c) >> 11) * 0x1p-53 * 100 < pct;
}

static unsigned
clamp12(long v)
{
    return v < 0 ? 0 : v > 0xFFF ? 0xFFF : (unsigned)v;
}

/* 1..NOISE_MAX bytes that are neither idle (00, FF) nor a frame start:
 * a 7E is followed by something other than 07, 08 or 7E, never last. */
static void
emit_noise(struct cca *c)
{
    uint8_t b[NOISE_MAX];
    size_t n = 1 + rnd(c) % NOISE_MAX;

    for (size_t i = 0; i < n; i++) {
        b[i] = (uint8_t)(1 + rnd(c) % 254);
        if (b[i] == 0x7E && i + 1 == n) {
            b[i] = 0x7D;
        } else if (b[i] == 0x7E) {
            uint8_t next = (uint8_t)(1 + rnd(c) % 254);

            b[++i] = next == 0x07 || next == 0x08 || next == 0x7E ? 0x01
                                                                  : next;
        }
    }
    c->st.noise_bytes += (int64_t)n;
    bus_put(c, b, n);
}

/* An intact frame, maybe after noise (--noise). */
static void
emit(struct cca *c, const struct tw_frame *f)
{
    if (chance(c, c->o.noise)) {
        emit_noise(c);
    }
    c->st.frames++;
    c->st.escapes += f->escapes;
    bus_put(c, f->b, f->n);
}

static void
emit_new(struct cca *c, uint16_t gw, bool from_gw, uint16_t type,
         const struct tw_buf *b)
{
    struct tw_frame f;

    tw_frame_build(&f, gw, from_gw, type, b->b, b->n);
    emit(c, &f);
}

/* Unescape wire bytes <w> (between 7E 07 and 7E 08); -1 if an escape code
 * is unknown. */
static long
unescape(const uint8_t *w, size_t n, uint8_t *out)
{
    static const uint8_t data[] = { 0x7E, 0x24, 0x23, 0x25,
                                    0xA4, 0xA3, 0xA5 };
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        if (w[i] != 0x7E) {
            out[o++] = w[i];
        } else if (i + 1 < n && w[i + 1] < sizeof(data)) {
            out[o++] = data[w[++i]];
        } else {
            return -1;
        }
    }
    return (long)o;
}

/*
 * Response <r> and request <q> on the bus at once: the head of <r>, a few
 * bytes where both drivers fought (AND), the tail of <q> with its 7E 08.
 * A 7E inside that is not a valid escape becomes 7C, so that the garble is
 * one frame with a bad CRC and a listener is idle after it.
 */
static void
emit_garbled(struct cca *c, const struct tw_frame *r, const struct tw_frame *q)
{
    uint8_t g[2 * TW_WIRE_MAX], body[2 * TW_WIRE_MAX];
    size_t head = 6 + rnd(c) % (r->n - 8), ov = 2 + rnd(c) % 6, n = head;
    long len;

    memcpy(g, r->b, head);
    for (size_t i = 0; i < ov; i++) {
        g[n++] = r->b[head + i < r->n - 2 ? head + i : r->n - 3] & q->b[i];
    }
    memcpy(g + n, q->b + ov, q->n - ov);
    n += q->n - ov;
    for (size_t i = 3; i + 2 < n; i++) {
        if (g[i] == 0x7E && i + 3 < n && g[i + 1] <= 0x06) {
            i++;
        } else if (g[i] == 0x7E) {
            g[i] = 0x7C;
        }
    }
    len = unescape(g + 3, n - 5, body);
    if (len >= 6 && tw_crc(body, (size_t)len - 2) ==
                        (body[len - 2] | body[len - 1] << 8)) {
        g[3] = g[3] == 0x55 ? 0x56 : 0x55; /* keep it bad */
    }
    if (chance(c, c->o.noise)) {
        emit_noise(c);
    }
    c->st.collisions++;
    bus_put(c, g, n);
}

static int64_t
abs_slot(const struct cca *c, int64_t t_us)
{
    return c->slot0 + (t_us - c->t0_us) / SLOT_US;
}

/* The 16-bit slot counter: epoch in bits 15-14, slot 0..11999 below. */
static uint16_t
slot_counter(int64_t a)
{
    a %= SLOTS_WRAP;
    return (uint16_t)((a / SLOTS_EPOCH) << 14 | a % SLOTS_EPOCH);
}

/* Give the nodes of every gateway ids from NODE_FIRST in index order, or
 * in reverse (--renumber, every other reboot). */
static void
nodes_number(struct cca *c)
{
    for (int g = 0; g < c->o.gateways; g++) {
        int n = 0, k = 0;

        for (int i = 0; i < c->ntotal; i++) {
            n += c->nodes[i].joined && c->nodes[i].gw == g;
        }
        for (int i = 0; i < c->ntotal; i++) {
            struct node *nd = &c->nodes[i];

            if (nd->joined && nd->gw == g) {
                nd->id = (uint16_t)(NODE_FIRST + (c->reversed ? n - 1 - k
                                                              : k));
                k++;
            }
        }
    }
}

/* A new long address 04:C0:5B:40:00:xx:xx:xx, unlike any before <i>. */
static void
node_address(struct cca *c, uint64_t *r, int i)
{
    struct node *nd = &c->nodes[i];
    static const uint8_t prefix[5] = { 0x04, 0xC0, 0x5B, 0x40, 0x00 };
    bool dup;

    do {
        uint64_t v = mix64(*r += 0x9E3779B97F4A7C15ull);

        memcpy(nd->long_addr, prefix, sizeof(prefix));
        nd->long_addr[5] = (uint8_t)(v >> 16);
        nd->long_addr[6] = (uint8_t)(v >> 8);
        nd->long_addr[7] = (uint8_t)v;
        /* Escapes in the node table and topology reports, whatever the
         * seed: 7E, 24, A3. */
        if (i < 3) {
            nd->long_addr[7 - i] = (uint8_t[]){ 0x7E, 0x24, 0xA3 }[i];
        }
        dup = false;
        for (int k = 0; k < i && !dup; k++) {
            dup = memcmp(c->nodes[k].long_addr, nd->long_addr,
                         TW_LONG_LEN) == 0;
        }
    } while (dup);
    tw_barcode(nd->long_addr, nd->barcode);
}

/* Everything about the nodes and gateways that --seed decides. */
static void
nodes_init(struct cca *c)
{
    static const uint8_t gw0[TW_LONG_LEN] = { 0x04, 0xC0, 0x5B, 0x30,
                                              0x00, 0x02, 0xBE, 0x16 };
    uint64_t r = (uint64_t)c->o.seed * 0x2545F4914F6CDD1Dull + 1;

    c->ninitial = (int)c->o.nodes;
    c->ntotal = (int)(c->o.nodes + c->o.nodes_later);
    for (int g = 0; g < c->o.gateways; g++) {
        uint64_t v = mix64(r += 0x9E3779B97F4A7C15ull);

        c->gw[g].id = (uint16_t)(GW_FIRST + g);
        memcpy(c->gw[g].long_addr, gw0, TW_LONG_LEN);
        if (g > 0) {
            c->gw[g].long_addr[5] = (uint8_t)(v >> 16);
            c->gw[g].long_addr[6] = (uint8_t)(v >> 8);
            c->gw[g].long_addr[7] = (uint8_t)v;
        }
        c->gw[g].table_next = -1;
    }
    for (int i = 0; i < c->ntotal; i++) {
        struct node *nd = &c->nodes[i];
        uint64_t v = mix64(r += 0x9E3779B97F4A7C15ull);

        node_address(c, &r, i);
        nd->gw = i % (int)c->o.gateways;
        nd->short_addr = i == 0 ? 0x7E24 : (uint16_t)(v >> 48);
        nd->dsn = (uint8_t)(v >> 40);
        nd->monitor = i >= c->o.nodes - c->o.monitor_only && i < c->o.nodes;
        nd->cold = i < c->o.cold;
        nd->len = c->o.report_len == CCA_REPLEN_MIX ? (size_t)(13 + i % 3)
                                                : (size_t)c->o.report_len;
        nd->base_v = 700 + (unsigned)(v % 160);        /* 35..43 V */
        nd->base_i = 800 + (unsigned)((v >> 8) % 1100); /* 4..9.5 A */
        nd->base_t = 150 + (unsigned)((v >> 20) % 150); /* 15..30 C */
        nd->base_rssi = 90 + (unsigned)((v >> 28) % 100);
        nd->sun_phase = (unsigned)((v >> 36) % 128);
        /* Two nodes of a gateway transmit together: a bundle each period. */
        nd->phase_us = (int64_t)((v >> 44) % (uint64_t)(c->o.report_ms * 1000));
        if (i >= c->o.gateways && i < 2 * c->o.gateways) {
            nd->phase_us = c->nodes[i - c->o.gateways].phase_us;
        }
        nd->period = -1;
        nd->joined = i < c->ninitial;
    }
    nodes_number(c);
}

/*
 * The values node <i> measured in report period <k>, from --seed, the node
 * and <k> only: a sun that comes and goes over 90 s, shade now and then
 * (duty below 255, Vout below Vin), jitter.
 */
static void
node_measure(const struct cca *c, int i, int64_t k, struct tw_power *p)
{
    const struct node *nd = &c->nodes[i];
    uint64_t h = mix64((uint64_t)c->o.seed * 0x9E3779B97F4A7C15ull ^
                       (uint64_t)i << 40 ^ (uint64_t)k);
    unsigned ph = (unsigned)((k * c->o.report_ms * 128 / 90000 +
                              nd->sun_phase) % 128);
    long sun = 16 + (ph < 64 ? ph : 127 - ph); /* 16..79 of 80 */
    long t;

    p->iin = clamp12((long)nd->base_i * sun / 80 + (long)(h & 0x3F) - 32);
    p->vin = clamp12((long)nd->base_v - sun + (long)((h >> 8) & 0xF) - 8);
    p->duty = (k + i) % 11 == 0 ? (uint8_t)(160 + (h >> 12) % 90) : 255;
    p->vout = nd->monitor ? 0
                          : clamp12((long)p->vin * p->duty / 510 -
                                    (long)((h >> 20) % 3));
    if (nd->cold) {
        t = k % 5 == 0 ? -1 : -1 - (long)((h >> 24) % 200);
    } else {
        t = (long)nd->base_t + sun + (long)((h >> 32) % 11) - 5;
    }
    p->temp = (uint16_t)(t & 0xFFF);
    p->rssi = (uint8_t)(nd->base_rssi + (h >> 40) % 17 - 8);
    p->unknown[0] = (uint8_t)(k / 8);
    p->unknown[1] = 0x00;
    p->unknown[2] = 0x64;
    p->extra[0] = sun > 48 ? 0x03 : 0x00;
    p->extra[1] = 0x00;
    if (nd->len == 14) {
        p->extra[0] = 0x00;
    }
}

/* Queue PV packet <b> of node <i> at its TAP; false if the queue is full. */
static bool
queue_item(struct cca *c, int i, const struct tw_buf *b,
           const struct tw_power *p)
{
    struct gateway *gw = &c->gw[c->nodes[i].gw];
    struct item *it;

    if (gw->qlen == QUEUE_MAX) {
        c->st.queue_drops++;
        return false;
    }
    it = &gw->q[(gw->qhead + gw->qlen++) % QUEUE_MAX];
    memcpy(it->b, b->b, b->n);
    it->n = (uint8_t)b->n;
    it->node = i;
    it->power = p != NULL;
    if (p != NULL) {
        it->p = *p;
    }
    return true;
}

/* Node <i> joins its gateway's network: its topology report (PV 0x09). */
static void
queue_topology(struct cca *c, int i)
{
    struct node *nd = &c->nodes[i];
    const struct node *prev = i >= c->o.gateways ? nd - c->o.gateways : NULL;
    /* Every fourth node is reached through another one (a mesh hop). */
    uint16_t hop = i % 4 == 3 && prev != NULL && prev->joined ? prev->id
                                                              : 0x0001;
    uint8_t tail[6] = { 0x01, (uint8_t)i, 0xE1, 0x08, nd->long_addr[7],
                        0x27 };
    uint8_t d[TW_TOPOLOGY_LEN];
    struct tw_buf b = { .n = 0 };

    tw_topology(d, nd->short_addr, nd->id, hop, nd->long_addr,
                (uint8_t)nd->base_rssi, tail);
    tw_pv(&b, TW_PV_TOPOLOGY, nd->id, nd->short_addr, nd->dsn++, d,
          sizeof(d));
    if (queue_item(c, i, &b, NULL)) {
        c->st.topology_reports++;
    }
}

/* The power reports of gateway <g>'s nodes whose time has come: one per
 * node and period, measured in sync at the period's start. */
static void
queue_reports(struct cca *c, int g, int64_t now)
{
    int64_t period_us = (int64_t)c->o.report_ms * 1000;

    if (c->hold) {
        return;
    }
    for (int i = 0; i < c->ntotal; i++) {
        struct node *nd = &c->nodes[i];
        int64_t since = now - c->t0_us - nd->phase_us;
        int64_t k = since < 0 ? -1 : since / period_us;
        struct tw_power p;
        struct tw_buf b = { .n = 0 };
        uint8_t d[15];

        if (!nd->joined || nd->gw != g || k <= nd->period) {
            continue;
        }
        nd->period = k;
        node_measure(c, i, k, &p);
        p.slot = slot_counter(abs_slot(c, c->t0_us + k * period_us));
        tw_pv(&b, TW_PV_POWER, nd->id, nd->short_addr, nd->dsn++, d,
              tw_power(d, &p, nd->len));
        queue_item(c, i, &b, &p);
    }
}

static bool
reports_queued(const struct cca *c)
{
    for (int g = 0; g < c->o.gateways; g++) {
        const struct gateway *gw = &c->gw[g];

        for (int k = 0; k < gw->qlen; k++) {
            if (gw->q[(gw->qhead + k) % QUEUE_MAX].power) {
                return true;
            }
        }
    }
    return false;
}

static void
truth_node(FILE *f, const struct cca *c, const struct node *nd)
{
    const struct tw_power *p = &nd->last;
    char hex[2 * TW_LONG_LEN + 1];

    for (int k = 0; k < TW_LONG_LEN; k++) {
        sprintf(hex + 2 * k, "%02X", nd->long_addr[k]);
    }
    fprintf(f,
            "node 0x%04X %u %s %s %" PRIu64 " %u %u %u %u %u %u 0x%04X "
            "%u %u %u %d %u %zu %d\n",
            c->gw[nd->gw].id, nd->id, hex, nd->barcode, nd->reports, p->vin,
            p->vout, p->iin, p->temp, p->duty, p->rssi, p->slot, p->vin * 5u,
            p->vout * 10u, p->iin * 5u, tw_temp_dc(p->temp),
            (unsigned)p->vin * p->iin / 400, nd->len, nd->monitor);
}

/* The truth file (README.md), through a temporary file and a rename. */
static void
truth_write(struct cca *c)
{
    FILE *f;

    c->st.held = c->hold && !reports_queued(c);
    if (c->o.truth_path == NULL) {
        return;
    }
    f = fopen(c->truth_tmp, "w");
    if (f == NULL) {
        sim_note("%s: %s", c->truth_tmp, strerror(errno));
        return;
    }
    fprintf(f, "tigo_bus truth 1\nframes %" PRId64 "\npower_reports %" PRId64
            "\ngateways %ld\nnodes %" PRId64 "\nreboots %" PRId64
            "\nheld %" PRId64 "\n",
            c->st.frames, c->st.power_reports, c->o.gateways, c->st.nodes,
            c->st.reboots, c->st.held);
    for (int g = 0; g < c->o.gateways; g++) {
        int n = 0;

        for (int i = 0; i < c->ntotal; i++) {
            n += c->nodes[i].joined && c->nodes[i].gw == g;
        }
        fprintf(f, "gateway 0x%04X ", c->gw[g].id);
        for (int k = 0; k < TW_LONG_LEN; k++) {
            fprintf(f, "%02X", c->gw[g].long_addr[k]);
        }
        fprintf(f, " %d\n", n);
    }
    for (int i = 0; i < c->ntotal; i++) {
        if (c->nodes[i].joined) {
            truth_node(f, c, &c->nodes[i]);
        }
    }
    if (fclose(f) != 0 || rename(c->truth_tmp, c->o.truth_path) != 0) {
        sim_note("%s: %s", c->o.truth_path, strerror(errno));
    }
}

/* Take from gateway <g>'s queue what fits in one response into <b>;
 * <taken> gets the items in order. Returns how many. */
static int
take_items(struct cca *c, int g, struct tw_buf *b, struct item *taken)
{
    struct gateway *gw = &c->gw[g];
    int n = 0;

    while (gw->qlen > 0 && n < 255) {
        struct item *it = &gw->q[gw->qhead];

        if (b->n + it->n > TW_PAYLOAD_MAX - STATUS_HEAD_MAX) {
            break;
        }
        tw_put(b, it->b, it->n);
        taken[n++] = *it;
        gw->qhead = (gw->qhead + 1) % QUEUE_MAX;
        gw->qlen--;
    }
    return n;
}

/* The status word of gateway <g>'s next response with <n> packets: the
 * full 00 E0 every FULL_STATUS_EVERY, else short variants; byte 0 and bits
 * 5-7 as the firmware (--fw4, --hfw) has them. */
static uint16_t
status_word(struct cca *c, struct gateway *gw, int n, int64_t a)
{
    uint16_t st;

    if (gw->responses % FULL_STATUS_EVERY == 0) {
        st = 0x00E0;
        c->st.status_full++;
    } else if (n > 0) {
        st = 0x00FE;
    } else {
        st = gw->responses % 5 == 0 ? 0x00EE : 0x00FF;
    }
    if (c->o.fw4) {
        st |= (uint16_t)((0x01 | ((a / SLOTS_WRAP) % 4) << 6) << 8);
    }
    if (c->o.hfw) {
        st &= 0xFF1F;
    }
    return st;
}

/* What an intact response delivered: each power report is now the truth
 * of its node. */
static void
deliver(struct cca *c, const struct item *taken, int n)
{
    bool reports = false;

    for (int k = 0; k < n; k++) {
        struct node *nd = &c->nodes[taken[k].node];

        if (!taken[k].power) {
            continue;
        }
        nd->last = taken[k].p;
        nd->reports++;
        c->st.power_reports++;
        c->st.reports_13 += nd->len == 13;
        c->st.reports_14 += nd->len == 14;
        c->st.reports_15 += nd->len == 15;
        c->st.negative_temps += tw_temp_dc(taken[k].p.temp) < 0;
        reports = true;
    }
    if (reports) {
        truth_write(c);
    }
}

/*
 * One poll of gateway <g>: a receive request, the response with what its
 * queue holds; a collision (--collide) garbles the response, and the CCA
 * asks again with the same packet number; a lost response (--retransmit)
 * makes it ask again too, and the TAP sends the same response again.
 */
static void
poll_gateway(struct cca *c, int g, int64_t now)
{
    struct item *taken = c->taken;
    struct gateway *gw = &c->gw[g];
    int64_t a = abs_slot(c, now);
    struct tw_buf b = { .n = 0 }, pk = { .n = 0 };
    struct tw_frame q, r;
    struct tw_status st = { .tx_free = TX_FREE, .packet = gw->packet,
                            .slot = slot_counter(a) };
    int n;

    queue_reports(c, g, now);
    tw_receive_request(&b, gw->packet);
    tw_frame_build(&q, gw->id, false, TW_RECEIVE_REQUEST, b.b, b.n);
    n = take_items(c, g, &pk, taken);
    st.rx_used = (uint8_t)n;
    st.status = status_word(c, gw, n, a);
    b.n = 0;
    tw_status(&b, &st);
    tw_put(&b, pk.b, pk.n);
    tw_frame_build(&r, gw->id, true, TW_RECEIVE_RESPONSE, b.b, b.n);
    gw->responses++;
    c->st.requests++;
    emit(c, &q);
    if (chance(c, c->o.collide)) {
        emit_garbled(c, &r, &q);
        c->st.requests++;
        emit(c, &q);
    }
    c->st.responses++;
    emit(c, &r);
    deliver(c, taken, n);
    if (chance(c, c->o.retransmit)) {
        c->st.retransmissions++;
        c->st.requests++;
        c->st.responses++;
        emit(c, &q);
        emit(c, &r);
    }
    gw->packet++;
}

/* The CCA's command sequence number: never 00 or FF. */
static uint8_t
next_seq(struct cca *c)
{
    if (++c->seq == 0xFF) {
        c->seq = 0x01;
    }
    return c->seq;
}

/* The joined nodes of gateway <g> in node id order, into <idx>. */
static int
table_of(const struct cca *c, int g, int *idx)
{
    int n = 0;

    for (int i = 0; i < c->ntotal; i++) {
        const struct node *nd = &c->nodes[i];
        int k = n++;

        if (!nd->joined || nd->gw != g) {
            n--;
            continue;
        }
        while (k > 0 && c->nodes[idx[k - 1]].id > nd->id) {
            idx[k] = idx[k - 1];
            k--;
        }
        idx[k] = i;
    }
    return n;
}

/* One page of gateway <g>'s node table walk: command request 0x0B0F with
 * PV 0x26 and the start index, command response 0x0B10 with PV 0x27:
 * start index, count, up to PAGE_ENTRIES entries; count 0 ends it. */
static void
table_page(struct cca *c, int g)
{
    int *idx = c->table_idx;
    struct gateway *gw = &c->gw[g];
    int n = table_of(c, g, idx), start = gw->table_next, count;
    uint8_t seq = next_seq(c);
    struct tw_buf b = { .n = 0 };

    count = start >= n ? 0 : n - start < PAGE_ENTRIES ? n - start
                                                      : PAGE_ENTRIES;
    tw_command_request(&b, TW_PV_TABLE_REQUEST, seq);
    tw_put16(&b, (unsigned)start);
    emit_new(c, gw->id, false, TW_COMMAND_REQUEST, &b);
    b.n = 0;
    tw_command_response(&b, TX_FREE, TW_PV_TABLE_RESPONSE, seq);
    tw_put16(&b, (unsigned)start);
    tw_put16(&b, (unsigned)count);
    for (int k = start; k < start + count; k++) {
        tw_put(&b, c->nodes[idx[k]].long_addr, TW_LONG_LEN);
        tw_put16(&b, c->nodes[idx[k]].id);
    }
    emit_new(c, gw->id, true, TW_COMMAND_RESPONSE, &b);
    c->st.table_pages++;
    gw->table_next = count == 0 ? -1 : start + count;
    c->st.table_walks += count == 0;
}

/* Identify and version exchanges with gateway <g>, then its node table
 * walk and every node's topology report. */
static void
enumerate_gateway(struct cca *c, int g)
{
    static const char ver_g[] = "Mgate Version G8.59\rJul  6 2020\r"
                                "16:51:51\rGW-H158.4.3S0.12\r";
    /* H firmware: version and hardware as reported in
     * litinoveweedle/taptap h-firmware/tigo_parsing.md; the build date
     * and time are made up. */
    static const char ver_h[] = "Mgate Version H1.0007\rMar 11 2024\r"
                                "09:12:44\rGW-H158.7.10\r";
    struct gateway *gw = &c->gw[g];
    struct tw_buf b = { .n = 0 };

    emit_new(c, gw->id, false, TW_IDENTIFY_REQUEST, &b);
    tw_identity(&b, gw->long_addr, gw->id);
    emit_new(c, gw->id, true, TW_IDENTIFY_RESPONSE, &b);
    b.n = 0;
    emit_new(c, gw->id, false, TW_VERSION_REQUEST, &b);
    if (c->o.hfw) {
        tw_put(&b, ver_h, sizeof(ver_h) - 1);
    } else {
        tw_put(&b, ver_g, sizeof(ver_g) - 1);
    }
    emit_new(c, gw->id, true, TW_VERSION_RESPONSE, &b);
    c->st.identifies++;
    c->st.versions++;
    gw->enumerated = true;
    gw->table_next = 0;
    for (int i = 0; i < c->ntotal; i++) {
        if (c->nodes[i].joined && c->nodes[i].gw == g) {
            queue_topology(c, i);
        }
    }
}

/* The CCA (re)starts: enumeration start to every TAP (the payload of the
 * captured enumeration start of docs/tigo.md T22), then each TAP is
 * identified at its first poll turn. */
static void
boot(struct cca *c, int64_t now)
{
    static const uint8_t enum_start[] = { 0x37, 0x24, 0x92, 0x66, 0x12,
                                          0x35 };
    struct tw_buf b = { .n = 0 };

    tw_put(&b, enum_start, sizeof(enum_start));
    emit_new(c, 0x0000, false, TW_ENUM_START, &b);
    c->st.enumerations++;
    c->booted = true;
    c->boot_at_us = -1;
    c->next_tick_us = now;
    c->cursor = 0;
    c->table_at_us = now + (int64_t)c->o.table_ms * 1000;
    if (c->later_at_us < 0 && c->ntotal > c->ninitial &&
        !c->nodes[c->ninitial].joined) {
        c->later_at_us = now + (int64_t)c->o.later_ms * 1000;
    }
    for (int g = 0; g < c->o.gateways; g++) {
        c->gw[g].enumerated = false;
        c->gw[g].table_next = -1;
    }
    truth_write(c);
}

/* SIGUSR1: the CCA reboots. The bus is silent for --reboot-ms; what the
 * TAPs held is lost; packet numbers start afresh; with --renumber the
 * nodes get other ids. */
static void
reboot(struct cca *c, int64_t now)
{
    if (!c->booted && c->boot_at_us < 0) {
        return;               /* --start-on-connect: not started yet */
    }
    c->st.reboots++;
    sim_note("CCA reboot");
    c->booted = false;
    c->boot_at_us = now + (int64_t)c->o.reboot_ms * 1000;
    for (int g = 0; g < c->o.gateways; g++) {
        c->gw[g].qlen = 0;
        c->gw[g].packet = (uint16_t)rnd(c);
        c->gw[g].responses = 0;
    }
    if (c->o.renumber) {
        c->reversed = !c->reversed;
        nodes_number(c);
    }
}

/* --nodes-later: they join; their gateways walk the node table again. */
static void
nodes_join(struct cca *c)
{
    for (int i = c->ninitial; i < c->ntotal; i++) {
        c->nodes[i].joined = true;
    }
    nodes_number(c);
    for (int i = c->ninitial; i < c->ntotal; i++) {
        queue_topology(c, i);
        c->gw[c->nodes[i].gw].table_next = 0;
    }
    c->st.nodes = c->ntotal;
    c->later_at_us = -1;
    sim_note("%d nodes joined", c->ntotal - c->ninitial);
    truth_write(c);
}

/* One poll turn of the gateway at the cursor. */
static void
tick(struct cca *c, int64_t now)
{
    int g = c->cursor;

    c->cursor = (c->cursor + 1) % (int)c->o.gateways;
    if (!c->gw[g].enumerated) {
        enumerate_gateway(c, g);
        return;
    }
    poll_gateway(c, g, now);
    if (c->gw[g].table_next >= 0) {
        table_page(c, g);
    }
}

/* Everything whose time has come. */
static void
run_timers(struct cca *c, int64_t now)
{
    int64_t tick_us = (int64_t)c->o.poll_ms * 1000 / c->o.gateways;

    if (!c->booted && c->boot_at_us >= 0 && now >= c->boot_at_us) {
        boot(c, now);
    }
    if (!c->booted) {
        return;
    }
    if (c->later_at_us >= 0 && now >= c->later_at_us) {
        nodes_join(c);
    }
    if (c->o.table_ms > 0 && now >= c->table_at_us) {
        for (int g = 0; g < c->o.gateways; g++) {
            if (c->gw[g].enumerated && c->gw[g].table_next < 0) {
                c->gw[g].table_next = 0;
            }
        }
        c->table_at_us = now + (int64_t)c->o.table_ms * 1000;
    }
    if (now - c->next_tick_us > RESYNC_US) {
        c->next_tick_us = now;
    }
    while (now >= c->next_tick_us) {
        tick(c, now);
        c->next_tick_us += tick_us > 0 ? tick_us : 1;
    }
}

/*
 * A CCA with the traffic options <o> (copied; o->truth_path is borrowed
 * for its lifetime) that puts its bytes through <fn>(<ctx>, ...). Time
 * starts at <now>; it is silent until cca_start(). Returns NULL if out of
 * memory.
 */
struct cca *
cca_new(const struct cca_opts *o, cca_out_fn fn, void *ctx, int64_t now)
{
    struct cca *c = calloc(1, sizeof(*c));

    if (c == NULL || (o->truth_path != NULL &&
                      asprintf(&c->truth_tmp, "%s.tmp", o->truth_path) < 0)) {
        free(c);
        return NULL;
    }
    c->o = *o;
    c->out = fn;
    c->out_ctx = ctx;
    c->rng = mix64((uint64_t)o->seed ^ 0x5DEECE66Dull);
    nodes_init(c);
    for (int g = 0; g < o->gateways; g++) {
        c->gw[g].packet = (uint16_t)rnd(c);
    }
    c->t0_us = now;
    c->slot0 = o->slot_start >= 0 ? o->slot_start
                                  : (int64_t)(rnd(c) % (4 * SLOTS_WRAP));
    c->st.nodes = c->ninitial;
    c->boot_at_us = -1;
    c->later_at_us = -1;
    return c;
}

/* Free <c>; NULL is a no-op. */
void
cca_free(struct cca *c)
{
    if (c != NULL) {
        free(c->truth_tmp);
        free(c);
    }
}

/* The CCA boots at <now> (at the next cca_run()); a no-op once started. */
void
cca_start(struct cca *c, int64_t now)
{
    if (!cca_started(c)) {
        c->boot_at_us = now;
    }
}

/* True once cca_start() was called. */
bool
cca_started(const struct cca *c)
{
    return c->booted || c->boot_at_us >= 0;
}

/* SIGUSR1: the CCA reboots (see reboot()). */
void
cca_reboot(struct cca *c, int64_t now)
{
    reboot(c, now);
}

/* SIGUSR2: the nodes stop reporting, or start again. */
void
cca_hold(struct cca *c)
{
    c->hold = !c->hold;
    sim_note("reports %s", c->hold ? "held" : "resumed");
    truth_write(c);
}

/* Do whatever is due at <now>: boot, polls, walks, nodes joining. */
void
cca_run(struct cca *c, int64_t now)
{
    run_timers(c, now);
    if (c->hold && !c->st.held && !reports_queued(c)) {
        truth_write(c);
    }
}

/* Microseconds from <now> to the next thing due, -1 for nothing. */
int64_t
cca_next_us(const struct cca *c, int64_t now)
{
    int64_t t = c->booted ? c->next_tick_us : c->boot_at_us;

    return t < 0 ? -1 : t > now ? t - now : 0;
}

/* Write the truth file now (README.md), e.g. at exit. */
void
cca_truth_write(struct cca *c)
{
    truth_write(c);
}

/* The counters; borrowed, valid as long as <c>. */
const struct cca_stats *
cca_stats(const struct cca *c)
{
    return &c->st;
}

/* SPDX-License-Identifier: MIT */
/*
 * givenergy.c -- the GivEnergy data adapter ("dongle", TCP 8899) backend.
 *
 * One connection to the dongle, which also talks to the GivEnergy cloud
 * and the app, and copies every inverter response to every connected
 * client (docs/givenergy.md 5.1). So:
 * - heartbeats are echoed at once, whatever is on the wire (1.6);
 * - responses carry no transaction id: they are matched to the request on
 *   the wire by (device, function, base, count); every valid response to
 *   it, and the fanned-out registers of routed devices, go into the
 *   register cache (bounded: the dongle may push anything);
 * - frames failing CRC, null responses, LAN-config broadcasts and the
 *   dongle's substituted block never reach the cache or a client
 *   (givenergy_frame.c says which).
 *
 * Clients see plain registers. A read of any range is served from blocks
 * of block_size registers aligned on block_align (60 and 60: what the
 * cloud polls, so its fan-out fills the same blocks): each transmit
 * fetches the first block the cache cannot answer, and when it arrives the
 * request either completes from the cache or continues with the next block
 * (backend_continue: paced like any request). FC 6, and FC 16 of one
 * register, become the inner write (fc 6); FC 16 of several registers is
 * refused with 0x01 unless split_writes = yes, which writes them one by one
 * and stops at the first failure. An error frame (it carries no code)
 * becomes 0x02.
 *
 * Its keys: the link's (tcplink_keys, port 8899), block_size,
 * block_align, split_writes, keepalive_ms, and the dongle's own pace for
 * the keys every type has (docs/givenergy.md 5.3): min_spacing_ms 250,
 * timeout_ms 3000, retry_delay_ms 500, cache_ttl_ms 5000 (its cache is
 * how blocks serve reads).
 */
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "givenergy.h"
#include "givenergy_frame.h"
#include "log.h"
#include "pdu.h"
#include "tcplink.h"

extern const struct backend_ops be_givenergy_ops;

/* The settings of a givenergy backend (be->cfg.own). */
struct giv_cfg {
    struct tcplink_cfg link;     /* the dongle */
    unsigned block_size;         /* registers fetched per read */
    unsigned block_align;        /* blocks start at multiples of this */
    bool     split_writes;       /* FC 16 of n registers as n writes */
    unsigned keepalive_ms;       /* read something after this idle time */
    unsigned absent_ms;          /* a device that never answered and
                                    times out is not asked for this long */
};

CFG_OWN_FITS(struct giv_cfg);

#define GC(f) CFG_OWN(struct giv_cfg, f)

static const struct cfg_key giv_keys[] = {
    {"min_spacing_ms", CFG_UINT, CFG_BE(min_spacing_ms), 0, "250", 0, 600000,
     NULL, NULL},
    {"timeout_ms", CFG_UINT, CFG_BE(timeout_ms), 0, "3000", 10, 600000, NULL,
     NULL},
    {"retry_delay_ms", CFG_UINT, CFG_BE(retry_delay_ms), 0, "500", 0, 60000,
     NULL, NULL},
    {"cache_ttl_ms", CFG_UINT, CFG_BE(cache_ttl_ms), 0, "5000", 0, 86400000,
     NULL, NULL},
    {"port", CFG_UINT, GC(link.port), 0, "8899", 1, 65535, NULL, NULL},
    {"block_size", CFG_UINT, GC(block_size), 0, "60", 1, 60, NULL, NULL},
    {"block_align", CFG_UINT, GC(block_align), 0, "60", 1, 1000, NULL, NULL},
    {"split_writes", CFG_BOOL, GC(split_writes), 0, "no", 0, 0, NULL, NULL},
    {"keepalive_ms", CFG_UINT, GC(keepalive_ms), 0, "0", 0, 600000, NULL,
     NULL},
    {"absent_ms", CFG_UINT, GC(absent_ms), 0, "300000", 0, 86400000, NULL,
     NULL},
    CFG_KEYS_AT(tcplink_keys, GC(link)),
    CFG_KEYS_END
};

/* The backend's state (be->priv). */
struct giv_be {
    struct tcplink link;
    struct giv_rx  rx;
    uint8_t        serial[GIV_SERIAL_LEN]; /* the adapter's, once learned */
    bool           serial_known;
    uint8_t        adapter_type; /* its heartbeats' TT byte (1 until one
                                    comes: all real ones, 1.6) */
    uint8_t        dev_known[32];           /* bit per device address */
    uint8_t        dev_serial[256][GIV_SERIAL_LEN]; /* in its answers (3) */
    uint64_t       absent_until[256]; /* uv_now() until which a device
                                         that never answered is not asked
                                         (absent_ms) */
    bool           any_device;   /* some device has answered: the dongle
                                    and the inverter's line work */
    uint64_t       req_id;       /* the client request the inner one serves */
    uint8_t        dev, fc;      /* the inner request on the wire */
    uint16_t       base, count;  /* fc 6: register and value */
    uint64_t       last_tx_ms;   /* for keepalive_ms */
    uv_timer_t     keepalive;
};

static const struct giv_cfg *
giv_cfg(const struct backend *be)
{
    return cfg_own(&be->cfg);
}

/* The inverter answers at 0x11 and, on AC and Gen1 models, at 0x31: one
 * register file under two addresses (docs/givenergy.md 5.4). */
static uint8_t
giv_alias(uint8_t dev)
{
    return dev == 0x11 ? 0x31 : dev == 0x31 ? 0x11 : dev;
}

/* FC 3 and 4, and the meter product read (GIV_PDU_METER). */
static bool
giv_is_read(uint8_t fc)
{
    return pdu_is_read(fc) || fc == GIV_PDU_METER;
}

/* The inner fc that carries request fc <fc>, and back: the cache keeps
 * meter product registers under GIV_PDU_METER. */
static uint8_t
giv_inner_fc(uint8_t fc)
{
    return fc == GIV_PDU_METER ? 0x16 : fc;
}

static uint8_t
giv_cache_fc(uint8_t inner)
{
    return inner == 0x16 ? GIV_PDU_METER : inner;
}

/* --- blocks -------------------------------------------------------------- */

/* The block that holds register <a>: [*b, *e). Registers between the end
 * of an aligned block and the next (block_size < block_align) are fetched
 * as a block of their own. */
static void
giv_block(const struct backend *be, uint32_t a, uint32_t *b, uint32_t *e)
{
    uint32_t align = giv_cfg(be)->block_align, size = giv_cfg(be)->block_size;

    *b = a - a % align;
    if (a >= *b + size) {
        *b = a;
    }
    *e = MB_MIN(*b + size, (*b - *b % align) + align);
    *e = MB_MIN(*e, 0x10000u);
}

/* The first block a read <r> still needs, or false if the cache has it
 * all. Once a whole block was refused (it runs past the end of the
 * device's map), r->step is set and only the registers asked for are
 * fetched. */
static bool
giv_next_block(struct backend *be, const struct req *r, uint16_t *base,
               uint16_t *count)
{
    const uint8_t *q = req_pdu(r);
    uint32_t a = pdu_get16(q + 1), end = a + pdu_get16(q + 3), b, e;
    uint64_t since = backend_usable_since(be, r);

    while (a < end) {
        giv_block(be, a, &b, &e);
        if (!cache_fresh(&be->cache, r->be_unit, req_fc(r), (uint16_t)a,
                         (uint16_t)(MB_MIN(e, end) - a), since)) {
            if (r->step > 0) {
                b = a;
                e = MB_MIN(e, end);
            }
            *base = (uint16_t)b;
            *count = (uint16_t)(e - b);
            return true;
        }
        a = e;
    }
    return false;
}

/* Did the block just refused hold more than <r> asked for? */
static bool
giv_block_wider(const struct giv_be *t, const struct req *r)
{
    const uint8_t *q = req_pdu(r);
    uint32_t lo = pdu_get16(q + 1), hi = lo + pdu_get16(q + 3);

    return t->base < lo || (uint32_t)t->base + t->count > hi;
}

/* Read <r>'s registers are all in the cache: answer it. */
static void
giv_answer_read(struct backend *be, struct req *r)
{
    const uint8_t *q = req_pdu(r);
    uint16_t qty = pdu_get16(q + 3);
    uint8_t *rsp = req_rsp(r);
    bool all = cache_get(&be->cache, r->be_unit, req_fc(r), pdu_get16(q + 1),
                         qty, backend_usable_since(be, r), rsp + 2);

    ASSERT(all);        /* giv_next_block() said so, on the same clock */
    rsp[0] = req_fc(r);
    rsp[1] = (uint8_t)(qty * 2);
    r->rsp_len = 2 + qty * 2u;
    backend_done(be, r);
}

/* --- sending ------------------------------------------------------------- */

static void
giv_send(struct giv_be *t, struct req *r, bool write)
{
    struct backend *be = t->link.be;
    uint8_t frame[GIV_REQ_LEN];
    int rc;

    if (write) {
        giv_build_write(frame, t->serial, t->dev, t->base, t->count);
    } else {
        giv_build_read(frame, t->serial, t->dev, t->fc, t->base, t->count);
    }
    t->req_id = r->id;
    t->last_tx_ms = uv_now(be->loop);
    rc = tcplink_send(&t->link, frame, sizeof(frame));
    if (rc < 0) {
        t->req_id = 0;
        tcplink_lost(&t->link, uv_strerror(rc));
        return;
    }
    backend_attempt_start(be, r);
}

/* The register and value the next inner write of <r> carries: one the
 * client named, whatever came before. */
static void
giv_write_target(const struct req *r, uint16_t *reg, uint16_t *value)
{
    const uint8_t *q = req_pdu(r);

    if (req_fc(r) == MB_FC_WRITE_REGISTER) {
        *reg = pdu_get16(q + 1);
        *value = pdu_get16(q + 3);
    } else {                                    /* FC 16, register <step> */
        ASSERT(r->step < pdu_get16(q + 3));
        *reg = (uint16_t)(pdu_get16(q + 1) + r->step);
        *value = pdu_get16(q + 6 + 2 * r->step);
    }
}

/*
 * One dongle transaction for INFLIGHT request <r>: the next block of a
 * read (or its answer, if fan-out brought everything meanwhile), or the
 * next register of a write. Takes ownership.
 */
static void
giv_transmit(struct backend *be, struct req *r)
{
    struct giv_be *t = be->priv;

    if (uv_now(be->loop) < t->absent_until[r->be_unit]) {
        backend_fail(be, r, MB_EX_GW_TARGET);   /* found absent meanwhile */
        return;
    }
    t->dev = r->be_unit;
    if (giv_is_read(req_fc(r))) {
        t->fc = giv_inner_fc(req_fc(r));
        if (!giv_next_block(be, r, &t->base, &t->count)) {
            r->local = true;        /* fan-out or a lead brought it all */
            giv_answer_read(be, r);
            return;
        }
        giv_send(t, r, false);
        return;
    }
    t->fc = MB_FC_WRITE_REGISTER;
    giv_write_target(r, &t->base, &t->count);
    giv_send(t, r, true);
}

/* The meter product read: GIV_PDU_METER with FC 4's layout. */
static bool
giv_reads_only(const struct req *r)
{
    return req_fc(r) == GIV_PDU_METER && r->pdu_len == 5;
}

/* What the dongle can carry: FC 3 and 4, the meter product read, FC 6,
 * FC 16 of one register (or of several with split_writes). No broadcast. */
static uint8_t
giv_admit(struct backend *be, const struct req *r)
{
    const struct giv_be *t = be->priv;
    uint8_t fc = req_fc(r);
    unsigned qty;

    if (r->be_unit == 0) {
        return MB_EX_ILLEGAL_FUNCTION;
    }
    if (uv_now(be->loop) < t->absent_until[r->be_unit]) {
        return MB_EX_GW_TARGET;         /* absent: not asked again yet */
    }
    if (fc == GIV_PDU_METER) {
        if (r->pdu_len != 5) {
            return MB_EX_ILLEGAL_VALUE;
        }
        qty = pdu_get16(req_pdu(r) + 3);
        if (qty < 1 || qty > 125) {
            return MB_EX_ILLEGAL_VALUE;
        }
        return pdu_get16(req_pdu(r) + 1) + qty > 0x10000u
                   ? MB_EX_ILLEGAL_ADDRESS : 0;
    }
    if (fc == MB_FC_READ_HOLDING || fc == MB_FC_READ_INPUT ||
        fc == MB_FC_WRITE_REGISTER) {
        return 0;
    }
    if (fc == MB_FC_WRITE_REGISTERS &&
        (pdu_get16(req_pdu(r) + 3) == 1 || giv_cfg(be)->split_writes)) {
        return 0;
    }
    return MB_EX_ILLEGAL_FUNCTION;
}

/* --- receiving ------------------------------------------------------------ */

/* The request the inner one on the wire is for, if still there. */
static struct req *
giv_current(struct giv_be *t)
{
    struct req *r = backend_match_oldest(t->link.be);

    return r != NULL && t->req_id != 0 && r->id == t->req_id ? r : NULL;
}

/* Our write was echoed: the next register, or the answer. */
static void
giv_write_done(struct backend *be, struct req *r)
{
    const uint8_t *q = req_pdu(r);
    uint8_t rsp[5];

    if (req_fc(r) == MB_FC_WRITE_REGISTERS &&
        ++r->step < pdu_get16(q + 3)) {
        backend_continue(be, r);
        return;
    }
    if (req_fc(r) == MB_FC_WRITE_REGISTER) {
        req_set_response(r, q, 5);
    } else {
        memcpy(rsp, q, 5);                      /* fc, address, quantity */
        req_set_response(r, rsp, 5);
    }
    backend_done(be, r);
}

/* A frame that answers what is on the wire (or fanned-out data that
 * happens to be exactly what we asked for). */
static void
giv_matched(struct giv_be *t, struct req *r, const struct giv_frame *f)
{
    struct backend *be = t->link.be;

    t->req_id = 0;
    if (f->kind == GIV_ERROR_RESPONSE && giv_is_read(req_fc(r)) &&
        r->step == 0 && giv_block_wider(t, r)) {
        rlog(LOG_DEBUG, r, "block %u+%u refused, asking for less", t->base,
             t->count);
        r->step = 1;
        backend_continue(be, r);
    } else if (f->kind == GIV_ERROR_RESPONSE) {
        /* The device's own refusal (it carries no code): its answer, not
         * the proxy's failure, as 0x02. */
        uint8_t ex[2] = {(uint8_t)(req_fc(r) | MB_EX_FLAG),
                         MB_EX_ILLEGAL_ADDRESS};

        rlog(LOG_DEBUG, r, "error frame 0x%02X from device 0x%02X", f->fc,
             f->device);
        req_set_response(r, ex, sizeof(ex));
        backend_done(be, r);
    } else if (f->kind == GIV_WRITE_RESPONSE) {
        if (f->count != t->count) {
            be->st.bad_responses++;
            rlog(LOG_WARN, r, "write echo carries 0x%04X, not 0x%04X",
                 f->count, t->count);
            backend_attempt_failed(be, r, "wrong write echo");
            return;
        }
        giv_write_done(be, r);
    } else if (giv_next_block(be, r, &t->base, &t->count)) {
        backend_continue(be, r);
    } else {
        giv_answer_read(be, r);
    }
}

static bool
giv_matches(const struct giv_be *t, const struct giv_frame *f)
{
    if (t->req_id == 0 || f->device != t->dev ||
        (f->fc & 0x7F) != t->fc || f->base != t->base) {
        return false;
    }
    /* error frames sometimes echo the count as 0 (docs/givenergy.md 1.5) */
    return f->kind == GIV_ERROR_RESPONSE || f->count == t->count;
}

/* Store read response <f> under device <dev>. */
static void
giv_store(struct backend *be, uint8_t dev, const struct giv_frame *f)
{
    be->st.cache_evictions += cache_store(&be->cache, dev,
                                          giv_cache_fc(f->fc), f->base,
                                          f->count, f->values,
                                          uv_now(be->loop));
}

/* Keep the serial device <dev> puts in its answers (3), for answers the
 * givenergy front end makes from the cache. */
static void
giv_learn_serial(struct giv_be *t, uint8_t dev, const uint8_t *serial)
{
    memcpy(t->dev_serial[dev], serial, GIV_SERIAL_LEN);
    t->dev_known[dev / 8] |= (uint8_t)(1u << (dev % 8));
    t->absent_until[dev] = 0;
    t->any_device = true;
}

static bool
giv_dev_known(const struct giv_be *t, uint8_t dev)
{
    return (t->dev_known[dev / 8] >> (dev % 8)) & 1;
}

/*
 * What the dongle of givenergy backend <be> told about itself and device
 * <device> (its serial, learned from its answers; the inverter's two
 * addresses share one), for the givenergy front end. False if <be> is not
 * a givenergy backend, or the dongle has sent nothing yet.
 */
bool
giv_backend_identity(const struct backend *be, uint8_t device,
                     struct giv_identity *out)
{
    const struct giv_be *t;

    if (be == NULL || be->ops != &be_givenergy_ops || be->priv == NULL) {
        return false;
    }
    t = be->priv;
    if (!t->serial_known) {
        return false;
    }
    memcpy(out->adapter_serial, t->serial, GIV_SERIAL_LEN);
    out->adapter_type = t->adapter_type;
    out->device_known = giv_dev_known(t, device);
    memcpy(out->device_serial, t->dev_serial[device], GIV_SERIAL_LEN);
    return true;
}

/*
 * What is valid feeds the cache, if a client may read it: the answer to
 * the request on the wire (<ours>), and the fanned-out registers (FC 3, 4:
 * what giv_admit() lets clients read) of routed devices, an answer at one
 * of the inverter's two addresses under each of them that is routed. The
 * dongle may push anything, for any device and base; the rest is counted,
 * not kept. A write echo invalidates (ours and other masters' alike: the
 * register changed).
 */
static void
giv_learn(struct giv_be *t, const struct giv_frame *f, bool ours)
{
    struct backend *be = t->link.be;
    uint8_t alias = giv_alias(f->device);
    bool kept = false;

    if (f->kind == GIV_READ_RESPONSE || f->kind == GIV_WRITE_RESPONSE ||
        f->kind == GIV_ERROR_RESPONSE) {
        giv_learn_serial(t, f->device, f->inverter_serial);
        if (alias != f->device) {
            giv_learn_serial(t, alias, f->inverter_serial);
        }
    }
    if (f->kind == GIV_READ_RESPONSE) {
        if (ours || backend_routed(be, f->device)) {
            giv_store(be, f->device, f);
            kept = true;
        }
        if (alias != f->device && backend_routed(be, alias) &&
            f->fc != 0x16) {
            giv_store(be, alias, f);
            kept = true;
        }
        if (!kept) {
            be->st.fanout_unrouted++;
        }
    } else if (f->kind == GIV_WRITE_RESPONSE) {
        cache_invalidate(&be->cache, f->device, MB_FC_READ_HOLDING, f->base, 1);
        cache_invalidate(&be->cache, giv_alias(f->device), MB_FC_READ_HOLDING,
                         f->base, 1);
    }
}

static void
giv_heartbeat(struct giv_be *t, const uint8_t *frame, size_t len)
{
    struct backend *be = t->link.be;
    int rc = tcplink_send(&t->link, frame, len);   /* verbatim echo (1.6) */

    if (rc < 0) {
        tcplink_lost(&t->link, uv_strerror(rc));
        return;
    }
    be->st.heartbeats++;
    blog(LOG_DEBUG, be, "heartbeat answered");
}

static void
giv_frame_cb(void *ctx, const uint8_t *frame, size_t len, enum giv_verdict v,
             const struct giv_frame *f)
{
    struct giv_be *t = ctx;
    struct backend *be = t->link.be;
    struct req *r;

    if (t->link.conn == NULL) {
        return;             /* the link was dropped earlier in this read */
    }
    if (v != GIV_OK) {
        be->st.guard_drops++;
        blog(LOG_DEBUG, be, "frame dropped: %s (%zu bytes)",
             giv_verdict_str(v), len);
        return;
    }
    if (!t->serial_known || memcmp(t->serial, f->adapter_serial,
                                   GIV_SERIAL_LEN) != 0) {
        memcpy(t->serial, f->adapter_serial, GIV_SERIAL_LEN);
        t->serial_known = true;
        blog(LOG_INFO, be, "adapter serial %.10s", (const char *)t->serial);
    }
    if (f->kind == GIV_HEARTBEAT) {
        t->adapter_type = f->adapter_type;
        giv_heartbeat(t, frame, len);
        return;
    }
    if (f->kind == GIV_REQUEST) {
        return;                         /* another master's; not data */
    }
    /* A copy for the listeners that name this backend, as the dongle
     * copies it to every client: before the answer it carries completes
     * anything, so a client waiting for it is not sent it twice. */
    backend_device_frame(be, frame, len);
    if (t->link.conn == NULL) {
        return;
    }
    r = giv_current(t);
    if (r != NULL && !giv_matches(t, f)) {
        r = NULL;
    }
    giv_learn(t, f, r != NULL);
    if (r != NULL) {
        giv_matched(t, r, f);
    } else {
        be->st.fanout_frames++;
    }
}

static void
giv_up(struct tcplink *l)
{
    struct giv_be *t = container_of(l, struct giv_be, link);

    giv_rx_init(&t->rx);
    t->req_id = 0;
    t->last_tx_ms = uv_now(l->be->loop);
}

static void
giv_data(struct tcplink *l, const uint8_t *data, size_t len)
{
    struct giv_be *t = container_of(l, struct giv_be, link);
    uint64_t skipped = t->rx.skipped;

    giv_rx_feed(&t->rx, data, len, giv_frame_cb, t);
    l->be->st.stray_bytes += t->rx.skipped - skipped;
}

/* Some dongles reap a connection that has been quiet for ~10 s: read one
 * register when nothing went out for keepalive_ms. Its answer is data like
 * any other. */
static void
giv_keepalive_cb(uv_timer_t *timer)
{
    struct giv_be *t = timer->data;
    struct backend *be = t->link.be;
    uint8_t frame[GIV_REQ_LEN];
    uint64_t now = uv_now(be->loop);

    if (!be->up || be->n_inflight > 0 || be->sched.queued > 0 ||
        now - t->last_tx_ms < giv_cfg(be)->keepalive_ms) {
        return;
    }
    giv_build_read(frame, t->serial, 0x11, MB_FC_READ_HOLDING, 0, 1);
    if (tcplink_send(&t->link, frame, sizeof(frame)) == 0) {
        t->last_tx_ms = now;
        backend_paced(be);
        blog(LOG_DEBUG, be, "keepalive read sent");
    }
}

/* A timeout with bytes still unsent resets the link (tcplink.c says why):
 * a dongle flooding heartbeats may leave our requests unread. A device
 * that has never sent a frame and does not answer is absent, as far as
 * clients can tell (they probe addresses to find devices, docs/givenergy.md
 * 8): not asked again for absent_ms, so that probes do not hold the one
 * dongle transaction for every other client. */
static void
giv_attempt_timeout(struct backend *be, struct req *r)
{
    struct giv_be *t = be->priv;
    unsigned absent_ms = giv_cfg(be)->absent_ms;

    if (tcplink_reset_if_unsent(&t->link)) {
        return;
    }
    if (absent_ms > 0 && t->any_device && !giv_dev_known(t, t->dev)) {
        blog(LOG_INFO, be, "device 0x%02X does not answer and never has: "
             "not asked again for %u s", t->dev, absent_ms / 1000);
        t->absent_until[t->dev] = uv_now(be->loop) + absent_ms;
        t->req_id = 0;
        backend_fail(be, r, MB_EX_GW_TARGET);
        return;
    }
    backend_attempt_failed(be, r, "timeout");
}

static void
giv_start(struct backend *be)
{
    struct giv_be *t = be->priv;

    tcplink_connect(&t->link);
}

static int
giv_create(struct backend *be)
{
    struct giv_be *t = xcalloc(1, sizeof(*t));
    unsigned keepalive_ms = giv_cfg(be)->keepalive_ms;

    tcplink_init(&t->link, be, &giv_cfg(be)->link, giv_up, giv_data);
    memset(t->serial, '*', sizeof(t->serial));   /* accepted (1.2) */
    t->adapter_type = 1;
    giv_rx_init(&t->rx);
    uv_timer_init(be->loop, &t->keepalive);
    t->keepalive.data = t;
    if (keepalive_ms > 0) {
        uv_timer_start(&t->keepalive, giv_keepalive_cb,
                       MB_MAX(keepalive_ms / 4, 100u),
                       MB_MAX(keepalive_ms / 4, 100u));
    }
    be->priv = t;
    return 0;
}

static void
giv_timer_closed_cb(uv_handle_t *h)
{
    struct giv_be *t = h->data;

    backend_handle_closed(t->link.be);
}

static void
giv_stop(struct backend *be)
{
    struct giv_be *t = be->priv;

    tcplink_stop(&t->link);
    t->req_id = 0;
    backend_handle_opened(be);
    uv_close((uv_handle_t *)&t->keepalive, giv_timer_closed_cb);
}

static void
giv_destroy(struct backend *be)
{
    free(be->priv);
    be->priv = NULL;
}

/* The link stays if the dongle does; blocks and writes are read as each
 * request goes. */
static bool
giv_same_link(const struct cfg_backend *old, const struct cfg_backend *c)
{
    const struct giv_cfg *a = cfg_own(old), *b = cfg_own(c);

    return tcplink_same_cfg(&a->link, &b->link);
}

static void
giv_status_html(const struct backend *be, struct http_buf *b)
{
    tcplink_status_html(&giv_cfg(be)->link, b);
}

const struct backend_ops be_givenergy_ops = {
    .type = "givenergy",
    .keys = giv_keys,
    .same_link = giv_same_link,
    .status_html = giv_status_html,
    .create = giv_create,
    .start = giv_start,
    .transmit = giv_transmit,
    .stop = giv_stop,
    .admit = giv_admit,
    .reads_only = giv_reads_only,
    .attempt_timeout = giv_attempt_timeout,
    .own_cache = true,
    .destroy = giv_destroy,
};

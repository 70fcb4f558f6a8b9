/* SPDX-License-Identifier: MIT */
/*
 * fe_givenergy.c -- the "givenergy" front end: a listener that looks like a
 * GivEnergy data adapter ("dongle", TCP 8899) to GivTCP, GivEnergy Local,
 * the GivEnergy app and every other program that speaks only the dongle's
 * framing (docs/givenergy.md, section 8), in front of the one real dongle
 * of a "givenergy" backend ([listener] backend), which sees one client.
 *
 * In: the deframer of givenergy_frame.c cuts the stream into frames, as a
 * dongle does (1.1). Each read (inner fc 3, 4 and the meter product read
 * 0x16, 1..60 registers) and write (fc 6) becomes a request of the core,
 * unit = the device address, so it is cached, shared, paced and judged by
 * the write rules like a Modbus request; the placeholder adapter serial
 * of the request is ignored, as the dongle ignores it (1.2). Heartbeat
 * answers are taken and ignored. What a dongle ignores is ignored: a
 * request with a bad CRC (the AIO drops them, 2), a function no device
 * answers, a read of no or more than 60 registers; each is counted. Bytes
 * that are no frame at all close the connection, with the reason.
 *
 * Out: answers go out as they come, not in the order asked (clients match
 * them by shape, and a dongle answers a request for an absent device
 * with nothing, not by holding up the next). An answer is the frame the
 * dongle would send for that request,
 * byte for byte (3): the real adapter serial and the device's serial
 * (learned by the backend, backends/givenergy.h), base and count echoed,
 * the values, the CRC; built in place in req->out. The dongle's error
 * frames come back as error frames. Everything else the proxy could say
 * (the device did not answer, no route, busy) is silence, as a dongle is
 * silent: clients find absent devices by timing out. The one exception
 * is a write the write rules refuse: the error frame a dongle sends for
 * a refused write (fc 0x86), so that the client does not retry it.
 *
 * Fan-out (fanout = yes): the dongle copies every answer it gets to every
 * client, and clients rely on it (5.1). Every valid frame the backend's
 * dongle sends (answers to the proxy's requests, copies of the cloud's)
 * is copied to each client, except to a client that has a request of the
 * same shape outstanding: that request's answer carries it.
 *
 * Heartbeats: heartbeat_s > 0 sends each client the dongle's heartbeat
 * every heartbeat_s seconds (clients answer them; they do not need them).
 *
 * Pure but for host calls: no libuv, no allocation.
 */
#include <stdio.h>
#include <string.h>

#include "frontend.h"
#include "givenergy.h"
#include "givenergy_frame.h"
#include "pdu.h"
#include "req.h"

/* The settings of a givenergy listener (cfg_listener.own). */
struct fe_giv_cfg {
    bool     fanout;          /* copy the dongle's frames to every client */
    unsigned heartbeat_s;     /* send heartbeats this often; 0 never */
};

CFG_LST_OWN_FITS(struct fe_giv_cfg);

#define GC(f) CFG_LST_OWN(struct fe_giv_cfg, f)

static const struct cfg_key fe_giv_keys[] = {
    {"fanout", CFG_BOOL, GC(fanout), 0, "yes", 0, 0, NULL, NULL},
    {"heartbeat_s", CFG_UINT, GC(heartbeat_s), 0, "0", 0, 86400, NULL, NULL},
    CFG_KEYS_END,
};

/* Shapes of requests outstanding that are tracked for fan-out: more than
 * GivTCP's queue of 20 (docs/givenergy.md 8). Past this a client may get
 * an answer twice, which GivEnergy clients take as fan-out. */
#define FE_GIV_PENDING 64

/* How a dongle frame is matched to a request: by shape, as clients do. */
struct fe_giv_shape {
    uint8_t  dev;
    uint8_t  fc;              /* inner fc: 3, 4, 0x16 or 6 */
    uint16_t a, b;            /* base and count; register and value */
};

/* The state of one connection. */
struct fe_giv {
    struct giv_rx       rx;          /* the partial frame between reads */
    uint64_t            hb_ms;       /* last heartbeat sent, or connect */
    bool                hb_started;
    int                 stop;        /* host->request's non-zero value */
    int                 bad;         /* a frame that cannot be read */
    uint64_t            seen_skipped; /* rx.skipped at the last frame */
    size_t              excuse;      /* bytes of frames with a bad CRC not
                                        skipped yet: the deframer skips
                                        them after the frame, and they are
                                        no garbage */
    char                why[96];     /* its reason */
    unsigned            n_pending;
    struct fe_giv_shape pending[FE_GIV_PENDING];
};

static const struct fe_giv_cfg *
fe_giv_cfg(const struct fe_conn *c)
{
    const struct cfg_listener *lc = c->host->settings(c);

    return lc != NULL ? cfg_lst_own(lc) : NULL;
}

static void
fe_giv_open(struct fe_conn *c)
{
    struct fe_giv *g = c->state;

    giv_rx_init(&g->rx);
}

/* --- requests ------------------------------------------------------------ */

static void
shape_add(struct fe_giv *g, const struct fe_giv_shape *sh)
{
    if (g->n_pending < FE_GIV_PENDING) {
        g->pending[g->n_pending++] = *sh;
    }
}

/* Take one outstanding shape equal to <sh> off the list; false if none.
 * <error>: an error frame, which may echo the count as 0 (1.5). */
static bool
shape_take(struct fe_giv *g, const struct fe_giv_shape *sh, bool error,
           bool remove)
{
    for (unsigned i = 0; i < g->n_pending; i++) {
        const struct fe_giv_shape *p = &g->pending[i];

        if (p->dev == sh->dev && p->fc == sh->fc && p->a == sh->a &&
            (p->b == sh->b || error)) {
            if (remove) {
                g->pending[i] = g->pending[--g->n_pending];
            }
            return true;
        }
    }
    return false;
}

/* The shape of request <r>, from its PDU (what fe_giv_request made). */
static void
shape_of_req(const struct req *r, struct fe_giv_shape *sh)
{
    const uint8_t *q = req_pdu(r);

    sh->dev = r->unit;
    sh->fc = req_fc(r) == GIV_PDU_METER ? 0x16 : req_fc(r);
    sh->a = pdu_get16(q + 1);
    sh->b = pdu_get16(q + 3);
}

/* One request frame <f> of the client: to the core, or ignored as the
 * dongle would. */
static void
fe_giv_request(struct fe_conn *c, const struct giv_frame *f)
{
    struct fe_giv *g = c->state;
    struct fe_giv_shape sh = {f->device, f->fc, f->base, f->count};
    uint8_t pdu[5];
    struct fe_request rq = {.tid = 0, .unit = f->device, .pdu = pdu,
                            .pdu_len = sizeof(pdu)};
    char what[64];

    if (f->fc != 6 && (f->count < 1 || f->count > GIV_REGS_MAX)) {
        snprintf(what, sizeof(what), "read of %u registers (1..%d)",
                 f->count, GIV_REGS_MAX);
        c->host->ignored(c, what);
        return;
    }
    pdu[0] = f->fc == 0x16 ? GIV_PDU_METER : f->fc;
    pdu[1] = (uint8_t)(f->base >> 8);
    pdu[2] = (uint8_t)f->base;
    pdu[3] = (uint8_t)(f->count >> 8);
    pdu[4] = (uint8_t)f->count;
    /* Before the request: an answer from the cache comes back inside
     * host->request, and takes the shape off again. */
    shape_add(g, &sh);
    g->stop = c->host->request(c, &rq);
}

/* Did the deframer skip bytes that are no frame since the last frame
 * (beyond those of a frame with a bad CRC, which it skips after the
 * frame, some of them only once more bytes came)? Then the stream is not
 * the dongle's framing: <g> is bad, and nothing after those bytes is
 * taken, however the socket cut the stream. */
static bool
fe_giv_garbage(struct fe_giv *g)
{
    uint64_t grown = g->rx.skipped - g->seen_skipped;

    if (g->bad == 0 && grown > g->excuse) {
        g->bad = -1;
        snprintf(g->why, sizeof(g->why), "not a GivEnergy frame: %llu "
                 "bytes without a 59 59 00 01 header",
                 (unsigned long long)(grown - g->excuse));
    }
    g->excuse -= (size_t)MB_MIN(grown, (uint64_t)g->excuse);
    g->seen_skipped = g->rx.skipped;
    return g->bad != 0;
}

/* giv_rx_feed's frame callback. */
static void
fe_giv_frame_cb(void *ctx, const uint8_t *frame, size_t len,
                enum giv_verdict v, const struct giv_frame *f)
{
    struct fe_conn *c = ctx;
    struct fe_giv *g = c->state;
    char what[64];

    (void)frame;
    if (g->stop != 0 || fe_giv_garbage(g)) {
        return;                 /* closing: nothing more is taken */
    }
    if (v != GIV_BAD_CRC) {
        g->excuse = 0;          /* what a bad frame left is skipped */
    }
    switch (v) {
    case GIV_OK:
        break;
    case GIV_IGNORE:
        snprintf(what, sizeof(what), "inner function 0x%02X", f->fc);
        c->host->ignored(c, what);
        return;
    case GIV_BAD_CRC:
        g->excuse += len;
        snprintf(what, sizeof(what), "%s (%zu bytes)", giv_verdict_str(v),
                 len);
        c->host->ignored(c, what);
        return;
    default:
        g->bad = -1;
        snprintf(g->why, sizeof(g->why), "not a GivEnergy frame: %s "
                 "(%zu bytes)", giv_verdict_str(v), len);
        return;
    }
    if (f->kind == GIV_REQUEST) {
        fe_giv_request(c, f);
    } else if (f->kind != GIV_HEARTBEAT) {
        snprintf(what, sizeof(what), "a frame of kind %d from a client",
                 (int)f->kind);
        c->host->ignored(c, what);
    }                           /* a heartbeat answer: taken */
}

static int
fe_giv_feed(struct fe_conn *c, const uint8_t *data, size_t len, char *why,
            size_t why_size)
{
    struct fe_giv *g = c->state;

    giv_rx_feed(&g->rx, data, len, fe_giv_frame_cb, c);
    if (g->stop != 0) {
        return g->stop;
    }
    if (fe_giv_garbage(g)) {
        snprintf(why, why_size, "%s", g->why);
        return g->bad;
    }
    return 0;
}

static size_t
fe_giv_partial(const struct fe_conn *c)
{
    const struct fe_giv *g = c->state;

    return g->rx.len;
}

/* --- answers ------------------------------------------------------------- */

/*
 * The frame that answers DONE request <r>, built in r->out: a read's
 * values, a write's echo, the device's error frame, a refused write's
 * error frame; or 0 (silence) for anything else.
 */
static size_t
fe_giv_encode_reply(struct fe_conn *c, struct req *r, const uint8_t **out)
{
    struct fe_giv *g = c->state;
    const uint8_t *rsp = req_rsp(r);
    struct fe_giv_shape sh;
    struct giv_identity id;
    size_t n = 0;
    uint8_t fc;

    shape_of_req(r, &sh);
    shape_take(g, &sh, false, true);
    if (!giv_backend_identity(c->host->backend(c), sh.dev, &id) ||
        !id.device_known || r->rsp_len < 2) {
        return 0;               /* nothing the dongle would say */
    }
    if (rsp[0] & MB_EX_FLAG) {
        /* The device's refusal, passed on; the write rules' refusal of a
         * write, told as the dongle tells one; anything else of the
         * proxy's own is silence. */
        if (r->failed && !(r->refused && sh.fc == 6)) {
            return 0;
        }
        fc = (uint8_t)(sh.fc | MB_EX_FLAG);
    } else if (sh.fc == 6) {
        fc = 6;                 /* echo: register and value as asked */
    } else {
        n = sh.b;
        if (r->rsp_len != 2 + 2 * n || rsp[1] != 2 * n) {
            return 0;
        }
        fc = sh.fc;
    }
    *out = r->out;
    return giv_build_answer(r->out, id.adapter_serial, sh.dev, fc,
                            id.device_serial, sh.a, sh.b, rsp + 2, n);
}

/* --- what the dongle sends on its own ------------------------------------ */

/* A frame of the real dongle (valid, checked by the backend): a copy for
 * this client unless it waits for an answer of that shape. */
static bool
fe_giv_device_frame(struct fe_conn *c, const uint8_t *data, size_t len)
{
    struct fe_giv *g = c->state;
    const struct fe_giv_cfg *cfg = fe_giv_cfg(c);
    struct giv_frame f;
    struct fe_giv_shape sh;

    if (cfg == NULL || !cfg->fanout || giv_parse(data, len, &f) != GIV_OK) {
        return false;
    }
    if (f.kind != GIV_READ_RESPONSE && f.kind != GIV_WRITE_RESPONSE &&
        f.kind != GIV_ERROR_RESPONSE) {
        return false;
    }
    sh.dev = f.device;
    sh.fc = f.fc & 0x7F;
    sh.a = f.base;
    sh.b = f.count;
    if (shape_take(g, &sh, f.kind == GIV_ERROR_RESPONSE, false)) {
        return false;           /* its own answer will carry it */
    }
    return c->host->send(c, data, len) == 0;
}

static void
fe_giv_tick(struct fe_conn *c, uint64_t now_ms)
{
    struct fe_giv *g = c->state;
    const struct fe_giv_cfg *cfg = fe_giv_cfg(c);
    struct giv_identity id;
    uint8_t hb[GIV_HEARTBEAT_LEN];

    if (!g->hb_started) {
        g->hb_started = true;
        g->hb_ms = now_ms;
        return;
    }
    if (cfg == NULL || cfg->heartbeat_s == 0 ||
        now_ms - g->hb_ms < cfg->heartbeat_s * 1000ull ||
        !giv_backend_identity(c->host->backend(c), 0x11, &id)) {
        return;
    }
    g->hb_ms = now_ms;
    giv_build_heartbeat(hb, id.adapter_serial, id.adapter_type);
    (void)c->host->send(c, hb, sizeof(hb));
}

/* --- configuration ------------------------------------------------------- */

/* A givenergy listener names a givenergy backend: its clients' device
 * addresses are that dongle's. */
static bool
fe_giv_check_cfg(const struct cfg *cfg, const struct cfg_listener *l,
                 char *why, size_t size)
{
    const struct cfg_backend *be;

    if (l->backend_index < 0) {
        snprintf(why, size, "backend: missing (a givenergy listener names "
                 "the givenergy backend it stands in front of)");
        return false;
    }
    be = &cfg->backends[l->backend_index];
    if (strcmp(be->type, "givenergy") != 0) {
        snprintf(why, size, "backend: [backend %s] is of type %s, not "
                 "givenergy", be->name, be->type);
        return false;
    }
    return true;
}

const struct frontend_ops fe_givenergy_ops = {
    .type = "givenergy",
    .keys = fe_giv_keys,
    .check_cfg = fe_giv_check_cfg,
    .state_size = sizeof(struct fe_giv),
    .request_min = GIV_REQ_LEN,
    .any_order = true,          /* clients match by shape (5.2, 8.2) */
    .open = fe_giv_open,
    .feed = fe_giv_feed,
    .partial = fe_giv_partial,
    .encode_reply = fe_giv_encode_reply,
    .device_frame = fe_giv_device_frame,
    .tick = fe_giv_tick,
};

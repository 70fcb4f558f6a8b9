/* SPDX-License-Identifier: MIT */
/*
 * policy.c -- what a backend answers without its device, and what it
 * refuses: reads served from the register cache (cache_ttl_ms), older
 * values when the device fails (serve_stale_ms), what completed requests
 * teach the cache, and the write rules (read_only, read_only_clients,
 * deny_write, min_write_interval_ms, write_if_changed with its pre-read).
 *
 * backend.c calls these at submission, dispatch and completion; they
 * change no list and no request state, so the lifecycle stays backend.c's.
 */
#include <string.h>

#include "backend.h"
#include "log.h"
#include "pdu.h"
#include "policy.h"
#include "session.h"

/* A plain register read (FC 3 or 4) the cache can answer. */
bool
policy_cacheable(const struct req *r)
{
    return (req_fc(r) == MB_FC_READ_HOLDING || req_fc(r) == MB_FC_READ_INPUT) &&
           r->be_unit != 0;
}

/* Answer read <r> from the cache if all its registers arrived at or after
 * <since_ms>: the response goes in req_rsp(). */
bool
policy_cache_answer(struct backend *be, struct req *r, uint64_t since_ms)
{
    const uint8_t *q = req_pdu(r);
    uint16_t qty = pdu_get16(q + 3);
    uint8_t *rsp = req_rsp(r);

    if (!policy_cacheable(r) ||
        !cache_get(&be->cache, r->be_unit, req_fc(r), pdu_get16(q + 1), qty,
                   since_ms, rsp + 2)) {
        return false;
    }
    rsp[0] = req_fc(r);
    rsp[1] = (uint8_t)(qty * 2);
    r->rsp_len = 2 + qty * 2u;
    return true;
}

/* When a read could not be had from the device: older values will do
 * (serve_stale_ms) rather than an exception. */
bool
policy_stale_answer(struct backend *be, struct req *r)
{
    uint64_t now = uv_now(be->loop);

    if (be->cfg.serve_stale_ms == 0 ||
        !policy_cache_answer(be, r, now > be->cfg.serve_stale_ms
                                 ? now - be->cfg.serve_stale_ms + 1 : 1)) {
        return false;
    }
    be->st.stale_served++;
    rlog(LOG_DEBUG, r, "answered from values up to %u ms old",
         be->cfg.serve_stale_ms);
    return true;
}

/* The holding registers write <r> touches no longer hold what we knew. */
void
policy_forget(struct backend *be, const struct req *r)
{
    unsigned lo, hi;

    if (!pdu_is_read(req_fc(r)) &&
        pdu_range(req_pdu(r), r->pdu_len, &lo, &hi)) {
        cache_invalidate(&be->cache, r->be_unit, MB_FC_READ_HOLDING,
                         (uint16_t)lo, (uint16_t)(hi - lo + 1));
    }
}

/* A completed request teaches the cache: a read's values, a write's
 * invalidation (again: a read may have refilled them meanwhile). */
void
policy_learn(struct backend *be, const struct req *r)
{
    const uint8_t *q = req_pdu(r);

    if (policy_cacheable(r) && req_rsp(r)[0] == req_fc(r) && !be->ops->own_cache &&
        (be->cfg.cache_ttl_ms > 0 || be->cfg.serve_stale_ms > 0)) {
        be->st.cache_evictions +=
            cache_store(&be->cache, r->be_unit, req_fc(r), pdu_get16(q + 1),
                        pdu_get16(q + 3), req_rsp(r) + 2, uv_now(be->loop));
    } else if (!pdu_is_read(req_fc(r))) {
        policy_forget(be, r);
    }
}

/*
 * The oldest arrival time of a cached register that may answer <r>: within
 * cache_ttl_ms, or since <r> was received (values fetched for it, or fanned
 * out while it waited, even with the cache off).
 */
uint64_t
backend_usable_since(const struct backend *be, const struct req *r)
{
    uint64_t now = uv_now(be->loop), ttl = be->cfg.cache_ttl_ms;
    uint64_t since = ttl > 0 && now > ttl ? now - ttl + 1 : now;

    return MB_MAX(MB_MIN(since, r->t_recv_ms), 1);
}

/* --- write safety --------------------------------------------------- */

/* min_write_interval_ms keeps its own clock per register: coils and
 * registers apart. */
#define WRITES_REGS  0
#define WRITES_COILS 1

static uint8_t
writes_table(uint8_t fc)
{
    return fc == MB_FC_WRITE_COIL || fc == MB_FC_WRITE_COILS ? WRITES_COILS
                                                             : WRITES_REGS;
}

static bool
write_denied(const struct cfg_backend *c, unsigned lo, unsigned hi)
{
    for (unsigned i = 0; i < c->n_deny_write; i++) {
        if (lo <= c->deny_write[i].hi && hi >= c->deny_write[i].lo) {
            return true;
        }
    }
    return false;
}

/* The values holding-register write <r> would store (FC 6 or FC 16). */
static const uint8_t *
write_values(const struct req *r, uint16_t *addr, uint16_t *n)
{
    const uint8_t *q = req_pdu(r);

    *addr = pdu_get16(q + 1);
    if (q[0] == MB_FC_WRITE_REGISTER) {
        *n = 1;
        return q + 3;
    }
    if (q[0] == MB_FC_WRITE_REGISTERS) {
        *n = pdu_get16(q + 3);
        return q + 6;
    }
    return NULL;
}

/* Which rule refuses write <r>, with its exception code, or NULL. */
static const char *
write_refusal(struct backend *be, const struct req *r, uint8_t *code)
{
    unsigned lo, hi;
    bool ranged = pdu_range(req_pdu(r), r->pdu_len, &lo, &hi);
    uint64_t last, now = uv_now(be->loop);

    *code = MB_EX_ILLEGAL_FUNCTION;
    if (r->session != NULL && r->session->read_only) {
        return "the client is in read_only_clients";
    }
    if (be->cfg.read_only) {
        return "the backend is read_only";
    }
    *code = MB_EX_ILLEGAL_ADDRESS;
    if (ranged && write_denied(&be->cfg, lo, hi)) {
        return "deny_write covers it";
    }
    *code = MB_EX_BUSY;
    last = ranged ? cache_newest(&be->writes, r->be_unit,
                                 writes_table(req_fc(r)), (uint16_t)lo,
                                 hi - lo + 1) : 0;
    if (be->cfg.min_write_interval_ms > 0 && last > 0 &&
        now < last + be->cfg.min_write_interval_ms) {
        return "written less than min_write_interval_ms ago";
    }
    return NULL;
}

/*
 * The write rules for write <r> (read_only, read_only_clients, deny_write,
 * min_write_interval_ms, write_if_changed). Returns true if <r> has been
 * answered: refused, or acknowledged without the device because the cache
 * shows the value is already there. Otherwise a write_if_changed write the
 * cache cannot judge is marked to read first (see precheck_done).
 */
bool
policy_write(struct backend *be, struct req *r)
{
    static const uint8_t zeros[2 * 2048];
    uint8_t cur[2 * 125], code;
    const uint8_t *vals;
    const char *why = write_refusal(be, r, &code);
    uint16_t addr, n;
    unsigned lo, hi;
    uint64_t now = uv_now(be->loop), ttl = be->cfg.cache_ttl_ms;

    if (why != NULL) {
        be->st.writes_refused++;
        rlog(LOG_INFO, r, "write refused (0x%02X): %s", code, why);
        req_fail(r, code);
        return true;
    }
    vals = write_values(r, &addr, &n);
    if (be->cfg.write_if_changed && vals != NULL && r->be_unit != 0) {
        if (ttl == 0 || !cache_get(&be->cache, r->be_unit, MB_FC_READ_HOLDING,
                                   addr, n, now > ttl ? now - ttl + 1 : 1,
                                   cur)) {
            r->precheck = true;
        } else if (memcmp(cur, vals, 2u * n) == 0) {
            be->st.writes_skipped++;
            rlog(LOG_DEBUG, r, "the value is there already: not written");
            r->rsp_len = pdu_write_echo(req_rsp(r), req_pdu(r), r->pdu_len);
            req_complete(r);
            return true;
        }
    }
    if (be->cfg.min_write_interval_ms > 0 &&
        pdu_range(req_pdu(r), r->pdu_len, &lo, &hi)) {
        cache_store(&be->writes, r->be_unit, writes_table(req_fc(r)),
                    (uint16_t)lo, (uint16_t)(hi - lo + 1), zeros, now);
    }
    return false;
}

/* write_if_changed: the write goes out as a read of its registers first,
 * its own PDU kept aside. */
void
policy_precheck_swap(struct req *r)
{
    uint16_t addr = 0, n = 0;   /* set: only FC 6 and 16 get here */
    uint8_t *q = req_pdu(r);

    write_values(r, &addr, &n);
    r->saved = xmalloc(r->pdu_len);
    r->saved_len = r->pdu_len;
    memcpy(r->saved, q, r->pdu_len);
    q[0] = MB_FC_READ_HOLDING;
    q[1] = (uint8_t)(addr >> 8);
    q[2] = (uint8_t)addr;
    q[3] = (uint8_t)(n >> 8);
    q[4] = (uint8_t)n;
    r->pdu_len = 5;
}

/* Put the write PDU back (before answering, whatever the answer), and
 * forget what the pre-read's transmissions left in the request: the
 * progress of a read that took several device transactions (a GivEnergy
 * block refused, then the registers alone) would make a write start past
 * its first register, and an answer from the cache is not the write's. */
void
policy_precheck_restore(struct req *r)
{
    if (r->saved != NULL) {
        memcpy(req_pdu(r), r->saved, r->saved_len);
        r->pdu_len = r->saved_len;
        free(r->saved);
        r->saved = NULL;
        r->step = 0;
        r->local = false;
        r->attempts = 0;
    }
    r->precheck = false;
}

/*
 * The pre-read of write_if_changed write <r> was answered (req_rsp()).
 * Same values: the write is acknowledged, unsent, and completes as usual;
 * returns false. Otherwise (or an exception) the write itself goes next;
 * returns true, <r> being taken care of.
 */
bool
policy_precheck_done(struct backend *be, struct req *r)
{
    const uint8_t *rsp = req_rsp(r);
    size_t n = pdu_get16(req_pdu(r) + 3);
    bool same = rsp[0] == MB_FC_READ_HOLDING && r->rsp_len == 2 + 2 * n &&
                memcmp(rsp + 2, r->saved + (r->saved[0] ==
                       MB_FC_WRITE_REGISTER ? 3 : 6), 2 * n) == 0;

    policy_precheck_restore(r);
    if (!same) {
        backend_continue(be, r);
        return true;
    }
    be->st.writes_skipped++;
    rlog(LOG_DEBUG, r, "the device holds the value already: not written");
    r->rsp_len = pdu_write_echo(req_rsp(r), req_pdu(r), r->pdu_len);
    return false;
}


/* SPDX-License-Identifier: MIT */
/*
 * policy.c -- what a backend answers without its device, and what it
 * refuses: reads served from the register cache (cache_ttl_ms), older
 * values when the device fails (serve_stale_ms), what completed requests
 * teach the cache, and the write rules (read_only, read_only_clients,
 * deny_write, min_write_interval_ms, write_if_changed with its pre-read,
 * allow_functions for the function codes the rules cannot judge).
 *
 * backend.c calls these at submission, dispatch and completion, and acts
 * on what they return (enum policy_verdict): they complete nothing and
 * change no list and no request state, so the lifecycle stays backend.c's.
 * What they do change is the request's PDU and answer (req_rsp(), a
 * pre-read in place of a write), the backend's cache, write times and
 * counters. No clock of their own: the caller passes the time, so the
 * verdicts are a pure unit (tests/unit/test_policy.c).
 */
#include <string.h>

#include "backend.h"
#include "log.h"
#include "pdu.h"
#include "policy.h"

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

/* When a read could not be had from the device at <now>: older values
 * will do (serve_stale_ms) rather than an exception. */
bool
policy_stale_answer(struct backend *be, struct req *r, uint64_t now)
{
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

/* The holding registers write <r> changes no longer hold what we knew: on
 * its unit, or on every unit for a broadcast. */
void
policy_forget(struct backend *be, const struct req *r)
{
    unsigned lo, hi;

    if (!pdu_write_range(req_pdu(r), r->pdu_len, &lo, &hi)) {
        return;
    }
    if (r->be_unit == 0) {
        cache_invalidate_all(&be->cache, MB_FC_READ_HOLDING, (uint16_t)lo,
                             hi - lo + 1);
    } else {
        cache_invalidate(&be->cache, r->be_unit, MB_FC_READ_HOLDING,
                         (uint16_t)lo, (uint16_t)(hi - lo + 1));
    }
}

/* A request completed at <now> teaches the cache: a read's values, a
 * write's invalidation (again: a read may have refilled them meanwhile). */
void
policy_learn(struct backend *be, const struct req *r, uint64_t now)
{
    const uint8_t *q = req_pdu(r);

    if (policy_cacheable(r) && req_rsp(r)[0] == req_fc(r) && !be->ops->own_cache &&
        (be->cfg.cache_ttl_ms > 0 || be->cfg.serve_stale_ms > 0)) {
        be->st.cache_evictions +=
            cache_store(&be->cache, r->be_unit, req_fc(r), pdu_get16(q + 1),
                        pdu_get16(q + 3), req_rsp(r) + 2, now);
    } else if (!pdu_is_read(req_fc(r))) {
        policy_forget(be, r);
    }
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

/* When <unit>'s registers <lo>..<hi> of <table> were last written, 0 if
 * never: a broadcast (unit 0) wrote every unit's, and writes every unit's
 * again. */
static uint64_t
last_write(const struct cache *writes, uint8_t unit, uint8_t table,
           unsigned lo, unsigned hi)
{
    uint32_t n = hi - lo + 1;

    if (unit == 0) {
        return cache_newest_all(writes, table, (uint16_t)lo, n);
    }
    return MB_MAX(cache_newest(writes, unit, table, (uint16_t)lo, n),
                  cache_newest(writes, 0, table, (uint16_t)lo, n));
}

/*
 * Which write rule of backend <c> refuses checked request <pdu> (<len>
 * bytes) to backend unit <unit> at <now_ms>, from a client in
 * read_only_clients if <ro_client>; <writes> holds when each register was
 * last written (min_write_interval_ms). Returns the reason, with the
 * exception code in <code>, or NULL. Reads pass. A function code that
 * names no coils or registers (FC 8, 21, user-defined codes) cannot be
 * judged: on a backend protected by any rule it is refused with 0x01,
 * unless allow_functions names it; read_only and read_only_clients refuse
 * it whatever allow_functions says. Pure: the caller passes the clock.
 */
const char *
policy_refusal(const struct cfg_backend *c, bool ro_client,
               const struct cache *writes, uint8_t unit, const uint8_t *pdu,
               size_t len, uint64_t now_ms, uint8_t *code)
{
    bool guarded = ro_client || c->read_only || c->n_deny_write > 0 ||
                   c->write_if_changed || c->min_write_interval_ms > 0;
    unsigned lo, hi;
    uint64_t last;

    *code = MB_EX_ILLEGAL_FUNCTION;
    if (pdu_reads_only(pdu, len)) {
        return NULL;
    }
    if (!pdu_is_ranged_write(pdu[0]) && !ro_client && !c->read_only) {
        return guarded && !cfg_allows_function(c, pdu[0])
                   ? "the write rules cannot judge this function and "
                     "allow_functions does not name it"
                   : NULL;
    }
    if (ro_client) {
        return "the client is in read_only_clients";
    }
    if (c->read_only) {
        return "the backend is read_only";
    }
    if (!pdu_write_range(pdu, len, &lo, &hi)) {
        return NULL;            /* a checked write always has one */
    }
    *code = MB_EX_ILLEGAL_ADDRESS;
    if (write_denied(c, lo, hi)) {
        return "deny_write covers it";
    }
    *code = MB_EX_BUSY;
    last = c->min_write_interval_ms > 0
               ? last_write(writes, unit, writes_table(pdu[0]), lo, hi) : 0;
    if (last > 0 && now_ms < last + c->min_write_interval_ms) {
        return "written less than min_write_interval_ms ago";
    }
    return NULL;
}

/*
 * Note in <writes> that checked write <pdu> (<len> bytes) to backend unit
 * <unit> goes out at <now_ms>, for min_write_interval_ms: a broadcast
 * (unit 0) counts for every unit (see last_write).
 */
void
policy_note_write(struct cache *writes, uint8_t unit, const uint8_t *pdu,
                  size_t len, uint64_t now_ms)
{
    static const uint8_t zeros[2 * 2048];
    unsigned lo, hi;

    if (pdu_write_range(pdu, len, &lo, &hi)) {
        cache_store(writes, unit, writes_table(pdu[0]), (uint16_t)lo,
                    (uint16_t)(hi - lo + 1), zeros, now_ms);
    }
}

/*
 * The read that tells whether checked write <q> would change anything: FC
 * 1 of the coils of FC 5 and 15, FC 3 of the registers of FC 6, 16 and 22
 * and of the write part of FC 23, as <fc>, <addr> and <n>. Returns false
 * for anything else.
 */
bool
policy_precheck_target(const uint8_t *q, uint8_t *fc, uint16_t *addr,
                       uint16_t *n)
{
    *fc = MB_FC_READ_HOLDING;
    *addr = pdu_get16(q + 1);
    switch (q[0]) {
    case MB_FC_WRITE_COIL:
        *fc = MB_FC_READ_COILS;
        *n = 1;
        return true;
    case MB_FC_WRITE_COILS:
        *fc = MB_FC_READ_COILS;
        *n = pdu_get16(q + 3);
        return true;
    case MB_FC_WRITE_REGISTER:
    case MB_FC_MASK_WRITE:
        *n = 1;
        return true;
    case MB_FC_WRITE_REGISTERS:
        *n = pdu_get16(q + 3);
        return true;
    case MB_FC_READ_WRITE:
        *addr = pdu_get16(q + 5);
        *n = pdu_get16(q + 7);
        return true;
    default:
        return false;
    }
}

/*
 * True if checked write <q> would leave the values <cur> as they are.
 * <cur> holds what its policy_precheck_target() read answers after the
 * byte count: packed coils (bits past the quantity do not count) or
 * big-endian registers. For FC 22 the result of the masks on <cur>.
 */
bool
policy_unchanged(const uint8_t *q, const uint8_t *cur)
{
    unsigned n, v, and_mask, or_mask;

    switch (q[0]) {
    case MB_FC_WRITE_COIL:
        return (cur[0] & 1u) == (q[3] == 0xFF);
    case MB_FC_WRITE_COILS:
        n = pdu_get16(q + 3);
        for (unsigned i = 0; i < n; i++) {
            if (((cur[i / 8] ^ q[6 + i / 8]) >> (i % 8)) & 1u) {
                return false;
            }
        }
        return true;
    case MB_FC_WRITE_REGISTER:
        return memcmp(cur, q + 3, 2) == 0;
    case MB_FC_WRITE_REGISTERS:
        return memcmp(cur, q + 6, 2u * pdu_get16(q + 3)) == 0;
    case MB_FC_MASK_WRITE:
        v = pdu_get16(cur);
        and_mask = pdu_get16(q + 3);
        or_mask = pdu_get16(q + 5);
        return ((v & and_mask) | (or_mask & ~and_mask & 0xFFFFu)) == v;
    case MB_FC_READ_WRITE:
        return memcmp(cur, q + 10, 2u * pdu_get16(q + 7)) == 0;
    default:
        return false;
    }
}

/*
 * write_if_changed: judge write <r> from the cache at <now> (holding
 * registers younger than cache_ttl_ms; coils are never cached). Returns
 * true if the value is there already: <r> has its write echo as answer.
 * Otherwise <r> may be marked to read first (see policy_precheck_done).
 * FC 23 always reads first: its answer is a read.
 */
static bool
write_unchanged(struct backend *be, struct req *r, uint64_t now)
{
    uint8_t cur[2 * 125], fc;
    uint16_t addr, n;
    uint64_t ttl = be->cfg.cache_ttl_ms;

    if (!policy_precheck_target(req_pdu(r), &fc, &addr, &n)) {
        return false;
    }
    if (fc != MB_FC_READ_HOLDING || req_fc(r) == MB_FC_READ_WRITE ||
        ttl == 0 ||
        !cache_get(&be->cache, r->be_unit, fc, addr, n,
                   now > ttl ? now - ttl + 1 : 1, cur)) {
        r->precheck = true;
        return false;
    }
    if (!policy_unchanged(req_pdu(r), cur)) {
        return false;
    }
    be->st.writes_skipped++;
    rlog(LOG_DEBUG, r, "the value is there already: not written");
    r->rsp_len = pdu_write_echo(req_rsp(r), req_pdu(r), r->pdu_len);
    return true;
}

/*
 * The write rules at <now> for request <r>, which is not a plain read
 * (read_only, read_only_clients as r->read_only, deny_write,
 * min_write_interval_ms, write_if_changed, allow_functions). Returns
 * POLICY_REFUSE with the exception in <code>; POLICY_ANSWER when the cache
 * shows the value is there already (the write echo is in req_rsp());
 * otherwise POLICY_DEVICE, a write_if_changed write the cache cannot judge
 * being marked to read first (see policy_precheck_done), and the write
 * noted for min_write_interval_ms.
 */
enum policy_verdict
policy_write(struct backend *be, struct req *r, uint64_t now, uint8_t *code)
{
    const char *why = policy_refusal(&be->cfg, r->read_only, &be->writes,
                                     r->be_unit, req_pdu(r), r->pdu_len, now,
                                     code);

    if (why != NULL) {
        be->st.writes_refused++;
        rlog(LOG_INFO, r, "write refused (0x%02X): %s (FC %u)", *code, why,
             req_fc(r));
        return POLICY_REFUSE;
    }
    if (!pdu_is_ranged_write(req_fc(r))) {
        return POLICY_DEVICE;   /* a read, or a function let through */
    }
    /* A broadcast is always sent: no device answers its pre-read. */
    if (be->cfg.write_if_changed && r->be_unit != 0 &&
        write_unchanged(be, r, now)) {
        return POLICY_ANSWER;
    }
    if (be->cfg.min_write_interval_ms > 0) {
        policy_note_write(&be->writes, r->be_unit, req_pdu(r), r->pdu_len,
                          now);
    }
    return POLICY_DEVICE;
}

/* Keep write <r>'s own PDU aside while something else goes in its place. */
static void
precheck_save(struct req *r)
{
    if (r->saved == NULL) {
        r->saved = xmalloc(r->pdu_len);
        r->saved_len = r->pdu_len;
        memcpy(r->saved, req_pdu(r), r->pdu_len);
    }
}

/* Make <r>'s PDU a read of <n> items of <fc> from <addr>. */
static void
precheck_set_read(struct req *r, uint8_t fc, uint16_t addr, uint16_t n)
{
    uint8_t *q = req_pdu(r);

    q[0] = fc;
    q[1] = (uint8_t)(addr >> 8);
    q[2] = (uint8_t)addr;
    q[3] = (uint8_t)(n >> 8);
    q[4] = (uint8_t)n;
    r->pdu_len = 5;
}

/* write_if_changed: the write goes out as a read of what it would change
 * first, its own PDU kept aside. */
void
policy_precheck_swap(struct req *r)
{
    uint8_t fc = 0;
    uint16_t addr = 0, n = 0;   /* set: only ranged writes get here */

    policy_precheck_target(req_pdu(r), &fc, &addr, &n);
    precheck_save(r);
    precheck_set_read(r, fc, addr, n);
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
 * A read standing in for write <r> was answered (req_rsp()): its pre-read,
 * or, for an FC 23 whose write part changes nothing, its read part.
 * Returns POLICY_ANSWER when that answer is <r>'s: the device holds the
 * values already (the write echo is put in req_rsp()), or it was FC 23's
 * read part (given FC 23's shape). Returns POLICY_DEVICE when <r> needs
 * another transaction: the write itself (its PDU put back), or, for an FC
 * 23 with nothing to write, its read part.
 */
enum policy_verdict
policy_precheck_done(struct backend *be, struct req *r)
{
    uint8_t *rsp = req_rsp(r);
    const uint8_t *q = req_pdu(r);
    unsigned want = q[0] == MB_FC_READ_COILS ? (pdu_get16(q + 3) + 7u) / 8u
                                             : 2u * pdu_get16(q + 3);
    bool same;

    if (!r->precheck) {
        /* FC 23's read part: its answer has the shape of FC 23's. */
        rsp[0] = (uint8_t)(MB_FC_READ_WRITE | (rsp[0] & MB_EX_FLAG));
        policy_precheck_restore(r);
        return POLICY_ANSWER;
    }
    same = rsp[0] == q[0] && r->rsp_len == 2 + want && rsp[1] == want &&
           policy_unchanged(r->saved, rsp + 2);
    if (same) {
        be->st.writes_skipped++;
    }
    if (same && r->saved[0] == MB_FC_READ_WRITE) {
        rlog(LOG_DEBUG, r, "the device holds the value already: only the "
             "read part goes");
        precheck_set_read(r, MB_FC_READ_HOLDING, pdu_get16(r->saved + 1),
                          pdu_get16(r->saved + 3));
        r->precheck = false;
        return POLICY_DEVICE;
    }
    policy_precheck_restore(r);
    if (!same) {
        return POLICY_DEVICE;
    }
    rlog(LOG_DEBUG, r, "the device holds the value already: not written");
    r->rsp_len = pdu_write_echo(req_rsp(r), req_pdu(r), r->pdu_len);
    return POLICY_ANSWER;
}

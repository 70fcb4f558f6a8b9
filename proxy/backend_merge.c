/* SPDX-License-Identifier: MIT */
/*
 * backend_merge.c -- merged reads (merge_reads): the part of the request
 * lifecycle that lets the read about to go out carry the queued reads
 * near it, answers each its own registers, and sends them again one by
 * one when the device refuses the merged read. Which reads join, and the
 * holes, are merge.c's (pure); this file moves the requests, through
 * req_move() like the rest of backend.c (backend_int.h).
 */
#include <string.h>

#include "backend.h"
#include "backend_int.h"
#include "log.h"
#include "pdu.h"

#define MERGE_CANDIDATES 64
#define MERGE_RANGES     256

static void
put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* May <r>, about to be sent, carry other queued reads? */
bool
backend_merge_wanted(const struct backend *be, const struct req *r)
{
    return be->cfg.merge_reads && !be->ops->own_cache &&
           pdu_is_read(req_fc(r)) && r->pdu_len == 5 && !r->merged &&
           r->step == 0 && !r->precheck && r->be_unit != 0;
}

/* The reads queued on <be> that <r> may carry, into <out>: the same unit
 * and function, none behind a write of its own client, and none submitted
 * after a write that came after <r> (a read never goes before a write
 * queued before it: the rule of coalescing, try_coalesce()). */
static unsigned
merge_candidates(struct backend *be, const struct req *r, struct req **out)
{
    uint64_t now = uv_now(be->loop);
    unsigned n = 0;

    for (int ring = 0; ring <= SCHED_LOW; ring++) {
        struct flow *f;

        TAILQ_FOREACH(f, &be->sched.ring[ring], ring_link) {
            struct req *c;

            TAILQ_FOREACH(c, &f->queue, q_link) {
                if (!backend_is_read(be, c)) {
                    break;      /* a write: what is behind it waits */
                }
                if (c == r || c->be_unit != r->be_unit ||
                    c->epoch > r->epoch ||
                    req_fc(c) != req_fc(r) || c->pdu_len != 5 ||
                    c->precheck || c->step != 0 || c->merged ||
                    c->deadline_ms <= now) {
                    continue;
                }
                out[n++] = c;
                if (n == MERGE_CANDIDATES) {
                    return n;
                }
            }
        }
    }
    return n;
}

/*
 * QUEUED read <r> is about to be sent: let it carry the queued reads of
 * its unit and table that lie close to it (merge.c decides), which follow
 * it from now on as attached requests, each to get its own registers.
 * r's PDU becomes the covering read; its own range is kept in m_lo, m_n.
 */
void
backend_merge_queued(struct backend *be, struct req *r)
{
    struct req *cand[MERGE_CANDIDATES];
    bool taken[MERGE_CANDIDATES] = {false};
    unsigned n = merge_candidates(be, r, cand), k = 0;
    unsigned scale = req_fc(r) <= MB_FC_READ_DISCRETE ? 16 : 1;
    uint8_t *q = req_pdu(r);
    struct merge_plan p;
    bool more = true;

    if (n == 0) {
        return;
    }
    merge_start(&p, pdu_get16(q + 1), pdu_get16(q + 3),
                MB_MIN(be->cfg.merge_gap, be->cfg.max_read_registers) * scale,
                be->cfg.max_read_registers * scale);
    while (more) {
        more = false;
        for (unsigned i = 0; i < n; i++) {
            const uint8_t *c = req_pdu(cand[i]);

            if (!taken[i] && merge_try(&p, &be->holes, r->be_unit, q[0],
                                       pdu_get16(c + 1), pdu_get16(c + 3))) {
                taken[i] = more = true;
                k++;
            }
        }
    }
    if (k == 0) {
        return;
    }
    if (r->hashed) {
        sched_unindex(&be->sched, r);   /* its key changes */
    }
    r->merged = true;
    r->m_lo = pdu_get16(q + 1);
    r->m_n = pdu_get16(q + 3);
    put16(q + 1, (uint16_t)p.lo);
    put16(q + 3, (uint16_t)(p.hi - p.lo));
    for (unsigned i = 0; i < n; i++) {
        struct req *c = cand[i], *it;

        if (!taken[i]) {
            continue;
        }
        if (c->hashed) {
            sched_unindex(&be->sched, c);
        }
        TAILQ_FOREACH(it, &c->followers, q_link) {
            it->lead = r;
        }
        TAILQ_CONCAT(&r->followers, &c->followers, q_link);
        c->lead = r;
        req_move(be, c, REQ_ATTACHED, 0);
    }
    be->st.merged_reads++;
    be->st.merged_requests += k;
    rlog(LOG_DEBUG, r, "carries %u more reads: %u+%u", k, (unsigned)p.lo,
         (unsigned)(p.hi - p.lo));
}

/* Follower <f> of DONE <lead> gets its answer: its own registers, if the
 * lead's read was merged, else the lead's answer. */
void
backend_merge_answer(const struct req *lead, struct req *f)
{
    const uint8_t *w = req_rsp(lead), *q = req_pdu(f);

    if (!lead->merged || pdu_is_exception(w, lead->rsp_len)) {
        req_set_response(f, w, lead->rsp_len);
        return;
    }
    f->rsp_len = merge_slice(w, pdu_get16(req_pdu(lead) + 1), req_fc(f),
                             pdu_get16(q + 1), pdu_get16(q + 3), req_rsp(f));
}

/* DONE <lead> had carried others: back to its own range and answer. */
void
backend_merge_unwind(struct req *lead)
{
    uint8_t *q = req_pdu(lead);
    uint8_t wide[MB_PDU_MAX];

    if (!lead->merged) {
        return;
    }
    if (!pdu_is_exception(req_rsp(lead), lead->rsp_len)) {
        memcpy(wide, req_rsp(lead), lead->rsp_len);
        lead->rsp_len = merge_slice(wide, pdu_get16(q + 1), req_fc(lead),
                                    lead->m_lo, lead->m_n, req_rsp(lead));
    }
    put16(q + 1, lead->m_lo);
    put16(q + 3, lead->m_n);
    lead->merged = false;
}

/*
 * The merged read of INFLIGHT <r> got an exception: no client may see one
 * that a neighbour's range caused. The addresses it carried that nobody
 * asked for become holes (no merge grows over them again), and every read
 * it carried goes back to the front of its client's queue, to be sent as
 * asked. Takes ownership.
 */
void
backend_merge_undo(struct backend *be, struct req *r)
{
    uint16_t ranges[MERGE_RANGES][2];
    uint8_t *q = req_pdu(r);
    uint32_t lo = pdu_get16(q + 1), hi = lo + pdu_get16(q + 3);
    unsigned n = 0, learned;
    struct req *f, *next;

    ranges[n][0] = r->m_lo;
    ranges[n++][1] = r->m_n;
    TAILQ_FOREACH(f, &r->followers, q_link) {
        if (n < MERGE_RANGES) {
            ranges[n][0] = pdu_get16(req_pdu(f) + 1);
            ranges[n++][1] = pdu_get16(req_pdu(f) + 3);
        }
    }
    learned = merge_learn(&be->holes, r->be_unit, q[0], lo, hi,
                          (const uint16_t (*)[2])ranges, n);
    be->st.holes_learned += learned;
    be->st.merge_undone++;
    rlog(LOG_INFO, r, "merged read %u+%u refused (exception 0x%02X): %u "
         "holes learned, its %u reads go one by one", (unsigned)lo,
         (unsigned)(hi - lo), req_rsp(r)[1], learned, n);
    put16(q + 1, r->m_lo);
    put16(q + 3, r->m_n);
    r->merged = false;
    for (f = TAILQ_FIRST(&r->followers); f != NULL; f = next) {
        next = TAILQ_NEXT(f, q_link);
        if (f->pdu_len != r->pdu_len ||
            memcmp(req_pdu(f), q, r->pdu_len) != 0) {
            req_move(be, f, REQ_QUEUED, MOVE_FRONT);
        }
    }
    r->attempts = 0;
    req_move(be, r, REQ_QUEUED, MOVE_FRONT);
}

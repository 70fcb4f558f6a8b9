/* SPDX-License-Identifier: MIT */
/*
 * req.c -- the request object and its lifecycle, the spine of modbus-mux.
 *
 *  client -> session_read_cb -> fe->feed() -> req_new()      [NEW      owner: session]
 *              unreadable (bad MBAP) -> session_close(s, "bad MBAP length 300")
 *            router_lookup(); routed: joins the session's answer order
 *         -> backend_submit()                        (backend.c from here on)
 *              bad PDU -> 0x01..0x03; no route -> 0x0A; backend down -> 0x0A
 *              read to unit 0 -> 0x01; policy_write() refuses -> its code
 *              answered without the device (cache, write_if_changed) -> DONE
 *              same read queued or on the wire -> attach     [ATTACHED owner: core]
 *              queue full -> 0x06
 *              otherwise -> its client's flow of the sched   [QUEUED   owner: core]
 *              deadline passes while queued/attached -> 0x0B
 *         -> backend_kick(): inflight < max_inflight and spacing over
 *              merge_reads: nearby queued reads of its unit ride on it
 *                               [QUEUED -> ATTACHED], each answered its part
 *         -> ops->transmit()                                 [INFLIGHT owner: backend]
 *              attempt fails -> read with retries left: back to the front of
 *                               its flow [QUEUED]; otherwise 0x0B
 *              another device transaction (backend_continue) -> front [QUEUED]
 *         -> backend_done() / backend_fail(): the lead and every follower
 *         -> req_complete()                                  [DONE     owner: session]
 *         -> r->owner ? owner->ops->done() = session_reply() -> write -> req_free()
 *                         (held first while an earlier request of the
 *                          session to the same backend has no answer)
 *                     : req_free()        (client gone: the reply is swallowed)
 *
 * Each state is one list or none: NEW and DONE none; QUEUED a flow of its
 * backend's sched (sched.c); ATTACHED its lead's followers; INFLIGHT
 * backend->inflight. QUEUED and ATTACHED requests are also on
 * backend->deadlines, in deadline order; a read lead (QUEUED or INFLIGHT)
 * is also in the sched's coalescing index. req_move() in backend.c is the
 * one function that changes req->state: it takes the request off the list
 * of its old state and puts it on the list of the new one (pgbouncer's
 * change_client_state()), keeps the deadline list and the index in step,
 * and aborts with file:line on a transition the lifecycle does not have
 * (req_transition_ok()).
 *
 * Every request that req_new() returns ends in req_free() exactly once, and
 * passes through DONE exactly once: answered (req_complete() gives it to
 * its owner), swallowed because its client left, or abandoned by
 * backend_abandon() (taken off the core's lists and freed).
 *
 * Its owner, the session, keeps its own lists (session->reqs, the answer
 * order): the core knows a request's owner only as the struct req_owner it
 * points to, to complete it through owner->ops->done() and to key the
 * owner's flow in the sched. When a client closes, session_close() frees
 * its NEW requests and its held DONE ones, asks the backend to abandon its
 * QUEUED and ATTACHED ones (a queued lead hands its followers to the first
 * of them), and orphans INFLIGHT and DONE ones being written (req->owner =
 * NULL): the backend or the write callback frees them.
 */
#include <string.h>

#include "backend.h"
#include "log.h"
#include "pdu.h"
#include "req.h"
#include "stats.h"

static uint64_t req_next_id = 1;

/*
 * Allocate a request with PDU <pdu> (<pdu_len> bytes, 1..253) for unit
 * <unit> with the client's id <tid> (whatever front end cut it from the
 * client's bytes), received at <now_ms> for <owner> (NULL: none, as in
 * tests), which keeps it on lists of its own. It is NEW. Returns it;
 * never NULL.
 */
struct req *
req_new(struct req_owner *owner, uint16_t tid, uint8_t unit,
        const uint8_t *pdu, size_t pdu_len, uint64_t now_ms)
{
    struct req *r = xmalloc(sizeof(*r));

    /* Only the header fields are cleared: the buffers are written before
     * they are read, and clearing 800 bytes per request shows in a profile. */
    memset(r, 0, offsetof(struct req, wreq));
    TAILQ_INIT(&r->followers);
    r->owner = owner;
    r->id = req_next_id++;
    r->state = REQ_NEW;
    r->tid = tid;
    r->unit = unit;
    r->t_recv_ms = now_ms;
    r->pdu_len = pdu_len;
    memcpy(req_pdu(r), pdu, pdu_len);
    return r;
}

/*
 * True if the lifecycle has a transition from <from> to <to>: what
 * req_move() asserts.
 */
bool
req_transition_ok(enum req_state from, enum req_state to)
{
    switch (to) {
    case REQ_QUEUED:
        return from == REQ_NEW || from == REQ_INFLIGHT || from == REQ_ATTACHED;
    case REQ_ATTACHED:
        /* a read joins one on the wire, or a merged read takes it
         * from the queue (merge_reads) */
        return from == REQ_NEW || from == REQ_QUEUED;
    case REQ_INFLIGHT:
        return from == REQ_QUEUED;
    case REQ_DONE:
        return from != REQ_DONE;
    default:
        return false;
    }
}

/*
 * Store response PDU <rsp> (<len> bytes, 1..253) in <r>.
 */
void
req_set_response(struct req *r, const uint8_t *rsp, size_t len)
{
    ASSERT(len >= 1 && len <= MB_PDU_MAX);
    memmove(req_rsp(r), rsp, len);
    r->rsp_len = len;
}

/*
 * DONE request <r> has its answer in req_rsp(): hand it to its owner,
 * which writes it and frees it. Takes ownership of <r>; if the client has
 * gone the answer is counted as dropped and <r> is freed.
 */
void
req_complete(struct req *r)
{
    ASSERT(r->state == REQ_DONE);
    if (r->owner != NULL) {
        r->owner->ops->done(r->owner, r);
        return;
    }
    stats_srv.replies_dropped++;
    rlog(LOG_DEBUG, r, "client gone, reply dropped");
    req_free(r);
}

/*
 * Complete DONE request <r> with the proxy's own exception <code>. Takes
 * ownership.
 */
void
req_fail(struct req *r, uint8_t code)
{
    r->rsp_len = pdu_exception(req_rsp(r), req_fc(r), code);
    r->failed = true;
    rlog(LOG_DEBUG, r, "exception 0x%02X", code);
    req_complete(r);
}

/*
 * Free <r>, which its owner has taken off its own lists (or which has
 * none). NULL is a no-op.
 */
void
req_free(struct req *r)
{
    if (r == NULL) {
        return;
    }
    ASSERT(r->owner == NULL && r->order == NULL &&
           TAILQ_EMPTY(&r->followers));
    free(r->saved);
    free(r);
}

/*
 * The log id of <r>'s client, 0 once it has gone.
 */
unsigned long long
req_owner_id(const struct req *r)
{
    return r->owner ? (unsigned long long)r->owner->ops->id(r->owner) : 0;
}

/*
 * The name of <r>'s backend, "-" before routing.
 */
const char *
req_backend_name(const struct req *r)
{
    return r->backend ? backend_name(r->backend) : "-";
}

/* SPDX-License-Identifier: MIT */
/*
 * req.c -- the request object and its lifecycle, the spine of modbus-mux.
 *
 *  client -> session_read_cb -> fe->feed() -> req_new()          [NEW      owner: session]
 *              unreadable (bad MBAP) -> session_close(s, "bad MBAP length 300")
 *              bad PDU  -> req_fail(0x01..0x03)
 *            router_lookup(); no route -> req_fail(0x0A)
 *         -> backend_submit()
 *              backend down -> req_fail(0x0A); read to unit 0 -> req_fail(0x01)
 *              same read queued or on the wire -> attach          [ATTACHED owner: core]
 *              queue full -> req_fail(0x06)
 *              otherwise -> a flow of the backend's round-robin   [QUEUED   owner: core]
 *              deadline passes while queued/attached -> req_fail(0x0B)
 *         -> backend_kick(): inflight < max_inflight and spacing over
 *         -> ops->transmit()                                      [INFLIGHT owner: backend]
 *              attempt fails -> read with retries left: back to the front of
 *                               its flow [QUEUED]; otherwise 0x0B
 *         -> backend_done() / backend_fail(): the lead and every follower
 *         -> req_complete()                                       [DONE     owner: session]
 *         -> req->session ? session_reply() -> write_cb -> req_free()
 *                             (held first while an earlier request of the
 *                              session to the same backend has no answer)
 *                         : req_free()        (client gone: the reply is swallowed)
 *
 * Every request that req_new() returns ends in req_free() exactly once, and
 * passes through DONE exactly once unless its client left first: the only
 * ways out of QUEUED, ATTACHED and INFLIGHT are completion (DONE) and, for
 * a client that has gone, being abandoned by backend_abandon().
 * req_set_state() enforces this; a wrong transition aborts with file:line.
 *
 * When a client closes, session_close() frees its NEW requests and its
 * held DONE ones, asks the backend to abandon its QUEUED and ATTACHED ones
 * (a queued lead hands its followers to the first of them), and orphans
 * INFLIGHT and DONE ones being written (req->session = NULL): the backend
 * or the write callback frees them.
 */
#include <string.h>

#include "backend.h"
#include "log.h"
#include "pdu.h"
#include "req.h"
#include "session.h"
#include "stats.h"

static uint64_t req_next_id = 1;

/*
 * Allocate a request with PDU <pdu> (<pdu_len> bytes, 1..253) for unit
 * <unit>, received by session <s> at <now_ms> with the client's id <tid>
 * (whatever front end cut it from the client's bytes). It is NEW and on
 * <s>'s list. Returns it; never NULL.
 */
struct req *
req_new(struct session *s, uint16_t tid, uint8_t unit, const uint8_t *pdu,
        size_t pdu_len, uint64_t now_ms)
{
    struct req *r = xmalloc(sizeof(*r));

    /* Only the header fields are cleared: the buffers are written before
     * they are read, and clearing 800 bytes per request shows in a profile. */
    memset(r, 0, offsetof(struct req, wreq));
    TAILQ_INIT(&r->followers);
    r->session = s;
    r->id = req_next_id++;
    r->state = REQ_NEW;
    r->tid = tid;
    r->unit = unit;
    r->t_recv_ms = now_ms;
    r->pdu_len = pdu_len;
    memcpy(req_pdu(r), pdu, pdu_len);
    if (s != NULL) {
        session_track(s, r);
    }
    return r;
}

/* The legal transitions; anything else is a bug that must not go on. */
static bool
req_transition_ok(enum req_state from, enum req_state to)
{
    switch (to) {
    case REQ_QUEUED:
        return from == REQ_NEW || from == REQ_INFLIGHT || from == REQ_ATTACHED;
    case REQ_ATTACHED:
        return from == REQ_NEW;
    case REQ_INFLIGHT:
        return from == REQ_QUEUED;
    case REQ_DONE:
        return from != REQ_DONE;
    default:
        return false;
    }
}

/*
 * Move <r> to <state>. The only function that changes req->state; it
 * aborts on a transition the lifecycle does not have.
 */
void
req_set_state(struct req *r, enum req_state state)
{
    ASSERT(req_transition_ok(r->state, state));
    r->state = state;
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
 * <r> has its answer in req_rsp(): make it DONE and hand it to its
 * session, which writes it and frees it. Takes ownership of <r>; if the
 * client has gone the answer is counted as dropped and <r> is freed.
 */
void
req_complete(struct req *r)
{
    req_set_state(r, REQ_DONE);
    if (r->session != NULL) {
        session_reply(r->session, r);
        return;
    }
    stats_srv.replies_dropped++;
    rlog(LOG_DEBUG, r, "client gone, reply dropped");
    req_free(r);
}

/*
 * Complete <r> with the proxy's own exception <code>. Takes ownership.
 */
void
req_fail(struct req *r, uint8_t code)
{
    r->rsp_len = pdu_exception(req_rsp(r), req_fc(r), code);
    rlog(LOG_DEBUG, r, "exception 0x%02X", code);
    req_complete(r);
}

/*
 * Free <r>, taking it off its session's list. NULL is a no-op.
 */
void
req_free(struct req *r)
{
    if (r == NULL) {
        return;
    }
    ASSERT(TAILQ_EMPTY(&r->followers));
    if (r->session != NULL) {
        session_untrack(r->session, r);
    }
    free(r->saved);
    free(r);
}

/*
 * The log id of <r>'s session, 0 once the client has gone.
 */
unsigned long long
req_session_id(const struct req *r)
{
    return r->session ? (unsigned long long)session_id(r->session) : 0;
}

/*
 * The name of <r>'s backend, "-" before routing.
 */
const char *
req_backend_name(const struct req *r)
{
    return r->backend ? backend_name(r->backend) : "-";
}

/* SPDX-License-Identifier: MIT */
/*
 * req.h -- the request object: one client request from parse to reply.
 * See the lifecycle diagram at the top of req.c.
 */
#ifndef MUX_REQ_H
#define MUX_REQ_H

#include <uv.h>

#include "core.h"
#include "mbap.h"

/* Each state has one owner and one list (see req.c); backend.c's
 * req_move() is the one function that changes it. */
enum req_state {
    REQ_NEW = 1,       /* parsed, not yet submitted   owner: session, no list */
    REQ_QUEUED,        /* waiting its turn            owner: core, a flow of
                          its backend's sched */
    REQ_ATTACHED,      /* follows an identical read   owner: core, its lead's
                          followers */
    REQ_INFLIGHT,      /* on the wire                 owner: backend type,
                          backend->inflight */
    REQ_DONE,          /* out of the core: answered   owner: session, no list
                          (or abandoned, then freed) */
};

/* Bytes in front of the request PDU in req->buf, so that a backend can
 * put its header (MBAP: 7 bytes; RTU: the unit) in place, without a copy. */
#define REQ_HEADROOM 8

TAILQ_HEAD(req_list, req);

/* How the owner of a request (a client session) takes it back. */
struct req_owner_ops {
    /* <r> is DONE with its answer in req_rsp(): reply, then free it with
     * req_free() once it is off the owner's own lists. Takes ownership.
     * Must not call back into the core (backend.c). */
    void (*done)(struct req_owner *o, struct req *r);
    /* the log id of the client, "S#12" (request logs only) */
    uint64_t (*id)(const struct req_owner *o);
};

/* What a request points back to while its client is there: embedded in
 * the owner (a session), which finds itself with container_of(). */
struct req_owner {
    const struct req_owner_ops *ops;
};

/* One client request. The only per-request allocation of the proxy. */
struct req {
    TAILQ_ENTRY(req) q_link;     /* the list of its state: a flow queue,
                                    backend->inflight, or its lead's
                                    followers */
    TAILQ_ENTRY(req) d_link;     /* backend->deadlines: QUEUED, ATTACHED */
    TAILQ_ENTRY(req) h_link;     /* coalescing bucket: a read lead */
    struct req_list  followers;  /* identical reads riding on this one */
    struct req      *lead;       /* the read this one follows (ATTACHED) */
    struct req_owner *owner;     /* NULL once the client has gone */
    struct backend  *backend;    /* chosen by the router */
    struct flow     *flow;       /* the queue it sits in (QUEUED) */
    /* the owner's: the session's own lists (session.c) */
    TAILQ_ENTRY(req) s_link;     /* session->reqs, while owned */
    TAILQ_ENTRY(req) o_link;     /* order->reqs until its answer is
                                    written */
    struct session_order *order; /* its session's answer order on its
                                    backend; NULL once written, or
                                    unrouted */
    uint64_t         id;         /* log id, "R#812" */
    enum req_state   state;      /* changed only by req_move() */
    uint16_t         tid;        /* client transaction id, echoed back */
    uint16_t         be_tid;     /* transaction id on the backend link */
    uint8_t          unit;       /* client unit id, echoed back */
    uint8_t          be_unit;    /* unit id on the backend */
    uint8_t          attempts;   /* transmissions of this step so far */
    uint16_t         step;       /* progress of a request that takes several
                                    device transactions (split writes) */
    uint32_t         epoch;      /* backend write_epoch when submitted */
    bool             read_only;  /* its client is in read_only_clients */
    bool             prio;       /* its client is in priority_clients */
    bool             low;        /* the backend's own poll: goes last,
                                    never answered from the cache */
    bool             precheck;   /* write_if_changed: read first */
    bool             local;      /* answered without the device */
    bool             failed;     /* answered with the proxy's own
                                    exception (req_fail), not the
                                    device's */
    bool             merged;     /* its PDU is a merged read's, covering
                                    its followers' ranges (merge.c); its
                                    own range is m_lo, m_n */
    uint16_t         m_lo, m_n;
    bool             refused;    /* failed by the write rules (policy.c):
                                    a front end that answers no other
                                    failure may say so */
    bool             held;       /* DONE, its answer waiting for an
                                    earlier one to the same backend */
    uint8_t         *saved;      /* the write PDU while its pre-read is on
                                    the wire (allocated: rare) */
    size_t           saved_len;
    bool             hashed;     /* in a coalescing bucket */
    uint64_t         t_recv_ms;  /* uv_now() when parsed */
    uint64_t         deadline_ms;  /* t_recv_ms + request_timeout_ms */
    uint64_t         attempt_deadline_ms; /* end of this attempt, or 0 */
    uint64_t         t_sent_ms;  /* uv_now() of the last transmission */
    size_t           pdu_len;    /* request PDU bytes */
    size_t           rsp_len;    /* response PDU bytes */
    uv_write_t       wreq;       /* the reply write to the client */
    uint8_t buf[REQ_HEADROOM + MB_PDU_MAX + 2]; /* request PDU at +8 */
    uint8_t out[MB_ADU_MAX];     /* reply ADU: MBAP header + response PDU */
};

#define req_pdu(r) ((r)->buf + REQ_HEADROOM)
#define req_rsp(r) ((r)->out + MB_MBAP_HDR)
#define req_fc(r)  (req_pdu(r)[0])

/* "R#812 S#12 u17->bus1/u3: " */
#define rlog(level, r, fmt, ...)                                             \
    LOG(level, "R#%llu S#%llu u%u->%s/u%u: " fmt,                            \
        (unsigned long long)(r)->id, req_owner_id(r), (r)->unit,           \
        req_backend_name(r), (r)->be_unit, ##__VA_ARGS__)

struct req *req_new(struct req_owner *owner, uint16_t tid, uint8_t unit,
                    const uint8_t *pdu, size_t pdu_len, uint64_t now_ms);
bool req_transition_ok(enum req_state from, enum req_state to);
void req_complete(struct req *r);
void req_fail(struct req *r, uint8_t code);
void req_set_response(struct req *r, const uint8_t *rsp, size_t len);
void req_free(struct req *r);
unsigned long long req_owner_id(const struct req *r);
const char *req_backend_name(const struct req *r);

#endif /* MUX_REQ_H */

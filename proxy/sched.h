/* SPDX-License-Identifier: MIT */
/*
 * sched.h -- the queue of one backend: a round-robin of flows (one flow
 * per owner, a client session, that has used the backend), and the
 * coalescing index of reads that are queued or on the wire. Pure data
 * structure: no libuv calls, no timers; backend.c drives it.
 */
#ifndef MUX_SCHED_H
#define MUX_SCHED_H

#include "core.h"
#include "req.h"

#define SCHED_BUCKETS_MIN 256     /* coalescing index, a power of two */
#define SCHED_BUCKETS_MAX 65536
#define SCHED_FLOWS_MIN   64      /* flows by owner, a power of two */

TAILQ_HEAD(flow_list, flow);
SLIST_HEAD(flow_chain, flow);

/* The requests one owner has queued on one backend. Created on first use
 * and kept until the owner goes (sched_drop_owner()) or the sched closes,
 * so a client polling one register at a time does not allocate one per
 * request. */
struct flow {
    struct req_list   queue;      /* QUEUED requests, FIFO */
    TAILQ_ENTRY(flow) ring_link;  /* sched->ring while queue is not empty */
    SLIST_ENTRY(flow) h_link;     /* sched->flows, by owner */
    const void       *owner;      /* the key; never dereferenced */
    unsigned          n;          /* requests in queue */
    unsigned          prio;       /* its ring: SCHED_NORMAL, SCHED_PRIO (a
                                     priority client's), SCHED_LOW (the
                                     backend's own polls) */
};

/* Priority flows get this many turns in a row while others wait, then one
 * turn goes to the others: priority, but no starvation. */
#define SCHED_PRIO_BURST 4

/* The rings: a low flow gets a turn only when no other flow has work. */
#define SCHED_NORMAL 0
#define SCHED_PRIO   1
#define SCHED_LOW    2

/* One backend's queue. */
struct sched {
    struct flow_list   ring[3];          /* flows with work, next first:
                                            by SCHED_NORMAL, _PRIO, _LOW */
    unsigned           queued;           /* requests in all flows */
    unsigned           prio_streak;      /* priority turns in a row */
    struct req_list   *buckets;          /* read leads by key */
    unsigned           mask;             /* buckets - 1 */
    struct flow_chain *flows;            /* every flow, by owner */
    unsigned           flows_mask;       /* flow buckets - 1 */
    unsigned           n_flows;
};

void sched_init(struct sched *s, unsigned queue_depth);
void sched_close(struct sched *s);
struct flow *sched_flow(struct sched *s, const void *owner, unsigned prio);
void sched_drop_owner(struct sched *s, const void *owner);
void sched_enqueue(struct sched *s, struct flow *f, struct req *r);
void sched_push_front(struct sched *s, struct flow *f, struct req *r);
struct req *sched_next(struct sched *s);
void sched_remove(struct sched *s, struct req *r);
struct req *sched_find_read(struct sched *s, const struct req *r);
void sched_index(struct sched *s, struct req *r);
void sched_unindex(struct sched *s, struct req *r);

#endif /* MUX_SCHED_H */

/* SPDX-License-Identifier: MIT */
/*
 * sched.h -- the queue of one backend: a round-robin of flows (one flow
 * per client session that has requests queued on the backend), and the
 * coalescing index of reads that are queued or on the wire. Pure data
 * structure: no libuv calls, no timers; backend.c drives it.
 */
#ifndef MUX_SCHED_H
#define MUX_SCHED_H

#include "core.h"
#include "req.h"

#define SCHED_BUCKETS_MIN 256     /* coalescing index, a power of two */
#define SCHED_BUCKETS_MAX 65536

/* The requests one client has queued on one backend. */
struct flow {
    struct req_list   queue;      /* QUEUED requests, FIFO */
    struct req_list   order;      /* every request of the client to the
                                     backend not yet answered, in the
                                     order asked (session.c) */
    TAILQ_ENTRY(flow) ring_link;  /* sched->ring while queue is not empty */
    TAILQ_ENTRY(flow) s_link;     /* the owning session's flows */
    struct sched     *sched;      /* the backend queue it belongs to */
    unsigned          n;          /* requests in queue */
    bool              prio;       /* a priority client's (priority_clients) */
};

/* Priority flows get this many turns in a row while others wait, then one
 * turn goes to the others: priority, but no starvation. */
#define SCHED_PRIO_BURST 4

/* One backend's queue. */
struct sched {
    TAILQ_HEAD(flow_ring, flow) ring[2]; /* flows with work, next first:
                                            [0] normal, [1] priority */
    unsigned           queued;           /* requests in all flows */
    unsigned           prio_streak;      /* priority turns in a row */
    struct req_list   *buckets;          /* read leads by key */
    unsigned           mask;             /* buckets - 1 */
};

void sched_init(struct sched *s, unsigned queue_depth);
void sched_close(struct sched *s);
struct flow *flow_new(struct sched *s, bool prio);
void flow_free(struct flow *f);
void sched_enqueue(struct sched *s, struct flow *f, struct req *r);
void sched_push_front(struct sched *s, struct flow *f, struct req *r);
struct req *sched_dequeue(struct sched *s);
void sched_remove(struct sched *s, struct req *r);
struct req *sched_find_read(struct sched *s, const struct req *r);
void sched_index(struct sched *s, struct req *r);
void sched_unindex(struct sched *s, struct req *r);

#endif /* MUX_SCHED_H */

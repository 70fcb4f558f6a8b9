/* SPDX-License-Identifier: MIT */
/*
 * sched.c -- fairness and coalescing for one backend.
 *
 * Fairness: each owner (a client session) gets one flow per backend,
 * found by the owner's address in a hash table of flows. The ring holds
 * the flows that have requests; each turn goes to the head request of the
 * first flow, and that flow moves to the back of the ring. A client with
 * 50 pipelined requests thus gets one turn per round like a client with
 * one.
 * Clients in priority_clients have a ring of their own that goes first,
 * SCHED_PRIO_BURST turns at most while others wait. The backend's own
 * polls (poll, poll_learn) have a ring that goes last: only when no client
 * has a request queued.
 * A retried read goes back to the front of its flow, and that flow to the
 * front of the ring: it already waited its turn.
 *
 * Coalescing: a read lead (a request that will be, or is being, sent) is
 * indexed by (backend unit, PDU); an identical read that arrives while it
 * is queued or on the wire attaches to it instead of queueing. The index is
 * a table sized once for queue_depth (about one lead per bucket), so a
 * lookup walks a short chain and costs no allocation.
 *
 * Who frees what: flows belong to the sched. An owner that goes has its
 * flow dropped with sched_drop_owner() (the session asks each backend when
 * it closes), and sched_close() frees the rest; either way the flow is
 * empty by then. Requests belong to whoever the lifecycle in req.c says:
 * the sched only links them, and backend.c's req_move() is the one caller
 * that puts them on a flow or takes them off.
 */
#include <string.h>

#include "pdu.h"
#include "sched.h"

/*
 * Make <s> an empty queue whose coalescing index suits <queue_depth>
 * queued reads. Free it with sched_close().
 */
void
sched_init(struct sched *s, unsigned queue_depth)
{
    unsigned n = SCHED_BUCKETS_MIN;

    while (n < queue_depth && n < SCHED_BUCKETS_MAX) {
        n *= 2;
    }
    s->buckets = xcalloc(n, sizeof(*s->buckets));
    s->mask = n - 1;
    TAILQ_INIT(&s->ring[0]);
    TAILQ_INIT(&s->ring[1]);
    TAILQ_INIT(&s->ring[2]);
    s->queued = 0;
    s->prio_streak = 0;
    for (size_t i = 0; i <= s->mask; i++) {
        TAILQ_INIT(&s->buckets[i]);
    }
    s->flows = xcalloc(SCHED_FLOWS_MIN, sizeof(*s->flows));
    s->flows_mask = SCHED_FLOWS_MIN - 1;
    s->n_flows = 0;
    for (size_t i = 0; i <= s->flows_mask; i++) {
        SLIST_INIT(&s->flows[i]);
    }
}

/*
 * Free what sched_init() allocated for <s>, and every flow, all of which
 * must be empty.
 */
void
sched_close(struct sched *s)
{
    struct flow *f;

    ASSERT(s->queued == 0);
    for (size_t i = 0; i <= s->flows_mask; i++) {
        while ((f = SLIST_FIRST(&s->flows[i])) != NULL) {
            ASSERT(f->n == 0);
            SLIST_REMOVE_HEAD(&s->flows[i], h_link);
            free(f);
        }
    }
    free(s->flows);
    s->flows = NULL;
    s->n_flows = 0;
    free(s->buckets);
    s->buckets = NULL;
}

/* The flow bucket of <owner>: the address, mixed (Fibonacci hashing). */
static struct flow_chain *
flow_bucket(const struct sched *s, const void *owner)
{
    uint64_t h = (uint64_t)(uintptr_t)owner * 0x9E3779B97F4A7C15ull;

    return &s->flows[(h >> 32) & s->flows_mask];
}

/* One flow per bucket on average: double the table when there are more
 * flows than buckets (at a flow's creation, never per request). */
static void
flows_grow(struct sched *s)
{
    struct flow_chain *old = s->flows;
    unsigned n_old = s->flows_mask + 1;
    struct flow *f;

    s->flows = xcalloc(2u * n_old, sizeof(*s->flows));
    s->flows_mask = 2u * n_old - 1;
    for (size_t i = 0; i <= s->flows_mask; i++) {
        SLIST_INIT(&s->flows[i]);
    }
    for (size_t i = 0; i < n_old; i++) {
        while ((f = SLIST_FIRST(&old[i])) != NULL) {
            SLIST_REMOVE_HEAD(&old[i], h_link);
            SLIST_INSERT_HEAD(flow_bucket(s, f->owner), f, h_link);
        }
    }
    free(old);
}

static struct flow *
flow_find(const struct sched *s, const void *owner)
{
    struct flow *f;

    SLIST_FOREACH(f, flow_bucket(s, owner), h_link) {
        if (f->owner == owner) {
            return f;
        }
    }
    return NULL;
}

/*
 * The flow of <owner> (an opaque key: its address) on <s>, created on
 * first use, in ring <prio> (SCHED_NORMAL, SCHED_PRIO, SCHED_LOW; fixed
 * when created). Never NULL.
 */
struct flow *
sched_flow(struct sched *s, const void *owner, unsigned prio)
{
    struct flow *f = flow_find(s, owner);

    if (f != NULL) {
        return f;
    }
    ASSERT(owner != NULL);
    if (s->n_flows > s->flows_mask) {
        flows_grow(s);
    }
    f = xcalloc(1, sizeof(*f));
    TAILQ_INIT(&f->queue);
    f->owner = owner;
    f->prio = prio;
    SLIST_INSERT_HEAD(flow_bucket(s, owner), f, h_link);
    s->n_flows++;
    return f;
}

/*
 * <owner> has gone: free its flow on <s>, if it has one (it is empty: the
 * owner's queued requests have been abandoned first).
 */
void
sched_drop_owner(struct sched *s, const void *owner)
{
    struct flow *f = flow_find(s, owner);

    if (f != NULL) {
        ASSERT(f->n == 0 && TAILQ_EMPTY(&f->queue));
        SLIST_REMOVE(flow_bucket(s, owner), f, flow, h_link);
        s->n_flows--;
        free(f);
    }
}

/*
 * Append QUEUED request <r> to flow <f> of <s>. Takes ownership of <r>
 * for the core.
 */
void
sched_enqueue(struct sched *s, struct flow *f, struct req *r)
{
    ASSERT(r->state == REQ_QUEUED && r->flow == NULL);
    TAILQ_INSERT_TAIL(&f->queue, r, q_link);
    if (f->n++ == 0) {
        TAILQ_INSERT_TAIL(&s->ring[f->prio], f, ring_link);
    }
    r->flow = f;
    s->queued++;
}

/*
 * Put QUEUED request <r> at the front of flow <f>, and <f> at the front
 * of the ring: for a retry, or a read that takes over from a lead.
 */
void
sched_push_front(struct sched *s, struct flow *f, struct req *r)
{
    ASSERT(r->state == REQ_QUEUED && r->flow == NULL);
    TAILQ_INSERT_HEAD(&f->queue, r, q_link);
    if (f->n++ > 0) {
        TAILQ_REMOVE(&s->ring[f->prio], f, ring_link);
    }
    TAILQ_INSERT_HEAD(&s->ring[f->prio], f, ring_link);
    r->flow = f;
    s->queued++;
}

/* Take <r> out of its flow; the flow leaves the ring when empty. */
static void
flow_take(struct sched *s, struct flow *f, struct req *r)
{
    TAILQ_REMOVE(&f->queue, r, q_link);
    r->flow = NULL;
    s->queued--;
    if (--f->n == 0) {
        TAILQ_REMOVE(&s->ring[f->prio], f, ring_link);
    }
}

/*
 * The request whose turn it is, or NULL if none: the head of the first
 * flow of the ring that goes next. That flow has had its turn (it moves to
 * the back of its ring), and <r> stays in it until the caller takes it
 * out (req_move(), at once) and keeps it indexed for coalescing.
 */
struct req *
sched_next(struct sched *s)
{
    bool others = !TAILQ_EMPTY(&s->ring[SCHED_NORMAL]);
    bool prio = !TAILQ_EMPTY(&s->ring[SCHED_PRIO]) &&
                (!others || s->prio_streak < SCHED_PRIO_BURST);
    unsigned ring = prio ? SCHED_PRIO : others ? SCHED_NORMAL : SCHED_LOW;
    struct flow *f = TAILQ_FIRST(&s->ring[ring]);

    if (f == NULL) {
        return NULL;
    }
    s->prio_streak = prio ? s->prio_streak + 1 : 0;
    if (f->n > 1) {
        TAILQ_REMOVE(&s->ring[f->prio], f, ring_link);
        TAILQ_INSERT_TAIL(&s->ring[f->prio], f, ring_link);
    }
    return TAILQ_FIRST(&f->queue);
}

/*
 * Take QUEUED request <r> out of <s> wherever it is in its flow.
 */
void
sched_remove(struct sched *s, struct req *r)
{
    ASSERT(r->state == REQ_QUEUED && r->flow != NULL);
    flow_take(s, r->flow, r);
}

/* The coalescing key: backend unit and the 5-byte read PDU. */
static unsigned
sched_bucket(const struct req *r)
{
    const uint8_t *p = req_pdu(r);
    unsigned h = r->be_unit * 131u + p[0] * 31u;

    h = (h ^ pdu_get16(p + 1)) * 2654435761u;
    h ^= pdu_get16(p + 3) * 40503u;
    return (h >> 8) & 0xFFFFFFu;
}

static bool
sched_same_read(const struct req *a, const struct req *b)
{
    return a->be_unit == b->be_unit && a->pdu_len == b->pdu_len &&
           memcmp(req_pdu(a), req_pdu(b), a->pdu_len) == 0;
}

/*
 * Return the indexed read lead identical to read <r>, or NULL.
 */
struct req *
sched_find_read(struct sched *s, const struct req *r)
{
    struct req *l;

    TAILQ_FOREACH(l, &s->buckets[sched_bucket(r) & s->mask], h_link) {
        if (sched_same_read(l, r)) {
            return l;
        }
    }
    return NULL;
}

/*
 * Index read lead <r> so that identical reads can attach to it.
 */
void
sched_index(struct sched *s, struct req *r)
{
    ASSERT(!r->hashed);
    TAILQ_INSERT_TAIL(&s->buckets[sched_bucket(r) & s->mask], r, h_link);
    r->hashed = true;
}

/*
 * Remove <r> from the index if it is there.
 */
void
sched_unindex(struct sched *s, struct req *r)
{
    if (r->hashed) {
        TAILQ_REMOVE(&s->buckets[sched_bucket(r) & s->mask], r, h_link);
        r->hashed = false;
    }
}

/* SPDX-License-Identifier: MIT */
/*
 * sched.c -- fairness and coalescing for one backend.
 *
 * Fairness: each client session gets one flow per backend. The ring holds
 * the flows that have requests; dequeue takes the head request of the
 * first flow and moves that flow to the back of the ring. A client with 50
 * pipelined requests thus gets one turn per round like a client with one.
 * Clients in priority_clients have a ring of their own that goes first,
 * SCHED_PRIO_BURST turns at most while others wait.
 * A retried read goes back to the front of its flow, and that flow to the
 * front of the ring: it already waited its turn.
 *
 * Coalescing: a read lead (a request that will be, or is being, sent) is
 * indexed by (backend unit, PDU); an identical read that arrives while it
 * is queued or on the wire attaches to it instead of queueing. The index is
 * a table sized once for queue_depth (about one lead per bucket), so a
 * lookup walks a short chain and costs no allocation.
 *
 * Who frees what: flows belong to their session (session_close frees them,
 * empty); requests belong to whoever the lifecycle in req.c says.
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
    s->queued = 0;
    s->prio_streak = 0;
    for (size_t i = 0; i <= s->mask; i++) {
        TAILQ_INIT(&s->buckets[i]);
    }
}

/*
 * Free what sched_init() allocated for <s>, which must be empty.
 */
void
sched_close(struct sched *s)
{
    ASSERT(s->queued == 0);
    free(s->buckets);
    s->buckets = NULL;
}

/*
 * Allocate an empty flow on <s>, of a priority client if <prio>. Returns
 * it; never NULL.
 */
struct flow *
flow_new(struct sched *s, bool prio)
{
    struct flow *f = xcalloc(1, sizeof(*f));

    TAILQ_INIT(&f->queue);
    TAILQ_INIT(&f->order);
    f->sched = s;
    f->prio = prio;
    return f;
}

/*
 * Free flow <f>, which must be empty. NULL is a no-op.
 */
void
flow_free(struct flow *f)
{
    if (f != NULL) {
        ASSERT(f->n == 0 && TAILQ_EMPTY(&f->queue) &&
               TAILQ_EMPTY(&f->order));
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
    ASSERT(r->state == REQ_QUEUED && f->sched == s);
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
    ASSERT(r->state == REQ_QUEUED && f->sched == s);
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
 * Take the next request in round-robin order off <s>, or NULL if none.
 * The caller takes ownership; it stays indexed for coalescing.
 */
struct req *
sched_dequeue(struct sched *s)
{
    bool others = !TAILQ_EMPTY(&s->ring[0]);
    bool prio = !TAILQ_EMPTY(&s->ring[1]) &&
                (!others || s->prio_streak < SCHED_PRIO_BURST);
    struct flow *f = TAILQ_FIRST(&s->ring[prio]);
    struct req *r;

    if (f == NULL) {
        return NULL;
    }
    s->prio_streak = prio ? s->prio_streak + 1 : 0;
    r = TAILQ_FIRST(&f->queue);
    flow_take(s, f, r);
    if (f->n > 0) {
        TAILQ_REMOVE(&s->ring[f->prio], f, ring_link);
        TAILQ_INSERT_TAIL(&s->ring[f->prio], f, ring_link);
    }
    return r;
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
    ASSERT(!r->hashed && pdu_is_read(req_fc(r)));
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

/* SPDX-License-Identifier: MIT */
/*
 * poller.c -- the backend's own reads. `poll = UNIT:TABLE:START-END@MS`
 * names ranges to keep fresh; with `poll_learn = yes` the ranges clients
 * read are polled at the rate they read them. Every POLLER_TICK_MS a
 * range whose period is over is read, unless its read is still in the
 * core, or the cache holds it younger than its period (a client's read
 * brought it), or nobody has read it for poll_idle_s (then it waits for a
 * client's read; 0 keeps polling). The configured ranges count as read at
 * start. A learned range is forgotten once idle, and the oldest learned
 * one gives way to a new one when all POLLER_MAX are taken.
 *
 * Its requests go through backend_submit() like a client's, at the
 * lowest priority (req->low: the sched's last ring, so a client's request
 * always goes first; a client's read never waits on one of them), never
 * answered from the cache, merged with nearby reads (merge_reads), and
 * their answers fill the cache. Their owner is the poller, whose done
 * callback frees them.
 */
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "http.h"
#include "pdu.h"
#include "poller.h"

/* The entry of range <unit> <fc> <lo> <n>, or NULL. */
static struct poll_entry *
entry_find(struct poller *p, uint8_t unit, uint8_t fc, uint16_t lo,
           uint16_t n)
{
    for (unsigned i = 0; i < p->n; i++) {
        struct poll_entry *e = &p->e[i];

        if (e->unit == unit && e->fc == fc && e->lo == lo && e->n == n) {
            return e;
        }
    }
    return NULL;
}

/* One of our reads is done: its answer is in the cache (policy_learn). */
static void
poller_done_cb(struct req_owner *o, struct req *r)
{
    struct poller *p = container_of(o, struct poller, owner);
    const uint8_t *q = req_pdu(r);
    struct poll_entry *e = entry_find(p, r->be_unit, q[0],
                                      pdu_get16(q + 1), pdu_get16(q + 3));

    if (e != NULL) {
        e->pending = false;
    }
    r->owner = NULL;
    req_free(r);
}

static uint64_t
poller_id(const struct req_owner *o)
{
    (void)o;
    return 0;                   /* "S#0": the backend itself */
}

static const struct req_owner_ops poller_owner_ops = {
    .done = poller_done_cb,
    .id = poller_id,
};

/* The configured ranges of be->cfg, in pieces of what one read carries. */
static void
entries_from_cfg(struct backend *be)
{
    struct poller *p = &be->poll;
    unsigned k = 0;

    /* keep the learned ones */
    for (unsigned i = 0; i < p->n; i++) {
        if (p->e[i].learned) {
            p->e[k++] = p->e[i];
        }
    }
    p->n = k;
    for (unsigned i = 0; i < be->cfg.n_polls; i++) {
        const struct cfg_poll *c = &be->cfg.polls[i];
        unsigned step = c->fc <= MB_FC_READ_DISCRETE ? 2000 : 125;

        for (uint32_t lo = c->lo; lo <= c->hi && p->n < POLLER_MAX;
             lo += step) {
            struct poll_entry *e = &p->e[p->n++];

            memset(e, 0, sizeof(*e));
            e->unit = c->unit;
            e->fc = c->fc;
            e->lo = (uint16_t)lo;
            e->n = (uint16_t)MB_MIN(step, c->hi - lo + 1);
            e->period_ms = c->period_ms;
            e->client_ms = p->start_ms;
        }
    }
}

/*
 * Set up the poller of new backend <be> (no I/O yet).
 */
void
poller_init(struct backend *be)
{
    struct poller *p = &be->poll;

    p->owner.ops = &poller_owner_ops;
    uv_timer_init(be->loop, &p->timer);
    p->timer.data = be;
    p->start_ms = uv_now(be->loop);
    entries_from_cfg(be);
}

/* Send the read of entry <e>. */
static void
poll_send(struct backend *be, struct poll_entry *e, uint64_t now)
{
    uint8_t pdu[5] = {e->fc, (uint8_t)(e->lo >> 8), (uint8_t)e->lo,
                      (uint8_t)(e->n >> 8), (uint8_t)e->n};
    struct req *r = req_new(&be->poll.owner, 0, e->unit, pdu, sizeof(pdu),
                            now);

    r->backend = be;
    r->be_unit = e->unit;
    r->low = true;
    e->pending = true;
    e->sent_ms = now;
    e->polls++;
    be->st.polls++;
    backend_submit(be, r);
}

static void
poller_tick_cb(uv_timer_t *t)
{
    struct backend *be = t->data;
    struct poller *p = &be->poll;
    uint64_t now = uv_now(be->loop);
    uint64_t idle = be->cfg.poll_idle_s * 1000ull;

    if (!be->up || be->stopping) {
        return;
    }
    for (unsigned i = 0; i < p->n; i++) {
        struct poll_entry *e = &p->e[i];

        if (idle > 0 && now - e->client_ms > idle) {
            if (e->learned) {           /* nobody reads it: forget it */
                p->e[i--] = p->e[--p->n];
            }
            continue;
        }
        if (e->pending || e->period_ms == 0 ||
            now - e->sent_ms < e->period_ms ||
            cache_fresh(&be->cache, e->unit, e->fc, e->lo, e->n,
                        now - MB_MIN(now, e->period_ms))) {
            continue;
        }
        poll_send(be, e, now);
    }
}

/*
 * Start polling <be> (its link is being opened), if it has anything to
 * poll or to learn.
 */
void
poller_start(struct backend *be)
{
    if (be->poll.n > 0 || be->cfg.poll_learn) {
        uv_timer_start(&be->poll.timer, poller_tick_cb, POLLER_TICK_MS,
                       POLLER_TICK_MS);
    }
}

/*
 * A reload changed be->cfg: the configured ranges as it says, the learned
 * ones kept (or dropped with poll_learn).
 */
void
poller_update(struct backend *be)
{
    struct poller *p = &be->poll;

    if (!be->cfg.poll_learn) {
        for (unsigned i = 0; i < p->n; i++) {
            if (p->e[i].learned && !p->e[i].pending) {
                p->e[i--] = p->e[--p->n];
            }
        }
    }
    p->start_ms = uv_now(be->loop);
    entries_from_cfg(be);
    uv_timer_stop(&p->timer);
    if (!be->stopping) {
        poller_start(be);
    }
}

/*
 * True if <r> is one of <be>'s own reads.
 */
bool
poller_owns(const struct backend *be, const struct req *r)
{
    return r->owner == &be->poll.owner;
}

/*
 * A client's read <r> (FC 1-4) of <be>: its ranges are read, and, with
 * poll_learn, its range is learned, its period the time between reads.
 */
void
poller_client_read(struct backend *be, const struct req *r)
{
    struct poller *p = &be->poll;
    const uint8_t *q = req_pdu(r);
    uint16_t lo = pdu_get16(q + 1), n = pdu_get16(q + 3);
    uint64_t now = uv_now(be->loop);
    struct poll_entry *e, *old = NULL;
    struct poll_entry *same = entry_find(p, r->be_unit, q[0], lo, n);

    if (same != NULL && same->learned) {
        /* the time between two reads of it, a client's own or another's */
        uint64_t gap = now - same->client_ms;

        if (gap >= POLLER_TICK_MS) {
            same->period_ms = same->period_ms == 0
                                  ? (unsigned)MB_MIN(gap, 86400000u)
                                  : (unsigned)((3ull * same->period_ms + gap) /
                                               4);
        }
    }
    for (unsigned i = 0; i < p->n; i++) {
        e = &p->e[i];
        if (e->unit == r->be_unit && e->fc == q[0] && e->lo < lo + n &&
            lo < e->lo + e->n) {
            e->client_ms = now;
        }
    }
    if (!be->cfg.poll_learn || same != NULL) {
        return;
    }
    if (p->n == POLLER_MAX) {
        for (unsigned i = 0; i < p->n; i++) {
            if (p->e[i].learned && !p->e[i].pending &&
                (old == NULL || p->e[i].client_ms < old->client_ms)) {
                old = &p->e[i];
            }
        }
        if (old == NULL) {
            return;             /* all configured, or all pending */
        }
        e = old;
    } else {
        e = &p->e[p->n++];
    }
    memset(e, 0, sizeof(*e));
    e->unit = r->be_unit;
    e->fc = q[0];
    e->lo = lo;
    e->n = n;
    e->learned = true;
    e->client_ms = now;
}

/*
 * The poll list of <be> for its card on /status: each range, how often,
 * and how old its cached values are.
 */
void
poller_status_html(const struct backend *be, struct http_buf *b)
{
    static const char *const tables[] = {"?", "coils", "discrete",
                                         "holding", "input"};
    const struct poller *p = &be->poll;
    uint64_t now = uv_now(be->loop);
    uint64_t idle = be->cfg.poll_idle_s * 1000ull;

    if (p->n == 0) {
        return;
    }
    http_buf_puts(b, "<table><tr><th>poll</th><th class=\"n\">every</th>"
                     "<th class=\"n\">age</th><th class=\"n\">reads</th>"
                     "<th></th></tr>");
    for (unsigned i = 0; i < p->n; i++) {
        const struct poll_entry *e = &p->e[i];
        uint64_t newest = cache_newest(&be->cache, e->unit, e->fc, e->lo,
                                       e->n);

        http_buf_printf(b, "<tr><td>%u:%s:%u-%u</td><td class=\"n\">",
                        e->unit, tables[e->fc <= 4 ? e->fc : 0], e->lo,
                        e->lo + e->n - 1u);
        if (e->period_ms == 0) {
            http_buf_puts(b, "?");
        } else {
            http_buf_printf(b, "%u ms", e->period_ms);
        }
        http_buf_puts(b, "</td><td class=\"n\">");
        if (newest == 0) {
            http_buf_puts(b, "none");
        } else {
            http_buf_printf(b, "%llu ms",
                            (unsigned long long)(now - MB_MIN(now, newest)));
        }
        http_buf_printf(b, "</td><td class=\"n\">%llu</td><td>%s%s</td></tr>",
                        (unsigned long long)e->polls,
                        e->learned ? "learned" : "configured",
                        idle > 0 && now - e->client_ms > idle ? ", idle" : "");
    }
    http_buf_puts(b, "</table>");
}

/* SPDX-License-Identifier: MIT */
/*
 * backend.c -- what every backend type shares: the registry of types, the
 * queue (sched.c) with its depth limit, max_inflight, pacing, end-to-end
 * deadlines, per-attempt timeouts, retries of reads, coalescing of
 * identical reads, completion of leads and followers, and the connection
 * policy (fail fast while down, reconnect with back-off).
 *
 * Pacing: min_spacing_ms runs from the end of the previous response (or
 * timeout, or broadcast) to the start of the next transmission, measured
 * with uv_hrtime() because the loop's cached uv_now() can be a few ms old.
 * Links without transaction ids keep the line quiet longer when they must
 * (backend_quiet(): settle_ms after an answer, timeout_ms after a
 * timeout), and a paced transmission waits until the loop has read what
 * came during the pause, so that a late answer or a copy is judged while
 * nothing is on the wire.
 *
 * Deadlines: a request's deadline is fixed when it is parsed, and requests
 * are submitted in the order they are parsed, so backend->deadlines is
 * sorted by appending; one timer watches its head. Requests on the wire are
 * not on it: their attempt timeout is cut to the deadline instead, so the
 * backend, which owns them, finishes them in time.
 *
 * States and lists: req_move() is the one function that moves a request
 * between the states of the lifecycle (req.c) and the lists that hold
 * them. The rest of this file decides when; policy.c gives verdicts
 * (send, answer, refuse) and this file acts on them: only this file
 * completes a request (req_complete(), req_fail()). A request leaves the
 * core through its owner's callback (owner->ops->done()); the owner calls
 * down (backend_submit(), backend_abandon(), backend_owner_gone()), never
 * the other way.
 *
 * Transmission: backend_kick() is the one loop that transmits. Nothing is
 * transmitted while the link is held (backend_hold()): while a type parses
 * what one read brought, while a paced turn waits for the loop's poll, and
 * while transmit() runs, so that a request a type ends inside transmit()
 * asks the loop for the next one instead of nesting a call. Completions
 * call into the owner, which never calls back into the core (a session
 * whose reply cannot be written closes on the loop's next turn), so no
 * list changes under a loop that walks it.
 *
 * What it does not own: sockets and framing (backends/), the client side
 * (session.c).
 */
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "backend_int.h"
#include "log.h"
#include "pdu.h"
#include "policy.h"
#include "stats.h"

/*
 * The registry of backend types: one line each, in the order the
 * configuration's error messages list them. Nothing else names a type.
 * Adding a type T:
 * 1. backends/T.c: its settings struct (CFG_OWN_FITS), its key table
 *    (own keys at CFG_OWN(), common keys it defaults or bounds otherwise
 *    at CFG_BE(), groups such as tcplink_keys with CFG_KEYS_AT()), and
 *    const struct backend_ops be_T_ops = {.type = "T", .keys, .check_cfg,
 *    .same_link, .shares_device, .status_html, and the link's ops};
 * 2. X(T) below, and backends/T.c in MUX_CORE_SOURCES (CMakeLists.txt);
 * 3. its keys in conf/modbus-mux.ini. tests/unit/test_types.c checks its
 *    keys, defaults and same_link() without being told about it.
 */
#define BACKEND_TYPES(X) \
    X(tcp)               \
    X(rtu)               \
    X(rtu_tcp)           \
    X(givenergy)         \
    X(tigo)

#define BACKEND_TYPE_DECLARE(t) extern const struct backend_ops be_##t##_ops;
#define BACKEND_TYPE_ENTRY(t) &be_##t##_ops,

BACKEND_TYPES(BACKEND_TYPE_DECLARE)

static const struct backend_ops *const backend_types[] = {
    BACKEND_TYPES(BACKEND_TYPE_ENTRY)
};

/* Types added at run time: a test's scripted device. */
static const struct backend_ops *backend_added[4];

/*
 * Add type <ops> to the registry, after the built-in ones (a test's
 * scripted device: tests/support/fake_backend.c). Adding it again is a
 * no-op.
 */
void
backend_register(const struct backend_ops *ops)
{
    for (size_t i = 0; i < ARRAY_SIZE(backend_added); i++) {
        if (backend_added[i] == NULL || backend_added[i] == ops) {
            backend_added[i] = ops;
            return;
        }
    }
    ASSERT(!"too many backend types added");
}

/*
 * Return registered backend type number <i> (from 0: the built-in ones,
 * then those added at run time), or NULL past the last.
 */
const struct backend_ops *
backend_type_at(size_t i)
{
    if (i < ARRAY_SIZE(backend_types)) {
        return backend_types[i];
    }
    i -= ARRAY_SIZE(backend_types);
    return i < ARRAY_SIZE(backend_added) ? backend_added[i] : NULL;
}

/*
 * Return the ops of backend type <type>, or NULL.
 */
const struct backend_ops *
backend_find_ops(const char *type)
{
    const struct backend_ops *ops;

    for (size_t i = 0; (ops = backend_type_at(i)) != NULL; i++) {
        if (strcmp(ops->type, type) == 0) {
            return ops;
        }
    }
    return NULL;
}

/*
 * <be>'s state for people: "up", "connecting" (no answer yet whether it
 * works), "down" (failing fast with 0x0A) or "stopped".
 */
const char *
backend_state(const struct backend *be)
{
    return be->stopping ? "stopped"
           : be->up     ? "up"
           : be->down   ? "down"
                        : "connecting";
}

/* Remember why <be> last failed, for the status page. */
static void
backend_note_error(struct backend *be, const char *why)
{
    snprintf(be->last_error, sizeof(be->last_error), "%s", why);
    be->last_error_ms = uv_now(be->loop);
}

/*
 * The name of <be> from its configuration.
 */
const char *
backend_name(const struct backend *be)
{
    return be->cfg.name;
}

/*
 * Tell each of the <n> backends <bes> (indexed as the routes of <r> name
 * them) which of its units <r> routes clients to: at start and after each
 * reload.
 */
void
backend_set_routes(struct backend *const *bes, unsigned n,
                   const struct router *r)
{
    for (unsigned i = 0; i < n; i++) {
        memset(bes[i]->routed, 0, sizeof(bes[i]->routed));
    }
    for (unsigned u = 0; u < 256; u++) {
        int i = r->backend[u];
        uint8_t be_unit = r->be_unit[u];

        if (i != ROUTER_NONE && (unsigned)i < n) {
            bes[i]->routed[be_unit / 8] |= (uint8_t)(1u << (be_unit % 8));
        }
    }
}

/*
 * True if a route leads clients to <unit> of <be>.
 */
bool
backend_routed(const struct backend *be, uint8_t unit)
{
    return (be->routed[unit / 8] >> (unit % 8)) & 1;
}

static void deadline_cb(uv_timer_t *t);
static void pace_cb(uv_timer_t *t);
static void pace_check_cb(uv_check_t *c);
static void pace_idle_cb(uv_idle_t *i);
static void attempt_cb(uv_timer_t *t);
static void retry_cb(uv_timer_t *t);
static unsigned backend_timeout_ms(const struct backend *be,
                                   const struct req *r);

/*
 * Create the backend described by <cfg> on <loop>, for <owner> (told
 * when it is freed; NULL: nobody),
 * driven by <ops> (backend_find_ops(cfg->type), or a test's fake);
 * requests get <request_timeout_ms> end to end. No I/O until
 * backend_start(). Returns NULL if the type's create() fails (what it
 * made is freed once its handles have closed).
 */
struct backend *
backend_new(struct backend_owner *owner, uv_loop_t *loop,
            const struct backend_ops *ops, const struct cfg_backend *cfg,
            unsigned request_timeout_ms)
{
    struct backend *be = xcalloc(1, sizeof(*be));

    be->ops = ops;
    be->cfg = *cfg;
    be->owner = owner;
    be->loop = loop;
    be->request_timeout_ms = request_timeout_ms;
    be->backoff_ms = BACKEND_BACKOFF_MIN_MS;
    sched_init(&be->sched, cfg->queue_depth);
    cache_init(&be->cache);
    cache_set_budget(&be->cache, BACKEND_CACHE_CHUNKS);
    /* No budget for the write times: forgetting one would let a write
     * through sooner than min_write_interval_ms. Only client writes to
     * routed units fill it. */
    cache_init(&be->writes);
    TAILQ_INIT(&be->inflight);
    TAILQ_INIT(&be->deadlines);
    uv_timer_init(loop, &be->pace_timer);
    uv_timer_init(loop, &be->deadline_timer);
    uv_timer_init(loop, &be->attempt_timer);
    uv_timer_init(loop, &be->retry_timer);
    uv_check_init(loop, &be->pace_check);
    uv_idle_init(loop, &be->pace_idle);
    be->pace_timer.data = be->deadline_timer.data = be;
    be->attempt_timer.data = be->retry_timer.data = be;
    be->pace_check.data = be->pace_idle.data = be;
    poller_init(be);
    be->open_handles = 7;
    if (be->ops->create(be) != 0) {
        blog(LOG_ERROR, be, "cannot create");
        backend_discard(be);
        return NULL;
    }
    return be;
}

/*
 * Stop <be>, which was never started and which no server list holds (its
 * type could not create it, or a refused reload made it), and free it once
 * its handles have closed.
 */
void
backend_discard(struct backend *be)
{
    ASSERT(!be->started && !be->waiting);
    be->discarded = true;
    backend_release(be);
}

/*
 * Open <be>'s link (asynchronously). Requests queue until it is up.
 */
void
backend_start(struct backend *be)
{
    be->started = true;
    blog(LOG_INFO, be, "%s backend, min_spacing_ms=%u timeout_ms=%u "
         "retries=%u max_inflight=%u queue_depth=%u", be->cfg.type,
         be->cfg.min_spacing_ms, be->cfg.timeout_ms, be->cfg.retries,
         be->cfg.max_inflight, be->cfg.queue_depth);
    poller_start(be);
    be->ops->start(be);
}

/* --- states and lists ------------------------------------------------- */

static void
deadline_arm(struct backend *be)
{
    struct req *r = TAILQ_FIRST(&be->deadlines);
    uint64_t now = uv_now(be->loop);

    if (r == NULL || be->stopping) {
        uv_timer_stop(&be->deadline_timer);
        return;
    }
    uv_timer_start(&be->deadline_timer, deadline_cb,
                   r->deadline_ms > now ? r->deadline_ms - now : 0, 0);
}

/* Put <r> in deadline order. New requests almost always go last (they
 * are parsed in order and most share request_timeout_ms), so the walk
 * starts from the tail. */
static void
deadline_add(struct backend *be, struct req *r)
{
    struct req *it = TAILQ_LAST(&be->deadlines, req_list);

    while (it != NULL && it->deadline_ms > r->deadline_ms) {
        it = TAILQ_PREV(it, req_list, d_link);
    }
    if (it == NULL) {
        TAILQ_INSERT_HEAD(&be->deadlines, r, d_link);
        deadline_arm(be);
    } else {
        TAILQ_INSERT_AFTER(&be->deadlines, it, r, d_link);
        if (!uv_is_active((uv_handle_t *)&be->deadline_timer)) {
            deadline_arm(be);
        }
    }
}

/* The states whose requests wait for the wire, on backend->deadlines. */
static bool
waiting(enum req_state state)
{
    return state == REQ_QUEUED || state == REQ_ATTACHED;
}

/* req_move(): a request that goes back to the QUEUED state goes to the
 * front of its flow (it already waited its turn), not the back. */

/*
 * Move <r>, a request of <be>, to state <to>: off the list of its old
 * state, onto the list of the new one (see req.c). The one function that
 * changes req->state (pgbouncer's change_client_state()):
 *   QUEUED    its owner's flow of be->sched, at the back (at the front
 *             with MOVE_FRONT in <how>);
 *   ATTACHED  the followers of r->lead, which the caller has set;
 *   INFLIGHT  be->inflight, counted in n_inflight;
 *   DONE      none: out of the core, and out of the coalescing index.
 * QUEUED and ATTACHED requests are on be->deadlines too. <be> is NULL only
 * for a request that never reached a backend (unrouted), NEW to DONE.
 * Aborts on a transition the lifecycle does not have, or a request that
 * is not where its state says.
 */
void
req_move(struct backend *be, struct req *r, enum req_state to, unsigned how)
{
    enum req_state from = r->state;

    ASSERT(r->backend == be && req_transition_ok(from, to));
    ASSERT(be != NULL || to == REQ_DONE);
    switch (from) {
    case REQ_NEW:
        ASSERT(r->flow == NULL && !r->hashed);
        break;
    case REQ_QUEUED:
        sched_remove(&be->sched, r);
        break;
    case REQ_ATTACHED:
        ASSERT(r->lead != NULL && !r->hashed);
        TAILQ_REMOVE(&r->lead->followers, r, q_link);
        r->lead = NULL;
        break;
    case REQ_INFLIGHT:
        ASSERT(be->n_inflight > 0 && r->flow == NULL);
        TAILQ_REMOVE(&be->inflight, r, q_link);
        be->n_inflight--;
        r->attempt_deadline_ms = 0;
        break;
    default:
        ASSERT(!"a request in no state of the lifecycle");
    }
    if (waiting(from) && !waiting(to)) {
        TAILQ_REMOVE(&be->deadlines, r, d_link);
    }
    r->state = to;
    switch (to) {
    case REQ_QUEUED: {
        struct flow *f = sched_flow(&be->sched, r->owner,
                                    r->low    ? SCHED_LOW
                                    : r->prio ? SCHED_PRIO
                                              : SCHED_NORMAL);

        if (how & MOVE_FRONT) {
            sched_push_front(&be->sched, f, r);
        } else {
            sched_enqueue(&be->sched, f, r);
        }
        break;
    }
    case REQ_ATTACHED:
        ASSERT(r->lead != NULL && r->lead->state != REQ_ATTACHED &&
               TAILQ_EMPTY(&r->followers));
        TAILQ_INSERT_TAIL(&r->lead->followers, r, q_link);
        break;
    case REQ_INFLIGHT:
        TAILQ_INSERT_TAIL(&be->inflight, r, q_link);
        be->n_inflight++;
        break;
    default:
        ASSERT(r->flow == NULL && r->lead == NULL);
        if (r->hashed) {
            sched_unindex(&be->sched, r);
        }
        break;
    }
    if (!waiting(from) && waiting(to)) {
        deadline_add(be, r);
    }
}

/*
 * Frame <data> (<len> bytes) came valid from the device of <be>: its owner
 * offers it to the listeners that name <be> (backend_owner.device_frame).
 */
void
backend_device_frame(struct backend *be, const uint8_t *data, size_t len)
{
    if (be->owner != NULL && be->owner->device_frame != NULL &&
        !be->released) {
        be->owner->device_frame(be->owner, be, data, len);
    }
}

/*
 * True if <r> only reads, as far as the core goes (retries, coalescing,
 * the write rules): FC 1-4, or a read of the type's own (reads_only).
 */
bool
backend_is_read(const struct backend *be, const struct req *r)
{
    return pdu_is_read(req_fc(r)) ||
           (be->ops->reads_only != NULL && be->ops->reads_only(r));
}

/* --- completion ------------------------------------------------------- */

/*
 * DONE <lead> has its answer (a response or an exception) in req_rsp():
 * give a copy to every follower, then complete them all. Takes ownership
 * of all.
 */
static void
complete_all(struct backend *be, struct req *lead)
{
    struct req *f;

    while ((f = TAILQ_FIRST(&lead->followers)) != NULL) {
        req_move(be, f, REQ_DONE, 0);
        backend_merge_answer(lead, f);
        f->failed = lead->failed;
        f->local = lead->local;
        req_complete(f);
    }
    backend_merge_unwind(lead);
    req_complete(lead);
}

/* <lead>, wherever it is, has its answer: complete it and its followers. */
static void
finish(struct backend *be, struct req *lead)
{
    req_move(be, lead, REQ_DONE, 0);
    complete_all(be, lead);
}

static void
finish_exception(struct backend *be, struct req *lead, uint8_t code)
{
    policy_precheck_restore(lead);
    if ((code == MB_EX_GW_TARGET || code == MB_EX_GW_PATH) &&
        policy_stale_answer(be, lead, uv_now(be->loop))) {
        finish(be, lead);
        return;
    }
    if (!backend_is_read(be, lead)) {
        policy_forget(be, lead);     /* it may or may not have been written */
    }
    lead->rsp_len = pdu_exception(req_rsp(lead), req_fc(lead), code);
    lead->failed = true;
    rlog(LOG_DEBUG, lead, "exception 0x%02X", code);
    switch (code) {
    case MB_EX_GW_PATH:
        be->st.ex_down++;
        break;
    case MB_EX_GW_TARGET:
        be->st.ex_timeout++;
        break;
    default:
        break;
    }
    finish(be, lead);
}

/*
 * Lead <l> leaves before its transaction is done (its client left, or it
 * expired): the first follower takes over its place as the lead, with the
 * other followers and the attempts made so far, at the front of its own
 * client's flow. <l> must have followers.
 */
static void
handover(struct backend *be, struct req *l)
{
    struct req *f = TAILQ_FIRST(&l->followers);
    struct req *it;

    req_move(be, f, REQ_QUEUED, MOVE_FRONT);
    TAILQ_CONCAT(&f->followers, &l->followers, q_link);
    TAILQ_FOREACH(it, &f->followers, q_link) {
        it->lead = f;
    }
    f->attempts = l->attempts;
    f->step = l->step;
    if (l->merged) {
        /* it carries the others' ranges now: the merged read is its */
        f->merged = true;
        f->m_lo = pdu_get16(req_pdu(f) + 1);
        f->m_n = pdu_get16(req_pdu(f) + 3);
        memcpy(req_pdu(f) + 1, req_pdu(l) + 1, 4);
    }
    if (l->hashed) {
        sched_unindex(&be->sched, l);
        sched_index(&be->sched, f);
    }
    rlog(LOG_DEBUG, f, "takes over from R#%llu", (unsigned long long)l->id);
}

/* <r> (QUEUED, ATTACHED or INFLIGHT) leaves before its transaction is
 * done, with exception <code>: its followers go on without it. */
static void
give_up(struct backend *be, struct req *r, uint8_t code)
{
    if (!TAILQ_EMPTY(&r->followers)) {
        handover(be, r);
    }
    finish_exception(be, r, code);
}

/* INFLIGHT <r> needs the wire again (a retry, another step): back to the
 * front of its client's flow. One whose client has gone hands its place to
 * its first follower, or is dropped. */
static void
requeue(struct backend *be, struct req *r)
{
    if (r->owner == NULL) {
        give_up(be, r, MB_EX_GW_TARGET);
        return;
    }
    req_move(be, r, REQ_QUEUED, MOVE_FRONT);
}

/*
 * The device answered <r> (an INFLIGHT request of <be>) with the response
 * PDU now in req_rsp(<r>) (checked by the caller). Completes <r> and its
 * followers, and sends the next request if pacing allows. Takes ownership.
 */
void
backend_done(struct backend *be, struct req *r)
{
    if (r->saved != NULL && policy_precheck_done(be, r) == POLICY_DEVICE) {
        backend_continue(be, r);
        return;
    }
    /* Answered without the device (from the cache): no pause owed. */
    backend_quiet(be, r->local ? 0 : be->cfg.min_spacing_ms);
    if (r->merged && pdu_is_exception(req_rsp(r), r->rsp_len)) {
        be->st.responses++;
        be->st.device_exceptions++;
        backend_merge_undo(be, r);
        backend_kick(be);
        return;
    }
    be->st.responses++;
    stats_hist_add(&be->wire_time, uv_now(be->loop) - r->t_sent_ms);
    if (pdu_is_exception(req_rsp(r), r->rsp_len)) {
        be->st.device_exceptions++;
    }
    if (!be->proven) {
        be->proven = true;
        be->backoff_ms = BACKEND_BACKOFF_MIN_MS;
        be->failures = 0;
    }
    rlog(LOG_DEBUG, r, "response fc 0x%02X, %zu bytes", req_rsp(r)[0],
         r->rsp_len);
    policy_learn(be, r, uv_now(be->loop));
    /* The device link is the bottleneck: put the next request on it
     * before spending system calls on the replies to clients. */
    req_move(be, r, REQ_DONE, 0);
    backend_kick(be);
    complete_all(be, r);
}

/*
 * Complete INFLIGHT request <r> of <be>, and its followers, with the
 * proxy's exception <code>, without a retry. Takes ownership.
 */
void
backend_fail(struct backend *be, struct req *r, uint8_t code)
{
    backend_quiet(be, be->cfg.min_spacing_ms);
    finish_exception(be, r, code);
    backend_kick(be);
}

/* May <r> be sent again? Reads only, within retries and the deadline. */
static bool
may_retry(const struct backend *be, const struct req *r)
{
    return backend_is_read(be, r) && r->attempts <= be->cfg.retries &&
           uv_now(be->loop) < r->deadline_ms && !be->stopping;
}

/*
 * The attempt of INFLIGHT request <r> failed (<why>: a timeout, a response
 * that failed the checks, a lost connection). A read with retries left and
 * time before its deadline goes back to the front of its client's queue;
 * anything else, and every write, completes with 0x0B. Takes ownership.
 */
void
backend_attempt_failed(struct backend *be, struct req *r, const char *why)
{
    backend_quiet(be, be->cfg.min_spacing_ms);
    if (!may_retry(be, r) && backend_is_read(be, r) && !be->stopping &&
        r->attempts <= be->cfg.retries && !TAILQ_EMPTY(&r->followers)) {
        /* Only the lead's own deadline is over: those who came later
         * still have time for the attempt they are owed. */
        rlog(LOG_DEBUG, r, "attempt %u failed (%s) at its deadline",
             r->attempts, why);
        give_up(be, r, MB_EX_GW_TARGET);
        backend_kick(be);
        return;
    }
    if (!may_retry(be, r) ||
        (r->owner == NULL && TAILQ_EMPTY(&r->followers))) {
        rlog(LOG_DEBUG, r, "attempt %u failed (%s), giving up", r->attempts,
             why);
        finish_exception(be, r, MB_EX_GW_TARGET);
        backend_kick(be);
        return;
    }
    be->st.retries++;
    rlog(LOG_DEBUG, r, "attempt %u failed (%s), retrying", r->attempts, why);
    if (be->cfg.retry_delay_ms > be->cfg.min_spacing_ms) {
        be->ready_ns += (be->cfg.retry_delay_ms - be->cfg.min_spacing_ms) *
                        1000000ull;
    }
    requeue(be, r);
    backend_kick(be);
}

/*
 * Broadcast write <r> (backend unit 0) has been handed to the link; the
 * devices will not answer, so the client gets the normal write echo now.
 * Takes ownership.
 */
void
backend_broadcast_sent(struct backend *be, struct req *r)
{
    backend_quiet(be, MB_MAX(be->cfg.min_spacing_ms,
                             be->cfg.broadcast_delay_ms));
    be->st.broadcasts++;
    /* A read answered while it waited may have brought the old values
     * back into some unit's cache. */
    policy_forget(be, r);
    r->rsp_len = pdu_write_echo(req_rsp(r), req_pdu(r), r->pdu_len);
    ASSERT(r->rsp_len > 0);
    rlog(LOG_DEBUG, r, "broadcast sent");
    finish(be, r);
    backend_kick(be);
}

/*
 * INFLIGHT request <r> needs another device transaction (the next block of
 * a large read, the next register of a split write): it goes back to the
 * front of its client's queue, paced like any other, with a fresh count of
 * attempts. A request whose client has gone is handed to a follower, or
 * dropped. Takes ownership.
 */
void
backend_continue(struct backend *be, struct req *r)
{
    backend_quiet(be, be->cfg.min_spacing_ms);
    r->attempts = 0;
    requeue(be, r);
    backend_kick(be);
}

/*
 * Keep <be>'s line quiet for <ms> from now: nothing is transmitted before.
 * The core calls it when a request leaves the wire (min_spacing_ms; a
 * broadcast's broadcast_delay_ms; 0 for an answer that did not come from
 * the device). On links without transaction ids (RTU, tcp with check_tid
 * = no), the type calls it too: an answer that comes after its timeout,
 * or a copy of an answer (settle_ms), must arrive while nothing is on the
 * wire, to be drained, not taken for the next one's.
 */
void
backend_quiet(struct backend *be, unsigned ms)
{
    be->ready_ns = MB_MAX(be->ready_ns, uv_hrtime() + ms * 1000000ull);
}

/*
 * The backend type sent something of its own (a keepalive): the next
 * request waits min_spacing_ms from now, as after any other.
 */
void
backend_paced(struct backend *be)
{
    backend_quiet(be, be->cfg.min_spacing_ms);
}

/*
 * Return the INFLIGHT request of <be> sent with transaction id <tid>, or
 * NULL (a late answer to an attempt that already timed out, or garbage).
 */
struct req *
backend_match_tid(struct backend *be, uint16_t tid)
{
    struct req *r;

    TAILQ_FOREACH(r, &be->inflight, q_link) {
        if (r->be_tid == tid) {
            return r;
        }
    }
    return NULL;
}

/*
 * Return the oldest INFLIGHT request of <be>, or NULL: how responses are
 * matched on links without transaction ids (max_inflight = 1).
 */
struct req *
backend_match_oldest(struct backend *be)
{
    return TAILQ_FIRST(&be->inflight);
}

/*
 * The oldest arrival time of a cached register that may answer <r>: within
 * cache_ttl_ms, or since <r> was received (values fetched for it, or fanned
 * out while it waited, even with the cache off).
 */
uint64_t
backend_usable_since(const struct backend *be, const struct req *r)
{
    uint64_t now = uv_now(be->loop), ttl = be->cfg.cache_ttl_ms;
    uint64_t since = ttl > 0 && now > ttl ? now - ttl + 1 : now;

    return MB_MAX(MB_MIN(since, r->t_recv_ms), 1);
}

/* --- submission ------------------------------------------------------- */

/* Attach read <r> to an identical lead if there is one. */
static bool
try_coalesce(struct backend *be, struct req *r)
{
    struct req *lead = sched_find_read(&be->sched, r);

    /* A read sent before a write that came after it would answer with
     * what the write replaced: only reads of the same write epoch share.
     * A client never waits on one of the backend's own polls. */
    if (lead == NULL || lead->epoch != be->write_epoch ||
        (lead->low && !r->low)) {
        return false;
    }
    r->lead = lead;
    req_move(be, r, REQ_ATTACHED, 0);
    be->st.coalesced++;
    rlog(LOG_DEBUG, r, "attached to R#%llu", (unsigned long long)lead->id);
    return true;
}

/* NEW <r> (of <be>, NULL if unrouted) is answered at once, without the
 * device: its answer is in req_rsp(), or it is the exception <code>. */
static void
answer_now(struct backend *be, struct req *r)
{
    req_move(be, r, REQ_DONE, 0);
    req_complete(r);
}

static void
refuse(struct backend *be, struct req *r, uint8_t code)
{
    req_move(be, r, REQ_DONE, 0);
    req_fail(r, code);
}

/*
 * Submit NEW request <r> to <be>, the backend its unit routes to (with
 * r->backend = <be> and r->be_unit set), or NULL if no route leads
 * anywhere. The core's entry: takes ownership. <r> is queued, attached to
 * an identical read, answered without the device (the cache,
 * write_if_changed), or failed at once: a malformed PDU (0x01..0x03), no
 * route (0x0A), backend down (0x0A), refused by the write rules, a read to
 * broadcast (0x01), queue full (0x06).
 */
void
backend_submit(struct backend *be, struct req *r)
{
    uint8_t ex = pdu_check_request(req_pdu(r), r->pdu_len);
    bool read;

    ASSERT(r->state == REQ_NEW && r->backend == be);
    if (ex != MB_EX_NONE) {
        stats_srv.ex_bad_request++;
        rlog(LOG_DEBUG, r, "malformed request, fc 0x%02X %zu bytes",
             req_fc(r), r->pdu_len);
        refuse(be, r, ex);
        return;
    }
    if (be == NULL) {
        stats_srv.ex_no_route++;
        rlog(LOG_DEBUG, r, "no route for unit %u", r->unit);
        refuse(NULL, r, MB_EX_GW_PATH);
        return;
    }
    read = backend_is_read(be, r);
    be->st.requests++;
    r->deadline_ms = r->t_recv_ms + be->request_timeout_ms +
                     (backend_timeout_ms(be, r) - be->cfg.timeout_ms);
    if (be->ops->admit != NULL && (ex = be->ops->admit(be, r)) != 0) {
        refuse(be, r, ex);
        return;
    }
    if (!read) {
        switch (policy_write(be, r, uv_now(be->loop), &ex)) {
        case POLICY_REFUSE:
            r->refused = true;
            refuse(be, r, ex);
            return;
        case POLICY_ANSWER:
            r->local = true;
            answer_now(be, r);
            return;
        case POLICY_DEVICE:
            break;
        }
    }
    if (read && !r->low && pdu_is_read(req_fc(r))) {
        poller_client_read(be, r);
    }
    if (policy_cacheable(r) && be->cfg.cache_ttl_ms > 0 && !r->low) {
        if (policy_cache_answer(be, r, backend_usable_since(be, r))) {
            be->st.cache_hits++;
            rlog(LOG_DEBUG, r, "answered from the cache");
            r->local = true;
            answer_now(be, r);
            return;
        }
        be->st.cache_misses++;
    }
    if (be->down || be->stopping) {
        if (policy_stale_answer(be, r, uv_now(be->loop))) {
            r->local = true;
            answer_now(be, r);
            return;
        }
        be->st.ex_down++;
        refuse(be, r, MB_EX_GW_PATH);
        return;
    }
    if (r->be_unit == 0 &&
        (read || pdu_write_echo(req_rsp(r), req_pdu(r), r->pdu_len) == 0)) {
        refuse(be, r, MB_EX_ILLEGAL_FUNCTION);  /* nobody would answer it */
        return;
    }
    r->epoch = be->write_epoch;
    if (!read) {
        r->epoch = ++be->write_epoch;
        policy_forget(be, r);
    } else if (r->be_unit != 0 && try_coalesce(be, r)) {
        return;
    }
    if (be->sched.queued >= be->cfg.queue_depth) {
        be->st.ex_busy++;
        refuse(be, r, MB_EX_BUSY);
        return;
    }
    req_move(be, r, REQ_QUEUED, 0);
    if (read) {
        sched_index(&be->sched, r);
    }
    rlog(LOG_DEBUG, r, "queued (%u waiting)", be->sched.queued);
    backend_kick(be);
}

/*
 * The client of <r> (QUEUED, ATTACHED or INFLIGHT on <be>) has gone, and
 * has set r->owner to NULL. A queued or attached request is taken off and
 * freed; a queued lead first hands its followers over; an in-flight one is
 * left to be swallowed when it completes. Takes ownership. Nothing is
 * transmitted: the owner calls backend_owner_gone() once it has abandoned
 * all its requests.
 */
void
backend_abandon(struct backend *be, struct req *r)
{
    ASSERT(r->owner == NULL);
    switch (r->state) {
    case REQ_INFLIGHT:
        return;
    case REQ_QUEUED:
        if (!TAILQ_EMPTY(&r->followers)) {
            handover(be, r);
        }
        break;
    case REQ_ATTACHED:
        break;
    default:
        ASSERT(!"abandon in a state the core does not own");
    }
    req_move(be, r, REQ_DONE, 0);
    stats_srv.replies_dropped++;
    req_free(r);
}

/*
 * <owner> (a client session) has gone, its requests abandoned: drop its
 * flow from <be>'s queue, and send what a handover put at the front.
 */
void
backend_owner_gone(struct backend *be, const struct req_owner *owner)
{
    sched_drop_owner(&be->sched, owner);
    backend_kick(be);
}

/* --- transmission ----------------------------------------------------- */

/* Time until pacing allows the next transmission, in ns; 0 = now. */
static uint64_t
pace_wait_ns(const struct backend *be)
{
    uint64_t now = uv_hrtime();

    return now >= be->ready_ns ? 0 : be->ready_ns - now;
}

/* Hand INFLIGHT <r> to the type. It may finish <r> before transmit()
 * returns (an answer from its own cache, a broadcast, a write that
 * failed): the link is held meanwhile, so the kick that completion asks
 * for is the next turn of the loop in backend_kick(), not a call nested in
 * this one. */
static void
transmit(struct backend *be, struct req *r)
{
    backend_hold(be);
    be->ops->transmit(be, r);
    be->holding--;
    /* Still held only if the type holds on: its release goes on then. */
    be->kick_held = be->holding > 0;
}

/*
 * Send queued requests while <be> is up, has a free in-flight slot and
 * pacing allows; otherwise arm the pacing timer. The one loop that
 * transmits; while <be> is held it only notes that a kick is owed.
 */
void
backend_kick(struct backend *be)
{
    struct req *r;
    uint64_t wait;

    if (be->holding > 0) {
        be->kick_held = true;
        return;
    }
    while (be->holding == 0 && be->up && !be->stopping &&
           be->sched.queued > 0 && be->n_inflight < be->cfg.max_inflight) {
        wait = pace_wait_ns(be);
        if (wait > 0) {
            uv_timer_start(&be->pace_timer, pace_cb,
                           (wait + 999999) / 1000000, 0);
            return;
        }
        r = sched_next(&be->sched);
        if (r->deadline_ms <= uv_now(be->loop)) {
            /* Its deadline timer has not run yet: do not spend a device
             * transaction (and its spacing) on an answer nobody waits for. */
            give_up(be, r, MB_EX_GW_TARGET);
            continue;
        }
        if (r->precheck && r->saved == NULL) {
            policy_precheck_swap(r);
        }
        if (backend_merge_wanted(be, r)) {
            backend_merge_queued(be, r);
        }
        if (pdu_is_read(req_fc(r)) && r->pdu_len == 5) {
            unsigned qty = pdu_get16(req_pdu(r) + 3);

            be->st.registers_read += req_fc(r) <= MB_FC_READ_DISCRETE
                                         ? (qty + 15) / 16 : qty;
        }
        req_move(be, r, REQ_INFLIGHT, 0);
        r->t_sent_ms = uv_now(be->loop);
        if (r->attempts == 0 && r->step == 0) {
            stats_hist_add(&be->queue_wait, r->t_sent_ms - r->t_recv_ms);
        }
        r->attempts++;
        be->st.transactions++;
        rlog(LOG_DEBUG, r, "transmit, attempt %u", r->attempts);
        transmit(be, r);
    }
}

/*
 * Transmit nothing on <be> until backend_release_hold(): a backend type
 * parses everything one read brought before the next request goes out (on
 * a link without transaction ids, an answer's copy read after it would be
 * taken for its answer). Holds nest; the core holds too, while a paced
 * turn waits for the loop's poll and while transmit() runs.
 */
void
backend_hold(struct backend *be)
{
    be->holding++;
}

/*
 * End a backend_hold(); the last one sends what waited meanwhile.
 */
void
backend_release_hold(struct backend *be)
{
    ASSERT(be->holding > 0);
    if (--be->holding == 0 && be->kick_held) {
        be->kick_held = false;
        backend_kick(be);
    }
}

/* The pause is over. Bytes that came during it may still wait in the
 * socket: libuv runs timers before it polls, so the turn waits for this
 * iteration's poll (uv_check) under a hold, and the idle handle keeps that
 * poll from blocking. */
static void
pace_cb(uv_timer_t *t)
{
    struct backend *be = t->data;

    if (uv_is_active((uv_handle_t *)&be->pace_check) || be->stopping) {
        return;
    }
    backend_hold(be);
    uv_check_start(&be->pace_check, pace_check_cb);
    uv_idle_start(&be->pace_idle, pace_idle_cb);
}

static void
pace_idle_cb(uv_idle_t *i)
{
    (void)i;
}

/* The poll has run: what it read is parsed; the paced turn goes now. */
static void
pace_check_cb(uv_check_t *c)
{
    struct backend *be = c->data;

    uv_check_stop(&be->pace_check);
    uv_idle_stop(&be->pace_idle);
    be->kick_held = true;
    backend_release_hold(be);
}

/* Queued and attached requests past their deadline get 0x0B. */
static void
deadline_cb(uv_timer_t *t)
{
    struct backend *be = t->data;
    uint64_t now = uv_now(be->loop);
    struct req *r;

    while ((r = TAILQ_FIRST(&be->deadlines)) != NULL &&
           r->deadline_ms <= now) {
        rlog(LOG_DEBUG, r, "deadline passed after %llu ms in the queue",
             (unsigned long long)(now - r->t_recv_ms));
        give_up(be, r, MB_EX_GW_TARGET);
    }
    deadline_arm(be);
    backend_kick(be);       /* a handover may have queued a new lead */
}

/* --- attempt timeouts ------------------------------------------------- */

static void
attempt_arm(struct backend *be)
{
    uint64_t first = UINT64_MAX, now = uv_now(be->loop);
    struct req *r;

    TAILQ_FOREACH(r, &be->inflight, q_link) {
        if (r->attempt_deadline_ms != 0 && r->attempt_deadline_ms < first) {
            first = r->attempt_deadline_ms;
        }
    }
    if (first == UINT64_MAX) {
        uv_timer_stop(&be->attempt_timer);
        return;
    }
    uv_timer_start(&be->attempt_timer, attempt_cb,
                   first > now ? first - now : 0, 0);
}

/* timeout_ms of <be>, or the timeout_override covering <r>'s registers
 * (the longest, if several do). */
static unsigned
backend_timeout_ms(const struct backend *be, const struct req *r)
{
    unsigned lo, hi, ms = be->cfg.timeout_ms;

    if (be->cfg.n_overrides == 0 ||
        !pdu_range(req_pdu(r), r->pdu_len, &lo, &hi)) {
        return ms;
    }
    for (unsigned i = 0; i < be->cfg.n_overrides; i++) {
        const struct cfg_override *o = &be->cfg.overrides[i];

        if (lo <= o->hi && hi >= o->lo && o->timeout_ms > ms) {
            ms = o->timeout_ms;
        }
    }
    return ms;
}

/*
 * How long the next attempt of <r> may wait for its answer: timeout_ms (or
 * its timeout_override), cut short by the request's own deadline; at
 * least 1 ms. Backends that keep their own clock (a serial worker) use it.
 */
unsigned
backend_attempt_ms(struct backend *be, const struct req *r)
{
    uint64_t now = uv_now(be->loop);
    unsigned ms = backend_timeout_ms(be, r);

    if (r->deadline_ms <= now) {
        return 1;
    }
    return (unsigned)MB_MIN((uint64_t)ms, r->deadline_ms - now);
}

/*
 * Start the attempt clock of INFLIGHT request <r> just transmitted on
 * <be>: timeout_ms, cut short by the request's own deadline. On expiry the
 * core calls backend_attempt_failed(); a backend whose I/O cannot be
 * abandoned (a blocking serial worker) keeps its own clock instead.
 */
void
backend_attempt_start(struct backend *be, struct req *r)
{
    r->attempt_deadline_ms = uv_now(be->loop) + backend_attempt_ms(be, r);
    attempt_arm(be);        /* this attempt may end before the armed one */
}

static struct req *
first_expired(struct backend *be, uint64_t now)
{
    struct req *r;

    TAILQ_FOREACH(r, &be->inflight, q_link) {
        if (r->attempt_deadline_ms != 0 && r->attempt_deadline_ms <= now) {
            return r;
        }
    }
    return NULL;
}

static void
attempt_cb(uv_timer_t *t)
{
    struct backend *be = t->data;
    uint64_t now = uv_now(be->loop);
    struct req *r;

    while ((r = first_expired(be, now)) != NULL) {
        be->st.timeouts++;
        if (be->ops->attempt_timeout != NULL) {
            be->ops->attempt_timeout(be, r);
        } else {
            backend_attempt_failed(be, r, "timeout");
        }
    }
    attempt_arm(be);
}

/* --- connection state ------------------------------------------------- */

/* Fail everything queued with 0x0A: the link is down. */
static void
fail_queued(struct backend *be)
{
    struct req *r;

    while ((r = sched_next(&be->sched)) != NULL) {
        finish_exception(be, r, MB_EX_GW_PATH);
    }
}

static void
schedule_retry(struct backend *be, uint64_t delay_ms)
{
    if (!be->stopping) {
        uv_timer_start(&be->retry_timer, retry_cb, delay_ms, 0);
    }
}

static void
retry_cb(uv_timer_t *t)
{
    struct backend *be = t->data;

    if (!be->stopping) {
        be->ops->start(be);
    }
}

/*
 * The backend type reports that <be>'s link is ready for requests.
 */
void
backend_connected(struct backend *be)
{
    be->st.connects++;
    be->up = true;
    be->up_since_ms = uv_now(be->loop);
    be->proven = false;
    if (be->down) {
        blog(LOG_INFO, be, "up again after %u failed attempts", be->failures);
    } else {
        blog(LOG_INFO, be, "connected");
    }
    be->down = false;
    backend_kick(be);
}

/*
 * The backend type reports that a connection attempt of <be> failed
 * (<why>). Queued requests fail with 0x0A, new ones fail fast until the
 * next attempt, which comes after the back-off (0.5 s doubling to 30 s).
 */
void
backend_conn_failed(struct backend *be, const char *why)
{
    be->st.connect_failures++;
    be->up = false;
    be->failures++;
    backend_note_error(be, why);
    if (log_limit_nth(be->failures)) {
        blog(LOG_WARN, be, "connect failed (%s), attempt %u, next in %llu ms",
             why, be->failures, (unsigned long long)be->backoff_ms);
    }
    be->down = true;
    fail_queued(be);
    schedule_retry(be, be->backoff_ms);
    be->backoff_ms = MB_MIN(be->backoff_ms * 2, BACKEND_BACKOFF_MAX_MS);
}

/*
 * The backend type reports that <be>'s established link broke (<why>);
 * it has closed its transport. Requests on the wire are retried (reads
 * with retries left) or fail with 0x0B. A link that had worked is reopened
 * at once with the queue kept; one that never answered is treated as a
 * failed attempt.
 */
void
backend_conn_lost(struct backend *be, const char *why)
{
    struct req *r;

    be->st.disconnects++;
    be->up = false;
    backend_note_error(be, why);
    blog(be->stopping ? LOG_DEBUG : LOG_WARN, be, "connection lost: %s", why);
    while ((r = TAILQ_FIRST(&be->inflight)) != NULL) {
        backend_attempt_failed(be, r, why);
    }
    if (be->stopping) {
        return;
    }
    if (be->proven) {
        be->proven = false;
        schedule_retry(be, 0);
        return;
    }
    backend_conn_failed(be, why);
}

/* --- teardown --------------------------------------------------------- */

static void
timer_closed_cb(uv_handle_t *h)
{
    backend_handle_closed(h->data);
}

/*
 * The backend type has opened a handle (or started a lookup) whose
 * callback will use <be>: <be> is not freed before the matching
 * backend_handle_closed().
 */
void
backend_handle_opened(struct backend *be)
{
    be->open_handles++;
}

/*
 * One of <be>'s handles (or a pending lookup) has closed. A released
 * backend is freed when its last one has.
 */
void
backend_handle_closed(struct backend *be)
{
    ASSERT(be->open_handles > 0);
    if (--be->open_handles == 0 && be->released) {
        backend_free(be);
    }
}

/*
 * Stop <be> for good outside shutdown (a reload removed or replaced it):
 * every request it holds completes now (0x0A queued, 0x0B on the wire),
 * and it frees itself once its handles have closed (its link is closed by
 * then: a serial worker has closed the port and ended).
 */
void
backend_release(struct backend *be)
{
    backend_stop(be);
    be->released = true;
    if (be->open_handles == 0) {
        backend_free(be);
    }
}

/*
 * A reload kept <be> with new settings <cfg> (the link itself unchanged)
 * and <request_timeout_ms>. Queue, connection and cache stay.
 */
void
backend_update(struct backend *be, const struct cfg_backend *cfg,
               unsigned request_timeout_ms)
{
    be->cfg = *cfg;
    be->request_timeout_ms = request_timeout_ms;
    poller_update(be);
    backend_kick(be);
}

/*
 * Stop <be>: fail what is queued with 0x0A, let the type close its link
 * (what is on the wire fails with 0x0B), close the timers. Every request
 * is complete when this returns; the memory goes with backend_free() once
 * the loop has run the close callbacks.
 */
void
backend_stop(struct backend *be)
{
    struct req *r;

    if (be->stopping) {
        return;
    }
    be->stopping = true;
    fail_queued(be);
    be->up = false;
    if (be->priv != NULL) {
        be->ops->stop(be);
    }
    while ((r = TAILQ_FIRST(&be->inflight)) != NULL) {
        backend_fail(be, r, MB_EX_GW_TARGET);
    }
    ASSERT(TAILQ_EMPTY(&be->deadlines));
    uv_close((uv_handle_t *)&be->pace_timer, timer_closed_cb);
    uv_close((uv_handle_t *)&be->deadline_timer, timer_closed_cb);
    uv_close((uv_handle_t *)&be->attempt_timer, timer_closed_cb);
    uv_close((uv_handle_t *)&be->retry_timer, timer_closed_cb);
    if (uv_is_active((uv_handle_t *)&be->pace_check)) {
        backend_release_hold(be);   /* nothing goes out: be is stopping */
    }
    uv_close((uv_handle_t *)&be->pace_check, timer_closed_cb);
    uv_close((uv_handle_t *)&be->pace_idle, timer_closed_cb);
    uv_close((uv_handle_t *)&be->poll.timer, timer_closed_cb);
}

/*
 * Free stopped backend <be> after its handles have closed. NULL is a no-op.
 */
void
backend_free(struct backend *be)
{
    if (be == NULL) {
        return;
    }
    ASSERT(be->stopping && be->open_handles == 0);
    if (!be->discarded && be->owner != NULL) {
        be->owner->gone(be->owner, be);     /* may start its replacement */
    }
    if (be->priv != NULL) {
        be->ops->destroy(be);
    }
    cache_clear(&be->cache);
    cache_clear(&be->writes);
    sched_close(&be->sched);
    free(be);
}

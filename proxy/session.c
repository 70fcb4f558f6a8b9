/* SPDX-License-Identifier: MIT */
/*
 * session.c -- one client connection.
 *
 * Reads go into the server's shared buffer and are cut into requests by
 * the session's front end (frontend.h: "modbus" is MBAP over TCP), which
 * keeps what it needs between reads (a partial frame) in its state; each
 * request is routed and submitted at once (the core checks its PDU). The
 * session does not know the protocol: the front end turns each answer
 * into the bytes to write (an MBAP header in front of the PDU), or into
 * none.
 *
 * Replies carry the client's transaction id and unit id. Those to one
 * backend go out in the order they were asked (unless the front end's
 * clients match answers by content: frontend_ops.any_order): a read
 * coalesced with an earlier identical one, a cache hit or a refusal would otherwise overtake
 * a request still queued, and some clients match answers by arrival order.
 * An answer that is ready early is held (req->held) in the session until
 * every earlier request of the session to that backend has been answered;
 * a struct session_order per backend the session has used keeps that
 * order, so holding and releasing cost O(1) per request (finding it walks
 * the few backends the session uses). Across backends
 * answers go out as they come: a slow bus must not hold up a fast device.
 *
 * The session owns its requests: it keeps them on its own list
 * (session->reqs), hands them to the core with backend_submit(), and gets
 * them back through its struct req_owner (session_done_cb()), never by
 * the core naming a function of this file.
 *
 * Back-pressure: a client may have client_max_pending requests
 * outstanding; the read buffer handed to libuv is sized so that one read
 * cannot bring more, and reading pauses at the limit until replies drain.
 *
 * Input the front end cannot read (a malformed MBAP header), or a frame
 * not whole SESSION_FRAME_MS after it started (while we were reading),
 * closes this connection only, logged with the reason. The sessions
 * reading a partial frame are on server->partials, oldest first, and one
 * timer watches the oldest: idle clients cost nothing. A client that ends
 * its input (a half-close, as "printf REQUEST | socat - TCP:HOST:PORT"
 * does) still gets the answers to what it asked; the connection closes
 * once they are written. Closing frees what the session owns and leaves
 * requests the backends hold to be swallowed (see req.c).
 *
 * A session is never closed inside a completion: one whose reply cannot be
 * written, or that has written its last answer after its input ended (or
 * while draining), is marked ending, put on server->ending, and closed
 * from the server's end_timer on the loop's next turn. Answers that reach
 * an ending session meanwhile are dropped.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "listener.h"
#include "router.h"
#include "server.h"
#include "session.h"
#include "stats.h"

/* The answers a session owes on one backend, in the order asked. Kept
 * until the session closes: a client polling one register at a time does
 * not allocate one per request. One with no request in it constrains
 * nothing: it serves whichever backend needs an order next, so nothing
 * keys it (nothing to go stale when a reload frees a backend), and a
 * session has as many as backends it waits for at once. */
struct session_order {
    SLIST_ENTRY(session_order) link;  /* session->orders */
    struct req_list reqs;             /* routed to one backend, answer not
                                         written yet, oldest first
                                         (o_link) */
};

static void session_read_cb(uv_stream_t *stream, ssize_t nread,
                            const uv_buf_t *buf);
static void frame_timer_cb(uv_timer_t *t);
static void session_done_cb(struct req_owner *o, struct req *r);
static uint64_t session_owner_id(const struct req_owner *o);

static const struct req_owner_ops session_owner_ops = {
    .done = session_done_cb,
    .id = session_owner_id,
};

static int session_request_cb(struct fe_conn *c,
                              const struct fe_request *rq);
static int session_send(struct fe_conn *c, const uint8_t *data, size_t len);
static const struct cfg_listener *session_settings(const struct fe_conn *c);
static struct backend *session_backend(const struct fe_conn *c);
static void session_ignored(struct fe_conn *c, const char *what);

/* What every session offers its front end. */
static const struct fe_host session_fe_host = {
    .request = session_request_cb,
    .send = session_send,
    .ignored = session_ignored,
    .settings = session_settings,
    .backend = session_backend,
};

/*
 * Allocate a session of <srv> whose client speaks front-end type <fe>,
 * with its TCP handle initialised, ready for uv_accept(), and the front
 * end's state set up. Returns it; never NULL.
 */
struct session *
session_new_type(struct server *srv, const struct frontend_ops *fe)
{
    struct session *s = xcalloc(1, sizeof(*s) + fe->state_size);

    uv_tcp_init(srv->loop, &s->tcp);
    s->tcp.data = s;
    s->srv = srv;
    s->id = ++srv->next_session_id;
    s->owner.ops = &session_owner_ops;
    TAILQ_INIT(&s->reqs);
    SLIST_INIT(&s->orders);
    snprintf(s->peer, sizeof(s->peer), "?");
    s->fe.ops = fe;
    s->fe.host = &session_fe_host;
    s->fe.state = s->fe_state;
    if (fe->open != NULL) {
        fe->open(&s->fe);
    }
    return s;
}

/*
 * A session of <srv> for a client of the default front-end type
 * (FRONTEND_DEFAULT), as session_new_type(). Returns it; never NULL.
 */
struct session *
session_new(struct server *srv)
{
    const struct frontend_ops *fe = frontend_find(FRONTEND_DEFAULT);

    ASSERT(fe != NULL);
    return session_new_type(srv, fe);
}

static void
session_closed_cb(uv_handle_t *h)
{
    struct session *s = h->data;

    if (s->fe.ops->close != NULL) {
        s->fe.ops->close(&s->fe);
    }
    listener_unref(s->listener);
    free(s);
}

/*
 * Free session <s>, accepted but never started (over max_clients).
 */
void
session_discard(struct session *s)
{
    uv_close((uv_handle_t *)&s->tcp, session_closed_cb);
}

/*
 * The client address of <s> in <ss>; false if the socket cannot say.
 */
bool
session_peer_addr(struct session *s, struct sockaddr_storage *ss)
{
    int len = sizeof(*ss);

    return uv_tcp_getpeername(&s->tcp, (struct sockaddr *)ss, &len) == 0;
}

static void
session_peer(struct session *s)
{
    struct sockaddr_storage ss;

    if (!session_peer_addr(s, &ss)) {
        return;
    }
    acl_addr_name((struct sockaddr *)&ss, s->peer, sizeof(s->peer));
}

/* Requests a client may still send before reading pauses. */
static unsigned
session_allowance(const struct session *s)
{
    unsigned max = s->srv->cfg->server.client_max_pending;

    return s->pending >= max ? 0 : max - s->pending;
}

static void
session_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct session *s = h->data;
    size_t min = s->fe.ops->request_min;
    size_t n = (size_t)session_allowance(s) * min;

    (void)suggested;
    if (n == 0) {
        n = min;                /* paused; libuv asks once more at most */
    }
    *buf = uv_buf_init((char *)s->srv->rbuf, (unsigned)MB_MIN(n, SERVER_RBUF));
}

/* The answer order of <s> on backend <be>: the one whose requests go to
 * <be>, else an empty one, else a new one. */
static struct session_order *
session_order(struct session *s, const struct backend *be)
{
    struct session_order *o, *spare = NULL;
    struct req *first;

    SLIST_FOREACH(o, &s->orders, link) {
        first = TAILQ_FIRST(&o->reqs);
        if (first != NULL && first->backend == be) {
            return o;
        }
        if (first == NULL && spare == NULL) {
            spare = o;
        }
    }
    if (spare != NULL) {
        return spare;
    }
    o = xcalloc(1, sizeof(*o));
    TAILQ_INIT(&o->reqs);
    SLIST_INSERT_HEAD(&s->orders, o, link);
    return o;
}

/* <r> is <s>'s: on its list, counted in pending. */
static void
session_track(struct session *s, struct req *r)
{
    TAILQ_INSERT_TAIL(&s->reqs, r, s_link);
    s->pending++;
}

/* <r> is no longer <s>'s (written, dropped, or the client going): off its
 * list and its answer order, its owner gone. */
static void
session_untrack(struct session *s, struct req *r)
{
    TAILQ_REMOVE(&s->reqs, r, s_link);
    s->pending--;
    if (r->order != NULL) {
        TAILQ_REMOVE(&r->order->reqs, r, o_link);
        r->order = NULL;
    }
    r->owner = NULL;
}

/* The backend that the listener of <s> names ([listener] backend),
 * running now; NULL if none. */
static struct backend *
session_bound_backend(const struct session *s)
{
    const struct cfg_listener *lc = s->listener != NULL ? s->listener->cfg
                                                        : NULL;

    if (lc == NULL || lc->backend_index < 0) {
        return NULL;
    }
    return s->srv->backends[lc->backend_index];
}

/* Route one request and submit it to the core, with what the core needs
 * to know of its client. Takes ownership of <r>. The clients of a
 * listener that names a backend address its units directly; the others
 * go through [route]. A routed request takes its place in the answer
 * order of its backend first, even one refused at once. */
static void
session_dispatch(struct session *s, struct req *r)
{
    int bi;
    uint8_t be_unit;

    r->read_only = s->read_only;
    r->prio = s->priority;
    if (s->listener != NULL && s->listener->bound) {
        r->backend = session_bound_backend(s);
        r->be_unit = r->unit;
    } else if (router_lookup(&s->srv->router, r->unit, &bi, &be_unit)) {
        r->backend = s->srv->backends[bi];
        r->be_unit = be_unit;
    }
    if (r->backend != NULL && !s->fe.ops->any_order) {
        r->order = session_order(s, r->backend);
        TAILQ_INSERT_TAIL(&r->order->reqs, r, o_link);
    }
    backend_submit(r->backend, r);
}

/* fe_host.settings: the section of the listener of <c>'s session. */
static const struct cfg_listener *
session_settings(const struct fe_conn *c)
{
    const struct session *s = container_of(c, const struct session, fe);

    return s->listener != NULL ? s->listener->cfg : NULL;
}

/* fe_host.ignored: a frame of <c>'s client that its protocol ignores. */
static void
session_ignored(struct fe_conn *c, const char *what)
{
    struct session *s = container_of(c, struct session, fe);

    if (s->listener != NULL) {
        s->listener->ignored++;
    }
    slog(LOG_DEBUG, s, "frame ignored: %s", what);
}

/* fe_host.backend: the backend the listener of <c>'s session names. */
static struct backend *
session_backend(const struct fe_conn *c)
{
    return session_bound_backend(container_of(c, const struct session, fe));
}

/* fe_host.request: one request of the session of front end <c>. */
static int
session_request_cb(struct fe_conn *c, const struct fe_request *rq)
{
    struct session *s = container_of(c, struct session, fe);
    struct req *r;

    stats_srv.requests++;
    s->n_requests++;
    if (s->listener != NULL) {
        s->listener->requests++;
    }
    r = req_new(&s->owner, rq->tid, rq->unit, rq->pdu, rq->pdu_len,
                uv_now(s->srv->loop));
    session_track(s, r);
    if (log_enabled(LOG_TRACE)) {
        rlog(LOG_TRACE, r, "tid %u", r->tid);
        log_hexdump("  pdu", rq->pdu, rq->pdu_len);
    }
    session_dispatch(s, r);
    return s->closing || s->ending ? 1 : 0;
}

/* Bytes of an unfinished request that the front end of <s> holds. */
static size_t
session_partial_len(const struct session *s)
{
    return s->fe.ops->partial(&s->fe);
}

/* Leave server->partials. */
static void
session_partial_end(struct session *s)
{
    if (s->partial) {
        TAILQ_REMOVE(&s->srv->partials, s, p_link);
        s->partial = false;
    }
}

/* Watch <s> on server->partials while it reads with a partial frame held;
 * the clock starts when it joins (a new frame, or reading resumed: a
 * client is not slow while we are not reading it). */
static void
session_partial_watch(struct session *s)
{
    struct server *srv = s->srv;

    if (!s->reading || session_partial_len(s) == 0) {
        session_partial_end(s);
        return;
    }
    if (s->partial) {
        return;
    }
    s->partial = true;
    s->frame_ms = uv_now(srv->loop);
    TAILQ_INSERT_TAIL(&srv->partials, s, p_link);
    /* The list is oldest first, so an armed timer is due no later. */
    if (!uv_is_active((uv_handle_t *)&srv->frame_timer)) {
        uv_timer_start(&srv->frame_timer, frame_timer_cb, SESSION_FRAME_MS, 0);
    }
}

/* Close the sessions whose frame has taken SESSION_FRAME_MS, then wait
 * for the oldest of the others. */
static void
frame_timer_cb(uv_timer_t *t)
{
    struct server *srv = t->data;
    uint64_t now = uv_now(srv->loop);
    struct session *s;

    while ((s = TAILQ_FIRST(&srv->partials)) != NULL &&
           now - s->frame_ms >= SESSION_FRAME_MS) {
        stats_srv.clients_closed_slow++;
        session_close(s, LOG_WARN, "frame unfinished after %u ms (%zu "
                      "bytes of it): closing", SESSION_FRAME_MS,
                      session_partial_len(s));
    }
    if (s != NULL) {
        uv_timer_start(t, frame_timer_cb, s->frame_ms + SESSION_FRAME_MS - now,
                       0);
    }
}

static void
session_pause_or_resume(struct session *s)
{
    bool want = !s->closing && !s->ending && !s->draining && !s->eof &&
                session_allowance(s) > 0;

    if (want && !s->reading) {
        uv_read_start((uv_stream_t *)&s->tcp, session_alloc_cb,
                      session_read_cb);
    } else if (!want && s->reading) {
        uv_read_stop((uv_stream_t *)&s->tcp);
    }
    s->reading = want;
    session_partial_watch(s);
}

/* The client has ended its input: answer what it asked, then close (a
 * client that has closed for good shows itself at the first write). */
static void
session_eof(struct session *s)
{
    if (s->pending == 0) {
        session_close(s, LOG_DEBUG, "closed by the client");
        return;
    }
    s->eof = true;
    slog(LOG_DEBUG, s, "end of input%s: answering %u outstanding requests",
         session_partial_len(s) > 0 ? " in a frame" : "", s->pending);
    session_pause_or_resume(s);
}

static void
session_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct session *s = stream->data;
    uint64_t frames = s->n_requests;
    char why[120];
    int rc;

    if (nread == 0 || s->closing) {
        return;
    }
    if (nread < 0) {
        if (nread == UV_EOF) {
            session_eof(s);
        } else {
            session_close(s, LOG_DEBUG, "%s", uv_strerror((int)nread));
        }
        return;
    }
    s->last_rx_ms = uv_now(s->srv->loop);
    rc = s->fe.ops->feed(&s->fe, (const uint8_t *)buf->base, (size_t)nread,
                         why, sizeof(why));
    if (rc < 0 && !s->closing) {
        stats_srv.clients_closed_bad++;
        session_close(s, LOG_WARN, "%s: closing", why);
        return;
    }
    if (!s->closing) {
        if (s->n_requests != frames) {
            session_partial_end(s);     /* what it holds is a new frame */
        }
        session_pause_or_resume(s);
    }
}

/*
 * Start reading from accepted session <s> and put it on the server's list.
 */
void
session_start(struct session *s)
{
    struct server *srv = s->srv;

    TAILQ_INSERT_TAIL(&srv->sessions, s, link);
    srv->n_sessions++;
    stats_srv.clients_accepted++;
    session_peer(s);
    uv_tcp_nodelay(&s->tcp, 1);
    s->last_rx_ms = uv_now(srv->loop);
    s->connected_ms = s->last_rx_ms;
    slog(LOG_DEBUG, s, "connected (%u clients)%s%s", srv->n_sessions,
         s->read_only ? ", read-only" : "", s->priority ? ", priority" : "");
    session_pause_or_resume(s);
}

/*
 * Close session <s>, logging <fmt> at <level> once. Frees the requests it
 * owns, abandons those the backends hold (see req.c), tells every backend
 * that it has gone, and frees <s> in the close callback. Safe to call
 * twice; never called inside a completion (see session_end()).
 */
void
session_close(struct session *s, int level, const char *fmt, ...)
{
    struct server *srv = s->srv;
    struct session_order *o;
    char why[160];
    struct req *r;
    va_list ap;

    if (s->closing) {
        return;
    }
    s->closing = true;
    if (s->ending) {
        TAILQ_REMOVE(&srv->ending, s, p_link);
    }
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    slog(level, s, "%s (%u requests outstanding)", why, s->pending);
    session_partial_end(s);
    while ((r = TAILQ_FIRST(&s->reqs)) != NULL) {
        session_untrack(s, r);
        switch (r->state) {
        case REQ_QUEUED:
        case REQ_ATTACHED:
        case REQ_INFLIGHT:
            backend_abandon(r->backend, r);
            break;
        case REQ_DONE:
            if (r->held) {          /* never written: ours to free */
                stats_srv.replies_dropped++;
                req_free(r);
            }
            break;                  /* else its write callback frees it */
        default:
            stats_srv.replies_dropped++;
            req_free(r);
            break;
        }
    }
    for (unsigned i = 0; i < srv->cfg->n_backends; i++) {
        backend_owner_gone(srv->backends[i], &s->owner);
    }
    while ((o = SLIST_FIRST(&s->orders)) != NULL) {
        ASSERT(TAILQ_EMPTY(&o->reqs));
        SLIST_REMOVE_HEAD(&s->orders, link);
        free(o);
    }
    TAILQ_REMOVE(&srv->sessions, s, link);
    srv->n_sessions--;
    if (s->listener != NULL) {
        s->listener->connected--;
    }
    uv_close((uv_handle_t *)&s->tcp, session_closed_cb);
    server_session_gone(srv);
}

/*
 * Shutdown: stop taking requests from <s>, close it once its outstanding
 * requests have been answered.
 */
void
session_drain(struct session *s)
{
    s->draining = true;
    session_pause_or_resume(s);
    if (s->pending == 0) {
        session_close(s, LOG_DEBUG, "shutting down");
    }
}

/* Close the sessions marked ending, on a clean stack. */
static void
end_timer_cb(uv_timer_t *t)
{
    struct server *srv = t->data;
    struct session *s;

    while ((s = TAILQ_FIRST(&srv->ending)) != NULL) {
        if (s->end_err < 0) {
            session_close(s, LOG_DEBUG, "write: %s", uv_strerror(s->end_err));
        } else {
            session_close(s, LOG_DEBUG, "%s", s->eof
                          ? "closed by the client, every answer written"
                          : "shutting down");
        }
    }
}

/* Mark <s> ending (a write error <err>, or 0: it has nothing more to do):
 * it reads no more, drops the answers that still come, and closes on the
 * loop's next turn. */
static void
session_end(struct session *s, int err)
{
    if (s->closing || s->ending) {
        return;
    }
    s->ending = true;
    s->end_err = err;
    session_pause_or_resume(s);     /* leaves server->partials: p_link */
    ASSERT(!s->partial);
    TAILQ_INSERT_TAIL(&s->srv->ending, s, p_link);
    uv_timer_start(&s->srv->end_timer, end_timer_cb, 0, 0);
}

/* A request of <s> is over: read again if reading paused at
 * client_max_pending; a client that ended its input, or a draining one,
 * is done once every answer is written. */
static void
session_request_over(struct session *s)
{
    if (s->closing || s->ending) {
        return;
    }
    if ((s->draining || s->eof) && s->pending == 0) {
        session_end(s, 0);
        return;
    }
    if (!s->reading) {
        session_pause_or_resume(s);
    }
}

static void
session_write_cb(uv_write_t *w, int status)
{
    struct req *r = container_of(w, struct req, wreq);
    struct session *s = r->owner != NULL
                            ? container_of(r->owner, struct session, owner)
                            : NULL;

    if (status == 0) {
        stats_srv.replies++;
        if (s != NULL) {
            s->n_replies++;
        }
    } else {
        stats_srv.replies_dropped++;
    }
    if (s == NULL) {
        req_free(r);
        return;
    }
    session_untrack(s, r);
    req_free(r);
    if (status < 0 && status != UV_ECANCELED) {
        session_end(s, status);
    }
    session_request_over(s);
}

/* The listener of <s> counts answer <r>, <len> bytes (0: silence). */
static void
session_count_answer(struct session *s, const struct req *r, size_t len)
{
    struct listener *l = s->listener;

    if (l == NULL) {
        return;
    } else if (len == 0) {
        l->silent++;
    } else {
        l->answered++;
        l->answered_local += r->local;
    }
}

/* Write the answer of DONE request <r>, which leaves its order, in the
 * bytes its front end makes of it. Takes ownership of <r>. A write error
 * marks <s> ending. */
static void
session_write(struct session *s, struct req *r)
{
    const uint8_t *out;
    size_t len;
    uv_buf_t b;
    int rc;

    if (r->order != NULL) {
        TAILQ_REMOVE(&r->order->reqs, r, o_link);
        r->order = NULL;
    }
    r->held = false;
    len = s->fe.ops->encode_reply(&s->fe, r, &out);
    if (log_enabled(LOG_TRACE)) {
        rlog(LOG_TRACE, r, "reply tid %u", r->tid);
        log_hexdump("  rsp", req_rsp(r), r->rsp_len);
    }
    session_count_answer(s, r, len);
    if (len == 0) {
        /* The protocol answers this with silence: answered all the same. */
        stats_srv.replies++;
        s->n_replies++;
        session_untrack(s, r);
        req_free(r);
        session_request_over(s);
        return;
    }
    b = uv_buf_init((char *)out, (unsigned)len);
    rc = uv_try_write((uv_stream_t *)&s->tcp, &b, 1);
    if (rc == (int)len) {
        stats_srv.replies++;
        s->n_replies++;
        session_untrack(s, r);
        req_free(r);
        session_request_over(s);
        return;
    }
    if (rc >= 0 || rc == UV_EAGAIN) {
        rc = rc < 0 ? 0 : rc;
        b = uv_buf_init((char *)out + rc, (unsigned)(len - (size_t)rc));
        rc = uv_write(&r->wreq, (uv_stream_t *)&s->tcp, &b, 1,
                      session_write_cb);
        if (rc == 0) {
            return;
        }
    }
    stats_srv.replies_dropped++;
    session_untrack(s, r);
    req_free(r);
    session_end(s, rc);
}

/* Bytes a front end writes on its own, copied (session_send). */
struct session_send_req {
    uv_write_t      w;
    struct session *s;
    size_t          len;
    uint8_t         data[];
};

static void
session_send_cb(uv_write_t *w, int status)
{
    struct session_send_req *q = container_of(w, struct session_send_req, w);

    /* A failed write shows again at the next read or answer, which close
     * the session; nothing to do here but count and free. The session
     * outlives its writes: libuv cancels them before closing it. */
    (void)status;
    q->s->send_queued -= q->len;
    free(q);
}

/* fe_host.send: write <len> bytes of <data> to the client of the session
 * of front end <c>, after any answer already queued. Returns 0 or a
 * negative UV_E* code. */
static int
session_send(struct fe_conn *c, const uint8_t *data, size_t len)
{
    struct session *s = container_of(c, struct session, fe);
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    struct session_send_req *w;
    int rc;

    if (s->closing || s->ending) {
        return UV_ECANCELED;
    }
    if (s->send_queued + len > SESSION_SEND_MAX) {
        if (s->listener != NULL) {
            s->listener->send_dropped++;
        }
        return UV_ENOBUFS;      /* it does not read: bounded, dropped */
    }
    rc = s->send_queued > 0 ? UV_EAGAIN
                            : uv_try_write((uv_stream_t *)&s->tcp, &b, 1);
    if (rc == (int)len) {
        return 0;
    }
    if (rc < 0 && rc != UV_EAGAIN) {
        return rc;
    }
    rc = rc < 0 ? 0 : rc;
    w = xmalloc(sizeof(*w) + len - (size_t)rc);
    w->s = s;
    w->len = len - (size_t)rc;
    memcpy(w->data, data + rc, w->len);
    b = uv_buf_init((char *)w->data, (unsigned)w->len);
    rc = uv_write(&w->w, (uv_stream_t *)&s->tcp, &b, 1, session_send_cb);
    if (rc != 0) {
        free(w);
        return rc;
    }
    s->send_queued += w->len;
    return 0;
}

/*
 * Frame <data> (<len> bytes) came from the device link of backend <be>:
 * offer it to the front end of <s> if its listener names <be> (a dongle
 * copies what it sends to every client).
 */
void
session_device_frame(struct session *s, const struct backend *be,
                     const uint8_t *data, size_t len)
{
    if (s->closing || s->ending || s->fe.ops->device_frame == NULL ||
        session_bound_backend(s) != be) {
        return;
    }
    if (s->fe.ops->device_frame(&s->fe, data, len)) {
        s->listener->fanned_out++;
    }
}

/*
 * About once a second: what the front end of <s> sends on its own.
 */
void
session_tick(struct session *s, uint64_t now_ms)
{
    if (!s->closing && !s->ending && s->fe.ops->tick != NULL) {
        s->fe.ops->tick(&s->fe, now_ms);
    }
}

/*
 * Answer DONE request <r> to client <s> with the client's transaction and
 * unit ids. Takes ownership of <r>: it is freed once written (at once when
 * the socket takes it whole, the common case). If an earlier request of
 * <s> to the same backend has no answer yet, <r> is held until it has;
 * answering the earliest one writes every held answer behind it. */
static void
session_reply(struct session *s, struct req *r)
{
    struct session_order *o = r->order;

    if (o != NULL && TAILQ_FIRST(&o->reqs) != r) {
        r->held = true;
        rlog(LOG_DEBUG, r, "answer held for R#%llu, asked before it",
             (unsigned long long)TAILQ_FIRST(&o->reqs)->id);
        return;
    }
    session_write(s, r);
    /* A write error marks <s> ending: what is held stays for the close. */
    while (o != NULL && !s->ending && (r = TAILQ_FIRST(&o->reqs)) != NULL &&
           r->held) {
        session_write(s, r);
    }
}

/* The log id of the session that owns <o>, for request logs. */
static uint64_t
session_owner_id(const struct req_owner *o)
{
    return container_of(o, struct session, owner)->id;
}

/* The core has finished request <r> of the session that owns <o>. An
 * ending session drops it: its client will not read it. */
static void
session_done_cb(struct req_owner *o, struct req *r)
{
    struct session *s = container_of(o, struct session, owner);

    if (s->ending) {
        stats_srv.replies_dropped++;
        session_untrack(s, r);
        req_free(r);
        return;
    }
    session_reply(s, r);
}

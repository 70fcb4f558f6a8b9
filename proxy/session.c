/* SPDX-License-Identifier: MIT */
/*
 * session.c -- one client connection.
 *
 * Reads go into the server's shared buffer and are cut into requests by
 * the session's front end (frontend.h: "modbus" is MBAP over TCP), which
 * keeps what it needs between reads (a partial frame) in its state; each
 * request is checked, routed and submitted at once. The session does not
 * know the protocol: the front end turns each answer into the bytes to
 * write (an MBAP header in front of the PDU), or into none.
 *
 * Replies carry the client's transaction id and unit id. Those to one
 * backend go out in the order they were asked: a read coalesced with an
 * earlier identical one, a cache hit or a refusal would otherwise overtake
 * a request still queued, and some clients match answers by arrival order.
 * An answer that is ready early is held (req->held) in the session until
 * every earlier request of the session to that backend has been answered;
 * each flow keeps that order in flow->order, so holding and releasing cost
 * O(1) per request. Across backends answers go out as they come: a slow
 * bus must not hold up a fast device.
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
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "listener.h"
#include "pdu.h"
#include "router.h"
#include "server.h"
#include "session.h"
#include "stats.h"

static void session_read_cb(uv_stream_t *stream, ssize_t nread,
                            const uv_buf_t *buf);
static void frame_timer_cb(uv_timer_t *t);
static int session_request_cb(struct fe_conn *c,
                              const struct fe_request *rq);
static int session_send(struct fe_conn *c, const uint8_t *data, size_t len);

/* What every session offers its front end. */
static const struct fe_host session_fe_host = {
    .request = session_request_cb,
    .send = session_send,
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
    TAILQ_INIT(&s->reqs);
    TAILQ_INIT(&s->flows);
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
 * The log id of <s>.
 */
uint64_t
session_id(const struct session *s)
{
    return s->id;
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
    char ip[INET6_ADDRSTRLEN] = "?";

    if (!session_peer_addr(s, &ss)) {
        return;
    }
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

        uv_ip6_name(a, ip, sizeof(ip));
        snprintf(s->peer, sizeof(s->peer), "[%s]:%u", ip, ntohs(a->sin6_port));
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;

        uv_ip4_name(a, ip, sizeof(ip));
        snprintf(s->peer, sizeof(s->peer), "%s:%u", ip, ntohs(a->sin_port));
    }
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

/* Route and submit one checked request. Takes ownership of <r>. A routed
 * request takes its place in the answer order of its backend first, even
 * one refused at once. */
static void
session_dispatch(struct session *s, struct req *r)
{
    int bi;
    uint8_t be_unit;
    uint8_t ex = pdu_check_request(req_pdu(r), r->pdu_len);
    bool routed = router_lookup(&s->srv->router, r->unit, &bi, &be_unit);

    if (routed) {
        r->backend = s->srv->backends[bi];
        r->be_unit = be_unit;
        r->order = session_flow(s, r->backend);
        TAILQ_INSERT_TAIL(&r->order->order, r, o_link);
    }
    if (ex != MB_EX_NONE) {
        stats_srv.ex_bad_request++;
        rlog(LOG_DEBUG, r, "malformed request, fc 0x%02X %zu bytes",
             req_fc(r), r->pdu_len);
        req_fail(r, ex);
        return;
    }
    if (!routed) {
        stats_srv.ex_no_route++;
        rlog(LOG_DEBUG, r, "no route for unit %u", r->unit);
        req_fail(r, MB_EX_GW_PATH);
        return;
    }
    backend_submit(r->backend, r);
}

/* fe_host.request: one request of the session of front end <c>. */
static int
session_request_cb(struct fe_conn *c, const struct fe_request *rq)
{
    struct session *s = container_of(c, struct session, fe);
    struct req *r;

    stats_srv.requests++;
    s->n_requests++;
    r = req_new(s, rq->tid, rq->unit, rq->pdu, rq->pdu_len,
                uv_now(s->srv->loop));
    if (log_enabled(LOG_TRACE)) {
        rlog(LOG_TRACE, r, "tid %u", r->tid);
        log_hexdump("  pdu", rq->pdu, rq->pdu_len);
    }
    session_dispatch(s, r);
    return s->closing ? 1 : 0;
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
    bool want = !s->closing && !s->draining && !s->eof &&
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
 * owns, abandons those the backends hold (see req.c), and frees <s> in the
 * close callback. Safe to call twice.
 */
void
session_close(struct session *s, int level, const char *fmt, ...)
{
    char why[160];
    struct req *r;
    struct flow *f;
    va_list ap;

    if (s->closing) {
        return;
    }
    s->closing = true;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    slog(level, s, "%s (%u requests outstanding)", why, s->pending);
    session_partial_end(s);
    while ((r = TAILQ_FIRST(&s->reqs)) != NULL) {
        TAILQ_REMOVE(&s->reqs, r, s_link);
        s->pending--;
        r->session = NULL;
        if (r->order != NULL) {
            TAILQ_REMOVE(&r->order->order, r, o_link);
            r->order = NULL;
        }
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
    while ((f = TAILQ_FIRST(&s->flows)) != NULL) {
        TAILQ_REMOVE(&s->flows, f, s_link);
        flow_free(f);
    }
    TAILQ_REMOVE(&s->srv->sessions, s, link);
    s->srv->n_sessions--;
    if (s->listener != NULL) {
        s->listener->connected--;
    }
    uv_close((uv_handle_t *)&s->tcp, session_closed_cb);
    server_session_gone(s->srv);
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

/*
 * Add NEW request <r> to <s>'s list (req_new does this).
 */
void
session_track(struct session *s, struct req *r)
{
    TAILQ_INSERT_TAIL(&s->reqs, r, s_link);
    s->pending++;
}

/*
 * Take <r> off <s>'s list as it is freed; may resume reading, or finish a
 * draining session, or one whose client has ended its input.
 */
void
session_untrack(struct session *s, struct req *r)
{
    TAILQ_REMOVE(&s->reqs, r, s_link);
    s->pending--;
    /* Its answer is written or dropped by now (session_write). */
    ASSERT(r->order == NULL);
    if (s->closing) {
        return;
    }
    if ((s->draining || s->eof) && s->pending == 0) {
        session_close(s, LOG_DEBUG, "%s", s->eof ? "closed by the client, "
                      "every answer written" : "shutting down");
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
    struct session *s = r->session;

    if (status == 0) {
        stats_srv.replies++;
        if (s != NULL) {
            s->n_replies++;
        }
    } else {
        stats_srv.replies_dropped++;
    }
    req_free(r);
    if (status < 0 && status != UV_ECANCELED && s != NULL) {
        session_close(s, LOG_DEBUG, "write: %s", uv_strerror(status));
    }
}

/* Write the answer of DONE request <r>, which leaves its order, in the
 * bytes its front end makes of it. Takes ownership of <r>. May close <s>
 * (a write error). */
static void
session_write(struct session *s, struct req *r)
{
    const uint8_t *out;
    size_t len;
    uv_buf_t b;
    int rc;

    if (r->order != NULL) {
        TAILQ_REMOVE(&r->order->order, r, o_link);
        r->order = NULL;
    }
    r->held = false;
    len = s->fe.ops->encode_reply(&s->fe, r, &out);
    if (log_enabled(LOG_TRACE)) {
        rlog(LOG_TRACE, r, "reply tid %u", r->tid);
        log_hexdump("  rsp", req_rsp(r), r->rsp_len);
    }
    if (len == 0) {
        /* The protocol answers this with silence: answered all the same. */
        stats_srv.replies++;
        s->n_replies++;
        req_free(r);
        return;
    }
    b = uv_buf_init((char *)out, (unsigned)len);
    rc = uv_try_write((uv_stream_t *)&s->tcp, &b, 1);
    if (rc == (int)len) {
        stats_srv.replies++;
        s->n_replies++;
        req_free(r);
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
    req_free(r);
    session_close(s, LOG_DEBUG, "write: %s", uv_strerror(rc));
}

/* Bytes a front end writes on its own, copied (session_send). */
struct session_send_req {
    uv_write_t w;
    uint8_t    data[];
};

static void
session_send_cb(uv_write_t *w, int status)
{
    /* A failed write shows again at the next read or answer, which close
     * the session; nothing to do here but free. */
    (void)status;
    free(container_of(w, struct session_send_req, w));
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

    if (s->closing) {
        return UV_ECANCELED;
    }
    rc = uv_try_write((uv_stream_t *)&s->tcp, &b, 1);
    if (rc == (int)len) {
        return 0;
    }
    if (rc < 0 && rc != UV_EAGAIN) {
        return rc;
    }
    rc = rc < 0 ? 0 : rc;
    w = xmalloc(sizeof(*w) + len - (size_t)rc);
    memcpy(w->data, data + rc, len - (size_t)rc);
    b = uv_buf_init((char *)w->data, (unsigned)(len - (size_t)rc));
    rc = uv_write(&w->w, (uv_stream_t *)&s->tcp, &b, 1, session_send_cb);
    if (rc != 0) {
        free(w);
    }
    return rc;
}

/*
 * Answer DONE request <r> to client <s> with the client's transaction and
 * unit ids. Takes ownership of <r>: it is freed once written (at once when
 * the socket takes it whole, the common case). If an earlier request of
 * <s> to the same backend has no answer yet, <r> is held until it has;
 * answering the earliest one writes every held answer behind it.
 */
void
session_reply(struct session *s, struct req *r)
{
    struct flow *f = r->order;

    if (f != NULL && TAILQ_FIRST(&f->order) != r) {
        r->held = true;
        rlog(LOG_DEBUG, r, "answer held for R#%llu, asked before it",
             (unsigned long long)TAILQ_FIRST(&f->order)->id);
        return;
    }
    session_write(s, r);
    /* A write error closes <s>, which frees <f> and what it held. */
    while (f != NULL && !s->closing && (r = TAILQ_FIRST(&f->order)) != NULL &&
           r->held) {
        session_write(s, r);
    }
}

/*
 * The flow of <s> on backend <be>, created on first use. Flows live as
 * long as the session, so a client polling one register at a time does not
 * allocate one per request.
 */
struct flow *
session_flow(struct session *s, struct backend *be)
{
    struct flow *f;

    TAILQ_FOREACH(f, &s->flows, s_link) {
        if (f->sched == &be->sched) {
            return f;
        }
    }
    f = flow_new(&be->sched, s->priority);
    TAILQ_INSERT_TAIL(&s->flows, f, s_link);
    return f;
}

/* SPDX-License-Identifier: MIT */
/*
 * listener.c -- binds one listen address (IPv4 or IPv6; an IPv6 socket is
 * IPv6-only so "0.0.0.0:502, [::]:502" works) of [server] listen or of a
 * [listener NAME] section, and accepts clients. Each client is checked
 * against the section's allow before a byte is read, marked read-only or
 * priority by its read_only_clients and priority_clients, and becomes a
 * session speaking the section's front-end type (frontend.h). Over the
 * section's max_clients, or [server] max_clients in all, a connection is
 * accepted and closed at once, so the client sees a clean close instead
 * of a hanging connect.
 */
#include <stdio.h>

#include "acl.h"
#include "listener.h"
#include "log.h"
#include "server.h"
#include "session.h"
#include "stats.h"

#define LISTEN_BACKLOG 1024

/* How a listener is named in log lines: "" for [server] listen, whose
 * lines read as they did before [listener] sections existed. */
#define llog(level, l, fmt, ...)                                            \
    LOG(level, "%s%s%s" fmt, (l)->section[0] ? "listener " : "",            \
        (l)->section, (l)->section[0] ? ": " : "", ##__VA_ARGS__)

/* Refuse session <s>: over <max> clients, [server] max_clients if
 * <global>, else <l>'s own. */
static void
listener_refuse(struct listener *l, struct session *s, bool global,
                unsigned max)
{
    struct server *srv = l->srv;
    unsigned n = log_limit(global ? &srv->refusals : &l->refusals,
                           uv_now(srv->loop));

    stats_srv.clients_refused++;
    l->refused++;
    /* A flood of refusals logs once a second, with the count. */
    if (n > 0 && global) {
        log_warn("max_clients (%u) reached: refused %u connection(s)", max,
                 n);
    } else if (n > 0) {
        llog(LOG_WARN, l, "its max_clients (%u) reached: refused %u "
             "connection(s)", max, n);
    }
    session_discard(s);
}

/*
 * Apply the access rules of <lc> to session <s>, whose client is at <sa>
 * (NULL if the socket cannot say). Returns false if <lc>'s allow keeps it
 * out; otherwise sets s->read_only and s->priority (when <sa> is known)
 * and returns true.
 */
bool
listener_let_in(const struct cfg_listener *lc, struct session *s,
                const struct sockaddr *sa)
{
    if (lc->allow.n > 0 && (sa == NULL || !acl_match(&lc->allow, sa))) {
        return false;
    }
    if (sa != NULL) {
        s->read_only = acl_match(&lc->read_only_clients, sa);
        s->priority = acl_match(&lc->priority_clients, sa);
    }
    return true;
}

/*
 * The access rules that apply now to client <s> of <srv>: those of
 * the section whose listener accepted it ([server] listen for a session
 * without one), or NULL if a reload removed that section (its clients
 * keep the rules they had). Valid until the next reload.
 */
const struct cfg_listener *
listener_rules(const struct server *srv, const struct session *s)
{
    return cfg_listener_find(srv->cfg, s->listener != NULL
                                           ? s->listener->section
                                           : "");
}

/* Admit session <s>, accepted on <l>: allow, then the client limits.
 * Returns false if it was closed. */
static bool
listener_admit(struct listener *l, struct session *s)
{
    const struct cfg_listener *lc = l->cfg;
    const struct cfg_server *cs = &l->srv->cfg->server;
    struct sockaddr_storage ss;
    bool have = false;

    /* The peer's address only when a rule needs it: no syscall else. */
    if (lc->allow.n > 0 || lc->read_only_clients.n > 0 ||
        lc->priority_clients.n > 0) {
        have = session_peer_addr(s, &ss);
    }
    if (!listener_let_in(lc, s, have ? (struct sockaddr *)&ss : NULL)) {
        stats_srv.clients_denied++;
        llog(LOG_INFO, l, "%s: a client not in allow: closed", l->name);
        session_discard(s);
        return false;
    }
    if (l->srv->n_sessions >= cs->max_clients || l->srv->stopping) {
        listener_refuse(l, s, true, cs->max_clients);
        return false;
    }
    if (l->connected >= lc->max_clients) {
        listener_refuse(l, s, false, lc->max_clients);
        return false;
    }
    return true;
}

static void
listener_connection_cb(uv_stream_t *server, int status)
{
    struct listener *l = server->data;
    struct session *s;

    if (status < 0) {
        log_warn("%s: accept: %s", l->name, uv_strerror(status));
        return;
    }
    s = session_new_type(l->srv, l->fe);
    if (uv_accept(server, (uv_stream_t *)&s->tcp) != 0) {
        session_discard(s);
        return;
    }
    if (!listener_admit(l, s)) {
        return;
    }
    s->listener = l;
    l->refs++;
    l->accepted++;
    l->connected++;
    session_start(s);
}

static void
listener_name(struct listener *l)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);

    if (uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&ss, &len) == 0) {
        acl_addr_name((struct sockaddr *)&ss, l->name, sizeof(l->name));
    }
}

static void
listener_closed_cb(uv_handle_t *h)
{
    struct listener *l = h->data;

    l->closed = true;
    if (l->refs == 0) {
        free(l);
    }
}

/*
 * Bind and listen on address <cl> of section <lc> (in srv->cfg, whose
 * type is built in) for <srv>; store the listener in <out>. Returns 0 or a
 * negative UV_E* code (logged).
 */
int
listener_open(struct server *srv, const struct cfg_listener *lc,
              const struct cfg_listen *cl, struct listener **out)
{
    struct listener *l = xcalloc(1, sizeof(*l));
    unsigned flags = cl->addr.ss_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0;
    int rc;

    l->srv = srv;
    l->fe = frontend_find(lc->type);
    ASSERT(l->fe != NULL);
    uv_tcp_init(srv->loop, &l->tcp);
    l->tcp.data = l;
    listener_update(l, lc);
    snprintf(l->name, sizeof(l->name), "%s", cl->text);
    snprintf(l->text, sizeof(l->text), "%s", cl->text);
    rc = uv_tcp_bind(&l->tcp, (const struct sockaddr *)&cl->addr, flags);
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)&l->tcp, LISTEN_BACKLOG,
                       listener_connection_cb);
    }
    if (rc != 0) {
        llog(LOG_ERROR, l, "cannot listen on %s: %s", cl->text,
             uv_strerror(rc));
        uv_close((uv_handle_t *)&l->tcp, listener_closed_cb);
        return rc;
    }
    listener_name(l);
    if (l->section[0] != '\0') {
        llog(LOG_INFO, l, "%s, listening on %s", l->fe->type, l->name);
    } else {
        log_info("listening on %s", l->name);
    }
    *out = l;
    return 0;
}

/*
 * A reload keeps <l> for section <lc> of the new configuration (the same
 * address and type): new clients get <lc>'s rules from now on.
 */
void
listener_update(struct listener *l, const struct cfg_listener *lc)
{
    l->cfg = lc;
    l->bound = lc->backend_index >= 0;
    snprintf(l->section, sizeof(l->section), "%s", lc->name);
}

/*
 * Stop accepting on <l>. Its clients stay (a reload keeps them; shutdown
 * drains them afterwards); it is freed when the last of them has gone.
 */
void
listener_close(struct listener *l)
{
    l->cfg = NULL;
    uv_close((uv_handle_t *)&l->tcp, listener_closed_cb);
}

/*
 * A session that <l> accepted is being freed: free <l> if it was the last
 * and <l>'s socket is closed. NULL is a no-op.
 */
void
listener_unref(struct listener *l)
{
    if (l == NULL) {
        return;
    }
    ASSERT(l->refs > 0);
    if (--l->refs == 0 && l->closed) {
        free(l);
    }
}

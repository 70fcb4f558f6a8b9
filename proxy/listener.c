/* SPDX-License-Identifier: MIT */
/*
 * listener.c -- binds one [server] listen address (IPv4 or IPv6; an IPv6
 * socket is IPv6-only so "0.0.0.0:502, [::]:502" works) and accepts
 * clients. Over max_clients a connection is accepted and closed at once,
 * so the client sees a clean close instead of a hanging connect.
 */
#include <stdio.h>

#include "acl.h"
#include "listener.h"
#include "log.h"
#include "server.h"
#include "session.h"
#include "stats.h"

#define LISTEN_BACKLOG 1024

static void
listener_refuse(struct listener *l, struct session *s)
{
    struct server *srv = l->srv;
    unsigned n = log_limit(&srv->refusals, uv_now(srv->loop));

    stats_srv.clients_refused++;
    l->refused++;
    /* A flood of refusals logs once a second, with the count. */
    if (n > 0) {
        log_warn("max_clients (%u) reached: refused %u connection(s)",
                 srv->cfg->server.max_clients, n);
    }
    session_discard(s);
}

/* Is the client of <s> in [server] allow? Closed before a byte is read. */
static bool
listener_allowed(struct server *srv, struct session *s)
{
    struct sockaddr_storage ss;

    return session_peer_addr(s, &ss) &&
           acl_match(&srv->cfg->server.allow, (struct sockaddr *)&ss);
}

static void
listener_connection_cb(uv_stream_t *server, int status)
{
    struct listener *l = server->data;
    struct server *srv = l->srv;
    struct session *s;

    if (status < 0) {
        log_warn("%s: accept: %s", l->name, uv_strerror(status));
        return;
    }
    s = session_new(srv);
    if (uv_accept(server, (uv_stream_t *)&s->tcp) != 0) {
        session_discard(s);
        return;
    }
    if (srv->cfg->server.allow.n > 0 && !listener_allowed(srv, s)) {
        stats_srv.clients_denied++;
        log_info("%s: a client not in allow: closed", l->name);
        session_discard(s);
        return;
    }
    if (srv->n_sessions >= srv->cfg->server.max_clients || srv->stopping) {
        listener_refuse(l, s);
        return;
    }
    s->listener = l;
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
    free(h->data);
}

/*
 * Bind and listen on <cl> for <srv>; store the listener in <out>.
 * Returns 0 or a negative UV_E* code (logged).
 */
int
listener_open(struct server *srv, const struct cfg_listen *cl,
              struct listener **out)
{
    struct listener *l = xcalloc(1, sizeof(*l));
    unsigned flags = cl->addr.ss_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0;
    int rc;

    l->srv = srv;
    uv_tcp_init(srv->loop, &l->tcp);
    l->tcp.data = l;
    snprintf(l->name, sizeof(l->name), "%s", cl->text);
    snprintf(l->text, sizeof(l->text), "%s", cl->text);
    rc = uv_tcp_bind(&l->tcp, (const struct sockaddr *)&cl->addr, flags);
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)&l->tcp, LISTEN_BACKLOG,
                       listener_connection_cb);
    }
    if (rc != 0) {
        log_error("cannot listen on %s: %s", cl->text, uv_strerror(rc));
        uv_close((uv_handle_t *)&l->tcp, listener_closed_cb);
        return rc;
    }
    listener_name(l);
    log_info("listening on %s", l->name);
    *out = l;
    return 0;
}

/*
 * Stop accepting on <l> and free it once closed.
 */
void
listener_close(struct listener *l)
{
    struct session *s;

    /* Its clients may outlive it (shutdown drains them afterwards). */
    TAILQ_FOREACH(s, &l->srv->sessions, link) {
        if (s->listener == l) {
            s->listener = NULL;
        }
    }
    uv_close((uv_handle_t *)&l->tcp, listener_closed_cb);
}

/* SPDX-License-Identifier: MIT */
/*
 * server.c -- builds the running proxy from a struct cfg (router,
 * backends, listeners), handles signals, closes idle clients, and shuts
 * down cleanly: on SIGTERM or SIGINT it stops accepting and reading, lets
 * every outstanding request finish or fail within its deadline, then stops
 * the backends and closes every handle so that uv_run() returns.
 */
#include <errno.h>
#include <string.h>

#include "backend.h"
#include "http.h"
#include "listener.h"
#include "log.h"
#include "server.h"
#include "stats.h"

static void server_finish(struct server *srv);

/* Listen addresses of <cfg>: of [server] listen and every [listener]. */
static unsigned
server_listen_count(const struct cfg *cfg)
{
    unsigned n = 0;

    for (unsigned i = 0; i < cfg->n_listeners; i++) {
        n += cfg->listeners[i].n_listen;
    }
    return n;
}

static void
signal_cb(uv_signal_t *sig, int signum)
{
    struct server *srv = sig->data;

    if (signum == SIGUSR1) {
        server_log_stats(srv);
        return;
    }
    if (signum == SIGHUP) {
        if (!srv->stopping) {
            server_reload(srv);
        }
        return;
    }
    log_info("%s received%s", signum == SIGINT ? "SIGINT" : "SIGTERM",
             srv->stopping ? " again: stopping now" : "");
    server_shutdown(srv, srv->stopping);
}

static void
idle_cb(uv_timer_t *t)
{
    struct server *srv = t->data;
    uint64_t now = uv_now(srv->loop);
    uint64_t idle_ms = srv->cfg->server.idle_timeout_s * 1000ull;
    struct session *s, *next;

    for (s = TAILQ_FIRST(&srv->sessions); s != NULL; s = next) {
        next = TAILQ_NEXT(s, link);
        if (s->pending == 0 && now - s->last_rx_ms >= idle_ms) {
            stats_srv.clients_closed_idle++;
            session_close(s, LOG_INFO, "idle for %u s: closing",
                          srv->cfg->server.idle_timeout_s);
        }
    }
}

static void
stop_timer_cb(uv_timer_t *t)
{
    struct server *srv = t->data;

    log_warn("shutdown: %u clients still waiting after the deadline, "
             "closing them", srv->n_sessions);
    server_shutdown(srv, true);
}

static void
finish_timer_cb(uv_timer_t *t)
{
    struct server *srv = t->data;

    if (srv->n_sessions == 0) {
        server_finish(srv);
    }
}

static void server_backend_gone(struct backend_owner *o,
                                struct backend *be);
static void server_device_frame(struct backend_owner *o, struct backend *be,
                                const uint8_t *data, size_t len);

/* Which units of each backend clients can reach: those [route] leads to,
 * and every unit of a backend a listener names. */
static void
server_routes(struct server *srv)
{
    const struct cfg *cfg = srv->cfg;

    backend_set_routes(srv->backends, cfg->n_backends, &srv->router);
    for (unsigned i = 0; i < cfg->n_listeners; i++) {
        int bi = cfg->listeners[i].backend_index;

        if (bi >= 0) {
            memset(srv->backends[bi]->routed, 0xFF,
                   sizeof(srv->backends[bi]->routed));
        }
    }
}

/* About once a second: what front ends send on their own (heartbeats). */
static void
tick_cb(uv_timer_t *t)
{
    struct server *srv = t->data;
    uint64_t now = uv_now(srv->loop);
    struct session *s;

    /* A tick only sends: it closes no session. */
    TAILQ_FOREACH(s, &srv->sessions, link) {
        session_tick(s, now);
    }
}

/*
 * Build <srv> on <loop> from <cfg> (taking ownership of <cfg>): router and
 * backends, no I/O yet. Returns 0 or a negative errno.
 */
int
server_init(struct server *srv, uv_loop_t *loop, struct cfg *cfg)
{
    memset(srv, 0, offsetof(struct server, rbuf));
    srv->loop = loop;
    srv->cfg = cfg;
    srv->be_owner.gone = server_backend_gone;
    srv->be_owner.device_frame = server_device_frame;
    TAILQ_INIT(&srv->sessions);
    TAILQ_INIT(&srv->closing);
    router_init(&srv->router);
    for (unsigned i = 0; i < cfg->n_routes; i++) {
        router_add(&srv->router, &cfg->routes[i]);
    }
    srv->backends = xcalloc(cfg->n_backends + 1, sizeof(*srv->backends));
    for (unsigned i = 0; i < cfg->n_backends; i++) {
        const struct backend_ops *ops =
            backend_find_ops(cfg->backends[i].type);

        if (ops == NULL) {
            log_error("backend %s: type %s is not built in",
                      cfg->backends[i].name, cfg->backends[i].type);
            return -EINVAL;
        }
        srv->backends[i] = backend_new(&srv->be_owner, loop, ops,
                                       &cfg->backends[i],
                                       cfg->server.request_timeout_ms);
        if (srv->backends[i] == NULL) {
            return -EINVAL;
        }
    }
    server_routes(srv);
    srv->listeners = xcalloc(server_listen_count(cfg) + 1,
                             sizeof(*srv->listeners));
    uv_signal_init(loop, &srv->sig_term);
    uv_signal_init(loop, &srv->sig_int);
    uv_signal_init(loop, &srv->sig_usr1);
    uv_signal_init(loop, &srv->sig_hup);
    uv_timer_init(loop, &srv->idle_timer);
    uv_timer_init(loop, &srv->stop_timer);
    uv_timer_init(loop, &srv->finish_timer);
    uv_timer_init(loop, &srv->frame_timer);
    srv->frame_timer.data = srv;
    uv_timer_init(loop, &srv->end_timer);
    srv->end_timer.data = srv;
    uv_timer_init(loop, &srv->tick_timer);
    srv->tick_timer.data = srv;
    TAILQ_INIT(&srv->partials);
    TAILQ_INIT(&srv->ending);
    srv->sig_term.data = srv->sig_int.data = srv->sig_usr1.data = srv;
    srv->sig_hup.data = srv;
    srv->idle_timer.data = srv->stop_timer.data = srv;
    srv->finish_timer.data = srv;
    return 0;
}

/*
 * Listen, connect the backends, catch signals. Returns 0, or a negative
 * UV_E* code if an address cannot be bound (the caller exits 1).
 */
int
server_start(struct server *srv)
{
    struct cfg_server *cs = &srv->cfg->server;
    int rc;

    /* Signals first: once "listening on" is logged, a SIGHUP or SIGTERM
     * must find its handler, not the default action that kills. */
    uv_signal_start(&srv->sig_term, signal_cb, SIGTERM);
    uv_signal_start(&srv->sig_int, signal_cb, SIGINT);
    uv_signal_start(&srv->sig_usr1, signal_cb, SIGUSR1);
    uv_signal_start(&srv->sig_hup, signal_cb, SIGHUP);
    for (unsigned i = 0; i < srv->cfg->n_listeners; i++) {
        const struct cfg_listener *lc = &srv->cfg->listeners[i];

        for (unsigned a = 0; a < lc->n_listen; a++) {
            rc = listener_open(srv, lc, &lc->listen[a],
                               &srv->listeners[srv->n_listeners]);
            if (rc != 0) {
                return rc;
            }
            srv->n_listeners++;
        }
    }
    for (unsigned i = 0; i < srv->cfg->n_backends; i++) {
        backend_start(srv->backends[i]);
    }
    if (cs->idle_timeout_s > 0) {
        uint64_t period = MB_MIN(1000ull, cs->idle_timeout_s * 250ull);

        uv_timer_start(&srv->idle_timer, idle_cb, period, period);
    }
    uv_timer_start(&srv->tick_timer, tick_cb, 1000, 1000);
    log_info("modbus-mux %s: %u backend(s), %u route(s), up to %u clients",
             MUX_VERSION, srv->cfg->n_backends, srv->cfg->n_routes,
             cs->max_clients);
    rc = http_open(srv);
    if (rc != 0) {
        return rc;
    }
    return 0;
}

/*
 * Stop <srv>. Gracefully: stop accepting and reading, close each client
 * once its requests are answered (they finish within their deadline; a
 * backstop timer closes stragglers). With <force>, or on a second signal:
 * close every client now. Either way uv_run() returns once all is closed.
 */
void
server_shutdown(struct server *srv, bool force)
{
    struct session *s, *next;

    if (!srv->stopping) {
        srv->stopping = true;
        log_info("shutting down: %u clients connected", srv->n_sessions);
        for (unsigned i = 0; i < srv->n_listeners; i++) {
            listener_close(srv->listeners[i]);
        }
        srv->n_listeners = 0;
        uv_timer_stop(&srv->idle_timer);
        uv_timer_start(&srv->stop_timer, stop_timer_cb,
                       srv->cfg->server.request_timeout_ms + 1000ull, 0);
    }
    for (s = TAILQ_FIRST(&srv->sessions); s != NULL; s = next) {
        next = TAILQ_NEXT(s, link);
        if (force) {
            session_close(s, LOG_DEBUG, "shutting down now");
        } else {
            session_drain(s);
        }
    }
    server_session_gone(srv);
}

/*
 * A session of <srv> has closed; during shutdown, finish once none is
 * left (from a timer, so never from deep inside a completion).
 */
void
server_session_gone(struct server *srv)
{
    if (srv->stopping && !srv->finished && srv->n_sessions == 0) {
        uv_timer_start(&srv->finish_timer, finish_timer_cb, 0, 0);
    }
}

/* Every client is gone: stop backends, close the server's own handles. */
static void
server_finish(struct server *srv)
{
    uv_handle_t *const own[] = {
        (uv_handle_t *)&srv->sig_term,   (uv_handle_t *)&srv->sig_int,
        (uv_handle_t *)&srv->sig_usr1,   (uv_handle_t *)&srv->sig_hup,
        (uv_handle_t *)&srv->idle_timer,
        (uv_handle_t *)&srv->stop_timer, (uv_handle_t *)&srv->finish_timer,
        (uv_handle_t *)&srv->frame_timer, (uv_handle_t *)&srv->end_timer,
        (uv_handle_t *)&srv->tick_timer,
    };

    if (srv->finished) {
        return;
    }
    srv->finished = true;
    for (unsigned i = 0; i < srv->cfg->n_backends; i++) {
        backend_stop(srv->backends[i]);
    }
    server_log_stats(srv);
    http_close(srv);
    for (size_t i = 0; i < ARRAY_SIZE(own); i++) {
        uv_close(own[i], NULL);
    }
    log_info("stopped");
}

/*
 * Log the counters of <srv> and of each backend.
 */
void
server_log_stats(const struct server *srv)
{
    stats_log_server(&stats_srv);
    for (unsigned i = 0; i < srv->cfg->n_backends; i++) {
        stats_log_backend(srv->backends[i]->cfg.name,
                          &srv->backends[i]->st);
    }
}

/*
 * Free what <srv> holds, after uv_run() has returned (every handle is
 * closed by then). Frees the configuration too.
 */
void
server_free(struct server *srv)
{
    if (srv->backends != NULL) {
        for (unsigned i = 0; i < srv->cfg->n_backends; i++) {
            backend_free(srv->backends[i]);
        }
    }
    free(srv->backends);
    free(srv->listeners);
    cfg_free(srv->cfg);
    srv->cfg = NULL;
}

/* --- live reload --------------------------------------------------------- */

/* Must new backend <be> wait for released backend <old> to close before
 * it opens its link? When it replaces it (the same name: a single-client
 * device would refuse a second connection), or shares its serial port (a
 * port read by two would mix answers up). */
static bool
backend_follows(const struct backend *be, const struct backend *old)
{
    if (strcmp(be->cfg.name, old->cfg.name) == 0) {
        return true;
    }
    return be->ops == old->ops && be->ops->shares_device != NULL &&
           be->ops->shares_device(&be->cfg, &old->cfg);
}

/* Is a backend that <be> follows still closing? */
static bool
backend_must_wait(const struct server *srv, const struct backend *be)
{
    const struct backend *old;

    TAILQ_FOREACH(old, &srv->closing, closing_link) {
        if (old != be && backend_follows(be, old)) {
            return true;
        }
    }
    return false;
}

/*
 * Backend <be>'s device sent frame <data>: every client of a listener that
 * names <be> may get a copy (session_device_frame()).
 */
static void
server_device_frame(struct backend_owner *o, struct backend *be,
                    const uint8_t *data, size_t len)
{
    struct server *srv = container_of(o, struct server, be_owner);
    struct session *s;

    TAILQ_FOREACH(s, &srv->sessions, link) {
        session_device_frame(s, be, data, len);
    }
}

/*
 * Backend <be> is being freed (removed by a reload, or at exit). A
 * released one has closed its link: start each waiting backend that no
 * longer follows any backend still closing. Reloads in a row can replace
 * a waiting backend again, or remove it and add it back: the newest waits
 * for every older one, and nothing points at a freed one.
 */
static void
server_backend_gone(struct backend_owner *o, struct backend *be)
{
    struct server *srv = container_of(o, struct server, be_owner);

    if (!be->released) {
        return;
    }
    TAILQ_REMOVE(&srv->closing, be, closing_link);
    for (unsigned i = 0; i < srv->cfg->n_backends && !srv->stopping; i++) {
        struct backend *nb = srv->backends[i];

        if (nb != NULL && nb->waiting && !backend_must_wait(srv, nb)) {
            blog(LOG_INFO, be, "closed: its replacement starts");
            nb->waiting = false;
            backend_start(nb);
        }
    }
}

/* Can a reload keep backend <old> for configuration <c>? Same type, and
 * the type says the link is the same (backend_ops.same_link). */
static bool
backend_keepable(const struct backend *old, const struct cfg_backend *c)
{
    return strcmp(old->cfg.type, c->type) == 0 &&
           old->ops->same_link != NULL && old->ops->same_link(&old->cfg, c);
}

static struct backend *
old_backend(struct server *srv, const char *name)
{
    for (unsigned i = 0; i < srv->cfg->n_backends; i++) {
        if (srv->backends[i] != NULL &&
            strcmp(srv->backends[i]->cfg.name, name) == 0) {
            return srv->backends[i];
        }
    }
    return NULL;
}

/* Does <nc> have a backend called <name>? */
static bool
cfg_has_backend(const struct cfg *nc, const char *name)
{
    for (unsigned i = 0; i < nc->n_backends; i++) {
        if (strcmp(nc->backends[i].name, name) == 0) {
            return true;
        }
    }
    return false;
}

/* The backends of <nc>: kept, updated, or new (not started yet). Old ones
 * left in srv->backends are the removed ones. NULL, with nothing changed,
 * if a new one cannot be created. */
static struct backend **
reload_backends(struct server *srv, const struct cfg *nc, unsigned *kept)
{
    struct backend **nb = xcalloc(nc->n_backends + 1, sizeof(*nb));
    const struct cfg_backend *c;
    struct backend *old;

    for (unsigned i = 0; i < nc->n_backends; i++) {
        c = &nc->backends[i];
        old = old_backend(srv, c->name);
        if (old != NULL && backend_keepable(old, c)) {
            nb[i] = old;
            continue;
        }
        nb[i] = backend_new(&srv->be_owner, srv->loop,
                            backend_find_ops(c->type), c,
                            nc->server.request_timeout_ms);
        if (nb[i] == NULL) {
            log_error("reload refused: backend %s cannot be created",
                      c->name);
            while (i-- > 0) {
                if (nb[i] != old_backend(srv, nc->backends[i].name)) {
                    backend_discard(nb[i]);
                }
            }
            free(nb);
            return NULL;
        }
    }
    *kept = 0;
    for (unsigned i = 0; i < nc->n_backends; i++) {
        old = nb[i];
        if (old != old_backend(srv, nc->backends[i].name)) {
            continue;
        }
        backend_update(old, &nc->backends[i], nc->server.request_timeout_ms);
        (*kept)++;
        for (unsigned j = 0; j < srv->cfg->n_backends; j++) {
            if (srv->backends[j] == old) {
                srv->backends[j] = NULL;
            }
        }
    }
    return nb;
}

/* The running listener on address <text> of front-end type <type>, taken
 * out of srv->listeners; NULL if none. */
static struct listener *
reload_take_listener(struct server *srv, const char *text, const char *type)
{
    for (unsigned j = 0; j < srv->n_listeners; j++) {
        struct listener *l = srv->listeners[j];

        if (l != NULL && strcmp(l->text, text) == 0 &&
            strcmp(l->fe->type, type) == 0) {
            srv->listeners[j] = NULL;
            return l;
        }
    }
    return NULL;
}

/* Listeners: keep those still configured (the same address text and
 * type), with their section's new settings; close the others; then open
 * the new ones (after the closing, so that an address can change type). */
static void
reload_listeners(struct server *srv, const struct cfg *nc)
{
    unsigned total = server_listen_count(nc), k = 0, n = 0;
    struct listener **nl = xcalloc(total + 1, sizeof(*nl));

    for (unsigned i = 0; i < nc->n_listeners; i++) {
        const struct cfg_listener *lc = &nc->listeners[i];

        for (unsigned a = 0; a < lc->n_listen; a++, k++) {
            nl[k] = reload_take_listener(srv, lc->listen[a].text, lc->type);
            if (nl[k] != NULL) {
                listener_update(nl[k], lc);
            }
        }
    }
    for (unsigned j = 0; j < srv->n_listeners; j++) {
        if (srv->listeners[j] != NULL) {
            log_info("reload: no longer listening on %s",
                     srv->listeners[j]->name);
            listener_close(srv->listeners[j]);
        }
    }
    k = 0;
    for (unsigned i = 0; i < nc->n_listeners; i++) {
        const struct cfg_listener *lc = &nc->listeners[i];

        for (unsigned a = 0; a < lc->n_listen; a++, k++) {
            if (nl[k] != NULL) {
                nl[n++] = nl[k];
            } else if (listener_open(srv, lc, &lc->listen[a], &nl[n]) == 0) {
                n++;
            } else {
                log_error("reload: cannot listen on %s, going on without it",
                          lc->listen[a].text);
            }
        }
    }
    for (unsigned i = n; i < total; i++) {
        nl[i] = NULL;                   /* moved down */
    }
    free(srv->listeners);
    srv->listeners = nl;
    srv->n_listeners = n;
}

/* Access rules apply to the clients already connected too: each client
 * gets those of the section its listener belongs to now. */
static void
reload_clients(struct server *srv)
{
    struct session *s, *next;
    struct sockaddr_storage ss;

    for (s = TAILQ_FIRST(&srv->sessions); s != NULL; s = next) {
        const struct cfg_listener *lc = listener_rules(srv, s);

        next = TAILQ_NEXT(s, link);
        if (lc == NULL || !session_peer_addr(s, &ss)) {
            continue;
        }
        if (!listener_let_in(lc, s, (struct sockaddr *)&ss)) {
            stats_srv.clients_denied++;
            session_close(s, LOG_INFO, "no longer in allow: closing");
        }
    }
}

/*
 * SIGHUP: read the configuration file again. A file with errors, or one
 * whose new backend a type cannot create, is refused (each error logged)
 * and the running configuration kept. Otherwise
 * routes, access rules, server settings and listeners take effect;
 * backends whose link is unchanged keep their connection, queue and cache;
 * removed ones complete what they hold and go; new ones start. Clients stay
 * connected. Returns 0, or -1 if the file was refused.
 */
int
server_reload(struct server *srv)
{
    struct cfg_errors errs;
    struct cfg *nc = cfg_load_file(srv->cfg->path, &errs), *old;
    struct backend **nb;
    unsigned kept, n_old;

    if (nc == NULL) {
        for (unsigned i = 0; i < errs.n; i++) {
            log_error("reload refused: %s", errs.msg[i]);
        }
        log_error("reload refused: still running the previous "
                  "configuration");
        return -1;
    }
    nb = reload_backends(srv, nc, &kept);
    if (nb == NULL) {
        log_error("reload refused: still running the previous "
                  "configuration");
        cfg_free(nc);
        return -1;
    }
    n_old = srv->cfg->n_backends;
    for (unsigned i = 0; i < n_old; i++) {
        struct backend *gone = srv->backends[i];

        if (gone == NULL) {
            continue;
        }
        blog(LOG_INFO, gone, "%s", cfg_has_backend(nc, gone->cfg.name)
                                       ? "replaced by the reload"
                                       : "removed by the reload");
        TAILQ_INSERT_TAIL(&srv->closing, gone, closing_link);
        backend_release(gone);
    }
    free(srv->backends);
    srv->backends = nb;
    router_init(&srv->router);
    for (unsigned i = 0; i < nc->n_routes; i++) {
        router_add(&srv->router, &nc->routes[i]);
    }
    old = srv->cfg;
    srv->cfg = nc;
    server_routes(srv);
    log_level = (int)nc->server.log_level;
    reload_listeners(srv, nc);
    if (strcmp(old->server.http.text, nc->server.http.text) != 0) {
        http_close(srv);
        if (http_open(srv) != 0) {
            log_error("reload: the HTTP endpoint is off until the next "
                      "reload");
        }
    }
    reload_clients(srv);
    uv_timer_stop(&srv->idle_timer);
    if (nc->server.idle_timeout_s > 0) {
        uint64_t period = MB_MIN(1000ull, nc->server.idle_timeout_s * 250ull);

        uv_timer_start(&srv->idle_timer, idle_cb, period, period);
    }
    /* A new backend must not open its device before the old link to it
     * is closed (e.g. a serial worker finishing its transaction). */
    for (unsigned i = 0; i < nc->n_backends; i++) {
        ASSERT(nb[i] != NULL);
        if (nb[i]->started || nb[i]->waiting) {
            continue;
        }
        if (backend_must_wait(srv, nb[i])) {
            nb[i]->waiting = true;
            blog(LOG_DEBUG, nb[i], "waits for the link it replaces to close");
        } else {
            backend_start(nb[i]);
        }
    }
    log_info("reloaded %s: %u backend(s) (%u kept, %u new, %u removed), "
             "%u route(s)", nc->path, nc->n_backends, kept,
             nc->n_backends - kept, n_old - kept, nc->n_routes);
    cfg_free(old);
    return 0;
}

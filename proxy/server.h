/* SPDX-License-Identifier: MIT */
/*
 * server.h -- the running proxy: listeners, sessions, router, backends,
 * signals and shutdown, all on one libuv loop.
 */
#ifndef MUX_SERVER_H
#define MUX_SERVER_H

#include <uv.h>

#include "backend.h"
#include "cfg.h"
#include "core.h"
#include "router.h"
#include "session.h"

#define SERVER_RBUF 65536

/* The proxy. One per process; tests may make several on one loop. */
struct server {
    uv_loop_t              *loop;
    struct cfg             *cfg;          /* owned */
    struct backend_owner    be_owner;     /* what its backends call back */
    struct router           router;
    struct backend        **backends;     /* cfg->n_backends */
    TAILQ_HEAD(, backend)   closing;      /* released by a reload, not
                                             freed yet: still closing */
    struct listener       **listeners;    /* cfg->server.n_listen */
    unsigned                n_listeners;
    TAILQ_HEAD(, session)   sessions;
    TAILQ_HEAD(, session)   partials;       /* reading a frame, oldest
                                               first (session.c) */
    TAILQ_HEAD(, session)   ending;         /* to close on the loop's next
                                               turn (session.c; p_link) */
    unsigned                n_sessions;
    uint64_t                next_session_id;
    struct log_limit        refusals;       /* at max_clients */
    bool                    stopping;
    bool                    finished;
    uv_signal_t             sig_term, sig_int, sig_usr1, sig_hup;
    uv_timer_t              idle_timer;     /* idle_timeout_s sweep */
    uv_timer_t              frame_timer;    /* SESSION_FRAME_MS, armed
                                               by session.c */
    uv_timer_t              end_timer;      /* closes the ending ones,
                                               armed by session.c */
    uv_timer_t              stop_timer;     /* shutdown backstop */
    uv_timer_t              finish_timer;   /* shutdown, on a clean stack */
    uv_timer_t              tick_timer;     /* session_tick(), each second */
    struct http            *http;           /* http_listen; NULL = off */
    uint8_t                 rbuf[SERVER_RBUF]; /* shared by all reads */
};

int server_init(struct server *srv, uv_loop_t *loop, struct cfg *cfg)
    MB_MUSTCHECK;
int server_start(struct server *srv) MB_MUSTCHECK;
void server_shutdown(struct server *srv, bool force);
void server_session_gone(struct server *srv);
void server_free(struct server *srv);
void server_log_stats(const struct server *srv);
int server_reload(struct server *srv);

#endif /* MUX_SERVER_H */

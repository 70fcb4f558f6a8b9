/* SPDX-License-Identifier: MIT */
/*
 * listener.h -- one listening socket: an address of [server] listen or of
 * a [listener NAME] section, speaking that section's front-end type, and
 * admitting clients by its access rules, up to its max_clients.
 */
#ifndef MUX_LISTENER_H
#define MUX_LISTENER_H

#include <uv.h>

#include "cfg.h"
#include "core.h"
#include "frontend.h"
#include "log.h"

/* One bound, listening address. Freed once its socket is closed and no
 * session points at it any more (a client outlives the listener that
 * accepted it: a reload may close it, and shutdown drains clients after
 * closing every listener). */
struct listener {
    uv_tcp_t       tcp;        /* closed by listener_close() */
    struct server *srv;        /* borrowed */
    const struct frontend_ops *fe;   /* the protocol its clients speak */
    const struct cfg_listener *cfg;  /* its section in srv->cfg; updated
                                        by a reload, NULL once closed */
    char           section[CFG_NAME_MAX]; /* cfg->name, kept once closed:
                                             "" is [server] listen */
    char           name[72];   /* the address actually bound */
    char           text[64];   /* as configured (reload compares it) */
    unsigned       connected;  /* its clients now */
    uint64_t       accepted;   /* its clients ever */
    uint64_t       refused;    /* closed at accept (max_clients) */
    uint64_t       requests;   /* requests its clients sent */
    uint64_t       answered;   /* answers written to its clients */
    uint64_t       answered_local; /* of those, made without the device
                                      (the cache, the write rules) */
    uint64_t       silent;     /* requests its protocol answers with
                                  nothing (a dongle's silence) */
    uint64_t       fanned_out; /* device frames copied to its clients */
    uint64_t       ignored;    /* client frames its protocol ignores */
    uint64_t       send_dropped; /* frames of its own not sent: the
                                    client was not reading */
    bool           bound;      /* its section names a backend (kept once
                                  closed: its clients' units are still
                                  that backend's, never routed) */
    struct log_limit refusals;  /* its own max_clients' log lines */
    unsigned       refs;       /* sessions pointing at it */
    bool           closed;     /* its socket is closed */
};

int listener_open(struct server *srv, const struct cfg_listener *lc,
                  const struct cfg_listen *cl, struct listener **out)
    MB_MUSTCHECK;
void listener_update(struct listener *l, const struct cfg_listener *lc);
void listener_close(struct listener *l);
void listener_unref(struct listener *l);
bool listener_let_in(const struct cfg_listener *lc, struct session *s,
                     const struct sockaddr *sa);
const struct cfg_listener *listener_rules(const struct server *srv,
                                          const struct session *s);

#endif /* MUX_LISTENER_H */

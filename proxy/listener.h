/* SPDX-License-Identifier: MIT */
/*
 * listener.h -- one listening socket ([server] listen), accepting clients
 * up to max_clients.
 */
#ifndef MUX_LISTENER_H
#define MUX_LISTENER_H

#include <uv.h>

#include "cfg.h"
#include "core.h"

/* One bound, listening address. */
struct listener {
    uv_tcp_t       tcp;        /* freed in the close callback */
    struct server *srv;        /* borrowed */
    char           name[72];   /* the address actually bound */
    char           text[64];   /* as configured (reload compares it) */
    unsigned       connected;  /* its clients now */
    uint64_t       accepted;   /* its clients ever */
    uint64_t       refused;    /* closed at accept (max_clients) */
};

int listener_open(struct server *srv, const struct cfg_listen *cl,
                  struct listener **out) MB_MUSTCHECK;
void listener_close(struct listener *l);

#endif /* MUX_LISTENER_H */

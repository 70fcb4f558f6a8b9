/* SPDX-License-Identifier: MIT */
/*
 * poller.h -- a backend's own reads (poll, poll_learn): ranges it keeps
 * fresh in its cache by itself, at the lowest priority, so that clients'
 * reads of them are answered at once. Part of the core (backend.c owns
 * it): it submits requests like a client, and they are merged, paced and
 * cached like a client's.
 */
#ifndef MUX_POLLER_H
#define MUX_POLLER_H

#include <uv.h>

#include "req.h"

struct backend;
struct http_buf;

#define POLLER_MAX     64       /* ranges, configured and learned */
#define POLLER_TICK_MS 100

/* One range read by the backend itself. */
struct poll_entry {
    uint8_t  unit, fc;
    uint16_t lo, n;
    unsigned period_ms;          /* 0: not known yet (learned) */
    bool     learned;            /* poll_learn, not poll = */
    bool     pending;            /* its read is in the core */
    uint64_t client_ms;          /* a client's last read of it */
    uint64_t sent_ms;            /* our last read of it; 0 never */
    uint64_t polls;              /* reads of it we sent */
};

struct poller {
    struct req_owner  owner;     /* what its requests point back to */
    uv_timer_t        timer;
    struct poll_entry e[POLLER_MAX];
    unsigned          n;
    uint64_t          start_ms;  /* the configured ones count as read
                                    then */
};

void poller_init(struct backend *be);
void poller_start(struct backend *be);
void poller_update(struct backend *be);
void poller_client_read(struct backend *be, const struct req *r);
bool poller_owns(const struct backend *be, const struct req *r);
void poller_status_html(const struct backend *be, struct http_buf *b);

#endif /* MUX_POLLER_H */

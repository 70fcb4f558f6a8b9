/* SPDX-License-Identifier: MIT */
/*
 * session.h -- one client connection: bytes in, cut into requests by its
 * front end (frontend.h), requests out to the router and the backends,
 * replies back through the front end, in the order asked for each backend.
 */
#ifndef MUX_SESSION_H
#define MUX_SESSION_H

#include <uv.h>

#include "core.h"
#include "frontend.h"
#include "log.h"
#include "req.h"

/* A frame a client has started must be whole within this, or the
 * connection is closed: a byte a second would otherwise hold a slot of
 * max_clients for ever, idle_timeout_s or not. */
#define SESSION_FRAME_MS 5000

/* Bytes a front end may have waiting to be written on its own (fanned-out
 * frames, heartbeats) to a client that does not read: past this, what it
 * sends is dropped and counted, never queued without bound. */
#define SESSION_SEND_MAX 65536

/* One client connection. Kept small: 10,000 idle clients are a normal
 * load, so the read buffer is shared (server->rbuf) and only the front
 * end's state (a partial frame) is kept here, allocated with it. */
struct session {
    uv_tcp_t              tcp;        /* freed in the close callback */
    TAILQ_ENTRY(session)  link;       /* server->sessions */
    TAILQ_ENTRY(session)  p_link;     /* server->partials while partial,
                                         server->ending once ending (an
                                         ending session reads no more) */
    struct req_owner      owner;      /* what its requests point back to */
    struct req_list       reqs;       /* every request it still owns */
    SLIST_HEAD(, session_order) orders; /* answer orders, one per backend
                                         it waits for (session.c) */
    struct server        *srv;        /* borrowed: outlives sessions */
    struct listener      *listener;   /* the one that accepted it (NULL
                                         in tests): lives as long */
    uint64_t              n_requests; /* requests received */
    uint64_t              n_replies;  /* replies written */
    uint64_t              connected_ms; /* uv_now() at accept */
    uint64_t              id;         /* log id, "S#12" */
    uint64_t              last_rx_ms; /* uv_now() of the last bytes in */
    uint64_t              frame_ms;   /* uv_now() when the partial frame
                                         started, or reading resumed */
    unsigned              pending;    /* requests in reqs */
    size_t                send_queued; /* bytes of session_send() not yet
                                         written */
    bool                  reading;    /* uv_read_start()ed */
    bool                  read_only;  /* in its listener's
                                         read_only_clients */
    bool                  priority;   /* in its priority_clients */
    bool                  draining;   /* shutdown: no new requests */
    bool                  eof;        /* the client's input has ended */
    bool                  partial;    /* reading, with a partial frame:
                                         on server->partials */
    bool                  ending;     /* to be closed on the loop's next
                                         turn: on server->ending */
    bool                  closing;
    int                   end_err;    /* ending: the write error, or 0 */
    char                  peer[56];   /* "10.0.0.5:51234" */
    struct fe_conn        fe;         /* its protocol; fe.state points
                                         at fe_state */
    uint64_t              fe_state[]; /* fe.ops->state_size bytes */
};

#define slog(level, s, fmt, ...)                                   \
    LOG(level, "S#%llu %s: " fmt, (unsigned long long)(s)->id,     \
        (s)->peer, ##__VA_ARGS__)

struct session *session_new(struct server *srv);
struct session *session_new_type(struct server *srv,
                                 const struct frontend_ops *fe);
bool session_peer_addr(struct session *s, struct sockaddr_storage *ss);
void session_start(struct session *s);
void session_close(struct session *s, int level, const char *fmt, ...)
    MB_PRINTF(3, 4);
void session_discard(struct session *s);
void session_drain(struct session *s);
void session_device_frame(struct session *s, const struct backend *be,
                          const uint8_t *data, size_t len);
void session_tick(struct session *s, uint64_t now_ms);

#endif /* MUX_SESSION_H */

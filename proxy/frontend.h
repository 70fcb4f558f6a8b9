/* SPDX-License-Identifier: MIT */
/*
 * frontend.h -- the protocol a listener speaks to its clients, behind one
 * vtable (redis's ConnectionType in src/connection.h and pgbouncer's
 * SBufIO are the models): bytes in -> requests, a completed request ->
 * bytes out. One const table per type, listed in the registry of
 * frontend.c; "modbus" (MBAP over TCP, fe_modbus.c) is the first type and
 * the one [server] listen opens.
 *
 * The session (session.c) keeps everything that does not depend on the
 * protocol: the socket, the shared read buffer, back-pressure
 * (client_max_pending), the order of answers, the frame deadline, the
 * half-close and closing. A type keeps its per-connection state (a partial
 * frame, a serial number it learned) in fe_conn.state, which the session
 * allocates with itself (state_size bytes, zeroed): no allocation per
 * connection beyond the session's own, none per request.
 */
#ifndef MUX_FRONTEND_H
#define MUX_FRONTEND_H

#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "core.h"

struct backend;

/* The type a [listener] section gets without a type line. */
#define FRONTEND_DEFAULT "modbus"

/* One request a front end cut from its client's bytes. */
struct fe_request {
    uint16_t       tid;        /* the client's id for it, kept in the
                                  request (req->tid) for encode_reply */
    uint8_t        unit;       /* the client's unit id (req->unit) */
    const uint8_t *pdu;        /* borrowed for the call: function code and
                                  data, 1..MB_PDU_MAX bytes */
    size_t         pdu_len;
};

struct fe_conn;

/* What the session layer offers the front end of a connection: one table
 * for every connection (session.c's), each call naming its connection. */
struct fe_host {
    /* take request <rq> of <c>. Returns 0 to go on, or a positive value
     * that stops the feed (the session is closing) */
    int (*request)(struct fe_conn *c, const struct fe_request *rq);
    /* write <len> bytes of <data> that answer no request (a heartbeat, a
     * handshake record) to the client of <c>, copied, after the answers
     * already queued. Returns 0 or a negative UV_E* code */
    int (*send)(struct fe_conn *c, const uint8_t *data, size_t len);
    /* a frame of <c>'s client that its protocol ignores (a bad CRC, a
     * function nobody answers): counted for the listener, logged at debug
     * with <what> */
    void (*ignored)(struct fe_conn *c, const char *what);
    /* the settings of the listener that accepted <c>, as they are now (a
     * reload may change them): NULL if its section is gone */
    const struct cfg_listener *(*settings)(const struct fe_conn *c);
    /* the backend that [listener] backend names, running now; NULL if
     * none (no such key, the section is gone, or a reload is replacing
     * it). Borrowed for the call */
    struct backend *(*backend)(const struct fe_conn *c);
};

/* One client connection as its front end sees it; embedded in struct
 * session (three pointers: 10,000 idle clients are a normal load), which
 * fills every field before ops->open(). */
struct fe_conn {
    const struct frontend_ops *ops;    /* its type */
    const struct fe_host      *host;   /* the session layer */
    void                      *state;  /* ops->state_size bytes, zeroed,
                                          valid until ops->close() */
};

/*
 * IMPORTANT: a front end never closes the connection itself and never
 * calls into the session except through c->host. feed() runs from the
 * read callback: host->request may close the session (a write error on
 * an answer given at once), and then returns non-zero; feed() must
 * return that value without touching the connection again. The
 * request lifecycle (req.c, backend.c) never learns which front end a
 * request came from: a request carries only tid, unit and PDU, and its
 * answer comes back through encode_reply().
 */
struct frontend_ops {
    const char *type;          /* "modbus": the [listener] type value */
    /* optional: its own [listener] keys (cfg.h), their values a struct of
     * its file at CFG_LST_OWN() in cfg_listener.own */
    const struct cfg_key *keys;
    /* optional: the rules of a section of this type, with the whole file
     * loaded (which backend it names, say); false with "key: what is
     * wrong" in <why> (cfg.c reports it at the section's line) */
    bool (*check_cfg)(const struct cfg *cfg, const struct cfg_listener *l,
                      char *why, size_t size);
    size_t      state_size;    /* bytes of fe_conn.state (8-byte
                                  aligned) */
    size_t      request_min;   /* bytes of the shortest request: reads
                                  are sized so that one read cannot bring
                                  more requests than the client may still
                                  have outstanding */
    bool        any_order;     /* its clients match answers to requests
                                  by content, not by order: answers go
                                  out as they come, none held behind a
                                  slow one */
    /* optional: set up c->state for a new connection (a handshake would
     * start here, through host->send); nothing can fail short of memory */
    void (*open)(struct fe_conn *c);
    /* cut <len> bytes of the client's stream into requests, each handed
     * to host->request in order; keep an unfinished one in c->state for
     * the next call. Returns 0; or host->request's non-zero value; or a
     * negative value for input that cannot be read (the session closes
     * this one connection and logs <why>, <why_size> bytes, e.g. "bad
     * MBAP length 300 (protocol id 0, tid 7)") */
    int (*feed)(struct fe_conn *c, const uint8_t *data, size_t len,
                char *why, size_t why_size);
    /* bytes held of a request not yet whole; 0 if none. The session
     * closes a connection whose request stays unfinished for
     * SESSION_FRAME_MS while it reads */
    size_t (*partial)(const struct fe_conn *c);
    /* the bytes that answer DONE request <r> (its response PDU is at
     * req_rsp(r), r->rsp_len bytes, with MB_MBAP_HDR bytes free in front
     * of it in r->out for a header). Stores their start in *<out>; they
     * must lie in <r> (r->out), since the write may outlive the call.
     * Returns their length, or 0 when the protocol answers nothing (a
     * client that is never told about errors, say): the request is then
     * freed as answered. A type whose bytes do not fit there (a TLS
     * record) writes them through host->send and returns 0 */
    size_t (*encode_reply)(struct fe_conn *c, struct req *r,
                           const uint8_t **out);
    /* optional: free what c->state holds; the connection is gone */
    void (*close)(struct fe_conn *c);
    /* optional: frame <data> (<len> bytes) came from the device link of
     * the backend this connection's listener names, unasked for or not
     * (a dongle copies every answer to every client): pass it on or not.
     * Returns true if it was sent. Must not call host->request */
    bool (*device_frame)(struct fe_conn *c, const uint8_t *data, size_t len);
    /* optional: called about once a second on every connection of the
     * type, for what it sends on its own (heartbeats) */
    void (*tick)(struct fe_conn *c, uint64_t now_ms);
};

const struct frontend_ops *frontend_find(const char *type);
size_t frontend_type_names(char *buf, size_t size);

/* The types, each in its own file; frontend.c lists them. */
extern const struct frontend_ops fe_modbus_ops;
extern const struct frontend_ops fe_givenergy_ops;

#endif /* MUX_FRONTEND_H */

/* SPDX-License-Identifier: MIT */
/*
 * backend.h -- one device link (a TCP device, an RS485 bus, a dongle)
 * behind one vtable. The core (backend.c) owns the queue, max_inflight,
 * pacing, deadlines, retries, coalescing, reconnect back-off and stats; a
 * backend type owns its transport and framing.
 */
#ifndef MUX_BACKEND_H
#define MUX_BACKEND_H

#include <uv.h>

#include "cache.h"
#include "merge.h"
#include "poller.h"
#include "cfg.h"
#include "core.h"
#include "req.h"
#include "router.h"
#include "sched.h"
#include "stats.h"

struct http_buf;

/*
 * IMPORTANT: a backend type changes the core's state only through the
 * functions below; the fields of struct backend are the core's, except
 * be->priv (the type's own), the counters in be->st, and be->cache for a
 * type with own_cache. The core sets be->up, and closes its own handles.
 *
 * Every request given to transmit() ends with exactly one of:
 *   backend_done()           the device answered; the response is in
 *                            req_rsp() (checked by the type)
 *   backend_fail()           give up with the proxy's exception, no retry
 *   backend_attempt_failed() this attempt failed: a read with retries
 *                            left goes again, anything else gets 0x0B
 *   backend_continue()       another device transaction is needed (the
 *                            next block, the next register): queued again
 *   backend_broadcast_sent() a broadcast went out: nobody answers it
 * Finding the request an answer is for:
 *   backend_match_tid(), backend_match_oldest()
 * Timing a request on the wire:
 *   backend_attempt_start()  start the attempt clock (the core times out)
 *   backend_attempt_ms()     how long the attempt may take, for a type that
 *                            keeps its own clock (a serial worker)
 * The link:
 *   backend_connected(), backend_conn_failed(), backend_conn_lost()
 *   backend_device_frame()   a valid frame from the device, for the
 *                            listeners that name this backend
 *   backend_quiet()          nothing goes out for <ms> from now
 *   backend_paced()          the type sent something of its own
 *   backend_hold(), backend_release_hold()
 *                            nothing goes out in between: a type parses
 *                            everything one read brought first
 *   backend_usable_since()   how old cached registers may be for a request
 * Lifetime:
 *   backend_handle_opened(), backend_handle_closed()
 *                            a handle or lookup of the type that uses <be>
 *                            in its callback: <be> outlives it
 * Any of the calls that end a request, and the link calls, may transmit the
 * next request before they return, unless the link is held: the core holds
 * it itself while transmit() runs, so a type may end a request inside
 * transmit() (an answer from its cache, a write that failed).
 */
/* Who made a backend (the server): the one upward call a backend makes,
 * through a callback its owner set. */
struct backend_owner {
    /* <be> is being freed, its link closed (a reload may start a backend
     * that waited for it) */
    void (*gone)(struct backend_owner *o, struct backend *be);
    /* optional: <be>'s device sent frame <data> (<len> bytes, in the
     * link's own framing), valid, asked for or not: the owner offers it
     * to the clients of the listeners that name <be>. Must not call
     * back into <be> */
    void (*device_frame)(struct backend_owner *o, struct backend *be,
                         const uint8_t *data, size_t len);
};

struct backend_ops {
    const char *type;                          /* the ini's "type =" value */
    /* Its configuration, used without I/O: by cfg.c through the registry
     * (keys, check_cfg) and by a reload (same_link, shares_device). keys:
     * its own keys (cfg.h), whose values are a struct of its file in
     * be->cfg.own, and those of the common keys whose default or range
     * differ for it (the first entry of a name wins); NULL: none. */
    const struct cfg_key *keys;
    /* optional: the rules between its keys; false with "key: what is
     * wrong" in <why> (cfg.c reports it at the section's line) */
    bool (*check_cfg)(const struct cfg_backend *c, char *why, size_t size);
    /* may a reload keep the running link of <old> for <c> (same type,
     * same name)? NULL: never */
    bool (*same_link)(const struct cfg_backend *old,
                      const struct cfg_backend *c);
    /* optional: do <a> and <b> use one device, so that a new backend must
     * wait for a released one to close (a serial port)? */
    bool (*shares_device)(const struct cfg_backend *a,
                          const struct cfg_backend *b);
    /* optional: its part of the backend's card on /status, HTML; every
     * string goes through http_buf_html() */
    void (*status_html)(const struct backend *be, struct http_buf *b);
    /* optional: is an up link also healthy (/healthz)? false with why in
     * <why> (a bus we only listen to that has gone silent) */
    bool (*healthy)(const struct backend *be, char *why, size_t size);
    int  (*create)(struct backend *be);        /* allocate be->priv; no I/O */
    void (*start)(struct backend *be);         /* one connection attempt */
    void (*transmit)(struct backend *be, struct req *req); /* takes req */
    void (*stop)(struct backend *be);          /* close; no callbacks after */
    /* optional: the attempt of <req> timed out; finish it (e.g. through a
     * reconnect, or a quiet line, when late answers could not be told
     * apart) */
    void (*attempt_timeout)(struct backend *be, struct req *req);
    /* optional: 0 if the type can carry <req>, else the exception code */
    uint8_t (*admit)(struct backend *be, const struct req *req);
    /* optional: true for a request of a function code of the type's own
     * (admitted by admit()) that only reads registers, with the layout of
     * FC 3 (base, count): the core treats it as a read (retried, shared
     * by identical reads, let through the write rules) */
    bool (*reads_only)(const struct req *req);
    /* the type stores what it receives in be->cache itself (answers it
     * assembles from older values must not be stored again as new) */
    bool own_cache;
    void (*destroy)(struct backend *be);       /* free be->priv */
};

/* One backend. */
struct backend {
    const struct backend_ops *ops;
    struct cfg_backend  cfg;             /* a copy: reload may replace it */
    struct backend_owner *owner;         /* borrowed: told when it is
                                            freed; NULL: nobody */
    uv_loop_t          *loop;
    void               *priv;            /* the type's state */
    bool                up;              /* transport ready: may transmit */
    bool                down;            /* failing fast with 0x0A */
    bool                proven;          /* a response came on this link */
    bool                stopping;
    bool                released;        /* free when the handles close */
    bool                discarded;       /* never started, in no server
                                            list (backend_discard()) */
    bool                started;         /* backend_start() was called */
    bool                waiting;         /* a reload's new backend: starts
                                            once every released one it
                                            follows has closed (server.c) */
    TAILQ_ENTRY(backend) closing_link;   /* srv->closing, once released */
    unsigned            holding;         /* backend_hold() depth: no
                                            transmission meanwhile */
    bool                kick_held;       /* a kick came while holding */
    unsigned            failures;        /* connect failures in a row */
    uint32_t            write_epoch;     /* writes submitted so far */
    uint64_t            backoff_ms;      /* delay before the next attempt */
    struct sched        sched;           /* QUEUED, in flows by client */
    struct req_list     inflight;        /* INFLIGHT: on the wire, oldest
                                            first */
    unsigned            n_inflight;
    struct req_list     deadlines;       /* QUEUED and ATTACHED, by
                                            deadline */
    uint64_t            ready_ns;        /* uv_hrtime() from which the next
                                            request may go: the end of the
                                            last response (or timeout) plus
                                            min_spacing_ms, or plus
                                            broadcast_delay_ms if longer */
    unsigned            request_timeout_ms; /* from [server] */
    uv_timer_t          pace_timer;      /* min_spacing_ms */
    uv_check_t          pace_check;      /* the kick after a paced pause, */
    uv_idle_t           pace_idle;       /* once the loop has read (idle:
                                            without blocking) */
    uv_timer_t          deadline_timer;  /* request_timeout_ms */
    uv_timer_t          attempt_timer;   /* timeout_ms of in-flight attempts */
    uv_timer_t          retry_timer;     /* reconnect back-off */
    unsigned            open_handles;    /* handles (the core's and the
                                            type's) not yet closed */
    struct cache        cache;           /* registers seen on this link,
                                            BACKEND_CACHE_CHUNKS at most */
    struct cache        writes;          /* when registers were last
                                            written (min_write_interval_ms) */
    struct merge_holes  holes;           /* where merged reads were
                                            refused (merge_reads) */
    struct poller       poll;            /* its own reads (poll) */
    uint8_t             routed[32];      /* bit per backend unit that a
                                            route leads to (server.c) */
    unsigned            nodes_online;    /* devices the type hears from
                                            now, for a type that counts
                                            them (tigo); a gauge */
    char                last_error[160]; /* why it last failed, or "" */
    uint64_t            last_error_ms;   /* uv_now() of that, 0 = never */
    uint64_t            up_since_ms;     /* uv_now() of the last connect */
    struct stats_hist   queue_wait;      /* parse -> first transmission */
    struct stats_hist   wire_time;       /* transmission -> its answer */
    struct stats_backend st;
};

#define blog(level, be, fmt, ...) \
    LOG(level, "B:%s: " fmt, (be)->cfg.name, ##__VA_ARGS__)

#define BACKEND_BACKOFF_MIN_MS 500
#define BACKEND_BACKOFF_MAX_MS 30000
/* Register cache budget: 4096 chunks of 64 registers (262,144 registers,
 * about 2.7 MB) per backend, far more than the devices we serve use. */
#define BACKEND_CACHE_CHUNKS 4096

const struct backend_ops *backend_find_ops(const char *type);
const struct backend_ops *backend_type_at(size_t i);
void backend_register(const struct backend_ops *ops);
struct backend *backend_new(struct backend_owner *owner, uv_loop_t *loop,
                            const struct backend_ops *ops,
                            const struct cfg_backend *cfg,
                            unsigned request_timeout_ms);
void backend_start(struct backend *be);
void backend_stop(struct backend *be);
void backend_free(struct backend *be);
void backend_release(struct backend *be);
void backend_discard(struct backend *be);
void backend_handle_opened(struct backend *be);
void backend_handle_closed(struct backend *be);
void backend_update(struct backend *be, const struct cfg_backend *cfg,
                    unsigned request_timeout_ms);
const char *backend_name(const struct backend *be);
void backend_set_routes(struct backend *const *bes, unsigned n,
                        const struct router *r);
bool backend_routed(const struct backend *be, uint8_t unit);
bool backend_is_read(const struct backend *be, const struct req *r);
const char *backend_state(const struct backend *be);

void backend_submit(struct backend *be, struct req *r);
void backend_abandon(struct backend *be, struct req *r);
void backend_owner_gone(struct backend *be, const struct req_owner *owner);
void backend_kick(struct backend *be);
void backend_hold(struct backend *be);
void backend_release_hold(struct backend *be);

void backend_attempt_start(struct backend *be, struct req *r);
unsigned backend_attempt_ms(struct backend *be, const struct req *r);
void backend_done(struct backend *be, struct req *r);
void backend_fail(struct backend *be, struct req *r, uint8_t code);
void backend_attempt_failed(struct backend *be, struct req *r,
                            const char *why);
void backend_broadcast_sent(struct backend *be, struct req *r);
void backend_continue(struct backend *be, struct req *r);
void backend_paced(struct backend *be);
void backend_quiet(struct backend *be, unsigned ms);
uint64_t backend_usable_since(const struct backend *be, const struct req *r);
struct req *backend_match_tid(struct backend *be, uint16_t tid);
struct req *backend_match_oldest(struct backend *be);

void backend_device_frame(struct backend *be, const uint8_t *data,
                          size_t len);
void backend_connected(struct backend *be);
void backend_conn_failed(struct backend *be, const char *why);
void backend_conn_lost(struct backend *be, const char *why);

#endif /* MUX_BACKEND_H */

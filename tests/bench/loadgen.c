/* SPDX-License-Identifier: MIT */
/*
 * loadgen.c -- a libuv Modbus TCP load generator for benchmarking
 * modbus-mux (or, for the baseline, the simulator directly).
 *
 * One process, one uv loop, N client connections. Each client keeps
 * --pipeline read requests (FC 3 or 4) outstanding, each with a fresh
 * transaction id, and verifies every reply against the simulator's register
 * image (tests/sim/sim_map.h): transaction id, unit, function code, byte
 * count and every register value. Latency is taken from staging a request to
 * reading its reply and kept in a log-linear histogram; nothing is allocated
 * per request. At the end one key=value line goes to stdout (it ends with
 * the totals over every phase: requests sent, replies matched, replies that
 * came after the 5 s timeout, requests never answered); the exit status
 * is 0 only when no reply was wrong, no connection was closed by the peer and
 * every client connected.
 *
 * With --idle it only opens the connections, prints "connected N" and holds
 * them silent, so that the proxy's memory per idle client can be measured.
 *
 * With --interval-ms N each client behaves like a real poller: after a reply
 * it waits N ms before sending the next request (the first requests of the
 * clients are spread evenly over the first N ms). The waits are one FIFO,
 * sorted by construction, behind one timer.
 *
 * The command line is lg_opts.c, the latency histogram lg_hist.c.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <uv.h>

#include "lg_hist.h"
#include "lg_opts.h"
#include "mbap.h"
#include "sim_map.h"

#define REQ_PDU_LEN       5u               /* fc, addr(2), count(2) */
#define REQ_ADU_LEN       (MB_MBAP_HDR + REQ_PDU_LEN)
#define NS_PER_US         1000ull
#define NS_PER_MS         1000000ull
#define NS_PER_S          1000000000ull
#define REPLY_TIMEOUT_NS  (5 * NS_PER_S)
#define DRAIN_GRACE_MS    (5000u + 500u)   /* > reply timeout + one scan */
#define SCAN_MS           250u             /* timeout scan period */
#define CONNECT_TRIES     5u               /* attempts per connection */
#define CONNECT_BACKOFF_MS 20u             /* doubled on every retry */
#define CONNECT_DEADLINE_NS (60 * NS_PER_S)
#define READ_BUF_SIZE     65536u
#define LOG_MAX           10u              /* stderr lines per kind */
#define NO_CONN           UINT32_MAX

enum phase {
    PH_CONNECT,              /* opening connections, nothing sent yet */
    PH_WARMUP,               /* sending, replies verified but not counted */
    PH_MEASURE,              /* sending and counting (idle: holding) */
    PH_DRAIN,                /* no new requests, waiting for the last replies */
    PH_DONE,                 /* everything is being closed */
};

enum conn_state {
    CS_NEW,                  /* no handle yet */
    CS_CONNECTING,           /* handle open, connect pending */
    CS_UP,                   /* connected */
    CS_CLOSING,              /* uv_close called, callback pending */
    CS_RETRY,                /* handle closed, waiting in the retry list */
    CS_DEAD,                 /* handle closed for good */
};

/* One outstanding request. */
struct slot {
    uint64_t sent_ns;        /* uv_hrtime() when it was staged */
    uint16_t tid;
    uint16_t addr;
    uint8_t  busy;
    uint8_t  expired;        /* already counted as a timeout */
};

struct conn {
    uv_tcp_t       tcp;
    uv_connect_t   creq;
    uv_write_t     wreq;
    struct mbap_rx rx;
    struct slot   *slots;    /* g.slot_count of them, indexed by tid & mask */
    uint8_t       *sbuf;     /* staged requests, not yet given to the kernel */
    uint8_t       *wbuf;     /* bytes owned by the pending uv_write */
    uint64_t       retry_due;
    uint32_t       idx;
    uint32_t       seq;          /* --ranges: requests made so far */
    uint32_t       retry_next;
    uint32_t       outstanding;
    uint32_t       slen;
    uint16_t       next_tid;
    uint8_t        state;
    uint8_t        tries;
    uint8_t        wbusy;
};

struct stats {
    uint64_t requests;       /* good replies inside the measurement window */
    uint64_t exceptions;
    uint64_t ex[256];
    uint64_t wrong;
    uint64_t closed;
    uint64_t timeouts;
    uint64_t connect_errors;
    uint64_t sent;           /* requests handed out, every phase */
    uint64_t replies;        /* replies matched to a request, every phase */
    uint64_t late;           /* replies to requests already counted as timeouts */
    uint64_t unanswered;     /* requests still without a reply at the end */
    struct hist lat;         /* microseconds, good replies in the window */
};

/* A request slot waiting out --interval-ms before its next request. */
struct wait {
    uint64_t due_ms;         /* uv_now() at which to send */
    uint32_t conn;
};

struct gen {
    uv_loop_t   *loop;
    struct opts  o;
    struct conn *conns;
    struct slot *slot_pool;
    uint8_t     *buf_pool;
    uint32_t     slot_count;     /* power of two >= pipeline */
    uint32_t     slot_mask;
    uint32_t     next_launch;    /* first conn never started */
    uint32_t     connected;
    uint32_t     retry_head;
    uint64_t     outstanding;    /* over all connections */
    enum phase   phase;
    uint64_t     now;            /* uv_hrtime() of the read being handled */
    uint64_t     t_connect;
    uint64_t     t_start;
    uint64_t     t_end;
    unsigned     logged_wrong;
    unsigned     logged_closed;
    unsigned     logged_connect;
    uv_timer_t   tick;
    uv_timer_t   phase_timer;
    uv_timer_t   scan;
    uv_timer_t   pace;           /* --interval-ms: the head of <waits> */
    struct wait *waits;          /* ring of clients * pipeline entries */
    uint32_t     waits_cap;
    uint32_t     waits_head;
    uint32_t     waits_len;
    uv_signal_t  sigint;
    uv_signal_t  sigterm;
    struct stats st;
    uint8_t      rbuf[READ_BUF_SIZE];
};

static struct gen g;

static void finish(void);
static void conn_flush(struct conn *c);

/* ---- requests ----------------------------------------------------------- */

/* Register address of a request: in distinct mode every outstanding request
 * of every client reads its own block (until clients * pipeline * count
 * wraps the address space), so a proxy cannot coalesce any two. With
 * --pipeline 1 this is (client * count) % (65536 - count). */
static uint16_t
request_addr(struct conn *c, uint32_t slot)
{
    uint64_t block;

    if (g.o.same_addr) {
        return 0;
    }
    if (g.o.ranges != 0) {      /* the next of its ranges, from its own */
        uint32_t stride = g.o.stride != 0 ? g.o.stride : g.o.count;

        return (uint16_t)(((c->idx * 7u + c->seq++) % g.o.ranges) * stride);
    }
    block = (uint64_t)c->idx * g.o.pipeline + slot % g.o.pipeline;
    if (g.o.addr_span != 0) {
        return (uint16_t)((block % (g.o.addr_span / g.o.count)) * g.o.count);
    }
    return (uint16_t)((block * g.o.count) % (65536u - g.o.count));
}

/* Append one read request with a fresh transaction id to c->sbuf. The
 * caller guarantees fewer than --pipeline requests are outstanding, so a free
 * slot exists and sbuf has room. */
static void
conn_stage(struct conn *c)
{
    uint8_t pdu[REQ_PDU_LEN];
    struct slot *s;
    uint16_t tid = c->next_tid;

    while (c->slots[tid & g.slot_mask].busy) {
        tid++;
    }
    c->next_tid = (uint16_t)(tid + 1u);
    s = &c->slots[tid & g.slot_mask];
    s->busy = 1;
    s->expired = 0;
    s->tid = tid;
    s->sent_ns = g.now;
    s->addr = request_addr(c, tid & g.slot_mask);
    pdu[0] = g.o.fc;
    pdu[1] = (uint8_t)(s->addr >> 8);
    pdu[2] = (uint8_t)s->addr;
    pdu[3] = (uint8_t)(g.o.count >> 8);
    pdu[4] = (uint8_t)g.o.count;
    c->slen += (uint32_t)mbap_encode(c->sbuf + c->slen, tid, g.o.unit, pdu,
                                     sizeof(pdu));
    c->outstanding++;
    g.outstanding++;
    g.st.sent++;
}

/* ---- --interval-ms ------------------------------------------------------ */

static void on_pace(uv_timer_t *t);

/* Arm the pace timer for the head of the queue. */
static void
pace_arm(void)
{
    uint64_t now = uv_now(g.loop), due;

    if (g.waits_len == 0 || g.phase == PH_DONE) {
        return;
    }
    due = g.waits[g.waits_head].due_ms;
    uv_timer_start(&g.pace, on_pace, due > now ? due - now : 0, 0);
}

/* Queue one request of <c> to be staged at <due_ms>; entries come in order
 * of due time, so the ring stays sorted. */
static void
pace_push(const struct conn *c, uint64_t due_ms)
{
    struct wait *w;

    if (g.waits_len == g.waits_cap) {
        return;              /* cannot happen: one entry per free slot */
    }
    w = &g.waits[(g.waits_head + g.waits_len) % g.waits_cap];
    w->due_ms = due_ms;
    w->conn = c->idx;
    g.waits_len++;
    if (g.waits_len == 1) {
        pace_arm();
    }
}

/* Stage every request that is due; a client closed meanwhile is skipped. */
static void
on_pace(uv_timer_t *t)
{
    uint64_t now = uv_now(g.loop);

    (void)t;
    g.now = uv_hrtime();
    while (g.waits_len > 0 && g.waits[g.waits_head].due_ms <= now) {
        struct conn *c = &g.conns[g.waits[g.waits_head].conn];

        g.waits_head = (g.waits_head + 1u) % g.waits_cap;
        g.waits_len--;
        if ((g.phase == PH_WARMUP || g.phase == PH_MEASURE) &&
            c->state == CS_UP && c->outstanding < g.o.pipeline) {
            conn_stage(c);
            conn_flush(c);
        }
    }
    pace_arm();
}

/* The next request of <c> after a reply: now, or --interval-ms later. */
static void
conn_next(struct conn *c)
{
    if (g.phase != PH_WARMUP && g.phase != PH_MEASURE) {
        return;
    }
    if (g.o.interval_ms == 0) {
        conn_stage(c);
        return;
    }
    pace_push(c, uv_now(g.loop) + g.o.interval_ms);
}

static void
slot_release(struct conn *c, struct slot *s)
{
    s->busy = 0;
    c->outstanding--;
    g.outstanding--;
}

/* Why the reply <pdu> to a read of <addr> is wrong, or NULL if it is right.
 * Exception replies are dealt with before this. */
static const char *
reply_problem(const uint8_t *pdu, size_t len, uint16_t addr)
{
    size_t k;

    if (pdu[0] != g.o.fc) {
        return "function code mismatch";
    }
    if (len != 2u + 2u * g.o.count || pdu[1] != 2u * g.o.count) {
        return "byte count mismatch";
    }
    for (k = 0; k < g.o.count; k++) {
        unsigned a = (addr + k) & 0xffffu;
        uint16_t want = g.o.fc == 3 ? sim_holding(g.o.unit, a)
                                    : sim_input(g.o.unit, a);
        uint16_t got = (uint16_t)(pdu[2 + 2 * k] << 8 | pdu[3 + 2 * k]);

        if (got != want) {
            return "register value mismatch";
        }
    }
    return NULL;
}

static void
note_wrong(const struct conn *c, unsigned tid, const char *why)
{
    g.st.wrong++;
    if (g.logged_wrong++ < LOG_MAX) {
        fprintf(stderr, "loadgen: client %u tid %u: %s\n", c->idx, tid, why);
    }
}

static void
count_good(const struct slot *s)
{
    if (g.phase == PH_MEASURE) {
        g.st.requests++;
        hist_add(&g.st.lat, (g.now - s->sent_ns) / NS_PER_US);
    }
}

/* mbap_rx_feed callback: verify one reply and put a new request in its
 * place. Always returns 0 so that the rest of the read is checked too. */
static int
on_frame(void *ctx, const struct mbap *hdr, const uint8_t *pdu,
         size_t pdu_len)
{
    struct conn *c = ctx;
    struct slot *s = &c->slots[hdr->tid & g.slot_mask];
    const char *why;

    if (!s->busy || s->tid != hdr->tid) {
        note_wrong(c, hdr->tid, "unexpected transaction id");
        return 0;
    }
    g.st.replies++;
    if (s->expired) {
        g.st.late++;
    }
    if (hdr->unit != g.o.unit) {
        note_wrong(c, hdr->tid, "unit mismatch");
    } else if (pdu[0] == (g.o.fc | 0x80u) && pdu_len == 2) {
        g.st.exceptions++;
        g.st.ex[pdu[1]]++;
    } else if ((why = reply_problem(pdu, pdu_len, s->addr)) != NULL) {
        note_wrong(c, hdr->tid, why);
    } else {
        count_good(s);
    }
    slot_release(c, s);
    conn_next(c);
    return 0;
}

/* ---- connection I/O ----------------------------------------------------- */

static void
on_close_dead(uv_handle_t *h)
{
    struct conn *c = h->data;

    c->state = CS_DEAD;
}

/* Close an established connection and forget its outstanding requests. */
static void
conn_drop(struct conn *c)
{
    uint32_t i;

    if (c->state != CS_UP) {
        return;
    }
    for (i = 0; i < g.slot_count; i++) {
        c->slots[i].busy = 0;
    }
    g.outstanding -= c->outstanding;
    c->outstanding = 0;
    c->state = CS_CLOSING;
    uv_close((uv_handle_t *)&c->tcp, on_close_dead);
}

static void
maybe_drained(void)
{
    if (g.phase == PH_DRAIN && g.outstanding == 0) {
        finish();
    }
}

/* The peer closed the connection, or reading or writing on it failed. */
static void
conn_lost(struct conn *c, int err)
{
    if (c->state != CS_UP) {
        return;
    }
    g.st.closed++;
    if (g.logged_closed++ < LOG_MAX) {
        fprintf(stderr, "loadgen: client %u closed: %s\n", c->idx,
                uv_strerror(err));
    }
    conn_drop(c);
    maybe_drained();
}

static void
on_write(uv_write_t *req, int status)
{
    struct conn *c = req->data;

    c->wbusy = 0;
    if (status == UV_ECANCELED) {
        return;
    }
    if (status < 0) {
        conn_lost(c, status);
        return;
    }
    conn_flush(c);
}

/* Hand the staged requests to the kernel: directly when nothing is queued
 * (the usual case, no callback), else through one uv_write of a copy. */
static void
conn_flush(struct conn *c)
{
    uv_buf_t buf;
    int n;

    if (c->wbusy || c->slen == 0 || c->state != CS_UP) {
        return;
    }
    buf = uv_buf_init((char *)c->sbuf, c->slen);
    n = uv_try_write((uv_stream_t *)&c->tcp, &buf, 1);
    if (n == (int)c->slen) {
        c->slen = 0;
        return;
    }
    if (n < 0 && n != UV_EAGAIN) {
        conn_lost(c, n);
        return;
    }
    n = n < 0 ? 0 : n;
    memcpy(c->wbuf, c->sbuf + n, c->slen - (uint32_t)n);
    buf = uv_buf_init((char *)c->wbuf, c->slen - (uint32_t)n);
    c->slen = 0;
    c->wreq.data = c;
    n = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &buf, 1, on_write);
    if (n < 0) {
        conn_lost(c, n);
        return;
    }
    c->wbusy = 1;
}

/* All connections read into one buffer: libuv calls read_cb right after
 * alloc_cb for the same stream, and the reassembler keeps partial frames. */
static void
on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)h;
    (void)hint;
    *buf = uv_buf_init((char *)g.rbuf, sizeof(g.rbuf));
}

static void
on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = stream->data;
    struct mbap bad;
    int rc;

    if (nread == 0) {
        return;
    }
    if (nread < 0) {
        conn_lost(c, (int)nread);
        return;
    }
    g.now = uv_hrtime();
    rc = mbap_rx_feed(&c->rx, (const uint8_t *)buf->base, (size_t)nread,
                      on_frame, c, &bad);
    if (rc < 0) {
        note_wrong(c, bad.tid, mbap_strerror(rc));
        conn_drop(c);
    }
    conn_flush(c);
    maybe_drained();
}

/* ---- connecting --------------------------------------------------------- */

static void
start_load(void);

/* Called whenever a connection attempt resolves for good. */
static void
check_connect_done(void)
{
    if (g.phase != PH_CONNECT ||
        g.connected + g.st.connect_errors < g.o.clients) {
        return;
    }
    uv_timer_stop(&g.tick);
    if (g.o.idle) {
        printf("connected %u\n", g.connected);
        fflush(stdout);
    }
    start_load();
}

static void
connect_give_up(struct conn *c, int err)
{
    g.st.connect_errors++;
    if (g.logged_connect++ < LOG_MAX) {
        fprintf(stderr, "loadgen: client %u: connect: %s\n", c->idx,
                uv_strerror(err));
    }
    check_connect_done();
}

static void
on_close_retry(uv_handle_t *h)
{
    struct conn *c = h->data;

    if (g.phase != PH_CONNECT) {
        c->state = CS_DEAD;
        return;
    }
    c->state = CS_RETRY;
    c->retry_due = uv_hrtime() + NS_PER_MS *
                   ((uint64_t)CONNECT_BACKOFF_MS << (c->tries - 1u));
    c->retry_next = g.retry_head;
    g.retry_head = c->idx;
}

static bool
connect_retryable(int err)
{
    return err == UV_ECONNREFUSED || err == UV_ECONNRESET ||
           err == UV_ETIMEDOUT || err == UV_EAGAIN ||
           err == UV_ECONNABORTED;
}

/* A connect failed: close the handle and retry later, or give up. */
static void
connect_failed(struct conn *c, int err)
{
    bool retry = connect_retryable(err) && c->tries < CONNECT_TRIES &&
                 g.phase == PH_CONNECT;

    c->state = CS_CLOSING;
    uv_close((uv_handle_t *)&c->tcp, retry ? on_close_retry : on_close_dead);
    if (!retry) {
        connect_give_up(c, err);
    }
}

static void
on_connect(uv_connect_t *req, int status)
{
    struct conn *c = req->data;

    if (c->state != CS_CONNECTING) {
        return;              /* closed under us: deadline or shutdown */
    }
    if (status < 0) {
        connect_failed(c, status);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    c->state = CS_UP;
    g.connected++;
    status = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (status < 0) {
        conn_lost(c, status);
    }
    check_connect_done();
}

static void
conn_launch(struct conn *c)
{
    int rc;

    c->tries++;
    mbap_rx_init(&c->rx);
    uv_tcp_init(g.loop, &c->tcp);
    c->tcp.data = c;
    c->creq.data = c;
    c->state = CS_CONNECTING;
    rc = uv_tcp_connect(&c->creq, &c->tcp,
                        (const struct sockaddr *)&g.o.target, on_connect);
    if (rc < 0) {
        connect_failed(c, rc);
    }
}

/* Start the retries that are due; returns how much <budget> is left. */
static uint32_t
launch_retries(uint32_t budget, uint64_t now)
{
    uint32_t *link = &g.retry_head;

    while (*link != NO_CONN && budget > 0) {
        struct conn *c = &g.conns[*link];

        if (c->retry_due > now) {
            link = &c->retry_next;
            continue;
        }
        *link = c->retry_next;
        conn_launch(c);
        budget--;
    }
    return budget;
}

/* Past the connect deadline: whatever has not connected yet never will. */
static void
connect_abort(void)
{
    uint32_t i;

    fprintf(stderr, "loadgen: connect deadline passed, giving up on %u\n",
            g.o.clients - g.connected - (uint32_t)g.st.connect_errors);
    g.retry_head = NO_CONN;
    g.next_launch = g.o.clients;
    for (i = 0; i < g.o.clients; i++) {
        struct conn *c = &g.conns[i];

        if (c->state == CS_CONNECTING) {
            c->state = CS_CLOSING;
            uv_close((uv_handle_t *)&c->tcp, on_close_dead);
        }
        if (c->state == CS_NEW || c->state == CS_RETRY) {
            c->state = CS_DEAD;
        }
    }
    /* a handle still closing for a retry sees the phase change and dies */
    g.st.connect_errors = g.o.clients - g.connected;
    check_connect_done();
}

/* Every TICK_MS: open up to --connect-rate new connections (retries first),
 * so that thousands of connects do not overrun the listen backlog. */
static void
on_tick(uv_timer_t *t)
{
    uint64_t now = uv_hrtime();
    uint32_t budget;

    (void)t;
    if (now - g.t_connect > CONNECT_DEADLINE_NS) {
        connect_abort();
        return;
    }
    budget = launch_retries(g.o.connect_rate, now);
    while (budget > 0 && g.next_launch < g.o.clients) {
        conn_launch(&g.conns[g.next_launch++]);
        budget--;
    }
}

/* ---- phases ------------------------------------------------------------- */

static uint64_t
secs_to_ms(double s)
{
    return (uint64_t)(s * 1000.0 + 0.5);
}

static void
on_drain_timeout(uv_timer_t *t)
{
    (void)t;
    finish();
}

/* End of the measurement window: stop issuing, wait for what is in flight. */
static void
end_measure(void)
{
    g.t_end = uv_hrtime();
    g.phase = PH_DRAIN;
    uv_timer_start(&g.phase_timer, on_drain_timeout, DRAIN_GRACE_MS, 0);
    maybe_drained();
}

static void
on_measure_done(uv_timer_t *t)
{
    (void)t;
    if (g.o.idle) {
        g.t_end = uv_hrtime();
        finish();
        return;
    }
    end_measure();
}

static void
begin_measure(void)
{
    g.t_start = uv_hrtime();
    g.phase = PH_MEASURE;
    if (!g.o.idle || g.o.duration_set) {
        uv_timer_start(&g.phase_timer, on_measure_done,
                       secs_to_ms(g.o.duration_s), 0);
    }
}

static void
on_warmup_done(uv_timer_t *t)
{
    (void)t;
    begin_measure();
}

/* All clients are connected (or given up): fill every pipeline. */
static void
start_load(void)
{
    uint32_t i, k;

    if (g.connected == 0) {
        g.t_start = g.t_end = uv_hrtime();
        finish();
        return;
    }
    if (g.o.idle) {
        begin_measure();
        return;
    }
    g.phase = PH_WARMUP;
    g.now = uv_hrtime();
    for (i = 0; i < g.o.clients; i++) {
        struct conn *c = &g.conns[i];

        if (g.o.interval_ms != 0) {
            /* pollers start spread over one interval, not all at once */
            uint64_t at = uv_now(g.loop) +
                          (uint64_t)i * g.o.interval_ms / g.o.clients;

            for (k = 0; k < g.o.pipeline && c->state == CS_UP; k++) {
                pace_push(c, at);
            }
            continue;
        }
        for (k = 0; k < g.o.pipeline && c->state == CS_UP; k++) {
            conn_stage(c);
        }
        conn_flush(c);
    }
    if (g.o.warmup_s > 0) {
        uv_timer_start(&g.phase_timer, on_warmup_done,
                       secs_to_ms(g.o.warmup_s), 0);
    } else {
        begin_measure();
    }
}

/* Count every request without a reply for REPLY_TIMEOUT_NS, once. It stays
 * outstanding: a late reply is still verified. */
static void
scan_timeouts(void)
{
    uint64_t now = uv_hrtime();
    uint32_t i, k;

    for (i = 0; i < g.o.clients; i++) {
        struct conn *c = &g.conns[i];

        for (k = 0; c->outstanding > 0 && k < g.slot_count; k++) {
            struct slot *s = &c->slots[k];

            if (s->busy && !s->expired && now - s->sent_ns > REPLY_TIMEOUT_NS) {
                s->expired = 1;
                g.st.timeouts++;
            }
        }
    }
}

static void
on_scan(uv_timer_t *t)
{
    (void)t;
    if (g.outstanding > 0) {
        scan_timeouts();
    }
}

static void
on_signal(uv_signal_t *sig, int signum)
{
    (void)sig;
    (void)signum;
    if (g.phase == PH_MEASURE && !g.o.idle) {
        end_measure();
        return;
    }
    if (g.t_end == 0) {
        g.t_end = uv_hrtime();
    }
    finish();
}

/* Stop everything; uv_run returns once the last handle is closed. */
static void
finish(void)
{
    uint32_t i;

    if (g.phase == PH_DONE) {
        return;
    }
    if (g.outstanding > 0) {
        scan_timeouts();
    }
    g.st.unanswered = g.outstanding;
    g.phase = PH_DONE;
    uv_close((uv_handle_t *)&g.tick, NULL);
    uv_close((uv_handle_t *)&g.pace, NULL);
    uv_close((uv_handle_t *)&g.phase_timer, NULL);
    uv_close((uv_handle_t *)&g.scan, NULL);
    uv_close((uv_handle_t *)&g.sigint, NULL);
    uv_close((uv_handle_t *)&g.sigterm, NULL);
    for (i = 0; i < g.o.clients; i++) {
        struct conn *c = &g.conns[i];

        if (c->state == CS_UP || c->state == CS_CONNECTING) {
            c->state = CS_CLOSING;
            uv_close((uv_handle_t *)&c->tcp, on_close_dead);
        }
    }
}

/* ---- output ------------------------------------------------------------- */

static double
window_seconds(void)
{
    if (g.t_start == 0 || g.t_end < g.t_start) {
        return 0.0;
    }
    return (double)(g.t_end - g.t_start) / (double)NS_PER_S;
}

static void
print_idle(void)
{
    printf("clients=%u idle=1 connected=%u duration_s=%.2f closed=%" PRIu64
           " wrong=%" PRIu64 " connect_errors=%" PRIu64 "\n",
           g.o.clients, g.connected, window_seconds(), g.st.closed,
           g.st.wrong, g.st.connect_errors);
}

static void
print_load(void)
{
    const struct hist *h = &g.st.lat;
    double secs = window_seconds();
    unsigned i;

    printf("clients=%u pipeline=%u duration_s=%.2f requests=%" PRIu64
           " rps=%.1f p50_us=%" PRIu64 " p90_us=%" PRIu64 " p99_us=%" PRIu64
           " p999_us=%" PRIu64 " max_us=%" PRIu64 " mean_us=%.1f",
           g.o.clients, g.o.pipeline, secs, g.st.requests,
           secs > 0 ? (double)g.st.requests / secs : 0.0,
           hist_quantile(h, 5000), hist_quantile(h, 9000),
           hist_quantile(h, 9900), hist_quantile(h, 9990), h->max,
           h->n ? (double)h->sum / (double)h->n : 0.0);
    printf(" exceptions=%" PRIu64 " wrong=%" PRIu64 " closed=%" PRIu64
           " timeouts=%" PRIu64 " connect_errors=%" PRIu64,
           g.st.exceptions, g.st.wrong, g.st.closed, g.st.timeouts,
           g.st.connect_errors);
    for (i = 0; i < 256; i++) {
        if (g.st.ex[i] != 0) {
            printf(" ex_%02x=%" PRIu64, i, g.st.ex[i]);
        }
    }
    printf(" interval_ms=%u sent=%" PRIu64 " replies=%" PRIu64 " late=%" PRIu64
           " unanswered=%" PRIu64 "\n", g.o.interval_ms, g.st.sent,
           g.st.replies, g.st.late, g.st.unanswered);
}

/* ---- setup -------------------------------------------------------------- */

/* One socket per client: raise the soft descriptor limit if it is short. */
static void
raise_nofile(void)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)g.o.clients + 16u;   /* + loop, signals, stdio */

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need) {
        return;
    }
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need
                  ? need : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < need) {
        fprintf(stderr, "loadgen: need %lu descriptors, limit is %lu\n",
                (unsigned long)need, (unsigned long)rl.rlim_cur);
        exit(2);
    }
}

static void *
alloc_or_die(size_t n, size_t size)
{
    void *p = calloc(n, size);

    if (p == NULL) {
        fprintf(stderr, "loadgen: out of memory\n");
        exit(2);
    }
    return p;
}

/* All per-connection state in three arrays, allocated once. */
static void
alloc_conns(void)
{
    size_t bufsz = (size_t)g.o.pipeline * REQ_ADU_LEN;
    uint32_t i;

    g.slot_count = 1;
    while (g.slot_count < g.o.pipeline) {
        g.slot_count <<= 1;
    }
    g.slot_mask = g.slot_count - 1u;
    g.conns = alloc_or_die(g.o.clients, sizeof(*g.conns));
    g.slot_pool = alloc_or_die((size_t)g.o.clients * g.slot_count,
                               sizeof(*g.slot_pool));
    g.buf_pool = alloc_or_die((size_t)g.o.clients * 2u, bufsz);
    for (i = 0; i < g.o.clients; i++) {
        struct conn *c = &g.conns[i];

        c->idx = i;
        c->state = CS_NEW;
        c->retry_next = NO_CONN;
        c->slots = g.slot_pool + (size_t)i * g.slot_count;
        c->sbuf = g.buf_pool + (size_t)i * 2u * bufsz;
        c->wbuf = c->sbuf + bufsz;
    }
    if (g.o.interval_ms != 0 && !g.o.idle) {
        g.waits_cap = g.o.clients * g.o.pipeline;
        g.waits = alloc_or_die(g.waits_cap, sizeof(*g.waits));
    }
}

static void
setup_loop(void)
{
    g.loop = uv_default_loop();
    g.retry_head = NO_CONN;
    g.phase = PH_CONNECT;
    g.t_connect = uv_hrtime();
    uv_timer_init(g.loop, &g.tick);
    uv_timer_init(g.loop, &g.phase_timer);
    uv_timer_init(g.loop, &g.scan);
    uv_timer_init(g.loop, &g.pace);
    uv_signal_init(g.loop, &g.sigint);
    uv_signal_init(g.loop, &g.sigterm);
    uv_signal_start(&g.sigint, on_signal, SIGINT);
    uv_signal_start(&g.sigterm, on_signal, SIGTERM);
    uv_timer_start(&g.tick, on_tick, 0, TICK_MS);
    uv_timer_start(&g.scan, on_scan, SCAN_MS, SCAN_MS);
}

int
main(int argc, char **argv)
{
    bool ok;

    lg_opts_parse(&g.o, argc, argv);
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    alloc_conns();
    setup_loop();
    uv_run(g.loop, UV_RUN_DEFAULT);
    if (g.o.idle) {
        print_idle();
    } else {
        print_load();
    }
    fflush(stdout);
    ok = g.st.wrong == 0 && g.st.closed == 0 && g.st.connect_errors == 0;
    uv_loop_close(g.loop);
    free(g.waits);
    free(g.buf_pool);
    free(g.slot_pool);
    free(g.conns);
    return ok ? 0 : 1;
}

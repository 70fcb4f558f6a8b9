/* SPDX-License-Identifier: MIT */
/*
 * rtu.c -- the RS485 Modbus RTU backend: one serial bus, every unit on it,
 * one queue and one pacing clock (the bus is the backend).
 *
 * libmodbus opens and configures the port (termios, kernel RS485 mode,
 * RTS) and sends; its calls block, so each bus has a worker thread of its
 * own (a dedicated thread, not libuv's pool, which DNS lookups share). The
 * worker receives the response itself with poll() and rtu_rx, so that the
 * framing rules (byte_timeout_ms, garbage, echoes, function codes of
 * unknown length) are ours and tested, not libmodbus'.
 *
 * RTU has no transaction ids: after each answer the loop keeps the bus
 * quiet for settle_ms (timeout_ms after a timeout), and the worker reads
 * what came meanwhile before it sends the next request, counting copies of
 * the last answer and late answers (rtu_rx_drain()), so that none is taken
 * for the next request's answer.
 *
 * IMPORTANT: the loop and the worker share struct rtu_bus. The loop writes
 * a job's inputs, then posts the job under the mutex; the worker writes the
 * results, then publishes them under the mutex and wakes the loop with
 * uv_async_send(). The worker never touches a struct req, only copies in
 * the bus, so the core may fail or orphan a request at any time. The
 * worker does no logging and no stats: the loop does, from the results.
 * The worker reads the bus's settings (be->cfg) while it works, so a
 * reload keeps a bus only if nothing in them changed (rtu_same_link()).
 *
 * Its keys: the line's (rtu_line_keys, rtu.h), byte_timeout_ms, echo,
 * settle_ms, and broadcast_delay_ms (100 by default).
 */
#include <errno.h>
#include <fcntl.h>
#include <modbus.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "http.h"
#include "log.h"
#include "pdu.h"
#include "rtu.h"
#include "rtu_rx.h"

enum rtu_job {
    RTU_JOB_NONE = 0,
    RTU_JOB_OPEN,
    RTU_JOB_TXN,
};

enum rtu_res {
    RTU_RES_NONE = 0,
    RTU_RES_OPENED,
    RTU_RES_OPEN_FAILED,
    RTU_RES_ANSWER,         /* rsp holds the response PDU */
    RTU_RES_SENT,           /* a broadcast left the port */
    RTU_RES_SILENT,         /* nothing came within the timeout */
    RTU_RES_BAD,            /* something came, not a response: verdict */
    RTU_RES_IOERR,          /* the port failed (unplugged?): err */
};

#define RTU_TRACE_MAX 512

#define RL(f) offsetof(struct rtu_line_cfg, f)

/* The keys of a serial line (rtu.h). */
const struct cfg_key rtu_line_keys[] = {
    {"device", CFG_STR, RL(device), CFG_HOST_MAX, NULL, 0, 0, NULL, NULL},
    {"baud", CFG_UINT, RL(baud), 0, "9600", 1200, 921600, NULL, NULL},
    {"parity", CFG_ENUM, RL(parity), 0, "none", 0, 0, "none|even|odd", NULL},
    {"data_bits", CFG_UINT, RL(data_bits), 0, "8", 5, 8, NULL, NULL},
    {"stop_bits", CFG_UINT, RL(stop_bits), 0, "1", 1, 2, NULL, NULL},
    {"rs485", CFG_BOOL, RL(rs485), 0, "no", 0, 0, NULL, NULL},
    {"rts", CFG_ENUM, RL(rts), 0, "none", 0, 0, "none|up|down", NULL},
    CFG_KEYS_END
};

/* The settings of an rtu backend (be->cfg.own). */
struct rtu_cfg {
    struct rtu_line_cfg line;
    unsigned byte_timeout_ms;    /* silence that ends a frame */
    bool     echo;               /* the line hears our requests */
    unsigned settle_ms;          /* quiet after each answer */
};

CFG_OWN_FITS(struct rtu_cfg);

#define RC(f) CFG_OWN(struct rtu_cfg, f)

static const struct cfg_key rtu_keys[] = {
    {"broadcast_delay_ms", CFG_UINT, CFG_BE(broadcast_delay_ms), 0, "100", 0,
     60000, NULL, NULL},
    {"byte_timeout_ms", CFG_UINT, RC(byte_timeout_ms), 0, "100", 1, 10000,
     NULL, NULL},
    {"echo", CFG_BOOL, RC(echo), 0, "no", 0, 0, NULL, NULL},
    {"settle_ms", CFG_UINT, RC(settle_ms), 0, "50", 0, 60000, NULL, NULL},
    CFG_KEYS_AT(rtu_line_keys, RC(line)),
    CFG_KEYS_END
};

/* A copy of bytes for the trace log: the worker must not log. */
struct rtu_bytes {
    uint8_t b[RTU_TRACE_MAX];
    size_t  len;                     /* kept in b */
    size_t  total;                   /* seen, len included */
};

/* What one job put on the bus and read from it. */
struct rtu_trace {
    struct rtu_bytes drained;        /* read before sending */
    struct rtu_bytes tx;
    struct rtu_bytes rx;
};

/* One bus (be->priv). */
struct rtu_bus {
    struct backend  *be;
    uv_thread_t      thread;
    uv_mutex_t       mu;
    uv_cond_t        cv;
    uv_async_t       async;
    /* under mu */
    enum rtu_job     job;            /* posted by the loop */
    enum rtu_res     res;            /* published by the worker */
    bool             quit;           /* the loop asks the worker to end */
    bool             exited;         /* the worker has ended */
    /* job inputs: the loop writes them before posting */
    uint8_t          unit;
    uint8_t          req[MB_PDU_MAX];
    size_t           req_len;
    bool             broadcast;
    bool             echo;           /* the line hears our requests */
    unsigned         timeout_ms;
    uint64_t         req_id;         /* which request the job is for */
    bool             trace;          /* keep the bytes for log_hexdump() */
    /* results: the worker writes them before publishing */
    int              err;
    enum rtu_verdict verdict;
    int              rs485_err;      /* 0, or why RS485 mode failed */
    int              rts_err;
    size_t           stray;          /* bytes drained or skipped */
    unsigned         copies;         /* copies of the last answer drained */
    unsigned         late;           /* late answers drained */
    uint8_t          rsp[MB_PDU_MAX];
    size_t           rsp_len;
    struct rtu_trace tr;             /* with trace: the bytes on the bus */
    /* the worker's own */
    modbus_t        *ctx;
    struct rtu_rx    rx;             /* the answer to the last request,
                                        then what else comes for it */
    bool             answered;       /* the last request was answered */
    /* the loop's own */
    bool             busy;           /* a job is posted */
    bool             stopping;
};

static const struct rtu_cfg *
rtu_cfg(const struct backend *be)
{
    return cfg_own(&be->cfg);
}

/* --- the worker -------------------------------------------------------- */

static void
rtu_bytes_add(struct rtu_bytes *t, const uint8_t *p, size_t n)
{
    size_t room = sizeof(t->b) - t->len;

    memcpy(t->b + t->len, p, MB_MIN(n, room));
    t->len += MB_MIN(n, room);
    t->total += n;
}

static uint64_t
mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
rtu_close_port(struct rtu_bus *bus)
{
    if (bus->ctx != NULL) {
        modbus_close(bus->ctx);
        modbus_free(bus->ctx);
        bus->ctx = NULL;
    }
}

static enum rtu_res
rtu_do_open(struct rtu_bus *bus)
{
    const struct rtu_line_cfg *c = &rtu_cfg(bus->be)->line;
    static const char parity[] = {'N', 'E', 'O'};

    bus->rs485_err = bus->rts_err = 0;
    bus->ctx = modbus_new_rtu(c->device, (int)c->baud, parity[c->parity],
                              (int)c->data_bits, (int)c->stop_bits);
    if (bus->ctx == NULL) {
        bus->err = errno;
        return RTU_RES_OPEN_FAILED;
    }
    if (modbus_connect(bus->ctx) != 0) {
        bus->err = errno;
        modbus_free(bus->ctx);
        bus->ctx = NULL;
        return RTU_RES_OPEN_FAILED;
    }
    /* The drain and the receive loop must never block in read(). */
    fcntl(modbus_get_socket(bus->ctx), F_SETFL,
          fcntl(modbus_get_socket(bus->ctx), F_GETFL) | O_NONBLOCK);
    if (c->rs485 &&
        modbus_rtu_set_serial_mode(bus->ctx, MODBUS_RTU_RS485) != 0) {
        bus->rs485_err = errno ? errno : ENOTTY;
    }
    if (c->rts != RTU_RTS_NONE &&
        modbus_rtu_set_rts(bus->ctx, c->rts == RTU_RTS_UP
                                         ? MODBUS_RTU_RTS_UP
                                         : MODBUS_RTU_RTS_DOWN) != 0) {
        bus->rts_err = errno ? errno : ENOTTY;
    }
    return RTU_RES_OPENED;
}

/* <n> whole responses to the last request came after it was answered
 * (copies) or given up (late answers). */
static void
rtu_count_late(struct rtu_bus *bus, unsigned n)
{
    if (bus->answered) {
        bus->copies += n;
    } else {
        bus->late += n;
    }
}

/* Whatever is waiting on the line belongs to nobody: the bus was quiet
 * since the last request, so it is a copy of its answer, a late answer or
 * noise. Count it and drop it. */
static void
rtu_drain(struct rtu_bus *bus, int fd)
{
    uint8_t junk[256];
    ssize_t n;

    while ((n = read(fd, junk, sizeof(junk))) > 0) {
        if (bus->trace) {
            rtu_bytes_add(&bus->tr.drained, junk, (size_t)n);
        }
        rtu_count_late(bus, rtu_rx_drain(&bus->rx, junk, (size_t)n));
    }
    tcflush(fd, TCIFLUSH);
    rtu_count_late(bus, rtu_rx_drain_end(&bus->rx));
    bus->stray += rtu_rx_take_dropped(&bus->rx);
}

/* Read until a response is complete, the line falls silent, or the port
 * fails. The first byte may take timeout_ms; then each byte_timeout_ms,
 * except after nothing but the echo of the request, which comes before the
 * device has even started: then the answer has the rest of timeout_ms. */
static enum rtu_res
rtu_receive(struct rtu_bus *bus, int fd)
{
    unsigned byte_ms = rtu_cfg(bus->be)->byte_timeout_ms;
    uint64_t end = mono_ms() + bus->timeout_ms + byte_ms, now;
    int wait_ms = (int)bus->timeout_ms;
    uint8_t buf[RTU_FRAME_MAX];
    const uint8_t *pdu;
    ssize_t got = 0;
    size_t rest;

    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int n = poll(&p, 1, wait_ms);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            bus->err = errno;
            return RTU_RES_IOERR;
        }
        now = mono_ms();
        if (n == 0 || now > end) {
            bus->verdict = rtu_rx_settle(&bus->rx);
            if (bus->verdict != RTU_OK && bus->rx.len == 0 &&
                bus->rx.why == RTU_OK && bus->rx.dropped > 0 && now < end) {
                wait_ms = (int)(end - now);     /* only the echo so far */
                continue;
            }
            got = 0;
            break;
        }
        got = read(fd, buf, sizeof(buf));
        if (got < 0 && (errno == EAGAIN || errno == EINTR)) {
            continue;
        }
        if (got <= 0) {
            bus->err = got == 0 ? EIO : errno;   /* hang-up: it went away */
            return RTU_RES_IOERR;
        }
        if (bus->trace) {
            rtu_bytes_add(&bus->tr.rx, buf, (size_t)got);
        }
        if (rtu_rx_push(&bus->rx, buf, (size_t)got)) {
            bus->verdict = RTU_OK;
            break;
        }
        wait_ms = (int)byte_ms;
    }
    if (bus->verdict != RTU_OK) {
        /* Only the echo, or nothing: the device is silent. */
        if (bus->rx.len == 0 && bus->rx.why == RTU_OK) {
            bus->stray += rtu_rx_take_dropped(&bus->rx);
            return RTU_RES_SILENT;
        }
        rtu_rx_discard(&bus->rx);
        bus->stray += rtu_rx_take_dropped(&bus->rx);
        return RTU_RES_BAD;
    }
    pdu = rtu_rx_pdu(&bus->rx, &bus->rsp_len);
    memcpy(bus->rsp, pdu, bus->rsp_len);
    bus->answered = true;
    /* What came with it is a copy or noise, as what comes later. */
    rest = got > 0 ? bus->rx.unread : 0;
    rtu_rx_next(&bus->rx);
    rtu_count_late(bus, rtu_rx_drain(&bus->rx, buf + got - rest, rest));
    bus->stray += rtu_rx_take_dropped(&bus->rx);
    return RTU_RES_ANSWER;
}

static enum rtu_res
rtu_do_txn(struct rtu_bus *bus)
{
    uint8_t raw[1 + MB_PDU_MAX];
    int fd = modbus_get_socket(bus->ctx);

    bus->stray = 0;
    bus->copies = bus->late = 0;
    memset(&bus->tr, 0, sizeof(bus->tr));
    rtu_drain(bus, fd);
    raw[0] = bus->unit;
    memcpy(raw + 1, bus->req, bus->req_len);
    rtu_rx_start(&bus->rx, bus->unit, bus->req, bus->req_len, bus->echo);
    bus->answered = false;
    if (bus->trace) {
        uint8_t frame[RTU_FRAME_MAX];

        rtu_bytes_add(&bus->tr.tx, frame, rtu_frame_encode(frame, bus->unit,
                      bus->req, bus->req_len));
    }
    if (modbus_send_raw_request(bus->ctx, raw, (int)bus->req_len + 1) < 0) {
        bus->err = errno;
        return RTU_RES_IOERR;
    }
    if (bus->broadcast) {
        tcdrain(fd);            /* the silence starts when it has left */
        return RTU_RES_SENT;
    }
    return rtu_receive(bus, fd);
}

static void
rtu_worker(void *arg)
{
    struct rtu_bus *bus = arg;
    enum rtu_job job;
    enum rtu_res res;

    uv_mutex_lock(&bus->mu);
    for (;;) {
        while (bus->job == RTU_JOB_NONE && !bus->quit) {
            uv_cond_wait(&bus->cv, &bus->mu);
        }
        if (bus->job == RTU_JOB_NONE) {
            break;
        }
        job = bus->job;
        uv_mutex_unlock(&bus->mu);
        res = job == RTU_JOB_OPEN ? rtu_do_open(bus) : rtu_do_txn(bus);
        if (res == RTU_RES_IOERR) {
            rtu_close_port(bus);
        }
        uv_mutex_lock(&bus->mu);
        bus->job = RTU_JOB_NONE;
        bus->res = res;
        uv_async_send(&bus->async);
    }
    uv_mutex_unlock(&bus->mu);
    rtu_close_port(bus);
    uv_mutex_lock(&bus->mu);
    bus->exited = true;
    uv_mutex_unlock(&bus->mu);
    uv_async_send(&bus->async);
}

/* --- the loop side ----------------------------------------------------- */

static void
rtu_post(struct rtu_bus *bus, enum rtu_job job)
{
    ASSERT(!bus->busy);
    bus->busy = true;
    uv_mutex_lock(&bus->mu);
    bus->job = job;
    uv_cond_signal(&bus->cv);
    uv_mutex_unlock(&bus->mu);
}

static void
rtu_opened(struct rtu_bus *bus)
{
    struct backend *be = bus->be;

    if (bus->rs485_err != 0) {
        blog(LOG_WARN, be, "rs485 = yes, but %s cannot be put in kernel "
             "RS485 mode (%s): the adapter must switch direction itself",
             rtu_cfg(be)->line.device, strerror(bus->rs485_err));
    }
    if (bus->rts_err != 0) {
        blog(LOG_WARN, be, "rts: cannot drive RTS on %s (%s)",
             rtu_cfg(be)->line.device, strerror(bus->rts_err));
    }
    backend_connected(be);
}

/* The result of a transaction, for INFLIGHT request <r>. */
static void
rtu_finish_txn(struct rtu_bus *bus, enum rtu_res res, struct req *r)
{
    struct backend *be = bus->be;
    char why[96];

    switch (res) {
    case RTU_RES_ANSWER:
        req_set_response(r, bus->rsp, bus->rsp_len);
        backend_quiet(be, rtu_cfg(be)->settle_ms);   /* for copies: see top */
        backend_done(be, r);
        break;
    case RTU_RES_SENT:
        backend_broadcast_sent(be, r);
        break;
    case RTU_RES_SILENT:
        be->st.timeouts++;
        backend_quiet(be, bus->timeout_ms);     /* see backend_quiet() */
        backend_attempt_failed(be, r, "timeout");
        break;
    default:
        be->st.bad_responses++;
        snprintf(why, sizeof(why), "%s", bus->verdict == RTU_NEED_MORE
                 ? "truncated response" : rtu_verdict_str(bus->verdict));
        rlog(LOG_WARN, r, "bad response: %s", why);
        backend_attempt_failed(be, r, why);
        break;
    }
}

static void
rtu_async_closed_cb(uv_handle_t *h)
{
    struct rtu_bus *bus = h->data;

    backend_handle_closed(bus->be);
}

/* Dump <t> at trace level as "B:<name>: <what> [n] bytes". */
static void
rtu_trace_dump(struct backend *be, const char *what,
               const struct rtu_bytes *t)
{
    char prefix[64];

    if (t->total == 0) {
        return;
    }
    snprintf(prefix, sizeof(prefix), "B:%s: %s", be->cfg.name, what);
    log_hexdump(prefix, t->b, t->len);
    if (t->total > t->len) {
        blog(LOG_TRACE, be, "%s: %zu more bytes not shown", what,
             t->total - t->len);
    }
}

/* What a finished job read and dropped, into the counters (and with
 * trace, the bytes into the log): the worker may not touch either. */
static void
rtu_job_counted(struct rtu_bus *bus)
{
    struct backend *be = bus->be;

    be->st.stray_bytes += bus->stray;
    be->st.duplicates += bus->copies;
    be->st.late_responses += bus->late;
    if (bus->copies + bus->late > 0) {
        blog(LOG_DEBUG, be, "drained %u copies of an answer, %u late "
             "answers", bus->copies, bus->late);
    }
    bus->stray = 0;
    bus->copies = bus->late = 0;
    if (bus->trace) {
        rtu_trace_dump(be, "rx while quiet", &bus->tr.drained);
        rtu_trace_dump(be, "tx", &bus->tr.tx);
        rtu_trace_dump(be, "rx", &bus->tr.rx);
        memset(&bus->tr, 0, sizeof(bus->tr));
    }
}

static void
rtu_async_cb(uv_async_t *a)
{
    struct rtu_bus *bus = a->data;
    struct backend *be = bus->be;
    enum rtu_res res;
    struct req *r;
    bool exited;
    char why[320];

    uv_mutex_lock(&bus->mu);
    res = bus->res;
    bus->res = RTU_RES_NONE;
    exited = bus->exited;
    uv_mutex_unlock(&bus->mu);
    if (res != RTU_RES_NONE) {
        bus->busy = false;
        rtu_job_counted(bus);
    }
    if (exited) {
        uv_thread_join(&bus->thread);
        uv_close((uv_handle_t *)&bus->async, rtu_async_closed_cb);
        return;
    }
    if (res == RTU_RES_NONE || bus->stopping) {
        return;
    }
    if (res == RTU_RES_OPENED) {
        rtu_opened(bus);
        return;
    }
    if (res == RTU_RES_OPEN_FAILED) {
        snprintf(why, sizeof(why), "cannot open %s: %s",
                 rtu_cfg(be)->line.device, strerror(bus->err));
        backend_conn_failed(be, why);
        return;
    }
    if (res == RTU_RES_IOERR) {
        snprintf(why, sizeof(why), "%s: %s", rtu_cfg(be)->line.device,
                 strerror(bus->err));
        backend_conn_lost(be, why);
        return;
    }
    r = backend_match_oldest(be);
    if (r != NULL && r->id == bus->req_id) {
        rtu_finish_txn(bus, res, r);
    }
}

/*
 * Put INFLIGHT request <r> on the bus: the worker sends it and waits for
 * the answer, at most backend_attempt_ms(). Takes ownership.
 */
static void
rtu_transmit(struct backend *be, struct req *r)
{
    struct rtu_bus *bus = be->priv;

    bus->unit = r->be_unit;
    memcpy(bus->req, req_pdu(r), r->pdu_len);
    bus->req_len = r->pdu_len;
    bus->broadcast = r->be_unit == 0;
    bus->echo = rtu_cfg(be)->echo;
    bus->timeout_ms = backend_attempt_ms(be, r);
    bus->req_id = r->id;
    bus->trace = log_enabled(LOG_TRACE);
    rtu_post(bus, RTU_JOB_TXN);
}

/* One attempt to open the port; the worker reports. */
static void
rtu_start(struct backend *be)
{
    struct rtu_bus *bus = be->priv;

    if (!bus->busy && !bus->stopping) {
        rtu_post(bus, RTU_JOB_OPEN);
    }
}

static int
rtu_create(struct backend *be)
{
    struct rtu_bus *bus = xcalloc(1, sizeof(*bus));

    bus->be = be;
    be->priv = bus;
    uv_mutex_init(&bus->mu);
    uv_cond_init(&bus->cv);
    uv_async_init(be->loop, &bus->async, rtu_async_cb);
    bus->async.data = bus;
    backend_handle_opened(be);
    if (uv_thread_create(&bus->thread, rtu_worker, bus) != 0) {
        uv_close((uv_handle_t *)&bus->async, rtu_async_closed_cb);
        return -1;
    }
    return 0;
}

/* Ask the worker to end after its current job (at most one attempt);
 * the core fails what is on the wire, the results are then ignored. */
static void
rtu_stop(struct backend *be)
{
    struct rtu_bus *bus = be->priv;

    bus->stopping = true;
    uv_mutex_lock(&bus->mu);
    bus->quit = true;
    uv_cond_signal(&bus->cv);
    uv_mutex_unlock(&bus->mu);
}

static void
rtu_destroy(struct backend *be)
{
    struct rtu_bus *bus = be->priv;

    uv_cond_destroy(&bus->cv);
    uv_mutex_destroy(&bus->mu);
    free(bus);
    be->priv = NULL;
}

/* The worker reads the settings as it works (see top): keep a bus only if
 * nothing changed but where its section is. */
static bool
rtu_same_link(const struct cfg_backend *old, const struct cfg_backend *c)
{
    struct cfg_backend a = *old, b = *c;

    a.line = b.line = 0;
    return memcmp(&a, &b, sizeof(a)) == 0;
}

/* Two buses on one port would mix their answers up. */
static bool
rtu_shares_device(const struct cfg_backend *a, const struct cfg_backend *b)
{
    const struct rtu_cfg *x = cfg_own(a), *y = cfg_own(b);

    return strcmp(x->line.device, y->line.device) == 0;
}

static void
rtu_status_html(const struct backend *be, struct http_buf *b)
{
    http_buf_puts(b, "<span class=\"where\">");
    http_buf_html(b, rtu_cfg(be)->line.device);
    http_buf_puts(b, "</span>");
}

const struct backend_ops be_rtu_ops = {
    .type = "rtu",
    .keys = rtu_keys,
    .same_link = rtu_same_link,
    .shares_device = rtu_shares_device,
    .status_html = rtu_status_html,
    .create = rtu_create,
    .start = rtu_start,
    .transmit = rtu_transmit,
    .stop = rtu_stop,
    .destroy = rtu_destroy,
};

/* SPDX-License-Identifier: MIT */
/*
 * tigo.c -- the "tigo" backend: listens to the RS485 bus between a Tigo
 * TAP and its CCA, and serves what the optimizers report as Modbus input
 * registers (docs/tigo.md; the map in 4.4).
 *
 * It never transmits a byte on that bus (4.3, pitfall 8): the serial port
 * is opened read-only (O_RDONLY) and configured with termios, which sends
 * nothing; a TCP source (an RS485-to-Ethernet converter streaming the raw
 * bus, as taptap's --tcp reads it) is only read, never written to. Reads
 * of the map (FC 3 and 4, the same registers) are answered at once, from
 * what was heard; every other function gets 0x01.
 *
 * What it decodes (tigo_frame.c): receive responses (0x0149) and the power
 * reports (PV 0x31) and topology reports (PV 0x09) in them; command
 * responses (0x0B10) carrying node table pages (PV 0x27); identify and
 * enumeration responses. Power reports update the node's slot
 * (tigo_map.c); long addresses pin slots. The slot assignment is kept in
 * state_file, written off the loop (the libuv thread pool) a few seconds
 * after it changes, and read at start.
 *
 * The link is up while the port is open (or the TCP source connected);
 * /healthz also wants frames: a bus silent for stale_after_s is unhealthy
 * (no CCA polling means no data, 2.1).
 *
 * Its keys: device (and baud, parity, data_bits, stop_bits: 38400 8N1) or
 * host and port, connect_timeout_ms, state_file, stale_after_s.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "backend.h"
#include "http.h"
#include "log.h"
#include "pdu.h"
#include "tcplink.h"
#include "tigo_frame.h"
#include "tigo_map.h"

extern const struct backend_ops be_tigo_ops;

/* The settings of a tigo backend (be->cfg.own). */
struct tigo_cfg {
    struct tcplink_cfg link;          /* host: a TCP source */
    char     device[CFG_HOST_MAX];    /* or a serial port */
    unsigned baud;
    unsigned parity;                  /* 0 none, 1 even, 2 odd */
    unsigned data_bits, stop_bits;
    char     state_file[CFG_HOST_MAX];
    unsigned stale_after_s;
};

CFG_OWN_FITS(struct tigo_cfg);

#define GC(f) CFG_OWN(struct tigo_cfg, f)

static const struct cfg_key tigo_keys[] = {
    {"device", CFG_STR, GC(device), CFG_HOST_MAX, "", 0, 0, NULL, NULL},
    {"baud", CFG_UINT, GC(baud), 0, "38400", 1200, 921600, NULL, NULL},
    {"parity", CFG_ENUM, GC(parity), 0, "none", 0, 0, "none|even|odd", NULL},
    {"data_bits", CFG_UINT, GC(data_bits), 0, "8", 5, 8, NULL, NULL},
    {"stop_bits", CFG_UINT, GC(stop_bits), 0, "1", 1, 2, NULL, NULL},
    {"host", CFG_STR, GC(link.host), CFG_HOST_MAX, "", 0, 0, NULL, NULL},
    {"port", CFG_UINT, GC(link.port), 0, "4196", 1, 65535, NULL, NULL},
    {"connect_timeout_ms", CFG_UINT, GC(link.connect_timeout_ms), 0, "3000",
     100, 60000, NULL, NULL},
    {"state_file", CFG_STR, GC(state_file), CFG_HOST_MAX, "", 0, 0, NULL,
     NULL},
    {"stale_after_s", CFG_UINT, GC(stale_after_s), 0, "120", 1, 86400, NULL,
     NULL},
    /* answered from memory: nothing to pace, nothing to wait for */
    {"max_inflight", CFG_UINT, CFG_BE(max_inflight), 0, "16", 1, 64, NULL,
     NULL},
    CFG_KEYS_END
};

/* How soon a changed slot assignment is written to state_file. */
#define TIGO_SAVE_DELAY_MS 2000
#define TIGO_STATE_MAX     65536

/* The backend's state (be->priv). */
struct tigo_be {
    struct backend *be;
    struct tcplink  link;             /* host: the TCP source */
    int             fd;               /* device: the port, or -1 */
    uv_poll_t       poll;             /* its readability */
    bool            polling;          /* poll is initialised (open) */
    struct tigo_rx  rx;
    struct tigo_map map;
    uv_timer_t      save_timer;
    bool            saving;           /* a write is in the thread pool */
    uint64_t        pv_packets;       /* PV packets seen */
    uint64_t        reports;          /* power reports taken */
};

/* One write of the state file, in the thread pool. */
struct tigo_save {
    uv_work_t       work;
    struct tigo_be *t;
    char            path[CFG_HOST_MAX];
    int             err;              /* errno of the write, or 0 */
    size_t          len;
    char            text[];
};

static const struct tigo_cfg *
tigo_cfg(const struct backend *be)
{
    return cfg_own(&be->cfg);
}

/* The clock of the map: uv_now() + 1, never 0 (0 is "never"). */
static uint64_t
tigo_now(const struct backend *be)
{
    return uv_now(be->loop) + 1;
}

/* --- the state file ------------------------------------------------------- */

static void
tigo_save_work(uv_work_t *w)
{
    struct tigo_save *s = container_of(w, struct tigo_save, work);
    char tmp[CFG_HOST_MAX + 8];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s.tmp", s->path);
    f = fopen(tmp, "w");
    if (f == NULL) {
        s->err = errno;
        return;
    }
    if (fwrite(s->text, 1, s->len, f) != s->len || fflush(f) != 0 ||
        fsync(fileno(f)) != 0) {
        s->err = errno != 0 ? errno : EIO;
    }
    if (fclose(f) != 0 && s->err == 0) {
        s->err = errno;
    }
    if (s->err == 0 && rename(tmp, s->path) != 0) {
        s->err = errno;
    }
}

static void tigo_save_start(struct tigo_be *t);

static void
tigo_save_done(uv_work_t *w, int status)
{
    struct tigo_save *s = container_of(w, struct tigo_save, work);
    struct tigo_be *t = s->t;
    struct backend *be = t->be;

    (void)status;
    if (s->err != 0) {
        blog(LOG_WARN, be, "state_file %s: %s", s->path, strerror(s->err));
    } else {
        blog(LOG_DEBUG, be, "state_file %s written", s->path);
    }
    free(s);
    t->saving = false;
    if (t->map.dirty && !be->stopping) {
        tigo_save_start(t);             /* changed again meanwhile */
    }
    backend_handle_closed(be);
}

/* Write the slot assignment to state_file, off the loop. */
static void
tigo_save_start(struct tigo_be *t)
{
    struct backend *be = t->be;
    const char *path = tigo_cfg(be)->state_file;
    struct tigo_save *s;

    if (path[0] == '\0' || t->saving || !t->map.dirty) {
        return;
    }
    s = xmalloc(sizeof(*s) + TIGO_STATE_MAX);
    s->t = t;
    s->err = 0;
    snprintf(s->path, sizeof(s->path), "%s", path);
    s->len = tigo_map_save(&t->map, s->text, TIGO_STATE_MAX);
    t->saving = true;
    backend_handle_opened(be);          /* <be> outlives the write */
    if (uv_queue_work(be->loop, &s->work, tigo_save_work,
                      tigo_save_done) != 0) {
        s->err = EAGAIN;
        tigo_save_done(&s->work, 0);
    }
}

static void
tigo_save_cb(uv_timer_t *timer)
{
    tigo_save_start(timer->data);
}

/* The slot assignment changed: write it soon (a walk of the node table
 * changes it many times in a row). */
static void
tigo_dirty(struct tigo_be *t)
{
    if (t->map.dirty && tigo_cfg(t->be)->state_file[0] != '\0' &&
        !uv_is_active((uv_handle_t *)&t->save_timer) && !t->be->stopping) {
        uv_timer_start(&t->save_timer, tigo_save_cb, TIGO_SAVE_DELAY_MS, 0);
    }
}

/* Read state_file into the map at start; a missing file is a first run. */
static void
tigo_load(struct tigo_be *t)
{
    struct backend *be = t->be;
    const char *path = tigo_cfg(be)->state_file;
    char why[160];
    char *text;
    FILE *f;
    size_t n;

    if (path[0] == '\0') {
        return;
    }
    f = fopen(path, "r");
    if (f == NULL) {
        blog(errno == ENOENT ? LOG_INFO : LOG_WARN, be, "state_file %s: %s%s",
             path, strerror(errno), errno == ENOENT ? " (a first run)" : "");
        return;
    }
    text = xmalloc(TIGO_STATE_MAX + 1);
    n = fread(text, 1, TIGO_STATE_MAX, f);
    text[n] = '\0';
    fclose(f);
    if (tigo_map_load(&t->map, text, why, sizeof(why)) != 0) {
        blog(LOG_WARN, be, "state_file %s: %s: starting without it", path,
             why);
    } else {
        blog(LOG_INFO, be, "state_file %s: %u slots", path, t->map.n_used);
    }
    free(text);
}

/* --- what the bus says ---------------------------------------------------- */

/* The PV packets of receive response <f>. */
static void
tigo_receive(struct tigo_be *t, const struct tigo_frame *f, uint64_t now)
{
    struct tigo_receive r;
    struct tigo_pv pv;
    struct tigo_power p;
    struct tigo_topology top;
    size_t off = 0;

    if (!tigo_parse_receive(f->payload, f->payload_len, &r)) {
        return;
    }
    while (tigo_next_pv(&r, &off, &pv)) {
        t->pv_packets++;
        if (pv.type == TIGO_PV_POWER &&
            tigo_parse_power(pv.data, pv.len, &p)) {
            t->reports += tigo_map_power(&t->map, f->gateway, pv.node, &p,
                                         now);
        } else if (pv.type == TIGO_PV_TOPOLOGY &&
                   tigo_parse_topology(pv.data, pv.len, &top)) {
            tigo_map_learn(&t->map, f->gateway, top.node, top.long_addr);
        }
    }
}

/* A node table page in command response <f>. */
static void
tigo_command(struct tigo_be *t, const struct tigo_frame *f)
{
    struct tigo_command c;
    struct tigo_node_entry e[24];
    uint16_t start, count;
    size_t n;

    if (!tigo_parse_command(f->payload, f->payload_len, &c) ||
        c.pv_type != TIGO_PV_NODE_TABLE ||
        !tigo_parse_node_table(c.data, c.len, &start, &count, e,
                               ARRAY_SIZE(e), &n)) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        tigo_map_learn(&t->map, f->gateway, e[i].node, e[i].long_addr);
    }
}

static void
tigo_frame_cb(void *ctx, const struct tigo_frame *f)
{
    struct tigo_be *t = ctx;
    uint64_t now = tigo_now(t->be);

    tigo_map_frame(&t->map, f->from_gateway ? f->gateway : 0, now);
    if (!f->from_gateway) {
        return;                 /* the controller's requests: no data */
    }
    switch (f->type) {
    case TIGO_RECEIVE_RESPONSE:
        tigo_receive(t, f, now);
        break;
    case TIGO_COMMAND_RESPONSE:
        tigo_command(t, f);
        break;
    default:
        break;                  /* identity, version, pings: heard */
    }
}

/* <len> bytes of the bus. */
static void
tigo_bytes(struct tigo_be *t, const uint8_t *data, size_t len)
{
    struct backend *be = t->be;
    struct tigo_link_stats before = t->rx.st;

    tigo_rx_feed(&t->rx, data, len, tigo_frame_cb, t);
    be->st.responses += t->rx.st.frames - before.frames;
    be->st.guard_drops += t->rx.st.crc_errors - before.crc_errors;
    be->st.stray_bytes += (t->rx.st.noise - before.noise) +
                          (t->rx.st.runts - before.runts) +
                          (t->rx.st.giants - before.giants);
    be->nodes_online = tigo_map_online(&t->map, tigo_now(be),
                                       tigo_cfg(be)->stale_after_s * 1000ull);
    tigo_dirty(t);
}

/* --- the serial port: read-only ------------------------------------------- */

static void
tigo_poll_closed_cb(uv_handle_t *h)
{
    struct tigo_be *t = h->data;

    if (t->fd >= 0) {
        close(t->fd);
        t->fd = -1;
    }
    backend_handle_closed(t->be);
}

/* Stop reading the port and close it (in the close callback). */
static void
tigo_port_close(struct tigo_be *t)
{
    if (t->polling) {
        t->polling = false;
        uv_poll_stop(&t->poll);
        uv_close((uv_handle_t *)&t->poll, tigo_poll_closed_cb);
    } else if (t->fd >= 0) {
        close(t->fd);
        t->fd = -1;
    }
}

static void
tigo_poll_cb(uv_poll_t *h, int status, int events)
{
    struct tigo_be *t = h->data;
    uint8_t buf[4096];
    ssize_t n;

    (void)events;
    if (status < 0) {
        tigo_port_close(t);
        backend_conn_lost(t->be, uv_strerror(status));
        return;
    }
    n = read(t->fd, buf, sizeof(buf));
    if (n > 0) {
        tigo_bytes(t, buf, (size_t)n);
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        /* a USB adapter unplugged: the tty hangs up */
        char why[CFG_HOST_MAX + 64];

        snprintf(why, sizeof(why), "%s: %s", tigo_cfg(t->be)->device,
                 n == 0 ? "hung up" : strerror(errno));
        tigo_port_close(t);
        backend_conn_lost(t->be, why);
    }
}

static speed_t
tigo_speed(unsigned baud)
{
    static const struct {
        unsigned baud;
        speed_t  speed;
    } speeds[] = {
        {1200, B1200},     {2400, B2400},     {4800, B4800},
        {9600, B9600},     {19200, B19200},   {38400, B38400},
        {57600, B57600},   {115200, B115200}, {230400, B230400},
        {460800, B460800}, {921600, B921600},
    };

    for (size_t i = 0; i < ARRAY_SIZE(speeds); i++) {
        if (speeds[i].baud == baud) {
            return speeds[i].speed;
        }
    }
    return B0;
}

/* Configure the port of <fd> as <c> says: raw, receiver on, no flow
 * control. Touches the line's settings only (ioctls): not a byte goes
 * out. Returns 0 or an errno. */
static int
tigo_termios(int fd, const struct tigo_cfg *c)
{
    struct termios tio;
    static const tcflag_t sizes[] = {CS5, CS6, CS7, CS8};

    if (tcgetattr(fd, &tio) != 0) {
        return errno;
    }
    cfmakeraw(&tio);
    tio.c_cflag |= CREAD | CLOCAL;
    tio.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | PARODD | CSTOPB | CRTSCTS);
    tio.c_cflag |= sizes[c->data_bits - 5];
    if (c->parity != 0) {
        tio.c_cflag |= PARENB | (c->parity == 2 ? PARODD : 0);
    }
    if (c->stop_bits == 2) {
        tio.c_cflag |= CSTOPB;
    }
    tio.c_iflag &= ~(tcflag_t)(IXON | IXOFF | IXANY);
    tio.c_cc[VMIN] = 0;
    tio.c_cc[VTIME] = 0;
    if (cfsetispeed(&tio, tigo_speed(c->baud)) != 0 ||
        cfsetospeed(&tio, tigo_speed(c->baud)) != 0 ||
        tcsetattr(fd, TCSANOW, &tio) != 0) {
        return errno;
    }
    return 0;
}

/* Open the port read-only, configure it, read it. */
static void
tigo_port_open(struct tigo_be *t)
{
    struct backend *be = t->be;
    const struct tigo_cfg *c = tigo_cfg(be);
    char why[CFG_HOST_MAX + 64];
    int fd, err;

    fd = open(c->device, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, sizeof(why), "%s: %s", c->device, strerror(errno));
        backend_conn_failed(be, why);
        return;
    }
    err = tigo_termios(fd, c);
    if (err != 0 && err != ENOTTY) {     /* a FIFO or file in tests: fine */
        snprintf(why, sizeof(why), "%s: %s", c->device, strerror(err));
        close(fd);
        backend_conn_failed(be, why);
        return;
    }
    t->fd = fd;
    if (uv_poll_init(be->loop, &t->poll, fd) != 0) {
        snprintf(why, sizeof(why), "%s: cannot poll it", c->device);
        close(fd);
        t->fd = -1;
        backend_conn_failed(be, why);
        return;
    }
    t->poll.data = t;
    t->polling = true;
    backend_handle_opened(be);
    uv_poll_start(&t->poll, UV_READABLE | UV_DISCONNECT, tigo_poll_cb);
    tigo_rx_init(&t->rx);
    blog(LOG_INFO, be, "listening to %s (read-only)", c->device);
    backend_connected(be);
}

/* --- the TCP source: only read -------------------------------------------- */

static void
tigo_tcp_up(struct tcplink *l)
{
    struct tigo_be *t = container_of(l, struct tigo_be, link);

    tigo_rx_init(&t->rx);       /* a new stream starts mid-frame anyway */
}

static void
tigo_tcp_data(struct tcplink *l, const uint8_t *data, size_t len)
{
    tigo_bytes(container_of(l, struct tigo_be, link), data, len);
}

/* --- requests: answered from the map -------------------------------------- */

/* Reads of the map (FC 3 and 4, the same registers); nothing else. */
static uint8_t
tigo_admit(struct backend *be, const struct req *r)
{
    (void)be;
    return req_fc(r) == MB_FC_READ_HOLDING || req_fc(r) == MB_FC_READ_INPUT
               ? 0 : MB_EX_ILLEGAL_FUNCTION;
}

static void
tigo_transmit(struct backend *be, struct req *r)
{
    struct tigo_be *t = be->priv;
    const uint8_t *q = req_pdu(r);
    uint16_t addr = pdu_get16(q + 1), qty = pdu_get16(q + 3);
    uint16_t v[125];
    uint8_t *rsp = req_rsp(r);
    struct tigo_bus_counts bus = {
        .frames = t->rx.st.frames,
        .crc_errors = t->rx.st.crc_errors,
        .bad = t->rx.st.noise + t->rx.st.runts + t->rx.st.giants,
    };
    uint8_t ex;

    r->local = true;
    ex = tigo_map_read(&t->map, &bus, tigo_now(be),
                       tigo_cfg(be)->stale_after_s * 1000ull, addr, qty, v);
    if (ex != 0) {
        uint8_t e[2] = {(uint8_t)(req_fc(r) | MB_EX_FLAG), ex};

        req_set_response(r, e, sizeof(e));
        backend_done(be, r);
        return;
    }
    rsp[0] = req_fc(r);
    rsp[1] = (uint8_t)(qty * 2);
    for (unsigned i = 0; i < qty; i++) {
        rsp[2 + 2 * i] = (uint8_t)(v[i] >> 8);
        rsp[3 + 2 * i] = (uint8_t)v[i];
    }
    r->rsp_len = 2 + 2u * qty;
    backend_done(be, r);
}

/* --- the link ------------------------------------------------------------- */

static void
tigo_start(struct backend *be)
{
    struct tigo_be *t = be->priv;

    if (tigo_cfg(be)->device[0] != '\0') {
        tigo_port_open(t);
    } else {
        tcplink_connect(&t->link);
    }
}

static int
tigo_create(struct backend *be)
{
    struct tigo_be *t = xcalloc(1, sizeof(*t));

    t->be = be;
    t->fd = -1;
    tcplink_init(&t->link, be, &tigo_cfg(be)->link, tigo_tcp_up,
                 tigo_tcp_data);
    tigo_rx_init(&t->rx);
    tigo_map_init(&t->map);
    uv_timer_init(be->loop, &t->save_timer);
    t->save_timer.data = t;
    be->priv = t;
    tigo_load(t);
    return 0;
}

static void
tigo_timer_closed_cb(uv_handle_t *h)
{
    struct tigo_be *t = h->data;

    backend_handle_closed(t->be);
}

static void
tigo_stop(struct backend *be)
{
    struct tigo_be *t = be->priv;

    tigo_port_close(t);
    tcplink_stop(&t->link);             /* its timer, in either mode */
    uv_timer_stop(&t->save_timer);
    tigo_save_start(t);                 /* the last assignment */
    backend_handle_opened(be);
    uv_close((uv_handle_t *)&t->save_timer, tigo_timer_closed_cb);
}

static void
tigo_destroy(struct backend *be)
{
    free(be->priv);
    be->priv = NULL;
}

/* --- configuration and operation ------------------------------------------ */

static bool
tigo_check_cfg(const struct cfg_backend *c, char *why, size_t size)
{
    const struct tigo_cfg *t = cfg_own(c);

    if ((t->device[0] != '\0') == (t->link.host[0] != '\0')) {
        snprintf(why, size, "device, host: give one of them (a serial port, "
                 "or a TCP source of the raw bus)");
        return false;
    }
    if (tigo_speed(t->baud) == B0) {
        snprintf(why, size, "baud: %u is no standard rate", t->baud);
        return false;
    }
    return true;
}

/* The same port or source, the same line: the link stays (a reload that
 * changes stale_after_s or state_file keeps it). */
static bool
tigo_same_link(const struct cfg_backend *old, const struct cfg_backend *c)
{
    const struct tigo_cfg *a = cfg_own(old), *b = cfg_own(c);

    return strcmp(a->device, b->device) == 0 && a->baud == b->baud &&
           a->parity == b->parity && a->data_bits == b->data_bits &&
           a->stop_bits == b->stop_bits &&
           tcplink_same_cfg(&a->link, &b->link) &&
           strcmp(a->state_file, b->state_file) == 0;
}

static bool
tigo_shares_device(const struct cfg_backend *a, const struct cfg_backend *b)
{
    const struct tigo_cfg *x = cfg_own(a), *y = cfg_own(b);

    return x->device[0] != '\0' && strcmp(x->device, y->device) == 0;
}

/* Healthy while frames arrive: a silent bus gives no data. */
static bool
tigo_healthy(const struct backend *be, char *why, size_t size)
{
    const struct tigo_be *t = be->priv;
    uint64_t now = tigo_now(be), stale = tigo_cfg(be)->stale_after_s * 1000ull;

    if (t->map.last_frame_ms == 0) {
        snprintf(why, size, "no frame heard on the bus yet");
        return false;
    }
    if (now - t->map.last_frame_ms > stale) {
        snprintf(why, size, "no frame for %llu s",
                 (unsigned long long)(now - t->map.last_frame_ms) / 1000);
        return false;
    }
    return true;
}

/* Where it listens, the bus counters, and one row per node. */
static void
tigo_status_html(const struct backend *be, struct http_buf *b)
{
    const struct tigo_be *t = be->priv;
    const struct tigo_cfg *c = tigo_cfg(be);
    uint64_t now = tigo_now(be), stale = c->stale_after_s * 1000ull;
    char bc[TIGO_BARCODE_MAX];

    if (c->device[0] != '\0') {
        http_buf_puts(b, "<span class=\"where\">");
        http_buf_html(b, c->device);
        http_buf_puts(b, " (read-only)</span>");
    } else {
        tcplink_status_html(&c->link, b);
    }
    http_buf_printf(b, "<p>bus: %llu frames, %llu CRC errors, %llu noise, "
                    "%llu runts, %llu giants; %llu power reports, %llu "
                    "repeats dropped; %u nodes known, %u online</p>",
                    (unsigned long long)t->rx.st.frames,
                    (unsigned long long)t->rx.st.crc_errors,
                    (unsigned long long)t->rx.st.noise,
                    (unsigned long long)t->rx.st.runts,
                    (unsigned long long)t->rx.st.giants,
                    (unsigned long long)t->reports,
                    (unsigned long long)t->map.duplicates, t->map.n_used,
                    tigo_map_online(&t->map, now, stale));
    if (t->map.n_used == 0) {
        return;
    }
    http_buf_puts(b, "<table><tr><th>slot</th><th>barcode</th><th>node</th>"
                     "<th class=\"n\">Vin</th><th class=\"n\">Vout</th>"
                     "<th class=\"n\">Iin</th><th class=\"n\">Pin</th>"
                     "<th class=\"n\">temp</th><th class=\"n\">age</th>"
                     "</tr>");
    for (unsigned i = 0; i < TIGO_SLOTS; i++) {
        const struct tigo_node *n = &t->map.nodes[i];

        if (!n->used) {
            continue;
        }
        if (n->long_known) {
            tigo_barcode(n->long_addr, bc);
        } else {
            snprintf(bc, sizeof(bc), "?");
        }
        http_buf_printf(b, "<tr><td>%u</td><td>", i);
        http_buf_html(b, bc);
        http_buf_printf(b, "</td><td>0x%04X/%u</td>", n->gateway, n->node);
        if (n->last_ms == 0) {
            http_buf_puts(b, "<td colspan=\"6\">not heard yet</td></tr>");
            continue;
        }
        http_buf_printf(b, "<td class=\"n\">%u.%02u V</td><td class=\"n\">"
                        "%u.%02u V</td><td class=\"n\">%u.%03u A</td>"
                        "<td class=\"n\">%u.%u W</td><td class=\"n\">%s%d.%d "
                        "C</td><td class=\"n\">%llu s</td></tr>",
                        n->vin_cv / 100, n->vin_cv % 100, n->vout_cv / 100,
                        n->vout_cv % 100, n->iin_ma / 1000, n->iin_ma % 1000,
                        n->pin_dw / 10, n->pin_dw % 10,
                        n->temp_dc < 0 ? "-" : "", abs(n->temp_dc) / 10,
                        abs(n->temp_dc) % 10,
                        (unsigned long long)(now - n->last_ms) / 1000);
    }
    http_buf_puts(b, "</table>");
}

const struct backend_ops be_tigo_ops = {
    .type = "tigo",
    .keys = tigo_keys,
    .check_cfg = tigo_check_cfg,
    .same_link = tigo_same_link,
    .shares_device = tigo_shares_device,
    .status_html = tigo_status_html,
    .healthy = tigo_healthy,
    .create = tigo_create,
    .start = tigo_start,
    .transmit = tigo_transmit,
    .stop = tigo_stop,
    .admit = tigo_admit,
    .destroy = tigo_destroy,
};

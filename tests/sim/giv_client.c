/* SPDX-License-Identifier: MIT */
/*
 * giv_client.c -- a GivEnergy client (GivTCP, givenergy-modbus, the app's
 * local mode) on one TCP connection to a dongle, or to anything that claims
 * to be one, for the integration tests and benchmarks of modbus-mux's
 * GivEnergy listener. After docs/givenergy.md sections 1-3 and 8 (section
 * numbers below refer to it): a list of banks refreshed every few seconds,
 * requests sent about 0.25 s apart with several in flight, answers matched
 * by shape (device, function, base, count) and never by order, timeouts,
 * every heartbeat echoed as it came, every frame received taken and counted
 * by kind, every register value checked against giv_dongle's image
 * (giv_image.c, kept up to date by the write echoes it sees), writes and
 * their read-back, and on demand a client that vanishes mid-request.
 *
 * It does its own framing and CRC: neither the proxy's codec
 * (backends/givenergy_frame.c) nor giv_dongle's, so that a codec bug on
 * either side cannot hide itself. Single-threaded ppoll() loop,
 * CLOCK_MONOTONIC timers. Options and output: README.md here.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "giv_image.h"
#include "sim_map.h"
#include "sim_util.h"

#define SERIAL_LEN 10
#define HDR_LEN 26            /* marker .. 8-byte length field (1.2) */
#define REQ_LEN 34            /* every request (1.3, 1.4) */
#define HB_LEN 19             /* heartbeat (1.6) */
#define ECHO_LEN 44           /* write echo and error frame (1.4, 1.5) */
#define MIN_FRAME 30          /* header, device, fc, CRC */
#define MAX_FRAME (6 + 300)   /* the largest LEN framers take (1.1) */
#define RX_MAX 8192
#define TX_MAX 4096
#define MAX_BANKS 64
#define MAX_WRITES 16
#define MAX_INFLIGHT 256
#define CONNECT_MS 5000
#define SHOW_MAX 5            /* problems of one kind printed */

/* Exit codes (README.md). */
enum cli_exit { CLI_OK = 0, CLI_USAGE = 1, CLI_CONNECT = 2, CLI_PEER = 3 };

/* A request, and the shape of the answer that matches it (5.2). */
struct shape {
    uint8_t dev;              /* slave address */
    uint8_t fc;               /* 3, 4, 0x16, or 6 for a write */
    uint16_t base;            /* the register for fc 6 */
    uint16_t count;           /* the value for fc 6 */
};

/* A request sent and not yet answered. */
struct pend {
    bool used;
    struct shape q;
    uint64_t seq;             /* the oldest of equal shapes matches first */
    int64_t sent_us;
    int write;                /* index in opts.writes, -1 for a read */
    bool first;               /* a request of the first round */
};

enum wstate { WR_WAIT = 0, WR_OUT, WR_OK, WR_ERROR, WR_TIMEOUT };

/* A --write, and what became of it. */
struct wr {
    struct shape q;
    enum wstate st;
    bool rb_wait;             /* --read-back: its next read is to come */
};

struct opts {
    const char *host;
    long port;
    uint8_t serial[SERIAL_LEN];      /* adapter serial in our requests */
    long uid;
    struct shape banks[MAX_BANKS];
    int nbanks;
    long interval_ms, duration_s, rounds, gap_ms, max_inflight, timeout_ms;
    long vanish_after;               /* 0: never */
    int check;                       /* ints: getopt_long() sets these */
    int plain;
    int read_back;
    const char *expect_adapter;      /* 10 characters, or NULL */
    const char *expect_inverter;
    struct wr writes[MAX_WRITES];
    int nwrites;
    const char *stats_path;
};

/* The summary, in its order (README.md): the brief's keys, then more. */
#define COUNTS(X)                                                       \
    X(sent) X(answered) X(timeouts) X(errors) X(fanout) X(foreign_echo) \
    X(heartbeats) X(bad_crc) X(skipped) X(mismatches) X(write_ok)       \
    X(write_error) X(write_timeout)
#define EXTRAS(X)                                                       \
    X(foreign_error) X(bad_serial) X(malformed) X(other) X(readback_ok) \
    X(readback_bad) X(pending) X(rounds) X(rounds_skipped)

struct counts {
#define COUNT_FIELD(name) int64_t name;
    COUNTS(COUNT_FIELD)
    EXTRAS(COUNT_FIELD)
#undef COUNT_FIELD
};

struct cli {
    struct opts o;
    struct counts st;
    struct gimg im;           /* what giv_dongle serves, writes included */
    int fd;                   /* -1 once closed */
    bool peer_closed;
    struct pend pend[MAX_INFLIGHT];
    int npend;
    uint64_t seq;
    struct shape queue[MAX_BANKS];   /* this round's requests not yet sent */
    int q_pos, q_len;
    int wnext;                /* the write being sent or waited for */
    bool writes_open;         /* the first round is done */
    bool draining;            /* --duration-s is over */
    int64_t t0_us, next_round_us, next_send_us, end_us; /* -1: none */
    int64_t *lat;             /* µs from request to answer */
    size_t nlat, lat_cap;
    uint8_t rx[RX_MAX];
    size_t rx_len;
    uint8_t tx[TX_MAX];
    size_t tx_len;
    char *stats_tmp;
    sigset_t waitmask;
};

static volatile sig_atomic_t g_stop;
static volatile sig_atomic_t g_dump;

static const uint8_t marker[4] = { 0x59, 0x59, 0x00, 0x01 };

/* The first SHOW_MAX problems of a kind (one per call site) on stderr. */
#define SHOW(...)                                                       \
    do {                                                                \
        static int shown_;                                              \
        if (shown_++ < SHOW_MAX) {                                      \
            sim_note(__VA_ARGS__);                                      \
        }                                                               \
    } while (0)

/*
 * The big-endian 16-bit value at <p> (giv_image.c uses it too).
 */
static void
put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void
on_signal(int sig)
{
    if (sig == SIGUSR1) {
        g_dump = 1;
    } else {
        g_stop = 1;
    }
}

/* ---- command line ---------------------------------------------------- */

static void
usage(FILE *f)
{
    fputs("usage: giv_client [--host HOST] [--port N] [--serial SN] [--uid N]\n"
          "       [--banks DEV:FC:BASE:COUNT,...|none] [--interval-ms N]\n"
          "       [--duration-s N] [--rounds N] [--gap-ms N]\n"
          "       [--max-inflight N] [--timeout-ms N] [--check|--no-check]\n"
          "       [--plain-image] [--expect-adapter SN]\n"
          "       [--expect-inverter SN] [--write DEV:REG:VAL]...\n"
          "       [--read-back] [--vanish-after N] [--stats FILE]\n"
          "DEV and FC are hexadecimal (11 = 0x11); the rest decimal or 0x...\n"
          "See tests/sim/README.md.\n", f);
}

/* Number <s> within [0, max]: hexadecimal if <hex> (0x optional), else
 * decimal or 0x-prefixed hexadecimal. */
static bool
parse_num(const char *s, bool hex, unsigned long max, unsigned long *out)
{
    bool x = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
    char *end;

    if (s[0] == '\0' || s[0] == '-' || s[0] == '+' || s[0] == ' ') {
        return false;
    }
    errno = 0;
    *out = strtoul(s, &end, hex || x ? 16 : 10);
    return errno == 0 && end != s && *end == '\0' && *out <= max;
}

/* "DEV:FC:BASE:COUNT" (a bank) or, with <write>, "DEV:REG:VAL". */
static bool
parse_shape(const char *arg, struct shape *q, bool write)
{
    char buf[64], *part[4], *save = NULL;
    unsigned long v[4];
    int n = 0, want = write ? 3 : 4;

    if (strlen(arg) >= sizeof(buf)) {
        return false;
    }
    strcpy(buf, arg);
    for (char *t = strtok_r(buf, ":", &save); t != NULL && n < 4;
         t = strtok_r(NULL, ":", &save)) {
        part[n++] = t;
    }
    if (n != want || strtok_r(NULL, ":", &save) != NULL) {
        return false;
    }
    for (int i = 0; i < n; i++) {
        if (!parse_num(part[i], i == 0 || (!write && i == 1),
                       i == 0 ? 0xFF : 0xFFFF, &v[i])) {
            return false;
        }
    }
    if (write) {
        *q = (struct shape){ (uint8_t)v[0], 0x06, (uint16_t)v[1],
                             (uint16_t)v[2] };
        return true;
    }
    *q = (struct shape){ (uint8_t)v[0], (uint8_t)v[1], (uint16_t)v[2],
                         (uint16_t)v[3] };
    return q->fc == 0x03 || q->fc == 0x04 || q->fc == 0x16;
}

static bool
parse_banks(struct opts *o, const char *arg)
{
    char buf[MAX_BANKS * 24], *save = NULL;

    o->nbanks = 0;
    if (strcmp(arg, "none") == 0) {
        return true;
    }
    if (strlen(arg) >= sizeof(buf)) {
        return false;
    }
    strcpy(buf, arg);
    for (char *t = strtok_r(buf, ",", &save); t != NULL;
         t = strtok_r(NULL, ",", &save)) {
        if (o->nbanks == MAX_BANKS ||
            !parse_shape(t, &o->banks[o->nbanks++], false)) {
            return false;
        }
    }
    return o->nbanks > 0;
}

static bool
printable(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7E) {
            return false;
        }
    }
    return true;
}

/* Up to 10 characters, left-padded with '*' as the Python clients do
 * (1.2); "" is ten NUL bytes, as the GivEnergy app sends. */
static bool
parse_serial(struct opts *o, const char *arg)
{
    size_t n = strlen(arg);

    if (n > SERIAL_LEN || !printable(arg, n)) {
        return false;
    }
    memset(o->serial, n == 0 ? 0 : '*', SERIAL_LEN);
    memcpy(o->serial + SERIAL_LEN - n, arg, n);
    return true;
}

/* The options with a value: what kind, where it goes, the bounds. */
enum kind { K_LONG, K_HOST, K_SERIAL, K_EXPECT, K_BANKS, K_WRITE, K_PATH };
#define OPT(name, kind, field, min, max) \
    { name, kind, offsetof(struct opts, field), min, max }

static const struct optdef {
    const char *name;
    enum kind kind;
    size_t off;
    long min, max;
} optdefs[] = {
    OPT("host", K_HOST, host, 0, 0),
    OPT("port", K_LONG, port, 1, 65535),
    OPT("serial", K_SERIAL, serial, 0, 0),
    OPT("uid", K_LONG, uid, 0, 1),
    OPT("banks", K_BANKS, banks, 0, 0),
    OPT("interval-ms", K_LONG, interval_ms, 1, 86400000),
    OPT("duration-s", K_LONG, duration_s, 1, 86400),
    OPT("rounds", K_LONG, rounds, 1, 100000000),
    OPT("gap-ms", K_LONG, gap_ms, 0, 3600000),
    OPT("max-inflight", K_LONG, max_inflight, 1, MAX_INFLIGHT),
    OPT("timeout-ms", K_LONG, timeout_ms, 1, 3600000),
    OPT("expect-adapter", K_EXPECT, expect_adapter, 0, 0),
    OPT("expect-inverter", K_EXPECT, expect_inverter, 0, 0),
    OPT("write", K_WRITE, writes, 0, 0),
    OPT("vanish-after", K_LONG, vanish_after, 1, 100000000),
    OPT("stats", K_PATH, stats_path, 0, 0),
};

#define NOPT (sizeof(optdefs) / sizeof(optdefs[0]))

static bool
apply_opt(struct opts *o, const struct optdef *d, const char *arg)
{
    void *field = (char *)o + d->off;

    switch (d->kind) {
    case K_LONG:
        return sim_parse_long(arg, d->min, d->max, field);
    case K_SERIAL:
        return parse_serial(o, arg);
    case K_EXPECT:
        if (strlen(arg) != SERIAL_LEN || !printable(arg, SERIAL_LEN)) {
            return false;
        }
        *(const char **)field = arg;
        return true;
    case K_BANKS:
        return parse_banks(o, arg);
    case K_WRITE:
        return o->nwrites < MAX_WRITES &&
               parse_shape(arg, &o->writes[o->nwrites++].q, true);
    default:                  /* K_HOST, K_PATH */
        *(const char **)field = arg;
        return arg[0] != '\0';
    }
}

/* Returns 0 to go on, 1 for --help, -1 for a bad command line. */
static int
parse_args(struct opts *o, int argc, char **argv)
{
    struct option lo[NOPT + 6] = {
        { "check", no_argument, &o->check, 1 },
        { "no-check", no_argument, &o->check, 0 },
        { "plain-image", no_argument, &o->plain, 1 },
        { "read-back", no_argument, &o->read_back, 1 },
        { "help", no_argument, NULL, 'h' },
    };
    int c, idx = 0;

    for (size_t i = 0; i < NOPT; i++) {
        lo[5 + i] = (struct option){ optdefs[i].name, required_argument,
                                     NULL, 256 + (int)i };
    }
    o->host = "127.0.0.1";
    o->port = 8899;
    memset(o->serial, '*', SERIAL_LEN);
    o->uid = 1;
    parse_banks(o, "11:4:0:60,11:4:180:60,11:3:0:60,11:3:60:60,11:3:120:60");
    o->interval_ms = 5000;
    o->gap_ms = 250;
    o->max_inflight = 20;
    o->timeout_ms = 3000;
    o->check = 1;
    while ((c = getopt_long(argc, argv, "h", lo, &idx)) != -1) {
        if (c == 'h' || c == '?') {
            return c == 'h' ? 1 : -1;
        }
        if (c >= 256 && !apply_opt(o, &optdefs[c - 256], optarg)) {
            sim_note("bad value for --%s: '%s'", lo[idx].name, optarg);
            return -1;
        }
    }
    if (optind != argc) {
        sim_note("unexpected argument '%s'", argv[optind]);
        return -1;
    }
    return 0;
}

/* ---- output ---------------------------------------------------------- */

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/* The <pct> percentile (nearest rank) of the sorted latencies, in ms. */
static double
lat_ms(const struct cli *c, unsigned pct)
{
    size_t rank = (c->nlat * pct + 99) / 100;

    return c->nlat == 0 ? -1.0 : (double)c->lat[rank > 0 ? rank - 1 : 0] / 1e3;
}

/* Every key=value, <sep> between them. */
static void
report(struct cli *c, FILE *f, const char *sep)
{
    const char *s = "";

    c->st.pending = c->npend;
    if (c->nlat > 0) {
        qsort(c->lat, c->nlat, sizeof(*c->lat), cmp_i64);
    }
#define COUNT_PRINT(name)                                               \
    fprintf(f, "%s%s=%" PRId64, s, #name, c->st.name);                  \
    s = sep;
    COUNTS(COUNT_PRINT)
    fprintf(f, "%sp50_ms=%.1f%sp99_ms=%.1f%smax_ms=%.1f", sep, lat_ms(c, 50),
            sep, lat_ms(c, 99), sep, lat_ms(c, 100));
    EXTRAS(COUNT_PRINT)
#undef COUNT_PRINT
    fputs(sep[0] == '\n' ? "\n" : "", f);
}

/* --stats: the same keys, one per line, replaced whole (tmp + rename). */
static void
stats_write(struct cli *c)
{
    FILE *f;

    if (c->o.stats_path == NULL) {
        return;
    }
    f = fopen(c->stats_tmp, "w");
    if (f == NULL) {
        sim_note("%s: %s", c->stats_tmp, strerror(errno));
        return;
    }
    report(c, f, "\n");
    if (fclose(f) != 0 || rename(c->stats_tmp, c->o.stats_path) != 0) {
        sim_note("%s: %s", c->o.stats_path, strerror(errno));
    }
}

static void
lat_add(struct cli *c, int64_t us)
{
    if (c->nlat == c->lat_cap) {
        c->lat_cap = c->lat_cap ? 2 * c->lat_cap : 1024;
        c->lat = realloc(c->lat, c->lat_cap * sizeof(*c->lat));
        if (c->lat == NULL) {
            sim_note("out of memory");
            exit(CLI_USAGE);
        }
    }
    c->lat[c->nlat++] = us;
}

/* ---- sending --------------------------------------------------------- */

/* As much of the output as the socket takes; a failure is the peer's. */
static void
tx_flush(struct cli *c)
{
    ssize_t w;

    if (c->tx_len == 0 || c->fd < 0) {
        return;
    }
    w = send(c->fd, c->tx, c->tx_len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w > 0) {
        memmove(c->tx, c->tx + w, c->tx_len - (size_t)w);
        c->tx_len -= (size_t)w;
    } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
        sim_note("send: %s", strerror(errno));
        c->peer_closed = true;
    }
}

static bool
tx_put(struct cli *c, const uint8_t *f, size_t n)
{
    if (TX_MAX - c->tx_len < n) {
        return false;
    }
    memcpy(c->tx + c->tx_len, f, n);
    c->tx_len += n;
    return true;
}

/* A request as GivTCP sends it: uid, fid 2, our placeholder serial, the
 * 8-byte length field = 8, the inner frame and its CRC (1.2-1.4). */
static void
request_build(const struct cli *c, uint8_t *f, const struct shape *q)
{
    uint16_t crc;

    memcpy(f, marker, sizeof(marker));
    put16(f + 4, REQ_LEN - 6);
    f[6] = (uint8_t)c->o.uid;
    f[7] = 0x02;
    memcpy(f + 8, c->o.serial, SERIAL_LEN);
    memset(f + 18, 0, 7);
    f[25] = 0x08;
    f[26] = q->dev;
    f[27] = q->fc;
    put16(f + 28, q->base);
    put16(f + 30, q->count);
    crc = giv_sim_crc(f, REQ_LEN);
    f[32] = (uint8_t)crc;
    f[33] = (uint8_t)(crc >> 8);
}

/* --vanish-after: gone without a FIN, as a client whose host died. */
static void
vanish(struct cli *c)
{
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };

    tx_flush(c);
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(c->fd);
    c->fd = -1;
    sim_note("vanished after request %" PRId64, c->st.sent);
}

/* Send <q> (write <w>, or -1) and wait for its answer. */
static void
request_send(struct cli *c, const struct shape *q, int w, int64_t now)
{
    uint8_t f[REQ_LEN];
    int i = 0;

    while (c->pend[i].used) {
        i++;              /* there is a free one: npend < max_inflight */
    }
    request_build(c, f, q);
    tx_put(c, f, REQ_LEN);
    c->pend[i] = (struct pend){ true, *q, c->seq++, now, w,
                                w < 0 && c->st.rounds == 1 };
    c->npend++;
    c->st.sent++;
    tx_flush(c);
    if (c->o.vanish_after > 0 && c->st.sent == c->o.vanish_after) {
        vanish(c);
    }
}

/* The next write, once the first round is done, one at a time; else the
 * round's next read; --gap-ms apart, at most --max-inflight out. */
static void
send_some(struct cli *c, int64_t now)
{
    while (c->fd >= 0 && !c->draining && now >= c->next_send_us &&
           c->npend < c->o.max_inflight && TX_MAX - c->tx_len >= REQ_LEN) {
        struct wr *w = c->wnext < c->o.nwrites ? &c->o.writes[c->wnext] : NULL;

        if (c->writes_open && w != NULL && w->st == WR_WAIT) {
            w->st = WR_OUT;
            request_send(c, &w->q, c->wnext, now);
        } else if (c->q_len > 0) {
            c->q_len--;
            request_send(c, &c->queue[c->q_pos++], -1, now);
        } else {
            return;
        }
        c->next_send_us = now + c->o.gap_ms * 1000;
    }
}

/* ---- receiving ------------------------------------------------------- */

/* The oldest request of shape <a> waiting for its answer, or -1. An error
 * frame for a read may echo the count as 0 (1.5). */
static int
pend_match(const struct cli *c, const struct shape *a, bool error)
{
    int best = -1;

    for (int i = 0; i < MAX_INFLIGHT; i++) {
        const struct pend *p = &c->pend[i];

        if (!p->used || p->q.dev != a->dev || p->q.fc != a->fc ||
            p->q.base != a->base ||
            (p->q.count != a->count &&
             !(error && a->fc != 0x06 && a->count == 0))) {
            continue;
        }
        if (best < 0 || p->seq < c->pend[best].seq) {
            best = i;
        }
    }
    return best;
}

/* Request <i> has its answer (<error>: an error frame). */
static void
pend_done(struct cli *c, int i, bool error, int64_t now)
{
    struct pend *p = &c->pend[i];

    if (error) {
        c->st.errors++;
    } else {
        c->st.answered++;
        lat_add(c, now - p->sent_us);
    }
    if (p->write >= 0) {
        struct wr *w = &c->o.writes[p->write];

        w->st = error ? WR_ERROR : WR_OK;
        w->rb_wait = !error && c->o.read_back;
        c->st.write_ok += !error;
        c->st.write_error += error;
        c->wnext++;
    }
    p->used = false;
    c->npend--;
}

/* Requests unanswered for --timeout-ms are given up (no retry). */
static void
pend_expire(struct cli *c, int64_t now)
{
    for (int i = 0; i < MAX_INFLIGHT; i++) {
        struct pend *p = &c->pend[i];

        if (!p->used || now < p->sent_us + c->o.timeout_ms * 1000) {
            continue;
        }
        c->st.timeouts++;
        SHOW("timeout: dev 0x%02x fc 0x%02x %u %u", p->q.dev, p->q.fc,
             p->q.base, p->q.count);
        if (p->write >= 0) {
            c->o.writes[p->write].st = WR_TIMEOUT;
            c->st.write_timeout++;
            c->wnext++;
        }
        p->used = false;
        c->npend--;
    }
}

/* 10 printable ASCII characters, not all blanks (5.4), equal to <expect>
 * if given. */
static bool
serial_ok(const uint8_t *s, const char *expect)
{
    bool blank = true;

    for (int i = 0; i < SERIAL_LEN; i++) {
        blank = blank && s[i] == ' ';
    }
    return !blank && printable((const char *)s, SERIAL_LEN) &&
           (expect == NULL || memcmp(s, expect, SERIAL_LEN) == 0);
}

/* The adapter serial of every frame, the inverter serial of transparent
 * ones (1.3-1.6); a frame with either wrong counts once. */
static void
serials_check(struct cli *c, const uint8_t *f, bool inverter)
{
    bool ad = serial_ok(f + 8, c->o.expect_adapter);
    bool inv = !inverter || serial_ok(f + 28, c->o.expect_inverter);

    if (!ad || !inv) {
        c->st.bad_serial++;
        SHOW("bad serial: adapter '%.10s'%s inverter '%.10s'%s",
             (const char *)f + 8, ad ? "" : " (wrong)",
             inverter ? (const char *)f + 28 : "", inv ? "" : " (wrong)");
    }
}

/* What giv_dongle holds in register <r> of <dev> for read fc <fc>: its
 * image where the device has that table and r < NREGS, else sim_map.h's
 * formula for the device address, as its --push frames have. */
static uint16_t
expected(const struct cli *c, uint8_t dev, uint8_t fc, unsigned r)
{
    const struct devdef *d = dev_find(dev);
    int sp = fc_space(fc);

    if (d != NULL && sp >= 0 && (d->spaces & HAS(sp)) && r < NREGS) {
        return c->im.img[d->file][sp][r];
    }
    return fc == 0x03 ? sim_holding(dev, r) : sim_input(dev, r);
}

/* --check: every value of read answer <a> (values at <v>). */
static void
values_check(struct cli *c, const struct shape *a, const uint8_t *v, bool ours)
{
    for (unsigned k = 0; c->o.check && k < a->count; k++) {
        unsigned r = a->base + k;
        uint16_t got = get16(v + 2 * k), want = expected(c, a->dev, a->fc, r);

        if (got != want) {
            c->st.mismatches++;
            SHOW("mismatch (%s): dev 0x%02x fc 0x%02x register %u: "
                 "0x%04x, expected 0x%04x", ours ? "answer" : "fan-out",
                 a->dev, a->fc, r, got, want);
        }
    }
}

/* --read-back: the first read of a written register after its echo. */
static void
readback_check(struct cli *c, const struct shape *a, const uint8_t *v)
{
    for (int i = 0; a->fc == 0x03 && i < c->o.nwrites; i++) {
        struct wr *w = &c->o.writes[i];
        unsigned off = (unsigned)w->q.base - a->base;

        if (!w->rb_wait || w->q.dev != a->dev || w->q.base < a->base ||
            off >= a->count) {
            continue;
        }
        w->rb_wait = false;
        if (get16(v + 2 * off) == w->q.count) {
            c->st.readback_ok++;
        } else {
            c->st.readback_bad++;
            SHOW("read-back: dev 0x%02x register %u is %u, wrote %u",
                 a->dev, w->q.base, get16(v + 2 * off), w->q.count);
        }
    }
}

/* A write echo, ours or not, changes what giv_dongle holds. */
static void
image_write(struct cli *c, const struct shape *a)
{
    const struct devdef *d = dev_find(a->dev);

    if (d != NULL && (d->spaces & HAS(SP_HR)) && a->base < NREGS) {
        c->im.img[d->file][SP_HR][a->base] = a->count;
    }
}

/* A transparent frame with a good CRC: an answer, a copy of someone
 * else's (fan-out), a write echo or an error frame (1.3-1.5, 5.1). */
static void
transparent_take(struct cli *c, const uint8_t *f, size_t n, int64_t now)
{
    struct shape a = { f[26], f[27] & 0x7F, get16(f + 38), get16(f + 40) };
    bool error = f[27] & 0x80, read = !error && a.fc != 0x06;
    int i;

    if (f[6] != 0x01 || get16(f + 18) || get16(f + 20) || get16(f + 22) ||
        get16(f + 24) != n - HDR_LEN) {
        c->st.malformed++;
        SHOW("malformed: uid %u, length field %u in a %zu-byte frame", f[6],
             get16(f + 24), n);
    }
    if ((a.fc != 0x03 && a.fc != 0x04 && a.fc != 0x16 && a.fc != 0x06) ||
        n < ECHO_LEN) {
        c->st.other++;
        SHOW("other frame: %zu bytes, dev 0x%02x fc 0x%02x", n, f[26], f[27]);
        return;
    }
    if (n != (read ? ECHO_LEN + 2 * (size_t)a.count : ECHO_LEN)) {
        c->st.malformed++;
        SHOW("malformed: %zu bytes for dev 0x%02x fc 0x%02x %u %u", n, a.dev,
             f[27], a.base, a.count);
        return;
    }
    serials_check(c, f, true);
    i = pend_match(c, &a, error);
    if (i >= 0) {
        pend_done(c, i, error, now);
    } else {
        c->st.foreign_error += error;
        c->st.foreign_echo += !error && !read;
        c->st.fanout += read;
    }
    if (read) {
        values_check(c, &a, f + 42, i >= 0);
        readback_check(c, &a, f + 42);
    } else if (!error) {
        image_write(c, &a);
    }
}

/*
 * How many bytes at <p> (<n> there) make a whole frame: > 0; 0 if more
 * are needed; -1 if no frame starts at <p> (1.1): no marker, uid not 0/1,
 * fid not 1/2, a LEN no frame has, or a heartbeat cut short by a marker
 * (a serial never holds 00 01).
 */
static long
frame_cut(const uint8_t *p, size_t n)
{
    size_t want;

    for (size_t k = 0; k < sizeof(marker) && k < n; k++) {
        if (p[k] != marker[k]) {
            return -1;
        }
    }
    if (n < 8) {
        return 0;
    }
    want = 6u + get16(p + 4);
    if (p[6] > 0x01 || (p[7] == 0x01 && want != HB_LEN) ||
        (p[7] == 0x02 && (want < MIN_FRAME || want > MAX_FRAME)) ||
        (p[7] != 0x01 && p[7] != 0x02)) {
        return -1;
    }
    if (n < want) {
        return 0;
    }
    if (p[7] == 0x01 && memmem(p + 1, want - 1, marker, 4) != NULL) {
        return -1;
    }
    return (long)want;
}

/* Whole frame <f> of <n> bytes. Returns the bytes it takes: <n>, or for a
 * frame with a bad CRC that holds a marker, the bytes up to that marker
 * (a cut frame with the next one inside it, 5.4). */
static size_t
frame_take(struct cli *c, const uint8_t *f, size_t n, int64_t now)
{
    const uint8_t *m;

    if (f[7] == 0x01) {
        c->st.heartbeats++;
        serials_check(c, f, false);
        if (!tx_put(c, f, n)) {   /* echoed as it came (1.6) */
            SHOW("no room to echo a heartbeat");
        }
        return n;
    }
    if (!crc_ok(f, n)) {
        c->st.bad_crc++;
        m = memmem(f + 1, n - 1, marker, sizeof(marker));
        return m != NULL ? (size_t)(m - f) : n;
    }
    transparent_take(c, f, n, now);
    return n;
}

/* Read what came; take every whole frame out of it; skip garbage. */
static void
rx_read(struct cli *c, int64_t now)
{
    ssize_t r = recv(c->fd, c->rx + c->rx_len, RX_MAX - c->rx_len, 0);
    size_t off = 0;
    long n;

    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        sim_note("connection closed by the peer%s%s", r == 0 ? "" : ": ",
                 r == 0 ? "" : strerror(errno));
        c->peer_closed = true;
        return;
    }
    c->rx_len += r > 0 ? (size_t)r : 0;
    while ((n = frame_cut(c->rx + off, c->rx_len - off)) != 0) {
        if (n < 0) {
            c->st.skipped++;
            off++;
        } else {
            off += frame_take(c, c->rx + off, (size_t)n, now);
        }
    }
    memmove(c->rx, c->rx + off, c->rx_len - off);
    c->rx_len -= off;
    tx_flush(c);
}

/* ---- the loop -------------------------------------------------------- */

/* A round every --interval-ms, until --rounds or --duration-s; one whose
 * time comes while the last one is still being sent is skipped. */
static void
rounds_run(struct cli *c, int64_t now)
{
    if (c->next_round_us < 0 || now < c->next_round_us) {
        return;
    }
    if (c->q_len > 0) {
        c->st.rounds_skipped++;
    } else {
        memcpy(c->queue, c->o.banks, sizeof(c->queue));
        c->q_pos = 0;
        c->q_len = c->o.nbanks;
        c->st.rounds++;
    }
    c->next_round_us += c->o.interval_ms * 1000;
    if (c->next_round_us <= now) {
        c->next_round_us = now + c->o.interval_ms * 1000;
    }
    if (c->o.rounds > 0 && c->st.rounds >= c->o.rounds) {
        c->next_round_us = -1;
    }
    stats_write(c);
}

/* True while a request of the first round is queued or out. */
static bool
first_round_out(const struct cli *c)
{
    if (c->st.rounds == 1 && c->q_len > 0) {
        return true;
    }
    for (int i = 0; i < MAX_INFLIGHT; i++) {
        if (c->pend[i].used && c->pend[i].first) {
            return true;
        }
    }
    return false;
}

/* Rounds, writes, timeouts; true once there is nothing left to do. */
static bool
timers_run(struct cli *c, int64_t now)
{
    pend_expire(c, now);
    if (c->end_us >= 0 && now >= c->end_us && !c->draining) {
        c->draining = true;   /* what is not sent yet never will be */
        c->q_len = 0;
        c->next_round_us = -1;
    }
    rounds_run(c, now);
    if (!c->writes_open && c->st.rounds > 0 && !first_round_out(c)) {
        c->writes_open = true;
    }
    send_some(c, now);
    if (c->draining) {
        return c->npend == 0;
    }
    return c->next_round_us < 0 && c->q_len == 0 && c->npend == 0 &&
           c->wnext == c->o.nwrites;
}

/* The earliest of the next round, the next send, a timeout, the end. */
static int64_t
next_deadline(const struct cli *c)
{
    int64_t d = INT64_MAX;
    bool more = c->q_len > 0 ||
                (c->writes_open && !c->draining && c->wnext < c->o.nwrites &&
                 c->o.writes[c->wnext].st == WR_WAIT);

    if (c->next_round_us >= 0) {
        d = c->next_round_us;
    }
    if (more && c->npend < c->o.max_inflight &&
        TX_MAX - c->tx_len >= REQ_LEN && c->next_send_us < d) {
        d = c->next_send_us;
    }
    if (c->end_us >= 0 && !c->draining && c->end_us < d) {
        d = c->end_us;
    }
    for (int i = 0; i < MAX_INFLIGHT; i++) {
        int64_t t = c->pend[i].sent_us + c->o.timeout_ms * 1000;

        if (c->pend[i].used && t < d) {
            d = t;
        }
    }
    return d;
}

/* Wait for the socket or the next deadline; -1 on a ppoll() failure. */
static int
poll_once(struct cli *c)
{
    struct pollfd p = { .fd = c->fd,
                        .events = POLLIN | (c->tx_len > 0 ? POLLOUT : 0) };
    int64_t d = next_deadline(c), left = d - sim_now_us();
    struct timespec ts = { 0, 0 };

    if (left > 0) {
        ts = (struct timespec){ left / 1000000, (long)(left % 1000000) * 1000 };
    }
    if (ppoll(&p, 1, d == INT64_MAX ? NULL : &ts, &c->waitmask) < 0) {
        return errno == EINTR ? 0 : -1;
    }
    if (p.revents & POLLOUT) {
        tx_flush(c);
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
        rx_read(c, sim_now_us());
    }
    return 0;
}

static int
run(struct cli *c)
{
    c->next_round_us = c->t0_us;
    c->next_send_us = c->t0_us;
    c->end_us = c->o.duration_s > 0 ? c->t0_us + c->o.duration_s * 1000000
                                    : -1;
    while (!g_stop && c->fd >= 0 && !c->peer_closed) {
        if (g_dump) {
            g_dump = 0;
            stats_write(c);
        }
        if (timers_run(c, sim_now_us()) || c->fd < 0) {
            break;
        }
        if (poll_once(c) < 0) {
            sim_note("ppoll: %s", strerror(errno));
            return CLI_USAGE;
        }
    }
    return c->peer_closed ? CLI_PEER : CLI_OK;
}

/* Wait up to CONNECT_MS for a non-blocking connect of <fd> to <ai>. */
static bool
connect_one(int fd, const struct addrinfo *ai)
{
    struct pollfd p = { .fd = fd, .events = POLLOUT };
    int err = 0;
    socklen_t len = sizeof(err);

    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
        return true;
    }
    if (errno != EINPROGRESS || poll(&p, 1, CONNECT_MS) != 1 ||
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
        return false;
    }
    errno = err;
    return err == 0;
}

/* The one connection, to --host/--port; false if none could be made. */
static bool
connect_to(struct cli *c)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
    char port[8];
    int one = 1, rc;

    snprintf(port, sizeof(port), "%ld", c->o.port);
    rc = getaddrinfo(c->o.host, port, &hints, &res);
    if (rc != 0) {
        sim_note("%s: %s", c->o.host, gai_strerror(rc));
        return false;
    }
    for (ai = res; ai != NULL && c->fd < 0; ai = ai->ai_next) {
        c->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
                       SOCK_CLOEXEC, ai->ai_protocol);
        if (c->fd >= 0 && !connect_one(c->fd, ai)) {
            sim_note("connect to %s:%ld: %s", c->o.host, c->o.port,
                     strerror(errno));
            close(c->fd);
            c->fd = -1;
        }
    }
    freeaddrinfo(res);
    if (c->fd >= 0) {
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    return c->fd >= 0;
}

int
main(int argc, char **argv)
{
    static struct cli c;
    int rc = parse_args(&c.o, argc, argv);

    if (rc != 0) {
        usage(rc > 0 ? stdout : stderr);
        return rc > 0 ? CLI_OK : CLI_USAGE;
    }
    c.fd = -1;
    sim_signals_init(on_signal, &c.waitmask);
    if (!gimg_init(&c.im, c.o.plain) ||
        (c.o.stats_path != NULL &&
         asprintf(&c.stats_tmp, "%s.tmp", c.o.stats_path) < 0)) {
        return CLI_USAGE;
    }
    if (!connect_to(&c)) {
        return CLI_CONNECT;
    }
    printf("CONNECTED\n");
    fflush(stdout);
    c.t0_us = sim_now_us();
    stats_write(&c);
    rc = run(&c);
    if (c.fd >= 0) {
        close(c.fd);
    }
    stats_write(&c);
    printf("giv_client ");
    report(&c, stdout, " ");
    printf("\n");
    fflush(stdout);
    free(c.lat);
    free(c.stats_tmp);
    return rc;
}

/* SPDX-License-Identifier: MIT */
/*
 * giv_dongle.c -- a GivEnergy data adapter ("dongle", TCP 8899) in front of
 * an inverter, for the integration tests and benchmarks of modbus-mux,
 * after docs/givenergy.md (section numbers below). Like
 * the real one: a serial port that answers one request at a time after
 * ~250 ms, every answer fanned out to every client, heartbeats that drop
 * clients which do not answer, cloud polls, requests with a bad CRC or
 * length field silently ignored; and on demand the faults seen in
 * captures: zero-filled tails, spliced frames, bad CRCs, null responses,
 * LAN-config broadcasts, substituted blocks, lost and slow answers,
 * reboots; and as hostile dongles: heartbeats flooded at a client that is
 * never read, answers pushed for every device and base. Its framing and CRC are its own, not the proxy's codec: a test
 * double must not hide a bug of what it tests. Single-threaded ppoll()
 * loop, CLOCK_MONOTONIC timers. Options and formats: README.md here.
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
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

#define MAX_CLIENTS 16
#define QUEUE_MAX 32          /* requests waiting for the serial port */
#define SERIAL_LEN 10
#define HDR_LEN 26            /* marker .. 8-byte length field (1.2) */
#define REQ_LEN 34            /* every request (1.3, 1.4) */
#define HB_LEN 19             /* heartbeat (1.6) */
#define NULL_LEN 164          /* null response (1.7) */
#define RX_MAX 1024
#define HB_MISSES 3           /* unanswered heartbeats that close (1.6) */
#define HB_WINDOW_MS 5000     /* a heartbeat must be answered within */
#define MAX_BANKS 256         /* distinct (device, fc, base) in the log */
#define RETRY_MS 100          /* listening again failed: try again */
#define FLOOD_HB 64           /* heartbeats per flood write */
#define PUSH_BATCH 64         /* pushed frames per loop turn */
#define PUSH_WAIT_MS 2000     /* a client that takes no push this long: gone */

/* A request for the serial port. */
struct job {
    uint8_t dev;
    uint8_t fc;
    uint16_t base;            /* register for fc 6 */
    uint16_t count;           /* value for fc 6 */
};

/* What the cloud polls, in turn (--cloud-ms). */
static const struct job cloud_banks[] = {
    { 0x11, 0x04, 0, 60 }, { 0x11, 0x03, 0, 60 }, { 0x32, 0x04, 60, 60 },
};

/* When a fault strikes: P percent (drawn from --seed), the first N
 * eligible frames, or every Nth. */
struct chance {
    double pct;
    long first;
    long every;
    uint64_t seen;            /* eligible frames so far */
};

struct opts {
    char host[INET_ADDRSTRLEN];
    long port;
    char serial[SERIAL_LEN + 1];     /* adapter */
    char inv_serial[SERIAL_LEN + 1]; /* inverter */
    long delay_ms, slow_ms, reboot_ms, seed;
    long push;                /* frames to push (--push), 0: none */
    long heartbeat_ms, cloud_ms, null_ms, lan_ms; /* 0: off */
    struct chance slow, lose, zero_tail, splice, bad_crc, substitute;
    int single_client;        /* ints: getopt_long() sets these flags */
    int plain;
    int flood;                /* --flood-heartbeats */
    const char *log_path;
    const char *stats_path;
};

/* The stats file, in its order (README.md). */
#define STATS(X)                                                        \
    X(requests) X(ignored_crc) X(ignored_len) X(responses)             \
    X(fanout_writes) X(writes) X(errors) X(lost) X(heartbeats_sent)    \
    X(heartbeats_answered) X(heartbeat_drops) X(heartbeat_max_reply_ms) \
    X(cloud_polls) X(corrupted) X(connections) X(refused)              \
    X(max_clients_seen) X(unknown_device) X(queue_full) X(nulls)       \
    X(lan_configs) X(reboots) X(flood_bytes) X(pushed)

struct stats {
#define STAT_FIELD(name) int64_t name;
    STATS(STAT_FIELD)
#undef STAT_FIELD
};

struct client {
    int fd;                   /* -1: free slot */
    uint64_t id;              /* conn# in the log, counts from 1 */
    bool hb_pending;          /* a heartbeat waits for its answer */
    int hb_missed;            /* in a row */
    int64_t hb_sent_us;
    size_t flood_off;         /* into a heartbeat, where the next write starts */
    size_t rx_len;
    uint8_t rx[RX_MAX];
};

struct bank {
    uint8_t dev, fc;
    uint16_t base;
    uint64_t n;
};

/* A frame the inverter produced. */
struct answer {
    uint8_t f[FRAME_MAX];
    size_t n;
    bool read;                /* a read response with values */
    bool bad;                 /* a fault struck */
};

struct sim {
    struct opts o;
    struct stats st;
    struct gimg im;           /* registers, substituted block, LAN frame */
    int listen_fd;            /* -1 while rebooting */
    int64_t up_at_us;         /* then listen again */
    struct client cl[MAX_CLIENTS];
    int nclients;
    uint64_t next_conn_id;
    struct job q[QUEUE_MAX];
    int q_head, q_len;
    bool busy;                /* the serial port works on cur */
    struct job cur;
    int64_t due_us;           /* cur is done then */
    int64_t hb_next_us, cloud_next_us, null_next_us, lan_next_us;
    unsigned cloud_idx;
    uint64_t rng;
    struct bank banks[MAX_BANKS];
    int nbanks;
    int64_t banks_other;
    FILE *log;
    char *stats_tmp;
    bool dirty;               /* stats changed since written */
    sigset_t waitmask;
};

static volatile sig_atomic_t g_stop;
static volatile sig_atomic_t g_kick;

/*
 * The big-endian 16-bit value at <p>.
 */
static void
put16(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* splitmix64 for the percentages: same --seed and traffic, same faults. */
static bool
chance_hit(struct sim *s, struct chance *c)
{
    uint64_t z;

    c->seen++;
    if ((c->first > 0 && c->seen <= (uint64_t)c->first) ||
        (c->every > 0 && c->seen % (uint64_t)c->every == 0)) {
        return true;
    }
    if (c->pct <= 0) {
        return false;
    }
    z = (s->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1p-53 * 100 < c->pct;
}

static void
on_signal(int sig)
{
    if (sig == SIGUSR1) {
        g_kick = 1;
    } else {
        g_stop = 1;
    }
}

/* "P" or "P%" (0..100, decimals allowed), "first:N" or "every:N"; with
 * <ms> (--slow-tail) followed by ":MS". */
static bool
parse_chance(const char *arg, struct chance *c, long *ms)
{
    const char *colon = strrchr(arg, ':');
    char spec[64];
    char *end;
    size_t n = ms != NULL && colon != NULL ? (size_t)(colon - arg)
                                           : strlen(arg);

    if (n >= sizeof(spec) || (ms != NULL && (colon == NULL ||
                              !sim_parse_long(colon + 1, 0, 3600000, ms)))) {
        return false;
    }
    memcpy(spec, arg, n);
    spec[n] = '\0';
    if (strncmp(spec, "first:", 6) == 0) {
        return sim_parse_long(spec + 6, 1, LONG_MAX, &c->first);
    }
    if (strncmp(spec, "every:", 6) == 0) {
        return sim_parse_long(spec + 6, 1, LONG_MAX, &c->every);
    }
    errno = 0;
    c->pct = strtod(spec, &end);
    end += *end == '%';
    return errno == 0 && end != spec && *end == '\0' && c->pct >= 0 &&
           c->pct <= 100;
}

static bool
parse_listen(struct opts *o, const char *arg)
{
    struct in_addr a;
    char port[8];

    return sscanf(arg, "%15[0-9.]:%7s", o->host, port) == 2 &&
           inet_pton(AF_INET, o->host, &a) == 1 &&
           sim_parse_long(port, 0, 65535, &o->port);
}

static void
usage(FILE *f)
{
    fputs("usage: giv_dongle [--listen HOST:PORT] [--serial SN]\n"
          "       [--inverter-serial SN] [--plain-image] [--single-client]\n"
          "       [--delay-ms N] [--slow-tail P:MS] [--lose P] [--seed N]\n"
          "       [--heartbeat-ms N] [--cloud-ms N] [--null-every N]\n"
          "       [--lan-config-ms N] [--reboot-ms N]\n"
          "       [--corrupt-zero-tail P] [--corrupt-splice P]\n"
          "       [--corrupt-crc P] [--substitute P] [--log FILE]\n"
          "       [--stats FILE] [--flood-heartbeats] [--push N]\n"
          "P: percent (0..100), first:N or every:N. SN: 10 characters.\n"
          "See tests/sim/README.md.\n", f);
}

/* The options with a value: what kind, where it goes, the largest. */
enum kind { K_LONG, K_CHANCE, K_PATH, K_SERIAL, K_LISTEN, K_SLOW };
#define OPT(name, kind, field, max) \
    { name, kind, offsetof(struct opts, field), max }

static const struct optdef {
    const char *name;
    enum kind kind;
    size_t off;
    long max;
} optdefs[] = {
    OPT("listen", K_LISTEN, port, 0),
    OPT("serial", K_SERIAL, serial, 0),
    OPT("inverter-serial", K_SERIAL, inv_serial, 0),
    OPT("delay-ms", K_LONG, delay_ms, 3600000),
    OPT("slow-tail", K_SLOW, slow, 0),
    OPT("lose", K_CHANCE, lose, 0),
    OPT("seed", K_LONG, seed, LONG_MAX),
    OPT("heartbeat-ms", K_LONG, heartbeat_ms, 86400000),
    OPT("cloud-ms", K_LONG, cloud_ms, 86400000),
    OPT("null-every", K_LONG, null_ms, 86400000),
    OPT("lan-config-ms", K_LONG, lan_ms, 86400000),
    OPT("reboot-ms", K_LONG, reboot_ms, 3600000),
    OPT("push", K_LONG, push, 100000000),
    OPT("corrupt-zero-tail", K_CHANCE, zero_tail, 0),
    OPT("corrupt-splice", K_CHANCE, splice, 0),
    OPT("corrupt-crc", K_CHANCE, bad_crc, 0),
    OPT("substitute", K_CHANCE, substitute, 0),
    OPT("log", K_PATH, log_path, 0),
    OPT("stats", K_PATH, stats_path, 0),
};

#define NOPT (sizeof(optdefs) / sizeof(optdefs[0]))

static bool
apply_opt(struct opts *o, const struct optdef *d, const char *arg)
{
    void *field = (char *)o + d->off;

    switch (d->kind) {
    case K_LONG:
        return sim_parse_long(arg, 0, d->max, field);
    case K_CHANCE:
        return parse_chance(arg, field, NULL);
    case K_SLOW:
        return parse_chance(arg, field, &o->slow_ms);
    case K_PATH:
        *(const char **)field = arg;
        return true;
    case K_SERIAL:
        if (strlen(arg) != SERIAL_LEN) {
            return false;
        }
        for (const char *p = arg; *p != '\0'; p++) {
            if (*p < 0x20 || *p > 0x7E) {
                return false;
            }
        }
        memcpy(field, arg, SERIAL_LEN + 1);
        return true;
    default:
        return parse_listen(o, arg);
    }
}

/* Returns 0 to go on, 1 for --help, -1 for a bad command line. */
static int
parse_args(struct opts *o, int argc, char **argv)
{
    struct option lo[NOPT + 5] = {
        { "single-client", no_argument, &o->single_client, 1 },
        { "plain-image", no_argument, &o->plain, 1 },
        { "flood-heartbeats", no_argument, &o->flood, 1 },
        { "help", no_argument, NULL, 'h' },
    };
    int c, idx = 0;

    for (size_t i = 0; i < NOPT; i++) {
        lo[4 + i] = (struct option){ optdefs[i].name, required_argument,
                                     NULL, 256 + (int)i };
    }
    strcpy(o->host, "127.0.0.1");
    strcpy(o->serial, "WG2303G286");
    strcpy(o->inv_serial, "EA2303G286");
    o->delay_ms = 250;
    o->heartbeat_ms = 180000;
    o->seed = 1;
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

/* The first 18 bytes of an <n>-byte frame from the dongle, and for a
 * transparent one (fid 2) its 8-byte length field too (1.1, 1.2). */
static void
frame_head(const struct sim *s, uint8_t *f, uint8_t fid, size_t n)
{
    static const uint8_t marker[4] = { 0x59, 0x59, 0x00, 0x01 };

    memcpy(f, marker, sizeof(marker));
    put16(f + 4, n - 6);
    f[6] = 0x01;
    f[7] = fid;
    memcpy(f + 8, s->o.serial, SERIAL_LEN);
    if (fid == 0x02) {
        memset(f + 18, 0, 6);
        put16(f + 24, n - HDR_LEN);
    }
}

static size_t
heartbeat_build(const struct sim *s, uint8_t *f)
{
    frame_head(s, f, 0x01, HB_LEN);
    f[18] = 0x01;             /* adapter type, as in all real ones */
    return HB_LEN;
}

/* dev fc inverter-serial base count values CRC (1.3-1.5, 3). */
static size_t
answer_build(const struct sim *s, uint8_t *f, const struct job *j, uint8_t fc,
             const uint16_t *vals, unsigned nvals)
{
    size_t n = 44 + 2 * (size_t)nvals;
    uint16_t crc;

    frame_head(s, f, 0x02, n);
    f[26] = j->dev;
    f[27] = fc;
    memcpy(f + 28, s->o.inv_serial, SERIAL_LEN);
    put16(f + 38, j->base);
    put16(f + 40, j->count);
    for (unsigned i = 0; i < nvals; i++) {
        put16(f + 42 + 2 * i, vals[i]);
    }
    crc = giv_sim_crc(f, n);
    f[n - 2] = (uint8_t)crc;
    f[n - 1] = (uint8_t)(crc >> 8);
    return n;
}

/* What the inverter answers to <j> at device <d> (1.3-1.5). */
static size_t
inverter_exec(struct sim *s, const struct devdef *d, const struct job *j,
              struct answer *a)
{
    int sp = fc_space(j->fc);
    uint16_t *t = sp >= 0 ? s->im.img[d->file][sp] : NULL;
    bool write = j->fc == 0x06;

    if (sp < 0 || !(d->spaces & HAS(sp)) || (write && j->base >= NREGS) ||
        (!write && (j->count < 1 || j->count > MAX_COUNT ||
                    j->base + j->count > NREGS))) {
        s->st.errors++;
        return answer_build(s, a->f, j, j->fc | 0x80, NULL, 0);
    }
    if (write) {
        t[j->base] = j->count;
        s->st.writes++;
        return answer_build(s, a->f, j, j->fc, NULL, 0);
    }
    a->read = true;
    if (d->addr == 0x32 && j->fc == 0x04 && j->base == 0 &&
        j->count == MAX_COUNT && chance_hit(s, &s->o.substitute)) {
        a->bad = true;
        return answer_build(s, a->f, j, j->fc, s->im.subst, MAX_COUNT);
    }
    return answer_build(s, a->f, j, j->fc, t + j->base, j->count);
}

/* --corrupt-*: a zero-filled tail or a flipped CRC byte, then maybe cut
 * after 26 bytes and followed at once by a heartbeat (5.4). */
static void
corrupt(struct sim *s, struct answer *a)
{
    if (a->read && chance_hit(s, &s->o.zero_tail)) {
        size_t from = 42 + 2 * (size_t)(get16(a->f + 40) / 2);

        memset(a->f + from, 0, a->n - from);
        a->bad = true;
    } else if (chance_hit(s, &s->o.bad_crc)) {
        a->f[a->n - 2] ^= 0xFF;
        a->bad = true;
    }
    if (chance_hit(s, &s->o.splice)) {
        a->n = HDR_LEN + heartbeat_build(s, a->f + HDR_LEN);
        a->bad = true;
    }
}

static void
stats_write(struct sim *s)
{
    FILE *f;

    s->dirty = false;
    if (s->o.stats_path == NULL) {
        return;
    }
    f = fopen(s->stats_tmp, "w");
    if (f == NULL) {
        sim_note("%s: %s", s->stats_tmp, strerror(errno));
        return;
    }
#define STAT_PRINT(name) fprintf(f, "%s %" PRId64 "\n", #name, s->st.name);
    STATS(STAT_PRINT)
#undef STAT_PRINT
    if (fclose(f) != 0 || rename(s->stats_tmp, s->o.stats_path) != 0) {
        sim_note("%s: %s", s->o.stats_path, strerror(errno));
    }
}

/* "<t_us> <conn#> <device> <fc> <base> <count>", and count the bank. */
static void
log_request(struct sim *s, int64_t t, uint64_t conn, const struct job *j)
{
    int i = 0;

    while (i < s->nbanks && (s->banks[i].dev != j->dev ||
                             s->banks[i].fc != j->fc ||
                             s->banks[i].base != j->base)) {
        i++;
    }
    if (i == MAX_BANKS) {
        s->banks_other++;
    } else if (i == s->nbanks) {
        s->banks[s->nbanks++] = (struct bank){ j->dev, j->fc, j->base, 1 };
    } else {
        s->banks[i].n++;
    }
    if (s->log != NULL) {
        fprintf(s->log, "%" PRId64 " %" PRIu64 " %u %u %u %u\n", t, conn,
                j->dev, j->fc, j->base, j->count);
        fflush(s->log);
    }
}

/* At exit: "bank <device> <fc> <base> <requests>", first seen first. */
static void
log_banks(struct sim *s)
{
    for (int i = 0; i < s->nbanks; i++) {
        fprintf(s->log, "bank %u %u %u %" PRIu64 "\n", s->banks[i].dev,
                s->banks[i].fc, s->banks[i].base, s->banks[i].n);
    }
    if (s->banks_other > 0) {
        fprintf(s->log, "bank other %" PRId64 "\n", s->banks_other);
    }
}

static void
client_close(struct sim *s, struct client *c, const char *why)
{
    close(c->fd);
    c->fd = -1;
    s->nclients--;
    s->dirty = true;
    sim_note("conn %" PRIu64 " closed: %s (%d open)", c->id, why, s->nclients);
}

/* A client that lets its socket buffer fill up does not read: closed. */
static void
send_to(struct sim *s, struct client *c, const uint8_t *f, size_t n)
{
    ssize_t w = send(c->fd, f, n, MSG_DONTWAIT | MSG_NOSIGNAL);

    if (w != (ssize_t)n) {
        client_close(s, c, w >= 0 || errno == EAGAIN ? "does not read"
                                                      : strerror(errno));
    }
}

/* Every client gets every frame (5.1). */
static void
fanout(struct sim *s, const uint8_t *f, size_t n)
{
    for (int i = 0; i < MAX_CLIENTS; i++) {
        if (s->cl[i].fd >= 0 && !s->o.flood) {
            send_to(s, &s->cl[i], f, n);
        }
    }
}

static void
job_push(struct sim *s, const struct job *j)
{
    if (s->q_len == QUEUE_MAX) {
        s->st.queue_full++;
        return;
    }
    s->q[(s->q_head + s->q_len++) % QUEUE_MAX] = *j;
}

/* The serial port takes the next request if it is free. */
static void
job_start(struct sim *s, int64_t now)
{
    long ms;

    if (s->busy || s->q_len == 0) {
        return;
    }
    s->cur = s->q[s->q_head];
    s->q_head = (s->q_head + 1) % QUEUE_MAX;
    s->q_len--;
    ms = chance_hit(s, &s->o.slow) ? s->o.slow_ms : s->o.delay_ms;
    s->due_us = now + (int64_t)ms * 1000;
    s->busy = true;
}

/* The inverter answers, or not; the stats go out before the frame. */
static void
job_finish(struct sim *s)
{
    const struct devdef *d = dev_find(s->cur.dev);
    struct answer a = { .n = 0 };

    s->busy = false;
    s->dirty = true;
    if (d == NULL) {
        s->st.unknown_device++;
        return;
    }
    if (chance_hit(s, &s->o.lose)) {
        s->st.lost++;
        return;
    }
    a.n = inverter_exec(s, d, &s->cur, &a);
    corrupt(s, &a);
    s->st.responses++;
    s->st.corrupted += a.bad;
    s->st.fanout_writes += s->nclients;
    stats_write(s);
    fanout(s, a.f, a.n);
}

/* A heartbeat answer (any fid 1 frame) while one is pending (1.6). */
static void
heartbeat_answered(struct sim *s, struct client *c, int64_t t)
{
    int64_t ms = (t - c->hb_sent_us) / 1000;

    if (!c->hb_pending) {
        return;               /* unasked or too late: ignored */
    }
    c->hb_pending = false;
    c->hb_missed = 0;
    s->st.heartbeats_answered++;
    if (ms > s->st.heartbeat_max_reply_ms) {
        s->st.heartbeat_max_reply_ms = ms;
    }
    s->dirty = true;
}

/* A whole request-sized frame. Returns false if it is ignored (bad length
 * field or CRC), so that the caller looks for a marker inside it. */
static bool
request_take(struct sim *s, struct client *c, const uint8_t *p, int64_t t)
{
    static const uint8_t len8[8] = { 0, 0, 0, 0, 0, 0, 0, 8 };
    struct job j = { p[26], p[27], get16(p + 28), get16(p + 30) };

    s->dirty = true;
    if (memcmp(p + 18, len8, sizeof(len8)) != 0) {
        s->st.ignored_len++;
        return false;
    }
    if (!crc_ok(p, REQ_LEN)) {
        s->st.ignored_crc++;
        return false;
    }
    s->st.requests++;
    log_request(s, t, c->id, &j);
    job_push(s, &j);
    return true;
}

/*
 * What the bytes at <p> are: the length of a whole frame, 0 if more are
 * needed, -1 to drop a byte (no marker here, or a bad header), -2 to drop
 * a byte of a transparent frame that is not request-sized (1.1).
 */
static long
frame_cut(const uint8_t *p, size_t n)
{
    static const uint8_t marker[4] = { 0x59, 0x59, 0x00, 0x01 };
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
        (p[7] != 0x01 && p[7] != 0x02)) {
        return -1;
    }
    if (p[7] == 0x02 && want != REQ_LEN) {
        return -2;
    }
    if (n < want) {
        return 0;
    }
    /* a serial never holds 00 01: a heartbeat cut short by a frame */
    return p[7] == 0x01 && memmem(p + 1, want - 1, marker, 4) != NULL
               ? -1
               : (long)want;
}

/* Take every whole frame out of what <c> sent; resync on the marker. */
static void
client_read(struct sim *s, struct client *c, int64_t t)
{
    ssize_t r = recv(c->fd, c->rx + c->rx_len, RX_MAX - c->rx_len, 0);
    size_t off = 0;
    long n;

    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        client_close(s, c, r == 0 ? "peer closed" : strerror(errno));
        return;
    }
    c->rx_len += r > 0 ? (size_t)r : 0;
    while ((n = frame_cut(c->rx + off, c->rx_len - off)) != 0) {
        bool taken = n == HB_LEN;

        if (n == HB_LEN) {
            heartbeat_answered(s, c, t);
        } else if (n == REQ_LEN) {
            taken = request_take(s, c, c->rx + off, t);
        } else if (n == -2) {
            s->st.ignored_len++;
            s->dirty = true;
        }
        off += taken ? (size_t)n : 1;
    }
    memmove(c->rx, c->rx + off, c->rx_len - off);
    c->rx_len -= off;
}

static void
accept_all(struct sim *s)
{
    int fd, one = 1;

    while ((fd = accept4(s->listen_fd, NULL, NULL,
                         SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        struct client *c = NULL;

        for (int i = 0; i < MAX_CLIENTS && c == NULL; i++) {
            c = s->cl[i].fd < 0 ? &s->cl[i] : NULL;
        }
        s->dirty = true;
        if (c == NULL || (s->o.single_client && s->nclients > 0)) {
            close(fd);
            s->st.refused++;
            sim_note("refused a connection (%d open)", s->nclients);
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        *c = (struct client){ .fd = fd, .id = ++s->next_conn_id };
        s->st.connections++;
        if (++s->nclients > s->st.max_clients_seen) {
            s->st.max_clients_seen = s->nclients;
        }
        sim_note("conn %" PRIu64 " open (%d open)", c->id, s->nclients);
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNABORTED) {
        sim_note("accept: %s", strerror(errno));
    }
}

/* Listen on --listen (after a reboot: the port bound first); announce. */
static bool
listen_open(struct sim *s)
{
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_port = htons((uint16_t)s->o.port) };
    socklen_t alen = sizeof(a);
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    inet_pton(AF_INET, s->o.host, &a.sin_addr);
    if (fd < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(fd, MAX_CLIENTS) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
        sim_note("listen on %s:%ld: %s", s->o.host, s->o.port, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return false;
    }
    s->listen_fd = fd;
    s->o.port = ntohs(a.sin_port);
    printf("PORT %ld\n", s->o.port);
    fflush(stdout);
    return true;
}

/* All periodic timers start afresh, as on a dongle that just booted. */
static void
timers_init(struct sim *s, int64_t now)
{
    int64_t *next[] = { &s->hb_next_us, &s->cloud_next_us, &s->null_next_us,
                        &s->lan_next_us };
    long ms[] = { s->o.heartbeat_ms, s->o.cloud_ms, s->o.null_ms, s->o.lan_ms };

    for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
        *next[i] = ms[i] > 0 ? now + (int64_t)ms[i] * 1000 : -1;
    }
}

/* True once per period when <*next> is due; moves it on. */
static bool
tick_due(int64_t *next, int64_t now, long period_ms)
{
    if (*next < 0 || now < *next) {
        return false;
    }
    *next += (int64_t)period_ms * 1000;
    if (*next <= now) {
        *next = now + (int64_t)period_ms * 1000;
    }
    return true;
}

/* A heartbeat is answered within min(5 s, period) or missed (1.6). */
static int64_t
hb_deadline(const struct sim *s, const struct client *c)
{
    long ms = s->o.heartbeat_ms < HB_WINDOW_MS ? s->o.heartbeat_ms
                                                : HB_WINDOW_MS;

    return c->hb_sent_us + (int64_t)ms * 1000;
}

/*
 * A heartbeat not answered within its window, or before the next one, is
 * missed; three in a row close the connection (1.6).
 */
static void
heartbeats(struct sim *s, int64_t now)
{
    bool tick = tick_due(&s->hb_next_us, now, s->o.heartbeat_ms);
    uint8_t f[HB_LEN];

    heartbeat_build(s, f);
    for (int i = 0; i < MAX_CLIENTS; i++) {
        struct client *c = &s->cl[i];

        if (c->fd < 0 || s->o.flood) {
            continue;             /* flooded clients get nothing else */
        }
        if (c->hb_pending && (tick || now >= hb_deadline(s, c))) {
            c->hb_pending = false;
            if (++c->hb_missed >= HB_MISSES) {
                s->st.heartbeat_drops++;
                client_close(s, c, "3 heartbeats unanswered");
                continue;
            }
        }
        if (tick) {
            c->hb_pending = true;
            c->hb_sent_us = now;
            s->st.heartbeats_sent++;
            s->dirty = true;
            send_to(s, c, f, HB_LEN);
        }
    }
}

/* --flood-heartbeats: as many heartbeats as <c>'s socket takes, never
 * reading what it sends back; a write may end inside a heartbeat, the
 * next one goes on from there. */
static void
flood_write(struct sim *s, struct client *c)
{
    static uint8_t buf[(FLOOD_HB + 1) * HB_LEN];
    ssize_t w;

    if (buf[0] == 0) {
        for (int i = 0; i <= FLOOD_HB; i++) {
            heartbeat_build(s, buf + i * HB_LEN);
        }
    }
    w = send(c->fd, buf + c->flood_off, FLOOD_HB * HB_LEN,
             MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }
    if (w <= 0) {
        client_close(s, c, w == 0 ? "flood: nothing sent" : strerror(errno));
        return;
    }
    c->flood_off = (c->flood_off + (size_t)w) % HB_LEN;
    s->st.flood_bytes += w;
    s->dirty = true;
}

/* All <n> bytes of <f> to <c>, waiting for room (a pushed frame must not be
 * lost to a full socket, nor cut). False if <c> was closed. */
static bool
send_wait(struct sim *s, struct client *c, const uint8_t *f, size_t n)
{
    struct pollfd p = { .fd = c->fd, .events = POLLOUT };
    size_t off = 0;

    while (off < n) {
        ssize_t w = send(c->fd, f + off, n - off, MSG_DONTWAIT | MSG_NOSIGNAL);

        if (w > 0) {
            off += (size_t)w;
        } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
            client_close(s, c, strerror(errno));
            return false;
        } else if (poll(&p, 1, PUSH_WAIT_MS) != 1) {
            client_close(s, c, "takes no pushed frames");
            return false;
        }
    }
    return true;
}

/* Pushed frame <i> (--push): read responses nobody asked for, for every
 * device address and bases all over the map (the image's values where it
 * has them, sim_map.h's for the device address elsewhere); the last three
 * are the inverter's IR(0,60) at 0x11 and HR(0,60) at its alias 0x31, and
 * the battery's IR(60,60) at 0x32. */
static size_t
push_build(struct sim *s, long i, uint8_t *f)
{
    static const struct job last[] = {
        { 0x11, 0x04, 0, 60 }, { 0x31, 0x03, 0, 60 }, { 0x32, 0x04, 60, 60 },
    };
    long k = i - (s->o.push - 3);
    struct job j = { (uint8_t)(i % 256), (uint8_t)(3 + (i / 256) % 2),
                     (uint16_t)((i / 512) % 1091 * 60), MAX_COUNT };
    const struct devdef *d;
    int sp;
    uint16_t v[MAX_COUNT];

    if (k >= 0) {
        j = last[k];
    }
    d = dev_find(j.dev);
    sp = fc_space(j.fc);
    for (unsigned a = 0; a < MAX_COUNT; a++) {
        unsigned r = j.base + a;

        if (d != NULL && sp >= 0 && (d->spaces & HAS(sp)) && r < NREGS) {
            v[a] = s->im.img[d->file][sp][r];
        } else {
            v[a] = j.fc == 3 ? sim_holding(j.dev, r) : sim_input(j.dev, r);
        }
    }
    return answer_build(s, f, &j, j.fc, v, MAX_COUNT);
}

/* Push up to PUSH_BATCH of the --push frames to every client. */
static void
push_some(struct sim *s)
{
    uint8_t f[FRAME_MAX];

    for (int b = 0; b < PUSH_BATCH && s->st.pushed < s->o.push &&
                    s->nclients > 0; b++) {
        size_t n = push_build(s, (long)s->st.pushed, f);

        for (int i = 0; i < MAX_CLIENTS; i++) {
            if (s->cl[i].fd >= 0) {
                send_wait(s, &s->cl[i], f, n);
            }
        }
        s->st.pushed++;
        s->dirty = true;
    }
}

/* Cloud polls, null responses, LAN-config broadcasts. */
static void
periodic(struct sim *s, int64_t now)
{
    uint8_t f[NULL_LEN];

    if (tick_due(&s->cloud_next_us, now, s->o.cloud_ms)) {
        s->st.cloud_polls++;
        job_push(s, &cloud_banks[s->cloud_idx++ % 3]);
        s->dirty = true;
    }
    if (tick_due(&s->null_next_us, now, s->o.null_ms)) {
        memset(f, 0, sizeof(f));
        frame_head(s, f, 0x02, NULL_LEN);
        f[26] = 0x32;         /* as V34: fc 0, serial NUL, check 0000 */
        s->st.nulls++;
        s->dirty = true;
        fanout(s, f, NULL_LEN);
    }
    if (tick_due(&s->lan_next_us, now, s->o.lan_ms)) {
        s->st.lan_configs++;
        s->dirty = true;
        fanout(s, s->im.lan, s->im.lan_len);
    }
}

/* SIGUSR1: the dongle reboots. Clients and queued requests are gone. */
static void
reboot(struct sim *s, int64_t now)
{
    s->st.reboots++;
    s->dirty = true;
    for (int i = 0; i < MAX_CLIENTS; i++) {
        if (s->cl[i].fd >= 0) {
            client_close(s, &s->cl[i], "SIGUSR1 (reboot)");
        }
    }
    s->q_len = 0;
    s->busy = false;
    timers_init(s, now);
    if (s->o.reboot_ms > 0 && s->listen_fd >= 0) {
        close(s->listen_fd);
        s->listen_fd = -1;
        s->up_at_us = now + (int64_t)s->o.reboot_ms * 1000;
        sim_note("rebooting: not listening for %ld ms", s->o.reboot_ms);
    }
}

/* Everything whose time has come. While rebooting only the wait runs. */
static void
timers_run(struct sim *s, int64_t now)
{
    if (s->listen_fd < 0) {
        if (now >= s->up_at_us) {
            s->up_at_us = listen_open(s) ? -1 : now + RETRY_MS * 1000;
            timers_init(s, now);
        }
        return;
    }
    if (s->busy && now >= s->due_us) {
        job_finish(s);
    }
    heartbeats(s, now);
    periodic(s, now);
    job_start(s, now);
}

static int64_t
next_deadline(const struct sim *s)
{
    int64_t t[5 + MAX_CLIENTS] = { s->busy ? s->due_us : -1, s->hb_next_us,
                                   s->cloud_next_us, s->null_next_us,
                                   s->lan_next_us };
    int64_t d = INT64_MAX;

    if (s->listen_fd < 0) {
        return s->up_at_us;
    }
    if (s->st.pushed < s->o.push && s->nclients > 0) {
        return 0;                 /* more to push: do not wait */
    }
    for (int i = 0; i < MAX_CLIENTS; i++) {
        const struct client *c = &s->cl[i];

        t[5 + i] = c->fd >= 0 && c->hb_pending ? hb_deadline(s, c) : -1;
    }
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        d = t[i] >= 0 && t[i] < d ? t[i] : d;
    }
    return d;
}

/* Wait for a client, a connection or the next timer; handle them. */
static int
poll_once(struct sim *s)
{
    struct pollfd pfd[1 + MAX_CLIENTS];
    int slot[1 + MAX_CLIENTS], n = 0;
    int64_t d = next_deadline(s), left = d - sim_now_us(), now;
    struct timespec ts = { 0, 0 };

    if (s->listen_fd >= 0) {
        pfd[n] = (struct pollfd){ .fd = s->listen_fd, .events = POLLIN };
        slot[n++] = -1;
    }
    for (int i = 0; i < MAX_CLIENTS; i++) {
        if (s->cl[i].fd >= 0) {
            /* a flooded client is never read: its answers pile up */
            pfd[n] = (struct pollfd){ .fd = s->cl[i].fd,
                                      .events = s->o.flood ? POLLOUT : POLLIN };
            slot[n++] = i;
        }
    }
    if (left > 0) {
        ts = (struct timespec){ left / 1000000, (long)(left % 1000000) * 1000 };
    }
    if (ppoll(pfd, (nfds_t)n, d == INT64_MAX ? NULL : &ts, &s->waitmask) < 0) {
        return errno == EINTR ? 0 : -1;
    }
    now = sim_now_us();
    for (int i = 0; i < n; i++) {
        if (slot[i] < 0 && pfd[i].revents != 0) {
            accept_all(s);
        } else if (slot[i] >= 0 && s->cl[slot[i]].fd >= 0 &&
                   pfd[i].revents != 0) {
            if (s->o.flood) {
                flood_write(s, &s->cl[slot[i]]);
            } else {
                client_read(s, &s->cl[slot[i]], now);
            }
        }
    }
    timers_run(s, sim_now_us());
    push_some(s);
    return 0;
}

static int
run(struct sim *s)
{
    while (!g_stop) {
        if (g_kick) {
            g_kick = 0;
            reboot(s, sim_now_us());
        }
        if (poll_once(s) < 0) {
            sim_note("ppoll: %s", strerror(errno));
            return -1;
        }
        if (s->dirty) {
            stats_write(s);
        }
    }
    return 0;
}

static bool
outputs_init(struct sim *s)
{
    if (s->o.log_path != NULL &&
        (s->log = fopen(s->o.log_path, "a")) == NULL) {
        sim_note("%s: %s", s->o.log_path, strerror(errno));
        return false;
    }
    return s->o.stats_path == NULL ||
           asprintf(&s->stats_tmp, "%s.tmp", s->o.stats_path) >= 0;
}

int
main(int argc, char **argv)
{
    static struct sim s;
    int rc = parse_args(&s.o, argc, argv);

    if (rc != 0) {
        usage(rc > 0 ? stdout : stderr);
        return rc > 0 ? 0 : 2;
    }
    s.listen_fd = -1;
    s.rng = (uint64_t)s.o.seed;
    s.st.heartbeat_max_reply_ms = -1;
    for (int i = 0; i < MAX_CLIENTS; i++) {
        s.cl[i].fd = -1;
    }
    sim_signals_init(on_signal, &s.waitmask);
    rc = 1;
    /* the stats file is there before PORT is announced */
    if (outputs_init(&s) && gimg_init(&s.im, s.o.plain) && (stats_write(&s), true) &&
        listen_open(&s)) {
        timers_init(&s, sim_now_us());
        rc = run(&s) == 0 ? 0 : 1;
        stats_write(&s);
    }
    for (int i = 0; i < MAX_CLIENTS; i++) {
        if (s.cl[i].fd >= 0) {
            client_close(&s, &s.cl[i], "exiting");
        }
    }
    if (s.listen_fd >= 0) {
        close(s.listen_fd);
    }
    if (s.log != NULL) {
        log_banks(&s);
        fclose(s.log);
    }
    free(s.stats_tmp);
    return rc;
}

/* SPDX-License-Identifier: MIT */
/*
 * tcp_slave.c -- a Modbus TCP device simulator for the integration tests and
 * benchmarks of modbus-mux. It behaves like a single-threaded embedded
 * device: one request is handled at a time across all connections, each
 * served unit has its own register image (sim_map.h), and the quirks of real
 * devices can be switched on: slow answers, a single client only, wrong
 * transaction ids, lost requests, connections closed after N answers,
 * silence for units nobody answers for, a connection that stops being read
 * (as a device whose task hangs: its TCP window fills and stays full),
 * every answer sent twice.
 *
 * It also records what it sees, so a test can check the proxy's pacing: for
 * every request the gap since the device finished the previous one, a
 * per-request log and a statistics file that is rewritten atomically after
 * each request. See README.md in this directory for the options and formats.
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <modbus.h>

#include "sim_map.h"
#include "sim_util.h"

#define MAX_CLIENTS 64
#define MAX_UNIT 255          /* highest unit id a request can carry */
#define MAX_SERVED 247        /* units one simulator serves at most */
#define IO_TIMEOUT_S 2        /* a stalled half frame blocks us this long */
#define MBAP_HDR 7
#define MBAP_LEN_MAX 254      /* unit + 253-byte PDU */

/* What became of a request; the names are the log's last column. */
enum action { ACT_REPLY, ACT_DROP, ACT_BROADCAST, ACT_UNKNOWN, ACT_CLOSE };
static const char *const action_name[] = {
    "reply", "drop", "broadcast", "unknown-unit", "close",
};

struct opts {
    char host[INET_ADDRSTRLEN];
    int port;
    bool served[MAX_UNIT + 1];
    long map_size;
    long hole_lo, hole_hi;    /* --hole: undefined registers, or -1 */
    long delay_ms;
    long min_gap_ms;
    long drop_every;
    long close_after;
    long stall_after;         /* stop reading the connection of request N */
    long rcvbuf;              /* SO_RCVBUF of every connection, 0: default */
    long duplicate_ms;        /* the copy of each answer, -1: none */
    int single_client;        /* ints: getopt_long() sets these flags */
    int wrong_tid;
    int unknown_exc;
    const char *log_path;
    const char *stats_path;
};

struct stats {
    uint64_t requests;
    uint64_t replies;
    uint64_t dropped;
    uint64_t broadcasts;
    uint64_t unknown_unit;
    uint64_t early;
    int64_t min_gap_us;       /* -1 until a request had a predecessor */
    uint64_t connections;
    uint64_t refused;
    uint64_t closed_on_demand;
    int max_clients_seen;
    uint64_t stalled;         /* connections no longer read (--stall-after) */
    uint64_t backlog_bytes;   /* waiting in their socket when they resumed */
    uint64_t late_requests;   /* read on them after that backlog: bytes the
                                 peer still held when we resumed */
    uint64_t backlog_done;    /* resumed connections whose backlog is read */
    uint64_t duplicates;      /* answers sent a second time */
    uint64_t hole_refused;    /* reads refused with 0x02 (--hole) */
};

struct client {
    int fd;                   /* -1: free slot */
    uint64_t id;              /* conn# in the log, counts from 1 */
    uint64_t answered;
    bool ready;               /* poll reported it in this round */
    bool stalled;             /* not read until SIGUSR2 (--stall-after) */
    bool resumed;             /* was stalled; backlog counts down */
    long backlog;             /* bytes left of what waited at the resume */
};

struct sim {
    struct opts o;
    struct stats st;
    modbus_t *ctx;            /* shared by all clients: we serve one at a time */
    int listen_fd;
    modbus_mapping_t *map[MAX_UNIT + 1];
    struct client cl[MAX_CLIENTS];
    int nclients;
    uint64_t next_conn_id;
    int rr;                   /* slot where the next round starts */
    int64_t last_done_us;     /* end of the previous request, -1: none yet */
    FILE *log;
    char *stats_tmp;
    bool dirty;               /* stats changed since last written */
    sigset_t waitmask;        /* signal mask while in ppoll */
};

static volatile sig_atomic_t g_stop;
static volatile sig_atomic_t g_kick;
static volatile sig_atomic_t g_resume;

static void
sleep_ms(long ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

    while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR) {
        continue;
    }
}

static uint16_t
get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static void
on_signal(int sig)
{
    if (sig == SIGUSR1) {
        g_kick = 1;
    } else if (sig == SIGUSR2) {
        g_resume = 1;
    } else {
        g_stop = 1;
    }
}

static bool
parse_listen(struct opts *o, const char *arg)
{
    struct in_addr a;
    char port[8];
    long v;

    if (sscanf(arg, "%15[0-9.]:%7s", o->host, port) != 2 ||
        inet_pton(AF_INET, o->host, &a) != 1 || !sim_parse_long(port, 0, 65535, &v)) {
        return false;
    }
    o->port = (int)v;
    return true;
}

/* --units: a comma-separated list of "N" and "A-B". */
static bool
parse_units(struct opts *o, const char *arg)
{
    char *copy = strdup(arg), *save = NULL, *dash;
    bool ok = copy != NULL;
    long lo, hi, n = 0;

    memset(o->served, 0, sizeof(o->served));
    for (char *it = ok ? strtok_r(copy, ",", &save) : NULL; ok && it != NULL;
         it = strtok_r(NULL, ",", &save)) {
        if ((dash = strchr(it, '-')) != NULL) {
            *dash++ = '\0';
        }
        ok = sim_parse_long(it, 1, MAX_UNIT, &lo) &&
             sim_parse_long(dash != NULL ? dash : it, lo, MAX_UNIT, &hi);
        for (long u = lo; ok && u <= hi; u++) {
            n += !o->served[u];
            o->served[u] = true;
        }
    }
    free(copy);
    return ok && n >= 1 && n <= MAX_SERVED;
}

static void
usage(FILE *f)
{
    fputs("usage: tcp_slave [--listen HOST:PORT] [--units LIST] [--map-size N]\n"
          "       [--delay-ms N] [--single-client] [--min-gap-ms N]\n"
          "       [--log FILE] [--stats FILE] [--wrong-tid] [--drop-every N]\n"
          "       [--close-after N] [--unknown-unit-exception]\n"
          "       [--stall-after N] [--rcvbuf BYTES] [--duplicate-ms N]\n"
          "       [--hole A-B]\n"
          "See tests/sim/README.md.\n", f);
}

static bool
apply_opt(struct opts *o, int c, const char *arg)
{
    switch (c) {
    case 'l':
        return parse_listen(o, arg);
    case 'u':
        return parse_units(o, arg);
    case 'm':
        return sim_parse_long(arg, 1, 65536, &o->map_size);
    case 'd':
        return sim_parse_long(arg, 0, 3600000, &o->delay_ms);
    case 'g':
        return sim_parse_long(arg, 0, 3600000, &o->min_gap_ms);
    case 'D':
        return sim_parse_long(arg, 1, LONG_MAX, &o->drop_every);
    case 'C':
        return sim_parse_long(arg, 1, LONG_MAX, &o->close_after);
    case 'S':
        return sim_parse_long(arg, 1, LONG_MAX, &o->stall_after);
    case 'R':
        return sim_parse_long(arg, 1, 1 << 24, &o->rcvbuf);
    case 'U':
        return sim_parse_long(arg, 0, 3600000, &o->duplicate_ms);
    case 'H': {
        char *dash = strchr(arg, '-');
        char lo[16];

        if (dash == NULL || (size_t)(dash - arg) >= sizeof(lo)) {
            return false;
        }
        memcpy(lo, arg, (size_t)(dash - arg));
        lo[dash - arg] = '\0';
        return sim_parse_long(lo, 0, 65535, &o->hole_lo) &&
               sim_parse_long(dash + 1, o->hole_lo, 65535, &o->hole_hi);
    }
    case 'L':
        o->log_path = arg;
        return true;
    case 's':
        o->stats_path = arg;
        return true;
    default:
        return c == 0;        /* a flag getopt_long() has set itself */
    }
}

/* Returns 0 to go on, 1 for --help, -1 for a bad command line. */
static int
parse_args(struct opts *o, int argc, char **argv)
{
    const struct option lo[] = {
        { "listen", required_argument, NULL, 'l' },
        { "units", required_argument, NULL, 'u' },
        { "map-size", required_argument, NULL, 'm' },
        { "delay-ms", required_argument, NULL, 'd' },
        { "min-gap-ms", required_argument, NULL, 'g' },
        { "drop-every", required_argument, NULL, 'D' },
        { "close-after", required_argument, NULL, 'C' },
        { "stall-after", required_argument, NULL, 'S' },
        { "rcvbuf", required_argument, NULL, 'R' },
        { "duplicate-ms", required_argument, NULL, 'U' },
        { "hole", required_argument, NULL, 'H' },
        { "log", required_argument, NULL, 'L' },
        { "stats", required_argument, NULL, 's' },
        { "single-client", no_argument, &o->single_client, 1 },
        { "wrong-tid", no_argument, &o->wrong_tid, 1 },
        { "unknown-unit-exception", no_argument, &o->unknown_exc, 1 },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c, idx = 0;

    strcpy(o->host, "127.0.0.1");
    o->served[1] = true;
    o->map_size = 65536;
    o->duplicate_ms = -1;
    o->hole_lo = o->hole_hi = -1;
    while ((c = getopt_long(argc, argv, "h", lo, &idx)) != -1) {
        if (c == 'h' || c == '?') {
            return c == 'h' ? 1 : -1;
        }
        if (!apply_opt(o, c, optarg)) {
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

static modbus_mapping_t *
map_new(unsigned unit, long size)
{
    int n = (int)size;
    modbus_mapping_t *m = modbus_mapping_new(n, n, n, n);

    if (m == NULL) {
        return NULL;
    }
    for (unsigned a = 0; a < (unsigned)size; a++) {
        m->tab_bits[a] = sim_coil(unit, a);
        m->tab_input_bits[a] = sim_discrete(unit, a);
        m->tab_registers[a] = sim_holding(unit, a);
        m->tab_input_registers[a] = sim_input(unit, a);
    }
    return m;
}

static bool
maps_init(struct sim *s)
{
    for (unsigned u = 1; u <= MAX_UNIT; u++) {
        if (s->o.served[u]) {
            s->map[u] = map_new(u, s->o.map_size);
            if (s->map[u] == NULL) {
                sim_note("mapping for unit %u: %s", u, modbus_strerror(errno));
                return false;
            }
        }
    }
    return true;
}

/*
 * For these requests libmodbus 3.1.6 sleeps the response timeout and then
 * flushes the socket before it sends the exception, which would swallow any
 * request pipelined behind. A device answers at once and keeps the stream,
 * so answer them here. Returns the exception code, 0 to leave it to
 * modbus_reply(). libmodbus read the bytes looked at here for these codes.
 */
static int
quick_exception(const uint8_t *pdu)
{
    unsigned nb = get16(pdu + 3);
    unsigned nw;

    switch (pdu[0]) {
    case MODBUS_FC_READ_COILS:
    case MODBUS_FC_READ_DISCRETE_INPUTS:
        return nb < 1 || nb > MODBUS_MAX_READ_BITS ? 3 : 0;
    case MODBUS_FC_READ_HOLDING_REGISTERS:
    case MODBUS_FC_READ_INPUT_REGISTERS:
        return nb < 1 || nb > MODBUS_MAX_READ_REGISTERS ? 3 : 0;
    case MODBUS_FC_WRITE_SINGLE_COIL:
    case MODBUS_FC_WRITE_SINGLE_REGISTER:
    case MODBUS_FC_REPORT_SLAVE_ID:
    case MODBUS_FC_MASK_WRITE_REGISTER:
        return 0;
    case MODBUS_FC_WRITE_MULTIPLE_COILS:
        return nb < 1 || nb > MODBUS_MAX_WRITE_BITS || pdu[5] != (nb + 7) / 8 ? 3 : 0;
    case MODBUS_FC_WRITE_MULTIPLE_REGISTERS:
        return nb < 1 || nb > MODBUS_MAX_WRITE_REGISTERS || pdu[5] != nb * 2 ? 3 : 0;
    case MODBUS_FC_WRITE_AND_READ_REGISTERS:
        nw = get16(pdu + 7);
        return nb < 1 || nb > MODBUS_MAX_WR_READ_REGISTERS || nw < 1 ||
               nw > MODBUS_MAX_WR_WRITE_REGISTERS || pdu[9] != nw * 2 ? 3 : 0;
    default:
        return MODBUS_EXCEPTION_ILLEGAL_FUNCTION;
    }
}

/*
 * Write <cnt> registers (big-endian) or coils (packed LSB first) from <src>
 * at <addr> in every served unit.
 */
static void
bcast_write(struct sim *s, bool regs, unsigned addr, unsigned cnt,
            const uint8_t *src)
{
    for (unsigned u = 1; u <= MAX_UNIT; u++) {
        for (unsigned i = 0; s->map[u] != NULL && i < cnt; i++) {
            if (regs) {
                s->map[u]->tab_registers[addr + i] = get16(src + 2 * i);
            } else {
                s->map[u]->tab_bits[addr + i] = (src[i / 8] >> (i % 8)) & 1;
            }
        }
    }
}

/*
 * libmodbus would answer unit 0 on TCP, so broadcast writes are applied here.
 * <pdu> starts at the function code. Returns false for anything but a
 * well-formed, in-range write: that is ignored, since nobody may answer a
 * broadcast, not even with an exception.
 */
static bool
bcast_apply(struct sim *s, const uint8_t *pdu)
{
    unsigned addr = get16(pdu + 1), v = get16(pdu + 3), n = 1;
    const uint8_t *src = pdu + 6;
    uint8_t bit = v != 0;

    if (quick_exception(pdu) != 0) {
        return false;
    }
    switch (pdu[0]) {
    case MODBUS_FC_WRITE_SINGLE_COIL:
        if (v != 0xFF00 && v != 0) {
            return false;
        }
        src = &bit;
        break;
    case MODBUS_FC_WRITE_SINGLE_REGISTER:
        src = pdu + 3;
        break;
    case MODBUS_FC_WRITE_MULTIPLE_COILS:
    case MODBUS_FC_WRITE_MULTIPLE_REGISTERS:
        n = v;
        break;
    default:
        return false;
    }
    if (addr + n > (unsigned)s->o.map_size) {
        return false;
    }
    bcast_write(s, pdu[0] == MODBUS_FC_WRITE_SINGLE_REGISTER ||
                   pdu[0] == MODBUS_FC_WRITE_MULTIPLE_REGISTERS, addr, n, src);
    return true;
}

static void
stats_write(struct sim *s)
{
    const struct stats *st = &s->st;
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
    fprintf(f, "requests %" PRIu64 "\nreplies %" PRIu64 "\ndropped %" PRIu64
            "\nbroadcasts %" PRIu64 "\nunknown_unit %" PRIu64 "\nearly %" PRIu64
            "\nmin_gap_us %" PRId64 "\nconnections %" PRIu64 "\nrefused %" PRIu64
            "\nclosed_on_demand %" PRIu64 "\nmax_clients_seen %d\nstalled %"
            PRIu64 "\nbacklog_bytes %" PRIu64 "\nlate_requests %" PRIu64
            "\nbacklog_done %" PRIu64 "\nduplicates %" PRIu64
            "\nhole_refused %" PRIu64 "\n",
            st->requests, st->replies, st->dropped, st->broadcasts,
            st->unknown_unit, st->early, st->min_gap_us, st->connections,
            st->refused, st->closed_on_demand, st->max_clients_seen,
            st->stalled, st->backlog_bytes, st->late_requests,
            st->backlog_done, st->duplicates, st->hole_refused);
    if (fclose(f) != 0 || rename(s->stats_tmp, s->o.stats_path) != 0) {
        sim_note("%s: %s", s->o.stats_path, strerror(errno));
    }
}

/*
 * Gap between the device becoming free and this request becoming readable.
 * A request that was already waiting while the previous one was handled
 * (another connection, same poll round) gets 0, not a negative gap.
 * Returns -1 for the very first request.
 */
static int64_t
gap_record(struct sim *s, int64_t t_ready)
{
    int64_t gap;

    if (s->last_done_us < 0) {
        return -1;
    }
    gap = t_ready > s->last_done_us ? t_ready - s->last_done_us : 0;
    if (gap < (int64_t)s->o.min_gap_ms * 1000) {
        s->st.early++;
    }
    if (s->st.min_gap_us < 0 || gap < s->st.min_gap_us) {
        s->st.min_gap_us = gap;
    }
    return gap;
}

/* "<unit> <fc> <addr> <count>" of <req> for the log, "-" where none. */
static void
req_fields(char *out, size_t size, const uint8_t *req, int len)
{
    uint8_t fc = req != NULL ? req[MBAP_HDR] : 0;
    bool one = fc == 5 || fc == 6 || fc == 22;
    bool span = (fc >= 1 && fc <= 6) || fc == 15 || fc == 16 || fc == 22 || fc == 23;

    if (req == NULL) {
        snprintf(out, size, "- - - -");
    } else if (len < MBAP_HDR + 5 || !span) {
        snprintf(out, size, "%u %u - -", req[6], fc);
    } else {
        snprintf(out, size, "%u %u %u %u", req[6], fc, get16(req + MBAP_HDR + 1),
                 one ? 1u : get16(req + MBAP_HDR + 3));
    }
}

static void
log_line(struct sim *s, int64_t t, const struct client *c, const uint8_t *req,
         int len, int64_t gap, enum action act)
{
    char fields[32], g[24] = "-";

    if (s->log == NULL) {
        return;
    }
    req_fields(fields, sizeof(fields), req, len);
    if (gap >= 0) {
        snprintf(g, sizeof(g), "%" PRId64, gap);
    }
    fprintf(s->log, "%" PRId64 " %" PRIu64 " %s %s %s\n", t, c->id, fields, g,
            action_name[act]);
    fflush(s->log);
}

static void
client_close(struct sim *s, struct client *c, const char *why)
{
    if (c->resumed && c->backlog > 0) {
        s->st.backlog_done++;       /* the rest of it is lost with it */
    }
    close(c->fd);
    c->fd = -1;
    c->ready = false;
    s->nclients--;
    s->dirty = true;
    sim_note("conn %" PRIu64 " closed: %s (%d open)", c->id, why, s->nclients);
}

static void
accept_one(struct sim *s, int fd, const struct sockaddr_in *peer)
{
    char ip[INET_ADDRSTRLEN] = "?";
    struct client *c = NULL;
    bool busy = s->o.single_client && s->nclients > 0;
    int one = 1;

    inet_ntop(AF_INET, &peer->sin_addr, ip, sizeof(ip));
    for (int i = 0; i < MAX_CLIENTS && !busy && c == NULL; i++) {
        c = s->cl[i].fd < 0 ? &s->cl[i] : NULL;
    }
    s->dirty = true;
    if (c == NULL) {
        close(fd);
        s->st.refused++;
        sim_note("refused %s:%u: %s", ip, ntohs(peer->sin_port),
             busy ? "single client" : "too many clients");
        return;
    }
    /* Replies are one write each; never let Nagle hold one back. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    *c = (struct client){ .fd = fd, .id = ++s->next_conn_id };
    s->nclients++;
    s->st.connections++;
    if (s->nclients > s->st.max_clients_seen) {
        s->st.max_clients_seen = s->nclients;
    }
    sim_note("conn %" PRIu64 " open from %s:%u (%d open)", c->id, ip,
         ntohs(peer->sin_port), s->nclients);
}

static void
accept_all(struct sim *s)
{
    for (;;) {
        struct sockaddr_in peer;
        socklen_t plen = sizeof(peer);
        int fd = accept4(s->listen_fd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);

        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNABORTED) {
                sim_note("accept: %s", strerror(errno));
            }
            return;
        }
        accept_one(s, fd, &peer);
    }
}

static void
kick_all(struct sim *s)
{
    for (int i = 0; i < MAX_CLIENTS; i++) {
        if (s->cl[i].fd >= 0) {
            s->st.closed_on_demand++;
            client_close(s, &s->cl[i], "SIGUSR1");
        }
    }
}

/*
 * libmodbus sizes a request by its function code and ignores the MBAP
 * length, so a function it does not know (0x2B, say) leaves the rest of the
 * PDU in the socket. Read it, so that modbus_reply() can answer "illegal
 * function" like a device would and the stream stays in step.
 */
static bool
read_rest(int fd, uint8_t *buf, int have, int want)
{
    while (have < want) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        ssize_t n;

        if (poll(&p, 1, IO_TIMEOUT_S * 1000) != 1) {
            return false;
        }
        n = recv(fd, buf + have, (size_t)(want - have), 0);
        if (n <= 0) {
            return false;
        }
        have += (int)n;
    }
    return true;
}

/*
 * Receive one whole request. Returns the length libmodbus gave it (what
 * modbus_reply() wants), 0 on EOF, -1 on garbage, -2 when nothing came.
 */
static int
receive(struct sim *s, struct client *c, uint8_t *req)
{
    uint8_t b;
    ssize_t peek = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    int len, want;

    if (peek == 0 || (peek < 0 && errno != EAGAIN && errno != EINTR)) {
        return 0;
    }
    if (peek < 0) {
        return -2;            /* spurious wake-up: nothing to do */
    }
    modbus_set_socket(s->ctx, c->fd);
    len = modbus_receive(s->ctx, req);
    if (len < MBAP_HDR + 1 || get16(req + 2) != 0) {
        return -1;
    }
    want = 6 + get16(req + 4);
    if (want < len || want > 6 + MBAP_LEN_MAX) {
        return -1;
    }
    return read_rest(c->fd, req, len, want) ? len : -1;
}

static enum action
decide(struct sim *s, const uint8_t *req)
{
    uint8_t unit = req[6];

    if (s->o.drop_every > 0 && s->st.requests % (uint64_t)s->o.drop_every == 0) {
        s->st.dropped++;
        return ACT_DROP;
    }
    if (unit == 0) {
        if (bcast_apply(s, req + MBAP_HDR)) {
            s->st.broadcasts++;
        }
        return ACT_BROADCAST;
    }
    if (s->map[unit] == NULL) {
        s->st.unknown_unit++;
        return ACT_UNKNOWN;
    }
    return ACT_REPLY;
}

static int
send_reply(struct sim *s, uint8_t *req, int len, enum action act)
{
    uint16_t tid = get16(req);
    int exc;

    if (s->o.wrong_tid) {
        tid = (uint16_t)(tid + 1);
        req[0] = (uint8_t)(tid >> 8);
        req[1] = (uint8_t)tid;
    }
    exc = act == ACT_UNKNOWN ? MODBUS_EXCEPTION_GATEWAY_TARGET
                             : quick_exception(req + MBAP_HDR);
    if (exc == 0 && s->o.hole_lo >= 0 && req[MBAP_HDR] >= 1 &&
        req[MBAP_HDR] <= 4) {
        /* a device with undefined registers refuses any read that touches
         * one (--hole) */
        long a = get16(req + MBAP_HDR + 1), n = get16(req + MBAP_HDR + 3);

        if (a <= s->o.hole_hi && a + n > s->o.hole_lo) {
            s->st.hole_refused++;
            exc = MODBUS_EXCEPTION_ILLEGAL_DATA_ADDRESS;
        }
    }
    if (exc != 0) {
        return modbus_reply_exception(s->ctx, req, (unsigned)exc);
    }
    return modbus_reply(s->ctx, req, len, s->map[req[6]]);
}

/* A request of <n> bytes was read from <c>: after a resume, it came from
 * the backlog that waited in the socket, or arrived since (late). */
static void
backlog_count(struct sim *s, struct client *c, long n)
{
    if (!c->resumed) {
        return;
    }
    if (c->backlog <= 0) {
        s->st.late_requests++;
        return;
    }
    c->backlog -= n;
    if (c->backlog <= 0) {
        s->st.backlog_done++;
    }
}

/* SIGUSR2: read the stalled connections again, noting what waited. */
static void
resume_all(struct sim *s)
{
    for (int i = 0; i < MAX_CLIENTS; i++) {
        struct client *c = &s->cl[i];
        int n = 0;

        if (c->fd < 0 || !c->stalled) {
            continue;
        }
        if (ioctl(c->fd, FIONREAD, &n) != 0) {
            n = 0;
        }
        c->stalled = false;
        c->resumed = true;
        c->backlog = n;
        s->st.backlog_bytes += (uint64_t)n;
        if (n == 0) {
            s->st.backlog_done++;
        }
        s->dirty = true;
        sim_note("conn %" PRIu64 " resumed, %d bytes waiting", c->id, n);
    }
}

/* TCP_CORK on <fd>: hold small writes until it is lifted, so that two
 * answers leave in one segment (and reach the peer in one read). */
static void
cork(int fd, bool on)
{
    int v = on;

    setsockopt(fd, IPPROTO_TCP, TCP_CORK, &v, sizeof(v));
}

/*
 * send_reply(), and with --duplicate-ms the same answer again that many ms
 * later (0: in the same segment), as a device or gateway that repeats
 * itself does. Returns what the first send_reply() returned.
 */
static int
send_twice(struct sim *s, struct client *c, uint8_t *req, int len,
           enum action act)
{
    uint8_t tid[2] = { req[0], req[1] };
    int rc;

    if (s->o.duplicate_ms < 0) {
        return send_reply(s, req, len, act);
    }
    cork(c->fd, true);
    rc = send_reply(s, req, len, act);
    if (rc >= 0) {
        if (s->o.duplicate_ms > 0) {
            cork(c->fd, false);
            sleep_ms(s->o.duplicate_ms);
        }
        memcpy(req, tid, 2);        /* --wrong-tid changed it */
        if (send_reply(s, req, len, act) >= 0) {
            s->st.duplicates++;
            s->dirty = true;
        }
    }
    cork(c->fd, false);
    return rc;
}

/*
 * Handle one request of <c> that poll reported readable at <t_ready>. The
 * log line and stats are written before the reply goes out, so a client
 * holding its reply can read them without racing us.
 */
static void
handle(struct sim *s, struct client *c, uint8_t *req, int len, int64_t t_ready)
{
    bool answer, closing = false;
    enum action act;
    int64_t gap;

    s->st.requests++;
    backlog_count(s, c, 6 + get16(req + 4));
    gap = gap_record(s, t_ready);
    if (s->o.delay_ms > 0) {
        sleep_ms(s->o.delay_ms);
    }
    act = decide(s, req);
    answer = act == ACT_REPLY || (act == ACT_UNKNOWN && s->o.unknown_exc);
    if (answer) {
        s->st.replies++;
        closing = s->o.close_after > 0 &&
                  c->answered + 1 >= (uint64_t)s->o.close_after;
    }
    log_line(s, t_ready, c, req, len, gap, closing ? ACT_CLOSE : act);
    if (s->o.stall_after > 0 && s->st.requests == (uint64_t)s->o.stall_after) {
        c->stalled = true;
        s->st.stalled++;
        sim_note("conn %" PRIu64 " stalled: not read until SIGUSR2", c->id);
    }
    stats_write(s);
    /* The answer leaves now. A clock read after send() can come late on a
     * busy machine (we may be preempted in between) and make the next gap
     * look shorter than it was: read it before. */
    s->last_done_us = sim_now_us();
    if (answer && send_twice(s, c, req, len, act) < 0) {
        s->st.replies--;
        s->dirty = true;
        client_close(s, c, errno != 0 ? strerror(errno) : "send failed");
    } else if (answer) {
        c->answered++;
        if (closing) {
            client_close(s, c, "--close-after reached");
        }
    }
}

static void
serve(struct sim *s, struct client *c, int64_t t_ready)
{
    uint8_t req[MODBUS_TCP_MAX_ADU_LENGTH] = { 0 };
    int len = receive(s, c, req);

    if (len == 0) {
        client_close(s, c, "peer closed");
    } else if (len == -1) {
        log_line(s, t_ready, c, NULL, 0, -1, ACT_CLOSE);
        client_close(s, c, errno == ETIMEDOUT ? "timeout in frame" : "bad frame");
    } else if (len > 0) {
        handle(s, c, req, len, t_ready);
    }
}

/* Serve each client poll reported, once, starting after last round's first. */
static void
serve_ready(struct sim *s, int64_t t_ready)
{
    int first = -1;

    for (int i = 0; i < MAX_CLIENTS; i++) {
        int slot = (s->rr + i) % MAX_CLIENTS;
        struct client *c = &s->cl[slot];

        if (c->fd < 0 || !c->ready) {
            continue;
        }
        c->ready = false;
        if (first < 0) {
            first = slot;
        }
        serve(s, c, t_ready);
    }
    if (first >= 0) {
        s->rr = (first + 1) % MAX_CLIENTS;
    }
}

static int
poll_once(struct sim *s)
{
    struct pollfd pfd[1 + MAX_CLIENTS];
    int slot_of[1 + MAX_CLIENTS];
    int n = 1;
    int64_t t;

    pfd[0] = (struct pollfd){ .fd = s->listen_fd, .events = POLLIN };
    for (int i = 0; i < MAX_CLIENTS; i++) {
        if (s->cl[i].fd >= 0 && !s->cl[i].stalled) {
            pfd[n] = (struct pollfd){ .fd = s->cl[i].fd, .events = POLLIN };
            slot_of[n++] = i;
        }
    }
    if (ppoll(pfd, (nfds_t)n, NULL, &s->waitmask) < 0) {
        return errno == EINTR ? 0 : -1;
    }
    t = sim_now_us();
    for (int i = 1; i < n; i++) {
        s->cl[slot_of[i]].ready = pfd[i].revents != 0;
    }
    if (pfd[0].revents & POLLIN) {
        accept_all(s);
    }
    serve_ready(s, t);
    return 0;
}

static int
run(struct sim *s)
{
    while (!g_stop) {
        if (g_kick) {
            g_kick = 0;
            kick_all(s);
        }
        if (g_resume) {
            g_resume = 0;
            resume_all(s);
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
listen_init(struct sim *s)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);

    s->ctx = modbus_new_tcp(s->o.host, s->o.port);
    if (s->ctx == NULL) {
        sim_note("modbus_new_tcp: %s", modbus_strerror(errno));
        return false;
    }
    modbus_set_indication_timeout(s->ctx, IO_TIMEOUT_S, 0);
    modbus_set_byte_timeout(s->ctx, IO_TIMEOUT_S, 0);
    /* A server only uses it to sleep before flushing after some exceptions;
     * quick_exception() keeps us off that path, and it must not stall us. */
    modbus_set_response_timeout(s->ctx, 0, 1000);
    s->listen_fd = modbus_tcp_listen(s->ctx, MAX_CLIENTS);
    if (s->listen_fd < 0 ||
        getsockname(s->listen_fd, (struct sockaddr *)&a, &alen) != 0) {
        sim_note("listen on %s:%d: %s", s->o.host, s->o.port, strerror(errno));
        return false;
    }
    /* Accepted sockets inherit it: a small window, as on a device. */
    if (s->o.rcvbuf > 0 &&
        setsockopt(s->listen_fd, SOL_SOCKET, SO_RCVBUF, &(int){ (int)s->o.rcvbuf },
                   sizeof(int)) != 0) {
        sim_note("SO_RCVBUF %ld: %s", s->o.rcvbuf, strerror(errno));
    }
    fcntl(s->listen_fd, F_SETFL, fcntl(s->listen_fd, F_GETFL) | O_NONBLOCK);
    fcntl(s->listen_fd, F_SETFD, FD_CLOEXEC);
    printf("PORT %u\n", ntohs(a.sin_port));
    fflush(stdout);
    return true;
}

static bool
outputs_init(struct sim *s)
{
    if (s->o.log_path != NULL) {
        s->log = fopen(s->o.log_path, "a");
        if (s->log == NULL) {
            sim_note("%s: %s", s->o.log_path, strerror(errno));
            return false;
        }
    }
    return s->o.stats_path == NULL ||
           asprintf(&s->stats_tmp, "%s.tmp", s->o.stats_path) >= 0;
}

static void
sim_free(struct sim *s)
{
    for (int i = 0; i < MAX_CLIENTS; i++) {
        if (s->cl[i].fd >= 0) {
            client_close(s, &s->cl[i], "exiting");
        }
    }
    if (s->listen_fd >= 0) {
        close(s->listen_fd);
    }
    if (s->ctx != NULL) {
        modbus_set_socket(s->ctx, -1);
        modbus_free(s->ctx);
    }
    for (int u = 0; u <= MAX_UNIT; u++) {
        if (s->map[u] != NULL) {
            modbus_mapping_free(s->map[u]);
        }
    }
    if (s->log != NULL) {
        fclose(s->log);
    }
    free(s->stats_tmp);
}

/* SIGUSR2 (resume stalled connections) is ours alone: the other
 * simulators leave it at its default. Delivered only inside ppoll(). */
static void
resume_signal_init(sigset_t *waitmask)
{
    struct sigaction sa = { .sa_handler = on_signal };
    sigset_t block;

    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR2, &sa, NULL);
    sigemptyset(&block);
    sigaddset(&block, SIGUSR2);
    sigprocmask(SIG_BLOCK, &block, NULL);
    sigdelset(waitmask, SIGUSR2);
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
    s.last_done_us = -1;
    s.st.min_gap_us = -1;
    for (int i = 0; i < MAX_CLIENTS; i++) {
        s.cl[i].fd = -1;
    }
    sim_signals_init(on_signal, &s.waitmask);
    resume_signal_init(&s.waitmask);
    rc = 1;
    if (outputs_init(&s) && maps_init(&s) && listen_init(&s)) {
        stats_write(&s);
        rc = run(&s) == 0 ? 0 : 1;
        stats_write(&s);
    }
    sim_free(&s);
    return rc;
}

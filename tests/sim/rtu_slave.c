/* SPDX-License-Identifier: MIT */
/*
 * rtu_slave.c -- a Modbus RTU bus simulator for the integration tests of
 * modbus-mux: a whole RS485 bus with several slave devices behind one pty.
 * The proxy opens the pty's slave side through a symlink (--link PATH); this
 * program serves the master side. It does its own RTU framing and CRC, byte
 * by byte, so that it can misbehave as real buses do: slow or split answers,
 * bad CRCs, silent units, echoing adapters, line noise, answers sent twice,
 * and a device that goes away and comes back. It shares no code with the
 * proxy's RTU codec or libmodbus on purpose: a test double must not hide a
 * bug of what it tests.
 * It records the spacing of requests, a frame log and a stats file. It does
 * not model baud rates: a pty ignores them. See README.md for the formats.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "sim_map.h"
#include "sim_util.h"

#define RTU_MAX_UNIT 247      /* highest address a device can have */
#define RTU_MAX_DEVICES 32    /* --unit given at most this often */
#define RTU_ADU_MAX 256       /* longest RTU frame: unit + 253 PDU + CRC */
#define RTU_NTAB 4            /* coils, discrete inputs, holding, input */
#define RTU_TAB_SIZE 65536    /* addresses per table */
#define WRITE_TIMEOUT_MS 1000 /* give up on bytes nobody reads */
#define IO_RETRY_MS 10        /* pause after an unexpected read error */

enum tab { TAB_COIL = 0, TAB_DISCRETE, TAB_HOLDING, TAB_INPUT };

/* An inclusive address range of one table; lo > hi ends a list. */
struct range {
    uint16_t lo;              /* first address */
    uint16_t hi;              /* last address */
    bool writable;            /* FC 5/6/15/16 allowed, else exception 0x04 */
};

/* A device type: which addresses exist. The function codes of a table it
 * lacks get exception 0x01. */
struct profile {
    const char *name;         /* as in --unit ID:<name> */
    const struct range *tab[RTU_NTAB]; /* by enum tab; NULL: no such table */
    bool repeats;             /* FC 8 sub-function 0 and FC 21, whose
                                 answers repeat the request */
};

/* What a function code does; max == 0: not implemented. */
struct fcdef {
    enum tab tab;             /* table it works on */
    bool write;               /* changes the table */
    bool multi;               /* has a quantity field (all but FC 5/6) */
    bool bits;                /* coils or discrete inputs */
    unsigned max;             /* largest quantity allowed */
};

/* One decoded request PDU. */
struct op {
    uint8_t fc;               /* function code */
    const struct fcdef *def;  /* what it does */
    unsigned addr;            /* first address */
    unsigned n;               /* quantity, 1 for FC 5/6 */
    const uint8_t *data;      /* borrowed from the frame: values to write */
};

/* A device on the bus, with its register image and its quirks. */
struct device {
    const struct profile *prof; /* NULL: no device has this address */
    uint16_t *tab[RTU_NTAB];  /* RTU_TAB_SIZE values each, NULL if absent */
    bool silent;              /* --silent: never answers, ignores writes */
    long corrupt;             /* --corrupt-crc: bad CRCs still to send */
    long split_after;         /* --split: bytes before the pause, -1: none */
    long split_pause_ms;      /* --split: the pause */
};

/* A request frame as read from the line. */
struct frame {
    uint8_t b[RTU_ADU_MAX];   /* its bytes */
    size_t n;                 /* bytes kept in b */
    bool overflow;            /* more than RTU_ADU_MAX bytes: garbage */
    int64_t t_first;          /* poll reported its first byte, µs */
    int64_t t_last;           /* its last byte was read, µs */
};

/* The command line. */
struct opts {
    const char *link;         /* --link: symlink to the pty slave */
    struct device dev[RTU_MAX_UNIT + 1]; /* by address; dev[0] unused */
    int ndev;                 /* --unit options seen */
    long frame_gap_ms;        /* silence that ends a request frame */
    long delay_ms;            /* before each response */
    long min_gap_ms;          /* spacing recorder threshold */
    long garbage;             /* random bytes before each response */
    long return_after_ms;     /* come back after vanishing, -1: on SIGUSR1 */
    long duplicate_ms;        /* each response again after this, -1: no */
    int echo;                 /* int: getopt_long() sets it */
    const char *log_path;     /* --log */
    const char *stats_path;   /* --stats */
};

/* The stats file, in its order. */
struct stats {
    uint64_t requests;        /* frames with a good CRC */
    uint64_t replies;         /* responses sent, exceptions included */
    uint64_t broadcasts;      /* unit-0 writes applied to some device */
    uint64_t unknown_unit;    /* requests for an address nobody has */
    uint64_t silent;          /* requests ignored because of --silent */
    uint64_t crc_errors;      /* frames with a bad CRC, short or too long */
    uint64_t corrupted;       /* responses sent with a bad CRC */
    uint64_t early;           /* frames with gap < --min-gap-ms */
    int64_t min_gap_us;       /* smallest gap, -1 until there is one */
    uint64_t vanished;        /* times the bus went away */
    uint64_t duplicates;      /* responses sent a second time */
};

/* The whole simulator. */
struct sim {
    struct opts o;
    struct stats st;
    int master;               /* pty master, -1 while vanished */
    int slave;                /* our own slave fd: master never sees EIO */
    char pts[64];             /* /dev/pts/N the link points to */
    char *link_tmp;           /* PATH.tmp, renamed over PATH */
    int64_t last_done_us;     /* bus became idle, -1: no previous frame */
    int64_t return_at_us;     /* while vanished: come back then, -1: never */
    uint32_t rng;             /* --garbage-before state, fixed seed */
    FILE *log;
    char *stats_tmp;
    sigset_t waitmask;        /* signal mask while waiting for the bus */
};

#define RANGE_END { 1, 0, false }

static const struct range ev_holding[] = { { 0x0600, 0x0640, true },
                                           RANGE_END };
static const struct range ev_input[] = { { 0x0000, 0x002C, false },
                                         RANGE_END };
static const struct range pv_holding[] = {
    { 0x1A00, 0x1A48, false }, /* device info */
    { 0x1001, 0x1040, false }, /* real-time data */
    { 0x5100, 0x5110, true },  /* settings */
    { 0x3000, 0x3010, true },  /* settings */
    { 0xE000, 0xE0FF, false }, /* energy history */
    RANGE_END,
};
static const struct range all_rw[] = { { 0x0000, 0xFFFF, true }, RANGE_END };
static const struct range all_ro[] = { { 0x0000, 0xFFFF, false }, RANGE_END };

static const struct profile profiles[] = {
    { "evcharger", { [TAB_HOLDING] = ev_holding, [TAB_INPUT] = ev_input },
      false },
    { "pvinverter", { [TAB_HOLDING] = pv_holding }, false },
    { "generic", { all_rw, all_ro, all_rw, all_ro }, true },
};

static const struct fcdef fcdefs[] = {
    [1] = { TAB_COIL, false, true, true, 2000 },
    [2] = { TAB_DISCRETE, false, true, true, 2000 },
    [3] = { TAB_HOLDING, false, true, false, 125 },
    [4] = { TAB_INPUT, false, true, false, 125 },
    [5] = { TAB_COIL, true, false, true, 1 },
    [6] = { TAB_HOLDING, true, false, false, 1 },
    [15] = { TAB_COIL, true, true, true, 1968 },
    [16] = { TAB_HOLDING, true, true, false, 123 },
};

#define NFC (sizeof(fcdefs) / sizeof(fcdefs[0]))

static volatile sig_atomic_t g_stop;
static volatile sig_atomic_t g_toggle;

static struct timespec
ts_us(int64_t us)
{
    return (struct timespec){ .tv_sec = us / 1000000,
                              .tv_nsec = (long)(us % 1000000) * 1000 };
}

static uint16_t
get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* CRC-16/Modbus (poly 0xA001 reflected, init 0xFFFF); sent low byte first. */
static uint16_t
crc16(const uint8_t *p, size_t n)
{
    uint16_t crc = 0xFFFF;

    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int bit = 0; bit < 8; bit++) {
            crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0xA001) : crc >> 1;
        }
    }
    return crc;
}

static void
on_signal(int sig)
{
    if (sig == SIGUSR1) {
        g_toggle = 1;
    } else {
        g_stop = 1;
    }
}

/* <n> integers separated by ':' and nothing else; the last may be a name
 * if <name> is not NULL, which then points at it. */
static bool
parse_nums(const char *s, int n, long *out, const char **name)
{
    for (int i = 0; i < n; i++) {
        char end_ok = i + 1 < n || name != NULL ? ':' : '\0';
        char *end;

        errno = 0;
        out[i] = strtol(s, &end, 10);
        if (errno != 0 || end == s || *end != end_ok) {
            return false;
        }
        s = end + 1;
    }
    if (name != NULL) {
        *name = s;
    }
    return true;
}

static bool
parse_long(const char *s, long min, long max, long *out)
{
    return parse_nums(s, 1, out, NULL) && *out >= min && *out <= max;
}

/* --unit ID:PROFILE */
static bool
parse_unit(struct opts *o, const char *arg)
{
    const char *name;
    long id;

    if (!parse_nums(arg, 1, &id, &name) || id < 1 || id > RTU_MAX_UNIT ||
        o->dev[id].prof != NULL || o->ndev >= RTU_MAX_DEVICES) {
        return false;
    }
    for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++) {
        if (strcmp(name, profiles[i].name) == 0) {
            o->dev[id].prof = &profiles[i];
            o->ndev++;
            return true;
        }
    }
    return false;
}

/* --split U:AFTER:PAUSE_MS, --corrupt-crc U:N and --silent U. */
static bool
parse_quirk(struct opts *o, int c, const char *arg)
{
    int n = c == 'S' ? 3 : c == 'c' ? 2 : 1;
    long v[3] = { 0, 0, 0 };
    struct device *d;

    if (!parse_nums(arg, n, v, NULL) || v[0] < 1 || v[0] > RTU_MAX_UNIT ||
        v[1] < 0 || v[2] < 0 || (c == 'S' && v[1] > RTU_ADU_MAX)) {
        return false;
    }
    d = &o->dev[v[0]];
    if (c == 'S') {
        d->split_after = v[1];
        d->split_pause_ms = v[2];
    } else if (c == 'c') {
        d->corrupt = v[1];
    } else {
        d->silent = true;
    }
    return true;
}

static void
usage(FILE *f)
{
    fputs("usage: rtu_slave --link PATH [--unit ID:PROFILE]...\n"
          "       [--frame-gap-ms N] [--delay-ms N] [--split U:AFTER:MS]\n"
          "       [--corrupt-crc U:N] [--silent U] [--echo]\n"
          "       [--garbage-before N] [--min-gap-ms N] [--return-after-ms N]\n"
          "       [--duplicate-ms N]\n"
          "       [--log FILE] [--stats FILE]\n"
          "PROFILE: evcharger, pvinverter or generic (default 1:generic).\n"
          "See tests/sim/README.md.\n", f);
}

static bool
apply_opt(struct opts *o, int c, const char *arg)
{
    switch (c) {
    case 'k':
        o->link = arg;
        return arg[0] != '\0';
    case 'u':
        return parse_unit(o, arg);
    case 'S':
    case 'c':
    case 'q':
        return parse_quirk(o, c, arg);
    case 'f':
        return parse_long(arg, 1, 10000, &o->frame_gap_ms);
    case 'd':
        return parse_long(arg, 0, 3600000, &o->delay_ms);
    case 'G':
        return parse_long(arg, 0, RTU_ADU_MAX, &o->garbage);
    case 'g':
        return parse_long(arg, 0, 3600000, &o->min_gap_ms);
    case 'r':
        return parse_long(arg, 0, 3600000, &o->return_after_ms);
    case 'U':
        return parse_long(arg, 0, 3600000, &o->duplicate_ms);
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

/* A quirk for an address without a device would silently do nothing. */
static bool
check_opts(struct opts *o)
{
    if (o->link == NULL) {
        sim_note("--link PATH is required");
        return false;
    }
    if (o->ndev == 0) {
        o->dev[1].prof = &profiles[2];
        o->ndev = 1;
    }
    for (int u = 1; u <= RTU_MAX_UNIT; u++) {
        const struct device *d = &o->dev[u];

        if (d->prof == NULL &&
            (d->silent || d->corrupt > 0 || d->split_after >= 0)) {
            sim_note("unit %d has quirks but no --unit %d:PROFILE", u, u);
            return false;
        }
    }
    return true;
}

/* Returns 0 to go on, 1 for --help, -1 for a bad command line. */
static int
parse_args(struct opts *o, int argc, char **argv)
{
    const struct option lo[] = {
        { "link", required_argument, NULL, 'k' },
        { "unit", required_argument, NULL, 'u' },
        { "frame-gap-ms", required_argument, NULL, 'f' },
        { "delay-ms", required_argument, NULL, 'd' },
        { "split", required_argument, NULL, 'S' },
        { "corrupt-crc", required_argument, NULL, 'c' },
        { "silent", required_argument, NULL, 'q' },
        { "garbage-before", required_argument, NULL, 'G' },
        { "min-gap-ms", required_argument, NULL, 'g' },
        { "return-after-ms", required_argument, NULL, 'r' },
        { "duplicate-ms", required_argument, NULL, 'U' },
        { "log", required_argument, NULL, 'L' },
        { "stats", required_argument, NULL, 's' },
        { "echo", no_argument, &o->echo, 1 },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c, idx = 0;

    o->frame_gap_ms = 5;
    o->return_after_ms = -1;
    o->duplicate_ms = -1;
    for (int u = 0; u <= RTU_MAX_UNIT; u++) {
        o->dev[u].split_after = -1;
    }
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
    return check_opts(o) ? 0 : -1;
}

/* Every table a device has gets all 65536 values from sim_map.h. */
static bool
devices_init(struct sim *s)
{
    for (unsigned u = 1; u <= RTU_MAX_UNIT; u++) {
        struct device *d = &s->o.dev[u];

        for (int t = 0; d->prof != NULL && t < RTU_NTAB; t++) {
            if (d->prof->tab[t] == NULL) {
                continue;
            }
            d->tab[t] = malloc(RTU_TAB_SIZE * sizeof(uint16_t));
            if (d->tab[t] == NULL) {
                sim_note("out of memory");
                return false;
            }
            for (unsigned a = 0; a < RTU_TAB_SIZE; a++) {
                d->tab[t][a] = t == TAB_COIL       ? sim_coil(u, a)
                               : t == TAB_DISCRETE ? sim_discrete(u, a)
                               : t == TAB_HOLDING  ? sim_holding(u, a)
                                                   : sim_input(u, a);
            }
        }
    }
    return true;
}

/*
 * Decode the fields of <pdu> (<len> bytes, function code first) for
 * op->def. Returns 0, or exception 0x03 for a bad quantity, byte count,
 * coil value or length.
 */
static int
op_parse(const uint8_t *pdu, size_t len, struct op *op)
{
    const struct fcdef *def = op->def;
    unsigned bc;

    if (len < 5) {
        return 3;
    }
    op->addr = get16(pdu + 1);
    op->n = get16(pdu + 3);
    op->data = pdu + 3;
    if (!def->multi) {
        bool bad_coil = def->bits && op->n != 0xFF00 && op->n != 0;

        op->n = 1;
        return len != 5 || bad_coil ? 3 : 0;
    }
    if (op->n < 1 || op->n > def->max) {
        return 3;
    }
    if (!def->write) {
        return len == 5 ? 0 : 3;
    }
    bc = def->bits ? (op->n + 7) / 8 : op->n * 2;
    op->data = pdu + 6;
    return len < 6 || pdu[5] != bc || len != 6 + bc ? 3 : 0;
}

/* 0 if the whole span lies in one range of <d>, else exception 2 or 4. */
static int
op_check(const struct device *d, const struct op *op)
{
    const struct range *r = d->prof->tab[op->def->tab];
    unsigned last = op->addr + op->n - 1;

    for (; r->lo <= r->hi && last < RTU_TAB_SIZE; r++) {
        if (op->addr >= r->lo && last <= r->hi) {
            return op->def->write && !r->writable ? 4 : 0;
        }
    }
    return 2;
}

/* Fill the response PDU of a checked read into <rsp>; returns its length. */
static size_t
op_read(const struct device *d, const struct op *op, uint8_t *rsp)
{
    const uint16_t *t = d->tab[op->def->tab] + op->addr;
    unsigned bc = op->def->bits ? (op->n + 7) / 8 : op->n * 2;

    rsp[0] = op->fc;
    rsp[1] = (uint8_t)bc;
    memset(rsp + 2, 0, bc);
    for (unsigned i = 0; i < op->n; i++) {
        if (!op->def->bits) {
            rsp[2 + 2 * i] = (uint8_t)(t[i] >> 8);
            rsp[3 + 2 * i] = (uint8_t)t[i];
        } else if (t[i] != 0) {
            rsp[2 + i / 8] |= (uint8_t)(1u << (i % 8));
        }
    }
    return 2 + bc;
}

/* Apply a checked write; its response PDU repeats the request's first 5. */
static size_t
op_write(struct device *d, const struct op *op, const uint8_t *pdu,
         uint8_t *rsp)
{
    uint16_t *t = d->tab[op->def->tab] + op->addr;

    for (unsigned i = 0; i < op->n; i++) {
        if (!op->def->multi) {
            t[i] = op->def->bits ? get16(op->data) != 0 : get16(op->data);
        } else if (op->def->bits) {
            t[i] = (op->data[i / 8] >> (i % 8)) & 1;
        } else {
            t[i] = get16(op->data + 2 * i);
        }
    }
    memcpy(rsp, pdu, 5);
    return 5;
}

/*
 * FC 8 (diagnostics) and FC 21 (write file record) as the Modbus
 * application protocol specification 1.1b3 (6.8, 6.15) has them: the
 * normal answer of sub-function 0 "return query data", and of a write of
 * file records, is the request itself. Returns 0 for such a request, or the
 * exception: 0x01 for another sub-function, 0x03 for a bad length, 0x02 for
 * a reference type other than 6. The records are not kept.
 */
static int
repeat_check(const uint8_t *pdu, size_t len)
{
    size_t at = 2;

    if (pdu[0] == 8) {
        return len < 3 ? 3 : get16(pdu + 1) != 0 ? 1 : 0;
    }
    if (len < 2 || pdu[1] < 9 || pdu[1] > 0xFB || len != 2u + pdu[1]) {
        return 3;
    }
    while (at < len) {
        if (len - at < 7 || len - at < 7u + 2u * get16(pdu + at + 5)) {
            return 3;
        }
        if (pdu[at] != 6) {
            return 2;
        }
        at += 7u + 2u * get16(pdu + at + 5);
    }
    return 0;
}

/*
 * Execute request <pdu> (<len> >= 1 bytes) on device <d> and put the
 * response PDU, maybe an exception, in <rsp>. Returns the response length.
 * Checks go in the Modbus order: function, quantity, address.
 */
static size_t
device_exec(struct device *d, const uint8_t *pdu, size_t len, uint8_t *rsp)
{
    struct op op = { .fc = pdu[0] };
    int exc = 1;

    if ((op.fc == 8 || op.fc == 21) && d->prof->repeats) {
        exc = repeat_check(pdu, len);
        if (exc == 0) {
            memcpy(rsp, pdu, len);
            return len;
        }
        rsp[0] = op.fc | 0x80;
        rsp[1] = (uint8_t)exc;
        return 2;
    }
    op.def = op.fc < NFC && fcdefs[op.fc].max > 0 ? &fcdefs[op.fc] : NULL;
    if (op.def != NULL && d->prof->tab[op.def->tab] != NULL) {
        exc = op_parse(pdu, len, &op);
        exc = exc != 0 ? exc : op_check(d, &op);
    }
    if (exc != 0) {
        rsp[0] = op.fc | 0x80;
        rsp[1] = (uint8_t)exc;
        return 2;
    }
    return op.def->write ? op_write(d, &op, pdu, rsp) : op_read(d, &op, rsp);
}

/* Unit 0: every device that can takes a write; nobody answers. */
static void
broadcast(struct sim *s, const uint8_t *pdu, size_t len)
{
    bool write = pdu[0] < NFC && fcdefs[pdu[0]].write, applied = false;
    uint8_t rsp[RTU_ADU_MAX];

    for (int u = 1; write && u <= RTU_MAX_UNIT; u++) {
        struct device *d = &s->o.dev[u];

        if (d->prof != NULL && !d->silent) {
            device_exec(d, pdu, len, rsp);
            applied |= rsp[0] == pdu[0];
        }
    }
    s->st.broadcasts += applied;
}

static void
stats_write(struct sim *s)
{
    const struct stats *st = &s->st;
    FILE *f;

    if (s->o.stats_path == NULL) {
        return;
    }
    f = fopen(s->stats_tmp, "w");
    if (f == NULL) {
        sim_note("%s: %s", s->stats_tmp, strerror(errno));
        return;
    }
    fprintf(f, "requests %" PRIu64 "\nreplies %" PRIu64 "\nbroadcasts %" PRIu64
            "\nunknown_unit %" PRIu64 "\nsilent %" PRIu64
            "\ncrc_errors %" PRIu64 "\ncorrupted %" PRIu64 "\nearly %" PRIu64
            "\nmin_gap_us %" PRId64 "\nvanished %" PRIu64
            "\nduplicates %" PRIu64 "\n",
            st->requests, st->replies, st->broadcasts, st->unknown_unit,
            st->silent, st->crc_errors, st->corrupted, st->early,
            st->min_gap_us, st->vanished, st->duplicates);
    if (fclose(f) != 0 || rename(s->stats_tmp, s->o.stats_path) != 0) {
        sim_note("%s: %s", s->o.stats_path, strerror(errno));
    }
}

/* One log line: "<t_us> rx <hex> <gap_us|->" or "<t_us> tx <hex>". */
static void
log_frame(struct sim *s, int64_t t, bool rx, const uint8_t *p, size_t n,
          int64_t gap)
{
    if (s->log == NULL) {
        return;
    }
    fprintf(s->log, "%" PRId64 " %s ", t, rx ? "rx" : "tx");
    for (size_t i = 0; i < n; i++) {
        fprintf(s->log, "%02x", p[i]);
    }
    if (rx && gap >= 0) {
        fprintf(s->log, " %" PRId64, gap);
    } else if (rx) {
        fputs(" -", s->log);
    }
    fputc('\n', s->log);
    fflush(s->log);
}

/*
 * Gap between the bus becoming idle and this frame's first byte. Bytes that
 * were already waiting when we finished get a gap near 0. Returns -1 when
 * there is no previous frame (start-up, or back from vanishing).
 */
static int64_t
gap_record(struct sim *s, int64_t t_first)
{
    int64_t gap;

    if (s->last_done_us < 0) {
        return -1;
    }
    gap = t_first > s->last_done_us ? t_first - s->last_done_us : 0;
    if (gap < (int64_t)s->o.min_gap_ms * 1000) {
        s->st.early++;
    }
    if (s->st.min_gap_us < 0 || gap < s->st.min_gap_us) {
        s->st.min_gap_us = gap;
    }
    return gap;
}

/* Write all <n> bytes to the master, waiting at most WRITE_TIMEOUT_MS. */
static bool
bus_write(struct sim *s, const uint8_t *p, size_t n)
{
    while (n > 0) {
        struct pollfd pfd = { .fd = s->master, .events = POLLOUT };
        ssize_t w = write(s->master, p, n);

        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
            sim_note("write: %s", strerror(errno));
            return false;
        } else if (w < 0 && errno == EAGAIN &&
                   poll(&pfd, 1, WRITE_TIMEOUT_MS) != 1) {
            sim_note("write: nobody reads the bus; %zu bytes dropped", n);
            return false;
        }
    }
    return true;
}

/* Write <n> bytes at once and log them as sent. */
static void
send_logged(struct sim *s, const uint8_t *p, size_t n)
{
    if (bus_write(s, p, n)) {
        log_frame(s, sim_now_us(), false, p, n, -1);
    }
}

/*
 * Sleep <ms> with signals let in. Returns false if SIGUSR1 came: the bus
 * vanishes in the middle of the answer. SIGTERM waits for the answer.
 */
static bool
answer_pause(struct sim *s, long ms)
{
    int64_t end = sim_now_us() + (int64_t)ms * 1000, left;

    while (!g_toggle && (left = end - sim_now_us()) > 0) {
        struct timespec ts = ts_us(left);

        ppoll(NULL, 0, &ts, &s->waitmask);
    }
    return !g_toggle;
}

/*
 * Send response frame <rsp> of device <d>: --delay-ms, then the
 * --garbage-before bytes, then the frame, maybe split by a pause.
 */
static bool
reply_send(struct sim *s, const struct device *d, const uint8_t *rsp,
           size_t n)
{
    uint8_t junk[RTU_ADU_MAX];
    size_t first = n;
    bool ok;

    if (!answer_pause(s, s->o.delay_ms)) {
        return false;
    }
    for (long i = 0; i < s->o.garbage; i++) {
        s->rng ^= s->rng << 13; /* xorshift32: the same bytes every run */
        s->rng ^= s->rng >> 17;
        s->rng ^= s->rng << 5;
        junk[i] = (uint8_t)s->rng;
    }
    if (s->o.garbage > 0) {
        send_logged(s, junk, (size_t)s->o.garbage);
    }
    if (d->split_after >= 0 && (size_t)d->split_after < n) {
        first = (size_t)d->split_after;
    }
    /* The bus is idle from the last write on. Read the clock before it:
     * a read after can come late on a busy machine (we may be preempted)
     * and make the next gap look shorter than it was. */
    if (first < n) {
        ok = bus_write(s, rsp, first) && answer_pause(s, d->split_pause_ms);
        s->last_done_us = sim_now_us();
        ok = ok && bus_write(s, rsp + first, n - first);
    } else {
        s->last_done_us = sim_now_us();
        ok = bus_write(s, rsp, first);
    }
    if (ok) {
        log_frame(s, s->last_done_us, false, rsp, n, -1);
    }
    return ok;
}

/* --duplicate-ms: the response again, as a repeater or gateway that
 * repeats itself sends it, that long after the first (0: at once). */
static void
reply_again(struct sim *s, const uint8_t *rsp, size_t n)
{
    if (s->o.duplicate_ms < 0 || !answer_pause(s, s->o.duplicate_ms)) {
        return;
    }
    s->last_done_us = sim_now_us();
    if (bus_write(s, rsp, n)) {
        log_frame(s, s->last_done_us, false, rsp, n, -1);
        s->st.duplicates++;
        stats_write(s);
    }
}

static bool
crc_ok(const struct frame *f)
{
    uint16_t crc;

    if (f->overflow || f->n < 4) {
        return false;
    }
    crc = crc16(f->b, f->n - 2);
    return f->b[f->n - 2] == (crc & 0xFF) && f->b[f->n - 1] == crc >> 8;
}

/*
 * Decide what frame <f> gets and count it. Returns the device that answers,
 * with its response frame in <rsp> (<*len> bytes, CRC included), or NULL
 * for no answer.
 */
static struct device *
frame_answer(struct sim *s, const struct frame *f, uint8_t *rsp, size_t *len)
{
    struct device *d = &s->o.dev[f->b[0] <= RTU_MAX_UNIT ? f->b[0] : 0];
    uint16_t crc;
    size_t n;

    if (!crc_ok(f)) {
        s->st.crc_errors++;
        return NULL;
    }
    s->st.requests++;
    if (f->b[0] == 0) {
        broadcast(s, f->b + 1, f->n - 3);
        return NULL;
    }
    if (d->prof == NULL || d->silent) {
        s->st.unknown_unit += d->prof == NULL;
        s->st.silent += d->prof != NULL;
        return NULL;
    }
    rsp[0] = f->b[0];
    n = 1 + device_exec(d, f->b + 1, f->n - 3, rsp + 1);
    crc = crc16(rsp, n);
    rsp[n++] = (uint8_t)crc;
    rsp[n++] = (uint8_t)(crc >> 8);
    s->st.replies++;
    if (d->corrupt > 0) {
        d->corrupt--;
        rsp[n - 1] ^= 0xFF;
        s->st.corrupted++;
    }
    *len = n;
    return d;
}

/*
 * Handle one request frame. Its rx log line and the stats are written
 * before the response goes out, so a client holding its response can read
 * them without racing us.
 */
static void
frame_serve(struct sim *s, const struct frame *f)
{
    uint8_t rsp[RTU_ADU_MAX];
    size_t len = 0;
    int64_t gap = gap_record(s, f->t_first);
    const struct device *d;

    log_frame(s, f->t_first, true, f->b, f->n, gap);
    if (s->o.echo) {
        send_logged(s, f->b, f->n);
    }
    d = frame_answer(s, f, rsp, &len);
    stats_write(s);
    if (d == NULL) {
        s->last_done_us = f->t_last;
        return;
    }
    if (s->o.duplicate_ms == 0 && len <= RTU_ADU_MAX / 2) {
        /* Both copies in one write: a reader gets them in one read. */
        memcpy(rsp + len, rsp, len);
        if (reply_send(s, d, rsp, 2 * len)) {
            s->st.duplicates++;
            stats_write(s);
        }
        return;
    }
    if (reply_send(s, d, rsp, len)) {
        reply_again(s, rsp, len);
    }
}

/* Read whatever is waiting. Returns -1 on a read error or end of file. */
static int
frame_fill(struct sim *s, struct frame *f)
{
    uint8_t junk[RTU_ADU_MAX];

    for (;;) {
        bool room = f->n < sizeof(f->b);
        ssize_t r = read(s->master, room ? f->b + f->n : junk,
                         room ? sizeof(f->b) - f->n : sizeof(junk));

        if (r > 0) {
            f->n += room ? (size_t)r : 0;
            f->overflow |= !room;
            f->t_last = sim_now_us();
        } else if (r == 0 || errno != EINTR) {
            return r < 0 && errno == EAGAIN ? 0 : -1;
        }
    }
}

/*
 * Read one frame whose first byte poll reported at <t_first>: until the
 * line has been silent for --frame-gap-ms. Returns 0, or -1 on error.
 */
static int
frame_read(struct sim *s, struct frame *f, int64_t t_first)
{
    int64_t gap_us = (int64_t)s->o.frame_gap_ms * 1000;

    f->n = 0;
    f->overflow = false;
    f->t_first = f->t_last = t_first;
    for (;;) {
        struct pollfd p = { .fd = s->master, .events = POLLIN };
        struct timespec ts;
        int64_t left;

        if (frame_fill(s, f) < 0) {
            return -1;
        }
        left = f->t_last + gap_us - sim_now_us();
        if (left <= 0) {
            return 0;
        }
        ts = ts_us(left);
        if (ppoll(&p, 1, &ts, NULL) < 0 && errno != EINTR) {
            return -1;
        }
        if ((p.revents & (POLLHUP | POLLERR)) && !(p.revents & POLLIN)) {
            return -1;
        }
    }
}

/* Wait for a request, signals let in; read and serve it. */
static int
bus_wait(struct sim *s)
{
    struct pollfd p = { .fd = s->master, .events = POLLIN };
    struct frame f;

    if (ppoll(&p, 1, NULL, &s->waitmask) < 0) {
        return errno == EINTR ? 0 : -1;
    }
    errno = 0;
    if (frame_read(s, &f, sim_now_us()) < 0) {
        /* Cannot happen while we hold a slave fd; never spin if it does. */
        sim_note("read: %s", errno != 0 ? strerror(errno) : "hang-up");
        poll(NULL, 0, IO_RETRY_MS);
        return 0;
    }
    if (f.n > 0) {
        frame_serve(s, &f);
    }
    return 0;
}

/* Point --link at s->pts: a symlink PATH.tmp, renamed over PATH. */
static bool
link_make(struct sim *s)
{
    struct stat st;

    if (lstat(s->o.link, &st) == 0 && !S_ISLNK(st.st_mode)) {
        sim_note("%s exists and is not a symlink; not replacing it", s->o.link);
        return false;
    }
    unlink(s->link_tmp);
    if (symlink(s->pts, s->link_tmp) != 0 ||
        rename(s->link_tmp, s->o.link) != 0) {
        sim_note("symlink %s -> %s: %s", s->o.link, s->pts, strerror(errno));
        unlink(s->link_tmp);
        return false;
    }
    return true;
}

/* Remove --link, but only while it still points at our pty. */
static void
link_remove(struct sim *s)
{
    char target[sizeof(s->pts)];
    ssize_t n = readlink(s->o.link, target, sizeof(target) - 1);

    if (n > 0) {
        target[n] = '\0';
        if (strcmp(target, s->pts) == 0) {
            unlink(s->o.link);
        }
    }
}

static void
bus_close(struct sim *s)
{
    if (s->master >= 0) {
        close(s->master);
    }
    if (s->slave >= 0) {
        close(s->slave);
    }
    s->master = s->slave = -1;
}

/*
 * Create a pty pair, make the slave raw before anyone can open it, point
 * --link at it and announce "LINK <path>". We keep a slave fd of our own:
 * without it the master reads EIO and polls POLLHUP whenever the proxy has
 * the slave closed.
 */
static bool
bus_open(struct sim *s)
{
    struct termios t;

    if (openpty(&s->master, &s->slave, NULL, NULL, NULL) != 0) {
        sim_note("openpty: %s", strerror(errno));
        return false;
    }
    if (tcgetattr(s->slave, &t) == 0) {
        cfmakeraw(&t);
    }
    if (tcsetattr(s->slave, TCSANOW, &t) != 0 ||
        ptsname_r(s->master, s->pts, sizeof(s->pts)) != 0 ||
        fcntl(s->master, F_SETFL, O_NONBLOCK) != 0 ||
        fcntl(s->master, F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(s->slave, F_SETFD, FD_CLOEXEC) != 0) {
        sim_note("pty set-up: %s", strerror(errno));
        bus_close(s);
        return false;
    }
    if (!link_make(s)) {
        bus_close(s);
        return false;
    }
    s->return_at_us = -1;
    s->last_done_us = -1;
    sim_note("bus up: %s -> %s", s->o.link, s->pts);
    printf("LINK %s\n", s->o.link);
    fflush(stdout);
    return true;
}

/* Hang up every slave fd, the proxy's too, and remove the link. */
static void
bus_vanish(struct sim *s)
{
    bus_close(s);
    link_remove(s);
    s->st.vanished++;
    s->return_at_us = s->o.return_after_ms < 0
                          ? -1
                          : sim_now_us() + (int64_t)s->o.return_after_ms * 1000;
    stats_write(s);
    sim_note("bus vanished");
}

/*
 * Wait, signals let in, until SIGUSR1 or --return-after-ms brings us back.
 * Returns 0, -1 if ppoll failed, -2 if the bus could not be re-created.
 */
static int
vanished_wait(struct sim *s)
{
    struct timespec ts;
    int64_t left = s->return_at_us - sim_now_us();

    ts = ts_us(left > 0 ? left : 0);
    if (ppoll(NULL, 0, s->return_at_us >= 0 ? &ts : NULL, &s->waitmask) < 0) {
        return errno == EINTR ? 0 : -1;
    }
    return bus_open(s) ? 0 : -2;
}

static int
run(struct sim *s)
{
    int rc = 0;

    while (!g_stop && rc == 0) {
        if (g_toggle) {
            g_toggle = 0;
            if (s->master >= 0) {
                bus_vanish(s);
            } else if (!bus_open(s)) {
                return -2;
            }
            continue;
        }
        rc = s->master >= 0 ? bus_wait(s) : vanished_wait(s);
    }
    if (rc == -1) {
        sim_note("ppoll: %s", strerror(errno));
    }
    return rc;
}

static bool
outputs_init(struct sim *s)
{
    if (asprintf(&s->link_tmp, "%s.tmp", s->o.link) < 0 ||
        (s->o.stats_path != NULL &&
         asprintf(&s->stats_tmp, "%s.tmp", s->o.stats_path) < 0)) {
        sim_note("out of memory");
        return false;
    }
    if (s->o.log_path != NULL) {
        s->log = fopen(s->o.log_path, "a");
        if (s->log == NULL) {
            sim_note("%s: %s", s->o.log_path, strerror(errno));
            return false;
        }
    }
    return true;
}

static void
sim_free(struct sim *s)
{
    if (s->master >= 0) {
        link_remove(s);
    }
    bus_close(s);
    for (int u = 0; u <= RTU_MAX_UNIT; u++) {
        for (int t = 0; t < RTU_NTAB; t++) {
            free(s->o.dev[u].tab[t]);
        }
    }
    if (s->log != NULL) {
        fclose(s->log);
    }
    free(s->stats_tmp);
    free(s->link_tmp);
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
    s.master = s.slave = -1;
    s.last_done_us = -1;
    s.return_at_us = -1;
    s.st.min_gap_us = -1;
    s.rng = 0x2545F491u;
    /* Signals are open only in ppoll(), waiting for the bus or in
     * answer_pause(): they never cut a frame short. */
    sim_signals_init(on_signal, &s.waitmask);
    rc = 1;
    if (outputs_init(&s) && devices_init(&s) && bus_open(&s)) {
        stats_write(&s);
        rc = run(&s) == 0 ? 0 : 1;
        stats_write(&s);
    }
    sim_free(&s);
    return rc;
}

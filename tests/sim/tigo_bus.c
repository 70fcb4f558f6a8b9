/* SPDX-License-Identifier: MIT */
/*
 * tigo_bus.c -- a Tigo CCA and its TAPs on the RS485 bus, as a listener
 * that never transmits hears them, for the tests of modbus-mux's tigo
 * backend. The CCA polls every TAP with receive requests; each TAP answers
 * with receive responses carrying what its optimizers ("nodes") sent over
 * the radio: power reports that change over time, topology reports, all
 * with the status words, slot counters, escapes and report lengths that
 * real firmware uses (docs/tigo.md). At start and after a CCA reboot
 * (SIGUSR1) it enumerates: identify, version, a node table walk, topology
 * reports. On demand: noise, collisions, retransmissions, monitor-only
 * units, sub-zero temperatures, nodes that join later. The traffic is
 * tigo_cca.c's, the encoding tigo_wire.c's.
 *
 * This file is the bus: the bytes go to a pty (--link, as a USB RS485
 * adapter) or to every client of a TCP server (--listen, as an
 * RS485-to-Ethernet converter). Anything written toward the simulator is
 * counted (bytes_written_to_us), which a receive-only listener keeps at 0.
 * Framing and CRC are not the proxy's codec's: a test double must not
 * hide a bug of what it tests. Single-threaded ppoll() loop,
 * CLOCK_MONOTONIC timers. Options and formats: README.md here.
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
#include <pty.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "sim_util.h"
#include "tigo_cca.h"
#include "tigo_wire.h"

#define MAX_CLIENTS 16
#define CLIENT_BUF_MAX (256 * 1024) /* a client further behind is dropped */
#define STATS_EVERY_US 200000   /* stats rewritten this often */
#define EXIT_FLUSH_MS 1000      /* to hand queued bytes to TCP clients */

/* The command line. */
struct opts {
    struct cca_opts cca;      /* the traffic */
    const char *link;         /* --link: symlink to the pty slave */
    char host[INET_ADDRSTRLEN];
    long port;                /* --listen; -1: not given */
    int start_on_connect, self_test; /* flags */
    const char *stats_path;
};

/* The bus's counters, after the traffic's in the stats file (README.md). */
#define BUS_STATS(X)                                                     \
    X(bytes_out) X(bytes_written_to_us) X(clients) X(connections)       \
    X(clients_dropped) X(refused) X(pty_flushes)

struct bus_stats {
#define BUS_STAT_FIELD(name) int64_t name;
    BUS_STATS(BUS_STAT_FIELD)
#undef BUS_STAT_FIELD
};

/* A TCP client: the bytes the bus produced that it has not taken yet. */
struct client {
    int fd;                   /* -1: free */
    uint8_t *buf;
    size_t len, cap;
};

struct sim {
    struct opts o;
    struct bus_stats st;
    struct cca *cca;
    int master, slave;        /* pty, -1 if none */
    char pts[64];             /* /dev/pts/N the link points to */
    char *link_tmp;
    int listen_fd;
    struct client cl[MAX_CLIENTS];
    char *stats_tmp;
    int64_t stats_at_us;      /* stats written last */
    sigset_t waitmask;        /* signals open in ppoll() */
};

static volatile sig_atomic_t g_stop;
static volatile sig_atomic_t g_reboot;
static volatile sig_atomic_t g_hold;


static void
on_signal(int sig)
{
    if (sig == SIGUSR1) {
        g_reboot = 1;
    } else if (sig == SIGUSR2) {
        g_hold = 1;
    } else {
        g_stop = 1;
    }
}

static void
usage(FILE *f)
{
    fputs("usage: tigo_bus (--link PATH | --listen HOST:PORT) [--gateways G]\n"
          "       [--nodes N] [--nodes-later N2] [--later-ms MS] [--seed N]\n"
          "       [--poll-ms MS] [--report-ms MS] [--table-ms MS]\n"
          "       [--report-len 13|14|15|mix] [--fw4] [--hfw]\n"
          "       [--monitor-only K] [--cold K] [--retransmit P]\n"
          "       [--noise P] [--collide P] [--reboot-ms MS] [--renumber]\n"
          "       [--slot-start N] [--start-on-connect] [--truth FILE]\n"
          "       [--stats FILE]\n"
          "       tigo_bus --self-test\n"
          "P: percent, 0..100. See tests/sim/README.md.\n", f);
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

static bool
parse_pct(const char *arg, double *out)
{
    char *end;

    errno = 0;
    *out = strtod(arg, &end);
    end += *end == '%';
    return errno == 0 && end != arg && *end == '\0' && *out >= 0 &&
           *out <= 100;
}

/* The options with a value: what kind, where it goes, the range. */
enum kind { K_LONG, K_PCT, K_PATH, K_LISTEN, K_LEN };
#define OPT(name, kind, field, min, max) \
    { name, kind, offsetof(struct opts, field), min, max }

static const struct optdef {
    const char *name;
    enum kind kind;
    size_t off;
    long min, max;
} optdefs[] = {
    OPT("link", K_PATH, link, 0, 0),
    OPT("listen", K_LISTEN, port, 0, 0),
    OPT("gateways", K_LONG, cca.gateways, 1, CCA_MAX_GATEWAYS),
    OPT("nodes", K_LONG, cca.nodes, 0, CCA_MAX_NODES),
    OPT("nodes-later", K_LONG, cca.nodes_later, 0, CCA_MAX_NODES),
    OPT("later-ms", K_LONG, cca.later_ms, 0, 86400000),
    OPT("seed", K_LONG, cca.seed, 0, LONG_MAX),
    OPT("poll-ms", K_LONG, cca.poll_ms, 1, 60000),
    OPT("report-ms", K_LONG, cca.report_ms, 10, 3600000),
    OPT("table-ms", K_LONG, cca.table_ms, 0, 86400000),
    OPT("report-len", K_LEN, cca.report_len, 0, 0),
    OPT("monitor-only", K_LONG, cca.monitor_only, 0, CCA_MAX_NODES),
    OPT("cold", K_LONG, cca.cold, 0, CCA_MAX_NODES),
    OPT("retransmit", K_PCT, cca.retransmit, 0, 0),
    OPT("noise", K_PCT, cca.noise, 0, 0),
    OPT("collide", K_PCT, cca.collide, 0, 0),
    OPT("reboot-ms", K_LONG, cca.reboot_ms, 0, 3600000),
    OPT("slot-start", K_LONG, cca.slot_start, 0, LONG_MAX),
    OPT("truth", K_PATH, cca.truth_path, 0, 0),
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
    case K_PCT:
        return parse_pct(arg, field);
    case K_PATH:
        *(const char **)field = arg;
        return arg[0] != '\0';
    case K_LEN:
        if (strcmp(arg, "mix") == 0) {
            o->cca.report_len = CCA_REPLEN_MIX;
            return true;
        }
        return sim_parse_long(arg, 13, 15, &o->cca.report_len);
    default:
        return parse_listen(o, arg);
    }
}

static bool
check_opts(const struct opts *opts)
{
    const struct cca_opts *o = &opts->cca;

    if (opts->self_test) {
        return true;
    }
    if ((opts->link == NULL) == (opts->port < 0)) {
        sim_note("give one of --link PATH and --listen HOST:PORT");
        return false;
    }
    if (o->nodes + o->nodes_later > CCA_MAX_NODES) {
        sim_note("--nodes plus --nodes-later: at most %d", CCA_MAX_NODES);
        return false;
    }
    if (o->monitor_only > o->nodes || o->cold > o->nodes) {
        sim_note("--monitor-only and --cold: at most --nodes");
        return false;
    }
    if (opts->start_on_connect && opts->link != NULL) {
        sim_note("--start-on-connect needs --listen");
        return false;
    }
    return true;
}

/* Returns 0 to go on, 1 for --help, -1 for a bad command line. */
static int
parse_args(struct opts *o, int argc, char **argv)
{
    struct option lo[NOPT + 7] = {
        { "fw4", no_argument, &o->cca.fw4, 1 },
        { "hfw", no_argument, &o->cca.hfw, 1 },
        { "renumber", no_argument, &o->cca.renumber, 1 },
        { "start-on-connect", no_argument, &o->start_on_connect, 1 },
        { "self-test", no_argument, &o->self_test, 1 },
        { "help", no_argument, NULL, 'h' },
    };
    int c, idx = 0;

    for (size_t i = 0; i < NOPT; i++) {
        lo[6 + i] = (struct option){ optdefs[i].name, required_argument,
                                     NULL, 256 + (int)i };
    }
    *o = (struct opts){ .port = -1 };
    o->cca = (struct cca_opts){ .gateways = 1, .nodes = 8, .later_ms = 5000,
                                .seed = 1, .poll_ms = 40, .report_ms = 2000,
                                .table_ms = 30000, .report_len = 13,
                                .reboot_ms = 1000, .slot_start = -1 };
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
    return check_opts(o) ? 0 : -1;
}

static void
client_drop(struct sim *s, struct client *c, const char *why)
{
    sim_note("client closed: %s", why);
    close(c->fd);
    free(c->buf);
    *c = (struct client){ .fd = -1 };
    s->st.clients--;
}

/* Hand a client what it can take now. False if it was dropped. */
static bool
client_flush(struct sim *s, struct client *c)
{
    while (c->len > 0) {
        ssize_t w = send(c->fd, c->buf, c->len, MSG_NOSIGNAL);

        if (w > 0) {
            memmove(c->buf, c->buf + w, c->len - (size_t)w);
            c->len -= (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && errno == EAGAIN) {
            return true;
        } else {
            client_drop(s, c, strerror(errno));
            return false;
        }
    }
    return true;
}

static void
client_push(struct sim *s, struct client *c, const uint8_t *p, size_t n)
{
    if (c->len + n > CLIENT_BUF_MAX) {
        s->st.clients_dropped++;
        client_drop(s, c, "too far behind");
        return;
    }
    if (c->len + n > c->cap) {
        size_t cap = c->cap ? c->cap : 4096;
        uint8_t *b;

        while (cap < c->len + n) {
            cap *= 2;
        }
        b = realloc(c->buf, cap);
        if (b == NULL) {
            client_drop(s, c, "out of memory");
            return;
        }
        c->buf = b;
        c->cap = cap;
    }
    memcpy(c->buf + c->len, p, n);
    c->len += n;
    client_flush(s, c);
}

/*
 * Write to the pty master. A bus does not wait for listeners: when the
 * pty's queue is full (nobody reads the slave), what it holds is
 * discarded (tcflush on our own slave fd) and counted.
 */
static void
pty_write(struct sim *s, const uint8_t *p, size_t n)
{
    int flushes = 0;

    while (n > 0) {
        ssize_t w = write(s->master, p, n);

        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && errno == EAGAIN && flushes++ < 3) {
            tcflush(s->slave, TCIFLUSH);
            s->st.pty_flushes++;
        } else {
            sim_note("pty write: %s; %zu bytes lost", strerror(errno), n);
            return;
        }
    }
}

/* Put <n> bytes on the bus (the cca's cca_out_fn; <ctx> is the sim). */
static void
bus_out(void *ctx, const uint8_t *p, size_t n)
{
    struct sim *s = ctx;

    s->st.bytes_out += (int64_t)n;
    if (s->master >= 0) {
        pty_write(s, p, n);
        return;
    }
    for (int i = 0; i < MAX_CLIENTS; i++) {
        if (s->cl[i].fd >= 0) {
            client_push(s, &s->cl[i], p, n);
        }
    }
}

/* The stats file: the traffic's counters, then the bus's (README.md). */
static void
stats_write(struct sim *s)
{
    const struct cca_stats *cs = cca_stats(s->cca);
    FILE *f;

    s->stats_at_us = sim_now_us();
    if (s->o.stats_path == NULL) {
        return;
    }
    f = fopen(s->stats_tmp, "w");
    if (f == NULL) {
        sim_note("%s: %s", s->stats_tmp, strerror(errno));
        return;
    }
#define CCA_PRINT(name) fprintf(f, #name " %" PRId64 "\n", cs->name);
    CCA_STATS(CCA_PRINT)
#undef CCA_PRINT
#define BUS_PRINT(name) fprintf(f, #name " %" PRId64 "\n", s->st.name);
    BUS_STATS(BUS_PRINT)
#undef BUS_PRINT
    if (fclose(f) != 0 || rename(s->stats_tmp, s->o.stats_path) != 0) {
        sim_note("%s: %s", s->o.stats_path, strerror(errno));
    }
}

/* Point --link at s->pts: a symlink PATH.tmp renamed over PATH. */
static bool
link_make(struct sim *s)
{
    struct stat st;

    if (lstat(s->o.link, &st) == 0 && !S_ISLNK(st.st_mode)) {
        sim_note("%s exists and is not a symlink; not replacing it",
                 s->o.link);
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

/*
 * A pty pair with the slave raw before anyone can open it, --link pointing
 * at it. We keep a slave fd of our own: without it the master reads EIO
 * and polls POLLHUP whenever the listener has the slave closed.
 */
static bool
pty_open(struct sim *s)
{
    struct termios t;

    if (openpty(&s->master, &s->slave, NULL, NULL, NULL) != 0) {
        sim_note("openpty: %s", strerror(errno));
        return false;
    }
    if (tcgetattr(s->slave, &t) == 0) {
        cfmakeraw(&t);
        cfsetispeed(&t, B38400);
        cfsetospeed(&t, B38400);
    }
    if (tcsetattr(s->slave, TCSANOW, &t) != 0 ||
        ptsname_r(s->master, s->pts, sizeof(s->pts)) != 0 ||
        fcntl(s->master, F_SETFL, O_NONBLOCK) != 0 ||
        fcntl(s->master, F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(s->slave, F_SETFD, FD_CLOEXEC) != 0) {
        sim_note("pty set-up: %s", strerror(errno));
        return false;
    }
    if (asprintf(&s->link_tmp, "%s.tmp", s->o.link) < 0) {
        s->link_tmp = NULL;
        return false;
    }
    if (!link_make(s)) {
        return false;
    }
    sim_note("bus up: %s -> %s", s->o.link, s->pts);
    printf("LINK %s\n", s->o.link);
    fflush(stdout);
    return true;
}

/* Whatever the listener wrote toward the bus: counted, dropped. */
static void
pty_read(struct sim *s)
{
    uint8_t junk[4096];
    ssize_t r;

    while ((r = read(s->master, junk, sizeof(junk))) > 0) {
        s->st.bytes_written_to_us += r;
        sim_note("%zd bytes written toward the bus", r);
        stats_write(s);
    }
}

static bool
tcp_open(struct sim *s)
{
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_port = htons((uint16_t)s->o.port) };
    socklen_t alen = sizeof(a);

    inet_pton(AF_INET, s->o.host, &a.sin_addr);
    s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK |
                          SOCK_CLOEXEC, 0);
    if (s->listen_fd < 0 ||
        setsockopt(s->listen_fd, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 },
                   sizeof(int)) != 0 ||
        bind(s->listen_fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(s->listen_fd, MAX_CLIENTS) != 0 ||
        getsockname(s->listen_fd, (struct sockaddr *)&a, &alen) != 0) {
        sim_note("listen on %s:%ld: %s", s->o.host, s->o.port,
                 strerror(errno));
        return false;
    }
    printf("PORT %u\n", ntohs(a.sin_port));
    fflush(stdout);
    return true;
}

static void
tcp_accept(struct sim *s, int64_t now)
{
    int fd;

    while ((fd = accept4(s->listen_fd, NULL, NULL,
                         SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        struct client *c = NULL;

        for (int i = 0; i < MAX_CLIENTS && c == NULL; i++) {
            c = s->cl[i].fd < 0 ? &s->cl[i] : NULL;
        }
        if (c == NULL) {
            close(fd);
            s->st.refused++;
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
        *c = (struct client){ .fd = fd };
        s->st.clients++;
        s->st.connections++;
        if (s->o.start_on_connect) {
            cca_start(s->cca, now);
        }
        stats_write(s);
    }
}

/* A client sent something (counted, dropped) or went away. */
static void
tcp_read(struct sim *s, struct client *c)
{
    uint8_t junk[4096];
    ssize_t r;

    while ((r = read(c->fd, junk, sizeof(junk))) > 0) {
        s->st.bytes_written_to_us += r;
        sim_note("%zd bytes written toward the bus", r);
    }
    if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        client_drop(s, c, r == 0 ? "end of file" : strerror(errno));
    }
    stats_write(s);
}

/* At exit: give the clients what they have not taken yet, within
 * EXIT_FLUSH_MS, then close them. */
static void
tcp_close(struct sim *s)
{
    int64_t end = sim_now_us() + EXIT_FLUSH_MS * 1000;

    for (int i = 0; i < MAX_CLIENTS; i++) {
        struct client *c = &s->cl[i];

        while (c->fd >= 0 && c->len > 0 && sim_now_us() < end &&
               client_flush(s, c) && c->len > 0) {
            poll(&(struct pollfd){ .fd = c->fd, .events = POLLOUT }, 1, 10);
        }
        if (c->fd >= 0) {
            shutdown(c->fd, SHUT_WR);
            client_drop(s, c, "simulator exits");
        }
    }
    if (s->listen_fd >= 0) {
        close(s->listen_fd);
    }
}

static int
wait_io(struct sim *s, int64_t now)
{
    struct pollfd p[MAX_CLIENTS + 1];
    struct client *who[MAX_CLIENTS + 1];
    int64_t left = cca_next_us(s->cca, now);
    int64_t st = s->stats_at_us + STATS_EVERY_US - now;
    struct timespec ts;
    int n = 0;

    left = left < 0 || st < left ? (st > 0 ? st : 0) : left;
    ts = (struct timespec){ .tv_sec = left / 1000000,
                            .tv_nsec = (long)(left % 1000000) * 1000 };

    if (s->master >= 0) {
        p[n] = (struct pollfd){ .fd = s->master, .events = POLLIN };
        who[n++] = NULL;
    } else {
        p[n] = (struct pollfd){ .fd = s->listen_fd, .events = POLLIN };
        who[n++] = NULL;
        for (int i = 0; i < MAX_CLIENTS; i++) {
            if (s->cl[i].fd >= 0) {
                p[n] = (struct pollfd){
                    .fd = s->cl[i].fd,
                    .events = (short)(POLLIN | (s->cl[i].len ? POLLOUT : 0)) };
                who[n++] = &s->cl[i];
            }
        }
    }
    if (ppoll(p, (nfds_t)n, &ts, &s->waitmask) < 0) {
        return errno == EINTR ? 0 : -1;
    }
    now = sim_now_us();
    for (int i = 0; i < n; i++) {
        if (p[i].revents == 0) {
            continue;
        }
        if (who[i] == NULL && s->master >= 0) {
            pty_read(s);
        } else if (who[i] == NULL) {
            tcp_accept(s, now);
        } else if ((p[i].revents & POLLOUT) && !client_flush(s, who[i])) {
            continue;
        } else if (p[i].revents & (POLLIN | POLLHUP | POLLERR)) {
            tcp_read(s, who[i]);
        }
    }
    return 0;
}

static int
run(struct sim *s)
{
    int rc = 0;

    while (!g_stop && rc == 0) {
        int64_t now = sim_now_us();

        if (g_reboot) {
            g_reboot = 0;
            cca_reboot(s->cca, now);
        }
        if (g_hold) {
            g_hold = 0;
            cca_hold(s->cca);
        }
        cca_run(s->cca, now);
        if (now - s->stats_at_us >= STATS_EVERY_US) {
            stats_write(s);
        }
        rc = wait_io(s, sim_now_us());
    }
    if (rc != 0) {
        sim_note("ppoll: %s", strerror(errno));
    }
    return rc;
}

static bool
sim_init(struct sim *s)
{
    struct sigaction sa = { .sa_handler = on_signal };
    sigset_t usr2;

    s->master = s->slave = s->listen_fd = -1;
    for (int i = 0; i < MAX_CLIENTS; i++) {
        s->cl[i].fd = -1;
    }
    /* sim_signals_init() covers SIGTERM, SIGINT, SIGUSR1; add SIGUSR2,
     * likewise blocked except in ppoll(). */
    sim_signals_init(on_signal, &s->waitmask);
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR2, &sa, NULL);
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    sigprocmask(SIG_BLOCK, &usr2, NULL);
    sigdelset(&s->waitmask, SIGUSR2);
    if (s->o.stats_path != NULL &&
        asprintf(&s->stats_tmp, "%s.tmp", s->o.stats_path) < 0) {
        s->stats_tmp = NULL;
        sim_note("out of memory");
        return false;
    }
    s->cca = cca_new(&s->o.cca, bus_out, s, sim_now_us());
    if (s->cca == NULL) {
        sim_note("out of memory");
        return false;
    }
    return true;
}

/* Close the bus: the pty and its link, or the TCP clients (after they got
 * what was queued for them) and the listener. */
static void
sim_close(struct sim *s)
{
    if (s->master >= 0) {
        link_remove(s);
        close(s->master);
    }
    if (s->slave >= 0) {
        close(s->slave);
    }
    s->master = s->slave = -1;
    tcp_close(s);
}

static void
sim_free(struct sim *s)
{
    free(s->link_tmp);
    free(s->stats_tmp);
    cca_free(s->cca);
}

int
main(int argc, char **argv)
{
    static struct sim s;
    int rc = parse_args(&s.o, argc, argv);
    bool ok;

    if (rc != 0) {
        usage(rc > 0 ? stdout : stderr);
        return rc > 0 ? 0 : 2;
    }
    if (s.o.self_test) {
        return tw_self_test(stdout) == 0 ? 0 : 1;
    }
    ok = sim_init(&s) && (s.o.link != NULL ? pty_open(&s) : tcp_open(&s));
    if (ok) {
        if (!s.o.start_on_connect) {
            cca_start(s.cca, sim_now_us());
        }
        cca_truth_write(s.cca);
        stats_write(&s);
        rc = run(&s);
    }
    sim_close(&s);
    if (ok) {
        cca_truth_write(s.cca);
        stats_write(&s);
    }
    sim_free(&s);
    return ok && rc == 0 ? 0 : 1;
}

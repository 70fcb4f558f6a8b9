/* SPDX-License-Identifier: MIT */
/*
 * harness.c -- process and socket helpers for the integration tests (see
 * harness.h). Binaries are found through MUX_BIN and SIM_TCP, set by CMake.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "sim_map.h"

static char h_tmp[256];
static pid_t h_children[32];
static unsigned h_n_children;
static uint16_t h_tid = 1;

static long h_stat_file(const char *path, const char *key);

/*
 * A scratch directory for this test process, made on first use.
 */
const char *
h_dir(void)
{
    if (h_tmp[0] == '\0') {
        snprintf(h_tmp, sizeof(h_tmp), "/tmp/mux-test-XXXXXX");
        if (mkdtemp(h_tmp) == NULL) {
            perror("mkdtemp");
            abort();
        }
    }
    return h_tmp;
}

/*
 * Monotonic milliseconds.
 */
uint64_t
h_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
h_nap(void)
{
    struct timespec ts = {0, 5 * 1000 * 1000};

    nanosleep(&ts, NULL);
}

/*
 * Poll <path> until a line containing <needle> appears or <timeout_ms>
 * passes. Copies that line to <line> if given. True if it appeared.
 */
bool
h_wait_file(const char *path, const char *needle, int timeout_ms, char *line,
            size_t line_size)
{
    uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
    char buf[2048];

    do {
        FILE *f = fopen(path, "r");

        if (f != NULL) {
            while (fgets(buf, sizeof(buf), f) != NULL) {
                if (strstr(buf, needle) != NULL) {
                    if (line != NULL) {
                        snprintf(line, line_size, "%s", buf);
                    }
                    fclose(f);
                    return true;
                }
            }
            fclose(f);
        }
        h_nap();
    } while (h_now_ms() < end);
    return false;
}

/*
 * True if <path> has a line containing <needle> now.
 */
bool
h_file_contains(const char *path, const char *needle)
{
    return h_wait_file(path, needle, 0, NULL, 0);
}

/*
 * Start argv[0] with stdout and stderr in files named after <tag>.
 * Returns 0 or -1.
 */
int
h_proc_start(struct proc *p, const char *tag, char *const argv[])
{
    static int seq;
    int n = seq++;

    snprintf(p->out, sizeof(p->out), "%s/%s-%d.out", h_dir(), tag, n);
    snprintf(p->err, sizeof(p->err), "%s/%s-%d.err", h_dir(), tag, n);
    p->pid = fork();
    if (p->pid < 0) {
        return -1;
    }
    if (p->pid > 0 && h_n_children < 32) {
        h_children[h_n_children++] = p->pid;
    }
    if (p->pid == 0) {
        int out = open(p->out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = open(p->err, O_WRONLY | O_CREAT | O_TRUNC, 0644);

        dup2(out, 1);
        dup2(err, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    return 0;
}

/*
 * True while <p> runs.
 */
bool
h_proc_alive(struct proc *p)
{
    int st;

    if (p->pid <= 0) {
        return false;
    }
    if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
        p->pid = 0;
        return false;
    }
    return true;
}

/*
 * Send <sig> to <p> and wait up to <timeout_ms> for it to exit (then
 * SIGKILL). Returns its exit status, 128 + signal if killed by one, or -1.
 */
int
h_proc_stop(struct proc *p, int sig, int timeout_ms)
{
    uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
    int st;

    if (p->pid <= 0) {
        return -1;
    }
    kill(p->pid, sig);
    for (;;) {
        pid_t w = waitpid(p->pid, &st, WNOHANG);

        if (w == p->pid) {
            break;
        }
        if (h_now_ms() > end) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &st, 0);
            break;
        }
        h_nap();
    }
    p->pid = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Split <args> on spaces into <argv> after <argv0>. */
static void
h_split(char *args, char *argv[], int max, const char *argv0)
{
    int n = 0;

    argv[n++] = (char *)argv0;
    for (char *t = strtok(args, " "); t != NULL && n < max - 1;
         t = strtok(NULL, " ")) {
        argv[n++] = t;
    }
    argv[n] = NULL;
}

/*
 * Start the TCP simulator on 127.0.0.1:<port> (0: any) with extra
 * command-line <args>; wait for its "PORT n" line. Returns 0 or -1.
 */
int
h_sim_start_port(struct sim *s, int port, const char *args)
{
    return h_sim_start_bin(s, SIM_TCP, port, args);
}

/*
 * Start simulator binary <bin> (one that takes --listen and --stats and
 * prints "PORT n") on 127.0.0.1:<port> (0: any) with extra <args>.
 * Returns 0 or -1.
 */
int
h_sim_start_bin(struct sim *s, const char *bin, int port, const char *args)
{
    static int seq;
    char buf[1024], listen[64], line[128];
    char *argv[64];

    snprintf(s->stats, sizeof(s->stats), "%s/sim-%d.stats", h_dir(), seq++);
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
    snprintf(buf, sizeof(buf), "--listen %s --stats %s %s", listen, s->stats,
             args ? args : "");
    h_split(buf, argv, 64, bin);
    if (h_proc_start(&s->p, "sim", argv) != 0 ||
        !h_wait_file(s->p.out, "PORT ", 5000, line, sizeof(line))) {
        return -1;
    }
    s->port = atoi(strstr(line, "PORT ") + 5);
    return s->port > 0 ? 0 : -1;
}

/*
 * Start the TCP simulator on an ephemeral port.
 */
int
h_sim_start(struct sim *s, const char *args)
{
    return h_sim_start_port(s, 0, args);
}

/*
 * The value of <key> in <s>'s statistics file, or -1.
 */
long
h_sim_stat(const struct sim *s, const char *key)
{
    return h_stat_file(s->stats, key);
}

/* The value of <key> in a simulator statistics file, or -1. */
static long
h_stat_file(const char *path, const char *key)
{
    char line[256];
    size_t n = strlen(key);
    FILE *f = fopen(path, "r");
    long v = -1;

    if (f == NULL) {
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, key, n) == 0 && line[n] == ' ') {
            v = strtol(line + n + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

/*
 * Start the RTU bus simulator with <args> (units, quirks); it makes a pty
 * and a link to it in the scratch directory. Waits for its "LINK" line.
 * Returns 0 or -1.
 */
int
h_rtu_start(struct rtu_sim *s, const char *args)
{
    static int seq;
    char buf[2048];
    char *argv[64];
    int n = seq++;

    snprintf(s->link, sizeof(s->link), "%s/bus-%d", h_dir(), n);
    snprintf(s->stats, sizeof(s->stats), "%s/rtu-%d.stats", h_dir(), n);
    snprintf(buf, sizeof(buf), "--link %s --stats %s %s", s->link, s->stats,
             args ? args : "");
    h_split(buf, argv, 64, SIM_RTU);
    if (h_proc_start(&s->p, "rtu", argv) != 0 ||
        !h_wait_file(s->p.out, "LINK ", 5000, NULL, 0)) {
        return -1;
    }
    return 0;
}

/*
 * The value of <key> in <s>'s statistics file, or -1.
 */
long
h_rtu_stat(const struct rtu_sim *s, const char *key)
{
    return h_stat_file(s->stats, key);
}

/*
 * A TCP port on 127.0.0.1 that was free a moment ago (for tools that
 * cannot report the port they bound, like socat).
 */
int
h_free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0) {
        port = ntohs(a.sin_port);
    }
    if (fd >= 0) {
        close(fd);
    }
    return port;
}

/*
 * Write the ini (printf-style <ini_fmt>) and start the proxy with it;
 * wait until it listens (its "listening on" line gives the port, so
 * tests may use listen = 127.0.0.1:0). Returns 0 or -1.
 */
int
h_mux_start(struct mux *m, const char *ini_fmt, ...)
{
    static int seq;
    char line[256];
    char *argv[] = {MUX_BIN, "-c", m->ini, NULL};
    const char *colon;
    va_list ap;
    FILE *f;

    snprintf(m->ini, sizeof(m->ini), "%s/mux-%d.ini", h_dir(), seq++);
    f = fopen(m->ini, "w");
    if (f == NULL) {
        return -1;
    }
    va_start(ap, ini_fmt);
    vfprintf(f, ini_fmt, ap);
    va_end(ap);
    fclose(f);
    if (h_proc_start(&m->p, "mux", argv) != 0 ||
        !h_wait_file(m->p.err, "listening on", 5000, line, sizeof(line))) {
        return -1;
    }
    colon = strrchr(line, ':');
    m->port = colon ? atoi(colon + 1) : 0;
    return m->port > 0 ? 0 : -1;
}

/*
 * SIGTERM the proxy and return its exit status (0 is a clean stop).
 */
int
h_mux_stop(struct mux *m)
{
    return h_proc_stop(&m->p, SIGTERM, 15000);
}

static int
h_connect_addr(const struct sockaddr *sa, socklen_t len)
{
    int fd = socket(sa->sa_family, SOCK_STREAM, 0);
    int one = 1;

    if (fd < 0) {
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, sa, len) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/*
 * A blocking TCP connection to 127.0.0.1:<port>, or -1.
 */
int
h_connect(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port)};

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return h_connect_addr((struct sockaddr *)&a, sizeof(a));
}

/*
 * A blocking TCP connection to 127.0.0.1:<port> from address <src> (any
 * of 127.0.0.0/8 works on Linux), or -1.
 */
int
h_connect_from(int port, const char *src)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port)};
    struct sockaddr_in b = {.sin_family = AF_INET};
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || inet_pton(AF_INET, src, &b.sin_addr) != 1 ||
        bind(fd, (struct sockaddr *)&b, sizeof(b)) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/*
 * A blocking TCP connection to [::1]:<port>, or -1.
 */
int
h_connect6(int port)
{
    struct sockaddr_in6 a = {.sin6_family = AF_INET6,
                             .sin6_port = htons((uint16_t)port)};

    a.sin6_addr = in6addr_loopback;
    return h_connect_addr((struct sockaddr *)&a, sizeof(a));
}

/*
 * Send <len> bytes on <fd>. Returns 0 or -1.
 */
int
h_send(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

        if (n <= 0) {
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/*
 * Send one read request (FC 1..4) as an MBAP frame. Returns 0 or -1.
 */
int
h_send_read(int fd, uint16_t tid, uint8_t unit, uint8_t fc, uint16_t addr,
            uint16_t count)
{
    uint8_t f[12] = {tid >> 8, tid & 0xFF, 0, 0, 0, 6, unit, fc,
                     addr >> 8, addr & 0xFF, count >> 8, count & 0xFF};

    return h_send(fd, f, sizeof(f));
}

static int
h_recv_n(int fd, uint8_t *buf, size_t n, uint64_t end)
{
    size_t got = 0;

    while (got < n) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int64_t left = (int64_t)(end - h_now_ms());
        ssize_t r;

        if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
            return -1;
        }
        r = recv(fd, buf + got, n - got, 0);
        if (r <= 0) {
            return -2;
        }
        got += (size_t)r;
    }
    return 0;
}

/*
 * Receive one whole MBAP frame into <buf> within <timeout_ms>. Returns its
 * length, -1 on timeout, -2 if the peer closed.
 */
int
h_recv_frame(int fd, uint8_t *buf, size_t size, int timeout_ms)
{
    uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
    size_t len;
    int rc = h_recv_n(fd, buf, 6, end);

    if (rc < 0) {
        return rc;
    }
    len = (size_t)(buf[4] << 8 | buf[5]);
    if (len + 6 > size) {
        return -1;
    }
    rc = h_recv_n(fd, buf + 6, len, end);
    return rc < 0 ? rc : (int)(len + 6);
}

/*
 * True if the peer closes <fd> within <timeout_ms>.
 */
bool
h_wait_closed(int fd, int timeout_ms)
{
    uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
    uint8_t b[512];

    while (h_now_ms() < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ssize_t r;

        if (poll(&p, 1, 50) <= 0) {
            continue;
        }
        r = recv(fd, b, sizeof(b), 0);
        if (r <= 0) {
            return true;
        }
    }
    return false;
}

/*
 * Read <count> registers or bits of <unit> with <fc> at <addr> on <fd>,
 * checking that the reply carries our transaction id and unit. Values go
 * to <vals> (bits one per element). Returns 0, the exception code, or -1.
 */
int
h_read(int fd, uint8_t unit, uint8_t fc, uint16_t addr, uint16_t count,
       uint16_t *vals, int timeout_ms)
{
    uint16_t tid = h_tid++;
    uint8_t f[300];
    int n;

    if (h_send_read(fd, tid, unit, fc, addr, count) != 0) {
        return -1;
    }
    n = h_recv_frame(fd, f, sizeof(f), timeout_ms);
    if (n < 9 || (f[0] << 8 | f[1]) != tid || f[6] != unit) {
        return -1;
    }
    if (f[7] == (fc | 0x80)) {
        return f[8];
    }
    if (f[7] != fc) {
        return -1;
    }
    for (unsigned i = 0; i < count; i++) {
        vals[i] = fc <= 2 ? (f[9 + i / 8] >> (i % 8)) & 1
                          : (uint16_t)(f[9 + 2 * i] << 8 | f[10 + 2 * i]);
    }
    return 0;
}

/*
 * Write holding register <addr> of <unit> (FC 6). Returns 0 when the
 * echo is right, the exception code, or -1.
 */
int
h_write1(int fd, uint8_t unit, uint16_t addr, uint16_t value, int timeout_ms)
{
    uint16_t tid = h_tid++;
    uint8_t q[12] = {tid >> 8, tid & 0xFF, 0, 0, 0, 6, unit, 6,
                     addr >> 8, addr & 0xFF, value >> 8, value & 0xFF};
    uint8_t f[300];
    int n;

    if (h_send(fd, q, sizeof(q)) != 0) {
        return -1;
    }
    n = h_recv_frame(fd, f, sizeof(f), timeout_ms);
    if (n < 9 || (f[0] << 8 | f[1]) != tid || f[6] != unit) {
        return -1;
    }
    if (f[7] == 0x86) {
        return f[8];
    }
    return n == 12 && memcmp(f + 7, q + 7, 5) == 0 ? 0 : -1;
}

/*
 * True if <vals> are what the simulators hold for <unit> (sim_map.h).
 */
bool
h_check_regs(uint8_t unit, uint8_t fc, uint16_t addr, uint16_t count,
             const uint16_t *vals)
{
    for (unsigned i = 0; i < count; i++) {
        unsigned a = addr + i;
        uint16_t want = fc == 1   ? sim_coil(unit, a)
                        : fc == 2 ? sim_discrete(unit, a)
                        : fc == 3 ? sim_holding(unit, a)
                                  : sim_input(unit, a);

        if (vals[i] != want) {
            return false;
        }
    }
    return true;
}

/*
 * Kill whatever this test started and did not stop (a failed assertion
 * skips the test's own teardown). For criterion's .fini.
 */
void
h_cleanup(void)
{
    for (unsigned i = 0; i < h_n_children; i++) {
        if (kill(h_children[i], 0) == 0) {
            kill(h_children[i], SIGKILL);
            waitpid(h_children[i], NULL, 0);
        }
    }
    h_n_children = 0;
}

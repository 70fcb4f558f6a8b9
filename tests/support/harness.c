/* SPDX-License-Identifier: MIT */
/*
 * harness.c -- the integration tests' processes and files (see harness.h):
 * the scratch directory, starting and stopping modbus-mux and the
 * simulators, waiting on their logs and statistics, the proxy's counters,
 * the clock. The client side is harness_client.c. Binaries are found
 * through MUX_BIN and SIM_TCP, set by CMake.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static char h_tmp[256];
static pid_t h_children[32];
static unsigned h_n_children;

static long h_stat_file(const char *path, const char *key);
/*
 * A scratch directory for this test process, made on first use, in
 * $MUX_TEST_DIR (ctest sets it to the build's test-scratch/, emptied at the
 * start of every run, so that the logs of the last run stay and no more),
 * or in /tmp.
 */
const char *
h_dir(void)
{
    const char *base = getenv("MUX_TEST_DIR");
    int n;

    if (h_tmp[0] != '\0') {
        return h_tmp;
    }
    if (base == NULL || base[0] == '\0') {
        base = "/tmp";
    } else if (mkdir(base, 0755) != 0 && errno != EEXIST) {
        perror(base);
        abort();
    }
    n = snprintf(h_tmp, sizeof(h_tmp), "%s/mux-test-XXXXXX", base);
    if (n < 0 || (size_t)n >= sizeof(h_tmp) || mkdtemp(h_tmp) == NULL) {
        perror("mkdtemp");
        abort();
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
 * A TCP port on 127.0.0.1 that nothing listens on now, for a listener the
 * test must know before it starts. Chosen below Linux's ephemeral range
 * (32768-60999): an outgoing connection of another test, which takes an
 * ephemeral port, cannot take it between now and the bind. -1 if none was
 * found.
 */
int
h_free_port(void)
{
    static unsigned seed;

    if (seed == 0) {
        seed = (unsigned)getpid() ^ (unsigned)h_now_us();
    }
    for (int tries = 0; tries < 200; tries++) {
        struct sockaddr_in a = {.sin_family = AF_INET};
        int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

        seed = seed * 1103515245u + 12345u;
        a.sin_port = htons((uint16_t)(20000 + (seed >> 8) % 12000));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd < 0) {
            return -1;
        }
        ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
        close(fd);
        if (ok) {
            return ntohs(a.sin_port);
        }
    }
    return -1;
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

/*
 * The value of <key> on the last proxy-wide "info stats:" line of <m>'s
 * log (the one logged at exit, once the proxy has stopped), or -1.
 */
long
h_mux_stat(const struct mux *m, const char *key)
{
    char line[2048], want[64];
    long v = -1;
    FILE *f = fopen(m->p.err, "r");

    if (f == NULL) {
        return -1;
    }
    snprintf(want, sizeof(want), " %s=", key);
    while (fgets(line, sizeof(line), f) != NULL) {
        const char *k;

        if (strstr(line, " info stats: ") == NULL) {
            continue;
        }
        k = strstr(line, want);
        v = k != NULL ? strtol(k + strlen(want), NULL, 10) : -1;
    }
    fclose(f);
    return v;
}

/*
 * True if the stopped proxy <m> answered every request it counted: on its
 * final stats line, requests == replies + replies_dropped. The three
 * numbers (or why they could not be read) go to <why>, for the message.
 */
bool
h_mux_counters_balance(const struct mux *m, char *why, size_t n)
{
    long req = h_mux_stat(m, "requests");
    long rep = h_mux_stat(m, "replies");
    long drop = h_mux_stat(m, "replies_dropped");

    if (m->p.pid > 0) {
        snprintf(why, n, "the proxy is still running");
        return false;
    }
    snprintf(why, n, "requests=%ld replies=%ld replies_dropped=%ld", req,
             rep, drop);
    return req >= 0 && rep >= 0 && drop >= 0 && req == rep + drop;
}

/*
 * How many lines of <path> contain <needle> now (0 if it cannot be read).
 */
int
h_count_lines(const char *path, const char *needle)
{
    char line[2048];
    int n = 0;
    FILE *f = fopen(path, "r");

    if (f == NULL) {
        return 0;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        n += strstr(line, needle) != NULL;
    }
    fclose(f);
    return n;
}

/*
 * The number of open file descriptors of process <pid> (/proc/PID/fd), or
 * -1.
 */
int
h_fd_count(pid_t pid)
{
    char path[64];
    struct dirent *e;
    DIR *d;
    int n = 0;

    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    d = opendir(path);
    if (d == NULL) {
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n;
}

/*
 * Raise this process's open-file soft limit to its hard limit (for tests
 * that open a thousand sockets). Returns the soft limit now in force, or
 * -1.
 */
long
h_raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return -1;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            return -1;
        }
    }
    return rl.rlim_cur == RLIM_INFINITY ? 1L << 20 : (long)rl.rlim_cur;
}

/*
 * Monotonic microseconds.
 */
uint64_t
h_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/*
 * Sleep <ms> milliseconds: for pacing a client or an attacker, or one step
 * of a bounded polling loop; never to wait for a condition.
 */
void
h_sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/*
 * Poll <path> until at least <n> of its lines contain <needle>, or
 * <timeout_ms> passes. True if they did.
 */
bool
h_wait_lines(const char *path, const char *needle, int n, int timeout_ms)
{
    uint64_t end = h_now_ms() + (uint64_t)timeout_ms;

    do {
        if (h_count_lines(path, needle) >= n) {
            return true;
        }
        h_nap();
    } while (h_now_ms() < end);
    return false;
}

/*
 * Poll simulator statistics file <stats> until <key> reaches <n>, or
 * <timeout_ms> passes. True if it did.
 */
bool
h_wait_stat(const char *stats, const char *key, long n, int timeout_ms)
{
    uint64_t end = h_now_ms() + (uint64_t)timeout_ms;

    do {
        if (h_stat_file(stats, key) >= n) {
            return true;
        }
        h_nap();
    } while (h_now_ms() < end);
    return false;
}

/*
 * The value of <key> on the last "B:<backend>: stats:" line of <m>'s log
 * (the one logged at exit, once the proxy has stopped), or -1.
 */
long
h_mux_backend_stat(const struct mux *m, const char *backend, const char *key)
{
    char line[2048], tag[96], want[64];
    long v = -1;
    FILE *f = fopen(m->p.err, "r");

    if (f == NULL) {
        return -1;
    }
    snprintf(tag, sizeof(tag), " B:%s: stats: ", backend);
    snprintf(want, sizeof(want), " %s=", key);
    while (fgets(line, sizeof(line), f) != NULL) {
        const char *k;

        if (strstr(line, tag) == NULL) {
            continue;
        }
        k = strstr(line, want);
        v = k != NULL ? strtol(k + strlen(want), NULL, 10) : -1;
    }
    fclose(f);
    return v;
}

/*
 * Poll process <pid>'s open fds until there are at least <min> and at most
 * <max>, or <timeout_ms> passes. Returns the last count (-1: unreadable).
 */
int
h_wait_fd_count(pid_t pid, int min, int max, int timeout_ms)
{
    uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
    int n;

    while (((n = h_fd_count(pid)) < min || n > max) && h_now_ms() < end) {
        h_nap();
    }
    return n;
}

/*
 * Replace file <path> with <text> in one step (a temporary file renamed
 * over it), so that a process reading it never sees half of it. Returns 0
 * or -1.
 */
int
h_write_file(const char *path, const char *text)
{
    char tmp[600];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    if (f == NULL) {
        return -1;
    }
    if (fputs(text, f) < 0) {
        fclose(f);
        return -1;
    }
    if (fclose(f) != 0) {
        return -1;
    }
    return rename(tmp, path);
}

/*
 * A value in kB of /proc/<pid>/status (<key>: "VmRSS", "VmHWM"), or -1
 * (the process has gone, or no such key).
 */
long
h_proc_kb(pid_t pid, const char *key)
{
    char path[64], line[256];
    size_t n = strlen(key);
    long kb = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, key, n) == 0 && line[n] == ':') {
            kb = strtol(line + n + 1, NULL, 10);
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return kb;
}

/*
 * Under AddressSanitizer (CMakeLists.txt, SANITIZE) a process keeps freed
 * memory in quarantine, 256 MB by default, and a churn of requests would
 * show as RSS growth: the processes started from here on keep 1 MB. Other
 * builds ignore the variable.
 */
void
h_asan_small_quarantine(void)
{
    const char *old = getenv("ASAN_OPTIONS");
    char opts[512];

    snprintf(opts, sizeof(opts), "%s%squarantine_size_mb=1",
             old != NULL ? old : "", old != NULL && old[0] != '\0' ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);
}

/*
 * Lines of a tcp_slave request log (its --log file) with function code
 * <fc>, or -1 if the log cannot be read.
 */
int
h_sim_count_fc(const char *log, int fc)
{
    FILE *f = fopen(log, "r");
    char line[256];
    int n = 0, conn, unit, got;

    if (f == NULL) {
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "%*s %d %d %d", &conn, &unit, &got) == 3 &&
            got == fc) {
            n++;
        }
    }
    fclose(f);
    return n;
}

/*
 * The port the HTTP endpoint of <m> is bound to, from its "http: serving
 * ... on ADDR:PORT" line (started with http_listen = 127.0.0.1:0, so that
 * no other test can take the port between choosing and binding it), or -1
 * if no such line came within <timeout_ms>.
 */
int
h_mux_http_port(const struct mux *m, int timeout_ms)
{
    char line[512];
    const char *colon;

    if (!h_wait_file(m->p.err, "http: serving", timeout_ms, line,
                     sizeof(line))) {
        return -1;
    }
    colon = strrchr(line, ':');
    return colon != NULL ? atoi(colon + 1) : -1;
}

/*
 * socat as a serial device server in front of the pty <link>: TCP on
 * 127.0.0.1 on one side, the bus on the other ("transparent" mode).
 * Returns its port once socat says it listens. Readiness comes from its
 * own log line, not from a probe connection: a probe's forked child could
 * still hold the pty and take the first answer.
 */
int
h_serial_server(struct proc *p, const char *link)
{
    char listen[64], file[600];
    char *argv[] = {"/usr/bin/socat", "-d", "-d", listen, file, NULL};
    int port = h_free_port();

    snprintf(listen, sizeof(listen), "TCP-LISTEN:%d,bind=127.0.0.1,"
             "reuseaddr,fork", port);
    snprintf(file, sizeof(file), "FILE:%s,raw,echo=0", link);
    if (h_proc_start(p, "socat", argv) != 0 ||
        !h_wait_file(p->err, "listening on", 5000, NULL, 0)) {
        return -1;
    }
    return port;
}

/* SPDX-License-Identifier: MIT */
/*
 * harness.h -- what integration tests need to run the real binary against
 * the simulators: a scratch directory, child processes with their output in
 * files, readiness by polling for a log line (never a guessed sleep), raw
 * MBAP sockets for pipelining and malformed frames, and the simulator's
 * statistics file. Processes, files and counters are in harness.c; the
 * client side (sockets, requests, replies, blackhole, poller) is in
 * harness_client.c.
 */
#ifndef MUX_HARNESS_H
#define MUX_HARNESS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A child process with stdout and stderr in files. */
struct proc {
    pid_t pid;
    char  out[512];            /* stdout file */
    char  err[512];            /* stderr file */
};

/* A simulator (tests/sim/tcp_slave). */
struct sim {
    struct proc p;
    int         port;
    char        stats[512];    /* its --stats file */
};

/* The RTU bus simulator (tests/sim/rtu_slave) behind a pty. */
struct rtu_sim {
    struct proc p;
    char        link[512];     /* the device path the proxy opens */
    char        stats[512];
};

/* The proxy. */
struct mux {
    struct proc p;
    int         port;          /* first listen address */
    char        ini[512];
};

const char *h_dir(void);
uint64_t h_now_ms(void);
bool h_wait_file(const char *path, const char *needle, int timeout_ms,
                 char *line, size_t line_size);
bool h_file_contains(const char *path, const char *needle);
int h_proc_start(struct proc *p, const char *tag, char *const argv[]);
int h_proc_stop(struct proc *p, int sig, int timeout_ms);
bool h_proc_alive(struct proc *p);

int h_sim_start(struct sim *s, const char *args);
int h_sim_start_port(struct sim *s, int port, const char *args);
int h_sim_start_bin(struct sim *s, const char *bin, int port,
                    const char *args);
long h_sim_stat(const struct sim *s, const char *key);
int h_rtu_start(struct rtu_sim *s, const char *args);
long h_rtu_stat(const struct rtu_sim *s, const char *key);
int h_free_port(void);
int h_mux_start(struct mux *m, const char *ini_fmt, ...)
    __attribute__((format(printf, 2, 3)));
int h_mux_stop(struct mux *m);

int h_connect(int port);
int h_connect6(int port);
int h_connect_from(int port, const char *src);
int h_send_read(int fd, uint16_t tid, uint8_t unit, uint8_t fc,
                uint16_t addr, uint16_t count);
int h_send(int fd, const uint8_t *buf, size_t len);
int h_recv_frame(int fd, uint8_t *buf, size_t size, int timeout_ms);
bool h_wait_closed(int fd, int timeout_ms);
int h_read(int fd, uint8_t unit, uint8_t fc, uint16_t addr, uint16_t count,
           uint16_t *vals, int timeout_ms);
int h_write1(int fd, uint8_t unit, uint16_t addr, uint16_t value,
             int timeout_ms);
bool h_check_regs(uint8_t unit, uint8_t fc, uint16_t addr, uint16_t count,
                  const uint16_t *vals);
void h_cleanup(void);

/* Chaos and load helpers (tests/integration/test_chaos.c). */
int h_read_tid(int fd, uint16_t tid, uint8_t unit, uint8_t fc, uint16_t addr,
               uint16_t count, uint16_t *vals, int timeout_ms);
long h_mux_stat(const struct mux *m, const char *key);
bool h_mux_counters_balance(const struct mux *m, char *why, size_t n);
int h_count_lines(const char *path, const char *needle);
int h_fd_count(pid_t pid);
long h_raise_nofile(void);
uint64_t h_now_us(void);
void h_sleep_ms(unsigned ms);
int h_cloexec(int fd);
bool h_wait_lines(const char *path, const char *needle, int n,
                  int timeout_ms);
bool h_wait_stat(const char *stats, const char *key, long n, int timeout_ms);
long h_mux_backend_stat(const struct mux *m, const char *backend,
                        const char *key);
int h_send_write1(int fd, uint16_t tid, uint8_t unit, uint16_t addr,
                  uint16_t value);

/* A request a test sent, and what must come back for it. */
struct h_expect {
    uint16_t tid;              /* the client's transaction id */
    uint8_t  unit, fc;         /* as the client sent them */
    uint8_t  dev;              /* the unit whose sim_map.h image answers */
    uint16_t addr, count;      /* the read's range */
    bool     got;              /* answered already */
};

void h_sim_values(uint8_t unit, uint8_t fc, uint16_t addr, uint16_t count,
                  uint16_t *vals);
int h_send_expected(int fd, const struct h_expect *e, int n);
int h_recv_expected(int fd, struct h_expect *e, int n, int timeout_ms,
                    char *why, size_t why_size);

/* A client polling 3 holding registers of one unit from a thread of its
 * own, every answer checked (h_poller_start). */
struct h_poller {
    int         port;          /* the proxy's */
    uint8_t     unit, dev;     /* client unit, and the device behind it */
    uint16_t    addr, tid0;    /* first register, first transaction id */
    unsigned    pace_ms;       /* pause between polls */
    atomic_bool stop;
    atomic_bool done;          /* its thread has ended */
    atomic_uint good;          /* correct answers */
    unsigned    failed;        /* anything else; it stops at a closed link */
    unsigned    exceptions;    /* of those, Modbus exceptions */
    unsigned    max_ms;        /* the slowest answer */
    char        why[160];      /* the last failure */
    pthread_t   th;
};

int h_poller_start(struct h_poller *p);
unsigned h_poller_stop(struct h_poller *p);
int h_wait_fd_count(pid_t pid, int min, int max, int timeout_ms);
int h_write_file(const char *path, const char *text);
long h_proc_kb(pid_t pid, const char *key);
int h_sim_count_fc(const char *log, int fc);
int h_mux_http_port(const struct mux *m, int timeout_ms);

/* A GivEnergy client simulator run (tests/sim/giv_client) and its --stats
 * file, key=value lines. */
struct h_giv_client {
    struct proc p;
    char        stats[512];
};

int h_giv_client_start(struct h_giv_client *c, int port, const char *args,
                       bool wait_connected);
long h_kv(const char *path, const char *key);
bool h_giv_client_clean(const struct h_giv_client *c, char *why,
                        size_t why_size);
int h_http_get(int port, const char *path, char *buf, size_t size);
int h_serial_server(struct proc *p, const char *link);
void h_asan_small_quarantine(void);

/* A device that accepts and reads but never answers (opaque). */
struct h_blackhole;

struct h_blackhole *h_blackhole_start(int *port);
long h_blackhole_stop(struct h_blackhole *b);

#endif /* MUX_HARNESS_H */

/* SPDX-License-Identifier: MIT */
/*
 * harness.h -- what integration tests need to run the real binary against
 * the simulators: a scratch directory, child processes with their output in
 * files, readiness by polling for a log line (never a guessed sleep), raw
 * MBAP sockets for pipelining and malformed frames, and the simulator's
 * statistics file.
 */
#ifndef MUX_HARNESS_H
#define MUX_HARNESS_H

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

#endif /* MUX_HARNESS_H */

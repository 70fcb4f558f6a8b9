/* SPDX-License-Identifier: MIT */
/*
 * fake_backend.h -- a scripted device behind the backend vtable (reply at
 * once, reply later, never reply, lose the first attempt, refuse to
 * connect, or write_if_changed's pre-read in steps), registered as the
 * type "fake", and a real server built around it: the configuration comes
 * from ini text, server_init() finds the type through the registry like
 * any other, and clients are real sessions on socketpairs. For the loop
 * tests of the core (tests/unit/test_sched.c, test_precheck.c).
 */
#ifndef MUX_FAKE_BACKEND_H
#define MUX_FAKE_BACKEND_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "backend.h"
#include "server.h"

/* What the device does with each transmission. */
enum fake_mode {
    FAKE_NOW = 1,        /* answer inside transmit() */
    FAKE_LATER,          /* answer after delay_ms */
    FAKE_SILENT,         /* never answer */
    FAKE_LOSE_FIRST,     /* lose the first attempt of each request */
    FAKE_REFUSE,         /* the link never comes up */
    FAKE_STEPS,          /* a register read takes two transactions (the
                            first only moves req->step on, as a refused
                            GivEnergy block does) and is answered "from the
                            cache" (req->local) with zeros; FC 16 writes
                            one register per transaction; others echoed */
};

#define FAKE_MAX_TX 512

/* One transmission, as the device saw it. */
struct fake_tx {
    uint8_t  fc;
    uint16_t addr;       /* the first register */
    uint16_t step;       /* req->step */
    bool     local;      /* req->local */
    uint64_t ns;         /* uv_hrtime() of the transmission */
    uint64_t done_ns;    /* uv_hrtime() of its answer; 0 if none */
};

/* The scripted device (one per test process). */
struct fake_device {
    enum fake_mode  mode;
    unsigned        delay_ms;            /* FAKE_LATER */
    unsigned        n_tx;
    struct fake_tx  tx[FAKE_MAX_TX];
    uv_timer_t      timer;               /* FAKE_LATER's answer */
    struct backend *be;
};

extern struct fake_device fake;
extern const struct backend_ops fake_backend_ops;

void fake_answer(struct backend *be);
void fake_server_start(struct server *srv, uv_loop_t *loop,
                       enum fake_mode mode, const char *ini);
int fake_client(struct server *srv, bool prio);
void fake_server_stop(struct server *srv, uv_loop_t *loop);

#endif /* MUX_FAKE_BACKEND_H */

/* SPDX-License-Identifier: MIT */
/*
 * tcplink.h -- one TCP connection to a device, for the backends that speak
 * to it over TCP (tcp, rtu_tcp, givenergy): name resolution off the loop,
 * connect with a timeout, reads handed to the backend's framing, writes
 * that never hold a request's memory, and a cap on what waits for a device
 * that does not read. It reports to the core (backend_connected /
 * backend_conn_failed / backend_conn_lost) and knows nothing of Modbus.
 */
#ifndef MUX_TCPLINK_H
#define MUX_TCPLINK_H

#include <uv.h>

#include "core.h"

struct tcplink;

/* The link is up: reset framing state. */
typedef void (*tcplink_up_fn)(struct tcplink *l);
/* Bytes arrived; <data> is valid during the call only. */
typedef void (*tcplink_data_fn)(struct tcplink *l, const uint8_t *data,
                                size_t len);

/* A device link. Embedded in the backend type's state. */
struct tcplink {
    struct backend        *be;          /* borrowed: owns this link */
    struct tcplink_conn   *conn;        /* current connection, or NULL */
    uv_getaddrinfo_t       gai;
    uv_timer_t             connect_timer;
    bool                   resolving;
    bool                   stopped;
    tcplink_up_fn          on_up;
    tcplink_data_fn        on_data;
    uint64_t               generation;  /* bumped at every new connection */
};

void tcplink_init(struct tcplink *l, struct backend *be, tcplink_up_fn on_up,
                  tcplink_data_fn on_data);
void tcplink_connect(struct tcplink *l);
int tcplink_send(struct tcplink *l, const uint8_t *data, size_t len)
    MB_MUSTCHECK;
void tcplink_lost(struct tcplink *l, const char *why);
size_t tcplink_unsent(const struct tcplink *l);
bool tcplink_reset_if_unsent(struct tcplink *l) MB_MUSTCHECK;
void tcplink_stop(struct tcplink *l);

#endif /* MUX_TCPLINK_H */

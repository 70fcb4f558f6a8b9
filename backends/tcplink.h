/* SPDX-License-Identifier: MIT */
/*
 * tcplink.h -- one TCP connection to a device, for the backends that speak
 * to it over TCP (tcp, rtu_tcp, givenergy): name resolution off the loop,
 * connect with a timeout, reads handed to the backend's framing, writes
 * that never hold a request's memory, and a cap on what waits for a device
 * that does not read. It reports to the core (backend_connected /
 * backend_conn_failed / backend_conn_lost) and knows nothing of Modbus.
 *
 * Its settings (host, port, connect_timeout_ms) are one group of keys,
 * tcplink_keys, that each of those types includes in its own table
 * (CFG_KEYS_AT), with struct tcplink_cfg in its own settings.
 */
#ifndef MUX_TCPLINK_H
#define MUX_TCPLINK_H

#include <uv.h>

#include "cfg.h"
#include "core.h"

struct http_buf;
struct tcplink;

/* The settings of a link: in a type's own settings (cfg_backend.own). */
struct tcplink_cfg {
    char     host[CFG_HOST_MAX];   /* name or address of the device */
    unsigned port;
    unsigned connect_timeout_ms;
};

extern const struct cfg_key tcplink_keys[];

/* The link is up: reset framing state. */
typedef void (*tcplink_up_fn)(struct tcplink *l);
/* Bytes arrived; <data> is valid during the call only. */
typedef void (*tcplink_data_fn)(struct tcplink *l, const uint8_t *data,
                                size_t len);

/* A device link. Embedded in the backend type's state. */
struct tcplink {
    struct backend        *be;          /* borrowed: owns this link */
    const struct tcplink_cfg *cfg;      /* borrowed: in be->cfg, which a
                                           reload may rewrite in place */
    struct tcplink_conn   *conn;        /* current connection, or NULL */
    uv_getaddrinfo_t       gai;
    uv_timer_t             connect_timer;
    bool                   resolving;
    bool                   stopped;
    tcplink_up_fn          on_up;
    tcplink_data_fn        on_data;
    uint64_t               generation;  /* bumped at every new connection */
};

void tcplink_init(struct tcplink *l, struct backend *be,
                  const struct tcplink_cfg *cfg, tcplink_up_fn on_up,
                  tcplink_data_fn on_data);
void tcplink_connect(struct tcplink *l);
int tcplink_send(struct tcplink *l, const uint8_t *data, size_t len)
    MB_MUSTCHECK;
void tcplink_lost(struct tcplink *l, const char *why);
size_t tcplink_unsent(const struct tcplink *l);
bool tcplink_reset_if_unsent(struct tcplink *l) MB_MUSTCHECK;
void tcplink_stop(struct tcplink *l);
bool tcplink_same_cfg(const struct tcplink_cfg *a,
                      const struct tcplink_cfg *b);
void tcplink_status_html(const struct tcplink_cfg *c, struct http_buf *b);

#endif /* MUX_TCPLINK_H */

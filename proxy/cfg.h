/* SPDX-License-Identifier: MIT */
/*
 * cfg.h -- the configuration as plain data. cfg.c reads an ini file with
 * inih in three passes (collect lines, interpret and validate, fill
 * defaults) and reports every error as "file:line: what is wrong". Nothing
 * here touches libuv or a socket: --check-config runs exactly this code.
 */
#ifndef MUX_CFG_H
#define MUX_CFG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "acl.h"
#include "core.h"
#include "router.h"

#define CFG_MAX_LISTEN 8
#define CFG_NAME_MAX   32
#define CFG_HOST_MAX   256
#define CFG_TYPE_MAX   16
#define CFG_MAX_ERRORS 32
#define CFG_ERR_LEN    320

/* Backend types, as a bitmask so a key can belong to several. */
#define CFG_T_TCP     0x01u
#define CFG_T_RTU     0x02u
#define CFG_T_RTU_TCP 0x04u
#define CFG_T_GIV     0x08u

#define CFG_MAX_OVERRIDES 8

enum cfg_parity {
    CFG_PARITY_NONE = 0,
    CFG_PARITY_EVEN,
    CFG_PARITY_ODD,
};

enum cfg_rts {
    CFG_RTS_NONE = 0,
    CFG_RTS_UP,
    CFG_RTS_DOWN,
};

#define CFG_MAX_RANGES 16

/* A register range, inclusive (deny_write). */
struct cfg_range {
    unsigned lo, hi;
};

/* timeout_override: requests touching registers lo..hi wait timeout_ms. */
struct cfg_override {
    unsigned lo, hi;              /* register addresses, inclusive */
    unsigned timeout_ms;
};

/* Errors found while loading, each "file:line: message". */
struct cfg_errors {
    unsigned n;                                  /* messages kept */
    unsigned dropped;                            /* past CFG_MAX_ERRORS */
    int      line[CFG_MAX_ERRORS];               /* line of each message */
    char     msg[CFG_MAX_ERRORS][CFG_ERR_LEN];
};

/* One listen address. */
struct cfg_listen {
    char                    text[64];      /* as written */
    struct sockaddr_storage addr;                    /* AF_INET or AF_INET6 */
};

/* [server] */
struct cfg_server {
    struct cfg_listen listen[CFG_MAX_LISTEN]; /* "none": no address, with
                                                 [listener] sections */
    unsigned n_listen;
    unsigned max_clients;          /* connections over this, on every
                                      listener together, are closed */
    unsigned request_timeout_ms;   /* end-to-end deadline -> 0x0B */
    unsigned idle_timeout_s;       /* 0 = never close silent clients */
    unsigned client_max_pending;   /* requests outstanding per client */
    unsigned log_level;            /* enum log_level */
    struct cfg_listen http;        /* http_listen; AF_UNSPEC = off */
    struct acl allow;              /* clients let in; empty = everyone */
    struct acl read_only_clients;  /* their writes get 0x01 */
    struct acl priority_clients;   /* served ahead of the others */
};

/* A protocol on a set of addresses, with its own access rules: a
 * [listener NAME] section, or the one [server] listen makes. Every value
 * a section leaves out is the [server] one. */
struct cfg_listener {
    char     name[CFG_NAME_MAX];   /* NAME; "" for [server] listen */
    char     type[CFG_TYPE_MAX];   /* front-end type (frontend.c): "modbus" */
    int      line;                 /* of the section header; 0 for [server] */
    int      listen_line;          /* of its listen key; 0: the default */
    struct cfg_listen listen[CFG_MAX_LISTEN];
    unsigned n_listen;
    unsigned max_clients;          /* its clients at once; [server]
                                      max_clients caps them all */
    struct acl allow;              /* clients let in; empty = everyone */
    struct acl read_only_clients;  /* their writes get 0x01 */
    struct acl priority_clients;   /* served ahead of the others */
};

/* [backend NAME] */
struct cfg_backend {
    char     name[CFG_NAME_MAX];
    char     type[CFG_TYPE_MAX];   /* "tcp", "rtu", "rtu_tcp", "givenergy" */
    unsigned type_mask;            /* CFG_T_* */
    int      line;                 /* of the section header */
    /* scheduling, every type */
    unsigned min_spacing_ms;       /* end of response -> next request */
    unsigned timeout_ms;           /* per attempt */
    unsigned retries;              /* extra attempts, reads only */
    unsigned max_inflight;         /* requests on the wire at once */
    unsigned queue_depth;          /* queued requests before 0x06 */
    unsigned broadcast_delay_ms;   /* silence after a broadcast */
    unsigned retry_delay_ms;       /* pause before a retry, if longer */
    unsigned cache_ttl_ms;         /* reads answered from younger values */
    unsigned serve_stale_ms;       /* older values, when the device fails */
    /* write safety */
    bool     read_only;            /* every write gets 0x01 */
    struct cfg_range deny_write[CFG_MAX_RANGES]; /* writes there get 0x02 */
    unsigned n_deny_write;
    bool     write_if_changed;     /* same value again: acknowledged only */
    unsigned min_write_interval_ms; /* per register; sooner gets 0x06 */
    uint32_t allow_functions[4];   /* bit per function code 0..127: codes
                                      the write rules cannot judge, let
                                      through anyway */
    struct cfg_override overrides[CFG_MAX_OVERRIDES];
    unsigned n_overrides;
    /* rtu */
    char     device[CFG_HOST_MAX]; /* serial device path */
    unsigned baud;
    unsigned parity;               /* enum cfg_parity */
    unsigned data_bits;
    unsigned stop_bits;
    bool     rs485;                /* kernel RS485 mode (TIOCSRS485) */
    unsigned rts;                  /* enum cfg_rts */
    unsigned byte_timeout_ms;      /* silence that ends a frame */
    bool     echo;                 /* the line hears our requests */
    /* givenergy */
    unsigned block_size;           /* registers fetched per read */
    unsigned block_align;          /* blocks start at multiples of this */
    bool     split_writes;         /* FC 16 of n registers as n writes */
    unsigned keepalive_ms;         /* read something after this idle time */
    /* tcp, rtu_tcp, givenergy */
    char     host[CFG_HOST_MAX];   /* name or address of the device */
    unsigned port;
    unsigned connect_timeout_ms;
    bool     check_tid;            /* match responses on transaction id */
    /* links without transaction ids: rtu, rtu_tcp, tcp with check_tid = no */
    unsigned settle_ms;            /* quiet after each answer */
};

/* The whole file. */
struct cfg {
    char               path[256];    /* for messages */
    struct cfg_server  server;
    struct cfg_backend *backends;
    unsigned           n_backends;
    struct route       routes[256];
    unsigned           n_routes;
    struct cfg_listener *listeners;  /* [server] listen first (unless
                                        "none"), then each [listener] */
    unsigned           n_listeners;
};

struct cfg *cfg_load_file(const char *path, struct cfg_errors *errs);
struct cfg *cfg_load_string(const char *name, const char *text,
                            struct cfg_errors *errs);
void cfg_free(struct cfg *cfg);
int cfg_backend_index(const struct cfg *cfg, const char *name);
const struct cfg_listener *cfg_listener_find(const struct cfg *cfg,
                                             const char *name);
bool cfg_allows_function(const struct cfg_backend *be, uint8_t fc);

#endif /* MUX_CFG_H */

/* SPDX-License-Identifier: MIT */
/*
 * cfg.h -- the configuration as plain data. cfg.c reads an ini file with
 * inih in three passes (collect lines, interpret and validate, fill
 * defaults) and reports every error as "file:line: what is wrong". Nothing
 * here touches libuv or a socket: --check-config runs exactly this code.
 *
 * A backend section has the keys every type shares (scheduling, cache,
 * write safety: struct cfg_backend's own fields) and its type's keys,
 * which the type declares in its struct backend_ops (backend.h) as a
 * table of struct cfg_key; their values live in cfg_backend.own, laid out
 * as the type's own settings struct, which only the type reads.
 */
#ifndef MUX_CFG_H
#define MUX_CFG_H

#include <stdbool.h>
#include <stddef.h>
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

#define CFG_OWN_MAX    1024    /* bytes for a backend type's own settings */
#define CFG_LST_OWN_MAX 64     /* bytes for a front-end type's own settings */

#define CFG_MAX_OVERRIDES 8

#define CFG_MAX_RANGES 16

#define CFG_MAX_POLLS 32

/* How the value of a key is read (cfg.c converts and checks it). */
enum cfg_kind {
    CFG_UINT = 1,      /* decimal, min..max */
    CFG_BOOL,          /* yes|no, true|false, on|off, 1|0 */
    CFG_STR,           /* 1..size - 1 characters */
    CFG_LEVEL,         /* a log level, stored as enum log_level */
    CFG_LISTEN,        /* [server] listen: addresses, comma-separated */
    CFG_ENUM,          /* one of cfg_key.choices, stored as its index */
    CFG_ADDR,          /* one IPV4:PORT or [IPV6]:PORT, "" = none */
    CFG_ACL,           /* client address ranges */
    CFG_RANGES,        /* register ranges ADDR[-ADDR], comma-separated */
    CFG_OVERRIDES,     /* timeout_override */
    CFG_POLLS,         /* poll: UNIT:TABLE:START-END@MS, comma-separated */
    CFG_FUNCTIONS,     /* function codes N[-M], comma-separated */
    CFG_GROUP,         /* not a key: the keys of <group>, whose struct is
                          at <off> (tcplink's host, port, ...) */
};

/*
 * One ini key: where its value goes, its default and its bounds (pgbouncer
 * CF_ABS, redis createIntConfig). Units are in the names (timeout_ms). A
 * table ends with an entry whose name is NULL. In a backend type's table,
 * <off> is from the start of struct cfg_backend: CFG_BE() for a key every
 * type has (the type gives it its own default or range: the first entry
 * of a name wins), CFG_OWN() for one of the type's own settings.
 */
struct cfg_key {
    const char           *name;
    enum cfg_kind         kind;
    size_t                off;     /* in struct cfg_server or cfg_backend
                                      (in a group: in the group's struct) */
    size_t                size;    /* CFG_STR: buffer size; CFG_LISTEN:
                                      offset of the address count */
    const char           *def;     /* NULL: required */
    unsigned long         min, max; /* CFG_UINT bounds */
    const char           *choices; /* CFG_ENUM: "none|even|odd" */
    const struct cfg_key *group;   /* CFG_GROUP: its keys */
};

#define CFG_BE(f)       offsetof(struct cfg_backend, f)
/* One of a front-end type's own [listener] settings. */
#define CFG_LST_OWN(type, f) \
    (offsetof(struct cfg_listener, own) + offsetof(type, f))
#define CFG_OWN(type, f) (offsetof(struct cfg_backend, own) + offsetof(type, f))
/* The keys <keys> of a group whose struct is at <off> (CFG_OWN(...)). */
#define CFG_KEYS_AT(keys, off) \
    {"", CFG_GROUP, (off), 0, NULL, 0, 0, NULL, (keys)}
#define CFG_KEYS_END {NULL, 0, 0, 0, NULL, 0, 0, NULL, NULL}
/* At file scope in a type's file: its settings fit in cfg_backend.own. */
#define CFG_OWN_FITS(type)                                                  \
    _Static_assert(sizeof(type) <= CFG_OWN_MAX &&                           \
                   _Alignof(type) <= _Alignof(max_align_t),                 \
                   #type " does not fit in cfg_backend.own")
/* At file scope in a front end's file: its settings fit in
 * cfg_listener.own. */
#define CFG_LST_OWN_FITS(type)                                              \
    _Static_assert(sizeof(type) <= CFG_LST_OWN_MAX &&                       \
                   _Alignof(type) <= _Alignof(max_align_t),                 \
                   #type " does not fit in cfg_listener.own")

/* A register range, inclusive (deny_write). */
struct cfg_range {
    unsigned lo, hi;
};

/* poll: the backend reads registers lo..hi (inclusive) of table fc (1-4)
 * of unit every period_ms by itself. */
struct cfg_poll {
    uint8_t  unit, fc;
    uint16_t lo, hi;
    unsigned period_ms;
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
    char     backend[CFG_NAME_MAX]; /* its clients' unit ids are this
                                      backend's, [route] aside; "" none */
    int      backend_line;         /* of its backend key */
    int      backend_index;        /* of that backend in cfg.backends;
                                      -1 if none */
    /* the front-end type's own settings (fanout, ...): a struct of its
       file, written by cfg.c through the type's keys (cfg_lst_own()) */
    union {
        max_align_t   align;
        unsigned char bytes[CFG_LST_OWN_MAX];
    } own;
};

/* [backend NAME]: the keys every type has, and the type's own. */
struct cfg_backend {
    char     name[CFG_NAME_MAX];
    char     type[CFG_TYPE_MAX];   /* the "type =" value: a registered type */
    int      line;                 /* of the section header */
    /* scheduling, every type */
    unsigned min_spacing_ms;       /* end of response -> next request */
    unsigned timeout_ms;           /* per attempt */
    unsigned retries;              /* extra attempts, reads only */
    unsigned max_inflight;         /* requests on the wire at once */
    unsigned queue_depth;          /* queued requests before 0x06 */
    unsigned broadcast_delay_ms;   /* silence after a broadcast (the
                                      types that broadcast have the key) */
    unsigned retry_delay_ms;       /* pause before a retry, if longer */
    unsigned cache_ttl_ms;         /* reads answered from younger values */
    unsigned serve_stale_ms;       /* older values, when the device fails */
    bool     merge_reads;          /* one device read for nearby reads */
    unsigned merge_gap;            /* registers between merged ranges */
    unsigned max_read_registers;   /* registers one device read carries
                                      (x 16 bits for FC 1, 2) */
    struct cfg_poll polls[CFG_MAX_POLLS]; /* read by the backend itself */
    unsigned n_polls;
    bool     poll_learn;           /* poll what clients read, as often */
    unsigned poll_idle_s;          /* stop a poll nobody read this long */
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
    /* the type's own settings (device, host, ...): a struct of its file,
       written by cfg.c through the type's keys, read only by the type
       (cfg_own()) */
    union {
        max_align_t   align;
        unsigned char bytes[CFG_OWN_MAX];
    } own;
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
const void *cfg_backend_value(const struct cfg_backend *be, const char *key);

/* The own settings of <be>, as its type's struct (borrowed from <be>). */
static inline const void *
cfg_own(const struct cfg_backend *be)
{
    return be->own.bytes;
}

/* The own settings of listener <l>, as its type's struct. */
static inline const void *
cfg_lst_own(const struct cfg_listener *l)
{
    return l->own.bytes;
}

#endif /* MUX_CFG_H */

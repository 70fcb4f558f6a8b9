/* SPDX-License-Identifier: MIT */
/*
 * fuzz_cfg.c -- libFuzzer target for the configuration loader
 * (proxy/cfg.c, with proxy/router.c and the inih library behind it).
 *
 * Input: ini text. It is NUL-terminated in a copy and handed to
 * cfg_load_string(). A file that loads must satisfy what the rest of the
 * proxy relies on without checking again: routes inside 0..255 on both
 * sides, each client unit routed at most once, backend indexes valid,
 * every value inside its key's range, backends of a registered type, those
 * with a host key (tcp, rtu_tcp, givenergy) with a host, check_tid off
 * only with max_inflight 1, types without transaction ids one request at
 * a time, at least one listen address, each listener of a built-in
 * front-end type under a unique name with 1..8 addresses ([server] listen
 * first, unless "none"). A file that does not load must come with at
 * least one error, each "fuzz.ini:LINE: ..." and NUL-terminated.
 * LeakSanitizer catches anything either path forgets to free.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cfg.h"
#include "frontend.h"

#define MAX_TEXT 65536

#define CHECK(c)                                                        \
    do {                                                                \
        if (!(c)) {                                                     \
            fprintf(stderr, "fuzz_cfg: check failed: %s (line %d)\n",   \
                    #c, __LINE__);                                      \
            abort();                                                    \
        }                                                               \
    } while (0)

/* The value of <key> of <b> (a type's own settings, through its keys), or
 * NULL if its type has no such key. */
static const unsigned *
key_uint(const struct cfg_backend *b, const char *key)
{
    return cfg_backend_value(b, key);
}

static void
check_loaded(const struct cfg *cfg)
{
    const struct cfg_server *s = &cfg->server;
    bool routed[256] = {false};

    CHECK(s->n_listen <= CFG_MAX_LISTEN);
    for (unsigned i = 0; i < s->n_listen; i++) {
        int fam = s->listen[i].addr.ss_family;

        CHECK(fam == AF_INET || fam == AF_INET6);
        CHECK(memchr(s->listen[i].text, '\0', sizeof(s->listen[i].text)));
    }
    CHECK(s->max_clients >= 1 && s->max_clients <= 100000);
    CHECK(s->request_timeout_ms >= 10 && s->request_timeout_ms <= 600000);
    CHECK(s->idle_timeout_s <= 604800);
    CHECK(s->client_max_pending >= 1 && s->client_max_pending <= 4096);
    CHECK(s->log_level <= 4);

    CHECK(cfg->n_listeners >= 1);
    CHECK(s->n_listen == 0 || cfg->listeners[0].name[0] == '\0');
    for (unsigned i = 0; i < cfg->n_listeners; i++) {
        const struct cfg_listener *l = &cfg->listeners[i];

        CHECK(memchr(l->name, '\0', sizeof(l->name)));
        CHECK(cfg_listener_find(cfg, l->name) == l);
        CHECK(frontend_find(l->type) != NULL);
        CHECK(l->n_listen >= 1 && l->n_listen <= CFG_MAX_LISTEN);
        CHECK(l->max_clients >= 1 && l->max_clients <= 100000);
        CHECK(l->allow.n <= ACL_MAX);
    }

    CHECK(cfg->n_backends >= 1);
    for (unsigned i = 0; i < cfg->n_backends; i++) {
        const struct cfg_backend *b = &cfg->backends[i];
        const char *host = cfg_backend_value(b, "host");
        const unsigned *port = key_uint(b, "port");
        const unsigned *connect_ms = key_uint(b, "connect_timeout_ms");
        const bool *check_tid = cfg_backend_value(b, "check_tid");

        CHECK(memchr(b->name, '\0', sizeof(b->name)) && b->name[0]);
        CHECK(cfg_backend_index(cfg, b->name) == (int)i);
        CHECK(backend_find_ops(b->type) != NULL);
        CHECK(strcmp(b->type, "tcp") != 0 || host != NULL);
        CHECK(host == NULL ||
              (memchr(host, '\0', CFG_HOST_MAX) && host[0]));
        CHECK(port == NULL || (*port >= 1 && *port <= 65535));
        CHECK(b->timeout_ms >= 10 && b->timeout_ms <= 600000);
        CHECK(connect_ms == NULL || *connect_ms >= 10);
        CHECK(b->min_spacing_ms <= 600000);
        CHECK(b->retries <= 10);
        CHECK(b->max_inflight >= 1 && b->max_inflight <= 256);
        CHECK(b->queue_depth >= 1 && b->queue_depth <= 100000);
        CHECK(check_tid == NULL || *check_tid || b->max_inflight == 1);
        CHECK(check_tid != NULL || b->max_inflight == 1);
    }

    CHECK(cfg->n_routes >= 1 && cfg->n_routes <= 256);
    for (unsigned i = 0; i < cfg->n_routes; i++) {
        const struct route *r = &cfg->routes[i];

        CHECK(r->lo <= r->hi && r->hi <= 255);
        CHECK(r->be_lo + (r->hi - r->lo) <= 255);
        CHECK(r->backend >= 0 && (unsigned)r->backend < cfg->n_backends);
        for (unsigned u = r->lo; u <= r->hi; u++) {
            CHECK(!routed[u]);
            routed[u] = true;
        }
    }
}

static void
check_errors(const struct cfg_errors *errs)
{
    CHECK(errs->n >= 1 && errs->n <= CFG_MAX_ERRORS);
    CHECK(errs->dropped == 0 || errs->n == CFG_MAX_ERRORS);
    for (unsigned i = 0; i < errs->n; i++) {
        CHECK(memchr(errs->msg[i], '\0', CFG_ERR_LEN) != NULL);
        CHECK(strncmp(errs->msg[i], "fuzz.ini:", 9) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct cfg_errors errs;
    struct cfg *cfg;
    char *text;

    if (size > MAX_TEXT) {
        return 0;
    }
    text = malloc(size + 1);
    CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';

    cfg = cfg_load_string("fuzz.ini", text, &errs);
    if (cfg != NULL) {
        CHECK(errs.n == 0);
        check_loaded(cfg);
        cfg_free(cfg);
    } else {
        check_errors(&errs);
    }
    free(text);
    return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * test_cfg.c -- the configuration loader of proxy/cfg.c, driven through
 * cfg_load_string() with ini text written inline.
 *
 * A full configuration in the shape of DESIGN.md's example (tcp backends
 * only: the other types are not in this build) must load with every value
 * in place, and a minimal one with every default. Listen lists, routes,
 * comments, indented lines and CRLF files are checked on loaded configs.
 * Then a table of broken files, each with exactly one mistake, asserts the
 * exact "t.ini:LINE: " prefix and a key phrase of the one message; files
 * with several mistakes must report them all, in line order.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "cfg.h"
#include "core.h"
#include "log.h"
#include "rtu.h"

/* Errors of the last load; static because criterion runs each test in its
 * own process and the struct is 10 KB. */
static struct cfg_errors errs;

/* All messages in <errs>, one per line, for assertion messages. */
static const char *
errs_text(void)
{
    static char buf[CFG_MAX_ERRORS * (CFG_ERR_LEN + 1) + 1];
    size_t off = 0;

    buf[0] = '\0';
    for (unsigned i = 0; i < errs.n && i < CFG_MAX_ERRORS; i++) {
        off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s\n",
                                errs.msg[i]);
    }
    return buf;
}

/* Load <text>, which must be valid. */
static struct cfg *
load_ok(const char *text)
{
    struct cfg *cfg = cfg_load_string("t.ini", text, &errs);

    cr_assert_not_null(cfg, "unexpected errors:\n%s", errs_text());
    cr_assert_eq(errs.n, 0, "errors on a loaded config:\n%s", errs_text());
    return cfg;
}

/* Index of the error that starts "t.ini:<line>: " and contains <phrase>,
 * or -1. */
static int
find_error(int line, const char *phrase)
{
    char prefix[32];

    snprintf(prefix, sizeof(prefix), "t.ini:%d: ", line);
    for (unsigned i = 0; i < errs.n; i++) {
        if (strncmp(errs.msg[i], prefix, strlen(prefix)) == 0 &&
            strstr(errs.msg[i] + strlen(prefix), phrase) != NULL) {
            return (int)i;
        }
    }
    return -1;
}

/* The line number an error message starts with ("t.ini:17: ..."). */
static int
error_line(const char *msg)
{
    int line = -1;

    cr_assert_eq(sscanf(msg, "t.ini:%d:", &line), 1, "no line in \"%s\"",
                 msg);
    return line;
}

/* The value of key <key> of backend <b>: a type's own settings are a
 * struct of its file, read here through its keys. */
static const void *
key_value(const struct cfg_backend *b, const char *key)
{
    const void *v = cfg_backend_value(b, key);

    cr_assert_not_null(v, "[backend %s] has no key %s", b->name, key);
    return v;
}

static const char *
key_str(const struct cfg_backend *b, const char *key)
{
    return key_value(b, key);
}

static unsigned
key_uint(const struct cfg_backend *b, const char *key)
{
    return *(const unsigned *)key_value(b, key);
}

static bool
key_bool(const struct cfg_backend *b, const char *key)
{
    return *(const bool *)key_value(b, key);
}

/* ---------------------------------------------------------------------- */
/* Valid files */

/* DESIGN.md's example, with every backend of type tcp. */
static const char full_ini[] =
    "; modbus-mux.ini: DESIGN.md's example, tcp backends only\n"   /*  1 */
    "[server]\n"                                                    /*  2 */
    "listen = 0.0.0.0:1502, [::1]:1502   ; IPv4 and IPv6\n"         /*  3 */
    "max_clients = 200\n"                                           /*  4 */
    "request_timeout_ms = 4000       ; end-to-end deadline\n"       /*  5 */
    "idle_timeout_s = 600\n"                                        /*  6 */
    "client_max_pending = 32\n"                                     /*  7 */
    "log_level = debug               ; error | warn | info\n"       /*  8 */
    "\n"                                                            /*  9 */
    "[backend sigen]                 ; plain Modbus TCP device\n"   /* 10 */
    "type = tcp\n"                                                  /* 11 */
    "host = 192.168.1.20\n"                                         /* 12 */
    "port = 502\n"                                                  /* 13 */
    "min_spacing_ms = 1000           ; end of response -> next\n"   /* 14 */
    "timeout_ms = 1000               ; per attempt\n"               /* 15 */
    "retries = 1                     ; reads only\n"                /* 16 */
    "max_inflight = 1\n"                                            /* 17 */
    "queue_depth = 64\n"                                            /* 18 */
    "\n"                                                            /* 19 */
    "[backend bus1]                  ; device server, Modbus TCP\n" /* 20 */
    "type = tcp\n"                                                  /* 21 */
    "host = 192.168.1.30\n"                                         /* 22 */
    "port = 4196\n"                                                 /* 23 */
    "min_spacing_ms = 1000\n"                                       /* 24 */
    "timeout_ms = 2000\n"                                           /* 25 */
    "retries = 0\n"                                                 /* 26 */
    "connect_timeout_ms = 500\n"                                    /* 27 */
    "\n"                                                            /* 28 */
    "[backend giv]\n"                                               /* 29 */
    "type = tcp\n"                                                  /* 30 */
    "host = givenergy.local\n"                                      /* 31 */
    "port = 8899\n"                                                 /* 32 */
    "min_spacing_ms = 250\n"                                        /* 33 */
    "max_inflight = 4\n"                                            /* 34 */
    "queue_depth = 16\n"                                            /* 35 */
    "check_tid = yes\n"                                             /* 36 */
    "\n"                                                            /* 37 */
    "[route]\n"                                                     /* 38 */
    "; client unit(s) = backend[:backend unit(s)]\n"                /* 39 */
    "1 = giv:0x32\n"                                                /* 40 */
    "2 = giv:0x11\n"                                                /* 41 */
    "10-19 = bus1:1-10\n"                                           /* 42 */
    "20 = sigen:247\n"                                              /* 43 */
    "21 = sigen:1\n"                                                /* 44 */
    "0x30-0x3F = giv\n";                                            /* 45 */

/* Assert that <l> is <family> <addr> port <port>. */
static void
check_listen(const struct cfg_listen *l, int family, const char *addr,
             unsigned port)
{
    char got[INET6_ADDRSTRLEN];

    cr_assert_eq(l->addr.ss_family, family, "%s: family", l->text);
    if (family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&l->addr;

        cr_assert_eq(ntohs(in->sin_port), port, "%s: port", l->text);
        inet_ntop(AF_INET, &in->sin_addr, got, sizeof(got));
    } else {
        const struct sockaddr_in6 *in6 =
            (const struct sockaddr_in6 *)&l->addr;

        cr_assert_eq(ntohs(in6->sin6_port), port, "%s: port", l->text);
        inet_ntop(AF_INET6, &in6->sin6_addr, got, sizeof(got));
    }
    cr_assert_str_eq(got, addr, "%s: address", l->text);
}

Test(cfg_valid, full_design_example)
{
    struct cfg *cfg = load_ok(full_ini);
    const struct cfg_server *s = &cfg->server;
    const struct cfg_backend *b;

    cr_assert_str_eq(cfg->path, "t.ini");
    cr_assert_eq(s->n_listen, 2);
    cr_assert_str_eq(s->listen[0].text, "0.0.0.0:1502");
    check_listen(&s->listen[0], AF_INET, "0.0.0.0", 1502);
    cr_assert_str_eq(s->listen[1].text, "[::1]:1502");
    check_listen(&s->listen[1], AF_INET6, "::1", 1502);
    cr_assert_eq(s->max_clients, 200);
    cr_assert_eq(s->request_timeout_ms, 4000);
    cr_assert_eq(s->idle_timeout_s, 600);
    cr_assert_eq(s->client_max_pending, 32);
    cr_assert_eq(s->log_level, LOG_DEBUG);

    cr_assert_eq(cfg->n_backends, 3);
    b = &cfg->backends[0];
    cr_assert_str_eq(b->name, "sigen");
    cr_assert_str_eq(b->type, "tcp");
    cr_assert_eq(backend_find_ops(b->type), backend_find_ops("tcp"));
    cr_assert_eq(b->line, 10);
    cr_assert_str_eq(key_str(b, "host"), "192.168.1.20");
    cr_assert_eq(key_uint(b, "port"), 502);
    cr_assert_eq(b->min_spacing_ms, 1000);
    cr_assert_eq(b->timeout_ms, 1000);
    cr_assert_eq(b->retries, 1);
    cr_assert_eq(b->max_inflight, 1);
    cr_assert_eq(b->queue_depth, 64);
    cr_assert_eq(key_uint(b, "connect_timeout_ms"), 3000);
    cr_assert(key_bool(b, "check_tid"));

    b = &cfg->backends[1];
    cr_assert_str_eq(b->name, "bus1");
    cr_assert_eq(b->line, 20);
    cr_assert_str_eq(key_str(b, "host"), "192.168.1.30");
    cr_assert_eq(key_uint(b, "port"), 4196);
    cr_assert_eq(b->min_spacing_ms, 1000);
    cr_assert_eq(b->timeout_ms, 2000);
    cr_assert_eq(b->retries, 0);
    cr_assert_eq(key_uint(b, "connect_timeout_ms"), 500);
    cr_assert_eq(b->max_inflight, 1);
    cr_assert_eq(b->queue_depth, 64);

    b = &cfg->backends[2];
    cr_assert_str_eq(b->name, "giv");
    cr_assert_eq(b->line, 29);
    cr_assert_str_eq(key_str(b, "host"), "givenergy.local");
    cr_assert_eq(key_uint(b, "port"), 8899);
    cr_assert_eq(b->min_spacing_ms, 250);
    cr_assert_eq(b->max_inflight, 4);
    cr_assert_eq(b->queue_depth, 16);
    cr_assert_eq(b->timeout_ms, 1000);
    cr_assert(key_bool(b, "check_tid"));

    cr_assert_eq(cfg_backend_index(cfg, "sigen"), 0);
    cr_assert_eq(cfg_backend_index(cfg, "bus1"), 1);
    cr_assert_eq(cfg_backend_index(cfg, "giv"), 2);
    cr_assert_eq(cfg_backend_index(cfg, "nosuch"), -1);
    cr_assert_eq(cfg_backend_index(cfg, "Sigen"), -1);
    cfg_free(cfg);
}

Test(cfg_valid, routes)
{
    static const struct route want[] = {
        {1, 1, 0x32, 2}, {2, 2, 0x11, 2}, {10, 19, 1, 1}, {20, 20, 247, 0},
        {21, 21, 1, 0}, {0x30, 0x3F, 0x30, 2},
    };
    struct cfg *cfg = load_ok(full_ini);
    struct router r;
    int be;
    uint8_t bu;

    cr_assert_eq(cfg->n_routes, ARRAY_SIZE(want));
    for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
        const struct route *got = &cfg->routes[i];

        cr_assert_eq(got->lo, want[i].lo, "route %zu lo", i);
        cr_assert_eq(got->hi, want[i].hi, "route %zu hi", i);
        cr_assert_eq(got->be_lo, want[i].be_lo, "route %zu be_lo", i);
        cr_assert_eq(got->backend, want[i].backend, "route %zu backend", i);
    }
    /* And as the session will see them. */
    router_init(&r);
    for (unsigned i = 0; i < cfg->n_routes; i++) {
        router_add(&r, &cfg->routes[i]);
    }
    cr_assert(router_lookup(&r, 15, &be, &bu));
    cr_assert_eq(be, 1);
    cr_assert_eq(bu, 6);
    cr_assert(router_lookup(&r, 0x3A, &be, &bu));
    cr_assert_eq(be, 2);
    cr_assert_eq(bu, 0x3A);
    cr_assert_not(router_lookup(&r, 3, &be, &bu));
    cfg_free(cfg);
}

/* The smallest valid file: one backend, one route. */
static const char minimal_ini[] =
    "[backend sigen]\n"
    "type = tcp\n"
    "host = 192.168.1.20\n"
    "[route]\n"
    "1 = sigen\n";

static void
check_defaults(const struct cfg *cfg)
{
    const struct cfg_server *s = &cfg->server;
    const struct cfg_backend *b = &cfg->backends[0];

    cr_assert_eq(s->n_listen, 1);
    cr_assert_str_eq(s->listen[0].text, "0.0.0.0:502");
    check_listen(&s->listen[0], AF_INET, "0.0.0.0", 502);
    cr_assert_eq(s->max_clients, 1000);
    cr_assert_eq(s->request_timeout_ms, 5000);
    cr_assert_eq(s->idle_timeout_s, 0);
    cr_assert_eq(s->client_max_pending, 128);
    cr_assert_eq(s->log_level, LOG_INFO);

    cr_assert_eq(cfg->n_backends, 1);
    cr_assert_str_eq(b->name, "sigen");
    cr_assert_str_eq(b->type, "tcp");
    cr_assert_str_eq(key_str(b, "host"), "192.168.1.20");
    cr_assert_eq(b->min_spacing_ms, 0);
    cr_assert_eq(b->timeout_ms, 1000);
    cr_assert_eq(b->retries, 1);
    cr_assert_eq(b->max_inflight, 1);
    cr_assert_eq(b->queue_depth, 64);
    cr_assert_eq(key_uint(b, "port"), 502);
    cr_assert_eq(key_uint(b, "connect_timeout_ms"), 3000);
    cr_assert_eq(key_bool(b, "check_tid"), true);

    cr_assert_eq(cfg->n_routes, 1);
    cr_assert_eq(cfg->routes[0].lo, 1);
    cr_assert_eq(cfg->routes[0].hi, 1);
    cr_assert_eq(cfg->routes[0].be_lo, 1);
    cr_assert_eq(cfg->routes[0].backend, 0);
}

Test(cfg_valid, defaults_without_server_section)
{
    struct cfg *cfg = load_ok(minimal_ini);

    check_defaults(cfg);
    cfg_free(cfg);
}

Test(cfg_valid, defaults_with_empty_server_section)
{
    char text[512];
    struct cfg *cfg;

    snprintf(text, sizeof(text), "[server]\n\n%s", minimal_ini);
    cfg = load_ok(text);
    check_defaults(cfg);
    cfg_free(cfg);
}

/* One listen value and the addresses it must give. */
struct listen_case {
    const char *value;
    unsigned    n;
    struct {
        int         family;
        const char *addr;
        unsigned    port;
    } a[CFG_MAX_LISTEN];
};

static const struct listen_case listen_cases[] = {
    {"127.0.0.1:1502", 1, {{AF_INET, "127.0.0.1", 1502}}},
    {"0.0.0.0:502", 1, {{AF_INET, "0.0.0.0", 502}}},
    {"*:5020", 1, {{AF_INET, "0.0.0.0", 5020}}},
    {"[::1]:502", 1, {{AF_INET6, "::1", 502}}},
    {"[::]:65535", 1, {{AF_INET6, "::", 65535}}},
    {"[2001:db8::17]:1", 1, {{AF_INET6, "2001:db8::17", 1}}},
    {"0.0.0.0:502,[::]:502", 2,
     {{AF_INET, "0.0.0.0", 502}, {AF_INET6, "::", 502}}},
    {"10.0.0.1:502 , 10.0.0.2:503,  [fe80::1]:504", 3,
     {{AF_INET, "10.0.0.1", 502}, {AF_INET, "10.0.0.2", 503},
      {AF_INET6, "fe80::1", 504}}},
    {"127.0.0.1:1,127.0.0.1:2,127.0.0.1:3,127.0.0.1:4,"
     "[::1]:5,[::1]:6,[::1]:7,[::1]:8", 8,
     {{AF_INET, "127.0.0.1", 1}, {AF_INET, "127.0.0.1", 2},
      {AF_INET, "127.0.0.1", 3}, {AF_INET, "127.0.0.1", 4},
      {AF_INET6, "::1", 5}, {AF_INET6, "::1", 6}, {AF_INET6, "::1", 7},
      {AF_INET6, "::1", 8}}},
};

Test(cfg_valid, listen_lists)
{
    char text[1024];

    for (size_t i = 0; i < ARRAY_SIZE(listen_cases); i++) {
        const struct listen_case *c = &listen_cases[i];
        struct cfg *cfg;

        snprintf(text, sizeof(text), "[server]\nlisten = %s\n%s", c->value,
                 minimal_ini);
        cfg = load_ok(text);
        cr_assert_eq(cfg->server.n_listen, c->n, "\"%s\": %u addresses",
                     c->value, cfg->server.n_listen);
        for (unsigned j = 0; j < c->n; j++) {
            check_listen(&cfg->server.listen[j], c->a[j].family,
                         c->a[j].addr, c->a[j].port);
        }
        cfg_free(cfg);
    }
}

Test(cfg_valid, comments)
{
    static const char text[] =
        "# hash comment before any section\n"
        "; semicolon comment\n"
        "[server]\n"
        "# hash comment in a section\n"
        "   ; indented comment\n"
        "max_clients = 7 ; inline comment\n"
        "log_level = warn        ; another one\n"
        "[backend sigen]   ; comment after a header\n"
        "type = tcp ; only tcp\n"
        "host = 10.0.0.1   ; the device\n"
        "check_tid = no ; one at a time\n"
        "[route] ; routes\n"
        "1 = sigen:2 ; unit 2 on the device\n"
        "# trailing comment\n";
    struct cfg *cfg = load_ok(text);

    cr_assert_eq(cfg->server.max_clients, 7);
    cr_assert_eq(cfg->server.log_level, LOG_WARN);
    cr_assert_str_eq(cfg->backends[0].type, "tcp");
    cr_assert_str_eq(key_str(&cfg->backends[0], "host"), "10.0.0.1");
    cr_assert_not(key_bool(&cfg->backends[0], "check_tid"));
    cr_assert_eq(cfg->routes[0].be_lo, 2);
    cfg_free(cfg);
}

Test(cfg_valid, indented_line_is_its_own_key)
{
    static const char text[] =
        "[backend sigen]\n"
        "type = tcp\n"
        "host = 192.168.1.20\n"
        "    port = 1502\n"
        "\ttimeout_ms = 2000\n"
        "[route]\n"
        "1 = sigen\n";
    struct cfg *cfg = load_ok(text);

    cr_assert_str_eq(key_str(&cfg->backends[0], "host"), "192.168.1.20");
    cr_assert_eq(key_uint(&cfg->backends[0], "port"), 1502);
    cr_assert_eq(cfg->backends[0].timeout_ms, 2000);
    cfg_free(cfg);
}

Test(cfg_valid, crlf_line_ends)
{
    static const char text[] =
        "[server]\r\n"
        "max_clients = 9\r\n"
        "[backend sigen]\r\n"
        "type = tcp\r\n"
        "host = 192.168.1.20\r\n"
        "[route]\r\n"
        "1 = sigen:3\r\n";
    struct cfg *cfg = load_ok(text);

    cr_assert_eq(cfg->server.max_clients, 9);
    cr_assert_str_eq(key_str(&cfg->backends[0], "host"), "192.168.1.20");
    cr_assert_eq(cfg->routes[0].be_lo, 3);
    cfg_free(cfg);
}

Test(cfg_valid, no_final_newline)
{
    static const char text[] =
        "[backend sigen]\n"
        "type = tcp\n"
        "host = 192.168.1.20\n"
        "[route]\n"
        "7 = sigen";
    struct cfg *cfg = load_ok(text);

    cr_assert_eq(cfg->routes[0].lo, 7);
    cfg_free(cfg);
}

Test(cfg_valid, bool_spellings)
{
    static const struct {
        const char *v;
        bool        b;
    } c[] = {
        {"yes", true}, {"true", true}, {"on", true}, {"1", true},
        {"YES", true}, {"no", false}, {"false", false}, {"off", false},
        {"0", false}, {"No", false},
    };
    char text[256];

    for (size_t i = 0; i < ARRAY_SIZE(c); i++) {
        struct cfg *cfg;

        snprintf(text, sizeof(text), "[backend b]\ntype = tcp\nhost = h\n"
                 "check_tid = %s\n[route]\n1 = b\n", c[i].v);
        cfg = load_ok(text);
        cr_assert_eq(key_bool(&cfg->backends[0], "check_tid"), c[i].b,
                     "\"%s\"", c[i].v);
        cfg_free(cfg);
    }
}

Test(cfg_valid, uint_bounds_inclusive)
{
    static const char *const lines[] = {
        "max_clients = 1", "max_clients = 100000",
        "request_timeout_ms = 10", "request_timeout_ms = 600000",
        "idle_timeout_s = 604800", "client_max_pending = 1",
        "client_max_pending = 4096",
    };
    char text[256];

    for (size_t i = 0; i < ARRAY_SIZE(lines); i++) {
        snprintf(text, sizeof(text), "[server]\n%s\n%s", lines[i],
                 minimal_ini);
        cfg_free(load_ok(text));
    }
}

Test(cfg_valid, line_of_197_characters)
{
    char text[1024], comment[200];

    memset(comment, 'c', 197);
    comment[0] = ';';
    comment[197] = '\0';
    snprintf(text, sizeof(text), "%s\n%s", comment, minimal_ini);
    cfg_free(load_ok(text));
}

Test(cfg_valid, route_without_backend_units_keeps_them)
{
    static const char text[] =
        "[backend sigen]\n"
        "type = tcp\n"
        "host = h\n"
        "[route]\n"
        "30-39 = sigen\n"
        "0 = sigen\n"
        "255 = sigen:0\n";
    struct cfg *cfg = load_ok(text);

    cr_assert_eq(cfg->n_routes, 3);
    cr_assert_eq(cfg->routes[0].lo, 30);
    cr_assert_eq(cfg->routes[0].hi, 39);
    cr_assert_eq(cfg->routes[0].be_lo, 30);
    cr_assert_eq(cfg->routes[1].lo, 0);
    cr_assert_eq(cfg->routes[1].be_lo, 0);
    cr_assert_eq(cfg->routes[2].lo, 255);
    cr_assert_eq(cfg->routes[2].be_lo, 0);
    cfg_free(cfg);
}

Test(cfg_valid, route_leading_zero_is_decimal)
{
    /* "010" must be unit 10 (or rejected), never octal 8. */
    static const char text[] =
        "[backend sigen]\n"
        "type = tcp\n"
        "host = h\n"
        "[route]\n"
        "010 = sigen\n";
    struct cfg *cfg = cfg_load_string("t.ini", text, &errs);
    unsigned lo = 10;

    if (cfg != NULL) {
        lo = cfg->routes[0].lo;
        cfg_free(cfg);
    }
    cr_assert_eq(lo, 10, "\"010\" routed unit %u", lo);
}

Test(cfg_valid, load_file)
{
    char path[] = "/tmp/test_cfg_XXXXXX";
    int fd = mkstemp(path);
    struct cfg *cfg;

    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, full_ini, strlen(full_ini)),
                 (ssize_t)strlen(full_ini));
    close(fd);
    cfg = cfg_load_file(path, &errs);
    unlink(path);
    cr_assert_not_null(cfg, "%s", errs_text());
    cr_assert_str_eq(cfg->path, path);
    cr_assert_eq(cfg->n_backends, 3);
    cr_assert_eq(cfg->n_routes, 6);
    cfg_free(cfg);
    cfg_free(NULL);
}

/* The shipped examples in conf/ must load. */
Test(cfg_valid, conf_modbus_mux_ini)
{
    struct cfg *cfg = cfg_load_file(MUX_FIXTURES "/../../conf/modbus-mux.ini",
                                    &errs);

    cr_assert_not_null(cfg, "%s", errs_text());
    cr_assert_geq(cfg->n_backends, 1);
    cr_assert_geq(cfg->n_routes, 1);
    cfg_free(cfg);
}

/* Replace every <key> in <text> (a 16 KiB buffer) with <value>. */
static void
fill(char *text, const char *key, const char *value)
{
    size_t k = strlen(key), v = strlen(value);
    char *at;

    while ((at = strstr(text, key)) != NULL) {
        cr_assert_lt(strlen(text) + v, 16000);
        memmove(at + v, at + k, strlen(at + k) + 1);
        memcpy(at, value, v);
    }
}

Test(cfg_valid, conf_demo_ini)
{
    static char text[16384];
    size_t n;
    FILE *fp = fopen(MUX_FIXTURES "/../../conf/demo.ini", "r");
    struct cfg *cfg;

    cr_assert_not_null(fp);
    n = fread(text, 1, sizeof(text) - 1, fp);
    fclose(fp);
    text[n] = '\0';
    /* demo.sh fills in the simulators' ports and the bus's pty. */
    fill(text, "@PLANT_PORT@", "1502");
    fill(text, "@GIV_PORT@", "8899");
    fill(text, "@BUS@", "/tmp/demo/bus");
    cfg = cfg_load_string("demo.ini", text, &errs);
    cr_assert_not_null(cfg, "%s", errs_text());
    cr_assert_eq(cfg->n_backends, 3);
    cr_assert_eq(key_uint(&cfg->backends[0], "port"), 1502);
    cr_assert_str_eq(key_str(&cfg->backends[1], "device"), "/tmp/demo/bus");
    cr_assert_eq(key_uint(&cfg->backends[2], "port"), 8899);
    cfg_free(cfg);
}

Test(cfg_errors, load_file_errors_name_the_path)
{
    char path[] = "/tmp/test_cfg_XXXXXX";
    char prefix[64];
    static const char text[] = "[server]\nmax_clients = 0\n";
    int fd = mkstemp(path);

    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    cr_assert_null(cfg_load_file(path, &errs));
    unlink(path);
    snprintf(prefix, sizeof(prefix), "%s:2: [server] max_clients", path);
    cr_assert_geq(errs.n, 1);
    cr_assert(strncmp(errs.msg[0], prefix, strlen(prefix)) == 0, "%s",
              errs.msg[0]);
}

Test(cfg_errors, missing_file)
{
    cr_assert_null(cfg_load_file("/nonexistent/modbus-mux.ini", &errs));
    cr_assert_eq(errs.n, 1);
    cr_assert(strncmp(errs.msg[0], "/nonexistent/modbus-mux.ini: cannot open",
                      40) == 0, "%s", errs.msg[0]);
}

/* ---------------------------------------------------------------------- */
/* Files with exactly one mistake */

/* The rest of a valid file, after a [server] section under test. */
#define TAIL_BACKEND_ROUTE \
    "[backend sigen]\n"    \
    "type = tcp\n"         \
    "host = 192.168.1.20\n" \
    "[route]\n"            \
    "1 = sigen\n"

/* Line 1..3 of a file whose backend section is under test. */
#define HEAD_BACKEND       \
    "[backend sigen]\n"    \
    "type = tcp\n"         \
    "host = 192.168.1.20\n"

#define RTU_BACKEND        \
    "[backend sigen]\n"    \
    "type = rtu\n"         \
    "device = /dev/ttyUSB0\n"

#define TAIL_ROUTE "[route]\n1 = sigen\n"

/* Two backends on lines 1..6, [route] on line 7: routes start on line 8. */
#define HEAD_ROUTES        \
    "[backend sigen]\n"    \
    "type = tcp\n"         \
    "host = 192.168.1.20\n" \
    "[backend bus1]\n"     \
    "type = tcp\n"         \
    "host = 192.168.1.30\n" \
    "[route]\n"

/* A file, the line of its one error and a phrase the message contains. */
struct err_case {
    const char *name;
    const char *text;
    int         line;
    const char *phrase;
};

static const struct err_case err_cases[] = {
    /* [server] keys and values */
    {"unknown server key", "[server]\nfoo = 1\n" TAIL_BACKEND_ROUTE, 2,
     "[server] foo: unknown key"},
    {"duplicate key",
     "[server]\nmax_clients = 10\nmax_clients = 20\n" TAIL_BACKEND_ROUTE, 3,
     "[server] max_clients: duplicate key (first set at line 2)"},
    {"uint 0", "[server]\nmax_clients = 0\n" TAIL_BACKEND_ROUTE, 2,
     "[server] max_clients: invalid value \"0\" (expected 1..100000)"},
    {"uint past max", "[server]\nmax_clients = 100001\n" TAIL_BACKEND_ROUTE,
     2, "invalid value \"100001\" (expected 1..100000)"},
    {"uint letters", "[server]\nmax_clients = abc\n" TAIL_BACKEND_ROUTE, 2,
     "invalid value \"abc\" (expected 1..100000)"},
    {"uint negative", "[server]\nmax_clients = -1\n" TAIL_BACKEND_ROUTE, 2,
     "invalid value \"-1\" (expected 1..100000)"},
    {"uint trailing junk", "[server]\nmax_clients = 12abc\n"
     TAIL_BACKEND_ROUTE, 2, "invalid value \"12abc\" (expected 1..100000)"},
    {"uint hex", "[server]\nmax_clients = 0x10\n" TAIL_BACKEND_ROUTE, 2,
     "invalid value \"0x10\" (expected 1..100000)"},
    {"uint overflow", "[server]\nmax_clients = 99999999999999999999999\n"
     TAIL_BACKEND_ROUTE, 2, "(expected 1..100000)"},
    {"uint empty", "[server]\nmax_clients =\n" TAIL_BACKEND_ROUTE, 2,
     "invalid value \"\" (expected 1..100000)"},
    {"uint 2^32 + 1", "[server]\nmax_clients = 4294967297\n"
     TAIL_BACKEND_ROUTE, 2, "(expected 1..100000)"},
    {"request_timeout_ms too small", "[server]\nrequest_timeout_ms = 9\n"
     TAIL_BACKEND_ROUTE, 2,
     "[server] request_timeout_ms: invalid value \"9\" (expected 10..600000)"},
    {"idle_timeout_s too big", "[server]\nidle_timeout_s = 604801\n"
     TAIL_BACKEND_ROUTE, 2, "(expected 0..604800)"},
    {"client_max_pending too big", "[server]\nclient_max_pending = 4097\n"
     TAIL_BACKEND_ROUTE, 2, "(expected 1..4096)"},
    {"bad log level", "[server]\nlog_level = verbose\n" TAIL_BACKEND_ROUTE, 2,
     "[server] log_level: invalid value \"verbose\" (expected error, warn, "
     "info, debug or trace)"},
    {"listen without port", "[server]\nlisten = 1.2.3.4\n"
     TAIL_BACKEND_ROUTE, 2,
     "[server] listen: invalid address \"1.2.3.4\""},
    {"listen bad IPv4", "[server]\nlisten = 1.2.3.400:502\n"
     TAIL_BACKEND_ROUTE, 2, "invalid address \"1.2.3.400:502\""},
    {"listen port too big", "[server]\nlisten = 127.0.0.1:65536\n"
     TAIL_BACKEND_ROUTE, 2, "invalid address \"127.0.0.1:65536\""},
    {"listen empty port", "[server]\nlisten = 127.0.0.1:\n"
     TAIL_BACKEND_ROUTE, 2, "invalid address \"127.0.0.1:\""},
    {"listen IPv6 without brackets", "[server]\nlisten = ::1:502\n"
     TAIL_BACKEND_ROUTE, 2, "invalid address \"::1:502\""},
    {"listen IPv6 without ]", "[server]\nlisten = [::1:502\n"
     TAIL_BACKEND_ROUTE, 2, "invalid address \"[::1:502\""},
    {"listen host name", "[server]\nlisten = localhost:502\n"
     TAIL_BACKEND_ROUTE, 2, "invalid address \"localhost:502\""},
    {"listen second item bad", "[server]\nlisten = 127.0.0.1:502, bogus\n"
     TAIL_BACKEND_ROUTE, 2, "invalid address \"bogus\""},
    {"listen empty", "[server]\nlisten =\n" TAIL_BACKEND_ROUTE, 2,
     "[server] listen: invalid address"},
    {"listen nine addresses",
     "[server]\nlisten = 127.0.0.1:1,127.0.0.1:2,127.0.0.1:3,127.0.0.1:4,"
     "127.0.0.1:5,127.0.0.1:6,127.0.0.1:7,127.0.0.1:8,127.0.0.1:9\n"
     TAIL_BACKEND_ROUTE, 2, "invalid address \"127.0.0.1:9\""},
    /* [backend NAME] keys and values */
    {"unknown backend key", HEAD_BACKEND "speed = 9600\n" TAIL_ROUTE, 4,
     "[backend sigen] speed: unknown key"},
    {"serial key on tcp", HEAD_BACKEND "baud = 9600\n" TAIL_ROUTE, 4,
     "[backend sigen] baud: not a key of type tcp"},
    {"duplicate backend key", HEAD_BACKEND "host = 192.168.1.21\n" TAIL_ROUTE,
     4, "[backend sigen] host: duplicate key (first set at line 3)"},
    {"timeout_ms too small", HEAD_BACKEND "timeout_ms = 5\n" TAIL_ROUTE, 4,
     "[backend sigen] timeout_ms: invalid value \"5\" (expected 10..600000)"},
    {"port 0", HEAD_BACKEND "port = 0\n" TAIL_ROUTE, 4,
     "[backend sigen] port: invalid value \"0\" (expected 1..65535)"},
    {"port 70000", HEAD_BACKEND "port = 70000\n" TAIL_ROUTE, 4,
     "(expected 1..65535)"},
    {"retries 11", HEAD_BACKEND "retries = 11\n" TAIL_ROUTE, 4,
     "[backend sigen] retries: invalid value \"11\" (expected 0..10)"},
    {"max_inflight 0", HEAD_BACKEND "max_inflight = 0\n" TAIL_ROUTE, 4,
     "(expected 1..256)"},
    {"queue_depth 0", HEAD_BACKEND "queue_depth = 0\n" TAIL_ROUTE, 4,
     "(expected 1..100000)"},
    {"min_spacing_ms too big", HEAD_BACKEND "min_spacing_ms = 600001\n"
     TAIL_ROUTE, 4, "(expected 0..600000)"},
    {"connect_timeout_ms too small", HEAD_BACKEND "connect_timeout_ms = 9\n"
     TAIL_ROUTE, 4, "(expected 10..600000)"},
    {"bad bool", HEAD_BACKEND "check_tid = maybe\n" TAIL_ROUTE, 4,
     "[backend sigen] check_tid: invalid value \"maybe\" (expected yes or "
     "no)"},
    {"check_tid no with max_inflight 2",
     HEAD_BACKEND "check_tid = no\nmax_inflight = 2\n" TAIL_ROUTE, 1,
     "[backend sigen] check_tid: \"no\" needs max_inflight = 1"},
    {"missing type", "[backend sigen]\nhost = 192.168.1.20\n" TAIL_ROUTE, 1,
     "[backend sigen]: missing key \"type\""},
    {"rtu without device", "[backend sigen]\ntype = rtu\n" TAIL_ROUTE, 1,
     "[backend sigen]: missing key \"device\" (required for type rtu)"},
    {"host on rtu", RTU_BACKEND "host = 1.2.3.4\n" TAIL_ROUTE, 4,
     "[backend sigen] host: not a key of type rtu"},
    {"rtu_tcp without host", "[backend sigen]\ntype = rtu_tcp\n" TAIL_ROUTE,
     1, "missing key \"host\" (required for type rtu_tcp)"},
    {"bad parity", RTU_BACKEND "parity = mark\n" TAIL_ROUTE, 4,
     "[backend sigen] parity: invalid value \"mark\" (expected "
     "none|even|odd)"},
    {"bad rts", RTU_BACKEND "rts = sideways\n" TAIL_ROUTE, 4,
     "(expected none|up|down)"},
    {"baud too low", RTU_BACKEND "baud = 96OO\n" TAIL_ROUTE, 4,
     "[backend sigen] baud: invalid value \"96OO\" (expected 1200..921600)"},
    {"data_bits 9", RTU_BACKEND "data_bits = 9\n" TAIL_ROUTE, 4,
     "(expected 5..8)"},
    {"stop_bits 3", RTU_BACKEND "stop_bits = 3\n" TAIL_ROUTE, 4,
     "(expected 1..2)"},
    {"byte_timeout_ms 0", RTU_BACKEND "byte_timeout_ms = 0\n" TAIL_ROUTE, 4,
     "(expected 1..10000)"},
    {"rtu max_inflight 2", RTU_BACKEND "max_inflight = 2\n" TAIL_ROUTE, 4,
     "[backend sigen] max_inflight: invalid value \"2\" (expected 1..1)"},
    {"check_tid on rtu", RTU_BACKEND "check_tid = no\n" TAIL_ROUTE, 4,
     "check_tid: not a key of type rtu"},
    {"poll without a table", HEAD_BACKEND "cache_ttl_ms = 1000\n"
     "poll = 1:0-9@1000\n" TAIL_ROUTE, 5, "[backend sigen] poll: invalid "
     "poll \"1:0-9@1000\""},
    {"poll of unit 0", HEAD_BACKEND "cache_ttl_ms = 1000\n"
     "poll = 0:holding:0-9@1000\n" TAIL_ROUTE, 5, "invalid poll"},
    {"poll too often", HEAD_BACKEND "cache_ttl_ms = 1000\n"
     "poll = 1:input:0-9@50\n" TAIL_ROUTE, 5, "invalid poll"},
    {"poll without the cache", HEAD_BACKEND "poll = 1:holding:0-9@1000\n"
     TAIL_ROUTE, 1, "poll, poll_learn: they keep the cache fresh"},
    {"max_read_registers 126", HEAD_BACKEND "max_read_registers = 126\n"
     TAIL_ROUTE, 4, "max_read_registers: invalid value \"126\""},
    {"override without ms", HEAD_BACKEND "timeout_override = 0x3002\n"
     TAIL_ROUTE, 4, "[backend sigen] timeout_override: invalid range "
     "\"0x3002\""},
    {"override reversed", HEAD_BACKEND "timeout_override = 10-5:1000\n"
     TAIL_ROUTE, 4, "invalid range \"10-5:1000\""},
    {"override address too big", HEAD_BACKEND
     "timeout_override = 65536:1000\n" TAIL_ROUTE, 4,
     "invalid range \"65536:1000\""},
    {"override ms too small", HEAD_BACKEND "timeout_override = 1:5\n"
     TAIL_ROUTE, 4, "invalid range \"1:5\""},
    {"override second item bad", HEAD_BACKEND
     "timeout_override = 1:100, x:100\n" TAIL_ROUTE, 4,
     "invalid range \"x:100\""},
    {"givenergy without host", "[backend sigen]\ntype = givenergy\n"
     TAIL_ROUTE, 1, "missing key \"host\" (required for type givenergy)"},
    {"givenergy block_size 61", "[backend sigen]\ntype = givenergy\nhost = h\n"
     "block_size = 61\n" TAIL_ROUTE, 4, "(expected 1..60)"},
    {"block_size on tcp", HEAD_BACKEND "block_size = 30\n" TAIL_ROUTE, 4,
     "block_size: not a key of type tcp"},
    {"allow not an address", "[server]\nallow = 10.0.0.0/8, lan\n"
     TAIL_BACKEND_ROUTE, 2, "[server] allow: invalid address range \"lan\""},
    {"read_only_clients bad prefix", "[server]\nread_only_clients = "
     "10.0.0.0/40\n" TAIL_BACKEND_ROUTE, 2, "invalid address range"},
    {"deny_write empty item", HEAD_BACKEND "deny_write = 1,,2\n"
     TAIL_ROUTE, 4, "[backend sigen] deny_write: invalid range \"\""},
    {"deny_write junk after", HEAD_BACKEND "deny_write = 1-2 x\n"
     TAIL_ROUTE, 4, "invalid range \"1-2 x\""},
    {"deny_write 17 ranges", HEAD_BACKEND "deny_write = 1,2,3,4,5,6,7,8,9,"
     "10,11,12,13,14,15,16,17\n" TAIL_ROUTE, 4, "invalid range \"17\""},
    {"override 9 ranges", HEAD_BACKEND "timeout_override = 1:10,2:10,3:10,"
     "4:10,5:10,6:10,7:10,8:10,9:10\n" TAIL_ROUTE, 4,
     "invalid range \"9:10\""},
    {"deny_write reversed", HEAD_BACKEND "deny_write = 0x30C2-0x3000\n"
     TAIL_ROUTE, 4, "[backend sigen] deny_write: invalid range"},
    {"allow_functions a judged write", HEAD_BACKEND
     "allow_functions = 8, 6\n" TAIL_ROUTE, 4, "[backend sigen] "
     "allow_functions: invalid function code \"6\" (expected N or N-M, "
     "1..127"},
    {"allow_functions a range over a judged write", HEAD_BACKEND
     "allow_functions = 20-30\n" TAIL_ROUTE, 4,
     "invalid function code \"20-30\""},
    {"allow_functions 0", HEAD_BACKEND "allow_functions = 0\n" TAIL_ROUTE,
     4, "invalid function code \"0\""},
    {"allow_functions 128", HEAD_BACKEND "allow_functions = 100-128\n"
     TAIL_ROUTE, 4, "invalid function code \"100-128\""},
    {"allow_functions letters", HEAD_BACKEND "allow_functions = diag\n"
     TAIL_ROUTE, 4, "invalid function code \"diag\""},
    {"allow_functions empty item", HEAD_BACKEND "allow_functions = 8,,21\n"
     TAIL_ROUTE, 4, "invalid function code \"\""},
    {"http_listen bad", "[server]\nhttp_listen = localhost:80\n"
     TAIL_BACKEND_ROUTE, 2, "[server] http_listen: invalid address"},
    {"type TCP", "[backend sigen]\ntype = TCP\nhost = 1.2.3.4\n" TAIL_ROUTE,
     2, "unknown backend type \"TCP\""},
    {"type empty", "[backend sigen]\ntype =\nhost = 1.2.3.4\n" TAIL_ROUTE, 2,
     "unknown backend type \"\""},
    {"missing host", "[backend sigen]\ntype = tcp\n" TAIL_ROUTE, 1,
     "[backend sigen]: missing key \"host\" (required for type tcp)"},
    /* An RTU key in a tcp backend: "unknown key" or "not a key of type
     * tcp" are both right, so only the common part is asserted. */
    {"key of another type", HEAD_BACKEND "device = /dev/ttyUSB0\n"
     TAIL_ROUTE, 4, "[backend sigen] device: "},
    {"invalid backend name",
     "[backend bad.name]\ntype = tcp\nhost = h\n" HEAD_BACKEND TAIL_ROUTE, 1,
     "[backend bad.name]: invalid backend name \"bad.name\""},
    {"backend name too long",
     "[backend n234567890123456789012345678901x]\ntype = tcp\nhost = h\n"
     HEAD_BACKEND TAIL_ROUTE, 1,
     "invalid backend name \"n234567890123456789012345678901x\""},
    {"duplicate backend",
     HEAD_BACKEND "[backend sigen]\nport = 1502\n" TAIL_ROUTE, 4,
     "[backend sigen]: duplicate backend (first at line 1)"},
    /* Sections */
    {"unknown section", "[serverx]\nfoo = 1\n" TAIL_BACKEND_ROUTE, 1,
     "unknown section [serverx]"},
    {"bare [backend]", "[backend]\ntype = tcp\n" TAIL_BACKEND_ROUTE, 1,
     "unknown section [backend]"},
    {"duplicate [server]",
     "[server]\nmax_clients = 10\n[server]\nlog_level = debug\n"
     TAIL_BACKEND_ROUTE, 3, "duplicate section [server] (first at line 1)"},
    {"duplicate [route]", HEAD_BACKEND TAIL_ROUTE "[route]\n2 = sigen\n", 6,
     "duplicate section [route] (first at line 4)"},
    {"key outside any section", "max_clients = 5\n" TAIL_BACKEND_ROUTE, 1,
     "max_clients: key outside of any section"},
    /* Routes */
    {"route to unknown backend", HEAD_ROUTES "1 = nosuch\n2 = sigen\n", 8,
     "[route] 1: unknown backend \"nosuch\""},
    {"overlapping routes", HEAD_ROUTES "1-10 = sigen\n5 = bus1:1\n", 9,
     "[route] 5: unit 5 is already routed at line 8"},
    {"overlapping ranges",
     HEAD_ROUTES "1-10 = sigen\n11 = sigen\n0x0A-0x14 = bus1\n", 10,
     "unit 10 is already routed at line 8"},
    {"same unit in hex", HEAD_ROUTES "20 = sigen:247\n0x14 = bus1\n", 9,
     "[route] 0x14: unit 20 is already routed at line 8"},
    {"unequal range lengths", HEAD_ROUTES "10-19 = bus1:1-5\n", 8,
     "[route] 10-19: 10 client units map onto 5 backend units"},
    {"range onto one unit", HEAD_ROUTES "10-19 = bus1:3\n", 8,
     "10 client units map onto 1 backend units"},
    {"unit 256", HEAD_ROUTES "256 = sigen\n", 8,
     "[route] 256: invalid unit or range"},
    {"unit letters", HEAD_ROUTES "x = sigen\n", 8,
     "[route] x: invalid unit or range"},
    {"reversed range", HEAD_ROUTES "19-10 = sigen\n", 8,
     "[route] 19-10: invalid unit or range"},
    {"target with empty units", HEAD_ROUTES "1 = sigen:\n", 8,
     "[route] 1: invalid target \"sigen:\""},
    {"target with bad units", HEAD_ROUTES "1 = sigen:x\n", 8,
     "invalid target \"sigen:x\""},
    {"target without name", HEAD_ROUTES "1 = :3\n", 8,
     "invalid target \":3\""},
    {"no routes at all", "[server]\n" HEAD_BACKEND, 0, "[route]: no routes"},
    {"empty [route]", HEAD_BACKEND "[route]\n", 0, "[route]: no routes"},
    /* Line syntax */
    {"line without =", "[server]\njust some words\n" TAIL_BACKEND_ROUTE, 2,
     "syntax error: expected \"key = value\" or \"[section]\", got \"just "
     "some words\""},
    {"header without ]", "[server]\nmax_clients = 5\n[server\n"
     TAIL_BACKEND_ROUTE, 3, "syntax error: section header without ']'"},
};

/* Each of the <n> files of <cases> must fail with exactly its one error:
 * "t.ini:LINE: ...PHRASE..." (LINE 0: only the file name is fixed). */
static void
check_one_error_each(const struct err_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct err_case *c = &cases[i];
        struct cfg *cfg = cfg_load_string("t.ini", c->text, &errs);

        cr_assert_null(cfg, "%s: loaded", c->name);
        cr_assert_eq(errs.n, 1, "%s: %u errors, expected 1:\n%s", c->name,
                     errs.n, errs_text());
        if (c->line == 0) {
            /* Not about one line: only the file name is fixed. */
            cr_assert(strncmp(errs.msg[0], "t.ini:", 6) == 0 &&
                      strstr(errs.msg[0], c->phrase) != NULL,
                      "%s: got \"%s\"", c->name, errs.msg[0]);
            continue;
        }
        cr_assert_geq(find_error(c->line, c->phrase), 0,
                      "%s: expected \"t.ini:%d: ...%s...\", got:\n%s",
                      c->name, c->line, c->phrase, errs_text());
    }
}

Test(cfg_errors, one_mistake_each)
{
    check_one_error_each(err_cases, ARRAY_SIZE(err_cases));
}

Test(cfg_errors, empty_host)
{
    static const char text[] =
        "[backend sigen]\n"
        "type = tcp\n"
        "host =\n"
        TAIL_ROUTE;

    cr_assert_null(cfg_load_string("t.ini", text, &errs));
    cr_assert_geq(find_error(3, "[backend sigen] host: invalid value \"\""),
                  0, "%s", errs_text());
}

Test(cfg_errors, line_too_long)
{
    char text[4096], longline[1100];
    struct cfg *cfg;

    /* 198 characters: one more than the limit; a comment is no excuse. */
    memset(longline, 'c', 198);
    longline[0] = ';';
    longline[198] = '\0';
    snprintf(text, sizeof(text), "[server]\n%s\nfoo = 1\n%s", longline,
             TAIL_BACKEND_ROUTE);
    cfg = cfg_load_string("t.ini", text, &errs);
    cr_assert_null(cfg);
    cr_assert_eq(errs.n, 2, "%s", errs_text());
    cr_assert_geq(find_error(2, "line too long (198 characters, at most "
                             "197)"), 0, "%s", errs_text());
    /* Lines after it are still counted right. */
    cr_assert_geq(find_error(3, "[server] foo: unknown key"), 0, "%s",
                  errs_text());
}

Test(cfg_errors, very_long_lines)
{
    /* Key lines longer than the reader's 800-byte line buffer: 801 and 810
     * end just past it, 1000 well past it. */
    static const size_t lens[] = {799, 800, 801, 810, 1000};
    char text[4096], longline[1100], phrase[64];

    for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
        memcpy(longline, "host = ", 7);
        memset(longline + 7, 'h', lens[i] - 7);
        longline[lens[i]] = '\0';
        snprintf(text, sizeof(text), "[backend sigen]\ntype = tcp\n%s\n"
                 "host = 192.168.1.20\n[route]\n1 = sigen\n", longline);
        cr_assert_null(cfg_load_string("t.ini", text, &errs));
        cr_assert_eq(errs.n, 1, "%s", errs_text());
        snprintf(phrase, sizeof(phrase), "line too long (%zu characters",
                 lens[i]);
        cr_assert_geq(find_error(3, phrase), 0, "%s", errs_text());
    }
}

/* ---------------------------------------------------------------------- */
/* Files with several mistakes */

static const char many_ini[] =
    "[server]\n"                       /*  1 */
    "max_clients = 0\n"                /*  2  bad value */
    "log_level = loud\n"               /*  3  bad level */
    "this line has no equals\n"        /*  4  syntax */
    "[backend sigen]\n"                /*  5 */
    "type = tcp\n"                     /*  6 */
    "host = 192.168.1.20\n"            /*  7 */
    "port = 99999\n"                   /*  8  bad value */
    "speed = 9600\n"                   /*  9  unknown key */
    "[route]\n"                        /* 10 */
    "1 = sigen\n"                      /* 11 */
    "2 = nosuch\n"                     /* 12  unknown backend */
    "1 = sigen:2\n";                   /* 13  duplicate key */

static const int many_lines[] = {2, 3, 4, 8, 9, 12, 13};

Test(cfg_errors, several_all_reported)
{
    bool seen[ARRAY_SIZE(many_lines)] = {false};

    cr_assert_null(cfg_load_string("t.ini", many_ini, &errs));
    cr_assert_eq(errs.n, ARRAY_SIZE(many_lines), "%u errors:\n%s", errs.n,
                 errs_text());
    cr_assert_eq(errs.dropped, 0);
    for (unsigned i = 0; i < errs.n; i++) {
        int line = error_line(errs.msg[i]);
        bool found = false;

        for (size_t j = 0; j < ARRAY_SIZE(many_lines); j++) {
            if (many_lines[j] == line && !seen[j]) {
                seen[j] = found = true;
                break;
            }
        }
        cr_assert(found, "unexpected error: %s", errs.msg[i]);
    }
    cr_assert_geq(find_error(2, "max_clients: invalid value \"0\""), 0);
    cr_assert_geq(find_error(3, "log_level: invalid value \"loud\""), 0);
    cr_assert_geq(find_error(4, "syntax error"), 0);
    cr_assert_geq(find_error(8, "port: invalid value \"99999\""), 0);
    cr_assert_geq(find_error(9, "speed: unknown key"), 0);
    cr_assert_geq(find_error(12, "unknown backend \"nosuch\""), 0);
    cr_assert_geq(find_error(13, "duplicate key (first set at line 11)"), 0);
}

Test(cfg_errors, several_in_line_order)
{
    cr_assert_null(cfg_load_string("t.ini", many_ini, &errs));
    cr_assert_eq(errs.n, ARRAY_SIZE(many_lines), "%s", errs_text());
    for (unsigned i = 0; i < errs.n; i++) {
        cr_assert_eq(error_line(errs.msg[i]), many_lines[i],
                     "error %u is not in line order:\n%s", i, errs_text());
    }
}

Test(cfg_errors, backend_errors_in_line_order)
{
    /* The missing host belongs to the header (line 1) and comes before
     * the bad port on line 3. */
    static const char text[] =
        "[backend sigen]\n"            /* 1  missing host */
        "type = tcp\n"                 /* 2 */
        "port = 0\n"                   /* 3  bad value */
        "[route]\n"
        "1 = sigen\n";

    cr_assert_null(cfg_load_string("t.ini", text, &errs));
    cr_assert_eq(errs.n, 2, "%s", errs_text());
    cr_assert_geq(find_error(1, "missing key \"host\""), 0, "%s",
                  errs_text());
    cr_assert_geq(find_error(3, "port: invalid value \"0\""), 0, "%s",
                  errs_text());
    cr_assert_eq(error_line(errs.msg[0]), 1, "not in line order:\n%s",
                 errs_text());
}

Test(cfg_errors, too_many_are_counted)
{
    char text[8192];
    size_t off = 0;

    off += (size_t)snprintf(text + off, sizeof(text) - off, "[server]\n");
    for (int i = 0; i < CFG_MAX_ERRORS + 8; i++) {
        off += (size_t)snprintf(text + off, sizeof(text) - off,
                                "bad line %d\n", i);
    }
    snprintf(text + off, sizeof(text) - off, "%s", TAIL_BACKEND_ROUTE);
    cr_assert_null(cfg_load_string("t.ini", text, &errs));
    cr_assert_eq(errs.n, CFG_MAX_ERRORS);
    cr_assert_eq(errs.dropped, 8);
    cr_assert_geq(find_error(2, "syntax error"), 0, "%s", errs_text());
}

Test(cfg_errors, errors_reset_between_loads)
{
    cr_assert_null(cfg_load_string("t.ini", many_ini, &errs));
    cr_assert_gt(errs.n, 0);
    cfg_free(load_ok(minimal_ini));
    cr_assert_eq(errs.n, 0);
    cr_assert_eq(errs.dropped, 0);
}

Test(cfg_valid, rtu_and_rtu_tcp_keys_and_defaults)
{
    static const char text[] =
        "[backend bus1]\n"
        "type = rtu\n"
        "device = /dev/ttyUSB0\n"
        "baud = 19200\n"
        "parity = even\n"
        "stop_bits = 2\n"
        "rs485 = yes\n"
        "rts = down\n"
        "timeout_override = 0x3002-0x3010:10000, 100:2500\n"
        "[backend gw]\n"
        "type = rtu_tcp\n"
        "host = gw.local\n"
        "port = 4196\n"
        "[route]\n"
        "1-2 = bus1\n"
        "3 = gw:1\n";
    struct cfg *cfg = cfg_load_string("t.ini", text, &errs);
    const struct cfg_backend *b, *g;

    cr_assert_not_null(cfg, "%s", errs_text());
    b = &cfg->backends[0];
    g = &cfg->backends[1];
    cr_assert_str_eq(b->type, "rtu");
    cr_assert_str_eq(key_str(b, "device"), "/dev/ttyUSB0");
    cr_assert_eq(key_uint(b, "baud"), 19200);
    cr_assert_eq(key_uint(b, "parity"), RTU_PARITY_EVEN);
    cr_assert_eq(key_uint(b, "data_bits"), 8);
    cr_assert_eq(key_uint(b, "stop_bits"), 2);
    cr_assert(key_bool(b, "rs485"));
    cr_assert_eq(key_uint(b, "rts"), RTU_RTS_DOWN);
    cr_assert_eq(key_uint(b, "byte_timeout_ms"), 100);
    cr_assert_eq(b->broadcast_delay_ms, 100, "rtu default");
    cr_assert_eq(b->max_inflight, 1);
    cr_assert_eq(b->n_overrides, 2);
    cr_assert_eq(b->overrides[0].lo, 0x3002);
    cr_assert_eq(b->overrides[0].hi, 0x3010);
    cr_assert_eq(b->overrides[0].timeout_ms, 10000);
    cr_assert_eq(b->overrides[1].lo, 100);
    cr_assert_eq(b->overrides[1].hi, 100);
    cr_assert_eq(b->overrides[1].timeout_ms, 2500);
    cr_assert_str_eq(g->type, "rtu_tcp");
    cr_assert_str_eq(key_str(g, "host"), "gw.local");
    cr_assert_eq(key_uint(g, "port"), 4196);
    cr_assert_eq(key_uint(g, "connect_timeout_ms"), 3000);
    cr_assert_eq(key_uint(g, "byte_timeout_ms"), 500,
                 "a network hop adds jitter");
    cr_assert_eq(g->n_overrides, 0);
    cfg_free(cfg);
}

/* deny_write and timeout_override read their lists with one item reader. */
Test(cfg_valid, register_lists_share_one_grammar)
{
    static const char text[] =
        "[backend sigen]\n"
        "type = tcp\n"
        "host = h\n"
        "deny_write = 0x0640 ,  0x3000 -0x30C2,7,\n"
        "timeout_override = 5 - 6 :100 ,0x10:200,\n"
        "[route]\n"
        "1 = sigen\n";
    struct cfg *cfg = load_ok(text);
    const struct cfg_backend *b = &cfg->backends[0];

    cr_assert_eq(b->n_deny_write, 3, "a trailing comma ends the list");
    cr_assert_eq(b->deny_write[0].lo, 0x0640);
    cr_assert_eq(b->deny_write[0].hi, 0x0640);
    cr_assert_eq(b->deny_write[1].lo, 0x3000);
    cr_assert_eq(b->deny_write[1].hi, 0x30C2);
    cr_assert_eq(b->deny_write[2].lo, 7);
    cr_assert_eq(b->n_overrides, 2);
    cr_assert_eq(b->overrides[0].lo, 5);
    cr_assert_eq(b->overrides[0].hi, 6);
    cr_assert_eq(b->overrides[0].timeout_ms, 100);
    cr_assert_eq(b->overrides[1].lo, 0x10);
    cr_assert_eq(b->overrides[1].timeout_ms, 200);
    cfg_free(cfg);
}

Test(cfg_valid, allow_functions)
{
    static const char text[] =
        "[backend sigen]\n"
        "type = tcp\n"
        "host = h\n"
        "allow_functions = 8, 21 ,0x41-72, 100 - 0x6E,\n"
        "[backend bus1]\n"
        "type = rtu\n"
        "device = /dev/ttyUSB0\n"
        "[route]\n"
        "1 = sigen\n";
    struct cfg *cfg = load_ok(text);
    const struct cfg_backend *b = &cfg->backends[0];

    for (unsigned fc = 0; fc < 256; fc++) {
        bool want = fc == 8 || fc == 21 || (fc >= 65 && fc <= 72) ||
                    (fc >= 100 && fc <= 110);

        cr_assert_eq(cfg_allows_function(b, (uint8_t)fc), want, "fc %u", fc);
        cr_assert_not(cfg_allows_function(&cfg->backends[1], (uint8_t)fc),
                      "default: none (fc %u)", fc);
    }
    cfg_free(cfg);
}

Test(cfg_valid, givenergy_defaults_follow_the_dongle)
{
    static const char text[] =
        "[backend giv]\n"
        "type = givenergy\n"
        "host = 192.168.1.40\n"
        "[backend sigen]\n"
        "type = tcp\n"
        "host = 192.168.1.20\n"
        "cache_ttl_ms = 2000\n"
        "serve_stale_ms = 60000\n"
        "[route]\n"
        "1 = giv:0x32\n"
        "2 = giv:0x11\n"
        "3 = sigen:247\n";
    struct cfg *cfg = cfg_load_string("t.ini", text, &errs);
    const struct cfg_backend *g, *t;

    cr_assert_not_null(cfg, "%s", errs_text());
    g = &cfg->backends[0];
    t = &cfg->backends[1];
    cr_assert_eq(key_uint(g, "port"), 8899);
    cr_assert_eq(g->min_spacing_ms, 250);
    cr_assert_eq(g->timeout_ms, 3000);
    cr_assert_eq(g->retry_delay_ms, 500);
    cr_assert_eq(g->cache_ttl_ms, 5000, "the cache is on for the dongle");
    cr_assert_eq(key_uint(g, "block_size"), 60);
    cr_assert_eq(key_uint(g, "block_align"), 60);
    cr_assert_not(key_bool(g, "split_writes"));
    cr_assert_eq(key_uint(g, "keepalive_ms"), 0);
    cr_assert_eq(g->max_inflight, 1);
    cr_assert_eq(key_uint(t, "port"), 502);
    cr_assert_eq(t->min_spacing_ms, 0);
    cr_assert_eq(t->retry_delay_ms, 0);
    cr_assert_eq(t->cache_ttl_ms, 2000);
    cr_assert_eq(t->serve_stale_ms, 60000);
    cr_assert_eq(cfg->routes[0].be_lo, 0x32);
    cfg_free(cfg);
}

/* Issue 10 item 13: "allow =" with nothing after it let everyone in (an
 * empty list means "no restriction"), and an empty read_only_clients or
 * priority_clients is as likely a half-edited line. Each is refused. */
Test(cfg_errors, empty_client_lists_are_refused)
{
    static const char *const keys[] = {
        "allow", "read_only_clients", "priority_clients",
    };

    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        char text[512], phrase[64];

        snprintf(text, sizeof(text), "[server]\nmax_clients = 5\n%s =\n"
                 TAIL_BACKEND_ROUTE, keys[i]);
        snprintf(phrase, sizeof(phrase), "[server] %s: empty", keys[i]);
        cr_assert_null(cfg_load_string("t.ini", text, &errs),
                       "an empty %s was accepted", keys[i]);
        cr_assert_eq(errs.n, 1, "%s:\n%s", keys[i], errs_text());
        cr_assert_geq(find_error(3, phrase), 0, "%s", errs_text());
    }
}

/* Issue 10 item 13: read_only_clients = ::ffff:127.0.0.1 passed the check
 * and never matched 127.0.0.1, whichever socket it came in on. */
Test(cfg_valid, ipv4_mapped_client_entries_match_ipv4_clients)
{
    struct cfg *cfg = load_ok("[server]\nread_only_clients = ::ffff:127.0.0.1"
                              "\npriority_clients = ::ffff:10.0.0.0/104\n"
                              "allow = ::ffff:0:0/96\n" TAIL_BACKEND_ROUTE);
    struct sockaddr_in a = {.sin_family = AF_INET};
    struct sockaddr_in6 b = {.sin6_family = AF_INET6};

    cr_assert_eq(inet_pton(AF_INET, "127.0.0.1", &a.sin_addr), 1);
    cr_assert_eq(inet_pton(AF_INET6, "::ffff:127.0.0.1", &b.sin6_addr), 1);
    cr_assert(acl_match(&cfg->server.read_only_clients,
                        (struct sockaddr *)&a));
    cr_assert(acl_match(&cfg->server.read_only_clients,
                        (struct sockaddr *)&b));
    cr_assert(acl_match(&cfg->server.allow, (struct sockaddr *)&a));
    cr_assert_eq(inet_pton(AF_INET, "10.9.8.7", &a.sin_addr), 1);
    cr_assert(acl_match(&cfg->server.priority_clients,
                        (struct sockaddr *)&a));
    cfg_free(cfg);
}

/* ---------------------------------------------------------------------- */
/* [listener NAME] sections */

/* Does <acl> match IPv4 client <ip>? */
static bool
acl_has(const struct acl *acl, const char *ip)
{
    struct sockaddr_in a = {.sin_family = AF_INET};

    cr_assert_eq(inet_pton(AF_INET, ip, &a.sin_addr), 1);
    return acl_match(acl, (struct sockaddr *)&a);
}

static const char listeners_ini[] =
    "[server]\n"                                                    /*  1 */
    "listen = 0.0.0.0:502\n"                                        /*  2 */
    "max_clients = 300\n"                                           /*  3 */
    "allow = 10.0.0.0/8\n"                                          /*  4 */
    "read_only_clients = 10.1.0.0/16\n"                             /*  5 */
    "priority_clients = 10.2.0.1\n"                                 /*  6 */
    "[listener dashboards]\n"                                       /*  7 */
    "listen = 0.0.0.0:1502, [::]:1502\n"                            /*  8 */
    "read_only_clients = 0.0.0.0/0\n"                               /*  9 */
    "max_clients = 50\n"                                            /* 10 */
    "[listener plc-1]\n"                                            /* 11 */
    "type = modbus\n"                                               /* 12 */
    "listen = 127.0.0.1:5020\n"                                     /* 13 */
    "allow = 192.168.1.10\n"                                        /* 14 */
    "priority_clients = 192.168.1.10\n"                             /* 15 */
    TAIL_BACKEND_ROUTE;

Test(cfg_valid, listener_sections_and_their_defaults)
{
    struct cfg *cfg = load_ok(listeners_ini);
    const struct cfg_listener *srv, *dash, *plc;

    cr_assert_eq(cfg->n_listeners, 3);
    srv = &cfg->listeners[0];
    dash = &cfg->listeners[1];
    plc = &cfg->listeners[2];
    cr_assert_eq(cfg_listener_find(cfg, ""), srv, "[server] listen first");
    cr_assert_eq(cfg_listener_find(cfg, "dashboards"), dash);
    cr_assert_eq(cfg_listener_find(cfg, "plc-1"), plc);
    cr_assert_null(cfg_listener_find(cfg, "nosuch"));

    /* [server] listen: the default type, every rule of [server] */
    cr_assert_str_eq(srv->type, "modbus");
    cr_assert_eq(srv->line, 0);
    cr_assert_eq(srv->n_listen, 1);
    check_listen(&srv->listen[0], AF_INET, "0.0.0.0", 502);
    cr_assert_eq(srv->max_clients, 300);
    cr_assert(acl_has(&srv->allow, "10.9.9.9"));
    cr_assert(acl_has(&srv->read_only_clients, "10.1.2.3"));
    cr_assert(acl_has(&srv->priority_clients, "10.2.0.1"));

    /* dashboards: its own read_only_clients and max_clients, the rest
     * from [server] */
    cr_assert_str_eq(dash->type, "modbus", "the default type");
    cr_assert_eq(dash->line, 7);
    cr_assert_eq(dash->n_listen, 2);
    cr_assert_str_eq(dash->listen[0].text, "0.0.0.0:1502");
    check_listen(&dash->listen[1], AF_INET6, "::", 1502);
    cr_assert_eq(dash->max_clients, 50);
    cr_assert(acl_has(&dash->read_only_clients, "10.3.3.3"));
    cr_assert(acl_has(&dash->allow, "10.3.3.3"), "[server] allow");
    cr_assert_not(acl_has(&dash->allow, "192.168.1.10"));
    cr_assert(acl_has(&dash->priority_clients, "10.2.0.1"));

    /* plc-1: its own allow and priority_clients */
    cr_assert_eq(plc->n_listen, 1);
    check_listen(&plc->listen[0], AF_INET, "127.0.0.1", 5020);
    cr_assert_eq(plc->max_clients, 300, "[server] max_clients");
    cr_assert(acl_has(&plc->allow, "192.168.1.10"));
    cr_assert_not(acl_has(&plc->allow, "10.0.0.1"));
    cr_assert(acl_has(&plc->read_only_clients, "10.1.0.1"),
              "[server] read_only_clients");
    cr_assert(acl_has(&plc->priority_clients, "192.168.1.10"));
    cr_assert_not(acl_has(&plc->priority_clients, "10.2.0.1"));

    /* [server] itself is as it always was */
    cr_assert_eq(cfg->server.n_listen, 1);
    cr_assert_eq(cfg->server.max_clients, 300);
    cfg_free(cfg);
}

Test(cfg_valid, without_listener_sections_server_listen_is_the_only_one)
{
    struct cfg *cfg = load_ok(minimal_ini);

    cr_assert_eq(cfg->n_listeners, 1);
    cr_assert_str_eq(cfg->listeners[0].name, "");
    cr_assert_str_eq(cfg->listeners[0].type, "modbus");
    cr_assert_eq(cfg->listeners[0].n_listen, 1);
    check_listen(&cfg->listeners[0].listen[0], AF_INET, "0.0.0.0", 502);
    cr_assert_eq(cfg->listeners[0].max_clients, 1000);
    cr_assert_eq(cfg->listeners[0].allow.n, 0);
    cfg_free(cfg);
}

Test(cfg_valid, server_listen_none_with_a_listener)
{
    struct cfg *cfg = load_ok("[server]\nlisten = none\n[listener a]\n"
                              "listen = 127.0.0.1:1502\n" TAIL_BACKEND_ROUTE);

    cr_assert_eq(cfg->server.n_listen, 0);
    cr_assert_eq(cfg->n_listeners, 1);
    cr_assert_str_eq(cfg->listeners[0].name, "a");
    cfg_free(cfg);
}

Test(cfg_valid, listener_before_server_still_takes_server_values)
{
    struct cfg *cfg = load_ok("[listener a]\nlisten = 127.0.0.1:1502\n"
                              "[server]\nmax_clients = 7\nallow = 10.0.0.1\n"
                              TAIL_BACKEND_ROUTE);
    const struct cfg_listener *a = cfg_listener_find(cfg, "a");

    cr_assert_not_null(a);
    cr_assert_eq(a->max_clients, 7);
    cr_assert(acl_has(&a->allow, "10.0.0.1"));
    cr_assert_eq(cfg->listeners[0].name[0], '\0', "[server] listen first");
    cfg_free(cfg);
}

/* Free ports (port 0) may be asked for twice; wildcards of the other
 * family do not clash. */
Test(cfg_valid, listen_addresses_that_do_not_clash)
{
    struct cfg *cfg = load_ok("[server]\nlisten = 127.0.0.1:0, 127.0.0.1:0,"
                              " 0.0.0.0:502, [::]:502\n[listener a]\n"
                              "listen = 127.0.0.1:0, [::1]:1502, "
                              "127.0.0.1:1502\n" TAIL_BACKEND_ROUTE);

    cr_assert_eq(cfg->n_listeners, 2);
    cfg_free(cfg);
}

/* Line 1..2 of a file whose [listener] section is under test. */
#define HEAD_SERVER "[server]\nlisten = 127.0.0.1:502\n"

static const struct err_case listener_err_cases[] = {
    {"unknown listener key",
     HEAD_SERVER "[listener a]\nlisten = 127.0.0.1:1502\nport = 2\n"
     TAIL_BACKEND_ROUTE, 5, "[listener a] port: unknown key"},
    {"server-only key in a listener",
     HEAD_SERVER "[listener a]\nlisten = 127.0.0.1:1502\n"
     "request_timeout_ms = 100\n" TAIL_BACKEND_ROUTE, 5,
     "[listener a] request_timeout_ms: unknown key"},
    {"unknown type",
     HEAD_SERVER "[listener a]\ntype = solarman\nlisten = 127.0.0.1:1502\n"
     TAIL_BACKEND_ROUTE, 4,
     "[listener a] type: unknown front-end type \"solarman\" (expected "
     "modbus, givenergy)"},
    {"type in capitals",
     HEAD_SERVER "[listener a]\ntype = MODBUS\nlisten = 127.0.0.1:1502\n"
     TAIL_BACKEND_ROUTE, 4, "unknown front-end type \"MODBUS\""},
    {"empty type",
     HEAD_SERVER "[listener a]\ntype =\nlisten = 127.0.0.1:1502\n"
     TAIL_BACKEND_ROUTE, 4, "unknown front-end type \"\""},
    {"bad address",
     HEAD_SERVER "[listener a]\nlisten = 127.0.0.1:1502, localhost:1\n"
     TAIL_BACKEND_ROUTE, 4,
     "[listener a] listen: invalid address \"localhost:1\""},
    {"listener listen none",
     HEAD_SERVER "[listener a]\nlisten = none\n" TAIL_BACKEND_ROUTE, 4,
     "[listener a] listen: invalid address \"none\""},
    {"missing listen", HEAD_SERVER "[listener a]\nmax_clients = 5\n"
     TAIL_BACKEND_ROUTE, 3, "[listener a]: missing key \"listen\""},
    {"max_clients 0",
     HEAD_SERVER "[listener a]\nlisten = 127.0.0.1:1502\nmax_clients = 0\n"
     TAIL_BACKEND_ROUTE, 5,
     "[listener a] max_clients: invalid value \"0\" (expected 1..100000)"},
    {"empty allow",
     HEAD_SERVER "[listener a]\nlisten = 127.0.0.1:1502\nallow =\n"
     TAIL_BACKEND_ROUTE, 5, "[listener a] allow: empty value"},
    {"bad read_only_clients",
     HEAD_SERVER "[listener a]\nlisten = 127.0.0.1:1502\n"
     "read_only_clients = lan\n" TAIL_BACKEND_ROUTE, 5,
     "[listener a] read_only_clients: invalid address range \"lan\""},
    {"duplicate key in a listener",
     HEAD_SERVER "[listener a]\nlisten = 127.0.0.1:1502\n"
     "listen = 127.0.0.1:1503\n" TAIL_BACKEND_ROUTE, 5,
     "[listener a] listen: duplicate key (first set at line 4)"},
    {"address of [server] listen again",
     HEAD_SERVER "[listener a]\nlisten = 127.0.0.1:502\n"
     TAIL_BACKEND_ROUTE, 4, "[listener a] listen: address \"127.0.0.1:502\" "
     "is taken twice (\"127.0.0.1:502\", line 2)"},
    {"a wildcard over [server] listen",
     HEAD_SERVER "[listener a]\nlisten = 0.0.0.0:502\n"
     TAIL_BACKEND_ROUTE, 4, "address \"0.0.0.0:502\" is taken twice "
     "(\"127.0.0.1:502\", line 2)"},
    {"the default of [server] listen again",
     "[listener a]\nlisten = 127.0.0.1:502\n" TAIL_BACKEND_ROUTE, 2,
     "[listener a] listen: address \"127.0.0.1:502\" is taken twice "
     "(\"0.0.0.0:502\", the default)"},
    {"two listeners, one address",
     HEAD_SERVER "[listener a]\nlisten = [::1]:1502\n[listener b]\n"
     "listen = 127.0.0.1:1503, [0:0::1]:1502\n" TAIL_BACKEND_ROUTE, 6,
     "[listener b] listen: address \"[0:0::1]:1502\" is taken twice "
     "(\"[::1]:1502\", line 4)"},
    {"one address twice in [server] listen",
     "[server]\nlisten = 127.0.0.1:502, 127.0.0.1:502\n" TAIL_BACKEND_ROUTE,
     2, "[server] listen: address \"127.0.0.1:502\" is taken twice"},
    {"invalid listener name",
     HEAD_SERVER "[listener a.b]\nlisten = 127.0.0.1:1502\n"
     TAIL_BACKEND_ROUTE, 3,
     "[listener a.b]: invalid listener name \"a.b\""},
    {"listener name too long",
     HEAD_SERVER "[listener n234567890123456789012345678901x]\n"
     "listen = 127.0.0.1:1502\n" TAIL_BACKEND_ROUTE, 3,
     "invalid listener name \"n234567890123456789012345678901x\""},
    {"duplicate listener",
     HEAD_SERVER "[listener a]\nlisten = 127.0.0.1:1502\n[listener a]\n"
     "max_clients = 3\n" TAIL_BACKEND_ROUTE, 5,
     "[listener a]: duplicate listener (first at line 3)"},
    {"bare [listener]", HEAD_SERVER "[listener]\nlisten = 127.0.0.1:1502\n"
     TAIL_BACKEND_ROUTE, 3, "unknown section [listener]"},
    {"[server] listen none alone", "[server]\nlisten = none\n"
     TAIL_BACKEND_ROUTE, 2, "[server] listen: \"none\", and no [listener] "
     "section: nothing to listen on"},
    {"listener backend that does not exist",
     HEAD_SERVER "[listener a]\nlisten = 127.0.0.1:1502\nbackend = giv\n"
     TAIL_BACKEND_ROUTE, 5, "[listener a] backend: no [backend giv]"},
    {"givenergy listener without backend",
     HEAD_SERVER "[listener a]\ntype = givenergy\nlisten = 127.0.0.1:8899\n"
     TAIL_BACKEND_ROUTE, 3, "[listener a] backend: missing"},
    {"givenergy listener on a tcp backend",
     HEAD_SERVER "[listener a]\ntype = givenergy\nlisten = 127.0.0.1:8899\n"
     "backend = sigen\n" TAIL_BACKEND_ROUTE, 6,
     "[listener a] backend: [backend sigen] is of type tcp, not givenergy"},
    {"givenergy key on a modbus listener",
     HEAD_SERVER "[listener a]\nlisten = 127.0.0.1:1502\nfanout = yes\n"
     TAIL_BACKEND_ROUTE, 5, "[listener a] fanout: unknown key for type "
     "modbus"},
    {"fanout not a bool",
     HEAD_SERVER "[listener a]\ntype = givenergy\nlisten = 127.0.0.1:8899\n"
     "backend = g\nfanout = maybe\n[backend g]\ntype = givenergy\n"
     "host = 10.0.0.9\n", 7, "[listener a] fanout: invalid value \"maybe\""},
    {"heartbeat_s too large",
     HEAD_SERVER "[listener a]\ntype = givenergy\nlisten = 127.0.0.1:8899\n"
     "backend = g\nheartbeat_s = 86401\n[backend g]\ntype = givenergy\n"
     "host = 10.0.0.9\n", 7, "[listener a] heartbeat_s: invalid value "
     "\"86401\" (expected 0..86400)"},
};

/* Merged reads and polls: their keys and defaults. */
Test(cfg_valid, merge_and_poll)
{
    struct cfg *cfg = load_ok("[server]\nlisten = 127.0.0.1:502\n"
                              "[backend b]\ntype = tcp\nhost = 10.0.0.2\n"
                              "merge_reads = yes\nmerge_gap = 10\n"
                              "cache_ttl_ms = 2000\npoll = 1:holding:0-99@1000,"
                              " 0x11:coils:5@500\npoll_learn = yes\n"
                              "[backend c]\ntype = tcp\nhost = 10.0.0.3\n"
                              "[route]\n1 = b\n2 = c\n");
    const struct cfg_backend *b = &cfg->backends[0], *c = &cfg->backends[1];

    cr_assert(b->merge_reads);
    cr_assert_eq(b->merge_gap, 10);
    cr_assert_eq(b->max_read_registers, 125);
    cr_assert_eq(b->n_polls, 2);
    cr_assert(b->polls[0].unit == 1 && b->polls[0].fc == 3 &&
              b->polls[0].lo == 0 && b->polls[0].hi == 99 &&
              b->polls[0].period_ms == 1000);
    cr_assert(b->polls[1].unit == 0x11 && b->polls[1].fc == 1 &&
              b->polls[1].lo == 5 && b->polls[1].hi == 5);
    cr_assert(b->poll_learn);
    cr_assert_eq(b->poll_idle_s, 300);
    cr_assert_not(c->merge_reads, "off by default");
    cr_assert_eq(c->n_polls, 0);
    cfg_free(cfg);
}

/* A givenergy listener names its backend; its keys have defaults; routes
 * are not needed when a listener names the backend. */
Test(cfg_valid, givenergy_listener)
{
    struct cfg *cfg = load_ok("[server]\nlisten = none\n[listener dongle]\n"
                              "type = givenergy\nlisten = 0.0.0.0:8899\n"
                              "backend = giv\nheartbeat_s = 300\n"
                              "[backend giv]\ntype = givenergy\n"
                              "host = 192.168.1.40\n");
    const struct cfg_listener *l = cfg_listener_find(cfg, "dongle");
    const bool *fanout;
    const unsigned *hb;

    cr_assert_not_null(l);
    cr_assert_str_eq(l->type, "givenergy");
    cr_assert_str_eq(l->backend, "giv");
    cr_assert_eq(l->backend_index, 0);
    cr_assert_eq(cfg->n_routes, 0);
    /* The type's struct: fanout first, then heartbeat_s (fe_givenergy.c) */
    fanout = (const bool *)cfg_lst_own(l);
    hb = (const unsigned *)((const char *)cfg_lst_own(l) + sizeof(unsigned));
    cr_assert(*fanout, "fanout defaults to yes");
    cr_assert_eq(*hb, 300);
    cfg_free(cfg);
}

Test(cfg_errors, listener_one_mistake_each)
{
    check_one_error_each(listener_err_cases, ARRAY_SIZE(listener_err_cases));
}

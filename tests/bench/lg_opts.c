/* SPDX-License-Identifier: MIT */
/*
 * lg_opts.c -- loadgen's command line (see lg_opts.h and usage()).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "lg_opts.h"

static void
usage(FILE *f)
{
    fprintf(f,
        "usage: loadgen --target HOST:PORT [options]\n"
        "  --target HOST:PORT     IPv4 address and port to connect to\n"
        "  --clients N            connections, 1..%u (default 1)\n"
        "  --pipeline D           requests outstanding per client, 1..%u"
        " (default 1)\n"
        "  --duration S           seconds of measurement (default 5;"
        " --idle: hold until a signal)\n"
        "  --warmup S             seconds before measuring (default 0.5)\n"
        "  --unit U               unit id, 0..255 (default 1)\n"
        "  --fc 3|4               read holding / input registers (default 3)\n"
        "  --count C              registers per read, 1..%u (default 2)\n"
        "  --addr-mode distinct|same   distinct blocks per request, or all"
        " at 0 (default distinct)\n"
        "  --idle                 connect, print \"connected N\", hold"
        " silent\n"
        "  --connect-rate R       new connections per %u ms (default 500)\n"
        "  --interval-ms N        after a reply, wait N ms before the next"
        " request\n"
        "                         (a poller; 0..%u, default 0 = at once)\n"
        "  --addr-span S          distinct mode: every read lies in [0, S),"
        " S >= count\n"
        "                         (default 65536)\n"
        "  --ranges N --stride S  each client reads N ranges S registers"
        " apart in turn\n"
        "                         (scattered polling of one device)\n",
        CLIENTS_MAX, PIPELINE_MAX, COUNT_MAX, TICK_MS, INTERVAL_MAX_MS);
}

/* Parse an unsigned integer in [lo, hi]; exits with a message otherwise. */
static uint32_t
parse_uint(const char *opt, const char *s, uint32_t lo, uint32_t hi)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "loadgen: --%s wants an integer in %u..%u, got '%s'\n",
                opt, lo, hi, s);
        exit(2);
    }
    return (uint32_t)v;
}

static double
parse_secs(const char *opt, const char *s)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= 0.0) || v > 1e6) {
        fprintf(stderr, "loadgen: --%s wants seconds, got '%s'\n", opt, s);
        exit(2);
    }
    return v;
}

static void
parse_target(struct opts *o, const char *s)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    size_t n = colon ? (size_t)(colon - s) : 0;
    uint32_t port;

    if (colon == NULL || n == 0 || n >= sizeof(host)) {
        fprintf(stderr, "loadgen: --target wants HOST:PORT, got '%s'\n", s);
        exit(2);
    }
    memcpy(host, s, n);
    host[n] = '\0';
    port = parse_uint("target port", colon + 1, 1, 65535);
    if (uv_ip4_addr(host, (int)port, &o->target) != 0) {
        fprintf(stderr, "loadgen: '%s' is not an IPv4 address\n", host);
        exit(2);
    }
}

static void
parse_addr_mode(struct opts *o, const char *s)
{
    if (strcmp(s, "distinct") == 0) {
        o->same_addr = false;
    } else if (strcmp(s, "same") == 0) {
        o->same_addr = true;
    } else {
        fprintf(stderr, "loadgen: --addr-mode is distinct or same\n");
        exit(2);
    }
}

static const struct option long_opts[] = {
    { "target", required_argument, NULL, 't' },
    { "clients", required_argument, NULL, 'n' },
    { "pipeline", required_argument, NULL, 'p' },
    { "duration", required_argument, NULL, 'd' },
    { "warmup", required_argument, NULL, 'w' },
    { "unit", required_argument, NULL, 'u' },
    { "fc", required_argument, NULL, 'f' },
    { "count", required_argument, NULL, 'c' },
    { "addr-mode", required_argument, NULL, 'a' },
    { "idle", no_argument, NULL, 'i' },
    { "connect-rate", required_argument, NULL, 'r' },
    { "interval-ms", required_argument, NULL, 'I' },
    { "addr-span", required_argument, NULL, 'S' },
    { "ranges", required_argument, NULL, 'R' },
    { "stride", required_argument, NULL, 'T' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

static void
parse_one(struct opts *o, int opt, const char *arg, bool *have_target)
{
    switch (opt) {
    case 't':
        parse_target(o, arg);
        *have_target = true;
        break;
    case 'n':
        o->clients = parse_uint("clients", arg, 1, CLIENTS_MAX);
        break;
    case 'p':
        o->pipeline = parse_uint("pipeline", arg, 1, PIPELINE_MAX);
        break;
    case 'd':
        o->duration_s = parse_secs("duration", arg);
        o->duration_set = true;
        break;
    case 'w':
        o->warmup_s = parse_secs("warmup", arg);
        break;
    case 'u':
        o->unit = (uint8_t)parse_uint("unit", arg, 0, 255);
        break;
    case 'f':
        o->fc = (uint8_t)parse_uint("fc", arg, 3, 4);
        break;
    case 'c':
        o->count = (uint16_t)parse_uint("count", arg, 1, COUNT_MAX);
        break;
    case 'a':
        parse_addr_mode(o, arg);
        break;
    case 'i':
        o->idle = true;
        break;
    case 'r':
        o->connect_rate = parse_uint("connect-rate", arg, 1, CLIENTS_MAX);
        break;
    case 'I':
        o->interval_ms = parse_uint("interval-ms", arg, 0, INTERVAL_MAX_MS);
        break;
    case 'S':
        o->addr_span = parse_uint("addr-span", arg, 1, 65536);
        break;
    case 'R':
        o->ranges = parse_uint("ranges", arg, 1, 4096);
        break;
    case 'T':
        o->stride = parse_uint("stride", arg, 1, 65536);
        break;
    case 'h':
        usage(stdout);
        exit(0);
    default:
        usage(stderr);
        exit(2);
    }
}

void
lg_opts_parse(struct opts *o, int argc, char **argv)
{
    bool have_target = false;
    int opt;

    o->clients = 1;
    o->pipeline = 1;
    o->duration_s = 5.0;
    o->warmup_s = 0.5;
    o->unit = 1;
    o->fc = 3;
    o->count = 2;
    o->connect_rate = 500;
    while ((opt = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
        parse_one(o, opt, optarg, &have_target);
    }
    if (!have_target || optind != argc) {
        usage(stderr);
        exit(2);
    }
    if (o->addr_span != 0 && o->addr_span < o->count) {
        fprintf(stderr, "loadgen: --addr-span %u is under --count %u\n",
                o->addr_span, (unsigned)o->count);
        exit(2);
    }
}

/* SPDX-License-Identifier: MIT */
/*
 * lg_opts.h -- loadgen's command line.
 */
#ifndef LG_OPTS_H
#define LG_OPTS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#define CLIENTS_MAX       20000u
#define INTERVAL_MAX_MS   3600000u         /* --interval-ms */
#define PIPELINE_MAX      256u
#define COUNT_MAX         125u             /* registers per FC 3/4 read */
#define TICK_MS           10u              /* connect pacing period */

struct opts {
    struct sockaddr_in target;
    uint32_t clients;
    uint32_t pipeline;
    uint32_t interval_ms;    /* 0: the next request at once */
    uint32_t addr_span;      /* distinct reads lie in [0, span) */
    uint32_t ranges;         /* each client cycles through this many reads
                                <stride> apart; 0: fixed block */
    uint32_t stride;
    double   duration_s;
    bool     duration_set;
    double   warmup_s;
    uint8_t  unit;
    uint8_t  fc;
    uint16_t count;
    bool     same_addr;
    bool     idle;
    uint32_t connect_rate;
};

/* Fill <o> from the command line, defaults first; on a bad option print
 * the problem or the usage and exit 2 (--help: the usage, exit 0). */
void lg_opts_parse(struct opts *o, int argc, char **argv);

#endif /* LG_OPTS_H */

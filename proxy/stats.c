/* SPDX-License-Identifier: MIT */
/*
 * stats.c -- the log summary generated from the lists in stats.h: a
 * "name=value ..." line, logged at shutdown and on SIGUSR1. The other
 * output, GET /metrics, is http_metrics.c's.
 */
#include <stdio.h>

#include "log.h"
#include "stats.h"

struct stats_server stats_srv;

#define STATS_PRINT(name, desc)                                           \
    n += snprintf(buf + n, sizeof(buf) - (size_t)MB_MIN(n, (int)sizeof(buf)), \
                  " %s=%llu", #name, (unsigned long long)st->name);         \
    if (n >= (int)sizeof(buf)) {                                          \
        n = (int)sizeof(buf) - 1;                                         \
    }

/*
 * Log the proxy-wide counters <st> as one line at info.
 */
void
stats_log_server(const struct stats_server *st)
{
    char buf[900];
    int n = 0;

    buf[0] = '\0';
    STATS_SERVER(STATS_PRINT)
    log_info("stats:%s", buf);
}

/*
 * Log the counters <st> of backend <name> as one line at info.
 */
void
stats_log_backend(const char *name, const struct stats_backend *st)
{
    char buf[900];
    int n = 0;

    buf[0] = '\0';
    STATS_BACKEND(STATS_PRINT)
    log_info("B:%s: stats:%s", name, buf);
}

/*
 * Count one observation of <ms> milliseconds in <h>.
 */
void
stats_hist_add(struct stats_hist *h, uint64_t ms)
{
    static const uint64_t bounds[] = STATS_HIST_BOUNDS;
    size_t i = 0;

    while (i < ARRAY_SIZE(bounds) && ms > bounds[i]) {
        i++;
    }
    h->bucket[i]++;
    h->count++;
    h->sum_ms += ms;
}

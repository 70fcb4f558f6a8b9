/* SPDX-License-Identifier: MIT */
/*
 * stats.h -- counters, declared once as X-macro lists (twemproxy's
 * STATS_SERVER_CODEC): the list generates the struct fields, their names
 * and descriptions, and every output format: the log summary (stats.c) and
 * GET /metrics (http_metrics.c). Counters are plain uint64_t: only the
 * loop thread touches them.
 */
#ifndef MUX_STATS_H
#define MUX_STATS_H

#include <stdint.h>

/* ACTION(field, description) */
#define STATS_SERVER(ACTION)                                                 \
    ACTION(clients_accepted, "client connections accepted")                  \
    ACTION(clients_refused, "client connections closed at max_clients")      \
    ACTION(clients_denied, "client connections closed: not in allow")       \
    ACTION(clients_closed_bad, "client connections closed for bad frames")   \
    ACTION(clients_closed_idle, "client connections closed as idle")         \
    ACTION(clients_closed_slow, "client connections closed: frame too slow") \
    ACTION(requests, "requests received from clients")                       \
    ACTION(replies, "replies written to clients")                            \
    ACTION(replies_dropped, "replies dropped because their client left")     \
    ACTION(ex_no_route, "requests refused with 0x0A: no route")              \
    ACTION(ex_bad_request, "requests refused as malformed (0x01..0x03)")

#define STATS_BACKEND(ACTION)                                                \
    ACTION(requests, "requests submitted")                                   \
    ACTION(transactions, "transactions sent to the device")                  \
    ACTION(responses, "valid responses received")                            \
    ACTION(device_exceptions, "exception responses from the device")         \
    ACTION(coalesced, "reads answered by another client's transaction")      \
    ACTION(retries, "read attempts repeated")                                \
    ACTION(timeouts, "attempts that timed out")                              \
    ACTION(bad_responses, "responses failing the PDU checks")                \
    ACTION(late_responses, "late or unknown responses dropped")              \
    ACTION(duplicates, "answers that came again after their request was "   \
                       "answered, dropped")                                  \
    ACTION(stray_bytes, "bytes of noise, echoes and late answers dropped")   \
    ACTION(broadcasts, "broadcast writes sent")                              \
    ACTION(writes_refused, "writes refused by policy (0x01, 0x02, 0x06)")    \
    ACTION(writes_skipped, "writes acknowledged unsent: the value was there") \
    ACTION(cache_hits, "reads answered from the register cache")            \
    ACTION(cache_misses, "cacheable reads that had to go to the device")     \
    ACTION(stale_served, "reads answered from older values (serve_stale_ms)") \
    ACTION(cache_evictions, "cached register chunks reused past the budget") \
    ACTION(heartbeats, "GivEnergy heartbeats answered")                      \
    ACTION(fanout_frames, "GivEnergy frames taken in that we did not ask for") \
    ACTION(fanout_unrouted, "GivEnergy frames not cached: no route reads them") \
    ACTION(guard_drops, "frames dropped by the guards (CRC, null, garbage)")  \
    ACTION(ex_busy, "requests refused with 0x06: queue full")                \
    ACTION(ex_down, "requests failed with 0x0A: backend down")               \
    ACTION(ex_timeout, "requests failed with 0x0B: no answer in time")       \
    ACTION(connects, "connections established")                              \
    ACTION(connect_failures, "connection attempts that failed")              \
    ACTION(disconnects, "connections lost")                                  \
    ACTION(link_overflows, "links dropped: the device left a few KiB unread") \
    ACTION(unsent_resets, "links reset at a timeout with bytes still unsent") \
    ACTION(merged_reads, "device reads that carried several client reads")  \
    ACTION(merged_requests, "client reads carried by another's device read") \
    ACTION(registers_read, "registers (and bits / 16) device reads asked "  \
                           "for")                                            \
    ACTION(holes_learned, "address ranges a merged read was refused for")   \
    ACTION(merge_undone, "merged reads refused, sent again one by one")   \
    ACTION(polls, "reads the backend sent by itself (poll, poll_learn)")

#define STATS_FIELD(name, desc) uint64_t name;

/* Whole-proxy counters. */
struct stats_server {
    STATS_SERVER(STATS_FIELD)
};

/* Counters of one backend. */
struct stats_backend {
    STATS_BACKEND(STATS_FIELD)
};

/* Upper bounds (ms) of the latency histogram buckets; the last is +Inf. */
#define STATS_HIST_BOUNDS {1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, \
                           5000, 10000}
#define STATS_HIST_N 14

/* A latency histogram, Prometheus style (cumulative when printed). */
struct stats_hist {
    uint64_t bucket[STATS_HIST_N];   /* counts per bucket, not cumulative */
    uint64_t count;
    uint64_t sum_ms;
};

void stats_hist_add(struct stats_hist *h, uint64_t ms);
void stats_log_server(const struct stats_server *st);
void stats_log_backend(const char *name, const struct stats_backend *st);



extern struct stats_server stats_srv;
#endif /* MUX_STATS_H */

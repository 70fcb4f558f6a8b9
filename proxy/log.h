/* SPDX-License-Identifier: MIT */
/*
 * log.h -- leveled logging to stderr with millisecond timestamps. Modules
 * wrap LOG() in macros that prefix the object a line is about (S#12 peer,
 * R#812 S#12 u17->bus1/u3, B:bus1), as pgbouncer's slog_* do. Events
 * that can repeat without end are rate-limited with log_limit() (floods:
 * once a second, with a count) or log_limit_nth() (a streak of failures:
 * the 1st, 2nd, 4th, 8th...).
 */
#ifndef MUX_LOG_H
#define MUX_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"

enum log_level {
    LOG_ERROR = 0,
    LOG_WARN,
    LOG_INFO,
    LOG_DEBUG,
    LOG_TRACE,
};

extern int log_level;

#define LOG_LIMIT_MS 1000

/* One kind of event that can come in a flood (connections refused at a
 * limit). Zeroed: nothing logged yet. */
struct log_limit {
    uint64_t last_ms;    /* when its last line was logged */
    unsigned n;          /* events since then, not in a line yet */
    bool     logged;     /* a line was logged once */
};

#define log_enabled(l) ((int)(l) <= log_level)
#define LOG(l, ...)                        \
    do {                                   \
        if (log_enabled(l)) {              \
            log_write((l), __VA_ARGS__);   \
        }                                  \
    } while (0)

#define log_error(...) LOG(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  LOG(LOG_WARN, __VA_ARGS__)
#define log_info(...)  LOG(LOG_INFO, __VA_ARGS__)
#define log_debug(...) LOG(LOG_DEBUG, __VA_ARGS__)
#define log_trace(...) LOG(LOG_TRACE, __VA_ARGS__)

void log_write(int level, const char *fmt, ...) MB_PRINTF(2, 3);
void log_hexdump(const char *prefix, const uint8_t *buf, size_t len);
int log_level_parse(const char *name);
const char *log_level_name(int level);
unsigned log_limit(struct log_limit *l, uint64_t now_ms);
bool log_limit_nth(unsigned n);

#endif /* MUX_LOG_H */

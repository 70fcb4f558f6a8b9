/* SPDX-License-Identifier: MIT */
/*
 * log.c -- one line per event on stderr: "2026-11-21 14:22:03.123 warn ...".
 * Also home to the two things every module needs and nobody owns: the
 * aborting allocator and ASSERT's failure path.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"

int log_level = LOG_INFO;

static const char *const log_names[] = {
    [LOG_ERROR] = "error",
    [LOG_WARN] = "warn",
    [LOG_INFO] = "info",
    [LOG_DEBUG] = "debug",
    [LOG_TRACE] = "trace",
};

/*
 * Return the level called <name> ("error" .. "trace"), or -1.
 */
int
log_level_parse(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(log_names); i++) {
        if (strcasecmp(name, log_names[i]) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/*
 * Return the name of <level>.
 */
const char *
log_level_name(int level)
{
    if (level < 0 || level >= (int)ARRAY_SIZE(log_names)) {
        return "?";
    }
    return log_names[level];
}

/*
 * Count one event of <l> at <now_ms> (the loop's uv_now()). Returns 0 if
 * it must not be logged, else the number of events the line should report
 * (this one and those held back): the first event is logged, then at most
 * one line per LOG_LIMIT_MS.
 */
unsigned
log_limit(struct log_limit *l, uint64_t now_ms)
{
    unsigned n = ++l->n;

    if (l->logged && now_ms - l->last_ms < LOG_LIMIT_MS) {
        return 0;
    }
    l->logged = true;
    l->last_ms = now_ms;
    l->n = 0;
    return n;
}

/*
 * True if the <n>th failure in a row (from 1) is to be logged: the 1st,
 * 2nd, 4th, 8th... so a device that stays away does not fill the log.
 */
bool
log_limit_nth(unsigned n)
{
    return (n & (n - 1)) == 0;
}

/*
 * Write one log line at <level>. The whole line goes out in one write so
 * that lines never interleave, even with a simulator sharing the terminal.
 */
void
log_write(int level, const char *fmt, ...)
{
    char line[1024];
    struct timespec ts;
    struct tm tm;
    va_list ap;
    int n, m;

    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    n = snprintf(line, sizeof(line), "%04d-%02d-%02d %02d:%02d:%02d.%03ld %s ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                 log_level_name(level));
    va_start(ap, fmt);
    m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0) {
        m = 0;
    }
    n += m;
    if (n > (int)sizeof(line) - 2) {
        n = (int)sizeof(line) - 2;
    }
    line[n++] = '\n';
    fwrite(line, 1, (size_t)n, stderr);
}

/*
 * At trace level, log <buf> as hex after <prefix>, 32 bytes a line.
 */
void
log_hexdump(const char *prefix, const uint8_t *buf, size_t len)
{
    char hex[32 * 3 + 1];

    if (!log_enabled(LOG_TRACE)) {
        return;
    }
    for (size_t off = 0; off < len || off == 0; off += 32) {
        size_t n = MB_MIN(len - off, (size_t)32);

        for (size_t i = 0; i < n; i++) {
            snprintf(hex + i * 3, 4, "%02x ", buf[off + i]);
        }
        hex[n ? n * 3 - 1 : 0] = '\0';
        log_write(LOG_TRACE, "%s [%zu] %s", prefix, len, hex);
        if (len == 0) {
            break;
        }
    }
}

/*
 * ASSERT's failure path: log where, then abort for a core dump.
 */
void
assert_fail(const char *expr, const char *file, int line)
{
    log_write(LOG_ERROR, "assertion \"%s\" failed at %s:%d", expr, file, line);
    abort();
}

static MB_NORETURN void
oom(size_t size)
{
    log_write(LOG_ERROR, "out of memory allocating %zu bytes", size);
    abort();
}

/*
 * malloc() that never returns NULL: running out of memory aborts, as
 * redis' zmalloc does. There is no useful way to carry on without it.
 */
void *
xmalloc(size_t size)
{
    void *p = malloc(size);

    if (p == NULL) {
        oom(size);
    }
    return p;
}

/*
 * calloc() that never returns NULL.
 */
void *
xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);

    if (p == NULL) {
        oom(n * size);
    }
    return p;
}

/*
 * strdup() that never returns NULL.
 */
char *
xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;

    return memcpy(xmalloc(n), s, n);
}

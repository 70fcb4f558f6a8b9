/* SPDX-License-Identifier: MIT */
/*
 * cfg.c -- loads modbus-mux.ini into a struct cfg.
 *
 * Pass 1 (collect): inih reads the file through our line reader, which
 * counts lines (Debian's libinih has no line number in the handler), checks
 * the syntax inih would only report for the first bad line, and records
 * section headers. The handler stores every key with its line and flags
 * duplicates, which inih would otherwise let the last one win.
 * Pass 2 (interpret): every section's keys are looked up in the key tables
 * (the server's, the [listener] sections' and the common backend keys
 * below, a backend type's own in its struct backend_ops, found through the
 * registry of backend.c), converted with range checks, and cross-checked
 * (types, routes, the type's own rules, listen addresses across [server]
 * and the [listener] sections, whose types are looked up in the front-end
 * registry of frontend.c). Defaults are set before a section's keys are
 * read.
 *
 * Every error is "file:line: [section] key: what is wrong", and loading
 * goes on to find the others: a user fixes a file in one round.
 *
 * Pure: the backend types' key tables and check_cfg() are static data and
 * plain functions; nothing here calls libuv.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "cfg.h"
#include "cfg_int.h"
#include "frontend.h"
#include "log.h"

#define SRV(f) offsetof(struct cfg_server, f)
#define BE(f)  offsetof(struct cfg_backend, f)
#define LST(f) offsetof(struct cfg_listener, f)

static const struct cfg_key server_keys[] = {
    {"listen", CFG_LISTEN, SRV(listen), SRV(n_listen), "0.0.0.0:502", 0, 0,
     NULL, NULL},
    {"max_clients", CFG_UINT, SRV(max_clients), 0, "1000", 1, 100000, NULL,
     NULL},
    {"request_timeout_ms", CFG_UINT, SRV(request_timeout_ms), 0, "5000",
     10, 600000, NULL, NULL},
    {"idle_timeout_s", CFG_UINT, SRV(idle_timeout_s), 0, "0", 0, 604800,
     NULL, NULL},
    {"client_max_pending", CFG_UINT, SRV(client_max_pending), 0, "128",
     1, 4096, NULL, NULL},
    {"log_level", CFG_LEVEL, SRV(log_level), 0, "info", 0, 0, NULL, NULL},
    {"http_listen", CFG_ADDR, SRV(http), 0, "", 0, 0, NULL, NULL},
    {"allow", CFG_ACL, SRV(allow), 0, "", 0, 0, NULL, NULL},
    {"read_only_clients", CFG_ACL, SRV(read_only_clients), 0, "", 0, 0,
     NULL, NULL},
    {"priority_clients", CFG_ACL, SRV(priority_clients), 0, "", 0, 0, NULL,
     NULL},
    CFG_KEYS_END
};

/* The keys of every backend type, after the type's own (its
 * backend_ops.keys), which may give one of them another default or range:
 * the first entry of a name wins. max_inflight is 1 unless the type says
 * its links carry more. */
static const struct cfg_key backend_keys[] = {
    {"min_spacing_ms", CFG_UINT, BE(min_spacing_ms), 0, "0", 0, 600000,
     NULL, NULL},
    {"timeout_ms", CFG_UINT, BE(timeout_ms), 0, "1000", 10, 600000, NULL,
     NULL},
    {"retries", CFG_UINT, BE(retries), 0, "1", 0, 10, NULL, NULL},
    {"retry_delay_ms", CFG_UINT, BE(retry_delay_ms), 0, "0", 0, 60000, NULL,
     NULL},
    {"cache_ttl_ms", CFG_UINT, BE(cache_ttl_ms), 0, "0", 0, 86400000, NULL,
     NULL},
    {"merge_reads", CFG_BOOL, BE(merge_reads), 0, "no", 0, 0, NULL, NULL},
    {"merge_gap", CFG_UINT, BE(merge_gap), 0, "125", 0, 65535, NULL, NULL},
    {"max_read_registers", CFG_UINT, BE(max_read_registers), 0, "125", 1,
     125, NULL, NULL},
    {"serve_stale_ms", CFG_UINT, BE(serve_stale_ms), 0, "0", 0, 86400000,
     NULL, NULL},
    {"read_only", CFG_BOOL, BE(read_only), 0, "no", 0, 0, NULL, NULL},
    {"deny_write", CFG_RANGES, BE(deny_write), 0, "", 0, 0, NULL, NULL},
    {"write_if_changed", CFG_BOOL, BE(write_if_changed), 0, "no", 0, 0, NULL,
     NULL},
    {"min_write_interval_ms", CFG_UINT, BE(min_write_interval_ms), 0, "0", 0,
     86400000, NULL, NULL},
    {"allow_functions", CFG_FUNCTIONS, BE(allow_functions), 0, "", 0, 0,
     NULL, NULL},
    {"max_inflight", CFG_UINT, BE(max_inflight), 0, "1", 1, 1, NULL, NULL},
    {"queue_depth", CFG_UINT, BE(queue_depth), 0, "64", 1, 100000, NULL,
     NULL},
    {"timeout_override", CFG_OVERRIDES, 0, 0, "", 0, 0, NULL, NULL},
    {"poll", CFG_POLLS, 0, 0, "", 0, 0, NULL, NULL},
    {"poll_learn", CFG_BOOL, BE(poll_learn), 0, "no", 0, 0, NULL, NULL},
    {"poll_idle_s", CFG_UINT, BE(poll_idle_s), 0, "300", 0, 86400, NULL,
     NULL},
    CFG_KEYS_END
};

/* Every key of one backend type, its own first: where each value goes in
 * struct cfg_backend (groups resolved). */
#define CFG_KEYS_MAX 64

struct cfg_keyset {
    unsigned n;
    struct {
        const struct cfg_key *k;
        size_t                off;   /* in struct cfg_backend */
    } v[CFG_KEYS_MAX];
};

void
cfg_error(struct cfg_parse *p, int line, const char *fmt, ...)
{
    struct cfg_errors *e = p->errs;
    char *m;
    int n;
    va_list ap;

    if (e->n == CFG_MAX_ERRORS) {
        e->dropped++;
        return;
    }
    e->line[e->n] = line;
    m = e->msg[e->n++];
    n = snprintf(m, CFG_ERR_LEN, "%s:%d: ", p->name, line);
    va_start(ap, fmt);
    vsnprintf(m + n, CFG_ERR_LEN - (size_t)n, fmt, ap);
    va_end(ap);
}

/* Copy <s> without surrounding white space into <out> (<size> bytes). */
static void
trim_copy(char *out, size_t size, const char *s, size_t len)
{
    while (len > 0 && isspace((unsigned char)*s)) {
        s++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)s[len - 1])) {
        len--;
    }
    if (len >= size) {
        len = size - 1;
    }
    memcpy(out, s, len);
    out[len] = '\0';
}

/* Read the next raw line (without its newline) into <buf>; false at EOF. */
static bool
next_line(struct cfg_parse *p, char *buf, size_t size, size_t *len)
{
    size_t n = 0;
    int c;

    for (;;) {
        c = p->fp ? fgetc(p->fp) : (*p->text ? (unsigned char)*p->text++ : EOF);
        if (c == EOF || c == '\n') {
            break;
        }
        if (n + 1 < size) {
            buf[n] = (char)c;
        }
        n++;
    }
    if (c == EOF && n == 0) {
        return false;
    }
    *len = n;
    buf[MB_MIN(n, size - 1)] = '\0';
    return true;
}

/* Check one line's shape; record section headers. Returns false when the
 * line must not reach inih (it would report only the first such line). */
static bool
check_line(struct cfg_parse *p, const char *raw, size_t len)
{
    char t[CFG_LINE_MAX * 2];
    const char *end;
    struct cfg_section *s;

    if (len >= CFG_LINE_MAX - 2) {
        cfg_error(p, p->line, "line too long (%zu characters, at most %d)",
                  len, CFG_LINE_MAX - 3);
        return false;
    }
    trim_copy(t, sizeof(t), raw, len);
    if (t[0] == '\0' || t[0] == ';' || t[0] == '#') {
        return true;
    }
    if (t[0] != '[') {
        if (strpbrk(t, "=:") == NULL) {
            cfg_error(p, p->line, "syntax error: expected \"key = value\" "
                      "or \"[section]\", got \"%s\"", t);
            return false;
        }
        return true;
    }
    end = strchr(t, ']');
    if (end == NULL) {
        cfg_error(p, p->line, "syntax error: section header without ']'");
        return false;
    }
    if (p->n_sections == p->cap_sections) {
        p->cap_sections = p->cap_sections ? p->cap_sections * 2 : 8;
        p->sections = realloc(p->sections,
                              p->cap_sections * sizeof(*p->sections));
        ASSERT(p->sections != NULL);
    }
    s = &p->sections[p->n_sections++];
    trim_copy(s->name, sizeof(s->name), t + 1, (size_t)(end - t - 1));
    s->line = p->line;
    return true;
}

/* inih's reader callback: one line per call, so p->line is exact. */
static char *
cfg_reader(char *str, int num, void *stream)
{
    struct cfg_parse *p = stream;
    char raw[CFG_LINE_MAX * 4];
    size_t len;

    if (!next_line(p, raw, sizeof(raw), &len)) {
        return NULL;
    }
    p->line++;
    if (!check_line(p, raw, len)) {
        raw[0] = '\0';
        len = 0;
    }
    ASSERT(len + 2 <= (size_t)num);
    memcpy(str, raw, len);
    str[len] = '\n';
    str[len + 1] = '\0';
    return str;
}

/* inih's handler: collect, flag duplicates; interpretation comes later. */
static int
cfg_handler(void *user, const char *section, const char *name,
            const char *value)
{
    struct cfg_parse *p = user;
    struct cfg_entry *e;
    char sec[64];

    trim_copy(sec, sizeof(sec), section, strlen(section));
    for (unsigned i = 0; i < p->n_entries; i++) {
        e = &p->entries[i];
        if (strcmp(e->section, sec) == 0 && strcmp(e->key, name) == 0) {
            cfg_error(p, p->line, "[%s] %s: duplicate key (first set at "
                      "line %d)", sec, name, e->line);
            return 1;
        }
    }
    if (p->n_entries == p->cap_entries) {
        p->cap_entries = p->cap_entries ? p->cap_entries * 2 : 32;
        p->entries = realloc(p->entries,
                             p->cap_entries * sizeof(*p->entries));
        ASSERT(p->entries != NULL);
    }
    e = &p->entries[p->n_entries++];
    snprintf(e->section, sizeof(e->section), "%s", sec);
    snprintf(e->key, sizeof(e->key), "%s", name);
    snprintf(e->value, sizeof(e->value), "%s", value);
    e->line = p->line;
    return 1;
}

/* Parse "host:port", "[v6]:port" or "*:port" into <l>. */
static bool
parse_listen_one(const char *s, struct cfg_listen *l)
{
    char host[CFG_HOST_MAX];
    const char *colon;
    char *end;
    unsigned long port;
    struct sockaddr_in *in4 = (struct sockaddr_in *)&l->addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&l->addr;

    if (strlen(s) >= sizeof(l->text)) {
        return false;
    }
    memcpy(l->text, s, strlen(s) + 1);
    memset(&l->addr, 0, sizeof(l->addr));
    colon = strrchr(s, ':');
    if (colon == NULL || colon == s || (size_t)(colon - s) >= sizeof(host)) {
        return false;
    }
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    errno = 0;
    port = strtoul(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || port > 65535) {
        return false;
    }
    if (host[0] == '[') {
        size_t n = strlen(host);

        if (n < 3 || host[n - 1] != ']') {
            return false;
        }
        host[n - 1] = '\0';
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        return inet_pton(AF_INET6, host + 1, &in6->sin6_addr) == 1;
    }
    in4->sin_family = AF_INET;
    in4->sin_port = htons((uint16_t)port);
    if (strcmp(host, "*") == 0) {
        in4->sin_addr.s_addr = htonl(INADDR_ANY);
        return true;
    }
    return inet_pton(AF_INET, host, &in4->sin_addr) == 1;
}

/* Comma-separated listen list into <list> (CFG_MAX_LISTEN) and its count
 * <n>; "none" is no address. False with <bad> on error. */
static bool
parse_listen(const char *value, struct cfg_listen *list, unsigned *n_out,
             char *bad, size_t bad_size)
{
    char item[CFG_LINE_MAX];
    const char *p = value;
    unsigned n_listen = 0;

    *n_out = 0;
    if (strcasecmp(value, "none") == 0) {
        return true;
    }
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);

        trim_copy(item, sizeof(item), p, n);
        if (item[0] == '\0' || n_listen == CFG_MAX_LISTEN ||
            !parse_listen_one(item, &list[n_listen])) {
            snprintf(bad, bad_size, "%s", item);
            return false;
        }
        n_listen++;
        p = comma ? comma + 1 : p + n;
    }
    if (n_listen == 0) {
        snprintf(bad, bad_size, "%s", value);
        return false;
    }
    *n_out = n_listen;
    return true;
}

static bool
parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};

    for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

static bool
parse_uint(const char *v, unsigned long min, unsigned long max,
           unsigned *out)
{
    char *end;
    unsigned long n;

    if (!isdigit((unsigned char)v[0])) {
        return false;
    }
    errno = 0;
    n = strtoul(v, &end, 10);
    if (errno || *end || n < min || n > max) {
        return false;
    }
    *out = (unsigned)n;
    return true;
}

/* Index of <v> among the '|'-separated <choices>, or -1. */
static int
parse_choice(const char *v, const char *choices)
{
    int i = 0;

    for (const char *c = choices; *c; i++) {
        size_t n = strcspn(c, "|");

        if (strlen(v) == n && strncasecmp(v, c, n) == 0) {
            return i;
        }
        c += n + (c[n] == '|');
    }
    return -1;
}

/* A register address, decimal or 0x hex, 0..65535. */
static bool
parse_addr(const char *s, char **end, unsigned *out)
{
    unsigned long v;

    while (isspace((unsigned char)*s)) {
        s++;
    }
    if (!isdigit((unsigned char)*s)) {
        return false;
    }
    errno = 0;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        v = isxdigit((unsigned char)s[2]) ? strtoul(s + 2, end, 16) : 65536;
    } else {
        v = strtoul(s, end, 10);
    }
    if (errno != 0 || v > 65535) {
        return false;
    }
    *out = (unsigned)v;
    return true;
}

/*
 * Take the next item of a comma-separated list at *<p>, trimmed, into <item>
 * (and a copy into <bad> for the error message); false at the end.
 */
static bool
next_item(const char **p, char *item, size_t size, char *bad,
          size_t bad_size)
{
    const char *comma = strchr(*p, ',');
    size_t n = comma ? (size_t)(comma - *p) : strlen(*p);

    if (**p == '\0') {
        return false;
    }
    trim_copy(item, size, *p, n);
    snprintf(bad, bad_size, "%s", item);
    *p = comma ? comma + 1 : *p + n;
    return true;
}

/*
 * "LO[-HI]" at <s> into <lo>, <hi>, with HI >= LO and spaces allowed around
 * the dash; <end> after it and any spaces that follow.
 */
static bool
parse_span(const char *s, char **end, unsigned *lo, unsigned *hi)
{
    if (!parse_addr(s, end, lo)) {
        return false;
    }
    while (isspace((unsigned char)**end)) {
        (*end)++;
    }
    *hi = *lo;
    if (**end == '-' && !parse_addr(*end + 1, end, hi)) {
        return false;
    }
    while (isspace((unsigned char)**end)) {
        (*end)++;
    }
    return *hi >= *lo;
}

/* "LO[-HI], ..." into <be>'s deny_write; false with <bad> on error. */
static bool
parse_ranges(const char *value, struct cfg_backend *be, char *bad,
             size_t bad_size)
{
    char item[CFG_LINE_MAX];
    const char *p = value;

    be->n_deny_write = 0;
    while (next_item(&p, item, sizeof(item), bad, bad_size)) {
        struct cfg_range *r = &be->deny_write[be->n_deny_write];
        char *e;

        if (be->n_deny_write == CFG_MAX_RANGES ||
            !parse_span(item, &e, &r->lo, &r->hi) || *e != '\0') {
            return false;
        }
        be->n_deny_write++;
    }
    return true;
}

/* "LO[-HI]:MS, ..." into <be>'s overrides; false with <bad> on error. */
static bool
parse_overrides(const char *value, struct cfg_backend *be, char *bad,
                size_t bad_size)
{
    char item[CFG_LINE_MAX];
    const char *p = value;

    be->n_overrides = 0;
    while (next_item(&p, item, sizeof(item), bad, bad_size)) {
        struct cfg_override *o = &be->overrides[be->n_overrides];
        char *e;

        if (be->n_overrides == CFG_MAX_OVERRIDES ||
            !parse_span(item, &e, &o->lo, &o->hi) || *e != ':' ||
            !parse_uint(e + 1, 10, 600000, &o->timeout_ms)) {
            return false;
        }
        be->n_overrides++;
    }
    return true;
}

/* "UNIT:TABLE:START-END@MS, ..." into <be>'s polls; false with <bad> on
 * error. */
static bool
parse_polls(const char *value, struct cfg_backend *be, char *bad,
            size_t bad_size)
{
    static const char *const tables[] = {"coils", "discrete", "holding",
                                         "input"};
    char item[CFG_LINE_MAX];
    const char *p = value;

    be->n_polls = 0;
    while (next_item(&p, item, sizeof(item), bad, bad_size)) {
        struct cfg_poll *o = &be->polls[be->n_polls];
        char *unit = item, *table, *span, *ms, *e;
        unsigned u, lo, hi;

        table = strchr(unit, ':');
        span = table != NULL ? strchr(table + 1, ':') : NULL;
        ms = span != NULL ? strchr(span + 1, '@') : NULL;
        if (be->n_polls == CFG_MAX_POLLS || ms == NULL) {
            return false;
        }
        *table++ = '\0';
        *span++ = '\0';
        *ms++ = '\0';
        o->fc = 0;
        for (unsigned i = 0; i < ARRAY_SIZE(tables); i++) {
            if (strcmp(table, tables[i]) == 0) {
                o->fc = (uint8_t)(i + 1);
            }
        }
        if (o->fc == 0 || !parse_addr(unit, &e, &u) || *e != '\0' ||
            u == 0 || u > 255 ||
            !parse_span(span, &e, &lo, &hi) || *e != '\0' || hi > 65535 ||
            !parse_uint(ms, 100, 86400000, &o->period_ms)) {
            return false;
        }
        o->unit = (uint8_t)u;
        o->lo = (uint16_t)lo;
        o->hi = (uint16_t)hi;
        be->n_polls++;
    }
    return true;
}

/* The writes the rules judge themselves: allow_functions cannot name them
 * (it would read as a way past deny_write). */
static bool
judged_write(unsigned fc)
{
    return fc == 5 || fc == 6 || fc == 15 || fc == 16 || fc == 22 ||
           fc == 23;
}

/* "N[-M], ..." into the function code bitmap <bits>; false with <bad> on
 * error. */
static bool
parse_functions(const char *value, uint32_t *bits, char *bad,
                size_t bad_size)
{
    char item[CFG_LINE_MAX];
    const char *p = value;

    memset(bits, 0, 4 * sizeof(*bits));
    while (next_item(&p, item, sizeof(item), bad, bad_size)) {
        unsigned lo, hi;
        char *e;

        if (!parse_span(item, &e, &lo, &hi) || *e != '\0' || lo < 1 ||
            hi > 127) {
            return false;
        }
        for (unsigned fc = lo; fc <= hi; fc++) {
            if (judged_write(fc)) {
                return false;
            }
            bits[fc / 32] |= 1u << (fc % 32);
        }
    }
    return true;
}

/* Convert <value> for key <k> into the struct at <base>, at <off>. */
void
set_key(struct cfg_parse *p, const struct cfg_key *k, void *base,
        size_t off, const char *label, const char *value, int line)
{
    char *field = (char *)base + off;
    char bad[CFG_LINE_MAX];
    int level;

    switch (k->kind) {
    case CFG_UINT:
        if (!parse_uint(value, k->min, k->max, (unsigned *)field)) {
            cfg_error(p, line, "%s %s: invalid value \"%s\" (expected "
                      "%lu..%lu)", label, k->name, value, k->min, k->max);
        }
        break;
    case CFG_BOOL:
        if (!parse_bool(value, (bool *)field)) {
            cfg_error(p, line, "%s %s: invalid value \"%s\" (expected yes "
                      "or no)", label, k->name, value);
        }
        break;
    case CFG_STR:
        if (value[0] == '\0' || strlen(value) >= k->size) {
            cfg_error(p, line, "%s %s: invalid value \"%s\" (expected 1..%zu "
                      "characters)", label, k->name, value, k->size - 1);
        } else {
            memcpy(field, value, strlen(value) + 1);
        }
        break;
    case CFG_LEVEL:
        level = log_level_parse(value);
        if (level < 0) {
            cfg_error(p, line, "%s %s: invalid value \"%s\" (expected error, "
                      "warn, info, debug or trace)", label, k->name, value);
        } else {
            *(unsigned *)field = (unsigned)level;
        }
        break;
    case CFG_ENUM:
        level = parse_choice(value, k->choices);
        if (level < 0) {
            cfg_error(p, line, "%s %s: invalid value \"%s\" (expected %s)",
                      label, k->name, value, k->choices);
        } else {
            *(unsigned *)field = (unsigned)level;
        }
        break;
    case CFG_POLLS:
        if (!parse_polls(value, base, bad, sizeof(bad))) {
            cfg_error(p, line, "%s %s: invalid poll \"%s\" (expected "
                      "UNIT:TABLE:START-END@MS, TABLE coils, discrete, "
                      "holding or input, MS 100..86400000, comma-separated, "
                      "at most %d)", label, k->name, bad, CFG_MAX_POLLS);
        }
        break;
    case CFG_OVERRIDES:
        if (!parse_overrides(value, base, bad, sizeof(bad))) {
            cfg_error(p, line, "%s %s: invalid range \"%s\" (expected "
                      "ADDR[-ADDR]:MS, MS 10..600000, comma-separated, at "
                      "most %d)", label, k->name, bad, CFG_MAX_OVERRIDES);
        }
        break;
    case CFG_ACL:
        /* Only the default is empty: written empty, "allow =" would let
         * everyone in, and a half-edited line must not do that. */
        if (line != 0 && value[0] == '\0') {
            cfg_error(p, line, "%s %s: empty value (name the clients, or "
                      "remove the key)", label, k->name);
        } else if (!acl_parse((struct acl *)field, value, bad, sizeof(bad))) {
            cfg_error(p, line, "%s %s: invalid address range \"%s\" (expected "
                      "ADDR or ADDR/BITS, IPv4 or IPv6, comma-separated, at "
                      "most %d)", label, k->name, bad, ACL_MAX);
        }
        break;
    case CFG_RANGES:
        if (!parse_ranges(value, base, bad, sizeof(bad))) {
            cfg_error(p, line, "%s %s: invalid range \"%s\" (expected "
                      "ADDR or ADDR-ADDR, comma-separated, at most %d)",
                      label, k->name, bad, CFG_MAX_RANGES);
        }
        break;
    case CFG_FUNCTIONS:
        if (!parse_functions(value, (uint32_t *)field, bad, sizeof(bad))) {
            cfg_error(p, line, "%s %s: invalid function code \"%s\" "
                      "(expected N or N-M, 1..127, decimal or 0x hex, "
                      "comma-separated; not 5, 6, 15, 16, 22 or 23, which "
                      "the write rules judge)", label, k->name, bad);
        }
        break;
    case CFG_ADDR:
        memset(field, 0, sizeof(struct cfg_listen));
        if (value[0] != '\0' &&
            !parse_listen_one(value, (struct cfg_listen *)field)) {
            cfg_error(p, line, "%s %s: invalid address \"%s\" (expected "
                      "IPV4:PORT or [IPV6]:PORT)", label, k->name, value);
        }
        break;
    case CFG_LISTEN:
        if (!parse_listen(value, (struct cfg_listen *)field,
                          (unsigned *)((char *)base + k->size), bad,
                          sizeof(bad))) {
            cfg_error(p, line, "%s %s: invalid address \"%s\" (expected "
                      "IPV4:PORT or [IPV6]:PORT, comma-separated, at most "
                      "%d)", label, k->name, bad, CFG_MAX_LISTEN);
        }
        break;
    case CFG_GROUP:
        ASSERT(!"a group of keys is not a key");
        break;
    }
}

/* The first entry of <keys> (a server table) named <name>, or NULL. */
const struct cfg_key *
find_key(const struct cfg_key *keys, const char *name)
{
    for (const struct cfg_key *k = keys; k->name != NULL; k++) {
        if (strcmp(k->name, name) == 0) {
            return k;
        }
    }
    return NULL;
}

static void
load_server(struct cfg_parse *p)
{
    struct cfg_server *srv = &p->cfg->server;

    for (const struct cfg_key *k = server_keys; k->name != NULL; k++) {
        if (k->def != NULL) {
            set_key(p, k, srv, k->off, "(default)", k->def, 0);
        }
    }
    for (unsigned i = 0; i < p->n_entries; i++) {
        struct cfg_entry *e = &p->entries[i];
        const struct cfg_key *k;

        if (strcmp(e->section, "server") != 0) {
            continue;
        }
        k = find_key(server_keys, e->key);
        if (k == NULL) {
            cfg_error(p, e->line, "[server] %s: unknown key", e->key);
            continue;
        }
        set_key(p, k, srv, k->off, "[server]", e->value, e->line);
    }
}

/* Add <keys>, whose struct is at <base> in struct cfg_backend, to <set>. */
static void
keyset_add(struct cfg_keyset *set, const struct cfg_key *keys, size_t base)
{
    for (const struct cfg_key *k = keys; k->name != NULL; k++) {
        if (k->kind == CFG_GROUP) {
            keyset_add(set, k->group, base + k->off);
            continue;
        }
        ASSERT(set->n < CFG_KEYS_MAX);
        set->v[set->n].k = k;
        set->v[set->n].off = base + k->off;
        set->n++;
    }
}

/* The keys of backend type <ops> into <set>: its own, then the common. */
static void
keyset_of(struct cfg_keyset *set, const struct backend_ops *ops)
{
    set->n = 0;
    if (ops->keys != NULL) {
        keyset_add(set, ops->keys, 0);
    }
    keyset_add(set, backend_keys, 0);
}

/* Index in <set> of the key named <name> (the first: a type's own
 * default or range wins), or -1. */
static int
keyset_find(const struct cfg_keyset *set, const char *name)
{
    for (unsigned i = 0; i < set->n; i++) {
        if (strcmp(set->v[i].k->name, name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* Is <name> a key of some backend type, if not of the one at hand? */
static bool
some_type_has_key(const char *name)
{
    struct cfg_keyset set;
    const struct backend_ops *ops;

    for (size_t t = 0; (ops = backend_type_at(t)) != NULL; t++) {
        keyset_of(&set, ops);
        if (keyset_find(&set, name) >= 0) {
            return true;
        }
    }
    return false;
}

bool
valid_name(const char *s)
{
    if (*s == '\0' || strlen(s) >= CFG_NAME_MAX) {
        return false;
    }
    for (; *s; s++) {
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-') {
            return false;
        }
    }
    return true;
}

/* --- [listener NAME] ------------------------------------------------------ */

/* Key <key> of section <section>, or NULL. */
const struct cfg_entry *
find_entry(const struct cfg_parse *p, const char *section, const char *key)
{
    for (unsigned i = 0; i < p->n_entries; i++) {
        if (strcmp(p->entries[i].section, section) == 0 &&
            strcmp(p->entries[i].key, key) == 0) {
            return &p->entries[i];
        }
    }
    return NULL;
}

/* The line of key <key> in section <section>, or 0. */
int
entry_line(const struct cfg_parse *p, const char *section, const char *key)
{
    const struct cfg_entry *e = find_entry(p, section, key);

    return e != NULL ? e->line : 0;
}

/* The names of the registered backend types, "a, b or c", into <out>. */
static void
type_names(char *out, size_t size)
{
    const struct backend_ops *ops;
    size_t n = 0, used = 0;

    while (backend_type_at(n) != NULL) {
        n++;
    }
    out[0] = '\0';
    for (size_t t = 0; (ops = backend_type_at(t)) != NULL; t++) {
        const char *sep = t == 0 ? "" : t + 1 < n ? ", " : " or ";
        int w = snprintf(out + used, size - used, "%s%s", sep, ops->type);

        used = MB_MIN(size - 1, used + (size_t)MB_MAX(w, 0));
    }
}

/* Find the type line of section <sec> and resolve it; NULL if bad. */
static const struct backend_ops *
backend_type(struct cfg_parse *p, const struct cfg_section *sec,
             struct cfg_backend *be)
{
    char names[128];

    for (unsigned i = 0; i < p->n_entries; i++) {
        struct cfg_entry *e = &p->entries[i];
        const struct backend_ops *ops;

        if (strcmp(e->section, sec->name) != 0 || strcmp(e->key, "type")) {
            continue;
        }
        ops = backend_find_ops(e->value);
        if (ops != NULL) {
            snprintf(be->type, sizeof(be->type), "%s", ops->type);
            return ops;
        }
        type_names(names, sizeof(names));
        cfg_error(p, e->line, "[%s] type: unknown backend type \"%s\" "
                  "(expected %s)", sec->name, e->value, names);
        return NULL;
    }
    cfg_error(p, sec->line, "[%s]: missing key \"type\"", sec->name);
    return NULL;
}

/* Keys that must be there, then the type's rules between keys. */
static void
check_backend(struct cfg_parse *p, const struct cfg_section *sec,
              const struct cfg_keyset *set, const struct backend_ops *ops,
              struct cfg_backend *be)
{
    char why[CFG_ERR_LEN];

    for (unsigned i = 0; i < set->n; i++) {
        const struct cfg_key *k = set->v[i].k;

        if (k->def == NULL && k->kind == CFG_STR &&
            ((char *)be + set->v[i].off)[0] == '\0') {
            cfg_error(p, sec->line, "[%s]: missing key \"%s\" (required for "
                      "type %s)", sec->name, k->name, be->type);
        }
    }
    if ((be->n_polls > 0 || be->poll_learn) && be->cache_ttl_ms == 0) {
        cfg_error(p, sec->line, "[%s] poll, poll_learn: they keep the cache "
                  "fresh, and cache_ttl_ms is 0 (give it the time a polled "
                  "value may serve clients)", sec->name);
    }
    if (be->merge_reads && ops->own_cache) {
        cfg_error(p, sec->line, "[%s] merge_reads: type %s reads blocks of "
                  "its own", sec->name, be->type);
    }
    if (ops->check_cfg != NULL && !ops->check_cfg(be, why, sizeof(why))) {
        cfg_error(p, sec->line, "[%s] %s", sec->name, why);
    }
}

/* Every key of <set> that has a default gets it, once per name. */
static void
backend_defaults(struct cfg_parse *p, const struct cfg_keyset *set,
                 struct cfg_backend *be)
{
    for (unsigned i = 0; i < set->n; i++) {
        const struct cfg_key *k = set->v[i].k;

        /* a string key with default "" is optional: unset, it is "" */
        if (k->def != NULL && keyset_find(set, k->name) == (int)i &&
            !(k->kind == CFG_STR && k->def[0] == '\0')) {
            set_key(p, k, be, set->v[i].off, "(default)", k->def, 0);
        }
    }
}

static void
load_backend(struct cfg_parse *p, const struct cfg_section *sec)
{
    struct cfg *cfg = p->cfg;
    struct cfg_backend *be;
    const struct backend_ops *ops;
    struct cfg_keyset set;
    const char *name = sec->name + strlen("backend");
    char label[80];

    while (isspace((unsigned char)*name)) {
        name++;
    }
    if (!valid_name(name)) {
        cfg_error(p, sec->line, "[%s]: invalid backend name \"%s\" (letters, "
                  "digits, '_' and '-', at most %d)", sec->name, name,
                  CFG_NAME_MAX - 1);
        return;
    }
    if (cfg_backend_index(cfg, name) >= 0) {
        cfg_error(p, sec->line, "[%s]: duplicate backend (first at line %d)",
                  sec->name, cfg->backends[cfg_backend_index(cfg, name)].line);
        return;
    }
    cfg->backends = realloc(cfg->backends,
                            (cfg->n_backends + 1) * sizeof(*cfg->backends));
    ASSERT(cfg->backends != NULL);
    be = &cfg->backends[cfg->n_backends++];
    memset(be, 0, sizeof(*be));
    snprintf(be->name, sizeof(be->name), "%s", name);
    be->line = sec->line;
    snprintf(label, sizeof(label), "[%s]", sec->name);
    ops = backend_type(p, sec, be);
    if (ops == NULL) {
        return;
    }
    keyset_of(&set, ops);
    backend_defaults(p, &set, be);
    for (unsigned i = 0; i < p->n_entries; i++) {
        struct cfg_entry *e = &p->entries[i];
        int k;

        if (strcmp(e->section, sec->name) != 0 || !strcmp(e->key, "type")) {
            continue;
        }
        k = keyset_find(&set, e->key);
        if (k >= 0) {
            set_key(p, set.v[k].k, be, set.v[k].off, label, e->value,
                    e->line);
        } else if (some_type_has_key(e->key)) {
            cfg_error(p, e->line, "[%s] %s: not a key of type %s", sec->name,
                      e->key, be->type);
        } else {
            cfg_error(p, e->line, "[%s] %s: unknown key", sec->name, e->key);
        }
    }
    check_backend(p, sec, &set, ops, be);
}

static void
load_route(struct cfg_parse *p, struct cfg_entry *e, int *owner_line)
{
    struct cfg *cfg = p->cfg;
    struct route r;
    char name[CFG_NAME_MAX];
    bool has_units;
    unsigned be_lo, be_hi;

    if (router_parse_units(e->key, &r.lo, &r.hi) != 0) {
        cfg_error(p, e->line, "[route] %s: invalid unit or range (expected "
                  "N or N-M, 0..255, decimal or 0x hex)", e->key);
        return;
    }
    if (router_parse_target(e->value, name, sizeof(name), &has_units,
                            &be_lo, &be_hi) != 0) {
        cfg_error(p, e->line, "[route] %s: invalid target \"%s\" (expected "
                  "BACKEND or BACKEND:UNIT or BACKEND:N-M)", e->key, e->value);
        return;
    }
    r.backend = cfg_backend_index(cfg, name);
    if (r.backend < 0) {
        cfg_error(p, e->line, "[route] %s: unknown backend \"%s\"", e->key,
                  name);
        return;
    }
    if (!has_units) {
        be_lo = r.lo;
        be_hi = r.hi;
    }
    if (be_hi - be_lo != r.hi - r.lo) {
        cfg_error(p, e->line, "[route] %s: %u client units map onto %u "
                  "backend units (ranges must be of equal length)", e->key,
                  r.hi - r.lo + 1, be_hi - be_lo + 1);
        return;
    }
    r.be_lo = be_lo;
    for (unsigned u = r.lo; u <= r.hi; u++) {
        if (owner_line[u]) {
            cfg_error(p, e->line, "[route] %s: unit %u is already routed at "
                      "line %d", e->key, u, owner_line[u]);
            return;
        }
    }
    for (unsigned u = r.lo; u <= r.hi; u++) {
        owner_line[u] = e->line;
    }
    cfg->routes[cfg->n_routes++] = r;
}

static void
load_routes(struct cfg_parse *p)
{
    int owner_line[256] = {0};

    for (unsigned i = 0; i < p->n_entries; i++) {
        if (strcmp(p->entries[i].section, "route") == 0) {
            load_route(p, &p->entries[i], owner_line);
        }
    }
}

/* Sections: known names, no duplicates, keys outside any section. */
static void
check_sections(struct cfg_parse *p)
{
    for (unsigned i = 0; i < p->n_sections; i++) {
        struct cfg_section *s = &p->sections[i];
        bool listener = strncmp(s->name, "listener", 8) == 0 &&
                        isspace((unsigned char)s->name[8]);
        bool known = strcmp(s->name, "server") == 0 ||
                     strcmp(s->name, "route") == 0 || listener ||
                     (strncmp(s->name, "backend", 7) == 0 &&
                      isspace((unsigned char)s->name[7]));

        if (!known) {
            cfg_error(p, s->line, "unknown section [%s] (expected [server], "
                      "[listener NAME], [backend NAME] or [route])", s->name);
            continue;
        }
        for (unsigned j = 0; j < i && !listener; j++) {
            if (strcmp(p->sections[j].name, s->name) == 0 &&
                strncmp(s->name, "backend", 7) != 0) {
                cfg_error(p, s->line, "duplicate section [%s] (first at line "
                          "%d)", s->name, p->sections[j].line);
            }
        }
    }
    for (unsigned i = 0; i < p->n_entries; i++) {
        if (p->entries[i].section[0] == '\0') {
            cfg_error(p, p->entries[i].line, "%s: key outside of any section",
                      p->entries[i].key);
        }
    }
}

static void
interpret(struct cfg_parse *p)
{
    check_sections(p);
    load_server(p);
    cfg_load_server_listener(p);
    for (unsigned i = 0; i < p->n_sections; i++) {
        struct cfg_section *s = &p->sections[i];

        if (strncmp(s->name, "listener", 8) == 0 &&
            isspace((unsigned char)s->name[8])) {
            cfg_load_listener(p, s);
        }
    }
    cfg_check_listeners(p);
    for (unsigned i = 0; i < p->n_sections; i++) {
        struct cfg_section *s = &p->sections[i];

        if (strncmp(s->name, "backend", 7) == 0 &&
            isspace((unsigned char)s->name[7])) {
            load_backend(p, s);
        }
    }
    cfg_check_listener_backends(p);
    load_routes(p);
    if (p->cfg->n_routes == 0 && !cfg_listener_bound(p->cfg) &&
        p->errs->n == 0) {
        cfg_error(p, p->line, "[route]: no routes: every request would be "
                  "refused with 0x0A");
    }
}

/* The passes find errors section by section: report them in line order. */
static void
sort_errors(struct cfg_errors *e)
{
    char tmp[CFG_ERR_LEN];

    for (unsigned i = 1; i < e->n; i++) {
        int line = e->line[i];
        unsigned j = i;

        memcpy(tmp, e->msg[i], CFG_ERR_LEN);
        while (j > 0 && e->line[j - 1] > line) {
            e->line[j] = e->line[j - 1];
            memcpy(e->msg[j], e->msg[j - 1], CFG_ERR_LEN);
            j--;
        }
        e->line[j] = line;
        memcpy(e->msg[j], tmp, CFG_ERR_LEN);
    }
}

static struct cfg *
cfg_load(struct cfg_parse *p)
{
    int rc;

    memset(p->errs, 0, sizeof(*p->errs));
    p->cfg = xcalloc(1, sizeof(*p->cfg));
    snprintf(p->cfg->path, sizeof(p->cfg->path), "%s", p->name);
    ini_allow_multiline = false;       /* an indented line is its own key */
    rc = ini_parse_stream(cfg_reader, p, cfg_handler, p);
    if (rc < 0) {
        cfg_error(p, 0, "cannot read the file");
    } else {
        interpret(p);
    }
    free(p->entries);
    free(p->sections);
    sort_errors(p->errs);
    if (p->errs->n > 0) {
        cfg_free(p->cfg);
        return NULL;
    }
    return p->cfg;
}

/*
 * Load and check the ini file at <path>. Returns the configuration, or NULL
 * with every problem found in <errs> ("path:line: message").
 */
struct cfg *
cfg_load_file(const char *path, struct cfg_errors *errs)
{
    struct cfg_parse p = {.errs = errs, .name = path};
    struct cfg *cfg;

    p.fp = fopen(path, "r");
    if (p.fp == NULL) {
        memset(errs, 0, sizeof(*errs));
        snprintf(errs->msg[0], CFG_ERR_LEN, "%s: cannot open: %s", path,
                 strerror(errno));
        errs->n = 1;
        return NULL;
    }
    cfg = cfg_load(&p);
    fclose(p.fp);
    return cfg;
}

/*
 * Load and check ini <text>, naming it <name> in messages (tests use this).
 * Returns the configuration, or NULL with the problems in <errs>.
 */
struct cfg *
cfg_load_string(const char *name, const char *text, struct cfg_errors *errs)
{
    struct cfg_parse p = {.errs = errs, .name = name, .text = text};

    return cfg_load(&p);
}

/*
 * Free <cfg>; NULL is a no-op.
 */
void
cfg_free(struct cfg *cfg)
{
    if (cfg != NULL) {
        free(cfg->backends);
        free(cfg->listeners);
        free(cfg);
    }
}

/*
 * Return the index of the backend called <name>, or -1.
 */
int
cfg_backend_index(const struct cfg *cfg, const char *name)
{
    for (unsigned i = 0; i < cfg->n_backends; i++) {
        if (strcmp(cfg->backends[i].name, name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/*
 * The listener called <name> ("" for [server] listen), or NULL. Valid as
 * long as <cfg>.
 */
const struct cfg_listener *
cfg_listener_find(const struct cfg *cfg, const char *name)
{
    for (unsigned i = 0; i < cfg->n_listeners; i++) {
        if (strcmp(cfg->listeners[i].name, name) == 0) {
            return &cfg->listeners[i];
        }
    }
    return NULL;
}

/*
 * True if <be>'s allow_functions names function code <fc>.
 */
bool
cfg_allows_function(const struct cfg_backend *be, uint8_t fc)
{
    return fc < 128 && ((be->allow_functions[fc / 32] >> (fc % 32)) & 1u);
}

/*
 * The value of key <key> of backend <be> (a pointer into <be>, as its kind
 * stores it: unsigned, bool, char[]), or NULL if <be>'s type has no such
 * key. For tests and tools that read a type's settings without its
 * struct; the type itself reads them with cfg_own().
 */
const void *
cfg_backend_value(const struct cfg_backend *be, const char *key)
{
    const struct backend_ops *ops = backend_find_ops(be->type);
    struct cfg_keyset set;
    int k;

    if (ops == NULL) {
        return NULL;
    }
    keyset_of(&set, ops);
    k = keyset_find(&set, key);
    return k < 0 ? NULL : (const char *)be + set.v[k].off;
}

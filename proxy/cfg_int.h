/* SPDX-License-Identifier: MIT */
/*
 * cfg_int.h -- what the loader's files (cfg.c: the file, [server],
 * [backend] and [route]; cfg_listener.c: [listener]) share and nothing
 * else uses: the state of one load and the helpers that turn a key's
 * value into a field and report a "file:line: what is wrong".
 */
#ifndef MUX_CFG_INT_H
#define MUX_CFG_INT_H

#include <stdio.h>

#include "cfg.h"

#define CFG_LINE_MAX 200      /* what Debian's libinih reads per line */

/* A key = value line as collected in pass 1. */
struct cfg_entry {
    char section[64];
    char key[64];
    char value[CFG_LINE_MAX];
    int  line;
};

/* A section header line. */
struct cfg_section {
    char name[64];
    int  line;
};

/* State of one load. */
struct cfg_parse {
    struct cfg         *cfg;
    struct cfg_errors  *errs;
    const char         *name;        /* file name in messages */
    FILE               *fp;          /* file source, or */
    const char         *text;        /* string source */
    int                 line;        /* line the reader handed out last */
    struct cfg_entry   *entries;
    unsigned            n_entries, cap_entries;
    struct cfg_section *sections;
    unsigned            n_sections, cap_sections;
};

void cfg_error(struct cfg_parse *p, int line, const char *fmt, ...)
    MB_PRINTF(3, 4);
void set_key(struct cfg_parse *p, const struct cfg_key *k, void *base,
             size_t off, const char *label, const char *value, int line);
const struct cfg_key *find_key(const struct cfg_key *keys, const char *name);
const struct cfg_entry *find_entry(const struct cfg_parse *p,
                                   const char *section, const char *key);
int entry_line(const struct cfg_parse *p, const char *section,
               const char *key);
bool valid_name(const char *s);

/* cfg_listener.c */
void cfg_load_server_listener(struct cfg_parse *p);
void cfg_load_listener(struct cfg_parse *p, const struct cfg_section *sec);
void cfg_check_listeners(struct cfg_parse *p);
void cfg_check_listener_backends(struct cfg_parse *p);
bool cfg_listener_bound(const struct cfg *cfg);

#endif /* MUX_CFG_INT_H */

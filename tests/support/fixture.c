/* SPDX-License-Identifier: MIT */
/*
 * fixture.c -- reads tests/fixtures/NAME.hex for the codec tests (see
 * fixture.h). A malformed fixture fails the test that loads it.
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

#include "fixture.h"

/* Parse hex bytes from <s> up to '>' or the end into <out>. */
static size_t
parse_hex(const char **s, uint8_t *out, size_t size)
{
    size_t n = 0;
    char *end;

    for (;;) {
        while (isspace((unsigned char)**s)) {
            (*s)++;
        }
        if (**s == '\0' || **s == '>') {
            return n;
        }
        cr_assert_lt(n, size, "fixture line too long");
        out[n++] = (uint8_t)strtoul(*s, &end, 16);
        cr_assert_neq(end, *s, "bad hex in fixture: %s", *s);
        *s = end;
    }
}

/*
 * Load <file> from the fixtures directory (MUX_FIXTURES) into <fx>, at
 * most <max> lines. Returns the number of lines loaded.
 */
size_t
fixture_load(const char *file, struct fixture *fx, size_t max)
{
    char path[512], line[2048];
    size_t n = 0;
    int lineno = 0;
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s", MUX_FIXTURES, file);
    fp = fopen(path, "r");
    cr_assert_not_null(fp, "cannot open %s", path);
    while (fgets(line, sizeof(line), fp) != NULL) {
        const char *s = line;
        int used = 0;

        lineno++;
        while (isspace((unsigned char)*s)) {
            s++;
        }
        if (*s == '#' || *s == '\0') {
            continue;
        }
        cr_assert_lt(n, max);
        fx[n].line = lineno;
        cr_assert_eq(sscanf(s, "%15s%n", fx[n].kind, &used), 1);
        s += used;
        fx[n].a_len = parse_hex(&s, fx[n].a, sizeof(fx[n].a));
        fx[n].b_len = 0;
        if (*s == '>') {
            s++;
            fx[n].b_len = parse_hex(&s, fx[n].b, sizeof(fx[n].b));
        }
        n++;
    }
    fclose(fp);
    return n;
}

/* SPDX-License-Identifier: MIT */
/*
 * giv_vectors.c -- loads tests/fixtures/givenergy_vectors.tsv for the
 * GivEnergy codec tests (see giv_vectors.h).
 */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "giv_vectors.h"

#define LINE_MAX_TSV 2048

struct vec vecs[VEC_MAX];
size_t n_vecs;

static int
hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Decode the hex string <s> into <out> (<size> bytes); returns the count. */
static size_t
unhex(const char *s, uint8_t *out, size_t size)
{
    size_t n = strlen(s);

    cr_assert_eq(n % 2, 0, "odd hex length: %s", s);
    cr_assert_leq(n / 2, size, "hex too long: %zu bytes", n / 2);
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

        cr_assert(hi >= 0 && lo >= 0, "bad hex: %s", s);
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return n / 2;
}

static bool
ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), t = strlen(tail);

    return n >= t && strcmp(s + n - t, tail) == 0;
}

/* The verdict and kind that the TSV's columns say vector <v> must get. */
static void
expect_of(struct vec *v)
{
    v->want_kind = 0;
    if (strstr(v->check, "no_crc(heartbeat)") != NULL) {
        cr_assert(strncmp(v->kind, "heartbeat_", 10) == 0, "V%02d", v->num);
        v->want = GIV_OK;
        v->want_kind = GIV_HEARTBEAT;
    } else if (strstr(v->check, "!=len-26") != NULL) {
        v->want = GIV_BAD_LENGTH;
    } else if (strstr(v->check, "CRC_FAIL(") != NULL) {
        if (strcmp(v->kind, "null_response") == 0) {
            v->want = GIV_IGNORE;
            v->want_kind = GIV_NULL_RESPONSE;
        } else if (strcmp(v->kind, "lan_config_broadcast") == 0) {
            v->want = GIV_IGNORE;
            v->want_kind = GIV_LAN_CONFIG;
        } else {
            v->want = GIV_BAD_CRC;
        }
    } else {
        cr_assert(strstr(v->check, "crc_ok") != NULL, "V%02d: check %s",
                  v->num, v->check);
        v->want = GIV_OK;
        if (ends_with(v->kind, "_request")) {
            v->want_kind = GIV_REQUEST;
        } else if (strcmp(v->kind, "error_response") == 0) {
            v->want_kind = GIV_ERROR_RESPONSE;
        } else if (strcmp(v->kind, "write_single_response") == 0) {
            v->want_kind = GIV_WRITE_RESPONSE;
        } else {
            cr_assert(ends_with(v->kind, "_response") ||
                          strcmp(v->kind, "push_chunk_unsolicited") == 0,
                      "V%02d: kind %s", v->num, v->kind);
            v->want_kind = GIV_READ_RESPONSE;
        }
    }
}

/* Split <line> at tabs into <col> (<max> columns); returns the count. */
static size_t
split_tabs(char *line, char **col, size_t max)
{
    size_t n = 0;

    line[strcspn(line, "\r\n")] = '\0';
    while (n < max) {
        char *tab = strchr(line, '\t');

        col[n++] = line;
        if (tab == NULL) {
            break;
        }
        *tab = '\0';
        line = tab + 1;
    }
    return n;
}

/* Load tests/fixtures/givenergy_vectors.tsv into vecs[]. */
void
load_vectors(void)
{
    static char line[LINE_MAX_TSV];
    char path[512], *col[8];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/givenergy_vectors.tsv", MUX_FIXTURES);
    fp = fopen(path, "r");
    cr_assert_not_null(fp, "cannot open %s", path);
    cr_assert_not_null(fgets(line, sizeof(line), fp));
    cr_assert_eq(split_tabs(line, col, 8), 7, "TSV header");
    cr_assert_str_eq(col[0], "kind");
    cr_assert_str_eq(col[2], "hex");
    cr_assert_str_eq(col[5], "check");
    n_vecs = 0;
    while (fgets(line, sizeof(line), fp) != NULL) {
        struct vec *v = &vecs[n_vecs];

        cr_assert_lt(n_vecs, VEC_MAX);
        cr_assert_eq(split_tabs(line, col, 8), 7, "V%02zu columns",
                     n_vecs + 1);
        v->num = (int)++n_vecs;
        snprintf(v->kind, sizeof(v->kind), "%s", col[0]);
        snprintf(v->check, sizeof(v->check), "%s", col[5]);
        v->len = unhex(col[2], v->b, sizeof(v->b));
        expect_of(v);
    }
    fclose(fp);
}

const struct vec *
vec(int num)
{
    if (n_vecs == 0) {
        load_vectors();
    }
    cr_assert(num >= 1 && (size_t)num <= n_vecs, "no V%02d", num);
    return &vecs[num - 1];
}

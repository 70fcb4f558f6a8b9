/* SPDX-License-Identifier: MIT */
/*
 * fixture.h -- captured frames for table-driven codec tests, one per line
 * of a tests/fixtures/NAME.hex file: "KIND hex bytes [> hex bytes]", with
 * '#' comments. KIND says what the test expects (valid, bad_crc, ...).
 */
#ifndef MUX_FIXTURE_H
#define MUX_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#define FIXTURE_MAX   32
#define FIXTURE_BYTES 300

/* One line: a frame, and optionally the frame after '>' (its answer). */
struct fixture {
    char    kind[16];
    int     line;                     /* in the .hex file */
    uint8_t a[FIXTURE_BYTES];         /* before '>' */
    uint8_t b[FIXTURE_BYTES];         /* after '>' */
    size_t  a_len, b_len;             /* b_len 0: no '>' */
};

size_t fixture_load(const char *file, struct fixture *fx, size_t max);

#endif /* MUX_FIXTURE_H */

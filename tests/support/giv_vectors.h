/* SPDX-License-Identifier: MIT */
/*
 * giv_vectors.h -- the 56 captured GivEnergy frames of
 * docs/givenergy.md section 4, from tests/fixtures/givenergy_vectors.tsv
 * (row n is vector Vnn), each with the verdict and kind that the TSV's own `kind` and
 * `check` columns say giv_parse() must give it. For the criterion tests of
 * backends/givenergy_frame.c; a malformed TSV fails the test that loads it.
 */
#ifndef MUX_GIV_VECTORS_H
#define MUX_GIV_VECTORS_H

#include <stddef.h>
#include <stdint.h>

#include "givenergy_frame.h"

#define VEC_MAX     64
#define VEC_COUNT   56         /* V01..V56 in givenergy.md section 4 */

/* One row of the TSV. */
struct vec {
    int     num;                     /* Vnn */
    char    kind[40];                /* TSV column "kind" */
    char    check[80];               /* TSV column "check" */
    uint8_t b[GIV_FRAME_MAX];
    size_t  len;
    enum giv_verdict want;           /* from kind and check */
    enum giv_kind    want_kind;      /* meaningful for OK and IGNORE */
};

/* vecs[0 .. n_vecs - 1] once load_vectors() has run. */
extern struct vec vecs[VEC_MAX];
extern size_t n_vecs;

/* (Re)load every vector; fails the running test on a malformed TSV. */
void load_vectors(void);

/* Vector Vnn (1-based), loading the table the first time. */
const struct vec *vec(int num);

#endif /* MUX_GIV_VECTORS_H */

/* SPDX-License-Identifier: MIT */
/*
 * fuzz_pdu.c -- libFuzzer target for the PDU rules (proxy/pdu.c).
 *
 * Input: one byte N, then a request PDU of N bytes, then a response PDU
 * (the rest). Each part is copied into a heap block of exactly its size,
 * so ASan sees any read past it. pdu_check_request() runs on every
 * request; for requests it accepts, pdu_check_response() runs on the
 * response and pdu_write_echo() writes into a 253-byte buffer. Invariants:
 * the echo is no longer than the request, exists exactly for FC 5, 6, 15,
 * 16 and 22, and is itself a valid response; an exception built with
 * pdu_exception() is always a valid response; a response accepted for a
 * known function code is never longer than a PDU.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pdu.h"

#define PDU_MAX 253

#define CHECK(c)                                                        \
    do {                                                                \
        if (!(c)) {                                                     \
            fprintf(stderr, "fuzz_pdu: check failed: %s (line %d)\n",   \
                    #c, __LINE__);                                      \
            abort();                                                    \
        }                                                               \
    } while (0)

/* A heap copy of exactly <len> bytes (at least 1 byte allocated). */
static uint8_t *
dup_exact(const uint8_t *p, size_t len)
{
    uint8_t *q = malloc(len ? len : 1);

    CHECK(q != NULL);
    if (len > 0) {
        memcpy(q, p, len);
    }
    return q;
}

static bool
has_echo(uint8_t fc)
{
    return fc == MB_FC_WRITE_COIL || fc == MB_FC_WRITE_REGISTER ||
           fc == MB_FC_WRITE_COILS || fc == MB_FC_WRITE_REGISTERS ||
           fc == MB_FC_MASK_WRITE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t out[PDU_MAX], ex_pdu[2];
    uint8_t *req, *rsp;
    size_t req_len, rsp_len, echo;
    uint8_t ex;
    bool ok;

    if (size < 1) {
        return 0;
    }
    req_len = data[0];
    if (req_len > size - 1) {
        req_len = size - 1;
    }
    rsp_len = size - 1 - req_len;
    if (rsp_len > 2 * PDU_MAX) {
        return 0;
    }
    req = dup_exact(data + 1, req_len);
    rsp = dup_exact(data + 1 + req_len, rsp_len);

    ex = pdu_check_request(req, req_len);
    CHECK(ex == MB_EX_NONE || ex == MB_EX_ILLEGAL_FUNCTION ||
          ex == MB_EX_ILLEGAL_ADDRESS || ex == MB_EX_ILLEGAL_VALUE);
    CHECK(ex == MB_EX_ILLEGAL_FUNCTION ||
          (req_len >= 1 && !(req[0] & MB_EX_FLAG)));
    if (ex == MB_EX_NONE && req_len <= PDU_MAX) {
        ok = pdu_check_response(req, req_len, rsp, rsp_len);
        CHECK(!ok || (rsp_len >= 1 && rsp_len <= PDU_MAX));
        CHECK(!ok || rsp[0] == req[0] || rsp[0] == (req[0] | MB_EX_FLAG));
        CHECK(!ok || pdu_is_exception(rsp, rsp_len) ==
                         (rsp[0] == (req[0] | MB_EX_FLAG)));

        memset(out, 0xEE, sizeof(out));
        echo = pdu_write_echo(out, req, req_len);
        CHECK(echo <= req_len);
        CHECK((echo > 0) == has_echo(req[0]));
        CHECK(echo == 0 || memcmp(out, req, echo) == 0);
        CHECK(echo == 0 || pdu_check_response(req, req_len, out, echo));

        CHECK(pdu_exception(ex_pdu, req[0], MB_EX_GW_TARGET) == 2);
        CHECK(pdu_is_exception(ex_pdu, 2));
        CHECK(pdu_check_response(req, req_len, ex_pdu, 2));
        CHECK(pdu_is_read(req[0]) == (req[0] >= 1 && req[0] <= 4));
    }
    free(req);
    free(rsp);
    return 0;
}

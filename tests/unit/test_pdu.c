/* SPDX-License-Identifier: MIT */
/*
 * test_pdu.c -- the PDU rules of proxy/pdu.c.
 *
 * pdu_check_request() is run over a table of requests for every function
 * code the proxy understands (1, 2, 3, 4, 5, 6, 15, 16, 22, 23): valid ones,
 * wrong lengths, quantity 0 and one past the maximum, byte counts that do
 * not match, bad coil values and ranges past 0xFFFF; plus function codes
 * with the exception bit and unknown ones. pdu_check_response() gets a
 * table of request/response pairs (valid answers, device exceptions,
 * exceptions of another function, wrong byte counts, truncations, echoes
 * naming another address). The Sigenergy worked examples come from
 * tests/fixtures/sigenergy.hex as whole ADUs. pdu_exception(),
 * pdu_is_exception(), pdu_write_echo() and pdu_is_read() follow; then
 * which requests only read (pdu_reads_only(): the reads of the Modbus
 * Application Protocol's section 6 in their shape, never FC 8 restart or
 * listen-only, FC 21, FC 43/13 or a user-defined code) and the write part
 * of each write (pdu_write_range()).
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "mbap.h"
#include "fixture.h"
#include "pdu.h"

#define PDU_BUF 300         /* room for requests one past the limits */

/* A PDU in a table: bytes and length (may exceed MB_PDU_MAX on purpose). */
struct pdu {
    uint8_t b[PDU_BUF];
    size_t  len;
};

/* A pdu from a list of byte values. */
#define P(...) {{__VA_ARGS__}, sizeof((uint8_t[]){__VA_ARGS__})}

/* ---------------------------------------------------------------------- */
/* Builders for the variable-length writes. */

/* FC 15: <qty> coils at <addr>, byte count <bc>, <data> data bytes. */
static struct pdu
write_coils(unsigned addr, unsigned qty, unsigned bc, size_t data)
{
    struct pdu p = {{0}, 6 + data};

    p.b[0] = MB_FC_WRITE_COILS;
    p.b[1] = (uint8_t)(addr >> 8);
    p.b[2] = (uint8_t)addr;
    p.b[3] = (uint8_t)(qty >> 8);
    p.b[4] = (uint8_t)qty;
    p.b[5] = (uint8_t)bc;
    for (size_t i = 0; i < data; i++) {
        p.b[6 + i] = (uint8_t)(0xA5 ^ i);
    }
    return p;
}

/* FC 16: <qty> registers at <addr>, byte count <bc>, <data> data bytes. */
static struct pdu
write_regs(unsigned addr, unsigned qty, unsigned bc, size_t data)
{
    struct pdu p = write_coils(addr, qty, bc, data);

    p.b[0] = MB_FC_WRITE_REGISTERS;
    return p;
}

/* FC 23: read <rqty> at <raddr>, write <wqty> at <waddr>, byte count
 * <bc>, <data> data bytes. */
static struct pdu
read_write(unsigned raddr, unsigned rqty, unsigned waddr, unsigned wqty,
           unsigned bc, size_t data)
{
    struct pdu p = {{0}, 10 + data};

    p.b[0] = MB_FC_READ_WRITE;
    p.b[1] = (uint8_t)(raddr >> 8);
    p.b[2] = (uint8_t)raddr;
    p.b[3] = (uint8_t)(rqty >> 8);
    p.b[4] = (uint8_t)rqty;
    p.b[5] = (uint8_t)(waddr >> 8);
    p.b[6] = (uint8_t)waddr;
    p.b[7] = (uint8_t)(wqty >> 8);
    p.b[8] = (uint8_t)wqty;
    p.b[9] = (uint8_t)bc;
    for (size_t i = 0; i < data; i++) {
        p.b[10 + i] = (uint8_t)i;
    }
    return p;
}

/* A read (FC 1..4) of <qty> at <addr>. */
static struct pdu
read_req(uint8_t fc, unsigned addr, unsigned qty)
{
    struct pdu p = {{fc, (uint8_t)(addr >> 8), (uint8_t)addr,
                     (uint8_t)(qty >> 8), (uint8_t)qty}, 5};

    return p;
}

/* A response of <fc> with byte count <bc> and <data> data bytes. */
static struct pdu
read_rsp(uint8_t fc, unsigned bc, size_t data)
{
    struct pdu p = {{fc, (uint8_t)bc}, 2 + data};

    for (size_t i = 0; i < data; i++) {
        p.b[2 + i] = (uint8_t)(i * 3);
    }
    return p;
}

/* ---------------------------------------------------------------------- */
/* pdu_check_request */

/* One request and the exception the proxy must answer it with. */
struct req_case {
    const char *name;
    struct pdu  pdu;
    uint8_t     ex;
};

static const struct req_case static_req_cases[] = {
    /* FC 1 / 2 */
    {"fc1 ok", P(0x01, 0x00, 0x13, 0x00, 0x25), MB_EX_NONE},
    {"fc1 short", P(0x01, 0x00, 0x13, 0x00), MB_EX_ILLEGAL_VALUE},
    {"fc1 long", P(0x01, 0x00, 0x13, 0x00, 0x25, 0x00), MB_EX_ILLEGAL_VALUE},
    {"fc1 fc only", P(0x01), MB_EX_ILLEGAL_VALUE},
    {"fc2 ok", P(0x02, 0x00, 0xC4, 0x00, 0x16), MB_EX_NONE},
    {"fc2 short", P(0x02, 0x00, 0xC4), MB_EX_ILLEGAL_VALUE},
    /* FC 3 / 4 */
    {"fc3 Sigenergy", P(0x03, 0x77, 0x4C, 0x00, 0x02), MB_EX_NONE},
    {"fc3 short", P(0x03, 0x77, 0x4C, 0x00), MB_EX_ILLEGAL_VALUE},
    {"fc3 long", P(0x03, 0x77, 0x4C, 0x00, 0x02, 0x00), MB_EX_ILLEGAL_VALUE},
    {"fc4 ok", P(0x04, 0x75, 0x30, 0x00, 0x0A), MB_EX_NONE},
    {"fc4 fc only", P(0x04), MB_EX_ILLEGAL_VALUE},
    /* FC 5 */
    {"fc5 on", P(0x05, 0x00, 0xAC, 0xFF, 0x00), MB_EX_NONE},
    {"fc5 off", P(0x05, 0xFF, 0xFF, 0x00, 0x00), MB_EX_NONE},
    {"fc5 value 0x0001", P(0x05, 0x00, 0xAC, 0x00, 0x01), MB_EX_ILLEGAL_VALUE},
    {"fc5 value 0xFF01", P(0x05, 0x00, 0xAC, 0xFF, 0x01), MB_EX_ILLEGAL_VALUE},
    {"fc5 value 0x00FF", P(0x05, 0x00, 0xAC, 0x00, 0xFF), MB_EX_ILLEGAL_VALUE},
    {"fc5 value 0xFFFF", P(0x05, 0x00, 0xAC, 0xFF, 0xFF), MB_EX_ILLEGAL_VALUE},
    {"fc5 short", P(0x05, 0x00, 0xAC, 0xFF), MB_EX_ILLEGAL_VALUE},
    {"fc5 long", P(0x05, 0x00, 0xAC, 0xFF, 0x00, 0x00), MB_EX_ILLEGAL_VALUE},
    /* FC 6 */
    {"fc6 ok", P(0x06, 0x00, 0x01, 0x00, 0x03), MB_EX_NONE},
    {"fc6 any value", P(0x06, 0xFF, 0xFF, 0xFF, 0xFF), MB_EX_NONE},
    {"fc6 short", P(0x06, 0x00, 0x01, 0x00), MB_EX_ILLEGAL_VALUE},
    {"fc6 long", P(0x06, 0x00, 0x01, 0x00, 0x03, 0x00), MB_EX_ILLEGAL_VALUE},
    /* FC 15 */
    {"fc15 spec example",
     P(0x0F, 0x00, 0x13, 0x00, 0x0A, 0x02, 0xCD, 0x01), MB_EX_NONE},
    {"fc15 too short for a byte count", P(0x0F, 0x00, 0x13, 0x00, 0x0A),
     MB_EX_ILLEGAL_VALUE},
    {"fc15 one data byte missing",
     P(0x0F, 0x00, 0x13, 0x00, 0x0A, 0x02, 0xCD), MB_EX_ILLEGAL_VALUE},
    {"fc15 one data byte extra",
     P(0x0F, 0x00, 0x13, 0x00, 0x0A, 0x02, 0xCD, 0x01, 0x00),
     MB_EX_ILLEGAL_VALUE},
    /* FC 16 */
    {"fc16 Sigenergy",
     P(0x10, 0x9C, 0x41, 0x00, 0x02, 0x04, 0x00, 0x00, 0x61, 0xA8),
     MB_EX_NONE},
    {"fc16 byte count 3 for 2 registers",
     P(0x10, 0x9C, 0x41, 0x00, 0x02, 0x03, 0x00, 0x00, 0x61),
     MB_EX_ILLEGAL_VALUE},
    {"fc16 one data byte missing",
     P(0x10, 0x9C, 0x41, 0x00, 0x02, 0x04, 0x00, 0x00, 0x61),
     MB_EX_ILLEGAL_VALUE},
    {"fc16 too short for a byte count", P(0x10, 0x9C, 0x41, 0x00, 0x02),
     MB_EX_ILLEGAL_VALUE},
    /* FC 22 */
    {"fc22 spec example", P(0x16, 0x00, 0x04, 0x00, 0xF2, 0x00, 0x25),
     MB_EX_NONE},
    {"fc22 short", P(0x16, 0x00, 0x04, 0x00, 0xF2, 0x00),
     MB_EX_ILLEGAL_VALUE},
    {"fc22 long", P(0x16, 0x00, 0x04, 0x00, 0xF2, 0x00, 0x25, 0x00),
     MB_EX_ILLEGAL_VALUE},
    /* FC 23 */
    {"fc23 spec example",
     P(0x17, 0x00, 0x03, 0x00, 0x06, 0x00, 0x0E, 0x00, 0x03, 0x06, 0x00, 0xFF,
       0x00, 0xFF, 0x00, 0xFF), MB_EX_NONE},
    {"fc23 too short", P(0x17, 0x00, 0x03, 0x00, 0x06, 0x00, 0x0E, 0x00, 0x03),
     MB_EX_ILLEGAL_VALUE},
    /* Exception bit set: not a request at all. */
    {"fc 0x80", P(0x80), MB_EX_ILLEGAL_FUNCTION},
    {"fc 0x81", P(0x81, 0x00, 0x00, 0x00, 0x01), MB_EX_ILLEGAL_FUNCTION},
    {"fc 0x83", P(0x83, 0x00, 0x00, 0x00, 0x01), MB_EX_ILLEGAL_FUNCTION},
    {"fc 0x90", P(0x90, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00),
     MB_EX_ILLEGAL_FUNCTION},
    {"fc 0xFF", P(0xFF), MB_EX_ILLEGAL_FUNCTION},
    /* Unknown function codes travel as opaque PDUs. */
    {"fc 0x2B MEI", P(0x2B, 0x0E, 0x01, 0x00), MB_EX_NONE},
    {"fc 0x2B alone", P(0x2B), MB_EX_NONE},
    {"fc 0x08 diagnostics", P(0x08, 0x00, 0x00, 0xA5, 0x37), MB_EX_NONE},
    {"fc 0x07", P(0x07), MB_EX_NONE},
    {"fc 0x11", P(0x11), MB_EX_NONE},
    {"fc 0x14", P(0x14, 0x0E, 0x06, 0x00, 0x04, 0x00, 0x01, 0x00, 0x02),
     MB_EX_NONE},
    {"fc 0x41 user", P(0x41, 0x01, 0x02, 0x03), MB_EX_NONE},
    {"fc 0x00", P(0x00), MB_EX_NONE},
};

static void
check_req(const char *name, const struct pdu *p, uint8_t want)
{
    uint8_t got = pdu_check_request(p->b, p->len);

    cr_assert_eq(got, want, "%s (len %zu): got 0x%02X, expected 0x%02X",
                 name, p->len, got, want);
}

Test(pdu_check_request, static_table)
{
    for (size_t i = 0; i < ARRAY_SIZE(static_req_cases); i++) {
        check_req(static_req_cases[i].name, &static_req_cases[i].pdu,
                  static_req_cases[i].ex);
    }
}

Test(pdu_check_request, empty)
{
    uint8_t b[1] = {0x03};

    cr_assert_eq(pdu_check_request(b, 0), MB_EX_ILLEGAL_FUNCTION);
}

/* Quantity limits and address ranges of the reads, per function code. */
Test(pdu_check_request, read_limits)
{
    static const struct {
        uint8_t  fc;
        unsigned max;
    } reads[] = {
        {MB_FC_READ_COILS, 2000},
        {MB_FC_READ_DISCRETE, 2000},
        {MB_FC_READ_HOLDING, 125},
        {MB_FC_READ_INPUT, 125},
    };
    char name[64];

    for (size_t i = 0; i < ARRAY_SIZE(reads); i++) {
        uint8_t fc = reads[i].fc;
        unsigned max = reads[i].max;
        const struct {
            unsigned addr, qty;
            uint8_t  ex;
        } c[] = {
            {0, 1, MB_EX_NONE},
            {0, max, MB_EX_NONE},
            {0, 0, MB_EX_ILLEGAL_VALUE},
            {0, max + 1, MB_EX_ILLEGAL_VALUE},
            {0, 0xFFFF, MB_EX_ILLEGAL_VALUE},
            {0xFFFF, 1, MB_EX_NONE},
            {0xFFFF, 2, MB_EX_ILLEGAL_ADDRESS},
            {0x10000 - max, max, MB_EX_NONE},
            {0x10000 - max + 1, max, MB_EX_ILLEGAL_ADDRESS},
            /* Quantity is checked before the range. */
            {0xFFFF, 0, MB_EX_ILLEGAL_VALUE},
            {0xFFFF, max + 1, MB_EX_ILLEGAL_VALUE},
        };

        for (size_t j = 0; j < ARRAY_SIZE(c); j++) {
            struct pdu p = read_req(fc, c[j].addr, c[j].qty);

            snprintf(name, sizeof(name), "fc%u addr %u qty %u", fc,
                     c[j].addr, c[j].qty);
            check_req(name, &p, c[j].ex);
        }
    }
}

/* FC 15 and 16: quantity, byte count and range, built one case at a time. */
Test(pdu_check_request, write_multiple_limits)
{
    const struct {
        const char *name;
        struct pdu  pdu;
        uint8_t     ex;
    } c[] = {
        {"fc15 1 coil", write_coils(0, 1, 1, 1), MB_EX_NONE},
        {"fc15 8 coils, 1 byte", write_coils(0, 8, 1, 1), MB_EX_NONE},
        {"fc15 9 coils, 2 bytes", write_coils(0, 9, 2, 2), MB_EX_NONE},
        {"fc15 9 coils, 1 byte", write_coils(0, 9, 1, 1),
         MB_EX_ILLEGAL_VALUE},
        {"fc15 8 coils, 2 bytes", write_coils(0, 8, 2, 2),
         MB_EX_ILLEGAL_VALUE},
        {"fc15 1968 coils", write_coils(0, 1968, 246, 246), MB_EX_NONE},
        {"fc15 1969 coils", write_coils(0, 1969, 247, 247),
         MB_EX_ILLEGAL_VALUE},
        {"fc15 0 coils", write_coils(0, 0, 0, 0), MB_EX_ILLEGAL_VALUE},
        {"fc15 byte count past the data", write_coils(0, 16, 2, 1),
         MB_EX_ILLEGAL_VALUE},
        {"fc15 data past the byte count", write_coils(0, 8, 1, 2),
         MB_EX_ILLEGAL_VALUE},
        {"fc15 last coil", write_coils(0xFFFF, 1, 1, 1), MB_EX_NONE},
        {"fc15 past 0xFFFF", write_coils(0xFFFF, 2, 1, 1),
         MB_EX_ILLEGAL_ADDRESS},
        {"fc15 1968 ending at 0xFFFF", write_coils(0x10000 - 1968, 1968, 246,
                                                   246), MB_EX_NONE},
        {"fc15 1968 past 0xFFFF", write_coils(0x10000 - 1967, 1968, 246, 246),
         MB_EX_ILLEGAL_ADDRESS},
        {"fc16 1 register", write_regs(0, 1, 2, 2), MB_EX_NONE},
        {"fc16 123 registers", write_regs(0, 123, 246, 246), MB_EX_NONE},
        {"fc16 124 registers", write_regs(0, 124, 248, 248),
         MB_EX_ILLEGAL_VALUE},
        {"fc16 0 registers", write_regs(0, 0, 0, 0), MB_EX_ILLEGAL_VALUE},
        {"fc16 2 registers, byte count 2", write_regs(0, 2, 2, 2),
         MB_EX_ILLEGAL_VALUE},
        {"fc16 2 registers, byte count 6", write_regs(0, 2, 6, 6),
         MB_EX_ILLEGAL_VALUE},
        {"fc16 byte count past the data", write_regs(0, 2, 4, 3),
         MB_EX_ILLEGAL_VALUE},
        {"fc16 data past the byte count", write_regs(0, 2, 4, 5),
         MB_EX_ILLEGAL_VALUE},
        {"fc16 last register", write_regs(0xFFFF, 1, 2, 2), MB_EX_NONE},
        {"fc16 past 0xFFFF", write_regs(0xFFFF, 2, 4, 4),
         MB_EX_ILLEGAL_ADDRESS},
        {"fc16 123 past 0xFFFF", write_regs(0x10000 - 122, 123, 246, 246),
         MB_EX_ILLEGAL_ADDRESS},
    };

    for (size_t i = 0; i < ARRAY_SIZE(c); i++) {
        check_req(c[i].name, &c[i].pdu, c[i].ex);
    }
}

/* FC 23: both quantities, byte count, both ranges. */
Test(pdu_check_request, read_write_limits)
{
    const struct {
        const char *name;
        struct pdu  pdu;
        uint8_t     ex;
    } c[] = {
        {"read 1 write 1", read_write(0, 1, 0, 1, 2, 2), MB_EX_NONE},
        {"read 125 write 121", read_write(0, 125, 0, 121, 242, 242),
         MB_EX_NONE},
        {"read 126", read_write(0, 126, 0, 1, 2, 2), MB_EX_ILLEGAL_VALUE},
        {"read 0", read_write(0, 0, 0, 1, 2, 2), MB_EX_ILLEGAL_VALUE},
        {"write 122", read_write(0, 1, 0, 122, 244, 244),
         MB_EX_ILLEGAL_VALUE},
        {"write 0", read_write(0, 1, 0, 0, 0, 0), MB_EX_ILLEGAL_VALUE},
        {"byte count 3 for 1 register", read_write(0, 1, 0, 1, 3, 3),
         MB_EX_ILLEGAL_VALUE},
        {"byte count past the data", read_write(0, 1, 0, 2, 4, 3),
         MB_EX_ILLEGAL_VALUE},
        {"data past the byte count", read_write(0, 1, 0, 1, 2, 3),
         MB_EX_ILLEGAL_VALUE},
        {"write range past 0xFFFF", read_write(0, 1, 0xFFFF, 2, 4, 4),
         MB_EX_ILLEGAL_ADDRESS},
        {"write range to 0xFFFF", read_write(0, 1, 0xFFFE, 2, 4, 4),
         MB_EX_NONE},
        {"read range past 0xFFFF", read_write(0xFFFF, 2, 0, 1, 2, 2),
         MB_EX_ILLEGAL_ADDRESS},
        {"read range to 0xFFFF", read_write(0xFF83, 125, 0, 1, 2, 2),
         MB_EX_NONE},
        {"read range 125 past 0xFFFF", read_write(0xFF84, 125, 0, 1, 2, 2),
         MB_EX_ILLEGAL_ADDRESS},
    };

    for (size_t i = 0; i < ARRAY_SIZE(c); i++) {
        check_req(c[i].name, &c[i].pdu, c[i].ex);
    }
}

/* Every length of a fixed-length request but the right one is 0x03. */
Test(pdu_check_request, fixed_lengths)
{
    static const struct {
        uint8_t fc;
        size_t  len;
    } fixed[] = {
        {0x01, 5}, {0x02, 5}, {0x03, 5}, {0x04, 5}, {0x05, 5}, {0x06, 5},
        {0x16, 7},
    };
    uint8_t b[PDU_BUF] = {0};

    for (size_t i = 0; i < ARRAY_SIZE(fixed); i++) {
        b[0] = fixed[i].fc;
        b[4] = 1;                       /* quantity 1, coil value 0x0001 */
        if (fixed[i].fc == MB_FC_WRITE_COIL) {
            b[3] = 0xFF;
            b[4] = 0x00;
        }
        for (size_t len = 1; len <= MB_PDU_MAX; len++) {
            uint8_t want = len == fixed[i].len ? MB_EX_NONE
                                               : MB_EX_ILLEGAL_VALUE;

            cr_assert_eq(pdu_check_request(b, len), want, "fc %u len %zu",
                         fixed[i].fc, len);
        }
        b[3] = 0;
    }
}

/* ---------------------------------------------------------------------- */
/* pdu_check_response */

/* A request, a candidate response, and whether it is a valid answer. */
struct rsp_case {
    const char *name;
    struct pdu  req, rsp;
    bool        valid;
};

static const struct rsp_case static_rsp_cases[] = {
    /* FC 3 */
    {"fc3 Sigenergy", P(0x03, 0x77, 0x4C, 0x00, 0x02),
     P(0x03, 0x04, 0x00, 0x00, 0x61, 0xA8), true},
    {"fc3 device exception", P(0x03, 0x77, 0x4C, 0x00, 0x02), P(0x83, 0x02),
     true},
    {"fc3 exception 0x0B", P(0x03, 0x77, 0x4C, 0x00, 0x02), P(0x83, 0x0B),
     true},
    {"fc3 exception with an extra byte", P(0x03, 0x77, 0x4C, 0x00, 0x02),
     P(0x83, 0x02, 0x00), false},
    {"fc3 exception without code", P(0x03, 0x77, 0x4C, 0x00, 0x02), P(0x83),
     false},
    {"fc3 exception of fc 4", P(0x03, 0x77, 0x4C, 0x00, 0x02), P(0x84, 0x02),
     false},
    {"fc3 answered as fc 4", P(0x03, 0x77, 0x4C, 0x00, 0x02),
     P(0x04, 0x04, 0x00, 0x00, 0x61, 0xA8), false},
    {"fc3 byte count 2", P(0x03, 0x77, 0x4C, 0x00, 0x02),
     P(0x03, 0x02, 0x00, 0x00), false},
    {"fc3 byte count 4, 3 bytes", P(0x03, 0x77, 0x4C, 0x00, 0x02),
     P(0x03, 0x04, 0x00, 0x00, 0x61), false},
    {"fc3 byte count 4, 5 bytes", P(0x03, 0x77, 0x4C, 0x00, 0x02),
     P(0x03, 0x04, 0x00, 0x00, 0x61, 0xA8, 0x00), false},
    {"fc3 byte count 6, 4 bytes", P(0x03, 0x77, 0x4C, 0x00, 0x02),
     P(0x03, 0x06, 0x00, 0x00, 0x61, 0xA8), false},
    {"fc3 fc only", P(0x03, 0x77, 0x4C, 0x00, 0x02), P(0x03), false},
    {"fc3 no data", P(0x03, 0x77, 0x4C, 0x00, 0x02), P(0x03, 0x04), false},
    /* FC 4 */
    {"fc4 1 register", P(0x04, 0x00, 0x00, 0x00, 0x01),
     P(0x04, 0x02, 0x12, 0x34), true},
    {"fc4 exception", P(0x04, 0x00, 0x00, 0x00, 0x01), P(0x84, 0x02), true},
    {"fc4 truncated", P(0x04, 0x00, 0x00, 0x00, 0x01), P(0x04, 0x02, 0x12),
     false},
    /* FC 1 / 2: ceil(qty / 8) bytes */
    {"fc1 10 coils, 2 bytes", P(0x01, 0x00, 0x13, 0x00, 0x0A),
     P(0x01, 0x02, 0xCD, 0x01), true},
    {"fc1 10 coils, 1 byte", P(0x01, 0x00, 0x13, 0x00, 0x0A),
     P(0x01, 0x01, 0xCD), false},
    {"fc1 8 coils, 1 byte", P(0x01, 0x00, 0x13, 0x00, 0x08),
     P(0x01, 0x01, 0xCD), true},
    {"fc1 8 coils, 2 bytes", P(0x01, 0x00, 0x13, 0x00, 0x08),
     P(0x01, 0x02, 0xCD, 0x00), false},
    {"fc1 exception", P(0x01, 0x00, 0x13, 0x00, 0x0A), P(0x81, 0x01), true},
    {"fc2 22 inputs, 3 bytes", P(0x02, 0x00, 0xC4, 0x00, 0x16),
     P(0x02, 0x03, 0xAC, 0xDB, 0x35), true},
    {"fc2 22 inputs, count 3, 2 bytes", P(0x02, 0x00, 0xC4, 0x00, 0x16),
     P(0x02, 0x03, 0xAC, 0xDB), false},
    {"fc2 answered as fc 1", P(0x02, 0x00, 0xC4, 0x00, 0x16),
     P(0x01, 0x03, 0xAC, 0xDB, 0x35), false},
    /* FC 5 / 6: echo */
    {"fc5 echo", P(0x05, 0x00, 0xAC, 0xFF, 0x00),
     P(0x05, 0x00, 0xAC, 0xFF, 0x00), true},
    {"fc5 echo of another address", P(0x05, 0x00, 0xAC, 0xFF, 0x00),
     P(0x05, 0x00, 0xAD, 0xFF, 0x00), false},
    {"fc5 echo truncated", P(0x05, 0x00, 0xAC, 0xFF, 0x00),
     P(0x05, 0x00, 0xAC, 0xFF), false},
    {"fc5 exception", P(0x05, 0x00, 0xAC, 0xFF, 0x00), P(0x85, 0x02), true},
    {"fc6 echo", P(0x06, 0x00, 0x01, 0x00, 0x03),
     P(0x06, 0x00, 0x01, 0x00, 0x03), true},
    {"fc6 echo of another address", P(0x06, 0x00, 0x01, 0x00, 0x03),
     P(0x06, 0x01, 0x01, 0x00, 0x03), false},
    {"fc6 echo too long", P(0x06, 0x00, 0x01, 0x00, 0x03),
     P(0x06, 0x00, 0x01, 0x00, 0x03, 0x00), false},
    {"fc6 Sigenergy exception 04", P(0x06, 0x9C, 0x41, 0x00, 0x01),
     P(0x86, 0x04), true},
    {"fc6 exception of fc 3", P(0x06, 0x9C, 0x41, 0x00, 0x01), P(0x83, 0x04),
     false},
    /* FC 15 / 16: address and quantity */
    {"fc15 reply", P(0x0F, 0x00, 0x13, 0x00, 0x0A, 0x02, 0xCD, 0x01),
     P(0x0F, 0x00, 0x13, 0x00, 0x0A), true},
    {"fc15 reply, other quantity",
     P(0x0F, 0x00, 0x13, 0x00, 0x0A, 0x02, 0xCD, 0x01),
     P(0x0F, 0x00, 0x13, 0x00, 0x09), false},
    {"fc15 reply, other address",
     P(0x0F, 0x00, 0x13, 0x00, 0x0A, 0x02, 0xCD, 0x01),
     P(0x0F, 0x00, 0x14, 0x00, 0x0A), false},
    {"fc15 reply with the data",
     P(0x0F, 0x00, 0x13, 0x00, 0x0A, 0x02, 0xCD, 0x01),
     P(0x0F, 0x00, 0x13, 0x00, 0x0A, 0x02), false},
    {"fc16 Sigenergy",
     P(0x10, 0x9C, 0x41, 0x00, 0x02, 0x04, 0x00, 0x00, 0x61, 0xA8),
     P(0x10, 0x9C, 0x41, 0x00, 0x02), true},
    {"fc16 other address",
     P(0x10, 0x9C, 0x41, 0x00, 0x02, 0x04, 0x00, 0x00, 0x61, 0xA8),
     P(0x10, 0x9C, 0x42, 0x00, 0x02), false},
    {"fc16 other quantity",
     P(0x10, 0x9C, 0x41, 0x00, 0x02, 0x04, 0x00, 0x00, 0x61, 0xA8),
     P(0x10, 0x9C, 0x41, 0x00, 0x03), false},
    {"fc16 truncated",
     P(0x10, 0x9C, 0x41, 0x00, 0x02, 0x04, 0x00, 0x00, 0x61, 0xA8),
     P(0x10, 0x9C, 0x41, 0x00), false},
    {"fc16 exception",
     P(0x10, 0x9C, 0x41, 0x00, 0x02, 0x04, 0x00, 0x00, 0x61, 0xA8),
     P(0x90, 0x02), true},
    /* FC 22: echo */
    {"fc22 echo", P(0x16, 0x00, 0x04, 0x00, 0xF2, 0x00, 0x25),
     P(0x16, 0x00, 0x04, 0x00, 0xF2, 0x00, 0x25), true},
    {"fc22 other address", P(0x16, 0x00, 0x04, 0x00, 0xF2, 0x00, 0x25),
     P(0x16, 0x00, 0x05, 0x00, 0xF2, 0x00, 0x25), false},
    {"fc22 truncated", P(0x16, 0x00, 0x04, 0x00, 0xF2, 0x00, 0x25),
     P(0x16, 0x00, 0x04, 0x00, 0xF2), false},
    {"fc22 exception", P(0x16, 0x00, 0x04, 0x00, 0xF2, 0x00, 0x25),
     P(0x96, 0x03), true},
    /* FC 23: read quantity decides the byte count */
    {"fc23 spec example",
     P(0x17, 0x00, 0x03, 0x00, 0x06, 0x00, 0x0E, 0x00, 0x03, 0x06, 0x00, 0xFF,
       0x00, 0xFF, 0x00, 0xFF),
     P(0x17, 0x0C, 0x00, 0xFE, 0x0A, 0xCD, 0x00, 0x01, 0x00, 0x03, 0x00, 0x0D,
       0x00, 0xFF), true},
    {"fc23 byte count of the write",
     P(0x17, 0x00, 0x03, 0x00, 0x06, 0x00, 0x0E, 0x00, 0x03, 0x06, 0x00, 0xFF,
       0x00, 0xFF, 0x00, 0xFF),
     P(0x17, 0x06, 0x00, 0xFE, 0x0A, 0xCD, 0x00, 0x01), false},
    {"fc23 exception",
     P(0x17, 0x00, 0x03, 0x00, 0x06, 0x00, 0x0E, 0x00, 0x03, 0x06, 0x00, 0xFF,
       0x00, 0xFF, 0x00, 0xFF), P(0x97, 0x01), true},
    /* Unknown function codes: only the function code is checked. */
    {"fc 0x2B MEI reply", P(0x2B, 0x0E, 0x01, 0x00),
     P(0x2B, 0x0E, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x03, 'S', 'i', 'g'),
     true},
    {"fc 0x2B fc only", P(0x2B, 0x0E, 0x01, 0x00), P(0x2B), true},
    {"fc 0x2B exception", P(0x2B, 0x0E, 0x01, 0x00), P(0xAB, 0x01), true},
    {"fc 0x2B exception, 3 bytes", P(0x2B, 0x0E, 0x01, 0x00),
     P(0xAB, 0x01, 0x00), false},
    {"fc 0x08 echo", P(0x08, 0x00, 0x00, 0xA5, 0x37),
     P(0x08, 0x00, 0x00, 0xA5, 0x37), true},
    {"fc 0x08 anything", P(0x08, 0x00, 0x00, 0xA5, 0x37), P(0x08, 0x01),
     true},
    {"fc 0x08 answered as fc 3", P(0x08, 0x00, 0x00, 0xA5, 0x37),
     P(0x03, 0x02, 0x00, 0x00), false},
};

Test(pdu_check_response, static_table)
{
    for (size_t i = 0; i < ARRAY_SIZE(static_rsp_cases); i++) {
        const struct rsp_case *c = &static_rsp_cases[i];

        cr_assert_eq(pdu_check_request(c->req.b, c->req.len), MB_EX_NONE,
                     "%s: the request itself is invalid", c->name);
        cr_assert_eq(pdu_check_response(c->req.b, c->req.len, c->rsp.b,
                                        c->rsp.len), c->valid,
                     "%s: expected %s", c->name,
                     c->valid ? "valid" : "invalid");
    }
}

Test(pdu_check_response, empty_is_never_valid)
{
    static const struct pdu reqs[] = {
        P(0x03, 0x00, 0x00, 0x00, 0x01), P(0x06, 0x00, 0x01, 0x00, 0x03),
        P(0x2B, 0x0E, 0x01, 0x00), P(0x08, 0x00, 0x00, 0x00, 0x00),
    };
    uint8_t rsp[1] = {0x03};

    for (size_t i = 0; i < ARRAY_SIZE(reqs); i++) {
        cr_assert_not(pdu_check_response(reqs[i].b, reqs[i].len, rsp, 0),
                      "fc 0x%02X", reqs[i].b[0]);
    }
}

Test(pdu_check_response, longer_than_a_pdu)
{
    static const uint8_t req[] = {0x2B, 0x0E, 0x01, 0x00};
    uint8_t rsp[MB_PDU_MAX + 1];

    memset(rsp, 0, sizeof(rsp));
    rsp[0] = 0x2B;
    cr_assert(pdu_check_response(req, sizeof(req), rsp, MB_PDU_MAX));
    cr_assert_not(pdu_check_response(req, sizeof(req), rsp, MB_PDU_MAX + 1));
}

/* The byte count of every read quantity, up to the limits. */
Test(pdu_check_response, read_byte_counts)
{
    static const struct {
        uint8_t  fc;
        unsigned max;
        unsigned per;        /* 0: bits, else bytes per register */
    } reads[] = {
        {MB_FC_READ_COILS, 2000, 0},
        {MB_FC_READ_DISCRETE, 2000, 0},
        {MB_FC_READ_HOLDING, 125, 2},
        {MB_FC_READ_INPUT, 125, 2},
    };

    for (size_t i = 0; i < ARRAY_SIZE(reads); i++) {
        for (unsigned qty = 1; qty <= reads[i].max; qty++) {
            struct pdu req = read_req(reads[i].fc, 0, qty);
            unsigned n = reads[i].per ? qty * reads[i].per : (qty + 7) / 8;
            struct pdu ok = read_rsp(reads[i].fc, n, n);
            struct pdu shorter = read_rsp(reads[i].fc, n - 1, n - 1);
            struct pdu longer = read_rsp(reads[i].fc, n + 1, n + 1);
            struct pdu lying = read_rsp(reads[i].fc, n, n - 1);

            cr_assert(pdu_check_response(req.b, req.len, ok.b, ok.len),
                      "fc %u qty %u", reads[i].fc, qty);
            cr_assert_not(pdu_check_response(req.b, req.len, shorter.b,
                                             shorter.len),
                          "fc %u qty %u short", reads[i].fc, qty);
            cr_assert_not(pdu_check_response(req.b, req.len, longer.b,
                                             longer.len),
                          "fc %u qty %u long", reads[i].fc, qty);
            cr_assert_not(pdu_check_response(req.b, req.len, lying.b,
                                             lying.len),
                          "fc %u qty %u truncated", reads[i].fc, qty);
        }
    }
}

/* ---------------------------------------------------------------------- */
/* The Sigenergy fixtures: whole ADUs captured on the wire. */

Test(pdu_fixtures, sigenergy)
{
    static struct fixture fx[FIXTURE_MAX];
    size_t n = fixture_load("sigenergy.hex", fx, FIXTURE_MAX);
    size_t n_ok = 0;

    cr_assert_geq(n, 8, "only %zu fixtures", n);
    for (size_t i = 0; i < n; i++) {
        struct fixture *f = &fx[i];
        struct mbap qh, rh;
        bool ok = strcmp(f->kind, "ok") == 0;

        cr_assert(ok || strcmp(f->kind, "bad-rsp") == 0,
                  "line %d: verdict %s", f->line, f->kind);
        cr_assert_eq(mbap_decode(f->a, f->a_len, &qh), MBAP_OK,
                     "line %d: request ADU", f->line);
        cr_assert_eq(mbap_decode(f->b, f->b_len, &rh), MBAP_OK,
                     "line %d: response ADU", f->line);
        cr_assert_eq(f->a_len, (size_t)6 + qh.len, "line %d", f->line);
        cr_assert_eq(f->b_len, (size_t)6 + rh.len, "line %d", f->line);
        cr_assert_eq(qh.tid, rh.tid, "line %d: tid", f->line);
        cr_assert_eq(qh.unit, 1, "line %d: unit", f->line);
        cr_assert_eq(rh.unit, 1, "line %d: unit", f->line);
        cr_assert_eq(pdu_check_request(f->a + MB_MBAP_HDR, qh.len - 1u),
                     MB_EX_NONE, "line %d: request refused", f->line);
        cr_assert_eq(pdu_check_response(f->a + MB_MBAP_HDR, qh.len - 1u,
                                        f->b + MB_MBAP_HDR, rh.len - 1u),
                     ok, "line %d: response should be %s", f->line,
                     ok ? "valid" : "rejected");
        n_ok += ok;
    }
    cr_assert_geq(n_ok, 4);
}

/* ---------------------------------------------------------------------- */
/* pdu_exception, pdu_is_exception */

Test(pdu_exception, build)
{
    static const struct {
        uint8_t fc, code, b0;
    } c[] = {
        {0x03, MB_EX_GW_TARGET, 0x83},
        {0x06, MB_EX_DEVICE_FAILURE, 0x86},
        {0x10, MB_EX_BUSY, 0x90},
        {0x01, MB_EX_ILLEGAL_FUNCTION, 0x81},
        {0x2B, MB_EX_GW_PATH, 0xAB},
        {0x83, MB_EX_ILLEGAL_FUNCTION, 0x83},
        {0x00, MB_EX_ILLEGAL_ADDRESS, 0x80},
        {0x7F, MB_EX_ILLEGAL_VALUE, 0xFF},
    };

    for (size_t i = 0; i < ARRAY_SIZE(c); i++) {
        uint8_t out[4] = {0xEE, 0xEE, 0xEE, 0xEE};

        cr_assert_eq(pdu_exception(out, c[i].fc, c[i].code), 2);
        cr_assert_eq(out[0], c[i].b0, "fc 0x%02X", c[i].fc);
        cr_assert_eq(out[1], c[i].code);
        cr_assert_eq(out[2], 0xEE, "wrote past 2 bytes");
        cr_assert(pdu_is_exception(out, 2));
    }
}

Test(pdu_exception, built_exception_answers_its_request)
{
    static const struct pdu reqs[] = {
        P(0x03, 0x77, 0x4C, 0x00, 0x02), P(0x06, 0x9C, 0x41, 0x00, 0x01),
        P(0x10, 0x9C, 0x41, 0x00, 0x02, 0x04, 0x00, 0x00, 0x61, 0xA8),
        P(0x2B, 0x0E, 0x01, 0x00),
    };
    uint8_t out[2];

    for (size_t i = 0; i < ARRAY_SIZE(reqs); i++) {
        size_t n = pdu_exception(out, reqs[i].b[0], MB_EX_GW_TARGET);

        cr_assert(pdu_check_response(reqs[i].b, reqs[i].len, out, n));
    }
}

Test(pdu_exception, is_exception)
{
    static const struct {
        struct pdu p;
        bool       exc;
    } c[] = {
        {P(0x83, 0x02), true},
        {P(0x86, 0x04), true},
        {P(0xFF, 0x00), true},
        {P(0x03, 0x02), false},
        {P(0x83, 0x02, 0x00), false},
        {P(0x83), false},
        {P(0x03, 0x04, 0x00, 0x00, 0x61, 0xA8), false},
    };

    for (size_t i = 0; i < ARRAY_SIZE(c); i++) {
        cr_assert_eq(pdu_is_exception(c[i].p.b, c[i].p.len), c[i].exc,
                     "case %zu", i);
    }
}

/* ---------------------------------------------------------------------- */
/* pdu_write_echo */

Test(pdu_write_echo, writes)
{
    const struct {
        const char *name;
        struct pdu  req, echo;
    } c[] = {
        {"fc5", P(0x05, 0x00, 0xAC, 0xFF, 0x00),
         P(0x05, 0x00, 0xAC, 0xFF, 0x00)},
        {"fc6", P(0x06, 0x00, 0x01, 0x00, 0x03),
         P(0x06, 0x00, 0x01, 0x00, 0x03)},
        {"fc15", P(0x0F, 0x00, 0x13, 0x00, 0x0A, 0x02, 0xCD, 0x01),
         P(0x0F, 0x00, 0x13, 0x00, 0x0A)},
        {"fc16 Sigenergy",
         P(0x10, 0x9C, 0x41, 0x00, 0x02, 0x04, 0x00, 0x00, 0x61, 0xA8),
         P(0x10, 0x9C, 0x41, 0x00, 0x02)},
        {"fc16 max", write_regs(0x0100, 123, 246, 246),
         P(0x10, 0x01, 0x00, 0x00, 0x7B)},
        {"fc22", P(0x16, 0x00, 0x04, 0x00, 0xF2, 0x00, 0x25),
         P(0x16, 0x00, 0x04, 0x00, 0xF2, 0x00, 0x25)},
    };

    for (size_t i = 0; i < ARRAY_SIZE(c); i++) {
        uint8_t out[MB_PDU_MAX + 1];
        size_t n;

        memset(out, 0xEE, sizeof(out));
        n = pdu_write_echo(out, c[i].req.b, c[i].req.len);
        cr_assert_eq(n, c[i].echo.len, "%s: length %zu", c[i].name, n);
        cr_assert_arr_eq(out, c[i].echo.b, n, "%s: bytes", c[i].name);
        cr_assert_eq(out[n], 0xEE, "%s: wrote past the echo", c[i].name);
        /* What a broadcast is answered with must pass as a response. */
        cr_assert(pdu_check_response(c[i].req.b, c[i].req.len, out, n),
                  "%s: echo is not a valid response", c[i].name);
    }
}

Test(pdu_write_echo, none_for_reads_and_unknown)
{
    static const struct pdu reqs[] = {
        P(0x01, 0x00, 0x13, 0x00, 0x25), P(0x02, 0x00, 0xC4, 0x00, 0x16),
        P(0x03, 0x77, 0x4C, 0x00, 0x02), P(0x04, 0x75, 0x30, 0x00, 0x0A),
        P(0x17, 0x00, 0x03, 0x00, 0x06, 0x00, 0x0E, 0x00, 0x03, 0x06, 0x00,
          0xFF, 0x00, 0xFF, 0x00, 0xFF),
        P(0x2B, 0x0E, 0x01, 0x00), P(0x08, 0x00, 0x00, 0xA5, 0x37),
        P(0x11),
    };
    uint8_t out[MB_PDU_MAX];

    for (size_t i = 0; i < ARRAY_SIZE(reqs); i++) {
        memset(out, 0xEE, sizeof(out));
        cr_assert_eq(pdu_write_echo(out, reqs[i].b, reqs[i].len), 0,
                     "fc 0x%02X", reqs[i].b[0]);
        cr_assert_eq(out[0], 0xEE, "fc 0x%02X: wrote", reqs[i].b[0]);
    }
}

/* ---------------------------------------------------------------------- */
/* pdu_is_read, pdu_get16 */

Test(pdu_is_read, every_function_code)
{
    for (unsigned fc = 0; fc < 256; fc++) {
        bool want = fc >= 1 && fc <= 4;

        cr_assert_eq(pdu_is_read((uint8_t)fc), want, "fc 0x%02X", fc);
    }
}

Test(pdu_get16, big_endian)
{
    static const uint8_t b[] = {0x77, 0x4C, 0xFF, 0x00, 0x01};

    cr_assert_eq(pdu_get16(b), 0x774C);
    cr_assert_eq(pdu_get16(b + 2), 0xFF00);
    cr_assert_eq(pdu_get16(b + 3), 0x0001);
}

/* ---------------------------------------------------------------------- */
/* pdu_reads_only, pdu_is_ranged_write, pdu_write_range */

Test(pdu_reads_only, the_reads_in_their_shape)
{
    static const struct pdu reads[] = {
        P(0x01, 0x00, 0x13, 0x00, 0x25), P(0x03, 0x77, 0x4C, 0x00, 0x02),
        P(0x07), P(0x0B), P(0x0C), P(0x11),
        P(0x08, 0x00, 0x00), P(0x08, 0x00, 0x00, 0xA5, 0x37),
        P(0x08, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04),
        P(0x08, 0x00, 0x02, 0x00, 0x00), P(0x08, 0x00, 0x0B, 0x00, 0x00),
        P(0x08, 0x00, 0x12, 0x00, 0x00),
        P(0x14, 0x07, 0x06, 0x00, 0x04, 0x00, 0x01, 0x00, 0x02),
        P(0x14, 0x0E, 0x06, 0x00, 0x04, 0x00, 0x01, 0x00, 0x02,
          0x06, 0x00, 0x03, 0x27, 0x0F, 0x00, 0x02),
        P(0x18, 0x04, 0xDE), P(0x2B, 0x0E, 0x01, 0x00),
    };

    for (size_t i = 0; i < ARRAY_SIZE(reads); i++) {
        cr_assert(pdu_reads_only(reads[i].b, reads[i].len),
                  "read %zu: fc 0x%02X", i, reads[i].b[0]);
    }
}

Test(pdu_reads_only, writes_and_the_unknown_are_not_reads)
{
    static const struct pdu others[] = {
        P(0x05, 0x00, 0xAC, 0xFF, 0x00), P(0x06, 0x00, 0x01, 0x00, 0x03),
        P(0x16, 0x00, 0x04, 0x00, 0xF2, 0x00, 0x25),
        P(0x17, 0x00, 0x03, 0x00, 0x01, 0x00, 0x0E, 0x00, 0x01, 0x02, 0x00,
          0xFF),
        /* FC 8: restart, delimiter, listen only, clear, clear overrun, a
         * reserved sub-function, a counter with data, a cut one. */
        P(0x08, 0x00, 0x01, 0x00, 0x00), P(0x08, 0x00, 0x01, 0xFF, 0x00),
        P(0x08, 0x00, 0x03, 0x0A, 0x00), P(0x08, 0x00, 0x04, 0x00, 0x00),
        P(0x08, 0x00, 0x0A, 0x00, 0x00), P(0x08, 0x00, 0x14, 0x00, 0x00),
        P(0x08, 0x00, 0x13, 0x00, 0x00), P(0x08, 0x00, 0x0B, 0x00, 0x01),
        P(0x08, 0x00, 0x0B, 0x00), P(0x08, 0x00), P(0x08),
        /* FC 7, 11, 12, 17 with bytes they do not have. */
        P(0x07, 0x00), P(0x0B, 0x01), P(0x0C, 0x00, 0x00), P(0x11, 0x01),
        /* FC 20: another reference type, a record past 0x270F, a byte
         * count that is no multiple of 7 or does not match. */
        P(0x14, 0x07, 0x07, 0x00, 0x04, 0x00, 0x01, 0x00, 0x02),
        P(0x14, 0x07, 0x06, 0x00, 0x04, 0x27, 0x10, 0x00, 0x02),
        P(0x14, 0x08, 0x06, 0x00, 0x04, 0x00, 0x01, 0x00, 0x02, 0x00),
        P(0x14, 0x0E, 0x06, 0x00, 0x04, 0x00, 0x01, 0x00, 0x02),
        P(0x14),
        /* FC 21 write file record, FC 24 cut, FC 43/13 CANopen, FC 43/14
         * cut. */
        P(0x15, 0x09, 0x06, 0x00, 0x04, 0x00, 0x01, 0x00, 0x01, 0x12, 0x34),
        P(0x18, 0x04), P(0x2B, 0x0D, 0x00, 0x00), P(0x2B, 0x0E, 0x01),
        /* user-defined and unassigned codes */
        P(0x41), P(0x48, 0x00), P(0x64, 0xFF), P(0x6E), P(0x09), P(0x7F),
        P(0x00),
    };

    for (size_t i = 0; i < ARRAY_SIZE(others); i++) {
        cr_assert_not(pdu_reads_only(others[i].b, others[i].len),
                      "case %zu: fc 0x%02X", i, others[i].b[0]);
    }
    cr_assert_not(pdu_reads_only(others[0].b, 0), "empty");
}

Test(pdu_is_ranged_write, every_function_code)
{
    for (unsigned fc = 0; fc < 256; fc++) {
        bool want = fc == 5 || fc == 6 || fc == 15 || fc == 16 || fc == 22 ||
                    fc == 23;

        cr_assert_eq(pdu_is_ranged_write((uint8_t)fc), want, "fc 0x%02X",
                     fc);
    }
}

Test(pdu_write_range, the_write_part_only)
{
    static const struct {
        struct pdu req;
        bool       has;
        unsigned   lo, hi;
    } c[] = {
        {P(0x05, 0x00, 0xAC, 0xFF, 0x00), true, 0xAC, 0xAC},
        {P(0x06, 0x00, 0x01, 0x00, 0x03), true, 1, 1},
        {P(0x0F, 0x00, 0x13, 0x00, 0x0A, 0x02, 0xCD, 0x01), true, 0x13, 0x1C},
        {P(0x10, 0x9C, 0x41, 0x00, 0x02, 0x04, 0x00, 0x00, 0x61, 0xA8), true,
         0x9C41, 0x9C42},
        {P(0x16, 0x00, 0x04, 0x00, 0xF2, 0x00, 0x25), true, 4, 4},
        /* FC 23: read 3..8, write 14..16: only 14..16 is written */
        {P(0x17, 0x00, 0x03, 0x00, 0x06, 0x00, 0x0E, 0x00, 0x03, 0x06, 0x00,
           0xFF, 0x00, 0xFF, 0x00, 0xFF), true, 14, 16},
        {P(0x03, 0x77, 0x4C, 0x00, 0x02), false, 0, 0},
        {P(0x01, 0x00, 0x13, 0x00, 0x25), false, 0, 0},
        {P(0x08, 0x00, 0x01, 0x00, 0x00), false, 0, 0},
        {P(0x15, 0x09, 0x06, 0x00, 0x04, 0x00, 0x01, 0x00, 0x01, 0x12, 0x34),
         false, 0, 0},
    };

    for (size_t i = 0; i < ARRAY_SIZE(c); i++) {
        unsigned lo = 0, hi = 0;

        cr_assert_eq(pdu_write_range(c[i].req.b, c[i].req.len, &lo, &hi),
                     c[i].has, "case %zu", i);
        if (c[i].has) {
            cr_assert_eq(lo, c[i].lo, "case %zu: lo %u", i, lo);
            cr_assert_eq(hi, c[i].hi, "case %zu: hi %u", i, hi);
        }
    }
}

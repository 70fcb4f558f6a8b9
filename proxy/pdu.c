/* SPDX-License-Identifier: MIT */
/*
 * pdu.c -- length and quantity rules for the function codes the proxy
 * understands (1, 2, 3, 4, 5, 6, 15, 16, 22, 23), from the Modbus
 * Application Protocol v1.1b3. Any other function code is carried as an
 * opaque PDU; pdu_reads_only() knows which of them only read. A request
 * that breaks the rules is answered by the proxy itself (it would only
 * confuse the device); a response that breaks them counts as a failed
 * attempt, never as an answer.
 */
#include <string.h>

#include "core.h"
#include "pdu.h"

/*
 * Return the big-endian 16-bit value at <p>.
 */
uint16_t
pdu_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/*
 * True for the pure reads (FC 1..4): the only requests that may be retried
 * or share one backend transaction. FC 23 writes, so it is not one.
 */
bool
pdu_is_read(uint8_t fc)
{
    return fc >= MB_FC_READ_COILS && fc <= MB_FC_READ_INPUT;
}

/*
 * The requests beyond FC 1-4 that only read, as the Modbus Application
 * Protocol v1.1b3 (section 6) defines them, each with the shape it must
 * have: a malformed one is no read, since a device could take it for
 * anything. The write rules let these through and refuse every other code
 * they cannot judge (policy.c). Left out on purpose: FC 8 restart
 * communications (0x0001), change ASCII delimiter (0x0003), force listen
 * only mode (0x0004), clear counters (0x000A) and clear overrun counter
 * (0x0014); FC 21 write file record; FC 43/13 CANopen general reference,
 * which can write objects; every user-defined code (65-72, 100-110).
 */
static bool
shape_bare(const uint8_t *pdu, size_t len)
{
    (void)pdu;
    return len == 1;
}

/* FC 8: return query data (0x0000, any data), return diagnostic register
 * (0x0002) and the counters (0x000B-0x0012), whose data is 0x0000. */
static bool
shape_diag(const uint8_t *pdu, size_t len)
{
    unsigned sub = len >= 3 ? pdu_get16(pdu + 1) : 0xFFFFu;

    if (sub == 0x0000) {
        return true;
    }
    return len == 5 && pdu_get16(pdu + 3) == 0 &&
           (sub == 0x0002 || (sub >= 0x000B && sub <= 0x0012));
}

/* FC 20: sub-requests of 7 bytes, each of reference type 6 and record
 * number 0..0x270F. */
static bool
shape_file_read(const uint8_t *pdu, size_t len)
{
    if (len < 2 || pdu[1] < 7 || pdu[1] > 0xF5 || pdu[1] % 7 != 0 ||
        len != 2u + pdu[1]) {
        return false;
    }
    for (size_t i = 2; i < len; i += 7) {
        if (pdu[i] != 6 || pdu_get16(pdu + i + 3) > 0x270F) {
            return false;
        }
    }
    return true;
}

/* FC 24: the FIFO pointer address. The function "reads the queue
 * contents, but does not clear them". */
static bool
shape_fifo(const uint8_t *pdu, size_t len)
{
    (void)pdu;
    return len == 3;
}

/* FC 43 with MEI type 14, read device identification: code and object. */
static bool
shape_device_id(const uint8_t *pdu, size_t len)
{
    return len == 4 && pdu[1] == 0x0E;
}

static const struct {
    uint8_t fc;
    bool  (*shape)(const uint8_t *pdu, size_t len);
} pdu_reads[] = {
    {0x07, shape_bare},           /* 6.7 read exception status */
    {0x08, shape_diag},           /* 6.8 diagnostics, the reading ones */
    {0x0B, shape_bare},           /* 6.9 get comm event counter */
    {0x0C, shape_bare},           /* 6.10 get comm event log */
    {0x11, shape_bare},           /* 6.13 report server id */
    {0x14, shape_file_read},      /* 6.14 read file record */
    {0x18, shape_fifo},           /* 6.18 read FIFO queue */
    {0x2B, shape_device_id},      /* 6.21 read device identification */
};

/*
 * True if request <pdu> (<len> bytes) only reads: FC 1-4, or one of the
 * reads in pdu_reads[] in its proper shape.
 */
bool
pdu_reads_only(const uint8_t *pdu, size_t len)
{
    if (len < 1) {
        return false;
    }
    if (pdu_is_read(pdu[0])) {
        return true;
    }
    for (size_t i = 0; i < ARRAY_SIZE(pdu_reads); i++) {
        if (pdu_reads[i].fc == pdu[0]) {
            return pdu_reads[i].shape(pdu, len);
        }
    }
    return false;
}

/*
 * True for the writes that name the coils or registers they write (FC 5,
 * 6, 15, 16, 22, 23): the only ones the write rules can judge.
 */
bool
pdu_is_ranged_write(uint8_t fc)
{
    switch (fc) {
    case MB_FC_WRITE_COIL:
    case MB_FC_WRITE_REGISTER:
    case MB_FC_WRITE_COILS:
    case MB_FC_WRITE_REGISTERS:
    case MB_FC_MASK_WRITE:
    case MB_FC_READ_WRITE:
        return true;
    default:
        return false;
    }
}

/*
 * True if <rsp> is an exception response (function code | 0x80, one code).
 */
bool
pdu_is_exception(const uint8_t *rsp, size_t len)
{
    return len == 2 && (rsp[0] & MB_EX_FLAG);
}

/* Address + quantity must stay inside the 64 Ki address space. */
static uint8_t
check_range(const uint8_t *pdu, unsigned qty, unsigned max)
{
    if (qty < 1 || qty > max) {
        return MB_EX_ILLEGAL_VALUE;
    }
    if ((unsigned)pdu_get16(pdu + 1) + qty > 0x10000u) {
        return MB_EX_ILLEGAL_ADDRESS;
    }
    return MB_EX_NONE;
}

/*
 * Check request <pdu> of <len> bytes (function code first). Returns
 * MB_EX_NONE when it may be sent on, otherwise the exception code the
 * proxy answers with: 0x01 for a function code with the exception bit
 * set, 0x03 for a bad length or quantity, 0x02 for a range past 0xFFFF.
 */
uint8_t
pdu_check_request(const uint8_t *pdu, size_t len)
{
    unsigned qty, wqty;

    if (len < 1 || (pdu[0] & MB_EX_FLAG)) {
        return MB_EX_ILLEGAL_FUNCTION;
    }
    switch (pdu[0]) {
    case MB_FC_READ_COILS:
    case MB_FC_READ_DISCRETE:
        return len != 5 ? MB_EX_ILLEGAL_VALUE
                        : check_range(pdu, pdu_get16(pdu + 3), 2000);
    case MB_FC_READ_HOLDING:
    case MB_FC_READ_INPUT:
        return len != 5 ? MB_EX_ILLEGAL_VALUE
                        : check_range(pdu, pdu_get16(pdu + 3), 125);
    case MB_FC_WRITE_COIL:
        if (len != 5) {
            return MB_EX_ILLEGAL_VALUE;
        }
        qty = pdu_get16(pdu + 3);
        return qty == 0x0000 || qty == 0xFF00 ? MB_EX_NONE
                                              : MB_EX_ILLEGAL_VALUE;
    case MB_FC_WRITE_REGISTER:
        return len == 5 ? MB_EX_NONE : MB_EX_ILLEGAL_VALUE;
    case MB_FC_WRITE_COILS:
        if (len < 6 || len != 6u + pdu[5]) {
            return MB_EX_ILLEGAL_VALUE;
        }
        qty = pdu_get16(pdu + 3);
        if (pdu[5] != (qty + 7) / 8) {
            return MB_EX_ILLEGAL_VALUE;
        }
        return check_range(pdu, qty, 1968);
    case MB_FC_WRITE_REGISTERS:
        if (len < 6 || len != 6u + pdu[5]) {
            return MB_EX_ILLEGAL_VALUE;
        }
        qty = pdu_get16(pdu + 3);
        if (pdu[5] != qty * 2) {
            return MB_EX_ILLEGAL_VALUE;
        }
        return check_range(pdu, qty, 123);
    case MB_FC_MASK_WRITE:
        return len == 7 ? MB_EX_NONE : MB_EX_ILLEGAL_VALUE;
    case MB_FC_READ_WRITE:
        if (len < 10 || len != 10u + pdu[9]) {
            return MB_EX_ILLEGAL_VALUE;
        }
        wqty = pdu_get16(pdu + 7);
        if (pdu[9] != wqty * 2 || wqty < 1 || wqty > 121) {
            return MB_EX_ILLEGAL_VALUE;
        }
        if ((unsigned)pdu_get16(pdu + 5) + wqty > 0x10000u) {
            return MB_EX_ILLEGAL_ADDRESS;
        }
        return check_range(pdu, pdu_get16(pdu + 3), 125);
    default:
        return MB_EX_NONE;
    }
}

/*
 * Check that <rsp> (<rsp_len> bytes) can be the answer to request <req>.
 * A device exception (the request's code | 0x80 and one byte) is always a
 * valid answer. For the known codes the byte count must match the quantity
 * asked for and write echoes must name the same address (and quantity);
 * other codes only need the same function code. Returns true when valid.
 */
bool
pdu_check_response(const uint8_t *req, size_t req_len, const uint8_t *rsp,
                   size_t rsp_len)
{
    uint8_t fc = req[0];
    unsigned n;

    (void)req_len;
    if (rsp_len < 1 || rsp_len > 253) {
        return false;
    }
    if (rsp[0] == (fc | MB_EX_FLAG)) {
        return rsp_len == 2;
    }
    if (rsp[0] != fc) {
        return false;
    }
    switch (fc) {
    case MB_FC_READ_COILS:
    case MB_FC_READ_DISCRETE:
        n = (pdu_get16(req + 3) + 7u) / 8u;
        return rsp_len == 2 + n && rsp[1] == n;
    case MB_FC_READ_HOLDING:
    case MB_FC_READ_INPUT:
        n = pdu_get16(req + 3) * 2u;
        return rsp_len == 2 + n && rsp[1] == n;
    case MB_FC_WRITE_COIL:
    case MB_FC_WRITE_REGISTER:
        return rsp_len == 5 && memcmp(rsp + 1, req + 1, 2) == 0;
    case MB_FC_WRITE_COILS:
    case MB_FC_WRITE_REGISTERS:
        return rsp_len == 5 && memcmp(rsp + 1, req + 1, 4) == 0;
    case MB_FC_MASK_WRITE:
        return rsp_len == 7 && memcmp(rsp + 1, req + 1, 2) == 0;
    case MB_FC_READ_WRITE:
        n = pdu_get16(req + 3) * 2u;
        return rsp_len == 2 + n && rsp[1] == n;
    default:
        return true;
    }
}

/*
 * Build the exception response for function <fc> with <code> in <out>
 * (2 bytes). Returns its length.
 */
size_t
pdu_exception(uint8_t *out, uint8_t fc, uint8_t code)
{
    out[0] = (uint8_t)(fc | MB_EX_FLAG);
    out[1] = code;
    return 2;
}

/*
 * Build in <out> the normal response of a write request <req>, which a
 * broadcast never gets from the device: the echo of FC 5, 6 and 22, the
 * address and quantity of FC 15 and 16. Returns its length, or 0 when
 * <req> is not a write that has such an echo.
 */
size_t
pdu_write_echo(uint8_t *out, const uint8_t *req, size_t req_len)
{
    switch (req[0]) {
    case MB_FC_WRITE_COIL:
    case MB_FC_WRITE_REGISTER:
    case MB_FC_MASK_WRITE:
        memcpy(out, req, req_len);
        return req_len;
    case MB_FC_WRITE_COILS:
    case MB_FC_WRITE_REGISTERS:
        if (req_len < 5) {
            return 0;
        }
        memcpy(out, req, 5);
        return 5;
    default:
        return 0;
    }
}

/*
 * The register or bit addresses checked request <pdu> (<len> bytes)
 * touches, as <lo>..<hi>; for FC 23 the span of its read and its write.
 * Returns false for function codes without an address.
 */
bool
pdu_range(const uint8_t *pdu, size_t len, unsigned *lo, unsigned *hi)
{
    unsigned qty;

    switch (pdu[0]) {
    case MB_FC_READ_COILS:
    case MB_FC_READ_DISCRETE:
    case MB_FC_READ_HOLDING:
    case MB_FC_READ_INPUT:
    case MB_FC_WRITE_COILS:
    case MB_FC_WRITE_REGISTERS:
        qty = len >= 5 ? pdu_get16(pdu + 3) : 1;
        break;
    case MB_FC_WRITE_COIL:
    case MB_FC_WRITE_REGISTER:
    case MB_FC_MASK_WRITE:
        qty = 1;
        break;
    case MB_FC_READ_WRITE:
        if (len < 9) {
            return false;
        }
        *lo = MB_MIN(pdu_get16(pdu + 1), pdu_get16(pdu + 5));
        *hi = MB_MAX(pdu_get16(pdu + 1) + pdu_get16(pdu + 3),
                     pdu_get16(pdu + 5) + pdu_get16(pdu + 7)) - 1u;
        return true;
    default:
        return false;
    }
    if (len < 3 || qty == 0) {
        return false;
    }
    *lo = pdu_get16(pdu + 1);
    *hi = *lo + qty - 1;
    return true;
}

/*
 * The coils or registers checked write <pdu> (<len> bytes) changes, as
 * <lo>..<hi>: for FC 23 its write part only. Returns false for reads and
 * for function codes without an address.
 */
bool
pdu_write_range(const uint8_t *pdu, size_t len, unsigned *lo, unsigned *hi)
{
    if (pdu[0] == MB_FC_READ_WRITE) {
        if (len < 9 || pdu_get16(pdu + 7) == 0) {
            return false;
        }
        *lo = pdu_get16(pdu + 5);
        *hi = *lo + pdu_get16(pdu + 7) - 1u;
        return true;
    }
    return pdu_is_ranged_write(pdu[0]) && pdu_range(pdu, len, lo, hi);
}

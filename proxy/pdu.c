/* SPDX-License-Identifier: MIT */
/*
 * pdu.c -- length and quantity rules for the function codes the proxy
 * understands (1, 2, 3, 4, 5, 6, 15, 16, 22, 23), from the Modbus
 * Application Protocol v1.1b3. Any other function code is carried as an
 * opaque PDU. A request that breaks the rules is answered by the proxy
 * itself (it would only confuse the device); a response that breaks them
 * counts as a failed attempt, never as an answer.
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

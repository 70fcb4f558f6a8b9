/* SPDX-License-Identifier: MIT */
/*
 * rtu_frame.c -- Modbus RTU framing: building a frame (its CRC is
 * proxy/crc16.c's), the length a response must have (known from the
 * request, since RTU frames carry no length field), the verdict on the
 * bytes received so far, and finding a response in a stream that may
 * start with garbage or with the echo of our own request.
 *
 * It owns no memory, never calls libuv and never reads outside the buffers
 * it is given, whatever their content: the rtu and rtu_tcp backends feed it
 * what the line delivered, and tests/fuzz/fuzz_rtu.c drives it directly.
 * The Modbus rules of a response (byte count, echoed address) are those of
 * proxy/pdu.c; this file only adds what RTU needs on top: unit, CRC, length.
 */
#include <string.h>

#include "core.h"
#include "crc16.h"
#include "pdu.h"
#include "rtu_frame.h"

#define RTU_OVERHEAD 3      /* unit + 2-byte CRC around the PDU */
#define RTU_EXCEPTION_LEN 5 /* unit, fc | 0x80, code, CRC */
/* fc + address + quantity: every request with a length rule has them. */
#define RTU_REQ_HEAD 5

/* True when the last two of the <len> bytes at <frame> are the CRC of the
 * ones before them. */
static bool
crc_ok(const uint8_t *frame, size_t len)
{
    uint16_t crc;

    if (len < 3) {
        return false;
    }
    crc = crc16_modbus(frame, len - 2);
    return frame[len - 2] == (uint8_t)crc && frame[len - 1] == crc >> 8;
}

/*
 * Build the frame <unit> + <pdu> (<pdu_len> bytes) + CRC in <out>, which
 * must hold <pdu_len> + 3 bytes. <pdu> may overlap <out>. Returns the frame
 * length, <pdu_len> + 3.
 */
size_t
rtu_frame_encode(uint8_t *out, uint8_t unit, const uint8_t *pdu, size_t pdu_len)
{
    uint16_t crc;

    memmove(out + 1, pdu, pdu_len);
    out[0] = unit;
    crc = crc16_modbus(out, pdu_len + 1);
    out[pdu_len + 1] = (uint8_t)crc;
    out[pdu_len + 2] = (uint8_t)(crc >> 8);
    return pdu_len + RTU_OVERHEAD;
}

/*
 * Length of the response frame (unit to CRC) to request <req_pdu>
 * (<req_len> bytes, function code first, as accepted by
 * pdu_check_request()), judging from the <rx_len> bytes received so far at
 * <rx>, which start at the unit byte. The length comes from the request,
 * not from the response's byte count: a corrupted byte count then cannot
 * make us wait for bytes that never come, and rtu_frame_check() catches
 * it. A second byte other than fc | 0x80 is taken as the normal answer;
 * rtu_frame_check() rejects it if it is not.
 * Returns the length once it is known (it may exceed RTU_FRAME_MAX for a
 * request no device can answer), 0 while fewer than 2 bytes are there, or
 * -1 when the function code has no length rule (any but 1, 2, 3, 4, 5, 6,
 * 15, 16, 22, 23; or a request too short to carry its quantity): such a
 * frame ends when the line goes silent.
 */
int
rtu_frame_expected(const uint8_t *req_pdu, size_t req_len, const uint8_t *rx,
                   size_t rx_len)
{
    uint8_t fc;

    if (rx_len < 2) {
        return 0;
    }
    if (req_len < 1) {
        return -1;
    }
    fc = req_pdu[0];
    if (rx[1] == (fc | MB_EX_FLAG)) {
        return RTU_EXCEPTION_LEN;
    }
    /* pdu_check_response() reads the address and quantity of the request:
     * without them no rule may be applied. */
    if (req_len < RTU_REQ_HEAD) {
        return -1;
    }
    switch (fc) {
    case MB_FC_READ_COILS:
    case MB_FC_READ_DISCRETE:
        return 5 + (pdu_get16(req_pdu + 3) + 7) / 8;
    case MB_FC_READ_HOLDING:
    case MB_FC_READ_INPUT:
    case MB_FC_READ_WRITE:
        /* FC 23 answers with the registers read, at req_pdu + 3 too. */
        return 5 + 2 * pdu_get16(req_pdu + 3);
    case MB_FC_WRITE_COIL:
    case MB_FC_WRITE_REGISTER:
    case MB_FC_WRITE_COILS:
    case MB_FC_WRITE_REGISTERS:
        return 8;
    case MB_FC_MASK_WRITE:
        return 10;
    default:
        return -1;
    }
}

/* True for the function codes whose response has a byte count at rx[2]. */
static bool
has_byte_count(uint8_t fc)
{
    return pdu_is_read(fc) || fc == MB_FC_READ_WRITE;
}

/*
 * Judge the <rx_len> bytes at <rx> (from the unit byte on) as the response
 * of unit <unit> to request <req_pdu> (<req_len> bytes, accepted by
 * pdu_check_request()). Checks, in this order: the unit, the function code
 * (fc or fc | 0x80), the byte count as soon as it is there (so a wrong one
 * fails at once instead of after a timeout), the length, the CRC, then
 * pdu_check_response(). Returns:
 * - RTU_OK with *<frame_len> set to the frame length; bytes after it are
 *   left alone (the caller decides what trailing bytes mean);
 * - RTU_NEED_MORE for a valid prefix;
 * - RTU_UNKNOWN_LEN, for a function code without a length rule, when the
 *   bytes so far are at least 4 (unit, fc, CRC) and end with a valid CRC;
 *   *<frame_len> is <rx_len>. Whether the frame is over is for the caller
 *   to tell by the silence on the line; more bytes may come and close the
 *   CRC again later;
 * - RTU_BAD_UNIT, RTU_BAD_FUNCTION, RTU_BAD_LENGTH (wrong byte count,
 *   an echo that does not fit, an expected length over RTU_FRAME_MAX, or
 *   more than RTU_FRAME_MAX bytes without a length rule) or RTU_BAD_CRC:
 *   these bytes will never be the response.
 * *<frame_len> is written only with RTU_OK and RTU_UNKNOWN_LEN.
 */
enum rtu_verdict
rtu_frame_check(uint8_t unit, const uint8_t *req_pdu, size_t req_len,
                const uint8_t *rx, size_t rx_len, size_t *frame_len)
{
    uint8_t fc;
    int want;
    size_t len;

    if (rx_len == 0) {
        return RTU_NEED_MORE;
    }
    if (rx[0] != unit) {
        return RTU_BAD_UNIT;
    }
    if (rx_len == 1) {
        return RTU_NEED_MORE;
    }
    if (req_len < 1) {
        return RTU_BAD_FUNCTION; /* no request, nothing can answer it */
    }
    fc = req_pdu[0];
    if (rx[1] != fc && rx[1] != (fc | MB_EX_FLAG)) {
        return RTU_BAD_FUNCTION;
    }
    want = rtu_frame_expected(req_pdu, req_len, rx, rx_len);
    if (want < 0) {
        /* A longer frame cannot exist, whatever its CRC says. */
        if (rx_len > RTU_FRAME_MAX) {
            return RTU_BAD_LENGTH;
        }
        if (rx_len >= 4 && crc_ok(rx, rx_len)) {
            *frame_len = rx_len;
            return RTU_UNKNOWN_LEN;
        }
        return RTU_NEED_MORE;
    }
    len = (size_t)want;
    /* Only a request past the limits of pdu_check_request() asks for
     * more than a frame holds: no answer can come, do not wait for one. */
    if (len > RTU_FRAME_MAX) {
        return RTU_BAD_LENGTH;
    }
    if (rx_len >= 3 && rx[1] == fc && has_byte_count(fc) &&
        rx[2] != len - RTU_EXCEPTION_LEN) {
        return RTU_BAD_LENGTH;
    }
    if (rx_len < len) {
        return RTU_NEED_MORE;
    }
    if (!crc_ok(rx, len)) {
        return RTU_BAD_CRC;
    }
    if (!pdu_check_response(req_pdu, req_len, rx + 1, len - RTU_OVERHEAD)) {
        return RTU_BAD_LENGTH;
    }
    *frame_len = len;
    return RTU_OK;
}

/* True when the <n> bytes at <p> begin the <req_n>-byte request frame
 * <req>, whole (*<whole> set) or cut short by the end of the buffer. */
static bool
is_echo(const uint8_t *p, size_t n, const uint8_t *req, size_t req_n,
        bool *whole)
{
    *whole = n >= req_n;
    return req_n > 0 && memcmp(p, req, *whole ? req_n : n) == 0;
}

/* What rtu_frame_find() does with bytes that begin like our request. */
enum echo_step {
    ECHO_WAIT = 0,      /* keep them: more bytes, or silence, will tell */
    ECHO_SKIP,          /* the echo: skip the request frame's bytes */
    ECHO_TAKE,          /* a longer frame that begins with the echo is the
                           answer (a read whose data repeat the request) */
};

/*
 * The <m> bytes at <p> begin with the request frame (<req_n> bytes) or a
 * part of it, on a line that echoes; the check gave <v> on them. An echo is
 * sent at once, the answer only after the device's turnaround: so bytes
 * that go on past the request frame were its echo, unless they form a
 * longer answer (known from the request's length rule) that checks, while
 * bytes that stop at or before its end may be the echo or an answer that
 * looks like it, which the silence after them tells (rtu_rx_settle()).
 */
static enum echo_step
echo_step(const uint8_t *req_pdu, size_t req_len, const uint8_t *p, size_t m,
          size_t req_n, enum rtu_verdict v)
{
    int want;

    if (m < req_n) {
        return ECHO_WAIT;       /* skip it whole, or take what it is */
    }
    if (m == req_n) {
        return v < 0 ? ECHO_SKIP : ECHO_WAIT;
    }
    want = rtu_frame_expected(req_pdu, req_len, p, m);
    if (want <= (int)req_n || v < 0) {
        return ECHO_SKIP;
    }
    return v == RTU_OK ? ECHO_TAKE : ECHO_WAIT;
}

/*
 * Find the response of unit <unit> to request <req_pdu> (<req_len> bytes)
 * in the <len> bytes at <buf>, a byte stream (RTU over TCP, or a serial
 * line read in pieces) that may begin with garbage, with the tail of an
 * earlier frame, with another unit's response or, when <echo> says that
 * the line hears itself (RS485 converters and serial servers that send our
 * own request back), with the echo of our request. Candidate starts are
 * tried from offset 0 on with rtu_frame_check().
 * Without <echo>, the first offset where the check gives RTU_OK is the
 * response, whatever it looks like: an answer identical to the request
 * (FC 5, 6, 8 sub-function 0, 21, 22) or beginning like it is an answer.
 * With <echo>, bytes that begin like the request frame are judged by
 * echo_step(): the request frame followed by more bytes is the echo and is
 * skipped, unless a longer response that checks begins with it; the
 * request frame, or a part of it, with nothing after it is kept (the
 * silence after it, rtu_rx_settle(), decides between an echo and an
 * answer that repeats the request, so that no valid answer is ever
 * rejected), and the bytes after a part of it are not searched.
 * Returns 1 with *<off> and *<frame_len> set at the first offset where a
 * response is. Otherwise returns 0 with *<off> at the first offset that
 * may still start the response (the check there gives RTU_NEED_MORE or
 * RTU_UNKNOWN_LEN, or the bytes there begin like the request on a line
 * that echoes), or <len> if none: the caller may drop the bytes before
 * *<off>. *<frame_len> is then <len> - *<off> when the check at *<off>
 * gave RTU_UNKNOWN_LEN outside an echo (a whole frame if the line has gone
 * silent), 0 otherwise.
 * Every verdict before *<off> is final, so the answer does not depend on
 * how the stream was cut: finding in each new piece appended to what was
 * kept from the last call, dropping the bytes before *<off> each time,
 * gives the same frame at the same place as one call on the whole stream.
 * Time is O(<len> * RTU_FRAME_MAX) at worst, usually O(<len>).
 */
int
rtu_frame_find(uint8_t unit, const uint8_t *req_pdu, size_t req_len,
               bool echo, const uint8_t *buf, size_t len, size_t *off,
               size_t *frame_len)
{
    uint8_t req[RTU_FRAME_MAX];
    size_t req_n = 0, first = len, first_len = 0, flen = 0;
    size_t i = 0;

    if (echo && req_len >= 1 && req_len <= RTU_FRAME_MAX - RTU_OVERHEAD) {
        req_n = rtu_frame_encode(req, unit, req_pdu, req_len);
    }
    while (i < len) {
        /* No frame is longer than RTU_FRAME_MAX, so the verdict is the
         * same on RTU_FRAME_MAX + 1 bytes; this bounds the CRC work per
         * offset for function codes without a length rule. */
        size_t n = MB_MIN(len - i, RTU_FRAME_MAX + 1);
        enum rtu_verdict v;
        bool whole;

        flen = 0;
        v = rtu_frame_check(unit, req_pdu, req_len, buf + i, n, &flen);
        if (is_echo(buf + i, len - i, req, req_n, &whole)) {
            switch (echo_step(req_pdu, req_len, buf + i, len - i, req_n, v)) {
            case ECHO_SKIP:
                i += req_n;
                continue;
            case ECHO_TAKE:
                *off = i;
                *frame_len = flen;
                return 1;
            case ECHO_WAIT:
                /* Every byte from here on may be echo: a "response" in
                 * its tail (say, in the data of an FC 16 write) is not
                 * one, and taking it now would give another answer than
                 * once the echo is whole. */
                first = MB_MIN(first, i);
                first_len = first == i ? 0 : first_len;
                *off = first;
                *frame_len = first_len;
                return 0;
            }
        }
        if (v == RTU_OK) {
            *off = i;
            *frame_len = flen;
            return 1;
        }
        if (first == len && (v == RTU_NEED_MORE || v == RTU_UNKNOWN_LEN)) {
            first = i;
            first_len = v == RTU_UNKNOWN_LEN ? flen : 0;
        }
        i++;
    }
    *off = first;
    *frame_len = first_len;
    return 0;
}

/*
 * Short text for verdict <v>, for log lines ("bad CRC").
 */
const char *
rtu_verdict_str(enum rtu_verdict v)
{
    switch (v) {
    case RTU_OK:
        return "ok";
    case RTU_NEED_MORE:
        return "incomplete frame";
    case RTU_UNKNOWN_LEN:
        return "frame of unknown length";
    case RTU_BAD_CRC:
        return "bad CRC";
    case RTU_BAD_UNIT:
        return "wrong unit";
    case RTU_BAD_FUNCTION:
        return "wrong function code";
    case RTU_BAD_LENGTH:
        return "bad length";
    default:
        return "bad RTU verdict";
    }
}

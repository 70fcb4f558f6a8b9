/* SPDX-License-Identifier: MIT */
/*
 * givenergy_frame.c -- the GivEnergy data adapter ("dongle", TCP 8899)
 * framing: building the two requests we send, the verdict on one
 * whole frame of any kind the dongle sends, the substituted-block guard,
 * and a stream deframer that finds frames in whatever the socket delivers
 * (garbage, spliced and truncated frames included).
 *
 * It owns no memory, never calls libuv and never reads outside the buffers
 * it is given, whatever their content: backends/givenergy.c feeds it what
 * the dongle sent, and tests/fuzz/fuzz_giv.c drives it directly. What to
 * do with a frame (answer a heartbeat, match a response to a request, fill
 * a cache) is the backend's business, not this file's. Section numbers
 * refer to docs/givenergy.md.
 *
 * The CRC is CRC-16/Modbus (proxy/crc16.c), over [26, len - 2), low byte
 * first (2).
 */
#include <string.h>

#include "crc16.h"
#include "givenergy_frame.h"

#define GIV_TID          0x5959
#define GIV_PID          0x0001
#define GIV_UID_CLOUD    0x00   /* requests from the cloud and the app */
#define GIV_UID          0x01   /* everything else, and what we send */
#define GIV_FID_HEARTBEAT 0x01
#define GIV_FID_TRANSPARENT 0x02
#define GIV_HDR_LEN      8      /* tid, pid, LEN, uid, fid */
#define GIV_LEN_MIN      13     /* the heartbeat's: the shortest frame */
#define GIV_INNER        26     /* device address, then fc (1.2) */
#define GIV_INNER_MIN    28     /* up to and including the inner fc */
#define GIV_REQ_FIELD    8      /* the 8-byte field of every request */
#define GIV_RSP_HEAD     42     /* values of a read response start here */
#define GIV_RSP_MIN      44     /* write echo, error: no values */
#define GIV_FC_ERROR     0x80
#define GIV_MARKER_LEN   4
/* A marker this close after another means the first is corrupt (1.1). */
#define GIV_RESYNC_WINDOW 18

#define GIV_MIN(a, b) ((a) < (b) ? (a) : (b))

/* tid 0x5959 + pid 0x0001: where every frame starts (1.1). */
static const uint8_t giv_marker[GIV_MARKER_LEN] = {0x59, 0x59, 0x00, 0x01};

/* The register values of the block the dongle substitutes for real data
 * (5.4; DEWET ReadRegistersResponse.is_suspicious()): index, and one or
 * two values seen there. */
static const struct {
    uint8_t  index;
    uint16_t a, b;
} giv_substituted[] = {
    {28, 0x4C32, 0x4C32}, {30, 0xA119, 0xA119}, {31, 0x34EA, 0x34EA},
    {32, 0xE77F, 0xE77F}, {33, 0xD475, 0xD475}, {35, 0x4500, 0x4500},
    {40, 0xE4F9, 0xB619}, {41, 0xC0A8, 0xC0A8}, {43, 0xC0A8, 0xC0A8},
    {46, 0xC5E9, 0xC5E9}, {50, 0x60EF, 0x503C}, {51, 0x8018, 0x8018},
    {52, 0x43E0, 0x43E0}, {53, 0xF6CE, 0xF6CE}, {56, 0x080A, 0x080A},
    {58, 0xFCC1, 0xFCC1}, {59, 0x661E, 0x661E},
};
/* More matches than this and the block is the substituted one. */
#define GIV_SUBSTITUTED_MAX_MATCHES 5

static uint16_t
get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static void
put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static uint64_t
get64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

/* True when the last two of the <len> (>= 28) bytes at <frame> are the
 * CRC of the bytes from the device address on, low byte first. */
static bool
crc_ok(const uint8_t *frame, size_t len)
{
    uint16_t crc = crc16_modbus(frame + GIV_INNER, len - 2 - GIV_INNER);

    return frame[len - 2] == (uint8_t)crc && frame[len - 1] == crc >> 8;
}

/* Write a 34-byte request (1.3, 1.4) to <out>: the two 16-bit fields are
 * base and count for reads, register and value for writes. */
static size_t
build_request(uint8_t *out, const uint8_t serial[GIV_SERIAL_LEN],
              uint8_t device, uint8_t fc, uint16_t a, uint16_t b)
{
    uint16_t crc;

    memcpy(out, giv_marker, GIV_MARKER_LEN);
    put16(out + 4, GIV_REQ_LEN - 6);
    out[6] = GIV_UID;
    out[7] = GIV_FID_TRANSPARENT;
    memcpy(out + 8, serial, GIV_SERIAL_LEN);
    /* The 8-byte field is the byte count from offset 26 on: 8. The dongle
     * drops requests with anything else in it (1.2). */
    memset(out + 18, 0, 7);
    out[25] = GIV_REQ_FIELD;
    out[26] = device;
    out[27] = fc;
    put16(out + 28, a);
    put16(out + 30, b);
    /* AIO firmware drops requests with a wrong CRC (2). */
    crc = crc16_modbus(out + GIV_INNER, GIV_REQ_LEN - 2 - GIV_INNER);
    out[32] = (uint8_t)crc;
    out[33] = (uint8_t)(crc >> 8);
    return GIV_REQ_LEN;
}

/*
 * Build a read request for <count> registers from <base> of device
 * <device> in <out>, which must hold GIV_REQ_LEN bytes. <fc> is 3
 * (holding), 4 (input) or 0x16 (meter product); it is copied as given.
 * <serial> is the 10-byte adapter serial the dongle does not check (1.2):
 * the one learnt from a heartbeat, or "**********". The uid is always
 * 0x01. <count> is not checked: the dongle answers more than 60 with an
 * error frame (6). Returns GIV_REQ_LEN.
 */
size_t
giv_build_read(uint8_t *out, const uint8_t serial[GIV_SERIAL_LEN],
               uint8_t device, uint8_t fc, uint16_t base, uint16_t count)
{
    return build_request(out, serial, device, fc, base, count);
}

/*
 * Build a write-single-register request (inner fc 6) setting register
 * <reg> of device <device> to <value> in <out>, which must hold
 * GIV_REQ_LEN bytes; <serial> as for giv_build_read(). Returns
 * GIV_REQ_LEN.
 */
size_t
giv_build_write(uint8_t *out, const uint8_t serial[GIV_SERIAL_LEN],
                uint8_t device, uint16_t reg, uint16_t value)
{
    return build_request(out, serial, device, 6, reg, value);
}

/*
 * Build the frame the dongle sends for an answer of device <device>, in
 * <out> (GIV_FRAME_MAX bytes at most; 44 + 2 * <n> here): inner fc <fc>
 * (3, 4, 0x16 with <n> values; 6 a write echo, <n> 0; fc | 0x80 an error
 * frame, <n> 0), the adapter's and the device's serials, the two 16-bit
 * fields <a> and <b> (base and count; register and value), then <values>
 * (<n> registers, already big-endian, n <= GIV_REGS_MAX; they may lie
 * anywhere in <out>: they are moved into place before anything else is
 * written). Laid out as captured answers are (1.3,
 * 1.4, 1.5): uid 0x01, the 8-byte field the byte count from offset 26.
 * Returns its length.
 */
size_t
giv_build_answer(uint8_t *out, const uint8_t adapter[GIV_SERIAL_LEN],
                 uint8_t device, uint8_t fc,
                 const uint8_t serial[GIV_SERIAL_LEN], uint16_t a, uint16_t b,
                 const uint8_t *values, size_t n)
{
    size_t len = GIV_RSP_MIN + 2 * n;
    uint16_t crc;

    memmove(out + GIV_RSP_HEAD, values, 2 * n);
    memcpy(out, giv_marker, GIV_MARKER_LEN);
    put16(out + 4, (uint16_t)(len - 6));
    out[6] = GIV_UID;
    out[7] = GIV_FID_TRANSPARENT;
    memcpy(out + 8, adapter, GIV_SERIAL_LEN);
    memset(out + 18, 0, 7);
    out[25] = (uint8_t)(len - GIV_INNER);
    out[26] = device;
    out[27] = fc;
    memcpy(out + 28, serial, GIV_SERIAL_LEN);
    put16(out + 38, a);
    put16(out + 40, b);
    crc = crc16_modbus(out + GIV_INNER, len - 2 - GIV_INNER);
    out[len - 2] = (uint8_t)crc;
    out[len - 1] = (uint8_t)(crc >> 8);
    return len;
}

/*
 * Build the dongle's heartbeat (1.6) in <out> (GIV_HEARTBEAT_LEN bytes):
 * its serial <adapter> and type byte <type>. Returns GIV_HEARTBEAT_LEN.
 */
size_t
giv_build_heartbeat(uint8_t *out, const uint8_t adapter[GIV_SERIAL_LEN],
                    uint8_t type)
{
    memcpy(out, giv_marker, GIV_MARKER_LEN);
    put16(out + 4, GIV_HEARTBEAT_LEN - 6);
    out[6] = GIV_UID;
    out[7] = GIV_FID_HEARTBEAT;
    memcpy(out + 8, adapter, GIV_SERIAL_LEN);
    out[18] = type;
    return GIV_HEARTBEAT_LEN;
}

/* True for the outer header of a frame of exactly <len> bytes (1.1). */
static bool
header_ok(const uint8_t *frame, size_t len)
{
    size_t lenf;

    if (len < GIV_HDR_LEN) {
        return false;
    }
    lenf = get16(frame + 4);
    return get16(frame) == GIV_TID && get16(frame + 2) == GIV_PID &&
           lenf <= GIV_LEN_MAX && lenf == len - 6 &&
           (frame[6] == GIV_UID || frame[6] == GIV_UID_CLOUD) &&
           (frame[7] == GIV_FID_HEARTBEAT || frame[7] == GIV_FID_TRANSPARENT);
}

/* True for the bytes of the ",ip,netmask,gateway\r\n\r\n" text. */
static bool
is_text(uint8_t c)
{
    return (c >= 0x20 && c <= 0x7E) || c == '\r' || c == '\n';
}

/*
 * True for the LAN-config broadcast of WO dongles (1.7). In the one
 * capture (V54) the CSV's leading ',' is byte 25, the last byte of the
 * 8-byte field, and is also the count of the bytes after the field (44);
 * which of the two it really is cannot be told from one frame, so either
 * is accepted. The text itself starts at byte 26 and ends with CRLF; its
 * trailing check is not CRC-16/Modbus. No real transparent frame passes:
 * their inner fc (byte 27) is never printable.
 */
static bool
is_lan_config(const uint8_t *frame, size_t len)
{
    uint64_t field = get64(frame + 18);
    size_t end = len - 2;

    if (field != ',' && field != len - GIV_INNER) {
        return false;
    }
    if (end < GIV_INNER + 2 || frame[end - 2] != '\r' ||
        frame[end - 1] != '\n') {
        return false;
    }
    for (size_t i = GIV_INNER; i < end; i++) {
        if (!is_text(frame[i])) {
            return false;
        }
    }
    return true;
}

/* True for the unsolicited NullResponse (1.7): inner fc 0, every payload
 * byte 0, and a check of 0000 that is not its CRC. */
static bool
is_null_response(const uint8_t *frame, size_t len)
{
    if (frame[27] != 0 || frame[len - 2] != 0 || frame[len - 1] != 0) {
        return false;
    }
    for (size_t i = GIV_INNER_MIN; i < len - 2; i++) {
        if (frame[i] != 0) {
            return false;
        }
    }
    return true;
}

/* True for the inner function codes we know the shape of. */
static bool
is_read_fc(uint8_t fc)
{
    return fc == 3 || fc == 4 || fc == 0x16;
}

/* A 34-byte frame with a valid CRC: another master's request (1.3, 1.4). */
static enum giv_verdict
parse_request(const uint8_t *frame, struct giv_frame *out)
{
    if (!is_read_fc(out->fc) && out->fc != 6) {
        return GIV_IGNORE; /* kind 0: no request we know */
    }
    out->kind = GIV_REQUEST;
    out->base = get16(frame + 28);
    out->count = get16(frame + 30);
    return GIV_OK;
}

/* A read response: 1..60 values and exactly as many bytes as they need
 * (1.3, 6). */
static enum giv_verdict
parse_read(const uint8_t *frame, size_t len, struct giv_frame *out)
{
    if (out->count < 1 || out->count > GIV_REGS_MAX ||
        len != GIV_RSP_MIN + 2 * (size_t)out->count) {
        return GIV_BAD_LENGTH;
    }
    out->kind = GIV_READ_RESPONSE;
    out->values = frame + GIV_RSP_HEAD;
    return giv_suspicious(out) ? GIV_IGNORE : GIV_OK;
}

/*
 * A response with a valid CRC: inverter serial, two echoed fields, values
 * for reads only (3). fc | 0x80 is an error frame (1.5). That includes
 * 0x86, which GivTCP and JAK take for a successful write on Gen1 BPM
 * firmware: DEWET treats it as an error, and so do we, because a write we
 * cannot confirm must not be reported done (the client can read back).
 */
static enum giv_verdict
parse_response(const uint8_t *frame, size_t len, struct giv_frame *out)
{
    uint8_t fc = out->fc;

    if (!(fc & GIV_FC_ERROR) && !is_read_fc(fc) && fc != 6) {
        return GIV_IGNORE; /* kind 0: e.g. 0x39 (1.7), shape unknown */
    }
    if (len < GIV_RSP_MIN) {
        return GIV_BAD_LENGTH;
    }
    out->inverter_serial = frame + GIV_INNER_MIN;
    out->base = get16(frame + 38);
    out->count = get16(frame + 40);
    if (is_read_fc(fc)) {
        return parse_read(frame, len, out);
    }
    if (len != GIV_RSP_MIN) {
        return GIV_BAD_LENGTH;
    }
    out->kind = (fc & GIV_FC_ERROR) ? GIV_ERROR_RESPONSE : GIV_WRITE_RESPONSE;
    return GIV_OK;
}

/* A transparent frame (fid 2) of <len> bytes with a good outer header. */
static enum giv_verdict
parse_transparent(const uint8_t *frame, size_t len, struct giv_frame *out)
{
    if (len < GIV_INNER_MIN) {
        return GIV_BAD_LENGTH;
    }
    out->adapter_serial = frame + 8;
    /* Before the length check: its 8-byte field may be a ',' (1.7). */
    if (is_lan_config(frame, len)) {
        out->kind = GIV_LAN_CONFIG;
        return GIV_IGNORE;
    }
    if (get64(frame + 18) != len - GIV_INNER) {
        return GIV_BAD_LENGTH;
    }
    out->device = frame[GIV_INNER];
    out->fc = frame[GIV_INNER + 1];
    if (is_null_response(frame, len)) {
        out->kind = GIV_NULL_RESPONSE;
        return GIV_IGNORE;
    }
    if (!crc_ok(frame, len)) {
        return GIV_BAD_CRC;
    }
    if (len == GIV_REQ_LEN) {
        return parse_request(frame, out);
    }
    return parse_response(frame, len, out);
}

/*
 * Judge the <len> bytes at <frame> as one whole frame (len = 6 + LEN) and
 * fill <out>, whose pointers then borrow from <frame>. Returns:
 * - GIV_OK: a heartbeat (no CRC), a request of another master, a read
 *   response (1..60 values), a write echo or an error frame; <out->kind>
 *   says which;
 * - GIV_IGNORE: valid framing that is never data: LAN-config broadcast,
 *   NullResponse, the substituted block (kind GIV_READ_RESPONSE, see
 *   giv_suspicious()), or a transparent frame with a valid CRC and an
 *   inner fc of unknown shape (kind 0, only the header fields, device and
 *   fc set);
 * - GIV_BAD_HEADER: tid, pid, LEN (not len - 6, or over 300), uid or fid;
 * - GIV_BAD_LENGTH: a heartbeat not 19 bytes, a transparent frame under
 *   28, an 8-byte field other than len - 26, a read response whose count
 *   is not 1..60 or whose size is not 44 + 2 * count, a write echo or
 *   error frame not 44 bytes;
 * - GIV_BAD_CRC: CRC-16/Modbus over [26, len - 2) does not match.
 * With a bad verdict, <out> holds what was read before the check failed
 * (for logs); fields not read are 0 or NULL.
 */
enum giv_verdict
giv_parse(const uint8_t *frame, size_t len, struct giv_frame *out)
{
    *out = (struct giv_frame){0};
    if (!header_ok(frame, len)) {
        return GIV_BAD_HEADER;
    }
    out->uid = frame[6];
    out->fid = frame[7];
    if (out->fid == GIV_FID_TRANSPARENT) {
        return parse_transparent(frame, len, out);
    }
    if (len != GIV_HEARTBEAT_LEN) {
        return GIV_BAD_LENGTH;
    }
    out->kind = GIV_HEARTBEAT;
    out->adapter_serial = frame + 8;
    out->adapter_type = frame[18];
    return GIV_OK;
}

/*
 * True when <f>, a parsed GIV_READ_RESPONSE of 60 registers from a base
 * divisible by 60, holds more than 5 of the 17 values of the block the
 * dongle sometimes returns instead of real data (5.4). Any other frame is
 * never suspicious. giv_parse() already turns such frames into GIV_IGNORE.
 */
bool
giv_suspicious(const struct giv_frame *f)
{
    size_t n = 0;

    if (f->kind != GIV_READ_RESPONSE || f->values == NULL ||
        f->base % GIV_REGS_MAX != 0 || f->count != GIV_REGS_MAX) {
        return false;
    }
    for (size_t i = 0;
         i < sizeof(giv_substituted) / sizeof(giv_substituted[0]); i++) {
        uint16_t v = get16(f->values + 2 * giv_substituted[i].index);

        if (v == giv_substituted[i].a || v == giv_substituted[i].b) {
            n++;
        }
    }
    return n > GIV_SUBSTITUTED_MAX_MATCHES;
}

/*
 * Make <rx> an empty deframer with no bytes skipped.
 */
void
giv_rx_init(struct giv_rx *rx)
{
    rx->len = 0;
    rx->skipped = 0;
}

/* Offset of the first marker in the <n> bytes at <p>. Without one, the
 * offset of the shortest tail that may still begin one (kept for the next
 * read), or <n>. */
static size_t
find_marker(const uint8_t *p, size_t n)
{
    const uint8_t *q = p, *end = p + n;

    while ((q = memchr(q, giv_marker[0], (size_t)(end - q))) != NULL) {
        size_t k = GIV_MIN((size_t)(end - q), GIV_MARKER_LEN);

        if (memcmp(q, giv_marker, k) == 0) {
            return (size_t)(q - p);
        }
        q++;
    }
    return n;
}

/* True for an outer header worth waiting for: LEN 13..300, uid and fid
 * valid (1.1). <p> holds at least GIV_HDR_LEN bytes, a marker first. */
static bool
rx_header_ok(const uint8_t *p)
{
    uint16_t lenf = get16(p + 4);

    return lenf >= GIV_LEN_MIN && lenf <= GIV_LEN_MAX &&
           (p[6] == GIV_UID || p[6] == GIV_UID_CLOUD) &&
           (p[7] == GIV_FID_HEARTBEAT || p[7] == GIV_FID_TRANSPARENT);
}

/*
 * Offset of a marker less than GIV_RESYNC_WINDOW bytes after the one at
 * <p>, within the first <n> bytes, or 0. <n> never goes past the
 * candidate frame: only its own bytes count, so that the answer depends on
 * the stream alone, never on how much of it has arrived, and a heartbeat
 * is delivered the moment its 19th byte is in.
 */
static size_t
inner_marker(const uint8_t *p, size_t n)
{
    for (size_t q = 1; q < GIV_RESYNC_WINDOW && q + GIV_MARKER_LEN <= n;
         q++) {
        if (memcmp(p + q, giv_marker, GIV_MARKER_LEN) == 0) {
            return q;
        }
    }
    return 0;
}

/*
 * The candidate frame at <p> (<avail> bytes held, a marker or a piece of
 * one first): returns how many bytes to drop, or 0 to wait for more.
 * Calls <fn> once the frame is whole. After a bad verdict only the marker
 * is dropped: a frame cut short and followed by the next one's header
 * (5.4) hides that next frame inside it.
 */
static size_t
rx_candidate(struct giv_rx *rx, const uint8_t *p, size_t avail,
             giv_frame_fn fn, void *ctx)
{
    struct giv_frame f;
    enum giv_verdict v;
    size_t flen, q;

    if (avail < GIV_HDR_LEN) {
        return 0;
    }
    if (!rx_header_ok(p)) {
        rx->skipped += GIV_MARKER_LEN;
        return GIV_MARKER_LEN;
    }
    flen = 6 + (size_t)get16(p + 4);
    q = inner_marker(p, GIV_MIN(avail, flen));
    if (q > 0) {
        rx->skipped += q;
        return q;
    }
    if (avail < flen) {
        return 0;
    }
    v = giv_parse(p, flen, &f);
    fn(ctx, p, flen, v, &f);
    if (v < 0) {
        rx->skipped += GIV_MARKER_LEN;
        return GIV_MARKER_LEN;
    }
    return flen;
}

/* Deliver every frame <rx> holds, then keep only what may start the next:
 * less than GIV_FRAME_MAX bytes. */
static void
rx_process(struct giv_rx *rx, giv_frame_fn fn, void *ctx)
{
    size_t pos = 0, step;

    do {
        size_t garbage = find_marker(rx->buf + pos, rx->len - pos);

        rx->skipped += garbage;
        pos += garbage;
        step = rx_candidate(rx, rx->buf + pos, rx->len - pos, fn, ctx);
        pos += step;
    } while (step > 0);
    memmove(rx->buf, rx->buf + pos, rx->len - pos);
    rx->len -= pos;
}

/*
 * Append the <len> bytes at <data> (what a read returned: any size, any
 * cut) to <rx> and call <fn>(<ctx>, ...) for every whole candidate frame,
 * in stream order, with its verdict from giv_parse(); <f> is never NULL
 * and is meaningful for GIV_OK and GIV_IGNORE. The frame bytes and <f>
 * are borrowed for the call. Garbage before a marker, a marker followed
 * by another less than 18 bytes on, and a header with LEN outside
 * 13..300 or a bad uid or fid are dropped and counted in rx->skipped, as
 * are the bytes of a frame with a bad verdict, where the search resumes 4
 * bytes into it (1.1, 5.4). At most an incomplete frame is kept.
 * The result never depends on how the stream is cut into calls, and every
 * byte fed ends up in exactly one of: a GIV_OK or GIV_IGNORE frame,
 * rx->skipped, or rx->len.
 * IMPORTANT: <fn> must not feed or reset <rx>.
 */
void
giv_rx_feed(struct giv_rx *rx, const uint8_t *data, size_t len,
            giv_frame_fn fn, void *ctx)
{
    while (len > 0) {
        size_t n = GIV_MIN(len, sizeof(rx->buf) - rx->len);

        /* Never taken: rx_process() leaves less than GIV_FRAME_MAX bytes
         * in a buffer twice that size. Kept so that a broken invariant
         * loses bytes instead of looping. */
        if (n == 0) {
            rx->skipped += rx->len;
            rx->len = 0;
            continue;
        }
        memcpy(rx->buf + rx->len, data, n);
        rx->len += n;
        data += n;
        len -= n;
        rx_process(rx, fn, ctx);
    }
}

/*
 * Short text for verdict <v>, for log lines ("bad CRC").
 */
const char *
giv_verdict_str(enum giv_verdict v)
{
    switch (v) {
    case GIV_OK:
        return "ok";
    case GIV_IGNORE:
        return "ignored";
    case GIV_BAD_CRC:
        return "bad CRC";
    case GIV_BAD_LENGTH:
        return "bad length";
    case GIV_BAD_HEADER:
        return "bad header";
    default:
        return "bad GivEnergy verdict";
    }
}

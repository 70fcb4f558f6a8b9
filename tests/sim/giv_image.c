/* SPDX-License-Identifier: MIT */
/*
 * giv_image.c -- the register image of the GivEnergy dongle simulator
 * (see giv_image.h). The captured responses are from
 * tests/fixtures/givenergy_vectors.tsv (docs/givenergy.md section 4);
 * each is checked (length and CRC) before its values are used.
 */
#include <stdio.h>
#include <stdlib.h>

#include "giv_image.h"
#include "sim_map.h"

#define NDEV (sizeof(devdefs) / sizeof(devdefs[0]))

/* A device behind the dongle. */
static const struct devdef devdefs[] = {
    { 0x11, RF_INV, 0x11, HAS(SP_HR) | HAS(SP_IR) },
    { 0x31, RF_INV, 0x11, HAS(SP_HR) | HAS(SP_IR) },
    { 0x32, RF_BAT, 0x32, HAS(SP_HR) | HAS(SP_IR) },
    { 0x01, RF_METER1, 0x01, HAS(SP_IR) | HAS(SP_MR) },
    { 0x02, RF_METER2, 0x02, HAS(SP_IR) | HAS(SP_MR) },
};


/* Captured responses (givenergy_vectors.tsv) whose values seed the image
 * unless --plain-image; fc, base and count are the frame's own. */
struct capture {
    enum regfile file;
    const char *hex;
};

static const struct capture captures[] = {
    { RF_INV, /* V02: IR(0,60)@0x31 */
      "59590001009e010257473233303347323836000000000000008a31044541323330334732"
      "38360000003c0001119700dc11870000094000004d2b00040000000a000038b013880001"
      "0a900085000100da0000000000000764000000c50001002c00000d420000ff9300000000"
      "67c7000000030000000400000000000000c601320539000400003c850000192800011357"
      "000000000940138b00db0032000002280004da9a" },
    { RF_INV, /* V04: IR(180,60)@0x31 */
      "59590001009e010257473233303347323836000000000000008a31044541323330334732"
      "383600b4003c000000000000000000000000000000000000000000000000000000000000"
      "000000000000000000000000000000000000000000000000000000000000000000000000"
      "00000000000000000000000000000000000000000000000800000000012c000000000000"
      "000000000000000000000000000000000000c9e3" },
    { RF_INV, /* V06: HR(0,60)@0x31 */
      "59590001009e010257473233303347323836000000000000008a31034541323330334732"
      "38360000003c200100030c3200000000c3500e100001445a323234384734393945413233"
      "3033473238360bc703910000039100020000c00000001770000100000000001100010004"
      "0007008c0018000300080009001800100001000300000000000000650001000000000064"
      "000000000001000100ba07080726000100001bf0" },
    { RF_INV, /* V08: HR(60,60)@0x31 */
      "59590001009e010257473233303347323836000000000000008a31034541323330334732"
      "3836003c003c0514001e001e07300a3e128e1450007d003203e8001907080aaa125c1450"
      "007a00190019001907580a14129814460a3e5341312e3000000000000000000000000000"
      "000006a406db000010e016da000000000000000000000000000000000000000600010006"
      "0032003200000004000100640000000000005feb" },
    { RF_INV, /* V10: HR(120,60)@0x31 */
      "59590001009e010257473233303347323836000000000000008a31034541323330334732"
      "38360078003c000000000000001800000001000000000001000100ff4e2000ff4e2000ff"
      "4e2000ff4e2009b409e20844081600140005096f08fc0000000000000000000000000000"
      "000000000000000000000000000000000000000000000000000000000000000000000000"
      "00000000000000000000000f00000000000047bb" },
    { RF_BAT, /* V12: IR(60,60)@0x32 */
      "59590001009e010257473233303347323836000000000000008a32044541323330334732"
      "3836003c003c0bf80bfb0c000bf70c070bfd0bf70bf30c050bfb0c000c050c080c0c0c07"
      "0c0a0036003700360038c009004b0000bfb400004667000048a8000002bd000006100000"
      "000000000000007b00100bc700000004000048a800380036258b27a0000000000000445a"
      "323234384734393900000000000000000000b8a0" },
    { RF_METER1, /* V45: IR(60,30)@0x01 */
      "595900010062010257473233303247303030000000000000004e01044541323330324730"
      "3030003c001e098b0000000000d600000000000000000001000000000000000000000000"
      "0000020900000000000025da0000000000001384ccd200003a9200000000d887" },
    { RF_METER2, /* V53: fc 0x16 (60,60)@0x02 */
      "59590001009e010257543233333747303030000000000000008a02165443323333374730"
      "3030003c003c0dc149d70045535400880100010000012580000000000000000000000000"
      "000000000000000000000000000000000000000000000000000000000000000000000000"
      "000000000000000000000000000000000000000000000000000000000000000000000000"
      "0000000000000000000000000000000000008e9f" },
};

/* V54: the LAN-config broadcast of a WO dongle, sent byte for byte. */
static const char lan_config_hex[] =
    "5959000100400102574f3030303047303030000000000000002c3030302e3030302e302e"
    "30302c3030302e3030302e3030302e302c3030302e3030302e302e300d0a0d0ab4f2";

/* The known constants of the substituted IR(0,60)@0x32 block (5.4). */
static const struct {
    uint8_t idx;
    uint16_t val;
} subst_known[] = {
    { 28, 0x4C32 }, { 30, 0xA119 }, { 31, 0x34EA }, { 32, 0xE77F },
    { 33, 0xD475 }, { 35, 0x4500 }, { 40, 0xE4F9 }, { 41, 0xC0A8 },
    { 43, 0xC0A8 }, { 46, 0xC5E9 }, { 50, 0x60EF }, { 51, 0x8018 },
    { 52, 0x43E0 }, { 53, 0xF6CE }, { 56, 0x080A }, { 58, 0xFCC1 },
    { 59, 0x661E },
};

/*
 * The device at slave address <addr>, or NULL.
 */
const struct devdef *
dev_find(uint8_t addr)
{
    for (size_t i = 0; i < NDEV; i++) {
        if (devdefs[i].addr == addr) {
            return &devdefs[i];
        }
    }
    return NULL;
}

/*
 * The table inner function code <fc> works on, -1 for none.
 */
int
fc_space(uint8_t fc)
{
    return fc == 0x03 || fc == 0x06 ? SP_HR
           : fc == 0x04             ? SP_IR
           : fc == 0x16             ? SP_MR
                                    : -1;
}

/*
 * Decode hex string <h> into <out> (at most <max> bytes); returns the
 * number of bytes.
 */
size_t
hex_decode(const char *h, uint8_t *out, size_t max)
{
    size_t n = 0;

    for (; h[0] != '\0' && h[1] != '\0' && n < max; h += 2) {
        char pair[3] = { h[0], h[1], '\0' };

        out[n++] = (uint8_t)strtoul(pair, NULL, 16);
    }
    return n;
}

/* Copy the values of captured response <c> into the image. */
static bool
capture_load(struct gimg *im, const struct capture *c)
{
    uint8_t f[FRAME_MAX] = {0};
    size_t n = hex_decode(c->hex, f, sizeof(f));
    unsigned base = get16(f + 38), cnt = get16(f + 40);
    int sp = fc_space(f[27]);

    if (n < 44 || sp < 0 || n != 6u + get16(f + 4) || n != 44u + 2 * cnt ||
        base + cnt > NREGS || !crc_ok(f, n)) {
        return false;
    }
    for (unsigned i = 0; i < cnt; i++) {
        im->img[c->file][sp][base + i] = get16(f + 42 + 2 * i);
    }
    return true;
}

/*
 * Fill <im>: sim_map.h's formulas everywhere, then the captured banks
 * unless <plain>; the substituted block; the LAN-config frame. Returns
 * false (and says which) if an embedded capture does not verify.
 */
bool
gimg_init(struct gimg *im, bool plain)
{
    uint32_t x = 78;          /* garbage of the substituted block, fixed */

    for (const struct devdef *d = devdefs; d < devdefs + NDEV; d++) {
        for (unsigned a = 0; a < NREGS; a++) {
            im->img[d->file][SP_HR][a] = sim_holding(d->unit, a);
            im->img[d->file][SP_IR][a] = sim_input(d->unit, a);
            im->img[d->file][SP_MR][a] = sim_input(d->unit, a);
        }
    }
    for (size_t i = 0; !plain && i < sizeof(captures) / sizeof(*captures);
         i++) {
        if (!capture_load(im, &captures[i])) {
            fprintf(stderr, "giv_dongle: embedded capture %zu is broken\n", i);
            return false;
        }
    }
    for (int i = 0; i < MAX_COUNT; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        im->subst[i] = (uint16_t)x;
    }
    for (size_t i = 0; i < sizeof(subst_known) / sizeof(*subst_known); i++) {
        im->subst[subst_known[i].idx] = subst_known[i].val;
    }
    im->lan_len = hex_decode(lan_config_hex, im->lan, sizeof(im->lan));
    return true;
}


/*
 * The big-endian 16-bit value at <p>.
 */
uint16_t
get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/*
 * CRC-16/Modbus (poly 0xA001 reflected, init 0xFFFF, no final XOR) of an
 * <n>-byte dongle frame's bytes from the device address (offset 26) up to
 * its check (docs/givenergy.md 2). Shared by the simulators; never the
 * proxy's codec.
 */
uint16_t
giv_sim_crc(const uint8_t *f, size_t n)
{
    uint16_t crc = 0xFFFF;

    for (size_t i = 26; i + 2 < n; i++) {
        crc ^= f[i];
        for (int bit = 0; bit < 8; bit++) {
            crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0xA001) : crc >> 1;
        }
    }
    return crc;
}

/*
 * True if <n>-byte frame <f> (28 bytes at least: the header, device and
 * function) ends with its CRC, low byte first.
 */
bool
crc_ok(const uint8_t *f, size_t n)
{
    uint16_t crc = giv_sim_crc(f, n);

    return n >= 30 && f[n - 2] == (crc & 0xFF) && f[n - 1] == crc >> 8;
}

/* SPDX-License-Identifier: MIT */
/*
 * giv_image.h -- the GivEnergy dongle simulator's register image: which
 * devices answer behind the dongle, their registers (sim_map.h formulas,
 * or the values of real captured responses), the dongle's substituted
 * block and its LAN-config frame. Split out of giv_dongle.c, which serves
 * them.
 */
#ifndef MUX_GIV_IMAGE_H
#define MUX_GIV_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NREGS 2000            /* registers 0..1999 per table */
#define MAX_COUNT 60          /* registers per read (6) */
#define FRAME_MAX 164         /* longest frame we build: 60 registers */

enum space { SP_HR, SP_IR, SP_MR, NSPACE }; /* fc 3/6, fc 4, fc 0x16 */
enum regfile { RF_INV, RF_BAT, RF_METER1, RF_METER2, NFILE };
#define HAS(sp) (1u << (sp))

/* A device behind the dongle. */
struct devdef {
    uint8_t addr;             /* slave address in the frames */
    enum regfile file;        /* its registers; 0x11 and 0x31 share one */
    unsigned unit;            /* the unit sim_map.h's formulas use */
    unsigned spaces;          /* HAS(SP_...); SP_HR also takes fc 6 */
};

/* Everything the inverter and the dongle hold. */
struct gimg {
    uint16_t img[NFILE][NSPACE][NREGS];
    uint16_t subst[MAX_COUNT];        /* the substituted IR(0,60)@0x32 */
    uint8_t  lan[128];                /* the LAN-config broadcast */
    size_t   lan_len;
};

bool gimg_init(struct gimg *im, bool plain);
const struct devdef *dev_find(uint8_t addr);
int fc_space(uint8_t fc);
size_t hex_decode(const char *h, uint8_t *out, size_t max);
uint16_t get16(const uint8_t *p);
uint16_t giv_sim_crc(const uint8_t *f, size_t n);
bool crc_ok(const uint8_t *f, size_t n);

#endif /* MUX_GIV_IMAGE_H */

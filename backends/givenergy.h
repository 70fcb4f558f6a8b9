/* SPDX-License-Identifier: MIT */
/*
 * givenergy.h -- what the "givenergy" backend tells the "givenergy" front
 * end (proxy/fe_givenergy.c) about its dongle, so that answers made from
 * the cache carry the serials the dongle would put in them. The core
 * names neither type; the two know each other through this header.
 */
#ifndef MUX_GIVENERGY_H
#define MUX_GIVENERGY_H

#include <stdbool.h>
#include <stdint.h>

#include "givenergy_frame.h"

struct backend;

/* The function code that carries the dongle's meter product read (inner fc
 * 0x16, docs/givenergy.md 1.7) inside modbus-mux, since Modbus FC 0x16 is
 * Mask Write Register: 0x44 (68) is in the range the Modbus Application
 * Protocol leaves to users (65-72). Its PDU is laid out as FC 4's. */
#define GIV_PDU_METER 0x44

/* What the dongle told about itself and a device behind it. */
struct giv_identity {
    uint8_t adapter_serial[GIV_SERIAL_LEN]; /* in every frame it sends */
    uint8_t adapter_type;                   /* its heartbeats' TT byte */
    bool    device_known;                   /* device_serial is set */
    uint8_t device_serial[GIV_SERIAL_LEN];  /* in the device's answers */
};

bool giv_backend_identity(const struct backend *be, uint8_t device,
                          struct giv_identity *out);

#endif /* MUX_GIVENERGY_H */

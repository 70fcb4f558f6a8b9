/* SPDX-License-Identifier: MIT */
/*
 * rtu.h -- the settings of a local serial line, as the rtu backend
 * (rtu.c) opens it: one group of keys (device, baud, parity, data_bits,
 * stop_bits, rs485, rts) that a backend type on a local serial port
 * includes in its own key table (CFG_KEYS_AT), with struct rtu_line_cfg in
 * its own settings.
 */
#ifndef MUX_RTU_H
#define MUX_RTU_H

#include <stdbool.h>

#include "cfg.h"

enum rtu_parity {
    RTU_PARITY_NONE = 0,
    RTU_PARITY_EVEN,
    RTU_PARITY_ODD,
};

enum rtu_rts {
    RTU_RTS_NONE = 0,
    RTU_RTS_UP,
    RTU_RTS_DOWN,
};

/* A serial line: in a type's own settings (cfg_backend.own). */
struct rtu_line_cfg {
    char     device[CFG_HOST_MAX];  /* serial device path */
    unsigned baud;
    unsigned parity;                /* enum rtu_parity */
    unsigned data_bits;
    unsigned stop_bits;
    bool     rs485;                 /* kernel RS485 mode (TIOCSRS485) */
    unsigned rts;                   /* enum rtu_rts */
};

extern const struct cfg_key rtu_line_keys[];

#endif /* MUX_RTU_H */

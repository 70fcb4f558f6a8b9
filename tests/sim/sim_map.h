/* SPDX-License-Identifier: MIT */
/*
 * sim_map.h -- the register image every simulator starts with, so that tests
 * and the load generator can check any value they read without asking.
 * Writes change the image; a restarted simulator starts from these again.
 */
#ifndef MUX_SIM_MAP_H
#define MUX_SIM_MAP_H

#include <stdint.h>

/* Holding register (FC 3) <addr> of unit <unit>. */
static inline uint16_t
sim_holding(unsigned unit, unsigned addr)
{
    return (uint16_t)(unit * 1000u + addr);
}

/* Input register (FC 4) <addr> of unit <unit>. */
static inline uint16_t
sim_input(unsigned unit, unsigned addr)
{
    return (uint16_t)(unit * 1000u + addr + 0x8000u);
}

/* Coil (FC 1) <addr> of unit <unit>. */
static inline uint8_t
sim_coil(unsigned unit, unsigned addr)
{
    return (addr + unit) % 3u == 0;
}

/* Discrete input (FC 2) <addr> of unit <unit>. */
static inline uint8_t
sim_discrete(unsigned unit, unsigned addr)
{
    return (addr + unit) % 2u == 0;
}

#endif /* MUX_SIM_MAP_H */

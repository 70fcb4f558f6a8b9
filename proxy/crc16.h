/* SPDX-License-Identifier: MIT */
/*
 * crc16.h -- CRC-16/Modbus, the check of Modbus RTU frames and of the
 * inner frame of the GivEnergy dongle's protocol. Pure.
 */
#ifndef MUX_CRC16_H
#define MUX_CRC16_H

#include <stddef.h>
#include <stdint.h>

uint16_t crc16_modbus(const uint8_t *buf, size_t len);

#endif /* MUX_CRC16_H */

/* SPDX-License-Identifier: MIT */
/*
 * crc16.c -- CRC-16/Modbus (init 0xFFFF, reflected polynomial 0xA001, no
 * final xor; check value 0x4B37 over "123456789"), as the Modbus over
 * serial line specification (6.2.2) defines it. The RTU codec
 * (backends/rtu_frame.c) and the GivEnergy codec
 * (backends/givenergy_frame.c) both check and seal frames with it; frames
 * carry it low byte first.
 */
#include "crc16.h"

/* The CRC of each 4-bit value: four steps of the reflected polynomial
 * 0xA001 at once. Two lookups per byte, no branch per bit. */
static const uint16_t crc_nibble[16] = {
    0x0000, 0xCC01, 0xD801, 0x1400, 0xF001, 0x3C00, 0x2800, 0xE401,
    0xA001, 0x6C00, 0x7800, 0xB401, 0x5000, 0x9C01, 0x8801, 0x4400,
};

/*
 * Return the CRC-16/Modbus of the <len> bytes at <buf> (<buf> may be NULL
 * when <len> is 0: 0xFFFF). The CRC of a whole frame, its own CRC
 * included low byte first, is 0.
 */
uint16_t
crc16_modbus(const uint8_t *buf, size_t len)
{
    uint16_t crc = 0xFFFF;

    for (size_t i = 0; i < len; i++) {
        crc ^= buf[i];
        crc = (uint16_t)(crc >> 4 ^ crc_nibble[crc & 0x0F]);
        crc = (uint16_t)(crc >> 4 ^ crc_nibble[crc & 0x0F]);
    }
    return crc;
}

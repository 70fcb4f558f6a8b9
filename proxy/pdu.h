/* SPDX-License-Identifier: MIT */
/*
 * pdu.h -- Modbus PDU rules shared by every backend: which function codes
 * are reads, the length rules of requests and responses, exception
 * building, which requests only read and which writes name what they
 * write. Pure: no libuv, no allocation.
 */
#ifndef MUX_PDU_H
#define MUX_PDU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum mb_fc {
    MB_FC_READ_COILS = 0x01,
    MB_FC_READ_DISCRETE = 0x02,
    MB_FC_READ_HOLDING = 0x03,
    MB_FC_READ_INPUT = 0x04,
    MB_FC_WRITE_COIL = 0x05,
    MB_FC_WRITE_REGISTER = 0x06,
    MB_FC_WRITE_COILS = 0x0F,
    MB_FC_WRITE_REGISTERS = 0x10,
    MB_FC_MASK_WRITE = 0x16,
    MB_FC_READ_WRITE = 0x17,
};

enum mb_ex {
    MB_EX_NONE = 0x00,
    MB_EX_ILLEGAL_FUNCTION = 0x01,
    MB_EX_ILLEGAL_ADDRESS = 0x02,
    MB_EX_ILLEGAL_VALUE = 0x03,
    MB_EX_DEVICE_FAILURE = 0x04,
    MB_EX_BUSY = 0x06,
    MB_EX_GW_PATH = 0x0A,
    MB_EX_GW_TARGET = 0x0B,
};

#define MB_EX_FLAG 0x80

bool pdu_is_read(uint8_t fc);
bool pdu_reads_only(const uint8_t *pdu, size_t len);
bool pdu_is_ranged_write(uint8_t fc);
bool pdu_is_exception(const uint8_t *rsp, size_t len);
uint8_t pdu_check_request(const uint8_t *pdu, size_t len);
bool pdu_check_response(const uint8_t *req, size_t req_len,
                        const uint8_t *rsp, size_t rsp_len);
size_t pdu_exception(uint8_t *out, uint8_t fc, uint8_t code);
size_t pdu_write_echo(uint8_t *out, const uint8_t *req, size_t req_len);
uint16_t pdu_get16(const uint8_t *p);
bool pdu_range(const uint8_t *pdu, size_t len, unsigned *lo, unsigned *hi);
bool pdu_write_range(const uint8_t *pdu, size_t len, unsigned *lo,
                     unsigned *hi);

#endif /* MUX_PDU_H */

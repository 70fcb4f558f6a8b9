/* SPDX-License-Identifier: MIT */
/*
 * policy.h -- the cache's uses and the write rules, for backend.c (see
 * policy.c): verdicts that backend.c acts on.
 */
#ifndef MUX_POLICY_H
#define MUX_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "cfg.h"
#include "core.h"

/* What becomes of a request, as the policy sees it. */
enum policy_verdict {
    POLICY_DEVICE = 1,  /* the device must see it: send it (again) */
    POLICY_ANSWER,      /* answered without the device: in req_rsp() */
    POLICY_REFUSE,      /* refused, with the exception code given */
};

bool policy_cacheable(const struct req *r);
bool policy_cache_answer(struct backend *be, struct req *r, uint64_t since_ms);
bool policy_stale_answer(struct backend *be, struct req *r, uint64_t now_ms);
void policy_forget(struct backend *be, const struct req *r);
void policy_learn(struct backend *be, const struct req *r, uint64_t now_ms);
enum policy_verdict policy_write(struct backend *be, struct req *r,
                                 uint64_t now_ms, uint8_t *code);
const char *policy_refusal(const struct cfg_backend *c, bool ro_client,
                           const struct cache *writes, uint8_t unit,
                           const uint8_t *pdu, size_t len, uint64_t now_ms,
                           uint8_t *code);
void policy_note_write(struct cache *writes, uint8_t unit, const uint8_t *pdu,
                       size_t len, uint64_t now_ms);
bool policy_precheck_target(const uint8_t *q, uint8_t *fc, uint16_t *addr,
                            uint16_t *n);
bool policy_unchanged(const uint8_t *q, const uint8_t *cur);
void policy_precheck_swap(struct req *r);
void policy_precheck_restore(struct req *r);
enum policy_verdict policy_precheck_done(struct backend *be, struct req *r);

#endif /* MUX_POLICY_H */

/* SPDX-License-Identifier: MIT */
/*
 * policy.h -- the cache's uses and the write rules, for backend.c (see
 * policy.c).
 */
#ifndef MUX_POLICY_H
#define MUX_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "core.h"

bool policy_cacheable(const struct req *r);
bool policy_cache_answer(struct backend *be, struct req *r, uint64_t since_ms);
bool policy_stale_answer(struct backend *be, struct req *r);
void policy_forget(struct backend *be, const struct req *r);
void policy_learn(struct backend *be, const struct req *r);
bool policy_write(struct backend *be, struct req *r);
void policy_precheck_swap(struct req *r);
void policy_precheck_restore(struct req *r);
bool policy_precheck_done(struct backend *be, struct req *r);

#endif /* MUX_POLICY_H */

/* SPDX-License-Identifier: MIT */
/*
 * backend_int.h -- what the files of the core's backend (backend.c,
 * backend_merge.c) share and nothing else may call: the one function that
 * changes a request's state, and the merged-read steps backend.c takes.
 * Backend types use backend.h only.
 */
#ifndef MUX_BACKEND_INT_H
#define MUX_BACKEND_INT_H

#include "backend.h"

/* req_move() <how>: a request queued at the front of its flow. */
#define MOVE_FRONT 1u

void req_move(struct backend *be, struct req *r, enum req_state to,
              unsigned how);

bool backend_merge_wanted(const struct backend *be, const struct req *r);
void backend_merge_queued(struct backend *be, struct req *r);
void backend_merge_answer(const struct req *lead, struct req *f);
void backend_merge_unwind(struct req *lead);
void backend_merge_undo(struct backend *be, struct req *r);

#endif /* MUX_BACKEND_INT_H */

/* SPDX-License-Identifier: MIT */
/*
 * core.h -- what every module of modbus-mux includes: forward declarations,
 * ASSERT (on in release builds), container_of, MB_MUSTCHECK and the aborting
 * allocator. Nothing here knows about libuv or Modbus.
 */
#ifndef MUX_CORE_H
#define MUX_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/queue.h>

struct backend;
struct backend_ops;
struct cfg;
struct cfg_backend;
struct flow;
struct listener;
struct req;
struct req_owner;
struct server;
struct session;
struct session_order;

#define MB_MUSTCHECK __attribute__((warn_unused_result))
#define MB_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define MB_NORETURN __attribute__((noreturn))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MB_MIN(a, b) ((a) < (b) ? (a) : (b))
#define MB_MAX(a, b) ((a) > (b) ? (a) : (b))

#define container_of(ptr, type, member) \
    ((type *)((char *)(ptr) - offsetof(type, member)))

MB_NORETURN void assert_fail(const char *expr, const char *file, int line);

/* Stays on in release builds: a broken invariant is a crash with file:line,
 * never silent corruption of another client's reply. */
#define ASSERT(e) \
    ((e) ? (void)0 : assert_fail(#e, __FILE__, __LINE__))

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
char *xstrdup(const char *s);

#endif /* MUX_CORE_H */

/* SPDX-License-Identifier: MIT */
/*
 * test_precheck.c -- write_if_changed: a write that goes out first as a
 * read of its registers (policy.c) and then, if the values differ, as
 * itself. The pre-read may take several device transactions (a GivEnergy
 * read that falls back from a refused block to the registers asked for
 * sets req->step) or be answered from the cache (req->local): none of that
 * may carry over to the write. Driven on a real libuv loop, in a real
 * server, with the scripted device of tests/support/fake_backend.c in
 * FAKE_STEPS, which records what each transmission looked like.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend.h"
#include "fake_backend.h"
#include "mbap.h"
#include "pdu.h"
#include "server.h"
#include "stats.h"

static uv_loop_t loop;
static struct server srv;

static void
setup(void)
{
    static const char ini[] =
        "[server]\nlisten = 127.0.0.1:0\n"
        "[backend dev]\ntype = tcp\nhost = x\nwrite_if_changed = yes\n"
        "min_spacing_ms = 0\n[route]\n1 = dev\n";

    log_level = LOG_WARN;
    memset(&stats_srv, 0, sizeof(stats_srv));
    fake_server_start(&srv, &loop, FAKE_STEPS, ini);
}

static void
teardown(void)
{
    fake_server_stop(&srv, &loop);
}

TestSuite(precheck, .init = setup, .fini = teardown, .timeout = 10);

/* A client session on a socketpair; the test holds the other end. */
static int
client(void)
{
    return fake_client(&srv, false);
}

/* Send <len> bytes of request <q>, run the loop until the reply is in
 * <f>; returns its length. */
static ssize_t
exchange(int fd, const uint8_t *q, size_t len, uint8_t *f, size_t size)
{
    uint64_t end = uv_hrtime() + 5000000000ull;
    ssize_t n = -1;

    cr_assert_eq(write(fd, q, len), (ssize_t)len);
    while (n <= 0 && uv_hrtime() < end) {
        uv_run(&loop, UV_RUN_NOWAIT);
        n = read(fd, f, size);
    }
    return n;
}

Test(precheck, a_write_after_a_two_step_pre_read_starts_at_its_first_register)
{
    /* FC 16, register 1990 := 0x1234 */
    static const uint8_t q[] = {0, 1, 0, 0, 0, 9, 1, 16, 0x07, 0xC6, 0, 1, 2,
                                0x12, 0x34};
    uint8_t f[64];
    int fd = client();

    cr_assert_eq(exchange(fd, q, sizeof(q), f, sizeof(f)), 12);
    cr_assert_eq(memcmp(f + 7, q + 7, 5), 0, "the write's echo");
    cr_assert_eq(fake.n_tx, 3, "pre-read, its second step, the write");
    cr_assert_eq(fake.tx[2].fc, 16);
    cr_assert_eq(fake.tx[2].step, 0, "the write began at register %u of 1",
                 fake.tx[2].step);
    cr_assert_not(fake.tx[2].local, "the pre-read's cache answer stuck");
    close(fd);
}

Test(precheck, a_split_write_after_a_two_step_pre_read_writes_every_register)
{
    /* FC 16, registers 1990 and 1991 */
    static const uint8_t q[] = {0, 2, 0, 0, 0, 11, 1, 16, 0x07, 0xC6, 0, 2, 4,
                                0x11, 0x11, 0x22, 0x22};
    uint8_t f[64];
    int fd = client();

    cr_assert_eq(exchange(fd, q, sizeof(q), f, sizeof(f)), 12);
    cr_assert_eq(fake.n_tx, 4, "pre-read in two steps, then two registers, "
                 "not %u transmissions", fake.n_tx);
    cr_assert_eq(fake.tx[2].step, 0);
    cr_assert_eq(fake.tx[3].step, 1);
    close(fd);
}

Test(precheck, fc6_after_a_pre_read_answered_from_the_cache_owes_its_pause)
{
    /* FC 6, register 7 := 1 */
    static const uint8_t q[] = {0, 3, 0, 0, 0, 6, 1, 6, 0, 7, 0, 1};
    uint8_t f[64];
    int fd = client();

    cr_assert_eq(exchange(fd, q, sizeof(q), f, sizeof(f)), 12);
    cr_assert_eq(fake.n_tx, 3);
    cr_assert_eq(fake.tx[2].fc, 6);
    cr_assert_not(fake.tx[2].local, "the write would be paced as a cache hit");
    close(fd);
}

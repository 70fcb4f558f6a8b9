/* SPDX-License-Identifier: MIT */
/*
 * test_policy.c -- proxy/policy.c as a pure unit: no loop, no clock (the
 * time is passed in), no session. The rules themselves: which rule refuses
 * what (policy_refusal()), how a broadcast counts for
 * min_write_interval_ms (policy_note_write()), what write_if_changed reads
 * first and compares (policy_precheck_target(), policy_unchanged()). Then
 * the verdicts backend.c acts on: policy_write() (refuse with a code,
 * answer without the device, or send), policy_precheck_done() (the
 * pre-read's answer is the write's, or the write goes next), and the
 * cache's (policy_cache_answer(), policy_stale_answer(), what
 * policy_learn() and policy_forget() leave for them).
 *
 * Backends come from ini text through cfg_load_string(), so the keys are
 * exercised as a user writes them. The integration side (what reaches the
 * device) is tests/integration/test_attack_policy.c.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "cache.h"
#include "cfg.h"
#include "core.h"
#include "log.h"
#include "pdu.h"
#include "policy.h"

static struct cfg_errors errs;
static struct cache writes;

static void
setup(void)
{
    log_level = LOG_ERROR;
    cache_init(&writes);
}

static void
teardown(void)
{
    cache_clear(&writes);
}

TestSuite(policy, .init = setup, .fini = teardown);

/* The one backend of a tcp section with <keys>. The caller frees <*cfg>. */
static const struct cfg_backend *
backend(struct cfg **cfg, const char *keys)
{
    char text[512];

    snprintf(text, sizeof(text), "[backend dev]\ntype = tcp\nhost = h\n%s\n"
             "[route]\n1 = dev\n", keys);
    *cfg = cfg_load_string("t.ini", text, &errs);
    cr_assert_not_null(*cfg, "%s", errs.msg[0]);
    return &(*cfg)->backends[0];
}

/* A PDU in a table. */
struct pdu {
    uint8_t b[16];
    size_t  len;
};

#define P(...) {{__VA_ARGS__}, sizeof((uint8_t[]){__VA_ARGS__})}

/* The exception code the rules of <c> give <p> for unit 1 at 1000 ms, 0
 * if it passes. */
static int
judge(const struct cfg_backend *c, bool ro, const struct pdu *p)
{
    uint8_t code = 0xEE;
    const char *why = policy_refusal(c, ro, &writes, 1, p->b, p->len, 1000,
                                     &code);

    return why == NULL ? 0 : code;
}

static const struct pdu unjudged[] = {
    P(0x08, 0x00, 0x01, 0x00, 0x00),       /* restart communications */
    P(0x08, 0x00, 0x04, 0x00, 0x00),       /* force listen only mode */
    P(0x15, 0x09, 0x06, 0x00, 0x04, 0x00, 0x01, 0x00, 0x01, 0x12, 0x34),
    P(0x41, 0x00), P(0x48), P(0x64, 0x01), P(0x6E),
    P(0x2B, 0x0D, 0x00),                   /* CANopen general reference */
};

static const struct pdu reads[] = {
    P(0x07), P(0x08, 0x00, 0x00, 0x12, 0x34), P(0x0B), P(0x0C), P(0x11),
    P(0x14, 0x07, 0x06, 0x00, 0x04, 0x00, 0x01, 0x00, 0x02),
    P(0x18, 0x00, 0x10), P(0x2B, 0x0E, 0x01, 0x00),
    P(0x03, 0x00, 0x10, 0x00, 0x01),
};

Test(policy, every_rule_refuses_what_it_cannot_judge)
{
    static const char *const rules[] = {
        "read_only = yes", "deny_write = 0x0640", "write_if_changed = yes",
        "min_write_interval_ms = 1", NULL,   /* NULL: read_only_clients */
    };

    for (size_t i = 0; i < ARRAY_SIZE(rules); i++) {
        struct cfg *cfg;
        const struct cfg_backend *c = backend(&cfg, rules[i] ? rules[i] : "");
        bool ro = rules[i] == NULL;

        for (size_t k = 0; k < ARRAY_SIZE(unjudged); k++) {
            cr_assert_eq(judge(c, ro, &unjudged[k]), 0x01, "%s: fc 0x%02X",
                         rules[i] ? rules[i] : "read_only_clients",
                         unjudged[k].b[0]);
        }
        for (size_t k = 0; k < ARRAY_SIZE(reads); k++) {
            cr_assert_eq(judge(c, ro, &reads[k]), 0, "%s: read 0x%02X",
                         rules[i] ? rules[i] : "read_only_clients",
                         reads[k].b[0]);
        }
        cfg_free(cfg);
    }
}

Test(policy, no_rule_refuses_nothing)
{
    struct cfg *cfg;
    const struct cfg_backend *c = backend(&cfg, "");

    for (size_t k = 0; k < ARRAY_SIZE(unjudged); k++) {
        cr_assert_eq(judge(c, false, &unjudged[k]), 0);
    }
    cfg_free(cfg);
}

Test(policy, allow_functions_names_what_may_pass)
{
    static const struct pdu fc6 = P(0x06, 0x06, 0x40, 0x00, 0x01);
    struct cfg *cfg;
    const struct cfg_backend *c =
        backend(&cfg, "deny_write = 0x0640\nallow_functions = 8, 65-72");

    cr_assert_eq(judge(c, false, &unjudged[0]), 0, "FC 8/1 allowed");
    cr_assert_eq(judge(c, false, &unjudged[1]), 0, "FC 8/4 allowed");
    cr_assert_eq(judge(c, false, &unjudged[3]), 0, "FC 65 allowed");
    cr_assert_eq(judge(c, false, &unjudged[4]), 0, "FC 72 allowed");
    cr_assert_eq(judge(c, false, &unjudged[2]), 0x01, "FC 21 is not");
    cr_assert_eq(judge(c, false, &unjudged[5]), 0x01, "FC 100 is not");
    cr_assert_eq(judge(c, false, &fc6), 0x02, "deny_write still judges");
    cr_assert_eq(judge(c, true, &unjudged[0]), 0x01,
                 "read_only_clients refuse it all the same");
    cfg_free(cfg);
    c = backend(&cfg, "read_only = yes\nallow_functions = 8");
    cr_assert_eq(judge(c, false, &unjudged[0]), 0x01,
                 "read_only refuses it all the same");
    cfg_free(cfg);
}

Test(policy, deny_write_judges_the_write_part)
{
    /* FC 23: read 100..104, write 200; read 200, write 105. */
    static const struct pdu rd = P(0x17, 0x00, 0x64, 0x00, 0x05, 0x00, 0xC8,
                                   0x00, 0x01, 0x02, 0x00, 0x07);
    static const struct pdu wr = P(0x17, 0x00, 0xC8, 0x00, 0x01, 0x00, 0x69,
                                   0x00, 0x01, 0x02, 0x00, 0x07);
    static const struct pdu mask = P(0x16, 0x00, 0x6D, 0x00, 0x00, 0x00,
                                     0x07);
    static const struct pdu coils = P(0x0F, 0x00, 0x60, 0x00, 0x0A, 0x02,
                                      0xFF, 0x03);
    struct cfg *cfg;
    const struct cfg_backend *c = backend(&cfg, "deny_write = 100-109");

    cr_assert_eq(judge(c, false, &rd), 0, "reading is no write");
    cr_assert_eq(judge(c, false, &wr), 0x02);
    cr_assert_eq(judge(c, false, &mask), 0x02);
    cr_assert_eq(judge(c, false, &coils), 0x02, "96..105");
    cfg_free(cfg);
}

Test(policy, read_only_refuses_every_write)
{
    static const struct pdu w[] = {
        P(0x05, 0x00, 0x01, 0xFF, 0x00), P(0x06, 0x00, 0x01, 0x00, 0x01),
        P(0x0F, 0x00, 0x01, 0x00, 0x01, 0x01, 0x01),
        P(0x10, 0x00, 0x01, 0x00, 0x01, 0x02, 0x00, 0x01),
        P(0x16, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01),
        P(0x17, 0x00, 0x01, 0x00, 0x01, 0x00, 0x02, 0x00, 0x01, 0x02, 0x00,
          0x01),
    };
    struct cfg *cfg;
    const struct cfg_backend *c = backend(&cfg, "read_only = yes\n"
                                          "allow_functions = 1-4, 7-14");
    const struct cfg_backend *none;
    struct cfg *cfg2;

    none = backend(&cfg2, "");
    for (size_t k = 0; k < ARRAY_SIZE(w); k++) {
        cr_assert_eq(judge(c, false, &w[k]), 0x01, "fc 0x%02X", w[k].b[0]);
        cr_assert_eq(judge(none, true, &w[k]), 0x01, "client, fc 0x%02X",
                     w[k].b[0]);
        cr_assert_eq(judge(none, false, &w[k]), 0, "fc 0x%02X", w[k].b[0]);
    }
    cfg_free(cfg);
    cfg_free(cfg2);
}

/* FC 6 of <v> at <a>. */
static struct pdu
fc6(uint16_t a, uint16_t v)
{
    struct pdu p = P(0x06, (uint8_t)(a >> 8), (uint8_t)a, (uint8_t)(v >> 8),
                     (uint8_t)v);

    return p;
}

/* The code the interval rule of <c> gives <p> for <unit> at <now>. */
static int
judge_at(const struct cfg_backend *c, uint8_t unit, const struct pdu *p,
         uint64_t now)
{
    uint8_t code = 0;

    return policy_refusal(c, false, &writes, unit, p->b, p->len, now, &code)
               ? code : 0;
}

Test(policy, min_write_interval_per_unit_and_register)
{
    static const struct pdu fc23 = P(0x17, 0x01, 0x90, 0x00, 0x02, 0x01,
                                     0x2C, 0x00, 0x01, 0x02, 0x00, 0x07);
    static const struct pdu coil = P(0x05, 0x00, 0x0A, 0xFF, 0x00);
    struct cfg *cfg;
    const struct cfg_backend *c = backend(&cfg, "min_write_interval_ms = 500");
    struct pdu w10 = fc6(10, 1), w11 = fc6(11, 1), w300 = fc6(300, 1);
    struct pdu w400 = fc6(400, 1), w401 = fc6(401, 1);

    policy_note_write(&writes, 1, w10.b, w10.len, 1000);
    cr_assert_eq(judge_at(c, 1, &w10, 1499), 0x06);
    cr_assert_eq(judge_at(c, 1, &w10, 1500), 0, "the interval is over");
    cr_assert_eq(judge_at(c, 1, &w11, 1001), 0, "another register");
    cr_assert_eq(judge_at(c, 2, &w10, 1001), 0, "another unit");
    cr_assert_eq(judge_at(c, 1, &coil, 1001), 0, "coil 10 is no register");
    /* FC 23 writes 300, reads 400..401. */
    policy_note_write(&writes, 1, fc23.b, fc23.len, 1000);
    cr_assert_eq(judge_at(c, 1, &w300, 1001), 0x06);
    cr_assert_eq(judge_at(c, 1, &w400, 1001), 0, "400 was only read");
    cr_assert_eq(judge_at(c, 1, &w401, 1001), 0, "401 was only read");
    cr_assert_eq(judge_at(c, 1, &fc23, 1001), 0x06, "its write part");
    cfg_free(cfg);
}

Test(policy, a_broadcast_is_a_write_to_every_unit)
{
    struct cfg *cfg;
    const struct cfg_backend *c = backend(&cfg, "min_write_interval_ms = 500");
    struct pdu w20 = fc6(20, 1), w21 = fc6(21, 1), w30 = fc6(30, 1);

    policy_note_write(&writes, 0, w20.b, w20.len, 1000);
    for (unsigned u = 1; u <= 247; u++) {
        cr_assert_eq(judge_at(c, (uint8_t)u, &w20, 1001), 0x06, "unit %u", u);
        cr_assert_eq(judge_at(c, (uint8_t)u, &w21, 1001), 0, "unit %u", u);
    }
    cr_assert_eq(judge_at(c, 0, &w20, 1001), 0x06, "broadcast again");
    cr_assert_eq(judge_at(c, 5, &w20, 1500), 0, "over");
    /* A write to one unit: a broadcast would write it again. */
    policy_note_write(&writes, 7, w30.b, w30.len, 2000);
    cr_assert_eq(judge_at(c, 0, &w30, 2001), 0x06);
    cr_assert_eq(judge_at(c, 0, &w30, 2500), 0);
    cr_assert_eq(judge_at(c, 6, &w30, 2001), 0, "unit 6 was not written");
    cfg_free(cfg);
}

Test(policy, what_write_if_changed_reads_first)
{
    static const struct {
        struct pdu q;
        uint8_t    fc;
        uint16_t   addr, n;
    } c[] = {
        {P(0x05, 0x00, 0x0A, 0xFF, 0x00), 1, 10, 1},
        {P(0x0F, 0x00, 0x14, 0x00, 0x0A, 0x02, 0xFF, 0x03), 1, 20, 10},
        {P(0x06, 0x00, 0x1E, 0x00, 0x01), 3, 30, 1},
        {P(0x10, 0x00, 0x28, 0x00, 0x02, 0x04, 0, 1, 0, 2), 3, 40, 2},
        {P(0x16, 0x00, 0x32, 0x00, 0x00, 0x00, 0x01), 3, 50, 1},
        {P(0x17, 0x00, 0x64, 0x00, 0x05, 0x00, 0x3C, 0x00, 0x01, 0x02, 0x00,
           0x07), 3, 60, 1},
    };
    static const struct pdu others[] = {
        P(0x03, 0x00, 0x01, 0x00, 0x01), P(0x08, 0x00, 0x01, 0x00, 0x00),
        P(0x15, 0x09),
    };

    for (size_t i = 0; i < ARRAY_SIZE(c); i++) {
        uint8_t fc = 0;
        uint16_t addr = 0, n = 0;

        cr_assert(policy_precheck_target(c[i].q.b, &fc, &addr, &n), "%zu", i);
        cr_assert_eq(fc, c[i].fc, "%zu", i);
        cr_assert_eq(addr, c[i].addr, "%zu", i);
        cr_assert_eq(n, c[i].n, "%zu", i);
    }
    for (size_t i = 0; i < ARRAY_SIZE(others); i++) {
        uint8_t fc;
        uint16_t addr, n;

        cr_assert_not(policy_precheck_target(others[i].b, &fc, &addr, &n));
    }
}

Test(policy, what_write_if_changed_compares)
{
    static const struct pdu on = P(0x05, 0x00, 0x0A, 0xFF, 0x00);
    static const struct pdu off = P(0x05, 0x00, 0x0A, 0x00, 0x00);
    /* ten coils 1111 0000 | 10 (the rest of the byte is padding) */
    static const struct pdu ten = P(0x0F, 0x00, 0x14, 0x00, 0x0A, 0x02,
                                    0xF0, 0xFE);
    static const struct pdu w6 = P(0x06, 0x00, 0x1E, 0x12, 0x34);
    static const struct pdu w16 = P(0x10, 0x00, 0x28, 0x00, 0x02, 0x04,
                                    0x00, 0x01, 0x00, 0x02);
    /* (cur AND 0xFF00) OR (0x0034 AND 0x00FF) */
    static const struct pdu mask = P(0x16, 0x00, 0x32, 0xFF, 0x00, 0x00,
                                     0x34);
    static const struct pdu set = P(0x16, 0x00, 0x32, 0x00, 0x00, 0x12,
                                    0x34);
    static const struct pdu fc23 = P(0x17, 0x00, 0x64, 0x00, 0x05, 0x00,
                                     0x3C, 0x00, 0x01, 0x02, 0xAB, 0xCD);
    static const uint8_t bit1[] = {0x01}, bit0[] = {0xFE};

    cr_assert(policy_unchanged(on.b, bit1));
    cr_assert_not(policy_unchanged(on.b, bit0));
    cr_assert(policy_unchanged(off.b, bit0), "other bits do not count");
    cr_assert_not(policy_unchanged(off.b, bit1));
    cr_assert(policy_unchanged(ten.b, (const uint8_t[]){0xF0, 0x02}),
              "padding bits do not count");
    cr_assert_not(policy_unchanged(ten.b, (const uint8_t[]){0xF0, 0x00}));
    cr_assert_not(policy_unchanged(ten.b, (const uint8_t[]){0x70, 0x02}));
    cr_assert(policy_unchanged(w6.b, (const uint8_t[]){0x12, 0x34}));
    cr_assert_not(policy_unchanged(w6.b, (const uint8_t[]){0x12, 0x35}));
    cr_assert(policy_unchanged(w16.b, (const uint8_t[]){0, 1, 0, 2}));
    cr_assert_not(policy_unchanged(w16.b, (const uint8_t[]){0, 1, 0, 3}));
    cr_assert(policy_unchanged(mask.b, (const uint8_t[]){0x12, 0x34}));
    cr_assert(policy_unchanged(mask.b, (const uint8_t[]){0xAB, 0x34}));
    cr_assert_not(policy_unchanged(mask.b, (const uint8_t[]){0x12, 0x35}));
    cr_assert(policy_unchanged(set.b, (const uint8_t[]){0x12, 0x34}));
    cr_assert_not(policy_unchanged(set.b, (const uint8_t[]){0x12, 0x30}));
    cr_assert(policy_unchanged(fc23.b, (const uint8_t[]){0xAB, 0xCD}));
    cr_assert_not(policy_unchanged(fc23.b, (const uint8_t[]){0xAB, 0xCE}));
}

/* --- verdicts ----------------------------------------------------------- */

/* A backend as the policy sees it: configuration, caches, counters. */
static struct backend be;
static struct cfg *be_cfg;
static const struct backend_ops plain_ops = {.type = "plain"};
static const struct backend_ops own_cache_ops = {.type = "own",
                                                 .own_cache = true};

/* Make <be> the tcp backend with <keys>; be_close() frees it. */
static void
be_open(const char *keys)
{
    memset(&be, 0, sizeof(be));
    be.cfg = *backend(&be_cfg, keys);
    be.ops = &plain_ops;
    cache_init(&be.cache);
    cache_init(&be.writes);
}

static void
be_close(void)
{
    cache_clear(&be.cache);
    cache_clear(&be.writes);
    cfg_free(be_cfg);
}

/* A NEW request <p> to unit <unit> of <be>, received at <t_ms>, from a
 * client in read_only_clients if <ro>. The caller frees it. */
static struct req *
request(const struct pdu *p, uint8_t unit, bool ro, uint64_t t_ms)
{
    struct req *r = req_new(NULL, 1, 17, p->b, p->len, t_ms);

    r->backend = &be;
    r->be_unit = unit;
    r->read_only = ro;
    return r;
}

/* policy_write()'s verdict on <p> to unit 1 at <now>, the code in <code>. */
static enum policy_verdict
write_verdict(const struct pdu *p, bool ro, uint64_t now, uint8_t *code)
{
    struct req *r = request(p, 1, ro, now);
    enum policy_verdict v = policy_write(&be, r, now, code);

    req_free(r);
    return v;
}

/* Registers <addr>.. of unit 1 hold <n> values <v> since <t_ms>. */
static void
cached(uint16_t addr, const uint8_t *v, uint16_t n, uint64_t t_ms)
{
    cache_store(&be.cache, 1, MB_FC_READ_HOLDING, addr, n, v, t_ms);
}

Test(policy, write_refused_with_the_code_of_its_rule)
{
    struct pdu w = fc6(10, 1);
    uint8_t code = 0;

    be_open("read_only = yes");
    cr_assert_eq(write_verdict(&w, false, 1000, &code), POLICY_REFUSE);
    cr_assert_eq(code, 0x01);
    cr_assert_eq(be.st.writes_refused, 1);
    be_close();

    be_open("");
    cr_assert_eq(write_verdict(&w, true, 1000, &code), POLICY_REFUSE,
                 "read_only_clients, from the request");
    cr_assert_eq(code, 0x01);
    cr_assert_eq(write_verdict(&w, false, 1000, &code), POLICY_DEVICE);
    cr_assert_eq(write_verdict(&unjudged[0], false, 1000, &code),
                 POLICY_DEVICE, "no rule: any function goes");
    be_close();

    be_open("deny_write = 10");
    cr_assert_eq(write_verdict(&w, false, 1000, &code), POLICY_REFUSE);
    cr_assert_eq(code, 0x02);
    cr_assert_eq(write_verdict(&unjudged[0], false, 1000, &code),
                 POLICY_REFUSE, "a rule cannot judge FC 8");
    cr_assert_eq(code, 0x01);
    be_close();
}

Test(policy, a_write_that_goes_counts_for_the_interval)
{
    struct pdu w = fc6(10, 1);
    uint8_t code = 0;

    be_open("min_write_interval_ms = 500");
    cr_assert_eq(write_verdict(&w, false, 1000, &code), POLICY_DEVICE);
    cr_assert_eq(write_verdict(&w, false, 1499, &code), POLICY_REFUSE);
    cr_assert_eq(code, 0x06);
    cr_assert_eq(write_verdict(&w, false, 1500, &code), POLICY_DEVICE);
    be_close();
}

Test(policy, write_if_changed_answers_from_the_cache_or_reads_first)
{
    static const uint8_t v1234[] = {0x12, 0x34};
    static const struct pdu fc23 = P(0x17, 0x00, 0x64, 0x00, 0x05, 0x00,
                                     0x1E, 0x00, 0x01, 0x02, 0x12, 0x34);
    static const struct pdu coil = P(0x05, 0x00, 0x0A, 0xFF, 0x00);
    struct pdu same = fc6(30, 0x1234), other = fc6(30, 0x1235);
    struct pdu uncached = fc6(31, 1);
    uint8_t code = 0;
    struct req *r;

    be_open("write_if_changed = yes\ncache_ttl_ms = 1000");
    cached(30, v1234, 1, 1000);
    r = request(&same, 1, false, 1500);
    cr_assert_eq(policy_write(&be, r, 1500, &code), POLICY_ANSWER);
    cr_assert_eq(r->rsp_len, 5);
    cr_assert_eq(memcmp(req_rsp(r), same.b, 5), 0, "the write's echo");
    cr_assert_eq(r->state, REQ_NEW, "the verdict completes nothing");
    cr_assert_eq(be.st.writes_skipped, 1);
    req_free(r);
    r = request(&other, 1, false, 1500);
    cr_assert_eq(policy_write(&be, r, 1500, &code), POLICY_DEVICE);
    cr_assert_not(r->precheck, "the cache says it differs");
    req_free(r);
    r = request(&uncached, 1, false, 1500);
    cr_assert_eq(policy_write(&be, r, 1500, &code), POLICY_DEVICE);
    cr_assert(r->precheck, "the cache cannot say: read first");
    req_free(r);
    r = request(&same, 1, false, 2000);
    cr_assert_eq(policy_write(&be, r, 2000, &code), POLICY_DEVICE);
    cr_assert(r->precheck, "older than cache_ttl_ms");
    req_free(r);
    r = request(&fc23, 1, false, 1500);
    cr_assert_eq(policy_write(&be, r, 1500, &code), POLICY_DEVICE);
    cr_assert(r->precheck, "FC 23 always reads first");
    req_free(r);
    r = request(&coil, 1, false, 1500);
    cr_assert_eq(policy_write(&be, r, 1500, &code), POLICY_DEVICE);
    cr_assert(r->precheck, "coils are never cached");
    req_free(r);
    r = request(&uncached, 0, false, 1500);
    cr_assert_eq(policy_write(&be, r, 1500, &code), POLICY_DEVICE);
    cr_assert_not(r->precheck, "nobody answers a broadcast's pre-read");
    req_free(r);
    be_close();
}

/* Write <p> after its pre-read (swapped in) was answered with <rsp>. */
static enum policy_verdict
after_pre_read(struct req *r, const uint8_t *rsp, size_t len)
{
    r->precheck = true;
    policy_precheck_swap(r);
    req_set_response(r, rsp, len);
    return policy_precheck_done(&be, r);
}

Test(policy, the_pre_read_decides_whether_the_write_goes)
{
    static const uint8_t same[] = {0x03, 0x02, 0x12, 0x34};
    static const uint8_t other[] = {0x03, 0x02, 0x12, 0x35};
    static const uint8_t ex[] = {0x83, 0x02};
    struct pdu w = fc6(30, 0x1234);
    struct req *r;

    be_open("write_if_changed = yes");
    r = request(&w, 1, false, 1000);
    cr_assert_eq(after_pre_read(r, same, sizeof(same)), POLICY_ANSWER);
    cr_assert_eq(memcmp(req_rsp(r), w.b, 5), 0, "the write's echo");
    cr_assert_eq(memcmp(req_pdu(r), w.b, 5), 0, "its own PDU back");
    cr_assert_null(r->saved);
    cr_assert_eq(be.st.writes_skipped, 1);
    req_free(r);
    r = request(&w, 1, false, 1000);
    cr_assert_eq(after_pre_read(r, other, sizeof(other)), POLICY_DEVICE);
    cr_assert_eq(req_fc(r), 0x06, "the write goes next");
    cr_assert_null(r->saved);
    cr_assert_not(r->precheck);
    req_free(r);
    r = request(&w, 1, false, 1000);
    cr_assert_eq(after_pre_read(r, ex, sizeof(ex)), POLICY_DEVICE,
                 "an exception proves nothing");
    cr_assert_eq(req_fc(r), 0x06);
    req_free(r);
    be_close();
}

Test(policy, fc23_with_nothing_to_write_sends_its_read_part)
{
    /* read 100..104, write 30 := 0x1234 */
    static const struct pdu q = P(0x17, 0x00, 0x64, 0x00, 0x05, 0x00, 0x1E,
                                  0x00, 0x01, 0x02, 0x12, 0x34);
    static const uint8_t same[] = {0x03, 0x02, 0x12, 0x34};
    uint8_t part[2 + 10] = {0x03, 10, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5};
    struct req *r;

    be_open("write_if_changed = yes");
    r = request(&q, 1, false, 1000);
    cr_assert_eq(after_pre_read(r, same, sizeof(same)), POLICY_DEVICE);
    cr_assert_eq(req_fc(r), 0x03, "its read part goes");
    cr_assert_eq(pdu_get16(req_pdu(r) + 1), 100);
    cr_assert_eq(pdu_get16(req_pdu(r) + 3), 5);
    cr_assert_not(r->precheck);
    req_set_response(r, part, sizeof(part));
    cr_assert_eq(policy_precheck_done(&be, r), POLICY_ANSWER);
    cr_assert_eq(req_rsp(r)[0], 0x17, "answered as FC 23");
    cr_assert_eq(memcmp(req_pdu(r), q.b, q.len), 0, "its own PDU back");
    cr_assert_null(r->saved);
    req_free(r);
    be_close();
}

Test(policy, cache_answers_only_what_arrived_since)
{
    static const uint8_t v[20] = {0, 100, 0, 101, 0, 102, 0, 103, 0, 104,
                                  0, 105, 0, 106, 0, 107, 0, 108, 0, 109};
    static const struct pdu in = P(0x03, 0x00, 0x66, 0x00, 0x04);
    static const struct pdu out = P(0x03, 0x00, 0x6C, 0x00, 0x04);
    static const struct pdu input = P(0x04, 0x00, 0x66, 0x00, 0x04);
    struct req *r;

    be_open("cache_ttl_ms = 1000");
    cached(100, v, 10, 1000);
    r = request(&in, 1, false, 1500);
    cr_assert(policy_cacheable(r));
    cr_assert(policy_cache_answer(&be, r, 1000));
    cr_assert_eq(r->rsp_len, 10);
    cr_assert_eq(req_rsp(r)[0], 0x03);
    cr_assert_eq(req_rsp(r)[1], 8);
    cr_assert_eq(pdu_get16(req_rsp(r) + 2), 102);
    cr_assert_eq(r->state, REQ_NEW, "the verdict completes nothing");
    cr_assert_not(policy_cache_answer(&be, r, 1001), "too old");
    req_free(r);
    r = request(&out, 1, false, 1500);
    cr_assert_not(policy_cache_answer(&be, r, 1000), "110, 111 unknown");
    req_free(r);
    r = request(&input, 1, false, 1500);
    cr_assert_not(policy_cache_answer(&be, r, 1000), "input registers "
                  "are another table");
    req_free(r);
    r = request(&in, 0, false, 1500);
    cr_assert_not(policy_cacheable(r), "nobody answers a broadcast read");
    req_free(r);
    be_close();
}

Test(policy, stale_values_within_serve_stale_ms)
{
    static const uint8_t v[2] = {0x00, 0x07};
    static const struct pdu q = P(0x03, 0x00, 0x07, 0x00, 0x01);
    struct req *r;

    be_open("serve_stale_ms = 60000");
    cached(7, v, 1, 1000);
    r = request(&q, 1, false, 50000);
    cr_assert(policy_stale_answer(&be, r, 50000));
    cr_assert_eq(pdu_get16(req_rsp(r) + 2), 7);
    cr_assert_eq(be.st.stale_served, 1);
    cr_assert_not(policy_stale_answer(&be, r, 61001), "older than 60 s");
    req_free(r);
    be_close();
    be_open("");
    cached(7, v, 1, 1000);
    r = request(&q, 1, false, 1001);
    cr_assert_not(policy_stale_answer(&be, r, 1001), "serve_stale_ms = 0");
    req_free(r);
    be_close();
}

Test(policy, answers_teach_the_cache_and_writes_unteach_it)
{
    static const struct pdu q = P(0x03, 0x00, 0x14, 0x00, 0x02);
    static const uint8_t rsp[] = {0x03, 0x04, 0x00, 0x14, 0x00, 0x15};
    static const struct pdu w16 = P(0x10, 0x00, 0x15, 0x00, 0x01, 0x02,
                                    0x00, 0x09);
    struct req *r, *w;

    be_open("cache_ttl_ms = 1000");
    r = request(&q, 1, false, 1000);
    req_set_response(r, rsp, sizeof(rsp));
    policy_learn(&be, r, 1000);
    cr_assert(policy_cache_answer(&be, r, 1000), "learned");
    w = request(&w16, 1, false, 1100);
    policy_forget(&be, w);
    cr_assert_not(policy_cache_answer(&be, r, 1000), "21 was written");
    policy_learn(&be, r, 1200);
    w->be_unit = 0;
    policy_forget(&be, w);
    cr_assert_not(policy_cache_answer(&be, r, 1000),
                  "a broadcast writes every unit");
    req_free(w);
    be.ops = &own_cache_ops;
    policy_learn(&be, r, 1300);
    cr_assert_not(policy_cache_answer(&be, r, 1000), "the type stores what "
                  "it receives itself");
    req_free(r);
    be_close();
}

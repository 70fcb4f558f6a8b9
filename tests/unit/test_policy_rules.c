/* SPDX-License-Identifier: MIT */
/*
 * test_policy_rules.c -- the pure half of the write rules in
 * proxy/policy.c: which rule refuses what (policy_refusal()), how a
 * broadcast counts for min_write_interval_ms (policy_note_write()), and
 * what write_if_changed reads first and compares (policy_precheck_target(),
 * policy_unchanged()).
 *
 * Backends come from ini text through cfg_load_string(), so the keys are
 * exercised as a user writes them. The integration side (what reaches the
 * device) is tests/integration/test_attack_policy.c.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "cache.h"
#include "cfg.h"
#include "core.h"
#include "pdu.h"
#include "policy.h"

static struct cfg_errors errs;
static struct cache writes;

static void
setup(void)
{
    cache_init(&writes);
}

static void
teardown(void)
{
    cache_clear(&writes);
}

TestSuite(policy_rules, .init = setup, .fini = teardown);

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

Test(policy_rules, every_rule_refuses_what_it_cannot_judge)
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

Test(policy_rules, no_rule_refuses_nothing)
{
    struct cfg *cfg;
    const struct cfg_backend *c = backend(&cfg, "");

    for (size_t k = 0; k < ARRAY_SIZE(unjudged); k++) {
        cr_assert_eq(judge(c, false, &unjudged[k]), 0);
    }
    cfg_free(cfg);
}

Test(policy_rules, allow_functions_names_what_may_pass)
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

Test(policy_rules, deny_write_judges_the_write_part)
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

Test(policy_rules, read_only_refuses_every_write)
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

Test(policy_rules, min_write_interval_per_unit_and_register)
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

Test(policy_rules, a_broadcast_is_a_write_to_every_unit)
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

Test(policy_rules, what_write_if_changed_reads_first)
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

Test(policy_rules, what_write_if_changed_compares)
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

/* SPDX-License-Identifier: MIT */
/*
 * test_types.c -- the registry of backend types (proxy/backend.c) and
 * what a type brings in its struct backend_ops, checked for every
 * registered type without naming one, so that a new type (its file plus
 * a registry line) is covered as it is added:
 * - every key of its table has a default or is a required string, every
 *   default is in range, and a file that writes each of them out loads to
 *   the same settings as one that leaves them out;
 * - a key of another type is "not a key of type T", an unknown one an
 *   "unknown key", and an unknown type lists the registered ones;
 * - a reload of an unchanged section keeps every link (same_link);
 * - backend_new() whose type cannot create frees what it made.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "backend.h"
#include "cfg.h"
#include "core.h"
#include "log.h"

static struct cfg_errors errs;

/* All messages in <errs>, one per line, for assertion messages. */
static const char *
errs_text(void)
{
    static char buf[CFG_MAX_ERRORS * (CFG_ERR_LEN + 1) + 1];
    size_t off = 0;

    buf[0] = '\0';
    for (unsigned i = 0; i < errs.n && i < CFG_MAX_ERRORS; i++) {
        off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s\n",
                                errs.msg[i]);
    }
    return buf;
}

/* Call <fn> for every key of <keys> (groups included); <ctx> is its. */
static void
each_key(const struct cfg_key *keys, void (*fn)(const struct cfg_key *,
                                                void *), void *ctx)
{
    for (const struct cfg_key *k = keys; k != NULL && k->name != NULL; k++) {
        if (k->kind == CFG_GROUP) {
            each_key(k->group, fn, ctx);
        } else {
            fn(k, ctx);
        }
    }
}

/* An ini text being written: a backend section of one type. */
struct ini {
    char   text[4096];
    size_t len;
    bool   all;          /* write every key, not only the required ones */
};

static void MB_PRINTF(2, 3)
ini_add(struct ini *w, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(w->text + w->len, sizeof(w->text) - w->len, fmt, ap);
    va_end(ap);

    cr_assert(n > 0 && (size_t)n < sizeof(w->text) - w->len, "ini too long");
    w->len += (size_t)n;
}

/* Write key <k> as "name = value": its default, or a value for a required
 * one; each name once (the first entry of a name is the one that counts). */
static void
write_key(const struct cfg_key *k, void *ctx)
{
    struct ini *w = ctx;
    char line[96];

    snprintf(line, sizeof(line), "\n%s =", k->name);
    if (strstr(w->text, line) != NULL) {
        return;
    }
    if (k->def == NULL) {
        ini_add(w, "%s = dev0\n", k->name);
    } else if (w->all && !(k->kind == CFG_STR && k->def[0] == '\0')) {
        ini_add(w, "%s = %s\n", k->name, k->def);  /* "" is unset */
    }
}

/* What a type's check_cfg needs beyond its required keys: one of two
 * optional ones (tigo: a serial port or a TCP source). */
static const struct {
    const char *type, *keys;
} extra_keys[] = {
    {"tigo", "device = dev0\n"},
};

/* Load a file with one backend "b" of type <ops>: its required keys, and
 * with <all> every other key of its table at its default. */
/* "[backend b]", its type, and the keys a section of it needs. */
static void
section_start(struct ini *w, const struct backend_ops *ops)
{
    ini_add(w, "[backend b]\ntype = %s\n", ops->type);
    for (size_t i = 0; i < ARRAY_SIZE(extra_keys); i++) {
        if (strcmp(extra_keys[i].type, ops->type) == 0) {
            ini_add(w, "%s", extra_keys[i].keys);
        }
    }
}

static struct cfg *
load_type(const struct backend_ops *ops, bool all)
{
    struct ini w = {.all = all};
    struct cfg *cfg;

    section_start(&w, ops);
    each_key(ops->keys, write_key, &w);
    ini_add(&w, "[route]\n1 = b\n");
    cfg = cfg_load_string("t.ini", w.text, &errs);
    cr_assert_not_null(cfg, "type %s:\n%s\nerrors:\n%s", ops->type, w.text,
                       errs_text());
    return cfg;
}

/* A key must have a default or be a required string; a default must be a
 * value the key accepts (loaded above), an unsigned one inside its range;
 * its value must lie inside struct cfg_backend. */
static void
check_key(const struct cfg_key *k, void *ctx)
{
    const char *type = ctx;

    cr_assert(k->name[0] != '\0', "type %s: a key without a name", type);
    cr_assert(k->def != NULL || k->kind == CFG_STR,
              "type %s: %s has no default and is not a required string",
              type, k->name);
    if (k->kind == CFG_UINT && k->def != NULL) {
        unsigned long v = strtoul(k->def, NULL, 10);

        cr_assert(v >= k->min && v <= k->max, "type %s: %s default %s "
                  "outside %lu..%lu", type, k->name, k->def, k->min, k->max);
    }
}

Test(types, the_registry_lists_each_type_once)
{
    const struct backend_ops *ops;
    size_t n = 0;

    for (size_t i = 0; (ops = backend_type_at(i)) != NULL; i++, n++) {
        cr_assert_not_null(ops->type);
        cr_assert(ops->type[0] != '\0' && strlen(ops->type) < CFG_TYPE_MAX,
                  "type name \"%s\"", ops->type);
        cr_assert_eq(backend_find_ops(ops->type), ops, "%s", ops->type);
        cr_assert(ops->create && ops->start && ops->transmit && ops->stop &&
                  ops->destroy, "type %s lacks a runtime op", ops->type);
    }
    cr_assert_geq(n, 1);
    cr_assert_null(backend_find_ops("no-such-type"));
}

Test(types, every_key_has_a_default_or_is_required)
{
    const struct backend_ops *ops;

    for (size_t i = 0; (ops = backend_type_at(i)) != NULL; i++) {
        each_key(ops->keys, check_key, (void *)ops->type);
    }
}

Test(types, writing_every_default_out_changes_nothing)
{
    const struct backend_ops *ops;

    for (size_t i = 0; (ops = backend_type_at(i)) != NULL; i++) {
        struct cfg *lean = load_type(ops, false);
        struct cfg *full = load_type(ops, true);
        struct cfg_backend a = lean->backends[0], b = full->backends[0];

        a.line = b.line = 0;
        cr_assert(memcmp(&a, &b, sizeof(a)) == 0, "type %s: a default "
                  "written out loads differently", ops->type);
        cfg_free(lean);
        cfg_free(full);
    }
}

/* Is <name> a key of <ops>, its own or common? */
static bool
has_key(const struct backend_ops *ops, const char *name)
{
    struct cfg *cfg = load_type(ops, false);
    bool has = cfg_backend_value(&cfg->backends[0], name) != NULL;

    cfg_free(cfg);
    return has;
}

/* A key of <ctx>'s other type that its type lacks must be refused as "not
 * a key of type T". */
struct cross {
    const struct backend_ops *ops;
    unsigned                  tried;
};

static void
try_foreign_key(const struct cfg_key *k, void *ctx)
{
    struct cross *x = ctx;
    char want[160];
    struct ini w = {.all = false};

    if (has_key(x->ops, k->name)) {
        return;
    }
    section_start(&w, x->ops);
    each_key(x->ops->keys, write_key, &w);
    ini_add(&w, "%s = 1\n[route]\n1 = b\n", k->name);
    cr_assert_null(cfg_load_string("t.ini", w.text, &errs), "%s", w.text);
    snprintf(want, sizeof(want), "[backend b] %s: not a key of type %s",
             k->name, x->ops->type);
    cr_assert_eq(errs.n, 1, "%s", errs_text());
    cr_assert_not_null(strstr(errs.msg[0], want), "expected \"%s\", got %s",
                       want, errs_text());
    x->tried++;
}

Test(types, a_key_of_another_type_is_named_so)
{
    const struct backend_ops *a, *b;
    unsigned tried = 0;

    for (size_t i = 0; (a = backend_type_at(i)) != NULL; i++) {
        struct cross x = {.ops = a};

        for (size_t j = 0; (b = backend_type_at(j)) != NULL; j++) {
            if (b != a) {
                each_key(b->keys, try_foreign_key, &x);
            }
        }
        tried += x.tried;
    }
    if (backend_type_at(1) != NULL) {
        cr_assert_gt(tried, 0, "two types and no key of one only");
    }
    cr_assert_null(cfg_load_string("t.ini", "[backend b]\ntype = nosuch\n"
                                   "[route]\n1 = b\n", &errs));
    cr_assert_not_null(strstr(errs.msg[0], "unknown backend type "
                              "\"nosuch\" (expected "), "%s", errs_text());
    for (size_t i = 0; (a = backend_type_at(i)) != NULL; i++) {
        cr_assert_not_null(strstr(errs.msg[0], a->type), "%s not listed: %s",
                           a->type, errs_text());
    }
}

Test(types, an_unchanged_section_keeps_its_link)
{
    const struct backend_ops *ops;

    for (size_t i = 0; (ops = backend_type_at(i)) != NULL; i++) {
        struct cfg *cfg = load_type(ops, true);
        struct cfg_backend moved = cfg->backends[0];

        moved.line += 10;
        cr_assert_not_null(ops->same_link, "type %s", ops->type);
        cr_assert(ops->same_link(&cfg->backends[0], &moved),
                  "type %s: a reload of the same section drops the link",
                  ops->type);
        if (ops->shares_device != NULL) {
            cr_assert(ops->shares_device(&cfg->backends[0], &moved),
                      "type %s", ops->type);
        }
        cfg_free(cfg);
    }
}

/* --- backend_new() when the type cannot create ------------------------- */

static unsigned destroyed;

static int
failing_create(struct backend *be)
{
    be->priv = xmalloc(64);     /* made, then the type gives up */
    return -1;
}

static void
failing_stop(struct backend *be)
{
}

static void
failing_destroy(struct backend *be)
{
    free(be->priv);
    be->priv = NULL;
    destroyed++;
}

static const struct backend_ops failing_ops = {
    .type = "failing",
    .create = failing_create,
    .stop = failing_stop,
    .destroy = failing_destroy,
};

Test(types, a_backend_its_type_cannot_create_is_freed)
{
    uv_loop_t loop;
    struct cfg *cfg;
    const struct backend_ops *ops = backend_type_at(0);

    log_level = LOG_ERROR - 1;                  /* quiet: it logs an error */
    cfg = load_type(ops, false);
    cr_assert_eq(uv_loop_init(&loop), 0);
    cr_assert_null(backend_new(NULL, &loop, &failing_ops, &cfg->backends[0],
                               5000));
    cr_assert_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    cr_assert_eq(destroyed, 1, "the type's state was not destroyed");
    cr_assert_eq(uv_loop_close(&loop), 0, "a handle was left open");
    cfg_free(cfg);
}

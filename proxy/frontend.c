/* SPDX-License-Identifier: MIT */
/*
 * frontend.c -- the registry of front-end types: one line per type. A new
 * type is one file (proxy/fe_<type>.c, its ops table declared in
 * frontend.h) plus one line in frontend_types[]; the configuration
 * (cfg.c, [listener] type) and the listeners find it here by name. Pure.
 */
#include <stdio.h>
#include <string.h>

#include "frontend.h"

static const struct frontend_ops *const frontend_types[] = {
    &fe_modbus_ops,
    &fe_givenergy_ops,
};

/*
 * The front-end type called <type>, or NULL if none is built in.
 */
const struct frontend_ops *
frontend_find(const char *type)
{
    for (size_t i = 0; i < ARRAY_SIZE(frontend_types); i++) {
        if (strcmp(frontend_types[i]->type, type) == 0) {
            return frontend_types[i];
        }
    }
    return NULL;
}

/*
 * The names of the built-in types, comma-separated ("modbus"), into <buf>
 * of <size> bytes (truncated if short). Returns the length snprintf would
 * have written.
 */
size_t
frontend_type_names(char *buf, size_t size)
{
    size_t n = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < ARRAY_SIZE(frontend_types); i++) {
        int w = snprintf(buf + MB_MIN(n, size - 1), size - MB_MIN(n, size - 1),
                         "%s%s", i > 0 ? ", " : "", frontend_types[i]->type);

        n += w > 0 ? (size_t)w : 0;
    }
    return n;
}

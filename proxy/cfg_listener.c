/* SPDX-License-Identifier: MIT */
/*
 * cfg_listener.c -- the [listener NAME] sections of the configuration, and
 * the listener [server] listen makes: each with the [server] values for
 * what it leaves out, its front-end type's own keys (frontend_ops.keys and
 * check_cfg), the backend it names (backend =), and every address
 * listened on once. Pure, as cfg.c.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cfg.h"
#include "cfg_int.h"
#include "frontend.h"

#define LST(f) offsetof(struct cfg_listener, f)

/* [listener NAME]. A key without a default takes the [server] value
 * (cfg_load_listener copies those first); listen has neither: required. */
static const struct cfg_key listener_keys[] = {
    {"type", CFG_STR, LST(type), CFG_TYPE_MAX, FRONTEND_DEFAULT, 0, 0, NULL,
     NULL},
    {"listen", CFG_LISTEN, LST(listen), LST(n_listen), NULL, 0, 0, NULL,
     NULL},
    {"max_clients", CFG_UINT, LST(max_clients), 0, NULL, 1, 100000, NULL,
     NULL},
    {"allow", CFG_ACL, LST(allow), 0, NULL, 0, 0, NULL, NULL},
    {"read_only_clients", CFG_ACL, LST(read_only_clients), 0, NULL, 0, 0,
     NULL, NULL},
    {"priority_clients", CFG_ACL, LST(priority_clients), 0, NULL, 0, 0, NULL,
     NULL},
    {"backend", CFG_STR, LST(backend), CFG_NAME_MAX, NULL, 0, 0, NULL, NULL},
    CFG_KEYS_END,
};

/* A new listener at the end of <cfg>'s, with the [server] values. */
static struct cfg_listener *
add_listener(struct cfg *cfg)
{
    const struct cfg_server *srv = &cfg->server;
    struct cfg_listener *l;

    cfg->listeners = realloc(cfg->listeners, (cfg->n_listeners + 1) *
                                                 sizeof(*cfg->listeners));
    ASSERT(cfg->listeners != NULL);
    l = &cfg->listeners[cfg->n_listeners++];
    memset(l, 0, sizeof(*l));
    l->max_clients = srv->max_clients;
    l->allow = srv->allow;
    l->read_only_clients = srv->read_only_clients;
    l->priority_clients = srv->priority_clients;
    l->backend_index = -1;
    return l;
}

/* [server] listen is the first listener, of the default type, unless it
 * is "none". */
void
cfg_load_server_listener(struct cfg_parse *p)
{
    const struct cfg_server *srv = &p->cfg->server;
    struct cfg_listener *l;

    if (srv->n_listen == 0) {
        return;
    }
    l = add_listener(p->cfg);
    snprintf(l->type, sizeof(l->type), "%s", FRONTEND_DEFAULT);
    l->listen_line = entry_line(p, "server", "listen");
    memcpy(l->listen, srv->listen, sizeof(l->listen));
    l->n_listen = srv->n_listen;
}

/* Key <e> of listener <l> of front-end type <fe> (section <sec>, <label>
 * in messages): one of every listener's (listener_keys), or one of the
 * type's own (fe->keys). */
static void
set_listener_key(struct cfg_parse *p, const struct cfg_section *sec,
                 struct cfg_listener *l, const struct frontend_ops *fe,
                 const char *label, const struct cfg_entry *e)
{
    const struct cfg_key *k = find_key(listener_keys, e->key);
    char names[64];

    if (k == NULL && fe != NULL && fe->keys != NULL) {
        k = find_key(fe->keys, e->key);
    }
    if (k == NULL) {
        cfg_error(p, e->line, "[%s] %s: unknown key%s%s", sec->name, e->key,
                  fe != NULL ? " for type " : "", fe != NULL ? fe->type : "");
    } else if (strcmp(k->name, "type") == 0 &&
               frontend_find(e->value) == NULL) {
        frontend_type_names(names, sizeof(names));
        cfg_error(p, e->line, "[%s] type: unknown front-end type \"%s\" "
                  "(expected %s)", sec->name, e->value, names);
    } else if (strcmp(k->name, "listen") == 0 &&
               strcasecmp(e->value, "none") == 0) {
        cfg_error(p, e->line, "[%s] listen: invalid address \"%s\" (a "
                  "listener needs one; \"none\" is for [server] listen)",
                  sec->name, e->value);
    } else {
        if (k->kind == CFG_LISTEN) {
            l->listen_line = e->line;
        }
        if (strcmp(k->name, "backend") == 0) {
            l->backend_line = e->line;
        }
        set_key(p, k, l, k->off, label, e->value, e->line);
    }
}

/* [listener NAME] section <sec>: a listener with the [server] values, then
 * its own keys (listener_keys). */
void
cfg_load_listener(struct cfg_parse *p, const struct cfg_section *sec)
{
    struct cfg *cfg = p->cfg;
    const struct cfg_listener *first;
    const struct frontend_ops *fe;
    const struct cfg_entry *te;
    struct cfg_listener *l;
    const char *name = sec->name + strlen("listener");
    char label[80];

    while (isspace((unsigned char)*name)) {
        name++;
    }
    if (!valid_name(name)) {
        cfg_error(p, sec->line, "[%s]: invalid listener name \"%s\" "
                  "(letters, digits, '_' and '-', at most %d)", sec->name,
                  name, CFG_NAME_MAX - 1);
        return;
    }
    first = cfg_listener_find(cfg, name);
    if (first != NULL) {
        cfg_error(p, sec->line, "[%s]: duplicate listener (first at line "
                  "%d)", sec->name, first->line);
        return;
    }
    l = add_listener(cfg);
    snprintf(l->name, sizeof(l->name), "%s", name);
    l->line = sec->line;
    snprintf(label, sizeof(label), "[%s]", sec->name);
    for (const struct cfg_key *k = listener_keys; k->name != NULL; k++) {
        if (k->def != NULL) {
            set_key(p, k, l, k->off, "(default)", k->def, 0);
        }
    }
    /* The type first: its keys are known by it. */
    te = find_entry(p, sec->name, "type");
    fe = frontend_find(te != NULL ? te->value : FRONTEND_DEFAULT);
    for (const struct cfg_key *k = fe != NULL ? fe->keys : NULL;
         k != NULL && k->name != NULL; k++) {
        if (k->def != NULL) {
            set_key(p, k, l, k->off, "(default)", k->def, 0);
        }
    }
    for (unsigned i = 0; i < p->n_entries; i++) {
        if (strcmp(p->entries[i].section, sec->name) == 0) {
            set_listener_key(p, sec, l, fe, label, &p->entries[i]);
        }
    }
    if (entry_line(p, sec->name, "listen") == 0) {
        cfg_error(p, sec->line, "[%s]: missing key \"listen\"", sec->name);
    }
}

/* Would listening on <a> and on <b> clash: the same family and port, and
 * the same address or a wildcard (0.0.0.0, [::]) on either side? Port 0
 * (a free port, chosen when bound) never clashes. */
static bool
listen_clash(const struct cfg_listen *a, const struct cfg_listen *b)
{
    if (a->addr.ss_family != b->addr.ss_family) {
        return false;
    }
    if (a->addr.ss_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)&a->addr;
        const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)&b->addr;

        return x->sin6_port == y->sin6_port && x->sin6_port != 0 &&
               (IN6_IS_ADDR_UNSPECIFIED(&x->sin6_addr) ||
                IN6_IS_ADDR_UNSPECIFIED(&y->sin6_addr) ||
                memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0);
    } else {
        const struct sockaddr_in *x = (const struct sockaddr_in *)&a->addr;
        const struct sockaddr_in *y = (const struct sockaddr_in *)&b->addr;

        return x->sin_port == y->sin_port && x->sin_port != 0 &&
               (x->sin_addr.s_addr == htonl(INADDR_ANY) ||
                y->sin_addr.s_addr == htonl(INADDR_ANY) ||
                x->sin_addr.s_addr == y->sin_addr.s_addr);
    }
}

/* Report address <a> of listener <li> if one listed before it clashes. */
static void
check_listen_one(struct cfg_parse *p, unsigned li, unsigned a)
{
    const struct cfg *cfg = p->cfg;
    const struct cfg_listener *l = &cfg->listeners[li];

    for (unsigned j = 0; j <= li; j++) {
        const struct cfg_listener *o = &cfg->listeners[j];

        for (unsigned b = 0; b < (j == li ? a : o->n_listen); b++) {
            char where[64];

            if (!listen_clash(&l->listen[a], &o->listen[b])) {
                continue;
            }
            if (o->listen_line == 0) {
                snprintf(where, sizeof(where), "the default");
            } else {
                snprintf(where, sizeof(where), "line %d", o->listen_line);
            }
            cfg_error(p, l->listen_line, "%s%s%s listen: address \"%s\" is "
                      "taken twice (\"%s\", %s)", l->name[0] ? "[listener " :
                      "[server", l->name, "]", l->listen[a].text,
                      o->listen[b].text, where);
            return;
        }
    }
}

/* Every address is listened on once, across [server] listen and the
 * [listener] sections; and there is one at least. */
void
cfg_check_listeners(struct cfg_parse *p)
{
    const struct cfg *cfg = p->cfg;
    const struct cfg_entry *e = find_entry(p, "server", "listen");

    for (unsigned i = 0; i < cfg->n_listeners; i++) {
        for (unsigned a = 0; a < cfg->listeners[i].n_listen; a++) {
            check_listen_one(p, i, a);
        }
    }
    if (cfg->n_listeners == 0 && e != NULL &&
        strcasecmp(e->value, "none") == 0) {
        cfg_error(p, e->line, "[server] listen: \"none\", and no [listener] "
                  "section: nothing to listen on");
    }
}

/* The backends the listeners name exist, and each front-end type's own
 * rules hold (check_cfg), now that every backend is loaded. */
void
cfg_check_listener_backends(struct cfg_parse *p)
{
    struct cfg *cfg = p->cfg;
    char why[CFG_ERR_LEN];

    for (unsigned i = 0; i < cfg->n_listeners; i++) {
        struct cfg_listener *l = &cfg->listeners[i];
        const struct frontend_ops *fe = frontend_find(l->type);

        l->backend_index = -1;
        if (l->backend[0] != '\0') {
            l->backend_index = cfg_backend_index(cfg, l->backend);
            if (l->backend_index < 0) {
                cfg_error(p, l->backend_line, "[listener %s] backend: no "
                          "[backend %s]", l->name, l->backend);
                continue;
            }
        }
        if (fe != NULL && fe->check_cfg != NULL &&
            !fe->check_cfg(cfg, l, why, sizeof(why))) {
            cfg_error(p, l->backend_line > 0 ? l->backend_line : l->line,
                      "[listener %s] %s", l->name, why);
        }
    }
}

/* Does a listener name its backend (so that routes are not needed)? */
bool
cfg_listener_bound(const struct cfg *cfg)
{
    for (unsigned i = 0; i < cfg->n_listeners; i++) {
        if (cfg->listeners[i].backend_index >= 0) {
            return true;
        }
    }
    return false;
}

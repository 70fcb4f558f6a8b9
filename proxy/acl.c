/* SPDX-License-Identifier: MIT */
/*
 * acl.c -- client address ranges. An IPv4 client on an IPv6 socket
 * (::ffff:10.0.0.5) matches IPv4 ranges, so "10.0.0.0/8" means the same
 * whichever socket accepted it; for the same reason an IPv4-mapped entry
 * ("::ffff:10.0.0.5", "::ffff:10.0.0.0/104") is stored as the IPv4 range it
 * names, or it would never match anyone (RFC 4291 2.5.5.2). Addresses are
 * written out in one form everywhere (acl_addr_name()).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"

/* The first 96 bits of an IPv4-mapped IPv6 address. */
static const uint8_t acl_v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                         0xFF, 0xFF};

/* An IPv6 range inside ::ffff:0:0/96 becomes the IPv4 range it stands for.
 * False for one that also covers plain IPv6 addresses (shorter than /96):
 * no single family can say what it meant. */
static bool
acl_unmap(struct acl_net *net)
{
    if (net->family != AF_INET6 ||
        memcmp(net->addr, acl_v4mapped, sizeof(acl_v4mapped)) != 0) {
        return true;
    }
    if (net->prefix < 96) {
        return false;
    }
    memmove(net->addr, net->addr + 12, 4);
    memset(net->addr + 4, 0, 12);
    net->family = AF_INET;
    net->prefix = (uint8_t)(net->prefix - 96);
    return true;
}

/* "ADDR" or "ADDR/BITS" into <net>. */
static bool
acl_parse_one(const char *s, struct acl_net *net)
{
    char host[64];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    unsigned max;
    char *end;
    unsigned long bits;

    if (n == 0 || n >= sizeof(host)) {
        return false;
    }
    memcpy(host, s, n);
    host[n] = '\0';
    memset(net, 0, sizeof(*net));
    if (inet_pton(AF_INET, host, net->addr) == 1) {
        net->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, host, net->addr) == 1) {
        net->family = AF_INET6;
        max = 128;
    } else {
        return false;
    }
    net->prefix = (uint8_t)max;
    if (slash == NULL) {
        return acl_unmap(net);
    }
    if (!isdigit((unsigned char)slash[1])) {
        return false;
    }
    bits = strtoul(slash + 1, &end, 10);
    if (*end != '\0' || bits > max) {
        return false;
    }
    net->prefix = (uint8_t)bits;
    return acl_unmap(net);
}

/*
 * Parse comma-separated ranges <text> into <acl>. On error copies the bad
 * item to <bad> (<bad_size> bytes) and returns false.
 */
bool
acl_parse(struct acl *acl, const char *text, char *bad, unsigned bad_size)
{
    const char *p = text;

    acl->n = 0;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        char item[96];
        size_t a = 0, b = n;

        while (a < b && isspace((unsigned char)p[a])) {
            a++;
        }
        while (b > a && isspace((unsigned char)p[b - 1])) {
            b--;
        }
        snprintf(item, sizeof(item), "%.*s", (int)(b - a), p + a);
        if (acl->n == ACL_MAX || !acl_parse_one(item, &acl->net[acl->n])) {
            snprintf(bad, bad_size, "%s", item);
            return false;
        }
        acl->n++;
        p = comma ? comma + 1 : p + n;
    }
    return true;
}

static bool
net_match(const struct acl_net *net, const uint8_t *addr)
{
    unsigned full = net->prefix / 8, rest = net->prefix % 8;

    if (memcmp(net->addr, addr, full) != 0) {
        return false;
    }
    return rest == 0 ||
           ((net->addr[full] ^ addr[full]) & (0xFF00u >> rest) & 0xFF) == 0;
}

/*
 * True if client address <sa> is in one of <acl>'s ranges.
 */
bool
acl_match(const struct acl *acl, const struct sockaddr *sa)
{
    uint8_t family = (uint8_t)sa->sa_family;
    const uint8_t *addr;

    if (family == AF_INET) {
        addr = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
    } else if (family == AF_INET6) {
        addr = (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (memcmp(addr, acl_v4mapped, sizeof(acl_v4mapped)) == 0) {
            family = AF_INET;
            addr += 12;
        }
    } else {
        return false;
    }
    for (unsigned i = 0; i < acl->n; i++) {
        if (acl->net[i].family == family && net_match(&acl->net[i], addr)) {
            return true;
        }
    }
    return false;
}

/*
 * Write socket address <sa> into <out> (<size> bytes) as people read it:
 * "10.0.0.5:51234", "[fd00::5]:502", or "?" for another family. Listeners,
 * clients and the HTTP endpoint are named with it in logs and on /status.
 */
void
acl_addr_name(const struct sockaddr *sa, char *out, size_t size)
{
    char ip[INET6_ADDRSTRLEN] = "?";

    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;

        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
        snprintf(out, size, "[%s]:%u", ip, ntohs(a->sin6_port));
    } else if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;

        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
        snprintf(out, size, "%s:%u", ip, ntohs(a->sin_port));
    } else {
        snprintf(out, size, "?");
    }
}

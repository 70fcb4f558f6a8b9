/* SPDX-License-Identifier: MIT */
/*
 * acl.h -- lists of client address ranges ("10.0.0.0/8, 192.168.1.5,
 * fd00::/8") for allow, read_only_clients and priority, and the text form
 * of an address in logs and on the status page. Pure.
 */
#ifndef MUX_ACL_H
#define MUX_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define ACL_MAX 32

/* One range. */
struct acl_net {
    uint8_t family;          /* AF_INET or AF_INET6 */
    uint8_t prefix;          /* bits that must match */
    uint8_t addr[16];        /* network byte order */
};

/* A list; n == 0 matches nothing (the caller decides what empty means). */
struct acl {
    unsigned       n;
    struct acl_net net[ACL_MAX];
};

bool acl_parse(struct acl *acl, const char *text, char *bad,
               unsigned bad_size);
bool acl_match(const struct acl *acl, const struct sockaddr *sa);
void acl_addr_name(const struct sockaddr *sa, char *out, size_t size);

#endif /* MUX_ACL_H */

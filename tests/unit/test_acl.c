/* SPDX-License-Identifier: MIT */
/*
 * test_acl.c -- client address ranges: parsing, IPv4 and IPv6 prefixes,
 * IPv4 clients seen through an IPv6 socket.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <string.h>

#include "acl.h"

static bool
match4(const struct acl *acl, const char *ip)
{
    struct sockaddr_in a = {.sin_family = AF_INET};

    cr_assert_eq(inet_pton(AF_INET, ip, &a.sin_addr), 1);
    return acl_match(acl, (struct sockaddr *)&a);
}

static bool
match6(const struct acl *acl, const char *ip)
{
    struct sockaddr_in6 a = {.sin6_family = AF_INET6};

    cr_assert_eq(inet_pton(AF_INET6, ip, &a.sin6_addr), 1);
    return acl_match(acl, (struct sockaddr *)&a);
}

Test(acl, ipv4_prefixes)
{
    struct acl acl;
    char bad[64];

    cr_assert(acl_parse(&acl, "10.0.0.0/8, 192.168.1.5 ,172.16.0.0/12", bad,
                        sizeof(bad)));
    cr_assert_eq(acl.n, 3);
    cr_assert(match4(&acl, "10.200.3.4"));
    cr_assert(match4(&acl, "192.168.1.5"));
    cr_assert_not(match4(&acl, "192.168.1.6"));
    cr_assert(match4(&acl, "172.31.255.255"));
    cr_assert_not(match4(&acl, "172.32.0.0"));
    cr_assert_not(match4(&acl, "11.0.0.1"));
}

Test(acl, ipv6_and_mapped_ipv4)
{
    struct acl acl;
    char bad[64];

    cr_assert(acl_parse(&acl, "fd00::/8, ::1, 10.1.0.0/16", bad, sizeof(bad)));
    cr_assert(match6(&acl, "fd12:3456::1"));
    cr_assert(match6(&acl, "::1"));
    cr_assert_not(match6(&acl, "fe80::1"));
    cr_assert(match6(&acl, "::ffff:10.1.2.3"), "IPv4 on an IPv6 socket");
    cr_assert_not(match6(&acl, "::ffff:10.2.0.1"));
}

Test(acl, odd_prefixes_and_everything)
{
    struct acl acl;
    char bad[64];

    cr_assert(acl_parse(&acl, "192.168.1.128/25", bad, sizeof(bad)));
    cr_assert(match4(&acl, "192.168.1.200"));
    cr_assert_not(match4(&acl, "192.168.1.100"));
    cr_assert(acl_parse(&acl, "0.0.0.0/0", bad, sizeof(bad)));
    cr_assert(match4(&acl, "8.8.8.8"));
    cr_assert_not(match6(&acl, "2001:db8::1"), "families apart");
    cr_assert(acl_parse(&acl, "", bad, sizeof(bad)));
    cr_assert_eq(acl.n, 0);
    cr_assert_not(match4(&acl, "127.0.0.1"), "empty matches nothing");
}

Test(acl, bad_ranges)
{
    static const char *const bad_ones[] = {
        "10.0.0.0/33", "10.0.0/8", "fd00::/129", "host.lan", "10.0.0.1/",
        "10.0.0.1/x", "1.2.3.4, ,5.6.7.8", "/8",
    };
    struct acl acl;
    char bad[64];

    for (size_t i = 0; i < sizeof(bad_ones) / sizeof(*bad_ones); i++) {
        cr_assert_not(acl_parse(&acl, bad_ones[i], bad, sizeof(bad)), "%s",
                      bad_ones[i]);
    }
}

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

/* Issue 10 item 13: an IPv4-mapped entry used to be kept as IPv6, while a
 * client is always compared as IPv4 (acl_match maps it): the entry never
 * matched anyone, and read_only_clients = ::ffff:127.0.0.1 failed open. */
Test(acl, ipv4_mapped_entries_are_ipv4)
{
    struct acl acl;
    char bad[64];

    cr_assert(acl_parse(&acl, "::ffff:127.0.0.1, ::FFFF:10.1.0.0/112",
                        bad, sizeof(bad)));
    cr_assert_eq(acl.n, 2);
    cr_assert_eq(acl.net[0].family, AF_INET);
    cr_assert_eq(acl.net[0].prefix, 32);
    cr_assert_eq(acl.net[1].family, AF_INET);
    cr_assert_eq(acl.net[1].prefix, 16, "/112 of a mapped address is /16");
    cr_assert(match4(&acl, "127.0.0.1"), "an IPv4 socket's client");
    cr_assert(match6(&acl, "::ffff:127.0.0.1"), "the same on an IPv6 socket");
    cr_assert(match4(&acl, "10.1.200.3"));
    cr_assert(match6(&acl, "::ffff:10.1.0.9"));
    cr_assert_not(match4(&acl, "10.2.0.1"));
    cr_assert_not(match4(&acl, "127.0.0.2"));
    cr_assert_not(match6(&acl, "::1"));
}

Test(acl, the_whole_mapped_space_is_every_ipv4_client)
{
    struct acl acl;
    char bad[64];

    cr_assert(acl_parse(&acl, "::ffff:0.0.0.0/96", bad, sizeof(bad)));
    cr_assert_eq(acl.net[0].family, AF_INET);
    cr_assert_eq(acl.net[0].prefix, 0);
    cr_assert(match4(&acl, "8.8.8.8"));
    cr_assert(match6(&acl, "::ffff:192.168.1.1"));
    cr_assert_not(match6(&acl, "2001:db8::1"));
    cr_assert(acl_parse(&acl, "::ffff:0:0/96", bad, sizeof(bad)),
              "the same written in hex");
    cr_assert(match4(&acl, "1.2.3.4"));
}

/* Shorter than /96, a range holds IPv4-mapped and plain IPv6 addresses at
 * once: no single family can say what was meant, so it is refused. */
Test(acl, a_range_across_the_mapped_boundary_is_refused)
{
    static const char *const bad_ones[] = {
        "::ffff:0.0.0.0/95", "::ffff:10.0.0.0/64", "::ffff:127.0.0.1/0",
    };
    struct acl acl;
    char bad[64];

    for (size_t i = 0; i < sizeof(bad_ones) / sizeof(*bad_ones); i++) {
        cr_assert_not(acl_parse(&acl, bad_ones[i], bad, sizeof(bad)), "%s",
                      bad_ones[i]);
        cr_assert_str_eq(bad, bad_ones[i]);
    }
    cr_assert(acl_parse(&acl, "::/0", bad, sizeof(bad)),
              "::/0 is not mapped: every IPv6 client, as before");
    cr_assert_eq(acl.net[0].family, AF_INET6);
}

/* Listeners, clients and the HTTP endpoint are named with acl_addr_name():
 * IPv4 as written, IPv6 in brackets (compressed, a mapped IPv4 address in
 * its dotted tail), anything else "?", always cut to the buffer. */
Test(acl, addresses_are_named_one_way)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(51234)};
    struct sockaddr_in6 b = {.sin6_family = AF_INET6, .sin6_port = htons(502)};
    struct sockaddr c = {.sa_family = AF_UNIX};
    char out[56], small[8];

    cr_assert_eq(inet_pton(AF_INET, "10.0.0.5", &a.sin_addr), 1);
    acl_addr_name((struct sockaddr *)&a, out, sizeof(out));
    cr_assert_str_eq(out, "10.0.0.5:51234");
    cr_assert_eq(inet_pton(AF_INET6, "fd00:0:0:0:0:0:0:5", &b.sin6_addr), 1);
    acl_addr_name((struct sockaddr *)&b, out, sizeof(out));
    cr_assert_str_eq(out, "[fd00::5]:502");
    cr_assert_eq(inet_pton(AF_INET6, "::ffff:127.0.0.1", &b.sin6_addr), 1);
    acl_addr_name((struct sockaddr *)&b, out, sizeof(out));
    cr_assert_str_eq(out, "[::ffff:127.0.0.1]:502");
    acl_addr_name(&c, out, sizeof(out));
    cr_assert_str_eq(out, "?");
    acl_addr_name((struct sockaddr *)&a, small, sizeof(small));
    cr_assert_str_eq(small, "10.0.0.");
}

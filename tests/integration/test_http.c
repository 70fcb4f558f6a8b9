/* SPDX-License-Identifier: MIT */
/*
 * test_http.c -- the real modbus-mux's HTTP endpoint (http_listen) against
 * the TCP simulator: /metrics passes `promtool check metrics` and counts
 * exactly what was sent; /healthz flips to 503 naming a backend whose
 * device died; /status renders in headless Chromium (a PNG screenshot and
 * a DOM naming every backend); 404, 405, 400, 431, keep-alive and its
 * limits (100 requests, 32 connections, 10 s idle), all while a Modbus
 * client polls undisturbed. promtool and chromium are required (CI
 * installs them); a missing one fails with a message saying so.
 */
#include <criterion/criterion.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define HEAD "[server]\nlisten = 127.0.0.1:0\nhttp_listen = 127.0.0.1:0\n" \
             "log_level = debug\n"
#define DEV  "[backend dev]\ntype = tcp\nhost = 127.0.0.1\nport = %d\n"

TestSuite(http, .fini = h_cleanup, .timeout = 120);

/* One HTTP connection and what it has received but not parsed yet. */
struct hconn {
    int    fd;
    size_t len;
    char   buf[256 * 1024];
};

/* One parsed response. */
struct hrsp {
    int    status;
    char   head[2048];
    char  *body;                  /* into the hconn buffer: NUL-ended */
    size_t body_len;
    bool   close;                 /* "Connection: close" */
};

static struct hconn *
hc_open(int port)
{
    struct hconn *c = calloc(1, sizeof(*c));

    c->fd = h_connect(port);
    if (c->fd < 0) {
        free(c);
        return NULL;
    }
    return c;
}

static void
hc_close(struct hconn *c)
{
    if (c != NULL) {
        close(c->fd);
        free(c);
    }
}

static int
hc_send(struct hconn *c, const char *req)
{
    return h_send(c->fd, (const uint8_t *)req, strlen(req));
}

/* Read more into c->buf within <end>; false on timeout or close. */
static bool
hc_fill(struct hconn *c, uint64_t end)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    int64_t left = (int64_t)(end - h_now_ms());
    ssize_t n;

    if (left <= 0 || poll(&p, 1, (int)left) <= 0 ||
        c->len + 1 >= sizeof(c->buf)) {
        return false;
    }
    n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len - 1, 0);
    if (n <= 0) {
        return false;
    }
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
    return true;
}

/* The next response on <c> (<head_only> for an answer to HEAD). The body
 * stays valid until the next call. Returns the status, or -1. */
static int
hc_recv(struct hconn *c, struct hrsp *r, bool head_only)
{
    static char last[256 * 1024];
    uint64_t end = h_now_ms() + 5000;
    char *eoh, *cl;
    size_t hlen, blen = 0;

    while ((eoh = strstr(c->buf, "\r\n\r\n")) == NULL) {
        if (!hc_fill(c, end)) {
            return -1;
        }
    }
    hlen = (size_t)(eoh + 4 - c->buf);
    snprintf(r->head, sizeof(r->head), "%.*s", (int)hlen, c->buf);
    cl = strstr(r->head, "\r\nContent-Length: ");
    if (cl != NULL && !head_only) {
        blen = strtoul(cl + 18, NULL, 10);
    }
    while (c->len < hlen + blen) {
        if (!hc_fill(c, end)) {
            return -1;
        }
    }
    memcpy(last, c->buf + hlen, blen);
    last[blen] = '\0';
    memmove(c->buf, c->buf + hlen + blen, c->len - hlen - blen + 1);
    c->len -= hlen + blen;
    r->body = last;
    r->body_len = blen;
    r->close = strstr(r->head, "\r\nConnection: close") != NULL;
    r->status = sscanf(r->head, "HTTP/1.1 %d", &r->status) == 1 ? r->status
                                                                : -1;
    return r->status;
}

/* One request on a fresh connection ("Connection: close"). */
static int
http_get(int port, const char *path, struct hrsp *r)
{
    struct hconn *c = hc_open(port);
    char req[512];
    int st;

    if (c == NULL) {
        return -1;
    }
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: test\r\n"
             "Connection: close\r\n\r\n", path);
    st = hc_send(c, req) == 0 ? hc_recv(c, r, false) : -1;
    hc_close(c);
    return st;
}

/* The value of the sample that starts with <name> (labels included). */
static long long
metric(const char *text, const char *name)
{
    size_t n = strlen(name);

    for (const char *p = text; p != NULL && *p != '\0';
         p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, name, n) == 0 && p[n] == ' ') {
            return strtoll(p + n + 1, NULL, 10);
        }
    }
    return -1;
}

/* The full path of <tool> in PATH, or NULL. */
static const char *
find_tool(const char *tool, char *out, size_t size)
{
    const char *path = getenv("PATH");
    char dirs[4096];

    snprintf(dirs, sizeof(dirs), "%s:/usr/bin:/usr/sbin",
             path ? path : "/bin");
    for (char *d = strtok(dirs, ":"); d != NULL; d = strtok(NULL, ":")) {
        snprintf(out, size, "%s/%s", d, tool);
        if (access(out, X_OK) == 0) {
            return out;
        }
    }
    return NULL;
}

/* Start the simulator and the proxy with one backend "dev" on it and
 * http_listen; wait until HTTP serves and the backend is connected (before
 * that /healthz rightly says 503). Returns the HTTP port. */
static int
start_pair(struct sim *s, struct mux *m, const char *extra)
{
    int hport;

    cr_assert_eq(h_sim_start(s, "--units 1"), 0);
    cr_assert_eq(h_mux_start(m, HEAD DEV "%s[route]\n1 = dev\n", s->port,
                             extra), 0);
    hport = h_mux_http_port(m, 5000);
    cr_assert(hport > 0, "no \"http: serving\" line in %s", m->p.err);
    cr_assert(h_wait_file(m->p.err, "B:dev: connected", 5000, NULL, 0),
              "no \"B:dev: connected\" line in %s", m->p.err);
    return hport;
}

Test(http, metrics_pass_promtool_and_count_what_was_sent)
{
    char tool[512], file[600], cmd[2048], out[700];
    struct sim s;
    struct mux m;
    struct hrsp r;
    uint16_t v[4];
    FILE *f;
    int hport, fd, rc;

    cr_assert(find_tool("promtool", tool, sizeof(tool)) != NULL,
              "promtool is not installed: apt-get install prometheus "
              "(.ci/run installs it)");
    hport = start_pair(&s, &m, "");
    fd = h_connect(m.port);
    for (int i = 0; i < 7; i++) {
        cr_assert_eq(h_read(fd, 1, 3, (uint16_t)(i * 10), 4, v, 3000), 0);
    }
    cr_assert_eq(h_read(fd, 99, 3, 0, 1, v, 3000), 0x0A, "unrouted");
    cr_assert_eq(http_get(hport, "/metrics", &r), 200);
    cr_assert(strstr(r.head, "text/plain; version=0.0.4") != NULL, "%s",
              r.head);
    snprintf(file, sizeof(file), "%s/metrics.txt", h_dir());
    snprintf(out, sizeof(out), "%s/promtool.out", h_dir());
    f = fopen(file, "w");
    fwrite(r.body, 1, r.body_len, f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "%s check metrics < %s > %s 2>&1", tool, file,
             out);
    rc = system(cmd);
    cr_assert_eq(rc, 0, "promtool check metrics failed: see %s", out);
    cr_assert_eq(metric(r.body, "modbus_mux_requests_total"), 8);
    cr_assert_eq(metric(r.body, "modbus_mux_replies_total"), 8);
    cr_assert_eq(metric(r.body, "modbus_mux_ex_no_route_total"), 1);
    cr_assert_eq(metric(r.body, "modbus_mux_clients"), 1);
    cr_assert_eq(metric(r.body, "modbus_mux_backend_requests_total"
                        "{backend=\"dev\",type=\"tcp\"}"), 7);
    cr_assert_eq(metric(r.body, "modbus_mux_backend_responses_total"
                        "{backend=\"dev\",type=\"tcp\"}"), 7);
    cr_assert_eq(metric(r.body, "modbus_mux_backend_transactions_total"
                        "{backend=\"dev\",type=\"tcp\"}"), 7);
    cr_assert_eq(metric(r.body, "modbus_mux_backend_wire_time_seconds_count"
                        "{backend=\"dev\",type=\"tcp\"}"), 7);
    cr_assert_eq(metric(r.body, "modbus_mux_backend_wire_time_seconds_bucket"
                        "{backend=\"dev\",type=\"tcp\",le=\"+Inf\"}"), 7);
    cr_assert_eq(metric(r.body, "modbus_mux_backend_up"
                        "{backend=\"dev\",type=\"tcp\"}"), 1);
    cr_assert_eq(metric(r.body, "modbus_mux_backend_state"
                        "{backend=\"dev\",type=\"tcp\",state=\"up\"}"), 1);
    cr_assert_eq(metric(r.body, "modbus_mux_backend_exceptions_total"
                        "{backend=\"dev\",type=\"tcp\",code=\"0x0A\"}"), 0);
    cr_assert(strstr(r.body, "# TYPE modbus_mux_backend_queue_wait_seconds "
                             "histogram\n") != NULL);
    cr_assert_eq(h_sim_stat(&s, "requests"), 7);
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

/* Poll /healthz until it answers <want>, for up to <ms>. */
static int
healthz_until(int port, int want, int ms, struct hrsp *r)
{
    uint64_t end = h_now_ms() + (uint64_t)ms;
    int st;

    do {
        st = http_get(port, "/healthz", r);
        if (st == want) {
            break;
        }
        usleep(50 * 1000);
    } while (h_now_ms() < end);
    return st;
}

Test(http, healthz_flips_to_503_naming_the_dead_backend)
{
    struct sim s;
    struct mux m;
    struct hrsp r;
    int hport = start_pair(&s, &m, "");

    cr_assert_eq(healthz_until(hport, 200, 5000, &r), 200, "%s", r.body);
    cr_assert_str_eq(r.body, "ok\n");
    h_proc_stop(&s.p, SIGKILL, 5000);
    cr_assert_eq(healthz_until(hport, 503, 10000, &r), 503);
    cr_assert(strstr(r.body, "backend dev: ") != NULL, "%s", r.body);
    cr_assert_eq(h_mux_stop(&m), 0);
}

/* True if <path> is a PNG of <w> x <h> pixels and over <min> bytes. */
static bool
png_ok(const char *path, unsigned w, unsigned h, long min)
{
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n',
                                         0x1a, '\n'};
    unsigned char hd[24];
    FILE *f = fopen(path, "rb");
    struct stat st;
    bool ok;

    if (f == NULL || stat(path, &st) != 0) {
        return false;
    }
    ok = fread(hd, 1, sizeof(hd), f) == sizeof(hd) &&
         memcmp(hd, sig, 8) == 0 && memcmp(hd + 12, "IHDR", 4) == 0 &&
         (unsigned)(hd[16] << 24 | hd[17] << 16 | hd[18] << 8 | hd[19]) ==
             w &&
         (unsigned)(hd[20] << 24 | hd[21] << 16 | hd[22] << 8 | hd[23]) ==
             h &&
         st.st_size > min;
    fclose(f);
    return ok;
}

/* Run headless chromium on <url> with <what> (--screenshot=F or
 * --dump-dom), output to <out>. Returns its exit status. */
static int
chromium(const char *bin, const char *url, const char *what, const char *out)
{
    static int seq;
    char cmd[4096];

    snprintf(cmd, sizeof(cmd),
             "timeout 90 %s --headless --no-sandbox --disable-gpu "
             "--disable-quic --no-first-run --disable-background-networking "
             "--disable-component-update --disable-sync "
             "--user-data-dir=%s/chromium-%d --window-size=1280,900 %s %s "
             "> %s 2> %s.err",
             bin, h_dir(), seq++, what, url, out, out);
    return system(cmd);
}

Test(http, status_page_renders_in_headless_chromium)
{
    char bin[512], url[128], png[600], shot[700], dom[600];
    const char *keep = getenv("HTTP_SCREENSHOT");
    int hport, fd;
    struct sim s;
    struct mux m;
    uint16_t v[4];
    FILE *f;
    char *text;
    long n;

    cr_assert(find_tool("chromium", bin, sizeof(bin)) != NULL,
              "chromium is not installed: apt-get install chromium "
              "(.ci/run installs it)");
    hport = start_pair(&s, &m, "cache_ttl_ms = 60000\n"
                       "[backend charger_2]\ntype = tcp\nhost = 127.0.0.1\n"
                       "port = 1\n");
    fd = h_connect(m.port);
    cr_assert_eq(h_read(fd, 1, 3, 0, 4, v, 3000), 0);
    cr_assert_eq(h_read(fd, 1, 4, 100, 4, v, 3000), 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/status", hport);
    snprintf(png, sizeof(png), "%s/status.png",
             keep != NULL ? keep : h_dir());
    snprintf(shot, sizeof(shot), "--screenshot=%s", png);
    snprintf(dom, sizeof(dom), "%s/status.dom", h_dir());
    cr_assert_eq(chromium(bin, url, shot, "/dev/null"), 0);
    cr_assert(png_ok(png, 1280, 900, 20000), "%s: not a 1280x900 PNG", png);
    cr_assert_eq(chromium(bin, url, "--dump-dom", dom), 0);
    f = fopen(dom, "r");
    cr_assert(f != NULL);
    text = calloc(1, 1 << 20);
    n = (long)fread(text, 1, (1 << 20) - 1, f);
    fclose(f);
    cr_assert(n > 1000, "DOM of %ld bytes", n);
    cr_assert(strstr(text, ">dev</h3>") != NULL, "backend dev missing");
    cr_assert(strstr(text, ">charger_2</h3>") != NULL, "charger_2 missing");
    cr_assert(strstr(text, "http-equiv=\"refresh\" content=\"5\"") != NULL);
    cr_assert(strstr(text, "<td>S#1</td>") != NULL, "client row missing");
    cr_assert(strstr(text, ">holding</td>") != NULL, "cache row missing");
    cr_assert(strstr(text, "<script") == NULL);
    free(text);
    close(fd);
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

/* A Modbus client reading every 5 ms until told to stop. */
struct poller {
    int               port;
    volatile bool     stop;
    unsigned          good, bad;
};

static void *
poller_run(void *arg)
{
    struct poller *p = arg;
    int fd = h_connect(p->port);
    uint16_t v[4];

    while (!p->stop) {
        if (fd >= 0 && h_read(fd, 1, 3, 10, 4, v, 3000) == 0 &&
            h_check_regs(1, 3, 10, 4, v)) {
            p->good++;
        } else {
            p->bad++;
        }
        usleep(5 * 1000);
    }
    if (fd >= 0) {
        close(fd);
    }
    return NULL;
}

/* 404, 405, HEAD, 400 and 431 (both closing). */
static void
check_errors(int hport)
{
    struct hconn *c = hc_open(hport);
    char big[10000];
    struct hrsp r;

    cr_assert_eq(hc_send(c, "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    cr_assert_eq(hc_recv(c, &r, false), 404);
    cr_assert_eq(hc_send(c, "POST /metrics HTTP/1.1\r\nHost: t\r\n"
                            "Content-Length: 3\r\n\r\nabc"), 0);
    cr_assert_eq(hc_recv(c, &r, false), 405);
    cr_assert(strstr(r.head, "\r\nAllow: GET, HEAD\r\n") != NULL);
    cr_assert_eq(hc_send(c, "HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    cr_assert_eq(hc_recv(c, &r, true), 200);
    cr_assert(strstr(r.head, "Content-Length: 3\r\n") != NULL, "%s", r.head);
    cr_assert_eq(hc_send(c, "GET /healthz?x=1 HTTP/1.1\r\nHost: t\r\n\r\n"),
                 0);
    cr_assert_eq(hc_recv(c, &r, false), 200, "keep-alive after HEAD");
    cr_assert_eq(hc_send(c, "GARBAGE\r\n\r\n"), 0);
    cr_assert_eq(hc_recv(c, &r, false), 400);
    cr_assert(r.close);
    cr_assert(h_wait_closed(c->fd, 2000), "closed after 400");
    hc_close(c);

    c = hc_open(hport);
    memset(big, 'a', sizeof(big));
    memcpy(big, "GET /status HTTP/1.1\r\nX-Big: ", 29);
    memcpy(big + sizeof(big) - 5, "\r\n\r\n", 5);
    cr_assert_eq(hc_send(c, big), 0);
    cr_assert_eq(hc_recv(c, &r, false), 431);
    cr_assert(h_wait_closed(c->fd, 2000), "closed after 431");
    hc_close(c);
}

/* 100 pipelined requests: all answered, the last with Connection: close,
 * then the connection closes. */
static void
check_request_limit(int hport)
{
    struct hconn *c = hc_open(hport);
    static char reqs[101 * 40];
    struct hrsp r;
    size_t n = 0;

    for (int i = 0; i < 101; i++) {
        n += (size_t)snprintf(reqs + n, sizeof(reqs) - n,
                              "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    }
    cr_assert_eq(hc_send(c, reqs), 0);
    for (int i = 0; i < 100; i++) {
        cr_assert_eq(hc_recv(c, &r, false), 200, "response %d", i);
        cr_assert_eq(r.close, i == 99, "response %d", i);
    }
    cr_assert(h_wait_closed(c->fd, 2000), "closed after 100 requests");
    hc_close(c);
}

/* 40 connections at once: each past the 32nd closes the one idle longest
 * to make room, so the 8 oldest are closed and the 32 newest served. */
static void
check_connection_limit(int hport)
{
    struct hconn *c[40];
    struct hrsp r;
    int closed = 0;

    for (int i = 0; i < 40; i++) {
        c[i] = hc_open(hport);
        cr_assert(c[i] != NULL);
    }
    for (int i = 0; i < 8; i++) {
        closed += h_wait_closed(c[i]->fd, 2000);
    }
    cr_assert_eq(closed, 8, "%d of the 8 oldest connections closed", closed);
    for (int i = 8; i < 40; i++) {
        cr_assert_eq(hc_send(c[i], "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"),
                     0);
        cr_assert_eq(hc_recv(c[i], &r, false), 200, "connection %d", i);
    }
    for (int i = 0; i < 40; i++) {
        hc_close(c[i]);
    }
}

Test(http, errors_and_limits_leave_modbus_undisturbed)
{
    struct poller p = {0};
    pthread_t th;
    struct sim s;
    struct mux m;
    int hport = start_pair(&s, &m, "");

    p.port = m.port;
    pthread_create(&th, NULL, poller_run, &p);
    check_errors(hport);
    check_request_limit(hport);
    check_connection_limit(hport);
    for (uint64_t end = h_now_ms() + 5000; p.good < 10 && h_now_ms() < end;) {
        usleep(10 * 1000);
    }
    p.stop = true;
    pthread_join(th, NULL);
    cr_assert_eq(p.bad, 0, "%u Modbus reads failed", p.bad);
    cr_assert(p.good >= 10, "only %u Modbus reads", p.good);
    cr_assert(h_file_contains(m.p.err, "http: 32 connections open: "
                                       "closed "));
    cr_assert(h_file_contains(m.p.err, "bad request"));
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

Test(http, idle_connection_closes_after_10_s)
{
    struct sim s;
    struct mux m;
    struct hrsp r;
    int hport = start_pair(&s, &m, "");
    struct hconn *c = hc_open(hport);
    uint64_t t0;

    cr_assert_eq(hc_send(c, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    cr_assert_eq(hc_recv(c, &r, false), 200);
    t0 = h_now_ms();
    cr_assert(h_wait_closed(c->fd, 15000), "still open after 15 s");
    cr_assert(h_now_ms() - t0 >= 9000, "closed after %llu ms",
              (unsigned long long)(h_now_ms() - t0));
    hc_close(c);
    cr_assert_eq(h_mux_stop(&m), 0);
    h_proc_stop(&s.p, SIGTERM, 5000);
}

/* SPDX-License-Identifier: MIT */
/*
 * fuzz_http.c -- libFuzzer target for the HTTP endpoint's request path
 * (proxy/http_conn.c: the http_parser callbacks, limits and routing) and
 * the pages it routes to (http_pages.c, http_metrics.c), without a
 * socket: a fake transport records what http_conn_feed() sends, over a
 * fake server whose backend, client and listener names carry markup and
 * quotes.
 *
 * Input: the bytes a client sends. They are fed once whole and once in
 * chunks (length from the first byte, 1..8), one response at a time (each
 * taken as written at once, then the bytes the feed left fed again); both
 * feeds must give the same statuses in the same order and end the same
 * way. Every response
 * must be a well-formed head ("HTTP/1.1 NNN", Content-Length equal to the
 * body, or 0 sent for HEAD, "\r\n\r\n" end), at most HTTP_MAX_REQUESTS
 * + 1 of them; no HTML page may carry an unescaped "<script" from the
 * names; /metrics label values must keep their quotes balanced.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "http.h"
#include "listener.h"
#include "server.h"
#include "session.h"

#define MAX_RSP 128

#define CHECK(c)                                                        \
    do {                                                                \
        if (!(c)) {                                                     \
            fprintf(stderr, "fuzz_http: check failed: %s (line %d)\n",  \
                    #c, __LINE__);                                      \
            abort();                                                    \
        }                                                               \
    } while (0)

/* What the fake transport saw on one connection. */
struct seen {
    int      status[MAX_RSP];
    unsigned n;
};

/* One fake connection: the protocol state and what it sent. */
struct fake {
    struct http_conn conn;
    struct seen      seen;
};

static struct server fz_srv;
static struct cfg fz_cfg;
static struct backend fz_be[2];
static struct backend *fz_bes[2] = {&fz_be[0], &fz_be[1]};
static struct session fz_session;
static struct listener fz_listener, fz_named;
static struct listener *fz_listeners[2] = {&fz_listener, &fz_named};
/* A front-end type whose name needs escaping (the pages read only it). */
static const struct frontend_ops fz_fe = {.type = "m<script>\"\\"};
static uv_loop_t fz_loop;

/* The functions of backend.c and poller.c the pages use. The poll table
 * is left out: its strings are numbers and fixed table names. */
const char *
backend_state(const struct backend *be)
{
    return be->up ? "up" : be->down ? "down" : "connecting";
}

void
poller_status_html(const struct backend *be, struct http_buf *b)
{
    (void)be;
    (void)b;
}

/* Label values in /metrics: quotes balance on every sample line. */
static void
check_metrics(const char *body, size_t len)
{
    const char *end = body + len;

    for (const char *p = body; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        unsigned quotes = 0;

        CHECK(nl != NULL);
        for (const char *q = p; q < nl; q++) {
            if (*q == '\\') {
                q++;
            } else if (*q == '"') {
                quotes++;
            }
        }
        CHECK(quotes % 2 == 0);
        p = nl + 1;
    }
}

static void
fake_send(struct http_conn *c, const char *head, size_t head_len,
          const char *body, size_t body_len)
{
    struct fake *f = container_of(c, struct fake, conn);
    const char *cl = strstr(head, "\r\nContent-Length: ");
    int status = -1;

    CHECK(f->seen.n < MAX_RSP);
    CHECK(head_len > 13 && memcmp(head, "HTTP/1.1 ", 9) == 0);
    CHECK(memcmp(head + head_len - 4, "\r\n\r\n", 4) == 0);
    CHECK(sscanf(head + 9, "%3d", &status) == 1);
    CHECK(status >= 200 && status <= 599);
    CHECK(cl != NULL);
    CHECK(body_len == 0 || strtoul(cl + 18, NULL, 10) == body_len);
    if (body_len > 0) {
        if (strstr(head, "text/html") != NULL) {
            CHECK(strstr(body, "<script") == NULL);
        }
        if (strstr(head, "version=0.0.4") != NULL) {
            check_metrics(body, body_len);
        }
    }
    f->seen.status[f->seen.n++] = status;
}

/* The fake backends' part of their card names a host that needs escaping,
 * as a type on TCP does (tcplink_status_html()). */
static void
fake_status_html(const struct backend *be, struct http_buf *b)
{
    http_buf_puts(b, "<span class=\"where\">");
    http_buf_html(b, "<script>h</script>");
    http_buf_puts(b, ":502</span>");
}

static const struct backend_ops fake_ops = {
    .type = "t\"p<",
    .status_html = fake_status_html,
};

/* A backend whose strings need escaping, with some history. */
static void
setup_backend(struct backend *be, const char *name, bool up)
{
    static const uint8_t regs[8] = {1, 2, 3, 4, 5, 6, 7, 8};

    be->ops = &fake_ops;
    snprintf(be->cfg.name, sizeof(be->cfg.name), "%s", name);
    snprintf(be->cfg.type, sizeof(be->cfg.type), "%s", fake_ops.type);
    be->cfg.queue_depth = 64;
    be->cfg.max_inflight = 1;
    be->up = up;
    be->down = !up;
    snprintf(be->last_error, sizeof(be->last_error),
             "<script>alert(\"x\")</script>\n\\");
    be->last_error_ms = 1;
    cache_init(&be->cache);
    cache_store(&be->cache, 1, 3, 0, 4, regs, 1);
    cache_store(&be->cache, 0x11, 0x16, 200, 4, regs, 1);
    for (uint64_t ms = 0; ms < 20000; ms = ms * 3 + 1) {
        stats_hist_add(&be->wire_time, ms);
        stats_hist_add(&be->queue_wait, ms / 2);
    }
    be->st.requests = 7;
}

static void
setup(void)
{
    static bool done;

    if (done) {
        return;
    }
    done = true;
    log_level = LOG_ERROR;
    uv_loop_init(&fz_loop);
    fz_srv.loop = &fz_loop;
    fz_srv.cfg = &fz_cfg;
    fz_cfg.n_backends = 2;
    setup_backend(&fz_be[0], "a<script>\"\\", true);
    setup_backend(&fz_be[1], "b&'\n", false);
    fz_srv.backends = fz_bes;
    TAILQ_INIT(&fz_srv.sessions);
    snprintf(fz_session.peer, sizeof(fz_session.peer), "<script>:1");
    fz_session.id = 1;
    TAILQ_INSERT_TAIL(&fz_srv.sessions, &fz_session, link);
    fz_srv.n_sessions = 1;
    snprintf(fz_listener.name, sizeof(fz_listener.name), "[::]:502\"<script>");
    fz_listener.fe = &fz_fe;
    snprintf(fz_named.name, sizeof(fz_named.name), "0.0.0.0:1502");
    snprintf(fz_named.section, sizeof(fz_named.section), "<script>\"\\");
    fz_named.fe = &fz_fe;
    fz_srv.listeners = fz_listeners;
    fz_srv.n_listeners = 2;
}

/* Feed <data> to a fresh connection in chunks of <chunk> (0: whole),
 * each response "written" at once: what the feed did not use is fed
 * again after http_conn_written(). */
static int
run(struct fake *f, const uint8_t *data, size_t size, size_t chunk)
{
    enum http_feed rc = HTTP_FEED_MORE;

    http_conn_init(&f->conn, &fz_srv, fake_send, 1, "<peer>");
    memset(&f->seen, 0, sizeof(f->seen));
    for (size_t off = 0; off < size && rc != HTTP_FEED_DONE;) {
        size_t n = chunk == 0 ? size - off : MB_MIN(chunk, size - off);
        size_t used;
        unsigned before = f->seen.n;

        rc = http_conn_feed(&f->conn, (const char *)data + off, n, &used);
        CHECK(used <= n && (used > 0 || rc == HTTP_FEED_DONE));
        CHECK(rc == HTTP_FEED_DONE || rc == HTTP_FEED_WAIT ||
              (rc == HTTP_FEED_MORE && used == n));
        /* one response per feed, and WAIT exactly when one went out */
        CHECK(f->seen.n - before <= 1);
        CHECK(rc != HTTP_FEED_WAIT || f->seen.n == before + 1);
        if (rc == HTTP_FEED_WAIT) {
            CHECK(f->conn.waiting);
            http_conn_written(&f->conn);
        }
        off += used;
    }
    CHECK(f->seen.n <= HTTP_MAX_REQUESTS + 1);
    http_conn_free(&f->conn);
    return rc == HTTP_FEED_DONE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fake whole, split;
    int rc_whole, rc_split;

    setup();
    if (size == 0) {
        return 0;
    }
    rc_whole = run(&whole, data, size, 0);
    rc_split = run(&split, data, size, (size_t)(data[0] % 8) + 1);
    CHECK(rc_whole == rc_split);
    CHECK(whole.seen.n == split.seen.n);
    CHECK(memcmp(whole.seen.status, split.seen.status,
                 whole.seen.n * sizeof(int)) == 0);
    return 0;
}

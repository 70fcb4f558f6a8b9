/* SPDX-License-Identifier: MIT */
/*
 * http_conn.c -- the requests of one HTTP connection, from bytes to
 * responses. The nodejs http_parser (2.9) does the parsing; this file
 * holds its callbacks, the limits a request must keep (head 8 KiB, URL,
 * body), the routing of GET and HEAD to the pages, the response head, and
 * the growable buffer the pages write into. It calls no libuv function:
 * its transport (http.c, or the fuzz target's fake) feeds it bytes with
 * http_conn_feed() and takes each response through c->send. It owns the
 * response buffer, not the socket.
 */
#include <stdio.h>
#include <string.h>

#include "http.h"

#define HTTP_TEXT "text/plain; charset=utf-8"
#define HTTP_HTML "text/html; charset=utf-8"
#define HTTP_PROM "text/plain; version=0.0.4; charset=utf-8"

/* A page generator: writes the body into <b>, returns the status. */
typedef int (*http_page_fn)(struct http_buf *b, struct server *srv);

/* One path we serve. */
struct http_route {
    const char   *path;
    const char   *type;            /* Content-Type */
    http_page_fn  page;
};

static const struct http_route http_routes[] = {
    {"/metrics", HTTP_PROM, http_page_metrics},
    {"/status", HTTP_HTML, http_page_status},
    {"/healthz", HTTP_TEXT, http_page_healthz},
};

/* Room for <more> bytes and a NUL after what <b> holds. */
static void
http_buf_reserve(struct http_buf *b, size_t more)
{
    size_t cap = b->cap > 0 ? b->cap : 4096;
    char *p;

    if (b->len + more + 1 <= b->cap) {
        return;
    }
    while (cap < b->len + more + 1) {
        cap *= 2;
    }
    p = realloc(b->data, cap);
    ASSERT(p != NULL);
    b->data = p;
    b->cap = cap;
}

/*
 * Empty <b>, keeping its memory for the next response.
 */
void
http_buf_reset(struct http_buf *b)
{
    b->len = 0;
    if (b->data != NULL) {
        b->data[0] = '\0';
    }
}

/*
 * Free the memory of <b> and leave it empty.
 */
void
http_buf_free(struct http_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

/*
 * Append the <n> bytes at <s> to <b>.
 */
void
http_buf_add(struct http_buf *b, const char *s, size_t n)
{
    http_buf_reserve(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

/*
 * Append the string <s> to <b>.
 */
void
http_buf_puts(struct http_buf *b, const char *s)
{
    http_buf_add(b, s, strlen(s));
}

/*
 * Append printf-style <fmt> to <b>.
 */
void
http_buf_printf(struct http_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    http_buf_reserve(b, 256);
    va_start(ap, fmt);
    n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    ASSERT(n >= 0);
    if ((size_t)n >= b->cap - b->len) {
        http_buf_reserve(b, (size_t)n);
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

/*
 * Append <s> to <b> escaped for HTML text and attribute values. Every
 * string that came from the configuration or the network goes through
 * here.
 */
void
http_buf_html(struct http_buf *b, const char *s)
{
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '&':
            http_buf_puts(b, "&amp;");
            break;
        case '<':
            http_buf_puts(b, "&lt;");
            break;
        case '>':
            http_buf_puts(b, "&gt;");
            break;
        case '"':
            http_buf_puts(b, "&quot;");
            break;
        case '\'':
            http_buf_puts(b, "&#39;");
            break;
        default:
            http_buf_add(b, s, 1);
        }
    }
}

/* Write the head for the body in c->body and hand both to the transport;
 * HEAD gets the same head and no body. */
static void
http_conn_respond(struct http_conn *c, int status, const char *type,
                  bool head_only)
{
    const char *extra = "";
    char head[640];
    int n;

    if (status == 405) {
        extra = "Allow: GET, HEAD\r\n";
    } else if (strcmp(type, HTTP_HTML) == 0) {
        /* The page needs nothing but its own inline style. */
        extra = "Content-Security-Policy: default-src 'none'; "
                "style-src 'unsafe-inline'\r\n";
    }
    n = snprintf(head, sizeof(head),
                 "HTTP/1.1 %d %s\r\n"
                 "Content-Type: %s\r\n"
                 "Content-Length: %zu\r\n"
                 "Cache-Control: no-store\r\n"
                 "X-Content-Type-Options: nosniff\r\n"
                 "%s"
                 "Connection: %s\r\n\r\n",
                 status, http_status_str((enum http_status)status), type,
                 c->body.len, extra, c->done ? "close" : "keep-alive");
    ASSERT(n > 0 && (size_t)n < sizeof(head));
    c->send(c, head, (size_t)n, c->body.data, head_only ? 0 : c->body.len);
}

/* The request target of <c>, printable, for a log line. */
static const char *
http_conn_target(const struct http_conn *c, char *out, size_t size)
{
    size_t i;

    for (i = 0; i + 1 < size && i < c->url_len; i++) {
        unsigned char ch = (unsigned char)c->url[i];

        out[i] = ch >= 0x20 && ch < 0x7F ? (char)ch : '?';
    }
    out[i] = '\0';
    return out;
}

/* The path of the request target (origin or absolute form), without the
 * query; false if the target is not a URL. */
static bool
http_conn_path(const struct http_conn *c, const char **path, size_t *len)
{
    struct http_parser_url u;

    http_parser_url_init(&u);
    if (http_parser_parse_url(c->url, c->url_len, 0, &u) != 0) {
        return false;
    }
    if ((u.field_set & (1u << UF_PATH)) == 0) {
        *path = "/";
        *len = 1;
        return true;
    }
    *path = c->url + u.field_data[UF_PATH].off;
    *len = u.field_data[UF_PATH].len;
    return true;
}

/* GET or HEAD of <path>: the page's body in c->body; returns the status. */
static int
http_conn_route(struct http_conn *c, const char *path, size_t len,
                const char **type)
{
    for (size_t i = 0; i < ARRAY_SIZE(http_routes); i++) {
        const struct http_route *r = &http_routes[i];

        if (strlen(r->path) == len && memcmp(r->path, path, len) == 0) {
            *type = r->type;
            return r->page(&c->body, c->srv);
        }
    }
    http_buf_puts(&c->body, "not found: this server has /status, /metrics "
                            "and /healthz\n");
    return 404;
}

/* A whole request has arrived: answer it. */
static void
http_conn_answer(struct http_conn *c)
{
    unsigned method = c->parser.method;
    const char *type = HTTP_TEXT;
    const char *path;
    char target[128];
    size_t len;
    int status;

    c->n_requests++;
    if (!http_should_keep_alive(&c->parser) ||
        c->n_requests >= HTTP_MAX_REQUESTS || c->parser.upgrade) {
        c->done = true;
    }
    http_buf_reset(&c->body);
    if (c->url_long) {
        status = 414;
    } else if (method != HTTP_GET && method != HTTP_HEAD) {
        status = 405;
    } else if (!http_conn_path(c, &path, &len)) {
        status = 400;
        c->done = true;
    } else {
        status = http_conn_route(c, path, len, &type);
    }
    if (status >= 400 && c->body.len == 0) {
        http_buf_printf(&c->body, "%s\n",
                        http_status_str((enum http_status)status));
    }
    hlog(LOG_DEBUG, c, "%s %s: %d, %zu bytes%s",
         http_method_str((enum http_method)method),
         http_conn_target(c, target, sizeof(target)), status, c->body.len,
         c->done ? ", closing" : "");
    http_conn_respond(c, status, type, method == HTTP_HEAD);
}

/* A request that cannot be read: answer <status> (or 400) and close. */
static void
http_conn_reject(struct http_conn *c, enum http_errno err)
{
    int status = c->fail_status != 0             ? c->fail_status
                 : err == HPE_HEADER_OVERFLOW ? 431
                                                 : 400;

    c->done = true;
    hlog(LOG_WARN, c, "bad request (%s): %d, closing",
         http_errno_description(err), status);
    http_buf_reset(&c->body);
    http_buf_printf(&c->body, "%s\n",
                    http_status_str((enum http_status)status));
    http_conn_respond(c, status, HTTP_TEXT, false);
}

static int
http_on_message_begin(http_parser *p)
{
    struct http_conn *c = p->data;

    c->url_len = 0;
    c->url[0] = '\0';
    c->url_long = false;
    c->body_len = 0;
    c->in_request = true;
    return 0;
}

static int
http_on_url(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;

    if (c->url_long || len > HTTP_MAX_URL - c->url_len) {
        c->url_long = true;
        return 0;
    }
    memcpy(c->url + c->url_len, at, len);
    c->url_len += len;
    c->url[c->url_len] = '\0';
    return 0;
}

static int
http_on_headers_complete(http_parser *p)
{
    struct http_conn *c = p->data;

    /* Bodies mean nothing here; a large one is refused before it comes. */
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > HTTP_MAX_BODY) {
        c->fail_status = 413;
        return -1;
    }
    return 0;
}

static int
http_on_body(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;

    c->body_len += len;
    if (c->body_len > HTTP_MAX_BODY) {
        c->fail_status = 413;
        return -1;
    }
    return 0;
}

static int
http_on_message_complete(http_parser *p)
{
    struct http_conn *c = p->data;

    c->in_request = false;
    http_conn_answer(c);
    /* One response at a time: what a client pipelines is parsed only once
     * the response before it is written, so one that never reads makes us
     * render nothing more (and after the last one, nothing at all). */
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings http_settings = {
    .on_message_begin = http_on_message_begin,
    .on_url = http_on_url,
    .on_headers_complete = http_on_headers_complete,
    .on_body = http_on_body,
    .on_message_complete = http_on_message_complete,
};

/*
 * Make <c> a fresh connection of <srv> whose responses go to <send>;
 * <id> and <peer> name it in log lines.
 */
void
http_conn_init(struct http_conn *c, struct server *srv, http_send_fn send,
               uint64_t id, const char *peer)
{
    memset(c, 0, sizeof(*c));
    /* Process-wide, but every parser in this process is ours. */
    http_parser_set_max_header_size(HTTP_MAX_HEAD);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->srv = srv;
    c->send = send;
    c->id = id;
    snprintf(c->peer, sizeof(c->peer), "%s", peer);
}

/*
 * Parse the <len> bytes at <data> that arrived on <c>, up to the end of
 * the first request they complete, and answer it through c->send. Sets
 * <used> to the bytes parsed. Returns HTTP_FEED_MORE when all were (the
 * next request is not complete yet); HTTP_FEED_WAIT when a response went
 * out: the transport stops reading, and once that response is written
 * calls http_conn_written() and feeds the rest again; HTTP_FEED_DONE when
 * the connection is done (after a bad request, Connection: close,
 * HTTP/1.0, the request limit): the transport closes it once what was
 * sent is written, and whatever else comes is dropped.
 */
enum http_feed
http_conn_feed(struct http_conn *c, const char *data, size_t len,
               size_t *used)
{
    enum http_errno err;
    size_t n;

    *used = len;
    if (c->done) {
        return HTTP_FEED_DONE;
    }
    if (c->waiting) {
        *used = 0;
        return HTTP_FEED_WAIT;
    }
    n = http_parser_execute(&c->parser, &http_settings, data, len);
    err = HTTP_PARSER_ERRNO(&c->parser);
    if (err != HPE_OK && err != HPE_PAUSED) {
        http_conn_reject(c, err);
    } else if (c->parser.upgrade || (err == HPE_OK && n != len)) {
        /* We speak no other protocol: whatever follows is not ours. */
        c->done = true;
    } else if (err == HPE_PAUSED && !c->done) {
        c->waiting = true;
        *used = n;
        return HTTP_FEED_WAIT;
    }
    return c->done ? HTTP_FEED_DONE : HTTP_FEED_MORE;
}

/*
 * The response <c> sent last has been written: parse on.
 */
void
http_conn_written(struct http_conn *c)
{
    if (c->waiting) {
        c->waiting = false;
        http_parser_pause(&c->parser, 0);
    }
}

/*
 * Free what <c> holds (not <c> itself).
 */
void
http_conn_free(struct http_conn *c)
{
    http_buf_free(&c->body);
}

/* Blocking HTTP/1.1 keep-alive JSON-RPC client; see rpcclient.h. */
#include "cli/rpcclient.h"

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "util/clock.h"

#define RB_SIZE (128u * 1024) /* read buffer; also bounds one header line */

struct rpcc {
    char url[512];
    char host[256];
    char port[16];
    char path[512];
    char hosthdr[300]; /* value of the Host header */
    int fd;            /* -1 when not connected */
    int timeout_ms;
    uint64_t next_id;
    int last_status;
    int last_errcode;
    uint8_t *rb; /* read buffer: bytes rb[rpos..rlen) are unread */
    size_t rpos, rlen;
    struct buf head; /* reused request head */
};

static uint64_t now_ms(void)
{
    return clock_mono_ns() / 1000000u;
}

/* ---- URL ---------------------------------------------------------------- */

static int parse_url(struct rpcc *c, const char *url, char *err, size_t errlen)
{
    static const char scheme[] = "http://";
    if (strlen(url) >= sizeof c->url) {
        tally_errf(err, errlen, "url too long");
        return TALLY_EINVAL;
    }
    if (strncasecmp(url, scheme, sizeof scheme - 1) != 0) {
        tally_errf(err, errlen, "url must start with http:// (got \"%s\")", url);
        return TALLY_EINVAL;
    }
    snprintf(c->url, sizeof c->url, "%s", url);
    const char *p = url + sizeof scheme - 1;
    const char *host_end;
    const char *h0 = p;
    size_t hlen;
    if (*p == '[') {
        host_end = strchr(p, ']');
        if (!host_end) {
            tally_errf(err, errlen, "url: unterminated IPv6 address");
            return TALLY_EINVAL;
        }
        h0 = p + 1;
        hlen = (size_t)(host_end - h0);
        p = host_end + 1;
    } else {
        while (*p && *p != ':' && *p != '/' && *p != '?' && *p != '#') p++;
        hlen = (size_t)(p - h0);
    }
    if (hlen == 0 || hlen >= sizeof c->host) {
        tally_errf(err, errlen, "url: missing or too long host");
        return TALLY_EINVAL;
    }
    memcpy(c->host, h0, hlen);
    c->host[hlen] = '\0';
    snprintf(c->port, sizeof c->port, "80");
    if (*p == ':') {
        p++;
        char *end;
        errno = 0;
        unsigned long port = strtoul(p, &end, 10);
        if (end == p || errno || port == 0 || port > 65535 || (*end && *end != '/')) {
            tally_errf(err, errlen, "url: bad port");
            return TALLY_EINVAL;
        }
        snprintf(c->port, sizeof c->port, "%lu", port);
        p = end;
    } else if (*p && *p != '/') {
        tally_errf(err, errlen, "url: unexpected '%c' after host", *p);
        return TALLY_EINVAL;
    }
    if (*p == '\0') p = "/";
    if (strlen(p) >= sizeof c->path) {
        tally_errf(err, errlen, "url: path too long");
        return TALLY_EINVAL;
    }
    for (const char *q = p; *q; q++) {
        if ((unsigned char)*q <= ' ' || *q == 0x7f) {
            tally_errf(err, errlen, "url: control or space character in path");
            return TALLY_EINVAL;
        }
    }
    snprintf(c->path, sizeof c->path, "%s", p);
    if (strchr(c->host, ':'))
        snprintf(c->hosthdr, sizeof c->hosthdr, "[%s]:%s", c->host, c->port);
    else
        snprintf(c->hosthdr, sizeof c->hosthdr, "%s:%s", c->host, c->port);
    return 0;
}

int rpcc_open(struct rpcc **out, const char *url, char *err, size_t errlen)
{
    *out = NULL;
    if (!url) {
        tally_errf(err, errlen, "no url");
        return TALLY_EINVAL;
    }
    struct rpcc *c = calloc(1, sizeof *c);
    if (!c) return TALLY_ENOMEM;
    int rc = parse_url(c, url, err, errlen);
    if (rc) {
        free(c);
        return rc;
    }
    c->rb = malloc(RB_SIZE);
    if (!c->rb) {
        free(c);
        return TALLY_ENOMEM;
    }
    c->fd = -1;
    c->timeout_ms = RPCC_TIMEOUT_MS;
    c->next_id = 1;
    buf_init(&c->head, 4096);
    *out = c;
    return 0;
}

static void conn_drop(struct rpcc *c)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    c->rpos = c->rlen = 0;
}

void rpcc_close(struct rpcc *c)
{
    if (!c) return;
    conn_drop(c);
    buf_free(&c->head);
    free(c->rb);
    free(c);
}

void rpcc_set_timeout(struct rpcc *c, int timeout_ms)
{
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : RPCC_TIMEOUT_MS;
}

int rpcc_last_status(const struct rpcc *c)
{
    return c->last_status;
}

int rpcc_last_error_code(const struct rpcc *c)
{
    return c->last_errcode;
}

const char *rpcc_url(const struct rpcc *c)
{
    return c->url;
}

/* ---- socket I/O with a deadline ---------------------------------------- */

/* Wait until fd is ready for events or the deadline passes.
 * Errors: TALLY_EIO (timeout or poll failure). */
static int wait_fd(int fd, short events, uint64_t deadline, char *err, size_t errlen)
{
    for (;;) {
        uint64_t now = now_ms();
        if (now >= deadline) {
            tally_errf(err, errlen, "timed out");
            return TALLY_EIO;
        }
        uint64_t left = deadline - now;
        struct pollfd pfd = {.fd = fd, .events = events};
        int n = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
        if (n > 0) return 0;
        if (n < 0 && errno != EINTR) {
            tally_errf(err, errlen, "poll: %s", strerror(errno));
            return TALLY_EIO;
        }
    }
}

static int conn_open(struct rpcc *c, uint64_t deadline, char *err, size_t errlen)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(c->host, c->port, &hints, &res);
    if (gai) {
        tally_errf(err, errlen, "resolve %s: %s", c->host, gai_strerror(gai));
        return TALLY_EIO;
    }
    int rc = TALLY_EIO;
    tally_errf(err, errlen, "connect %s: no address", c->hosthdr);
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd =
            socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            tally_errf(err, errlen, "socket: %s", strerror(errno));
            continue;
        }
        int e = 0;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
            e = errno;
            if (e == EINPROGRESS) {
                char werr[64];
                if (wait_fd(fd, POLLOUT, deadline, werr, sizeof werr) < 0) {
                    e = ETIMEDOUT;
                } else {
                    socklen_t sl = sizeof e;
                    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &sl) < 0) e = errno;
                }
            }
        }
        if (e) {
            tally_errf(err, errlen, "connect %s: %s", c->hosthdr, strerror(e));
            close(fd);
            continue;
        }
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->fd = fd;
        c->rpos = c->rlen = 0;
        rc = 0;
        break;
    }
    freeaddrinfo(res);
    return rc;
}

/* 1 if an idle keep-alive connection looks closed (EOF, error, or stray
 * bytes that no request asked for). */
static int conn_stale(struct rpcc *c)
{
    if (c->rlen > c->rpos) return 1;
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    int n = poll(&pfd, 1, 0);
    return n != 0;
}

/* Send all iovecs. Sets *peer_closed when the failure looks like the server
 * having closed the connection. */
static int send_iov(struct rpcc *c, struct iovec *iov, int iovcnt, uint64_t deadline,
                    int *peer_closed, char *err, size_t errlen)
{
    while (iovcnt > 0) {
        struct msghdr mh = {0};
        mh.msg_iov = iov;
        mh.msg_iovlen = (size_t)iovcnt;
        ssize_t n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                int rc = wait_fd(c->fd, POLLOUT, deadline, err, errlen);
                if (rc) return rc;
                continue;
            }
            if (errno == EPIPE || errno == ECONNRESET) *peer_closed = 1;
            tally_errf(err, errlen, "send: %s", strerror(errno));
            return TALLY_EIO;
        }
        size_t left = (size_t)n;
        while (iovcnt > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++;
            iovcnt--;
        }
        if (iovcnt > 0) {
            iov->iov_base = (char *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return 0;
}

/* Read more bytes into the read buffer. Returns the count (> 0), 0 at EOF,
 * or a negative error. */
static int fill(struct rpcc *c, uint64_t deadline, int *reset, char *err, size_t errlen)
{
    if (c->rpos > 0) {
        memmove(c->rb, c->rb + c->rpos, c->rlen - c->rpos);
        c->rlen -= c->rpos;
        c->rpos = 0;
    }
    if (c->rlen == RB_SIZE) {
        tally_errf(err, errlen, "response header line too long");
        return TALLY_ETOOBIG;
    }
    for (;;) {
        ssize_t n = recv(c->fd, c->rb + c->rlen, RB_SIZE - c->rlen, 0);
        if (n > 0) {
            c->rlen += (size_t)n;
            return (int)n;
        }
        if (n == 0) return 0;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int rc = wait_fd(c->fd, POLLIN, deadline, err, errlen);
            if (rc) return rc;
            continue;
        }
        if (errno == ECONNRESET) *reset = 1;
        tally_errf(err, errlen, "recv: %s", strerror(errno));
        return TALLY_EIO;
    }
}

/* Next CRLF- (or LF-) terminated line, NUL-terminated in place (the line
 * ending is cut off). *got_any is set once any byte has been received. */
static int read_line(struct rpcc *c, char **line, uint64_t deadline, int *eof_early, int *got_any,
                     char *err, size_t errlen)
{
    for (;;) {
        uint8_t *start = c->rb + c->rpos;
        uint8_t *nl = memchr(start, '\n', c->rlen - c->rpos);
        if (nl) {
            size_t len = (size_t)(nl - start);
            if (len > 0 && start[len - 1] == '\r') len--;
            start[len] = '\0';
            c->rpos = (size_t)(nl - c->rb) + 1;
            *line = (char *)start;
            return 0;
        }
        int reset = 0;
        int n = fill(c, deadline, &reset, err, errlen);
        if (n == 0) {
            if (!*got_any) *eof_early = 1;
            tally_errf(err, errlen, "connection closed by server");
            return TALLY_EIO;
        }
        if (n < 0) {
            if (reset && !*got_any) *eof_early = 1;
            return n;
        }
        *got_any = 1;
    }
}

/* Move exactly n body bytes into resp. */
static int read_body_n(struct rpcc *c, struct buf *resp, size_t n, uint64_t deadline, char *err,
                       size_t errlen)
{
    while (n > 0) {
        size_t have = c->rlen - c->rpos;
        if (have == 0) {
            int reset = 0;
            int r = fill(c, deadline, &reset, err, errlen);
            if (r == 0) {
                tally_errf(err, errlen, "connection closed in the middle of a response");
                return TALLY_EIO;
            }
            if (r < 0) return r;
            continue;
        }
        size_t take = have < n ? have : n;
        if (buf_append(resp, c->rb + c->rpos, take) < 0) {
            tally_errf(err, errlen, "response too large (over %zu bytes)", resp->max);
            return TALLY_ETOOBIG;
        }
        c->rpos += take;
        n -= take;
    }
    return 0;
}

static int read_chunked(struct rpcc *c, struct buf *resp, uint64_t deadline, char *err,
                        size_t errlen)
{
    int eof = 0, got = 1;
    for (;;) {
        char *line;
        int rc = read_line(c, &line, deadline, &eof, &got, err, errlen);
        if (rc) return rc;
        char *end;
        errno = 0;
        unsigned long long sz = strtoull(line, &end, 16);
        if (end == line || errno || (*end && *end != ';' && *end != ' ' && *end != '\t')) {
            tally_errf(err, errlen, "bad chunk size line");
            return TALLY_EDECODE;
        }
        if (sz > RPCC_MAX_RESPONSE || resp->len + sz > RPCC_MAX_RESPONSE) {
            tally_errf(err, errlen, "response too large (over %u bytes)", RPCC_MAX_RESPONSE);
            return TALLY_ETOOBIG;
        }
        if (sz == 0) break;
        rc = read_body_n(c, resp, (size_t)sz, deadline, err, errlen);
        if (rc) return rc;
        rc = read_line(c, &line, deadline, &eof, &got, err, errlen);
        if (rc) return rc;
        if (*line) {
            tally_errf(err, errlen, "missing CRLF after chunk");
            return TALLY_EDECODE;
        }
    }
    /* Trailer section: header lines up to an empty line. */
    size_t trailer = 0;
    for (;;) {
        char *line;
        int rc = read_line(c, &line, deadline, &eof, &got, err, errlen);
        if (rc) return rc;
        if (!*line) return 0;
        trailer += strlen(line);
        if (trailer > RPCC_MAX_HEADERS) {
            tally_errf(err, errlen, "chunked trailer too large");
            return TALLY_ETOOBIG;
        }
    }
}

static int read_to_eof(struct rpcc *c, struct buf *resp, uint64_t deadline, char *err,
                       size_t errlen)
{
    for (;;) {
        size_t have = c->rlen - c->rpos;
        if (have) {
            if (resp->len + have > RPCC_MAX_RESPONSE || buf_append(resp, c->rb + c->rpos, have)) {
                tally_errf(err, errlen, "response too large");
                return TALLY_ETOOBIG;
            }
            c->rpos = c->rlen;
        }
        int reset = 0;
        int r = fill(c, deadline, &reset, err, errlen);
        if (r == 0) return 0;
        if (r < 0) return r;
    }
}

/* Read one response. *eof_early: the connection was found closed before any
 * response byte (safe to resend). *keep: the connection may be reused. */
static int read_response(struct rpcc *c, struct buf *resp, uint64_t deadline, int *eof_early,
                         int *keep, char *err, size_t errlen)
{
    int got_any = c->rlen > c->rpos;
    char *line;
    int status = 0, minor = 1;
    for (;;) {
        int rc = read_line(c, &line, deadline, eof_early, &got_any, err, errlen);
        if (rc) return rc;
        int major;
        if (sscanf(line, "HTTP/%d.%d %d", &major, &minor, &status) != 3 || major != 1 ||
            status < 100 || status > 999) {
            tally_errf(err, errlen, "malformed HTTP status line");
            return TALLY_EDECODE;
        }
        /* Skip interim 1xx responses (and their headers). */
        if (status >= 200) break;
        size_t hb = 0;
        do {
            rc = read_line(c, &line, deadline, eof_early, &got_any, err, errlen);
            if (rc) return rc;
            hb += strlen(line);
            if (hb > RPCC_MAX_HEADERS) {
                tally_errf(err, errlen, "response head too large");
                return TALLY_ETOOBIG;
            }
        } while (*line);
    }
    c->last_status = status;
    int chunked = 0, have_cl = 0, conn_close = (minor == 0), conn_keep = 0;
    unsigned long long cl = 0;
    size_t hb = 0;
    for (;;) {
        int rc = read_line(c, &line, deadline, eof_early, &got_any, err, errlen);
        if (rc) return rc;
        if (!*line) break;
        hb += strlen(line);
        if (hb > RPCC_MAX_HEADERS) {
            tally_errf(err, errlen, "response head too large");
            return TALLY_ETOOBIG;
        }
        char *colon = strchr(line, ':');
        if (!colon) {
            tally_errf(err, errlen, "malformed HTTP header line");
            return TALLY_EDECODE;
        }
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t') v++;
        if (!strcasecmp(line, "content-length")) {
            char *end;
            errno = 0;
            cl = strtoull(v, &end, 10);
            if (end == v || errno || (*end && *end != ' ' && *end != '\t')) {
                tally_errf(err, errlen, "bad Content-Length");
                return TALLY_EDECODE;
            }
            have_cl = 1;
        } else if (!strcasecmp(line, "transfer-encoding")) {
            if (strcasestr(v, "chunked")) chunked = 1;
        } else if (!strcasecmp(line, "connection")) {
            if (strcasestr(v, "close")) conn_close = 1;
            if (strcasestr(v, "keep-alive")) conn_keep = 1;
        }
    }
    if (minor == 0 && conn_keep) conn_close = 0;
    resp->len = 0;
    int rc;
    if (status == 204 || status == 304) {
        rc = 0;
    } else if (chunked) {
        rc = read_chunked(c, resp, deadline, err, errlen);
    } else if (have_cl) {
        size_t max = resp->max < RPCC_MAX_RESPONSE ? resp->max : RPCC_MAX_RESPONSE;
        if (cl > max) {
            tally_errf(err, errlen, "response too large (%llu bytes, limit %zu)", cl, max);
            return TALLY_ETOOBIG;
        }
        rc = read_body_n(c, resp, (size_t)cl, deadline, err, errlen);
    } else {
        conn_close = 1;
        rc = read_to_eof(c, resp, deadline, err, errlen);
    }
    *keep = !conn_close;
    return rc;
}

int rpcc_post(struct rpcc *c, struct buf *resp, const char *body, size_t len, char *err,
              size_t errlen)
{
    uint64_t deadline = now_ms() + (uint64_t)c->timeout_ms;
    c->last_status = 0;
    resp->len = 0;
    c->head.len = 0;
    if (buf_printf(&c->head,
                   "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: tally-cli\r\n"
                   "Content-Type: application/json\r\nAccept: application/json\r\n"
                   "Content-Length: %zu\r\n\r\n",
                   c->path, c->hosthdr, len) < 0) {
        tally_errf(err, errlen, "request head too large");
        return TALLY_ENOMEM;
    }
    for (int attempt = 0;; attempt++) {
        int reused = 0;
        if (c->fd >= 0) {
            if (conn_stale(c))
                conn_drop(c);
            else
                reused = 1;
        }
        if (c->fd < 0) {
            int rc = conn_open(c, deadline, err, errlen);
            if (rc) return rc;
        }
        struct iovec iov[2] = {{c->head.p, c->head.len}, {(void *)body, len}};
        int peer_closed = 0, eof_early = 0, keep = 0;
        int rc = send_iov(c, iov, len ? 2 : 1, deadline, &peer_closed, err, errlen);
        if (rc == 0)
            rc = read_response(c, resp, deadline, &eof_early, &keep, err, errlen);
        else
            eof_early = peer_closed;
        if (rc == 0) {
            if (!keep) conn_drop(c);
            if (c->last_status != 200) {
                size_t show = resp->len < 200 ? resp->len : 200;
                tally_errf(err, errlen, "HTTP %d: %.*s", c->last_status, (int)show,
                           resp->p ? (const char *)resp->p : "");
                return TALLY_EIO;
            }
            return 0;
        }
        conn_drop(c);
        if (!(reused && eof_early && attempt == 0)) return rc;
        /* The server closed the idle keep-alive connection: resend once. */
    }
}

/* ---- JSON-RPC ----------------------------------------------------------- */

/* Report a JSON-RPC error object; returns TALLY_EINVAL. */
static int report_rpc_error(struct rpcc *c, const cJSON *eobj, char *err, size_t errlen)
{
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(eobj, "code");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(eobj, "message");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(eobj, "data");
    c->last_errcode = cJSON_IsNumber(code) ? (int)code->valuedouble : -32603;
    if (c->last_errcode == RPCC_ERRCODE_NONE) c->last_errcode = -32603;
    const char *m = cJSON_IsString(msg) ? msg->valuestring : "unknown error";
    if (cJSON_IsString(data) && data->valuestring[0])
        tally_errf(err, errlen, "%s (%s)", m, data->valuestring);
    else
        tally_errf(err, errlen, "%s", m);
    return TALLY_EINVAL;
}

int rpcc_call(struct rpcc *c, cJSON **result, const char *method, cJSON *params, char *err,
              size_t errlen)
{
    *result = NULL;
    c->last_errcode = RPCC_ERRCODE_NONE;
    if (!params) params = cJSON_CreateArray();
    cJSON *req = cJSON_CreateObject();
    if (!req || !params) {
        cJSON_Delete(req);
        cJSON_Delete(params);
        tally_errf(err, errlen, "out of memory");
        return TALLY_ENOMEM;
    }
    uint64_t id = c->next_id++;
    cJSON_AddStringToObject(req, "jsonrpc", "2.0");
    cJSON_AddNumberToObject(req, "id", (double)id);
    cJSON_AddStringToObject(req, "method", method);
    cJSON_AddItemToObject(req, "params", params);
    char *body = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    if (!body) {
        tally_errf(err, errlen, "out of memory");
        return TALLY_ENOMEM;
    }
    struct buf resp;
    buf_init(&resp, RPCC_MAX_RESPONSE);
    int rc = rpcc_post(c, &resp, body, strlen(body), err, errlen);
    free(body);
    /* A transport error ends the call; an HTTP error status may still carry
     * a JSON-RPC error object worth reporting. */
    if (rc && !(rc == TALLY_EIO && c->last_status != 0 && c->last_status != 200)) {
        buf_free(&resp);
        return rc;
    }
    cJSON *doc = cJSON_ParseWithLength((const char *)resp.p, resp.len);
    if (!doc) {
        buf_free(&resp);
        if (rc) return rc; /* non-200 without a JSON body: keep the HTTP error */
        tally_errf(err, errlen, "response is not valid JSON");
        return TALLY_EDECODE;
    }
    buf_free(&resp);
    const cJSON *eobj = cJSON_GetObjectItemCaseSensitive(doc, "error");
    if (cJSON_IsObject(eobj)) {
        rc = report_rpc_error(c, eobj, err, errlen);
        cJSON_Delete(doc);
        return rc;
    }
    if (rc) { /* non-200 with a JSON body that is not an error object */
        cJSON_Delete(doc);
        return rc;
    }
    const cJSON *rid = cJSON_GetObjectItemCaseSensitive(doc, "id");
    if (!cJSON_IsNumber(rid) || (uint64_t)rid->valuedouble != id) {
        tally_errf(err, errlen, "response id does not match request id %" PRIu64, id);
        cJSON_Delete(doc);
        return TALLY_EDECODE;
    }
    cJSON *res = cJSON_DetachItemFromObjectCaseSensitive(doc, "result");
    cJSON_Delete(doc);
    if (!res) {
        tally_errf(err, errlen, "response has neither result nor error");
        return TALLY_EDECODE;
    }
    *result = res;
    return 0;
}

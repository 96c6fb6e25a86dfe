/* A small blocking JSON-RPC 2.0 client over one HTTP/1.1 keep-alive TCP
 * connection (used by the tally CLI commands and tally bench). No external
 * HTTP library: requests are written with send(), responses parsed here
 * (Content-Length and chunked bodies), every wait is bounded by poll() with
 * a timeout. One struct rpcc belongs to one thread at a time. */
#ifndef TALLY_CLI_RPCCLIENT_H
#define TALLY_CLI_RPCCLIENT_H
#include <stddef.h>
#include <cJSON.h>
#include "util/buf.h"
#include "util/err.h"

#define RPCC_MAX_RESPONSE (64u * 1024 * 1024) /* bytes of response body accepted */
#define RPCC_MAX_HEADERS  (64u * 1024)        /* bytes of response head accepted */
#define RPCC_TIMEOUT_MS   30000               /* default per-request timeout */
#define RPCC_ERRCODE_NONE 0                   /* rpcc_last_error_code: no JSON-RPC error */

struct rpcc;

/* Parse url ("http://HOST[:PORT][/PATH]", HOST may be a name, an IPv4
 * address or a bracketed IPv6 address; PORT defaults to 80, PATH to "/") and
 * create a client. The TCP connection is opened lazily by the first request.
 * *out is owned by the caller; free with rpcc_close.
 * Errors: TALLY_EINVAL (bad url, with the reason in err), TALLY_ENOMEM. */
TALLY_WUR int rpcc_open(struct rpcc **out, const char *url, char *err, size_t errlen);

/* Close the connection and free the client. NULL is ignored. */
void rpcc_close(struct rpcc *c);

/* Set the timeout for one whole request (connect + send + receive), in
 * milliseconds; default RPCC_TIMEOUT_MS. */
void rpcc_set_timeout(struct rpcc *c, int timeout_ms);

/* One JSON-RPC call. params is consumed (owned by the call, freed in all
 * cases); NULL means []. On success *result is the "result" member, detached
 * and owned by the caller (cJSON_Delete); it may be a JSON null.
 * Errors: TALLY_EINVAL — the server answered with a JSON-RPC error object;
 *         its message is in err and its code in rpcc_last_error_code();
 *         TALLY_EIO (connect/send/receive failure, timeout, HTTP status other
 *         than 200), TALLY_EDECODE (malformed HTTP or JSON response, wrong
 *         id), TALLY_ETOOBIG (response over RPCC_MAX_RESPONSE), TALLY_ENOMEM.
 * err gets a human reason for every error. */
TALLY_WUR int rpcc_call(struct rpcc *c, cJSON **result, const char *method, cJSON *params,
                        char *err, size_t errlen);

/* Raw POST of a JSON body (e.g. a batch) to the URL's path. The response
 * body replaces the contents of resp (the caller initialised it with
 * buf_init; its max and RPCC_MAX_RESPONSE both bound it; it is not NUL
 * terminated). If the keep-alive connection turns out to have been closed by
 * the server before any response byte arrived, it reconnects and resends
 * once. On an HTTP status other than 200 the body is still stored in resp.
 * Errors: TALLY_EIO (connect/send/receive failure, timeout, HTTP status other
 * than 200 — see rpcc_last_status), TALLY_EDECODE (malformed HTTP),
 * TALLY_ETOOBIG (response larger than the bounds), TALLY_ENOMEM. */
TALLY_WUR int rpcc_post(struct rpcc *c, struct buf *resp, const char *body, size_t len, char *err,
                        size_t errlen);

/* HTTP status of the last response (0 if none arrived). */
int rpcc_last_status(const struct rpcc *c);

/* JSON-RPC error code of the last rpcc_call that failed with TALLY_EINVAL
 * (e.g. -32000), RPCC_ERRCODE_NONE otherwise. */
int rpcc_last_error_code(const struct rpcc *c);

/* The URL the client was opened with (static storage of the client). */
const char *rpcc_url(const struct rpcc *c);

#endif

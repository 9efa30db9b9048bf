/*
 * Many small HTTP requests at once, on the calling thread.
 *
 * The controllers probe every engine each period (up to ~1,000 of them),
 * poll stream stats and ask Gluetun about the tunnel. One libcurl multi
 * handle drives all of those requests from one thread: no thread per
 * engine, and a hung engine costs one socket and its own timeout, never a
 * worker. The others complete and are reported as they finish.
 *
 * A batch (orch_http_batch) keeps the multi handle, and with it libcurl's
 * connection cache, plus a pool of easy handles, from one run to the next:
 * a controller that probes the same engines every period reuses their
 * keep-alive connections instead of reconnecting 1,000 times.
 *
 * Requests are plain structs owned by the caller; the batch fills their
 * out-fields. No libcurl header leaks through this one.
 *
 * Threads: a batch is used by one thread at a time (the one calling
 * orch_http_batch_run); distinct batches are independent. Completion
 * callbacks run on that same thread, from inside orch_http_batch_run.
 */
#ifndef ORCH_PROBE_HTTP_MULTI_H
#define ORCH_PROBE_HTTP_MULTI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/base/buf.h"
#include "src/base/err.h"

/* Response bodies larger than this fail with "body too large". */
#define ORCH_HTTP_MAX_BODY (64 * 1024)
/* Total time of a request whose timeout_ms is <= 0 (CONTRACT "Health"). */
#define ORCH_HTTP_DEFAULT_TIMEOUT_MS 5000
/* Connect timeout of a request whose connect_timeout_ms is <= 0 (capped
 * by its total timeout). */
#define ORCH_HTTP_DEFAULT_CONNECT_MS 2000
/* Idle connections a batch keeps for reuse, unless its options say. */
#define ORCH_HTTP_DEFAULT_MAX_CONNS 1024
/* Size of orch_http_req.error, including the NUL. */
#define ORCH_HTTP_ERROR_MAX 256

typedef struct orch_http_batch orch_http_batch;

/*
 * One request. The caller fills the "in" fields, zeroes the rest once
 * (ORCH_HTTP_REQ_INIT or memset), and may reuse the struct for the next
 * run: `body` keeps its memory between runs. Release with
 * orch_http_req_fini().
 */
typedef struct orch_http_req {
	/* in; the strings are borrowed until orch_http_batch_run returns */
	const char *url;       /* http:// or https:// only */
	const char *method;    /* NULL = "GET"; else "PUT", "POST", "DELETE" */
	const char *send;      /* request body, NULL = none */
	size_t send_len;       /* bytes of send */
	const char *send_type; /* Content-Type of send; NULL = JSON */
	int timeout_ms;        /* total; <= 0: ORCH_HTTP_DEFAULT_TIMEOUT_MS */
	int connect_timeout_ms; /* <= 0: ORCH_HTTP_DEFAULT_CONNECT_MS */
	/* Extra request header lines ("Name: value"), NULL-terminated;
	 * NULL = none. */
	const char *const *headers;
	/* HTTP basic auth when username is not NULL. */
	const char *username;
	const char *password;
	void *user; /* the caller's; never touched */

	/* out, set by every run for every request */
	orch_err err;  /* ORCH_OK: a complete response arrived (any
	                  status); ORCH_ETIMEDOUT: timeout_ms passed;
	                  ORCH_EUNAVAIL: could not connect, or the
	                  connection failed; ORCH_EEXHAUSTED: body too
	                  large; ORCH_EINVAL: bad url/method; other codes
	                  for anything else */
	long status;   /* HTTP status of the response line, when one
	                  arrived (also when the transfer then failed,
	                  e.g. body too large); 0 when none */
	int curl_code; /* libcurl's CURLcode, for logs; 0 on success */
	char error[ORCH_HTTP_ERROR_MAX]; /* why, "" when err == ORCH_OK */
	orch_buf body;      /* the response body (NUL-terminated when len>0) */
	int64_t elapsed_ms; /* from its start to its completion */
	int new_conns;      /* connections it opened (0 = reused one) */
	bool done;          /* completed in the last run */
} orch_http_req;

#define ORCH_HTTP_REQ_INIT                                                    \
	{                                                                     \
		.body = ORCH_BUF_INIT                                         \
	}

/* Frees req->body. The req is reusable afterwards. */
void orch_http_req_fini(orch_http_req *req);

/*
 * Called once per request, on the calling thread, as soon as it completes
 * (in completion order, not array order). `index` is its position in the
 * array. The callback may read and keep results, but must not block, and
 * must not run the same batch again (that returns ORCH_EPRECOND).
 */
typedef void (*orch_http_done_fn)(void *arg, orch_http_req *req, size_t index);

typedef struct orch_http_opts {
	size_t max_body;        /* 0: ORCH_HTTP_MAX_BODY; at most 1 GiB */
	int max_conns;          /* idle connections kept; 0: the default */
	const char *user_agent; /* NULL: "orchestrator-probe" (copied) */
} orch_http_opts;

/*
 * Creates a batch. opts may be NULL (defaults). ORCH_ENOMEM, or
 * ORCH_EINTERNAL when libcurl cannot be initialised. Initialises libcurl
 * globally once per process (never cleaned up).
 */
orch_err orch_http_batch_open(
    orch_http_batch **out, const orch_http_opts *opts);

/* Closes every connection and frees the batch. NULL is a no-op. */
void orch_http_batch_close(orch_http_batch *b);

/*
 * Runs reqs[0..n) concurrently, at most max_parallel in flight at a time
 * (<= 0: all n at once), and returns once every one has completed. Each
 * request's own timeout bounds it alone: with all n in flight, a hung
 * server delays only its own request. With max_parallel < n a hung request
 * holds one of the slots until its timeout; the others keep cycling
 * through the remaining slots.
 *
 * done (may be NULL) is called once per request as it completes.
 *
 * Returns ORCH_OK once all have run (each request's err tells how it
 * went; a bad request fails alone with ORCH_EINVAL); ORCH_EINVAL when b is
 * NULL or reqs is NULL with n > 0; ORCH_EPRECOND when called from inside
 * one of this batch's callbacks. If libcurl's multi handle itself fails
 * (out of memory), the requests still pending complete with that error
 * and it is returned; the batch stays usable.
 */
orch_err orch_http_batch_run(orch_http_batch *b, orch_http_req *reqs, size_t n,
    int max_parallel, orch_http_done_fn done, void *arg);

/* One-shot: a temporary batch with default options, run once, closed. */
orch_err orch_http_run(orch_http_req *reqs, size_t n, int max_parallel,
    orch_http_done_fn done, void *arg);

#endif

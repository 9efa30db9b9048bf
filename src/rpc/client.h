/*
 * RPC client library: calls methods of the Orchestrator service over an nng
 * REQ socket, synchronously or with a completion callback, each call with
 * its own deadline. Thread-safe: any number of threads may call at once;
 * each in-flight call uses its own REQ context.
 *
 * Deadlines travel to the server as a relative timeout; the server skips a
 * slow call whose caller has stopped waiting. REQ's own resend timer is
 * disabled: a deadline, not a resend, decides when a call has failed.
 */
#ifndef ORCH_RPC_CLIENT_H
#define ORCH_RPC_CLIENT_H

#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "proto/orchestrator.pb-c.h"
#include "src/base/err.h"

typedef struct orch_rpc_client orch_rpc_client;

/* The outcome of one call. Release with orch_rpc_result_fini(). */
typedef struct orch_rpc_result {
	/* ORCH_OK, the server's status, or a local failure: ORCH_ETIMEDOUT
	 * when the deadline passed, ORCH_ECLOSED when the client closed. */
	orch_err status;
	char *message;             /* owned; NULL when none */
	Orch__ErrorDetail *detail; /* owned; NULL when none */
	ProtobufCMessage *reply; /* owned; the method's reply type, when OK */
} orch_rpc_result;

void orch_rpc_result_fini(orch_rpc_result *res);

typedef struct orch_rpc_call_opts {
	const char *authorization; /* sent verbatim; NULL for none */
	uint32_t timeout_ms;       /* 0 = ORCH_RPC_DEFAULT_TIMEOUT_MS */
} orch_rpc_call_opts;

#define ORCH_RPC_DEFAULT_TIMEOUT_MS 10000u

/*
 * Opens a client and dials url in the background (the server may start
 * later; calls wait for it up to their deadline). *out is the caller's.
 */
orch_err orch_rpc_client_open(const char *url, orch_rpc_client **out);

/*
 * Closes the client. Calls in flight complete with ORCH_ECLOSED (their
 * callbacks run) before it returns. Safe with c NULL.
 */
void orch_rpc_client_close(orch_rpc_client *c);

/*
 * Calls method with req (the method's input type; not taken) and waits.
 * Fills *res (always, even on failure) and returns res->status.
 */
orch_err orch_rpc_invoke(orch_rpc_client *c, const char *method,
    const ProtobufCMessage *req, const orch_rpc_call_opts *opts,
    orch_rpc_result *res);

/*
 * Completion callback of an asynchronous call. Runs on an nng thread and
 * must not block; res is the callee's to release with orch_rpc_result_fini.
 */
typedef void (*orch_rpc_done_fn)(void *arg, orch_rpc_result *res);

/*
 * Starts a call and returns at once. done runs exactly once when ORCH_OK is
 * returned; on any other return it never runs.
 */
orch_err orch_rpc_invoke_async(orch_rpc_client *c, const char *method,
    const ProtobufCMessage *req, const orch_rpc_call_opts *opts,
    orch_rpc_done_fn done, void *arg);

/*
 * Sends raw bytes as a request frame and waits for the raw reply frame: for
 * tests of the server's handling of bad frames. *reply is malloc'd.
 */
orch_err orch_rpc_invoke_raw(orch_rpc_client *c, const uint8_t *frame,
    size_t len, uint32_t timeout_ms, uint8_t **reply, size_t *reply_len);

#endif

/*
 * The handler interface: what an RPC method handler sees of the call it
 * answers, and the row that declares a method in the service's table.
 *
 * Why it lives here and not in src/rpc: the handlers (src/service) sit
 * below the transports (src/rpc's nng server and its direct in-process
 * path, used by the gateway). A transport embeds an orch_call at the start
 * of its own per-call state and gives it an `answer` operation; the
 * handlers only ever talk to this interface, so they never include an nng
 * or h2o header and a new transport needs no handler change.
 *
 * The method row carries the method's lane (FAST: runs on the caller's
 * thread, may take the core's short lock, never blocks; BLOCKING and
 * PROVISION: run on a worker of that lane) and its auth class. The transport
 * judges the caller's Authorization against the class *before* it dispatches
 * and before a BLOCKING call is queued (orch_authorize_fn), so no handler
 * begins with an auth check and a key-less call never reaches a worker.
 */
#ifndef ORCH_SERVICE_CALL_H
#define ORCH_SERVICE_CALL_H

#include <stdbool.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "proto/orchestrator.pb-c.h"
#include "src/base/diag.h"
#include "src/base/err.h"
#include "src/core/auth.h"

typedef struct orch_call orch_call;

/*
 * A transport's answer. Called at most once per call (orch_call_* below
 * keep the first answer). message is NULL on OK; detail may be NULL;
 * payload is the reply on OK, NULL otherwise. Everything is borrowed for
 * the duration of the call: the transport packs or copies what it keeps.
 */
typedef void (*orch_call_answer_fn)(orch_call *call, orch_err status,
    const char *message, const Orch__ErrorDetail *detail,
    const ProtobufCMessage *payload);

/* One in-flight call. Owned by the transport; valid from the handler's
 * call until it has answered. */
struct orch_call {
	orch_call_answer_fn answer;
	const char *method;        /* "ListEngines" */
	const char *authorization; /* the caller's value, NULL when none */
	int64_t deadline_ms;       /* monotonic; 0 = the caller set none */
	int64_t received_ms;       /* monotonic, when the transport got it */
	bool answered;
};

/*
 * A method handler. arg is the transport's handler argument (the
 * orch_service), req the unpacked request (the transport's, valid until
 * the handler returns). The handler answers with exactly one of the
 * functions below before returning; a transport answers INTERNAL for a
 * handler that said nothing.
 */
typedef void (*orch_method_fn)(
    void *arg, orch_call *call, const ProtobufCMessage *req);

/*
 * Where a method runs. The two blocking lanes have their own workers and
 * their own bounded queues, so slow reads of Docker (inspections, label
 * searches) can never hold a provision up, and a flood of either is
 * refused (RESOURCE_EXHAUSTED) instead of queueing without end.
 */
typedef enum orch_lane {
	ORCH_LANE_FAST = 0,      /* on the caller's thread: never blocks */
	ORCH_LANE_BLOCKING = 1,  /* on a worker thread */
	ORCH_LANE_PROVISION = 2, /* on a provisioning worker thread */
} orch_lane;

#define ORCH_LANE_COUNT 3

/* One row of a method table. */
typedef struct orch_method {
	const char *name; /* as declared in the service, e.g. "ListEngines" */
	orch_method_fn fn;
	orch_lane lane;
	orch_auth_class auth;
} orch_method;

/*
 * Judges a caller's Authorization value for a method of class cls:
 * ORCH_OK, or ORCH_EUNAUTH / ORCH_EPERM with why's message saying why.
 * Must not block (it runs before dispatch, on the caller's thread).
 */
typedef orch_err (*orch_authorize_fn)(
    void *arg, orch_auth_class cls, const char *authorization, orch_diag *why);

/* Replies OK with reply (borrowed: the transport packs or copies it). */
void orch_call_reply(orch_call *call, const ProtobufCMessage *reply);

/* Replies with an error status and a printf-style message. */
void orch_call_fail(orch_call *call, orch_err status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* INVALID_ARGUMENT about one request field (named in the detail). */
void orch_call_fail_field(orch_call *call, const char *field, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

/* An error with a structured detail (e.g. a provisioning refusal). */
void orch_call_fail_detail(orch_call *call, orch_err status,
    const Orch__ErrorDetail *detail, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Replies with d's status and message, naming d->field when set (then
 * always INVALID_ARGUMENT's detail shape). */
void orch_call_fail_diag(orch_call *call, orch_err status, const orch_diag *d);

#endif

/*
 * RPC server: an nng REP socket served by several contexts at once, a
 * dispatch table of methods, and a worker pool for handlers that may block.
 *
 * Each context is a small state machine (receive -> dispatch -> send ->
 * receive), after nng's demo/async/server.c. A FAST handler runs in the nng
 * callback and must not block (it may take a short lock); a BLOCKING handler
 * runs on a worker thread, and the reply is sent from that thread. The nng
 * callback never blocks.
 *
 * The server knows nothing of the methods' meaning: it unpacks the request
 * with the input type the service descriptor declares, judges the caller's
 * Authorization against the row's auth class (opts.authorize), calls the
 * handler, and packs whatever reply message the handler gives. Handlers
 * see only src/service/call.h's interface: each call's state embeds an
 * orch_call whose `answer` packs the reply envelope.
 */
#ifndef ORCH_RPC_SERVER_H
#define ORCH_RPC_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "proto/orchestrator.pb-c.h"
#include "src/base/err.h"
#include "src/service/call.h"

typedef struct orch_rpc_server orch_rpc_server;

#define ORCH_RPC_QUEUE_MAX 64

typedef struct orch_rpc_server_opts {
	const ProtobufCServiceDescriptor *service; /* required */
	const orch_method *methods; /* required, n_methods rows */
	size_t n_methods;
	void *arg; /* passed to every handler and to authorize */
	/* Judges a call before dispatch (and before a BLOCKING call is
	 * queued); required when a row's auth class is not OPEN. A refused
	 * call is answered with its status and never reaches a handler. */
	orch_authorize_fn authorize;
	int contexts;          /* requests served at once; default 64 */
	int workers;           /* threads for BLOCKING handlers; default 4 */
	int provision_workers; /* threads for PROVISION handlers; default 4 */
	/* Calls waiting for a worker, per lane; beyond it a call is answered
	 * RESOURCE_EXHAUSTED at once. Default ORCH_RPC_QUEUE_MAX. */
	int queue_max;
	size_t max_frame; /* bytes; default ORCH_RPC_MAX_FRAME */
} orch_rpc_server_opts;

/*
 * Creates a server and starts its workers; no socket listens yet. Every
 * method row must name a method of the service, and authorize must be set
 * when a row needs auth (else ORCH_EINVAL). The
 * table and service must outlive the server. *out is the caller's, closed
 * with orch_rpc_server_close().
 */
orch_err orch_rpc_server_open(
    const orch_rpc_server_opts *opts, orch_rpc_server **out);

/*
 * Listens on an nng URL (inproc://, ipc://, tcp://). May be called several
 * times for several URLs; the contexts start receiving on the first call.
 */
orch_err orch_rpc_server_listen(orch_rpc_server *srv, const char *url);

/*
 * Stops serving and frees everything. Calls in flight are abandoned (their
 * callers see DEADLINE_EXCEEDED or a closed connection); handlers already
 * running finish first. Safe with srv NULL.
 */
void orch_rpc_server_close(orch_rpc_server *srv);

/*
 * Direct calls: the same dispatch table, auth check and handlers without a
 * socket, for a client in the same process (the gateway). done runs
 * exactly once with
 * the handler's answer: status, message (NULL on OK), detail (may be NULL)
 * and, on OK, the reply message *unpacked and borrowed*: it and everything
 * it points into are valid only while done runs (the handler may still
 * hold the core's lock), so done copies or serializes what it needs and
 * must not block or call back into the server.
 *
 * A call the auth check refuses, and a FAST method, are answered on the
 * caller's thread: done has run when this returns; req stays the caller's. A
 * BLOCKING method is queued to the worker pool with a private copy of req, and
 * done runs on a worker thread (with ORCH_ECLOSED if the server closes first).
 * Returns ORCH_ENOTSUP for a method not in the table, ORCH_EINVAL when req is
 * not the method's input type, ORCH_ECLOSED when the server is closing,
 * ORCH_ENOMEM; done never runs then. Must not race
 * orch_rpc_server_close() for FAST methods (the caller owns that
 * ordering, as it owns the server).
 */
typedef void (*orch_rpc_direct_fn)(void *arg, orch_err status,
    const char *message, const Orch__ErrorDetail *detail,
    const ProtobufCMessage *reply);

orch_err orch_rpc_server_call(orch_rpc_server *srv, const char *method,
    const char *authorization, uint32_t timeout_ms,
    const ProtobufCMessage *req, orch_rpc_direct_fn done, void *arg);

/*
 * Judges authorization for method exactly as a call would (the row's auth
 * class, opts.authorize) without calling anything: ORCH_OK, ORCH_EUNAUTH
 * or ORCH_EPERM, ORCH_ENOTSUP for a method the table does not serve. For
 * an in-process client that answers some reads from bytes it rendered
 * before (the gateway's pre-rendered reads): a refused caller is then
 * sent through orch_rpc_server_call() for the refusal's answer. Any
 * thread; never blocks.
 */
orch_err orch_rpc_server_authorize(
    orch_rpc_server *srv, const char *method, const char *authorization);

#endif

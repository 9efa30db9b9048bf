/*
 * The REST gateway: h2o event loops (one per thread, each with its own
 * SO_REUSEPORT listener) translating CONTRACT.md's HTTP/JSON surface into
 * RPC calls through the route table (routes.h), the JSON transcoder
 * (src/json: pbparse in, pbjson out) and the status table. It holds no
 * orchestration state and judges nothing: the Authorization header goes
 * to the core in the call.
 *
 * Backends: in-process (direct calls into the RPC server's dispatch
 * table: FAST methods run on the loop thread under the core's short lock
 * and answer before the handler returns; BLOCKING ones run on the RPC
 * workers) or remote (an nng REQ client; `orchestrator-gateway
 * --rpc-connect URL`). Either way a reply that arrives on another thread
 * is serialized there and handed to the owning loop through h2o's
 * multithread queue; the loop never waits for a reply. A client that
 * leaves before its reply is detected through the request pool's dispose
 * callback, and the late reply is dropped.
 *
 * Reads the proxies and dashboards poll (GET /engines, /orchestrator/status,
 * /health/status, /vpn/status, /streams?status=started) are pre-rendered
 * with the in-process backend: the first request after a change of state
 * calls and renders; later ones are answered from that body, after the
 * same auth check, with no call and no copy (snap.h).
 */
#ifndef ORCH_GATEWAY_GATEWAY_H
#define ORCH_GATEWAY_GATEWAY_H

#include <stdint.h>

#include "src/base/err.h"
#include "src/rpc/client.h"
#include "src/rpc/server.h"

typedef struct orch_gw orch_gw;

typedef struct orch_gw_opts {
	const char *host;         /* APP_HOST */
	int port;                 /* APP_PORT; 0 = kernel's choice */
	int threads;              /* event loops; 0 = one per CPU */
	const char *cors_origins; /* CORS_ORIGINS ("*" or a comma list) */
	/* Exactly one backend: */
	orch_rpc_server *direct; /* in-process */
	const char *rpc_connect; /* remote nng URL */
	uint32_t timeout_ms;     /* per call; 0 = 30 s */
	/*
	 * Pre-rendered reads (routes.h `snap`, snap.h), with the in-process
	 * backend only: the state's version (orch_core_generation; any
	 * thread, never blocks for long). A snap route's 200 rendered while
	 * this returned g is served, from the same bytes, to every
	 * authorized request while it returns g. NULL: every read calls.
	 */
	uint64_t (*generation)(void *arg);
	void *generation_arg;
} orch_gw_opts;

/* Binds, starts the loops. *out is the caller's (orch_gw_stop). */
orch_err orch_gw_start(const orch_gw_opts *opts, orch_gw **out);

/* The port actually bound (useful with port 0). */
int orch_gw_port(const orch_gw *gw);

/*
 * Stop, step one (optional): new requests are answered 503 "shutting
 * down"; requests already calling keep their call. Returns once no loop
 * thread is inside a direct call into the server, so the process may
 * close its RPC server next (which answers queued calls at once) before
 * orch_gw_stop() waits for their answers. NULL no-op.
 */
void orch_gw_quiesce(orch_gw *gw);

/*
 * Quiesces, closes the remote client (its calls in flight fail), waits up
 * to 10 s with the loops running until every call started has been
 * answered to its client (or dropped, for a client gone), then stops the
 * loops and frees everything. A call still running after the wait would
 * answer into freed memory: the gateway is then left allocated for the
 * process exit. NULL no-op.
 */
void orch_gw_stop(orch_gw *gw);

#endif

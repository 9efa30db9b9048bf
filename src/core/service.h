/*
 * The core's RPC service: the dispatch table of every method the core
 * answers, for src/rpc's server (arg = the orch_core *). Each handler
 * checks the caller's Authorization (src/core/auth.h: reads need
 * READ_API_KEY or API_KEY when READ_API_KEY is set, mutations need API_KEY
 * when set), validates the request naming the offending field
 * (INVALID_ARGUMENT, state unchanged), then reads or changes the state
 * under the core's lock and replies before unlocking. All are FAST: none
 * blocks (the lock guards in-memory work only).
 *
 * Methods that need the Docker runtime (ProvisionEngine, Scale, ...) are
 * not in this table: the runtime adds them (src/runtime); until then the
 * server answers UNIMPLEMENTED.
 */
#ifndef ORCH_CORE_SERVICE_H
#define ORCH_CORE_SERVICE_H

#include <stdbool.h>
#include <stddef.h>

#include "src/rpc/server.h"

struct orch_core;
struct orch_refusal;

/* The method table; rows valid for the program's life. */
const orch_rpc_method *orch_core_methods(size_t *n);

/*
 * Judges the caller's Authorization for a method of class cls (an
 * orch_auth_class) against the core's API keys; on refusal replies
 * UNAUTHENTICATED or PERMISSION_DENIED and returns false. Shared with the
 * runtime's handlers (src/engines/service.c).
 */
bool orch_core_authorize(struct orch_core *core, orch_rpc_call *call,
    int cls);

/* The structured provisioning refusal as its protobuf message (m's
 * strings are static). */
void orch_refusal_pb(const struct orch_refusal *r,
    Orch__ProvisioningRefusal *m);

/* Default `limit` of ListStreams (active streams are never cut by it). */
#define ORCH_LIST_STREAMS_DEFAULT 1000
#define ORCH_LIST_STREAMS_MAX 1000000

#endif

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

#include <stddef.h>

#include "src/rpc/server.h"

/* The method table; rows valid for the program's life. */
const orch_rpc_method *orch_core_methods(size_t *n);

/* Default `limit` of ListStreams (active streams are never cut by it). */
#define ORCH_LIST_STREAMS_DEFAULT 1000
#define ORCH_LIST_STREAMS_MAX 1000000

#endif

/*
 * A stand-in handler set for the Orchestrator service, so the spine can be
 * run and exercised end to end before the core exists: it answers Ping and
 * the read methods from an empty, in-memory state (no engines, no streams)
 * and reports every other method UNIMPLEMENTED. It is replaced by the core's
 * handlers (src/core) when that lands; nothing else depends on it.
 */
#ifndef ORCH_CMD_STUB_SERVICE_H
#define ORCH_CMD_STUB_SERVICE_H

#include <stddef.h>

#include "src/rpc/server.h"

/* The method table (static storage) and its length. The handlers' arg
 * (orch_rpc_server_opts.arg) must be the loaded `const orch_config *`. */
const orch_rpc_method *orch_stub_methods(size_t *n);

#endif

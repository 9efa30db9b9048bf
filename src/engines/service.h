/*
 * The RPC handlers that need Docker: ProvisionEngine, ProvisionContainer,
 * Scale, CollectGarbage, DeleteContainer, InspectContainer, FindByLabel.
 * All BLOCKING (they run on the RPC server's workers). arg is the
 * orch_core, whose `runtime` is the orch_mgr; with no manager they answer
 * UNAVAILABLE. Auth and validation as in src/core/service.h.
 */
#ifndef ORCH_ENGINES_SERVICE_H
#define ORCH_ENGINES_SERVICE_H

#include <stddef.h>

#include "src/rpc/server.h"

const orch_rpc_method *orch_engines_methods(size_t *n);

#endif

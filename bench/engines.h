/*
 * Engines put straight into a core's state, as the engine manager would
 * report a container it provisioned (src/engines/plan.c's labels), for the
 * benchmarks that need many engines and no containers (http_server,
 * scale).
 */
#ifndef ORCH_BENCH_ENGINES_H
#define ORCH_BENCH_ENGINES_H

#include <stdint.h>

#include "src/core/core.h"

#define BENCH_CONTAINER_HTTP_PORT 6878
#define BENCH_CONTAINER_HTTPS_PORT 6879

/* splitmix64's finalizer: distinct, well-spread values for distinct x. */
uint64_t bench_mix64(uint64_t x);

/* A Docker-like container id (64 hex digits) for n, distinct per n. */
void bench_engine_id(uint64_t n, char out[65]);

/*
 * Engine acestream-<number> with id bench_engine_id(seed), advertised and
 * published on 127.0.0.1:port, running, health unknown. The core's lock
 * must be held. The engine, or NULL when the core refused it.
 */
orch_engine *bench_put_engine_locked(
    orch_core *core, uint64_t seed, int number, int port);

#endif

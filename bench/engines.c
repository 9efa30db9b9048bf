#include "bench/engines.h"

#include <stdio.h>

uint64_t
bench_mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

void
bench_engine_id(uint64_t n, char out[65])
{
	uint64_t b = n * 4;

	snprintf(out, 65, "%016llx%016llx%016llx%016llx",
	    (unsigned long long) bench_mix64(b),
	    (unsigned long long) bench_mix64(b + 1),
	    (unsigned long long) bench_mix64(b + 2),
	    (unsigned long long) bench_mix64(b + 3));
}

orch_engine *
bench_put_engine_locked(orch_core *core, uint64_t seed, int number, int port)
{
	const orch_config *cfg = orch_core_config(core);
	char id[65], name[32], http[16], https[16], host_http[16];
	/* The labels the engine manager gives a container it provisions. */
	orch_label labels[4] = {
	    {cfg->container_label_key, cfg->container_label_value},
	    {"acestream.http_port", http},
	    {"acestream.https_port", https},
	    {"host.http_port", host_http},
	};
	orch_engine_spec spec = {0};
	orch_engine *e = NULL;

	bench_engine_id(seed, id);
	snprintf(name, sizeof(name), "acestream-%d", number);
	snprintf(http, sizeof(http), "%d", BENCH_CONTAINER_HTTP_PORT);
	snprintf(https, sizeof(https), "%d", BENCH_CONTAINER_HTTPS_PORT);
	snprintf(host_http, sizeof(host_http), "%d", port);
	spec.container_id = id;
	spec.container_name = name;
	spec.host = "127.0.0.1";
	spec.port = port;
	spec.host_http_port = port;
	spec.container_http_port = BENCH_CONTAINER_HTTP_PORT;
	spec.container_https_port = BENCH_CONTAINER_HTTPS_PORT;
	spec.labels = labels;
	spec.n_labels = 4;
	spec.running = true;
	if (orch_core_engine_put_locked(core, &spec, &e) != ORCH_OK)
		e = NULL;
	return e;
}

#include "src/core/clock.h"

#include "src/base/time.h"

static int64_t
system_now(void *arg)
{
	(void) arg;
	return orch_wall_us();
}

static int64_t
manual_now(void *arg)
{
	/* Atomic: a test may move it while another thread reads the time
	 * without the core's lock (orch_core_generation). */
	return __atomic_load_n((const int64_t *) arg, __ATOMIC_RELAXED);
}

orch_clock
orch_clock_system(void)
{
	orch_clock c = {system_now, NULL};

	return c;
}

orch_clock
orch_clock_manual(int64_t *value)
{
	orch_clock c = {manual_now, value};

	return c;
}

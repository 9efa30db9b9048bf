/*
 * Helpers small enough for any test package to share, with no fixture
 * and no assertion behind them (a configuration string, a sleep, waiting
 * on a condition with a deadline): the packages' own fixtures
 * (tests/engines/fx.h, tests/store/storetest.h) build on these.
 */
#ifndef ORCH_TESTS_TESTLIB_TESTLIB_H
#define ORCH_TESTS_TESTLIB_TESTLIB_H

#include <stdint.h>

#include "src/base/time.h"

/* Replaces a configuration string: frees *field and stores a malloc'd
 * copy of v (NULL: none), which the configuration's fini frees. */
void tl_set_str(char **field, const char *v);

void tl_sleep_ms(long ms);

/* Polls cond every step_ms until it holds or ms have passed (on the
 * monotonic clock); ok gets it. */
#define TL_WAIT_EVERY(ok, cond, ms, step_ms)                                  \
	do {                                                                  \
		int64_t wf_deadline_ = orch_mono_ms() + (ms);                 \
		for (;;) {                                                    \
			if (((ok) = (cond)))                                  \
				break;                                        \
			if (orch_mono_ms() >= wf_deadline_)                   \
				break;                                        \
			tl_sleep_ms(step_ms);                                 \
		}                                                             \
	} while (0)

/* The same every 5 ms, for what answers at once (a fake runtime, a
 * store's writer). */
#define TL_WAIT_FOR(ok, cond, ms) TL_WAIT_EVERY(ok, cond, ms, 5)

#endif

/*
 * The one injectable clock. Everything in the core that needs "now" takes
 * it from an orch_clock (or as a now_us argument in the pure policy code),
 * so tests drive time by hand and no policy test sleeps.
 *
 * Time is wall-clock microseconds since the Unix epoch (UTC): it is what
 * the API shows (first_seen, started_at, ...). Durations compare two such
 * values; a wall-clock step makes a timer fire early or late once, which
 * the loops tolerate (they re-evaluate every period).
 */
#ifndef ORCH_CORE_CLOCK_H
#define ORCH_CORE_CLOCK_H

#include <stdint.h>

typedef struct orch_clock {
	int64_t (*now_us)(void *arg);
	void *arg;
} orch_clock;

/* The system's wall clock (orch_wall_us). */
orch_clock orch_clock_system(void);

/* A hand-driven clock for tests: reads *value (atomically; a test that
 * moves it while other threads run stores it with __atomic_store_n or
 * __atomic_fetch_add). */
orch_clock orch_clock_manual(int64_t *value);

static inline int64_t
orch_clock_now(const orch_clock *c)
{
	return c->now_us(c->arg);
}

#endif

/*
 * The circuit breaker; see breaker.h. No clock, no lock, no allocation.
 */
#include "src/core/breaker.h"

#include <limits.h>

#define US_PER_S INT64_C(1000000)

const char *
orch_breaker_state_name(orch_breaker_state s)
{
	switch (s) {
	case ORCH_BREAKER_CLOSED:
		return "closed";
	case ORCH_BREAKER_OPEN:
		return "open";
	case ORCH_BREAKER_HALF_OPEN:
		return "half_open";
	}
	return "unknown";
}

void
orch_breaker_init(
    orch_breaker *b, int failure_threshold, int recovery_timeout_s)
{
	*b = (orch_breaker){0};
	b->failure_threshold = failure_threshold < 1 ? 1 : failure_threshold;
	b->recovery_timeout_us = recovery_timeout_s < 0
	                             ? 0
	                             : (int64_t) recovery_timeout_s * US_PER_S;
	b->state = ORCH_BREAKER_CLOSED;
}

/* Microseconds left before an OPEN breaker lets a trial through (<= 0 when
 * due). A clock that went back before opened_at_us counts as no time
 * elapsed, so the wait never exceeds the timeout. */
static int64_t
open_remaining_us(const orch_breaker *b, int64_t now_us)
{
	int64_t elapsed = now_us - b->opened_at_us;

	if (elapsed < 0)
		elapsed = 0;
	return b->recovery_timeout_us - elapsed;
}

orch_breaker_state
orch_breaker_state_at(const orch_breaker *b, int64_t now_us)
{
	if (b->state == ORCH_BREAKER_OPEN && open_remaining_us(b, now_us) <= 0)
		return ORCH_BREAKER_HALF_OPEN;
	return b->state;
}

bool
orch_breaker_try_acquire(orch_breaker *b, int64_t now_us)
{
	switch (b->state) {
	case ORCH_BREAKER_CLOSED:
		return true;
	case ORCH_BREAKER_OPEN:
		if (now_us < b->opened_at_us)
			b->opened_at_us = now_us; /* clock stepped back */
		if (open_remaining_us(b, now_us) > 0)
			return false;
		b->state = ORCH_BREAKER_HALF_OPEN;
		b->trial_in_flight = false;
		break;
	case ORCH_BREAKER_HALF_OPEN:
		break;
	}
	if (b->trial_in_flight)
		return false;
	b->trial_in_flight = true;
	return true;
}

void
orch_breaker_record_success(orch_breaker *b, int64_t now_us)
{
	b->last_success_us = now_us;
	b->trial_in_flight = false;
	if (b->state == ORCH_BREAKER_OPEN)
		return;
	b->state = ORCH_BREAKER_CLOSED;
	b->failure_count = 0;
}

void
orch_breaker_record_failure(orch_breaker *b, int64_t now_us)
{
	if (b->failure_count < INT_MAX)
		b->failure_count++;
	b->last_failure_us = now_us;
	b->trial_in_flight = false;
	switch (b->state) {
	case ORCH_BREAKER_CLOSED:
		if (b->failure_count >= b->failure_threshold) {
			b->state = ORCH_BREAKER_OPEN;
			b->opened_at_us = now_us;
		}
		break;
	case ORCH_BREAKER_HALF_OPEN:
		b->state = ORCH_BREAKER_OPEN;
		b->opened_at_us = now_us;
		break;
	case ORCH_BREAKER_OPEN:
		break;
	}
}

void
orch_breaker_release(orch_breaker *b)
{
	b->trial_in_flight = false;
}

void
orch_breaker_reset(orch_breaker *b)
{
	b->state = ORCH_BREAKER_CLOSED;
	b->failure_count = 0;
	b->trial_in_flight = false;
}

int64_t
orch_breaker_retry_after_s(const orch_breaker *b, int64_t now_us)
{
	int64_t rem;

	if (b->state != ORCH_BREAKER_OPEN)
		return 0;
	rem = open_remaining_us(b, now_us);
	if (rem <= 0)
		return 0;
	return (rem + US_PER_S - 1) / US_PER_S;
}

int64_t
orch_breaker_next_change_us(const orch_breaker *b, int64_t now_us)
{
	int64_t rem;

	if (b->state != ORCH_BREAKER_OPEN)
		return INT64_MAX;
	rem = open_remaining_us(b, now_us);
	if (rem <= 0)
		return INT64_MAX; /* half-open at now_us already */
	/* retry_after_s is ceil(rem / 1 s): it drops when rem reaches the
	 * multiple of a second below it, and the state flips at rem 0. */
	return now_us + (rem - 1) % US_PER_S + 1;
}

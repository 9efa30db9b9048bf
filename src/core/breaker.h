/*
 * A circuit breaker: stops an operation that keeps failing (provisioning a
 * container; replacing an unhealthy engine) from being retried in a tight
 * loop, and lets one trial through after a cool-down.
 *
 *   CLOSED     operations run; consecutive failures are counted. Reaching
 *              failure_threshold opens the breaker.
 *   OPEN       operations are refused until recovery_timeout has elapsed
 *              since the breaker opened; from then on it reads HALF_OPEN.
 *   HALF_OPEN  exactly one trial operation may run at a time. Its success
 *              closes the breaker; its failure opens it again with a fresh
 *              timeout measured from that failure; a trial that ends with
 *              neither (cancelled) gives its slot back with
 *              orch_breaker_release().
 *
 * Pure and clock-free: every function that needs the time takes `now_us`
 * (wall-clock microseconds since the epoch, as the caller reads it), so tests
 * never sleep. A time of 0 means "never". If the clock steps backwards
 * before opened_at_us, the breaker stays open at most recovery_timeout from
 * the next orch_breaker_try_acquire() call.
 *
 * NOT thread-safe: the struct has no lock of its own. The owner (the core)
 * serialises every call, reads included, under its own lock.
 *
 * The breaker cannot tell a trial's outcome from a stale outcome of an
 * operation that started earlier; the caller records only outcomes of
 * operations it was allowed to start. Rules for the odd cases:
 *   - a success while OPEN sets last_success_us but leaves the breaker open
 *     (the cool-down runs its course; a trial decides);
 *   - a failure while OPEN is counted but does not extend the timeout;
 *   - any failure while HALF_OPEN reopens the breaker.
 */
#ifndef ORCH_CORE_BREAKER_H
#define ORCH_CORE_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

typedef enum orch_breaker_state {
	ORCH_BREAKER_CLOSED = 0,
	ORCH_BREAKER_OPEN = 1,
	ORCH_BREAKER_HALF_OPEN = 2,
} orch_breaker_state;

typedef struct orch_breaker {
	int failure_threshold; /* consecutive failures that open it (>= 1) */
	int64_t recovery_timeout_us; /* open -> half-open after this (>= 0) */
	orch_breaker_state
	    state;            /* as last stored; see orch_breaker_state_at */
	int failure_count;    /* consecutive failures; 0 after a success */
	int64_t opened_at_us; /* when it last opened; 0 = never */
	int64_t last_failure_us; /* 0 = never */
	int64_t last_success_us; /* 0 = never */
	bool trial_in_flight;    /* the half-open slot is taken */
} orch_breaker;

/* "closed", "open", "half_open" (CONTRACT.md's Breaker.state); "unknown" for
 * a value outside the enum. Never NULL. */
const char *orch_breaker_state_name(orch_breaker_state s);

/* A closed breaker with no history. failure_threshold < 1 is taken as 1;
 * recovery_timeout_s < 0 as 0. */
void orch_breaker_init(
    orch_breaker *b, int failure_threshold, int recovery_timeout_s);

/* The state as of now_us, without changing anything: a stored OPEN whose
 * recovery timeout has elapsed reads HALF_OPEN. */
orch_breaker_state orch_breaker_state_at(
    const orch_breaker *b, int64_t now_us);

/* May an operation start now? CLOSED: yes. OPEN before the timeout: no.
 * After it: the breaker becomes HALF_OPEN and exactly one caller gets yes
 * (trial_in_flight is set); everyone else gets no until the trial is
 * recorded or released. A caller that got yes must later call exactly one of
 * record_success, record_failure or release. */
bool orch_breaker_try_acquire(orch_breaker *b, int64_t now_us);

/* An operation succeeded: a HALF_OPEN breaker closes; in CLOSED or
 * HALF_OPEN the consecutive count resets. Sets last_success_us, clears the
 * trial slot. */
void orch_breaker_record_success(orch_breaker *b, int64_t now_us);

/* An operation failed: counts it, sets last_failure_us, clears the trial
 * slot. CLOSED reaching the threshold opens (opened_at_us = now_us); a
 * HALF_OPEN breaker reopens with a fresh timeout from now_us. */
void orch_breaker_record_failure(orch_breaker *b, int64_t now_us);

/* A trial ended with neither success nor failure (e.g. cancelled): frees
 * the half-open slot so the next try_acquire may start another. */
void orch_breaker_release(orch_breaker *b);

/* Manual reset (POST /health/circuit-breaker/reset): CLOSED, count 0, trial
 * slot cleared. Keeps last_failure_us and last_success_us. */
void orch_breaker_reset(orch_breaker *b);

/* Whole seconds, rounded up, until a trial is allowed: > 0 only while the
 * breaker reads OPEN, 0 when closed or half-open. For the refusal's
 * recovery_eta_seconds. */
int64_t orch_breaker_retry_after_s(const orch_breaker *b, int64_t now_us);

/*
 * The first instant after now_us at which what the clock alone changes
 * about b (orch_breaker_state_at, orch_breaker_retry_after_s) changes:
 * while OPEN, the next whole second of its countdown or its end;
 * INT64_MAX otherwise (only a call changes the breaker then). The core
 * treats that instant as a change of state (orch_core_generation).
 */
int64_t orch_breaker_next_change_us(const orch_breaker *b, int64_t now_us);

#endif

/*
 * Condition variables that time out on the monotonic clock, so a wall
 * clock step cannot stretch or cut a controller's period. Used by every
 * loop that sleeps "until the next period or until told to stop".
 */
#ifndef ORCH_BASE_COND_H
#define ORCH_BASE_COND_H

#include <pthread.h>
#include <stdint.h>

/* pthread_cond_init with CLOCK_MONOTONIC; 0 or an errno value. */
int orch_cond_init_mono(pthread_cond_t *cv);

/*
 * pthread_cond_timedwait until deadline_ms on orch_mono_ms()'s clock (the
 * caller holds mu; cv was made by orch_cond_init_mono). Returns 0 when
 * signalled (or spuriously woken), ETIMEDOUT once the deadline passed.
 */
int orch_cond_wait_until(
    pthread_cond_t *cv, pthread_mutex_t *mu, int64_t deadline_ms);

#endif

#include "src/base/cond.h"

#include <errno.h>
#include <time.h>

int
orch_cond_init_mono(pthread_cond_t *cv)
{
	pthread_condattr_t a;
	int rv = pthread_condattr_init(&a);

	if (rv == 0) {
		rv = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
		if (rv == 0)
			rv = pthread_cond_init(cv, &a);
		pthread_condattr_destroy(&a);
	}
	return rv;
}

int
orch_cond_wait_until(
    pthread_cond_t *cv, pthread_mutex_t *mu, int64_t deadline_ms)
{
	struct timespec ts;

	ts.tv_sec = (time_t) (deadline_ms / 1000);
	ts.tv_nsec = (long) (deadline_ms % 1000) * 1000000L;
	return pthread_cond_timedwait(cv, mu, &ts);
}

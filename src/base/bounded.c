#include "src/base/bounded.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct job {
	void (*fn)(void *);
	void *arg;
};

static void *
job_main(void *p)
{
	struct job job = *(struct job *) p;

	free(p);
	job.fn(job.arg);
	return NULL;
}

bool
orch_run_bounded(void (*fn)(void *), void *arg, int timeout_ms)
{
	struct job *job = malloc(sizeof(*job));
	struct timespec ts;
	pthread_t t;

	if (job == NULL || (job->fn = fn, job->arg = arg,
	                       pthread_create(&t, NULL, job_main, job)) != 0) {
		free(job);
		fn(arg);
		return true;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long) (timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	if (pthread_timedjoin_np(t, NULL, &ts) == 0)
		return true;
	pthread_detach(t);
	return false;
}

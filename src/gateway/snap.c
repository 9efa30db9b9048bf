#include "src/gateway/snap.h"

#include <stdlib.h>

orch_snap *
orch_snap_new(uint64_t gen, orch_buf *body)
{
	orch_snap *s = malloc(sizeof(*s));

	if (s == NULL)
		return NULL;
	atomic_init(&s->refs, 1);
	s->gen = gen;
	s->len = body->len;
	s->data = body->data;
	body->data = NULL;
	body->len = 0;
	body->cap = 0;
	return s;
}

void
orch_snap_ref(orch_snap *s)
{
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void
orch_snap_unref(orch_snap *s)
{
	if (s == NULL)
		return;
	/* acq_rel: the freeing thread sees every other holder's reads of
	 * the bytes as done. */
	if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) ==
	    1) {
		free(s->data);
		free(s);
	}
}

void
orch_snap_slot_init(orch_snap_slot *sl)
{
	pthread_mutex_init(&sl->mu, NULL);
	sl->cur = NULL;
	atomic_init(&sl->hits, 0);
	atomic_init(&sl->renders, 0);
}

void
orch_snap_slot_fini(orch_snap_slot *sl)
{
	orch_snap_unref(sl->cur);
	sl->cur = NULL;
	pthread_mutex_destroy(&sl->mu);
}

orch_snap *
orch_snap_slot_get(orch_snap_slot *sl, uint64_t gen)
{
	orch_snap *s;

	pthread_mutex_lock(&sl->mu);
	s = sl->cur;
	if (s != NULL && s->gen == gen)
		orch_snap_ref(s);
	else
		s = NULL;
	pthread_mutex_unlock(&sl->mu);
	if (s != NULL)
		atomic_fetch_add_explicit(&sl->hits, 1, memory_order_relaxed);
	return s;
}

void
orch_snap_slot_put(orch_snap_slot *sl, orch_snap *s)
{
	orch_snap *old = NULL;

	pthread_mutex_lock(&sl->mu);
	if (sl->cur == NULL || sl->cur->gen <= s->gen) {
		old = sl->cur;
		orch_snap_ref(s);
		sl->cur = s;
	}
	pthread_mutex_unlock(&sl->mu);
	atomic_fetch_add_explicit(&sl->renders, 1, memory_order_relaxed);
	orch_snap_unref(old); /* outside the mutex: it may free */
}

/*
 * The core's sink, as the store implements it: every callback runs under
 * the core's lock, so it copies what it is told into one record and
 * queues it, and that is all. A full queue drops the record (counted;
 * the writer logs it and repairs the database from the core's ledger):
 * the caller never waits for the disk.
 */
#include <stdlib.h>

#include "src/store/impl.h"

void
store_enqueue(orch_store *st, rec *r)
{
	pthread_mutex_lock(&st->qmu);
	if (r == NULL || st->q.n >= st->qmax || st->stopping) {
		/* Out of memory counts as a drop too: either way the ledger
		 * must be replayed. */
		st->n_dropped++;
		st->gap_dropped++;
		st->need_resync = true;
		pthread_mutex_unlock(&st->qmu);
		free(r);
		return;
	}
	r->seq = ++st->seq;
	rec_list_push(&st->q, r);
	st->n_queued++;
	if (st->q.n == 1)
		pthread_cond_signal(&st->qcv);
	pthread_mutex_unlock(&st->qmu);
}

static int64_t
now_of(const orch_store *st)
{
	return orch_clock_now(&st->clock);
}

static void
on_stream(void *arg, const orch_stream *s, const orch_engine *e)
{
	orch_store *st = arg;

	store_enqueue(st, rec_stream(s, e, now_of(st)));
}

static void
on_stat(void *arg, const orch_stream *s, const orch_stat *snap)
{
	store_enqueue(arg, rec_stat(s, snap));
}

static void
on_engine(void *arg, const orch_sink_engine *e)
{
	orch_store *st = arg;

	store_enqueue(st, rec_engine(e, now_of(st)));
}

static void
on_reservation(
    void *arg, const orch_reservation *r, const char *container_id, bool live)
{
	orch_store *st = arg;

	store_enqueue(st, rec_reservation(r, container_id, live, now_of(st)));
}

static void
on_breaker(void *arg, const char *name, const struct orch_breaker *b, int from,
    int64_t at_us)
{
	store_enqueue(arg, rec_breaker(name, b, from, at_us));
}

static void
on_log(void *arg, int64_t ts_us, orch_log_type type, const char *container_id,
    const char *stream_id, const orch_kv *data, size_t n)
{
	store_enqueue(
	    arg, rec_log(ts_us, (int) type, container_id, stream_id, data, n));
}

const orch_sink_ops store_sink_ops = {
    on_stream,
    on_stat,
    on_engine,
    on_reservation,
    on_breaker,
    on_log,
};

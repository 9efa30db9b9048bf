/*
 * The core's observer: what it tells a listener (the SQLite store,
 * src/store) about every change it makes, as a small table of function
 * pointers, so that persistence sits outside the core and the core stays
 * pure (no I/O library, no file, no thread of its own).
 *
 * Two kinds of call:
 *   records   the state as it now is: a stream (started, or ended), a
 *             stat snapshot, an engine (put, changed, removed), a
 *             reservation (made, or gone), a breaker. A listener that
 *             applies them in order holds the same ledger as the core.
 *   log       one entry of the event log: something happened (an engine
 *             was provisioned, a provision refused, the VPN went down).
 *             Records that are events in themselves (a stream started, an
 *             engine died) carry their meaning in the record (see each
 *             callback); the listener logs them, the core does not call
 *             log for them too.
 *
 * Every callback runs under the core's lock, on whatever thread changed
 * the state (an RPC handler, a controller). An implementation copies what
 * it keeps and returns at once: no I/O, no waiting, no call into the
 * core. Pointers are valid only for the call.
 *
 * A callback left NULL is not called. A core without a sink (ops NULL)
 * calls nothing: persistence off.
 */
#ifndef ORCH_CORE_SINK_H
#define ORCH_CORE_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/core/state.h"

struct orch_breaker;

/* The event log's entry types. The names (orch_log_type_name) are what
 * the log stores and GET /events/log's `type` filters on. */
typedef enum orch_log_type {
	ORCH_LOG_NONE = 0,
	ORCH_LOG_CONFIG,             /* the configuration at start */
	ORCH_LOG_STARTED,            /* the orchestrator started */
	ORCH_LOG_STOPPING,           /* ... is shutting down (signal) */
	ORCH_LOG_RESTORED,           /* the restore's verdict (counts) */
	ORCH_LOG_ENGINE_PROVISIONED, /* a provision put it in state */
	ORCH_LOG_ENGINE_ADOPTED,     /* found running, put in state */
	ORCH_LOG_ENGINE_HEALTHY,     /* its health became healthy */
	ORCH_LOG_ENGINE_UNHEALTHY,   /* ... unhealthy */
	ORCH_LOG_ENGINE_REPLACED,    /* a health replacement ran */
	ORCH_LOG_ENGINE_STOPPED,     /* it left the state (reason) */
	ORCH_LOG_ENGINE_DIED,        /* Docker's die */
	ORCH_LOG_ENGINE_RESTARTED,   /* Docker's start of a known engine */
	ORCH_LOG_STREAM_STARTED,     /* */
	ORCH_LOG_STREAM_ENDED,       /* (reason) */
	ORCH_LOG_STREAM_RESTORED,    /* back on its engine after a restart */
	ORCH_LOG_VPN_UP,             /* the tunnel came up */
	ORCH_LOG_VPN_DOWN,           /* ... went down */
	ORCH_LOG_VPN_PORT,           /* the forwarded port changed */
	ORCH_LOG_PROVISION_REFUSED,  /* (code) */
	ORCH_LOG_BREAKER,            /* a breaker changed state */
	ORCH_LOG_STORE_GAP,          /* the store lost records (why, count) */
	ORCH_LOG_TYPE_COUNT
} orch_log_type;

/* "engine_provisioned", ...; NULL for NONE or a value outside the enum. */
const char *orch_log_type_name(orch_log_type t);

/* The type named s, or ORCH_LOG_NONE. */
orch_log_type orch_log_type_from_name(const char *s);

/* One key/value of a log entry's data (both strings borrowed). */
typedef struct orch_kv {
	const char *key;
	const char *value;
} orch_kv;

/* What changed about an engine in an engine record. */
typedef enum orch_sink_change {
	ORCH_SINK_PUT = 1,   /* added or updated (no log entry by itself) */
	ORCH_SINK_REMOVED,   /* left the state: engine_stopped (reason) */
	ORCH_SINK_DIED,      /* running -> not: engine_died */
	ORCH_SINK_RESTARTED, /* not running -> running: engine_restarted */
	ORCH_SINK_HEALTH,    /* health changed: engine_healthy/unhealthy */
	ORCH_SINK_FORWARDED, /* owns the forwarded port or no longer */
	ORCH_SINK_LOST,      /* restore: not found again (engine_stopped) */
} orch_sink_change;

/* An engine as a record: copied out of the state (managed engines only;
 * unmanaged entries are made again by their streams' events). */
typedef struct orch_sink_engine {
	orch_sink_change change;
	const char *container_id;
	const char *container_name; /* NULL for LOST */
	const char *reason;         /* REMOVED / LOST: why; else NULL */
	bool running;
	bool forwarded;
	orch_health health;
	int64_t first_seen_us;
	int64_t last_seen_us;
	int64_t last_stream_usage_us; /* 0 = never */
	int64_t at_us;                /* when the change happened */
} orch_sink_engine;

typedef struct orch_sink_ops {
	/* A stream started (s->active: stream_started) or ended (not active:
	 * stream_ended, s->end_reason). e is the engine it started on or
	 * ran on (NULL once that entry is gone). A stream of the same id
	 * started again replaces the record and its stats. */
	void (*stream)(void *arg, const orch_stream *s, const orch_engine *e);
	/* A snapshot was appended to s's history. No log entry. */
	void (*stat)(void *arg, const orch_stream *s, const orch_stat *snap);
	/* An engine record (see orch_sink_change for its log entry). */
	void (*engine)(void *arg, const orch_sink_engine *e);
	/* A reservation was made (live) or is gone (consumed, expired, its
	 * engine removed; !live). No log entry. */
	void (*reservation)(void *arg, const orch_reservation *r,
	    const char *container_id, bool live);
	/* A breaker's persisted fields changed; `from` is its state before
	 * (a different state is a breaker entry of the log). name is
	 * "general" or "replacement". */
	void (*breaker)(void *arg, const char *name,
	    const struct orch_breaker *b, int from, int64_t at_us);
	/* One entry of the event log. container_id, stream_id may be NULL;
	 * data holds n pairs. */
	void (*log)(void *arg, int64_t ts_us, orch_log_type type,
	    const char *container_id, const char *stream_id,
	    const orch_kv *data, size_t n);
} orch_sink_ops;

typedef struct orch_sink {
	const orch_sink_ops *ops; /* NULL: nobody listens */
	void *arg;
} orch_sink;

/* ---- for the core's own modules ------------------------------------ */

/* Calls sink's fn (sink may be NULL) if it has one. */

#define ORCH_SINK_CALL(sink, fn, ...)                                         \
	do {                                                                  \
		const orch_sink *s_ = (sink);                                 \
		if (s_ != NULL && s_->ops != NULL && s_->ops->fn != NULL)     \
			s_->ops->fn(s_->arg, __VA_ARGS__);                    \
	} while (0)

/* An engine record of e for change (reason for REMOVED), at at_us. */
void orch_sink_engine_record(const orch_sink *sink, const orch_engine *e,
    orch_sink_change change, const char *reason, int64_t at_us);

#endif

/*
 * The ledger: engines, streams, stat snapshots and reservations, with every
 * index the request paths need so that none of them scans.
 *
 *   engines   by container id, by advertised "host:port", by container
 *             name and by published host port (hash maps / a port array);
 *             a selection heap (best engine on top, O(log n) to fix after
 *             any change); counters for the status (total, running,
 *             healthy, unhealthy, used, free) kept up to date on every
 *             change, so GetStatus is O(1).
 *   streams   by id (hash); active ones on their engine's list and on a
 *             global newest-first list; every stream of an engine on the
 *             engine's newest-first list; a global newest-first list of all;
 *             ended ones on a list ordered by end time, trimmed to
 *             `ended_max` (the oldest ended stream goes first).
 *   stats     per stream, a ring of at most `stats_max` snapshots, grown
 *             geometrically (100,000 streams do not each hold 720 slots).
 *   reservations  by id (hash) and by expiry (list).
 *
 * No locking and no clock here: the core (core.h) holds the lock and passes
 * now_us. No policy either: policy.h decides, this module records.
 *
 * Ownership: the state owns every engine, stream and reservation and every
 * string in them. Pointers returned by lookups stay valid until the next
 * mutating call.
 */
#ifndef ORCH_CORE_STATE_H
#define ORCH_CORE_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/base/err.h"
#include "src/base/list.h"
#include "src/base/strmap.h"

typedef enum orch_health {
	ORCH_HEALTH_UNKNOWN = 0, /* no probe answered yet */
	ORCH_HEALTH_HEALTHY = 1,
	ORCH_HEALTH_UNHEALTHY = 2,
} orch_health;

/* "unknown" | "healthy" | "unhealthy" */
const char *orch_health_name(orch_health h);

typedef struct orch_label {
	char *key;
	char *value;
} orch_label;

/* One stat snapshot; a field is null unless its bit is set in `has`. */
enum orch_stat_bits {
	ORCH_STAT_PEERS = 1u << 0,
	ORCH_STAT_SPEED_DOWN = 1u << 1,
	ORCH_STAT_SPEED_UP = 1u << 2,
	ORCH_STAT_DOWNLOADED = 1u << 3,
	ORCH_STAT_UPLOADED = 1u << 4,
	ORCH_STAT_STATUS = 1u << 5,
};

#define ORCH_STAT_STATUS_MAX 24

typedef struct orch_stat {
	int64_t ts_us;
	int64_t peers;
	int64_t speed_down;
	int64_t speed_up;
	int64_t downloaded;
	int64_t uploaded;
	char status[ORCH_STAT_STATUS_MAX]; /* truncated engine status */
	unsigned has;                      /* enum orch_stat_bits */
} orch_stat;

typedef struct orch_engine orch_engine;
typedef struct orch_stream orch_stream;

/*
 * Every stream recorded against one container id, newest first. It
 * outlives the engine entry: a removed engine's history stays queryable
 * by its id, and an entry that comes back under the same id (an unmanaged
 * address used again, a re-adopted container) continues it. Freed when it
 * holds no stream and no engine has its id.
 */
typedef struct orch_stream_group {
	char *container_id;
	orch_list streams; /* orch_stream.group_node, newest first */
	size_t n;
	orch_engine *engine; /* NULL while no engine has this id */
} orch_stream_group;

struct orch_engine {
	char *container_id; /* key; "host:port" for an unmanaged entry */
	char *container_name;
	char *host;          /* advertised to proxies */
	int port;            /* advertised to proxies */
	char *addr_key;      /* "host:port", the advertised address */
	int host_http_port;  /* published on the host; 0 = not published */
	int host_https_port; /* published HTTPS port; 0 = none */
	int container_http_port;
	int container_https_port;
	orch_label *labels;
	size_t n_labels;
	bool managed;   /* false: an unmanaged entry made by an event */
	bool forwarded; /* owns the VPN's forwarded port */
	char *vpn;      /* the Gluetun it runs in; NULL = none */
	int vpn_idx;    /* the core's index of that Gluetun; -1 = none */
	bool vpn_down;  /* its VPN is down: chosen and listed after others */
	int p2p_port;   /* the P2P_PORT it was given; 0 = none */
	bool running;   /* false between Docker's die and start */
	bool marked_for_replacement;
	bool ever_healthy; /* answered one probe since it started */
	/* Provisioned by this process and not yet healthy: the startup
	 * timeout (from pending_since_us, not reset by restarts) and the
	 * general breaker's success wait for its first healthy probe.
	 * Adopted engines are never pending: they are judged by probes. */
	bool startup_pending;
	bool breaker_trial; /* its provision holds the half-open trial */
	/* Chosen to stop (GC, Scale): out of selection and of the free
	 * count until stopped, or undrained when it gained a stream. */
	bool draining;
	bool crash_counted; /* its crash loop was counted once */
	int restarts;       /* Docker restarts within the window below */
	int64_t restarts_since_us; /* start of that window; 0 = none */
	int64_t pending_since_us;  /* set with startup_pending */
	orch_health health;
	int consecutive_failures;
	int64_t first_seen_us;
	int64_t last_seen_us;
	int64_t last_health_check_us; /* 0 = never */
	int64_t last_stream_usage_us; /* 0 = never */
	int64_t unhealthy_since_us;   /* 0 unless unhealthy */
	int64_t idle_since_us;        /* when it last became idle; 0 = busy */
	int64_t started_us;           /* when it was (re)started */
	int n_active;                 /* active streams */
	int n_reserved;               /* pending reservations */
	orch_list active;             /* orch_stream.eng_active */
	orch_stream_group *group;     /* every stream of this id */

	/* private to state.c */
	size_t heap_idx;
	unsigned acct; /* counters this engine currently adds to */
};

struct orch_stream {
	char *id;
	char *key_type;
	char *key;
	char *container_id;        /* the engine's id when it started */
	char *playback_session_id; /* NULL = null */
	char *stat_url;
	char *command_url;
	bool is_live;
	bool active;
	int64_t started_at_us;
	int64_t ended_at_us;      /* 0 while active */
	char *end_reason;         /* NULL = null */
	orch_engine *engine;      /* while active; NULL once ended */
	orch_stream_group *group; /* of container_id */

	/* stats ring: count entries starting at head, capacity cap */
	orch_stat *stats;
	uint32_t stats_cap;
	uint32_t stats_head;
	uint32_t stats_count;

	orch_list eng_active; /* on engine->active while active */
	orch_list group_node; /* on group->streams */
	orch_list all;        /* global, newest first */
	orch_list
	    by_status; /* active list, or ended list (newest end first) */
};

#define ORCH_RESERVATION_ID_LEN 32

typedef struct orch_reservation {
	char id[ORCH_RESERVATION_ID_LEN + 1];
	orch_engine *engine;
	int64_t expires_us;
	orch_list node; /* by expiry */
} orch_reservation;

/* Counters kept on every change; managed engines only. */
typedef struct orch_state_counts {
	int engines;      /* managed engines in state */
	int running;      /* ... running */
	int healthy;      /* ... running and healthy */
	int unhealthy;    /* ... running and unhealthy */
	int used;         /* ... with >= max_streams active streams */
	int free;         /* running, not unhealthy, not marked, not draining,
	                     load < max */
	int free_healthy; /* ... of them healthy: what stop decisions keep */
	int draining;     /* chosen to stop, not stopped yet */
	int marked;       /* marked for replacement */
	int streams_active;
	int streams_total; /* active + ended streams held */
	int reservations;
} orch_state_counts;

typedef struct orch_state_opts {
	int max_streams_per_engine; /* >= 1 */
	int stats_max;              /* snapshots kept per stream, >= 1 */
	int ended_max;              /* ended streams kept, >= 1 */
	const char *engine_host;    /* ENGINE_HOST or NULL; copied */
	int64_t crash_window_us;    /* restarts are counted within this */
} orch_state_opts;

typedef struct orch_state {
	orch_state_opts opts;
	char *engine_host;
	orch_strmap engines_by_id;
	orch_strmap engines_by_addr;
	orch_strmap engines_by_name;
	orch_engine **by_host_port; /* 65536 slots, published port -> engine */
	orch_engine **heap;         /* selection heap of candidate engines */
	size_t heap_len;
	size_t heap_cap;
	orch_engine *
	    *sorted; /* all engines by advertised port, rebuilt lazily */
	size_t sorted_len;
	size_t sorted_cap;
	bool sorted_dirty;
	size_t n_engines; /* managed + unmanaged */
	orch_strmap streams_by_id;
	orch_strmap groups;       /* container id -> orch_stream_group */
	orch_list streams_all;    /* newest first */
	orch_list streams_active; /* newest first */
	orch_list streams_ended;  /* newest end first */
	orch_strmap reservations_by_id;
	orch_list reservations; /* by expiry, soonest first */
	orch_state_counts counts;
} orch_state;

orch_err orch_state_init(orch_state *st, const orch_state_opts *opts);
void orch_state_fini(orch_state *st);

/* ---- engines ---------------------------------------------------------- */

/* What the runtime knows of a managed engine container. */
typedef struct orch_engine_spec {
	const char *container_id;   /* required */
	const char *container_name; /* required */
	const char *host;           /* advertised host, required */
	int port;                   /* advertised port, 1..65535 */
	int host_http_port;         /* 0 = not published */
	int host_https_port;
	int container_http_port;
	int container_https_port;
	const orch_label *labels; /* copied */
	size_t n_labels;
	bool forwarded;
	bool running;
	const char *vpn; /* the Gluetun it runs in, NULL = none; copied */
	int p2p_port;    /* its P2P_PORT, 0 = none */
} orch_engine_spec;

/*
 * Adds a managed engine, or updates the one with that container id (a
 * restart of the same container keeps its streams' history and
 * first_seen). ORCH_EINVAL for a missing field or a port out of range;
 * ORCH_EEXIST when another engine already holds that advertised address,
 * name or published port; ORCH_ENOMEM. State unchanged on error.
 */
orch_err orch_state_engine_put(orch_state *st, const orch_engine_spec *spec,
    int64_t now_us, orch_engine **out);

orch_engine *orch_state_engine_get(const orch_state *st, const char *id);
orch_engine *orch_state_engine_by_addr(
    const orch_state *st, const char *host, int port);
orch_engine *orch_state_engine_by_name(const orch_state *st, const char *name);
orch_engine *orch_state_engine_by_host_port(const orch_state *st, int port);

/*
 * Removes an engine: ends its active streams with `reason` (NULL =
 * "engine_gone"), drops its reservations; its history stays in its
 * stream group. The caller releases its ports first.
 */
void orch_state_engine_remove(
    orch_state *st, orch_engine *e, int64_t now_us, const char *reason);

/*
 * Docker's die (running=false: its active streams end as "engine_gone")
 * and start (running=true: health back to unknown, startup clock restarts).
 */
void orch_state_engine_set_running(
    orch_state *st, orch_engine *e, bool running, int64_t now_us);

/* One probe result. Returns true when the engine's health changed. */
bool orch_state_engine_probe(orch_state *st, orch_engine *e, bool ok,
    int failure_threshold, int64_t now_us);

void orch_state_engine_set_marked(orch_state *st, orch_engine *e, bool marked);
void orch_state_engine_set_draining(
    orch_state *st, orch_engine *e, bool draining);
void orch_state_engine_set_forwarded(orch_state *st, orch_engine *e, bool fwd);
/* Its VPN went down (or up): an engine on a down VPN is not free (the
 * autoscaler starts others), is chosen after every engine on a healthy
 * VPN and is listed after them. */
void orch_state_engine_set_vpn_down(orch_state *st, orch_engine *e, bool down);

/*
 * Iterates every engine (managed and unmanaged) in no particular order:
 *   size_t cur = 0; orch_engine *e;
 *   while ((e = orch_state_engine_next(st, &cur)) != NULL) ...
 * The state must not change during the iteration.
 */
orch_engine *orch_state_engine_next(const orch_state *st, size_t *cursor);

/* Engines sorted by advertised port (then id), engines on a down VPN
 * last; valid until the next mutating call. */
orch_engine *const *orch_state_engines_sorted(orch_state *st, size_t *n);

/* Load as the selection and the autoscaler see it. */
static inline int
orch_engine_load(const orch_engine *e)
{
	return e->n_active + e->n_reserved;
}

/* ---- selection -------------------------------------------------------- */

/*
 * The engine a proxy should use now, or NULL when no engine is free: the
 * top of the heap, ordered by (has a free slot, on a healthy VPN (or
 * none) before on a down one, healthy before unknown,
 * fewest active+reserved streams, forwarded first, oldest
 * last_stream_usage, container id). Unhealthy engines and engines marked
 * for replacement or not running are never chosen. Expired reservations
 * are dropped first.
 */
orch_engine *orch_state_select(orch_state *st, int64_t now_us);

/*
 * Counts one pending stream on e until a StreamStarted consumes it or it
 * expires at expires_us. id must be unique (ORCH_EEXIST otherwise).
 */
orch_err orch_state_reserve(orch_state *st, orch_engine *e, const char *id,
    int64_t expires_us, orch_reservation **out);

/* Drops reservations that expired by now_us. */
void orch_state_expire(orch_state *st, int64_t now_us);

/* ---- streams ---------------------------------------------------------- */

/* A validated stream_started event. */
typedef struct orch_stream_start {
	const char *container_id;        /* may be NULL */
	const char *host;                /* engine.host, may be NULL */
	int port;                        /* engine.port, 0 when host is NULL */
	const char *key_type;            /* content_id|infohash|url|magnet */
	const char *key;                 /* non-empty */
	const char *playback_session_id; /* may be NULL */
	const char *stat_url;            /* may be NULL */
	const char *command_url;         /* may be NULL */
	bool is_live;
	const char *stream_id;      /* labels.stream_id, may be NULL */
	const char *reservation_id; /* labels.reservation_id, may be NULL */
} orch_stream_start;

/*
 * CONTRACT.md "Events": finds the engine (container id, advertised
 * address, loopback/ENGINE_HOST + published port, container name; else an
 * unmanaged entry keyed host:port), records the stream (overwriting a
 * stream of the same id), consumes the reservation. ORCH_EINVAL when
 * neither a known container id nor a host is given or the id cannot be
 * formed; ORCH_ENOMEM. State unchanged on error.
 */
orch_err orch_state_stream_start(orch_state *st, const orch_stream_start *ev,
    int64_t now_us, orch_stream **out);

/*
 * Ends a stream. With stream_id: that stream if active. Without: the one
 * active stream of engine container_id if it has exactly one. *out is the
 * stream that ended, or NULL when nothing ended (already ended, unknown,
 * ambiguous). reason may be NULL.
 */
orch_err orch_state_stream_end(orch_state *st, const char *stream_id,
    const char *container_id, const char *reason, int64_t now_us,
    orch_stream **out);

orch_stream *orch_state_stream_get(const orch_state *st, const char *id);

/* The streams recorded against a container id (engine present or not),
 * or NULL when none and no engine has that id. */
orch_stream_group *orch_state_group_get(
    const orch_state *st, const char *container_id);

/* Appends a snapshot to s's ring (the oldest drops at stats_max). */
orch_err orch_state_stream_add_stat(
    orch_state *st, orch_stream *s, const orch_stat *snap);

/* The i-th snapshot, oldest first (i < s->stats_count). */
static inline const orch_stat *
orch_stream_stat_at(const orch_stream *s, uint32_t i)
{
	return &s->stats[(s->stats_head + i) % s->stats_cap];
}

/* Newest snapshot or NULL. */
static inline const orch_stat *
orch_stream_latest_stat(const orch_stream *s)
{
	return s->stats_count != 0 ? orch_stream_stat_at(s, s->stats_count - 1)
	                           : NULL;
}

#endif

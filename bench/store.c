/*
 * Store benchmark: what durability costs the proxies' events, measured
 * in one run against a baseline without persistence.
 *
 *   pairs/s   stream_started + stream_ended pairs per second, one
 *             producer calling the core as the handlers do (the core's
 *             lock, orch_state_stream_start / _end, unlock), on a core
 *             with the SQLite store as its sink (on) and on one without
 *             (off). Slices alternate off, on, on, off, ... (ABBA) so
 *             both see the same moods of a shared machine. Target: on
 *             >= 0.8 x off.
 *   p50/p99   the latency of one stream_started call (lock to unlock),
 *             on vs off, from the same slices.
 *   size      a fresh database after 100,000 streams, each with
 *             --stats snapshots, started and ended through the store;
 *             bytes of the file after the close's checkpoint, per
 *             100,000 streams.
 *
 * The store's writer runs beside the producer (2 threads); the counters
 * say whether its queue overflowed (dropped, then a replay). The on
 * row's pairs/s counts what the producer achieved; the writer's backlog
 * at the end of each slice is drained before the next slice (not timed).
 *
 *   bazel run -c opt //bench:store -- [--seconds S] [--stats N] [--dir D]
 *
 * See bench/README.md.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/orchestrator.pb-c.h"
#include "src/base/time.h"
#include "src/core/clock.h"
#include "src/core/config.h"
#include "src/core/control.h"
#include "src/core/core.h"
#include "src/core/state.h"
#include "src/rpc/client.h"
#include "src/rpc/server.h"
#include "src/service/service.h"
#include "src/store/store.h"

#define SLICES 4

enum { M_CORE, M_DIRECT, M_RPC };
#define SAMPLE_CAP (8u * 1024u * 1024u)
#define SIZE_STREAMS 100000
#define FLUSH_MS 600000

typedef struct side {
	const char *name;
	orch_core core;
	orch_store *store; /* NULL: off */
	orch_service svc;
	orch_rpc_server *srv; /* the direct path (no socket) */
	orch_rpc_client *cli; /* over inproc:// to srv */
	int mode;             /* this run: M_CORE, M_DIRECT or M_RPC */
	uint64_t pairs;
	double seconds;
	int64_t *lat; /* ns of each stream_started */
	size_t n_lat;
	unsigned serial;
} side;

static int64_t
now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t) t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void
fill_start(
    orch_stream_start *ev, char *sid, size_t len, const char *tag, unsigned n)
{
	memset(ev, 0, sizeof(*ev));
	snprintf(sid, len, "%s-%09u", tag, n);
	ev->host = "10.3.3.3";
	ev->port = 6878;
	ev->key_type = "content_id";
	ev->key = sid;
	ev->stream_id = sid;
	ev->stat_url = "http://10.3.3.3:6878/ace/stat/bench/x";
}

static void
direct_done(void *arg, orch_err status, const char *message,
    const Orch__ErrorDetail *detail, const ProtobufCMessage *reply)
{
	(void) message;
	(void) detail;
	(void) reply;
	*(orch_err *) arg = status;
}

/* One call over the socket, as orchctl and the remote gateway make it. */
static orch_err
rpc_call(side *sd, const char *method, const ProtobufCMessage *req)
{
	orch_rpc_call_opts o = {NULL, 5000};
	orch_rpc_result res = {0};
	orch_err rv = orch_rpc_invoke(sd->cli, method, req, &o, &res);

	orch_rpc_result_fini(&res);
	return rv;
}

/* One pair through the method table's handlers, as the gateway calls
 * them (FAST lane: answered on this thread). */
static bool
pair_service(side *sd)
{
	char key[48], sid[64];
	Orch__EngineAddress eng = ORCH__ENGINE_ADDRESS__INIT;
	Orch__StreamKey k = ORCH__STREAM_KEY__INIT;
	Orch__SessionInfo ses = ORCH__SESSION_INFO__INIT;
	Orch__StreamStartedRequest a = ORCH__STREAM_STARTED_REQUEST__INIT;
	Orch__StreamEndedRequest b = ORCH__STREAM_ENDED_REQUEST__INIT;
	orch_err ra = ORCH_EINTERNAL, rb = ORCH_EINTERNAL;
	int64_t t0, t1;

	snprintf(key, sizeof(key), "%s-%09u", sd->name, sd->serial++);
	snprintf(sid, sizeof(sid), "%s|s", key);
	eng.host = "10.3.3.3";
	eng.has_port = 1;
	eng.port = 6878;
	k.key_type = "content_id";
	k.key = key;
	ses.playback_session_id = "s";
	ses.stat_url = "http://10.3.3.3:6878/ace/stat/bench/x";
	a.engine = &eng;
	a.stream = &k;
	a.session = &ses;
	b.stream_id = sid;
	b.reason = "done";
	t0 = now_ns();
	if (sd->mode == M_RPC)
		ra = rpc_call(sd, "StreamStarted", &a.base);
	else
		(void) orch_rpc_server_call(sd->srv, "StreamStarted", NULL,
		    5000, &a.base, direct_done, &ra);
	t1 = now_ns();
	if (sd->mode == M_RPC)
		rb = rpc_call(sd, "StreamEnded", &b.base);
	else
		(void) orch_rpc_server_call(sd->srv, "StreamEnded", NULL, 5000,
		    &b.base, direct_done, &rb);
	if (sd->n_lat < SAMPLE_CAP)
		sd->lat[sd->n_lat++] = t1 - t0;
	return ra == ORCH_OK && rb == ORCH_OK;
}

/* One pair; returns false on an error. */
static bool
pair(side *sd)
{
	char sid[48];
	orch_stream_start ev;
	orch_stream *x;
	orch_err a, b;
	int64_t t0, t1;

	fill_start(&ev, sid, sizeof(sid), sd->name, sd->serial++);
	t0 = now_ns();
	orch_core_lock(&sd->core);
	a = orch_state_stream_start(
	    &sd->core.state, &ev, orch_core_now(&sd->core), &x);
	orch_core_unlock(&sd->core);
	t1 = now_ns();
	orch_core_lock(&sd->core);
	b = orch_state_stream_end(
	    &sd->core.state, sid, NULL, "done", orch_core_now(&sd->core), &x);
	orch_core_unlock(&sd->core);
	if (sd->n_lat < SAMPLE_CAP)
		sd->lat[sd->n_lat++] = t1 - t0;
	return a == ORCH_OK && b == ORCH_OK;
}

static bool
slice(side *sd, double seconds)
{
	int64_t t0 = now_ns(), end = t0 + (int64_t) (seconds * 1e9);
	uint64_t n = 0;
	bool ok = true;

	while (ok && now_ns() < end) {
		for (int i = 0; ok && i < 64; i++)
			ok = sd->mode != M_CORE ? pair_service(sd) : pair(sd);
		n += 64;
	}
	sd->pairs += n;
	sd->seconds += (double) (now_ns() - t0) / 1e9;
	/* The backlog is drained outside the timed window. */
	if (sd->store != NULL)
		(void) orch_store_flush(sd->store, FLUSH_MS);
	return ok;
}

static int
cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;

	return (x > y) - (x < y);
}

static double
pct(side *sd, double p)
{
	size_t i;

	if (sd->n_lat == 0)
		return 0;
	i = (size_t) (p * (double) (sd->n_lat - 1));
	return (double) sd->lat[i] / 1000.0;
}

static bool
side_open(side *sd, const char *name, const orch_config *cfg, const char *path)
{
	orch_rpc_server_opts so = {0};
	char url[96];
	orch_store_opts o;
	orch_diag d;

	memset(sd, 0, sizeof(*sd));
	sd->name = name;
	sd->lat = malloc(SAMPLE_CAP * sizeof(*sd->lat));
	if (sd->lat == NULL || orch_core_init(&sd->core, cfg,
	                           orch_clock_system(), NULL) != ORCH_OK)
		return false;
	sd->svc.core = &sd->core;
	so.service = &orch__orchestrator__descriptor;
	so.methods = orch_service_methods(&so.n_methods);
	so.arg = &sd->svc;
	so.authorize = orch_service_authorize;
	snprintf(url, sizeof(url), "inproc://bench-store-%s-%d", name,
	    (int) getpid());
	if (orch_rpc_server_open(&so, &sd->srv) != ORCH_OK ||
	    orch_rpc_server_listen(sd->srv, url) != ORCH_OK ||
	    orch_rpc_client_open(url, &sd->cli) != ORCH_OK)
		return false;
	if (path == NULL)
		return true;
	memset(&o, 0, sizeof(o));
	o.path = path;
	o.cfg = cfg;
	if (orch_store_open(&o, &sd->store, &d) != ORCH_OK) {
		fprintf(stderr, "bench/store: %s\n", d.msg);
		return false;
	}
	return orch_store_start(sd->store, &sd->core) == ORCH_OK;
}

static void
side_close(side *sd)
{
	if (sd->cli != NULL)
		orch_rpc_client_close(sd->cli);
	if (sd->srv != NULL)
		orch_rpc_server_close(sd->srv);
	orch_store_close(sd->store, FLUSH_MS);
	orch_core_fini(&sd->core);
	free(sd->lat);
}

static long long
file_size(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? (long long) sb.st_size : 0;
}

/* 100,000 streams with n_stats snapshots each, through a fresh store;
 * the file's size after close. */
static bool
size_row(const orch_config *cfg, const char *dir, int n_stats)
{
	char path[600], wal[608];
	side sd;
	bool ok;
	int64_t t0 = now_ns();
	orch_store_stats s;

	snprintf(path, sizeof(path), "%s/size.db", dir);
	ok = side_open(&sd, "size", cfg, path);
	for (unsigned i = 0; ok && i < SIZE_STREAMS; i++) {
		char sid[48];
		orch_stream_start ev;
		orch_stream *x;

		fill_start(&ev, sid, sizeof(sid), "size", i);
		orch_core_lock(&sd.core);
		ok = orch_state_stream_start(&sd.core.state, &ev,
		         orch_core_now(&sd.core), &x) == ORCH_OK;
		orch_core_unlock(&sd.core);
		for (int k = 0; ok && k < n_stats; k++) {
			orch_stat st;

			memset(&st, 0, sizeof(st));
			st.ts_us = orch_wall_us() + k;
			st.peers = 10 + k;
			st.speed_down = 2048;
			st.speed_up = 128;
			st.downloaded = 1000000LL * k;
			st.uploaded = 50000LL * k;
			snprintf(st.status, sizeof(st.status), "dl");
			st.has = ~0u;
			ok = orch_core_apply_stat(&sd.core, sid, &st) ==
			     ORCH_OK;
		}
		orch_core_lock(&sd.core);
		ok = ok && orch_state_stream_end(&sd.core.state, sid, NULL,
		               "done", orch_core_now(&sd.core), &x) == ORCH_OK;
		orch_core_unlock(&sd.core);
		/* Keep the queue within its bound: this row measures size. */
		if (ok && i % 2000 == 1999)
			ok = orch_store_flush(sd.store, FLUSH_MS) == ORCH_OK;
	}
	ok = ok && orch_store_flush(sd.store, FLUSH_MS) == ORCH_OK;
	orch_store_get_stats(sd.store, &s);
	side_close(&sd);
	snprintf(wal, sizeof(wal), "%s-wal", path);
	printf("size      %d streams x %d stats: %.1f MB (%lld bytes, "
	       "%.0f bytes/stream, wal %lld), %llu records in %.1f s, "
	       "dropped %llu\n",
	    SIZE_STREAMS, n_stats,
	    (double) (file_size(path) + file_size(wal)) / 1e6,
	    file_size(path) + file_size(wal),
	    (double) (file_size(path) + file_size(wal)) / SIZE_STREAMS,
	    file_size(wal), (unsigned long long) s.written,
	    (double) (now_ns() - t0) / 1e9, (unsigned long long) s.dropped);
	return ok;
}

static void
report(const char *row, side *off, side *on, uint64_t dropped0)
{
	double r_off = (double) off->pairs / off->seconds;
	double r_on = (double) on->pairs / on->seconds;
	orch_store_stats s;

	qsort(off->lat, off->n_lat, sizeof(int64_t), cmp64);
	qsort(on->lat, on->n_lat, sizeof(int64_t), cmp64);
	orch_store_get_stats(on->store, &s);
	printf("\n%s\n", row);
	printf("  %-7s %12s %18s %18s\n", "", "pairs/s", "started p50 us",
	    "started p99 us");
	printf("  %-7s %12.0f %18.2f %18.2f\n", "off", r_off, pct(off, 0.5),
	    pct(off, 0.99));
	printf("  %-7s %12.0f %18.2f %18.2f\n", "on", r_on, pct(on, 0.5),
	    pct(on, 0.99));
	printf("  %-7s %12.2f %18.2f %18.2f   on/off: pairs/s >= 0.80 %s\n",
	    "ratio", r_on / r_off, pct(on, 0.5) / pct(off, 0.5),
	    pct(on, 0.99) / pct(off, 0.99),
	    r_on / r_off >= 0.8 ? "met" : "MISSED");
	printf("  store: %llu records dropped in this row (queue full, then "
	       "a replay); written so far %llu in %llu transactions, "
	       "%llu resyncs\n",
	    (unsigned long long) (s.dropped - dropped0),
	    (unsigned long long) s.written, (unsigned long long) s.batches,
	    (unsigned long long) s.resyncs);
}

static void
reset(side *sd, int mode)
{
	sd->pairs = 0;
	sd->seconds = 0;
	sd->n_lat = 0;
	sd->mode = mode;
}

/* One row: the two sides in ABBA slices. */
static bool
row(const char *name, side *off, side *on, int mode, double seconds)
{
	orch_store_stats s;
	bool ok = true;

	reset(off, mode);
	reset(on, mode);
	orch_store_get_stats(on->store, &s);
	for (int i = 0; ok && i < SLICES; i++) {
		side *first = i % 2 == 0 ? off : on;
		side *second = i % 2 == 0 ? on : off;

		ok = slice(first, seconds / SLICES) &&
		     slice(second, seconds / SLICES);
	}
	if (ok)
		report(name, off, on, s.dropped);
	return ok;
}

int
main(int argc, char **argv)
{
	double seconds = 2.0;
	int n_stats = 10;
	const char *base = getenv("TMPDIR");
	char dir[512], path[600];
	orch_config cfg;
	side off, on;
	bool ok;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
			seconds = atof(argv[++i]);
		else if (strcmp(argv[i], "--stats") == 0 && i + 1 < argc)
			n_stats = atoi(argv[++i]);
		else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			base = argv[++i];
		else {
			fprintf(stderr, "usage: store [--seconds S] [--stats "
			                "N] [--dir D]\n");
			return 2;
		}
	}
	snprintf(dir, sizeof(dir), "%s/orch-bench-store-XXXXXX",
	    base != NULL ? base : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/pairs.db", dir);
	orch_config_defaults(&cfg);
	ok = side_open(&off, "off", &cfg, NULL) &&
	     side_open(&on, "on", &cfg, path);
	printf("bench/store: %.1f s per side in %d slices (ABBA), database "
	       "in %s\n",
	    seconds, SLICES, dir);
	ok = ok && row("StreamStarted + StreamEnded over RPC (nng inproc://, "
	               "one call in flight: the proxies' path)",
	               &off, &on, M_RPC, seconds);
	ok = ok && row("StreamStarted + StreamEnded handlers (the method "
	               "table's direct path, as the gateway calls it)",
	               &off, &on, M_DIRECT, seconds);
	ok = ok && row("the core's state calls alone (no protobuf, no "
	               "handler: the store's share at its largest)",
	               &off, &on, M_CORE, seconds);
	side_close(&off);
	side_close(&on);
	ok = ok && size_row(&cfg, dir, n_stats);
	orch_config_fini(&cfg);
	if (!ok)
		fprintf(stderr, "bench/store: a call failed\n");
	return ok ? 0 : 1;
}

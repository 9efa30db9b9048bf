/*
 * RPC round-trip benchmark: small calls through the project's RPC layer
 * (client library -> nng REQ/REP -> server dispatch -> a FAST "Ping"
 * handler -> back), over inproc:// and ipc://, with 1, 8 and 64 calls kept
 * in flight by orch_rpc_invoke_async. Each call's latency is monotonic ns
 * from just before the invoke to the start of its completion callback
 * (so it includes packing, both envelope codecs and the payload decode).
 *
 * As a same-run baseline, the same transports and in-flight counts run a
 * raw nng REQ/REP echo of a frame of the same size: nng_req0 contexts
 * against an nng_rep0 context echo server, no protobuf, no envelope. The
 * table shows both and the ratio ours / raw.
 *
 *   bazel run -c opt //bench:rpc_roundtrip -- [--seconds S] [--warmup W]
 *
 * See bench/README.md.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "proto/orchestrator.pb-c.h"
#include "src/base/time.h"
#include "src/rpc/client.h"
#include "src/rpc/envelope.h"
#include "src/rpc/server.h"

#define MAX_INFLIGHT 64
#define CALL_TIMEOUT_MS 5000u
/* Latency samples kept per run; calls beyond are counted, not sampled. */
#define SAMPLE_CAP (8u * 1024u * 1024u)

static const int inflights[] = {1, 8, 64};
#define N_INFLIGHT (sizeof(inflights) / sizeof(inflights[0]))

/* ------------------------------------------------------------------------ */
/* One measured run: lanes (each one call in flight at a time) record into
 * this from nng's callback threads. */

struct run {
	int64_t start_ns; /* end of warm-up: measuring from here */
	int64_t end_ns;   /* no new call after this */
	atomic_uint_fast64_t done; /* completions inside [start, end] */
	atomic_uint_fast64_t errors;
	atomic_size_t n_samples;
	uint32_t *samples; /* latency in ns, SAMPLE_CAP of them */
	atomic_int active; /* lanes still running */
	pthread_mutex_t mtx;
	pthread_cond_t cv;
};

struct result {
	double calls_per_s;
	double p50_us;
	double p99_us;
	uint64_t errors;
	int ok; /* every lane finished */
};

static int
run_init(struct run *r)
{
	memset(r, 0, sizeof(*r));
	r->samples = malloc(SAMPLE_CAP * sizeof(uint32_t));
	if (r->samples == NULL)
		return -1;
	pthread_mutex_init(&r->mtx, NULL);
	pthread_cond_init(&r->cv, NULL);
	return 0;
}

static void
run_fini(struct run *r)
{
	free(r->samples);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mtx);
}

static void
run_start(struct run *r, int lanes, double warmup_s, double seconds)
{
	int64_t now = orch_mono_ns();

	r->start_ns = now + (int64_t) (warmup_s * 1e9);
	r->end_ns = r->start_ns + (int64_t) (seconds * 1e9);
	atomic_store(&r->done, 0);
	atomic_store(&r->errors, 0);
	atomic_store(&r->n_samples, 0);
	atomic_store(&r->active, lanes);
}

static void
run_record(struct run *r, int64_t t_send, int64_t t_done)
{
	int64_t lat = t_done - t_send;
	size_t i;

	if (t_done < r->start_ns || t_done > r->end_ns)
		return;
	atomic_fetch_add(&r->done, 1);
	i = atomic_fetch_add(&r->n_samples, 1);
	if (i < SAMPLE_CAP)
		r->samples[i] = lat > (int64_t) UINT32_MAX ? UINT32_MAX
		                                           : (uint32_t) lat;
}

static void
run_lane_finished(struct run *r)
{
	if (atomic_fetch_sub(&r->active, 1) == 1) {
		pthread_mutex_lock(&r->mtx);
		pthread_cond_broadcast(&r->cv);
		pthread_mutex_unlock(&r->mtx);
	}
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;

	return x < y ? -1 : x > y;
}

/* Waits for every lane (bounded), then computes the result. */
static struct result
run_wait(struct run *r, double seconds)
{
	struct result res = {0};
	struct timespec ts;
	size_t n;

	/* Lanes stop at end_ns; a call then still in flight ends by its
	 * deadline at the latest. */
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t) ((r->end_ns - orch_mono_ns()) / 1000000000) +
	    CALL_TIMEOUT_MS / 1000 + 5;
	pthread_mutex_lock(&r->mtx);
	while (atomic_load(&r->active) > 0) {
		if (pthread_cond_timedwait(&r->cv, &r->mtx, &ts) == ETIMEDOUT)
			break;
	}
	res.ok = atomic_load(&r->active) == 0;
	pthread_mutex_unlock(&r->mtx);
	n = atomic_load(&r->n_samples);
	if (n > SAMPLE_CAP)
		n = SAMPLE_CAP;
	res.calls_per_s = (double) atomic_load(&r->done) / seconds;
	res.errors = atomic_load(&r->errors);
	if (n > 0) {
		qsort(r->samples, n, sizeof(uint32_t), cmp_u32);
		res.p50_us = r->samples[n / 2] / 1e3;
		res.p99_us = r->samples[(n * 99) / 100] / 1e3; /* < n */
	}
	return res;
}

/* ------------------------------------------------------------------------ */
/* Ours: the RPC server with a Ping handler, the client library. */

static void
h_ping(void *arg, orch_call *call, const ProtobufCMessage *req)
{
	Orch__PingReply rep = ORCH__PING_REPLY__INIT;

	(void) arg;
	(void) req;
	rep.status = "ok";
	orch_call_reply(call, &rep.base);
}

static const orch_method bench_methods[] = {
	{"Ping", h_ping, ORCH_LANE_FAST, ORCH_AUTH_OPEN},
};

struct rpc_lane {
	struct run *run;
	orch_rpc_client *cli;
	int64_t t_send;
};

static int rpc_lane_send(struct rpc_lane *l);

static void
rpc_lane_done(void *arg, orch_rpc_result *res)
{
	struct rpc_lane *l = arg;
	int64_t now = orch_mono_ns();
	const Orch__PingReply *rep = (const void *) res->reply;

	if (res->status != ORCH_OK || rep == NULL ||
	    strcmp(rep->status, "ok") != 0)
		atomic_fetch_add(&l->run->errors, 1);
	else
		run_record(l->run, l->t_send, now);
	orch_rpc_result_fini(res);
	if (now >= l->run->end_ns || rpc_lane_send(l) != 0)
		run_lane_finished(l->run);
}

/* Starts the lane's next call; -1 (counted) when it could not. */
static int
rpc_lane_send(struct rpc_lane *l)
{
	static const Orch__PingRequest req = ORCH__PING_REQUEST__INIT;
	orch_rpc_call_opts o = {.timeout_ms = CALL_TIMEOUT_MS};

	l->t_send = orch_mono_ns();
	if (orch_rpc_invoke_async(l->cli, "Ping", &req.base, &o, rpc_lane_done,
	        l) != ORCH_OK) {
		atomic_fetch_add(&l->run->errors, 1);
		return -1;
	}
	return 0;
}

static struct result
bench_rpc(const char *url, int lanes, double warmup_s, double seconds,
    struct run *run)
{
	struct rpc_lane lane[MAX_INFLIGHT];
	orch_rpc_client *cli;
	struct result res = {0};

	if (orch_rpc_client_open(url, &cli) != ORCH_OK) {
		fprintf(stderr, "rpc client: cannot open %s\n", url);
		return res;
	}
	run_start(run, lanes, warmup_s, seconds);
	for (int i = 0; i < lanes; i++) {
		lane[i] = (struct rpc_lane){run, cli, 0};
		if (rpc_lane_send(&lane[i]) != 0)
			run_lane_finished(run);
	}
	res = run_wait(run, seconds);
	orch_rpc_client_close(cli); /* completes any straggler first */
	return res;
}

/* The size of the request frame ours sends, for the raw baseline. */
static size_t
ping_frame_size(void)
{
	Orch__RequestEnvelope env = ORCH__REQUEST_ENVELOPE__INIT;
	Orch__PingRequest req = ORCH__PING_REQUEST__INIT;
	uint8_t *buf = NULL;
	size_t len = 0;

	env.method = "Ping";
	env.request_id = UINT64_MAX / 3; /* a client nonce makes it long */
	env.has_timeout_ms = 1;
	env.timeout_ms = CALL_TIMEOUT_MS;
	if (orch_rpc_pack_request(&env, &req.base, orch_rpc_malloc_alloc, &buf,
	        &len) != ORCH_OK)
		len = 16;
	free(buf);
	return len;
}

/* ------------------------------------------------------------------------ */
/* Raw baseline: an nng_rep0 context echo server, nng_req0 context lanes. */

/* Frees the message an aio holds, if any. */
static void
free_aio_msg(nng_aio *aio)
{
	nng_msg *m = nng_aio_get_msg(aio);

	if (m != NULL)
		nng_msg_free(m);
	nng_aio_set_msg(aio, NULL);
}

struct echo_ctx {
	nng_ctx ctx;
	nng_aio *aio;
	int sending;
};

struct echo_server {
	nng_socket sock;
	struct echo_ctx ctx[MAX_INFLIGHT];
	int n;
};

static void
echo_cb(void *arg)
{
	struct echo_ctx *e = arg;
	int rv = nng_aio_result(e->aio);

	if (e->sending) {
		if (rv != 0)
			free_aio_msg(e->aio); /* a failed send leaves it ours */
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
			return;
		e->sending = 0;
		nng_ctx_recv(e->ctx, e->aio);
		return;
	}
	if (rv != 0) {
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
			return;
		nng_ctx_recv(e->ctx, e->aio);
		return;
	}
	/* The received message goes back as it is: an echo. */
	e->sending = 1;
	nng_ctx_send(e->ctx, e->aio);
}

static void echo_server_close(struct echo_server *s);

static int
echo_server_open(struct echo_server *s, const char *inproc_url,
    const char *ipc_url)
{
	int rv;

	memset(s, 0, sizeof(*s));
	if ((rv = nng_rep0_open(&s->sock)) != 0) {
		fprintf(stderr, "raw server: %s\n", nng_strerror(rv));
		return -1;
	}
	for (s->n = 0; s->n < MAX_INFLIGHT; s->n++) {
		struct echo_ctx *e = &s->ctx[s->n];

		if ((rv = nng_aio_alloc(&e->aio, echo_cb, e)) != 0)
			goto fail;
		if ((rv = nng_ctx_open(&e->ctx, s->sock)) != 0) {
			nng_aio_free(e->aio);
			goto fail;
		}
	}
	if ((rv = nng_listen(s->sock, inproc_url, NULL, 0)) != 0 ||
	    (rv = nng_listen(s->sock, ipc_url, NULL, 0)) != 0)
		goto fail;
	for (int i = 0; i < s->n; i++)
		nng_ctx_recv(s->ctx[i].ctx, s->ctx[i].aio);
	return 0;
fail:
	fprintf(stderr, "raw server: %s\n", nng_strerror(rv));
	echo_server_close(s);
	return -1;
}

static void
echo_server_close(struct echo_server *s)
{
	for (int i = 0; i < s->n; i++)
		nng_aio_stop(s->ctx[i].aio);
	nng_close(s->sock);
	for (int i = 0; i < s->n; i++) {
		free_aio_msg(s->ctx[i].aio);
		nng_aio_free(s->ctx[i].aio);
	}
	s->n = 0;
}

struct raw_lane {
	struct run *run;
	nng_ctx ctx;
	nng_aio *aio;
	size_t frame;
	int receiving;
	int64_t t_send;
};

static int
raw_lane_send(struct raw_lane *l)
{
	nng_msg *m;

	if (nng_msg_alloc(&m, l->frame) != 0) {
		atomic_fetch_add(&l->run->errors, 1);
		return -1;
	}
	memset(nng_msg_body(m), 0x5a, l->frame);
	l->receiving = 0;
	l->t_send = orch_mono_ns();
	nng_aio_set_msg(l->aio, m);
	nng_ctx_send(l->ctx, l->aio);
	return 0;
}

static void
raw_lane_cb(void *arg)
{
	struct raw_lane *l = arg;
	int rv = nng_aio_result(l->aio);
	int64_t now;

	if (rv != 0) {
		free_aio_msg(l->aio); /* a failed send leaves it ours */
		atomic_fetch_add(&l->run->errors, 1);
		run_lane_finished(l->run);
		return;
	}
	if (!l->receiving) {
		l->receiving = 1;
		nng_ctx_recv(l->ctx, l->aio);
		return;
	}
	now = orch_mono_ns();
	if (nng_msg_len(nng_aio_get_msg(l->aio)) == l->frame)
		run_record(l->run, l->t_send, now);
	else
		atomic_fetch_add(&l->run->errors, 1);
	free_aio_msg(l->aio);
	if (now >= l->run->end_ns || raw_lane_send(l) != 0)
		run_lane_finished(l->run);
}

static struct result
bench_raw(const char *url, int lanes, size_t frame, double warmup_s,
    double seconds, struct run *run)
{
	struct raw_lane lane[MAX_INFLIGHT];
	nng_socket sock;
	struct result res = {0};
	int opened = 0, rv;

	if ((rv = nng_req0_open(&sock)) != 0) {
		fprintf(stderr, "raw client: %s\n", nng_strerror(rv));
		return res;
	}
	/* As the client library does: no resend, a deadline per call. */
	nng_socket_set_ms(sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	if ((rv = nng_dial(sock, url, NULL, 0)) != 0) {
		fprintf(stderr, "raw client: dial %s: %s\n", url,
		    nng_strerror(rv));
		goto out;
	}
	for (; opened < lanes; opened++) {
		struct raw_lane *l = &lane[opened];

		*l = (struct raw_lane){.run = run, .frame = frame};
		if ((rv = nng_aio_alloc(&l->aio, raw_lane_cb, l)) != 0)
			goto out;
		if ((rv = nng_ctx_open(&l->ctx, sock)) != 0) {
			nng_aio_free(l->aio);
			goto out;
		}
		nng_aio_set_timeout(l->aio, (nng_duration) CALL_TIMEOUT_MS);
	}
	run_start(run, lanes, warmup_s, seconds);
	for (int i = 0; i < lanes; i++) {
		if (raw_lane_send(&lane[i]) != 0)
			run_lane_finished(run);
	}
	res = run_wait(run, seconds);
out:
	if (rv != 0)
		fprintf(stderr, "raw client: %s\n", nng_strerror(rv));
	for (int i = 0; i < opened; i++)
		nng_aio_stop(lane[i].aio);
	nng_close(sock);
	for (int i = 0; i < opened; i++) {
		free_aio_msg(lane[i].aio);
		nng_aio_free(lane[i].aio);
	}
	return res;
}

/* ------------------------------------------------------------------------ */

static void
on_alarm(int sig)
{
	static const char msg[] = "rpc_roundtrip: watchdog: run overdue\n";

	(void) sig;
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(3);
	_exit(3);
}

static int
parse_secs(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= 0.0) || v > 600.0)
		return -1;
	*out = v;
	return 0;
}

static void
usage(const char *argv0)
{
	fprintf(stderr,
	    "usage: %s [--seconds S] [--warmup W]\n"
	    "  --seconds S  measured time per row and implementation "
	    "(default 3)\n"
	    "  --warmup W   warm-up before each measurement (default 0.5)\n",
	    argv0);
}

static void
print_ratio(double ours, double raw)
{
	if (raw > 0)
		printf(" %6.2f", ours / raw);
	else
		printf(" %6s", "-");
}

int
main(int argc, char **argv)
{
	double seconds = 3.0, warmup = 0.5;
	orch_rpc_server *srv = NULL;
	struct echo_server echo;
	struct run run;
	unsigned r = 0;
	char rpc_inproc[64], rpc_ipc[128], raw_inproc[64], raw_ipc[128];
	const char *rpc_urls[2], *raw_urls[2];
	static const char *names[2] = {"inproc", "ipc"};
	struct result ours[2][N_INFLIGHT], raw[2][N_INFLIGHT];
	orch_rpc_server_opts o = {
		.service = &orch__orchestrator__descriptor,
		.methods = bench_methods,
		.n_methods = sizeof(bench_methods) / sizeof(bench_methods[0]),
		.contexts = MAX_INFLIGHT, /* the default, said out loud */
	};
	size_t frame;
	int status = 0, echo_open = 0;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
			if (parse_secs(argv[++i], &seconds) != 0 ||
			    seconds <= 0.0) {
				usage(argv[0]);
				return 2;
			}
		} else if (strcmp(argv[i], "--warmup") == 0 && i + 1 < argc) {
			if (parse_secs(argv[++i], &warmup) != 0) {
				usage(argv[0]);
				return 2;
			}
		} else {
			usage(argv[0]);
			return strcmp(argv[i], "--help") == 0 ? 0 : 2;
		}
	}
	/* Bounded: every run is warm-up + seconds, plus closing slack. */
	signal(SIGALRM, on_alarm);
	alarm((unsigned) ((warmup + seconds + 10.0) * 2 * 2 * N_INFLIGHT) +
	    60);

	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (unsigned) orch_mono_ns();
	snprintf(rpc_inproc, sizeof(rpc_inproc), "inproc://bench-rpc-%08x", r);
	snprintf(raw_inproc, sizeof(raw_inproc), "inproc://bench-raw-%08x", r);
	/* Under /tmp: a unix socket path is limited to 108 bytes. */
	snprintf(rpc_ipc, sizeof(rpc_ipc), "ipc:///tmp/orch-bench-rpc-%08x.sock",
	    r);
	snprintf(raw_ipc, sizeof(raw_ipc), "ipc:///tmp/orch-bench-raw-%08x.sock",
	    r);
	rpc_urls[0] = rpc_inproc;
	rpc_urls[1] = rpc_ipc;
	raw_urls[0] = raw_inproc;
	raw_urls[1] = raw_ipc;

	if (run_init(&run) != 0) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	if (orch_rpc_server_open(&o, &srv) != ORCH_OK ||
	    orch_rpc_server_listen(srv, rpc_inproc) != ORCH_OK ||
	    orch_rpc_server_listen(srv, rpc_ipc) != ORCH_OK) {
		fprintf(stderr, "rpc server: cannot start\n");
		status = 1;
		goto out;
	}
	if (echo_server_open(&echo, raw_inproc, raw_ipc) != 0) {
		status = 1;
		goto out;
	}
	echo_open = 1;
	frame = ping_frame_size();

	printf("rpc_roundtrip: %.1f s per row after %.1f s warm-up, %ld CPUs, "
	       "Ping frame %zu bytes (raw echo frame the same)\n",
	    seconds, warmup, ncpu, frame);
	fflush(stdout);
	for (int t = 0; t < 2; t++) {
		for (size_t k = 0; k < N_INFLIGHT; k++) {
			ours[t][k] = bench_rpc(rpc_urls[t], inflights[k], warmup,
			    seconds, &run);
			raw[t][k] = bench_raw(raw_urls[t], inflights[k], frame,
			    warmup, seconds, &run);
			fprintf(stderr, "  done: %s x%d\n", names[t],
			    inflights[k]);
		}
	}

	/* "µs" is two bytes in UTF-8: those headers get one more width. */
	printf("\n%-9s %9s | %10s %9s %9s %6s | %10s %9s %9s %6s | %6s %6s "
	       "%6s\n",
	    "transport", "in-flight", "rpc call/s", "p50 µs", "p99 µs", "errs",
	    "raw call/s", "p50 µs", "p99 µs", "errs", "x tput", "x p50",
	    "x p99");
	for (int t = 0; t < 2; t++) {
		for (size_t k = 0; k < N_INFLIGHT; k++) {
			const struct result *a = &ours[t][k], *b = &raw[t][k];

			printf("%-9s %9d | %10.0f %8.1f %8.1f %6llu | %10.0f "
			       "%8.1f %8.1f %6llu |",
			    names[t], inflights[k], a->calls_per_s, a->p50_us,
			    a->p99_us, (unsigned long long) a->errors,
			    b->calls_per_s, b->p50_us, b->p99_us,
			    (unsigned long long) b->errors);
			print_ratio(a->calls_per_s, b->calls_per_s);
			print_ratio(a->p50_us, b->p50_us);
			print_ratio(a->p99_us, b->p99_us);
			printf("\n");
			if (!a->ok || !b->ok || a->calls_per_s <= 0 ||
			    b->calls_per_s <= 0)
				status = 1;
		}
	}
	printf("\nx = ours / raw: throughput below 1 and latency above 1 are "
	       "the RPC layer's cost.\n");
	if (status != 0)
		printf("some runs failed or did not finish: see stderr\n");
out:
	if (echo_open)
		echo_server_close(&echo);
	orch_rpc_server_close(srv);
	/* nng removes its ipc socket files on close; make sure. */
	unlink(rpc_ipc + strlen("ipc://"));
	unlink(raw_ipc + strlen("ipc://"));
	run_fini(&run);
	nng_fini();
	return status;
}

/*
 * The Docker client against the real daemon (DOCKER_HOST, else
 * /var/run/docker.sock), with the simulator image acestream-sim:latest
 * (tools/build-images). Skipped unless ORCH_TEST_DOCKER is set.
 *
 * Every container carries this run's own label (orchestrator.test=
 * runtime-<pid>-<random>) and a name with a random suffix, publishes only
 * on 127.0.0.1 and only in 29100-29199 (no other test uses that range);
 * each test removes what it made and the group teardown removes whatever
 * still carries the label, and nothing else.
 */
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "src/base/time.h"
#include "src/runtime/docker.h"

#define IMAGE "acestream-sim:latest"
#define PORT_LO 29100
#define PORT_HI 29199

static orch_docker *dk;
static char
    label_val[64]; /* orchestrator.test's value: runtime-<pid>-<rand> */
static orch_rt_kv run_label = {"orchestrator.test", label_val};
static unsigned rnd;

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static void
make_name(char *buf, size_t len, const char *what)
{
	snprintf(buf, len, "orch-rt-%s-%d-%x", what, (int) getpid(), rnd++);
}

/* A loopback port of our range that is free now. */
static int
free_port(void)
{
	/* A random start: in Bazel's sandbox every test's pid is small and
	 * alike, and parallel runs must not all try the same port first. */
	int start = PORT_LO + rand() % (PORT_HI - PORT_LO + 1);

	for (int i = 0; i < PORT_HI - PORT_LO + 1; i++) {
		int port =
		    PORT_LO + (start - PORT_LO + i) % (PORT_HI - PORT_LO + 1);
		struct sockaddr_in sa = {.sin_family = AF_INET,
		    .sin_port = htons((uint16_t) port),
		    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

		ok = fd >= 0 &&
		     bind(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0;
		if (fd >= 0)
			close(fd);
		if (ok)
			return port;
	}
	fail_msg("no free port in %d-%d", PORT_LO, PORT_HI);
	return -1;
}

static size_t
discard(char *p, size_t size, size_t nmemb, void *arg)
{
	(void) p;
	(void) arg;
	return size * nmemb;
}

/* HTTP status of a GET to url (0: no answer). */
static long
http_status(const char *url)
{
	CURL *e = curl_easy_init();
	long status = 0;

	assert_non_null(e);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 1000L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
	if (curl_easy_perform(e) == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(e);
	return status;
}

/* Removes every container with this run's label. */
static int
remove_ours(void)
{
	const orch_rt_kv *labels = &run_label;
	orch_rt_container *v = NULL;
	size_t n = 0;
	int removed = 0;

	if (dk == NULL ||
	    orch_docker_list(dk, labels, 1, &v, &n, NULL) != ORCH_OK)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (orch_docker_remove(dk, v[i].id, true, NULL) == ORCH_OK)
			removed++;
	}
	orch_rt_container_list_free(v, n);
	return removed;
}

static int
group_setup(void **state)
{
	const char *host = getenv("DOCKER_HOST");
	orch_diag diag;

	(void) state;
	if (getenv("ORCH_TEST_DOCKER") == NULL)
		return 0;
	srand((unsigned) (orch_wall_us() ^ getpid()));
	rnd = (unsigned) rand();
	snprintf(label_val, sizeof(label_val), "runtime-%d-%08x",
	    (int) getpid(), (unsigned) rand());
	if (orch_docker_open(host != NULL && host[0] != '\0'
	                         ? host
	                         : ORCH_DOCKER_DEFAULT_HOST,
	        20000, &dk) != ORCH_OK)
		return -1;
	if (orch_docker_image_inspect(dk, IMAGE, &diag) != ORCH_OK) {
		fprintf(stderr, "%s is missing (run tools/build-images): %s\n",
		    IMAGE, diag.msg);
		return -1;
	}
	return 0;
}

static int
group_teardown(void **state)
{
	(void) state;
	if (dk != NULL) {
		int n = remove_ours();

		if (n > 0)
			fprintf(stderr,
			    "teardown removed %d leftover container(s)\n", n);
		orch_docker_close(dk);
		dk = NULL;
	}
	return 0;
}

/* First line of every test: cmocka counts a skip() in a test body as
 * skipped, but one in a setup function as an error. */
#define NEED_DOCKER()                                                         \
	do {                                                                  \
		(void) state;                                                 \
		if (getenv("ORCH_TEST_DOCKER") == NULL || dk == NULL)         \
			skip();                                               \
	} while (0)

/* Creates (not starts) a plain engine container with our label. */
static char *
create_engine(const char *name, int port)
{
	char env_port[32], port_label[16];
	const char *env[] = {env_port, NULL};
	/* A key containing '=' is a key: it must not become "orchestrator"
	 * with the value "port=..." (labels travel as pairs). */
	orch_rt_kv labels[] = {run_label, {"orchestrator.port", port_label},
	    {"orchestrator.eq=key", "v=1"}};
	orch_rt_publish pub = {port, port, "tcp"};
	orch_rt_create_spec spec = {
	    .name = name,
	    .image = IMAGE,
	    .env = env,
	    .labels = labels,
	    .n_labels = 3,
	    .ports = &pub,
	    .n_ports = port > 0 ? 1 : 0,
	    .host_ip = "127.0.0.1",
	    .restart_policy = "no",
	    .network = "bridge",
	    .cmd = (const char *const[]){"/sim", "engine", NULL},
	};
	orch_diag diag;
	char *id = NULL;

	snprintf(env_port, sizeof(env_port), "HTTP_PORT=%d",
	    port > 0 ? port : 6878);
	snprintf(port_label, sizeof(port_label), "%d", port);
	if (orch_docker_create(dk, &spec, &id, &diag) != ORCH_OK)
		fail_msg("create %s: %s", name, diag.msg);
	return id;
}

/* ------------------------------------------------------------------------ */

static void
test_version_and_ping(void **state)
{
	char v[16];
	int major = 0, minor = 0;
	orch_diag diag;

	NEED_DOCKER();
	assert_int_equal(orch_docker_ping(dk, &diag), ORCH_OK);
	assert_int_equal(diag.status, 200);
	assert_int_equal(orch_docker_api_version(dk, v, sizeof(v)), ORCH_OK);
	assert_int_equal(sscanf(v, "%d.%d", &major, &minor), 2);
	print_message("negotiated Docker API %s\n", v);
	assert_int_equal(major, 1);
	assert_true(minor >= ORCH_DOCKER_API_MIN_MINOR &&
	            minor <= ORCH_DOCKER_API_MINOR);
}

static void
test_engine_lifecycle(void **state)
{
	char name[64], url[128], env_want[32], port_key[16];
	const orch_rt_kv *labels = &run_label;
	orch_rt_container c, *list = NULL;
	const orch_rt_port *p;
	orch_diag diag;
	size_t n = 0;
	int port = free_port();
	int64_t deadline, t0;
	long status = 0;
	char *id, *id2 = NULL;
	bool env_found = false;

	NEED_DOCKER();
	make_name(name, sizeof(name), "eng");
	id = create_engine(name, port);
	assert_non_null(id);
	assert_int_equal(orch_docker_start(dk, id, &diag), ORCH_OK);
	assert_int_equal(diag.status, 204);
	/* Already started: 304, still OK. */
	assert_int_equal(orch_docker_start(dk, id, &diag), ORCH_OK);
	assert_int_equal(diag.status, 304);

	/* The engine answers on the published loopback port. */
	snprintf(url, sizeof(url),
	    "http://127.0.0.1:%d/server/api?"
	    "api_version=3&method=get_status",
	    port);
	t0 = orch_mono_ms();
	deadline = t0 + 20000;
	while (orch_mono_ms() < deadline && (status = http_status(url)) != 200)
		sleep_ms(50);
	assert_int_equal(status, 200);
	print_message("engine answered after %lld ms\n",
	    (long long) (orch_mono_ms() - t0));

	/* Inspect. */
	assert_int_equal(orch_docker_inspect(dk, id, &c, &diag), ORCH_OK);
	assert_string_equal(c.id, id);
	assert_string_equal(c.name, name);
	assert_string_equal(c.image, IMAGE);
	assert_string_equal(c.state, "running");
	assert_true(c.running);
	assert_string_equal(
	    orch_rt_container_label(&c, "orchestrator.test"), label_val);
	assert_non_null(orch_rt_container_label(&c, "orchestrator.port"));
	assert_int_equal(
	    atoi(orch_rt_container_label(&c, "orchestrator.port")), port);
	snprintf(port_key, sizeof(port_key), "%d/tcp", port);
	p = orch_rt_container_port(&c, port_key);
	assert_non_null(p);
	assert_int_equal(p->n_bindings, 1);
	assert_string_equal(p->bindings[0].host_ip, "127.0.0.1");
	assert_int_equal(atoi(p->bindings[0].host_port), port);
	snprintf(env_want, sizeof(env_want), "HTTP_PORT=%d", port);
	for (size_t i = 0; i < c.n_env; i++)
		env_found = env_found || strcmp(c.env[i], env_want) == 0;
	assert_true(env_found);
	assert_true(c.created_us > orch_wall_us() - 600LL * 1000000 &&
	            c.created_us < orch_wall_us() + 600LL * 1000000);
	assert_true(strlen(c.created) >= 20 && c.created[4] == '-');

	/* List by the label: exactly this one, same facts. */
	assert_int_equal(
	    orch_docker_list(dk, labels, 1, &list, &n, &diag), ORCH_OK);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].id, id);
	assert_string_equal(list[0].name, name);
	assert_string_equal(list[0].image, IMAGE);
	assert_string_equal(list[0].state, "running");
	assert_true(list[0].running);
	assert_string_equal(
	    orch_rt_container_label(&list[0], "orchestrator.test"), label_val);
	assert_int_equal(list[0].created_us / 1000000, c.created_us / 1000000);
	p = orch_rt_container_port(&list[0], port_key);
	assert_non_null(p);
	assert_true(p->n_bindings >= 1);
	assert_string_equal(p->bindings[0].host_ip, "127.0.0.1");
	assert_int_equal(atoi(p->bindings[0].host_port), port);
	orch_rt_container_list_free(list, n);
	orch_rt_container_fini(&c);

	/* The same name again: ORCH_EEXIST (409). */
	{
		orch_rt_create_spec dup = {.name = name,
		    .image = IMAGE,
		    .labels = labels,
		    .n_labels = 1};

		assert_int_equal(
		    orch_docker_create(dk, &dup, &id2, &diag), ORCH_EEXIST);
		assert_null(id2);
		assert_int_equal(diag.status, 409);
		assert_non_null(strstr(diag.msg, "already in use"));
	}

	/* Running without force cannot be removed. */
	assert_int_equal(
	    orch_docker_remove(dk, id, false, &diag), ORCH_EPRECOND);
	assert_int_equal(diag.status, 409);

	/* Stop (the sim exits on SIGTERM at once), then again: 304. */
	t0 = orch_mono_ms();
	assert_int_equal(orch_docker_stop(dk, id, 5, &diag), ORCH_OK);
	assert_int_equal(diag.status, 204);
	print_message(
	    "stop took %lld ms\n", (long long) (orch_mono_ms() - t0));
	assert_int_equal(orch_docker_stop(dk, id, 5, &diag), ORCH_OK);
	assert_int_equal(diag.status, 304);
	assert_int_equal(orch_docker_inspect(dk, id, &c, &diag), ORCH_OK);
	assert_false(c.running);
	assert_string_equal(c.state, "exited");
	/* Stopped: the configured binding is still reported. */
	p = orch_rt_container_port(&c, port_key);
	assert_non_null(p);
	assert_int_equal(atoi(p->bindings[0].host_port), port);
	orch_rt_container_fini(&c);
	assert_int_equal(orch_docker_kill(dk, id, NULL, &diag), ORCH_EPRECOND);

	/* Remove; then it is gone. */
	assert_int_equal(orch_docker_remove(dk, id, false, &diag), ORCH_OK);
	assert_int_equal(
	    orch_docker_inspect(dk, id, &c, &diag), ORCH_ENOTFOUND);
	assert_int_equal(diag.status, 404);
	assert_null(c.id);
	assert_int_equal(
	    orch_docker_remove(dk, id, true, &diag), ORCH_ENOTFOUND);
	assert_int_equal(orch_docker_start(dk, id, &diag), ORCH_ENOTFOUND);
	assert_int_equal(
	    orch_docker_list(dk, labels, 1, &list, &n, &diag), ORCH_OK);
	assert_int_equal(n, 0);
	assert_null(list);
	free(id);
}

/* Labels travel as pairs: a key containing '=' stays one key on the
 * daemon (not "orchestrator.eq" = "key=v=1"), and a list filter on it,
 * which Docker's "k=v" syntax cannot say, is checked on the reply. */
static void
test_label_pairs(void **state)
{
	orch_rt_kv eq[] = {run_label, {"orchestrator.eq=key", "v=1"}};
	orch_rt_kv ne[] = {run_label, {"orchestrator.eq=key", "v"}};
	orch_rt_container c, *list = NULL;
	orch_diag diag;
	char name[64], *id;
	size_t n = 0;

	NEED_DOCKER();
	make_name(name, sizeof(name), "pairs");
	id = create_engine(name, 0);
	assert_int_equal(orch_docker_inspect(dk, id, &c, &diag), ORCH_OK);
	assert_string_equal(
	    orch_rt_container_label(&c, "orchestrator.eq=key"), "v=1");
	assert_null(orch_rt_container_label(&c, "orchestrator.eq"));
	orch_rt_container_fini(&c);
	assert_int_equal(
	    orch_docker_list(dk, eq, 2, &list, &n, &diag), ORCH_OK);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].id, id);
	orch_rt_container_list_free(list, n);
	assert_int_equal(
	    orch_docker_list(dk, ne, 2, &list, &n, &diag), ORCH_OK);
	assert_int_equal(n, 0);
	assert_null(list);
	assert_int_equal(orch_docker_remove(dk, id, true, &diag), ORCH_OK);
	free(id);
}

static void
test_images(void **state)
{
	orch_diag diag;
	orch_rt_create_spec spec = {.image = "orch-test-missing/none:latest"};
	char name[64], *id = NULL;
	int64_t t0, ms;
	orch_err rv;

	NEED_DOCKER();
	assert_int_equal(orch_docker_image_inspect(dk, IMAGE, &diag), ORCH_OK);
	assert_int_equal(orch_docker_image_inspect(
	                     dk, "orch-test-missing/none:latest", &diag),
	    ORCH_ENOTFOUND);
	assert_int_equal(diag.status, 404);
	/* Creating from it: no such image. */
	make_name(name, sizeof(name), "noimg");
	spec.name = name;
	assert_int_equal(
	    orch_docker_create(dk, &spec, &id, &diag), ORCH_ENOTFOUND);
	assert_null(id);
	/* Pulling it fails, and fast: no registry is reachable here. */
	t0 = orch_mono_ms();
	rv = orch_docker_image_pull(
	    dk, "orch-test-missing/none:latest", 30000, &diag);
	ms = orch_mono_ms() - t0;
	print_message("pull of a missing image: %s after %lld ms: %s\n",
	    orch_strerror(rv), (long long) ms, diag.msg);
	assert_int_not_equal(rv, ORCH_OK);
	assert_true(rv == ORCH_EINTERNAL || rv == ORCH_ENOTFOUND);
	assert_true(diag.msg[0] != '\0');
	assert_true(ms < 10000);
}

/* ------------------------------------------------------------------------ */
/* Events. */

struct ev_seen {
	pthread_mutex_t mu;
	char id[80]; /* the container to watch ("" until known) */
	bool start, die, destroy;
	bool name_ok, label_ok;
	int ups;
	int others; /* events of other containers: must be none */
};

static void
on_event(void *arg, const orch_rt_event *ev)
{
	struct ev_seen *s = arg;
	const char *l = orch_rt_event_attr(ev, "orchestrator.test");

	pthread_mutex_lock(&s->mu);
	if (l == NULL || strcmp(l, label_val) != 0) {
		s->others++;
	} else if (s->id[0] != '\0' && strcmp(ev->id, s->id) == 0) {
		s->label_ok = true;
		if (ev->name != NULL &&
		    strncmp(ev->name, "orch-rt-ev-", 11) == 0)
			s->name_ok = true;
		if (strcmp(ev->action, "start") == 0)
			s->start = true;
		if (strcmp(ev->action, "die") == 0)
			s->die = true;
		if (strcmp(ev->action, "destroy") == 0)
			s->destroy = true;
	}
	pthread_mutex_unlock(&s->mu);
}

static void
on_state(void *arg, bool connected, orch_err err, const char *msg)
{
	struct ev_seen *s = arg;

	(void) err;
	(void) msg;
	pthread_mutex_lock(&s->mu);
	if (connected)
		s->ups++;
	pthread_mutex_unlock(&s->mu);
}

static bool
wait_flag(struct ev_seen *s, const bool *flag, const int *count, int ms)
{
	int64_t deadline = orch_mono_ms() + ms;
	bool ok;

	do {
		pthread_mutex_lock(&s->mu);
		ok = flag != NULL ? *flag : *count > 0;
		pthread_mutex_unlock(&s->mu);
		if (ok)
			return true;
		sleep_ms(20);
	} while (orch_mono_ms() < deadline);
	return false;
}

static void
test_events(void **state)
{
	const orch_rt_kv *labels = &run_label;
	orch_rt_events_opts opts = {0};
	orch_docker_events *ev = NULL;
	orch_diag diag;
	struct ev_seen s;
	char name[64], *id;
	int64_t t0, ms;

	NEED_DOCKER();
	memset(&s, 0, sizeof(s));
	pthread_mutex_init(&s.mu, NULL);
	opts.labels = labels;
	opts.n_labels = 1;
	opts.type = "container";
	opts.on_event = on_event;
	opts.on_state = on_state;
	opts.arg = &s;
	assert_int_equal(orch_docker_events_open(dk, &opts, &ev), ORCH_OK);
	assert_true(wait_flag(&s, NULL, &s.ups, 10000));

	make_name(name, sizeof(name), "ev");
	id = create_engine(name, 0);
	pthread_mutex_lock(&s.mu);
	snprintf(s.id, sizeof(s.id), "%s", id);
	pthread_mutex_unlock(&s.mu);
	assert_int_equal(orch_docker_start(dk, id, &diag), ORCH_OK);
	assert_true(wait_flag(&s, &s.start, NULL, 10000));
	assert_int_equal(orch_docker_kill(dk, id, "SIGKILL", &diag), ORCH_OK);
	assert_true(wait_flag(&s, &s.die, NULL, 10000));
	assert_int_equal(orch_docker_remove(dk, id, true, &diag), ORCH_OK);
	assert_true(wait_flag(&s, &s.destroy, NULL, 10000));
	pthread_mutex_lock(&s.mu);
	assert_true(s.name_ok);
	assert_true(s.label_ok);
	assert_int_equal(s.others, 0); /* the filter did its job */
	pthread_mutex_unlock(&s.mu);

	/* Connected and idle: stop returns promptly. */
	t0 = orch_mono_ms();
	orch_docker_events_close(ev);
	ms = orch_mono_ms() - t0;
	print_message("events stream closed in %lld ms\n", (long long) ms);
	assert_true(ms < 1000);
	pthread_mutex_destroy(&s.mu);
	free(id);
}

/* ------------------------------------------------------------------------ */
/* One handle, many threads. */

struct worker {
	int ok, failed;
};

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	const orch_rt_kv *labels = &run_label;
	orch_rt_container *v = NULL;
	size_t n;

	for (int i = 0; i < 25; i++) {
		if (orch_docker_ping(dk, NULL) == ORCH_OK &&
		    orch_docker_list(dk, labels, 1, &v, &n, NULL) == ORCH_OK &&
		    orch_docker_image_inspect(dk, IMAGE, NULL) == ORCH_OK)
			w->ok++;
		else
			w->failed++;
		orch_rt_container_list_free(v, n);
		v = NULL;
	}
	return NULL;
}

static void
test_concurrent_calls(void **state)
{
	pthread_t t[6];
	struct worker w[6];

	NEED_DOCKER();
	memset(w, 0, sizeof(w));
	for (int i = 0; i < 6; i++)
		assert_int_equal(
		    pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	for (int i = 0; i < 6; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].ok, 25);
		assert_int_equal(w[i].failed, 0);
	}
}

static void
test_leaves_nothing(void **state)
{
	NEED_DOCKER();
	/* Every test removed what it made. */
	assert_int_equal(remove_ours(), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_version_and_ping),
	    cmocka_unit_test(test_engine_lifecycle),
	    cmocka_unit_test(test_label_pairs),
	    cmocka_unit_test(test_images),
	    cmocka_unit_test(test_events),
	    cmocka_unit_test(test_concurrent_calls),
	    cmocka_unit_test(test_leaves_nothing),
	};

	return cmocka_run_group_tests_name(
	    "docker", tests, group_setup, group_teardown);
}

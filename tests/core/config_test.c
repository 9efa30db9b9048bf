/*
 * orch_config: defaults against CONTRACT.md's table, every variable read,
 * every kind of bad value refused with a line naming the variable, and the
 * .env file (quotes, comments, `export`, env-wins, malformed lines).
 * Environments are plain arrays; nothing calls setenv.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "src/core/config.h"

#define ENV(...) ((const char *const[]){__VA_ARGS__, NULL})

/* The last load's diagnostics: msg is the line the daemon prints, field
 * the variable at fault. */
static orch_diag diag;

static orch_err
load(orch_config *cfg, const char *const *env, const char *dotenv)
{
	memset(&diag, 'x', sizeof(diag)); /* cleared by every load */
	return orch_config_load(cfg, env, dotenv, &diag);
}

static void
check_defaults(const orch_config *c)
{
	assert_string_equal(c->app_host, "0.0.0.0");
	assert_int_equal(c->app_port, 8000);
	assert_int_equal(c->rpc_listen_n, 1);
	assert_string_equal(c->rpc_listen[0], "tcp://127.0.0.1:7600");
	assert_null(c->api_key);
	assert_null(c->read_api_key);
	assert_string_equal(
	    c->target_image, "ghcr.io/krinkuto11/acestream-http-proxy:latest");
	assert_int_equal(c->image_pull, ORCH_IMAGE_PULL_MISSING);
	assert_int_equal(c->min_replicas, 1);
	assert_int_equal(c->max_replicas, 10);
	assert_int_equal(c->max_streams_per_engine, 1);
	assert_string_equal(c->container_label_key, "orchestrator.managed");
	assert_string_equal(c->container_label_value, "acestream");
	assert_string_equal(c->engine_name_prefix, "acestream");
	assert_null(c->engine_host);
	assert_string_equal(c->docker_host, "unix:///var/run/docker.sock");
	assert_null(c->docker_network);
	assert_int_equal(c->port_range_host.lo, 19000);
	assert_int_equal(c->port_range_host.hi, 19999);
	assert_int_equal(c->ace_https_range.lo, 45000);
	assert_int_equal(c->ace_https_range.hi, 49999);
	assert_false(c->ace_map_https);
	assert_int_equal(c->startup_timeout_s, 25);
	assert_true(c->auto_delete);
	assert_int_equal(c->engine_grace_period_s, 30);
	assert_int_equal(c->autoscale_interval_s, 5);
	assert_int_equal(c->monitor_interval_s, 10);
	assert_int_equal(c->health_check_interval_s, 10);
	assert_int_equal(c->health_failure_threshold, 3);
	assert_int_equal(c->health_unhealthy_grace_period_s, 30);
	assert_int_equal(c->health_replacement_cooldown_s, 30);
	assert_int_equal(c->cb_failure_threshold, 5);
	assert_int_equal(c->cb_recovery_timeout_s, 300);
	assert_int_equal(c->cb_replacement_threshold, 3);
	assert_int_equal(c->cb_replacement_timeout_s, 180);
	assert_int_equal(c->reservation_ttl_s, 15);
	assert_int_equal(c->collect_interval_s, 5);
	assert_int_equal(c->stats_history_max, 720);
	assert_null(c->gluetun_container_name);
	assert_int_equal(c->gluetun_api_port, 8000);
	assert_int_equal(c->gluetun_health_check_interval_s, 5);
	assert_int_equal(c->gluetun_port_cache_ttl_s, 60);
	assert_true(c->vpn_restart_engines_on_reconnect);
	assert_string_equal(c->cors_origins, "*");
	assert_string_equal(c->db_path, "./orchestrator.db");
	assert_int_equal(c->log_level, ORCH_LOG_INFO);
}

static void
test_defaults(void **state)
{
	orch_config c;
	(void) state;

	orch_config_defaults(&c);
	check_defaults(&c);
	orch_config_fini(&c);
	orch_config_fini(&c); /* twice is safe */

	assert_int_equal(load(&c, NULL, NULL), ORCH_OK);
	assert_string_equal(diag.msg, "");
	assert_string_equal(diag.field, "");
	check_defaults(&c);
	orch_config_fini(&c);

	assert_int_equal(
	    load(&c, ENV("PATH=/bin", "HOME=/root"), NULL), ORCH_OK);
	check_defaults(&c);
	orch_config_fini(&c);
}

/* Empty values count as unset: defaults apply, optional strings NULL. */
static void
test_empty_is_unset(void **state)
{
	orch_config c;
	(void) state;

	assert_int_equal(load(&c,
	                     ENV("MIN_REPLICAS=", "API_KEY=", "TARGET_IMAGE=",
	                         "GLUETUN_CONTAINER_NAME=", "AUTO_DELETE="),
	                     NULL),
	    ORCH_OK);
	check_defaults(&c);
	orch_config_fini(&c);
}

/* ---- every integer variable ------------------------------------------ */

static const struct int_case {
	const char *env;
	size_t off;
	int want;
} int_cases[] = {
    {"APP_PORT=8080", offsetof(orch_config, app_port), 8080},
    {"APP_PORT=0", offsetof(orch_config, app_port), 0}, /* any free port */
    {"MIN_REPLICAS=0", offsetof(orch_config, min_replicas), 0},
    {"MAX_REPLICAS=40", offsetof(orch_config, max_replicas), 40},
    {"MAX_STREAMS_PER_ENGINE=4", offsetof(orch_config, max_streams_per_engine),
        4},
    {"STARTUP_TIMEOUT_S=60", offsetof(orch_config, startup_timeout_s), 60},
    {"ENGINE_GRACE_PERIOD_S=0", offsetof(orch_config, engine_grace_period_s),
        0},
    {"AUTOSCALE_INTERVAL_S=7", offsetof(orch_config, autoscale_interval_s), 7},
    {"MONITOR_INTERVAL_S=11", offsetof(orch_config, monitor_interval_s), 11},
    {"HEALTH_CHECK_INTERVAL_S=12",
        offsetof(orch_config, health_check_interval_s), 12},
    {"HEALTH_FAILURE_THRESHOLD=4",
        offsetof(orch_config, health_failure_threshold), 4},
    {"HEALTH_UNHEALTHY_GRACE_PERIOD_S=45",
        offsetof(orch_config, health_unhealthy_grace_period_s), 45},
    {"HEALTH_REPLACEMENT_COOLDOWN_S=31",
        offsetof(orch_config, health_replacement_cooldown_s), 31},
    {"CIRCUIT_BREAKER_FAILURE_THRESHOLD=6",
        offsetof(orch_config, cb_failure_threshold), 6},
    {"CIRCUIT_BREAKER_RECOVERY_TIMEOUT_S=301",
        offsetof(orch_config, cb_recovery_timeout_s), 301},
    {"CIRCUIT_BREAKER_REPLACEMENT_THRESHOLD=2",
        offsetof(orch_config, cb_replacement_threshold), 2},
    {"CIRCUIT_BREAKER_REPLACEMENT_TIMEOUT_S=181",
        offsetof(orch_config, cb_replacement_timeout_s), 181},
    {"RESERVATION_TTL_S=16", offsetof(orch_config, reservation_ttl_s), 16},
    {"COLLECT_INTERVAL_S=2", offsetof(orch_config, collect_interval_s), 2},
    {"STATS_HISTORY_MAX=100", offsetof(orch_config, stats_history_max), 100},
    {"GLUETUN_API_PORT=65535", offsetof(orch_config, gluetun_api_port), 65535},
    {"GLUETUN_HEALTH_CHECK_INTERVAL_S=9",
        offsetof(orch_config, gluetun_health_check_interval_s), 9},
    {"GLUETUN_PORT_CACHE_TTL_S=0",
        offsetof(orch_config, gluetun_port_cache_ttl_s), 0},
    {"MAX_REPLICAS=2147483647", offsetof(orch_config, max_replicas),
        2147483647},
};

static void
test_ints(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(int_cases) / sizeof(int_cases[0]); i++) {
		const struct int_case *tc = &int_cases[i];
		orch_config c;

		if (load(&c, ENV(tc->env), NULL) != ORCH_OK)
			fail_msg("%s: %s", tc->env, diag.msg);
		if (*(int *) ((char *) &c + tc->off) != tc->want)
			fail_msg("%s: got %d", tc->env,
			    *(int *) ((char *) &c + tc->off));
		orch_config_fini(&c);
	}
}

/* ---- strings --------------------------------------------------------- */

static const struct str_case {
	const char *env;
	size_t off;
	const char *want;
} str_cases[] = {
    {"APP_HOST=127.0.0.1", offsetof(orch_config, app_host), "127.0.0.1"},
    {"API_KEY=s3cret", offsetof(orch_config, api_key), "s3cret"},
    {"READ_API_KEY=r=o", offsetof(orch_config, read_api_key), "r=o"},
    {"TARGET_IMAGE=acestream-sim:dev", offsetof(orch_config, target_image),
        "acestream-sim:dev"},
    {"ENGINE_NAME_PREFIX=ace_1.x-y", offsetof(orch_config, engine_name_prefix),
        "ace_1.x-y"},
    {"ENGINE_HOST=10.0.0.5", offsetof(orch_config, engine_host), "10.0.0.5"},
    {"DOCKER_HOST=tcp://docker:2375", offsetof(orch_config, docker_host),
        "tcp://docker:2375"},
    {"DOCKER_HOST=unix:///run/d.sock", offsetof(orch_config, docker_host),
        "unix:///run/d.sock"},
    {"DOCKER_NETWORK=acenet", offsetof(orch_config, docker_network), "acenet"},
    {"GLUETUN_CONTAINER_NAME=gluetun",
        offsetof(orch_config, gluetun_container_name), "gluetun"},
    {"CORS_ORIGINS=http://a,http://b", offsetof(orch_config, cors_origins),
        "http://a,http://b"},
    {"DB_PATH=/data/o.db", offsetof(orch_config, db_path), "/data/o.db"},
    {"DB_URL=sqlite:///./x.db", offsetof(orch_config, db_path), "./x.db"},
    {"DB_URL=sqlite:////data/x.db", offsetof(orch_config, db_path),
        "/data/x.db"},
};

static void
test_strings(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(str_cases) / sizeof(str_cases[0]); i++) {
		const struct str_case *tc = &str_cases[i];
		orch_config c;
		const char *got;

		if (load(&c, ENV(tc->env), NULL) != ORCH_OK)
			fail_msg("%s: %s", tc->env, diag.msg);
		got = *(char **) ((char *) &c + tc->off);
		if (got == NULL || strcmp(got, tc->want) != 0)
			fail_msg("%s: got %s", tc->env, got ? got : "(null)");
		orch_config_fini(&c);
	}
}

/* DB_PATH wins over DB_URL. */
static void
test_db_path_wins(void **state)
{
	orch_config c;
	(void) state;

	assert_int_equal(
	    load(&c, ENV("DB_URL=sqlite:///u.db", "DB_PATH=p.db"), NULL),
	    ORCH_OK);
	assert_string_equal(c.db_path, "p.db");
	orch_config_fini(&c);
}

/* ---- bools ----------------------------------------------------------- */

static void
test_bools(void **state)
{
	static const struct {
		const char *v;
		bool want;
	} cases[] = {
	    {"true", true},
	    {"TRUE", true},
	    {"1", true},
	    {"yes", true},
	    {"Yes", true},
	    {"false", false},
	    {"False", false},
	    {"0", false},
	    {"no", false},
	    {"NO", false},
	};
	static const struct {
		const char *name;
		size_t off;
	} vars[] = {
	    {"ACE_MAP_HTTPS", offsetof(orch_config, ace_map_https)},
	    {"AUTO_DELETE", offsetof(orch_config, auto_delete)},
	    {"VPN_RESTART_ENGINES_ON_RECONNECT",
	        offsetof(orch_config, vpn_restart_engines_on_reconnect)},
	};
	(void) state;

	for (size_t j = 0; j < sizeof(vars) / sizeof(vars[0]); j++) {
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			char e[128];
			orch_config c;

			snprintf(
			    e, sizeof(e), "%s=%s", vars[j].name, cases[i].v);
			if (load(&c, ENV(e), NULL) != ORCH_OK)
				fail_msg("%s: %s", e, diag.msg);
			if (*(bool *) ((char *) &c + vars[j].off) !=
			    cases[i].want)
				fail_msg("%s: wrong value", e);
			orch_config_fini(&c);
		}
	}
}

/* ---- the structured ones --------------------------------------------- */

static void
test_structured(void **state)
{
	orch_config c;
	(void) state;

	assert_int_equal(
	    load(&c,
	        ENV("PORT_RANGE_HOST=20000-20000", "ACE_HTTPS_RANGE=1-19999",
	            "CONTAINER_LABEL=a.b=c=d", "IMAGE_PULL=never",
	            "LOG_LEVEL=debug"),
	        NULL),
	    ORCH_OK);
	assert_int_equal(c.port_range_host.lo, 20000);
	assert_int_equal(c.port_range_host.hi, 20000);
	assert_int_equal(c.ace_https_range.lo, 1);
	assert_int_equal(c.ace_https_range.hi, 19999);
	assert_string_equal(c.container_label_key, "a.b");
	assert_string_equal(c.container_label_value, "c=d");
	assert_int_equal(c.image_pull, ORCH_IMAGE_PULL_NEVER);
	assert_int_equal(c.log_level, ORCH_LOG_DEBUG);
	orch_config_fini(&c);

	assert_int_equal(load(&c,
	                     ENV("CONTAINER_LABEL=k=", "IMAGE_PULL=ALWAYS",
	                         "LOG_LEVEL=WARNING"),
	                     NULL),
	    ORCH_OK);
	assert_string_equal(c.container_label_key, "k");
	assert_string_equal(c.container_label_value, "");
	assert_int_equal(c.image_pull, ORCH_IMAGE_PULL_ALWAYS);
	assert_int_equal(c.log_level, ORCH_LOG_WARN);
	orch_config_fini(&c);

	assert_int_equal(
	    load(&c, ENV("LOG_LEVEL=error", "IMAGE_PULL=missing"), NULL),
	    ORCH_OK);
	assert_int_equal(c.log_level, ORCH_LOG_ERROR);
	assert_int_equal(c.image_pull, ORCH_IMAGE_PULL_MISSING);
	orch_config_fini(&c);

	assert_string_equal(
	    orch_image_pull_name(ORCH_IMAGE_PULL_NEVER), "never");
	assert_string_equal(
	    orch_image_pull_name(ORCH_IMAGE_PULL_ALWAYS), "always");
	assert_string_equal(
	    orch_image_pull_name(ORCH_IMAGE_PULL_MISSING), "missing");
}

static void
test_rpc_listen(void **state)
{
	orch_config c;
	(void) state;

	assert_int_equal(load(&c,
	                     ENV("RPC_LISTEN=tcp://0.0.0.0:7600, "
	                         "ipc:///tmp/orch.ipc ,inproc://x"),
	                     NULL),
	    ORCH_OK);
	assert_int_equal(c.rpc_listen_n, 3);
	assert_string_equal(c.rpc_listen[0], "tcp://0.0.0.0:7600");
	assert_string_equal(c.rpc_listen[1], "ipc:///tmp/orch.ipc");
	assert_string_equal(c.rpc_listen[2], "inproc://x");
	orch_config_fini(&c);

	assert_int_equal(load(&c,
	                     ENV("RPC_LISTEN=inproc://1,inproc://2,inproc://3,"
	                         "inproc://4,inproc://5,inproc://6,"
	                         "inproc://7,inproc://8"),
	                     NULL),
	    ORCH_OK);
	assert_int_equal(c.rpc_listen_n, 8);
	assert_string_equal(c.rpc_listen[7], "inproc://8");
	orch_config_fini(&c);
}

/* The first occurrence in env wins, as getenv() does. */
static void
test_env_first_wins(void **state)
{
	orch_config c;
	(void) state;

	assert_int_equal(
	    load(&c, ENV("APP_PORT=1", "APP_PORT=2"), NULL), ORCH_OK);
	assert_int_equal(c.app_port, 1);
	orch_config_fini(&c);
}

/* ---- bad values -------------------------------------------------------- */

static const struct bad_case {
	const char *env[3];
	const char *var;  /* must appear in err, and be diag.field */
	const char *also; /* and this too, if set */
} bad_cases[] = {
    {{"MIN_REPLICAS=abc"}, "MIN_REPLICAS",
        "MIN_REPLICAS: expected an integer >= 0, got \"abc\""},
    {{"MIN_REPLICAS=-1"}, "MIN_REPLICAS", "got \"-1\""},
    {{"MIN_REPLICAS=1.5"}, "MIN_REPLICAS", NULL},
    {{"MIN_REPLICAS= 1"}, "MIN_REPLICAS", NULL},
    {{"MIN_REPLICAS=-"}, "MIN_REPLICAS", NULL},
    {{"MAX_REPLICAS=0"}, "MAX_REPLICAS", ">= 1"},
    {{"MAX_REPLICAS=2147483648"}, "MAX_REPLICAS", NULL},
    {{"MAX_REPLICAS=99999999999999999999999"}, "MAX_REPLICAS", NULL},
    {{"APP_PORT=-1"}, "APP_PORT", "0..65535"},
    {{"APP_PORT=65536"}, "APP_PORT", NULL},
    {{"APP_PORT=80x"}, "APP_PORT", NULL},
    {{"GLUETUN_API_PORT=-5"}, "GLUETUN_API_PORT", NULL},
    {{"AUTOSCALE_INTERVAL_S=0"}, "AUTOSCALE_INTERVAL_S", NULL},
    {{"HEALTH_CHECK_INTERVAL_S=0"}, "HEALTH_CHECK_INTERVAL_S", NULL},
    {{"STARTUP_TIMEOUT_S=0"}, "STARTUP_TIMEOUT_S", NULL},
    {{"ACE_HTTPS_RANGE=19500-20500"}, "ACE_HTTPS_RANGE", "overlaps"},
    {{"PORT_RANGE_HOST=45000-45000"}, "PORT_RANGE_HOST", "overlaps"},
    {{"ENGINE_CRASH_LOOP_RESTARTS=0"}, "ENGINE_CRASH_LOOP_RESTARTS", NULL},
    {{"PROVISION_DEADLINE_S=0"}, "PROVISION_DEADLINE_S", NULL},
    {{"ENGINE_GRACE_PERIOD_S=-1"}, "ENGINE_GRACE_PERIOD_S", NULL},
    {{"AUTO_DELETE=maybe"}, "AUTO_DELETE", "true/false"},
    {{"ACE_MAP_HTTPS=2"}, "ACE_MAP_HTTPS", NULL},
    {{"VPN_RESTART_ENGINES_ON_RECONNECT=on"},
        "VPN_RESTART_ENGINES_ON_RECONNECT", NULL},
    {{"PORT_RANGE_HOST=2000-1000"}, "PORT_RANGE_HOST", "got \"2000-1000\""},
    {{"PORT_RANGE_HOST=19000"}, "PORT_RANGE_HOST", NULL},
    {{"PORT_RANGE_HOST=0-10"}, "PORT_RANGE_HOST", NULL},
    {{"PORT_RANGE_HOST=1-70000"}, "PORT_RANGE_HOST", NULL},
    {{"PORT_RANGE_HOST=a-b"}, "PORT_RANGE_HOST", NULL},
    {{"ACE_HTTPS_RANGE=5-"}, "ACE_HTTPS_RANGE", NULL},
    {{"ACE_HTTPS_RANGE=-5"}, "ACE_HTTPS_RANGE", NULL},
    {{"CONTAINER_LABEL=managed"}, "CONTAINER_LABEL", "key=value"},
    {{"CONTAINER_LABEL==v"}, "CONTAINER_LABEL", NULL},
    {{"MIN_REPLICAS=3", "MAX_REPLICAS=2"}, "MIN_REPLICAS",
        "MIN_REPLICAS (3) must not exceed MAX_REPLICAS (2)"},
    {{"LOG_LEVEL=verbose"}, "LOG_LEVEL", "got \"verbose\""},
    {{"IMAGE_PULL=sometimes"}, "IMAGE_PULL", "got \"sometimes\""},
    {{"DOCKER_HOST=http://docker:2375"}, "DOCKER_HOST", "unix://"},
    {{"DOCKER_HOST=/var/run/docker.sock"}, "DOCKER_HOST", NULL},
    {{"DOCKER_HOST=unix://"}, "DOCKER_HOST", NULL},
    {{"DB_URL=postgresql://u@h/db"}, "DB_URL", "sqlite:///"},
    {{"DB_URL=sqlite:///"}, "DB_URL", NULL},
    {{"RPC_LISTEN=127.0.0.1:7600"}, "RPC_LISTEN", NULL},
    {{"RPC_LISTEN=tcp://a:1,,tcp://b:2"}, "RPC_LISTEN", NULL},
    {{"RPC_LISTEN=tcp://a:1,"}, "RPC_LISTEN", NULL},
    {{"RPC_LISTEN=inproc://1,inproc://2,inproc://3,inproc://4,inproc://5,"
      "inproc://6,inproc://7,inproc://8,inproc://9"},
        "RPC_LISTEN", NULL},
    {{"ENGINE_NAME_PREFIX=-bad"}, "ENGINE_NAME_PREFIX", NULL},
    {{"ENGINE_NAME_PREFIX=a b"}, "ENGINE_NAME_PREFIX", NULL},
    /* a bad value after a good one: still refused, the good one freed */
    {{"TARGET_IMAGE=img:1", "API_KEY=k", "STATS_HISTORY_MAX=x"},
        "STATS_HISTORY_MAX", NULL},
    /* control characters are escaped: the line stays one line */
    {{"LOG_LEVEL=a\nb"}, "LOG_LEVEL", "\\x0a"},
};

static void
test_bad_values(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *tc = &bad_cases[i];
		const char *env[4] = {
		    tc->env[0], tc->env[1], tc->env[2], NULL};
		orch_config c;
		orch_err rc = load(&c, env, NULL);

		if (rc != ORCH_EINVAL)
			fail_msg("%s: rc %d, want EINVAL", tc->env[0], rc);
		if (strstr(diag.msg, tc->var) == NULL)
			fail_msg("%s: err \"%s\" lacks %s", tc->env[0],
			    diag.msg, tc->var);
		if (tc->also != NULL && strstr(diag.msg, tc->also) == NULL)
			fail_msg("%s: err \"%s\" lacks \"%s\"", tc->env[0],
			    diag.msg, tc->also);
		if (strchr(diag.msg, '\n') != NULL)
			fail_msg("%s: err is not one line", tc->env[0]);
		if (strcmp(diag.field, tc->var) != 0)
			fail_msg("%s: field \"%s\", want %s", tc->env[0],
			    diag.field, tc->var);
		/* cfg holds nothing after a failure; fini is harmless */
		assert_null(c.target_image);
		orch_config_fini(&c);
	}
}

/* diag may be NULL; a later good load clears what a bad one left. */
static void
test_diag(void **state)
{
	orch_config c;
	(void) state;

	assert_int_equal(
	    orch_config_load(&c, ENV("APP_PORT=x"), NULL, NULL), ORCH_EINVAL);
	assert_int_equal(load(&c, ENV("DB_URL=mysql://x"), NULL), ORCH_EINVAL);
	assert_string_equal(diag.field, "DB_URL");
	assert_string_equal(
	    diag.msg, "DB_URL: expected sqlite:///<path>, got \"mysql://x\"");
	assert_int_equal(diag.status, 0);
	assert_int_equal(
	    orch_config_load(&c, ENV("DB_URL=sqlite:///x.db"), NULL, &diag),
	    ORCH_OK);
	assert_string_equal(diag.msg, "");
	assert_string_equal(diag.field, "");
	assert_string_equal(c.db_path, "x.db");
	orch_config_fini(&c);
}

/* ---- .env -------------------------------------------------------------- */

static char *
write_dotenv(const char *name, const char *text)
{
	const char *dir = getenv("TEST_TMPDIR");
	char *path;
	FILE *f;

	if (dir == NULL)
		dir = "/tmp";
	assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	return path;
}

static void
test_dotenv(void **state)
{
	orch_config c;
	char *path = write_dotenv("good.env",
	    "# a comment\n"
	    "\n"
	    "   \n"
	    "  # indented comment\n"
	    "APP_PORT=9000\n"
	    "export MIN_REPLICAS=2\n"
	    "TARGET_IMAGE=\"img:dq\"\n"
	    "API_KEY='s#1 \"x\"'\n"
	    "READ_API_KEY=ro  # inline comment\n"
	    "CORS_ORIGINS = \"a\\\"b\"   # after quotes\n"
	    "ENGINE_HOST=h#not-comment\n"
	    "DOCKER_NETWORK=net\r\n"
	    "MAX_REPLICAS=5\n"
	    "MAX_REPLICAS=6\n"
	    "UNKNOWN_THING=whatever\n"
	    "LOG_LEVEL=debug\n"
	    "AUTO_DELETE=no"); /* no final newline */
	(void) state;

	assert_int_equal(
	    load(&c, ENV("LOG_LEVEL=error", "APP_PORT=8001"), path), ORCH_OK);
	assert_int_equal(c.app_port, 8001);            /* env wins */
	assert_int_equal(c.log_level, ORCH_LOG_ERROR); /* env wins */
	assert_int_equal(c.min_replicas, 2);           /* export prefix */
	assert_string_equal(c.target_image, "img:dq");
	assert_string_equal(c.api_key, "s#1 \"x\"");
	assert_string_equal(c.read_api_key, "ro");
	assert_string_equal(c.cors_origins, "a\"b");
	assert_string_equal(c.engine_host, "h#not-comment");
	assert_string_equal(c.docker_network, "net");
	assert_int_equal(c.max_replicas, 6); /* later line wins */
	assert_false(c.auto_delete);
	orch_config_fini(&c);

	/* an env variable set to empty still shadows the .env value */
	assert_int_equal(load(&c, ENV("API_KEY="), path), ORCH_OK);
	assert_null(c.api_key);
	orch_config_fini(&c);

	unlink(path);
	free(path);
}

static void
test_dotenv_missing(void **state)
{
	orch_config c;
	(void) state;

	assert_int_equal(load(&c, NULL, "/nonexistent/dir/.env"), ORCH_OK);
	check_defaults(&c);
	orch_config_fini(&c);
}

static void
test_dotenv_bad_value(void **state)
{
	orch_config c;
	char *path = write_dotenv("badval.env", "APP_PORT=http\n");
	(void) state;

	assert_int_equal(load(&c, NULL, path), ORCH_EINVAL);
	assert_non_null(strstr(diag.msg, "APP_PORT"));
	assert_string_equal(diag.field, "APP_PORT"); /* from .env: named too */
	/* but the environment overrides the bad .env value */
	assert_int_equal(load(&c, ENV("APP_PORT=1234"), path), ORCH_OK);
	assert_int_equal(c.app_port, 1234);
	orch_config_fini(&c);
	unlink(path);
	free(path);
}

static void
test_dotenv_malformed(void **state)
{
	static const struct {
		const char *text;
		const char *where; /* ":N:" */
	} cases[] = {
	    {"APP_PORT=1\n# ok\nno equals sign\n", ":3:"},
	    {"APP_PORT=1\n=value\n", ":2:"},
	    {"1ABC=2\n", ":1:"},
	    {"A-B=2\n", ":1:"},
	    {"\n\n\nAPI_KEY=\"unterminated\n", ":4:"},
	    {"API_KEY='a'junk\n", ":1:"},
	    {"export\n", ":1:"},
	};
	(void) state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		orch_config c;
		char *path = write_dotenv("bad.env", cases[i].text);

		if (load(&c, NULL, path) != ORCH_EINVAL)
			fail_msg("case %zu: not refused", i);
		if (strstr(diag.msg, path) == NULL ||
		    strstr(diag.msg, cases[i].where) == NULL)
			fail_msg("case %zu: err \"%s\" lacks %s%s", i,
			    diag.msg, path, cases[i].where);
		if (strchr(diag.msg, '\n') != NULL)
			fail_msg("case %zu: err not one line", i);
		/* A line of the file, not one variable. */
		assert_string_equal(diag.field, "");
		unlink(path);
		free(path);
	}
}

/* A path that exists but cannot be read as a file. */
static void
test_dotenv_unreadable(void **state)
{
	orch_config c;
	const char *dir = getenv("TEST_TMPDIR");
	(void) state;

	assert_int_equal(
	    load(&c, NULL, dir != NULL ? dir : "/tmp"), ORCH_ESYS);
	assert_true(strlen(diag.msg) > 0);
	assert_string_equal(diag.field, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_empty_is_unset),
	    cmocka_unit_test(test_ints),
	    cmocka_unit_test(test_strings),
	    cmocka_unit_test(test_db_path_wins),
	    cmocka_unit_test(test_bools),
	    cmocka_unit_test(test_structured),
	    cmocka_unit_test(test_rpc_listen),
	    cmocka_unit_test(test_env_first_wins),
	    cmocka_unit_test(test_bad_values),
	    cmocka_unit_test(test_diag),
	    cmocka_unit_test(test_dotenv),
	    cmocka_unit_test(test_dotenv_missing),
	    cmocka_unit_test(test_dotenv_bad_value),
	    cmocka_unit_test(test_dotenv_malformed),
	    cmocka_unit_test(test_dotenv_unreadable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * libFuzzer target for the configuration loader (src/core/config.h): the
 * values an operator puts in the environment or in a `.env` file, which
 * the daemon must refuse with one line naming the variable, or accept
 * into a configuration every later module can trust.
 *
 * Input layout:
 *   byte 0    bit 0 clear: the rest is the environment, one NAME=value
 *             per line (a NUL ends an entry early, as in a real environ);
 *             bit 0 set: the rest is a `.env` file (an in-memory file),
 *             with an empty environment
 *   the rest  as byte 0 says
 *
 * Invariants (abort when broken):
 * - the answer is ORCH_OK or ORCH_EINVAL;
 * - a refusal leaves the configuration zeroed, and its diag says why in
 *   one line; a diag.field names a variable the input sets (or
 *   MIN_REPLICAS, for MIN_REPLICAS > MAX_REPLICAS) and the line starts
 *   with it; only a malformed .env line has no field, and its line starts
 *   with the file's name;
 * - an accepted configuration keeps every rule of the table: ranges
 *   ordered and in 1..65535, MIN_REPLICAS <= MAX_REPLICAS, 1 to 8 RPC
 *   URLs, every required string set, DOCKER_HOST unix:// or tcp://;
 * - the same input loads the same way twice.
 * Everything is freed, so LeakSanitizer checks the error paths too.
 *
 * The same file links into corpus_driver.c for config_corpus_test.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "src/base/diag.h"
#include "src/core/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                      \
	do {                                                                  \
		if (!(cond))                                                  \
			abort();                                              \
	} while (0)

#define MAX_ENTRIES 64

/* Whether "name=" starts a line of the input (env mode) or of the .env
 * text, possibly after "export " and blanks: a variable the input sets. */
static bool
input_sets(const char *text, const char *name)
{
	size_t n = strlen(name);
	bool found = false;

	for (const char *p = text; !found && p != NULL && *p != '\0';) {
		const char *q = p;

		while (*q == ' ' || *q == '\t')
			q++;
		if (strncmp(q, "export", 6) == 0 &&
		    (q[6] == ' ' || q[6] == '\t'))
			for (q += 6; *q == ' ' || *q == '\t'; q++)
				;
		found = strncmp(q, name, n) == 0 &&
		        (q[n] == '=' || q[n] == ' ' || q[n] == '\t');
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return found;
}

static bool
all_zero(const orch_config *c)
{
	static const orch_config zero;

	return memcmp(c, &zero, sizeof(zero)) == 0;
}

static bool
range_ok(orch_port_range r)
{
	return r.lo >= 1 && r.lo <= r.hi && r.hi <= 65535;
}

static void
check_config(const orch_config *c)
{
	FUZZ_CHECK(c->app_host != NULL && c->app_host[0] != '\0');
	FUZZ_CHECK(c->app_port >= 0 && c->app_port <= 65535);
	FUZZ_CHECK(c->rpc_listen_n >= 1 &&
	           c->rpc_listen_n <= ORCH_CONFIG_MAX_RPC_LISTEN);
	for (size_t i = 0; i < c->rpc_listen_n; i++)
		FUZZ_CHECK(c->rpc_listen[i] != NULL &&
		           strstr(c->rpc_listen[i], "://") != NULL);
	FUZZ_CHECK(c->api_key == NULL || c->api_key[0] != '\0');
	FUZZ_CHECK(c->target_image != NULL && c->target_image[0] != '\0');
	FUZZ_CHECK(c->image_pull >= ORCH_IMAGE_PULL_MISSING &&
	           c->image_pull <= ORCH_IMAGE_PULL_ALWAYS);
	FUZZ_CHECK(c->min_replicas >= 0 && c->max_replicas >= 1 &&
	           c->min_replicas <= c->max_replicas);
	FUZZ_CHECK(c->max_streams_per_engine >= 1);
	FUZZ_CHECK(c->container_label_key != NULL &&
	           c->container_label_key[0] != '\0' &&
	           c->container_label_value != NULL);
	FUZZ_CHECK(
	    c->engine_name_prefix != NULL && c->engine_name_prefix[0] != '\0');
	FUZZ_CHECK(c->docker_host != NULL &&
	           (strncmp(c->docker_host, "unix://", 7) == 0 ||
	               strncmp(c->docker_host, "tcp://", 6) == 0));
	FUZZ_CHECK(
	    range_ok(c->port_range_host) && range_ok(c->ace_https_range));
	FUZZ_CHECK(
	    c->startup_timeout_s >= 1 && c->autoscale_interval_s >= 1 &&
	    c->monitor_interval_s >= 1 && c->health_check_interval_s >= 1 &&
	    c->health_failure_threshold >= 1 && c->cb_failure_threshold >= 1 &&
	    c->cb_recovery_timeout_s >= 1 && c->reservation_ttl_s >= 1 &&
	    c->collect_interval_s >= 1 && c->stats_history_max >= 1);
	FUZZ_CHECK(c->gluetun_api_port >= 1 && c->gluetun_api_port <= 65535);
	/* The VPN variables per Gluetun (vpncfg.h). */
	FUZZ_CHECK((c->n_vpns == 0) == (c->gluetun_container_name == NULL));
	FUZZ_CHECK(c->n_vpns <= ORCH_VPN_MAX);
	for (size_t i = 0; i < c->n_vpns; i++) {
		const orch_vpn_cfg *v = &c->vpns[i];

		FUZZ_CHECK(v->name != NULL && v->name[0] != '\0' &&
		           strpbrk(v->name, ", \t") == NULL);
		for (size_t j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(v->name, c->vpns[j].name) != 0);
		FUZZ_CHECK((v->api_user == NULL) == (v->api_password == NULL));
		FUZZ_CHECK(v->ports.lo == 0 || range_ok(v->ports));
		FUZZ_CHECK(
		    v->api_url == NULL || strncmp(v->api_url, "http", 4) == 0);
	}
	FUZZ_CHECK(c->vpn_reconnect_stable_s >= 0 &&
	           c->vpn_reconnect_drain_s >= 0 &&
	           c->vpn_port_change_drain_s >= 0);
	FUZZ_CHECK(c->cors_origins != NULL && c->db_path != NULL &&
	           c->db_path[0] != '\0');
	FUZZ_CHECK(
	    c->log_level >= ORCH_LOG_DEBUG && c->log_level <= ORCH_LOG_ERROR);
}

static void
check_refusal(const orch_config *c, const orch_diag *d, const char *text,
    const char *dotenv)
{
	size_t fl = strlen(d->field);

	FUZZ_CHECK(all_zero(c));
	FUZZ_CHECK(d->msg[0] != '\0' && strchr(d->msg, '\n') == NULL);
	FUZZ_CHECK(d->status == 0);
	if (fl == 0) {
		/* Only a .env line is no one variable's fault. */
		FUZZ_CHECK(dotenv != NULL &&
		           strncmp(d->msg, dotenv, strlen(dotenv)) == 0);
	} else {
		FUZZ_CHECK(strncmp(d->msg, d->field, fl) == 0);
		FUZZ_CHECK(strcmp(d->field, "MIN_REPLICAS") == 0 ||
		           input_sets(text, d->field));
	}
}

/* Loads once and checks; returns the result for the determinism check. */
static orch_err
load_and_check(
    const char *const *env, const char *text, const char *dotenv, orch_diag *d)
{
	orch_config c;
	orch_err rv = orch_config_load(&c, env, dotenv, d);

	FUZZ_CHECK(rv == ORCH_OK || rv == ORCH_EINVAL);
	if (rv == ORCH_OK) {
		FUZZ_CHECK(d->msg[0] == '\0' && d->field[0] == '\0');
		check_config(&c);
		orch_config_fini(&c);
	} else {
		check_refusal(&c, d, text, dotenv);
	}
	return rv;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *env[MAX_ENTRIES + 1];
	char *text, path[64], *dotenv = NULL;
	orch_diag d1, d2;
	size_t n = 0;
	int fd = -1;

	if (size < 1)
		return 0;
	/* NUL-terminated: a NUL inside ends an env entry or a .env line's
	 * text, as the real sources would. */
	text = malloc(size);
	FUZZ_CHECK(text != NULL);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	if (data[0] & 1) {
		fd = memfd_create("dotenv", MFD_CLOEXEC);
		FUZZ_CHECK(fd >= 0);
		FUZZ_CHECK(
		    write(fd, data + 1, size - 1) == (ssize_t) (size - 1));
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		dotenv = path;
		env[0] = NULL;
	} else {
		char *copy = strdup(text);

		FUZZ_CHECK(copy != NULL);
		for (char *p = copy; p != NULL && n < MAX_ENTRIES;) {
			char *nl = strchr(p, '\n');

			if (nl != NULL)
				*nl++ = '\0';
			env[n++] = p;
			p = nl;
		}
		env[n] = NULL;
		/* env points into copy: freed below through env[0]. */
	}
	FUZZ_CHECK(load_and_check(env, text, dotenv, &d1) ==
	           load_and_check(env, text, dotenv, &d2));
	FUZZ_CHECK(
	    strcmp(d1.msg, d2.msg) == 0 && strcmp(d1.field, d2.field) == 0);
	if (fd >= 0)
		close(fd);
	else
		free((char *) env[0]);
	free(text);
	return 0;
}

/*
 * Configuration loading: one table (`specs`) lists every variable with its
 * kind, field, bounds and default text. Defaults go through the same parsers
 * as user values, so the table is the single source of truth.
 */
#include "src/core/config.h"
#include "src/core/vpncfg.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kind {
	K_INT,       /* int, min..max */
	K_BOOL,      /* bool */
	K_STR,       /* char *, non-empty */
	K_OPTSTR,    /* char *, NULL when unset/empty */
	K_NAME,      /* char *, a container-name prefix */
	K_RANGE,     /* orch_port_range */
	K_LABEL,     /* container_label_key / _value */
	K_URLS,      /* rpc_listen[] */
	K_DOCKER,    /* char *, unix:// or tcp:// */
	K_DB_PATH,   /* char *, DB_PATH or DB_URL */
	K_LOG_LEVEL, /* orch_log_level */
	K_PULL,      /* orch_image_pull */
};

struct spec {
	const char *name;
	enum kind kind;
	size_t off;
	int min;
	int max;
	const char *def; /* NULL: unset (K_OPTSTR only) */
};

#define F(field) offsetof(orch_config, field)

static const struct spec specs[] = {
    {"APP_HOST", K_STR, F(app_host), 0, 0, "0.0.0.0"},
    {"APP_PORT", K_INT, F(app_port), 0, 65535, "8000"}, /* 0: any free port */
    {"RPC_LISTEN", K_URLS, 0, 0, 0, "tcp://127.0.0.1:7600"},
    {"API_KEY", K_OPTSTR, F(api_key), 0, 0, NULL},
    {"READ_API_KEY", K_OPTSTR, F(read_api_key), 0, 0, NULL},
    {"TARGET_IMAGE", K_STR, F(target_image), 0, 0,
        "ghcr.io/krinkuto11/acestream-http-proxy:latest"},
    {"IMAGE_PULL", K_PULL, F(image_pull), 0, 0, "missing"},
    {"MIN_REPLICAS", K_INT, F(min_replicas), 0, INT_MAX, "1"},
    {"MAX_REPLICAS", K_INT, F(max_replicas), 1, INT_MAX, "10"},
    {"MAX_STREAMS_PER_ENGINE", K_INT, F(max_streams_per_engine), 1, INT_MAX,
        "1"},
    {"CONTAINER_LABEL", K_LABEL, 0, 0, 0, "orchestrator.managed=acestream"},
    {"ENGINE_NAME_PREFIX", K_NAME, F(engine_name_prefix), 0, 0, "acestream"},
    {"ENGINE_HOST", K_OPTSTR, F(engine_host), 0, 0, NULL},
    {"DOCKER_HOST", K_DOCKER, F(docker_host), 0, 0,
        "unix:///var/run/docker.sock"},
    {"DOCKER_NETWORK", K_OPTSTR, F(docker_network), 0, 0, NULL},
    {"PORT_RANGE_HOST", K_RANGE, F(port_range_host), 0, 0, "19000-19999"},
    {"ACE_HTTPS_RANGE", K_RANGE, F(ace_https_range), 0, 0, "45000-49999"},
    {"ACE_MAP_HTTPS", K_BOOL, F(ace_map_https), 0, 0, "false"},
    {"STARTUP_TIMEOUT_S", K_INT, F(startup_timeout_s), 1, INT_MAX, "25"},
    {"ENGINE_CRASH_LOOP_RESTARTS", K_INT, F(crash_loop_restarts), 1, INT_MAX,
        "5"},
    {"ENGINE_CRASH_LOOP_WINDOW_S", K_INT, F(crash_loop_window_s), 1, INT_MAX,
        "120"},
    {"PROVISION_DEADLINE_S", K_INT, F(provision_deadline_s), 1, INT_MAX, "3"},
    {"AUTO_DELETE", K_BOOL, F(auto_delete), 0, 0, "true"},
    {"ENGINE_GRACE_PERIOD_S", K_INT, F(engine_grace_period_s), 0, INT_MAX,
        "30"},
    {"AUTOSCALE_INTERVAL_S", K_INT, F(autoscale_interval_s), 1, INT_MAX, "5"},
    {"MONITOR_INTERVAL_S", K_INT, F(monitor_interval_s), 1, INT_MAX, "10"},
    {"HEALTH_CHECK_INTERVAL_S", K_INT, F(health_check_interval_s), 1, INT_MAX,
        "10"},
    {"HEALTH_FAILURE_THRESHOLD", K_INT, F(health_failure_threshold), 1,
        INT_MAX, "3"},
    {"HEALTH_UNHEALTHY_GRACE_PERIOD_S", K_INT,
        F(health_unhealthy_grace_period_s), 0, INT_MAX, "30"},
    {"HEALTH_REPLACEMENT_COOLDOWN_S", K_INT, F(health_replacement_cooldown_s),
        0, INT_MAX, "30"},
    {"CIRCUIT_BREAKER_FAILURE_THRESHOLD", K_INT, F(cb_failure_threshold), 1,
        INT_MAX, "5"},
    {"CIRCUIT_BREAKER_RECOVERY_TIMEOUT_S", K_INT, F(cb_recovery_timeout_s), 1,
        INT_MAX, "300"},
    {"CIRCUIT_BREAKER_REPLACEMENT_THRESHOLD", K_INT,
        F(cb_replacement_threshold), 1, INT_MAX, "3"},
    {"CIRCUIT_BREAKER_REPLACEMENT_TIMEOUT_S", K_INT,
        F(cb_replacement_timeout_s), 1, INT_MAX, "180"},
    {"RESERVATION_TTL_S", K_INT, F(reservation_ttl_s), 1, INT_MAX, "15"},
    {"COLLECT_INTERVAL_S", K_INT, F(collect_interval_s), 1, INT_MAX, "5"},
    {"STATS_HISTORY_MAX", K_INT, F(stats_history_max), 1, INT_MAX, "720"},
    {"GLUETUN_CONTAINER_NAME", K_OPTSTR, F(gluetun_container_name), 0, 0,
        NULL},
    {"GLUETUN_API_PORT", K_INT, F(gluetun_api_port), 1, 65535, "8000"},
    {"GLUETUN_HEALTH_CHECK_INTERVAL_S", K_INT,
        F(gluetun_health_check_interval_s), 1, INT_MAX, "5"},
    {"GLUETUN_PORT_CACHE_TTL_S", K_INT, F(gluetun_port_cache_ttl_s), 0,
        INT_MAX, "60"},
    {"VPN_RESTART_ENGINES_ON_RECONNECT", K_BOOL,
        F(vpn_restart_engines_on_reconnect), 0, 0, "true"},
    {"GLUETUN_API_URL", K_OPTSTR, F(gluetun_api_url), 0, 0, NULL},
    {"GLUETUN_API_KEY", K_OPTSTR, F(gluetun_api_key), 0, 0, NULL},
    {"GLUETUN_API_USER", K_OPTSTR, F(gluetun_api_user), 0, 0, NULL},
    {"GLUETUN_API_PASSWORD", K_OPTSTR, F(gluetun_api_password), 0, 0, NULL},
    {"VPN_PORT_RANGE", K_OPTSTR, F(vpn_port_range), 0, 0, NULL},
    {"VPN_RECONNECT_STABLE_S", K_INT, F(vpn_reconnect_stable_s), 0, INT_MAX,
        "10"},
    {"VPN_RECONNECT_DRAIN_S", K_INT, F(vpn_reconnect_drain_s), 0, INT_MAX,
        "300"},
    {"VPN_PORT_CHANGE_DRAIN_S", K_INT, F(vpn_port_change_drain_s), 0, INT_MAX,
        "120"},
    {"CORS_ORIGINS", K_STR, F(cors_origins), 0, 0, "*"},
    {"DB_PATH", K_DB_PATH, F(db_path), 0, 0, "./orchestrator.db"},
    {"LOG_LEVEL", K_LOG_LEVEL, F(log_level), 0, 0, "info"},
};

#define NSPECS (sizeof(specs) / sizeof(specs[0]))

/* ---- error text ---------------------------------------------------- */

/* A problem not tied to one variable (a .env line, out of memory):
 * diag.field "". */
static void set_err(orch_diag *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
set_err(orch_diag *d, const char *fmt, ...)
{
	va_list ap;

	if (d == NULL)
		return;
	d->field[0] = '\0';
	va_start(ap, fmt);
	orch_diag_vset(d, fmt, ap);
	va_end(ap);
}

/*
 * A printable rendering of a user value for an error line: control
 * characters, quotes and backslashes escaped, cut at 64 bytes, so the line
 * stays one line.
 */
struct shown {
	char s[64 * 4 + 8];
};

static struct shown
show(const char *v)
{
	struct shown out;
	size_t n = 0;
	size_t i;

	for (i = 0; v[i] != '\0' && i < 64; i++) {
		unsigned char c = (unsigned char) v[i];
		if (c == '"' || c == '\\') {
			out.s[n++] = '\\';
			out.s[n++] = (char) c;
		} else if (c < 0x20 || c == 0x7f) {
			n += (size_t) snprintf(
			    out.s + n, sizeof(out.s) - n, "\\x%02x", c);
		} else {
			out.s[n++] = (char) c;
		}
	}
	if (v[i] != '\0') {
		memcpy(out.s + n, "...", 3);
		n += 3;
	}
	out.s[n] = '\0';
	return out;
}

/*
 * Variable `name` has a bad value v: diag.field = name, and the one line
 * "<name>: <what was expected>, got "<v>"". Returns ORCH_EINVAL.
 */
static orch_err bad_value(orch_diag *d, const char *name, const char *v,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static orch_err
bad_value(orch_diag *d, const char *name, const char *v, const char *fmt, ...)
{
	char expected[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(expected, sizeof(expected), fmt, ap);
	va_end(ap);
	orch_diag_field(
	    d, name, "%s: %s, got \"%s\"", name, expected, show(v).s);
	return ORCH_EINVAL;
}

/* ---- value parsers --------------------------------------------------- */

/* A whole decimal number (optional '-'), no spaces; 0 on success. */
static int
parse_int(const char *s, long long *out)
{
	long long v = 0;
	bool neg = false;

	if (*s == '-') {
		neg = true;
		s++;
	}
	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v > (LLONG_MAX - 9) / 10)
			return -1;
		v = v * 10 + (*s - '0');
	}
	*out = neg ? -v : v;
	return 0;
}

static int
parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "1", "yes"};
	static const char *const no[] = {"false", "0", "no"};

	for (size_t i = 0; i < 3; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

static int
parse_port(const char *s, size_t len, int *out)
{
	char buf[16];
	long long v;

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (parse_int(buf, &v) != 0 || v < 1 || v > 65535)
		return -1;
	*out = (int) v;
	return 0;
}

static int
parse_range(const char *s, orch_port_range *out)
{
	const char *dash = strchr(s, '-');
	int lo, hi;

	if (dash == NULL || parse_port(s, (size_t) (dash - s), &lo) != 0 ||
	    parse_port(dash + 1, strlen(dash + 1), &hi) != 0 || lo > hi)
		return -1;
	out->lo = lo;
	out->hi = hi;
	return 0;
}

/* Docker container names: [a-zA-Z0-9][a-zA-Z0-9_.-]* */
static int
valid_name_prefix(const char *s)
{
	if (!isalnum((unsigned char) s[0]))
		return -1;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char) *s) && *s != '_' && *s != '.' &&
		    *s != '-')
			return -1;
	return 0;
}

/* "scheme://rest" with a scheme of [a-z0-9+.-] and a non-empty rest. */
static int
valid_url(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len && (islower((unsigned char) s[i]) ||
	                      isdigit((unsigned char) s[i]) || s[i] == '+' ||
	                      s[i] == '.' || s[i] == '-'))
		i++;
	if (i == 0 || len - i <= 3 || memcmp(s + i, "://", 3) != 0)
		return -1;
	for (size_t j = 0; j < len; j++)
		if (isspace((unsigned char) s[j]) || s[j] == ',')
			return -1;
	return 0;
}

static char *
dup_n(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p != NULL) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

static void
set_str(orch_config *cfg, size_t off, char *v)
{
	char **slot = (char **) ((char *) cfg + off);

	free(*slot);
	*slot = v;
}

static void
free_urls(orch_config *cfg)
{
	for (size_t i = 0; i < cfg->rpc_listen_n; i++) {
		free(cfg->rpc_listen[i]);
		cfg->rpc_listen[i] = NULL;
	}
	cfg->rpc_listen_n = 0;
}

static orch_err
apply_urls(orch_config *cfg, const char *name, const char *v, orch_diag *d)
{
	char *urls[ORCH_CONFIG_MAX_RPC_LISTEN];
	size_t n = 0;
	const char *p = v;
	orch_err rc = ORCH_OK;

	for (;;) {
		const char *end = strchr(p, ',');
		size_t len = end != NULL ? (size_t) (end - p) : strlen(p);
		const char *b = p;

		while (len > 0 && isspace((unsigned char) *b)) {
			b++;
			len--;
		}
		while (len > 0 && isspace((unsigned char) b[len - 1]))
			len--;
		if (n == ORCH_CONFIG_MAX_RPC_LISTEN ||
		    valid_url(b, len) != 0) {
			rc = bad_value(d, name, v,
			    "expected 1 to %d comma-separated URLs "
			    "scheme://address",
			    ORCH_CONFIG_MAX_RPC_LISTEN);
			goto out;
		}
		if ((urls[n] = dup_n(b, len)) == NULL) {
			rc = ORCH_ENOMEM;
			goto out;
		}
		n++;
		if (end == NULL)
			break;
		p = end + 1;
	}
	free_urls(cfg);
	memcpy(cfg->rpc_listen, urls, n * sizeof(urls[0]));
	cfg->rpc_listen_n = n;
	n = 0; /* the config owns them now */
out:
	for (size_t i = 0; i < n; i++)
		free(urls[i]);
	return rc;
}

static orch_err
apply_label(orch_config *cfg, const char *name, const char *v, orch_diag *d)
{
	const char *eq = strchr(v, '=');
	char *key = NULL, *val = NULL;
	orch_err rc = ORCH_OK;

	if (eq == NULL || eq == v) {
		rc = bad_value(
		    d, name, v, "expected key=value with a non-empty key");
		goto out;
	}
	key = dup_n(v, (size_t) (eq - v));
	val = strdup(eq + 1);
	if (key == NULL || val == NULL) {
		rc = ORCH_ENOMEM;
		goto out;
	}
	set_str(cfg, F(container_label_key), key);
	set_str(cfg, F(container_label_value), val);
	key = val = NULL;
out:
	free(key);
	free(val);
	return rc;
}

static orch_err
apply_int(const struct spec *sp, const char *name, const char *v, int *field,
    orch_diag *d)
{
	long long n;
	orch_err rc = ORCH_OK;

	if (parse_int(v, &n) != 0 || n < sp->min || n > sp->max) {
		if (sp->max == INT_MAX)
			rc = bad_value(
			    d, name, v, "expected an integer >= %d", sp->min);
		else
			rc = bad_value(d, name, v,
			    "expected an integer in %d..%d", sp->min, sp->max);
	} else {
		*field = (int) n;
	}
	return rc;
}

/* LOG_LEVEL: case-insensitive, "warning" for "warn". */
static orch_err
apply_log_level(
    const char *name, const char *v, orch_log_level *field, orch_diag *d)
{
	char low[16];
	size_t i;
	orch_err rc = ORCH_OK;

	for (i = 0; v[i] != '\0' && i < sizeof(low) - 1; i++)
		low[i] = (char) tolower((unsigned char) v[i]);
	low[i] = '\0';
	if (v[i] == '\0' && strcmp(low, "warning") == 0)
		strcpy(low, "warn");
	if (v[i] != '\0' || orch_log_parse_level(low, field) != 0)
		rc = bad_value(
		    d, name, v, "expected debug, info, warn or error");
	return rc;
}

static orch_err
apply_pull(
    const char *name, const char *v, orch_image_pull *field, orch_diag *d)
{
	orch_err rc = ORCH_EINVAL;

	for (int p = 0; rc != ORCH_OK && p < 3; p++) {
		if (strcasecmp(v, orch_image_pull_name((orch_image_pull) p)) ==
		    0) {
			*field = (orch_image_pull) p;
			rc = ORCH_OK;
		}
	}
	if (rc != ORCH_OK)
		rc =
		    bad_value(d, name, v, "expected missing, never or always");
	return rc;
}

/*
 * The string kinds: checks v as the kind says, then stores a copy (NULL
 * for an unset K_OPTSTR). DB_URL's sqlite:/// prefix is not stored.
 */
static orch_err
apply_string(orch_config *cfg, const struct spec *sp, const char *name,
    const char *v, orch_diag *d)
{
	char *s = NULL;
	orch_err rc = ORCH_OK;

	if (sp->kind == K_NAME && valid_name_prefix(v) != 0) {
		rc = bad_value(d, name, v,
		    "expected a container name prefix "
		    "[a-zA-Z0-9][a-zA-Z0-9_.-]*");
	} else if (sp->kind == K_DOCKER &&
	           (strncmp(v, "unix://", 7) != 0 || v[7] == '\0') &&
	           (strncmp(v, "tcp://", 6) != 0 || v[6] == '\0')) {
		rc = bad_value(
		    d, name, v, "expected unix://<path> or tcp://<host:port>");
	} else if (sp->kind == K_DB_PATH && strcmp(name, "DB_URL") == 0) {
		if (strncmp(v, "sqlite:///", 10) != 0 || v[10] == '\0')
			rc =
			    bad_value(d, name, v, "expected sqlite:///<path>");
		else
			v += 10;
	}
	if (rc == ORCH_OK && v != NULL && (s = strdup(v)) == NULL)
		rc = ORCH_ENOMEM;
	if (rc == ORCH_OK)
		set_str(cfg, sp->off, s);
	return rc;
}

/*
 * Parses v (non-empty, or NULL for an unset K_OPTSTR) as the spec says and
 * stores it. `name` is what the error line and diag.field name (DB_URL
 * for DB_PATH).
 */
static orch_err
apply(orch_config *cfg, const struct spec *sp, const char *name, const char *v,
    orch_diag *d)
{
	void *field = (char *) cfg + sp->off;
	orch_err rc;

	switch (sp->kind) {
	case K_INT:
		rc = apply_int(sp, name, v, field, d);
		break;
	case K_BOOL:
		rc = parse_bool(v, field) == 0
		         ? ORCH_OK
		         : bad_value(
		               d, name, v, "expected true/false/1/0/yes/no");
		break;
	case K_RANGE:
		rc = parse_range(v, field) == 0
		         ? ORCH_OK
		         : bad_value(d, name, v,
		               "expected a port range lo-hi with "
		               "1 <= lo <= hi <= 65535");
		break;
	case K_LOG_LEVEL:
		rc = apply_log_level(name, v, field, d);
		break;
	case K_PULL:
		rc = apply_pull(name, v, field, d);
		break;
	case K_URLS:
		rc = apply_urls(cfg, name, v, d);
		break;
	case K_LABEL:
		rc = apply_label(cfg, name, v, d);
		break;
	default: /* K_STR, K_OPTSTR, K_NAME, K_DOCKER, K_DB_PATH */
		rc = apply_string(cfg, sp, name, v, d);
		break;
	}
	return rc;
}

static orch_err
config_defaults(orch_config *cfg)
{
	orch_err rc;

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < NSPECS; i++) {
		if (specs[i].def == NULL)
			continue;
		rc = apply(cfg, &specs[i], specs[i].name, specs[i].def, NULL);
		if (rc != ORCH_OK) {
			orch_config_fini(cfg);
			return rc;
		}
	}
	return ORCH_OK;
}

void
orch_config_defaults(orch_config *cfg)
{
	if (config_defaults(cfg) != ORCH_OK)
		abort(); /* out of memory, or a bad default in specs[] */
}

void
orch_config_fini(orch_config *cfg)
{
	for (size_t i = 0; i < NSPECS; i++) {
		switch (specs[i].kind) {
		case K_STR:
		case K_OPTSTR:
		case K_NAME:
		case K_DOCKER:
		case K_DB_PATH:
			set_str(cfg, specs[i].off, NULL);
			break;
		default:
			break;
		}
	}
	set_str(cfg, F(container_label_key), NULL);
	set_str(cfg, F(container_label_value), NULL);
	free_urls(cfg);
	orch_vpncfg_fini(cfg);
	memset(cfg, 0, sizeof(*cfg));
}

const char *
orch_image_pull_name(orch_image_pull p)
{
	switch (p) {
	case ORCH_IMAGE_PULL_NEVER:
		return "never";
	case ORCH_IMAGE_PULL_ALWAYS:
		return "always";
	case ORCH_IMAGE_PULL_MISSING:
	default:
		return "missing";
	}
}

/* ---- .env ------------------------------------------------------------ */

struct kv {
	char *name;
	char *value;
};

struct dotenv {
	struct kv *v;
	size_t n;
	size_t cap;
};

static void
dotenv_fini(struct dotenv *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].name);
		free(d->v[i].value);
	}
	free(d->v);
	memset(d, 0, sizeof(*d));
}

/* Later lines replace earlier ones for the same name. Takes both. */
static orch_err
dotenv_put(struct dotenv *d, char *name, char *value)
{
	for (size_t i = 0; i < d->n; i++) {
		if (strcmp(d->v[i].name, name) == 0) {
			free(name);
			free(d->v[i].value);
			d->v[i].value = value;
			return ORCH_OK;
		}
	}
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		struct kv *nv = realloc(d->v, cap * sizeof(*nv));
		if (nv == NULL) {
			free(name);
			free(value);
			return ORCH_ENOMEM;
		}
		d->v = nv;
		d->cap = cap;
	}
	d->v[d->n].name = name;
	d->v[d->n].value = value;
	d->n++;
	return ORCH_OK;
}

static const char *
skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* Only whitespace or a `#` comment left? */
static bool
rest_is_empty(const char *p)
{
	p = skip_ws(p);
	return *p == '\0' || *p == '#';
}

/*
 * Parses one line (no newline). Returns ORCH_OK with *name NULL for a
 * blank/comment line, ORCH_EINVAL for a malformed one, ORCH_ENOMEM.
 */
static orch_err
dotenv_line(const char *line, char **name, char **value)
{
	const char *p = skip_ws(line);
	const char *nb, *ne;
	char *out;
	size_t n = 0;

	*name = *value = NULL;
	if (*p == '\0' || *p == '#')
		return ORCH_OK;
	if (strncmp(p, "export", 6) == 0 && (p[6] == ' ' || p[6] == '\t'))
		p = skip_ws(p + 6);
	nb = p;
	if (!isalpha((unsigned char) *p) && *p != '_')
		return ORCH_EINVAL;
	while (isalnum((unsigned char) *p) || *p == '_')
		p++;
	ne = p;
	p = skip_ws(p);
	if (*p != '=')
		return ORCH_EINVAL;
	p = skip_ws(p + 1);

	if ((out = malloc(strlen(p) + 1)) == NULL)
		return ORCH_ENOMEM;
	if (*p == '\'' || *p == '"') {
		char q = *p++;
		for (;; p++) {
			if (*p == '\0')
				goto bad; /* unterminated */
			if (*p == q)
				break;
			if (q == '"' && *p == '\\' && p[1] != '\0') {
				p++;
				out[n++] = *p == 'n'   ? '\n'
				           : *p == 't' ? '\t'
				           : *p == 'r' ? '\r'
				                       : *p;
				continue;
			}
			out[n++] = *p;
		}
		if (!rest_is_empty(p + 1))
			goto bad;
	} else {
		for (; *p != '\0'; p++) {
			if (*p == '#' && n > 0 &&
			    (out[n - 1] == ' ' || out[n - 1] == '\t'))
				break;
			out[n++] = *p;
		}
		while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == '\t'))
			n--;
	}
	out[n] = '\0';
	if ((*name = dup_n(nb, (size_t) (ne - nb))) == NULL) {
		free(out);
		return ORCH_ENOMEM;
	}
	*value = out;
	return ORCH_OK;
bad:
	free(out);
	return ORCH_EINVAL;
}

static orch_err
dotenv_read(struct dotenv *d, const char *path, orch_diag *err)
{
	FILE *f;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned lineno = 0;
	orch_err rc = ORCH_OK;

	if (path == NULL)
		return ORCH_OK;
	if ((f = fopen(path, "r")) == NULL) {
		if (errno == ENOENT)
			return ORCH_OK;
		set_err(err, "%s: cannot open: %s", path, strerror(errno));
		return ORCH_ESYS;
	}
	errno = 0;
	while ((len = getline(&line, &cap, f)) >= 0) {
		char *name, *value;

		lineno++;
		while (len > 0 &&
		       (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if ((size_t) len != strlen(line)) {
			rc = ORCH_EINVAL; /* embedded NUL */
		} else {
			rc = dotenv_line(line, &name, &value);
		}
		if (rc == ORCH_EINVAL) {
			set_err(err, "%s:%u: expected NAME=value, got \"%s\"",
			    path, lineno, show(line).s);
			break;
		}
		if (rc != ORCH_OK)
			break;
		if (name != NULL &&
		    (rc = dotenv_put(d, name, value)) != ORCH_OK)
			break;
		errno = 0;
	}
	if (rc == ORCH_OK && ferror(f)) {
		set_err(err, "%s: cannot read: %s", path,
		    strerror(errno ? errno : EIO));
		rc = ORCH_ESYS;
	}
	free(line);
	fclose(f);
	return rc;
}

/* ---- load ------------------------------------------------------------ */

static const char *
env_get(const char *const *env, const char *name)
{
	size_t len = strlen(name);

	if (env == NULL)
		return NULL;
	for (; *env != NULL; env++)
		if (strncmp(*env, name, len) == 0 && (*env)[len] == '=')
			return *env + len + 1;
	return NULL;
}

/* The environment's value, else the .env file's, else NULL. */
static const char *
lookup(const char *const *env, const struct dotenv *d, const char *name)
{
	const char *v = env_get(env, name);

	if (v != NULL)
		return v;
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->v[i].name, name) == 0)
			return d->v[i].value;
	return NULL;
}

orch_err
orch_config_load(orch_config *cfg, const char *const *env,
    const char *dotenv_path, orch_diag *diag)
{
	struct dotenv d = {0};
	orch_err rc;

	orch_diag_clear(diag);
	if ((rc = config_defaults(cfg)) != ORCH_OK)
		goto out;
	if ((rc = dotenv_read(&d, dotenv_path, diag)) != ORCH_OK)
		goto out;
	for (size_t i = 0; i < NSPECS; i++) {
		const struct spec *sp = &specs[i];
		const char *name = sp->name;
		const char *v = lookup(env, &d, name);

		if ((v == NULL || *v == '\0') && sp->kind == K_DB_PATH) {
			name = "DB_URL";
			v = lookup(env, &d, name);
		}
		if (v == NULL || *v == '\0') {
			if (sp->kind != K_OPTSTR)
				continue;
			v = NULL; /* empty optional string: unset */
		}
		if ((rc = apply(cfg, sp, name, v, diag)) != ORCH_OK)
			goto out;
	}
	if (cfg->min_replicas > cfg->max_replicas) {
		orch_diag_field(diag, "MIN_REPLICAS",
		    "MIN_REPLICAS (%d) must not exceed MAX_REPLICAS (%d)",
		    cfg->min_replicas, cfg->max_replicas);
		rc = ORCH_EINVAL;
	} else if (cfg->port_range_host.lo <= cfg->ace_https_range.hi &&
	           cfg->ace_https_range.lo <= cfg->port_range_host.hi) {
		/* An engine's HTTP port is its host port (and, inside a
		 * Gluetun, shares one namespace with every HTTPS port):
		 * one number in both ranges would be handed out twice. */
		/* Named after the one the user set (both: HTTPS). */
		const char *hv = lookup(env, &d, "ACE_HTTPS_RANGE");
		bool https_set = hv != NULL && *hv != '\0';

		orch_diag_field(diag,
		    https_set ? "ACE_HTTPS_RANGE" : "PORT_RANGE_HOST",
		    "%s (%d-%d) overlaps %s (%d-%d)",
		    https_set ? "ACE_HTTPS_RANGE" : "PORT_RANGE_HOST",
		    https_set ? cfg->ace_https_range.lo
		              : cfg->port_range_host.lo,
		    https_set ? cfg->ace_https_range.hi
		              : cfg->port_range_host.hi,
		    https_set ? "PORT_RANGE_HOST" : "ACE_HTTPS_RANGE",
		    https_set ? cfg->port_range_host.lo
		              : cfg->ace_https_range.lo,
		    https_set ? cfg->port_range_host.hi
		              : cfg->ace_https_range.hi);
		rc = ORCH_EINVAL;
	}
	if (rc == ORCH_OK)
		rc = orch_vpncfg_split(cfg, diag);
out:
	dotenv_fini(&d);
	if (rc != ORCH_OK) {
		if (rc == ORCH_ENOMEM)
			set_err(diag, "configuration: out of memory");
		orch_config_fini(cfg);
	}
	return rc;
}

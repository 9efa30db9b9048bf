/*
 * The orchestrator's configuration: every variable of CONTRACT.md's
 * "Configuration" table, read from the environment and from a `.env` file,
 * parsed into typed fields and validated.
 *
 * Sources. orch_config_load() takes an envp-style array ("NAME=value",
 * NULL-terminated; pass `environ` in production) and an optional `.env`
 * path. A variable present in the environment wins over the `.env` file, as
 * docker-compose does. A variable set to the empty string counts as unset
 * (its default applies); for the optional strings that means NULL.
 * DB_PATH wins over DB_URL, which must be `sqlite:///<path>` (SQLAlchemy's
 * form: `sqlite:///./x.db` is `./x.db`, `sqlite:////data/x.db` is
 * `/data/x.db`).
 *
 * `.env` format: `NAME=value` lines; blank lines and lines starting with `#`
 * are skipped; an optional `export ` prefix; whitespace around `=` is
 * ignored; the value may be wrapped in single quotes (literal) or double
 * quotes (`\"`, `\\`, `\n`, `\t` escapes); an unquoted value ends at ` #`
 * (inline comment) and is trimmed. A missing file is ignored; names the
 * table does not know are ignored.
 *
 * Ownership. Every `char *` field (and each rpc_listen[i]) is owned by the
 * struct, allocated with malloc, and freed by orch_config_fini(). Optional
 * strings are NULL when unset. The struct may be copied only if exactly one
 * copy is finalized.
 */
#ifndef ORCH_CORE_CONFIG_H
#define ORCH_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "src/base/diag.h"
#include "src/base/err.h"
#include "src/base/log.h"

#define ORCH_CONFIG_MAX_RPC_LISTEN 8

typedef enum orch_image_pull {
	ORCH_IMAGE_PULL_MISSING = 0, /* pull only when not present locally */
	ORCH_IMAGE_PULL_NEVER = 1,
	ORCH_IMAGE_PULL_ALWAYS = 2,
} orch_image_pull;

/* An inclusive port range, 1 <= lo <= hi <= 65535. */
typedef struct orch_port_range {
	int lo;
	int hi;
} orch_port_range;

/* Gluetun containers (GLUETUN_CONTAINER_NAME entries) at most. */
#define ORCH_VPN_MAX 16

/* One Gluetun's settings, from the VPN variables (vpncfg.h). Strings
 * are owned (malloc) and NULL when unset. */
typedef struct orch_vpn_cfg {
	char *name;            /* the container's name */
	char *api_url;         /* GLUETUN_API_URL for it, no trailing '/' */
	char *api_key;         /* GLUETUN_API_KEY: sent as X-API-Key */
	char *api_user;        /* GLUETUN_API_USER: basic auth ... */
	char *api_password;    /* ... with GLUETUN_API_PASSWORD */
	orch_port_range ports; /* VPN_PORT_RANGE for it; lo 0 = unset */
} orch_vpn_cfg;

typedef struct orch_config {
	/* HTTP gateway */
	char *app_host; /* APP_HOST, "0.0.0.0" */
	int app_port;   /* APP_PORT, 8000; 0 = any free port (tests) */
	/* RPC_LISTEN, comma-separated nng URLs, "tcp://127.0.0.1:7600" */
	char *rpc_listen[ORCH_CONFIG_MAX_RPC_LISTEN];
	size_t rpc_listen_n;
	char *api_key;      /* API_KEY, NULL = unset */
	char *read_api_key; /* READ_API_KEY, NULL = unset */
	char *cors_origins; /* CORS_ORIGINS, "*" */

	/* engines */
	char *target_image;         /* TARGET_IMAGE */
	orch_image_pull image_pull; /* IMAGE_PULL, missing */
	int min_replicas;           /* MIN_REPLICAS, 1, >= 0 */
	int max_replicas;           /* MAX_REPLICAS, 10, >= 1 */
	int max_streams_per_engine; /* MAX_STREAMS_PER_ENGINE, 1, >= 1 */
	/* CONTAINER_LABEL "orchestrator.managed=acestream", split at the
	 * first '=' */
	char *container_label_key;
	char *container_label_value;
	char *engine_name_prefix;        /* ENGINE_NAME_PREFIX, "acestream" */
	char *engine_host;               /* ENGINE_HOST, NULL = unset */
	char *docker_host;               /* DOCKER_HOST, unix:// or tcp:// */
	char *docker_network;            /* DOCKER_NETWORK, NULL = unset */
	orch_port_range port_range_host; /* PORT_RANGE_HOST, 19000-19999 */
	orch_port_range ace_https_range; /* ACE_HTTPS_RANGE, 45000-49999 */
	bool ace_map_https;              /* ACE_MAP_HTTPS, false */
	int startup_timeout_s;           /* STARTUP_TIMEOUT_S, 25, >= 1 */
	/* ENGINE_CRASH_LOOP_RESTARTS (5) restarts by Docker within
	 * ENGINE_CRASH_LOOP_WINDOW_S (120) make a crash loop. */
	int crash_loop_restarts;
	int crash_loop_window_s;
	int provision_deadline_s;  /* PROVISION_DEADLINE_S, 3, >= 1 */
	bool auto_delete;          /* AUTO_DELETE, true */
	int engine_grace_period_s; /* ENGINE_GRACE_PERIOD_S, 30, >= 0 */
	int autoscale_interval_s;  /* AUTOSCALE_INTERVAL_S, 5, >= 1 */
	int monitor_interval_s;    /* MONITOR_INTERVAL_S, 10, >= 1 */

	/* health */
	int health_check_interval_s;         /* 10, >= 1 */
	int health_failure_threshold;        /* 3, >= 1 */
	int health_unhealthy_grace_period_s; /* 30, >= 0 */
	int health_replacement_cooldown_s;   /* 30, >= 0 */

	/* circuit breakers (CIRCUIT_BREAKER_*) */
	int cb_failure_threshold;     /* _FAILURE_THRESHOLD, 5, >= 1 */
	int cb_recovery_timeout_s;    /* _RECOVERY_TIMEOUT_S, 300, >= 1 */
	int cb_replacement_threshold; /* _REPLACEMENT_THRESHOLD, 3, >= 1 */
	int cb_replacement_timeout_s; /* _REPLACEMENT_TIMEOUT_S, 180, >= 1 */

	int reservation_ttl_s;  /* RESERVATION_TTL_S, 15, >= 1 */
	int collect_interval_s; /* COLLECT_INTERVAL_S, 5, >= 1 */
	int stats_history_max;  /* STATS_HISTORY_MAX, 720, >= 1 */

	/* VPN (docs/VPN.md). The list variables hold the text as given;
	 * vpns[] is what they say per Gluetun (vpncfg.h). */
	char *gluetun_container_name;          /* NULL = VPN disabled */
	int gluetun_api_port;                  /* GLUETUN_API_PORT, 8000 */
	int gluetun_health_check_interval_s;   /* 5, >= 1 */
	int gluetun_port_cache_ttl_s;          /* 60, >= 0 */
	bool vpn_restart_engines_on_reconnect; /* true */
	char *gluetun_api_url;                 /* GLUETUN_API_URL, NULL */
	char *gluetun_api_key;                 /* GLUETUN_API_KEY, NULL */
	char *gluetun_api_user;                /* GLUETUN_API_USER, NULL */
	char *gluetun_api_password;            /* GLUETUN_API_PASSWORD, NULL */
	char *vpn_port_range;                  /* VPN_PORT_RANGE, NULL */
	int vpn_reconnect_stable_s;            /* 10, >= 0 */
	int vpn_reconnect_drain_s;             /* 300, >= 0 */
	int vpn_port_change_drain_s;           /* 120, >= 0 */
	orch_vpn_cfg vpns[ORCH_VPN_MAX];       /* one per container name */
	size_t n_vpns;                         /* 0 = VPN disabled */

	char *db_path;            /* DB_PATH or DB_URL, "./orchestrator.db" */
	orch_log_level log_level; /* LOG_LEVEL, info */
} orch_config;

/*
 * Fills cfg (whose previous contents are ignored, not freed) with the
 * table's defaults. Allocates the default strings; aborts on out of memory.
 * Release with orch_config_fini().
 */
void orch_config_defaults(orch_config *cfg);

/*
 * Fills cfg (previous contents ignored, not freed) from defaults, then
 * `env`, then the `.env` file at dotenv_path for variables not in `env`.
 * env may be NULL (empty); dotenv_path may be NULL or name a missing file.
 *
 * Returns ORCH_OK (release cfg with orch_config_fini()), or:
 *   ORCH_EINVAL  a bad value or a malformed .env line; diag->msg is one
 *                line naming the variable (or file:line), what was
 *                expected and what was found, and diag->field is the
 *                variable's name (DB_URL when that is what was read;
 *                MIN_REPLICAS when it exceeds MAX_REPLICAS; "" for a
 *                .env line);
 *   ORCH_ESYS    the .env file exists but could not be read;
 *   ORCH_ENOMEM  out of memory.
 * On failure cfg holds nothing to free (it is zeroed). diag may be NULL;
 * otherwise it is cleared first and filled on every failure.
 */
orch_err orch_config_load(orch_config *cfg, const char *const *env,
    const char *dotenv_path, orch_diag *diag);

/* Frees every owned string and zeroes cfg; safe to call twice. */
void orch_config_fini(orch_config *cfg);

/* "missing" | "never" | "always" */
const char *orch_image_pull_name(orch_image_pull p);

#endif

/*
 * What an engine container gets (CONTRACT.md "What an engine container
 * gets"), as a pure function of the configuration, the caller's request
 * and the ports and number already chosen; and the reverse, the engine a
 * running container is (adoption). No Docker here: the provisioner turns a
 * plan into a create call, the reconcile turns an inspected container into
 * an engine.
 *
 * Ownership: an orch_engine_plan owns every string and array in it
 * (malloc); release with orch_engine_plan_fini().
 */
#ifndef ORCH_ENGINES_PLAN_H
#define ORCH_ENGINES_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/base/diag.h"
#include "src/base/err.h"
#include "src/core/config.h"
#include "src/core/state.h"

/* Labels the orchestrator sets (the caller's labels cannot override). */
#define ORCH_LABEL_HTTP_PORT "acestream.http_port"
#define ORCH_LABEL_HTTPS_PORT "acestream.https_port"
#define ORCH_LABEL_HOST_HTTP_PORT "host.http_port"
#define ORCH_LABEL_HOST_HTTPS_PORT "host.https_port"
/* VPN mode: the Gluetun an engine runs in, and the forwarded port it was
 * given as P2P_PORT (adoption reads them back). */
#define ORCH_LABEL_VPN "orchestrator.vpn"
#define ORCH_LABEL_P2P_PORT "acestream.p2p_port"

/* One published port: container <port>/tcp -> host_ip:host_port. */
typedef struct orch_port_publish {
	int container_port;
	int host_port;
} orch_port_publish;

/* The caller's part of a ProvisionEngine request. */
typedef struct orch_engine_request {
	const orch_label *labels; /* may be NULL */
	size_t n_labels;
	const orch_label *env; /* NAME -> value; may be NULL */
	size_t n_env;
	const char *image; /* NULL = TARGET_IMAGE */
	/* VPN mode (the VPN monitor's replacements): the Gluetun to start
	 * it in (NULL: the core picks) and whether it must take that VPN's
	 * forwarded port (src/core/vpn.h). */
	const char *vpn;
	bool forwarded;
	/* Monotonic ms past which no container is created for it (the
	 * caller has given up: PROVISION_DEADLINE_S); 0 = none. */
	int64_t deadline_ms;
} orch_engine_request;

/* The ports and number chosen for one engine. */
typedef struct orch_engine_slot {
	int number;     /* N of <prefix>-N */
	int http_port;  /* container HTTP port (= host port without VPN) */
	int https_port; /* container HTTPS port */
	bool forwarded; /* owns the VPN's forwarded port (P2P_PORT) */
	int p2p_port;   /* the forwarded port when forwarded */
	/* VPN mode: the Gluetun it runs in (NULL: no VPN) and the host
	 * ports Gluetun publishes its ports on (0: not published). */
	const char *vpn;
	int host_http_port;
	int host_https_port;
} orch_engine_slot;

typedef struct orch_engine_plan {
	char *name;
	char *image;
	char **env; /* "NAME=value" */
	size_t n_env;
	orch_label *labels;
	size_t n_labels;
	orch_port_publish publish[2]; /* HTTP, and HTTPS with ACE_MAP_HTTPS */
	size_t n_publish;             /* 0 in VPN mode */
	char *network_mode;           /* "container:<gluetun>" in VPN mode */
	char *network;                /* DOCKER_NETWORK, NULL = default */
	const char *restart_policy;   /* "unless-stopped" (static) */
} orch_engine_plan;

/*
 * The caller's part of a request, judged before anything is reserved or
 * sent: image a valid reference (src/runtime/imageref.h), env names
 * non-empty without '=', label keys non-empty, without '=' or control
 * characters and not reserved (CONTAINER_LABEL's key, and keys under
 * "orchestrator.", "acestream." and "host.": the orchestrator's own,
 * which adoption trusts). ORCH_EINVAL with diag's field "image", "env"
 * or "labels" naming the problem; a bad request never counts against a
 * breaker.
 */
orch_err orch_engine_request_check(
    const orch_config *cfg, const orch_engine_request *req, orch_diag *diag);

/*
 * Builds the plan: orch_engine_request_check's errors, or ORCH_ENOMEM.
 * plan is zeroed on failure. Labels travel as key/value pairs, never
 * joined.
 */
orch_err orch_engine_plan_build(const orch_config *cfg,
    const orch_engine_request *req, const orch_engine_slot *slot,
    orch_engine_plan *plan, orch_diag *diag);

void orch_engine_plan_fini(orch_engine_plan *plan);

/*
 * Where a proxy reaches an engine (CONTRACT.md "Engine"): ENGINE_HOST and
 * the published host port when ENGINE_HOST is set; in VPN mode (vpn not
 * NULL) the Gluetun container's name and the container port; with
 * DOCKER_NETWORK the container name and container port; else 127.0.0.1
 * and the published host port. *host points into cfg, vpn or name.
 */
void orch_engine_advertised(const orch_config *cfg, const char *name,
    const char *vpn, int container_port, int host_port, const char **host,
    int *port);

/* A container as the reconcile sees it (from Docker's inspect/list). */
typedef struct orch_container_view {
	const char *id;
	const char *name; /* without Docker's leading '/' */
	const orch_label *labels;
	size_t n_labels;
	bool running;
} orch_container_view;

/*
 * The engine a managed container is (adoption): ports from its labels
 * (acestream.http_port / https_port, host.http_port / host.https_port),
 * its VPN (orchestrator.vpn; in VPN mode an engine made before that label
 * existed is taken to be in the first Gluetun) and its forwarded port
 * (acestream.p2p_port: forwarded), advertised address per
 * orch_engine_advertised. ORCH_EINVAL when the labels lack a valid
 * acestream.http_port (not an engine we made). spec's strings point into
 * the container view and cfg.
 */
orch_err orch_engine_adopt(const orch_config *cfg,
    const orch_container_view *c, orch_engine_spec *spec);

/* The number N of "<prefix>-N", or -1 when name is not of that form. */
int orch_engine_name_number(const char *prefix, const char *name);

/* Looks up a label value; NULL when absent. */
const char *orch_label_get(const orch_label *l, size_t n, const char *key);

#endif

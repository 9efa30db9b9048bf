/*
 * The VPN ledger: one entry per Gluetun container (GLUETUN_CONTAINER_NAME,
 * vpncfg.h) holding what the VPN monitor (src/engines/vpn.c) last found
 * (Docker status and health, the tunnel per Gluetun's control server, the
 * forwarded port, the ports Gluetun publishes) and what the core keeps
 * for it: the pool of those ports handed to engines, its engines, its
 * forwarded engine, and the replacements a reconnect or a forwarded-port
 * change makes due.
 *
 * Why in the core: the gate (provisioning refused only when every VPN is
 * down), the choice of a VPN for a new engine, its ports and the one
 * forwarded engine per VPN must be decided in the same critical section
 * as the rest of a provisioning slot (provision.h), or two provisions
 * could take one port or two could own one forwarded port. Like the rest
 * of the core it is pure: no Docker, no HTTP, an injectable clock; the
 * monitor carries its decisions out.
 *
 * The rules (docs/VPN.md):
 *   - connected = the container runs, its control server answered, and
 *     it says the tunnel is running. A 401/403 from the control server
 *     is a configuration error: not connected, reported as such, and the
 *     refusal tells the caller not to wait for it.
 *   - a pool port is a TCP port the Gluetun container publishes on the
 *     host (inspect), within VPN_PORT_RANGE when that is set, never
 *     GLUETUN_API_PORT and (without VPN_PORT_RANGE) never Gluetun's own
 *     8888 and 8388; the engine listens on the container port, proxies
 *     reach it at <gluetun>:<port>, the orchestrator at 127.0.0.1:<host
 *     port>. Ports go back on every removal path.
 *   - a new engine goes to the connected VPN with the fewest engines
 *     (provisions in flight included) that has a free port.
 *   - one engine per VPN owns its forwarded port (P2P_PORT): the first
 *     provision on a VPN whose forwarded engine does not have the
 *     current port takes it; when it is committed, any other forwarded
 *     engine of that VPN stops being forwarded at once and is retired
 *     (drained: no new stream; stopped once idle or after
 *     VPN_PORT_CHANGE_DRAIN_S).
 *   - engines of a VPN that is down are marked (state.h vpn_down).
 *   - with VPN_RESTART_ENGINES_ON_RECONNECT, a reconnect after a drop of
 *     at least VPN_RECONNECT_STABLE_S, or after the Gluetun container was
 *     started anew (its engines' network namespace is gone), makes every
 *     engine of that VPN that existed before due for one replacement.
 *
 * Threads: the functions taking a core take its lock themselves unless
 * named _locked; none blocks.
 */
#ifndef ORCH_CORE_VPN_H
#define ORCH_CORE_VPN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/base/buf.h"
#include "src/base/diag.h"
#include "src/base/err.h"
#include "src/core/core.h"
#include "src/core/provision.h"

/* How Gluetun's control server answered. */
typedef enum orch_vpn_control {
	ORCH_VPN_CONTROL_UNKNOWN = 0, /* not asked (the container is not
	                                 running) */
	ORCH_VPN_CONTROL_OK = 1,      /* it answered */
	ORCH_VPN_CONTROL_AUTH = 2,    /* 401/403: the credentials are wrong
	                                 or missing (configuration) */
	ORCH_VPN_CONTROL_DOWN = 3,    /* unreachable, or an answer that is
	                                 not Gluetun's */
} orch_vpn_control;

/* "unknown" | "ok" | "unauthorized" | "unreachable" */
const char *orch_vpn_control_name(orch_vpn_control c);

/* A TCP port the Gluetun container publishes: <port>/tcp inside on
 * host_port outside. */
typedef struct orch_vpn_pub {
	int port;
	int host_port;
} orch_vpn_pub;

/* What the monitor found about one Gluetun in one round. Borrowed. */
typedef struct orch_vpn_report {
	const char *status; /* Docker: running, exited, not_found, ... */
	const char *health; /* healthy, unhealthy, starting, unknown */
	int64_t started_us; /* when the container last started; 0 unknown */
	orch_vpn_control control;
	bool tunnel_up;     /* control OK and the status is "running" */
	int forwarded_port; /* asked this round: 0 none, else the port;
	                       -1 not asked (the cached one stays) */
	const char *error;  /* why it is not connected, or NULL */
	bool pubs_known;    /* inspect answered: pubs is the whole list */
	const orch_vpn_pub *pubs;
	size_t n_pubs;
} orch_vpn_report;

/* What a report changed, for the monitor's log and actions. */
typedef struct orch_vpn_change {
	bool up;         /* became connected */
	bool down;       /* stopped being connected */
	bool restarted;  /* the container was started anew */
	bool reconnect;  /* its older engines are now due for
	                    replacement */
	bool control;    /* the control server's answer changed kind */
	int64_t down_ms; /* with up: how long it was down (0: never up) */
	int pool_size;   /* ports in its pool after the report */
} orch_vpn_change;

/* One Gluetun as the core keeps it. Read under the core's lock. */
typedef struct orch_vpn {
	const orch_vpn_cfg *cfg; /* name, API settings, range */
	char status[16];         /* Docker status; "unknown" before the
	                            first check */
	char health[16];
	bool connected;
	orch_vpn_control control;
	char error[256];    /* "" when none */
	int forwarded_port; /* last port Gluetun reported (0: none) */
	bool fwd_fresh;     /* forwarded_port was read since it connected */
	int64_t last_check_us;
	int64_t started_us;
	int64_t down_since_us; /* 0 while connected or before the first
	                          connect */
	bool ever_connected;
	bool restarted; /* started anew since the last connect */
	/* Engines on it started before this are due for replacement
	 * (VPN_RESTART_ENGINES_ON_RECONNECT); 0 = none. */
	int64_t reconnect_cutoff_us;
	uint64_t to_connected; /* transitions, for the metrics */
	uint64_t to_disconnected;
	int engines;  /* managed engines in state on it */
	int inflight; /* provisioning slots on it */
	bool fwd_inflight;
	/* private: the pool */
	orch_vpn_pub *pool; /* candidates, by container port */
	size_t n_pool;
	int last_port;  /* round robin: the search starts above it */
	uint64_t *used; /* container ports in use, 65536 bits */
} orch_vpn;

/* ---- for the core itself (core.c, provision.c), under the lock ------ */

/* Sets up core->vpn from core->cfg (nothing without VPN). */
orch_err orch_core_vpn_init(orch_core *core);
void orch_core_vpn_fini(orch_core *core);

/* An engine entered the state (put or adopted): its VPN's ports and
 * count, its down mark, and at most one forwarded engine per VPN. */
void orch_core_vpn_engine_added_locked(orch_core *core, orch_engine *e);
/* An engine is about to leave the state: its ports go back. */
void orch_core_vpn_engine_removed_locked(orch_core *core, orch_engine *e);

/*
 * A slot's VPN part (VPN mode only): the VPN, its ports and the
 * forwarded port when this engine is to own it. ORCH_OK; the refusal's
 * status with *refusal filled (code VPN) when opts->vpn is not
 * connected; ORCH_ENOTFOUND when opts->vpn names no Gluetun; ORCH_EEXIST
 * (diag field host_port) for an explicit host_port no Gluetun publishes
 * free; ORCH_EEXHAUSTED when no connected VPN has a free port. Nothing is
 * held on failure.
 */
orch_err orch_core_vpn_slot_reserve_locked(orch_core *core,
    const orch_slot_opts *opts, orch_slot *slot, orch_refusal *refusal,
    orch_diag *diag);

/* The slot ends (committed, or aborted: release_ports). */
void orch_core_vpn_slot_release_locked(
    orch_core *core, orch_slot *slot, bool release_ports);

/* Appends the orch_vpn_* metrics to out. */
void orch_core_vpn_metrics_locked(const orch_core *core, orch_buf *out);

/* The Gluetun at i (i < orch_core_vpn_count()), for readers. */
const orch_vpn *orch_core_vpn_at_locked(const orch_core *core, size_t i);
/* Free ports in its pool. */
int orch_core_vpn_free_ports_locked(const orch_core *core, size_t i);

/* ---- for the VPN monitor -------------------------------------------- */

/* Gluetun containers configured (0 without VPN; never changes). */
size_t orch_core_vpn_count(const orch_core *core);

/* Applies one round's findings for Gluetun i; *change (may be NULL)
 * says what changed. */
void orch_core_vpn_report(orch_core *core, size_t i, const orch_vpn_report *r,
    orch_vpn_change *change);

/* Whether VPN i needs a (new) forwarded engine now: connected, a fresh
 * forwarded port, none in flight and no engine of it owning that port.
 * *port gets the port. */
bool orch_core_vpn_forward_need(orch_core *core, size_t i, int *port);

/*
 * The next engine a reconnect of VPN i made due, idle ones first, into
 * id; *idle tells whether it carries nothing, *forwarded whether it owns
 * the forwarded port (its successor takes it over). Returns false (and
 * clears the reconnect) when none is left; false too while the VPN is
 * down.
 */
bool orch_core_vpn_reconnect_next(orch_core *core, size_t i,
    char id[ORCH_CORE_ID_MAX], bool *idle, bool *forwarded);

/* Drains engine id: marked (no new stream), stopped once idle or drain_s
 * from now (orch_core_vpn_retire_due). ORCH_ENOTFOUND. */
orch_err orch_core_vpn_retire(orch_core *core, const char *id, int drain_s);

/* Retired engines now due to stop (idle, or drained too long), up to
 * cap. They stay listed until they leave the state. */
size_t orch_core_vpn_retire_due(
    orch_core *core, char (*ids)[ORCH_CORE_ID_MAX], size_t cap);

/* An idle engine of VPN i to stop first when MAX_REPLICAS leaves no room
 * for a new one (its forwarded engine first), into id. false: none. */
bool orch_core_vpn_idle_victim(
    orch_core *core, size_t i, char id[ORCH_CORE_ID_MAX]);

#endif

/*
 * The VPN monitor: watches every Gluetun container of
 * GLUETUN_CONTAINER_NAME and keeps the engines inside them right
 * (docs/VPN.md).
 *
 *   check   every GLUETUN_HEALTH_CHECK_INTERVAL_S, and at once when the
 *           runtime's events say one of them started, stopped, died,
 *           went (un)healthy or was removed: inspect (Docker status,
 *           healthcheck, start time, the ports it publishes), then its
 *           control server (tunnel status, and the forwarded port once
 *           per GLUETUN_PORT_CACHE_TTL_S, each with the older route as a
 *           fallback), all VPNs' requests in one libcurl multi batch; the
 *           findings go to the core (src/core/vpn.h), which gates
 *           provisioning on them at once.
 *   act     between checks, one step at a time: stop retired engines
 *           that drained; give a VPN whose forwarded port changed (or
 *           first appeared) a new forwarded engine (the old one is
 *           retired by the core when it is committed; at MAX_REPLICAS an
 *           idle engine of that VPN is stopped first); after a reconnect
 *           (VPN_RESTART_ENGINES_ON_RECONNECT) replace the engines that
 *           predate it once, idle ones first (new one first below
 *           MAX_REPLICAS), draining busy ones.
 *
 * Nothing here runs under the core's lock, in an RPC handler or in an
 * HTTP handler: checks and actions run on the monitor's own thread, the
 * events callback only wakes it.
 */
#ifndef ORCH_ENGINES_VPN_H
#define ORCH_ENGINES_VPN_H

#include <stdbool.h>

#include "src/base/err.h"
#include "src/core/core.h"
#include "src/engines/manager.h"
#include "src/engines/reach.h"

typedef struct orch_vpnmon orch_vpnmon;

typedef struct orch_vpnmon_opts {
	orch_core *core; /* required */
	orch_mgr *mgr;   /* required: provisions, deletes; its runtime is
	                    asked about the Gluetun containers */
	bool no_thread;  /* tests: no thread and no events stream; they call
	                    orch_vpnmon_check() and orch_vpnmon_act() */
	const orch_reach *reach; /* where this process reaches the control
	                            servers (reach.h; copied); NULL: as on
	                            the host */
} orch_vpnmon_opts;

/* Creates the monitor (no thread yet). ORCH_OK with *out NULL when VPN
 * mode is off: nothing to watch. */
orch_err orch_vpnmon_open(const orch_vpnmon_opts *opts, orch_vpnmon **out);

/* Runs one check at once (the first requests are gated on it), then
 * starts the events stream and the thread (unless no_thread). NULL: a
 * no-op. */
orch_err orch_vpnmon_start(orch_vpnmon *m);

/* Stops the thread and the stream and frees m. NULL no-op. */
void orch_vpnmon_close(orch_vpnmon *m);

/* One check of every VPN now, on the caller's thread. */
void orch_vpnmon_check(orch_vpnmon *m);

/* Carries out every action due now; returns how many steps it took. */
int orch_vpnmon_act(orch_vpnmon *m);

#endif

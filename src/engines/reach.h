/*
 * Where the orchestrator itself reaches engines and the Gluetun control
 * server: the address its health probes and stats fetches go to.
 *
 * Why: on a host, an engine's published port on 127.0.0.1 is the one
 * address that always works (CONTRACT.md "Engine"). In a container that
 * address is the container's own loopback, so every probe would fail and
 * every engine would be replaced. Started in a container, the
 * orchestrator learns how it is networked (src/runtime/self.h) and picks
 * once, at start:
 *
 *   HOST     not in a container of this runtime, or on the host's
 *            network (network_mode: host): 127.0.0.1:<published port>
 *            (as before; the advertised address when nothing is
 *            published).
 *   NETWORK  in a container with DOCKER_NETWORK set (the compose case):
 *            by container name on that network, <name>:<container port>
 *            (an engine inside a Gluetun at <its Gluetun>:<container
 *            port>; a control server at <Gluetun>:GLUETUN_API_PORT).
 *   GATEWAY  in a container that shares no network with the engines,
 *            with ENGINE_HOST set (engines then publish on 0.0.0.0) or
 *            in VPN mode (Gluetun publishes): <host gateway>:<published
 *            port>, the gateway of the container's own network.
 *
 * When none of these can work (in a container, no DOCKER_NETWORK, ports
 * on the host's 127.0.0.1), the mode stays HOST, `ok` is false and `why`
 * says what to change; orchestratord logs it at start as a warning.
 */
#ifndef ORCH_ENGINES_REACH_H
#define ORCH_ENGINES_REACH_H

#include <stdbool.h>
#include <stddef.h>

#include "src/core/config.h"
#include "src/core/state.h"
#include "src/runtime/self.h"

typedef enum orch_reach_mode {
	ORCH_REACH_HOST = 0,
	ORCH_REACH_NETWORK = 1,
	ORCH_REACH_GATEWAY = 2,
} orch_reach_mode;

typedef struct orch_reach {
	orch_reach_mode mode;
	bool ok;          /* false: probes are expected to fail (why says) */
	char gateway[64]; /* GATEWAY: the host gateway's address */
	char why[800];    /* one line for the start-up log */
} orch_reach;

/* "host", "network", "gateway". */
const char *orch_reach_mode_name(orch_reach_mode mode);

/*
 * Decides *out from the configuration (DOCKER_NETWORK, ENGINE_HOST,
 * GLUETUN_CONTAINER_NAME) and what detection found (self may be NULL:
 * not in a container). Pure.
 */
void orch_reach_decide(
    const orch_config *cfg, const orch_rt_self *self, orch_reach *out);

/*
 * The base URL ("http://host:port", no trailing slash) at which the
 * orchestrator reaches engine e. r NULL: HOST. Returns the length
 * snprintf would write (>= len: cut).
 */
int orch_reach_engine_base(
    const orch_reach *r, const orch_engine *e, char *out, size_t len);

/*
 * The base URL of Gluetun v's control server (no trailing slash) into
 * out: GLUETUN_API_URL when set; else NETWORK: <name>:<api_port> on the
 * shared network; GATEWAY: <gateway>:<published> (the host port published
 * for api_port, when there is one); otherwise as on the host
 * (orch_gluetun_base_url: 127.0.0.1:<published>, else <name>:<api_port>).
 * r NULL: HOST.
 */
void orch_reach_gluetun_base(const orch_reach *r, const orch_vpn_cfg *v,
    int api_port, int published, char *out, size_t len);

#endif

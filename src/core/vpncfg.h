/*
 * The VPN variables, split per Gluetun: GLUETUN_CONTAINER_NAME may name
 * several Gluetun containers (comma-separated), and GLUETUN_API_URL,
 * GLUETUN_API_KEY, GLUETUN_API_USER, GLUETUN_API_PASSWORD and
 * VPN_PORT_RANGE then hold either one value for all of them or one entry
 * per name, in the same order (an empty entry: that one's default). With
 * one name the whole value is that one's: a key may contain a comma.
 *
 * Why a module of its own: the table in config.c parses one variable at
 * a time; these rules tie six of them together, and every consumer (the
 * core's VPN ledger, the monitor, the plan) wants the per-Gluetun view.
 */
#ifndef ORCH_CORE_VPNCFG_H
#define ORCH_CORE_VPNCFG_H

#include "src/base/diag.h"
#include "src/base/err.h"
#include "src/core/config.h"

/*
 * Fills cfg->vpns[] / n_vpns from the raw VPN variables of cfg (whatever
 * vpns[] held is freed first). ORCH_OK; ORCH_EINVAL with diag naming the
 * variable (field) and what it expected: a bad or repeated container
 * name, more than ORCH_VPN_MAX names, a list whose length is neither 1
 * nor the number of names, a URL that is not http(s)://host[:port][/path],
 * a bad range, a user without a password or the reverse; ORCH_ENOMEM.
 * On failure vpns[] is empty. orch_config_load() calls it; a test that
 * sets the raw fields by hand calls it too.
 */
orch_err orch_vpncfg_split(orch_config *cfg, orch_diag *diag);

/* Frees vpns[] and sets n_vpns 0. */
void orch_vpncfg_fini(orch_config *cfg);

/* Whether VPN mode is on (at least one Gluetun). */
static inline bool
orch_vpn_enabled(const orch_config *cfg)
{
	return cfg->n_vpns > 0;
}

/* The index of the Gluetun named name, or -1. */
int orch_vpncfg_find(const orch_config *cfg, const char *name);

#endif

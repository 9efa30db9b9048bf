#include "src/core/vpncfg.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Entries of one list variable, split at commas and trimmed; views into
 * a copy of the text (buf). */
typedef struct list {
	char *buf;
	const char *v[ORCH_VPN_MAX + 1];
	size_t n;
} list;

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char) *s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char) e[-1]))
		*--e = '\0';
	return s;
}

/* Splits text (NULL: no entry) at commas, at most ORCH_VPN_MAX + 1
 * entries (one more tells "too many"). With whole, the text is one entry.
 */
static orch_err
split(const char *text, bool whole, list *l)
{
	char *p, *comma;

	memset(l, 0, sizeof(*l));
	if (text == NULL)
		return ORCH_OK;
	if ((l->buf = strdup(text)) == NULL)
		return ORCH_ENOMEM;
	for (p = l->buf; l->n < ORCH_VPN_MAX + 1; p = comma + 1) {
		comma = whole ? NULL : strchr(p, ',');
		if (comma != NULL)
			*comma = '\0';
		l->v[l->n++] = trim(p);
		if (comma == NULL)
			break;
	}
	return ORCH_OK;
}

/* Docker container names: [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 128. */
static bool
valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 128 || !isalnum((unsigned char) s[0]))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!isalnum((unsigned char) s[i]) && s[i] != '_' &&
		    s[i] != '.' && s[i] != '-')
			return false;
	}
	return true;
}

/* http(s)://host[:port][/path]: host characters only in the authority
 * (no userinfo), printable ASCII without spaces in the path. */
static bool
valid_url(const char *s)
{
	const char *a, *p;
	size_t n;

	if (strncmp(s, "http://", 7) == 0)
		a = s + 7;
	else if (strncmp(s, "https://", 8) == 0)
		a = s + 8;
	else
		return false;
	n = strcspn(a, "/");
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!isalnum((unsigned char) a[i]) &&
		    strchr(".-_:[]", a[i]) == NULL)
			return false;
	}
	for (p = a + n; *p != '\0'; p++) {
		if ((unsigned char) *p <= 0x20 || (unsigned char) *p >= 0x7f)
			return false;
	}
	return true;
}

static bool
parse_range(const char *s, orch_port_range *r)
{
	int lo, hi, used = 0;

	if (sscanf(s, "%d-%d%n", &lo, &hi, &used) != 2 ||
	    (size_t) used != strlen(s) || !isdigit((unsigned char) s[0]) ||
	    lo < 1 || hi > 65535 || lo > hi)
		return false;
	r->lo = lo;
	r->hi = hi;
	return true;
}

static orch_err
bad(orch_diag *d, const char *var, const char *fmt, const char *what)
{
	char msg[256];

	snprintf(msg, sizeof(msg), fmt, what);
	orch_diag_field(d, var, "%s: %s", var, msg);
	return ORCH_EINVAL;
}

/* The entry of list l for Gluetun i: one entry for all, or its own; NULL
 * when unset or empty. */
static const char *
entry(const list *l, size_t i)
{
	const char *v;

	if (l->n == 0)
		return NULL;
	v = l->n == 1 ? l->v[0] : l->v[i];
	return v[0] != '\0' ? v : NULL;
}

static orch_err
dup_opt(const char *v, char **out)
{
	*out = NULL;
	if (v != NULL && (*out = strdup(v)) == NULL)
		return ORCH_ENOMEM;
	return ORCH_OK;
}

/* The per-Gluetun variables in the order of orch_vpn_cfg. */
enum { L_URL, L_KEY, L_USER, L_PASSWORD, L_RANGE, L_N };

static const char *const list_names[L_N] = {"GLUETUN_API_URL",
    "GLUETUN_API_KEY", "GLUETUN_API_USER", "GLUETUN_API_PASSWORD",
    "VPN_PORT_RANGE"};

/* One Gluetun's settings from the lists; checks them. */
static orch_err
fill_one(orch_config *cfg, size_t i, const list *lists, orch_diag *d)
{
	orch_vpn_cfg *v = &cfg->vpns[i];
	const char *url = entry(&lists[L_URL], i);
	const char *range = entry(&lists[L_RANGE], i);
	const char *user = entry(&lists[L_USER], i);
	const char *pass = entry(&lists[L_PASSWORD], i);
	orch_err rv;

	if (url != NULL && !valid_url(url))
		return bad(d, "GLUETUN_API_URL",
		    "expected http://host[:port][/path] (or https://), got "
		    "\"%s\"",
		    url);
	if (range != NULL && !parse_range(range, &v->ports))
		return bad(d, "VPN_PORT_RANGE",
		    "expected a port range lo-hi with 1 <= lo <= hi <= "
		    "65535, got \"%s\"",
		    range);
	/* Named after the one that is set: that is the line to fix. */
	if (user == NULL && pass != NULL)
		return bad(d, "GLUETUN_API_PASSWORD",
		    "basic auth needs GLUETUN_API_USER too (Gluetun %s)",
		    v->name);
	if (user != NULL && pass == NULL)
		return bad(d, "GLUETUN_API_USER",
		    "basic auth needs GLUETUN_API_PASSWORD too (Gluetun %s)",
		    v->name);
	if ((rv = dup_opt(url, &v->api_url)) != ORCH_OK ||
	    (rv = dup_opt(entry(&lists[L_KEY], i), &v->api_key)) != ORCH_OK ||
	    (rv = dup_opt(user, &v->api_user)) != ORCH_OK ||
	    (rv = dup_opt(pass, &v->api_password)) != ORCH_OK)
		return rv;
	/* A base URL ends without '/': paths are appended to it. */
	if (v->api_url != NULL) {
		size_t n = strlen(v->api_url);

		while (n > 0 && v->api_url[n - 1] == '/')
			v->api_url[--n] = '\0';
	}
	return ORCH_OK;
}

static orch_err
split_names(orch_config *cfg, list *names, orch_diag *d)
{
	orch_err rv;

	if ((rv = split(cfg->gluetun_container_name, false, names)) != ORCH_OK)
		return rv;
	if (names->n > ORCH_VPN_MAX)
		return bad(d, "GLUETUN_CONTAINER_NAME",
		    "at most %s Gluetun container names", "16");
	for (size_t i = 0; i < names->n; i++) {
		if (!valid_name(names->v[i]))
			return bad(d, "GLUETUN_CONTAINER_NAME",
			    "expected comma-separated container names "
			    "[a-zA-Z0-9][a-zA-Z0-9_.-]*, got \"%s\"",
			    names->v[i]);
		for (size_t j = 0; j < i; j++) {
			if (strcmp(names->v[i], names->v[j]) == 0)
				return bad(d, "GLUETUN_CONTAINER_NAME",
				    "\"%s\" is named twice", names->v[i]);
		}
	}
	return ORCH_OK;
}

orch_err
orch_vpncfg_split(orch_config *cfg, orch_diag *d)
{
	const char *const raw[L_N] = {cfg->gluetun_api_url,
	    cfg->gluetun_api_key, cfg->gluetun_api_user,
	    cfg->gluetun_api_password, cfg->vpn_port_range};
	list names, lists[L_N];
	orch_err rv;
	size_t i;

	orch_vpncfg_fini(cfg);
	memset(lists, 0, sizeof(lists));
	if ((rv = split_names(cfg, &names, d)) != ORCH_OK)
		goto out;
	for (i = 0; i < L_N && names.n > 0; i++) {
		char what[160];

		if ((rv = split(raw[i], names.n == 1, &lists[i])) != ORCH_OK)
			goto out;
		if (lists[i].n <= 1 || lists[i].n == names.n)
			continue;
		snprintf(what, sizeof(what),
		    "%zu (one per GLUETUN_CONTAINER_NAME entry) or 1 "
		    "(for all)",
		    names.n);
		rv = bad(d, list_names[i],
		    "expected %s comma-separated values", what);
		goto out;
	}
	for (i = 0; i < names.n; i++) {
		if ((cfg->vpns[i].name = strdup(names.v[i])) == NULL) {
			rv = ORCH_ENOMEM;
			goto out;
		}
		cfg->n_vpns = i + 1;
		if ((rv = fill_one(cfg, i, lists, d)) != ORCH_OK)
			goto out;
	}
out:
	free(names.buf);
	for (i = 0; i < L_N; i++)
		free(lists[i].buf);
	if (rv != ORCH_OK)
		orch_vpncfg_fini(cfg);
	return rv;
}

void
orch_vpncfg_fini(orch_config *cfg)
{
	for (size_t i = 0; i < ORCH_VPN_MAX; i++) {
		orch_vpn_cfg *v = &cfg->vpns[i];

		free(v->name);
		free(v->api_url);
		free(v->api_key);
		free(v->api_user);
		free(v->api_password);
		memset(v, 0, sizeof(*v));
	}
	cfg->n_vpns = 0;
}

int
orch_vpncfg_find(const orch_config *cfg, const char *name)
{
	for (size_t i = 0; name != NULL && i < cfg->n_vpns; i++) {
		if (strcmp(cfg->vpns[i].name, name) == 0)
			return (int) i;
	}
	return -1;
}

#include "src/runtime/self.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MOUNTINFO_MAX (1024 * 1024) /* a few hundred lines, usually */

static const char *const mount_points[] = {
    "/etc/hostname", "/etc/hosts", "/etc/resolv.conf"};

static bool
is_hex64(const char *s, size_t n)
{
	if (n != ORCH_RT_SELF_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!isxdigit((unsigned char) s[i]))
			return false;
	}
	return true;
}

/* Field i (0-based, space-separated) of line [p, end): *f and *n. */
static bool
line_field(const char *p, const char *end, int i, const char **f, size_t *n)
{
	for (;;) {
		const char *s;

		while (p < end && *p == ' ')
			p++;
		s = p;
		while (p < end && *p != ' ')
			p++;
		if (s == p)
			return false;
		if (i-- == 0) {
			*f = s;
			*n = (size_t) (p - s);
			return true;
		}
	}
}

/* The last 64-hex segment of path [s, s + n), copied to id. */
static bool
last_hex_segment(const char *s, size_t n, char *id)
{
	bool found = false;
	size_t i = 0;

	while (i < n) {
		size_t j = i;

		while (j < n && s[j] != '/')
			j++;
		if (is_hex64(s + i, j - i)) {
			for (size_t k = 0; k < ORCH_RT_SELF_ID_MAX; k++)
				id[k] =
				    (char) tolower((unsigned char) s[i + k]);
			id[ORCH_RT_SELF_ID_MAX] = '\0';
			found = true;
		}
		i = j + 1;
	}
	return found;
}

bool
orch_rt_self_parse_mountinfo(
    const char *buf, size_t len, char id[ORCH_RT_SELF_ID_MAX + 1])
{
	const char *p = buf, *end = buf + len;

	id[0] = '\0';
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t) (end - p));
		const char *root, *mnt;
		size_t root_n, mnt_n;

		if (eol == NULL)
			eol = end;
		/* "<id> <parent> <maj:min> <root> <mount point> ..." */
		if (line_field(p, eol, 3, &root, &root_n) &&
		    line_field(p, eol, 4, &mnt, &mnt_n)) {
			for (size_t i = 0; i < sizeof(mount_points) /
			                           sizeof(mount_points[0]);
			     i++) {
				if (mnt_n == strlen(mount_points[i]) &&
				    memcmp(mnt, mount_points[i], mnt_n) == 0 &&
				    last_hex_segment(root, root_n, id))
					return true;
			}
		}
		p = eol + 1;
	}
	return false;
}

/* Reads at most MOUNTINFO_MAX bytes of path; NULL when unreadable. */
static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;

	*len = 0;
	if (f == NULL)
		return NULL;
	buf = malloc(MOUNTINFO_MAX);
	if (buf != NULL)
		*len = fread(buf, 1, MOUNTINFO_MAX, f);
	fclose(f);
	return buf;
}

/* Inspects id; on success keeps the answer in s. */
static bool
inspect_self(const orch_runtime *rt, orch_rt_self *s, const char *id)
{
	orch_diag d;

	if (orch_rt_inspect(rt, id, &s->c, &d) != ORCH_OK) {
		snprintf(s->why, sizeof(s->why), "%.250s", d.msg);
		return false;
	}
	/* A hostname may be anyone's name: only its own id prefix counts. */
	if (strncmp(s->c.id, id, strlen(id)) != 0) {
		snprintf(s->why, sizeof(s->why),
		    "%s names another container (%.12s)", id, s->c.id);
		orch_rt_container_fini(&s->c);
		return false;
	}
	snprintf(s->id, sizeof(s->id), "%s", s->c.id);
	s->inspected = true;
	return true;
}

void
orch_rt_self_detect(
    const orch_runtime *rt, const orch_rt_self_paths *paths, orch_rt_self *out)
{
	const orch_rt_self_paths def = {"/proc/self/mountinfo",
	    {"/.dockerenv", "/run/.containerenv"}, NULL};
	const orch_rt_self_paths *p = paths != NULL ? paths : &def;
	char host[ORCH_RT_SELF_ID_MAX + 1] = "";
	size_t len;
	char *mi;

	memset(out, 0, sizeof(*out));
	mi = slurp(p->mountinfo != NULL ? p->mountinfo : def.mountinfo, &len);
	if (mi != NULL && orch_rt_self_parse_mountinfo(mi, len, out->id))
		out->in_container = true;
	free(mi);
	for (size_t i = 0; i < 2 && !out->in_container; i++) {
		const char *m =
		    p->markers[i] != NULL ? p->markers[i] : def.markers[i];

		out->in_container = access(m, F_OK) == 0;
	}
	if (!out->in_container)
		return;
	if (out->id[0] == '\0') {
		if (p->hostname != NULL)
			snprintf(host, sizeof(host), "%s", p->hostname);
		else if (gethostname(host, sizeof(host)) != 0)
			host[0] = '\0';
		host[sizeof(host) - 1] = '\0';
	}
	if (rt == NULL) {
		snprintf(out->why, sizeof(out->why), "no runtime to ask");
	} else if (out->id[0] != '\0') {
		(void) inspect_self(rt, out, out->id);
	} else if (host[0] != '\0') {
		(void) inspect_self(rt, out, host);
	} else {
		snprintf(out->why, sizeof(out->why),
		    "no container id in /proc/self/mountinfo and no "
		    "hostname");
	}
}

void
orch_rt_self_fini(orch_rt_self *s)
{
	if (s == NULL)
		return;
	orch_rt_container_fini(&s->c);
	memset(s, 0, sizeof(*s));
}

#include "src/runtime/imageref.h"

#include <string.h>

#define NAME_MAX_LEN 255
#define TAG_MAX_LEN 128

static bool
lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool
alnum(char c)
{
	return lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool
hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* One path component in [s, e): alnum runs joined by '.', '_', "__" or
 * one or more '-'. */
static bool
path_component(const char *s, const char *e)
{
	const char *p = s;

	if (p == e || !lower_alnum(*p))
		return false;
	while (p < e) {
		while (p < e && lower_alnum(*p))
			p++;
		if (p == e)
			break;
		if (*p == '.' || (*p == '_' && (p + 1 == e || p[1] != '_')))
			p++;
		else if (*p == '_')
			p += 2;
		else if (*p == '-')
			while (p < e && *p == '-')
				p++;
		else
			return false;
		if (p == e || !lower_alnum(*p))
			return false;
	}
	return true;
}

/* A domain in [s, e): labels of alnum and inner '-' joined by '.', then
 * an optional ":port". */
static bool
domain(const char *s, const char *e)
{
	const char *colon = memchr(s, ':', (size_t) (e - s));
	const char *end = colon != NULL ? colon : e, *p = s;

	if (colon != NULL) {
		if (colon + 1 == e)
			return false;
		for (const char *q = colon + 1; q < e; q++)
			if (*q < '0' || *q > '9')
				return false;
	}
	while (p < end) {
		const char *l = p;

		while (p < end && (alnum(*p) || *p == '-'))
			p++;
		if (p == l || *l == '-' || p[-1] == '-')
			return false;
		if (p < end && *p++ != '.')
			return false;
		if (p == end && p[-1] == '.')
			return false;
	}
	return end > s;
}

static bool
is_domain(const char *s, const char *e)
{
	size_t n = (size_t) (e - s);

	return memchr(s, '.', n) != NULL || memchr(s, ':', n) != NULL ||
	       (n == 9 && memcmp(s, "localhost", 9) == 0);
}

static bool
digest_ok(const char *d)
{
	const char *colon = strchr(d, ':');
	size_t n;

	if (colon == NULL || colon == d)
		return false;
	for (const char *p = d; p < colon; p++)
		if (!lower_alnum(*p) && *p != '+' && *p != '.' && *p != '_' &&
		    *p != '-')
			return false;
	n = strlen(colon + 1);
	if (n < 32)
		return false;
	for (const char *p = colon + 1; *p != '\0'; p++)
		if (!hex(*p))
			return false;
	return true;
}

static bool
tag_ok(const char *s, const char *e)
{
	if (s == e || (size_t) (e - s) > TAG_MAX_LEN ||
	    !(alnum(*s) || *s == '_'))
		return false;
	for (const char *p = s; p < e; p++)
		if (!alnum(*p) && *p != '_' && *p != '.' && *p != '-')
			return false;
	return true;
}

bool
orch_rt_image_ref_valid(const char *ref, const char **why)
{
	const char *at, *end, *name_end, *slash, *p, *tag = NULL;
	const char *reason = NULL;

	if (ref == NULL || ref[0] == '\0') {
		reason = "empty";
		goto out;
	}
	at = strchr(ref, '@');
	end = at != NULL ? at : ref + strlen(ref);
	if (at != NULL && !digest_ok(at + 1)) {
		reason = "invalid digest";
		goto out;
	}
	/* The tag is after the last ':' that follows the last '/'. */
	slash = NULL;
	for (p = ref; p < end; p++)
		if (*p == '/')
			slash = p;
	for (p = slash != NULL ? slash : ref; p < end; p++)
		if (*p == ':')
			tag = p;
	name_end = tag != NULL ? tag : end;
	if (tag != NULL && !tag_ok(tag + 1, end)) {
		reason = "invalid tag";
		goto out;
	}
	if ((size_t) (name_end - ref) > NAME_MAX_LEN) {
		reason = "repository name longer than 255 characters";
		goto out;
	}
	p = ref;
	slash = memchr(p, '/', (size_t) (name_end - p));
	if (slash != NULL && is_domain(p, slash)) {
		if (!domain(p, slash)) {
			reason = "invalid registry host";
			goto out;
		}
		p = slash + 1;
	}
	while (p <= name_end) {
		const char *e = memchr(p, '/', (size_t) (name_end - p));

		if (e == NULL)
			e = name_end;
		if (!path_component(p, e)) {
			reason = "the repository name must be lowercase "
			         "letters, digits and separators";
			goto out;
		}
		p = e + 1;
	}
out:
	if (why != NULL)
		*why = reason;
	return reason == NULL;
}

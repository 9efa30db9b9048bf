#include "src/cmd/ctl_args.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "proto/orchestrator.pb-c.h"
#include "src/json/pbparse.h"

/* Nested messages listed this deep at most: the schema has no cycles, but
 * a descriptor walk should not trust that. */
#define DESCRIBE_MAX_DEPTH 8

/* One field assignment from the command line, applied in order. */
typedef struct assign {
	const char *path;
	const char *value;
} assign;

/* What the scan of the arguments found. */
typedef struct scan {
	assign *set; /* the defaults, then one per argument at most */
	size_t n_set;
	const char *body; /* --json's argument, or NULL */
	int n_positional;
} scan;

/* The arguments' shape is wrong: *usage, and one line saying how. */
static orch_err usage_error(bool *usage, orch_diag *d, const char *field,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static orch_err
usage_error(bool *usage, orch_diag *d, const char *field, const char *fmt, ...)
{
	va_list ap;

	*usage = true;
	orch_diag_field(d, field, "%s", "");
	va_start(ap, fmt);
	orch_diag_vset(d, fmt, ap);
	va_end(ap);
	return ORCH_EINVAL;
}

static const orch_ctl_flag *
find_flag(const orch_ctl_syntax *syn, const char *name)
{
	const orch_ctl_flag *f = NULL;

	for (int i = 0; syn != NULL && f == NULL && i < ORCH_CTL_MAX_FLAGS &&
	                syn->flags[i].name != NULL;
	     i++) {
		if (strcmp(syn->flags[i].name, name) == 0)
			f = &syn->flags[i];
	}
	return f;
}

/*
 * Sorts the arguments into field assignments (in argv order), the --json
 * body and positionals, without looking at the schema yet.
 */
static orch_err
scan_args(const orch_ctl_syntax *syn, int argc, char *const *argv, scan *s,
    bool *usage, orch_diag *d)
{
	orch_err rv = ORCH_OK;

	for (int i = 0; rv == ORCH_OK && i < argc; i++) {
		const char *a = argv[i];
		const orch_ctl_flag *f = find_flag(syn, a);
		bool is_flag = strncmp(a, "--", 2) == 0;
		bool more = i + 1 < argc;
		const char *path = f != NULL ? f->path : a + (is_flag ? 2 : 0);

		if (!is_flag &&
		    (syn == NULL ||
		        s->n_positional >= ORCH_CTL_MAX_POSITIONAL ||
		        syn->positional[s->n_positional] == NULL))
			rv = usage_error(usage, d, "",
			    "unexpected argument \"%s\"%s", a,
			    syn == NULL ? " (fields are given as --NAME VALUE)"
			                : "");
		else if (!is_flag)
			s->set[s->n_set++] =
			    (assign){syn->positional[s->n_positional++], a};
		else if (f != NULL && f->value != NULL)
			s->set[s->n_set++] = (assign){f->path, f->value};
		else if (!more && f == NULL && strcmp(a, "--json") == 0)
			rv = usage_error(usage, d, "",
			    "--json: expected a request body ('{...}', @FILE "
			    "or "
			    "-); for JSON output, put --json before the "
			    "command");
		else if (!more)
			rv = usage_error(usage, d, path,
			    "%s: expected a value after it", a);
		else if (f == NULL && strcmp(a, "--json") == 0)
			s->body = argv[++i];
		else
			s->set[s->n_set++] = (assign){path, argv[++i]};
	}
	if (rv == ORCH_OK && syn != NULL && s->n_positional < syn->required)
		rv = usage_error(usage, d, "", "missing arguments");
	return rv;
}

/* Reads all of f, up to one byte more than a body may have (so that the
 * parser refuses a longer one with its own message). */
static orch_err
read_all(FILE *f, orch_buf *b)
{
	char chunk[4096];
	size_t n;
	orch_err rv = ORCH_OK;

	while (b->len <= ORCH_PBPARSE_MAX_LEN &&
	       (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		orch_buf_append(b, chunk, n);
	if (ferror(f))
		rv = ORCH_ESYS;
	else if (b->oom)
		rv = ORCH_ENOMEM;
	return rv;
}

/* The --json body: the argument itself, @FILE, or - (in). */
static orch_err
load_body(const char *src, FILE *in, orch_buf *b, orch_diag *d)
{
	FILE *f = NULL;
	orch_err rv = ORCH_OK;

	if (strcmp(src, "-") == 0) {
		rv = read_all(in, b);
	} else if (src[0] == '@') {
		f = fopen(src + 1, "rb");
		rv = f != NULL ? read_all(f, b) : ORCH_ESYS;
	} else {
		orch_buf_puts(b, src);
		rv = b->oom ? ORCH_ENOMEM : ORCH_OK;
	}
	if (rv == ORCH_ESYS)
		orch_diag_field(d, "", "--json %s: cannot read: %s", src,
		    strerror(errno != 0 ? errno : EIO));
	if (f != NULL)
		fclose(f);
	return rv;
}

/* The request from the body, or an empty one. */
static orch_err
start_message(const ProtobufCMessageDescriptor *md, const char *body, FILE *in,
    ProtobufCMessage **m, orch_diag *d)
{
	orch_buf b = ORCH_BUF_INIT;
	orch_err rv;

	if (body == NULL) {
		rv = orch_pbparse_new(md, NULL, m);
		goto out;
	}
	errno = 0;
	rv = load_body(body, in, &b, d);
	if (rv != ORCH_OK)
		goto out;
	rv = orch_pbparse(md, b.data != NULL ? b.data : "", b.len, NULL, m, d);
	if (rv == ORCH_EINVAL) {
		char why[ORCH_DIAG_MSG_MAX];

		snprintf(why, sizeof(why), "%s", d->msg);
		orch_diag_set(d, "--json: %s", why);
	}
out:
	orch_buf_fini(&b);
	return rv;
}

orch_err
orch_ctl_build(const ProtobufCMessageDescriptor *md,
    const orch_ctl_syntax *syn, int argc, char *const *argv, FILE *in,
    ProtobufCMessage **out, bool *usage, orch_diag *d)
{
	scan s = {NULL, 0, NULL, 0};
	ProtobufCMessage *m = NULL;
	orch_err rv = ORCH_OK;

	*out = NULL;
	*usage = false;
	orch_diag_clear(d);
	s.set =
	    calloc((size_t) argc + ORCH_CTL_MAX_DEFAULTS + 1, sizeof(assign));
	if (s.set == NULL) {
		rv = ORCH_ENOMEM;
		goto out;
	}
	for (int i = 0; syn != NULL && i < ORCH_CTL_MAX_DEFAULTS; i++) {
		if (syn->defaults[i][0] != NULL)
			s.set[s.n_set++] =
			    (assign){syn->defaults[i][0], syn->defaults[i][1]};
	}
	rv = scan_args(syn, argc, argv, &s, usage, d);
	if (rv == ORCH_OK)
		rv = start_message(md, s.body, in, &m, d);
	for (size_t i = 0; rv == ORCH_OK && i < s.n_set; i++)
		rv = orch_pbparse_set_path(
		    m, s.set[i].path, s.set[i].value, NULL, d);
	if (rv == ORCH_OK) {
		*out = m;
		m = NULL;
	}
out:
	if (rv == ORCH_ENOMEM)
		orch_diag_field(d, "", "out of memory");
	if (m != NULL)
		protobuf_c_message_free_unpacked(m, NULL);
	free(s.set);
	return rv;
}

/* ------------------------------------------------------------------------ */
/* Listing the fields. */

static void
describe_at(const ProtobufCMessageDescriptor *d, const char *prefix, int depth,
    orch_buf *out)
{
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const ProtobufCMessageDescriptor *sub = f->descriptor;
		const char *t = orch_pbparse_text_type(f);
		bool repeated = f->label == PROTOBUF_C_LABEL_REPEATED;
		/* A map is a repeated key/value entry (pbparse.h). */
		bool map = repeated && f->type == PROTOBUF_C_TYPE_MESSAGE &&
		           sub->n_fields == 2 &&
		           strcmp(sub->fields[0].name, "key") == 0 &&
		           strcmp(sub->fields[1].name, "value") == 0;
		char path[256];

		snprintf(path, sizeof(path), "%s%s", prefix, f->name);
		if (map) {
			t = orch_pbparse_text_type(&sub->fields[1]);
			orch_buf_printf(out, "    --%s.<key> %s\n", path,
			    t != NULL ? t : "(JSON only)");
		} else if (t == NULL && !repeated &&
		           f->type == PROTOBUF_C_TYPE_MESSAGE &&
		           depth < DESCRIBE_MAX_DEPTH) {
			strncat(path, ".", sizeof(path) - strlen(path) - 1);
			describe_at(sub, path, depth + 1, out);
		} else {
			orch_buf_printf(out, "    --%s %s%s\n", path,
			    t != NULL ? t : "(JSON only)",
			    t != NULL && repeated ? " (repeatable)" : "");
		}
	}
}

void
orch_ctl_describe(const ProtobufCMessageDescriptor *d, orch_buf *out)
{
	describe_at(d, "", 0, out);
}

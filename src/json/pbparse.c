#include "src/json/pbparse.h"
#include "src/base/utf8.h"

#include <float.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "proto/orchestrator.pb-c.h"
#include "src/base/time.h"

/*
 * Every allocation is attached to the message under construction before
 * anything else can fail (a repeated field's count covers exactly the
 * elements that own something), so any error path frees it all with one
 * protobuf_c_message_free_unpacked() on the top-level message.
 */

/* 0000-01-01T00:00:00Z and 10000-01-01T00:00:00Z: what the writer's
 * four-digit years can say, so every accepted time writes back parseably. */
#define TS_MIN (-62167219200000000LL)
#define TS_END (253402300800000000LL)

typedef struct pctx {
	ProtobufCAllocator *alloc;
	orch_pbparse_error *err;
	char path[ORCH_PBPARSE_FIELD_MAX];
	size_t plen;
} pctx;

static void *
sys_alloc(void *data, size_t n)
{
	(void) data;
	return malloc(n);
}

static void
sys_free(void *data, void *p)
{
	(void) data;
	free(p);
}

/* protobuf-c's own default is malloc/free too, so a message built with this
 * one may be freed with a NULL allocator. */
static ProtobufCAllocator sys_allocator = {sys_alloc, sys_free, NULL};

/* ------------------------------------------------------------------------ */
/* Errors and the field path. */

static void
err_clear(orch_pbparse_error *e)
{
	e->malformed = false;
	e->field[0] = '\0';
	e->message[0] = '\0';
}

static orch_err fail(pctx *c, orch_err rv, bool malformed, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

static orch_err
fail(pctx *c, orch_err rv, bool malformed, const char *fmt, ...)
{
	va_list ap;

	c->err->malformed = malformed;
	c->err->field[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(c->err->message, sizeof(c->err->message), fmt, ap);
	va_end(ap);
	return rv;
}

/* The value at the current path has the wrong JSON type (HTTP 422). */
static orch_err
type_error(pctx *c, const char *expected, const char *got)
{
	c->err->malformed = false;
	snprintf(c->err->field, sizeof(c->err->field), "%s", c->path);
	snprintf(c->err->message, sizeof(c->err->message),
	    "%s: expected %s, got %s", c->path, expected, got);
	return ORCH_EINVAL;
}

/* Appends sep (omitted at the start) and name to the path; returns the
 * length to restore with path_pop(). A path too long is truncated. */
static size_t
path_push(pctx *c, const char *sep, const char *name)
{
	size_t old = c->plen;
	size_t room = sizeof(c->path) - old;
	int n =
	    snprintf(c->path + old, room, "%s%s", old > 0 ? sep : "", name);

	if (n > 0)
		c->plen =
		    (size_t) n < room ? old + (size_t) n : sizeof(c->path) - 1;
	return old;
}

static size_t
path_push_index(pctx *c, size_t i)
{
	char idx[32];

	snprintf(idx, sizeof(idx), "[%zu]", i);
	return path_push(c, "", idx);
}

static void
path_pop(pctx *c, size_t old)
{
	c->plen = old;
	c->path[old] = '\0';
}

static const char *
json_type_name(const json_t *j)
{
	const char *name = "null";

	switch (json_typeof(j)) {
	case JSON_OBJECT:
		name = "object";
		break;
	case JSON_ARRAY:
		name = "array";
		break;
	case JSON_STRING:
		name = "string";
		break;
	case JSON_INTEGER:
		name = "integer";
		break;
	case JSON_REAL:
		name = "number";
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		name = "boolean";
		break;
	case JSON_NULL:
		break;
	}
	return name;
}

/* ------------------------------------------------------------------------ */
/* Schema conventions: the same tests as the writer's (pbjson.c). */

static bool
is_map_entry(const ProtobufCMessageDescriptor *d)
{
	size_t n = strlen(d->name);

	return n > 5 && strcmp(d->name + n - 5, "Entry") == 0 &&
	       d->n_fields == 2 && strcmp(d->fields[0].name, "key") == 0 &&
	       strcmp(d->fields[1].name, "value") == 0;
}

static bool
is_list_wrapper(const ProtobufCMessageDescriptor *d)
{
	size_t n = strlen(d->name);

	return n > 4 && strcmp(d->name + n - 4, "List") == 0 &&
	       d->n_fields == 1 &&
	       d->fields[0].label == PROTOBUF_C_LABEL_REPEATED;
}

static bool
is_map_field(const ProtobufCFieldDescriptor *f)
{
	return f->label == PROTOBUF_C_LABEL_REPEATED &&
	       f->type == PROTOBUF_C_TYPE_MESSAGE &&
	       is_map_entry(f->descriptor);
}

/* The JSON a message of type d is written as: object, array or string. */
static const char *
message_expected(const ProtobufCMessageDescriptor *d)
{
	const char *what = "object";

	if (d == &orch__timestamp__descriptor)
		what = "RFC 3339 time with zone";
	else if (is_list_wrapper(d))
		what = is_map_field(&d->fields[0]) ? "object" : "array";
	return what;
}

/* The JSON type name one value of f is expected as, for messages. */
static const char *
value_expected(const ProtobufCFieldDescriptor *f)
{
	const char *what = "string";

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		what = "int32";
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		what = "uint32";
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		what = "int64";
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		what = "uint64";
		break;
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
		what = "number";
		break;
	case PROTOBUF_C_TYPE_BOOL:
		what = "bool";
		break;
	case PROTOBUF_C_TYPE_ENUM:
		what = "enum name";
		break;
	case PROTOBUF_C_TYPE_STRING:
		break;
	case PROTOBUF_C_TYPE_BYTES:
		what = "base64 string";
		break;
	case PROTOBUF_C_TYPE_MESSAGE:
		what = message_expected(f->descriptor);
		break;
	}
	return what;
}

static size_t
value_size(const ProtobufCFieldDescriptor *f)
{
	size_t sz = 4;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		sz = 8;
		break;
	case PROTOBUF_C_TYPE_BOOL:
		sz = sizeof(protobuf_c_boolean);
		break;
	case PROTOBUF_C_TYPE_ENUM:
		sz = sizeof(int);
		break;
	case PROTOBUF_C_TYPE_STRING:
		sz = sizeof(char *);
		break;
	case PROTOBUF_C_TYPE_BYTES:
		sz = sizeof(ProtobufCBinaryData);
		break;
	case PROTOBUF_C_TYPE_MESSAGE:
		sz = sizeof(ProtobufCMessage *);
		break;
	default:
		break;
	}
	return sz;
}

/* Optional scalars (not strings, not messages) carry a has_ flag. */
static void
set_has(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL &&
	    f->type != PROTOBUF_C_TYPE_STRING &&
	    f->type != PROTOBUF_C_TYPE_MESSAGE)
		*(protobuf_c_boolean *) ((char *) m + f->quantifier_offset) =
		    1;
}

/* ------------------------------------------------------------------------ */
/* Small parsers shared by the JSON and the text paths. */

/* An RFC 3339 time with a zone, in the range the writer can write back. */
static bool
parse_time(const char *s, size_t n, int64_t *us)
{
	int64_t v = 0;
	bool ok =
	    orch_rfc3339_parse(s, n, &v) == 0 && v >= TS_MIN && v < TS_END;

	if (ok)
		*us = v;
	return ok;
}

static int
b64_value(unsigned char ch)
{
	int v = -1;

	if (ch >= 'A' && ch <= 'Z')
		v = ch - 'A';
	else if (ch >= 'a' && ch <= 'z')
		v = ch - 'a' + 26;
	else if (ch >= '0' && ch <= '9')
		v = ch - '0' + 52;
	else if (ch == '+')
		v = 62;
	else if (ch == '/')
		v = 63;
	return v;
}

/* Padded, canonical standard base64 (what the writer writes): returns the
 * decoded length, or -1. Decodes into out when out is not NULL. */
static long
b64_decode(const char *s, size_t n, uint8_t *out)
{
	size_t pad = 0, o = 0;
	long rv = -1;

	if (n % 4 != 0)
		goto out;
	if (n > 0 && s[n - 1] == '=')
		pad = n > 1 && s[n - 2] == '=' ? 2 : 1;
	for (size_t i = 0; i < n; i += 4) {
		int v[4];
		uint32_t w;

		for (int k = 0; k < 4; k++) {
			v[k] =
			    i + (size_t) k >= n - pad
			        ? 0
			        : b64_value((unsigned char) s[i + (size_t) k]);
			if (v[k] < 0)
				goto out;
		}
		w = (uint32_t) v[0] << 18 | (uint32_t) v[1] << 12 |
		    (uint32_t) v[2] << 6 | (uint32_t) v[3];
		for (int k = 0; k < 3; k++) {
			if (i + 4 >= n && k >= 3 - (int) pad) {
				/* Bits under the padding must be zero. */
				if (((w >> (16 - 8 * k)) & 0xff) != 0)
					goto out;
				continue;
			}
			if (out != NULL)
				out[o] = (uint8_t) (w >> (16 - 8 * k));
			o++;
		}
	}
	rv = (long) o;
out:
	return rv;
}

/* ------------------------------------------------------------------------ */
/* JSON -> message. */

static orch_err fill_message(pctx *c, ProtobufCMessage *m, const json_t *j);
static orch_err parse_repeated(pctx *c, ProtobufCMessage *m,
    const ProtobufCFieldDescriptor *f, const json_t *j);

static orch_err
new_message(ProtobufCAllocator *a, const ProtobufCMessageDescriptor *d,
    ProtobufCMessage **out)
{
	ProtobufCMessage *m = a->alloc(a->allocator_data, d->sizeof_message);
	orch_err rv = ORCH_ENOMEM;

	if (m != NULL) {
		protobuf_c_message_init(d, m);
		rv = ORCH_OK;
	}
	*out = m;
	return rv;
}

static char *
dup_string(ProtobufCAllocator *a, const char *s, size_t n)
{
	char *p = a->alloc(a->allocator_data, n + 1);

	if (p != NULL) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

/* A JSON integer within [min, max]. */
static orch_err
int_value(pctx *c, const ProtobufCFieldDescriptor *f, const json_t *j,
    json_int_t min, json_int_t max, json_int_t *v)
{
	orch_err rv = ORCH_OK;

	if (!json_is_integer(j))
		rv = type_error(c, value_expected(f), json_type_name(j));
	else if (json_integer_value(j) < min || json_integer_value(j) > max)
		rv = type_error(c, value_expected(f), "integer out of range");
	else
		*v = json_integer_value(j);
	return rv;
}

/*
 * One value of f from j (not null) into slot: the field's storage, or an
 * element of its array. *owned is incremented once slot owns something, so
 * that a repeated field's count covers it (NULL for singular fields).
 */
static orch_err
parse_value(pctx *c, const ProtobufCFieldDescriptor *f, const json_t *j,
    void *slot, size_t *owned)
{
	orch_err rv = ORCH_OK;
	json_int_t iv = 0;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		rv = int_value(c, f, j, INT32_MIN, INT32_MAX, &iv);
		if (rv == ORCH_OK)
			*(int32_t *) slot = (int32_t) iv;
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		rv = int_value(c, f, j, 0, UINT32_MAX, &iv);
		if (rv == ORCH_OK)
			*(uint32_t *) slot = (uint32_t) iv;
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		rv = int_value(c, f, j, INT64_MIN, INT64_MAX, &iv);
		if (rv == ORCH_OK)
			*(int64_t *) slot = (int64_t) iv;
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		/* jansson stops at INT64_MAX: larger values are malformed. */
		rv = int_value(c, f, j, 0, INT64_MAX, &iv);
		if (rv == ORCH_OK)
			*(uint64_t *) slot = (uint64_t) iv;
		break;
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE: {
		double d = json_number_value(j);

		if (!json_is_number(j))
			rv = type_error(c, "number", json_type_name(j));
		else if (f->type == PROTOBUF_C_TYPE_DOUBLE)
			*(double *) slot = d;
		else if (d > FLT_MAX || d < -FLT_MAX)
			rv = type_error(c, "number", "number out of range");
		else
			*(float *) slot = (float) d;
		break;
	}
	case PROTOBUF_C_TYPE_BOOL:
		if (json_is_boolean(j))
			*(protobuf_c_boolean *) slot = json_is_true(j);
		else
			rv = type_error(c, "bool", json_type_name(j));
		break;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumValue *ev = NULL;

		if (json_is_string(j)) {
			ev = protobuf_c_enum_descriptor_get_value_by_name(
			    f->descriptor, json_string_value(j));
			if (ev != NULL)
				*(int *) slot = ev->value;
			else
				rv =
				    type_error(c, "enum name", "unknown name");
		} else {
			/* The writer writes a value with no name as its
			 * number. */
			rv = int_value(c, f, j, INT32_MIN, INT32_MAX, &iv);
			if (rv == ORCH_OK)
				*(int *) slot = (int) iv;
		}
		break;
	}
	case PROTOBUF_C_TYPE_STRING: {
		char *s;

		if (!json_is_string(j)) {
			rv = type_error(c, "string", json_type_name(j));
			break;
		}
		/* jansson guarantees UTF-8 without NUL (no JSON_ALLOW_NUL). */
		s = dup_string(
		    c->alloc, json_string_value(j), json_string_length(j));
		if (s == NULL) {
			rv = fail(c, ORCH_ENOMEM, false, "out of memory");
			break;
		}
		*(char **) slot = s;
		break;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		ProtobufCBinaryData *b = slot;
		long n = -1;

		if (json_is_string(j))
			n = b64_decode(
			    json_string_value(j), json_string_length(j), NULL);
		if (n < 0) {
			rv = type_error(c, "base64 string", json_type_name(j));
			break;
		}
		b->len = 0;
		b->data = NULL;
		if (n > 0) {
			b->data = c->alloc->alloc(
			    c->alloc->allocator_data, (size_t) n);
			if (b->data == NULL) {
				rv = fail(
				    c, ORCH_ENOMEM, false, "out of memory");
				break;
			}
			b64_decode(json_string_value(j), json_string_length(j),
			    b->data);
			b->len = (size_t) n;
		}
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessageDescriptor *d = f->descriptor;
		ProtobufCMessage *sub = NULL;
		int64_t us = 0;

		if (d == &orch__timestamp__descriptor) {
			if (!json_is_string(j) ||
			    !parse_time(json_string_value(j),
			        json_string_length(j), &us)) {
				rv = type_error(
				    c, message_expected(d), json_type_name(j));
				break;
			}
		} else if ((is_list_wrapper(d) && !is_map_field(&d->fields[0]))
		               ? !json_is_array(j)
		               : !json_is_object(j)) {
			rv = type_error(
			    c, message_expected(d), json_type_name(j));
			break;
		}
		rv = new_message(c->alloc, d, &sub);
		if (rv != ORCH_OK) {
			rv = fail(c, rv, false, "out of memory");
			break;
		}
		*(ProtobufCMessage **) slot = sub;
		if (owned != NULL)
			(*owned)++;
		owned = NULL; /* counted already */
		if (d == &orch__timestamp__descriptor)
			((Orch__Timestamp *) sub)->unix_micros = us;
		else
			rv = fill_message(c, sub, j);
		break;
	}
	}
	if (rv == ORCH_OK && owned != NULL)
		(*owned)++;
	return rv;
}

/* One "key": value pair of a map field f into a new entry at slot. */
static orch_err
parse_map_entry(pctx *c, const ProtobufCFieldDescriptor *f, const char *key,
    const json_t *v, void *slot, size_t *owned)
{
	const ProtobufCMessageDescriptor *ed = f->descriptor;
	const ProtobufCFieldDescriptor *vf = &ed->fields[1];
	ProtobufCMessage *e = NULL;
	size_t old = path_push(c, ".", key);
	char *k;
	orch_err rv;

	if (json_is_null(v)) {
		rv = type_error(c, value_expected(vf), "null");
		goto out;
	}
	rv = new_message(c->alloc, ed, &e);
	if (rv != ORCH_OK) {
		rv = fail(c, rv, false, "out of memory");
		goto out;
	}
	*(ProtobufCMessage **) slot = e;
	(*owned)++;
	k = dup_string(c->alloc, key, strlen(key));
	if (k == NULL) {
		rv = fail(c, ORCH_ENOMEM, false, "out of memory");
		goto out;
	}
	*(char **) ((char *) e + ed->fields[0].offset) = k;
	rv = parse_value(c, vf, v, (char *) e + vf->offset, NULL);
	if (rv == ORCH_OK)
		set_has(e, vf);
out:
	path_pop(c, old);
	return rv;
}

/* A repeated field from an array, or a map field from an object. */
static orch_err
parse_repeated(pctx *c, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
    const json_t *j)
{
	size_t *count = (size_t *) ((char *) m + f->quantifier_offset);
	char **arrp = (char **) ((char *) m + f->offset);
	bool map = is_map_field(f);
	const ProtobufCMessageDescriptor *ed = f->descriptor; /* if map */
	size_t sz = value_size(f), n;
	orch_err rv = ORCH_OK;

	if (map && ed->fields[0].type != PROTOBUF_C_TYPE_STRING) {
		rv = fail(c, ORCH_EINTERNAL, false,
		    "%s: map keys other than strings are not supported",
		    ed->name);
		goto out;
	}
	if (map ? !json_is_object(j) : !json_is_array(j)) {
		rv =
		    type_error(c, map ? "object" : "array", json_type_name(j));
		goto out;
	}
	n = map ? json_object_size(j) : json_array_size(j);
	if (n == 0)
		goto out;
	*arrp = c->alloc->alloc(c->alloc->allocator_data, n * sz);
	if (*arrp == NULL) {
		rv = fail(c, ORCH_ENOMEM, false, "out of memory");
		goto out;
	}
	memset(*arrp, 0, n * sz);
	*count = 0;
	if (map) {
		const char *key;
		json_t *v;

		/* jansson keeps insertion order: entries stay in the
		 * order written. */
		json_object_foreach((json_t *) j, key, v)
		{
			rv = parse_map_entry(
			    c, f, key, v, *arrp + *count * sz, count);
			if (rv != ORCH_OK)
				goto out;
		}
	} else {
		for (size_t i = 0; i < n; i++) {
			const json_t *v = json_array_get(j, i);
			size_t old = path_push_index(c, i);

			if (json_is_null(v))
				rv = type_error(c, value_expected(f), "null");
			else
				rv = parse_value(
				    c, f, v, *arrp + *count * sz, count);
			path_pop(c, old);
			if (rv != ORCH_OK)
				goto out;
		}
	}
out:
	return rv;
}

/* Fills m (fresh) from j, whose JSON type the caller has checked. */
static orch_err
fill_message(pctx *c, ProtobufCMessage *m, const json_t *j)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	orch_err rv = ORCH_OK;

	if (is_list_wrapper(d)) {
		rv = parse_repeated(c, m, &d->fields[0], j);
		goto out;
	}
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const json_t *v;
		size_t old;

		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			rv = fail(c, ORCH_EINTERNAL, false,
			    "%s.%s: oneof is not supported", d->name, f->name);
			goto out;
		}
		v = json_object_get(j, f->name);
		if (v == NULL || json_is_null(v))
			continue; /* null is the same as absent */
		old = path_push(c, ".", f->name);
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			rv = parse_repeated(c, m, f, v);
		} else {
			rv =
			    parse_value(c, f, v, (char *) m + f->offset, NULL);
			if (rv == ORCH_OK)
				set_has(m, f);
		}
		path_pop(c, old);
		if (rv != ORCH_OK)
			goto out;
	}
out:
	return rv;
}

/* False when [{ nest deeper than max outside strings. Exact for valid JSON;
 * for anything else jansson has the last word. */
static bool
depth_ok(const char *s, size_t n, int max)
{
	bool in_str = false, ok = true;
	int depth = 0;

	for (size_t i = 0; ok && i < n; i++) {
		char ch = s[i];

		if (in_str) {
			if (ch == '\\')
				i++;
			else if (ch == '"')
				in_str = false;
		} else if (ch == '"') {
			in_str = true;
		} else if (ch == '[' || ch == '{') {
			ok = ++depth <= max;
		} else if (ch == ']' || ch == '}') {
			depth--;
		}
	}
	return ok;
}

orch_err
orch_pbparse(const ProtobufCMessageDescriptor *d, const char *json, size_t len,
    ProtobufCAllocator *alloc, ProtobufCMessage **out, orch_pbparse_error *err)
{
	orch_pbparse_error scratch;
	pctx c;
	json_t *root = NULL;
	json_error_t jerr;
	ProtobufCMessage *m = NULL;
	bool want_array;
	orch_err rv;

	c.alloc = alloc != NULL ? alloc : &sys_allocator;
	c.err = err != NULL ? err : &scratch;
	c.path[0] = '\0';
	c.plen = 0;
	err_clear(c.err);
	*out = NULL;
	if (d == &orch__timestamp__descriptor) {
		rv = fail(&c, ORCH_EINTERNAL, false,
		    "a Timestamp is not a JSON body");
		goto out;
	}
	if (len == 0) {
		rv = fail(&c, ORCH_EINVAL, true, "empty body");
		goto out;
	}
	if (len > ORCH_PBPARSE_MAX_LEN) {
		rv = fail(&c, ORCH_EINVAL, true, "body larger than %d bytes",
		    ORCH_PBPARSE_MAX_LEN);
		goto out;
	}
	if (!depth_ok(json, len, ORCH_PBPARSE_MAX_DEPTH)) {
		rv = fail(&c, ORCH_EINVAL, true,
		    "JSON nested deeper than %d levels",
		    ORCH_PBPARSE_MAX_DEPTH);
		goto out;
	}
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		if (json_error_code(&jerr) == json_error_out_of_memory)
			rv = fail(&c, ORCH_ENOMEM, false, "out of memory");
		else
			rv = fail(&c, ORCH_EINVAL, true,
			    "malformed JSON: line %d column %d: %s", jerr.line,
			    jerr.column, jerr.text);
		goto out;
	}
	want_array = is_list_wrapper(d) && !is_map_field(&d->fields[0]);
	if (want_array ? !json_is_array(root) : !json_is_object(root)) {
		rv = fail(&c, ORCH_EINVAL, true, "the body is not a JSON %s",
		    want_array ? "array" : "object");
		goto out;
	}
	rv = new_message(c.alloc, d, &m);
	if (rv != ORCH_OK) {
		rv = fail(&c, rv, false, "out of memory");
		goto out;
	}
	rv = fill_message(&c, m, root);
	if (rv == ORCH_OK) {
		*out = m;
		m = NULL;
	}
out:
	if (m != NULL)
		protobuf_c_message_free_unpacked(m, c.alloc);
	json_decref(root);
	return rv;
}

orch_err
orch_pbparse_new(const ProtobufCMessageDescriptor *d,
    ProtobufCAllocator *alloc, ProtobufCMessage **out)
{
	return new_message(alloc != NULL ? alloc : &sys_allocator, d, out);
}

/* ------------------------------------------------------------------------ */
/* Text -> one field. */

/* Strict decimal: optional '-', digits only. 0 = ok, -1 = not a number,
 * -2 = out of [min, max]. */
static int
parse_int_text(const char *s, bool is_signed, int64_t min, uint64_t max,
    int64_t *sv, uint64_t *uv)
{
	bool neg = false, big = false;
	uint64_t mag = 0;
	size_t i = 0;
	int rv = 0;

	if (s[0] == '-' && is_signed) {
		neg = true;
		i = 1;
	}
	if (s[i] == '\0')
		rv = -1;
	for (; rv == 0 && s[i] != '\0'; i++) {
		unsigned dgt = (unsigned char) s[i] - '0';

		if (dgt > 9)
			rv = -1;
		else if (mag > (UINT64_MAX - dgt) / 10)
			big = true;
		else
			mag = mag * 10 + dgt;
	}
	if (rv == 0 && big) {
		rv = -2;
	} else if (rv == 0 && neg) {
		/* min is negative here: compare magnitudes. */
		if (mag > (uint64_t) (-(min + 1)) + 1)
			rv = -2;
		else
			*sv = mag == 0 ? 0 : -(int64_t) (mag - 1) - 1;
	} else if (rv == 0) {
		if (mag > max)
			rv = -2;
		else if (is_signed)
			*sv = (int64_t) mag;
		else
			*uv = mag;
	}
	return rv;
}

/* "got ..." for a text value: quoted when short and plain ASCII. */
static void
describe_text(const char *s, char *buf, size_t cap)
{
	size_t n = strlen(s);
	bool plain = n <= 40;

	for (size_t i = 0; plain && i < n; i++)
		plain =
		    s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\';
	if (plain)
		snprintf(buf, cap, "\"%s\"", s);
	else
		snprintf(buf, cap, "other text");
}

static bool
settable(const ProtobufCFieldDescriptor *f)
{
	bool ok = f != NULL && f->label != PROTOBUF_C_LABEL_REPEATED &&
	          !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF);

	if (ok) {
		switch (f->type) {
		case PROTOBUF_C_TYPE_STRING:
		case PROTOBUF_C_TYPE_BOOL:
		case PROTOBUF_C_TYPE_INT32:
		case PROTOBUF_C_TYPE_SINT32:
		case PROTOBUF_C_TYPE_SFIXED32:
		case PROTOBUF_C_TYPE_UINT32:
		case PROTOBUF_C_TYPE_FIXED32:
		case PROTOBUF_C_TYPE_INT64:
		case PROTOBUF_C_TYPE_SINT64:
		case PROTOBUF_C_TYPE_SFIXED64:
		case PROTOBUF_C_TYPE_UINT64:
		case PROTOBUF_C_TYPE_FIXED64:
			break;
		case PROTOBUF_C_TYPE_MESSAGE:
			ok = f->descriptor == &orch__timestamp__descriptor;
			break;
		default:
			ok = false;
			break;
		}
	}
	return ok;
}

orch_err
orch_pbparse_set_field(ProtobufCMessage *msg, const char *field_name,
    const char *text, ProtobufCAllocator *alloc, orch_pbparse_error *err)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(
	        msg->descriptor, field_name);
	orch_pbparse_error scratch;
	pctx c;
	void *slot;
	const char *expected = NULL;
	bool range = false;
	orch_err rv = ORCH_OK;

	c.alloc = alloc != NULL ? alloc : &sys_allocator;
	c.err = err != NULL ? err : &scratch;
	c.path[0] = '\0';
	c.plen = 0;
	err_clear(c.err);
	if (!settable(f)) {
		rv = fail(&c, ORCH_EINTERNAL, false,
		    "%s has no settable field %s", msg->descriptor->name,
		    field_name);
		goto out;
	}
	path_push(&c, ".", field_name);
	slot = (char *) msg + f->offset;
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		size_t n = strlen(text);
		char *s, **sp = slot;

		if (!orch_utf8_valid((const unsigned char *) text, n)) {
			expected = "UTF-8 text";
			break;
		}
		s = dup_string(c.alloc, text, n);
		if (s == NULL) {
			rv = fail(&c, ORCH_ENOMEM, false, "out of memory");
			break;
		}
		if (*sp != NULL && *sp != f->default_value)
			c.alloc->free(c.alloc->allocator_data, *sp);
		*sp = s;
		break;
	}
	case PROTOBUF_C_TYPE_BOOL:
		if (strcmp(text, "true") == 0 || strcmp(text, "1") == 0)
			*(protobuf_c_boolean *) slot = 1;
		else if (strcmp(text, "false") == 0 || strcmp(text, "0") == 0)
			*(protobuf_c_boolean *) slot = 0;
		else
			expected = "bool (true, false, 1, 0)";
		break;
	case PROTOBUF_C_TYPE_MESSAGE: {
		Orch__Timestamp **tp = slot;
		ProtobufCMessage *ts = NULL;
		int64_t us = 0;

		if (!parse_time(text, strlen(text), &us)) {
			expected = "RFC 3339 time with zone";
			break;
		}
		if (*tp == NULL) {
			rv = new_message(
			    c.alloc, &orch__timestamp__descriptor, &ts);
			if (rv != ORCH_OK) {
				rv = fail(&c, rv, false, "out of memory");
				break;
			}
			*tp = (Orch__Timestamp *) ts;
		}
		(*tp)->unix_micros = us;
		break;
	}
	default: { /* the integers: settable() admits nothing else */
		bool is_signed = true;
		int64_t min = INT32_MIN, sv = 0;
		uint64_t max = INT32_MAX, uv = 0;
		int prv;

		switch (f->type) {
		case PROTOBUF_C_TYPE_UINT32:
		case PROTOBUF_C_TYPE_FIXED32:
			is_signed = false;
			max = UINT32_MAX;
			break;
		case PROTOBUF_C_TYPE_INT64:
		case PROTOBUF_C_TYPE_SINT64:
		case PROTOBUF_C_TYPE_SFIXED64:
			min = INT64_MIN;
			max = INT64_MAX;
			break;
		case PROTOBUF_C_TYPE_UINT64:
		case PROTOBUF_C_TYPE_FIXED64:
			is_signed = false;
			max = UINT64_MAX;
			break;
		default:
			break;
		}
		prv = parse_int_text(text, is_signed, min, max, &sv, &uv);
		if (prv != 0) {
			expected = value_expected(f);
			range = prv == -2;
			break;
		}
		switch (f->type) {
		case PROTOBUF_C_TYPE_UINT32:
		case PROTOBUF_C_TYPE_FIXED32:
			*(uint32_t *) slot = (uint32_t) uv;
			break;
		case PROTOBUF_C_TYPE_INT64:
		case PROTOBUF_C_TYPE_SINT64:
		case PROTOBUF_C_TYPE_SFIXED64:
			*(int64_t *) slot = sv;
			break;
		case PROTOBUF_C_TYPE_UINT64:
		case PROTOBUF_C_TYPE_FIXED64:
			*(uint64_t *) slot = uv;
			break;
		default:
			*(int32_t *) slot = (int32_t) sv;
			break;
		}
		break;
	}
	}
	if (rv == ORCH_OK && expected != NULL) {
		char got[64];

		describe_text(text, got, sizeof(got));
		if (range)
			strncat(got, " (out of range)",
			    sizeof(got) - strlen(got) - 1);
		rv = type_error(&c, expected, got);
	} else if (rv == ORCH_OK) {
		set_has(msg, f);
	}
out:
	return rv;
}

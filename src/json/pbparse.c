#include "src/json/pbparse.h"
#include "src/base/utf8.h"

#include <float.h>
#include <limits.h>
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
	orch_diag *diag; /* never NULL: the caller's, or a scratch one */
	char path[ORCH_DIAG_FIELD_MAX];
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
ctx_init(
    pctx *c, ProtobufCAllocator *alloc, orch_diag *diag, orch_diag *scratch)
{
	c->alloc = alloc != NULL ? alloc : &sys_allocator;
	c->diag = diag != NULL ? diag : scratch;
	c->path[0] = '\0';
	c->plen = 0;
	orch_diag_clear(c->diag);
}

/* A refusal not about one field: malformed (ORCH_EINVAL), or ORCH_ENOMEM
 * and ORCH_EINTERNAL. diag.field stays "", which is what tells a
 * malformed body (HTTP 400) from a field error. */
static orch_err fail(pctx *c, orch_err rv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static orch_err
fail(pctx *c, orch_err rv, const char *fmt, ...)
{
	va_list ap;

	c->diag->field[0] = '\0';
	va_start(ap, fmt);
	orch_diag_vset(c->diag, fmt, ap);
	va_end(ap);
	return rv;
}

/* The value at the current path has the wrong JSON type (HTTP 422). The
 * path is never empty here: every value below the top level is reached
 * through a field name or an array index. */
static orch_err
type_error(pctx *c, const char *expected, const char *got)
{
	orch_diag_field(c->diag, c->path, "%s: expected %s, got %s", c->path,
	    expected, got);
	return ORCH_EINVAL;
}

/* Appends sep (omitted at the start) and the len bytes of name to the
 * path; returns the length to restore with path_pop(). A path too long is
 * truncated. */
static size_t
path_push_n(pctx *c, const char *sep, const char *name, size_t len)
{
	size_t old = c->plen;
	size_t room = sizeof(c->path) - old;
	int n = snprintf(c->path + old, room, "%s%.*s", old > 0 ? sep : "",
	    len > INT_MAX ? INT_MAX : (int) len, name);

	if (n > 0)
		c->plen =
		    (size_t) n < room ? old + (size_t) n : sizeof(c->path) - 1;
	return old;
}

static size_t
path_push(pctx *c, const char *sep, const char *name)
{
	return path_push_n(c, sep, name, strlen(name));
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

/* How an integer field stores its value, for both the JSON and the text
 * paths. */
typedef enum int_kind { INT_32, UINT_32, INT_64, UINT_64 } int_kind;

/* f's integer kind; f is one of the integer types. */
static int_kind
int_kind_of(const ProtobufCFieldDescriptor *f)
{
	int_kind k = INT_32;

	switch (f->type) {
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		k = UINT_32;
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		k = INT_64;
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		k = UINT_64;
		break;
	default:
		break;
	}
	return k;
}

/* Stores sv (signed kinds) or uv (unsigned kinds) into slot. */
static void
store_int(int_kind k, void *slot, int64_t sv, uint64_t uv)
{
	switch (k) {
	case INT_32:
		*(int32_t *) slot = (int32_t) sv;
		break;
	case UINT_32:
		*(uint32_t *) slot = (uint32_t) uv;
		break;
	case INT_64:
		*(int64_t *) slot = sv;
		break;
	case UINT_64:
		*(uint64_t *) slot = uv;
		break;
	}
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

/* An integer field from a JSON integer within the type's range. */
static orch_err
parse_int(
    pctx *c, const ProtobufCFieldDescriptor *f, const json_t *j, void *slot)
{
	int_kind k = int_kind_of(f);
	json_int_t min = 0, max = INT64_MAX, iv = 0;
	orch_err rv;

	if (k == INT_32) {
		min = INT32_MIN;
		max = INT32_MAX;
	} else if (k == UINT_32) {
		max = UINT32_MAX;
	} else if (k == INT_64) {
		min = INT64_MIN;
	}
	/* UINT_64 stops at INT64_MAX too: jansson refuses larger numbers,
	 * so they are malformed before they get here. */
	rv = int_value(c, f, j, min, max, &iv);
	if (rv == ORCH_OK)
		store_int(k, slot, (int64_t) iv, (uint64_t) iv);
	return rv;
}

static orch_err
parse_float(
    pctx *c, const ProtobufCFieldDescriptor *f, const json_t *j, void *slot)
{
	double d = json_number_value(j);
	orch_err rv = ORCH_OK;

	if (!json_is_number(j))
		rv = type_error(c, "number", json_type_name(j));
	else if (f->type == PROTOBUF_C_TYPE_DOUBLE)
		*(double *) slot = d;
	else if (d > FLT_MAX || d < -FLT_MAX)
		rv = type_error(c, "number", "number out of range");
	else
		*(float *) slot = (float) d;
	return rv;
}

static orch_err
parse_bool(pctx *c, const json_t *j, void *slot)
{
	orch_err rv = ORCH_OK;

	if (json_is_boolean(j))
		*(protobuf_c_boolean *) slot = json_is_true(j);
	else
		rv = type_error(c, "bool", json_type_name(j));
	return rv;
}

/* An enum by name, or by number: the writer writes a value with no name
 * as its number. */
static orch_err
parse_enum(
    pctx *c, const ProtobufCFieldDescriptor *f, const json_t *j, void *slot)
{
	const ProtobufCEnumValue *ev = NULL;
	json_int_t iv = 0;
	orch_err rv = ORCH_OK;

	if (json_is_string(j)) {
		ev = protobuf_c_enum_descriptor_get_value_by_name(
		    f->descriptor, json_string_value(j));
		if (ev != NULL)
			*(int *) slot = ev->value;
		else
			rv = type_error(c, "enum name", "unknown name");
	} else {
		rv = int_value(c, f, j, INT32_MIN, INT32_MAX, &iv);
		if (rv == ORCH_OK)
			*(int *) slot = (int) iv;
	}
	return rv;
}

static orch_err
parse_string(pctx *c, const json_t *j, void *slot)
{
	char *s;
	orch_err rv = ORCH_OK;

	if (!json_is_string(j)) {
		rv = type_error(c, "string", json_type_name(j));
		goto out;
	}
	/* jansson guarantees UTF-8 without NUL (no JSON_ALLOW_NUL). */
	s = dup_string(c->alloc, json_string_value(j), json_string_length(j));
	if (s == NULL) {
		rv = fail(c, ORCH_ENOMEM, "out of memory");
		goto out;
	}
	*(char **) slot = s;
out:
	return rv;
}

static orch_err
parse_bytes(pctx *c, const json_t *j, void *slot)
{
	ProtobufCBinaryData *b = slot;
	long n = -1;
	orch_err rv = ORCH_OK;

	if (json_is_string(j))
		n = b64_decode(
		    json_string_value(j), json_string_length(j), NULL);
	if (n < 0) {
		rv = type_error(c, "base64 string", json_type_name(j));
		goto out;
	}
	b->len = 0;
	b->data = NULL;
	if (n == 0)
		goto out;
	b->data = c->alloc->alloc(c->alloc->allocator_data, (size_t) n);
	if (b->data == NULL) {
		rv = fail(c, ORCH_ENOMEM, "out of memory");
		goto out;
	}
	b64_decode(json_string_value(j), json_string_length(j), b->data);
	b->len = (size_t) n;
out:
	return rv;
}

/*
 * A message field: a Timestamp from its RFC 3339 string, a `*List` from an
 * array, anything else from an object. The new message is attached to slot
 * (and counted in *owned, when not NULL) before it is filled, so that a
 * failure inside it is freed with the top-level message.
 */
static orch_err
parse_message(pctx *c, const ProtobufCFieldDescriptor *f, const json_t *j,
    void *slot, size_t *owned)
{
	const ProtobufCMessageDescriptor *d = f->descriptor;
	bool is_ts = d == &orch__timestamp__descriptor;
	ProtobufCMessage *sub = NULL;
	int64_t us = 0;
	orch_err rv = ORCH_OK;

	if (is_ts ? !json_is_string(j) || !parse_time(json_string_value(j),
	                                      json_string_length(j), &us)
	    : (is_list_wrapper(d) && !is_map_field(&d->fields[0]))
	        ? !json_is_array(j)
	        : !json_is_object(j)) {
		rv = type_error(c, message_expected(d), json_type_name(j));
		goto out;
	}
	rv = new_message(c->alloc, d, &sub);
	if (rv != ORCH_OK) {
		rv = fail(c, rv, "out of memory");
		goto out;
	}
	*(ProtobufCMessage **) slot = sub;
	if (owned != NULL)
		(*owned)++;
	if (is_ts)
		((Orch__Timestamp *) sub)->unix_micros = us;
	else
		rv = fill_message(c, sub, j);
out:
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
	orch_err rv;

	switch (f->type) {
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
		rv = parse_float(c, f, j, slot);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		rv = parse_bool(c, j, slot);
		break;
	case PROTOBUF_C_TYPE_ENUM:
		rv = parse_enum(c, f, j, slot);
		break;
	case PROTOBUF_C_TYPE_STRING:
		rv = parse_string(c, j, slot);
		break;
	case PROTOBUF_C_TYPE_BYTES:
		rv = parse_bytes(c, j, slot);
		break;
	case PROTOBUF_C_TYPE_MESSAGE:
		rv = parse_message(c, f, j, slot, owned);
		owned = NULL; /* counted there, as soon as it owned it */
		break;
	default: /* the integers */
		rv = parse_int(c, f, j, slot);
		break;
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
		rv = fail(c, rv, "out of memory");
		goto out;
	}
	*(ProtobufCMessage **) slot = e;
	(*owned)++;
	k = dup_string(c->alloc, key, strlen(key));
	if (k == NULL) {
		rv = fail(c, ORCH_ENOMEM, "out of memory");
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
		rv = fail(c, ORCH_EINTERNAL,
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
		rv = fail(c, ORCH_ENOMEM, "out of memory");
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
			rv = fail(c, ORCH_EINTERNAL,
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

/* The document checks before any field: size, depth, JSON, top-level
 * type. On ORCH_OK *root is the caller's to json_decref(). */
static orch_err
load_root(pctx *c, const ProtobufCMessageDescriptor *d, const char *json,
    size_t len, json_t **root)
{
	json_error_t jerr;
	bool want_array;
	orch_err rv = ORCH_OK;

	*root = NULL;
	if (len == 0) {
		rv = fail(c, ORCH_EINVAL, "empty body");
		goto out;
	}
	if (len > ORCH_PBPARSE_MAX_LEN) {
		rv = fail(c, ORCH_EINVAL, "body larger than %d bytes",
		    ORCH_PBPARSE_MAX_LEN);
		goto out;
	}
	if (!depth_ok(json, len, ORCH_PBPARSE_MAX_DEPTH)) {
		rv = fail(c, ORCH_EINVAL, "JSON nested deeper than %d levels",
		    ORCH_PBPARSE_MAX_DEPTH);
		goto out;
	}
	*root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (*root == NULL) {
		if (json_error_code(&jerr) == json_error_out_of_memory)
			rv = fail(c, ORCH_ENOMEM, "out of memory");
		else
			rv = fail(c, ORCH_EINVAL,
			    "malformed JSON: line %d column %d: %s", jerr.line,
			    jerr.column, jerr.text);
		goto out;
	}
	want_array = is_list_wrapper(d) && !is_map_field(&d->fields[0]);
	if (want_array ? !json_is_array(*root) : !json_is_object(*root)) {
		rv = fail(c, ORCH_EINVAL, "the body is not a JSON %s",
		    want_array ? "array" : "object");
		json_decref(*root);
		*root = NULL;
	}
out:
	return rv;
}

orch_err
orch_pbparse(const ProtobufCMessageDescriptor *d, const char *json, size_t len,
    ProtobufCAllocator *alloc, ProtobufCMessage **out, orch_diag *diag)
{
	orch_diag scratch;
	pctx c;
	json_t *root = NULL;
	ProtobufCMessage *m = NULL;
	orch_err rv;

	ctx_init(&c, alloc, diag, &scratch);
	*out = NULL;
	if (d == &orch__timestamp__descriptor) {
		rv =
		    fail(&c, ORCH_EINTERNAL, "a Timestamp is not a JSON body");
		goto out;
	}
	rv = load_root(&c, d, json, len, &root);
	if (rv != ORCH_OK)
		goto out;
	rv = new_message(c.alloc, d, &m);
	if (rv != ORCH_OK) {
		rv = fail(&c, rv, "out of memory");
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

/* Whether a value of f's type can be given as text: strings, bools,
 * integers and Timestamps (what URLs and command lines carry). */
static bool
text_type_ok(const ProtobufCFieldDescriptor *f)
{
	bool ok = true;

	switch (f->type) {
	case PROTOBUF_C_TYPE_MESSAGE:
		ok = f->descriptor == &orch__timestamp__descriptor;
		break;
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
	case PROTOBUF_C_TYPE_ENUM:
	case PROTOBUF_C_TYPE_BYTES:
		ok = false;
		break;
	default:
		break;
	}
	return ok;
}

const char *
orch_pbparse_text_type(const ProtobufCFieldDescriptor *f)
{
	const char *t = NULL;

	if (text_type_ok(f))
		t = f->type == PROTOBUF_C_TYPE_MESSAGE ? "RFC 3339 time"
		                                       : value_expected(f);
	return t;
}

static bool
settable(const ProtobufCFieldDescriptor *f)
{
	return f != NULL && f->label != PROTOBUF_C_LABEL_REPEATED &&
	       !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && text_type_ok(f);
}

/* Any valid UTF-8, copied; replaces (and frees) the old string. */
static orch_err
text_string(pctx *c, const ProtobufCFieldDescriptor *f, const char *text,
    void *slot, const char **expected)
{
	size_t n = strlen(text);
	char *s, **sp = slot;
	orch_err rv = ORCH_OK;

	if (!orch_utf8_valid((const unsigned char *) text, n)) {
		*expected = "UTF-8 text";
		goto out;
	}
	s = dup_string(c->alloc, text, n);
	if (s == NULL) {
		rv = fail(c, ORCH_ENOMEM, "out of memory");
		goto out;
	}
	if (*sp != NULL && *sp != f->default_value)
		c->alloc->free(c->alloc->allocator_data, *sp);
	*sp = s;
out:
	return rv;
}

/* Returns what was expected when text is no bool, else NULL. */
static const char *
text_bool(const char *text, void *slot)
{
	const char *expected = NULL;

	if (strcmp(text, "true") == 0 || strcmp(text, "1") == 0)
		*(protobuf_c_boolean *) slot = 1;
	else if (strcmp(text, "false") == 0 || strcmp(text, "0") == 0)
		*(protobuf_c_boolean *) slot = 0;
	else
		expected = "bool (true, false, 1, 0)";
	return expected;
}

/* A Timestamp; the message is created when the slot has none yet. */
static orch_err
text_time(pctx *c, const char *text, void *slot, const char **expected)
{
	Orch__Timestamp **tp = slot;
	ProtobufCMessage *ts = NULL;
	int64_t us = 0;
	orch_err rv = ORCH_OK;

	if (!parse_time(text, strlen(text), &us)) {
		*expected = "RFC 3339 time with zone";
		goto out;
	}
	if (*tp == NULL) {
		rv = new_message(c->alloc, &orch__timestamp__descriptor, &ts);
		if (rv != ORCH_OK) {
			rv = fail(c, rv, "out of memory");
			goto out;
		}
		*tp = (Orch__Timestamp *) ts;
	}
	(*tp)->unix_micros = us;
out:
	return rv;
}

/* Returns what was expected when text is no integer of f's type (*range:
 * a number, but out of the type's range), else NULL. */
static const char *
text_int(const ProtobufCFieldDescriptor *f, const char *text, void *slot,
    bool *range)
{
	static const struct {
		bool is_signed;
		int64_t min;
		uint64_t max;
	} lim[] = {
	    [INT_32] = {true, INT32_MIN, INT32_MAX},
	    [UINT_32] = {false, 0, UINT32_MAX},
	    [INT_64] = {true, INT64_MIN, INT64_MAX},
	    [UINT_64] = {false, 0, UINT64_MAX},
	};
	int_kind k = int_kind_of(f);
	const char *expected = NULL;
	int64_t sv = 0;
	uint64_t uv = 0;
	int prv;

	prv = parse_int_text(
	    text, lim[k].is_signed, lim[k].min, lim[k].max, &sv, &uv);
	if (prv == 0) {
		store_int(k, slot, sv, uv);
	} else {
		expected = value_expected(f);
		*range = prv == -2;
	}
	return expected;
}

/*
 * Text -> one value of f (text_type_ok) into slot: a singular field's
 * storage, an element or a map entry's value. Leaves slot as it was on
 * any failure; a refusal is a type error at the current path.
 */
static orch_err
text_value(
    pctx *c, const ProtobufCFieldDescriptor *f, const char *text, void *slot)
{
	const char *expected = NULL;
	bool range = false;
	orch_err rv = ORCH_OK;

	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		rv = text_string(c, f, text, slot, &expected);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		expected = text_bool(text, slot);
		break;
	case PROTOBUF_C_TYPE_MESSAGE:
		rv = text_time(c, text, slot, &expected);
		break;
	default: /* the integers: text_type_ok() admits nothing else */
		expected = text_int(f, text, slot, &range);
		break;
	}
	if (rv == ORCH_OK && expected != NULL) {
		char got[64];

		describe_text(text, got, sizeof(got));
		if (range)
			strncat(got, " (out of range)",
			    sizeof(got) - strlen(got) - 1);
		rv = type_error(c, expected, got);
	}
	return rv;
}

orch_err
orch_pbparse_set_field(ProtobufCMessage *msg, const char *field_name,
    const char *text, ProtobufCAllocator *alloc, orch_diag *diag)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(
	        msg->descriptor, field_name);
	orch_diag scratch;
	pctx c;
	orch_err rv;

	ctx_init(&c, alloc, diag, &scratch);
	if (!settable(f)) {
		rv = fail(&c, ORCH_EINTERNAL, "%s has no settable field %s",
		    msg->descriptor->name, field_name);
		goto out;
	}
	path_push(&c, ".", field_name);
	rv = text_value(&c, f, text, (char *) msg + f->offset);
	if (rv == ORCH_OK)
		set_has(msg, f);
out:
	return rv;
}

/* ------------------------------------------------------------------------ */
/* Text -> a field at a dotted path (the command line). */

/* A refusal of the path itself, at the path so far: the component at
 * fault has been pushed, so only the path "" has no field to name. */
static orch_err path_error(pctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static orch_err
path_error(pctx *c, const char *fmt, ...)
{
	char why[ORCH_DIAG_MSG_MAX / 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (c->path[0] == '\0')
		orch_diag_field(c->diag, "", "%s", why); /* path "" itself */
	else
		orch_diag_field(c->diag, c->path, "%s: %s", c->path, why);
	return ORCH_EINVAL;
}

static orch_err
not_from_text(pctx *c, const ProtobufCFieldDescriptor *f)
{
	return path_error(c,
	    "cannot be set from text (expected %s%s); give the request as "
	    "JSON",
	    f->label == PROTOBUF_C_LABEL_REPEATED ? "repeated " : "",
	    value_expected(f));
}

static const ProtobufCFieldDescriptor *
find_field(const ProtobufCMessageDescriptor *d, const char *name, size_t n)
{
	const ProtobufCFieldDescriptor *f = NULL;

	for (unsigned i = 0; f == NULL && i < d->n_fields; i++) {
		if (strlen(d->fields[i].name) == n &&
		    memcmp(d->fields[i].name, name, n) == 0)
			f = &d->fields[i];
	}
	return f;
}

/* Makes room for one more element at the end of the repeated field f of
 * m (count unchanged: the caller stores the element, then counts it). */
static orch_err
grow_one(pctx *c, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	size_t n = *(size_t *) ((char *) m + f->quantifier_offset);
	char **arrp = (char **) ((char *) m + f->offset);
	size_t sz = value_size(f);
	char *arr = c->alloc->alloc(c->alloc->allocator_data, (n + 1) * sz);
	orch_err rv = ORCH_OK;

	if (arr == NULL) {
		rv = fail(c, ORCH_ENOMEM, "out of memory");
		goto out;
	}
	if (n > 0)
		memcpy(arr, *arrp, n * sz);
	memset(arr + n * sz, 0, sz);
	if (*arrp != NULL)
		c->alloc->free(c->alloc->allocator_data, *arrp);
	*arrp = arr;
out:
	return rv;
}

/* Appends text as one more element of the repeated field f of m. */
static orch_err
append_value(pctx *c, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
    const char *text)
{
	size_t *count = (size_t *) ((char *) m + f->quantifier_offset);
	char **arrp = (char **) ((char *) m + f->offset);
	size_t sz = value_size(f);
	union {
		int64_t i;
		protobuf_c_boolean b;
		char *s;
		ProtobufCMessage *m;
	} v;
	orch_err rv;

	memset(&v, 0, sizeof(v));
	rv = text_value(c, f, text, &v);
	if (rv == ORCH_OK)
		rv = grow_one(c, m, f);
	if (rv == ORCH_OK) {
		memcpy(*arrp + *count * sz, &v, sz);
		(*count)++;
	} else if (f->type == PROTOBUF_C_TYPE_STRING && v.s != NULL) {
		c->alloc->free(c->alloc->allocator_data, v.s);
	} else if (f->type == PROTOBUF_C_TYPE_MESSAGE && v.m != NULL) {
		protobuf_c_message_free_unpacked(v.m, c->alloc);
	}
	return rv;
}

/* The entry of map field f of m whose key is key, or NULL. */
static ProtobufCMessage *
find_entry(
    ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, const char *key)
{
	size_t n = *(size_t *) ((char *) m + f->quantifier_offset);
	ProtobufCMessage **arr =
	    *(ProtobufCMessage ***) ((char *) m + f->offset);
	const ProtobufCMessageDescriptor *ed = f->descriptor;
	size_t koff = ed->fields[0].offset;
	ProtobufCMessage *e = NULL;

	for (size_t i = 0; e == NULL && i < n; i++) {
		const char *k = *(char **) ((char *) arr[i] + koff);

		if (k != NULL && strcmp(k, key) == 0)
			e = arr[i];
	}
	return e;
}

/* Sets map field f's entry key (replaced, or appended) of m from text. */
static orch_err
set_map_entry(pctx *c, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
    const char *key, const char *text)
{
	const ProtobufCMessageDescriptor *ed = f->descriptor;
	const ProtobufCFieldDescriptor *kf = &ed->fields[0],
	                               *vf = &ed->fields[1];
	size_t *count = (size_t *) ((char *) m + f->quantifier_offset);
	ProtobufCMessage *e = find_entry(m, f, key), *fresh = NULL;
	char *k;
	orch_err rv;

	path_push(c, ".", key);
	if (kf->type != PROTOBUF_C_TYPE_STRING) {
		rv = fail(c, ORCH_EINTERNAL,
		    "%s: map keys other than strings are not supported",
		    ed->name);
		goto out;
	}
	if (!text_type_ok(vf)) {
		rv = not_from_text(c, vf);
		goto out;
	}
	if (!orch_utf8_valid((const unsigned char *) key, strlen(key))) {
		rv = path_error(c, "the key is not valid UTF-8");
		goto out;
	}
	if (e == NULL) {
		/* A new entry owns its key before anything else can fail. */
		rv = new_message(c->alloc, ed, &fresh);
		if (rv == ORCH_OK &&
		    (k = dup_string(c->alloc, key, strlen(key))) == NULL)
			rv = ORCH_ENOMEM;
		if (rv != ORCH_OK) {
			rv = fail(c, rv, "out of memory");
			goto out;
		}
		*(char **) ((char *) fresh + kf->offset) = k;
		e = fresh;
	}
	rv = text_value(c, vf, text, (char *) e + vf->offset);
	if (rv == ORCH_OK)
		set_has(e, vf);
	if (rv == ORCH_OK && fresh != NULL &&
	    (rv = grow_one(c, m, f)) == ORCH_OK) {
		(*(ProtobufCMessage ***) ((char *) m + f->offset))[*count] = e;
		(*count)++;
		fresh = NULL;
	}
out:
	if (fresh != NULL)
		protobuf_c_message_free_unpacked(fresh, c->alloc);
	return rv;
}

/* Sets the last component's field f of m from text. */
static orch_err
set_leaf(pctx *c, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
    const char *text)
{
	orch_err rv;

	if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) || !text_type_ok(f)) {
		if (f->type == PROTOBUF_C_TYPE_MESSAGE &&
		    f->label != PROTOBUF_C_LABEL_REPEATED)
			rv = path_error(c,
			    "a message: set its fields as %s.<field>",
			    c->path);
		else
			rv = not_from_text(c, f);
	} else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		rv = append_value(c, m, f, text);
	} else {
		rv = text_value(c, f, text, (char *) m + f->offset);
		if (rv == ORCH_OK)
			set_has(m, f);
	}
	return rv;
}

/*
 * The singular message field f of m that the path goes through, created
 * when unset. *created is set to the slot of the first message this call
 * attached, so a failure further down detaches it again.
 */
static orch_err
descend(pctx *c, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
    const char *rest, ProtobufCMessage ***created, ProtobufCMessage **sub)
{
	ProtobufCMessage **slot =
	    (ProtobufCMessage **) ((char *) m + f->offset);
	orch_err rv = ORCH_OK;

	if (f->type != PROTOBUF_C_TYPE_MESSAGE ||
	    f->label == PROTOBUF_C_LABEL_REPEATED ||
	    f->descriptor == &orch__timestamp__descriptor ||
	    (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)) {
		rv = path_error(
		    c, "not a message, so it has no field \"%s\"", rest);
		goto out;
	}
	if (*slot == NULL) {
		rv = new_message(c->alloc, f->descriptor, slot);
		if (rv != ORCH_OK) {
			rv = fail(c, rv, "out of memory");
			goto out;
		}
		if (*created == NULL)
			*created = slot;
	}
	*sub = *slot;
out:
	return rv;
}

orch_err
orch_pbparse_set_path(ProtobufCMessage *msg, const char *path,
    const char *text, ProtobufCAllocator *alloc, orch_diag *diag)
{
	ProtobufCMessage *m = msg, **created = NULL;
	const char *p = path;
	orch_diag scratch;
	pctx c;
	orch_err rv = ORCH_OK;

	ctx_init(&c, alloc, diag, &scratch);
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t n = dot != NULL ? (size_t) (dot - p) : strlen(p);
		const ProtobufCFieldDescriptor *f =
		    find_field(m->descriptor, p, n);

		path_push_n(&c, ".", p, n);
		if (n == 0) {
			/* Named whole: ".x" has no prefix to name. */
			path_pop(&c, 0);
			path_push(&c, "", path);
			rv = path_error(&c, "empty field name");
		} else if (f == NULL) {
			rv = path_error(&c, "no such field in %s",
			    m->descriptor->short_name);
		} else if (is_map_field(f)) {
			rv = dot != NULL
			         ? set_map_entry(&c, m, f, dot + 1, text)
			         : path_error(&c,
			               "a map: set its entries as %s.<key>",
			               c.path);
		} else if (dot == NULL) {
			rv = set_leaf(&c, m, f, text);
		} else {
			rv = descend(&c, m, f, dot + 1, &created, &m);
			if (rv == ORCH_OK) {
				p = dot + 1;
				continue;
			}
		}
		break;
	}
	if (rv != ORCH_OK && created != NULL) {
		protobuf_c_message_free_unpacked(*created, c.alloc);
		*created = NULL;
	}
	return rv;
}

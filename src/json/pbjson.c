#include "src/json/pbjson.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "proto/orchestrator.pb-c.h"
#include "src/base/time.h"

static void write_message(orch_buf *out, const ProtobufCMessage *msg);

void
orch_pbjson_write_string(orch_buf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t start = 0;

	orch_buf_putc(out, '"');
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char) s[i];
		const char *esc = NULL;
		char u[6];

		switch (ch) {
		case '"':
			esc = "\\\"";
			break;
		case '\\':
			esc = "\\\\";
			break;
		case '\n':
			esc = "\\n";
			break;
		case '\r':
			esc = "\\r";
			break;
		case '\t':
			esc = "\\t";
			break;
		default:
			if (ch >= 0x20)
				continue;
			u[0] = '\\';
			u[1] = 'u';
			u[2] = '0';
			u[3] = '0';
			u[4] = hex[ch >> 4];
			u[5] = hex[ch & 15];
			break;
		}
		orch_buf_append(out, s + start, i - start);
		if (esc != NULL)
			orch_buf_puts(out, esc);
		else
			orch_buf_append(out, u, 6);
		start = i + 1;
	}
	orch_buf_append(out, s + start, len - start);
	orch_buf_putc(out, '"');
}

static void
write_base64(orch_buf *out, const uint8_t *p, size_t n)
{
	static const char tbl[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char q[4];

	orch_buf_putc(out, '"');
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t) p[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t) p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		q[0] = tbl[(v >> 18) & 63];
		q[1] = tbl[(v >> 12) & 63];
		q[2] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
		q[3] = i + 2 < n ? tbl[v & 63] : '=';
		orch_buf_append(out, q, 4);
	}
	orch_buf_putc(out, '"');
}

static bool
is_map_entry(const ProtobufCMessageDescriptor *d)
{
	size_t n = strlen(d->name);

	return n > 5 && strcmp(d->name + n - 5, "Entry") == 0 &&
	       d->n_fields == 2 && strcmp(d->fields[0].name, "key") == 0 &&
	       strcmp(d->fields[1].name, "value") == 0;
}

/* A `*List` message with one repeated field: written as that array. */
static bool
is_list_wrapper(const ProtobufCMessageDescriptor *d)
{
	size_t n = strlen(d->name);

	return n > 4 && strcmp(d->name + n - 4, "List") == 0 &&
	       d->n_fields == 1 &&
	       d->fields[0].label == PROTOBUF_C_LABEL_REPEATED;
}

static void
write_u64(orch_buf *out, bool neg, unsigned long long v)
{
	char d[24];
	int i = 24;

	do {
		d[--i] = (char) ('0' + v % 10);
		v /= 10;
	} while (v != 0);
	if (neg)
		d[--i] = '-';
	orch_buf_append(out, d + i, (size_t) (24 - i));
}

static void
write_i64(orch_buf *out, long long v)
{
	if (v < 0)
		write_u64(out, true, 0ULL - (unsigned long long) v);
	else
		write_u64(out, false, (unsigned long long) v);
}

/* Writes one value of field f stored at p. */
static void
write_value(orch_buf *out, const ProtobufCFieldDescriptor *f, const void *p)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		write_i64(out, *(const int32_t *) p);
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		write_u64(out, false, *(const uint32_t *) p);
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		write_i64(out, (long long) *(const int64_t *) p);
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		write_u64(
		    out, false, (unsigned long long) *(const uint64_t *) p);
		break;
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE: {
		double v = f->type == PROTOBUF_C_TYPE_FLOAT
		               ? (double) *(const float *) p
		               : *(const double *) p;

		if (isfinite(v))
			orch_buf_printf(out, "%.17g", v);
		else
			orch_buf_puts(out, "null");
		break;
	}
	case PROTOBUF_C_TYPE_BOOL:
		orch_buf_puts(
		    out, *(const protobuf_c_boolean *) p ? "true" : "false");
		break;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumValue *ev =
		    protobuf_c_enum_descriptor_get_value(
		        f->descriptor, *(const int *) p);

		if (ev != NULL)
			orch_pbjson_write_string(
			    out, ev->name, strlen(ev->name));
		else
			orch_buf_printf(out, "%d", *(const int *) p);
		break;
	}
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *) p;

		if (s == NULL)
			orch_buf_puts(out, "null");
		else
			orch_pbjson_write_string(out, s, strlen(s));
		break;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = p;

		write_base64(out, b->data, b->len);
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		write_message(out, *(ProtobufCMessage *const *) p);
		break;
	}
}

static size_t
value_size(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_ENUM:
		return sizeof(int);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	default:
		return 4;
	}
}

static void
write_repeated(orch_buf *out, const ProtobufCFieldDescriptor *f,
    const ProtobufCMessage *msg)
{
	size_t n =
	    *(const size_t *) ((const char *) msg + f->quantifier_offset);
	const char *arr = *(char *const *) ((const char *) msg + f->offset);
	size_t sz = value_size(f);
	bool map =
	    f->type == PROTOBUF_C_TYPE_MESSAGE && is_map_entry(f->descriptor);

	orch_buf_putc(out, map ? '{' : '[');
	for (size_t i = 0; i < n; i++) {
		const void *elem = arr + i * sz;

		if (i > 0)
			orch_buf_putc(out, ',');
		if (map) {
			const ProtobufCMessage *e =
			    *(ProtobufCMessage *const *) elem;
			const ProtobufCMessageDescriptor *d = e->descriptor;
			const char *key =
			    *(char *const *) ((const char *) e +
			                      d->fields[0].offset);

			orch_pbjson_write_string(out, key != NULL ? key : "",
			    key != NULL ? strlen(key) : 0);
			orch_buf_putc(out, ':');
			write_value(out, &d->fields[1],
			    (const char *) e + d->fields[1].offset);
		} else {
			write_value(out, f, elem);
		}
	}
	orch_buf_putc(out, map ? '}' : ']');
}

/* True when optional field f is unset in msg (written as null). */
static bool
unset(const ProtobufCFieldDescriptor *f, const ProtobufCMessage *msg)
{
	const char *base = (const char *) msg;

	if (f->label != PROTOBUF_C_LABEL_OPTIONAL)
		return false;
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(void *const *) (base + f->offset) == NULL;
	default:
		return !*(
		    const protobuf_c_boolean *) (base + f->quantifier_offset);
	}
}

static void
write_message(orch_buf *out, const ProtobufCMessage *msg)
{
	const ProtobufCMessageDescriptor *d;

	if (msg == NULL) {
		orch_buf_puts(out, "null");
		return;
	}
	d = msg->descriptor;
	if (d == &orch__timestamp__descriptor) {
		/* The date and time to the second: formatted once per second
		 * (per thread); the microseconds by hand. */
		static _Thread_local long long last_sec = -1;
		static _Thread_local char prefix[ORCH_RFC3339_MAX];
		static _Thread_local size_t prefix_len;
		int64_t us = ((const Orch__Timestamp *) msg)->unix_micros;
		long long sec = us >= 0 ? us / 1000000 : -1;

		if (us < 0) {
			char ts[ORCH_RFC3339_MAX];
			size_t n = orch_rfc3339_format(us, ts);

			orch_pbjson_write_string(out, ts, n);
			return;
		}
		if (sec != last_sec) {
			size_t n = orch_rfc3339_format(sec * 1000000, prefix);

			prefix_len = n - 1; /* without the Z */
			last_sec = sec;
		}
		orch_buf_putc(out, '"');
		orch_buf_append(out, prefix, prefix_len);
		if (us % 1000000 != 0) {
			char f[8];
			long v = (long) (us % 1000000);

			f[0] = '.';
			for (int k = 6; k >= 1; k--) {
				f[k] = (char) ('0' + v % 10);
				v /= 10;
			}
			orch_buf_append(out, f, 7);
		}
		orch_buf_append(out, "Z\"", 2);
		return;
	}
	if (is_list_wrapper(d)) {
		write_repeated(out, &d->fields[0], msg);
		return;
	}
	orch_buf_putc(out, '{');
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];

		if (i > 0)
			orch_buf_putc(out, ',');
		/* Field names are identifiers: nothing to escape. */
		orch_buf_putc(out, '"');
		orch_buf_append(out, f->name, strlen(f->name));
		orch_buf_append(out, "\":", 2);
		if (f->label == PROTOBUF_C_LABEL_REPEATED)
			write_repeated(out, f, msg);
		else if (unset(f, msg))
			orch_buf_puts(out, "null");
		else
			write_value(out, f, (const char *) msg + f->offset);
	}
	orch_buf_putc(out, '}');
}

void
orch_pbjson_write(orch_buf *out, const ProtobufCMessage *msg)
{
	write_message(out, msg);
}

/*
 * JSON -> protobuf-c message, driven by the message descriptors: the
 * request side of the REST transcoder, and the exact mirror of the writer
 * (pbjson.h). Whatever orch_pbjson_write() writes for a message, this reads
 * back into a message that writes the same bytes again:
 *
 * - field names are the JSON keys; unknown keys are ignored (clients add
 *   fields over time, CONTRACT.md);
 * - JSON null means the same as an absent key: an optional field stays
 *   unset, a repeated field or map stays empty;
 * - Timestamp is an RFC 3339 string with a zone (years 0000..9999 in UTC);
 * - a map (repeated `*Entry` message with key/value) is an object whose
 *   values may not be null; a `*List` wrapper with one repeated field is a
 *   bare array (also at the top level: the only top-level JSON that is not
 *   an object);
 * - integers are JSON integers within the field's range (1.0 is not an
 *   int32); bools are true/false; enums are their name or their number;
 *   bytes are padded standard base64.
 *
 * Required fields are not checked (requests declare none, and the core
 * names a missing field itself). The schema has no oneof and only string
 * map keys; a descriptor outside that is refused with ORCH_EINTERNAL.
 *
 * Two kinds of refusal, told apart for the gateway's status code:
 * - malformed (HTTP 400): not JSON, trailing bytes, a duplicate key, a top
 *   level that is not an object, nesting deeper than
 *   ORCH_PBPARSE_MAX_DEPTH, more than ORCH_PBPARSE_MAX_LEN bytes;
 * - a field of the wrong JSON type or out of range (HTTP 422): err->field
 *   is its dotted path ("session.is_live", "labels.team",
 *   "ports.6878/tcp", "streams[2].is_live"; "[2].port" in a top-level
 *   array) and err->message reads "<path>: expected <type>, got <json
 *   type>" (json type: object, array, string, integer, number, boolean,
 *   null; or "integer out of range").
 *
 * jansson refuses integers beyond int64 for the whole document, so such a
 * number is malformed even under an unknown key.
 */
#ifndef ORCH_JSON_PBPARSE_H
#define ORCH_JSON_PBPARSE_H

#include <stdbool.h>
#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include "src/base/err.h"

/* Bodies longer than this are malformed (the gateway's 413 comes first). */
#define ORCH_PBPARSE_MAX_LEN (1024 * 1024)
/* Deepest array/object nesting accepted, unknown keys included. */
#define ORCH_PBPARSE_MAX_DEPTH 32

#define ORCH_PBPARSE_FIELD_MAX 128
#define ORCH_PBPARSE_MESSAGE_MAX 256

/*
 * Why a parse failed. Both strings are always NUL-terminated (truncated to
 * fit); field is "" when malformed is true or the failure was not about a
 * field (ORCH_ENOMEM, ORCH_EINTERNAL).
 */
typedef struct orch_pbparse_error {
	bool malformed;
	char field[ORCH_PBPARSE_FIELD_MAX];
	char message[ORCH_PBPARSE_MESSAGE_MAX];
} orch_pbparse_error;

/*
 * Parses json (len bytes, no NUL needed) into a new message of type d.
 *
 * alloc allocates every part of the message (NULL: malloc/free, which is
 * protobuf-c's own default). On ORCH_OK, *out is the caller's: free it with
 * protobuf_c_message_free_unpacked(*out, alloc). On any error *out is NULL
 * and nothing is left allocated. err may be NULL; otherwise it is filled
 * on every error (and cleared on success).
 *
 * Returns ORCH_OK; ORCH_EINVAL (err->malformed tells 400 from 422);
 * ORCH_ENOMEM; ORCH_EINTERNAL for a descriptor the schema conventions do
 * not cover.
 */
orch_err orch_pbparse(const ProtobufCMessageDescriptor *d, const char *json,
    size_t len, ProtobufCAllocator *alloc, ProtobufCMessage **out,
    orch_pbparse_error *err);

/*
 * A new, empty message of type d (every field unset), allocated with alloc
 * (NULL: malloc), for requests that carry no body. Free it with
 * protobuf_c_message_free_unpacked(*out, alloc). Returns ORCH_OK or
 * ORCH_ENOMEM (*out NULL).
 */
orch_err orch_pbparse_new(const ProtobufCMessageDescriptor *d,
    ProtobufCAllocator *alloc, ProtobufCMessage **out);

/*
 * Sets the singular field field_name of msg from text (a NUL-terminated
 * path parameter or query value, already decoded): for path parameters and
 * query strings. msg must have been allocated with alloc (orch_pbparse or
 * orch_pbparse_new with the same alloc); the old value is freed and the
 * new one belongs to msg. text is only read.
 *
 *   string     any valid UTF-8 (copied)
 *   int32/64,  optional '-' then decimal digits only, within the type's
 *   uint32/64  range ('-' refused for unsigned)
 *   bool       "true", "false", "1", "0"
 *   Timestamp  RFC 3339 with a zone
 *
 * Returns ORCH_OK; ORCH_EINVAL (err->field = field_name, malformed false:
 * HTTP 422) when text is not such a value, msg unchanged; ORCH_ENOMEM;
 * ORCH_EINTERNAL when msg has no singular field of those types by that
 * name (a bug in the caller's route table). err may be NULL.
 */
orch_err orch_pbparse_set_field(ProtobufCMessage *msg, const char *field_name,
    const char *text, ProtobufCAllocator *alloc, orch_pbparse_error *err);

#endif

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
 * Refusals are ORCH_EINVAL with an orch_diag, told apart by its field for
 * the gateway's status code:
 * - malformed (HTTP 400), diag.field "": not JSON, trailing bytes, a
 *   duplicate key, a top level that is not an object, nesting deeper than
 *   ORCH_PBPARSE_MAX_DEPTH, more than ORCH_PBPARSE_MAX_LEN bytes;
 * - a field of the wrong JSON type or out of range (HTTP 422): diag.field
 *   is its dotted path ("session.is_live", "labels.team",
 *   "ports.6878/tcp", "streams[2].is_live"; "[2].port" in a top-level
 *   array), never "", and diag.msg reads "<path>: expected <type>, got
 *   <json type>" (json type: object, array, string, integer, number,
 *   boolean, null; or "integer out of range").
 * ORCH_ENOMEM and ORCH_EINTERNAL leave diag.field "" too: only the return
 * code tells them from a malformed body.
 *
 * jansson refuses integers beyond int64 for the whole document, so such a
 * number is malformed even under an unknown key.
 */
#ifndef ORCH_JSON_PBPARSE_H
#define ORCH_JSON_PBPARSE_H

#include <stdbool.h>
#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include "src/base/diag.h"
#include "src/base/err.h"

/* Bodies longer than this are malformed (the gateway's 413 comes first). */
#define ORCH_PBPARSE_MAX_LEN (1024 * 1024)
/* Deepest array/object nesting accepted, unknown keys included. */
#define ORCH_PBPARSE_MAX_DEPTH 32

/*
 * Parses json (len bytes, no NUL needed) into a new message of type d.
 *
 * alloc allocates every part of the message (NULL: malloc/free, which is
 * protobuf-c's own default). On ORCH_OK, *out is the caller's: free it with
 * protobuf_c_message_free_unpacked(*out, alloc). On any error *out is NULL
 * and nothing is left allocated. diag may be NULL; otherwise it is
 * cleared, then filled on every error.
 *
 * Returns ORCH_OK; ORCH_EINVAL (diag->field "" for malformed, else the
 * field's path); ORCH_ENOMEM; ORCH_EINTERNAL for a descriptor the schema
 * conventions do not cover.
 */
orch_err orch_pbparse(const ProtobufCMessageDescriptor *d, const char *json,
    size_t len, ProtobufCAllocator *alloc, ProtobufCMessage **out,
    orch_diag *diag);

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
 * Returns ORCH_OK; ORCH_EINVAL (diag->field = field_name: HTTP 422) when
 * text is not such a value, msg unchanged; ORCH_ENOMEM; ORCH_EINTERNAL
 * when msg has no singular field of those types by that name (a bug in
 * the caller's route table). diag may be NULL; otherwise it is cleared,
 * then filled on every error.
 */
orch_err orch_pbparse_set_field(ProtobufCMessage *msg, const char *field_name,
    const char *text, ProtobufCAllocator *alloc, orch_diag *diag);

/*
 * The command-line form of orch_pbparse_set_field(): sets the field at a
 * dotted path of msg from text (orchctl's `--engine.port 6878`), where
 * path is user input rather than a route table's.
 *
 * Each component before the last names a singular message field of the
 * message so far, created when unset. A map field takes the rest of the
 * path, dots included, as its key ("labels.com.example.team" is key
 * "com.example.team"): an entry with that key gets the new value, else
 * one is appended. A repeated field of a settable type appends text as
 * one more element. The last component is parsed as
 * orch_pbparse_set_field() parses it, with the same messages, the whole
 * path standing for the field name.
 *
 * Returns ORCH_OK; ORCH_EINVAL, diag->field naming the path as far as it
 * was understood (the whole path when a component is empty; only the
 * path "" leaves it "") and msg unchanged, when a
 * component is empty or names no field, a message or map is given no
 * sub-field or key, the field cannot be set from text (bytes, enums,
 * floats, maps of messages, repeated messages: give those as JSON), or
 * text is not such a value; ORCH_ENOMEM (msg unchanged); ORCH_EINTERNAL
 * for a map whose keys are not strings. msg and alloc are as for
 * orch_pbparse_set_field(); diag may be NULL.
 */
orch_err orch_pbparse_set_path(ProtobufCMessage *msg, const char *path,
    const char *text, ProtobufCAllocator *alloc, orch_diag *diag);

/*
 * What text a value of f's type is given as ("string", "int32", "uint64",
 * "bool", "RFC 3339 time", ...), or NULL when its type cannot be set from
 * text at all (bytes, enums, floats, messages other than Timestamp): for
 * listing a request's fields as orchctl does. Says nothing of f's label;
 * static storage.
 */
const char *orch_pbparse_text_type(const ProtobufCFieldDescriptor *f);

#endif

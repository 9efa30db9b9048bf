/*
 * protobuf-c message -> JSON, driven by the message descriptors, following
 * the schema conventions written at the top of proto/orchestrator.proto:
 * required fields always written, unset optional fields as null, Timestamp
 * as RFC 3339 UTC, map entries as objects, `*List` wrappers as bare arrays,
 * enums by name, bytes as base64. One writer for every message means one
 * place where the REST contract's JSON types are decided.
 *
 * It streams into an orch_buf (no intermediate JSON tree), which is what the
 * performance notes in ARCHITECTURE.md ask of the response path.
 */
#ifndef ORCH_JSON_PBJSON_H
#define ORCH_JSON_PBJSON_H

#include <protobuf-c/protobuf-c.h>

#include "src/base/buf.h"

/* Appends msg as compact JSON to out (check out->oom once at the end). */
void orch_pbjson_write(orch_buf *out, const ProtobufCMessage *msg);

/* Appends s as a JSON string literal (quotes and escapes included). */
void orch_pbjson_write_string(orch_buf *out, const char *s, size_t len);

#endif

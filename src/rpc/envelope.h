/*
 * The RPC envelope codec: one nng message is one packed RequestEnvelope or
 * ReplyEnvelope (proto/orchestrator.proto). This file knows protobuf-c but
 * not nng, so the decoder can be fuzzed on plain bytes.
 */
#ifndef ORCH_RPC_ENVELOPE_H
#define ORCH_RPC_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "proto/orchestrator.pb-c.h"
#include "src/base/diag.h"
#include "src/base/err.h"

/* Frames larger than this are refused by the server (1 MiB). */
#define ORCH_RPC_MAX_FRAME (1024u * 1024u)

/*
 * Decodes a request envelope and checks it is usable: a method name of
 * 1..64 printable characters. On success *out is the caller's to free with
 * orch_rpc_request_free(). On failure returns ORCH_EINVAL and says why in
 * *why (may be NULL).
 */
orch_err orch_rpc_request_decode(const uint8_t *buf, size_t len,
    Orch__RequestEnvelope **out, orch_diag *why);
void orch_rpc_request_free(Orch__RequestEnvelope *env);

/* As above for replies (no extra checks beyond the wire format). */
orch_err orch_rpc_reply_decode(
    const uint8_t *buf, size_t len, Orch__ReplyEnvelope **out);
void orch_rpc_reply_free(Orch__ReplyEnvelope *env);

/*
 * Where a packed envelope goes: returns a buffer of n bytes owned by the
 * allocator's user (an nng message body, or malloc'd memory), NULL on
 * failure. Packing straight into the destination saves a copy.
 */
typedef uint8_t *(*orch_rpc_alloc_fn)(void *actx, size_t n);

/* The malloc allocator: actx must point at a uint8_t * that receives it. */
uint8_t *orch_rpc_malloc_alloc(void *actx, size_t n);

/*
 * Packs payload (may be NULL) into env->payload and then env into a buffer
 * from alloc; *len is the packed length. env's other fields are the
 * caller's; env->payload is set only during the call.
 */
orch_err orch_rpc_pack_request(Orch__RequestEnvelope *env,
    const ProtobufCMessage *payload, orch_rpc_alloc_fn alloc, void *actx,
    size_t *len);
orch_err orch_rpc_pack_reply(Orch__ReplyEnvelope *env,
    const ProtobufCMessage *payload, orch_rpc_alloc_fn alloc, void *actx,
    size_t *len);

#endif

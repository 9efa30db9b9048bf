/*
 * libFuzzer target for the RPC envelope codec (src/rpc/envelope.h): the
 * bytes of one nng message, as the server and the client see them.
 *
 * Every input goes through both decoders:
 * - orch_rpc_request_decode(); on success the payload is unpacked with the
 *   input type of the named method, exactly as the server's dispatch does
 *   (src/rpc/server.c), and the decoded request is packed again and decoded
 *   again: what we accepted once we must accept after a round trip (but
 *   for one protobuf-c quirk, see has_field0_unknown()).
 * - orch_rpc_reply_decode(); on success the payload is unpacked with the
 *   output type of a method picked by request_id (a real client knows it
 *   from the call; here the fuzzer steers it).
 * Everything decoded is freed, so LeakSanitizer checks the error paths too.
 *
 * The same file links into a plain driver (corpus_driver.c) for the gcc
 * regression test and for replaying a crash without libFuzzer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "proto/orchestrator.pb-c.h"
#include "src/rpc/envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant broke: abort so both libFuzzer and the driver report it. */
#define FUZZ_CHECK(cond)                                                      \
	do {                                                                  \
		if (!(cond))                                                  \
			abort();                                              \
	} while (0)

/*
 * True when m or a message inside it kept an unknown field numbered 0.
 * protobuf-c 1.4.1 refuses a field number 0 written as the one byte 0x00
 * but accepts it written as an overlong varint (0x80 0x00) and keeps it as
 * an unknown field, which it then packs as 0x00: such a message packs into
 * bytes that protobuf-c itself refuses. Harmless here (nothing re-packs a
 * received message), so the round trip below allows for it.
 */
static int
has_field0_unknown(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const char *base = (const char *) m;

	for (unsigned i = 0; i < m->n_unknown_fields; i++) {
		if (m->unknown_fields[i].tag == 0)
			return 1;
	}
	/* The schema has no oneof, so a message field's slot is its own. */
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];

		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n =
			    *(const size_t *) (base + f->quantifier_offset);
			ProtobufCMessage *const *v =
			    *(ProtobufCMessage *const *const *) (base +
			                                         f->offset);

			for (size_t j = 0; j < n; j++) {
				if (has_field0_unknown(v[j]))
					return 1;
			}
		} else {
			const ProtobufCMessage *sub =
			    *(const ProtobufCMessage *const *) (base +
			                                        f->offset);

			if (sub != NULL && has_field0_unknown(sub))
				return 1;
		}
	}
	return 0;
}

/*
 * Packs env (a decoded request, not modified) around payload (the decoded
 * request message of md, or NULL) and decodes the result again: it must
 * decode, with the same method and request id, and so must its payload.
 */
static void
request_roundtrip(const Orch__RequestEnvelope *env,
    const ProtobufCMethodDescriptor *md, const ProtobufCMessage *payload)
{
	Orch__RequestEnvelope copy = *env; /* the packer sets copy.payload */
	Orch__RequestEnvelope *again = NULL;
	ProtobufCMessage *req;
	uint8_t *buf = NULL;
	size_t len = 0;
	orch_diag why;
	orch_err rv;

	rv = orch_rpc_pack_request(
	    &copy, payload, orch_rpc_malloc_alloc, &buf, &len);
	if (rv == ORCH_ENOMEM) { /* only under -rss_limit / malloc_limit */
		free(buf);
		return;
	}
	FUZZ_CHECK(rv == ORCH_OK);
	if (orch_rpc_request_decode(buf, len, &again, &why) != ORCH_OK) {
		FUZZ_CHECK(has_field0_unknown(&env->base));
		free(buf);
		return;
	}
	FUZZ_CHECK(strcmp(again->method, env->method) == 0);
	FUZZ_CHECK(again->request_id == env->request_id);
	FUZZ_CHECK(again->has_payload == (payload != NULL));
	if (payload != NULL) {
		req = protobuf_c_message_unpack(
		    md->input, NULL, again->payload.len, again->payload.data);
		FUZZ_CHECK(req != NULL || has_field0_unknown(payload));
		if (req != NULL)
			protobuf_c_message_free_unpacked(req, NULL);
	}
	orch_rpc_request_free(again);
	free(buf);
}

static void
fuzz_request(const uint8_t *data, size_t size)
{
	Orch__RequestEnvelope *env = NULL;
	const ProtobufCMethodDescriptor *md;
	ProtobufCMessage *req;
	orch_diag why;

	orch_diag_clear(&why);
	if (orch_rpc_request_decode(data, size, &env, &why) != ORCH_OK) {
		FUZZ_CHECK(env == NULL);
		FUZZ_CHECK(why.msg[0] != '\0');
		return;
	}
	FUZZ_CHECK(env != NULL && env->method != NULL);
	FUZZ_CHECK(protobuf_c_message_check(&env->base));
	md = protobuf_c_service_descriptor_get_method_by_name(
	    &orch__orchestrator__descriptor, env->method);
	if (md == NULL) {
		/* Not a method: the server answers UNIMPLEMENTED. */
		request_roundtrip(env, NULL, NULL);
		orch_rpc_request_free(env);
		return;
	}
	FUZZ_CHECK(strcmp(md->name, env->method) == 0);
	req = protobuf_c_message_unpack(md->input, NULL,
	    env->has_payload ? env->payload.len : 0,
	    env->has_payload ? env->payload.data : NULL);
	if (req != NULL) {
		FUZZ_CHECK(req->descriptor == md->input);
		FUZZ_CHECK(protobuf_c_message_check(req));
		request_roundtrip(env, md, req);
		protobuf_c_message_free_unpacked(req, NULL);
	}
	orch_rpc_request_free(env);
}

static void
fuzz_reply(const uint8_t *data, size_t size)
{
	Orch__ReplyEnvelope *env = NULL;
	const ProtobufCServiceDescriptor *svc =
	    &orch__orchestrator__descriptor;
	const ProtobufCMethodDescriptor *md;
	ProtobufCMessage *rep;

	if (orch_rpc_reply_decode(data, size, &env) != ORCH_OK) {
		FUZZ_CHECK(env == NULL);
		return;
	}
	FUZZ_CHECK(env != NULL);
	FUZZ_CHECK(protobuf_c_message_check(&env->base));
	if (env->has_payload) {
		md = &svc->methods[env->request_id % svc->n_methods];
		rep = protobuf_c_message_unpack(
		    md->output, NULL, env->payload.len, env->payload.data);
		if (rep != NULL) {
			FUZZ_CHECK(protobuf_c_message_check(rep));
			protobuf_c_message_free_unpacked(rep, NULL);
		}
	}
	orch_rpc_reply_free(env);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The server refuses bigger request frames before decoding (inproc)
	 * or nng drops them (ipc/tcp); replies have no such limit. */
	if (size <= ORCH_RPC_MAX_FRAME)
		fuzz_request(data, size);
	fuzz_reply(data, size);
	return 0;
}

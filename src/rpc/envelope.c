#include "src/rpc/envelope.h"

#include <stdlib.h>
#include <string.h>

static int
method_name_ok(const char *m)
{
	size_t n = 0;

	if (m == NULL)
		return 0;
	for (; m[n] != '\0'; n++) {
		if (n >= 64 || m[n] <= 0x20 || m[n] >= 0x7f)
			return 0;
	}
	return n > 0;
}

orch_err
orch_rpc_request_decode(const uint8_t *buf, size_t len,
    Orch__RequestEnvelope **out, orch_diag *why)
{
	Orch__RequestEnvelope *env;

	*out = NULL;
	env = orch__request_envelope__unpack(NULL, len, buf);
	if (env == NULL) {
		orch_diag_set(why, "request frame is not a RequestEnvelope");
		return ORCH_EINVAL;
	}
	if (!method_name_ok(env->method)) {
		orch__request_envelope__free_unpacked(env, NULL);
		orch_diag_set(
		    why, "request envelope has no valid method name");
		return ORCH_EINVAL;
	}
	*out = env;
	return ORCH_OK;
}

void
orch_rpc_request_free(Orch__RequestEnvelope *env)
{
	if (env != NULL)
		orch__request_envelope__free_unpacked(env, NULL);
}

orch_err
orch_rpc_reply_decode(
    const uint8_t *buf, size_t len, Orch__ReplyEnvelope **out)
{
	*out = orch__reply_envelope__unpack(NULL, len, buf);
	return *out != NULL ? ORCH_OK : ORCH_EINVAL;
}

void
orch_rpc_reply_free(Orch__ReplyEnvelope *env)
{
	if (env != NULL)
		orch__reply_envelope__free_unpacked(env, NULL);
}

uint8_t *
orch_rpc_malloc_alloc(void *actx, size_t n)
{
	uint8_t **dst = actx;

	*dst = malloc(n > 0 ? n : 1);
	return *dst;
}

/*
 * Packs payload then the envelope. payload_field points into env at its
 * `payload` bytes member; has_field at its has_ flag.
 */
static orch_err
pack_with_payload(ProtobufCMessage *env, ProtobufCBinaryData *payload_field,
    protobuf_c_boolean *has_field, const ProtobufCMessage *payload,
    orch_rpc_alloc_fn alloc, void *actx, size_t *len)
{
	uint8_t stackbuf[4096];
	uint8_t *pbuf = NULL, *dst;
	size_t plen = 0, n;
	orch_err rv = ORCH_OK;

	*len = 0;
	*has_field = 0;
	if (payload != NULL) {
		plen = protobuf_c_message_get_packed_size(payload);
		pbuf = plen <= sizeof(stackbuf) ? stackbuf : malloc(plen);
		if (pbuf == NULL) {
			rv = ORCH_ENOMEM;
			goto out;
		}
		protobuf_c_message_pack(payload, pbuf);
		payload_field->data = pbuf;
		payload_field->len = plen;
		*has_field = 1;
	}
	n = protobuf_c_message_get_packed_size(env);
	dst = alloc(actx, n);
	if (dst == NULL) {
		rv = ORCH_ENOMEM;
		goto out;
	}
	*len = protobuf_c_message_pack(env, dst);
out:
	if (pbuf != stackbuf)
		free(pbuf);
	payload_field->data = NULL;
	payload_field->len = 0;
	*has_field = 0;
	return rv;
}

orch_err
orch_rpc_pack_request(Orch__RequestEnvelope *env,
    const ProtobufCMessage *payload, orch_rpc_alloc_fn alloc, void *actx,
    size_t *len)
{
	return pack_with_payload(&env->base, &env->payload, &env->has_payload,
	    payload, alloc, actx, len);
}

orch_err
orch_rpc_pack_reply(Orch__ReplyEnvelope *env, const ProtobufCMessage *payload,
    orch_rpc_alloc_fn alloc, void *actx, size_t *len)
{
	return pack_with_payload(&env->base, &env->payload, &env->has_payload,
	    payload, alloc, actx, len);
}

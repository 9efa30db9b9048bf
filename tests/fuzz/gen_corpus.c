/*
 * Writes the seed corpus of the envelope fuzz target: a few valid packed
 * request and reply envelopes, built with the project's own packer
 * (orch_rpc_pack_request / orch_rpc_pack_reply) so they are byte for byte
 * what the client and the server put on the wire.
 *
 *   bazel run //tests/fuzz:gen_corpus -- $PWD/tests/fuzz/corpus/envelope
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/orchestrator.pb-c.h"
#include "src/rpc/envelope.h"

static const char *outdir;
static int failures;

static void
write_file(const char *name, const uint8_t *buf, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", outdir, name);
	f = fopen(path, "wb");
	if (f == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		failures++;
		return;
	}
	if (fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "%s: write failed\n", path);
		failures++;
		return;
	}
	printf("%-32s %4zu bytes\n", name, len);
}

static void
request(const char *name, const char *method, uint64_t id, const char *auth,
    uint32_t timeout_ms, const ProtobufCMessage *payload)
{
	Orch__RequestEnvelope env = ORCH__REQUEST_ENVELOPE__INIT;
	uint8_t *buf = NULL;
	size_t len;

	env.method = (char *) method;
	env.request_id = id;
	env.authorization = (char *) auth;
	if (timeout_ms > 0) {
		env.has_timeout_ms = 1;
		env.timeout_ms = timeout_ms;
	}
	if (orch_rpc_pack_request(
	        &env, payload, orch_rpc_malloc_alloc, &buf, &len) != ORCH_OK) {
		fprintf(stderr, "%s: pack failed\n", name);
		failures++;
	} else {
		write_file(name, buf, len);
	}
	free(buf);
}

static void
reply(const char *name, uint64_t id, Orch__StatusCode status,
    const char *message, Orch__ErrorDetail *detail,
    const ProtobufCMessage *payload)
{
	Orch__ReplyEnvelope env = ORCH__REPLY_ENVELOPE__INIT;
	uint8_t *buf = NULL;
	size_t len;

	env.request_id = id;
	env.status = status;
	env.message = (char *) message;
	env.detail = detail;
	if (orch_rpc_pack_reply(
	        &env, payload, orch_rpc_malloc_alloc, &buf, &len) != ORCH_OK) {
		fprintf(stderr, "%s: pack failed\n", name);
		failures++;
	} else {
		write_file(name, buf, len);
	}
	free(buf);
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
		return 2;
	}
	outdir = argv[1];

	/* Requests. */
	{
		Orch__PingRequest ping = ORCH__PING_REQUEST__INIT;

		request("req-ping", "Ping", 1, NULL, 0, &ping.base);
		request("req-ping-nopayload", "Ping", 2, NULL, 0, NULL);
	}
	{
		Orch__GetEngineRequest r = ORCH__GET_ENGINE_REQUEST__INIT;

		r.container_id = "3f2a9c1d";
		request("req-getengine", "GetEngine", 0x1234567800000003ull,
		    "Bearer k3y", 5000, &r.base);
	}
	{
		Orch__ProvisionEngineRequest r =
		    ORCH__PROVISION_ENGINE_REQUEST__INIT;
		Orch__ProvisionEngineRequest__LabelsEntry l =
		    ORCH__PROVISION_ENGINE_REQUEST__LABELS_ENTRY__INIT;
		Orch__ProvisionEngineRequest__LabelsEntry *lp[1] = {&l};

		l.key = "team";
		l.value = "a";
		r.n_labels = 1;
		r.labels = lp;
		r.image = "acestream/engine:latest";
		r.has_host_port = 1;
		r.host_port = 19000;
		request("req-provisionengine", "ProvisionEngine", 4,
		    "Bearer k", 30000, &r.base);
	}
	{
		Orch__StreamStartedRequest r =
		    ORCH__STREAM_STARTED_REQUEST__INIT;
		Orch__EngineAddress a = ORCH__ENGINE_ADDRESS__INIT;
		Orch__StreamKey k = ORCH__STREAM_KEY__INIT;
		Orch__SessionInfo s = ORCH__SESSION_INFO__INIT;

		a.host = "127.0.0.1";
		a.has_port = 1;
		a.port = 6878;
		k.key_type = "infohash";
		k.key = "0123456789abcdef";
		s.playback_session_id = "ps1";
		s.stat_url = "http://e/stat";
		s.has_is_live = 1;
		s.is_live = 1;
		r.container_id = "3f2a9c1d";
		r.engine = &a;
		r.stream = &k;
		r.session = &s;
		request("req-streamstarted", "StreamStarted", 5, NULL, 1000,
		    &r.base);
	}
	{
		Orch__ScaleRequest r = ORCH__SCALE_REQUEST__INIT;

		r.has_n = 1;
		r.n = 3;
		request("req-scale", "Scale", 6, "Bearer k", 0, &r.base);
		/* Not a method of the service: the UNIMPLEMENTED path. */
		request(
		    "req-unknown-method", "NoSuchMethod", 7, NULL, 0, &r.base);
	}

	/* Replies. */
	{
		Orch__PingReply p = ORCH__PING_REPLY__INIT;

		p.status = "ok";
		/* request_id 0: the fuzz target unpacks the payload with
		 * the output of method 0 % n, i.e. Ping. */
		reply("rep-ping-ok", 0, ORCH__STATUS_CODE__OK, NULL, NULL,
		    &p.base);
	}
	{
		Orch__EngineList l = ORCH__ENGINE_LIST__INIT;
		Orch__Engine e = ORCH__ENGINE__INIT;
		Orch__Engine *ep[1] = {&e};
		Orch__Timestamp ts = ORCH__TIMESTAMP__INIT;

		ts.unix_micros = 1700000000000000;
		e.container_id = "3f2a9c1d";
		e.container_name = "acestream-1";
		e.host = "127.0.0.1";
		e.port = 19000;
		e.health_status = "healthy";
		e.last_seen = &ts;
		l.n_engines = 1;
		l.engines = ep;
		/* Method index 1 is ListEngines (service order). */
		reply("rep-listengines-ok", 1, ORCH__STATUS_CODE__OK, NULL,
		    NULL, &l.base);
	}
	{
		Orch__ErrorDetail d = ORCH__ERROR_DETAIL__INIT;

		d.field = "container_id";
		reply("rep-invalid-field", 2,
		    ORCH__STATUS_CODE__INVALID_ARGUMENT,
		    "container_id: required", &d, NULL);
	}
	{
		Orch__ErrorDetail d = ORCH__ERROR_DETAIL__INIT;
		Orch__ProvisioningRefusal r = ORCH__PROVISIONING_REFUSAL__INIT;

		r.error = "provisioning_blocked";
		r.code = "max_capacity";
		r.message = "MAX_REPLICAS reached";
		r.has_recovery_eta_seconds = 1;
		r.recovery_eta_seconds = 30;
		r.can_retry = 1;
		r.should_wait = 1;
		d.refusal = &r;
		reply("rep-refusal", 5, ORCH__STATUS_CODE__UNAVAILABLE,
		    "provisioning blocked", &d, NULL);
	}
	return failures == 0 ? 0 : 1;
}

/*
 * Writes the seed corpus of service_fuzz (checked in under
 * corpus/service/): one valid request per FAST method of the service's
 * table, in the target's format (method byte = index among the FAST rows,
 * auth byte, clock byte, payload).
 *
 *   bazel run //tests/fuzz:gen_service_corpus --
 * $PWD/tests/fuzz/corpus/service
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/orchestrator.pb-c.h"
#include "src/service/service.h"

static void
emit(const char *dir, const char *method, int auth, int clock,
    const ProtobufCMessage *m)
{
	size_t n, len = protobuf_c_message_get_packed_size(m);
	const orch_method *table = orch_service_methods(&n);
	unsigned char *buf = malloc(len + 3);
	char path[1024];
	FILE *f;
	size_t i = 0, idx = 0;

	for (; i < n && strcmp(table[i].name, method) != 0; i++)
		idx += table[i].lane == ORCH_LANE_FAST;
	if (i == n || table[i].lane != ORCH_LANE_FAST || buf == NULL)
		exit(1);
	buf[0] = (unsigned char) idx;
	buf[1] = (unsigned char) auth;
	buf[2] = (unsigned char) clock;
	protobuf_c_message_pack(m, buf + 3);
	snprintf(path, sizeof(path), "%s/%s-%d-%d", dir, method, auth, clock);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(buf, 1, len + 3, f) != len + 3)
		exit(1);
	fclose(f);
	free(buf);
}

int
main(int argc, char **argv)
{
	Orch__StreamStartedRequest st = ORCH__STREAM_STARTED_REQUEST__INIT;
	Orch__EngineAddress ea = ORCH__ENGINE_ADDRESS__INIT;
	Orch__StreamKey sk = ORCH__STREAM_KEY__INIT;
	Orch__SessionInfo si = ORCH__SESSION_INFO__INIT;
	Orch__StreamStartedRequest__LabelsEntry le =
	    ORCH__STREAM_STARTED_REQUEST__LABELS_ENTRY__INIT;
	Orch__StreamStartedRequest__LabelsEntry *lep[1] = {&le};
	Orch__StreamEndedRequest en = ORCH__STREAM_ENDED_REQUEST__INIT;
	Orch__ListStreamsRequest ls = ORCH__LIST_STREAMS_REQUEST__INIT;
	Orch__GetEngineRequest ge = ORCH__GET_ENGINE_REQUEST__INIT;
	Orch__GetStreamStatsRequest gs = ORCH__GET_STREAM_STATS_REQUEST__INIT;
	Orch__Timestamp since = ORCH__TIMESTAMP__INIT;
	Orch__SelectEngineRequest se = ORCH__SELECT_ENGINE_REQUEST__INIT;
	Orch__ResetCircuitBreakerRequest rb =
	    ORCH__RESET_CIRCUIT_BREAKER_REQUEST__INIT;
	Orch__PingRequest pi = ORCH__PING_REQUEST__INIT;
	Orch__ListEnginesRequest le2 = ORCH__LIST_ENGINES_REQUEST__INIT;
	Orch__GetStatusRequest gst = ORCH__GET_STATUS_REQUEST__INIT;
	Orch__GetVpnStatusRequest gv = ORCH__GET_VPN_STATUS_REQUEST__INIT;
	Orch__GetHealthRequest gh = ORCH__GET_HEALTH_REQUEST__INIT;
	const char *dir = argc > 1 ? argv[1] : ".";

	ea.host = "127.0.0.1";
	ea.has_port = 1;
	ea.port = 19001;
	sk.key_type = "content_id";
	sk.key = "0123456789abcdef";
	si.playback_session_id = "psid1";
	si.stat_url = "http://127.0.0.1:19001/ace/stat/ih/psid1";
	si.command_url = "http://127.0.0.1:19001/ace/cmd/ih/psid1";
	si.has_is_live = 1;
	si.is_live = 1;
	st.engine = &ea;
	st.stream = &sk;
	st.session = &si;
	emit(dir, "StreamStarted", 1, 0, &st.base);
	st.container_id = "aaa111";
	emit(dir, "StreamStarted", 0, 1, &st.base);
	le.key = "reservation_id";
	le.value = "00000000000000000000000000000000";
	st.labels = lep;
	st.n_labels = 1;
	ea.host = "acestream-2";
	emit(dir, "StreamStarted", 1, 2, &st.base);
	en.stream_id = "0123456789abcdef|psid1";
	en.reason = "client_gone";
	emit(dir, "StreamEnded", 1, 0, &en.base);
	en.stream_id = NULL;
	en.container_id = "aaa111";
	emit(dir, "StreamEnded", 1, 1, &en.base);
	ls.container_id = "aaa111";
	ls.status = "started";
	ls.has_limit = 1;
	ls.limit = 10;
	emit(dir, "ListStreams", 0, 0, &ls.base);
	ge.container_id = "bbb222";
	emit(dir, "GetEngine", 0, 0, &ge.base);
	gs.stream_id = "0123456789abcdef|psid1";
	since.unix_micros = 1;
	gs.since = &since;
	emit(dir, "GetStreamStats", 0, 0, &gs.base);
	se.has_reserve = 1;
	se.reserve = 1;
	emit(dir, "SelectEngine", 1, 0, &se.base);
	rb.operation_type = "general";
	emit(dir, "ResetCircuitBreaker", 1, 0, &rb.base);
	emit(dir, "Ping", 0, 0, &pi.base);
	emit(dir, "ListEngines", 0, 0, &le2.base);
	emit(dir, "GetStatus", 0, 30, &gst.base);
	emit(dir, "GetVpnStatus", 0, 0, &gv.base);
	emit(dir, "GetHealth", 0, 0, &gh.base);
	return 0;
}

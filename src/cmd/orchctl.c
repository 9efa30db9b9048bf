/*
 * orchctl: the command-line RPC client, and the proof that the RPC API is
 * complete on its own. One row per command in `commands` below: the RPC
 * method, how its request is built from the arguments, and how its reply is
 * shown as a table (JSON with --json, from the same descriptor-driven
 * writer the gateway uses).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/orchestrator.pb-c.h"
#include "src/base/buf.h"
#include "src/base/time.h"
#include "src/json/pbjson.h"
#include "src/rpc/client.h"

#define DEFAULT_RPC "tcp://127.0.0.1:7600"

/* Request storage for every command; one is used per run. */
union request {
	ProtobufCMessage base;
	Orch__PingRequest ping;
	Orch__ListEnginesRequest list_engines;
	Orch__GetEngineRequest get_engine;
	Orch__ListStreamsRequest list_streams;
	Orch__GetStreamStatsRequest stats;
	Orch__ProvisionEngineRequest provision;
	Orch__ScaleRequest scale;
	Orch__CollectGarbageRequest gc;
	Orch__DeleteContainerRequest del;
	Orch__InspectContainerRequest inspect;
	Orch__GetStatusRequest status;
	Orch__GetVpnStatusRequest vpn;
	Orch__GetHealthRequest health;
	Orch__ResetCircuitBreakerRequest reset;
	Orch__SelectEngineRequest select;
	Orch__StreamEndedRequest ended;
	Orch__StreamStartedRequest started;
};

/* Fills req from argv (after the command name); -1 on a usage error. */
typedef int (*build_fn)(union request *req, int argc, char **argv);
/* Prints a reply for people. */
typedef void (*show_fn)(const ProtobufCMessage *rep);

struct command {
	const char *name;
	const char *method;
	const char *args;
	const char *help;
	build_fn build;
	show_fn show;
};

static const char *
opt_value(int argc, char **argv, const char *name)
{
	for (int i = 0; i + 1 < argc; i++) {
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	}
	return NULL;
}

static int
parse_int(const char *s, int32_t *out)
{
	char *end;
	long v;

	if (s == NULL || *s == '\0')
		return -1;
	v = strtol(s, &end, 10);
	if (*end != '\0' || v < INT32_MIN || v > INT32_MAX)
		return -1;
	*out = (int32_t) v;
	return 0;
}

/* ---- request builders ---- */

#define EMPTY_BUILDER(fn, type, INIT)                                      \
	static int fn(union request *req, int argc, char **argv)           \
	{                                                                  \
		(void) argc;                                               \
		(void) argv;                                               \
		*(type *) req = (type) INIT;                               \
		return 0;                                                  \
	}

EMPTY_BUILDER(b_ping, Orch__PingRequest, ORCH__PING_REQUEST__INIT)
EMPTY_BUILDER(b_engines, Orch__ListEnginesRequest,
    ORCH__LIST_ENGINES_REQUEST__INIT)
EMPTY_BUILDER(b_gc, Orch__CollectGarbageRequest,
    ORCH__COLLECT_GARBAGE_REQUEST__INIT)
EMPTY_BUILDER(b_status, Orch__GetStatusRequest, ORCH__GET_STATUS_REQUEST__INIT)
EMPTY_BUILDER(b_vpn, Orch__GetVpnStatusRequest,
    ORCH__GET_VPN_STATUS_REQUEST__INIT)
EMPTY_BUILDER(b_health, Orch__GetHealthRequest, ORCH__GET_HEALTH_REQUEST__INIT)

static int
b_engine(union request *req, int argc, char **argv)
{
	req->get_engine = (Orch__GetEngineRequest) ORCH__GET_ENGINE_REQUEST__INIT;
	if (argc < 1)
		return -1;
	req->get_engine.container_id = argv[0];
	return 0;
}

static int
b_streams(union request *req, int argc, char **argv)
{
	const char *limit = opt_value(argc, argv, "--limit");

	req->list_streams =
	    (Orch__ListStreamsRequest) ORCH__LIST_STREAMS_REQUEST__INIT;
	req->list_streams.container_id =
	    (char *) opt_value(argc, argv, "--container-id");
	req->list_streams.status = (char *) opt_value(argc, argv, "--status");
	if (limit != NULL) {
		if (parse_int(limit, &req->list_streams.limit) != 0)
			return -1;
		req->list_streams.has_limit = 1;
	}
	return 0;
}

static int
b_stats(union request *req, int argc, char **argv)
{
	req->stats = (Orch__GetStreamStatsRequest)
	    ORCH__GET_STREAM_STATS_REQUEST__INIT;
	if (argc < 1)
		return -1;
	req->stats.stream_id = argv[0];
	return 0;
}

static int
b_provision(union request *req, int argc, char **argv)
{
	const char *port = opt_value(argc, argv, "--host-port");

	req->provision =
	    (Orch__ProvisionEngineRequest) ORCH__PROVISION_ENGINE_REQUEST__INIT;
	req->provision.image = (char *) opt_value(argc, argv, "--image");
	if (port != NULL) {
		if (parse_int(port, &req->provision.host_port) != 0)
			return -1;
		req->provision.has_host_port = 1;
	}
	return 0;
}

static int
b_scale(union request *req, int argc, char **argv)
{
	req->scale = (Orch__ScaleRequest) ORCH__SCALE_REQUEST__INIT;
	if (argc < 1 || parse_int(argv[0], &req->scale.n) != 0)
		return -1;
	req->scale.has_n = 1;
	return 0;
}

static int
b_delete(union request *req, int argc, char **argv)
{
	req->del = (Orch__DeleteContainerRequest)
	    ORCH__DELETE_CONTAINER_REQUEST__INIT;
	if (argc < 1)
		return -1;
	req->del.id = argv[0];
	return 0;
}

static int
b_inspect(union request *req, int argc, char **argv)
{
	req->inspect = (Orch__InspectContainerRequest)
	    ORCH__INSPECT_CONTAINER_REQUEST__INIT;
	if (argc < 1)
		return -1;
	req->inspect.id = argv[0];
	return 0;
}

static int
b_reset(union request *req, int argc, char **argv)
{
	req->reset = (Orch__ResetCircuitBreakerRequest)
	    ORCH__RESET_CIRCUIT_BREAKER_REQUEST__INIT;
	req->reset.operation_type = argc > 0 ? argv[0] : NULL;
	return 0;
}

static int
b_select(union request *req, int argc, char **argv)
{
	req->select = (Orch__SelectEngineRequest) ORCH__SELECT_ENGINE_REQUEST__INIT;
	if (argc > 0 && strcmp(argv[0], "--reserve") == 0) {
		req->select.has_reserve = 1;
		req->select.reserve = 1;
	}
	return 0;
}

/* The nested parts of a StreamStarted request: a command runs once per
 * process, so static storage is enough. */
static Orch__EngineAddress start_engine = ORCH__ENGINE_ADDRESS__INIT;
static Orch__StreamKey start_key = ORCH__STREAM_KEY__INIT;
static Orch__SessionInfo start_session = ORCH__SESSION_INFO__INIT;
static Orch__StreamStartedRequest__LabelsEntry start_label =
    ORCH__STREAM_STARTED_REQUEST__LABELS_ENTRY__INIT;
static Orch__StreamStartedRequest__LabelsEntry *start_labels[1];

static int
b_start(union request *req, int argc, char **argv)
{
	const char *host = opt_value(argc, argv, "--host");
	const char *port = opt_value(argc, argv, "--port");
	const char *live = opt_value(argc, argv, "--live");
	const char *rid = opt_value(argc, argv, "--reservation");

	req->started =
	    (Orch__StreamStartedRequest) ORCH__STREAM_STARTED_REQUEST__INIT;
	if (argc < 2)
		return -1;
	start_key.key_type = argv[0];
	start_key.key = argv[1];
	req->started.stream = &start_key;
	req->started.container_id =
	    (char *) opt_value(argc, argv, "--container-id");
	if (host != NULL || port != NULL) {
		start_engine.host = (char *) host;
		if (port != NULL) {
			if (parse_int(port, &start_engine.port) != 0)
				return -1;
			start_engine.has_port = 1;
		}
		req->started.engine = &start_engine;
	}
	start_session.playback_session_id =
	    (char *) opt_value(argc, argv, "--session");
	start_session.stat_url = (char *) opt_value(argc, argv, "--stat-url");
	start_session.command_url =
	    (char *) opt_value(argc, argv, "--command-url");
	if (live != NULL) {
		if (parse_int(live, &start_session.is_live) != 0)
			return -1;
		start_session.has_is_live = 1;
	}
	req->started.session = &start_session;
	if (rid != NULL) {
		start_label.key = "reservation_id";
		start_label.value = (char *) rid;
		start_labels[0] = &start_label;
		req->started.labels = start_labels;
		req->started.n_labels = 1;
	}
	return 0;
}

static int
b_end(union request *req, int argc, char **argv)
{
	req->ended = (Orch__StreamEndedRequest) ORCH__STREAM_ENDED_REQUEST__INIT;
	if (argc < 1)
		return -1;
	req->ended.stream_id = argv[0];
	req->ended.reason = argc > 1 ? argv[1] : "orchctl";
	return 0;
}

/* ---- human output ---- */

static const char *
ts(const Orch__Timestamp *t, char *buf)
{
	if (t == NULL)
		return "-";
	orch_rfc3339_format(t->unix_micros, buf);
	return buf;
}

static void
show_engine_row(const Orch__Engine *e)
{
	char b[ORCH_RFC3339_MAX];

	printf("%-14.12s %-20s %-22s %-9s %7zu  %s\n", e->container_id,
	    e->container_name, "", e->health_status, e->n_streams,
	    ts(e->last_stream_usage, b));
}

static void
s_engines(const ProtobufCMessage *m)
{
	const Orch__EngineList *r = (const void *) m;

	printf("%-14s %-20s %-22s %-9s %7s  %s\n", "CONTAINER", "NAME",
	    "ADDRESS", "HEALTH", "STREAMS", "LAST USED");
	for (size_t i = 0; i < r->n_engines; i++) {
		const Orch__Engine *e = r->engines[i];
		char addr[300], b[ORCH_RFC3339_MAX];

		snprintf(addr, sizeof(addr), "%s:%d", e->host, e->port);
		printf("%-14.12s %-20s %-22s %-9s %7zu  %s\n", e->container_id,
		    e->container_name, addr, e->health_status, e->n_streams,
		    ts(e->last_stream_usage, b));
	}
	printf("%zu engine(s)\n", r->n_engines);
}

static void
s_engine(const ProtobufCMessage *m)
{
	const Orch__GetEngineReply *r = (const void *) m;

	if (r->engine != NULL)
		show_engine_row(r->engine);
	for (size_t i = 0; i < r->n_streams; i++)
		printf("  stream %s (%s)\n", r->streams[i]->id,
		    r->streams[i]->status);
}

static void
s_streams(const ProtobufCMessage *m)
{
	const Orch__StreamList *r = (const void *) m;
	char b[ORCH_RFC3339_MAX];

	printf("%-40s %-14s %-8s %s\n", "STREAM", "CONTAINER", "STATUS",
	    "STARTED");
	for (size_t i = 0; i < r->n_streams; i++) {
		const Orch__Stream *s = r->streams[i];

		printf("%-40s %-14.12s %-8s %s\n", s->id, s->container_id,
		    s->status, ts(s->started_at, b));
	}
	printf("%zu stream(s)\n", r->n_streams);
}

static void
s_status(const ProtobufCMessage *m)
{
	const Orch__OrchestratorStatus *r = (const void *) m;

	printf("status        %s\n", r->status);
	if (r->engines != NULL)
		printf("engines       %d total, %d running, %d healthy, "
		       "%d unhealthy\n",
		    r->engines->total, r->engines->running, r->engines->healthy,
		    r->engines->unhealthy);
	if (r->streams != NULL)
		printf("streams       %d active, %d total\n", r->streams->active,
		    r->streams->total);
	if (r->capacity != NULL)
		printf("capacity      %d used of %d (%d available; replicas "
		       "%d..%d)\n",
		    r->capacity->used, r->capacity->total,
		    r->capacity->available, r->capacity->min_replicas,
		    r->capacity->max_replicas);
	if (r->vpn != NULL)
		printf("vpn           %s\n", !r->vpn->enabled ? "disabled"
		        : r->vpn->connected                 ? "connected"
		                                            : "disconnected");
	if (r->provisioning != NULL)
		printf("provisioning  %s (breaker %s)%s%s\n",
		    r->provisioning->can_provision ? "allowed" : "blocked",
		    r->provisioning->circuit_breaker_state,
		    r->provisioning->blocked_reason != NULL ? ": " : "",
		    r->provisioning->blocked_reason != NULL
		        ? r->provisioning->blocked_reason
		        : "");
	if (r->config != NULL)
		printf("image         %s\n", r->config->target_image);
}

static void
s_json(const ProtobufCMessage *m)
{
	orch_buf b = ORCH_BUF_INIT;

	orch_pbjson_write(&b, m);
	if (orch_buf_cstr(&b) != NULL)
		printf("%s\n", orch_buf_cstr(&b));
	orch_buf_fini(&b);
}

static const struct command commands[] = {
	{"ping", "Ping", "", "check the orchestrator answers", b_ping, s_json},
	{"status", "GetStatus", "", "orchestrator status", b_status, s_status},
	{"engines", "ListEngines", "", "list engines", b_engines, s_engines},
	{"engine", "GetEngine", "ID", "one engine and its streams", b_engine,
	    s_engine},
	{"streams", "ListStreams",
	    "[--container-id ID] [--status started|ended] [--limit N]",
	    "list streams", b_streams, s_streams},
	{"stats", "GetStreamStats", "STREAM_ID", "a stream's stat history",
	    b_stats, s_json},
	{"provision", "ProvisionEngine", "[--image IMG] [--host-port P]",
	    "start a new engine", b_provision, s_json},
	{"scale", "Scale", "N", "set the engine count", b_scale, s_json},
	{"gc", "CollectGarbage", "", "stop idle engines now", b_gc, s_json},
	{"delete", "DeleteContainer", "ID", "stop and remove a container",
	    b_delete, s_json},
	{"inspect", "InspectContainer", "ID", "Docker's view of a container",
	    b_inspect, s_json},
	{"start", "StreamStarted",
	    "KEY_TYPE KEY [--host H --port P] [--container-id ID] "
	    "[--session S] [--stat-url U] [--command-url U] [--live 0|1] "
	    "[--reservation R]",
	    "report a stream started (as a proxy does)", b_start, s_json},
	{"end", "StreamEnded", "STREAM_ID [REASON]", "end a stream", b_end,
	    s_json},
	{"select", "SelectEngine", "[--reserve]", "the engine to use next",
	    b_select, s_json},
	{"vpn", "GetVpnStatus", "", "VPN status", b_vpn, s_json},
	{"health", "GetHealth", "", "health summary and breakers", b_health,
	    s_json},
	{"reset-breaker", "ResetCircuitBreaker", "[general|replacement]",
	    "reset circuit breakers", b_reset, s_json},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void
usage(FILE *f)
{
	fprintf(f, "usage: orchctl [--rpc URL] [--json] [--api-key KEY] "
	           "[--timeout MS] COMMAND [ARGS]\n\n"
	           "  --rpc URL      nng URL of the orchestrator (default: "
	           "$ORCH_RPC, else " DEFAULT_RPC ")\n"
	           "  --json         print the reply as JSON\n"
	           "  --api-key KEY  sent as \"Bearer KEY\" (default: "
	           "$API_KEY)\n"
	           "  --timeout MS   deadline of the call (default 10000)\n\n"
	           "commands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-14s %-44s %s\n", commands[i].name,
		    commands[i].args, commands[i].help);
}

int
main(int argc, char **argv)
{
	const char *url = getenv("ORCH_RPC"), *key = getenv("API_KEY");
	const struct command *cmd = NULL;
	orch_rpc_call_opts opts = {0};
	orch_rpc_client *cli = NULL;
	orch_rpc_result res = {0};
	union request req;
	char auth[512];
	int json = 0, i, rv = 2;
	int32_t timeout = 0;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else if (strcmp(argv[i], "--rpc") == 0 && i + 1 < argc) {
			url = argv[++i];
		} else if (strcmp(argv[i], "--api-key") == 0 && i + 1 < argc) {
			key = argv[++i];
		} else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
			if (parse_int(argv[++i], &timeout) != 0 || timeout <= 0) {
				fprintf(stderr, "orchctl: --timeout: expected "
				                "milliseconds > 0\n");
				return 2;
			}
		} else if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "orchctl: unknown option %s\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	for (size_t k = 0; k < NCOMMANDS; k++) {
		if (strcmp(argv[i], commands[k].name) == 0)
			cmd = &commands[k];
	}
	if (cmd == NULL) {
		fprintf(stderr, "orchctl: unknown command %s\n", argv[i]);
		usage(stderr);
		return 2;
	}
	if (cmd->build(&req, argc - i - 1, argv + i + 1) != 0) {
		fprintf(stderr, "usage: orchctl %s %s\n", cmd->name, cmd->args);
		return 2;
	}
	if (url == NULL || *url == '\0')
		url = DEFAULT_RPC;
	if (key != NULL && *key != '\0') {
		snprintf(auth, sizeof(auth), "Bearer %s", key);
		opts.authorization = auth;
	}
	opts.timeout_ms = (uint32_t) timeout;
	if (orch_rpc_client_open(url, &cli) != ORCH_OK) {
		fprintf(stderr, "orchctl: cannot use RPC URL %s\n", url);
		return 1;
	}
	if (orch_rpc_invoke(cli, cmd->method, &req.base, &opts, &res) ==
	    ORCH_OK) {
		if (json)
			s_json(res.reply);
		else
			cmd->show(res.reply);
		rv = 0;
	} else {
		fprintf(stderr, "orchctl: %s: %s\n",
		    orch_err_status_name(res.status),
		    res.message != NULL ? res.message : orch_strerror(res.status));
		if (res.status == ORCH_ETIMEDOUT)
			fprintf(stderr, "orchctl: no answer from %s (is "
			                "orchestratord running?)\n",
			    url);
		if (res.detail != NULL && res.detail->refusal != NULL)
			s_json(&res.detail->refusal->base);
		rv = 1;
	}
	orch_rpc_result_fini(&res);
	orch_rpc_client_close(cli);
	return rv;
}

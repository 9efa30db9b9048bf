/*
 * orchctl: the command-line RPC client, and the proof that the RPC API is
 * complete on its own.
 *
 * Every method of the service is a command by its own name, its request
 * built from `--FIELD VALUE` arguments and `--json BODY` by the schema's
 * descriptors with the gateway's transcoder (ctl_args.h), its reply
 * written as JSON by the gateway's writer; `orchctl methods` lists them
 * from the same descriptors, so a method added to the .proto needs no
 * line here. The human commands in `commands` below are shorthands over
 * the same path: a syntax (positionals and flags naming fields) and a
 * table for people (JSON with --json).
 *
 * Exit status: 0 answered OK; 1 the orchestrator refused or did not
 * answer; 2 the command line was wrong (nothing was sent).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/orchestrator.pb-c.h"
#include "src/base/buf.h"
#include "src/base/diag.h"
#include "src/base/time.h"
#include "src/base/version.h"
#include "src/cmd/ctl_args.h"
#include "src/cmd/stamp.h"
#include "src/json/pbjson.h"
#include "src/rpc/client.h"

#define DEFAULT_RPC "tcp://127.0.0.1:7600"

/* Prints a reply for people. */
typedef void (*show_fn)(const ProtobufCMessage *rep);

struct command {
	const char *name;
	const char *method;
	const char *args;
	const char *help;
	orch_ctl_syntax syn;
	show_fn show;
};

/* Global options, before the command. */
struct globals {
	const char *url;
	const char *key;
	bool json;
	int32_t timeout_ms;
};

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
		    r->engines->total, r->engines->running,
		    r->engines->healthy, r->engines->unhealthy);
	if (r->streams != NULL)
		printf("streams       %d active, %d total\n",
		    r->streams->active, r->streams->total);
	if (r->capacity != NULL)
		printf("capacity      %d used of %d (%d available; replicas "
		       "%d..%d)\n",
		    r->capacity->used, r->capacity->total,
		    r->capacity->available, r->capacity->min_replicas,
		    r->capacity->max_replicas);
	if (r->vpn != NULL)
		printf("vpn           %s\n", !r->vpn->enabled ? "disabled"
		                             : r->vpn->connected
		                                 ? "connected"
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
s_containers(const ProtobufCMessage *m)
{
	const Orch__ContainerInfoList *r = (const void *) m;

	printf(
	    "%-14s %-30s %-40s %s\n", "CONTAINER", "NAME", "IMAGE", "STATUS");
	for (size_t i = 0; i < r->n_containers; i++) {
		const Orch__ContainerInfo *c = r->containers[i];

		printf("%-14.12s %-30s %-40s %s\n", c->id, c->name, c->image,
		    c->status);
	}
	printf("%zu container(s)\n", r->n_containers);
}

/* The exposition as it is: what a Prometheus scrape of /metrics gets
 * first. */
static void
s_metrics(const ProtobufCMessage *m)
{
	const Orch__MetricsReply *r = (const void *) m;

	fputs(r->text, stdout);
}

/* One entry of the event log, on one line. */
static void
show_log_event(const Orch__LogEvent *e)
{
	char b[ORCH_RFC3339_MAX];

	printf("%-8lld %-27s %-22s %-14.12s %s", (long long) e->id,
	    ts(e->ts, b), e->type,
	    e->container_id != NULL ? e->container_id : "-",
	    e->stream_id != NULL ? e->stream_id : "-");
	for (size_t i = 0; i < e->n_data; i++)
		printf(" %s=%s", e->data[i]->key, e->data[i]->value);
	printf("\n");
}

static void
s_events(const ProtobufCMessage *m)
{
	const Orch__LogEventList *r = (const void *) m;

	printf("%-8s %-27s %-22s %-14s %s\n", "ID", "TIME", "TYPE",
	    "CONTAINER", "STREAM / DATA");
	for (size_t i = 0; i < r->n_events; i++)
		show_log_event(r->events[i]);
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

#define NONE                                                                  \
	{                                                                     \
		{NULL}, 0, {{NULL}},                                          \
		{                                                             \
			{                                                     \
				NULL                                          \
			}                                                     \
		}                                                             \
	}

static const struct command commands[] = {
    {"ping", "Ping", "", "check the orchestrator answers", NONE, s_json},
    {"status", "GetStatus", "", "orchestrator status", NONE, s_status},
    {"engines", "ListEngines", "", "list engines", NONE, s_engines},
    {"engine", "GetEngine", "ID", "one engine and its streams",
        {{"container_id"}, 1, {{NULL}}, {{NULL}}}, s_engine},
    {"streams", "ListStreams",
        "[--container-id ID] [--status started|ended] [--limit N]",
        "list streams",
        {{NULL}, 0,
            {{"--container-id", "container_id", NULL},
                {"--status", "status", NULL}, {"--limit", "limit", NULL}},
            {{NULL}}},
        s_streams},
    {"stats", "GetStreamStats", "STREAM_ID", "a stream's stat history",
        {{"stream_id"}, 1, {{NULL}}, {{NULL}}}, s_json},
    {"provision", "ProvisionEngine", "[--image IMG] [--host-port P]",
        "start a new engine",
        {{NULL}, 0,
            {{"--image", "image", NULL}, {"--host-port", "host_port", NULL}},
            {{NULL}}},
        s_json},
    {"scale", "Scale", "N", "set the engine count",
        {{"n"}, 1, {{NULL}}, {{NULL}}}, s_json},
    {"gc", "CollectGarbage", "", "stop idle engines now", NONE, s_json},
    {"delete", "DeleteContainer", "ID", "stop and remove a container",
        {{"id"}, 1, {{NULL}}, {{NULL}}}, s_json},
    {"inspect", "InspectContainer", "ID", "Docker's view of a container",
        {{"id"}, 1, {{NULL}}, {{NULL}}}, s_json},
    {"by-label", "FindByLabel", "KEY VALUE", "managed containers with a label",
        {{"key", "value"}, 2, {{NULL}}, {{NULL}}}, s_containers},
    {"start", "StreamStarted",
        "KEY_TYPE KEY [--host H --port P] [--container-id ID] "
        "[--session S] [--stat-url U] [--command-url U] [--live 0|1] "
        "[--reservation R]",
        "report a stream started (as a proxy does)",
        {{"stream.key_type", "stream.key"}, 2,
            {{"--host", "engine.host", NULL}, {"--port", "engine.port", NULL},
                {"--container-id", "container_id", NULL},
                {"--session", "session.playback_session_id", NULL},
                {"--stat-url", "session.stat_url", NULL},
                {"--command-url", "session.command_url", NULL},
                {"--live", "session.is_live", NULL},
                {"--reservation", "labels.reservation_id", NULL}},
            {{NULL}}},
        s_json},
    {"end", "StreamEnded", "STREAM_ID [REASON]", "end a stream",
        {{"stream_id", "reason"}, 1, {{NULL}}, {{"reason", "orchctl"}}},
        s_json},
    {"select", "SelectEngine", "[--reserve]", "the engine to use next",
        {{NULL}, 0, {{"--reserve", "reserve", "true"}}, {{NULL}}}, s_json},
    {"vpn", "GetVpnStatus", "", "VPN status", NONE, s_json},
    {"health", "GetHealth", "", "health summary and breakers", NONE, s_json},
    {"reset-breaker", "ResetCircuitBreaker", "[general|replacement]",
        "reset circuit breakers", {{"operation_type"}, 0, {{NULL}}, {{NULL}}},
        s_json},
    {"metrics", "GetMetrics", "", "the core's metrics (Prometheus text)", NONE,
        s_metrics},
    {"events", "GetEventLog",
        "[--since ID|TIME] [--type T[,T...]] [--limit N] [--follow]",
        "the event log, oldest first; --follow waits for more",
        {{NULL}, 0,
            {{"--since", "since", NULL}, {"--type", "type", NULL},
                {"--limit", "limit", NULL}},
            {{NULL}}},
        s_events},
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
	           "  --timeout MS   deadline of the call (default 10000)\n"
	           "  --version      print orchctl's version and exit (the "
	           "server's: orchctl ping)\n\n"
	           "any method of the service, by its name:\n"
	           "  METHOD [--FIELD VALUE]... [--json BODY|@FILE|-]\n"
	           "                 FIELD a dotted path (engine.port, "
	           "labels.KEY); --json the whole\n"
	           "                 request as JSON, then the --FIELDs "
	           "over it; the reply as JSON\n"
	           "  methods [METHOD]  the methods and their fields\n\n"
	           "commands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-14s %-44s %s\n", commands[i].name,
		    commands[i].args, commands[i].help);
}

static const struct command *
find_command(const char *name)
{
	const struct command *cmd = NULL;

	for (size_t k = 0; cmd == NULL && k < NCOMMANDS; k++) {
		if (strcmp(name, commands[k].name) == 0)
			cmd = &commands[k];
	}
	return cmd;
}

/* `orchctl methods [METHOD]`: every method (or one), its types, the
 * command-line form of its request's fields, and its shorthand. */
static int
list_methods(const char *only)
{
	const ProtobufCServiceDescriptor *svc =
	    &orch__orchestrator__descriptor;
	orch_buf b = ORCH_BUF_INIT;
	int found = 0, rv = 0;

	for (unsigned i = 0; i < svc->n_methods; i++) {
		const ProtobufCMethodDescriptor *m = &svc->methods[i];
		const char *alias = NULL;

		if (only != NULL && strcmp(only, m->name) != 0)
			continue;
		for (size_t k = 0; alias == NULL && k < NCOMMANDS; k++) {
			if (strcmp(commands[k].method, m->name) == 0)
				alias = commands[k].name;
		}
		orch_buf_printf(&b, "%s (%s) -> %s", m->name,
		    m->input->short_name, m->output->short_name);
		if (alias != NULL)
			orch_buf_printf(&b, "  [orchctl %s]", alias);
		orch_buf_putc(&b, '\n');
		orch_ctl_describe(m->input, &b);
		found++;
	}
	if (orch_buf_cstr(&b) == NULL) {
		fprintf(stderr, "orchctl: out of memory\n");
		rv = 2;
	} else if (found == 0) {
		fprintf(stderr, "orchctl: no method %s\n", only);
		rv = 2;
	} else {
		fputs(orch_buf_cstr(&b), stdout);
	}
	orch_buf_fini(&b);
	return rv;
}

/* The orchestrator's refusal, or why no answer came: one line with the
 * status and message (and the field, when the message does not start
 * with it), then the structured refusal as JSON. */
static void
report_error(const orch_rpc_result *res, const char *url)
{
	const char *msg =
	    res->message != NULL ? res->message : orch_strerror(res->status);
	const char *field = res->detail != NULL ? res->detail->field : NULL;
	size_t fl = field != NULL ? strlen(field) : 0;

	if (fl > 0 && !(strncmp(msg, field, fl) == 0 && msg[fl] == ':'))
		fprintf(stderr, "orchctl: %s: %s (field %s)\n",
		    orch_err_status_name(res->status), msg, field);
	else
		fprintf(stderr, "orchctl: %s: %s\n",
		    orch_err_status_name(res->status), msg);
	if (res->status == ORCH_ETIMEDOUT)
		fprintf(stderr,
		    "orchctl: no answer from %s (is "
		    "orchestratord running?)\n",
		    url);
	if (res->detail != NULL && res->detail->refusal != NULL)
		s_json(&res->detail->refusal->base);
}

/* orchctl events --follow: asks again every second for what came after
 * the last entry shown, until interrupted; an orchestrator that does not
 * answer (restarting) is waited for. --json prints one entry per line. */
#define FOLLOW_MS 1000

static void
sleep_ms(long ms)
{
	struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&t, NULL);
}

static int
follow_log(const struct globals *g, const ProtobufCMethodDescriptor *md,
    Orch__GetEventLogRequest *req)
{
	const char *url =
	    g->url != NULL && *g->url != '\0' ? g->url : DEFAULT_RPC;
	orch_rpc_call_opts opts = {NULL, (uint32_t) g->timeout_ms};
	orch_rpc_client *cli = NULL;
	char auth[512], since[32];
	bool header = !g->json, waiting = false;

	if (g->key != NULL && *g->key != '\0') {
		snprintf(auth, sizeof(auth), "Bearer %s", g->key);
		opts.authorization = auth;
	}
	if (orch_rpc_client_open(url, &cli) != ORCH_OK) {
		fprintf(stderr, "orchctl: cannot use RPC URL %s\n", url);
		return 1;
	}
	for (;;) {
		orch_rpc_result res = {0};
		const Orch__LogEventList *r;
		size_t n = 0;

		if (orch_rpc_invoke(cli, md->name, &req->base, &opts, &res) !=
		    ORCH_OK) {
			bool retry = res.status == ORCH_ETIMEDOUT ||
			             res.status == ORCH_EUNAVAIL ||
			             res.status == ORCH_ECLOSED;

			if (!retry || !waiting)
				report_error(&res, url);
			orch_rpc_result_fini(&res);
			if (!retry) {
				orch_rpc_client_close(cli);
				return 1;
			}
			waiting = true;
			sleep_ms(FOLLOW_MS);
			continue;
		}
		waiting = false;
		r = (const void *) res.reply;
		if (header) {
			printf("%-8s %-27s %-22s %-14s %s\n", "ID", "TIME",
			    "TYPE", "CONTAINER", "STREAM / DATA");
			header = false;
		}
		for (size_t i = 0; i < r->n_events; i++) {
			if (g->json)
				s_json(&r->events[i]->base);
			else
				show_log_event(r->events[i]);
		}
		n = r->n_events;
		if (n != 0) {
			snprintf(since, sizeof(since), "%lld",
			    (long long) r->events[n - 1]->id);
			free(req->since);
			req->since = strdup(since);
		}
		fflush(stdout);
		orch_rpc_result_fini(&res);
		/* A full page means more is waiting: no pause. */
		if (n == 0 || n < (size_t) (req->has_limit ? req->limit : 100))
			sleep_ms(FOLLOW_MS);
	}
}

/* Takes --follow out of the command's arguments; returns whether it was
 * there. */
static bool
take_follow(int *argc, char **argv)
{
	bool found = false;
	int k = 0;

	for (int i = 0; i < *argc; i++) {
		if (strcmp(argv[i], "--follow") == 0 ||
		    strcmp(argv[i], "-f") == 0)
			found = true;
		else
			argv[k++] = argv[i];
	}
	*argc = k;
	return found;
}

/* Reads the global options; returns the index of the command, or -1 with
 * *exit_code set (--help: 0; a bad option: 2). */
static int
parse_globals(int argc, char **argv, struct globals *g, int *exit_code)
{
	int i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			g->json = true;
		} else if (strcmp(argv[i], "--rpc") == 0 && i + 1 < argc) {
			g->url = argv[++i];
		} else if (strcmp(argv[i], "--api-key") == 0 && i + 1 < argc) {
			g->key = argv[++i];
		} else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
			if (parse_int(argv[++i], &g->timeout_ms) != 0 ||
			    g->timeout_ms <= 0) {
				fprintf(stderr, "orchctl: --timeout: expected "
				                "milliseconds > 0\n");
				*exit_code = 2;
				return -1;
			}
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("orchctl %s (revision %s, build %s)\n",
			    orch_version(), orch_stamp_revision(),
			    orch_build_mode());
			*exit_code = 0;
			return -1;
		} else if (strcmp(argv[i], "--help") == 0 ||
		           strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			*exit_code = 0;
			return -1;
		} else {
			fprintf(
			    stderr, "orchctl: unknown option %s\n", argv[i]);
			usage(stderr);
			*exit_code = 2;
			return -1;
		}
	}
	if (i >= argc) {
		usage(stderr);
		*exit_code = 2;
		i = -1;
	}
	return i;
}

/* Sends req to md and shows the answer; returns the exit status. */
static int
call(const struct globals *g, const ProtobufCMethodDescriptor *md,
    const ProtobufCMessage *req, show_fn show)
{
	const char *url =
	    g->url != NULL && *g->url != '\0' ? g->url : DEFAULT_RPC;
	orch_rpc_call_opts opts = {NULL, (uint32_t) g->timeout_ms};
	orch_rpc_client *cli = NULL;
	orch_rpc_result res = {0};
	char auth[512];
	int rv = 1;

	if (g->key != NULL && *g->key != '\0') {
		snprintf(auth, sizeof(auth), "Bearer %s", g->key);
		opts.authorization = auth;
	}
	if (orch_rpc_client_open(url, &cli) != ORCH_OK) {
		fprintf(stderr, "orchctl: cannot use RPC URL %s\n", url);
		goto out;
	}
	if (orch_rpc_invoke(cli, md->name, req, &opts, &res) == ORCH_OK) {
		show(res.reply);
		rv = 0;
	} else {
		report_error(&res, url);
	}
out:
	orch_rpc_result_fini(&res);
	orch_rpc_client_close(cli);
	return rv;
}

int
main(int argc, char **argv)
{
	struct globals g = {getenv("ORCH_RPC"), getenv("API_KEY"), false, 0};
	const struct command *cmd;
	const ProtobufCMethodDescriptor *md;
	ProtobufCMessage *req = NULL;
	orch_diag diag;
	bool bad_usage, follow = false;
	int i, nargs, rv = 2;

	i = parse_globals(argc, argv, &g, &rv);
	if (i < 0)
		goto out;
	nargs = argc - i - 1;
	if (strcmp(argv[i], "methods") == 0) {
		rv = nargs <= 1 ? list_methods(nargs == 1 ? argv[i + 1] : NULL)
		                : 2;
		goto out;
	}
	cmd = find_command(argv[i]);
	md = protobuf_c_service_descriptor_get_method_by_name(
	    &orch__orchestrator__descriptor,
	    cmd != NULL ? cmd->method : argv[i]);
	if (md == NULL) {
		fprintf(stderr,
		    "orchctl: unknown command or method %s (orchctl --help "
		    "lists the commands, orchctl methods the methods)\n",
		    argv[i]);
		goto out;
	}
	if (nargs == 1 && strcmp(argv[i + 1], "--help") == 0) {
		if (cmd != NULL)
			printf("usage: orchctl %s%s%s\n  %s\n\n", cmd->name,
			    cmd->args[0] != '\0' ? " " : "", cmd->args,
			    cmd->help);
		rv = list_methods(md->name);
		goto out;
	}
	/* The event log's command takes --follow (follow_log). */
	if (cmd != NULL && cmd->show == s_events)
		follow = take_follow(&nargs, argv + i + 1);
	if (orch_ctl_build(md->input, cmd != NULL ? &cmd->syn : NULL, nargs,
	        argv + i + 1, stdin, &req, &bad_usage, &diag) != ORCH_OK) {
		fprintf(stderr, "orchctl: %s\n", diag.msg);
		if (bad_usage && cmd != NULL)
			fprintf(stderr, "usage: orchctl %s%s%s\n", cmd->name,
			    cmd->args[0] != '\0' ? " " : "", cmd->args);
		goto out;
	}
	if (follow)
		rv = follow_log(&g, md, (Orch__GetEventLogRequest *) req);
	else
		rv = call(
		    &g, md, req, g.json || cmd == NULL ? s_json : cmd->show);
out:
	if (req != NULL)
		protobuf_c_message_free_unpacked(req, NULL);
	return rv;
}

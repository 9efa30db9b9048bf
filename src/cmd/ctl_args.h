/*
 * orchctl's requests, built from the command line by the schema's
 * descriptors with the gateway's own transcoder (src/json/pbparse.h), so
 * that any method of the service can be called without a line of code
 * per method, and a value means on the command line what it means in a
 * REST query string or body:
 *
 *   orchctl StreamStarted --stream.key_type url --stream.key k \
 *       --engine.host h --engine.port 6878 --labels.reservation_id r
 *   orchctl ProvisionEngine --json '{"labels": {"team": "a"}}'
 *   orchctl ProvisionEngine --json @body.json --image img:2
 *
 * `--PATH VALUE` sets one field by its dotted path
 * (orch_pbparse_set_path: nested messages, map entries by key, list
 * appends); `--json BODY` gives the whole request as JSON (BODY is the
 * JSON itself, @FILE, or - for standard input), parsed first, so that the
 * --PATH fields given with it override it. The human commands (`orchctl
 * start KEY_TYPE KEY --host H ...`) are the same thing with a syntax of
 * their own: positional arguments and short flags that name field paths,
 * and defaults.
 */
#ifndef ORCH_CMD_CTL_ARGS_H
#define ORCH_CMD_CTL_ARGS_H

#include <stdbool.h>
#include <stdio.h>

#include <protobuf-c/protobuf-c.h>

#include "src/base/buf.h"
#include "src/base/diag.h"
#include "src/base/err.h"

#define ORCH_CTL_MAX_POSITIONAL 4
#define ORCH_CTL_MAX_FLAGS 10
#define ORCH_CTL_MAX_DEFAULTS 2

/* A command's own flag: `--host H` sets engine.host, `--reserve` (a
 * switch) sets reserve to "true". */
typedef struct orch_ctl_flag {
	const char *name;  /* "--host"; NULL ends the list */
	const char *path;  /* the field it sets */
	const char *value; /* NULL: takes the next argument; else a switch */
} orch_ctl_flag;

/* How a command's arguments map onto its request's fields. All zero for a
 * method called by its name: --PATH VALUE and --json only. */
typedef struct orch_ctl_syntax {
	/* Field paths the positional arguments set, in order; the first
	 * `required` of them must be given. */
	const char *positional[ORCH_CTL_MAX_POSITIONAL];
	int required;
	orch_ctl_flag flags[ORCH_CTL_MAX_FLAGS];
	/* {path, value} set before any argument (NULL path: none). */
	const char *defaults[ORCH_CTL_MAX_DEFAULTS][2];
} orch_ctl_syntax;

/*
 * Builds a request of type d from the argc arguments after the command
 * name: the command's own flags and positionals first, any other
 * `--PATH VALUE` as a field path, `--json BODY` as the whole request.
 * `in` is what `--json -` reads.
 *
 * On ORCH_OK *out is the caller's (protobuf_c_message_free_unpacked(*out,
 * NULL)). Otherwise *out is NULL and diag says why in one line:
 * - ORCH_EINVAL with *usage true: the arguments' shape (a positional
 *   missing or extra, a flag without its value);
 * - ORCH_EINVAL with *usage false: a field that does not exist or a value
 *   it cannot take (diag->field is its path, diag->msg starts with it), or
 *   a --json body that is not JSON of the request's shape ("--json: ...",
 *   with the field when one is at fault);
 * - ORCH_ESYS: --json @FILE or - could not be read; ORCH_ENOMEM.
 * syn may be NULL (a method called by name). diag and usage must not be
 * NULL.
 */
orch_err orch_ctl_build(const ProtobufCMessageDescriptor *d,
    const orch_ctl_syntax *syn, int argc, char *const *argv, FILE *in,
    ProtobufCMessage **out, bool *usage, orch_diag *diag);

/*
 * Appends the command-line form of d's fields to out, one line each,
 * "    --PATH TYPE\n": nested messages expanded to their fields
 * (engine.host), maps as PATH.<key>, lists marked "(repeatable)", and
 * fields that text cannot carry as "(JSON only)". Nothing for a message
 * without fields. Check out->oom once at the end.
 */
void orch_ctl_describe(const ProtobufCMessageDescriptor *d, orch_buf *out);

#endif

/*
 * Internal: parsers of Docker Engine API replies, apart from the transport
 * so that they can be fuzzed (tests/fuzz/docker_reply_fuzz.c) and tested
 * without a daemon. Only src/runtime and the tests include this header.
 *
 * Every parser takes the raw bytes (not NUL-terminated) of one reply body
 * or one line of a stream, accepts exactly what the API documents (null
 * and absent optional fields are empty) and refuses anything else with
 * ORCH_EINTERNAL and a reason in diag's message (caller's storage, may be
 * NULL; cleared first). On failure the out parameters hold nothing;
 * ORCH_ENOMEM is possible anywhere.
 */
#ifndef ORCH_RUNTIME_DOCKER_PARSE_H
#define ORCH_RUNTIME_DOCKER_PARSE_H

#include <stddef.h>

#include "src/base/diag.h"
#include "src/runtime/runtime.h"

/* GET /containers/{id}/json -> *out (zeroed first). Id is required. */
orch_err orch_docker_parse_inspect(
    const char *buf, size_t len, orch_rt_container *out, orch_diag *diag);

/* GET /containers/json -> *out, *n_out (NULL, 0 for "[]"). Every entry
 * needs an Id. Free with orch_rt_container_list_free(). */
orch_err orch_docker_parse_list(const char *buf, size_t len,
    orch_rt_container **out, size_t *n_out, orch_diag *diag);

/* One line of GET /events -> *out (zeroed first; orch_rt_event_fini).
 * Needs Action (or the old "status"). */
orch_err orch_docker_parse_event(
    const char *buf, size_t len, orch_rt_event *out, orch_diag *diag);

/* POST /containers/create's 201 body -> *id (malloc'd). */
orch_err orch_docker_parse_create(
    const char *buf, size_t len, char **id, orch_diag *diag);

/*
 * One line of the POST /images/create progress stream: ORCH_OK for a
 * progress line (an empty line too), ORCH_EINTERNAL for an error line
 * ({"error": …} or {"errorDetail": {"message": …}}: its text in diag) and
 * for a line that is not a JSON object.
 */
orch_err orch_docker_parse_pull_line(
    const char *buf, size_t len, orch_diag *diag);

/*
 * An error reply's body ({"message": "…"}) -> msg; never fails: a body
 * that is not such an object yields "" (msg_len >= 1).
 */
void orch_docker_parse_message(
    const char *buf, size_t len, char *msg, size_t msg_len);

/*
 * The Api-Version header's value ("1.41", surrounding blanks allowed) ->
 * *major, *minor. ORCH_EINTERNAL unless it is two decimal numbers of at
 * most 4 digits separated by one dot.
 */
orch_err orch_docker_parse_api_version(
    const char *s, size_t len, int *major, int *minor);

#endif

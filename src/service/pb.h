/*
 * State -> protobuf: every reply message the handlers build from the
 * core's objects, in one place. What the mappers allocate (timestamps,
 * arrays, nested messages) comes from the call's arena. Engines and
 * streams are copied into it, so their replies may be packed or rendered
 * after the core's lock is released (the read paths do: a large reply's
 * rendering never holds the lock); the other mappers point into their
 * source, which must then stay alive until the reply is packed.
 *
 * Each returns false when the arena is out of memory (the message is then
 * incomplete and must not be sent).
 */
#ifndef ORCH_SERVICE_PB_H
#define ORCH_SERVICE_PB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/orchestrator.pb-c.h"
#include "src/base/arena.h"
#include "src/core/breaker.h"
#include "src/core/policy.h"
#include "src/core/state.h"
#include "src/runtime/runtime.h"
#include "src/store/store.h"

/* Stack room for one reply's arena: a small reply costs no malloc. */
#define ORCH_PB_ARENA_STACK 8192

/* A Timestamp for us (microseconds since the epoch); NULL for 0 (a
 * missing time is null) or, with *ok set false, out of memory. */
Orch__Timestamp *orch_pb_ts(orch_arena *a, int64_t us, bool *ok);

/*
 * The entries of a map<string, V> field: n zeroed, initialized messages
 * of the map's entry type, as the pointer array the field holds. NULL
 * when out of memory (or n is 0).
 */
void **orch_pb_map_new(
    orch_arena *a, const ProtobufCMessageDescriptor *entry, size_t n);

/*
 * A map<string, string> field from n pairs whose first two members are
 * `char *key; char *value;` (orch_label, a runtime's key/value), stride
 * bytes apart. The strings are borrowed. NULL when out of memory or n 0.
 */
void **orch_pb_str_map(orch_arena *a, const ProtobufCMessageDescriptor *entry,
    const void *pairs, size_t stride, size_t n);

/* The same with the strings copied into a. */
void **orch_pb_str_map_dup(orch_arena *a,
    const ProtobufCMessageDescriptor *entry, const void *pairs, size_t stride,
    size_t n);

/* An engine with its strings copied into a: valid after the lock. */

bool orch_pb_engine(orch_arena *a, const orch_engine *e, Orch__Engine *m);

bool orch_pb_stat(orch_arena *a, const orch_stat *s, Orch__StatSnapshot *m);
bool orch_pb_stream(orch_arena *a, const orch_stream *s, Orch__Stream *m);

/* An array of n Stream messages from v[0..n); NULL when out of memory. */
Orch__Stream **orch_pb_streams(orch_arena *a, orch_stream *const *v, size_t n);

/* A container as the runtime reports it (ContainerInfo: labels, and the
 * port bindings as Docker gives them). */
bool orch_pb_container(
    orch_arena *a, const orch_rt_container *c, Orch__ContainerInfo *m);

/* An entry of the event log (its strings borrowed from the query). */
bool orch_pb_log_event(
    orch_arena *a, const orch_store_entry *e, Orch__LogEvent *m);

/* The structured provisioning refusal (m's strings are static). */
void orch_pb_refusal(const orch_refusal *r, Orch__ProvisioningRefusal *m);

/* A breaker at now; fail/ok are the caller's storage for its times. */
void orch_pb_breaker(const orch_breaker *b, int64_t now_us, Orch__Breaker *m,
    Orch__Timestamp *fail, Orch__Timestamp *ok);

#endif

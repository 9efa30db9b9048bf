#include "src/service/pb.h"

#include <stddef.h>
#include <string.h>

#include "src/base/list.h"

Orch__Timestamp *
orch_pb_ts(orch_arena *a, int64_t us, bool *ok)
{
	Orch__Timestamp *t;

	if (us == 0)
		return NULL;
	t = orch_arena_alloc(a, sizeof(*t));
	if (t == NULL) {
		*ok = false;
		return NULL;
	}
	orch__timestamp__init(t);
	t->unix_micros = us;
	return t;
}

void **
orch_pb_map_new(
    orch_arena *a, const ProtobufCMessageDescriptor *entry, size_t n)
{
	void **pp;
	char *ms;

	if (n == 0)
		return NULL;
	pp = orch_arena_alloc(a, n * sizeof(*pp));
	ms = orch_arena_alloc(a, n * entry->sizeof_message);
	if (pp == NULL || ms == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		pp[i] = ms + i * entry->sizeof_message;
		protobuf_c_message_init(entry, pp[i]);
	}
	return pp;
}

/* The two members orch_pb_str_map reads from a pair. */
struct pair {
	char *key;
	char *value;
};

/* The pair types mapped today have that layout. */
_Static_assert(offsetof(orch_label, key) == offsetof(struct pair, key) &&
                   offsetof(orch_label, value) == offsetof(struct pair, value),
    "orch_label is not a key/value pair");
_Static_assert(offsetof(orch_kv, key) == offsetof(struct pair, key) &&
                   offsetof(orch_kv, value) == offsetof(struct pair, value),
    "orch_kv is not a key/value pair");
_Static_assert(offsetof(orch_rt_kv, key) == offsetof(struct pair, key) &&
                   offsetof(orch_rt_kv, value) == offsetof(struct pair, value),
    "orch_rt_kv is not a key/value pair");

/* orch_pb_str_map's and orch_pb_str_map_dup's work: dup copies the
 * strings into a. */
static void **
str_map(orch_arena *a, const ProtobufCMessageDescriptor *entry,
    const void *pairs, size_t stride, size_t n, bool dup)
{
	const ProtobufCFieldDescriptor *k =
	    protobuf_c_message_descriptor_get_field_by_name(entry, "key");
	const ProtobufCFieldDescriptor *v =
	    protobuf_c_message_descriptor_get_field_by_name(entry, "value");
	void **pp = orch_pb_map_new(a, entry, n);

	for (size_t i = 0; pp != NULL && i < n; i++) {
		const struct pair *p =
		    (const void *) ((const char *) pairs + i * stride);

		char **key = (char **) (void *) ((char *) pp[i] + k->offset);
		char **value = (char **) (void *) ((char *) pp[i] + v->offset);

		*key = dup ? orch_arena_strdup(a, p->key) : p->key;
		*value = dup ? orch_arena_strdup(a, p->value) : p->value;
		if (dup && (*key == NULL || *value == NULL))
			return NULL;
	}
	return pp;
}

void **
orch_pb_str_map(orch_arena *a, const ProtobufCMessageDescriptor *entry,
    const void *pairs, size_t stride, size_t n)
{
	return str_map(a, entry, pairs, stride, n, false);
}

void **
orch_pb_str_map_dup(orch_arena *a, const ProtobufCMessageDescriptor *entry,
    const void *pairs, size_t stride, size_t n)
{
	return str_map(a, entry, pairs, stride, n, true);
}

bool
orch_pb_engine(orch_arena *a, const orch_engine *e, Orch__Engine *m)
{
	bool ok = true;
	size_t i = 0;

	/* Copies, like orch_pb_stream: ListEngines renders after the lock
	 * (the gateway serves the bytes to many; docs/GATEWAY.md). */
	orch__engine__init(m);
	m->container_id = orch_arena_strdup(a, e->container_id);
	m->container_name = orch_arena_strdup(a, e->container_name);
	m->host = orch_arena_strdup(a, e->host);
	m->port = e->port;
	m->forwarded = e->forwarded;
	m->vpn = orch_arena_strdup(a, e->vpn);
	ok = m->container_id != NULL &&
	     (e->container_name == NULL || m->container_name != NULL) &&
	     (e->host == NULL || m->host != NULL) &&
	     (e->vpn == NULL || m->vpn != NULL);
	m->health_status = (char *) orch_health_name(e->health);
	m->first_seen = orch_pb_ts(a, e->first_seen_us, &ok);
	m->last_seen = orch_pb_ts(a, e->last_seen_us, &ok);
	m->last_health_check = orch_pb_ts(a, e->last_health_check_us, &ok);
	m->last_stream_usage = orch_pb_ts(a, e->last_stream_usage_us, &ok);
	if (e->n_labels > 0) {
		m->labels = (Orch__Engine__LabelsEntry **) orch_pb_str_map_dup(
		    a, &orch__engine__labels_entry__descriptor, e->labels,
		    sizeof(e->labels[0]), e->n_labels);
		if (m->labels == NULL)
			return false;
		m->n_labels = e->n_labels;
	}
	if (e->n_active > 0) {
		char **ids =
		    orch_arena_alloc(a, (size_t) e->n_active * sizeof(*ids));

		if (ids == NULL)
			return false;
		for (const orch_list *n = e->active.next; n != &e->active;
		     n = n->next)
			if ((ids[i++] = orch_arena_strdup(a,
			         ORCH_CONTAINER_OF(n, orch_stream, eng_active)
			             ->id)) == NULL)
				return false;
		m->streams = ids;
		m->n_streams = i;
	}
	return ok;
}

bool
orch_pb_stat(orch_arena *a, const orch_stat *s, Orch__StatSnapshot *m)
{
	bool ok = true;

	orch__stat_snapshot__init(m);
	m->ts = orch_pb_ts(a, s->ts_us, &ok);
	m->has_peers = (s->has & ORCH_STAT_PEERS) != 0;
	m->peers = s->peers;
	m->has_speed_down = (s->has & ORCH_STAT_SPEED_DOWN) != 0;
	m->speed_down = s->speed_down;
	m->has_speed_up = (s->has & ORCH_STAT_SPEED_UP) != 0;
	m->speed_up = s->speed_up;
	m->has_downloaded = (s->has & ORCH_STAT_DOWNLOADED) != 0;
	m->downloaded = s->downloaded;
	m->has_uploaded = (s->has & ORCH_STAT_UPLOADED) != 0;
	m->uploaded = s->uploaded;
	if (s->has & ORCH_STAT_STATUS)
		m->status = (char *) s->status;
	return ok;
}

bool
orch_pb_stream(orch_arena *a, const orch_stream *s, Orch__Stream *m)
{
	bool ok = true;
	const orch_stat *last = orch_stream_latest_stat(s);

	/* Copies, not views: the caller may render after the core's lock
	 * is gone (ListStreams does, so that a large page is packed
	 * outside it). */
	orch__stream__init(m);
	m->id = orch_arena_strdup(a, s->id);
	m->key_type = orch_arena_strdup(a, s->key_type);
	m->key = orch_arena_strdup(a, s->key);
	m->container_id = orch_arena_strdup(a, s->container_id);
	m->playback_session_id = orch_arena_strdup(a, s->playback_session_id);
	m->stat_url = orch_arena_strdup(a, s->stat_url);
	m->command_url = orch_arena_strdup(a, s->command_url);
	m->is_live = s->is_live;
	m->started_at = orch_pb_ts(a, s->started_at_us, &ok);
	m->ended_at = orch_pb_ts(a, s->ended_at_us, &ok);
	m->status = s->active ? "started" : "ended";
	m->end_reason = orch_arena_strdup(a, s->end_reason);
	ok = ok && m->id != NULL && m->container_id != NULL;
	if (last != NULL) {
		m->stats = orch_arena_alloc(a, sizeof(*m->stats));
		if (m->stats == NULL || !orch_pb_stat(a, last, m->stats))
			return false;
		if (m->stats->status != NULL)
			m->stats->status = orch_arena_strdup(a, last->status);
	}
	return ok;
}

Orch__Stream **
orch_pb_streams(orch_arena *a, orch_stream *const *v, size_t n)
{
	Orch__Stream *ms = orch_arena_alloc(a, (n ? n : 1) * sizeof(*ms));
	Orch__Stream **pp = orch_arena_alloc(a, (n ? n : 1) * sizeof(*pp));

	if (ms == NULL || pp == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (!orch_pb_stream(a, v[i], &ms[i]))
			return NULL;
		pp[i] = &ms[i];
	}
	return pp;
}

void
orch_pb_refusal(const orch_refusal *r, Orch__ProvisioningRefusal *m)
{
	orch__provisioning_refusal__init(m);
	m->error = "provisioning_blocked";
	m->code = (char *) orch_refusal_code_name(r->code);
	m->message =
	    (char *) (r->message != NULL ? r->message
	                                 : orch_refusal_message(r->code));
	m->has_recovery_eta_seconds = r->eta_s >= 0;
	m->recovery_eta_seconds = r->eta_s;
	m->can_retry = r->can_retry;
	m->should_wait = r->should_wait;
}

void
orch_pb_breaker(const orch_breaker *b, int64_t now, Orch__Breaker *m,
    Orch__Timestamp *fail, Orch__Timestamp *ok)
{
	orch__breaker__init(m);
	m->state =
	    (char *) orch_breaker_state_name(orch_breaker_state_at(b, now));
	m->failure_count = b->failure_count;
	m->failure_threshold = b->failure_threshold;
	m->recovery_timeout = (int32_t) (b->recovery_timeout_us / 1000000);
	if (b->last_failure_us != 0) {
		orch__timestamp__init(fail);
		fail->unix_micros = b->last_failure_us;
		m->last_failure_time = fail;
	}
	if (b->last_success_us != 0) {
		orch__timestamp__init(ok);
		ok->unix_micros = b->last_success_us;
		m->last_success_time = ok;
	}
}

/* One port's bindings as Docker lists them. */
static Orch__PortBindingList *
bindings_pb(orch_arena *a, const orch_rt_port *p)
{
	Orch__PortBindingList *l = orch_arena_alloc(a, sizeof(*l));
	Orch__PortBinding *b =
	    orch_arena_alloc(a, (p->n_bindings + 1) * sizeof(*b));
	Orch__PortBinding **bp =
	    orch_arena_alloc(a, (p->n_bindings + 1) * sizeof(*bp));

	if (l == NULL || b == NULL || bp == NULL)
		return NULL;
	orch__port_binding_list__init(l);
	for (size_t j = 0; j < p->n_bindings; j++) {
		orch__port_binding__init(&b[j]);
		b[j].hostip = p->bindings[j].host_ip;
		b[j].hostport = p->bindings[j].host_port;
		bp[j] = &b[j];
	}
	l->bindings = bp;
	l->n_bindings = p->n_bindings;
	return l;
}

bool
orch_pb_container(
    orch_arena *a, const orch_rt_container *c, Orch__ContainerInfo *m)
{
	orch__container_info__init(m);
	m->id = c->id;
	m->name = c->name;
	m->image = c->image;
	m->created = c->created;
	m->status = c->state;
	if (c->n_labels > 0) {
		m->labels =
		    (Orch__ContainerInfo__LabelsEntry **) orch_pb_str_map(a,
		        &orch__container_info__labels_entry__descriptor,
		        c->labels, sizeof(c->labels[0]), c->n_labels);
		if (m->labels == NULL)
			return false;
		m->n_labels = c->n_labels;
	}
	if (c->n_ports > 0) {
		Orch__ContainerInfo__PortsEntry **pp =
		    (Orch__ContainerInfo__PortsEntry **) orch_pb_map_new(a,
		        &orch__container_info__ports_entry__descriptor,
		        c->n_ports);

		if (pp == NULL)
			return false;
		for (size_t i = 0; i < c->n_ports; i++) {
			pp[i]->key = c->ports[i].port;
			pp[i]->value = bindings_pb(a, &c->ports[i]);
			if (pp[i]->value == NULL)
				return false;
		}
		m->ports = pp;
		m->n_ports = c->n_ports;
	}
	return true;
}

bool
orch_pb_log_event(orch_arena *a, const orch_store_entry *e, Orch__LogEvent *m)
{
	bool ok = true;

	orch__log_event__init(m);
	m->id = e->id;
	m->ts = orch_pb_ts(a, e->ts_us, &ok);
	m->type = (char *) e->type;
	m->container_id = (char *) e->container_id;
	m->stream_id = (char *) e->stream_id;
	if (e->n_data > 0) {
		m->data = (Orch__LogEvent__DataEntry **) orch_pb_str_map(a,
		    &orch__log_event__data_entry__descriptor, e->data,
		    sizeof(e->data[0]), e->n_data);
		m->n_data = e->n_data;
		ok = ok && m->data != NULL;
	}
	return ok;
}

#include "src/service/call.h"

#include <stdarg.h>
#include <stdio.h>

#include "src/base/log.h"

/* Longest error message a call carries (the envelope's `message`). */
#define MSG_MAX 512

static void
answer(orch_call *call, orch_err status, const char *message,
    const Orch__ErrorDetail *detail, const ProtobufCMessage *payload)
{
	if (call->answered) {
		ORCH_WARN("rpc: %s answered twice; second answer dropped",
		    call->method != NULL ? call->method : "?");
		return;
	}
	call->answered = true;
	call->answer(call, status, message, detail, payload);
}

static void
vfail(orch_call *call, orch_err status, const Orch__ErrorDetail *detail,
    const char *fmt, va_list ap)
{
	char msg[MSG_MAX];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	answer(call, status, msg, detail, NULL);
}

void
orch_call_reply(orch_call *call, const ProtobufCMessage *reply)
{
	answer(call, ORCH_OK, NULL, NULL, reply);
}

void
orch_call_fail(orch_call *call, orch_err status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(call, status, NULL, fmt, ap);
	va_end(ap);
}

void
orch_call_fail_field(orch_call *call, const char *field, const char *fmt, ...)
{
	Orch__ErrorDetail detail = ORCH__ERROR_DETAIL__INIT;
	va_list ap;

	detail.field = (char *) field;
	va_start(ap, fmt);
	vfail(call, ORCH_EINVAL, &detail, fmt, ap);
	va_end(ap);
}

void
orch_call_fail_detail(orch_call *call, orch_err status,
    const Orch__ErrorDetail *detail, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(call, status, detail, fmt, ap);
	va_end(ap);
}

void
orch_call_fail_diag(orch_call *call, orch_err status, const orch_diag *d)
{
	Orch__ErrorDetail detail = ORCH__ERROR_DETAIL__INIT;
	const char *msg = orch_diag_msg(d, orch_strerror(status));

	if (d != NULL && d->field[0] != '\0') {
		detail.field = (char *) d->field;
		orch_call_fail_detail(call, status, &detail, "%s", msg);
	} else {
		orch_call_fail(call, status, "%s", msg);
	}
}

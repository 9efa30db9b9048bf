#include "src/base/diag.h"

#include <stdio.h>

void
orch_diag_clear(orch_diag *d)
{
	if (d == NULL)
		return;
	d->msg[0] = '\0';
	d->field[0] = '\0';
	d->status = 0;
}

void
orch_diag_vset(orch_diag *d, const char *fmt, va_list ap)
{
	if (d != NULL)
		vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
}

void
orch_diag_set(orch_diag *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	orch_diag_vset(d, fmt, ap);
	va_end(ap);
}

void
orch_diag_field(orch_diag *d, const char *field, const char *fmt, ...)
{
	va_list ap;

	if (d == NULL)
		return;
	snprintf(d->field, sizeof(d->field), "%s", field != NULL ? field : "");
	va_start(ap, fmt);
	orch_diag_vset(d, fmt, ap);
	va_end(ap);
}

const char *
orch_diag_msg(const orch_diag *d, const char *fallback)
{
	return d != NULL && d->msg[0] != '\0' ? d->msg : fallback;
}

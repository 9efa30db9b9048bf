#include "src/base/err.h"

#include <stddef.h>

/* Indexed by gRPC code 0..16: {status name, description}. */
static const struct {
	const char *name;
	const char *text;
} status_table[] = {
    {"OK", "success"},
    {"CANCELLED", "cancelled"},
    {"UNKNOWN", "unknown error"},
    {"INVALID_ARGUMENT", "invalid argument"},
    {"DEADLINE_EXCEEDED", "deadline exceeded"},
    {"NOT_FOUND", "not found"},
    {"ALREADY_EXISTS", "already exists"},
    {"PERMISSION_DENIED", "permission denied"},
    {"RESOURCE_EXHAUSTED", "resource exhausted"},
    {"FAILED_PRECONDITION", "failed precondition"},
    {"ABORTED", "aborted"},
    {"OUT_OF_RANGE", "out of range"},
    {"UNIMPLEMENTED", "unimplemented"},
    {"INTERNAL", "internal error"},
    {"UNAVAILABLE", "unavailable"},
    {"DATA_LOSS", "data loss"},
    {"UNAUTHENTICATED", "unauthenticated"},
};

#define STATUS_COUNT ((int) (sizeof(status_table) / sizeof(status_table[0])))

int
orch_err_to_status(orch_err err)
{
	switch (err) {
	case ORCH_ENOMEM:
	case ORCH_ESYS:
		return ORCH_EINTERNAL;
	case ORCH_ECLOSED:
		return ORCH_EUNAVAIL;
	default:
		break;
	}
	if ((int) err < 0 || (int) err >= STATUS_COUNT)
		return ORCH_EUNKNOWN;
	return (int) err;
}

const char *
orch_err_status_name(orch_err err)
{
	return status_table[orch_err_to_status(err)].name;
}

const char *
orch_strerror(orch_err err)
{
	switch (err) {
	case ORCH_ENOMEM:
		return "out of memory";
	case ORCH_ECLOSED:
		return "closed";
	case ORCH_ESYS:
		return "system call failed";
	default:
		break;
	}
	if ((int) err < 0 || (int) err >= STATUS_COUNT)
		return "unknown error code";
	return status_table[err].text;
}

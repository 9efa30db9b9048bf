/*
 * The project's one error enum.
 *
 * Values are gRPC's status codes, number for number, so that a function's
 * return code is also what travels in an RPC reply envelope: a handler that
 * returns ORCH_ENOTFOUND answers NOT_FOUND without a translation table.
 * ORCH_ENOMEM is ours alone; on the wire it becomes INTERNAL.
 */
#ifndef ORCH_BASE_ERR_H
#define ORCH_BASE_ERR_H

typedef enum orch_err {
	ORCH_OK = 0,
	ORCH_ECANCELLED = 1, /* CANCELLED */
	ORCH_EUNKNOWN = 2,   /* UNKNOWN */
	ORCH_EINVAL = 3,     /* INVALID_ARGUMENT */
	ORCH_ETIMEDOUT = 4,  /* DEADLINE_EXCEEDED */
	ORCH_ENOTFOUND = 5,  /* NOT_FOUND */
	ORCH_EEXIST = 6,     /* ALREADY_EXISTS */
	ORCH_EPERM = 7,      /* PERMISSION_DENIED */
	ORCH_EEXHAUSTED = 8, /* RESOURCE_EXHAUSTED */
	ORCH_EPRECOND = 9,   /* FAILED_PRECONDITION */
	ORCH_EABORTED = 10,  /* ABORTED */
	ORCH_ERANGE = 11,    /* OUT_OF_RANGE */
	ORCH_ENOTSUP = 12,   /* UNIMPLEMENTED */
	ORCH_EINTERNAL = 13, /* INTERNAL */
	ORCH_EUNAVAIL = 14,  /* UNAVAILABLE */
	ORCH_EDATALOSS = 15, /* DATA_LOSS */
	ORCH_EUNAUTH = 16,   /* UNAUTHENTICATED */
	ORCH_ENOMEM = 100,   /* out of memory; INTERNAL on the wire */
	ORCH_ECLOSED = 101,  /* object closed / shutting down; UNAVAILABLE */
	ORCH_ESYS = 102,     /* a system call failed; INTERNAL */
} orch_err;

/* A static, human-readable description of err (never NULL). */
const char *orch_strerror(orch_err err);

/* The gRPC status name of err ("NOT_FOUND"); codes >= 100 map first. */
const char *orch_err_status_name(orch_err err);

/* The gRPC status code err travels as (0..16). */
int orch_err_to_status(orch_err err);

#endif

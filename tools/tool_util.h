/* SPDX-License-Identifier: MIT */
/*
 * Small pieces the tools share (header-only: each tool is one .c file).
 */
#ifndef PIDRING_TOOL_UTIL_H
#define PIDRING_TOOL_UTIL_H

#include "pidring.h"

/* A DONE's reason as its enum name, for reports. */
static inline const char *reason_name(int r)
{
	switch (r) {
	case PIDRING_EXITED:        return "EXITED";
	case PIDRING_EXITED_EARLY:  return "EXITED_EARLY";
	case PIDRING_CANCELLED:     return "CANCELLED";
	case PIDRING_STOPPED:       return "STOPPED";
	case PIDRING_READY_TIMEOUT: return "READY_TIMEOUT";
	default:                    return "?";
	}
}

#endif

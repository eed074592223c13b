/* SPDX-License-Identifier: MIT */
/*
 * What an older liburing lacks, selected by liburing's version at build time.
 *
 * liburing 2.3 (Debian 12) has no version header, no IORING_OP_WAITID and no
 * io_uring_prep_waitid; 2.4 added <liburing/io_uring_version.h>, 2.5 the
 * WAITID prep and opcode. The kernel side (opcode 50, 6.7+) is probed at run
 * time; this header only makes the build work on either library.
 */
#ifndef PR_COMPAT_H
#define PR_COMPAT_H

#include <liburing.h>
#include <signal.h>
#include <sys/wait.h>

#if defined(__has_include)
#if __has_include(<liburing/io_uring_version.h>)
#include <liburing/io_uring_version.h>
#endif
#endif

#if defined(IO_URING_VERSION_MAJOR) && \
	(IO_URING_VERSION_MAJOR > 2 || \
	 (IO_URING_VERSION_MAJOR == 2 && IO_URING_VERSION_MINOR >= 5))
#define PR_LIBURING_HAS_WAITID 1
#else
#define PR_LIBURING_HAS_WAITID 0
#endif

#if PR_LIBURING_HAS_WAITID
#define PR_OP_WAITID IORING_OP_WAITID
#else
/* The opcode number is ABI: include/uapi/linux/io_uring.h, kernel 6.7. */
#define PR_OP_WAITID 50
#endif

/*
 * WAITID's SQE layout: fd = id, len = idtype, file_index = options,
 * addr2 = siginfo pointer; the per-op flags word (rw_flags) must be zero or
 * the kernel rejects the request with -EINVAL.
 */
static inline void pr_prep_waitid(struct io_uring_sqe *sqe, idtype_t idtype,
				  id_t id, siginfo_t *infop, int options)
{
#if PR_LIBURING_HAS_WAITID
	io_uring_prep_waitid(sqe, idtype, id, infop, options, 0);
#else
	io_uring_prep_rw(PR_OP_WAITID, sqe, (int)id, NULL, (unsigned)idtype, 0);
	sqe->rw_flags = 0;
	sqe->file_index = (unsigned)options;
	sqe->addr2 = (unsigned long)infop;
#endif
}

#ifndef IORING_SETUP_SINGLE_ISSUER
#define IORING_SETUP_SINGLE_ISSUER (1U << 12)
#endif
#ifndef IORING_SETUP_DEFER_TASKRUN
#define IORING_SETUP_DEFER_TASKRUN (1U << 13)
#endif

#endif /* PR_COMPAT_H */

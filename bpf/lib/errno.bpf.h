/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The errnos BPF code returns (vmlinux.h carries no #define). */
#ifndef VIGIL_LIB_ERRNO_BPF_H
#define VIGIL_LIB_ERRNO_BPF_H

#define VIGIL_ENOENT 2
#define VIGIL_EBADF 9
#define VIGIL_ENOMEM 12
#define VIGIL_EFAULT 14
#define VIGIL_EINVAL 22
/* The highest errno an ERR_PTR holds (include/linux/err.h MAX_ERRNO) */
#define VIGIL_MAX_ERRNO 4095

#endif

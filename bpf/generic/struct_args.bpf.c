// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The generic sensor with struct arguments built in: fd, file, path and
 * dentry named by the kernel's path walk, sock read field by field, and the
 * socket operators on them. The same programs and maps as tracepoint.bpf.c,
 * which a hook loads when it reads none of these, so that it does not carry
 * (and pay the kernel memory of) code it never runs
 * (sensors/generic_tracepoint.py chooses).
 */
#define VIGIL_STRUCT_ARGS 1
#include "generic/tracepoint.bpf.c"

/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Every kernel field that changed shape across the kernels vigil supports is
 * read here and nowhere else, each with the change that made it vary.
 */
#ifndef VIGIL_LIB_CORE_FIXES_BPF_H
#define VIGIL_LIB_CORE_FIXES_BPF_H

#include <bpf/bpf_core_read.h>

/*
 * kernel_cap_t was `struct { __u32 cap[2]; }` until Linux 6.3 made it
 * `struct { u64 val; }` (commit f122a08b197d "capability: just use a 'u64'
 * instead of a 'u32[2]' array"). Both are 8 bytes, little-endian cap[0] is the
 * low word, so reading the field's 8 bytes at its relocated offset gives the
 * same mask on either side of the change.
 */
static __always_inline __u64 read_cap(const kernel_cap_t *cap)
{
	__u64 mask = 0;

	bpf_core_read(&mask, sizeof(mask), cap);
	return mask;
}

/* task->loginuid only exists with CONFIG_AUDIT; without it there is no
 * login uid, which the kernel itself reports as (uid_t)-1. */
static __always_inline __u32 read_loginuid(struct task_struct *task)
{
	if (!bpf_core_field_exists(task->loginuid))
		return (__u32)-1;
	return BPF_CORE_READ(task, loginuid.val);
}

/*
 * Recent kernels (6.18 has it, 6.12 does not) give the sched_process_exit
 * tracepoint its own record with a `group_dead` field; older kernels share the
 * sched_process_template record, and we fall back to signal->live, which
 * do_exit() has already decremented when the tracepoint fires. group_dead is
 * exact; the fallback can see two threads exiting at once both as last, so
 * user space also drops a second exit for the same process.
 */
struct trace_event_raw_sched_process_exit___new {
	bool group_dead;
} __attribute__((preserve_access_index));

static __always_inline bool exit_is_group_dead(void *ctx, struct task_struct *task)
{
	struct trace_event_raw_sched_process_exit___new *tp = ctx;

	if (bpf_core_field_exists(tp->group_dead)) {
		bool dead = false;

		bpf_core_read(&dead, sizeof(dead), &tp->group_dead);
		return dead;
	}
	return BPF_CORE_READ(task, signal, live.counter) == 0;
}

/*
 * struct load_info is the module loader's own (kernel/module/internal.h since
 * Linux 5.19's split of kernel/module.c, kernel/module.c before): it is in a
 * kernel's BTF only where modules are built in, and the reference kernel of
 * vmlinux.h has none. The fields read, declared here for CO-RE to relocate;
 * sig_ok exists with CONFIG_MODULE_SIG only (callers test it).
 */
struct load_info {
	const char *name;
	struct module *mod;
	bool sig_ok;
} __attribute__((preserve_access_index));

#endif

// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* bpf_current_task_under_cgroup() with a cgroup array, as a policy scoped to
 * cgroups uses them (bpf/generic/tracepoint.bpf.c): in an object of its own,
 * so a kernel without the map type fails only this probe. vigil.kernel.probe
 * puts the cgroup v2 root in slot 0, under which every task is: the helper
 * must return 1. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "probe/probe.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* slot 0: the cgroup v2 root's directory fd, written by the probe before the trigger */
struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} scope SEC(".maps");

SEC("tp/syscalls/sys_enter_getpid")
int task_under_cgroup(void *ctx)
{
	if (!mine())
		return 0;
	put_value(bpf_current_task_under_cgroup(&scope, 0));
	hit();
	return 0;
}

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Lesson 2: hash, array and per-CPU array maps, and counting from two CPUs
 * at once. count_exec runs on every execve(2) entry and counts it five
 * ways; user space reads the maps and shows which counts agree. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* tgid -> execve calls. Written by count_exec; read by user space. LRU:
 * when full, the pid used longest ago makes room; a plain hash would
 * refuse every new pid once 1024 had ever called execve. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} exec_count SEC(".maps");

/* Time slot (65 us) -> calls, counted the guide's way and the fixed way.
 * Written by count_exec; user space adds up and deletes the slots that
 * are over, so 16384 is plenty. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u64);
} guide_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u64);
} fixed_slots SEC(".maps");

/* [0]: every call, one counter that all CPUs share. Written by
 * count_exec; read by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} shared_total SEC(".maps");

/* [0]: calls seen on this CPU, one copy per CPU. Written by count_exec;
 * user space sums the copies. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} percpu_total SEC(".maps");

/* 0: count every process; else only the children of this tgid (the
 * lesson's trigger), so that the counts can be checked exactly. */
const volatile __u32 parent_tgid = 0;

/* The fix: an insert of 0 with BPF_NOEXIST fails harmlessly when another
 * CPU got there first; then every CPU adds to the one element there is. */
static __always_inline void count_key(void *map, const void *key)
{
	__u64 zero = 0, *count;

	bpf_map_update_elem(map, key, &zero, BPF_NOEXIST);
	count = bpf_map_lookup_elem(map, key);
	if (count)
		__sync_fetch_and_add(count, 1);
}

SEC("tp/syscalls/sys_enter_execve")
int count_exec(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32, zero = 0;
	__u64 slot = bpf_ktime_get_ns() >> 16, one = 1, *count;

	if (parent_tgid) {
		struct task_struct *task = (void *)bpf_get_current_task();

		if (BPF_CORE_READ(task, real_parent, tgid) != parent_tgid)
			return 0;
	}

	/* The guide's pattern. Two CPUs can both miss the lookup and both
	 * insert 1: the second insert replaces the first, and its count. */
	count = bpf_map_lookup_elem(&guide_slots, &slot);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&guide_slots, &slot, &one, BPF_ANY);

	count_key(&fixed_slots, &slot);
	count_key(&exec_count, &tgid);

	/* An array's elements always exist, so there is no insert to race;
	 * the add must still be atomic: every CPU writes the same word. */
	count = bpf_map_lookup_elem(&shared_total, &zero);
	if (count)
		__sync_fetch_and_add(count, 1);

	/* This CPU's own copy: nobody else writes it, a plain add is safe. */
	count = bpf_map_lookup_elem(&percpu_total, &zero);
	if (count)
		*count += 1;
	return 0;
}

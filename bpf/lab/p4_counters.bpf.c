// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Pitfall 4: `*count += 1` on a shared counter loses updates.
 *
 * `count_calls` counts the same getppid(2) calls four ways. A program runs
 * on every CPU at once; a plain increment is a load, an add and a store, so
 * two CPUs can load the same value and one of the two stores is lost.
 *   plain:  *count += 1                  (loses updates, rarely)
 *   wide:   the same with a helper call between the load and the store,
 *           as real code has; the window is wider, the loss easy to see
 *   atomic: __sync_fetch_and_add          (one locked instruction: exact)
 *   percpu: a per-CPU slot, summed by user space (no sharing: exact)
 * `count_locked` tries the guide's third answer, bpf_spin_lock: the verifier
 * refuses it in every kprobe/tracepoint/raw_tp/perf_event program. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

enum { PLAIN, WIDE, ATOMIC, NR_SHARED };

/* Counters every CPU shares: written here, read by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NR_SHARED);
	__type(key, __u32);
	__type(value, __u64);
} shared SEC(".maps");

/* One counter per CPU: written here, summed over CPUs by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} percpu SEC(".maps");

/* The trigger's processes (tgid -> 1): written by user space, read here. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u8);
} workers SEC(".maps");

/* Count every process's calls, not only the workers'; set before load. */
const volatile bool count_all = false;

static __always_inline __u64 *slot(void *map, __u32 key)
{
	return bpf_map_lookup_elem(map, &key);
}

SEC("tp/syscalls/sys_enter_getppid")
int count_calls(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 *plain, *wide, *atomic, *mine, v;

	if (!count_all && !bpf_map_lookup_elem(&workers, &tgid))
		return 0;
	plain = slot(&shared, PLAIN);
	wide = slot(&shared, WIDE);
	atomic = slot(&shared, ATOMIC);
	mine = slot(&percpu, 0);
	if (!plain || !wide || !atomic || !mine)
		return 0;

	*plain += 1;			/* load, add, store: not one step */

	v = *wide;			/* load */
	bpf_ktime_get_ns();		/* stands for the work between them */
	*wide = v + 1;			/* store: another CPU's store meanwhile is lost */

	__sync_fetch_and_add(atomic, 1);	/* lock xadd */

	*mine += 1;			/* only this CPU writes this slot */
	return 0;
}

/* The guide's bpf_spin_lock, for comparison: refused in tracing programs. */
struct locked {
	struct bpf_spin_lock lock;
	__u64 count;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct locked);
} locked SEC(".maps");

SEC("tp/syscalls/sys_enter_getppid")
int count_locked(void *ctx)
{
	__u32 zero = 0;
	struct locked *l = bpf_map_lookup_elem(&locked, &zero);

	if (!l)
		return 0;
	bpf_spin_lock(&l->lock);
	l->count += 1;
	bpf_spin_unlock(&l->lock);
	return 0;
}

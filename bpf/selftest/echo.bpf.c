// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Self-test object for vigil's libbpf binding: every feature the binding
 * wraps (rodata knobs, ring buffer, perf buffer, hash and per-CPU maps,
 * tracepoint and raw tracepoint attach) is exercised by one getpgid(2) call.
 * The syscall is one nothing else in a test process makes, so a count of
 * calls in user space must equal every count here exactly.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* getpgid's number for the raw tracepoint filter: raw_tp/sys_enter sees
 * every syscall and only its number tells them apart. */
#if defined(__TARGET_ARCH_x86)
#define ECHO_NR_GETPGID 121
#elif defined(__TARGET_ARCH_arm64)
#define ECHO_NR_GETPGID 155
#else
#error "echo.bpf.c: add getpgid's syscall number for this architecture"
#endif

/* The record both buffers carry; tests decode it as struct.Struct("<IIQ"). */
struct echo_record {
	__u32 tgid;
	__u32 seq;
	__u64 arg;
};

/* on_getpgid writes one record per call; the test reads it with RingBuffer. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} records SEC(".maps");

/* on_sys_enter writes one record per call; the test reads it with PerfBuffer. */
struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} perf_records SEC(".maps");

/* on_getpgid counts calls per tgid; the test reads it through Map.typed. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} calls SEC(".maps");

/* on_getpgid counts calls per CPU in slot 0; the test sums the CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} percpu_calls SEC(".maps");

/* on_libc_getpgid counts calls to libc's getpgid(); the test reads slot 0. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} uprobe_calls SEC(".maps");

/* Set by user space before load: only this process is echoed. */
const volatile __u32 target_tgid = 0;

/* Sequence numbers, one counter per buffer so each stream starts at 0. A
 * plain increment: the test calls from one thread, and fetching an atomic
 * add's result (BPF_FETCH) needs Linux 5.12, newer than the oldest kernel
 * the suite runs on. */
__u32 ring_seq = 0;
__u32 perf_seq = 0;

static __always_inline void count_call(__u32 tgid)
{
	__u64 one = 1, *count;
	__u32 zero = 0;

	count = bpf_map_lookup_elem(&calls, &tgid);
	if (count) {
		__sync_fetch_and_add(count, 1);
	} else if (bpf_map_update_elem(&calls, &tgid, &one, BPF_NOEXIST)) {
		/* Another CPU inserted it between our lookup and update. */
		count = bpf_map_lookup_elem(&calls, &tgid);
		if (count)
			__sync_fetch_and_add(count, 1);
	}

	/* Per-CPU slots need no atomics: only this CPU writes its slot. */
	count = bpf_map_lookup_elem(&percpu_calls, &zero);
	if (count)
		*count += 1;
}

SEC("tp/syscalls/sys_enter_getpgid")
int on_getpgid(struct trace_event_raw_sys_enter *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct echo_record *rec;

	if (tgid != target_tgid)
		return 0;

	rec = bpf_ringbuf_reserve(&records, sizeof(*rec), 0);
	if (rec) {
		rec->tgid = tgid;
		rec->seq = ring_seq++;
		/* sys_enter_getpgid's only field, pid, sits where args[0] is. */
		rec->arg = ctx->args[0];
		bpf_ringbuf_submit(rec, 0);
	}
	count_call(tgid);
	return 0;
}

SEC("raw_tp/sys_enter")
int on_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	/* sys_enter's arguments are (struct pt_regs *regs, long id). */
	long id = (long)ctx->args[1];
	struct echo_record rec = {};

	if (tgid != target_tgid || id != ECHO_NR_GETPGID)
		return 0;

	rec.tgid = tgid;
	rec.seq = perf_seq++;
	rec.arg = id;
	bpf_perf_event_output(ctx, &perf_records, BPF_F_CURRENT_CPU, &rec, sizeof(rec));
	return 0;
}

/* No target in the section: user space names the binary and symbol, since
 * libc's path differs between distributions. */
SEC("uprobe")
int on_libc_getpgid(void *ctx)
{
	__u32 zero = 0;
	__u64 *count;

	if ((__u32)(bpf_get_current_pid_tgid() >> 32) != target_tgid)
		return 0;
	count = bpf_map_lookup_elem(&uprobe_calls, &zero);
	if (count)
		__sync_fetch_and_add(count, 1);
	return 0;
}

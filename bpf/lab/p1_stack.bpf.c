// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Pitfall 1: the 512-byte stack is per call chain, not per function.
 *
 * Each function below keeps one 320-byte buffer, so clang (which checks one
 * frame at a time) compiles them all. The verifier adds up the frames of a
 * chain of bpf-to-bpf calls: 320 + 320 is over 512 and the program is refused
 * ("combined stack size of 2 calls is ... Too large"). Since Linux 6.13,
 * x86-64 gives kprobe/tracepoint/raw_tp/perf_event programs a private stack
 * per function, so `stack_chain` loads there, but not on 6.12 and older, not
 * on arm64, and never in a program that tail-calls (`stack_chain_tail`), which
 * is every Tetragon pipeline. The fix (`heap_chain_tail`) puts the buffers in
 * a per-CPU array "heap" and loads everywhere. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define BUF_LEN 320	/* one buffer fits a frame; two chained do not */
#define HEAD_LEN 32

struct seen {
	__s32 file_len;		/* bpf_probe_read_user_str's result: length + NUL */
	__s32 arg_len;
	__u32 stage;		/* 2: written by the tail-called second stage */
	char file[HEAD_LEN];	/* the first bytes, for display */
	char arg[HEAD_LEN];
};

/* The heap: one entry per CPU, big enough for both buffers. Written and read
 * by heap_chain_tail and, after the tail call, heap_report (same CPU). */
struct scratch {
	char file[BUF_LEN];
	char arg[BUF_LEN];
	struct seen s;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} heap SEC(".maps");

/* What each execve carried, by tgid: written by the programs, read by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct seen);
} seen SEC(".maps");

/* The pipeline's next stage: user space puts heap_report's fd in slot 0. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} next_stage SEC(".maps");

/* ---- the pitfall: both buffers on the stack ---------------------------- */

/* A real call (not inlined): its frame is stacked on top of its caller's. */
static __noinline void arg1_on_stack(const char *const *argv, struct seen *s)
{
	char arg[BUF_LEN];	/* 320 bytes in this frame */
	const char *p = NULL;

	bpf_probe_read_user(&p, sizeof(p), &argv[1]);
	s->arg_len = bpf_probe_read_user_str(arg, sizeof(arg), p);
	bpf_probe_read_kernel_str(s->arg, sizeof(s->arg), arg);
}

static __always_inline void record_on_stack(struct trace_event_raw_sys_enter *ctx)
{
	char file[BUF_LEN];	/* 320 bytes in the caller's frame */
	struct seen s = {};
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	s.file_len = bpf_probe_read_user_str(file, sizeof(file), (void *)ctx->args[0]);
	bpf_probe_read_kernel_str(s.file, sizeof(s.file), file);
	arg1_on_stack((const char *const *)ctx->args[1], &s);
	s.stage = 1;
	bpf_map_update_elem(&seen, &tgid, &s, BPF_ANY);
}

SEC("tp/syscalls/sys_enter_execve")
int stack_chain(struct trace_event_raw_sys_enter *ctx)
{
	record_on_stack(ctx);
	return 0;
}

SEC("tp/syscalls/sys_enter_execve")
int stack_chain_tail(struct trace_event_raw_sys_enter *ctx)
{
	record_on_stack(ctx);
	/* Any tail call in the program: no private stack, the 512 bytes hold. */
	bpf_tail_call(ctx, &next_stage, 0);
	return 0;
}

/* ---- the fix: both buffers in the per-CPU heap --------------------------- */

static __noinline void arg1_in_heap(const char *const *argv, struct scratch *h)
{
	const char *p = NULL;

	bpf_probe_read_user(&p, sizeof(p), &argv[1]);
	h->s.arg_len = bpf_probe_read_user_str(h->arg, sizeof(h->arg), p);
	bpf_probe_read_kernel_str(h->s.arg, sizeof(h->s.arg), h->arg);
}

SEC("tp/syscalls/sys_enter_execve")
int heap_chain_tail(struct trace_event_raw_sys_enter *ctx)
{
	__u32 zero = 0;
	struct scratch *h = bpf_map_lookup_elem(&heap, &zero);

	if (!h)
		return 0;
	/* The heap keeps the previous event's bytes (pitfall 2): clear the record. */
	__builtin_memset(&h->s, 0, sizeof(h->s));
	h->s.file_len = bpf_probe_read_user_str(h->file, sizeof(h->file), (void *)ctx->args[0]);
	bpf_probe_read_kernel_str(h->s.file, sizeof(h->s.file), h->file);
	arg1_in_heap((const char *const *)ctx->args[1], h);
	h->s.stage = 1;
	/* The stack is gone after a tail call; the heap is not. */
	bpf_tail_call(ctx, &next_stage, 0);
	return 0;
}

SEC("tp/syscalls/sys_enter_execve")
int heap_report(struct trace_event_raw_sys_enter *ctx)
{
	__u32 zero = 0, tgid = bpf_get_current_pid_tgid() >> 32;
	struct scratch *h = bpf_map_lookup_elem(&heap, &zero);

	if (!h)
		return 0;
	h->s.stage = 2;
	bpf_map_update_elem(&seen, &tgid, &h->s, BPF_ANY);
	return 0;
}

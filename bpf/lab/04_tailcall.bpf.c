// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Lesson 4: tail calls. dispatch runs on every execve(2) entry and jumps
 * through a prog array, stage by stage: parse -> filter -> output. User
 * space fills the array, and changes it while the programs run. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

enum { SLOT_PARSE, SLOT_FILTER, SLOT_OUTPUT, SLOT_EXTRA, NR_SLOTS };
enum { RAN_DISPATCH = 1, RAN_PARSE = 2, RAN_FILTER = 4, RAN_OUTPUT = 8, RAN_AGAIN = 16 };

/* What one chain did; src/vigil/lab/lessons/l04_tailcall.py mirrors it. */
struct chain_event {
	__u32 pid;
	__u32 ran;		/* RAN_* bits: the programs that ran */
	__u32 tail_calls;	/* tail calls that jumped */
	__u32 failed_slot;	/* the slot whose tail call came back */
	char comm[16];
};

/* Slot -> program. Written by user space (program fds); read by
 * bpf_tail_call. Sizes, not BTF types: the kernel refuses BTF for a prog
 * array's keys and values. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, NR_SLOTS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} stages SEC(".maps");

/* The state each stage hands to the next. Written and read by all stages:
 * a chain runs start to end on one CPU, nothing else tracing in between. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct chain_event);
} chain SEC(".maps");

/* Finished chains. Written by finish(); read by the runner. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

/* 0: every process goes past filter; else only children of this tgid. */
const volatile __u32 parent_tgid = 0;

static __always_inline struct chain_event *state(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&chain, &zero);
}

/* Runs only after a tail call came back: its slot was empty, or the chain
 * had used up its tail calls. A tail call that jumps never returns. */
static __always_inline int finish(struct chain_event *s, __u32 slot)
{
	s->failed_slot = slot;
	bpf_ringbuf_output(&events, s, sizeof(*s), 0);
	return 0;
}

SEC("tp/syscalls/sys_enter_execve")
int dispatch(void *ctx)
{
	struct chain_event *s = state();

	if (!s)
		return 0;
	/* The previous chain on this CPU left its state here. */
	*s = (struct chain_event){ .pid = bpf_get_current_pid_tgid() >> 32,
				   .ran = RAN_DISPATCH };
	bpf_tail_call(ctx, &stages, SLOT_PARSE);
	return finish(s, SLOT_PARSE);
}

/* The stages are tracepoint programs like dispatch (a tail call only goes
 * to a program of the same type), but attached nowhere: bare "tp". */
SEC("tp")
int parse(void *ctx)
{
	struct chain_event *s = state();

	if (!s)
		return 0;
	s->ran |= RAN_PARSE;
	s->tail_calls++;
	bpf_get_current_comm(s->comm, sizeof(s->comm));
	bpf_tail_call(ctx, &stages, SLOT_FILTER);
	return finish(s, SLOT_FILTER);
}

SEC("tp")
int filter(void *ctx)
{
	struct chain_event *s = state();
	struct task_struct *task = (void *)bpf_get_current_task();

	if (!s)
		return 0;
	s->ran |= RAN_FILTER;
	s->tail_calls++;
	/* Returning ends the chain: nothing runs after this program. */
	if (parent_tgid && BPF_CORE_READ(task, real_parent, tgid) != parent_tgid)
		return 0;
	bpf_tail_call(ctx, &stages, SLOT_OUTPUT);
	return finish(s, SLOT_OUTPUT);
}

SEC("tp")
int output(void *ctx)
{
	struct chain_event *s = state();

	if (!s)
		return 0;
	s->ran |= RAN_OUTPUT;
	s->tail_calls++;
	/* SLOT_EXTRA is empty unless user space put `again` there. */
	bpf_tail_call(ctx, &stages, SLOT_EXTRA);
	return finish(s, SLOT_EXTRA);
}

/* Tail-calls itself until the kernel refuses: MAX_TAIL_CALL_CNT counts
 * every tail call since dispatch started. */
SEC("tp")
int again(void *ctx)
{
	struct chain_event *s = state();

	if (!s)
		return 0;
	s->ran |= RAN_AGAIN;
	s->tail_calls++;
	bpf_tail_call(ctx, &stages, SLOT_EXTRA);
	return finish(s, SLOT_EXTRA);
}

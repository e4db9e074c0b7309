// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Lesson 6: CO-RE. One object, built once against 6.18's vmlinux.h, reads
 * kernel structs correctly on 5.10, 6.1, 6.12 and 6.18: libbpf rewrites every
 * field offset at load time from the running kernel's BTF, answers "does this
 * field/type exist here?" questions, and the program reads argv from the new
 * process's stack. Runs at sched_process_exec, when the new image is in place. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define ARGS_MAX 256

/* task_struct's run state was `volatile long state` until 5.14 made it
 * `unsigned int __state` (commit 2f064a59a11f "sched: Change
 * task_struct::state"). vmlinux.h (6.18) only knows __state, so the old
 * layout is declared here as a flavour: libbpf ignores the name from "___" on
 * and matches this struct against the kernel's task_struct, field by name. */
struct task_struct___pre514 {
	long state;
} __attribute__((preserve_access_index));

/* The record user space reads (every field is written: ring buffer memory is
 * not zeroed). */
struct exec_event {
	__u32 pid;
	__u32 ppid;
	__u32 state;		/* run state, from whichever field this kernel has */
	__u32 args_len;		/* bytes of args[] filled */
	__u8 has_state;		/* task_struct.__state exists (5.14+) */
	__u8 has_cap_val;	/* kernel_cap_t.val exists (6.3+) */
	__u8 has_iter_num;	/* struct bpf_iter_num exists (6.4+) */
	__u8 args_truncated;
	char comm[16];
	char args[ARGS_MAX];	/* argv, NUL-separated */
};

/* Never used: puts struct exec_event into the object's BTF for the layout test. */
const struct exec_event *unused_event __attribute__((unused));

/* One record per exec: written here, read by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

static __always_inline __u32 task_state(struct task_struct *task)
{
	/* libbpf resolves the condition to a constant 1 or 0 at load; the
	 * verifier never walks the dead branch, whose relocation could not be
	 * resolved on this kernel. */
	if (bpf_core_field_exists(task->__state))
		return BPF_CORE_READ(task, __state);
	return BPF_CORE_READ((struct task_struct___pre514 *)task, state);
}

SEC("tp/sched/sched_process_exec")
int core_exec(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct task_struct *parent;
	struct exec_event *e;
	unsigned long arg_start, arg_end, len;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;

	/* One hop at a time: bpf_core_read() reads only the last address it
	 * is given, so the pointer before it must already be read. */
	parent = BPF_CORE_READ(task, real_parent);
	bpf_core_read(&e->ppid, sizeof(e->ppid), &parent->tgid);

	e->state = task_state(task);
	e->has_state = bpf_core_field_exists(task->__state);
	e->has_cap_val = bpf_core_field_exists(((struct cred *)0)->cap_effective.val);
	e->has_iter_num = bpf_core_type_exists(struct bpf_iter_num);
	bpf_get_current_comm(e->comm, sizeof(e->comm));

	/* A chain: task->mm->arg_start, each hop a relocated probe read. argv
	 * lives on the new process's user stack, NUL-separated, so it is read
	 * with bpf_probe_read_user (not _str, which would stop at argv[0]). */
	arg_start = BPF_CORE_READ(task, mm, arg_start);
	arg_end = BPF_CORE_READ(task, mm, arg_end);
	len = arg_end - arg_start;
	e->args_truncated = len > ARGS_MAX;
	if (len > ARGS_MAX)
		len = ARGS_MAX;
	if (bpf_probe_read_user(e->args, len, (void *)arg_start))
		len = 0;
	e->args_len = len;

	bpf_ringbuf_submit(e, 0);
	return 0;
}

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Lesson 3: a tracepoint's own record, and events through a ring buffer.
 * trace_exec runs after every successful execve(2), reads the new
 * program's file name out of the tracepoint record and sends one event to
 * user space. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* What user space receives; src/vigil/lab/lessons/l03_execve.py mirrors it
 * and a unit test checks the mirror against this object's BTF. */
struct exec_event {
	__u32 pid;
	__u32 ppid;
	__u32 uid;
	char comm[16];
	char filename[256];
};

/* Never used: clang puts a type into the object's BTF only where a global,
 * a map or a function names it, and the mirror check needs it there. */
const struct exec_event *unused_exec_event __attribute__((unused));

/* Events for user space. Written by trace_exec; read by the runner. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* [0]: events dropped because the ring buffer was full. Written by
 * trace_exec; read by the runner. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} dropped SEC(".maps");

/* sched_process_exec fires once the new program has replaced the old one:
 * failed execs never get here, and current is already the new program. */
SEC("tp/sched/sched_process_exec")
int trace_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct exec_event *e;
	__u32 zero = 0;
	__u64 *n;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		n = bpf_map_lookup_elem(&dropped, &zero);
		if (n)
			*n += 1;
		return 0;
	}
	/* Reserved memory still holds older events: zero it, or the bytes
	 * after each string carry other processes' data to user space. */
	__builtin_memset(e, 0, sizeof(*e));

	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->uid = (__u32)bpf_get_current_uid_gid();
	bpf_get_current_comm(e->comm, sizeof(e->comm));

	/* A __data_loc field: low 16 bits are the string's offset from the
	 * start of the record, high 16 bits its length. The offset varies,
	 * and the verifier only allows constant offsets into ctx, so the
	 * string is copied with a helper. */
	bpf_probe_read_kernel_str(e->filename, sizeof(e->filename),
				  (void *)ctx + (ctx->__data_loc_filename & 0xFFFF));

	bpf_ringbuf_submit(e, 0);
	return 0;
}

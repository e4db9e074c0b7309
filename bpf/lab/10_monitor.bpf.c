// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Lesson 10: a complete, small process monitor: filter, enrich, output.
 *
 * One record per exec, built in three stages, the same three a real agent
 * has (vigil's are named in this lesson's text):
 *   filter: in the kernel and first, before any work: one uid only;
 *   enrich: who the process is (pid, binary, argv, credentials, cgroup) and
 *           who started it (parent pid and name);
 *   output: one zeroed, fixed-size record through a ring buffer.
 * The stages are inline functions of one program. The guide chains three
 * programs with tail calls instead: that needs a per-CPU heap to hand the
 * record along and drops the event without a trace when a jump fails, and
 * it buys nothing here (lesson 4 teaches tail calls where they do).
 *
 * sched_process_exec fires once the new program is in place: `current`
 * already has the new name, the new argv on its stack, and the new creds.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define FILENAME_MAX 256
#define ARGS_MAX 256

#define F_TRUNC_ARGS 1	/* argv was longer than ARGS_MAX */
#define F_ERROR_ARGS 2	/* argv could not be read */

struct exec_record {
	__u64 ktime;
	__u64 cgroup_id;
	__u32 pid;
	__u32 ppid;
	__u32 uid;	/* real ids: who the process acts for */
	__u32 euid;	/* effective ids: what it may do (setuid programs differ) */
	__u32 gid;
	__u32 egid;
	__u32 args_len;	/* bytes of `args` in use: argv, each argument NUL-ended */
	__u32 flags;	/* F_* */
	char comm[16];
	char parent_comm[16];
	char filename[FILENAME_MAX];	/* as passed to execve, NUL-ended */
	char args[ARGS_MAX];
};

/* Never used: it puts struct exec_record into the object's BTF, against
 * which a test checks the lesson's Python mirror of it. */
struct exec_record *exec_record_btf_anchor;

/* Records, written here, read by the lesson. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} records SEC(".maps");

/* Records the ring buffer had no room for: written here, read by the lesson. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

/* The filter, set by the lesson before load. filter_uid says whether to
 * filter at all, so that every uid, root's 0 included, can be chosen. */
const volatile bool filter_uid = false;
const volatile __u32 uid = 0;

static __always_inline bool filter(void)
{
	/* the low half is the real uid */
	return !filter_uid || (__u32)bpf_get_current_uid_gid() == uid;
}

static __always_inline void enrich(struct exec_record *r,
				   struct trace_event_raw_sched_process_exec *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct task_struct *parent = BPF_CORE_READ(task, real_parent);
	const struct cred *cred = BPF_CORE_READ(task, cred);
	unsigned long arg_start = BPF_CORE_READ(task, mm, arg_start);
	unsigned long arg_end = BPF_CORE_READ(task, mm, arg_end);
	unsigned long len = arg_end > arg_start ? arg_end - arg_start : 0;

	r->ktime = bpf_ktime_get_ns();
	r->cgroup_id = bpf_get_current_cgroup_id();
	r->pid = bpf_get_current_pid_tgid() >> 32;
	r->ppid = BPF_CORE_READ(parent, tgid);
	r->uid = BPF_CORE_READ(cred, uid.val);
	r->euid = BPF_CORE_READ(cred, euid.val);
	r->gid = BPF_CORE_READ(cred, gid.val);
	r->egid = BPF_CORE_READ(cred, egid.val);
	bpf_get_current_comm(r->comm, sizeof(r->comm));
	BPF_CORE_READ_STR_INTO(&r->parent_comm, parent, comm);
	/* The tracepoint's own copy of bprm->filename: the low 16 bits of
	 * __data_loc are its offset in the record. */
	bpf_probe_read_kernel_str(r->filename, sizeof(r->filename),
				  (void *)ctx + (ctx->__data_loc_filename & 0xFFFF));

	/* argv lives in the new program's memory: a user-space read, of a
	 * length the verifier can see is bounded. */
	if (len > ARGS_MAX) {
		len = ARGS_MAX;
		r->flags |= F_TRUNC_ARGS;
	}
	if (bpf_probe_read_user(r->args, len, (void *)arg_start)) {
		r->flags |= F_ERROR_ARGS;
		len = 0;
	}
	r->args_len = len;
}

static __always_inline void output(struct exec_record *r)
{
	bpf_ringbuf_submit(r, 0);
}

SEC("tp/sched/sched_process_exec")
int monitor_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	struct exec_record *r;
	__u32 zero = 0;
	__u64 *n;

	if (!filter())
		return 0;
	r = bpf_ringbuf_reserve(&records, sizeof(*r), 0);
	if (!r) {
		n = bpf_map_lookup_elem(&lost, &zero);
		if (n)
			__sync_fetch_and_add(n, 1);
		return 0;
	}
	/* Reserved memory holds whatever an earlier record left there: clear it,
	 * so no byte user space reads is stale (padding included). */
	__builtin_memset(r, 0, sizeof(*r));
	enrich(r, ctx);
	output(r);
	return 0;
}

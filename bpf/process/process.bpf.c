// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The base process sensor: every process start (exec), fork (clone) and end
 * (exit) on the host.
 *
 * Why these hooks: the sched_process_{exec,fork,exit} tracepoints exist on
 * every kernel vigil supports and need neither kprobes (absent when
 * CONFIG_KPROBES is off) nor BPF trampolines (fentry), so the base sensor runs
 * everywhere. The kernel call chains behind them:
 *   execve -> bprm_execve -> exec_binprm -> trace_sched_process_exec
 *             (the new image is in place: current->mm holds the new argv)
 *   fork   -> kernel_clone -> copy_process; trace_sched_process_fork(parent, child)
 *   exit   -> do_exit -> (signal->live decremented) ... trace_sched_process_exit
 *
 * The exec map gives each live process its identity (tgid + ktime) and its
 * parent's, so every record names both without user space walking /proc.
 *
 * Cgroups: every exec and clone record carries the cgroup v2 id of its task,
 * and the cgroup tracepoints (cgroup_mkdir, cgroup_rmdir: raw tracepoints,
 * whose TP_PROTO(struct cgroup *, const char *path) is the same from 5.10
 * to 6.18) tell user space each cgroup's path as it is made, through the
 * same ring buffer: a process moved into a cgroup made a moment before its
 * exec is named by that cgroup's path, because the mkdir record was
 * reserved first.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "events.h"
#include "lib/stats.bpf.h"
#include "lib/task.bpf.h"
#include "lib/path.bpf.h"
#include "lib/shared_maps.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The exec record is 20 KiB: too big for the 512-byte stack, so it is built
 * in this per-CPU heap (written and read here only). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_exec_event);
} vigil_exec_heap SEC(".maps");

/*
 * matchBinaries and followForks, kept per process as match bits (events.h,
 * struct vigil_exec_identity): the filters' paths are looked up once, at
 * exec, instead of at every hook, and a hook tests two masks. User space
 * (sensors/match_bits.py) owns the bits and writes these maps; sized here,
 * allocated only as entries are added.
 */

/* Exact binary paths (In, NotIn) -> the bits of the filters naming them.
 * A trie keyed by the path and its NUL: exact (see events.h). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct vigil_bin_key);
	__type(value, __u64);
} vigil_bin_exact SEC(".maps");

/* Path prefixes (Prefix, NotPrefix) -> the bits of every filter naming
 * that prefix or a shorter one of it (a trie gives the longest match only). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct vigil_bin_key);
	__type(value, __u64);
} vigil_bin_prefix SEC(".maps");

/* Reversed path suffixes (Postfix, NotPostfix) -> bits, as vigil_bin_prefix. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct vigil_bin_key);
	__type(value, __u64);
} vigil_bin_postfix SEC(".maps");

/* Pids of followForks filters -> their bits, given at fork and exec to the
 * process with that pid (so a pid that appears after the policy is followed
 * too). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);	/* exact keys: see struct vigil_pid_key */
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct vigil_pid_key);
	__type(value, __u64);
} vigil_follow_pids SEC(".maps");

static __always_inline __u64 follow_pid_bits(__u32 tgid)
{
	struct vigil_pid_key k = { .prefixlen = 32, .pid = tgid };
	__u64 *bits = bpf_map_lookup_elem(&vigil_follow_pids, &k);

	return bits ? *bits : 0;
}

/* [0]: which bits are followChildren filters' and which are owned at all
 * (written by user space, read at fork and exec: a freed bit is never passed
 * on, so it means nothing when a new filter gets it). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_match_config);
} vigil_match_config SEC(".maps");

/* Cgroup records are built here (written and read here only): a 1 KiB path
 * does not fit the stack, and only the used bytes are sent. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_cgroup_event);
} vigil_cgroup_heap SEC(".maps");

/* Scratch for the binary maps' keys (written and read here only). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_bin_key);
} vigil_bin_heap SEC(".maps");

static __always_inline void parent_of(struct task_struct *task, __u32 own_tgid,
				      struct vigil_proc_key *parent, __u32 *flags)
{
	__u32 ptgid = BPF_CORE_READ(task, real_parent, tgid);
	struct vigil_exec_identity *pid;

	pid = bpf_map_lookup_elem(&vigil_execve_map, &ptgid);
	if (pid) {
		*parent = pid->key;
		return;
	}
	/* Parent unknown (a kernel thread, or created before vigil looked):
	 * its pid still lets user space name it. */
	parent->pid = ptgid;
	parent->ktime = 0;
	*flags |= VIGIL_F_NO_PARENT;
}

/* Where the next part of an exec record's data starts: the bytes used so
 * far, masked as events.h explains (the mask never changes a real offset). */
static __always_inline char *data_at(struct vigil_exec_event *e, __u32 used)
{
	return &e->data[used & VIGIL_DATA_OFF_MASK];
}

/* Copies a resolved path from the scratch buffer into the record at `used`;
 * returns its length (0 for "/", which user space shows as such). */
static __always_inline __u32 copy_path(struct vigil_exec_event *e, __u32 used,
				       struct vigil_path_buf *pb, enum vigil_stat err_stat,
				       __u32 *flags, __u32 err_flag)
{
	__u32 start = pb->pos, len;

	if (start >= VIGIL_PATH_MAX)
		return 0;
	len = VIGIL_PATH_MAX - start;
	if (len > VIGIL_PART_MAX)
		len = VIGIL_PART_MAX;
	if (bpf_probe_read_kernel(data_at(e, used), len, &pb->buf[start & (VIGIL_PATH_MAX - 1)])) {
		stat_inc(err_stat);
		*flags |= err_flag;
		return 0;
	}
	return len;
}

/* d_unhashed(): the name was removed (unlink) or never existed (memfd). */
static __always_inline bool dentry_unlinked(struct dentry *dentry)
{
	return BPF_CORE_READ(dentry, d_hash.pprev) == NULL;
}

/* The baseline of an exec'd process is what it has now: the one of the
 * identity it replaces goes. A full map leaves the process without one,
 * and a hook then takes what it sees first as its baseline. */
static __always_inline void exec_baseline(const struct vigil_exec_event *e,
					  const struct vigil_exec_identity *old)
{
	struct vigil_seed_key k = { .prefixlen = 96, .pid = e->key.pid, .ktime = e->key.ktime };
	struct vigil_baseline b = {
		.ns = e->ns,
		.caps = {
			[VIGIL_SEL_CAP_PERMITTED] = e->creds.cap_permitted,
			[VIGIL_SEL_CAP_EFFECTIVE] = e->creds.cap_effective,
			[VIGIL_SEL_CAP_INHERITABLE] = e->creds.cap_inheritable,
		},
	};

	if (old) {
		struct vigil_seed_key was = seed_key(old);

		bpf_map_delete_elem(&vigil_task_baseline, &was);
	}
	bpf_map_update_elem(&vigil_task_baseline, &k, &b, BPF_ANY);
}

/* Stores the process's identity in the exec map and sends the record.
 * `bin`: the match bits of the file executed. The follow bits the process
 * had (from its fork) stay, and followChildren filters it matches now add
 * theirs. */
static __always_inline void exec_submit(struct vigil_exec_event *e, __u64 bin)
{
	struct vigil_exec_identity id = {}, *old;
	__u32 tgid = e->key.pid, size, zero = 0;
	struct vigil_match_config *cfg;

	id.key = e->key;
	id.parent = e->parent;
	id.flags = e->flags;
	id.bin = bin;
	old = bpf_map_lookup_elem(&vigil_execve_map, &tgid);
	cfg = bpf_map_lookup_elem(&vigil_match_config, &zero);
	if (old && cfg)
		id.follow = match_bits(old).follow & cfg->valid;
	if (cfg)
		id.follow |= bin & cfg->follow_children;
	/* A followForks pid execs: as at its fork (user space seeds only the
	 * processes it knew of when the policy came). */
	id.follow |= follow_pid_bits(tgid);
	if (cfg && cfg->baselines)
		exec_baseline(e, old);
	if (bpf_map_update_elem(&vigil_execve_map, &tgid, &id, BPF_ANY))
		stat_inc(VIGIL_STAT_EXEC_MAP_FULL);

	size = offsetof(struct vigil_exec_event, data) + e->filename_len + e->args_len +
	       e->cwd_len + e->exe_len;
	if (size > sizeof(*e))
		size = sizeof(*e);
	e->hdr.size = size;
	if (bpf_ringbuf_output(&vigil_events, e, size, ringbuf_flags(size, false)))
		stat_inc(VIGIL_STAT_RINGBUF_FULL_EXEC);
}

/*
 * The exec record is built by a chain of three programs joined by tail
 * calls: vigil_exec (identity, filename, argv), vigil_exec_cwd (the working
 * directory) and vigil_exec_exe (the file actually executed), which sends
 * it. Each path walk is a bounded 128-step loop; two of them in one program
 * exceed the verifier's one-million-instruction budget, and a tail call gives
 * each walk a budget of its own. The record waits in the per-CPU heap:
 * nothing else runs on this CPU between the programs of the chain.
 */
enum vigil_exec_stage {
	VIGIL_EXEC_STAGE_CWD = 0,
	VIGIL_EXEC_STAGE_EXE = 1,
	VIGIL_EXEC_STAGE_BIN = 2,
	VIGIL_EXEC_STAGES,
};

int vigil_exec_cwd(void *ctx);
int vigil_exec_exe(void *ctx);
int vigil_exec_bin(void *ctx);

/* The chain's later stages (filled by libbpf at load, read by tail calls).
 * Sizes, not BTF types: the kernel takes no BTF for a prog array's key. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, VIGIL_EXEC_STAGES);
	__uint(key_size, sizeof(__u32));
	__array(values, int(void *));
} vigil_exec_stages SEC(".maps") = {
	.values = {
		[VIGIL_EXEC_STAGE_CWD] = (void *)&vigil_exec_cwd,
		[VIGIL_EXEC_STAGE_EXE] = (void *)&vigil_exec_exe,
		[VIGIL_EXEC_STAGE_BIN] = (void *)&vigil_exec_bin,
	},
};

/* Jumps to the next stage; returns only if the jump failed, after which the
 * caller sends what it has (and the loss of the rest is counted). */
static __always_inline void exec_next(void *ctx, struct vigil_exec_event *e, __u32 stage)
{
	bpf_tail_call(ctx, &vigil_exec_stages, stage);
	stat_inc(VIGIL_STAT_TAIL_CALL_FAILED);
	exec_submit(e, 0);
}

static __always_inline int exec_heaps(struct vigil_exec_event **e, struct vigil_path_buf **pb)
{
	__u32 zero = 0;

	*e = bpf_map_lookup_elem(&vigil_exec_heap, &zero);
	*pb = bpf_map_lookup_elem(&vigil_path_heap, &zero);
	if (!*e || !*pb) {
		stat_inc(VIGIL_STAT_HEAP_MISSING);
		return -1;
	}
	return 0;
}

SEC("tp")
int vigil_exec_cwd(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct vigil_exec_event *e;
	struct vigil_path_buf *pb;
	struct fs_struct *fs;
	__u32 flags;

	if (exec_heaps(&e, &pb))
		return 0;
	flags = e->flags;
	fs = BPF_CORE_READ(task, fs);
	resolve_path(pb, &fs->pwd, &fs->root);
	if (pb->truncated)
		flags |= VIGIL_F_TRUNC_CWD;
	e->cwd_len = copy_path(e, e->filename_len + e->args_len, pb,
			       VIGIL_STAT_CWD_READ_ERROR, &flags, VIGIL_F_ERROR_CWD);
	if (!e->cwd_len && !(flags & VIGIL_F_ERROR_CWD))
		flags |= VIGIL_F_ROOTCWD;
	e->flags = flags;
	exec_next(ctx, e, VIGIL_EXEC_STAGE_EXE);
	return 0;
}

SEC("tp")
int vigil_exec_exe(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct vigil_exec_event *e;
	struct vigil_path_buf *pb;
	struct dentry *dentry;
	struct fs_struct *fs;
	struct file *exe;
	__u32 flags;

	if (exec_heaps(&e, &pb))
		return 0;
	flags = e->flags;
	/* For a script this is the interpreter, as for Tetragon's matchBinaries. */
	exe = BPF_CORE_READ(task, mm, exe_file);
	if (exe) {
		dentry = BPF_CORE_READ(exe, f_path.dentry);
		e->exe_ino = BPF_CORE_READ(exe, f_inode, i_ino);
		e->exe_nlink = BPF_CORE_READ(exe, f_inode, i_nlink);
		if (dentry_unlinked(dentry))
			flags |= VIGIL_F_EXE_UNLINKED;
		fs = BPF_CORE_READ(task, fs);
		resolve_path(pb, &exe->f_path, &fs->root);
		if (pb->truncated)
			flags |= VIGIL_F_TRUNC_EXE;
		e->exe_len = copy_path(e, e->filename_len + e->args_len + e->cwd_len, pb,
				       VIGIL_STAT_EXE_READ_ERROR, &flags, 0);
	} else {
		stat_inc(VIGIL_STAT_EXE_READ_ERROR);
	}
	e->flags = flags;
	exec_next(ctx, e, VIGIL_EXEC_STAGE_BIN);
	return 0;
}

static __always_inline __u64 bin_bits(void *map, struct vigil_bin_key *k)
{
	__u64 *bits = bpf_map_lookup_elem(map, k);

	return bits ? *bits : 0;
}

/* The last stage: the executed file's path (the record's exe part) against
 * the binary maps, then the identity and the record go out. */
SEC("tp")
int vigil_exec_bin(void *ctx)
{
	__u32 zero = 0, at, len, n, i;
	struct vigil_exec_event *e;
	struct vigil_bin_key *k;
	__u64 bin = 0;
	char *path;

	e = bpf_map_lookup_elem(&vigil_exec_heap, &zero);
	k = bpf_map_lookup_elem(&vigil_bin_heap, &zero);
	if (!e || !k) {
		stat_inc(VIGIL_STAT_HEAP_MISSING);
		return 0;
	}
	len = e->exe_len;
	if (!len || len > VIGIL_EXE_MAX)
		goto out;
	at = e->filename_len + e->args_len + e->cwd_len;
	path = data_at(e, at);
	n = len < VIGIL_BIN_PATH_MAX ? len : VIGIL_BIN_PATH_MAX;
	/* The same n in [1, 256], in a form the verifier bounds: 5.10's loses
	 * the bound of clang's min() (the compare and the use are different
	 * registers). */
	n = ((n - 1) & (VIGIL_BIN_PATH_MAX - 1)) + 1;
	__builtin_memset(k, 0, sizeof(*k));
	if (bpf_probe_read_kernel(k->path, n, path))
		goto out;
	if (len < VIGIL_BIN_PATH_MAX) {
		/* The path and the NUL after it (the key was zeroed). */
		k->len = (n + 1) * 8;
		bin |= bin_bits(&vigil_bin_exact, k);
	}
	k->len = n * 8;
	bin |= bin_bits(&vigil_bin_prefix, k);
	/* The last n bytes, reversed: a suffix becomes a prefix. */
	for (i = 0; i < VIGIL_BIN_PATH_MAX; i++) {
		if (i >= n)
			break;
		k->path[i] = e->data[(at + len - 1 - i) & VIGIL_DATA_OFF_MASK];
	}
	bin |= bin_bits(&vigil_bin_postfix, k);
out:
	exec_submit(e, bin);
	return 0;
}

SEC("tp/sched/sched_process_exec")
int vigil_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	struct vigil_exec_event *e;
	struct vigil_path_buf *pb;
	struct mm_struct *mm;
	__u32 flags = VIGIL_F_EXECVE;
	__u32 filename_len, args_len = 0;
	unsigned long arg_start, arg_end;
	long n;

	if (exec_heaps(&e, &pb))
		return 0;
	/* The heap keeps the previous record's bytes: clear the fixed part.
	 * Of `data`, only bytes written for this record are sent: each part
	 * starts where the previous one ended and its length is what was
	 * actually copied (a failed copy counts as 0 bytes). */
	__builtin_memset(e, 0, offsetof(struct vigil_exec_event, data));

	e->hdr.op = VIGIL_OP_EXEC;
	e->hdr.ktime = bpf_ktime_get_ns();
	e->key.pid = tgid;
	e->key.ktime = e->hdr.ktime;
	e->tid = (__u32)pid_tgid;
	parent_of(task, tgid, &e->parent, &flags);
	read_creds(task, &e->creds);
	read_namespaces(task, &e->ns);
	e->cgroup_id = bpf_get_current_cgroup_id();
	/* The name of the same cgroup (dfl_cgrp: the default hierarchy's, which
	 * bpf_get_current_cgroup_id() names). A failed read leaves the zeros. */
	bpf_probe_read_kernel_str(e->cgroup_name, sizeof(e->cgroup_name),
				  BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, name));
	e->start_boottime = BPF_CORE_READ(task, start_boottime);

	/* bprm->filename as the caller passed it (may be relative). n counts
	 * the NUL; reading one byte more than a part holds tells a name of
	 * exactly VIGIL_FILENAME_MAX bytes from a longer one, which only
	 * execveat's "/dev/fd/N/name" can make. */
	n = bpf_probe_read_kernel_str(e->data, VIGIL_FILENAME_MAX + 1,
				      (void *)ctx + (ctx->__data_loc_filename & 0xFFFF));
	if (n < 1) {
		stat_inc(VIGIL_STAT_FILENAME_READ_ERROR);
		n = 1;
	}
	if (n > VIGIL_FILENAME_MAX) {
		n = VIGIL_FILENAME_MAX + 1;
		flags |= VIGIL_F_TRUNC_FILENAME;
	}
	filename_len = n - 1;

	/* argv as the new image sees it, straight from its stack. */
	mm = BPF_CORE_READ(task, mm);
	arg_start = BPF_CORE_READ(mm, arg_start);
	arg_end = BPF_CORE_READ(mm, arg_end);
	if (arg_end > arg_start) {
		if (arg_end - arg_start > VIGIL_ARGS_MAX) {
			args_len = VIGIL_ARGS_MAX;
			flags |= VIGIL_F_TRUNC_ARGS;
		} else {
			args_len = arg_end - arg_start;
		}
		if (bpf_probe_read_user(data_at(e, filename_len), args_len, (void *)arg_start)) {
			stat_inc(VIGIL_STAT_ARGS_READ_ERROR);
			flags |= VIGIL_F_ERROR_ARGS;
			args_len = 0;
		}
	}

	e->flags = flags;
	e->filename_len = filename_len;
	e->args_len = args_len;
	exec_next(ctx, e, VIGIL_EXEC_STAGE_CWD);
	return 0;
}

/* raw_tp rather than the tracepoint: only the task pointers tell a new
 * process from a new thread, and threads are not processes. */
SEC("raw_tp/sched_process_fork")
int BPF_PROG(vigil_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 tgid = BPF_CORE_READ(child, tgid);
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	struct vigil_exec_identity id = {}, *pid;
	struct vigil_clone_event *e;
	struct vigil_match_config *cfg;
	struct vigil_match_bits bits;
	__u32 zero = 0;

	if (BPF_CORE_READ(child, pid) != tgid)
		return 0;

	id.key.pid = tgid;
	id.key.ktime = bpf_ktime_get_ns();
	id.flags = VIGIL_F_CLONE;
	pid = bpf_map_lookup_elem(&vigil_execve_map, &ptgid);
	cfg = bpf_map_lookup_elem(&vigil_match_config, &zero);
	if (pid) {
		id.parent = pid->key;
		/* Until it execs, the child runs its parent's binary. */
		if (cfg) {
			bits = match_bits(pid);
			id.bin = bits.bin & cfg->valid;
			id.follow = bits.follow & cfg->valid;
		}
	} else {
		id.parent.pid = ptgid;
		id.flags |= VIGIL_F_NO_PARENT;
	}
	id.follow |= follow_pid_bits(tgid);
	if (bpf_map_update_elem(&vigil_execve_map, &tgid, &id, BPF_ANY))
		stat_inc(VIGIL_STAT_EXEC_MAP_FULL);
	if (cfg && cfg->baselines) {
		/* Until it execs, the child's baseline is what it starts with. */
		struct vigil_seed_key k = seed_key(&id);
		struct vigil_baseline b = {};

		read_baseline(child, &b);
		bpf_map_update_elem(&vigil_task_baseline, &k, &b, BPF_ANY);
	}

	e = bpf_ringbuf_reserve(&vigil_events, sizeof(*e), 0);
	if (!e) {
		stat_inc(VIGIL_STAT_RINGBUF_FULL_CLONE);
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->hdr.op = VIGIL_OP_CLONE;
	e->hdr.size = sizeof(*e);
	e->hdr.ktime = id.key.ktime;
	e->key = id.key;
	e->parent = id.parent;
	e->tid = tgid;
	e->flags = id.flags;
	e->start_boottime = BPF_CORE_READ(child, start_boottime);
	e->cgroup_id = BPF_CORE_READ(child, cgroups, dfl_cgrp, kn, id);
	bpf_ringbuf_submit(e, ringbuf_flags(sizeof(*e), true));
	return 0;
}

SEC("tp/sched/sched_process_exit")
int vigil_exit(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	struct vigil_exec_identity *id;
	struct vigil_exit_event *e;

	/* Only the last thread of a group ends the process. */
	if (!exit_is_group_dead(ctx, task))
		return 0;

	id = bpf_map_lookup_elem(&vigil_execve_map, &tgid);
	if (id) {
		struct vigil_seed_key k = seed_key(id);
		struct vigil_match_config *cfg;
		__u32 zero = 0;

		bpf_map_delete_elem(&vigil_match_seed, &k);
		cfg = bpf_map_lookup_elem(&vigil_match_config, &zero);
		if (cfg && cfg->baselines)
			bpf_map_delete_elem(&vigil_task_baseline, &k);
	}
	e = bpf_ringbuf_reserve(&vigil_events, sizeof(*e), 0);
	if (!e) {
		stat_inc(VIGIL_STAT_RINGBUF_FULL_EXIT);
		bpf_map_delete_elem(&vigil_execve_map, &tgid);
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->hdr.op = VIGIL_OP_EXIT;
	e->hdr.size = sizeof(*e);
	e->hdr.ktime = bpf_ktime_get_ns();
	if (id) {
		e->key = id->key;
		e->parent = id->parent;
	} else {
		e->key.pid = tgid;
	}
	e->tid = (__u32)pid_tgid;
	e->exit_code = BPF_CORE_READ(task, exit_code);
	e->start_boottime = BPF_CORE_READ(task, start_boottime);
	bpf_ringbuf_submit(e, ringbuf_flags(sizeof(*e), true));
	bpf_map_delete_elem(&vigil_execve_map, &tgid);
	return 0;
}

/* A cgroup made or removed: its id and path to user space. Only the default
 * hierarchy's (v2): a v1 hierarchy's cgroups (hybrid systems mount both) are
 * no process's cgroup_id. Its root is the one every task's dfl_cgrp has. */
static __always_inline void cgroup_record(struct cgroup *cgrp, const char *path, __u16 op)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct vigil_cgroup_event *e;
	__u32 zero = 0, size;
	long n;

	if (BPF_CORE_READ(cgrp, root) != BPF_CORE_READ(task, cgroups, dfl_cgrp, root))
		return;
	e = bpf_map_lookup_elem(&vigil_cgroup_heap, &zero);
	if (!e) {
		stat_inc(VIGIL_STAT_HEAP_MISSING);
		return;
	}
	__builtin_memset(e, 0, offsetof(struct vigil_cgroup_event, path));
	e->hdr.op = op;
	e->hdr.ktime = bpf_ktime_get_ns();
	e->cgroup_id = BPF_CORE_READ(cgrp, kn, id);
	e->level = BPF_CORE_READ(cgrp, level);
	n = bpf_probe_read_kernel_str(e->path, VIGIL_CGROUP_PATH_MAX, path);
	if (n < 1) {
		e->flags |= VIGIL_CGROUP_F_ERROR_PATH;
		n = 1;
	}
	if (n >= VIGIL_CGROUP_PATH_MAX)
		e->flags |= VIGIL_CGROUP_F_TRUNC_PATH;
	/* n - 1 bytes without the NUL, in [0, VIGIL_CGROUP_PATH_MAX - 1] */
	e->path_len = (n - 1) & (VIGIL_CGROUP_PATH_MAX - 1);
	size = offsetof(struct vigil_cgroup_event, path) + e->path_len;
	e->hdr.size = size;
	if (bpf_ringbuf_output(&vigil_events, e, size, ringbuf_flags(size, false)))
		stat_inc(VIGIL_STAT_RINGBUF_FULL_CGROUP);
}

SEC("raw_tp/cgroup_mkdir")
int BPF_PROG(vigil_cgroup_mkdir, struct cgroup *cgrp, const char *path)
{
	cgroup_record(cgrp, path, VIGIL_OP_CGROUP_MKDIR);
	return 0;
}

SEC("raw_tp/cgroup_rmdir")
int BPF_PROG(vigil_cgroup_rmdir, struct cgroup *cgrp, const char *path)
{
	cgroup_record(cgrp, path, VIGIL_OP_CGROUP_RMDIR);
	return 0;
}

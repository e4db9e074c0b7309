/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The wire records the kernel side writes and user space reads: the only ABI
 * between the two halves. Python derives nothing by hand from this file without
 * a test that checks its copy against the compiled object's BTF
 * (tests/unit/test_struct_layout.py), so change a struct here and the test
 * points at the Python mirror to update.
 *
 * Every record starts with struct vigil_msg_header; user space dispatches on
 * `op`. Op numbers are stable: never renumber, only append.
 */
#ifndef VIGIL_EVENTS_H
#define VIGIL_EVENTS_H

enum vigil_op {
	VIGIL_OP_EXEC = 1,
	VIGIL_OP_CLONE = 2,
	VIGIL_OP_EXIT = 3,
};

/* Process flags, shared by the exec map and the records (Tetragon's names in
 * user space: "execve", "procFS", "clone", "truncArgs", ...). */
enum vigil_proc_flag {
	VIGIL_F_EXECVE = 1 << 0,
	VIGIL_F_PROCFS = 1 << 1,
	VIGIL_F_CLONE = 1 << 2,
	VIGIL_F_TRUNC_ARGS = 1 << 3,
	VIGIL_F_TRUNC_FILENAME = 1 << 4,
	VIGIL_F_TRUNC_CWD = 1 << 5,
	VIGIL_F_ROOTCWD = 1 << 6,
	VIGIL_F_ERROR_ARGS = 1 << 7,
	VIGIL_F_ERROR_CWD = 1 << 8,
	VIGIL_F_NO_PARENT = 1 << 9,
};

/* Why a record could not be delivered, or came out incomplete: the index of
 * the per-CPU stats array. User space reports each cause by name. */
enum vigil_stat {
	VIGIL_STAT_RINGBUF_FULL_EXEC = 0,
	VIGIL_STAT_RINGBUF_FULL_CLONE,
	VIGIL_STAT_RINGBUF_FULL_EXIT,
	VIGIL_STAT_EXEC_MAP_FULL,
	VIGIL_STAT_HEAP_MISSING,
	VIGIL_STAT_ARGS_READ_ERROR,
	VIGIL_STAT_CWD_READ_ERROR,
	VIGIL_STAT_FILENAME_READ_ERROR,
	VIGIL_STAT_MAX,
};

/* Sizes of the variable parts of an exec record. Powers of two: the BPF code
 * masks offsets with (size - 1) to prove bounds to the verifier. */
#define VIGIL_FILENAME_MAX 1024
#define VIGIL_ARGS_MAX 4096
#define VIGIL_CWD_MAX 4096
#define VIGIL_EXEC_DATA_MAX (VIGIL_FILENAME_MAX + VIGIL_ARGS_MAX + VIGIL_CWD_MAX)

struct vigil_msg_header {
	__u16 op;
	__u16 pad;
	__u32 size;	/* bytes of the whole record, header included */
	__u64 ktime;	/* bpf_ktime_get_ns() when the record was made */
};

/* A process's identity: its thread-group id and the ktime of its exec (or of
 * its fork, for a clone that has not exec'd). exec_id is built from this. */
struct vigil_proc_key {
	__u32 pid;
	__u32 pad;
	__u64 ktime;
};

/* Value of the exec map, keyed by tgid (written by the process sensor at fork,
 * exec and exit, and by user space once at start from /proc). */
struct vigil_exec_identity {
	struct vigil_proc_key key;
	struct vigil_proc_key parent;
	__u32 flags;
	__u32 pad;
};

struct vigil_creds {
	__u32 uid;
	__u32 euid;
	__u32 gid;
	__u32 egid;
	__u32 auid;	/* loginuid; (u32)-1 when unset */
	__u32 pad;
	__u64 cap_permitted;
	__u64 cap_effective;
	__u64 cap_inheritable;
};

/* Namespace inode numbers, as /proc/<pid>/ns/<name> shows them. */
struct vigil_namespaces {
	__u32 uts;
	__u32 ipc;
	__u32 mnt;
	__u32 pid;
	__u32 pid_for_children;
	__u32 net;
	__u32 time;
	__u32 time_for_children;
	__u32 cgroup;
	__u32 user;
};

/* OP_EXEC: a successful execve. `data` holds, back to back and without NULs
 * between the parts: filename (filename_len bytes), argv[0..] each
 * NUL-terminated (args_len bytes), cwd (cwd_len bytes). Only
 * offsetof(data) + filename_len + args_len + cwd_len bytes are sent. */
struct vigil_exec_event {
	struct vigil_msg_header hdr;
	struct vigil_proc_key key;
	struct vigil_proc_key parent;
	__u32 tid;
	__u32 flags;
	struct vigil_creds creds;
	struct vigil_namespaces ns;
	__u64 cgroup_id;
	__u16 filename_len;
	__u16 args_len;
	__u16 cwd_len;
	__u16 pad;
	char data[VIGIL_EXEC_DATA_MAX];
};

/* OP_CLONE: a new process (not a thread) made by fork/clone. */
struct vigil_clone_event {
	struct vigil_msg_header hdr;
	struct vigil_proc_key key;
	struct vigil_proc_key parent;
	__u32 tid;
	__u32 flags;
};

/* OP_EXIT: the last thread of a process exited. exit_code is the kernel's
 * task->exit_code: (status << 8) | terminating signal. */
struct vigil_exit_event {
	struct vigil_msg_header hdr;
	struct vigil_proc_key key;
	struct vigil_proc_key parent;
	__u32 tid;
	__u32 exit_code;
};

#endif /* VIGIL_EVENTS_H */

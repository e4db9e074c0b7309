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
	VIGIL_OP_GENERIC_TRACEPOINT = 4,
	VIGIL_OP_GENERIC_RETURN = 5,
	VIGIL_OP_GENERIC_DATA = 6,
	VIGIL_OP_CGROUP_MKDIR = 7,
	VIGIL_OP_CGROUP_RMDIR = 8,
	/* Ops from here up belong to test objects (bpf/selftest/), never to a
	 * sensor vigil ships. */
	VIGIL_OP_TEST_FIRST = 0x7F00,
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
	/* The executed file has no name left: deleted, or a memfd/shm file. */
	VIGIL_F_EXE_UNLINKED = 1 << 10,
	VIGIL_F_TRUNC_EXE = 1 << 11,
	/* Set by user space only: the process was not in its cache, so the
	 * event carries only what the kernel record itself said. */
	VIGIL_F_MISS = 1 << 12,
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
	VIGIL_STAT_EXE_READ_ERROR,
	VIGIL_STAT_TAIL_CALL_FAILED,
	VIGIL_STAT_RINGBUF_FULL_GENERIC,
	/* A call that must report its return found its hook's table of calls
	 * in flight full: neither its entry nor its return is sent. */
	VIGIL_STAT_RETURN_PENDING_FULL,
	/* A maxData buffer's chunk found the ring buffer full: it and the
	 * chunks after it are not sent (the event shows what came). */
	VIGIL_STAT_RINGBUF_FULL_DATA,
	/* A NotifyEnforcer found the thread's last notification not yet acted
	 * on by an enforcer: the newer one replaces it (Tetragon's
	 * ENFORCER_MISSED_OVERWRITTEN). */
	VIGIL_STAT_ENFORCER_OVERWRITTEN,
	/* A CleanupEnforcerNotification found a notification no enforcer acted
	 * on (Tetragon's ENFORCER_MISSED_NOACTION). */
	VIGIL_STAT_ENFORCER_UNUSED,
	/* A cgroup's creation or removal found the ring buffer full: user
	 * space names that cgroup's processes by their exec record's cgroup
	 * name only (a removal lost leaves a stale entry, never a wrong one:
	 * cgroup ids are not reused). */
	VIGIL_STAT_RINGBUF_FULL_CGROUP,
	VIGIL_STAT_MAX,
};

/*
 * The variable parts of an exec record (filename, argv, cwd, exe path) are
 * each at most VIGIL_PART_MAX bytes and sit back to back in `data`. A part
 * starts at the sum of the lengths before it, at most 3 * VIGIL_PART_MAX; the
 * BPF code masks that offset with VIGIL_DATA_OFF_MASK, which is 2^k - 1 and
 * above every real offset, so the mask proves the bound to the verifier
 * without ever changing a value. `data` has room for a whole part after the
 * largest masked offset. Only the used bytes are sent.
 */
#define VIGIL_PART_MAX 4096	/* PATH_MAX: any path the kernel accepts fits */
#define VIGIL_FILENAME_MAX VIGIL_PART_MAX
#define VIGIL_ARGS_MAX VIGIL_PART_MAX
#define VIGIL_CWD_MAX VIGIL_PART_MAX
#define VIGIL_EXE_MAX VIGIL_PART_MAX
#define VIGIL_DATA_OFF_MASK ((1 << 14) - 1)
#define VIGIL_EXEC_DATA_MAX (VIGIL_DATA_OFF_MASK + 1 + VIGIL_PART_MAX)

_Static_assert((VIGIL_PART_MAX & (VIGIL_PART_MAX - 1)) == 0, "part size is a power of two");
_Static_assert(3 * VIGIL_PART_MAX <= VIGIL_DATA_OFF_MASK,
	       "the offset mask must exceed the last part's largest offset");
_Static_assert(((VIGIL_DATA_OFF_MASK + 1) & VIGIL_DATA_OFF_MASK) == 0,
	       "the offset mask is 2^k - 1");

/*
 * Cgroups (v2, the default hierarchy). An exec record carries the id of the
 * task's cgroup and the name of its kernfs node, at most
 * VIGIL_CGROUP_NAME_MAX - 1 bytes and a NUL (Tetragon's DOCKER_ID_LENGTH);
 * user space knows the whole path from the cgroup records below, so a name
 * is only what it falls back on. A cgroup record's path is the one the
 * kernel's cgroup tracepoints give (TRACE_CGROUP_PATH_LEN: 1024 with its NUL).
 */
#define VIGIL_CGROUP_NAME_MAX 128
#define VIGIL_CGROUP_PATH_MAX 1024
_Static_assert((VIGIL_CGROUP_PATH_MAX & (VIGIL_CGROUP_PATH_MAX - 1)) == 0,
	       "a cgroup path's length is masked with VIGIL_CGROUP_PATH_MAX - 1");
/* Cgroup subtrees a policy is scoped to (its cgroup-path options): the slots
 * of a generic hook's vigil_cgroup_scope. */
#define VIGIL_CGROUP_SCOPES_MAX 8

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
	/* Match bits, one per matchBinaries filter or followForks pid filter
	 * of the loaded policies (user space allocates them: sensors/match_bits.py).
	 * `bin`: the filters the file this process executes matches, set at exec
	 * from the binary maps (process.bpf.c, vigil_exec_bin) and copied at fork.
	 * `follow`: bits inherited from the parent at fork and kept across exec:
	 * followChildren filters its ancestors matched, followForks pids among
	 * its ancestors. A selector tests bin | follow. */
	__u64 bin;
	__u64 follow;
};

/* Match bits user space found for a process already running when a policy
 * was added, or bits of its identity that were freed since (the value of
 * vigil_match_seed, keyed by the process's identity so it never applies to a
 * later image of the same pid). */
struct vigil_match_bits {
	__u64 bin;
	__u64 follow;
	__u64 clear;		/* bits of the identity that no longer mean anything */
};

/* [0] of the process sensor's vigil_match_config: which bits mean something,
 * and whether processes' baselines are kept. */
struct vigil_match_config {
	__u64 follow_children;	/* bits an exec adds to `follow` when its binary matches */
	__u64 valid;		/* bits some filter owns: no other bit is passed on */
	__u64 baselines;	/* nonzero: keep vigil_task_baseline at fork, exec and exit */
};

/* A binary path as the binary maps key it: an exact path with `len` its
 * length in bytes; for the LPM tries, `len` is the prefix length in bits and
 * `path` the path (prefix trie) or the path reversed (postfix trie). Longer
 * paths are matched on their first (prefix) or last (postfix) bytes and never
 * exactly. Tetragon's BINARY_PATH_MAX_LEN is 256 as well. */
#define VIGIL_BIN_PATH_MAX 256
#define VIGIL_MATCH_BITS 64		/* bits of bin and follow */
_Static_assert((VIGIL_BIN_PATH_MAX & (VIGIL_BIN_PATH_MAX - 1)) == 0,
	       "a binary key's length is masked with VIGIL_BIN_PATH_MAX - 1");
_Static_assert((VIGIL_MATCH_BITS & (VIGIL_MATCH_BITS - 1)) == 0,
	       "a match bit's index is masked with VIGIL_MATCH_BITS - 1");

struct vigil_bin_key {
	__u32 len;
	char path[VIGIL_BIN_PATH_MAX];
};

/*
 * Exact-match keys of the LPM tries that stand in for hash maps (a full
 * prefix length matches one key only). Why tries: a hash map that allocates
 * its entries as they come (BPF_F_NO_PREALLOC) makes kernels before 6.1 WARN
 * and taint themselves when a tracing program uses it, and a preallocated
 * one costs its whole size up front; a trie allocates per entry and is
 * allowed everywhere. The binary trie for exact paths keys the path and its
 * NUL (a path holds no NUL, so only the same path matches).
 */
struct vigil_pid_key {
	__u32 prefixlen;		/* 32 */
	__u32 pid;
};

struct vigil_seed_key {
	__u32 prefixlen;		/* 96 */
	__u32 pid;			/* the process's identity (struct vigil_proc_key) */
	__u64 ktime;
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

/* What a process had at exec (or at fork, until it execs): the value of
 * vigil_task_baseline, keyed by the process's identity, which
 * matchNamespaceChanges and matchCapabilityChanges compare the task with.
 * caps[] is indexed by enum vigil_sel_cap_set (permitted, effective,
 * inheritable). */
struct vigil_baseline {
	struct vigil_namespaces ns;
	__u32 pad;
	__u64 caps[3];
};

/* OP_EXEC: a successful execve. `data` holds, back to back and without NULs
 * between the parts: filename as the caller spelled it (filename_len bytes),
 * argv[0..] each NUL-terminated (args_len bytes), cwd (cwd_len bytes), and the
 * path of the file actually executed, mm->exe_file (exe_len bytes). Only
 * offsetof(data) + the four lengths bytes are sent. */
struct vigil_exec_event {
	struct vigil_msg_header hdr;
	struct vigil_proc_key key;
	struct vigil_proc_key parent;
	__u32 tid;
	__u32 flags;
	struct vigil_creds creds;
	struct vigil_namespaces ns;
	__u64 cgroup_id;
	__u64 start_boottime;	/* task->start_boottime: when the process was forked */
	__u64 exe_ino;		/* inode number of the executed file */
	__u32 exe_nlink;	/* its link count: 0 for a deleted or memfd file */
	__u32 pad;
	/* the kernfs name of the cgroup cgroup_id names, NUL-terminated, zeros after */
	char cgroup_name[VIGIL_CGROUP_NAME_MAX];
	__u16 filename_len;
	__u16 args_len;
	__u16 cwd_len;
	__u16 exe_len;
	char data[VIGIL_EXEC_DATA_MAX];
};

/* OP_CLONE: a new process (not a thread) made by fork/clone. cgroup_id is
 * the child's own (clone3's CLONE_INTO_CGROUP starts it in another cgroup
 * than its parent's). */
struct vigil_clone_event {
	struct vigil_msg_header hdr;
	struct vigil_proc_key key;
	struct vigil_proc_key parent;
	__u32 tid;
	__u32 flags;
	__u64 start_boottime;
	__u64 cgroup_id;
};

/* OP_CGROUP_MKDIR, OP_CGROUP_RMDIR: a cgroup of the default hierarchy was
 * created or removed. `path` (path_len bytes, no NUL) is its path from the
 * hierarchy's root, "/a/b"; only the used bytes are sent. */
struct vigil_cgroup_event {
	struct vigil_msg_header hdr;
	__u64 cgroup_id;		/* kernfs node id: the cgroup_id of its processes */
	__u32 level;			/* depth below the root (the root is 0) */
	__u16 path_len;
	__u16 flags;			/* enum vigil_cgroup_flag */
	char path[VIGIL_CGROUP_PATH_MAX];
};

enum vigil_cgroup_flag {
	VIGIL_CGROUP_F_TRUNC_PATH = 0x1,	/* the kernel's buffer cut the path */
	VIGIL_CGROUP_F_ERROR_PATH = 0x2,	/* the path could not be read */
};

/* OP_EXIT: the last thread of a process exited. exit_code is the kernel's
 * task->exit_code: (status << 8) | terminating signal. key.ktime is 0 when
 * the exec map did not know the process (it was full); start_boottime then
 * still tells this process from an earlier one that had the same pid. */
struct vigil_exit_event {
	struct vigil_msg_header hdr;
	struct vigil_proc_key key;
	struct vigil_proc_key parent;
	__u32 tid;
	__u32 exit_code;
	__u64 start_boottime;
};

/*
 * Generic (policy) hooks. A hook's programs read up to VIGIL_GENERIC_ARGS_MAX
 * arguments, each as the policy's plan says (the kind, and where it is, are
 * const volatile knobs set at load), and send one record: the process key,
 * the hook id user space gave the hook, the action taken, then each argument
 * as a __s32 length (a negative errno when it could not be read) and that many
 * bytes, padded to 8 bytes. User space decodes the arguments with the plan it
 * compiled, not from type tags on the wire.
 */
enum vigil_arg_kind {
	VIGIL_ARG_NONE = 0,
	VIGIL_ARG_INT = 1,		/* 1, 2, 4 or 8 bytes, sent as 8 (user space extends the sign) */
	VIGIL_ARG_STR_ARRAY = 2,	/* char field[N] inside the tracepoint record */
	VIGIL_ARG_STR_DATALOC = 3,	/* __data_loc char[]: offset and length in a __u32 */
	VIGIL_ARG_STR_PTR = 4,		/* a char * into user (else kernel) memory */
	/* syscall64: 8 bytes, bit 31 set when the task makes a 32-bit (compat)
	 * call, as Tetragon's syscall64_set_32bit() marks it */
	VIGIL_ARG_SYSCALL64 = 5,
	VIGIL_ARG_CONST_BUF = 6,	/* `size` bytes of a fixed array in the record (at most 1023) */
	/* char_buf: a pointer whose length is another field (the knobs arg_meta_*);
	 * sent as a __u32 original length, then at most VIGIL_CHAR_BUF_MAX bytes */
	VIGIL_ARG_CHAR_BUF = 7,
	/* A file's name and mode, as struct vigil_path_arg then the path's
	 * VIGIL_PATH_ARG_MAX last bytes at most (lib/arg_path.bpf.h). */
	VIGIL_ARG_FILE = 8,		/* a struct file * */
	VIGIL_ARG_PATH = 9,		/* a struct path * */
	VIGIL_ARG_DENTRY = 10,		/* a struct dentry *: named up to its filesystem's root */
	/* an int: a file descriptor of the current task, resolved to its file;
	 * one that names no file drops the event, as Tetragon's fd type does */
	VIGIL_ARG_FD = 11,
	/* a struct sock *: struct vigil_sock_arg (lib/arg_sock.bpf.h) */
	VIGIL_ARG_SOCK = 12,
	/* a kernel_cap_t *: its 8 bytes (kernel_cap_t, cap_inheritable,
	 * cap_permitted, cap_effective) */
	VIGIL_ARG_KERNEL_CAP = 13,
	/* a struct cred *: struct vigil_cred_arg (lib/arg_cred.bpf.h) */
	VIGIL_ARG_CRED = 14,
	/* a struct linux_binprm *: its file, as VIGIL_ARG_FILE */
	VIGIL_ARG_BINPRM = 15,
	/* a struct net_device *: its name, a string */
	VIGIL_ARG_NET_DEV = 16,
	/* a struct socket *: its sock, as VIGIL_ARG_SOCK */
	VIGIL_ARG_SOCKET = 17,
	/* a struct sk_buff *: struct vigil_skb_arg, its addresses and ports
	 * from the packet's IP and TCP/UDP headers (lib/arg_net.bpf.h) */
	VIGIL_ARG_SKB = 18,
	/* a struct sockaddr * (AF_INET, AF_INET6): struct vigil_sock_arg with
	 * the family, and the address and port as the source's */
	VIGIL_ARG_SOCKADDR = 19,
	/* a struct user_namespace *: struct vigil_user_ns_arg */
	VIGIL_ARG_USER_NS = 20,
	/* a union bpf_attr * (BPF_PROG_LOAD's), a struct bpf_prog *: struct
	 * vigil_bpf_prog_arg (lib/arg_kernel.bpf.h) */
	VIGIL_ARG_BPF_ATTR = 21,
	VIGIL_ARG_BPF_PROG = 22,
	/* a struct bpf_map *: struct vigil_bpf_map_arg */
	VIGIL_ARG_BPF_MAP = 23,
	/* a struct perf_event *: struct vigil_perf_event_arg */
	VIGIL_ARG_PERF_EVENT = 24,
	/* a struct module *, a struct load_info * (a module being loaded, its
	 * signature checked): struct vigil_module_arg */
	VIGIL_ARG_MODULE = 25,
	VIGIL_ARG_LOAD_INFO = 26,
	/* a struct iovec * and their number (the knobs arg_meta_*, as a
	 * char_buf's length): the first VIGIL_IOVEC_MAX buffers' bytes end to
	 * end, sent as a char_buf (their lengths' sum, then at most
	 * VIGIL_CHAR_BUF_MAX bytes; lib/arg_iov.bpf.h) */
	VIGIL_ARG_CHAR_IOVEC = 27,
	/* a struct iov_iter *: its first user (iovec, ubuf) or kernel (kvec)
	 * buffer, sent as a char_buf (lib/arg_iov.bpf.h) */
	VIGIL_ARG_IOV_ITER = 28,
	/* a struct kiocb *: its file, as VIGIL_ARG_FILE */
	VIGIL_ARG_KIOCB = 29,
	/* a struct sockaddr * of AF_UNIX: struct vigil_sockaddr_un_arg, then
	 * the path (an abstract name without its leading NUL) */
	VIGIL_ARG_SOCKADDR_UN = 30,
	/* a struct filename *: its name, a string */
	VIGIL_ARG_FILENAME = 31,
	/* The kinds from VIGIL_ARG_FILE to here are read from a pointer (or fd)
	 * by vigil_read_struct_arg, but for VIGIL_ARG_CHAR_IOVEC (two values). */
	VIGIL_ARG_LAST = VIGIL_ARG_FILENAME,
};

/* What precedes a unix address's path: laid out as struct vigil_path_arg,
 * so the string filters read the path after it as they read a file's. */
struct vigil_sockaddr_un_arg {
	__u32 flags;			/* enum vigil_sockaddr_un_flag */
	__u16 family;
	__u16 pad;
};

enum vigil_sockaddr_un_flag {
	VIGIL_SOCKADDR_UN_F_ABSTRACT = 0x1,	/* sun_path[0] is NUL: an abstract name */
};
#define VIGIL_UNIX_PATH_MAX 108		/* sizeof(sun_path) */

/* A user namespace, as Tetragon's msg_user_namespace reads it. */
struct vigil_user_ns_arg {
	__s32 level;			/* 0: the host's */
	__u32 uid;			/* its owner */
	__u32 gid;
	__u32 inum;
};

/* A cred argument, as Tetragon's MsgGenericCred reads it. */
struct vigil_cred_arg {
	__u32 uid;
	__u32 gid;
	__u32 suid;
	__u32 sgid;
	__u32 euid;
	__u32 egid;
	__u32 fsuid;
	__u32 fsgid;
	__u32 securebits;
	__u32 pad;
	__u64 cap_permitted;
	__u64 cap_effective;
	__u64 cap_inheritable;
	/* the user namespace the ids and capabilities are relative to */
	struct vigil_user_ns_arg user_ns;
};

/* A sock argument, as Tetragon's sk_type reads it (bpf/process/types/sock.h). */
struct vigil_sock_arg {
	__u16 family;			/* AF_INET, AF_INET6, ... */
	__u16 type;			/* SOCK_STREAM, ... */
	__u16 protocol;			/* IPPROTO_TCP, ... */
	__u8 state;			/* TCP_ESTABLISHED, ... */
	__u8 pad;
	__u32 mark;
	__u32 priority;
	__u16 sport;			/* host order */
	__u16 dport;			/* host order */
	__u32 pad2;
	__u64 cookie;			/* the sock's address: Tetragon's cookie */
	__u8 saddr[16];			/* 4 bytes for AF_INET, network order */
	__u8 daddr[16];
};

/* An skb argument, as Tetragon's skb_type reads it (bpf/process/types/skb.h):
 * the IP and TCP/UDP headers' family, protocol, addresses and ports in a
 * sock's layout (type and state 0), so the socket operators read both. */
struct vigil_skb_arg {
	struct vigil_sock_arg tuple;	/* mark and priority: the skb's */
	__u32 hash;
	__u32 len;
	__u32 secpath_len;		/* IPsec: the packet's security path */
	__u32 secpath_olen;
};

#define VIGIL_BPF_OBJ_NAME_LEN 16	/* uapi BPF_OBJ_NAME_LEN */
/* A program being loaded (bpf_attr) or loaded (bpf_prog). */
struct vigil_bpf_prog_arg {
	__u32 prog_type;		/* enum bpf_prog_type */
	__u32 insn_cnt;
	char name[VIGIL_BPF_OBJ_NAME_LEN];
};

struct vigil_bpf_map_arg {
	__u32 map_type;			/* enum bpf_map_type */
	__u32 key_size;
	__u32 value_size;
	__u32 max_entries;
	char name[VIGIL_BPF_OBJ_NAME_LEN];
};

#define VIGIL_KSYM_NAME_LEN 128		/* Tetragon's KSYM_NAME_LEN for a kprobe's function */
struct vigil_perf_event_arg {
	__u32 type;			/* PERF_TYPE_* */
	__u32 pad;
	__u64 config;
	__u64 probe_offset;
	char kprobe_func[VIGIL_KSYM_NAME_LEN];	/* a kprobe event's function */
};

#define VIGIL_MODULE_NAME_LEN 64	/* Tetragon's TG_MODULE_NAME_LEN */
struct vigil_module_arg {
	__u64 taints;			/* TAINT_* bits the module brings */
	__u32 sig_ok;			/* load_info: its signature was verified */
	__u32 pad;
	char name[VIGIL_MODULE_NAME_LEN];
};

/* What precedes a file argument's path in its slot. */
struct vigil_path_arg {
	__u32 flags;			/* enum vigil_path_flag */
	__u16 mode;			/* the inode's i_mode (0: no inode) */
	__u16 pad;
};

enum vigil_path_flag {
	/* Only the path's last VIGIL_PATH_ARG_MAX bytes, or deepest components,
	 * were kept: Tetragon's UnresolvedPathComponents (processapi). */
	VIGIL_PATH_F_UNRESOLVED = 0x2,
};

/* The knob arg_meta_size of a char_buf (tracepoint.bpf.c): the length
 * field's size in bytes, or'ed with these. */
enum vigil_arg_meta {
	VIGIL_ARG_META_SIGNED = 0x80,	/* the length field is signed: negative reads nothing */
};

/* What a generic hook's selector did (Tetragon's KPROBE_ACTION_* in user
 * space). A record carries the last action its selector ran, as Tetragon's
 * do_action() leaves it; NoPost sends no record. */
enum vigil_action {
	VIGIL_ACTION_POST = 1,
	VIGIL_ACTION_NOPOST = 2,
	VIGIL_ACTION_SIGKILL = 3,
	VIGIL_ACTION_SIGNAL = 4,
	/* the hooked function returns the selector's argError instead of
	 * running (a kprobe's bpf_override_return, or fmod_ret) */
	VIGIL_ACTION_OVERRIDE = 5,
	/* the policy's enforcer (generic/enforcer.bpf.c) makes the thread's
	 * next call of one of its functions return argError and sends argSig */
	VIGIL_ACTION_NOTIFY_ENFORCER = 6,
	/* the thread's notification no enforcer acted on is dropped */
	VIGIL_ACTION_CLEANUP_ENFORCER = 7,
	/* argSock's sock is owned by this thread from now on: the events that
	 * read it name its owner (a sock is often used where no owner runs) */
	VIGIL_ACTION_TRACK_SOCK = 8,
	VIGIL_ACTION_UNTRACK_SOCK = 9,
};

/* A NotifyEnforcer's word to the policy's enforcer, keyed by the thread's
 * pid_tgid in the policy's vigil_enforcer_notes: what the next enforced
 * call returns instead (0: its own) and the signal sent then (0: none). */
struct vigil_enforcer_note {
	__s32 error;
	__s32 signal;
	__u32 hook_id;			/* the hook whose selector notified */
	__u32 pad;
};

/* Who owns a tracked sock (TrackSock), keyed by the sock's address in the
 * policy's vigil_sock_owners: the events that read the sock name them. */
struct vigil_sock_owner {
	struct vigil_proc_key key;
	__u32 tid;
	__u32 pad;
};

#define VIGIL_GENERIC_ARGS_MAX 5	/* Tetragon's limit of arguments per hook */
#define VIGIL_ARG_STR_MAX 1024		/* longest string argument read (as Tetragon's MAX_STRING) */
/* A char_buf's bytes share the argument's VIGIL_ARG_STR_MAX with its 4-byte
 * original length; a const_buf copies at most its mask, as Tetragon's 0x3ff. */
#define VIGIL_CHAR_BUF_MAX (VIGIL_ARG_STR_MAX - 4)
#define VIGIL_CONST_BUF_MASK 0x3FF
#define VIGIL_IOVEC_MAX 8		/* a char_iovec's buffers read */
#define VIGIL_IOVEC_LEN_MAX 64		/* ... and whose lengths are summed */
#define VIGIL_RESOLVE_MAX 10		/* steps of a resolve: path (Tetragon's MAX_BTF_ARG_DEPTH) */
/* A syscall64 made by a 32-bit (compat) task: Tetragon's IS_32BIT. */
#define VIGIL_SYSCALL64_32BIT 0x80000000ULL
/* An argument takes its 4-byte length and at most VIGIL_ARG_STR_MAX bytes,
 * rounded up to 8; the offset of the next one is masked like an exec part. */
#define VIGIL_ARG_SLOT_MAX (4 + VIGIL_ARG_STR_MAX + 4)
#define VIGIL_GENERIC_OFF_MASK ((1 << 13) - 1)
#define VIGIL_GENERIC_DATA_MAX (VIGIL_GENERIC_OFF_MASK + 1 + VIGIL_ARG_SLOT_MAX)

_Static_assert((VIGIL_GENERIC_ARGS_MAX - 1) * VIGIL_ARG_SLOT_MAX <= VIGIL_GENERIC_OFF_MASK,
	       "the mask must exceed the last argument's largest offset");
_Static_assert(VIGIL_CONST_BUF_MASK < VIGIL_ARG_STR_MAX && VIGIL_CHAR_BUF_MAX + 4 <= VIGIL_ARG_STR_MAX,
	       "a buffer argument fits an argument's slot");
/* A file argument's path shares its slot with struct vigil_path_arg. */
#define VIGIL_PATH_ARG_MAX (VIGIL_ARG_STR_MAX - 8)
_Static_assert(sizeof(struct vigil_path_arg) == 8, "a path argument's header is 8 bytes");
_Static_assert(sizeof(struct vigil_sockaddr_un_arg) == sizeof(struct vigil_path_arg),
	       "a unix address's path sits where a file's does");
_Static_assert(sizeof(struct vigil_sock_arg) <= VIGIL_ARG_STR_MAX, "a sock fits a slot");
_Static_assert(sizeof(struct vigil_cred_arg) <= VIGIL_ARG_STR_MAX, "a cred fits a slot");
_Static_assert(sizeof(struct vigil_skb_arg) <= VIGIL_ARG_STR_MAX &&
	       sizeof(struct vigil_perf_event_arg) <= VIGIL_ARG_STR_MAX &&
	       sizeof(struct vigil_module_arg) <= VIGIL_ARG_STR_MAX, "struct arguments fit a slot");
_Static_assert(((VIGIL_GENERIC_OFF_MASK + 1) & VIGIL_GENERIC_OFF_MASK) == 0,
	       "the offset mask is 2^k - 1");

#include "generic/selectors.h"

/* OP_GENERIC_TRACEPOINT: a policy's tracepoint fired and its selectors matched. */
struct vigil_generic_event {
	struct vigil_msg_header hdr;
	struct vigil_proc_key key;	/* from the exec map; ktime 0 if it had none */
	__u32 tid;
	__u32 hook_id;
	__u32 action;			/* enum vigil_action */
	__u16 nargs;
	__u16 data_len;
	char data[VIGIL_GENERIC_DATA_MAX];
};

/*
 * OP_GENERIC_RETURN: a hooked call returned whose entry record was sent (a
 * kprobe with `return: true`). User space joins the two on (hook_id, tid,
 * enter_ktime), enter_ktime being the entry record's hdr.ktime; the fixed
 * part up to data_len is laid out as vigil_generic_event's. Its arguments:
 * the return value (an 8-byte integer), then the returnCopy argument read
 * again now that the call has filled it, if the hook has one.
 */
#define VIGIL_RETURN_ARGS_MAX 2
struct vigil_generic_return {
	struct vigil_msg_header hdr;
	struct vigil_proc_key key;
	__u32 tid;
	__u32 hook_id;
	__u32 action;			/* enum vigil_action */
	__u16 nargs;
	__u16 data_len;
	__u64 enter_ktime;
	char data[VIGIL_RETURN_ARGS_MAX * VIGIL_ARG_SLOT_MAX];
};

_Static_assert(sizeof(struct vigil_generic_return) <= sizeof(struct vigil_generic_event),
	       "a return record is built in the generic heap");
/* A struct return value (a returnArg of type sock, file, ...) is read by the
 * struct readers, which write at an offset into the heap's event: the
 * return's data starts this far into the event's. */
#define VIGIL_RETURN_DATA_SHIFT 8
_Static_assert(offsetof(struct vigil_generic_return, data) ==
	       offsetof(struct vigil_generic_event, data) + VIGIL_RETURN_DATA_SHIFT,
	       "a return record is an event's fixed part and enter_ktime");

/*
 * OP_GENERIC_DATA: the bytes of a maxData buffer argument (char_buf,
 * iov_iter) past the VIGIL_CHAR_BUF_MAX its slot holds, in chunks sent just
 * before the record they belong to, which user space joins them to on
 * (hook_id, tid, enter_ktime, arg). At most VIGIL_MAX_DATA bytes are sent in
 * all (Tetragon's maxData limit); a chunk the ring buffer had no room for
 * ends the buffer there (VIGIL_STAT_RINGBUF_FULL_DATA).
 */
#define VIGIL_MAX_DATA 327360
#define VIGIL_DATA_CHUNK 4032
struct vigil_generic_data {
	struct vigil_msg_header hdr;
	__u32 hook_id;
	__u32 tid;
	__u64 enter_ktime;		/* the record's hdr.ktime */
	__u16 arg;			/* the argument's position in the record */
	__u16 pad;
	__u32 offset;			/* of data[0] in the buffer */
	__u32 len;			/* bytes of data[] that are the buffer's */
	__u32 pad2;
	char data[VIGIL_DATA_CHUNK];
};

#endif /* VIGIL_EVENTS_H */

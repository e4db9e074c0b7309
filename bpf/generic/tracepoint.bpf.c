// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The generic tracepoint sensor: one instance of this object per hook of a
 * TracingPolicy's spec.tracepoints, attached by user space to the policy's
 * subsystem/event (SEC("tp") names no tracepoint of its own). What to read
 * is fixed for the life of the hook, so it is const volatile knobs the
 * verifier folds: each argument's kind, offset and size in the tracepoint's
 * record, taken from tracefs's format by the policy's plan.
 *
 * The ctx of a tracepoint program is the trace entry itself (common_* fields
 * first), which is where tracefs's offsets count from.
 *
 * The same pipeline serves raw tracepoints (`raw: true`): the ctx of a
 * raw_tp or tp_btf program is the tracepoint's TP_PROTO arguments, each
 * widened to a __u64 slot (include/trace/bpf_probe.h), so argument i sits at
 * offset 8 * i and the same read-at-offset code reads it. Each entry point
 * below is one program type; user space loads only the one its plan chose
 * (sensors/raw_tracepoint_compile.py), and a tp_btf program is given its
 * tracepoint before load (SEC("tp_btf") names none).
 *
 * Kernel functions (spec.kprobes) run the same pipeline as kprobe/kretprobe
 * or fentry/fexit programs, on the rung of the hook ladder user space chose
 * (sensors/hook_ladder.py). Their arguments are put where the pipeline reads
 * them, eight bytes each from offset 0: a kprobe copies its registers into
 * vigil_call_args; an fentry program's ctx already is that array; a syscall's
 * function (__x64_sys_NAME) takes one struct pt_regs * whose registers hold
 * the call's arguments, which are copied out of it (syscall_regs). The
 * return value is read the same way: kretprobe's register, copied to offset
 * 0, or fexit's ctx slot after the arguments (ret_offset).
 *
 * User functions (spec.uprobes) run it as uprobe/uretprobe programs, their
 * registers copied into vigil_call_args as a kprobe's. A user function may
 * recurse, so one thread can be inside it several times at once: its call
 * in flight is keyed by its frame too (the stack pointer at entry), and the
 * return joins the entry of its own frame.
 *
 * A kprobe on a syscall, where the kernel cannot attach kprobes, runs here
 * too: on syscalls/sys_enter_NAME, whose fields after __syscall_nr are the
 * call's arguments. If the policy wants the call's return, the entry notes
 * the call in vigil_ret_pending and vigil_generic_tp_ret, on
 * syscalls/sys_exit_NAME, sends the return value then (OP_GENERIC_RETURN):
 * the return of a call whose entry was filtered out is never sent.
 *
 * Struct arguments (fd, file, path, dentry, sock: lib/arg_path.bpf.h,
 * lib/arg_sock.bpf.h) and the socket operators are built in only with
 * VIGIL_STRUCT_ARGS (generic/struct_args.bpf.c): a program's size is the
 * kernel memory it takes, and a hook that reads none loads this smaller
 * object.
 *
 * Its selectors (lib/selectors.bpf.h) run in DESIGN §5's order: the pids of
 * every selector on the process identity before anything is read, the
 * argument filters on the record's arguments, and the first selector that
 * accepts chooses the actions: signals are sent here, before the program
 * returns, and NoPost sends no record.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "events.h"
#include "lib/stats.bpf.h"
#include "lib/shared_maps.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u32 hook_id = 0;
const volatile __u32 nargs = 0;
const volatile __u8 arg_kind[VIGIL_GENERIC_ARGS_MAX] = {};
const volatile __u16 arg_offset[VIGIL_GENERIC_ARGS_MAX] = {};
const volatile __u16 arg_size[VIGIL_GENERIC_ARGS_MAX] = {};
/* char_buf: the field holding each buffer's length (sizeArgIndex): its
 * offset, and its size in bytes with enum vigil_arg_meta's flags. */
const volatile __u16 arg_meta_off[VIGIL_GENERIC_ARGS_MAX] = {};
const volatile __u8 arg_meta_size[VIGIL_GENERIC_ARGS_MAX] = {};
/* The call's return is reported: the offset of `ret` in the sys_exit
 * record, and the argument read again at return (returnCopy), if any. */
const volatile bool has_return = false;
const volatile __u16 ret_offset = 0;
const volatile __u32 ret_copy = VIGIL_GENERIC_ARGS_MAX;	/* none */
/* How the return value is read (returnArg's type): an integer, or a struct
 * kind read from the pointer returned (generic/struct_args.bpf.c only); and
 * what is done with the sock it names (returnArgAction: TrackSock or
 * UntrackSock; 0: nothing). */
const volatile __u8 ret_kind = VIGIL_ARG_INT;
const volatile __u8 ret_sock_action = 0;
/* resolve: (generic/struct_args.bpf.c only) the steps from each argument's
 * register to the value read: add arg_resolve_off[i][d], then load the 8
 * bytes there where bit d of arg_resolve_load[i] is set (sensors/btf_resolve.py
 * works them out from the kernel's BTF). */
const volatile __u8 arg_resolve_steps[VIGIL_GENERIC_ARGS_MAX] = {};
const volatile __u32 arg_resolve_off[VIGIL_GENERIC_ARGS_MAX][VIGIL_RESOLVE_MAX] = {};
const volatile __u16 arg_resolve_load[VIGIL_GENERIC_ARGS_MAX] = {};
/* maxData: the arguments (bit i: position i) whose whole buffer is sent,
 * past their slot in OP_GENERIC_DATA chunks. */
const volatile __u8 arg_max_data = 0;
/* A syscall's function: its one argument is the caller's struct pt_regs *. */
const volatile bool syscall_regs = false;
/* The hook has an Override action and runs as a kprobe on a kernel with
 * bpf_override_return (else the helper's call is pruned unverified). */
const volatile bool can_override = false;
/* How many slots of vigil_cgroup_scope the policy fills (0: not scoped). */
const volatile __u32 cgroup_scopes = 0;

/* The record is 9 KiB: built in this per-CPU heap (written and read here). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_generic_event);
} vigil_generic_heap SEC(".maps");

/* The cgroup subtrees a policy is scoped to (its cgroup-path options), the
 * cgroup v2 directories user space opened, written before attach and read
 * by every hit. bpf_current_task_under_cgroup() walks the task's cgroup's
 * ancestors (cgroup_is_descendant()): a cgroup made below one later is in
 * scope from its first task, with nothing for user space to track. Keys and
 * values are sizes: the kernel takes no BTF for a cgroup array. Sized by
 * user space (one slot per cgroup). */
struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, VIGIL_CGROUP_SCOPES_MAX);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} vigil_cgroup_scope SEC(".maps");

/* Whether the current task is in the policy's scope: the first, cheapest
 * test of every hit (a helper call per slot; no scope: none at all). */
static __always_inline bool in_cgroup_scope(void)
{
	__u32 i;

	if (!cgroup_scopes)
		return true;
#pragma unroll
	for (i = 0; i < VIGIL_CGROUP_SCOPES_MAX; i++) {
		if (i >= cgroup_scopes)
			break;
		if (bpf_current_task_under_cgroup(&vigil_cgroup_scope, i) == 1)
			return true;
	}
	return false;
}

/* A hooked function's arguments (or return value), 8 bytes each, where the
 * pipeline reads them: the per-CPU scratch kprobe programs copy them into. */
struct call_args {
	__u64 a[VIGIL_GENERIC_ARGS_MAX + 1];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct call_args);
} vigil_call_args SEC(".maps");

/* A call whose entry record was sent and whose return is awaited: when it
 * entered (the entry record's ktime, the join key in user space) and the
 * buffer pointer a returnCopy argument reads at return. */
struct ret_pending {
	__u64 enter_ktime;
	__u64 copy_ptr;
	__u32 sel;		/* the selector that chose the entry, + 1; 0: none */
	__u32 tid;		/* the thread the entry named (a tracked sock's owner's) */
	__u32 posted;		/* 0: the entry was not sent (NoPost), only its
				 * returnArgAction is to be done */
	__u32 pad;
};

/* A call in flight: its hook and thread, and for a user function its
 * frame (the stack pointer at its entry), since user code recurses and a
 * thread is then inside the same function more than once; 0 for a kernel one. */
struct ret_key {
	__u64 hook_tid;		/* hook id << 32 | tid */
	__u64 frame;
};

/* Calls in flight, by thread and hook id (one kprobe.multi program is many
 * hooks, which a thread can be inside of at once): the entry program writes,
 * the return program reads and deletes. Not preallocated, so an idle hook costs no memory; user
 * space sets max_entries (1 when the hook has no return). A thread that never
 * returns (killed in the call) leaves its entry until its tid is reused. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ret_key);
	__type(value, struct ret_pending);
} vigil_ret_pending SEC(".maps");

#ifdef VIGIL_STRUCT_ARGS
/* (maxData, like the struct arguments, is built into generic/struct_args.bpf.o
 * only: a hook without it carries none of its code or maps.)
 *
 * The buffer (user, else kernel memory) and length of each maxData
 * argument, noted as it is read and sent once the selectors post: one
 * program run writes and reads it. `last` is the buffer the last buffer
 * argument read. */
struct data_bufs {
	/* 8, not VIGIL_GENERIC_ARGS_MAX: an index masked with 7 is in bounds */
	__u64 ptr[8];
	__u64 len[8];
	__u64 last_ptr;
	__u64 last_len;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct data_bufs);
} vigil_data_bufs SEC(".maps");

static __always_inline void note_buffer(__u64 ptr, __u64 len)
{
	struct data_bufs *b;
	__u32 zero = 0;

	if (!arg_max_data)
		return;
	b = bpf_map_lookup_elem(&vigil_data_bufs, &zero);
	if (b) {
		b->last_ptr = ptr;
		b->last_len = len;
	}
}

/* The buffer the last buffer argument read is argument `i`'s. */
static __always_inline void keep_buffer(__u32 i)
{
	struct data_bufs *b;
	__u32 zero = 0;

	b = bpf_map_lookup_elem(&vigil_data_bufs, &zero);
	if (b && i < 8) {
		b->ptr[i] = b->last_ptr;
		b->len[i] = b->last_len;
	}
}

/* Argument `i`'s buffer past its slot, VIGIL_DATA_CHUNK bytes a record, up
 * to VIGIL_MAX_DATA bytes in all, for the record of hook `hid` at `ktime`.
 * Each chunk is built in the path heap's buffer (free between arguments)
 * and sent with only its own bytes. */
__noinline int vigil_send_data(__u32 i, __u32 hid, __u32 tid, __u64 ktime)
{
	struct vigil_generic_data *d;
	struct vigil_path_buf *pb;
	struct data_bufs *b;
	__u32 zero = 0, c, n;
	__u64 off, len, base;
	long err;

	b = bpf_map_lookup_elem(&vigil_data_bufs, &zero);
	pb = bpf_map_lookup_elem(&vigil_path_heap, &zero);
	if (!b || !pb)
		return 0;
	/* 6.1's verifier loses the bound of a global function's argument
	 * across the calls above: the mask, which clang must keep, is one it
	 * keeps (through a spill too), and the arrays have room for it. */
	barrier_var(i);
	i &= 7;
	d = (struct vigil_generic_data *)pb->buf;
	base = b->ptr[i];
	len = b->len[i] < VIGIL_MAX_DATA ? b->len[i] : VIGIL_MAX_DATA;
#pragma clang loop unroll(disable)
	for (c = 0; c < (VIGIL_MAX_DATA - VIGIL_CHAR_BUF_MAX) / VIGIL_DATA_CHUNK + 1; c++) {
		off = VIGIL_CHAR_BUF_MAX + (__u64)c * VIGIL_DATA_CHUNK;
		if (off >= len)
			break;
		n = len - off < VIGIL_DATA_CHUNK ? len - off : VIGIL_DATA_CHUNK;
		__builtin_memset(d, 0, offsetof(struct vigil_generic_data, data));
		d->hdr.op = VIGIL_OP_GENERIC_DATA;
		d->hdr.ktime = bpf_ktime_get_ns();
		d->hook_id = hid;
		d->tid = tid;
		d->enter_ktime = ktime;
		d->arg = i;
		d->offset = off;
		barrier_var(n);
		n &= 0xFFF;
		if (n > VIGIL_DATA_CHUNK)
			n = VIGIL_DATA_CHUNK;
		err = bpf_probe_read_user(d->data, n, (void *)(base + off));
		if (err)
			err = bpf_probe_read_kernel(d->data, n, (void *)(base + off));
		if (err)
			return 0;	/* unreadable from here on: the event ends the buffer */
		d->len = n;
		d->hdr.size = offsetof(struct vigil_generic_data, data) + n;
		if (bpf_ringbuf_output(&vigil_events, d, offsetof(struct vigil_generic_data, data) + n,
				       0)) {
			stat_inc(VIGIL_STAT_RINGBUF_FULL_DATA);
			return 0;
		}
	}
	return 0;
}
#else
static __always_inline void note_buffer(__u64 ptr, __u64 len) {}
static __always_inline void keep_buffer(__u32 i) {}
static __always_inline int vigil_send_data(__u32 i, __u32 hid, __u32 tid, __u64 ktime)
{
	return 0;
}
#endif

#include "lib/selectors.bpf.h"
#ifdef VIGIL_STRUCT_ARGS
/* Resolved arguments, where the pipeline reads them (8 bytes each, at the
 * argument's index): written and read by one program run. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct call_args);
} vigil_resolved SEC(".maps");

/* Argument `i`'s value `v` walked along its resolve: path into
 * vigil_resolved; 0 or the errno of the load that failed. */
__noinline int vigil_resolve(__u64 v, __u32 i)
{
	struct call_args *out;
	__u32 zero = 0, d;
	long err;

	out = bpf_map_lookup_elem(&vigil_resolved, &zero);
	if (!out || i >= VIGIL_GENERIC_ARGS_MAX)
		return -VIGIL_ENOMEM;
	for (d = 0; d < VIGIL_RESOLVE_MAX; d++) {
		if (d >= arg_resolve_steps[i])
			break;
		v += arg_resolve_off[i][d];
		if (arg_resolve_load[i] & (1U << d)) {
			err = bpf_probe_read_kernel(&v, sizeof(v), (void *)v);
			if (err)
				return err;
		}
	}
	out->a[i] = v;
	return 0;
}

#include "lib/arg_path.bpf.h"
#include "lib/arg_cred.bpf.h"
#include "lib/arg_net.bpf.h"
#include "lib/arg_kernel.bpf.h"
#include "lib/arg_iov.bpf.h"

/* A struct argument (a file's, a sock's) into this CPU's record at `used`:
 * one call site for the loop's unrolled copies. */
__noinline int vigil_read_struct_arg(__u32 used, __u64 ptr, __u32 kind)
{
	__u32 zero = 0;
	struct vigil_generic_event *e;

	switch (kind) {
	case VIGIL_ARG_SOCKET:
		/* The socket's sock, read as a sock is. */
		if (!ptr)
			return -VIGIL_EFAULT;
		ptr = (__u64)BPF_CORE_READ((struct socket *)ptr, sk);
		/* fallthrough */
	case VIGIL_ARG_SOCK:
		return vigil_read_sock_arg(used, ptr);
	case VIGIL_ARG_SKB:
		return vigil_read_skb_arg(used, ptr);
	case VIGIL_ARG_IOV_ITER:
		return vigil_read_iov_iter(used, ptr);
	case VIGIL_ARG_SOCKADDR:
		return vigil_read_sockaddr_arg(used, ptr);
	case VIGIL_ARG_USER_NS:
	case VIGIL_ARG_BPF_ATTR:
	case VIGIL_ARG_BPF_PROG:
	case VIGIL_ARG_BPF_MAP:
	case VIGIL_ARG_PERF_EVENT:
	case VIGIL_ARG_MODULE:
	case VIGIL_ARG_LOAD_INFO:
		return vigil_read_kernel_arg(used, ptr, kind);
	case VIGIL_ARG_CRED:
		return vigil_read_cred_arg(used, ptr);
	case VIGIL_ARG_KERNEL_CAP:
		e = bpf_map_lookup_elem(&vigil_generic_heap, &zero);
		if (!e)
			return -VIGIL_ENOMEM;
		return bpf_probe_read_kernel(&e->data[VIGIL_MASK(used, VIGIL_GENERIC_OFF_MASK) + 4],
					     8, (void *)ptr) ?: 8;
	case VIGIL_ARG_NET_DEV: {
		long n;

		e = bpf_map_lookup_elem(&vigil_generic_heap, &zero);
		if (!e)
			return -VIGIL_ENOMEM;
		if (!ptr)
			return -VIGIL_EFAULT;
		n = bpf_probe_read_kernel_str(&e->data[VIGIL_MASK(used, VIGIL_GENERIC_OFF_MASK) + 4],
					      sizeof(((struct net_device *)0)->name),
					      &((struct net_device *)ptr)->name);
		return n > 0 ? n - 1 : n;
	}
	case VIGIL_ARG_FILENAME: {
		/* getname()'s copy of a path the task passed: kernel memory */
		const char *name = NULL;
		long n;

		e = bpf_map_lookup_elem(&vigil_generic_heap, &zero);
		if (!e)
			return -VIGIL_ENOMEM;
		if (!ptr || BPF_CORE_READ_INTO(&name, (struct filename *)ptr, name))
			return -VIGIL_EFAULT;
		n = bpf_probe_read_kernel_str(&e->data[VIGIL_MASK(used, VIGIL_GENERIC_OFF_MASK) + 4],
					      VIGIL_ARG_STR_MAX, name);
		return n > 0 ? n - 1 : n;
	}
	case VIGIL_ARG_BINPRM:
		/* The file being executed (bprm->file), named as a file is. */
		if (!ptr)
			return -VIGIL_EFAULT;
		ptr = (__u64)BPF_CORE_READ((struct linux_binprm *)ptr, file);
		kind = VIGIL_ARG_FILE;
		break;
	case VIGIL_ARG_KIOCB:
		if (!ptr)
			return -VIGIL_EFAULT;
		ptr = (__u64)BPF_CORE_READ((struct kiocb *)ptr, ki_filp);
		kind = VIGIL_ARG_FILE;
		break;
	}
	return vigil_read_path_arg(used, ptr, kind);
}
#endif

/* The current task is in a 32-bit (compat) syscall: what Tetragon's
 * syscall64_set_32bit() tests, TS_COMPAT on x86 and TIF_32BIT on arm64
 * (arch/x86/include/asm/thread_info.h, arch/arm64/include/asm/thread_info.h). */
static __always_inline bool syscall_compat(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

#if defined(__TARGET_ARCH_x86)
	return BPF_CORE_READ(task, thread_info.status) & 0x0002;
#elif defined(__TARGET_ARCH_arm64)
	return BPF_CORE_READ(task, thread_info.flags) & (1UL << 22);
#else
	return false;
#endif
}

/* A char_buf: the original length (a __u32, clamped) then the first
 * VIGIL_CHAR_BUF_MAX bytes at most; returns the bytes written or an errno.
 * A negative length (a signed field) reads nothing. */
static __always_inline long read_char_buf(void *ctx, char *val, __u16 off, __u16 meta_off,
					  __u8 meta_size)
{
	__u32 bits = (meta_size & 0xF) * 8, rd;
	__u64 ptr = 0, want = 0;
	long err;

	err = bpf_probe_read_kernel(&ptr, sizeof(ptr), ctx + off);
	if (!err)
		err = bpf_probe_read_kernel(&want, meta_size & 0xF, ctx + meta_off);
	if (err)
		return err;
	if ((meta_size & VIGIL_ARG_META_SIGNED) && bits && bits < 64)
		want = (__u64)((__s64)(want << (64 - bits)) >> (64 - bits));
	if ((meta_size & VIGIL_ARG_META_SIGNED) && (__s64)want < 0)
		want = 0;
	*(__u32 *)val = want < 0xFFFFFFFFULL ? want : 0xFFFFFFFFU;
	note_buffer(ptr, want);
	rd = want < VIGIL_CHAR_BUF_MAX ? want : VIGIL_CHAR_BUF_MAX;
	rd = VIGIL_MASK(rd, VIGIL_CONST_BUF_MASK);
	/* A kernel buffer where the user read fails; if both fail, the user
	 * read's errno (the kernel read refuses a user address with ERANGE,
	 * which would hide the fault). */
	err = bpf_probe_read_user(val + 4, rd, (void *)ptr);
	if (err < 0 && !bpf_probe_read_kernel(val + 4, rd, (void *)ptr))
		err = 0;
	return err < 0 ? err : 4 + rd;
}

/* Zeroes the slot's bytes after its `len` written ones, up to the next 8:
 * the record is sent with them, and the heap still holds the previous
 * record's bytes there (DESIGN §3: every byte sent is this record's). */
static __always_inline void zero_padding(struct vigil_generic_event *e, __u32 used, __u32 len)
{
	__u32 rem = len & 7;
	__u64 *word;

	if (!rem)
		return;
	word = (__u64 *)&e->data[(used + (len & ~7U)) & VIGIL_GENERIC_OFF_MASK];
	*word &= (1ULL << (rem * 8)) - 1;	/* little-endian: the low bytes come first */
}

/* Reads one argument into the record at `used`; returns the bytes it took
 * (its length word, its bytes, padding to 8), or 0 when the call is not to
 * be reported. */
static __always_inline __u32 read_arg(void *ctx, struct vigil_generic_event *e, __u32 used,
				      __u8 kind, __u16 off, __u16 size, __u16 meta_off,
				      __u8 meta_size)
{
	char *slot = &e->data[used & VIGIL_GENERIC_OFF_MASK];
	char *val = slot + 4;
	__u32 loc = 0;
	__u64 ptr = 0;
	long n = 0;

	switch (kind) {
	case VIGIL_ARG_INT:
		/* Zero first: a narrower field leaves the high bytes zero. */
		*(__u64 *)val = 0;
		n = bpf_probe_read_kernel(val, size & 0xF, ctx + off);
		n = n ? n : 8;
		break;
	case VIGIL_ARG_SYSCALL64:
		*(__u64 *)val = 0;
		n = bpf_probe_read_kernel(val, size & 0xF, ctx + off);
		if (!n && syscall_compat())
			*(__u64 *)val |= VIGIL_SYSCALL64_32BIT;
		n = n ? n : 8;
		break;
	case VIGIL_ARG_CONST_BUF:
		n = bpf_probe_read_kernel(val, size & VIGIL_CONST_BUF_MASK, ctx + off);
		n = n ? n : (size & VIGIL_CONST_BUF_MASK);
		break;
	case VIGIL_ARG_CHAR_BUF:
		n = read_char_buf(ctx, val, off, meta_off, meta_size);
		break;
	case VIGIL_ARG_STR_ARRAY:
		/* Never past the field: a full array has no NUL of its own. */
		n = bpf_probe_read_kernel_str(val, size && size < VIGIL_ARG_STR_MAX ?
					      size : VIGIL_ARG_STR_MAX, ctx + off);
		n = n > 0 ? n - 1 : n;
		break;
	case VIGIL_ARG_STR_DATALOC:
		n = bpf_probe_read_kernel(&loc, sizeof(loc), ctx + off);
		if (!n) {
			n = bpf_probe_read_kernel_str(val, VIGIL_ARG_STR_MAX, ctx + (loc & 0xFFFF));
			n = n > 0 ? n - 1 : n;
		}
		break;
	case VIGIL_ARG_STR_PTR:
		n = bpf_probe_read_kernel(&ptr, sizeof(ptr), ctx + off);
		if (!n) {
			n = bpf_probe_read_user_str(val, VIGIL_ARG_STR_MAX, (void *)ptr);
			if (n < 0)
				n = bpf_probe_read_kernel_str(val, VIGIL_ARG_STR_MAX, (void *)ptr);
			n = n > 0 ? n - 1 : n;
		}
		break;
#ifdef VIGIL_STRUCT_ARGS
	case VIGIL_ARG_SOCKADDR_UN: {
		/* with sizeArgIndex, the address's length (addrlen) */
		__s64 alen = 0;

		n = bpf_probe_read_kernel(&ptr, sizeof(ptr), ctx + off);
		if (!n && (meta_size & 0xF))
			n = bpf_probe_read_kernel(&alen, meta_size & 0xF, ctx + meta_off);
		if (!n)
			n = vigil_read_sockaddr_un_arg(used, ptr, alen > 0 ? (__u32)alen : 0);
		break;
	}
	case VIGIL_ARG_CHAR_IOVEC: {
		__u64 cnt = 0;

		n = bpf_probe_read_kernel(&ptr, sizeof(ptr), ctx + off);
		if (!n)
			n = bpf_probe_read_kernel(&cnt, meta_size & 0xF, ctx + meta_off);
		if (!n)
			n = vigil_read_char_iovec(used, ptr, cnt);
		break;
	}
#endif
	default:
		n = 0;
#ifdef VIGIL_STRUCT_ARGS
		/* The struct kinds (file and up): a pointer, or a descriptor
		 * (zero first: a 4-byte one leaves the high bytes zero, and -1
		 * is then past any table), read by vigil_read_struct_arg. */
		if (kind < VIGIL_ARG_FILE || kind > VIGIL_ARG_LAST)
			break;
		n = bpf_probe_read_kernel(&ptr, kind == VIGIL_ARG_FD ? size & 0xF : 8, ctx + off);
		if (!n)
			n = vigil_read_struct_arg(used, ptr, kind);
		/* A descriptor that names no file: no event, as Tetragon's fd
		 * type filters the call out. */
		if (kind == VIGIL_ARG_FD && n == -VIGIL_EBADF)
			return 0;
#endif
	}
	if (n > VIGIL_ARG_STR_MAX)
		n = VIGIL_ARG_STR_MAX;
	*(__s32 *)slot = n;
	if (n < 0)
		n = 0;
	zero_padding(e, used, 4 + (__u32)n);
	return (4 + (__u32)n + 7) & ~7U;
}

/* The pipeline, for the hook `hid` (the knob hook_id, or a kprobe.multi
 * link's cookie); returns whether an Override chose the call's return value
 * (in vigil_override): only the entry points that can override ask. */
static __always_inline int generic_hook(void *ctx, __u32 hid, __u64 frame)
{
	int override = 0;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
#ifdef VIGIL_STRUCT_ARGS
	__u64 owned = 0;	/* the last sock read, if the policy tracks socks */
	struct vigil_sock_owner owner = {};
#endif
	__u32 tgid = pid_tgid >> 32, zero = 0, used = 0, size, pids = 0, took, chosen = 0;
	const struct vigil_selectors *sc;
	struct vigil_exec_identity *id;
	struct vigil_generic_event *e;
	int i;

	if (!in_cgroup_scope())
		return 0;
	sc = bpf_map_lookup_elem(&vigil_selectors, &zero);
	if (!sc)
		return 0;
	if (sc->nsel) {
		pids = vigil_sel_pids(tgid);
		if (!pids)
			return 0;
	}

	e = bpf_map_lookup_elem(&vigil_generic_heap, &zero);
	if (!e) {
		stat_inc(VIGIL_STAT_HEAP_MISSING);
		return 0;
	}
	__builtin_memset(e, 0, offsetof(struct vigil_generic_event, data));
	e->hdr.op = VIGIL_OP_GENERIC_TRACEPOINT;
	e->hdr.ktime = bpf_ktime_get_ns();
	e->tid = (__u32)pid_tgid;
	e->hook_id = hid;
	e->action = VIGIL_ACTION_POST;

#pragma unroll
	for (i = 0; i < VIGIL_GENERIC_ARGS_MAX; i++) {
		void *base = ctx;
		__u16 off = arg_offset[i];

		if (i >= nargs)
			break;
#ifdef VIGIL_STRUCT_ARGS
		if (arg_resolve_steps[i]) {
			__u64 v = 0;
			long err = bpf_probe_read_kernel(&v, sizeof(v), ctx + off);

			if (!err)
				err = vigil_resolve(v, i);
			if (err) {
				/* A pointer on the path that could not be read:
				 * the argument is an error, as Tetragon's. */
				*(__s32 *)&e->data[used & VIGIL_GENERIC_OFF_MASK] = err;
				zero_padding(e, used, 4);
				used += 8;
				continue;
			}
			base = bpf_map_lookup_elem(&vigil_resolved, &zero);
			if (!base)
				return 0;
			off = 8 * i;
		}
#endif
		took = read_arg(base, e, used, arg_kind[i], off, arg_size[i],
				arg_meta_off[i], arg_meta_size[i]);
		if (!took)
			return 0;
#ifdef VIGIL_STRUCT_ARGS
		/* The last sock read names the event's process if it is tracked,
		 * as in Tetragon (each sock read there overwrites the process). */
		if (sock_owners && (arg_kind[i] == VIGIL_ARG_SOCK || arg_kind[i] == VIGIL_ARG_SOCKET) &&
		    *(__s32 *)&e->data[used & VIGIL_GENERIC_OFF_MASK] > 0)
			owned = ((struct vigil_sock_arg *)&e->data[(used & VIGIL_GENERIC_OFF_MASK) + 4])->cookie;
#endif
		used += took;
		if (arg_max_data & (1U << i))
			keep_buffer(i);
	}
	e->nargs = nargs;
	e->data_len = used;
#ifdef VIGIL_STRUCT_ARGS
	/* Its owner as the sock was read, before an UntrackSock of this
	 * record's own selector forgets it (Tetragon looks it up in the read). */
	if (owned) {
		struct vigil_sock_owner *o = bpf_map_lookup_elem(&vigil_sock_owners, &owned);

		if (o)
			owner = *o;
	}
#endif

	if (sc->nsel) {
		int s = vigil_sel_choose(pids), done;

		if (s < 0)
			return 0;
		chosen = s + 1;
		done = vigil_sel_actions(s, 0);
		override = done & VIGIL_SEL_DO_OVERRIDE;
		if (!(done & VIGIL_SEL_DO_POST)) {
			/* No entry record; a returnArgAction is still done at return. */
			if (has_return && ret_sock_action) {
				struct ret_pending p = { .sel = chosen };
				struct ret_key key = { (__u64)hid << 32 | (__u32)pid_tgid, frame };

				if (bpf_map_update_elem(&vigil_ret_pending, &key, &p, BPF_ANY))
					stat_inc(VIGIL_STAT_RETURN_PENDING_FULL);
			}
			return override;
		}
	}

	id = bpf_map_lookup_elem(&vigil_execve_map, &tgid);
	if (id)
		e->key = id->key;
	else
		e->key.pid = tgid;
#ifdef VIGIL_STRUCT_ARGS
	if (owner.key.pid) {
		e->key = owner.key;
		e->tid = owner.tid;
	}
#endif

	/* maxData buffers' chunks, before the record they belong to */
	if (arg_max_data) {
#pragma unroll
		for (i = 0; i < VIGIL_GENERIC_ARGS_MAX; i++)
			if (arg_max_data & (1U << i))
				vigil_send_data(i, hid, e->tid, e->hdr.ktime);
	}

	size = offsetof(struct vigil_generic_event, data) + used;
	if (size > sizeof(*e))
		size = sizeof(*e);
	e->hdr.size = size;
	if (has_return) {
		struct ret_pending p = { .enter_ktime = e->hdr.ktime, .sel = chosen, .tid = e->tid,
					 .posted = 1 };
		struct ret_key key = { (__u64)hid << 32 | (__u32)pid_tgid, frame };

		if (ret_copy < VIGIL_GENERIC_ARGS_MAX)
			bpf_probe_read_kernel(&p.copy_ptr, sizeof(p.copy_ptr),
					      ctx + arg_offset[ret_copy & 7]);
		/* Noted before the entry is sent: a return is never sent
		 * without its entry, nor an entry whose return cannot come. */
		if (bpf_map_update_elem(&vigil_ret_pending, &key, &p, BPF_ANY)) {
			stat_inc(VIGIL_STAT_RETURN_PENDING_FULL);
			return override;
		}
		if (bpf_ringbuf_output(&vigil_events, e, size, ringbuf_flags(size, false))) {
			bpf_map_delete_elem(&vigil_ret_pending, &key);
			stat_inc(VIGIL_STAT_RINGBUF_FULL_GENERIC);
		}
		return override;
	}
	if (bpf_ringbuf_output(&vigil_events, e, size, ringbuf_flags(size, false)))
		stat_inc(VIGIL_STAT_RINGBUF_FULL_GENERIC);
	return override;
}

/* The returnCopy argument at `slot`: the buffer the call filled, as many
 * bytes as it returned (none for an error), sent as a char_buf is (the
 * original length, then at most VIGIL_CHAR_BUF_MAX bytes); returns the
 * bytes the slot takes. */
static __always_inline __u32 read_return_copy(char *slot, __u64 ptr, __s64 ret)
{
	__u64 want = ret > 0 ? ret : 0;
	__u32 rd;
	long n;

	*(__u32 *)(slot + 4) = want < 0xFFFFFFFFULL ? want : 0xFFFFFFFFU;
	rd = want < VIGIL_CHAR_BUF_MAX ? want : VIGIL_CHAR_BUF_MAX;
	rd = VIGIL_MASK(rd, VIGIL_CONST_BUF_MASK);
	n = bpf_probe_read_user(slot + 8, rd, (void *)ptr);
	if (n < 0 && !bpf_probe_read_kernel(slot + 8, rd, (void *)ptr))
		n = 0;
	n = n < 0 ? n : 4 + rd;
	*(__s32 *)slot = n;
	n = n < 0 ? 0 : n;
	/* The bytes after the argument, up to the next 8, are this record's. */
	if ((4 + n) & 7)
		*(__u64 *)(slot + ((4 + n) & ~7)) &= (1ULL << (((4 + n) & 7) * 8)) - 1;
	return (4 + n + 7) & ~7U;
}

/* The return value `ret` (or the errno `err` of reading it) into the return
 * record's first slot, as read_arg sends an argument: an 8-byte integer, or
 * the struct it points to (returnArg's type); returns the bytes it took. */
static __always_inline __u32 return_value(struct vigil_generic_return *r, long err, __s64 ret)
{
	long n = 8;

#ifdef VIGIL_STRUCT_ARGS
	if (ret_kind != VIGIL_ARG_INT) {
		/* The struct readers write into the heap's event at an offset:
		 * VIGIL_RETURN_DATA_SHIFT into it is the return's first slot. */
		n = err;
		/* An ERR_PTR (the kernel's IS_ERR_VALUE): its errno, not a fault */
		if (!n && (__u64)ret >= (__u64)-VIGIL_MAX_ERRNO)
			n = ret;
		if (!n)
			n = vigil_read_struct_arg(VIGIL_RETURN_DATA_SHIFT, ret, ret_kind);
		if (n > VIGIL_ARG_STR_MAX)
			n = VIGIL_ARG_STR_MAX;
		*(__s32 *)r->data = n;
		if (n < 0)
			n = 0;
		zero_padding((struct vigil_generic_event *)r, VIGIL_RETURN_DATA_SHIFT, 4 + (__u32)n);
		return (4 + (__u32)n + 7) & ~7U;
	}
#endif
	*(__s32 *)r->data = err ? err : n;
	*(__s64 *)(r->data + 4) = err ? 0 : ret;
	*(__u32 *)(r->data + 12) = 0;
	return 16;
}

static __always_inline int generic_return(void *ctx, __u32 hid, __u64 frame)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid, tgid = pid_tgid >> 32, zero = 0, used;
	struct ret_key key = { (__u64)hid << 32 | tid, frame };
	struct vigil_exec_identity *id;
	struct vigil_generic_return *r;
	struct ret_pending *pending, p;
	__s64 ret = 0;
	long n;

	pending = bpf_map_lookup_elem(&vigil_ret_pending, &key);
	if (!pending)
		return 0;	/* its entry was filtered out, or not seen */
	p = *pending;
	bpf_map_delete_elem(&vigil_ret_pending, &key);

	r = bpf_map_lookup_elem(&vigil_generic_heap, &zero);
	if (!r) {
		stat_inc(VIGIL_STAT_HEAP_MISSING);
		return 0;
	}
	__builtin_memset(r, 0, offsetof(struct vigil_generic_return, data));
	r->hdr.op = VIGIL_OP_GENERIC_RETURN;
	r->hdr.ktime = bpf_ktime_get_ns();
	r->tid = p.tid;		/* the entry's, which user space joins it to */
	r->hook_id = hid;
	r->action = VIGIL_ACTION_POST;
	r->enter_ktime = p.enter_ktime;

	n = bpf_probe_read_kernel(&ret, sizeof(ret), ctx + ret_offset);
	used = return_value(r, n, ret);
	r->nargs = 1;
#ifdef VIGIL_STRUCT_ARGS
	/* returnArgAction: the sock returned is tracked, or no longer */
	if (ret_sock_action && !n)
		sock_track(ret, ret_sock_action == VIGIL_ACTION_TRACK_SOCK);
#endif
	if (!p.posted)
		return 0;	/* its entry was not sent: nothing to join to */
	if (ret_copy < VIGIL_GENERIC_ARGS_MAX) {
		if (used > VIGIL_ARG_SLOT_MAX)
			return 0;
		used += read_return_copy(r->data + used, p.copy_ptr, ret);
		r->nargs = 2;
	}
	r->data_len = used;

	/* The entry's selector's return filters and actions; a return they
	 * refuse is still sent, as NoPost, so user space drops its entry. */
	if (p.sel) {
		__u32 s = p.sel - 1;

		if (!vigil_sel_return(s, n ? 0 : ret) ||
		    !(vigil_sel_actions(s, 1) & VIGIL_SEL_DO_POST))
			r->action = VIGIL_ACTION_NOPOST;
	}

	id = bpf_map_lookup_elem(&vigil_execve_map, &tgid);
	if (id)
		r->key = id->key;
	else
		r->key.pid = tgid;
	used += offsetof(struct vigil_generic_return, data);
	r->hdr.size = used;
	if (bpf_ringbuf_output(&vigil_events, r, used & 0xFFFF, ringbuf_flags(used, false)))
		stat_inc(VIGIL_STAT_RINGBUF_FULL_GENERIC);
	return 0;
}

SEC("tp")
int vigil_generic_tp(void *ctx)
{
	generic_hook(ctx, hook_id, 0);
	return 0;
}

SEC("tp")
int vigil_generic_tp_ret(void *ctx)
{
	return generic_return(ctx, hook_id, 0);
}

/* The caller's arguments out of a syscall function's struct pt_regs *. */
static __always_inline struct call_args *syscall_args(struct pt_regs *regs)
{
	__u32 zero = 0;
	struct call_args *a = bpf_map_lookup_elem(&vigil_call_args, &zero);

	if (!a)
		return NULL;
	a->a[0] = PT_REGS_PARM1_CORE_SYSCALL(regs);
	a->a[1] = PT_REGS_PARM2_CORE_SYSCALL(regs);
	a->a[2] = PT_REGS_PARM3_CORE_SYSCALL(regs);
	a->a[3] = PT_REGS_PARM4_CORE_SYSCALL(regs);
	a->a[4] = PT_REGS_PARM5_CORE_SYSCALL(regs);
	return a;
}

static __always_inline int kprobe_entry(struct pt_regs *ctx, __u32 id)
{
	struct call_args *a;
	__u32 zero = 0;

	if (syscall_regs) {
		a = syscall_args((struct pt_regs *)PT_REGS_PARM1(ctx));
	} else {
		a = bpf_map_lookup_elem(&vigil_call_args, &zero);
		if (a) {
			a->a[0] = PT_REGS_PARM1(ctx);
			a->a[1] = PT_REGS_PARM2(ctx);
			a->a[2] = PT_REGS_PARM3(ctx);
			a->a[3] = PT_REGS_PARM4(ctx);
			a->a[4] = PT_REGS_PARM5(ctx);
		}
	}
	if (a && generic_hook(a, id, 0) && can_override) {
		__s64 *ret = bpf_map_lookup_elem(&vigil_override, &zero);

		if (ret)
			bpf_override_return(ctx, *ret);
	}
	return 0;
}

static __always_inline int kretprobe_return(struct pt_regs *ctx, __u32 id)
{
	__u32 zero = 0;
	struct call_args *a = bpf_map_lookup_elem(&vigil_call_args, &zero);

	if (!a)
		return 0;
	a->a[0] = PT_REGS_RC(ctx);
	return generic_return(a, id, 0);
}

SEC("kprobe")
int vigil_generic_kprobe(struct pt_regs *ctx)
{
	return kprobe_entry(ctx, hook_id);
}

SEC("kretprobe")
int vigil_generic_kretprobe(struct pt_regs *ctx)
{
	return kretprobe_return(ctx, hook_id);
}

/* One program for many functions (a kprobe's list of calls): each
 * function's link cookie is its hook id, so its events name it. */
SEC("kprobe.multi")
int vigil_generic_kprobe_multi(struct pt_regs *ctx)
{
	return kprobe_entry(ctx, (__u32)bpf_get_attach_cookie(ctx));
}

SEC("kretprobe.multi")
int vigil_generic_kretprobe_multi(struct pt_regs *ctx)
{
	return kretprobe_return(ctx, (__u32)bpf_get_attach_cookie(ctx));
}

/* A user function (spec.uprobes): its arguments from its registers, as a
 * kernel function's. Its frame is the stack pointer at the function's first
 * instruction; at its return the call's own return address has been popped
 * on x86-64 (one word higher), while arm64 returns through a register. */
#if defined(__TARGET_ARCH_x86)
#define USER_RETURN_FRAME(regs) (PT_REGS_SP(regs) - 8)
#else
#define USER_RETURN_FRAME(regs) PT_REGS_SP(regs)
#endif

SEC("uprobe")
int vigil_generic_uprobe(struct pt_regs *ctx)
{
	__u32 zero = 0;
	struct call_args *a = bpf_map_lookup_elem(&vigil_call_args, &zero);

	if (!a)
		return 0;
	a->a[0] = PT_REGS_PARM1(ctx);
	a->a[1] = PT_REGS_PARM2(ctx);
	a->a[2] = PT_REGS_PARM3(ctx);
	a->a[3] = PT_REGS_PARM4(ctx);
	a->a[4] = PT_REGS_PARM5(ctx);
	generic_hook(a, hook_id, PT_REGS_SP(ctx));
	return 0;
}

SEC("uretprobe")
int vigil_generic_uretprobe(struct pt_regs *ctx)
{
	__u32 zero = 0;
	struct call_args *a = bpf_map_lookup_elem(&vigil_call_args, &zero);

	if (!a)
		return 0;
	a->a[0] = PT_REGS_RC(ctx);
	return generic_return(a, hook_id, USER_RETURN_FRAME(ctx));
}

SEC("fentry")
int vigil_generic_fentry(__u64 *ctx)
{
	struct call_args *a;

	/* An fentry program returns 0: the verifier accepts nothing else. */
	if (!syscall_regs) {
		generic_hook(ctx, hook_id, 0);
		return 0;
	}
	a = syscall_args((struct pt_regs *)ctx[0]);
	if (a)
		generic_hook(a, hook_id, 0);
	return 0;
}

/* fentry's rung when the hook has an Override: an fmod_ret program runs
 * before the function and, returning non-zero, makes the function return
 * that instead of running (the kernel allows it on error-injectable
 * functions and security hooks only). */
SEC("fmod_ret")
int vigil_generic_fmod_ret(__u64 *ctx)
{
	struct call_args *a = NULL;
	__u32 zero = 0;
	__s64 *ret;

	if (syscall_regs) {
		a = syscall_args((struct pt_regs *)ctx[0]);
		if (!a || !generic_hook(a, hook_id, 0))
			return 0;
	} else if (!generic_hook(ctx, hook_id, 0)) {
		return 0;
	}
	ret = bpf_map_lookup_elem(&vigil_override, &zero);
	return ret ? *ret : 0;
}

SEC("fexit")
int vigil_generic_fexit(__u64 *ctx)
{
	return generic_return(ctx, hook_id, 0);
}

SEC("raw_tp")
int vigil_generic_raw_tp(void *ctx)
{
	generic_hook(ctx, hook_id, 0);
	return 0;
}

SEC("tp_btf")
int vigil_generic_tp_btf(void *ctx)
{
	generic_hook(ctx, hook_id, 0);
	return 0;
}

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Lesson 5: a kprobe and a kretprobe on the same kernel function, sharing the
 * entry argument through a map, so one event carries the argument and the
 * return value.
 *
 * Why do_unlinkat: it is a global (not static, not inlined) function on every
 * kernel vigil is tested on (5.10, 6.1, 6.12: `T do_unlinkat` in
 * /proc/kallsyms), both unlink(2) and unlinkat(2) go through it, and a missing
 * file gives a negative return value (-ENOENT) to look at:
 *   unlinkat(2) -> do_unlinkat(int dfd, struct filename *name)
 *   unlink(2)   -> do_unlinkat(AT_FDCWD, getname(pathname))
 * The path is copied into the kernel (getname) before the call, so the entry
 * probe reads kernel memory, and do_unlinkat frees it (putname) before it
 * returns: the return probe could not read it any more. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define PATH_MAX_LEN 256

struct unlink_entry {
	char path[PATH_MAX_LEN];
};

/* The record user space reads. ret is signed: do_unlinkat returns 0 or a
 * negative errno, which an unsigned field would show as 4294967294. */
struct unlink_event {
	__u32 pid;
	__s32 ret;
	char comm[16];
	char path[PATH_MAX_LEN];
};

/* Never used: it puts struct unlink_event into the object's BTF, where a
 * test compares the Python mirror with it. */
const struct unlink_event *unused_event __attribute__((unused));

/* The path seen at entry, keyed by the calling thread (pid_tgid): written by
 * the kprobe, read and deleted by the kretprobe. A thread is inside
 * do_unlinkat at most once, so the key is unique while the call runs. LRU:
 * an entry whose return was missed (a kretprobe can miss when too many
 * calls are in flight) is evicted instead of filling the map. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, struct unlink_entry);
} entries SEC(".maps");

/* One record per completed call: written by the kretprobe, read by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

/* BPF_KPROBE names the arguments and reads them from pt_regs per
 * architecture (PT_REGS_PARM1/2 underneath). */
SEC("kprobe/do_unlinkat")
int BPF_KPROBE(unlink_entry, int dfd, struct filename *name)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct unlink_entry entry = {};
	const char *path = BPF_CORE_READ(name, name);

	bpf_probe_read_kernel_str(entry.path, sizeof(entry.path), path);
	bpf_map_update_elem(&entries, &id, &entry, BPF_ANY);
	return 0;
}

/* `int ret`: do_unlinkat returns int (long on 5.10, same values). The macro
 * casts the return register to the declared type, so -2 stays -2. */
SEC("kretprobe/do_unlinkat")
int BPF_KRETPROBE(unlink_exit, int ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct unlink_entry *entry;
	struct unlink_event *e;

	entry = bpf_map_lookup_elem(&entries, &id);
	if (!entry)
		return 0;	/* loaded after the call began */
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (e) {
		e->pid = id >> 32;
		e->ret = ret;
		bpf_get_current_comm(e->comm, sizeof(e->comm));
		__builtin_memcpy(e->path, entry->path, sizeof(e->path));
		bpf_ringbuf_submit(e, 0);
	}
	bpf_map_delete_elem(&entries, &id);
	return 0;
}

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Lesson 9: BPF LSM programs deny an open and an exec.
 *
 * An lsm/<hook> program attaches to the BPF LSM's stub for that hook
 * (bpf_lsm_file_open, ...), which the kernel calls from security_<hook>()
 * next to SELinux, AppArmor and the others. Its return value is its
 * verdict: 0 allows, a negative errno denies. The stubs only run when "bpf"
 * is an active LSM (the lsm= boot parameter, or CONFIG_LSM by default):
 * without it the program loads and attaches, and never runs.
 *
 * So that running the lesson can never lock anyone out, both programs decide
 * on things the lesson made and marked: one file, and one directory whose
 * programs may not run. They are marked by inode, not by path string: user
 * space tags each inode through an open fd in an inode storage map, and the
 * programs look the inode they are given up in it. Every name of the inode
 * (relative, with "..", through a symlink, on an overlay) is the same inode.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

/* the BPF LSM refuses programs without a GPL-compatible licence */
char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define EPERM 1

/* What a mark on an inode forbids, and what a denial record reports. */
enum { DENY_OPEN = 1, DENY_EXEC_INSIDE = 2 };

struct denial {
	__u32 rule;	/* DENY_OPEN or DENY_EXEC_INSIDE */
	__u32 tgid;
	__u64 ino;	/* the file denied */
	char comm[16];
};

/* Never used: it puts struct denial into the object's BTF, against which a
 * test checks the lesson's Python mirror of it. */
struct denial *denial_btf_anchor;

/* Marks, one rule per inode: written by the lesson (key: an fd it holds
 * open on the file or directory), read here. The marks live with the inodes
 * and go away with the map. */
struct {
	__uint(type, BPF_MAP_TYPE_INODE_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u32);
} marks SEC(".maps");

/* One record per denial, written here, read by the lesson. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} denials SEC(".maps");

static __always_inline bool marked(struct inode *inode, __u32 rule)
{
	__u32 *mark = bpf_inode_storage_get(&marks, inode, 0, 0);

	return mark && *mark == rule;
}

static __always_inline int deny(__u32 rule, struct inode *inode)
{
	struct denial *d = bpf_ringbuf_reserve(&denials, sizeof(*d), 0);

	if (d) {
		/* every field is written: no stale bytes reach user space */
		d->rule = rule;
		d->tgid = bpf_get_current_pid_tgid() >> 32;
		d->ino = inode->i_ino;
		bpf_get_current_comm(d->comm, sizeof(d->comm));
		bpf_ringbuf_submit(d, 0);
	}
	return -EPERM;
}

/* `ret` is the verdict of the BPF LSM programs before this one. A program
 * that returns 0 must not turn an earlier denial into an allow, hence the
 * first test (the kernel's Documentation/bpf/prog_lsm.rst). Arguments are
 * BTF-typed pointers: the program follows them directly, no probe reads. */
SEC("lsm/file_open")
int BPF_PROG(deny_open, struct file *file, int ret)
{
	if (ret)
		return ret;
	if (!marked(file->f_inode, DENY_OPEN))
		return 0;
	return deny(DENY_OPEN, file->f_inode);
}

/* Called once per binary format tried (a script, then its interpreter).
 * bprm->file is the opened program; its dentry's parent is the directory
 * it really lives in, however the caller spelled the path. */
SEC("lsm/bprm_check_security")
int BPF_PROG(deny_exec, struct linux_binprm *bprm, int ret)
{
	struct dentry *dentry = bprm->file->f_path.dentry;

	if (ret)
		return ret;
	if (!marked(dentry->d_parent->d_inode, DENY_EXEC_INSIDE))
		return 0;
	return deny(DENY_EXEC_INSIDE, dentry->d_inode);
}

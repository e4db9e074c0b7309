/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A generic hook's file arguments (fd, file, path, dentry) named as Tetragon
 * names them: the file's path as the current task sees it (the walk of
 * lib/path.bpf.h, stopping at the task's root and crossing mounts; a dentry
 * up to its filesystem's root), and its inode's mode. In the record: struct
 * vigil_path_arg, then the path without its NUL (none for "/").
 *
 * Included by a generic program after its record heap (vigil_generic_heap)
 * and the shared maps (vigil_path_heap).
 */
#ifndef VIGIL_LIB_ARG_PATH_BPF_H
#define VIGIL_LIB_ARG_PATH_BPF_H

#include "events.h"
#include "lib/errno.bpf.h"
#include "lib/path.bpf.h"

/* The current task's open file `fd`, as fdget() would find it, or NULL. */
static __always_inline struct file *fd_file(__u64 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct file **fds = NULL;
	struct file *file = NULL;
	struct fdtable *fdt;
	__u32 max_fds;

	fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || BPF_CORE_READ_INTO(&max_fds, fdt, max_fds) || fd >= max_fds)
		return NULL;
	if (BPF_CORE_READ_INTO(&fds, fdt, fd) || !fds)
		return NULL;
	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
	return file;
}

/*
 * Argument `kind` at `ptr` (a struct file *, struct path *, struct dentry *,
 * or for VIGIL_ARG_FD the descriptor) into this CPU's record at data offset
 * `used`, after the slot's length word; returns the bytes written or a
 * negative errno: -EBADF for a descriptor that names no file. A global
 * function: verified once, not once per argument the hook's loop unrolls.
 */
__noinline int vigil_read_path_arg(__u32 used, __u64 ptr, __u32 kind)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct vigil_generic_event *e;
	struct vigil_path_buf *pb;
	struct vigil_path_arg *h;
	struct dentry *dentry = NULL;
	struct vfsmount *mnt = NULL;
	struct fs_struct *fs;
	__u32 zero = 0, len, start, flags = 0;
	char *val;
	long err = 0;

	e = bpf_map_lookup_elem(&vigil_generic_heap, &zero);
	pb = bpf_map_lookup_elem(&vigil_path_heap, &zero);
	if (!e || !pb)
		return -VIGIL_ENOMEM;
	if (kind == VIGIL_ARG_FD) {
		ptr = (__u64)fd_file(ptr);
		if (!ptr)
			return -VIGIL_EBADF;
		kind = VIGIL_ARG_FILE;
	}
	if (!ptr)
		return -VIGIL_EFAULT;
	switch (kind) {
	case VIGIL_ARG_FILE:
		err = BPF_CORE_READ_INTO(&dentry, (struct file *)ptr, f_path.dentry);
		if (!err)
			err = BPF_CORE_READ_INTO(&mnt, (struct file *)ptr, f_path.mnt);
		break;
	case VIGIL_ARG_PATH:
		err = BPF_CORE_READ_INTO(&dentry, (struct path *)ptr, dentry);
		if (!err)
			err = BPF_CORE_READ_INTO(&mnt, (struct path *)ptr, mnt);
		break;
	case VIGIL_ARG_DENTRY:
		dentry = (struct dentry *)ptr;
		break;
	default:
		return -VIGIL_EFAULT;
	}
	if (err)
		return err;
	if (!dentry)
		return -VIGIL_EFAULT;

	fs = BPF_CORE_READ(task, fs);
	resolve_dentry(pb, dentry, mnt, &fs->root);
	len = VIGIL_PATH_MAX - pb->pos;
	start = pb->pos;
	if (pb->truncated)
		flags |= VIGIL_PATH_F_UNRESOLVED;
	/* Too long for the slot: its end, which names the file, is kept. */
	if (len > VIGIL_PATH_ARG_MAX) {
		flags |= VIGIL_PATH_F_UNRESOLVED;
		start = VIGIL_PATH_MAX - VIGIL_PATH_ARG_MAX;
		len = VIGIL_PATH_ARG_MAX;
	}
	val = &e->data[VIGIL_MASK(used, VIGIL_GENERIC_OFF_MASK) + 4];
	h = (struct vigil_path_arg *)val;
	h->flags = flags;
	h->mode = BPF_CORE_READ(dentry, d_inode, i_mode);
	h->pad = 0;
	len = VIGIL_MASK(len, VIGIL_PATH_MAX * 2 - 1);
	if (len > VIGIL_PATH_ARG_MAX)
		len = VIGIL_PATH_ARG_MAX;
	if (bpf_probe_read_kernel(val + sizeof(*h), len,
				  &pb->buf[VIGIL_MASK(start, VIGIL_PATH_MAX - 1)]))
		return -VIGIL_EFAULT;
	return sizeof(*h) + len;
}

#endif /* VIGIL_LIB_ARG_PATH_BPF_H */

/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Resolve a struct path to an absolute pathname without bpf_d_path(), which
 * only fentry/LSM programs may call: the base sensor runs on tracepoints.
 * The walk follows d_parent up to the mount root, then steps to the parent
 * mount through mnt_mountpoint, exactly as the kernel's prepend_path() does,
 * and stops at the task's root (so a chrooted task sees its own "/").
 */
#ifndef VIGIL_LIB_PATH_BPF_H
#define VIGIL_LIB_PATH_BPF_H

#include <bpf/bpf_core_read.h>

/* Longest path resolved (PATH_MAX); longer ones are cut at the top and flagged. */
#define VIGIL_PATH_MAX VIGIL_PART_MAX
/* Deepest path resolved; deeper ones are cut at the top and flagged. */
#define VIGIL_PATH_DEPTH_MAX 128
#define VIGIL_NAME_MAX 256

/*
 * Scratch space, in a per-CPU map: the name is written right to left, ending
 * at VIGIL_PATH_MAX. The tail of VIGIL_NAME_MAX bytes lets the verifier prove
 * that a component read at any masked offset stays inside the buffer.
 *
 * The walk's cursor lives here too, not in registers, on purpose: the
 * verifier tracks no values in map memory, so at the loop head every path
 * through the previous step looks the same and is pruned. With the cursor in
 * registers each step's branches multiply and a 128-step walk blows the
 * one-million-instruction budget.
 */
struct vigil_path_buf {
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct dentry *root_dentry;
	struct vfsmount *root_mnt;
	__u32 pos;
	__u32 done;
	__u32 truncated;
	__u32 pad;
	char buf[VIGIL_PATH_MAX + VIGIL_NAME_MAX];
};

static __always_inline struct mount *real_mount(struct vfsmount *vfsmnt)
{
	return (void *)vfsmnt - bpf_core_field_offset(struct mount, mnt);
}

/* One step up the tree: a mount crossing or one component prepended. */
static __always_inline void path_step(struct vigil_path_buf *pb)
{
	struct dentry *dentry = pb->dentry, *mnt_root, *parent;
	struct vfsmount *vfsmnt = pb->vfsmnt;
	struct mount *mnt = real_mount(vfsmnt);
	struct qstr name;
	__u32 pos, len;

	if (dentry == pb->root_dentry && vfsmnt == pb->root_mnt) {
		pb->done = 1;
		return;
	}
	mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
	if (dentry == mnt_root) {
		struct mount *up = BPF_CORE_READ(mnt, mnt_parent);

		/* The topmost mount is its own parent: the global root. */
		if (up == mnt) {
			pb->done = 1;
			return;
		}
		pb->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		pb->vfsmnt = (void *)up + bpf_core_field_offset(struct mount, mnt);
		return;
	}
	parent = BPF_CORE_READ(dentry, d_parent);
	/* No mount (a dentry argument): the walk ends at its filesystem's
	 * root, whose own name ("/") is no component. */
	if (!vfsmnt && parent == dentry) {
		pb->done = 1;
		return;
	}
	/* A dentry that is its own parent without being its mount's root
	 * belongs to no tree: a memfd or shm file (d_alloc_pseudo) or a
	 * disconnected one. Like the kernel's d_path(), name it by itself:
	 * "/memfd:NAME". */
	if (parent == dentry)
		pb->done = 1;
	name = BPF_CORE_READ(dentry, d_name);
	len = name.len & (VIGIL_NAME_MAX - 1);
	pos = pb->pos;
	if (pos > VIGIL_PATH_MAX || len + 1 > pos) {
		pb->truncated = 1;
		pb->done = 1;
		return;
	}
	pos -= len;
	bpf_probe_read_kernel(&pb->buf[pos & (VIGIL_PATH_MAX - 1)], len, name.name);
	pos -= 1;
	pb->buf[pos & (VIGIL_PATH_MAX - 1)] = '/';
	pb->pos = pos;
	pb->dentry = parent;
}

/*
 * Writes the name of `dentry` under mount `vfsmnt` into pb->buf ending at
 * offset VIGIL_PATH_MAX and leaves in pb->pos the offset where it starts;
 * pb->truncated is set when it did not fit or was too deep. pb->pos ==
 * VIGIL_PATH_MAX means the path is "/". A NULL vfsmnt names the dentry up to
 * its filesystem's root, crossing no mount.
 */
static __always_inline void resolve_dentry(struct vigil_path_buf *pb, struct dentry *dentry,
					   struct vfsmount *vfsmnt, const struct path *root)
{
	int i;

	pb->dentry = dentry;
	pb->vfsmnt = vfsmnt;
	pb->root_dentry = BPF_CORE_READ(root, dentry);
	pb->root_mnt = BPF_CORE_READ(root, mnt);
	pb->pos = VIGIL_PATH_MAX;
	pb->done = 0;
	pb->truncated = 0;
	for (i = 0; i < VIGIL_PATH_DEPTH_MAX; i++) {
		if (pb->done)
			return;
		path_step(pb);
	}
	if (!pb->done)
		pb->truncated = 1;
}

static __always_inline void resolve_path(struct vigil_path_buf *pb, const struct path *path,
					 const struct path *root)
{
	resolve_dentry(pb, BPF_CORE_READ(path, dentry), BPF_CORE_READ(path, mnt), root);
}

#endif

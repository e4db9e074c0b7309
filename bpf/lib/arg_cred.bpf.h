/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A generic hook's cred arguments (struct cred *): the ids, securebits,
 * capability sets and user namespace, as Tetragon's cred type reads them.
 */
#ifndef VIGIL_LIB_ARG_CRED_BPF_H
#define VIGIL_LIB_ARG_CRED_BPF_H

#include "events.h"
#include "lib/core_fixes.bpf.h"
#include "lib/errno.bpf.h"

/* The user namespace at `ns` into `out` (zeroed by the caller); returns 0
 * or the errno of reading its level. */
static __always_inline long read_user_ns(const struct user_namespace *ns,
					 struct vigil_user_ns_arg *out)
{
	long err;

	if (!ns)
		return -VIGIL_EFAULT;
	err = BPF_CORE_READ_INTO(&out->level, ns, level);
	if (err)
		return err;
	BPF_CORE_READ_INTO(&out->uid, ns, owner.val);
	BPF_CORE_READ_INTO(&out->gid, ns, group.val);
	BPF_CORE_READ_INTO(&out->inum, ns, ns.inum);
	return 0;
}

/* The cred at `ptr` into this CPU's record at data offset `used`, after the
 * slot's length word; returns the bytes written or a negative errno. */
__noinline int vigil_read_cred_arg(__u32 used, __u64 ptr)
{
	const struct cred *cred = (const struct cred *)ptr;
	struct vigil_generic_event *e;
	struct vigil_cred_arg *c;
	struct user_namespace *ns;
	__u32 zero = 0;
	long err;

	e = bpf_map_lookup_elem(&vigil_generic_heap, &zero);
	if (!e)
		return -VIGIL_ENOMEM;
	c = (struct vigil_cred_arg *)&e->data[VIGIL_MASK(used, VIGIL_GENERIC_OFF_MASK) + 4];
	__builtin_memset(c, 0, sizeof(*c));
	if (!cred)
		return -VIGIL_EFAULT;
	err = BPF_CORE_READ_INTO(&c->uid, cred, uid.val);
	if (err)
		return err;
	BPF_CORE_READ_INTO(&c->gid, cred, gid.val);
	BPF_CORE_READ_INTO(&c->suid, cred, suid.val);
	BPF_CORE_READ_INTO(&c->sgid, cred, sgid.val);
	BPF_CORE_READ_INTO(&c->euid, cred, euid.val);
	BPF_CORE_READ_INTO(&c->egid, cred, egid.val);
	BPF_CORE_READ_INTO(&c->fsuid, cred, fsuid.val);
	BPF_CORE_READ_INTO(&c->fsgid, cred, fsgid.val);
	BPF_CORE_READ_INTO(&c->securebits, cred, securebits);
	c->cap_permitted = read_cap(&cred->cap_permitted);
	c->cap_effective = read_cap(&cred->cap_effective);
	c->cap_inheritable = read_cap(&cred->cap_inheritable);
	ns = BPF_CORE_READ(cred, user_ns);
	read_user_ns(ns, &c->user_ns);
	return sizeof(*c);
}

#endif /* VIGIL_LIB_ARG_CRED_BPF_H */

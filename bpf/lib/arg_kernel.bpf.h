/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A generic hook's arguments that describe the kernel's own objects: user
 * namespaces, BPF programs and maps, perf events and modules, read as
 * Tetragon's types read them (bpf/process/types/basic.h). Each writes its
 * events.h struct into this CPU's record at data offset `used`, after the
 * slot's length word, and returns the bytes written or a negative errno.
 */
#ifndef VIGIL_LIB_ARG_KERNEL_BPF_H
#define VIGIL_LIB_ARG_KERNEL_BPF_H

#include "events.h"
#include "lib/arg_cred.bpf.h"
#include "lib/errno.bpf.h"

/* The slot's value bytes in this CPU's record, or NULL. */
static __always_inline void *arg_slot(__u32 used)
{
	struct vigil_generic_event *e;
	__u32 zero = 0;

	e = bpf_map_lookup_elem(&vigil_generic_heap, &zero);
	if (!e)
		return NULL;
	return &e->data[VIGIL_MASK(used, VIGIL_GENERIC_OFF_MASK) + 4];
}

static __always_inline int read_user_ns_arg(void *slot, __u64 ptr)
{
	struct vigil_user_ns_arg *u = slot;
	long err;

	__builtin_memset(u, 0, sizeof(*u));
	err = read_user_ns((const struct user_namespace *)ptr, u);
	return err ? err : sizeof(*u);
}

/* BPF_PROG_LOAD's attributes (bpf_check's copy, in kernel memory). */
static __always_inline int read_bpf_attr_arg(void *slot, __u64 ptr)
{
	union bpf_attr *attr = (union bpf_attr *)ptr;
	struct vigil_bpf_prog_arg *p = slot;
	long err;

	__builtin_memset(p, 0, sizeof(*p));
	if (!attr)
		return -VIGIL_EFAULT;
	err = BPF_CORE_READ_INTO(&p->prog_type, attr, prog_type);
	if (err)
		return err;
	BPF_CORE_READ_INTO(&p->insn_cnt, attr, insn_cnt);
	bpf_core_read(p->name, sizeof(p->name), &attr->prog_name);
	p->name[sizeof(p->name) - 1] = 0;
	return sizeof(*p);
}

static __always_inline int read_bpf_prog_arg(void *slot, __u64 ptr)
{
	struct bpf_prog *prog = (struct bpf_prog *)ptr;
	struct vigil_bpf_prog_arg *p = slot;
	long err;

	__builtin_memset(p, 0, sizeof(*p));
	if (!prog)
		return -VIGIL_EFAULT;
	err = BPF_CORE_READ_INTO(&p->prog_type, prog, type);
	if (err)
		return err;
	BPF_CORE_READ_INTO(&p->insn_cnt, prog, len);
	BPF_CORE_READ_STR_INTO(&p->name, prog, aux, name);
	return sizeof(*p);
}

static __always_inline int read_bpf_map_arg(void *slot, __u64 ptr)
{
	struct bpf_map *map = (struct bpf_map *)ptr;
	struct vigil_bpf_map_arg *m = slot;
	long err;

	__builtin_memset(m, 0, sizeof(*m));
	if (!map)
		return -VIGIL_EFAULT;
	err = BPF_CORE_READ_INTO(&m->map_type, map, map_type);
	if (err)
		return err;
	BPF_CORE_READ_INTO(&m->key_size, map, key_size);
	BPF_CORE_READ_INTO(&m->value_size, map, value_size);
	BPF_CORE_READ_INTO(&m->max_entries, map, max_entries);
	BPF_CORE_READ_STR_INTO(&m->name, map, name);
	return sizeof(*m);
}

/* A perf event: its attr's type and config, and for a kprobe event the
 * function (attr.kprobe_func: the pointer user space passed, read as a user
 * string, else as a kernel one) and offset. */
static __always_inline int read_perf_event_arg(void *slot, __u64 ptr)
{
	struct perf_event *ev = (struct perf_event *)ptr;
	struct vigil_perf_event_arg *p = slot;
	__u64 func = 0;
	long err;

	__builtin_memset(p, 0, sizeof(*p));
	if (!ev)
		return -VIGIL_EFAULT;
	err = BPF_CORE_READ_INTO(&p->type, ev, attr.type);
	if (err)
		return err;
	BPF_CORE_READ_INTO(&p->config, ev, attr.config);
	BPF_CORE_READ_INTO(&p->probe_offset, ev, attr.probe_offset);
	BPF_CORE_READ_INTO(&func, ev, attr.kprobe_func);
	if (func && bpf_probe_read_user_str(p->kprobe_func, sizeof(p->kprobe_func),
					    (void *)func) < 0)
		bpf_probe_read_kernel_str(p->kprobe_func, sizeof(p->kprobe_func), (void *)func);
	return sizeof(*p);
}

/* A loaded module (struct module) or one being loaded (struct load_info,
 * with its signature's verdict). load_info is internal to the module loader:
 * a kernel without modules has no such type, and no name is read. */
static __always_inline int read_module_arg(void *slot, __u64 ptr, __u32 kind)
{
	struct vigil_module_arg *m = slot;
	struct module *mod = (struct module *)ptr;
	const char *name = NULL;

	__builtin_memset(m, 0, sizeof(*m));
	if (!ptr)
		return -VIGIL_EFAULT;
	if (kind == VIGIL_ARG_LOAD_INFO) {
		struct load_info *info = (struct load_info *)ptr;
		bool ok = false;

		if (!bpf_core_type_exists(struct load_info))
			return -VIGIL_ENOENT;
		if (BPF_CORE_READ_INTO(&name, info, name) ||
		    bpf_probe_read_kernel_str(m->name, sizeof(m->name), name) < 0)
			return -VIGIL_EFAULT;
		if (bpf_core_field_exists(info->sig_ok) && !BPF_CORE_READ_INTO(&ok, info, sig_ok))
			m->sig_ok = ok;
		mod = BPF_CORE_READ(info, mod);
	} else if (bpf_probe_read_kernel_str(m->name, sizeof(m->name), &mod->name) < 0) {
		return -VIGIL_EFAULT;
	}
	if (mod)
		BPF_CORE_READ_INTO(&m->taints, mod, taints);
	return sizeof(*m);
}

/* One of the kinds above. */
__noinline int vigil_read_kernel_arg(__u32 used, __u64 ptr, __u32 kind)
{
	void *slot = arg_slot(used);

	if (!slot)
		return -VIGIL_ENOMEM;
	switch (kind) {
	case VIGIL_ARG_USER_NS:
		return read_user_ns_arg(slot, ptr);
	case VIGIL_ARG_BPF_ATTR:
		return read_bpf_attr_arg(slot, ptr);
	case VIGIL_ARG_BPF_PROG:
		return read_bpf_prog_arg(slot, ptr);
	case VIGIL_ARG_BPF_MAP:
		return read_bpf_map_arg(slot, ptr);
	case VIGIL_ARG_PERF_EVENT:
		return read_perf_event_arg(slot, ptr);
	case VIGIL_ARG_MODULE:
	case VIGIL_ARG_LOAD_INFO:
		return read_module_arg(slot, ptr, kind);
	}
	return -VIGIL_EINVAL;
}

#endif /* VIGIL_LIB_ARG_KERNEL_BPF_H */

/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Identity of the current task: credentials, capabilities, namespaces. */
#ifndef VIGIL_LIB_TASK_BPF_H
#define VIGIL_LIB_TASK_BPF_H

#include <bpf/bpf_core_read.h>
#include "events.h"
#include "lib/core_fixes.bpf.h"

static __always_inline void read_creds(struct task_struct *task, struct vigil_creds *out)
{
	const struct cred *cred = BPF_CORE_READ(task, cred);

	out->uid = BPF_CORE_READ(cred, uid.val);
	out->euid = BPF_CORE_READ(cred, euid.val);
	out->gid = BPF_CORE_READ(cred, gid.val);
	out->egid = BPF_CORE_READ(cred, egid.val);
	out->auid = read_loginuid(task);
	out->cap_permitted = read_cap(&cred->cap_permitted);
	out->cap_effective = read_cap(&cred->cap_effective);
	out->cap_inheritable = read_cap(&cred->cap_inheritable);
}

/* The pid namespace a task lives in is the one at its own level of its pid,
 * not nsproxy->pid_ns_for_children (what its future children get). */
static __always_inline __u32 read_pid_ns(struct task_struct *task)
{
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	struct upid upid = {};

	/* Nesting is capped at 32 levels (MAX_PID_NS_LEVEL). */
	bpf_core_read(&upid, sizeof(upid), &pid->numbers[level & 31]);
	return BPF_CORE_READ(upid.ns, ns.inum);
}

static __always_inline void read_namespaces(struct task_struct *task,
					    struct vigil_namespaces *out)
{
	struct nsproxy *nsp = BPF_CORE_READ(task, nsproxy);

	out->uts = BPF_CORE_READ(nsp, uts_ns, ns.inum);
	out->ipc = BPF_CORE_READ(nsp, ipc_ns, ns.inum);
	out->mnt = BPF_CORE_READ(nsp, mnt_ns, ns.inum);
	out->pid = read_pid_ns(task);
	out->pid_for_children = BPF_CORE_READ(nsp, pid_ns_for_children, ns.inum);
	out->net = BPF_CORE_READ(nsp, net_ns, ns.inum);
	/* Time namespaces arrived in Linux 5.6. */
	if (bpf_core_field_exists(nsp->time_ns)) {
		out->time = BPF_CORE_READ(nsp, time_ns, ns.inum);
		out->time_for_children = BPF_CORE_READ(nsp, time_ns_for_children, ns.inum);
	}
	out->cgroup = BPF_CORE_READ(nsp, cgroup_ns, ns.inum);
	out->user = BPF_CORE_READ(task, cred, user_ns, ns.inum);
}

/* What matchNamespaceChanges and matchCapabilityChanges compare: the task's
 * namespaces and capability sets now. */
static __always_inline void read_baseline(struct task_struct *task, struct vigil_baseline *out)
{
	const struct cred *cred = BPF_CORE_READ(task, cred);

	read_namespaces(task, &out->ns);
	out->caps[VIGIL_SEL_CAP_PERMITTED] = read_cap(&cred->cap_permitted);
	out->caps[VIGIL_SEL_CAP_EFFECTIVE] = read_cap(&cred->cap_effective);
	out->caps[VIGIL_SEL_CAP_INHERITABLE] = read_cap(&cred->cap_inheritable);
}

#endif

/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A selector's filters on the current task: matchPIDs with isNamespacePID,
 * matchNamespaces and matchCapabilities, read from the task at the hook (not
 * from what the process had at exec: a process that unshares or drops a
 * capability after exec is seen as it is now, as Tetragon sees it).
 *
 * Tetragon's semantics (bpf/process/pfilter.h): a filter's values are ORed
 * (NotIn: none may match), the filters ANDed with the selector's others.
 *   - isNamespacePID compares the pid the process has in its own pid
 *     namespace (Tetragon's nspid, taken at exec; here the thread group
 *     leader's, which is the exec'd thread).
 *   - matchNamespaces compares one namespace's inode number.
 *   - matchCapabilities tests one capability set against the ORed bits of
 *     its values; with isNamespaceCapability a task in the host's user
 *     namespace never matches. Tetragon evaluates only a selector's first
 *     matchCapabilities filter; vigil ANDs all of them, as its docs say
 *     filters combine.
 *
 * matchNamespaceChanges and matchCapabilityChanges compare the task with
 * the process's baseline instead (struct vigil_baseline: what it had at
 * exec, or at fork until it execs), kept by the process sensor while a
 * policy needs it; a selector that matched makes what it saw the new
 * baseline (vigil_sel_rebase), so a change is reported once.
 *
 * Included by lib/selectors.bpf.h after the selector map. Global functions
 * for the reason that file gives; each looks the selectors up itself (5.10:
 * scalars only).
 */
#ifndef VIGIL_LIB_SEL_TASK_BPF_H
#define VIGIL_LIB_SEL_TASK_BPF_H

#include <bpf/bpf_core_read.h>
#include "events.h"
#include "lib/core_fixes.bpf.h"
#include "lib/task.bpf.h"

/* The thread group's pid as its own pid namespace numbers it: the leader's
 * pid at the level of its deepest namespace (0 when unreadable). */
static __always_inline __u32 sel_ns_tgid(struct task_struct *task)
{
	struct pid *pid = BPF_CORE_READ(task, group_leader, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	struct upid upid = {};

	/* Nesting is capped at 32 levels (MAX_PID_NS_LEVEL). */
	bpf_core_read(&upid, sizeof(upid), &pid->numbers[level & 31]);
	return (__u32)upid.nr;
}

/* The current task's namespace of one kind (an index into struct
 * vigil_namespaces), reading only that one. */
__noinline __u32 vigil_sel_ns_inum(__u32 kind)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct nsproxy *nsp = BPF_CORE_READ(task, nsproxy);

	switch (kind) {
	case 0:
		return BPF_CORE_READ(nsp, uts_ns, ns.inum);
	case 1:
		return BPF_CORE_READ(nsp, ipc_ns, ns.inum);
	case 2:
		return BPF_CORE_READ(nsp, mnt_ns, ns.inum);
	case 3:
		return read_pid_ns(task);
	case 4:
		return BPF_CORE_READ(nsp, pid_ns_for_children, ns.inum);
	case 5:
		return BPF_CORE_READ(nsp, net_ns, ns.inum);
	case 6:
		/* Time namespaces arrived in Linux 5.6. */
		if (bpf_core_field_exists(nsp->time_ns))
			return BPF_CORE_READ(nsp, time_ns, ns.inum);
		return 0;
	case 7:
		if (bpf_core_field_exists(nsp->time_ns_for_children))
			return BPF_CORE_READ(nsp, time_ns_for_children, ns.inum);
		return 0;
	case 8:
		return BPF_CORE_READ(nsp, cgroup_ns, ns.inum);
	case 9:
		return BPF_CORE_READ(task, cred, user_ns, ns.inum);
	}
	return 0;
}

/* Selector s's isNamespacePID filters against the current task. */
static __always_inline bool sel_nspids(const struct vigil_selector *sel,
				       struct task_struct *task)
{
	__u32 nspid = sel_ns_tgid(task);
	int f, v;

	/* Tetragon: a process whose namespace pid is unknown never matches. */
	if (!nspid)
		return false;
	for (f = 0; f < VIGIL_SEL_PIDS_MAX; f++) {
		const struct vigil_sel_pids *p = &sel->pids[f];
		bool found = false;

		if (f >= sel->npids)
			break;
		if (!((sel->nspid >> f) & 1))
			continue;
		for (v = 0; v < VIGIL_SEL_VALUES_MAX; v++) {
			if (v >= p->nvalues)
				break;
			found |= p->values[v] == nspid;
		}
		if (found != (p->op == VIGIL_SEL_OP_PID_IN))
			return false;
	}
	return true;
}

static __always_inline bool sel_namespaces(const struct vigil_selector *sel)
{
	int f, v;

	for (f = 0; f < VIGIL_SEL_NS_MAX; f++) {
		const struct vigil_sel_ns *n = &sel->ns[f];
		bool found = false;
		__u32 inum;

		if (f >= sel->nns)
			break;
		inum = vigil_sel_ns_inum(n->kind);
		for (v = 0; v < VIGIL_SEL_VALUES_MAX; v++) {
			if (v >= n->nvalues)
				break;
			found |= n->values[v] == inum;
		}
		if (found == (n->not_in != 0))
			return false;
	}
	return true;
}

static __always_inline bool sel_caps(const struct vigil_selector *sel, struct task_struct *task)
{
	const struct cred *cred = BPF_CORE_READ(task, cred);
	__u32 user_ns = 0;
	int f;

	for (f = 0; f < VIGIL_SEL_CAPS_MAX; f++) {
		const struct vigil_sel_caps *c = &sel->caps[f];
		__u64 set;

		if (f >= sel->ncaps)
			break;
		if (c->host_user_ns) {
			if (!user_ns)
				user_ns = BPF_CORE_READ(cred, user_ns, ns.inum);
			if (user_ns == c->host_user_ns)
				return false;
		}
		switch (c->set) {
		case VIGIL_SEL_CAP_PERMITTED:
			set = read_cap(&cred->cap_permitted);
			break;
		case VIGIL_SEL_CAP_EFFECTIVE:
			set = read_cap(&cred->cap_effective);
			break;
		case VIGIL_SEL_CAP_INHERITABLE:
			set = read_cap(&cred->cap_inheritable);
			break;
		default:
			return false;
		}
		if (((set & c->mask) != 0) == (c->not_in != 0))
			return false;
	}
	return true;
}

/* A selector's index, bounded where it is used: clang keeps s in a 32-bit
 * stack slot across the helper calls below, and 6.1's verifier reloads such
 * a slot without the bound it checked (5.10's too). The mask keeps any index
 * inside the map value (struct vigil_selectors has the pool after sel[]);
 * the caller checked s < VIGIL_SEL_MAX. */
#define VIGIL_SEL_INDEX(s) VIGIL_MASK(s, 7)
_Static_assert(VIGIL_SEL_MAX <= 8, "a selector index is masked with 7");
_Static_assert(offsetof(struct vigil_selectors, sel) + 8 * sizeof(struct vigil_selector) <=
	       sizeof(struct vigil_selectors), "a masked selector index stays in the map value");

/* Whether a namespace of a kind in `kinds` differs from the baseline's. A
 * kind the baseline lacks (0: unreadable, or the kernel has none) is not
 * compared, as Tetragon skips it. */
static __always_inline bool ns_changed(__u32 kinds, const struct vigil_baseline *base,
				       const struct vigil_baseline *now)
{
	const __u32 *was = (const __u32 *)&base->ns, *is = (const __u32 *)&now->ns;
	int k;

	for (k = 0; k < VIGIL_SEL_NS_KINDS; k++) {
		if (!((kinds >> k) & 1) || !was[k])
			continue;
		if (was[k] != is[k])
			return true;
	}
	return false;
}

/* Every capability change filter of `sel` accepts (Tetragon's
 * process_filter_capability_change, for each filter). */
static __always_inline bool caps_changed(const struct vigil_selector *sel,
					 const struct vigil_baseline *base,
					 const struct vigil_baseline *now)
{
	int f;

	for (f = 0; f < VIGIL_SEL_CAPS_MAX; f++) {
		const struct vigil_sel_caps *c = &sel->cap_changes[f];
		__u64 was, is;
		bool match;

		if (f >= sel->ncap_changes)
			break;
		if (c->host_user_ns && now->ns.user == c->host_user_ns)
			return false;
		if (c->set > VIGIL_SEL_CAP_INHERITABLE)
			return false;
		was = base->caps[c->set];
		is = now->caps[c->set];
		if ((was ^ is) & c->mask)
			match = !c->not_in;	/* a capability it names changed */
		else
			match = c->not_in && was != is;	/* only others did */
		if (!match)
			return false;
	}
	return true;
}

/* The current process's baseline (its vigil_task_baseline entry), with what
 * the task has now in `now`; NULL when it has none (the map was full when it
 * forked or exec'd): such a process never matches a change. A hook only
 * looks up and writes in place: an update would take the trie's lock and
 * allocate under it, and a raw tracepoint program on an allocation's
 * tracepoint, which 5.10 does not keep from nesting, would then wait for
 * that lock on its own CPU. */
static __always_inline struct vigil_baseline *sel_baseline(struct vigil_baseline *now)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	const struct vigil_exec_identity *id;
	struct vigil_seed_key k;

	id = bpf_map_lookup_elem(&vigil_execve_map, &tgid);
	if (!id)
		return NULL;
	k = seed_key(id);
	read_baseline(task, now);
	return bpf_map_lookup_elem(&vigil_task_baseline, &k);
}

/* What the task has now, compared with its baseline: per-CPU scratch (written
 * and read by the two functions below), since it sits at the bottom of the
 * deepest call chain of a hook (program, vigil_sel_pids, vigil_sel_process,
 * here) and on the stack it took that chain past the verifier's 512 bytes. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_baseline);
} vigil_baseline_now SEC(".maps");

/* 1 when selector s's change filters (matchNamespaceChanges,
 * matchCapabilityChanges) all accept the current process. */
__noinline int vigil_sel_changes(__u32 s)
{
	const struct vigil_selectors *sc;
	const struct vigil_selector *sel;
	struct vigil_baseline *now, *base;
	__u32 zero = 0;

	sc = bpf_map_lookup_elem(&vigil_selectors, &zero);
	now = bpf_map_lookup_elem(&vigil_baseline_now, &zero);
	if (!sc || !now || s >= VIGIL_SEL_MAX)
		return 0;
	sel = &sc->sel[VIGIL_SEL_INDEX(s)];
	__builtin_memset(now, 0, sizeof(*now));
	base = sel_baseline(now);
	if (!base)
		return 0;
	if ((sel->task & VIGIL_SEL_T_NS_CHANGE) && !ns_changed(sel->ns_change, base, now))
		return 0;
	if ((sel->task & VIGIL_SEL_T_CAP_CHANGE) && !caps_changed(sel, base, now))
		return 0;
	return 1;
}

/* Selector s matched: what its change filters compared becomes the
 * process's baseline, so the same change is not reported again (Tetragon
 * updates the exec map's copy when it posts). */
__noinline int vigil_sel_rebase(__u32 s)
{
	const struct vigil_selectors *sc;
	struct vigil_baseline *now, *base;
	__u32 zero = 0;
	__u8 task;

	sc = bpf_map_lookup_elem(&vigil_selectors, &zero);
	now = bpf_map_lookup_elem(&vigil_baseline_now, &zero);
	if (!sc || !now || s >= VIGIL_SEL_MAX)
		return 0;
	task = sc->sel[VIGIL_SEL_INDEX(s)].task;
	if (!(task & (VIGIL_SEL_T_NS_CHANGE | VIGIL_SEL_T_CAP_CHANGE)))
		return 0;
	__builtin_memset(now, 0, sizeof(*now));
	base = sel_baseline(now);
	if (!base)
		return 0;
	if (task & VIGIL_SEL_T_NS_CHANGE)
		base->ns = now->ns;
	if (task & VIGIL_SEL_T_CAP_CHANGE)
		__builtin_memcpy(base->caps, now->caps, sizeof(base->caps));
	return 1;
}

/* 1 when selector s's filters on the current task all accept it (its
 * change filters are vigil_sel_changes'). Cheapest first, and only what the
 * selector's `task` bits say it needs is read. */
__noinline int vigil_sel_task(__u32 s)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	const struct vigil_selectors *sc;
	const struct vigil_selector *sel;
	__u32 zero = 0;

	sc = bpf_map_lookup_elem(&vigil_selectors, &zero);
	if (!sc || s >= VIGIL_SEL_MAX)
		return 0;
	sel = &sc->sel[s];
	if ((sel->task & VIGIL_SEL_T_NSPID) && !sel_nspids(sel, task))
		return 0;
	if ((sel->task & VIGIL_SEL_T_NS) && !sel_namespaces(sel))
		return 0;
	if ((sel->task & VIGIL_SEL_T_CAPS) && !sel_caps(sel, task))
		return 0;
	return 1;
}

#endif /* VIGIL_LIB_SEL_TASK_BPF_H */

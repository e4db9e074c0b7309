/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Sock tracking (TrackSock, UntrackSock, returnArgAction): a sock is often
 * used where its owner does not run (a packet sent from a softirq, a TCP
 * state change from a timer), so an event that reads a tracked sock names
 * the thread that tracked it instead of whoever was on the CPU, as
 * Tetragon's socktrack_map does (bpf/process/types/basic.h).
 *
 * Built into generic/struct_args.bpf.o only, with the sock readers; included
 * by lib/selectors.bpf.h after vigil_sel_slot().
 */
#ifndef VIGIL_LIB_SOCK_OWNER_BPF_H
#define VIGIL_LIB_SOCK_OWNER_BPF_H

#include "events.h"

/* The policy tracks socks: a hook looks up the owner of the socks it reads. */
const volatile bool sock_owners = false;

/* Owners of tracked socks, by the sock's address: written by TrackSock
 * (an action, or a return's returnArgAction), deleted by UntrackSock, read
 * by every hook of the policy that reads a sock. One map per policy, shared
 * by its objects (sensors/policy_maps.py); an LRU map, sized by user space
 * when the policy tracks socks (1 entry otherwise), so a sock never
 * untracked is forgotten under pressure rather than filling it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1);
	__type(key, __u64);
	__type(value, struct vigil_sock_owner);
} vigil_sock_owners SEC(".maps");

/* The sock (its address) argument `index`'s slot of this CPU's record
 * holds, or 0 (no such argument, or it could not be read). User space
 * allows argSock to name sock and socket arguments only. */
static __always_inline __u64 slot_sock(__u32 index)
{
	const struct vigil_generic_event *e;
	__u32 zero = 0;
	int off = vigil_sel_slot(index);

	e = bpf_map_lookup_elem(&vigil_generic_heap, &zero);
	if (!e || off < 0 || *(const __s32 *)&e->data[VIGIL_MASK(off, VIGIL_GENERIC_OFF_MASK)] <= 0)
		return 0;
	return ((const struct vigil_sock_arg *)
		&e->data[VIGIL_MASK(off, VIGIL_GENERIC_OFF_MASK) + 4])->cookie;
}

/* TrackSock (the current thread owns `sk` from now on) or UntrackSock. A
 * process the exec map does not know is not an owner it could name. */
static __always_inline void sock_track(__u64 sk, bool track)
{
	struct vigil_sock_owner owner = {};
	struct vigil_exec_identity *id;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;

	if (!sk)
		return;
	if (!track) {
		bpf_map_delete_elem(&vigil_sock_owners, &sk);
		return;
	}
	id = bpf_map_lookup_elem(&vigil_execve_map, &tgid);
	if (!id)
		return;
	owner.key = id->key;
	owner.tid = (__u32)pid_tgid;
	bpf_map_update_elem(&vigil_sock_owners, &sk, &owner, BPF_ANY);
}

#endif /* VIGIL_LIB_SOCK_OWNER_BPF_H */

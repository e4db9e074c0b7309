/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * NotifyEnforcer's half of an enforcer: a policy hook whose selector chose
 * NotifyEnforcer notes, for the current thread, what the policy's enforcer
 * is to do; the enforcer (generic/enforcer.bpf.c), on the next call of one
 * of its functions by that thread, does it: sends the signal and makes the
 * call return the error. Tetragon splits its enforcement so (bpf_enforcer.h)
 * because the hook that knows (a tracepoint, a kprobe deep in the call)
 * often cannot change a return, and a syscall's function can.
 */
#ifndef VIGIL_LIB_ENFORCER_BPF_H
#define VIGIL_LIB_ENFORCER_BPF_H

#include "events.h"
#include "lib/stats.bpf.h"

/* Notifications not yet acted on, by thread (pid_tgid): written by the
 * policy's hooks (NotifyEnforcer, CleanupEnforcerNotification), read and
 * deleted by its enforcer. One map per policy: user space makes the policy's
 * objects share it (sensors/policy_maps.py) and sizes it when the policy has
 * an enforcer (1 entry otherwise). Not preallocated: a note lives from the
 * hook to the enforced call, so it holds only the threads in between. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct vigil_enforcer_note);
} vigil_enforcer_notes SEC(".maps");

static __always_inline void enforcer_notify(__s32 error, __s32 signal, __u32 hook)
{
	struct vigil_enforcer_note note = { .error = error, .signal = signal, .hook_id = hook };
	__u64 id = bpf_get_current_pid_tgid();

	if (bpf_map_lookup_elem(&vigil_enforcer_notes, &id))
		stat_inc(VIGIL_STAT_ENFORCER_OVERWRITTEN);
	bpf_map_update_elem(&vigil_enforcer_notes, &id, &note, BPF_ANY);
}

static __always_inline void enforcer_cleanup(void)
{
	__u64 id = bpf_get_current_pid_tgid();

	if (!bpf_map_delete_elem(&vigil_enforcer_notes, &id))
		stat_inc(VIGIL_STAT_ENFORCER_UNUSED);
}

#endif /* VIGIL_LIB_ENFORCER_BPF_H */

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A policy's enforcer (spec.enforcers): attached to each function the
 * enforcer names (syscalls, security_* hooks), it acts on what the policy's
 * hooks noted for the calling thread with NotifyEnforcer
 * (lib/enforcer.bpf.h): sends the note's signal and makes the call return
 * the note's error instead of running. One object per function, on the
 * policy's vigil_enforcer_notes (sensors/enforcer.py).
 *
 * Two ways to change what a function returns, one entry point each; user
 * space loads the one the kernel allows (as Tetragon's enforcer chooses):
 * fmod_ret, on security_* hooks and on the functions the kernel lists for
 * error injection (syscalls only with CONFIG_FUNCTION_ERROR_INJECTION), or a
 * kprobe's bpf_override_return (CONFIG_BPF_KPROBE_OVERRIDE, never on
 * security_* hooks).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "events.h"
#include "lib/stats.bpf.h"
#include "lib/enforcer.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The error the call returns instead, or 0 (no note: it runs). */
static __always_inline __s32 enforce(void)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct vigil_enforcer_note *note, n;

	note = bpf_map_lookup_elem(&vigil_enforcer_notes, &id);
	if (!note)
		return 0;
	n = *note;
	bpf_map_delete_elem(&vigil_enforcer_notes, &id);
	if (n.signal)
		bpf_send_signal(n.signal);
	return n.error;
}

/* Runs before the function; non-zero is returned in its place, unrun. */
SEC("fmod_ret")
int vigil_enforcer_fmod_ret(__u64 *ctx)
{
	return enforce();
}

SEC("kprobe")
int vigil_enforcer_kprobe(struct pt_regs *ctx)
{
	__s32 err = enforce();

	if (err)
		bpf_override_return(ctx, err);
	return 0;
}

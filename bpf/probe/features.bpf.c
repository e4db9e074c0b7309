// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* One tiny program per hook kind and helper, for `vigil probe`.
 *
 * A BPF object fails to load if any autoloaded program fails, so
 * vigil.kernel.probe opens this object once per feature with only that
 * feature's program autoloaded, loads it, attaches it, triggers it from the
 * probing process and reads `hits` to see that it fired.
 *
 * Targets exist from 5.10 to 6.18:
 *   - security_file_open: a plain global function with BTF on every kernel,
 *     and fmod_ret may modify it (the verifier allows every security_* hook);
 *     the trigger is an open(2) of /dev/null.
 *   - the getpid syscall: its arch wrapper is ALLOW_ERROR_INJECTION, which
 *     bpf_override_return needs; the trigger is getpid(2).
 * Programs that need extra maps or kfuncs (ring buffer, perf buffer, LPM
 * trie, tail calls, USDT, bpf_for) live in their own objects next to this one,
 * so a map type or kfunc the kernel lacks can only fail its own probe.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "probe/probe.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#if defined(__TARGET_ARCH_x86)
#define SYSCALL(name) "__x64_sys_" #name
#elif defined(__TARGET_ARCH_arm64)
#define SYSCALL(name) "__arm64_sys_" #name
#elif defined(__TARGET_ARCH_s390)
#define SYSCALL(name) "__s390x_sys_" #name
#else
#define SYSCALL(name) "sys_" #name
#endif

/* bpf_override_return only fires for this thread, and makes getpid(2) return this */
const volatile __u32 target_tid = 0;
const volatile __s64 override_value = 0;
/* iterations bpf_loop runs; its callback counts them into `value` */
const volatile __u32 loop_n = 0;

/* ---- hook kinds ---------------------------------------------------------- */

SEC("tp/syscalls/sys_enter_getpid")
int tracepoint(void *ctx)
{
	if (mine())
		hit();
	return 0;
}

SEC("raw_tp/sys_enter")
int raw_tracepoint(void *ctx)
{
	if (mine())
		hit();
	return 0;
}

SEC("tp_btf/sys_enter")
int tp_btf(__u64 *ctx)
{
	if (mine())
		hit();
	return 0;
}

SEC("kprobe/security_file_open")
int kprobe(struct pt_regs *ctx)
{
	if (mine())
		hit();
	return 0;
}

SEC("kretprobe/security_file_open")
int kretprobe(struct pt_regs *ctx)
{
	if (mine())
		hit();
	return 0;
}

/* attached by hand (kprobe.multi and kretprobe.multi), with cookie 7 */
SEC("kprobe.multi")
int kprobe_multi(struct pt_regs *ctx)
{
	if (mine() && bpf_get_attach_cookie(ctx) == 7)
		hit();
	return 0;
}

SEC("fentry/security_file_open")
int fentry(__u64 *ctx)
{
	if (mine())
		hit();
	return 0;
}

SEC("fexit/security_file_open")
int fexit(__u64 *ctx)
{
	if (mine())
		hit();
	return 0;
}

/* returning 0 lets the real hook run: the probe must never change behaviour */
SEC("fmod_ret/security_file_open")
int fmod_ret(__u64 *ctx)
{
	if (mine())
		hit();
	return 0;
}

/* loads whenever BPF LSM is built in, but only runs when "bpf" is an active LSM */
SEC("lsm/file_open")
int lsm(__u64 *ctx)
{
	if (mine())
		hit();
	return 0;
}

/* attached by hand to libc's getpid, for the probing process only */
SEC("uprobe")
int uprobe_getpid(struct pt_regs *ctx)
{
	hit();
	return 0;
}

SEC("uretprobe")
int uretprobe_getpid(struct pt_regs *ctx)
{
	hit();
	return 0;
}

/* runs once per task, then once more with task == NULL, in the reader's read(2) */
SEC("iter/task")
int iter_task(void *ctx)
{
	hit();
	return 0;
}

/* ---- helpers ------------------------------------------------------------- */

/* signal 0 is the kill(2) permission check: it proves the helper without side effects */
SEC("tp/syscalls/sys_enter_getpid")
int send_signal(void *ctx)
{
	if (!mine())
		return 0;
	put_value(bpf_send_signal(0));
	hit();
	return 0;
}

/* needs CONFIG_BPF_KPROBE_OVERRIDE and a kprobe on an ALLOW_ERROR_INJECTION function */
SEC("kprobe/" SYSCALL(getpid))
int override_return(struct pt_regs *ctx)
{
	if ((__u32)bpf_get_current_pid_tgid() != target_tid)
		return 0;
	hit();
	bpf_override_return(ctx, override_value);
	return 0;
}

static int loop_step(__u32 i, void *data)
{
	*(__s64 *)data += 1;
	return 0;
}

SEC("tp/syscalls/sys_enter_getpid")
int loop(void *ctx)
{
	__s64 n = 0;

	if (!mine())
		return 0;
	bpf_loop(loop_n, loop_step, &n, 0);
	put_value(n);
	hit();
	return 0;
}

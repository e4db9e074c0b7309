// SPDX-License-Identifier: GPL-2.0
/* The matrix's own hook check: one tiny program per hook kind vigil relies on.
 * tests/vm/guest.py loads and attaches each one alone inside every guest, so the
 * matrix shows which hooks a kernel really offers, whatever tests/kernel holds.
 * No vmlinux.h: nothing here reads a kernel struct, so nothing needs CO-RE.
 */
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

struct file;

/* getpgid: a syscall nothing else on an idle guest calls, in every 5.x/6.x. */
SEC("tp/syscalls/sys_enter_getpgid")
int tracepoint(void *ctx)
{
	return 0;
}

SEC("raw_tp/sys_enter")
int raw_tracepoint(void *ctx)
{
	return 0;
}

SEC("kprobe/__x64_sys_getpgid")
int kprobe(void *ctx)
{
	return 0;
}

SEC("kretprobe/__x64_sys_getpgid")
int kretprobe(void *ctx)
{
	return 0;
}

SEC("fentry/__x64_sys_getpgid")
int BPF_PROG(fentry)
{
	return 0;
}

SEC("fexit/__x64_sys_getpgid")
int BPF_PROG(fexit)
{
	return 0;
}

/* Debian builds without CONFIG_FUNCTION_ERROR_INJECTION, so fmod_ret can only
 * modify security_* functions there, never syscalls. */
SEC("fmod_ret/security_file_open")
int BPF_PROG(fmod_ret, struct file *file)
{
	return 0;
}

/* Loads wherever CONFIG_BPF_LSM=y; attaches only with "bpf" in lsm=. */
SEC("lsm/file_open")
int BPF_PROG(lsm, struct file *file)
{
	return 0;
}

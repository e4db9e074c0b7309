// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Lesson 1: the smallest useful BPF program. A tracepoint program runs each
 * time any process enters execve(2) and prints one line to trace_pipe. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

/* bpf_printk (bpf_trace_printk) is GPL-only: without a GPL-compatible
 * licence the verifier refuses the call. */
char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* libbpf reads the hook from the section name: tracepoint category
 * "syscalls", event "sys_enter_execve". */
SEC("tp/syscalls/sys_enter_execve")
int hello_execve(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	char comm[16];

	/* Still the caller's name: the new program is not loaded yet. */
	bpf_get_current_comm(comm, sizeof(comm));
	bpf_printk("vigil-lab hello: execve by pid %d (%s)", tgid, comm);
	return 0;
}

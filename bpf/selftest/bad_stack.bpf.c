// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* A program the verifier must refuse, so the binding's tests can check that
 * LoadError carries the verifier's log.
 *
 * The failure has to be one clang accepts. A single frame over 512 bytes is
 * refused by clang itself, and a call chain over 512 bytes loads on kernels
 * that give tracing programs a private stack (x86_64, 6.13+). An index taken
 * from user space and never bounds-checked is refused by every verifier:
 * it could reach anywhere on the stack.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tp/syscalls/sys_enter_getpgid")
int unchecked_index(struct trace_event_raw_sys_enter *ctx)
{
	char comm[16];
	/* getpgid's pid argument: any value user space likes. */
	__u64 index = ctx->args[0];

	bpf_get_current_comm(comm, sizeof(comm));
	return comm[index];
}

// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* `vigil probe`: prog array + bpf_tail_call, which the generic sensor's
 * selector pipeline uses to split work across programs. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "probe/probe.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tp")
int tail_target(void *ctx)
{
	hit();
	return 0;
}

/* filled by libbpf at load from the initialiser; read by bpf_tail_call below */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, int(void *));
} jump SEC(".maps") = {
	.values = { [0] = (void *)&tail_target },
};

SEC("tp/syscalls/sys_enter_getpid")
int tailcall(void *ctx)
{
	if (!mine())
		return 0;
	bpf_tail_call(ctx, &jump, 0);
	/* only reached when the tail call failed */
	put_value(-1);
	return 0;
}

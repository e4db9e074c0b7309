// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* `vigil probe`: the perf event array, the ring buffer's pre-5.8 fallback. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "probe/probe.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* written by perf_event_output below; no reader is opened, so the helper's
 * -ENOENT return is expected: it still proves the map and the helper exist */
struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

SEC("tp/syscalls/sys_enter_getpid")
int perfbuf(void *ctx)
{
	__u64 rec = 0;

	if (!mine())
		return 0;
	put_value(bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &rec, sizeof(rec)));
	hit();
	return 0;
}

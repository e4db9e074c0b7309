// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* `vigil probe`: can this kernel create a ring buffer and reserve/submit in it? */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "probe/probe.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* written by ringbuf_submit below; nobody reads it, the probe only counts successful reserves */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} rb SEC(".maps");

SEC("tp/syscalls/sys_enter_getpid")
int ringbuf(void *ctx)
{
	__u64 *rec;

	if (!mine())
		return 0;
	rec = bpf_ringbuf_reserve(&rb, sizeof(*rec), 0);
	if (!rec)
		return 0;
	*rec = 0;
	bpf_ringbuf_submit(rec, 0);
	hit();
	return 0;
}

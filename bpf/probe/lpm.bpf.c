// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* `vigil probe`: LPM trie, which CIDR selectors in policies compile to. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "probe/probe.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct v4_key {
	__u32 prefixlen;
	__u8 addr[4];
};

/* written and read by lpm below: insert 10.0.0.0/8, look up 10.1.2.3 */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1);
	__type(key, struct v4_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} cidrs SEC(".maps");

SEC("tp/syscalls/sys_enter_getpid")
int lpm(void *ctx)
{
	struct v4_key net = { .prefixlen = 8, .addr = { 10, 0, 0, 0 } };
	struct v4_key host = { .prefixlen = 32, .addr = { 10, 1, 2, 3 } };
	__u32 tag = 8, *found;

	if (!mine())
		return 0;
	bpf_map_update_elem(&cidrs, &net, &tag, BPF_ANY);
	found = bpf_map_lookup_elem(&cidrs, &host);
	/* 1: the /32 lookup matched the /8 entry, as longest-prefix match should */
	put_value(found && *found == 8);
	hit();
	return 0;
}

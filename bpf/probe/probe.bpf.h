/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Shared by every feature-probe object: a "did it fire" counter, one result
 * slot, and the tgid filter so other processes never count.
 * Nothing here may need more than a 5.10 kernel offers: these maps are
 * created in every probe object, and one failed map fails the whole object. */
#ifndef __VIGIL_PROBE_BPF_H
#define __VIGIL_PROBE_BPF_H

/* written by the program under test, read by vigil.kernel.probe after the trigger */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

/* written by the program under test (a helper's return value), read by vigil.kernel.probe */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __s64);
} value SEC(".maps");

/* the probing process; set before load so only its own trigger counts */
const volatile __u32 target_tgid = 0;

static __always_inline bool mine(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == target_tgid;
}

static __always_inline void hit(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&hits, &zero);

	if (n)
		__sync_fetch_and_add(n, 1);
}

static __always_inline void put_value(__s64 v)
{
	__u32 zero = 0;

	bpf_map_update_elem(&value, &zero, &v, BPF_ANY);
}

#endif /* __VIGIL_PROBE_BPF_H */

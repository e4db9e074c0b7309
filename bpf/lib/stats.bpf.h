/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Per-cause loss and error counters: nothing is dropped without a count. */
#ifndef VIGIL_LIB_STATS_BPF_H
#define VIGIL_LIB_STATS_BPF_H

#include "events.h"

/* Written by every vigil program on a failure; read by user space for the
 * "events lost" report and metrics. Index: enum vigil_stat. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VIGIL_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} vigil_stats SEC(".maps");

static __always_inline void stat_inc(enum vigil_stat cause)
{
	__u32 key = cause;
	__u64 *count = bpf_map_lookup_elem(&vigil_stats, &key);

	/* Per-CPU slot: no other CPU writes it, a plain increment is exact. */
	if (count)
		*count += 1;
}

#endif

/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The maps every vigil program shares: the exec map (who each process is) and
 * the ring buffer (where records go). Every object that includes this header
 * declares them; the base process sensor's object creates them and user space
 * makes every other object reuse them before load (sensors/base.py,
 * SharedMaps), so all programs see one exec map and write to one buffer.
 * The per-cause counters (vigil_stats) are shared the same way, from
 * lib/stats.bpf.h.
 */
#ifndef VIGIL_LIB_SHARED_MAPS_BPF_H
#define VIGIL_LIB_SHARED_MAPS_BPF_H

#include "events.h"
#include "lib/path.bpf.h"

/* Process identities keyed by tgid. Written by the process sensor at fork,
 * exec and exit, and by user space at start-up from /proc; read by every
 * program to name a process and its parent. Sized by user space before load
 * (--exec-map-size). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__type(value, struct vigil_exec_identity);
} vigil_execve_map SEC(".maps");

/* Match bits of processes that were running when a policy was added, keyed
 * by their identity. Written by user space (sensors/match_bits.py), which
 * never writes the exec map after start; read by every program through
 * match_bits(); deleted by the process sensor at exit. Sized by user space
 * like the exec map; entries are allocated only as they are added. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);	/* exact keys: see struct vigil_seed_key */
	__uint(max_entries, 32768);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct vigil_seed_key);
	__type(value, struct vigil_match_bits);
} vigil_match_seed SEC(".maps");

/* What each process had at exec (at fork until it execs), keyed by its
 * identity, for matchNamespaceChanges and matchCapabilityChanges. Kept only
 * while a policy uses them (vigil_match_config.baselines): written by the
 * process sensor at fork and exec and deleted at exit, seeded by user space
 * for the processes already running (sensors/baselines.py), and rewritten by
 * a hook whose selector matched a change, so one change is reported once.
 * Sized like the exec map; entries are allocated only as they are added. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);	/* exact keys: see struct vigil_seed_key */
	__uint(max_entries, 32768);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct vigil_seed_key);
	__type(value, struct vigil_baseline);
} vigil_task_baseline SEC(".maps");

static __always_inline struct vigil_seed_key seed_key(const struct vigil_exec_identity *id)
{
	struct vigil_seed_key k = { .prefixlen = 96, .pid = id->key.pid, .ktime = id->key.ktime };

	return k;
}

/* Scratch of the path walks (lib/path.bpf.h): the exec's cwd and file, a
 * policy hook's file arguments. Shared, so a hook adds no 4 KiB per CPU of
 * its own; written and read within one program run, and programs on one CPU
 * do not interleave their runs (a kprobe does not fire inside another BPF
 * program, and the exec's stages are one chain of tail calls). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_path_buf);
} vigil_path_heap SEC(".maps");

/* Records for user space, written by every program, read by the agent's
 * batch reader. Size set by user space before load (--ringbuf-size-mb). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} vigil_events SEC(".maps");

/* Wake user space once per wakeup_bytes of records (0: for every record).
 * Waking the reader per record costs a context switch per record; the reader
 * also drains the buffer on a short timer, so no record waits longer than
 * that timer. Set by user space before load. */
const volatile __u32 wakeup_bytes = 0;

/* The submit flags of a record of `size` bytes: a forced wake-up when the
 * unread data crosses a multiple of wakeup_bytes with this record, none
 * otherwise. Not "whenever at least wakeup_bytes wait": that forces a wake-up
 * for every record exactly while the reader is busiest (a hook on a hot
 * syscall then spent 7 us per call in BPF instead of 0.1, mostly in waking
 * the reader). Multiples, not just the first crossing: two CPUs that both
 * saw the data below the threshold would otherwise both let the crossing
 * pass, and nothing would wake the reader before its timer.
 * `counted`: whether BPF_RB_AVAIL_DATA already includes this record (after
 * bpf_ringbuf_reserve) or not yet (before bpf_ringbuf_output). */
static __always_inline __u64 ringbuf_flags(__u64 size, bool counted)
{
	/* What the record takes in the ring: an 8-byte header, 8-byte aligned. */
	__u64 rec = (size + 8 + 7) & ~7ULL, after;

	if (!wakeup_bytes)
		return 0;
	after = bpf_ringbuf_query(&vigil_events, BPF_RB_AVAIL_DATA);
	if (!counted)
		after += rec;
	if (after < rec)  /* the reader consumed it already */
		return BPF_RB_NO_WAKEUP;
	return after / wakeup_bytes != (after - rec) / wakeup_bytes ?
		BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

/* A process's match bits: its identity's and any user space seeded for it. */
static __always_inline struct vigil_match_bits match_bits(const struct vigil_exec_identity *id)
{
	struct vigil_match_bits b = { .bin = id->bin, .follow = id->follow }, *seed;
	struct vigil_seed_key k = seed_key(id);

	seed = bpf_map_lookup_elem(&vigil_match_seed, &k);
	if (seed) {
		b.bin = (b.bin & ~seed->clear) | seed->bin;
		b.follow = (b.follow & ~seed->clear) | seed->follow;
	}
	return b;
}

#endif

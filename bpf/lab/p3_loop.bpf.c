// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Pitfall 3: a loop the verifier cannot prove ends is refused.
 *
 * Each program counts the newlines one process writes (a tiny in-kernel
 * `wc -l` on write(2)). The verifier does not reason about loops: it walks
 * them, one iteration after another, until every path has ended.
 *
 * `lines_unbounded` loops to the write's byte count, a value it only knows
 * is some u64: the walk never ends and the verifier gives up ("The sequence
 * of 8193 jumps is too complex" or "BPF program is too large"; kernels
 * before 5.3 refuse any "back-edge").
 * `lines_bounded` copies at most CHUNK bytes into a per-CPU heap and loops to
 * the constant CHUNK: at most 256 iterations to walk, so it loads everywhere.
 * `lines_iter` uses the bpf_iter_num kfuncs (bpf_for, 6.4+): the verifier
 * checks the body once, whatever the count. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define CHUNK 256	/* bytes of each write looked at; a power of two */

struct tally {
	__u64 writes;
	__u64 bytes;		/* bytes looked at */
	__u64 newlines;
	__u64 cut;		/* writes longer than CHUNK (the rest not looked at) */
};

/* One tally; written by whichever program is loaded, read by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tally);
} tally SEC(".maps");

/* A copy of the written bytes (written and read by the bounded programs). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, char[CHUNK]);
} heap SEC(".maps");

/* Only this process's writes (0: everyone's); set by user space before load. */
const volatile __u32 target_tgid = 0;

/* libbpf 1.1 has no bpf_for macro: declare the kfuncs it wraps. __weak so the
 * object still opens on kernels without them (the program then stays off). */
extern int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) __ksym __weak;
extern int *bpf_iter_num_next(struct bpf_iter_num *it) __ksym __weak;
extern void bpf_iter_num_destroy(struct bpf_iter_num *it) __ksym __weak;

static __always_inline struct tally *watched(void)
{
	__u32 zero = 0;

	if (target_tgid && bpf_get_current_pid_tgid() >> 32 != target_tgid)
		return NULL;
	return bpf_map_lookup_elem(&tally, &zero);
}

static __always_inline void add(struct tally *t, __u64 bytes, __u64 newlines, __u64 count)
{
	__sync_fetch_and_add(&t->writes, 1);
	__sync_fetch_and_add(&t->bytes, bytes);
	__sync_fetch_and_add(&t->newlines, newlines);
	if (count > bytes)
		__sync_fetch_and_add(&t->cut, 1);
}

SEC("tp/syscalls/sys_enter_write")
int lines_unbounded(struct trace_event_raw_sys_enter *ctx)
{
	const char *buf = (const char *)ctx->args[1];
	__u64 count = ctx->args[2], i, n = 0;
	struct tally *t = watched();

	if (!t)
		return 0;
	/* Bug: `count` can be anything, so the verifier's walk cannot end. */
	for (i = 0; i < count; i++) {
		char c = 0;

		bpf_probe_read_user(&c, 1, buf + i);
		if (c == '\n')
			n++;
	}
	add(t, count, n, count);
	return 0;
}

/* Copies up to CHUNK bytes of the write into the heap; returns how many. */
static __always_inline __u32 copy_chunk(struct trace_event_raw_sys_enter *ctx, char *dst)
{
	__u64 count = ctx->args[2];
	__u32 len = count < CHUNK ? count : CHUNK;

	if (bpf_probe_read_user(dst, len, (const void *)ctx->args[1]))
		return 0;
	return len;
}

SEC("tp/syscalls/sys_enter_write")
int lines_bounded(struct trace_event_raw_sys_enter *ctx)
{
	__u32 zero = 0, len, i, n = 0;
	struct tally *t = watched();
	char *buf = bpf_map_lookup_elem(&heap, &zero);

	if (!t || !buf)
		return 0;
	len = copy_chunk(ctx, buf);
	/* Fix 1: a constant bound. The verifier walks at most CHUNK iterations. */
	for (i = 0; i < CHUNK; i++) {
		if (i >= len)
			break;
		if (buf[i] == '\n')
			n++;
	}
	add(t, len, n, ctx->args[2]);
	return 0;
}

SEC("tp/syscalls/sys_enter_write")
int lines_iter(struct trace_event_raw_sys_enter *ctx)
{
	__u32 zero = 0, len, n = 0;
	struct tally *t = watched();
	char *buf = bpf_map_lookup_elem(&heap, &zero);
	struct bpf_iter_num it;
	int *i;

	if (!t || !buf)
		return 0;
	len = copy_chunk(ctx, buf);
	/* Fix 2: an open-coded iterator (what bpf_for(i, 0, len) expands to).
	 * The kfunc guarantees the end; the verifier checks the body once. */
	bpf_iter_num_new(&it, 0, len);
	while ((i = bpf_iter_num_next(&it))) {
		/* *i is only known to be in [0, len): mask it for the access. */
		if (buf[*i & (CHUNK - 1)] == '\n')
			n++;
	}
	bpf_iter_num_destroy(&it);
	add(t, len, n, ctx->args[2]);
	return 0;
}

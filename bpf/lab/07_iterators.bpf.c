// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Lesson 7: three ways to write a loop the verifier accepts, each in its own
 * program doing the same job: count the '/' in the path of every exec.
 *   scan_plain     a bounded C loop                 kernel 5.3+
 *   scan_bpf_loop  the bpf_loop helper + callback   kernel 5.17+
 *   scan_bpf_for   open-coded iterator (bpf_for)    kernel 6.4+
 * One object holds all three; user space turns off (autoload) the programs
 * the running kernel cannot load, after asking the feature probe. A compile
 * time #ifdef could not do that: the object is built once, on another
 * machine, before the kernel it runs on is known. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define PATH_LEN 128	/* a power of two: indexes are masked with PATH_LEN - 1 */

enum scan_variant { SCAN_PLAIN, SCAN_BPF_LOOP, SCAN_BPF_FOR };

struct scan_event {
	__u32 pid;
	enum scan_variant variant;
	__u32 len;		/* bytes of path before its NUL */
	__u32 slashes;		/* what this variant's loop counted */
	char path[PATH_LEN];
};

/* Never used: puts struct scan_event into the object's BTF for the layout test. */
const struct scan_event *unused_event __attribute__((unused));

/* libbpf 1.1's bpf_helpers.h has no bpf_for macro, so the kfuncs behind it
 * are declared here. Their prototypes must be the kernel's exactly (libbpf
 * compares them with the kernel's BTF), and __weak lets libbpf open the
 * object on kernels that lack them (before 6.4). */
extern int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) __ksym __weak;
extern int *bpf_iter_num_next(struct bpf_iter_num *it) __ksym __weak;
extern void bpf_iter_num_destroy(struct bpf_iter_num *it) __ksym __weak;

/* One record per exec and variant: written here, read by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

/* The exec'd path (bprm->filename, kernel memory) into a fresh record. */
static __always_inline struct scan_event *
scan_start(struct trace_event_raw_sched_process_exec *ctx, enum scan_variant variant)
{
	struct scan_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	long n;

	if (!e)
		return 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->variant = variant;
	e->slashes = 0;
	n = bpf_probe_read_kernel_str(e->path, sizeof(e->path),
				      (void *)ctx + (ctx->__data_loc_filename & 0xFFFF));
	e->len = n > 0 ? n - 1 : 0;	/* n counts the NUL */
	return e;
}

SEC("tp/sched/sched_process_exec")
int scan_plain(struct trace_event_raw_sched_process_exec *ctx)
{
	struct scan_event *e = scan_start(ctx, SCAN_PLAIN);
	__u32 i;

	if (!e)
		return 0;
	/* The verifier follows every iteration it can reach, so the loop needs
	 * a bound it can see (PATH_LEN); e->len alone is just a number in
	 * memory to it. */
	for (i = 0; i < PATH_LEN; i++) {
		if (i >= e->len)
			break;
		if (e->path[i] == '/')
			e->slashes++;
	}
	bpf_ringbuf_submit(e, 0);
	return 0;
}

struct scan_ctx {
	struct scan_event *e;
	__u32 slashes;
};

/* bpf_loop's callback: verified once, whatever the count; returning 1
 * would stop the loop early. */
static long count_slash(__u32 i, void *data)
{
	struct scan_ctx *c = data;

	if (c->e->path[i & (PATH_LEN - 1)] == '/')
		c->slashes++;
	return 0;
}

SEC("tp/sched/sched_process_exec")
int scan_bpf_loop(struct trace_event_raw_sched_process_exec *ctx)
{
	struct scan_ctx c = { .e = scan_start(ctx, SCAN_BPF_LOOP) };

	if (!c.e)
		return 0;
	bpf_loop(c.e->len, count_slash, &c, 0);
	c.e->slashes = c.slashes;
	bpf_ringbuf_submit(c.e, 0);
	return 0;
}

SEC("tp/sched/sched_process_exec")
int scan_bpf_for(struct trace_event_raw_sched_process_exec *ctx)
{
	struct scan_event *e = scan_start(ctx, SCAN_BPF_FOR);
	struct bpf_iter_num it;
	int *i;

	if (!e)
		return 0;
	/* What bpf_for(i, 0, len) expands to. The verifier checks the body
	 * once per distinct state, not once per iteration; *i is an unknown
	 * int to it, hence the mask. new() and destroy() must pair on every
	 * path, like a lock. */
	bpf_iter_num_new(&it, 0, e->len);
	while ((i = bpf_iter_num_next(&it)))
		if (e->path[*i & (PATH_LEN - 1)] == '/')
			e->slashes++;
	bpf_iter_num_destroy(&it);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

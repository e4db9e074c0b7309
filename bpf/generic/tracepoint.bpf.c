// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The generic tracepoint sensor: one instance of this object per hook of a
 * TracingPolicy's spec.tracepoints, attached by user space to the policy's
 * subsystem/event (SEC("tp") names no tracepoint of its own). What to read
 * is fixed for the life of the hook, so it is const volatile knobs the
 * verifier folds: each argument's kind, offset and size in the tracepoint's
 * record, taken from tracefs's format by the policy's plan.
 *
 * The ctx of a tracepoint program is the trace entry itself (common_* fields
 * first), which is where tracefs's offsets count from.
 *
 * Its selectors (lib/selectors.bpf.h) run in DESIGN §5's order: the pids of
 * every selector on the process identity before anything is read, the
 * argument filters on the record's arguments, and the first selector that
 * accepts chooses the actions: signals are sent here, before the program
 * returns, and NoPost sends no record.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "events.h"
#include "lib/stats.bpf.h"
#include "lib/shared_maps.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile __u32 hook_id = 0;
const volatile __u32 nargs = 0;
const volatile __u8 arg_kind[VIGIL_GENERIC_ARGS_MAX] = {};
const volatile __u16 arg_offset[VIGIL_GENERIC_ARGS_MAX] = {};
const volatile __u16 arg_size[VIGIL_GENERIC_ARGS_MAX] = {};

/* The record is 9 KiB: built in this per-CPU heap (written and read here). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_generic_event);
} vigil_generic_heap SEC(".maps");

#include "lib/selectors.bpf.h"

/* Reads one argument into the record at `used`; returns the bytes it took
 * (its length word, its bytes, padding to 8). */
static __always_inline __u32 read_arg(void *ctx, struct vigil_generic_event *e, __u32 used,
				      __u8 kind, __u16 off, __u16 size)
{
	char *slot = &e->data[used & VIGIL_GENERIC_OFF_MASK];
	char *val = slot + 4;
	__u32 loc = 0;
	__u64 ptr = 0;
	long n = 0;

	switch (kind) {
	case VIGIL_ARG_INT:
		/* Zero first: a narrower field leaves the high bytes zero. */
		*(__u64 *)val = 0;
		n = bpf_probe_read_kernel(val, size & 0xF, ctx + off);
		n = n ? n : 8;
		break;
	case VIGIL_ARG_STR_ARRAY:
		/* Never past the field: a full array has no NUL of its own. */
		n = bpf_probe_read_kernel_str(val, size && size < VIGIL_ARG_STR_MAX ?
					      size : VIGIL_ARG_STR_MAX, ctx + off);
		n = n > 0 ? n - 1 : n;
		break;
	case VIGIL_ARG_STR_DATALOC:
		n = bpf_probe_read_kernel(&loc, sizeof(loc), ctx + off);
		if (!n) {
			n = bpf_probe_read_kernel_str(val, VIGIL_ARG_STR_MAX, ctx + (loc & 0xFFFF));
			n = n > 0 ? n - 1 : n;
		}
		break;
	case VIGIL_ARG_STR_PTR:
		n = bpf_probe_read_kernel(&ptr, sizeof(ptr), ctx + off);
		if (!n) {
			n = bpf_probe_read_user_str(val, VIGIL_ARG_STR_MAX, (void *)ptr);
			if (n < 0)
				n = bpf_probe_read_kernel_str(val, VIGIL_ARG_STR_MAX, (void *)ptr);
			n = n > 0 ? n - 1 : n;
		}
		break;
	default:
		n = 0;
	}
	*(__s32 *)slot = n;
	if (n < 0)
		n = 0;
	return (4 + (__u32)n + 7) & ~7U;
}

SEC("tp")
int vigil_generic_tp(void *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32, zero = 0, used = 0, size, pids = 0;
	const struct vigil_selectors *sc;
	struct vigil_exec_identity *id;
	struct vigil_generic_event *e;
	int i;

	sc = bpf_map_lookup_elem(&vigil_selectors, &zero);
	if (!sc)
		return 0;
	if (sc->nsel) {
		pids = vigil_sel_pids(tgid);
		if (!pids)
			return 0;
	}

	e = bpf_map_lookup_elem(&vigil_generic_heap, &zero);
	if (!e) {
		stat_inc(VIGIL_STAT_HEAP_MISSING);
		return 0;
	}
	__builtin_memset(e, 0, offsetof(struct vigil_generic_event, data));
	e->hdr.op = VIGIL_OP_GENERIC_TRACEPOINT;
	e->hdr.ktime = bpf_ktime_get_ns();
	e->tid = (__u32)pid_tgid;
	e->hook_id = hook_id;
	e->action = VIGIL_ACTION_POST;

#pragma unroll
	for (i = 0; i < VIGIL_GENERIC_ARGS_MAX; i++) {
		if (i >= nargs)
			break;
		used += read_arg(ctx, e, used, arg_kind[i], arg_offset[i], arg_size[i]);
	}
	e->nargs = nargs;
	e->data_len = used;

	if (sc->nsel) {
		int s = vigil_sel_choose(pids);

		if (s < 0 || !vigil_sel_actions(s))
			return 0;
	}

	id = bpf_map_lookup_elem(&vigil_execve_map, &tgid);
	if (id)
		e->key = id->key;
	else
		e->key.pid = tgid;
	size = offsetof(struct vigil_generic_event, data) + used;
	if (size > sizeof(*e))
		size = sizeof(*e);
	e->hdr.size = size;
	if (bpf_ringbuf_output(&vigil_events, e, size, ringbuf_flags(size, false)))
		stat_inc(VIGIL_STAT_RINGBUF_FULL_GENERIC);
	return 0;
}

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Pitfall 2: a per-CPU heap is not zeroed between events.
 *
 * Both programs build an openat(2) record in a per-CPU array "heap" and send
 * the whole record through a ring buffer. bpf_probe_read_user_str() copies
 * the path and its NUL and stops: the bytes after it are whatever the
 * previous event on this CPU left there. `leaky` sends them to user space;
 * `zeroed` clears the record first and sends only the zeros. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define NAME_LEN 64

enum { LEAKY = 1, ZEROED = 2 };

struct open_rec {
	__u32 tgid;
	__u32 variant;		/* LEAKY or ZEROED: which program sent it */
	__s32 name_len;		/* bpf_probe_read_user_str's result: length + NUL */
	char name[NAME_LEN];
};

/* One heap per program so they cannot spoil each other's bytes; each is
 * written and read by its own program only. */
struct heap_map {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct open_rec);
};
struct heap_map leaky_heap SEC(".maps");
struct heap_map zeroed_heap SEC(".maps");

/* Records for user space: written by both programs, read by the lesson. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} records SEC(".maps");

/* Only this process's opens (0: everyone's); set by user space before load. */
const volatile __u32 target_tgid = 0;

/* This CPU's record in the heap, if the caller is one we watch. */
static __always_inline struct open_rec *heap_slot(void *heap)
{
	__u32 zero = 0;

	if (target_tgid && bpf_get_current_pid_tgid() >> 32 != target_tgid)
		return NULL;
	return bpf_map_lookup_elem(heap, &zero);
}

SEC("tp/syscalls/sys_enter_openat")
int leaky(struct trace_event_raw_sys_enter *ctx)
{
	struct open_rec *r = heap_slot(&leaky_heap);

	if (!r)
		return 0;
	/* Bug: name[] still holds the previous path past the new NUL. */
	r->tgid = bpf_get_current_pid_tgid() >> 32;
	r->variant = LEAKY;
	r->name_len = bpf_probe_read_user_str(r->name, sizeof(r->name), (void *)ctx->args[1]);
	bpf_ringbuf_output(&records, r, sizeof(*r), 0);
	return 0;
}

SEC("tp/syscalls/sys_enter_openat")
int zeroed(struct trace_event_raw_sys_enter *ctx)
{
	struct open_rec *r = heap_slot(&zeroed_heap);

	if (!r)
		return 0;
	/* Fix: clear the whole record before filling it (a 76-byte memset is
	 * a handful of stores). For big records clear the fixed part and send
	 * only the bytes written, as vigil's exec record does. */
	__builtin_memset(r, 0, sizeof(*r));
	r->tgid = bpf_get_current_pid_tgid() >> 32;
	r->variant = ZEROED;
	r->name_len = bpf_probe_read_user_str(r->name, sizeof(r->name), (void *)ctx->args[1]);
	bpf_ringbuf_output(&records, r, sizeof(*r), 0);
	return 0;
}

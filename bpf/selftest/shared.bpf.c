// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Self-test sensor for the runtime (tests/kernel/test_runtime.py): a second
 * object that uses the maps the base process sensor shares. On each
 * getpgid(2) of target_tgid it looks the caller up in the shared exec map and
 * writes what it found to the shared ring buffer, so one record proves both
 * maps are the base sensor's own.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "events.h"
#include "lib/stats.bpf.h"
#include "lib/shared_maps.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Test objects take ops from VIGIL_OP_TEST_FIRST up (events.h). */
#define SHARED_TEST_OP VIGIL_OP_TEST_FIRST

struct shared_test_record {
	struct vigil_msg_header hdr;
	struct vigil_proc_key key;	/* the exec map's identity of the caller */
	__u32 found;
	__u32 pad;
};

const volatile __u32 target_tgid = 0;

SEC("tp/syscalls/sys_enter_getpgid")
int shared_on_getpgid(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct vigil_exec_identity *id;
	struct shared_test_record *rec;

	if (tgid != target_tgid)
		return 0;
	rec = bpf_ringbuf_reserve(&vigil_events, sizeof(*rec), 0);
	if (!rec)
		return 0;
	__builtin_memset(rec, 0, sizeof(*rec));
	rec->hdr.op = SHARED_TEST_OP;
	rec->hdr.size = sizeof(*rec);
	rec->hdr.ktime = bpf_ktime_get_ns();
	id = bpf_map_lookup_elem(&vigil_execve_map, &tgid);
	if (id) {
		rec->key = id->key;
		rec->found = 1;
	}
	bpf_ringbuf_submit(rec, 0);
	return 0;
}

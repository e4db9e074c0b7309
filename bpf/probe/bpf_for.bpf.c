// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* `vigil probe`: open-coded numeric iterators (bpf_for, kernel 6.4+).
 *
 * libbpf 1.1's bpf_helpers.h has no bpf_for macro, so the bpf_iter_num
 * kfuncs are declared here and the loop is written out. They are __weak:
 * on a kernel without them libbpf still opens the object and the verifier
 * refuses only this program. Kept out of features.bpf.c so an unresolved
 * kfunc can never fail any other probe. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "probe/probe.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

extern int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) __ksym __weak;
extern int *bpf_iter_num_next(struct bpf_iter_num *it) __ksym __weak;
extern void bpf_iter_num_destroy(struct bpf_iter_num *it) __ksym __weak;

/* iterations to run; the sum of their indices goes into `value` */
const volatile __u32 loop_n = 0;

SEC("tp/syscalls/sys_enter_getpid")
int bpf_for(void *ctx)
{
	struct bpf_iter_num it;
	__s64 sum = 0;
	int *i;

	if (!mine())
		return 0;
	bpf_iter_num_new(&it, 0, loop_n);
	while ((i = bpf_iter_num_next(&it)))
		sum += *i;
	bpf_iter_num_destroy(&it);
	put_value(sum);
	hit();
	return 0;
}

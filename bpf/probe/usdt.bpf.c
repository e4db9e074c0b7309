// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* `vigil probe`: USDT, attached by hand to a note found in a library on the host.
 *
 * bpf/usdt.bpf.h includes <linux/errno.h>, which needs the multiarch
 * <asm/errno.h> (/usr/include/<triplet>/asm) that `clang -target bpf` does
 * not search unless the build adds it. Without it the object still builds,
 * but lacks libbpf's USDT maps; attaching then fails with ESRCH and the probe
 * says why instead of the whole build breaking. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#if __has_include(<asm/errno.h>)
#include <bpf/usdt.bpf.h>
#endif
#include "probe/probe.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("usdt")
int usdt_note(struct pt_regs *ctx)
{
	hit();
	return 0;
}

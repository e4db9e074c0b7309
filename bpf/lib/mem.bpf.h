/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Reads of memory whose side (user or kernel) a hook cannot know. */
#ifndef VIGIL_LIB_MEM_BPF_H
#define VIGIL_LIB_MEM_BPF_H

/* `n` bytes at `src`, a user address (a syscall's argument) or else a kernel
 * one (a copy the kernel made): 0 or the user read's errno. */
static __always_inline long read_user_or_kernel(void *dst, __u32 n, const void *src)
{
	long err = bpf_probe_read_user(dst, n, src);

	if (err && !bpf_probe_read_kernel(dst, n, src))
		err = 0;
	return err;
}

#endif /* VIGIL_LIB_MEM_BPF_H */

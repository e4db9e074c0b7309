/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A generic hook's scatter-gather buffers: char_iovec (an array of struct
 * iovec and its length, as writev and readv take them) and iov_iter (the
 * kernel's cursor over one, as tty_write and the VFS's read_iter and
 * write_iter take it). Both are sent as a char_buf is: the bytes' original
 * length, then at most VIGIL_CHAR_BUF_MAX of them.
 */
#ifndef VIGIL_LIB_ARG_IOV_BPF_H
#define VIGIL_LIB_ARG_IOV_BPF_H

#include "events.h"
#include "lib/errno.bpf.h"
#include "lib/mem.bpf.h"
#include "lib/path.bpf.h"

/* struct iovec's and struct kvec's layout (uapi linux/uio.h). */
struct vigil_iovec {
	__u64 base;
	__u64 len;
};

_Static_assert(VIGIL_CHAR_BUF_MAX + VIGIL_CONST_BUF_MASK <
	       sizeof(((struct vigil_path_buf *)0)->buf), "the gather buffer holds any copy");

/* `cnt` iovecs at `ptr` (user memory, else kernel) into this CPU's record at
 * data offset `used`: the first VIGIL_IOVEC_MAX buffers' bytes, and the
 * lengths of the first VIGIL_IOVEC_LEN_MAX summed (more iovecs than that
 * send the original length 0xFFFFFFFF: not counted, but cut). The buffers are
 * gathered in the path heap's buffer first: each copy's offset and length
 * are bounded apart there, where the verifier cannot bound their sum inside
 * the record. */
__noinline int vigil_read_char_iovec(__u32 used, __u64 ptr, __u64 cnt)
{
	struct vigil_generic_event *e;
	struct vigil_path_buf *pb;
	struct vigil_iovec iov;
	__u32 zero = 0, i;
	/* 64-bit: 5.10's verifier forgets the bounds of a 32-bit value spilled
	 * to the stack and read back */
	__u64 orig = 0, off = 0, n;
	char *val;
	long err;

	e = bpf_map_lookup_elem(&vigil_generic_heap, &zero);
	pb = bpf_map_lookup_elem(&vigil_path_heap, &zero);
	if (!e || !pb)
		return -VIGIL_ENOMEM;
	val = &e->data[VIGIL_MASK(used, VIGIL_GENERIC_OFF_MASK) + 4];
	if (!ptr)
		return -VIGIL_EFAULT;
#pragma clang loop unroll(disable)
	for (i = 0; i < VIGIL_IOVEC_LEN_MAX; i++) {
		if (i >= cnt)
			break;
		err = read_user_or_kernel(&iov, sizeof(iov), (void *)(ptr + i * sizeof(iov)));
		if (err)
			return err;
		orig += iov.len;
		if (i >= VIGIL_IOVEC_MAX || off >= VIGIL_CHAR_BUF_MAX)
			continue;
		n = iov.len < VIGIL_CHAR_BUF_MAX - off ? iov.len : VIGIL_CHAR_BUF_MAX - off;
		/* clang knows n <= 1020 and off < 1020, and would drop the masks
		 * the verifier needs */
		barrier_var(n);
		barrier_var(off);
		err = read_user_or_kernel(&pb->buf[off & VIGIL_CONST_BUF_MASK],
					  n & VIGIL_CONST_BUF_MASK, (void *)iov.base);
		if (err)
			return err;
		off += n;
	}
	if (cnt > VIGIL_IOVEC_LEN_MAX)
		orig = 0xFFFFFFFFULL;
	*(__u32 *)val = orig < 0xFFFFFFFFULL ? orig : 0xFFFFFFFFU;
	barrier_var(off);
	off &= VIGIL_CONST_BUF_MASK;
	bpf_probe_read_kernel(val + 4, off, pb->buf);
	return 4 + off;
}

/* Before Linux 5.14 (commit 8cd54c1c8480 "iov_iter: separate direction
 * from flavour") the iterator's type and direction shared `type`. */
struct iov_iter___old {
	unsigned int type;
} __attribute__((preserve_access_index));

/* The first buffer of the iov_iter at `ptr`, as Tetragon's iov_iter type
 * reads it; an iterator of another kind (pipes, pages) gives no bytes. */
__noinline int vigil_read_iov_iter(__u32 used, __u64 ptr)
{
	struct iov_iter *it = (struct iov_iter *)ptr;
	struct vigil_generic_event *e;
	const struct kvec *kv = NULL;
	__u64 base = 0, len = 0;
	__u32 zero = 0, rd;
	__u8 type = 0xFF;
	char *val;
	long err;

	e = bpf_map_lookup_elem(&vigil_generic_heap, &zero);
	if (!e)
		return -VIGIL_ENOMEM;
	val = &e->data[VIGIL_MASK(used, VIGIL_GENERIC_OFF_MASK) + 4];
	if (!it)
		return -VIGIL_EFAULT;
	if (bpf_core_field_exists(it->iter_type)) {
		err = BPF_CORE_READ_INTO(&type, it, iter_type);
	} else {
		struct iov_iter___old *old = (void *)it;
		unsigned int t = 0;

		err = BPF_CORE_READ_INTO(&t, old, type);
		type = t & ~1U;		/* less the direction, READ 0 or WRITE 1 */
	}
	if (err)
		return err;
	if (type == bpf_core_enum_value(enum iter_type, ITER_IOVEC) ||
	    type == bpf_core_enum_value(enum iter_type, ITER_KVEC)) {
		/* iov, __iov and kvec share the union's first pointer */
		BPF_CORE_READ_INTO(&kv, it, kvec);
		if (kv && read_user_or_kernel(&base, 8, &kv->iov_base) == 0)
			read_user_or_kernel(&len, 8, &kv->iov_len);
	} else if (bpf_core_enum_value_exists(enum iter_type, ITER_UBUF) &&
		   type == bpf_core_enum_value(enum iter_type, ITER_UBUF)) {
		BPF_CORE_READ_INTO(&base, it, ubuf);
		BPF_CORE_READ_INTO(&len, it, count);
	}
	*(__u32 *)val = len < 0xFFFFFFFFULL ? len : 0xFFFFFFFFU;
	note_buffer(base, len);
	rd = len < VIGIL_CHAR_BUF_MAX ? len : VIGIL_CHAR_BUF_MAX;
	barrier_var(rd);
	rd &= VIGIL_CONST_BUF_MASK;
	if (rd && read_user_or_kernel(val + 4, rd, (void *)base))
		return -VIGIL_EFAULT;
	return 4 + rd;
}

#endif /* VIGIL_LIB_ARG_IOV_BPF_H */

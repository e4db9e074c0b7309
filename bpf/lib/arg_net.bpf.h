/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A generic hook's packet and address arguments: a struct sk_buff * (its IP
 * and TCP/UDP headers, as Tetragon's skb type reads them in
 * bpf/process/types/skb.h) and a struct sockaddr * (AF_INET, AF_INET6). Both
 * land in a struct vigil_sock_arg's layout, so the socket operators of
 * lib/arg_sock.bpf.h filter them as they filter a sock.
 *
 * The headers are read at their wire offsets (RFC 791, 8200, 793, 768): they
 * are the packet's bytes, not a kernel struct that CO-RE would relocate.
 */
#ifndef VIGIL_LIB_ARG_NET_BPF_H
#define VIGIL_LIB_ARG_NET_BPF_H

#include "events.h"
#include <bpf/bpf_endian.h>
#include "lib/errno.bpf.h"
#include "lib/mem.bpf.h"

#define VIGIL_IPPROTO_TCP 6
#define VIGIL_IPPROTO_UDP 17
/* IPv6 extension headers skipped on the way to the transport header; more
 * than this many and the ports are left 0. RFC 8200 allows one of each, two
 * destination options: 6 covers a packet that uses them all. */
#define VIGIL_IPV6_EXT_MAX 6

/* An IPv6 extension header's next header and its length in bytes, or 0
 * when `nexthdr` is not one that is skipped (the transport's, or ESP). */
static __always_inline __u32 ipv6_ext_len(__u8 nexthdr, __u8 hdrlen)
{
	switch (nexthdr) {
	case 0:		/* hop-by-hop options */
	case 43:	/* routing */
	case 60:	/* destination options */
		return ((__u32)hdrlen + 1) * 8;
	case 44:	/* fragment */
		return 8;
	case 51:	/* authentication header: in 4-byte words, less 2 */
		return ((__u32)hdrlen + 2) * 4;
	}
	return 0;
}

/* The skb at `ptr` into this CPU's record at data offset `used`, after the
 * slot's length word; returns the bytes written or a negative errno. A
 * packet that is not IP gives its hash, length, mark and priority only. */
__noinline int vigil_read_skb_arg(__u32 used, __u64 ptr)
{
	struct sk_buff *skb = (struct sk_buff *)ptr;
	struct vigil_generic_event *e;
	struct vigil_skb_arg *s;
	__u16 l3 = 0, l4 = 0xFFFF;
	__u8 ip[40], hop[2], proto = 0;
	unsigned char *head = NULL;
	__u32 zero = 0, i, off;
	__u16 ports[2] = {};
	long err;

	e = bpf_map_lookup_elem(&vigil_generic_heap, &zero);
	if (!e)
		return -VIGIL_ENOMEM;
	s = (struct vigil_skb_arg *)&e->data[VIGIL_MASK(used, VIGIL_GENERIC_OFF_MASK) + 4];
	__builtin_memset(s, 0, sizeof(*s));
	if (!skb)
		return -VIGIL_EFAULT;
	err = BPF_CORE_READ_INTO(&s->len, skb, len);
	if (err)
		return err;
	BPF_CORE_READ_INTO(&s->hash, skb, hash);
	BPF_CORE_READ_INTO(&s->tuple.mark, skb, mark);
	BPF_CORE_READ_INTO(&s->tuple.priority, skb, priority);
	BPF_CORE_READ_INTO(&head, skb, head);
	BPF_CORE_READ_INTO(&l3, skb, network_header);
	BPF_CORE_READ_INTO(&l4, skb, transport_header);

	if (bpf_probe_read_kernel(ip, 20, head + l3))
		goto secpath;
	if (ip[0] >> 4 == 4) {
		s->tuple.family = VIGIL_AF_INET;
		proto = ip[9];
		__builtin_memcpy(s->tuple.saddr, &ip[12], 4);
		__builtin_memcpy(s->tuple.daddr, &ip[16], 4);
		/* The transport header where the stack has set it, else after
		 * the IP header's IHL words. */
		off = l4 != 0xFFFF && l4 > l3 ? l4 : l3 + (ip[0] & 0xF) * 4;
	} else if (ip[0] >> 4 == 6) {
		if (bpf_probe_read_kernel(ip, sizeof(ip), head + l3))
			goto secpath;
		s->tuple.family = VIGIL_AF_INET6;
		__builtin_memcpy(s->tuple.saddr, &ip[8], 16);
		__builtin_memcpy(s->tuple.daddr, &ip[24], 16);
		proto = ip[6];
		off = l3 + 40;
		for (i = 0; i < VIGIL_IPV6_EXT_MAX; i++) {
			__u32 len;

			if (bpf_probe_read_kernel(hop, sizeof(hop), head + (off & 0xFFFF)))
				goto secpath;
			len = ipv6_ext_len(proto, hop[1]);
			if (!len)
				break;
			proto = hop[0];
			off += len;
		}
	} else {
		goto secpath;
	}
	s->tuple.protocol = proto;
	/* TCP and UDP both begin with the source and destination ports. */
	if ((proto == VIGIL_IPPROTO_TCP || proto == VIGIL_IPPROTO_UDP) &&
	    !bpf_probe_read_kernel(ports, sizeof(ports), head + (off & 0xFFFF))) {
		s->tuple.sport = bpf_ntohs(ports[0]);
		s->tuple.dport = bpf_ntohs(ports[1]);
	}

secpath:
	/* An IPsec packet's security path, an skb extension: only on kernels
	 * with skb extensions and XFRM, and only when this skb carries one. */
	if (bpf_core_field_exists(skb->active_extensions) &&
	    bpf_core_enum_value_exists(enum skb_ext_id, SKB_EXT_SEC_PATH)) {
		int id = bpf_core_enum_value(enum skb_ext_id, SKB_EXT_SEC_PATH);
		struct skb_ext *ext = NULL;
		__u8 active = 0, at = 0;
		struct sec_path *sp;

		BPF_CORE_READ_INTO(&active, skb, active_extensions);
		if (id >= 0 && id < 8 && (active & (1U << id)) &&
		    !BPF_CORE_READ_INTO(&ext, skb, extensions) && ext &&
		    !bpf_core_read(&at, 1, &ext->offset[id & 7])) {
			sp = (struct sec_path *)((void *)ext + ((__u32)at << 3));
			BPF_CORE_READ_INTO(&s->secpath_len, sp, len);
			BPF_CORE_READ_INTO(&s->secpath_olen, sp, olen);
		}
	}
	return sizeof(*s);
}

/* The sockaddr at `ptr` into this CPU's record at data offset `used`: its
 * family, and for AF_INET and AF_INET6 the address and port (in saddr and
 * sport: Tetragon's sockaddr filters read them as the source's). */
__noinline int vigil_read_sockaddr_arg(__u32 used, __u64 ptr)
{
	struct vigil_generic_event *e;
	struct vigil_sock_arg *s;
	__u16 port = 0;
	__u32 zero = 0;
	long err;

	e = bpf_map_lookup_elem(&vigil_generic_heap, &zero);
	if (!e)
		return -VIGIL_ENOMEM;
	s = (struct vigil_sock_arg *)&e->data[VIGIL_MASK(used, VIGIL_GENERIC_OFF_MASK) + 4];
	__builtin_memset(s, 0, sizeof(*s));
	if (!ptr)
		return -VIGIL_EFAULT;
	err = read_user_or_kernel(&s->family, 2, (void *)ptr);
	if (err)
		return err;
	/* sockaddr_in: port at 2, address at 4; sockaddr_in6: port at 2,
	 * flow info at 4, address at 8 (uapi linux/in.h, linux/in6.h). */
	if (s->family == VIGIL_AF_INET) {
		read_user_or_kernel(&port, 2, (void *)ptr + 2);
		read_user_or_kernel(s->saddr, 4, (void *)ptr + 4);
	} else if (s->family == VIGIL_AF_INET6) {
		read_user_or_kernel(&port, 2, (void *)ptr + 2);
		read_user_or_kernel(s->saddr, 16, (void *)ptr + 8);
	}
	s->sport = bpf_ntohs(port);
	return sizeof(*s);
}

#define VIGIL_AF_UNIX 1

/* A unix address at `ptr`, `alen` bytes long (0: not known): its family,
 * and for AF_UNIX the path (a filesystem socket's, up to its NUL) or the
 * abstract name (after its leading NUL: `alen` tells where it ends; without
 * it, the next NUL, though the bytes past the address are not its own and a
 * kernel copy leaves them uninitialised). */
__noinline int vigil_read_sockaddr_un_arg(__u32 used, __u64 ptr, __u32 alen)
{
	struct vigil_generic_event *e;
	struct vigil_sockaddr_un_arg *u;
	__u32 zero = 0;
	char first = 0;
	long n, err;
	char *path;

	e = bpf_map_lookup_elem(&vigil_generic_heap, &zero);
	if (!e)
		return -VIGIL_ENOMEM;
	u = (struct vigil_sockaddr_un_arg *)&e->data[VIGIL_MASK(used, VIGIL_GENERIC_OFF_MASK) + 4];
	__builtin_memset(u, 0, sizeof(*u));
	if (!ptr)
		return -VIGIL_EFAULT;
	err = read_user_or_kernel(&u->family, 2, (void *)ptr);
	if (err)
		return err;
	if (u->family != VIGIL_AF_UNIX || read_user_or_kernel(&first, 1, (void *)ptr + 2))
		return sizeof(*u);
	path = (char *)(u + 1);
	if (!first)
		u->flags = VIGIL_SOCKADDR_UN_F_ABSTRACT;
	if (!first && alen) {
		/* sun_path starts at 2, an abstract name one byte on */
		__u32 len;

		if (alen <= 3)
			return sizeof(*u);	/* an empty name */
		len = alen - 3 < VIGIL_UNIX_PATH_MAX - 1 ? alen - 3 : VIGIL_UNIX_PATH_MAX - 1;

		barrier_var(len);
		len &= 0x7F;
		if (len > VIGIL_UNIX_PATH_MAX - 1)
			len = VIGIL_UNIX_PATH_MAX - 1;
		if (read_user_or_kernel(path, len, (void *)ptr + 3))
			return sizeof(*u);
		return sizeof(*u) + len;
	}
	n = bpf_probe_read_user_str(path, VIGIL_UNIX_PATH_MAX - !first, (void *)ptr + 2 + !first);
	if (n < 0)
		n = bpf_probe_read_kernel_str(path, VIGIL_UNIX_PATH_MAX - !first,
					      (void *)ptr + 2 + !first);
	return sizeof(*u) + (n > 0 ? n - 1 : 0);
}

#endif /* VIGIL_LIB_ARG_NET_BPF_H */

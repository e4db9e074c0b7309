/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A generic hook's sock arguments (struct sock *) read as Tetragon reads
 * them (bpf/process/types/sock.h): family, type, protocol, state, mark,
 * priority, the local and remote addresses and ports; and the selectors'
 * socket operators on them (SAddr/DAddr in the hook's trie, SPort/DPort
 * ranges and their Priv forms, Family, Protocol, State).
 *
 * Included by lib/selectors.bpf.h, after the maps it reads.
 */
#ifndef VIGIL_LIB_ARG_SOCK_BPF_H
#define VIGIL_LIB_ARG_SOCK_BPF_H

#include "events.h"
#include <bpf/bpf_endian.h>
#include "lib/errno.bpf.h"

#define VIGIL_AF_INET 2
#define VIGIL_AF_INET6 10
#define VIGIL_PORT_PRIV_MAX 1024	/* ports below it are privileged */

/* The sock at `ptr` into this CPU's record at data offset `used`, after
 * the slot's length word; returns the bytes written or a negative errno. A
 * global function: verified once, not once per argument the hook's loop
 * unrolls. */
__noinline int vigil_read_sock_arg(__u32 used, __u64 ptr)
{
	struct sock *sk = (struct sock *)ptr;
	struct vigil_generic_event *e;
	struct vigil_sock_arg *s;
	__u32 zero = 0;
	__u16 dport = 0;
	long err;

	e = bpf_map_lookup_elem(&vigil_generic_heap, &zero);
	if (!e)
		return -VIGIL_ENOMEM;
	s = (struct vigil_sock_arg *)&e->data[VIGIL_MASK(used, VIGIL_GENERIC_OFF_MASK) + 4];
	__builtin_memset(s, 0, sizeof(*s));
	if (!sk)
		return -VIGIL_EFAULT;
	err = BPF_CORE_READ_INTO(&s->family, sk, __sk_common.skc_family);
	if (err)
		return err;
	bpf_core_read(&s->state, sizeof(s->state), (void *)&sk->__sk_common.skc_state);
	BPF_CORE_READ_INTO(&s->type, sk, sk_type);
	BPF_CORE_READ_INTO(&s->protocol, sk, sk_protocol);
	BPF_CORE_READ_INTO(&s->mark, sk, sk_mark);
	BPF_CORE_READ_INTO(&s->priority, sk, sk_priority);
	if (s->family == VIGIL_AF_INET) {
		BPF_CORE_READ_INTO((__u32 *)s->saddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)s->daddr, sk, __sk_common.skc_daddr);
	} else if (s->family == VIGIL_AF_INET6) {
		bpf_core_read(s->saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(s->daddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
	BPF_CORE_READ_INTO(&s->sport, sk, __sk_common.skc_num);
	BPF_CORE_READ_INTO(&dport, sk, __sk_common.skc_dport);
	s->dport = bpf_ntohs(dport);
	s->cookie = ptr;
	return sizeof(*s);
}

/* The address filter's set (lo[0]) holds the sock's address `which` (0:
 * the source, 1: the destination) in the hook's trie. */
static __always_inline int sel_sock_addr(const struct vigil_sel_arg *a,
					 const struct vigil_sock_arg *s, int which)
{
	struct vigil_sel_str_key *key;
	__u32 zero = 0, bytes;

	key = bpf_map_lookup_elem(&vigil_sel_str_heap, &zero);
	if (!key)
		return 0;
	if (s->family == VIGIL_AF_INET)
		bytes = 4;
	else if (s->family == VIGIL_AF_INET6)
		bytes = 16;
	else
		return 0;
	key->set = (__u32)a->lo[0];
	key->data[0] = (__u8)s->family;
	__builtin_memcpy(&key->data[1], which ? s->daddr : s->saddr, 16);
	key->prefixlen = 32 + 8 + 8 * bytes;
	return bpf_map_lookup_elem(&vigil_sel_strs, key) != NULL;
}

/* A socket operator of filter `a` on the sock in this CPU's record at data
 * offset `off`: 1 when it accepts. */
__noinline int vigil_sel_sock(__u32 s, __u32 f, __u32 off)
{
	const struct vigil_generic_event *e;
	const struct vigil_selectors *sc;
	const struct vigil_sel_arg *a;
	struct vigil_sock_arg sock;
	__u32 zero = 0, x = 0, v, op;
	bool any = false, not = false;

	e = bpf_map_lookup_elem(&vigil_generic_heap, &zero);
	sc = bpf_map_lookup_elem(&vigil_selectors, &zero);
	if (!e || !sc || s >= VIGIL_SEL_MAX || f >= VIGIL_SEL_ARGS_MAX)
		return 0;
	a = &sc->sel[s].args[f];
	op = a->op;
	/* A helper's copy, not an inlined one: 64 bytes of loads and stores
	 * left clang no register to keep `a` in, and the verifier lost its bound. */
	bpf_probe_read_kernel(&sock, sizeof(sock),
			      &e->data[VIGIL_MASK(off, VIGIL_GENERIC_OFF_MASK)]);
	switch (op) {
	case VIGIL_SEL_OP_NOT_SADDR:
		not = true;
		/* fallthrough */
	case VIGIL_SEL_OP_SADDR:
		return sel_sock_addr(a, &sock, 0) != not;
	case VIGIL_SEL_OP_NOT_DADDR:
		not = true;
		/* fallthrough */
	case VIGIL_SEL_OP_DADDR:
		return sel_sock_addr(a, &sock, 1) != not;
	case VIGIL_SEL_OP_SPORT_PRIV:
		return sock.sport < VIGIL_PORT_PRIV_MAX;
	case VIGIL_SEL_OP_NOT_SPORT_PRIV:
		return sock.sport >= VIGIL_PORT_PRIV_MAX;
	case VIGIL_SEL_OP_DPORT_PRIV:
		return sock.dport < VIGIL_PORT_PRIV_MAX;
	case VIGIL_SEL_OP_NOT_DPORT_PRIV:
		return sock.dport >= VIGIL_PORT_PRIV_MAX;
	case VIGIL_SEL_OP_NOT_SPORT:
		not = true;
		/* fallthrough */
	case VIGIL_SEL_OP_SPORT:
		x = sock.sport;
		break;
	case VIGIL_SEL_OP_NOT_DPORT:
		not = true;
		/* fallthrough */
	case VIGIL_SEL_OP_DPORT:
		x = sock.dport;
		break;
	case VIGIL_SEL_OP_FAMILY:
		x = sock.family;
		break;
	case VIGIL_SEL_OP_PROTOCOL:
		x = sock.protocol;
		break;
	case VIGIL_SEL_OP_STATE:
		x = sock.state;
		break;
	default:
		return 0;
	}
	/* Ports: ranges lo..hi; the others: hi == lo. */
	for (v = 0; v < VIGIL_SEL_VALUES_MAX; v++) {
		if (v >= a->nvalues)
			break;
		any |= a->lo[v] <= x && x <= a->hi[v];
	}
	return any != not;
}

#endif /* VIGIL_LIB_ARG_SOCK_BPF_H */

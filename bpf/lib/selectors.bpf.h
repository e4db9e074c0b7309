/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The interpreter of a generic hook's compiled selectors (struct
 * vigil_selectors in generic/selectors.h). A generic program includes this
 * once, after defining its record heap (vigil_generic_heap): it defines the
 * hook's selector map and the global functions below.
 *
 * Cheapest first, as DESIGN §5 orders it: vigil_sel_pids() runs on the
 * process identity before any argument is read, so a hook whose selectors
 * all name other processes costs two array lookups and a few compares. The
 * argument filters run after the arguments are in the record, on their bytes
 * there; then the chosen selector's actions.
 *
 * Each step is a global function: the verifier checks it once, on its own,
 * with its arguments unknown, instead of once per path of its caller. Inlined,
 * the ranges the string compare learnt about the lengths multiplied the
 * paths (674,000 instructions processed for one program); as global
 * functions the whole program takes about 12,500. On 5.10 a global function
 * takes only scalars, so each looks up the heap and the selectors itself.
 */
#ifndef VIGIL_LIB_SELECTORS_BPF_H
#define VIGIL_LIB_SELECTORS_BPF_H

#include "events.h"
#include "lib/enforcer.bpf.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "string values are compared as little-endian words"
#endif

/* x & m, in a way clang cannot drop: where clang can prove the bound itself
 * (from a callee in this file) it removes a plain mask, and the verifier,
 * which cannot see that proof, refuses the access. */
#define VIGIL_MASK(x, m) ({						\
	__u64 __v = (x);						\
	asm volatile("%[v] &= %[mask]" : [v] "+r"(__v) : [mask] "i"(m));	\
	__v;								\
})

/* Hides what clang knows of x's range from clang: given `if (n > 32) return`,
 * clang drops a loop's constant bound `i < 32` as implied by `i < n`, and a
 * verifier that cannot follow that (5.10's) then walks the loop as unbounded
 * ("The sequence of 8193 jumps is too complex"). */
#define VIGIL_OPAQUE(x) asm volatile("" : "+r"(x))

/* The hook's selectors: written once by user space before the program is
 * attached (sensors/generic_tracepoint.py), read here. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_selectors);
} vigil_selectors SEC(".maps");

/* The hook's rate limits (rateLimit on Post): when each key last posted,
 * in bpf_ktime_get_ns(). Sized by user space before load: 1 entry when no
 * selector limits its rate. LRU: under pressure the oldest key is forgotten,
 * which lets an event through rather than losing one. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1);
	__type(key, struct vigil_rate_key);
	__type(value, __u64);
} vigil_rate_limits SEC(".maps");

/* The rate limit key is built here (216 bytes: too big for the stack). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_rate_key);
} vigil_rate_heap SEC(".maps");

/* The values of the hook's InMap/NotInMap filters: written once by user
 * space before the program is attached, sized by it to what the policy
 * needs (one entry when it has none), read by sel_in_map. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, struct vigil_sel_value_key);
	__type(value, __u8);
} vigil_sel_values SEC(".maps");

/* The values of the hook's string filters that have more than a filter
 * holds (VIGIL_SEL_F_TRIE): written once by user space before the program
 * is attached, sized by it (one entry when none), read by vigil_sel_trie. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct vigil_sel_str_key);
	__type(value, __u8);
} vigil_sel_strs SEC(".maps");

/* The trie's lookup key is built here (256 bytes: too big for the stack). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_sel_str_key);
} vigil_sel_str_heap SEC(".maps");

#include "lib/sel_task.bpf.h"
#ifdef VIGIL_STRUCT_ARGS
#include "lib/arg_sock.bpf.h"
#endif

/* Bit s set: selector s's process filters all accept process `tgid`:
 * matchPIDs and matchBinaries (their match bits, followForks and
 * followChildren included, come from the process's exec identity, looked
 * up once), then its filters on the current task (isNamespacePID,
 * matchNamespaces, matchCapabilities: lib/sel_task.bpf.h). */
/* Filter f of selector s's matchPIDs accepts process `tgid` (whose match
 * bits are `bits`). Each level of vigil_sel_pids() is a global function of
 * its own, checked once with its arguments unknown: inlined, 5.10's verifier
 * walked every selector x filter x value path and gave up at a million
 * instructions. */
__noinline int vigil_sel_pid_ok(__u32 s, __u32 f, __u32 tgid, __u64 bits)
{
	const struct vigil_selectors *sc;
	const struct vigil_sel_pids *p;
	__u32 zero = 0;
	bool found = false;
	int v;

	sc = bpf_map_lookup_elem(&vigil_selectors, &zero);
	if (!sc || s >= VIGIL_SEL_MAX || f >= VIGIL_SEL_PIDS_MAX)
		return 0;
	p = &sc->sel[s].pids[f];
	for (v = 0; v < VIGIL_SEL_VALUES_MAX; v++) {
		if (v >= p->nvalues)
			break;
		found |= p->values[v] == tgid;
	}
	/* followForks: a descendant of one of the pids. */
	if (p->flags & VIGIL_SEL_PID_F_FOLLOW)
		found |= (bits >> (p->bit & (VIGIL_MATCH_BITS - 1))) & 1;
	/* In: one value is the pid; NotIn: none is. */
	return found == (p->op == VIGIL_SEL_OP_PID_IN);
}

/* Selector s's process filters accept process `tgid`; `known`: the exec map
 * knows it (match bits need that). */
__noinline int vigil_sel_process(__u32 s, __u32 tgid, __u64 bits, __u32 known)
{
	const struct vigil_selectors *sc;
	const struct vigil_selector *sel;
	__u32 zero = 0, f;
	__u8 task;

	sc = bpf_map_lookup_elem(&vigil_selectors, &zero);
	if (!sc || s >= VIGIL_SEL_MAX)
		return 0;
	sel = &sc->sel[s];
	task = sel->task;
	for (f = 0; f < VIGIL_SEL_PIDS_MAX; f++) {
		if (f >= sel->npids)
			break;
		if ((sel->nspid >> f) & 1)
			continue;	/* vigil_sel_task()'s */
		if (!vigil_sel_pid_ok(s, f, tgid, bits))
			return 0;
	}
	if (sel->bin_set | sel->bin_clear) {
		if (!known || (bits & sel->bin_set) != sel->bin_set || (bits & sel->bin_clear))
			return 0;
	}
	/* Each is a global function of its own, called with s as it came: one
	 * that kept s across a call of its own had clang spill it as 32 bits,
	 * which 6.1's verifier reloads without its bound. */
	if ((task & (VIGIL_SEL_T_NSPID | VIGIL_SEL_T_NS | VIGIL_SEL_T_CAPS)) && !vigil_sel_task(s))
		return 0;
	if ((task & (VIGIL_SEL_T_NS_CHANGE | VIGIL_SEL_T_CAP_CHANGE)) && !vigil_sel_changes(s))
		return 0;
	return 1;
}

__noinline __u32 vigil_sel_pids(__u32 tgid)
{
	const struct vigil_exec_identity *id;
	const struct vigil_selectors *sc;
	__u32 mask = 0, zero = 0, s, nsel;
	__u64 bits = 0;

	sc = bpf_map_lookup_elem(&vigil_selectors, &zero);
	if (!sc)
		return 0;
	nsel = sc->nsel;
	id = bpf_map_lookup_elem(&vigil_execve_map, &tgid);
	if (id) {
		struct vigil_match_bits b = match_bits(id);

		bits = b.bin | b.follow;
	}
	for (s = 0; s < VIGIL_SEL_MAX; s++) {
		if (s >= nsel)
			break;
		if (vigil_sel_process(s, tgid, bits, id != NULL))
			mask |= 1U << s;
	}
	return mask;
}

/* InMap: the widened argument is one of the filter's set; NotInMap: it is not. */
static __always_inline int sel_in_map(const struct vigil_sel_arg *a, __u64 x)
{
	struct vigil_sel_value_key key = { .set = (__u32)a->lo[0], .value = x };
	bool found = bpf_map_lookup_elem(&vigil_sel_values, &key) != NULL;

	return found == (a->op == VIGIL_SEL_OP_IN_MAP);
}

/* An integer argument `x` (read into 8 zeroed bytes) against an integer filter. */
static __always_inline int sel_int_value(const struct vigil_sel_arg *a, __u64 x)
{
	__u32 bits = (a->size & 0xF) * 8;
	bool sgn = a->flags & VIGIL_SEL_F_SIGNED;
	bool any = false;
	int v;

	if (bits && bits < 64) {
		if (sgn)
			x = (__u64)((__s64)(x << (64 - bits)) >> (64 - bits));
		else
			x &= (1ULL << bits) - 1;
	}
	if (a->op == VIGIL_SEL_OP_IN_MAP || a->op == VIGIL_SEL_OP_NOT_IN_MAP)
		return sel_in_map(a, x);
	for (v = 0; v < VIGIL_SEL_VALUES_MAX; v++) {
		__u64 lo = a->lo[v], hi = a->hi[v];
		bool r = false;

		if (v >= a->nvalues)
			break;
		switch (a->op) {
		case VIGIL_SEL_OP_EQ:
		case VIGIL_SEL_OP_NEQ:
			r = x == lo;
			break;
		case VIGIL_SEL_OP_GT:
			r = sgn ? (__s64)x > (__s64)lo : x > lo;
			break;
		case VIGIL_SEL_OP_LT:
			r = sgn ? (__s64)x < (__s64)lo : x < lo;
			break;
		case VIGIL_SEL_OP_MASK:
			r = (x & lo) != 0;
			break;
		case VIGIL_SEL_OP_IN_RANGE:
		case VIGIL_SEL_OP_NOT_IN_RANGE:
			r = sgn ? (__s64)lo <= (__s64)x && (__s64)x <= (__s64)hi : lo <= x && x <= hi;
			break;
		}
		any |= r;
	}
	if (a->op == VIGIL_SEL_OP_NEQ || a->op == VIGIL_SEL_OP_NOT_IN_RANGE)
		return !any;
	return any;
}

/* matchReturnArgs filter f of selector s accepts the return value `x`. */
__noinline int vigil_sel_ret_int(__u32 s, __u32 f, __u64 x)
{
	const struct vigil_selectors *sc;
	__u32 zero = 0;

	sc = bpf_map_lookup_elem(&vigil_selectors, &zero);
	if (!sc || s >= VIGIL_SEL_MAX || f >= VIGIL_SEL_RET_ARGS_MAX)
		return 0;
	return sel_int_value(&sc->sel[s].ret_args[f], x);
}

/* Selector s's matchReturnArgs accept the call's return value `ret`. */
__noinline int vigil_sel_return(__u32 s, __u64 ret)
{
	const struct vigil_selectors *sc;
	__u32 zero = 0, f, n;

	sc = bpf_map_lookup_elem(&vigil_selectors, &zero);
	if (!sc || s >= VIGIL_SEL_MAX)
		return 0;
	n = sc->sel[s].nret_args;
	for (f = 0; f < VIGIL_SEL_RET_ARGS_MAX; f++) {
		if (f >= n)
			break;
		if (!vigil_sel_ret_int(s, f, ret))
			return 0;
	}
	return 1;
}

/* vlen bytes of this CPU's record at data offset `at` equal the pool's value
 * at word w0. A global function, so the verifier sees `at` as unknown once
 * here instead of tracking, in every caller's path, the ranges of the lengths
 * it came from (which multiplied those paths by the 32 exits of this loop,
 * once per value). */
__noinline int vigil_sel_words(__u32 at, __u32 w0, __u32 vlen)
{
	const struct vigil_generic_event *e;
	const struct vigil_selectors *sc;
	__u32 zero = 0, i, rest, words;
	__u64 x, y;

	e = bpf_map_lookup_elem(&vigil_generic_heap, &zero);
	sc = bpf_map_lookup_elem(&vigil_selectors, &zero);
	if (!e || !sc || vlen > VIGIL_SEL_STR_MAX)
		return 0;
	words = vlen / 8;
	VIGIL_OPAQUE(words);
	/* Whole words first, then the last partial one, masked: the pool
	 * pads a value with zeros, the record has other bytes after the
	 * argument's end. */
	for (i = 0; i < VIGIL_SEL_STR_WORDS; i++) {
		if (i >= words)
			break;
		x = *(const __u64 *)&e->data[VIGIL_MASK(at + i * 8, VIGIL_GENERIC_OFF_MASK)];
		y = sc->pool[VIGIL_MASK(w0 + i, VIGIL_SEL_POOL_MASK)];
		if (x != y)
			return 0;
	}
	rest = vlen & 7;
	if (!rest)
		return 1;
	x = *(const __u64 *)&e->data[VIGIL_MASK(at + (vlen & ~7U), VIGIL_GENERIC_OFF_MASK)];
	y = sc->pool[VIGIL_MASK(w0 + vlen / 8, VIGIL_SEL_POOL_MASK)];
	return (x & ((1ULL << (rest * 8)) - 1)) == y;
}

/* The data offset of argument `index`'s slot in this CPU's record (its
 * length word, then its bytes), or -1. Each slot is a length and its bytes,
 * padded to 8 (read_arg). */
__noinline int vigil_sel_slot(__u32 index)
{
	const struct vigil_generic_event *e;
	__u32 zero = 0, off = 0, k;
	__s32 len;

	e = bpf_map_lookup_elem(&vigil_generic_heap, &zero);
	if (!e || index >= e->nargs || index >= VIGIL_GENERIC_ARGS_MAX)
		return -1;
	VIGIL_OPAQUE(index);
	for (k = 0; k < VIGIL_GENERIC_ARGS_MAX; k++) {
		if (k >= index)
			break;
		len = *(const __s32 *)&e->data[VIGIL_MASK(off, VIGIL_GENERIC_OFF_MASK)];
		off += (4 + (__u32)(len > 0 ? len : 0) + 7) & ~7U;
	}
	return off & VIGIL_GENERIC_OFF_MASK;
}

/* The `alen` bytes of this CPU's record at data offset `off` against the
 * values of set `set` in the hook's string trie, for operator `op` (its
 * positive form): 1 when one matches. */
__noinline int vigil_sel_trie(__u32 set, __u32 off, __u32 alen, __u32 op)
{
	const struct vigil_generic_event *e;
	struct vigil_sel_str_key *key;
	__u32 zero = 0, n, i;

	e = bpf_map_lookup_elem(&vigil_generic_heap, &zero);
	key = bpf_map_lookup_elem(&vigil_sel_str_heap, &zero);
	if (!e || !key)
		return 0;
	n = alen < VIGIL_SEL_TRIE_STR_MAX ? alen : VIGIL_SEL_TRIE_STR_MAX;
	n = VIGIL_MASK(n, 255);
	if (n > VIGIL_SEL_TRIE_STR_MAX)
		return 0;
	key->set = set;
	switch (op) {
	case VIGIL_SEL_OP_STR_EQ:
		/* Longer than any value, or no room for the NUL. */
		if (alen >= VIGIL_SEL_TRIE_STR_MAX)
			return 0;
		bpf_probe_read_kernel(key->data, n, &e->data[VIGIL_MASK(off, VIGIL_GENERIC_OFF_MASK)]);
		i = VIGIL_MASK(n, 255);
		if (i < VIGIL_SEL_TRIE_STR_MAX)
			key->data[i] = 0;
		n += 1;
		break;
	case VIGIL_SEL_OP_PREFIX:
		/* Tetragon: an empty argument has no prefix or postfix. */
		if (!alen)
			return 0;
		bpf_probe_read_kernel(key->data, n, &e->data[VIGIL_MASK(off, VIGIL_GENERIC_OFF_MASK)]);
		break;
	case VIGIL_SEL_OP_POSTFIX:
		if (!alen)
			return 0;
		/* The argument's last n bytes, last first. */
		for (i = 0; i < VIGIL_SEL_TRIE_STR_MAX; i++) {
			if (i >= n)
				break;
			key->data[i] = e->data[VIGIL_MASK(off + alen - 1 - i, VIGIL_GENERIC_OFF_MASK)];
		}
		break;
	default:
		return 0;
	}
	key->prefixlen = 32 + 8 * n;
	return bpf_map_lookup_elem(&vigil_sel_strs, key) != NULL;
}

static __always_inline int sel_str(const struct vigil_sel_arg *a, __u32 off, __u32 alen)
{
	bool any = false;
	int v;

	if (a->flags & VIGIL_SEL_F_TRIE) {
		/* The positive operator: the Not forms invert below. */
		__u32 op = a->op == VIGIL_SEL_OP_STR_NEQ ? VIGIL_SEL_OP_STR_EQ :
			   a->op == VIGIL_SEL_OP_NOT_PREFIX ? VIGIL_SEL_OP_PREFIX :
			   a->op == VIGIL_SEL_OP_NOT_POSTFIX ? VIGIL_SEL_OP_POSTFIX : a->op;

		any = vigil_sel_trie((__u32)a->lo[0], off, alen, op);
	}
	for (v = 0; v < VIGIL_SEL_VALUES_MAX; v++) {
		__u32 vlen = (__u32)a->hi[v], w0 = (__u32)a->lo[v], start = 0;

		if (v >= a->nvalues)
			break;
		switch (a->op) {
		case VIGIL_SEL_OP_STR_EQ:
		case VIGIL_SEL_OP_STR_NEQ:
			if (vlen != alen)
				continue;
			break;
		case VIGIL_SEL_OP_PREFIX:
		case VIGIL_SEL_OP_NOT_PREFIX:
			/* Tetragon: an empty argument has no prefix or postfix. */
			if (!alen || vlen > alen)
				continue;
			break;
		case VIGIL_SEL_OP_POSTFIX:
		case VIGIL_SEL_OP_NOT_POSTFIX:
			if (!alen || vlen > alen)
				continue;
			start = alen - vlen;
			break;
		default:
			continue;
		}
		any |= vigil_sel_words(off + start, w0, vlen);
	}
	if (a->op == VIGIL_SEL_OP_STR_NEQ || a->op == VIGIL_SEL_OP_NOT_PREFIX ||
	    a->op == VIGIL_SEL_OP_NOT_POSTFIX)
		return !any;
	return any;
}

/* Filter f of selector s against the arguments in this CPU's record: 1 when
 * it accepts. An argument that could not be read fails every filter, the Not
 * operators too (Tetragon's is_arg_ok). */
__noinline int vigil_sel_arg(__u32 s, __u32 f)
{
	const struct vigil_generic_event *e;
	const struct vigil_selectors *sc;
	const struct vigil_sel_arg *a;
	__u32 zero = 0;
	__s32 len;
	int off;

	e = bpf_map_lookup_elem(&vigil_generic_heap, &zero);
	sc = bpf_map_lookup_elem(&vigil_selectors, &zero);
	if (!e || !sc || s >= VIGIL_SEL_MAX || f >= VIGIL_SEL_ARGS_MAX)
		return 0;
	a = &sc->sel[s].args[f];
	off = vigil_sel_slot(a->index);
	if (off < 0)
		return 0;
	len = *(const __s32 *)&e->data[VIGIL_MASK(off, VIGIL_GENERIC_OFF_MASK)];
	if (len < 0)
		return 0;
#ifdef VIGIL_STRUCT_ARGS
	if (a->op == VIGIL_SEL_OP_FILE_TYPE || a->op == VIGIL_SEL_OP_NOT_FILE_TYPE) {
		__u16 mode;
		bool any = false;
		int v;

		if (len < (__s32)sizeof(struct vigil_path_arg))
			return 0;
		mode = ((const struct vigil_path_arg *)&e->data[VIGIL_MASK(off + 4,
					VIGIL_GENERIC_OFF_MASK)])->mode & 0170000;	/* S_IFMT */
		for (v = 0; v < VIGIL_SEL_VALUES_MAX; v++) {
			if (v >= a->nvalues)
				break;
			any |= a->lo[v] == mode;
		}
		return any == (a->op == VIGIL_SEL_OP_FILE_TYPE);
	}
	if (a->op >= VIGIL_SEL_OP_SPORT && a->op <= VIGIL_SEL_OP_NOT_DADDR) {
		if (len < (__s32)sizeof(struct vigil_sock_arg))
			return 0;
		return vigil_sel_sock(s, f, off + 4);
	}
#endif
	/* A file argument's string is its path, after its flags and mode. */
	if (a->flags & VIGIL_SEL_F_PATH) {
		if (len < (__s32)sizeof(struct vigil_path_arg))
			return 0;
		off += sizeof(struct vigil_path_arg);
		len -= sizeof(struct vigil_path_arg);
	}
	if (a->op >= VIGIL_SEL_OP_STR_EQ && a->op <= VIGIL_SEL_OP_NOT_POSTFIX)
		return sel_str(a, off + 4, (__u32)len);
	/* Unaligned (an argument's bytes start 4 bytes into its slot): the
	 * verifier allows it where unaligned loads are cheap (x86, arm64). */
	return sel_int_value(a, *(const __u64 *)&e->data[VIGIL_MASK(off + 4,
								      VIGIL_GENERIC_OFF_MASK)]);
}

/* The first selector whose pids (bit s of `pids`) and argument filters all
 * accept, or -1: selectors are ORed and the first match wins. */
__noinline int vigil_sel_choose(__u32 pids)
{
	const struct vigil_selectors *sc;
	__u32 zero = 0, s, f;

	sc = bpf_map_lookup_elem(&vigil_selectors, &zero);
	if (!sc)
		return -1;
	for (s = 0; s < VIGIL_SEL_MAX; s++) {
		const struct vigil_selector *sel = &sc->sel[s];
		bool ok = true;

		if (s >= sc->nsel)
			break;
		if (!((pids >> s) & 1))
			continue;
		for (f = 0; f < VIGIL_SEL_ARGS_MAX; f++) {
			if (f >= sel->nargs)
				break;
			if (!vigil_sel_arg(s, f)) {
				ok = false;
				break;
			}
		}
		if (ok)
			return s;
	}
	return -1;
}

/* Whether action i of selector s (a Post with a rateLimit) must not post
 * this CPU's record: its key posted less than rate_ms ago. Otherwise the key
 * is stamped now and the record goes out. */
__noinline int vigil_sel_rate_limited(__u32 s, __u32 i)
{
	const struct vigil_generic_event *e;
	const struct vigil_selectors *sc;
	const struct vigil_sel_action *act;
	struct vigil_rate_key *key;
	__u32 zero = 0, off = 0, at, k, n, w;
	__u64 now, pid_tgid, *last, *kw;
	__s32 len;

	e = bpf_map_lookup_elem(&vigil_generic_heap, &zero);
	sc = bpf_map_lookup_elem(&vigil_selectors, &zero);
	key = bpf_map_lookup_elem(&vigil_rate_heap, &zero);
	if (!e || !sc || !key || s >= VIGIL_SEL_MAX || i >= VIGIL_SEL_ACTIONS_MAX)
		return 0;
	act = &sc->sel[s].actions[i];
	__builtin_memset(key, 0, sizeof(*key));
	key->sel = s;
	pid_tgid = bpf_get_current_pid_tgid();
	if (act->rate_scope == VIGIL_SEL_RATE_THREAD)
		key->scope_id = (__u32)pid_tgid;
	else if (act->rate_scope == VIGIL_SEL_RATE_PROCESS)
		key->scope_id = pid_tgid >> 32;
	for (k = 0; k < VIGIL_GENERIC_ARGS_MAX; k++) {
		if (k >= e->nargs)
			break;
		at = off;
		len = *(const __s32 *)&e->data[VIGIL_MASK(at, VIGIL_GENERIC_OFF_MASK)];
		n = 4 + (__u32)(len > 0 ? len : 0);
		off += (n + 7) & ~7U;
		/* A constant size, then the bytes past the argument cleared: 5.10's
		 * verifier cannot bound a size clang computed as min(n, 40). */
		kw = (__u64 *)&key->data[k * VIGIL_RATE_ARG_BYTES];
		bpf_probe_read_kernel(kw, VIGIL_RATE_ARG_BYTES,
				      &e->data[VIGIL_MASK(at, VIGIL_GENERIC_OFF_MASK)]);
		for (w = 0; w < VIGIL_RATE_ARG_BYTES / 8; w++) {
			if (w * 8 >= n)
				kw[w] = 0;
			else if (n - w * 8 < 8)
				kw[w] &= (1ULL << ((n - w * 8) * 8)) - 1;
		}
	}
	now = bpf_ktime_get_ns();
	last = bpf_map_lookup_elem(&vigil_rate_limits, key);
	if (last && now - *last < (__u64)act->rate_ms * 1000000)
		return 1;
	bpf_map_update_elem(&vigil_rate_limits, key, &now, BPF_ANY);
	return 0;
}

#ifdef VIGIL_STRUCT_ARGS
#include "lib/sock_owner.bpf.h"
#endif

/* The policy's policy-mode is monitor: the actions that enforce (signals,
 * Override) are named in the record but not done, as Tetragon's do_action()
 * elides them. */
const volatile bool monitor_mode = false;

/* What vigil_sel_actions() returns: bits. */
#define VIGIL_SEL_DO_POST 1
#define VIGIL_SEL_DO_OVERRIDE 2

/* The value an Override action chose for this CPU's call: written by
 * vigil_sel_actions(), read by the entry point that overrides the return. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __s64);
} vigil_override SEC(".maps");

/* Runs the actions of selector s on this CPU's record, signals here, before
 * the program returns; returns VIGIL_SEL_DO_POST to post it and
 * VIGIL_SEL_DO_OVERRIDE when an Override chose the call's return value (in
 * vigil_override). The record names the last action, as Tetragon's
 * do_action() leaves it. */
/* `at_return`: selector s's matchReturnActions on the return record (the
 * heap's struct vigil_generic_return, whose action sits where the entry's
 * does); user space allows them no rateLimit and no Override. */
__noinline int vigil_sel_actions(__u32 s, __u32 at_return)
{
	const struct vigil_sel_action *acts;
	const struct vigil_selectors *sc;
	const struct vigil_selector *sel;
	struct vigil_generic_event *e;
	__u32 zero = 0, n;
	bool post = true, override = false;
	__s64 *ret;
	int i;

	e = bpf_map_lookup_elem(&vigil_generic_heap, &zero);
	sc = bpf_map_lookup_elem(&vigil_selectors, &zero);
	if (!e || !sc || s >= VIGIL_SEL_MAX)
		return 0;
	/* masked, not only checked: 6.1's verifier loses the bound of `s`
	 * through its 32-bit spill (the value has room for 8 selectors) */
	sel = &sc->sel[VIGIL_MASK(s, 7)];
	if (at_return) {
		acts = sel->ret_actions;
		n = sel->nret_actions;
	} else {
		acts = sel->actions;
		n = sel->nactions;
		if (sel->task & (VIGIL_SEL_T_NS_CHANGE | VIGIL_SEL_T_CAP_CHANGE))
			vigil_sel_rebase(s);
	}
	for (i = 0; i < VIGIL_SEL_ACTIONS_MAX; i++) {
		const struct vigil_sel_action *act = &acts[i];

		if (i >= n)
			break;
		switch (act->action) {
		case VIGIL_ACTION_POST:
			if (!at_return && act->rate_ms && vigil_sel_rate_limited(s, i))
				post = false;
			break;
		case VIGIL_ACTION_NOPOST:
			post = false;
			break;
		case VIGIL_ACTION_SIGKILL:
			if (!monitor_mode)
				bpf_send_signal(9);	/* SIGKILL */
			break;
		case VIGIL_ACTION_SIGNAL:
			if (!monitor_mode)
				bpf_send_signal(act->arg);
			break;
		case VIGIL_ACTION_OVERRIDE:
			ret = bpf_map_lookup_elem(&vigil_override, &zero);
			if (ret && !monitor_mode && !at_return) {
				*ret = (__s32)act->arg;
				override = true;
			}
			break;
		case VIGIL_ACTION_NOTIFY_ENFORCER:
			if (!monitor_mode)
				enforcer_notify((__s32)act->arg, (__s32)act->sig, e->hook_id);
			break;
		case VIGIL_ACTION_CLEANUP_ENFORCER:
			enforcer_cleanup();
			break;
#ifdef VIGIL_STRUCT_ARGS
		/* (on the entry's record: user space allows them no other) */
		case VIGIL_ACTION_TRACK_SOCK:
		case VIGIL_ACTION_UNTRACK_SOCK:
			if (!at_return)
				sock_track(slot_sock(act->arg),
					   act->action == VIGIL_ACTION_TRACK_SOCK);
			break;
#endif
		}
		e->action = act->action;
	}
	return (post ? VIGIL_SEL_DO_POST : 0) | (override ? VIGIL_SEL_DO_OVERRIDE : 0);
}

#endif /* VIGIL_LIB_SELECTORS_BPF_H */

/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A generic hook's selectors, compiled by user space (sensors/selectors.py)
 * into one fixed-layout value of the hook's vigil_selectors array map and
 * interpreted by the hook's program with bounded loops. Included by events.h:
 * it is ABI like the records, and its Python mirror is checked against BTF.
 *
 * Tetragon's semantics (pkg/selectors/kernel.go, bpf/process/pfilter.h,
 * bpf/process/types/basic.h): the values of a filter are ORed (for the Not
 * operators ANDed: none may match), the filters of a selector ANDed, the
 * selectors of a hook ORed with the first match winning; its actions run.
 * No selectors: every hit is posted.
 *
 * String values live back to back in `pool`, each zero-padded to 8 bytes and
 * compared a word at a time; a value names its first word and its length.
 */
#ifndef VIGIL_GENERIC_SELECTORS_H
#define VIGIL_GENERIC_SELECTORS_H

#define VIGIL_SEL_MAX 5			/* selectors per hook (Tetragon's MaxSelectors) */
#define VIGIL_SEL_PIDS_MAX 4		/* matchPIDs filters per selector, ANDed */
#define VIGIL_SEL_ARGS_MAX 5		/* matchArgs filters per selector (Tetragon's 5) */
#define VIGIL_SEL_RET_ARGS_MAX 2	/* matchReturnArgs filters per selector (one value: two
					 * bound a range) */
#define VIGIL_SEL_VALUES_MAX 4		/* values per filter (Tetragon's MAX_MATCH_VALUES) */
#define VIGIL_SEL_ACTIONS_MAX 3		/* actions per selector (Tetragon's MAX_ACTIONS) */
#define VIGIL_SEL_STR_MAX 256		/* longest string value, in bytes */
#define VIGIL_SEL_STR_WORDS (VIGIL_SEL_STR_MAX / 8)
#define VIGIL_SEL_POOL_WORDS 1024	/* 8 KiB of string values per hook */
#define VIGIL_SEL_POOL_MASK (VIGIL_SEL_POOL_WORDS - 1)
#define VIGIL_SEL_NS_MAX 10		/* matchNamespaces filters (Tetragon's ns_max_types) */
#define VIGIL_SEL_CAPS_MAX 3		/* matchCapabilities filters, one per set type */
#define VIGIL_SEL_NS_KINDS 10		/* members of struct vigil_namespaces */

_Static_assert((VIGIL_SEL_STR_MAX & 7) == 0, "string values are compared in words");
_Static_assert((VIGIL_SEL_POOL_WORDS & VIGIL_SEL_POOL_MASK) == 0, "the pool mask is 2^k - 1");
_Static_assert(VIGIL_SEL_STR_MAX < VIGIL_ARG_STR_MAX, "a value is never longer than an argument");
_Static_assert(VIGIL_SEL_RET_ARGS_MAX <= VIGIL_SEL_ARGS_MAX, "return filters fit an args index");
_Static_assert(VIGIL_SEL_PIDS_MAX <= 8, "vigil_selector.nspid has a bit per matchPIDs filter");
_Static_assert(sizeof(struct vigil_namespaces) == VIGIL_SEL_NS_KINDS * 4,
	       "a namespace kind is an index into struct vigil_namespaces");
_Static_assert(VIGIL_SEL_NS_KINDS <= 16, "vigil_selector.ns_change has a bit per namespace kind");

enum vigil_sel_op {
	VIGIL_SEL_OP_NONE = 0,
	/* matchPIDs */
	VIGIL_SEL_OP_PID_IN = 1,
	VIGIL_SEL_OP_PID_NOT_IN = 2,
	/* matchArgs on integers: lo[] the values, hi[] the range ends */
	VIGIL_SEL_OP_EQ = 3,
	VIGIL_SEL_OP_NEQ = 4,
	VIGIL_SEL_OP_GT = 5,
	VIGIL_SEL_OP_LT = 6,
	VIGIL_SEL_OP_MASK = 7,
	VIGIL_SEL_OP_IN_RANGE = 8,
	VIGIL_SEL_OP_NOT_IN_RANGE = 9,
	/* matchArgs on strings: lo[] the pool word, hi[] the length */
	VIGIL_SEL_OP_STR_EQ = 10,
	VIGIL_SEL_OP_STR_NEQ = 11,
	VIGIL_SEL_OP_PREFIX = 12,
	VIGIL_SEL_OP_NOT_PREFIX = 13,
	VIGIL_SEL_OP_POSTFIX = 14,
	VIGIL_SEL_OP_NOT_POSTFIX = 15,
	/* matchArgs InMap/NotInMap on integers: lo[0] names the filter's set in
	 * the hook's vigil_sel_values map (struct vigil_sel_value_key.set) */
	VIGIL_SEL_OP_IN_MAP = 16,
	VIGIL_SEL_OP_NOT_IN_MAP = 17,
	/* matchArgs on a sock (struct vigil_sock_arg): ports against ranges in
	 * lo[]..hi[]; Priv: the port is below 1024; Family, Protocol, State
	 * equal one of lo[]; addresses in the hook's trie under set lo[0], the
	 * key's data the family's byte then the address */
	VIGIL_SEL_OP_SPORT = 18,
	VIGIL_SEL_OP_NOT_SPORT = 19,
	VIGIL_SEL_OP_DPORT = 20,
	VIGIL_SEL_OP_NOT_DPORT = 21,
	VIGIL_SEL_OP_SPORT_PRIV = 22,
	VIGIL_SEL_OP_NOT_SPORT_PRIV = 23,
	VIGIL_SEL_OP_DPORT_PRIV = 24,
	VIGIL_SEL_OP_NOT_DPORT_PRIV = 25,
	VIGIL_SEL_OP_FAMILY = 26,
	VIGIL_SEL_OP_PROTOCOL = 27,
	VIGIL_SEL_OP_STATE = 28,
	VIGIL_SEL_OP_SADDR = 29,
	VIGIL_SEL_OP_NOT_SADDR = 30,
	VIGIL_SEL_OP_DADDR = 31,
	VIGIL_SEL_OP_NOT_DADDR = 32,
	/* matchArgs FileType on a file or path argument: its mode's S_IFMT
	 * bits equal one of lo[] (S_IFREG, S_IFDIR, ...) */
	VIGIL_SEL_OP_FILE_TYPE = 33,
	VIGIL_SEL_OP_NOT_FILE_TYPE = 34,
};

/* An integer filter's flags: how to widen the argument before comparing. */
enum vigil_sel_flag {
	VIGIL_SEL_F_SIGNED = 1 << 0,	/* sign-extend from `size` bytes, compare signed */
	/* a file argument: its string is the path after struct vigil_path_arg */
	VIGIL_SEL_F_PATH = 1 << 1,
	/* a string filter with more values than a filter holds: they are in the
	 * hook's vigil_sel_strs trie under set lo[0] (struct vigil_sel_str_key) */
	VIGIL_SEL_F_TRIE = 1 << 2,
};

/* A matchPIDs filter's flags. */
enum vigil_sel_pid_flag {
	/* followForks: the descendants of the pids match too, through match
	 * bit `bit` of their exec identity's `follow` (inherited at fork). */
	VIGIL_SEL_PID_F_FOLLOW = 1 << 0,
};

struct vigil_sel_pids {
	__u8 op;			/* VIGIL_SEL_OP_PID_IN or _NOT_IN */
	__u8 nvalues;
	__u8 flags;			/* enum vigil_sel_pid_flag */
	__u8 bit;			/* the followForks match bit */
	__u32 values[VIGIL_SEL_VALUES_MAX];	/* thread-group ids, as the host sees them */
};

struct vigil_sel_arg {
	__u8 index;			/* position in the hook's arguments (not Tetragon's index) */
	__u8 op;			/* enum vigil_sel_op */
	__u8 nvalues;
	__u8 flags;			/* enum vigil_sel_flag */
	__u8 size;			/* an integer's width in bytes: 1, 2, 4 or 8 */
	__u8 pad[3];
	__u64 lo[VIGIL_SEL_VALUES_MAX];
	__u64 hi[VIGIL_SEL_VALUES_MAX];
};

/* rateLimitScope: whose events one rate limit counts (Tetragon's numbers). */
enum vigil_sel_rate_scope {
	VIGIL_SEL_RATE_THREAD = 0,
	VIGIL_SEL_RATE_PROCESS = 1,
	VIGIL_SEL_RATE_GLOBAL = 2,
};

/* What a selector's task filters (lib/sel_task.bpf.h) read from the current
 * task at the hook; a selector reads nothing it does not need. */
enum vigil_sel_task {
	VIGIL_SEL_T_NSPID = 1 << 0,	/* the tgid in its own pid namespace */
	VIGIL_SEL_T_NS = 1 << 1,	/* namespace inode numbers */
	VIGIL_SEL_T_CAPS = 1 << 2,	/* capability sets (and the user namespace) */
	VIGIL_SEL_T_NS_CHANGE = 1 << 3,	/* namespaces, against the process's baseline */
	VIGIL_SEL_T_CAP_CHANGE = 1 << 4, /* capability sets, against the baseline */
};

/* Capability sets, numbered as Tetragon numbers them (kernel.go capsPermitted..). */
enum vigil_sel_cap_set {
	VIGIL_SEL_CAP_PERMITTED = 0,
	VIGIL_SEL_CAP_EFFECTIVE = 1,
	VIGIL_SEL_CAP_INHERITABLE = 2,
};

/* matchNamespaces: the task's namespace of one kind In (or NotIn) values. */
struct vigil_sel_ns {
	__u8 kind;			/* index into struct vigil_namespaces: uts 0 .. user 9 */
	__u8 not_in;			/* 1: NotIn (no value may match) */
	__u8 nvalues;
	__u8 pad;
	__u32 values[VIGIL_SEL_VALUES_MAX];	/* inode numbers; host_ns resolved by user space */
};

/* matchCapabilities: one of the task's capability sets has a bit of `mask`
 * (In) or none of them (NotIn). */
struct vigil_sel_caps {
	__u8 set;			/* enum vigil_sel_cap_set */
	__u8 not_in;
	__u16 pad;
	__u32 host_user_ns;		/* isNamespaceCapability: the host's user namespace
					 * (a task in it never matches); 0 otherwise */
	__u64 mask;			/* the values' bits, ORed */
};

struct vigil_sel_action {
	__u32 action;			/* enum vigil_action */
	/* Signal: the signal number; Override, NotifyEnforcer: argError (an
	 * __s32); TrackSock, UntrackSock: argSock, the sock argument's index */
	__u32 arg;
	__u32 rate_ms;			/* Post: at most one event per this many ms per key; 0: no limit */
	__u32 rate_scope;		/* enum vigil_sel_rate_scope */
	__u32 sig;			/* NotifyEnforcer: argSig, sent by the enforcer (0: none) */
	__u32 pad;
};

/* The key of a hook's rate limits: the selector, the scope's id, and the
 * first bytes of each argument (its length word, then its bytes, zero past
 * its end), as Tetragon's ratelimit_key keeps 40 bytes per argument. */
#define VIGIL_RATE_ARG_BYTES 40
_Static_assert(VIGIL_RATE_ARG_BYTES % 8 == 0, "an argument's key bytes are cleared a word at a time");
struct vigil_rate_key {
	__u32 sel;
	__u32 pad;
	__u64 scope_id;			/* tid, tgid or 0 */
	__u8 data[VIGIL_GENERIC_ARGS_MAX * VIGIL_RATE_ARG_BYTES];
};

struct vigil_selector {
	__u8 npids;
	__u8 nargs;
	__u8 nactions;			/* 0: Post */
	__u8 pad;
	struct vigil_sel_pids pids[VIGIL_SEL_PIDS_MAX];
	struct vigil_sel_arg args[VIGIL_SEL_ARGS_MAX];
	struct vigil_sel_action actions[VIGIL_SEL_ACTIONS_MAX];
	/* matchBinaries: the process's exec identity's bin | follow must have
	 * every bit of bin_set and none of bin_clear (In, Prefix, Postfix set a
	 * bit; their Not forms clear one). A process the exec map does not know
	 * fails both. */
	__u64 bin_set;
	__u64 bin_clear;
	/* Filters on the current task, run from vigil_sel_pids(). */
	__u8 task;			/* enum vigil_sel_task: what they read; 0: none */
	__u8 nspid;			/* bit f: pids[f] is isNamespacePID */
	__u8 nns;
	__u8 ncaps;
	__u32 pad2;
	struct vigil_sel_ns ns[VIGIL_SEL_NS_MAX];
	struct vigil_sel_caps caps[VIGIL_SEL_CAPS_MAX];
	/* matchNamespaceChanges and matchCapabilityChanges, against what the
	 * process had at exec (struct vigil_baseline). A namespace change
	 * compares the kinds of ns_change's bits (for NotIn, user space gives
	 * the kinds not listed, as Tetragon compares them); a capability change
	 * filter matches when bits of its mask changed (In), or only other bits
	 * of its set did (NotIn). */
	__u16 ns_change;		/* bit k: struct vigil_namespaces member k */
	__u8 ncap_changes;
	__u8 pad3;
	__u32 pad4;
	struct vigil_sel_caps cap_changes[VIGIL_SEL_CAPS_MAX];
	/* matchReturnArgs and matchReturnActions: run at the call's return,
	 * when this selector chose its entry, on the return value (each
	 * filter's index is 0). A return they refuse drops the call's event. */
	__u8 nret_args;
	__u8 nret_actions;		/* 0: Post */
	__u16 pad5;
	__u32 pad6;
	struct vigil_sel_arg ret_args[VIGIL_SEL_RET_ARGS_MAX];
	struct vigil_sel_action ret_actions[VIGIL_SEL_ACTIONS_MAX];
};

/* A key of the hook's vigil_sel_values hash map: one entry per value of an
 * InMap/NotInMap filter (the value itself is a byte, unused), all the hook's
 * filters in one map told apart by `set`. User space sizes the map to the
 * policy's values. */
struct vigil_sel_value_key {
	__u32 set;			/* the filter's lo[0] */
	__u32 pad;
	__u64 value;			/* the argument widened to 64 bits, as sel_int widens it */
};

/* Longest value of a string filter whose values are in the trie: the key's
 * data after its set id, as an LPM trie's key holds at most 256 bytes. */
#define VIGIL_SEL_TRIE_STR_MAX 248

/* A key of the hook's vigil_sel_strs LPM trie: the values of its string
 * filters with more than VIGIL_SEL_VALUES_MAX values, told apart by `set`.
 * Prefix values as they are, Postfix values reversed (the lookup reverses
 * the argument's end), Equal values followed by a NUL, which no string
 * argument holds before its end: the longest stored prefix of the lookup's
 * key then is an exact match. */
struct vigil_sel_str_key {
	__u32 prefixlen;		/* bits that count: 32 for the set, 8 per byte of data */
	__u32 set;			/* the filter's lo[0] */
	__u8 data[VIGIL_SEL_TRIE_STR_MAX];
};

/* The value of a hook's vigil_selectors map (one entry). */
struct vigil_selectors {
	__u32 nsel;			/* 0: no selectors, every hit is posted */
	__u32 pad;
	struct vigil_selector sel[VIGIL_SEL_MAX];
	__u64 pool[VIGIL_SEL_POOL_WORDS];
};

/* A selector index masked with 7 stays inside the value (lib/selectors.bpf.h
 * masks where a verifier loses the index's bound). */
_Static_assert(VIGIL_SEL_MAX <= 8 && offsetof(struct vigil_selectors, sel) +
	       8 * sizeof(struct vigil_selector) <= sizeof(struct vigil_selectors),
	       "selectors indexed & 7 stay in the map value");

#endif /* VIGIL_GENERIC_SELECTORS_H */

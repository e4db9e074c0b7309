// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Never loaded. Its only job is to carry the BTF of every record in events.h:
 * clang emits BTF for types the programs name through pointers to reserved
 * ring-buffer space only partly, and user space checks its mirrors of all of
 * them (tests/unit/test_struct_layout.py). Enums are ABI too: a global of
 * each enum type makes clang emit it, values and all, so the same test checks
 * Python's enums; the sizes, which are macros, are anchored the same way.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "events.h"

struct vigil_msg_header *abi_msg_header;
struct vigil_proc_key *abi_proc_key;
struct vigil_exec_identity *abi_exec_identity;
struct vigil_creds *abi_creds;
struct vigil_namespaces *abi_namespaces;
struct vigil_baseline *abi_baseline;
struct vigil_exec_event *abi_exec_event;
struct vigil_clone_event *abi_clone_event;
struct vigil_exit_event *abi_exit_event;
struct vigil_generic_event *abi_generic_event;
struct vigil_generic_return *abi_generic_return;
struct vigil_sel_pids *abi_sel_pids;
struct vigil_sel_arg *abi_sel_arg;
struct vigil_sel_action *abi_sel_action;
struct vigil_selector *abi_selector;
struct vigil_selectors *abi_selectors;
struct vigil_bin_key *abi_bin_key;
struct vigil_pid_key *abi_pid_key;
struct vigil_seed_key *abi_seed_key;
struct vigil_match_bits *abi_match_bits;
struct vigil_match_config *abi_match_config;
struct vigil_rate_key *abi_rate_key;
struct vigil_sel_ns *abi_sel_ns;
struct vigil_sel_caps *abi_sel_caps;
struct vigil_sel_value_key *abi_sel_value_key;
struct vigil_path_arg *abi_path_arg;
struct vigil_sel_str_key *abi_sel_str_key;
struct vigil_sock_arg *abi_sock_arg;
struct vigil_cred_arg *abi_cred_arg;
struct vigil_user_ns_arg *abi_user_ns_arg;
struct vigil_skb_arg *abi_skb_arg;
struct vigil_bpf_prog_arg *abi_bpf_prog_arg;
struct vigil_bpf_map_arg *abi_bpf_map_arg;
struct vigil_perf_event_arg *abi_perf_event_arg;
struct vigil_module_arg *abi_module_arg;
struct vigil_generic_data *abi_generic_data;
struct vigil_sockaddr_un_arg *abi_sockaddr_un_arg;
struct vigil_cgroup_event *abi_cgroup_event;

enum vigil_op abi_op;
enum vigil_proc_flag abi_proc_flag;
enum vigil_stat abi_stat;
enum vigil_arg_kind abi_arg_kind;
enum vigil_arg_meta abi_arg_meta;
enum vigil_path_flag abi_path_flag;
enum vigil_sockaddr_un_flag abi_sockaddr_un_flag;
enum vigil_action abi_action;
enum vigil_sel_op abi_sel_op;
enum vigil_sel_flag abi_sel_flag;
enum vigil_sel_pid_flag abi_sel_pid_flag;
enum vigil_sel_rate_scope abi_sel_rate_scope;
enum vigil_sel_task abi_sel_task;
enum vigil_sel_cap_set abi_sel_cap_set;
enum vigil_cgroup_flag abi_cgroup_flag;

enum vigil_abi_sizes {
	VIGIL_ABI_PART_MAX = VIGIL_PART_MAX,
	VIGIL_ABI_DATA_OFF_MASK = VIGIL_DATA_OFF_MASK,
	VIGIL_ABI_EXEC_DATA_MAX = VIGIL_EXEC_DATA_MAX,
	VIGIL_ABI_GENERIC_ARGS_MAX = VIGIL_GENERIC_ARGS_MAX,
	VIGIL_ABI_ARG_STR_MAX = VIGIL_ARG_STR_MAX,
	VIGIL_ABI_GENERIC_DATA_MAX = VIGIL_GENERIC_DATA_MAX,
	VIGIL_ABI_SEL_MAX = VIGIL_SEL_MAX,
	VIGIL_ABI_SEL_PIDS_MAX = VIGIL_SEL_PIDS_MAX,
	VIGIL_ABI_SEL_ARGS_MAX = VIGIL_SEL_ARGS_MAX,
	VIGIL_ABI_SEL_VALUES_MAX = VIGIL_SEL_VALUES_MAX,
	VIGIL_ABI_SEL_ACTIONS_MAX = VIGIL_SEL_ACTIONS_MAX,
	VIGIL_ABI_SEL_STR_MAX = VIGIL_SEL_STR_MAX,
	VIGIL_ABI_SEL_POOL_WORDS = VIGIL_SEL_POOL_WORDS,
	VIGIL_ABI_BIN_PATH_MAX = VIGIL_BIN_PATH_MAX,
	VIGIL_ABI_MATCH_BITS = VIGIL_MATCH_BITS,
	VIGIL_ABI_RATE_ARG_BYTES = VIGIL_RATE_ARG_BYTES,
	VIGIL_ABI_SEL_NS_MAX = VIGIL_SEL_NS_MAX,
	VIGIL_ABI_SEL_CAPS_MAX = VIGIL_SEL_CAPS_MAX,
	VIGIL_ABI_CHAR_BUF_MAX = VIGIL_CHAR_BUF_MAX,
	VIGIL_ABI_IOVEC_MAX = VIGIL_IOVEC_MAX,
	VIGIL_ABI_IOVEC_LEN_MAX = VIGIL_IOVEC_LEN_MAX,
	VIGIL_ABI_RESOLVE_MAX = VIGIL_RESOLVE_MAX,
	VIGIL_ABI_MAX_DATA = VIGIL_MAX_DATA,
	VIGIL_ABI_DATA_CHUNK = VIGIL_DATA_CHUNK,
	VIGIL_ABI_CONST_BUF_MASK = VIGIL_CONST_BUF_MASK,
	VIGIL_ABI_RETURN_ARGS_MAX = VIGIL_RETURN_ARGS_MAX,
	VIGIL_ABI_PATH_ARG_MAX = VIGIL_PATH_ARG_MAX,
	VIGIL_ABI_SEL_TRIE_STR_MAX = VIGIL_SEL_TRIE_STR_MAX,
	VIGIL_ABI_SEL_RET_ARGS_MAX = VIGIL_SEL_RET_ARGS_MAX,
	VIGIL_ABI_CGROUP_NAME_MAX = VIGIL_CGROUP_NAME_MAX,
	VIGIL_ABI_CGROUP_PATH_MAX = VIGIL_CGROUP_PATH_MAX,
	VIGIL_ABI_CGROUP_SCOPES_MAX = VIGIL_CGROUP_SCOPES_MAX,
} abi_sizes;

char LICENSE[] SEC("license") = "Dual BSD/GPL";

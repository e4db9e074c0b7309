"""Tetragon's checks across fields and of values, each with its exact message and position.

The spec of each policy starts on line 6, indented by 2 (tests/policy_text.py).
"""

from __future__ import annotations

from tests.policy_text import errors, lines, policy, warnings
from vigil.policy import Severity


def test_match_args_index_must_name_a_declared_argument() -> None:
    assert errors("""
        kprobes:
        - call: security_file_open
          args: [{index: 0, type: file}]
          selectors:
          - matchArgs: [{index: 1, operator: Equal, values: [/etc/passwd]}]
    """) == ["10:27: spec.kprobes[0].selectors[0].matchArgs[0].index: 1 is not the index of a "
             "declared argument (declared: 0); filter one of those or declare index 1 in args"]
    assert errors("""
        tracepoints:
        - {subsystem: s, event: e, selectors: [{matchArgs: [{index: 3, operator: LT}]}]}
    """) == ["7:63: spec.tracepoints[0].selectors[0].matchArgs[0].index: the hook declares no "
             "args, so there is no argument 3 to filter; add it to spec.tracepoints[0].args"]


def test_a_tracepoint_filter_may_name_a_position_as_tetragon_reads_it() -> None:
    spec = """
        tracepoints:
        - subsystem: raw_syscalls
          event: sys_enter
          args: [{index: 4, type: syscall64}]
          selectors:
          - matchArgs: [{index: 0, operator: InMap, values: ["list:nope"]}]
    """
    assert warnings(spec) == [
        "11:27: warning: spec.tracepoints[0].selectors[0].matchArgs[0].index: 0 is not the "
        "index of a declared argument; Tetragon takes it as the position in args, args[0] "
        "(index 4): write 'index: 4' to say so"]
    assert errors(spec) == [
        "11:56: spec.tracepoints[0].selectors[0].matchArgs[0].values[0]: list 'nope' is not "
        "defined; add it to spec.lists"]


def test_filter_positions_and_match_data() -> None:
    assert errors("""
        kprobes:
        - call: cap_capable
          args: [{index: 0, type: int}]
          selectors:
          - matchArgs: [{args: [0, 3], operator: CapabilitiesGained}]
          - matchData: [{index: 2, operator: Equal, values: ["1"]}]
    """) == [
        "10:30: spec.kprobes[0].selectors[0].matchArgs[0].args[1]: position 3 is past the "
        "hook's args list (1 entries); args names positions in that list, from 0",
        "11:27: spec.kprobes[0].selectors[1].matchData[0].index: 2 is past the hook's data "
        "list (0 entries); matchData index is a position in data, from 0",
    ]


def test_return_value_filters_need_return_arg() -> None:
    assert errors("""
        kprobes:
        - call: f
          return: true
          selectors:
          - matchReturnArgs: [{index: 0, operator: Equal, values: ["1"]}]
        - call: g
          return: true
          returnArg: {index: 0, type: int}
          selectors:
          - matchReturnArgs: [{index: 1, operator: Equal, values: ["1"]}]
    """) == [
        "7:5: spec.kprobes[0].returnArg: return: true needs returnArg, the return value's "
        "type: e.g. 'returnArg: {index: 0, type: int}'",
        "10:25: spec.kprobes[0].selectors[0].matchReturnArgs[0]: matchReturnArgs filters the "
        "return value: add returnArg (and return: true) to the hook",
        "15:33: spec.kprobes[1].selectors[0].matchReturnArgs[0].index: 1 is not the "
        "returnArg's index (0); a return filter reads the returnArg",
    ]


def test_actions_and_the_arguments_they_need() -> None:
    assert errors("""
        tracepoints:
        - subsystem: s
          event: e
          selectors:
          - matchActions: [{action: Signal}, {action: Override}, {action: GetUrl}]
          - matchActions: [{action: DnsLookup}, {action: NotifyEnforcer}, {action: Sigkill, rateLimit: 1m}]
          - matchActions: [{action: Post, rateLimit: 1d}, {action: Post, rateLimit: "10", rateLimitScope: thred}, {action: NoPost, kernelStackTrace: true}]
    """) == [  # noqa: E501
        "10:22: spec.tracepoints[0].selectors[0].matchActions[0]: Signal needs argSig, the "
        "signal to send: e.g. 'argSig: 9' (SIGKILL) or 'argSig: 19' (SIGSTOP)",
        "10:40: spec.tracepoints[0].selectors[0].matchActions[1]: Override needs argError, the "
        "error the hooked function returns instead: e.g. 'argError: -1' (EPERM)",
        "10:60: spec.tracepoints[0].selectors[0].matchActions[2]: GetUrl needs argUrl, the URL "
        "to fetch when the selector matches",
        "11:22: spec.tracepoints[0].selectors[1].matchActions[0]: DnsLookup needs argFqdn, the "
        "name to look up when the selector matches",
        "11:52: spec.tracepoints[0].selectors[1].matchActions[1].action: NotifyEnforcer needs "
        "an enforcer: add spec.enforcers with the calls to enforce on",
        "11:87: spec.tracepoints[0].selectors[1].matchActions[2].rateLimit: rateLimit works "
        "with the Post action only (this is Sigkill)",
        "12:48: spec.tracepoints[0].selectors[2].matchActions[0].rateLimit: '1d' is not a rate "
        "limit; write a whole number of seconds, minutes or hours: 30, 30s, 5m, 1h",
        "12:101: spec.tracepoints[0].selectors[2].matchActions[1].rateLimitScope: 'thred' is "
        "not a rate limit scope; did you mean 'thread'?",
        "12:126: spec.tracepoints[0].selectors[2].matchActions[2].kernelStackTrace: "
        "kernelStackTrace works with the Post action only (this is NoPost)",
    ]


def test_lists_and_their_references() -> None:
    assert errors("""
        lists:
        - {name: dups, type: syscalls, values: [sys_dup]}
        - {name: gen, type: generated_syscalls, values: [sys_dup]}
        - {name: ft, type: generated_ftrace}
        - {name: plain, values: [a]}
        kprobes:
        - call: "list:dup"
        tracepoints:
        - subsystem: raw_syscalls
          event: sys_enter
          args: [{index: 4, type: uint64}]
          selectors:
          - matchArgs: [{index: 4, operator: InMap, values: ["list:dups", "list:plain", "1:x", "7"]}]
    """) == [  # noqa: E501
        "8:43: spec.lists[1].values: a generated_syscalls list is generated; remove its values "
        "(or drop the type to list them yourself)",
        "9:5: spec.lists[2].pattern: a generated_ftrace list needs pattern, a regular "
        "expression over the kernel's functions, e.g. '^ksys_*'",
        "12:11: spec.kprobes[0].call: list 'dup' is not defined; did you mean 'list:dups'?",
        "18:56: spec.tracepoints[0].selectors[0].matchArgs[0].values[0]: list 'dups' holds "
        "syscalls, but the argument is uint64; a syscall list filters a syscall64 argument",
        "18:69: spec.tracepoints[0].selectors[0].matchArgs[0].values[1]: list 'plain' is not a "
        "syscall list; InMap takes lists of type syscalls or generated_syscalls",
        "18:83: spec.tracepoints[0].selectors[0].matchArgs[0].values[2]: '1:x' is not a "
        "decimal integer range for a uint64 argument",
    ]


def test_selector_macros() -> None:
    text = policy("""
        selectorsMacros:
          m1: {matchArgs: [{index: 4, operator: Equal, values: ["1"]}]}
          m2: {macros: [m1]}
        tracepoints:
        - subsystem: raw_syscalls
          event: sys_enter
          args: [{index: 4, type: int}]
          selectors:
          - macros: [m1, mx]
            matchArgs: [{index: 4, operator: Equal, values: ["2"]}]
          - macros: [m1]
    """)
    assert lines(text, Severity.ERROR, Severity.WARNING) == [
        "8:5: warning: spec.selectorsMacros.m2: macro 'm2' is not used by any selector",
        "8:10: spec.selectorsMacros.m2.macros: a macro cannot use other macros; copy their "
        "filters in",
        "14:16: spec.tracepoints[0].selectors[0].macros[0]: matchArgs comes both from "
        "spec.tracepoints[0].selectors[0].matchArgs and from macro 'm1'; Tetragon fills a "
        "field from a macro only when it is empty: keep one",
        "14:20: spec.tracepoints[0].selectors[0].macros[1]: macro 'mx' is not defined; define "
        "it in spec.selectorsMacros",
    ]


def test_a_filter_from_a_macro_is_checked_against_the_hook_using_it() -> None:
    assert errors("""
        selectorsMacros:
          m: {matchArgs: [{index: 9, operator: Equal, values: ["1"]}]}
        tracepoints:
        - {subsystem: s, event: e, args: [{index: 1}, {index: 2}], selectors: [{macros: [m]}]}
    """) == ["7:29: spec.selectorsMacros.m.matchArgs[0].index: 9 is not the index of a declared "
             "argument (declared: 1, 2); filter one of those or declare index 9 in args"]


def test_process_filters_values() -> None:
    assert errors("""
        tracepoints:
        - subsystem: s
          event: e
          selectors:
          - matchNamespaces: [{namespace: Pid, operator: In, values: [host_ns, "4026531836", abc]}]
            matchNamespaceChanges: [{operator: In, values: [mnt, Mount]}]
            matchCapabilities: [{operator: In, values: [cap_sys_admin, CAP_DAC_OVERRIDE, CAP_SYS_ADMN]}]
            matchBinaries: [{operator: Prefix, values: [/usr], followChildren: true}]
    """) == [  # noqa: E501
        "10:88: spec.tracepoints[0].selectors[0].matchNamespaces[0].values[2]: 'abc' is not a "
        "namespace: write its inode number (ls -lL /proc/self/ns) or host_ns",
        "11:60: spec.tracepoints[0].selectors[0].matchNamespaceChanges[0].values[1]: 'Mount' "
        "is not a namespace kind; did you mean 'Mnt'?",
        "12:66: spec.tracepoints[0].selectors[0].matchCapabilities[0].values[1]: "
        "'CAP_DAC_OVERRIDE' is not a capability Tetragon knows; Tetragon spells this one "
        "'DAC_OVERRIDE', without CAP_",
        "12:84: spec.tracepoints[0].selectors[0].matchCapabilities[0].values[2]: "
        "'CAP_SYS_ADMN' is not a capability Tetragon knows; did you mean 'CAP_SYS_ADMIN'?",
        "13:58: spec.tracepoints[0].selectors[0].matchBinaries[0].followChildren: "
        "followChildren works with In and NotIn only (Tetragon has not implemented it for "
        "Prefix)",
    ]


def test_values_parsed_as_tetragon_parses_them() -> None:
    assert errors("""
        tracepoints:
        - subsystem: s
          event: e
          args: [{index: 1, type: int}, {index: 2, type: uint32}, {index: 3, type: string}, {index: 4, type: kernel_cap_t}]
          selectors:
          - matchArgs: [{index: 1, operator: Equal, values: ["0x1f", "-1", "abc", "0o17"]}]
          - matchArgs: [{index: 2, operator: GT, values: ["-1"]}, {index: 3, operator: SPort, values: ["80"]}, {index: 4, operator: Equal, values: ["CAP_SYS_ADMIN,CAP_NET_RAW", "CAP_X"]}]
          - matchArgs: [{index: 3, operator: InRange, values: ["1:2"]}, {index: 1, operator: InRange, values: ["5", "1:x"]}]
    """) == [  # noqa: E501
        "11:70: spec.tracepoints[0].selectors[0].matchArgs[0].values[2]: 'abc' is not a signed "
        "32-bit integer (the argument is int); write a number such as 42, -1 or 0x1f",
        "12:53: spec.tracepoints[0].selectors[1].matchArgs[0].values[0]: '-1' is not an "
        "unsigned 32-bit integer (the argument is uint32); write a number such as 42 or 0x1f",
        "12:82: spec.tracepoints[0].selectors[1].matchArgs[1].operator: SPort filters sock, "
        "skb, sockaddr or socket arguments; this argument is string",
        "12:172: spec.tracepoints[0].selectors[1].matchArgs[2].values[1]: 'CAP_X' is not a "
        "capability mask: write a number or CAP_* names separated by commas (e.g. "
        "CAP_SYS_ADMIN,CAP_NET_RAW)",
        "13:40: spec.tracepoints[0].selectors[2].matchArgs[0].operator: InRange takes integer "
        "arguments; this argument is string",
        "13:106: spec.tracepoints[0].selectors[2].matchArgs[1].values[0]: '5' is not a range; "
        "write MIN:MAX with two integers, e.g. 100:200",
        "13:111: spec.tracepoints[0].selectors[2].matchArgs[1].values[1]: '1:x' is not a "
        "range; write MIN:MAX with two integers, e.g. 100:200",
    ]


def test_socket_and_file_operators() -> None:
    assert errors("""
        kprobes:
        - call: tcp_connect
          args: [{index: 0, type: sock}, {index: 1, type: file}]
          selectors:
          - matchArgs: [{index: 0, operator: DAddr, values: [10.0.0.0/8, "::1", 300.1.1.1]}, {index: 0, operator: DPort, values: ["80", "1024:65535", "http"]}, {index: 0, operator: Equal, values: ["1"]}]
          - matchArgs: [{index: 1, operator: FileType, values: [reg, directory]}, {index: 0, operator: FileType, values: [reg]}]
    """) == [  # noqa: E501
        "10:75: spec.kprobes[0].selectors[0].matchArgs[0].values[2]: '300.1.1.1' is not an IP "
        "address or CIDR (e.g. 10.0.0.0/8, ::1)",
        "10:145: spec.kprobes[0].selectors[0].matchArgs[1].values[2]: 'http' is not a port or "
        "a port range (e.g. 443, 1024:65535)",
        "10:176: spec.kprobes[0].selectors[0].matchArgs[2].operator: sock arguments do not "
        "take Equal; use the socket operators (SAddr, DAddr, SPort, DPort, Protocol, Family, "
        "State)",
        "11:64: spec.kprobes[0].selectors[1].matchArgs[0].values[1]: 'directory' is not a file "
        "type; one of sock, socket, lnk, link, reg, regular, blk, block, dir, chr, char, fifo "
        "or pipe",
        "11:98: spec.kprobes[0].selectors[1].matchArgs[1].operator: FileType filters file and "
        "path arguments; this argument is sock",
    ]


def test_hook_arguments_and_hook_kinds() -> None:
    assert errors("""
        kprobes:
        - call: f
          args: [{index: 0}, {index: 1, type: syscall64}, {index: 2, type: int, source: pt_regs}]
          data: [{index: 0, type: int, source: task}, {index: 0, type: int, source: current_task}]
          returnArgAction: Track
          return: true
        fentries:
        - call: f
          selectors: [{matchActions: [{action: Sigkill}]}]
        tracepoints:
        - {subsystem: "", event: e, args: [{index: 0, type: const_buf}, {index: 1, type: int, resolve: "a..b"}]}
        uprobes:
        - {path: /bin/sh, symbols: [a], offsets: [1]}
        - {path: /bin/sh}
        lsmhooks:
        - hook: file_open
          selectors: [{matchActions: [{action: DnsLookup, argFqdn: x}], matchReturnArgs: [{index: 0, operator: Equal}]}]
    """) == [  # noqa: E501
        "7:5: spec.kprobes[0].returnArg: return: true needs returnArg, the return value's "
        "type: e.g. 'returnArg: {index: 0, type: int}'",
        "8:12: spec.kprobes[0].args[0].type: type 'auto' is invalid for kprobes; name the "
        "argument's type, e.g. int, string, file",
        "8:41: spec.kprobes[0].args[1].type: type 'syscall64' is invalid for kprobes; name the "
        "argument's type, e.g. int, string, file",
        "8:83: spec.kprobes[0].args[2].source: an argument in args has no source (the hook's "
        "arguments are its source); move it to data",
        "9:12: spec.kprobes[0].data[0].resolve: a data entry needs resolve: the field to read "
        "from its source, e.g. 'resolve: pid' or a register name",
        "9:42: spec.kprobes[0].data[0].source: 'task' is not a source; a data entry reads from "
        "current_task or pt_regs",
        "9:49: spec.kprobes[0].data[1].resolve: a data entry needs resolve: the field to read "
        "from its source, e.g. 'resolve: pid' or a register name",
        "10:22: spec.kprobes[0].returnArgAction: 'Track' is not a return action; Tetragon "
        "takes TrackSock or UntrackSock here",
        "14:42: spec.fentries[0].selectors[0].matchActions[0].action: Sigkill enforces, and "
        "Tetragon does not enforce from fentries yet; use a kprobe for this hook",
        "16:17: spec.tracepoints[0].subsystem: empty; name the tracepoint's subsystem (see "
        "/sys/kernel/tracing/events)",
        "16:55: spec.tracepoints[0].args[0].type: const_buf cannot be given; leave the type "
        "out (auto) and an array field of the format is read as const_buf",
        "16:98: spec.tracepoints[0].args[1].resolve: 'a..b' is not a field path; write fields "
        "separated by dots, with [N] for an index: e.g. mm.exe_file or args[1].name",
        "18:35: spec.uprobes[0].offsets: give one of symbols, offsets or addrs, not symbols "
        "and offsets",
        "19:5: spec.uprobes[1]: a uprobe needs symbols, offsets or addrs: where in the binary "
        "to attach",
        "22:42: spec.lsmhooks[0].selectors[0].matchActions[0].action: DnsLookup is not "
        "available on LSM hooks; they take NoPost, Override, Post, Sigkill or Signal",
        "22:67: spec.lsmhooks[0].selectors[0].matchReturnArgs: LSM hooks have no "
        "matchReturnArgs (Tetragon: not supported)",
    ]


def test_options_and_enforcers() -> None:
    spec = """
        options:
        - {name: policy-mod, value: x}
        - {name: policy-mode, value: Enforce}
        - {name: disable-kprobe-multi, value: maybe}
        enforcers:
        - calls: [sys_dup, "list:nope", do_sys_open]
        - calls: [security_file_open]
    """
    assert errors(spec) == [
        "8:32: spec.options[1].value: 'Enforce' is not a valid policy-mode; expected enforce "
        "or monitor",
        "9:41: spec.options[2].value: 'maybe' is not a boolean; write \"true\" or \"false\"",
        "10:3: spec.enforcers: 2 enforcers; Tetragon takes one enforcer per policy: put all "
        "the calls in it",
        "11:22: spec.enforcers[0].calls[1]: list 'nope' is not defined in spec.lists",
        "11:35: spec.enforcers[0].calls[2]: 'do_sys_open' is neither a syscall (sys_...) nor a "
        "security_ function; an enforcer acts on those only",
    ]
    assert warnings(spec) == [
        "7:12: warning: spec.options[0].name: Tetragon ignores option 'policy-mod'; did you "
        "mean 'policy-mode'?"]


def test_metadata() -> None:
    text = "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: My_Policy\n" \
        "  namespace: default\nspec: {}\n"
    assert lines(text) == [
        "4:9: metadata.name: 'My_Policy' is not a valid name: Kubernetes names are lowercase "
        "letters, digits, '-' and '.', start and end with a letter or digit, at most 253 "
        "characters; e.g. 'my-policy'",
        "5:3: metadata.namespace: a TracingPolicy applies to the whole host and has no "
        "namespace; remove it, or use kind TracingPolicyNamespaced",
    ]
    text = "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicyNamespaced\nmetadata: {}\n" \
        "spec:\n  hostSelector: {}\n  podSelector:\n    matchExpressions: [{key: a, " \
        "operator: In}]\n"
    assert lines(text) == [
        "3:1: metadata.name: required field is missing; name the policy, e.g. 'name: "
        "my-policy' (lowercase letters, digits, '-' and '.')",
        "5:3: spec.hostSelector: a TracingPolicyNamespaced has no hostSelector (Tetragon's CRD "
        "rule); remove it, or use kind TracingPolicy",
        "7:24: spec.podSelector.matchExpressions[0].values: operator In needs at least one "
        "value",
    ]
    assert lines(text, Severity.WARNING) == [
        "3:1: warning: metadata.namespace: missing: kubectl apply puts the policy in its "
        "current namespace, but Tetragon's --tracing-policy loader refuses a "
        "TracingPolicyNamespaced without one; add 'namespace: NAME'"]


def test_warnings_for_what_tetragon_ignores() -> None:
    assert warnings("""
        kprobes:
        - call: f
          returnArg: {index: 0, type: int}
          args: [{index: 0, type: int, maxData: true, sizeArgIndex: 2}]
          selectors: [{matchActions: [{action: Post, rateLimitScope: process}, {action: FollowFD}]}]
    """) == [
        "8:5: warning: spec.kprobes[0].returnArg: has no effect without 'return: true'",
        "9:34: warning: spec.kprobes[0].args[0].maxData: maxData applies to char_buf and "
        "iov_iter only; Tetragon ignores it on int",
        "9:49: warning: spec.kprobes[0].args[0].sizeArgIndex: only char_buf, char_iovec and "
        "sockaddr_un arguments use sizeArgIndex; this one is int",
        "10:48: warning: spec.kprobes[0].selectors[0].matchActions[0].rateLimitScope: has no "
        "effect without rateLimit",
        "10:83: warning: spec.kprobes[0].selectors[0].matchActions[1].action: FollowFD is "
        "deprecated in Tetragon (to be removed); the fd and file types give the file's path "
        "directly",
    ]


def test_host_selector_with_labels_selects_nothing() -> None:
    assert warnings("hostSelector: {matchLabels: {a: b}}") == [
        "6:3: warning: spec.hostSelector: Tetragon takes hostSelector: {} (the host) or no "
        "hostSelector; with labels it selects nothing"]
    assert warnings("hostSelector: {}") == []

"""The words a TracingPolicy may use, spelled as Tetragon v1.7's CRD spells them.

Source: the ``+kubebuilder:validation:Enum`` markers in
pkg/k8s/apis/cilium.io/v1alpha1/types.go, generated into
pkg/k8s/apis/cilium.io/client/crds/v1alpha1/cilium.io_tracingpolicies.yaml.
Tetragon loads a policy file through that CRD's schema validator
(pkg/crdutils/crdutils.go FromYAML), so these enums are case-sensitive even
where its Go code later lower-cases a value (actions, namespaces): ``sigkill``
is rejected, ``Sigkill`` accepted.

Each vocabulary is a ``Literal`` for the models and a tuple of the same words
(``typing.get_args``) for messages and did-you-mean.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = [
    "ACTIONS",
    "ARG_TYPES",
    "BINARY_OPERATORS",
    "CAPABILITY_TYPES",
    "LABEL_OPERATORS",
    "LIST_TYPES",
    "MATCH_ARG_OPERATORS",
    "NAMESPACES",
    "OPTIONS",
    "SET_OPERATORS",
    "VIGIL_OPTIONS",
    "Action",
    "ArgType",
    "BinaryOperator",
    "CapabilityType",
    "LabelOperator",
    "ListType",
    "MatchArgOperator",
    "Namespace",
    "SetOperator",
]

# KProbeArg.Type
ArgType = Literal[
    "auto", "int", "sint8", "int8", "uint8", "sint16", "int16", "uint16", "uint32", "sint32",
    "int32", "ulong", "uint64", "size_t", "long", "sint64", "int64", "char_buf", "char_iovec",
    "skb", "sock", "sockaddr", "socket", "sockaddr_un", "string", "fd", "file", "filename",
    "path", "nop", "bpf_attr", "perf_event", "bpf_map", "user_namespace", "capability", "kiocb",
    "iov_iter", "cred", "const_buf", "load_info", "module", "syscall64", "kernel_cap_t",
    "cap_inheritable", "cap_permitted", "cap_effective", "linux_binprm", "data_loc",
    "net_device", "bpf_cmd", "dentry", "bpf_prog",
]

# ArgSelector.Operator (matchArgs, matchData, matchReturnArgs). "NotSportPriv" is the
# CRD's own spelling (its Go parser also takes "NotSPortPriv", which the CRD refuses).
MatchArgOperator = Literal[
    "Equal", "NotEqual", "Prefix", "NotPrefix", "Postfix", "NotPostfix", "GreaterThan",
    "LessThan", "GT", "LT", "Mask", "SPort", "NotSPort", "SPortPriv", "NotSportPriv", "DPort",
    "NotDPort", "DPortPriv", "NotDPortPriv", "SAddr", "NotSAddr", "DAddr", "NotDAddr",
    "Protocol", "Family", "State", "InMap", "NotInMap", "CapabilitiesGained", "InRange",
    "NotInRange", "SubString", "SubStringIgnCase", "CelExpr", "FileType", "NotFileType",
]

# BinarySelector.Operator (matchBinaries, matchParentBinaries)
BinaryOperator = Literal["In", "NotIn", "Prefix", "NotPrefix", "Postfix", "NotPostfix"]

# PIDSelector, NamespaceSelector, NamespaceChangesSelector, CapabilitiesSelector .Operator
SetOperator = Literal["In", "NotIn"]

# NamespaceSelector.Namespace
Namespace = Literal[
    "Uts", "Ipc", "Mnt", "Pid", "PidForChildren", "Net", "Time", "TimeForChildren", "Cgroup",
    "User",
]

# CapabilitiesSelector.Type (default Effective)
CapabilityType = Literal["Effective", "Inheritable", "Permitted"]

# ActionSelector.Action
Action = Literal[
    "Post", "FollowFD", "UnfollowFD", "Sigkill", "CopyFD", "Override", "GetUrl", "DnsLookup",
    "NoPost", "Signal", "TrackSock", "UntrackSock", "NotifyEnforcer",
    "CleanupEnforcerNotification", "Set",
]

# ListSpec.Type (optional: no type means a plain list of values)
ListType = Literal["syscalls", "generated_syscalls", "generated_ftrace"]

# metav1.LabelSelectorRequirement.Operator (podSelector, containerSelector, hostSelector)
LabelOperator = Literal["In", "NotIn", "Exists", "DoesNotExist"]

# spec.options names Tetragon reads (pkg/sensors/tracing/options.go); it ignores others
OPTIONS = ("disable-kprobe-multi", "disable-uprobe-multi", "override-method", "policy-mode")
# spec.options names of vigil's own (Tetragon ignores them): cgroup-path scopes
# the policy to a cgroup v2 subtree (repeatable), docs/cgroups.md
VIGIL_OPTIONS = ("cgroup-path",)

ARG_TYPES: tuple[str, ...] = get_args(ArgType)
MATCH_ARG_OPERATORS: tuple[str, ...] = get_args(MatchArgOperator)
BINARY_OPERATORS: tuple[str, ...] = get_args(BinaryOperator)
SET_OPERATORS: tuple[str, ...] = get_args(SetOperator)
NAMESPACES: tuple[str, ...] = get_args(Namespace)
CAPABILITY_TYPES: tuple[str, ...] = get_args(CapabilityType)
ACTIONS: tuple[str, ...] = get_args(Action)
LIST_TYPES: tuple[str, ...] = get_args(ListType)
LABEL_OPERATORS: tuple[str, ...] = get_args(LabelOperator)

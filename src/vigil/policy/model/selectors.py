"""KProbeSelector and its filters and actions (selectors of every hook kind)."""

from __future__ import annotations

from pydantic import Field

from vigil.policy.enums import (
    Action,
    BinaryOperator,
    CapabilityType,
    MatchArgOperator,
    Namespace,
    SetOperator,
)
from vigil.policy.model.base import I32, U32, PolicyModel

__all__ = [
    "ActionSelector",
    "ArgSelector",
    "BinarySelector",
    "CapabilitiesSelector",
    "KProbeSelector",
    "NamespaceChangesSelector",
    "NamespaceSelector",
    "PIDSelector",
]


class PIDSelector(PolicyModel):
    operator: SetOperator
    values: list[U32]
    is_namespace_pid: bool = Field(False, alias="isNamespacePID")
    follow_forks: bool = Field(False, alias="followForks")


class ArgSelector(PolicyModel):
    # the filtered argument: its `index` as declared in args (not its position in args)
    index: U32 = 0
    # or positions in the spec's args list (CapabilitiesGained takes two)
    args: list[U32] = Field(default_factory=list)
    operator: MatchArgOperator
    values: list[str] = Field(default_factory=list)


class BinarySelector(PolicyModel):
    operator: BinaryOperator
    values: list[str]
    follow_children: bool = Field(False, alias="followChildren")


class NamespaceSelector(PolicyModel):
    namespace: Namespace
    operator: SetOperator
    # namespace inode numbers, or host_ns
    values: list[str]


class NamespaceChangesSelector(PolicyModel):
    operator: SetOperator
    # namespace kinds (Mnt, Pid, ...), case-insensitive in Tetragon's parser
    values: list[str]


class CapabilitiesSelector(PolicyModel):
    type: CapabilityType = "Effective"
    operator: SetOperator
    is_namespace_capability: bool = Field(False, alias="isNamespaceCapability")
    # CAP_* names, case-insensitive in Tetragon's parser
    values: list[str]


class ActionSelector(PolicyModel):
    action: Action
    arg_fd: U32 = Field(0, alias="argFd")
    arg_name: U32 = Field(0, alias="argName")
    arg_url: str = Field("", alias="argUrl")
    arg_fqdn: str = Field("", alias="argFqdn")
    arg_error: I32 = Field(0, alias="argError")
    arg_sig: U32 = Field(0, alias="argSig")
    arg_sock: U32 = Field(0, alias="argSock")
    arg_index: U32 = Field(0, alias="argIndex")
    arg_value: U32 = Field(0, alias="argValue")
    arg_regs: list[str] = Field(default_factory=list, alias="argRegs")
    # "10", "10s", "5m", "1h" (Post only)
    rate_limit: str = Field("", alias="rateLimit")
    # thread (default), process or global
    rate_limit_scope: str = Field("", alias="rateLimitScope")
    kernel_stack_trace: bool = Field(False, alias="kernelStackTrace")
    user_stack_trace: bool = Field(False, alias="userStackTrace")
    ima_hash: bool = Field(False, alias="imaHash")


class KProbeSelector(PolicyModel):
    match_pids: list[PIDSelector] = Field(default_factory=list, alias="matchPIDs")
    match_args: list[ArgSelector] = Field(default_factory=list, alias="matchArgs")
    match_data: list[ArgSelector] = Field(default_factory=list, alias="matchData")
    match_actions: list[ActionSelector] = Field(default_factory=list, alias="matchActions")
    match_return_args: list[ArgSelector] = Field(default_factory=list, alias="matchReturnArgs")
    match_return_actions: list[ActionSelector] = Field(
        default_factory=list, alias="matchReturnActions")
    match_binaries: list[BinarySelector] = Field(default_factory=list, alias="matchBinaries")
    match_parent_binaries: list[BinarySelector] = Field(
        default_factory=list, alias="matchParentBinaries")
    match_namespaces: list[NamespaceSelector] = Field(
        default_factory=list, alias="matchNamespaces")
    match_namespace_changes: list[NamespaceChangesSelector] = Field(
        default_factory=list, alias="matchNamespaceChanges")
    match_capabilities: list[CapabilitiesSelector] = Field(
        default_factory=list, alias="matchCapabilities")
    match_capability_changes: list[CapabilitiesSelector] = Field(
        default_factory=list, alias="matchCapabilityChanges")
    # names of spec.selectorsMacros whose filters are appended to this selector's
    macros: list[str] = Field(default_factory=list)

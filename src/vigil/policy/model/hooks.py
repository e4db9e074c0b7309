"""The hook specs: kprobes (and fentries), tracepoints, uprobes, usdts, lsmhooks."""

from __future__ import annotations

from pydantic import Field

from vigil.policy.model.args import KProbeArg
from vigil.policy.model.base import U64, PolicyModel
from vigil.policy.model.selectors import KProbeSelector

__all__ = ["KProbeSpec", "KprobeIgnore", "LsmHookSpec", "TracepointSpec", "UProbeSpec",
           "UsdtSpec"]


class KprobeIgnore(PolicyModel):
    call_not_found: bool = Field(False, alias="callNotFound")


class KProbeSpec(PolicyModel):
    """spec.kprobes[] and spec.fentries[] (the same Go type)."""

    # a kernel function, or list:NAME over spec.lists
    call: str
    return_: bool = Field(False, alias="return")
    # default true: the CRD's default, so sys_openat gets the architecture's prefix
    syscall: bool = True
    message: str = ""
    args: list[KProbeArg] = Field(default_factory=list)
    data: list[KProbeArg] = Field(default_factory=list)
    return_arg: KProbeArg | None = Field(None, alias="returnArg")
    # TrackSock or UntrackSock
    return_arg_action: str = Field("", alias="returnArgAction")
    selectors: list[KProbeSelector] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    ignore: KprobeIgnore | None = None


class TracepointSpec(PolicyModel):
    subsystem: str
    event: str
    message: str = ""
    args: list[KProbeArg] = Field(default_factory=list)
    selectors: list[KProbeSelector] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    # a raw tracepoint: arguments from TP_PROTO (through BTF), not the format
    raw: bool = False


class UProbeSpec(PolicyModel):
    path: str
    btf_path: str = Field("", alias="btfPath")
    symbols: list[str] = Field(default_factory=list)
    offsets: list[U64] = Field(default_factory=list)
    addrs: list[U64] = Field(default_factory=list)
    ref_ctr_offsets: list[U64] = Field(default_factory=list, alias="refCtrOffsets")
    message: str = ""
    selectors: list[KProbeSelector] = Field(default_factory=list)
    args: list[KProbeArg] = Field(default_factory=list)
    data: list[KProbeArg] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    return_: bool = Field(False, alias="return")
    return_arg: KProbeArg | None = Field(None, alias="returnArg")


class UsdtSpec(PolicyModel):
    path: str
    btf_path: str = Field("", alias="btfPath")
    provider: str
    name: str
    tags: list[str] = Field(default_factory=list)
    message: str = ""
    args: list[KProbeArg] = Field(default_factory=list)
    selectors: list[KProbeSelector] = Field(default_factory=list)


class LsmHookSpec(PolicyModel):
    # the LSM hook without its bpf_lsm_ prefix: file_open, bprm_check_security, ...
    hook: str
    message: str = ""
    args: list[KProbeArg] = Field(default_factory=list)
    selectors: list[KProbeSelector] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)

"""KProbeArg: one argument of a hook (args, data, returnArg), for every hook kind."""

from __future__ import annotations

from pydantic import Field

from vigil.policy.enums import ArgType
from vigil.policy.model.base import U32, PolicyModel

__all__ = ["KProbeArg"]


class KProbeArg(PolicyModel):
    # position in the function prototype, the tracepoint's format (common_* fields
    # counted), the raw tracepoint's TP_PROTO, or the USDT probe's arguments
    index: U32
    # "auto": from the tracepoint format or BTF (CRD default)
    type: ArgType = "auto"
    # a BTF field path into the argument (a.b[2].c)
    resolve: str = ""
    # 1-based position of the argument holding this buffer's size (char_buf, char_iovec)
    size_arg_index: U32 = Field(0, alias="sizeArgIndex")
    # read the buffer at return instead of entry (kprobes, uprobes)
    return_copy: bool = Field(False, alias="returnCopy")
    # read up to 327360 bytes instead of 4096 (char_buf)
    max_data: bool = Field(False, alias="maxData")
    # the key of this argument in the JSON event
    label: str = ""
    # data[] only: "current_task" or "pt_regs"
    source: str = ""
    # uprobes and USDT with resolve: the argument's type name in btfPath
    btf_type: str = Field("", alias="btfType")

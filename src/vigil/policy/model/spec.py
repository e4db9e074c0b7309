"""TracingPolicySpec, its lists, options and enforcers, and the two document kinds."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vigil.policy.enums import ListType
from vigil.policy.model.base import PolicyModel
from vigil.policy.model.hooks import (
    KProbeSpec,
    LsmHookSpec,
    TracepointSpec,
    UProbeSpec,
    UsdtSpec,
)
from vigil.policy.model.meta import LabelSelector, ObjectMeta
from vigil.policy.model.selectors import KProbeSelector

__all__ = ["API_VERSION", "KINDS", "EnforcerSpec", "ListSpec", "OptionSpec", "TracingPolicy",
           "TracingPolicyNamespaced", "TracingPolicySpec"]

API_VERSION = "cilium.io/v1alpha1"
KINDS = ("TracingPolicy", "TracingPolicyNamespaced")


class ListSpec(PolicyModel):
    name: str
    values: list[str] = Field(default_factory=list)
    # no type: a plain list (kprobe calls); syscalls: names or numbers, usable by InMap
    type: ListType | None = None
    # generated_ftrace: a regular expression over available_filter_functions
    pattern: str | None = None
    validated: bool = False


class OptionSpec(PolicyModel):
    name: str
    value: str = ""


class EnforcerSpec(PolicyModel):
    calls: list[str]


class TracingPolicySpec(PolicyModel):
    kprobes: list[KProbeSpec] = Field(default_factory=list)
    tracepoints: list[TracepointSpec] = Field(default_factory=list)
    loader: bool = False
    uprobes: list[UProbeSpec] = Field(default_factory=list)
    lsmhooks: list[LsmHookSpec] = Field(default_factory=list)
    usdts: list[UsdtSpec] = Field(default_factory=list)
    fentries: list[KProbeSpec] = Field(default_factory=list)
    pod_selector: LabelSelector | None = Field(None, alias="podSelector")
    container_selector: LabelSelector | None = Field(None, alias="containerSelector")
    host_selector: LabelSelector | None = Field(None, alias="hostSelector")
    lists: list[ListSpec] = Field(default_factory=list)
    enforcers: list[EnforcerSpec] = Field(default_factory=list)
    options: list[OptionSpec] = Field(default_factory=list)
    selectors_macros: dict[str, KProbeSelector] = Field(
        default_factory=dict, alias="selectorsMacros")


class TracingPolicy(PolicyModel):
    api_version: Literal["cilium.io/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["TracingPolicy"]
    metadata: ObjectMeta
    spec: TracingPolicySpec


class TracingPolicyNamespaced(PolicyModel):
    api_version: Literal["cilium.io/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["TracingPolicyNamespaced"]
    metadata: ObjectMeta
    spec: TracingPolicySpec

"""pydantic models of Tetragon v1.7's TracingPolicy and TracingPolicyNamespaced.

Mirrors pkg/k8s/apis/cilium.io/v1alpha1/{types.go,tracing_policy_types.go}: the
same fields, defaults and enums (see vigil.policy.enums); only what the CRD's
schema and Go types check is checked here. Limits and checks across fields
(vigil.policy.checks) run on a validated model.
"""

from vigil.policy.model.args import KProbeArg
from vigil.policy.model.hooks import (
    KprobeIgnore,
    KProbeSpec,
    LsmHookSpec,
    TracepointSpec,
    UProbeSpec,
    UsdtSpec,
)
from vigil.policy.model.meta import LabelSelector, LabelSelectorRequirement, ObjectMeta
from vigil.policy.model.selectors import (
    ActionSelector,
    ArgSelector,
    BinarySelector,
    CapabilitiesSelector,
    KProbeSelector,
    NamespaceChangesSelector,
    NamespaceSelector,
    PIDSelector,
)
from vigil.policy.model.spec import (
    API_VERSION,
    KINDS,
    EnforcerSpec,
    ListSpec,
    OptionSpec,
    TracingPolicy,
    TracingPolicyNamespaced,
    TracingPolicySpec,
)

AnyPolicy = TracingPolicy | TracingPolicyNamespaced
HookSpec = KProbeSpec | TracepointSpec | UProbeSpec | UsdtSpec | LsmHookSpec

__all__ = [
    "API_VERSION",
    "KINDS",
    "ActionSelector",
    "AnyPolicy",
    "ArgSelector",
    "BinarySelector",
    "CapabilitiesSelector",
    "EnforcerSpec",
    "HookSpec",
    "KProbeArg",
    "KProbeSelector",
    "KProbeSpec",
    "KprobeIgnore",
    "LabelSelector",
    "LabelSelectorRequirement",
    "ListSpec",
    "LsmHookSpec",
    "NamespaceChangesSelector",
    "NamespaceSelector",
    "ObjectMeta",
    "OptionSpec",
    "PIDSelector",
    "TracepointSpec",
    "TracingPolicy",
    "TracingPolicyNamespaced",
    "TracingPolicySpec",
    "UProbeSpec",
    "UsdtSpec",
]

"""metadata and the label selectors, as Kubernetes' ObjectMeta validation checks them.

Tetragon runs apimachinery's ValidateObjectMeta on a policy read from a file
(pkg/crdutils/crdutils.go Validate): the name must be a DNS subdomain, a
cluster-wide TracingPolicy has no namespace and a TracingPolicyNamespaced
needs one. The CRD forbids hostSelector on a TracingPolicyNamespaced.
"""

from __future__ import annotations

import re

from vigil.policy.errors import PathPart
from vigil.policy.findings import Findings
from vigil.policy.model import AnyPolicy, LabelSelector, TracingPolicyNamespaced

__all__ = ["check_metadata"]

_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN = re.compile(rf"^{_DNS_LABEL}(\.{_DNS_LABEL})*$")
_LABEL = re.compile(rf"^{_DNS_LABEL}$")
# matchLabels values: the CRD's pattern and maxLength
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def _dns_fix(name: str) -> str:
    fixed = re.sub(r"[^a-z0-9.-]+", "-", name.lower()).strip("-.")
    return fixed or "my-policy"


def check_metadata(policy: AnyPolicy, f: Findings) -> None:
    meta = policy.metadata
    if not meta.name and not meta.generate_name:
        f.error(("metadata", "name"), "required field is missing; name the policy, e.g. "
                "'name: my-policy' (lowercase letters, digits, '-' and '.')")
    elif meta.name and (len(meta.name) > 253 or not _SUBDOMAIN.match(meta.name)):
        f.error(("metadata", "name"), f"'{meta.name}' is not a valid name: Kubernetes "
                "names are lowercase letters, digits, '-' and '.', start and end with a "
                f"letter or digit, at most 253 characters; e.g. '{_dns_fix(meta.name)[:253]}'",
                value=True)
    namespaced = isinstance(policy, TracingPolicyNamespaced)
    if namespaced and not meta.namespace:
        # kubectl apply fills in its current namespace, which is how Tetragon's own
        # examples are used; Tetragon's file loader refuses the policy instead.
        f.warn(("metadata", "namespace"), "missing: kubectl apply puts the policy in its "
               "current namespace, but Tetragon's --tracing-policy loader refuses a "
               "TracingPolicyNamespaced without one; add 'namespace: NAME'")
    elif not namespaced and meta.namespace:
        f.error(("metadata", "namespace"), "a TracingPolicy applies to the whole host and "
                "has no namespace; remove it, or use kind TracingPolicyNamespaced")
    elif meta.namespace and (len(meta.namespace) > 63 or not _LABEL.match(meta.namespace)):
        f.error(("metadata", "namespace"), f"'{meta.namespace}' is not a valid namespace: "
                "lowercase letters, digits and '-', at most 63 characters", value=True)
    spec = policy.spec
    if namespaced and spec.host_selector is not None:
        f.error(("spec", "hostSelector"), "a TracingPolicyNamespaced has no hostSelector "
                "(Tetragon's CRD rule); remove it, or use kind TracingPolicy")
    host = spec.host_selector
    if host is not None and (host.match_labels or host.match_expressions):
        # pkg/policyfilter/state.go AddPolicy: only an empty hostSelector selects the host
        f.warn(("spec", "hostSelector"), "Tetragon takes hostSelector: {} (the host) or no "
               "hostSelector; with labels it selects nothing")
    for name, selector in (("podSelector", spec.pod_selector),
                           ("containerSelector", spec.container_selector),
                           ("hostSelector", spec.host_selector)):
        if selector is not None:
            _check_label_selector(selector, ("spec", name), f)


def _check_label_selector(sel: LabelSelector, path: tuple[PathPart, ...], f: Findings
                          ) -> None:
    for key, value in sel.match_labels.items():
        if len(value) > 63 or not _LABEL_VALUE.match(value):
            f.error((*path, "matchLabels", key), f"'{value}' is not a valid label value: at "
                    "most 63 letters, digits, '-', '_' and '.', starting and ending with a "
                    "letter or digit", value=True)
    for i, req in enumerate(sel.match_expressions):
        where = (*path, "matchExpressions", i, "values")
        if req.operator in ("In", "NotIn") and not req.values:
            f.error(where, f"operator {req.operator} needs at least one value")
        elif req.operator in ("Exists", "DoesNotExist") and req.values:
            f.error(where, f"operator {req.operator} takes no values; remove them")

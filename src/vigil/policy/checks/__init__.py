"""Checks Tetragon makes beyond its CRD schema: limits, references between fields,
values its parsers refuse. They run on a policy that pydantic has validated.

Every check cites, in its module, the Tetragon code it mirrors; vigil.policy.limits
holds the numbers. Findings are ERROR where Tetragon refuses the policy and
WARNING where it accepts it but ignores or truncates something.
"""

from __future__ import annotations

from vigil.policy.checks.hooks import check_hook
from vigil.policy.checks.hooks_of import Hook, HookKind, hooks_of
from vigil.policy.checks.meta import check_metadata
from vigil.policy.checks.selectors import check_selectors
from vigil.policy.checks.spec import check_spec
from vigil.policy.findings import Finding, Findings
from vigil.policy.model import AnyPolicy

__all__ = ["Hook", "HookKind", "check_policy", "hooks_of"]


def check_policy(policy: AnyPolicy) -> list[Finding]:
    f = Findings()
    check_metadata(policy, f)
    used: set[str] = set()
    for hook in hooks_of(policy.spec):
        check_hook(hook, policy.spec, f)
        check_selectors(hook, policy.spec, f)
        for sel in hook.selectors:
            used.update(sel.macros)
    check_spec(policy.spec, f, used)
    return f.items

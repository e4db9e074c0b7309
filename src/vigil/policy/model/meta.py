"""Kubernetes parts of a policy: metadata (ObjectMeta) and label selectors.

Tetragon decodes ``metadata`` into k8s.io/apimachinery's metav1.ObjectMeta, so
every ObjectMeta field is accepted; the ones a server fills in (uid,
resourceVersion, managedFields, ...) are kept loosely typed because a policy
file exported from a cluster carries them and nothing here reads them.
``podSelector``, ``containerSelector`` and ``hostSelector`` are slim
metav1.LabelSelector values (pkg/k8s/slim/k8s/apis/meta/v1).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from vigil.policy.enums import LabelOperator
from vigil.policy.model.base import PolicyModel

__all__ = ["LabelSelector", "LabelSelectorRequirement", "ObjectMeta"]


class ObjectMeta(PolicyModel):
    name: str = ""
    generate_name: str = Field("", alias="generateName")
    namespace: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    # set by an API server; accepted so that `kubectl get -o yaml` output loads
    uid: str = ""
    resource_version: str = Field("", alias="resourceVersion")
    generation: int = 0
    self_link: str = Field("", alias="selfLink")
    creation_timestamp: Any = Field(None, alias="creationTimestamp")
    deletion_timestamp: Any = Field(None, alias="deletionTimestamp")
    deletion_grace_period_seconds: int | None = Field(None, alias="deletionGracePeriodSeconds")
    owner_references: list[dict[str, Any]] = Field(default_factory=list, alias="ownerReferences")
    finalizers: list[str] = Field(default_factory=list)
    managed_fields: list[dict[str, Any]] = Field(default_factory=list, alias="managedFields")


class LabelSelectorRequirement(PolicyModel):
    key: str
    operator: LabelOperator
    values: list[str] = Field(default_factory=list)


class LabelSelector(PolicyModel):
    match_labels: dict[str, str] = Field(default_factory=dict, alias="matchLabels")
    match_expressions: list[LabelSelectorRequirement] = Field(
        default_factory=list, alias="matchExpressions")

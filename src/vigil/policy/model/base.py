"""The base of every policy model: strict, closed, immutable.

strict: a YAML ``1`` is not the string "1" and ``"true"`` is not a boolean, as for
Tetragon (it decodes the YAML into typed Go structs after the CRD schema has
checked the JSON types). extra="forbid": an unknown field is an error (Tetragon's
loader uses yaml.UnmarshalStrict). Field names are Python's (snake_case); the
YAML spelling is each field's alias, and only the alias is accepted.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["I32", "U32", "U64", "PolicyModel"]

# Go's integer types in the Tetragon structs: a value outside them fails to decode.
U32 = Annotated[int, Field(ge=0, le=0xFFFF_FFFF)]
I32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
U64 = Annotated[int, Field(ge=0, le=2**64 - 1)]


class PolicyModel(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        populate_by_name=False,
        # an alias that is a Python keyword (return) still needs a Python name
        protected_namespaces=(),
    )

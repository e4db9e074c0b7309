"""Fixtures of the kernel tests."""

from .runtime_sink import runtime

__all__ = ["runtime"]

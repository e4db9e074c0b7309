"""vigil: eBPF security observability and runtime enforcement for Linux."""

__version__ = "0.1.0"
__all__ = ["__version__"]

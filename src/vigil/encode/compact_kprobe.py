"""process_kprobe as one compact line, with the verb, emoji and details that
`tetra getevents -o compact` gives the functions it knows (Tetragon's
pkg/encoder, CompactEncoder.EventToString), and "❓ syscall FUNCTION" for
the rest. The caller escapes nothing here: every detail goes through
`escape`, because a process chooses the strings it passes to a syscall.
"""

from __future__ import annotations

from collections.abc import Callable

from vigil.events.model import Arg, FilePath, KprobeEvent
from vigil.wire.sock_arg import SockFields

__all__ = ["kprobe_line"]

_PREFIXES = ("__x64_", "__arm64_", "__ia32_")
# Tetragon's nsId: a setns(2) nstype -> its name (CLONE_NEW* values).
_NS_NAMES = {0: "any", 0x02000000: "cgroup", 0x08000000: "ipc", 0x40000000: "net",
             0x00020000: "mnt", 0x20000000: "pid", 0x00000080: "time",
             0x10000000: "user", 0x04000000: "uts"}


def _arg(ev: KprobeEvent, i: int) -> Arg | None:
    return ev.args[i] if i < len(ev.args) else None


def _string(ev: KprobeEvent, i: int) -> str:
    """GetStringArg(): the string, or "" for an argument of another type."""
    a = _arg(ev, i)
    return a.value if a is not None and a.key == "string_arg" and isinstance(a.value, str) else ""


def _number(ev: KprobeEvent, i: int, key: str) -> int:
    """GetIntArg()/GetSizeArg(): the value, or 0 for another type."""
    a = _arg(ev, i)
    return a.value if a is not None and a.key == key and isinstance(a.value, int) else 0


def _file(ev: KprobeEvent, i: int, key: str = "file_arg") -> str:
    """GetFileArg().Path (GetPathArg() for "path_arg"), or "" for an argument
    of another type."""
    a = _arg(ev, i)
    return a.value.path if a is not None and a.key == key and isinstance(a.value, FilePath) else ""


def _file_permission(ev: KprobeEvent) -> tuple[str, str, str]:
    """security_file_permission(file, mask): MAY_WRITE 2 writes, MAY_READ 4 reads."""
    verb, emoji = {2: ("write", "📝"), 4: ("read", "📚")}.get(
        _number(ev, 1, "int_arg"), ("security_file_permission", "❓"))
    return emoji, verb, _file(ev, 0)


def _mmap(ev: KprobeEvent) -> tuple[str, str, str]:
    """security_mmap_file(file, prot, ...): "mmap-" and the PROT_ letters."""
    if len(ev.args) < 2:
        return "❓", "security_mmap_file", ""
    prot = _number(ev, 1, "uint_arg")
    tag = "mmap-" + "".join(c for bit, c in ((1, "r"), (2, "w"), (4, "x")) if prot & bit)
    return "📝", tag, _file(ev, 0)


def _sizes(verb: str, emoji: str) -> Callable[[KprobeEvent], tuple[str, str, str]]:
    def details(ev: KprobeEvent) -> tuple[str, str, str]:
        return emoji, verb, f"{_file(ev, 0)} {_number(ev, 2, 'size_arg')} bytes"
    return details


def _two_strings(verb: str, emoji: str) -> Callable[[KprobeEvent], tuple[str, str, str]]:
    def details(ev: KprobeEvent) -> tuple[str, str, str]:
        return emoji, verb, f"{_string(ev, 0)} {_string(ev, 1)}"
    return details


def _tcp(verb: str, emoji: str) -> Callable[[KprobeEvent], tuple[str, str, str]]:
    """tcp_connect, tcp_close: "tcp SADDR:SPORT -> DADDR:DPORT" of the sock."""
    def details(ev: KprobeEvent) -> tuple[str, str, str]:
        return emoji, verb, _sock(ev)
    return details


def _sock(ev: KprobeEvent) -> str:
    a = _arg(ev, 0)
    s = a.value if a is not None and a.key == "sock_arg" else None
    if not isinstance(s, SockFields):
        return "tcp :0 -> :0"  # GetSockArg() of another type: its empty fields
    return f"tcp {s.saddr}:{s.sport} -> {s.daddr}:{s.dport}"


def _truncate(ev: KprobeEvent, function: str, key: str) -> tuple[str, str, str]:
    if not ev.args:
        return "❓", function, ""
    return "📝", "truncate", _file(ev, 0, key)


# syscall (without its prefix) -> (emoji, verb, details) of its line.
_LINES: dict[str, Callable[[KprobeEvent], tuple[str, str, str]]] = {
    "sys_write": _sizes("write", "📝"),
    "sys_read": _sizes("read", "📚"),
    "sys_openat": lambda ev: ("📬️", "openat", _string(ev, 1)),
    "sys_open": lambda ev: ("📬️", "open", _string(ev, 1)),
    "sys_close": lambda ev: ("📪", "close", _file(ev, 0)),
    "sys_mount": _two_strings("mount", "💾"),
    "sys_pivot_root": _two_strings("pivot_root", "💾"),
    "sys_setuid": lambda ev: ("🔑", "setuid", str(_number(ev, 0, "int_arg"))),
    "sys_setns": lambda ev: ("🔧", "setns", _NS_NAMES.get(_number(ev, 1, "int_arg"), "")),
    "fd_install": lambda ev: ("📬", "open", _file(ev, 1)),
    "tcp_connect": _tcp("connect", "🔌"),
    "tcp_close": _tcp("close", "\U0001F9F9"),
    "tcp_sendmsg": lambda ev: ("📤", "sendmsg",
                               f"{_sock(ev)} bytes {_number(ev, 1, 'int_arg')}"),
    "security_file_permission": _file_permission,
    "security_mmap_file": _mmap,
    "security_path_truncate": lambda ev: _truncate(ev, "security_path_truncate", "path_arg"),
    "security_file_truncate": lambda ev: _truncate(ev, "security_file_truncate", "file_arg"),
}


def kprobe_line(ev: KprobeEvent, process: str, escape: Callable[[str], str]) -> str:
    """The line after its process part (`process`: node, binary, arguments)."""
    name = ev.function_name
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    if name == "sys_clock_settime":
        return f"⏰ {'clock_settime':<7} {process}"
    line = _LINES.get(name)
    if line is None:
        return f"❓ {'syscall':<7} {process} {escape(ev.function_name)}"
    emoji, verb, details = line(ev)
    return f"{emoji} {verb:<7} {process} {escape(details)}"

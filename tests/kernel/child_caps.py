"""Source text that test children (run as `python -c` or from a file) start
with: libc through ctypes, and capset(2) changes of their own capability sets."""

CAPS_PRELUDE = """\
import ctypes
libc = ctypes.CDLL(None, use_errno=True)

def check(rc, what):
    if rc != 0:
        raise OSError(ctypes.get_errno(), what)

class Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

class Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]

def change_caps(drop_effective, inherit=()):
    hdr, data = Header(0x20080522, 0), (Data * 2)()  # _LINUX_CAPABILITY_VERSION_3
    check(libc.capget(ctypes.byref(hdr), data), "capget")
    for bit in drop_effective:
        data[bit // 32].effective &= ~(1 << (bit % 32))
    for bit in inherit:
        data[bit // 32].inheritable |= 1 << (bit % 32)
    check(libc.capset(ctypes.byref(hdr), data), "capset")
"""

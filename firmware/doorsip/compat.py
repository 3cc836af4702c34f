# Differences between MicroPython and CPython, detected by feature, in one place
# (DESIGN.md section 2). Everything else in firmware/ imports from here instead of
# probing the interpreter itself.
import sys

MICROPYTHON = sys.implementation.name == "micropython"

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

try:
    import micropython as _mp

    def schedule(func, arg):
        _mp.schedule(func, arg)
except ImportError:
    _mp = None

    def schedule(func, arg):
        func(arg)

import time as _time

# ticks_* semantics on both interpreters: a wrapping millisecond counter compared
# only through ticks_diff. CPython gets a 2**30 period too, so wrap bugs show up in
# CPython tests as well.
_TICKS_PERIOD = const(1 << 30)
_TICKS_HALF = const(1 << 29)
_TICKS_MASK = const((1 << 30) - 1)

if hasattr(_time, "ticks_ms"):
    ticks_ms = _time.ticks_ms
    ticks_us = _time.ticks_us
    ticks_add = _time.ticks_add
    ticks_diff = _time.ticks_diff
    sleep_ms = _time.sleep_ms
else:
    def ticks_ms():
        return _time.monotonic_ns() // 1000000 & _TICKS_MASK

    def ticks_us():
        return _time.monotonic_ns() // 1000 & _TICKS_MASK

    def ticks_add(ticks, delta):
        return (ticks + delta) & _TICKS_MASK

    def ticks_diff(a, b):
        return ((a - b + _TICKS_HALF) & _TICKS_MASK) - _TICKS_HALF

    def sleep_ms(ms):
        _time.sleep(ms / 1000)


def heap_info():
    """(used, free) heap in bytes after a collection; (None, None) where unknown."""
    try:
        import gc
        gc.collect()
        return gc.mem_alloc(), gc.mem_free()
    except (ImportError, AttributeError):
        return None, None


try:
    import hashlib as _hashlib
except ImportError:  # some MicroPython ports name it uhashlib
    import uhashlib as _hashlib


def hash_hex(name, data):
    """Hex digest of data (bytes) with hashlib algorithm name ('md5', 'sha256')."""
    h = getattr(_hashlib, name)(data)
    return _hexlify(h.digest())


try:
    from binascii import hexlify as _bhex

    def _hexlify(b):
        return _bhex(b).decode()
except ImportError:
    def _hexlify(b):
        return "".join("%02x" % x for x in b)


try:
    import os as _os

    def random_bytes(n):
        return _os.urandom(n)
except (ImportError, AttributeError):
    import random as _random

    def random_bytes(n):
        return bytes(_random.getrandbits(8) for _ in range(n))

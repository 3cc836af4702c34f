# Differences between MicroPython and CPython, detected by feature, in one place
# (DESIGN.md section 2). Everything else in firmware/ imports from here instead of
# probing the interpreter itself. The stand-ins for a missing feature live in
# compat_fallback.py, loaded only where needed (MicroPython never pays for them).
import sys

MICROPYTHON = sys.implementation.name == "micropython"

try:
    from micropython import const, schedule
except ImportError:  # CPython
    from doorsip.compat_fallback import const, schedule

import time

# ticks_* semantics on both interpreters: a wrapping millisecond counter compared
# only through ticks_diff (compat_fallback gives CPython a 2**30 period too).
if hasattr(time, "ticks_ms"):
    from time import ticks_ms, ticks_us, ticks_add, ticks_diff, sleep_ms
else:
    from doorsip.compat_fallback import ticks_ms, ticks_us, ticks_add, ticks_diff, sleep_ms


# Module names rather than private aliases: names MicroPython already interns.
try:
    import hashlib
except ImportError:  # some MicroPython ports name it uhashlib
    import uhashlib as hashlib

try:
    from binascii import hexlify
except ImportError:
    from doorsip.compat_fallback import hexlify


def hash_hex(name, data):
    """Hex digest of data (bytes) with hashlib algorithm name ('md5', 'sha256')."""
    return hexlify(getattr(hashlib, name)(data).digest()).decode()


try:
    from os import urandom as random_bytes
except ImportError:
    from doorsip.compat_fallback import random_bytes


class Closing:
    """Context manager base: close() on exit and on any exception. Here, not in
    hal/, so the devices and the audio backends share one copy of the methods."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def text_line(text, k):
    """Line k (from 0) of text. Modules keep their error texts as the lines of one
    string: one heap object on MicroPython instead of one str object per text.
    Errors only: the lookup walks the lines."""
    i = 0
    for _ in range(k):
        i = text.find("\n", i) + 1
    end = text.find("\n", i)
    return text[i:] if end < 0 else text[i:end]


def forget(name):
    """Drop module `name` (dotted) from sys.modules and its package, so the heap
    its code takes comes back once nothing else holds its functions: boot-only
    code (devices_setup, audio_open) is forgotten this way after use."""
    sys.modules.pop(name, None)
    dot = name.rfind(".")
    package = sys.modules.get(name[:dot])
    if package is not None and name[dot + 1:] in package.__dict__:
        delattr(package, name[dot + 1:])

# compat.py's stand-ins for interpreters that lack a MicroPython feature (CPython,
# or a port built without one). A module of its own: MicroPython never loads it,
# so its code costs no heap there.
import time as _time


def const(x):
    return x


def schedule(func, arg):
    func(arg)


# ticks_* semantics on both interpreters: a wrapping millisecond counter compared
# only through ticks_diff. CPython gets a 2**30 period too, so wrap bugs show up in
# CPython tests as well.
_TICKS_HALF = 1 << 29
_TICKS_MASK = (1 << 30) - 1


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


def hexlify(b):
    return "".join("%02x" % x for x in b).encode()


async def stream_reader(stream):
    """CPython's asyncio.StreamReader over a pipe (MicroPython's takes the stream)."""
    import asyncio
    reader = asyncio.StreamReader()
    protocol = asyncio.StreamReaderProtocol(reader)
    await asyncio.get_running_loop().connect_read_pipe(lambda: protocol, stream)
    return reader


def random_bytes(n):
    import random
    return bytes(random.getrandbits(8) for _ in range(n))

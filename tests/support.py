# Helpers shared by the test files that run under both pytest (CPython) and the
# MicroPython runner (tests/mpy_runner.py): plain functions, no pytest features.
import sys

MICROPYTHON = sys.implementation.name == "micropython"


class SkipTest(Exception):
    """Raised by a test that does not apply on this interpreter; counted as skipped."""


def skip(reason):
    try:
        import pytest
        pytest.skip(reason)
    except ImportError:
        pass
    raise SkipTest(reason)


def micropython_heap_test(test_file):
    """The start of a tests/mpy heap test: skip it off MicroPython (gc.mem_alloc
    figures are MicroPython's) and put tests/unit (sip_harness) on the path, which
    the runner does only while it runs that folder."""
    if not MICROPYTHON:
        skip("gc.mem_alloc figures are MicroPython's")
    here = test_file.rsplit("/", 1)[0] if "/" in test_file else "."
    sys.path.append(here + "/../unit")


def udp_pair(low):
    """Two UDP sockets on 127.0.0.1 (doorsip.netio): (a, a's port, b, b's port),
    a's port from low, b's above it, both below low + 2000."""
    from doorsip import netio
    a, pa = netio.open_udp_free("127.0.0.1", low, low + 999)
    b, pb = netio.open_udp_free("127.0.0.1", pa + 1, low + 1999)
    return a, pa, b, pb


def raises(exc_type, func, *args, **kwargs):
    """Call func and return the exception it raised; fail unless it is exc_type."""
    try:
        func(*args, **kwargs)
    except exc_type as exc:
        return exc
    raise AssertionError("%s did not raise %s" % (getattr(func, "__name__", func), exc_type.__name__))

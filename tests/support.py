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


def raises(exc_type, func, *args, **kwargs):
    """Call func and return the exception it raised; fail unless it is exc_type."""
    try:
        func(*args, **kwargs)
    except exc_type as exc:
        return exc
    raise AssertionError("%s did not raise %s" % (getattr(func, "__name__", func), exc_type.__name__))

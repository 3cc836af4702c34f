# pytest: make firmware/ and tests/ importable the way MICROPYPATH does for the
# MicroPython runner, so the same test files run on both interpreters.
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for path in (os.path.join(ROOT, "firmware"), os.path.join(ROOT, "tests"), os.path.join(ROOT, "host_tools")):
    if path not in sys.path:
        sys.path.insert(0, path)

# The MicroPython test runner: imports every test_*.py in the folders given on the
# command line and calls each function whose name starts with test_. Ends with the
# line "N passed, N failed" (", N skipped" when some did not apply).
# Usage: MICROPYPATH=firmware:tests micropython tests/mpy_runner.py tests/unit [tests/mpy] [-k WORD]
# (-k WORD runs only the modules whose name contains WORD)
import gc
import os
import sys

from support import SkipTest


def _modules(folder):
    names = [n for n in os.listdir(folder) if n.startswith("test_") and n.endswith(".py")]
    names.sort()
    return [n[:-3] for n in names]


def main(argv):
    folders = []
    word = None
    i = 0
    while i < len(argv):
        if argv[i] == "-k":
            word = argv[i + 1]
            i += 2
            continue
        folders.append(argv[i])
        i += 1
    passed = failed = skipped = 0
    for folder in folders:
        sys.path.insert(0, folder)
        for name in _modules(folder):
            if word and word not in name:
                continue
            try:
                module = __import__(name)
            except SkipTest as exc:
                print("SKIP %s (%s)" % (name, exc))
                skipped += 1
                continue
            except Exception as exc:
                print("ERROR importing %s/%s.py" % (folder, name))
                sys.print_exception(exc)
                failed += 1
                continue
            tests = [t for t in dir(module) if t.startswith("test_")]
            tests.sort()
            for test in tests:
                func = getattr(module, test)
                if not callable(func):
                    continue
                try:
                    func()
                except SkipTest as exc:
                    skipped += 1
                    print("SKIP %s.%s: %s" % (name, test, exc))
                except Exception as exc:
                    failed += 1
                    print("FAIL %s.%s" % (name, test))
                    sys.print_exception(exc)
                else:
                    passed += 1
                gc.collect()
            del sys.modules[name]
            gc.collect()
        sys.path.pop(0)
    line = "%d passed, %d failed" % (passed, failed)
    if skipped:
        line += ", %d skipped" % skipped
    print(line)
    if failed or not passed:
        sys.exit(1)


main(sys.argv[1:])

# Shared helpers for the CPython-side integration tests: locating the real
# MicroPython unix port and mpy-cross, compiling firmware/ to .mpy, running
# MicroPython with a fixed heap, requiring real peers (sipp, kamailio, ...), and a
# free UDP port on 127.0.0.1.
import os
import platform
import shutil
import socket
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIRMWARE = os.path.join(ROOT, "firmware")
TESTS = os.path.join(ROOT, "tests")
BIN = os.path.dirname(sys.executable)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(command):
    """Path of a peer program; under CI a missing peer fails the test, else skips."""
    path = shutil.which(command) or (os.path.join(BIN, command) if os.path.exists(os.path.join(BIN, command)) else None)
    if path:
        return path
    message = "%s is not installed (make test installs it when run as root)" % command
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def micropython():
    return require("micropython")


def free_udp_port():
    """A UDP port free on 127.0.0.1 just now (bound once, then released)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# mpy-cross -march of this machine, for the viper (native) kernels the unix port runs.
UNIX_MARCH = {"x86_64": "x64", "amd64": "x64", "i686": "x86"}.get(platform.machine().lower())


def compile_firmware(out_dir, sources=FIRMWARE, march=UNIX_MARCH):
    """Compile every .py under firmware/doorsip into out_dir as .mpy, same layout
    (march: native code target, this machine's by default)."""
    mpy_cross = require("mpy-cross")
    for folder, _dirs, files in os.walk(os.path.join(sources, "doorsip")):
        rel = os.path.relpath(folder, sources)
        os.makedirs(os.path.join(out_dir, rel), exist_ok=True)
        for name in files:
            if not name.endswith(".py"):
                continue
            src = os.path.join(folder, name)
            dst = os.path.join(out_dir, rel, name[:-3] + ".mpy")
            cmd = [mpy_cross, "-o", dst, "-s", os.path.join(rel, name)]
            if march:
                cmd.append("-march=" + march)
            subprocess.run(cmd + [src], check=True, capture_output=True)
    return out_dir


def run_micropython(script, heap="192K", path=(FIRMWARE, TESTS), args=(), timeout=60, input=None):
    """Run a MicroPython script file; return the CompletedProcess (text output)."""
    env = dict(os.environ)
    # .frozen keeps the port's built-in modules (asyncio) importable.
    env["MICROPYPATH"] = ":".join(tuple(path) + (".frozen",))
    cmd = [micropython(), "-X", "heapsize=" + heap, script] + list(args)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, input=input)

"""DTMF costs: in-band detector per 20 ms frame and RFC 4733 receive per packet,
on CPython and on the MicroPython unix port (viper kernels and plain Python).

Run: .venv/bin/python bench/bench_dtmf.py   (prints a table; ~10 s)
An ESP32 is roughly 50-75x slower than the x86 unix port (DESIGN.md section 2).
"""
import os
import subprocess
import sys

from sip_mix import TICKS_US  # bench/ (this script's folder) is on sys.path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MICROPYTHON = os.path.join(ROOT, ".venv", "bin", "micropython")

# Runs unchanged under both interpreters; prints "name microseconds-per-call" lines.
SCRIPT = r'''
import math, struct, sys
''' + TICKS_US + r'''from doorsip.media.dtmf import Rfc4733Receiver
from doorsip.media.dtmf_inband import InbandDetector

FRAMES = int(sys.argv[1]) if len(sys.argv) > 1 else 200
buf = bytearray(320 * 10)
for k in range(1600):
    t = k / 8000.0
    v = 6000 * math.sin(2 * math.pi * 852 * t) + 6000 * math.sin(2 * math.pi * 1477 * t) if k < 800 else 0
    struct.pack_into("<h", buf, 2 * k, int(v))
mv = memoryview(buf)
frames = [mv[i:i + 320] for i in range(0, len(buf), 320)]

def bench_detector(det, label):
    # tone frames run all 12 filters (the worst case); silent frames skip them
    for name, first in (("tone", 0), ("silence", 5)):
        for f in frames:
            det.process(f)
        t0 = ticks_us()
        for i in range(FRAMES):
            det.process(frames[first + i % 5])
        print(label + "_" + name, ticks_diff(ticks_us(), t0) / FRAMES)

bench_detector(InbandDetector(), "inband_default")
bench_detector(InbandDetector(force_python=True, allow_slow=True), "inband_python")

packets = []
for i in range(8):
    packets.append(struct.pack(">BBH", 5, 10 | (0x80 if i >= 5 else 0), 160 * (i + 1 if i < 5 else 5)))
rx = Rfc4733Receiver()
N = FRAMES * 20
t0 = ticks_us()
ts = 0
for i in range(N):
    j = i & 7
    if j == 0:
        ts += 2000
    rx.receive(packets[j], ts, i * 20)
    rx.next_digit()
print("rfc4733_receive", ticks_diff(ticks_us(), t0) / N)
'''


def run(cmd, env=None):
    out = subprocess.run(cmd, input=None, capture_output=True, text=True, timeout=120, env=env)
    if out.returncode:
        raise SystemExit("benchmark failed: %s\n%s" % (" ".join(cmd), out.stderr))
    result = {}
    for line in out.stdout.splitlines():
        name, value = line.split()
        result[name] = float(value)
    return result


def main():
    script = os.path.join(ROOT, "bench", ".bench_dtmf_script.py")
    with open(script, "w") as f:
        f.write(SCRIPT)
    try:
        env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "firmware"),
                   MICROPYPATH=os.path.join(ROOT, "firmware"))
        rows = [("CPython " + sys.version.split()[0], run([sys.executable, script, "100"], env))]
        if os.path.exists(MICROPYTHON):
            rows.append(("MicroPython unix", run([MICROPYTHON, "-X", "heapsize=1M", script, "300"], env)))
    finally:
        os.unlink(script)
    print("%-20s %-8s %14s %14s %18s" % ("interpreter", "frame", "inband viper", "inband python",
                                         "rfc4733 rx /pkt"))
    for name, r in rows:
        for frame in ("tone", "silence"):
            viper = r["inband_default_" + frame] if "MicroPython" in name else None
            print("%-20s %-8s %14s %14s %18s" % (
                name, frame, "%.1f us" % viper if viper is not None else "n/a",
                "%.1f us" % r["inband_python_" + frame],
                "%.2f us" % r["rfc4733_receive"] if frame == "tone" else ""))
    print("(per 20 ms frame of 160 samples: budget 20000 us; an ESP32 is ~50-75x the unix port)")


if __name__ == "__main__":
    main()

# Heap cost and speed of the boot-time configuration path (config.load, board
# load/validate) and of the device poll loop, on the MicroPython unix port
# (64-bit; an ESP32 build uses less heap, runs ~50-75x slower) and on CPython.
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "firmware"))
sys.path.insert(0, os.path.join(ROOT, "tests", "unit"))
sys.path.insert(0, os.path.join(ROOT, "tests"))
MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")

SCRIPT = r"""
import gc, sys, time
gc.collect(); a = gc.mem_alloc()
from doorsip import config, board
gc.collect(); b = gc.mem_alloc()
cfg = config.load(sys.argv[1])
bd = board.load_board("esp32-devkitc", sys.argv[2])
gc.collect(); c = gc.mem_alloc()
config.release()
del config, board
gc.collect(); d = gc.mem_alloc()
from doorsip import config
t = time.ticks_us()
for i in range(50):
    config.validate(cfg)
v = time.ticks_diff(time.ticks_us(), t) / 50
from doorsip.hal.devices import Button, Relay, Led
from doorsip.hal.sim_pins import SimPins
pins = SimPins(now_ms=0)
devs = [Button(pins, 1), Relay(pins, 2), Led(pins, 3)]
devs[2].pattern("ringing", 0)
t = time.ticks_us()
for now in range(0, 10000, 10):
    for dev in devs:
        dev.poll(now)
p = time.ticks_diff(time.ticks_us(), t) / 1000
print(b - a, c - b, d - a, v, p)
"""


def main():
    from test_config import EXAMPLE
    from doorsip.config import save, validate
    tmp = tempfile.mkdtemp()
    path = os.path.join(tmp, "config.json")
    save(path, EXAMPLE)
    script = os.path.join(tmp, "bench.py")
    with open(script, "w") as f:
        f.write(SCRIPT)
    env = dict(os.environ, MICROPYPATH=os.path.join(ROOT, "firmware"))
    out = subprocess.run([MICROPYTHON, "-X", "heapsize=256K", script, path, os.path.join(ROOT, "boards")],
                         env=env, capture_output=True, text=True, timeout=60)
    if out.returncode:
        print(out.stderr)
        sys.exit(1)
    code, data, kept, v_us, poll_us = [float(x) for x in out.stdout.split()]
    t = time.perf_counter()
    for _ in range(200):
        validate(EXAMPLE)
    cpy_v = (time.perf_counter() - t) / 200 * 1e6
    print("%-52s %12s" % ("measure", "value"))
    print("%-52s %10d B" % ("MicroPython heap: import config+board (source)", code))
    print("%-52s %10d B" % ("MicroPython heap: loaded config + board dicts", data))
    print("%-52s %10d B" % ("MicroPython heap kept after config.release()", kept))
    print("%-52s %9.0f us" % ("MicroPython validate(example config)", v_us))
    print("%-52s %9.0f us" % ("CPython validate(example config)", cpy_v))
    print("%-52s %9.1f us" % ("MicroPython poll of Button+Relay+Led (per tick)", poll_us))


main()

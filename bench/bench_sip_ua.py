# SIP UA benchmark: full calls (INVITE/180/200/ACK/INFO/BYE/200) between two sans-IO
# UserAgents on the in-memory harness network, on CPython and on the MicroPython unix
# port; plus, on MicroPython, the heap the SIP modules and one live call cost.
# Usage: .venv/bin/python bench/bench_sip_ua.py   (spawns micropython itself)
import os
import sys

try:
    HERE = os.path.dirname(os.path.abspath(__file__))
except AttributeError:  # MicroPython child: no os.path, not needed there
    HERE = "bench"
CALLS = 200


def _now_us():
    try:
        import time
        return time.ticks_us()
    except AttributeError:
        import time
        return int(time.perf_counter() * 1000000)


def _us_diff(a, b):
    try:
        import time
        return time.ticks_diff(a, b)
    except AttributeError:
        return a - b


def measure():
    import gc
    gc.collect()
    heap0 = gc.mem_alloc() if hasattr(gc, "mem_alloc") else None
    from doorsip.sip import useragent  # noqa: F401  (import cost)
    gc.collect()
    heap1 = gc.mem_alloc() if heap0 is not None else None
    from sip_harness import EventLog, Network
    net = Network()
    door = net.ua("door", port=5060)
    flat = net.ua("flat", port=5062)
    ld, lf = EventLog(door), EventLog(flat)
    offer = b"v=0\r\no=door 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8 101\r\n"
    live = None
    start = _now_us()
    for i in range(CALLS):
        call = door.invite("sip:flat@127.0.0.1:5062", offer, net.now)
        net.run_until(lambda: lf.has("incoming_call"), 2000)
        inc = lf.first("incoming_call").call
        flat.answer(inc, 180, now_ms=net.now)
        flat.answer(inc, 200, offer, now_ms=net.now)
        net.run_until(lambda: lf.has("answered"), 2000)
        door.send_info(call, "application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n", now_ms=net.now)
        net.run_until(lambda: lf.has("info"), 2000)
        if i == 0 and heap0 is not None:
            net.run(40000)   # only the dialogs remain
            net.log = []
            ld.all = []
            lf.all = []
            gc.collect()
            before_bye = gc.mem_alloc()
        door.bye(call, net.now)
        net.run_until(lambda: lf.has("call_ended") and ld.has("call_ended"), 2000)
        if i == 0 and heap0 is not None:
            del call, inc
            net.run(40000)
            net.log = []
            ld.all = []
            lf.all = []
            gc.collect()
            live = before_bye - gc.mem_alloc()
        ld.all = []
        lf.all = []
        net.log = []
    elapsed = _us_diff(_now_us(), start)
    assert door.stats["errors"] == 0 and flat.stats["errors"] == 0
    import_cost = heap1 - heap0 if heap0 is not None else None
    return elapsed, import_cost, live


def child():
    elapsed, import_cost, live = measure()
    print("RESULT %d %s %s" % (elapsed, import_cost, live))


def main():
    import subprocess
    root = os.path.dirname(HERE)
    sys.path[:0] = [os.path.join(root, "firmware"), os.path.join(root, "tests", "unit"),
                    os.path.join(root, "tests")]
    rows = []
    elapsed, _, _ = measure()
    rows.append(("CPython %d.%d" % sys.version_info[:2], elapsed, None, None))
    mp = os.path.join(os.path.dirname(sys.executable), "micropython")
    if os.path.exists(mp):
        env = dict(os.environ)
        env["MICROPYPATH"] = ":".join([os.path.join(root, "firmware"), os.path.join(root, "tests", "unit"),
                                       os.path.join(root, "tests")])
        out = subprocess.run([mp, "-X", "heapsize=2M", os.path.abspath(__file__), "--child"], env=env,
                             capture_output=True, text=True, timeout=300)
        line = [x for x in out.stdout.splitlines() if x.startswith("RESULT")]
        if not line:
            print(out.stdout, out.stderr)
            sys.exit(1)
        _, us, imp, live = line[0].split()
        rows.append(("MicroPython (unix, x86-64)", int(us), imp, live))
    print("SIP UA: %d full calls (INVITE 180 200 ACK INFO 200 BYE 200) over the in-memory network" % CALLS)
    print("%-28s %12s %12s %22s %26s" % ("interpreter", "ms/call", "calls/s", "sip import heap (B)",
                                         "one live call, both UAs"))
    for name, us, imp, live in rows:
        print("%-28s %12.2f %12.0f %22s %26s" % (name, us / 1000.0 / CALLS, CALLS * 1e6 / us,
                                                 imp if imp not in (None, "None") else "-",
                                                 live if live not in (None, "None") else "-"))
    print("(harness time included; import heap: doorsip.sip.useragent and what it imports, from .py")
    print(" source; a real ESP32 is roughly 50-75x slower than the unix port)")


if "--child" in sys.argv:
    child()
elif __name__ == "__main__":
    main()

# MicroPython only: what the SIP core keeps on the heap. A UA with one established
# call stays within a small budget, and twenty calls in a row leave nothing behind
# (every call, dialog and transaction is released once its timers end).
import gc
import sys

from support import skip

if sys.implementation.name != "micropython":
    skip("gc.mem_alloc figures are MicroPython's")

# The harness lives in tests/unit, which the runner puts on the path only while it runs
# that folder.
_HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path.append(_HERE + "/../unit")

from sip_harness import EventLog, Network  # noqa: E402

OFFER = (b"v=0\r\no=door 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
         b"m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n")


def _settle(net, ld, lf):
    net.run(40000)   # transactions linger up to 32 s (timers D, J, L, M)
    net.log = []
    ld.all = []
    lf.all = []
    gc.collect()
    return gc.mem_alloc()


def _call(net, door, flat, ld, lf):
    call = door.invite("sip:flat@127.0.0.1:5062", OFFER, net.now)
    assert net.run_until(lambda: lf.has("incoming_call"), 2000)
    inc = lf.first("incoming_call").call
    flat.answer(inc, 180, now_ms=net.now)
    flat.answer(inc, 200, OFFER, now_ms=net.now)
    assert net.run_until(lambda: lf.has("answered"), 2000)
    return call


def _calls(net, door, flat, ld, lf, count):
    for _ in range(count):
        call = _call(net, door, flat, ld, lf)
        door.bye(call, net.now)
        call = None
        assert net.run_until(lambda: lf.has("call_ended") and ld.has("call_ended"), 2000)
        ld.all = []
        lf.all = []


def test_live_call_budget_and_no_leak_over_twenty_calls():
    net = Network()
    door = net.ua("door", port=5060)
    flat = net.ua("flat", port=5062)
    ld, lf = EventLog(door), EventLog(flat)
    baseline = _settle(net, ld, lf)
    call = _call(net, door, flat, ld, lf)
    live = _settle(net, ld, lf) - baseline
    # Both UAs together: two calls, two dialogs, the SDP bodies, the INVITE server
    # transaction's request kept for the call. Measured about 10 KB on the 64-bit port.
    assert 2000 < live < 14000, live
    door.bye(call, net.now)
    call = None
    assert net.run_until(lambda: lf.has("call_ended") and ld.has("call_ended"), 2000)
    # Steady state first (tables reach their size), then twenty more calls must not
    # grow the heap. (Measured from a baseline after ten calls: the GC is conservative
    # and a stale stack word may keep one old call alive for a while.)
    _calls(net, door, flat, ld, lf, 10)
    steady = _settle(net, ld, lf)
    _calls(net, door, flat, ld, lf, 20)
    after = _settle(net, ld, lf)
    assert len(door.layer) == 0 and len(flat.layer) == 0 and door.calls == [] and flat.calls == []
    assert after - steady < 1024, after - steady
    assert door.stats["errors"] == 0 and flat.stats["errors"] == 0

# MicroPython only: what the SIP core keeps on the heap. A UA with one established
# call stays within a small budget, and twenty calls in a row leave nothing behind
# (every call, dialog and transaction is released once its timers end).
import gc

from support import micropython_heap_test

micropython_heap_test(__file__)

from sip_harness import OFFER_DTMF as OFFER, pair, ring  # noqa: E402


def _settle(net, ld, lf):
    net.run(40000)   # transactions linger up to 32 s (timers D, J, L, M)
    net.log = []
    ld.all = []
    lf.all = []
    gc.collect()
    return gc.mem_alloc()


def _call(net, door, flat, ld, lf):
    call, inc = ring(net, door, flat, lf, OFFER)
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
    net, door, flat, ld, lf = pair()
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

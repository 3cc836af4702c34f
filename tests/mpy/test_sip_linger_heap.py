# MicroPython only: what an ended call leaves on the heap while its transactions still
# linger (RFC 3261 17.1.1.2 / 17.2.2 / RFC 6026: up to 32 s absorbing retransmissions).
# Twenty quick calls in a row, the clock never reaching the linger timers: lingering
# transactions keep only the bytes they may resend and their matching key, never the
# parsed request or the ended Call, so the heap grows by their small fixed share only.
import gc

from support import micropython_heap_test

micropython_heap_test(__file__)

from sip_harness import OFFER_DTMF as OFFER, pair, ring  # noqa: E402

CALLS = 20
# Heap growth allowed over the twenty calls, both UAs together: each UA's table is
# full (24 lingering transactions), each keeping its key, small fields and the bytes it
# may resend. Measured on the 64-bit unix port: 29.0 KB (about 600 bytes a transaction);
# 141 KB (2.9 KB a transaction) while they still held the parsed request and the Call.
MAX_GROWTH = 40000


def _one_call(net, door, flat, ld, lf):
    call, inc = ring(net, door, flat, lf, OFFER)
    flat.answer(inc, 200, OFFER, now_ms=net.now)
    assert net.run_until(lambda: lf.has("answered") and ld.has("answered"), 2000)
    flat.send_info(inc, "application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n", net.now)
    assert net.run_until(lambda: ld.has("info"), 2000)
    door.bye(call, net.now)
    assert net.run_until(lambda: lf.has("call_ended") and ld.has("call_ended"), 2000)
    net.log = []
    ld.all = []
    lf.all = []


def _heap():
    gc.collect()
    return gc.mem_alloc()


def test_twenty_calls_inside_the_linger_time_keep_no_call():
    net, door, flat, ld, lf = pair()
    _one_call(net, door, flat, ld, lf)       # modules loaded, tables at their size
    net.run(40000)
    start_ms = net.now
    baseline = _heap()
    for _ in range(CALLS):
        _one_call(net, door, flat, ld, lf)
    elapsed = net.now - start_ms
    growth = _heap() - baseline
    lingering = len(door.layer) + len(flat.layer)
    print("  %d calls in %d ms: heap +%d bytes, %d lingering transactions" % (
        CALLS, elapsed, growth, lingering))
    assert elapsed < 30000, elapsed   # no linger timer (D, J, L, M: 32 s) has fired
    assert lingering >= 24, lingering
    assert growth < MAX_GROWTH, growth
    assert door.stats["errors"] == 0 and flat.stats["errors"] == 0

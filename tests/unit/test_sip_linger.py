# What a transaction keeps once it only absorbs retransmissions (RFC 3261 17.1.1.2,
# 17.1.2.2, 17.2.1, 17.2.2, RFC 6026: up to 32 s after the call): its key, the bytes it
# may resend (last response, ACK), never the parsed request or the ended Call. And it
# still does its job: retransmissions within the linger time get the same answers.
import gc
import sys

from sip_harness import ANSWER, DOOR, FLAT, FLAT_URI, OFFER, pair, ring
from support import skip

from doorsip.sip.message import parse
from doorsip.sip.transaction import ACCEPTED, COMPLETED, CONFIRMED, ICT, IST

INFO = b"Signal=5\r\nDuration=160\r\n"


def _setup():
    net, door, flat, ld, lf = pair()
    wire = []    # every datagram sent: (data, src, dst)

    def record(data, src, dst):
        wire.append((data, src, dst))
        return False
    net.filters.append(record)
    return net, door, flat, ld, lf, wire


def _answered_call(net, door, flat, ld, lf):
    call, inc = ring(net, door, flat, lf)
    flat.answer(inc, 200, ANSWER, now_ms=net.now)
    assert net.run_until(lambda: lf.has("answered") and ld.has("answered"), 2000)
    return call, inc


def _lingering(ua):
    return list(ua.layer._txs.values())


def _assert_nothing_kept(*uas):
    for ua in uas:
        txs = _lingering(ua)
        assert txs, ua.user
        for tx in txs:
            assert tx.state in (COMPLETED, CONFIRMED, ACCEPTED), (ua.user, tx.method, tx.state)
            assert tx.request is None, (ua.user, tx.method, tx.state)
            assert tx.owner is None, (ua.user, tx.method, tx.state)


def _sent(wire, start, src, word):
    return [d for d, s, _ in wire[start:] if s == src and d.startswith(word)]


def test_after_a_call_lingering_transactions_keep_no_request_and_no_call():
    net, door, flat, ld, lf, wire = _setup()
    call, inc = _answered_call(net, door, flat, ld, lf)
    # Live call: the INVITE transactions are Accepted and still know their call (the
    # caller passes a retransmitted 2xx up), but hold no parsed request any more.
    for ua in (door, flat):
        for tx in _lingering(ua):
            if tx.method == "INVITE":
                assert tx.state == ACCEPTED and tx.request is None
                assert tx.owner is (call if ua is door else None)
    assert call.invite_headers is None   # final response: no CANCEL any more
    flat.send_info(inc, "application/dtmf-relay", INFO, net.now)
    door.send_info(call, "application/dtmf-relay", INFO, net.now)
    assert net.run_until(lambda: ld.has("info") and lf.has("info"), 2000)
    door.bye(call, net.now)
    assert net.run_until(lambda: ld.has("call_ended") and lf.has("call_ended"), 2000)
    # INVITE, INFO both ways and BYE: three transactions on each side, all lingering.
    assert sorted(tx.method for tx in _lingering(door)) == ["BYE", "INFO", "INFO", "INVITE"]
    assert sorted(tx.method for tx in _lingering(flat)) == ["BYE", "INFO", "INFO", "INVITE"]
    _assert_nothing_kept(door, flat)
    # What they do keep: the caller's INVITE transaction the ACK of the 2xx, the BYE
    # server transaction its 200; the callee's INVITE transaction, its 2xx ACKed,
    # nothing (RFC 6026 7.1: a retransmitted INVITE is absorbed).
    ict = [tx for tx in _lingering(door) if tx.kind == ICT][0]
    assert ict.ack == _sent(wire, 0, DOOR, b"ACK ")[0]
    ist = [tx for tx in _lingering(flat) if tx.kind == IST][0]
    assert ist.state == ACCEPTED and ist.last is None
    nist = [tx for tx in _lingering(flat) if tx.method == "BYE"][0]
    assert nist.last == [d for d in _sent(wire, 0, FLAT, b"SIP/2.0 200 ")
                         if parse(d).cseq[1] == "BYE"][0]
    net.run(40000)
    assert len(door.layer) == 0 and len(flat.layer) == 0
    assert door.stats["errors"] == 0 and flat.stats["errors"] == 0


def test_callee_hangup_rejected_and_cancelled_calls_keep_nothing_either():
    # Callee hangs up.
    net, door, flat, ld, lf, wire = _setup()
    call, inc = _answered_call(net, door, flat, ld, lf)
    flat.bye(inc, net.now)
    assert net.run_until(lambda: ld.has("call_ended") and lf.has("call_ended"), 2000)
    _assert_nothing_kept(door, flat)
    # Rejected: the callee's INVITE transaction Completed (then Confirmed by the ACK),
    # the caller's Completed with the ACK of the 486.
    net, door, flat, ld, lf, wire = _setup()
    door.invite(FLAT_URI, OFFER, net.now)
    assert net.run_until(lambda: lf.has("incoming_call"), 2000)
    flat.answer(lf.first("incoming_call").call, 486, now_ms=net.now)
    assert net.run_until(lambda: ld.has("call_failed"), 2000)
    net.run(100)
    _assert_nothing_kept(door, flat)
    assert [tx.state for tx in _lingering(flat)] == [CONFIRMED]
    assert [tx.ack[:4] for tx in _lingering(door)] == [b"ACK "]
    # Cancelled: the CANCEL and the INVITE with its 487, both sides.
    net, door, flat, ld, lf, wire = _setup()
    call, _inc = ring(net, door, flat, lf)
    assert net.run_until(lambda: ld.has("ringing"), 2000)
    door.cancel(call, net.now)
    assert net.run_until(lambda: ld.has("call_failed") and lf.has("call_ended"), 2000)
    net.run(100)
    assert sorted(tx.method for tx in _lingering(flat)) == ["CANCEL", "INVITE"]
    _assert_nothing_kept(door, flat)
    assert door.stats["errors"] == 0 and flat.stats["errors"] == 0


def test_retransmissions_after_the_call_still_get_the_same_answers():
    net, door, flat, ld, lf, wire = _setup()
    call, inc = _answered_call(net, door, flat, ld, lf)
    door.bye(call, net.now)
    assert net.run_until(lambda: ld.has("call_ended") and lf.has("call_ended"), 2000)
    _assert_nothing_kept(door, flat)
    invite = _sent(wire, 0, DOOR, b"INVITE ")[0]
    bye = _sent(wire, 0, DOOR, b"BYE ")[0]
    ok = [d for d in _sent(wire, 0, FLAT, b"SIP/2.0 200 ") if parse(d).cseq[1] == "INVITE"][0]
    ok_bye = [d for d in _sent(wire, 0, FLAT, b"SIP/2.0 200 ") if parse(d).cseq[1] == "BYE"][0]
    ack = _sent(wire, 0, DOOR, b"ACK ")[0]
    mark = len(wire)
    # The BYE again (its 200 lost): the same 200 (17.2.2). The INVITE again: absorbed
    # by the callee's Accepted transaction, its 2xx was ACKed (RFC 6026 7.1).
    net.send(bye, DOOR, FLAT)
    net.send(invite, DOOR, FLAT)
    # The 2xx again (our ACK lost): the ended call's INVITE transaction ACKs it again
    # with the same ACK (13.2.2.4).
    net.send(ok, FLAT, DOOR)
    net.run(200)
    # What went on the wire since: the three datagrams injected, then exactly the
    # 200 to the BYE and the ACK, nothing else.
    sent = [d for d, _, _ in wire[mark:]]
    assert sent[:3] == [bye, invite, ok] and sorted(sent[3:]) == sorted([ok_bye, ack])
    assert ld.kinds() == ["ringing", "answered", "call_ended"]
    assert lf.kinds() == ["incoming_call", "answered", "call_ended"]
    assert door.stats["errors"] == 0 and flat.stats["errors"] == 0


def test_an_ended_call_is_garbage_while_its_transactions_linger():
    if sys.implementation.name == "micropython":
        skip("no weakref; tests/mpy/test_sip_linger_heap.py measures the heap instead")
    import weakref
    net, door, flat, ld, lf, wire = _setup()
    call, inc = _answered_call(net, door, flat, ld, lf)
    flat.send_info(inc, "application/dtmf-relay", INFO, net.now)
    assert net.run_until(lambda: ld.has("info"), 2000)
    door.bye(call, net.now)
    assert net.run_until(lambda: ld.has("call_ended") and lf.has("call_ended"), 2000)
    refs = [weakref.ref(call), weakref.ref(inc), weakref.ref(call.dialog), weakref.ref(inc.dialog)]
    call = inc = None
    ld.all = []
    lf.all = []
    gc.collect()
    assert len(door.layer) == 3 and len(flat.layer) == 3   # still lingering...
    assert [r() for r in refs] == [None, None, None, None]   # ...but the calls are gone

# RFC 3261 section 17 transactions (and the RFC 6026 Accepted state), driven by hand:
# bytes and times in, datagrams and TU callbacks out.
from support import raises, skip

from doorsip.sip import transaction as T
from doorsip.sip.message import build_request, build_response, parse

DEST = ("192.0.2.9", 5060)
PEER = ("192.0.2.20", 5070)


class TU:
    def __init__(self):
        self.responses = []
        self.timeouts = []

    def tx_response(self, tx, msg):
        self.responses.append(msg.status)

    def tx_timeout(self, tx):
        self.timeouts.append(tx.method)


def request(method, branch="z9hG4bKabc1", cseq=1, to_tag=None, via_host="192.0.2.20", uri="sip:b@192.0.2.9",
            cseq_method=None):
    to = "<sip:b@192.0.2.9>" + (";tag=" + to_tag if to_tag else "")
    return build_request(method, uri, [
        ("Via", "SIP/2.0/UDP %s:5070;branch=%s" % (via_host, branch)),
        ("From", "<sip:a@192.0.2.20>;tag=fa1"), ("To", to), ("Call-ID", "cid-1"),
        ("CSeq", "%d %s" % (cseq, cseq_method or method)), ("Max-Forwards", "70")])


def response_to(data, status, to_tag="tb9"):
    return parse(build_response(parse(data), status, None, (), b"", to_tag if status > 100 else None))


def layer(start=0, **kw):
    tu = TU()
    return tu, T.TransactionLayer(tu, **kw)


def start_client(method, branch="z9hG4bKabc1"):
    """A layer with a client transaction for request(method) sent at 0 on branch:
    (tu, layer, the request's bytes, the transaction)."""
    tu, lay = layer()
    data = request(method)
    return tu, lay, data, lay.client(method, data, branch, DEST, 0)


def start_server(method):
    """A layer with a server transaction for request(method) from PEER at 0:
    (tu, layer, the parsed request, the transaction)."""
    tu, lay = layer()
    msg = parse(request(method))
    return tu, lay, msg, lay.server(msg, PEER, 0)


def drain(lay):
    out = lay.out
    lay.out = []
    return [d for d, _ in out]


def run_timers(lay, until):
    """Fire every deadline up to `until`; returns the times timers fired."""
    fired = []
    while True:
        d = lay.next_deadline_ms()
        if d is None or T.ticks_diff(d, until) > 0:
            return fired
        lay.on_timer(d)
        fired.append(d)


def test_invite_client_timer_a_doubles_and_timer_b_times_out():
    tu, lay, data, tx = start_client("INVITE")
    assert drain(lay) == [data]
    fired = run_timers(lay, 40000)
    # Timer A: 500, 1000, 2000, ... after each send; timer B at 64*T1 = 32 s.
    assert fired == [500, 1500, 3500, 7500, 15500, 31500, 32000]
    assert drain(lay) == [data] * 6
    assert tu.timeouts == ["INVITE"] and tx.terminated()
    assert len(lay) == 0


def test_invite_client_acks_non_2xx_inside_the_transaction():
    tu, lay, data, tx = start_client("INVITE")
    drain(lay)
    lay.response(tx, response_to(data, 180), 100)
    assert tx.state == T.PROCEEDING and tu.responses == [180]
    run_timers(lay, 20000)
    assert drain(lay) == []          # no retransmission once a provisional arrived (17.1.1.2)
    busy = response_to(data, 486)
    assert lay.match_response(busy) is tx
    lay.response(tx, busy, 20000)
    out = drain(lay)
    assert len(out) == 1 and out[0].startswith(b"ACK sip:b@192.0.2.9 SIP/2.0")
    ack = parse(out[0])
    assert ack.cseq == (1, "ACK") and ack.via.params["branch"] == "z9hG4bKabc1"
    assert ack.to_tag == "tb9"
    # A retransmitted 486 is ACKed again and not passed up a second time.
    lay.response(tx, busy, 21000)
    assert drain(lay) == out and tu.responses == [180, 486]
    assert run_timers(lay, 60000) == [52000]   # timer D: 32 s on UDP
    assert tx.terminated() and lay.match_response(busy) is None


def test_invite_client_accepted_state_passes_retransmitted_2xx():
    tu, lay, data, tx = start_client("INVITE")
    ok = response_to(data, 200)
    lay.response(tx, ok, 50)
    assert tx.state == T.ACCEPTED
    lay.response(tx, ok, 600)
    assert tu.responses == [200, 200]   # the TU ACKs each 2xx (13.2.2.4)
    drain(lay)
    assert run_timers(lay, 100000) == [50 + 32000]   # timer M = 64*T1
    assert drain(lay) == [] and tx.terminated()


def test_non_invite_client_timer_e_caps_at_t2_then_f():
    tu, lay, data, _tx = start_client("OPTIONS", "z9hG4bKopt")
    fired = run_timers(lay, 40000)
    assert fired[:5] == [500, 1500, 3500, 7500, 11500]   # 500, 1000, 2000, 4000, 4000
    assert fired[-1] == 32000 and tu.timeouts == ["OPTIONS"]


def test_non_invite_client_proceeding_uses_t2_and_completed_absorbs():
    tu, lay, data, tx = start_client("BYE", "z9hG4bKbye")
    drain(lay)
    lay.response(tx, response_to(data, 100), 10)
    assert tx.state == T.PROCEEDING and tu.responses == [100]
    assert lay.next_deadline_ms() == 10 + 4000
    lay.response(tx, response_to(data, 200), 20)
    lay.response(tx, response_to(data, 200), 30)
    assert tu.responses == [100, 200] and tx.state == T.COMPLETED
    assert run_timers(lay, 10000) == [5020]   # timer K = T4
    assert tx.terminated()


def test_invite_server_sends_100_after_200_ms_and_resends_last_response():
    tu, lay, inv, tx = start_server("INVITE")
    assert lay.next_deadline_ms() == 200
    lay.on_timer(200)
    out = lay.out
    lay.out = []
    assert len(out) == 1 and out[0][0].startswith(b"SIP/2.0 100 Trying") and out[0][1] == PEER
    again = parse(request("INVITE"))
    assert lay.match_request(again) is tx
    lay.request(tx, again, 300)
    assert drain(lay) == [out[0][0]]
    ringing = build_response(inv, 180, None, (), b"", "tt1")
    tx.respond(ringing, 180, 400)
    lay.request(tx, again, 500)
    assert drain(lay) == [ringing, ringing]


def test_invite_server_no_100_when_answered_in_time():
    tu, lay, inv, tx = start_server("INVITE")
    tx.respond(build_response(inv, 180, None, (), b"", "x"), 180, 50)
    drain(lay)
    run_timers(lay, 1000)
    assert drain(lay) == []


def test_invite_server_non_2xx_timer_g_h_and_ack():
    tu, lay, inv, tx = start_server("INVITE")
    busy = build_response(inv, 486, None, (), b"", "tt2")
    tx.respond(busy, 486, 0, "tt2")
    assert drain(lay) == [busy]
    fired = run_timers(lay, 40000)
    assert fired[:4] == [500, 1500, 3500, 7500] and fired[-1] == 32000   # G, then H
    assert tu.timeouts == ["INVITE"] and tx.terminated()

    tu, lay = layer()
    tx = lay.server(inv, PEER, 0)
    tx.respond(busy, 486, 0, "tt2")
    drain(lay)
    ack = parse(request("ACK", cseq_method="ACK", to_tag="tt2"))
    assert lay.match_request(ack) is tx
    lay.request(tx, ack, 100)
    assert tx.state == T.CONFIRMED
    assert run_timers(lay, 10000) == [5100]   # timer I = T4; no G after the ACK
    assert drain(lay) == [] and tx.terminated()


def test_invite_server_2xx_retransmitted_until_ack_then_timer_l():
    tu, lay, inv, tx = start_server("INVITE")
    ok = build_response(inv, 200, None, (), b"", "tt3")
    tx.respond(ok, 200, 0, "tt3")
    drain(lay)
    assert tx.state == T.ACCEPTED
    run_timers(lay, 1600)
    assert drain(lay) == [ok, ok]   # 500 ms, 1500 ms (13.3.1.4)
    tx.ack_received(1600)
    assert run_timers(lay, 40000) == [32000] and drain(lay) == []
    assert tu.timeouts == [] and tx.terminated()


def test_invite_server_2xx_without_ack_reports_timeout():
    tu, lay, inv, tx = start_server("INVITE")
    tx.respond(build_response(inv, 200, None, (), b"", "t"), 200, 0)
    run_timers(lay, 40000)
    assert tu.timeouts == ["INVITE"] and tx.terminated()
    # sent at 0, then 500, 1500, 3500, 7500 and every 4 s (T2) up to 31500
    assert len(drain(lay)) == 1 + 10


def test_non_invite_server_absorbs_retransmissions_timer_j():
    tu, lay, msg, tx = start_server("OPTIONS")
    lay.request(tx, msg, 10)
    assert drain(lay) == []   # nothing to resend yet
    ok = build_response(msg, 200, None, (), b"", "t")
    tx.respond(ok, 200, 20)
    lay.request(tx, parse(request("OPTIONS")), 30)
    assert drain(lay) == [ok, ok]
    assert run_timers(lay, 60000) == [32020] and tx.terminated()


def test_illegal_transition_is_an_error():
    tu, lay, msg, tx = start_server("OPTIONS")
    tx.respond(build_response(msg, 200), 200, 0)
    raises(T.TransactionError, tx.respond, build_response(msg, 404), 404, 1)
    data = request("INVITE")
    ctx = lay.client("INVITE", data, "z9hG4bKc", DEST, 0)
    raises(T.TransactionError, ctx.respond, data, 200, 0)
    raises(T.TransactionError, lay.client, "INVITE", data, "z9hG4bKc", DEST, 0)


def test_client_matching_needs_branch_and_method():
    tu, lay = layer()
    inv = request("INVITE", branch="z9hG4bKm1")
    tx = lay.client("INVITE", inv, "z9hG4bKm1", DEST, 0)
    cancel = request("CANCEL", branch="z9hG4bKm1")
    ctx = lay.client("CANCEL", cancel, "z9hG4bKm1", DEST, 0)
    assert lay.match_response(response_to(inv, 180)) is tx
    assert lay.match_response(response_to(cancel, 200)) is ctx
    assert lay.match_response(response_to(request("INVITE", branch="z9hG4bKother"), 180)) is None


def test_server_matching_sent_by_method_and_cancel():
    tu, lay = layer()
    inv = parse(request("INVITE", branch="z9hG4bKs1"))
    tx = lay.server(inv, PEER, 0)
    assert lay.match_request(parse(request("INVITE", branch="z9hG4bKs1", via_host="192.0.2.21"))) is None
    assert lay.match_request(parse(request("BYE", branch="z9hG4bKs1"))) is None
    cancel = parse(request("CANCEL", branch="z9hG4bKs1"))
    assert lay.match_request(cancel) is None
    assert lay.match_cancel(cancel) is tx
    assert lay.match_cancel(parse(request("CANCEL", branch="z9hG4bKs2"))) is None


def test_rfc2543_fallback_matching_without_magic_cookie():
    tu, lay = layer()
    inv = parse(request("INVITE", branch="oldstyle1"))
    tx = lay.server(inv, PEER, 0)
    assert lay.match_request(parse(request("INVITE", branch="oldstyle1"))) is tx
    assert lay.match_request(parse(request("INVITE", branch="oldstyle1", cseq=2))) is None
    assert lay.match_request(parse(request("INVITE", branch="oldstyle1", uri="sip:c@192.0.2.9"))) is None
    tx.respond(build_response(inv, 404, None, (), b"", "tg"), 404, 0, "tg")
    ack = parse(request("ACK", branch="oldstyle1", cseq_method="ACK", to_tag="tg"))
    assert lay.match_request(ack) is tx
    wrong = parse(request("ACK", branch="oldstyle1", cseq_method="ACK", to_tag="other"))
    assert lay.match_request(wrong) is None


def test_table_cap_reaps_lingering_transactions_first():
    tu, lay = layer(max_transactions=2)
    a = parse(request("OPTIONS", branch="z9hG4bKa"))
    b = parse(request("OPTIONS", branch="z9hG4bKb"))
    ta = lay.server(a, PEER, 0)
    lay.server(b, PEER, 1)
    c = parse(request("OPTIONS", branch="z9hG4bKc"))
    raises(T.TransactionError, lay.server, c, PEER, 2)   # both still active
    ta.respond(build_response(a, 200), 200, 3)            # a now only lingers (Completed)
    lay.server(c, PEER, 4)
    assert ta.terminated() and len(lay) == 2


def test_timers_survive_the_ticks_wrap():
    start = (1 << 30) - 300
    tu, lay = layer()
    data = request("OPTIONS")
    lay.client("OPTIONS", data, "z9hG4bKw", DEST, start)
    d = lay.next_deadline_ms()
    # CPython's compat ticks wrap at 2**30 (200 here); the 64-bit unix port's period is larger.
    assert d == T.ticks_add(start, 500)
    lay.on_timer(T.ticks_add(start, 100))
    assert drain(lay) == [data]   # not due yet: only the first send
    lay.on_timer(d)
    assert drain(lay) == [data]


def test_transition_tables_are_complete_for_network_input():
    # Every response class and every retransmitted request is legal in every live state:
    # network input can never raise.
    tu, lay = layer()
    data = request("INVITE")
    for first in (180, 200, 486):
        tx = lay.client("INVITE", data, "z9hG4bK%d" % first, DEST, 0)
        lay.response(tx, response_to(data, first), 0)
        for status in (100, 183, 200, 404):
            lay.response(tx, response_to(data, status), 1)
    inv = parse(request("INVITE", branch="z9hG4bKn"))
    ack = parse(request("ACK", branch="z9hG4bKn", cseq_method="ACK", to_tag="z"))
    for status in (180, 200, 480):
        tu, lay = layer()
        tx = lay.server(inv, PEER, 0)
        lay.request(tx, ack, 0)
        tx.respond(build_response(inv, status, None, (), b"", "z"), status, 0)
        for _ in range(2):
            lay.request(tx, inv, 1)
            lay.request(tx, ack, 1)


def test_acked_invite_server_is_reaped_when_full():
    tu, lay = layer(max_transactions=1)
    inv = parse(request("INVITE", branch="z9hG4bKr1"))
    tx = lay.server(inv, PEER, 0)
    tx.respond(build_response(inv, 200, None, (), b"", "t"), 200, 0)
    other = parse(request("OPTIONS", branch="z9hG4bKr2"))
    raises(T.TransactionError, lay.server, other, PEER, 1)   # 2xx not yet ACKed
    tx.ack_received(2)
    lay.server(other, PEER, 3)
    assert tx.terminated()


def test_private_copies_of_the_constants_agree():
    # useragent.py spells out ICT, IST and ACCEPTED as private const()s (inlined by
    # MicroPython, where imported names would be globals): they must be these.
    here = globals().get("__file__", "tests/unit/test_sip_transaction.py").replace("\\", "/")
    sip = (here.rsplit("/", 1)[0] if "/" in here else ".") + "/../../firmware/doorsip/sip/"
    found = {}
    try:
        with open(sip + "useragent.py") as f:
            for line in f:
                line = line.split("#")[0].strip()
                if line.startswith("_") and " = const(" in line and line.endswith(")"):
                    name, value = line.split(" = const(")
                    found[name[1:]] = int(value[:-1], 0)
    except OSError:
        skip("firmware sources not found next to the tests")
    assert sorted(found) == ["ACCEPTED", "ICT", "IST"], found
    for name in found:
        assert getattr(T, name) == found[name], name


def test_errors_only_a_bug_causes_keep_their_texts():
    # Their texts live in tx_rare.py (loaded for them only); the messages are unchanged.
    tu, lay, data, tx = start_client("OPTIONS")
    exc = raises(T.TransactionError, tx.respond, b"SIP/2.0 200 OK\r\n\r\n", 200, 1)
    assert str(exc) == "respond() on a client transaction"
    exc = raises(T.TransactionError, lay.client, "OPTIONS", data, "z9hG4bKabc1", DEST, 1)
    assert str(exc) == "branch already in use"
    tu, lay, msg, tx = start_server("OPTIONS")
    exc = raises(T.TransactionError, lay.server, msg, PEER, 1)
    assert str(exc) == "request already has a transaction"

# The sans-IO UserAgent end to end: two UAs (and test registrars / auth gates) on the
# in-memory network of sip_harness, with a simulated clock, loss, duplication, reordering.
from sip_harness import (ANSWER, FLAT, FLAT_URI, OFFER, AuthGate, EventLog, Network, Registrar,
                         Stateless, pair, ring)

from doorsip.sip.message import build_request, build_response, parse

PBX = ("127.0.0.1", 5070)


class Sink(Stateless):
    """Records every datagram it receives (parsed)."""

    def receive(self, data, source, now_ms):
        self.requests.append(parse(data))   # our responses must parse


def no_errors(*uas):
    for ua in uas:
        assert ua.stats["errors"] == 0, ua.last_error


def auto_answer(net, flat, lf, status=200, body=ANSWER, ring=True):
    """Answer the next incoming call of flat as soon as it arrives."""
    assert net.run_until(lambda: lf.has("incoming_call"), 60000)
    call = lf.first("incoming_call").call
    if ring:
        flat.answer(call, 180, now_ms=net.now)
    flat.answer(call, status, body if status == 200 else b"", now_ms=net.now)
    return call


def test_full_call_invite_180_200_ack_bye():
    net, door, flat, ld, lf = pair()
    call = door.invite(FLAT_URI, OFFER, net.now)
    assert net.run_until(lambda: lf.has("incoming_call"), 1000)
    inc = lf.first("incoming_call")
    assert inc.uri == "sip:door@127.0.0.1" and inc.body == OFFER and inc.call.direction == "in"
    flat.answer(inc.call, 180, now_ms=net.now)
    assert net.run_until(lambda: ld.has("ringing"), 1000)
    assert ld.first("ringing").status == 180 and call.state == "early"
    flat.answer(inc.call, 200, ANSWER, now_ms=net.now)
    assert net.run_until(lambda: lf.has("answered"), 1000)
    assert ld.first("answered").body == ANSWER and call.state == "confirmed"
    assert inc.call.state == "confirmed" and inc.call.remote_sdp == OFFER
    net.run(5000)   # no retransmissions of the 200 once ACKed
    assert len(net.sent(b"200 OK")) == 1 and len(net.sent(b"ACK ")) == 1
    door.bye(call, net.now)
    assert net.run_until(lambda: ld.has("call_ended") and lf.has("call_ended"), 2000)
    assert ld.first("call_ended").reason == "local_bye"
    assert lf.first("call_ended").reason == "remote_bye"
    assert ld.kinds() == ["ringing", "answered", "call_ended"]
    assert lf.kinds() == ["incoming_call", "answered", "call_ended"]
    assert door.calls == [] and flat.calls == []
    net.run(40000)   # every transaction ends
    assert len(door.layer) == 0 and len(flat.layer) == 0
    no_errors(door, flat)


def test_callee_hangs_up_and_info_in_dialog():
    net, door, flat, ld, lf = pair()
    call = door.invite(FLAT_URI, OFFER, net.now)
    inc = auto_answer(net, flat, lf)
    assert net.run_until(lambda: ld.has("answered") and lf.has("answered"), 2000)
    door.send_info(call, "application/dtmf-relay", b"Signal=1\r\nDuration=160\r\n", now_ms=net.now)
    assert net.run_until(lambda: lf.has("info"), 1000)
    info = lf.first("info")
    assert info.content_type == "application/dtmf-relay" and info.body.startswith(b"Signal=1")
    assert info.call is inc
    flat.bye(inc, net.now)
    assert net.run_until(lambda: ld.has("call_ended"), 2000)
    assert ld.first("call_ended").reason == "remote_bye"
    no_errors(door, flat)


def test_100_trying_when_the_app_is_slow():
    net, door, flat, ld, lf = pair()
    door.invite(FLAT_URI, OFFER, net.now)
    net.run(1000)
    assert len(net.sent(b"100 Trying")) == 1
    assert len(net.sent(b"INVITE ")) == 1   # the 100 stopped timer A


def test_cancel_before_answer():
    net, door, flat, ld, lf = pair()
    seen = []
    net.filters.append(lambda data, src, dst: seen.append(parse(data)) and False)
    call = door.invite(FLAT_URI, OFFER, net.now)
    assert net.run_until(lambda: lf.has("incoming_call"), 1000)
    flat.answer(lf.first("incoming_call").call, 180, now_ms=net.now)
    assert net.run_until(lambda: ld.has("ringing"), 1000)
    door.cancel(call, net.now)
    assert net.run_until(lambda: ld.has("call_failed"), 5000)
    failed = ld.first("call_failed")
    assert failed.status == 487 and failed.reason == "cancelled"
    assert lf.first("call_ended").reason == "cancelled"
    assert len(net.sent(b"CANCEL ")) == 1 and len(net.sent(b"487 ")) == 1
    invite = [m for m in seen if m.method == "INVITE"][0]
    cancel = [m for m in seen if m.method == "CANCEL"][0]
    # 9.1: the CANCEL repeats the INVITE's top Via (branch), Request-URI, Call-ID,
    # From, To (no tag) and CSeq number.
    assert cancel.via.params["branch"] == invite.via.params["branch"]
    assert (cancel.uri, cancel.call_id, cancel.header("From"), cancel.header("To")) == \
        (invite.uri, invite.call_id, invite.header("From"), invite.header("To"))
    assert cancel.cseq == (invite.cseq[0], "CANCEL")
    ack = [m for m in seen if m.method == "ACK"][0]
    assert ack.via.params["branch"] == invite.via.params["branch"] and ack.to_tag
    assert door.calls == [] and flat.calls == []
    no_errors(door, flat)


def test_cancel_waits_for_a_provisional_response():
    net, door, flat, ld, lf = pair()
    net.filters.append(lambda data, src, dst: data.startswith(b"SIP/2.0 100"))
    call = door.invite(FLAT_URI, OFFER, net.now)
    door.cancel(call, net.now)
    net.run(100)
    assert net.sent(b"CANCEL ") == []     # 9.1: not before a provisional
    flat.answer(lf.first("incoming_call").call, 180, now_ms=net.now)
    assert net.run_until(lambda: ld.has("call_failed"), 5000)
    assert ld.first("call_failed").status == 487


def test_cancel_racing_a_200_ends_with_ack_and_bye():
    net, door, flat, ld, lf = pair(delay_ms=50)
    call, inc = ring(net, door, flat, lf, limit_ms=1000)
    assert net.run_until(lambda: ld.has("ringing"), 1000)
    # Both at once: the 200 and the CANCEL cross on the wire.
    flat.answer(inc, 200, ANSWER, now_ms=net.now)
    door.cancel(call, net.now)
    assert net.run_until(lambda: lf.has("call_ended"), 5000)
    failed = ld.first("call_failed")
    assert failed.status == 200 and failed.reason == "cancelled"
    assert len(net.sent(b"487 ")) == 0              # the INVITE was already answered
    assert len(net.sent(b"ACK ")) >= 1 and len(net.sent(b"BYE ")) == 1
    assert lf.kinds() == ["incoming_call", "answered", "call_ended"]
    assert lf.first("call_ended").reason == "remote_bye"
    assert [e.kind for e in ld.all].count("call_failed") == 1 and not ld.has("call_ended")
    no_errors(door, flat)


def test_cancel_race_with_lost_ack_is_reacked():
    net, door, flat, ld, lf = pair(delay_ms=50)
    acks = []
    byes = []

    def drop_first_ack(data, src, dst):
        # The first ACK and the first BYE are lost: the callee resends its 200 and
        # the caller, its call already failed, must still ACK it again.
        if data.startswith(b"ACK "):
            acks.append(1)
            return len(acks) == 1
        if data.startswith(b"BYE "):
            byes.append(1)
            return len(byes) == 1
        return False
    net.filters.append(drop_first_ack)
    call, inc = ring(net, door, flat, lf, limit_ms=1000)
    assert net.run_until(lambda: ld.has("ringing"), 1000)
    flat.answer(inc, 200, ANSWER, now_ms=net.now)
    door.cancel(call, net.now)
    assert net.run_until(lambda: lf.has("call_ended"), 5000)
    assert len(acks) == 2 and len(byes) == 2 and len(net.sent(b"200 OK")) >= 2
    assert lf.kinds() == ["incoming_call", "answered", "call_ended"]
    assert ld.first("call_failed").reason == "cancelled"
    assert lf.first("call_ended").reason == "remote_bye"
    no_errors(door, flat)


def test_rejected_call_busy_and_forbidden():
    for status in (486, 403, 488):
        net, door, flat, ld, lf = pair()
        call = door.invite(FLAT_URI, OFFER, net.now)
        auto_answer(net, flat, lf, status=status, ring=False)
        assert net.run_until(lambda: ld.has("call_failed"), 2000)
        assert ld.first("call_failed").status == status and call.state == "ended"
        assert lf.first("call_ended").reason == "rejected"
        net.run(40000)
        assert len(net.sent(b"ACK ")) == 1     # ACKed once, inside the transaction
        assert len(door.layer) == 0 and len(flat.layer) == 0
        no_errors(door, flat)


def test_call_limit_answers_busy():
    net, door, flat, ld, lf = pair({"max_calls": 1})
    door.invite(FLAT_URI, OFFER, net.now)
    second = door.invite(FLAT_URI, OFFER, net.now)
    assert net.run_until(lambda: ld.has("call_failed"), 3000)
    assert ld.first("call_failed").call is second and ld.first("call_failed").status == 486
    assert len(flat.calls) == 1


def registrar_pair(**kw):
    net = Network(seed=kw.pop("seed", 1))
    reg = net.add(PBX, Registrar(users={"door100": "secret100"}, **kw))
    door = net.ua("door100", port=5060, domain="doorsip.test", registrar="127.0.0.1:5070",
                  password="secret100", expires=300)
    return net, reg, door, EventLog(door)


def test_register_with_401_digest_retry():
    net, reg, door, ld = registrar_pair()
    door.register(net.now)
    assert net.run_until(lambda: ld.has("registered"), 5000)
    assert door.registered and ld.first("registered").expires == 300
    first, second = reg.requests[0], reg.requests[1]
    assert first.header("Authorization") is None and second.header("Authorization")
    # 10.2 / 8.1.3.5: same Call-ID, CSeq + 1, a new branch.
    assert first.call_id == second.call_id and second.cseq[0] == first.cseq[0] + 1
    assert first.via.params["branch"] != second.via.params["branch"]
    assert "rport" in second.via.params
    assert reg.bindings["sip:door100@doorsip.test"] == "sip:door100@127.0.0.1:5060"
    no_errors(door)


def test_register_with_407_proxy_challenge():
    net, reg, door, ld = registrar_pair(proxy_auth=True)
    door.register(net.now)
    assert net.run_until(lambda: ld.has("registered"), 5000)
    assert reg.requests[1].header("Proxy-Authorization") and not reg.requests[1].header("Authorization")
    assert len(net.sent(b"407 ")) == 1
    no_errors(door)


def test_register_uses_granted_expiry_and_refreshes_before_it():
    net, reg, door, ld = registrar_pair(max_expires=60)
    door.register(net.now)
    assert net.run_until(lambda: ld.has("registered"), 5000)
    assert ld.first("registered").expires == 60
    count = len(reg.requests)
    start = net.now
    net.run(59000)
    # Refreshed after 30 s (half of 60): new REGISTER (and its auth round) before expiry.
    assert len(reg.requests) > count
    refresh_time = [t for t, src, dst, line in net.sent(b"REGISTER ")][count]
    assert 29000 <= refresh_time - start <= 31000
    assert ld.kinds().count("registered") >= 2
    assert door.registered
    # The refresh carried credentials from the last challenge: no new 401 round.
    assert len(reg.requests) == count + 1 and reg.requests[-1].header("Authorization")
    assert reg.requests[-1].call_id == reg.requests[0].call_id


def test_register_expiry_from_the_expires_header():
    net, reg, door, ld = registrar_pair(max_expires=90, expires_header=True)
    door.register(net.now)
    assert net.run_until(lambda: ld.has("registered"), 5000)
    assert ld.first("registered").expires == 90


def test_register_423_retries_with_min_expires():
    net, reg, door, ld = registrar_pair(min_expires=600)
    door.register(net.now, expires=60)
    assert net.run_until(lambda: ld.has("registered"), 5000)
    assert ld.first("registered").expires == 600
    assert any(r.header("Expires") == "600" for r in reg.requests)


def test_register_wrong_password_fails_without_looping():
    net = Network()
    reg = net.add(PBX, Registrar(users={"door100": "right"}))
    door = net.ua("door100", port=5060, domain="doorsip.test", registrar=PBX, password="wrong")
    ld = EventLog(door)
    door.register(net.now)
    assert net.run_until(lambda: ld.has("registration_failed"), 5000)
    assert ld.first("registration_failed").status == 401
    assert len(reg.requests) <= 3 and not door.registered
    # It tries again later (a registrar that restarts or gets fixed), not at once.
    net.run(20000)
    assert len(reg.requests) <= 3
    net.run(20000)
    assert len(reg.requests) > 3


def test_unregister_sends_expires_zero():
    net, reg, door, ld = registrar_pair()
    door.register(net.now)
    assert net.run_until(lambda: ld.has("registered"), 5000)
    door.unregister(net.now)
    assert net.run_until(lambda: ld.has("unregistered"), 5000)
    assert reg.requests[-1].header("Expires") == "0" and reg.bindings == {}
    assert not door.registered
    net.run(600000)
    assert len(net.sent(b"REGISTER ")) == len(reg.requests)   # no refresh after that
    assert not [e for e in ld.pump() if e.kind == "registered"][1:]


def test_register_timeout_reports_408_and_retries():
    net = Network()
    door = net.ua("door100", port=5060, domain="doorsip.test", registrar="127.0.0.1:5999",
                  password="x")
    ld = EventLog(door)
    door.register(net.now)
    assert net.run_until(lambda: ld.has("registration_failed"), 40000)
    assert ld.first("registration_failed").status == 408
    n = len(net.sent(b"REGISTER "))
    net.run(31000)
    assert len(net.sent(b"REGISTER ")) > n


def invite_through_gate(proxy_auth):
    net = Network()
    door = net.ua("door100", port=5060, password="secret100")
    flat_ua = net.ua("flat", port=5062)
    gate = AuthGate(flat_ua, {"door100": "secret100"}, proxy=proxy_auth)
    net.add(FLAT, gate)
    ld, lf = EventLog(door), EventLog(flat_ua)
    call = door.invite(FLAT_URI, OFFER, net.now)
    auto_answer(net, flat_ua, lf)
    assert net.run_until(lambda: lf.has("answered"), 5000)
    assert ld.first("answered").call is call
    return net, gate, ld


def test_invite_with_407_proxy_auth_retry():
    net, gate, ld = invite_through_gate(True)
    invites = net.sent(b"INVITE ")
    assert gate.challenged == 1 and len(invites) == 2
    assert len(net.sent(b"407 ")) == 1 and len(net.sent(b"ACK ")) == 2   # 407 ACK + 2xx ACK
    assert ld.kinds() == ["ringing", "answered"]


def test_invite_with_401_auth_retry():
    net, gate, ld = invite_through_gate(False)
    assert gate.challenged == 1 and len(net.sent(b"401 ")) == 1
    assert ld.has("answered")


def test_a_station_with_a_registrar_never_loads_ua_rare():
    # Registration, OPTIONS keepalives and the digest retry of a challenged INVITE
    # live in ua_register.py: a station behind a PBX keeps that module resident and
    # never needs ua_rare.py (the rare paths' code) in its normal life.
    import sys
    sys.modules.pop("doorsip.sip.ua_rare", None)
    net, reg, door, ld = registrar_pair()
    flat_ua = net.ua("flat", port=5062)
    gate = AuthGate(flat_ua, {"door100": "secret100"})
    net.add(FLAT, gate)
    lf = EventLog(flat_ua)
    door.register(net.now)
    assert net.run_until(lambda: ld.has("registered"), 5000)
    door.options(FLAT_URI, net.now)
    assert net.run_until(lambda: ld.has("options_response"), 5000)
    assert ld.first("options_response").status == 200
    call = door.invite(FLAT_URI, OFFER, net.now)
    auto_answer(net, flat_ua, lf)
    assert net.run_until(lambda: ld.has("answered"), 5000) and gate.challenged == 1
    door.bye(call, net.now)
    assert net.run_until(lambda: ld.has("call_ended"), 5000)
    net.run(40000)
    assert "doorsip.sip.ua_rare" not in sys.modules
    no_errors(door, flat_ua)


def test_invite_timeout_timer_b_when_nobody_answers():
    net, door, flat, ld, lf = pair()
    call = door.invite("sip:nobody@127.0.0.1:5999", OFFER, net.now)
    start = net.now
    assert net.run_until(lambda: ld.has("call_failed"), 40000)
    assert ld.first("call_failed").status == 408 and net.now - start == 32000
    assert len(net.sent(b"INVITE ")) == 7 and call.state == "ended"


def test_options_keepalive_and_timer_f():
    net, door, flat, ld, lf = pair()
    cid = door.options(FLAT_URI, net.now)
    assert net.run_until(lambda: ld.has("options_response"), 1000)
    e = ld.first("options_response")
    assert e.status == 200 and e.call_id == cid
    sink = net.add(("127.0.0.1", 6000), Sink())
    raw = build_request("OPTIONS", FLAT_URI, [
        ("Via", "SIP/2.0/UDP 127.0.0.1:6000;branch=z9hG4bKopt1;rport"), ("From", "<sip:pbx@x>;tag=p1"),
        ("To", "<sip:flat@x>"), ("Call-ID", "ka1"), ("CSeq", "1 OPTIONS")])
    net.send(raw, ("127.0.0.1", 6000), FLAT)
    net.run(100)
    ok = sink.requests[0]
    assert ok.status == 200 and "INVITE" in ok.header("Allow") and "BYE" in ok.headers("Allow")
    assert "application/sdp" in ok.headers("Accept") and ok.header("Supported") is not None
    assert ok.to_tag
    door.options("sip:gone@127.0.0.1:5999", net.now)
    assert net.run_until(lambda: [x for x in ld.pump() if x.kind == "options_response" and x.status == 408], 40000)


def raw_request(method, to_tag=None, call_id="raw1", branch="z9hG4bKraw1", extra=()):
    to = "<sip:flat@127.0.0.1>" + (";tag=" + to_tag if to_tag else "")
    headers = [("Via", "SIP/2.0/UDP 127.0.0.1:6000;branch=%s;rport" % branch),
               ("From", "<sip:x@127.0.0.1>;tag=r1"), ("To", to), ("Call-ID", call_id),
               ("CSeq", "5 " + method), ("Max-Forwards", "70")]
    headers.extend(extra)
    return build_request(method, FLAT_URI, headers)


def statuses_for(*datagrams):
    net, door, flat, ld, lf = pair()
    sink = net.add(("127.0.0.1", 6000), Sink())
    for data in datagrams:
        net.send(data, ("127.0.0.1", 6000), FLAT)
    net.run(200)
    no_errors(flat)
    return [m.status for m in sink.requests], flat


def test_unknown_method_501_known_405_subscribe_489():
    got, _ = statuses_for(raw_request("FOOBAR"))
    assert got == [501]
    got, _ = statuses_for(raw_request("REGISTER", branch="z9hG4bKr2"))
    assert got == [405]
    got, _ = statuses_for(raw_request("SUBSCRIBE", branch="z9hG4bKr3", extra=[("Event", "presence")]))
    assert got == [489]
    got, _ = statuses_for(raw_request("MESSAGE", branch="z9hG4bKr4"), raw_request("NOTIFY", branch="z9hG4bKr5"))
    assert got == [200, 200]


def test_requests_outside_any_dialog_get_481():
    got, _ = statuses_for(raw_request("BYE", to_tag="nosuch"))
    assert got == [481]
    got, _ = statuses_for(raw_request("BYE"))
    assert got == [481]
    got, _ = statuses_for(raw_request("CANCEL"))
    assert got == [481]
    got, _ = statuses_for(raw_request("INFO", to_tag="nosuch"))
    assert got == [481]


def test_require_unknown_extension_gets_420():
    got, _ = statuses_for(raw_request("OPTIONS", extra=[("Require", "100rel")]))
    assert got == [420]


def test_retransmitted_request_gets_the_same_response_once_processed():
    raw = raw_request("FOOBAR")
    got, flat = statuses_for(raw, raw, raw)
    assert got == [501, 501, 501] and flat.stats["received"] == 3


def test_garbage_is_answered_or_dropped_never_a_crash():
    # A request whose body is shorter than its Content-Length (18.3: 400).
    bad_cseq = raw_request("OPTIONS").replace(b"Content-Length: 0", b"Content-Length: 50")
    junk = [b"", b"\x00\xff" * 40, b"INVITE\r\n\r\n", b"SIP/2.0 200 OK\r\n\r\n",
            b"INVITE sip:x SIP/2.0\r\nVia: nonsense\r\n\r\n", bytes(range(256)) * 4]
    got, flat = statuses_for(bad_cseq, *junk)
    assert got == [400]
    assert flat.stats["garbage"] == 1 + len(junk)


def test_response_goes_to_source_port_with_rport():
    # The request claims port 5999 in Via but comes from 6000 (a NAT): rport wins.
    net, door, flat, ld, lf = pair()
    sink = net.add(("127.0.0.1", 6000), Sink())
    raw = raw_request("OPTIONS").replace(b"127.0.0.1:6000;branch", b"127.0.0.1:5999;branch")
    net.send(raw, ("127.0.0.1", 6000), FLAT)
    net.run(100)
    assert len(sink.requests) == 1
    via = sink.requests[0].via
    assert via.params["rport"] == "6000"


def test_lost_ack_gets_200_retransmitted_and_reacked():
    net, door, flat, ld, lf = pair()
    dropped = []

    def drop_first_ack(data, src, dst):
        if data.startswith(b"ACK ") and not dropped:
            dropped.append(1)
            return True
        return False
    net.filters.append(drop_first_ack)
    door.invite(FLAT_URI, OFFER, net.now)
    auto_answer(net, flat, lf)
    assert net.run_until(lambda: lf.has("answered"), 5000)
    assert len(net.sent(b"200 OK")) == 2 and len(net.sent(b"ACK ")) == 2
    assert [e.kind for e in ld.pump()].count("answered") == 1


def test_no_ack_at_all_ends_the_call_with_bye():
    net, door, flat, ld, lf = pair()
    net.filters.append(lambda data, src, dst: data.startswith(b"ACK "))
    door.invite(FLAT_URI, OFFER, net.now)
    auto_answer(net, flat, lf)
    assert net.run_until(lambda: lf.has("call_ended"), 40000)
    assert lf.first("call_ended").reason == "ack_timeout"
    assert not lf.has("answered") and len(net.sent(b"BYE ")) >= 1
    assert net.run_until(lambda: ld.has("call_ended"), 5000)


def test_reinvite_both_ways_and_the_answer_hook():
    net, door, flat, ld, lf = pair()
    call = door.invite(FLAT_URI, OFFER, net.now)
    inc = auto_answer(net, flat, lf)
    assert net.run_until(lambda: lf.has("answered"), 2000)
    hold = OFFER.replace(b"t=0 0", b"t=0 0\r\na=sendonly")
    # Default: the callee answers a re-INVITE with its current SDP.
    door.reinvite(call, hold, net.now)
    assert net.run_until(lambda: ld.has("call_updated"), 2000)
    assert ld.first("call_updated").body == ANSWER and call.local_sdp == hold
    assert b"sendonly" in lf.first("call_updated").body and inc.remote_sdp == hold
    net.run(5000)
    assert len(net.sent(b"200 OK")) == 2 and len(net.sent(b"ACK ")) == 2   # no resends
    # The hook answers instead: recvonly to a hold, then a refusal.
    answers = [(200, ANSWER.replace(b"t=0 0", b"t=0 0\r\na=recvonly")), (488, b"")]
    flat.reinvite_answerer = lambda c, offer: answers.pop(0)
    door.reinvite(call, hold, net.now)
    assert net.run_until(lambda: ld.kinds().count("call_updated") == 2, 2000)
    assert b"recvonly" in ld.pump()[-1].body and b"recvonly" in inc.local_sdp
    door.reinvite(call, OFFER, net.now)
    assert net.run_until(lambda: ld.has("reinvite_failed"), 2000)
    assert ld.first("reinvite_failed").status == 488 and call.state == "confirmed"
    # The callee can re-INVITE too; one INVITE at a time per dialog (14.1).
    flat.reinvite(inc, ANSWER, net.now)
    from support import raises
    from doorsip.sip.useragent import UAError
    raises(UAError, flat.reinvite, inc, ANSWER, net.now)
    assert net.run_until(lambda: lf.kinds().count("call_updated") == 3, 2000)   # 488: none
    door.bye(call, net.now)
    assert net.run_until(lambda: lf.has("call_ended"), 2000)
    no_errors(door, flat)


def complete_call(seed, loss=30, dup=0, reorder=0):
    net, door, flat, ld, lf = pair(seed=seed, loss=loss, dup=dup, reorder=reorder)
    call = door.invite(FLAT_URI, OFFER, net.now)
    if not net.run_until(lambda: lf.has("incoming_call") or ld.has("call_failed"), 40000):
        return "no invite"
    if ld.has("call_failed"):
        return "invite lost"
    inc = lf.first("incoming_call").call
    flat.answer(inc, 180, now_ms=net.now)
    flat.answer(inc, 200, ANSWER, now_ms=net.now)
    if not net.run_until(lambda: ld.has("answered") and lf.has("answered"), 40000):
        return "not answered"
    door.send_info(call, "application/dtmf-relay", b"Signal=#\r\nDuration=100\r\n", now_ms=net.now)
    net.run_until(lambda: lf.has("info"), 40000)
    door.bye(call, net.now)
    if not net.run_until(lambda: ld.has("call_ended") and lf.has("call_ended"), 40000):
        return "not ended"
    no_errors(door, flat)
    assert [e.kind for e in ld.all].count("answered") == 1
    assert [e.kind for e in lf.all].count("incoming_call") == 1
    assert lf.has("info")
    return "ok"


def test_calls_complete_under_30_percent_loss():
    results = [complete_call(seed) for seed in (1, 2, 3, 4, 5, 6)]
    assert results == ["ok"] * 6, results


def test_calls_complete_with_duplication_and_reordering():
    results = [complete_call(seed, loss=10, dup=30, reorder=40) for seed in (11, 12, 13, 14)]
    assert results == ["ok"] * 4, results


def test_registration_under_loss():
    for seed in (21, 22, 23):
        net = Network(seed=seed, loss=30)
        net.add(PBX, Registrar(users={"door100": "secret100"}))
        door = net.ua("door100", port=5060, domain="doorsip.test", registrar=PBX,
                      password="secret100")
        ld = EventLog(door)
        door.register(net.now)
        assert net.run_until(lambda: ld.has("registered"), 120000), ld.kinds()
        no_errors(door)


def mutate(rng, data):
    # bytes slicing only: MicroPython's bytearray has no slice deletion.
    for _ in range(1 + rng.below(3)):
        n = len(data)
        if n == 0:
            break
        op = rng.below(6)
        i = rng.below(n)
        if op == 0:
            data = data[:i] + bytes([rng.below(256)]) + data[i + 1:]
        elif op == 1:
            data = data[:i] + data[i + 1 + rng.below(20):]
        elif op == 2:
            data = data[:i] + b"\r\n" + data[i:]
        elif op == 3:
            data = data[:i]
        elif op == 4:
            data = data[:i] + data[i:i + 1 + rng.below(60)] + data[i:]
        else:
            data = data[:i] + b";tag=x, <sip:a@b>:\"%00" + data[i:]
    return data


def test_mutated_datagrams_never_break_the_ua():
    from sip_harness import Rng
    net, door, flat, ld, lf = pair(seed=5)
    samples = []

    def record(data, src, dst):
        samples.append((data, src, dst))
        return False
    net.filters.append(record)
    call = door.invite(FLAT_URI, OFFER, net.now)
    inc = auto_answer(net, flat, lf)
    assert net.run_until(lambda: lf.has("answered"), 2000)
    door.send_info(call, "application/dtmf-relay", b"Signal=1\r\nDuration=160\r\n", now_ms=net.now)
    door.options(FLAT_URI, net.now)
    net.run(200)
    net.filters.remove(record)
    samples.append((raw_request("CANCEL"), ("127.0.0.1", 6000), FLAT))
    rng = Rng(99)
    for _ in range(400):
        data, src, dst = samples[rng.below(len(samples))]
        net.send(mutate(rng, data), src, dst)
        net.run(30)
    no_errors(door, flat)
    assert door.stats["garbage"] + flat.stats["garbage"] > 50
    # Both still work afterwards.
    door.options(FLAT_URI, net.now)
    assert net.run_until(lambda: [e for e in ld.pump() if e.kind == "options_response" and e.status == 200][1:], 2000)


def test_from_config_fills_domain_and_registrar():
    from doorsip.sip.useragent import UserAgent
    ua = UserAgent.from_config({"user": "door100", "auth_user": "door100", "password": "s",
                                "domain": None, "registrar": "pbx.example.org:5080", "proxy": None,
                                "expires": 120, "local_port": 5062, "display_name": "Front door"},
                               "192.168.1.10")
    assert ua.aor == "sip:door100@pbx.example.org" and ua.registrar == ("pbx.example.org", 5080)
    assert ua.contact == "<sip:door100@192.168.1.10:5062>" and ua.digest is not None
    ua.register(0)
    (data, dest), = ua.datagrams()
    msg = parse(data)
    assert dest == ("pbx.example.org", 5080) and msg.uri == "sip:pbx.example.org"
    assert msg.header("Expires") == "120" and msg.from_addr.display == "Front door"
    direct = UserAgent.from_config({"user": "door", "password": "", "domain": None,
                                    "registrar": None}, "10.0.0.5")
    assert direct.aor == "sip:door@10.0.0.5" and direct.digest is None


def test_registrar_restart_forgets_nonces_refresh_still_succeeds():
    net, reg, door, ld = registrar_pair(max_expires=60)
    door.register(net.now)
    assert net.run_until(lambda: ld.has("registered"), 5000)
    reg.nonces = []          # the registrar restarted: our preauthorized refresh is refused
    reg.bindings = {}
    net.run(40000)
    assert ld.kinds() == ["registered", "registered"], ld.kinds()
    assert reg.bindings and door.registered


def test_many_calls_in_a_row_stay_within_the_tables():
    net, door, flat, ld, lf = pair()
    for i in range(40):
        call = door.invite(FLAT_URI, OFFER, net.now)
        assert net.run_until(lambda: lf.has("incoming_call"), 2000), (i, ld.kinds())
        flat.answer(lf.first("incoming_call").call, 200, ANSWER, now_ms=net.now)
        assert net.run_until(lambda: lf.has("answered"), 2000)
        door.bye(call, net.now)
        assert net.run_until(lambda: lf.has("call_ended") and ld.has("call_ended"), 2000)
        ld.all = []
        lf.all = []
        assert len(door.layer) <= door.layer.max_transactions
    no_errors(door, flat)


def test_bad_command_input_is_a_clear_error():
    from support import raises
    from doorsip.sip.useragent import UAError
    net, door, flat, ld, lf = pair()
    assert str(raises(UAError, door.invite, "not a uri", OFFER, net.now)) == \
        "not a SIP URI: 'not a uri'"
    raises(UAError, door.invite, "sip:flat@127.0.0.1\r\nX: y", OFFER, net.now)
    raises(UAError, door.options, "mailto:x", net.now)
    raises(UAError, door.register, net.now)          # no registrar configured
    assert door.calls == [] and door.datagrams() == []
    call = door.invite(FLAT_URI, OFFER, net.now)
    exc = raises(UAError, door.bye, call, net.now)          # not answered yet
    assert str(exc) == "call %d is not answered" % call.id
    exc = raises(UAError, door.answer, call, 200, ANSWER, net.now)   # not an incoming call
    assert str(exc) == "answer: call %d cannot be answered now" % call.id
    exc = raises(UAError, door.send_info, call, "text/plain", b"x", net.now)
    assert str(exc) == "call %d is not answered" % call.id
    net.run_until(lambda: lf.has("incoming_call"), 1000)
    exc = raises(UAError, flat.answer, lf.first("incoming_call").call, 99, b"", net.now)
    assert str(exc) == "answer: 99 is not a SIP status"
    raises(UAError, flat.answer, lf.first("incoming_call").call, 700, b"", net.now)
    door.max_calls = 1
    assert str(raises(UAError, door.invite, FLAT_URI, OFFER, net.now)) == "too many calls"


def test_callee_bye_waits_for_the_ack():
    net, door, flat, ld, lf = pair(delay_ms=40)
    door.invite(FLAT_URI, OFFER, net.now)
    inc = auto_answer(net, flat, lf)
    flat.bye(inc, net.now)            # hung up at once: the ACK is still on its way
    assert net.sent(b"BYE ") == []
    assert net.run_until(lambda: ld.has("call_ended") and lf.has("call_ended"), 3000)
    ack_time = net.sent(b"ACK ")[0][0]
    bye_time = net.sent(b"BYE ")[0][0]
    assert bye_time >= ack_time + 40   # sent when the ACK arrived
    assert lf.first("call_ended").reason == "local_bye"
    assert ld.first("call_ended").reason == "remote_bye"
    no_errors(door, flat)


def test_call_and_registration_across_the_ticks_wrap():
    # CPython's compat ticks wrap at 2**30 ms: start 2 s before it.
    net = Network(start_ms=(1 << 30) - 2000)
    reg = net.add(PBX, Registrar(users={"door100": "secret100"}, max_expires=60))
    door = net.ua("door100", port=5060, domain="doorsip.test", registrar=PBX, password="secret100")
    flat = net.ua("flat", port=5062)
    ld, lf = EventLog(door), EventLog(flat)
    door.register(net.now)
    call = door.invite(FLAT_URI, OFFER, net.now)
    auto_answer(net, flat, lf)
    assert net.run_until(lambda: ld.has("answered") and ld.has("registered"), 5000)
    net.run(5000)
    assert len(net.sent(b"200 OK")) == 2   # REGISTER (after its 401) and INVITE, no resend
    door.bye(call, net.now)
    net.run(60000)
    # about 70 s in all: registered at 0, refreshed at 30 s and 60 s (half of 60 s)
    assert ld.kinds().count("registered") == 3 and lf.has("call_ended")
    no_errors(door, flat)


def test_unanswered_incoming_call_times_out_and_frees_its_slot():
    net, door, flat, ld, lf = pair({"max_calls": 1, "ring_limit_s": 60})
    door.invite(FLAT_URI, OFFER, net.now)
    assert net.run_until(lambda: lf.has("incoming_call"), 1000)
    start = net.now
    assert net.run_until(lambda: lf.has("call_ended"), 70000)
    assert lf.first("call_ended").reason == "timeout" and 59000 <= net.now - start <= 61000
    assert net.run_until(lambda: ld.has("call_failed"), 1000)
    assert ld.first("call_failed").status == 480 and flat.calls == []
    # An INVITE with Expires: 5 gets 487 after 5 s (13.3.1).
    door.invite(FLAT_URI, OFFER, net.now, headers=[("Expires", "5")])
    assert net.run_until(lambda: ld.kinds().count("call_failed") == 2, 10000)
    assert ld.pump()[-1].status == 487
    no_errors(door, flat)


class Forker(Stateless):
    """Answers an INVITE twice, from two forks (two To tags), as a forking proxy would."""

    def receive(self, data, source, now_ms):
        msg = parse(data)
        self.requests.append(msg)
        if msg.method == "INVITE":
            for tag in ("forkA", "forkB"):
                self.out.append((build_response(msg, 200, None, [("Contact", "<sip:%s@127.0.0.1:5062>" % tag),
                                                                 ("Content-Type", "application/sdp")],
                                                ANSWER, tag), source))
        elif msg.method == "BYE":
            self.reply(msg, source, 200)


def test_second_fork_answering_is_acked_and_released():
    net = Network()
    door = net.ua("door", port=5060)
    forker = net.add(FLAT, Forker())
    ld = EventLog(door)
    call = door.invite(FLAT_URI, OFFER, net.now)
    net.run(2000)
    assert ld.kinds() == ["answered"] and call.dialog.remote_tag == "forkA"
    acks = [m for m in forker.requests if m.method == "ACK"]
    byes = [m for m in forker.requests if m.method == "BYE"]
    assert sorted(m.to_tag for m in acks) == ["forkA", "forkB"]
    assert [m.to_tag for m in byes] == ["forkB"] and byes[0].uri == "sip:forkB@127.0.0.1:5062"
    assert call.state == "confirmed"
    no_errors(door)


def test_rfc2543_peer_without_magic_cookie_completes_a_call():
    net, door, flat, ld, lf = pair()
    sink = net.add(("127.0.0.1", 6000), Sink())
    invite = raw_request("INVITE", branch="oldbranch1",
                         extra=[("Contact", "<sip:x@127.0.0.1:6000>"), ("Content-Type", "application/sdp")])
    invite = invite.replace(b"Content-Length: 0\r\n\r\n", b"Content-Length: %d\r\n\r\n" % len(OFFER)) + OFFER
    net.send(invite, ("127.0.0.1", 6000), FLAT)
    net.send(invite, ("127.0.0.1", 6000), FLAT)            # a retransmission: absorbed
    assert net.run_until(lambda: lf.has("incoming_call"), 1000)
    flat.answer(lf.first("incoming_call").call, 200, ANSWER, now_ms=net.now)
    net.run(50)
    ok = sink.requests[-1]
    assert ok.status == 200 and lf.kinds() == ["incoming_call"]
    ack = raw_request("ACK", to_tag=ok.to_tag, branch="oldbranch1").replace(b"CSeq: 5 ACK", b"CSeq: 5 ACK")
    net.send(ack, ("127.0.0.1", 6000), FLAT)
    net.run(5000)
    assert lf.kinds() == ["incoming_call", "answered"]
    assert len([m for m in sink.requests if m.status == 200]) == 1   # no 2xx resent after the ACK
    no_errors(flat)


def test_bye_after_a_lost_ack_still_reports_the_call_answered():
    net, door, flat, ld, lf = pair(delay_ms=20)
    net.filters.append(lambda data, src, dst: data.startswith(b"ACK "))
    call = door.invite(FLAT_URI, OFFER, net.now)
    auto_answer(net, flat, lf)
    assert net.run_until(lambda: ld.has("answered"), 1000)
    door.bye(call, net.now)
    assert net.run_until(lambda: lf.has("call_ended"), 2000)
    assert lf.kinds() == ["incoming_call", "answered", "call_ended"]
    assert lf.first("call_ended").reason == "remote_bye"
    net.run(40000)
    assert len(net.sent(b"BYE ")) == 1   # no ack_timeout BYE afterwards
    no_errors(door, flat)


def test_outbound_proxy_gets_every_request_with_a_loose_route():
    net = Network()
    proxy = net.add(PBX, Sink())
    door = net.ua("door", port=5060, proxy="127.0.0.1:5070", registrar="127.0.0.1:5070",
                  domain="pbx.test")
    door.invite("sip:flat@pbx.test", OFFER, net.now)
    door.register(net.now)
    door.options("sip:pbx.test", net.now)
    net.run(100)
    methods = sorted(m.method for m in proxy.requests)
    assert methods == ["INVITE", "OPTIONS", "REGISTER"]
    for m in proxy.requests:
        assert m.header("Route") == "<sip:127.0.0.1:5070;lr>"
        assert "rport" in m.via.params   # RFC 3581: ask for the source port
    invite = [m for m in proxy.requests if m.method == "INVITE"][0]
    assert invite.uri == "sip:flat@pbx.test" and invite.header("Contact") == "<sip:door@127.0.0.1:5060>"


def test_merged_request_on_a_second_branch_gets_482():
    first = raw_request("INVITE", branch="z9hG4bKpath1")
    second = raw_request("INVITE", branch="z9hG4bKpath2")
    got, flat = statuses_for(first, second)
    assert got == [482] and len(flat.calls) == 1


def test_peer_vanishing_mid_call_ends_the_call():
    net, door, flat, ld, lf = pair()
    call = door.invite(FLAT_URI, OFFER, net.now)
    auto_answer(net, flat, lf)
    assert net.run_until(lambda: lf.has("answered"), 2000)
    del net.endpoints[FLAT]          # the indoor unit loses power
    door.send_info(call, "application/dtmf-relay", b"Signal=1\r\nDuration=100\r\n", now_ms=net.now)
    start = net.now
    assert net.run_until(lambda: ld.has("call_ended"), 40000)
    e = ld.first("call_ended")
    assert e.reason == "dialog_gone" and e.status == 408 and net.now - start == 32000
    assert door.calls == []
    # A BYE into the void ends the call too, after timer F.
    net2, door2, flat2, ld2, lf2 = pair()
    call2 = door2.invite(FLAT_URI, OFFER, net2.now)
    auto_answer(net2, flat2, lf2)
    assert net2.run_until(lambda: ld2.has("answered"), 2000)
    del net2.endpoints[FLAT]
    door2.bye(call2, net2.now)
    assert net2.run_until(lambda: ld2.has("call_ended"), 40000)
    assert ld2.first("call_ended").reason == "local_bye" and ld2.first("call_ended").status == 408


def test_bad_contact_in_invite_gets_400_and_leaves_nothing_behind():
    net, door, flat, ld, lf = pair()
    sink = net.add(("127.0.0.1", 6000), Sink())
    for i in range(30):   # more than the transaction table holds
        bad = raw_request("INVITE", call_id="bad%d" % i, branch="z9hG4bKbad%d" % i,
                          extra=[("Contact", "<sip:x@127.0.0.1")])   # no closing >
        net.send(bad, ("127.0.0.1", 6000), FLAT)
        net.run(20)
    assert set(m.status for m in sink.requests) == set([400])   # G may resend some
    assert len(set(m.call_id for m in sink.requests)) == 30
    assert flat.calls == [] and not lf.kinds()
    net.run(40000)
    assert len(flat.layer) == 0
    # ... and calls still get through.
    door.invite(FLAT_URI, OFFER, net.now)
    assert net.run_until(lambda: lf.has("incoming_call"), 1000)
    assert flat.stats["errors"] == 0 and flat.stats["garbage"] == 30

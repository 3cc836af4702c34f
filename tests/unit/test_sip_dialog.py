# RFC 3261 section 12 dialogs: creation on both sides, route sets, CSeq, in-dialog requests.
from doorsip.sip.dialog import Dialog, request_key, response_key
from doorsip.sip.message import build_request, build_response, parse

FROM = '"Door" <sip:door@192.0.2.1>;tag=ft1'


def invite(record_routes=(), contact="<sip:door@192.0.2.1:5060>"):
    headers = [("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKi1;rport")]
    for rr in record_routes:
        headers.append(("Record-Route", rr))
    headers += [("From", FROM), ("To", "<sip:flat@example.org>"), ("Call-ID", "call-7"),
                ("CSeq", "41 INVITE"), ("Contact", contact), ("Max-Forwards", "70")]
    return parse(build_request("INVITE", "sip:flat@example.org", headers))


def answer(req, status, record_routes=(), contact="<sip:flat@192.0.2.30:5062>", tag="tt5"):
    extra = [("Record-Route", rr) for rr in record_routes]
    extra.append(("Contact", contact))
    return parse(build_response(req, status, None, extra, b"", tag))


def test_uac_dialog_from_2xx_reverses_record_route_and_takes_contact():
    req = invite()
    ok = answer(req, 200, ["<sip:p2.example.org;lr>", "<sip:p1.example.org;lr>"])
    d = Dialog.uac(FROM, req.uri, 41, ok, "<sip:door@192.0.2.1:5060>")
    assert not d.early and d.remote_tag == "tt5" and d.local_tag == "ft1"
    assert d.route_set == ["<sip:p1.example.org;lr>", "<sip:p2.example.org;lr>"]
    assert d.remote_target == "sip:flat@192.0.2.30:5062"
    data, dest, branch, cseq = d.request("BYE", "192.0.2.1", 5060)
    bye = parse(data)
    assert bye.method == "BYE" and bye.uri == "sip:flat@192.0.2.30:5062"   # loose routing
    assert bye.headers("Route") == ["<sip:p1.example.org;lr>", "<sip:p2.example.org;lr>"]
    assert dest == ("p1.example.org", 5060)
    assert cseq == 42 and bye.cseq == (42, "BYE")
    assert bye.from_tag == "ft1" and bye.to_tag == "tt5" and bye.call_id == "call-7"
    assert bye.via.params["branch"] == branch and branch.startswith("z9hG4bK")
    info = parse(d.request("INFO", "192.0.2.1", 5060, [("Content-Type", "application/dtmf-relay")],
                           b"Signal=5\r\nDuration=160\r\n")[0])
    assert info.cseq == (43, "INFO") and info.body.startswith(b"Signal=5")
    assert response_key(ok) == d.key


def test_strict_route_puts_first_route_in_request_uri():
    req = invite()
    ok = answer(req, 200, ["<sip:strict.example.org>"])
    d = Dialog.uac(FROM, req.uri, 41, ok, "<sip:door@192.0.2.1>")
    data, dest, _, _ = d.request("BYE", "192.0.2.1", 5060)
    bye = parse(data)
    assert bye.uri == "sip:strict.example.org"
    assert bye.headers("Route") == ["<sip:flat@192.0.2.30:5062>"]
    assert dest == ("strict.example.org", 5060)


def test_early_dialog_confirmed_by_2xx_recomputes_route_set():
    req = invite()
    ringing = answer(req, 180, ["<sip:early.example.org;lr>"])
    d = Dialog.uac(FROM, req.uri, 41, ringing, "<sip:door@192.0.2.1>")
    assert d.early and d.route_set == ["<sip:early.example.org;lr>"]
    ok = answer(req, 200, ["<sip:final.example.org;lr>"], contact="<sip:flat@192.0.2.31>")
    d.confirm(ok)
    assert not d.early and d.route_set == ["<sip:final.example.org;lr>"]
    assert d.remote_target == "sip:flat@192.0.2.31"


def test_ack_for_2xx_has_own_branch_and_invite_cseq_and_is_remembered():
    req = invite()
    ok = answer(req, 200)
    d = Dialog.uac(FROM, req.uri, 41, ok, "<sip:door@192.0.2.1>")
    data, dest = d.ack(41, "192.0.2.1", 5060)
    ack = parse(data)
    assert ack.method == "ACK" and ack.cseq == (41, "ACK")
    assert ack.via.params["branch"] != "z9hG4bKi1"
    assert dest == ("192.0.2.30", 5062) and d.ack_data == data and d.ack_dest == dest
    assert d.local_seq == 41   # ACK does not use a new CSeq


def test_uas_dialog_keeps_record_route_order_and_checks_remote_cseq():
    req = invite(["<sip:p1.example.org;lr>", "<sip:p2.example.org;lr>"])
    d = Dialog.uas(req, "lt9", "<sip:flat@192.0.2.30:5062>")
    assert d.route_set == ["<sip:p1.example.org;lr>", "<sip:p2.example.org;lr>"]
    assert d.remote_target == "sip:door@192.0.2.1:5060" and d.remote_seq == 41
    data, dest, _, cseq = d.request("BYE", "192.0.2.30", 5062)
    bye = parse(data)
    # Our requests: From = the INVITE's To with our tag, To = the INVITE's From.
    assert bye.from_tag == "lt9" and bye.to_tag == "ft1" and dest == ("p1.example.org", 5060)
    assert cseq > 0
    # The caller's next request must have a higher CSeq (12.2.2).
    later = parse(build_request("INFO", "sip:flat@192.0.2.30:5062", [
        ("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKx"), ("From", FROM),
        ("To", "<sip:flat@example.org>;tag=lt9"), ("Call-ID", "call-7"), ("CSeq", "42 INFO")]))
    assert request_key(later) == d.key
    assert d.check_remote_cseq(later) is None and d.remote_seq == 42
    assert d.check_remote_cseq(later) == 500


def test_target_refresh_updates_remote_target():
    req = invite()
    d = Dialog.uas(req, "lt1", "<sip:flat@192.0.2.30>")
    re = invite(contact="<sip:door@192.0.2.99:5080>")
    d.refresh_target(re)
    assert d.remote_target == "sip:door@192.0.2.99:5080"
    assert parse(d.request("BYE", "h", 5060)[0]).uri == "sip:door@192.0.2.99:5080"

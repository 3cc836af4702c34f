# Unit tests of doorsip.sip.message (parse, Message, build_request, build_response); they run
# under pytest and under the MicroPython runner alike.
from support import raises

from doorsip.sip import SIPError, build_request, build_response, parse


def _msg(head, body=b"", content_length=True):
    """A message from LF-separated header text: CRLF line ends, Content-Length appended."""
    text = head.replace(b"\n", b"\r\n")
    if content_length:
        text += b"Content-Length: %d\r\n" % len(body)
    return text + b"\r\n" + body


INVITE_HEAD = (
    b"INVITE sip:bob@192.0.2.4 SIP/2.0\n"
    b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;rport\n"
    b"Max-Forwards: 70\n"
    b"To: Bob <sip:bob@192.0.2.4>\n"
    b"From: \"Alice A.\" <sip:alice@192.0.2.1>;tag=1928301774\n"
    b"Call-ID: a84b4c76e66710@pc33.atlanta.com\n"
    b"CSeq: 314159 INVITE\n"
    b"Contact: <sip:alice@192.0.2.1:5060>\n"
    b"Content-Type: application/sdp\n"
)
SDP = b"v=0\r\no=alice 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"

REQUIRED = (b"Via: SIP/2.0/UDP h.example.com;branch=z9hG4bKx\n", b"From: <sip:a@example.com>;tag=1\n",
            b"To: <sip:b@example.com>\n", b"Call-ID: c1@h\n")


def _options(extra=b"", cseq=b"CSeq: 1 OPTIONS\n", method=b"OPTIONS", content_length=True):
    return _msg(method + b" sip:b@example.com SIP/2.0\n" + b"".join(REQUIRED) + cseq + extra,
                b"", content_length)


def _status(data):
    try:
        parse(data)
    except SIPError as exc:
        return exc.status
    return None


def test_request_line_and_fields():
    m = parse(_msg(INVITE_HEAD, SDP))
    assert m.method == "INVITE" and m.status is None
    assert m.uri == "sip:bob@192.0.2.4"
    assert m.is_request()
    assert m.call_id == "a84b4c76e66710@pc33.atlanta.com"
    assert m.cseq == (314159, "INVITE")
    assert m.body == SDP
    assert m.header("Max-Forwards") == "70"
    assert m.header("X-Absent") is None and m.headers("X-Absent") == []


def test_status_line():
    m = parse(_msg(b"SIP/2.0 180 Ringing\n" + b"".join(REQUIRED) + b"CSeq: 1 INVITE\n"))
    assert m.status == 180 and m.reason == "Ringing" and m.method is None
    assert not m.is_request()
    m = parse(_msg(b"SIP/2.0 100 \n" + b"".join(REQUIRED) + b"CSeq: 1 INVITE\n"))
    assert m.status == 100 and m.reason == ""
    m = parse(_msg(b"SIP/2.0 603 Decline, really \xc3\xa9\n" + b"".join(REQUIRED) + b"CSeq: 1 INVITE\n"))
    assert m.reason == "Decline, really \u00e9"


def test_bad_status_codes():
    for line in (b"SIP/2.0 99 Low", b"SIP/2.0 700 High", b"SIP/2.0 2000 Long", b"SIP/2.0 2x0 No",
                 b"SIP/2.0 4294967301 Big", b"SIP/2.0"):
        assert _status(_msg(line + b"\n" + b"".join(REQUIRED) + b"CSeq: 1 INVITE\n")) == 400, line


def test_header_names_any_case_and_compact():
    data = _msg(b"OPTIONS sip:b@example.com SIP/2.0\n"
                b"v: SIP/2.0/UDP h.example.com;branch=z9hG4bKx\n"
                b"f: <sip:a@example.com>;tag=1\nT: <sip:b@example.com>\ni: c1@h\ncSeQ: 1 OPTIONS\n"
                b"m: <sip:a@h>\ne: gzip\nc: text/plain\ns: hello\nk: timer\no: dialog\n"
                b"u: talk\nr: <sip:x@h>\nb: <sip:y@h>\nx: 90\ny: abc\n", b"hi", False)
    m = parse(data)
    pairs = (("Via", "SIP/2.0/UDP h.example.com;branch=z9hG4bKx"), ("From", "<sip:a@example.com>;tag=1"),
             ("To", "<sip:b@example.com>"), ("Call-ID", "c1@h"), ("CSeq", "1 OPTIONS"),
             ("Contact", "<sip:a@h>"), ("Content-Encoding", "gzip"), ("Content-Type", "text/plain"),
             ("Subject", "hello"), ("Supported", "timer"), ("Event", "dialog"), ("Allow-Events", "talk"),
             ("Refer-To", "<sip:x@h>"), ("Referred-By", "<sip:y@h>"), ("Session-Expires", "90"),
             ("Identity", "abc"))
    for name, value in pairs:
        assert m.header(name) == value, name
        assert m.header(name.upper()) == value, name
        assert m.header(name.lower()) == value, name
    assert m.header("l") is None  # no Content-Length: the body is the rest of the datagram
    assert m.body == b"hi"
    assert m.header("V") == m.header("via") and m.header("i") == "c1@h"


def test_compact_content_length():
    m = parse(_options(b"l: 2\n", content_length=False) + b"okEXTRA")
    assert m.body == b"ok"
    assert m.header("content-length") == "2"


def test_whitespace_before_colon_and_unknown_headers():
    m = parse(_options(b"X-Custom   : some value, with comma\nx-custom: second\n"))
    assert m.header("X-CUSTOM") == "some value, with comma"
    assert m.headers("x-custom") == ["some value, with comma", "second"]
    names = [name for name, value in m.items()]
    assert "X-Custom" in names and "CSeq" in names


def test_comma_lists_split_outside_quotes_and_brackets():
    m = parse(_options(b"Contact: \"Doe, John\" <sip:j@h;x=\"a,b\">;q=0.5, <sip:k@h>\n"
                       b"Route: <sip:p1@h;lr>,<sip:p2@h;lr>\nRoute: <sip:p3@h;lr>\n"
                       b"Allow: INVITE, ACK,BYE\n"))
    assert m.headers("contact") == ["\"Doe, John\" <sip:j@h;x=\"a,b\">;q=0.5", "<sip:k@h>"]
    assert m.header("contact") == "\"Doe, John\" <sip:j@h;x=\"a,b\">;q=0.5"
    assert m.headers("route") == ["<sip:p1@h;lr>", "<sip:p2@h;lr>", "<sip:p3@h;lr>"]
    assert m.headers("allow") == ["INVITE", "ACK", "BYE"]


def test_no_split_where_grammar_forbids():
    auth = b"Digest realm=\"pbx\", nonce=\"abc\", qop=\"auth,auth-int\", algorithm=MD5"
    m = parse(_options(b"WWW-Authenticate: " + auth + b"\nWWW-Authenticate: Basic realm=\"x\"\n"
                       b"Authorization: Digest username=\"a\", realm=\"pbx\"\n"
                       b"Date: Sat, 13 Nov 2010 23:29:00 GMT\nSubject: lunch, maybe\n"))
    assert m.headers("www-authenticate") == [auth.decode(), "Basic realm=\"x\""]
    assert m.headers("authorization") == ["Digest username=\"a\", realm=\"pbx\""]
    assert m.headers("date") == ["Sat, 13 Nov 2010 23:29:00 GMT"]
    assert m.header("subject") == "lunch, maybe"


def test_folded_lines_unfolded():
    data = _msg(b"OPTIONS sip:b@example.com SIP/2.0\n"
                b"Via: SIP/2.0/UDP h.example.com\n ;branch=z9hG4bKx\n"
                b"From: <sip:a@example.com>\n\t;tag=1\nTo: <sip:b@example.com>\nCall-ID: c1@h\n"
                b"CSeq: 1\n  OPTIONS\nSubject: first\n  second\n")
    m = parse(data)
    assert " ".join(m.header("subject").split()) == "first second"
    assert "\n" not in m.header("subject")
    assert m.cseq == (1, "OPTIONS")
    assert m.from_tag == "1"
    assert m.branch == "z9hG4bKx"


def test_folded_first_header_line_rejected():
    data = _msg(b"OPTIONS sip:b@example.com SIP/2.0\n continuation\n" + b"".join(REQUIRED) + b"CSeq: 1 OPTIONS\n")
    assert _status(data) == 400


def test_content_length_framing():
    good = _options(b"Content-Length: 5\n", content_length=False)
    assert parse(good + b"12345").body == b"12345"
    assert parse(good + b"1234567890").body == b"12345"  # extra bytes are dropped (18.3)
    assert _status(good + b"1234") == 400  # shorter body: 400
    assert parse(_options(content_length=False) + b"rest of it").body == b"rest of it"
    for bad in (b"-5", b"5x", b"", b"+5", b"999999"):
        data = _options(b"Content-Length: " + bad + b"\n", content_length=False) + b"12345"
        assert _status(data) == 400, bad
    assert _status(_options(b"Content-Length: 1\nl: 1\n", content_length=False) + b"x") == 400


def test_required_headers():
    for skip in range(len(REQUIRED)):
        head = b"".join(REQUIRED[:skip] + REQUIRED[skip + 1:])
        data = _msg(b"OPTIONS sip:b@example.com SIP/2.0\n" + head + b"CSeq: 1 OPTIONS\n")
        exc = raises(SIPError, parse, data)
        assert exc.status == 400, skip
    data = _msg(b"OPTIONS sip:b@example.com SIP/2.0\n" + b"".join(REQUIRED))
    assert raises(SIPError, parse, data).status == 400  # no CSeq


def test_cseq_checks():
    assert _status(_options(cseq=b"CSeq: 1 INVITE\n")) == 400  # method differs
    assert _status(_options(cseq=b"CSeq: 4294967296 OPTIONS\n")) == 400  # above 2**32-1
    assert parse(_options(cseq=b"CSeq: 4294967295 OPTIONS\n")).cseq == (4294967295, "OPTIONS")
    assert parse(_options(cseq=b"CSeq: 0009 OPTIONS\n")).cseq == (9, "OPTIONS")
    for bad in (b"CSeq: OPTIONS\n", b"CSeq: 1\n", b"CSeq: x1 OPTIONS\n", b"CSeq: 1 OPTIONS extra\n"):
        assert _status(_options(cseq=bad)) == 400, bad


def test_repeated_single_valued_headers():
    for extra in (b"Call-ID: other@h\n", b"From: <sip:c@h>;tag=2\n", b"t: <sip:d@h>\n",
                  b"CSeq: 2 OPTIONS\n", b"Max-Forwards: 70\nMax-Forwards: 69\n"):
        assert _status(_options(extra)) == 400, extra


def test_version_and_request_line():
    assert _status(_options().replace(b"SIP/2.0\r\n", b"SIP/7.0\r\n", 1)) == 505
    assert _status(_options().replace(b"SIP/2.0\r\n", b"HTTP/1.1\r\n", 1)) == 400
    assert parse(_options().replace(b"SIP/2.0\r\n", b"sip/2.0\r\n", 1)).method == "OPTIONS"
    for line in (b"OPTIONS  sip:b@example.com SIP/2.0", b"OPTIONS sip:b@example.com  SIP/2.0",
                 b"OPTIONS <sip:b@example.com> SIP/2.0", b"OPTIONS sip:b@example.com; lr SIP/2.0",
                 b"OPTIONS b.example.com SIP/2.0", b"OPT(IONS sip:b@example.com SIP/2.0",
                 b"OPTIONS sip:b@example.com SIP/2.0 "):
        assert _status(_options().replace(b"OPTIONS sip:b@example.com SIP/2.0", line, 1)) == 400, line


def test_size_bound():
    data = _options(b"X-Pad: " + b"a" * 8300 + b"\n")
    assert _status(data) == 513
    assert parse(data, max_size=9000).header("x-pad") == "a" * 8300
    many = b"".join(b"X-%d: 1\n" % i for i in range(100))
    assert _status(_options(many)) == 513
    assert _status(_options(b"Allow: " + b"A," * 201 + b"B\n")) == 513  # list elements bounded too
    assert len(parse(_options(b"Allow: " + b"A," * 150 + b"B\n")).headers("allow")) == 151


def test_malformed_header_lines():
    assert _status(_options(b"NoColonHere\n")) == 400
    assert _status(_options(b"Bad Name: x\n")) == 400
    assert _status(_options(b": empty name\n")) == 400
    assert _status(_options(b"X-Ok: a\rb\n")) == 400  # a bare CR inside a line


def test_garbage_only_raises_sip_error():
    for data in (b"", b"\r\n\r\n", b"\x00" * 50, b"INVITE", b"SIP/2.0 200 OK", b"\xff\xfe\r\n\r\n",
                 b"INVITE sip:a@b SIP/2.0\r\n\r\n", b"A B C\r\nVia\r\n\r\n", b"\n\n\n"):
        exc = raises(SIPError, parse, data)
        assert 400 <= exc.status < 600


def test_leading_crlf_and_lf_only_lines():
    m = parse(b"\r\n\r\n" + _options())
    assert m.method == "OPTIONS"
    lf = _options(content_length=False).replace(b"\r\n", b"\n")
    m = parse(lf + b"body")
    assert m.call_id == "c1@h" and m.body == b"body"
    mixed = _options().replace(b"Call-ID: c1@h\r\n", b"Call-ID: c1@h\n")
    assert _status(mixed) == 400


def test_bytearray_and_memoryview_input():
    data = _msg(INVITE_HEAD, SDP)
    assert parse(bytearray(data)).body == SDP
    assert parse(memoryview(data)).cseq == (314159, "INVITE")


def test_address_and_via_fields():
    m = parse(_msg(INVITE_HEAD, SDP))
    assert m.from_tag == "1928301774" and m.to_tag is None
    assert m.from_addr.display == "Alice A." and m.from_addr.uri == "sip:alice@192.0.2.1"
    assert m.to_addr.display == "Bob"
    assert m.branch == "z9hG4bK776asdhds"
    assert m.via.host == "192.0.2.1" and m.via.port == 5060 and m.via.transport == "UDP"
    assert "rport" in m.via.params and m.via.params["rport"] is None


def test_tags_with_unusual_spacing_and_case():
    m = parse(_options().replace(b"From: <sip:a@example.com>;tag=1", b"From: <sip:a@example.com> ; TAG = 77"))
    assert m.from_tag == "77"
    m = parse(_options().replace(b"To: <sip:b@example.com>", b"To: sip:b@example.com;tag=x9"))
    assert m.to_tag == "x9"
    m = parse(_options().replace(b"To: <sip:b@example.com>", b"To: \"a;tag=no\" <sip:b@example.com;tag=no>"))
    assert m.to_tag is None
    m = parse(_options().replace(b";branch=z9hG4bKx", b" ; Branch = z9hG4bKy"))
    assert m.branch == "z9hG4bKy"
    m = parse(_options().replace(b";branch=z9hG4bKx", b";branch=z9hG4bKz ;rport"))
    assert m.branch == "z9hG4bKz" and m.via.branch == "z9hG4bKz"
    m = parse(_options().replace(b";tag=1", b";tag=t7 ;x=1"))
    assert m.from_tag == "t7" and m.from_addr.tag == "t7"
    assert m.header(b"from") == m.header("FROM")
    m = parse(_options().replace(b";tag=1", b";tag=first;TAG=second"))
    assert m.from_tag == "first" and m.from_addr.tag == "first"


def test_bad_from_to_via_rejected():
    for old, new in ((b"From: <sip:a@example.com>;tag=1", b"From: \"open <sip:a@example.com>;tag=1"),
                     (b"From: <sip:a@example.com>;tag=1", b"From: Doe, John <sip:a@example.com>;tag=1"),
                     (b"To: <sip:b@example.com>", b"To: <sip:b@example.com"),
                     (b"To: <sip:b@example.com>", b"To: sip:b@example.com?x=y"),
                     (b"To: <sip:b@example.com>", b"To: <sip:b@example.com>;;"),
                     (b"To: <sip:b@example.com>", b"To: <no-scheme>"),
                     (b"Via: SIP/2.0/UDP h.example.com;branch=z9hG4bKx", b"Via: SIP/2.0/UDP h.example.com;;"),
                     (b"Via: SIP/2.0/UDP h.example.com;branch=z9hG4bKx", b"Via: SIP/2.0/UDP h.example.com:99999"),
                     (b"Via: SIP/2.0/UDP h.example.com;branch=z9hG4bKx", b"Via: SIP/2.0/UDP"),
                     (b"Via: SIP/2.0/UDP h.example.com;branch=z9hG4bKx", b"Via: SIP/2.0/UDP a, ,"),
                     (b"Via: SIP/2.0/UDP h.example.com;branch=z9hG4bKx", b"Via: HTTP/1.1/TCP h")):
        data = _options().replace(old, new)
        assert data != _options()
        assert _status(data) == 400, new


def test_multiple_vias():
    m = parse(_options(b"Via: SIP/2.0/TCP p1.example.com:5061;branch=z9hG4bK1,"
                       b" SIP / 2.0 / UDP [2001:db8::1]:5062 ;received=2001:db8::9;branch=z9hG4bK2\n"))
    vias = m.headers("v")
    assert len(vias) == 3
    assert vias[0] == "SIP/2.0/UDP h.example.com;branch=z9hG4bKx"
    assert vias[2].startswith("SIP / 2.0 / UDP [2001:db8::1]")
    assert m.header("via") == vias[0]


def test_stamp_received_rport():
    m = parse(_msg(INVITE_HEAD, SDP))
    m.stamp_received("198.51.100.7", 40000)
    assert m.via.params["received"] == "198.51.100.7"
    assert m.via.params["rport"] == "40000"
    top = m.header("via")
    assert "received=198.51.100.7" in top and "rport=40000" in top and "branch=z9hG4bK776asdhds" in top
    assert m.headers("via")[0] == top
    response = parse(build_response(m, 200))
    assert response.via.params["rport"] == "40000" and response.via.params["received"] == "198.51.100.7"


def test_stamp_received_without_rport():
    m = parse(_options())
    m.stamp_received("h.example.com", 5060)  # same host, no rport: nothing to add
    assert m.header("via") == "SIP/2.0/UDP h.example.com;branch=z9hG4bKx"
    m.stamp_received("192.0.2.33", 5070)
    assert m.via.params["received"] == "192.0.2.33" and "rport" not in m.via.params
    assert "received=192.0.2.33" in m.header("via")


def test_build_request_round_trip():
    headers = [("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc"), ("From", "<sip:a@h>;tag=9"),
               ("To", "<sip:b@h>"), ("Call-ID", "id1@h"), ("CSeq", "7 MESSAGE"),
               ("Content-Type", "text/plain"), ("Content-Length", "999")]
    data = build_request("MESSAGE", "sip:b@h", headers, b"hello")
    assert data.startswith(b"MESSAGE sip:b@h SIP/2.0\r\n")
    assert data.count(b"Content-Length") == 1 and b"Content-Length: 5\r\n\r\nhello" in data
    m = parse(data)
    assert m.method == "MESSAGE" and m.cseq == (7, "MESSAGE") and m.body == b"hello"
    assert m.header("content-type") == "text/plain"


def test_build_rejects_header_injection():
    headers = [("Subject", "hi\r\nX-Evil: 1")]
    raises(ValueError, build_request, "OPTIONS", "sip:b@h", headers)
    raises(ValueError, build_request, "OPT IONS", "sip:b@h", [])
    m = parse(_options())
    raises(ValueError, build_response, m, 200, None, [("X", "a\nb")])


def test_build_response_copies_per_8_2_6():
    request = parse(_msg(INVITE_HEAD.replace(b"Max-Forwards: 70\n",
                                             b"Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp\n"
                                             b"Timestamp: 54\n"), SDP))
    data = build_response(request, 180, to_tag="t42", headers=[("Contact", "<sip:bob@192.0.2.4>")])
    assert data.startswith(b"SIP/2.0 180 Ringing\r\n")
    response = parse(data)
    assert response.status == 180 and response.reason == "Ringing"
    assert response.headers("via") == request.headers("via")
    assert response.header("from") == request.header("from")
    assert response.call_id == request.call_id and response.cseq == request.cseq
    assert response.to_tag == "t42" and response.to_addr.uri == "sip:bob@192.0.2.4"
    assert response.header("contact") == "<sip:bob@192.0.2.4>"
    assert response.header("timestamp") is None  # only the 100 echoes it
    assert response.body == b""
    trying = parse(build_response(request, 100))
    assert trying.header("timestamp") == "54" and trying.reason == "Trying"
    assert trying.to_tag is None


def test_build_response_keeps_existing_to_tag_and_custom_reason():
    request = parse(_options().replace(b"To: <sip:b@example.com>", b"To: <sip:b@example.com>;tag=old"))
    response = parse(build_response(request, 486, "Busy Now", to_tag="new", body=b"x"))
    assert response.to_tag == "old" and response.reason == "Busy Now" and response.body == b"x"
    assert parse(build_response(request, 299)).reason == "Unknown"


def test_error_texts_line_up():
    # The texts are lines of errors._TEXT named by _E_* const()s in uri.py, message.py and
    # sdp.py: the first and last line of each module's range, and the paired ones.
    from doorsip.sip import parse_uri, parse_via
    from doorsip.sip.sdp import build_offer, parse as parse_sdp
    assert raises(SIPError, parse_uri, "sip:h;a=").reason == "Bad Request (parameter value)"
    assert raises(SIPError, parse_uri, "sip:h:70000").reason == "Bad Request (URI port)"
    assert raises(SIPError, parse_via, "SIP/2.0/UDP h:x").reason == "Bad Request (Via sent-by port)"
    assert raises(SIPError, parse_via, "SIP/2.0/U@P h").reason == "Bad Request (Via transport)"
    head = b"SIP/2.0 200 OK\nVia: SIP/2.0/UDP h, ,\n" + b"".join(REQUIRED[1:]) + b"CSeq: 1 INVITE\n"
    assert raises(SIPError, parse, _msg(head)).reason == "Bad Request (empty list element)"
    for i, what in enumerate(("Via", "From", "To", "Call-ID")):
        head = b"".join(REQUIRED[:i] + REQUIRED[i + 1:]) + b"CSeq: 1 OPTIONS\n"
        err = raises(SIPError, parse, _msg(b"OPTIONS sip:b@example.com SIP/2.0\n" + head))
        assert err.reason == "Bad Request (missing %s)" % what
    err = raises(SIPError, parse, _msg(b"OPTIONS sip:b@example.com SIP/2.0\n" + b"".join(REQUIRED)))
    assert err.reason == "Bad Request (missing CSeq)"
    assert raises(SIPError, parse, b"X" * 9000).reason == "Message Too Large"
    assert str(raises(ValueError, build_request, "OPTIONS", "sip:b", [("X", "a\nb")])) == "line break in X"
    assert raises(Exception, parse_sdp, b"v=1\r\n").reason == "no v=0"
    assert str(raises(ValueError, build_offer, "h", 1, ("PCMU",), 95)) == "telephone-event needs a dynamic PT"


def test_character_sets_written_out_agree():
    # message.py and uri.py spell their byte sets out whole (code heap); they are these unions.
    from doorsip.sip import message, uri
    token = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"
    assert sorted(uri._TOKEN) == sorted(token) and uri._TOKEN[:62] == token[:62]
    assert sorted(uri._TOKEN[:65]) == sorted(token[:62] + b"+-.")
    assert uri._HOST == token[:62] + b"-._"
    assert sorted(message._PARAMS) == sorted(token + b";=:[]")
    assert message._URI == uri._HOST + b"!~*'()%;/?:@&=+$,[]"

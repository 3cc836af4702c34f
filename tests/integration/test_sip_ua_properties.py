# Property tests (CPython, hypothesis): whatever arrives on the SIP port, the UserAgent
# neither raises nor hits an internal error, and keeps answering afterwards.
from hypothesis import given, settings, strategies as st

from doorsip.sip.message import build_request, parse
from doorsip.sip.useragent import UserAgent

SRC = ("127.0.0.1", 6000)

TEMPLATES = [
    build_request("INVITE", "sip:flat@127.0.0.1:5062", [
        ("Via", "SIP/2.0/UDP 127.0.0.1:6000;branch=z9hG4bKp1;rport"),
        ("From", '"X" <sip:x@127.0.0.1>;tag=a1'), ("To", "<sip:flat@127.0.0.1>"),
        ("Call-ID", "prop1"), ("CSeq", "1 INVITE"), ("Contact", "<sip:x@127.0.0.1:6000>"),
        ("Record-Route", "<sip:p.example;lr>"), ("Content-Type", "application/sdp")],
        b"v=0\r\nm=audio 4000 RTP/AVP 0\r\n"),
    build_request("BYE", "sip:flat@127.0.0.1:5062", [
        ("Via", "SIP/2.0/UDP 127.0.0.1:6000;branch=z9hG4bKp2"), ("From", "<sip:x@h>;tag=a1"),
        ("To", "<sip:flat@h>;tag=zz"), ("Call-ID", "prop1"), ("CSeq", "2 BYE")]),
    build_request("CANCEL", "sip:flat@127.0.0.1:5062", [
        ("Via", "SIP/2.0/UDP 127.0.0.1:6000;branch=z9hG4bKp1"), ("From", "<sip:x@h>;tag=a1"),
        ("To", "<sip:flat@h>"), ("Call-ID", "prop1"), ("CSeq", "1 CANCEL")]),
    b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKq\r\nFrom: <sip:f@h>;tag=1\r\n"
    b"To: <sip:x@h>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContact: <sip:x@h>\r\nContent-Length: 0\r\n\r\n",
]


def fresh_ua():
    ua = UserAgent("flat", "127.0.0.1", "127.0.0.1", 5062, password="pw", registrar="127.0.0.1:5070")
    ua.register(0)
    ua.datagrams()
    return ua


def still_answers(ua, now):
    ua.datagrams()
    ua.receive(build_request("OPTIONS", "sip:flat@127.0.0.1:5062", [
        ("Via", "SIP/2.0/UDP 127.0.0.1:6000;branch=z9hG4bKalive"), ("From", "<sip:x@h>;tag=k"),
        ("To", "<sip:flat@h>"), ("Call-ID", "alive"), ("CSeq", "1 OPTIONS")]), SRC, now)
    out = ua.datagrams()
    assert out and parse(out[-1][0]).status == 200


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes(data):
    ua = fresh_ua()
    ua.receive(data, SRC, 10)
    ua.on_timer(100000)
    assert ua.stats["errors"] == 0, ua.last_error
    still_answers(ua, 100001)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(TEMPLATES) - 1), st.integers(0, 2000),
                          st.binary(max_size=12), st.integers(0, 40)), min_size=1, max_size=6))
def test_edited_messages_in_sequence(edits):
    ua = fresh_ua()
    now = 10
    for which, pos, insert, cut in edits:
        data = TEMPLATES[which]
        pos %= len(data) + 1
        data = data[:pos] + insert + data[pos + cut:]
        ua.receive(data, SRC, now)
        for event in iter(ua.next_event, None):
            if event.kind == "incoming_call":
                ua.answer(event.call, 200, b"v=0\r\n", now_ms=now)
        now += 700
        ua.on_timer(now)
    ua.on_timer(now + 200000)
    assert ua.stats["errors"] == 0, ua.last_error
    still_answers(ua, now + 200001)

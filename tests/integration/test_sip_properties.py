# Property tests (hypothesis, CPython) of the SIP parse contract: whatever is done to a valid
# message (byte flips, truncation, insertion, header duplication, line deletion), parse()
# returns a Message or raises SIPError with a 4xx/5xx status, never anything else; and a
# message it accepts can be read through every accessor and answered without error.
import os
import sys

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench"))

from doorsip.sip import SIPError, build_response, parse  # noqa: E402
from sip_mix import MESSAGES  # noqa: E402

CORPUS = os.path.join(os.path.dirname(ROOT), "shared", "sip-torture")


def _seeds():
    seeds = [data for _name, data in MESSAGES]
    if os.path.isdir(CORPUS):
        for name in sorted(os.listdir(CORPUS)):
            if name.endswith(".dat"):
                with open(os.path.join(CORPUS, name), "rb") as f:
                    data = f.read()
                try:
                    parse(data)
                except SIPError:
                    continue
                seeds.append(data)
    return seeds


SEEDS = _seeds()
SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_contract(data):
    """parse(data) obeys the contract; an accepted message is fully readable and answerable."""
    try:
        msg = parse(data)
    except SIPError as exc:
        assert isinstance(exc.status, int) and 400 <= exc.status <= 599, exc.status
        assert isinstance(exc.reason, str) and exc.reason
        return None
    # Everything a transaction, dialog or UA layer reads must work on an accepted message.
    assert isinstance(msg.body, bytes)
    assert (msg.method is None) != (msg.status is None)
    assert isinstance(msg.call_id, str) and msg.call_id
    number, method = msg.cseq
    assert 0 <= number <= 0xFFFFFFFF and method
    for name in ("via", "from", "to", "call-id", "cseq", "contact", "content-type", "x-none"):
        msg.header(name)
        msg.headers(name)
    msg.items()
    assert msg.header("via") == msg.headers("via")[0]
    # The fast readers (plain-text scans) agree with the full parsers of uri.py.
    fast = (msg.from_tag, msg.to_tag, msg.branch)
    assert msg.from_addr.uri and msg.to_addr.uri and msg.via.host
    assert fast == (msg.from_addr.tag, msg.to_addr.tag, msg.via.branch), fast
    if msg.method is not None and msg.method != "ACK":
        msg.stamp_received("198.51.100.1", 5999)
        response = parse(build_response(msg, 200, to_tag="t1"))
        assert response.status == 200 and response.cseq == msg.cseq
        assert response.headers("via") == msg.headers("via")
    return msg


def test_seeds_are_valid():
    assert len(SEEDS) >= 7
    for data in SEEDS:
        assert check_contract(data) is not None


@SETTINGS
@given(st.sampled_from(SEEDS), st.data())
def test_byte_flips(seed, data):
    buf = bytearray(seed)
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(buf) - 1))
        buf[pos] = data.draw(st.integers(0, 255))
    check_contract(bytes(buf))


@SETTINGS
@given(st.sampled_from(SEEDS), st.data())
def test_truncations(seed, data):
    start = data.draw(st.integers(0, len(seed)))
    end = data.draw(st.integers(start, len(seed)))
    check_contract(seed[start:end])
    check_contract(seed[:end])


INTERESTING = st.sampled_from([b"\r\n", b"\n", b"\r", b" ", b"\t", b":", b";", b",", b"\"", b"<", b">",
                               b"\\", b"=", b"%", b"\x00", b"\xff", b"\xc3", b"\r\n ", b"\r\n\r\n",
                               b"SIP/2.0", b";tag=", b";branch=", b"Content-Length: 99999\r\n"])


@SETTINGS
@given(st.sampled_from(SEEDS), st.data())
def test_insertions(seed, data):
    buf = seed
    for _ in range(data.draw(st.integers(1, 5))):
        pos = data.draw(st.integers(0, len(buf)))
        piece = data.draw(st.one_of(INTERESTING, st.binary(min_size=1, max_size=12)))
        buf = buf[:pos] + piece + buf[pos:]
    check_contract(buf)


@SETTINGS
@given(st.sampled_from(SEEDS), st.data())
def test_header_duplication_and_deletion(seed, data):
    head, sep, body = seed.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if len(lines) < 2:
        return
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(1, len(lines) - 1))
        action = data.draw(st.sampled_from(["dup", "delete", "move", "lower", "upper"]))
        if action == "dup":
            lines.insert(data.draw(st.integers(1, len(lines))), lines[i])
        elif action == "delete" and len(lines) > 2:
            del lines[i]
        elif action == "move":
            lines.insert(data.draw(st.integers(1, len(lines) - 1)), lines.pop(i))
        elif action == "lower":
            lines[i] = lines[i].lower()
        else:
            lines[i] = lines[i].upper()
    check_contract(b"\r\n".join(lines) + sep + body)


@SETTINGS
@given(st.binary(max_size=600))
def test_random_bytes(data):
    check_contract(data)
    check_contract(b"INVITE sip:a@b SIP/2.0\r\n" + data)
    check_contract(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h\r\n" + data)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 9000), st.sampled_from(SEEDS))
def test_large_datagrams(size, seed):
    # Padding a valid message with a big unknown header: accepted up to the bound, 513 above.
    pad = b"X-Pad: " + b"p" * size + b"\r\n"
    head, sep, body = seed.partition(b"\r\n\r\n")
    data = head + b"\r\n" + pad.rstrip(b"\r\n") + sep + body
    msg = check_contract(data)
    if len(data) > 8192:
        with pytest.raises(SIPError) as info:
            parse(data)
        assert info.value.status == 513
    else:
        assert msg is not None and msg.header("x-pad") == "p" * size


SEPARATORS = st.sampled_from([b";", b" ;", b"; ", b" ; ", b"\t;"])
EQUALS = st.sampled_from([b"=", b" =", b"= ", b" = "])
PARAM_NAMES = st.sampled_from([b"tag", b"TAG", b"Tag", b"x", b"q", b"branch", b"Branch", b"rport", b"lr"])
PARAM_VALUES = st.sampled_from([b"", b"1", b"abc", b"z9hG4bK77", b"a.b-c", b"\"q;v\"", b"192.0.2.1"])


@st.composite
def params(draw):
    out = b""
    for _ in range(draw(st.integers(0, 4))):
        value = draw(PARAM_VALUES)
        out += draw(SEPARATORS) + draw(PARAM_NAMES) + (draw(EQUALS) + value if value else b"")
    return out


@st.composite
def addresses(draw):
    display = draw(st.sampled_from([b"", b"Alice ", b"\"Alice A.\" ", b"\"a;tag=no\" ", b"Bob  Q ", b"\"x\\\"y\" "]))
    uri = draw(st.sampled_from([b"sip:a@example.com", b"sip:a@h;tag=inuri", b"sips:b@[2001:db8::1]:5061",
                                b"sip:c@h;lr;transport=udp"]))
    if display or draw(st.booleans()) or b";" in uri:
        return display + b"<" + uri + b">" + draw(params())
    return uri + draw(params())


@st.composite
def vias(draw):
    proto = draw(st.sampled_from([b"SIP/2.0/UDP", b"SIP / 2.0 / TCP", b"sip/2.0/tls"]))
    host = draw(st.sampled_from([b"h.example.com", b"192.0.2.7:5060", b"[::1]:5062", b"h : 5070"]))
    return proto + b" " + host + draw(params())


@settings(max_examples=600, deadline=None)
@given(addresses(), addresses(), vias())
def test_fast_readers_agree_with_full_parsers(from_value, to_value, via_value):
    data = (b"OPTIONS sip:b@example.com SIP/2.0\r\nVia: " + via_value + b"\r\nFrom: " + from_value +
            b"\r\nTo: " + to_value + b"\r\nCall-ID: c@h\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
    check_contract(data)

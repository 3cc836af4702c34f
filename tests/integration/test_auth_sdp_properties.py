# CPython-only property tests for sip/auth.py and sip/sdp.py (hypothesis), plus a
# cross-check of the digest verifier against an independent client: the standard
# library's urllib.request.AbstractDigestAuthHandler (MD5, qop=auth and none).
import urllib.request

from hypothesis import given, settings, strategies as st

from doorsip.sip import sdp
from doorsip.sip.auth import (AuthError, DigestClient, check_authorization, make_challenge,
                              parse_challenge, parse_challenges)
from doorsip.sip.sdp import SdpError

SETTINGS = settings(max_examples=150, deadline=None)

ascii_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=20)
any_text = st.text(max_size=30).filter(lambda s: "\x00" not in s)


class _Resp:
    def __init__(self, status, name, value):
        self.status = status
        self._h = {name.lower(): [value]}

    def headers(self, name):
        return self._h.get(name.lower(), [])

    def header(self, name):
        found = self.headers(name)
        return found[0] if found else None


@SETTINGS
@given(st.text(max_size=200))
def test_challenge_parser_raises_only_autherror(text):
    try:
        found = parse_challenges(text)
    except AuthError:
        return
    assert found and all("scheme" in c for c in found)


@SETTINGS
@given(st.binary(max_size=200))
def test_challenge_parser_bytes_raises_only_autherror(data):
    try:
        parse_challenges(data)
    except AuthError:
        pass


def _quote_by_hand(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@SETTINGS
@given(realm=st.text(max_size=20), nonce=ascii_text, opaque=st.text(max_size=20),
       stale=st.booleans())
def test_quoted_values_round_trip(realm, nonce, opaque, stale):
    value = "Digest realm=%s, nonce=%s, opaque=%s%s" % (
        _quote_by_hand(realm), _quote_by_hand(nonce), _quote_by_hand(opaque),
        ", stale=TRUE" if stale else "")
    ch = parse_challenge(value)
    assert (ch["realm"], ch["nonce"], ch["opaque"], ch["stale"]) == (realm, nonce, opaque, stale)


@SETTINGS
@given(user=any_text.filter(bool), password=any_text, realm=any_text, uri=ascii_text,
       algorithm=st.sampled_from(["MD5", "MD5-sess", "SHA-256", "SHA-256-sess"]),
       qop=st.sampled_from([None, "auth", "auth-int"]), body=st.binary(max_size=40),
       status=st.sampled_from([401, 407]))
def test_client_and_verifier_agree(user, password, realm, uri, algorithm, qop, body, status):
    name = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
    challenge = make_challenge(realm, algorithm=algorithm, qop=qop)
    header, value = DigestClient(user, password).authorize(_Resp(status, name, challenge),
                                                           "INVITE", uri, body)
    assert header == ("Authorization" if status == 401 else "Proxy-Authorization")
    users = {user: password}
    assert check_authorization(value, "INVITE", users, realm, body=body, uri=uri) == user
    assert check_authorization(value, "INVITE", {user: password + "x"}, realm, body=body) is None
    if qop == "auth-int":
        assert check_authorization(value, "INVITE", users, realm, body=body + b"!") is None


class _FixedCnonceHandler(urllib.request.AbstractDigestAuthHandler):
    def get_cnonce(self, nonce):
        return "0a4f113b"


class _Request:
    def __init__(self, method, selector):
        self._method = method
        self.selector = selector
        self.full_url = "http://example.org" + selector
        self.data = None

    def get_method(self):
        return self._method


@SETTINGS
@given(user=ascii_text.filter(lambda s: '"' not in s and "\\" not in s),
       password=ascii_text, qop=st.sampled_from([None, "auth"]))
def test_verifier_accepts_urllib_digest(user, password, qop):
    passwords = urllib.request.HTTPPasswordMgr()
    passwords.add_password("pbx", "http://example.org/", user, password)
    handler = _FixedCnonceHandler(passwords)
    chal = {"realm": "pbx", "nonce": "dcd98b7102dd2f0e8b11d0f600bfb0c093", "opaque": "5ccc"}
    if qop:
        chal["qop"] = qop
    value = "Digest " + handler.get_authorization(_Request("REGISTER", "/sip"), chal)
    assert check_authorization(value, "REGISTER", {user: password}, "pbx") == user
    assert check_authorization(value, "REGISTER", {user: password + "!"}, "pbx") is None


@SETTINGS
@given(st.binary(max_size=400))
def test_sdp_parse_raises_only_sdperror(data):
    try:
        sdp.parse(b"v=0\r\n" + data)
    except SdpError as exc:
        assert 400 <= exc.status < 500


_line = st.tuples(st.sampled_from("vosctmabik"),
                  st.lists(st.sampled_from(["IN", "IP4", "IP6", "0", "8", "101", "audio", "RTP/AVP",
                                            "rtpmap:0", "PCMU/8000", "1.2.3.4", "::1", "0.0.0.0",
                                            "sendonly", "telephone-event/8000", "ptime:20", "/",
                                            ":", "fmtp:101", "65536", "\xe4"]),
                           max_size=6))


_TEMPLATES = ["m=audio 4000 RTP/AVP 0 8 101", "m=audio 4002 RTP/AVP 8", "m=audio 0 RTP/AVP 0",
              "m=video 5000 RTP/AVP 31", "m=audio 4004 RTP/SAVP 0", "m=audio 4006 RTP/AVP 96 97",
              "c=IN IP4 1.2.3.4", "c=IN IP4 0.0.0.0", "c=IN IP6 2001:db8::1", "a=sendonly",
              "a=recvonly", "a=inactive", "a=sendrecv", "a=rtpmap:101 telephone-event/8000",
              "a=rtpmap:96 PCMA/8000", "a=rtpmap:97 telephone-event/8000", "a=fmtp:101 0-15",
              "a=ptime:30", "a=rtpmap:0 PCMU/16000", "t=0 0", "o=- 1 1 IN IP4 1.2.3.4", "s=-"]
_template_line = st.one_of(st.sampled_from(_TEMPLATES),
                           _line.map(lambda kv: "%s=%s" % (kv[0], " ".join(kv[1]))))


@SETTINGS
@given(st.lists(_template_line, max_size=25))
def test_sdp_answer_structured_garbage(lines):
    body = ("v=0\r\n" + "".join(line + "\r\n" for line in lines)).encode()
    for call in (lambda: sdp.answer(body, "10.0.0.1", 4000)[1], lambda: sdp.accept_answer(body)):
        try:
            params = call()
        except SdpError as exc:
            assert exc.status in (400, 413, 488)
        else:
            assert params.codec in ("PCMU", "PCMA")
            assert 0 < params.remote_port < 65536
    try:
        answer_body, _params = sdp.answer(body, "10.0.0.1", 4000)
    except SdpError:
        return
    # RFC 3264 6: one m= line in the answer per m= line in the offer, same order
    offered = sdp.parse(body).media
    answered = sdp.parse(answer_body).media
    assert [m.media for m in answered] == [m.media for m in offered]
    assert sum(1 for m in answered if m.port) == 1


@SETTINGS
@given(port=st.integers(1, 65535), ours=st.permutations(["PCMU", "PCMA"]),
       theirs=st.permutations(["PCMU", "PCMA"]), dtmf=st.one_of(st.none(), st.integers(96, 127)),
       direction=st.sampled_from(["sendrecv", "sendonly", "recvonly", "inactive"]),
       ip=st.sampled_from(["10.0.0.1", "2001:db8::1", "pbx.example.org"]))
def test_offer_answer_round_trip(port, ours, theirs, dtmf, direction, ip):
    offer = sdp.build_offer(ip, port, codecs=theirs, dtmf_pt=dtmf, direction=direction)
    body, params = sdp.answer(offer, "192.168.1.2", 5000, codecs=ours)
    assert params.codec == ours[0] and params.remote_port == port and params.remote_ip == ip
    assert params.dtmf_pt == dtmf
    mirror = {"sendonly": "recvonly", "recvonly": "sendonly"}
    assert params.direction == mirror.get(direction, direction)
    back = sdp.accept_answer(body, codecs=theirs, dtmf_pt=dtmf, direction=direction)
    assert back.codec == ours[0] and back.remote_port == 5000 and back.dtmf_pt == dtmf
    assert back.direction == direction

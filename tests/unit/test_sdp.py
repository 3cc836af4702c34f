# SDP offer/answer (RFC 4566, RFC 3264): building offers, parsing real-world
# bodies, answering, accepting answers, and malformed input raising SdpError only.
from support import raises
from doorsip.sip import sdp
from doorsip.sip.sdp import SdpError, accept_answer, answer, build_offer, parse


def _lines(body):
    assert isinstance(body, bytes)
    assert body.endswith(b"\r\n")
    return body.decode().split("\r\n")[:-1]


def _offer(media, session=""):
    return ("v=0\r\no=alice 2890844526 2890844526 IN IP4 host.example.com\r\ns=-\r\n" + session +
            "t=0 0\r\n" + media).encode()


def test_build_offer_lines():
    body = build_offer("192.168.1.10", 4000, session_id=1234)
    lines = _lines(body)
    assert lines[0] == "v=0"
    assert lines[1] == "o=doorsip 1234 1234 IN IP4 192.168.1.10"
    assert "c=IN IP4 192.168.1.10" in lines and "t=0 0" in lines
    m = lines.index("m=audio 4000 RTP/AVP 0 8 101")
    assert lines[m + 1:] == ["a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000",
                             "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15",
                             "a=ptime:20", "a=sendrecv"]


def test_build_offer_options():
    lines = _lines(build_offer("10.0.0.1", 5000, codecs=("PCMA",), dtmf_pt=None,
                               session_id=7, session_version=8, direction="sendonly"))
    assert "o=doorsip 7 8 IN IP4 10.0.0.1" in lines
    assert "m=audio 5000 RTP/AVP 8" in lines and "a=sendonly" in lines
    assert not [l for l in lines if "telephone-event" in l]
    lines = _lines(build_offer("2001:db8::5", 5000, dtmf_pt=96))
    assert "c=IN IP6 2001:db8::5" in lines and "a=rtpmap:96 telephone-event/8000" in lines
    raises(ValueError, build_offer, "10.0.0.1", 5000, codecs=("OPUS",))
    raises(ValueError, build_offer, "10.0.0.1", 5000, direction="sideways")
    raises(ValueError, build_offer, "10.0.0.1", 5000, dtmf_pt=8)
    raises(ValueError, build_offer, "10.0.0.1\r\nm=video", 5000)
    raises(ValueError, build_offer, "", 5000)


def test_session_ids_are_random():
    a = parse(build_offer("10.0.0.1", 4000)).origin[1]
    b = parse(build_offer("10.0.0.1", 4000)).origin[1]
    assert a != b


def test_own_offer_round_trip():
    body, params = answer(build_offer("10.0.0.1", 4000), "10.0.0.2", 6000)
    assert (params.remote_ip, params.remote_port) == ("10.0.0.1", 4000)
    assert (params.codec, params.payload_type, params.dtmf_pt) == ("PCMU", 0, 101)
    assert params.ptime == 20 and params.direction == "sendrecv"
    back = accept_answer(body)
    assert (back.remote_ip, back.remote_port, back.codec, back.payload_type, back.dtmf_pt) == (
        "10.0.0.2", 6000, "PCMU", 0, 101)
    assert back.direction == "sendrecv"


def test_parse_session_and_media_level_connection():
    body = _offer("m=audio 49170 RTP/AVP 0\r\n"
                  "m=audio 49180 RTP/AVP 8\r\nc=IN IP4 10.9.9.9\r\n",
                  session="c=IN IP4 224.2.1.1/127\r\n")
    s = parse(body)
    assert s.connection == "224.2.1.1"
    assert s.media[0].connection == "224.2.1.1"
    assert s.media[1].connection == "10.9.9.9"
    assert s.origin[1] == "2890844526"


def test_parse_ipv6_and_port_count():
    s = parse(_offer("m=audio 49170/2 RTP/AVP 0\r\nc=IN IP6 2001:db8::1\r\n"))
    assert s.media[0].port == 49170
    assert s.media[0].connection == "2001:db8::1" and s.media[0].addrtype == "IP6"
    _body, params = answer(_offer("m=audio 49170 RTP/AVP 0\r\nc=IN IP6 2001:db8::1\r\n"),
                           "2001:db8::2", 4000)
    assert params.remote_ip == "2001:db8::1"
    assert "c=IN IP6 2001:db8::2" in _lines(_body)


def test_rtpmap_case_insensitive_dynamic_and_static_without_rtpmap():
    s = parse(_offer("c=IN IP4 1.2.3.4\r\nm=audio 1 RTP/AVP 96 8 0 18 97 98 99 0\r\n"
                     "a=rtpmap:96 pcmu/8000\r\na=RTPMAP:97 Telephone-Event/8000\r\n"
                     "a=fmtp:97 0-16\r\na=PTIME:30\r\na=rtpmap:98 PCMA/16000\r\n"
                     "a=rtpmap:8 G722/8000\r\na=rtpmap:100 PCMU/8000\r\na=fmtp:100 x\r\n"))
    m = s.media[0]
    assert m.payload_types == [96, 8, 0, 18, 97, 98, 99]
    assert m.encoding(96) == ("PCMU", 8000, 1)
    assert m.encoding(0) == ("PCMU", 8000, 1)
    assert m.encoding(18) == ("G729", 8000, 1)
    assert m.encoding(97) == ("TELEPHONE-EVENT", 8000, 1)
    assert m.encoding(98) is None  # PCMA at 16 kHz is not our PCMA
    assert m.encoding(8) is None  # an rtpmap overrides the static meaning
    assert m.encoding(99) is None
    assert m.encoding(100) is None and 100 not in m.fmtp  # not a format of this m= line
    assert m.fmtp[97] == "0-16" and m.ptime == 30


def test_answer_uses_our_preference_order_and_offerer_pts():
    offer = _offer("c=IN IP4 1.2.3.4\r\nm=audio 7000 RTP/AVP 8 0 96\r\n"
                   "a=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-16\r\na=ptime:30\r\n")
    body, p = answer(offer, "10.0.0.2", 6000, codecs=("PCMU", "PCMA"))
    assert (p.codec, p.payload_type, p.dtmf_pt, p.ptime) == ("PCMU", 0, 96, 30)
    lines = _lines(body)
    assert "m=audio 6000 RTP/AVP 0 96" in lines
    assert "a=rtpmap:96 telephone-event/8000" in lines and "a=fmtp:96 0-16" in lines
    _b, p = answer(offer, "10.0.0.2", 6000, codecs=("PCMA", "PCMU"))
    assert (p.codec, p.payload_type) == ("PCMA", 8)
    # only PCMA offered: taken even though PCMU comes first in our list
    _b, p = answer(_offer("c=IN IP4 1.2.3.4\r\nm=audio 7000 RTP/AVP 8\r\n"), "10.0.0.2", 6000)
    assert (p.codec, p.dtmf_pt) == ("PCMA", None)
    assert not [l for l in _lines(_b) if "telephone-event" in l]
    # a dynamic PT carrying PCMU keeps the offerer's number
    _b, p = answer(_offer("c=IN IP4 1.2.3.4\r\nm=audio 7000 RTP/AVP 112\r\n"
                          "a=rtpmap:112 PCMU/8000\r\n"), "10.0.0.2", 6000)
    assert (p.codec, p.payload_type) == ("PCMU", 112)
    assert "a=rtpmap:112 PCMU/8000" in _lines(_b)
    # telephone-event at another clock rate is not ours; dtmf=False leaves it out
    _b, p = answer(_offer("c=IN IP4 1.2.3.4\r\nm=audio 7000 RTP/AVP 0 101\r\n"
                          "a=rtpmap:101 telephone-event/48000\r\n"), "10.0.0.2", 6000)
    assert p.dtmf_pt is None
    _b, p = answer(offer, "10.0.0.2", 6000, dtmf=False)
    assert p.dtmf_pt is None


def test_answer_keeps_offered_transport_profile():
    body, p = answer(_offer("c=IN IP4 1.2.3.4\r\nm=audio 7000 RTP/AVPF 0\r\na=rtcp-fb:* nack\r\n"),
                     "10.0.0.2", 6000)
    assert "m=audio 6000 RTP/AVPF 0" in _lines(body)
    assert accept_answer(body).codec == "PCMU"


def test_answer_keeps_t_line_and_own_origin():
    body, _p = answer(_offer("c=IN IP4 1.2.3.4\r\nm=audio 7000 RTP/AVP 0\r\n").replace(
        b"t=0 0", b"t=3034423619 3042462419"), "10.0.0.2", 6000, session_id=55)
    lines = _lines(body)
    assert "t=3034423619 3042462419" in lines
    assert "o=doorsip 55 55 IN IP4 10.0.0.2" in lines


def test_multiple_media_lines_first_usable_audio_others_rejected():
    offer = _offer("c=IN IP4 1.2.3.4\r\n"
                   "m=video 51372 RTP/AVP 31 32\r\na=rtpmap:31 H261/90000\r\n"
                   "m=audio 0 RTP/AVP 0\r\n"
                   "m=audio 49170 RTP/SAVP 0\r\n"
                   "m=audio 49172 RTP/AVP 18\r\n"
                   "m=audio 49174 RTP/AVP 0 8\r\nc=IN IP4 5.6.7.8\r\n"
                   "m=audio 49176 RTP/AVP 0\r\n"
                   "m=application 9 TCP/BFCP *\r\n")
    body, p = answer(offer, "10.0.0.2", 6000)
    assert (p.remote_ip, p.remote_port, p.codec) == ("5.6.7.8", 49174, "PCMU")
    m_lines = [l for l in _lines(body) if l.startswith("m=")]
    assert m_lines == ["m=video 0 RTP/AVP 31 32", "m=audio 0 RTP/AVP 0", "m=audio 0 RTP/SAVP 0",
                       "m=audio 0 RTP/AVP 18", "m=audio 6000 RTP/AVP 0",
                       "m=audio 0 RTP/AVP 0", "m=application 0 TCP/BFCP *"]


def test_direction_mirrored_session_and_media_level():
    cases = (("", "", "sendrecv"),
             ("a=sendonly\r\n", "", "recvonly"),
             ("a=recvonly\r\n", "", "sendonly"),
             ("a=inactive\r\n", "", "inactive"),
             ("", "a=sendonly\r\n", "recvonly"),
             ("a=sendrecv\r\n", "a=inactive\r\n", "sendrecv"),
             ("a=inactive\r\n", "a=sendrecv\r\n", "inactive"))
    for media_attr, session_attr, want in cases:
        offer = _offer("m=audio 7000 RTP/AVP 0\r\n" + media_attr,
                       session="c=IN IP4 1.2.3.4\r\n" + session_attr)
        body, p = answer(offer, "10.0.0.2", 6000)
        assert p.direction == want
        assert ("a=" + want) in _lines(body)


def test_hold_with_zero_address_and_local_direction():
    body, p = answer(_offer("c=IN IP4 0.0.0.0\r\nm=audio 7000 RTP/AVP 0\r\n"), "10.0.0.2", 6000)
    assert p.direction == "recvonly" and p.remote_ip == "0.0.0.0"
    assert "a=recvonly" in _lines(body)
    _b, p = answer(_offer("c=IN IP4 0.0.0.0\r\nm=audio 7000 RTP/AVP 0\r\na=recvonly\r\n"),
                   "10.0.0.2", 6000)
    assert p.direction == "inactive"
    # we ourselves only send (e.g. a one-way announcement)
    _b, p = answer(_offer("c=IN IP4 1.2.3.4\r\nm=audio 7000 RTP/AVP 0\r\n"), "10.0.0.2", 6000,
                   direction="sendonly")
    assert p.direction == "sendonly"


def test_answer_rejections_are_488():
    for media in ("c=IN IP4 1.2.3.4\r\nm=audio 7000 RTP/AVP 18 9\r\n",
                  "c=IN IP4 1.2.3.4\r\nm=audio 7000 RTP/AVP 0\r\na=rtpmap:0 PCMU/16000\r\n",
                  "c=IN IP4 1.2.3.4\r\nm=audio 0 RTP/AVP 0\r\n",
                  "c=IN IP4 1.2.3.4\r\nm=audio 7000 RTP/SAVP 0\r\n",
                  "c=IN IP4 1.2.3.4\r\nm=video 7000 RTP/AVP 0\r\n",
                  "c=IN IP4 1.2.3.4\r\n",
                  "c=IN IP4 1.2.3.4\r\nm=audio 7000 RTP/AVP\r\n"):
        err = raises(SdpError, answer, _offer(media), "10.0.0.2", 6000)
        assert err.status == 488, media
    err = raises(SdpError, answer, _offer("c=ATM NSAP x\r\nm=audio 7000 RTP/AVP 0\r\n"),
                 "10.0.0.2", 6000)
    assert err.status == 488
    err = raises(SdpError, answer, _offer("m=audio 7000 RTP/AVP 0\r\n"), "10.0.0.2", 6000)
    assert err.status == 400  # no c= anywhere


def test_accept_answer_checks_what_we_offered():
    def ans(media):
        return _offer("c=IN IP4 10.1.1.1\r\n" + media)
    p = accept_answer(ans("m=audio 8000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\n"
                          "a=ptime:40\r\n"))
    assert (p.remote_ip, p.remote_port, p.codec, p.payload_type, p.dtmf_pt, p.ptime) == (
        "10.1.1.1", 8000, "PCMA", 8, 101, 40)
    p = accept_answer(ans("m=audio 8000 RTP/AVP 18 0\r\n"))
    assert (p.codec, p.dtmf_pt, p.ptime) == ("PCMU", None, 20)
    p = accept_answer(ans("m=audio 8000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"),
                      dtmf_pt=None)
    assert p.dtmf_pt is None
    for media in ("m=audio 8000 RTP/AVP 18\r\n", "m=audio 0 RTP/AVP 0\r\n",
                  "m=video 8000 RTP/AVP 0\r\n", "m=audio 8000 RTP/SAVP 0\r\n", ""):
        assert raises(SdpError, accept_answer, ans(media)).status == 488
    # we offered PCMU only: a PCMA answer picked something we did not offer
    assert raises(SdpError, accept_answer, ans("m=audio 8000 RTP/AVP 8\r\n"),
                  codecs=("PCMU",)).status == 488


def test_accept_answer_direction():
    def direction(attr, offered="sendrecv", address="10.1.1.1"):
        body = _offer("c=IN IP4 " + address + "\r\nm=audio 8000 RTP/AVP 0\r\n" + attr)
        return accept_answer(body, direction=offered).direction
    assert direction("a=recvonly\r\n") == "sendonly"
    assert direction("a=sendonly\r\n") == "recvonly"
    assert direction("a=inactive\r\n") == "inactive"
    assert direction("a=recvonly\r\n", offered="sendonly") == "sendonly"
    assert direction("", offered="sendonly") == "sendonly"
    assert direction("", address="0.0.0.0") == "recvonly"


def test_real_world_bodies():
    baresip = (b"v=0\r\no=- 1386216372 3407617838 IN IP4 127.0.0.1\r\ns=-\r\n"
               b"c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 10002 RTP/AVP 0 8 101\r\n"
               b"b=AS:64\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
               b"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n"
               b"a=label:1\r\na=rtcp-rsize\r\na=ssrc:1234 cname:abc\r\n")
    _b, p = answer(baresip, "127.0.0.1", 4000)
    assert (p.remote_port, p.codec, p.dtmf_pt) == (10002, "PCMU", 101)
    # LF-only line ends, no trailing newline, attributes before c=, i= in Latin-1
    fritz = (b"v=0\no=user 1 2 IN IP4 192.168.178.1\ns=call\ni=T\xe4r\nt=0 0\n"
             b"m=audio 7078 RTP/AVP 8 0 9 101\na=rtpmap:101 telephone-event/8000\n"
             b"a=fmtp:101 0-15\nc=IN IP4 192.168.178.1\na=ptime:20")
    _b, p = answer(fritz, "192.168.178.20", 4000)
    assert (p.remote_ip, p.codec, p.payload_type) == ("192.168.178.1", "PCMU", 0)
    sipp = (b"v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n"
            b"c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n"
            b"a=rtpmap:0 PCMU/8000\r\n")
    assert answer(sipp, "127.0.0.1", 4000)[1].remote_port == 6000


def test_malformed_raises_sdperror_only():
    good = _offer("c=IN IP4 1.2.3.4\r\nm=audio 7000 RTP/AVP 0\r\n")
    bad = (b"", b"\r\n", b"hello", b"v=1\r\n", b"x\r\nv=0\r\n",
           good.replace(b"7000", b"70000"), good.replace(b"7000", b"-1"),
           good.replace(b"7000", b"port"), good.replace(b" 0\r\n", b" 0 abc\r\n"),
           good.replace(b" 0\r\n", b" 128\r\n"), good.replace(b"IN IP4 1.2.3.4", b"IN IP4"),
           good.replace(b"1.2.3.4", b"\xff\xfe"), good.replace(b"m=audio", b"m"),
           good + b"=broken\r\n", good + b"m=audio\r\n", b"v=0\r\n" + b"a=x\r\n" * 2000)
    for body in bad:
        err = raises(SdpError, answer, body, "10.0.0.2", 6000)
        assert 400 <= err.status < 500
    assert raises(SdpError, parse, b"v=0\r\n" + b"m=audio 0 RTP/AVP 0\r\n" * 9).status == 488
    assert raises(SdpError, parse, b"v=0\r\n" + b"x" * 9000).status == 413
    # unknown or malformed attributes are ignored, not fatal (RFC 4566 5.13)
    _b, p = answer(good + b"a=rtpmap:zz PCMU\r\na=rtpmap:5\r\na=ptime:abc\r\na=\xff\r\n"
                   b"a=fmtp:x\r\nk=prompt\r\n", "10.0.0.2", 6000)
    assert p.codec == "PCMU" and p.ptime == 20


def test_mutated_offers_never_raise_anything_else():
    # Every single-byte corruption of a real offer: parsed, answered or refused
    # with SdpError, never another exception.
    body = build_offer("192.168.1.10", 4000, session_id=1)
    outcomes = {"ok": 0, "error": 0}
    for i in range(len(body)):
        for replacement in (b"\x00", b" ", b"\n", b"=", b"9", b"\xc3"):
            mutated = body[:i] + replacement + body[i + 1:]
            try:
                answer(mutated, "10.0.0.2", 6000)
                accept_answer(mutated)
                outcomes["ok"] += 1
            except SdpError as exc:
                assert 400 <= exc.status < 500
                outcomes["error"] += 1
        truncated = body[:i]
        try:
            answer(truncated, "10.0.0.2", 6000)
        except SdpError:
            outcomes["error"] += 1
    assert outcomes["ok"] > 0 and outcomes["error"] > 0


def test_media_params_repr():
    p = sdp.MediaParams("1.2.3.4", 5, "PCMU", 0, None, 20, "sendrecv")
    assert "1.2.3.4:5" in repr(p)

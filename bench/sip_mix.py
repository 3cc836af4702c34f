# The realistic 7-message mix used by bench_sip_parse.py (shared by its CPython and
# MicroPython halves): INVITE with SDP, 200 with SDP, 401 with WWW-Authenticate, REGISTER,
# 180, ACK, BYE, as a door station and a PBX exchange them. At the end, source snippets
# shared by the benches and tests that generate scripts: PLUG_HEAP, TICKS_US.
_SDP_OFFER = (
    b"v=0\r\no=door 3124 3124 IN IP4 192.168.1.50\r\ns=doorsip\r\nc=IN IP4 192.168.1.50\r\n"
    b"t=0 0\r\nm=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n"
)
_SDP_ANSWER = (
    b"v=0\r\no=flat200 8721 8722 IN IP4 192.168.1.20\r\ns=-\r\nc=IN IP4 192.168.1.20\r\n"
    b"t=0 0\r\nm=audio 16384 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
)

# The PBX's responses to the INVITE (180, 200): the same dialog header lines.
_INVITE_RESPONSE = (
    b"Via: SIP/2.0/UDP 192.168.1.50:5060;rport=5060;received=192.168.1.50;branch=z9hG4bK5f3a9c2e71d04b88\n"
    b"Record-Route: <sip:192.168.1.2;lr>\n"
    b"From: \"Front door\" <sip:door100@pbx.example.org>;tag=9a8b7c6d5e4f3a2b\n"
    b"To: <sip:flat200@pbx.example.org>;tag=as4f2a91c3\n"
    b"Call-ID: 6c1f2d3e4a5b6c7d8e9f0a1b@192.168.1.50\n"
    b"CSeq: 2 INVITE\n"
    b"Contact: <sip:flat200@192.168.1.20:5062>\n"
)


def _msg(head, body=b""):
    return head.replace(b"\n", b"\r\n") + b"Content-Length: %d\r\n\r\n" % len(body) + body


MESSAGES = (
    ("INVITE+SDP", _msg(
        b"INVITE sip:flat200@pbx.example.org SIP/2.0\n"
        b"Via: SIP/2.0/UDP 192.168.1.50:5060;rport;branch=z9hG4bK5f3a9c2e71d04b88\n"
        b"Max-Forwards: 70\n"
        b"From: \"Front door\" <sip:door100@pbx.example.org>;tag=9a8b7c6d5e4f3a2b\n"
        b"To: <sip:flat200@pbx.example.org>\n"
        b"Call-ID: 6c1f2d3e4a5b6c7d8e9f0a1b@192.168.1.50\n"
        b"CSeq: 2 INVITE\n"
        b"Contact: <sip:door100@192.168.1.50:5060>\n"
        b"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO\n"
        b"Authorization: Digest username=\"door100\", realm=\"pbx.example.org\", "
        b"nonce=\"5f8a1c2b3d4e\", uri=\"sip:flat200@pbx.example.org\", "
        b"response=\"0a1b2c3d4e5f60718293a4b5c6d7e8f9\", algorithm=MD5\n"
        b"User-Agent: doorsip/0.1\n"
        b"Content-Type: application/sdp\n", _SDP_OFFER)),
    ("200+SDP", _msg(
        b"SIP/2.0 200 OK\n" + _INVITE_RESPONSE +
        b"Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, INFO\n"
        b"Supported: replaces, timer\n"
        b"Server: Asterisk PBX 18.10.0\n"
        b"Content-Type: application/sdp\n", _SDP_ANSWER)),
    ("401", _msg(
        b"SIP/2.0 401 Unauthorized\n"
        b"Via: SIP/2.0/UDP 192.168.1.50:5060;rport=5060;received=192.168.1.50;branch=z9hG4bK1e2d3c4b5a697887\n"
        b"From: <sip:door100@pbx.example.org>;tag=1a2b3c4d5e6f7081\n"
        b"To: <sip:door100@pbx.example.org>;tag=as0b9c8d7e\n"
        b"Call-ID: 0f1e2d3c4b5a69788796a5b4@192.168.1.50\n"
        b"CSeq: 1 REGISTER\n"
        b"Server: Asterisk PBX 18.10.0\n"
        b"Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, SUBSCRIBE, NOTIFY, INFO\n"
        b"Supported: replaces, timer\n"
        b"WWW-Authenticate: Digest algorithm=MD5, realm=\"pbx.example.org\", nonce=\"1b2c3d4e\", qop=\"auth\", opaque=\"5ccc069c403ebaf9\"\n")),
    ("REGISTER", _msg(
        b"REGISTER sip:pbx.example.org SIP/2.0\n"
        b"Via: SIP/2.0/UDP 192.168.1.50:5060;rport;branch=z9hG4bK1e2d3c4b5a697887\n"
        b"Max-Forwards: 70\n"
        b"From: <sip:door100@pbx.example.org>;tag=1a2b3c4d5e6f7081\n"
        b"To: <sip:door100@pbx.example.org>\n"
        b"Call-ID: 0f1e2d3c4b5a69788796a5b4@192.168.1.50\n"
        b"CSeq: 1 REGISTER\n"
        b"Contact: <sip:door100@192.168.1.50:5060>;expires=300\n"
        b"Expires: 300\n"
        b"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO\n"
        b"User-Agent: doorsip/0.1\n")),
    ("180", _msg(
        b"SIP/2.0 180 Ringing\n" + _INVITE_RESPONSE +
        b"Server: Asterisk PBX 18.10.0\n")),
    ("ACK", _msg(
        b"ACK sip:flat200@192.168.1.20:5062 SIP/2.0\n"
        b"Via: SIP/2.0/UDP 192.168.1.50:5060;rport;branch=z9hG4bK0a9b8c7d6e5f4a3b\n"
        b"Route: <sip:192.168.1.2;lr>\n"
        b"Max-Forwards: 70\n"
        b"From: \"Front door\" <sip:door100@pbx.example.org>;tag=9a8b7c6d5e4f3a2b\n"
        b"To: <sip:flat200@pbx.example.org>;tag=as4f2a91c3\n"
        b"Call-ID: 6c1f2d3e4a5b6c7d8e9f0a1b@192.168.1.50\n"
        b"CSeq: 2 ACK\n")),
    ("BYE", _msg(
        b"BYE sip:door100@192.168.1.50:5060 SIP/2.0\n"
        b"Via: SIP/2.0/UDP 192.168.1.2;branch=z9hG4bK7d6c5b4a39281706\n"
        b"Via: SIP/2.0/UDP 192.168.1.20:5062;rport;branch=z9hG4bKf0e1d2c3b4a59687\n"
        b"Max-Forwards: 69\n"
        b"From: <sip:flat200@pbx.example.org>;tag=as4f2a91c3\n"
        b"To: \"Front door\" <sip:door100@pbx.example.org>;tag=9a8b7c6d5e4f3a2b\n"
        b"Call-ID: 6c1f2d3e4a5b6c7d8e9f0a1b@192.168.1.50\n"
        b"CSeq: 102 BYE\n"
        b"User-Agent: Linphone/5.0\n")),
)


# MicroPython source (module level) shared by bench_sip_parse.py and
# tests/integration/test_sip_parse_heap.py: with `target` (bytes to leave free),
# `ballast = [None] * 64` and `plugs = [None] * 4000` set and gc.collect() done,
# reserve the target as one block, fill every other free byte (big pieces, then
# one-block floats for the small holes the imports left), then release the
# reserve: the free heap is one region of about `target` bytes.
PLUG_HEAP = """reserve = bytearray(target - 32)
count = 0
for size in (65536, 16384, 4096, 1024, 256, 64, 16):
    while count < len(ballast):
        try:
            ballast[count] = bytearray(size)
        except MemoryError:
            break
        count += 1
try:
    for i in range(len(plugs)):
        plugs[i] = i + 0.5
except MemoryError:
    pass
reserve = None
"""


# Source shared by the bench scripts that run unchanged under both interpreters:
# ticks_us() and ticks_diff(a, b), MicroPython's or made from time.perf_counter_ns.
TICKS_US = r"""try:
    from time import ticks_us, ticks_diff
except ImportError:
    import time
    def ticks_us():
        return time.perf_counter_ns() // 1000
    def ticks_diff(a, b):
        return a - b
"""

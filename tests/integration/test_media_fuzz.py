# Property tests (hypothesis) of the media packet code: whatever arrives, the
# RTP receiver, the RTCP parser and the jitter buffer never raise, count what
# they drop, and keep their memory bounded.
from hypothesis import given, settings, strategies as st

from doorsip.media import g711, rtcp, rtp
from doorsip.media.jitter import JitterBuffer, PUT_BAD

PEER = ("127.0.0.1", 4000)


def rtp_like():
    # Mostly plausible headers (version 2, our payload types), often mangled.
    header = st.builds(
        lambda b0, b1, rest: bytes([b0, b1]) + rest,
        st.one_of(st.just(0x80), st.integers(0, 255)),
        st.one_of(st.sampled_from([0, 8, 101, 13, 0x80]), st.integers(0, 255)),
        st.binary(min_size=0, max_size=40),
    )
    return st.one_of(st.binary(max_size=300), st.builds(lambda h, p: h + p, header, st.binary(max_size=200)))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(rtp_like(), st.booleans(), st.integers(0, 1 << 29)), max_size=60))
def test_rtp_receiver_never_raises_and_counts_everything(datagrams):
    jb = JitterBuffer(g711.ulaw_decode_into, g711.SILENCE_ULAW)
    rx = rtp.RtpReceiver((0,), event_pt=101, jitter=jb)
    out = bytearray(320)
    for data, same_source, now in datagrams:
        kind = rx.on_packet(data, len(data), PEER if same_source else ("10.0.0.9", 9), now)
        assert kind in (rtp.KIND_DROPPED, rtp.KIND_AUDIO, rtp.KIND_EVENT, rtp.KIND_OTHER)
        if kind != rtp.KIND_DROPPED:
            assert 12 <= rx.payload_offset <= rx.payload_offset + rx.payload_len <= len(data)
        jb.get_into(out)
        assert 0 <= jb._count <= 16
    assert rx.received + rx.dropped == len(datagrams)
    figures = rtp.call_figures(None, rx, jb)
    assert figures["packets_lost"] >= 0


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200), st.integers(0, 1 << 29))
def test_rtcp_parser_never_raises(data, now):
    session = rtcp.RtcpSession(rtp.RtpSender(0), rtp.RtpReceiver((0,)))
    mask = session.on_packet(data, len(data), PEER, now)
    assert (mask == 0) == (session.dropped == 1)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, (1 << 32) - 1), st.integers(-5, 700), st.integers(-5, 50)), max_size=80))
def test_jitter_buffer_bounded_whatever_the_timestamps(puts):
    jb = JitterBuffer(g711.alaw_decode_into, g711.SILENCE_ALAW)
    payload = bytes(range(256)) * 3
    out = bytearray(320)
    for ts, length, offset in puts:
        status = jb.put(ts, payload, offset, length)
        if length <= 0 or offset < 0 or offset + length > len(payload):
            assert status == PUT_BAD
        jb.get_into(out)
        assert 0 <= jb._count <= 16
        assert jb.depth_ms <= 200

# RTP and RTCP (RFC 3550) on preallocated buffers: header fields, wrap-around,
# parsing of CSRC/extension/padding, what gets dropped and counted, symmetric
# RTP latching, SSRC changes, loss and jitter figures, RTCP reports both ways.
from doorsip.media import rtp, rtcp, g711
from doorsip.media.jitter import JitterBuffer
from support import raises, skip

# RtcpSession.on_packet's mask bits (rtcp.py docstring)
RTCP_SR, RTCP_RR, RTCP_SDES, RTCP_BYE = 1, 2, 4, 8

PEER = ("192.0.2.7", 40000)


def packet(seq, ts, pt=0, ssrc=0x11223344, marker=False, payload=b"\xff" * 160,
           csrc=(), ext=None, pad=0, version=2):
    b0 = (version << 6) | len(csrc)
    if ext is not None:
        b0 |= 0x10
    if pad:
        b0 |= 0x20
    out = bytearray([b0, pt | (0x80 if marker else 0), seq >> 8 & 0xFF, seq & 0xFF,
                     ts >> 24 & 0xFF, ts >> 16 & 0xFF, ts >> 8 & 0xFF, ts & 0xFF,
                     ssrc >> 24 & 0xFF, ssrc >> 16 & 0xFF, ssrc >> 8 & 0xFF, ssrc & 0xFF])
    for c in csrc:
        out += bytes([c >> 24 & 0xFF, c >> 16 & 0xFF, c >> 8 & 0xFF, c & 0xFF])
    if ext is not None:
        words = len(ext) // 4
        out += b"\xbe\xde" + bytes([words >> 8, words & 0xFF]) + ext
    out += payload
    if pad:
        out += bytes(pad - 1) + bytes([pad])
    return bytes(out)


def u16(b, i):
    return (b[i] << 8) | b[i + 1]


def u32(b, i):
    return (u16(b, i) << 16) | u16(b, i + 2)


def test_sender_header_fields_and_marker():
    tx = rtp.RtpSender(8, g711.alaw_encode_into)
    pcm = bytearray(320)
    first = bytes(tx.pack_frame(pcm))
    second = bytes(tx.pack_frame(pcm))
    assert len(first) == 172 and first[0] == 0x80
    assert first[1] == 0x80 | 8          # marker: first packet of a talkspurt
    assert second[1] == 8
    assert u16(second, 2) == (u16(first, 2) + 1) & 0xFFFF
    assert (u32(second, 4) - u32(first, 4)) & 0xFFFFFFFF == 160
    assert u32(first, 8) == tx.ssrc == u32(second, 8)
    assert first[12:] == b"\xd5" * 160    # A-law silence
    assert tx.packets == 2 and tx.octets == 320
    tx.start_talkspurt()
    assert tx.pack_frame(pcm)[1] == 0x88


def test_sender_random_start_values():
    a = rtp.RtpSender(0)
    b = rtp.RtpSender(0)
    assert (a.ssrc, a.seq, a.timestamp) != (b.ssrc, b.seq, b.timestamp)


def test_sender_sequence_and_timestamp_wrap():
    tx = rtp.RtpSender(0, g711.ulaw_encode_into)
    tx.seq = 0xFFFF
    tx._ts_top = 3
    tx._ts = 0x3FFFFFFF - 100   # 32-bit timestamp 0xFFFFFF9B
    pcm = bytearray(320)
    a = bytes(tx.pack_frame(pcm))
    b = bytes(tx.pack_frame(pcm))
    assert u16(a, 2) == 0xFFFF and u16(b, 2) == 0
    assert u32(a, 4) == 0xFFFFFF9B and u32(b, 4) == (0xFFFFFF9B + 160) & 0xFFFFFFFF
    assert tx.timestamp == (0xFFFFFF9B + 320) & 0xFFFFFFFF
    tx._ts_top = 3
    tx._ts = 0x3FFFFFFF - 10
    tx.skip(0, 100)              # across the 32-bit wrap
    assert tx.timestamp == 89
    e = bytes(tx.pack_event(4, 101, False, tx.timestamp - 200))   # stamped before the wrap
    assert u32(e, 4) == (89 - 200) & 0xFFFFFFFF
    tx._ts = 0x3FFFFFFF - 10
    tx.skip(0, 3 << 30)          # more than 2**30 at once
    assert tx.timestamp == 0xFFFFFFF5


def test_sender_skip_and_event_timestamps():
    tx = rtp.RtpSender(0, g711.ulaw_encode_into)
    pcm = bytearray(320)
    tx.pack_frame(pcm)
    ts0 = tx.timestamp
    tx.skip(3)          # nothing sent for 60 ms: timestamp moves, marker set
    p = bytes(tx.pack_frame(pcm))
    assert u32(p, 4) == (ts0 + 480) & 0xFFFFFFFF and p[1] & 0x80
    # RFC 4733: an event's packets keep its start timestamp, sequence moves on.
    start = tx.timestamp
    tx.payload[0] = 5
    e1 = bytes(tx.pack_event(4, 101, True, start))
    tx.pack_frame(pcm)
    e2 = bytes(tx.pack_event(4, 101, False, tx.timestamp - 160))
    assert len(e1) == 16 and e1[1] == 0x80 | 101 and e2[1] == 101
    assert u32(e1, 4) == u32(e2, 4) == start
    assert u16(e2, 2) == (u16(e1, 2) + 2) & 0xFFFF
    ts_before = tx.timestamp
    e3 = bytes(tx.pack_event(4, 101, False, 0xFFFFFFF0))
    assert u32(e3, 4) == 0xFFFFFFF0 and tx.timestamp == ts_before
    assert u16(e3, 2) == (u16(e2, 2) + 1) & 0xFFFF
    assert u32(bytes(tx.pack_frame(pcm)), 4) == ts_before
    odd = bytes(tx.pack_event(4, 101, False, tx.timestamp - 0xFFFFFFF0))   # modulo 2**32
    assert u32(odd, 4) == (tx.timestamp - 0xFFFFFFF0) & 0xFFFFFFFF
    raises(ValueError, tx.pack_event, 400, 101, False, 0)
    raises(ValueError, tx.pack_event, -1, 101, False, 0)
    raises(ValueError, rtp.RtpSender, 128)


def test_receiver_payload_bounds_csrc_extension_padding():
    rx = rtp.RtpReceiver((0,))
    p = packet(10, 1000, csrc=(1, 2), ext=b"\x01\x02\x03\x04\x05\x06\x07\x08",
               pad=4, payload=b"\x11" * 160)
    assert rx.on_packet(p, len(p), PEER, 0) == rtp.KIND_AUDIO
    assert rx.payload_offset == 12 + 8 + 4 + 8
    assert rx.payload_len == 160
    assert p[rx.payload_offset:rx.payload_offset + rx.payload_len] == b"\x11" * 160
    assert rx.seq == 10 and rx.timestamp == 1000 and not rx.marker
    # on_packet honours n: trailing bytes of a bigger receive buffer are ignored
    buf = bytearray(600)
    q = packet(11, 1160, marker=True)
    buf[:len(q)] = q
    assert rx.on_packet(buf, len(q), PEER, 20) == rtp.KIND_AUDIO
    assert rx.payload_len == 160 and rx.marker


def test_receiver_drops_and_counts_bad_packets():
    rx = rtp.RtpReceiver((0,), event_pt=101)
    good = packet(1, 0)
    cases = [
        (good[:11], "bad_header"),
        (packet(1, 0, version=1), "bad_version"),
        (packet(1, 0, version=3), "bad_version"),
        (packet(1, 0, pt=8), "bad_type"),
        (packet(1, 0, pt=127), "bad_type"),
        (packet(1, 0, payload=b"", csrc=(1, 2, 3))[:20], "bad_header"),  # CSRC past the end
        (packet(1, 0, payload=b"", ext=b"")[:14], "bad_header"),       # extension cut
        (packet(1, 0, payload=b"\x00" * 3, pad=4)[:-1] + b"\xc8", "bad_header"),  # pad > packet
    ]
    expected_dropped = 0
    for data, counter in cases:
        before = getattr(rx, counter)
        assert rx.on_packet(data, len(data), PEER, 0) == rtp.KIND_DROPPED, counter
        assert getattr(rx, counter) == before + 1, counter
        expected_dropped += 1
    assert rx.dropped == expected_dropped and rx.received == 0
    assert rx.remote is None   # nothing valid yet: nothing learned
    # zero padding byte with the P bit set is invalid (RFC 3550 5.1)
    bad = bytearray(packet(1, 0, pad=1))
    bad[-1] = 0
    assert rx.on_packet(bad, len(bad), PEER, 0) == rtp.KIND_DROPPED
    # n larger than the buffer is refused, not read past
    assert rx.on_packet(good, len(good) + 10, PEER, 0) == rtp.KIND_DROPPED


def test_event_and_other_payload_types():
    rx = rtp.RtpReceiver((8,), event_pt=101)
    e = packet(1, 0, pt=101, payload=b"\x05\x0a\x00\xa0")
    assert rx.on_packet(e, len(e), PEER, 0) == rtp.KIND_EVENT
    assert rx.payload_len == 4 and rx.payload_type == 101
    e = packet(4, 0xFFFFFF00, pt=101, payload=b"\x05\x0a\x00\xa0")
    rx.on_packet(e, len(e), PEER, 10)
    assert rx.timestamp32 == 0xFFFFFF00 and rx.timestamp == 0x3FFFFF00
    cn = packet(2, 160, pt=13, payload=b"\x40")
    assert rx.on_packet(cn, len(cn), PEER, 20) == rtp.KIND_OTHER
    a = packet(3, 320, pt=8)
    assert rx.on_packet(a, len(a), PEER, 40) == rtp.KIND_AUDIO


def test_symmetric_rtp_latches_on_first_valid_packet():
    rx = rtp.RtpReceiver((0,), remote=None)
    nat = ("198.51.100.1", 61000)
    p = packet(1, 0)
    assert rx.on_packet(p, len(p), nat, 0) == rtp.KIND_AUDIO
    assert rx.remote == nat
    q = packet(2, 160)
    assert rx.on_packet(q, len(q), ("198.51.100.1", 61001), 20) == rtp.KIND_DROPPED
    assert rx.on_packet(q, len(q), ("203.0.113.9", 61000), 20) == rtp.KIND_DROPPED
    assert rx.wrong_source == 2
    assert rx.on_packet(q, len(q), nat, 20) == rtp.KIND_AUDIO
    rx.remote = None   # re-INVITE moved the far end: learn again
    r = packet(3, 320)
    assert rx.on_packet(r, len(r), PEER, 40) == rtp.KIND_AUDIO and rx.remote == PEER


def test_loss_and_fraction_lost():
    rx = rtp.RtpReceiver((0,))
    for seq in (100, 101, 103, 104, 107, 108, 109, 110):   # 102, 105, 106 lost
        p = packet(seq, seq * 160)
        rx.on_packet(p, len(p), PEER, seq * 20)
    assert rx.expected == 11 and rx.lost() == 3
    assert rx.fraction_lost() == (3 << 8) // 11
    assert rx.fraction_lost() == 0        # nothing new since the last report
    p = packet(105, 105 * 160)            # a late arrival lowers the cumulative loss
    rx.on_packet(p, len(p), PEER, 2300)
    assert rx.lost() == 2


def test_sequence_wrap_counts_cycles():
    rx = rtp.RtpReceiver((0,))
    seq = 65530
    for i in range(12):
        p = packet(seq & 0xFFFF, (i * 160) & 0xFFFFFFFF)
        rx.on_packet(p, len(p), PEER, i * 20)
        seq += 1
    assert rx.extended_max == 65536 + 5 and rx.lost() == 0 and rx.expected == 12


def test_big_sequence_jump_needs_two_packets():
    rx = rtp.RtpReceiver((0,))
    for s in (1, 2, 3):
        p = packet(s, s * 160)
        rx.on_packet(p, len(p), PEER, s * 20)
    j = packet(30000, 0)
    assert rx.on_packet(j, len(j), PEER, 80) == rtp.KIND_DROPPED
    k = packet(30001, 160)
    assert rx.on_packet(k, len(k), PEER, 100) == rtp.KIND_AUDIO
    assert rx.restarted and rx.seq_jumps == 1 and rx.lost() == 0


def test_ssrc_change_resyncs_receiver_and_jitter_buffer():
    jb = JitterBuffer(g711.ulaw_decode_into)
    rx = rtp.RtpReceiver((0,), jitter=jb)
    out = bytearray(320)
    for s in range(5):
        p = packet(s, 1000 + s * 160)
        rx.on_packet(p, len(p), PEER, s * 20)
        jb.get_into(out)
    p = packet(9000, 777777, ssrc=0x55667788)   # the peer restarted its stream
    assert rx.on_packet(p, len(p), PEER, 100) == rtp.KIND_AUDIO
    assert rx.restarted and rx.ssrc_changes == 1 and rx.ssrc == 0x55667788
    assert rx.expected == 1 and rx.lost() == 0
    assert jb.buffered() == 1          # the old stream's frames are gone
    q = packet(9001, 777777 + 160, ssrc=0x55667788)
    rx.on_packet(q, len(q), PEER, 120)
    assert not rx.restarted


def test_interarrival_jitter_follows_rfc3550_a8():
    rx = rtp.RtpReceiver((0,))
    arrivals = [0, 20, 45, 60, 80, 110, 120, 140, 165, 180]   # ms, packets every 20 ms
    j = 0.0
    prev = None
    for i, t in enumerate(arrivals):
        p = packet(i, 5000 + i * 160)
        rx.on_packet(p, len(p), PEER, t)
        transit = t * 8 - i * 160
        if prev is not None:
            j += (abs(transit - prev) - j) / 16
        prev = transit
    assert abs(rx.jitter_units - j) <= 1, (rx.jitter_units, j)
    assert abs(rx.jitter_ms - j / 8) <= 0.2


def test_flood_of_garbage_is_dropped_and_nothing_grows():
    jb = JitterBuffer(g711.ulaw_decode_into)
    rx = rtp.RtpReceiver((0,), jitter=jb)
    seed = 12345
    buf = bytearray(200)
    for i in range(3000):
        for k in range(len(buf)):
            seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
            buf[k] = seed >> 16 & 0xFF
        n = seed % 201
        rx.on_packet(buf, n, PEER if i % 3 else ("10.0.0.1", 1), i * 20)
    assert rx.received + rx.dropped == 3000
    assert jb._count <= 16 and len(jb._full) == 16 and len(jb._data) == 16 * 160


def test_call_figures():
    tx = rtp.RtpSender(0, g711.ulaw_encode_into)
    jb = JitterBuffer(g711.ulaw_decode_into)
    rx = rtp.RtpReceiver((0,), jitter=jb)
    pcm = bytearray(320)
    for i in range(3):
        tx.pack_frame(pcm)
    for s in (1, 2, 4):
        p = packet(s, s * 160)
        rx.on_packet(p, len(p), PEER, s * 20)
    f = rtp.call_figures(tx, rx, jb)
    assert f["packets_sent"] == 3 and f["packets_received"] == 3
    assert f["packets_lost"] == 1 and f["packets_late"] == 0
    assert "jitter_ms" in f


def pair():
    """Two RTP endpoints wired back to back, with RTCP sessions."""
    tx_a = rtp.RtpSender(0, g711.ulaw_encode_into)
    tx_b = rtp.RtpSender(0, g711.ulaw_encode_into)
    rx_a = rtp.RtpReceiver((0,))
    rx_b = rtp.RtpReceiver((0,))
    return tx_a, rx_a, rtcp.RtcpSession(tx_a, rx_a, b"a@door"), tx_b, rx_b, rtcp.RtcpSession(tx_b, rx_b, b"b@flat")


def test_rtcp_sender_report_round_trip():
    tx_a, rx_a, rc_a, tx_b, rx_b, rc_b = pair()
    a_addr = ("127.0.0.1", 4000)
    b_addr = ("127.0.0.1", 5000)
    pcm = bytearray(320)
    now = 1000
    assert not rc_a.due(now) and not rc_b.due(now)   # clocks start here
    for i in range(250):       # 5 s of audio from A to B, 10 % of it lost
        p = tx_a.pack_frame(pcm)
        if i % 10 != 5:
            rx_b.on_packet(p, len(p), a_addr, now)
        q = tx_b.pack_frame(pcm)
        rx_a.on_packet(q, len(q), b_addr, now)
        now += 20
    assert rc_a.due(now) and rc_b.due(now)
    sr = bytes(rc_a.build_report(now))
    assert sr[1] == 200 and sr[0] & 0x1F == 1        # SR with one report block
    assert len(sr) % 4 == 0 and b"a@door" in sr     # SDES CNAME included
    assert not rc_a.due(now)
    now += 30
    assert rc_b.on_packet(sr, len(sr), ("127.0.0.1", 4001), now) == RTCP_SR | RTCP_SDES
    assert rc_b.peer_packets == 250
    assert rc_b.remote == ("127.0.0.1", 4001)
    now += 70
    rr = bytes(rc_b.build_report(now))   # B sent too: SR with B's view of A's stream
    assert rc_a.on_packet(rr, len(rr), ("127.0.0.1", 5001), now + 30) & RTCP_SR
    assert rc_a.peer_lost == 25
    assert rc_a.peer_fraction_lost == (25 << 8) // 250
    # RTT = 30 ms out + 30 ms back (B held the SR 70 ms: DLSR removes that)
    assert rc_a.rtt_ms is not None and 55 <= rc_a.rtt_ms <= 65, rc_a.rtt_ms


def test_rtcp_receiver_report_and_bye():
    tx_a, rx_a, rc_a, tx_b, rx_b, rc_b = pair()
    p = tx_a.pack_frame(bytearray(320))
    rx_b.on_packet(p, len(p), PEER, 0)
    # B never sent media: RR, not SR
    rr = bytes(rc_b.build_report(10))
    assert rr[1] == 201
    assert rc_a.on_packet(rr, len(rr), PEER, 20) == RTCP_RR | RTCP_SDES
    bye = bytes(rc_b.build_bye(30, b"hang up"))
    assert rc_a.on_packet(bye, len(bye), PEER, 40) & RTCP_BYE
    # A's receiver has not heard B's RTP: any BYE counts; with a known SSRC only its own
    assert rc_a.bye


def test_rtcp_bad_packets_dropped():
    tx_a, rx_a, rc_a, tx_b, rx_b, rc_b = pair()
    p = tx_a.pack_frame(bytearray(320))
    rx_b.on_packet(p, len(p), PEER, 0)
    good = bytes(rc_b.build_report(0))
    bad = [
        good[:7],
        bytes([0x40]) + good[1:],                     # version 1
        good[:1] + bytes([202]) + good[2:],           # starts with SDES
        good[:2] + b"\x00\x40" + good[4:],            # length past the end
        good + b"\x00\x00",                           # trailing bytes
        bytes([0x9f]) + good[1:],                     # RR announcing 31 blocks
    ]
    for data in bad:
        assert rc_a.on_packet(data, len(data), PEER, 0) == 0, data
    assert rc_a.dropped == len(bad) and rc_a.received == 0
    assert rc_a.on_packet(good, len(good), PEER, 0) != 0


def test_viper_accounting_matches_plain_twin():
    # rtp_viper._account and rtp._account_py on the same packets: same answers,
    # same state after every packet (valid, reordered, duplicated, jumps, new
    # SSRCs, CSRC/extension/padding, garbage).
    try:
        from doorsip.media import rtp_viper
    except Exception:
        skip("no viper kernels on this interpreter")
    from array import array
    a = rtp.RtpReceiver((0, 8), event_pt=101)._st
    b = array("i", a)
    seed = 99
    seq = 65500
    ts = 0xFFFFF000
    ssrc = 0x01020304
    for i in range(3000):
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        r = seed >> 8
        choice = r % 20
        if choice == 0:
            ssrc = (ssrc * 7 + 1) & 0xFFFFFFFF
        if choice == 1:
            seq = (seq + 20000) & 0xFFFF
        step = -3 if choice == 2 else (0 if choice == 3 else 1)
        seq = (seq + step) & 0xFFFF
        ts = (ts + 160 * step) & 0xFFFFFFFF
        pt = (0, 8, 101, 13, 96)[r % 5]
        if choice == 4:
            data = bytes([(r * k) & 0xFF for k in range(r % 40)])
        elif choice == 5:
            data = packet(seq, ts, pt, ssrc, csrc=(1, 2), ext=b"\x00" * 8, pad=4)
        else:
            data = packet(seq, ts, pt, ssrc, marker=choice == 6, payload=b"\x55" * (r % 200))
        now = (i * 20 + r % 15) & 0x3FFFFFFF
        ka = rtp_viper._account(data, len(data), a, now)
        kb = rtp._account_py(data, len(data), b, now)
        assert ka == kb, (i, ka, kb)
        assert a == b, (i, [k for k in range(len(a)) if a[k] != b[k]])


def _consts(path):
    # name -> value of every "_NAME = const(N)" line of a source file
    out = {}
    with open(path) as f:
        for line in f:
            line = line.split("#")[0].strip()
            if line.startswith("_") and " = const(" in line and line.endswith(")"):
                name, value = line.split(" = const(")
                out[name] = int(value[:-1], 0)
    return out


def test_state_layout_is_the_same_in_the_three_rtp_files():
    # MicroPython's const() names are compile-time per module, so rtp.py (the
    # receiver), rtp_py.py (the plain kernel) and rtp_viper.py (the viper kernel)
    # each spell out the state array's layout: they must agree.
    here = globals().get("__file__", "tests/unit/test_rtp.py").replace("\\", "/")
    media = (here.rsplit("/", 1)[0] if "/" in here else ".") + "/../../firmware/doorsip/media/"
    try:
        files = [_consts(media + name) for name in ("rtp.py", "rtp_py.py", "rtp_viper.py")]
    except OSError:
        skip("firmware sources not found next to the tests")
    viper = files[2]
    assert viper["_STATE_SIZE"] == 36 and len(viper) == 37, sorted(viper)
    for other in files[:2]:
        for name in viper:
            assert other.get(name) == viper[name], (name, other.get(name), viper[name])

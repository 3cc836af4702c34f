# The jitter buffer: prebuffering, reordering, duplicates, late packets and
# adaptive depth, loss concealment, timestamp wrap-around, resync, bounded memory.
from doorsip.media import g711
from doorsip.media import jitter as J
from support import raises

SPF = 160
# JitterBuffer.put's and get_into's results (jitter.py docstring); the module
# itself exports only PUT_BAD.
PUT_STORED, PUT_DUPLICATE, PUT_LATE, PUT_RESYNC = 0, 1, 2, 3
GOT_FRAME, GOT_CONCEALED, GOT_SILENCE = 0, 1, 2


def fake_decode(codes, out, n):
    # code c -> sample c: lets a test read back which frame was played
    for i in range(n):
        out[2 * i] = codes[i]
        out[2 * i + 1] = 0


def make(**kw):
    return J.JitterBuffer(fake_decode, 0, **kw)


def frame(value):
    return bytes([value]) * SPF


def put(jb, ts, value):
    data = frame(value)
    return jb.put(ts, data, 0, len(data))


def play(jb):
    out = bytearray(2 * SPF)
    kind = jb.get_into(out)
    return kind, out[0]


def test_prebuffers_then_plays_in_order():
    jb = make()
    assert jb.depth_ms == 40
    assert play(jb) == (GOT_SILENCE, 0)
    assert put(jb, 1000, 1) == PUT_STORED
    assert play(jb) == (GOT_SILENCE, 0)     # 20 ms held, 40 wanted
    assert put(jb, 1000 + SPF, 2) == PUT_STORED
    assert play(jb) == (GOT_FRAME, 1)
    assert play(jb) == (GOT_FRAME, 2)
    assert jb.played == 2 and jb.received == 2


def test_frame_content_is_the_decoded_payload():
    jb = J.JitterBuffer(g711.alaw_decode_into, g711.SILENCE_ALAW)
    codes = bytes(range(SPF))
    # payload at an offset inside a bigger packet buffer
    packet = b"\x80" * 12 + codes + b"junk"
    jb.put(0, packet, 12, SPF)
    jb.put(SPF, packet, 12, SPF)
    out = bytearray(320)
    assert jb.get_into(out) == GOT_FRAME
    want = bytearray(320)
    g711.alaw_decode_into(codes, want, SPF)
    assert out == want


def test_reordered_packets_play_in_timestamp_order():
    jb = make()
    put(jb, 0, 1)
    put(jb, 2 * SPF, 3)
    assert play(jb) == (GOT_FRAME, 1)
    put(jb, SPF, 2)
    put(jb, 4 * SPF, 5)
    assert play(jb) == (GOT_FRAME, 2)
    put(jb, 3 * SPF, 4)
    assert [play(jb)[1] for _ in range(3)] == [3, 4, 5]
    assert jb.late == 0 and jb.concealed == 0


def test_reordering_before_playout_moves_the_start_back():
    jb = make()
    put(jb, 5 * SPF, 2)
    put(jb, 4 * SPF, 1)        # arrived second, plays first
    assert play(jb) == (GOT_FRAME, 1)
    assert play(jb) == (GOT_FRAME, 2)


def test_duplicates_are_dropped_and_counted():
    jb = make()
    assert put(jb, 0, 1) == PUT_STORED
    assert put(jb, 0, 9) == PUT_DUPLICATE
    put(jb, SPF, 2)
    assert play(jb) == (GOT_FRAME, 1)      # the first copy won
    assert jb.duplicates == 1


def test_loss_is_concealed_then_silent():
    jb = make()
    put(jb, 0, 100)
    put(jb, SPF, 100)
    play(jb)
    play(jb)
    got = [play(jb) for _ in range(5)]
    assert got == [(GOT_CONCEALED, 75), (GOT_CONCEALED, 50), (GOT_CONCEALED, 25),
                   (GOT_SILENCE, 0), (GOT_SILENCE, 0)]
    assert jb.concealed == 3
    put(jb, 7 * SPF, 7)                       # the stream comes back in time
    assert play(jb) == (GOT_FRAME, 7)


def test_concealment_attenuates_real_pcm():
    jb = J.JitterBuffer(g711.ulaw_decode_into, g711.SILENCE_ULAW)
    loud = bytes([0x80]) * SPF                # µ-law full scale positive: 32124
    jb.put(0, loud, 0, SPF)
    jb.put(SPF, loud, 0, SPF)
    out = bytearray(320)
    jb.get_into(out)
    jb.get_into(out)
    assert jb.get_into(out) == GOT_CONCEALED
    assert out[0] | out[1] << 8 == 32124 * 12 // 16
    neg = bytes([0x00]) * SPF                 # full scale negative: -32124
    jb.reset()
    jb.put(0, neg, 0, SPF)
    jb.put(SPF, neg, 0, SPF)
    jb.get_into(out)
    jb.get_into(out)
    jb.get_into(out)
    assert (out[0] | out[1] << 8) - 65536 == -(32124 * 12 // 16)


def test_late_packets_grow_the_depth_up_to_the_maximum():
    jb = make()
    ts = 0
    put(jb, ts, 1)
    put(jb, ts + SPF, 2)
    play(jb)
    play(jb)
    for i in range(9):
        play(jb)
        assert put(jb, 0, 3) == PUT_LATE   # behind the play position
        assert jb.depth_ms == min(40 + 20 * (i + 1), 200)
    assert jb.late == 9 and jb.depth_ms == 200   # capped at max_ms


def test_depth_grows_by_holding_playout():
    jb = make()
    for k in range(3):
        put(jb, k * SPF, k + 1)
    play(jb)
    play(jb)
    put(jb, 0, 9)                      # late: target 60 ms, one frame of hold
    assert play(jb)[0] == GOT_CONCEALED
    assert play(jb) == (GOT_FRAME, 3)   # nothing lost, just later


def test_calm_shrinks_the_depth_again():
    jb = make()
    ts = 0
    put(jb, ts, 1)
    put(jb, ts + SPF, 1)
    ts += 2 * SPF
    play(jb)
    play(jb)
    for _ in range(3):                  # three late packets: 100 ms
        put(jb, 0, 1)
    assert jb.depth_ms == 100
    for _ in range(1100):               # 22 s of steady packets
        put(jb, ts, 1)
        ts += SPF
        play(jb)
    assert jb.depth_ms == 20, jb.depth_ms
    assert jb.skipped >= 1
    assert jb.buffered() <= 2


def test_timestamp_wraparound():
    jb = make()
    base = 0xFFFFFFFF - 2 * SPF + 1
    played = []
    for k in range(6):
        assert put(jb, (base + k * SPF) & 0xFFFFFFFF, k + 1) == PUT_STORED
        played.append(play(jb)[1])
    assert played == [0, 1, 2, 3, 4, 5]      # one frame of prebuffering first
    assert jb.late == 0 and jb.resyncs == 0


def test_a_burst_is_trimmed_to_the_target():
    jb = make()
    for k in range(8):                 # 160 ms arriving at once
        put(jb, k * SPF, k + 1)
    assert play(jb) == (GOT_FRAME, 2)   # one frame dropped per tick...
    assert play(jb) == (GOT_FRAME, 4)
    assert play(jb) == (GOT_FRAME, 5)   # ...until target + slack is left
    assert jb.skipped == 2


def test_far_jumps_resync():
    jb = make()
    put(jb, 0, 1)
    put(jb, SPF, 2)
    play(jb)
    assert put(jb, 5000000, 7) == PUT_RESYNC            # far ahead
    put(jb, 5000000 + SPF, 8)
    assert play(jb) == (GOT_FRAME, 7)
    assert put(jb, 5000000 - 100 * SPF, 3) == PUT_RESYNC  # far behind: new stream
    assert jb.resyncs == 2


def test_long_payload_fills_several_frames():
    jb = make()
    data = frame(1) + frame(2) + bytes([3]) * 80   # 50 ms packet (ptime 50)
    assert jb.put(0, data, 0, len(data)) == PUT_STORED
    assert [play(jb)[1] for _ in range(3)] == [1, 2, 3]
    out = bytearray(320)
    jb.reset()
    jb.put(0, data, 0, len(data))
    for _ in range(3):
        jb.get_into(out)
    assert out[158] == 3 and out[160] == 0       # short frame padded with silence


def test_stops_after_a_long_gap_and_restarts_on_the_next_packet():
    jb = make()
    put(jb, 0, 1)
    put(jb, SPF, 2)
    for _ in range(30):                      # the peer went quiet (hold)
        play(jb)
    put(jb, 30 * SPF + 48000, 5)             # resumes 6 s later: prebuffer again
    assert play(jb)[0] == GOT_SILENCE
    put(jb, 31 * SPF + 48000, 6)
    assert play(jb) == (GOT_FRAME, 5)


def test_bad_input_and_bounded_memory():
    jb = make()
    assert jb.put(0, b"", 0, 0) == J.PUT_BAD
    assert jb.put(0, b"\x01\x02", 1, 5) == J.PUT_BAD
    assert jb.put(0, b"\x01\x02", -1, 1) == J.PUT_BAD
    assert jb.bad == 3 and jb.received == 0
    raises(ValueError, J.JitterBuffer, fake_decode, 0, 160, 20, 16, 40, 20, 400)
    raises(ValueError, J.JitterBuffer, fake_decode, 0, 160, 20, 16, 10, 20, 200)
    seed = 7
    data = frame(1)
    for i in range(3000):
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        jb.put(seed * 97, data, 0, 1 + seed % SPF)
        if i % 3 == 0:
            play(jb)
        assert 0 <= jb._count <= 16
    assert len(jb._full) == 16 and len(jb._data) == 16 * SPF and len(jb._views) == 16


def test_mutable_buffers_are_copied_bytes_are_kept():
    # A reused receive buffer (bytearray) must be copied at put time; an
    # immutable bytes packet may be kept by reference. Both play the same.
    for make_buf in (bytearray, bytes):
        jb = J.JitterBuffer(g711.ulaw_decode_into, g711.SILENCE_ULAW)
        first = make_buf(b"\x80" * 12 + bytes(range(SPF)))
        jb.put(0, first, 12, SPF)
        if make_buf is bytearray:
            for i in range(len(first)):
                first[i] = 0xFF      # the caller reuses its buffer
        second = make_buf(b"\x80" * 12 + bytes(range(SPF)))
        jb.put(SPF, second, 12, SPF)
        out = bytearray(320)
        want = bytearray(320)
        g711.ulaw_decode_into(bytes(range(SPF)), want, SPF)
        assert jb.get_into(out) == GOT_FRAME and out == want, make_buf
        assert jb.get_into(out) == GOT_FRAME and out == want, make_buf


def simulate(jb, frames, jitter_ms, seed, start_frame=0):
    """Send `frames` frames every 20 ms through a path adding 10 + U(0, jitter_ms)
    ms of delay; play every 20 ms. Returns (played, late) of that stretch."""
    arrivals = []
    for k in range(frames):
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        delay = 10 + (seed >> 8) % (jitter_ms + 1)
        arrivals.append(((start_frame + k) * 20 + delay, start_frame + k))
    arrivals.sort()
    played0, late0 = jb.played, jb.late
    i = 0
    for tick in range(frames):
        now = (start_frame + tick) * 20
        while i < len(arrivals) and arrivals[i][0] <= now:
            k = arrivals[i][1]
            put(jb, k * SPF, 1 + k % 200)
            i += 1
        play(jb)
    return jb.played - played0, jb.late - late0


def test_adapts_to_a_jittery_path_then_shrinks_when_calm():
    jb = make()
    played, late = simulate(jb, 1500, 90, 5)            # 30 s, up to 90 ms of jitter
    assert 40 < jb.depth_ms <= 200, jb.depth_ms
    assert late < 150, late                             # adapted: few late packets
    played, late = simulate(jb, 500, 90, 77, 1500)      # the next 10 s: settled
    assert late < 10, late
    assert played > 450, played
    deep = jb.depth_ms
    simulate(jb, 2000, 0, 3, 2000)                      # 40 s of a calm path
    assert jb.depth_ms < deep and jb.depth_ms <= 40, (deep, jb.depth_ms)


def test_a_lent_ring_is_used_and_serves_the_next_call_afresh():
    # A station lends one ring to every call (runtime_boot: one 2.5 KB block taken
    # at boot instead of one per call in a heap the calls have cut up).
    ring = bytearray(16 * SPF)
    first = make(ring=ring)
    put(first, 0, 7)
    put(first, SPF, 8)
    # the copies went there
    assert sum(1 for b in ring if b == 7) == SPF and sum(1 for b in ring if b == 8) == SPF
    assert play(first) == (GOT_FRAME, 7)
    # the next call's buffer on the same ring starts empty: nothing of the last one
    second = make(ring=ring)
    assert play(second) == (GOT_SILENCE, 0)
    put(second, 5000, 9)
    put(second, 5000 + SPF, 10)
    assert play(second) == (GOT_FRAME, 9)
    assert play(second) == (GOT_FRAME, 10)
    e = raises(ValueError, make, ring=bytearray(15 * SPF))
    assert "ring" in str(e)


def test_a_lent_ring_copies_packets_instead_of_holding_them():
    # Without a ring of its own the buffer keeps a reference to each bytes packet
    # (no copy); with a lent ring it copies, so no packet stays alive in the heap.
    codes = bytes(range(40, 40 + SPF))
    packet = b"\x80" * 12 + codes
    out_own, out_lent = bytearray(2 * SPF), bytearray(2 * SPF)
    own = J.JitterBuffer(g711.ulaw_decode_into, g711.SILENCE_ULAW)
    ring = bytearray(16 * SPF)
    lent = J.JitterBuffer(g711.ulaw_decode_into, g711.SILENCE_ULAW, ring=ring)
    for jb in (own, lent):
        jb.put(0, packet, 12, SPF)
        jb.put(SPF, packet, 12, SPF)
    assert ring[:SPF] == codes and ring[SPF:2 * SPF] == codes
    assert own.get_into(out_own) == GOT_FRAME and lent.get_into(out_lent) == GOT_FRAME
    expected = bytearray(2 * SPF)
    g711.ulaw_decode_into(codes, expected, SPF)
    assert out_own == expected and out_lent == expected

# RFC 4733 receive/send, SIP INFO bodies and the digit deduplicator
# (doorsip.media.dtmf). Runs under pytest and the MicroPython runner.
import struct

from support import raises

from doorsip.compat import ticks_add

from doorsip.media.dtmf import (
    DIGITS, DigitDeduplicator, Rfc4733Receiver, Rfc4733Sender, digit_code, info_body,
    parse_info,
)


def event(code, end=False, volume=10, duration=160):
    return struct.pack(">BBH", code, (0x80 if end else 0) | volume, duration)


def drain(rx):
    out = []
    while True:
        d = rx.next_digit()
        if d is None:
            return "".join(out)
        out.append(d)


def send_press(rx, code, ts, now, updates=4, ends=3, step=160):
    """Feed one key press as a typical sender does; returns the time after it."""
    for i in range(updates):
        rx.receive(event(code, duration=(i + 1) * step), ts, now)
        now += 20
    for _ in range(ends):
        rx.receive(event(code, end=True, duration=(updates + 1) * step), ts, now)
        now += 20
    return now


def test_every_digit_reported_once_with_repeated_end_packets():
    rx = Rfc4733Receiver()
    now = 1000
    ts = 5000
    got = []
    for code in range(16):
        now = send_press(rx, code, ts, now)
        ts += 8000
        got.append(drain(rx))
    assert "".join(got) == DIGITS
    assert rx.next_digit() is None


def test_digit_reported_at_first_end_packet():
    rx = Rfc4733Receiver()
    assert rx.receive(event(5), 100, 0) == 0
    assert rx.receive(event(5, duration=320), 100, 20) == 0
    assert rx.receive(event(5, end=True, duration=480), 100, 40) == 1
    assert rx.next_digit() == "5"
    assert rx.receive(event(5, end=True, duration=480), 100, 60) == 0
    assert rx.receive(event(5, end=True, duration=480), 100, 80) == 0
    assert rx.next_digit() is None


def test_repeated_same_digit_is_two_events():
    rx = Rfc4733Receiver()
    now = send_press(rx, 1, 8000, 0)
    send_press(rx, 1, 8000 + 1600, now)
    assert drain(rx) == "11"


def test_long_press_reports_one_digit():
    rx = Rfc4733Receiver(end_timeout_ms=600)
    now = 0
    for i in range(150):  # 3 s of updates every 20 ms
        rx.receive(event(9, duration=(i + 1) * 160), 777, now)
        now += 20
        assert rx.poll(now) == 0
    now = send_press(rx, 9, 777, now, updates=0)
    assert drain(rx) == "9"


def test_lost_end_packets_reported_when_next_event_starts():
    rx = Rfc4733Receiver(end_timeout_ms=10000)
    rx.receive(event(3), 1000, 0)
    rx.receive(event(3, duration=320), 1000, 20)
    assert rx.next_digit() is None
    # The next event (new timestamp) arrives: "3" ended without an end packet.
    assert rx.receive(event(4), 3000, 300) == 1
    assert rx.next_digit() == "3"
    rx.receive(event(4, end=True, duration=800), 3000, 400)
    assert drain(rx) == "4"


def test_lost_end_packets_reported_after_timeout():
    rx = Rfc4733Receiver(end_timeout_ms=500)
    rx.receive(event(7), 1000, 100)
    rx.receive(event(7, duration=320), 1000, 120)
    assert rx.poll(500) == 0
    assert rx.poll(619) == 0
    assert rx.poll(620) == 1
    assert drain(rx) == "7"
    # a late end packet of the same event is not a second digit
    rx.receive(event(7, end=True, duration=480), 1000, 700)
    assert rx.next_digit() is None


def test_timeout_uses_wrapping_ticks():
    rx = Rfc4733Receiver(end_timeout_ms=500)
    near_wrap = ticks_add(0, -100)
    rx.receive(event(2), 10, near_wrap)
    assert rx.poll(ticks_add(near_wrap, 50)) == 0
    assert rx.poll(ticks_add(near_wrap, 499)) == 0
    assert rx.poll(ticks_add(near_wrap, 550)) == 1  # after the counter wrapped
    assert drain(rx) == "2"


def test_only_end_packets_received():
    rx = Rfc4733Receiver()
    rx.receive(event(11, end=True, duration=800), 4000, 0)
    rx.receive(event(11, end=True, duration=800), 4000, 20)
    assert drain(rx) == "#"


def test_reordered_old_packet_ignored():
    rx = Rfc4733Receiver()
    now = send_press(rx, 1, 1000, 0)
    now = send_press(rx, 2, 3000, now)
    # a stale end packet of the first event and an update of it, after event 2
    rx.receive(event(1, end=True, duration=800), 1000, now)
    rx.receive(event(1, duration=160), 1000, now)
    assert drain(rx) == "12"
    assert rx.ignored == 2


def test_timestamp_wraps_around():
    rx = Rfc4733Receiver()
    now = send_press(rx, 1, 0xFFFFFF00, 0)
    now = send_press(rx, 2, 0x00000100, now)  # newer across the 32-bit wrap
    rx.receive(event(3, end=True), 0xFFFFF000, now)  # older: ignored
    assert drain(rx) == "12"


def test_long_event_segments_are_one_digit():
    # RFC 4733 2.5.1.3: after 0xFFFF units a new segment starts at ts + 0xFFFF.
    rx = Rfc4733Receiver()
    rx.receive(event(6, duration=65000), 50, 0)
    rx.receive(event(6, duration=0xFFFF), 50, 20)
    rx.receive(event(6, duration=160), 50 + 0xFFFF, 40)
    rx.receive(event(6, end=True, duration=800), 50 + 0xFFFF, 60)
    rx.receive(event(6, end=True, duration=800), 50 + 0xFFFF, 80)
    assert drain(rx) == "6"
    # the same code at another newer timestamp is a new press
    send_press(rx, 6, 50 + 0xFFFF + 2000, 100)
    assert drain(rx) == "6"


def test_non_digit_events_and_short_payloads_ignored():
    rx = Rfc4733Receiver()
    rx.receive(event(16, end=True), 100, 0)  # flash
    rx.receive(b"\x01\x8a", 200, 20)
    rx.receive(b"", 300, 40)
    assert rx.next_digit() is None
    assert rx.ignored == 3
    # a non-digit event still ends an unfinished digit before it
    rx.receive(event(8), 400, 60)
    rx.receive(event(16), 600, 80)
    assert drain(rx) == "8"


def test_packed_events_in_one_payload():
    # RFC 4733 2.5.1.5: "1" (400 units) then "2" starting where "1" ended.
    rx = Rfc4733Receiver()
    payload = event(1, end=True, duration=400) + event(2, duration=160)
    rx.receive(payload, 1000, 0)
    assert drain(rx) == "1"
    rx.receive(event(2, end=True, duration=480), 1400, 20)
    assert drain(rx) == "2"


def test_queue_overflow_counted():
    rx = Rfc4733Receiver(queue_size=2)
    now = 0
    for i in range(3):
        now = send_press(rx, i, 1000 + i * 2000, now)
    assert rx.dropped == 1
    assert drain(rx) == "01"


def test_volume_and_duration_parsed():
    rx = Rfc4733Receiver()
    rx.receive(event(4, volume=17, duration=1234), 9, 0)
    assert rx.volume == 17
    assert rx.duration == 1234


def collect(tx):
    packets = []
    while True:
        n = tx.next_payload()
        if n == 0:
            return packets
        assert n == 4
        packets.append((bytes(tx.payload), tx.marker, tx.timestamp, tx.ended))


def test_sender_packet_sequence():
    tx = Rfc4733Sender(volume=10)
    assert tx.next_payload() == 0
    tx.start("5", 100, 123456)
    packets = collect(tx)
    # 800 units: updates at 160..640, end at 800 sent three times
    durations = [struct.unpack(">BBH", p[0])[2] for p in packets]
    assert durations == [160, 320, 480, 640, 800, 800, 800]
    assert [p[1] for p in packets] == [True] + [False] * 6
    assert all(p[2] == 123456 for p in packets)
    assert [p[3] for p in packets] == [False] * 6 + [True]
    flags = [p[0][1] for p in packets]
    assert flags == [10] * 4 + [0x80 | 10] * 3
    assert all(p[0][0] == 5 for p in packets)
    assert not tx.active


def test_sender_into_caller_buffer_and_finish():
    tx = Rfc4733Sender(end_repeats=2)
    buf = bytearray(16)
    tx.start("#", 5000, 0)
    assert tx.next_payload(buf, 12) == 4
    assert buf[12] == 11 and tx.marker
    assert tx.next_payload(buf, 12) == 4
    tx.finish()  # key released: end at the duration already sent
    assert tx.next_payload(buf, 12) == 4
    assert struct.unpack_from(">BBH", buf, 12) == (11, 0x80 | 10, 320)
    assert tx.next_payload(buf, 12) == 4 and tx.ended
    assert tx.next_payload(buf, 12) == 0 and not tx.ended


def test_sender_segments_long_event():
    tx = Rfc4733Sender()
    tx.start("A", 9000, 1000)  # 72000 units > 0xFFFF
    packets = collect(tx)
    first = [p for p in packets if p[2] == 1000]
    second = [p for p in packets if p[2] == 1000 + 0xFFFF]
    assert len(first) + len(second) == len(packets)
    assert struct.unpack(">BBH", first[-1][0]) == (12, 10, 0xFFFF)  # no E bit
    assert struct.unpack(">BBH", second[-1][0]) == (12, 0x80 | 10, 72000 - 0xFFFF)
    assert sum(1 for p in packets if p[1]) == 1


def test_sender_to_receiver_round_trip():
    tx = Rfc4733Sender()
    rx = Rfc4733Receiver()
    now = 0
    ts = 160
    for digit, ms in (("1", 100), ("1", 60), ("*", 250), ("D", 9000), ("0", 40)):
        tx.start(digit, ms, ts)
        while tx.next_payload():
            rx.receive(tx.payload, tx.timestamp, now)
            now += 20
            ts += 160
        ts += 800
    assert drain(rx) == "11*D0"


def test_sender_rejects_bad_arguments():
    tx = Rfc4733Sender()
    raises(ValueError, tx.start, "x", 100, 0)
    raises(ValueError, tx.start, "12", 100, 0)
    raises(ValueError, tx.start, "1", 0, 0)
    raises(ValueError, Rfc4733Sender, 8000, 20, 3, 64)
    assert not tx.active
    assert digit_code("a") == 12


def test_info_bodies():
    assert info_body("5", 160) == b"Signal=5\r\nDuration=160\r\n"
    assert info_body("#", 250, "application/dtmf-relay") == b"Signal=#\r\nDuration=250\r\n"
    assert info_body("*", 100, "application/dtmf") == b"*"
    raises(ValueError, info_body, "E", 100)
    raises(ValueError, info_body, "1", 0)
    raises(ValueError, info_body, "1", 100, "text/plain")


def test_parse_info_round_trip_all_digits():
    for digit in DIGITS:
        for ct in ("application/dtmf-relay", "application/dtmf"):
            assert parse_info(ct, info_body(digit, 120, ct)) == digit


def test_parse_info_tolerant():
    relay = "application/dtmf-relay"
    assert parse_info(relay, b"Signal=5\r\nDuration=160\r\n") == "5"
    assert parse_info(relay, b"signal = 7 \n") == "7"
    assert parse_info("Application/DTMF-Relay; charset=utf-8", b"SIGNAL= #\r\n") == "#"
    assert parse_info(relay, b"Duration=100\r\nSignal=b") == "B"
    assert parse_info(relay, "Signal=10\r\n") == "*"
    assert parse_info(relay, b"Signal=11") == "#"
    assert parse_info(b"application/dtmf", b" 9\r\n") == "9"
    assert parse_info("application/dtmf", bytearray(b"d")) == "D"


def test_parse_info_rejects_without_raising():
    relay = "application/dtmf-relay"
    assert parse_info(relay, b"") is None
    assert parse_info(relay, b"Duration=160\r\n") is None
    assert parse_info(relay, b"Signal=\r\n") is None
    assert parse_info(relay, b"Signal=E\r\n") is None
    assert parse_info(relay, b"Signal=16\r\n") is None
    assert parse_info(relay, b"Signal=55\r\n") is None
    assert parse_info(relay, b"\xff\xfe=\x00") is None
    assert parse_info("text/plain", b"Signal=5") is None
    assert parse_info("application/dtmf", b"12") is None
    assert parse_info("application/dtmf", b"10") is None
    assert parse_info(None, b"5") is None
    assert parse_info("application/dtmf", None) is None
    assert parse_info(b"\xff", b"5") is None


def test_dedup_same_press_two_methods():
    d = DigitDeduplicator(window_ms=250)
    assert d.accept("5", "inband", 1000)
    assert not d.accept("5", "rfc4733", 1100)
    assert not d.accept("5", "info", 1200)
    assert d.accept("6", "rfc4733", 1300)
    assert not d.accept("6", "inband", 1310)


def test_dedup_genuine_repeats_count():
    d = DigitDeduplicator(window_ms=250)
    # the same method twice: two presses
    assert d.accept("1", "rfc4733", 0)
    assert d.accept("1", "rfc4733", 100)
    # after the window
    assert d.accept("1", "info", 400)
    # after a different digit
    assert d.accept("2", "info", 450)
    assert d.accept("1", "rfc4733", 500)
    # two methods, two quick presses: each press once
    d.reset()
    seen = [d.accept("3", m, t) for m, t in
            (("inband", 0), ("rfc4733", 60), ("inband", 200), ("rfc4733", 260))]
    assert seen == [True, False, True, False]


def test_low_30_bits_timestamps_work_the_same():
    # rtp.RtpReceiver.timestamp gives the low 30 bits; the 32-bit value works too.
    for mask in (0xFFFFFFFF, 0x3FFFFFFF):
        rx = Rfc4733Receiver()
        now = send_press(rx, 1, 0xFFFFFF00 & mask, 0)
        now = send_press(rx, 2, 0x00000100, now)
        rx.receive(event(3, end=True), 0xFFFFF000 & mask, now)  # older: ignored
        assert drain(rx) == "12", mask
    # the same event seen as 32-bit and as 30-bit timestamps is one event
    rx = Rfc4733Receiver()
    rx.receive(event(4), 0xC0000123, 0)
    rx.receive(event(4, end=True), 0x00000123, 20)
    rx.receive(event(4, end=True), 0xC0000123, 40)
    assert drain(rx) == "4"


def test_other_code_at_the_same_timestamp_is_a_new_event():
    rx = Rfc4733Receiver()
    send_press(rx, 1, 500, 0)
    send_press(rx, 2, 500, 200)  # a sender that did not advance the timestamp
    assert drain(rx) == "12"


def test_sender_finish_right_after_a_full_segment():
    tx = Rfc4733Sender()
    tx.start("3", 20000, 0)
    while not tx._segment_full:
        tx.next_payload()
    tx.finish()
    packets = collect(tx)
    assert [struct.unpack(">BBH", p[0]) for p in packets] == [(3, 0x80 | 10, 160)] * 3
    assert all(p[2] == 0xFFFF for p in packets)


def test_sender_finish_before_first_packet():
    tx = Rfc4733Sender()
    tx.start("3", 1000, 50)
    tx.finish()
    packets = collect(tx)
    assert [struct.unpack(">BBH", p[0])[1:] for p in packets] == [(0x80 | 10, 160)] * 3
    assert packets[0][1] and packets[-1][3]


def test_receiver_reports_when_the_key_press_began():
    rx = Rfc4733Receiver()
    now = send_press(rx, 5, 1000, 10000, updates=100)  # a 2 s press, first packet at 10000
    assert rx.next_digit() == "5"
    assert rx.digit_start_ms == 10000 - 160 // 8  # first packet carried 160 units
    # only the end packets arrived: the start is their duration before them
    rx.receive(event(6, end=True, duration=8000), 50000, now + 2000)
    assert rx.next_digit() == "6"
    assert rx.digit_start_ms == now + 2000 - 1000


def test_dedup_long_press_by_start_time():
    # In-band reports 40 ms into a 2 s press, RFC 4733 at its release: the same press.
    d = DigitDeduplicator(window_ms=250)
    assert d.accept("8", "inband", 10040, 10000)
    assert not d.accept("8", "rfc4733", 12030, 10010)
    # a second long press of the same key
    assert d.accept("8", "rfc4733", 15030, 13010)
    assert not d.accept("8", "inband", 13050, 13010)


def test_error_texts():
    # The texts of the ValueErrors raised (kept as the lines of one string).
    tx = Rfc4733Sender()
    assert str(raises(ValueError, digit_code, "x")) == "not a DTMF digit: 'x'"
    assert str(raises(ValueError, Rfc4733Sender, 8000, 20, 0)) == \
        "dtmf: volume must be 0-63 (-dBm0), end_repeats at least 1"
    assert str(raises(ValueError, tx.start, "1", 0, 0)) == "duration_ms must be a positive int"
    assert str(raises(ValueError, info_body, "1", 0)) == "duration_ms must be 1-65535"
    assert str(raises(ValueError, info_body, "1", 100, "Text/Plain; x=1")) == \
        "unsupported DTMF content type: text/plain"

# MicroPython only: the DTMF hot paths allocate nothing. Inside
# micropython.heap_lock() any allocation raises MemoryError: the RFC 4733
# per-packet receive (every case: updates, repeated ends, lost ends, timeouts,
# stale and wrapped timestamps, long-event segments, packed events, bad
# payloads), the per-tick sender, the in-band detector per frame (viper kernels
# and the plain-Python twins) and the deduplicator.
import math
import struct
import sys

from support import skip

if sys.implementation.name != "micropython":
    skip("heap_lock exists on MicroPython only")

import micropython

from doorsip.media.dtmf import DigitDeduplicator, Rfc4733Receiver, Rfc4733Sender
from doorsip.media.dtmf_inband import InbandDetector


def locked(name, func, count):
    """Call func(i) for i in range(count) under heap_lock; fail naming what allocated."""
    error = None
    micropython.heap_lock()
    try:
        for i in range(count):
            func(i)
    except MemoryError as exc:
        error = exc
    finally:
        micropython.heap_unlock()
    if error is not None:
        sys.print_exception(error)
        raise AssertionError("allocates under heap_lock: " + name)


def ev(code, end, duration, volume=10):
    return struct.pack(">BBH", code, (0x80 if end else 0) | volume, duration)


def test_rfc4733_receive_does_not_allocate():
    # (payload, timestamp, now_ms) prepared before the lock; covers every branch.
    packets = [
        (ev(1, False, 160), 1000, 0), (ev(1, False, 320), 1000, 20),
        (ev(1, True, 480), 1000, 40), (ev(1, True, 480), 1000, 60),   # end + repeat
        (ev(2, False, 160), 3000, 80),                                # end lost ...
        (ev(3, False, 160), 5000, 100),                               # ... reported here
        (ev(2, True, 480), 3000, 120),                                # stale: ignored
        (ev(4, False, 65000), 7000, 140), (ev(4, False, 0xFFFF), 7000, 160),
        (ev(4, False, 160), 7000 + 0xFFFF, 180),                      # next segment
        (ev(4, True, 800), 7000 + 0xFFFF, 200),
        (ev(5, True, 400) + ev(6, False, 160), 0x10000000, 220),       # packed
        (ev(6, True, 480), 0x10000000 + 400, 230),
        (ev(7, False, 160), 0xE0000000, 240),                         # end lost
        (ev(8, False, 160), 0xFFFFFF00, 245),                         # end lost, near the wrap
        (ev(9, True, 480), 0x00000090, 250),                          # wrapped
        (b"\x01", 0x200, 260), (ev(16, True, 160), 0x400, 280),        # short, flash
        (ev(0, False, 160), 0x600, 300),                              # end never comes
    ]
    rx = Rfc4733Receiver(end_timeout_ms=200, queue_size=16)
    digits = bytearray(16)
    count = [0]

    def step(i):
        if i < len(packets):
            p = packets[i]
            rx.receive(p[0], p[1], p[2])
        else:
            rx.poll(300 + 100 * (i - len(packets)))  # the timeout reports "0"
        d = rx.next_digit()
        while d is not None:
            digits[count[0]] = ord(d)
            count[0] += 1
            d = rx.next_digit()

    locked("Rfc4733Receiver.receive/poll/next_digit", step, len(packets) + 3)
    assert bytes(digits[:count[0]]) == b"1234567890", bytes(digits[:count[0]])


def test_rfc4733_sender_tick_does_not_allocate():
    reference = Rfc4733Sender()
    reference.start("9", 9000, 1234)
    expected = 0
    while reference.next_payload():
        expected += 1
    tx = Rfc4733Sender()
    packet = bytearray(16)
    tx.start("9", 9000, 1234)  # long enough for a second segment (2.5.1.3)
    sent = [0]

    def step(i):
        if tx.next_payload(packet, 12):
            sent[0] += 1

    locked("Rfc4733Sender.next_payload", step, expected + 5)
    assert sent[0] == expected and expected > 400 and not tx.active
    assert tx.timestamp == 1234 + 0xFFFF and packet[13] & 0x80


def frames_of_tones():
    # Silence, "5" for 100 ms, silence, noise-like sweep: 320-byte frames, made before the lock.
    out = bytearray(320 * 20)
    for k in range(20 * 160):
        t = k / 8000.0
        if 8 * 20 <= k < 8 * 120:
            v = 7000 * math.sin(2 * math.pi * 770 * t) + 7000 * math.sin(2 * math.pi * 1336 * t)
        elif k >= 8 * 200:
            v = 9000 * math.sin(2 * math.pi * (300 + k) * t)
        else:
            v = 0.0
        struct.pack_into("<h", out, 2 * k, int(v))
    mv = memoryview(out)
    return [mv[i:i + 320] for i in range(0, len(out), 320)]


def run_detector(det, name):
    frames = frames_of_tones()
    found = bytearray(4)
    count = [0]

    def step(i):
        d = det.process(frames[i])
        if d is not None:
            found[count[0]] = ord(d)
            count[0] += 1

    locked(name, step, len(frames))
    assert bytes(found[:count[0]]) == b"5", bytes(found[:count[0]])


def test_inband_viper_frame_does_not_allocate():
    det = InbandDetector()
    if det.implementation != "viper":
        skip("no viper emitter")
    run_detector(det, "InbandDetector.process (viper)")


def test_inband_plain_python_frame_does_not_allocate():
    run_detector(InbandDetector(force_python=True, allow_slow=True), "InbandDetector.process (python)")


def test_deduplicator_does_not_allocate():
    d = DigitDeduplicator(window_ms=250)
    results = bytearray(4)
    calls = (("5", "inband", 0), ("5", "rfc4733", 60), ("5", "inband", 300), ("6", "info", 320))

    def step(i):
        c = calls[i]
        results[i] = d.accept(c[0], c[1], c[2])

    locked("DigitDeduplicator.accept", step, len(calls))
    assert list(results) == [1, 0, 1, 1]

# MicroPython only: the per-frame media path allocates nothing. Every step runs
# inside micropython.heap_lock(), where any allocation raises MemoryError:
# G.711 encode/decode (selected kernels and plain Python), RTP pack and parse,
# jitter put/get (in order, reordered, duplicate, late, lost/concealed), bad
# packets and RFC 4733 event packets ([E1]'s Rfc4733Receiver.receive).
import sys

from support import skip

if sys.implementation.name != "micropython":
    skip("heap_lock exists on MicroPython only")

import micropython

from doorsip.media import g711, rtp
from doorsip.media.jitter import JitterBuffer

SRC = ("127.0.0.1", 40000)


def locked(step_names, steps, rounds=1):
    """Run every step under heap_lock; name the one that allocated."""
    failed = -1
    error = None
    micropython.heap_lock()
    try:
        for _ in range(rounds):
            for i in range(len(steps)):
                failed = i
                steps[i]()
        failed = -1
    except MemoryError as exc:
        error = exc
    finally:
        micropython.heap_unlock()
    if failed >= 0:
        sys.print_exception(error)
        raise AssertionError("allocates under heap_lock: " + step_names[failed])


def setup(codec, pt):
    enc, dec, silence = g711.codec_functions(codec)
    s = {}
    s["pcm"] = bytearray(320)
    for i in range(320):
        s["pcm"][i] = (i * 91) & 0xFF
    s["out"] = bytearray(320)
    s["codes"] = bytearray(160)
    s["tx"] = rtp.RtpSender(pt, enc)
    s["peer"] = rtp.RtpSender(pt, enc)
    s["jb"] = JitterBuffer(dec, silence)
    s["rx"] = rtp.RtpReceiver((pt,), event_pt=101, jitter=s["jb"])
    # The far end's packets, made before the lock (the socket hands us bytes).
    s["packets"] = [bytes(s["peer"].pack_frame(s["pcm"])) for _ in range(40)]
    return s, enc, dec


def test_codecs_do_not_allocate():
    pcm = bytearray(320)
    codes = bytearray(160)
    out = bytearray(320)
    mv = memoryview(pcm)
    names = ("ulaw_encode", "ulaw_decode", "alaw_encode", "alaw_decode",
             "ulaw_encode_py", "ulaw_decode_py", "alaw_encode_py", "alaw_decode_py",
             "encode_memoryview", "copy_into", "scale_into")
    g711.ulaw_encode_into_py(pcm, codes, 1)  # loads the tables before the lock
    steps = (
        lambda: g711.ulaw_encode_into(pcm, codes, 160),
        lambda: g711.ulaw_decode_into(codes, out, 160),
        lambda: g711.alaw_encode_into(pcm, codes, 160),
        lambda: g711.alaw_decode_into(codes, out, 160),
        lambda: g711.ulaw_encode_into_py(pcm, codes, 160),
        lambda: g711.ulaw_decode_into_py(codes, out, 160),
        lambda: g711.alaw_encode_into_py(pcm, codes, 160),
        lambda: g711.alaw_decode_into_py(codes, out, 160),
        lambda: g711.ulaw_encode_into(mv, codes, 160),
        lambda: g711.copy_into(out, 0, codes, 0, 160),
        lambda: g711.scale_into(out, 160, 8),
    )
    locked(names, steps, rounds=3)


def test_rtp_and_jitter_per_frame_path_does_not_allocate():
    for codec, pt in (("PCMU", 0), ("PCMA", 8)):
        s, enc, dec = setup(codec, pt)
        tx = s["tx"]
        rx = s["rx"]
        jb = s["jb"]
        pcm = s["pcm"]
        out = s["out"]
        packets = s["packets"]
        state = [0]
        order = (0, 1, 2, 4, 4, 3, 5, 7, 8, 6, 9, 10, 12, 13)  # dup (4), reorder, late (6), loss (11)

        def send():
            tx.pack_frame(pcm)

        def receive():
            i = state[0]
            if i < len(order):
                p = packets[order[i]]
                rx.on_packet(p, len(p), SRC, i * 20)
                state[0] = i + 1

        def play():
            jb.get_into(out)

        names = ("encode+pack", "parse+jitter put", "jitter get+decode")
        locked(names, (send, receive, play), rounds=len(order) + 6)
        assert state[0] == len(order)
        assert rx.received == len(order), rx.received
        # every path of put and get ran under the lock
        assert jb.duplicates >= 1 and jb.late >= 1 and jb.played >= 8, (jb.duplicates, jb.late)
        assert jb.concealed >= 1 and jb.silent >= 1, (jb.concealed, jb.silent)
        assert tx.packets == len(order) + 6


def test_bad_packets_do_not_allocate():
    s, enc, dec = setup("PCMU", 0)
    rx = s["rx"]
    good = s["packets"][0]
    bad_version = b"\x40" + good[1:]
    bad_type = good[:1] + b"\x22" + good[2:]
    short = good[:7]
    bad_pad = b"\xa0" + good[1:-1] + b"\xff"
    garbage = bytes(range(256))
    other = ("10.9.8.7", 1)
    # (a closure over more than a few variables allocates its call frame on
    # MicroPython, so the cases travel in one tuple)
    cases = (good, bad_version, bad_type, short, bad_pad, garbage)

    def run():
        for p in cases:
            rx.on_packet(p, len(p), SRC, 0)
        rx.on_packet(good, len(good), other, 0)

    locked(("bad packets",), (run,), rounds=50)
    assert rx.dropped == 6 * 50 and rx.wrong_source == 50


def test_rfc4733_receiver_per_packet_check_does_not_allocate():
    try:
        from doorsip.media.dtmf import Rfc4733Receiver
    except ImportError:
        skip("media/dtmf.py ([E1]) is not there")
    s, enc, dec = setup("PCMU", 0)
    rx = s["rx"]
    tx = s["peer"]
    dtmf = Rfc4733Receiver()
    # digit 5, volume 10, durations 160..480, then three end packets
    events = []
    for k, (flags, duration) in enumerate(((0x0a, 160), (0x0a, 320), (0x8a, 480), (0x8a, 480), (0x8a, 480))):
        tx.payload[0] = 5
        tx.payload[1] = flags
        tx.payload[2] = duration >> 8
        tx.payload[3] = duration & 0xFF
        events.append(bytes(tx.pack_event(4, 101, k == 0, tx.timestamp)))
    # The payload view is what the stream hands the receiver; made before the lock.
    views = [memoryview(e)[12:16] for e in events]
    state = [0]

    def step():
        i = state[0]
        e = events[i]
        if rx.on_packet(e, len(e), SRC, 20 * i) == rtp.KIND_EVENT:
            dtmf.receive(views[i], rx.timestamp32, 20 * i)
        state[0] = i + 1

    locked(("rtp parse + Rfc4733Receiver.receive",), (step,), rounds=len(events))
    assert dtmf.next_digit() == "5" and dtmf.next_digit() is None


def test_reused_receive_buffer_path_does_not_allocate():
    # A receive buffer reused for every datagram (bytearray): the jitter buffer
    # copies the payload into its ring instead of keeping a reference.
    s, enc, dec = setup("PCMA", 8)
    rx = s["rx"]
    jb = s["jb"]
    out = s["out"]
    packets = s["packets"]
    rbuf = bytearray(600)
    state = [0]
    ends = (rx, jb, out)   # a closure over more than 5 names allocates its frame

    def receive():
        p = packets[state[0]]
        g711.copy_into(rbuf, 0, p, 0, len(p))  # what the socket would do
        ends[0].on_packet(rbuf, len(p), SRC, state[0] * 20)
        ends[1].get_into(ends[2])
        state[0] += 1

    locked(("reused buffer: parse + copy put + get",), (receive,), rounds=30)
    assert jb.played >= 25 and rx.received == 30
    assert jb._refs[0] is jb._data   # copied, not referenced

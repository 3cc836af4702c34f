# CPython only: RFC 4733 packets captured from a third-party sender (the
# dtmf_2833_*.pcap files SIPp ships for its "play_pcap_audio" action) decoded by
# doorsip.media.dtmf.Rfc4733Receiver: every digit once, also when the capture is
# replayed with loss of the end packets or with every packet duplicated.
import glob
import os
import struct

import pytest

from doorsip.media.dtmf import Rfc4733Receiver

PCAP_DIR = "/usr/share/sip-tester"
NAMES = {"star": "*", "pound": "#"}


def read_pcap_rtp(path):
    """[(time_ms, payload_type, rtp_timestamp, payload)] of the UDP/RTP packets."""
    data = open(path, "rb").read()
    magic, _, _, _, _, _, link = struct.unpack_from("<IHHiIII", data, 0)
    assert magic == 0xA1B2C3D4 and link == 1, "little-endian Ethernet pcap expected"
    out = []
    off = 24
    while off + 16 <= len(data):
        sec, usec, incl, _ = struct.unpack_from("<IIII", data, off)
        off += 16
        frame = data[off:off + incl]
        off += incl
        if struct.unpack_from(">H", frame, 12)[0] != 0x0800:
            continue
        ip = frame[14:]
        if ip[9] != 17:  # UDP
            continue
        rtp = ip[(ip[0] & 15) * 4 + 8:]
        if rtp[0] >> 6 != 2:
            continue
        ts = struct.unpack_from(">I", rtp, 4)[0]
        header = 12 + 4 * (rtp[0] & 15)
        out.append((sec * 1000 + usec // 1000, rtp[1] & 0x7F, ts, bytes(rtp[header:])))
    return out


def captures():
    files = sorted(glob.glob(os.path.join(PCAP_DIR, "dtmf_2833_*.pcap")))
    if not files:
        pytest.skip("SIPp's dtmf_2833_*.pcap files are not installed")
    result = []
    for path in files:
        name = os.path.basename(path)[len("dtmf_2833_"):-len(".pcap")]
        result.append((NAMES.get(name, name), read_pcap_rtp(path)))
    # replay in RTP timestamp order, as in the original call (the capture times of
    # "0" and "1" are equal)
    result.sort(key=lambda item: item[1][0][2])
    return result


def replay(packets_by_digit, transform=lambda pkts: pkts):
    rx = Rfc4733Receiver(end_timeout_ms=500)
    t0 = packets_by_digit[0][1][0][0]
    got = []
    last = 0
    for i, (_, packets) in enumerate(packets_by_digit):
        for t, pt, ts, payload in transform(packets):
            assert pt == 101
            last = max(last, t - t0 + 1000 * i)  # keep the clock monotonic
            rx.receive(payload, ts, last)
            d = rx.next_digit()
            while d is not None:
                got.append(d)
                d = rx.next_digit()
    rx.poll(last + 1000)
    d = rx.next_digit()
    while d is not None:
        got.append(d)
        d = rx.next_digit()
    return "".join(got)


def test_sipp_captures_decode_to_their_digits():
    caps = captures()
    assert len(caps) == 12
    assert replay(caps) == "".join(d for d, _ in caps)


def test_sipp_captures_with_end_packets_lost():
    caps = captures()

    def drop_ends(packets):
        return [p for p in packets if not p[3][1] & 0x80]

    assert replay(caps, drop_ends) == "".join(d for d, _ in caps)


def test_sipp_captures_duplicated():
    caps = captures()

    def twice(packets):
        out = []
        for p in packets:
            out += [p, p]
        return out

    assert replay(caps, twice) == "".join(d for d, _ in caps)

# CPython-only property tests of doorsip.media.dtmf and dtmf_inband (hypothesis):
# the RFC 4733 receiver never raises and reports each key press exactly once over a
# path that loses, duplicates and reorders packets; parse_info never raises; the
# in-band detector decodes random key sequences within Q.24 tolerances; and the
# same detector, run by MicroPython from mpy-cross output, gives the same digits.
import math
import os
import platform
import random
import struct
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from doorsip.media.dtmf import (
    DIGITS, DigitDeduplicator, Rfc4733Receiver, Rfc4733Sender, info_body, parse_info,
)
from doorsip.media.dtmf_inband import InbandDetector

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "unit"))
from test_dtmf_inband import Signal  # noqa: E402  (the tone generator of the unit tests)

from tooling import compile_firmware, run_micropython  # noqa: E402

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def drain(rx):
    out = []
    d = rx.next_digit()
    while d is not None:
        out.append(d)
        d = rx.next_digit()
    return "".join(out)


@FAST
@given(st.lists(st.tuples(st.binary(max_size=12), st.integers(0, 0xFFFFFFFF)), max_size=40))
def test_receiver_never_raises_and_reports_at_most_one_digit_per_event(packets):
    # An event starts only where (timestamp, code) changes from the block before.
    rx = Rfc4733Receiver(end_timeout_ms=100)
    got = []
    starts = 0
    previous = None
    for i, (payload, ts) in enumerate(packets):
        rx.receive(payload, ts, i * 20)
        offset = 0
        for pos in range(0, len(payload) - 3, 4):
            key = ((ts + offset) & 0x3FFFFFFF, payload[pos])  # the receiver works modulo 2**30
            if key != previous and payload[pos] < 16:
                starts += 1
            previous = key
            offset += struct.unpack_from(">H", payload, pos + 2)[0]
        got.append(drain(rx))
    rx.poll(len(packets) * 20 + 1000)
    got.append(drain(rx))
    digits = "".join(got)
    assert len(digits) <= starts
    assert all(d in DIGITS for d in digits)


press = st.tuples(st.sampled_from(DIGITS), st.integers(40, 400))


@FAST
@given(st.lists(press, min_size=1, max_size=8), st.randoms(use_true_random=False),
       st.integers(0, 0xFFFFFFFF))
def test_sender_to_receiver_over_a_bad_path(presses, rnd, ts0):
    # Every packet of an event may be lost but one, duplicated, or reordered among
    # the packets of the same event: each press is still reported exactly once.
    tx = Rfc4733Sender()
    rx = Rfc4733Receiver(end_timeout_ms=10000)
    now = 0
    ts = ts0
    got = []
    for digit, ms in presses:
        tx.start(digit, ms, ts)
        event = []
        while tx.next_payload():
            event.append((bytes(tx.payload), tx.timestamp))
            ts = (ts + 160) & 0xFFFFFFFF
        keep = [p for p in event if rnd.random() < 0.5] or [rnd.choice(event)]
        keep += [p for p in keep if rnd.random() < 0.3]
        rnd.shuffle(keep)
        for payload, pts in keep:
            rx.receive(payload, pts, now)
            now += 20
        ts = (ts + 1600) & 0xFFFFFFFF
        got.append(drain(rx))
    rx.poll(now + 20000)
    got.append(drain(rx))
    assert "".join(got) == "".join(d for d, _ in presses)


@FAST
@given(st.one_of(st.text(max_size=40), st.binary(max_size=40), st.none(), st.integers()),
       st.one_of(st.text(max_size=60), st.binary(max_size=60), st.none()))
def test_parse_info_never_raises(content_type, body):
    d = parse_info(content_type, body)
    assert d is None or d in DIGITS


@FAST
@given(st.sampled_from(DIGITS), st.integers(1, 65535),
       st.sampled_from(["application/dtmf-relay", "APPLICATION/DTMF-RELAY ; x=y", "application/dtmf"]),
       st.sampled_from(["\r\n", "\n"]), st.sampled_from(["", " ", "\t"]), st.booleans())
def test_parse_info_variants(digit, duration, ctype, eol, ws, lower):
    body = info_body(digit, duration, ctype)
    if "relay" in ctype.lower():
        key = "signal" if lower else "Signal"
        body = ("%s%s=%s%s%sDuration=%d%s" % (key, ws, ws, digit.lower() if lower else digit, eol,
                                              duration, eol)).encode()
    assert parse_info(ctype, body) == digit


@FAST
@given(st.lists(st.tuples(st.sampled_from(DIGITS), st.sampled_from(["rfc4733", "info", "inband"])),
                max_size=12))
def test_deduplicator_counts_single_method_presses(events):
    # With one method per press (presses 300 ms apart), nothing is ever dropped.
    d = DigitDeduplicator(window_ms=250)
    assert all(d.accept(digit, method, i * 300) for i, (digit, method) in enumerate(events))


key_press = st.tuples(
    st.sampled_from(DIGITS),
    st.integers(45, 120),           # tone ms (Q.24: 40 ms must be accepted)
    st.integers(45, 100),           # pause ms after it
    st.floats(-25.0, -6.0),         # level per tone, dBm0 (no clipping at full twist)
    st.floats(-4.0, 8.0),           # twist dB (positive: low group louder)
    st.floats(-0.015, 0.015),       # row frequency deviation
    st.floats(-0.015, 0.015),       # column frequency deviation
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(key_press, min_size=1, max_size=6), st.integers(0, 159), st.integers(1, 2 ** 31))
def test_inband_random_key_sequences(keys, offset, seed):
    s = Signal().silence(offset / 8.0)
    for digit, ms, pause, level, twist, rdev, cdev in keys:
        s.digit(digit, ms, level=level, twist_db=twist, row_dev=rdev, col_dev=cdev).silence(pause)
    s.add_noise(-45.0, seed)
    data = s.pcm()
    det = InbandDetector()
    got = [det.process(data[i:i + 320]) for i in range(0, len(data), 320)]
    assert "".join(d for d in got if d) == "".join(k[0] for k in keys)


MPY_SCRIPT = r"""
import sys
from doorsip.media.dtmf_inband import InbandDetector
det = InbandDetector()
data = open(sys.argv[1], "rb").read()
out = []
for i in range(0, len(data), 320):
    d = det.process(data[i:i + 320])
    if d:
        out.append(d)
print(det.implementation, "".join(out))
"""


def test_compiled_firmware_on_micropython_matches_cpython(tmp_path):
    # The .mpy build (as deployed) detects the same digits on MicroPython with the
    # viper kernels as CPython does with the plain-Python ones.
    rnd = random.Random(4)
    s = Signal().silence(13)
    for digit in "0123456789*#ABCD":
        s.digit(digit, rnd.randint(45, 90), level=rnd.uniform(-24, -4),
                twist_db=rnd.uniform(-3, 7), row_dev=rnd.uniform(-0.013, 0.013)).silence(rnd.randint(45, 80))
    s.add_noise(-40.0, 77)
    pcm_path = tmp_path / "tones.raw"
    pcm_path.write_bytes(bytes(s.pcm()))
    data = pcm_path.read_bytes()
    det = InbandDetector()
    expected = "".join(d for d in (det.process(data[i:i + 320]) for i in range(0, len(data), 320)) if d)
    assert expected == "0123456789*#ABCD"
    march = {"x86_64": "x64", "AMD64": "x64", "i686": "x86", "armv7l": "armv7emsp"}.get(platform.machine())
    if march is None:
        pytest.skip("no mpy-cross -march for " + platform.machine())
    build = compile_firmware(str(tmp_path / "build"), march=march)  # viper needs native code
    script = tmp_path / "detect.py"
    script.write_text(MPY_SCRIPT)
    result = run_micropython(str(script), heap="192K", path=(build,), args=[str(pcm_path)], timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["viper", expected], result.stdout


class _Tracked(int):
    """An int coefficient recording the largest product it takes part in."""
    peak = 0

    def __mul__(self, other):
        r = int(self) * int(other)
        if abs(r) > _Tracked.peak:
            _Tracked.peak = abs(r)
        return r

    __rmul__ = __mul__


def test_inband_integers_fit_32_bit_ports():
    # The viper kernels run on 32-bit native ints on an ESP32 and the per-frame
    # Python code should keep to small ints (< 2**30) there. Drive the plain-Python
    # twins (same arithmetic) with worst-case frames: full-scale squares and sines at
    # every filter frequency, and full-scale noise.
    import array
    from doorsip.media import dtmf_inband
    det = InbandDetector()
    coefs = [_Tracked(c) for c in det._coefs]  # nominal, low side, high side
    freqs = [f * m for m in (1.0, 0.95, 1.05) for f in dtmf_inband._ROWS + dtmf_inband._COLS]
    rnd = random.Random(3)
    frames = []
    for f in freqs:
        for phase in (0.0, 0.7):
            sq = [32767 if math.sin(2 * math.pi * f * k / 8000 + phase) >= 0 else -32768 for k in range(160)]
            sn = [int(32767 * math.sin(2 * math.pi * f * k / 8000 + phase)) for k in range(160)]
            frames += [sq, sn]
    frames.append([rnd.choice((32767, -32768)) for _ in range(160)])
    frames.append([rnd.randint(-32768, 32767) for _ in range(160)])
    max_energy = max_power = 0
    for samples in frames:
        pcm = struct.pack("<160h", *samples)
        xw = array.array("h", bytes(320))
        info = array.array("i", [0, 0])
        energy = dtmf_inband.window_frame(pcm, det._win, xw, info)
        powers = [0] * 24
        dtmf_inband.goertzel_powers(xw, coefs, powers, 24)
        max_energy = max(max_energy, energy)
        max_power = max(max_power, max(powers))
    assert _Tracked.peak < 2 ** 31, _Tracked.peak  # coef * state in the kernel
    assert max_energy * dtmf_inband._STRONG_Q8 < 2 ** 30, max_energy  # purity test products
    assert max_power * max(det._normal_q4, det._reverse_q4, 16) < 2 ** 30, max_power  # twist


@pytest.mark.parametrize("march", ["xtensawin", "rv32imc", "armv7emsp"])
def test_viper_kernels_compile_for_device_targets(tmp_path, march):
    # ESP32 (xtensawin), ESP32-C3 (rv32imc), Cortex-M4F/M7 (armv7emsp): native code builds.
    from tooling import require
    mpy_cross = require("mpy-cross")
    src = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                       "firmware", "doorsip", "media", "goertzel_viper.py")
    out = tmp_path / "goertzel_viper.mpy"
    result = subprocess.run([mpy_cross, "-march=" + march, "-o", str(out), src],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 500

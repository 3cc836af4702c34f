# In-band DTMF detection (doorsip.media.dtmf_inband) on tones generated here with
# math.sin: Q.24 frequency tolerance, twist, level, duration, pauses, and rejection
# of noise, speech-like sound, single tones and dial tones. Runs under pytest and
# the MicroPython runner (viper kernels there; the plain-Python twins on CPython).
import array
import math

from support import MICROPYTHON, raises, skip

from doorsip.media.dtmf import InbandDetector as make_detector
from doorsip.media.dtmf_inband import (
    InbandDetector, goertzel_powers, window_frame,
)

KEYS = "123A456B789C*0#D"
ROWS = (697, 770, 852, 941)
COLS = (1209, 1336, 1477, 1633)
PEAK_0DBM0 = 22670.0
TWO_PI = 2 * math.pi


class Signal:
    """8 kHz S16LE audio built piece by piece; phases continue across pieces."""

    def __init__(self):
        # array of C floats: a list of float objects would not fit MicroPython's heap
        self.samples = array.array("f")

    def silence(self, ms):
        for _ in range(int(ms * 8)):
            self.samples.append(0.0)
        return self

    def tones(self, freqs_levels, ms):
        n = int(ms * 8)
        start = len(self.samples)
        for k in range(n):
            t = (start + k) / 8000.0
            v = 0.0
            for f, dbm0 in freqs_levels:
                v += PEAK_0DBM0 * 10 ** (dbm0 / 20.0) * math.sin(TWO_PI * f * t + f)
            self.samples.append(v)
        return self

    def digit(self, key, ms, level=-10.0, twist_db=0.0, row_dev=0.0, col_dev=0.0):
        """A DTMF tone; twist_db > 0 makes the low (row) tone louder (normal twist)."""
        i = KEYS.index(key)
        return self.tones(((ROWS[i // 4] * (1 + row_dev), level + twist_db / 2),
                           (COLS[i % 4] * (1 + col_dev), level - twist_db / 2)), ms)

    def add_noise(self, dbm0, seed):
        # xorshift32: the same sequence on both interpreters; sum of 4 uniforms ~ gaussian
        x = seed or 1
        rms = PEAK_0DBM0 / math.sqrt(2) * 10 ** (dbm0 / 20.0)
        scale = rms / (1 << 31) * math.sqrt(3.0)  # 4 uniforms in [-1, 1): variance 4/3
        for k in range(len(self.samples)):
            acc = 0
            for _ in range(4):
                x ^= (x << 13) & 0xFFFFFFFF
                x ^= x >> 17
                x ^= (x << 5) & 0xFFFFFFFF
                acc += x - (1 << 31)
            self.samples[k] += acc * scale / 2
        return self

    def pcm(self):
        n = len(self.samples)
        n += (-n) % 160
        out = bytearray(2 * n)
        k = 0
        for s in self.samples:
            v = int(s + 0.5) if s >= 0 else -int(-s + 0.5)
            if v > 32767:
                v = 32767
            elif v < -32768:
                v = -32768
            v &= 0xFFFF
            out[2 * k] = v & 0xFF
            out[2 * k + 1] = v >> 8
            k += 1
        return out


def detect(signal, det=None):
    det = det or InbandDetector()
    data = signal.pcm()
    mv = memoryview(data)
    found = []
    for off in range(0, len(data), 320):
        d = det.process(mv[off:off + 320])
        if d is not None:
            found.append(d)
    return "".join(found)


def test_detector_available():
    det = InbandDetector()
    assert det.enabled, det.reason
    if MICROPYTHON:
        assert det.implementation == "viper"


def test_each_digit_detected_once():
    for key in KEYS:
        assert detect(Signal().silence(30).digit(key, 60).silence(60)) == key, key


def test_forty_ms_detected_at_every_alignment():
    for offset in range(0, 160, 10):
        s = Signal().silence(offset / 8.0).digit("5", 40).silence(60)
        assert detect(s) == "5", offset


def test_twenty_ms_rejected_at_every_alignment():
    for offset in range(0, 160, 10):
        s = Signal().silence(offset / 8.0).digit("5", 20).silence(60)
        assert detect(s) == "", offset


def test_frequency_within_one_and_a_half_percent_accepted():
    for key in KEYS:
        for dev in (0.015, -0.015):
            for row_dev, col_dev in ((dev, 0.0), (0.0, dev), (dev, dev), (dev, -dev)):
                s = Signal().silence(20).digit(key, 60, row_dev=row_dev, col_dev=col_dev).silence(60)
                assert detect(s) == key, (key, row_dev, col_dev)


def test_frequency_off_by_three_and_a_half_percent_rejected():
    for key in KEYS:
        for dev in (0.035, -0.035):
            for row_dev, col_dev in ((dev, 0.0), (0.0, dev)):
                s = Signal().silence(20).digit(key, 80, row_dev=row_dev, col_dev=col_dev).silence(60)
                assert detect(s) == "", (key, row_dev, col_dev)


def test_twist_within_limits_accepted():
    for key in "1D5*":
        for twist in (8.0, -4.0, 0.0):
            s = Signal().silence(20).digit(key, 60, twist_db=twist).silence(60)
            assert detect(s) == key, (key, twist)
    # the corners: full twist with both tones 1.5 % off (worst at 1633 Hz)
    for twist in (8.0, -4.0):
        for dev in (0.015, -0.015):
            s = Signal().silence(20).digit("D", 60, twist_db=twist, row_dev=dev, col_dev=dev).silence(60)
            assert detect(s) == "D", (twist, dev)


def test_twist_beyond_limits_rejected():
    for key in "1D5*":
        for twist in (10.0, -6.0):
            s = Signal().silence(20).digit(key, 80, twist_db=twist).silence(60)
            assert detect(s) == "", (key, twist)


def test_twist_limits_configurable():
    det = InbandDetector(normal_twist_db=12, reverse_twist_db=8)
    assert detect(Signal().digit("8", 80, twist_db=10.0).silence(40), det) == "8"
    det.reset()
    assert detect(Signal().digit("8", 80, twist_db=-6.0).silence(40), det) == "8"


def test_levels():
    for level in (-3.0, -10.0, -25.0):
        assert detect(Signal().silence(20).digit("9", 60, level=level).silence(40)) == "9", level
    assert detect(Signal().silence(20).digit("9", 100, level=-40.0).silence(40)) == ""
    det = InbandDetector(min_level_dbm0=-45)
    assert detect(Signal().silence(20).digit("9", 100, level=-40.0).silence(40), det) == "9"


def test_sequence_with_short_pauses():
    s = Signal().silence(15)
    for key in KEYS:
        s.digit(key, 50).silence(50)
    assert detect(s) == KEYS


def test_repeated_digit_needs_a_pause():
    for offset in range(0, 160, 20):
        s = Signal().silence(offset / 8.0)
        for _ in range(4):
            s.digit("1", 50).silence(40)
        assert detect(s) == "1111", offset


def test_long_press_reported_once_and_dropout_bridged():
    assert detect(Signal().digit("0", 1500).silence(40)) == "0"
    # an interruption of up to 10 ms inside a tone is not a pause, wherever it falls
    for offset in range(0, 160, 20):
        for gap in (5, 10):
            s = Signal().silence(offset / 8.0).digit("0", 100).silence(gap).digit("0", 100).silence(40)
            assert detect(s) == "0", (offset, gap)


def test_adjacent_different_digits_without_pause():
    s = Signal().silence(10).digit("4", 60).digit("7", 60).silence(40)
    assert detect(s) == "47"


def test_tone_in_noise_detected():
    s = Signal().silence(40).digit("#", 80, level=-10.0).silence(40).digit("2", 80, level=-10.0).silence(40)
    s.add_noise(-30.0, seed=12345)
    assert detect(s) == "#2"


def test_noise_rejected():
    for seed in (1, 99, 31337):
        for level in (-10.0, -25.0):
            s = Signal().silence(400).add_noise(level, seed)
            assert detect(s) == "", (seed, level)


def test_single_tones_rejected():
    for f in ROWS + COLS:
        assert detect(Signal().tones(((f, -10.0),), 200)) == "", f


def test_dial_and_ring_tones_rejected():
    assert detect(Signal().tones(((350, -13.0), (440, -13.0)), 400)) == ""  # US dial tone
    assert detect(Signal().tones(((425, -10.0),), 400)) == ""  # European dial tone
    assert detect(Signal().tones(((440, -19.0), (480, -19.0)), 400)) == ""  # US ringback
    assert detect(Signal().tones(((600, -10.0), (1000, -10.0)), 400)) == ""  # not a DTMF pair


def test_speech_like_sound_rejected():
    # Voiced speech model: a gliding pitch (90-220 Hz) with 30 harmonics shaped by
    # three formants that move too, as in a vowel sequence.
    s = Signal()
    n = 8000
    phase = 0.0
    for k in range(n):
        t = k / 8000.0
        f0 = 155 + 65 * math.sin(TWO_PI * 1.3 * t)
        phase += TWO_PI * f0 / 8000.0
        f1 = 500 + 300 * math.sin(TWO_PI * 2.1 * t)
        f2 = 1500 + 600 * math.sin(TWO_PI * 1.7 * t + 1)
        v = 0.0
        for h in range(1, 31):
            fh = h * f0
            if fh > 3800:
                break
            a = 1.0 / (1 + ((fh - f1) / 120) ** 2) + 0.6 / (1 + ((fh - f2) / 160) ** 2) + 0.05
            v += a * math.sin(h * phase)
        s.samples.append(v * 2500)
    assert detect(s) == ""


def test_bad_frame_length_is_an_error():
    det = InbandDetector()
    raises(ValueError, det.process, bytes(100))


def test_lazy_factory_from_dtmf_module():
    det = make_detector(normal_twist_db=8)
    assert detect(Signal().digit("3", 60).silence(40), det) == "3"


def test_plain_python_disabled_on_micropython_unless_allowed():
    det = InbandDetector(force_python=True)
    s = Signal().digit("6", 60).silence(40)
    if MICROPYTHON:
        assert not det.enabled and "viper" in det.reason
        assert detect(s, det) == ""
        det = InbandDetector(force_python=True, allow_slow=True)
    assert det.enabled and det.implementation == "python"
    assert detect(s, det) == "6"


def test_viper_and_python_kernels_identical():
    try:
        from doorsip.media import goertzel_viper
    except ImportError:
        skip("no viper emitter on this interpreter")
    s = Signal().silence(5).digit("B", 60, twist_db=3.0).tones(((1000, -3.0), (300, -3.0)), 40)
    s.add_noise(-20.0, seed=7)
    for _ in range(80):  # full-scale extremes
        s.samples.append(32767.0)
        s.samples.append(-32768.0)
    data = s.pcm()
    det = InbandDetector()
    win = det._win
    coefs = array.array("i", det._coefs)  # nominal, low side, high side
    for off in range(0, len(data), 320):
        frame = data[off:off + 320]
        xa = array.array("h", bytes(320))
        xb = array.array("h", bytes(320))
        ia = array.array("i", [0, 0])
        ib = array.array("i", [0, 0])
        ea = window_frame(frame, win, xa, ia)
        eb = goertzel_viper.window_frame(frame, win, xb, ib)
        assert ea == eb and xa == xb and ia == ib, off
        pa = array.array("i", bytes(4 * 24))
        pb = array.array("i", bytes(4 * 24))
        goertzel_powers(xa, coefs, pa, 24)
        goertzel_viper.goertzel_powers(xb, coefs, pb, 24)
        assert pa == pb, off
    a = InbandDetector()
    b = InbandDetector(force_python=True, allow_slow=True)
    assert a.implementation == "viper"
    for off in range(0, len(data), 320):
        assert a.process(data[off:off + 320]) == b.process(data[off:off + 320])
        assert a.last_code == b.last_code


def test_digit_under_a_louder_third_tone_rejected():
    # Music or speech over a key: the pair no longer holds most of the energy.
    s = Signal().silence(20).tones(((770, -10.0), (1477, -10.0), (1800, -7.0)), 200)
    assert detect(s) == ""
    s = Signal().silence(20).tones(((770, -10.0), (1477, -10.0), (1800, -30.0)), 200)
    assert detect(s) == "6"


def test_two_keys_of_a_column_rejected():
    # "6" and "9" held together: two rows, one column. Also with the second row
    # 3 dB down, which the group's relative-peak test (6 dB) still refuses.
    s = Signal().silence(20).tones(((770, -10.0), (852, -10.0), (1477, -10.0)), 200)
    assert detect(s) == ""
    s = Signal().silence(20).tones(((770, -10.0), (852, -13.0), (1477, -10.0)), 200)
    assert detect(s) == ""
    s = Signal().silence(20).tones(((770, -10.0), (852, -25.0), (1477, -10.0)), 200)
    assert detect(s) == "6"


def test_detected_through_g711_both_laws():
    # Tones as they arrive in a call: encoded to PCMU/PCMA and decoded back.
    from doorsip.media import g711
    s = Signal().silence(20)
    for key in "159D*#":
        s.digit(key, 60, level=-15.0).silence(60)
    s.digit("7", 60, level=-25.0, twist_db=6.0, col_dev=0.012).silence(60)
    pcm = s.pcm()
    n = len(pcm) // 2
    codes = bytearray(n)
    for encode, decode in ((g711.ulaw_encode_into, g711.ulaw_decode_into),
                           (g711.alaw_encode_into, g711.alaw_decode_into)):
        out = bytearray(2 * n)
        encode(pcm, codes, n)
        decode(codes, out, n)
        assert out != pcm  # the codec really quantised the audio
        det = InbandDetector()
        found = []
        for off in range(0, len(out), 320):
            d = det.process(memoryview(out)[off:off + 320])
            if d:
                found.append(d)
        assert "".join(found) == "159D*#7"


def test_cpython_kernels_identical_to_plain():
    if MICROPYTHON:
        skip("the CPython variants use struct tuples and iterators")
    from doorsip.media import goertzel_cpy
    s = Signal().digit("C", 40, twist_db=-2.0).add_noise(-15.0, seed=5)
    for _ in range(80):
        s.samples.append(32767.0)
        s.samples.append(-32768.0)
    data = s.pcm()
    det = InbandDetector(force_python=True)
    coefs = array.array("i", det._coefs)  # nominal, low side, high side
    for off in range(0, len(data), 320):
        frame = data[off:off + 320]
        xa, xb = array.array("h", bytes(320)), array.array("h", bytes(320))
        ia, ib = array.array("i", [0, 0]), array.array("i", [0, 0])
        assert window_frame(frame, det._win, xa, ia) == goertzel_cpy.window_frame(frame, det._win, xb, ib)
        assert xa == xb and ia == ib
        pa, pb = array.array("i", bytes(96)), array.array("i", bytes(96))
        goertzel_powers(xa, coefs, pa, 24)
        goertzel_cpy.goertzel_powers(xb, coefs, pb, 24)
        assert pa == pb


def test_harmonic_sound_with_harmonics_on_a_key_rejected():
    # A steady voiced sound at f0 = 232.3 Hz: harmonics 3 and 7 fall on 697 Hz and
    # 1626 Hz ("A" within 1.5 %), but the other harmonics hold most of the energy.
    f0 = 232.3
    harmonics = tuple((h * f0, -22.0) for h in range(1, 16) if h * f0 < 3900)
    assert detect(Signal().tones(harmonics, 300)) == ""
    # the same two harmonics alone are a valid key
    assert detect(Signal().tones(((3 * f0, -10.0), (7 * f0, -10.0)), 100)) == "A"


def test_purity_thresholds_follow_the_window():
    # dtmf_inband keeps the strong/weak/hold thresholds as constants (Q8 shares
    # 0.75/0.40/0.20 of a clean tone pair's (P_row + P_col) / energy): they must
    # be what the detector's Hann window gives. The window, kept as its first half,
    # must mirror to the whole Q15 Hann window.
    det = InbandDetector()
    sum_w = 0.0
    sum_w2 = 0.0
    for n in range(160):  # det._win is the first half of the symmetric window
        w = det._win[n if n < 80 else 159 - n]
        assert w == int(round(32767 * 0.5 * (1 - math.cos(2 * math.pi * (n + 0.5) / 160)))), n
        sum_w += w / 32768
        sum_w2 += (w / 32768) ** 2
    ideal = sum_w * sum_w / (2 * sum_w2) / 256
    got = (int(ideal * 0.75 * 256), int(ideal * 0.40 * 256), int(ideal * 0.20 * 256))
    assert got == (40, 21, 10), got
    if not MICROPYTHON:  # private const()s are no module attributes on MicroPython
        from doorsip.media import dtmf_inband
        assert (dtmf_inband._STRONG_Q8, dtmf_inband._WEAK_Q8, dtmf_inband._HOLD_Q8) == got

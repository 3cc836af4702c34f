"""In-band DTMF detection (ITU-T Q.23/Q.24) on 20 ms frames of 8 kHz S16LE audio.

    det = InbandDetector(min_level_dbm0=-32, normal_twist_db=8, reverse_twist_db=4)
    det.process(frame) -> digit str or None   (frame: 320 bytes, 160 samples)
    det.enabled, det.implementation ("viper" / "python"), det.reason, det.reset()

Per frame: a Hann window, Goertzel powers at the eight DTMF frequencies, then the
strongest row (low group) and column (high group) must each pass
- level: at least min_level_dbm0 per tone (-32: a -25 dBm0 pair with 8 dB twist
  puts its weak tone at -29 dBm0, and -40 is refused);
- twist: the low tone at most normal_twist_db above the high one, the high tone at
  most reverse_twist_db above the low one (accepted even with both tones 1.5 %
  off: the test allows 1.5 dB of measurement error, so 8/4 dB pass and 10/6 dB
  are refused);
- frequency: each tone closer to its nominal frequency than to nominal +-5 %, by
  comparing the nominal filter with two side filters; so +-1.5 % is accepted and
  +-3.5 % rejected, whatever the level and twist;
- purity: the two tones hold most of the frame's energy (speech, music and noise
  spread theirs) and, in a full frame, the other tones of each group are 6 dB weaker.
A frame passes as "strong" (nearly all of it tone), "weak" (a partly filled
frame at the start or end of a tone) or "hold" (less tone still: it only keeps a
detected digit going through a dropout of up to 10 ms). A digit is reported once, when two
consecutive frames show it and one of them is strong: every tone of 40 ms or more
contains a whole frame and half of a neighbour, a tone of 20 ms does not. The
digit ends at the first frame without it, so a pause of 40 ms (which always
contains a whole frame) separates two presses of the same key.

The kernels run as viper code (goertzel_viper.py) where the interpreter has the
viper emitter; otherwise as the plain-Python functions below (allocation-free on
MicroPython, a faster variant on CPython), all computing identical integers.
Plain Python on MicroPython is too slow for an ESP32's 20 ms budget, so there the
detector is disabled (det.enabled False, det.reason says why) unless
allow_slow=True. process() allocates nothing; it reads the first 160 samples of a
frame of at least 320 bytes (bytes, bytearray or memoryview).
"""
import array
import math

from doorsip.compat import MICROPYTHON, const

_N = const(160)          # samples per frame (20 ms at 8 kHz)
_PEAK_MAX = const(511)
_FRAME_BYTES = const(320)
_RATE = 8000
_ROWS = (697, 770, 852, 941)
_COLS = (1209, 1336, 1477, 1633)
_SIDE = 0.05             # side filters at nominal * (1 +- 5 %): the boundary is at 2.5 %
_FULL_SCALE_0DBM0 = 22670  # peak of a 0 dBm0 sine in 16-bit PCM (G.711: +3.17 dBm0 = 32636)
_STRONG = 0.75           # share of the ideal tone-to-energy ratio for a full frame
_WEAK = 0.40             # ... for a partly filled frame
_HOLD = 0.20             # ... for a frame that only keeps a detected digit going
_TWIST_ALLOWANCE_DB = 1.5  # measurement error allowed beyond the twist limits
_RELATIVE_PEAK = const(4)  # other tones of a group 6 dB below the best one
_NO_DIGIT = const(-1)
# Row-major keypad (row * 4 + column) as preallocated strings: returning one
# allocates nothing.
_KEYPAD = ("1", "2", "3", "A", "4", "5", "6", "B", "7", "8", "9", "C", "*", "0", "#", "D")


def window_frame(pcm, win, xw, info):
    """Plain-Python twin of goertzel_viper.window_frame."""
    peak = 0
    i = 0
    while i < _N * 2:
        u = pcm[i] | (pcm[i + 1] << 8)
        if u & 0x8000:
            u = 0x10000 - u
        if u > peak:
            peak = u
        i += 2
    extra = 0
    while (peak >> extra) > _PEAK_MAX:
        extra += 1
    shift = 15 + extra
    energy = 0
    i = 0
    while i < _N:
        v = pcm[2 * i] | (pcm[2 * i + 1] << 8)
        if v & 0x8000:
            v -= 0x10000
        y = (v * win[i]) >> shift
        xw[i] = y
        energy += y * y
        i += 1
    info[0] = extra
    info[1] = energy
    return energy


def goertzel_powers(xw, coefs, powers, count):
    """Plain-Python twin of goertzel_viper.goertzel_powers."""
    k = 0
    while k < count:
        ck = coefs[k]
        s1 = 0
        s2 = 0
        i = 0
        while i < _N:
            s0 = xw[i] + ((ck * s1) >> 13) - s2
            s2 = s1
            s1 = s0
            i += 1
        s1 = s1 >> 4
        s2 = s2 >> 4
        pw = s1 * s1 + s2 * s2 - ((ck * s1) >> 13) * s2
        if pw < 0:
            pw = 0
        powers[k] = pw
        k += 1


# The CPython twins below repeat the arithmetic of the plain kernels above on
# purpose: those must allocate nothing on MicroPython (no unpacked tuple, while
# loops), these unpack and iterate for twice the speed on CPython; tests/unit/
# test_dtmf_inband.py checks that all of them compute the same integers.
def _window_frame_cpython(pcm, win, xw, info):
    """window_frame for CPython: the same integers, about twice as fast there."""
    import struct
    samples = struct.unpack_from("<160h", pcm)
    peak = max(max(samples), -min(samples))
    extra = 0
    while (peak >> extra) > _PEAK_MAX:
        extra += 1
    shift = 15 + extra
    energy = 0
    i = 0
    for v in samples:
        y = (v * win[i]) >> shift
        xw[i] = y
        energy += y * y
        i += 1
    info[0] = extra
    info[1] = energy
    return energy


def _goertzel_powers_cpython(xw, coefs, powers, count):
    """goertzel_powers for CPython: the same integers, about twice as fast there."""
    for k in range(count):
        ck = coefs[k]
        s1 = s2 = 0
        for v in xw:
            s1, s2 = v + ((ck * s1) >> 13) - s2, s1
        s1 >>= 4
        s2 >>= 4
        pw = s1 * s1 + s2 * s2 - ((ck * s1) >> 13) * s2
        powers[k] = pw if pw > 0 else 0


def _coef(freq):
    # Goertzel coefficient 2*cos(w) in Q13 (all DTMF filters are below fs/4, so > 0)
    return int(round(2 * math.cos(2 * math.pi * freq / _RATE) * 8192))


class InbandDetector:
    """Goertzel DTMF detector for 160-sample frames; process() returns new digits."""

    FRAME_BYTES = _FRAME_BYTES

    def __init__(self, min_level_dbm0=-32, normal_twist_db=8, reverse_twist_db=4,
                 force_python=False, allow_slow=False):
        self.implementation = "python"
        self.enabled = True
        self.reason = ""
        if MICROPYTHON:
            self._window_frame = window_frame  # no allocation per call
            self._goertzel = goertzel_powers
        else:
            self._window_frame = _window_frame_cpython
            self._goertzel = _goertzel_powers_cpython
        if not force_python:
            try:
                from doorsip.media import goertzel_viper
                self._window_frame = goertzel_viper.window_frame
                self._goertzel = goertzel_viper.goertzel_powers
                self.implementation = "viper"
            except (ImportError, SyntaxError, NotImplementedError, AttributeError):
                pass
        if MICROPYTHON and self.implementation == "python" and not allow_slow:
            self.enabled = False
            self.reason = "no viper emitter: in-band DTMF disabled (too slow in plain Python)"
        # Hann window in Q15 (n + 0.5 keeps both ends above zero).
        # Filled in place: a list of the 160 values first would be a 2 KB block
        # on MicroPython's 64-bit unix port, for nothing.
        win = self._win = array.array("H", bytes(2 * _N))
        for n in range(_N):
            win[n] = int(round(32767 * 0.5 * (1 - math.cos(2 * math.pi * (n + 0.5) / _N))))
        self._xw = array.array("h", bytes(2 * _N))
        self._info = array.array("i", [0, 0])
        freqs = _ROWS + _COLS
        self._coefs = array.array("i", [_coef(f) for f in freqs])
        self._low = array.array("i", [_coef(f * (1 - _SIDE)) for f in freqs])
        self._high = array.array("i", [_coef(f * (1 + _SIDE)) for f in freqs])
        self._powers = array.array("i", bytes(4 * 8))
        self._side_coefs = array.array("i", bytes(4 * 4))
        self._side_powers = array.array("i", bytes(4 * 4))
        # Power of a full-frame tone of amplitude A (scale 0) is (A / 2 * sum_w)**2 / 256;
        # the frame energy of two such tones is A**2 * sum_w2. Thresholds in those units.
        sum_w = 0.0
        sum_w2 = 0.0
        for w in self._win:
            sum_w += w / 32768
            sum_w2 += (w / 32768) ** 2
        ideal = sum_w * sum_w / (2 * sum_w2) / 256  # (P_row + P_col) / energy for a clean tone
        self._strong_q8 = int(ideal * _STRONG * 256)
        self._weak_q8 = int(ideal * _WEAK * 256)
        self._hold_q8 = int(ideal * _HOLD * 256)
        amp = _FULL_SCALE_0DBM0 * 10 ** (min_level_dbm0 / 20)
        self._level = int((amp / 2 * sum_w) ** 2 / 256)
        # The nominal filter under-reads a tone 1.5 % off by up to 1.4 dB (Hann
        # scalloping at 1633 Hz): allow that much on top of the accepted twist.
        self._normal_q4 = int(round(16 * 10 ** ((normal_twist_db + _TWIST_ALLOWANCE_DB) / 10)))
        self._reverse_q4 = int(round(16 * 10 ** ((reverse_twist_db + _TWIST_ALLOWANCE_DB) / 10)))
        self.reset()

    def reset(self):
        """Forget tone history (new call)."""
        self._prev = _NO_DIGIT
        self._prev_strong = False
        self._active = _NO_DIGIT
        self.frames = 0
        self.last_code = _NO_DIGIT  # classification of the last frame (for tests/tuning)

    def process(self, pcm):
        """Analyse one 160-sample frame; the digit detected with it, else None."""
        if not self.enabled:
            return None
        if len(pcm) < _FRAME_BYTES:
            raise ValueError("in-band DTMF needs 160-sample frames")
        self.frames += 1
        code = self._classify(pcm)
        strong = self._strong
        self.last_code = code
        found = None
        if self._active != _NO_DIGIT and code != self._active:
            self._active = _NO_DIGIT  # a frame without the digit: key released
        if self._hold_only:
            # Enough to keep a detected digit through a short dropout (a 10 ms gap
            # inside a frame leaves little tone under the Hann window), never
            # enough to start one.
            code = _NO_DIGIT
        if (self._active == _NO_DIGIT and code != _NO_DIGIT and code == self._prev
                and (strong or self._prev_strong)):
            self._active = code
            found = _KEYPAD[code]
        self._prev = code
        self._prev_strong = strong
        return found

    def _classify(self, pcm):
        # Keypad index or _NO_DIGIT; sets self._strong (a returned tuple would
        # be a heap allocation on MicroPython).
        self._strong = False
        self._hold_only = False
        energy = self._window_frame(pcm, self._win, self._xw, self._info)
        # Level, scaled back by the frame's block-floating-point shift.
        level = self._level >> (2 * self._info[0])
        # Any filter's power is at most N * energy / 256 (Cauchy-Schwarz): a frame
        # this quiet cannot hold a tone at the minimum level; skip the filters.
        if energy < level >> 1:
            return _NO_DIGIT
        powers = self._powers
        self._goertzel(self._xw, self._coefs, powers, 8)
        row = 0
        for k in range(1, 4):
            if powers[k] > powers[row]:
                row = k
        col = 4
        for k in range(5, 8):
            if powers[k] > powers[col]:
                col = k
        prow = powers[row]
        pcol = powers[col]
        if prow < level or pcol < level:
            return _NO_DIGIT
        # Twist (powers < 2**23, products < 2**30: small ints on 32-bit ports).
        if prow * 16 > pcol * self._normal_q4 or pcol * 16 > prow * self._reverse_q4:
            return _NO_DIGIT
        total = prow + pcol
        if total < (energy * self._hold_q8) >> 8:
            return _NO_DIGIT
        # Frequency deviation: the nominal filter must beat both side filters.
        side = self._side_coefs
        side[0] = self._low[row]
        side[1] = self._high[row]
        side[2] = self._low[col]
        side[3] = self._high[col]
        sp = self._side_powers
        self._goertzel(self._xw, side, sp, 4)
        if sp[0] >= prow or sp[1] >= prow or sp[2] >= pcol or sp[3] >= pcol:
            return _NO_DIGIT
        self._hold_only = total < (energy * self._weak_q8) >> 8
        if total >= (energy * self._strong_q8) >> 8:
            # A full frame has narrow lobes: the other tones of each group must be
            # 6 dB down. (A partly filled frame's lobes are wider; it is only ever
            # evidence next to a strong frame.)
            strong = True
            for k in range(8):
                if k != row and k != col:
                    if powers[k] * _RELATIVE_PEAK > (prow if k < 4 else pcol):
                        strong = False
            self._strong = strong
        return row * 4 + col - 4

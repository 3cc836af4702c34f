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
viper emitter; otherwise as plain-Python functions (goertzel_py.py: allocation-free
on MicroPython, a faster variant on CPython), all computing identical integers.
goertzel_py also builds the detector's tables at construction; with viper it is
forgotten after that, so only process() and reset() stay in the MicroPython heap.
window_frame and goertzel_powers (the plain kernels) are reachable here too.
Plain Python on MicroPython is too slow for an ESP32's 20 ms budget, so there the
detector is disabled (det.enabled False, det.reason says why) unless
allow_slow=True. process() allocates nothing; it reads the first 160 samples of a
frame of at least 320 bytes (bytes, bytearray or memoryview).
"""
from doorsip.compat import const

_FRAME_BYTES = const(320)
_RELATIVE_PEAK = const(4)  # other tones of a group 6 dB below the best one
# Purity: the power of a full-frame tone of amplitude A is (A / 2 * sum_w)**2 / 256
# and the frame energy of two such tones A**2 * sum_w2 (sums over the Q15 Hann
# window / 32768: 79.99756 and 59.99632), so a clean tone pair has
# (P_row + P_col) / energy = sum_w**2 / (2 * sum_w2) / 256 = 0.2083334 ("ideal").
# A frame passes as strong at 0.75, weak at 0.40, hold at 0.20 of that, in Q8:
# int(ideal * share * 256) (tests/unit/test_dtmf_inband.py recomputes them).
_STRONG_Q8 = const(40)
_WEAK_Q8 = const(21)
_HOLD_Q8 = const(10)
_NO_DIGIT = const(-1)


def __getattr__(name):
    # window_frame, goertzel_powers and the rest of goertzel_py, on first use.
    from doorsip.media import goertzel_py
    return getattr(goertzel_py, name)


class InbandDetector:
    """Goertzel DTMF detector for 160-sample frames; process() returns new digits."""

    FRAME_BYTES = _FRAME_BYTES
    reason = ""  # why enabled is False (set on the instance then)

    def __init__(self, *args, **kwargs):
        # (min_level_dbm0=-32, normal_twist_db=8, reverse_twist_db=4,
        #  force_python=False, allow_slow=False): see goertzel_py.setup, which
        # also resets the detector and, with viper, forgets goertzel_py again.
        from doorsip.media import goertzel_py
        goertzel_py.setup(self, *args, **kwargs)

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
        # Classify the frame: code is the keypad index (row * 4 + column) or
        # _NO_DIGIT (each test below breaks out of the one-pass loop). Locals,
        # not attributes or a returned tuple: nothing is allocated.
        code = _NO_DIGIT
        strong = False
        hold_only = False
        xw = self._xw
        powers = self._powers
        # window_frame's info (shift, energy) goes to powers[0:2], read before
        # the filters overwrite it: one array less.
        energy = self._window_frame(pcm, self._win, xw, powers)
        # Level, scaled back by the frame's block-floating-point shift.
        level = self._level >> (2 * powers[0])
        # Any filter's power is at most N * energy / 256 (Cauchy-Schwarz): a frame
        # this quiet cannot hold a tone at the minimum level; skip the filters.
        while energy >= level >> 1:
            self._goertzel(xw, self._coefs, powers, 8)
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
                break
            # Twist (powers < 2**23, products < 2**30: small ints on 32-bit ports).
            if prow * 16 > pcol * self._normal_q4 or pcol * 16 > prow * self._reverse_q4:
                break
            total = prow + pcol
            if total < (energy * _HOLD_Q8) >> 8:
                break
            # Frequency deviation: the nominal filter must beat both side filters.
            # Their powers replace their coefficients in place.
            sp = self._side
            coefs = self._coefs  # [0:8] nominal, [8:16] low, [16:24] high side
            sp[0] = coefs[8 + row]
            sp[1] = coefs[16 + row]
            sp[2] = coefs[8 + col]
            sp[3] = coefs[16 + col]
            self._goertzel(xw, sp, sp, 4)
            if sp[0] >= prow or sp[1] >= prow or sp[2] >= pcol or sp[3] >= pcol:
                break
            hold_only = total < (energy * _WEAK_Q8) >> 8
            if total >= (energy * _STRONG_Q8) >> 8:
                # A full frame has narrow lobes: the other tones of each group must be
                # 6 dB down. (A partly filled frame's lobes are wider; it is only ever
                # evidence next to a strong frame.)
                strong = True
                for k in range(8):
                    if k != row and k != col:
                        if powers[k] * _RELATIVE_PEAK > (prow if k < 4 else pcol):
                            strong = False
            code = row * 4 + col - 4
            break
        self.last_code = code
        found = None
        if self._active != _NO_DIGIT and code != self._active:
            self._active = _NO_DIGIT  # a frame without the digit: key released
        if hold_only:
            # Enough to keep a detected digit through a short dropout (a 10 ms gap
            # inside a frame leaves little tone under the Hann window), never
            # enough to start one.
            code = _NO_DIGIT
        if (self._active == _NO_DIGIT and code != _NO_DIGIT and code == self._prev
                and (strong or self._prev_strong)):
            self._active = code
            # Row-major keypad: one string, not a tuple of sixteen str objects;
            # its characters are qstrs (goertzel_py.setup interns them), so
            # indexing allocates nothing.
            found = "123A456B789C*0#D"[code]
        self._prev = code
        self._prev_strong = strong
        return found

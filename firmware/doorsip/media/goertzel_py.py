"""The in-band DTMF detector's boot-time setup and plain-Python kernels.

    setup(det, min_level_dbm0=-32, normal_twist_db=8, reverse_twist_db=4,
          force_python=False, allow_slow=False)
        fills an InbandDetector (dtmf_inband.py) with its tables, thresholds
        and kernels (what InbandDetector's own arguments mean is told there)
    window_frame, goertzel_powers: plain-Python twins of the goertzel_viper
        kernels (allocation-free on MicroPython); goertzel_cpy.py has faster
        CPython ones (left out of MicroPython builds)

InbandDetector() imports this module and, unless the detector uses the plain
kernels, forgets it again (doorsip.compat.forget): with viper none of this code
stays in the MicroPython heap. dtmf_inband.window_frame and the other names here
remain reachable through dtmf_inband's module __getattr__.
"""
import array
import math

from doorsip.compat import MICROPYTHON, const, forget

_N = const(160)          # samples per frame (20 ms at 8 kHz)
_PEAK_MAX = const(511)
# Private const()s, floats and tuples too, are inlined by mpy-cross: no names
# (qstrs, kept for good) and no module globals.
_RATE = const(8000)
_ROWS = const((697, 770, 852, 941))
_COLS = const((1209, 1336, 1477, 1633))
_SIDE = const(0.05)      # side filters at nominal * (1 +- 5 %): the boundary is at 2.5 %
_FULL_SCALE_0DBM0 = const(22670)  # peak of a 0 dBm0 sine in 16-bit PCM (G.711: +3.17 dBm0 = 32636)
_TWIST_ALLOWANCE_DB = const(1.5)  # measurement error allowed beyond the twist limits


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
        j = i
        if j >= _N // 2:
            j = _N - 1 - j
        y = (v * win[j]) >> shift
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




def setup(det, min_level_dbm0=-32, normal_twist_db=8, reverse_twist_db=4,
          force_python=False, allow_slow=False):
    """Fill det (an InbandDetector) with its kernels, tables and thresholds."""
    det.implementation = "python"
    det.enabled = True  # (det.reason: the class's "" unless disabled)
    if MICROPYTHON:
        det._window_frame = window_frame  # no allocation per call
        det._goertzel = goertzel_powers
    else:
        from doorsip.media import goertzel_cpy
        det._window_frame = goertzel_cpy.window_frame
        det._goertzel = goertzel_cpy.goertzel_powers
    if not force_python:
        try:
            from doorsip.media import goertzel_viper
            det._window_frame = goertzel_viper.window_frame
            det._goertzel = goertzel_viper.goertzel_powers
            det.implementation = "viper"
        except (ImportError, SyntaxError, NotImplementedError, AttributeError):
            pass
    if MICROPYTHON and det.implementation == "python" and not allow_slow:
        det.enabled = False
        det.reason = "no viper emitter: in-band DTMF disabled (too slow in plain Python)"
    # Hann window in Q15 (n + 0.5 keeps both ends above zero), symmetric: its
    # first half only, which the kernels mirror (n and 159 - n give the same
    # value, checked on both interpreters). Filled in place: a list of the
    # values first would be a large block on MicroPython, for nothing.
    win = det._win = array.array("H", bytes(_N))
    for n in range(_N // 2):
        win[n] = int(round(32767 * 0.5 * (1 - math.cos(2 * math.pi * (n + 0.5) / _N))))
    det._xw = array.array("h", bytes(2 * _N))
    # Goertzel coefficients 2*cos(w) in Q13 (all filters are below fs/4, so > 0):
    # the eight DTMF frequencies, then the low and the high side filters.
    coefs = det._coefs = array.array("i", bytes(4 * 24))
    k = 0
    for scale in (1, 1 - _SIDE, 1 + _SIDE):
        for f in _ROWS + _COLS:
            f = f * scale
            coefs[k] = int(round(2 * math.cos(2 * math.pi * f / _RATE) * 8192))
            k += 1
    det._powers = array.array("i", bytes(4 * 8))
    # The side filters' coefficients, overwritten by their powers (the kernels
    # read a filter's coefficient before they write its power).
    det._side = array.array("i", bytes(4 * 4))
    # Power of a full-frame tone of amplitude A (scale 0) is (A / 2 * sum_w)**2 / 256.
    # (The purity thresholds, in dtmf_inband, come from the same window.)
    sum_w = 0.0
    for n in range(_N):  # the whole window, in order
        sum_w += win[n if n < _N // 2 else _N - 1 - n] / 32768
    amp = _FULL_SCALE_0DBM0 * 10 ** (min_level_dbm0 / 20)
    det._level = int((amp / 2 * sum_w) ** 2 / 256)
    # The nominal filter under-reads a tone 1.5 % off by up to 1.4 dB (Hann
    # scalloping at 1633 Hz): allow that much on top of the accepted twist.
    det._normal_q4 = int(round(16 * 10 ** ((normal_twist_db + _TWIST_ALLOWANCE_DB) / 10)))
    det._reverse_q4 = int(round(16 * 10 ** ((reverse_twist_db + _TWIST_ALLOWANCE_DB) / 10)))
    # The keypad's sixteen one-character strings become qstrs here (iterating
    # interns each), so InbandDetector.process returns them without allocating.
    tuple("123A456B789C*0#D")
    det.reset()
    if det.implementation == "viper" or not det.enabled:
        # Boot-only code: with the viper kernels (or none: disabled) nothing here
        # is used again, so this module's heap comes back once InbandDetector()
        # returns.
        forget(__name__)

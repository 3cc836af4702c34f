# Viper kernels of the in-band DTMF detector (dtmf_inband.py imports this module
# inside try and falls back to its plain-Python kernels, which compute exactly the
# same integers). Sized for 32-bit native ints (ESP32): samples are scaled so the
# frame peak is at most 511 before the Hann window, which bounds the Goertzel state
# by 511 * sum(window) / sin(w) = 511 * 80 / 0.49 < 84,000 (lowest filter 662 Hz),
# so coef * state < 16384 * 84,000 < 2**31; the power uses state >> 4.
# Buffers: pcm S16LE bytes (160 samples), win array('H') of 80: the first half of
# the symmetric window (sample i past the middle takes win[159 - i]), xw array('h')
# of 160, info/coefs/powers array('i'); powers may be coefs itself (each filter's
# coefficient is read before its power is written). ptr16 reads are unsigned, so
# signed values are sign-extended.
# Left duplicated on purpose: a @micropython.viper kernel cannot share a body with
# plain Python (ptr8/ptr16/ptr32 views, native ints), so dtmf_inband.py keeps the
# plain twins of both functions; tests/unit/test_dtmf_inband.py checks they agree.
import micropython

from doorsip.compat import const

_N = const(160)
_PEAK_MAX = const(511)


@micropython.viper
def window_frame(pcm, win, xw, info) -> int:
    src = ptr8(pcm)
    w = ptr16(win)
    out = ptr16(xw)
    inf = ptr32(info)
    peak = 0
    i = 0
    while i < _N * 2:
        u = src[i] | (src[i + 1] << 8)
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
        v = src[2 * i] | (src[2 * i + 1] << 8)
        if v & 0x8000:
            v -= 0x10000
        j = i
        if j >= _N // 2:
            j = _N - 1 - j
        y = (v * w[j]) >> shift
        out[i] = y
        energy += y * y
        i += 1
    inf[0] = extra
    inf[1] = energy
    return energy


@micropython.viper
def goertzel_powers(xw, coefs, powers, count: int):
    x = ptr16(xw)
    c = ptr32(coefs)
    p = ptr32(powers)
    k = 0
    while k < count:
        ck = c[k]
        s1 = 0
        s2 = 0
        i = 0
        while i < _N:
            v = x[i]
            if v & 0x8000:
                v -= 0x10000
            s0 = v + ((ck * s1) >> 13) - s2
            s2 = s1
            s1 = s0
            i += 1
        s1 = s1 >> 4
        s2 = s2 >> 4
        pw = s1 * s1 + s2 * s2 - ((ck * s1) >> 13) * s2
        if pw < 0:
            pw = 0
        p[k] = pw
        k += 1

"""CPython variants of goertzel_py's plain-Python kernels (the same integers,
about twice as fast there). A *_cpy.py module: left out of MicroPython builds."""
import struct

_PEAK_MAX = 511  # goertzel_py._PEAK_MAX


# These repeat the arithmetic of goertzel_py's plain kernels on purpose: those must allocate nothing on MicroPython (no unpacked tuple, while
# loops), these unpack and iterate for twice the speed on CPython; tests/unit/
# test_dtmf_inband.py checks that all of them compute the same integers.
def window_frame(pcm, win, xw, info):
    """goertzel_py.window_frame for CPython."""
    samples = struct.unpack_from("<160h", pcm)
    peak = max(max(samples), -min(samples))
    extra = 0
    while (peak >> extra) > _PEAK_MAX:
        extra += 1
    shift = 15 + extra
    energy = 0
    i = 0
    for v in samples:
        y = (v * win[i if i < 80 else 159 - i]) >> shift
        xw[i] = y
        energy += y * y
        i += 1
    info[0] = extra
    info[1] = energy
    return energy


def goertzel_powers(xw, coefs, powers, count):
    """goertzel_py.goertzel_powers for CPython."""
    for k in range(count):
        ck = coefs[k]
        s1 = s2 = 0
        for v in xw:
            s1, s2 = v + ((ck * s1) >> 13) - s2, s1
        s1 >>= 4
        s2 >>= 4
        pw = s1 * s1 + s2 * s2 - ((ck * s1) >> 13) * s2
        powers[k] = pw if pw > 0 else 0

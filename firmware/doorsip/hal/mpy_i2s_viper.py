# Viper kernels for hal/mpy_i2s.py (imported there inside try; CPython and ports
# without the viper emitter use the plain-Python twins in mpy_i2s.py). Samples are
# handled offset by 32768 (0..65535), so no step depends on how the emitter treats
# negative numbers, and floor division by shifts matches the plain code exactly.
# Output is identical to mpy_i2s.mic_convert_py / spk_convert_py (tests/mpy).
# Callers size the buffers: these write through raw pointers.
# Left duplicated on purpose: a @micropython.viper kernel cannot share a body with
# plain Python (ptr8 views, native ints), so mpy_i2s.py keeps the plain twins.
import micropython


@micropython.viper
def mic_convert(raw, out, mode: int, prev: int) -> int:
    # mode: gain (bits 0-3) | 32-bit words (bit 4) | 2:1 decimation (bit 5)
    src = ptr8(raw)
    dst = ptr8(out)
    gain = mode & 15
    wide = mode & 16
    ratio = 2 if mode & 32 else 1
    shift = 8 - gain
    # 24-bit words: sample + 32768 = (word24 ^ 0x800000) >> shift - zero24 + 32768
    zero24 = 1 << (23 - shift)
    i = 0
    while i < 160:
        k = 0
        a = 0
        b = 0
        while k < ratio:
            j = i * ratio + k
            if wide:
                p = j << 2
                w = (src[p + 1] | (src[p + 2] << 8) | (src[p + 3] << 16)) ^ 0x800000
                w = w >> shift
                if w + 32768 < zero24:
                    v = 0
                elif w >= zero24 + 32768:
                    v = 65535
                else:
                    v = w + 32768 - zero24
            else:
                p = j << 1
                w = ((src[p] | (src[p + 1] << 8)) ^ 0x8000) << gain
                z = 32768 << gain
                if w + 32768 < z:
                    v = 0
                elif w >= z + 32768:
                    v = 65535
                else:
                    v = w + 32768 - z
            if k == 0:
                a = v
            else:
                b = v
            k += 1
        if ratio == 2:
            # [1 2 1] / 4 over the 16 kHz samples, prev carried across frames
            y = (prev + 2 * a + b) >> 2
            prev = b
        else:
            y = a
        dst[2 * i] = y & 0xFF
        dst[2 * i + 1] = (y >> 8) ^ 0x80
        i += 1
    return prev


@micropython.viper
def spk_convert(pcm, raw, mode: int, prev: int) -> int:
    # mode: 32-bit slots (bit 0) | 1:2 interpolation (bit 1)
    src = ptr8(pcm)
    dst = ptr8(raw)
    wide = mode & 1
    double = mode & 2
    j = 0
    i = 0
    while i < 160:
        v = (src[2 * i] | (src[2 * i + 1] << 8)) ^ 0x8000
        n = 1
        first = v
        if double:
            first = (prev + v) >> 1
            prev = v
            n = 2
        k = 0
        while k < n:
            s = first if k == 0 else v
            if wide:
                p = j << 2
                dst[p] = 0
                dst[p + 1] = 0
                dst[p + 2] = s & 0xFF
                dst[p + 3] = (s >> 8) ^ 0x80
            else:
                p = j << 1
                dst[p] = s & 0xFF
                dst[p + 1] = (s >> 8) ^ 0x80
            j += 1
            k += 1
        i += 1
    return prev

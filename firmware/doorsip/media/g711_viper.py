# Viper kernels for G.711 (imported by g711.py inside try; CPython and ports
# without the viper emitter fall back to the plain-Python code). The encoders
# compute the segment (G.711 tables 1 and 2) instead of reading the 24 KB
# tables, so this path costs no table heap. Callers check buffer lengths first:
# these write through raw pointers (the encoders and scale_into share the
# names of g711.py's checked functions: one name each). Output is identical to
# g711.py's *_py functions (tests/mpy/test_media_heap_lock.py and tests/unit/test_g711.py).
# Left duplicated on purpose: a @micropython.viper kernel cannot share a body with
# plain Python (ptr8 views, native ints), and the per-law loops stay separate
# kernels (one law per call; a shared loop would test the law once per sample on
# the 20 ms path).
import micropython


@micropython.viper
def ulaw_encode_into(pcm, out, n: int):
    src = ptr8(pcm)
    dst = ptr8(out)
    i = 0
    j = 0
    while i < n:
        u = src[j] | (src[j + 1] << 8)
        if u & 0x8000:
            # -(s >> 2) for a negative s, as the reference coder: ceil(|s| / 4)
            mag = (0x10000 - u + 3) >> 2
            mask = 0x7F
        else:
            mag = u >> 2
            mask = 0xFF
        if mag > 8159:  # clip the 14-bit magnitude (G.711 table 2 top level)
            mag = 8159
        mag += 33  # the µ-law bias, so segment ends are powers of two
        seg = 0
        while seg < 8 and mag >= (0x40 << seg):
            seg += 1
        if seg >= 8:  # the clipped top (8159 + 33) is past the last segment
            code = 0x7F
        else:
            code = (seg << 4) | ((mag >> (seg + 1)) & 0xF)
        dst[i] = code ^ mask
        i += 1
        j += 2


@micropython.viper
def alaw_encode_into(pcm, out, n: int):
    src = ptr8(pcm)
    dst = ptr8(out)
    i = 0
    j = 0
    while i < n:
        u = src[j] | (src[j + 1] << 8)
        if u & 0x8000:
            mag = (0xFFFF - u) >> 3  # ~(s >> 3): A-law's one's complement
            mask = 0x55
        else:
            mag = u >> 3
            mask = 0xD5
        seg = 0
        while seg < 8 and mag >= (0x20 << seg):
            seg += 1
        if seg >= 8:
            code = 0x7F
        elif seg < 2:
            code = (seg << 4) | ((mag >> 1) & 0xF)
        else:
            code = (seg << 4) | ((mag >> seg) & 0xF)
        dst[i] = code ^ mask
        i += 1
        j += 2


@micropython.viper
def copy(dst, dst_off: int, src, src_off: int, n: int):
    # Slicing allocates on MicroPython (a slice object, a view or a copy), so
    # the jitter buffer copies payloads with this loop instead.
    d = ptr8(dst)
    s = ptr8(src)
    i = 0
    while i < n:
        d[dst_off + i] = s[src_off + i]
        i += 1


@micropython.viper
def scale_into(pcm, n: int, gain16: int):
    # S16LE samples times gain16 / 16, rounded toward zero (loss concealment).
    p = ptr8(pcm)
    j = 0
    end = n + n
    while j < end:
        v = p[j] | (p[j + 1] << 8)
        if v & 0x8000:
            v = 0x10000 - v
            v = 0x10000 - ((v * gain16) >> 4)
        else:
            v = (v * gain16) >> 4
        p[j] = v & 0xFF
        p[j + 1] = (v >> 8) & 0xFF
        j += 2


@micropython.viper
def ulaw_decode(codes, off: int, out, n: int):
    # G.711 table 2 expansion computed (no table): the same levels as g711.py's
    # decode table, checked over all 256 codes by the tests.
    src = ptr8(codes)
    dst = ptr8(out)
    i = 0
    j = 0
    while i < n:
        u = src[off + i] ^ 0xFF
        t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
        if u & 0x80:
            v = 0x84 - t
        else:
            v = t - 0x84
        dst[j] = v & 0xFF
        dst[j + 1] = (v >> 8) & 0xFF
        i += 1
        j += 2


@micropython.viper
def alaw_decode(codes, off: int, out, n: int):
    # G.711 table 1 expansion computed (no table).
    src = ptr8(codes)
    dst = ptr8(out)
    i = 0
    j = 0
    while i < n:
        a = src[off + i] ^ 0x55
        seg = (a & 0x70) >> 4
        t = (a & 0x0F) << 4
        if seg == 0:
            t += 8
        else:
            t = (t + 0x108) << (seg - 1)
        if not (a & 0x80):
            t = 0 - t
        dst[j] = t & 0xFF
        dst[j + 1] = (t >> 8) & 0xFF
        i += 1
        j += 2

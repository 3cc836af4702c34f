"""G.711 µ-law (PCMU) and A-law (PCMA) codecs writing into caller buffers.

    ulaw_encode_into(pcm, out, n)   n samples of S16LE pcm -> n codes in out
    ulaw_decode_into(codes, out, n) n codes -> n S16LE samples (2n bytes) in out
    alaw_encode_into / alaw_decode_into: the same for A-law
    IMPLEMENTATION: "viper" or "python" (which kernels the names above are)
    SILENCE_ULAW, SILENCE_ALAW: the code of a zero sample
    unchecked(fn): the encode kernel behind fn, for callers checking lengths
    decoder_at(fn): fn's decode kernel with an offset: f(codes, off, out, n)
    copy_into(dst, dst_off, src, src_off, n)  byte copy without a slice (slices
        allocate on MicroPython); scale_into(pcm, n, gain16): S16LE samples times
        gain16/16 in place (loss concealment). Both with viper kernels too.

pcm and codes may be bytes, bytearray or memoryview; out a bytearray or
writable memoryview. Nothing is allocated per call. The viper kernels
(g711_viper.py) are used when the interpreter compiles them; the *_py
functions are the plain-Python versions with identical output.
"""
from doorsip.compat import const

SILENCE_ULAW = const(0xFF)
SILENCE_ALAW = const(0xD5)

# Decode tables (G.711 tables 1 and 2, the decoder output levels): the low
# and the high byte of the int16 level of each of the 256 codes.
_ULAW_LO = (
    b"\x84\x84\x84\x84\x84\x84\x84\x84\x84\x84\x84\x84\x84\x84\x84\x84\x84\x84\x84\x84\x84\x84\x84\x84\x84\x84\x84\x84\x84\x84\x84\x84"
    b"\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\x04\xc4\x44\xc4\x44\xc4\x44\xc4\x44\xc4\x44\xc4\x44\xc4\x44\xc4\x44"
    b"\xa4\xe4\x24\x64\xa4\xe4\x24\x64\xa4\xe4\x24\x64\xa4\xe4\x24\x64\x94\xb4\xd4\xf4\x14\x34\x54\x74\x94\xb4\xd4\xf4\x14\x34\x54\x74"
    b"\x8c\x9c\xac\xbc\xcc\xdc\xec\xfc\x0c\x1c\x2c\x3c\x4c\x5c\x6c\x7c\x88\x90\x98\xa0\xa8\xb0\xb8\xc0\xc8\xd0\xd8\xe0\xe8\xf0\xf8\x00"
    b"\x7c\x7c\x7c\x7c\x7c\x7c\x7c\x7c\x7c\x7c\x7c\x7c\x7c\x7c\x7c\x7c\x7c\x7c\x7c\x7c\x7c\x7c\x7c\x7c\x7c\x7c\x7c\x7c\x7c\x7c\x7c\x7c"
    b"\xfc\xfc\xfc\xfc\xfc\xfc\xfc\xfc\xfc\xfc\xfc\xfc\xfc\xfc\xfc\xfc\x3c\xbc\x3c\xbc\x3c\xbc\x3c\xbc\x3c\xbc\x3c\xbc\x3c\xbc\x3c\xbc"
    b"\x5c\x1c\xdc\x9c\x5c\x1c\xdc\x9c\x5c\x1c\xdc\x9c\x5c\x1c\xdc\x9c\x6c\x4c\x2c\x0c\xec\xcc\xac\x8c\x6c\x4c\x2c\x0c\xec\xcc\xac\x8c"
    b"\x74\x64\x54\x44\x34\x24\x14\x04\xf4\xe4\xd4\xc4\xb4\xa4\x94\x84\x78\x70\x68\x60\x58\x50\x48\x40\x38\x30\x28\x20\x18\x10\x08\x00"
)
_ULAW_HI = (
    b"\x82\x86\x8a\x8e\x92\x96\x9a\x9e\xa2\xa6\xaa\xae\xb2\xb6\xba\xbe\xc1\xc3\xc5\xc7\xc9\xcb\xcd\xcf\xd1\xd3\xd5\xd7\xd9\xdb\xdd\xdf"
    b"\xe1\xe2\xe3\xe4\xe5\xe6\xe7\xe8\xe9\xea\xeb\xec\xed\xee\xef\xf0\xf0\xf1\xf1\xf2\xf2\xf3\xf3\xf4\xf4\xf5\xf5\xf6\xf6\xf7\xf7\xf8"
    b"\xf8\xf8\xf9\xf9\xf9\xf9\xfa\xfa\xfa\xfa\xfb\xfb\xfb\xfb\xfc\xfc\xfc\xfc\xfc\xfc\xfd\xfd\xfd\xfd\xfd\xfd\xfd\xfd\xfe\xfe\xfe\xfe"
    b"\xfe\xfe\xfe\xfe\xfe\xfe\xfe\xfe\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x00"
    b"\x7d\x79\x75\x71\x6d\x69\x65\x61\x5d\x59\x55\x51\x4d\x49\x45\x41\x3e\x3c\x3a\x38\x36\x34\x32\x30\x2e\x2c\x2a\x28\x26\x24\x22\x20"
    b"\x1e\x1d\x1c\x1b\x1a\x19\x18\x17\x16\x15\x14\x13\x12\x11\x10\x0f\x0f\x0e\x0e\x0d\x0d\x0c\x0c\x0b\x0b\x0a\x0a\x09\x09\x08\x08\x07"
    b"\x07\x07\x06\x06\x06\x06\x05\x05\x05\x05\x04\x04\x04\x04\x03\x03\x03\x03\x03\x03\x02\x02\x02\x02\x02\x02\x02\x02\x01\x01\x01\x01"
    b"\x01\x01\x01\x01\x01\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
)
_ALAW_LO = (
    b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x40\xc0\x40\xc0\x40\xc0\x40\xc0\x40\xc0\x40\xc0\x40\xc0\x40\xc0"
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    b"\xa8\xb8\x88\x98\xe8\xf8\xc8\xd8\x28\x38\x08\x18\x68\x78\x48\x58\xa8\xb8\x88\x98\xe8\xf8\xc8\xd8\x28\x38\x08\x18\x68\x78\x48\x58"
    b"\xa0\xe0\x20\x60\xa0\xe0\x20\x60\xa0\xe0\x20\x60\xa0\xe0\x20\x60\x50\x70\x10\x30\xd0\xf0\x90\xb0\x50\x70\x10\x30\xd0\xf0\x90\xb0"
    b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\xc0\x40\xc0\x40\xc0\x40\xc0\x40\xc0\x40\xc0\x40\xc0\x40\xc0\x40"
    b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    b"\x58\x48\x78\x68\x18\x08\x38\x28\xd8\xc8\xf8\xe8\x98\x88\xb8\xa8\x58\x48\x78\x68\x18\x08\x38\x28\xd8\xc8\xf8\xe8\x98\x88\xb8\xa8"
    b"\x60\x20\xe0\xa0\x60\x20\xe0\xa0\x60\x20\xe0\xa0\x60\x20\xe0\xa0\xb0\x90\xf0\xd0\x30\x10\x70\x50\xb0\x90\xf0\xd0\x30\x10\x70\x50"
)
_ALAW_HI = (
    b"\xea\xeb\xe8\xe9\xee\xef\xec\xed\xe2\xe3\xe0\xe1\xe6\xe7\xe4\xe5\xf5\xf5\xf4\xf4\xf7\xf7\xf6\xf6\xf1\xf1\xf0\xf0\xf3\xf3\xf2\xf2"
    b"\xaa\xae\xa2\xa6\xba\xbe\xb2\xb6\x8a\x8e\x82\x86\x9a\x9e\x92\x96\xd5\xd7\xd1\xd3\xdd\xdf\xd9\xdb\xc5\xc7\xc1\xc3\xcd\xcf\xc9\xcb"
    b"\xfe\xfe\xfe\xfe\xfe\xfe\xfe\xfe\xfe\xfe\xfe\xfe\xfe\xfe\xfe\xfe\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"
    b"\xfa\xfa\xfa\xfa\xfb\xfb\xfb\xfb\xf8\xf8\xf8\xf8\xf9\xf9\xf9\xf9\xfd\xfd\xfd\xfd\xfd\xfd\xfd\xfd\xfc\xfc\xfc\xfc\xfc\xfc\xfc\xfc"
    b"\x15\x14\x17\x16\x11\x10\x13\x12\x1d\x1c\x1f\x1e\x19\x18\x1b\x1a\x0a\x0a\x0b\x0b\x08\x08\x09\x09\x0e\x0e\x0f\x0f\x0c\x0c\x0d\x0d"
    b"\x56\x52\x5e\x5a\x46\x42\x4e\x4a\x76\x72\x7e\x7a\x66\x62\x6e\x6a\x2b\x29\x2f\x2d\x23\x21\x27\x25\x3b\x39\x3f\x3d\x33\x31\x37\x35"
    b"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    b"\x05\x05\x05\x05\x04\x04\x04\x04\x07\x07\x07\x07\x06\x06\x06\x06\x02\x02\x02\x02\x02\x02\x02\x02\x03\x03\x03\x03\x03\x03\x03\x03"
)

_encode_tables = None


def _tables():
    # The 24 KB encoder tables load on first use only, so a station on the
    # viper path never pays for them.
    global _encode_tables
    if _encode_tables is None:
        from doorsip.media import g711_tables
        _encode_tables = g711_tables
    return _encode_tables


def _check(src, src_len, dst, dst_len):
    # The viper kernels write through raw pointers: a short buffer must be an
    # error here, never a write past its end.
    if src_len < 0 or len(src) < src_len or len(dst) < dst_len:
        raise ValueError("g711: buffer too short for n samples")


def ulaw_encode_into_py(pcm, out, n):
    _check(pcm, n + n, out, n)
    table = _tables().ULAW_ENCODE
    j = 0
    for i in range(n):
        # (high byte << 6) | (low byte >> 2) == (sample >> 2) & 0x3FFF
        out[i] = table[(pcm[j + 1] << 6) | (pcm[j] >> 2)]
        j += 2


def alaw_encode_into_py(pcm, out, n):
    _check(pcm, n + n, out, n)
    table = _tables().ALAW_ENCODE
    j = 0
    for i in range(n):
        out[i] = table[(pcm[j + 1] << 5) | (pcm[j] >> 3)]
        j += 2


def _decode_at_py(lo, hi, codes, off, out, n):
    j = 0
    for i in range(off, off + n):
        c = codes[i]
        out[j] = lo[c]
        out[j + 1] = hi[c]
        j += 2


def ulaw_decode_at_py(codes, off, out, n):
    _decode_at_py(_ULAW_LO, _ULAW_HI, codes, off, out, n)


def alaw_decode_at_py(codes, off, out, n):
    _decode_at_py(_ALAW_LO, _ALAW_HI, codes, off, out, n)


def ulaw_decode_into_py(codes, out, n):
    _check(codes, n, out, n + n)
    _decode_at_py(_ULAW_LO, _ULAW_HI, codes, 0, out, n)


def alaw_decode_into_py(codes, out, n):
    _check(codes, n, out, n + n)
    _decode_at_py(_ALAW_LO, _ALAW_HI, codes, 0, out, n)


def copy_into_py(dst, dst_off, src, src_off, n):
    for i in range(n):
        dst[dst_off + i] = src[src_off + i]


def scale_into_py(pcm, n, gain16):
    j = 0
    for _ in range(n):
        v = pcm[j] | (pcm[j + 1] << 8)
        if v & 0x8000:
            v = 0x10000 - ((0x10000 - v) * gain16 >> 4)
        else:
            v = v * gain16 >> 4
        pcm[j] = v & 0xFF
        pcm[j + 1] = (v >> 8) & 0xFF
        j += 2


def _check_copy(dst, dst_off, src, src_off, n):
    if n < 0 or dst_off < 0 or src_off < 0 or dst_off + n > len(dst) or src_off + n > len(src):
        raise ValueError("copy: range outside the buffers")


def _check_scale(pcm, n, gain16):
    if n < 0 or n + n > len(pcm) or not 0 <= gain16 <= 16:
        raise ValueError("scale: bad length or gain")


try:
    from doorsip.media import g711_viper as _viper
except Exception:  # CPython, or a port built without the viper emitter
    _viper = None

if _viper is not None:
    def ulaw_encode_into(pcm, out, n):
        _check(pcm, n + n, out, n)
        _viper.ulaw_encode(pcm, out, n)

    def alaw_encode_into(pcm, out, n):
        _check(pcm, n + n, out, n)
        _viper.alaw_encode(pcm, out, n)

    def ulaw_decode_into(codes, out, n):
        _check(codes, n, out, n + n)
        _viper.ulaw_decode(codes, 0, out, n)

    def alaw_decode_into(codes, out, n):
        _check(codes, n, out, n + n)
        _viper.alaw_decode(codes, 0, out, n)

    def copy_into(dst, dst_off, src, src_off, n):
        _check_copy(dst, dst_off, src, src_off, n)
        _viper.copy(dst, dst_off, src, src_off, n)

    def scale_into(pcm, n, gain16):
        _check_scale(pcm, n, gain16)
        _viper.scale(pcm, n, gain16)

    # Unchecked: for callers that have checked the ranges themselves (jitter.py).
    copy_raw = _viper.copy
    _UNCHECKED = ((ulaw_encode_into, _viper.ulaw_encode), (alaw_encode_into, _viper.alaw_encode))
    _DECODE_AT = ((ulaw_decode_into, _viper.ulaw_decode), (alaw_decode_into, _viper.alaw_decode),
                  (ulaw_decode_into_py, ulaw_decode_at_py), (alaw_decode_into_py, alaw_decode_at_py))
    IMPLEMENTATION = "viper"
else:
    copy_raw = copy_into_py
    _UNCHECKED = ()
    _DECODE_AT = ((ulaw_decode_into_py, ulaw_decode_at_py), (alaw_decode_into_py, alaw_decode_at_py))

    def copy_into(dst, dst_off, src, src_off, n):
        _check_copy(dst, dst_off, src, src_off, n)
        copy_into_py(dst, dst_off, src, src_off, n)

    def scale_into(pcm, n, gain16):
        _check_scale(pcm, n, gain16)
        scale_into_py(pcm, n, gain16)

    ulaw_encode_into = ulaw_encode_into_py
    alaw_encode_into = alaw_encode_into_py
    ulaw_decode_into = ulaw_decode_into_py
    alaw_decode_into = alaw_decode_into_py
    IMPLEMENTATION = "python"


def codec_functions(name):
    """(encode_into, decode_into, silence_code) for "PCMU" or "PCMA"."""
    if name == "PCMU":
        return ulaw_encode_into, ulaw_decode_into, SILENCE_ULAW
    if name == "PCMA":
        return alaw_encode_into, alaw_decode_into, SILENCE_ALAW
    raise ValueError("g711: unknown codec %r" % (name,))


def unchecked(fn):
    """The kernel behind one of this module's encode/decode functions, without
    the buffer checks (a call less per frame), or fn itself. For callers that
    check the lengths once (rtp.RtpSender, jitter.JitterBuffer)."""
    for public, kernel in _UNCHECKED:
        if fn is public:
            return kernel
    return fn


def decoder_at(fn):
    """For one of this module's decode functions, its unchecked kernel taking
    an offset: f(codes, off, out, n) decodes codes[off:off + n] without a slice
    (the jitter buffer decodes straight out of received packets). None for
    other functions."""
    for public, kernel in _DECODE_AT:
        if fn is public:
            return kernel
    return None

"""G.711 µ-law (PCMU) and A-law (PCMA) codecs writing into caller buffers.

    ulaw_encode_into(pcm, out, n)   n samples of S16LE pcm -> n codes in out
    ulaw_decode_into(codes, out, n) n codes -> n S16LE samples (2n bytes) in out
    alaw_encode_into / alaw_decode_into: the same for A-law
    IMPLEMENTATION: "viper" or "python" (which kernels the names above are)
    SILENCE_ULAW, SILENCE_ALAW: the code of a zero sample
    unchecked(fn): the kernel behind fn, for callers checking lengths themselves
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

# Decode tables: 256 little-endian int16 values each, indexed by code * 2
# (G.711 tables 1 and 2, the decoder output levels).
_ULAW_DECODE = (
    b"\x84\x82\x84\x86\x84\x8a\x84\x8e\x84\x92\x84\x96\x84\x9a\x84\x9e\x84\xa2\x84\xa6\x84\xaa\x84\xae\x84\xb2\x84\xb6\x84\xba\x84\xbe"
    b"\x84\xc1\x84\xc3\x84\xc5\x84\xc7\x84\xc9\x84\xcb\x84\xcd\x84\xcf\x84\xd1\x84\xd3\x84\xd5\x84\xd7\x84\xd9\x84\xdb\x84\xdd\x84\xdf"
    b"\x04\xe1\x04\xe2\x04\xe3\x04\xe4\x04\xe5\x04\xe6\x04\xe7\x04\xe8\x04\xe9\x04\xea\x04\xeb\x04\xec\x04\xed\x04\xee\x04\xef\x04\xf0"
    b"\xc4\xf0\x44\xf1\xc4\xf1\x44\xf2\xc4\xf2\x44\xf3\xc4\xf3\x44\xf4\xc4\xf4\x44\xf5\xc4\xf5\x44\xf6\xc4\xf6\x44\xf7\xc4\xf7\x44\xf8"
    b"\xa4\xf8\xe4\xf8\x24\xf9\x64\xf9\xa4\xf9\xe4\xf9\x24\xfa\x64\xfa\xa4\xfa\xe4\xfa\x24\xfb\x64\xfb\xa4\xfb\xe4\xfb\x24\xfc\x64\xfc"
    b"\x94\xfc\xb4\xfc\xd4\xfc\xf4\xfc\x14\xfd\x34\xfd\x54\xfd\x74\xfd\x94\xfd\xb4\xfd\xd4\xfd\xf4\xfd\x14\xfe\x34\xfe\x54\xfe\x74\xfe"
    b"\x8c\xfe\x9c\xfe\xac\xfe\xbc\xfe\xcc\xfe\xdc\xfe\xec\xfe\xfc\xfe\x0c\xff\x1c\xff\x2c\xff\x3c\xff\x4c\xff\x5c\xff\x6c\xff\x7c\xff"
    b"\x88\xff\x90\xff\x98\xff\xa0\xff\xa8\xff\xb0\xff\xb8\xff\xc0\xff\xc8\xff\xd0\xff\xd8\xff\xe0\xff\xe8\xff\xf0\xff\xf8\xff\x00\x00"
    b"\x7c\x7d\x7c\x79\x7c\x75\x7c\x71\x7c\x6d\x7c\x69\x7c\x65\x7c\x61\x7c\x5d\x7c\x59\x7c\x55\x7c\x51\x7c\x4d\x7c\x49\x7c\x45\x7c\x41"
    b"\x7c\x3e\x7c\x3c\x7c\x3a\x7c\x38\x7c\x36\x7c\x34\x7c\x32\x7c\x30\x7c\x2e\x7c\x2c\x7c\x2a\x7c\x28\x7c\x26\x7c\x24\x7c\x22\x7c\x20"
    b"\xfc\x1e\xfc\x1d\xfc\x1c\xfc\x1b\xfc\x1a\xfc\x19\xfc\x18\xfc\x17\xfc\x16\xfc\x15\xfc\x14\xfc\x13\xfc\x12\xfc\x11\xfc\x10\xfc\x0f"
    b"\x3c\x0f\xbc\x0e\x3c\x0e\xbc\x0d\x3c\x0d\xbc\x0c\x3c\x0c\xbc\x0b\x3c\x0b\xbc\x0a\x3c\x0a\xbc\x09\x3c\x09\xbc\x08\x3c\x08\xbc\x07"
    b"\x5c\x07\x1c\x07\xdc\x06\x9c\x06\x5c\x06\x1c\x06\xdc\x05\x9c\x05\x5c\x05\x1c\x05\xdc\x04\x9c\x04\x5c\x04\x1c\x04\xdc\x03\x9c\x03"
    b"\x6c\x03\x4c\x03\x2c\x03\x0c\x03\xec\x02\xcc\x02\xac\x02\x8c\x02\x6c\x02\x4c\x02\x2c\x02\x0c\x02\xec\x01\xcc\x01\xac\x01\x8c\x01"
    b"\x74\x01\x64\x01\x54\x01\x44\x01\x34\x01\x24\x01\x14\x01\x04\x01\xf4\x00\xe4\x00\xd4\x00\xc4\x00\xb4\x00\xa4\x00\x94\x00\x84\x00"
    b"\x78\x00\x70\x00\x68\x00\x60\x00\x58\x00\x50\x00\x48\x00\x40\x00\x38\x00\x30\x00\x28\x00\x20\x00\x18\x00\x10\x00\x08\x00\x00\x00"
)
_ALAW_DECODE = (
    b"\x80\xea\x80\xeb\x80\xe8\x80\xe9\x80\xee\x80\xef\x80\xec\x80\xed\x80\xe2\x80\xe3\x80\xe0\x80\xe1\x80\xe6\x80\xe7\x80\xe4\x80\xe5"
    b"\x40\xf5\xc0\xf5\x40\xf4\xc0\xf4\x40\xf7\xc0\xf7\x40\xf6\xc0\xf6\x40\xf1\xc0\xf1\x40\xf0\xc0\xf0\x40\xf3\xc0\xf3\x40\xf2\xc0\xf2"
    b"\x00\xaa\x00\xae\x00\xa2\x00\xa6\x00\xba\x00\xbe\x00\xb2\x00\xb6\x00\x8a\x00\x8e\x00\x82\x00\x86\x00\x9a\x00\x9e\x00\x92\x00\x96"
    b"\x00\xd5\x00\xd7\x00\xd1\x00\xd3\x00\xdd\x00\xdf\x00\xd9\x00\xdb\x00\xc5\x00\xc7\x00\xc1\x00\xc3\x00\xcd\x00\xcf\x00\xc9\x00\xcb"
    b"\xa8\xfe\xb8\xfe\x88\xfe\x98\xfe\xe8\xfe\xf8\xfe\xc8\xfe\xd8\xfe\x28\xfe\x38\xfe\x08\xfe\x18\xfe\x68\xfe\x78\xfe\x48\xfe\x58\xfe"
    b"\xa8\xff\xb8\xff\x88\xff\x98\xff\xe8\xff\xf8\xff\xc8\xff\xd8\xff\x28\xff\x38\xff\x08\xff\x18\xff\x68\xff\x78\xff\x48\xff\x58\xff"
    b"\xa0\xfa\xe0\xfa\x20\xfa\x60\xfa\xa0\xfb\xe0\xfb\x20\xfb\x60\xfb\xa0\xf8\xe0\xf8\x20\xf8\x60\xf8\xa0\xf9\xe0\xf9\x20\xf9\x60\xf9"
    b"\x50\xfd\x70\xfd\x10\xfd\x30\xfd\xd0\xfd\xf0\xfd\x90\xfd\xb0\xfd\x50\xfc\x70\xfc\x10\xfc\x30\xfc\xd0\xfc\xf0\xfc\x90\xfc\xb0\xfc"
    b"\x80\x15\x80\x14\x80\x17\x80\x16\x80\x11\x80\x10\x80\x13\x80\x12\x80\x1d\x80\x1c\x80\x1f\x80\x1e\x80\x19\x80\x18\x80\x1b\x80\x1a"
    b"\xc0\x0a\x40\x0a\xc0\x0b\x40\x0b\xc0\x08\x40\x08\xc0\x09\x40\x09\xc0\x0e\x40\x0e\xc0\x0f\x40\x0f\xc0\x0c\x40\x0c\xc0\x0d\x40\x0d"
    b"\x00\x56\x00\x52\x00\x5e\x00\x5a\x00\x46\x00\x42\x00\x4e\x00\x4a\x00\x76\x00\x72\x00\x7e\x00\x7a\x00\x66\x00\x62\x00\x6e\x00\x6a"
    b"\x00\x2b\x00\x29\x00\x2f\x00\x2d\x00\x23\x00\x21\x00\x27\x00\x25\x00\x3b\x00\x39\x00\x3f\x00\x3d\x00\x33\x00\x31\x00\x37\x00\x35"
    b"\x58\x01\x48\x01\x78\x01\x68\x01\x18\x01\x08\x01\x38\x01\x28\x01\xd8\x01\xc8\x01\xf8\x01\xe8\x01\x98\x01\x88\x01\xb8\x01\xa8\x01"
    b"\x58\x00\x48\x00\x78\x00\x68\x00\x18\x00\x08\x00\x38\x00\x28\x00\xd8\x00\xc8\x00\xf8\x00\xe8\x00\x98\x00\x88\x00\xb8\x00\xa8\x00"
    b"\x60\x05\x20\x05\xe0\x05\xa0\x05\x60\x04\x20\x04\xe0\x04\xa0\x04\x60\x07\x20\x07\xe0\x07\xa0\x07\x60\x06\x20\x06\xe0\x06\xa0\x06"
    b"\xb0\x02\x90\x02\xf0\x02\xd0\x02\x30\x02\x10\x02\x70\x02\x50\x02\xb0\x03\x90\x03\xf0\x03\xd0\x03\x30\x03\x10\x03\x70\x03\x50\x03"
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


def _decode_py(table, codes, out, n):
    _check(codes, n, out, n + n)
    j = 0
    for i in range(n):
        c = codes[i] << 1
        out[j] = table[c]
        out[j + 1] = table[c + 1]
        j += 2


def ulaw_decode_into_py(codes, out, n):
    _decode_py(_ULAW_DECODE, codes, out, n)


def alaw_decode_into_py(codes, out, n):
    _decode_py(_ALAW_DECODE, codes, out, n)


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
        _viper.ulaw_decode(codes, out, n)

    def alaw_decode_into(codes, out, n):
        _check(codes, n, out, n + n)
        _viper.alaw_decode(codes, out, n)

    def copy_into(dst, dst_off, src, src_off, n):
        _check_copy(dst, dst_off, src, src_off, n)
        _viper.copy(dst, dst_off, src, src_off, n)

    def scale_into(pcm, n, gain16):
        _check_scale(pcm, n, gain16)
        _viper.scale(pcm, n, gain16)

    # Unchecked: for callers that have checked the ranges themselves (jitter.py).
    copy_raw = _viper.copy
    _UNCHECKED = ((ulaw_encode_into, _viper.ulaw_encode), (alaw_encode_into, _viper.alaw_encode),
                  (ulaw_decode_into, _viper.ulaw_decode), (alaw_decode_into, _viper.alaw_decode))
    IMPLEMENTATION = "viper"
else:
    copy_raw = copy_into_py
    _UNCHECKED = ()

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

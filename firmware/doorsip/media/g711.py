"""G.711 µ-law (PCMU) and A-law (PCMA) codecs writing into caller buffers.

    ulaw_encode_into(pcm, out, n)   n samples of S16LE pcm -> n codes in out
    ulaw_decode_into(codes, out, n) n codes -> n S16LE samples (2n bytes) in out
    alaw_encode_into / alaw_decode_into: the same for A-law
    IMPLEMENTATION: "viper" or "python" (which kernels the names above are)
    SILENCE_ULAW, SILENCE_ALAW: the code of a zero sample
    unchecked(function): the kernel behind function, for callers checking
        lengths; for a decoder one with an offset: f(codes, off, out, n)
    copy_into(dst, dst_off, src, src_off, n)  byte copy without a slice (slices
        allocate on MicroPython); scale_into(pcm, n, gain16): S16LE samples times
        gain16/16 in place (loss concealment). Both with viper kernels too.

pcm and codes may be bytes, bytearray or memoryview; out a bytearray or
writable memoryview. Nothing is allocated per call. The viper kernels
(g711_viper.py) are used when the interpreter compiles them; the *_py
functions (g711_py.py, loaded on first use) are the plain-Python versions
with identical output.
"""
from doorsip.compat import const, text_line

SILENCE_ULAW = const(0xFF)
SILENCE_ALAW = const(0xD5)

# The texts of the errors raised here, line k picked where raised: one string
# object instead of four.
_TEXTS = const("g711: buffer too short for n samples\ncopy: range outside the buffers\n"
               "scale: bad length or gain\ng711: unknown codec %r")


try:
    from doorsip.media import g711_viper
except Exception:  # CPython, or a port built without the viper emitter
    g711_viper = None

g711_py = None  # g711_py once loaded

if g711_viper is not None:
    # The viper kernels write through raw pointers: a short buffer must be an
    # error here, never a write past its end.
    def ulaw_encode_into(pcm, out, n):
        if n < 0 or len(pcm) < n + n or len(out) < n:
            raise ValueError(text_line(_TEXTS, 0))  # buffer too short
        g711_viper.ulaw_encode_into(pcm, out, n)

    def alaw_encode_into(pcm, out, n):
        if n < 0 or len(pcm) < n + n or len(out) < n:
            raise ValueError(text_line(_TEXTS, 0))  # buffer too short
        g711_viper.alaw_encode_into(pcm, out, n)

    def ulaw_decode_into(codes, out, n):
        if n < 0 or len(codes) < n or len(out) < n + n:
            raise ValueError(text_line(_TEXTS, 0))  # buffer too short
        g711_viper.ulaw_decode(codes, 0, out, n)

    def alaw_decode_into(codes, out, n):
        if n < 0 or len(codes) < n or len(out) < n + n:
            raise ValueError(text_line(_TEXTS, 0))  # buffer too short
        g711_viper.alaw_decode(codes, 0, out, n)

    def copy_into(dst, dst_off, src, src_off, n):
        if n < 0 or dst_off < 0 or src_off < 0 or dst_off + n > len(dst) or src_off + n > len(src):
            raise ValueError(text_line(_TEXTS, 1))  # copy: range outside
        g711_viper.copy(dst, dst_off, src, src_off, n)

    def scale_into(pcm, n, gain16):
        if n < 0 or n + n > len(pcm) or not 0 <= gain16 <= 16:
            raise ValueError(text_line(_TEXTS, 2))  # scale: bad length or gain
        g711_viper.scale_into(pcm, n, gain16)

    # Unchecked: for callers that have checked the ranges themselves (jitter.py).
    copy_raw = g711_viper.copy
    IMPLEMENTATION = "viper"
else:
    from doorsip.media import g711_py
    g711_py.bind(globals())  # the plain kernels under this module's names


def __getattr__(name):
    # The plain-Python kernels (g711_py) on first use of a *_py name; copied
    # into this module so later look-ups are plain (and allocate nothing).
    global g711_py
    if not name.endswith("_py"):
        raise AttributeError(name)
    from doorsip.media import g711_py
    g = globals()
    for key in dir(g711_py):
        if key.endswith("_py"):
            g[key] = getattr(g711_py, key)
    return getattr(g711_py, name)  # AttributeError for a name it lacks


def codec_functions(name):
    """(encode_into, decode_into, silence_code) for "PCMU" or "PCMA"."""
    if name == "PCMU":
        return ulaw_encode_into, ulaw_decode_into, SILENCE_ULAW
    if name == "PCMA":
        return alaw_encode_into, alaw_decode_into, SILENCE_ALAW
    raise ValueError(text_line(_TEXTS, 3) % (name,))  # unknown codec


def unchecked(function):
    """The kernel behind one of this module's functions, without the buffer
    checks (a call less per frame), for callers that check the lengths once
    (rtp.RtpSender, jitter.JitterBuffer). For an encoder f(pcm, out, n); for a
    decoder f(codes, off, out, n), decoding codes[off:off + n] without a slice
    (the jitter buffer decodes straight out of received packets). fn itself for
    other functions (the caller can tell: no offset kernel for a decoder)."""
    if g711_viper is not None:
        if function is ulaw_encode_into:
            return g711_viper.ulaw_encode_into
        if function is alaw_encode_into:
            return g711_viper.alaw_encode_into
        if function is ulaw_decode_into:
            return g711_viper.ulaw_decode
        if function is alaw_decode_into:
            return g711_viper.alaw_decode
    return function if g711_py is None else g711_py.unchecked(function)

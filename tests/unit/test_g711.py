# G.711 against an independent reference: the segment algorithm written out here
# (not the module's tables), over all 65,536 linear inputs and all 256 codes, for
# the selected kernels and for the plain-Python ones. CPython's audioop is the
# second oracle in tests/integration/test_g711_oracle.py.
from doorsip.media import g711
from support import raises, MICROPYTHON, skip


def ref_ulaw(s):
    v = s >> 2
    if v < 0:
        v, mask = -v, 0x7F
    else:
        mask = 0xFF
    v = min(v, 8159) + 33
    for seg in range(8):
        if v < (64 << seg):
            return ((seg << 4) | ((v >> (seg + 1)) & 15)) ^ mask
    return 0x7F ^ mask


def ref_alaw(s):
    v = s >> 3
    if v < 0:
        v, mask = -v - 1, 0x55
    else:
        mask = 0xD5
    for seg in range(8):
        if v < (32 << seg):
            mant = (v >> 1) if seg < 2 else (v >> seg)
            return ((seg << 4) | (mant & 15)) ^ mask
    return 0x7F ^ mask


def ref_ulaw_decode(code):
    u = ~code & 0xFF
    t = (((u & 15) << 3) + 0x84) << ((u & 0x70) >> 4)
    return (0x84 - t) if u & 0x80 else (t - 0x84)


def ref_alaw_decode(code):
    a = code ^ 0x55
    seg = (a & 0x70) >> 4
    t = (a & 15) << 4
    if seg == 0:
        t += 8
    else:
        t = (t + 0x108) << (seg - 1)
    return t if a & 0x80 else -t


def all_samples_pcm():
    pcm = bytearray(131072)
    for i in range(65536):
        pcm[2 * i] = i & 0xFF
        pcm[2 * i + 1] = i >> 8
    return pcm


def s16(lo, hi):
    v = lo | (hi << 8)
    return v - 65536 if v & 0x8000 else v


def check_encoder(encode, ref):
    pcm = all_samples_pcm()
    out = bytearray(65536)
    encode(pcm, out, 65536)
    for i in range(65536):
        s = i - 65536 if i & 0x8000 else i
        if out[i] != ref(s):
            raise AssertionError("sample %d: got %d want %d" % (s, out[i], ref(s)))


def check_decoder(decode, ref):
    codes = bytes(range(256))
    out = bytearray(512)
    decode(codes, out, 256)
    for c in range(256):
        assert s16(out[2 * c], out[2 * c + 1]) == ref(c), c


def test_ulaw_encode_all_inputs():
    check_encoder(g711.ulaw_encode_into, ref_ulaw)


def test_alaw_encode_all_inputs():
    check_encoder(g711.alaw_encode_into, ref_alaw)


def test_plain_encoders_all_inputs():
    check_encoder(g711.ulaw_encode_into_py, ref_ulaw)
    check_encoder(g711.alaw_encode_into_py, ref_alaw)


def test_decoders_all_codes():
    check_decoder(g711.ulaw_decode_into, ref_ulaw_decode)
    check_decoder(g711.alaw_decode_into, ref_alaw_decode)
    check_decoder(g711.ulaw_decode_into_py, ref_ulaw_decode)
    check_decoder(g711.alaw_decode_into_py, ref_alaw_decode)


def test_known_values():
    # Reference points: silence codes, full scale, and the sign convention.
    out = bytearray(4)
    g711.ulaw_encode_into(b"\x00\x00\xff\x7f\x00\x80\xff\xff", out, 4)
    assert bytes(out) == b"\xff\x80\x00\x7e"
    g711.alaw_encode_into(b"\x00\x00\xff\x7f\x00\x80\xff\xff", out, 4)
    assert bytes(out) == b"\xd5\xaa\x2a\x55"
    assert g711.SILENCE_ULAW == 0xFF and g711.SILENCE_ALAW == 0xD5


def test_decode_then_encode_is_stable():
    # Every decoder level encodes back to a code decoding to the same level.
    for enc, dec in ((g711.ulaw_encode_into, g711.ulaw_decode_into),
                     (g711.alaw_encode_into, g711.alaw_decode_into)):
        codes = bytes(range(256))
        pcm = bytearray(512)
        dec(codes, pcm, 256)
        again = bytearray(256)
        enc(pcm, again, 256)
        pcm2 = bytearray(512)
        dec(again, pcm2, 256)
        assert pcm2 == pcm


def test_memoryview_and_offsets():
    pcm = bytearray(40)
    for i in range(40):
        pcm[i] = (i * 53) & 0xFF
    whole = bytearray(20)
    g711.ulaw_encode_into(pcm, whole, 20)
    part = bytearray(30)
    g711.ulaw_encode_into(memoryview(pcm)[20:], memoryview(part)[10:], 10)
    assert part[10:20] == whole[10:]
    assert part[:10] == bytearray(10)  # nothing written before the view


def test_short_buffers_are_errors_not_overruns():
    for fn in (g711.ulaw_encode_into, g711.alaw_encode_into,
               g711.ulaw_encode_into_py, g711.alaw_encode_into_py):
        raises(ValueError, fn, bytearray(318), bytearray(160), 160)
        raises(ValueError, fn, bytearray(320), bytearray(159), 160)
        raises(ValueError, fn, bytearray(320), bytearray(160), -1)
    for fn in (g711.ulaw_decode_into, g711.alaw_decode_into,
               g711.ulaw_decode_into_py, g711.alaw_decode_into_py):
        raises(ValueError, fn, bytearray(159), bytearray(320), 160)
        raises(ValueError, fn, bytearray(160), bytearray(319), 160)
    out = bytearray(0)
    g711.ulaw_encode_into(b"", out, 0)  # zero samples is fine


def test_codec_functions():
    enc, dec, silence = g711.codec_functions("PCMA")
    assert enc is g711.alaw_encode_into and dec is g711.alaw_decode_into
    assert silence == 0xD5
    assert g711.codec_functions("PCMU")[2] == 0xFF
    raises(ValueError, g711.codec_functions, "G722")


def test_viper_matches_plain_everywhere():
    if not MICROPYTHON:
        skip("viper exists on MicroPython only")
    if g711.IMPLEMENTATION != "viper":
        skip("this MicroPython has no viper emitter")
    pcm = all_samples_pcm()
    a = bytearray(65536)
    b = bytearray(65536)
    for fast, plain in ((g711.ulaw_encode_into, g711.ulaw_encode_into_py),
                        (g711.alaw_encode_into, g711.alaw_encode_into_py)):
        fast(pcm, a, 65536)
        plain(pcm, b, 65536)
        assert a == b
    codes = bytes(range(256))
    for fast, plain in ((g711.ulaw_decode_into, g711.ulaw_decode_into_py),
                        (g711.alaw_decode_into, g711.alaw_decode_into_py)):
        x = bytearray(512)
        y = bytearray(512)
        fast(codes, x, 256)
        plain(codes, y, 256)
        assert x == y


def test_copy_into_and_scale_into():
    src = bytes(range(50))
    for copy in (g711.copy_into, g711.copy_into_py):
        dst = bytearray(40)
        copy(dst, 5, src, 10, 20)
        assert dst[5:25] == src[10:30] and dst[:5] == bytearray(5) and dst[25:] == bytearray(15)
    raises(ValueError, g711.copy_into, bytearray(10), 5, src, 0, 6)
    raises(ValueError, g711.copy_into, bytearray(10), 0, src, 45, 6)
    raises(ValueError, g711.copy_into, bytearray(10), -1, src, 0, 1)
    # S16LE 1000, -1000, 32767, -32768, -1, 0 times 12/16, toward zero
    pcm = b"\xe8\x03\x18\xfc\xff\x7f\x00\x80\xff\xff\x00\x00"
    want = b"\xee\x02\x12\xfd\xff\x5f\x00\xa0\x00\x00\x00\x00"
    for scale in (g711.scale_into, g711.scale_into_py):
        buf = bytearray(pcm)
        scale(buf, 6, 12)
        assert bytes(buf) == want, (scale, bytes(buf))
        buf = bytearray(pcm)
        scale(buf, 6, 0)
        assert buf == bytearray(12)
    raises(ValueError, g711.scale_into, bytearray(10), 6, 8)
    raises(ValueError, g711.scale_into, bytearray(12), 6, 17)

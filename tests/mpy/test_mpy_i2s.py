# hal/mpy_i2s under MicroPython against a stand-in `machine` (tests/mpy/standin):
# constructor arguments, the non-blocking read/write cycle, 32->16-bit conversion,
# 2:1 decimation and 1:2 interpolation against plain reference code, and no
# allocation per frame (heap_lock).
import struct
import sys

import micropython

from doorsip.hal.audio import FRAME_BYTES, AudioError, open_audio
from doorsip.hal.mpy_i2s import I2sIn, I2sOut
from support import raises

sys.path.insert(0, __file__.rsplit("/", 1)[0] + "/standin")
try:
    import machine_standin as machine
finally:
    sys.path.pop(0)

MIC = {"id": 0, "sck": 26, "ws": 25, "sd": 33, "bits": 32, "rate": 16000}
SPK = {"id": 1, "sck": 14, "ws": 27, "sd": 12, "bits": 16, "rate": 16000}


def _clip(v):
    return 32767 if v > 32767 else (-32768 if v < -32768 else v)


def _mic_words(count, seed):
    # 32-bit words: 24 data bits left-justified, low byte garbage as on the wire
    words = []
    x = seed
    for _ in range(count):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        words.append((((x >> 7) & 0xFFFFFF) - 0x800000) << 8 | (x & 0xFF))
    return words


def _frame_samples(frame):
    return [struct.unpack_from("<h", frame, 2 * i)[0] for i in range(len(frame) // 2)]


def _open(cls, base, **changes):
    """cls (I2sIn / I2sOut) on a copy of base with changes; returns it and its bus."""
    conf = dict(base)
    conf.update(changes)
    return cls(conf, machine), machine.I2S.opened[-1]


def _decimated(x, count):
    """Plain 2:1 reference: y[i] = (x[2i-1] + 2 x[2i] + x[2i+1]) / 4 (x[-1] = 0)."""
    ref = []
    prev = 0
    for i in range(count):
        ref.append((prev + 2 * x[2 * i] + x[2 * i + 1]) >> 2)
        prev = x[2 * i + 1]
    return ref


def _interpolated(samples, shift=0):
    """Plain 1:2 reference: each sample after the mean of it and the one before
    (starting from 0), both shifted left by shift."""
    ref = []
    prev = 0
    for v in samples:
        ref.append(((prev + v) >> 1) << shift)
        ref.append(v << shift)
        prev = v
    return ref


def test_mic_32bit_16k_decimates_with_filter_memory():
    mic, bus = _open(I2sIn, MIC)
    assert bus.bus_id == 0
    assert bus.kwargs["sck"] == 26 and bus.kwargs["ws"] == 25 and bus.kwargs["sd"] == 33
    assert bus.kwargs["mode"] == machine.I2S.RX and bus.kwargs["bits"] == 32
    assert bus.kwargs["rate"] == 16000 and bus.kwargs["format"] == machine.I2S.MONO
    assert bus.kwargs["ibuf"] >= 1280
    assert bus.calls == ["irq", "readinto"]  # armed at once
    words = _mic_words(640, 7)
    bus.serve.append(struct.pack("<320i", *words[:320]))
    bus.serve.append(struct.pack("<320i", *words[320:]))
    buf = bytearray(FRAME_BYTES)
    assert mic.read_into(buf) == 0  # nothing captured yet: no blocking, no frame
    got = []
    for _ in range(2):
        bus.complete()
        assert mic.read_into(buf) == FRAME_BYTES
        got.extend(_frame_samples(buf))
        assert mic.read_into(buf) == 0
    # reference: top 16 bits of each word, then y[i] = (x[2i-1] + 2 x[2i] + x[2i+1]) / 4
    assert got == _decimated([w >> 16 for w in words], 320)
    assert bus.calls.count("readinto") == 3  # re-armed after each frame
    mic.close()
    assert bus.deinited


def test_mic_gain_saturates_and_8k_passes_through():
    mic, bus = _open(I2sIn, MIC, rate=8000, gain=4)
    words = _mic_words(160, 3)
    words[0] = 0x7FFFFF00   # full scale: saturates
    words[1] = -0x80000000
    words[2] = 0x00012300
    bus.serve.append(struct.pack("<160i", *words))
    bus.complete()
    buf = bytearray(FRAME_BYTES)
    assert mic.read_into(buf) == FRAME_BYTES
    assert _frame_samples(buf) == [_clip(w >> 12) for w in words]
    assert _frame_samples(buf)[:3] == [32767, -32768, 0x12]  # 0x000123xx: 0x123 >> 4 with gain 4
    mic.close()


def test_mic_16bit_bus():
    mic, bus = _open(I2sIn, MIC, bits=16)
    assert bus.kwargs["bits"] == 16
    samples = [(i * 97) % 2000 - 1000 for i in range(320)]
    bus.serve.append(struct.pack("<320h", *samples))
    bus.complete()
    buf = bytearray(FRAME_BYTES)
    mic.read_into(buf)
    assert _frame_samples(buf) == _decimated(samples, 160)
    mic.close()


def test_speaker_interpolates_and_drops_while_busy():
    spk, bus = _open(I2sOut, SPK)
    assert bus.kwargs["mode"] == machine.I2S.TX and bus.kwargs["sd"] == 12
    frames = [[(i * 331 + k * 5000) % 60000 - 30000 for i in range(160)] for k in range(2)]
    buf = bytearray(FRAME_BYTES)
    struct.pack_into("<160h", buf, 0, *frames[0])
    spk.write(buf)
    spk.write(buf)  # the first is still in flight: dropped, not queued
    assert spk.dropped == 1 and len(bus.written) == 1
    bus.complete()
    struct.pack_into("<160h", buf, 0, *frames[1])
    spk.write(buf)
    assert spk.frames == 2 and len(bus.written) == 2
    got = list(struct.unpack("<320h", bus.written[0])) + list(struct.unpack("<320h", bus.written[1]))
    assert got == _interpolated(frames[0] + frames[1])
    spk.close()
    assert bus.deinited


def test_speaker_32bit_slot_8k():
    spk, bus = _open(I2sOut, SPK, bits=32, rate=8000)
    samples = [i * 200 - 16000 for i in range(160)]
    buf = bytearray(FRAME_BYTES)
    struct.pack_into("<160h", buf, 0, *samples)
    spk.write(buf)
    assert list(struct.unpack("<160i", bus.written[0])) == [s << 16 for s in samples]
    spk.close()


def test_frame_conversion_allocates_nothing():
    mic, rx = _open(I2sIn, MIC)
    spk, tx = _open(I2sOut, SPK)
    words = _mic_words(320, 11)
    raw = struct.pack("<320i", *words)
    for _ in range(4):
        rx.serve.append(raw)
    buf = bytearray(FRAME_BYTES)
    rx.complete()
    mic.read_into(buf)  # makes the buffer's view once
    spk.write(buf)
    tx.complete()
    rx.complete()
    # the stand-in's own bookkeeping (call log) allocates; the code under test must not
    rx.calls = None
    tx.calls = None
    rx.readinto = lambda b: 0
    tx.write = lambda b: 0
    micropython.heap_lock()
    try:
        n = mic.read_into(buf)
        spk.write(buf)
        mic._done(rx)
        tx.handler(tx)
        n2 = mic.read_into(buf)
        spk.write(buf)
    finally:
        micropython.heap_unlock()
    assert n == FRAME_BYTES and n2 == FRAME_BYTES and spk.frames == 3
    rx.calls = []
    tx.calls = []
    mic.close()
    spk.close()


def test_bad_configuration_names_the_field():
    cases = (
        ("bits", 24, "audio.mic.bits"),
        ("rate", 44100, "audio.mic.rate"),
        ("sd", None, "audio.mic.sd"),
        ("gain", 9, "audio.mic.gain"),
        ("ibuf", 100, "audio.mic.ibuf"),
    )
    for key, value, words in cases:
        conf = dict(MIC)
        conf[key] = value
        exc = raises(AudioError, I2sIn, conf, machine)
        assert words in str(exc), str(exc)
    conf = dict(SPK)
    conf["rate"] = 22050
    assert "audio.speaker.rate" in str(raises(AudioError, I2sOut, conf, machine))


def test_open_audio_builds_the_i2s_pair():
    mic, spk = open_audio({"backend": "i2s", "mic": MIC, "speaker": SPK}, machine=machine)
    assert isinstance(mic, I2sIn) and isinstance(spk, I2sOut)
    mic.close()
    spk.close()


def _noise(n, seed):
    out = bytearray(n)
    x = seed
    for i in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out[i] = (x >> 16) & 0xFF
    # extremes too: full-scale positive and negative words at the start
    for i in range(min(n, 8)):
        out[i] = 0xFF if i % 4 == 3 and i < 4 else (0x80 if i % 4 == 3 else 0)
    return out


def _kernels_agree(kernel, plain, src, size, mode, prev):
    # the viper kernel and its plain twin: the same bytes out, the same state back
    a = bytearray(size)
    b = bytearray(size)
    pa = kernel(src, a, mode, prev)
    pb = plain(src, b, mode, prev)
    assert a == b and pa == pb, (mode, prev)


def test_viper_and_plain_kernels_agree_in_every_mode():
    from doorsip.hal import mpy_i2s
    if mpy_i2s.IMPLEMENTATION != "viper":
        return  # nothing to compare on a port without viper
    for wide in (0, 16):
        for decimate in (0, 32):
            size = 160 * (2 if decimate else 1) * (4 if wide else 2)
            raw = _noise(size, wide + decimate + 1)
            for gain in (0, 1, 4, 8):
                mode = gain | wide | decimate
                for prev in (0, 32768, 65535):
                    _kernels_agree(mpy_i2s.mic_convert, mpy_i2s.mic_convert_py, raw, FRAME_BYTES, mode, prev)
    pcm = _noise(FRAME_BYTES, 99)
    for mode in range(4):
        size = 160 * (2 if mode & 2 else 1) * (4 if mode & 1 else 2)
        for prev in (0, 40000, 65535):
            _kernels_agree(mpy_i2s.spk_convert, mpy_i2s.spk_convert_py, pcm, size, mode, prev)


def test_plain_kernels_match_the_reference_too():
    # The reference tests above run whichever kernel the port picked; run the
    # plain twins against the same reference arithmetic here.
    from doorsip.hal import mpy_i2s
    words = _mic_words(320, 5)
    raw = struct.pack("<320i", *words)
    out = bytearray(FRAME_BYTES)
    prev = mpy_i2s.mic_convert_py(raw, out, 16 | 32, 32768)
    x = [w >> 16 for w in words]
    assert _frame_samples(out) == _decimated(x, 160) and prev == x[319] + 32768
    samples = [(i * 331) % 60000 - 30000 for i in range(160)]
    pcm = struct.pack("<160h", *samples)
    raw = bytearray(1280)
    mpy_i2s.spk_convert_py(pcm, raw, 3, 32768)
    assert list(struct.unpack("<320i", raw)) == _interpolated(samples, 16)

# The simulated audio backend (WAV in/out, tone, silence) on both interpreters.
import os
import struct

from doorsip.compat import MICROPYTHON, hash_hex, random_bytes
from doorsip.hal.audio import FRAME_BYTES, AudioError, open_audio
from doorsip.hal.sim_audio import NullOut, SilenceIn, ToneIn, WavIn, WavOut
from support import raises


def _tmp(name):
    return "/tmp/doorsip-e2-%s-%s" % (hash_hex("md5", random_bytes(8))[:10], name)


def _wav_bytes(samples, rate=8000, channels=1, bits=16, tag=1, extra_chunk=b"", data_size=None):
    data = b"".join(struct.pack("<h", s) for s in samples)
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * channels * bits // 8, channels * bits // 8, bits)
    if tag == 0xFFFE:
        # WAVE_FORMAT_EXTENSIBLE: cbSize, valid bits, channel mask, subformat GUID (PCM)
        fmt += struct.pack("<HHI", 22, bits, 4) + b"\x01\x00" + bytes(14)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra_chunk
    size = len(data) if data_size is None else data_size
    body += b"data" + struct.pack("<I", size) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def _samples(frame):
    return [struct.unpack_from("<h", frame, 2 * i)[0] for i in range(len(frame) // 2)]


def test_wav_out_then_in_round_trip_with_header_sizes():
    path = _tmp("rt.wav")
    try:
        out = WavOut(path)
        frames = []
        for k in range(3):
            frame = bytearray(FRAME_BYTES)
            for i in range(160):
                struct.pack_into("<h", frame, 2 * i, (k * 1000 + i * 7) - 600)
            frames.append(bytes(frame))
            out.write(frame)
        out.close()
        out.close()  # idempotent
        with open(path, "rb") as f:
            raw = f.read()
        assert len(raw) == 44 + 3 * FRAME_BYTES
        assert raw[0:4] == b"RIFF" and struct.unpack_from("<I", raw, 4)[0] == 36 + 3 * FRAME_BYTES
        assert raw[36:40] == b"data" and struct.unpack_from("<I", raw, 40)[0] == 3 * FRAME_BYTES
        assert struct.unpack_from("<HHIIHH", raw, 20) == (1, 1, 8000, 16000, 2, 16)
        source = WavIn(path)
        buf = bytearray(FRAME_BYTES)
        for k in range(3):
            assert source.read_into(buf) == FRAME_BYTES
            assert bytes(buf) == frames[k]
        assert not source.ended
        assert source.read_into(buf) == FRAME_BYTES
        assert source.ended and bytes(buf) == bytes(FRAME_BYTES)
        source.close()
    finally:
        _remove(path)


def test_wav_in_loops_across_the_end():
    path = _tmp("loop.wav")
    samples = list(range(-120, 120))  # 240 samples: a frame and a half
    try:
        _write(path, _wav_bytes(samples, extra_chunk=b"LIST" + struct.pack("<I", 3) + b"abc\x00"))
        source = WavIn(path, loop=True)
        buf = bytearray(FRAME_BYTES)
        got = []
        for _ in range(4):
            assert source.read_into(buf) == FRAME_BYTES
            got.extend(_samples(buf))
        source.close()
        assert got == (samples * 3)[:640]
        assert not source.ended
    finally:
        _remove(path)


def test_wav_in_without_loop_pads_with_silence():
    path = _tmp("pad.wav")
    try:
        _write(path, _wav_bytes([1000] * 200, data_size=0xFFFFFFFF))  # streamed size
        source = WavIn(path)
        buf = bytearray(b"\x55" * FRAME_BYTES)
        source.read_into(buf)
        assert _samples(buf) == [1000] * 160
        source.read_into(buf)
        assert _samples(buf) == [1000] * 40 + [0] * 120
        assert source.ended
        source.read_into(buf)
        assert buf == bytearray(FRAME_BYTES)
        source.close()
    finally:
        _remove(path)


def test_wav_in_accepts_extensible_pcm():
    path = _tmp("ext.wav")
    try:
        _write(path, _wav_bytes([5] * 160, tag=0xFFFE))
        source = WavIn(path)
        buf = bytearray(FRAME_BYTES)
        source.read_into(buf)
        source.close()
        assert _samples(buf) == [5] * 160
    finally:
        _remove(path)


def test_wav_in_rejects_other_formats_clearly():
    path = _tmp("bad.wav")
    cases = (
        (_wav_bytes([0] * 160, rate=44100), "44100 Hz"),
        (_wav_bytes([0] * 160, channels=2), "2 channel"),
        (_wav_bytes([0] * 160, bits=8), "8-bit"),
        (_wav_bytes([0] * 160, tag=3), "format 3"),
        (b"RIFX" + bytes(40), "not a RIFF/WAVE"),
        (b"RIFF", "truncated"),
        (_wav_bytes([0] * 160)[:36], "no data chunk"),
    )
    try:
        for data, words in cases:
            _write(path, data)
            exc = raises(AudioError, WavIn, path)
            text = str(exc)
            assert words in text and path in text, text
        # looping over an empty data chunk would spin forever: refused
        _write(path, _wav_bytes([]))
        assert "no samples" in str(raises(AudioError, WavIn, path, True))
    finally:
        _remove(path)


def _crossings(samples):
    n = 0
    for i in range(1, len(samples)):
        if (samples[i - 1] < 0) != (samples[i] < 0):
            n += 1
    return n


def test_tone_has_the_asked_frequency_and_amplitude():
    tone = ToneIn(1000, amplitude=8000)
    buf = bytearray(FRAME_BYTES)
    samples = []
    for _ in range(5):
        tone.read_into(buf)
        samples.extend(_samples(buf))
    # 1000 Hz over 800 samples at 8 kHz: 100 periods, 200 sign changes
    assert 198 <= _crossings(samples) <= 202
    assert 7800 <= max(samples) <= 8000 and -8000 <= min(samples) <= -7800
    # phase continues across frames: no jump at a frame edge
    steps = [abs(samples[i] - samples[i - 1]) for i in range(1, len(samples))]
    assert max(steps) <= 8000 * 0.8


def test_two_tones_sum_like_dtmf():
    tone = ToneIn((770, 1336), amplitude=6000)
    buf = bytearray(FRAME_BYTES)
    tone.read_into(buf)
    samples = _samples(buf)
    assert max(samples) <= 12000 and min(samples) >= -12000
    assert max(samples) > 9000  # the two tones do add up
    raises(AudioError, ToneIn, 5000)
    raises(AudioError, ToneIn, (770, 1336), 20000)


def test_silence_null_and_small_buffers():
    buf = bytearray(b"\x11" * FRAME_BYTES)
    silence = SilenceIn()
    assert silence.read_into(buf) == FRAME_BYTES and buf == bytearray(FRAME_BYTES)
    sink = NullOut()
    sink.write(buf)
    sink.write(buf)
    assert sink.frames == 2
    raises(AudioError, silence.read_into, bytearray(100))
    raises(AudioError, sink.write, bytearray(100))
    # a bigger buffer works: the first FRAME_BYTES are the frame
    big = bytearray(b"\x22" * 400)
    silence.read_into(big)
    assert big[:FRAME_BYTES] == bytearray(FRAME_BYTES) and big[FRAME_BYTES:] == bytearray(b"\x22" * 80)


def test_open_audio_sim_and_bad_backends():
    path = _tmp("spk.wav")
    try:
        mic, speaker = open_audio({"backend": "sim"}, speaker=path)
        assert isinstance(mic, SilenceIn) and isinstance(speaker, WavOut)
        speaker.close()
        assert "backend" in str(raises(AudioError, open_audio, {"backend": "oss"}))
        assert "audio.mic" in str(raises(AudioError, open_audio, {"backend": "i2s"}))
        raises(AudioError, open_audio, None)
    finally:
        _remove(path)


def test_frame_paths_allocate_nothing_on_micropython():
    if not MICROPYTHON:
        return  # CPython allocates anyway; the heap lock is a MicroPython check
    import micropython
    path = _tmp("heap.wav")
    try:
        _write(path, _wav_bytes(list(range(800))))
        wav = WavIn(path)
        tone = ToneIn((697, 1209), 5000)
        silence = SilenceIn()
        buf = bytearray(FRAME_BYTES)
        for source in (wav, tone, silence):
            source.read_into(buf)  # first call makes the buffer's view
        micropython.heap_lock()
        try:
            for _ in range(3):
                wav.read_into(buf)
                tone.read_into(buf)
                silence.read_into(buf)
        finally:
            micropython.heap_unlock()
        wav.close()
    finally:
        _remove(path)

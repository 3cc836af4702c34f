"""Audio frames in and out: 8 kHz mono signed 16-bit little-endian, 20 ms frames.

AudioIn.read_into(buf) -> n   fills buf[0:320] with the next frame; n = 320, or 0
                              when no frame is ready yet (the caller sends silence
                              or nothing). Never blocks for more than a frame.
AudioOut.write(buf)           plays buf[0:320]; a frame that does not fit is dropped
                              (counted in .dropped), never queued without bound.
Both have close(). open_audio(audio, mic=None, speaker=None, machine=None) builds the
pair from a board file's "audio" section ({"backend": "sim"|"alsa"|"i2s", ...});
backend modules are imported only when chosen.
"""
from doorsip.compat import Closing, const, forget

RATE = const(8000)
FRAME_SAMPLES = const(160)
FRAME_BYTES = const(320)


class AudioError(ValueError):
    """Bad audio configuration or file format; the message says what and where."""


class _Frames(Closing):
    # A memoryview on the caller's first FRAME_BYTES, made once per buffer so the
    # per-frame path allocates nothing when the caller reuses its buffer.
    _view_of = None
    _view = None
    dropped = 0

    def frame_view(self, buf):
        if buf is self._view_of:
            return self._view
        if len(buf) < FRAME_BYTES:
            raise AudioError("audio buffer holds %d bytes; a frame needs %d" % (len(buf), FRAME_BYTES))
        self._view = memoryview(buf)[:FRAME_BYTES]
        self._view_of = buf
        return self._view

    def close(self):
        pass


# The two interfaces (the module docstring): backends define read_into / write.
# One class under both names: an empty subclass would cost ~200 bytes of heap.
AudioIn = AudioOut = _Frames


def open_audio(audio, mic=None, speaker=None, machine=None):
    """(AudioIn, AudioOut) for a board's audio section (see audio_open.py)."""
    # Boot-only code: forgotten after use so a MicroPython station gets its heap back.
    from doorsip.hal import audio_open
    try:
        return audio_open.open_audio(audio, mic, speaker, machine)
    finally:
        forget("doorsip.hal.audio_open")

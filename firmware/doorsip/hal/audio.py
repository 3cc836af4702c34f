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


# The two interfaces (the module docstring) are one class under both names (an
# empty subclass would cost ~200 bytes of heap); backends define read_into / write.
class AudioIn(Closing):
    # (buffer, memoryview on its first FRAME_BYTES), made once per buffer so the
    # per-frame path allocates nothing when the caller reuses its buffer.
    _view = (None, None)
    dropped = 0

    def frame_view(self, buf):
        view = self._view
        if buf is view[0]:
            return view[1]
        if len(buf) < FRAME_BYTES:
            raise AudioError("audio buffer holds %d bytes; a frame needs %d" % (len(buf), FRAME_BYTES))
        self._view = (buf, memoryview(buf)[:FRAME_BYTES])
        return self._view[1]

    def close(self):
        pass


AudioOut = AudioIn


def open_audio(audio, mic=None, speaker=None, machine=None):
    """(AudioIn, AudioOut) for a board's audio section (see audio_open.py)."""
    # Boot-only code: forgotten after use so a MicroPython station gets its heap back.
    from doorsip.hal import audio_open
    try:
        return audio_open.open_audio(audio, mic, speaker, machine)
    finally:
        forget(audio_open.__name__)

"""Simulated audio: a real backend for the PC and for tests (frames as in hal/audio).

WavIn(path, loop=False)        8 kHz mono 16-bit PCM WAV; at the end it starts over
                               (loop) or gives silence (.ended becomes True)
WavOut(path)                   writes a WAV; sizes in the header fixed on close()
ToneIn(freqs, amplitude=8000)  sum of sine tones (Hz; one number or a tuple),
                               amplitude per tone in sample units (full scale 32767)
SilenceIn()                    zeros
NullOut()                      discards frames, counts them in .frames
Per-frame work allocates nothing once the caller reuses its frame buffer.
The WAV header code (sim_wav.py) and ToneIn (sim_tone.py) load on first use.
"""
from doorsip.hal.audio import FRAME_BYTES, AudioError, AudioIn, AudioOut


class WavIn(AudioIn):
    def __init__(self, path, loop=False):
        self.path = path
        self.loop = loop
        self.ended = False
        self.frames = 0
        self._f = open(path, "rb")
        try:
            from doorsip.hal.sim_wav import parse_header
            self._data_start, self._data_len = parse_header(self._f, path)
        except Exception:
            self._f.close()
            raise
        if self._data_len < 2 and loop:
            raise AudioError("%s: no samples to loop over" % path)
        self._left = self._data_len

    def read_into(self, buf):
        view = self.frame_view(buf)
        f = self._f
        if self._left >= FRAME_BYTES:
            n = f.readinto(view)
            self._left -= n
            if n == FRAME_BYTES:
                self.frames += 1
                return FRAME_BYTES
        else:
            n = 0
        # The end of the data (rare): fill from the start again, or with silence.
        while n < FRAME_BYTES:
            if self._left <= 0:
                if not self.loop:
                    self.ended = True
                    for i in range(n, FRAME_BYTES):
                        view[i] = 0
                    break
                f.seek(self._data_start)
                self._left = self._data_len
            want = FRAME_BYTES - n
            if want > self._left:
                want = self._left
            got = f.readinto(view[n:n + want])
            if not got:
                self._left = 0
                if not self.loop:
                    continue
                raise AudioError("%s: file shrank while reading" % self.path)
            n += got
            self._left -= got
        self.frames += 1
        return FRAME_BYTES

    def close(self):
        if self._f is not None:
            self._f.close()
            self._f = None


class WavOut(AudioOut):
    def __init__(self, path):
        self.path = path
        self.frames = 0
        self._f = open(path, "wb")
        from doorsip.hal.sim_wav import header
        self._f.write(header(0))

    def write(self, buf):
        if self._f is None:
            raise AudioError("%s: written after close" % self.path)
        self._f.write(self.frame_view(buf))
        self.frames += 1

    def close(self):
        """Write the final sizes into the header (RIFF and data chunk) and close."""
        if self._f is None:
            return
        f = self._f
        self._f = None
        try:
            f.seek(0)
            from doorsip.hal.sim_wav import header
            f.write(header(self.frames * FRAME_BYTES))
        finally:
            f.close()


class SilenceIn(AudioIn):
    """Also NullOut (one class costs less heap than two): .frames counts the
    frames read (zeros) or written (discarded)."""
    frames = 0

    def read_into(self, buf):
        view = self.frame_view(buf)
        for i in range(FRAME_BYTES):
            view[i] = 0
        self.frames += 1
        return FRAME_BYTES

    def write(self, buf):
        self.frame_view(buf)
        self.frames += 1


NullOut = SilenceIn


def __getattr__(name):
    # ToneIn (tests, tools) from sim_tone on first use.
    if name != "ToneIn":
        raise AttributeError(name)
    from doorsip.hal.sim_tone import ToneIn
    return ToneIn

"""Simulated audio: a real backend for the PC and for tests (frames as in hal/audio).

WavIn(path, loop=False)        8 kHz mono 16-bit PCM WAV; at the end it starts over
                               (loop) or gives silence (.ended becomes True)
WavOut(path)                   writes a WAV; sizes in the header fixed on close()
ToneIn(freqs, amplitude=8000)  sum of sine tones (Hz; one number or a tuple),
                               amplitude per tone in sample units (full scale 32767)
SilenceIn()                    zeros
NullOut()                      discards frames, counts them in .frames
Per-frame work allocates nothing once the caller reuses its frame buffer.
WavIn/WavOut (sim_wav.py) and ToneIn (sim_tone.py) load on first use: a station
on silence (no --mic/--speaker) never holds their code.
"""
from doorsip.hal.audio import FRAME_BYTES, AudioIn


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
    # WavIn, WavOut (a station given WAV files: loaded at boot by audio_open) from
    # sim_wav, ToneIn (tests, tools) from sim_tone, on first use.
    if name == "WavIn" or name == "WavOut":
        from doorsip.hal import sim_wav
        return getattr(sim_wav, name)
    if name != "ToneIn":
        raise AttributeError(name)
    from doorsip.hal.sim_tone import ToneIn
    return ToneIn

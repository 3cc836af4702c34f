"""hal/audio.open_audio's body: boot-only, so audio.py imports it for the one
call and forgets it again (its heap comes back on MicroPython)."""
from doorsip.hal.audio import AudioError


def open_audio(audio, mic=None, speaker=None, machine=None):
    """(AudioIn, AudioOut) for a board's audio section.

    sim: mic is a WAV path (looped) or None for silence; speaker a WAV path or None
    to discard. alsa: "capture"/"playback" device names. i2s: "mic"/"speaker" dicts
    of id, sck, ws, sd, bits, rate; machine may be passed in (tests).
    """
    if not isinstance(audio, dict):
        raise AudioError("board audio section must be an object")
    backend = audio.get("backend")
    if backend == "sim":
        from doorsip.hal import sim_audio
        source = sim_audio.WavIn(mic, loop=True) if mic else sim_audio.SilenceIn()
        sink = sim_audio.WavOut(speaker) if speaker else sim_audio.NullOut()
        return source, sink
    if backend == "alsa":
        from doorsip.hal import alsa_audio
        return (alsa_audio.AlsaIn(audio.get("capture", "default")),
                alsa_audio.AlsaOut(audio.get("playback", "default")))
    if backend == "i2s":
        for part in ("mic", "speaker"):
            if not isinstance(audio.get(part), dict):
                raise AudioError("audio.%s: i2s needs an object with id, sck, ws, sd, bits, rate" % part)
        from doorsip.hal import mpy_i2s
        return mpy_i2s.I2sIn(audio["mic"], machine), mpy_i2s.I2sOut(audio["speaker"], machine)
    raise AudioError("audio.backend: %r is not one of sim, alsa, i2s" % (backend,))

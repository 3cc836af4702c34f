"""ToneIn(freqs, amplitude=8000): a sum of sine tones as microphone frames
(hal/sim_audio.ToneIn, loaded on first use: tests and tools use it, a station
does not). freqs in Hz (one number or a tuple), amplitude per tone in sample
units (full scale 32767). Per-frame work allocates nothing.
"""
from doorsip.compat import const
from doorsip.hal.audio import FRAME_BYTES, FRAME_SAMPLES, RATE, AudioError, AudioIn

_SINE_BITS = const(9)               # 512-entry table: spurs below -50 dB
_SINE_SIZE = const(1 << _SINE_BITS)
_PHASE_FRAC = const(16)             # phase accumulator: table index in 9.16 fixed point
_PHASE_MASK = const((1 << (_SINE_BITS + _PHASE_FRAC)) - 1)


class ToneIn(AudioIn):
    def __init__(self, freqs, amplitude=8000):
        if not isinstance(freqs, (tuple, list)):
            freqs = (freqs,)
        if not freqs or len(freqs) * amplitude > 32767 or amplitude < 0:
            raise AudioError("tone: need 1+ frequencies and amplitude * count <= 32767")
        import math
        from array import array
        # Filled in place: a list of the 512 values first would be an 8 KB block on
        # MicroPython's 64-bit unix port, taken and dropped while the station boots.
        table = self._table = array("h", bytes(2 * _SINE_SIZE))
        for i in range(_SINE_SIZE):
            table[i] = int(32767 * math.sin(2 * math.pi * i / _SINE_SIZE))
        self._steps = []
        for hz in freqs:
            if not 0 < hz < RATE // 2:
                raise AudioError("tone: %r Hz is outside 0..%d Hz" % (hz, RATE // 2))
            self._steps.append(int(hz * (_SINE_SIZE << _PHASE_FRAC) / RATE + 0.5))
        self._phases = [0] * len(self._steps)
        self.amplitude = amplitude
        self.frames = 0

    def read_into(self, buf):
        view = self.frame_view(buf)
        table = self._table
        steps = self._steps
        phases = self._phases
        amp = self.amplitude
        tones = len(steps)
        for i in range(FRAME_SAMPLES):
            v = 0
            for t in range(tones):
                p = phases[t]
                v += table[p >> _PHASE_FRAC] * amp >> 15
                phases[t] = (p + steps[t]) & _PHASE_MASK
            view[2 * i] = v & 0xFF
            view[2 * i + 1] = (v >> 8) & 0xFF
        self.frames += 1
        return FRAME_BYTES

"""ESP32 audio over machine.I2S: an INMP441-style microphone and a MAX98357A amplifier.

I2sIn(mic, machine=None) / I2sOut(speaker, machine=None) take a board file's
"audio.mic" / "audio.speaker" object: {"id", "sck", "ws", "sd", "bits" (16|32),
"rate" (8000|16000)}, optional "ibuf" (driver buffer bytes) and, for the mic,
"gain" (0..8: left shift, saturating; the INMP441 is quiet, -26 dBFS at 94 dB SPL).
The frames are those of hal/audio (8 kHz mono S16LE). Where the bus runs at 16 kHz
the mic is decimated 2:1 through a [1 2 1]/4 low-pass (zero at 8 kHz, so what
would fold onto the 0..4 kHz band is attenuated) and the speaker interpolated 1:2
linearly. A 32-bit mic word carries 24 data bits left-justified (INMP441 data sheet).
Both run the driver in non-blocking mode (I2S.irq): read_into returns 0 until the
driver has filled a frame, write drops a frame while the previous one is still in
flight; neither blocks the event loop. Conversion allocates nothing.
"""
from doorsip.compat import const
from doorsip.hal.audio import FRAME_BYTES, FRAME_SAMPLES, RATE, AudioError, AudioIn, AudioOut

_BUS_RATES = (8000, 16000)
_FRAMES_BUFFERED = const(6)  # default driver buffer: 120 ms absorbs loop stalls


def _check(conf, part):
    where = "audio." + part
    if not isinstance(conf, dict):
        raise AudioError("%s: must be an object" % where)
    for key in ("id", "sck", "ws", "sd"):
        if not isinstance(conf.get(key), int) or conf[key] < 0:
            raise AudioError("%s.%s: need a non-negative integer, got %r" % (where, key, conf.get(key)))
    if conf.get("bits") not in (16, 32):
        raise AudioError("%s.bits: need 16 or 32, got %r" % (where, conf.get("bits")))
    if conf.get("rate") not in _BUS_RATES:
        raise AudioError("%s.rate: need 8000 or 16000, got %r" % (where, conf.get("rate")))
    ratio = conf["rate"] // RATE
    raw_bytes = FRAME_SAMPLES * ratio * conf["bits"] // 8
    ibuf = conf.get("ibuf", raw_bytes * _FRAMES_BUFFERED)
    if not isinstance(ibuf, int) or ibuf < raw_bytes:
        raise AudioError("%s.ibuf: need at least %d bytes, got %r" % (where, raw_bytes, ibuf))
    return ratio, raw_bytes, ibuf


def _open(machine, conf, mode_name, ibuf):
    if machine is None:
        import machine
    i2s = machine.I2S
    return i2s(conf["id"], sck=machine.Pin(conf["sck"]), ws=machine.Pin(conf["ws"]),
               sd=machine.Pin(conf["sd"]), mode=getattr(i2s, mode_name), bits=conf["bits"],
               format=i2s.MONO, rate=conf["rate"], ibuf=ibuf)


class I2sIn(AudioIn):
    def __init__(self, mic, machine=None):
        self._ratio, raw_bytes, ibuf = _check(mic, "mic")
        gain = mic.get("gain", 0)
        if not isinstance(gain, int) or not 0 <= gain <= 8:
            raise AudioError("audio.mic.gain: need 0..8, got %r" % (gain,))
        self._gain = gain
        self._wide = mic["bits"] == 32
        self._raw = bytearray(raw_bytes)
        self._prev = 0          # last bus sample of the previous frame (filter memory)
        self._ready = False
        self.frames = 0
        self._i2s = _open(machine, mic, "RX", ibuf)
        # The handler is bound once: a bound method made per IRQ would allocate.
        self._done_cb = self._done
        self._i2s.irq(self._done_cb)
        self._i2s.readinto(self._raw)

    def _done(self, _i2s):
        self._ready = True

    def read_into(self, buf):
        view = self.frame_view(buf)
        if not self._ready:
            return 0
        self._convert(view)
        self._ready = False
        self._i2s.readinto(self._raw)
        self.frames += 1
        return FRAME_BYTES

    def _sample(self, raw, j):
        # Bus sample j as a signed 16-bit value, gain applied with saturation.
        if self._wide:
            b = j << 2
            v = raw[b + 1] | raw[b + 2] << 8 | raw[b + 3] << 16
            if v & 0x800000:
                v -= 0x1000000
            v >>= 8 - self._gain
        else:
            b = j << 1
            v = raw[b] | raw[b + 1] << 8
            if v & 0x8000:
                v -= 0x10000
            v <<= self._gain
        if v > 32767:
            return 32767
        if v < -32768:
            return -32768
        return v

    def _convert(self, out):
        raw = self._raw
        if self._ratio == 1:
            for i in range(FRAME_SAMPLES):
                v = self._sample(raw, i)
                out[2 * i] = v & 0xFF
                out[2 * i + 1] = (v >> 8) & 0xFF
            return
        prev = self._prev
        for i in range(FRAME_SAMPLES):
            a = self._sample(raw, 2 * i)
            b = self._sample(raw, 2 * i + 1)
            v = (prev + 2 * a + b) >> 2
            prev = b
            out[2 * i] = v & 0xFF
            out[2 * i + 1] = (v >> 8) & 0xFF
        self._prev = prev

    def close(self):
        if self._i2s is not None:
            self._i2s.deinit()
            self._i2s = None


class I2sOut(AudioOut):
    def __init__(self, speaker, machine=None):
        self._ratio, raw_bytes, ibuf = _check(speaker, "speaker")
        self._wide = speaker["bits"] == 32
        self._raw = bytearray(raw_bytes)
        self._prev = 0
        self._busy = False
        self.frames = 0
        self.dropped = 0
        self._i2s = _open(machine, speaker, "TX", ibuf)
        self._done_cb = self._done
        self._i2s.irq(self._done_cb)

    def _done(self, _i2s):
        self._busy = False

    def _put(self, raw, j, v):
        if self._wide:
            b = j << 2  # 16 data bits in the upper half of the 32-bit slot
            raw[b] = 0
            raw[b + 1] = 0
            raw[b + 2] = v & 0xFF
            raw[b + 3] = (v >> 8) & 0xFF
        else:
            b = j << 1
            raw[b] = v & 0xFF
            raw[b + 1] = (v >> 8) & 0xFF

    def write(self, buf):
        view = self.frame_view(buf)
        if self._busy:
            # The driver still owns the buffer: this frame is late, drop it rather
            # than queue audio without bound.
            self.dropped += 1
            return
        raw = self._raw
        prev = self._prev
        double = self._ratio == 2
        for i in range(FRAME_SAMPLES):
            v = view[2 * i] | view[2 * i + 1] << 8
            if v & 0x8000:
                v -= 0x10000
            if double:
                self._put(raw, 2 * i, (prev + v) >> 1)
                self._put(raw, 2 * i + 1, v)
                prev = v
            else:
                self._put(raw, i, v)
        self._prev = prev
        self._busy = True
        self._i2s.write(raw)
        self.frames += 1

    def close(self):
        if self._i2s is not None:
            self._i2s.deinit()
            self._i2s = None

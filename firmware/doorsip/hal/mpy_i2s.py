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
flight; neither blocks the event loop. Conversion allocates nothing; it runs as
viper code (hal/mpy_i2s_viper.py) where the port has the emitter, else as the plain
twins below (IMPLEMENTATION says which). Measured on the x86 unix port per 20 ms
frame: mic 32-bit 16 kHz 140 us plain / 4 us viper, speaker 75 us / 3 us; an ESP32
is 50-75x slower, so plain Python would eat a third of the frame there.
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


def mic_convert_py(raw, out, mode, prev):
    """Bus words in raw -> 160 S16LE samples in out; prev/return: filter memory.

    mode: gain (bits 0-3) | 32-bit words (bit 4) | 2:1 decimation (bit 5). Samples
    are offset by 32768 throughout (the same integers as the viper kernel).
    """
    gain = mode & 15
    ratio = 2 if mode & 32 else 1
    if mode & 16:
        step = 4
        shift = 8 - gain
        zero = 1 << (23 - shift)
    else:
        step = 2
        zero = 32768 << gain
    lo_clip = zero - 32768   # below: the sample saturates at -32768
    hi_clip = zero + 32768   # at or above: +32767
    wide = step == 4
    j = 0
    a = 0
    for i in range(160):
        for k in range(ratio):
            if wide:
                w = ((raw[j + 1] | raw[j + 2] << 8 | raw[j + 3] << 16) ^ 0x800000) >> shift
            else:
                w = ((raw[j] | raw[j + 1] << 8) ^ 0x8000) << gain
            j += step
            if w < lo_clip:
                v = 0
            elif w >= hi_clip:
                v = 65535
            else:
                v = w - lo_clip
            if k == 0:
                a = v
        if ratio == 2:
            y = (prev + 2 * a + v) >> 2
            prev = v
        else:
            y = a
        out[2 * i] = y & 0xFF
        out[2 * i + 1] = (y >> 8) ^ 0x80
    return prev


def spk_convert_py(pcm, raw, mode, prev):
    """160 S16LE samples in pcm -> bus slots in raw; prev/return: last sample.

    mode: 32-bit slots (bit 0) | 1:2 linear interpolation (bit 1); offset samples
    as in mic_convert_py.
    """
    wide = mode & 1
    double = mode & 2
    step = 4 if wide else 2
    hi = 3 if wide else 1
    lo = hi - 1
    # The low half of a 32-bit slot is never written: raw starts zeroed.
    j = 0
    for i in range(160):
        v = (pcm[2 * i] | pcm[2 * i + 1] << 8) ^ 0x8000
        if double:
            m = (prev + v) >> 1
            prev = v
            raw[j + lo] = m & 0xFF
            raw[j + hi] = (m >> 8) ^ 0x80
            j += step
        raw[j + lo] = v & 0xFF
        raw[j + hi] = (v >> 8) ^ 0x80
        j += step
    return prev


try:
    from doorsip.hal.mpy_i2s_viper import mic_convert, spk_convert
    IMPLEMENTATION = "viper"
except Exception:  # CPython, or a port built without the viper emitter
    mic_convert = mic_convert_py
    spk_convert = spk_convert_py
    IMPLEMENTATION = "python"


def _open(machine, conf, mode_name, ibuf):
    if machine is None:
        import machine
    i2s = machine.I2S
    return i2s(conf["id"], sck=machine.Pin(conf["sck"]), ws=machine.Pin(conf["ws"]),
               sd=machine.Pin(conf["sd"]), mode=getattr(i2s, mode_name), bits=conf["bits"],
               format=i2s.MONO, rate=conf["rate"], ibuf=ibuf)


class I2sIn(AudioIn):
    def __init__(self, mic, machine=None):
        ratio, raw_bytes, ibuf = _check(mic, "mic")
        gain = mic.get("gain", 0)
        if not isinstance(gain, int) or not 0 <= gain <= 8:
            raise AudioError("audio.mic.gain: need 0..8, got %r" % (gain,))
        self._mode = gain | (16 if mic["bits"] == 32 else 0) | (32 if ratio == 2 else 0)
        self._raw = bytearray(raw_bytes)
        self._prev = 32768      # filter memory: last bus sample, offset by 32768
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
        self._prev = mic_convert(self._raw, view, self._mode, self._prev)
        self._ready = False
        self._i2s.readinto(self._raw)
        self.frames += 1
        return FRAME_BYTES

    def close(self):
        if self._i2s is not None:
            self._i2s.deinit()
            self._i2s = None


class I2sOut(AudioOut):
    def __init__(self, speaker, machine=None):
        ratio, raw_bytes, ibuf = _check(speaker, "speaker")
        self._mode = (1 if speaker["bits"] == 32 else 0) | (2 if ratio == 2 else 0)
        self._raw = bytearray(raw_bytes)
        self._prev = 32768
        self._busy = False
        self.frames = 0
        self.dropped = 0
        self._i2s = _open(machine, speaker, "TX", ibuf)
        self._done_cb = self._done
        self._i2s.irq(self._done_cb)

    def _done(self, _i2s):
        self._busy = False

    def write(self, buf):
        view = self.frame_view(buf)
        if self._busy:
            # The driver still owns the buffer: this frame is late, drop it rather
            # than queue audio without bound.
            self.dropped += 1
            return
        self._prev = spk_convert(view, self._raw, self._mode, self._prev)
        self._busy = True
        self._i2s.write(self._raw)
        self.frames += 1

    def close(self):
        if self._i2s is not None:
            self._i2s.deinit()
            self._i2s = None

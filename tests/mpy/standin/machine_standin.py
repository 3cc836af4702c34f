# A stand-in for the ESP32 `machine` module, ONLY for tests/mpy/test_mpy_i2s.py (no
# ESP32 here). It models machine.I2S in non-blocking mode as the MicroPython docs
# describe it: with irq() set, readinto()/write() return at once and the handler
# runs when the driver has filled/taken the buffer; here the test decides when, by
# calling complete(). Every call is recorded; capture data is served from a queue.


class Pin:
    def __init__(self, pin_id, *args, **kwargs):
        self.id = pin_id


class I2S:
    RX = 0
    TX = 1
    MONO = 0
    STEREO = 1
    opened = []  # every instance, in creation order

    def __init__(self, bus_id, sck=None, ws=None, sd=None, mck=None, mode=None, bits=None,
                 format=None, rate=None, ibuf=None):
        self.bus_id = bus_id
        self.kwargs = {"sck": sck.id, "ws": ws.id, "sd": sd.id, "mode": mode, "bits": bits,
                       "format": format, "rate": rate, "ibuf": ibuf}
        self.calls = []
        self.handler = None
        self.serve = []       # raw capture buffers to hand out, oldest first
        self.written = []     # copies of every buffer given to write()
        self._pending = None
        self.deinited = False
        I2S.opened.append(self)

    def irq(self, handler):
        self.calls.append("irq")
        self.handler = handler

    def readinto(self, buf):
        self.calls.append("readinto")
        assert self._pending is None, "readinto while a read is in flight"
        self._pending = buf
        return 0

    def write(self, buf):
        self.calls.append("write")
        assert self._pending is None, "write while a write is in flight"
        self.written.append(bytes(buf))
        self._pending = buf
        return 0

    def complete(self):
        """The driver finished the buffer in flight: fill it (RX) and run the handler."""
        buf = self._pending
        assert buf is not None, "nothing in flight"
        if self.kwargs["mode"] == I2S.RX:
            data = self.serve.pop(0)
            assert len(data) == len(buf), (len(data), len(buf))
            buf[:] = data
        self._pending = None
        self.handler(self)

    def deinit(self):
        self.calls.append("deinit")
        self.deinited = True

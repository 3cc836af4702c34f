"""Pin backend for MicroPython boards: machine.Pin with edge IRQs.

MpyPins(machine=None): machine may be passed in (tests use a recording stand-in).
Inputs: Pin(n, Pin.IN, pull) with an IRQ on both edges whose handler (devices.Button's
preallocated bound method) only records a tick and schedules the rest.
Outputs: Pin(n, Pin.OUT, value=level) sets the level before the pin drives, so a
relay never blips at boot. "sk6812" outputs are one addressable RGB LED (ATOM Echo)
driven with machine.bitstream: level 1 shows the board's colour, 0 black.
"""
from doorsip.compat import ticks_ms as _ticks_ms

# WS2812/SK6812 bit timing for machine.bitstream encoding 0 ("high_time_0,
# low_time_0, high_time_1, low_time_1" in ns, 800 kHz), as MicroPython's neopixel uses.
_SK6812_TIMING = (400, 850, 800, 450)


class MpyInput:
    def __init__(self, machine, pin):
        self._machine = machine
        self.pin = pin

    def value(self):
        return self.pin.value()

    def irq(self, handler):
        P = self._machine.Pin
        if handler is None:
            self.pin.irq(handler=None)
        else:
            self.pin.irq(handler=handler, trigger=P.IRQ_RISING | P.IRQ_FALLING)

    def close(self):
        self.irq(None)


class MpyOutput:
    def __init__(self, pin, level):
        self.pin = pin
        self.safe_level = level

    def value(self, level):
        self.pin.value(1 if level else 0)

    def close(self):
        self.value(self.safe_level)


class MpySk6812:
    def __init__(self, machine, pin, level, color):
        self._machine = machine
        self.pin = pin
        self.safe_level = level
        r, g, b = color if color else (0, 0, 64)
        self._lit = bytes((g, r, b))  # SK6812 takes green, red, blue
        self._dark = bytes(3)
        self.value(level)

    def value(self, level):
        self._machine.bitstream(self.pin, 0, _SK6812_TIMING, self._lit if level else self._dark)

    def close(self):
        self.value(self.safe_level)


class MpyPins:
    name = "mpy"

    def __init__(self, machine=None):
        if machine is None:
            import machine
        self._machine = machine
        self._outputs = []
        # The builtin itself, not a method around it: one call less in the IRQ.
        self.ticks_ms = _ticks_ms

    def input(self, pin, pull=None, idle=None):
        P = self._machine.Pin
        if pull == "up":
            mode = P.PULL_UP
        elif pull == "down":
            mode = P.PULL_DOWN
        else:
            mode = None  # external pull (e.g. GPIO34-39 on the ESP32 have none)
        return MpyInput(self._machine, P(pin, P.IN, mode))

    def output(self, pin, level, kind="gpio", color=None):
        P = self._machine.Pin
        level = 1 if level else 0
        if kind == "sk6812":
            out = MpySk6812(self._machine, P(pin, P.OUT, value=0), level, color)
        elif kind == "gpio":
            out = MpyOutput(P(pin, P.OUT, value=level), level)
        else:
            raise ValueError("unknown output kind %r" % (kind,))
        self._outputs.append(out)
        return out

    def close(self):
        for out in self._outputs:
            try:
                out.close()
            except Exception:
                pass
        self._outputs = []

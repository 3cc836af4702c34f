"""Simulated pins: a real backend with recorded history (like gpiozero's MockFactory).

SimPins(now_ms=None, history_limit=256): now_ms given -> a manual clock moved by
advance(ms) (tests); None -> the real ticks_ms (the sim station).
  drive(pin, level)   set an input's level as the outside world would; edges call
                      the pin's irq handler at once, as a real edge would
  level(pin)          current level of any pin
  history             [(t_ms, pin, level)] of every level change, inputs and outputs,
                      oldest first; trimmed to history_limit entries
  levels(pin)         the levels a pin went through, in order
Pins are numbers or names. Using a pin twice is a ValueError, as on hardware.
"""
from doorsip.compat import ticks_add, ticks_ms


class SimPin:
    """One pin in use: an input (value() reads it, irq(handler) sets its edge
    handler) or an output (value(level) drives it, close() returns it to the
    level it was created with)."""
    handler = None
    pull = None
    closed = False

    def __init__(self, pins, pin, level, output, kind=None, color=None):
        if pin in pins._pins:
            raise ValueError("pin %s is already in use" % (pin,))
        pins._pins[pin] = self
        self._pins = pins
        self.pin = pin
        self.level = level
        self.safe_level = level
        self.output = output
        self.kind = kind
        self.color = color

    def value(self, level=None):
        if level is None or not self.output:
            return self.level
        if self.closed:
            raise ValueError("pin %s is closed" % (self.pin,))
        level = 1 if level else 0
        if level != self.level:
            self.level = level
            self._pins._record(self.pin, level)

    def irq(self, handler):
        self.handler = handler

    def close(self):
        if self.output:
            if self.closed:
                return
            self.value(self.safe_level)
            self.closed = True
        else:
            self.handler = None
        self._pins._pins.pop(self.pin, None)


class SimPins:
    name = "sim"

    def __init__(self, now_ms=None, history_limit=256):
        self._now = now_ms  # None: the real clock
        self.history = []
        self.history_limit = history_limit
        self._pins = {}

    def ticks_ms(self):
        # ticks_ms() in here is compat's (a method name is not a global)
        return ticks_ms() if self._now is None else self._now

    def advance(self, ms):
        if self._now is None:
            raise ValueError("advance() needs a manual clock: SimPins(now_ms=0)")
        self._now = ticks_add(self._now, ms)
        return self._now

    def _record(self, pin, level):
        if len(self.history) >= self.history_limit:
            del self.history[: self.history_limit // 2]
        self.history.append((self.ticks_ms(), pin, level))

    def input(self, pin, pull=None, idle=None):
        if pull == "up":
            level = 1
        elif pull == "down":
            level = 0
        else:
            level = 1 if idle is None else idle
        p = SimPin(self, pin, level, False)
        p.pull = pull
        return p

    def output(self, pin, level, kind="gpio", color=None):
        p = SimPin(self, pin, 1 if level else 0, True, kind, color)
        self._record(pin, p.level)
        return p

    def drive(self, pin, level):
        p = self._pins.get(pin)
        if p is None or p.output:
            raise ValueError("pin %s is not an input in use" % (pin,))
        level = 1 if level else 0
        if level != p.level:
            p.level = level
            self._record(pin, level)
            if p.handler is not None:
                p.handler(p)

    def level(self, pin):
        p = self._pins.get(pin)
        if p is None:
            raise ValueError("pin %s is not in use" % (pin,))
        return p.level

    def levels(self, pin):
        # A loop, not a comprehension: a comprehension is a function of its own (heap).
        out = []
        for entry in self.history:
            if entry[1] == pin:
                out.append(entry[2])
        return out

    def has_pin(self, pin):
        return pin in self._pins

    def close(self):
        for p in list(self._pins.values()):
            if p.output:
                p.close()

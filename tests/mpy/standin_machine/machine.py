# A recording stand-in for MicroPython's `machine` module, used only by
# tests/mpy/test_mpy_pins.py (the unix port has no GPIO). It keeps what the
# backend asked for: constructor arguments, every level written, IRQ handlers,
# bitstream writes. drive(n, level) plays the outside world: sets the input level
# and, on an edge the IRQ trigger covers, calls the handler as the IRQ would.
log = []  # ("init", n, mode, pull, value) | ("value", n, level) | ("irq", n, trigger) | ("bitstream", n, bytes)
pins = {}


def reset():
    del log[:]
    pins.clear()


class Pin:
    IN = 1
    OUT = 3
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_RISING = 1
    IRQ_FALLING = 2

    def __init__(self, n, mode=-1, pull=-1, value=None):
        self.n = n
        self.mode = mode
        self.pull = pull
        self.handler = None
        self.trigger = 0
        self.writes = 0
        if mode == Pin.OUT:
            self.level = 0 if value is None else value
        else:
            self.level = 0 if pull == Pin.PULL_DOWN else 1
        pins[n] = self
        log.append(("init", n, mode, pull, value))

    def value(self, level=None):
        if level is None:
            return self.level
        if self.mode != Pin.OUT:
            raise OSError(1)
        self.level = level
        self.writes += 1
        try:
            log.append(("value", self.n, level))
        except MemoryError:  # heap_lock() test: the level and count still record it
            pass

    def irq(self, handler=None, trigger=3):
        self.handler = handler
        self.trigger = trigger if handler is not None else 0
        log.append(("irq", self.n, self.trigger))
        return None


def bitstream(pin, encoding, timing, buf):
    pin.writes += 1
    try:
        log.append(("bitstream", pin.n, bytes(buf)))
    except MemoryError:
        pass


def drive(n, level):
    p = pins[n]
    old = p.level
    p.level = level
    if p.handler is None or old == level:
        return
    if (level and p.trigger & Pin.IRQ_RISING) or (not level and p.trigger & Pin.IRQ_FALLING):
        p.handler(p)

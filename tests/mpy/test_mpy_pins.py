# hal/mpy_pins.py under MicroPython against a recording stand-in `machine` module
# (tests/mpy/standin_machine/machine.py): pin modes and pulls, no boot glitch on
# relays, IRQ on both edges, and micropython.heap_lock() around the IRQ handler and
# the device poll paths to prove they allocate nothing.
import sys

from support import MICROPYTHON, skip, raises

if not MICROPYTHON:
    skip("MicroPython-only test")

import micropython  # noqa: E402

from doorsip.hal.devices import Button, Relay, Led, make_pins, make_button, make_relay, make_led  # noqa: E402
from doorsip.hal.mpy_pins import MpyPins  # noqa: E402
from doorsip.board import load_board  # noqa: E402

_HERE = globals().get("__file__", "tests/mpy/test_mpy_pins.py")
_DIR = _HERE.rsplit("/", 1)[0] if "/" in _HERE else "."
_ROOT = _DIR.rsplit("/", 2)[0] if _DIR.count("/") >= 2 else "."


def _standin():
    saved = sys.modules.pop("machine", None)
    sys.path.insert(0, _DIR + "/standin_machine")
    try:
        import machine
    finally:
        sys.path.pop(0)
        sys.modules.pop("machine", None)
        if saved is not None:
            sys.modules["machine"] = saved
    assert hasattr(machine, "drive"), "got the real machine module"
    machine.reset()
    return machine


class Counter:
    def __init__(self):
        self.pressed = 0
        self.released = 0
        self.held = 0

    def on_pressed(self, _b):
        self.pressed += 1

    def on_released(self, _b):
        self.released += 1

    def on_held(self, _b):
        self.held += 1


def _settle():
    # micropython.schedule callbacks run at the VM's next check; give them one.
    for _ in range(10):
        pass


def test_input_modes_and_irq_trigger():
    m = _standin()
    pins = MpyPins(m)
    Button(pins, 4, active_low=True, pull="up")
    Button(pins, 39, active_low=True, pull=None)
    Button(pins, 5, active_low=False, pull="down")
    inits = [e for e in m.log if e[0] == "init"]
    assert inits == [("init", 4, m.Pin.IN, m.Pin.PULL_UP, None),
                     ("init", 39, m.Pin.IN, None, None),
                     ("init", 5, m.Pin.IN, m.Pin.PULL_DOWN, None)]
    irqs = [e for e in m.log if e[0] == "irq"]
    both = m.Pin.IRQ_RISING | m.Pin.IRQ_FALLING
    assert irqs == [("irq", 4, both), ("irq", 39, both), ("irq", 5, both)]


def test_relay_has_no_boot_glitch():
    m = _standin()
    pins = MpyPins(m)
    hi = Relay(pins, 23, active_low=False)
    lo = Relay(pins, 26, active_low=True)
    # The level is given to the constructor: the pin never drives the "on" level.
    assert m.log == [("init", 23, m.Pin.OUT, -1, 0), ("init", 26, m.Pin.OUT, -1, 1)]
    hi.pulse(100, 0)
    lo.on(0)
    assert m.pins[23].level == 1 and m.pins[26].level == 0
    pins.close()
    assert m.pins[23].level == 0 and m.pins[26].level == 1


def test_button_irq_to_press():
    m = _standin()
    pins = MpyPins(m)
    b = Button(pins, 4, bounce_ms=30, now_ms=0)
    c = Counter()
    b.when_pressed = c.on_pressed
    b.when_released = c.on_released
    woken = []
    b.wake = lambda: woken.append(1)
    m.drive(4, 0)
    _settle()
    assert b._edge_ms is not None and woken == [1] and not b._scheduled
    t = b._edge_ms
    b.poll(t + 10)
    assert c.pressed == 0
    b.poll(t + 30)
    assert c.pressed == 1 and b.is_pressed
    m.drive(4, 1)
    _settle()
    b.poll(b._edge_ms + 30)
    assert c.released == 1


def test_irq_handler_allocates_nothing():
    m = _standin()
    pins = MpyPins(m)
    b = Button(pins, 4)
    handler = m.pins[4].handler
    pin = m.pins[4]
    micropython.heap_lock()
    try:
        handler(pin)
        handler(pin)  # already scheduled: only records
    finally:
        micropython.heap_unlock()
    _settle()
    assert b._edge_ms is not None and not b._scheduled


def test_poll_paths_allocate_nothing():
    m = _standin()
    pins = MpyPins(m)
    b = Button(pins, 4, bounce_ms=30, hold_ms=1000, now_ms=0)
    c = Counter()
    b.when_pressed = c.on_pressed
    b.when_released = c.on_released
    b.when_held = c.on_held
    relay = Relay(pins, 23, max_on_ms=5000)
    led = Led(pins, 21)
    m.drive(4, 0)
    _settle()
    base = b._edge_ms
    micropython.heap_lock()
    try:
        led.pattern("ringing", base)
        relay.pulse(3000, base)
        now = base
        for _ in range(300):  # 3 s in 10 ms steps: press, hold, pulse end, blinks
            now += 10
            b.poll(now)
            relay.poll(now)
            led.poll(now)
        relay.on(now)
        relay.poll(now + 5000)  # guard trip
        led.pattern("in_call", now)
        led.poll(now + 10)
    finally:
        micropython.heap_unlock()
    assert c.pressed == 1 and c.held == 1
    assert not relay.is_on and relay.guard_trips == 1
    assert led.is_lit
    assert m.pins[23].writes == 4  # pulse on, pulse off, on, guard off
    assert m.pins[21].writes >= 6  # ringing blinked


def test_sk6812_led():
    m = _standin()
    pins = MpyPins(m)
    led = Led(pins, 27, kind="sk6812", color=[10, 20, 30])
    assert m.log[0] == ("init", 27, m.Pin.OUT, -1, 0)
    assert m.log[-1] == ("bitstream", 27, b"\x00\x00\x00")
    led.pattern("in_call", 0)
    assert m.log[-1] == ("bitstream", 27, bytes((20, 10, 30)))  # green, red, blue
    led.off()
    assert m.log[-1] == ("bitstream", 27, b"\x00\x00\x00")
    raises(ValueError, pins.output, 3, 0, "lamp")


def test_boards_build_on_mpy_backend():
    for name in ("esp32-devkitc", "esp32-s3-devkitc", "m5stack-atom-echo"):
        m = _standin()
        board = load_board(name, _ROOT + "/boards")
        pins = make_pins(board, machine=m)
        assert isinstance(pins, MpyPins)
        bell = make_button(pins, board, "bell")
        door = make_relay(pins, board, "door", max_on_ms=10000)
        led = make_led(pins, board, "status")
        spec = board["relays"]["door"]
        assert m.pins[spec["pin"]].level == (1 if spec["active_low"] else 0)
        m.drive(board["buttons"]["bell"]["pin"], 0)
        _settle()
        bell.poll(bell._edge_ms + 30)
        assert bell.is_pressed, name
        door.pulse(3000, 0)
        door.poll(3000)
        assert not door.is_on
        led.pattern("error", 0)
        pins.close()

# The gpiozero pin backend against the real gpiozero library and its MockFactory:
# button presses via pin.drive_low(), relay and LED levels via pin.state / pin.states.
import pytest

gpiozero = pytest.importorskip("gpiozero")
from gpiozero import Device  # noqa: E402
from gpiozero.pins.mock import MockFactory  # noqa: E402

from doorsip.board import load_board  # noqa: E402
from doorsip.hal.devices import Button, Relay, Led, make_pins, make_button, make_relay, make_led  # noqa: E402
from doorsip.hal.gpiozero_pins import GpiozeroPins  # noqa: E402


@pytest.fixture
def factory():
    previous = Device.pin_factory
    f = MockFactory()
    Device.pin_factory = f
    yield f
    f.reset()
    Device.pin_factory = previous


class Clock:
    def __init__(self):
        self.now = 1000

    def __call__(self):
        return self.now


def _pins(clock):
    pins = GpiozeroPins()
    pins.ticks_ms = clock
    return pins


def test_button_press_release_hold_through_gpiozero(factory):
    clock = Clock()
    pins = _pins(clock)
    b = Button(pins, 17, active_low=True, pull="up", bounce_ms=30, hold_ms=1000, name="bell")
    events = []
    b.when_pressed = lambda btn: events.append("pressed")
    b.when_released = lambda btn: events.append("released")
    b.when_held = lambda btn: events.append("held")
    pin = factory.pin(17)
    assert pin.state is True  # pulled up, idle
    pin.drive_low()
    assert b._edge_ms is not None  # gpiozero's edge callback reached the IRQ path
    for t in (10, 20, 29):
        clock.now = 1000 + t
        b.poll()
    assert events == []
    clock.now = 1030
    b.poll()
    assert events == ["pressed"] and b.is_pressed
    clock.now = 2030
    b.poll()
    assert events == ["pressed", "held"]
    pin.drive_high()
    clock.now = 2070
    b.poll()
    assert events == ["pressed", "held", "released"]


def test_button_bounce_through_gpiozero(factory):
    clock = Clock()
    pins = _pins(clock)
    b = Button(pins, 27, bounce_ms=30)
    presses = []
    b.when_pressed = lambda btn: presses.append(clock.now)
    pin = factory.pin(27)
    for level in (0, 1, 0, 1, 0):
        (pin.drive_low if level == 0 else pin.drive_high)()
        clock.now += 3
        b.poll()
    for _ in range(20):
        clock.now += 5
        b.poll()
    assert len(presses) == 1


def test_button_external_pull_active_high(factory):
    clock = Clock()
    pins = _pins(clock)
    b = Button(pins, 5, active_low=False, pull=None, bounce_ms=10)
    pin = factory.pin(5)
    pin.drive_high()
    clock.now += 20
    b.poll()
    assert b.is_pressed


def test_relay_levels_and_no_glitch_at_construction(factory):
    clock = Clock()
    pins = _pins(clock)
    hi = Relay(pins, 24, active_low=False, max_on_ms=5000)
    lo = Relay(pins, 25, active_low=True)
    p_hi, p_lo = factory.pin(24), factory.pin(25)
    assert p_hi.function == "output" and p_hi.state is False
    assert p_lo.function == "output" and p_lo.state is True
    # MockPin.states[0] is the pin before it became an output; after that the relay
    # line never showed its "on" level.
    assert [s.state for s in p_lo.states[1:]] == [True]
    hi.pulse(3000)
    lo.on()
    assert p_hi.state is True and p_lo.state is False
    clock.now += 3000
    hi.poll()
    assert p_hi.state is False
    clock.now += 600000
    lo.poll()  # max-on guard (600 s default)
    assert p_lo.state is True and lo.guard_trips == 1
    hi.on()
    hi.close()
    assert p_hi.state is False and hi.pin.device.closed


def test_pins_close_turns_everything_off(factory):
    pins = _pins(Clock())
    r = Relay(pins, 24, active_low=True)
    led = Led(pins, 26)
    r.on()
    led.pattern("in_call")
    assert factory.pin(24).state is False and factory.pin(26).state is True
    pins.close()
    assert factory.pin(24).state is True and factory.pin(26).state is False


def test_led_blinks_on_gpiozero_pin(factory):
    clock = Clock()
    pins = _pins(clock)
    led = Led(pins, 26)
    led.pattern("ringing")
    seen = []
    for _ in range(10):
        clock.now += 250
        led.poll()
        seen.append(factory.pin(26).state)
    # 500 on / 500 off from t=1000, sampled every 250 ms from t=1250
    assert seen == [True, False, False, True, True, False, False, True, True, False]


def test_rpi_board_devices_via_make_pins(factory):
    board = load_board("rpi")
    pins = make_pins(board)
    assert isinstance(pins, GpiozeroPins)
    bell = make_button(pins, board, "bell")
    door = make_relay(pins, board, "door", max_on_ms=10000)
    led = make_led(pins, board, "status")
    assert door.max_on_ms == 10000
    factory.pin(board["buttons"]["bell"]["pin"]).drive_low()
    import time
    time.sleep(0.05)
    bell.poll()
    assert bell.is_pressed
    door.pulse(1000)
    assert factory.pin(board["relays"]["door"]["pin"]).state is True
    led.pattern("error")
    pins.close()
    assert factory.pin(board["relays"]["door"]["pin"]).state is False

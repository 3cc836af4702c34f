# hal/devices.py over the simulated pin backend: debounce, hold, relay pulses and the
# max-on guard, LED patterns, make_pins. Time is a manual clock: deterministic.
from support import raises
from doorsip.hal.devices import Button, Relay, Led, Hardware, PATTERNS, make_pins, make_button, \
    make_relay, make_led
from doorsip.hal.sim_pins import SimPins


class Recorder:
    def __init__(self):
        self.events = []

    def pressed(self, button):
        self.events.append(("pressed", button.name))

    def released(self, button):
        self.events.append(("released", button.name))

    def held(self, button):
        self.events.append(("held", button.name))


def _button(**kw):
    pins = SimPins(now_ms=1000)
    b = Button(pins, 4, name="bell", **kw)
    r = Recorder()
    b.when_pressed = r.pressed
    b.when_released = r.released
    b.when_held = r.held
    return pins, b, r


def _run(pins, device, ms, step=5):
    for _ in range(ms // step):
        pins.advance(step)
        device.poll(pins.ticks_ms())


def test_button_idle_level_from_pull():
    pins, b, r = _button()
    assert pins.level(4) == 1 and not b.is_pressed
    pins2 = SimPins(now_ms=0)
    b2 = Button(pins2, 5, active_low=False, pull="down")
    assert pins2.level(5) == 0 and not b2.is_pressed
    pins3 = SimPins(now_ms=0)
    Button(pins3, 39, active_low=True, pull=None)  # external pull-up: rests high
    assert pins3.level(39) == 1


def test_button_press_after_stable_bounce_time():
    pins, b, r = _button(bounce_ms=30)
    pins.drive(4, 0)
    _run(pins, b, 25)
    assert r.events == [] and not b.is_pressed
    _run(pins, b, 10)
    assert r.events == [("pressed", "bell")] and b.is_pressed
    pins.drive(4, 1)
    _run(pins, b, 40)
    assert r.events == [("pressed", "bell"), ("released", "bell")]
    assert b.presses == 1


def test_button_bounce_counts_once():
    pins, b, r = _button(bounce_ms=30)
    for level in (0, 1, 0, 1, 0):  # contact bounce, 2 ms apart
        pins.drive(4, level)
        pins.advance(2)
        b.poll(pins.ticks_ms())
    _run(pins, b, 50)
    for level in (1, 0, 1):
        pins.drive(4, level)
        pins.advance(2)
        b.poll(pins.ticks_ms())
    _run(pins, b, 50)
    assert r.events == [("pressed", "bell"), ("released", "bell")]


def test_button_glitch_between_polls_ignored():
    # A spike shorter than bounce_ms, seen only by the IRQ, never rings the bell.
    pins, b, r = _button(bounce_ms=30)
    pins.advance(3)
    pins.drive(4, 0)
    pins.advance(1)
    pins.drive(4, 1)
    _run(pins, b, 100)
    assert r.events == []


def test_button_edge_restarts_quiet_period():
    # The IRQ's edge time counts, not the poll's: a bounce just before a poll delays.
    pins, b, r = _button(bounce_ms=30)
    pins.drive(4, 0)
    pins.advance(20)
    pins.drive(4, 1)
    pins.drive(4, 0)  # bounce at t+20
    _run(pins, b, 25)  # 25 ms after the last edge: still waiting
    assert r.events == []
    _run(pins, b, 10)
    assert r.events == [("pressed", "bell")]


def test_button_without_irq_by_polling_only():
    pins, b, r = _button(bounce_ms=30)
    pins._pins[4].handler = None  # a backend without edge interrupts
    pins.drive(4, 0)
    _run(pins, b, 40)
    assert r.events == [("pressed", "bell")]


def test_button_hold():
    pins, b, r = _button(bounce_ms=30, hold_ms=1000)
    pins.drive(4, 0)
    _run(pins, b, 900)
    assert r.events == [("pressed", "bell")]
    _run(pins, b, 200)
    assert r.events == [("pressed", "bell"), ("held", "bell")]
    _run(pins, b, 2000)  # held fires once per press
    assert len(r.events) == 2
    pins.drive(4, 1)
    _run(pins, b, 50)
    assert r.events[-1] == ("released", "bell")


def test_button_pressed_at_boot_is_not_a_press():
    r = Recorder()
    # stuck low at construction: no press until released and pressed again
    pins3 = SimPins(now_ms=0)
    orig = pins3.input

    def low_input(pin, pull=None, idle=None):
        p = orig(pin, pull, idle)
        p.level = 0
        return p
    pins3.input = low_input
    b3 = Button(pins3, 9)
    b3.when_pressed = r.pressed
    b3.when_held = r.held
    _run(pins3, b3, 2000)
    assert b3.is_pressed and r.events == []
    pins3.drive(9, 1)
    _run(pins3, b3, 50)
    pins3.drive(9, 0)
    _run(pins3, b3, 50)
    assert r.events == [("pressed", "9")]


def test_button_deadline_and_wake():
    pins, b, r = _button(bounce_ms=30)
    woken = []
    b.wake = lambda: woken.append(1)
    assert b.next_deadline_ms() is None
    pins.drive(4, 0)
    assert woken == [1]  # CPython: schedule runs at once
    assert b.next_deadline_ms() == pins.ticks_ms() + 30
    _run(pins, b, 40)
    assert b.next_deadline_ms() == b._pressed_ms + 1000


def test_relay_forced_off_at_construction():
    pins = SimPins(now_ms=0)
    Relay(pins, 23, active_low=False)
    Relay(pins, 24, active_low=True)
    assert pins.history == [(0, 23, 0), (0, 24, 1)]  # first level ever driven is "off"


def test_relay_active_levels():
    pins = SimPins(now_ms=0)
    hi = Relay(pins, 23, active_low=False)
    lo = Relay(pins, 24, active_low=True)
    hi.on()
    lo.on()
    assert pins.level(23) == 1 and pins.level(24) == 0
    hi.off()
    lo.off()
    assert pins.level(23) == 0 and pins.level(24) == 1


def test_relay_pulse_non_blocking():
    pins = SimPins(now_ms=5000)
    r = Relay(pins, 23, name="door")
    r.pulse(3000)
    assert r.is_on and pins.level(23) == 1
    assert r.next_deadline_ms() == 8000
    _run(pins, r, 2990)
    assert r.is_on
    _run(pins, r, 10)
    assert not r.is_on and pins.level(23) == 0
    assert pins.levels(23) == [0, 1, 0]


def test_relay_pulse_extends_not_shortens():
    pins = SimPins(now_ms=0)
    r = Relay(pins, 23)
    r.pulse(3000, 0)
    r.pulse(1000, 500)  # would end earlier: ignored
    r.poll(1600)
    assert r.is_on
    r.pulse(3000, 2000)  # ends later: extends to 5000
    r.poll(3100)
    assert r.is_on
    r.poll(5000)
    assert not r.is_on


def test_relay_max_on_guard():
    pins = SimPins(now_ms=0)
    r = Relay(pins, 23, max_on_ms=10000)
    r.on(0)
    r.poll(9999)
    assert r.is_on
    r.poll(10000)
    assert not r.is_on and r.guard_trips == 1 and pins.level(23) == 0
    r.pulse(60000, 20000)  # clamped to the guard
    r.poll(29999)
    assert r.is_on
    r.poll(30000)
    assert not r.is_on
    # repeated pulses cannot keep it on past the guard
    r.pulse(3000, 40000)
    for t in range(41000, 51000, 1000):
        r.pulse(3000, t)
        r.poll(t)
    assert not r.is_on and r.guard_trips == 2


def test_relay_guard_across_tick_wrap():
    start = (1 << 30) - 500  # ticks wrap at 2**30 on both interpreters
    pins = SimPins(now_ms=start)
    r = Relay(pins, 23, max_on_ms=1000)
    r.pulse(800)
    pins.advance(700)
    r.poll(pins.ticks_ms())
    assert r.is_on
    pins.advance(100)
    r.poll(pins.ticks_ms())
    assert not r.is_on


def test_relay_bad_pulse_rejected_and_stays_off():
    pins = SimPins(now_ms=0)
    r = Relay(pins, 23)
    for bad in (0, -5, "3000", 2.5, None):
        raises(ValueError, r.pulse, bad)
    assert not r.is_on and pins.level(23) == 0
    raises(ValueError, Relay, pins, 25, False, 0)


def test_relay_close_and_context_manager_on_exception():
    pins = SimPins(now_ms=0)
    try:
        with Relay(pins, 23, active_low=True) as r:
            r.on()
            assert pins.level(23) == 0
            raise KeyError("app crashed")
    except KeyError:
        pass
    assert pins.history[-1] == (0, 23, 1)
    assert not pins.has_pin(23)


def test_relay_write_failure_forces_off():
    pins = SimPins(now_ms=0)
    r = Relay(pins, 23)
    out = r.pin
    real = out.value
    calls = []

    def flaky(level):
        calls.append(level)
        if len(calls) == 1:
            raise OSError(5)
        real(level)
    out.value = flaky
    raises(OSError, r.on)
    assert not r.is_on and calls == [1, 0] and pins.level(23) == 0


def test_pins_close_drives_safe_levels():
    pins = SimPins(now_ms=0)
    a = Relay(pins, 23)
    b = Relay(pins, 24, active_low=True)
    a.on()
    b.on()
    pins.close()
    assert sorted(pins.history[-2:]) == [(0, 23, 0), (0, 24, 1)]


def test_pin_used_twice_rejected():
    pins = SimPins(now_ms=0)
    Relay(pins, 23)
    raises(ValueError, Led, pins, 23)
    raises(ValueError, pins.drive, 23, 1)  # outputs are not driven from outside


def test_led_patterns_timing():
    pins = SimPins(now_ms=0)
    led = Led(pins, 21)
    led.pattern("ringing")
    lit = []
    for _ in range(20):
        pins.advance(100)
        led.poll(pins.ticks_ms())
        lit.append(led.is_lit)
    # 500 on / 500 off: samples at 100..2000 ms
    assert lit == [True] * 4 + [False] * 5 + [True] * 5 + [False] * 5 + [True]
    led.pattern("in_call")
    _run(pins, led, 5000, 100)
    assert led.is_lit and pins.level(21) == 1
    led.pattern("off")
    assert not led.is_lit and pins.level(21) == 0


def test_led_every_named_pattern_exists_and_runs():
    for name in ("booting", "registering", "registered", "registration_failed", "ringing",
                 "calling", "in_call", "door_open", "error"):
        assert name in PATTERNS
        pins = SimPins(now_ms=0)
        led = Led(pins, 2, active_low=True)
        led.pattern(name)
        assert pins.level(2) == 0  # lit, active low
        _run(pins, led, 4000, 10)
        steps = PATTERNS[name]
        if len(steps) >= 2:
            assert 0 in pins.levels(2)[1:] and 1 in pins.levels(2)[1:], name
    raises(ValueError, Led(SimPins(now_ms=0), 3).pattern, "disco")


def test_led_late_poll_keeps_rhythm_or_restarts():
    pins = SimPins(now_ms=0)
    led = Led(pins, 21)
    led.pattern("registration_failed")  # 100 on, 200 off, 100 on, 1600 off
    led.poll(150)
    assert not led.is_lit
    led.poll(310)
    assert led.is_lit
    led.poll(410)
    assert not led.is_lit and led.next_deadline_ms() == 2000
    led.poll(100000)  # far behind: restart from now, lit
    assert led.is_lit and led.next_deadline_ms() == 100100


def test_make_pins_and_devices_from_board():
    from doorsip.board import validate_board
    board = validate_board({"runtime": "any", "march": None, "pins": "sim", "accept_any_name": True,
                            "buttons": {"bell": {"pin": "bell", "active_low": True, "pull": "up"}},
                            "relays": {"door": {"pin": "door", "active_low": True, "max_on_ms": 5000}},
                            "leds": {"status": {"pin": "status", "active_low": False}},
                            "audio": {"backend": "sim"}})
    pins = make_pins(board, now_ms=0)
    assert isinstance(pins, SimPins)
    bell = make_button(pins, board, "bell")
    door = make_relay(pins, board, "door", max_on_ms=10000)
    assert door.max_on_ms == 5000  # the board's rating is shorter
    assert make_relay(pins, board, "gate", max_on_ms=3000).max_on_ms == 3000
    assert pins.level("door") == 1  # active low: off
    led = make_led(pins, board, "status")
    led.pattern("booting")
    assert pins.level("status") == 1
    other = make_button(pins, board, "whatever")  # sim board: any name
    pins.drive("whatever", 0)
    _run(pins, other, 40)
    assert other.is_pressed and not bell.is_pressed
    raises(ValueError, make_pins, {"pins": "lpt"})


def _sim_board():
    from doorsip.board import validate_board
    return validate_board({"runtime": "any", "march": None, "pins": "sim", "accept_any_name": True,
                           "buttons": {"bell": {"pin": "bell", "active_low": True, "pull": "up"}},
                           "relays": {"door": {"pin": "door", "active_low": False}},
                           "leds": {"status": {"pin": "status", "active_low": False}},
                           "audio": {"backend": "sim"}})


def test_hardware_facade_for_the_app():
    from doorsip.config import validate
    cfg = validate({"buttons": {"bell": {"call": ["sip:a@b"]}, "side": {"call": ["sip:c@d"]}},
                    "doors": {"door": {"code": "1234", "max_on_ms": 4000, "pulse_ms": 3000},
                              "gate": {"code": "99"}}})
    log = []
    hw = Hardware(_sim_board(), cfg, on_button=lambda n, t: log.append(("button", n, t)),
                  on_relay=lambda n, s: log.append(("relay", n, s)),
                  on_led=lambda p: log.append(("led", p)), now_ms=0)
    pins = hw.pins
    assert sorted(hw.buttons) == ["bell", "side"] and sorted(hw.relays) == ["door", "gate"]
    assert hw.relays["door"].max_on_ms == 4000
    hw.led("booting")
    assert pins.level("status") == 1 and log == [("led", "booting")]
    hw.press("side")
    for t in range(10, 60, 10):
        pins.advance(10)
        hw.poll(pins.ticks_ms())
    assert ("button", "side", 30) in log
    hw.pulse("door", 3000, pins.ticks_ms())
    assert pins.level("door") == 1 and log[-1] == ("relay", "door", True)
    assert hw.next_deadline_ms() is not None
    pins.advance(3000)
    hw.poll(pins.ticks_ms())
    assert pins.level("door") == 0 and log[-1] == ("relay", "door", False)
    raises(ValueError, hw.pulse, "garage", 1000)
    hw.press("extra")  # sim board: any name can be pressed
    hw.pulse("gate", 1000)
    hw.close()
    assert pins.levels("gate") == [0, 1, 0] and not pins.has_pin("gate")
    assert log[-1] == ("relay", "gate", False)


def test_hardware_closes_on_construction_failure():
    from doorsip.config import validate
    from doorsip.board import validate_board, BoardError
    board = validate_board({"runtime": "any", "march": None, "pins": "sim",
                            "buttons": {}, "relays": {"door": {"pin": 1, "active_low": False}},
                            "leds": {}, "audio": {"backend": "sim"}})
    pins = SimPins(now_ms=0)
    raises(BoardError, Hardware, board, validate({"doors": {"garage": {"code": "1"}}}), pins)
    assert not pins.has_pin(1)


def test_poll_task_ends_a_pulse_in_real_time():
    import sys
    if ".frozen" not in sys.path:
        sys.path.append(".frozen")  # MicroPython's asyncio is frozen; MICROPYPATH hides it
    import asyncio
    from doorsip.hal.devices import poll_task
    from doorsip.compat import ticks_ms, ticks_diff
    pins = SimPins()  # real clock
    relay = Relay(pins, 23)

    async def main():
        task = asyncio.create_task(poll_task([relay], pins, 5))
        start = ticks_ms()
        relay.pulse(30)
        while relay.is_on and ticks_diff(ticks_ms(), start) < 1000:
            await asyncio.sleep(0.005)
        task.cancel()
        return ticks_diff(ticks_ms(), start)

    elapsed = asyncio.run(main())
    assert not relay.is_on and pins.level(23) == 0
    assert 30 <= elapsed < 500, elapsed


def test_hardware_builds_indoor_buttons_for_indoor_role():
    from doorsip.config import validate
    pressed = []
    hw = Hardware(_sim_board(), validate({"role": "indoor", "indoor": {"hangup_button": "end"}}),
                  on_button=lambda n, t: pressed.append(n), now_ms=0)
    # the sim board takes any name: only the config's buttons are built up front
    assert sorted(hw.buttons) == ["answer", "end", "open"]
    hw.press("end")
    hw.poll(40)
    hw.press("end", False)
    hw.poll(80)
    assert pressed == ["end"]
    # a board button the config does not name still works, built at its first press
    hw.press("bell")
    hw.poll(120)
    hw.press("bell", False)
    hw.poll(160)
    assert pressed == ["end", "bell"] and "bell" in hw.buttons
    hw.close()


def test_a_fixed_board_builds_all_its_buttons():
    from doorsip.config import validate
    from doorsip.board import validate_board
    board = validate_board({"runtime": "any", "march": None, "pins": "sim",
                            "buttons": {"bell": {"pin": 1, "active_low": True, "pull": "up"},
                                        "spare": {"pin": 2, "active_low": True, "pull": "up"}},
                            "relays": {"door": {"pin": 3, "active_low": False}},
                            "leds": {}, "audio": {"backend": "sim"}})
    hw = Hardware(board, validate({"buttons": {"bell": {"call": ["sip:a@b"]}}}), now_ms=0)
    assert sorted(hw.buttons) == ["bell", "spare"]
    hw.close()

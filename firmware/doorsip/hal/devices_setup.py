"""Boot-time helpers of hal/devices.py: devices.Hardware runs build() once and
then forgets this module, so a MicroPython station gets its code's heap back.
make_pins, make_button, make_relay, make_led, poll_task and PATTERNS are reached
as devices.X (documented there).
"""
from doorsip.hal.devices import _PATTERN_NAMES, _PATTERN_STEPS, Button, Led, Relay



def __getattr__(name):
    # PATTERNS: {name: durations in ms} of every LED pattern (tests, tools), built
    # on request; the table counts in steps of devices._STEP_MS = 50 ms.
    if name != "PATTERNS":
        raise AttributeError(name)
    patterns = {}
    at = 0  # each pattern: a count, then that many steps
    for key in _PATTERN_NAMES:
        n = _PATTERN_STEPS[at]
        patterns[key] = tuple(_PATTERN_STEPS[i] * 50 for i in range(at + 1, at + 1 + n))
        at += n + 1
    return patterns


def make_pins(board, **options):
    """The pin backend the board names ("pins": "sim" | "gpiozero" | "mpy")."""
    backend = board.get("pins")
    if backend == "sim":
        from doorsip.hal.sim_pins import SimPins
        return SimPins(**options)
    if backend == "gpiozero":
        try:
            from doorsip.hal.gpiozero_pins import GpiozeroPins
        except ImportError as exc:
            raise ValueError("board %s: gpiozero not importable (%s)" % (board.get("name"), exc))
        return GpiozeroPins(**options)
    if backend == "mpy":
        from doorsip.hal.mpy_pins import MpyPins
        return MpyPins(**options)
    raise ValueError("board pins %r: not sim, gpiozero, mpy" % (backend,))


def make_button(pins, board, name):
    s = device_spec(board, "buttons", name)
    return Button(pins, s["pin"], s["active_low"], s.get("pull"), s.get("bounce_ms", 30),
                  s.get("hold_ms", 1000), name)


def add_button(hw, name):
    """The board's button `name`, into hw.buttons, reporting presses to hw."""
    button = hw.buttons[name] = make_button(hw.pins, hw.board, name)
    button.when_pressed = hw.when_pressed
    return button


def make_relay(pins, board, name, max_on_ms=None):
    """max_on_ms: the config's guard (doors.<name>.max_on_ms); the board's hardware
    rating applies when it is shorter."""
    s = device_spec(board, "relays", name)
    limit = s.get("max_on_ms", 600000)
    if max_on_ms is not None:
        limit = min(limit, max_on_ms)
    return Relay(pins, s["pin"], s["active_low"], limit, name)


def make_led(pins, board, name):
    s = device_spec(board, "leds", name)
    return Led(pins, s["pin"], s["active_low"], s.get("type", "gpio"), s.get("color"), name)


def build(hw, board, config, pins, pin_options):
    """Every device the board and config name, into hw (a devices.Hardware)."""
    hw.pins = pins if pins is not None else make_pins(board, **pin_options)
    hw._now = hw.pins.ticks_ms()
    try:
        # A board that takes any name (the sim board) builds only the buttons the
        # config names; the others appear at their first press (Hardware.press).
        # Each one built costs ~0.7 KB of MicroPython heap for a station's life.
        names = [] if board.get("accept_any_name") else list(board["buttons"])
        for name in config.get("buttons") or {}:
            if name not in names and not name.startswith("_"):
                names.append(name)
        if config.get("role") == "indoor":
            indoor = config.get("indoor") or {}
            for key in ("answer_button", "open_button", "hangup_button"):
                name = indoor.get(key)
                if name and name not in names:
                    names.append(name)
        for name in names:
            add_button(hw, name)
        doors = config.get("doors") or {}
        relay_names = list(board["relays"])
        for name in doors:
            if name not in relay_names and not name.startswith("_"):
                relay_names.append(name)
        for name in relay_names:
            door = doors.get(name) or {}
            hw.relays[name] = make_relay(hw.pins, board, name, door.get("max_on_ms"))
            hw._relay_on[name] = False
        leds = board["leds"]
        name = "status" if "status" in leds else (sorted(leds)[0] if leds else None)
        hw.status = make_led(hw.pins, board, name) if name else None
    except BaseException:
        hw.close()
        raise


async def poll_task(devices, pins, period_ms=10):
    """Poll every device each period_ms on the backend's clock, forever."""
    import asyncio
    sleep_ms = getattr(asyncio, "sleep_ms", None)
    while True:
        now = pins.ticks_ms()
        for device in devices:
            device.poll(now)
        if sleep_ms is not None:
            await sleep_ms(period_ms)
        else:
            await asyncio.sleep(period_ms / 1000)


def device_spec(board, kind, name):
    """The board's spec of button/relay/led `name`; on an accept_any_name board a
    missing name gets a pin of its own name (the sim board)."""
    spec = board[kind].get(name)
    if spec is not None:
        return spec
    if board.get("accept_any_name"):
        spec = {"pin": name, "active_low": kind == "buttons"}
        if kind == "buttons":
            spec.update({"pull": "up", "bounce_ms": 30, "hold_ms": 1000})
        elif kind == "relays":
            spec["max_on_ms"] = 600000
        else:
            spec["type"] = "gpio"
        return spec
    # board.py is boot code, released once the board is checked: load it again
    # only for this error.
    from doorsip.board import BoardError
    raise BoardError(kind + "." + name, "board %s has no such %s (it has: %s)"
                     % (board.get("name"), kind[:-1], ", ".join(sorted(board[kind])) or "none"))

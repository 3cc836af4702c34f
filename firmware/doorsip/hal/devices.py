"""Devices in the user's words (Button, Relay, Led) over a tiny pin interface.

Pin backends (one module each, chosen by the board's "pins": make_pins(board)):
  hal/sim_pins.SimPins, hal/gpiozero_pins.GpiozeroPins, hal/mpy_pins.MpyPins.
Every backend offers:
  pins.ticks_ms() -> int                   the clock devices use when now_ms is None
  pins.input(pin, pull, idle) -> in_pin    pull "up"|"down"|None; idle: resting level
  in_pin.value() -> 0|1                    raw level
  in_pin.irq(handler)                      handler(arg) on every edge (None removes);
                                           on MicroPython it runs in IRQ context
  pins.output(pin, level, kind="gpio", color=None) -> out_pin   level set before driving
  out_pin.value(level); out_pin.close()    close() drives the level given at creation
  pins.close()                             closes every output (safe levels)

Devices (time is a ticks_ms value passed in as now_ms, or the backend's clock):
  Button(pins, pin, active_low=True, pull="up", bounce_ms=30, hold_ms=1000, name=None)
    .when_pressed / .when_released / .when_held = callable(button); .is_pressed;
    .poll(now_ms) commits a level that stayed put for bounce_ms and fires callbacks;
    .wake = callable run (from micropython.schedule, not the IRQ) after an edge, e.g.
    an asyncio ThreadSafeFlag's set, so the poll task need not spin. With gpiozero
    it runs in gpiozero's thread: wrap it in loop.call_soon_threadsafe there.
  Relay(pins, pin, active_low=False, max_on_ms=600000, name=None)
    off at construction; .on(now_ms=None), .off(), .pulse(ms, now_ms=None) non-blocking,
    .poll(now_ms) ends pulses and forces off after max_on_ms on (.guard_trips counts);
    .close(); a context manager (closed on exit and on any exception).
  Led(pins, pin, active_low=False, kind="gpio", color=None, name=None)
    .pattern(name, now_ms=None) with names in PATTERNS, .on(), .off(), .poll(now_ms).
  next_deadline_ms() on each: the ticks value of the next change, or None;
  .pin on each: its in_pin / out_pin (as gpiozero's devices have theirs).
  make_pins(board, **kw), make_button/make_relay/make_led(pins, board, name),
  async poll_task(devices, pins, period_ms=10).
  Hardware(board, config, pins=None, on_button=None, on_relay=None, on_led=None)
    every device a station uses, as app/intercom's `hw`: .led(pattern),
    .pulse(name, ms) (a relay), .poll(now_ms) (fires on_button(name, now_ms) and
    on_relay(name, state)), .next_deadline_ms(), .press(name, down) for the sim
    protocol (drives the pin as a finger would), .close() (relays off).
"""
from doorsip.compat import Closing, const, forget, schedule, ticks_add, ticks_diff


# LED patterns: durations alternately on and off, starting with on, repeated; none
# is steady off, a single 0 steady on. Distinct rhythms so a pattern can be told
# from a glance at the door: fast = attention, slow = waiting, mostly-on = all is
# well. Kept as a bytes table (a dict of tuples took 0.9 KB of heap): for each name
# in _PATTERN_NAMES in turn, a count, then that many durations in units of 50 ms.
# Reading it allocates nothing (Led.pattern may run with the heap locked).
# devices.PATTERNS builds the {name: durations in ms} dict on request.
# The names are a list, not a tuple: mpy-cross stores a tuple of constants as one
# object whose strings are str objects of their own (~48 bytes each); a list is built
# at import from the names as qstrs (the ones app/intercom passes in).
_PATTERN_NAMES = ["off", "on", "booting", "registering", "registered", "registration_failed",
                  "ringing", "calling", "in_call", "door_open", "error"]
_PATTERN_STEPS = (b"\x00"                       # off
                  b"\x01\x00"                   # on
                  b"\x02\x02\x02"               # booting: 100, 100
                  b"\x02\x04\x10"               # registering: 200, 800
                  b"\x02\x26\x02"               # registered: 1900, 100
                  b"\x04\x02\x04\x02\x20"       # registration_failed: 100, 200, 100, 1600
                  b"\x02\x0a\x0a"               # ringing: 500, 500
                  b"\x02\x14\x14"               # calling: 1000, 1000
                  b"\x01\x00"                   # in_call: steady on
                  b"\x02\x01\x01"               # door_open: 50, 50
                  b"\x06\x02\x02\x02\x02\x02\x1e")  # error: 5 x 100, then 1500 off
_STEP_MS = const(50)


class Button:
    def __init__(self, pins, pin, active_low=True, pull="up", bounce_ms=30, hold_ms=1000,
                 name=None, now_ms=None):
        self.name = name if name is not None else str(pin)
        self.bounce_ms = bounce_ms
        self.hold_ms = hold_ms
        self.when_pressed = None
        self.when_released = None
        self.when_held = None
        self.wake = None
        self.presses = 0
        self._on_level = 0 if active_low else 1
        self.ticks_ms = pins.ticks_ms
        now = self.ticks_ms() if now_ms is None else now_ms
        self.pin = pins.input(pin, pull, 1 - self._on_level)
        self._raw = self.pin.value()
        # A button already down at boot is not a press: it must be released first.
        self.is_pressed = self._raw == self._on_level
        self._held = self.is_pressed
        self._changed_ms = now
        self._pressed_ms = now
        self._edge_ms = None  # tick of an edge the IRQ saw and poll() has not
        self._scheduled = False
        # The bound method made once, cached under its own name: the IRQ must not
        # allocate (DESIGN.md section 2).
        self._after_edge = self._after_edge
        self.pin.irq(self._irq)

    def _irq(self, pin):
        # IRQ context on MicroPython: record the tick and defer the rest.
        self._edge_ms = self.ticks_ms()
        if not self._scheduled:
            self._scheduled = True
            try:
                schedule(self._after_edge, 0)
            except RuntimeError:  # schedule queue full: the next poll sees the edge
                self._scheduled = False

    def _after_edge(self, arg):
        self._scheduled = False
        wake = self.wake
        if wake is not None:
            wake()

    def poll(self, now_ms=None):
        now = self.ticks_ms() if now_ms is None else now_ms
        raw = self.pin.value()
        edge = self._edge_ms
        if edge is not None:
            # Any edge restarts the quiet period, even a glitch already gone.
            self._edge_ms = None
            self._changed_ms = edge
        if raw != self._raw:
            self._raw = raw
            if edge is None:  # polled without an IRQ: the change happened by now
                self._changed_ms = now
        pressed = raw == self._on_level
        if pressed != self.is_pressed and ticks_diff(now, self._changed_ms) >= self.bounce_ms:
            self.is_pressed = pressed
            if pressed:
                self._pressed_ms = self._changed_ms
                self._held = False
                self.presses += 1
                if self.when_pressed is not None:
                    self.when_pressed(self)
            elif self.when_released is not None:
                self.when_released(self)
        if self.is_pressed and not self._held and \
                ticks_diff(now, self._pressed_ms) >= self.hold_ms:
            self._held = True
            if self.when_held is not None:
                self.when_held(self)

    def next_deadline_ms(self):
        if (self._raw == self._on_level) != self.is_pressed or self._edge_ms is not None:
            return ticks_add(self._changed_ms, self.bounce_ms)
        if self.is_pressed and not self._held:
            return ticks_add(self._pressed_ms, self.hold_ms)
        return None

    def close(self):
        self.pin.irq(None)


class Relay(Closing):
    def __init__(self, pins, pin, active_low=False, max_on_ms=600000, name=None):
        if type(max_on_ms) is not int or max_on_ms <= 0:
            raise ValueError("%s: not a positive integer of ms: %r" % ("max_on_ms", max_on_ms))
        self.name = name if name is not None else str(pin)
        self.max_on_ms = max_on_ms
        self.is_on = False
        self.guard_trips = 0
        self._on_level = 0 if active_low else 1
        self.ticks_ms = pins.ticks_ms
        self._off_at = None
        self._guard_at = None
        # Off from the first instant: the backend sets the level before driving the pin.
        self.pin = pins.output(pin, 1 - self._on_level)

    def _set(self, on):
        try:
            self.pin.value(self._on_level if on else 1 - self._on_level)
        except BaseException:
            self.is_on = False
            try:
                self.pin.value(1 - self._on_level)
            except BaseException:
                pass
            raise
        self.is_on = on

    def on(self, now_ms=None, ms=None):
        """On until off(), but never longer than max_on_ms; pulse() passes ms."""
        now = self.ticks_ms() if now_ms is None else now_ms
        if not self.is_on:
            self._guard_at = ticks_add(now, self.max_on_ms)
        if ms is None:
            self._off_at = None
        else:
            end = ticks_add(now, min(ms, self.max_on_ms))
            # A second pulse while on extends to the later end (the guard still rules).
            if self._off_at is None or not self.is_on or ticks_diff(end, self._off_at) > 0:
                self._off_at = end
        self._set(True)

    def off(self):
        self._off_at = None
        self._guard_at = None
        self._set(False)

    def pulse(self, ms, now_ms=None):
        """On for ms (at most max_on_ms); poll() turns it off. Non-blocking."""
        if type(ms) is not int or ms <= 0:
            raise ValueError("%s: not a positive integer of ms: %r" % ("pulse", ms))
        self.on(now_ms, ms)

    def poll(self, now_ms=None):
        if not self.is_on:
            return
        now = self.ticks_ms() if now_ms is None else now_ms
        if self._off_at is not None and ticks_diff(now, self._off_at) >= 0:
            self.off()
        elif ticks_diff(now, self._guard_at) >= 0:
            self.guard_trips += 1
            self.off()

    def next_deadline_ms(self):
        if not self.is_on:
            return None
        if self._off_at is not None and ticks_diff(self._off_at, self._guard_at) < 0:
            return self._off_at
        return self._guard_at

    def close(self):
        try:
            self.off()
        finally:
            self.pin.close()


class Led:
    def __init__(self, pins, pin, active_low=False, kind="gpio", color=None, name=None):
        self.name = name if name is not None else str(pin)
        self.pattern_name = "off"
        self._on_level = 0 if active_low else 1
        self.ticks_ms = pins.ticks_ms
        self._at = 0      # the pattern's count in _PATTERN_STEPS ("off": none)
        self._step = 0
        self._step_end = 0
        self.is_lit = False
        self.pin = pins.output(pin, 1 - self._on_level, kind, color)

    def _set(self, on):
        if on != self.is_lit:
            self.pin.value(self._on_level if on else 1 - self._on_level)
            self.is_lit = on

    def pattern(self, name, now_ms=None):
        if name not in _PATTERN_NAMES:
            raise ValueError("unknown LED pattern %r (known: %s)"
                             % (name, ", ".join(sorted(_PATTERN_NAMES))))
        at = 0  # the offset of the pattern's count in _PATTERN_STEPS
        for _ in range(_PATTERN_NAMES.index(name)):
            at += _PATTERN_STEPS[at] + 1
        now = self.ticks_ms() if now_ms is None else now_ms
        self.pattern_name = name
        self._at = at
        self._step = 0
        if not _PATTERN_STEPS[at]:
            self._set(False)
        else:
            self._set(True)
            if _PATTERN_STEPS[at + 1]:
                self._step_end = ticks_add(now, _PATTERN_STEPS[at + 1] * _STEP_MS)

    def on(self, now_ms=None):
        self.pattern("on", now_ms)

    def off(self, now_ms=None):
        self.pattern("off", now_ms)

    def poll(self, now_ms=None):
        at = self._at
        n = _PATTERN_STEPS[at]
        if n < 2:
            return
        now = self.ticks_ms() if now_ms is None else now_ms
        at += 1  # the first duration
        # Catch up step by step so a late poll keeps the rhythm (at most one cycle).
        for _ in range(n):
            if ticks_diff(now, self._step_end) < 0:
                break
            self._step = (self._step + 1) % n
            self._step_end = ticks_add(self._step_end, _PATTERN_STEPS[at + self._step] * _STEP_MS)
        else:
            # Far behind (no poll for a whole cycle): restart the pattern from now.
            self._step = 0
            self._step_end = ticks_add(now, _PATTERN_STEPS[at] * _STEP_MS)
        self._set(self._step % 2 == 0)

    def next_deadline_ms(self):
        return self._step_end if _PATTERN_STEPS[self._at] >= 2 else None

    def close(self):
        self.pin.close()


def __getattr__(name):
    # Boot-time and test helpers (make_pins, make_button, make_relay, make_led,
    # poll_task) and PATTERNS ({name: durations in ms} of every LED pattern) live
    # in devices_setup; not cached here so it can be forgotten.
    # (Compared one by one: a tuple of the names would hold six str objects.)
    if not (name == "make_pins" or name == "make_button" or name == "make_relay"
            or name == "make_led" or name == "poll_task" or name == "PATTERNS"):
        raise AttributeError(name)
    from doorsip.hal import devices_setup
    return getattr(devices_setup, name)


class Hardware(Closing):
    def __init__(self, board, config, pins=None, on_button=None, on_relay=None, on_led=None,
                 **pin_options):
        self.board = board
        self.on_button = on_button
        self.on_relay = on_relay
        self.on_led = on_led
        self.buttons = {}
        self.relays = {}
        self._relay_on = {}
        self.status = None
        # Which devices (from board and config) is boot-only code: forgotten once
        # done, so a MicroPython station gets its heap back (as config.release()).
        from doorsip.hal import devices_setup
        try:
            devices_setup.build(self, board, config, pins, pin_options)
        finally:
            forget(devices_setup.__name__)

    def when_pressed(self, button):
        # every button's when_pressed: on_button(name, the poll's now_ms)
        if self.on_button is not None:
            self.on_button(button.name, self._now)

    def led(self, pattern, now_ms=None):
        if self.status is not None:
            self.status.pattern(pattern, now_ms)
        if self.on_led is not None:
            self.on_led(pattern)

    def pulse(self, name, ms, now_ms=None):
        relay = self.relays.get(name)
        if relay is None:
            raise ValueError("no relay named %r" % (name,))
        relay.pulse(ms, now_ms)
        self._report(name, relay)

    def _report(self, name, relay):
        if relay.is_on != self._relay_on[name]:
            self._relay_on[name] = relay.is_on
            if self.on_relay is not None:
                self.on_relay(name, relay.is_on)

    def press(self, name, down=True):
        """Drive a button's pin as a finger would (sim board); poll() debounces it."""
        button = self.buttons.get(name)
        if button is None:  # BoardError unless the board takes any name
            from doorsip.hal import devices_setup
            try:
                button = devices_setup.add_button(self, name)
            finally:
                forget(devices_setup.__name__)
        # The SimPin knows its number (board.py may be released after boot).
        level = button._on_level
        self.pins.drive(button.pin.pin, level if down else 1 - level)

    def poll(self, now_ms=None):
        now = self.pins.ticks_ms() if now_ms is None else now_ms
        self._now = now
        for button in self.buttons.values():
            button.poll(now)
        for name in self.relays:
            relay = self.relays[name]
            relay.poll(now)
            self._report(name, relay)
        if self.status is not None:
            self.status.poll(now)

    def next_deadline_ms(self):
        soonest = None
        for group in (self.buttons.values(), self.relays.values(), (self.status,)):
            for device in group:
                t = device.next_deadline_ms() if device is not None else None
                if t is not None and (soonest is None or ticks_diff(t, soonest) < 0):
                    soonest = t
        return soonest

    def close(self):
        """Relays off first (the one thing that must not stay on), then every pin."""
        for name in self.relays:
            try:
                self.relays[name].close()
                self._report(name, self.relays[name])
            except Exception:
                pass
        self.pins.close()

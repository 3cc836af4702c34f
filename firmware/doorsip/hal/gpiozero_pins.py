"""Pin backend for the Raspberry Pi: gpiozero's Button and DigitalOutputDevice.

GpiozeroPins(pin_factory=None): None uses gpiozero's default factory (lgpio, RPi.GPIO,
...; tests set Device.pin_factory = MockFactory()). Pins are BCM numbers. Debounce
stays in devices.Button (gpiozero's bounce_time is off) so every backend behaves alike.
gpiozero calls edge handlers from its own thread: Button's handler only records a
tick and a flag, which is safe there; the state changes happen in poll().
"""
from doorsip.compat import ticks_ms as _ticks_ms

from gpiozero import Button as _GzButton, DigitalOutputDevice as _GzOutput


class GpiozeroInput:
    def __init__(self, device):
        self.device = device
        self._handler = None

    def value(self):
        # The raw level, whatever gpiozero thinks "active" is.
        return 1 if self.device.pin.state else 0

    def _edge(self, _device):
        handler = self._handler
        if handler is not None:
            handler(self)

    def irq(self, handler):
        self._handler = handler
        edge = self._edge if handler is not None else None
        self.device.when_pressed = edge
        self.device.when_released = edge

    def close(self):
        self.irq(None)
        self.device.close()


class GpiozeroOutput:
    def __init__(self, device, safe_level):
        self.device = device
        self.safe_level = safe_level

    def value(self, level):
        if level:
            self.device.on()
        else:
            self.device.off()

    def close(self):
        if self.device.closed:
            return
        try:
            self.value(self.safe_level)
        finally:
            self.device.close()


class GpiozeroPins:
    name = "gpiozero"

    def __init__(self, pin_factory=None):
        self._factory = pin_factory
        self._outputs = []

    def ticks_ms(self):
        return _ticks_ms()

    def input(self, pin, pull=None, idle=None):
        if pull == "up":
            device = _GzButton(pin, pull_up=True, bounce_time=None, pin_factory=self._factory)
        elif pull == "down":
            device = _GzButton(pin, pull_up=False, bounce_time=None, pin_factory=self._factory)
        else:
            # External pull: gpiozero needs to know which level is "active"; the
            # opposite of the resting level.
            device = _GzButton(pin, pull_up=None, active_state=(idle == 0), bounce_time=None,
                               pin_factory=self._factory)
        return GpiozeroInput(device)

    def output(self, pin, level, kind="gpio", color=None):
        if kind != "gpio":
            raise ValueError("gpiozero backend drives plain GPIO outputs only, not %r" % (kind,))
        level = 1 if level else 0
        # active_high with initial_value: the pin starts at `level`, no glitch.
        device = _GzOutput(pin, active_high=True, initial_value=bool(level),
                           pin_factory=self._factory)
        out = GpiozeroOutput(device, level)
        self._outputs.append(out)
        return out

    def close(self):
        for out in self._outputs:
            out.close()
        self._outputs = []

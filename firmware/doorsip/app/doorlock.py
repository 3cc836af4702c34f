# Door codes: collecting the digits a caller sends, deciding when an attempt ends,
# counting wrong attempts and locking a door out (DESIGN.md section 4, `doors`).
#
# The door opens as soon as the digits received in the call END with a door's code,
# so a resident who mistypes and retypes without '#' still gets in. '#' or '*' or
# 3 s without a digit ends an attempt; an ended attempt that opened nothing counts
# as wrong for every door not already locked. max_wrong wrong attempts lock that
# door for lockout_s: while locked, even the right code does not open it.
from doorsip.compat import const, ticks_add, ticks_diff

_ATTEMPT_GAP_MS = const(3000)
_MAX_DIGITS = const(32)  # bounded: a caller holding a key down cannot grow memory

# Verdicts of feed() and poll() (app/intercom.py has the same values: private
# const()s cost no heap, public ones a dict entry and a name each).
_OPENED = const(1)
_REJECTED = const(2)
_LOCKED_OUT = const(3)  # this attempt locked a door out (REJECTED as well)
_IGNORED = const(4)  # digit while every door is locked


def codes_match(received, code):
    """True when `received` ends with `code`, in time that does not depend on where
    they differ (no early exit), so timing does not leak how much of a guess was right."""
    n = len(code)
    if n == 0 or len(received) < n:
        return False
    tail = received[len(received) - n:]
    diff = 0
    for i in range(n):
        diff |= ord(tail[i]) ^ ord(code[i])
    return diff == 0


class Door:
    """One door: its relay name, code, and wrong-attempt / lockout state."""

    def __init__(self, name, code, pulse_ms, max_wrong, lockout_s):
        self.name = name
        self.code = code
        self.pulse_ms = pulse_ms
        self.max_wrong = max_wrong
        self.lockout_ms = lockout_s * 1000
        self.wrong = 0
        self.locked_until = None

    def locked(self, now_ms):
        if self.locked_until is None:
            return False
        if ticks_diff(self.locked_until, now_ms) > 0:
            return True
        self.locked_until = None
        self.wrong = 0
        return False


class CodeEntry:
    """Digits of the current call, matched against every door.

    feed() returns None (keep collecting), OPENED (`opened` is the door), REJECTED,
    LOCKED_OUT (`locked_now` lists the doors this attempt locked) or IGNORED;
    poll() ends an attempt after 3 s of silence.
    """

    def __init__(self, doors):
        self.doors = doors
        self.digits = ""
        self._last_ms = None
        self.opened = None
        self.locked_now = []

    def reset(self):
        self.digits = ""
        self._last_ms = None

    def feed(self, digit, now_ms):
        self.opened = None
        self.locked_now = []
        for door in self.doors:
            if not door.locked(now_ms):
                break
        else:
            self.reset()
            return _IGNORED
        self._last_ms = now_ms
        if digit in "#*":
            return self._end_attempt(now_ms)
        digits = self.digits + digit
        if len(digits) > _MAX_DIGITS:
            digits = digits[len(digits) - _MAX_DIGITS:]
        self.digits = digits
        for door in self.doors:
            if not door.locked(now_ms) and codes_match(digits, door.code):
                door.wrong = 0
                self.reset()
                self.opened = door
                return _OPENED
        return None

    def poll(self, now_ms):
        """End an attempt after the 3 s gap; same verdicts as feed()."""
        if self._last_ms is None or not self.digits:
            return None
        if ticks_diff(now_ms, ticks_add(self._last_ms, _ATTEMPT_GAP_MS)) < 0:
            return None
        self.opened = None
        self.locked_now = []
        return self._end_attempt(now_ms)

    def deadline_ms(self):
        if self._last_ms is None or not self.digits:
            return None
        return ticks_add(self._last_ms, _ATTEMPT_GAP_MS)

    def _end_attempt(self, now_ms):
        had_digits = bool(self.digits)
        self.reset()
        if not had_digits:
            return None  # a lone '#' is not an attempt
        for door in self.doors:
            if door.locked(now_ms):
                continue
            door.wrong += 1
            if door.wrong >= door.max_wrong:
                door.locked_until = ticks_add(now_ms, door.lockout_ms)
                self.locked_now.append(door)
        return _LOCKED_OUT if self.locked_now else _REJECTED

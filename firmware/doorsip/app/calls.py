# A button's call list (DESIGN.md section 4, `buttons.<name>`): whom the station
# rings, in which order, for how long.
#
# sequential: one target at a time; the next after ring_timeout_s, a busy or a
#   decline (any final non-2xx), until one answers or the list is exhausted.
# parallel:   every target at once; the first to answer wins and the others are
#   cancelled (RFC 3261 9.1); a late second answer is hung up by the caller of
#   on_answered (it gets False back). ring_timeout_s cancels all.
#
# The list speaks to the phone through two calls only: call(target) -> handle and
# cancel(handle), and it is told on_answered / on_failed. start, on_failed and poll
# return True when the list is exhausted (no leg left ringing, none answered).
from doorsip.compat import ticks_add, ticks_diff


class CallList:
    def __init__(self, phone, targets, mode, ring_timeout_ms):
        self.phone = phone
        self.targets = targets
        self.mode = mode
        self.ring_timeout_ms = ring_timeout_ms
        self.next_index = 0
        self.pending = {}  # handle -> (target, ring deadline_ms)
        self.winner = None
        self.last_failure = None  # status or reason of the most recent failed leg

    def start(self, now_ms):
        if self.mode == "parallel":
            while self.next_index < len(self.targets):
                self._dial_next(now_ms)
        else:
            self._dial_next(now_ms)
        return not self.pending

    def _dial_next(self, now_ms):
        target = self.targets[self.next_index]
        self.next_index += 1
        handle = self.phone.call(target)
        if handle is not None:
            self.pending[handle] = (target, ticks_add(now_ms, self.ring_timeout_ms))
        else:
            self.last_failure = "unreachable"

    def owns(self, handle):
        return handle in self.pending or handle == self.winner

    def target_of(self, handle):
        leg = self.pending.get(handle)
        return leg[0] if leg else None

    def on_answered(self, handle, now_ms):
        """True if this answer wins the list; the others are cancelled."""
        if handle not in self.pending or self.winner is not None:
            return False
        self.winner = handle
        del self.pending[handle]
        self.abort()
        return True

    def on_failed(self, handle, status, now_ms):
        """A leg ended without answer (final non-2xx, timeout, error)."""
        if handle not in self.pending:
            return False
        del self.pending[handle]
        self.last_failure = status
        return self._advance(now_ms)

    def poll(self, now_ms):
        """Ring timeouts: cancel the legs whose time is up and move on."""
        if self.winner is not None:
            return False
        expired = None
        for handle in self.pending:
            if ticks_diff(now_ms, self.pending[handle][1]) >= 0:
                if expired is None:
                    expired = []
                expired.append(handle)
        if expired is None:
            return False
        for handle in expired:
            del self.pending[handle]
            self.phone.cancel(handle)
        self.last_failure = "ring_timeout"
        return self._advance(now_ms)

    def deadline_ms(self):
        best = None
        for handle in self.pending:
            d = self.pending[handle][1]
            if best is None or ticks_diff(d, best) < 0:
                best = d
        return best

    def abort(self):
        """Cancel every leg still ringing."""
        for handle in list(self.pending):
            self.phone.cancel(handle)
        self.pending = {}

    def _advance(self, now_ms):
        if self.winner is not None:
            return False
        if self.mode == "sequential":
            while not self.pending and self.next_index < len(self.targets):
                self._dial_next(now_ms)
        return not self.pending

# The intercom policy for both roles (DESIGN.md section 1, app/): which button calls
# whom, what an incoming call may do, which digits open which door, LED patterns,
# registration retries. Sans-IO like the SIP core: the runtime glue tells it what
# happened (on_* methods, with now_ms) and calls poll(now_ms) by next_deadline_ms();
# it acts only through two small objects:
#   phone: call(target) -> handle or None, cancel(h), hangup(h), answer(h),
#          ring(h), reject(h, status), send_digits(h, digits, method),
#          register(), keepalive()
#   hw:    led(pattern), pulse(relay_name, ms)
# and reports through events.emit(name, fields).
#
# door role:   bell -> call list; the door code from any DTMF method opens a relay;
#              incoming calls by allowlist (auto-answer, else 486; not allowed 403).
# indoor role: an incoming call rings and is answered by a button or after a delay;
#              the `open` button sends the door code; `hangup` ends or declines.
from doorsip.compat import const, ticks_add, ticks_diff
from doorsip.app.calls import CallList
from doorsip.app.doorlock import CodeEntry, Door


_IDLE = const(0)
_CALLING = const(1)  # a call list is ringing out
_INCOMING = const(2)  # an incoming call is ringing here
_IN_CALL = const(3)

_REG_RETRY_MIN_MS = const(2000)
_REG_RETRY_MAX_MS = const(300000)
_KEEPALIVE_MS = const(25000)  # NAT bindings for UDP often last 30 s

_BUSY_HERE = const(486)
_FORBIDDEN = const(403)

# doorlock.CodeEntry's verdicts (module-private there too: const()s cost no heap)
_OPENED = const(1)
_REJECTED = const(2)
_LOCKED_OUT = const(3)
_IGNORED = const(4)


def uri_key(uri):
    """user@host of a SIP URI or name-addr, lower-cased host, for allowlist matching:
    sip:flat200@pbx.example.org;transport=udp and "Flat" <sip:flat200@PBX.example.org>
    are the same party."""
    lt = uri.find("<")
    if lt >= 0:
        gt = uri.find(">", lt)
        uri = uri[lt + 1:gt if gt > 0 else len(uri)]
    colon = uri.find(":")
    # (Two comparisons: a tuple of constant strings would hold str objects for good.)
    scheme = uri[:colon].lower() if colon >= 0 else None
    if scheme == "sip" or scheme == "sips":
        uri = uri[colon + 1:]
    for sep in ";?>":
        cut = uri.find(sep)
        if cut >= 0:
            uri = uri[:cut]
    at = uri.find("@")
    if at < 0:
        return uri.lower()
    host = uri[at + 1:].lower()
    colon = host.find(":")
    if colon >= 0 and host[colon + 1:] == "5060":
        host = host[:colon]
    return uri[:at] + "@" + host


class Intercom:
    def __init__(self, config, phone, hw, events, now_ms):
        self.config = config
        self.role = config.get("role", "door")
        self.phone = phone
        self.hw = hw
        self.events = events
        self.state = _IDLE
        self.call_list = None
        self.call = None  # handle of the call in progress (answered or ringing in)
        self.caller = None  # the other party of self.call
        self.call_started_ms = None
        self.call_deadline_ms = None  # maximum call length
        self.hangup_at_ms = None  # hang up a few seconds after the door opened
        self.answer_at_ms = None  # auto-answer of an incoming call
        self.ring_deadline_ms = None  # indoor: stop ringing, decline with 480
        doors = []
        cfg_doors = config.get("doors") or {}
        for name in cfg_doors:
            d = cfg_doors[name]
            doors.append(Door(name, d["code"], d.get("pulse_ms", 3000),
                              d.get("max_wrong", 3), d.get("lockout_s", 60)))
        self.code_entry = CodeEntry(doors)
        self.indoor = config.get("indoor") or {}
        incoming = config.get("incoming") or {}
        allow = incoming.get("allow") or ()
        # None: anyone may call ("*"). A loop, not a comprehension: a comprehension
        # is a function of its own (heap).
        self.allow = None
        if "*" not in allow:
            self.allow = []
            for u in allow:
                self.allow.append(uri_key(u))
        # registration
        sip = config.get("sip") or {}
        self.uses_registrar = bool(sip.get("registrar"))
        self.registered = False
        self.registrar_unreachable = False
        self.reg_retry_ms = _REG_RETRY_MIN_MS
        self.reg_retry_at = None
        self.keepalive_at = None
        self.hw.led("booting")

    # ---- start / registration ------------------------------------------------
    def start(self, now_ms):
        if self.uses_registrar:
            self.hw.led("registering")
            self.phone.register()
        else:
            self.hw.led("registered")

    def on_registered(self, now_ms):
        self.registered = True
        self.registrar_unreachable = False
        self.reg_retry_ms = _REG_RETRY_MIN_MS
        self.reg_retry_at = None
        self.keepalive_at = ticks_add(now_ms, _KEEPALIVE_MS)
        if self.state == _IDLE:
            self.hw.led("registered")

    def on_registration_failed(self, now_ms, unreachable):
        """Registration failed or was lost; retry with exponential back-off.
        `unreachable` (no answer, 408, 503) switches bell calls to the fallback URIs."""
        self.registered = False
        self.registrar_unreachable = bool(unreachable)
        self.keepalive_at = None
        self.reg_retry_at = ticks_add(now_ms, self.reg_retry_ms)
        self.reg_retry_ms = min(self.reg_retry_ms * 2, _REG_RETRY_MAX_MS)
        if self.state == _IDLE:
            self.hw.led("registration_failed")

    # ---- buttons ----------------------------------------------------------------
    def on_button(self, name, now_ms):
        indoor = self.indoor
        if self.role == "indoor":
            if name == indoor.get("answer_button", "answer") and self.state == _INCOMING:
                self._answer_incoming(now_ms)
                return
            if name == indoor.get("open_button", "open"):
                code = indoor.get("door_code")
                if self.state != _IN_CALL:
                    self.events.log("open: no call in progress")
                elif not code:
                    self.events.log("open: no indoor.door_code configured")
                else:
                    method = indoor.get("dtmf_method", "rfc4733")
                    self.phone.send_digits(self.call, code, method)
                    self.events.emit("code_sent", {"method": method})
                return
            if name == indoor.get("hangup_button", "hangup"):
                self.hang_up(now_ms, "local_hangup")
                return
        button = (self.config.get("buttons") or {}).get(name)
        if button is None:
            self.events.log("button %s has no action" % name)
            return
        if self.state != _IDLE:
            # A second press while calling or talking changes nothing (no double calls).
            self.events.log("button %s ignored: station busy" % name)
            return
        targets = button.get("call") or []
        if (self.uses_registrar and not self.registered and self.registrar_unreachable
                and button.get("fallback")):
            targets = button["fallback"]
            self.events.emit("fallback", {"button": name, "targets": targets})
        if not targets:
            return
        ring_ms = int(button.get("ring_timeout_s", 20) * 1000)
        self.call_list = CallList(self.phone, targets, button.get("mode", "sequential"), ring_ms)
        self.state = _CALLING
        self.hw.led("calling")
        if self.call_list.start(now_ms):  # nobody could be dialled
            self._end_call(now_ms)

    # ---- outgoing call progress -----------------------------------------------
    def on_ringing(self, handle, now_ms):
        if self.call_list is not None and self.call_list.owns(handle):
            self.events.emit("ringing", {"target": self.call_list.target_of(handle)})

    def on_answered(self, handle, now_ms):
        lst = self.call_list
        if lst is None or not lst.owns(handle):
            # A leg that lost the race answered late: hang it up (RFC 3261 13.2.2.4).
            self.phone.hangup(handle)
            return
        target = lst.target_of(handle)
        if not lst.on_answered(handle, now_ms):
            self.phone.hangup(handle)
            return
        self.call_list = None
        self._enter_call(handle, target, now_ms)

    def on_call_failed(self, handle, status, now_ms):
        lst = self.call_list
        if lst is None or not lst.owns(handle):
            return
        self.events.emit("call_failed", {"target": lst.target_of(handle), "status": status})
        if lst.on_failed(handle, status, now_ms):
            self._end_call(now_ms)

    # ---- incoming calls ---------------------------------------------------------
    def on_incoming(self, handle, uri, now_ms):
        self.events.emit("incoming_call", {"from": uri})
        if self.state != _IDLE:
            self.phone.reject(handle, _BUSY_HERE)
            return
        incoming = self.config.get("incoming") or {}
        indoor = self.role == "indoor"
        if not indoor:
            status = None
            if self.allow is not None and uri_key(uri) not in self.allow:
                status = _FORBIDDEN
            elif not incoming.get("auto_answer"):
                status = _BUSY_HERE
            if status:
                self.events.emit("call_rejected", {"from": uri, "status": status})
                self.phone.reject(handle, status)
                return
        self.state = _INCOMING
        self.call = handle
        self.caller = uri
        if indoor:
            self.phone.ring(handle)
            self.hw.led("ringing")
            delay = self.indoor.get("auto_answer_s")
            if delay is not None:
                self.answer_at_ms = ticks_add(now_ms, int(delay * 1000))
            ring_s = self.indoor.get("ring_timeout_s", 30)
            self.ring_deadline_ms = ticks_add(now_ms, int(ring_s * 1000))
            return
        delay = incoming.get("auto_answer_delay_s") or 0
        self.answer_at_ms = ticks_add(now_ms, int(delay * 1000))
        if delay:
            self.phone.ring(handle)
        else:
            self._answer_incoming(now_ms)

    def _answer_incoming(self, now_ms):
        handle = self.call
        self.answer_at_ms = None
        self.ring_deadline_ms = None
        if self.phone.answer(handle) is False:  # e.g. 488, no common codec
            self._end_call(now_ms, {"reason": "answer_failed", "from": self.caller})
            return
        self._enter_call(handle, self.caller, now_ms)

    def on_cancelled(self, handle, now_ms):
        """The caller gave up before we answered (CANCEL)."""
        if handle == self.call and self.state == _INCOMING:
            self._end_call(now_ms, {"reason": "cancelled", "from": self.caller})

    # ---- in call ------------------------------------------------------------------
    def _enter_call(self, handle, party, now_ms):
        self.state = _IN_CALL
        self.call = handle
        self.caller = party
        self.call_started_ms = now_ms
        self.code_entry.reset()
        max_s = (self.config.get("call") or {}).get("max_duration_s")
        self.call_deadline_ms = ticks_add(now_ms, int(max_s * 1000)) if max_s else None
        self.events.emit("answered", {"party": party})
        self.hw.led("in_call")

    def on_dtmf(self, handle, digit, method, now_ms):
        if handle != self.call or self.state != _IN_CALL:
            return
        self.events.emit("dtmf", {"digit": digit, "method": method})
        if self.role != "door":
            return
        entry = self.code_entry
        self._code_verdict(entry.feed(digit, now_ms), method, now_ms)

    def _code_verdict(self, result, method, now_ms):
        entry = self.code_entry
        if result == _OPENED:
            door = entry.opened
            self.hw.pulse(door.name, door.pulse_ms)
            self.events.emit("door_opened", {"relay": door.name, "caller": self.caller,
                                             "method": method})
            self.hw.led("door_open")
            after = (self.config.get("call") or {}).get("hangup_after_open_s")
            if after is not None:
                self.hangup_at_ms = ticks_add(now_ms, int(after * 1000))
        elif result == _REJECTED or result == _LOCKED_OUT:
            self.events.emit("code_rejected", {"caller": self.caller, "method": method})
            for door in entry.locked_now:  # empty unless LOCKED_OUT
                self.events.emit("locked_out", {"relay": door.name,
                                                "seconds": door.lockout_ms // 1000})
        elif result == _IGNORED:
            self.events.log("digit ignored: every door is locked out")

    def hang_up(self, now_ms, reason):
        if self.state == _CALLING and self.call_list is not None:
            self.call_list.abort()
            self._end_call(now_ms, {"reason": reason})
        elif self.state == _INCOMING:
            self.phone.reject(self.call, _BUSY_HERE if self.role == "door" else 603)
            self._end_call(now_ms, {"reason": reason, "from": self.caller})
        elif self.state == _IN_CALL:
            self.phone.hangup(self.call)
            # call_ended (with the RTP figures) follows from on_call_ended

    def on_call_ended(self, handle, reason, stats, now_ms):
        """The call's dialog ended (BYE either way, or a fatal error)."""
        if handle != self.call:
            return
        fields = {"reason": reason, "party": self.caller}
        if self.call_started_ms is not None:
            fields["duration_ms"] = ticks_diff(now_ms, self.call_started_ms)
        if stats:
            for key in stats:
                fields[key] = stats[key]
        self._end_call(now_ms, fields)

    def _end_call(self, now_ms, fields=None):
        """call_ended with fields (None: every leg of the call list failed), then idle."""
        if fields is None:
            fields = {"reason": "no_answer", "last": self.call_list.last_failure}
        self.events.emit("call_ended", fields)
        self.call_list = None
        self.state = _IDLE
        self.call = None
        self.caller = None
        self.call_started_ms = None
        self.call_deadline_ms = None
        self.hangup_at_ms = None
        self.answer_at_ms = None
        self.ring_deadline_ms = None
        self.code_entry.reset()
        self.hw.led("registration_failed" if self.uses_registrar and not self.registered
                    else "registered")

    # ---- time ----------------------------------------------------------------------
    def poll(self, now_ms):
        if self.call_list is not None and self.call_list.poll(now_ms):
            self._end_call(now_ms)
        if self.answer_at_ms is not None and ticks_diff(now_ms, self.answer_at_ms) >= 0:
            if self.state == _INCOMING:
                self._answer_incoming(now_ms)
            self.answer_at_ms = None
        if (self.ring_deadline_ms is not None and self.state == _INCOMING
                and ticks_diff(now_ms, self.ring_deadline_ms) >= 0):
            # Nobody answered: 480 Temporarily Unavailable (RFC 3261 21.4.18).
            self.phone.reject(self.call, 480)
            self._end_call(now_ms, {"reason": "not_answered", "from": self.caller})
        if self.state == _IN_CALL:
            self._code_verdict(self.code_entry.poll(now_ms), "timeout", now_ms)
            if self.hangup_at_ms is not None and ticks_diff(now_ms, self.hangup_at_ms) >= 0:
                self.hangup_at_ms = None
                self.hang_up(now_ms, "door_opened")
            elif (self.call_deadline_ms is not None
                  and ticks_diff(now_ms, self.call_deadline_ms) >= 0):
                self.call_deadline_ms = None
                self.events.log("maximum call length reached")
                self.hang_up(now_ms, "max_duration")
        if self.reg_retry_at is not None and ticks_diff(now_ms, self.reg_retry_at) >= 0:
            self.reg_retry_at = None
            self.phone.register()
        if self.keepalive_at is not None and ticks_diff(now_ms, self.keepalive_at) >= 0:
            self.keepalive_at = ticks_add(now_ms, _KEEPALIVE_MS)
            self.phone.keepalive()

    def next_deadline_ms(self):
        best = None
        for d in (self.call_list.deadline_ms() if self.call_list else None,
                  self.answer_at_ms, self.ring_deadline_ms, self.hangup_at_ms,
                  self.call_deadline_ms,
                  self.code_entry.deadline_ms() if self.state == _IN_CALL else None,
                  self.reg_retry_at, self.keepalive_at):
            if d is not None and (best is None or ticks_diff(d, best) < 0):
                best = d
        return best

    # ---- status (the registration's: sim_console) ------------------------------------
    def state_name(self):
        # A list made per call (status requests only): a tuple of the four constant
        # strings would hold four str objects for good.
        return ["idle", "calling", "ringing", "in_call"][self.state]

"""The SIP user agent core (RFC 3261 8, 10, 12-15), sans-IO in the h11 style.

No socket, clock or asyncio here: the runtime feeds datagrams and the time in and writes
out what the UA queues. Times are ticks in ms (compat.ticks_ms/ticks_diff arithmetic).

    ua = UserAgent(user, domain, local_host, local_port=5060, auth_user=None, password=None,
                   display_name=None, registrar=None, proxy=None, expires=300,
                   user_agent="doorsip", t1=500, t2=4000, t4=5000,
                   max_transactions=24, max_calls=4, now_ms=0, ring_limit_s=180)
        ring_limit_s: an incoming call still unanswered after this long (or after its
        INVITE's Expires) gets 480 (487) and ends with call_ended reason "timeout".
    ua = UserAgent.from_config(config["sip"], local_host, now_ms=0)   # config.py's "sip" dict
        registrar/proxy: None, "host", "host:port" or (host, port).

  Input:
    ua.receive(datagram, (host, port), now_ms)  one UDP datagram from source (text address)
    ua.on_timer(now_ms)                         run every timer due at now_ms
    ua.next_deadline_ms() -> ticks or None      when on_timer must be called next
  Output:
    ua.datagrams() -> [(bytes, (host, port))]   drain the outgoing queue; host may be a name
                                                 (the runtime resolves it)
    ua.next_event() -> Event or None            drain events, oldest first
  Commands (now_ms defaults to the time of the last receive/on_timer call; UAError when the
  command does not fit the call's state or a table is full):
    ua.register(now_ms=None, expires=None)      REGISTER now, then refresh before expiry
    ua.unregister(now_ms=None)                  REGISTER with expires 0, stop refreshing
    ua.invite(target, body, now_ms=None, headers=()) -> Call   (body: the SDP offer)
    ua.answer(call, status, body=b"", now_ms=None, reason=None, headers=())
        incoming call: 180/183 (ringing, optional early SDP), 200 (body = SDP answer),
        or a final refusal such as 486, 403, 488, 603
    ua.cancel(call, now_ms=None)                outgoing call not yet answered (the CANCEL
        waits for a provisional response, 9.1; if the 2xx wins the race: ACK, then BYE)
    ua.bye(call, now_ms=None)                   answered call (as callee: deferred until
        the ACK of our 200 arrives, 15); call_ended follows the BYE's response/timeout
    ua.hangup(call, now_ms=None)                whichever of cancel / 603 / bye fits
        (no-op on an ended or ending call)
    ua.send_info(call, content_type, body, now_ms=None)
    ua.reinvite(call, body, now_ms=None)    new offer in the dialog (hold...): answer
        in "call_updated" (2xx, ACKed) or "reinvite_failed" (session unchanged)
    ua.reinvite_answerer = fn(call, offer_body) -> (status, answer_body)   hook for
        incoming re-INVITEs; default None answers 200 with our current SDP
    ua.options(target, now_ms=None) -> call_id str  (answer: "options_response")
  State: ua.registered (bool), ua.calls (list of live Call), ua.stats (dict of counters:
  received, garbage (unparseable), dropped (unmatched ACK), stray (unmatched response),
  errors (internal errors caught: should stay 0), events_dropped (queue of 32 overflowed)),
  ua.last_error (str or None), ua.layer (the TransactionLayer; len() = live transactions).

  Event: .kind (str) and the fields below (others None / b""):
    "registered"          .expires (s granted), .status
    "registration_failed" .status, .reason (timeout: 408; auth refused: the 401/407)
    "unregistered"        .status
    "incoming_call"       .call, .uri (From URI), .display, .body (SDP offer, may be b"")
    "ringing"             .call, .status (180/183), .body (early SDP or b"")
    "answered"            .call, .body: the call is up (UAC: 2xx received and ACKed, body
                          the SDP answer; UAS: ACK received, body the ACK's body, or a
                          BYE arrived after a lost ACK, body b"")
    "call_updated"        .call, .body: new remote SDP, from a re-INVITE we answered (see
                          reinvite_answerer) or the 2xx to our reinvite()
    "reinvite_failed"     .call, .status, .reason: our re-INVITE refused (491, 488...)
    "call_failed"         .call, .status, .reason: an outgoing call ended unanswered
                          (final status, 408 for timer B, "cancelled" after cancel())
    "call_ended"          .call, .reason: "remote_bye", "local_bye", "cancelled" (caller
                          cancelled an incoming call), "rejected" (we answered >= 300),
                          "ack_timeout", "dialog_gone" (481/408 to an in-dialog request),
                          "timeout" (incoming call left unanswered, see ring_limit_s)
    "info"                .call, .content_type, .body (INFO in dialog, answered 200)
    "message"             .uri, .content_type, .body (MESSAGE, answered 200)
    "options_response"    .call_id, .status, .reason (408 when unanswered)
  Every call ends with exactly one call_failed or call_ended event (.status on
  call_ended: the BYE's final status, 408 if unanswered, or the 4xx we sent).

  Answered by the UA itself: OPTIONS 200 (Allow, Accept, Supported), INFO/MESSAGE/
  NOTIFY 200, SUBSCRIBE 489, REGISTER/PRACK/UPDATE/REFER/PUBLISH 405, unknown methods
  501, no matching dialog 481, lower CSeq in a dialog 500, Require we lack 420, INVITE
  body not SDP 415, merged INVITE 482, tables full 503 / 486 (max_calls), malformed
  requests the SIPError status (400...). Responses go to the Via's received/rport.

  Call: .id (int), .direction ("out"/"in"), .state ("calling", "early", "confirmed",
  "ended"), .remote_uri, .display, .call_id, .local_sdp, .remote_sdp (bytes), .status
  (last status), .ending (BYE sent or pending), .dialog (dialog.Dialog or None).

  The runtime loop, in short:
    ua.receive(data, addr_text(addr), ticks_ms())        for each datagram
    if deadline reached: ua.on_timer(ticks_ms())         deadline = ua.next_deadline_ms()
    for data, (host, port) in ua.datagrams(): sock.sendto(data, resolve(host, port))
    while (event := ua.next_event()) is not None: app.handle(event)
  Commands queue datagrams too: drain ua.datagrams() after calling one.
"""
from doorsip.compat import const, text_line, ticks_add, ticks_diff
from doorsip.sip.dialog import Dialog, request_headers, request_key, response_key, uri_dest
from doorsip.sip.errors import SIPError
from doorsip.sip.message import build_request, build_response, parse
from doorsip.sip.transaction import TransactionError
from doorsip.sip.uri import new_branch, new_call_id, new_tag

# Rarely taken paths live in ua_register.py (construction at boot; with a registrar:
# registration, OPTIONS keepalives, the digest retry of an INVITE), ua_cancel.py
# (CANCEL, ring limit) and ua_rare.py (re-INVITE, unusual requests, timeouts,
# malformed input), imported on first use: a plain call never loads them, and a
# station with a registrar keeps only ua_register.py.


# transaction.py's ICT, IST and ACCEPTED as private consts: inlined, where imported
# names would be globals of this module (test_sip_transaction checks they agree).
_ICT = const(0)
_IST = const(2)
_ACCEPTED = const(6)

# The texts of the UAErrors raised here, line k picked where raised: one string
# object instead of one per text (a heap object of 56-88 bytes each, for good).
_TEXTS = const("not a SIP URI: %r\ntoo many calls\ncall %d is not answered\n"
               "answer: call %d cannot be answered now\nanswer: %r is not a SIP status")
del const   # const() runs at import only (never on MicroPython): one global fewer

ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, NOTIFY, MESSAGE"
ACCEPT = "application/sdp, application/dtmf-relay, application/dtmf, text/plain"


class UAError(Exception):
    """A command that does not fit the current state (a local error)."""


class Event:
    """One thing that happened; see the module docstring for kinds and fields."""

    def __init__(self, kind, call=None, status=None, reason=None, body=b"", content_type=None,
                 uri=None, display=None, expires=None, call_id=None):
        self.kind = kind
        self.call = call
        self.status = status
        self.reason = reason
        self.body = body
        self.content_type = content_type
        self.uri = uri
        self.display = display
        self.expires = expires
        self.call_id = call_id

    def __repr__(self):
        return "<Event %s status=%s reason=%s>" % (self.kind, self.status, self.reason)


class Call:
    """One call, incoming or outgoing."""

    def __init__(self, id, direction, call_id):
        self.id = id
        self.direction = direction
        self.state = "calling"
        self.call_id = call_id
        self.remote_uri = None
        self.display = None
        self.local_sdp = b""
        self.remote_sdp = b""
        self.status = None
        self.dialog = None
        # outgoing
        self.target = None
        self.from_header = None
        self.invite_headers = None   # headers of the current INVITE (for CANCEL, 9.1), kept
        #                              until its final response
        self.invite_cseq = 0         # CSeq number of the call's (current) first INVITE
        self.invite_tx = None        # the call's first INVITE transaction (either side)
        self.server_tx = None        # INVITE server transaction whose 2xx awaits its ACK
        self.reinvite_tx = None      # our pending re-INVITE
        self.pending_sdp = b""
        self.auth_tries = 0
        self.provisional = False
        self.cancel_wanted = False
        self.cancel_deadline = None
        # incoming
        self.answer_deadline = None
        self.expires_given = False
        self.local_tag = None
        self.awaiting_ack = False
        self.ending = False
        self.bye_pending = False
        self.end_reason = None

    def __repr__(self):
        return "<Call %d %s %s>" % (self.id, self.direction, self.state)


class UserAgent:
    # The constructor and from_config run once, at boot: their code lives in
    # ua_register.py (setup, from_config), imported for them and forgotten again
    # unless a registrar will need that module anyway. Signatures: the module docstring.
    def __init__(self, *args, **options):
        from doorsip.sip.ua_register import setup
        setup(self, *args, **options)

    @classmethod
    def from_config(cls, *args, **extra):
        """From config.py's validated "sip" section; a null domain means the
        registrar's host, else our own address; an empty password means no auth."""
        from doorsip.sip.ua_register import from_config
        return from_config(cls, *args, **extra)

    # ---------------------------------------------------------------- plumbing
    @property
    def calls(self):
        return list(self._calls.values())

    def next_event(self):
        if self._events:
            return self._events.pop(0)
        return None

    def datagrams(self):
        out = self.layer.out
        if not out:
            return []
        self.layer.out = []
        return out

    def _event(self, kind, call=None, **fields):
        # Bounded: an app that stops draining loses the oldest events, not the heap.
        if len(self._events) >= 32:
            self._events.pop(0)
            self.stats["events_dropped"] += 1
        self._events.append(Event(kind, call, **fields))

    def _time(self, now_ms):
        if now_ms is not None:
            self.now = now_ms
        return self.now

    def _from_header(self, tag):
        # One long format (a str object) for both forms; the display part is a qstr.
        name = self.display_name
        return "%s<%s>;tag=%s" % ('"%s" ' % name.replace('"', "") if name else "", self.aor, tag)

    def _out_of_dialog(self, method, uri, to, call_id, from_tag, cseq, extra, body, content_type,
                       dest):
        # Every argument positional (callers: _send_invite, ua_register): no defaults tuple.
        branch = new_branch()
        try:
            default_dest = uri_dest(uri)
        except SIPError:
            raise UAError(text_line(_TEXTS, 0) % (uri,))   # not a SIP URI: %r
        routes = ()
        if self.proxy:
            # An outbound proxy is a loose-routing first hop (RFC 3261 8.1.2).
            routes = ["<sip:%s:%d;lr>" % self.proxy]
            default_dest = self.proxy
        headers = request_headers(method, cseq, self.local_host, self.local_port, branch, routes,
                                  self._from_header(from_tag), to, call_id)
        if method == "INVITE" or method == "REGISTER":
            headers.append(("Contact", self.contact))
        if method == "INVITE":
            headers.append(("Allow", ALLOW))
        headers.append(("User-Agent", self.user_agent))
        headers.extend(extra)
        if content_type and body:
            headers.append(("Content-Type", content_type))
        try:
            data = build_request(method, uri, headers, body)
        except ValueError as exc:   # a line break or space smuggled into a value
            raise UAError(str(exc))
        return data, branch, dest or default_dest, headers

    def _client(self, method, data, branch, dest, owner, now_ms):
        try:
            tx = self.layer.client(method, data, branch, dest, now_ms)
        except TransactionError as exc:
            raise UAError(str(exc))
        tx.owner = owner
        return tx

    # ---------------------------------------------------------------- timers
    def next_deadline_ms(self):
        best = self.layer.next_deadline_ms()
        times = [self._reg_deadline]
        for c in self._calls.values():
            times.append(c.cancel_deadline)
            times.append(c.answer_deadline)
        for t in times:
            if t is not None and (best is None or ticks_diff(t, best) < 0):
                best = t
        return best

    def on_timer(self, now_ms):
        self.now = now_ms
        try:
            self.layer.on_timer(now_ms)
            t = self._reg_deadline
            if t is not None and ticks_diff(now_ms, t) >= 0:
                from doorsip.sip.ua_register import refresh
                refresh(self, now_ms)
            for call in list(self._calls.values()):
                t = call.cancel_deadline
                u = call.answer_deadline
                if (t is not None and ticks_diff(now_ms, t) >= 0) or \
                        (u is not None and ticks_diff(now_ms, u) >= 0):
                    from doorsip.sip.ua_cancel import call_timers
                    call_timers(self, call, now_ms)
        except Exception as exc:  # never let one bad transaction stop the station
            self.stats["errors"] += 1
            self.last_error = "%s: %s" % (type(exc).__name__, exc)

    # ---------------------------------------------------------------- commands kept in ua_*.py
    def register(self, now_ms=None, expires=None):
        from doorsip.sip.ua_register import start
        start(self, self._time(now_ms), expires, True)

    def unregister(self, now_ms=None):
        from doorsip.sip.ua_register import start
        start(self, self._time(now_ms), 0, False)

    def cancel(self, call, now_ms=None):
        from doorsip.sip.ua_cancel import cancel
        cancel(self, call, self._time(now_ms))

    def reinvite(self, call, body, now_ms=None):
        """Offer a new session (hold, codec change) in the call's dialog (14.1)."""
        from doorsip.sip.ua_rare import reinvite
        reinvite(self, call, body, self._time(now_ms))

    def options(self, target, now_ms=None):
        from doorsip.sip.ua_register import options
        return options(self, target, self._time(now_ms))

    # ---------------------------------------------------------------- outgoing calls
    def invite(self, target, body, now_ms=None, headers=()):
        now_ms = self._time(now_ms)
        if len(self._calls) >= self.max_calls:
            raise UAError(text_line(_TEXTS, 1))   # too many calls
        call = Call(self._next_id, "out", new_call_id(self.local_host))
        self._next_id += 1
        self._calls[call.id] = call
        call.target = target
        call.remote_uri = target
        call.local_sdp = body
        call.local_tag = new_tag()
        call.from_header = self._from_header(call.local_tag)
        call.extra_headers = list(headers)
        call.invite_cseq = 0
        try:
            self._send_invite(call, (), now_ms)
        except Exception:
            del self._calls[call.id]
            raise
        return call

    def _send_invite(self, call, headers, now_ms):
        # headers: credentials answering a challenge (ua_register.auth_retry), else ()
        call.invite_cseq += 1
        extra = list(call.extra_headers)
        extra.extend(headers)
        data, branch, dest, headers = self._out_of_dialog(
            "INVITE", call.target, "<%s>" % call.target, call.call_id, call.local_tag,
            call.invite_cseq, extra, call.local_sdp, "application/sdp", None)
        call.invite_headers = headers
        call.invite_branch = branch
        call.provisional = False
        call.dialog = None
        tx = self._client("INVITE", data, branch, dest, call, now_ms)
        tx.cseq = call.invite_cseq
        call.invite_tx = tx

    def _ended(self, call, reason, status=None, failed=False):
        """The call is over: its one call_ended (failed: call_failed) event."""
        if call.state == "ended":
            return
        if failed:
            call.status = status
        call.state = "ended"
        call.cancel_deadline = None
        call.answer_deadline = None
        if self._calls.get(call.id) is call:
            del self._calls[call.id]
        d = call.dialog
        if d is not None and self._dialogs.get(d.key) is call:
            del self._dialogs[d.key]
        self._detach(call)
        self._event("call_failed" if failed else "call_ended", call, reason=reason, status=status)

    def _detach(self, call):
        """An ended call's INVITE client transactions lingering in Accepted (timer M,
        RFC 6026) let go of the Call, so it and all it holds are garbage at once. A
        retransmission of the 2xx we ACKed is still ACKed again (13.2.2.4) from the
        ACK bytes, destination and To tag moved onto the transaction (tx_response)."""
        d = call.dialog
        for tx in (call.invite_tx, call.reinvite_tx):
            if tx is not None and tx.kind == _ICT and tx.state == _ACCEPTED:
                tx.owner = None
                if d is not None and d.ack_data is not None and d.ack_cseq == tx.cseq:
                    tx.ack = d.ack_data
                    tx.dest = d.ack_dest
                    tx.to_tag = d.remote_tag

    # ---------------------------------------------------------------- in-dialog, both ways
    def _in_dialog(self, call, method, now_ms, headers, body):
        if call.state != "confirmed" or call.dialog is None:
            raise UAError(text_line(_TEXTS, 2) % call.id)   # call %d is not answered
        try:
            data, dest, branch, cseq = call.dialog.request(method, self.local_host,
                                                           self.local_port, headers, body)
        except (SIPError, ValueError) as exc:   # peer's Contact unusable, bad header text
            raise UAError(str(exc))
        tx = self._client(method, data, branch, dest, call, now_ms)
        tx.cseq = cseq
        return tx

    def bye(self, call, now_ms=None):
        now_ms = self._time(now_ms)
        if call.ending:
            return
        if call.state != "confirmed" or call.dialog is None:
            raise UAError(text_line(_TEXTS, 2) % call.id)   # call %d is not answered
        call.ending = True
        call.end_reason = "local_bye"
        if call.awaiting_ack:
            # 15: the callee sends no BYE before the ACK of its 2xx arrives or the 2xx
            # retransmissions time out; _receive_ack / the timeout send it then.
            call.bye_pending = True
            return
        self._send_bye(call, now_ms)

    def _send_bye(self, call, now_ms):
        call.bye_pending = False
        try:
            self._in_dialog(call, "BYE", now_ms, (), b"")
        except UAError:
            self._ended(call, call.end_reason)   # no way to reach the peer: end locally

    def hangup(self, call, now_ms=None):
        now_ms = self._time(now_ms)
        if call.state == "ended" or call.ending:
            return
        if call.state == "confirmed":
            self.bye(call, now_ms)
        elif call.direction == "out":
            self.cancel(call, now_ms)
        else:
            self.answer(call, 603, now_ms=now_ms)

    def send_info(self, call, content_type, body, now_ms=None):
        self._in_dialog(call, "INFO", self._time(now_ms), [("Content-Type", content_type)], body)

    # ---------------------------------------------------------------- incoming calls
    def answer(self, call, status, body=b"", now_ms=None, reason=None, headers=()):
        now_ms = self._time(now_ms)
        tx = call.invite_tx
        if call.direction != "in" or tx is None or call.state == "ended" or tx.last_status >= 200:
            raise UAError(text_line(_TEXTS, 3) % call.id)   # answer: ... cannot be answered now
        if not 100 <= status <= 699:
            raise UAError(text_line(_TEXTS, 4) % (status,))   # answer: %r is not a SIP status
        req = tx.request
        extra = []
        if 100 < status < 300:
            # 12.1.1: Record-Route copied into responses that establish a dialog.
            for rr in req.headers("Record-Route"):
                extra.append(("Record-Route", rr))
            extra.append(("Contact", self.contact))
        if 200 <= status < 300:
            extra.append(("Allow", ALLOW))
        extra.extend(headers)
        if body:
            # Built at run time: a pair of literals would be a constant tuple, kept with
            # str objects of its own for good.
            sdp_type = "application/sdp"
            extra.append(("Content-Type", sdp_type))
        tag = call.local_tag if status > 100 else None
        data = build_response(req, status, reason, extra, body, tag)
        try:
            tx.respond(data, status, now_ms, tag)
        except TransactionError as exc:
            raise UAError(str(exc))
        if status >= 200:
            call.answer_deadline = None
        if status < 200:
            if status > 100:
                call.state = "early"
        elif status < 300:
            call.state = "confirmed"
            call.status = status
            call.local_sdp = body
            call.awaiting_ack = True
        else:
            call.status = status
            self._ended(call, "rejected", status)

    # ---------------------------------------------------------------- TU callbacks
    def tx_response(self, tx, msg):
        """A response a client transaction passes up (transaction layer callback)."""
        call = tx.owner
        if not isinstance(call, Call):
            if call is not None:   # "register" or "options"
                from doorsip.sip.ua_register import other_response
                other_response(self, tx, msg)
            elif tx.ack is not None and tx.state == _ACCEPTED and 200 <= msg.status < 300 \
                    and msg.to_tag == tx.to_tag:
                # The INVITE of an ended call (see _detach): its 2xx again, ACK again.
                self.layer.out.append((tx.ack, tx.dest))
            return
        now_ms = self.now
        method = tx.method
        status = msg.status
        if method != "INVITE":
            if status >= 200 and method != "CANCEL":
                if method == "BYE":
                    self._ended(call, call.end_reason or "local_bye", status)
                elif status == 408 or status == 481:
                    # 12.2.1.2: the dialog is gone on the far side.
                    self._ended(call, "dialog_gone", status)
            return
        if tx is not call.invite_tx:   # our re-INVITE, or an earlier INVITE of the call
            from doorsip.sip.ua_rare import other_invite_response
            other_invite_response(self, tx, call, msg, now_ms)
            return
        if call.state == "ended" and not 200 <= status < 300:
            return
        if status < 200:
            call.provisional = True
            if call.cancel_wanted:
                if call.cancel_deadline is None:
                    from doorsip.sip.ua_cancel import send_cancel
                    send_cancel(self, call, now_ms)
                return
            if msg.to_tag:
                if call.dialog is None or call.dialog.remote_tag != msg.to_tag:
                    call.dialog = Dialog.uac(call.from_header, call.target, call.invite_cseq, msg,
                                             self.contact)
            if status > 100 and (call.state != "early" or status != call.status):
                # Once per kind of provisional (a UAS may repeat its 180, 13.3.1.1).
                call.state = "early"
                call.status = status
                self._event("ringing", call, status=status, body=msg.body)
            return
        call.invite_headers = None   # final response: no CANCEL any more (9.1)
        if status < 300:
            d = call.dialog
            if call.state == "confirmed" or call.state == "ended":
                if d is not None and d.remote_tag == msg.to_tag and d.ack_data is not None:
                    self.layer.out.append((d.ack_data, d.ack_dest))  # retransmitted 2xx: ACK again
                elif call.state == "confirmed":
                    from doorsip.sip.ua_rare import ack_and_bye
                    ack_and_bye(self, call, msg, now_ms, False)   # a second fork answered
                if call.state == "ended":
                    self._detach(call)
                return
            if call.cancel_wanted:
                from doorsip.sip.ua_cancel import cancel_lost
                cancel_lost(self, call, msg, now_ms)
                return
            if d is None or d.remote_tag != msg.to_tag:
                d = Dialog.uac(call.from_header, call.target, call.invite_cseq, msg, self.contact)
                call.dialog = d
            d.confirm(msg)
            data, dest = d.ack(call.invite_cseq, self.local_host, self.local_port)
            self.layer.out.append((data, dest))
            self._dialogs[d.key] = call
            call.state = "confirmed"
            call.status = status
            call.remote_sdp = msg.body
            self._event("answered", call, status=status, body=msg.body)
            return
        if (status == 401 or status == 407) and self.digest is not None:
            from doorsip.sip.ua_register import auth_retry
            if auth_retry(self, call, msg, now_ms):
                return
        call.cancel_deadline = None
        self._ended(call, "cancelled" if call.cancel_wanted else msg.reason, status, True)

    def tx_timeout(self, tx):
        from doorsip.sip.ua_rare import timeout
        timeout(self, tx)

    # ---------------------------------------------------------------- input
    def receive(self, data, source, now_ms):
        """Handle one datagram from source (host, port). Never raises."""
        self.now = now_ms
        self.stats["received"] += 1
        msg = None
        try:
            msg = parse(data)
            if msg.method is not None:
                msg.stamp_received(source[0], source[1])
                self._receive_request(msg, source, now_ms)
                return
            tx = self.layer.match_response(msg)
            call = None
            if tx is None and msg.cseq[1] == "INVITE" and 200 <= msg.status < 300:
                # 13.2.2.4: a 2xx retransmitted after the INVITE transaction ended:
                # ACK it again.
                call = self._dialogs.get(response_key(msg))
            if tx is not None:
                self.layer.response(tx, msg, now_ms)
            elif call is not None and call.dialog.ack_data is not None:
                self.layer.out.append((call.dialog.ack_data, call.dialog.ack_dest))
            else:
                self.stats["stray"] += 1
        except Exception as exc:
            try:
                if isinstance(exc, SIPError):
                    # Unparseable, or a header we looked at more closely than parse()
                    # did is malformed: answered with its status when possible.
                    from doorsip.sip.ua_rare import refuse
                    refuse(self, data, msg, source, exc)
                else:
                    if msg is None:
                        self.stats["garbage"] += 1
                    self.stats["errors"] += 1   # an internal error (see on_timer)
                    self.last_error = "%s: %s" % (type(exc).__name__, exc)
            except Exception:
                pass

    def _reply_addr(self, msg):
        # 18.2.2 with RFC 3581: to received/rport if stamped, else the sent-by port.
        # (A method, not a module function: the class dict has room, the module's not.)
        via = msg.via
        params = via.params
        host = params.get("received") or via.host
        rport = params.get("rport")
        if rport and rport.isdigit():
            return (host, int(rport))
        return (host, via.port or 5060)

    def _respond(self, tx, msg, status, now_ms, headers=(), body=b"", to_tag=None, reason=None):
        tx.respond(build_response(msg, status, reason, headers, body, to_tag), status, now_ms)

    def _receive_request(self, msg, source, now_ms):
        layer = self.layer
        method = msg.method
        tx = layer.match_request(msg)
        if tx is not None:
            layer.request(tx, msg, now_ms)   # retransmission or non-2xx ACK: absorbed
            if method == "ACK" and tx.state == _ACCEPTED:
                # An RFC 2543 peer's ACK for our 2xx can match the INVITE transaction
                # (17.2.3 fallback); it still belongs to the dialog (13.3.1.4).
                self._receive_ack(msg, now_ms)
            return
        if method == "ACK":
            self._receive_ack(msg, now_ms)
            return
        if method == "CANCEL":
            from doorsip.sip.ua_cancel import receive_cancel
            receive_cancel(self, msg, source, now_ms)
            return
        try:
            tx = layer.server(msg, self._reply_addr(msg), now_ms)
        except TransactionError:
            from doorsip.sip.ua_rare import busy
            busy(self, msg, source)
            return
        try:
            plain = not msg.headers("Require")   # else 420 (8.2.2.3)
            if plain and msg.to_tag is not None:
                # ---------------------------------------------------- in-dialog request
                call = self._dialogs.get(request_key(msg))
                if call is not None:
                    refuse = call.dialog.check_remote_cseq(msg)
                    if refuse:
                        self._respond(tx, msg, refuse, now_ms)
                        return
                    tx.owner = call
                    if method == "BYE":
                        self._respond(tx, msg, 200, now_ms)
                        itx = call.invite_tx
                        if itx is not None and itx.kind == _IST and itx.last_status < 200:
                            # 15.1.2: BYE before our final response: the INVITE gets 487.
                            itx.respond(build_response(itx.request, 487, None, (), b"",
                                                       call.local_tag),
                                        487, now_ms, call.local_tag)
                        if call.server_tx is not None:
                            call.server_tx.ack_received(now_ms)   # stop resending a 2xx
                        if call.awaiting_ack and call.server_tx is call.invite_tx and \
                                call.state == "confirmed":
                            # The ACK was lost, but a BYE proves the caller got our 2xx:
                            # the call was up, so the app sees it answered before it ends.
                            call.awaiting_ack = False
                            self._event("answered", call, status=call.status, body=b"")
                        self._ended(call, "remote_bye")
                        return
                    if method == "INFO":
                        self._respond(tx, msg, 200, now_ms)
                        self._event("info", call, content_type=msg.header("Content-Type"),
                                    body=msg.body)
                        return
                # No dialog (481), re-INVITE, OPTIONS, NOTIFY, MESSAGE, others.
                from doorsip.sip.ua_rare import in_dialog
                in_dialog(self, call, msg, tx, now_ms)
                return
            ctype = msg.header("Content-Type") if msg.body else None
            if plain and method == "INVITE" and \
                    (not ctype or ctype.split(";")[0].strip().lower() == "application/sdp"):
                # ---------------------------------------------------- new incoming call
                for other in self._calls.values():
                    # 8.2.2.2: the same INVITE again on another branch (a forking proxy
                    # sent it by two paths): one call only, the copy gets 482.
                    if other.direction == "in" and other.call_id == msg.call_id and \
                            other.invite_cseq == msg.cseq[0] and \
                            other.dialog.remote_tag == msg.from_tag:
                        self._respond(tx, msg, 482, now_ms, to_tag=new_tag())
                        return
                if len(self._calls) >= self.max_calls:
                    self._respond(tx, msg, 486, now_ms, to_tag=new_tag())
                    return
                # The dialog first: it parses the Contact, which may still be malformed.
                d = Dialog.uas(msg, new_tag(), self.contact)
                call = Call(self._next_id, "in", msg.call_id)
                self._next_id += 1
                self._calls[call.id] = call
                call.local_tag = d.local_tag
                call.invite_cseq = msg.cseq[0]
                call.invite_tx = tx
                call.server_tx = tx
                tx.owner = call
                call.remote_uri = msg.from_addr.uri
                call.display = msg.from_addr.display
                call.remote_sdp = msg.body
                call.dialog = d
                self._dialogs[d.key] = call
                limit = self.ring_limit_s
                expires = msg.header("Expires")
                if expires and expires.strip().isdigit() and int(expires.strip()) < limit:
                    limit = int(expires.strip())
                    call.expires_given = True
                call.answer_deadline = ticks_add(now_ms, limit * 1000)
                self._event("incoming_call", call, uri=call.remote_uri, display=call.display,
                            body=msg.body)
            elif plain and method == "OPTIONS":
                self._answer_options(tx, msg, now_ms, new_tag())
            else:
                # Require (420), INVITE body not SDP (415), other methods.
                from doorsip.sip.ua_rare import out_of_dialog
                out_of_dialog(self, msg, tx, now_ms)
        except Exception as exc:
            # Whatever went wrong, the transaction gets a final response.
            from doorsip.sip.ua_rare import request_failed
            if not request_failed(self, msg, tx, now_ms, exc):
                raise

    def _answer_options(self, tx, msg, now_ms, to_tag):
        # 11.2: what we would do with an INVITE; used by PBXs as a keepalive. (An empty
        # Supported from a local: ("Supported", "") would be a constant tuple kept for
        # good with str objects of its own.)
        empty = ""
        self._respond(tx, msg, 200, now_ms, [("Allow", ALLOW), ("Accept", ACCEPT),
                                             ("Supported", empty), ("Contact", self.contact)],
                      to_tag=to_tag)

    def _receive_ack(self, msg, now_ms):
        # 13.3.1.4: the ACK for our 2xx has its own branch, so it matches the dialog only.
        call = self._dialogs.get(request_key(msg))
        if call is None:
            self.stats["dropped"] += 1
            return
        tx = call.server_tx
        if tx is not None and tx.cseq == msg.cseq[0]:
            tx.ack_received(now_ms)
        if call.awaiting_ack:
            call.awaiting_ack = False
            if call.state == "confirmed" and tx is not None and tx is call.invite_tx:
                if msg.body:
                    call.remote_sdp = msg.body
                self._event("answered", call, status=call.status, body=msg.body)
            if call.bye_pending:
                self._send_bye(call, now_ms)

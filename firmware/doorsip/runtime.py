# The runtime glue (DESIGN.md section 1): the one module that owns the event loop,
# the sockets and the clock. It drives the sans-IO SIP user agent, the media path
# of the current call and the hardware, and connects them to the intercom policy.
#
#   micropython -m doorsip.runtime --config FILE --board NAME [--mic W] [--speaker W]
#   python -m doorsip.runtime ... (what `doorsip run` does on CPython)
#
# On the sim board it reads the line commands of DESIGN.md section 4 on stdin
# (press, hold, status, quit; sim_console.py) and writes one JSON event per line
# on stdout.
# Start-up code (arguments, config, building the station) is in runtime_boot.py,
# dropped after boot to give its code's heap back.
import sys

from doorsip import netio
from doorsip.compat import MICROPYTHON, const, text_line, ticks_add, ticks_diff, ticks_ms

asyncio = netio.asyncio

_TICK_MS = const(10)
_DIGIT_MS = const(120)  # RFC 4733 event length per sent digit
_DIGIT_GAP_MS = const(100)  # audio between two sent digits (end packets included)
_INFO_GAP_MS = const(200)
_MAX_ADDR_CACHE = const(16)


# The texts of rare logs, line k picked where used: one string object, not four.
_TEXTS = const("send to %s:%s failed: %s\nin-band DTMF off: %s\ndoorsip run: error: %r\n")


class Station:
    """The station; it is also the policy's phone (app/intercom.py): call, cancel,
    hangup, ring, reject, answer, send_digits, register, keepalive."""

    def __init__(self, config, board, events, mic=None, speaker=None):
        from doorsip import runtime_boot
        self.stopping = False
        self.tasks = ()
        runtime_boot.init_station(self, config, board, events, mic, speaker)

    # ---- the phone -------------------------------------------------------------
    def call(self, target):
        from doorsip.sip.useragent import UAError
        try:
            from doorsip.sip import sdp
            offer = sdp.build_offer(self.local_host, self.rtp_port, self.codecs, self.dtmf_pt)
            call = self.ua.invite(target, offer, ticks_ms())
        except (UAError, ValueError, MemoryError) as exc:
            self.events.emit("error", {"what": "call", "target": target, "message": str(exc)})
            return None
        self.events.emit("call_started", {"target": target})
        return call

    def _ua(self, name, *args):
        from doorsip.sip.useragent import UAError
        try:
            getattr(self.ua, name)(*args)
        except UAError as exc:
            self.events.log("%s: %s" % (name, exc))

    def cancel(self, call):
        self._ua("cancel", call, ticks_ms())

    def hangup(self, call):
        self._ua("hangup", call, ticks_ms())

    def ring(self, call, status=180):
        self._ua("answer", call, status, b"", ticks_ms())

    # reject(call, status): the same answer with a final status (one method less).
    reject = ring

    def register(self):
        self._ua("register", ticks_ms())

    def answer(self, call):
        """Accept with an SDP answer; False (and 488) when no codec fits (RFC 3264 6)."""
        from doorsip.sip import sdp
        try:
            body, params = sdp.answer(call.remote_sdp, self.local_host, self.rtp_port, self.codecs)
        except sdp.SdpError as exc:
            self.events.log("answer: %s" % exc.reason)
            self._ua("answer", call, exc.status, b"", ticks_ms())
            return False
        self._ua("answer", call, 200, body, ticks_ms())
        self.start_media(call, params)
        return True

    def answer_reinvite(self, call, offer):
        """The UA's hook for a re-INVITE in a call (hold, resume, new address):
        answer per RFC 3264 8 and apply it to the running media."""
        from doorsip.sip import sdp
        media = self.media
        if media is None or media.call is not call:
            media = None
        codecs = self.codecs
        if media is not None:
            # Keep the codec in use when the new offer still allows it: a change of
            # codec needs a new media session (RFC 3264 8.3.2 allows either).
            codecs = [media.codec]
            for c in self.codecs:  # a loop: a generator is a function of its own
                if c != media.codec:
                    codecs.append(c)
        try:
            body, params = sdp.answer(offer, self.local_host, self.rtp_port, codecs)
        except sdp.SdpError as exc:
            return exc.status, b""
        if media is not None:
            if params.codec == media.codec:
                media.update(params)
            else:
                self.start_media(call, params)
        return 200, body

    def send_digits(self, call, digits, method):
        media = self.media
        if method == "rfc4733" and media is not None and media.call is call \
                and media.dtmf_pt is not None:
            self.digits_out += digits
        else:
            self.info_out += digits
            self.info_call = call

    def keepalive(self):
        # OPTIONS to the registrar keeps the NAT binding open and, unlike a bare
        # CRLF, tells us when the network or the PBX is gone (408 -> re-register).
        try:
            self.keepalive_id = self.ua.options("sip:%s" % self.config["sip"]["registrar"],
                                                ticks_ms())
        except Exception as exc:
            self.events.log("%s: %s" % ("keepalive", exc))

    # ---- devices -----------------------------------------------------------------
    def _on_button(self, name, now):
        self.events.emit("button", {"name": name})
        self.policy.on_button(name, now)
        self.pump()

    def _on_relay(self, name, on):
        self.events.emit("relay", {"name": name, "state": "on" if on else "off"})

    def _on_led(self, pattern):
        if pattern != self.led_pattern:
            self.led_pattern = pattern
            self.events.emit("led", {"pattern": pattern})

    # ---- SIP ------------------------------------------------------------------------
    def pump(self):
        """Hand the UA's events to the policy and send what the UA queued."""
        ua = self.ua
        policy = self.policy
        for _ in range(64):  # bounded: one burst of events per pump
            ev = ua.next_event()
            if ev is None:
                break
            # The UA's event to the policy (one method: each costs heap on MicroPython).
            try:
                kind = ev.kind
                now = ticks_ms()
                call = ev.call
                if kind == "registered":
                    self.events.emit("registered", {"expires": ev.expires})
                    policy.on_registered(now)
                elif kind == "registration_failed":
                    status = ev.status
                    unreachable = status is None or status == 408 or 503 <= status <= 504
                    self.events.emit("registration_failed", {"status": status, "reason": ev.reason})
                    policy.on_registration_failed(now, unreachable)
                elif kind == "incoming_call":
                    policy.on_incoming(call, call.remote_uri or ev.uri, now)
                elif kind == "ringing":
                    policy.on_ringing(call, now)
                elif kind == "answered":
                    if call.direction == "out":
                        policy.on_answered(call, now)
                        if policy.call is call:
                            from doorsip.sip import sdp
                            try:
                                params = sdp.accept_answer(ev.body or call.remote_sdp, self.codecs,
                                                           self.dtmf_pt or 101)
                            except sdp.SdpError as exc:
                                self.events.emit("error", {"what": "sdp", "message": exc.reason})
                                self.hangup(call)
                                continue
                            self.start_media(call, params)
                elif kind == "call_failed":
                    policy.on_call_failed(call, ev.status, now)
                elif kind == "call_ended":
                    figures = None
                    if self.media is not None and self.media.call is call:
                        figures = self.media.figures()
                        rtcp = self.rtcp
                        figures["rtcp_received"] = rtcp.received
                        figures["rtt_ms"] = rtcp.rtt_ms
                        self.stop_media()
                    if ev.reason == "cancelled":
                        policy.on_cancelled(call, now)
                    else:
                        policy.on_call_ended(call, ev.reason, figures, now)
                elif kind == "info":
                    from doorsip.media.dtmf import parse_info
                    digit = parse_info(ev.content_type, ev.body)
                    if digit is not None:
                        self.dtmf_in(call, digit, "info", now, None)
                elif kind == "options_response":
                    if ev.call_id == self.keepalive_id and ev.status == 408:
                        self.events.emit("registration_failed", {"status": 408, "reason": "keepalive"})
                        policy.on_registration_failed(now, True)
            except Exception as exc:  # a policy bug must not take the station down
                self.events.emit("error", {"what": ev.kind, "message": repr(exc)})
                if not MICROPYTHON:
                    import traceback
                    traceback.print_exc()
        cache = self.addr_cache
        for data, dest in ua.datagrams():
            try:
                addr = cache.get(dest)
                if addr is None:
                    if len(cache) >= _MAX_ADDR_CACHE:
                        cache.clear()
                    addr = cache[dest] = netio.resolve(dest[0], dest[1])
                netio.sendto(self.sip_sock, data, addr)
            except OSError as exc:
                # send to %s:%s failed
                self.events.log(text_line(_TEXTS, 0) % (dest[0], dest[1], exc))
        errors = ua.stats["errors"]
        if errors != self.ua_errors:
            # The UA caught an internal error (out of memory, a bug) and dropped a
            # datagram: say so instead of failing silently.
            self.ua_errors = errors
            self.events.emit("error", {"what": "sip", "message": ua.last_error})

    def dtmf_in(self, call, digit, method, now, start_ms):
        if method not in self.dtmf_methods:
            return
        if self.dedup.accept(digit, method, now, start_ms):
            self.policy.on_dtmf(call, digit, method, now)
            self.pump()

    # ---- media ----------------------------------------------------------------------
    def prepare_inband(self):
        """Build the in-band DTMF detector once, if configured and usable here."""
        if self.inband is None and "inband" in self.dtmf_methods:
            from doorsip.media.dtmf import InbandDetector
            detector = InbandDetector()
            if detector.enabled:
                self.inband = detector
            else:
                self.events.log(text_line(_TEXTS, 1) % detector.reason)  # in-band DTMF off
                methods = []
                for m in self.dtmf_methods:  # a loop: a comprehension is a function of its own
                    if m != "inband":
                        methods.append(m)
                self.dtmf_methods = methods

    def start_media(self, call, params):
        from doorsip.media.stream import MediaSession
        from doorsip.media.rtcp import RtcpSession
        if self.media is not None:
            self.stop_media()
        self.dedup.reset()
        self.digits_out = ""
        self.prepare_inband()
        if self.inband is not None:
            self.inband.reset()
        media = MediaSession.from_params(self.rtp_sock, params, self.audio_in, self.audio_out,
                                         self.inband, self.jitter_ring)
        media.call = call
        media.codec = params.codec
        rtcp = RtcpSession(media.rtp_tx, media.rtp_rx, self.config["sip"]["user"].encode())
        dest = netio.resolve(params.remote_ip, params.remote_port + 1) if params.remote_port else None
        # All or nothing: a MemoryError above leaves no half-built media for the
        # tick to trip over 100 times a second (measured in a 192K heap).
        self.media, self.rtcp, self.rtcp_dest = media, rtcp, dest
        media.start()
        self.events.log("media %s %s:%d pt %d" % (params.codec, params.remote_ip,
                                                  params.remote_port, params.payload_type))

    def stop_media(self):
        media = self.media
        self.media = None
        if media is not None:
            self._send_rtcp(self.rtcp.build_bye(ticks_ms()))  # RFC 3550 6.6
            self.rtcp = None
            media.cancel()

    def _send_rtcp(self, packet):
        dest = self.rtcp_dest
        remote = self.rtcp.remote
        if remote is not None and remote is not self.rtcp_latched:
            # Symmetric RTCP, as for RTP: answer where the far end's reports come from.
            self.rtcp_latched = remote
            self.rtcp_dest = dest = netio.resolve(remote[0], remote[1])
        if dest is not None:
            netio.sendto(self.rtcp_sock, packet, dest)

    def _on_rtcp(self, data, addr):
        if self.rtcp is not None:
            self.rtcp.on_packet(data, len(data), netio.addr_text(addr), ticks_ms())

    def _on_sip(self, data, addr):
        self.ua.receive(data, netio.addr_text(addr), ticks_ms())
        self.pump()

    # ---- tasks -----------------------------------------------------------------------
    async def _ticker(self):
        # One method for the whole tick (each costs heap on MicroPython): the UA's
        # timers, the policy's, the devices, the call's media, INFO digits to send.
        while not self.quit.is_set():
            try:
                policy = self.policy
                ua = self.ua
                now = ticks_ms()
                # the UA's retransmission and expiry timers
                deadline = ua.next_deadline_ms()
                if deadline is not None and ticks_diff(now, deadline) >= 0:
                    ua.on_timer(now)
                deadline = policy.next_deadline_ms()
                if deadline is not None and ticks_diff(now, deadline) >= 0:
                    policy.poll(now)
                self.hw.poll(now)
                media = self.media
                while media is not None:
                    got = media.next_digit()
                    if got is None:
                        break
                    # When the key went down, so one long press seen both in-band and by
                    # RFC 4733 counts once even past the deduplicator's window.
                    start = media.dtmf_rx.digit_start_ms if got[1] == "rfc4733" else now - 40
                    self.dtmf_in(media.call, got[0], got[1], now, start)
                    if self.media is not media:
                        media = None  # the digit ended the call
                if media is not None:
                    if self.digits_out and not media.dtmf_tx.active \
                            and ticks_diff(now, self.digit_next) >= 0:
                        media.send_digit(self.digits_out[0], _DIGIT_MS)
                        self.digits_out = self.digits_out[1:]
                        self.digit_next = ticks_add(now, _DIGIT_MS + _DIGIT_GAP_MS)
                    if self.rtcp.due(now):
                        self._send_rtcp(self.rtcp.build_report(now))
                if self.info_out and ticks_diff(now, self.info_next) >= 0:
                    from doorsip.media.dtmf import info_body, CONTENT_DTMF_RELAY
                    digit = self.info_out[0]
                    self.info_out = self.info_out[1:]
                    self.info_next = ticks_add(now, _INFO_GAP_MS)
                    self._ua("send_info", self.info_call, CONTENT_DTMF_RELAY,
                             info_body(digit, 160, CONTENT_DTMF_RELAY))
                self.pump()
                # Wake for the next device deadline (a button's debounce ends, a relay
                # pulse ends) when it is sooner than the regular tick: the bell's
                # INVITE must not wait up to a whole tick (bench/bench_station.py).
                wait = _TICK_MS
                deadline = self.hw.next_deadline_ms()
                if deadline is not None:
                    wait = min(wait, max(1, ticks_diff(deadline, ticks_ms())))
            except Exception as exc:
                # The ticker drives timers, buttons and relays: it must outlive any
                # error (out of memory included), which is reported, not hidden.
                self.events.emit("error", {"what": "tick", "message": repr(exc)})
                wait = _TICK_MS
            await netio.sleep_ms(wait)

    async def run(self, commands=None):
        from doorsip.media.stream import PacketReceiver
        sip_rx = self.sip_rx
        rtcp_rx = PacketReceiver(self.rtcp_sock, self._on_rtcp, 600)
        sip_rx.start()
        rtcp_rx.start()
        ticker = asyncio.create_task(self._ticker())
        reader = None
        if commands is not None:
            # the sim board's stdin console; hardware boards never load it
            from doorsip.sim_console import serve
            reader = asyncio.create_task(serve(self, commands))
        self.events.emit("started", {"role": self.config.get("role"), "name": self.config.get("name"),
                                     "sip": "%s:%d" % (self.local_host, self.config["sip"]["local_port"]),
                                     "rtp": self.rtp_port,
                                     "runtime": "micropython" if MICROPYTHON else "cpython"})
        self.policy.start(ticks_ms())
        self.pump()
        self.tasks = (ticker, reader, sip_rx, rtcp_rx)
        try:
            await self.quit.wait()
        finally:
            await self.shutdown()

    async def shutdown(self):
        """Relay off, calls ended, un-REGISTER, sockets closed (DESIGN.md section 4),
        once. run() ends with it; main() runs it in a fresh event loop when the loop
        itself was interrupted (Ctrl-C on MicroPython, or an unhandled error)."""
        if self.stopping:
            return
        self.stopping = True
        for name in self.hw.relays:
            self.hw.relays[name].off()
        self.hw.poll()
        try:
            for call in self.ua.calls:
                self.hangup(call)
            if self.policy.registered:
                self.ua.unregister(ticks_ms())
            self.pump()
            # Give the BYE / un-REGISTER a moment to be answered (or retransmitted);
            # the SIP socket is read here too, as its task may be gone with its loop.
            for _ in range(30):
                if not self.ua.calls and not self.ua.registered:
                    break
                await netio.sleep_ms(_TICK_MS)
                self.sip_rx.drain()
                now = ticks_ms()
                deadline = self.ua.next_deadline_ms()  # the UA's timers, as the ticker
                if deadline is not None and ticks_diff(now, deadline) >= 0:
                    self.ua.on_timer(now)
                self.pump()
        finally:
            try:
                if self.media is not None:
                    self.stop_media()
                for task in self.tasks:
                    if task is not None:
                        task.cancel()
            finally:
                self.close()
                self.events.emit("stopped", None)

    def close(self):
        self.hw.close()  # relays off first
        for closer in (self.audio_in, self.audio_out, self.sip_sock, self.rtp_sock, self.rtcp_sock):
            if closer is not None:
                try:
                    closer.close()
                except Exception:
                    pass


def main(argv=None):
    from doorsip.events import EventSink
    from doorsip import runtime_boot
    events = EventSink()
    station = runtime_boot.boot(Station, sys.argv[1:] if argv is None else argv, events)
    runtime_boot.release()
    del runtime_boot
    if not isinstance(station, Station):
        return station  # boot failed: the exit status
    status = 0
    try:
        asyncio.run(station.run(station.commands))
    except KeyboardInterrupt:
        pass  # Ctrl-C (`doorsip run --runtime micropython` sends `quit` instead)
    except Exception as exc:
        events.emit("error", {"what": "station", "message": repr(exc)})
        sys.stderr.write(text_line(_TEXTS, 2) % (exc,) + "\n")  # doorsip run: error
        status = 1
    if not station.stopping:
        # The loop was interrupted, so run() never reached its shutdown: do it in a
        # fresh loop; at the very least the relays go off and the sockets close.
        # Its tasks (and the media's) died with it: cancelling them would wake
        # their broken coroutines in the new loop.
        station.tasks = ()
        station.media = None
        try:
            if MICROPYTHON:
                asyncio.new_event_loop()  # drop the interrupted loop's queue
            asyncio.run(station.shutdown())
        except BaseException:
            station.close()
    return status


if __name__ == "__main__":
    sys.exit(main())

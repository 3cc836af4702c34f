# Interop smoke test with SIPp on 127.0.0.1: the sans-IO UserAgent, driven by a small
# test-side UDP loop, answers SIPp's built-in "uac" scenario and calls its "uas" scenario.
# Success is SIPp's exit code 0 (every call of the run successful).
import contextlib
import random
import select
import socket
import subprocess
import time

from stations import registrar_scenario
from tooling import free_udp_port, require

from doorsip.compat import ticks_diff, ticks_ms
from doorsip.sip import sdp
from doorsip.sip.useragent import UserAgent

HOST = "127.0.0.1"


class Loop:
    """The runtime glue in miniature: socket in, UA, socket out, timers from the UA.
    loss: percentage of our outgoing datagrams dropped (seeded)."""

    def __init__(self, ua, sock, loss=0, seed=1):
        self.ua = ua
        self.sock = sock
        self.events = []
        self.loss = loss
        self.rng = random.Random(seed)
        self.dropped = 0

    def _lose(self):
        if self.loss and self.rng.random() * 100 < self.loss:
            self.dropped += 1
            return True
        return False

    def flush(self):
        for data, dest in self.ua.datagrams():
            if not self._lose():
                self.sock.sendto(data, (dest[0], int(dest[1])))

    def run(self, until, limit_s, on_event=None):
        end = time.monotonic() + limit_s
        while time.monotonic() < end and not until():
            now = ticks_ms()
            deadline = self.ua.next_deadline_ms()
            wait = 0.05
            if deadline is not None:
                wait = max(0.0, min(wait, ticks_diff(deadline, now) / 1000))
            ready, _, _ = select.select([self.sock], [], [], wait)
            if ready:
                data, addr = self.sock.recvfrom(65535)
                self.ua.receive(data, (addr[0], addr[1]), ticks_ms())
            deadline = self.ua.next_deadline_ms()
            if deadline is not None and ticks_diff(ticks_ms(), deadline) >= 0:
                self.ua.on_timer(ticks_ms())
            while True:
                event = self.ua.next_event()
                if event is None:
                    break
                self.events.append(event)
                if on_event:
                    on_event(event)
            self.flush()

    def kinds(self):
        return [e.kind for e in self.events]


def start_sipp(args):
    sipp = require("sipp")
    return subprocess.Popen([sipp] + args + ["-nostdin", "-m", "1", "-timeout", "20s",
                                             "-timeout_error", "-i", HOST],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)


def stop(proc):
    if proc.poll() is None:
        proc.kill()
    out = proc.communicate(timeout=5)[0]
    return out.decode(errors="replace")


def make_ua(port, loss=0, seed=1, user="door", domain=HOST, **options):
    """Our UserAgent (options: UserAgent's keywords) on a socket bound to port, in a Loop."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((HOST, port))
    ua = UserAgent(user, domain, HOST, port, now_ms=ticks_ms(), **options)
    return Loop(ua, sock, loss, seed)


@contextlib.contextmanager
def sipp_facing(loop, args, settle_s=0):
    """SIPp started with args while the block runs against loop; on the way out
    SIPp is stopped and loop's socket closed. settle_s: time for SIPp to bind its
    socket (when we send first)."""
    proc = None
    try:
        proc = start_sipp(args)
        if settle_s:
            time.sleep(settle_s)
        yield proc
    finally:
        if proc is not None:
            stop(proc)
        loop.sock.close()


def invite(loop, sipp_port, rtp_port):
    """Our UA calls service@SIPp (an SDP offer for rtp_port); returns the call."""
    call = loop.ua.invite("sip:service@%s:%d" % (HOST, sipp_port), sdp.build_offer(HOST, rtp_port), ticks_ms())
    loop.flush()
    return call


def sipp_calls_us(extra=(), loss=0, seed=1):
    """SIPp's built-in uac scenario calls our UA, which rings and answers at once."""
    port = free_udp_port()
    loop = make_ua(port, loss, seed)
    with sipp_facing(loop, ["-sn", "uac", "%s:%d" % (HOST, port), "-p", str(free_udp_port())] + list(extra)) as proc:

        def on_event(event):
            if event.kind == "incoming_call":
                body, _media = sdp.answer(event.body, HOST, 40000)
                loop.ua.answer(event.call, 180, now_ms=ticks_ms())
                loop.ua.answer(event.call, 200, body, now_ms=ticks_ms())
        loop.run(lambda: proc.poll() is not None, 40, on_event)
        # Let our side finish the BYE exchange's last datagrams.
        loop.run(lambda: False, 0.3, on_event)
        code = proc.wait(timeout=10)
        return loop, code, stop(proc)


def we_call_sipp(extra=()):
    """Our UA calls SIPp's built-in uas scenario, then hangs up once answered."""
    sipp_port = free_udp_port()
    loop = make_ua(free_udp_port())
    with sipp_facing(loop, ["-sn", "uas", "-p", str(sipp_port)] + list(extra), 0.3) as proc:
        call = invite(loop, sipp_port, 40002)
        loop.run(lambda: "answered" in loop.kinds() or "call_failed" in loop.kinds(), 35)
        if "answered" in loop.kinds():
            loop.ua.bye(call, ticks_ms())
            loop.flush()
            loop.run(lambda: "call_ended" in loop.kinds(), 35)
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            code = None
        return loop, code, stop(proc)


def test_sipp_uac_calls_us():
    loop, code, output = sipp_calls_us()
    assert code == 0, output[-2000:]
    assert loop.kinds() == ["incoming_call", "answered", "call_ended"], loop.kinds()
    assert loop.events[-1].reason == "remote_bye"
    assert loop.ua.stats["errors"] == 0 and loop.ua.stats["garbage"] == 0


def test_we_call_sipp_uas():
    loop, code, output = we_call_sipp()
    assert loop.kinds() == ["ringing", "answered", "call_ended"], (loop.kinds(), output[-2000:])
    media = sdp.accept_answer(loop.events[1].body)
    assert media.remote_port > 0 and media.codec in ("PCMU", "PCMA")
    assert code == 0, output[-2000:]
    assert loop.ua.stats["errors"] == 0


def test_sipp_call_completes_with_30_percent_of_our_datagrams_lost():
    # Our loop drops 30 % of what we send: our transactions resend the 200 until the
    # ACK comes, and the 200 to a BYE that SIPp resends. (Only our outgoing side is
    # lossy: SIPp's scenarios accept the wrong 200 or abort on retransmissions, which
    # would fail the run for SIPp's reasons; the harness tests cover loss both ways.)
    for seed in (1, 2, 3):
        loop, code, output = sipp_calls_us(loss=30, seed=seed)
        assert code == 0, output[-2000:]
        assert loop.kinds() == ["incoming_call", "answered", "call_ended"], loop.kinds()
        assert loop.dropped > 0 and loop.ua.stats["errors"] == 0


def register_with_sipp(tmp_path, qop, password):
    """SIPp as a registrar that challenges and checks our digest with its own verifyauth."""
    scenario = registrar_scenario(tmp_path, 'Digest realm="doorsip.test", nonce="5f1e8c2a9b3d4e7f"%s, algorithm=MD5'
                                  % (', qop="auth"' if qop else ""))
    sipp_port = free_udp_port()
    loop = make_ua(free_udp_port(), user="door100", domain="doorsip.test", password=password,
                   registrar=(HOST, sipp_port), expires=300)
    with sipp_facing(loop, ["-sf", scenario, "-p", str(sipp_port)], 0.3) as proc:
        loop.ua.register(ticks_ms())
        loop.flush()
        loop.run(lambda: "registered" in loop.kinds() or "registration_failed" in loop.kinds(), 10)
        code = proc.wait(timeout=10)
        return loop, code, stop(proc)


def test_register_digest_checked_by_sipp(tmp_path):
    for qop in (False, True):
        loop, code, output = register_with_sipp(tmp_path, qop, "secret100")
        assert loop.kinds() == ["registered"], (loop.kinds(), output[-2000:])
        assert loop.events[0].expires == 120
        assert code == 0, output[-2000:]


def test_register_wrong_password_refused_by_sipp(tmp_path):
    loop, code, output = register_with_sipp(tmp_path, True, "wrong")
    assert loop.kinds() == ["registration_failed"], loop.kinds()
    assert loop.events[0].status == 403


# CANCEL both ways against SIPp's own transaction handling (custom scenarios: the
# built-in ones never cancel). [branch-N] reuses the INVITE's branch N messages back.
CANCELLING_UAC_XML = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="caller that cancels">
  <send retrans="500">
    <![CDATA[
      INVITE sip:door@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:door@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000

    ]]>
  </send>
  <recv response="100" optional="true" />
  <recv response="180" />
  <send retrans="500">
    <![CDATA[
      CANCEL sip:door@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch-3]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:door@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 CANCEL
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" />
  <recv response="487" />
  <send>
    <![CDATA[
      ACK sip:door@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch-6]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
</scenario>
"""

CANCELLED_UAS_XML = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="callee that gets cancelled">
  <recv request="INVITE" />
  <send>
    <![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port]>
      Content-Length: 0

    ]]>
  </send>
  <recv request="CANCEL" />
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <send>
    <![CDATA[
      SIP/2.0 487 Request Terminated
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      CSeq: 1 INVITE
      Content-Length: 0

    ]]>
  </send>
  <recv request="ACK" />
</scenario>
"""


def test_sipp_caller_cancels_our_ringing_call(tmp_path):
    scenario = tmp_path / "cancel_uac.xml"
    scenario.write_text(CANCELLING_UAC_XML)
    port = free_udp_port()
    loop = make_ua(port)
    with sipp_facing(loop, ["-sf", str(scenario), "%s:%d" % (HOST, port), "-p", str(free_udp_port())]) as proc:

        def on_event(event):
            if event.kind == "incoming_call":
                loop.ua.answer(event.call, 180, now_ms=ticks_ms())
        loop.run(lambda: proc.poll() is not None, 25, on_event)
        code = proc.wait(timeout=10)
        output = stop(proc)
        assert code == 0, output[-2000:]
        assert loop.kinds() == ["incoming_call", "call_ended"], loop.kinds()
        assert loop.events[-1].reason == "cancelled" and loop.ua.calls == []
        assert loop.ua.stats["errors"] == 0 and loop.ua.stats["garbage"] == 0


def test_we_cancel_a_call_to_sipp(tmp_path):
    scenario = tmp_path / "cancelled_uas.xml"
    scenario.write_text(CANCELLED_UAS_XML)
    sipp_port = free_udp_port()
    loop = make_ua(free_udp_port())
    with sipp_facing(loop, ["-sf", str(scenario), "-p", str(sipp_port)], 0.3) as proc:
        call = invite(loop, sipp_port, 40004)

        def on_event(event):
            if event.kind == "ringing":
                loop.ua.cancel(call, ticks_ms())
        loop.run(lambda: "call_failed" in loop.kinds(), 15, on_event)
        assert loop.kinds() == ["ringing", "call_failed"], loop.kinds()
        assert loop.events[-1].status == 487 and loop.events[-1].reason == "cancelled"
        code = proc.wait(timeout=10)
        output = stop(proc)
        assert code == 0, output[-2000:]

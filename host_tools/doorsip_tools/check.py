"""`doorsip check --config FILE`: pre-flight check of a station configuration.

1. validates the file with the firmware's doorsip.config (the error names the field);
2. resolves the registrar (and the outbound proxy) by DNS;
3. REGISTERs with the configured credentials and reports the outcome: 200
   (registered; the binding is removed again at once so the real station keeps
   its calls), 401/403 (credentials refused), or no answer (timeout);
4. sends OPTIONS to every call target (buttons' call and fallback lists) and
   reports each status (2xx reachable; 405/501: reachable but OPTIONS not
   supported; anything else or no answer: a problem).

The SIP work is the firmware's own sans-IO UserAgent (doorsip.sip.useragent),
driven by a small blocking UDP loop on an ephemeral port (the station's own port
may be in use). Prints a readable report; exits 1 when anything failed. The
password never appears in the report.
"""
import json
import socket
import time

from .cli import ToolError

OK, FAIL, SKIP = "ok", "FAIL", "skip"


def add_arguments(parser):
    parser.add_argument("--config", required=True, help="station configuration file")
    parser.add_argument("--timeout", type=float, default=8.0,
                        help="seconds to wait for each SIP answer (default 8)")
    parser.add_argument("--local-ip", help="our address as the server sees it (default: the route's source)")


class Report:
    def __init__(self):
        self.rows = []

    def add(self, state, what, detail):
        self.rows.append((state, what, detail))
        print("[%-4s] %-28s %s" % (state, what, detail), flush=True)

    def failures(self):
        return [r for r in self.rows if r[0] == FAIL]


def hostport(text, default_port=5060):
    """("host", port) from "host", "host:port", "[v6]" or "[v6]:port"."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, sep, port = text.rpartition(":")
        if not sep:
            host, port = text, ""
    return host, int(port) if port.isdigit() else default_port


def resolve(text):
    host, port = hostport(text)
    try:
        infos = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        raise LookupError("cannot resolve %s: %s" % (host, exc.strerror or exc))
    return infos[0][4]


def local_ip_towards(addr):
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(addr)
        return probe.getsockname()[0]
    except OSError:
        return "127.0.0.1"
    finally:
        probe.close()


class Loop:
    """Blocking UDP driver around the sans-IO UserAgent."""

    def __init__(self, sip, local_ip, timeout):
        from doorsip.compat import ticks_ms
        from doorsip.sip.useragent import UserAgent
        self.ticks_ms = ticks_ms
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("0.0.0.0", 0))
        port = self.sock.getsockname()[1]
        sip = dict(sip, local_port=port)
        self.ua = UserAgent.from_config(sip, local_ip, now_ms=ticks_ms())
        self.timeout = timeout
        self.resolved = {}

    def close(self):
        self.sock.close()

    def flush(self):
        for data, (host, port) in self.ua.datagrams():
            key = (host, port)
            if key not in self.resolved:
                try:
                    self.resolved[key] = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_DGRAM)[0][4]
                except socket.gaierror:
                    continue  # the UA's transaction times out and reports it
            try:
                self.sock.sendto(data, self.resolved[key])
            except OSError:
                pass  # unreachable: reported as a timeout by the transaction

    def wait_for(self, accept):
        """Run until accept(event) is true for an event; that event, or None on timeout."""
        from doorsip.compat import ticks_diff
        deadline = time.monotonic() + self.timeout
        self.flush()
        while time.monotonic() < deadline:
            event = self.ua.next_event()
            while event is not None:
                if accept(event):
                    self.flush()
                    return event
                event = self.ua.next_event()
            now = self.ticks_ms()
            due = self.ua.next_deadline_ms()
            wait = deadline - time.monotonic()
            if due is not None:
                wait = min(wait, max(0, ticks_diff(due, now)) / 1000.0)
            self.sock.settimeout(max(0.001, min(wait, 0.5)))
            try:
                data, addr = self.sock.recvfrom(65535)
            except socket.timeout:
                data = None
            except OSError:
                data = None  # ICMP unreachable from an earlier send
            now = self.ticks_ms()
            if data:
                self.ua.receive(data, (addr[0], addr[1]), now)
            self.ua.on_timer(now)
            self.flush()
        return None


def targets_of(cfg):
    seen = []
    for button in sorted((cfg.get("buttons") or {}).items()):
        for uri in list(button[1].get("call") or []) + list(button[1].get("fallback") or []):
            if uri not in seen:
                seen.append(uri)
    return seen


def run(args):
    from doorsip.config import ConfigError, validate
    report = Report()
    try:
        with open(args.config, encoding="utf-8") as f:
            raw = json.load(f)
    except OSError as exc:
        raise ToolError("cannot read %s: %s" % (args.config, exc.strerror or exc))
    except ValueError as exc:
        raise ToolError("%s is not valid JSON: %s" % (args.config, exc))
    try:
        cfg = validate(raw)
    except ConfigError as exc:
        report.add(FAIL, "config", str(exc))
        raise ToolError("the configuration is invalid (%s)" % exc.field)
    sip = cfg["sip"]
    report.add(OK, "config", "%s, role %s, SIP user %s" % (args.config, cfg["role"], sip["user"]))

    server = None
    for key in ("registrar", "proxy"):
        if sip.get(key):
            try:
                addr = resolve(sip[key])
                report.add(OK, "resolve " + key, "%s -> %s:%d" % (sip[key], addr[0], addr[1]))
                server = server or addr
            except LookupError as exc:
                report.add(FAIL, "resolve " + key, str(exc))
    local_ip = args.local_ip or (local_ip_towards(server) if server else "127.0.0.1")

    loop = Loop(sip, local_ip, args.timeout)
    try:
        if not sip.get("registrar"):
            report.add(SKIP, "register", "no registrar configured: calls go straight to the targets")
        elif not any(r[1] == "resolve registrar" and r[0] == FAIL for r in report.rows):
            check_register(loop, sip, report)
        for uri in targets_of(cfg):
            check_options(loop, uri, report)
    finally:
        loop.close()

    failures = report.failures()
    if failures:
        raise ToolError("%d of %d checks failed: %s" % (len(failures), len(report.rows),
                                                         ", ".join(r[1] for r in failures)))
    print("all %d checks passed" % len(report.rows))
    return 0


def check_register(loop, sip, report):
    started = time.monotonic()
    loop.ua.register()
    event = loop.wait_for(lambda e: e.kind in ("registered", "registration_failed"))
    took = "%.0f ms" % ((time.monotonic() - started) * 1000)
    what = "register %s" % sip["registrar"]
    if event is None:
        report.add(FAIL, what, "no answer within %.0f s: wrong address or port, or a firewall" % loop.timeout)
        return
    if event.kind == "registered":
        report.add(OK, what, "200 OK as %s (%s, expires %s s)" % (sip.get("auth_user") or sip["user"], took,
                                                                 event.expires))
        # Remove the test binding again so calls keep reaching the real station.
        loop.ua.unregister()
        loop.wait_for(lambda e: e.kind in ("unregistered", "registration_failed"))
        return
    status = event.status
    if status in (401, 407, 403):
        detail = "%s %s: user %s or its password is wrong" % (status, event.reason or "", sip.get("auth_user")
                                                              or sip["user"])
    elif status == 408:
        detail = "no answer within the SIP timeout: wrong address or port, or a firewall"
    else:
        detail = "%s %s" % (status, event.reason or "")
    report.add(FAIL, what, detail)


def check_options(loop, uri, report):
    try:
        call_id = loop.ua.options(uri)
    except Exception as exc:  # a malformed target the validator let through
        report.add(FAIL, "options " + uri, "cannot send: %s" % exc)
        return
    event = loop.wait_for(lambda e: e.kind == "options_response" and e.call_id == call_id)
    if event is None or event.status == 408:
        report.add(FAIL, "options " + uri, "no answer: target offline or unreachable")
    elif 200 <= event.status < 300:
        report.add(OK, "options " + uri, "%d %s" % (event.status, event.reason or ""))
    elif event.status in (405, 501):
        report.add(OK, "options " + uri, "%d: reachable (does not support OPTIONS)" % event.status)
    else:
        report.add(FAIL, "options " + uri, "%d %s" % (event.status, event.reason or ""))

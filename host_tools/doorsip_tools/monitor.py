"""`doorsip monitor --port PORT`: follow a device's events and logs.

The station writes one JSON object per line for each event ({"event": ..., "t_ms":
...}) and plain text for logs. Events are printed as "t  event  key=value ...",
coloured by kind on a terminal (errors red, door and call events green, resets
yellow); logs are printed dim. `--json` prints only the raw event lines on stdout
(logs then go to stderr), for piping into jq or a script. A device reset (its boot
banner) is marked; when the port vanishes (native USB re-enumerating) monitor
waits for it and carries on. Values under secret-looking keys are masked.
"""
import json
import os
import re
import sys
import time

from .cli import ToolError
from .provision import mask_everywhere
from .rawrepl import REBOOT_MARKERS, open_serial

COLOURS = {"red": "31", "green": "32", "yellow": "33", "cyan": "36", "dim": "2"}
EVENT_COLOUR = {
    "error": "red", "registration_failed": "red", "code_rejected": "red", "locked_out": "red",
    "door_opened": "green", "answered": "green", "registered": "green", "started": "green",
    "call_started": "cyan", "ringing": "cyan", "incoming_call": "cyan", "call_ended": "cyan", "dtmf": "cyan",
}
SECRET_IN_TEXT = re.compile(r'(?i)((?:password|passwd|secret|token)["\']?\s*[:=]\s*["\']?)([^"\'\s,}]+)')


def add_arguments(parser):
    parser.add_argument("--port", required=True, help="serial port of the device")
    parser.add_argument("--baud", type=int, default=115200, help="serial speed (default 115200)")
    parser.add_argument("--json", action="store_true", help="raw event lines on stdout (logs to stderr)")
    parser.add_argument("--no-color", action="store_true", help="no colours even on a terminal")
    parser.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long")


class Printer:
    def __init__(self, raw_json, colour):
        self.raw_json = raw_json
        self.colour = colour

    def paint(self, text, name):
        if not self.colour or not name:
            return text
        return "\x1b[%sm%s\x1b[0m" % (COLOURS[name], text)

    def line(self, text):
        text = text.rstrip("\r")
        if not text.strip():
            return
        event = None
        if text.lstrip().startswith("{"):
            try:
                event = json.loads(text)
            except ValueError:
                event = None
        if isinstance(event, dict) and "event" in event:
            event = mask_everywhere(event)
            if self.raw_json:
                print(json.dumps(event, separators=(",", ":")), flush=True)
                return
            name = str(event.get("event"))
            t = event.get("t_ms")
            stamp = ("%9.3f" % (t / 1000.0)) if isinstance(t, (int, float)) else " " * 9
            details = " ".join("%s=%s" % (k, json.dumps(v) if not isinstance(v, str) else v)
                               for k, v in event.items() if k not in ("event", "t_ms"))
            print("%s  %s  %s" % (stamp, self.paint(name.ljust(20), EVENT_COLOUR.get(name)), details), flush=True)
            return
        text = SECRET_IN_TEXT.sub(lambda m: m.group(1) + "****", text)
        if any(m.decode() in text for m in REBOOT_MARKERS):
            self.notice("device reset: " + text.strip())
            return
        stream = sys.stderr if self.raw_json else sys.stdout
        print(self.paint(text, "dim"), file=stream, flush=True)

    def notice(self, text):
        stream = sys.stderr if self.raw_json else sys.stdout
        print(self.paint("--- %s ---" % text, "yellow"), file=stream, flush=True)


def run(args):
    colour = (not args.no_color and not args.json and sys.stdout.isatty()
              and not os.environ.get("NO_COLOR"))
    printer = Printer(args.json, colour)
    follow(args.port, args.baud, printer, args.duration)
    return 0


def follow(port, baud, printer, duration=None):
    import serial
    deadline = None if duration is None else time.monotonic() + duration

    def expired():
        return deadline is not None and time.monotonic() > deadline

    link = open_serial(port, baud)  # the first open fails loudly: wrong port, permissions
    printer.notice("monitoring %s (Ctrl-C to stop)" % port)
    pending = b""
    while not expired():
        try:
            chunk = link.read(max(1, link.in_waiting))
        except (serial.SerialException, OSError, TypeError):
            chunk = None
        if chunk is None:  # the port vanished: wait for it to come back
            try:
                link.close()
            except Exception:
                pass
            if pending:
                printer.line(pending.decode("utf-8", "replace"))
                pending = b""
            printer.notice("%s gone; waiting for it to come back" % port)
            link = None
            while link is None and not expired():
                time.sleep(0.3)
                try:
                    link = open_serial(port, baud)
                except ToolError:
                    link = None
            if link is None:
                break
            printer.notice("reconnected to %s" % port)
            continue
        if not chunk:
            continue
        pending += chunk
        while b"\n" in pending:
            raw, pending = pending.split(b"\n", 1)
            printer.line(raw.decode("utf-8", "replace"))
    if link is not None:
        link.close()

# Station events and logs (DESIGN.md section 4, simulated board protocol): one JSON
# object per line on stdout, each with "event" and "t_ms" (milliseconds since the
# station started); human-readable logs go to stderr, never stdout, so a program
# reading the events never has to skip log lines.
import sys

try:
    import json
except ImportError:  # some MicroPython builds name it ujson
    import ujson as json

from doorsip.compat import ticks_ms, ticks_diff


class EventSink:
    """Writes events as JSON lines and logs as text; keeps the last `keep` events
    in .recent (none by default: nothing on a station reads them, and a few
    events' dicts hold kilobytes of heap)."""

    def __init__(self, stream=None, log_stream=None, keep=0):
        # Attributes named as the arguments: fewer distinct names (MicroPython qstrs).
        self.stream = stream
        self.log_stream = log_stream
        self.start = ticks_ms()  # the tick t_ms counts from
        self.keep = keep
        self.recent = []

    def emit(self, name, fields=None):
        event = {"event": name, "t_ms": ticks_diff(ticks_ms(), self.start)}
        if fields:
            for key in fields:
                event[key] = fields[key]
        out = self.stream if self.stream is not None else sys.stdout
        out.write(json.dumps(event))
        out.write("\n")
        try:
            out.flush()
        except AttributeError:  # MicroPython's stdout may not buffer
            pass
        recent = self.recent
        recent.append(event)
        if len(recent) > self.keep:
            recent.pop(0)
        return event

    def log(self, message):
        out = self.log_stream if self.log_stream is not None else sys.stderr
        out.write("[%d] %s\n" % (ticks_diff(ticks_ms(), self.start), message))


def __getattr__(name):
    # MemorySink (tests, embedding) from events_memory on first use.
    if name != "MemorySink":
        raise AttributeError(name)
    from doorsip.events_memory import MemorySink
    return MemorySink

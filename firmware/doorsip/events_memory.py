# MemorySink: events.py's sink keeping everything in memory, for tests and
# embedding (events.MemorySink; a station never loads this module).
from doorsip.events import EventSink


class MemorySink(EventSink):
    """Keeps events and logs in memory only: for tests and embedding."""

    def __init__(self, keep=1000):
        EventSink.__init__(self, self, keep=keep)  # events are written to write() below
        self.logs = []

    def write(self, text):
        pass  # nothing leaves memory

    def log(self, message):
        self.logs.append(message)
        if len(self.logs) > self.keep:
            self.logs.pop(0)

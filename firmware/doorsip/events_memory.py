# MemorySink: events.py's sink keeping everything in memory, for tests and
# embedding (events.MemorySink; a station never loads this module).
from doorsip.events import EventSink


class MemorySink(EventSink):
    """Keeps events and logs in memory only: for tests and embedding."""

    def __init__(self, keep=1000):
        EventSink.__init__(self, keep=keep)
        self.logs = []

    def _write(self, event):
        pass

    def log(self, message):
        self.logs.append(message)
        if len(self.logs) > self._keep:
            self.logs.pop(0)

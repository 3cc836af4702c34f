"""Shared helpers of the host tools: where the firmware and the board files are,
loading a board through the firmware's own board.py, and console output.

The firmware package `doorsip` is importable on the host (pyproject installs it);
host tools only use its data modules (config.py, board.py), never the runtime.
"""
import os
import sys

from .cli import ToolError

HERE = os.path.dirname(os.path.abspath(__file__))


def firmware_dir():
    """The folder holding the firmware's `doorsip` package (and main.py)."""
    import doorsip
    return os.path.dirname(os.path.dirname(os.path.abspath(doorsip.__file__)))


def repo_root():
    return os.path.dirname(firmware_dir())


def installed_data(*parts):
    """<prefix>/share/doorsip/...: where `pip install .` puts boards/ and main.py."""
    return os.path.join(sys.prefix, "share", "doorsip", *parts)


def boards_dir():
    """boards/ next to firmware/ (a checkout), else the installed copy;
    DOORSIP_BOARDS overrides."""
    if os.environ.get("DOORSIP_BOARDS"):
        return os.environ["DOORSIP_BOARDS"]
    path = os.path.join(repo_root(), "boards")
    if not os.path.isdir(path) and os.path.isdir(installed_data("boards")):
        return installed_data("boards")
    return path


def firmware_version():
    import doorsip
    return getattr(doorsip, "__version__", "unknown")


def load_board(name):
    """The board dict for NAME (a name in boards/ or a path), as a ToolError on failure."""
    try:
        from doorsip.board import load_board as _load, BoardError
    except ImportError as exc:  # pragma: no cover - board.py ships with the firmware
        raise ToolError("firmware/doorsip/board.py is missing (%s)" % exc)
    try:
        return _load(name, boards_dir())
    except BoardError as exc:
        raise ToolError("board %r: %s (boards live in %s)" % (name, exc, boards_dir()))
    except OSError as exc:
        raise ToolError("board %r: cannot read it: %s" % (name, exc.strerror or exc))


def board_name(board, fallback):
    return board.get("name") or fallback


class Console:
    """stderr output for progress; colours only when stderr is a terminal."""

    def __init__(self, stream=None, quiet=False):
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self._bar_open = False
        self._last_label = None

    def info(self, text):
        if self.quiet:
            return
        self._end_bar()
        self.stream.write(text + "\n")
        self.stream.flush()

    def progress(self, done, total, label=""):
        """A one-line progress bar, redrawn in place on a terminal."""
        if self.quiet:
            return
        width = 30
        filled = width * done // total if total else width
        line = "[%s%s] %3d%% %s" % ("#" * filled, "." * (width - filled),
                                     100 * done // total if total else 100, label)
        if self.stream.isatty():
            self.stream.write("\r\x1b[K" + line)
            self._bar_open = True
            if done >= total:
                self._end_bar()
        elif label != self._last_label or done >= total:
            # Not a terminal (a log, CI): one line per item, not per chunk.
            self.stream.write(line + "\n")
            self._last_label = label
        self.stream.flush()

    def _end_bar(self):
        if self._bar_open:
            self.stream.write("\n")
            self._bar_open = False

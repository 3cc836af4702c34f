# `doorsip monitor`: a device on a pty (socat) whose MicroPython program writes
# events through the firmware's own EventSink and logs on the same serial line,
# then resets (the program ends, a restart loop boots it again, printing the
# board banner first); the port also vanishes and comes back (native USB).
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from doorsip_tools.monitor import Printer
from host_support import started
from tooling import FIRMWARE, micropython, require

PROGRAM = r'''
import sys, time
print("MicroPython v1.24.1 on 2024-11-29; Generic ESP32 module with ESP32")
from doorsip.events import EventSink
sink = EventSink(sys.stdout, sys.stdout)
sink.emit("started", {"board": "esp32-devkitc"})
sink.log("sip: REGISTER as door100 password=hunter2-secret")
sink.emit("door_opened", {"relay": "door"})
sink.emit("error", {"message": "demo", "password": "hunter2-secret"})
time.sleep(0.4)
'''


class EventDevice:
    def __init__(self, tmp_path):
        self.socat = require("socat")
        self.mpy = micropython()
        self.dir = str(tmp_path)
        self.port = os.path.join(self.dir, "ttyEVENTS")
        with open(os.path.join(self.dir, "program.py"), "w") as f:
            f.write(PROGRAM)
        self.script = os.path.join(self.dir, "device.sh")
        with open(self.script, "w") as f:
            f.write('#!/bin/sh\nwhile :; do MICROPYPATH="%s" "%s" "%s/program.py"; sleep 0.3; done\n'
                    % (FIRMWARE, self.mpy, self.dir))
        os.chmod(self.script, 0o755)
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([self.socat, "PTY,link=%s,raw,echo=0" % self.port,
                                      "EXEC:%s,pty,raw,echo=0" % self.script],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 5
        while not os.path.exists(self.port) and time.monotonic() < deadline:
            time.sleep(0.02)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        try:
            os.remove(self.port)  # a vanished USB device's node goes away too
        except OSError:
            pass


@pytest.fixture
def device(tmp_path):
    yield from started(EventDevice(tmp_path))


def monitor(*args):
    return subprocess.Popen([sys.executable, "-m", "doorsip_tools", "monitor"] + list(args),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_json_mode_prints_raw_events_and_masks_secrets(device):
    proc = monitor("--port", device.port, "--json", "--duration", "2.5")
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    names = [e["event"] for e in events]
    assert names.count("started") >= 2, names  # it reset at least once while we watched
    assert "door_opened" in names and all("t_ms" in e for e in events)
    assert "hunter2" not in out + err
    assert "REGISTER as door100 password=****" in err
    assert "device reset" in err


def test_pretty_mode_and_a_port_that_vanishes(device):
    proc = monitor("--port", device.port, "--duration", "5")
    time.sleep(1.2)
    device.stop()  # the USB port disappears
    time.sleep(1.0)
    device.start()
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "\x1b[" not in out  # no colours when stdout is not a terminal
    assert "gone; waiting" in out and "reconnected to" in out, out
    gone = out.index("gone; waiting")
    back = out.index("reconnected to")
    assert gone < back
    assert "started" in out[back:] and "door_opened" in out[back:], out
    assert "hunter2" not in out + err


def test_colours_on_a_terminal(capsys):
    printer = Printer(raw_json=False, colour=True)
    printer.line('{"event": "door_opened", "t_ms": 1500, "relay": "door"}')
    printer.line('{"event": "error", "t_ms": 1600, "message": "boom"}')
    printer.line("plain log line")
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("    1.500  \x1b[32mdoor_opened") and "relay=door" in out[0]
    assert "\x1b[31merror" in out[1]
    assert out[2] == "\x1b[2mplain log line\x1b[0m"


def test_monitor_no_such_port(tmp_path):
    proc = monitor("--port", str(tmp_path / "ttyNONE"), "--duration", "1")
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 1 and "no such port" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1

"""`doorsip demo`: a door station and an indoor station talking on 127.0.0.1.

The indoor unit runs on CPython, the door station on the MicroPython unix port in a
192K heap (the firmware compiled to .mpy), both through `doorsip run --board sim`,
with no SIP server: the door calls the flat's address directly. The demo presses
the bell, the indoor unit rings and answers, three seconds of audio flow each way
(a 440 Hz tone from the door, 1000 Hz from the flat, recorded to WAV files), the
indoor unit sends the door code by RFC 4733, the door relay pulses and the door
hangs up. It prints a timeline and the WAV paths, and exits 0 only when all of
that happened, checked from the events and the recordings.
"""
import json
import math
import os
import queue
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import wave

from .cli import ToolError

RATE = 8000
DOOR_TONE = 440
FLAT_TONE = 1000
AUDIO_S = 3
CODE = "1234"
# The door's MicroPython heap: the target, 192K (a plain ESP32 leaves about 112 KB,
# x1.4-1.7 on this 64-bit port). The demo's door (WAV audio, in-band DTMF on) passes
# down to 184K; bench/bench_station.py bisects the smallest heap for its door.
DOOR_HEAP = "192K"


def add_arguments(parser):
    parser.add_argument("--door-runtime", choices=("micropython", "cpython"), default="micropython",
                        help="interpreter of the door station (default micropython)")
    parser.add_argument("--heap", default=DOOR_HEAP,
                        help="MicroPython heap of the door station (default %s)" % DOOR_HEAP)
    parser.add_argument("--out", help="folder for configs and WAV files (default: a new temporary folder)")
    parser.add_argument("--timeout", type=float, default=30.0, help="give up after this many seconds")


def free_udp_ports(count):
    """`count` distinct UDP ports that are free on 127.0.0.1 (consecutive pairs not needed)."""
    socks, ports = [], []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def write_tone(path, freq, seconds, amplitude=8000):
    frames = bytearray()
    for i in range(int(RATE * seconds)):
        frames += struct.pack("<h", int(amplitude * math.sin(2 * math.pi * freq * i / RATE)))
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(bytes(frames))


def tone_seconds(path, freq):
    """Seconds of the recording in which `freq` dominates (Goertzel power per 20 ms
    frame against the frame's total energy)."""
    with wave.open(path, "rb") as w:
        data = w.readframes(w.getnframes())
    samples = struct.unpack("<%dh" % (len(data) // 2), data)
    frame = 160
    coeff = 2 * math.cos(2 * math.pi * freq / RATE)
    hits = 0
    for start in range(0, len(samples) - frame + 1, frame):
        s1 = s2 = 0.0
        energy = 0.0
        for x in samples[start:start + frame]:
            s0 = x + coeff * s1 - s2
            s2, s1 = s1, s0
            energy += x * x
        power = s1 * s1 + s2 * s2 - coeff * s1 * s2
        # A pure tone puts about N/2 of the frame energy into its Goertzel bin.
        if energy > frame * 100 ** 2 and power > 0.25 * energy * frame / 2:
            hits += 1
    return hits * frame / RATE


class Station:
    def __init__(self, label, argv, env, timeline):
        self.label = label
        self.events = []
        self.timeline = timeline
        # Its own process group: `doorsip run --runtime micropython` is a wrapper with
        # the interpreter as its child, and kill_group() must reach both.
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, text=True, bufsize=1,
                                     start_new_session=True)
        self.stderr = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read(self):
        # The station's JSON event lines (anything else on stdout is skipped), one
        # _event() call each, then _ended() once stdout is closed.
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            self._event(event)
        self._ended()

    def _event(self, event):
        self.events.append(event)
        self.timeline.put((time.monotonic(), self.label, event))

    def _ended(self):
        pass

    def _read_err(self):
        for line in self.proc.stderr:
            self.stderr.append(line.rstrip())

    def send(self, command):
        self.timeline.put((time.monotonic(), self.label, {"event": "> " + command}))
        try:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass

    def has(self, name, **fields):
        for event in self.events:
            if event.get("event") == name and all(event.get(k) == v for k, v in fields.items()):
                return event
        return None

    def stop(self, timeout=5):
        """quit, then wait; SIGKILLed with its group if it does not stop within
        timeout seconds. Returns the exit code."""
        self.send("quit")
        try:
            self.proc.stdin.close()
        except (BrokenPipeError, ValueError, OSError):
            pass
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill_group()
        return self.proc.returncode

    def kill_group(self):
        """SIGKILL the station and whatever it started (even once it has exited)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass  # the whole group has already gone
        self.proc.wait()


def describe(event):
    name = event.get("event")
    details = {k: v for k, v in event.items() if k not in ("event", "t_ms")}
    if not details:
        return name
    return "%s %s" % (name, " ".join("%s=%s" % (k, details[k]) for k in sorted(details)))


def run(args):
    out = args.out or tempfile.mkdtemp(prefix="doorsip-demo-")
    os.makedirs(out, exist_ok=True)
    door_sip, flat_sip, door_rtp, flat_rtp = free_udp_ports(4)
    door_cfg = {
        "role": "door", "name": "Front door", "board": "sim",
        "sip": {"user": "door", "local_port": door_sip, "display_name": "Front door"},
        "rtp": {"port": door_rtp, "codecs": ["PCMU", "PCMA"], "dtmf": ["rfc4733", "info", "inband"]},
        "buttons": {"bell": {"call": ["sip:flat@127.0.0.1:%d" % flat_sip], "ring_timeout_s": 20}},
        "doors": {"door": {"code": CODE, "pulse_ms": 1000, "max_wrong": 3, "lockout_s": 60}},
        "call": {"max_duration_s": 60, "hangup_after_open_s": 1},
    }
    flat_cfg = {
        "role": "indoor", "name": "Flat 1", "board": "sim",
        "sip": {"user": "flat", "local_port": flat_sip},
        "rtp": {"port": flat_rtp},
        "incoming": {"allow": ["*"]},
        "indoor": {"door_code": CODE, "dtmf_method": "rfc4733", "auto_answer_s": 1},
    }
    paths = {name: os.path.join(out, name) for name in (
        "door.json", "flat.json", "door-mic.wav", "flat-mic.wav", "door-speaker.wav", "flat-speaker.wav")}
    for name, cfg in (("door.json", door_cfg), ("flat.json", flat_cfg)):
        with open(paths[name], "w") as f:
            json.dump(cfg, f, indent=2)
    write_tone(paths["door-mic.wav"], DOOR_TONE, 2)
    write_tone(paths["flat-mic.wav"], FLAT_TONE, 2)

    from .run import micropython_command, build_for_unix_port
    from .common import boards_dir
    env = dict(os.environ)
    doorsip = [sys.executable, "-m", "doorsip_tools"]
    flat_argv = doorsip + ["run", "--board", "sim", "--config", paths["flat.json"],
                           "--mic", paths["flat-mic.wav"], "--speaker", paths["flat-speaker.wav"]]
    station_args = ["--config", paths["door.json"], "--board", "sim", "--boards-dir", boards_dir(),
                    "--mic", paths["door-mic.wav"], "--speaker", paths["door-speaker.wav"]]
    if args.door_runtime == "micropython":
        print("compiling the firmware to .mpy for the MicroPython unix port ...", flush=True)
        door_argv, door_env = micropython_command(station_args, args.heap, build_for_unix_port())
    else:
        door_argv, door_env = [sys.executable, "-m", "doorsip.runtime"] + station_args, env

    timeline = queue.Queue()
    t0 = time.monotonic()
    print("doorsip demo: door station (%s%s) and indoor station (cpython) on 127.0.0.1, no server"
          % (args.door_runtime, ", heap " + args.heap if args.door_runtime == "micropython" else ""))
    print("  files in %s" % out)
    flat = Station("indoor", flat_argv, env, timeline)
    door = Station("door", door_argv, door_env, timeline)
    deadline = t0 + args.timeout
    step = "start"
    answered_at = None
    ok = False
    try:
        while time.monotonic() < deadline:
            try:
                when, label, event = timeline.get(timeout=0.1)
                print("  %6.2fs  %-7s %s" % (when - t0, label, describe(event)), flush=True)
            except queue.Empty:
                pass
            for station in (door, flat):
                if station.proc.poll() is not None and step != "done":
                    raise ToolError("the %s station exited early (status %s): %s"
                                    % (station.label, station.proc.returncode,
                                       station.stderr[-1] if station.stderr else "no message"))
            if step == "start" and door.has("started") and flat.has("started"):
                door.send("press bell")
                step = "ringing"
            elif step == "ringing" and door.has("answered"):
                answered_at = time.monotonic()
                step = "talking"
            elif step == "talking" and time.monotonic() - answered_at >= AUDIO_S:
                flat.send("press open")
                step = "opening"
            elif step == "opening" and door.has("call_ended") and flat.has("call_ended"):
                step = "done"
                break
    finally:
        door.stop()
        flat.stop()
        while not timeline.empty():
            when, label, event = timeline.get()
            print("  %6.2fs  %-7s %s" % (when - t0, label, describe(event)))

    opened = door.has("door_opened")
    checks = [
        ("the indoor unit rang", bool(flat.has("incoming_call"))),
        ("the call was answered", bool(door.has("answered"))),
        ("the door code arrived", bool(opened)),
        ("the relay pulsed", bool(door.has("relay", state="on")) and bool(door.has("relay", state="off"))),
        ("the call ended", step == "done"),
    ]
    heard_at_door = tone_seconds(paths["door-speaker.wav"], FLAT_TONE) if os.path.exists(paths["door-speaker.wav"]) else 0
    heard_at_flat = tone_seconds(paths["flat-speaker.wav"], DOOR_TONE) if os.path.exists(paths["flat-speaker.wav"]) else 0
    checks.append(("%.1f s of the flat's %d Hz tone at the door speaker" % (heard_at_door, FLAT_TONE),
                   heard_at_door >= AUDIO_S - 0.5))
    checks.append(("%.1f s of the door's %d Hz tone at the flat speaker" % (heard_at_flat, DOOR_TONE),
                   heard_at_flat >= AUDIO_S - 0.5))
    print()
    for text, good in checks:
        print("  [%s] %s" % ("ok" if good else "FAILED", text))
    print("  recordings: %s" % paths["door-speaker.wav"])
    print("              %s" % paths["flat-speaker.wav"])
    print("  total %.1f s" % (time.monotonic() - t0))
    ok = all(good for _, good in checks)
    if not ok:
        for station in (door, flat):
            for line in station.stderr[-5:]:
                print("  %s stderr: %s" % (station.label, line), file=sys.stderr)
        raise ToolError("the demo did not complete (see the checks above)")
    return 0

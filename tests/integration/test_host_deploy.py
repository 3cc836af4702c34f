# `doorsip deploy` against a real MicroPython REPL: the unix port behind a pty
# (socat), sandboxed so only its device root is writable (fake_device.py).
import hashlib
import json
import os
import pty
import threading
import time

import pytest

from doorsip_tools import build as build_mod
from fake_device import FakeDevice
from host_support import assert_one_line_error, run_cli, started

BOARD = "esp32-devkitc"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("build") / BOARD)
    return build_mod.build(BOARD, out)


@pytest.fixture
def device(tmp_path):
    yield from started(FakeDevice(tmp_path))


def deploy(capsys, device, out):
    # --no-build: others edit firmware/ concurrently; the fixture's build is the reference.
    return run_cli(capsys, "deploy", "--port", device.port, "--board", BOARD, "--out", out, "--root", device.root,
                   "--no-build")


def device_matches(device, manifest):
    wrong = []
    for rel, info in manifest["files"].items():
        path = device.path(rel)
        if not os.path.isfile(path) or hashlib.sha256(open(path, "rb").read()).hexdigest() != info["sha256"]:
            wrong.append(rel)
    return wrong


def deploy_while(capsys, device, out, manifest, files, disrupt):
    """deploy, and once `files` of the manifest's files are on the device (within
    30 s), disrupt(how many are) from another thread; returns deploy's (status,
    out, err)."""
    def watch():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            done = len([r for r in manifest["files"] if os.path.isfile(device.path(r))])
            if done >= files:
                disrupt(done)
                return
            time.sleep(0.001)

    thread = threading.Thread(target=watch)
    thread.start()
    result = deploy(capsys, device, out)
    thread.join()
    return result


def wait_boots(device, count, timeout=5.0):
    deadline = time.monotonic() + timeout
    while device.boots() < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return device.boots()


def test_deploy_uploads_verifies_resets_then_only_changes(device, built, capsys):
    out, manifest = built
    status, _o, err = deploy(capsys, device, out)
    assert status == 0, err
    assert device_matches(device, manifest) == []
    assert json.load(open(device.path("manifest.json")))["files"] == manifest["files"]
    n = len(manifest["files"])
    assert "%d of %d files differ" % (n, n) in err and "all %d verified" % n in err
    bars = [l for l in err.splitlines() if l.startswith("[") and "%" in l]
    assert n <= len(bars) <= n + 1 and bars[-1].startswith("[" + "#" * 30 + "] 100%")  # a line per file off a tty
    assert wait_boots(device, 1) == 1  # the soft reset restarted the interpreter
    assert not [p for p in os.listdir(device.root) if p.endswith(".tmp")]

    # Nothing changed: nothing uploaded.
    status, _o, err = deploy(capsys, device, out)
    assert status == 0 and "0 of %d files differ" % n in err

    # One module damaged on the device and a stale source that would shadow its .mpy.
    with open(device.path("doorsip/compat.mpy"), "r+b") as f:
        f.write(b"XX")
    open(device.path("doorsip/config.py"), "w").write("raise ImportError('stale')\n")
    status, _o, err = deploy(capsys, device, out)
    assert status == 0, err
    assert "1 of %d files differ" % n in err and "removed stale doorsip/config.py" in err
    assert device_matches(device, manifest) == [] and not os.path.exists(device.path("doorsip/config.py"))


def test_deploy_survives_a_reboot_in_the_middle(device, built, capsys):
    out, manifest = built
    killed = []

    def cut_power(done):
        device.kill_interpreter()
        killed.append(done)

    status, _o, err = deploy_while(capsys, device, out, manifest, 4, cut_power)
    assert killed and killed[0] < len(manifest["files"]), "the reboot did not land mid-deploy"
    assert status == 0, err
    assert "reconnecting" in err and "after 1 device reset" in err
    assert device_matches(device, manifest) == []
    assert wait_boots(device, 2) >= 2  # the cut, then the final soft reset (stray input may add one)


def test_deploy_survives_the_port_vanishing_and_coming_back(device, built, capsys, monkeypatch):
    # Native USB (ESP32-S3): a reset takes the port away for a moment.
    out, manifest = built
    monkeypatch.setenv("DOORSIP_RECONNECT_S", "15")
    events = []

    def unplug_then_replug(_done):
        device.unplug()
        events.append("unplugged")
        time.sleep(1.0)
        device.replug()
        events.append("replugged")

    status, _o, err = deploy_while(capsys, device, out, manifest, 6, unplug_then_replug)
    assert events == ["unplugged", "replugged"]
    assert status == 0, err
    assert "reconnecting" in err and device_matches(device, manifest) == []


def test_deploy_interrupts_a_running_program(tmp_path, built, capsys):
    # Like a board running its main.py at boot: a program printing events without
    # end, which Ctrl-C (a SIGINT through the cooked pty) has to stop.
    out, manifest = built
    dev = FakeDevice(tmp_path, name="busy")
    with open(dev.path("main.py"), "w") as f:
        f.write("import time\nwhile True:\n    print('{\"event\": \"tick\"}')\n    time.sleep(0.005)\n")
    dev.start()
    try:
        time.sleep(0.3)
        status, _o, err = deploy(capsys, dev, out)
        assert status == 0, err
        assert device_matches(dev, manifest) == []
    finally:
        dev.stop()


def test_sandbox_keeps_the_device_inside_its_root(device):
    if not device.sandboxed:
        pytest.skip("bubblewrap unavailable: the fake device runs with its root as working directory")
    from doorsip_tools.rawrepl import DeviceError, RawRepl
    with RawRepl(device.port, root=device.root) as repl:
        with pytest.raises(DeviceError) as info:
            repl.exec_("open('/tmp/doorsip-escape-test','w')")
        assert "30" in info.value.last_line()  # EROFS
        repl.put("inside.txt", b"ok")
    assert open(device.path("inside.txt"), "rb").read() == b"ok"


def test_deploy_builds_when_needed(device, tmp_path, capsys):
    out = tmp_path / "fresh"
    status, _o, err = run_cli(capsys, "deploy", "--port", device.port, "--board", BOARD, "--out", out,
                              "--root", device.root, "--no-reset")
    assert status == 0, err
    manifest = json.load(open(str(out / "manifest.json")))
    assert device_matches(device, manifest) == [] and device.boots() == 0


def test_deploy_error_paths(tmp_path, built, capsys, monkeypatch):
    out, _manifest = built
    monkeypatch.setenv("DOORSIP_CONNECT_S", "1")
    status, _o, err = run_cli(capsys, "deploy", "--port", tmp_path / "ttyNOPE", "--board", BOARD, "--out", out,
                              "--no-build")
    assert_one_line_error(status, err, "no such port", "doorsip ports")
    status, _o, err = run_cli(capsys, "deploy", "--port", tmp_path / "ttyNOPE", "--board", "esp33")
    assert_one_line_error(status, err, "esp33", "unknown board")
    status, _o, err = run_cli(capsys, "deploy", "--port", tmp_path / "ttyNOPE", "--board", BOARD,
                              "--out", tmp_path / "empty", "--no-build")
    assert_one_line_error(status, err, "no complete build", "doorsip build")

    # A port where nothing speaks MicroPython.
    master, slave = pty.openpty()
    try:
        status, _o, err = run_cli(capsys, "deploy", "--port", os.ttyname(slave), "--board", BOARD, "--out", out,
                                  "--no-build")
        assert_one_line_error(status, err, "no MicroPython raw REPL")
    finally:
        os.close(master)
        os.close(slave)


def test_deploy_to_a_read_only_root_says_so(device, built, capsys):
    if not device.sandboxed:
        pytest.skip("bubblewrap unavailable: nothing is read-only for the fake device")
    out, _manifest = built
    status, _o, err = run_cli(capsys, "deploy", "--port", device.port, "--board", BOARD, "--out", out,
                              "--root", "/usr", "--no-build")
    assert_one_line_error(status, err, "read-only", "--root")


def test_deploy_to_a_root_that_does_not_exist(device, built, capsys):
    out, _manifest = built
    status, _o, err = run_cli(capsys, "deploy", "--port", device.port, "--board", BOARD, "--out", out,
                              "--root", "/no/such/root", "--no-build")
    assert_one_line_error(status, err, "/no/such/root")


def test_plain_raw_mode_without_raw_paste(device):
    # Firmware older than 1.14 has no raw-paste mode: paced writes in plain raw mode.
    from doorsip_tools.rawrepl import RawRepl
    data = os.urandom(3000)
    with RawRepl(device.port, root=device.root, allow_raw_paste=False) as repl:
        assert repl.raw_paste is False
        repl.put("sub/dir/blob.bin", data)
        assert repl.hashes(["sub/dir/blob.bin"]) == {"sub/dir/blob.bin": hashlib.sha256(data).hexdigest()}
        assert repl.get("sub/dir/blob.bin") == data and repl.get("missing.bin") is None
    assert open(device.path("sub/dir/blob.bin"), "rb").read() == data

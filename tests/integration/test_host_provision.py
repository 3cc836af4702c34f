# `doorsip provision` against the real MicroPython REPL on a pty (fake_device.py):
# validation by the firmware's own config.py, atomic writes that survive a power
# cut, fleet rows, local (Pi) files, and secrets that never reach the output.
import json
import os
import threading
import time

import pytest

from doorsip.config import validate
from fake_device import FakeDevice
from host_support import (DOOR_CODE, SECRET, assert_one_line_error, run_cli, sample_config, started,
                          write_json)


@pytest.fixture
def device(tmp_path):
    yield from started(FakeDevice(tmp_path))


def provision(capsys, device, *argv):
    return run_cli(capsys, "provision", "--port", device.port, "--root", device.root, *argv)


def no_secret(*texts):
    for text in texts:
        assert SECRET not in text and DOOR_CODE not in text, text


def test_provision_writes_and_show_masks(device, tmp_path, capsys):
    cfg_path = write_json(tmp_path / "door.json", sample_config())
    status, out, err = provision(capsys, device, cfg_path)
    assert status == 0, err
    no_secret(out, err)
    on_device = json.load(open(device.path("config.json")))
    assert on_device == sample_config()
    assert validate(on_device)["sip"]["password"] == SECRET
    assert not os.path.exists(device.path("config.json.tmp"))

    status, out, err = provision(capsys, device, "--show")
    assert status == 0, err
    no_secret(out, err)
    shown = json.loads(out)
    assert shown["sip"]["password"] == "****" and shown["doors"]["door"]["code"] == "****"
    assert shown["sip"]["user"] == "door100"


def test_rejected_config_names_the_field_and_leaves_the_device_alone(device, tmp_path, capsys):
    good = write_json(tmp_path / "good.json", sample_config())
    assert provision(capsys, device, good)[0] == 0
    before = open(device.path("config.json"), "rb").read()

    bad = sample_config()
    bad["sip"]["expires"] = "abc"
    status, out, err = provision(capsys, device, write_json(tmp_path / "bad.json", bad))
    assert_one_line_error(status, err, "sip.expires", "nothing written")
    no_secret(out, err)
    assert open(device.path("config.json"), "rb").read() == before

    # A wrong-typed password is named but never shown, even with --debug.
    bad = sample_config()
    bad["sip"]["password"] = 987654
    path = write_json(tmp_path / "bad2.json", bad)
    status, out, err = provision(capsys, device, path)
    assert_one_line_error(status, err, "sip.password")
    assert "987654" not in out + err

    # Validation comes first: even a missing port reports the config's problem.
    status, _o, err = run_cli(capsys, "provision", "--port", tmp_path / "ttyNONE", path)
    assert_one_line_error(status, err, "sip.password")
    assert "987654" not in err

    # A button the board does not have is caught against the board file.
    bad = sample_config(board="esp32-devkitc", buttons={"garage": {"call": ["sip:a@127.0.0.1"]}})
    status, _o, err = provision(capsys, device, write_json(tmp_path / "bad3.json", bad))
    assert_one_line_error(status, err, "garage")
    assert open(device.path("config.json"), "rb").read() == before

    status, _o, err = provision(capsys, device, tmp_path / "missing.json")
    assert_one_line_error(status, err, "missing.json")
    (tmp_path / "broken.json").write_text('{"role": "door",')
    status, _o, err = provision(capsys, device, tmp_path / "broken.json")
    assert_one_line_error(status, err, "not valid JSON", "line 1")


def cut_during_write(device, final_size, how):
    """Watch the device root; cut the power while config.json.tmp is half written."""
    result = {}

    def watch():
        tmp = device.path("config.json.tmp")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                size = os.path.getsize(tmp)
            except OSError:
                size = 0
            if 0 < size < final_size:
                how()
                result["cut_at"] = size
                return
            time.sleep(0.0005)

    thread = threading.Thread(target=watch)
    thread.start()
    return thread, result


def new_config_bytes():
    cfg = sample_config(name="Back door")
    return cfg, (json.dumps(cfg, indent=2, sort_keys=True) + "\n").encode()


def test_power_cut_mid_write_keeps_the_old_config(device, tmp_path, capsys, monkeypatch):
    assert provision(capsys, device, write_json(tmp_path / "old.json", sample_config()))[0] == 0
    old = open(device.path("config.json"), "rb").read()
    new_cfg, new_bytes = new_config_bytes()
    # Small chunks: many round trips, so the cut lands inside the write.
    monkeypatch.setenv("DOORSIP_UPLOAD_CHUNK", "16")
    monkeypatch.setenv("DOORSIP_RECONNECT_S", "1.5")
    thread, result = cut_during_write(device, len(new_bytes), device.unplug)
    status, out, err = provision(capsys, device, write_json(tmp_path / "new.json", new_cfg))
    thread.join()
    assert "cut_at" in result, "the cut did not land mid-write"
    assert_one_line_error(status, err)
    no_secret(out, err)
    assert open(device.path("config.json"), "rb").read() == old  # untouched
    assert os.path.getsize(device.path("config.json.tmp")) == result["cut_at"] or \
        os.path.getsize(device.path("config.json.tmp")) < len(new_bytes)

    # Power back: provisioning again completes, the stale tmp file does no harm.
    device.replug()
    monkeypatch.setenv("DOORSIP_UPLOAD_CHUNK", "1024")
    status, _o, err = provision(capsys, device, tmp_path / "new.json")
    assert status == 0, err
    assert open(device.path("config.json"), "rb").read() == new_bytes


def test_reboot_mid_write_reconnects_and_completes(device, tmp_path, capsys, monkeypatch):
    assert provision(capsys, device, write_json(tmp_path / "old.json", sample_config()))[0] == 0
    new_cfg, new_bytes = new_config_bytes()
    monkeypatch.setenv("DOORSIP_UPLOAD_CHUNK", "16")
    thread, result = cut_during_write(device, len(new_bytes), device.kill_interpreter)
    status, out, err = provision(capsys, device, write_json(tmp_path / "new.json", new_cfg))
    thread.join()
    assert "cut_at" in result
    assert status == 0, err
    assert "reconnecting" in err
    assert open(device.path("config.json"), "rb").read() == new_bytes


FLEET = """device,user,password,name,sip.local_port,buttons.bell.call
door1,door101,pw-door-101,Front door,5061,"[""sip:flat201@127.0.0.1""]"
door2,door102,pw-door-102,Back door,,
"""


def test_fleet_rows_fill_the_template(device, tmp_path, capsys):
    template = write_json(tmp_path / "template.json", sample_config())
    (tmp_path / "devices.csv").write_text(FLEET)
    status, out, err = provision(capsys, device, "--fleet", tmp_path / "devices.csv", "--row", "door1", template)
    assert status == 0, err
    assert "pw-door-101" not in out + err
    cfg = json.load(open(device.path("config.json")))
    assert cfg["sip"]["user"] == "door101" and cfg["sip"]["auth_user"] == "door101"
    assert cfg["sip"]["password"] == "pw-door-101" and cfg["name"] == "Front door"
    assert cfg["sip"]["local_port"] == 5061 and cfg["buttons"]["bell"]["call"] == ["sip:flat201@127.0.0.1"]

    status, _o, err = provision(capsys, device, "--fleet", tmp_path / "devices.csv", "--row", "door2", template)
    assert status == 0, err
    cfg = json.load(open(device.path("config.json")))
    assert cfg["sip"]["user"] == "door102" and "local_port" not in cfg["sip"]  # empty cell: template kept
    assert cfg["buttons"] == sample_config()["buttons"]

    status, _o, err = provision(capsys, device, "--fleet", tmp_path / "devices.csv", "--row", "door9", template)
    assert_one_line_error(status, err, "door9", "door1, door2")
    (tmp_path / "bad.csv").write_text("device,colour\ndoor1,red\n")
    status, _o, err = provision(capsys, device, "--fleet", tmp_path / "bad.csv", "--row", "door1", template)
    assert_one_line_error(status, err, "colour")
    (tmp_path / "bad2.csv").write_text("device,local_port\ndoor1,fifty\n")
    status, _o, err = provision(capsys, device, "--fleet", tmp_path / "bad2.csv", "--row", "door1", template)
    assert_one_line_error(status, err, "local_port", "whole number")
    status, _o, err = provision(capsys, device, "--fleet", tmp_path / "devices.csv", template)
    assert_one_line_error(status, err, "--row")


def test_local_write_and_show(tmp_path, capsys):
    target = tmp_path / "etc" / "config.json"
    src = write_json(tmp_path / "door.json", sample_config())
    status, _o, err = run_cli(capsys, "provision", "--local", target, src)
    assert_one_line_error(status, err, "does not exist")
    target.parent.mkdir()
    status, out, err = run_cli(capsys, "provision", "--local", target, src)
    assert status == 0, err
    no_secret(out, err)
    assert validate(json.load(open(str(target))))["sip"]["password"] == SECRET
    status, out, err = run_cli(capsys, "provision", "--local", target, "--show")
    assert status == 0 and json.loads(out)["sip"]["password"] == "****"
    no_secret(out, err)


def test_debug_traceback_carries_no_secret(tmp_path, capsys):
    from doorsip_tools import cli
    bad = sample_config()
    bad["sip"]["expires"] = 1
    path = write_json(tmp_path / "bad.json", bad)
    with pytest.raises(cli.ToolError) as info:
        cli.main(["--debug", "provision", "--port", str(tmp_path / "ttyNONE"), path])
    import traceback
    text = "".join(traceback.format_exception(info.type, info.value, info.tb))
    assert "sip.expires" in text
    no_secret(text, *capsys.readouterr())


def test_show_without_a_config_on_the_device(device, capsys):
    status, _o, err = provision(capsys, device, "--show")
    assert_one_line_error(status, err, "no config.json", "doorsip provision")

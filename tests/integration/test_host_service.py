# `doorsip install-service` and `doorsip ports`: the rendered unit checked by
# systemd-analyze where it exists, installation with a recording `systemctl`,
# and the port table over pyserial's port objects.
import getpass
import json
import os
import shutil
import subprocess

import pytest

from doorsip_tools import ports, service
from host_support import assert_one_line_error, run_cli


def unit_lines(text):
    return [l for l in text.splitlines() if l and not l.startswith("#")]


def test_unit_has_restart_network_and_groups():
    unit = service.render_unit("/opt/doorsip venv/bin/doorsip", "rpi", "/etc/doorsip/config.json", "doorsip")
    lines = unit_lines(unit)
    for needed in ("Restart=always", "After=network-online.target sound.target", "Wants=network-online.target",
                   "User=doorsip", "SupplementaryGroups=gpio audio", "WantedBy=multi-user.target"):
        assert needed in lines, needed
    assert ('ExecStart="/opt/doorsip venv/bin/doorsip" run --board rpi --config /etc/doorsip/config.json'
            in lines)


def test_unit_passes_systemd_analyze_verify(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    exe = tmp_path / "doorsip"
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)
    unit = tmp_path / "doorsip.service"
    unit.write_text(service.render_unit(str(exe), "rpi", "/etc/doorsip/config.json", "root"))
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    # Only complaints about this unit count; the sandbox has no running systemd.
    mine = [l for l in (result.stderr + result.stdout).splitlines() if "doorsip.service" in l]
    assert not mine, mine


def test_dry_run_prints_and_writes_nothing(tmp_path, capsys):
    status, out, err = run_cli(capsys, "install-service", "--dry-run", "--unit-dir", tmp_path,
                               "--board", "rpi", "--user", "doorsip-test-nobody")
    assert status == 0, err
    assert "Restart=always" in out and "# would run: systemctl enable --now doorsip.service" in out
    assert "useradd" in out  # the missing user is pointed out
    assert os.listdir(str(tmp_path)) == []


def test_install_writes_the_unit_and_enables_it(tmp_path, capsys, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "systemctl.log"
    fake = bindir / "systemctl"
    fake.write_text('#!/bin/sh\necho "$@" >> "%s"\n' % log)
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (bindir, os.environ["PATH"]))
    units = tmp_path / "units"
    units.mkdir()
    config = tmp_path / "config.json"
    import grp
    import pwd
    user = getpass.getuser()
    own_group = grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name  # a group that exists here
    args = ["install-service", "--unit-dir", units, "--config", config, "--user", user,
            "--groups", own_group, "--exec", fake]
    status, _o, err = run_cli(capsys, *args)
    assert_one_line_error(status, err, "does not exist", "provision --local")
    config.write_text("{}")
    status, out, err = run_cli(capsys, *args)
    assert status == 0, err
    unit = (units / "doorsip.service").read_text()
    assert "Restart=always" in unit and "--config %s" % config in unit
    assert "SupplementaryGroups=%s" % own_group in unit
    assert log.read_text().splitlines() == ["daemon-reload", "enable --now doorsip.service"]
    status, _o, err = run_cli(capsys, "install-service", "--unit-dir", units, "--config", config,
                              "--user", "doorsip-test-nobody", "--exec", fake)
    assert_one_line_error(status, err, "useradd")
    status, _o, err = run_cli(capsys, *(args[:-4] + ["--groups", "no-such-group-x", "--exec", fake]))
    assert_one_line_error(status, err, "no-such-group-x")


class FakePort:
    def __init__(self, device, vid=None, pid=None, description="n/a", serial_number=None):
        self.device, self.vid, self.pid = device, vid, pid
        self.description, self.serial_number = description, serial_number


def test_ports_table_names_the_bridges(capsys, monkeypatch):
    from serial.tools import list_ports
    fakes = [FakePort("/dev/ttyUSB0", 0x10C4, 0xEA60, "CP2102 USB to UART Bridge Controller", "0001"),
             FakePort("/dev/ttyACM0", 0x303A, 0x1001, "USB JTAG/serial debug unit"),
             FakePort("/dev/ttyUSB1", 0x1A86, 0x55D4), FakePort("/dev/ttyUSB2", 0x1234, 0x5678),
             FakePort("/dev/ttyS0")]
    monkeypatch.setattr(list_ports, "comports", lambda: fakes)
    status, out, _e = run_cli(capsys, "ports")
    assert status == 0
    lines = out.splitlines()
    assert len(lines) == 4  # ttyS0 only with --all
    by_port = dict((l.split()[0], l) for l in lines)
    assert "303A:1001" in by_port["/dev/ttyACM0"] and "ESP32-S3" in by_port["/dev/ttyACM0"]
    assert "10C4:EA60" in by_port["/dev/ttyUSB0"] and "CP210x" in by_port["/dev/ttyUSB0"]
    assert "CP2102 USB to UART" in by_port["/dev/ttyUSB0"]
    assert "CH9102" in by_port["/dev/ttyUSB1"]
    assert "unknown USB device" in out
    status, out, _e = run_cli(capsys, "ports", "--json", "--all")
    rows = [json.loads(l) for l in out.splitlines()]
    assert len(rows) == 5 and [r for r in rows if r["port"] == "/dev/ttyS0"][0]["vid_pid"] is None
    assert {r["vid_pid"] for r in rows if r["vid_pid"]} == {"10C4:EA60", "303A:1001", "1A86:55D4", "1234:5678"}
    assert ports.describe(0x1A86, 0x7523).startswith("CH340") and ports.describe(0x0403, 0x6001).startswith("FTDI")

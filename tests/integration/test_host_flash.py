# `doorsip flash`: what can be tested without a chip. The chip-mismatch refusal
# runs through esptool's own connect and chip check against a fake ROM on a pty.
import os
import pty

import pytest

from doorsip_tools import flash
from fake_esp_rom import ESP32_MAGIC, ESP32S3_MAGIC, FakeEspRom, SYNC, READ_REG
from host_support import assert_one_line_error, run_cli

esptool = pytest.importorskip("esptool")


def image(tmp_path):
    path = tmp_path / "micropython.bin"
    path.write_bytes(b"\xe9" + os.urandom(4095))
    return str(path)


def test_esptool_arguments_follow_the_board():
    chip, offset = flash.flash_plan({"runtime": "micropython", "chip": "esp32", "flash_offset": "0x1000"}, "b")
    argv = flash.esptool_args(chip, "/dev/ttyUSB0", offset, "/tmp/fw.bin", baud=460800)
    assert argv == ["--chip", "esp32", "--port", "/dev/ttyUSB0", "--baud", "460800",
                    "--before", "default_reset", "--after", "hard_reset", "--connect-attempts", "7",
                    "write_flash", "--erase-all", "0x1000", "/tmp/fw.bin"]
    argv = flash.esptool_args("esp32s3", "/dev/ttyACM0", "0x0", "fw.bin", erase=False, reset=False,
                              connect_attempts=1)
    assert "--erase-all" not in argv and argv[argv.index("--before") + 1] == "no_reset"
    assert argv[-2:] == ["0x0", "fw.bin"]
    # esptool's own parser accepts what we build (parse only: `version` needs no chip).
    with pytest.raises(SystemExit) as info:
        esptool.main(["--chip", "esp32s3", "write_flash", "--help"])
    assert info.value.code == 0


def test_boards_give_chip_and_offset():
    from doorsip_tools.common import load_board
    assert flash.flash_plan(load_board("esp32-devkitc"), "x") == ("esp32", "0x1000")
    assert flash.flash_plan(load_board("esp32-s3-devkitc"), "x") == ("esp32s3", "0x0")


@pytest.mark.parametrize("magic, board, actual, wanted", [
    (ESP32_MAGIC, "esp32-s3-devkitc", "ESP32", "ESP32-S3"),
    (ESP32S3_MAGIC, "esp32-devkitc", "ESP32-S3", "ESP32"),
])
def test_wrong_chip_is_refused_by_esptool_before_writing(tmp_path, capsys, magic, board, actual, wanted):
    fw = image(tmp_path)
    with FakeEspRom(magic) as rom:
        status, out, err = run_cli(capsys, "flash", "--port", rom.port, "--board", board,
                                   "--firmware", fw, "--no-reset", "--connect-attempts", "1", "--baud", "115200")
    line = assert_one_line_error(status, err, "is an %s," % actual, "needs an %s:" % wanted, "nothing was written")
    assert SYNC in rom.opcodes and READ_REG in rom.opcodes  # esptool really talked to it
    assert rom.wrote_anything() == []
    assert "Traceback" not in out and line


def test_esptool_error_class_is_what_we_translate():
    exc = esptool.FatalError("This chip is ESP32 not ESP32-S3. Wrong --chip argument?")
    assert "is an ESP32, but board b needs an ESP32-S3" in flash.explain(exc, "p", "esp32s3", "b")
    assert "BOOT" in flash.explain(esptool.FatalError("Failed to connect to ESP32: No serial data received."),
                                   "p", "esp32", "b")


def test_silent_port_asks_for_download_mode(tmp_path, capsys):
    fw = image(tmp_path)
    master, slave = pty.openpty()
    try:
        status, _o, err = run_cli(capsys, "flash", "--port", os.ttyname(slave), "--board", "esp32-devkitc",
                                  "--firmware", fw, "--no-reset", "--connect-attempts", "1")
    finally:
        os.close(master)
        os.close(slave)
    assert_one_line_error(status, err, "no ESP chip answered", "BOOT")


def test_flash_error_paths(tmp_path, capsys):
    fw = image(tmp_path)
    status, _o, err = run_cli(capsys, "flash", "--port", tmp_path / "ttyX", "--board", "esp32-devkitc",
                              "--firmware", fw)
    assert_one_line_error(status, err, "no such port")
    (tmp_path / "x.uf2").write_bytes(b"UF2\n" + b"\0" * 2000)
    status, _o, err = run_cli(capsys, "flash", "--port", tmp_path / "ttyX", "--board", "esp32-devkitc",
                              "--firmware", tmp_path / "x.uf2")
    assert_one_line_error(status, err, "not an ESP32 firmware image")
    status, _o, err = run_cli(capsys, "flash", "--port", "p", "--board", "rpi", "--firmware", fw)
    assert_one_line_error(status, err, "nothing to flash")
    status, _o, err = run_cli(capsys, "flash", "--port", "p", "--board", "esp32-devkitc",
                              "--firmware", tmp_path / "none.bin")
    assert_one_line_error(status, err, "none.bin")
    status, out, _e = run_cli(capsys, "flash", "--help")
    assert status == 0 and "--firmware" in out


def test_permission_denied_names_the_dialout_group(tmp_path, capsys, monkeypatch):
    import errno
    import serial
    if os.geteuid() != 0:
        locked = tmp_path / "ttyLOCKED"
        locked.write_bytes(b"")
        locked.chmod(0)
        port = str(locked)
    else:  # root opens anything: make pyserial fail the way it does for a user
        def refuse(port, *a, **k):
            raise serial.SerialException(errno.EACCES, "could not open port %s: [Errno 13] Permission denied" % port)
        monkeypatch.setattr(serial, "Serial", refuse)
        port = "/dev/ttyUSB0"
    status, _o, err = run_cli(capsys, "flash", "--port", port, "--board", "esp32-devkitc",
                              "--firmware", image(tmp_path))
    assert_one_line_error(status, err, "permission denied", "dialout")

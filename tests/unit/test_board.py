# board.py and boards/*.json: every shipped board loads; bad boards fail naming the
# problem; configs naming absent buttons/relays are caught. Both interpreters.
import json
import os

from support import raises
from doorsip.board import load_board, validate_board, check_board_against_config, BoardError
from doorsip.hal.devices_setup import device_spec
from doorsip.config import validate

HERE = globals().get("__file__", "tests/unit/test_board.py").replace("\\", "/")
ROOT = HERE.rsplit("/", 3)[0] if HERE.count("/") >= 3 else "."
BOARDS = ROOT + "/boards"
if "boards" not in os.listdir(ROOT or "."):
    BOARDS = "boards"

SHIPPED = ("sim", "rpi", "esp32-devkitc", "esp32-s3-devkitc", "m5stack-atom-echo")


def _board(name):
    return load_board(name, BOARDS)


def _raw(name):
    with open(BOARDS + "/" + name + ".json") as f:
        return json.loads(f.read())


def _bad(board):
    return raises(BoardError, validate_board, board, "test")


def test_every_shipped_board_loads():
    for name in SHIPPED:
        b = _board(name)
        assert b["name"] == name
        assert b["runtime"] in ("micropython", "cpython", "any")
        assert b["audio"]["backend"] in ("sim", "alsa", "i2s")
        for kind in ("buttons", "relays", "leds"):
            for spec in b[kind].values():
                assert spec["active_low"] in (True, False)


def test_default_lookup_finds_checkout_boards():
    # Without boards_dir, boards/ beside firmware/ is found (host tools, tests).
    try:
        b = load_board("rpi")
    except BoardError:
        if not ROOT or ROOT == ".":
            return
        raise
    assert b["pins"] == "gpiozero"


def test_esp32_facts():
    b = _board("esp32-devkitc")
    assert (b["chip"], b["flash_offset"], b["march"]) == ("esp32", "0x1000", "xtensawin")
    assert b["audio"]["mic"]["id"] != b["audio"]["speaker"]["id"]
    s3 = _board("esp32-s3-devkitc")
    assert (s3["chip"], s3["flash_offset"], s3["march"], s3["psram"]) == ("esp32s3", "0x0", "xtensawin", True)
    echo = _board("m5stack-atom-echo")
    assert echo["buttons"]["bell"]["pin"] == 39 and echo["buttons"]["bell"]["pull"] is None
    assert echo["leds"]["status"] == {"pin": 27, "active_low": False, "type": "sk6812", "color": [0, 0, 64]}
    assert echo["relays"]["door"]["pin"] == 26
    assert echo["audio"]["mic"]["format"] == "pdm" and echo["audio"]["mic"]["sd"] == 23
    assert echo["audio"]["speaker"]["sck"] == 19 and echo["audio"]["speaker"]["sd"] == 22
    assert echo["audio"]["half_duplex"] is True
    for name in ("esp32-devkitc", "esp32-s3-devkitc", "m5stack-atom-echo"):
        assert _board(name)["micropython_version"]


def test_cpython_boards_have_no_march():
    assert _board("rpi")["march"] is None
    assert _board("sim")["march"] is None
    assert _board("rpi")["audio"]["capture"]


def test_defaults_filled():
    b = _board("rpi")
    assert b["buttons"]["answer"]["bounce_ms"] == 30
    assert b["buttons"]["answer"]["hold_ms"] == 1000
    assert b["psram"] is False and b["accept_any_name"] is False


def test_unknown_board_lists_known():
    e = raises(BoardError, load_board, "esp8266", BOARDS)
    assert "esp8266" in str(e) and "esp32-devkitc" in str(e)


def test_missing_field_named():
    raw = _raw("esp32-devkitc")
    del raw["relays"]["door"]["active_low"]
    e = _bad(raw)
    assert e.field == "relays.door.active_low" and "missing" in str(e)
    raw = _raw("esp32-devkitc")
    del raw["audio"]["mic"]["sd"]
    assert _bad(raw).field == "audio.mic.sd"
    raw = _raw("esp32-devkitc")
    del raw["flash_offset"]
    assert _bad(raw).field == "flash_offset"
    raw = _raw("rpi")
    del raw["runtime"]
    assert _bad(raw).field == "runtime"


def test_unknown_backends():
    raw = _raw("rpi")
    raw["audio"]["backend"] = "pulseaudio"
    e = _bad(raw)
    assert e.field == "audio.backend" and "pulseaudio" in str(e)
    raw = _raw("rpi")
    raw["pins"] = "rpigpio"
    assert _bad(raw).field == "pins"
    raw = _raw("rpi")
    raw["audio"] = {"backend": "i2s"}
    assert "does not run on runtime cpython" in str(_bad(raw))
    raw = _raw("esp32-devkitc")
    raw["pins"] = "gpiozero"
    assert _bad(raw).field == "pins"


def test_pin_used_twice():
    raw = _raw("esp32-devkitc")
    raw["leds"]["status"]["pin"] = 4  # the bell's pin
    e = _bad(raw)
    assert e.field == "leds.status.pin" and "buttons.bell.pin" in str(e)
    raw = _raw("esp32-devkitc")
    raw["relays"]["door"]["pin"] = 33  # the mic's data line
    raw["leds"]["status"]["pin"] = 19
    assert "audio.mic.sd" in str(_bad(raw))
    raw = _raw("esp32-devkitc")
    raw["audio"]["speaker"]["sck"] = 32  # other I2S bus: no sharing
    assert _bad(raw).field == "audio.speaker.sck"


def test_shared_i2s_bus_needs_half_duplex():
    raw = _raw("m5stack-atom-echo")
    raw["audio"]["half_duplex"] = False
    assert _bad(raw).field == "audio.half_duplex"


def test_chip_pin_limits():
    raw = _raw("esp32-devkitc")
    raw["relays"]["door"]["pin"] = 35  # input-only
    assert "input-only" in str(_bad(raw))
    raw = _raw("esp32-devkitc")
    raw["buttons"]["bell"]["pin"] = 7  # SPI flash
    assert _bad(raw).field == "buttons.bell.pin"
    raw = _raw("m5stack-atom-echo")
    raw["buttons"]["bell"]["pull"] = "up"  # G39 has no internal pull
    assert _bad(raw).field == "buttons.bell.pin"
    raw = _raw("rpi")
    raw["leds"]["status"]["pin"] = 28
    assert _bad(raw).field == "leds.status.pin"
    raw = _raw("rpi")
    raw["leds"]["status"]["pin"] = "status"  # names only on the sim backend
    assert _bad(raw).field == "leds.status.pin"


def test_bad_values():
    raw = _raw("rpi")
    raw["buttons"]["bell"]["pull"] = "sideways"
    assert _bad(raw).field == "buttons.bell.pull"
    raw = _raw("rpi")
    raw["relays"]["door"]["active_low"] = "yes"
    assert _bad(raw).field == "relays.door.active_low"
    raw = _raw("rpi")
    raw["march"] = "xtensawin"
    assert _bad(raw).field == "march"
    raw = _raw("esp32-devkitc")
    raw["flash_offset"] = "4096"
    assert _bad(raw).field == "flash_offset"
    raw = _raw("esp32-devkitc")
    raw["relays"]["door"]["colour"] = 1
    assert _bad(raw).field == "relays.door.colour"
    raw = _raw("esp32-devkitc")
    raw["audio"]["mic"]["bits"] = 24
    assert _bad(raw).field == "audio.mic.bits"
    assert _bad([]).field is None


def test_load_board_file_errors():
    e = raises(BoardError, load_board, "/nonexistent/x.json")
    assert "no such board file" in str(e)
    path = "/tmp/doorsip_board_bad.json" if "tmp" in os.listdir("/") else "board_bad.json"
    with open(path, "w") as f:
        f.write('{"runtime": "any",, }')
    e = raises(BoardError, load_board, path)
    assert "line 1 column 19" in str(e), str(e)
    os.remove(path)


def test_check_board_against_config():
    esp = _board("esp32-devkitc")
    cfg = validate({"board": "esp32-devkitc", "buttons": {"bell": {"call": ["sip:a@b"]}},
                    "doors": {"door": {"code": "1234"}}})
    check_board_against_config(esp, cfg)
    cfg2 = validate({"buttons": {"gate": {"call": ["sip:a@b"]}}})
    e = raises(BoardError, check_board_against_config, esp, cfg2)
    assert e.field == "buttons.gate" and "bell" in str(e)
    cfg3 = validate({"doors": {"garage": {"code": "1"}}})
    assert raises(BoardError, check_board_against_config, esp, cfg3).field == "doors.garage"
    # indoor buttons are checked for the indoor role only
    indoor = validate({"role": "indoor"})
    assert raises(BoardError, check_board_against_config, esp, indoor).field == "indoor.answer_button"
    check_board_against_config(_board("rpi"), indoor)
    check_board_against_config(esp, validate({"role": "indoor", "indoor": {
        "answer_button": "bell", "hangup_button": "bell", "open_button": None}}))
    check_board_against_config(esp, validate({"role": "door"}))


def test_sim_board_accepts_any_name():
    sim = _board("sim")
    cfg = validate({"buttons": {"whatever": {"call": ["sip:a@b"]}},
                    "doors": {"gate": {"code": "1"}}})
    check_board_against_config(sim, cfg)
    spec = device_spec(sim, "buttons", "whatever")
    assert spec["pin"] == "whatever" and spec["active_low"] is True
    assert device_spec(sim, "relays", "gate")["active_low"] is False
    assert device_spec(sim, "buttons", "bell")["pin"] == "bell"
    e = raises(BoardError, device_spec, _board("rpi"), "relays", "gate")
    assert e.field == "relays.gate"

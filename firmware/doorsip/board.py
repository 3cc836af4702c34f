"""Board files (boards/<name>.json): pins, active levels, audio wiring, backends.

API:
  load_board(name_or_path, boards_dir=None) -> dict   validated, defaults filled
  validate_board(board, name="board") -> dict
  check_board_against_config(board, config)           BoardError if the config names a
                                                      button or relay the board lacks
  device_spec(board, kind, name) -> dict              kind "buttons"|"relays"|"leds"
  BoardError(field, message): .field is the dotted path ("relays.door.pin") or None.

A name is looked up in boards_dir, else in boards/ beside firmware/ (a checkout),
else ./boards and /boards (a device: deploy copies the board there).

Schema ("=" is the default):
  name          string = the file name
  description, notes   strings (free text)
  runtime       "micropython" | "cpython" | "any" (sim: either interpreter)
  march         mpy-cross -march for .mpy native code ("xtensawin" on ESP32 and
                ESP32-S3), null on CPython boards
  pins          pin backend: "sim" (hal/sim_pins) | "gpiozero" | "mpy" (machine.Pin)
  chip, flash_offset ("0x1000"), micropython_version, micropython_firmware:
                esptool/download facts, required when runtime is micropython
  psram         true/false = false
  accept_any_name  true on the sim board: any button/relay name exists = false
  buttons.<n>   {"pin", "active_low": bool, "pull": "up"|"down"|null,
                 "bounce_ms" = 30, "hold_ms" = 1000}
  relays.<n>    {"pin", "active_low": bool, "max_on_ms" = 600000 (hardware rating)}
  leds.<n>      {"pin", "active_low": bool, "type": "gpio"|"sk6812" = "gpio",
                 "color": [r, g, b] = [0, 0, 64] (sk6812 only)}
  audio         {"backend": "sim"} | {"backend": "alsa", "capture", "playback",
                 "rate" = 8000} | {"backend": "i2s", "mic": I2S, "speaker": I2S,
                 "half_duplex" = false}; I2S = {"id", "sck", "ws", "sd", "bits" (16|32),
                 "rate" (8000..48000), "format": "i2s"|"pdm" = "i2s"}
Pins are GPIO numbers (BCM on the Pi); the sim backend also takes names.
"""
from doorsip.compat import const
from doorsip.config import parse, ConfigError

# Underscore const()s (str and tuple ones too, MicroPython >= 1.19) are inlined by
# the compiler: no module global, no interned name left once this module is dropped.

_RUNTIMES = const(("micropython", "cpython", "any"))
_PIN_BACKENDS = {"micropython": ("mpy",), "cpython": ("gpiozero", "sim"), "any": ("sim",)}
_AUDIO_BACKENDS = {"micropython": ("i2s", "sim"), "cpython": ("alsa", "sim"), "any": ("sim",)}
_MARCHES = const(("x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp",
                  "armv7emdp", "xtensa", "xtensawin", "rv32imc"))
_KNOWN_TOP = const(("name", "description", "notes", "runtime", "march", "pins", "chip",
                    "flash_offset", "micropython_version", "micropython_firmware", "psram",
                    "accept_any_name", "buttons", "relays", "leds", "audio"))

# GPIOs per chip: (usable, input-only). ESP32: 6-11 are the SPI flash, 20/24/28-31
# do not exist, 34-39 are input-only without pulls. ESP32-S3: 26-32 are flash.
_ESP32_PINS = tuple(range(0, 6)) + tuple(range(12, 20)) + (21, 22, 23, 25, 26, 27) + tuple(range(32, 40))
_CHIP_PINS = {
    "esp32": (_ESP32_PINS, tuple(range(34, 40))),
    "esp32s3": (tuple(range(0, 22)) + tuple(range(33, 49)), ()),
    "bcm": (tuple(range(0, 28)), ()),
}


class BoardError(Exception):
    def __init__(self, field, message):
        super().__init__((field + ": " + message) if field else message)
        self.field = field
        self.message = message


def _fail(path, message):
    raise BoardError(path, message)


def _need(src, key, path):
    if not isinstance(src, dict):
        _fail(path, "must be an object")
    if key not in src:
        _fail(path + "." + key if path else key, "missing field")
    return src[key]


def _check_keys(src, known, path):
    for key in src:
        if key not in known:
            _fail(path + "." + key if path else key,
                  "unknown field (known: " + ", ".join(known) + ")")


def _bool(src, key, path, default=None):
    if key not in src and default is not None:
        src[key] = default
    value = _need(src, key, path)
    if type(value) is not bool:
        _fail(path + "." + key, "must be true or false")
    return value


def _int(src, key, path, lo, hi, default=None):
    if key not in src and default is not None:
        src[key] = default
    value = _need(src, key, path)
    if type(value) is not int or value < lo or value > hi:
        _fail(path + "." + key, "must be an integer between %d and %d, got %r" % (lo, hi, value))
    return value


def _choice(value, path, choices):
    if value not in choices:
        _fail(path, "%r is not one of %s" % (value, ", ".join(choices)))
    return value


class _PinTable:
    """Which GPIO is used by what: a pin used twice is a wiring error."""

    def __init__(self, board):
        self.users = {}
        self.allow_names = board["pins"] == "sim"
        chip = board.get("chip")
        if board["pins"] == "gpiozero":
            chip = "bcm"
        self.limits = _CHIP_PINS.get(chip)

    def claim(self, pin, path, output=False, pull=None, shared_key=None):
        if isinstance(pin, str) and pin and self.allow_names:
            pass
        elif type(pin) is not int or pin < 0:
            _fail(path, "must be a GPIO number%s, got %r"
                  % (" or a name" if self.allow_names else "", pin))
        elif self.limits is not None:
            usable, input_only = self.limits
            if pin not in usable:
                _fail(path, "GPIO %d cannot be used on this chip" % pin)
            if pin in input_only and (output or pull):
                _fail(path, "GPIO %d is input-only%s" % (pin, " (no internal pull)" if pull else ""))
        user = self.users.get(pin)
        if user is not None:
            # Mic and speaker on one I2S peripheral share its clock lines.
            if shared_key is None or user[1] != shared_key:
                _fail(path, "pin %s is already used by %s" % (pin, user[0]))
            return
        self.users[pin] = (path, shared_key)


def _devices(board, kind, table):
    src = _need(board, kind, "")
    if not isinstance(src, dict):
        _fail(kind, "must be an object of named entries")
    for name in src:
        path = kind + "." + name
        spec = src[name]
        if not isinstance(spec, dict):
            _fail(path, "must be an object")
        _bool(spec, "active_low", path)
        if kind == "buttons":
            _check_keys(spec, ("pin", "active_low", "pull", "bounce_ms", "hold_ms"), path)
            pull = _need(spec, "pull", path)
            if pull is not None:
                _choice(pull, path + ".pull", ("up", "down"))
            _int(spec, "bounce_ms", path, 0, 1000, 30)
            _int(spec, "hold_ms", path, 100, 60000, 1000)
            table.claim(_need(spec, "pin", path), path + ".pin", pull=pull)
        elif kind == "relays":
            _check_keys(spec, ("pin", "active_low", "max_on_ms"), path)
            _int(spec, "max_on_ms", path, 100, 3600000, 600000)
            table.claim(_need(spec, "pin", path), path + ".pin", output=True)
        else:
            _check_keys(spec, ("pin", "active_low", "type", "color"), path)
            spec.setdefault("type", "gpio")
            _choice(spec["type"], path + ".type", ("gpio", "sk6812"))
            if spec["type"] == "sk6812":
                color = spec.setdefault("color", [0, 0, 64])
                if not isinstance(color, list) or len(color) != 3 or \
                        [c for c in color if type(c) is not int or c < 0 or c > 255]:
                    _fail(path + ".color", "must be [r, g, b] with 0..255 each")
            table.claim(_need(spec, "pin", path), path + ".pin", output=True)


def _audio(board, table):
    audio = _need(board, "audio", "")
    if not isinstance(audio, dict):
        _fail("audio", "must be an object")
    backend = _need(audio, "backend", "audio")
    _choice(backend, "audio.backend", ("sim", "alsa", "i2s"))
    allowed = _AUDIO_BACKENDS[board["runtime"]]
    if backend not in allowed:
        _fail("audio.backend", "%r does not run on runtime %s (use %s)"
              % (backend, board["runtime"], " or ".join(allowed)))
    if backend == "sim":
        _check_keys(audio, ("backend", "rate"), "audio")
        _int(audio, "rate", "audio", 8000, 48000, 8000)
    elif backend == "alsa":
        _check_keys(audio, ("backend", "capture", "playback", "rate"), "audio")
        for key in ("capture", "playback"):
            value = _need(audio, key, "audio")
            if not isinstance(value, str) or not value:
                _fail("audio." + key, "must be an ALSA device name such as \"plughw:CARD=Device,DEV=0\"")
        _int(audio, "rate", "audio", 8000, 48000, 8000)
    else:
        _check_keys(audio, ("backend", "mic", "speaker", "half_duplex"), "audio")
        _bool(audio, "half_duplex", "audio", False)
        for part in ("mic", "speaker"):
            path = "audio." + part
            i2s = _need(audio, part, "audio")
            if not isinstance(i2s, dict):
                _fail(path, "must be an object with id, sck, ws, sd, bits, rate")
            _check_keys(i2s, ("id", "sck", "ws", "sd", "bits", "rate", "format"), path)
            bus = _int(i2s, "id", path, 0, 1)
            fmt = i2s.setdefault("format", "i2s")
            _choice(fmt, path + ".format", ("i2s", "pdm"))
            bits = _need(i2s, "bits", path)
            if bits not in (16, 32) or type(bits) is not int:
                _fail(path + ".bits", "must be 16 or 32")
            _int(i2s, "rate", path, 8000, 48000)
            for line in ("sck", "ws", "sd"):
                pin = _need(i2s, line, path)
                if pin is None and line == "sck" and fmt == "pdm":
                    continue  # a PDM microphone is clocked from the WS line
                shared = ("i2s", bus) if line != "sd" else None
                table.claim(pin, path + "." + line, output=(line != "sd" or part == "speaker"),
                            shared_key=shared)
        if audio["mic"]["id"] == audio["speaker"]["id"] and not audio["half_duplex"]:
            _fail("audio.half_duplex", "must be true when mic and speaker share I2S id %d"
                  % audio["mic"]["id"])


def validate_board(board, name="board"):
    """Check a parsed board dict in place (defaults filled) and return it."""
    if not isinstance(board, dict):
        _fail(None, "a board file must hold a JSON object")
    _check_keys(board, _KNOWN_TOP, "")
    board.setdefault("name", name)
    runtime = _choice(_need(board, "runtime", ""), "runtime", _RUNTIMES)
    march = _need(board, "march", "")
    if runtime == "micropython":
        _choice(march, "march", _MARCHES)
        for key in ("chip", "micropython_version"):
            if not isinstance(_need(board, key, ""), str):
                _fail(key, "must be a string")
        offset = _need(board, "flash_offset", "")
        if not isinstance(offset, str) or not offset.startswith("0x"):
            _fail("flash_offset", "must be a hex string such as \"0x1000\"")
        try:
            int(offset, 16)
        except ValueError:
            _fail("flash_offset", "must be a hex string such as \"0x1000\"")
    elif march is not None:
        _fail("march", "must be null on a %s board (no .mpy native code)" % runtime)
    pins = _need(board, "pins", "")
    _choice(pins, "pins", ("sim", "gpiozero", "mpy"))
    if pins not in _PIN_BACKENDS[runtime]:
        _fail("pins", "backend %r does not run on runtime %s (use %s)"
              % (pins, runtime, " or ".join(_PIN_BACKENDS[runtime])))
    _bool(board, "psram", "", False)
    _bool(board, "accept_any_name", "", False)
    table = _PinTable(board)
    for kind in ("buttons", "relays", "leds"):
        _devices(board, kind, table)
    _audio(board, table)
    return board


def _default_dirs():
    dirs = []
    here = globals().get("__file__")
    if here:
        # <checkout>/firmware/doorsip/board.py -> <checkout>/boards
        parts = here.replace("\\", "/").rsplit("/", 3)
        if len(parts) == 4:
            dirs.append(parts[0] + "/boards")
    dirs.append("boards")
    dirs.append("/boards")
    return dirs


def _listdir(folder):
    import os
    try:
        return os.listdir(folder)
    except OSError:
        return None


def load_board(name_or_path, boards_dir=None):
    """The validated board dict for a board name or a path to a .json file."""
    if not isinstance(name_or_path, str) or not name_or_path:
        _fail(None, "a board name is required")
    if "/" in name_or_path or name_or_path.endswith(".json"):
        path = name_or_path
        stem = path.rsplit("/", 1)[-1]
        if stem.endswith(".json"):
            stem = stem[:-5]
    else:
        stem = name_or_path
        path = None
        known = []
        for folder in ([boards_dir] if boards_dir else _default_dirs()):
            names = _listdir(folder)
            if names is None:
                continue
            for entry in names:
                if entry.endswith(".json") and entry[:-5] not in known:
                    known.append(entry[:-5])
            if stem + ".json" in names:
                path = folder + "/" + stem + ".json"
                break
        if path is None:
            known.sort()
            _fail(None, "unknown board %r (known: %s)" % (stem, ", ".join(known) or "none found"))
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        _fail(None, "%s: no such board file" % path)
    try:
        board = parse(data.decode("utf-8"), path)
    except (ConfigError, UnicodeError) as exc:
        _fail(None, str(exc))
    try:
        return validate_board(board, stem)
    except BoardError as exc:
        _fail(exc.field, "%s (in %s)" % (exc.message, path))


def device_spec(board, kind, name):
    """The board's spec of button/relay/led `name`; on an accept_any_name board a
    missing name gets a pin of its own name (the sim board)."""
    spec = board[kind].get(name)
    if spec is not None:
        return spec
    if board.get("accept_any_name"):
        spec = {"pin": name, "active_low": kind == "buttons"}
        if kind == "buttons":
            spec.update({"pull": "up", "bounce_ms": 30, "hold_ms": 1000})
        elif kind == "relays":
            spec["max_on_ms"] = 600000
        else:
            spec["type"] = "gpio"
        return spec
    _fail(kind + "." + name, "board %s has no such %s (it has: %s)"
          % (board.get("name"), kind[:-1], ", ".join(sorted(board[kind])) or "none"))


def check_board_against_config(board, config):
    """BoardError naming the config field whose button or relay the board lacks."""
    if board.get("accept_any_name"):
        return
    wanted = []
    for name in config.get("buttons") or {}:
        if not name.startswith("_"):
            wanted.append(("buttons", name, "buttons." + name))
    for name in config.get("doors") or {}:
        if not name.startswith("_"):
            wanted.append(("relays", name, "doors." + name))
    if config.get("role") == "indoor":
        indoor = config.get("indoor") or {}
        for key in ("answer_button", "open_button", "hangup_button"):
            if indoor.get(key):
                wanted.append(("buttons", indoor[key], "indoor." + key))
    for kind, name, field in wanted:
        if name not in board[kind]:
            _fail(field, "board %s has no %s named %r (it has: %s)"
                  % (board.get("name"), kind[:-1], name,
                     ", ".join(sorted(board[kind])) or "none"))

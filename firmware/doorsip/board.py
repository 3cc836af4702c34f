"""Board files (boards/<name>.json): pins, active levels, audio wiring, backends.

API:
  load_board(name, boards_dir=None) -> dict           validated, defaults filled
  validate_board(board, name="board") -> dict
  check_board_against_config(board, config)           BoardError if the config names a
                                                      button or relay the board lacks
  (hal/devices_setup.device_spec(board, kind, name) looks one device up: this
  module is boot code, released before the devices are built)
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
# the compiler: no module global, and the strings in them are str objects, not
# interned names (qstrs), which would stay for good once this module is dropped.
# So key and value names mostly live in tuples here.

_OR = const(" or ")
_HEX_PREFIX = const("0x")
_RUNTIMES = const(("micropython", "cpython", "any"))
# Per runtime, in _RUNTIMES order: the pin backends and audio backends that run on it.
_PIN_BACKENDS = const((("mpy",), ("gpiozero", "sim"), ("sim",)))
_AUDIO_BACKENDS = const((("i2s", "sim"), ("alsa", "sim"), ("sim",)))
_MARCHES = const(("x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp",
                  "armv7emdp", "xtensa", "xtensawin", "rv32imc"))
_KNOWN_TOP = const(("name", "description", "notes", "runtime", "march", "pins", "chip",
                    "flash_offset", "micropython_version", "micropython_firmware", "psram",
                    "accept_any_name", "buttons", "relays", "leds", "audio"))

# GPIOs per chip: (chip, usable, input-only), as (first, last + 1) ranges. ESP32:
# 6-11 are the SPI flash, 20/24/28-31 do not exist, 34-39 are input-only without
# pulls. ESP32-S3: 26-32 are flash. bcm: the Raspberry Pi.
_CHIP_PINS = const((
    ("esp32", ((0, 6), (12, 20), (21, 24), (25, 28), (32, 40)), ((34, 40),)),
    ("esp32s3", ((0, 22), (33, 49)), ()),
    ("bcm", ((0, 28),), ()),
))


class BoardError(Exception):
    def __init__(self, field, message):
        super().__init__((field + ": " + message) if field else message)
        self.field = field
        self.message = message


# The checks below take the object src, a key and path: the dotted prefix of src's
# fields ("relays.door.", "" at the top), so that path + key names the field.

def _bad(field, message):
    raise BoardError(field, message)


def _value(src, key, path, default=None):
    """src[key], default stored first when given, or BoardError naming the field."""
    if not isinstance(src, dict):
        _bad(path[:-1], "must be an object")
    if key not in src:
        if default is None:
            _bad(path + key, "missing field")
        src[key] = default
    return src[key]


def _only(src, keys, path):
    for key in src:
        if key not in keys:
            _bad(path + key, "unknown field (known: " + ", ".join(keys) + ")")


def _bool(src, key, path, default=None):
    if type(_value(src, key, path, default)) is not bool:
        _bad(path + key, "must be true or false")


def _int(src, key, path, start, end, default=None):
    value = _value(src, key, path, default)
    if type(value) is not int or value < start or value > end:
        _bad(path + key, "must be an integer between %d and %d, got %r" % (start, end, value))
    return value


def _choice(src, key, path, options, default=None):
    value = _value(src, key, path, default)
    if value not in options:
        _bad(path + key, "%r is not one of %s" % (value, ", ".join(options)))
    return value


def _claim(table, src, key, path, output=False, pull=None, owner=None):
    """src[key] is a GPIO not used by anything else. table: (users {pin: (field,
    owner)}, pin names allowed (sim), (usable, input-only) ranges or None). Lines of
    one owner (an I2S bus: its clock lines, used by mic and speaker) share a pin."""
    users, names, limits = table
    pin = _value(src, key, path)
    path += key
    if isinstance(pin, str) and pin and names:
        pass
    elif type(pin) is not int or pin < 0:
        _bad(path, ("must be a GPIO number or a name, got %r" if names
                    else "must be a GPIO number, got %r") % (pin,))
    elif limits is not None:
        for first, stop in limits[0]:
            if first <= pin < stop:
                break
        else:
            _bad(path, "GPIO %d cannot be used on this chip" % pin)
        for first, stop in limits[1]:
            if first <= pin < stop and (output or pull):
                _bad(path, "GPIO %d is input-only%s" % (pin, " (no internal pull)" if pull else ""))
    user = users.get(pin)
    if user is not None:
        if owner is None or user[1] != owner:
            _bad(path, "pin %s is already used by %s" % (pin, user[0]))
        return
    users[pin] = (path, owner)


def _audio(board, table):
    audio = _value(board, "audio", "")
    if not isinstance(audio, dict):
        _bad("audio", "must be an object")
    backend = _choice(audio, "backend", "audio.", ("sim", "alsa", "i2s"))
    runtime = board["runtime"]
    allowed = _AUDIO_BACKENDS[_RUNTIMES.index(runtime)]
    if backend not in allowed:
        _bad("audio.backend", "%r does not run on runtime %s (use %s)"
             % (backend, runtime, _OR.join(allowed)))
    if backend != "i2s":
        if backend == "sim":
            _only(audio, ("backend", "rate"), "audio.")
        else:  # alsa
            _only(audio, ("backend", "capture", "playback", "rate"), "audio.")
            for key in ("capture", "playback"):
                value = _value(audio, key, "audio.")
                if not isinstance(value, str) or not value:
                    _bad("audio." + key,
                         "must be an ALSA device name such as \"plughw:CARD=Device,DEV=0\"")
        _int(audio, "rate", "audio.", 8000, 48000, 8000)
        return
    _only(audio, ("backend", "mic", "speaker", "half_duplex"), "audio.")
    _bool(audio, "half_duplex", "audio.", False)
    for part in ("mic", "speaker"):
        path = "audio." + part + "."
        i2s = _value(audio, part, "audio.")
        if not isinstance(i2s, dict):
            _bad(path[:-1], "must be an object with id, sck, ws, sd, bits, rate")
        _only(i2s, ("id", "sck", "ws", "sd", "bits", "rate", "format"), path)
        bus = _int(i2s, "id", path, 0, 1)
        fmt = _choice(i2s, "format", path, ("i2s", "pdm"), "i2s")
        bits = _value(i2s, "bits", path)
        if bits not in (16, 32) or type(bits) is not int:
            _bad(path + "bits", "must be 16 or 32")
        _int(i2s, "rate", path, 8000, 48000)
        for i, line in enumerate(("sck", "ws", "sd")):
            # A PDM microphone has no bit clock (sck null): it is clocked from WS.
            if i == 0 and fmt != "i2s" and _value(i2s, line, path) is None:
                continue
            # sck and ws clock the bus: mic and speaker on one bus share them.
            _claim(table, i2s, line, path, i < 2 or part == "speaker", None,
                   bus if i < 2 else None)
    if audio["mic"]["id"] == audio["speaker"]["id"] and not audio["half_duplex"]:
        _bad("audio.half_duplex", "must be true when mic and speaker share I2S id %d"
             % audio["mic"]["id"])


def validate_board(board, name="board"):
    """Check a parsed board dict in place (defaults filled) and return it."""
    if not isinstance(board, dict):
        _bad(None, "a board file must hold a JSON object")
    _only(board, _KNOWN_TOP, "")
    board.setdefault("name", name)
    runtime = _choice(board, "runtime", "", _RUNTIMES)
    march = _value(board, "march", "")
    if runtime == "micropython":
        _choice(board, "march", "", _MARCHES)
        for key in ("chip", "micropython_version"):
            if not isinstance(_value(board, key, ""), str):
                _bad(key, "must be a string")
        offset = _value(board, "flash_offset", "")
        ok = isinstance(offset, str) and offset.startswith(_HEX_PREFIX)
        if ok:
            try:
                int(offset, 16)
            except ValueError:
                ok = False
        if not ok:
            _bad("flash_offset", "must be a hex string such as \"0x1000\"")
    elif march is not None:
        _bad("march", "must be null on a %s board (no .mpy native code)" % runtime)
    pins = _choice(board, "pins", "", ("sim", "gpiozero", "mpy"))
    allowed = _PIN_BACKENDS[_RUNTIMES.index(runtime)]
    if pins not in allowed:
        _bad("pins", "backend %r does not run on runtime %s (use %s)"
             % (pins, runtime, _OR.join(allowed)))
    for key in ("psram", "accept_any_name"):
        _bool(board, key, "", False)
    # gpiozero numbers the Pi's BCM GPIOs, whatever the chip says
    chip = "bcm" if pins == "gpiozero" else board.get("chip")
    limits = None
    for name, usable, input_only in _CHIP_PINS:
        if chip == name:
            limits = (usable, input_only)
            break
    table = ({}, pins == "sim", limits)  # see _claim
    for kind in ("buttons", "relays", "leds"):
        src = _value(board, kind, "")
        if not isinstance(src, dict):
            _bad(kind, "must be an object of named entries")
        for name in src:
            path = kind + "." + name + "."
            spec = src[name]
            if not isinstance(spec, dict):
                _bad(path[:-1], "must be an object")
            _bool(spec, "active_low", path)
            if kind == "buttons":
                _only(spec, ("pin", "active_low", "pull", "bounce_ms", "hold_ms"), path)
                pull = _value(spec, "pull", path)
                if pull is not None:
                    _choice(spec, "pull", path, ("up", "down"))
                _int(spec, "bounce_ms", path, 0, 1000, 30)
                _int(spec, "hold_ms", path, 100, 60000, 1000)
                _claim(table, spec, "pin", path, False, pull)
            elif kind == "relays":
                _only(spec, ("pin", "active_low", "max_on_ms"), path)
                _int(spec, "max_on_ms", path, 100, 3600000, 600000)
                _claim(table, spec, "pin", path, True)
            else:
                _only(spec, ("pin", "active_low", "type", "color"), path)
                if _choice(spec, "type", path, ("gpio", "sk6812"), "gpio") != "gpio":
                    color = spec.setdefault("color", [0, 0, 64])
                    if not isinstance(color, list) or len(color) != 3 or \
                            [c for c in color if type(c) is not int or c < 0 or c > 255]:
                        _bad(path + "color", "must be [r, g, b] with 0..255 each")
                _claim(table, spec, "pin", path, True)
    _audio(board, table)
    return board


def load_board(name, boards_dir=None):
    """The validated board dict for a board name or a path to a .json file."""
    if not isinstance(name, str) or not name:
        _bad(None, "a board name is required")
    if "/" in name or name.endswith(".json"):
        path = name
        name = path.rsplit("/", 1)[-1]
        if name.endswith(".json"):
            name = name[:-5]
    else:
        import os
        path = None
        known = []
        if boards_dir:
            folders = (boards_dir,)
        else:
            # ./boards and /boards (a device: deploy copies the board there), after
            # <checkout>/boards for <checkout>/firmware/doorsip/board.py.
            folders = ("boards", "/boards")
            here = globals().get("__file__")
            if here:
                parts = here.replace("\\", "/").rsplit("/", 3)
                if len(parts) == 4:
                    folders = (parts[0] + folders[1],) + folders
        for folder in folders:
            try:
                names = os.listdir(folder)
            except OSError:
                continue
            for entry in names:
                if entry.endswith(".json") and entry[:-5] not in known:
                    known.append(entry[:-5])
            if name + ".json" in names:
                path = folder + "/" + name + ".json"
                break
        if path is None:
            known.sort()
            _bad(None, "unknown board %r (known: %s)" % (name, ", ".join(known) or "none"))
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        _bad(None, "%s: no such board file" % path)
    try:
        board = parse(data.decode("utf-8"), path)
    except (ConfigError, UnicodeError) as exc:
        _bad(None, str(exc))
    try:
        return validate_board(board, name)
    except BoardError as exc:
        _bad(exc.field, "%s (in board file %s)" % (exc.message, path))


def check_board_against_config(board, config):
    """BoardError naming the config field whose button or relay the board lacks."""
    if board.get("accept_any_name"):
        return
    wanted = []  # (board kind, name, config section, config key)
    for section, kind in (("buttons", "buttons"), ("doors", "relays")):
        for name in config.get(section) or {}:
            if not name.startswith("_"):
                wanted.append((kind, name, section, name))
    if config.get("role") == "indoor":
        indoor = config.get("indoor") or {}
        for key in ("answer_button", "open_button", "hangup_button"):
            if indoor.get(key):
                wanted.append(("buttons", indoor[key], "indoor", key))
    for kind, name, section, key in wanted:
        if name not in board[kind]:
            _bad(section + "." + key, "board %s has no %s named %r (it has: %s)"
                 % (board.get("name"), kind[:-1], name,
                    ", ".join(sorted(board[kind])) or "none"))

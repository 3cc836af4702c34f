"""Station configuration: one JSON file, validated at load, saved atomically.

API (the same on MicroPython, CPython and in host_tools):
  load(path) -> dict        read, parse, validate; ConfigError on any problem
  validate(cfg) -> dict     new dict with defaults filled; the input is not changed
  save(path, cfg)           validate, then write atomically (temp file + rename)
  masked(cfg) -> dict       copy with secrets replaced by "****" for display
  release()                 drop config/board modules after boot (frees their code heap)
  ConfigError(field, message): .field is the dotted path ("sip.expires",
      "buttons.bell.call[0]"; None for file-level errors); str() is
      'sip.expires: must be an integer between 60 and 86400, got "abc"'.

Schema (DESIGN.md section 4; "=" gives the default filled in when a key is absent):
  role          "door" | "indoor"                          = "door"
  name          non-empty string                           = "doorsip"
  board         board file name                            = "sim"
  wifi.ssid     string or null (MicroPython boards only)   = null
  wifi.password string                                     = ""
  sip.user      SIP user part, no spaces or @              = "doorsip"
  sip.auth_user string                                     = sip.user
  sip.password  string                                     = ""
  sip.domain    host or null (null: registrar host, else our own address) = null
  sip.registrar "host[:port]" or null (null: no REGISTER, direct calls) = null
  sip.proxy     "host[:port]" or null (outbound proxy)     = null
  sip.expires   integer 60..86400 (seconds)                = 300
  sip.local_port integer 1..65535                          = 5060
  sip.display_name string                                  = name
  rtp.port      integer 1..65535; it and +1 (RTCP) differ from sip.local_port = 4000
  rtp.codecs    non-empty list of "PCMU" | "PCMA", no repeats, in preference order
                                                           = ["PCMU", "PCMA"]
  rtp.dtmf      list of "rfc4733" | "info" | "inband", no repeats
                                                           = ["rfc4733", "info", "inband"]
  rtp.dtmf_pt   integer 96..127 (RFC 4733 telephone-event payload type) = 101
  buttons.<name>            a button of the board file     = {} (no buttons)
    .call       non-empty list of SIP URIs (sip:/sips:)    required
    .mode       "sequential" | "parallel"                  = "sequential"
    .ring_timeout_s integer 5..600                         = 20
    .fallback   list of direct SIP URIs, tried when the registrar is unreachable
                (e.g. "sip:flat200@192.168.1.20:5062")     = []
  doors.<name>              a relay of the board file      = {} (no doors)
    .code       1..16 characters of 0-9 * # A-D            required
    .pulse_ms   integer 100..max_on_ms                     = 3000
    .max_on_ms  integer 100..600000: the relay is forced off after this long on,
                whatever asked for it (a stuck strike burns out) = 10000
    .max_wrong  integer 1..100                             = 3
    .lockout_s  integer 0..86400                           = 60
  incoming.allow  list of SIP URIs allowed to call in, or ["*"] for anyone = []
  incoming.auto_answer  boolean                            = false
  incoming.auto_answer_delay_s integer 0..60               = 0
  call.max_duration_s   integer 10..3600                   = 120
  call.hangup_after_open_s  null (stay in the call) or integer 1..600 = null
  indoor.door_code      code as above, or null (the open button then does nothing) = null
  indoor.dtmf_method    "rfc4733" | "info"                 = "rfc4733"
  indoor.answer_button  board button name, or null for none = "answer"
  indoor.open_button    board button name or null           = "open"
  indoor.hangup_button  board button name or null (may equal answer_button:
                        one button that answers, then hangs up) = "hangup"
  indoor.auto_answer_s  null (ring until answered) or integer 0..600 = null
  indoor.ring_timeout_s integer 5..600 (then decline with 480) = 30

Unknown keys are rejected, with the known names in the message: a misspelt key
("sip.expire", "doors.door.pulse") silently ignored would leave a default the
installer believed they had changed, and that shows up only at the door. Keys
starting with "_" are kept unchecked, as comments (JSON has none).
Secrets never appear in error messages.
"""
import json
import os

from doorsip.compat import const

# Inlined by MicroPython's compiler (see board.py): no global, no interned name.
_SECRET = const("****")
_CODE_CHARS = const("0123456789*#ABCD")
_URI_BAD = const(' \t\r\n<>"')


class ConfigError(Exception):
    def __init__(self, field, message):
        super().__init__((field + ": " + message) if field else message)
        self.field = field
        self.message = message


# --- value checks: each returns the value or raises ConfigError naming the field ---

def _show(value, secret=False):
    if secret:
        return "(hidden)"
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    except RuntimeError:  # nested too deeply to print
        text = "a deeply nested " + type(value).__name__
    if len(text) > 60:
        text = text[:57] + "..."
    return text


def _bad(path, what, value, secret=False):
    raise ConfigError(path, "must be " + what + ", got " + _show(value, secret))


def _int(value, path, lo, hi):
    # bool is an int subclass on both interpreters: true must not pass as 1.
    if type(value) is not int or value < lo or value > hi:
        _bad(path, "an integer between %d and %d" % (lo, hi), value)
    return value


def _opt_int(value, path, lo, hi):
    if value is None:
        return None
    if type(value) is not int or value < lo or value > hi:
        _bad(path, "null or an integer between %d and %d" % (lo, hi), value)
    return value


def _bool(value, path):
    if type(value) is not bool:
        _bad(path, "true or false", value)
    return value


def _str(value, path, nonempty=False, secret=False):
    if not isinstance(value, str) or (nonempty and not value):
        _bad(path, "a non-empty string" if nonempty else "a string", value, secret)
    return value


def _opt_str(value, path):
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        _bad(path, "null or a non-empty string", value)
    return value


def _choice(value, path, choices):
    if not isinstance(value, str) or value not in choices:
        _bad(path, "one of " + ", ".join(choices), value)
    return value


def _name(value, path, what):
    # Button, relay and user names: letters, digits, "_", "-", "."; no spaces.
    if not isinstance(value, str) or not value or len(value) > 32:
        _bad(path, what + " (1-32 letters, digits, _ - .)", value)
    for c in value:
        if not (c.isalpha() or c.isdigit() or c in "_-."):
            _bad(path, what + " (1-32 letters, digits, _ - .)", value)
    return value


def _user(value, path):
    # RFC 3261 25.1 user part; the characters that would end it are refused.
    if isinstance(value, str) and value and len(value) <= 64:
        for c in value:
            if c in _URI_BAD or c in "@:;?/":
                break
        else:
            return value
    _bad(path, "a SIP user name (no spaces, @ : ; ? /)", value)


def _port_text(text):
    if not text or len(text) > 5:
        return False
    for c in text:
        if c not in "0123456789":
            return False
    return 1 <= int(text) <= 65535


def _host_port_ok(text):
    """host, host:port, [v6] or [v6]:port (RFC 3261 section 25.1 hostport)."""
    if not text:
        return False
    for c in text:
        if c in _URI_BAD or c in "@;?/":
            return False
    if text[0] == "[":
        end = text.find("]")
        if end < 2:
            return False
        rest = text[end + 1:]
        return rest == "" or (rest[0] == ":" and _port_text(rest[1:]))
    host, sep, port = text.partition(":")
    if not host or ":" in port:
        return False
    return not sep or _port_text(port)


def _hostport(value, path):
    if value is None:
        return None
    if not isinstance(value, str) or not _host_port_ok(value):
        _bad(path, 'null or "host" or "host:port" (port 1-65535)', value)
    return value


def _sip_uri(value, path):
    # Only the shape a station can dial: sip:[user@]hostport[;params] (RFC 3261 19.1.1).
    what = 'a SIP URI such as "sip:flat200@pbx.example.org"'
    if not isinstance(value, str):
        _bad(path, what, value)
    low = value[:5].lower()
    if low.startswith("sip:"):
        rest = value[4:]
    elif low == "sips:":
        rest = value[5:]
    else:
        _bad(path, what + " (sip: or sips:)", value)
    for c in rest:
        if c in _URI_BAD:
            _bad(path, what, value)
    rest = rest.split(";", 1)[0].split("?", 1)[0]
    user, at, host = rest.rpartition("@")
    if (at and not user) or not _host_port_ok(host):
        _bad(path, what, value)
    return value


def _list(value, path, check, nonempty=False, unique=True):
    if not isinstance(value, list) or (nonempty and not value):
        _bad(path, "a non-empty list" if nonempty else "a list", value)
    out = []
    for i, item in enumerate(value):
        item = check(item, "%s[%d]" % (path, i))
        if unique and item in out:
            raise ConfigError("%s[%d]" % (path, i), "repeats " + _show(item))
        out.append(item)
    return out


def _code(value, path, nullable=False):
    if value is None and nullable:
        return None
    ok = isinstance(value, str) and 1 <= len(value) <= 16
    if ok:
        for c in value:
            if c not in _CODE_CHARS:
                ok = False
    if not ok:
        # Never echo a code: error messages end up in logs and on screens.
        raise ConfigError(path, ("must be null or " if nullable else "must be ")
                          + "1-16 characters of 0-9 * # A-D")
    return value


# --- sections ---

def _section(src, path):
    """The dict at path (missing: {}), and a reader that tracks the keys used."""
    if src is None:
        src = {}
    if not isinstance(src, dict):
        _bad(path, "an object", src)
    return _Reader(src, path)


class _Reader:
    def __init__(self, src, path):
        self.src = src
        self.path = path
        self.known = []
        self.out = {}

    def field(self, key):
        return self.path + "." + key if self.path else key

    def get(self, key, default, check, *args):
        self.known.append(key)
        if key in self.src:
            value = check(self.src[key], self.field(key), *args)
        else:
            value = default
        self.out[key] = value
        return value

    def require(self, key, check, *args):
        self.known.append(key)
        if key not in self.src:
            raise ConfigError(self.field(key), "is required")
        value = check(self.src[key], self.field(key), *args)
        self.out[key] = value
        return value

    def finish(self):
        for key in self.src:
            if not isinstance(key, str):
                raise ConfigError(self.path or None, "keys must be strings")
            if key.startswith("_"):
                self.out[key] = self.src[key]
            elif key not in self.known:
                raise ConfigError(self.field(key), "unknown key (known: "
                                  + ", ".join(self.known) + ")")
        return self.out


def _named_sections(src, path, one):
    if src is None:
        src = {}
    if not isinstance(src, dict):
        _bad(path, "an object of named entries", src)
    out = {}
    for key in src:
        if isinstance(key, str) and key.startswith("_"):
            out[key] = src[key]
            continue
        _name(key, path + "." + str(key), "a name")
        out[key] = one(src[key], path + "." + key)
    return out


def _button(src, path):
    r = _section(src, path)
    r.require("call", _list, _sip_uri, True)
    r.get("mode", "sequential", _choice, ("sequential", "parallel"))
    r.get("ring_timeout_s", 20, _int, 5, 600)
    r.get("fallback", [], _list, _sip_uri)
    return r.finish()


def _door(src, path):
    r = _section(src, path)
    r.require("code", _code)
    max_on = r.get("max_on_ms", 10000, _int, 100, 600000)
    r.get("pulse_ms", 3000, _int, 100, max_on)
    r.get("max_wrong", 3, _int, 1, 100)
    r.get("lockout_s", 60, _int, 0, 86400)
    return r.finish()


def validate(cfg):
    """A new, complete configuration dict, or ConfigError naming the first bad field."""
    if not isinstance(cfg, dict):
        raise ConfigError(None, "the configuration must be a JSON object, got " + _show(cfg))
    top = _Reader(cfg, "")
    top.get("role", "door", _choice, ("door", "indoor"))
    name = top.get("name", "doorsip", _str, True)
    top.get("board", "sim", _name, "a board name")

    r = _section(cfg.get("wifi"), "wifi")
    r.get("ssid", None, _opt_str)
    r.get("password", "", _str, False, True)
    top.known.append("wifi")
    top.out["wifi"] = r.finish()

    r = _section(cfg.get("sip"), "sip")
    user = r.get("user", "doorsip", _user)
    r.get("auth_user", user, _str, True)
    r.get("password", "", _str, False, True)
    r.get("domain", None, _hostport)
    r.get("registrar", None, _hostport)
    r.get("proxy", None, _hostport)
    r.get("expires", 300, _int, 60, 86400)
    r.get("local_port", 5060, _int, 1, 65535)
    r.get("display_name", name, _str)
    top.known.append("sip")
    top.out["sip"] = r.finish()

    r = _section(cfg.get("rtp"), "rtp")
    rtp_port = r.get("port", 4000, _int, 1, 65535)
    sip_port = top.out["sip"]["local_port"]
    if sip_port in (rtp_port, rtp_port + 1):
        # Both are UDP sockets of this station; RTCP takes rtp.port + 1 (RFC 3550 11).
        raise ConfigError("rtp.port", "must not collide with sip.local_port %d "
                          "(RTP uses port and port+1), got %d" % (sip_port, rtp_port))
    r.get("codecs", ["PCMU", "PCMA"], _list, _choice_check(("PCMU", "PCMA")), True)
    r.get("dtmf", ["rfc4733", "info", "inband"], _list, _choice_check(("rfc4733", "info", "inband")))
    r.get("dtmf_pt", 101, _int, 96, 127)
    top.known.append("rtp")
    top.out["rtp"] = r.finish()

    top.known.append("buttons")
    top.out["buttons"] = _named_sections(cfg.get("buttons"), "buttons", _button)
    top.known.append("doors")
    top.out["doors"] = _named_sections(cfg.get("doors"), "doors", _door)

    r = _section(cfg.get("incoming"), "incoming")
    r.get("allow", [], _list, _allow_entry)
    r.get("auto_answer", False, _bool)
    r.get("auto_answer_delay_s", 0, _int, 0, 60)
    top.known.append("incoming")
    top.out["incoming"] = r.finish()

    r = _section(cfg.get("call"), "call")
    r.get("max_duration_s", 120, _int, 10, 3600)
    r.get("hangup_after_open_s", None, _opt_int, 1, 600)
    top.known.append("call")
    top.out["call"] = r.finish()

    r = _section(cfg.get("indoor"), "indoor")
    r.get("door_code", None, _code, True)
    r.get("dtmf_method", "rfc4733", _choice, ("rfc4733", "info"))
    # Defaults name the buttons of the sim and rpi boards (and app/intercom's).
    for key, default in (("answer_button", "answer"), ("open_button", "open"),
                         ("hangup_button", "hangup")):
        r.get(key, default, _opt_name)
    r.get("auto_answer_s", None, _opt_int, 0, 600)
    r.get("ring_timeout_s", 30, _int, 5, 600)
    top.known.append("indoor")
    top.out["indoor"] = r.finish()
    return top.finish()


def _choice_check(choices):
    def check(value, path):
        return _choice(value, path, choices)
    return check


def _allow_entry(value, path):
    if value == "*":
        return value
    return _sip_uri(value, path)


def _opt_name(value, path):
    if value is None:
        return None
    return _name(value, path, "null or a button name")


def masked(cfg):
    """A copy for display with passwords and door codes replaced by "****"."""
    out = _copy(cfg)
    for section in ("sip", "wifi"):
        part = out.get(section)
        if isinstance(part, dict) and part.get("password"):
            part["password"] = _SECRET
    doors = out.get("doors")
    if isinstance(doors, dict):
        for door in doors.values():
            if isinstance(door, dict) and door.get("code"):
                door["code"] = _SECRET
    indoor = out.get("indoor")
    if isinstance(indoor, dict) and indoor.get("door_code"):
        indoor["door_code"] = _SECRET
    return out


def _copy(value):
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def release():
    """Forget the config, board and jsonstrict modules after boot so a MicroPython
    device gets their code's heap back (27 KB measured on the 64-bit unix port);
    dicts they returned stay valid. Call once nothing holds their functions."""
    import sys
    package = sys.modules.get("doorsip")
    for name in ("config", "board", "jsonstrict"):
        sys.modules.pop("doorsip." + name, None)
        if package is not None and name in package.__dict__:
            delattr(package, name)


# --- files ---

def load(path):
    """Read, parse and validate the configuration file at path."""
    text = _read(path)
    if text is None:
        # A cut between the two renames of a FAT save (see _replace) can leave
        # only the complete temporary file; it is used only if it validates.
        text = _read(path + ".tmp")
        if text is None:
            raise ConfigError(None, "%s: no such configuration file" % path)
    return validate(parse(text, path))


def parse(text, path="configuration"):
    """JSON text -> value, or ConfigError with line and column of the first error."""
    if not text.strip():
        raise ConfigError(None, "%s: the file is empty" % path)
    import sys
    try:
        if sys.implementation.name == "micropython":
            # MicroPython's json is lenient and positionless: check strictly first.
            from doorsip import jsonstrict
            found = jsonstrict.find_error(text)
            if found is not None:
                line, col = jsonstrict.line_col(text, found[0])
                raise ConfigError(None, "%s: invalid JSON at line %d column %d: %s"
                                  % (path, line, col, found[1]))
        return json.loads(text)
    except RuntimeError:  # RecursionError on CPython
        raise ConfigError(None, "%s: invalid JSON: nested too deeply" % path)
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        if line is None:
            raise ConfigError(None, "%s: invalid JSON: %s" % (path, exc))
        raise ConfigError(None, "%s: invalid JSON at line %d column %d: %s"
                          % (path, line, exc.colno, exc.msg))


def _read(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        if exc.args and exc.args[0] == 2:  # ENOENT
            return None
        raise ConfigError(None, "%s: cannot read: %s" % (path, exc))
    try:
        return data.decode("utf-8")
    except UnicodeError:
        raise ConfigError(None, "%s: not UTF-8 text" % path)


def dumps(cfg):
    """Canonical file text; indented where the interpreter's json can."""
    try:
        return json.dumps(cfg, indent=2, sort_keys=True) + "\n"
    except TypeError:  # MicroPython: no indent/sort_keys
        return json.dumps(cfg) + "\n"


def save(path, cfg):
    """Validate cfg and replace the file at path atomically; returns the saved dict."""
    cfg = validate(cfg)
    write_atomic(path, dumps(cfg).encode("utf-8"))
    return cfg


def write_atomic(path, data, opener=open):
    """Write data to path so that a cut at any moment leaves the old or the new file.

    The new content goes to path + ".tmp" in the same folder (rename is atomic only
    within one file system), is flushed and fsync'ed where the port has fsync, and
    is then renamed over the target. opener lets tests inject a failing file.
    """
    tmp = path + ".tmp"
    try:
        with opener(tmp, "wb") as f:
            f.write(data)
            f.flush()
            fsync = getattr(os, "fsync", None)
            if fsync is not None and hasattr(f, "fileno"):
                fsync(f.fileno())
        _replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    _sync_folder(path)


def _replace(tmp, path):
    try:
        os.rename(tmp, path)  # POSIX and littlefs replace the target atomically
    except OSError:
        # FAT refuses to rename over an existing file: remove it first. A cut
        # in between leaves only the complete .tmp, which load() falls back to.
        os.remove(path)
        os.rename(tmp, path)


def _sync_folder(path):
    # The rename itself is durable only once the folder is synced (POSIX).
    if not hasattr(os, "fsync") or not hasattr(os, "O_RDONLY"):
        return
    folder = path.rpartition("/")[0] or "."
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

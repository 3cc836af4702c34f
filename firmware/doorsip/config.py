"""Station configuration: one JSON file, validated at load, saved atomically.

API (the same on MicroPython, CPython and in host_tools):
  load(path) -> dict        read, parse, validate; ConfigError on any problem
  validate(config) -> dict  new dict with defaults filled; the input is not changed
  save(path, config)        validate, then write atomically (temp file + rename)
  masked(config) -> dict    copy with secrets replaced by "****" for display
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

from doorsip.compat import const, forget

# Underscore const()s are inlined by MicroPython's compiler as str/tuple objects: no
# global and no interned name (qstr), which would stay for good after release().
# Short message parts and key names are kept here or in tuples for that reason.
_SECRET = const("****")
_CODE_CHARS = const("0123456789*#ABCD")
_DIGITS = const("0123456789")
_NAME_PUNCT = const("_-.")
_URI_BAD = const(' \t\r\n<>"')
_USER_BAD = const(' \t\r\n<>"@:;?/')  # _URI_BAD and what would end a user part
_HOST_BAD = const(' \t\r\n<>"@;?/')
_TMP = const(".tmp")
_NULL_OR = const("null or ")
_ONE_OF = const("one of ")
_ITEM = const("%s[%d]")
# The fields that take null (schema above): null skips their check.
_NULLABLE = const(("ssid", "domain", "registrar", "proxy", "hangup_after_open_s", "door_code",
                   "answer_button", "open_button", "hangup_button", "auto_answer_s"))
# The fields whose values error messages never show.
_SECRETS = const(("password", "code", "door_code"))


class ConfigError(Exception):
    def __init__(self, field, message):
        super().__init__((field + ": " + message) if field else message)
        self.field = field
        self.message = message


# --- value checks: check(value, field, *args) returns the value or raises ConfigError ---

def _bad(path, what, value):
    """Raise 'path: must be <what>, got <value as JSON>', with "null or " before what
    where the field takes null; a secret's value is never shown."""
    key = path.rpartition(".")[2] if path else ""
    if key in _NULLABLE:
        what = _NULL_OR + what
    if key in _SECRETS:
        # Error messages end up in logs and on screens.
        raise ConfigError(path, "must be %s, got (hidden)" % what)
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    except RuntimeError:  # nested too deeply to print
        text = "a deeply nested " + type(value).__name__
    raise ConfigError(path, ("must be %s, got %.57s..." if len(text) > 60 else "must be %s, got %s")
                      % (what, text))


def _int(value, path, start, end):
    # bool is an int subclass on both interpreters: true must not pass as 1.
    if type(value) is not int or value < start or value > end:
        _bad(path, "an integer between %d and %d" % (start, end), value)
    return value


def _bool(value, path):
    if type(value) is not bool:
        _bad(path, "true or false", value)
    return value


def _str(value, path, nonempty):
    if not isinstance(value, str) or (nonempty and not value):
        _bad(path, ("a string", "a non-empty string")[nonempty], value)
    return value


def _choice(value, path, options):
    if not isinstance(value, str) or value not in options:
        _bad(path, _ONE_OF + ", ".join(options), value)
    return value


def _name(value, path, what):
    # Button, relay and board names: letters, digits, "_", "-", "."; no spaces.
    if isinstance(value, str) and 0 < len(value) <= 32:
        for c in value:
            if not (c.isalpha() or c.isdigit() or c in _NAME_PUNCT):
                break
        else:
            return value
    _bad(path, what + " (1-32 letters, digits, _ - .)", value)


def _user(value, path):
    # RFC 3261 25.1 user part; the characters that would end it are refused.
    if isinstance(value, str) and 0 < len(value) <= 64:
        for c in value:
            if c in _USER_BAD:
                break
        else:
            return value
    _bad(path, "a SIP user name (no spaces, @ : ; ? /)", value)


def _hostport(text, path, what='"host" or "host:port" (port 1-65535)', value=None):
    """host, host:port, [v6] or [v6]:port (RFC 3261 section 25.1 hostport), else
    ConfigError "must be <what>, got <value>" (value: text unless given)."""
    ok = isinstance(text, str) and text != ""
    if ok:
        for c in text:
            if c in _HOST_BAD:
                ok = False
    if ok:
        if text[0] == "[":
            end = text.find("]")
            port = text[end + 1:]
            sep = port[:1]
            ok = end >= 2 and sep in ("", ":")
            port = port[1:]
        else:
            host, sep, port = text.partition(":")
            ok = host != "" and ":" not in port
        if ok and sep:
            # a port: 1-5 ASCII digits, 1..65535
            ok = 0 < len(port) <= 5
            for c in port:
                if c not in _DIGITS:
                    ok = False
            ok = ok and 1 <= int(port) <= 65535
    if not ok:
        _bad(path, what, text if value is None else value)
    return text


def _sip_uri(value, path, allow=None):
    """Only the shape a station can dial: sip:[user@]hostport[;params] (RFC 3261
    19.1.1). allow: one more value taken as it is ("*" in incoming.allow: anyone)."""
    if allow is not None and value == allow:
        return value
    what = 'a SIP URI such as "sip:flat200@pbx.example.org"'
    if not isinstance(value, str):
        _bad(path, what, value)
    scheme, colon, rest = value.partition(":")
    if not colon or scheme.lower() not in ("sip", "sips"):
        _bad(path, what + " (sip: or sips:)", value)
    for c in rest:
        if c in _URI_BAD:
            _bad(path, what, value)
    user, at, host = rest.split(";", 1)[0].split("?", 1)[0].rpartition("@")
    if at and not user:
        _bad(path, what, value)
    _hostport(host, path, what, value)
    return value


def _list(value, path, nonempty, check, *args):
    """A list whose items each pass check(item, "path[i]", *args), none repeated."""
    if not isinstance(value, list) or (nonempty and not value):
        _bad(path, ("a list", "a non-empty list")[nonempty], value)
    out = []
    for i, item in enumerate(value):
        item = check(item, _ITEM % (path, i), *args)
        if item in out:
            # (the items are strings: codecs, DTMF methods, SIP URIs)
            raise ConfigError(_ITEM % (path, i), 'repeats "%s"' % item)
        out.append(item)
    return out


def _code(value, path):
    if isinstance(value, str) and 1 <= len(value) <= 16:
        for c in value:
            if c not in _CODE_CHARS:
                break
        else:
            return value
    _bad(path, "1-16 characters of 0-9 * # A-D", value)  # never shown: a secret


# --- sections ---

class _Reader:
    """The dict at path (missing or null: {}), read key by key into .out; finish()
    refuses the keys nobody asked for."""

    def __init__(self, src, path):
        if src is None:
            src = {}
        if not isinstance(src, dict):
            _bad(path, "a JSON object", src)
        self.src = src
        self.path = path
        self.fields = []
        self.out = {}

    def field(self, key):
        return self.path + "." + key if self.path else key

    def get(self, key, default, check, *args):
        """src[key] checked by check(value, field, *args), else default (default
        ConfigError: the key is required)."""
        self.fields.append(key)
        if key in self.src:
            value = self.src[key]
            if value is not None or key not in _NULLABLE:
                value = check(value, self.field(key), *args)
        elif default is ConfigError:
            raise ConfigError(self.field(key), "is required")
        else:
            value = default
        self.out[key] = value
        return value

    def finish(self):
        for key in self.src:
            if not isinstance(key, str):
                raise ConfigError(self.path or None, "keys must be strings")
            if key.startswith("_"):
                self.out[key] = self.src[key]
            elif key not in self.fields:
                raise ConfigError(self.field(key), "unknown key (known: "
                                  + ", ".join(self.fields) + ")")
        return self.out


def validate(config):
    """A new, complete configuration dict, or ConfigError naming the first bad field."""
    if not isinstance(config, dict):
        _bad(None, "a JSON object (the whole configuration)", config)
    top = _Reader(config, "")
    top.get("role", "door", _choice, ("door", "indoor"))
    name = top.get("name", "doorsip", _str, True)
    top.get("board", "sim", _name, "a board name")

    r = _Reader(config.get("wifi"), "wifi")
    r.get("ssid", None, _str, True)
    r.get("password", "", _str, False)
    top.fields.append("wifi")
    top.out["wifi"] = r.finish()

    r = _Reader(config.get("sip"), "sip")
    user = r.get("user", "doorsip", _user)
    r.get("auth_user", user, _str, True)
    r.get("password", "", _str, False)
    r.get("domain", None, _hostport)
    r.get("registrar", None, _hostport)
    r.get("proxy", None, _hostport)
    r.get("expires", 300, _int, 60, 86400)
    sip_port = r.get("local_port", 5060, _int, 1, 65535)
    r.get("display_name", name, _str, False)
    top.fields.append("sip")
    top.out["sip"] = r.finish()

    r = _Reader(config.get("rtp"), "rtp")
    rtp_port = r.get("port", 4000, _int, 1, 65535)
    if sip_port in (rtp_port, rtp_port + 1):
        # Both are UDP sockets of this station; RTCP takes rtp.port + 1 (RFC 3550 11).
        raise ConfigError(r.field("port"), "must not collide with sip.local_port %d "
                          "(RTP uses port and port+1), got %d" % (sip_port, rtp_port))
    r.get("codecs", ["PCMU", "PCMA"], _list, True, _choice, ("PCMU", "PCMA"))
    r.get("dtmf", ["rfc4733", "info", "inband"], _list, False, _choice,
          ("rfc4733", "info", "inband"))
    r.get("dtmf_pt", 101, _int, 96, 127)
    top.fields.append("rtp")
    top.out["rtp"] = r.finish()

    # buttons.<name> and doors.<name>: objects of named entries.
    for section in ("buttons", "doors"):
        src = config.get(section)
        if src is None:
            src = {}
        if not isinstance(src, dict):
            _bad(section, "an object of named entries", src)
        out = {}
        for key in src:
            if isinstance(key, str) and key.startswith("_"):
                out[key] = src[key]
                continue
            _name(key, section + "." + str(key), "an entry name")
            r = _Reader(src[key], section + "." + key)
            if section == "doors":
                r.get("code", ConfigError, _code)
                max_on = r.get("max_on_ms", 10000, _int, 100, 600000)
                r.get("pulse_ms", 3000, _int, 100, max_on)
                r.get("max_wrong", 3, _int, 1, 100)
                r.get("lockout_s", 60, _int, 0, 86400)
            else:
                r.get("call", ConfigError, _list, True, _sip_uri)
                r.get("mode", "sequential", _choice, ("sequential", "parallel"))
                r.get("ring_timeout_s", 20, _int, 5, 600)
                r.get("fallback", [], _list, False, _sip_uri)
            out[key] = r.finish()
        top.fields.append(section)
        top.out[section] = out

    r = _Reader(config.get("incoming"), "incoming")
    r.get("allow", [], _list, False, _sip_uri, "*")
    r.get("auto_answer", False, _bool)
    r.get("auto_answer_delay_s", 0, _int, 0, 60)
    top.fields.append("incoming")
    top.out["incoming"] = r.finish()

    r = _Reader(config.get("call"), "call")
    r.get("max_duration_s", 120, _int, 10, 3600)
    r.get("hangup_after_open_s", None, _int, 1, 600)
    top.fields.append("call")
    top.out["call"] = r.finish()

    r = _Reader(config.get("indoor"), "indoor")
    r.get("door_code", None, _code)
    r.get("dtmf_method", "rfc4733", _choice, ("rfc4733", "info"))
    # Defaults name the buttons of the sim and rpi boards (and app/intercom's).
    for key, default in (("answer_button", "answer"), ("open_button", "open"),
                         ("hangup_button", "hangup")):
        r.get(key, default, _name, "a button name")
    r.get("auto_answer_s", None, _int, 0, 600)
    r.get("ring_timeout_s", 30, _int, 5, 600)
    top.fields.append("indoor")
    top.out["indoor"] = r.finish()
    return top.finish()


def masked(config):
    """A deep copy for display with passwords and door codes replaced by "****"."""
    if isinstance(config, list):
        return [masked(v) for v in config]
    if not isinstance(config, dict):
        return config
    out = {k: masked(v) for k, v in config.items()}
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


def release():
    """Forget the config, board and jsonstrict modules after boot so a MicroPython
    device gets their code's heap back (27 KB measured on the 64-bit unix port);
    dicts they returned stay valid. Call once nothing holds their functions."""
    for name in ("doorsip.config", "doorsip.board", "doorsip.jsonstrict"):
        forget(name)


# --- files ---

def load(path):
    """Read, parse and validate the configuration file at path."""
    # A cut between the two renames of a FAT save (see write_atomic) can leave
    # only the complete temporary file; it is used only if it validates.
    for name in (path, path + _TMP):
        try:
            with open(name, "rb") as f:
                data = f.read()
        except OSError as exc:
            if exc.args and exc.args[0] == 2:  # ENOENT
                continue
            raise ConfigError(None, "%s: cannot read: %s" % (name, exc))
        try:
            text = data.decode("utf-8")
        except UnicodeError:
            raise ConfigError(None, "%s: not UTF-8 text" % name)
        return validate(parse(text, path))
    raise ConfigError(None, "%s: no such configuration file" % path)


def parse(text, path="configuration"):
    """JSON text -> value, or ConfigError with line and column of the first error."""
    if not text.strip():
        raise ConfigError(None, "%s: the file is empty" % path)
    import sys
    try:
        found = None
        if sys.implementation.name == "micropython":
            # MicroPython's json is lenient and positionless: check strictly first.
            from doorsip import jsonstrict
            found = jsonstrict.find_error(text)
        if found is None:
            return json.loads(text)
        pos, msg = found
    except RuntimeError:  # RecursionError on CPython
        raise ConfigError(None, "%s: invalid JSON: nested too deeply" % path)
    except ValueError as exc:
        pos = getattr(exc, "pos", None)
        if pos is None:
            raise ConfigError(None, "%s: invalid JSON: %s" % (path, exc))
        msg = exc.msg
    # 1-based line and column of the offset, counted as CPython's json does.
    raise ConfigError(None, "%s: invalid JSON at line %d column %d: %s"
                      % (path, text.count("\n", 0, pos) + 1, pos - text.rfind("\n", 0, pos), msg))


def dumps(config):
    """Canonical file text; indented where the interpreter's json can."""
    try:
        return json.dumps(config, indent=2, sort_keys=True) + "\n"
    except TypeError:  # MicroPython: no indent/sort_keys
        return json.dumps(config) + "\n"


def save(path, config):
    """Validate config and replace the file at path atomically; returns the saved dict."""
    config = validate(config)
    write_atomic(path, dumps(config).encode("utf-8"))
    return config


def write_atomic(path, data, opener=open):
    """Write data to path so that a cut at any moment leaves the old or the new file.

    The new content goes to path + ".tmp" in the same folder (rename is atomic only
    within one file system), is flushed and fsync'ed where the port has fsync, and
    is then renamed over the target. opener lets tests inject a failing file.
    """
    tmp = path + _TMP
    try:
        with opener(tmp, "wb") as f:
            f.write(data)
            f.flush()
            fsync = getattr(os, "fsync", None)
            if fsync is not None and hasattr(f, "fileno"):
                fsync(f.fileno())
        try:
            os.rename(tmp, path)  # POSIX and littlefs replace the target atomically
        except OSError:
            # FAT refuses to rename over an existing file: remove it first. A cut
            # in between leaves only the complete .tmp, which load() falls back to.
            os.remove(path)
            os.rename(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    # The rename itself is durable only once the folder is synced (POSIX).
    if not hasattr(os, "fsync") or not hasattr(os, "O_RDONLY"):
        return
    try:
        fd = os.open(path.rpartition("/")[0] or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

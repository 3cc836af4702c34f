"""SIP URIs, name-addr/addr-spec and Via values (RFC 3261 sections 19.1, 20.10, 20.42, 25.1).

API (text in, objects out; every malformed input raises SIPError(400)):
  parse_uri(text) -> Uri: .scheme .user .password .host .port (int|None) .params .headers
      (dicts, names lower-case, values str or None; quoted values keep their quotes) and
      .opaque (the part after "scheme:" for schemes other than sip/sips: tel, http, ...).
      str(uri) re-serializes. User and parameter text keeps its %HH escapes; unescape(text)
      decodes them. A repeated parameter: the first one counts.
  parse_name_addr(text) -> NameAddr: .display (str, unquoted), .uri (str), .params (dict,
      'tag' included); .tag shortcut; str() re-serializes.
  parse_via(text) -> Via: .transport .host .port .params ('branch', 'rport', 'received', ...;
      a parameter without value maps to None); .branch shortcut; str() re-serializes.
  new_tag(), new_branch() ("z9hG4bK" + random), new_call_id(host).
Code heap: unescape() and str() of Uri/NameAddr live in uri_text.py, imported on first use;
the character sets are bytes (bytes.strip(set) tests membership at C speed).
"""
from binascii import hexlify

from doorsip.compat import const, random_bytes
from doorsip.sip.errors import bad_request as _bad

# What a 400 names: lines of errors._TEXT (code heap: no string constant each).
_E_PARAM_LIST = const(0)
_E_PARAM_VALUE = const(1)
_E_QUOTED_PARAM = const(2)
_E_PARAM = const(3)
_E_UNBALANCED = const(4)  # "quoted string (unbalanced quote)"
_E_IPV6 = const(5)  # "URI IPv6 reference"; + 1: "Via sent-by IPv6 reference"
_E_HOST = const(7)  # "URI host"; + 1: "Via sent-by host"
_E_PORT = const(9)  # "URI port"; + 1: "Via sent-by port"
_E_SCHEME = const(11)
_E_URI_CHARS = const(12)
_E_URI = const(13)
_E_USER = const(14)
_E_HEADER = const(15)
_E_ADDRESS = const(16)
_E_NO_URI = const(17)  # "address (display name without <URI>)"
_E_DISPLAY = const(18)
_E_NO_GT = const(19)  # "address (no closing >)"
_E_NEEDS_BRACKETS = const(20)  # "address (URI needs <> here)"
_E_VIA = const(21)
_E_VIA_PROTOCOL = const(22)
_E_VIA_TRANSPORT = const(23)

# RFC 3261 25.1: token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~").
# Character sets as bytes: bytes.strip(set) leaves nothing when every byte belongs to the set,
# a C-speed membership test (message.py uses them too).
# Ordered so that slices are the smaller sets: _TOKEN[:62] alphanumerics, _TOKEN[:65] a URI
# scheme's characters (RFC 3261 25.1: ALPHA *(ALPHA / DIGIT / "+" / "-" / "." )). Written out
# whole, each set is one bytes object of code heap, not two (a piece and the concatenation).
_TOKEN = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.+!%*_`'~"
_HOST = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._"
_WS = " \t\r\n"
# Text is never indexed one character at a time here (text[i], for ch in text): MicroPython
# interns every 1-character string so made, for good, and hostile input could fill the heap
# with distinct characters. Slices, find and startswith do not.


def _only(text, table):
    """True if text is not empty and every character of it is one of the (ASCII) bytes in
    table; _only(text, _TOKEN): text is an RFC 3261 token."""
    try:
        return bool(text) and not text.encode().strip(table)
    except UnicodeError:  # lone surrogates (CPython)
        return False


def _has_ws(text):
    for ch in _WS:
        if ch in text:
            return True
    return False


def unescape(text):
    """Decode %HH escapes (RFC 3261 25.1 'escaped'); a lone '%' stays literal (uri_text.py)."""
    from doorsip.sip.uri_text import unescape
    return unescape(text)


def _parse_params(text, start):
    """Parse ';name[=value]' pairs from text[start:] (SEMI/EQUAL allow whitespace, values may
    be quoted strings). Returns a dict with lower-case names; empty names are an error."""
    params = {}
    n = len(text)
    i = start
    while i < n:
        # text[i] is ';'
        if not text.startswith(";", i):
            raise _bad(_E_PARAM_LIST)
        i += 1
        semi = text.find(";", i)
        quote = text.find('"', i)
        if quote >= 0 and (semi < 0 or quote < semi):
            # The value is a quoted string that may hold ';': skip to its closing quote.
            close = _quoted_end(text, quote)
            semi = text.find(";", close)
        if semi < 0:
            semi = n
        item = text[i:semi]
        eq = item.find("=")
        if eq < 0:
            name = item.strip()
            value = None
        else:
            name = item[:eq].strip()
            value = item[eq + 1:].strip()
            if not value:
                raise _bad(_E_PARAM_VALUE)
            if value.startswith('"'):
                if _quoted_end(value, 0) != len(value):
                    raise _bad(_E_QUOTED_PARAM)
            elif _has_ws(value):
                raise _bad(_E_PARAM_VALUE)
        if not name or _has_ws(name):
            raise _bad(_E_PARAM)
        name = name.lower()
        if name not in params:  # a repeated parameter: the first one counts, as for fast readers
            params[name] = value
        i = semi
    return params


def _quoted_end(text, start):
    """Index just past the quoted string opening at text[start] (quoted-pair aware)."""
    i = start + 1
    while True:
        quote = text.find('"', i)
        if quote < 0:
            raise _bad(_E_UNBALANCED)
        escape = text.find("\\", i)
        if escape < 0 or escape > quote:
            return quote + 1
        i = escape + 2  # a quoted-pair: the next character is taken as is


def _params_text(params, name):
    """';name[=value]...' in order, the parameter called name (if any) moved to the front."""
    out = []
    for key in params:
        value = params[key]
        text = ";" + key if value is None else ";" + key + "=" + value
        if key == name:
            out.insert(0, text)
        else:
            out.append(text)
    return "".join(out)


def _parse_hostport(text, via):
    """(host, port) from 'host[:port]'; IPv6 references lose their brackets. via: 0 in a
    URI, 1 in a Via sent-by (the errors name which)."""
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise _bad(_E_IPV6 + via)
        host = text[1:close]
        rest = text[close + 1:]
        if rest and not rest.startswith(":"):
            raise _bad(_E_HOST + via)
        port_text = rest[1:] if rest else None
        # The brackets' contents, loosely: alphanumerics, ':' and '.' (set built here: rare).
        if not host or not _only(host, _TOKEN[:62] + b":."):
            raise _bad(_E_HOST + via)
    else:
        colon = text.find(":")
        if colon < 0:
            host, port_text = text, None
        else:
            host, port_text = text[:colon], text[colon + 1:]
        if not host or not _only(host, _HOST):
            raise _bad(_E_HOST + via)
    port = None
    if port_text is not None:
        if not port_text.isdigit() or len(port_text) > 5:
            raise _bad(_E_PORT + via)
        port = int(port_text)
        if port > 65535:
            raise _bad(_E_PORT + via)
    return host, port


class Uri:
    """A parsed URI; sip/sips fully, other schemes kept opaque (RFC 3261 19.1.1)."""

    def __init__(self, scheme, user, password, host, port, params, headers, opaque):
        self.scheme = scheme
        self.user = user
        self.password = password
        self.host = host
        self.port = port
        self.params = params
        self.headers = headers
        self.opaque = opaque

    def __str__(self):
        # Uri and NameAddr text is needed by tests and tools, rarely by the station: its
        # code is loaded on first use (code heap).
        from doorsip.sip.uri_text import text_of
        return text_of(self)

    def __repr__(self):   # Uri, NameAddr and Via
        return "<%s %s>" % (type(self).__name__, self)

    def hostport(self):
        """'host' or 'host:port' as it should appear in a Request-URI or Via (Via.__str__
        and uri_text call it on a Via and a Uri: the one copy of this code)."""
        host = self.host
        if ":" in host:
            host = "[" + host + "]"
        return host if self.port is None else "%s:%d" % (host, self.port)


def parse_uri(text):
    """Parse a sip:/sips: URI (other schemes: .opaque); SIPError(400) if malformed."""
    text = text.strip()
    colon = text.find(":")
    if colon <= 0 or not text[:1].isalpha():
        raise _bad(_E_SCHEME)
    scheme = text[:colon].lower()
    if not _only(scheme, _TOKEN[:65]):
        raise _bad(_E_SCHEME)
    if _has_ws(text) or "<" in text or ">" in text:
        raise _bad(_E_URI_CHARS)
    rest = text[colon + 1:]
    if scheme != "sip" and scheme != "sips":
        if not rest:
            raise _bad(_E_URI)
        return Uri(scheme, None, None, None, None, {}, {}, rest)
    # userinfo ends at the first '@': '@' is neither a user nor a parameter character.
    at = rest.find("@")
    user = password = None
    if at >= 0:
        userinfo = rest[:at]
        rest = rest[at + 1:]
        ucolon = userinfo.find(":")
        if ucolon >= 0:
            user, password = userinfo[:ucolon], userinfo[ucolon + 1:]
        else:
            user = userinfo
        if not user:
            raise _bad(_E_USER)
    headers = {}
    q = rest.find("?")
    if q >= 0:
        for pair in rest[q + 1:].split("&"):
            eq = pair.find("=")
            if eq <= 0:
                raise _bad(_E_HEADER)
            headers[pair[:eq]] = pair[eq + 1:]
        rest = rest[:q]
    semi = rest.find(";")
    hostport = rest if semi < 0 else rest[:semi]
    params = {} if semi < 0 else _parse_params(rest, semi)
    host, port = _parse_hostport(hostport, 0)
    return Uri(scheme, user, password, host, port, params, headers, None)


class NameAddr:
    """From/To/Contact/Route value: display name, URI (str), header parameters."""

    def __init__(self, display, uri, params):
        self.display = display
        self.uri = uri
        self.params = params

    def __getattr__(self, name):
        # NameAddr.tag and Via.branch: live views of .params (one function for both classes).
        if name == "tag" or name == "branch":
            return self.params.get(name)
        raise AttributeError(name)

    __str__ = Uri.__str__
    __repr__ = Uri.__repr__


def parse_name_addr(text):
    """Parse name-addr or addr-spec with header parameters (RFC 3261 20.10, 25.1)."""
    s = text.strip()
    if not s:
        raise _bad(_E_ADDRESS)
    if s == "*":  # Contact: * (RFC 3261 10.2.2)
        return NameAddr("", "*", {})
    display = ""
    if s.startswith('"'):
        close = _quoted_end(s, 0)
        display = s[1:close - 1]
        if "\\" in display:
            # Quoted-pairs resolved (RFC 3261 25.1) into one bytearray, not a list of
            # characters: bounded memory for long hostile values.
            raw = display.encode()
            out = bytearray()
            i = 0
            n = len(raw)
            while i < n:
                c = raw[i]
                if c == 92 and i + 1 < n:
                    i += 1
                    c = raw[i]
                out.append(c)
                i += 1
            display = bytes(out).decode()
        lt = close
        while lt < len(s) and s[lt:lt + 1] in _WS:
            lt += 1
        if not s.startswith("<", lt):
            raise _bad(_E_NO_URI)
    else:
        lt = s.find("<")
        if lt >= 0:
            # Unquoted display name: *(token LWS) (RFC 3261 25.1).
            display = s[:lt].strip()
            for word in display.split():
                if not _only(word, _TOKEN):
                    raise _bad(_E_DISPLAY)
    if lt >= 0:
        gt = s.find(">", lt)
        if gt < 0:
            raise _bad(_E_NO_GT)
        uri = s[lt + 1:gt]
        rest = s[gt + 1:].strip()
        if rest and not rest.startswith(";"):
            raise _bad(_E_ADDRESS)
    else:
        # addr-spec: the first ';' starts header parameters, and '?' / ',' need <> (20.10).
        semi = s.find(";")
        uri = s if semi < 0 else s[:semi].strip()
        rest = "" if semi < 0 else s[semi:]
        if "?" in uri or "," in uri:
            raise _bad(_E_NEEDS_BRACKETS)
    if uri.find(":") <= 0 or not uri[:1].isalpha() or _has_ws(uri):
        raise _bad(_E_URI)
    params = _parse_params(rest, 0) if rest else {}
    return NameAddr(display, uri, params)


class Via:
    """One Via value (RFC 3261 20.42); .params names are lower-case."""

    def __init__(self, transport, host, port, params):
        self.transport = transport
        self.host = host
        self.port = port
        self.params = params

    __getattr__ = NameAddr.__getattr__  # .branch

    def __str__(self):
        return ("SIP/2.0/" + self.transport + " " + Uri.hostport(self)
                + _params_text(self.params, "branch"))

    __repr__ = Uri.__repr__


def parse_via(text):
    """Parse one via-parm: 'SIP / 2.0 / UDP host[:port];params' (SWS allowed around / : ; =)."""
    s = text.strip()
    s1 = s.find("/")
    s2 = s.find("/", s1 + 1) if s1 >= 0 else -1
    if s2 < 0:
        raise _bad(_E_VIA)
    if s[:s1].strip().upper() != "SIP" or s[s1 + 1:s2].strip() != "2.0":
        raise _bad(_E_VIA_PROTOCOL)
    rest = s[s2 + 1:].strip()
    parts = rest.split(None, 1)
    if len(parts) != 2 or not _only(parts[0], _TOKEN):
        raise _bad(_E_VIA_TRANSPORT)
    transport = parts[0].upper()
    sent = parts[1]
    semi = sent.find(";")
    sent_by = sent if semi < 0 else sent[:semi]
    # COLON = SWS ":" SWS: whitespace around the port separator is legal, nowhere else.
    close = sent_by.find("]")
    if close >= 0:
        sent_by = sent_by[:close + 1].strip() + "".join(sent_by[close + 1:].split())
    else:
        parts = sent_by.split(":")
        for i in range(len(parts)):  # a loop, not a list comprehension: code heap
            parts[i] = parts[i].strip()
        sent_by = ":".join(parts)
    host, port = _parse_hostport(sent_by, 1)
    params = _parse_params(sent, semi) if semi >= 0 else {}
    return Via(transport, host, port, params)


def new_tag():
    """A From/To tag with 64 random bits (RFC 3261 19.3 asks for at least 32)."""
    return hexlify(random_bytes(8)).decode()


def new_branch():
    """A branch id with the RFC 3261 magic cookie 'z9hG4bK' (8.1.1.7) and 64 random bits."""
    return "z9hG4bK" + new_tag()


def new_call_id(host):
    """A globally unique Call-ID: 96 random bits '@' host (RFC 3261 8.1.1.4)."""
    return hexlify(random_bytes(12)).decode() + "@" + host

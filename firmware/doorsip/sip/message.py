"""SIP message parsing and building (RFC 3261 sections 7, 8.2.6, 18.2.1, 20, 25; RFC 3581).

parse(data) -> Message, or raises SIPError (.status = the code to answer with: 400, 505 for an
unsupported version, 513 for an oversized datagram, 503 if memory ran out). No other exception
ever escapes parse, MemoryError included.

Memory: one split of the datagram gives the header lines (bytes, folded lines joined) and the
body (not copied when Content-Length matches); per line the parser keeps a small-int name code
(compact forms and case variants share one code). Values are decoded only when asked, except
the first Via, From, To, Call-ID and CSeq, which parse checks and keeps as str. At most 100
header lines and 8192 bytes (513 beyond; parse's max_size), so the work and the heap are bounded.
Eagerly checked: start line, header syntax, required headers (Via, From, To, Call-ID, CSeq, the
CSeq method equal to the request method), single-valued headers not repeated, every Via value,
From/To syntax, Content-Length framing for datagrams (18.3: a shorter body is a 400, extra
bytes are dropped, no Content-Length means the rest of the datagram). Plain values go through
C-speed fast paths; anything unusual through the full parsers of uri.py, so an accepted
message never raises from its accessors.

Message: .method (str; None for responses) .status (int; None for requests) .reason (str)
  .uri (str) .header(name) -> str|None (first value; long or compact name, any case)
  .headers(name) -> [str] (every value; list-valued headers split at commas outside quotes and
  <>; WWW-Authenticate, Authorization, Date, unknown headers ... are never split) .body (bytes)
  .call_id (str) .cseq -> (int, str) .via (top Via, parsed) .from_addr/.to_addr (NameAddr)
  .from_tag/.to_tag/.branch (str|None) .items() -> [(name, value)] .is_request()
  .stamp_received(host, port): RFC 3261 18.2.1 received= and RFC 3581 rport= on the top Via.
build_request(method, uri, headers, body=b"") -> bytes (headers: (name, value) str pairs;
  Content-Length added). build_response(request, status, reason=None, headers=(), body=b"",
  to_tag=None) -> bytes per RFC 3261 8.2.6.
"""
from doorsip.compat import const
from doorsip.sip.errors import SIPError, bad_request as _bad, text as _t
from doorsip.sip.uri import _HOST, _TOKEN, _only, parse_name_addr, parse_via

_MAX_MESSAGE = const(8192)  # bytes; larger datagrams get 513 (RFC 3261 21.5.14)
_MAX_LINES = const(100)  # header lines (513 above); a real message has 10-40
_MAX_COMMAS = const(200)  # commas in the header section (513 above); a real message has < 60

# Error texts: lines of errors._TEXT (code heap: no string constant each). What a 400 names:
_E_EMPTY_ELEMENT = const(24)
_E_NO_HEADERS = const(25)
_E_STRAY_EOL = const(26)  # "stray CR or LF"
_E_REQUEST_LINE = const(27)
_E_VERSION = const(28)  # "SIP version"
_E_STATUS = const(29)
_E_METHOD = const(30)
_E_REQUEST_URI = const(31)
_E_NO_COLON = const(32)
_E_HEADER_NAME = const(33)
_E_MISSING = const(34)  # "missing Via", + 1 .. + 4: From, To, Call-ID, CSeq
_E_REPEATED = const(39)
_E_CONTENT_LENGTH = const(40)
_E_SHORT_BODY = const(41)
_E_CSEQ = const(42)
_E_CSEQ_NUMBER = const(43)
_E_CSEQ_METHOD = const(44)
_E_EMPTY_CALL_ID = const(45)
# ... whole reasons:
_E_TOO_LARGE = const(46)  # "Message Too Large"; + 1: "... (too many header lines or list elements)"
_E_VERSION_505 = const(48)  # "Version Not Supported"
_E_MALFORMED = const(49)  # "Bad Request (malformed)"; + 1: "Service Unavailable (out of memory)"
# ... and ValueError texts:
_E_BAD_REQUEST_LINE = const(51)  # "bad method or Request-URI"
_E_LINE_BREAK = const(52)  # "line break in "

# Header codes: (id << 2) | flags; 0 = a header without flags, matched by name (unknown ones too).
_LIST = const(1)  # comma-separated list (RFC 3261 7.3.1): headers() splits it
_SINGLE = const(2)  # may appear once only
_VIA = const(4 | 1)
_FROM = const(8 | 2)
_TO = const(12 | 2)
_CALL_ID = const(16 | 2)
_CSEQ = const(20 | 2)
_CONTENT_LENGTH = const(24 | 2)
_CONTENT_TYPE = const(32 | 2)
_MAX_FORWARDS = const(36 | 2)

# Single bytes are searched for as ints (bytes.find(58) finds ":"; both interpreters take it):
# each distinct bytes constant costs ~80 B of code heap. Not `int in bytes` (MicroPython
# iterates for that: 10x slower). ":" 58, ";" 59, "<" 60, ">" 62, '"' 34, "?" 63, "\\" 92, LF 10.

# RFC 3261 25.1 token characters, and the sets the fast validators accept (bytes.strip(set)
# leaves nothing when every byte belongs to the set: a C-speed membership test).
# (Written out whole: one bytes object each, not a piece and the concatenation.) _TOKEN + ";=:[]":
_PARAMS = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.+!%*_`'~;=:[]"
# URI characters (RFC 3261 25.1: unreserved, reserved, escaped, IPv6 brackets).
_URI = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._!~*'()%;/?:@&=+$,[]"


# Header codes, code = (id << 2) | flags (_LIST 1: headers() splits it; _SINGLE 2: one only).
# Headers of no flags and no compact form need no entry: code 0, matched by name and never
# split, like unknown ones. The dict holds the usual spellings of the headers seen in most
# messages, so their lines are found as written (no lower() copy; flag-less ones map to 0:
# known, plain), and the compact forms of the headers every message has. Str keys are
# interned strings, so it costs the dict alone (parse decodes each line's name for the
# lookup: cheaper in heap than bytes keys, each a heap object).
_CODES = {
    "Via": _VIA, "From": _FROM, "To": _TO, "Call-ID": _CALL_ID, "Call-Id": _CALL_ID,
    "CSeq": _CSEQ, "Content-Length": _CONTENT_LENGTH, "Contact": 29, "Content-Type": _CONTENT_TYPE,
    "Max-Forwards": _MAX_FORWARDS, "Route": 41, "Record-Route": 45, "Allow": 49, "Supported": 53,
    "Require": 57, "Accept": 101, "User-Agent": 0, "Server": 0, "Authorization": 0,
    "WWW-Authenticate": 0, "Proxy-Authenticate": 0, "Proxy-Authorization": 0, "Expires": 0,
    "Date": 0, "via": _VIA, "v": _VIA, "from": _FROM, "f": _FROM, "to": _TO, "t": _TO,
    "call-id": _CALL_ID, "i": _CALL_ID, "cseq": _CSEQ, "l": _CONTENT_LENGTH, "m": 29,
    "c": _CONTENT_TYPE,
}
# Every other lower-case long name and compact form (RFC 3261 7.3.3 and the IANA registry):
# "\n<name>" entries in one string, the k-th name's code the k-th byte of _NAME_CODES. Read
# by _code() for the names the dict does not know (other spellings and rare headers: the slow
# path anyway), without allocating: one string and one bytes object instead of a dict entry
# and a key each.
_NAMES = ("\ncontent-length\ncontact\ncontent-type\nmax-forwards\nroute\nrecord-route"
          "\nallow\nsupported\nk\nrequire\nproxy-require\nunsupported\ncontent-encoding"
          "\ne\nsubject\ns\nevent\no\nallow-events\nu\nrefer-to\nr\nreferred-by\nb"
          "\nsession-expires\nx\nidentity\ny\naccept\naccept-encoding\naccept-language"
          "\ncontent-language\nwarning\ncall-info\nalert-info\nerror-info\nin-reply-to"
          "\npath\nservice-route\np-asserted-identity\naccept-contact\na\nreject-contact"
          "\nj\nrequest-disposition\nd\n")
# Codes: content-length 26, contact 29, content-type 34, max-forwards 38, route 41,
# record-route 45, allow 49, supported 53, k 53, require 57, proxy-require 61, unsupported 65,
# content-encoding 69, e 69, subject 72, s 72, event 76, o 76, allow-events 81, u 81, refer-to
# 84, r 84, referred-by 88, b 88, session-expires 92, x 92, identity 96, y 96, accept 101,
# accept-encoding 105, accept-language 109, content-language 113, warning 117, call-info 121,
# alert-info 125, error-info 129, in-reply-to 133, path 137, service-route 141,
# p-asserted-identity 145, accept-contact 149, a 149, reject-contact 153, j 153,
# request-disposition 157, d 157
_NAME_CODES = (b"\x1a\x1d\x22\x26\x29\x2d\x31\x35\x35\x39\x3d\x41\x45\x45\x48\x48"
               b"\x4c\x4c\x51\x51\x54\x54\x58\x58\x5c\x5c\x60\x60\x65\x69\x6d\x71"
               b"\x75\x79\x7d\x81\x85\x89\x8d\x91\x95\x95\x99\x99\x9d\x9d")


def _code(name):
    """Header code of a lower-case name (str): _CODES, else _NAMES, else 0 (plain)."""
    code = _CODES.get(name)
    if code is not None:
        return code
    if "\n" in name:
        return 0
    i = _NAMES.find(name)
    n = len(name)
    while i > 0:
        if _NAMES.startswith("\n", i - 1) and _NAMES.startswith("\n", i + n):
            return _NAME_CODES[_NAMES.count("\n", 0, i) - 1]
        i = _NAMES.find(name, i + 1)
    return 0


# Out of memory while parsing: raised preallocated if even building the error fails.
_NO_MEMORY = SIPError(503, _t(_E_MALFORMED + 1))


class Message:
    """A parsed SIP request or response; header values are decoded on demand. The parsed
    fields .via .branch .from_addr .to_addr .from_tag .to_tag come from __getattr__ (one
    method instead of six properties: code heap)."""

    method = None
    status = None
    reason = ""
    uri = ""
    cseq = None
    call_id = ""
    body = b""
    _via = None  # parsed top Via, set with .via on first use
    _from = None  # NameAddr, parsed on first use (or by parse when the fast check fails)
    _to = None

    # -- header access -------------------------------------------------------------------
    def _slots(self, name):
        """Line numbers of the header fields called name (any case, long or compact)."""
        if not isinstance(name, str):
            name = _text(name)
        code = _CODES.get(name)
        if not code:  # None, or 0: a usual spelling of a flag-less header, matched by name
            name = name.lower()
            code = _code(name)
        codes = self._codes
        out = []
        if code not in codes:
            return out, code
        lines = self._lines
        if not code:
            key = name.encode()
            for i in range(len(codes)):
                line = lines[i]
                if codes[i] == 0 and line[:line.find(58)].rstrip(b" \t").lower() == key:
                    out.append(i)
            return out, 0
        i = -1
        for _ in range(codes.count(code)):
            i = codes.index(code, i + 1)
            out.append(i)
        return out, code

    def header(self, name):
        """First value of header name (str), None if absent."""
        # The fast path is for str names; a bytes name (also allowed) would be
        # compared with the str keys (a MicroPython warning) and goes the long way.
        if type(name) is str:
            text = self._first.get(_CODES.get(name))
            if text is not None:
                return text
        slots, code = self._slots(name)
        if not slots:
            return None
        if code in self._first:  # a compact or other spelling of Via/From/To/Call-ID/CSeq
            return self._first[code]
        line = self._lines[slots[0]]
        value = line[line.find(58) + 1:].strip()
        if code & _LIST and value:
            return _text(_split_list(value, False)[0])
        return _text(value)

    def headers(self, name):
        """Every value of header name (str list); list-valued headers split at commas."""
        slots, code = self._slots(name)
        out = []
        for i in slots:
            line = self._lines[i]
            value = line[line.find(58) + 1:].strip()
            if code & _LIST:
                for part in _split_list(value, False):
                    out.append(_text(part))
            else:
                out.append(_text(value))
        if code == _VIA and out:
            out[0] = self._first[_VIA]  # reflects stamp_received()
        return out

    def items(self):
        """[(name as received, value)] for every header field, in order, values unsplit."""
        out = []
        for line in self._lines:  # a loop, not a list comprehension: code heap
            colon = line.find(58)
            out.append((_text(line[:colon].rstrip(b" \t")), _text(line[colon + 1:].strip())))
        return out

    def __getattr__(self, name):
        # Computed on first use, then kept as plain attributes (the layers above read them
        # several times): .via (top Via, uri.Via; stamp_received() updates it in place),
        # .from_addr/.to_addr (NameAddr), and .branch/.from_tag/.to_tag (str or None), the
        # three read together, without the full parsers when written plainly.
        if name == "via":
            value = self._via = parse_via(self._first[_VIA])
        elif name == "from_addr" or name == "to_addr":
            code = _FROM if name[0] == "f" else _TO
            value = self._from if code == _FROM else self._to
            if value is None:
                value = parse_name_addr(self._first[code])
                if code == _FROM:
                    self._from = value
                else:
                    self._to = value
        elif name == "branch" or name == "from_tag" or name == "to_tag":
            first = self._first
            value = False
            if self._via is None:
                value = _param(first[_VIA], ";branch=", 0)
            self.branch = self.via.params.get("branch") if value is False else value
            for code in (_FROM, _TO):
                address = self._from if code == _FROM else self._to
                value = False
                if address is None:
                    # Header parameters follow the closing '>' (or the bare addr-spec, 20.10).
                    text = first[code]
                    value = _param(text, ";tag=", text.rfind(">") + 1)
                    if value is False:
                        address = self.from_addr if code == _FROM else self.to_addr
                if value is False:
                    value = address.params.get("tag")
                if code == _FROM:
                    self.from_tag = value
                else:
                    self.to_tag = value
            return getattr(self, name)
        else:
            raise AttributeError(name)
        setattr(self, name, value)
        return value

    def is_request(self):
        return self.method is not None

    def stamp_received(self, host, port):
        """Record the packet source on the top Via (RFC 3261 18.2.1, RFC 3581 section 4):
        received= when the sent-by host differs or rport was asked for, rport=port if empty."""
        via = self.via
        params = via.params
        if "rport" in params and params["rport"] is None:
            params["rport"] = str(port)
            params["received"] = host
        elif via.host != host:
            params["received"] = host
        else:
            return
        self._first[_VIA] = str(via)

    def __repr__(self):
        return "<Message %s %s>" % (self.method or self.status, self.uri or self.reason)


def _param(value, key, start):
    """Fast read of ';name=value' written plainly (no whitespace, exact case) in a header
    value (str): the parameter's value, None if certainly absent, False if the full parser
    must decide."""
    i = value.find(key, start)
    seen = value.lower().count(key[1:-1])
    if i < 0 or seen != 1 or value.find('"', i) >= 0:
        # Absent for sure, or spelled otherwise / repeated / in the URI / quoted: ask the parser.
        return None if seen == 0 else False
    i += len(key)
    end = value.find(";", i)
    if end < 0:
        end = len(value)
    return value[i:end].strip()


def _text(value):
    """bytes -> str; bytes that are not UTF-8 become '?' instead of raising."""
    try:
        return value.decode()
    except UnicodeError:
        out = bytearray(value)
        for i in range(len(out)):
            if out[i] > 127:
                out[i] = 63
        return out.decode()


def _split_list(value, check):
    """Split a header value at commas outside quoted strings and <...> (RFC 3261 7.3.1);
    empty elements are dropped, or rejected when check is true."""
    if 44 not in value:
        return [value] if value else []
    out = []
    start = 0
    depth = 0
    quoted = False
    i = 0
    n = len(value)
    while i < n:
        c = value[i]
        if quoted:
            if c == 92:  # backslash: quoted-pair
                i += 1
            elif c == 34:
                quoted = False
        elif c == 34:
            quoted = True
        elif c == 60:
            depth += 1
        elif c == 62 and depth:
            depth -= 1
        elif c == 44 and not depth:
            part = value[start:i].strip()
            if part:
                out.append(part)
            elif check:
                raise _bad(_E_EMPTY_ELEMENT)
            start = i + 1
        i += 1
    part = value[start:].strip()
    if part:
        out.append(part)
    elif check:
        raise _bad(_E_EMPTY_ELEMENT)
    return out


def parse(data, max_size=_MAX_MESSAGE):
    """Parse one datagram into a Message; SIPError is the only exception it raises."""
    try:
        return _parse(data, max_size)
    except SIPError:
        raise
    except MemoryError:
        status = 503
    except Exception:
        # A defect in this parser must still surface as a clean rejection.
        status = 400
    # Built outside the except clause so the failed parse's objects are already unreachable.
    try:
        error = SIPError(status, _t(_E_MALFORMED if status == 400 else _E_MALFORMED + 1))
    except MemoryError:
        error = _NO_MEMORY
    raise error


def _parse(data, max_size):
    if not isinstance(data, bytes):
        data = bytes(data)
    n = len(data)
    if n > max_size:
        raise SIPError(513, _t(_E_TOO_LARGE))
    # Stray CRLF before the start line is skipped (RFC 3261 7.5).
    pos = 0
    while pos < n and (data[pos] == 13 or data[pos] == 10):
        pos += 1
    nl = data.find(10, pos)
    if nl < 0:
        raise _bad(_E_NO_HEADERS)
    # Lines end in CRLF (RFC 3261 7); a bare-LF sender is tolerated when consistent.
    eol = b"\r\n" if data[nl - 1] == 13 else b"\n"
    blank = data.find(eol + eol, pos)
    end = n if blank < 0 else blank
    if blank < 0:  # no empty line: the headers run to the end of the datagram
        while end > pos and (data[end - 1] == 10 or data[end - 1] == 13):
            end -= 1
    # Counted in place (no copy of the header block): CR only inside CRLF, LF only after CR.
    crlf = data.count(b"\r\n", pos, end)
    lf = data.count(b"\n", pos, end)
    if data.count(b"\r", pos, end) != crlf or (lf != crlf if len(eol) == 2 else crlf):
        raise _bad(_E_STRAY_EOL)
    if lf >= _MAX_LINES or data.count(b",", pos, end) > _MAX_COMMAS:
        # Bounds the objects parse and headers() can create (list elements), not just bytes.
        raise SIPError(513, _t(_E_TOO_LARGE + 1))
    if blank >= 0:
        # One split gives the header lines, the empty line and the rest of the datagram, so the
        # header block is copied once and the body not at all when Content-Length fits it.
        lines = (data[pos:] if pos else data).split(eol, lf + 2)
        rest = lines.pop()
        lines.pop()
    else:
        lines = data[pos:end].split(eol)
        rest = b""
    msg = Message()

    # Request-Line or Status-Line (RFC 3261 7.1, 7.2), single SP separators.
    line = lines.pop(0)
    response = line.startswith(b"SIP/")
    parts = line.split(b" ", 2) if response else line.split(b" ")
    if not response and len(parts) != 3:
        raise _bad(_E_REQUEST_LINE)
    version = parts[0] if response else parts[2]
    if version != b"SIP/2.0" and version.upper() != b"SIP/2.0":
        if version.upper().startswith(b"SIP/"):
            raise SIPError(505, _t(_E_VERSION_505))
        raise _bad(_E_VERSION)
    if response:
        code = parts[1] if len(parts) > 1 else b""
        if len(code) != 3 or not code.isdigit() or code[0] < 49 or code[0] > 54:
            raise _bad(_E_STATUS)
        msg.status = int(code)
        if len(parts) == 3:
            msg.reason = _text(parts[2])
    else:
        method, uri, version = parts
        if not method or method.strip(_TOKEN):
            raise _bad(_E_METHOD)
        # The Request-URI is a bare URI: no <>, no whitespace, a scheme (RFC 3261 7.1, 19.1).
        if uri.find(58) <= 0 or uri.find(60) >= 0 or uri.find(62) >= 0 or uri.find(9) >= 0:
            raise _bad(_E_REQUEST_URI)
        msg.method = method.decode()
        msg.uri = _text(uri)

    # One code per header line, looked up as written (-1: not found). Second look at the
    # others: other spellings (case, whitespace before the colon), unknown headers (code 0),
    # malformed lines (400) and folded ones.
    get = _CODES.get
    codes = [get(line[:line.find(58)].decode(), -1) for line in lines]
    i = -1
    for _ in range(codes.count(-1)):
        i = codes.index(-1, i + 1)
        line = lines[i]
        if line and (line[0] == 32 or line[0] == 9):  # SP or HTAB
            # Folded lines (RFC 3261 7.3.1): CRLF plus whitespace is one SP. Rare: unfold and
            # parse the result (it has no continuation line left).
            head = data[pos:end].replace(eol + b" ", b" ").replace(eol + b" \t"[1:], b" ")
            return _parse(head + eol + eol + rest if blank >= 0 else head, max_size)
        colon = line.find(58)
        if colon < 0:
            raise _bad(_E_NO_COLON)
        name = line[:colon].rstrip(b" \t")
        if not name or name.strip(_TOKEN):
            raise _bad(_E_HEADER_NAME)
        codes[i] = _code(name.lower().decode())
    msg._lines = lines
    msg._codes = codes

    # Required headers (RFC 3261 8.1.1), single-valued ones not repeated (20, 25.1).
    count = codes.count
    if not (_VIA in codes and count(_FROM) == 1 and count(_TO) == 1 and count(_CALL_ID) == 1
            and count(_CSEQ) == 1 and count(_CONTENT_LENGTH) < 2 and count(_MAX_FORWARDS) < 2
            and count(_CONTENT_TYPE) < 2):
        # The first one missing, in the order Via, From, To, Call-ID, CSeq: codes
        # (k + 1) << 2 | flags, _LIST for Via, _SINGLE for the others.
        for k in range(5):
            if ((k + 1) << 2 | (_SINGLE if k else _LIST)) not in codes:
                raise _bad(_E_MISSING + k)
        raise _bad(_E_REPEATED)
    index = codes.index

    # Content-Length framing for datagrams (RFC 3261 18.3, 20.14): a shorter body is an error,
    # extra bytes are dropped, no Content-Length means the rest of the datagram.
    if _CONTENT_LENGTH in codes:
        line = lines[index(_CONTENT_LENGTH)]
        value = line[line.find(58) + 1:].strip()
        if not value.isdigit() or len(value) > 5:
            raise _bad(_E_CONTENT_LENGTH)
        length = int(value)
        if length > len(rest):
            raise _bad(_E_SHORT_BODY)
        if length < len(rest):
            rest = rest[:length]
    if rest:
        msg.body = rest

    # CSeq = 1*DIGIT LWS Method (RFC 3261 20.16): a 32-bit number, method equal to the request's.
    line = lines[index(_CSEQ)]
    value = line[line.find(58) + 1:].strip()
    parts = value.split()
    if len(parts) != 2 or not parts[0].isdigit() or len(parts[0]) > 10 or parts[1].strip(_TOKEN):
        raise _bad(_E_CSEQ)
    number = int(parts[0])
    if number > 0xFFFFFFFF:
        raise _bad(_E_CSEQ_NUMBER)
    method = parts[1].decode()
    if msg.method is not None and method != msg.method:
        raise _bad(_E_CSEQ_METHOD)
    msg.cseq = (number, method)

    # First values of the headers every layer reads, decoded once.
    first = {_CSEQ: _text(value)}
    msg._first = first
    line = lines[index(_CALL_ID)]
    value = line[line.find(58) + 1:].strip()
    if not value:
        raise _bad(_E_EMPTY_CALL_ID)
    msg.call_id = first[_CALL_ID] = _text(value)
    line = lines[index(_FROM)]
    value = line[line.find(58) + 1:].strip()
    first[_FROM] = _check_address(msg, value, _FROM)
    line = lines[index(_TO)]
    value = line[line.find(58) + 1:].strip()
    first[_TO] = _check_address(msg, value, _TO)
    # Every Via value must parse: responses travel back along them (RFC 3261 18.2.2).
    i = -1
    for _ in range(count(_VIA)):  # counted: a ValueError per parse would cost more
        i = index(_VIA, i + 1)
        line = lines[i]
        value = line[line.find(58) + 1:].strip()
        if b"," in value or value.find(34) >= 0:
            parts = _split_list(value, True)
            for part in parts:
                _check_via(part)
            value = parts[0]
        else:
            _check_via(value)
        if _VIA not in first:
            first[_VIA] = _text(value)
    return msg


def _params_ok(value, start):
    """Fast check of ';name[=value]...' written plainly from value[start:];
    False = let the full parser decide."""
    if start >= len(value):
        return True
    params = value[start:]
    return not (params[0] != 59 or params.strip(_PARAMS) or b";;" in params or b";=" in params or b"=;" in params
                or b"==" in params or params[-1] == 59 or params[-1] == 61)


def _check_via(value):
    """Validate one via-parm: a fast path for 'SIP/2.0/UDP host:port;params', else uri.parse_via."""
    if value.startswith(b"SIP/2.0/"):
        semi = value.find(59)
        if semi < 0:
            semi = len(value)
        transport, space, hostport = value[8:semi].partition(b" ")
        colon = hostport.find(58)
        host = hostport if colon < 0 else hostport[:colon]
        if (space and host and not transport.strip(_TOKEN) and not host.strip(_HOST)
                and (colon < 0 or (hostport[colon + 1:].isdigit() and len(hostport) - colon < 7
                                   and int(hostport[colon + 1:]) < 65536))
                and _params_ok(value, semi)):
            return
    parse_via(_text(value))  # raises SIPError(400) if malformed


def _check_address(msg, value, code):
    """Validate a From/To value (a fast path for plain name-addr/addr-spec, else
    uri.parse_name_addr); returns it decoded."""
    lt = value.find(60)
    if lt >= 0:
        gt = value.find(62, lt)
        display = value[:lt].strip() if lt else b""
        if display and display[0] == 34:
            plain = (len(display) > 1 and display[-1] == 34
                     and display.find(34, 1, len(display) - 1) < 0 and display.find(92) < 0)
        else:
            # The set is built here: a module constant would cost code heap for a rare case.
            plain = not display.strip(_TOKEN + b" \t")
        uri = value[lt + 1:gt]
        rest = gt + 1
    else:
        gt = 0
        rest = value.find(59)
        if rest < 0:
            rest = len(value)
        plain = value.find(34) < 0 and b"," not in value and value.find(63) < 0
        uri = value[:rest]
    if (plain and gt >= 0 and uri[:1].isalpha() and uri.find(58) > 0 and not uri.strip(_URI)
            and _params_ok(value, rest)):
        return _text(value)
    text = _text(value)
    address = parse_name_addr(text)  # raises SIPError(400) if malformed
    if code == _FROM:
        msg._from = address
    else:
        msg._to = address
    return text


# -- building ---------------------------------------------------------------------------------

# RFC 3261 21 reason phrases, "\n<code><phrase>" entries in one bytes object (no dict).
_REASONS = (  # str: reason_phrase slices it, and its "\n%d" is a qstr (b"\n%d" a heap object)
    "\n100Trying\n180Ringing\n181Call Is Being Forwarded\n182Queued\n183Session Progress\n"
    "200OK\n202Accepted\n300Multiple Choices\n301Moved Permanently\n"
    "302Moved Temporarily\n400Bad Request\n401Unauthorized\n403Forbidden\n404Not Found\n"
    "405Method Not Allowed\n406Not Acceptable\n407Proxy Authentication Required\n"
    "408Request Timeout\n410Gone\n413Request Entity Too Large\n"
    "415Unsupported Media Type\n416Unsupported URI Scheme\n420Bad Extension\n"
    "421Extension Required\n423Interval Too Brief\n480Temporarily Unavailable\n"
    "481Call/Transaction Does Not Exist\n482Loop Detected\n483Too Many Hops\n"
    "484Address Incomplete\n486Busy Here\n487Request Terminated\n488Not Acceptable Here\n"
    "491Request Pending\n500Server Internal Error\n501Not Implemented\n"
    "503Service Unavailable\n504Server Time-out\n505Version Not Supported\n"
    "513Message Too Large\n600Busy Everywhere\n603Decline\n604Does Not Exist Anywhere\n"
    "606Not Acceptable\n"
)


def reason_phrase(status):
    """The RFC 3261 21 reason phrase for status ('' if unknown)."""
    i = _REASONS.find("\n%d" % status) if 99 < status < 1000 else -1
    if i < 0:
        return ""
    i += 4
    return _REASONS[i:_REASONS.find("\n", i)]


def _finish(out, headers, body):
    """Append the (name, value) header fields and Content-Length (computed from the body, any
    given one is dropped) to out, then the body: the datagram as bytes."""
    for name, value in headers:
        if _code(name.lower()) == _CONTENT_LENGTH:  # "content-length" or "l" in any case
            continue
        text = name + ": " + value
        # A CR or LF inside a name or value would inject header lines.
        if "\r" in text or "\n" in text:
            raise ValueError(_t(_E_LINE_BREAK) + name)
        out.append(text + "\r\n")
    out.append("Content-Length: %d\r\n\r\n" % len(body))
    return "".join(out).encode() + body


def build_request(method, uri, headers, body=b""):
    """Serialize a request; headers are (name, value) str pairs, Content-Length is added."""
    if not _only(method, _TOKEN) or " " in uri or "\r" in uri or "\n" in uri:
        raise ValueError(_t(_E_BAD_REQUEST_LINE))
    return _finish([method, " ", uri, " SIP/2.0\r\n"], headers, body)


def build_response(request, status, reason=None, headers=(), body=b"", to_tag=None):
    """Serialize a response to request (RFC 3261 8.2.6): Via (all, stamped), From, To (tagged
    with to_tag if it had none), Call-ID, CSeq copied; Timestamp echoed on 100 (8.2.6.1)."""
    if reason is None:
        reason = reason_phrase(status) or "Unknown"
    out = ["SIP/2.0 %d %s\r\n" % (status, reason)]
    for via in request.headers("via"):
        out.append("Via: " + via + "\r\n")
    out.append("From: " + request.header("from") + "\r\n")
    to = request.header("to")
    if to_tag and request.to_tag is None:
        to += ";tag=" + to_tag
    out.append("To: " + to + "\r\n")
    out.append("Call-ID: " + request.header("call-id") + "\r\n")
    out.append("CSeq: %d %s\r\n" % request.cseq)
    if status == 100:
        stamp = request.header("timestamp")
        if stamp is not None:
            out.append("Timestamp: " + stamp + "\r\n")
    return _finish(out, headers, body)

"""SIP message parsing and building (RFC 3261 sections 7, 8.2.6, 18.2.1, 20, 25; RFC 3581).

parse(data) -> Message, or raises SIPError (.status = the code to answer with: 400, 505 for an
unsupported version, 513 for an oversized datagram, 503 if memory ran out). No other exception
ever escapes parse, MemoryError included.

The datagram stays one bytes object; parsing records, per header field, four 16-bit numbers
(name code, line start, colon, value end) in an array and decodes values only when asked.
Eagerly checked: start line, header syntax, required headers (Via, From, To, Call-ID, CSeq, the
CSeq method equal to the request method), single-valued headers not repeated, every Via value,
From/To syntax, Content-Length framing for datagrams (18.3: a shorter body is a 400, extra
bytes are dropped, no Content-Length means the rest of the datagram).

Message: .method (str; None for responses) .status (int; None for requests) .reason (str)
  .uri (str) .header(name) -> str|None (first value; long or compact name, any case)
  .headers(name) -> [str] (every value; list-valued headers split at commas outside quotes and
  <>; WWW-Authenticate, Authorization, Date, unknown headers ... are never split) .body (bytes)
  .call_id (str) .cseq -> (int, str) .via (top Via, parsed) .from_addr/.to_addr (NameAddr)
  .from_tag/.to_tag (str|None) .items() -> [(name, value)] .raw (bytes)
  .stamp_received(host, port): RFC 3261 18.2.1 received= and RFC 3581 rport= on the top Via.
build_request(method, uri, headers, body=b"") -> bytes (headers: (name, value) str pairs;
  Content-Length added). build_response(request, status, reason=None, headers=(), body=b"",
  to_tag=None) -> bytes per RFC 3261 8.2.6.
"""
from array import array

from doorsip.compat import const
from doorsip.sip.errors import SIPError
from doorsip.sip.uri import is_token, parse_name_addr, parse_via

MAX_MESSAGE = const(8192)  # bytes; larger datagrams get 513 (RFC 3261 21.5.14)
_MAX_HEADERS = const(160)  # header fields; a real message has 10-30

# Header codes: (id << 2) | flags. Ids 1..9 are tracked while parsing (required/single).
_LIST = const(1)  # comma-separated list (RFC 3261 7.3.1): headers() splits it
_SINGLE = const(2)  # may appear once only
_TRACKED = const(40)  # codes below this have a presence bit in the parse mask
_VIA = const(4 | 1)
_FROM = const(8 | 2)
_TO = const(12 | 2)
_CALL_ID = const(16 | 2)
_CSEQ = const(20 | 2)
_CONTENT_LENGTH = const(24 | 2)
_CONTACT = const(28 | 1)
_CONTENT_TYPE = const(32 | 2)
_MAX_FORWARDS = const(36 | 2)
_REQUIRED = const((1 << 1) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 5))


def _header_table():
    # Long name, compact form (RFC 3261 7.3.3 and the IANA registry), flags. Unknown headers
    # get code 0 and are looked up by name; they are never split (their grammar is unknown).
    table = {}
    code = 0
    for entry in (
        "via v 1", "from f 2", "to t 2", "call-id i 2", "cseq - 2", "content-length l 2",
        "contact m 1", "content-type c 2", "max-forwards - 2", "route - 1", "record-route - 1",
        "www-authenticate - 0", "authorization - 0", "proxy-authenticate - 0",
        "proxy-authorization - 0", "allow - 1", "supported k 1", "require - 1",
        "proxy-require - 1", "unsupported - 1", "expires - 0", "content-encoding e 1",
        "subject s 0", "event o 0", "allow-events u 1", "refer-to r 0", "referred-by b 0",
        "session-expires x 0", "identity y 0", "accept - 1", "accept-encoding - 1",
        "accept-language - 1", "content-language - 1", "date - 0", "user-agent - 0",
        "server - 0", "min-expires - 0", "timestamp - 0", "warning - 1", "call-info - 1",
        "alert-info - 1", "error-info - 1", "in-reply-to - 1", "content-disposition - 0",
        "retry-after - 0", "organization - 0", "priority - 0", "reply-to - 0",
        "mime-version - 0", "path - 1", "service-route - 1", "p-asserted-identity - 1",
        "accept-contact a 1", "reject-contact j 1", "request-disposition d 1",
    ):
        name, compact, flags = entry.split()
        code += 4
        value = code | int(flags)
        table[name.encode()] = value
        if compact != "-":
            table[compact.encode()] = value
            table[compact.upper().encode()] = value
    # The usual spellings too, so most lookups skip the lower() copy.
    for name in ("Via", "From", "To", "Call-ID", "CSeq", "Content-Length", "Contact",
                 "Content-Type", "Max-Forwards", "Route", "Record-Route", "Allow", "Supported",
                 "Expires", "User-Agent", "WWW-Authenticate", "Authorization", "Server"):
        table[name.encode()] = table[name.lower().encode()]
    return table


_NAMES = _header_table()
_LOWER_NAMES = {}  # code -> canonical long name, built on first use by items()

# Out of memory while parsing: raised preallocated, since building an exception then may fail.
_NO_MEMORY = SIPError(503, "Service Unavailable (out of memory)")


class Message:
    """A parsed SIP request or response; header values are decoded on demand."""

    def __init__(self, data):
        self.raw = data
        self.method = None
        self.status = None
        self.reason = ""
        self.uri = ""
        self.cseq = None
        self._index = array("H")
        self._body_start = 0
        self._body_end = 0
        self.via = None
        self.from_addr = None
        self.to_addr = None
        self._top_via = None  # text replacing the first Via value after stamp_received()

    # -- header access -------------------------------------------------------------------
    def _value(self, i):
        """Raw value bytes of the header field at index slot i (unfolded, trimmed)."""
        index = self._index
        value = self.raw[index[i + 2] + 1:index[i + 3]]
        if 10 in value:
            # Folded line (RFC 3261 7.3.1): CRLF + whitespace is equivalent to one SP.
            value = value.replace(b"\r\n", b" ").replace(b"\n", b" ")
        return value.strip()

    def _slots(self, name):
        """Index slots of the header fields called name (any case, long or compact)."""
        key = name.encode() if isinstance(name, str) else name
        code = _NAMES.get(key)
        if code is None:
            key = key.lower()
            code = _NAMES.get(key, 0)
        index = self._index
        raw = self.raw
        out = []
        for i in range(0, len(index), 4):
            if index[i] == code:
                if code or raw[index[i + 1]:index[i + 2]].strip().lower() == key:
                    out.append(i)
        return out, code

    def header(self, name):
        """First value of header name (str), None if absent."""
        slots, code = self._slots(name)
        if not slots:
            return None
        if code == _VIA and self._top_via is not None:
            return self._top_via
        value = self._value(slots[0])
        if code & _LIST:
            return _text(_split_list(value)[0]) if value else ""
        return _text(value)

    def headers(self, name):
        """Every value of header name (str list); list-valued headers split at commas."""
        slots, code = self._slots(name)
        out = []
        for i in slots:
            value = self._value(i)
            if code & _LIST:
                for part in _split_list(value):
                    out.append(_text(part))
            else:
                out.append(_text(value))
        if code == _VIA and out and self._top_via is not None:
            out[0] = self._top_via
        return out

    def items(self):
        """[(name as received, value)] for every header field, in order, values unsplit."""
        index = self._index
        raw = self.raw
        out = []
        for i in range(0, len(index), 4):
            name = _text(raw[index[i + 1]:index[i + 2]].strip())
            out.append((name, _text(self._value(i))))
        return out

    @property
    def body(self):
        return self.raw[self._body_start:self._body_end]

    @property
    def call_id(self):
        return self.header("call-id")

    @property
    def from_tag(self):
        return self.from_addr.params.get("tag")

    @property
    def to_tag(self):
        return self.to_addr.params.get("tag")

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
        self._top_via = str(via)

    def __repr__(self):
        if self.method is not None:
            return "<Message %s %s>" % (self.method, self.uri)
        return "<Message %d %s>" % (self.status, self.reason)


def _text(value):
    """bytes -> str; bytes that are not UTF-8 become '?' instead of raising."""
    try:
        return value.decode()
    except UnicodeError:
        return "".join(chr(c) if c < 128 else "?" for c in value)


def _split_list(value):
    """Split a header value at commas outside quoted strings and <...> (RFC 3261 7.3.1);
    empty elements are dropped."""
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
            start = i + 1
        i += 1
    part = value[start:].strip()
    if part:
        out.append(part)
    return out


def parse(data, max_size=MAX_MESSAGE):
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
        error = SIPError(status, "Bad Request (malformed)" if status == 400 else
                         "Service Unavailable (out of memory)")
    except MemoryError:
        error = _NO_MEMORY
    raise error


def _parse(data, max_size):
    if not isinstance(data, bytes):
        data = bytes(data)
    n = len(data)
    if n > max_size or n > 65535:
        raise SIPError(513, "Message Too Large")
    # Stream keep-alives and stray CRLF before the start line are skipped (RFC 3261 7.5).
    pos = 0
    while pos < n and (data[pos] == 13 or data[pos] == 10):
        pos += 1
    nl = data.find(b"\n", pos)
    if nl < 0:
        raise SIPError(400, "Bad Request (no header section)")
    end = nl - 1 if data[nl - 1] == 13 else nl
    msg = Message(data)
    _parse_start_line(msg, data[pos:end])

    # Header section: one pass recording (code, start, colon, end) per field.
    index = msg._index
    append = index.append
    names = _NAMES
    find = data.find
    seen = 0
    body_start = n
    pos = nl + 1
    while pos < n:
        nl = find(b"\n", pos)
        if nl < 0:
            nl = n
        end = nl
        if data[end - 1] == 13 and end > pos:
            end -= 1
        if end == pos:
            body_start = nl + 1
            break
        c = data[pos]
        if c == 32 or c == 9:
            # Continuation line (RFC 3261 7.3.1): extends the previous field's value.
            if not index:
                raise SIPError(400, "Bad Request (folded first line)")
            index[len(index) - 1] = end
            pos = nl + 1
            continue
        colon = find(b":", pos, end)
        if colon < 0:
            raise SIPError(400, "Bad Request (header line without colon)")
        name = data[pos:colon]
        code = names.get(name)
        if code is None:
            name = name.rstrip(b" \t")
            if not name or b" " in name or b"\t" in name:
                raise SIPError(400, "Bad Request (header name)")
            code = names.get(name.lower(), 0)
        if code < _TRACKED and code:
            bit = 1 << (code >> 2)
            if seen & bit and code & _SINGLE:
                raise SIPError(400, "Bad Request (repeated %s)" % _text(name))
            seen |= bit
        if len(index) >= 4 * _MAX_HEADERS:
            raise SIPError(513, "Message Too Large (too many headers)")
        append(code)
        append(pos)
        append(colon)
        append(end)
        pos = nl + 1

    if seen & _REQUIRED != _REQUIRED:
        for bit, what in ((1 << 1, "Via"), (1 << 2, "From"), (1 << 3, "To"),
                          (1 << 4, "Call-ID"), (1 << 5, "CSeq")):
            if not seen & bit:
                raise SIPError(400, "Bad Request (missing %s)" % what)

    # Content-Length framing for datagrams (RFC 3261 18.3, 20.14).
    body_end = n
    if seen & (1 << (_CONTENT_LENGTH >> 2)):
        value = msg._value(_find_slot(index, _CONTENT_LENGTH))
        if not value.isdigit() or len(value) > 5:
            raise SIPError(400, "Bad Request (Content-Length)")
        length = int(value)
        if length > n - body_start:
            raise SIPError(400, "Bad Request (body shorter than Content-Length)")
        body_end = body_start + length
    msg._body_start = body_start
    msg._body_end = body_end

    # CSeq = 1*DIGIT LWS Method (RFC 3261 20.16): a 32-bit number, method equal to the request's.
    parts = msg._value(_find_slot(index, _CSEQ)).split()
    if len(parts) != 2 or not parts[0].isdigit() or len(parts[0]) > 10:
        raise SIPError(400, "Bad Request (CSeq)")
    number = int(parts[0])
    if number > 0xFFFFFFFF:
        raise SIPError(400, "Bad Request (CSeq number)")
    method = _text(parts[1])
    if msg.method is not None and method != msg.method:
        raise SIPError(400, "Bad Request (CSeq method differs from request method)")
    if not is_token(method):
        raise SIPError(400, "Bad Request (CSeq method)")
    msg.cseq = (number, method)

    if not msg._value(_find_slot(index, _CALL_ID)):
        raise SIPError(400, "Bad Request (empty Call-ID)")
    msg.from_addr = parse_name_addr(_text(msg._value(_find_slot(index, _FROM))))
    msg.to_addr = parse_name_addr(_text(msg._value(_find_slot(index, _TO))))
    # Every Via value must parse: responses are routed back along them (RFC 3261 18.2.2).
    for i in range(0, len(index), 4):
        if index[i] == _VIA:
            parts = _split_list(msg._value(i))
            if not parts:
                raise SIPError(400, "Bad Request (empty Via)")
            for part in parts:
                via = parse_via(_text(part))
                if msg.via is None:
                    msg.via = via
    return msg


def _find_slot(index, code):
    for i in range(0, len(index), 4):
        if index[i] == code:
            return i
    return -1


def _parse_start_line(msg, line):
    """Request-Line or Status-Line (RFC 3261 7.1, 7.2), single SP separators."""
    if line.startswith(b"SIP/"):
        parts = line.split(b" ", 2)
        _check_version(parts[0])
        if len(parts) < 2:
            raise SIPError(400, "Bad Request (status line)")
        code = parts[1]
        if len(code) != 3 or not code.isdigit() or code[0] < 49 or code[0] > 54:
            raise SIPError(400, "Bad Request (status code)")
        msg.status = int(code)
        msg.reason = _text(parts[2]) if len(parts) == 3 else ""
        return
    parts = line.split(b" ")
    if len(parts) != 3:
        raise SIPError(400, "Bad Request (request line)")
    method, uri, version = parts
    _check_version(version)
    method = _text(method)
    if not is_token(method):
        raise SIPError(400, "Bad Request (method)")
    # The Request-URI is a bare URI: no <>, no whitespace, a scheme (RFC 3261 7.1, 19.1).
    colon = uri.find(b":")
    if colon <= 0 or 60 in uri or 62 in uri or 9 in uri or 13 in uri:
        raise SIPError(400, "Bad Request (Request-URI)")
    msg.method = method
    msg.uri = _text(uri)


def _check_version(version):
    if version != b"SIP/2.0":
        if version.upper() == b"SIP/2.0":
            return
        if version.upper().startswith(b"SIP/"):
            raise SIPError(505, "Version Not Supported")
        raise SIPError(400, "Bad Request (SIP version)")


# -- building ---------------------------------------------------------------------------------

_REASONS = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress", 200: "OK", 202: "Accepted", 300: "Multiple Choices",
    301: "Moved Permanently", 302: "Moved Temporarily", 400: "Bad Request", 401: "Unauthorized",
    403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
    407: "Proxy Authentication Required", 408: "Request Timeout", 410: "Gone",
    413: "Request Entity Too Large", 415: "Unsupported Media Type",
    416: "Unsupported URI Scheme", 420: "Bad Extension", 421: "Extension Required",
    423: "Interval Too Brief", 480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist", 482: "Loop Detected", 483: "Too Many Hops",
    484: "Address Incomplete", 486: "Busy Here", 487: "Request Terminated",
    488: "Not Acceptable Here", 491: "Request Pending", 500: "Server Internal Error",
    501: "Not Implemented", 503: "Service Unavailable", 504: "Server Time-out",
    505: "Version Not Supported", 513: "Message Too Large", 600: "Busy Everywhere",
    603: "Decline", 604: "Does Not Exist Anywhere", 606: "Not Acceptable",
}


def reason_phrase(status):
    """The RFC 3261 21 reason phrase for status ('' if unknown)."""
    return _REASONS.get(status, "")


def _check_field(text, what):
    # A CR or LF inside a value would inject header lines.
    if "\r" in text or "\n" in text:
        raise ValueError("line break in " + what)


def _append_headers(out, headers):
    for name, value in headers:
        if name.lower() in ("content-length", "l"):
            continue  # computed from the body below
        _check_field(name, "header name")
        _check_field(value, name)
        out.append(name + ": " + value + "\r\n")


def build_request(method, uri, headers, body=b""):
    """Serialize a request; headers are (name, value) str pairs, Content-Length is added."""
    if not is_token(method) or " " in uri:
        raise ValueError("bad method or Request-URI")
    _check_field(uri, "Request-URI")
    out = [method, " ", uri, " SIP/2.0\r\n"]
    _append_headers(out, headers)
    out.append("Content-Length: %d\r\n\r\n" % len(body))
    return "".join(out).encode() + body


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
    _append_headers(out, headers)
    out.append("Content-Length: %d\r\n\r\n" % len(body))
    return "".join(out).encode() + body

"""SDP offer/answer for one G.711 audio stream (RFC 4566, RFC 3264, RFC 4733).

Bodies are bytes in and out; parsed values are str. Public API:
- build_offer(ip, port, codecs=("PCMU", "PCMA"), dtmf_pt=101, session_id=None,
  direction="sendrecv", session_version=None, ptime=20) -> bytes
- parse(body) -> Media for the session: .origin tuple (6 str) or None,
  .connection, .addrtype, .direction (None when absent), .timing, .media: list
  of Media, one per m= section, with .media (kind), .port, .proto, .formats (bytes-like,
  the m= line's format list), .payload_types (distinct ints, RTP only, the first 24),
  .connection / .addrtype (media level, else session level), .fmtp {pt: str}
  (short values), .ptime, .direction (media, else session, else "sendrecv"),
  .encoding(pt) -> (NAME, rate, channels) for PCMU/PCMA/TELEPHONE-EVENT at
  8000 Hz or a static payload type, else None.
- answer(offer_body, ip, port, codecs=("PCMU", "PCMA"), dtmf=True,
  session_id=None, session_version=None, direction="sendrecv", ptime=20)
  -> (answer bytes, MediaParams)
- accept_answer(answer_body, codecs=("PCMU", "PCMA"), dtmf_pt=101,
  direction="sendrecv") -> MediaParams
- MediaParams: .remote_ip (str), .remote_port (int), .codec ("PCMU"/"PCMA"),
  .payload_type (int, the PT to send with), .dtmf_pt (int or None), .ptime
  (int ms the peer wants to receive), .direction: ours ("sendrecv", "sendonly",
  "recvonly", "inactive"), so "recvonly" means the peer put us on hold (also
  when it set c=0.0.0.0, RFC 3264 8.4).
- SdpError(Exception): .status (400 malformed, 413 too big, 488 not acceptable,
  503 out of memory) and .reason. Malformed input raises only SdpError.
"""
from doorsip.compat import const, random_bytes
from doorsip.sip.errors import text as _t

# Single bytes are searched for as ints (bytes.find(47) finds "/"; both interpreters take it):
# each distinct bytes constant costs ~80 B of code heap.

# Largest body accepted: an SDP that fits one UDP datagram is far smaller, and a
# bound keeps a hostile body from filling the ESP32 heap.
_MAX_BODY = const(8192)
# RFC 3264 6: the answer has one m= line per offered one, so their number is bounded too.
_MAX_MEDIA = const(8)
# Payload types and fmtp values kept per m= line: a real offer lists fewer than
# 20 formats; the bounds keep a hostile 8 KB body from costing more than a few
# KB of heap (further formats are still answered as rejected).
_MAX_FORMATS = const(24)
_MAX_FMTP = const(4)
_MAX_FMTP_LEN = const(48)

# Error texts: lines of errors._TEXT (code heap: no string constant each). SdpError reasons:
_E_TOO_LARGE = const(53)
_E_LINE = const(54)  # "bad SDP line"
_E_NO_V0 = const(55)
_E_TOO_MANY_M = const(56)
_E_M_PORT = const(57)
_E_M = const(58)
_E_M_PT = const(59)
_E_C = const(60)
_E_C_NOT_IP = const(61)  # "c= not IN IP4/IP6"
_E_C_ADDRESS = const(62)
_E_EMPTY = const(63)
_E_NO_MEMORY = const(64)
_E_NOT_UTF8 = const(65)
_E_NO_CODEC = const(66)  # "no common audio codec"
_E_NO_C = const(67)  # "no c= for audio"
_E_NO_AUDIO = const(68)  # "no audio in answer"
_E_REFUSED = const(69)  # "audio refused"
_E_NOT_OFFERED = const(70)  # "answer picked no codec we offered"
# ... ValueError texts:
_E_CODEC = const(71)  # "unsupported codec "
_E_ADDRESS = const(72)  # "bad SDP address"
_E_DIRECTION = const(73)  # "bad direction "
_E_DTMF_PT = const(74)  # "telephone-event needs a dynamic PT"

# RFC 3551 table 4: the static payload types (0-18) we can name without an rtpmap, the
# name of pt at _STATIC[4 * pt:4 * pt + 4] (one string, not a dict of tuples: code heap).
_STATIC = "PCMU        GSM G723            PCMAG722                                G729"
_DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
# The a= names looked at, 8 bytes apart (LF-padded: no name holds an LF), the k-th at 8 * k:
# 0-3 the directions above, then ptime (4), rtpmap (5), fmtp (6). Each is found first where
# it stands and nothing else is found at a multiple of 8 followed by LF (or 8 long). One
# bytes object instead of seven (code heap).
_ATTRIBUTES = b"sendrecvsendonlyrecvonlyinactiveptime\n\n\nrtpmap\n\nfmtp\n\n\n\n"
# The encodings we can use (rtpmap names, lower-case), LF-terminated, one bytes object.
_ENCODINGS = b"pcmu\npcma\ntelephone-event\n"
# RTP profiles we can answer; SRTP (RTP/SAVP) is not implemented.
_RTP = ("RTP/AVP", "RTP/AVPF")


class SdpError(Exception):
    """Malformed or unacceptable SDP; .status is the SIP response code to send."""

    def __init__(self, reason, status=400):
        if type(reason) is int:  # a line of errors._TEXT (sdp.py's own errors)
            reason = _t(reason)
        super().__init__(reason)
        self.reason = reason
        self.status = status


class MediaParams:
    """The negotiated audio stream (see module docstring)."""

    def __init__(self, remote_ip, remote_port, codec, payload_type, dtmf_pt, ptime, direction):
        self.remote_ip = remote_ip
        self.remote_port = remote_port
        self.codec = codec
        self.payload_type = payload_type
        self.dtmf_pt = dtmf_pt
        self.ptime = ptime
        self.direction = direction

    def __repr__(self):
        return "MediaParams(%s:%d %s/%d dtmf=%s ptime=%d %s)" % (
            self.remote_ip, self.remote_port, self.codec, self.payload_type,
            self.dtmf_pt, self.ptime, self.direction)


class Media:
    """One m= section, or the session level (see module docstring); one class
    for both saves code heap."""

    def __init__(self, kind, port, proto):
        self.media = kind
        self.port = port
        self.proto = proto
        self.payload_types = []
        self.connection = self.addrtype = self.ptime = self.direction = None
        self.rtpmap = {}  # pt -> encoding tuple, or () for one we cannot use
        self.fmtp = {}

    def encoding(self, pt):
        """(NAME, rate, channels) of payload type pt if it is PCMU, PCMA or
        telephone-event at 8000 Hz (by rtpmap) or a static type; else None."""
        enc = self.rtpmap.get(pt)
        if enc is None:
            name = _STATIC[4 * pt:4 * pt + 4].strip() if pt in range(19) else None
            return (name, 8000, 1) if name else None
        return enc or None


def _text(data):
    try:
        return data.decode()
    except UnicodeError:
        raise SdpError(_E_NOT_UTF8)


def _int(data, start, end, limit):
    """Decimal integer in data[start:end] if it is 0..limit, else None; allocates nothing."""
    if start >= end or end - start > 10:
        return None
    value = 0
    for i in range(start, end):
        c = data[i] - 48
        if c < 0 or c > 9:
            return None
        value = value * 10 + c
    return value if value <= limit else None


def _skip(data, i, end, spaces):
    # past the spaces/tabs at i (spaces True) or the token at i (spaces False)
    while i < end and (data[i] == 32 or data[i] == 9) == spaces:
        i += 1
    return i


def parse(body):
    """Parse an SDP body (bytes) into a Media of the session; SdpError when malformed."""
    try:
        if isinstance(body, str):
            body = body.encode()
        elif not isinstance(body, bytes):
            body = bytes(body)
        n = len(body)
        if n > _MAX_BODY:
            raise SdpError(_E_TOO_LARGE, 413)
        sdp = Media([], 0, None)
        sdp.origin = None
        sdp.timing = "0 0"
        media = None
        seen = False
        pos = 0
        # Lines are walked by index so that skipped lines cost no allocation.
        while pos < n:
            stop = body.find(10, pos)  # LF
            if stop < 0:
                stop = n
            line = pos
            pos = stop + 1
            if stop > line and body[stop - 1] == 13:
                stop -= 1
            if stop == line:
                continue  # tolerate blank lines (a trailing one is common)
            if stop - line < 2 or body[line + 1] != 61:  # "<type>=<value>"
                raise SdpError(_E_LINE)
            kind = body[line]
            start = line + 2
            if not seen:
                # RFC 4566 5: an SDP description starts with v=0
                if kind != 118 or _skip(body, start, stop, True) != stop - 1 or body[stop - 1] != 48:
                    raise SdpError(_E_NO_V0)
                seen = True
            elif kind == 97:  # a=
                _attribute(body, start, stop, media or sdp)
            elif kind == 109:  # m=
                if len(sdp.media) >= _MAX_MEDIA:
                    raise SdpError(_E_TOO_MANY_M, 488)
                # m=<media> <port>[/<number of ports>] <proto> <fmt> ... (RFC 4566 5.14),
                # scanned by index: only the names and the payload type list are allocated.
                i = _skip(body, start, stop, True)
                j = _skip(body, i, stop, False)
                name = _text(body[i:j]).lower()
                i = _skip(body, j, stop, True)
                j = _skip(body, i, stop, False)
                slash = body.find(47, i, j)  # "/"
                port = _int(body, i, j if slash < 0 else slash, 65535)
                if port is None:
                    raise SdpError(_E_M_PORT)
                i = _skip(body, j, stop, True)
                j = _skip(body, i, stop, False)
                if i == j:
                    raise SdpError(_E_M)
                media = Media(name, port, _text(body[i:j]).upper())
                i = _skip(body, j, stop, True)
                media.formats = memoryview(body)[i:stop]  # the format list stays in the body
                if media.proto in _RTP:
                    pts = media.payload_types
                    while i < stop:
                        j = _skip(body, i, stop, False)
                        pt = _int(body, i, j, 127)
                        if pt is None:
                            raise SdpError(_E_M_PT)
                        if len(pts) < _MAX_FORMATS and pt not in pts:
                            pts.append(pt)
                        i = _skip(body, j, stop, True)
                sdp.media.append(media)
            elif kind == 99:  # c=<nettype> <addrtype> <address>[/ttl][/count] (RFC 4566 5.7)
                parts = body[start:stop].split()
                if len(parts) != 3:
                    raise SdpError(_E_C)
                # One bytes constant, not three: nettype "in" at 0, addrtype "ip4" at 3, "ip6" at 7.
                addrtype = b"in ip4 ip6".find(parts[1].lower())
                if (len(parts[0]) != 2 or b"in ip4 ip6".find(parts[0].lower()) != 0
                        or len(parts[1]) != 3 or (addrtype != 3 and addrtype != 7)):
                    raise SdpError(_E_C_NOT_IP, 488)
                if parts[2][0] == 47:  # "/"
                    raise SdpError(_E_C_ADDRESS)
                target = media or sdp
                slash = parts[2].find(47)  # "/"
                target.connection = _text(parts[2] if slash < 0 else parts[2][:slash])
                target.addrtype = "IP4" if addrtype == 3 else "IP6"
            elif kind == 111:  # o=
                try:
                    fields = body[start:stop].decode().split()
                    sdp.origin = tuple(fields) if len(fields) == 6 else None
                except UnicodeError:
                    sdp.origin = None
            elif kind == 116:  # t=
                fields = body[start:stop].split()
                if (len(fields) == 2 and _int(fields[0], 0, len(fields[0]), 9999999999) is not None
                        and _int(fields[1], 0, len(fields[1]), 9999999999) is not None):
                    sdp.timing = _text(body[start:stop])
        if not seen:
            raise SdpError(_E_EMPTY)
        # Media-level c= and direction override the session level (RFC 4566 5.7, 6).
        for m in sdp.media:
            if m.connection is None:
                m.connection, m.addrtype = sdp.connection, sdp.addrtype
            if m.direction is None:
                m.direction = sdp.direction or "sendrecv"
        return sdp
    except MemoryError:
        # as the SIP parser does: the station stays up and answers 503
        raise SdpError(_E_NO_MEMORY, 503)


def _attribute(body, start, end, media):
    # Only the attributes used below are looked at; the rest are skipped without
    # keeping anything (RFC 4566 5.13: unknown attributes are ignored).
    colon = body.find(58, start, end)  # ":"
    name_end = end if colon < 0 else colon
    if name_end - start > 8:
        return  # longer than any name looked at
    name = body[start:name_end].lower()
    kind = _ATTRIBUTES.find(name)
    if kind < 0 or kind & 7 or (len(name) < 8 and _ATTRIBUTES[kind + len(name)] != 10):
        return  # not a name looked at
    kind >>= 3
    if kind < 4:
        media.direction = _DIRECTIONS[kind]
        return
    if colon < 0 or not media.payload_types:
        return  # rtpmap/fmtp/ptime matter for RTP media lines only
    i = _skip(body, colon + 1, end, True)
    if kind == 4:  # ptime
        ptime = _int(body, i, end, 1000)
        if ptime:
            media.ptime = ptime
        return
    # rtpmap and fmtp start with a payload type of this m= line (RFC 4566 6)
    space = body.find(32, i, end)
    pt = _int(body, i, space, 127)
    if space < 0 or pt not in media.payload_types:
        return
    i = _skip(body, space, end, True)
    if kind == 5:  # rtpmap
        # a=rtpmap:<pt> <encoding name>/<clock rate>[/<channels>]
        slash = body.find(47, i, end)
        if slash <= i:
            return
        slash2 = body.find(47, slash + 1, end)
        rate = _int(body, slash + 1, end if slash2 < 0 else slash2, 1000000)
        channels = 1 if slash2 < 0 else _int(body, slash2 + 1, end, 255)
        if rate is None or not channels:
            return
        enc = ()
        if rate == 8000 and channels == 1 and slash - i <= 15:
            # encoding names are case-insensitive (RFC 4855 3)
            name = body[i:slash].lower()
            k = _ENCODINGS.find(name)
            if k >= 0 and (k == 0 or _ENCODINGS[k - 1] == 10) and _ENCODINGS[k + len(name)] == 10:
                enc = (name.decode().upper(), 8000, 1)
        media.rtpmap[pt] = enc
    else:  # fmtp
        # kept for mirroring telephone-event's event list (RFC 4733 2.4.1)
        if len(media.fmtp) < _MAX_FMTP and end - i <= _MAX_FMTP_LEN:
            try:
                media.fmtp[pt] = body[i:end].decode()
            except UnicodeError:
                pass


def _local_direction(remote, direction):
    """Our direction, mirroring the peer's (RFC 3264 6.1) within what we want."""
    r = remote.direction
    # RFC 3264 8.4 (RFC 2543 hold): c=0.0.0.0 means the peer wants no media sent to it
    # (== tests, not `in` a tuple: each tuple constant costs code heap)
    r_receives = (r == "sendrecv" or r == "recvonly") and remote.connection != "0.0.0.0"
    sends = (direction == "sendrecv" or direction == "sendonly") and r_receives
    receives = ((direction == "sendrecv" or direction == "recvonly")
                and (r == "sendrecv" or r == "sendonly"))
    if sends:
        return "sendrecv" if receives else "sendonly"
    return "recvonly" if receives else "inactive"


def _find(media, codecs, dtmf):
    """(codec, pt) of the first of codecs (our order) among media's formats, or
    with dtmf the telephone-event pt (or None)."""
    for name in codecs:
        for pt in media.payload_types:
            enc = media.encoding(pt)
            if enc is not None and enc[0] == name:
                return pt if dtmf else (enc[0], pt)
    return None if dtmf else (None, None)


def _codecs(codecs):
    # the codec names in upper case; ValueError for one the media layer lacks (loops, not
    # list comprehensions: code heap)
    names = []
    for name in codecs:
        names.append(name.upper())
    for name in names:
        if name != "PCMU" and name != "PCMA":
            raise ValueError(_t(_E_CODEC) + name)
    return names


def _head(ip, session_id, session_version, timing):
    if not ip or " " in ip or "\r" in ip or "\n" in ip or "\t" in ip:
        raise ValueError(_t(_E_ADDRESS))
    addrtype = "IP6" if ":" in ip else "IP4"
    if session_id is None:
        b = random_bytes(4)
        session_id = ((b[0] & 0x3F) << 24) | (b[1] << 16) | (b[2] << 8) | b[3]
    if session_version is None:
        session_version = session_id
    return ["v=0\r\no=doorsip %d %d IN %s %s\r\ns=doorsip\r\nc=IN %s %s\r\nt=%s\r\n"
            % (session_id, session_version, addrtype, ip, addrtype, ip, timing)]


def _audio(out, port, formats, codecs, dtmf_pt, fmtp, ptime, direction, proto):
    if dtmf_pt is not None:
        formats.append(dtmf_pt)
        codecs.append("TELEPHONE-EVENT".lower())  # (a constant the module has)
    line = "m=audio %d %s" % (port, proto)
    for pt in formats:
        line += " %d" % pt
    out.append(line + "\r\n")
    for pt, name in zip(formats, codecs):
        out.append("a=rtpmap:%d %s/8000\r\n" % (pt, name))
    if dtmf_pt is not None:
        out.append("a=fmtp:%d %s\r\n" % (dtmf_pt, fmtp))
    out.append("a=ptime:%d\r\na=%s\r\n" % (ptime, direction))


def build_offer(ip, port, codecs=("PCMU", "PCMA"), dtmf_pt=101, session_id=None,
                direction="sendrecv", session_version=None, ptime=20):
    """An SDP offer for one audio stream (RFC 3264 5) as bytes."""
    names = _codecs(codecs)
    if direction not in _DIRECTIONS:
        raise ValueError(_t(_E_DIRECTION) + direction)
    if dtmf_pt is not None and not 96 <= dtmf_pt <= 127:
        raise ValueError(_t(_E_DTMF_PT))
    lines = _head(ip, session_id, session_version, "0 0")
    formats = []
    for name in names:
        formats.append(8 if name == "PCMA" else 0)
    _audio(lines, port, formats, names, dtmf_pt, "0-15", ptime, direction, "RTP/AVP")
    return "".join(lines).encode()


def answer(offer_body, ip, port, codecs=("PCMU", "PCMA"), dtmf=True, session_id=None,
           session_version=None, direction="sendrecv", ptime=20):
    """Answer an offer (RFC 3264 6): (answer bytes, MediaParams); SdpError 488 if no match."""
    codecs = _codecs(codecs)
    offer = parse(offer_body)
    m = None
    for other in offer.media:
        if other.media == "audio" and other.port and other.proto in _RTP:
            codec, pt = _find(other, codecs, False)
            if codec is not None:
                m = other
                break
    if m is None:
        raise SdpError(_E_NO_CODEC, 488)
    if m.connection is None:
        raise SdpError(_E_NO_C)
    # Keep the offerer's payload type numbers (RFC 3264 6.1).
    dtmf_pt = _find(m, ("TELEPHONE-EVENT",), True) if dtmf else None
    ours = _local_direction(m, direction)
    lines = _head(ip, session_id, session_version, offer.timing)
    for other in offer.media:
        if other is m:
            # the answer keeps the offered transport (RFC 3264 6)
            _audio(lines, port, [pt], [codec], dtmf_pt,
                   m.fmtp.get(dtmf_pt) or "0-15", ptime, ours, m.proto)
        else:
            # RFC 3264 6: a declined stream keeps its line with port zero
            try:
                formats = " ".join(bytes(other.formats).decode().split()) or "0"
            except UnicodeError:
                formats = "0"
            lines.append("m=%s 0 %s %s\r\n" % (other.media, other.proto, formats))
    return "".join(lines).encode(), MediaParams(m.connection, m.port, codec, pt, dtmf_pt, m.ptime or 20, ours)


def accept_answer(answer_body, codecs=("PCMU", "PCMA"), dtmf_pt=101, direction="sendrecv"):
    """MediaParams from the answer to our offer; SdpError 488 if it picked nothing we offered."""
    codecs = _codecs(codecs)
    for audio in parse(answer_body).media:
        if audio.media == "audio":
            break
    else:
        raise SdpError(_E_NO_AUDIO, 488)
    if audio.port == 0 or audio.proto not in _RTP:
        raise SdpError(_E_REFUSED, 488)
    if audio.connection is None:
        raise SdpError(_E_NO_C)
    # The answerer lists what it will receive, most preferred first (RFC 3264 6.1).
    codec = None
    for pt in audio.payload_types:
        enc = audio.encoding(pt)
        if enc is not None and enc[0] in codecs:
            codec = enc[0]
            break
    if codec is None:
        raise SdpError(_E_NOT_OFFERED, 488)
    return MediaParams(audio.connection, audio.port, codec, pt,
                       None if dtmf_pt is None else _find(audio, ("TELEPHONE-EVENT",), True),
                       audio.ptime or 20, _local_direction(audio, direction))

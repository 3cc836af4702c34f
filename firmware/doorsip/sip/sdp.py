"""SDP offer/answer for one G.711 audio stream (RFC 4566, RFC 3264, RFC 4733).

Bodies are bytes in and out; parsed values are str. Public API:
- build_offer(ip, port, codecs=("PCMU", "PCMA"), dtmf_pt=101, session_id=None,
  direction="sendrecv", session_version=None, ptime=20) -> bytes
- parse(body) -> Sdp (.origin tuple or None, .connection, .direction, .timing,
  .media: list of Media with .media, .port, .proto, .formats (str tokens),
  .payload_types (distinct ints, RTP only, the first 24), .connection /
  .addrtype (media level, else session level), .fmtp {pt: str} (short values),
  .ptime, .direction (media, else session, else "sendrecv"), .encoding(pt) ->
  (NAME, rate, channels) for PCMU/PCMA/TELEPHONE-EVENT at 8000 Hz or a static
  payload type, else None).
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

# Largest body accepted: an SDP that fits one UDP datagram is far smaller, and a
# bound keeps a hostile body from filling the ESP32 heap.
_MAX_BODY = const(8192)
# RFC 3264 6: the answer has one m= line per offered one, so their number is bounded too.
_MAX_MEDIA = const(8)

# Payload types kept per m= line and fmtp values kept per m= line: a real offer
# lists fewer than 20 formats; the bounds keep a hostile 8 KB body from costing
# more than a few KB of heap (further formats are still answered as rejected).
_MAX_FORMATS = const(24)
_MAX_FMTP = const(4)
_MAX_FMTP_LEN = const(48)

# Encodings are recorded as small ints (no allocation per rtpmap line): the
# ones this station can use, at 8000 Hz mono, and "anything else".
_ENC_OTHER = const(0)
_ENC_PCMU = const(1)
_ENC_PCMA = const(2)
_ENC_TEL = const(3)
_ENCODINGS = (None, ("PCMU", 8000, 1), ("PCMA", 8000, 1), ("TELEPHONE-EVENT", 8000, 1))
# RFC 3551 table 4: static payload types we can name without an rtpmap.
_STATIC = {0: ("PCMU", 8000, 1), 3: ("GSM", 8000, 1), 4: ("G723", 8000, 1),
           8: ("PCMA", 8000, 1), 9: ("G722", 8000, 1), 18: ("G729", 8000, 1)}
# The codecs the media layer implements and their static payload types.
_OUR_PT = {"PCMU": 0, "PCMA": 8}
_DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
_DIRECTION_NAMES = (b"sendrecv", b"sendonly", b"recvonly", b"inactive")
# RTP profiles we can answer; SRTP (RTP/SAVP) is not implemented.
_RTP_PROTOS = ("RTP/AVP", "RTP/AVPF")


class SdpError(Exception):
    """Malformed or unacceptable SDP; .status is the SIP response code to send."""

    def __init__(self, reason, status=400):
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
    """One m= section."""

    def __init__(self, media, port, proto, body, formats_start, formats_end):
        self.media = media
        self.port = port
        self.proto = proto
        # the format list stays in the body (no copy) until asked for
        self._body = body
        self._formats = (formats_start, formats_end)
        self.payload_types = []
        self.connection = None
        self.addrtype = None
        self._rtpmap = {}
        self.fmtp = {}
        self.ptime = None
        self.direction = None

    @property
    def formats(self):
        """The m= line's format tokens (str)."""
        try:
            return self._body[self._formats[0]:self._formats[1]].decode().split()
        except UnicodeError:
            return []

    def encoding(self, pt):
        """(NAME, rate, channels) of payload type pt if it is PCMU, PCMA or
        telephone-event at 8000 Hz (by rtpmap) or a static type; else None."""
        code = self._rtpmap.get(pt)
        if code is not None:
            return _ENCODINGS[code]
        return _STATIC.get(pt)


class Sdp:
    """A parsed session description."""

    def __init__(self):
        self._origin = None
        self.connection = None
        self.addrtype = None
        self.direction = None
        self.timing = "0 0"
        self.media = []

    @property
    def origin(self):
        """o= fields (username, sess-id, sess-version, nettype, addrtype, address) or None."""
        if self._origin is None:
            return None
        try:
            fields = self._origin.decode().split()
        except UnicodeError:
            return None
        return tuple(fields) if len(fields) == 6 else None


def _text(raw):
    try:
        return raw.decode()
    except UnicodeError:
        raise SdpError("SDP field is not UTF-8")


def _int(data, start, end, top):
    """Decimal integer in data[start:end] if it is 0..top, else None; allocates nothing."""
    if start >= end or end - start > 10:
        return None
    value = 0
    for i in range(start, end):
        c = data[i]
        if c < 48 or c > 57:
            return None
        value = value * 10 + c - 48
    return value if value <= top else None


def _int_token(token, top):
    return _int(token, 0, len(token), top)


def _is(data, start, end, word):
    """data[start:end] equals the lower-case ASCII word, ignoring case; allocates nothing."""
    if end - start != len(word):
        return False
    for i in range(len(word)):
        c = data[start + i]
        if 65 <= c <= 90:
            c += 32
        if c != word[i]:
            return False
    return True


def _skip_spaces(data, i, end):
    while i < end and (data[i] == 32 or data[i] == 9):
        i += 1
    return i


def _token_end(data, i, end):
    while i < end and data[i] != 32 and data[i] != 9:
        i += 1
    return i


def _parse_media(body, start, end):
    # m=<media> <port>[/<number of ports>] <proto> <fmt> ... (RFC 4566 5.14),
    # scanned by index: only the names and the payload type list are allocated.
    i = _skip_spaces(body, start, end)
    j = _token_end(body, i, end)
    kind = "audio" if _is(body, i, j, b"audio") else _text(body[i:j]).lower()
    i = _skip_spaces(body, j, end)
    j = _token_end(body, i, end)
    slash = body.find(b"/", i, j)
    port = _int(body, i, slash if slash >= 0 else j, 65535)
    if port is None:
        raise SdpError("bad port in m= line")
    i = _skip_spaces(body, j, end)
    j = _token_end(body, i, end)
    if i == j:
        raise SdpError("malformed m= line")
    if _is(body, i, j, b"rtp/avp"):
        proto = "RTP/AVP"
    elif _is(body, i, j, b"rtp/avpf"):
        proto = "RTP/AVPF"
    else:
        proto = _text(body[i:j]).upper()
    i = _skip_spaces(body, j, end)
    media = Media(kind, port, proto, body, i, end)
    if proto in _RTP_PROTOS:
        pts = media.payload_types
        while i < end:
            j = _token_end(body, i, end)
            pt = _int(body, i, j, 127)
            if pt is None:
                raise SdpError("bad RTP payload type in m= line")
            if len(pts) < _MAX_FORMATS and pt not in pts:
                pts.append(pt)
            i = _skip_spaces(body, j, end)
    return media


def _parse_connection(value):
    # c=<nettype> <addrtype> <address>[/ttl][/count] (RFC 4566 5.7)
    parts = value.split()
    if len(parts) != 3:
        raise SdpError("malformed c= line")
    if not _is(parts[0], 0, len(parts[0]), b"in"):
        raise SdpError("unsupported network type", 488)
    if _is(parts[1], 0, len(parts[1]), b"ip4"):
        addrtype = "IP4"
    elif _is(parts[1], 0, len(parts[1]), b"ip6"):
        addrtype = "IP6"
    else:
        raise SdpError("unsupported address type", 488)
    address = parts[2]
    slash = address.find(b"/")
    if slash == 0:
        raise SdpError("malformed c= address")
    if slash > 0:
        address = address[:slash]
    return addrtype, _text(address)


def _attribute(body, start, end, media, sdp):
    # Only the attributes used below are looked at; the rest are skipped without
    # allocating (RFC 4566 5.13: unknown attributes are ignored).
    colon = body.find(b":", start, end)
    name_end = end if colon < 0 else colon
    for k in range(4):
        if _is(body, start, name_end, _DIRECTION_NAMES[k]):
            if media is None:
                sdp.direction = _DIRECTIONS[k]
            else:
                media.direction = _DIRECTIONS[k]
            return
    if media is None or colon < 0 or not media.payload_types:
        return  # rtpmap/fmtp/ptime matter for RTP media lines only
    i = _skip_spaces(body, colon + 1, end)
    if _is(body, start, name_end, b"ptime"):
        ptime = _int(body, i, end, 1000)
        if ptime:
            media.ptime = ptime
        return
    # rtpmap and fmtp start with a payload type (RFC 4566 6)
    space = body.find(b" ", i, end)
    if space < 0:
        return
    pt = _int(body, i, space, 127)
    if pt is None or pt not in media.payload_types:
        return  # RFC 4566 6: rtpmap/fmtp describe formats of this m= line
    i = _skip_spaces(body, space, end)
    if _is(body, start, name_end, b"rtpmap"):
        # a=rtpmap:<pt> <encoding name>/<clock rate>[/<channels>]
        slash = body.find(b"/", i, end)
        if slash <= i:
            return
        slash2 = body.find(b"/", slash + 1, end)
        rate = _int(body, slash + 1, slash2 if slash2 >= 0 else end, 1000000)
        channels = _int(body, slash2 + 1, end, 255) if slash2 >= 0 else 1
        if rate is None or not channels:
            return
        code = _ENC_OTHER
        if rate == 8000 and channels == 1:
            # encoding names are case-insensitive (RFC 4855 3)
            if _is(body, i, slash, b"pcmu"):
                code = _ENC_PCMU
            elif _is(body, i, slash, b"pcma"):
                code = _ENC_PCMA
            elif _is(body, i, slash, b"telephone-event"):
                code = _ENC_TEL
        media._rtpmap[pt] = code
    elif _is(body, start, name_end, b"fmtp"):
        # kept for mirroring telephone-event's event list (RFC 4733 2.4.1)
        if len(media.fmtp) < _MAX_FMTP and end - i <= _MAX_FMTP_LEN:
            try:
                media.fmtp[pt] = body[i:end].decode()
            except UnicodeError:
                pass


def parse(body):
    """Parse an SDP body (bytes) into an Sdp; SdpError when malformed."""
    try:
        return _parse(body)
    except MemoryError:
        # as the SIP parser does: the station stays up and answers 503
        raise SdpError("out of memory", 503)


def _parse(body):
    if isinstance(body, str):
        body = body.encode()
    elif not isinstance(body, bytes):
        body = bytes(body)
    n = len(body)
    if n > _MAX_BODY:
        raise SdpError("SDP body too large", 413)
    sdp = Sdp()
    media = None
    seen_version = False
    pos = 0
    # Lines are walked by index so that skipped lines cost no allocation.
    while pos < n:
        end = body.find(b"\n", pos)
        if end < 0:
            end = n
        stop = end
        if stop > pos and body[stop - 1] == 13:
            stop -= 1
        line = pos
        pos = end + 1
        if stop == line:
            continue  # tolerate blank lines (a trailing one is common)
        if stop - line < 2 or body[line + 1] != 61:  # "<type>=<value>"
            raise SdpError("malformed SDP line")
        kind = body[line]
        start = line + 2
        if not seen_version:
            # RFC 4566 5: an SDP description starts with v=0
            if kind != 118 or _skip_spaces(body, start, stop) != stop - 1 or body[stop - 1] != 48:
                raise SdpError("SDP must start with v=0")
            seen_version = True
        elif kind == 97:  # a=
            _attribute(body, start, stop, media, sdp)
        elif kind == 109:  # m=
            if len(sdp.media) >= _MAX_MEDIA:
                raise SdpError("too many media streams", 488)
            media = _parse_media(body, start, stop)
            sdp.media.append(media)
        elif kind == 99:  # c=
            addrtype, address = _parse_connection(body[start:stop])
            if media is None:
                sdp.addrtype, sdp.connection = addrtype, address
            else:
                media.addrtype, media.connection = addrtype, address
        elif kind == 111:  # o=
            sdp._origin = body[start:stop]
        elif kind == 116:  # t=
            fields = body[start:stop].split()
            if len(fields) == 2 and _int_token(fields[0], 9999999999) is not None \
                    and _int_token(fields[1], 9999999999) is not None:
                sdp.timing = _text(body[start:stop])
    if not seen_version:
        raise SdpError("empty SDP body")
    # Media-level c= and direction override the session level (RFC 4566 5.7, 6).
    for m in sdp.media:
        if m.connection is None:
            m.connection, m.addrtype = sdp.connection, sdp.addrtype
        if m.direction is None:
            m.direction = sdp.direction or "sendrecv"
    return sdp


def _flags(direction):
    # (sends, receives) for a direction attribute, from the writer's side.
    return direction in ("sendrecv", "sendonly"), direction in ("sendrecv", "recvonly")


def _direction(sends, receives):
    if sends:
        return "sendrecv" if receives else "sendonly"
    return "recvonly" if receives else "inactive"


def _local_direction(remote, local):
    """Our direction, mirroring the peer's (RFC 3264 6.1) within what we want."""
    r_sends, r_receives = _flags(remote.direction)
    if remote.connection == "0.0.0.0":
        # RFC 3264 8.4 (RFC 2543 hold): the peer does not want media sent to it
        r_receives = False
    l_sends, l_receives = _flags(local)
    return _direction(l_sends and r_receives, l_receives and r_sends)


def _pick_codec(media, codecs):
    # Our preference order, among the formats this media line allows.
    for name in codecs:
        name = name.upper()
        for pt in media.payload_types:
            if media.encoding(pt) == (name, 8000, 1):
                return name, pt
    return None, None


def _dtmf_pt(media):
    for pt in media.payload_types:
        enc = media.encoding(pt)
        if enc is not None and enc[0] == "TELEPHONE-EVENT" and enc[1] == 8000:
            return pt
    return None


def _check_codecs(codecs):
    for name in codecs:
        if name.upper() not in _OUR_PT:
            raise ValueError("unsupported codec " + name)


def _new_session_id():
    b = random_bytes(4)
    return ((b[0] & 0x3F) << 24) | (b[1] << 16) | (b[2] << 8) | b[3]


def _head(ip, session_id, session_version, timing):
    if not ip or " " in ip or "\r" in ip or "\n" in ip or "\t" in ip:
        raise ValueError("bad address for SDP")
    addrtype = "IP6" if ":" in ip else "IP4"
    if session_id is None:
        session_id = _new_session_id()
    if session_version is None:
        session_version = session_id
    return ["v=0\r\no=doorsip %d %d IN %s %s\r\ns=doorsip\r\nc=IN %s %s\r\nt=%s\r\n"
            % (session_id, session_version, addrtype, ip, addrtype, ip, timing)]


def _audio_lines(lines, port, pts, names, dtmf_pt, dtmf_fmtp, ptime, direction, proto="RTP/AVP"):
    lines.append("m=audio %d %s %s\r\n" % (port, proto, " ".join([str(pt) for pt in pts])))
    for pt, name in zip(pts, names):
        lines.append("a=rtpmap:%d %s/8000\r\n" % (pt, name))
    if dtmf_pt is not None:
        lines.append("a=fmtp:%d %s\r\n" % (dtmf_pt, dtmf_fmtp))
    lines.append("a=ptime:%d\r\na=%s\r\n" % (ptime, direction))


def build_offer(ip, port, codecs=("PCMU", "PCMA"), dtmf_pt=101, session_id=None,
                direction="sendrecv", session_version=None, ptime=20):
    """An SDP offer for one audio stream (RFC 3264 5) as bytes."""
    _check_codecs(codecs)
    if direction not in _DIRECTIONS:
        raise ValueError("bad direction " + direction)
    if dtmf_pt is not None and not 96 <= dtmf_pt <= 127:
        raise ValueError("telephone-event needs a dynamic payload type")
    lines = _head(ip, session_id, session_version, "0 0")
    pts = [_OUR_PT[name.upper()] for name in codecs]
    names = [name.upper() for name in codecs]
    if dtmf_pt is not None:
        pts.append(dtmf_pt)
        names.append("telephone-event")
    _audio_lines(lines, port, pts, names, dtmf_pt, "0-15", ptime, direction)
    return "".join(lines).encode()


def answer(offer_body, ip, port, codecs=("PCMU", "PCMA"), dtmf=True, session_id=None,
           session_version=None, direction="sendrecv", ptime=20):
    """Answer an offer (RFC 3264 6): (answer bytes, MediaParams); SdpError 488 if no match."""
    _check_codecs(codecs)
    offer = parse(offer_body)
    chosen = None
    for index, m in enumerate(offer.media):
        if m.media != "audio" or m.port == 0 or m.proto not in _RTP_PROTOS:
            continue
        codec, pt = _pick_codec(m, codecs)
        if codec is not None:
            chosen = index
            break
    if chosen is None:
        raise SdpError("no common audio codec", 488)
    m = offer.media[chosen]
    if m.connection is None:
        raise SdpError("no c= line for the audio stream")
    # Keep the offerer's payload type numbers (RFC 3264 6.1).
    dtmf_pt = _dtmf_pt(m) if dtmf else None
    ours = _local_direction(m, direction)
    lines = _head(ip, session_id, session_version, offer.timing)
    for index, other in enumerate(offer.media):
        if index == chosen:
            pts = [pt]
            names = [codec]
            fmtp = None
            if dtmf_pt is not None:
                pts.append(dtmf_pt)
                names.append("telephone-event")
                fmtp = m.fmtp.get(dtmf_pt) or "0-15"
            # the answer keeps the offered transport (RFC 3264 6)
            _audio_lines(lines, port, pts, names, dtmf_pt, fmtp, ptime, ours, m.proto)
        else:
            # RFC 3264 6: a declined stream keeps its line with port zero
            lines.append("m=%s 0 %s %s\r\n" % (other.media, other.proto,
                                                " ".join(other.formats) or "0"))
    params = MediaParams(m.connection, m.port, codec, pt, dtmf_pt, m.ptime or 20, ours)
    return "".join(lines).encode(), params


def accept_answer(answer_body, codecs=("PCMU", "PCMA"), dtmf_pt=101, direction="sendrecv"):
    """MediaParams from the answer to our offer; SdpError 488 if it picked nothing we offered."""
    _check_codecs(codecs)
    sdp = parse(answer_body)
    audio = None
    for m in sdp.media:
        if m.media == "audio":
            audio = m
            break
    if audio is None:
        raise SdpError("answer has no audio stream", 488)
    if audio.port == 0:
        raise SdpError("audio stream rejected", 488)
    if audio.proto not in _RTP_PROTOS:
        raise SdpError("answer changed the transport", 488)
    if audio.connection is None:
        raise SdpError("no c= line for the audio stream")
    # The answerer lists what it will receive, most preferred first (RFC 3264 6.1).
    codec = pt = None
    for candidate in audio.payload_types:
        enc = audio.encoding(candidate)
        if enc is not None and enc[1] == 8000 and enc[2] == 1:
            for name in codecs:
                if enc[0] == name.upper():
                    codec, pt = enc[0], candidate
                    break
        if codec is not None:
            break
    if codec is None:
        raise SdpError("answer picked no codec we offered", 488)
    remote_dtmf = _dtmf_pt(audio) if dtmf_pt is not None else None
    ours = _local_direction(audio, direction)
    return MediaParams(audio.connection, audio.port, codec, pt, remote_dtmf,
                       audio.ptime or 20, ours)

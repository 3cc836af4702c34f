"""SDP offer/answer for one G.711 audio stream (RFC 4566, RFC 3264, RFC 4733).

Bodies are bytes in and out; parsed values are str. Public API:
- build_offer(ip, port, codecs=("PCMU", "PCMA"), dtmf_pt=101, session_id=None,
  direction="sendrecv", session_version=None, ptime=20) -> bytes
- parse(body) -> Sdp (.origin tuple or None, .connection, .direction, .timing,
  .media: list of Media with .media, .port, .proto, .formats (str tokens),
  .payload_types (ints, RTP only), .connection / .addrtype (media level, else
  session level), .rtpmap {pt: (NAME, rate, channels)}, .fmtp {pt: str},
  .ptime, .direction (media, else session, else "sendrecv"), .encoding(pt)).
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
- SdpError(Exception): .status (400 malformed, 413 too big, 488 not acceptable)
  and .reason. Malformed input raises only SdpError.
"""
from doorsip.compat import const, random_bytes

# Largest body accepted: an SDP that fits one UDP datagram is far smaller, and a
# bound keeps a hostile body from filling the ESP32 heap.
_MAX_BODY = const(8192)
# RFC 3264 6: the answer has one m= line per offered one, so their number is bounded too.
_MAX_MEDIA = const(8)

# RFC 3551 table 4: static payload types we can name without an rtpmap.
_STATIC = {0: ("PCMU", 8000, 1), 3: ("GSM", 8000, 1), 4: ("G723", 8000, 1),
           8: ("PCMA", 8000, 1), 9: ("G722", 8000, 1), 18: ("G729", 8000, 1)}
# The codecs the media layer implements and their static payload types.
_OUR_PT = {"PCMU": 0, "PCMA": 8}
_DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
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

    def __init__(self, media, port, proto, formats):
        self.media = media
        self.port = port
        self.proto = proto
        self.formats = formats
        self.payload_types = []
        self.connection = None
        self.addrtype = None
        self.rtpmap = {}
        self.fmtp = {}
        self.ptime = None
        self.direction = None

    def encoding(self, pt):
        """(NAME, rate, channels) of payload type pt, or None when unknown."""
        found = self.rtpmap.get(pt)
        if found is None and pt < 96:
            found = _STATIC.get(pt)
        return found


class Sdp:
    """A parsed session description."""

    def __init__(self):
        self.origin = None
        self.connection = None
        self.addrtype = None
        self.direction = None
        self.timing = "0 0"
        self.media = []


def _text(raw):
    try:
        return bytes(raw).decode()
    except UnicodeError:
        raise SdpError("SDP field is not UTF-8")


def _int(text, top):
    """Decimal integer 0..top, or None."""
    if not text or len(text) > 10:
        return None
    for ch in text:
        if ch not in "0123456789":
            return None
    value = int(text)
    return value if value <= top else None


def _parse_media(value):
    # m=<media> <port>[/<number of ports>] <proto> <fmt> ... (RFC 4566 5.14)
    parts = _text(value).split()
    if len(parts) < 3:
        raise SdpError("malformed m= line")
    port = _int(parts[1].partition("/")[0], 65535)
    if port is None:
        raise SdpError("bad port in m= line")
    media = Media(parts[0].lower(), port, parts[2].upper(), parts[3:])
    if media.proto in _RTP_PROTOS:
        for fmt in media.formats:
            pt = _int(fmt, 127)
            if pt is None:
                raise SdpError("bad RTP payload type in m= line")
            media.payload_types.append(pt)
    return media


def _parse_connection(value):
    # c=<nettype> <addrtype> <address>[/ttl][/count] (RFC 4566 5.7)
    parts = _text(value).split()
    if len(parts) != 3:
        raise SdpError("malformed c= line")
    if parts[0].upper() != "IN":
        raise SdpError("unsupported network type", 488)
    addrtype = parts[1].upper()
    if addrtype not in ("IP4", "IP6"):
        raise SdpError("unsupported address type", 488)
    address = parts[2].partition("/")[0]
    if not address:
        raise SdpError("malformed c= address")
    return addrtype, address


def _attribute(value, media, sdp):
    name, _sep, rest = value.partition(b":")
    try:
        name = name.decode().lower()
    except UnicodeError:
        return  # unknown attribute: ignored (RFC 4566 5.13)
    if name in _DIRECTIONS:
        if media is None:
            sdp.direction = name
        else:
            media.direction = name
        return
    if media is None:
        return
    if name == "rtpmap":
        # a=rtpmap:<pt> <encoding name>/<clock rate>[/<channels>] (RFC 4566 6)
        pt, _sep, spec = _text(rest).strip().partition(" ")
        pt = _int(pt, 127)
        fields = spec.strip().split("/")
        if pt is None or len(fields) < 2:
            return
        rate = _int(fields[1], 1000000)
        channels = _int(fields[2], 255) if len(fields) > 2 else 1
        if rate is None or not channels:
            return
        media.rtpmap[pt] = (fields[0].upper(), rate, channels)
    elif name == "fmtp":
        pt, _sep, params = _text(rest).strip().partition(" ")
        pt = _int(pt, 127)
        if pt is not None:
            media.fmtp[pt] = params.strip()
    elif name == "ptime":
        ptime = _int(_text(rest).strip(), 1000)
        if ptime:
            media.ptime = ptime


def parse(body):
    """Parse an SDP body (bytes) into an Sdp; SdpError when malformed."""
    if isinstance(body, str):
        body = body.encode()
    if len(body) > _MAX_BODY:
        raise SdpError("SDP body too large", 413)
    sdp = Sdp()
    media = None
    seen_version = False
    for line in bytes(body).split(b"\n"):
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line:
            continue  # tolerate blank lines (a trailing one is common)
        if len(line) < 2 or line[1:2] != b"=":
            raise SdpError("malformed SDP line")
        kind = line[0:1]
        value = line[2:]
        if not seen_version:
            # RFC 4566 5: an SDP description starts with v=0
            if kind != b"v" or value.strip() != b"0":
                raise SdpError("SDP must start with v=0")
            seen_version = True
        elif kind == b"m":
            if len(sdp.media) >= _MAX_MEDIA:
                raise SdpError("too many media streams", 488)
            media = _parse_media(value)
            sdp.media.append(media)
        elif kind == b"c":
            addrtype, address = _parse_connection(value)
            if media is None:
                sdp.addrtype, sdp.connection = addrtype, address
            else:
                media.addrtype, media.connection = addrtype, address
        elif kind == b"a":
            _attribute(value, media, sdp)
        elif kind == b"o":
            fields = _text(value).split()
            if len(fields) == 6:
                sdp.origin = tuple(fields)
        elif kind == b"t":
            fields = _text(value).split()
            if len(fields) == 2 and _int(fields[0], 9999999999) is not None \
                    and _int(fields[1], 9999999999) is not None:
                sdp.timing = fields[0] + " " + fields[1]
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
    addrtype = "IP6" if ":" in ip else "IP4"
    if session_id is None:
        session_id = _new_session_id()
    if session_version is None:
        session_version = session_id
    return ["v=0\r\no=doorsip %d %d IN %s %s\r\ns=doorsip\r\nc=IN %s %s\r\nt=%s\r\n"
            % (session_id, session_version, addrtype, ip, addrtype, ip, timing)]


def _audio_lines(lines, port, pts, names, dtmf_pt, dtmf_fmtp, ptime, direction):
    lines.append("m=audio %d RTP/AVP %s\r\n" % (port, " ".join([str(pt) for pt in pts])))
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
            _audio_lines(lines, port, pts, names, dtmf_pt, fmtp, ptime, ours)
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

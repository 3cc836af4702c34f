"""Rarely needed text forms, loaded on first use so the station's code heap does without
them: unescape (%HH, RFC 3261 25.1) and str() of Uri and NameAddr (uri.py calls in here)."""
from doorsip.sip.uri import NameAddr, _params_text


def unescape(text):
    """Decode %HH escapes (RFC 3261 25.1 'escaped'); a lone '%' stays literal."""
    if "%" not in text:
        return text
    out = bytearray()
    raw = text.encode()
    i = 0
    n = len(raw)
    while i < n:
        c = raw[i]
        if c == 37 and i + 2 < n:
            hexpair = raw[i + 1:i + 3]
            if not hexpair.strip(b"0123456789abcdefABCDEF"):
                out.append(int(hexpair, 16))
                i += 3
                continue
        out.append(c)
        i += 1
    try:
        return bytes(out).decode()
    except UnicodeError:
        return "".join(chr(c) if c < 128 else "?" for c in out)


def text_of(obj):
    """str(Uri) or str(NameAddr)."""
    return _name_addr_text(obj) if isinstance(obj, NameAddr) else _uri_text(obj)


def _uri_text(uri):
    if uri.opaque is not None:
        return uri.scheme + ":" + uri.opaque
    out = uri.scheme + ":"
    if uri.user is not None:
        out += uri.user
        if uri.password is not None:
            out += ":" + uri.password
        out += "@"
    out += uri.hostport() + _params_text(uri.params, None)
    if uri.headers:
        out += "?" + "&".join(k + "=" + v for k, v in uri.headers.items())
    return out


def _name_addr_text(addr):
    out = "<" + addr.uri + ">"
    if addr.display:
        out = '"' + addr.display.replace("\\", "\\\\").replace('"', '\\"') + '" ' + out
    return out + _params_text(addr.params, "tag")

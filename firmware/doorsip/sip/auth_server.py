"""SIP digest authentication, verifier side (RFC 3261 22.4, RFC 2617, RFC 7616):
for registrars in tests and `doorsip check`. Reached through doorsip.sip.auth
(its names load this module on first use), so the station never loads it.

- make_challenge(realm, nonce=None, algorithm="MD5", qop="auth", opaque=None,
  stale=False) -> str: a WWW-Authenticate / Proxy-Authenticate value.
- new_nonce() -> str (hex, random).
- check_authorization(value, method, password_for_user, realm, nonce_ok=None,
  body=b"", uri=None) -> user str or None: verifies an Authorization value.
  password_for_user: a dict or a callable user -> password or None.
"""
from doorsip.compat import hash_hex, random_bytes
from doorsip.sip.auth import (_ALGORITHMS, AuthError, _quote, digest_response,
                              parse_challenge)


def new_nonce():
    """A fresh random nonce (hex)."""
    return hash_hex("md5", random_bytes(16))


def make_challenge(realm, nonce=None, algorithm="MD5", qop="auth", opaque=None, stale=False):
    """A challenge header value, for registrars in tests and `doorsip check`."""
    parts = ["Digest realm="]
    _quote(parts, realm)
    parts.append(", nonce=")
    _quote(parts, nonce or new_nonce())
    parts += (", algorithm=", algorithm)
    if qop:
        parts.append(", qop=")
        _quote(parts, qop)
    if opaque is not None:
        parts.append(", opaque=")
        _quote(parts, opaque)
    if stale:
        parts.append(", stale=true")
    return "".join(parts)


def check_authorization(value, method, password_for_user, realm, nonce_ok=None,
                        body=b"", uri=None):
    """Verify an Authorization value; the user name when it is right, else None.

    password_for_user: dict or callable user -> password (None: unknown user);
    nonce_ok: callable nonce -> bool (None accepts any nonce); uri: when given,
    the credentials' uri must equal it (RFC 7616 3.4.6)."""
    try:
        creds = parse_challenge(value)
    except AuthError:
        return None
    if creds["scheme"] != "Digest" or creds["realm"] != realm:
        return None
    user = creds.get("username")
    given = creds.get("response")
    digest_uri = creds.get("uri")
    nonce = creds["nonce"]
    if not user or not given or digest_uri is None or not nonce:
        return None
    if uri is not None and digest_uri != uri:
        return None
    if nonce_ok is not None and not nonce_ok(nonce):
        return None
    if creds["algorithm"] not in _ALGORITHMS:
        return None
    if callable(password_for_user):
        password = password_for_user(user)
    else:
        password = password_for_user.get(user)
    if password is None:
        return None
    qop = creds["qop"][0] if creds["qop"] else None
    if qop not in (None, "auth", "auth-int"):
        return None
    nc = creds.get("nc")
    cnonce = creds.get("cnonce")
    if qop and (not nc or not cnonce):
        return None
    expected = digest_response(creds["algorithm"], user, realm, password, method,
                               digest_uri, nonce, qop, nc, cnonce, body)
    if expected != given.lower():
        return None
    return user

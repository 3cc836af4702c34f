"""SIP digest authentication, client side (RFC 3261 22, RFC 2617, RFC 7616, RFC 8760).

Public API (all text values are str):
- parse_challenges(value) -> list of dicts; parse_challenge(value) -> dict (the first).
  A dict has "scheme" ("Digest" for digest, else as sent), "realm", "nonce",
  "algorithm" (upper case, "MD5" when absent), "qop" (list of lower-case tokens),
  "opaque" (str or None), "stale" (bool), "userhash" (bool), and, when present,
  "domain", "charset", "username", "uri", "response", "cnonce", "nc" (other
  parameters are skipped; at most 8 challenges per value are read).
- digest_response(algorithm, username, realm, password, method, uri, nonce,
  qop=None, nc=None, cnonce=None, body=b"") -> hex str: the request-digest.
- class DigestClient(auth_user, password):
    authorize(response, method, uri, body=b"") -> (header_name, header_value) or None
      response: a 401/407 message (.status, .header(name), .headers(name));
      header_name is "Authorization" (401) or "Proxy-Authorization" (407).
      None: nothing we can answer, or the challenge answers the very request
      that carried our credentials (same Call-ID, CSeq one higher than the
      challenge we answered) and is not stale: wrong credentials, give up.
      Without Call-ID/CSeq headers any repeated non-stale challenge in a realm
      gives up. At most 3 stale retries in a row. qop: "auth" when offered,
      else "auth-int" (body hashed); none: the RFC 2069 form. Algorithm: the
      strongest offered per realm, SHA-256 > SHA-256-sess > MD5 > MD5-sess
      (-sess with a hex H(A1), RFC 7616 3.4.2).
    authorize_all(...) -> list of (header_name, header_value), one per realm
      (RFC 3261 22.3: forking proxies may each add a challenge).
    note_response(response): optional; a final status other than 401/407 to a
      request that carried credentials clears the failure memory.
    reset(): forget failures.
    preauthorize(method, uri, body=b"") -> (header_name, header_value) or None:
      credentials for the next request from the last challenge, nc incremented
      (RFC 7616 3.4: saves the 401 round trip on a refresh).
  The same as functions on plain data, for the user agent, which imports this module
  only to answer a challenge and forgets it again: client = [auth_user, password, {},
  None] (DigestClient(...).client), then authorize_all(client, response, method, uri,
  body=b""), preauthorize(client, method, uri, body=b""), note_response(client,
  response), reset(client).
- AuthError(ValueError): malformed challenge or credentials text.
- The verifier side lives in sip/auth_server.py and is loaded on first use of
  these names here (the station itself never verifies):
  make_challenge(realm, nonce=None, algorithm="MD5", qop="auth", opaque=None,
  stale=False) -> str; new_nonce() -> str; check_authorization(value, method,
  password_for_user, realm, nonce_ok=None, body=b"", uri=None) -> user or None.
"""
from doorsip.compat import const, hash_hex, random_bytes

# Hash name in hashlib and the rank used to choose among several challenges:
# SHA-256 before MD5 (RFC 8760 3: a UAC should prefer the strongest), the plain
# form before -sess at equal hash (it is the one servers implement most).
# SHA-512-256 is not in MicroPython's hashlib, so it is not offered.
_ALGORITHMS = {
    "MD5": ("md5", 2),
    "MD5-SESS": ("md5", 1),
    "SHA-256": ("sha256", 4),
    "SHA-256-SESS": ("sha256", 3),
}

# Consecutive stale=true challenges answered in one realm before giving up, so a
# registrar that calls every nonce stale cannot make us loop (RFC 7616 3.3).
_MAX_STALE = const(3)
# Challenges parsed from one header value; a server sends one per algorithm.
_MAX_CHALLENGES = const(8)
# Calls (Call-IDs) per realm whose challenge we remember at once.
_MAX_TRACKED = const(8)
# Longest challenge or credentials text parsed; a header is far shorter.
_MAX_TEXT = const(4096)

# What we remember per realm, in a list (plain data the user agent keeps, see _USER):
# the challenge in use, its nonce count and cnonce, the challenges answered since
# the last success (Call-ID -> CSeq number, -1 when unknown), stale retries in a row.
_CHALLENGE = const(0)
_NC = const(1)
_CNONCE = const(2)
_TRIED = const(3)
_STALE = const(4)


class AuthError(ValueError):
    """Malformed challenge or credentials."""


_SPACES = b" \t\r\n"
# RFC 3261 25.1 separators: a token is any run of other visible characters.
_SEPARATORS = b' \t\r\n,=;"()<>@:\\/[]?{}'
# The parameters of challenges (RFC 7616 3.3) and credentials (3.4) we use;
# others are skipped without being stored, which bounds the memory a hostile
# header can take.
_PARAMS = ("realm", "nonce", "algorithm", "qop", "opaque", "stale", "userhash", "domain",
           "charset", "username", "uri", "response", "cnonce", "nc")


def __getattr__(name):
    # PEP 562 (MicroPython too): the verifier's names, loaded on first use.
    if name in ("make_challenge", "new_nonce", "check_authorization"):
        from doorsip.sip import auth_server
        return getattr(auth_server, name)
    raise AttributeError(name)


def _decode(data):
    try:
        return data.decode()
    except UnicodeError:
        raise AuthError("auth header not UTF-8")


def _skip_spaces(data, i, n):
    while i < n and data[i] in _SPACES:
        i += 1
    return i


def _quoted(data, i, n, keep):
    """The quoted-string at data[i] == '"' (RFC 3261 25.1): (str or None, next index)."""
    i += 1
    start = i
    escapes = 0
    while i < n:
        c = data[i]
        if c == 92:  # quoted-pair: the next byte stands for itself
            escapes += 1
            i += 2
            continue
        if c == 34:
            break
        i += 1
    if i >= n:
        raise AuthError("unterminated quote")
    if not keep:
        return None, i + 1
    if not escapes:
        return _decode(data[start:i]), i + 1
    # drop the backslashes in place, in one copy of the value
    out = bytearray(data[start:i])
    r = w = 0
    while r < len(out):
        if out[r] == 92:
            r += 1
        out[w] = out[r]
        w += 1
        r += 1
    return _decode(bytes(memoryview(out)[:w])), i + 1


def parse_challenges(value):
    """Every challenge (or credentials) in a header value; list of dicts."""
    try:
        data = value.encode() if isinstance(value, str) else bytes(value)
        n = len(data)
        if n > _MAX_TEXT:
            raise AuthError("auth header too long")
        found = []
        current = None
        i = 0
        # Scanned by index over bytes: no per-character objects, and only the
        # values of known parameters are copied out.
        while i < n:
            c = data[i]
            if c in _SPACES or c == 44:
                i += 1
                continue
            end = i
            while end < n and data[end] > 32 and data[end] != 127 and data[end] not in _SEPARATORS:
                end += 1
            if end == i:
                raise AuthError("bad character in auth header")
            j = _skip_spaces(data, end, n)
            if j < n and data[j] == 61:
                # auth-param = token "=" ( token / quoted-string )
                if current is None:
                    raise AuthError("parameter before scheme")
                key = None
                if end - i <= 9:
                    try:
                        key = data[i:end].decode().lower()
                    except UnicodeError:
                        pass
                    if key not in _PARAMS:
                        key = None
                j = _skip_spaces(data, j + 1, n)
                if j < n and data[j] == 34:
                    param, j = _quoted(data, j, n, key is not None)
                else:
                    k = j
                    while k < n and data[k] not in _SPACES and data[k] != 44:
                        k += 1
                    param = _decode(data[j:k]) if key is not None else None
                    j = k
                if key is not None:
                    current[key] = param
                i = j
                continue
            # a token not followed by "=" starts a new challenge (its scheme)
            if len(found) >= _MAX_CHALLENGES:
                break  # more challenges than any server sends: the rest is ignored
            current = {"scheme": _decode(data[i:end])}
            found.append(current)
            i = end
        if not found:
            raise AuthError("empty auth header")
        for params in found:
            if params["scheme"].lower() == "digest":
                params["scheme"] = "Digest"
            params["algorithm"] = params.get("algorithm", "MD5").upper()
            qop = params.get("qop")
            params["qop"] = [] if qop is None else [
                q.strip().lower() for q in qop.split(",") if q.strip()]
            params["stale"] = params.get("stale", "").lower() == "true"
            params["userhash"] = params.get("userhash", "").lower() == "true"
            params.setdefault("opaque", None)
            params.setdefault("realm", "")
            params.setdefault("nonce", "")
        return found
    except MemoryError:
        raise AuthError("out of memory")


def parse_challenge(value):
    """The first challenge of a WWW-Authenticate / Proxy-Authenticate value."""
    return parse_challenges(value)[0]


def _h(name, text):
    return hash_hex(name, text.encode())


def digest_response(algorithm, username, realm, password, method, uri, nonce,
                    qop=None, nc=None, cnonce=None, body=b""):
    """The request-digest (RFC 2617 3.2.2.1, RFC 7616 3.4.1) as lower-case hex."""
    spec = _ALGORITHMS.get(algorithm.upper())
    if spec is None:
        raise AuthError("unsupported algorithm " + algorithm)
    hash_name = spec[0]
    if qop and (nc is None or cnonce is None):
        raise AuthError("qop needs nc and cnonce")
    ha1 = _h(hash_name, "%s:%s:%s" % (username, realm, password))
    if algorithm.upper().endswith("-SESS"):
        # RFC 2617 3.2.2.2: the session key binds nonce and cnonce; H(A1) enters
        # as hex, as RFC 7616 3.4.2 writes it (RFC 2617's sample code, and
        # Kamailio after it, hash the binary digest instead)
        ha1 = _h(hash_name, "%s:%s:%s" % (ha1, nonce, cnonce or ""))
    if qop == "auth-int":
        ha2 = _h(hash_name, "%s:%s:%s" % (method, uri, hash_hex(hash_name, bytes(body))))
    else:
        ha2 = _h(hash_name, "%s:%s" % (method, uri))
    if qop:
        return _h(hash_name, "%s:%s:%s:%s:%s:%s" % (ha1, nonce, nc, cnonce, qop, ha2))
    # RFC 2069 compatibility: no qop, no cnonce/nc in the digest
    return _h(hash_name, "%s:%s:%s" % (ha1, nonce, ha2))


def _quote(out, text):
    # Appends a quoted-string; the pieces are joined once by the caller, so a
    # long value is not copied once per concatenation.
    if '"' in text or "\\" in text:
        text = text.replace("\\", "\\\\").replace('"', '\\"')
    out += ('"', text, '"')


def _choose_qop(qop):
    # "auth" is what every SIP server implements; auth-int only when it is all
    # that is offered (RFC 2617 3.2.1: the client picks one of the offered).
    if not qop:
        return None
    if "auth" in qop:
        return "auth"
    if "auth-int" in qop:
        return "auth-int"
    return False  # only unknown qop values: cannot answer


# The client's state is plain data (a list), so that the user agent can keep it while
# this module is imported only for a challenge and dropped again (compat.forget):
# [auth_user, password, {realm: per-realm list, see _CHALLENGE.._STALE},
#  (header_name, realm) of the last challenge answered, or None].
_USER = const(0)
_PASSWORD = const(1)
_REALMS = const(2)
_LAST = const(3)


def reset(client):
    """Forget failures: the next challenge in any realm is answered again."""
    for state in client[_REALMS].values():
        state[_TRIED].clear()
        state[_STALE] = 0


def note_response(client, response):
    """Feed the final response to a request that carried credentials."""
    status = response.status
    if status is not None and 200 <= status and status not in (401, 407):
        reset(client)


def authorize_all(client, response, method, uri, body=b""):
    """A credentials header for every realm challenged in response (may be [])."""
    status = response.status
    if status == 401:
        values, header_name = response.headers("WWW-Authenticate"), "Authorization"
    elif status == 407:
        values, header_name = response.headers("Proxy-Authenticate"), "Proxy-Authorization"
    else:
        return []
    if not values:
        return []
    # headers() may have split a challenge at its commas: joining again
    # gives back the same challenge list (RFC 7235 4.1 list syntax).
    try:
        challenges = parse_challenges(values[0] if len(values) == 1 else ", ".join(values))
    except AuthError:
        return []
    # Per realm, the strongest challenge we can compute (RFC 8760 2.4: one
    # realm may offer several algorithms, listed in the server's order).
    best = {}
    order = []
    for ch in challenges:
        spec = _ALGORITHMS.get(ch["algorithm"])
        if ch["scheme"] != "Digest" or not ch["nonce"] or spec is None \
                or _choose_qop(ch["qop"]) is False:
            continue
        realm = ch["realm"]
        have = best.get(realm)
        if have is None:
            order.append(realm)
        elif spec[1] <= _ALGORITHMS[have["algorithm"]][1]:
            continue
        best[realm] = ch
    # The request this answers: (Call-ID, CSeq number); None parts unknown.
    call_id = response.header("Call-ID")
    fields = (response.header("CSeq") or "").split()
    number = None
    if fields and len(fields[0]) <= 10 and fields[0].isdigit():
        number = int(fields[0])
    # RFC 3261 8.1.3.5 / 22.2: the request resent with credentials keeps the
    # Call-ID and takes the next CSeq. A challenge to exactly that request
    # means the credentials were refused; one for a later request of the same
    # registration or dialog, or for another call, is a fresh challenge.
    # Without Call-ID/CSeq every repeated challenge counts as a refusal.
    realms = client[_REALMS]
    retry = {}
    for realm in order:
        state = realms.get(realm)
        tried = state[_TRIED] if state else {}
        if call_id is None or number is None:
            again = bool(tried)
        else:
            previous = tried.get(call_id)
            again = previous is not None and (previous < 0 or number == previous + 1)
        # RFC 3261 22.2 / RFC 7616 3.3: a new challenge to our credentials
        # means they were wrong, unless only the nonce expired (stale).
        # Decided for every realm first, so that a refusal changes no state.
        if again and (not best[realm]["stale"] or state[_STALE] >= _MAX_STALE):
            return []
        retry[realm] = again
    result = []
    for realm in order:
        ch = best[realm]
        state = realms.get(realm)
        if state is None:
            state = realms[realm] = [None, 0, None, {}, 0]
        state[_STALE] = state[_STALE] + 1 if retry[realm] else 0
        tried = state[_TRIED]
        if len(tried) >= _MAX_TRACKED and call_id not in tried:
            tried.clear()  # bounded memory; the UA caps its retries too
        tried[call_id] = -1 if number is None else number
        if state[_CHALLENGE] is None or state[_CHALLENGE]["nonce"] != ch["nonce"]:
            # nc counts requests per nonce (RFC 7616 3.4): restart with a new nonce
            state[_NC] = 0
            state[_CNONCE] = hash_hex("md5", random_bytes(12))[:16]
        state[_CHALLENGE] = ch
        result.append((header_name, _credentials(client, state, method, uri, body)))
        client[_LAST] = (header_name, realm)
    return result


def preauthorize(client, method, uri, body=b""):
    """Credentials for a new request from the last challenge (nc + 1), or None."""
    if client[_LAST] is None:
        return None
    header_name, realm = client[_LAST]
    return header_name, _credentials(client, client[_REALMS][realm], method, uri, body)


def _credentials(client, state, method, uri, body):
    ch = state[_CHALLENGE]
    qop = _choose_qop(ch["qop"])
    algorithm = ch["algorithm"]
    realm = ch["realm"]
    state[_NC] += 1
    nc = "%08x" % state[_NC]
    cnonce = state[_CNONCE]
    username = client[_USER]
    response = digest_response(algorithm, username, realm, client[_PASSWORD],
                               method, uri, ch["nonce"], qop, nc, cnonce, body)
    if ch["userhash"]:
        # RFC 7616 3.4.4: the username travels hashed with the realm
        username = _h(_ALGORITHMS[algorithm][0], username + ":" + realm)
    parts = ["Digest username="]
    _quote(parts, username)
    parts.append(", realm=")
    _quote(parts, realm)
    parts.append(", nonce=")
    _quote(parts, ch["nonce"])
    parts.append(", uri=")
    _quote(parts, uri)
    parts.append(", response=")
    _quote(parts, response)
    parts += (", algorithm=", algorithm)
    if qop:
        parts += (", qop=", qop, ", nc=", nc)
    if qop or algorithm.endswith("-SESS"):
        parts.append(", cnonce=")
        _quote(parts, cnonce)
    if ch["opaque"] is not None:
        parts.append(", opaque=")
        _quote(parts, ch["opaque"])
    if ch["userhash"]:
        parts.append(", userhash=true")
    return "".join(parts)


class DigestClient:
    """Answers digest challenges with one set of credentials (see module docstring):
    the functions above on its .client list."""

    def __init__(self, auth_user, password):
        self.client = [auth_user, password, {}, None]

    def reset(self):
        reset(self.client)

    def note_response(self, response):
        note_response(self.client, response)

    def authorize(self, response, method, uri, body=b""):
        """(header_name, header_value) answering the best challenge, or None."""
        found = authorize_all(self.client, response, method, uri, body)
        return found[0] if found else None

    def authorize_all(self, response, method, uri, body=b""):
        return authorize_all(self.client, response, method, uri, body)

    def preauthorize(self, method, uri, body=b""):
        return preauthorize(self.client, method, uri, body)

# Digest authentication: RFC 2617 / RFC 7616 worked examples, challenge parsing,
# the client's retry/give-up logic and the server-side verifier.
import hashlib
from binascii import hexlify

from support import raises
from doorsip.sip import auth
from doorsip.sip.auth import (AuthError, DigestClient, check_authorization, digest_response,
                              make_challenge, parse_challenge, parse_challenges)


def _hex(name, text):
    # Independent of the module under test: hashlib directly.
    if isinstance(text, str):
        text = text.encode()
    return hexlify(getattr(hashlib, name)(text).digest()).decode()


def _split_outside_quotes(value):
    # What a SIP parser may do to a comma-list header: split at commas outside quotes.
    out = []
    start = 0
    quoted = False
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and quoted:
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            out.append(value[start:i].strip())
            start = i + 1
        i += 1
    out.append(value[start:].strip())
    return out


class FakeResponse:
    """Duck-typed Message: .status, .header(name), .headers(name)."""

    def __init__(self, status, headers, split=False):
        self.status = status
        self._headers = headers
        self._split = split

    def headers(self, name):
        found = []
        for key, value in self._headers:
            if key.lower() == name.lower():
                found += _split_outside_quotes(value) if self._split else [value]
        return found

    def header(self, name):
        found = self.headers(name)
        return found[0] if found else None


# RFC 2617 section 3.5
RFC2617_CHALLENGE = ('Digest realm="testrealm@host.com", qop="auth,auth-int", '
                     'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
                     'opaque="5ccc069c403ebaf9f0171e9517f40e41"')

# RFC 7616 section 3.9.1
RFC7616_REALM = "http-auth@example.org"
RFC7616_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
RFC7616_OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"


def test_rfc2617_worked_example():
    ch = parse_challenge(RFC2617_CHALLENGE)
    assert ch["scheme"] == "Digest"
    assert ch["realm"] == "testrealm@host.com"
    assert ch["qop"] == ["auth", "auth-int"]
    assert ch["algorithm"] == "MD5" and ch["stale"] is False
    got = digest_response("MD5", "Mufasa", ch["realm"], "Circle Of Life", "GET",
                          "/dir/index.html", ch["nonce"], "auth", "00000001", "0a4f113b")
    assert got == "6629fae49393a05397450978507c4ef1"


def test_rfc7616_md5_and_sha256_examples():
    md5 = digest_response("MD5", "Mufasa", RFC7616_REALM, "Circle of Life", "GET",
                          "/dir/index.html", RFC7616_NONCE, "auth", "00000001", RFC7616_CNONCE)
    assert md5 == "8ca523f5e9506fed4657c9700eebdbec"
    sha = digest_response("SHA-256", "Mufasa", RFC7616_REALM, "Circle of Life", "GET",
                          "/dir/index.html", RFC7616_NONCE, "auth", "00000001", RFC7616_CNONCE)
    assert sha == "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"


def test_digest_matches_hand_composed_hashes():
    # Every variant composed by hand with hashlib: RFC 2617 3.2.2 / RFC 7616 3.4.
    user, realm, pw, nonce, cnonce, nc = "door100", "pbx.example.org", "s3cr\"t", "abc", "xyz", "0000000a"
    uri, body = "sip:pbx.example.org", b"v=0\r\n"
    for alg, h in (("MD5", "md5"), ("SHA-256", "sha256")):
        ha1 = _hex(h, user + ":" + realm + ":" + pw)
        ha2 = _hex(h, "REGISTER:" + uri)
        want = _hex(h, ha1 + ":" + nonce + ":" + nc + ":" + cnonce + ":auth:" + ha2)
        assert digest_response(alg, user, realm, pw, "REGISTER", uri, nonce, "auth", nc, cnonce) == want
        # no qop (RFC 2069 form)
        want = _hex(h, ha1 + ":" + nonce + ":" + ha2)
        assert digest_response(alg, user, realm, pw, "REGISTER", uri, nonce) == want
        # -sess: A1 carries nonce and cnonce
        sess = _hex(h, ha1 + ":" + nonce + ":" + cnonce)
        want = _hex(h, sess + ":" + nonce + ":" + nc + ":" + cnonce + ":auth:" + ha2)
        assert digest_response(alg + "-sess", user, realm, pw, "REGISTER", uri, nonce,
                               "auth", nc, cnonce) == want
        # auth-int: A2 carries H(entity-body)
        ha2i = _hex(h, "INVITE:" + uri + ":" + _hex(h, body))
        want = _hex(h, ha1 + ":" + nonce + ":" + nc + ":" + cnonce + ":auth-int:" + ha2i)
        assert digest_response(alg, user, realm, pw, "INVITE", uri, nonce, "auth-int", nc,
                               cnonce, body) == want


def test_unsupported_algorithm_and_missing_nc_raise():
    raises(AuthError, digest_response, "SHA-512-256", "u", "r", "p", "GET", "/", "n")
    raises(AuthError, digest_response, "MD5", "u", "r", "p", "GET", "/", "n", "auth")


def test_parse_quoted_escapes_tokens_and_case():
    ch = parse_challenge('digest REALM="a \\"quoted\\" realm, with comma", NONCE=abc123,'
                         'algorithm=sha-256 , stale=TRUE,opaque=""')
    assert ch["scheme"] == "Digest"
    assert ch["realm"] == 'a "quoted" realm, with comma'
    assert ch["nonce"] == "abc123"
    assert ch["algorithm"] == "SHA-256"
    assert ch["stale"] is True
    assert ch["opaque"] == ""
    assert ch["qop"] == []


def test_parse_several_challenges_in_one_value():
    found = parse_challenges('Digest realm="r", nonce="1", algorithm=MD5, '
                             'Digest realm="r", nonce="2", algorithm=SHA-256, qop="auth"'
                             ', Basic realm="r"')
    assert [c["nonce"] for c in found[:2]] == ["1", "2"]
    assert found[1]["algorithm"] == "SHA-256" and found[1]["qop"] == ["auth"]
    assert found[2]["scheme"] == "Basic"


def test_parse_bounds_hostile_headers():
    many = parse_challenges("Digest " + ", ".join(['p%d="v"' % i for i in range(100)]) + ', nonce="n"')
    assert len(many) == 1 and many[0]["nonce"] == "n" and "p1" not in many[0]
    schemes = parse_challenges(", ".join(['Digest realm="r%d", nonce="%d"' % (i, i) for i in range(20)]))
    assert [c["realm"] for c in schemes] == ["r%d" % i for i in range(8)]
    escaped = parse_challenge('Digest realm="' + '\\"' * 500 + '\\\\x", nonce=n')
    assert escaped["realm"] == '"' * 500 + "\\x" and escaped["nonce"] == "n"
    # UTF-8 realms, as str or as bytes
    assert parse_challenge('Digest realm="S\u00e4ule"')["realm"] == "S\u00e4ule"
    assert parse_challenge(b'Digest realm="S\xc3\xa4ule"')["realm"] == "S\u00e4ule"


def test_parse_malformed_raises_autherror_only():
    for bad in ('', '   ', 'Digest realm="unterminated', 'realm="x"', 'Digest realm="x\\',
                'Digest (x)', b'Digest realm="\xff"', "Digest realm=" + "a" * 5000):
        raises(AuthError, parse_challenges, bad)


def _client_header(challenges, status=401, split=False, user="door100", pw="secret",
                   method="REGISTER", uri="sip:pbx.example.org", body=b""):
    name = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
    resp = FakeResponse(status, [(name, c) for c in challenges], split)
    client = DigestClient(user, pw)
    return client, client.authorize(resp, method, uri, body)


def _verify_by_hand(value, method, pw, body=b""):
    # Recompute the client's response from its own header fields, with hashlib.
    creds = parse_challenge(value)
    h = {"MD5": "md5", "SHA-256": "sha256", "MD5-SESS": "md5", "SHA-256-SESS": "sha256"}[creds["algorithm"]]
    ha1 = _hex(h, creds["username"] + ":" + creds["realm"] + ":" + pw)
    if creds["algorithm"].endswith("-SESS"):
        ha1 = _hex(h, ha1 + ":" + creds["nonce"] + ":" + creds["cnonce"])
    qop = creds["qop"][0]
    a2 = method + ":" + creds["uri"]
    if qop == "auth-int":
        a2 += ":" + _hex(h, body)
    want = _hex(h, ha1 + ":" + creds["nonce"] + ":" + creds["nc"] + ":" + creds["cnonce"] + ":" +
                qop + ":" + _hex(h, a2))
    assert creds["response"] == want
    return creds


def test_client_answers_401_with_authorization():
    for split in (False, True):
        client, got = _client_header(['Digest realm="pbx", nonce="n1", qop="auth", opaque="op,aque"'],
                                     split=split)
        name, value = got
        assert name == "Authorization"
        creds = _verify_by_hand(value, "REGISTER", "secret")
        assert creds["username"] == "door100" and creds["realm"] == "pbx"
        assert creds["nc"] == "00000001" and len(creds["cnonce"]) >= 8
        assert creds["opaque"] == "op,aque" and creds["uri"] == "sip:pbx.example.org"
        assert creds["algorithm"] == "MD5"


def test_client_answers_407_with_proxy_authorization_auth_int():
    body = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"
    client, got = _client_header(['Digest realm="proxy", nonce="p", qop="auth-int"'], status=407,
                                 method="INVITE", uri="sip:flat@pbx", body=body)
    assert got[0] == "Proxy-Authorization"
    creds = _verify_by_hand(got[1], "INVITE", "secret", body)
    assert creds["qop"] == ["auth-int"]


def test_client_prefers_sha256_and_plain_over_sess():
    challenges = ['Digest realm="r", nonce="a", algorithm=MD5, qop="auth"',
                  'Digest realm="r", nonce="b", algorithm=SHA-256-sess, qop="auth"',
                  'Digest realm="r", nonce="c", algorithm=SHA-256, qop="auth"',
                  'Digest realm="r", nonce="d", algorithm=SHA-512-256, qop="auth"']
    for split in (False, True):
        _c, got = _client_header(challenges, split=split)
        creds = _verify_by_hand(got[1], "REGISTER", "secret")
        assert creds["algorithm"] == "SHA-256" and creds["nonce"] == "c"
    _c, got = _client_header(challenges[:2])
    creds = _verify_by_hand(got[1], "REGISTER", "secret")
    assert creds["algorithm"] == "SHA-256-SESS" and creds["nonce"] == "b"
    _c, got = _client_header(['Digest realm="r", nonce="s", algorithm=MD5-sess, qop="auth"'])
    assert _verify_by_hand(got[1], "REGISTER", "secret")["algorithm"] == "MD5-SESS"


def test_client_without_qop_sends_rfc2069_form():
    _c, got = _client_header(['Digest realm="r", nonce="n"'])
    creds = parse_challenge(got[1])
    assert "nc" not in creds and "cnonce" not in creds and creds["qop"] == []
    ha1 = _hex("md5", "door100:r:secret")
    assert creds["response"] == _hex("md5", ha1 + ":n:" + _hex("md5", "REGISTER:sip:pbx.example.org"))


def test_client_unusable_challenges_give_none():
    assert _client_header(['Digest realm="r", nonce="n", algorithm=SHA-512-256'])[1] is None
    assert _client_header(['Basic realm="r"'])[1] is None
    assert _client_header(['Digest realm="r", nonce="n", qop="fancy"'])[1] is None
    assert _client_header(['Digest realm="r", nonce="unterminated'])[1] is None
    client = DigestClient("u", "p")
    assert client.authorize(FakeResponse(200, []), "REGISTER", "sip:x") is None
    assert client.authorize(FakeResponse(401, []), "REGISTER", "sip:x") is None


def test_auth_user_distinct_from_sip_user():
    # 3CX / Fritz!Box: the digest username is the auth id, not the SIP user part.
    client = DigestClient("620", "pw")
    resp = FakeResponse(401, [("WWW-Authenticate", 'Digest realm="fritz.box", nonce="x"')])
    name, value = client.authorize(resp, "REGISTER", "sip:fritz.box")
    assert parse_challenge(value)["username"] == "620"


def test_second_non_stale_challenge_gives_up_until_success():
    client = DigestClient("door100", "wrong")
    first = FakeResponse(401, [("WWW-Authenticate", 'Digest realm="r", nonce="1", qop="auth"')])
    second = FakeResponse(401, [("WWW-Authenticate", 'Digest realm="r", nonce="2", qop="auth"')])
    assert client.authorize(first, "REGISTER", "sip:r") is not None
    assert client.authorize(second, "REGISTER", "sip:r") is None
    assert client.authorize(second, "REGISTER", "sip:r") is None
    # a success (any final response but 401/407) re-arms the realm, e.g. for a refresh
    client.note_response(FakeResponse(401, []))
    assert client.authorize(second, "REGISTER", "sip:r") is None
    client.note_response(FakeResponse(200, []))
    assert client.authorize(second, "REGISTER", "sip:r") is not None


def _challenge(call_id, cseq, nonce, method="REGISTER", stale=False, status=401):
    name = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
    value = 'Digest realm="r", nonce="%s", qop="auth"%s' % (nonce, ", stale=true" if stale else "")
    return FakeResponse(status, [("Call-ID", call_id), ("CSeq", "%d %s" % (cseq, method)),
                                 (name, value)])


def test_refusal_is_a_challenge_to_the_retried_request():
    client = DigestClient("door100", "secret")
    assert client.authorize(_challenge("reg", 1, "a"), "REGISTER", "sip:r") is not None
    # the retry (CSeq 2) challenged again: wrong credentials
    assert client.authorize(_challenge("reg", 2, "b"), "REGISTER", "sip:r") is None
    # a later refresh of the same registration is a fresh challenge, answered once
    assert client.authorize(_challenge("reg", 3, "c"), "REGISTER", "sip:r") is not None
    assert client.authorize(_challenge("reg", 4, "d"), "REGISTER", "sip:r") is None
    # ...unless only the nonce went stale
    assert client.authorize(_challenge("reg", 5, "e"), "REGISTER", "sip:r") is not None
    assert client.authorize(_challenge("reg", 6, "f", stale=True), "REGISTER", "sip:r") is not None


def test_new_call_or_later_request_in_dialog_is_answered():
    # One client serves the registration and every call (one per UA).
    client = DigestClient("door100", "secret")
    invite = client.authorize(_challenge("call-1", 1, "x", "INVITE", status=407), "INVITE", "sip:f@r")
    assert invite[0] == "Proxy-Authorization"
    # the call was answered; no note_response: a second call is still challenged fine
    assert client.authorize(_challenge("call-2", 1, "y", "INVITE", status=407),
                            "INVITE", "sip:f@r") is not None
    # and a BYE of the first call (CSeq 3) challenged by the proxy too
    bye = client.authorize(_challenge("call-1", 3, "z", "BYE", status=407), "BYE", "sip:f@h")
    assert parse_challenge(bye[1])["nonce"] == "z"
    # a challenge to the retried INVITE of call 2 (CSeq 2): refused
    assert client.authorize(_challenge("call-2", 2, "w", "INVITE", status=407),
                            "INVITE", "sip:f@r") is None


def test_refusal_in_one_realm_changes_no_state():
    client = DigestClient("u", "p")
    first = FakeResponse(401, [("Call-ID", "c"), ("CSeq", "1 REGISTER"),
                               ("WWW-Authenticate", 'Digest realm="a", nonce="1"')])
    client.authorize(first, "REGISTER", "sip:x")
    both = FakeResponse(401, [("Call-ID", "c"), ("CSeq", "2 REGISTER"),
                              ("WWW-Authenticate", 'Digest realm="b", nonce="2"'),
                              ("WWW-Authenticate", 'Digest realm="a", nonce="3"')])
    assert client.authorize_all(both, "REGISTER", "sip:x") == []
    name, value = client.preauthorize("REGISTER", "sip:x")
    creds = parse_challenge(value)
    assert (creds["realm"], creds["nonce"]) == ("a", "1")


def test_stale_challenge_retries_with_new_nonce_and_fresh_nc():
    client = DigestClient("door100", "secret")
    first = FakeResponse(401, [("WWW-Authenticate", 'Digest realm="r", nonce="1", qop="auth"')])
    stale = FakeResponse(401, [("WWW-Authenticate", 'Digest realm="r", nonce="2", qop="auth", stale=true')])
    a = parse_challenge(client.authorize(first, "REGISTER", "sip:r")[1])
    b = parse_challenge(client.authorize(stale, "REGISTER", "sip:r")[1])
    assert a["nonce"] == "1" and b["nonce"] == "2" and b["nc"] == "00000001"
    assert a["cnonce"] != b["cnonce"]
    _verify_by_hand(client.authorize(stale, "REGISTER", "sip:r")[1], "REGISTER", "secret")
    # a server that calls everything stale cannot keep us looping
    results = [client.authorize(stale, "REGISTER", "sip:r") for _ in range(5)]
    assert results[-1] is None


def test_nc_increments_per_nonce_with_preauthorize():
    client = DigestClient("door100", "secret")
    assert client.preauthorize("REGISTER", "sip:r") is None
    resp = FakeResponse(407, [("Proxy-Authenticate", 'Digest realm="r", nonce="1", qop="auth"')])
    first = parse_challenge(client.authorize(resp, "INVITE", "sip:a@r")[1])
    name, value = client.preauthorize("BYE", "sip:a@r")
    assert name == "Proxy-Authorization"
    second = _verify_by_hand(value, "BYE", "secret")
    third = parse_challenge(client.preauthorize("INVITE", "sip:a@r")[1])
    assert (first["nc"], second["nc"], third["nc"]) == ("00000001", "00000002", "00000003")
    assert first["cnonce"] == second["cnonce"] == third["cnonce"]


def test_cnonce_is_random_between_clients():
    a = parse_challenge(_client_header(['Digest realm="r", nonce="1", qop="auth"'])[1][1])
    b = parse_challenge(_client_header(['Digest realm="r", nonce="1", qop="auth"'])[1][1])
    assert a["cnonce"] != b["cnonce"] and a["response"] != b["response"]


def test_two_realms_answered_by_authorize_all():
    resp = FakeResponse(407, [("Proxy-Authenticate", 'Digest realm="a", nonce="1", qop="auth"'),
                              ("Proxy-Authenticate", 'Digest realm="b", nonce="2"')])
    found = DigestClient("u", "p").authorize_all(resp, "INVITE", "sip:x@y")
    assert [parse_challenge(v)["realm"] for _n, v in found] == ["a", "b"]


def test_userhash_sends_hashed_username():
    _c, got = _client_header(['Digest realm="r", nonce="n", qop="auth", algorithm=SHA-256, userhash=true'])
    creds = parse_challenge(got[1])
    assert creds["userhash"] is True
    assert creds["username"] == _hex("sha256", "door100:r")


def test_quotes_in_username_are_escaped():
    _c, got = _client_header(['Digest realm="r", nonce="n", qop="auth"'], user='we"ird\\')
    assert parse_challenge(got[1])["username"] == 'we"ird\\'
    _verify_by_hand(got[1], "REGISTER", "secret")


def test_server_verifier_accepts_client_and_rejects_wrong():
    for alg in ("MD5", "SHA-256", "MD5-sess", "SHA-256-sess"):
        challenge = make_challenge("pbx", algorithm=alg, opaque="o")
        resp = FakeResponse(401, [("WWW-Authenticate", challenge)])
        name, value = DigestClient("door100", "secret100").authorize(resp, "REGISTER", "sip:pbx")
        users = {"door100": "secret100"}
        assert check_authorization(value, "REGISTER", users, "pbx") == "door100"
        assert check_authorization(value, "REGISTER", users.get, "pbx", uri="sip:pbx") == "door100"
        assert check_authorization(value, "INVITE", users, "pbx") is None
        assert check_authorization(value, "REGISTER", {"door100": "other"}, "pbx") is None
        assert check_authorization(value, "REGISTER", {}, "pbx") is None
        assert check_authorization(value, "REGISTER", users, "other-realm") is None
        assert check_authorization(value, "REGISTER", users, "pbx", uri="sip:else") is None
        assert check_authorization(value, "REGISTER", users, "pbx", nonce_ok=lambda n: False) is None
        nonce = parse_challenge(challenge)["nonce"]
        assert check_authorization(value, "REGISTER", users, "pbx",
                                   nonce_ok=lambda n: n == nonce) == "door100"


def test_server_verifier_rejects_garbage_and_rfc2617_example_passes():
    for bad in ("", "Digest", 'Digest username="x"', "Basic abc", 'Digest realm="unterminated',
                'Digest username="a", realm="pbx", nonce="n", uri="u", response="r", qop=auth'):
        assert check_authorization(bad, "REGISTER", {"a": "b"}, "pbx") is None
    value = ('Digest username="Mufasa", realm="testrealm@host.com", '
             'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, '
             'nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", '
             'opaque="5ccc069c403ebaf9f0171e9517f40e41"')
    assert check_authorization(value, "GET", {"Mufasa": "Circle Of Life"}, "testrealm@host.com") == "Mufasa"
    assert check_authorization(value, "GET", {"Mufasa": "Circle of Life"}, "testrealm@host.com") is None


def test_make_challenge_round_trips():
    ch = parse_challenge(make_challenge('r "x"', nonce="n", algorithm="SHA-256", stale=True))
    assert ch["realm"] == 'r "x"' and ch["nonce"] == "n" and ch["stale"] is True
    assert ch["qop"] == ["auth"] and ch["algorithm"] == "SHA-256"
    assert auth.new_nonce() != auth.new_nonce()

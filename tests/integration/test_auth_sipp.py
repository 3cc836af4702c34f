# Digest authentication against an independent implementation: sipp on 127.0.0.1.
# 1. sipp is the registrar: it challenges, and its <verifyauth> checks what our
#    DigestClient computed (right password -> 200, wrong -> 403).
# 2. sipp is the client (-au/-ap): our make_challenge / check_authorization play
#    the registrar and must accept sipp's right credentials and refuse wrong ones.
# sipp 3.6 implements MD5 only; SHA-256 is covered by the RFC 7616 vectors in
# tests/unit/test_sip_auth.py and by Kamailio (test_auth_kamailio.py).
# Every sipp run is bounded (-timeout, subprocess timeout) and killed in finally.
import os
import socket
import subprocess
import time

import pytest

from stations import registrar_scenario
from tooling import free_udp_port, require

from doorsip.sip import build_request, build_response, parse
from doorsip.sip.auth import DigestClient, check_authorization, make_challenge, parse_challenge

REALM = "doorsip.test"

# sipp as the client: REGISTER, the 401, REGISTER again with [authentication].
_REGISTER = """  <send retrans="500">
    <![CDATA[
REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:door100@[remote_ip]>;tag=[pid]t[call_number]
To: <sip:door100@[remote_ip]>
Call-ID: [call_id]
CSeq: %d REGISTER
Contact: <sip:door100@[local_ip]:[local_port]>
%sMax-Forwards: 70
Expires: 300
Content-Length: 0

    ]]>
  </send>
"""

_UAC_SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="digest client">
%s  <recv response="401" auth="true" />
%s  <recv response="200" />
</scenario>
""" % (_REGISTER % (1, ""), _REGISTER % (2, "[authentication]\n"))


def _sipp(args, tmp_path, name, path):
    """sipp running the scenario file at path (one call, bounded) with args."""
    cmd = [require("sipp"), "-sf", path, "-i", "127.0.0.1", "-m", "1", "-timeout", "10s",
           "-timeout_error", "-nostdin", "-trace_err", "-error_file",
           os.path.join(str(tmp_path), name + "_errors.log")] + args
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            cwd=str(tmp_path))


def _write(tmp_path, name, text):
    path = os.path.join(str(tmp_path), name)
    with open(path, "w") as f:
        f.write(text)
    return path


def _stop(proc):
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=5)


def _register(sock, server, password, auth_user="door100"):
    """REGISTER with our DigestClient; returns (final status, credentials sent)."""
    uri = "sip:127.0.0.1:%d" % server[1]
    local = sock.getsockname()
    client = DigestClient(auth_user, password)
    base = [("Via", "SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s" % (local[1], "a1")),
            ("From", "<sip:door100@127.0.0.1>;tag=door"), ("To", "<sip:door100@127.0.0.1>"),
            ("Call-ID", "reg-%d@127.0.0.1" % local[1]), ("Max-Forwards", "70"),
            ("Contact", "<sip:door100@127.0.0.1:%d>" % local[1]), ("Expires", "300")]
    sock.sendto(build_request("REGISTER", uri, base + [("CSeq", "1 REGISTER")]), server)
    challenge = parse(sock.recvfrom(4096)[0])
    assert challenge.status == 401
    name, value = client.authorize(challenge, "REGISTER", uri)
    headers = list(base)
    headers[0] = ("Via", "SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s" % (local[1], "a2"))
    headers += [("CSeq", "2 REGISTER"), (name, value)]
    sock.sendto(build_request("REGISTER", uri, headers), server)
    final = parse(sock.recvfrom(4096)[0])
    return final.status, value


@pytest.mark.parametrize("challenge", [
    'Digest realm="%s", nonce="5f1c2e9a7b", algorithm=MD5, qop="auth", opaque="x1"' % REALM,
    'Digest realm="%s", nonce="0a9b8c7d6e", algorithm=MD5' % REALM,
])
def test_our_client_against_sipp_registrar(tmp_path, challenge):
    for password, want in (("secret100", 200), ("wrong", 403)):
        port = free_udp_port()
        proc = _sipp(["-p", str(port)], tmp_path, "uas", registrar_scenario(tmp_path, challenge, expires=300))
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind(("127.0.0.1", 0))
            sock.settimeout(5)
            server = ("127.0.0.1", port)
            status, value = _register_when_ready(sock, server, password)
            assert status == want, value
            creds = parse_challenge(value)
            assert creds["username"] == "door100" and creds["realm"] == REALM
            proc.wait(timeout=10)
        finally:
            sock.close()
            _stop(proc)


def _register_when_ready(sock, server, password):
    # sipp needs a moment to bind its port: wait until binding it ourselves fails.
    for _ in range(100):
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            probe.bind(server)
        except OSError:
            break
        finally:
            probe.close()
        time.sleep(0.05)
    return _register(sock, server, password)


def test_sipp_client_against_our_verifier(tmp_path):
    users = {"door100": "secret100"}
    for password, want in (("secret100", "door100"), ("wrong", None)):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(10)
        port = sock.getsockname()[1]
        proc = _sipp(["-au", "door100", "-ap", password, "-p", str(free_udp_port()),
                      "127.0.0.1:%d" % port], tmp_path, "uac", _write(tmp_path, "uac.xml", _UAC_SCENARIO))
        try:
            data, peer = sock.recvfrom(4096)
            first = parse(data)
            assert first.method == "REGISTER" and first.header("Authorization") is None
            challenge = make_challenge(REALM, opaque="op")
            sock.sendto(build_response(first, 401, headers=[("WWW-Authenticate", challenge)],
                                       to_tag="reg1"), peer)
            while True:  # skip retransmissions of the first REGISTER
                second = parse(sock.recvfrom(4096)[0])
                if second.cseq[0] == 2:
                    break
            nonce = parse_challenge(challenge)["nonce"]
            user = check_authorization(second.header("Authorization"), "REGISTER", users, REALM,
                                       nonce_ok=lambda n: n == nonce, uri=second.uri)
            assert user == want
            sock.sendto(build_response(second, 200 if user else 403, to_tag="reg1"), peer)
            assert proc.wait(timeout=10) == (0 if user else 1)
        finally:
            sock.close()
            _stop(proc)

# sip/sdp.py and sip/auth.py on a small MicroPython heap: hostile bodies of the
# largest accepted size (8 KB SDP, 4 KB challenge) are parsed or refused with
# SdpError/AuthError, never a MemoryError or another exception, in a 72 KB heap
# (an ESP32 with Wi-Fi up has about 110 KB). Of those 72 KB the three modules
# from .mpy take about 28 KB and the test's own buffers 16 KB (measured on the
# 64-bit unix port), leaving under 28 KB for parsing and answering.
import os
import subprocess

from tooling import FIRMWARE, require, run_micropython

SCRIPT = r'''
import gc
from doorsip.sip import sdp, auth

BUF = bytearray(8200)

def build(head, line_fn, count, tail=b"", limit=8000):
    # one preallocated buffer and one copy out: the test's own garbage stays small
    n = len(head)
    BUF[:n] = head
    for i in range(count):
        line = line_fn(i)
        if n + len(line) > limit:
            break
        BUF[n:n + len(line)] = line
        n += len(line)
    BUF[n:n + len(tail)] = tail
    return bytes(memoryview(BUF)[:n + len(tail)])

PAD = b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 0"

def bodies():
    yield b"rtpmap", build(PAD + b" 96 97 98 99 100\r\n", lambda i: b"a=rtpmap:%d X%d/8000\r\n" % (i % 128, i), 400)
    yield b"fmtp", build(PAD + b"\r\n", lambda i: b"a=fmtp:%d xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n" % (i % 128), 400)
    yield b"ptlist", build(PAD, lambda i: b" %d" % (i % 128), 3000, b"\r\n")
    yield b"media", build(b"v=0\r\n", lambda i: b"m=audio 1 RTP/AVP 0\r\nc=IN IP4 1.2.3.4\r\n", 9)
    yield b"junk", build(b"v=0\r\n", lambda i: b"a=ssrc:1 cname:abcdefgh\r\n", 400)
    yield b"lines", build(b"v=0\r\n", lambda i: b"\r\n", 4000)
    yield b"toobig", build(b"v=0\r\n", lambda i: b"a=x\r\n", 3000, b"a=x\r\n", 8192)

for name, body in bodies():
    gc.collect()
    try:
        sdp.answer(body, "10.0.0.1", 4000)
        outcome = "ok"
    except sdp.SdpError as exc:
        outcome = "SdpError %d" % exc.status
    print("sdp", name.decode(), len(body), outcome)
    del body  # before the generator builds the next one

def challenges():
    yield "params", build(b"Digest ", lambda i: b'p%d="vvvvvvvvvvvvvvvvvvvv", ' % i, 200, b"x=1", 4090)
    yield "escapes", build(b'Digest realm="', lambda i: b'\\"', 2100, b'", nonce="n"', 4080)
    yield "schemes", build(b"", lambda i: b'Digest realm="r", nonce="%d", algorithm=SHA-256, ' % i, 90, b"", 4090)

class Response:
    status = 401
    def __init__(self, value):
        self.value = value
    def header(self, name):
        return None
    def headers(self, name):
        return [self.value] if name.lower() == "www-authenticate" else []

for name, value in challenges():
    gc.collect()
    try:
        found = auth.DigestClient("u", "p").authorize(Response(value), "REGISTER", "sip:r")
        outcome = "ok" if found else "none"
    except auth.AuthError:
        outcome = "AuthError"
    print("auth", name, len(value), outcome)
    del value
print("done")
'''


def _compile(out_dir):
    mpy_cross = require("mpy-cross")
    # sdp's error texts live in sip/errors.py (one string for the SIP core)
    for rel in ("doorsip/__init__", "doorsip/compat", "doorsip/sip/errors", "doorsip/sip/sdp",
                "doorsip/sip/auth"):
        dst = os.path.join(out_dir, rel + ".mpy")
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        subprocess.run([mpy_cross, "-o", dst, "-s", rel + ".py", os.path.join(FIRMWARE, rel + ".py")],
                       check=True, capture_output=True)
    # doorsip.sip's own __init__ imports the whole SIP core; this test needs only three modules
    open(os.path.join(out_dir, "doorsip", "sip", "__init__.py"), "w").close()


def test_hostile_bodies_on_a_72k_heap(tmp_path):
    out = str(tmp_path / "mpy")
    _compile(out)
    # the test script is precompiled too, so its own code does not crowd the heap
    (tmp_path / "hostile.py").write_text(SCRIPT)
    subprocess.run([require("mpy-cross"), "-o", os.path.join(out, "hostile.mpy"),
                    str(tmp_path / "hostile.py")], check=True, capture_output=True)
    runner = tmp_path / "run.py"
    runner.write_text("import hostile\n")
    result = run_micropython(str(runner), heap="72K", path=(out,), timeout=60)
    assert result.returncode == 0, result.stderr + result.stdout
    lines = result.stdout.splitlines()
    assert lines[-1] == "done"
    outcomes = dict((" ".join(l.split()[:2]), l.split(None, 3)[3]) for l in lines[:-1])
    assert outcomes["sdp media"] == "SdpError 488"
    assert outcomes["sdp toobig"] == "SdpError 413"
    assert outcomes["sdp junk"] == "SdpError 488"  # no m= line: nothing to answer
    # a=rtpmap:0 X0/8000 redefines PT 0: nothing of ours is left
    assert outcomes["sdp rtpmap"] == "SdpError 488"
    assert outcomes["sdp fmtp"] == "ok" and outcomes["sdp ptlist"] == "ok"
    assert outcomes["auth schemes"] == "ok"  # the first 8 challenges are read
    assert outcomes["auth params"] == "none"  # no nonce among the params read
    assert outcomes["auth escapes"] == "ok"

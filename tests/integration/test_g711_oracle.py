# G.711 against CPython 3.11's audioop (the oracle; never a runtime dependency),
# over all 65,536 linear inputs and all 256 codes: the CPython code paths here,
# and the MicroPython ones (viper and plain) in a subprocess compared by digest.
import hashlib
import os
import struct
import warnings

import pytest

from tooling import run_micropython

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    audioop = pytest.importorskip("audioop")

from doorsip.media import g711

ALL_PCM = struct.pack("<65536h", *range(-32768, 32768))
ALL_CODES = bytes(range(256))


def _encode(fn):
    out = bytearray(65536)
    fn(ALL_PCM, out, 65536)
    return bytes(out)


def _decode(fn):
    out = bytearray(512)
    fn(ALL_CODES, out, 256)
    return bytes(out)


def _first_difference(got, want):
    for i, (a, b) in enumerate(zip(got, want)):
        if a != b:
            return i, a, b
    return None


@pytest.mark.parametrize("name", ["ulaw", "alaw"])
def test_cpython_encoders_match_audioop(name):
    want = getattr(audioop, "lin2" + name)(ALL_PCM, 2)
    for fn in (getattr(g711, name + "_encode_into"), getattr(g711, name + "_encode_into_py")):
        got = _encode(fn)
        assert got == want, _first_difference(got, want)


@pytest.mark.parametrize("name", ["ulaw", "alaw"])
def test_cpython_decoders_match_audioop(name):
    want = getattr(audioop, name + "2lin")(ALL_CODES, 2)
    for fn in (getattr(g711, name + "_decode_into"), getattr(g711, name + "_decode_into_py")):
        assert _decode(fn) == want


MPY_SCRIPT = """
import sys
from doorsip.media import g711
from doorsip.compat import hash_hex
pcm = bytearray(131072)
for i in range(65536):
    pcm[2 * i] = i & 0xFF
    pcm[2 * i + 1] = (i >> 8) ^ 0x80   # samples -32768 .. 32767 in order
codes = bytes(range(256))
enc = bytearray(65536)
dec = bytearray(512)
print("impl", g711.IMPLEMENTATION)
for name in ("ulaw", "alaw"):
    for suffix in ("", "_py"):
        getattr(g711, name + "_encode_into" + suffix)(pcm, enc, 65536)
        print(name, "encode" + suffix, hash_hex("sha256", enc))
        getattr(g711, name + "_decode_into" + suffix)(codes, dec, 256)
        print(name, "decode" + suffix, hash_hex("sha256", dec))
"""


def test_micropython_matches_audioop(tmp_path):
    script = tmp_path / "g711_all.py"
    script.write_text(MPY_SCRIPT)
    proc = run_micropython(str(script), heap="1M", timeout=120)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    lines = proc.stdout.split("\n")
    assert lines[0] == "impl viper", lines[0]  # the unix port has the viper emitter
    seen = 0
    for line in lines[1:]:
        if not line:
            continue
        name, what, digest = line.split()
        if what.startswith("encode"):
            want = getattr(audioop, "lin2" + name)(ALL_PCM, 2)
        else:
            want = getattr(audioop, name + "2lin")(ALL_CODES, 2)
        assert digest == hashlib.sha256(want).hexdigest(), line
        seen += 1
    assert seen == 8


def test_tables_are_what_the_segment_algorithm_gives():
    # The bytes literals agree with audioop entry by entry (index = raw bits).
    from doorsip.media import g711_tables
    u = g711_tables.ULAW_ENCODE
    a = g711_tables.ALAW_ENCODE
    assert len(u) == 16384 and len(a) == 8192
    assert bytes(u[(s >> 2) & 0x3FFF] for s in range(-32768, 32768)) == audioop.lin2ulaw(ALL_PCM, 2)
    assert bytes(a[(s >> 3) & 0x1FFF] for s in range(-32768, 32768)) == audioop.lin2alaw(ALL_PCM, 2)

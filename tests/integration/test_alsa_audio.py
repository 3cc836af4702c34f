# hal/alsa_audio through the real pyalsaaudio and alsa-lib, against PCMs defined in
# a test .asoundrc: a `file` plugin over the null device records what is played; a
# `file` plugin with `infile` serves what is captured. alsa-lib reads ~/.asoundrc
# once per process, so each case runs in a child Python whose HOME is the temp dir.
import json
import os
import struct
import subprocess
import sys

import pytest

from tooling import FIRMWARE

pytest.importorskip("alsaaudio")

FRAMES = 10
FRAME_BYTES = 320

ASOUNDRC = """
pcm.doorsip_play {
    type file
    slave.pcm "null"
    file "%(dir)s/played.raw"
    format "raw"
}
pcm.doorsip_cap {
    type file
    slave.pcm "null"
    file "%(dir)s/capture-tap.raw"
    infile "%(dir)s/mic.raw"
    format "raw"
}
"""

CHILD = r"""
import json, sys, time
from doorsip.hal.audio import AudioError, open_audio
from doorsip.hal.alsa_audio import AlsaIn, AlsaOut

frames = %(frames)d
result = {}
mic, speaker = open_audio({"backend": "alsa", "capture": "doorsip_cap", "playback": "doorsip_play"})
for k in range(frames):
    frame = bytearray(320)
    for i in range(160):
        frame[2 * i] = (k * 7 + i) & 0xFF
        frame[2 * i + 1] = (k * 3 + i * 5) & 0xFF
    speaker.write(frame)
    time.sleep(0.02)
speaker.close()
result["played"] = speaker.frames
result["play_dropped"] = speaker.dropped

got = bytearray()
buf = bytearray(320)
deadline = time.time() + 5
while len(got) < frames * 320 and time.time() < deadline:
    n = mic.read_into(buf)
    if n:
        assert n == 320
        got.extend(buf)
    else:
        time.sleep(0.005)
mic.close()
result["captured_hex"] = bytes(got).hex()
result["overruns"] = mic.overruns
try:
    AlsaIn("doorsip_no_such_pcm")
except AudioError as exc:
    result["bad_device"] = str(exc)
print(json.dumps(result))
"""


def _expected_played():
    out = bytearray()
    for k in range(FRAMES):
        for i in range(160):
            out.append((k * 7 + i) & 0xFF)
            out.append((k * 3 + i * 5) & 0xFF)
    return bytes(out)


def test_alsa_playback_and_capture_through_file_pcms(tmp_path):
    mic = b"".join(struct.pack("<h", (i * 37) % 20000 - 10000) for i in range(160 * FRAMES))
    (tmp_path / "mic.raw").write_bytes(mic)
    (tmp_path / ".asoundrc").write_text(ASOUNDRC % {"dir": str(tmp_path)})
    env = dict(os.environ)
    env["HOME"] = str(tmp_path)
    env["PYTHONPATH"] = FIRMWARE
    env.pop("ALSA_CONFIG_PATH", None)
    proc = subprocess.run([sys.executable, "-c", CHILD % {"frames": FRAMES}], env=env,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    # every frame written reached the device, byte for byte, in order
    assert result["played"] == FRAMES and result["play_dropped"] == 0
    assert (tmp_path / "played.raw").read_bytes() == _expected_played()
    # captured frames are the infile's samples, from the start, in order
    captured = bytes.fromhex(result["captured_hex"])
    assert len(captured) == FRAMES * FRAME_BYTES
    assert captured == mic
    assert "doorsip_no_such_pcm" in result["bad_device"] and "audio.capture" in result["bad_device"]

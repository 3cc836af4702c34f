"""Raspberry Pi (and any Linux) audio through pyalsaaudio; frames as in hal/audio.

AlsaIn(device="default", periods=4) / AlsaOut(device="default", periods=4):
8 kHz mono S16_LE, 160-frame periods, opened non-blocking so the event loop never
waits on the sound card. Latency is bounded by the card buffer (periods x 20 ms):
a capture overrun is counted in AlsaIn.overruns, a full playback buffer drops the
frame (AlsaOut.dropped). Device names come from the board file ("capture",
"playback"); "default" or a "plughw:..." name lets ALSA convert rates for cards
that do not run at 8 kHz.
"""
import alsaaudio

from doorsip.hal.audio import FRAME_BYTES, RATE, AudioError, AudioIn, AudioOut

_PERIOD_FRAMES = 160


def _open(kind, device, periods, where):
    pcm_type = alsaaudio.PCM_CAPTURE if kind == "capture" else alsaaudio.PCM_PLAYBACK
    try:
        pcm = alsaaudio.PCM(type=pcm_type, mode=alsaaudio.PCM_NONBLOCK, device=device,
                            channels=1, rate=RATE, format=alsaaudio.PCM_FORMAT_S16_LE,
                            periodsize=_PERIOD_FRAMES, periods=periods)
    except alsaaudio.ALSAAudioError as exc:
        raise AudioError("%s: cannot open ALSA %s device %r: %s" % (where, kind, device, exc))
    info = pcm.info()
    if info.get("rate") != RATE or info.get("channels") != 1 or info.get("format_name") != "S16_LE":
        pcm.close()
        raise AudioError("%s: ALSA device %r runs %s Hz, %s channel(s), %s; need 8000 Hz mono "
                         "S16_LE (use a plughw: or default device to convert)" % (
                             where, device, info.get("rate"), info.get("channels"),
                             info.get("format_name")))
    return pcm


class AlsaIn(AudioIn):
    def __init__(self, device="default", periods=4):
        self.device = device
        self._pcm = _open("capture", device, periods, "audio.capture")
        self._periods = periods
        self._pending = bytearray()
        self.frames = 0
        self.overruns = 0

    def read_into(self, buf):
        view = self.frame_view(buf)
        pending = self._pending
        # Read only what one frame needs: the card's own buffer (periods x 20 ms)
        # bounds the latency, and an overrun there is counted, not hidden. The
        # attempts are bounded because some PCMs (null) are always ready.
        tries = self._periods
        while len(pending) < FRAME_BYTES and tries > 0:
            tries -= 1
            n, data = self._pcm.read()
            if n > 0:
                pending.extend(data)
            elif n < 0:
                self.overruns += 1  # -EPIPE: the card overran; pyalsaaudio re-prepares
            else:
                break
        if len(pending) < FRAME_BYTES:
            return 0
        view[:] = pending[:FRAME_BYTES]
        del pending[:FRAME_BYTES]
        self.frames += 1
        return FRAME_BYTES

    def close(self):
        if self._pcm is not None:
            self._pcm.close()
            self._pcm = None


class AlsaOut(AudioOut):
    def __init__(self, device="default", periods=4):
        self.device = device
        self._pcm = _open("playback", device, periods, "audio.playback")
        self.frames = 0
        self.dropped = 0

    def write(self, buf):
        view = self.frame_view(buf)
        written = self._pcm.write(view)
        if written == _PERIOD_FRAMES:
            self.frames += 1
        else:
            # 0: the buffer is full (card slower than our clock); < 0: an
            # underrun pyalsaaudio could not recover from in this call.
            self.dropped += 1

    def close(self):
        if self._pcm is not None:
            # Let what is queued play out rather than cutting the last 80 ms.
            try:
                self._pcm.drain()
            except (alsaaudio.ALSAAudioError, AttributeError):
                pass
            self._pcm.close()
            self._pcm = None

"""WavIn/WavOut (hal/sim_audio's, see there) and their WAV (RIFF/WAVE) header code,
loaded when a WAV file is opened (a station on silence never loads it)."""
import struct

from doorsip.compat import const
from doorsip.hal.audio import FRAME_BYTES, RATE, AudioError, AudioIn, AudioOut

_WAVE_PCM = const(1)
_WAVE_EXTENSIBLE = const(0xFFFE)
_HEADER_BYTES = const(44)


def _read_exact(f, n, what, path):
    data = f.read(n)
    if data is None or len(data) != n:
        raise AudioError("%s: truncated WAV (%s)" % (path, what))
    return data


def parse_header(f, path):
    """(data start, data length) of a WAV file open at its start; AudioError naming
    path unless it is 8 kHz mono 16-bit PCM."""
    # RIFF/WAVE: a 12-byte header, then chunks of id, little-endian size, data
    # padded to an even length; "fmt " must come before "data".
    head = _read_exact(f, 12, "header", path)
    if head[0:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise AudioError("%s: not a RIFF/WAVE file" % path)
    fmt = None
    pos = 12
    while True:
        chunk = f.read(8)
        if chunk is None or len(chunk) < 8:
            raise AudioError("%s: no data chunk" % path)
        size = struct.unpack_from("<I", chunk, 4)[0]
        pos += 8
        if chunk[0:4] == b"fmt ":
            if size < 16:
                raise AudioError("%s: fmt chunk too short" % path)
            fmt = _read_exact(f, size, "fmt chunk", path)
            _check_format(fmt, path)
        elif chunk[0:4] == b"data":
            if fmt is None:
                raise AudioError("%s: data chunk before fmt chunk" % path)
            # 0xFFFFFFFF (or a bogus size) from a streaming writer: to end of file
            end = f.seek(0, 2)
            if size > end - pos:
                size = end - pos
            f.seek(pos)
            return pos, size - (size & 1)
        else:
            f.seek(pos + size + (size & 1))
        pos += size + (size & 1)

def _check_format(fmt, path):
    tag, channels, rate, _byte_rate, _align, bits = struct.unpack_from("<HHIIHH", fmt, 0)
    if tag == _WAVE_EXTENSIBLE and len(fmt) >= 26:
        tag = struct.unpack_from("<H", fmt, 24)[0]  # first bytes of the subformat GUID
    if tag != _WAVE_PCM or channels != 1 or rate != RATE or bits != 16:
        raise AudioError("%s: %s %d Hz %d channel(s) %d-bit; need PCM %d Hz mono 16-bit" % (
            path, "PCM" if tag == _WAVE_PCM else "format %d" % tag, rate, channels, bits, RATE))


def header(data_len):
    """The 44-byte header of an 8 kHz mono 16-bit PCM WAV with data_len bytes."""
    h = bytearray(_HEADER_BYTES)
    h[0:4] = b"RIFF"
    struct.pack_into("<I", h, 4, 36 + data_len)
    h[8:16] = b"WAVEfmt "
    struct.pack_into("<IHHIIHH", h, 16, 16, _WAVE_PCM, 1, RATE, RATE * 2, 2, 16)
    h[36:40] = b"data"
    struct.pack_into("<I", h, 40, data_len)
    return h


class WavIn(AudioIn):
    def __init__(self, path, loop=False):
        self.path = path
        self.loop = loop
        self.ended = False
        self.frames = 0
        self._f = open(path, "rb")
        try:
            self._data_start, self._data_len = parse_header(self._f, path)
        except Exception:
            self._f.close()
            raise
        if self._data_len < 2 and loop:
            raise AudioError("%s: no samples to loop over" % path)
        self._left = self._data_len

    def read_into(self, buf):
        view = self.frame_view(buf)
        f = self._f
        if self._left >= FRAME_BYTES:
            n = f.readinto(view)
            self._left -= n
            if n == FRAME_BYTES:
                self.frames += 1
                return FRAME_BYTES
        else:
            n = 0
        # The end of the data (rare): fill from the start again, or with silence.
        while n < FRAME_BYTES:
            if self._left <= 0:
                if not self.loop:
                    self.ended = True
                    for i in range(n, FRAME_BYTES):
                        view[i] = 0
                    break
                f.seek(self._data_start)
                self._left = self._data_len
            want = FRAME_BYTES - n
            if want > self._left:
                want = self._left
            got = f.readinto(view[n:n + want])
            if not got:
                self._left = 0
                if not self.loop:
                    continue
                raise AudioError("%s: file shrank while reading" % self.path)
            n += got
            self._left -= got
        self.frames += 1
        return FRAME_BYTES

    def close(self):
        if self._f is not None:
            self._f.close()
            self._f = None


class WavOut(AudioOut):
    def __init__(self, path):
        self.path = path
        self.frames = 0
        self._f = open(path, "wb")
        self._f.write(header(0))

    def write(self, buf):
        if self._f is None:
            raise AudioError("%s: written after close" % self.path)
        self._f.write(self.frame_view(buf))
        self.frames += 1

    def close(self):
        """Write the final sizes into the header (RIFF and data chunk) and close."""
        if self._f is None:
            return
        f = self._f
        self._f = None
        try:
            f.seek(0)
            f.write(header(self.frames * FRAME_BYTES))
        finally:
            f.close()

"""WAV (RIFF/WAVE) header reading and writing for hal/sim_audio's WavIn/WavOut,
loaded when a WAV file is opened (a station on silence never loads it)."""
import struct

from doorsip.compat import const
from doorsip.hal.audio import RATE, AudioError

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

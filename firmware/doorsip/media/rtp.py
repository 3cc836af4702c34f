"""RTP (RFC 3550) on preallocated buffers, sans-IO: no socket, no clock.

RtpSender(payload_type, encode_into=None, samples_per_frame=160, max_payload=320)
    .payload              writable memoryview of the payload area (put bytes here)
    .pack_frame(pcm)      encode one frame with encode_into and pack -> memoryview
    .pack_event(payload_len, payload_type, marker, timestamp) -> memoryview: the
                          packet for what is in .payload, stamped with an explicit
                          32-bit timestamp that the audio timestamp does not follow
                          (RFC 4733 event packets keep the event's start)
    .start_talkspurt()    marker bit on the next packet (RFC 3551 4.1)
    .skip(frames, units=0) the timestamp moves on by that many frames plus units
                          sampling instants without sending (5.1)
    .ssrc .seq (next) .packets .octets .timestamp (next, 32-bit)
RtpReceiver(payload_types, event_pt=None, jitter=None, clock_khz=8, remote=None,
            other_types=(13,))   payload_types: the audio types (normally the one
            negotiated codec); other_types: accepted, not audio (RFC 3389 comfort noise)
    .on_packet(buf, n, source, now_ms) -> KIND_DROPPED | KIND_AUDIO | KIND_EVENT
        | KIND_OTHER. source is (host, port). For a kept packet: .payload_offset,
        .payload_len, .payload_type, .marker, .seq, .timestamp (low 30 bits;
        .timestamp32 the whole, for RFC 4733 events),
        .restarted (the stream restarted: new SSRC or sequence). KIND_AUDIO packets
        go into `jitter` (a JitterBuffer) when one is given.
    .remote               (host, port) where the far end really sends from, None
                          before the first valid packet: send there (symmetric RTP,
                          RFC 4961); set it to None to learn it again (re-INVITE).
    counters: received, dropped, bad_header, bad_version, bad_type, wrong_source,
    seq_jumps, ssrc_changes; RFC 3550 A.3: .extended_max, .expected, lost(),
    fraction_lost() (for the next report); A.8: .jitter_units, .jitter_ms.
    (payload_types: one or two; other_types: at most two)
call_figures(sender, receiver, jitter=None) -> dict for the app's call_ended event:
    packets_sent, packets_received, packets_lost, packets_dropped, packets_late,
    jitter_ms.
IMPLEMENTATION: "viper" when on_packet runs the native kernel (rtp_viper.py).

Wiring for one call (media/stream.py does this; rtcp.py for the reports):
    enc, dec, silence = g711.codec_functions(params.codec)
    tx = RtpSender(params.payload_type, enc)
    jb = JitterBuffer(dec, silence)
    rx = RtpReceiver((params.payload_type,), params.dtmf_pt, jb)
    every 20 ms:    sock.sendto(tx.pack_frame(mic_pcm), rx.remote or sdp_address)
                    jb.get_into(speaker_pcm)
    per datagram:   kind = rx.on_packet(data, len(data), addr_text(addr), ticks_ms())
                    KIND_EVENT: dtmf_rx.receive(payload, rx.timestamp32, now) with
                    payload = data[rx.payload_offset:][:rx.payload_len]
    RFC 4733 sending shares this sequence space and SSRC: n = dtmf_tx.next_payload(
    tx.payload) then tx.pack_event(n, dtmf_pt, dtmf_tx.marker, dtmf_tx.timestamp).

Per-packet paths allocate nothing. Timestamps are handled modulo 2**30 (2**32 is a
multiple, so differences stay right across the 32-bit wrap) so that an ESP32, whose
small ints stop at 2**30, never builds a big int per packet.
"""
from array import array

from doorsip.compat import const, random_bytes
from doorsip.media.g711 import unchecked


KIND_DROPPED = const(0)
KIND_AUDIO = const(1)
KIND_EVENT = const(2)
KIND_OTHER = const(3)  # another accepted payload type (e.g. comfort noise, 13)

_HEADER = const(12)
_MASK30 = const(0x3FFFFFFF)
# RFC 3550 A.1 (in rtp_py._account / rtp_viper._account): a sequence jump of 3000
# (MAX_DROPOUT) or more restarts the count only when the next packet follows it;
# reordering by more than 100 (MAX_MISORDER) counts as such a jump.

# Receiver state: one array('i') shared by the viper kernel and its plain twin.
# Every value stays in 0 .. 2**30 (small ints on a 32-bit port).
_PT_A0 = const(0)          # accepted audio payload types (255: none)
_PT_A1 = const(1)
_PT_EVENT = const(2)       # RFC 4733 telephone-event payload type (255: none)
_PT_O0 = const(3)          # other accepted types (comfort noise)
_PT_O1 = const(4)
_CLOCK_KHZ = const(5)
_OFF = const(6)            # --- the last kept packet ---
_LEN = const(7)
_PT = const(8)
_MARKER = const(9)
_SEQ = const(10)
_TS = const(11)            # low 30 bits of its timestamp
_TS_TOP = const(12)        # top 2 bits
_RESTARTED = const(13)
_HAVE_SSRC = const(14)     # --- the far end's stream (RFC 3550 A.1, A.3, A.8) ---
_SSRC_HI = const(15)
_SSRC_LO = const(16)
_BASE_SEQ = const(17)
_MAX_SEQ = const(18)
_CYCLES = const(19)        # sequence wraps
_BAD_SEQ = const(20)       # 0x10000: none
_RECEIVED_SRC = const(21)
_EXPECTED_PRIOR = const(22)
_RECEIVED_PRIOR = const(23)
_HAVE_TRANSIT = const(24)
_TRANSIT = const(25)
_JITTER16 = const(26)      # interarrival jitter x 16
_ARRIVAL = const(27)       # arrival time in timestamp units, modulo 2**30
_LAST_MS = const(28)
_LOST_BEFORE = const(29)   # losses of earlier SSRCs
_RECEIVED = const(30)      # --- counters ---
_BAD_HEADER = const(31)
_BAD_VERSION = const(32)
_BAD_TYPE = const(33)
_SEQ_JUMPS = const(34)
_SSRC_CHANGES = const(35)
_STATE_SIZE = const(36)


class RtpSender:
    def __init__(self, payload_type, encode_into=None, samples_per_frame=160, max_payload=320):
        if not 0 <= payload_type <= 127 or not 0 < samples_per_frame <= max_payload:
            raise ValueError("rtp: payload type must be 0..127, frame size 1..max_payload")
        self.payload_type = payload_type
        self.samples_per_frame = samples_per_frame
        # The kernel without its checks: pack_frame checks the pcm length itself.
        self._encode = unchecked(encode_into) if encode_into is not None else None
        self._buf = bytearray(_HEADER + max_payload)
        mv = memoryview(self._buf)
        self.payload = mv[_HEADER:]
        self._frame = mv[:_HEADER + samples_per_frame]  # a whole audio packet
        self._event = mv[:_HEADER + 4]  # an RFC 4733 event packet (any other size: remade)
        # RFC 3550 5.1: random initial sequence number and timestamp, random
        # SSRC (8.1), so packets of an earlier call can't pass for this one.
        r = random_bytes(10)
        buf = self._buf
        buf[0] = 0x80  # version 2, no padding, no extension, no CSRC
        buf[8] = r[0]
        buf[9] = r[1]
        buf[10] = r[2]
        buf[11] = r[3]
        self.ssrc = (r[0] << 24) | (r[1] << 16) | (r[2] << 8) | r[3]
        self.seq = (r[4] << 8) | r[5]
        # The timestamp as a top part (2 bits) and low 30 bits.
        self._ts_top = r[6] >> 6
        self._ts = ((r[6] & 0x3F) << 24) | (r[7] << 16) | (r[8] << 8) | r[9]
        self._marker = True  # the first packet starts a talkspurt
        self.packets = 0
        self.octets = 0

    @property
    def timestamp(self):
        """The next packet's timestamp (32-bit)."""
        return (self._ts_top << 30) | self._ts

    def start_talkspurt(self):
        self._marker = True

    def skip(self, frames, units=0):
        """Let the timestamp count the frames (and units more sampling instants)
        nobody was sent for; the next packet starts a talkspurt."""
        units += frames * self.samples_per_frame
        # 2**30 itself is a big int on a 32-bit port: wrap without forming it.
        ts = self._ts
        while units > _MASK30 - ts:
            units -= _MASK30 - ts + 1
            ts = 0
            self._ts_top = (self._ts_top + 1) & 3
        self._ts = ts + units
        self._marker = True

    def pack_event(self, payload_len, payload_type, marker, timestamp):
        """A packet for what is in .payload with an explicit 32-bit timestamp
        (RFC 4733 2.3.1: every packet of one event carries the event's start,
        dtmf.Rfc4733Sender's .timestamp); the audio timestamp does not move.
        Allocates on 32-bit ports (big ints): events only, not audio."""
        if not 0 <= payload_len <= len(self.payload):
            raise ValueError("rtp: payload length out of range")
        timestamp &= 0xFFFFFFFF
        # Big-endian fields written bytewise: no tuple (RFC 3550 5.1).
        buf = self._buf
        buf[1] = payload_type | 0x80 if marker else payload_type
        seq = self.seq
        buf[2] = seq >> 8
        buf[3] = seq & 0xFF
        buf[4] = timestamp >> 24
        buf[5] = (timestamp >> 16) & 0xFF
        buf[6] = (timestamp >> 8) & 0xFF
        buf[7] = timestamp & 0xFF
        self.seq = (seq + 1) & 0xFFFF
        self.packets += 1
        self.octets += payload_len
        # Views of the two usual sizes (audio frame, RFC 4733 event) are made
        # once: a slice per packet would allocate.
        if payload_len == self.samples_per_frame:
            return self._frame
        total = _HEADER + payload_len
        if total != len(self._event):
            self._event = memoryview(buf)[:total]
        return self._event

    def pack_frame(self, pcm):
        """Encode one frame of S16LE pcm into the payload and pack it."""
        # The 20 ms hot path, all inline (a Python call costs as much as a
        # dozen byte stores on MicroPython).
        n = self.samples_per_frame
        if len(pcm) < n + n:
            raise ValueError("rtp: pcm frame too short")
        self._encode(pcm, self.payload, n)
        buf = self._buf
        if self._marker:
            self._marker = False
            buf[1] = self.payload_type | 0x80
        else:
            buf[1] = self.payload_type
        seq = self.seq
        buf[2] = seq >> 8
        buf[3] = seq & 0xFF
        ts = self._ts
        buf[4] = (self._ts_top << 6) | (ts >> 24)
        buf[5] = (ts >> 16) & 0xFF
        buf[6] = (ts >> 8) & 0xFF
        buf[7] = ts & 0xFF
        self.seq = (seq + 1) & 0xFFFF
        self.packets += 1
        self.octets += n
        if ts > _MASK30 - n:
            ts = ts - _MASK30 - 1 + n
            self._ts_top = (self._ts_top + 1) & 3
        else:
            ts += n
        self._ts = ts
        return self._frame


class RtpReceiver:
    def __init__(self, payload_types, event_pt=None, jitter=None, clock_khz=8, remote=None,
                 other_types=(13,)):
        payload_types = tuple(payload_types)
        other_types = tuple(other_types)
        if not 1 <= len(payload_types) <= 2 or len(other_types) > 2:
            raise ValueError("rtp: one or two audio payload types, at most two others")
        self.jitter = jitter
        st = array("i", bytes(4 * _STATE_SIZE))
        st[_PT_A0] = payload_types[0]
        st[_PT_A1] = payload_types[-1]
        st[_PT_EVENT] = 255 if event_pt is None else event_pt
        st[_PT_O0] = other_types[0] if other_types else 255
        st[_PT_O1] = other_types[-1] if other_types else 255
        st[_CLOCK_KHZ] = clock_khz
        st[_BAD_SEQ] = 0x10000
        self._st = st
        self.wrong_source = 0
        # Symmetric RTP (RFC 4961): None until the first valid packet; set to None
        # to forget the far end (re-INVITE).
        self.remote = remote

    def on_packet(self, buf, n, source, now_ms):
        """Check and account one datagram of n bytes from source (host, port)."""
        if n > len(buf):
            self._st[_BAD_HEADER] += 1
            return KIND_DROPPED
        remote = self.remote
        if remote is not None and (source[1] != remote[1] or source[0] != remote[0]):
            self.wrong_source += 1
            return KIND_DROPPED
        # One call does the header checks, the payload type and the RFC 3550
        # accounting (a native one when viper is there: see rtp_viper.py).
        kind = _account(buf, n, self._st, now_ms)
        if kind and remote is None:
            # Symmetric RTP (RFC 4961): whoever sends the first valid packet is the
            # far end, whatever its SDP said (NAT); answer there from now on.
            self.remote = source
        if kind == KIND_AUDIO and self.jitter is not None:
            st = self._st
            if st[_RESTARTED]:
                self.jitter.reset()
            self.jitter.put(st[_TS], buf, st[_OFF], st[_LEN])
        return kind

    def __getattr__(self, name):
        # The last kept packet's fields, the counters and the RFC 3550 figures
        # live in the state array the kernel fills; one method reads them (a
        # property or method each costs heap).
        # Last kept packet: payload_offset, payload_len, payload_type, marker, seq,
        # timestamp (low 30 bits, what the jitter buffer works with), timestamp32
        # (all 32 bits: a big int on ESP32, for event packets only), restarted
        # (new SSRC or a sequence jump), ssrc (None before a packet). Counters:
        # received, bad_header (truncated, too long for the buffer, bad padding,
        # CSRC/extension past the end, unconfirmed jump), bad_version, bad_type,
        # seq_jumps, ssrc_changes, dropped. RFC 3550 A.3: extended_max (highest
        # sequence number with its wraps), expected (packets, 0 before the first);
        # A.8: jitter_units (interarrival jitter in timestamp units), jitter_ms.
        st = self._st
        i = -1
        if name == "payload_offset":
            i = _OFF
        elif name == "payload_len":
            i = _LEN
        elif name == "payload_type":
            i = _PT
        elif name == "seq":
            i = _SEQ
        elif name == "timestamp":
            i = _TS
        elif name == "received":
            i = _RECEIVED
        elif name == "bad_header":
            i = _BAD_HEADER
        elif name == "bad_version":
            i = _BAD_VERSION
        elif name == "bad_type":
            i = _BAD_TYPE
        elif name == "seq_jumps":
            i = _SEQ_JUMPS
        elif name == "ssrc_changes":
            i = _SSRC_CHANGES
        if i >= 0:
            return st[i]
        if name == "marker":
            return st[_MARKER] != 0
        if name == "restarted":
            return st[_RESTARTED] != 0
        if name == "timestamp32":
            return (st[_TS_TOP] << 30) | st[_TS]
        if name == "ssrc":
            return (st[_SSRC_HI] << 16) | st[_SSRC_LO] if st[_HAVE_SSRC] else None
        if name == "dropped":
            return st[_BAD_HEADER] + st[_BAD_VERSION] + st[_BAD_TYPE] + self.wrong_source
        if name == "extended_max":
            return (st[_CYCLES] << 16) + st[_MAX_SEQ]
        if name == "expected":
            if not st[_HAVE_SSRC]:
                return 0
            return (st[_CYCLES] << 16) + st[_MAX_SEQ] - st[_BASE_SEQ] + 1
        if name == "jitter_units":
            return st[_JITTER16] >> 4
        if name == "jitter_ms":
            return (st[_JITTER16] >> 4) / st[_CLOCK_KHZ]
        raise AttributeError(name)

    def lost(self):
        """Cumulative packets lost (duplicates can make it negative, as RFC 3550
        A.3 says)."""
        return self.expected - self._st[_RECEIVED_SRC]

    def fraction_lost(self):
        """Loss since the previous call, as the 8-bit fraction of A.3 (0..255)."""
        st = self._st
        expected = self.expected
        expected_interval = expected - st[_EXPECTED_PRIOR]
        received_interval = st[_RECEIVED_SRC] - st[_RECEIVED_PRIOR]
        st[_EXPECTED_PRIOR] = expected
        st[_RECEIVED_PRIOR] = st[_RECEIVED_SRC]
        lost_interval = expected_interval - received_interval
        if expected_interval <= 0 or lost_interval <= 0:
            return 0
        return (lost_interval << 8) // expected_interval


def call_figures(sender, receiver, jitter=None):
    """The call's RTP figures for the call_ended event (JSON-ready dict)."""
    lost = 0
    if receiver is not None:
        # Over the call, across SSRC changes; never negative.
        lost = receiver._st[_LOST_BEFORE] + receiver.lost()
    # The keys are made here from short strings: a literal longer than 10
    # characters is a str object held in the heap for good (70 bytes each).
    p = "packets_"
    return {
        p + "sent": sender.packets if sender is not None else 0,
        p + "received": receiver.received if receiver is not None else 0,
        p + "lost": lost if lost > 0 else 0,
        p + "dropped": receiver.dropped if receiver is not None else 0,
        p + "late": jitter.late if jitter is not None else 0,
        "jitter_ms": round(receiver.jitter_ms, 1) if receiver is not None else 0.0,
    }


def __getattr__(name):
    # _account_py (tests, benchmarks) from rtp_py on first use.
    if name != "_account_py":
        raise AttributeError(name)
    from doorsip.media.rtp_py import _account
    globals()[name] = _account
    return _account


try:
    from doorsip.media.rtp_viper import _account
    IMPLEMENTATION = "viper"
except Exception:  # CPython, or no viper emitter
    from doorsip.media.rtp_py import _account
    IMPLEMENTATION = "python"

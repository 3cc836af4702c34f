"""RTP (RFC 3550) on preallocated buffers, sans-IO: no socket, no clock.

RtpSender(payload_type, encode_into=None, samples_per_frame=160, max_payload=320)
    .payload              writable memoryview of the payload area (put bytes here)
    .pack_frame(pcm)      encode one frame with encode_into and pack -> memoryview
    .pack(payload_len, payload_type=-1, marker=False, advance=-1)
                          header for what is in .payload -> memoryview of the packet;
                          advance = timestamp units to add afterwards (-1: one frame)
    .pack_at(payload_len, payload_type, marker, ts_offset) -> memoryview: a packet
                          stamped ts_offset units before the current timestamp without
                          moving it (RFC 4733 event packets keep the event's start)
    .start_talkspurt()    marker bit on the next packet (RFC 3551 4.1)
    .skip_frames(n) / .skip(units)  timestamp moves on without sending (5.1)
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
                          RFC 4961); .set_remote(addr) forgets it (re-INVITE).
    counters: received, dropped, bad_header, bad_version, bad_type, wrong_source,
    seq_jumps, ssrc_changes; RFC 3550 A.3: expected(), lost(), fraction_lost()
    (for the next report); A.8: jitter_units(), jitter_ms().
call_figures(sender, receiver, jitter=None) -> dict for the app's call_ended event.

Per-packet paths allocate nothing. Timestamps are handled modulo 2**30 (2**32 is a
multiple, so differences stay right across the 32-bit wrap) so that an ESP32, whose
small ints stop at 2**30, never builds a big int per packet.
"""
from doorsip.compat import const, random_bytes

KIND_DROPPED = const(0)
KIND_AUDIO = const(1)
KIND_EVENT = const(2)
KIND_OTHER = const(3)  # another accepted payload type (e.g. comfort noise, 13)

_HEADER = const(12)
_MASK30 = const(0x3FFFFFFF)
_HALF30 = const(0x20000000)
_PERIOD30 = const(0x40000000)
# RFC 3550 A.1: sequence jumps larger than this restart the count only when the
# next packet follows the jump; reordering by more than _MAX_MISORDER is a jump.
_MAX_DROPOUT = const(3000)
_MAX_MISORDER = const(100)


class RtpSender:
    def __init__(self, payload_type, encode_into=None, samples_per_frame=160, max_payload=320):
        if not 0 <= payload_type <= 127:
            raise ValueError("rtp: payload type must be 0..127")
        if samples_per_frame <= 0 or max_payload < samples_per_frame:
            raise ValueError("rtp: bad frame size")
        self.payload_type = payload_type
        self.samples_per_frame = samples_per_frame
        self._encode = encode_into
        self._buf = bytearray(_HEADER + max_payload)
        self._mv = memoryview(self._buf)
        self.payload = self._mv[_HEADER:]
        self._len_a = _HEADER + samples_per_frame
        self._view_a = self._mv[:self._len_a]
        self._len_b = _HEADER + 4
        self._view_b = self._mv[:self._len_b]
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

    def skip(self, units):
        """Let the timestamp count `units` sampling instants nobody was sent for."""
        self._advance(units)
        self._marker = True

    def skip_frames(self, frames):
        self.skip(frames * self.samples_per_frame)

    def _advance(self, units):
        ts = self._ts + units
        while ts > _MASK30:
            ts -= _PERIOD30
            self._ts_top = (self._ts_top + 1) & 3
        self._ts = ts

    def _header(self, payload_len, payload_type, marker, ts):
        # Big-endian fields written bytewise: no tuple, no big int (RFC 3550 5.1).
        buf = self._buf
        top = self._ts_top
        if ts < 0:
            ts += _PERIOD30
            top = (top - 1) & 3
        buf[1] = payload_type | 0x80 if marker else payload_type
        seq = self.seq
        buf[2] = seq >> 8
        buf[3] = seq & 0xFF
        buf[4] = (top << 6) | (ts >> 24)
        buf[5] = (ts >> 16) & 0xFF
        buf[6] = (ts >> 8) & 0xFF
        buf[7] = ts & 0xFF
        self.seq = (seq + 1) & 0xFFFF
        self.packets += 1
        self.octets += payload_len
        # Views of the two usual sizes (audio frame, RFC 4733 event) are made
        # once: a slice per packet would allocate.
        total = _HEADER + payload_len
        if total == self._len_a:
            return self._view_a
        if total != self._len_b:
            self._len_b = total
            self._view_b = self._mv[:total]
        return self._view_b

    def pack(self, payload_len, payload_type=-1, marker=False, advance=-1):
        """Header for the payload_len bytes already in .payload; the packet."""
        if not 0 <= payload_len <= len(self.payload):
            raise ValueError("rtp: payload length out of range")
        if payload_type < 0:
            payload_type = self.payload_type
        marker = marker or self._marker
        self._marker = False
        packet = self._header(payload_len, payload_type, marker, self._ts)
        self._advance(self.samples_per_frame if advance < 0 else advance)
        return packet

    def pack_at(self, payload_len, payload_type, marker, ts_offset):
        """A packet stamped ts_offset units before the next timestamp; the
        timestamp does not move (RFC 4733 2.3.1: every packet of one event
        carries the event's start)."""
        if not 0 <= payload_len <= len(self.payload):
            raise ValueError("rtp: payload length out of range")
        return self._header(payload_len, payload_type, marker, self._ts - ts_offset)

    def pack_frame(self, pcm):
        """Encode one frame of S16LE pcm into the payload and pack it."""
        # The 20 ms hot path: pack() and _header() inlined (a Python call costs
        # as much as a dozen byte stores on MicroPython).
        n = self.samples_per_frame
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
        ts += n
        if ts > _MASK30:
            ts -= _PERIOD30
            self._ts_top = (self._ts_top + 1) & 3
        self._ts = ts
        return self._view_a


class RtpReceiver:
    def __init__(self, payload_types, event_pt=None, jitter=None, clock_khz=8, remote=None,
                 other_types=(13,)):
        self.payload_types = tuple(payload_types)
        self.other_types = tuple(other_types)
        self.event_pt = -1 if event_pt is None else event_pt
        self.jitter = jitter
        self.clock_khz = clock_khz
        self.received = 0
        self.dropped = 0
        self.bad_header = 0    # truncated, bad padding, header longer than the packet
        self.bad_version = 0
        self.bad_type = 0      # payload type not negotiated
        self.wrong_source = 0  # not from the far end we latched on
        self.seq_jumps = 0
        self.ssrc_changes = 0
        self.payload_offset = 0
        self.payload_len = 0
        self.payload_type = -1
        self.marker = False
        self.seq = 0
        self.timestamp = 0
        self._ts_top = 0
        self.restarted = False
        self.set_remote(remote)
        self._reset_source()

    def set_remote(self, remote):
        """Forget the learned address; latch on `remote` or on the next sender."""
        self.remote = remote

    def _reset_source(self):
        self._ssrc_hi = -1
        self._ssrc_lo = -1
        self._base_seq = 0
        self._max_seq = 0
        self._cycles = 0
        self._bad_seq = -1
        self._received = 0       # this source's packets (A.3)
        self._expected_prior = 0
        self._received_prior = 0
        self._have_transit = False
        self._transit = 0
        self._jitter16 = 0       # A.8 interarrival jitter, scaled by 16
        self._arrival = 0        # arrival time in timestamp units, modulo 2**30
        self._last_ms = 0
        self._lost_before = 0    # losses of earlier SSRCs in this call

    def _init_seq(self, seq):
        # RFC 3550 A.1 init_seq
        self._base_seq = seq
        self._max_seq = seq
        self._bad_seq = -1
        self._cycles = 0
        self._received = 0
        self._expected_prior = 0
        self._received_prior = 0
        self._have_transit = False
        self._jitter16 = 0

    def on_packet(self, buf, n, source, now_ms):
        """Check and account one datagram of n bytes from source (host, port)."""
        # Written flat, with few calls: this runs for every packet, 50 a second.
        if n < _HEADER or n > len(buf):
            return self._bad_header()
        b0 = buf[0]
        if b0 & 0xC0 != 0x80:
            self.bad_version += 1
            self.dropped += 1
            return KIND_DROPPED
        b1 = buf[1]
        pt = b1 & 0x7F
        if pt in self.payload_types:
            kind = KIND_AUDIO
        elif pt == self.event_pt:
            kind = KIND_EVENT
        elif pt in self.other_types:
            kind = KIND_OTHER
        else:
            self.bad_type += 1
            self.dropped += 1
            return KIND_DROPPED
        # Payload bounds: CSRC list, header extension (5.3.1), padding (5.1).
        off = _HEADER
        end = n
        if b0 & 0x3F:
            off += (b0 & 0x0F) << 2
            if b0 & 0x10:
                if off + 4 > n:
                    return self._bad_header()
                off += 4 + (((buf[off + 2] << 8) | buf[off + 3]) << 2)
            if b0 & 0x20:
                pad = buf[n - 1]
                if pad == 0:
                    return self._bad_header()
                end -= pad
            if off > end:
                return self._bad_header()
        remote = self.remote
        if remote is None:
            # Symmetric RTP (RFC 4961): whoever sends the first valid packet is the
            # far end, whatever its SDP said (NAT); answer there from now on.
            self.remote = source
        elif source[1] != remote[1] or source[0] != remote[0]:
            self.wrong_source += 1
            self.dropped += 1
            return KIND_DROPPED
        seq = (buf[2] << 8) | buf[3]
        restarted = False
        if ((buf[8] << 8) | buf[9]) != self._ssrc_hi or ((buf[10] << 8) | buf[11]) != self._ssrc_lo:
            # A new source (the peer restarted its stream, a transfer, ...):
            # re-sync sequence and jitter state instead of calling it loss.
            if self._ssrc_hi >= 0:
                self.ssrc_changes += 1
                self._lost_before += self.lost()
                restarted = True
            self._ssrc_hi = (buf[8] << 8) | buf[9]
            self._ssrc_lo = (buf[10] << 8) | buf[11]
            self._init_seq(seq)
        else:
            max_seq = self._max_seq
            udelta = (seq - max_seq) & 0xFFFF
            if udelta < _MAX_DROPOUT:
                if seq < max_seq:
                    self._cycles += 0x10000  # sequence number wrapped
                self._max_seq = seq
            elif udelta <= 0x10000 - _MAX_MISORDER:
                # A.1: a very large jump; believe it once the next packet follows.
                if seq == self._bad_seq:
                    self.seq_jumps += 1
                    self._lost_before += self.lost()
                    self._init_seq(seq)
                    restarted = True
                else:
                    self._bad_seq = (seq + 1) & 0xFFFF
                    return self._bad_header()
            # else: duplicate or reordered within _MAX_MISORDER, counted as received
        self._received += 1
        self.received += 1
        ts = ((buf[4] & 0x3F) << 24) | (buf[5] << 16) | (buf[6] << 8) | buf[7]
        if kind == KIND_AUDIO:
            # RFC 3550 A.8 interarrival jitter, in timestamp units modulo 2**30;
            # now_ms is a ticks_ms value (2**30 period on both interpreters).
            if self._have_transit:
                dt = (now_ms - self._last_ms) & _MASK30
                if dt >= _HALF30:
                    dt -= _PERIOD30
                arrival = (self._arrival + dt * self.clock_khz) & _MASK30
                transit = (arrival - ts) & _MASK30
                d = (transit - self._transit) & _MASK30
                if d >= _HALF30:
                    d = _PERIOD30 - d
                self._jitter16 += d - ((self._jitter16 + 8) >> 4)
            else:
                self._have_transit = True
                arrival = 0
                transit = (-ts) & _MASK30
            self._arrival = arrival
            self._transit = transit
            self._last_ms = now_ms
        self.payload_offset = off
        self.payload_len = end - off
        self.payload_type = pt
        self.marker = b1 > 0x7F
        self.seq = seq
        self.timestamp = ts
        self._ts_top = buf[4] >> 6
        self.restarted = restarted
        if kind == KIND_AUDIO and self.jitter is not None:
            if restarted:
                self.jitter.reset()
            self.jitter.put(ts, buf, off, end - off)
        return kind

    def _bad_header(self):
        # truncated, bad padding, a header longer than the packet, a bad jump
        self.bad_header += 1
        self.dropped += 1
        return KIND_DROPPED

    # RFC 3550 A.3 figures for this source.
    def extended_max(self):
        return self._cycles + self._max_seq

    def expected(self):
        if self._ssrc_hi < 0:
            return 0
        return self._cycles + self._max_seq - self._base_seq + 1

    def lost(self):
        """Cumulative packets lost (duplicates can make it negative, as A.3 says)."""
        return self.expected() - self._received

    def lost_total(self):
        """Lost over the call, across SSRC changes; never negative."""
        lost = self._lost_before + self.lost()
        return lost if lost > 0 else 0

    def fraction_lost(self):
        """Loss since the previous call, as the 8-bit fraction of A.3 (0..255)."""
        expected = self.expected()
        expected_interval = expected - self._expected_prior
        received_interval = self._received - self._received_prior
        self._expected_prior = expected
        self._received_prior = self._received
        lost_interval = expected_interval - received_interval
        if expected_interval <= 0 or lost_interval <= 0:
            return 0
        return (lost_interval << 8) // expected_interval

    def jitter_units(self):
        return self._jitter16 >> 4

    def jitter_ms(self):
        return (self._jitter16 >> 4) / self.clock_khz

    @property
    def timestamp32(self):
        """The last kept packet's full 32-bit timestamp (a big int on ESP32: use
        it for event packets, .timestamp for audio)."""
        return (self._ts_top << 30) | self.timestamp

    @property
    def ssrc(self):
        if self._ssrc_hi < 0:
            return None
        return (self._ssrc_hi << 16) | self._ssrc_lo


def call_figures(sender, receiver, jitter=None):
    """The call's RTP figures for the call_ended event (JSON-ready dict)."""
    figures = {
        "packets_sent": sender.packets if sender is not None else 0,
        "packets_received": receiver.received if receiver is not None else 0,
        "packets_lost": receiver.lost_total() if receiver is not None else 0,
        "packets_dropped": receiver.dropped if receiver is not None else 0,
        "packets_late": jitter.late if jitter is not None else 0,
        "jitter_ms": round(receiver.jitter_ms(), 1) if receiver is not None else 0.0,
    }
    return figures

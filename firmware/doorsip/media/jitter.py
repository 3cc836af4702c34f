"""Adaptive jitter buffer on a fixed ring of frame slots.

JitterBuffer(decode_into, silence_code=0xFF, frame_samples=160, frame_ms=20,
             slots=16, start_ms=40, min_ms=20, max_ms=200, ring=None)
    ring: a bytearray of slots * frame_samples bytes to use as the ring (a
        station lends one block to every call), or None for one of its own.
        With a lent ring every payload is copied into it (see below).
    .put(timestamp, buf, offset, length) -> 0 stored | 1 duplicate | 2 late |
        3 resync (a new stream: started over) | 4 bad (PUT_BAD). timestamp: the
        RTP timestamp (any width; the low 30 bits are used, see rtp.py). A payload
        longer than a frame fills the following slots (a peer sending 40 ms
        packets still plays).
    .get_into(out_pcm) -> 0 frame | 1 concealed | 2 silence; writes one frame
        (frame_samples S16LE samples) into out_pcm, every 20 ms.
    .reset()       forget the stream (new SSRC); counters stay.
    .depth_ms      the current target depth; .buffered() frames held ahead.
    counters: received, played, concealed, silent, late, duplicates, resyncs,
    skipped (frames dropped to shrink the delay), bad.

The ring holds codes (one byte per sample), decoded on the way out. Memory is
slots * frame_samples bytes, allocated once (or lent by the caller); put and get
allocate nothing. With this package's G.711 decoders a full frame arriving in an
immutable bytes object is not copied: the slot keeps a reference to the packet
(at most `slots` held) -- unless the ring was lent: a station in a small
MicroPython heap copies, so a packet is garbage once stored instead of pinning
a piece of a heap that never moves objects while it waits to be played.
Playout starts once start_ms of audio is held. A late packet grows the target
by one frame (up to max_ms) and holds playout one frame; after 5 s without one
the target shrinks by a frame (down to min_ms) and a frame is dropped. A missing
frame is concealed by the last frame at 3/4, 1/2, 1/4 level, then silence.
"""
from doorsip.compat import const, text_line
from doorsip.media.g711 import copy_raw, scale_into, unchecked

# put's and get_into's results (the numbers above); only PUT_BAD is imported.
_PUT_STORED = const(0)
_PUT_DUPLICATE = const(1)
_PUT_LATE = const(2)
_PUT_RESYNC = const(3)
PUT_BAD = const(4)

_GOT_FRAME = const(0)
_GOT_CONCEALED = const(1)
_GOT_SILENCE = const(2)

_MASK30 = const(0x3FFFFFFF)
_HALF30 = const(0x20000000)
_LATE_WINDOW = const(50)   # frames: older than this is a new stream, not a late packet
_CALM_FRAMES = const(250)  # 5 s of 20 ms frames without a late packet
_CONCEAL_FRAMES = const(3)
_SLACK = const(2)          # frames held beyond the target before trimming

# The texts of the errors raised here, line k picked where raised: one string
# object instead of three.
_TEXTS = const("jitter: need min <= start <= max and max shorter than the ring\n"
               "jitter: the ring must hold slots * frame_samples bytes\n"
               "jitter: output buffer shorter than a frame")


class JitterBuffer:
    def __init__(self, decode_into, silence_code=0xFF, frame_samples=160, frame_ms=20,
                 slots=16, start_ms=40, min_ms=20, max_ms=200, ring=None):
        if not 0 < min_ms <= start_ms <= max_ms or max_ms // frame_ms + _SLACK >= slots:
            raise ValueError(text_line(_TEXTS, 0))  # need min <= start <= max ...
        # Our G.711 decoders come with an offset kernel: a frame is then decoded
        # straight from the packet it came in (an immutable bytes object), with
        # no copy. Other decoders get a copy in the ring.
        at = unchecked(decode_into)
        self._decode_at = None if at is decode_into else at
        self._by_reference = self._decode_at is not None and ring is None
        self._decode = decode_into
        self.frame_samples = frame_samples
        self.frame_ms = frame_ms
        self._slots = slots
        self._min = min_ms // frame_ms
        self._max = max_ms // frame_ms
        self._start = start_ms // frame_ms
        if ring is None:
            ring = bytearray(slots * frame_samples)
        elif len(ring) != slots * frame_samples:
            raise ValueError(text_line(_TEXTS, 1))  # the ring must hold ...
        data = ring
        self._data = data
        # One view per slot, made once: slicing at play time would allocate.
        # Only a decoder without an offset kernel reads them (16 views: 650 bytes).
        self._views = None
        if self._decode_at is None:
            mv = memoryview(data)
            views = self._views = []
            for i in range(slots):  # a loop: a comprehension is a function of its own
                views.append(mv[i * frame_samples:(i + 1) * frame_samples])
        self._full = bytearray(slots)
        self._refs = [None] * slots   # where each slot's codes are: a packet or the ring
        self._offs = [0] * slots
        self._silence = bytes([silence_code]) * frame_samples
        self.received = 0
        self.played = 0
        self.concealed = 0
        self.silent = 0
        self.late = 0
        self.duplicates = 0
        self.resyncs = 0
        self.skipped = 0
        self.bad = 0
        self.reset()

    def reset(self):
        """Empty the ring and wait for start_ms of audio again."""
        full = self._full
        for i in range(self._slots):
            full[i] = 0
            self._refs[i] = None
        self._count = 0
        self._head = 0        # slot of the next frame to play
        self._play_ts = 0     # its timestamp (30 bits)
        self._newest = 0      # newest timestamp held
        self._playing = False
        self._target = self._start
        self._stall = 0
        self._calm = 0
        self._conceal_run = 0
        self._last = -1       # slot last played, while its codes are intact

    @property
    def depth_ms(self):
        return self._target * self.frame_ms

    def buffered(self):
        """Frames from the play position to the newest held (0 when empty)."""
        if self._count == 0:
            return 0
        d = (self._newest - self._play_ts) & _MASK30
        return d // self.frame_samples + 1 if d < _HALF30 else 0

    def put(self, timestamp, buf, offset, length):
        """Store a payload of length codes at buf[offset:] played at timestamp."""
        if length <= 0 or offset < 0 or offset + length > len(buf):
            self.bad += 1
            return PUT_BAD
        self.received += 1
        ts = timestamp & _MASK30
        spf = self.frame_samples
        status = _PUT_STORED
        rebase = self._count == 0 and not self._playing
        d = 0
        if not rebase:
            d = (ts - self._play_ts) & _MASK30
            if d >= _HALF30:
                d = d - _MASK30 - 1  # minus 2**30, without 2**30 (a big int on ESP32)
        if d < 0:
            if not self._playing and d > -spf * (self._slots - self.buffered()):
                # Reordered packets before playout: start earlier.
                k = d // spf
                self._head = (self._head + k) % self._slots
                self._play_ts = (self._play_ts + k * spf) & _MASK30
                d -= k * spf
            elif d > -spf * _LATE_WINDOW:
                # RFC 3550 6.4.1's jitter made real: grow the target and hold
                # playout a frame, so the next packets make it in time.
                self.late += 1
                self._calm = 0
                if self._target < self._max:
                    self._target += 1
                    self._stall += 1
                return _PUT_LATE
            else:
                status = _PUT_RESYNC
        elif d + length - 1 >= spf * self._slots:
            # Far ahead of the ring: the sender jumped (restart, long pause).
            status = _PUT_RESYNC
        if status == _PUT_RESYNC:
            # A new stream: start over at this packet, keeping the target depth.
            self.resyncs += 1
            target = self._target
            self.reset()
            self._target = target
            rebase = True
            d = 0
        if rebase:
            self._play_ts = ts
            self._newest = ts
            self._head = 0
            self._last = -1
        # Store frame by frame (a long payload spans several slots).
        k = d // spf
        stored = False
        full = self._full
        by_reference = self._by_reference and type(buf) is bytes
        while length > 0:
            n = spf if length > spf else length
            slot = (self._head + k) % self._slots
            if full[slot]:
                self.duplicates += 1
            else:
                if by_reference and n == spf:
                    self._refs[slot] = buf
                    self._offs[slot] = offset
                else:
                    # ranges checked above: offset + length <= len(buf), slot in ring
                    copy_raw(self._data, slot * spf, buf, offset, n)
                    if n < spf:
                        copy_raw(self._data, slot * spf + n, self._silence, 0, spf - n)
                    self._refs[slot] = self._data
                    self._offs[slot] = slot * spf
                full[slot] = 1
                self._count += 1
                if slot == self._last:
                    self._last = -1
                newest = (self._play_ts + k * spf) & _MASK30
                if self._count == 1 or ((newest - self._newest) & _MASK30) < _HALF30:
                    self._newest = newest
                stored = True
            offset += n
            length -= n
            k += 1
        if not stored:
            return _PUT_DUPLICATE
        return status

    def get_into(self, out):
        """Write the next frame (S16LE) into out; how it was made."""
        spf = self.frame_samples
        if len(out) < spf + spf:
            raise ValueError(text_line(_TEXTS, 2))  # output buffer shorter than a frame
        if not self._playing:
            if self._count and self.buffered() >= self._target:
                self._playing = True
            else:
                self._frame(-1, out)
                return _GOT_SILENCE
        full = self._full
        head = self._head
        hold = self._stall > 0
        if hold:
            # Hold the play position one frame: the delay grows by a frame.
            self._stall -= 1
        else:
            if self._count > self._target + _SLACK and full[head]:
                # More held than needed (a burst, or the sender's clock runs
                # fast): drop a frame to bring the delay back.
                head = self._discard(head)
            if self._calm >= _CALM_FRAMES:
                self._calm = 0
                if self._target > self._min:
                    self._target -= 1
                    if full[head] and self._count > 1:
                        head = self._discard(head)
        if not hold and full[head]:
            self._frame(head, out)
            full[head] = 0
            self._count -= 1
            self._last = head
            self._conceal_run = 0
            self._calm += 1
            self.played += 1
            kind = _GOT_FRAME
        else:
            run = self._conceal_run + 1
            self._conceal_run = run
            if run <= _CONCEAL_FRAMES and self._last >= 0:
                # Repeat the last frame, quieter each time (a plain form of the
                # packet loss concealment G.711 Appendix I describes).
                self._frame(self._last, out)
                scale_into(out, spf, 16 - 4 * run)
                self.concealed += 1
                kind = _GOT_CONCEALED
            else:
                self._frame(-1, out)
                kind = _GOT_SILENCE
            if hold:
                return kind
            if self._count == 0 and run > self._max:
                # Nothing arrives (hold, a vanished peer): start over on the
                # next packet instead of counting losses forever.
                self._playing = False
        head += 1
        self._head = 0 if head == self._slots else head
        self._play_ts = (self._play_ts + spf) & _MASK30
        return kind

    def _discard(self, head):
        # Drop the frame at head to shrink the delay; the new head.
        self._full[head] = 0
        self._count -= 1
        self.skipped += 1
        head = self._head = (head + 1) % self._slots
        self._play_ts = (self._play_ts + self.frame_samples) & _MASK30
        return head

    def _frame(self, index, out):
        # Decode the codes of slot `index` into out; index -1: a frame of silence.
        if index < 0:
            codes = self._silence
            off = 0
            self.silent += 1
        else:
            codes = self._refs[index]
            off = self._offs[index]
        if self._decode_at is not None:
            self._decode_at(codes, off, out, self.frame_samples)
        else:
            self._decode(self._views[index] if index >= 0 else codes, out, self.frame_samples)

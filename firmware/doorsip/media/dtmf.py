"""DTMF in three forms: RFC 4733 telephone-events, SIP INFO bodies, in-band tones.

Digits are one-character str from DIGITS ("0"-"9", "*", "#", "A"-"D", RFC 4733
event codes 0-15). Every digit is reported once with its method: "rfc4733",
"info" or "inband". Sans-IO: bytes and timestamps in, digits out.

    rx = Rfc4733Receiver(end_timeout_ms=600, queue_size=8)
    rx.receive(payload, rtp_timestamp, now_ms) -> digits waiting (int); the
        timestamp whole or its low 30 bits (rtp.RtpReceiver.timestamp: a small
        int on an ESP32, where the 32-bit one would allocate); now_ms: ticks_ms
    rx.poll(now_ms)                            -> the same, after the end timeout
    rx.next_digit()                            -> digit str or None; then
        rx.digit_start_ms: when that key press began (for DigitDeduplicator)
    rx.reset(); counters rx.packets, rx.ignored, rx.dropped; rx.volume, rx.duration
    tx = Rfc4733Sender(clock_rate=8000, interval_ms=20, end_repeats=3, volume=10)
    tx.start(digit, duration_ms, rtp_timestamp); tx.finish() ends it early
    tx.next_payload(buf=None, offset=0) -> payload length, 0 when idle; then
        tx.marker (set the RTP M bit), tx.timestamp (RTP timestamp of this
        packet), tx.ended (last packet of the event), tx.active (more to come)
    info_body(digit, duration_ms=160, content_type="application/dtmf-relay") -> bytes
    parse_info(content_type, body) -> digit or None (never raises)
    DigitDeduplicator(window_ms=500).accept(digit, method, now_ms, start_ms=None)
        -> bool; .reset()
    InbandDetector(...) -> see dtmf_inband.py (imported only when asked for)
    digit_code(digit) -> 0-15 (ValueError otherwise)

Receive and the per-tick send allocate nothing (tests/mpy/test_dtmf_heap_lock.py).
"""
from doorsip.compat import const, text_line, ticks_add, ticks_diff

DIGITS = "0123456789*#ABCD"
# DIGITS[code] is the digit's one-character string without allocating: MicroPython
# hands out a one-character string as its qstr (CPython caches them), so once the
# sixteen are interned (here, at import: iterating DIGITS interns each) the receive
# path allocates nothing. A tuple of the sixteen constant strings would hold sixteen
# str objects (~0.9 KB of heap with the tuple).
tuple(DIGITS)

CONTENT_DTMF_RELAY = "application/dtmf-relay"
_CONTENT_DTMF = const("application/dtmf")

_EVENT_COUNT = const(16)       # RFC 4733 section 3.2: events 0-15 are the DTMF digits
_MAX_DURATION = const(0xFFFF)  # 16-bit duration field (RFC 4733 section 2.3.5)
_TS_MASK = const(0xFFFFFFFF)
# The receiver compares timestamps modulo 2**30 (2**32 is a multiple, so serial
# arithmetic stays right across the 32-bit wrap): an ESP32's small ints stop at
# 2**30, and a big int per packet would allocate. rtp.RtpReceiver.timestamp is
# already the low 30 bits.
_RX_MASK = const(0x3FFFFFFF)
_RX_HALF = const(0x20000000)
_END_BIT = const(0x80)
_VOLUME_MASK = const(0x3F)
# The texts of the ValueErrors raised here, line k picked where raised: one str
# object instead of one per text (a heap object of 56-112 bytes each, for good).
_TEXTS = const("not a DTMF digit: %r\n"
               "dtmf: volume must be 0-63 (-dBm0), end_repeats at least 1\n"
               "duration_ms must be a positive int\n"
               "duration_ms must be 1-65535\n"
               "unsupported DTMF content type: %s")


def digit_code(digit):
    """RFC 4733 event code (0-15) of a digit; ValueError for anything else."""
    if isinstance(digit, str) and len(digit) == 1:
        code = DIGITS.find(digit.upper())
        if code >= 0:
            return code
    raise ValueError(text_line(_TEXTS, 0) % (digit,))  # not a DTMF digit: %r


class Rfc4733Receiver:
    """RFC 4733 telephone-event receiver reporting each digit once.

    An event is identified by its RTP timestamp (section 2.5.2.1): updates and the
    repeated end packets (section 2.5.1.4) share it. A digit is reported at the
    first end packet; if every end packet was lost, when a newer event starts or
    when no packet of the event came for end_timeout_ms (checked in receive/poll).
    Segments of a long event (section 2.5.1.3: same code, timestamp advanced by
    0xFFFF) continue the same digit. Packets older than the current event
    (reordered; serial-number arithmetic modulo 2**30) are ignored. The timestamp
    may be the RTP timestamp or its low 30 bits (pass the latter on an ESP32).
    """

    def __init__(self, end_timeout_ms=600, queue_size=8, clock_khz=8):
        self.end_timeout_ms = end_timeout_ms
        self.clock_khz = clock_khz
        self._queue = bytearray(queue_size)
        self._starts = [0] * queue_size  # ticks_ms each queued key press began
        self._start_ms = 0
        self.digit_start_ms = 0
        self._code = 0
        self._last_ms = 0
        self.duration = 0      # last duration field (timestamp units)
        self.volume = 0        # last volume field (-dBm0)
        self.packets = 0
        self.ignored = 0       # too short, stale or non-digit blocks
        self.dropped = 0       # digits lost because the queue was full
        self.reset()

    def reset(self):
        """Forget the current event and queued digits (new call or stream)."""
        self._head = self._count = 0
        self._ts = -1          # the current event's RTP timestamp (of its segment); -1: none yet
        self._reported = True  # reported, or not a digit: nothing more to say

    def receive(self, payload, timestamp, now_ms):
        """Feed one telephone-event payload with its RTP timestamp; returns digits waiting."""
        self.packets += 1
        self.poll(now_ms)
        n = len(payload)
        if n < 4:
            self.ignored += 1
            return self._count
        # Several events may be packed in one payload (RFC 4733 section 2.5.1.5):
        # each starts where the previous one's duration ended.
        pos = 0
        ts = timestamp & _RX_MASK
        while pos + 4 <= n:
            code = payload[pos]
            flags = payload[pos + 1]
            duration = (payload[pos + 2] << 8) | payload[pos + 3]
            pos += 4
            block_ts = ts
            ts = (ts + duration) & _RX_MASK
            if self._ts >= 0:
                delta = (block_ts - self._ts) & _RX_MASK
                if code == self._code and (delta == 0 or (delta == _MAX_DURATION and not self._reported)):
                    # The same event (an update, an end packet or one of its
                    # repeats), or the next segment of a long one (section
                    # 2.5.1.3): the same digit.
                    if not self._reported:
                        self._ts = block_ts
                        self._last_ms = now_ms
                        self.duration = duration
                        if flags & _END_BIT:
                            self._report()
                    continue
                # (delta 0 here: another code at the same timestamp, which some
                # senders use for back-to-back events: a new event.)
                if delta >= _RX_HALF:
                    self.ignored += 1  # older than the current event: reordered or late
                    continue
                if not self._reported:
                    self._report()  # a newer event started: the old one's end was lost
            self._ts = block_ts
            self._code = code
            self._last_ms = now_ms
            # The key went down `duration` units before this (first seen) packet.
            self._start_ms = ticks_add(now_ms, -(duration // self.clock_khz))
            self.duration = duration
            self.volume = flags & _VOLUME_MASK
            if code >= _EVENT_COUNT:
                self.ignored += 1  # not a DTMF digit (e.g. 16 flash): tracked, not reported
                self._reported = True
                continue
            self._reported = False
            if flags & _END_BIT:
                self._report()
        return self._count

    def poll(self, now_ms):
        """Report an event whose end packets never came; returns digits waiting."""
        if not self._reported and ticks_diff(now_ms, self._last_ms) >= self.end_timeout_ms:
            self._report()
        return self._count

    def next_digit(self):
        """The oldest digit not yet taken, or None."""
        if not self._count:
            return None
        code = self._queue[self._head]
        self.digit_start_ms = self._starts[self._head]
        self._head += 1
        if self._head == len(self._queue):
            self._head = 0
        self._count -= 1
        return DIGITS[code]

    def _report(self):
        self._reported = True
        size = len(self._queue)
        if self._count == size:
            self.dropped += 1
            return
        tail = self._head + self._count
        if tail >= size:
            tail -= size
        self._queue[tail] = self._code
        self._starts[tail] = self._start_ms
        self._count += 1


class Rfc4733Sender:
    """RFC 4733 telephone-event payloads for one event at a time, one per tick.

    start() an event, then call next_payload() every packet interval instead of
    sending audio while tx.active: the first packet carries the marker (section
    2.5.1.1), updates grow the duration, the final duration is sent end_repeats
    times with the E bit (section 2.5.1.4). All packets carry the event start
    timestamp; an event longer than 0xFFFF units is split into segments whose
    timestamp advances by 0xFFFF (section 2.5.1.3).
    """

    def __init__(self, clock_rate=8000, interval_ms=20, end_repeats=3, volume=10):
        if not 0 <= volume <= 63 or end_repeats < 1:
            raise ValueError(text_line(_TEXTS, 1))  # dtmf: volume must be 0-63 ...
        self.payload = bytearray(4)
        self.clock_khz = clock_rate // 1000  # timestamp units per ms
        self._step = self.clock_khz * interval_ms
        self.end_repeats = end_repeats
        self.volume = volume
        self.active = False
        self.marker = False
        self.ended = False
        self.timestamp = 0
        self._code = 0
        self._remaining = 0   # units still to cover, from the current segment start
        self._elapsed = 0     # duration reported so far in this segment
        self._ends_sent = 0
        self._first = False
        self._segment_full = False

    def start(self, digit, duration_ms, timestamp):
        """Begin sending digit for duration_ms, starting at RTP timestamp."""
        code = digit_code(digit)
        if not isinstance(duration_ms, int) or duration_ms <= 0:
            raise ValueError(text_line(_TEXTS, 2))  # duration_ms must be a positive int
        self._code = code
        self._remaining = duration_ms * self.clock_khz
        self._elapsed = 0
        self._ends_sent = 0
        self._first = True
        self._segment_full = False
        self.timestamp = timestamp & _TS_MASK
        self.active = True
        self.ended = False
        self.marker = False

    def finish(self):
        """End the event at the duration already sent (key released early)."""
        if self.active and not self._ends_sent:
            if self._segment_full:
                # the last packet closed a full segment: end one interval into the next
                self._remaining = _MAX_DURATION + self._step
            else:
                self._remaining = self._elapsed if self._elapsed else self._step

    def next_payload(self, buf=None, offset=0):
        """Write the next 4-byte payload into buf[offset:] (or self.payload); its length, 0 if idle."""
        if not self.active:
            self.marker = False
            self.ended = False
            return 0
        if buf is None:
            buf = self.payload
            offset = 0
        end = 0
        if self._ends_sent:
            end = _END_BIT  # a repeat of the end packet: same duration and timestamp
            duration = self._elapsed
            self._ends_sent += 1
        else:
            if self._segment_full:
                # The previous packet closed a full segment: continue in a new one.
                self.timestamp = (self.timestamp + _MAX_DURATION) & _TS_MASK
                self._remaining -= _MAX_DURATION
                self._elapsed = 0
                self._segment_full = False
            duration = self._elapsed + self._step
            if duration >= self._remaining:
                duration = self._remaining
                if duration <= _MAX_DURATION:
                    end = _END_BIT
            if duration >= _MAX_DURATION and not end:
                duration = _MAX_DURATION  # reported without E bit (2.5.1.3)
                self._segment_full = True
            self._elapsed = duration
            if end:
                self._ends_sent = 1
        self.marker = self._first
        self._first = False
        buf[offset] = self._code
        buf[offset + 1] = end | self.volume
        buf[offset + 2] = duration >> 8
        buf[offset + 3] = duration & 0xFF
        if self._ends_sent >= self.end_repeats:
            self.active = False
            self.ended = True
        return 4


def _media_type(content_type):
    # "Application/DTMF-Relay; x=y" -> "application/dtmf-relay"
    if isinstance(content_type, (bytes, bytearray, memoryview)):
        content_type = bytes(content_type).decode()
    return content_type.partition(";")[0].strip().lower()


def parse_info(content_type, body):
    """The digit carried by a SIP INFO request, or None (never raises).

    application/dtmf-relay: "Signal=5\\r\\nDuration=160\\r\\n" with any case,
    whitespace and line ends; Duration may be missing; the signal may also be
    its RFC 4733 event number (some phones send "Signal=10" for "*" and
    "Signal=11" for "#"). application/dtmf: the body is the digit. Any other
    content type or a bad body gives None.
    """
    try:
        media = _media_type(content_type)
        if isinstance(body, str):
            body = body.encode()
        else:
            body = bytes(body)
        token = None
        if media == CONTENT_DTMF_RELAY:
            for line in body.split(b"\n"):
                key, sep, value = line.partition(b"=")
                if sep and key.strip().lower() == b"signal":
                    token = value.strip()
                    if len(token) == 2 and token.isdigit() and int(token) < _EVENT_COUNT:
                        return DIGITS[int(token)]
                    break
        elif media == _CONTENT_DTMF:
            token = body.strip()
        if token is None or len(token) != 1:
            return None
        code = DIGITS.find(token.decode().upper())
        return DIGITS[code] if code >= 0 else None
    except (ValueError, TypeError, AttributeError, UnicodeError):
        return None


def info_body(digit, duration_ms=160, content_type=CONTENT_DTMF_RELAY):
    """The body of a SIP INFO request carrying digit, as bytes."""
    code = digit_code(digit)
    if not isinstance(duration_ms, int) or not 0 < duration_ms <= 65535:
        raise ValueError(text_line(_TEXTS, 3))  # duration_ms must be 1-65535
    media = _media_type(content_type)
    if media == CONTENT_DTMF_RELAY:
        return ("Signal=%s\r\nDuration=%d\r\n" % (DIGITS[code], duration_ms)).encode()
    if media == _CONTENT_DTMF:
        return DIGITS[code].encode()
    raise ValueError(text_line(_TEXTS, 4) % media)  # unsupported DTMF content type: %s


class DigitDeduplicator:
    """Counts a digit once when several methods report the same key press.

    accept(digit, method, now_ms, start_ms=None) is False when the same digit was
    accepted from another method within window_ms and this method has not
    reported it yet; otherwise it is a new key press. A repeat from the same
    method, a later one, or one after a different digit counts again. Times are
    compared at the key press's start when the method knows it (start_ms, e.g.
    Rfc4733Receiver.digit_start_ms: an RFC 4733 digit is reported at the key's
    release, an in-band one 40 ms after the key went down), else at now_ms.
    """

    def __init__(self, window_ms=500):
        self.window_ms = window_ms
        self.reset()

    def reset(self):
        self._digit = None
        self._ms = 0
        self._methods = 0

    def accept(self, digit, method, now_ms, start_ms=None):
        if method == "rfc4733":
            bit = 1
        elif method == "info":
            bit = 2
        elif method == "inband":
            bit = 4
        else:
            bit = 8
        if start_ms is None:
            start_ms = now_ms
        if (digit == self._digit and not self._methods & bit
                and -self.window_ms <= ticks_diff(start_ms, self._ms) <= self.window_ms):
            self._methods |= bit
            return False
        self._digit = digit
        self._ms = start_ms
        self._methods = bit
        return True


def InbandDetector(*args, **kwargs):
    """An in-band detector (dtmf_inband.InbandDetector), imported on first use."""
    from doorsip.media.dtmf_inband import InbandDetector as cls
    return cls(*args, **kwargs)

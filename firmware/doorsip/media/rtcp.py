"""RTCP (RFC 3550 section 6) for one RTP session, sans-IO.

RtcpSession(sender, receiver, cname=b"doorsip", interval_ms=5000)
    sender/receiver: the call's RtpSender and RtpReceiver (rtp.py).
    .due(now_ms) -> bool       time to send a report (RFC 3550 6.3.1: the interval
                               is randomized to 0.5..1.5 x interval_ms)
    .build_report(now_ms) -> memoryview   compound SR (we sent media since the last
                               report) or RR, with a report block on the far end's
                               stream (loss, jitter, LSR/DLSR) and SDES CNAME (6.1)
    .build_bye(now_ms, reason=b"") -> memoryview   report + BYE (6.6), at hang-up
    .on_packet(buf, n, source, now_ms) -> bit mask of what it held: 1 SR, 2 RR,
                               4 SDES, 8 BYE, 16 other; 0 when dropped
                               (malformed, wrong host): counted in .dropped
    What the far end reports about our stream: .peer_fraction_lost (0..255),
    .peer_lost (cumulative), .peer_jitter (timestamp units), .rtt_ms (None until
    known), .peer_packets (its sender report's count); .bye (it said BYE).
    .remote: (host, port) the far end's RTCP comes from (send there: symmetric).
The NTP timestamps count from the session's own clock (6.4.1 allows a clock
that is not wallclock time); round-trip times only need it to be steady.
"""
from struct import pack_into, unpack_from

from doorsip.compat import const, random_bytes, ticks_diff

# on_packet's mask bits (the numbers above)
_RTCP_SR = const(1)
_RTCP_RR = const(2)
_RTCP_SDES = const(4)
_RTCP_BYE = const(8)
_RTCP_OTHER = const(16)

_PT_SR = const(200)
_PT_RR = const(201)
_PT_SDES = const(202)
_PT_BYE = const(203)
_NTP_1970 = const(2208988800)  # NTP seconds at the Unix epoch, a plausible base


class RtcpSession:
    def __init__(self, sender, receiver, cname=b"doorsip", interval_ms=5000):
        if len(cname) > 255 or interval_ms <= 0:
            raise ValueError("rtcp: bad cname or interval")
        self.sender = sender
        self.receiver = receiver
        self.cname = cname
        self.interval_ms = interval_ms
        self._buf = bytearray(64 + 24 + len(cname) + 8 + 260)
        self._last_ms = None  # the clock's last reading; None: not started
        self._elapsed = 0     # ms since the session started
        self._next = 0        # elapsed ms when the next report is due
        self._sent_packets = 0
        self._lsr = 0         # middle 32 bits of the last SR's NTP time (6.4.1)
        self._lsr_at = 0      # elapsed ms when it arrived
        self.remote = None
        self.sent = 0
        self.received = 0
        self.dropped = 0
        self.peer_fraction_lost = 0
        self.peer_lost = 0
        self.peer_jitter = 0
        self.peer_packets = 0
        self.rtt_ms = None
        self.bye = False

    def due(self, now_ms, interval_ms=0):
        # True when a report is due. Also the session's clock (elapsed ms in
        # ._elapsed); with interval_ms (build_report) the next report is scheduled
        # 0.5 .. 1.5 x interval_ms from now (6.3.1), the first one at half the
        # interval (6.2). One method for both: a def costs heap.
        if self._last_ms is not None:
            self._elapsed += ticks_diff(now_ms, self._last_ms)
        elif not interval_ms:
            interval_ms = self.interval_ms // 2
        self._last_ms = now_ms
        if interval_ms:
            r = random_bytes(1)[0]
            self._next = self._elapsed + interval_ms // 2 + interval_ms * r // 255
        return self._elapsed >= self._next

    def build_report(self, now_ms):
        """A compound SR or RR + SDES packet; the next one is scheduled."""
        self.due(now_ms, self.interval_ms)
        elapsed = self._elapsed
        buf = self._buf
        sender = self.sender
        receiver = self.receiver
        ssrc = sender.ssrc if sender is not None else 0
        blocks = 1 if receiver is not None and receiver.ssrc is not None else 0
        if sender is not None and sender.packets != self._sent_packets:
            # SR: we sent media since the last report (6.4.1).
            self._sent_packets = sender.packets
            # NTP time of now: seconds and a 32-bit fraction.
            seconds = (_NTP_1970 + elapsed // 1000) & 0xFFFFFFFF
            fraction = ((elapsed % 1000) << 32) // 1000
            pack_into(">BBHIIIIII", buf, 0, 0x80 | blocks, _PT_SR, 6 + 6 * blocks, ssrc,
                      seconds, fraction, sender.timestamp, sender.packets & 0xFFFFFFFF,
                      sender.octets & 0xFFFFFFFF)
            off = 28
        else:
            pack_into(">BBHI", buf, 0, 0x80 | blocks, _PT_RR, 1 + 6 * blocks, ssrc)
            off = 8
        if blocks:
            # 6.4.1 report block on the far end's stream (A.3 loss, A.8 jitter).
            lost = receiver.lost()
            if lost > 0x7FFFFF:
                lost = 0x7FFFFF
            elif lost < -0x800000:
                lost = -0x800000
            lsr = self._lsr
            dlsr = (((elapsed - self._lsr_at) << 16) // 1000) & 0xFFFFFFFF if lsr else 0
            pack_into(">IIIIII", buf, off, receiver.ssrc,
                      (receiver.fraction_lost() << 24) | (lost & 0xFFFFFF),
                      receiver.extended_max & 0xFFFFFFFF, receiver.jitter_units, lsr, dlsr)
            off += 24
        # SDES with the CNAME: every compound packet carries one (6.1, 6.5.1); the
        # item list ends with a null octet, then pads to 32 bits (struct's "Ns"
        # pads with zeros).
        n = len(self.cname)
        size = (14 + n) & ~3
        pack_into(">BBHIBB%ds" % (size - 10), buf, off, 0x81, _PT_SDES, size // 4 - 1, ssrc,
                  1, n, bytes(self.cname))
        self.sent += 1
        return memoryview(buf)[:off + size]

    def build_bye(self, now_ms, reason=b""):
        """A report followed by BYE for our SSRC (6.6), reason optional."""
        reason = reason[:255]
        n = len(reason)
        off = len(self.build_report(now_ms))
        buf = self._buf
        size = (12 + n) & ~3 if n else 8
        # The reason's length octet, the reason, zeros to 32 bits (none: no octet).
        pack_into(">BBHIB%ds" % (size - 9 if n else 0), buf, off, 0x81, _PT_BYE,
                  size // 4 - 1, self.sender.ssrc if self.sender is not None else 0, n,
                  bytes(reason))
        return memoryview(buf)[:off + size]

    def on_packet(self, buf, n, source, now_ms):
        """Check and apply one compound RTCP datagram; a mask of what it held."""
        # RFC 3550 A.2: version 2 everywhere, the first packet an SR or RR,
        # padding only on the last one, lengths adding up to the datagram, and
        # (beyond A.2) every packet long enough for what its count announces.
        off = 0
        if n < 8 or n > len(buf) or buf[1] not in (_PT_SR, _PT_RR):
            off = -1
        while 0 <= off < n:
            if off + 4 > n or buf[off] >> 6 != 2:
                break
            count = buf[off] & 0x1F
            pt = buf[off + 1]
            size = (((buf[off + 2] << 8) | buf[off + 3]) + 1) * 4
            if (off + size > n or (buf[off] & 0x20 and off + size != n)
                    or (pt == _PT_SR and size < 28 + 24 * count)
                    or (pt == _PT_RR and size < 8 + 24 * count)
                    or (pt == _PT_BYE and size < 4 + 4 * count)):
                off = -1
            else:
                off += size
        if off != n:
            self.dropped += 1
            return 0
        rtp_remote = self.receiver.remote if self.receiver is not None else None
        if rtp_remote is not None and source[0] != rtp_remote[0]:
            self.dropped += 1
            return 0
        if self.remote is None:
            self.remote = source
        self.due(now_ms)
        elapsed = self._elapsed
        ours = self.sender.ssrc if self.sender is not None else None
        mask = 0
        off = 0
        while off < n:
            count = buf[off] & 0x1F
            pt = buf[off + 1]
            size = (((buf[off + 2] << 8) | buf[off + 3]) + 1) * 4
            blocks = -1
            if pt == _PT_SR:
                mask |= _RTCP_SR
                ntp_hi, ntp_lo, _, self.peer_packets = unpack_from(">IIII", buf, off + 8)
                self._lsr = ((ntp_hi & 0xFFFF) << 16) | (ntp_lo >> 16)
                self._lsr_at = elapsed
                blocks = off + 28
            elif pt == _PT_RR:
                mask |= _RTCP_RR
                blocks = off + 8
            elif pt == _PT_SDES:
                mask |= _RTCP_SDES
            elif pt == _PT_BYE:
                mask |= _RTCP_BYE
                peer = self.receiver.ssrc if self.receiver is not None else None
                for i in range(count):
                    if peer is None or unpack_from(">I", buf, off + 4 + 4 * i)[0] == peer:
                        self.bye = True
            else:
                mask |= _RTCP_OTHER
            off += size
            if blocks < 0:
                continue
            # The report blocks of an SR or RR: what the far end says of our stream.
            for i in range(count):
                b = blocks + 24 * i
                ssrc, lost, _, jitter, lsr, dlsr = unpack_from(">IIIIII", buf, b)
                if ssrc != ours:
                    continue
                self.peer_fraction_lost = lost >> 24
                lost &= 0xFFFFFF
                self.peer_lost = lost - 0x1000000 if lost & 0x800000 else lost
                self.peer_jitter = jitter
                if lsr:
                    # 6.4.1: round trip = arrival - LSR - DLSR, in 1/65536 s; the
                    # middle 32 bits of the NTP time of now (as in build_report).
                    now_mid = ((((_NTP_1970 + elapsed // 1000) & 0xFFFF) << 16)
                               | ((((elapsed % 1000) << 32) // 1000) >> 16))
                    rtt = (now_mid - lsr - dlsr) & 0xFFFFFFFF
                    if rtt < 0x80000000:
                        self.rtt_ms = (rtt * 1000) >> 16
        self.received += 1
        return mask

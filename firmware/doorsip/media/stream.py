"""Paced media tasks for asyncio on MicroPython and CPython.

PacedSender(produce, deliver=None, frame_ms=20, max_late=3, on_skip=None)
    Calls produce() once per frame on absolute deadlines (start + k * frame_ms), and
    deliver(packet) with what it returned unless that is None. After a stall it sends
    at most max_late overdue frames back to back and skips older ones, calling
    on_skip(n) so RTP timestamps and audio sources can move on (RFC 3550 5.1: the
    timestamp keeps counting sampling instants even when nothing is sent).
    Counters: frames (slots elapsed), sent, skipped, overdue (frames sent late),
    reanchored (the clock jumped: the schedule restarted from now).
PacketReceiver(sock, handle, bufsize=600, max_per_wake=8, reserve=False, first=0)
    Waits until sock is readable, then drains it: handle(data, addr) per datagram
    until EAGAIN, at most max_per_wake per wake before yielding to other tasks.
    first: peek with a buffer that small first (netio.recvfrom_nowait): the
    bufsize block is then needed only for a datagram that long.
    reserve=True holds one block (first, else bufsize bytes) back for the day the
    heap has no other piece that large (the SIP socket: a lost 200 OK stalls a
    call for 32 s).
    Counters: received, errors (handle raised ValueError: a malformed datagram, or
    a datagram dropped for want of memory).
Both: start() -> task, await stop() (cancel and wait; safe to call twice), cancel()
(cancel, do not wait), await
run() (PacedSender.run(frames=0): frames > 0 stops after that many slots).
The frame callables run on the event loop: they must not block.
MediaSession(sock, remote, codec, payload_type, dtmf_pt, audio_in, audio_out, ...)
    wires both to RTP, the jitter buffer, G.711 and RFC 4733 for one call (below).
"""
from doorsip import netio
from doorsip.compat import const, text_line, ticks_add, ticks_diff, ticks_ms, ticks_us

asyncio = netio.asyncio

_FRAME_MS = const(20)
_EARLY_US = const(1000)  # MicroPython's asyncio sleeps in whole ms of ticks_ms
_FRAME_BYTES = const(320)  # hal/audio.FRAME_BYTES: 20 ms of 8 kHz S16LE
_KIND_DROPPED = const(0)   # rtp.KIND_DROPPED and KIND_EVENT (rtp loads at the first call)
_KIND_EVENT = const(2)

# The texts of the errors raised here, line k picked where raised: one string
# object instead of three.
_TEXTS = const("frame_ms must be 1..99999 and max_late >= 0\nmax_per_wake must be >= 1\n"
               "no telephone-event payload type negotiated")


class _Task:
    _task = None

    def start(self):
        """Run as an asyncio task (needs a running loop); returns the task."""
        if self._task is None:
            self._task = asyncio.create_task(self.run())
        return self._task

    def cancel(self):
        """Cancel the task without waiting: it ends at the event loop's next turn."""
        task = self._task
        self._task = None
        if task is not None:
            task.cancel()

    async def stop(self):
        """Cancel the task and wait until it has ended; errors it died of propagate."""
        task = self._task
        if task is None:
            return
        self._task = None
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass


class PacedSender(_Task):
    def __init__(self, produce, deliver=None, frame_ms=_FRAME_MS, max_late=3, on_skip=None):
        if not 0 < frame_ms < 100000 or max_late < 0:
            raise ValueError(text_line(_TEXTS, 0))  # frame_ms must be ...
        self.produce = produce
        self.deliver = deliver
        self.on_skip = on_skip
        self.frame_ms = frame_ms
        self.max_late = max_late
        self.frames = 0
        self.sent = 0
        self.skipped = 0
        self.overdue = 0
        self.reanchored = 0

    async def run(self, frames=0):
        """Send until cancelled, or for `frames` frame slots when frames > 0."""
        frame_us = self.frame_ms * 1000
        # Deadlines are absolute: each is the previous one plus the frame time, so
        # the time spent producing, sending and waking up late never accumulates
        # (a relative sleep per frame drifts by all of it: DESIGN.md section 1).
        # Microseconds, so rounding to the ms clock adds no jitter of its own.
        deadline = ticks_us()
        while frames <= 0 or self.frames < frames:
            now = ticks_us()
            late = ticks_diff(now, deadline)
            if late < -2 * frame_us:
                # Never this early unless the clock jumped or a stall outlasted
                # half the ticks period (ticks_diff wrapped): re-anchor.
                deadline = now
                self.reanchored += 1
                continue
            if late < -_EARLY_US:
                await netio.sleep_us(-late)
                continue  # check again: asyncio's clock may wake us a bit early
            if late < 0:
                pass  # within the asyncio clock's 1 ms resolution: due now
            else:
                behind = late // frame_us
                if behind > self.max_late:
                    # A stall (GC, busy CPU, Wi-Fi): bursting every missed frame
                    # would flood the peer's jitter buffer, so drop the oldest.
                    skip = behind - self.max_late
                    if frames > 0 and skip > frames - self.frames:
                        skip = frames - self.frames
                    deadline = ticks_add(deadline, skip * frame_us)
                    self.frames += skip
                    self.skipped += skip
                    if self.on_skip is not None:
                        self.on_skip(skip)
                    continue
                if behind:
                    self.overdue += 1
                # Overdue or exactly on time: still let other tasks run.
                await netio.sleep_ms(0)
            packet = self.produce()
            if packet is not None:
                if self.deliver is not None:
                    self.deliver(packet)
                self.sent += 1
            self.frames += 1
            deadline = ticks_add(deadline, frame_us)


class PacketReceiver(_Task):
    def __init__(self, sock, handle, bufsize=600, max_per_wake=8, reserve=False, first=0):
        if max_per_wake < 1:
            raise ValueError(text_line(_TEXTS, 1))  # max_per_wake must be >= 1
        self.sock = sock
        self.handle = handle
        self.bufsize = bufsize
        self.max_per_wake = max_per_wake
        self.received = 0
        self.errors = 0
        # recvfrom() allocates its bufsize buffer anew for every datagram (neither
        # port has recvfrom_into), and MicroPython's heap never moves objects: one
        # block taken while the heap is still whole is the sure place for it.
        self.reserve = reserve
        self.first = first
        self._reserve = bytearray(first or bufsize) if reserve else None

    def drain(self):
        """Hand every queued datagram (at most max_per_wake) to handle; the count."""
        handle = self.handle
        sock = self.sock
        bufsize = self.bufsize
        count = 0
        while count < self.max_per_wake:
            # One datagram: (data, addr); None when none is queued; False when one
            # was dropped for want of memory.
            try:
                got = netio.recvfrom_nowait(sock, bufsize, self.first)
            except MemoryError:
                got = self._receive_tight(sock, bufsize)
            if self.reserve and self._reserve is None:
                # Taken again at once, before handle() allocates anything: the receive
                # buffer recvfrom() just freed (in the reserve's block) left it whole.
                # Measured: retaken after handle(), the block was already cut up, and
                # every later receive ran the costly path below.
                try:
                    self._reserve = bytearray(self.first or bufsize)
                except MemoryError:
                    pass
            if got is None:
                break
            count += 1
            if got is False:
                self.errors += 1
                continue
            try:
                handle(got[0], got[1])
            except (ValueError, MemoryError):
                # A malformed datagram (anyone can send to an RTP port), or one
                # too big for the heap left, must not stop the stream: count it.
                self.errors += 1
        self.received += count
        return count

    def _receive_tight(self, sock, bufsize):
        # A fragmented MicroPython heap lacks one contiguous receive buffer. First
        # collect with the reserve still held: the garbage may leave a block. Only
        # then give the reserve's block back: it is now the one block that fits,
        # so recvfrom()'s buffer goes there and the datagram's copy elsewhere, and
        # the block is whole again to be retaken below. (Released first, as it
        # was, the buffer took a hole the garbage had left and the copy, kept by
        # the transaction, went into the reserve's block: it was lost for good.)
        # Then a buffer of one Ethernet MTU (nearly every SIP datagram fits), then
        # a token read that drops the datagram rather than let the receiver die
        # deaf.
        import gc
        gc.collect()
        got = False
        for size in (bufsize, bufsize, 1500, 16):
            try:
                got = netio.recvfrom_nowait(sock, size, self.first if size == bufsize else 0)
            except MemoryError:
                if self._reserve is not None:
                    self._reserve = None
                    gc.collect()
                continue
            if size == 16 and got is not None:
                got = False  # read truncated: dropped
            break
        return got

    async def run(self):
        """Receive until cancelled."""
        while True:
            if self.drain() < self.max_per_wake:
                await netio.readable(self.sock)
            else:
                # More may be queued: drain again after the other tasks had a turn.
                await netio.sleep_ms(0)


class MediaSession:
    """One call's media over one UDP socket, on D's RTP/jitter and E1's RFC 4733 code.

    MediaSession(sock, remote, codec="PCMU", payload_type=0, dtmf_pt=101,
                 audio_in=None, audio_out=None, send=True, play=True, inband=None,
                 jitter=None, max_late=3, ring=None)
    ring: a bytearray lent to the jitter buffer as its ring (see jitter.py).
    remote: native sockaddr (netio.resolve) to send to, or None until the far end's
    first packet (symmetric RTP, RFC 4961: once a valid packet arrives, send where
    it came from). Each 20 ms tick reads a mic frame, sends it (or the next RFC 4733
    event packet while a digit is being sent), and plays one jitter-buffer frame.
    MediaSession.from_params(sock, sdp_media_params, audio_in, audio_out, inband, ring) and
    update(params) (re-INVITE) take B's sdp.MediaParams.
    send_digit(digit, duration_ms=160); next_digit() -> (digit, "rfc4733"|"inband")
    or None; .remote (where it sends, or None);
    figures() -> dict for call_ended;
    start() / await stop(). Counters live on .rtp_tx, .rtp_rx, .jitter, .pacer,
    .receiver.
    """

    def __init__(self, sock, remote, codec="PCMU", payload_type=0, dtmf_pt=101,
                 audio_in=None, audio_out=None, send=True, play=True, inband=None,
                 jitter=None, max_late=3, ring=None):
        # Imported here: a station without a call never loads the media code.
        from doorsip.media.dtmf import Rfc4733Receiver, Rfc4733Sender
        from doorsip.media.g711 import codec_functions
        from doorsip.media.jitter import JitterBuffer
        from doorsip.media.rtp import RtpReceiver, RtpSender

        encode, decode, silence = codec_functions(codec)
        self.sock = sock
        self.remote = remote
        self.send = send
        self.play = play
        self.audio_in = audio_in
        self.audio_out = audio_out
        self.inband = inband
        self.dtmf_pt = dtmf_pt
        self.jitter = jitter if jitter is not None else JitterBuffer(decode, silence, ring=ring)
        self.rtp_tx = RtpSender(payload_type, encode)
        self.rtp_rx = RtpReceiver((payload_type,), dtmf_pt, self.jitter)
        self.dtmf_tx = Rfc4733Sender()
        self.dtmf_rx = Rfc4733Receiver()
        self._inband_digits = []
        self._pcm_in = bytearray(_FRAME_BYTES)
        self._pcm_out = bytearray(_FRAME_BYTES)
        self._source_addr = None
        self._source_text = None
        self.sent = 0
        self.send_dropped = 0
        self.pacer = PacedSender(self._tick, self._deliver, max_late=max_late,
                                 on_skip=self.rtp_tx.skip)
        self.receiver = PacketReceiver(sock, self._on_datagram)

    @classmethod
    def from_params(cls, sock, params, audio_in=None, audio_out=None, inband=None, ring=None):
        """A session for sdp.MediaParams (codec, payload types, address, direction)."""
        session = cls(sock, None, params.codec, params.payload_type, params.dtmf_pt,
                      audio_in, audio_out, inband=inband, ring=ring)
        session.update(params)
        return session

    def update(self, params):
        """Apply a re-negotiation (re-INVITE: hold, resume, new address).

        The codec stays: a codec change needs a new session. Our direction says
        whether we send and play (RFC 3264 6.1); port 0 or c=0.0.0.0 stops sending.
        """
        # Compared one by one: a constant tuple holds a str object per string.
        direction = params.direction
        self.send = direction == "sendrecv" or direction == "sendonly"
        self.play = direction == "sendrecv" or direction == "recvonly"
        ip = params.remote_ip
        if not params.remote_port or ip == "0.0.0.0" or ip == "::":
            self.send = False
            return
        remote = netio.resolve(params.remote_ip, params.remote_port)
        if self.remote is None or netio.addr_text(self.remote) != (params.remote_ip, params.remote_port):
            # Send there, and latch again on whoever sends first (RFC 4961).
            self.remote = remote
            self.rtp_rx.remote = None

    # -- control ---------------------------------------------------------------

    def start(self):
        self.receiver.start()
        self.pacer.start()

    async def stop(self):
        await self.pacer.stop()
        await self.receiver.stop()

    def cancel(self):
        """stop() for a caller that cannot wait (the runtime ending a call from a
        SIP event): no extra task whose finished frame would hold the session."""
        self.pacer.cancel()
        self.receiver.cancel()
        # MicroPython's asyncio can keep a finished task referenced until another
        # task takes its place, and the task's frame reaches the session through
        # these callbacks: cut them, so the session's buffers are garbage now.
        self.pacer.produce = self.pacer.deliver = self.pacer.on_skip = None
        self.receiver.handle = None

    def send_digit(self, digit, duration_ms=160):
        """Send digit as RFC 4733 events in place of audio (ValueError if not a digit)."""
        if self.dtmf_pt is None:
            raise ValueError(text_line(_TEXTS, 2))  # no telephone-event payload type
        self.dtmf_tx.start(digit, duration_ms, self.rtp_tx.timestamp)

    def next_digit(self):
        """(digit, method) received, oldest first, or None."""
        digit = self.dtmf_rx.next_digit()
        if digit is not None:
            return digit, "rfc4733"
        if self._inband_digits:
            return self._inband_digits.pop(0), "inband"
        return None

    def figures(self):
        from doorsip.media.rtp import call_figures
        return call_figures(self.rtp_tx, self.rtp_rx, self.jitter)

    # -- the 20 ms tick and the receive path -----------------------------------

    def _tick(self):
        pcm_in = self._pcm_in
        packet = None
        if self.audio_in is not None and not self.audio_in.read_into(pcm_in):
            # No captured frame ready (sound card clock behind ours): silence.
            for i in range(_FRAME_BYTES):
                pcm_in[i] = 0
        tx = self.rtp_tx
        if not self.send or self.remote is None:
            tx.skip(1)  # RFC 3550 5.1: the timestamp counts time, sent or not
        elif self.dtmf_tx.active:
            events = self.dtmf_tx
            n = events.next_payload(tx.payload, 0)
            # Every packet of an event carries its start timestamp (RFC 4733 2.3.1).
            packet = tx.pack_event(n, self.dtmf_pt, events.marker, events.timestamp)
            tx.skip(1)
        else:
            packet = tx.pack_frame(pcm_in)
        if self.play and self.audio_out is not None:
            pcm_out = self._pcm_out
            self.jitter.get_into(pcm_out)
            self.audio_out.write(pcm_out)
            if self.inband is not None:
                digit = self.inband.process(pcm_out)
                if digit is not None:
                    self._inband_digits.append(digit)
        self.dtmf_rx.poll(ticks_ms())
        return packet

    def _deliver(self, packet):
        if netio.sendto(self.sock, packet, self.remote):
            self.sent += 1
        else:
            self.send_dropped += 1

    def _on_datagram(self, data, addr):
        rx = self.rtp_rx
        now = ticks_ms()
        if addr != self._source_addr:
            # Text form made once per source, not per packet.
            self._source_addr = addr
            self._source_text = netio.addr_text(addr)
        # The receiver learns the far end's address on the first valid packet
        # (symmetric RTP): from then on we send there too.
        learn = rx.remote is None
        kind = rx.on_packet(data, len(data), self._source_text, now)
        if kind == _KIND_DROPPED:
            return
        if learn:
            self.remote = addr
        if kind == _KIND_EVENT:
            off = rx.payload_offset
            self.dtmf_rx.receive(memoryview(data)[off:off + rx.payload_len], rx.timestamp32, now)

"""Paced media tasks for asyncio on MicroPython and CPython.

PacedSender(produce, deliver=None, frame_ms=20, max_late=3, on_skip=None)
    Calls produce() once per frame on absolute deadlines (start + k * frame_ms), and
    deliver(packet) with what it returned unless that is None. After a stall it sends
    at most max_late overdue frames back to back and skips older ones, calling
    on_skip(n) so RTP timestamps and audio sources can move on (RFC 3550 5.1: the
    timestamp keeps counting sampling instants even when nothing is sent).
    Counters: frames (slots elapsed), sent, skipped, overdue (frames sent late).
PacketReceiver(sock, handle, bufsize=600, max_per_wake=8)
    Waits until sock is readable, then drains it: handle(data, addr) per datagram
    until EAGAIN, at most max_per_wake per wake before yielding to other tasks.
    Counters: received, errors (handle raised ValueError: a malformed datagram).
Both: start() -> task, await stop() (cancel and wait; safe to call twice), await
run() (PacedSender.run(frames=0): frames > 0 stops after that many slots).
The frame callables run on the event loop: they must not block.
"""
from doorsip import netio
from doorsip.compat import const, ticks_add, ticks_diff, ticks_us

asyncio = netio.asyncio

_FRAME_MS = const(20)


class _Task:
    _task = None

    def start(self):
        """Run as an asyncio task (needs a running loop); returns the task."""
        if self._task is None:
            self._task = asyncio.create_task(self.run())
        return self._task

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
            raise ValueError("frame_ms must be 1..99999 and max_late >= 0")
        self._produce = produce
        self._deliver = deliver
        self._on_skip = on_skip
        self.frame_ms = frame_ms
        self.max_late = max_late
        self.frames = 0
        self.sent = 0
        self.skipped = 0
        self.overdue = 0

    async def run(self, frames=0):
        """Send until cancelled, or for `frames` frame slots when frames > 0."""
        frame_us = self.frame_ms * 1000
        # Deadlines are absolute: each is the previous one plus the frame time, so
        # the time spent producing, sending and waking up late never accumulates
        # (a relative sleep per frame drifts by all of it: DESIGN.md section 1).
        # Microseconds, so rounding to the ms clock adds no jitter of its own.
        deadline = ticks_us()
        while frames <= 0 or self.frames < frames:
            late = ticks_diff(ticks_us(), deadline)
            if late < 0:
                await netio.sleep_us(-late)
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
                    if self._on_skip is not None:
                        self._on_skip(skip)
                    continue
                if behind:
                    self.overdue += 1
                # Overdue or exactly on time: still let other tasks run.
                await netio.sleep_ms(0)
            packet = self._produce()
            if packet is not None:
                if self._deliver is not None:
                    self._deliver(packet)
                self.sent += 1
            self.frames += 1
            deadline = ticks_add(deadline, frame_us)


class PacketReceiver(_Task):
    def __init__(self, sock, handle, bufsize=600, max_per_wake=8):
        if max_per_wake < 1:
            raise ValueError("max_per_wake must be >= 1")
        self._sock = sock
        self._handle = handle
        self.bufsize = bufsize
        self.max_per_wake = max_per_wake
        self.received = 0
        self.errors = 0

    def drain(self):
        """Hand every queued datagram (at most max_per_wake) to handle; the count."""
        sock = self._sock
        handle = self._handle
        bufsize = self.bufsize
        count = 0
        while count < self.max_per_wake:
            got = netio.recvfrom_nowait(sock, bufsize)
            if got is None:
                break
            count += 1
            try:
                handle(got[0], got[1])
            except ValueError:
                # A malformed datagram (anyone can send to an RTP port) must not
                # stop the media: count it and carry on.
                self.errors += 1
        self.received += count
        return count

    async def run(self):
        """Receive until cancelled."""
        while True:
            if self.drain() < self.max_per_wake:
                await netio.readable(self._sock)
            else:
                # More may be queued: drain again after the other tasks had a turn.
                await netio.sleep_ms(0)

"""Whole-station figures: a real door station (`python -m doorsip.runtime` on CPython,
the firmware as .mpy on the MicroPython unix port) driven over the simulated board
protocol, with this script as the flat: a UDP socket it owns running the firmware's
own sans-IO UserAgent (answers the door's INVITE) and sending the door code.

  bell -> INVITE   from writing `press bell` on the station's stdin to the INVITE
                   arriving on our socket. The simulated press lasts 80 ms and the
                   Button fires once the level held for bounce_ms (30 ms): the
                   figure is given raw and minus those 30 ms. Target <= 5 ms on a PC.
  DTMF -> relay    from sending the last digit's first RFC 4733 end packet (or its
                   SIP INFO) to reading the `relay ... on` event on stdout.
                   Target <= 20 ms.
  MicroPython:     code heap (status heap_used when idle after start), the call's
                   data working set (peak heap_used during the first call minus
                   the idle figure: the call code is imported at boot; and for later
                   calls, peak minus heap_used just before them), and the smallest
                   --heap in which two full door calls pass (bisection, 8 KB steps).
                   Target <= 24 KB for the working set.

Run: .venv/bin/python bench/bench_station.py [--calls N] [--no-bisect]
"""
import argparse
import os
import select
import socket
import statistics
import struct
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(ROOT, "firmware"))

import pytest  # noqa: E402  (stations.wait_for reports a timeout as pytest.fail)

import stations as st  # noqa: E402
from doorsip.compat import ticks_diff, ticks_ms  # noqa: E402
from doorsip.sip import sdp  # noqa: E402
from doorsip.sip.useragent import UserAgent  # noqa: E402

HOST = "127.0.0.1"
BOUNCE_MS = 30  # devices.Button default; the sim board sets none
CODE = "1234"
Failed = pytest.fail.Exception


class Flat(threading.Thread):
    """The far end: a UserAgent on our own sockets that answers every call."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sip_port, self.rtp_port = st.free_udp_ports(2)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, self.sip_port))
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind((HOST, self.rtp_port))
        self.ua = UserAgent("flat", HOST, HOST, self.sip_port, now_ms=ticks_ms())
        self.lock = threading.Lock()
        self.stop_flag = False
        self.invite_at = None  # perf_counter() of the first INVITE since arm()
        self.info_sent_at = None
        self.call = None
        self.media = None  # MediaParams of the door's offer
        self.up = threading.Event()
        self.ended = threading.Event()

    def arm(self):
        with self.lock:
            self.invite_at = None
            self.call = None
            self.up.clear()
            self.ended.clear()

    def run(self):
        while not self.stop_flag:
            with self.lock:
                deadline = self.ua.next_deadline_ms()
            wait = 0.01
            if deadline is not None:
                wait = max(0.0, min(wait, ticks_diff(deadline, ticks_ms()) / 1000))
            ready, _, _ = select.select([self.sock, self.rtp], [], [], wait)
            if self.rtp in ready:
                self.rtp.recvfrom(2048)  # the door's audio: not needed here
            with self.lock:
                if self.sock in ready:
                    data, addr = self.sock.recvfrom(65535)
                    now = time.perf_counter()
                    if data.startswith(b"INVITE ") and self.invite_at is None:
                        self.invite_at = now
                    self.ua.receive(data, (addr[0], addr[1]), ticks_ms())
                deadline = self.ua.next_deadline_ms()
                if deadline is not None and ticks_diff(ticks_ms(), deadline) >= 0:
                    self.ua.on_timer(ticks_ms())
                self._events()
                self._flush()

    def _events(self):
        while True:
            ev = self.ua.next_event()
            if ev is None:
                return
            if ev.kind == "incoming_call":
                body, self.media = sdp.answer(ev.body, HOST, self.rtp_port)
                self.call = ev.call
                self.ua.answer(ev.call, 200, body, now_ms=ticks_ms())
            elif ev.kind == "answered":
                self.up.set()
            elif ev.kind in ("call_ended", "call_failed"):
                self.ended.set()

    def _flush(self):
        for data, dest in self.ua.datagrams():
            if data.startswith(b"INFO "):
                self.info_sent_at = time.perf_counter()
            self.sock.sendto(data, (dest[0], int(dest[1])))

    def send_info(self, digit):
        with self.lock:
            self.ua.send_info(self.call, "application/dtmf-relay",
                              ("Signal=%s\r\nDuration=160\r\n" % digit).encode(), now_ms=ticks_ms())
            self._flush()
            return self.info_sent_at

    def send_4733(self, digits, gap_s=0.06):
        """Each digit as RFC 4733 packets (start, update, three end packets, 2.5.1.4);
        returns perf_counter() of the last digit's first end packet."""
        dest = (self.media.remote_ip, self.media.remote_port)
        pt = self.media.dtmf_pt or 101
        seq, ts, end_at = 1, 1000, None
        for digit in digits:
            code = "0123456789*#".index(digit)
            for i, (end, dur) in enumerate(((0, 160), (0, 320), (1, 480), (1, 480), (1, 480))):
                header = struct.pack("!BBHII", 0x80, pt | (0x80 if i == 0 else 0), seq, ts, 0x1234)
                payload = struct.pack("!BBH", code, (0x80 if end else 0) | 10, dur)
                self.rtp.sendto(header + payload, dest)
                if end and i == 2:
                    end_at = time.perf_counter()
                seq += 1
                time.sleep(0.02)
            ts += 1600
            time.sleep(gap_s)
        return end_at

    def close(self):
        self.stop_flag = True
        self.join(2)
        self.sock.close()
        self.rtp.close()


def _index(station, event):
    for i, e in enumerate(station.events):
        if e is event:
            return i
    raise ValueError("event not found")


def door_call(door, flat, method, heap_log=None):
    """One full door call; returns (press->INVITE ms, digit end->relay ms)."""
    flat.arm()
    if heap_log is not None:
        heap_log.append(door.status()["heap_used"])  # [0]: just before the call
    since = door.mark()
    t_press = time.perf_counter()
    door.send("press bell")
    door.wait_for("answered", 5, since=since)
    if not flat.up.wait(5):
        raise Failed("the flat never saw the ACK")
    if flat.invite_at is None:
        raise Failed("no INVITE reached the flat")
    press_ms = (flat.invite_at - t_press) * 1000
    if heap_log is not None:
        heap_log.append(door.status()["heap_used"])
    if method == "rfc4733":
        t_end = flat.send_4733(CODE)
    else:
        for digit in CODE[:-1]:
            flat.send_info(digit)
            time.sleep(0.1)
        t_end = flat.send_info(CODE[-1])
    relay = door.wait_for("relay", 5, since=since, name="door", state="on")
    relay_ms = (door.rx_times[_index(door, relay)] - t_end) * 1000
    opened = door.wait_for("door_opened", 2, since=since)
    if opened["method"] != method:
        raise Failed("opened by %s, expected %s" % (opened["method"], method))
    if heap_log is not None:
        heap_log.append(door.status()["heap_used"])
    ended = door.wait_for("call_ended", 5, since=since)  # hangup_after_open_s: 1
    if not (ended.get("packets_sent", 0) > 0 and ended.get("packets_received", -1) >= 0):
        raise Failed("no RTP figures: %s" % ended)
    door.wait_for("led", 3, since=since, pattern="registered")
    flat.ended.wait(2)
    return press_ms, relay_ms


def start_door(stations, flat, runtime, heap=st.HEAP):
    sip_port, rtp_port = st.free_udp_ports(2)
    cfg = st.door_config(sip_port, rtp_port, call=["sip:flat@%s:%d" % (HOST, flat.sip_port)],
                         hangup_after_open_s=1, pulse_ms=200)
    return stations.start(cfg, runtime=runtime, heap=heap, label="door-" + runtime)


# The figures run 6 calls seconds apart: each leaves ~2.8 KB of transactions for
# 32 s (RFC 3261 timers), more than stations.HEAP (192K) holds next to the station
# by the 6th (measured); the smallest heap is bisected separately, for two calls.
MEASURE_HEAP = "256K"


def measure(runtime, calls, tmp):
    stations = st.Stations(tmp)
    flat = Flat()
    flat.start()
    result = {"press": [], "relay_rfc4733": [], "relay_info": [], "heap": []}
    try:
        door = start_door(stations, flat, runtime, MEASURE_HEAP)
        result["idle"] = door.status()["heap_used"]
        for n in range(calls):
            method = "rfc4733" if n % 2 == 0 else "info"
            heap_log = [] if runtime == "micropython" else None
            press_ms, relay_ms = door_call(door, flat, method, heap_log)
            result["press"].append(press_ms)
            result["relay_" + method].append(relay_ms)
            if heap_log:
                result["heap"].append((heap_log[0], max(heap_log[1:])))
        if door.stop() != 0:
            raise Failed("the door station did not exit 0")
    finally:
        stations.close()
        flat.close()
    return result


def call_passes(heap_k, tmp):
    stations = st.Stations(tmp)
    flat = Flat()
    flat.start()
    try:
        door = start_door(stations, flat, "micropython", heap="%dK" % heap_k)
        door_call(door, flat, "rfc4733")
        door_call(door, flat, "info")
        return door.stop() == 0 and not door.find("error")
    except Failed:
        return False
    finally:
        stations.close()
        flat.close()


def smallest_heap(tmp, lo=128, hi=1024, step=8):
    """Smallest heap (K) in which two full door calls pass: bisection over [lo, hi]."""
    if not call_passes(hi, tmp):
        return None
    if call_passes(lo, tmp):
        return lo
    while hi - lo > step:
        mid = (lo + hi) // 2 // step * step
        if call_passes(mid, tmp):
            hi = mid
        else:
            lo = mid
    return hi


def fmt(values):
    if not values:
        return "-"
    return "%.1f / %.1f / %.1f" % (min(values), statistics.median(values), max(values))


def main():
    import tempfile
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=6, help="calls per interpreter (default 6)")
    parser.add_argument("--no-bisect", action="store_true", help="skip the smallest-heap search")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-station-")
    rows = []
    results = {}
    for runtime in ("cpython", "micropython"):
        r = measure(runtime, args.calls, tmp)
        results[runtime] = r
        minus = [v - BOUNCE_MS for v in r["press"]]
        rows.append(("%s: bell -> INVITE raw (ms, min/med/max)" % runtime, fmt(r["press"]), ""))
        rows.append(("%s: bell -> INVITE minus %d ms debounce" % (runtime, BOUNCE_MS), fmt(minus),
                     "<= 5" + (" ok" if statistics.median(minus) <= 5 else " MISSED")))
        for method in ("rfc4733", "info"):
            v = r["relay_" + method]
            rows.append(("%s: DTMF end (%s) -> relay (ms)" % (runtime, method), fmt(v),
                         "<= 20" + (" ok" if v and statistics.median(v) <= 20 else " MISSED")))
    mp = results["micropython"]
    rows.append(("micropython: code heap, idle after start (heap %s)" % MEASURE_HEAP,
                 "%.1f KB" % (mp["idle"] / 1024), ""))
    # First call: peak minus the idle figure (the definition; the call code is
    # imported at boot). Later calls: peak minus heap_used just before that call
    # (earlier calls' transactions still linger in both readings).
    first = mp["heap"][0][1] - mp["idle"]
    later = max(peak - before for before, peak in mp["heap"][1:])
    lingering = mp["heap"][-1][0] - mp["heap"][1][0]
    rows.append(("micropython: call data working set (first call peak - idle)", "%.1f KB" % (first / 1024),
                 "<= 24" + (" ok" if first <= 24 * 1024 else " MISSED")))
    rows.append(("micropython: later calls, peak - heap just before", "%.1f KB" % (later / 1024), ""))
    rows.append(("micropython: heap still held from calls 2..%d (32 s linger)" % (len(mp["heap"]) - 1),
                 "%.1f KB" % (lingering / 1024), ""))
    if not args.no_bisect:
        smallest = smallest_heap(tmp)
        rows.append(("micropython: smallest --heap for two full door calls",
                     ">1024K" if smallest is None else "%dK" % smallest, "192K target"))
    width = max(len(r[0]) for r in rows)
    print("bench_station (%d calls per interpreter, alternating RFC 4733 / INFO)" % args.calls)
    print("%s  %-22s  %s" % ("figure".ljust(width), "value", "target"))
    for name, value, target in rows:
        print("%s  %-22s  %s" % (name.ljust(width), value, target))


if __name__ == "__main__":
    main()

"""Non-blocking UDP for asyncio on MicroPython and CPython (DESIGN.md section 2).

API (the runtime glue and media/stream.py use only these):
  open_udp(port, host="0.0.0.0") -> sock        non-blocking, bound UDP socket
  open_udp_free(host, first, last) -> (sock, port)  first free port in a range
  await readable(sock)                           wait until a datagram is queued
  await recvfrom(sock, bufsize) -> (data, addr)  waits; addr is a native sockaddr
  recvfrom_nowait(sock, bufsize, first=0) -> (data, addr) or None
  recv_into_nowait(sock, buf) -> n or None       one datagram copied into buf
  sendto(sock, data, addr) -> bool               False when dropped (EAGAIN, ...)
  addr_text(addr) -> (host str, port int)        the ONE native-address-to-text place
  resolve(host, port) -> native sockaddr         for sendto, via getaddrinfo
  await sleep_ms(ms) / await sleep_us(us)        asyncio sleeps (sleep_us: at least us)
A native sockaddr is a raw 16-byte sockaddr on the MicroPython unix port and a
(host, port) tuple on CPython and the ESP32 port; only addr_text looks inside one.
One task at a time may wait on a given socket.
"""
import errno
import socket

from doorsip.compat import text_line

try:
    import asyncio
except ImportError:
    # MicroPython freezes asyncio into the firmware; a MICROPYPATH set without
    # ".frozen" hides it (the unix port test runs do that), so put it back.
    import sys
    if ".frozen" not in sys.path:
        sys.path.append(".frozen")
    import asyncio


# The texts of the errors raised here, line k picked where raised: one string
# object instead of five (errors only: the split allocates).
_TEXTS = ("bad UDP port %r\ncannot resolve %s\nno IPv4 address for %s\n"
          "cannot bind UDP %s:%d\nnot a socket address: %r")

# Errors after which a datagram is simply lost, as UDP allows (RFC 768): a full
# send buffer, or ICMP feedback from an earlier datagram to a closed port.
# EAGAIN stands for EWOULDBLOCK too: the same number on Linux, macOS and lwIP,
# and MicroPython's errno has no name for it.
_DROPPABLE = (errno.EAGAIN, getattr(errno, "ENOBUFS", 105), errno.ECONNREFUSED,
              getattr(errno, "EHOSTUNREACH", 113), getattr(errno, "ENETUNREACH", 101))
# On receive, EAGAIN means nothing is queued; ECONNREFUSED (ICMP port unreachable
# for an earlier datagram, surfacing on the next receive on some stacks) is not a
# datagram, so receivers ignore it.

try:
    _io_queue = asyncio.core._io_queue
except AttributeError:
    _io_queue = None

if _io_queue is not None:
    # MicroPython: park the task in asyncio's poller until the socket is readable
    # (this is how asyncio.StreamReader.read waits); cancellation removes it.
    def readable(sock):
        """Awaitable: returns once sock has a datagram (or an error) queued."""
        yield _io_queue.queue_read(sock)

    sleep_ms = asyncio.sleep_ms

    def sleep_us(us):
        """Awaitable: sleep at least us microseconds (asyncio counts whole ms here)."""
        return asyncio.sleep_ms((us + 999) // 1000)
else:  # CPython
    from doorsip.netio_cpy import readable, sleep_ms, sleep_us

def resolve(host, port):
    """Native IPv4 sockaddr for (host, port); OSError naming the host when unknown."""
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(text_line(_TEXTS, 0) % (port,))  # bad UDP port
    try:
        infos = socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM)
    except OSError as exc:
        raise OSError(exc.args[0] if exc.args else errno.ENOENT,
                      text_line(_TEXTS, 1) % host)  # cannot resolve
    for info in infos:
        if info[0] == socket.AF_INET:
            return info[-1]
    raise OSError(errno.ENOENT, text_line(_TEXTS, 2) % host)  # no IPv4 address


def open_udp(port, host="0.0.0.0"):
    """A bound, non-blocking UDP socket; OSError naming host:port if the bind fails."""
    addr = resolve(host, port)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        # No SO_REUSEADDR: on Linux it would let two UDP sockets share a port.
        sock.bind(addr)
    except OSError as exc:
        sock.close()
        raise OSError(exc.args[0] if exc.args else errno.EADDRINUSE,
                      text_line(_TEXTS, 3) % (host, port))  # cannot bind UDP
    sock.setblocking(False)
    return sock


# MSG_PEEK's value on Linux and the BSDs, where the MicroPython unix port runs
# (its socket module does not name it). 0 once a port turned the flags down.
_peek = 2


def recvfrom_nowait(sock, bufsize, first=0):
    """(data, addr) for one queued datagram, or None when none is queued.

    first (0: off): peek at the datagram with a first-byte buffer, and read it
    with a bufsize one only if it is that long. MicroPython's unix port takes a
    whole bufsize block from the heap for every recvfrom(), then copies what came:
    a SIP receiver ready for 4 KB datagrams needs a free 4 KB block for every
    200-byte one, which a fragmented heap often lacks. Ports whose recvfrom()
    takes no flags (the ESP32's) read with bufsize at once."""
    global _peek
    while True:
        try:
            if first and _peek:
                try:
                    got = sock.recvfrom(first, _peek)
                except TypeError:
                    _peek = 0
                    continue
                if len(got[0]) < first:
                    sock.recvfrom(1)  # all of it was in the peek: consume it
                    return got
            return sock.recvfrom(bufsize)
        except OSError as exc:
            code = exc.args[0] if exc.args else None
            if code == errno.EAGAIN:
                return None
            if code != errno.ECONNREFUSED:
                raise


def sendto(sock, data, addr):
    """Send one datagram; False when the stack dropped it (full buffer, ICMP error)."""
    try:
        sock.sendto(data, addr)
        return True
    except OSError as exc:
        if exc.args and exc.args[0] in _DROPPABLE:
            return False
        raise


def addr_text(addr):
    """(host, port) text form of a native socket address (tuple or raw sockaddr)."""
    if isinstance(addr, tuple) or isinstance(addr, list):
        return str(addr[0]), int(addr[1])
    if not isinstance(addr, (bytes, bytearray)) or len(addr) < 8:
        raise ValueError(text_line(_TEXTS, 4) % (addr,))  # not a socket address
    try:
        family, ip, port = socket.sockaddr(addr)
    except AttributeError:
        # struct sockaddr_in by hand: port in network byte order at 2, IPv4 at 4.
        family, ip, port = socket.AF_INET, bytes(addr[4:8]), addr[2] << 8 | addr[3]
    if family == socket.AF_INET:
        return "%d.%d.%d.%d" % (ip[0], ip[1], ip[2], ip[3]), port
    return socket.inet_ntop(family, ip), port


def __getattr__(name):
    # open_udp_free, recv_into_nowait, recvfrom: from netio_extra on first use.
    if name != "open_udp_free" and name != "recv_into_nowait" and name != "recvfrom":
        raise AttributeError(name)
    from doorsip import netio_extra
    value = getattr(netio_extra, name)
    globals()[name] = value
    return value

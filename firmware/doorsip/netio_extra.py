"""netio's less used calls, loaded on first use through netio (netio.X works
for each): open_udp_free, recv_into_nowait, recvfrom. The station's hot and
boot paths use only what netio.py itself defines."""
import errno
import socket

from doorsip.netio import open_udp, readable, recvfrom_nowait

_HAS_RECV_INTO = hasattr(socket.socket, "recv_into")


def open_udp_free(host="0.0.0.0", first=20000, last=29999, step=1):
    """(sock, port) on the first port of first..last (every step-th) that binds.

    MicroPython has no getsockname(), so binding port 0 would leave the port unknown.
    """
    port = first
    while port <= last:
        try:
            return open_udp(port, host), port
        except OSError as exc:
            if exc.args and exc.args[0] != errno.EADDRINUSE:
                raise
        port += step
    raise OSError(errno.EADDRINUSE, "no free UDP port in %d..%d" % (first, last))


def recv_into_nowait(sock, buf):
    """Length of one queued datagram copied into buf, or None when none is queued."""
    while True:
        try:
            if _HAS_RECV_INTO:
                return sock.recv_into(buf)
            # MicroPython: readinto is a stream read that concatenates queued
            # datagrams (verified on 1.29), so take one datagram with recv.
            data = sock.recv(len(buf))
            n = len(data)
            buf[:n] = data
            return n
        except OSError as exc:
            code = exc.args[0] if exc.args else None
            if code == errno.EAGAIN:  # nothing queued (see netio.recvfrom_nowait)
                return None
            if code != errno.ECONNREFUSED:
                raise


async def recvfrom(sock, bufsize):
    """Wait for one datagram: (data, native addr)."""
    while True:
        got = recvfrom_nowait(sock, bufsize)
        if got is not None:
            return got
        await readable(sock)

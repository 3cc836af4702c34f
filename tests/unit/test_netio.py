# netio on real UDP sockets on 127.0.0.1, under both interpreters.
import errno

from doorsip import netio
from doorsip.netio import asyncio  # netio finds MicroPython's frozen asyncio
from support import raises, udp_pair


def _wait_nowait(sock, bufsize=2048, tries=200):
    # Loopback delivery is immediate in practice; poll briefly to stay robust.
    from doorsip.compat import sleep_ms
    for _ in range(tries):
        got = netio.recvfrom_nowait(sock, bufsize)
        if got is not None:
            return got
        sleep_ms(1)
    raise AssertionError("no datagram arrived")


def test_sendto_recvfrom_and_addr_text():
    a, pa, b, pb = udp_pair(31000)
    try:
        assert netio.recvfrom_nowait(a, 100) is None
        assert netio.sendto(b, b"hello", netio.resolve("127.0.0.1", pa))
        data, addr = _wait_nowait(a)
        assert data == b"hello"
        assert netio.addr_text(addr) == ("127.0.0.1", pb)
        # the address we got back is usable to reply (symmetric RTP, RFC 4961)
        assert netio.sendto(a, b"back", addr)
        data, addr = _wait_nowait(b)
        assert data == b"back" and netio.addr_text(addr) == ("127.0.0.1", pa)
    finally:
        a.close()
        b.close()


def test_peeking_receive_takes_each_datagram_whole_and_once():
    # recvfrom_nowait(first=): a datagram shorter than first comes from the peek,
    # a longer one is read again with bufsize; each is consumed exactly once.
    a, pa, b, pb = udp_pair(31100)
    try:
        dest = netio.resolve("127.0.0.1", pa)
        small, big = b"s" * 200, bytes(range(256)) * 12  # 200 and 3,072 bytes
        for data in (small, big, small + b"!"):
            assert netio.sendto(b, data, dest)
        got = []
        from doorsip.compat import sleep_ms
        for _ in range(200):
            one = netio.recvfrom_nowait(a, 4096, 1500)
            if one is not None:
                got.append(one[0])
                assert netio.addr_text(one[1]) == ("127.0.0.1", pb)
                if len(got) == 3:
                    break
            else:
                sleep_ms(1)
        assert got == [small, big, small + b"!"]
        assert netio.recvfrom_nowait(a, 4096, 1500) is None
    finally:
        a.close()
        b.close()


def _recv_into_within(sock, buf, ms):
    """recv_into_nowait polled every millisecond, at most ms times: n, or None."""
    from doorsip.compat import sleep_ms
    n = None
    for _ in range(ms):
        n = netio.recv_into_nowait(sock, buf)
        if n is not None:
            break
        sleep_ms(1)
    return n


def test_recv_into_nowait_copies_one_datagram():
    a, pa, b, pb = udp_pair(31000)
    try:
        buf = bytearray(64)
        assert netio.recv_into_nowait(a, buf) is None
        netio.sendto(b, b"0123456789", netio.resolve("127.0.0.1", pa))
        netio.sendto(b, b"ab", netio.resolve("127.0.0.1", pa))
        n = _recv_into_within(a, buf, 200)
        assert n == 10 and bytes(buf[:10]) == b"0123456789"
        n = _recv_into_within(a, buf, 200)
        assert n == 2 and bytes(buf[:2]) == b"ab"
    finally:
        a.close()
        b.close()


def test_async_recvfrom_waits_for_a_late_datagram():
    a, pa, b, pb = udp_pair(31000)
    result = []

    async def sender():
        await netio.sleep_ms(30)
        netio.sendto(b, b"late", netio.resolve("127.0.0.1", pa))

    async def main():
        asyncio.create_task(sender())
        data, addr = await asyncio.wait_for(netio.recvfrom(a, 100), 2)
        result.append((data, netio.addr_text(addr)))

    try:
        asyncio.run(main())
    finally:
        a.close()
        b.close()
    assert result == [(b"late", ("127.0.0.1", pb))]


def test_cancelled_wait_leaves_socket_usable():
    a, pa, b, pb = udp_pair(31000)
    got = []

    async def main():
        task = asyncio.create_task(netio.recvfrom(a, 100))
        await netio.sleep_ms(20)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            got.append("cancelled")
        # a new waiter on the same socket must work after the cancellation
        task = asyncio.create_task(netio.recvfrom(a, 100))
        await netio.sleep_ms(5)
        netio.sendto(b, b"again", netio.resolve("127.0.0.1", pa))
        data, _addr = await asyncio.wait_for(task, 2)
        got.append(data)

    try:
        asyncio.run(main())
    finally:
        a.close()
        b.close()
    assert got == ["cancelled", b"again"]


def test_readable_returns_only_when_data_is_queued():
    a, pa, b, pb = udp_pair(31000)
    order = []

    async def waiter():
        await netio.readable(a)
        order.append("readable")

    async def main():
        task = asyncio.create_task(waiter())
        await netio.sleep_ms(30)
        order.append("send")
        netio.sendto(b, b"x", netio.resolve("127.0.0.1", pa))
        await asyncio.wait_for(task, 2)

    try:
        asyncio.run(main())
        assert order == ["send", "readable"]
        assert netio.recvfrom_nowait(a, 10)[0] == b"x"
    finally:
        a.close()
        b.close()


def test_open_udp_reports_port_in_use():
    a, pa = netio.open_udp_free("127.0.0.1", 33000, 33999)
    try:
        exc = raises(OSError, netio.open_udp, pa, "127.0.0.1")
        assert exc.args[0] == errno.EADDRINUSE
        # the range helper skips the busy port
        c, pc = netio.open_udp_free("127.0.0.1", pa, pa + 50)
        c.close()
        assert pc > pa
    finally:
        a.close()


def test_addr_text_forms_and_bad_input():
    assert netio.addr_text(("10.0.0.7", 5060)) == ("10.0.0.7", 5060)
    # struct sockaddr_in as the MicroPython unix port returns it: port 0x13c4 = 5060
    raw = b"\x02\x00\x13\xc4\x0a\x00\x00\x07" + bytes(8)
    assert netio.addr_text(raw) == ("10.0.0.7", 5060)
    raises(ValueError, netio.addr_text, b"\x02\x00")
    raises(ValueError, netio.addr_text, 42)
    raises(ValueError, netio.resolve, "127.0.0.1", 70000)
    raises(ValueError, netio.resolve, "127.0.0.1", -1)


def test_resolve_gives_a_sendable_address():
    addr = netio.resolve("127.0.0.1", 4000)
    assert netio.addr_text(addr) == ("127.0.0.1", 4000)


def test_sleep_helpers_wait_about_as_asked():
    from doorsip.compat import ticks_diff, ticks_us
    spans = []

    async def main():
        t0 = ticks_us()
        await netio.sleep_us(5000)
        t1 = ticks_us()
        await netio.sleep_ms(5)
        t2 = ticks_us()
        spans.append(ticks_diff(t1, t0))
        spans.append(ticks_diff(t2, t1))

    asyncio.run(main())
    # MicroPython's asyncio counts whole ms of ticks_ms: up to 1 ms early
    assert 4000 <= spans[0] < 500000 and 4000 <= spans[1] < 500000, spans

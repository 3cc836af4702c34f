"""netio's asyncio waits on CPython (readable, sleep_ms, sleep_us): a module of
their own so MicroPython, which has them natively, never loads this code."""
import asyncio


def _wake(fut):
    if not fut.done():
        fut.set_result(None)


async def readable(sock):
    """Awaitable: returns once sock has a datagram (or an error) queued."""
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    fd = sock.fileno()
    loop.add_reader(fd, _wake, fut)
    try:
        await fut
    finally:
        loop.remove_reader(fd)


async def sleep_ms(ms):
    """asyncio.sleep in milliseconds (MicroPython has it natively)."""
    await asyncio.sleep(ms / 1000)


async def sleep_us(us):
    """asyncio.sleep in microseconds."""
    await asyncio.sleep(us / 1000000)

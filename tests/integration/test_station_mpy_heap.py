# The door station under MicroPython with the firmware as .mpy: the whole door call
# works in stations.HEAP, 192K (test_station_protocol.py runs the door-indoor call
# with the door on MicroPython there), and 50 consecutive calls to a SIPp callee
# that answers and hangs up at once leave no heap behind (in HEAP below).
# status reports heap_used after gc.collect(); the 50 calls run once per module.
import time

import pytest

from stations import Stations, door_config, free_udp_ports

CALLS = 50
# The 50 calls follow each other within seconds, and every ended call leaves its
# transactions (~3.6 KB) for 32 s (below): a dozen calls' worth linger at once,
# more than the 192K of stations.HEAP holds next to the station (measured: a call
# partway found no room). A door station does not see 50 calls in 32 s; this is a
# stress of the bookkeeping, in a heap with room for it.
HEAP = "256K"
MAX_GROWTH = 2048  # bytes: settled heap_used after call 50 minus after call 1
# Completed transactions linger up to 64*T1 = 32 s to absorb retransmissions
# (RFC 3261 17.1.1.2 timer D, 17.2.2 timer J, RFC 6026 timer M); "settled" means
# measured once they have all gone, so what remains is what the calls left behind.
LINGER_S = 34
MAX_LINGERING = 40 * 1024  # bounded: 24 lingering transactions of ~1 KB and a call's data
# Settled after the first call, less than one media session (~8 KB) above idle: the
# ended call's session is garbage, not held until the next call (MicroPython's
# asyncio may keep a finished task referenced: MediaSession.cancel cuts it loose).
MAX_AFTER_FIRST = 6 * 1024


def _settled_heap(door):
    time.sleep(LINGER_S)
    return door.status()["heap_used"]


@pytest.fixture(scope="module")
def fifty_calls(tmp_path_factory):
    stations = Stations(tmp_path_factory.mktemp("fifty"))
    try:
        callee = stations.sipp("policy_uas_answer_bye.xml", subs={"ANSWER_MS": 0, "TALK_MS": 100},
                               calls=CALLS, timeout_s=120, label="quick callee")
        sip_port, rtp_port = free_udp_ports(2)
        door = stations.start(door_config(sip_port, rtp_port, call=[callee.uri()], ring_timeout_s=5),
                              runtime="micropython", heap=HEAP)
        figures = {"idle": door.status()["heap_used"], "after": {}, "ended": []}
        for n in range(1, CALLS + 1):
            since = door.mark()
            door.send("press bell")
            door.wait_for("answered", 5, since=since)
            if n in (1, 2):
                figures["in_call_%d" % n] = door.status()["heap_used"]
            figures["ended"].append(door.wait_for("call_ended", 5, since=since))
            door.wait_for("led", 2, since=since, pattern="registered")
            status = door.status()
            assert status["state"] == "idle" and status["calls"] == 0, status
            figures["after"][n] = status["heap_used"]
            if n == 1:
                figures["settled_1"] = _settled_heap(door)
        figures["settled_end"] = _settled_heap(door)
        figures["sipp"] = callee.wait(15)
        figures["sipp_output"] = callee.tail()
        figures["errors"] = door.find("error")
        figures["exit"] = door.stop()
        after = figures["after"]
        print("\nMicroPython door, heap %s: heap_used idle %d, in call 1 %d, in call 2 %d, after call "
              "1 %d, 10 %d, 12 %d, 13 %d, 50 %d; settled after call 1 %d, after call 50 %d"
              % (HEAP, figures["idle"], figures["in_call_1"], figures["in_call_2"], after[1],
                 after[10], after[12], after[13], after[CALLS], figures["settled_1"],
                 figures["settled_end"]))
        yield figures
    finally:
        stations.close()


def test_fifty_calls_all_complete_in_the_heap(fifty_calls):
    assert fifty_calls["sipp"] == 0, fifty_calls["sipp_output"]
    for ended in fifty_calls["ended"]:
        assert ended["reason"] == "remote_bye" and ended["packets_sent"] > 0, ended
    assert not fifty_calls["errors"]
    assert fifty_calls["exit"] == 0


def test_heap_bounded_while_calls_linger(fifty_calls):
    # While calls follow each other, each leaves its INVITE client and BYE server
    # transactions lingering; the table holds 24, each keeping only the bytes it may
    # resend: the heap rises to a bounded plateau, never without limit.
    peak = max(fifty_calls["after"].values())
    assert peak - fifty_calls["settled_1"] < MAX_LINGERING, fifty_calls["after"]


def test_no_heap_growth_across_fifty_calls(fifty_calls):
    # Once the lingering transactions are gone, 49 more calls left nothing behind.
    growth = fifty_calls["settled_end"] - fifty_calls["settled_1"]
    assert growth < MAX_GROWTH, (growth, fifty_calls["settled_1"], fifty_calls["settled_end"])


def test_an_ended_call_leaves_its_media_behind(fifty_calls):
    left = fifty_calls["settled_1"] - fifty_calls["idle"]
    assert left < MAX_AFTER_FIRST, (left, fifty_calls["idle"], fifty_calls["settled_1"])

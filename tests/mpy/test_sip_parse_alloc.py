# MicroPython only: the SIP parser's allocation budget. Every allocation parse() makes on the
# bench mix is counted (gc.mem_alloc with the collector disabled, garbage included) and held
# under 12 KB per message (DESIGN.md section 2: a compact parse costs 5-16 KB), and a burst of
# parses leaves no growth behind.
import gc
import sys

from support import skip

try:
    import micropython  # noqa: F401
except ImportError:
    skip("MicroPython only")

if "bench" not in sys.path:
    sys.path.append("bench")
from sip_mix import MESSAGES  # noqa: E402

from doorsip.sip import parse  # noqa: E402

_BUDGET = 12 * 1024


def _allocated(data):
    gc.collect()
    gc.disable()
    try:
        before = gc.mem_alloc()
        msg = parse(data)
        msg.header("via"), msg.header("from"), msg.header("to"), msg.call_id, msg.cseq, msg.body
        return gc.mem_alloc() - before
    finally:
        gc.enable()


def test_parse_allocation_budget():
    for name, data in MESSAGES:
        used = _allocated(data)
        assert 0 < used < _BUDGET, (name, used)


def test_no_growth_after_many_parses():
    for name, data in MESSAGES:
        parse(data)
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(50):
        for name, data in MESSAGES:
            parse(data)
    gc.collect()
    assert gc.mem_alloc() - before < 512, gc.mem_alloc() - before
